// The firewall's console page in Chromium (tests/browser/firewall.mjs)
// against a real adamd in a lab namespace whose interface sees pings from
// the other one the whole time: the rule form, live counters and flow chart,
// explain, field errors, paging and search of 10,000 rules.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "support/adamd.h"
#include "support/netns.h"

namespace adam::test {
namespace {

using FirewallBrowserTest = NetnsAdamdTest;

TEST_F(FirewallBrowserTest, ThePageManagesRulesWhileTrafficRuns) {
  if (!std::filesystem::exists("/usr/bin/chromium"))
    GTEST_SKIP() << "no /usr/bin/chromium (scripts/install-deps.sh)";
  const std::string screenshots = std::string(ADAM_BUILD_DIR) + "/screenshots";
  std::filesystem::create_directories(screenshots);
  // Pings from namespace a, 20 a second, for at most two minutes; stopped
  // by their pid when the test ends.
  const std::string pid_file =
      std::filesystem::temp_directory_path() / ("adamt-ping-" + std::to_string(getpid()));
  ASSERT_EQ(pair_->exec(pair_->a(),
                        "timeout 120 ping -q -i 0.05 198.51.100.2 >/dev/null 2>&1 & echo $! > " + pid_file),
            0);
  struct StopPing {
    std::string pid_file;
    ~StopPing() {
      int pid = 0;
      if (std::ifstream(pid_file) >> pid && pid > 0) ::kill(pid, SIGTERM);
      std::filesystem::remove(pid_file);
    }
  } stop_ping{pid_file};

  // Node (and Chromium) run in adamd's namespace, where its loopback address is.
  const std::string command = "cd " + std::string(ADAM_SOURCE_DIR) + " && node tests/browser/firewall.mjs " +
                              adamd_->url() + " " + adamd_->admin_token() + " veth-b " + screenshots;
  ASSERT_EQ(pair_->exec(pair_->b(), command), 0) << adamd_->log();
  EXPECT_TRUE(std::filesystem::exists(screenshots + "/firewall.png"));
  EXPECT_EQ(adamd_->get("/api/v1/firewall/rules?limit=1").json()["total"], 10000);
}

}  // namespace
}  // namespace adam::test
