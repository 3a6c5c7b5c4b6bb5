// The lb plugin's service store: stable ids, every change handed to the
// data path (here a recorder that can refuse) as its last step, so a refused
// change leaves the store and the services as they were, and a store opened
// again on the same database reads what was stored.
#include "plugins/lb/service_store.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "store/database.h"

namespace adam::lb {
namespace {

using nlohmann::json;

Service web(const std::string& vip = "203.0.113.10", uint16_t port = 80) {
  return service_from_json(
      {{"name", "web"},
       {"vip", vip},
       {"port", port},
       {"table_size", 1009},
       {"backends", {{{"address", "198.51.100.11"}}, {{"address", "2001:db8::12"}, {"weight", 5}}}},
       {"health", {{"type", "http"}, {"path", "/healthz"}}}});
}

IpAddress address(const char* text) { return parse_address(text, "address"); }

class ServiceStoreTest : public ::testing::Test {
 protected:
  ServiceStore::Apply recorder() {
    return [this](const std::vector<Service>& services) {
      if (refuse) throw ApiError(422, "unprocessable", "the kernel refused", "backends");
      applied.push_back(services);
    };
  }
  // What a user would see after a restart: a new store on the same database.
  std::vector<Service> reopened() { return ServiceStore(db, recorder()).list(); }

  // `action` throws ApiError with `status` and `field`, and nothing changes
  // (neither the services, nor the database, nor what was applied).
  template <typename Action>
  void expect_refused(Action action, int status, const std::string& field) {
    const auto before = store.list();
    const size_t applies = applied.size();
    try {
      action();
      ADD_FAILURE() << "not refused; expected " << status << " " << field;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), status) << e.what();
      EXPECT_EQ(e.field(), field) << e.what();
    }
    EXPECT_EQ(store.list(), before);
    EXPECT_EQ(reopened(), before);
    EXPECT_EQ(applied.size(), applies);
  }

  Database db{":memory:"};
  std::vector<std::vector<Service>> applied;
  bool refuse = false;
  ServiceStore store{db, recorder()};
};

TEST_F(ServiceStoreTest, AddedServicesAreAppliedAndReadBack) {
  const Service a = store.add(web());
  const Service b = store.add(web("2001:db8::10", 443));
  EXPECT_GT(a.id, 0);
  EXPECT_GT(b.id, a.id);
  EXPECT_EQ(store.get(a.id), a);
  ASSERT_EQ(applied.size(), 2u);
  EXPECT_EQ(applied.back(), (std::vector<Service>{a, b}));
  EXPECT_EQ(store.list(), applied.back());
  EXPECT_EQ(reopened(), store.list());
  Service expected = web();
  expected.id = a.id;
  EXPECT_EQ(reopened().front(), expected) << "every field, the health check's included";
}

TEST_F(ServiceStoreTest, IdsAreStableAndNeverReused) {
  const Service a = store.add(web("203.0.113.1"));
  const Service b = store.add(web("203.0.113.2"));
  store.remove(b.id);
  const Service c = store.add(web("203.0.113.3"));
  EXPECT_GT(c.id, b.id);
  store.replace(a.id, web("203.0.113.4"));
  EXPECT_EQ(store.get(a.id).vip, address("203.0.113.4"));
  std::vector<int64_t> ids;
  for (const Service& s : reopened()) ids.push_back(s.id);
  EXPECT_EQ(ids, (std::vector<int64_t>{a.id, c.id}));
}

TEST_F(ServiceStoreTest, ReplaceAndRemoveSayWhatChanged) {
  const Service a = store.add(web());
  Service udp = web();
  udp.proto = 17;
  udp.id = 999;  // not read: the id is the path's
  const auto change = store.replace(a.id, udp);
  EXPECT_EQ(change.before, a);
  EXPECT_EQ(change.after.id, a.id);
  EXPECT_EQ(change.after.proto, 17);
  EXPECT_EQ(store.get(a.id), change.after);
  EXPECT_EQ(reopened(), std::vector<Service>{change.after});

  EXPECT_EQ(store.remove(a.id), change.after);
  EXPECT_TRUE(store.list().empty());
  EXPECT_TRUE(reopened().empty());
  EXPECT_TRUE(applied.back().empty()) << "the removal was applied";
}

TEST_F(ServiceStoreTest, BackendOperations) {
  const int64_t id = store.add(web()).id;
  auto change = store.add_backend(id, {address("198.51.100.13"), 7});
  EXPECT_EQ(change.before.backends.size(), 2u);
  ASSERT_EQ(change.after.backends.size(), 3u);
  EXPECT_EQ(change.after.backends[2], (Backend{address("198.51.100.13"), 7}));

  change = store.set_weight(id, address("2001:db8:0::12"), 0);
  EXPECT_EQ(change.before.backends[1].weight, 5u);
  EXPECT_EQ(change.after.backends[1].weight, 0u);

  change = store.remove_backend(id, address("198.51.100.11"));
  ASSERT_EQ(change.after.backends.size(), 2u);
  EXPECT_EQ(change.after.backends[0].address, address("2001:db8::12"));
  EXPECT_EQ(applied.back().front(), change.after);
  EXPECT_EQ(reopened().front(), change.after);

  store.remove_backend(id, address("2001:db8::12"));
  store.remove_backend(id, address("198.51.100.13"));
  EXPECT_TRUE(store.get(id).backends.empty()) << "the last backend can go";
}

TEST_F(ServiceStoreTest, MissingServicesAndBackendsAre404) {
  const int64_t id = store.add(web()).id;
  expect_refused([&] { store.get(id + 1); }, 404, "");
  expect_refused([&] { store.replace(id + 1, web()); }, 404, "");
  expect_refused([&] { store.remove(id + 1); }, 404, "");
  expect_refused([&] { store.add_backend(id + 1, {address("198.51.100.13"), 1}); }, 404, "");
  expect_refused([&] { store.set_weight(id, address("198.51.100.99"), 1); }, 404, "");
  expect_refused([&] { store.remove_backend(id, address("198.51.100.99")); }, 404, "");
}

TEST_F(ServiceStoreTest, CollisionsAre409) {
  const Service a = store.add(web("203.0.113.10", 80));
  const Service b = store.add(web("203.0.113.10", 81));
  expect_refused([&] { store.add(web("203.0.113.10", 80)); }, 409, "vip");
  expect_refused([&] { store.replace(b.id, web("203.0.113.10", 80)); }, 409, "vip");
  EXPECT_NO_THROW(store.replace(a.id, web("203.0.113.10", 80))) << "a service does not collide with itself";
  expect_refused([&] { store.add_backend(a.id, {address("2001:db8::12"), 1}); }, 409, "address");
}

TEST_F(ServiceStoreTest, BadBackendEditsAreRefused) {
  const int64_t id = store.add(web()).id;
  expect_refused([&] { store.add_backend(id, {address("203.0.113.10"), 1}); }, 400, "address");
  expect_refused([&] { store.add_backend(id, {address("198.51.100.13"), 65536}); }, 400, "weight");
  expect_refused([&] { store.set_weight(id, address("198.51.100.11"), 70000); }, 400, "weight");
  // 1009 entries hold 10 backends: the 11th needs a larger table first.
  for (int i = 0; i < 8; ++i)
    store.add_backend(id, {address(("198.51.100." + std::to_string(20 + i)).c_str()), 1});
  expect_refused([&] { store.add_backend(id, {address("198.51.100.99"), 1}); }, 422, "table_size");
}

TEST_F(ServiceStoreTest, ChangesTheDataPathRefusesChangeNothing) {
  const Service a = store.add(web());
  refuse = true;
  expect_refused([&] { store.add(web("203.0.113.20")); }, 422, "backends");
  expect_refused([&] { store.replace(a.id, web("203.0.113.20")); }, 422, "backends");
  expect_refused([&] { store.remove(a.id); }, 422, "backends");
  expect_refused([&] { store.add_backend(a.id, {address("198.51.100.13"), 1}); }, 422, "backends");
  expect_refused([&] { store.set_weight(a.id, address("198.51.100.11"), 1); }, 422, "backends");
  expect_refused([&] { store.remove_backend(a.id, address("198.51.100.11")); }, 422, "backends");
  refuse = false;
  const Service b = store.add(web("203.0.113.20"));
  EXPECT_GT(b.id, a.id);
  EXPECT_EQ(reopened(), (std::vector<Service>{a, b}));
}

TEST_F(ServiceStoreTest, ReapplyHandsTheStoredServicesOver) {
  store.add(web());
  applied.clear();
  store.reapply();
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0], store.list());
  refuse = true;
  EXPECT_THROW(store.reapply(), ApiError);
  EXPECT_EQ(store.list().size(), 1u);
}

TEST(LbServiceStoreFile, AStoreOnTheSameFileAfterARestartReadsTheSameServices) {
  const auto path =
      std::filesystem::temp_directory_path() / ("adam-lb-store-" + std::to_string(getpid()) + ".db");
  std::filesystem::remove(path);
  std::vector<Service> stored;
  {
    Database db(path.string());
    ServiceStore store(db, [](const std::vector<Service>&) {});
    store.add(web());
    store.add(web("2001:db8::10", 53));
    store.remove_backend(store.list()[0].id, address("198.51.100.11"));
    stored = store.list();
  }
  {
    Database db(path.string());
    std::vector<Service> applied;
    ServiceStore store(db, [&](const std::vector<Service>& services) { applied = services; });
    EXPECT_EQ(store.list(), stored);
    store.reapply();
    EXPECT_EQ(applied, stored);
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace adam::lb
