// The fanotify back end of the lsm plugin (docs/lsm.md "fanotify") driven
// directly, on this machine's kernel: execs of copies of /bin/true and
// opens of files in a temp dir, denied (EPERM) or allowed by the answers of
// the back end, its events through a real EventHub into a real store.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/errors.h"
#include "core/event_hub.h"
#include "core/kernel.h"
#include "plugins/lsm/enforcer.h"
#include "plugins/lsm/fanotify_enforcer.h"
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

  std::vector<nlohmann::json> events(const std::string& kind) {
    hub_->flush();
    std::vector<nlohmann::json> out;
    for (const auto& e : store_->query({.plugins = {"lsm"}, .kinds = {kind}}, std::nullopt, 100).events)
      out.push_back(nlohmann::json::parse(e.data));
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
}

TEST_F(LsmFanotifyTest, APrefixCoversDirectoriesMadeAfterTheMarks) {
  Enforcer& e = start({policy(1, Kind::exec, Action::deny, {"/bin/sub/"})});
  fs::create_directories(root_ + "/bin/sub/new/deeper");
  fs::copy_file("/bin/true", root_ + "/bin/sub/new/deeper/true");
  // The watch of bin/sub reports new/; its marks follow within the reader's next turn.
  int status = 0;
  for (int i = 0; i < 100 && (status = run(root_ + "/bin/sub/new/deeper/true")) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(status, kExecEperm);
  EXPECT_GE(e.hits()[1].deny, 1u);
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

  const auto denied = events("lsm.deny");
  ASSERT_FALSE(denied.empty());
  const auto& last = denied[0];  // the openat2
  EXPECT_EQ(last["kind"], "file");
  EXPECT_EQ(last["path"], config);
  EXPECT_EQ(last["access"], "write");
  EXPECT_EQ(last["flags"], O_WRONLY | O_CLOEXEC);
  EXPECT_EQ(last["pid"], ::getpid());
  EXPECT_EQ(denied[4]["access"], "read,write");  // the O_RDWR open
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
  const auto audited = events("lsm.audit");
  ASSERT_EQ(audited.size(), 2u);
  EXPECT_EQ(audited[0]["action"], "audit");
  EXPECT_EQ(audited[0]["path"], root_ + "/bin/sub/true");
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
  EXPECT_EQ(run(root_ + "/bin/true"), 0) << "the refused set changed nothing";
  EXPECT_EQ(run(root_ + "/bin/other"), kExecEperm);
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

// adamd killed (SIGKILL, nothing of it runs): the kernel closes its
// descriptor and allows, so fail: closed holds only while adamd runs.
TEST_F(LsmFanotifyTest, EverythingIsAllowedOnceItsProcessIsKilled) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const std::vector<Policy> policies{policy(1, Kind::exec, Action::deny, {"/bin/true"})};
  pid_t holder = ::fork();
  if (holder == 0) {
    FanotifySetup setup;
    setup.kinds[ADAM_LSM_KIND_EXEC] = true;
    setup.exempt_tgid = 0;
    auto enforcer = make_fanotify_enforcer(setup);
    enforcer->apply(policies);
    [[maybe_unused]] auto n = ::write(ready[1], "r", 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
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

TEST(LsmFanotifyAccess, OpenFlagsToAccess) {
  EXPECT_EQ(access_of_open_flags(O_RDONLY), ADAM_LSM_ACCESS_READ);
  EXPECT_EQ(access_of_open_flags(O_WRONLY), ADAM_LSM_ACCESS_WRITE);
  EXPECT_EQ(access_of_open_flags(O_RDWR), ADAM_LSM_ACCESS_READ | ADAM_LSM_ACCESS_WRITE);
  EXPECT_EQ(access_of_open_flags(O_RDONLY | O_TRUNC), ADAM_LSM_ACCESS_READ | ADAM_LSM_ACCESS_WRITE);
  EXPECT_EQ(access_of_open_flags(O_WRONLY | O_CREAT | O_TRUNC), ADAM_LSM_ACCESS_WRITE);
}

}  // namespace
}  // namespace adam::lsm
