// The fanotify back end of the lsm plugin (docs/lsm.md "fanotify") driven
// directly, on this machine's kernel: execs of copies of /bin/true and
// opens of files in a temp dir, denied (EPERM) or allowed by the answers of
// the back end, its events through a real EventHub into a real store.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/errors.h"
#include "core/event_hub.h"
#include "core/kernel.h"
#include "core/metrics.h"
#include "plugins/lsm/enforcer.h"
#include "plugins/lsm/fanotify_enforcer.h"
#include "plugins/monitor/proc_scan.h"
#include "support/event_store_fixture.h"

namespace adam::lsm {
namespace {

namespace fs = std::filesystem;

constexpr int kExecEperm = 100 + EPERM;  // run()'s status when execve failed with EPERM

class LsmFanotifyTest : public test::EventStoreTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (fanotify permission events)";
    KernelFeatures features = probe_kernel_features();
    if (!features.has("fanotify")) GTEST_SKIP() << "no fanotify here: " << features.detail("fanotify");
    test::EventStoreTest::SetUp();
    char tmpl[] = "/tmp/adam-lsm-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = fs::canonical(tmpl).string();
    fs::permissions(root_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
    fs::create_directories(root_ + "/bin/sub");
    fs::create_directories(root_ + "/free");
    fs::create_directories(root_ + "/etc");
    for (const char* copy : {"/bin/true", "/bin/sub/true", "/bin/other", "/free/true"})
      fs::copy_file("/bin/true", root_ + copy);
    std::ofstream(root_ + "/etc/config") << "setting=1\n";
    hub_ = std::make_unique<EventHub>(*store_);
  }

  void TearDown() override {
    enforcer_.reset();
    hub_.reset();
    if (!root_.empty()) fs::remove_all(root_);
    test::EventStoreTest::TearDown();
  }

  Policy policy(int64_t id, Kind kind, Action action, std::vector<std::string> paths) {
    Policy p;
    p.id = id;
    p.name = "policy " + std::to_string(id);
    p.kind = kind;
    p.action = action;
    for (auto& path : paths) path = root_ + path;
    p.match.path = paths;
    p.resolved.path = paths;
    return p;
  }

  Enforcer& start(const std::vector<Policy>& policies, FanotifySetup setup = {}) {
    setup.kinds[ADAM_LSM_KIND_EXEC] = setup.kinds[ADAM_LSM_KIND_FILE] = true;
    setup.events = hub_.get();
    if (!setup.exempt_tgid) setup.exempt_tgid = 0;  // the test's children are the subjects
    enforcer_ = make_fanotify_enforcer(setup);
    enforcer_->apply(policies);
    return *enforcer_;
  }

  // Runs `path` in a child (after `prepare` there): its exit status, or
  // 100 + execve's errno.
  static int run(const std::string& path, const std::function<void()>& prepare = {}) {
    pid_t pid = ::fork();
    if (pid == 0) {
      if (prepare) prepare();
      ::execl(path.c_str(), path.c_str(), static_cast<char*>(nullptr));
      ::_exit(100 + errno);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // errno of an open of `path` with `flags` (0: it opened).
  static int open_errno(const std::string& path, int flags) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) return errno;
    ::close(fd);
    return 0;
  }

  // The stored events of `kind`, newest first, once there are `expected`
  // (an allowed operation's event is published after the answer).
  std::vector<nlohmann::json> events(const std::string& kind, size_t expected = 0) {
    std::vector<nlohmann::json> out;
    for (int wait = 0; wait < 500; ++wait) {
      hub_->flush();
      out.clear();
      for (const auto& e : store_->query({.plugins = {"lsm"}, .kinds = {kind}}, std::nullopt, 100).events)
        out.push_back(nlohmann::json::parse(e.data));
      if (out.size() >= expected) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return out;
  }

  std::string root_;
  std::unique_ptr<EventHub> hub_;
  std::unique_ptr<Enforcer> enforcer_;
};

TEST_F(LsmFanotifyTest, ExecOfADeniedBinaryFailsWithEpermAndIsRecorded) {
  Enforcer& e = start({policy(7, Kind::exec, Action::deny, {"/bin/true", "/bin/sub/"})});
  EXPECT_EQ(run(root_ + "/bin/true"), kExecEperm) << "exact path";
  EXPECT_EQ(run(root_ + "/bin/sub/true"), kExecEperm) << "under the prefix";
  EXPECT_EQ(run(root_ + "/bin/other"), 0) << "same directory, not named";
  EXPECT_EQ(run(root_ + "/free/true"), 0) << "outside every mark";
  EXPECT_EQ(run("/bin/true"), 0);
  EXPECT_EQ(e.hits()[7].deny, 2u);

  const auto denied = events("lsm.deny");
  ASSERT_EQ(denied.size(), 2u);
  for (const auto& d : denied) {
    EXPECT_EQ(d["policy_id"], 7);
    EXPECT_EQ(d["policy"], "policy 7");
    EXPECT_EQ(d["kind"], "exec");
    EXPECT_EQ(d["action"], "deny");
    EXPECT_EQ(d["mechanism"], "fanotify");
    EXPECT_EQ(d["ppid"], ::getpid()) << d.dump();  // the caller of execve is the test's child
    EXPECT_TRUE(d.contains("exec_id")) << d.dump();
  }
  EXPECT_EQ(denied[1]["path"], root_ + "/bin/true");  // newest first
  EXPECT_EQ(denied[0]["path"], root_ + "/bin/sub/true");
  const auto stats = e.stats();
  EXPECT_EQ(stats["marks"], 2) << stats.dump();  // the file bin/true and the directory bin/sub
  EXPECT_EQ(stats["denied"], 2) << stats.dump();
  EXPECT_EQ(stats["late"], 0) << stats.dump();
  MetricsWriter metrics;
  e.metrics(metrics);
  EXPECT_NE(metrics.text().find("adam_lsm_fanotify_answered_total{answer=\"deny\"} 2\n"), std::string::npos)
      << metrics.text();
  EXPECT_NE(metrics.text().find("adam_lsm_fanotify_marks 2\n"), std::string::npos) << metrics.text();
  EXPECT_NE(metrics.text().find("adam_lsm_fanotify_late_total 0\n"), std::string::npos) << metrics.text();
}

// The hole docs/lsm.md names: from mkdir of a new subdirectory until adamd
// has marked it (its inotify read), an exec inside it is not seen. Printed:
// how many execs ran in that window and how long it lasted.
TEST_F(LsmFanotifyTest, APrefixCoversDirectoriesMadeAfterTheMarks) {
  Enforcer& e = start({policy(1, Kind::exec, Action::deny, {"/bin/sub/"})});
  const std::string binary = root_ + "/bin/sub/new/deeper/true";
  fs::copy_file("/bin/true", root_ + "/free/staged");
  const auto made = std::chrono::steady_clock::now();
  fs::create_directories(root_ + "/bin/sub/new/deeper");
  fs::rename(root_ + "/free/staged", binary);
  int status = 0, ran = 0;
  while ((status = run(binary)) == 0 && ran < 10000) ++ran;
  const double window_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - made).count();
  std::cout << nlohmann::json{{"new_directory_window_us", window_us}, {"execs_that_ran", ran}}.dump() << "\n";
  EXPECT_EQ(status, kExecEperm);
  EXPECT_EQ(e.hits()[1].deny, 1u);
  EXPECT_EQ(run(root_ + "/bin/sub/new/deeper/true"), kExecEperm);
}

// Directories made and removed under a prefix are marked, then no longer
// counted against the mark bound (a /tmp/ prefix's churn would use it up).
TEST_F(LsmFanotifyTest, DirectoriesRemovedUnderAPrefixLeaveTheBound) {
  Enforcer& e = start({policy(1, Kind::exec, Action::deny, {"/bin/sub/"})});
  ASSERT_EQ(e.stats()["marks"], 1);
  auto marks_become = [&](int n) {
    for (int wait = 0; wait < 500 && e.stats()["marks"] != n; ++wait)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return e.stats()["marks"].get<int>();
  };
  for (int i = 0; i < 50; ++i) fs::create_directory(root_ + "/bin/sub/d" + std::to_string(i));
  EXPECT_EQ(marks_become(51), 51);
  for (int i = 0; i < 50; ++i) fs::remove(root_ + "/bin/sub/d" + std::to_string(i));
  EXPECT_EQ(marks_become(1), 1);
}

TEST_F(LsmFanotifyTest, AnExactPathThatDoesNotExistYetIsDeniedOnceCreated) {
  start({policy(1, Kind::exec, Action::deny, {"/bin/later"})});
  EXPECT_EQ(run(root_ + "/bin/other"), 0);
  fs::copy_file("/bin/true", root_ + "/bin/later");
  EXPECT_EQ(run(root_ + "/bin/later"), kExecEperm);  // its directory's children are marked: no window
}

TEST_F(LsmFanotifyTest, FileWriteDenyLetsReadsThrough) {
  Policy writes = policy(3, Kind::file, Action::deny, {"/etc/"});
  writes.match.access = ADAM_LSM_ACCESS_WRITE;
  Enforcer& e = start({writes});
  const std::string config = root_ + "/etc/config";
  EXPECT_EQ(open_errno(config, O_RDONLY), 0);
  EXPECT_EQ(open_errno(config, O_WRONLY), EPERM);
  EXPECT_EQ(open_errno(config, O_RDWR), EPERM);
  EXPECT_EQ(open_errno(config, O_RDONLY | O_APPEND), EPERM);
  EXPECT_EQ(open_errno(root_ + "/etc/new", O_WRONLY | O_CREAT), EPERM) << "a new file under the prefix";
  open_how how{.flags = O_WRONLY | O_CLOEXEC, .mode = 0, .resolve = 0};
  const long fd = ::syscall(SYS_openat2, AT_FDCWD, config.c_str(), &how, sizeof how);
  EXPECT_EQ(fd < 0 ? errno : 0, EPERM) << "openat2's flags, read from the caller's memory";
  if (fd >= 0) ::close(static_cast<int>(fd));
  how.flags = O_RDONLY | O_CLOEXEC;
  const long rfd = ::syscall(SYS_openat2, AT_FDCWD, config.c_str(), &how, sizeof how);
  EXPECT_GE(rfd, 0) << strerror(errno);
  if (rfd >= 0) ::close(static_cast<int>(rfd));
  EXPECT_EQ(open_errno(root_ + "/free/true", O_WRONLY), 0) << "outside the prefix";
  EXPECT_EQ(e.hits()[3].deny, 5u);

  const auto denied = events("lsm.deny");  // newest first
  ASSERT_EQ(denied.size(), 5u);
  const auto& last = denied[0];  // the openat2
  EXPECT_EQ(last["kind"], "file");
  EXPECT_EQ(last["path"], config);
  EXPECT_EQ(last["access"], "write");
  EXPECT_EQ(last["flags"], O_WRONLY | O_CLOEXEC);
  EXPECT_EQ(last["pid"], ::getpid());
  EXPECT_EQ(denied[4]["flags"], O_WRONLY | O_CLOEXEC);
  EXPECT_EQ(denied[3]["access"], "read,write");  // the O_RDWR open
}

TEST_F(LsmFanotifyTest, ReadDenyAndAuditThatAllowsAndCounts) {
  Policy read_deny = policy(1, Kind::file, Action::deny, {"/etc/config"});
  read_deny.match.access = ADAM_LSM_ACCESS_READ;
  Enforcer& e = start({read_deny, policy(2, Kind::exec, Action::audit, {"/bin/"})});
  EXPECT_EQ(open_errno(root_ + "/etc/config", O_RDONLY), EPERM);
  EXPECT_EQ(run(root_ + "/bin/true"), 0) << "audit lets it run";
  EXPECT_EQ(run(root_ + "/bin/sub/true"), 0);
  EXPECT_EQ(e.hits()[1].deny, 1u);
  EXPECT_EQ(e.hits()[2].audit, 2u);
  EXPECT_EQ(e.hits()[2].deny, 0u);
  const auto audited = events("lsm.audit", 2);
  ASSERT_EQ(audited.size(), 2u);
  EXPECT_EQ(audited[0]["action"], "audit");
  EXPECT_EQ(audited[0]["path"], root_ + "/bin/sub/true");
  EXPECT_EQ(audited[0]["comm"], "lsm_fanotify_te") << "the caller's, before the exec";
}

TEST_F(LsmFanotifyTest, ScopeByUidAndComm) {
  Policy by_uid = policy(1, Kind::exec, Action::deny, {"/bin/true"});
  by_uid.scope.uid = {65534};
  Policy by_comm = policy(2, Kind::exec, Action::deny, {"/bin/other"});
  by_comm.scope.comm = {"adam-scoped"};
  Enforcer& e = start({by_uid, by_comm});
  auto as_nobody = [] {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(99);
  };
  auto named = [] { ::prctl(PR_SET_NAME, "adam-scoped"); };
  EXPECT_EQ(run(root_ + "/bin/true"), 0) << "root is not in scope.uid";
  EXPECT_EQ(run(root_ + "/bin/true", as_nobody), kExecEperm);
  EXPECT_EQ(run(root_ + "/bin/other"), 0) << "the test's comm is not in scope.comm";
  EXPECT_EQ(run(root_ + "/bin/other", named), kExecEperm);
  EXPECT_EQ(e.hits()[1].deny, 1u);
  EXPECT_EQ(e.hits()[2].deny, 1u);
  const auto denied = events("lsm.deny");
  ASSERT_EQ(denied.size(), 2u);
  EXPECT_EQ(denied[1]["uid"], 65534);
  EXPECT_EQ(denied[0]["comm"], "adam-scoped");
}

// scope.parent of an exec: the image calling execve (here sh's child,
// still sh, or the test's own child); scope.cgroup: a cgroup the test makes.
TEST_F(LsmFanotifyTest, ScopeByParentAndCgroup) {
  const std::string cgroup2 = mon::cgroup2_mount();
  if (cgroup2.empty()) GTEST_SKIP() << "no cgroup v2 mounted";
  const std::string cgroup = cgroup2 + "/adamt-" + std::to_string(::getpid()) + "-lsm-fanotify";
  ASSERT_TRUE(fs::create_directory(cgroup)) << cgroup;
  struct Removed {
    std::string dir;
    ~Removed() { ::rmdir(dir.c_str()); }  // its processes have exited by then
  } removed{cgroup};
  struct stat st {};
  ASSERT_EQ(::stat(cgroup.c_str(), &st), 0);
  Policy by_parent = policy(1, Kind::exec, Action::deny, {"/bin/true"});
  by_parent.resolved.parent = {fs::canonical("/bin/sh").string()};
  Policy by_cgroup = policy(2, Kind::exec, Action::deny, {"/bin/other"});
  by_cgroup.resolved.cgroup_ids = {st.st_ino};
  Enforcer& e = start({by_parent, by_cgroup});
  EXPECT_EQ(run(root_ + "/bin/true"), 0) << "the test's child is no sh";
  const std::string script = root_ + "/bin/true; exit $?";
  pid_t sh = ::fork();
  if (sh == 0) {
    ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(99);
  }
  int status = 0;
  ::waitpid(sh, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 126) << "sh: permission denied";
  EXPECT_EQ(run(root_ + "/bin/other"), 0) << "outside the cgroup";
  const std::string procs = cgroup + "/cgroup.procs";
  EXPECT_EQ(run(root_ + "/bin/other", [&] { std::ofstream(procs) << "0\n"; }), kExecEperm);
  EXPECT_EQ(e.hits()[1].deny, 1u);
  EXPECT_EQ(e.hits()[2].deny, 1u);
}

TEST_F(LsmFanotifyTest, ApplyReplacesTheMarksAllOrNothing) {
  Enforcer& e = start({policy(1, Kind::exec, Action::deny, {"/bin/true"})});
  EXPECT_EQ(run(root_ + "/bin/true"), kExecEperm);
  e.apply({policy(2, Kind::exec, Action::deny, {"/bin/other"})});
  EXPECT_EQ(run(root_ + "/bin/true"), 0) << "the old set's marks are gone";
  EXPECT_EQ(run(root_ + "/bin/other"), kExecEperm);
  Policy connect;
  connect.id = 3;
  connect.kind = Kind::connect;
  try {
    e.apply({policy(4, Kind::exec, Action::deny, {"/bin/true"}), connect});
    ADD_FAILURE() << "a connect policy was taken";
  } catch (const ApiError& err) {
    EXPECT_EQ(err.status(), 422);
    EXPECT_EQ(err.field(), "kind");
  }
  FanotifySetup exec_only;
  exec_only.kinds[ADAM_LSM_KIND_EXEC] = true;
  EXPECT_THROW(make_fanotify_enforcer(exec_only)->apply({policy(5, Kind::file, Action::deny, {"/etc/"})}),
               ApiError)
      << "a file policy given to a back end started for exec only";
  EXPECT_EQ(run(root_ + "/bin/true"), 0) << "the refused set changed nothing";
  EXPECT_EQ(run(root_ + "/bin/other"), kExecEperm);
}

TEST_F(LsmFanotifyTest, ATreeBeyondTheMarkBoundIsRefused) {
  Enforcer& e = start({policy(1, Kind::exec, Action::deny, {"/bin/true"})});
  for (int i = 0; i < 16384; ++i) fs::create_directory(root_ + "/free/d" + std::to_string(i));
  try {  // free/ and its 16,384 subdirectories: one mark too many
    e.apply({policy(2, Kind::exec, Action::deny, {"/free/"})});
    ADD_FAILURE() << "16,385 directories marked";
  } catch (const ApiError& err) {
    EXPECT_EQ(err.status(), 422);
    EXPECT_EQ(err.field(), "kind");
    EXPECT_NE(std::string(err.what()).find("16384"), std::string::npos) << err.what();
  }
  EXPECT_EQ(run(root_ + "/bin/true"), kExecEperm) << "the previous set still holds";
  EXPECT_EQ(run(root_ + "/free/true"), 0);
}

// The deadline: a policy whose scope matches nobody here, failing closed.
// Decided in time, an open is allowed (out of scope); past answer_ms, the
// fail mode denies it. 64 threads opening at once keep the decider behind.
class LsmFanotifyDeadlineTest : public LsmFanotifyTest, public ::testing::WithParamInterface<bool> {};

TEST_P(LsmFanotifyDeadlineTest, LateEventsGetTheFailMode) {
  const bool fail_closed = GetParam();
  Policy p = policy(1, Kind::file, Action::deny, {"/etc/"});
  p.scope.uid = {4242424};
  p.fail_closed = fail_closed;
  Enforcer& e = start({p}, {.answer_ms = 1});
  std::atomic<int> denied{0}, opened{0};
  std::vector<std::thread> openers;
  for (int t = 0; t < 64; ++t)
    openers.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        int err = open_errno(root_ + "/etc/config", O_RDONLY);
        ++(err == EPERM ? denied : opened);
      }
    });
  for (auto& t : openers) t.join();
  const auto stats = e.stats();
  std::cout << "answer_ms 1, 64 threads x 20 opens: " << stats.dump() << "\n";
  ASSERT_GT(stats["late"].get<int>(), 0) << stats.dump();
  EXPECT_EQ(denied.load(), fail_closed ? stats["late"].get<int>() : 0) << stats.dump();
  EXPECT_EQ(denied.load() + opened.load(), 64 * 20);
  EXPECT_EQ(e.hits()[1].deny, 0u) << "a late answer is no policy's hit";
}

INSTANTIATE_TEST_SUITE_P(FailMode, LsmFanotifyDeadlineTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "closed" : "open"; });

TEST_F(LsmFanotifyTest, EverythingIsAllowedOnceTheBackEndIsGone) {
  start({policy(1, Kind::exec, Action::deny, {"/bin/true"})});
  EXPECT_EQ(run(root_ + "/bin/true"), kExecEperm);
  enforcer_.reset();
  EXPECT_EQ(run(root_ + "/bin/true"), 0) << "destroyed: its group's descriptor closed";
}

// The holder of EverythingIsAllowedOnceItsProcessIsKilled: this test binary
// executed again with ADAM_TEST_FANOTIFY_HOLD=<path>, a process of its own
// (a forked child of the multi-threaded test may not allocate or start
// threads: under ASan 3 runs in 10 hung in the child's allocator on a lock
// held at the fork, and TSan refuses it). It denies execs of <path>, writes
// one byte to its stdout once the marks are in place, and waits to be killed.
// It runs before main, so it never becomes a test run.
[[maybe_unused]] const bool fanotify_holder = [] {
  const char* path = std::getenv("ADAM_TEST_FANOTIFY_HOLD");
  if (path == nullptr) return false;
  Policy p;
  p.id = 1;
  p.name = "held";
  p.kind = Kind::exec;
  p.action = Action::deny;
  p.match.path = p.resolved.path = {path};
  FanotifySetup setup;
  setup.kinds[ADAM_LSM_KIND_EXEC] = true;
  setup.exempt_tgid = 0;
  auto enforcer = make_fanotify_enforcer(setup);
  enforcer->apply({p});
  [[maybe_unused]] auto n = ::write(STDOUT_FILENO, "r", 1);
  for (;;) ::pause();
}();

// adamd killed (SIGKILL, nothing of it runs): the kernel closes its
// descriptor and allows, so fail: closed holds only while adamd runs.
TEST_F(LsmFanotifyTest, EverythingIsAllowedOnceItsProcessIsKilled) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  // Everything the child needs is made before the fork: it only execs.
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string hold = "ADAM_TEST_FANOTIFY_HOLD=" + root_ + "/bin/true";
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  env.push_back(const_cast<char*>(hold.c_str()));
  env.push_back(nullptr);
  char* const argv[] = {const_cast<char*>(self.c_str()), nullptr};
  pid_t holder = ::fork();
  if (holder == 0) {
    ::dup2(ready[1], STDOUT_FILENO);
    ::execve(self.c_str(), argv, env.data());
    ::_exit(127);
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1) << "the holder did not start";
  ::close(ready[0]);
  EXPECT_EQ(run(root_ + "/bin/true"), kExecEperm);
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  EXPECT_EQ(run(root_ + "/bin/true"), 0);
}

TEST_F(LsmFanotifyTest, TheExemptTreeIsNeverDeniedNorRecorded) {
  Enforcer& e = start({policy(1, Kind::exec, Action::deny, {"/bin/true"})}, {.exempt_tgid = ::getpid()});
  EXPECT_EQ(run(root_ + "/bin/true"), 0) << "a child of the exempt process";
  EXPECT_EQ(run(root_ + "/bin/true",
                [] {  // the grandchild execs, its parent passes its status on
                  if (pid_t grandchild = ::fork(); grandchild != 0) {
                    int status = 0;
                    ::waitpid(grandchild, &status, 0);
                    ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 99);
                  }
                }),
            0)
      << "a grandchild";
  // A process that left the tree (its parent exited: reparented away) is a subject.
  int done[2];
  ASSERT_EQ(::pipe(done), 0);
  const std::string path = root_ + "/bin/true";
  pid_t child = ::fork();
  if (child == 0) {
    const pid_t parent = ::getpid();
    if (::fork() != 0) ::_exit(0);
    while (::getppid() == parent) ::usleep(1000);
    int status = run(path);
    [[maybe_unused]] auto n = ::write(done[1], &status, sizeof status);
    ::_exit(0);
  }
  ::waitpid(child, nullptr, 0);
  ::close(done[1]);
  int orphan_status = -1;
  ASSERT_EQ(::read(done[0], &orphan_status, sizeof orphan_status),
            static_cast<ssize_t>(sizeof orphan_status));
  ::close(done[0]);
  EXPECT_EQ(orphan_status, kExecEperm);
  EXPECT_EQ(e.hits()[1].deny, 1u) << "only the orphan's";
  EXPECT_GE(e.stats()["exempt"].get<int>(), 2) << e.stats().dump();
  EXPECT_EQ(events("lsm.deny").size(), 1u);
}

// The probe adamd reports in /api/v1/node: found here (the kernel has
// fanotify permission events), and its temp file gone.
TEST(LsmFanotifyProbe, FindsFanotifyAndLeavesNothing) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  const KernelFeatures features = probe_kernel_features();
  ASSERT_TRUE(features.features.count("fanotify"));
  EXPECT_TRUE(features.has("fanotify")) << features.detail("fanotify");
  EXPECT_NE(features.detail("fanotify").find("FAN_OPEN_EXEC_PERM"), std::string::npos);
  for (const auto& entry : fs::directory_iterator("/tmp"))
    EXPECT_FALSE(entry.path().filename().string().starts_with("adam-fanotify-probe-")) << entry.path();
}

TEST(LsmFanotifyAccess, OpenFlagsToAccess) {
  EXPECT_EQ(access_of_open_flags(O_RDONLY), ADAM_LSM_ACCESS_READ);
  EXPECT_EQ(access_of_open_flags(O_WRONLY), ADAM_LSM_ACCESS_WRITE);
  EXPECT_EQ(access_of_open_flags(O_RDWR), ADAM_LSM_ACCESS_READ | ADAM_LSM_ACCESS_WRITE);
  EXPECT_EQ(access_of_open_flags(O_RDONLY | O_TRUNC), ADAM_LSM_ACCESS_READ | ADAM_LSM_ACCESS_WRITE);
  EXPECT_EQ(access_of_open_flags(O_WRONLY | O_CREAT | O_TRUNC), ADAM_LSM_ACCESS_WRITE);
}

}  // namespace
}  // namespace adam::lsm
