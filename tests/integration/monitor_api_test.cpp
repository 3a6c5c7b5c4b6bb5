// The monitor's process routes through a real adamd and its kernel
// programs: a three-level chain of shells seen with its real parents up to
// pid 1, the same exec ids and chain after an adamd restart, the table of a
// moment between two spawns, one exec id's events through the data filter,
// zombies left out of the seed, bad input named, and adamctl ps --tree /
// proc showing the process.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <thread>

#include "core/time_range.h"
#include "support/adamd.h"
#include "support/netns.h"
#include "support/proc.h"

namespace adam::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// "Z" (a zombie) and its thread count (more than 1: its leader called
// pthread_exit, the process runs), or another state.
std::pair<std::string, int> state_of(int pid) {
  const std::vector<std::string> fields = proc_stat(pid).fields;
  if (fields.size() < 18) return {"gone", 0};
  return {fields[0], std::stoi(fields[20 - 3])};
}

// `sh -c SCRIPT` in a process group of its own, killed with the group when
// the test ends however it ends.
class Spawned {
 public:
  explicit Spawned(const std::string& script) {
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    setpgid(pid_, pid_);
  }
  ~Spawned() {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
};

// The pids of a chain of single children below `top`, `depth` levels deep
// (top's child, its child, …), once they all exist.
std::vector<int> chain_below(int top, size_t depth) {
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    std::vector<int> chain;
    int at = top;
    while (chain.size() < depth) {
      const std::vector<int> kids = children_of(at);
      if (kids.size() != 1) break;
      chain.push_back(at = kids[0]);
    }
    if (chain.size() == depth) return chain;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {};
}

std::string comm_of(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

class MonitorApiTest : public AdamdTest {
 protected:
  void SetUp() override {
    if (!have_root()) GTEST_SKIP() << "needs root (BPF)";
    AdamdTest::SetUp();
  }
  // Starts the monitor; skips (visibly) when this kernel cannot run it.
  void start_monitor() {
    auto r = d().post("/api/v1/plugins/monitor/start", "{}");
    if (r.status == 503 && r.json()["error"].value("code", "") == "unsupported")
      GTEST_SKIP() << "the monitor cannot run here: " << r.body;
    ASSERT_EQ(r.status, 200) << r.body << d().log();
    ASSERT_EQ(r.json()["state"], "running") << r.body;
  }
  // What `probe` returns once it returns something, within 10 s.
  json when(const std::function<std::optional<json>()>& probe) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      if (auto found = probe()) return *found;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return nullptr;
  }
  // The live table's process of `pid` once it runs `comm`.
  json live_process(int pid, const std::string& comm) {
    return when([&]() -> std::optional<json> {
      auto r = d().get("/api/v1/monitor/processes");
      if (r.status != 200) return std::nullopt;
      const json table = r.json();  // held: the loop reads into it
      for (const auto& p : table["processes"])
        if (p["pid"] == pid && p["comm"] == comm) return p;
      return std::nullopt;
    });
  }
  // The process resource once its exec id's events are stored.
  json detail_when_stored(const std::string& exec_id) {
    return when([&]() -> std::optional<json> {
      auto r = d().get("/api/v1/monitor/processes/" + exec_id);
      if (r.status != 200 || r.json()["events"].empty()) return std::nullopt;
      return r.json();
    });
  }
  std::string adamctl(const std::string& args) {
    return capture(ADAM_BUILD_DIR "/adamctl --url " + d().url() + " --token " + d().admin_token() + " " +
                   args + " 2>&1; echo \"exit=$?\"");
  }
};

// The real chain of `pid` from /proc: its parent, grandparent, …, pid 1.
std::vector<int> proc_ancestors(int pid) {
  std::vector<int> out;
  for (int at = parent_of(pid); at > 0; at = parent_of(at)) {
    out.push_back(at);
    if (at == 1) break;
  }
  return out;
}

std::vector<int> pids(const json& processes) {
  std::vector<int> out;
  for (const auto& p : processes) out.push_back(p["pid"].get<int>());
  return out;
}

TEST_F(MonitorApiTest, AThreeLevelChainHasItsRealParentsUpToPid1AcrossARestart) {
  EXPECT_EQ(d().get("/api/v1/monitor/processes").status, 503) << "not running yet";
  start_monitor();
  // `; true` keeps each shell from exec'ing its last command in place.
  Spawned top("sh -c 'sleep 30; true'; true");
  const std::vector<int> chain = chain_below(top.pid(), 2);
  ASSERT_EQ(chain.size(), 2u) << "sh -> sh -> sleep did not appear";
  const int sleep_pid = chain[1];
  // The inner shell's child is still "sh" between its fork and its exec.
  ASSERT_EQ(when([&]() -> std::optional<json> {
              if (comm_of(sleep_pid) == "sleep") return true;
              return std::nullopt;
            }),
            true)
      << "pid " << sleep_pid << " never ran sleep: " << comm_of(sleep_pid);

  const json sleep = live_process(sleep_pid, "sleep");
  ASSERT_TRUE(sleep.is_object()) << "sleep never reached the table";
  const std::string exec_id = sleep["exec_id"];
  const std::vector<int> expected = proc_ancestors(sleep_pid);
  ASSERT_GE(expected.size(), 4u);  // sh, sh, this test, …, 1
  EXPECT_EQ(expected[0], chain[0]);
  EXPECT_EQ(expected[1], top.pid());
  EXPECT_EQ(expected[2], getpid());

  const json detail = detail_when_stored(exec_id);
  ASSERT_TRUE(detail.is_object());
  EXPECT_EQ(detail["process"]["exec_id"], exec_id);
  EXPECT_EQ(detail["process"]["args"], json({"sleep", "30"}));
  EXPECT_EQ(pids(detail["ancestors"]), expected) << detail["ancestors"].dump();
  EXPECT_EQ(detail["ancestors"].back()["pid"], 1);
  EXPECT_EQ(detail["ancestors"][0]["comm"], "sh");
  EXPECT_EQ(detail["ancestors"][1]["comm"], "sh");
  EXPECT_EQ(detail["process"]["parent_exec_id"], detail["ancestors"][0]["exec_id"]);
  bool exec_event = false;
  for (const auto& e : detail["events"]) exec_event |= e["kind"] == "process.exec";
  EXPECT_TRUE(exec_event) << detail["events"].dump();
  // The middle shell's children are the sleep.
  const json middle =
      d().get("/api/v1/monitor/processes/" + detail["ancestors"][0]["exec_id"].get<std::string>()).json();
  ASSERT_EQ(middle["children"].size(), 1u) << middle.dump();
  EXPECT_EQ(middle["children"][0]["exec_id"], exec_id);

  // adamd restarts (and the monitor with it, its desired state): the same
  // exec ids, now seeded from /proc, the same chain.
  ASSERT_EQ(d().stop(), 0);
  d().start();
  const json again = live_process(sleep_pid, "sleep");
  ASSERT_TRUE(again.is_object()) << "sleep is not in the table after the restart\n" << d().log();
  EXPECT_EQ(again["exec_id"], exec_id);
  EXPECT_TRUE(again["seeded"].get<bool>());
  const json after = d().get("/api/v1/monitor/processes/" + exec_id).json();
  EXPECT_EQ(pids(after["ancestors"]), expected) << after.dump();
  for (size_t i = 0; i < after["ancestors"].size() && i < detail["ancestors"].size(); ++i)
    EXPECT_EQ(after["ancestors"][i]["exec_id"], detail["ancestors"][i]["exec_id"]) << i;
}

TEST_F(MonitorApiTest, ThePastHasWhatRanThenAndNotWhatStartedLater) {
  start_monitor();
  auto first = std::make_unique<Spawned>("exec sleep 31");
  const json before = live_process(first->pid(), "sleep");
  ASSERT_TRUE(before.is_object());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the store's batch window, and a gap
  const TimeNs between = now_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Spawned second("exec sleep 32");
  const json later = live_process(second.pid(), "sleep");
  ASSERT_TRUE(later.is_object());
  first.reset();  // exits (killed) after the moment

  const std::string at = "/api/v1/monitor/processes?at=" + format_rfc3339(between);
  const json past = when([&]() -> std::optional<json> {
    auto r = d().get(at);
    if (r.status != 200) return std::nullopt;
    return r.json();
  });
  ASSERT_TRUE(past.is_object()) << d().get(at).body;
  std::set<std::string> ids;
  for (const auto& p : past["processes"]) ids.insert(p["exec_id"].get<std::string>());
  EXPECT_TRUE(ids.count(before["exec_id"])) << "the first sleep ran then (and has exited since)";
  EXPECT_FALSE(ids.count(later["exec_id"])) << "the second one started after";
  EXPECT_GT(past["count"].get<size_t>(), 10u) << "the whole table of that moment";
  EXPECT_LE(past["snapshot"]["ts"].get<TimeNs>(), between);
  EXPECT_EQ(past["at"], between);

  // The data filter: one exec id's events, and only its.
  const std::string exec_id = before["exec_id"];
  const json events = when([&]() -> std::optional<json> {
    json e = d().get("/api/v1/events?data.exec_id=" + exec_id).json()["events"];
    for (const auto& ev : e)
      if (ev["kind"] == "process.exit") return e;
    return std::nullopt;
  });
  ASSERT_TRUE(events.is_array()) << "no process.exit of the killed sleep";
  std::set<std::string> kinds;
  for (const auto& e : events) {
    EXPECT_EQ(e["data"]["exec_id"], exec_id) << e.dump();
    kinds.insert(e["kind"].get<std::string>());
    if (e["kind"] == "process.exit") {
      EXPECT_EQ(e["data"]["signal"], SIGKILL) << e.dump();
    }
  }
  EXPECT_TRUE(kinds.count("process.exec")) << events.dump();
  // The monitor's events link to their process and its exec id's events.
  EXPECT_EQ(events[0]["links"]["process"], "/api/v1/monitor/processes/" + exec_id);
  EXPECT_EQ(events[0]["links"]["exec id events"], "/api/v1/events?data.exec_id=" + exec_id);
}

// Processes that exited before the monitor started but are not reaped yet
// (zombies: a killed child whose parent has not waited) are not seeded as
// live, or no exit would ever end them; a process whose leader called
// pthread_exit is a zombie leader with a thread that runs, and is live.
TEST_F(MonitorApiTest, AZombieIsNotLiveButALeaderWithThreadsLeftIs) {
  // The background sleep ends at once; its parent then execs a sleep that
  // never waits for it.
  Spawned parent("sleep 0 & exec sleep 34");
  Spawned leaderless(
      "exec python3 -c 'import threading, time, ctypes; "
      "threading.Thread(target=time.sleep, args=(34,)).start(); ctypes.CDLL(None).pthread_exit(None)'");
  const json ready = when([&]() -> std::optional<json> {
    const std::vector<int> kids = children_of(parent.pid());
    if (comm_of(parent.pid()) != "sleep" || kids.size() != 1 || state_of(kids[0]).first != "Z" ||
        state_of(leaderless.pid()) != std::pair<std::string, int>("Z", 2))
      return std::nullopt;
    return kids[0];
  });
  ASSERT_TRUE(ready.is_number()) << "no zombie child of the sleep, or the python leader is not a zombie "
                                    "with its thread";
  const int zombie = ready.get<int>();

  start_monitor();
  EXPECT_TRUE(live_process(leaderless.pid(), "python3").is_object())
      << "the process whose leader left runs on in its thread";
  EXPECT_TRUE(live_process(parent.pid(), "sleep").is_object());
  const json table = d().get("/api/v1/monitor/processes").json();
  for (const auto& p : table["processes"]) EXPECT_NE(p["pid"], zombie) << "a zombie is live: " << p.dump();
  ASSERT_EQ(state_of(zombie).first, "Z") << "still unreaped while the monitor read /proc";
}

TEST_F(MonitorApiTest, BadInputIsNamedAndChangesNothing) {
  expect_api_error(d().post("/api/v1/plugins/monitor/start", R"({"nosuch": 1})"), 400, "bad_request",
                   "nosuch");
  EXPECT_NE(d().get("/api/v1/plugins/monitor").json()["state"], "running");
  start_monitor();
  expect_api_error(d().get("/api/v1/monitor/processes?at=yesterday"), 400, "bad_request", "at");
  expect_api_error(d().get("/api/v1/monitor/processes?at=1"), 422, "no_snapshot", "at");
  expect_api_error(d().get("/api/v1/monitor/processes?exited=2"), 400, "bad_request", "exited");
  expect_api_error(d().get("/api/v1/monitor/processes/not-an-exec-id"), 400, "bad_request", "exec_id");
  expect_api_error(d().get("/api/v1/monitor/processes/0badcafe-1-2-3"), 404, "not_found");
  expect_api_error(d().get("/api/v1/events?data.exec-id=x"), 400, "bad_request", "data.exec-id");
  EXPECT_EQ(d().get("/api/v1/monitor/processes?exited=1").status, 200);
  EXPECT_EQ(d().get("/api/v1/plugins/monitor").json()["state"], "running");
}

TEST_F(MonitorApiTest, AdamctlPsTreeAndProcShowTheProcess) {
  start_monitor();
  Spawned top("sh -c 'sleep 33; true'; true");
  const std::vector<int> chain = chain_below(top.pid(), 2);
  ASSERT_EQ(chain.size(), 2u);
  const json sleep = live_process(chain[1], "sleep");
  ASSERT_TRUE(sleep.is_object());
  const std::string exec_id = sleep["exec_id"];
  const json middle = live_process(chain[0], "sh");
  ASSERT_TRUE(middle.is_object());

  const std::string tree = adamctl("ps --tree");
  EXPECT_NE(tree.find("exit=0"), std::string::npos) << tree;
  // The sleep's line sits right under its shell's, one level deeper.
  std::istringstream lines(tree);
  std::string line, shell_line, sleep_line, previous;
  while (std::getline(lines, line)) {
    if (line.find(exec_id) != std::string::npos) {
      sleep_line = line;
      shell_line = previous;
    }
    previous = line;
  }
  ASSERT_FALSE(sleep_line.empty()) << tree.substr(0, 4000);
  EXPECT_NE(shell_line.find(middle["exec_id"].get<std::string>()), std::string::npos) << shell_line;
  EXPECT_GT(sleep_line.find("\\_ sleep"), shell_line.find("\\_ sh")) << shell_line << "\n" << sleep_line;
  EXPECT_NE(sleep_line.find("sleep 33"), std::string::npos) << sleep_line;

  ASSERT_TRUE(detail_when_stored(exec_id).is_object());
  const std::string proc = adamctl("proc " + exec_id);
  EXPECT_NE(proc.find("exit=0"), std::string::npos) << proc;
  EXPECT_NE(proc.find(middle["exec_id"].get<std::string>()), std::string::npos) << proc;
  EXPECT_NE(proc.find("process.exec"), std::string::npos) << proc;
  const size_t ancestors = proc.find("ancestors");
  ASSERT_NE(ancestors, std::string::npos) << proc;
  EXPECT_GT(proc.find(middle["exec_id"].get<std::string>()), ancestors);

  // adamctl events --data: that exec id's events only.
  const std::string events = adamctl("events --data exec_id=" + exec_id);
  EXPECT_NE(events.find("exit=0"), std::string::npos) << events;
  std::istringstream event_lines(events);
  int event_rows = 0;
  while (std::getline(event_lines, line)) {
    if (line.find("monitor") == std::string::npos) continue;
    ++event_rows;
    EXPECT_NE(line.find("\"exec_id\":\"" + exec_id + "\""), std::string::npos) << line;
  }
  EXPECT_GE(event_rows, 1) << events;

  const std::string bad = adamctl("proc nonsense");
  EXPECT_EQ(bad.find("exit=0"), std::string::npos) << bad;
  EXPECT_NE(bad.find("exec_id"), std::string::npos) << bad;
}

}  // namespace
}  // namespace adam::test
