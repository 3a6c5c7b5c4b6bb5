// `adamd --demo` (what `make run` starts): the lab comes up with traffic the
// firewall sees, and Ctrl-C/SIGTERM removes it.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <thread>
#include <vector>

#include "support/adamd.h"
#include "support/netns.h"
#include "support/proc.h"

namespace adam::test {
namespace {

TEST(DemoLab, ComesUpWithTrafficAndIsRemovedOnShutdown) {
  if (!have_root()) GTEST_SKIP() << "needs root (network namespaces, BPF)";
  if (capture("ip netns list").find("adam-demo") != std::string::npos)
    GTEST_SKIP() << "a demo lab is running on this machine (make run?): not touching it";
  NetnsPair pair;  // adamd's host side of the lab lives in b, not on the machine's own network
  Adamd::Options o;
  o.netns = pair.b();
  o.args = {"--demo"};
  Adamd adamd(o);
  ASSERT_TRUE(adamd.running());
  EXPECT_NE(capture("ip netns list").find("adam-demo"), std::string::npos);
  EXPECT_NE(adamd.log().find("listening on http://127.0.0.1:"), std::string::npos) << adamd.log();
  EXPECT_NE(adamd.log().find("admin token: " + adamd.state_dir() + "/admin.token"), std::string::npos);

  auto r = adamd.post("/api/v1/plugins/firewall/start", R"({"interfaces":["adam-demo0"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  uint64_t seen = 0;
  for (int i = 0; i < 50 && seen < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    seen = adamd.get("/api/v1/plugins/firewall").json()["stats"]["packets"]["pass"].get<uint64_t>();
  }
  EXPECT_GE(seen, 4u) << "the lab's background pings reach the firewall";

  EXPECT_EQ(adamd.stop(), 0);
  EXPECT_EQ(capture("ip netns list").find("adam-demo"), std::string::npos)
      << "the lab is gone after shutdown";
  EXPECT_NE(pair.exec(pair.b(), "ip link show adam-demo0 >/dev/null 2>&1"), 0)
      << "the veth pair went with it";
}

// Whether a process runs (a zombie nobody reaps does not).
bool alive(const ProcStat& stat) { return !stat.fields.empty() && stat.fields[0] != "Z"; }

// The running children of `parent` whose command is `comm`.
std::vector<int> children_named(int parent, const std::string& comm) {
  std::vector<int> found = children_of(parent);
  std::erase_if(found, [&](int pid) {
    const ProcStat stat = proc_stat(pid);
    return !alive(stat) || stat.comm != comm;
  });
  return found;
}

// The lab's three pings under `adamd` once `ip netns exec` has become ping
// (up to 5 s after adamd answers).
std::vector<int> lab_pings(int adamd) {
  std::vector<int> pings;
  for (int i = 0; i < 100 && (pings = children_named(adamd, "ping")).size() < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return pings;
}

// A killed adamd runs no destructor: the lab's pings must not outlive it
// (they would ping on, unowned, until the machine reboots), and the next
// start replaces the namespace it left.
TEST(DemoLab, ItsTrafficDiesWithAKilledAdamdAndTheNextStartRebuildsIt) {
  if (!have_root()) GTEST_SKIP() << "needs root (network namespaces, BPF)";
  if (capture("ip netns list").find("adam-demo") != std::string::npos)
    GTEST_SKIP() << "a demo lab is running on this machine (make run?): not touching it";
  struct LabLeftovers {  // what a failed test would leave: a killed adamd's lab
    ~LabLeftovers() {
      capture("ip netns pids adam-demo 2>/dev/null | xargs -r kill; ip netns delete adam-demo 2>/dev/null");
    }
  } leftovers;
  NetnsPair pair;
  Adamd::Options o;
  o.netns = pair.b();
  o.args = {"--demo"};
  Adamd adamd(o);
  ASSERT_TRUE(adamd.running());
  const std::vector<int> pings = lab_pings(adamd.pid());
  ASSERT_EQ(pings.size(), 3u) << "two pings in the lab's namespace, one on the host side";

  adamd.kill9();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::vector<int> running = pings;
  while (!running.empty() && std::chrono::steady_clock::now() < deadline) {
    std::erase_if(running, [](int pid) { return !alive(proc_stat(pid)); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(running.empty()) << running.size() << " of the lab's pings outlived the killed adamd";
  for (int pid : running) ::kill(pid, SIGKILL);
  EXPECT_NE(capture("ip netns list").find("adam-demo"), std::string::npos)
      << "the namespace stays: nothing ran to remove it";

  adamd.start();
  ASSERT_TRUE(adamd.running());
  EXPECT_EQ(lab_pings(adamd.pid()).size(), 3u) << "a new lab, with its traffic";
  EXPECT_EQ(adamd.stop(), 0);
  EXPECT_EQ(capture("ip netns list").find("adam-demo"), std::string::npos)
      << "the lab is gone after shutdown";
}

}  // namespace
}  // namespace adam::test
