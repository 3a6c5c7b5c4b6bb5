// The firewall's rule store: stable ids, and every change applied to the
// "kernel" (here a recorder) as its last step, so a refused ruleset leaves
// the store as it was.
#include "plugins/firewall/rule_store.h"

#include <gtest/gtest.h>

#include "core/errors.h"
#include "plugins/firewall/rule_json.h"
#include "store/database.h"

namespace adam::fw {
namespace {

Rule named(const std::string& name, int32_t priority = 0) {
  Rule rule;
  rule.name = name;
  rule.priority = priority;
  return rule;
}

class RuleStoreTest : public ::testing::Test {
 protected:
  // What the kernel was given, in order; refuses while `refuse` is set.
  RuleStore::Apply recorder() {
    return [this](const Ruleset& ruleset, uint32_t added_id) {
      if (refuse)
        throw ApiError(422, "unprocessable", "the ruleset does not fit the kernel's tables", "rules");
      applied.push_back(ruleset);
      added.push_back(added_id);
    };
  }
  // The store's ruleset equals what a fresh read of the database gives.
  void expect_in_step() {
    RuleStore reopened(db, recorder());
    const Ruleset stored = reopened.ruleset(), cached = store.ruleset();
    EXPECT_EQ(cached.default_action, stored.default_action);
    EXPECT_EQ(cached.rules, stored.rules);
  }
  int status_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const ApiError& e) {
      last_field = e.field();
      return e.status();
    }
    return 0;
  }

  Database db{":memory:"};
  std::vector<Ruleset> applied;
  std::vector<uint32_t> added;  // the `added` id of each apply
  bool refuse = false;
  std::string last_field;
  RuleStore store{db, recorder()};
};

TEST_F(RuleStoreTest, IdsAreStableAndNeverReused) {
  const Rule a = store.add(named("a"));
  const Rule b = store.add(named("b"));
  EXPECT_GT(a.id, 0u);
  EXPECT_GT(b.id, a.id);
  ASSERT_EQ(applied.size(), 2u);
  EXPECT_EQ(applied.back().rules.size(), 2u);

  EXPECT_EQ(store.remove(b.id), b);
  const Rule c = store.add(named("c"));
  EXPECT_GT(c.id, b.id) << "a removed rule's id is not handed out again";
  const auto replaced = store.replace(a.id, named("a2", 5));
  EXPECT_EQ(replaced.before, a);
  EXPECT_EQ(replaced.after.id, a.id);
  EXPECT_EQ(store.get(a.id).name, "a2");
  const auto disabled = store.set_enabled(a.id, false);
  EXPECT_TRUE(disabled.before.enabled);
  EXPECT_FALSE(disabled.after.enabled);
  EXPECT_FALSE(applied.back().rules.front().enabled);

  EXPECT_EQ(status_of([&] { store.get(b.id); }), 404);
  EXPECT_EQ(status_of([&] { store.remove(b.id); }), 404);
  EXPECT_EQ(status_of([&] { store.replace(b.id, named("x")); }), 404);
  EXPECT_EQ(status_of([&] { store.set_enabled(9999, true); }), 404);

  RuleStore reopened(db, recorder());
  const Ruleset loaded = reopened.ruleset();
  ASSERT_EQ(loaded.rules.size(), 2u);
  EXPECT_EQ(loaded.rules[0].id, a.id);
  EXPECT_EQ(loaded.rules[1].id, c.id);
}

TEST_F(RuleStoreTest, ARefusedRulesetChangesNothing) {
  const Rule a = store.add(named("a"));
  Ruleset next;
  next.default_action = Action::drop;
  next.rules = {named("x"), named("y")};
  refuse = true;
  EXPECT_EQ(status_of([&] { store.add(named("b")); }), 422);
  EXPECT_EQ(last_field, "rules");
  EXPECT_EQ(status_of([&] { store.replace_all(next); }), 422);
  EXPECT_EQ(status_of([&] { store.remove(a.id); }), 422);
  refuse = false;
  const Ruleset now = store.ruleset();
  EXPECT_EQ(now.default_action, Action::pass);
  ASSERT_EQ(now.rules.size(), 1u);
  EXPECT_EQ(now.rules[0], a);
  expect_in_step();
  EXPECT_GT(store.add(named("c")).id, a.id);
  expect_in_step();
}

TEST_F(RuleStoreTest, TellsTheKernelWhichRuleAChangeOnlyAdded) {
  const Rule a = store.add(named("a"));
  Rule off = named("off");
  off.enabled = false;
  const Rule b = store.add(off);
  ASSERT_EQ(added.size(), 2u);
  EXPECT_EQ(added[0], a.id) << "an enabled rule added";
  EXPECT_EQ(added[1], 0u) << "a disabled rule adds nothing to match";
  store.set_enabled(b.id, true);
  EXPECT_EQ(added.back(), b.id) << "enabling a rule adds it";
  store.set_enabled(b.id, false);
  EXPECT_EQ(added.back(), 0u);
  Rule edited = b;
  edited.enabled = true;
  edited.priority = 9;
  store.replace(b.id, edited);
  EXPECT_EQ(added.back(), 0u) << "enabled and changed: more than an addition";
  store.remove(a.id);
  EXPECT_EQ(added.back(), 0u);
  EXPECT_EQ(applied.back().rules.size(), 1u);
  expect_in_step();
}

TEST_F(RuleStoreTest, ReplaceAllKeepsTheIdsItIsGiven) {
  const Rule a = store.add(named("a"));
  const Rule b = store.add(named("b"));
  Ruleset next;
  next.default_action = Action::drop;
  Rule kept = named("b, renamed", 7);
  kept.id = b.id;
  next.rules = {named("new"), kept};
  const auto [before, stored] = store.replace_all(next);
  EXPECT_EQ(before.rules.size(), 2u);
  EXPECT_GT(stored.rules[0].id, b.id);
  EXPECT_EQ(stored.rules[1].id, b.id);
  const Ruleset now = store.ruleset();
  EXPECT_EQ(now.default_action, Action::drop);
  ASSERT_EQ(now.rules.size(), 2u);
  EXPECT_EQ(store.get(b.id).name, "b, renamed");
  EXPECT_EQ(status_of([&] { store.get(a.id); }), 404) << "rules left out are removed";

  Ruleset unknown;
  unknown.rules = {named("x"), named("y")};
  unknown.rules[1].id = a.id;  // removed above: not a current rule
  EXPECT_EQ(status_of([&] { store.replace_all(unknown); }), 400);
  EXPECT_EQ(last_field, "rules[1].id");
  Ruleset twice;
  twice.rules = {kept, kept};
  EXPECT_EQ(status_of([&] { store.replace_all(twice); }), 400);
  EXPECT_EQ(last_field, "rules[1].id");
  EXPECT_EQ(store.ruleset().rules.size(), 2u);
  expect_in_step();
}

TEST_F(RuleStoreTest, HoldsAtMostTheLimit) {
  Ruleset full;
  full.rules.assign(kMaxRules, named("r"));
  EXPECT_EQ(store.replace_all(full).after.rules.size(), kMaxRules);
  EXPECT_EQ(status_of([&] { store.add(named("one more")); }), 422);
  EXPECT_EQ(last_field, "rules");
  full.rules.push_back(named("one more"));
  EXPECT_EQ(status_of([&] { store.replace_all(full); }), 422);
  EXPECT_EQ(store.ruleset().rules.size(), kMaxRules);
}

}  // namespace
}  // namespace adam::fw
