#include "plugins/firewall/rule_store.h"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <utility>

#include "adam/firewall.h"  // the kernel's table sizes
#include "core/errors.h"
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

RuleStore::RuleStore(Database& db, Apply apply) : store_(db, kPlugin), apply_(std::move(apply)) {
  ruleset_ = store_.transaction([](PluginStore::Tx& tx) { return load(tx); });
}

Ruleset RuleStore::load(PluginStore::Tx& tx) {
  Ruleset ruleset;
  ruleset.default_action = tx.setting(kDefaultSetting) == "drop" ? Action::drop : Action::pass;
  for (const auto& document : tx.list(kRuleKind)) ruleset.rules.push_back(rule_of(document));
  return ruleset;
}

Rule& RuleStore::existing(uint32_t id) {
  // By id, as the store lists them.
  auto it = std::lower_bound(ruleset_.rules.begin(), ruleset_.rules.end(), id,
                             [](const Rule& rule, uint32_t id) { return rule.id < id; });
  if (it == ruleset_.rules.end() || it->id != id)
    throw not_found("no firewall rule with id " + std::to_string(id));
  return *it;
}

// What an edit did to ruleset_: its result, how to undo it, and the rule it
// added (see Apply).
template <typename T>
struct Edited {
  T result;
  std::function<void()> undo;
  uint32_t added = 0;
};

template <typename Edit>
auto RuleStore::change(Edit&& edit) {
  std::lock_guard lock(mu_);
  std::function<void()> undo;
  bool applied = false;
  try {
    return store_.transaction([&](PluginStore::Tx& tx) {
      auto edited = edit(tx);
      undo = std::move(edited.undo);
      apply_(ruleset_, edited.added);  // the kernel gets exactly what this transaction stores
      applied = true;
      return std::move(edited.result);
    });
  } catch (...) {
    if (undo) undo();
    // The commit failed after the kernel took the change (disk full, I/O
    // error): the kernel goes back to what the store still holds.
    if (applied) {
      try {
        apply_(ruleset_, 0);
      } catch (const std::exception& e) {
        spdlog::error("firewall: putting the kernel back to the stored ruleset failed: {}", e.what());
      }
    }
    throw;
  }
}

Ruleset RuleStore::ruleset() {
  std::lock_guard lock(mu_);
  return ruleset_;
}

Rule RuleStore::get(uint32_t id) {
  std::lock_guard lock(mu_);
  return existing(id);
}

Rule RuleStore::add(Rule rule) {
  return change([&](PluginStore::Tx& tx) {
    check_rule_count(ruleset_.rules.size() + 1);
    rule.id = rule_id_of(tx.insert(kRuleKind, body_of(rule)));
    ruleset_.rules.push_back(rule);  // the largest id: the end
    return Edited<Rule>{rule, [this] { ruleset_.rules.pop_back(); }, rule.enabled ? rule.id : 0};
  });
}

// Replaces rule `id` in ruleset_ and in the store with `after`.
template <typename Tx>
static Edited<RuleStore::Change<Rule>> replaced(Tx& tx, Rule& slot, Rule after) {
  after.id = slot.id;
  tx.put(kRuleKind, slot.id, body_of(after));
  RuleStore::Change<Rule> c{std::exchange(slot, after), after};
  // Enabling an otherwise unchanged rule is an addition for the kernel.
  Rule as_before = after;
  as_before.enabled = c.before.enabled;
  const bool enabled_only = !c.before.enabled && after.enabled && as_before == c.before;
  return {c, [&slot, before = c.before] { slot = before; }, enabled_only ? after.id : 0};
}

RuleStore::Change<Rule> RuleStore::replace(uint32_t id, Rule rule) {
  return change([&](PluginStore::Tx& tx) { return replaced(tx, existing(id), std::move(rule)); });
}

RuleStore::Change<Rule> RuleStore::set_enabled(uint32_t id, bool enabled) {
  return change([&](PluginStore::Tx& tx) {
    Rule& slot = existing(id);
    Rule after = slot;
    after.enabled = enabled;
    return replaced(tx, slot, std::move(after));
  });
}

Rule RuleStore::remove(uint32_t id) {
  return change([&](PluginStore::Tx& tx) {
    const auto at = ruleset_.rules.begin() + (&existing(id) - ruleset_.rules.data());
    tx.remove(kRuleKind, id);
    Rule removed = std::move(*at);
    const auto index = at - ruleset_.rules.begin();
    ruleset_.rules.erase(at);
    return Edited<Rule>{
        removed, [this, removed, index] { ruleset_.rules.insert(ruleset_.rules.begin() + index, removed); }};
  });
}

RuleStore::Change<Ruleset> RuleStore::replace_all(Ruleset ruleset) {
  check_rule_count(ruleset.rules.size());
  return change([&](PluginStore::Tx& tx) {
    std::set<uint32_t> kept;
    for (size_t i = 0; i < ruleset.rules.size(); ++i) {
      const uint32_t id = ruleset.rules[i].id;
      if (id == 0) continue;
      const std::string field = "rules[" + std::to_string(i) + "].id";
      try {
        existing(id);
      } catch (const ApiError&) {
        throw bad_request(field, "there is no rule with id " + std::to_string(id) +
                                     " to keep (leave 'id' out for a new rule)");
      }
      if (!kept.insert(id).second) throw bad_request(field, "id " + std::to_string(id) + " is given twice");
    }
    tx.remove_all(kRuleKind);
    tx.set_setting(kDefaultSetting, action_name(ruleset.default_action));
    for (auto& rule : ruleset.rules) {
      if (rule.id != 0)
        tx.put(kRuleKind, rule.id, body_of(rule));
      else
        rule.id = rule_id_of(tx.insert(kRuleKind, body_of(rule)));
    }
    Change<Ruleset> c{std::exchange(ruleset_, ruleset), std::move(ruleset)};
    // As the store lists them: by id.
    std::sort(ruleset_.rules.begin(), ruleset_.rules.end(),
              [](const Rule& a, const Rule& b) { return a.id < b.id; });
    return Edited<Change<Ruleset>>{c, [this, before = c.before] { ruleset_ = before; }};
  });
}

RuleStore::Change<Action> RuleStore::set_default(Action action) {
  return change([&](PluginStore::Tx& tx) {
    tx.set_setting(kDefaultSetting, action_name(action));
    const Change<Action> c{std::exchange(ruleset_.default_action, action), action};
    return Edited<Change<Action>>{c, [this, before = c.before] { ruleset_.default_action = before; }};
  });
}

}  // namespace adam::fw
