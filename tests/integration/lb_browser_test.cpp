// The Load balancer page in Chromium (tests/browser/lb.mjs) against a real
// adamd balancing on veth-b, with backends on namespace a's side of the
// segment and UDP to the VIP from there: a service added through the form,
// listed with its backends, one drained and one weighted, explain, the
// rates chart; a screenshot for docs/screenshots/lb.png.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "support/adamd.h"
#include "support/netns.h"

namespace adam::test {
namespace {

using LbBrowserTest = NetnsAdamdTest;

TEST_F(LbBrowserTest, AServiceIsAddedListedDrainedAndWeightedThroughThePage) {
  if (!std::filesystem::exists("/usr/bin/chromium"))
    GTEST_SKIP() << "no /usr/bin/chromium (scripts/install-deps.sh)";
  for (const char* address : {"198.51.100.11", "198.51.100.12", "198.51.100.13"})
    ASSERT_EQ(pair_->exec(pair_->a(), std::string("ip addr add ") + address + "/24 dev veth-a"), 0);
  ASSERT_EQ(pair_->exec(pair_->a(), "ip route add 203.0.113.10/32 via 198.51.100.2"), 0);
  auto r = adamd_->post("/api/v1/plugins/lb/start", R"({"interfaces":["veth-b"]})");
  ASSERT_EQ(r.status, 200) << r.body << adamd_->log();
  const std::string screenshots = std::string(ADAM_BUILD_DIR) + "/screenshots";
  std::filesystem::create_directories(screenshots);
  // UDP datagrams to the VIP from a, each from a new port, ~100 a second
  // for at most two minutes; stopped by their pid when the test ends.
  const std::string pid_file =
      std::filesystem::temp_directory_path() / ("adamt-udp-" + std::to_string(getpid()));
  ASSERT_EQ(pair_->exec(pair_->a(),
                        "timeout 120 bash -c 'while :; do echo x > /dev/udp/203.0.113.10/53; sleep 0.01; "
                        "done' >/dev/null 2>&1 & echo $! > " +
                            pid_file),
            0);
  struct StopSender {
    std::string pid_file;
    ~StopSender() {
      int pid = 0;
      if (std::ifstream(pid_file) >> pid && pid > 0) ::kill(pid, SIGTERM);
      std::filesystem::remove(pid_file);
    }
  } stop_sender{pid_file};

  // Node (and Chromium) run in adamd's namespace, where its loopback address is.
  const std::string command = "cd " + std::string(ADAM_SOURCE_DIR) + " && node tests/browser/lb.mjs " +
                              adamd_->url() + " " + adamd_->admin_token() + " " + screenshots;
  ASSERT_EQ(pair_->exec(pair_->b(), command), 0) << adamd_->log();
  EXPECT_TRUE(std::filesystem::exists(screenshots + "/lb.png"));
  const auto services = adamd_->get("/api/v1/lb/services").json()["services"];
  ASSERT_EQ(services.size(), 1u);
  uint64_t packets = 0;
  for (const auto& b : services[0]["backends"]) packets += b["stats"]["packets"].get<uint64_t>();
  EXPECT_GT(packets, 0u) << "the datagrams to the VIP were balanced";
}

}  // namespace
}  // namespace adam::test
