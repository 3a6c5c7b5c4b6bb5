#include "plugins/firewall/rule_store.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "core/errors.h"
#include "firewall.h"  // bpf/firewall.h: the kernel's table sizes
#include "plugins/firewall/rule_json.h"

namespace adam::fw {

// What the store accepts must fit the kernel's rule table.
static_assert(kMaxRules == ADAM_FW_MAX_RULES);

namespace {

constexpr const char* kPlugin = "firewall";
constexpr const char* kRuleKind = "rule";
constexpr const char* kDefaultSetting = "default";

uint32_t rule_id_of(int64_t document_id) {
  if (document_id <= 0 || document_id > std::numeric_limits<uint32_t>::max())
    throw std::runtime_error("firewall: document id " + std::to_string(document_id) + " is no rule id");
  return static_cast<uint32_t>(document_id);
}

std::string body_of(const Rule& rule) { return rule_to_json(rule).dump(); }

Rule rule_of(const StoredDocument& document) {
  Rule rule;
  try {
    rule = rule_from_json(nlohmann::json::parse(document.body));
  } catch (const std::exception& e) {
    // Not the client's fault: no 400 for it.
    throw std::runtime_error("firewall: stored rule " + std::to_string(document.id) +
                             " is unreadable: " + e.what());
  }
  rule.id = rule_id_of(document.id);
  return rule;
}

}  // namespace

RuleStore::RuleStore(Database& db, Apply apply) : store_(db, kPlugin), apply_(std::move(apply)) {}

Ruleset RuleStore::load(PluginStore::Tx& tx) {
  Ruleset ruleset;
  ruleset.default_action = tx.setting(kDefaultSetting) == "drop" ? Action::drop : Action::pass;
  for (const auto& document : tx.list(kRuleKind)) ruleset.rules.push_back(rule_of(document));
  return ruleset;
}

Rule RuleStore::existing(PluginStore::Tx& tx, uint32_t id) {
  auto document = tx.get(kRuleKind, id);
  if (!document) throw not_found("no firewall rule with id " + std::to_string(id));
  return rule_of(*document);
}

template <typename Edit>
auto RuleStore::change(Edit&& edit) {
  return store_.transaction([&](PluginStore::Tx& tx) {
    auto result = edit(tx);
    apply_(load(tx));  // the kernel gets exactly what this transaction stored
    return result;
  });
}

Ruleset RuleStore::ruleset() {
  return store_.transaction([](PluginStore::Tx& tx) { return load(tx); });
}

Rule RuleStore::get(uint32_t id) {
  return store_.transaction([&](PluginStore::Tx& tx) { return existing(tx, id); });
}

Rule RuleStore::add(Rule rule) {
  return change([&](PluginStore::Tx& tx) {
    check_rule_count(tx.list(kRuleKind).size() + 1);
    rule.id = rule_id_of(tx.insert(kRuleKind, body_of(rule)));
    return rule;
  });
}

RuleStore::Change<Rule> RuleStore::replace(uint32_t id, Rule rule) {
  return change([&](PluginStore::Tx& tx) {
    Change<Rule> c{existing(tx, id), std::move(rule)};
    c.after.id = id;
    tx.put(kRuleKind, id, body_of(c.after));
    return c;
  });
}

RuleStore::Change<Rule> RuleStore::set_enabled(uint32_t id, bool enabled) {
  return change([&](PluginStore::Tx& tx) {
    Change<Rule> c{existing(tx, id), {}};
    c.after = c.before;
    c.after.enabled = enabled;
    tx.put(kRuleKind, id, body_of(c.after));
    return c;
  });
}

Rule RuleStore::remove(uint32_t id) {
  return change([&](PluginStore::Tx& tx) {
    Rule removed = existing(tx, id);
    tx.remove(kRuleKind, id);
    return removed;
  });
}

RuleStore::Change<Ruleset> RuleStore::replace_all(Ruleset ruleset) {
  check_rule_count(ruleset.rules.size());
  return change([&](PluginStore::Tx& tx) {
    Change<Ruleset> c{load(tx), std::move(ruleset)};
    std::set<uint32_t> current, kept;
    for (const auto& rule : c.before.rules) current.insert(rule.id);
    for (size_t i = 0; i < c.after.rules.size(); ++i) {
      const uint32_t id = c.after.rules[i].id;
      if (id == 0) continue;
      const std::string field = "rules[" + std::to_string(i) + "].id";
      if (!current.count(id))
        throw bad_request(field, "there is no rule with id " + std::to_string(id) +
                                     " to keep (leave 'id' out for a new rule)");
      if (!kept.insert(id).second) throw bad_request(field, "id " + std::to_string(id) + " is given twice");
    }
    tx.remove_all(kRuleKind);
    tx.set_setting(kDefaultSetting, action_name(c.after.default_action));
    for (auto& rule : c.after.rules) {
      if (rule.id != 0)
        tx.put(kRuleKind, rule.id, body_of(rule));
      else
        rule.id = rule_id_of(tx.insert(kRuleKind, body_of(rule)));
    }
    return c;
  });
}

}  // namespace adam::fw
