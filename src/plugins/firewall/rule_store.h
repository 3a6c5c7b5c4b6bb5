#pragma once
// The firewall's rules and default policy, persisted in adamd's database and
// kept in step with the kernel. Rules are PluginStore documents of kind
// "rule" (rule_to_json), the document id being the rule id: stable and never
// reused. The default policy is the setting "default".
//
// Every change is one PluginStore transaction whose last step hands the whole
// resulting ruleset to `apply` (the kernel update): when apply throws, the
// transaction rolls back, so a refused ruleset changes neither the store nor
// the kernel. Changes are serialized.
//
// The store keeps the ruleset in memory as well (read once at construction,
// then edited in step with each transaction): a change costs one row, not a
// reload and parse of every rule (10,000 rules: ~100 ms).
#include <cstdint>
#include <functional>
#include <mutex>

#include "plugins/firewall/rule.h"
#include "store/plugin_store.h"

namespace adam::fw {

class RuleStore {
 public:
  // Must be all-or-nothing; throws (an ApiError 422 naming "rules" when the
  // ruleset does not fit the kernel's tables) to refuse it. `added` is the
  // id of the one rule the change added or enabled when that is all it did
  // (the kernel can then add the rule instead of recompiling), else 0.
  using Apply = std::function<void(const Ruleset& ruleset, uint32_t added)>;

  RuleStore(Database& db, Apply apply);

  // What a change replaced and what it stored (for the audit trail).
  template <typename T>
  struct Change {
    T before, after;
  };

  Ruleset ruleset();      // a copy
  Rule get(uint32_t id);  // 404 when there is none
  // Stores `rule` under a new id (its own id is ignored); 422 when full.
  Rule add(Rule rule);
  // Replaces rule `id`'s fields (rule.id is ignored).
  Change<Rule> replace(uint32_t id, Rule rule);
  Change<Rule> set_enabled(uint32_t id, bool enabled);
  Rule remove(uint32_t id);  // returns the removed rule
  // Replaces every rule and the default policy. A rule carrying an id keeps
  // it, which must be one of the current rules' and appear once (else 400
  // "rules[i].id"); the others get new ids, in order.
  Change<Ruleset> replace_all(Ruleset ruleset);
  // Sets the default policy (what no rule matches gets); the rules stay.
  Change<Action> set_default(Action action);

 private:
  // Runs edit(tx) in a transaction; edit also edits ruleset_ and returns
  // {result, undo, added}: undo puts ruleset_ back if applying or committing
  // fails.
  template <typename Edit>
  auto change(Edit&& edit);
  static Ruleset load(PluginStore::Tx& tx);
  Rule& existing(uint32_t id);  // in ruleset_; 404 when there is none

  PluginStore store_;
  Apply apply_;
  std::mutex mu_;    // ruleset_, and one change at a time
  Ruleset ruleset_;  // what the store holds
};

}  // namespace adam::fw
