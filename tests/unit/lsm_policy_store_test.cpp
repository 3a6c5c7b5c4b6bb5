// The lsm plugin's policy store: stable ids, every change handed to the
// enforcers (here a recorder) as its last step, so a refused set leaves the
// store as it was, and a reopened store reads what was stored.
#include "plugins/lsm/policy_store.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>

#include "core/errors.h"
#include "store/database.h"

namespace adam::lsm {
namespace {

using nlohmann::json;

Policy named(const std::string& name, Kind kind = Kind::exec) {
  json body = {{"name", name}, {"kind", name_of(kind)}, {"action", "audit"}};
  if (kind == Kind::exec || kind == Kind::file) body["match"] = {{"path", {"/usr/bin/" + name}}};
  return policy_from_json(body);
}

// The stored fields and id of each policy, comparable.
json fields(const std::vector<Policy>& policies) {
  json out = json::array();
  for (const Policy& p : policies) {
    json j = policy_to_json(p);
    j["id"] = p.id;
    out.push_back(j);
  }
  return out;
}

class PolicyStoreTest : public ::testing::Test {
 protected:
  PolicyStore::Apply recorder() {
    return [this](const std::vector<Policy>& policies) {
      if (refuse) throw ApiError(422, "unprocessable", "does not fit", "kind");
      applied.push_back(policies);
    };
  }
  void expect_in_step() {
    PolicyStore reopened(db, recorder());
    EXPECT_EQ(fields(reopened.list()), fields(store.list()));
  }

  Database db{":memory:"};
  std::vector<std::vector<Policy>> applied;
  bool refuse = false;
  PolicyStore store{db, recorder()};
};

TEST_F(PolicyStoreTest, IdsAreStableAndNeverReused) {
  const Policy a = store.add(named("a"));
  const Policy b = store.add(named("b"));
  EXPECT_GT(b.id, a.id);
  EXPECT_GT(a.created, 0);
  store.remove(b.id);
  const Policy c = store.add(named("c"));
  EXPECT_GT(c.id, b.id);
  EXPECT_EQ(store.get(a.id).name, "a");
  EXPECT_EQ(fields(applied.back()), fields({a, c}));
  EXPECT_THROW(store.get(b.id), ApiError);
  expect_in_step();
}

TEST_F(PolicyStoreTest, EveryChangeIsAppliedAsItsLastStep) {
  const Policy a = store.add(named("a"));
  auto c = store.set_enabled(a.id, false);
  EXPECT_TRUE(c.before.enabled);
  EXPECT_FALSE(c.after.enabled);
  EXPECT_FALSE(applied.back()[0].enabled);
  c = store.set_action(a.id, Action::deny);
  EXPECT_EQ(c.after.action, Action::deny);
  EXPECT_EQ(applied.back()[0].action, Action::deny);
  Policy replacement = named("renamed", Kind::connect);
  c = store.replace(a.id, replacement);
  EXPECT_EQ(c.after.id, a.id);
  EXPECT_EQ(c.after.created, a.created);
  EXPECT_GE(c.after.updated, c.before.updated);
  EXPECT_EQ(store.get(a.id).kind, Kind::connect);
  EXPECT_EQ(applied.size(), 4u);
  expect_in_step();
}

TEST_F(PolicyStoreTest, ARefusedSetChangesNothing) {
  const Policy a = store.add(named("a"));
  const json before = fields(store.list());
  const size_t applies = applied.size();
  refuse = true;
  for (const auto& change : std::vector<std::function<void()>>{
           [&] { store.add(named("b")); },
           [&] { store.replace(a.id, named("b", Kind::bind)); },
           [&] { store.set_enabled(a.id, false); },
           [&] { store.set_action(a.id, Action::deny); },
           [&] { store.remove(a.id); },
       }) {
    try {
      change();
      ADD_FAILURE() << "a refused change went through";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 422);
    }
    EXPECT_EQ(fields(store.list()), before);
  }
  EXPECT_EQ(applied.size(), applies);
  refuse = false;
  expect_in_step();
  // The id the refused add took is not given again either way: ids only grow.
  EXPECT_GT(store.add(named("c")).id, a.id);
}

TEST_F(PolicyStoreTest, AKindHoldsAtMostTheKernelsPolicies) {
  for (int i = 0; i < ADAM_LSM_MAX_POLICIES; ++i) store.add(named("c" + std::to_string(i), Kind::connect));
  try {
    store.add(named("one too many", Kind::connect));
    FAIL() << "a kind took more policies than the kernel's tables hold";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 422);
    EXPECT_EQ(e.field(), "kind");
  }
  EXPECT_EQ(store.list().size(), size_t{ADAM_LSM_MAX_POLICIES});
  store.add(named("another kind", Kind::bind));  // each kind has its own tables
}

TEST_F(PolicyStoreTest, MissingIdsAre404) {
  for (const auto& f : std::vector<std::function<void()>>{[&] { store.get(9); }, [&] { store.remove(9); },
                                                          [&] { store.set_enabled(9, true); },
                                                          [&] { store.replace(9, named("x")); }}) {
    try {
      f();
      ADD_FAILURE() << "no 404";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 404);
    }
  }
}

TEST(PolicyStoreFile, ARestartReadsTheSame) {
  const auto path =
      std::filesystem::temp_directory_path() / ("lsm_policy_store_test." + std::to_string(getpid()) + ".db");
  json stored;
  {
    Database db(path.string());
    PolicyStore store(db, [](const std::vector<Policy>&) {});
    store.add(named("a"));
    const Policy b = store.add(named("b", Kind::bind));
    store.set_enabled(b.id, false);
    stored = fields(store.list());
  }
  {
    Database db(path.string());
    std::vector<Policy> seen;
    PolicyStore store(db, [&](const std::vector<Policy>& p) { seen = p; });
    EXPECT_EQ(fields(store.list()), stored);
    EXPECT_EQ(store.get(store.list()[0].id).created, store.list()[0].created);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
}

}  // namespace
}  // namespace adam::lsm
