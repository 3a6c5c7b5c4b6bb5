// The process monitor in the kernel: the plugin runs in this process with an
// event hub and a store of its own (as adamd runs it), while the test
// spawns known processes and reads their events back from the store, field
// by field. The test process stands for adamd, so ignore_self is off
// except where a test says otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/errors.h"
#include "core/event_hub.h"
#include "core/kernel.h"
#include "core/plugin.h"
#include "core/xdp_chain.h"
#include "plugins/monitor/monitor_plugin.h"
#include "plugins/monitor/proc_scan.h"
#include "plugins/monitor/process.h"
#include "support/event_store_fixture.h"
#include "support/netns.h"
#include "support/proc.h"
#include "support/sanitizers.h"

extern char** environ;

namespace adam::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

const KernelFeatures& features() {
  static const KernelFeatures probed = [] {
    ensure_kernel_filesystems();
    return probe_kernel_features();
  }();
  return probed;
}

// A child process of the test, killed and reaped if the test ends first.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], nullptr, nullptr, args.data(), environ) != 0) pid_ = -1;
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  pid_t pid() const { return pid_; }
  int wait() {
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, 0) == pid_) pid_ = -pid_;
    return status;
  }

 private:
  pid_t pid_ = -1;
};

// Runs argv to its end; returns the pid it had.
pid_t run(const std::vector<std::string>& argv) {
  Child child(argv);
  EXPECT_GT(child.pid(), 0) << argv[0];
  const pid_t pid = child.pid();
  child.wait();
  return pid;
}

// This process's exec id, from /proc like the plugin's seed.
std::string own_exec_id() {
  const std::vector<std::string> f = proc_stat(::getpid()).fields;
  return mon::format_exec_id({mon::BootClock::read().boot, static_cast<uint32_t>(::getpid()),
                              std::stoull(f[22 - 3]), std::stoull(f[28 - 3])});
}

class MonitorEventsTest : public EventStoreTest {
 protected:
  void SetUp() override {
    if (!have_root()) GTEST_SKIP() << "needs root (loads BPF programs)";
    if (!features().has("ringbuf") || (!features().has("tp_btf") && !features().has("raw_tp")))
      GTEST_SKIP() << "the kernel lacks ring buffers or raw tracepoints: " << features().detail("raw_tp");
    EventStoreTest::SetUp();
    char tmpl[] = "/tmp/adamt-mon-XXXXXX";
    work_ = ::mkdtemp(tmpl);
    fs::create_directories(watched());
    fs::create_directories(work_ + "/other");
    pins_ = std::make_unique<PinDir>();
    chain_ = std::make_unique<XdpChain>(pins_->path());
    hub_ = std::make_unique<EventHub>(*store_);
    use_features(features());
  }
  void TearDown() override {
    monitor_.reset();
    hub_.reset();
    chain_.reset();
    pins_.reset();
    if (!work_.empty()) fs::remove_all(work_);
    EventStoreTest::TearDown();
  }
  void use_features(const KernelFeatures& f) {
    monitor_.reset();
    features_ = f;
    ctx_ = std::make_unique<PluginContext>(
        PluginContext{pins_->path(), *chain_, features_, nullptr, hub_.get()});
    monitor_ = std::make_unique<MonitorPlugin>(*ctx_);
  }
  std::string watched() const { return work_ + "/watched/"; }

  // Starts the monitor with the test's defaults and `config` over them.
  void start(json config = json::object()) {
    json c = {{"ignore_self", false}, {"path_prefixes", {watched()}}};
    c.update(config);
    monitor_->validate(c);
    monitor_->start(c);
    since_ = now_ns() - 1'000'000'000;
  }

  // The stored events of `kind` whose data matches `match`, oldest first;
  // waits up to 5 s for at least `want` of them (events come through the
  // ring buffer and the writer's batches).
  std::vector<json> events(const std::string& kind, const std::function<bool(const json&)>& match,
                           size_t want = 1) {
    std::vector<json> found;
    for (auto deadline = std::chrono::steady_clock::now() + scaled(5s);
         std::chrono::steady_clock::now() < deadline;) {
      hub_->flush();
      found.clear();
      std::optional<EventCursor> cursor;
      for (;;) {
        EventPage page = store_->query({.since = since_, .kinds = {kind}}, cursor, 10'000);
        for (const Event& e : page.events) {
          json d = json::parse(e.data);
          if (match(d)) found.insert(found.begin(), d);
        }
        if (!page.next) break;
        cursor = page.next;
      }
      if (found.size() >= want) break;
      std::this_thread::sleep_for(50ms);
    }
    return found;
  }
  std::vector<json> of_pid(const std::string& kind, pid_t pid, size_t want = 1) {
    return events(
        kind, [pid](const json& d) { return d["pid"] == pid; }, want);
  }
  // Every process.exit of `pid`: once the first is there, after a moment
  // for any more.
  std::vector<json> every_exit(pid_t pid) {
    of_pid("process.exit", pid);
    settle();
    return of_pid("process.exit", pid, 0);
  }
  // Waits a moment for events that must not come.
  void settle() {
    std::this_thread::sleep_for(300ms);
    hub_->flush();
  }

  std::string work_;
  std::unique_ptr<PinDir> pins_;
  std::unique_ptr<XdpChain> chain_;
  std::unique_ptr<EventHub> hub_;
  KernelFeatures features_;
  std::unique_ptr<PluginContext> ctx_;
  std::unique_ptr<MonitorPlugin> monitor_;
  TimeNs since_ = 0;
};

TEST_F(MonitorEventsTest, ExecRecordsArgvWithSpacesAndNonAsciiAndItsParent) {
  start();
  EXPECT_EQ(monitor_->stats()["hooks"], features().has("tp_btf") ? "tp_btf" : "raw_tp");
  const pid_t pid = run({"/bin/echo", "a b", "ünï cödé", ""});
  const auto execs = of_pid("process.exec", pid);
  ASSERT_EQ(execs.size(), 1u);
  const json& e = execs[0];
  EXPECT_EQ(e["filename"], "/bin/echo");
  EXPECT_EQ(e["args"], json::array({"/bin/echo", "a b", "ünï cödé", ""}));
  EXPECT_EQ(e["args_truncated"], false);
  EXPECT_EQ(e["comm"], "echo");
  EXPECT_EQ(e["tid"], pid);
  EXPECT_EQ(e["ppid"], ::getpid());
  EXPECT_EQ(e["uid"], ::getuid());
  EXPECT_EQ(e["gid"], ::getgid());
  EXPECT_EQ(e["parent_exec_id"], own_exec_id());
  const auto id = mon::parse_exec_id(e["exec_id"].get<std::string>());
  ASSERT_TRUE(id) << e;
  EXPECT_EQ(id->tgid, static_cast<uint32_t>(pid));
  EXPECT_EQ(id->boot, mon::BootClock::read().boot);
  EXPECT_NEAR(e["started"].get<double>(), static_cast<double>(now_ns()), 5e9);
  EXPECT_GT(e["cgroup_id"].get<uint64_t>(), 0u);
  // The exit names the same exec id.
  const auto exits = of_pid("process.exit", pid);
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0]["exec_id"], e["exec_id"]);
  EXPECT_EQ(exits[0]["exit_code"], 0);
  EXPECT_GT(exits[0]["lifetime_ns"].get<int64_t>(), 0);
}

TEST_F(MonitorEventsTest, ATenKilobyteArgvIsCutAtArgsMaxAndMarked) {
  start({{"args_max", 4096}});
  const pid_t pid = run({"/bin/true", std::string(10'000, 'x'), "after"});
  const auto execs = of_pid("process.exec", pid);
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0]["args_truncated"], true);
  const auto args = execs[0]["args"].get<std::vector<std::string>>();
  ASSERT_EQ(args.size(), 2u);  // "/bin/true" and the cut x's; "after" is beyond
  EXPECT_EQ(args[0], "/bin/true");
  EXPECT_EQ(args[1], std::string(4096 - 10, 'x'));
}

TEST_F(MonitorEventsTest, ExitCodeSevenAndDeathBySigkill) {
  start();
  const pid_t seven = run({"/bin/sh", "-c", "exit 7"});
  Child sleeper({"/bin/sleep", "30"});
  ASSERT_EQ(of_pid("process.exec", sleeper.pid()).size(), 1u);
  ::kill(sleeper.pid(), SIGKILL);
  const pid_t killed = sleeper.pid();
  sleeper.wait();

  const auto exit7 = of_pid("process.exit", seven);
  ASSERT_EQ(exit7.size(), 1u);
  EXPECT_EQ(exit7[0]["exit_code"], 7);
  EXPECT_FALSE(exit7[0].contains("signal"));
  const auto exit9 = of_pid("process.exit", killed);
  ASSERT_EQ(exit9.size(), 1u);
  EXPECT_EQ(exit9[0]["signal"], SIGKILL);
  EXPECT_EQ(exit9[0]["signal_name"], "SIGKILL");
  EXPECT_EQ(exit9[0]["core_dumped"], false);
  EXPECT_FALSE(exit9[0].contains("exit_code"));
}

// sh → sh → true, each a fork and an exec (the "; :" keeps sh from exec'ing
// its last command in place): the exec ids and parent exec ids link up to
// this process, and each fork names its parent's exec id.
TEST_F(MonitorEventsTest, AThreeLevelChainLinksUp) {
  start();
  const pid_t top = run({"/bin/sh", "-c", "/bin/sh -c '/bin/true level3; :' level2; :"});
  const auto top_exec = of_pid("process.exec", top);
  ASSERT_EQ(top_exec.size(), 1u);
  auto child_exec = [&](const json& parent) {
    auto found =
        events("process.exec", [&](const json& d) { return d["parent_exec_id"] == parent["exec_id"]; });
    return found.size() == 1 ? found[0] : json();
  };
  const json middle = child_exec(top_exec[0]);
  ASSERT_FALSE(middle.is_null());
  EXPECT_EQ(middle["args"].back(), "level2");
  EXPECT_EQ(middle["ppid"], top);
  const json leaf = child_exec(middle);
  ASSERT_FALSE(leaf.is_null());
  EXPECT_EQ(leaf["filename"], "/bin/true");
  EXPECT_EQ(leaf["args"], json::array({"/bin/true", "level3"}));
  EXPECT_EQ(top_exec[0]["parent_exec_id"], own_exec_id());
  // The fork of the middle one: the child, before its exec, its parent the top sh.
  const auto forks = of_pid("process.fork", middle["pid"].get<pid_t>());
  ASSERT_EQ(forks.size(), 1u);
  EXPECT_EQ(forks[0]["parent_exec_id"], top_exec[0]["exec_id"]);
  EXPECT_NE(forks[0]["exec_id"], middle["exec_id"]);  // the exec is a new image
  EXPECT_EQ(mon::parse_exec_id(forks[0]["exec_id"].get<std::string>())->start_ticks,
            mon::parse_exec_id(middle["exec_id"].get<std::string>())->start_ticks);
}

TEST_F(MonitorEventsTest, AForkWithoutExecIsAProcessOfItsOwn) {
  start();
  const pid_t parent = run(
      {"/usr/bin/python3", "-c", "import os\npid = os.fork()\nif pid == 0: os._exit(3)\nos.waitpid(pid, 0)"});
  const auto parent_exec = of_pid("process.exec", parent);
  ASSERT_EQ(parent_exec.size(), 1u);
  const auto forks = events("process.fork", [&](const json& d) { return d["ppid"] == parent; });
  ASSERT_EQ(forks.size(), 1u);
  const json& fork = forks[0];
  EXPECT_EQ(fork["parent_exec_id"], parent_exec[0]["exec_id"]);
  const pid_t child = fork["pid"].get<pid_t>();
  EXPECT_EQ(fork["tid"], child);
  // The same image: the parent's tag, the child's own pid and start.
  EXPECT_EQ(mon::parse_exec_id(fork["exec_id"].get<std::string>())->tag,
            mon::parse_exec_id(parent_exec[0]["exec_id"].get<std::string>())->tag);
  const auto exits = of_pid("process.exit", child);
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0]["exec_id"], fork["exec_id"]);
  EXPECT_EQ(exits[0]["parent_exec_id"], parent_exec[0]["exec_id"]);
  EXPECT_EQ(exits[0]["exit_code"], 3);
  settle();
  EXPECT_TRUE(of_pid("process.exec", child, 0).empty());
}

// Eight threads come and go, then the leader exits: one process.exit, from
// the last thread, and no fork for a thread.
TEST_F(MonitorEventsTest, AMultiThreadedProcessExitsOnceFromItsLastThread) {
  start();
  const pid_t pid = run({"/usr/bin/python3", "-c",
                         "import threading, time, os\n"
                         "ts = [threading.Thread(target=time.sleep, args=(0.05,)) for _ in range(8)]\n"
                         "[t.start() for t in ts]\n[t.join() for t in ts]\n"
                         "time.sleep(0.1)\nos._exit(5)"});
  const auto all_exits = every_exit(pid);
  ASSERT_EQ(all_exits.size(), 1u) << "one exit for the process, not one per thread";
  EXPECT_EQ(all_exits[0]["exit_code"], 5);
  EXPECT_EQ(all_exits[0]["tid"], pid);
  EXPECT_TRUE(events(
                  "process.fork", [&](const json& d) { return d["ppid"] == pid; }, 0)
                  .empty());
}

// The other way round: the leader leaves first (pthread_exit), a thread
// ends the process; it still exits once, with that thread's code.
TEST_F(MonitorEventsTest, ALeaderThatLeavesFirstStillExitsOnce) {
  start();
  const pid_t pid = run({"/usr/bin/python3", "-c",
                         "import threading, time, os, ctypes\n"
                         "def last(): time.sleep(0.2); os._exit(6)\n"
                         "threading.Thread(target=last).start()\n"
                         "ctypes.CDLL(None).pthread_exit(None)"});
  const auto all_exits = every_exit(pid);
  ASSERT_EQ(all_exits.size(), 1u);
  EXPECT_EQ(all_exits[0]["exit_code"], 6);
  EXPECT_NE(all_exits[0]["tid"], pid);
}

// A listener in namespace b, clients in namespace a: a connect that is
// accepted and one to a closed port, over IPv4 and IPv6.
TEST_F(MonitorEventsTest, ConnectsToAListenerAndToAClosedPortOverIpv4AndIpv6) {
  NetnsPair pair;
  Child listener({"/usr/sbin/ip", "netns", "exec", pair.b(), "/usr/bin/python3", "-c",
                  "import socket, time\n"
                  "s4 = socket.socket(); s4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                  "s4.bind(('198.51.100.2', 8080)); s4.listen()\n"
                  "s6 = socket.socket(socket.AF_INET6); s6.bind(('2001:db8:100::2', 8080)); s6.listen()\n"
                  "time.sleep(60)"});
  start({{"kinds", {"net.connect"}}});
  const std::string client =
      "import socket, sys\n"
      "fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET\n"
      "for i in range(50):\n"
      "  s = socket.socket(fam)\n"
      "  r = s.connect_ex((sys.argv[1], int(sys.argv[2])))\n"
      "  if r == 0 or sys.argv[2] != '8080': break\n"
      "  import time; time.sleep(0.1)\n"  // the listener is not up yet
      "sys.exit(0 if (r == 0) == (sys.argv[2] == '8080') else 1)";
  for (const std::string addr : {"198.51.100.2", "2001:db8:100::2"}) {
    SCOPED_TRACE(addr);
    const pid_t ok =
        run({"/usr/sbin/ip", "netns", "exec", pair.a(), "/usr/bin/python3", "-c", client, addr, "8080"});
    const pid_t refused =
        run({"/usr/sbin/ip", "netns", "exec", pair.a(), "/usr/bin/python3", "-c", client, addr, "8081"});
    const auto accepted =
        events("net.connect", [&](const json& d) { return d["pid"] == ok && d["result"] == 0; });
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_EQ(accepted[0]["family"], addr.find(':') == std::string::npos ? "ipv4" : "ipv6");
    EXPECT_EQ(accepted[0]["daddr"], addr);
    EXPECT_EQ(accepted[0]["dport"], 8080);
    EXPECT_EQ(accepted[0]["protocol"], "tcp");
    EXPECT_EQ(accepted[0]["comm"], "python3");
    EXPECT_FALSE(accepted[0].contains("error"));
    const auto closed = of_pid("net.connect", refused);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0]["daddr"], addr);
    EXPECT_EQ(closed[0]["dport"], 8081);
    EXPECT_EQ(closed[0]["result"], -ECONNREFUSED);
    EXPECT_EQ(closed[0]["error"], "ECONNREFUSED");
  }
  // Only net.connect was asked for.
  EXPECT_TRUE(events(
                  "process.exec", [](const json&) { return true; }, 0)
                  .empty());
}

TEST_F(MonitorEventsTest, OnlyOpensUnderAWatchedPrefixAreRecorded) {
  start();
  const std::string inside = watched() + "secret.txt", outside = work_ + "/other/plain.txt";
  const pid_t pid =
      run({"/bin/sh", "-c",
           "echo x > " + inside + "; echo y > " + outside + "; cat " + watched() + "missing 2>/dev/null; :"});
  const auto opens = events(
      "file.open", [&](const json& d) { return d["ppid"] == pid || d["pid"] == pid; }, 2);
  ASSERT_EQ(opens.size(), 2u) << json(opens).dump(1);
  EXPECT_EQ(opens[0]["pid"], pid);
  EXPECT_EQ(opens[0]["path"], inside);
  EXPECT_EQ(opens[0]["flags_text"], "O_WRONLY|O_CREAT|O_TRUNC");
  EXPECT_GE(opens[0]["result"].get<int>(), 0);
  EXPECT_EQ(opens[1]["path"], watched() + "missing");
  EXPECT_EQ(opens[1]["comm"], "cat");
  EXPECT_EQ(opens[1]["result"], -ENOENT);
  EXPECT_EQ(opens[1]["error"], "ENOENT");
  settle();
  EXPECT_TRUE(events(
                  "file.open", [&](const json& d) { return d["path"] == outside; }, 0)
                  .empty());
}

// For prefixes of several lengths, what the kernel's trie records is
// exactly what a plain starts_with over the prefixes says, for paths
// shorter than a prefix, equal to one, relative, and ending where their
// memory does (a read past the NUL would fault there).
TEST_F(MonitorEventsTest, PrefixesOfEveryLengthRecordWhatStartsWithSays) {
  const long page = ::sysconf(_SC_PAGESIZE);
  void* pages = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(pages, MAP_FAILED);
  ASSERT_EQ(::mprotect(static_cast<char*>(pages) + page, page, PROT_NONE), 0);
  struct Unmap {
    void* at;
    size_t len;
    ~Unmap() { ::munmap(at, len); }
  } unmap{pages, static_cast<size_t>(2 * page)};
  // Opens `path` from where its NUL is the mapping's last byte.
  auto open_at_page_end = [&](const std::string& path) {
    char* at = static_cast<char*>(pages) + page - (path.size() + 1);
    std::memcpy(at, path.c_str(), path.size() + 1);
    if (int fd = ::open(at, O_RDONLY); fd >= 0) ::close(fd);
  };

  const std::vector<std::vector<std::string>> configs = {
      {"/tmp/"}, {watched(), "/adamt-nonexistent/"}, {"/t", "/usr/share/adamt-none/"}};
  const std::vector<std::string> paths = {"/tmp/x",
                                          "/tmp",
                                          "/tmq/x",
                                          "/tmp/",
                                          "tmp/x",
                                          "/t",
                                          watched() + "f",
                                          watched(),
                                          work_ + "/other/f",
                                          "/usr/share/adamt-none/x",
                                          "/adamt-nonexistent"};
  const std::set<std::string> at_page_end = {"/tmp/x", "/t", "/tmp"};
  for (const auto& prefixes : configs) {
    SCOPED_TRACE(json(prefixes).dump());
    start({{"kinds", {"file.open"}}, {"path_prefixes", prefixes}});
    since_ = now_ns();
    std::set<std::string> expected;
    for (const std::string& path : paths) {
      if (at_page_end.count(path))
        open_at_page_end(path);
      else if (int fd = ::open(path.c_str(), O_RDONLY); fd >= 0)
        ::close(fd);
      for (const std::string& prefix : prefixes)
        if (path.rfind(prefix, 0) == 0) expected.insert(path);
    }
    const std::set<std::string> wanted(paths.begin(), paths.end());
    auto mine = [&](const json& d) { return d["pid"] == ::getpid() && wanted.count(d["path"]); };
    events("file.open", mine, expected.size());
    settle();
    std::set<std::string> recorded;
    for (const json& d : events("file.open", mine, 0)) recorded.insert(d["path"].get<std::string>());
    EXPECT_EQ(recorded, expected);
    monitor_->stop();
  }
}

// A process older than the monitor: /proc gives it the exec id the kernel
// then reports for it, and its real parent.
TEST_F(MonitorEventsTest, AProcessOlderThanTheMonitorKeepsItsExecIdAndParent) {
  Child old({"/bin/sleep", "30"});
  std::this_thread::sleep_for(100ms);  // exec'd
  start();
  const auto seen = of_pid("process.seen", old.pid());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0]["seeded"], true);
  EXPECT_EQ(seen[0]["comm"], "sleep");
  EXPECT_EQ(seen[0]["filename"], "/usr/bin/sleep");
  EXPECT_EQ(seen[0]["args"], json::array({"/bin/sleep", "30"}));
  EXPECT_EQ(seen[0]["ppid"], ::getpid());
  EXPECT_EQ(seen[0]["parent_exec_id"], own_exec_id());
  // Its ancestors were seen too, up to pid 1.
  json at = seen[0];
  for (int depth = 0; at["pid"] != 1 && depth < 64; ++depth) {
    const std::string parent = at["parent_exec_id"];
    ASSERT_FALSE(parent.empty()) << at;
    const auto up = events("process.seen", [&](const json& d) { return d["exec_id"] == parent; });
    ASSERT_EQ(up.size(), 1u) << parent;
    at = up[0];
  }
  EXPECT_EQ(at["pid"], 1);
  const auto snapshots = events("process.snapshot", [](const json& d) { return d["reason"] == "start"; });
  ASSERT_EQ(snapshots.size(), 1u);
  EXPECT_GT(snapshots[0]["processes"].get<int>(), 2);

  ::kill(old.pid(), SIGKILL);
  const pid_t pid = old.pid();
  old.wait();
  const auto exits = of_pid("process.exit", pid);
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0]["exec_id"], seen[0]["exec_id"]);
  EXPECT_EQ(exits[0]["parent_exec_id"], seen[0]["parent_exec_id"]);
  EXPECT_EQ(exits[0]["signal_name"], "SIGKILL");
}

// A 4 KiB ring buffer and a storm of watched opens: the kernel counts what
// it could not emit, and the store has an events.lost marker for it whose
// counts add up to the counter's increase.
TEST_F(MonitorEventsTest, AForcedLossLeavesEventsLostMarkersThatAddUp) {
  start({{"ring_buffer_kb", 4}, {"kinds", {"file.open"}}});
  const uint64_t lost_before = monitor_->stats()["lost"];
  run({"/usr/bin/python3", "-c",
       "import os\nfor i in range(20000): os.close(os.open('" + watched() +
           "f', os.O_CREAT | os.O_RDONLY))"});
  const uint64_t lost = monitor_->stats()["lost"].get<uint64_t>() - lost_before;
  monitor_->stop();  // the registration's last read of the counter
  hub_->flush();
  EXPECT_GT(lost, 0u);
  const int64_t counted = hub_->counters()["monitor"].lost[LossReason::kernel];
  EXPECT_EQ(counted, static_cast<int64_t>(lost));
  // The writer marks losses it finds once a second, even when idle.
  int64_t marked = 0;
  for (auto deadline = std::chrono::steady_clock::now() + scaled(5s);
       marked != counted && std::chrono::steady_clock::now() < deadline;) {
    marked = 0;
    for (const json& m : events("events.lost", [](const json& d) {
           return d["plugin"] == "monitor" && d["reason"] == "kernel";
         }))
      marked += m["count"].get<int64_t>();
    if (marked != counted) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(marked, counted);
  const auto stored = events(
      "file.open", [](const json&) { return true; }, 1);
  EXPECT_GT(stored.size(), 0u);
  EXPECT_EQ(stored.size() + lost, 20000u) << "every open is stored or counted lost";
  std::cout << json{{"opens", 20000}, {"stored", stored.size()}, {"lost", lost}, {"markers_count", marked}}
            << "\n";
}

TEST_F(MonitorEventsTest, UidAndCommFiltersAndKindsOffRecordNothingTheyExclude) {
  start({{"uids", {65534}}});
  const pid_t root_run = run({"/bin/true", "as-root"});
  const pid_t nobody_run =
      run({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/true", "as-nobody"});
  const auto nobody = events("process.exec", [](const json& d) { return d["args"].back() == "as-nobody"; });
  ASSERT_EQ(nobody.size(), 1u);
  EXPECT_EQ(nobody[0]["uid"], 65534);
  EXPECT_EQ(nobody[0]["pid"], nobody_run);
  EXPECT_TRUE(of_pid("process.exec", root_run, 0).empty());
  EXPECT_TRUE(of_pid("process.exit", root_run, 0).empty());
  monitor_->stop();

  start({{"comms", {"true"}}});
  const pid_t sh = run({"/bin/sh", "-c", "/bin/true by-comm; :"});
  const auto by_comm = events("process.exec", [](const json& d) { return d["args"].back() == "by-comm"; });
  ASSERT_EQ(by_comm.size(), 1u);
  EXPECT_EQ(by_comm[0]["comm"], "true");
  settle();
  EXPECT_TRUE(of_pid("process.exec", sh, 0).empty());
  monitor_->stop();

  start({{"kinds", {"process.exit"}}});
  const pid_t only_exit = run({"/bin/sh", "-c", "exit 4"});
  const auto exits = of_pid("process.exit", only_exit);
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0]["exit_code"], 4);
  settle();
  EXPECT_TRUE(of_pid("process.exec", only_exit, 0).empty());
  EXPECT_TRUE(of_pid("process.fork", only_exit, 0).empty());
}

TEST_F(MonitorEventsTest, IgnoreSelfLeavesOutAdamdAndItsChildren) {
  start({{"ignore_self", true}});
  const pid_t child = run({"/bin/sh", "-c", "/bin/true grandchild; exit 2"});
  const auto grandchild =
      events("process.exec", [](const json& d) { return d["args"].back() == "grandchild"; });
  ASSERT_EQ(grandchild.size(), 1u) << "a grandchild of adamd is not adamd's own";
  EXPECT_EQ(grandchild[0]["ppid"], child);
  EXPECT_TRUE(of_pid("process.exec", child, 0).empty());
  EXPECT_TRUE(of_pid("process.exit", child, 0).empty());
}

// A kernel without tp_btf: the raw_tp twins load and report the same.
TEST_F(MonitorEventsTest, TheRawTracepointFallbackRecordsTheSame) {
  KernelFeatures f = features();
  if (!f.has("raw_tp")) GTEST_SKIP() << "raw_tp: " << f.detail("raw_tp");
  f.features["tp_btf"] = {false, "turned off by the test"};
  use_features(f);
  start();
  EXPECT_EQ(monitor_->stats()["hooks"], "raw_tp");
  EXPECT_EQ(monitor_->summary().rfind("raw_tp; ", 0), 0u) << monitor_->summary();
  const pid_t pid = run({"/bin/sh", "-c", "exit 9"});
  const auto execs = of_pid("process.exec", pid);
  ASSERT_EQ(execs.size(), 1u);
  EXPECT_EQ(execs[0]["args"], json::array({"/bin/sh", "-c", "exit 9"}));
  const auto exits = of_pid("process.exit", pid);
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0]["exit_code"], 9);
  EXPECT_EQ(exits[0]["exec_id"], execs[0]["exec_id"]);
}

TEST_F(MonitorEventsTest, BadConfigIsRefusedNamingTheField) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"no_such_key", 1}}, "no_such_key"},
      {{{"path_prefixes", {"/etc/", "relative/"}}}, "path_prefixes[1]"},
      {{{"path_prefixes", json(std::vector<std::string>(65, "/etc/"))}}, "path_prefixes"},
      {{{"path_prefixes", {"/" + std::string(300, 'p')}}}, "path_prefixes[0]"},
      {{{"args_max", 4097}}, "args_max"},
      {{{"args_max", -1}}, "args_max"},
      {{{"kinds", {"process.exec", "process.spawn"}}}, "kinds[1]"},
      {{{"uids", {-1}}}, "uids[0]"},
      {{{"uids", {0, 4294967296}}}, "uids[1]"},
      {{{"comms", {"a-command-name-too-long"}}}, "comms[0]"},
      {{{"cgroups", {"/adamt-no-such-cgroup"}}}, "cgroups[0]"},
      {{{"ring_buffer_kb", 3000}}, "ring_buffer_kb"},
      {{{"ring_buffer_kb", 2}}, "ring_buffer_kb"},
      {{{"max_processes", 10}}, "max_processes"},
      {{{"snapshot_interval", "2d"}}, "snapshot_interval"},
      {{{"snapshot_interval", "soon"}}, "snapshot_interval"},
  };
  for (const auto& [config, field] : cases) {
    try {
      monitor_->validate(config);
      ADD_FAILURE() << config << " was accepted";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400) << config;
      EXPECT_EQ(e.field(), field) << config << ": " << e.what();
    }
  }
  EXPECT_EQ(monitor_->stats()["running"], false);
  EXPECT_NO_THROW(
      monitor_->validate({{"cgroups", {"/"}}, {"snapshot_interval", "24h"}, {"ring_buffer_kb", 4}}));
}

}  // namespace
}  // namespace adam::test

namespace adam::test {
namespace {

// Where the kernel's map knows a process (the same start), the /proc scan
// takes its identity and parent, and the process's children in /proc link
// to that identity: /proc hides the image tag of some processes (pid 1
// here), which the programs read from the task.
TEST(MonitorProcScan, TheKernelsViewOfAProcessWinsOverProcs) {
  Child child({"/bin/sleep", "30"});
  std::this_thread::sleep_for(100ms);
  const mon::BootClock clock = mon::BootClock::read();
  const uint32_t self = static_cast<uint32_t>(::getpid());
  const auto plain = mon::scan_processes(clock, 512);
  auto find = [](const std::vector<mon::ScannedProcess>& all, uint32_t pid) {
    for (const auto& s : all)
      if (s.process.pid == pid) return s;
    return mon::ScannedProcess{};
  };
  const mon::ScannedProcess me = find(plain, self);
  ASSERT_EQ(me.process.exec_id, own_exec_id());
  adam_proc_entry kernel = me.entry;
  kernel.self.tag = 0xabc000;
  kernel.parent = {.tgid = 1, .pad = 0, .start_ns = 0, .tag = 0x1000};
  const auto reconciled =
      mon::scan_processes(clock, 512, [&](uint32_t tgid) -> std::optional<adam_proc_entry> {
        if (tgid == self) return kernel;
        if (tgid == static_cast<uint32_t>(child.pid())) {  // another start: not this process
          adam_proc_entry other = kernel;
          other.self.start_ns += 10'000'000'000;
          return other;
        }
        return std::nullopt;
      });
  const mon::ScannedProcess me_now = find(reconciled, self), child_now = find(reconciled, child.pid());
  EXPECT_EQ(me_now.process.exec_id, clock.exec_id(self, kernel.self.start_ns, 0xabc000));
  EXPECT_EQ(me_now.process.parent_exec_id, clock.exec_id(1, 0, 0x1000));
  EXPECT_EQ(me_now.entry.self.tag, 0xabc000u);
  EXPECT_EQ(child_now.process.exec_id, find(plain, child.pid()).process.exec_id);
  EXPECT_EQ(child_now.process.parent_exec_id, me_now.process.exec_id);
  EXPECT_EQ(child_now.entry.parent.tag, 0xabc000u);
}

}  // namespace
}  // namespace adam::test
