// The fleet in Chromium (tests/browser/fleet.mjs) against two real adamds:
// A in namespace a, B in namespace b over HTTPS with a self-signed
// certificate. The browser adds B on A's Machines page with its pinned
// fingerprint, selects it from the Fleet page and adds a rule on B's
// Firewall page through A; then B gets a new certificate and B's page on A
// says so.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/adamd.h"
#include "support/netns.h"

namespace adam::test {
namespace {

TEST(FleetBrowserTest, AddSelectAndActOnASecondMachineInChromium) {
  if (!have_root()) GTEST_SKIP() << "needs root (network namespaces, BPF)";
  if (!std::filesystem::exists("/usr/bin/chromium"))
    GTEST_SKIP() << "no /usr/bin/chromium (scripts/install-deps.sh)";
  NetnsPair pair;
  Adamd a({.netns = pair.a()});
  Adamd b({.netns = pair.b(), .args = {"--tls-self-signed"}, .listen_host = "0.0.0.0", .https = true});
  ASSERT_TRUE(a.running() && b.running());
  const std::string screenshots = std::string(ADAM_BUILD_DIR) + "/screenshots";
  std::filesystem::create_directories(screenshots);
  auto browse = [&](const std::string& phase) {
    const std::string fingerprint = b.get("/api/v1/node").json()["tls"]["fingerprint"];
    // Node (and Chromium) run in A's namespace: B is at its veth address there.
    const std::string command = "cd " + std::string(ADAM_SOURCE_DIR) + " && node tests/browser/fleet.mjs " +
                                a.url() + " " + a.admin_token() +
                                " https://198.51.100.2:" + std::to_string(b.port()) + " " + b.admin_token() +
                                " " + fingerprint + " " + screenshots + " " + phase;
    return pair.exec(pair.a(), command);
  };

  ASSERT_EQ(browse("add"), 0) << a.log();
  const auto on_b = b.get("/api/v1/firewall/rules").json()["rules"];
  ASSERT_EQ(on_b.size(), 2u) << on_b.dump();
  EXPECT_EQ(on_b[0]["name"], "added in the browser");
  EXPECT_EQ(on_b[1]["name"], "copy me");
  // Only the copied rule is on A: the form's rules landed on B.
  const auto on_a = a.get("/api/v1/firewall/rules").json()["rules"];
  ASSERT_EQ(on_a.size(), 1u) << on_a.dump();
  EXPECT_EQ(on_a[0]["name"], "copy me");
  EXPECT_EQ(on_a[0]["match"]["src"], nlohmann::json({"198.51.100.77/32"}));
  EXPECT_TRUE(std::filesystem::exists(screenshots + "/machines.png"));
  EXPECT_TRUE(std::filesystem::exists(screenshots + "/fleet.png"));

  b.stop();
  std::filesystem::remove_all(b.state_dir() + "/tls");
  b.start();
  EXPECT_EQ(browse("changed"), 0) << a.log();
}

}  // namespace
}  // namespace adam::test
