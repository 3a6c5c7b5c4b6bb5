// The console's core pages in Chromium against a real adamd
// (tests/browser/console.mjs): login, dashboard with the live rates chart,
// the firewall started through its generated form (a field error first) and
// stopped, the events page's filters, export and live mode, tokens and what
// a viewer sees. Pings from namespace a give the chart traffic meanwhile.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "support/adamd.h"
#include "support/netns.h"

namespace adam::test {
namespace {

using ConsoleBrowserTest = NetnsAdamdTest;

TEST_F(ConsoleBrowserTest, LoginDashboardEventsAndTokensWorkInChromium) {
  if (!std::filesystem::exists("/usr/bin/chromium"))
    GTEST_SKIP() << "no /usr/bin/chromium (scripts/install-deps.sh)";
  const std::string screenshots = std::string(ADAM_BUILD_DIR) + "/screenshots";
  std::filesystem::create_directories(screenshots);
  // Traffic for the firewall's counters while the test runs (at most 3 minutes).
  std::thread traffic(
      [&] { pair_->exec(pair_->a(), "timeout 180 ping -q -i 0.1 198.51.100.2 >/dev/null 2>&1"); });
  // Node (and Chromium) run in adamd's namespace, where its loopback address is.
  const std::string command = "cd " + std::string(ADAM_SOURCE_DIR) + " && node tests/browser/console.mjs " +
                              adamd_->url() + " " + adamd_->admin_token() + " veth-b " + screenshots;
  const int status = pair_->exec(pair_->b(), command);
  // The ping is all that runs in namespace a.
  std::system(("ip netns pids " + pair_->a() + " | xargs -r kill").c_str());
  traffic.join();
  ASSERT_EQ(status, 0) << adamd_->log();

  const auto tokens = adamd_->get("/api/v1/tokens").json();
  for (const auto& t : tokens["tokens"]) {
    EXPECT_NE(t["name"], "browser-made");
    EXPECT_NE(t["name"], "live-viewer");
  }
  const auto firewall = adamd_->get("/api/v1/plugins/firewall").json();
  EXPECT_EQ(firewall["state"], "stopped");
  EXPECT_EQ(firewall["config"]["interfaces"], nlohmann::json({"veth-b"}));
  EXPECT_EQ(firewall["config"]["hook"], "tc");
  for (const char* shot : {"login.png", "dashboard.png", "events.png", "tokens.png"})
    EXPECT_TRUE(std::filesystem::exists(screenshots + "/" + shot)) << shot;
}

}  // namespace
}  // namespace adam::test
