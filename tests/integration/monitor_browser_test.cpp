// The monitor's Processes page in Chromium (tests/browser/monitor.mjs)
// against a real adamd running the monitor: a known three-level chain
// (sh → sh → a sleep whose comm is markup) found in the live tree, opened,
// its ancestors to pid 1, its exec event, every event of its exec id on the
// Events page and back through the event's process link; the tree at a
// moment before the chain started lacks it; hostile comm and args are text.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "core/time_range.h"
#include "support/adamd.h"
#include "support/netns.h"
#include "support/sanitizers.h"

namespace adam::test {
namespace {

using MonitorBrowserTest = NetnsAdamdTest;
using nlohmann::json;

// A process group the test starts and kills (with everything it spawned)
// when it ends, passed or failed.
struct ProcessGroup {
  pid_t pid = -1;
  ~ProcessGroup() {
    if (pid <= 0) return;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

struct TempDir {
  std::string path;
  ~TempDir() { std::filesystem::remove_all(path); }
};

TEST_F(MonitorBrowserTest, TheProcessesPageShowsAChainLiveAndInThePast) {
  if (!std::filesystem::exists("/usr/bin/chromium"))
    GTEST_SKIP() << "no /usr/bin/chromium (scripts/install-deps.sh)";
  const auto started = adamd_->post("/api/v1/plugins/monitor/start", "{}");
  ASSERT_EQ(started.status, 200) << started.body;
  if (started.json()["state"] == "unsupported")
    GTEST_SKIP() << "monitor unsupported: " << started.json()["reason"];
  ASSERT_EQ(started.json()["state"], "running") << started.body;
  // The start snapshot is what ?at= replays from: stored before the chosen moment.
  const auto deadline = std::chrono::steady_clock::now() + scaled(std::chrono::seconds(20));
  while (adamd_->get("/api/v1/events?plugin=monitor&kind=process.snapshot").json()["events"].empty()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no process.snapshot event after the start";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // A whole second (what the page's datetime input holds) before the chain starts.
  const TimeNs next_second = (now_ns() / 1'000'000'000 + 1) * 1'000'000'000;
  const std::string before = format_rfc3339(next_second).substr(0, 19);
  std::this_thread::sleep_until(std::chrono::system_clock::time_point(std::chrono::nanoseconds(next_second)) +
                                std::chrono::milliseconds(1200));

  // The chain: the outer sh's script holds the marker and markup; the leaf
  // is sleep through a link whose name is markup, so that is its comm.
  TempDir dir{std::filesystem::temp_directory_path() / ("adamt-monbrowser-" + std::to_string(::getpid()))};
  std::filesystem::create_directories(dir.path);
  const std::string leaf = dir.path + "/<i onclick=x>";
  std::filesystem::create_symlink("/bin/sleep", leaf);
  const std::string marker = "adam-mon-browser-" + std::to_string(::getpid());
  const std::string script =
      "/bin/sh -c '\"$0\" 60; true' \"$0\"; true # " + marker + " <script>alert(1)</script>";
  ProcessGroup chain;
  chain.pid = ::fork();
  ASSERT_GE(chain.pid, 0);
  if (chain.pid == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sh", "sh", "-c", script.c_str(), leaf.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(chain.pid, chain.pid);

  const std::string screenshots = std::string(ADAM_BUILD_DIR) + "/screenshots";
  std::filesystem::create_directories(screenshots);
  // Node (and Chromium) run in adamd's namespace, where its loopback address is.
  const std::string command = "cd " + std::string(ADAM_SOURCE_DIR) + " && node tests/browser/monitor.mjs " +
                              adamd_->url() + " " + adamd_->admin_token() + " " + marker + " " +
                              std::to_string(chain.pid) + " " + before + " " + screenshots;
  ASSERT_EQ(pair_->exec(pair_->b(), command), 0) << adamd_->log();
  for (const char* shot : {"processes.png", "process.png"})
    EXPECT_TRUE(std::filesystem::exists(screenshots + "/" + shot)) << shot;
}

}  // namespace
}  // namespace adam::test
