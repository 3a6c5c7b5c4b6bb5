// The monitor's past from stored events alone: the table at a moment (a
// snapshot round as the base, the exec/fork/exit events replayed on it),
// one process and its chain back to pid 1, its children and its events;
// and the process routes' answers and refusals over the same store.
#include "plugins/monitor/history.h"

#include <gtest/gtest.h>

#include <map>

#include "core/errors.h"
#include "plugins/monitor/monitor_routes.h"
#include "plugins/monitor/process_table.h"
#include "support/event_store_fixture.h"

namespace adam::mon {
namespace {

using nlohmann::json;

constexpr TimeNs kSecond = 1'000'000'000;
const TimeNs t0 = 1'780'000'000 * kSecond;

TimeNs at_s(double seconds) { return t0 + static_cast<TimeNs>(seconds * kSecond); }

// pid -> comm of a table.
std::map<uint32_t, std::string> comms(const std::vector<Process>& processes) {
  std::map<uint32_t, std::string> out;
  for (const Process& p : processes) out[p.pid] = p.comm;
  return out;
}

class MonitorHistoryTest : public test::EventStoreTest {
 protected:
  const BootClock clock_{"0badcafe", t0 - 1000 * kSecond, 100};

  std::string id(uint32_t pid, TimeNs started, uint64_t tag) const {
    return format_exec_id(
        {clock_.boot, pid, static_cast<uint64_t>((started - clock_.boot_wall_ns) / 10'000'000), tag});
  }
  void add(const std::string& kind, TimeNs ts, const json& data) {
    store_->append(std::vector<NewEvent>{{ts, store_->kind_id("monitor", kind), data.dump()}});
  }
  // A process event's data (docs/monitor.md): the process fields and more.
  json proc(uint32_t pid, const std::string& exec_id, const std::string& parent, const std::string& comm,
            TimeNs started, json more = json::object()) const {
    json d = {{"pid", pid},
              {"tid", pid},
              {"ppid", parent.empty() ? 0 : 1},
              {"uid", 0},
              {"gid", 0},
              {"comm", comm},
              {"cgroup_id", 1},
              {"exec_id", exec_id},
              {"parent_exec_id", parent},
              {"filename", "/bin/" + comm},
              {"args", json::array({comm})},
              {"args_truncated", false},
              {"started", started}};
    d.update(more);
    return d;
  }

  // The story every test reads (seconds after t0):
  //  round 1: round_start 0, process.seen of 600 (image A) at 0.2, 700 at 0.3, init, sh, old (150) and
  //           500 (image R) at 1, process.snapshot at 2; inside it 500 forked (0.4) and exec'd R (0.5),
  //           600 exec'd B (1.5), 700 exited (1.8);
  //  200 forked by sh (10), exec'd sleep (11), killed (50); 300 forked (12), exec'd python3 (13) and
  //  cat (30); old exited (20); 400 forked by init (40);
  //  round 2: round_start 58, process.seen of every live process at 59, process.snapshot at 60.
  void SetUp() override {
    test::EventStoreTest::SetUp();
    add("process.seen", at_s(0.2), proc(600, a600_, sh_, "prog-a", t0 - 300 * kSecond, {{"seeded", true}}));
    add("process.seen", at_s(0.3), proc(700, ender_, sh_, "ender", t0 - 200 * kSecond, {{"seeded", true}}));
    add("process.fork", at_s(0.4), proc(500, fork500_, sh_, "sh", at_s(0.4)));
    add("process.exec", at_s(0.5), proc(500, r500_, sh_, "racer", at_s(0.4)));
    for (const auto& [pid, exec_id, parent, comm, started] :
         std::vector<std::tuple<uint32_t, std::string, std::string, std::string, TimeNs>>{
             {1, init_, "", "init", t0 - 999 * kSecond},
             {100, sh_, init_, "sh", t0 - 500 * kSecond},
             {150, old_, sh_, "old", t0 - 400 * kSecond},
             {500, r500_, sh_, "racer-proc", at_s(0.4)}})
      add("process.seen", at_s(1), proc(pid, exec_id, parent, comm, started, {{"seeded", true}}));
    add("process.exec", at_s(1.5), proc(600, b600_, sh_, "prog-b", t0 - 300 * kSecond));
    add("process.exit", at_s(1.8), proc(700, ender_, sh_, "ender", t0 - 200 * kSecond, {{"exit_code", 0}}));
    add("process.snapshot", at_s(2), {{"round_start", at_s(0)}, {"processes", 6}, {"reason", "start"}});

    add("process.fork", at_s(10), proc(200, fork200_, sh_, "sh", at_s(10)));
    add("process.exec", at_s(11), proc(200, sleep_, sh_, "sleep", at_s(10)));
    add("net.connect", at_s(11.5), proc(200, sleep_, sh_, "sleep", at_s(10), {{"dport", 80}}));
    add("process.fork", at_s(12), proc(300, fork300_, sh_, "sh", at_s(12)));
    add("process.exec", at_s(13), proc(300, python_, sh_, "python3", at_s(12)));
    add("process.exit", at_s(20), proc(150, old_, sh_, "old", t0 - 400 * kSecond, {{"exit_code", 3}}));
    add("process.exec", at_s(30), proc(300, cat_, sh_, "cat", at_s(12)));
    add("process.fork", at_s(40), proc(400, late_, init_, "late", at_s(40)));
    add("process.exit", at_s(50),
        proc(200, sleep_, sh_, "sleep", at_s(10), {{"signal", 9}, {"signal_name", "SIGKILL"}}));

    for (const auto& [pid, exec_id, parent, comm, started] :
         std::vector<std::tuple<uint32_t, std::string, std::string, std::string, TimeNs>>{
             {1, init_, "", "init", t0 - 999 * kSecond},
             {100, sh_, init_, "sh", t0 - 500 * kSecond},
             {300, cat_, sh_, "cat", at_s(12)},
             {400, late_, init_, "late", at_s(40)},
             {500, r500_, sh_, "racer", at_s(0.4)},
             {600, b600_, sh_, "prog-b", t0 - 300 * kSecond}})
      add("process.seen", at_s(59), proc(pid, exec_id, parent, comm, started, {{"seeded", true}}));
    add("process.snapshot", at_s(60), {{"round_start", at_s(58)}, {"processes", 6}, {"reason", "periodic"}});
  }

  const std::string init_ = id(1, t0 - 999 * kSecond, 0x1000);
  const std::string sh_ = id(100, t0 - 500 * kSecond, 0x2000);
  const std::string old_ = id(150, t0 - 400 * kSecond, 0x1500);
  const std::string a600_ = id(600, t0 - 300 * kSecond, 0x6000);
  const std::string b600_ = id(600, t0 - 300 * kSecond, 0x6001);
  const std::string ender_ = id(700, t0 - 200 * kSecond, 0x7000);
  const std::string fork500_ = id(500, at_s(0.4), 0x2000);
  const std::string r500_ = id(500, at_s(0.4), 0x5001);
  const std::string fork200_ = id(200, at_s(10), 0x2000);
  const std::string sleep_ = id(200, at_s(10), 0x2001);
  const std::string fork300_ = id(300, at_s(12), 0x2000);
  const std::string python_ = id(300, at_s(12), 0x3001);
  const std::string cat_ = id(300, at_s(12), 0x3002);
  const std::string late_ = id(400, at_s(40), 0x2000);
};

TEST_F(MonitorHistoryTest, TheTableAtAMomentHasWhatRanThenAndNothingLater) {
  const PastTable past = table_at(*store_, at_s(25));
  EXPECT_EQ(past.at, at_s(25));
  EXPECT_EQ(past.snapshot_ts, at_s(2));
  EXPECT_EQ(past.round_start, at_s(0));
  // sleep (200) exited since (at 50) and is there; late (400) started after (40) and is not; old (150)
  // and ender (700) had exited.
  EXPECT_EQ(
      comms(past.processes),
      (std::map<uint32_t, std::string>{
          {1, "init"}, {100, "sh"}, {200, "sleep"}, {300, "python3"}, {500, "racer"}, {600, "prog-b"}}));
  // 500's fork and exec, 600's exec, 700's exit, 200's fork and exec, 300's fork and exec, 150's exit.
  EXPECT_EQ(past.replayed, 9u);
  for (const Process& p : past.processes) {
    EXPECT_FALSE(p.exited) << p.comm;
    if (p.pid == 200) {
      EXPECT_EQ(p.exec_id, sleep_);
      EXPECT_EQ(p.parent_exec_id, sh_);
      EXPECT_FALSE(p.seeded);
    }
    if (p.pid == 1) {
      EXPECT_TRUE(p.seeded);
    }
  }
}

TEST_F(MonitorHistoryTest, AProcessExecdTwiceShowsTheImageOfTheMoment) {
  EXPECT_EQ(comms(table_at(*store_, at_s(12.5)).processes).at(300), "sh");     // forked, not yet exec'd
  EXPECT_EQ(comms(table_at(*store_, at_s(13)).processes).at(300), "python3");  // `at` itself included
  EXPECT_EQ(comms(table_at(*store_, at_s(29)).processes).at(300), "python3");
  EXPECT_EQ(comms(table_at(*store_, at_s(35)).processes).at(300), "cat");
  const auto later = comms(table_at(*store_, at_s(45)).processes);
  EXPECT_EQ(later.at(400), "late");
  EXPECT_EQ(later.at(200), "sleep");
  EXPECT_FALSE(comms(table_at(*store_, at_s(55)).processes).count(200));  // killed at 50
}

TEST_F(MonitorHistoryTest, EventsInsideTheRoundApplyOnceWhicheverSideOfTheProcReadTheyFell) {
  // At the snapshot itself: 500's exec before its /proc read and 600's after both give the exec'd
  // image, once; 700's exit after its read leaves it out.
  const PastTable past = table_at(*store_, at_s(2));
  EXPECT_EQ(comms(past.processes),
            (std::map<uint32_t, std::string>{
                {1, "init"}, {100, "sh"}, {150, "old"}, {500, "racer"}, {600, "prog-b"}}));
  EXPECT_EQ(past.processes.size(), 5u);
  EXPECT_EQ(past.replayed, 4u);
}

TEST_F(MonitorHistoryTest, TheLatestRoundAtOrBeforeTheMomentIsTheBase) {
  const PastTable past = table_at(*store_, at_s(65));
  EXPECT_EQ(past.snapshot_ts, at_s(60));
  EXPECT_EQ(past.round_start, at_s(58));
  EXPECT_EQ(past.replayed, 0u);
  EXPECT_EQ(comms(past.processes),
            (std::map<uint32_t, std::string>{
                {1, "init"}, {100, "sh"}, {300, "cat"}, {400, "late"}, {500, "racer"}, {600, "prog-b"}}));
}

TEST_F(MonitorHistoryTest, NoSnapshotAtOrBeforeTheMomentIs422NamingAt) {
  try {
    table_at(*store_, at_s(1.9));
    FAIL() << "a table before the first snapshot";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 422);
    EXPECT_EQ(e.field(), "at");
    EXPECT_NE(std::string(e.what()).find("no process snapshot at or before"), std::string::npos) << e.what();
  }
}

TEST_F(MonitorHistoryTest, TheChainFromTheStoreAloneReachesPid1) {
  const auto sleep = stored_process(*store_, clock_, sleep_);
  ASSERT_TRUE(sleep);
  EXPECT_EQ(sleep->comm, "sleep");
  EXPECT_EQ(sleep->started, at_s(10));
  EXPECT_EQ(sleep->exited, at_s(50));
  EXPECT_EQ(sleep->signal, 9);
  const std::vector<Process> chain =
      ancestors_of(*sleep, [&](std::string_view id) { return stored_process(*store_, clock_, id); });
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0].exec_id, sh_);
  EXPECT_EQ(chain[0].pid, 100u);
  EXPECT_TRUE(chain[0].seeded);  // known from /proc only
  EXPECT_EQ(chain[1].exec_id, init_);
  EXPECT_EQ(chain[1].pid, 1u);

  // An image an exec replaced is still known by its own exec id, unexited.
  const auto python = stored_process(*store_, clock_, python_);
  ASSERT_TRUE(python);
  EXPECT_EQ(python->comm, "python3");
  EXPECT_FALSE(python->exited);
  EXPECT_FALSE(stored_process(*store_, clock_, id(999, at_s(3), 0x1)));
}

TEST_F(MonitorHistoryTest, ChildrenAndEventsOfAnExecIdFromTheStore) {
  std::vector<std::string> children;
  for (const Process& p : stored_children(*store_, clock_, sh_)) children.push_back(p.comm);
  // By start: the fork images an exec replaced are not among them; exited ones are.
  EXPECT_EQ(children, (std::vector<std::string>{"old", "prog-b", "ender", "racer", "sleep", "cat"}));

  std::vector<std::string> kinds;
  for (const Event& e : stored_events_of(*store_, clock_, sleep_, 10)) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"process.exit", "net.connect", "process.exec"}));
  EXPECT_EQ(stored_events_of(*store_, clock_, sleep_, 1).size(), 1u);
}

TEST_F(MonitorHistoryTest, TheProcessResourceWithoutALiveTable) {
  const ProcessTable empty;
  const json detail = process_detail(empty, store_.get(), clock_, sleep_);
  EXPECT_EQ(detail["process"]["comm"], "sleep");
  EXPECT_EQ(detail["process"]["signal"], 9);
  EXPECT_EQ(detail["process"]["links"]["self"], "/api/v1/monitor/processes/" + sleep_);
  EXPECT_EQ(detail["process"]["links"]["page"], "/processes?exec_id=" + sleep_);
  EXPECT_NE(detail["process"]["links"]["events"].get<std::string>().find("data.exec_id=" + sleep_),
            std::string::npos);
  ASSERT_EQ(detail["ancestors"].size(), 2u);
  EXPECT_EQ(detail["ancestors"][1]["pid"], 1);
  EXPECT_TRUE(detail["children"].empty());
  ASSERT_EQ(detail["events"].size(), 3u);
  EXPECT_EQ(detail["events"][0]["kind"], "process.exit");
  EXPECT_EQ(detail["events"][0]["data"]["exec_id"], sleep_);

  const json past = past_processes(*store_, at_s(25));
  EXPECT_EQ(past["at"], at_s(25));
  EXPECT_EQ(past["snapshot"]["ts"], at_s(2));
  EXPECT_EQ(past["snapshot"]["round_start"], at_s(0));
  EXPECT_EQ(past["replayed"], 9);
  EXPECT_EQ(past["count"], 6);

  try {
    process_detail(empty, store_.get(), clock_, id(999, at_s(3), 0x1));
    FAIL() << "an unknown exec id was found";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 404);
  }
}

TEST_F(MonitorHistoryTest, TheLiveTableWinsAndItsChildrenAreTheTables) {
  ProcessTable live;
  live.apply("process.seen", proc(1, init_, "", "init", t0 - 999 * kSecond), at_s(70));
  live.apply("process.seen", proc(100, sh_, init_, "sh-live", t0 - 500 * kSecond), at_s(70));
  const json detail = process_detail(live, store_.get(), clock_, sh_);
  EXPECT_EQ(detail["process"]["comm"], "sh-live");
  EXPECT_TRUE(detail["children"].empty());  // the table holds none
  ASSERT_EQ(detail["ancestors"].size(), 1u);
  EXPECT_EQ(detail["ancestors"][0]["comm"], "init");

  const json listing = live_processes(live, false);
  EXPECT_EQ(listing["count"], 2);
  EXPECT_EQ(listing["capacity"], 65536);
  EXPECT_EQ(listing["evictions"], 0);
  EXPECT_EQ(listing["processes"][1]["links"]["parent"], "/api/v1/monitor/processes/" + init_);
}

void expect_bad(const std::function<void()>& call, const std::string& field) {
  try {
    call();
    ADD_FAILURE() << "accepted; expected a 400 naming " << field;
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400) << e.what();
    EXPECT_EQ(e.field(), field) << e.what();
  }
}

TEST(MonitorRoutesInput, BadParametersAre400NamingThem) {
  expect_bad([] { parse_processes_query({{"at", "yesterday"}}); }, "at");
  expect_bad([] { parse_processes_query({{"at", "2026-02-30T00:00:00Z"}}); }, "at");
  expect_bad([] { parse_processes_query({{"at", "1"}, {"at", "2"}}); }, "at");
  expect_bad([] { parse_processes_query({{"exited", "maybe"}}); }, "exited");
  expect_bad([] { parse_processes_query({{"at", "1780000000"}, {"exited", "1"}}); }, "exited");
  expect_bad([] { parse_processes_query({{"pid", "1"}}); }, "pid");
  for (const char* bad : {"", "x", "0badcafe-1-2", "0BADCAFE-1-2-3", "0badcafe-01-2-3", "0badcafe-1-2-3-4",
                          "0badcafe-1-2-zz", "../../etc"})
    expect_bad([&] { exec_id_param(bad); }, "exec_id");

  EXPECT_EQ(parse_processes_query({{"at", "2026-05-31T12:00:00Z"}}).at,
            parse_instant("2026-05-31T12:00:00Z"));
  EXPECT_EQ(parse_processes_query({{"at", "1780000000.5"}}).at, 1'780'000'000'500'000'000);
  EXPECT_TRUE(parse_processes_query({{"exited", "1"}}).with_exited);
  EXPECT_FALSE(parse_processes_query({}).at);
  EXPECT_EQ(exec_id_param("0badcafe-1-2-3f"), "0badcafe-1-2-3f");
}

TEST(MonitorRoutesLinks, AnExecIdLinksToItsProcessAndItsEvents) {
  EXPECT_EQ(exec_id_links("0badcafe-1-2-3"),
            (json{{"process", "/api/v1/monitor/processes/0badcafe-1-2-3"},
                  {"exec id events", "/api/v1/events?data.exec_id=0badcafe-1-2-3"}}));
}

}  // namespace
}  // namespace adam::mon
