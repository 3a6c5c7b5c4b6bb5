// `adamd --demo` (what `make run` starts): the lab comes up with traffic the
// firewall sees, and Ctrl-C/SIGTERM removes it.
#include <gtest/gtest.h>

#include <thread>

#include "support/adamd.h"
#include "support/netns.h"

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

}  // namespace
}  // namespace adam::test
