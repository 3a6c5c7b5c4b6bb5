// The pipeline from C++ producers: queue, batched writer, loss counting,
// retention through the writer, and live subscriptions that never hold the
// writer up.
#include "core/event_hub.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "store/database.h"
#include "support/event_store_fixture.h"
#include "support/sanitizers.h"

namespace adam {
namespace {

constexpr TimeNs kSecond = 1'000'000'000;

using EventHubTest = test::EventStoreTest;

TEST_F(EventHubTest, PublishedEventsAreStoredAndCounted) {
  EventHub hub(*store_);
  for (int i = 0; i < 1000; ++i) hub.publish("adamd", "api.change", "{\"i\":" + std::to_string(i) + "}");
  hub.publish("fw", "fw.drop", "{}");
  hub.flush();
  EXPECT_EQ(store_->row_count(), 1001);
  auto counters = hub.counters();
  EXPECT_EQ(counters["adamd"].stored, 1000);
  EXPECT_EQ(counters["fw"].stored, 1);
  EXPECT_TRUE(counters["adamd"].lost.empty());
  auto page = store_->query({.kinds = {"api.change"}}, std::nullopt, 1);
  ASSERT_EQ(page.events.size(), 1u);
  EXPECT_EQ(page.events[0].data, "{\"i\":999}");
}

// Another connection holds the database's write lock past the store's busy
// timeout (5 s), as a stream of rule changes can: the batch waits for its
// turn and is stored whole, nothing counted lost.
TEST_F(EventHubTest, ABatchWaitsOutALockHeldPastTheBusyTimeoutAndLosesNothing) {
  SQLite::Database other(dir_ + "/adam.db", SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  EventHub hub(*store_);
  for (int i = 0; i < 100; ++i) hub.publish("adamd", "api.change", "{}");
  std::this_thread::sleep_for(std::chrono::milliseconds(6500));  // the writer's first attempt gave up
  EXPECT_EQ(store_->row_count(), 0);
  other.exec("COMMIT");
  hub.flush();
  EXPECT_EQ(store_->row_count(), 100);
  auto counters = hub.counters();
  EXPECT_EQ(counters["adamd"].stored, 100);
  EXPECT_TRUE(counters["adamd"].lost.empty());
}

TEST_F(EventHubTest, TheBatchWindowCommitsWithoutAFlush) {
  EventHub hub(*store_, EventHubOptions{.batch_window = std::chrono::milliseconds(100)});
  hub.publish("adamd", "api.change", "{}");
  const auto deadline = std::chrono::steady_clock::now() + test::scaled(std::chrono::seconds(2));
  while (store_->row_count() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(store_->row_count(), 1);
}

TEST_F(EventHubTest, AFullQueueDropsAndCountsInsteadOfWaiting) {
  EventHub hub(*store_,
               EventHubOptions{.queue_capacity = 100, .batch_window = std::chrono::milliseconds(500)});
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20'000; ++i) hub.publish("fw", "fw.drop", "{}");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(400)) << "publish waited";
  hub.flush();
  auto c = hub.counters()["fw"];
  EXPECT_GT(c.lost[LossReason::queue], 0);
  EXPECT_EQ(c.stored + c.lost[LossReason::queue], 20'000);
  // The loss is marked where it happened: events.lost of adamd, not fw's own.
  int64_t marked = 0;
  for (const auto& e : store_->query({.kinds = {"events.lost"}}, std::nullopt, 1000).events) {
    EXPECT_EQ(e.plugin, "adamd");
    const auto data = nlohmann::json::parse(e.data);
    EXPECT_EQ(data["plugin"], "fw");
    EXPECT_EQ(data["reason"], "queue");
    marked += data["count"].get<int64_t>();
  }
  EXPECT_EQ(marked, c.lost[LossReason::queue]);
  EXPECT_EQ(store_->row_count(), c.stored + hub.counters()["adamd"].stored);
}

TEST_F(EventHubTest, RetentionRunsInTheWriterByAgeAndCount) {
  const TimeNs now = now_ns();
  {
    std::vector<NewEvent> old;
    for (int i = 0; i < 300; ++i)
      old.push_back({now - 10 * 86400 * kSecond + i, store_->kind_id("fw", "fw.drop"), "{}"});
    store_->append(old);
  }
  EventHub hub(*store_,
               EventHubOptions{.retention = Span{7, SpanUnit::day}, .max_events = 50, .retention_batch = 40});
  for (int i = 0; i < 100; ++i) hub.publish("fw", "fw.drop", "{}", now + i);
  hub.flush();
  const auto deadline = std::chrono::steady_clock::now() + test::scaled(std::chrono::seconds(10));
  while (store_->row_count() > 50 && std::chrono::steady_clock::now() < deadline) {
    hub.publish("fw", "fw.tick", "{}", now - 20 * 86400 * kSecond);  // old at once: wakes the writer
    hub.flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(store_->row_count(), 50);
  const auto page = store_->query({}, std::nullopt, 100);
  ASSERT_EQ(page.events.size(), 50u);
  EXPECT_EQ(page.events.back().ts, now + 50) << "the newest 50 stay";
}

TEST_F(EventHubTest, SubscribersGetNewMatchingEventsAfterCommit) {
  EventHub hub(*store_);
  auto drops = hub.subscribe({.kinds = {"fw.drop"}});
  auto everything = hub.subscribe({});
  hub.publish("fw", "fw.drop", "{\"a\":1}");
  hub.publish("fw", "fw.pass", "{}");
  hub.flush();
  auto got = drops->wait(std::chrono::seconds(2));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].kind, "fw.drop");
  EXPECT_EQ(got[0].data, "{\"a\":1}");
  EXPECT_GT(got[0].id, 0);
  EXPECT_EQ(everything->wait(std::chrono::seconds(2)).size(), 2u);
}

TEST_F(EventHubTest, SubscribersGetOnlyTheEventsOfTheirDataEqualities) {
  EventHub hub(*store_);
  auto one_process = hub.subscribe({.data = {{"exec_id", "a-1-2-3"}, {"pid", "7"}}});
  hub.publish("mon", "process.exec", R"({"exec_id":"a-1-2-3","pid":7})");
  hub.publish("mon", "net.connect", R"({"exec_id":"a-1-2-3","pid":8})");
  hub.publish("mon", "file.open", R"({"exec_id":"b-1-2-3","pid":7})");
  hub.publish("mon", "process.exit", R"({"exec_id":"a-1-2-3","pid":7,"exit_code":0})");
  hub.flush();
  std::vector<std::string> kinds;
  for (const Event& e : one_process->wait(std::chrono::seconds(2))) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"process.exec", "process.exit"}));
}

TEST_F(EventHubTest, AStalledSubscriberIsDroppedAndNeverHoldsTheWriter) {
  EventHub hub(*store_);
  auto stalled = hub.subscribe({}, 10);  // never reads
  const auto t0 = std::chrono::steady_clock::now();
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 1000; ++i) hub.publish("fw", "fw.drop", "{}");
    hub.flush();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(store_->row_count(), 5000);
  EXPECT_TRUE(stalled->dropped());
}

}  // namespace
}  // namespace adam
