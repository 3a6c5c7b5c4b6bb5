// The console in Chromium against a real adamd (tests/browser/console.mjs):
// token create and revoke through the page, the firewall started through its
// generated form and stopped again.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/adamd.h"
#include "support/netns.h"

namespace adam::test {
namespace {

using ConsoleBrowserTest = NetnsAdamdTest;

TEST_F(ConsoleBrowserTest, TokensAndPluginStartWorkInChromium) {
  if (!std::filesystem::exists("/usr/bin/chromium"))
    GTEST_SKIP() << "no /usr/bin/chromium (scripts/install-deps.sh)";
  const std::string screenshots = std::string(ADAM_BUILD_DIR) + "/screenshots";
  std::filesystem::create_directories(screenshots);
  // Node (and Chromium) run in adamd's namespace, where its loopback address is.
  const std::string command = "cd " + std::string(ADAM_SOURCE_DIR) + " && node tests/browser/console.mjs " +
                              adamd_->url() + " " + adamd_->admin_token() + " veth-b " + screenshots;
  ASSERT_EQ(pair_->exec(pair_->b(), command), 0) << adamd_->log();

  for (const auto& t : adamd_->get("/api/v1/tokens").json()["tokens"]) EXPECT_NE(t["name"], "browser-made");
  const auto firewall = adamd_->get("/api/v1/plugins/firewall").json();
  EXPECT_EQ(firewall["state"], "stopped");
  EXPECT_EQ(firewall["config"]["interfaces"], nlohmann::json({"veth-b"}));
  EXPECT_EQ(firewall["config"]["hook"], "tc");
  EXPECT_TRUE(std::filesystem::exists(screenshots + "/console.png"));
}

}  // namespace
}  // namespace adam::test
