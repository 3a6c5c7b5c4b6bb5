// The monitor's live process table: an exec replaces its pid's image, a
// fork adds a child, an exit marks the process and keeps it findable, the
// bound evicts exited processes first and counts every eviction, and a
// process two /proc rounds do not find has exited unseen.
#include "plugins/monitor/process_table.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>

namespace adam::mon {
namespace {

constexpr TimeNs kSecond = 1'000'000'000;

std::string id_of(uint32_t pid, uint64_t ticks, uint64_t tag) {
  return format_exec_id({"0badcafe", pid, ticks, tag});
}

// The data of a process event as the decoder makes it (docs/monitor.md).
nlohmann::json process_data(uint32_t pid, const std::string& exec_id, const std::string& parent_exec_id,
                            const std::string& comm, TimeNs started) {
  return {{"pid", pid},
          {"tid", pid},
          {"ppid", 1},
          {"uid", 0},
          {"gid", 0},
          {"comm", comm},
          {"cgroup_id", 1},
          {"exec_id", exec_id},
          {"parent_exec_id", parent_exec_id},
          {"filename", "/usr/bin/" + comm},
          {"args", nlohmann::json::array({comm})},
          {"args_truncated", false},
          {"started", started}};
}

std::vector<std::string> exec_ids(const std::vector<Process>& processes) {
  std::vector<std::string> out;
  for (const auto& p : processes) out.push_back(p.exec_id);
  return out;
}

class ProcessTableTest : public ::testing::Test {
 protected:
  const std::string init_ = id_of(1, 5, 0x7ff0);
  const std::string shell_ = id_of(100, 50, 0x7ff1);
  ProcessTable table_{1024};

  void SetUp() override {
    table_.apply("process.seen", process_data(1, init_, "", "init", 1 * kSecond), 10 * kSecond);
    table_.apply("process.seen", process_data(100, shell_, init_, "bash", 2 * kSecond), 10 * kSecond);
  }
};

TEST_F(ProcessTableTest, ForkThenExecReplacesTheImageOfThePid) {
  const std::string forked = id_of(200, 1000, 0x7ff1);  // a fork keeps the parent's tag
  const std::string execd = id_of(200, 1000, 0x7aa2);
  table_.apply("process.fork", process_data(200, forked, shell_, "bash", 20 * kSecond), 20 * kSecond);
  ASSERT_TRUE(table_.find(forked));
  EXPECT_EQ(exec_ids(table_.children(shell_)), std::vector<std::string>{forked});

  table_.apply("process.exec", process_data(200, execd, shell_, "sleep", 20 * kSecond), 21 * kSecond);
  auto sleep = table_.find(execd);
  ASSERT_TRUE(sleep);
  EXPECT_EQ(sleep->comm, "sleep");
  EXPECT_FALSE(sleep->seeded);
  EXPECT_EQ(sleep->parent_exec_id, shell_);
  // One process for pid 200: the fork's image, childless, is gone.
  EXPECT_FALSE(table_.find(forked));
  EXPECT_EQ(exec_ids(table_.list()), (std::vector<std::string>{init_, shell_, execd}));
  EXPECT_EQ(exec_ids(table_.children(shell_)), std::vector<std::string>{execd});
  EXPECT_EQ(table_.size(), 3u);
}

TEST_F(ProcessTableTest, AnImageWithChildrenStaysFindableAfterItsExec) {
  const std::string child = id_of(300, 2000, 0x7ff1);
  table_.apply("process.fork", process_data(300, child, shell_, "bash", 30 * kSecond), 30 * kSecond);
  // The shell execs another program; its child keeps the shell as parent.
  const std::string shell2 = id_of(100, 50, 0x7bb3);
  table_.apply("process.exec", process_data(100, shell2, init_, "python3", 2 * kSecond), 31 * kSecond);
  auto old = table_.find(shell_);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->exited, 31 * kSecond);
  EXPECT_FALSE(old->exit_code);
  EXPECT_EQ(exec_ids(table_.list()), (std::vector<std::string>{init_, shell2, child}));
  EXPECT_EQ(exec_ids(table_.list(true)), (std::vector<std::string>{init_, shell_, shell2, child}));
}

TEST_F(ProcessTableTest, ExitMarksTheProcessAndKeepsIt) {
  const std::string child = id_of(400, 3000, 0x7ff1);
  table_.apply("process.fork", process_data(400, child, shell_, "bash", 40 * kSecond), 40 * kSecond);
  auto exit = process_data(400, child, shell_, "bash", 40 * kSecond);
  exit["exit_code"] = 7;
  exit["lifetime_ns"] = kSecond;
  table_.apply("process.exit", exit, 41 * kSecond);
  table_.apply("process.exit", exit, 41 * kSecond);  // the same event again changes nothing

  auto held = table_.find(child);
  ASSERT_TRUE(held);
  EXPECT_EQ(held->exited, 41 * kSecond);
  EXPECT_EQ(held->exit_code, 7);
  EXPECT_FALSE(held->signal);
  EXPECT_EQ(exec_ids(table_.list()), (std::vector<std::string>{init_, shell_}));
  EXPECT_EQ(exec_ids(table_.list(true)), (std::vector<std::string>{init_, shell_, child}));
  // A /proc read from before the exit, arriving after it, does not revive it.
  table_.apply("process.seen", process_data(400, child, shell_, "bash", 40 * kSecond), 40 * kSecond);
  EXPECT_EQ(table_.find(child)->exited, 41 * kSecond);

  auto killed = process_data(100, shell_, init_, "bash", 2 * kSecond);
  killed["signal"] = 9;
  killed["signal_name"] = "SIGKILL";
  table_.apply("process.exit", killed, 42 * kSecond);
  EXPECT_EQ(table_.find(shell_)->signal, 9);
  EXPECT_FALSE(table_.find(shell_)->exit_code);
}

TEST_F(ProcessTableTest, AnExitOfAProcessNeverHeldKeepsAStaleReadOfItOut) {
  // The process exits while the /proc scan runs; the scan's read of it from
  // before the exit arrives after the exit event.
  const std::string gone = id_of(800, 7000, 0x7ee1);
  auto exit = process_data(800, gone, shell_, "gone", 70 * kSecond);
  exit["exit_code"] = 1;
  table_.apply("process.exit", exit, 71 * kSecond);
  table_.apply("process.seen", process_data(800, gone, shell_, "gone", 70 * kSecond), 70 * kSecond);
  ASSERT_TRUE(table_.find(gone));
  EXPECT_EQ(table_.find(gone)->exited, 71 * kSecond);
  EXPECT_EQ(exec_ids(table_.list()), (std::vector<std::string>{init_, shell_}));
  EXPECT_EQ(exec_ids(table_.children(shell_)), std::vector<std::string>{gone});
  // Nor does such an exit end what its pid runs now.
  table_.apply("process.exit", process_data(100, id_of(100, 1, 0x1), init_, "old-sh", 0), 72 * kSecond);
  EXPECT_FALSE(table_.find(shell_)->exited);
}

TEST_F(ProcessTableTest, AKernelEventOfAnExecIdWinsOverAProcRead) {
  const std::string sleep = id_of(500, 4000, 0x7cc4);
  auto exec = process_data(500, sleep, shell_, "sleep", 50 * kSecond);
  exec["args"] = nlohmann::json::array({"sleep", "30 s"});
  table_.apply("process.exec", exec, 50 * kSecond);
  auto seen = process_data(500, sleep, shell_, "sleep", 50 * kSecond);
  seen["args"] = nlohmann::json::array({"sleep", "30", "s"});
  table_.apply("process.seen", seen, 60 * kSecond);
  EXPECT_EQ(table_.find(sleep)->args, (std::vector<std::string>{"sleep", "30 s"}));
  EXPECT_FALSE(table_.find(sleep)->seeded);
}

TEST_F(ProcessTableTest, AnEventOlderThanThePidsCurrentImageIsIgnored) {
  // The exec arrives first (events of two CPUs out of order), the fork later.
  const std::string forked = id_of(600, 5000, 0x7ff1);
  const std::string execd = id_of(600, 5000, 0x7dd5);
  table_.apply("process.exec", process_data(600, execd, shell_, "cat", 60 * kSecond), 61 * kSecond);
  table_.apply("process.fork", process_data(600, forked, shell_, "bash", 60 * kSecond), 60 * kSecond);
  EXPECT_FALSE(table_.find(forked));
  EXPECT_EQ(exec_ids(table_.children(shell_)), std::vector<std::string>{execd});
}

TEST_F(ProcessTableTest, AReusedPidReplacesAProcessWhoseExitWasMissed) {
  const std::string first = id_of(700, 6000, 0x7ff1);
  const std::string second = id_of(700, 9000, 0x7ff1);
  table_.apply("process.fork", process_data(700, first, shell_, "bash", 70 * kSecond), 70 * kSecond);
  table_.apply("process.fork", process_data(700, second, shell_, "bash", 90 * kSecond), 90 * kSecond);
  EXPECT_FALSE(table_.find(first));
  EXPECT_EQ(exec_ids(table_.list()), (std::vector<std::string>{init_, shell_, second}));
}

// A process whose exit event was lost: the first /proc round that misses
// it leaves it live (its exit may be on its way), the second marks it
// exited at the first round's start; a process forked during a round, an
// exit that came in between, and what the rounds found stay as they are.
TEST_F(ProcessTableTest, AProcessTwoRoundsDoNotFindHasExitedUnseen) {
  const std::string lost = id_of(800, 7000, 0x7ff1), raced = id_of(801, 7001, 0x7ff1),
                    during = id_of(802, 7002, 0x7ff1);
  for (const auto& [pid, id] : {std::pair{800u, lost}, std::pair{801u, raced}})
    table_.apply("process.fork", process_data(pid, id, shell_, "bash", 80 * kSecond), 80 * kSecond);
  std::set<std::string> alive = {init_, shell_};

  EXPECT_EQ(table_.end_round(alive, 100 * kSecond), 0u);
  EXPECT_FALSE(table_.find(lost)->exited) << "one round that misses it is not enough";
  nlohmann::json exit = process_data(801, raced, shell_, "bash", 80 * kSecond);
  exit.update({{"exit_code", 3}, {"signal", nullptr}});
  table_.apply("process.exit", exit, 101 * kSecond);  // the exit that raced the first round
  table_.apply("process.fork", process_data(802, during, shell_, "bash", 200 * kSecond), 200 * kSecond);

  EXPECT_EQ(table_.end_round(alive, 199 * kSecond), 1u);
  const auto gone = table_.find(lost);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->exited, 100 * kSecond);
  EXPECT_FALSE(gone->exit_code);
  EXPECT_FALSE(gone->signal);
  EXPECT_EQ(table_.find(raced)->exit_code, 3) << "a real exit is not overwritten";
  EXPECT_EQ(table_.find(raced)->exited, 101 * kSecond);
  EXPECT_FALSE(table_.find(during)->exited) << "it started after the round did";
  EXPECT_EQ(exec_ids(table_.list()), (std::vector<std::string>{init_, shell_, during}));
  EXPECT_EQ(table_.exits_missed(), 1u);
  alive.insert(during);  // the next rounds find it
  EXPECT_EQ(table_.end_round(alive, 300 * kSecond), 0u) << "marked once";
  EXPECT_EQ(table_.exits_missed(), 1u);

  // A process a round finds again is no longer missing.
  const std::string back = id_of(803, 7003, 0x7ff1);
  table_.apply("process.fork", process_data(803, back, shell_, "bash", 250 * kSecond), 250 * kSecond);
  EXPECT_EQ(table_.end_round(alive, 400 * kSecond), 0u);
  std::set<std::string> with_back = alive;
  with_back.insert(back);
  EXPECT_EQ(table_.end_round(with_back, 500 * kSecond), 0u);
  EXPECT_EQ(table_.end_round(alive, 600 * kSecond), 0u) << "missed once since it was found";
  EXPECT_FALSE(table_.find(back)->exited);
}

TEST_F(ProcessTableTest, OtherKindsAreIgnoredAndBadDataThrows) {
  table_.apply("net.connect", nlohmann::json{{"pid", 100}, {"exec_id", shell_}}, 70 * kSecond);
  EXPECT_EQ(table_.size(), 2u);
  EXPECT_THROW(table_.apply("process.exec", nlohmann::json{{"pid", 5}}, 70 * kSecond), nlohmann::json::exception);
  EXPECT_EQ(table_.size(), 2u);
}

TEST(ProcessTableBound, EvictsExitedFirstOldestExitFirstThenOldestLive) {
  ProcessTable table(4);
  auto fork = [&](uint32_t pid, TimeNs started) {
    const std::string id = id_of(pid, static_cast<uint64_t>(started / 10'000'000), 0x7ff1);
    table.apply("process.fork", process_data(pid, id, "", "p" + std::to_string(pid), started), started);
    return id;
  };
  auto exit = [&](const std::string& id, uint32_t pid, TimeNs at) {
    table.apply("process.exit", process_data(pid, id, "", "p", 0), at);
  };
  const std::string a = fork(10, 1 * kSecond), b = fork(11, 2 * kSecond), c = fork(12, 3 * kSecond),
                    d = fork(13, 4 * kSecond);
  exit(c, 12, 5 * kSecond);  // exits first
  exit(a, 10, 6 * kSecond);
  EXPECT_EQ(table.evictions(), 0u);

  const std::string e = fork(14, 7 * kSecond);  // one too many: c, the oldest exit, goes
  EXPECT_EQ(table.evictions(), 1u);
  EXPECT_FALSE(table.find(c));
  EXPECT_TRUE(table.find(a));
  const std::string f = fork(15, 8 * kSecond);  // then a, the other exited one
  EXPECT_FALSE(table.find(a));
  const std::string g = fork(16, 9 * kSecond);  // no exited left: b, the oldest live
  EXPECT_FALSE(table.find(b));
  EXPECT_EQ(table.evictions(), 3u);
  EXPECT_EQ(exec_ids(table.list(true)), (std::vector<std::string>{d, e, f, g}));
  EXPECT_EQ(table.size(), 4u);

  table.set_capacity(2);  // at once down to it: d and e, the oldest live
  EXPECT_EQ(table.capacity(), 2u);
  EXPECT_EQ(exec_ids(table.list()), (std::vector<std::string>{f, g}));
  EXPECT_EQ(table.evictions(), 5u);

  table.clear();
  EXPECT_EQ(table.size(), 0u);
  EXPECT_TRUE(table.list(true).empty());
}

TEST(ProcessTableThreads, ApplyAndReadAtOnce) {
  ProcessTable table(1000);
  std::thread writer([&] {
    for (uint32_t pid = 2; pid < 5000; ++pid) {
      const std::string id = id_of(pid, pid, 0x7ff1);
      table.apply("process.fork", process_data(pid, id, "", "w", pid), pid);
      table.apply("process.exit", process_data(pid, id, "", "w", pid), pid + 1);
    }
  });
  size_t reads = 0;
  while (reads < 200) {
    for (const Process& p : table.list(true)) EXPECT_EQ(p.comm, "w");
    ++reads;
  }
  writer.join();
  EXPECT_EQ(table.size(), 1000u);
  EXPECT_EQ(table.evictions(), 4998u - 1000u);
}

}  // namespace
}  // namespace adam::mon
