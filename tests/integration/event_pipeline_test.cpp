// The kernel side of the event pipeline: a BPF producer (tests/bpf/
// event_flood.bpf.c) floods its ring buffer through BPF_PROG_TEST_RUN, and
// every event it produced is either stored or counted as lost.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "core/event_hub.h"
#include "store/database.h"
#include "support/event_flood.h"
#include "support/event_store_fixture.h"
#include "support/netns.h"

namespace adam::test {
namespace {

class EventPipelineTest : public EventStoreTest {
 protected:
  void SetUp() override {
    if (!have_root()) GTEST_SKIP() << "needs root (loads a BPF program)";
    EventStoreTest::SetUp();
  }
  int64_t total_lost(const EventCounters& c) {
    int64_t n = 0;
    for (const auto& [reason, count] : c.lost) n += count;
    return n;
  }
};

TEST_F(EventPipelineTest, KernelEventsAreDecodedAndStoredWithWallClockTime) {
  EventHub hub(*store_);
  const TimeNs before = now_ns();
  int64_t produced = 0;
  {
    EventFlood flood(hub);
    flood.fire(10);
    produced = flood.produced();
  }  // unregistering drains the ring buffer
  hub.flush();
  EXPECT_EQ(produced, 10);
  EXPECT_EQ(hub.counters()["flood"].stored, 10);
  const EventPage page = store_->query({.plugins = {"flood"}}, std::nullopt, 100);
  ASSERT_EQ(page.events.size(), 10u);
  EXPECT_EQ(page.events[0].kind, "flood.tick");
  EXPECT_NE(page.events[0].data.find("\"seq\":"), std::string::npos) << page.events[0].data;
  // The boot-time stamp of the kernel became wall-clock time.
  EXPECT_GE(page.events[0].ts, before - 1'000'000'000);
  EXPECT_LE(page.events[0].ts, now_ns());
}

// At a rate the pipeline keeps up with, nothing is lost.
TEST_F(EventPipelineTest, AFloodIsStoredWholeAndTheCountersAddUp) {
  EventHub hub(*store_);
  int64_t produced = 0;
  {
    EventFlood flood(hub);
    for (int i = 0; i < 100; ++i) {
      flood.fire(2000);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    produced = flood.produced();
  }
  hub.flush();
  const EventCounters c = hub.counters()["flood"];
  EXPECT_EQ(produced, 200'000);
  EXPECT_EQ(c.stored + total_lost(c), produced);
  EXPECT_EQ(total_lost(c), 0);
  EXPECT_EQ(store_->row_count(), c.stored);
}

// Faster than any consumer (two million runs in one BPF_PROG_TEST_RUN call,
// twenty times what the ring buffer holds): the kernel counts what it could
// not reserve, and produced = stored + lost still holds exactly.
TEST_F(EventPipelineTest, AnOverrunRingBufferCountsEveryKernelLoss) {
  int64_t produced = 0, kernel_lost = 0;
  EventCounters c;
  {
    EventHub hub(*store_);
    {
      EventFlood flood(hub);
      flood.fire(2'000'000);
      produced = flood.produced();
      kernel_lost = flood.kernel_lost();
    }
    hub.flush();
    c = hub.counters()["flood"];
  }  // the writer is gone: the rows are final
  EXPECT_EQ(produced, 2'000'000);
  EXPECT_GT(kernel_lost, 0);
  EXPECT_EQ(c.lost.at(LossReason::kernel), kernel_lost);
  EXPECT_EQ(c.stored + total_lost(c), produced) << "stored " << c.stored << ", lost " << total_lost(c);
  // Besides the flood's events, only the markers of its losses (events.lost of adamd).
  const size_t markers = store_->query({.kinds = {"events.lost"}}, std::nullopt, 10'000).events.size();
  EXPECT_GT(markers, 0u);
  EXPECT_EQ(store_->row_count(), c.stored + static_cast<int64_t>(markers));
}

}  // namespace
}  // namespace adam::test
