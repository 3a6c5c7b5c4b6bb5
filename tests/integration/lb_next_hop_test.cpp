// resolve_next_hop() (src/plugins/lb/next_hop.cpp) in a NetnsPair, from
// namespace a: the kernel's route and neighbour tables through rtnetlink, a
// missing neighbour resolved by the kernel on request (ARP, neighbour
// solicitation), gateways, on-link refusals, missing routes, MTU and source.
#include "plugins/lb/next_hop.h"

#include <gtest/gtest.h>
#include <net/if.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "support/netns.h"

namespace adam::test {
namespace {

using lb::NextHop;
using lb::parse_address;
using lb::resolve_next_hop;
using Mac = std::array<uint8_t, 6>;

Mac mac_of(const std::string& ns, const std::string& ifname) {
  const auto links = nlohmann::json::parse(capture("ip -j -n " + ns + " link show " + ifname));
  Mac mac{};
  const std::string text = links.at(0).at("address");
  EXPECT_EQ(std::sscanf(text.c_str(), "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
                        &mac[4], &mac[5]),
            6)
      << text;
  return mac;
}

// Asks every 20 ms until resolved or `within` has passed; the last answer.
NextHop resolve_within(const std::string& backend, bool on_link, std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  NextHop hop = resolve_next_hop(parse_address(backend, "backend"), on_link);
  while (!hop.resolved && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    hop = resolve_next_hop(parse_address(backend, "backend"), on_link);
  }
  return hop;
}

class NextHopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_root()) GTEST_SKIP() << "needs root (network namespaces)";
    pair_ = std::make_unique<NetnsPair>();
    ASSERT_EQ(pair_->exec(pair_->a(), "ip link set veth-a mtu 1400"), 0);
    veth_a_mac_ = mac_of(pair_->a(), "veth-a");
    veth_b_mac_ = mac_of(pair_->b(), "veth-b");
  }
  void TearDown() override {
    in_a_.reset();
    pair_.reset();
  }
  // Neighbour solicitations go out from the link-local address once its
  // duplicate address detection is over (as on any interface up for long).
  void wait_for_link_local_addresses() const {
    for (int i = 0; i < 100 && (!capture("ip -n " + pair_->a() + " -6 addr show tentative").empty() ||
                                !capture("ip -n " + pair_->b() + " -6 addr show tentative").empty());
         ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // From here on the test thread is in namespace a (rtnetlink follows it).
  void enter_a() { in_a_ = std::make_unique<ScopedNetns>(pair_->a()); }
  std::string neighbour_state(const std::string& address) const {
    return capture("ip -n " + pair_->a() + " neigh show " + address + " dev veth-a");
  }

  std::unique_ptr<NetnsPair> pair_;
  std::unique_ptr<ScopedNetns> in_a_;
  Mac veth_a_mac_{}, veth_b_mac_{};
};

TEST_F(NextHopTest, OnLinkBackendIsUnresolvedFirstThenResolvedToItsMacWithinASecond) {
  enter_a();
  const NextHop first = resolve_next_hop(parse_address("198.51.100.2", "backend"), true);
  EXPECT_FALSE(first.resolved);
  EXPECT_EQ(first.error, "resolving 198.51.100.2 on veth-a (ARP)");

  const NextHop hop = resolve_within("198.51.100.2", true, std::chrono::seconds(1));
  ASSERT_TRUE(hop.resolved) << hop.error;
  EXPECT_EQ(hop.error, "");
  EXPECT_EQ(hop.interface, "veth-a");
  EXPECT_EQ(hop.ifindex, if_nametoindex("veth-a"));
  EXPECT_EQ(hop.dst_mac, veth_b_mac_);
  EXPECT_EQ(hop.src_mac, veth_a_mac_);
  EXPECT_EQ(hop.mtu, 1400u);
  EXPECT_EQ(hop.source.to_string(), "198.51.100.1");
  EXPECT_NE(neighbour_state("198.51.100.2").find("REACHABLE"), std::string::npos)
      << neighbour_state("198.51.100.2");
}

TEST_F(NextHopTest, Ipv6BackendResolvesThroughNeighbourSolicitation) {
  wait_for_link_local_addresses();
  enter_a();
  const NextHop first = resolve_next_hop(parse_address("2001:db8:100::2", "backend"), true);
  EXPECT_FALSE(first.resolved);
  EXPECT_EQ(first.error, "resolving 2001:db8:100::2 on veth-a (neighbour solicitation)");

  const NextHop hop = resolve_within("2001:db8:100::2", true, std::chrono::seconds(1));
  ASSERT_TRUE(hop.resolved) << hop.error;
  EXPECT_EQ(hop.interface, "veth-a");
  EXPECT_EQ(hop.dst_mac, veth_b_mac_);
  EXPECT_EQ(hop.src_mac, veth_a_mac_);
  EXPECT_EQ(hop.mtu, 1400u);
  EXPECT_EQ(hop.source.family, 6);
  EXPECT_EQ(hop.source.to_string(), "2001:db8:100::1");
}

TEST_F(NextHopTest, BackendBehindAGatewayGetsTheGatewaysMacAndTheRoutesSourceButIsNotOnLink) {
  ASSERT_EQ(pair_->exec(pair_->a(),
                        "ip addr add 198.51.100.7/24 dev veth-a && "
                        "ip route add 203.0.113.0/24 via 198.51.100.2 src 198.51.100.7"),
            0);
  enter_a();
  const NextHop first = resolve_next_hop(parse_address("203.0.113.5", "backend"), false);
  EXPECT_FALSE(first.resolved);
  EXPECT_EQ(first.error, "resolving 198.51.100.2 on veth-a (ARP)");  // the gateway, not the backend

  const NextHop hop = resolve_within("203.0.113.5", false, std::chrono::seconds(1));
  ASSERT_TRUE(hop.resolved) << hop.error;
  EXPECT_EQ(hop.interface, "veth-a");
  EXPECT_EQ(hop.dst_mac, veth_b_mac_);
  EXPECT_EQ(hop.source.to_string(), "198.51.100.7");
  EXPECT_EQ(hop.mtu, 1400u);

  const NextHop on_link = resolve_next_hop(parse_address("203.0.113.5", "backend"), true);
  EXPECT_FALSE(on_link.resolved);
  EXPECT_EQ(on_link.error, "not on a directly connected segment: via 198.51.100.2");
}

TEST_F(NextHopTest, NoRouteBlackholeLocalAddressAndNonEthernetInterfaceAreErrors) {
  ASSERT_EQ(pair_->exec(pair_->a(),
                        "ip route add blackhole 203.0.113.128/25 && "
                        "ip route add unreachable 203.0.113.64/26 && "
                        "ip -6 route add blackhole 2001:db8:300::/48 && "
                        "ip tuntap add dev tun0 mode tun && ip link set tun0 up && "
                        "ip route add 203.0.113.32/27 dev tun0"),
            0);
  enter_a();
  const NextHop v4 = resolve_next_hop(parse_address("203.0.113.5", "backend"), false);
  EXPECT_FALSE(v4.resolved);
  EXPECT_EQ(v4.error, "no route to 203.0.113.5");
  const NextHop v6 = resolve_next_hop(parse_address("2001:db8:200::5", "backend"), false);
  EXPECT_FALSE(v6.resolved);
  EXPECT_EQ(v6.error, "no route to 2001:db8:200::5");
  const NextHop blackhole = resolve_next_hop(parse_address("203.0.113.130", "backend"), false);
  EXPECT_FALSE(blackhole.resolved);
  EXPECT_EQ(blackhole.error, "no route to 203.0.113.130 (a blackhole route)");
  EXPECT_EQ(resolve_next_hop(parse_address("203.0.113.70", "backend"), false).error,
            "no route to 203.0.113.70 (an unreachable route)");
  EXPECT_EQ(resolve_next_hop(parse_address("2001:db8:300::1", "backend"), false).error,
            "no route to 2001:db8:300::1 (a blackhole route)");
  const NextHop local = resolve_next_hop(parse_address("198.51.100.1", "backend"), true);
  EXPECT_FALSE(local.resolved);
  EXPECT_EQ(local.error, "198.51.100.1 is an address of this host");
  const NextHop tun = resolve_next_hop(parse_address("203.0.113.40", "backend"), false);
  EXPECT_FALSE(tun.resolved);
  EXPECT_EQ(tun.error, "interface tun0 is not an Ethernet device");
}

TEST_F(NextHopTest, AnAbsentHostFailsAndIsAskedForAgain) {
  // Three ARP requests 100 ms apart, then the entry fails.
  ASSERT_EQ(pair_->exec(pair_->a(), "sysctl -qw net.ipv4.neigh.veth-a.retrans_time_ms=100"), 0);
  enter_a();
  const NextHop first = resolve_next_hop(parse_address("198.51.100.9", "backend"), true);
  EXPECT_EQ(first.error, "resolving 198.51.100.9 on veth-a (ARP)");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (neighbour_state("198.51.100.9").find("FAILED") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_NE(neighbour_state("198.51.100.9").find("FAILED"), std::string::npos)
      << neighbour_state("198.51.100.9");

  const NextHop failed = resolve_next_hop(parse_address("198.51.100.9", "backend"), true);
  EXPECT_FALSE(failed.resolved);
  EXPECT_EQ(failed.error, "no ARP answer from 198.51.100.9 on veth-a (asking again)");
  EXPECT_NE(neighbour_state("198.51.100.9").find("INCOMPLETE"), std::string::npos)
      << neighbour_state("198.51.100.9");
}

}  // namespace
}  // namespace adam::test
