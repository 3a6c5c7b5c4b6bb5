// adamd's state dir, pin dir and signals as an attacker or a careless
// operator would try them: a second adamd on the same pins, symlinks planted
// where adamd writes, files others could read, SIGHUP and SIGUSR1.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/adamd.h"
#include "support/netns.h"
#include "support/sanitizers.h"

namespace adam::test {
namespace {

namespace fs = std::filesystem;

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// A directory of the test's own under /tmp, removed at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/adamt-files-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Waits until adamd's log holds `text`.
bool log_shows(const Adamd& d, const std::string& text,
               std::chrono::seconds within = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + scaled(within);
  while (std::chrono::steady_clock::now() < deadline) {
    if (d.log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST(DaemonFiles, SecondAdamdOnTheSamePinDirRefusesAndTheFirstKeepsItsPins) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  Adamd first;
  ASSERT_TRUE(first.running());
  Adamd::Options o;
  o.args = {"--pin-dir", first.pin_dir()};  // its own state dir, the first one's pins
  o.wait_healthy = false;
  Adamd second(o);
  EXPECT_EQ(second.wait_exit(30000), 1);
  EXPECT_NE(second.log().find("another adamd is already using pin dir " + first.pin_dir()), std::string::npos)
      << second.log();
  EXPECT_EQ(first.get("/healthz", "-").status, 200);
  EXPECT_TRUE(fs::exists(first.pin_dir() + "/xdp/chain")) << "the first adamd's XDP chain is still pinned";
  // Once the first is gone, its pin dir can be taken over (as after a restart).
  first.stop();
  second.start();
  EXPECT_TRUE(second.running()) << second.log();
}

// As on a machine that booted without bpffs (a container, an init that
// mounts nothing): adamd runs in a mount namespace of its own where
// /sys/fs/bpf is the bare sysfs directory. It must mount bpffs there before
// it makes its pin dir in it, not fail on the pin dir.
TEST(DaemonFiles, StartsWhereBpffsIsNotMountedAndPinsInTheBpffsItMounts) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF, unshare)";
  TempDir dir;
  const std::string wrapper = dir.file("adamd-without-bpffs");
  write_text(wrapper,
             "#!/bin/sh\n"
             "exec unshare --mount --propagation private sh -c "
             "'while umount /sys/fs/bpf 2>/dev/null; do :; done; exec \"$@\"' sh " ADAM_BUILD_DIR
             "/adamd \"$@\"\n");
  ASSERT_EQ(::chmod(wrapper.c_str(), 0700), 0);
  Adamd::Options o;
  o.binary = wrapper;
  Adamd d(o);
  ASSERT_TRUE(d.running());
  EXPECT_TRUE(log_shows(d, "mounted bpf on /sys/fs/bpf")) << d.log();
  EXPECT_EQ(d.get("/api/v1/node").status, 200);
  // Its XDP chain is pinned in the bpffs of its namespace, not in the test's.
  const std::string chain = d.pin_dir() + "/xdp/chain";
  EXPECT_TRUE(fs::exists("/proc/" + std::to_string(d.pid()) + "/root" + chain)) << d.log();
  EXPECT_FALSE(fs::exists(chain));
}

TEST(DaemonFiles, SymlinksPlantedInTheStateDirAreRefusedAndTheirTargetsUntouched) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  for (const std::string name : {"adamd.lock", "adam.db"}) {
    SCOPED_TRACE(name);
    TempDir state, elsewhere;
    const std::string target = elsewhere.file("precious");
    write_text(target, "not adamd's\n");
    ASSERT_EQ(::symlink(target.c_str(), state.file(name).c_str()), 0);
    Adamd::Options o;
    o.args = {"--state-dir", state.path()};
    o.wait_healthy = false;
    Adamd d(o);
    EXPECT_EQ(d.wait_exit(30000), 1);
    EXPECT_NE(d.log().find("refusing " + state.file(name) + ": it is a symbolic link"), std::string::npos)
        << d.log();
    EXPECT_EQ(file_text(target), "not adamd's\n");
  }
}

TEST(DaemonFiles, AStateDirOfAnotherUserIsRefused) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF, chown)";
  TempDir state;
  ASSERT_EQ(::chown(state.path().c_str(), 65534, 65534), 0);  // nobody
  Adamd::Options o;
  o.args = {"--state-dir", state.path()};
  o.wait_healthy = false;
  Adamd d(o);
  EXPECT_EQ(d.wait_exit(30000), 1);
  EXPECT_NE(d.log().find("refusing " + state.path() + ": owned by uid 65534"), std::string::npos) << d.log();
  EXPECT_TRUE(fs::is_empty(state.path())) << "nothing was created in it";
}

TEST(DaemonFiles, StateFilesAreForTheOwnerOnlyEvenWhenTheyWereLooser) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  TempDir state;
  ASSERT_EQ(::chmod(state.path().c_str(), 0755), 0);
  Adamd::Options o;
  o.args = {"--state-dir", state.path(), "--tls-self-signed"};
  o.https = true;
  {
    Adamd d(o);
    ASSERT_TRUE(d.running()) << d.log();
    // A write, so the WAL and its index exist (the token is in this state dir, not the harness's).
    std::string token = file_text(state.file("admin.token"));
    token.erase(token.find_last_not_of('\n') + 1);
    ASSERT_EQ(d.post("/api/v1/tokens", R"({"name":"reader","role":"viewer"})", token).status, 201);
    EXPECT_EQ(mode_of(state.path()), 0700u);
    for (const std::string name : {"adam.db", "adam.db-wal", "adam.db-shm", "adamd.lock", "admin.token",
                                   "tls/key.pem", "tls/cert.pem"})
      EXPECT_EQ(mode_of(state.file(name)), 0600u) << name;
    EXPECT_EQ(mode_of(state.file("tls")), 0700u);
  }
  // A database someone made readable is made the owner's again at the next start.
  ASSERT_EQ(::chmod(state.file("adam.db").c_str(), 0644), 0);
  Adamd again(o);
  ASSERT_TRUE(again.running()) << again.log();
  EXPECT_EQ(mode_of(state.file("adam.db")), 0600u);
  EXPECT_NE(again.log().find("adam.db had mode 0644: made 0600"), std::string::npos) << again.log();
}

TEST(DaemonFiles, ACorruptedDatabaseStopsAdamdNamingTheFileAndStaysAsItWas) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  TempDir state;
  std::string garbage(65536, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 2654435761u) >> 13);
  write_text(state.file("adam.db"), garbage);
  ASSERT_EQ(::chmod(state.file("adam.db").c_str(), 0600), 0);
  Adamd::Options o;
  o.args = {"--state-dir", state.path()};
  o.wait_healthy = false;
  Adamd d(o);
  EXPECT_EQ(d.wait_exit(30000), 1);
  EXPECT_NE(d.log().find(state.file("adam.db") + ": cannot read the schema version: file is not a database"),
            std::string::npos)
      << d.log();
  EXPECT_EQ(file_text(state.file("adam.db")), garbage);
  EXPECT_FALSE(fs::exists(state.file("adam.db-wal")));
  EXPECT_FALSE(fs::exists(state.file("admin.token"))) << "no token for a database that was never opened";
}

TEST(DaemonFiles, SighupReloadsRetentionAllOrNothingAndSigusr1IsIgnored) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  TempDir conf;
  const std::string config = conf.file("adamd.toml");
  write_text(config, "retention = \"7d\"\n");
  Adamd::Options o;
  o.args = {"--config", config};
  Adamd d(o);
  ASSERT_TRUE(d.running()) << d.log();

  write_text(config, "retention = \"90m\"\nmax_events = 1000\n");
  ASSERT_EQ(::kill(d.pid(), SIGHUP), 0);
  EXPECT_TRUE(log_shows(d, "SIGHUP: reloaded: log level debug, retention 90m, max events 1000")) << d.log();

  // A bad value: nothing changes, adamd goes on.
  write_text(config, "retention = \"soon\"\n");
  ASSERT_EQ(::kill(d.pid(), SIGHUP), 0);
  EXPECT_TRUE(log_shows(d, "SIGHUP: config not reloaded, nothing changed: --retention")) << d.log();

  // What only a restart can change is named, not silently ignored.
  write_text(config, "retention = \"90m\"\ndemo = true\n");
  ASSERT_EQ(::kill(d.pid(), SIGHUP), 0);
  EXPECT_TRUE(log_shows(d, "changed settings that take a restart, not applied: demo")) << d.log();

  ASSERT_EQ(::kill(d.pid(), SIGUSR1), 0);
  EXPECT_TRUE(log_shows(d, "SIGUSR1: ignored")) << d.log();
  EXPECT_EQ(d.get("/healthz", "-").status, 200);
  EXPECT_EQ(d.stop(), 0) << "SIGTERM still ends it cleanly";
}

}  // namespace
}  // namespace adam::test
