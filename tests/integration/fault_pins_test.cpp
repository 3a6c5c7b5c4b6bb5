// What a running adamd does when what a plugin attached goes away under it
// (issue #14, "Faults"): the firewall's interface deleted and re-created
// (the veth pair of the test's namespaces), its pins removed from bpffs. The
// plugin's state says so (GET /api/v1/plugins/firewall: "degraded" with the
// reason, an adamd event), and the re-created interface is filtered again.
// The shared XDP root's pin on its interface counts as the plugin's.
//
// a (sender)                       b (adamd, firewall on veth-b, receivers)
// veth-a 198.51.100.1/24      ⇄    veth-b 198.51.100.2/24
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/adamd.h"
#include "support/netns.h"
#include "support/udp.h"

namespace adam::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kB = "198.51.100.2";
constexpr uint16_t kDropped = 9000;  // the rule drops it
constexpr uint16_t kOpen = 9001;     // no rule

class FaultPinsTest : public NetnsAdamdTest {
 protected:
  void start_firewall(const json& config) {
    const auto r = adamd_->post("/api/v1/plugins/firewall/start", config.dump());
    ASSERT_EQ(r.status, 200) << r.body << adamd_->log();
    const json rule = {{"name", "drop udp 9000"},
                       {"action", "drop"},
                       {"match", {{"proto", {"udp"}}, {"dst_port", {kDropped}}}}};
    if (adamd_->get("/api/v1/firewall/rules").json()["rules"].empty())
      ASSERT_EQ(adamd_->post("/api/v1/firewall/rules", rule.dump()).status, 201);
  }

  // Datagrams to both ports: those to kDropped are dropped, those to kOpen arrive.
  void expect_filtering() {
    UdpReceiver dropped(pair_->b(), kB, kDropped), open(pair_->b(), kB, kOpen);
    send_udp(pair_->a(), kB, kDropped, 3);
    send_udp(pair_->a(), kB, kOpen, 3);
    EXPECT_EQ(open.drain(300ms), 3) << "port " << kOpen << " passes";
    EXPECT_EQ(dropped.drain(10ms), 0) << "port " << kDropped << " is dropped";
  }

  json plugin() { return adamd_->get("/api/v1/plugins/firewall").json(); }

  // Polls until the firewall's state is `state`; returns its resource.
  json await_state(const std::string& state) {
    json p;
    for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;
         std::this_thread::sleep_for(100ms))
      if ((p = plugin()).value("state", "") == state) return p;
    ADD_FAILURE() << "the firewall is not " << state << " within 10 s: " << p.dump() << "\n" << adamd_->log();
    return p;
  }

  // The adamd events of `kind` (plugin.degraded, plugin.repaired, ...),
  // once there is one (the writer commits within its batch window) or 5 s.
  json events(const std::string& kind) {
    json found = json::array();
    for (auto deadline = std::chrono::steady_clock::now() + 5s;
         found.empty() && std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(50ms))
      found = adamd_->get("/api/v1/events?plugin=adamd&kind=" + kind).json().value("events", json::array());
    return found;
  }

  void recreate_veth_pair() {
    const std::string a = pair_->a(), b = pair_->b();
    ASSERT_EQ(run("ip -n " + a + " link add veth-a type veth peer name veth-b netns " + b), 0);
    ASSERT_EQ(run("ip -n " + a + " addr add 198.51.100.1/24 dev veth-a"), 0);
    ASSERT_EQ(run("ip -n " + b + " addr add 198.51.100.2/24 dev veth-b"), 0);
    ASSERT_EQ(run("ip -n " + a + " link set veth-a up"), 0);
    ASSERT_EQ(run("ip -n " + b + " link set veth-b up"), 0);
  }
};

TEST_F(FaultPinsTest, AnInterfaceDeletedIsReportedAndReCreatedIsFilteredAgain) {
  const bool tcx = adamd_->get("/api/v1/node").json()["features"]["tcx"]["available"].get<bool>();
  for (const json& hook : {json("tc"), json("xdp")}) {
    if (hook == "tc" && !tcx) continue;
    SCOPED_TRACE("hook " + hook.dump());
    start_firewall({{"interfaces", {"veth-b"}}, {"hook", hook}});
    expect_filtering();

    ASSERT_EQ(run("ip -n " + pair_->a() + " link del veth-a"), 0);  // takes veth-b with it
    const json degraded = await_state("degraded");
    EXPECT_NE(degraded.value("reason", "").find("'veth-b' is gone"), std::string::npos) << degraded.dump();
    EXPECT_FALSE(events("plugin.degraded").empty()) << "an adamd event says so";

    recreate_veth_pair();
    const json running = await_state("running");
    EXPECT_EQ(running.value("reason", "x"), "") << running.dump();
    expect_filtering();
    if (hook == "tc")
      EXPECT_EQ(tc_ingress_prog_ids(pair_->b(), "veth-b").size(), 1u);
    else
      EXPECT_NE(xdp_mode_of(pair_->b(), "veth-b"), "none");
    EXPECT_FALSE(events("plugin.repaired").empty());
    ASSERT_EQ(adamd_->post("/api/v1/plugins/firewall/stop").status, 200);
  }
}

TEST_F(FaultPinsTest, PinsRemovedAreReportedAndAStartPinsAnew) {
  start_firewall({{"interfaces", {"veth-b"}}});
  const std::string dir = adamd_->pin_dir() + "/firewall";
  std::vector<std::filesystem::path> pins;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.is_regular_file() || !entry.is_directory()) pins.push_back(entry.path());
  ASSERT_FALSE(pins.empty()) << "the firewall pins under " << dir;
  for (const auto& pin : pins) std::filesystem::remove(pin);

  const json degraded = await_state("degraded");
  EXPECT_NE(degraded.value("reason", "").find("pin(s) removed"), std::string::npos) << degraded.dump();
  EXPECT_FALSE(events("plugin.degraded").empty());
  expect_filtering();  // the links adamd holds keep the programs attached

  // Starting it again (the same config) re-creates what it pins.
  const auto again = adamd_->post("/api/v1/plugins/firewall/start", plugin()["config"].dump());
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json().value("state", ""), "running") << again.body;
  EXPECT_FALSE(std::filesystem::is_empty(dir));
  std::this_thread::sleep_for(1500ms);  // a check of the new pins: nothing to report
  EXPECT_EQ(plugin().value("state", ""), "running");
  expect_filtering();
}

TEST_F(FaultPinsTest, TheXdpRootsPinRemovedIsReported) {
  start_firewall({{"interfaces", {"veth-b"}}, {"hook", "xdp"}});
  const std::filesystem::path root = adamd_->pin_dir() + "/xdp/root@veth-b";
  ASSERT_TRUE(std::filesystem::exists(root)) << "the firewall runs behind the shared XDP root on veth-b";
  std::filesystem::remove(root);

  const json degraded = await_state("degraded");
  EXPECT_NE(degraded.value("reason", "").find(root.string()), std::string::npos) << degraded.dump();
  EXPECT_FALSE(events("plugin.degraded").empty());
  expect_filtering();  // the root link adamd holds stays attached
}

}  // namespace
}  // namespace adam::test
