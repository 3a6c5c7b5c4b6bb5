// The enforcement plugin through a real adamd's API on a kernel with BPF LSM:
// what tests/vm/run-in-vm.sh runs inside its VM (Debian 12's 6.1 kernel booted
// with lsm=...,bpf), where every kind's mechanism must be bpf_lsm. Each test
// starts its own adamd, starts the lsm plugin, adds policies with POST
// /api/v1/lsm/policies and checks what a user would: the operation's errno or
// the shell's exit status, what still works next to it, and the lsm.deny /
// lsm.audit events with their policy and mechanism. Outside the VM (no
// ADAM_VM in the environment) every test skips.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/adamd.h"

namespace adam::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A directory of the test's own under /tmp, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/adamt-vm-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A copy of /usr/bin/true at `path`: a binary of the test's own to deny, so no
// policy ever names a binary something else needs.
void copy_true(const std::string& path) {
  fs::copy_file("/usr/bin/true", path, fs::copy_options::overwrite_existing);
  fs::permissions(path, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
}

// execve(path) in a child: 0 when the program ran and exited 0, else the
// errno execve failed with (or -1 for any other outcome).
int exec_errno(const std::string& path) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
    char* envp[] = {nullptr};
    ::execve(path.c_str(), argv, envp);
    const int err = errno;
    (void)!::write(pipefd[1], &err, sizeof err);
    ::_exit(127);
  }
  ::close(pipefd[1]);
  int err = 0;
  const bool exec_failed = ::read(pipefd[0], &err, sizeof err) == sizeof err;
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (exec_failed) return err;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

// The exit status of `sh -c COMMAND` (as a user at a shell sees it).
int shell_status(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// open(path, flags) as a user's program does it: 0 when it succeeded, else errno.
int open_errno(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// An address on lo for the connect tests (203.0.113.0/24, 2001:db8::/32),
// removed when the test ends.
class LoAddress {
 public:
  explicit LoAddress(std::string cidr) : cidr_(std::move(cidr)) {
    added_ = shell_status("ip addr add " + cidr_ + " dev lo nodad 2>/dev/null || ip addr add " + cidr_ +
                          " dev lo") == 0;
  }
  ~LoAddress() {
    if (added_) shell_status("ip addr del " + cidr_ + " dev lo");
  }
  bool added() const { return added_; }

 private:
  std::string cidr_;
  bool added_ = false;
};

// A TCP listener on the wildcard address of a family, on a free port.
class Listener {
 public:
  explicit Listener(int family) {
    fd_ = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&addr);
      in->sin_family = AF_INET;
      len = sizeof *in;
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
      in6->sin6_family = AF_INET6;
      len = sizeof *in6;
    }
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 64) != 0) return;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&addr)->sin_port
                                    : reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  }
  ~Listener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// connect() to addr:port over TCP: 0 when it connected, else errno.
int connect_errno(const std::string& addr, int port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, addr.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    len = sizeof *in;
  } else if (::inet_pton(AF_INET6, addr.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    len = sizeof *in6;
  } else {
    return EINVAL;
  }
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

// bind() of a TCP socket to addr:port: 0 when it bound, else errno.
int bind_errno(const std::string& addr, int port) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  ::inet_pton(AF_INET, addr.c_str(), &in.sin_addr);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof in);
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

// adamd in the VM (a TCG guest starts it in seconds, not milliseconds) with
// the lsm plugin running.
class VmLsm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("ADAM_VM") == nullptr)
      GTEST_SKIP() << "runs inside the BPF-LSM VM (tests/vm/run-in-vm.sh)";
    adamd_ = std::make_unique<Adamd>();
    ASSERT_TRUE(adamd_->running());
    const auto started = d().post("/api/v1/plugins/lsm/start", "{}");
    ASSERT_EQ(started.status, 200) << started.body;
    ASSERT_EQ(started.json()["state"], "running") << started.body;
  }

  Adamd& d() { return *adamd_; }

  // POST /api/v1/lsm/policies; the stored policy.
  json add_policy(const json& policy) {
    const auto r = d().post("/api/v1/lsm/policies", policy.dump());
    EXPECT_EQ(r.status, 201) << policy.dump() << " -> " << r.body;
    return r.status == 201 ? r.json() : json::object();
  }

  // The plugin's events of `kind` whose data.path (or other field) equals
  // `value`, once at least `count` of them are stored (events reach the store
  // through the ring buffer, the hub and a write batch).
  json wait_events(const std::string& kind, const std::string& field, const std::string& value,
                   size_t count = 1) {
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    json events = json::array();
    while (Clock::now() < deadline) {
      const auto r = d().get("/api/v1/events?plugin=lsm&kind=" + kind + "&data." + field + "=" + value);
      if (r.status == 200) {
        events = r.json()["events"];
        if (events.size() >= count) return events;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ADD_FAILURE() << "fewer than " << count << " " << kind << " events with data." << field << "=" << value
                  << " within 20 s: " << events.dump();
    return events;
  }

  // Each event: of this policy, enforced by bpf_lsm, with the process's exec id.
  void expect_events_of(const json& events, const json& policy, const std::string& action) {
    for (const auto& e : events) {
      EXPECT_EQ(e["data"]["policy_id"], policy["id"]) << e.dump();
      EXPECT_EQ(e["data"]["action"], action) << e.dump();
      EXPECT_EQ(e["data"]["mechanism"], "bpf_lsm") << e.dump();
      EXPECT_FALSE(e["data"].value("exec_id", "").empty()) << e.dump();
    }
  }

  TempDir dir_;  // outlives adamd: its files are gone only once the policies naming them are
  std::unique_ptr<Adamd> adamd_;
};

TEST_F(VmLsm, ExecDeny) {
  const std::string denied = dir_.path() + "/denied", allowed = dir_.path() + "/allowed";
  copy_true(denied);
  copy_true(allowed);
  ASSERT_EQ(exec_errno(denied), 0) << "the copy of true runs before any policy";
  const json policy = add_policy(
      {{"name", "vm exec deny"}, {"kind", "exec"}, {"action", "deny"}, {"match", {{"path", {denied}}}}});
  EXPECT_EQ(policy.value("mechanism", ""), "bpf_lsm") << policy.dump();

  EXPECT_EQ(exec_errno(denied), EPERM) << "execve of a denied binary";
  EXPECT_EQ(shell_status(denied), 126) << "a shell running a denied binary";
  EXPECT_EQ(exec_errno(allowed), 0) << "the same binary elsewhere still runs";

  const json events = wait_events("lsm.deny", "path", denied, 2);
  expect_events_of(events, policy, "deny");
}

TEST_F(VmLsm, FileWriteDeny) {
  const std::string protected_dir = dir_.path() + "/protected/", inside = protected_dir + "config",
                    outside = dir_.path() + "/scratch";
  fs::create_directories(protected_dir);
  std::ofstream(inside) << "kept";
  const json policy = add_policy({{"name", "vm file write deny"},
                                  {"kind", "file"},
                                  {"action", "deny"},
                                  {"match", {{"path", {protected_dir}}, {"access", {"write"}}}}});
  EXPECT_EQ(policy.value("mechanism", ""), "bpf_lsm") << policy.dump();

  EXPECT_EQ(open_errno(inside, O_WRONLY), EPERM) << "open for writing under the prefix";
  EXPECT_EQ(open_errno(inside, O_RDWR), EPERM) << "open for reading and writing under the prefix";
  EXPECT_EQ(open_errno(protected_dir + "new", O_WRONLY | O_CREAT), EPERM) << "a new file under the prefix";
  EXPECT_EQ(shell_status("echo changed > " + inside + " 2>/dev/null"), 2) << "a shell's redirection";
  EXPECT_EQ(open_errno(inside, O_RDONLY), 0) << "reads pass";
  EXPECT_EQ(read_file(inside), "kept");
  EXPECT_EQ(open_errno(outside, O_WRONLY | O_CREAT), 0) << "writes outside the prefix pass";

  const json events = wait_events("lsm.deny", "path", inside, 3);
  expect_events_of(events, policy, "deny");
  // O_RDWR is a read and a write: "read,write"; O_WRONLY and the shell's "write".
  for (const auto& e : events) {
    EXPECT_NE(e["data"].value("access", "").find("write"), std::string::npos) << e.dump();
  }
}

TEST_F(VmLsm, ConnectDeny) {
  LoAddress denied4("203.0.113.7/32"), allowed4("203.0.113.8/32");
  LoAddress denied6("2001:db8::7/128"), allowed6("2001:db8::8/128");
  ASSERT_TRUE(denied4.added() && allowed4.added() && denied6.added() && allowed6.added());
  Listener listener4(AF_INET), listener6(AF_INET6);
  ASSERT_GT(listener4.port(), 0);
  ASSERT_GT(listener6.port(), 0);
  ASSERT_EQ(connect_errno("203.0.113.7", listener4.port()), 0) << "connects before any policy";
  const json policy = add_policy({{"name", "vm connect deny"},
                                  {"kind", "connect"},
                                  {"action", "deny"},
                                  {"match",
                                   {{"dst", {"203.0.113.7/32", "2001:db8::7/128"}},
                                    {"dst_port", {listener4.port(), listener6.port()}},
                                    {"proto", {"tcp"}}}}});
  EXPECT_EQ(policy.value("mechanism", ""), "bpf_lsm") << policy.dump();

  EXPECT_EQ(connect_errno("203.0.113.7", listener4.port()), EPERM);
  EXPECT_EQ(connect_errno("2001:db8::7", listener6.port()), EPERM);
  EXPECT_EQ(connect_errno("203.0.113.8", listener4.port()), 0) << "another address still connects";
  EXPECT_EQ(connect_errno("2001:db8::8", listener6.port()), 0) << "another address still connects";

  const json events4 = wait_events("lsm.deny", "addr", "203.0.113.7");
  expect_events_of(events4, policy, "deny");
  for (const auto& e : events4) {
    EXPECT_EQ(e["data"]["port"], listener4.port()) << e.dump();
    EXPECT_EQ(e["data"]["family"], "ipv4") << e.dump();
    EXPECT_EQ(e["data"]["proto"], "tcp") << e.dump();
  }
  expect_events_of(wait_events("lsm.deny", "addr", "2001:db8::7"), policy, "deny");
}

TEST_F(VmLsm, Audit) {
  const std::string audited = dir_.path() + "/audited";
  copy_true(audited);
  const json policy = add_policy(
      {{"name", "vm exec audit"}, {"kind", "exec"}, {"action", "audit"}, {"match", {{"path", {audited}}}}});
  EXPECT_EQ(policy.value("mechanism", ""), "bpf_lsm") << policy.dump();

  EXPECT_EQ(exec_errno(audited), 0) << "an audited exec runs";
  EXPECT_EQ(shell_status(audited), 0);
  expect_events_of(wait_events("lsm.audit", "path", audited, 2), policy, "audit");
  EXPECT_EQ(d().get("/api/v1/events?plugin=lsm&kind=lsm.deny").json()["events"].size(), 0u)
      << "audit denies nothing";
  const json stored = d().get("/api/v1/lsm/policies/" + std::to_string(policy["id"].get<int64_t>())).json();
  EXPECT_EQ(stored["hits"]["audit"], 2) << stored.dump();
  EXPECT_EQ(stored["hits"]["deny"], 0) << stored.dump();
}

// What every kind reports on a BPF-LSM kernel: the node's feature, the
// plugin's choice per kind, each policy's mechanism and hooks, and a bind deny
// (the one kind the tests above do not exercise) with its event.
TEST_F(VmLsm, Mechanism) {
  const json node = d().get("/api/v1/node").json();
  EXPECT_EQ(node["features"]["bpf_lsm"]["available"], true) << node["features"].dump();

  const json listing = d().get("/api/v1/lsm/policies").json();
  for (const char* kind : {"exec", "file", "connect", "bind"}) {
    EXPECT_EQ(listing["mechanisms"][kind], "bpf_lsm") << kind << ": " << listing.dump();
  }

  const std::string bin = dir_.path() + "/bin";
  copy_true(bin);
  const json policies[] = {
      add_policy({{"name", "vm exec"}, {"kind", "exec"}, {"action", "deny"}, {"match", {{"path", {bin}}}}}),
      add_policy({{"name", "vm file"},
                  {"kind", "file"},
                  {"action", "deny"},
                  {"match", {{"path", {dir_.path() + "/"}}}}}),
      add_policy({{"name", "vm connect"},
                  {"kind", "connect"},
                  {"action", "deny"},
                  {"match", {{"dst", {"203.0.113.9/32"}}}}}),
      add_policy({{"name", "vm bind"},
                  {"kind", "bind"},
                  {"action", "deny"},
                  {"match", {{"addr", {"0.0.0.0/0"}}, {"port", {4242}}}}}),
  };
  for (const auto& p : policies) {
    EXPECT_EQ(p.value("mechanism", ""), "bpf_lsm") << p.dump();
    EXPECT_EQ(p.value("mechanism_detail", "").rfind("lsm/", 0), 0u) << p.dump();
  }

  EXPECT_EQ(bind_errno("0.0.0.0", 4242), EPERM);
  EXPECT_EQ(bind_errno("0.0.0.0", 4243), 0) << "another port still binds";
  const json events = wait_events("lsm.deny", "port", "4242");
  expect_events_of(events, policies[3], "deny");
}

// The harness's smoke test: adamd starts in the VM and finds BPF LSM usable.
TEST(VmAdamd, Node) {
  if (std::getenv("ADAM_VM") == nullptr) GTEST_SKIP() << "runs inside the BPF-LSM VM (tests/vm/run-in-vm.sh)";
  const auto before = Clock::now();
  Adamd adamd;
  ASSERT_TRUE(adamd.running());
  const auto start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - before).count();
  const json node = adamd.get("/api/v1/node").json();
  EXPECT_EQ(node["features"]["bpf_lsm"]["available"], true) << node["features"]["bpf_lsm"].dump();
  EXPECT_EQ(node["kernel"]["release"].get<std::string>().rfind("6.1.", 0), 0u) << node["kernel"].dump();
  std::cout << "ADAM-VM-MEASURE adamd_start_ms " << start_ms << "\n";
  std::cout << "ADAM-VM-MEASURE bpf_lsm " << node["features"]["bpf_lsm"]["detail"].get<std::string>() << "\n";
}

}  // namespace
}  // namespace adam::test
