// The firewall's kernel classifier (bpf/firewall.bpf.c through fw::Datapath),
// run with BPF_PROG_TEST_RUN on frames built here, through both entry
// points (XDP and tc): a fixture table of protocols, headers and malformed
// frames; a differential test against reference_classify() on random rulesets; the atomicity of ruleset
// replacement; counters and pin adoption; the plugin's apply/explain/stats.
#include "core/xdp_test_run.h"
#include "plugins/firewall/datapath.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <net/if.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "adam/xdp_chain.h"  // slot numbers
#include "core/errors.h"
#include "core/kernel.h"
#include "core/plugin.h"
#include "core/xdp_chain.h"
#include "plugins/firewall/firewall_plugin.h"
#include "support/firewall_random.h"
#include "support/frames.h"
#include "support/netns.h"

namespace adam::test {
namespace {

namespace fs = std::filesystem;
using fw::Action;
using fw::Match;
using fw::PacketKey;
using fw::Rule;
using fw::Ruleset;

// --- frames (support/frames.h) ----------------------------------------------

constexpr size_t kEthHeaderLen = 14;
constexpr uint16_t kIpv4 = kEthIpv4, kIpv6 = kEthIpv6, kArp = kEthArp, kQ = kEthQ, kAd = kEthAd;
constexpr uint8_t kHop = 0, kRouting = 43, kFragment = 44, kAh = 51, kDstOpts = 60;
constexpr uint8_t kTcp = fw::kProtoTcp, kUdp = fw::kProtoUdp, kIcmp = fw::kProtoIcmp,
                  kIcmp6 = fw::kProtoIcmpv6;

// --- rules -------------------------------------------------------------------

fw::Prefix prefix(const char* text, uint8_t len) {
  fw::Prefix p;
  const bool v6 = std::string(text).find(':') != std::string::npos;
  p.family = v6 ? 6 : 4;
  p.len = len;
  const Bytes a = v6 ? a6(text) : a4(text);
  std::copy(a.begin(), a.end(), p.addr.begin());
  return p;
}

Ruleset rules(Action default_action, std::vector<Rule> list) {
  Ruleset rs;
  rs.default_action = default_action;
  rs.rules = std::move(list);
  return rs;
}

// --- fixture -----------------------------------------------------------------

// A network namespace of the test's own with lo, veth-b and other0; the
// firewall program loaded on a fresh XDP chain, classifying lo and veth-b.
class FirewallDatapathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_root()) GTEST_SKIP() << "needs root";
    pair_ = std::make_unique<NetnsPair>();
    // other0: an interface the firewall is not started on.
    ASSERT_EQ(run("ip -n " + pair_->b() + " link add other0 type veth peer name other1"), 0);
    in_b_ = std::make_unique<ScopedNetns>(pair_->b());
    pins_ = std::make_unique<PinDir>();
    chain_ = std::make_unique<XdpChain>(pins_->path());
    lo_ = if_nametoindex("lo");
    veth_ = if_nametoindex("veth-b");
    other_ = if_nametoindex("other0");
    ASSERT_NE(veth_, 0u);
    ASSERT_NE(other_, 0u);
    datapath_ = open_datapath();
  }

  std::unique_ptr<fw::Datapath> open_datapath() {
    auto dp = std::make_unique<fw::Datapath>(chain_->chain_fd(), pin_dir());
    dp->set_interfaces({lo_, veth_});
    return dp;
  }
  std::string pin_dir() const { return pins_->path() + "/firewall"; }
  fw::IfindexMap interfaces() const { return {{"lo", lo_}, {"veth-b", veth_}}; }
  void apply(const Ruleset& rs) { datapath_->apply(rs, interfaces()); }

  // Runs the program like a real packet (no explain metadata: it counts).
  void count_run(const Bytes& frame, uint32_t ifindex, uint32_t repeat) {
    xdp_test_run(datapath_->prog_fd(), frame, ifindex, repeat);
  }

  // Runs the tc entry point once on `frame`, as an skb arriving on `ifindex`;
  // returns its tc verdict, or nothing when BPF_PROG_TEST_RUN refuses the
  // frame (EINVAL: it builds no skb of an IPv4/IPv6 frame whose IP header
  // is cut short).
  std::optional<int> tc_run(const Bytes& frame, uint32_t ifindex) const {
    const auto run = tc_test_run(datapath_->tc_prog_fd(), frame, ifindex);
    if (!run) return std::nullopt;
    return run->verdict;
  }
  // The tc entry's decision on `frame`: its verdict, and the rule whose
  // counter it counted (0: none). The tc entry has no explain metadata: the
  // counters tell which rule decided.
  std::pair<std::optional<int>, uint32_t> tc_decision(const Bytes& frame, uint32_t ifindex) const {
    const auto before = datapath_->rule_counters();
    const std::optional<int> verdict = tc_run(frame, ifindex);
    uint32_t rule = 0;
    for (const auto& [id, counter] : datapath_->rule_counters()) {
      const auto it = before.find(id);
      if (counter.packets == (it == before.end() ? 0 : it->second.packets)) continue;
      EXPECT_EQ(rule, 0u) << "rules " << rule << " and " << id << " both counted the frame";
      rule = id;
    }
    return {verdict, rule};
  }
  static constexpr int kTcNext = -1;  // TC_ACT_UNSPEC: tcx's "next program"
  static constexpr int kTcShot = 2;   // TC_ACT_SHOT

  std::unique_ptr<NetnsPair> pair_;
  std::unique_ptr<ScopedNetns> in_b_;
  std::unique_ptr<PinDir> pins_;
  std::unique_ptr<XdpChain> chain_;
  std::unique_ptr<fw::Datapath> datapath_;
  uint32_t lo_ = 0, veth_ = 0, other_ = 0;
};

// --- the fixture table -----------------------------------------------------

enum class On { veth, lo, other };

struct Row {
  std::string what;
  Bytes frame;
  const Ruleset* ruleset;
  int xdp_action;  // XDP_DROP or XDP_PASS
  uint32_t rule_id;
  On iface = On::veth;
};

TEST_F(FirewallDatapathTest, DecidesEveryFixtureFrame) {
  const Bytes h1 = a4("198.51.100.1"), h2 = a4("198.51.100.2"), h99 = a4("198.51.100.99"),
              far4 = a4("198.51.100.200"), tn5 = a4("203.0.113.5");
  const Bytes s6 = a6("2001:db8:100::1"), d6 = a6("2001:db8:100::2"), net200 = a6("2001:db8:200::1"),
              net1 = a6("2001:db8:1::9"), far6 = a6("2001:db8:2::1");

  // The protocols ruleset (default pass).
  Match ssh, dns, icmp_from, web6, icmp6, gre, sport, net6, host99;
  ssh.dst = {prefix("198.51.100.2", 32)};
  ssh.proto = {kTcp};
  ssh.dst_port = {{22, 22}};
  dns.proto = {kUdp};
  dns.dst_port = {{53, 53}};
  icmp_from.src = {prefix("203.0.113.0", 24)};
  icmp_from.proto = {kIcmp};
  web6.dst = {prefix("2001:db8:100::2", 128)};
  web6.proto = {kTcp};
  web6.dst_port = {{80, 80}};
  icmp6.proto = {kIcmp6};
  gre.proto = {47};
  sport.src_port = {{1000, 2000}};  // ports, no protocol: TCP and UDP only
  net6.dst = {prefix("2001:db8:200::", 48)};
  host99.dst = {prefix("198.51.100.99", 32)};
  const Ruleset protocols =
      rules(Action::pass, {make_rule(10, 10, Action::drop, ssh), make_rule(20, 20, Action::drop, dns),
                           make_rule(30, 30, Action::drop, icmp_from), make_rule(40, 40, Action::drop, web6),
                           make_rule(50, 50, Action::drop, icmp6), make_rule(60, 60, Action::drop, gre),
                           make_rule(70, 70, Action::drop, sport), make_rule(80, 80, Action::drop, net6),
                           make_rule(90, 90, Action::drop, host99)});

  // The malformed-frames ruleset (default drop): rule 4 is the only one an
  // unparsed frame can match (no L3/L4 condition).
  Match near, any_port, tcp_udp, on_veth;
  near.dst = {prefix("198.51.100.0", 25), prefix("2001:db8:1::", 48)};
  any_port.dst_port = {{0, 65535}};
  tcp_udp.proto = {kTcp, kUdp};
  on_veth.iface = {"veth-b"};
  const Ruleset malformed =
      rules(Action::drop, {make_rule(1, 1, Action::drop, near), make_rule(2, 2, Action::drop, any_port),
                           make_rule(3, 3, Action::drop, tcp_udp), make_rule(4, 4, Action::pass, on_veth)});

  Match to_h2;
  to_h2.dst = {prefix("198.51.100.2", 32)};
  const Ruleset ties =
      rules(Action::pass, {make_rule(7, 5, Action::pass, to_h2), make_rule(3, 5, Action::drop, to_h2)});
  Ruleset disabled =
      rules(Action::drop, {make_rule(1, 1, Action::drop, to_h2), make_rule(2, 2, Action::pass, to_h2)});
  disabled.rules[0].enabled = false;
  const Ruleset empty_drop = rules(Action::drop, {});
  const Ruleset empty_pass = rules(Action::pass, {});
  Match on_lo;
  on_lo.iface = {"lo"};
  const Ruleset lo_only = rules(Action::pass, {make_rule(1, 1, Action::drop, on_lo)});
  const Ruleset drop_all = rules(Action::pass, {make_rule(1, 1, Action::drop)});

  const Bytes nops12(12, 1), nops40(40, 1);
  const Bytes arp = ether(kArp, Bytes{0, 1, 8, 0, 6, 4, 0, 1} + zeros(20));
  const Bytes seven_ext = ext6(kDstOpts) + ext6(kDstOpts) + ext6(kDstOpts) + ext6(kDstOpts) + ext6(kDstOpts) +
                          ext6(kDstOpts) + ext6(kTcp);
  const int DROP = XDP_DROP, PASS = XDP_PASS;

  const std::vector<Row> table = {
      // IPv4
      {"IPv4 TCP to a dropped port", ether(kIpv4, ip4(h1, h2, kTcp, tcp(40000, 22))), &protocols, DROP, 10},
      {"IPv4 TCP to another port", ether(kIpv4, ip4(h1, h2, kTcp, tcp(40000, 23))), &protocols, PASS, 0},
      {"IPv4 UDP to port 53", ether(kIpv4, ip4(h1, h2, kUdp, udp(5353, 53))), &protocols, DROP, 20},
      {"IPv4 UDP to port 54", ether(kIpv4, ip4(h1, h2, kUdp, udp(5353, 54))), &protocols, PASS, 0},
      {"ICMP from a dropped network", ether(kIpv4, ip4(tn5, h2, kIcmp, icmp(8))), &protocols, DROP, 30},
      {"ICMP from elsewhere", ether(kIpv4, ip4(h1, h2, kIcmp, icmp(8))), &protocols, PASS, 0},
      {"IPv4 with 12 B of options, TCP to port 22",
       ether(kIpv4, ip4(h1, h2, kTcp, tcp(40000, 22), 0x4000, nops12)), &protocols, DROP, 10},
      {"IPv4 with 40 B of options (IHL 15), UDP to port 53",
       ether(kIpv4, ip4(h1, h2, kUdp, udp(5353, 53), 0x4000, nops40)), &protocols, DROP, 20},
      {"IPv4 first fragment (MF), TCP to port 22", ether(kIpv4, ip4(h1, h2, kTcp, tcp(40000, 22), 0x2000)),
       &protocols, DROP, 10},
      {"IPv4 non-first fragment: its bytes are no ports",
       ether(kIpv4, ip4(h1, h2, kTcp, tcp(40000, 22), 0x2000 | 185)), &protocols, PASS, 0},
      {"IPv4 non-first fragment still matches on addresses", ether(kIpv4, ip4(h1, h99, kTcp, zeros(24), 185)),
       &protocols, DROP, 90},
      {"IPv4 GRE (protocol 47)", ether(kIpv4, ip4(h1, h2, 47, zeros(8))), &protocols, DROP, 60},
      {"TCP from source port 1500, rule with ports and no protocol",
       ether(kIpv4, ip4(h1, h2, kTcp, tcp(1500, 23))), &protocols, DROP, 70},
      {"UDP from source port 1500, rule with ports and no protocol",
       ether(kIpv4, ip4(h1, h2, kUdp, udp(1500, 54))), &protocols, DROP, 70},
      {"ICMP whose header reads as port 1500: no ports, no match",
       ether(kIpv4, ip4(h1, h2, kIcmp, icmp(0x05, 0xDC))), &protocols, PASS, 0},
      // IPv6
      {"IPv6 TCP to port 80", ether(kIpv6, ip6(s6, d6, kTcp, tcp(40000, 80))), &protocols, DROP, 40},
      {"IPv6 TCP to port 81", ether(kIpv6, ip6(s6, d6, kTcp, tcp(40000, 81))), &protocols, PASS, 0},
      {"IPv6 hop-by-hop, TCP to port 80", ether(kIpv6, ip6(s6, d6, kHop, ext6(kTcp) + tcp(40000, 80))),
       &protocols, DROP, 40},
      {"IPv6 destination options + routing, TCP to port 80",
       ether(kIpv6, ip6(s6, d6, kDstOpts, ext6(kRouting, 16) + ext6(kTcp, 24) + tcp(40000, 80))), &protocols,
       DROP, 40},
      {"IPv6 hop-by-hop + dest opts + routing + AH, TCP to port 80",
       ether(kIpv6,
             ip6(s6, d6, kHop, ext6(kDstOpts) + ext6(kRouting) + ext6(kAh) + ah6(kTcp) + tcp(40000, 80))),
       &protocols, DROP, 40},
      {"IPv6 six extension headers (first fragment among them), TCP to port 80",
       ether(kIpv6, ip6(s6, d6, kHop,
                        ext6(kDstOpts) + ext6(kRouting) + ext6(kAh) + ah6(kFragment) +
                            frag6(kDstOpts, 0, true) + ext6(kTcp) + tcp(40000, 80))),
       &protocols, DROP, 40},
      {"IPv6 seven extension headers: protocol unknown, no port rule matches",
       ether(kIpv6, ip6(s6, d6, kDstOpts, seven_ext + tcp(40000, 80))), &protocols, PASS, 0},
      {"IPv6 seven extension headers: the addresses still match",
       ether(kIpv6, ip6(s6, net200, kDstOpts, seven_ext + tcp(40000, 80))), &protocols, DROP, 80},
      {"IPv6 first fragment, TCP to port 80",
       ether(kIpv6, ip6(s6, d6, kFragment, frag6(kTcp, 0, true) + tcp(40000, 80))), &protocols, DROP, 40},
      {"IPv6 non-first fragment: its bytes are no ports",
       ether(kIpv6, ip6(s6, d6, kFragment, frag6(kTcp, 100, true) + tcp(40000, 80))), &protocols, PASS, 0},
      {"IPv6 non-first fragment still matches on addresses",
       ether(kIpv6, ip6(s6, net200, kFragment, frag6(kTcp, 100, false) + zeros(16))), &protocols, DROP, 80},
      {"ICMPv6 echo request", ether(kIpv6, ip6(s6, d6, kIcmp6, icmp(128))), &protocols, DROP, 50},
      {"ICMPv6 after a hop-by-hop header", ether(kIpv6, ip6(s6, d6, kHop, ext6(kIcmp6) + icmp(128))),
       &protocols, DROP, 50},
      // VLAN
      {"802.1Q tag, IPv4 TCP to port 22", ether(kIpv4, ip4(h1, h2, kTcp, tcp(40000, 22)), {kQ}), &protocols,
       DROP, 10},
      {"802.1ad + 802.1Q tags, IPv6 TCP to port 80",
       ether(kIpv6, ip6(s6, d6, kTcp, tcp(40000, 80)), {kAd, kQ}), &protocols, DROP, 40},
      {"two 802.1Q tags, IPv4 UDP to port 53", ether(kIpv4, ip4(h1, h2, kUdp, udp(5353, 53)), {kQ, kQ}),
       &protocols, DROP, 20},
      // Malformed and non-IP frames. (BPF_PROG_TEST_RUN refuses frames shorter
      // than an Ethernet header: the program's bounds check for them goes
      // untested here.)
      {"ARP passes unclassified, even under default drop", arp, &malformed, PASS, 0},
      {"Ethernet header alone, type IPv4: unparsed", cut(ether(kIpv4, {}), 14), &malformed, PASS, 4},
      {"VLAN tag cut short: unparsed", cut(ether(kIpv4, ip4(h1, h2, kTcp, tcp(1, 22)), {kQ}), 16), &malformed,
       PASS, 4},
      {"three VLAN tags: unparsed", ether(kIpv4, ip4(h1, h2, kTcp, tcp(1, 22)), {kAd, kQ, kQ}), &malformed,
       PASS, 4},
      {"IPv4 header cut short (19 B): unparsed", cut(ether(kIpv4, ip4(h1, h2, kTcp, tcp(1, 22))), 14 + 19),
       &malformed, PASS, 4},
      {"IPv4 IHL 15 past the frame's end: unparsed",
       cut(ether(kIpv4, ip4(h1, h2, kTcp, zeros(0), 0x4000, nops40)), 14 + 30), &malformed, PASS, 4},
      {"IPv4 IHL below 5: unparsed", ether(kIpv4, with_byte(ip4(h1, h2, kTcp, tcp(1, 22)), 0, 0x44)),
       &malformed, PASS, 4},
      {"IPv6 header cut short (39 B): unparsed", cut(ether(kIpv6, ip6(s6, net1, kTcp, tcp(1, 80))), 14 + 39),
       &malformed, PASS, 4},
      {"IPv6 extension header cut short: protocol unknown, address matches",
       cut(ether(kIpv6, ip6(s6, net1, kHop, ext6(kTcp) + tcp(1, 80))), 14 + 40 + 1), &malformed, DROP, 1},
      {"IPv6 extension header cut short: no protocol or port rule matches",
       cut(ether(kIpv6, ip6(s6, far6, kHop, ext6(kTcp) + tcp(1, 80))), 14 + 40 + 1), &malformed, PASS, 4},
      {"IPv6 extension header longer than the frame: protocol known, no ports",
       ether(kIpv6, ip6(s6, far6, kHop, cut(ext6(kTcp, 64), 8))), &malformed, DROP, 3},
      {"TCP header cut short (12 B): no ports", ether(kIpv4, ip4(h1, far4, kTcp, cut(tcp(1, 80), 12))),
       &malformed, DROP, 3},
      {"UDP header cut short (4 B): no ports", ether(kIpv4, ip4(h1, far4, kUdp, cut(udp(1, 53), 4))),
       &malformed, DROP, 3},
      {"complete TCP header: ports", ether(kIpv4, ip4(h1, far4, kTcp, tcp(1, 80))), &malformed, DROP, 2},
      {"unparsed frame on lo: the interface rule does not apply", cut(ether(kIpv4, {}, {kQ}), 16), &malformed,
       DROP, 0, On::lo},
      // Order, defaults, interfaces
      {"priority tie: the lower id wins", ether(kIpv4, ip4(h1, h2, kTcp, tcp(1, 2))), &ties, DROP, 3},
      {"disabled rules are skipped", ether(kIpv4, ip4(h1, h2, kTcp, tcp(1, 2))), &disabled, PASS, 2},
      {"no rule: default drop", ether(kIpv4, ip4(h1, h2, kTcp, tcp(1, 2))), &empty_drop, DROP, 0},
      {"no rule: default pass", ether(kIpv4, ip4(h1, h2, kTcp, tcp(1, 2))), &empty_pass, PASS, 0},
      {"interface rule, packet on another interface", ether(kIpv4, ip4(h1, h2, kUdp, udp(1, 2))), &lo_only,
       PASS, 0},
      {"interface rule, packet on its interface", ether(kIpv4, ip4(h1, h2, kUdp, udp(1, 2))), &lo_only, DROP,
       1, On::lo},
      {"interface the firewall is not on: passed on unseen", ether(kIpv4, ip4(h1, h2, kUdp, udp(1, 2))),
       &drop_all, PASS, 0, On::other},
  };
  ASSERT_GE(table.size(), 40u);

  size_t tc_rows = 0;
  for (const Row& row : table) {
    SCOPED_TRACE(row.what);
    apply(*row.ruleset);
    const uint32_t ifindex = row.iface == On::lo ? lo_ : row.iface == On::other ? other_ : veth_;
    const fw::TestRun run = datapath_->test_run(row.frame, ifindex);
    EXPECT_EQ(static_cast<int>(run.xdp_action), row.xdp_action) << row.what;
    EXPECT_EQ(run.decision.rule_id, row.rule_id) << row.what;
    EXPECT_EQ(run.decision.action == Action::drop, row.xdp_action == XDP_DROP) << row.what;
    EXPECT_EQ(run.classified, row.iface != On::other) << row.what;
    // The tc entry point decides the same (tc never sees a frame shorter
    // than an Ethernet header: the kernel drops it before).
    if (row.frame.size() < kEthHeaderLen) continue;
    const auto [tc_verdict, tc_rule] = tc_decision(row.frame, ifindex);
    if (!tc_verdict) {
      EXPECT_LT(row.frame.size(), kEthHeaderLen + 40) << row.what << ": refused by the tc test run";
      continue;
    }
    ++tc_rows;
    EXPECT_EQ(*tc_verdict, row.xdp_action == XDP_DROP ? kTcShot : kTcNext) << row.what << " (tc)";
    EXPECT_EQ(tc_rule, row.iface == On::other ? 0u : row.rule_id) << row.what << " (tc)";
  }
  EXPECT_GE(tc_rows, 40u) << "rows decided by the tc entry point";
}

// The kernel decides every random packet exactly as the reference does.
TEST_F(FirewallDatapathTest, AgreesWithTheReferenceOnRandomRulesets) {
  RandomRules gen(20261127, interfaces());
  for (size_t count : {1, 10, 100, 1000, 5000}) {
    for (int round = 0; round < (count <= 100 ? 4 : 1); ++round) {
      const Ruleset rs = gen.ruleset(count);
      apply(rs);
      const int packets = count >= 1000 ? 2000 : 1000;
      for (int i = 0; i < packets; ++i) {
        const PacketKey p = gen.packet(rs);
        const fw::Decision want = fw::reference_classify(rs, p, gen.interfaces());
        const fw::TestRun got = datapath_->test_run(fw::frame_for(p), p.ifindex);
        ASSERT_EQ(got.decision.rule_id, want.rule_id)
            << count << " rules, round " << round << ", packet " << i;
        ASSERT_EQ(got.decision.action, want.action) << count << " rules, round " << round << ", packet " << i;
        ASSERT_EQ(got.xdp_action, want.action == Action::drop ? XDP_DROP : XDP_PASS);
        ASSERT_EQ(tc_run(fw::frame_for(p), p.ifindex), want.action == Action::drop ? kTcShot : kTcNext)
            << "tc entry, " << count << " rules, round " << round << ", packet " << i;
      }
    }
  }
}

// Rules added to a compiled ruleset (the kernel's added-rules table) are
// decided as the reference decides the whole ruleset: interleaved with the
// compiled rules by priority and id, and among themselves; so is a compiled
// disabled rule once enabled. A full table, or a rule with more values in a
// field than an entry holds, is refused with nothing changed.
TEST_F(FirewallDatapathTest, AddedRulesAgreeWithTheReference) {
  RandomRules gen(20261128, interfaces());
  for (size_t count : {0, 10, 1000}) {
    constexpr size_t kLate = 3;  // added while a recompile runs
    Ruleset all = gen.ruleset(count + ADAM_FW_ADDED_RULES + kLate);
    Ruleset applied = all, added, late;
    applied.rules.resize(count);
    const auto first_added = all.rules.begin() + static_cast<std::ptrdiff_t>(count);
    added.rules.assign(first_added, first_added + ADAM_FW_ADDED_RULES);
    late.rules.assign(first_added + ADAM_FW_ADDED_RULES, all.rules.end());
    for (Rule& r : added.rules) r.enabled = true;
    for (Rule& r : late.rules) r.enabled = true;
    Ruleset targets = added;  // what half the packets aim at
    targets.rules.insert(targets.rules.end(), late.rules.begin(), late.rules.end());
    apply(applied);

    auto check = [&](const std::string& when) {
      for (int i = 0; i < 300; ++i) {
        // Half the packets aim at the added rules.
        const PacketKey p = gen.packet(i % 2 ? targets : applied);
        const fw::Decision want = fw::reference_classify(applied, p, gen.interfaces());
        const fw::Decision got = datapath_->explain(p, p.ifindex);
        ASSERT_EQ(got.rule_id, want.rule_id) << count << " rules, " << when << ", packet " << i;
        ASSERT_EQ(got.action, want.action) << count << " rules, " << when << ", packet " << i;
      }
    };
    uint32_t in_table = 0;
    for (const Rule& rule : added.rules) {
      ASSERT_TRUE(datapath_->add(rule, interfaces())) << rule.id;
      applied.rules.push_back(rule);
      EXPECT_EQ(datapath_->added_rules(), ++in_table);
      check("after adding rule " + std::to_string(rule.id));
    }

    Rule one_more = make_rule(100000, 0, Action::drop);
    EXPECT_FALSE(datapath_->add(one_more, interfaces())) << "the table is full";
    EXPECT_EQ(datapath_->added_rules(), ADAM_FW_ADDED_RULES);
    EXPECT_FALSE(datapath_->rule_counter(one_more.id)) << "a refused rule gets no counter slot";

    // What adamd does once changes pause: all compiled, in steps so that
    // rules added meanwhile are carried over into the new generation.
    fw::Datapath::Staged staged = datapath_->stage(applied, interfaces());
    datapath_->build(staged);
    for (const Rule& rule : late.rules) {
      EXPECT_FALSE(datapath_->add(rule, interfaces())) << "the table is still full";
    }
    datapath_->commit(staged);
    EXPECT_EQ(datapath_->added_rules(), 0u);
    check("recompiled");
    staged = datapath_->stage(applied, interfaces());
    for (const Rule& rule : late.rules) {
      ASSERT_TRUE(datapath_->add(rule, interfaces())) << rule.id;
      applied.rules.push_back(rule);
    }
    datapath_->build(staged);
    check("added while recompiling");
    datapath_->commit(staged);
    EXPECT_EQ(datapath_->added_rules(), kLate);
    check("recompiled, the late rules carried over");

    // A compiled disabled rule, enabled through the table.
    auto disabled =
        std::find_if(applied.rules.begin(), applied.rules.end(), [](const Rule& r) { return !r.enabled; });
    if (disabled != applied.rules.end()) {
      disabled->enabled = true;
      ASSERT_TRUE(datapath_->add(*disabled, interfaces()));
      check("after enabling rule " + std::to_string(disabled->id));
    }
  }

  // More values in a field than an entry holds: compiled instead.
  Match wide;
  for (int i = 0; i <= ADAM_FW_ADDED_VALUES; ++i)
    wide.dst_port.push_back({static_cast<uint16_t>(i), static_cast<uint16_t>(i)});
  wide.proto = {kTcp};
  apply(rules(Action::pass, {}));
  EXPECT_FALSE(datapath_->add(make_rule(7, 1, Action::drop, wide), interfaces()));
  EXPECT_EQ(datapath_->added_rules(), 0u);
}

// While rulesets A and B replace each other in a loop, every packet is
// decided wholly by A or wholly by B. Tables of A and B mixed would give
// other answers: e.g. B's bitmaps with A's rule list name a position A does
// not have (rule 0), A's bitmaps with B's rules name rule 2 for y.
TEST_F(FirewallDatapathTest, ReplacingTheRulesetIsAtomicForPackets) {
  Match to_x, to_y, to_y_web;
  to_x.dst = {prefix("198.51.100.10", 32)};
  to_y.dst = {prefix("198.51.100.20", 32)};
  to_y_web.dst = {prefix("198.51.100.20", 32)};
  to_y_web.proto = {kTcp};
  to_y_web.dst_port = {{80, 80}};
  const Ruleset a =
      rules(Action::pass, {make_rule(1, 1, Action::drop, to_x), make_rule(3, 3, Action::pass, to_y_web)});
  const Ruleset b =
      rules(Action::drop, {make_rule(2, 1, Action::pass, to_y), make_rule(1, 2, Action::drop, to_x)});
  const Bytes x = ether(kIpv4, ip4(a4("198.51.100.1"), a4("198.51.100.10"), kTcp, tcp(1, 80)));
  const Bytes y = ether(kIpv4, ip4(a4("198.51.100.1"), a4("198.51.100.20"), kTcp, tcp(1, 80)));
  const Bytes z = ether(kIpv4, ip4(a4("198.51.100.1"), a4("198.51.100.30"), kTcp, tcp(1, 80)));
  struct Expected {
    const Bytes* frame;
    fw::Decision by_a, by_b;
  };
  const Expected packets[] = {
      {&x, {Action::drop, 1}, {Action::drop, 1}},
      {&y, {Action::pass, 3}, {Action::pass, 2}},
      {&z, {Action::pass, 0}, {Action::drop, 0}},
  };
  auto same = [](const fw::Decision& a, const fw::Decision& b) {
    return a.action == b.action && a.rule_id == b.rule_id;
  };

  apply(a);
  std::atomic<bool> done{false};
  std::atomic<int> applies{0};
  std::thread applier([&] {
    for (int i = 0; !done; ++i) {
      apply(i % 2 ? a : b);
      ++applies;
    }
  });
  int seen_a = 0, seen_b = 0, mixed = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < until || applies < 20) {
    for (const Expected& e : packets) {
      const fw::Decision d = datapath_->test_run(*e.frame, veth_).decision;
      const bool is_a = same(d, e.by_a), is_b = same(d, e.by_b);
      if (is_a && is_b) continue;  // x: decided alike by A and B
      seen_a += is_a;
      seen_b += is_b;
      mixed += !is_a && !is_b;
    }
  }
  done = true;
  applier.join();
  EXPECT_EQ(mixed, 0);
  EXPECT_GT(seen_a, 0);
  EXPECT_GT(seen_b, 0);
  EXPECT_GE(applies, 20);
}

TEST_F(FirewallDatapathTest, CountsPerRuleAcrossReplacementsAndNotForExplain) {
  Match web, dns;
  web.proto = {kTcp};
  web.dst_port = {{80, 80}};
  dns.proto = {kUdp};
  const Bytes web_frame = ether(kIpv4, ip4(a4("198.51.100.1"), a4("198.51.100.2"), kTcp, tcp(1, 80)));
  const Bytes dns_frame = ether(kIpv4, ip4(a4("198.51.100.1"), a4("198.51.100.2"), kUdp, udp(1, 53)));
  apply(rules(Action::pass, {make_rule(10, 1, Action::drop, web), make_rule(20, 2, Action::pass, dns)}));
  count_run(web_frame, veth_, 5);
  count_run(dns_frame, veth_, 3);
  for (int i = 0; i < 10; ++i) datapath_->test_run(web_frame, veth_);  // explain counts nothing

  auto counters = datapath_->rule_counters();
  ASSERT_EQ(counters.size(), 2u);
  EXPECT_EQ(counters[10].packets, 5u);
  EXPECT_EQ(counters[10].bytes, 5u * web_frame.size());
  EXPECT_EQ(counters[20].packets, 3u);
  fw::Totals totals = datapath_->totals();
  EXPECT_EQ(totals.drop.packets, 5u);
  EXPECT_EQ(totals.pass.packets, 3u);
  EXPECT_EQ(totals.pass.bytes, 3u * dns_frame.size());

  // Rule 10 moves down and stays, 20 goes, 30 comes (and starts at zero).
  apply(rules(Action::pass, {make_rule(30, 1, Action::drop, dns), make_rule(10, 2, Action::drop, web)}));
  count_run(web_frame, veth_, 2);
  counters = datapath_->rule_counters();
  EXPECT_EQ(counters.size(), 2u);
  EXPECT_EQ(counters[10].packets, 7u);
  EXPECT_EQ(counters[30].packets, 0u);
  EXPECT_FALSE(counters.count(20));

  // Disabled rules keep their counters.
  Ruleset off =
      rules(Action::pass, {make_rule(30, 1, Action::drop, dns), make_rule(10, 2, Action::drop, web)});
  off.rules[1].enabled = false;
  apply(off);
  EXPECT_EQ(datapath_->rule_counters()[10].packets, 7u);
  EXPECT_EQ(datapath_->test_run(web_frame, veth_).decision.rule_id, 0u);

  // Many rules: the counters are read in one batch, and agree with the
  // rule-by-rule reading.
  Ruleset many = off;
  for (uint32_t id = 100; id < 300; ++id) {
    Match m;
    m.proto = {kTcp};
    m.dst_port = {{static_cast<uint16_t>(id), static_cast<uint16_t>(id)}};
    many.rules.push_back(make_rule(id, 0, Action::pass, m));
  }
  apply(many);
  const Bytes port_250 = ether(kIpv4, ip4(a4("198.51.100.1"), a4("198.51.100.2"), kTcp, tcp(1, 250)));
  count_run(port_250, veth_, 4);
  counters = datapath_->rule_counters();
  ASSERT_EQ(counters.size(), many.rules.size());
  EXPECT_EQ(counters[250].packets, 4u);
  EXPECT_EQ(counters[250].bytes, 4u * port_250.size());
  EXPECT_EQ(counters[10].packets, 7u);
  for (const auto& [id, counter] : counters) {
    EXPECT_EQ(counter.packets, datapath_->rule_counter(id)->packets) << id;
    EXPECT_EQ(counter.bytes, datapath_->rule_counter(id)->bytes) << id;
  }
}

TEST_F(FirewallDatapathTest, RefusesAnOversizedRulesetWithNothingChanged) {
  Match web;
  web.proto = {kTcp};
  web.dst_port = {{80, 80}};
  apply(rules(Action::pass, {make_rule(10, 1, Action::drop, web)}));
  const Bytes web_frame = ether(kIpv4, ip4(a4("198.51.100.1"), a4("198.51.100.2"), kTcp, tcp(1, 80)));

  Ruleset huge;
  for (uint32_t id = 1; id <= ADAM_FW_MAX_RULES; ++id) {
    Match m;
    m.src = {prefix("198.51.100.0", 24)};
    m.src[0].addr[2] = static_cast<uint8_t>(id >> 8);  // unique /32s: one bitmap each
    m.src[0].addr[3] = static_cast<uint8_t>(id);
    m.src[0].len = 32;
    m.dst_port = {{static_cast<uint16_t>(id * 4), static_cast<uint16_t>(id * 4 + 400)}};
    huge.rules.push_back(make_rule(id, 0, Action::pass, m));
  }
  EXPECT_THROW(apply(huge), std::invalid_argument);
  EXPECT_EQ(datapath_->test_run(web_frame, veth_).decision.rule_id, 10u);
  EXPECT_EQ(datapath_->rule_counters().size(), 1u);
}

// adamd restarts: a new Datapath on the same pins adopts the ruleset, the
// active generation and the counters; the next apply continues from there.
TEST_F(FirewallDatapathTest, AdoptsPinnedTablesAndCounters) {
  Match web;
  web.proto = {kTcp};
  web.dst_port = {{80, 80}};
  const Bytes web_frame = ether(kIpv4, ip4(a4("198.51.100.1"), a4("198.51.100.2"), kTcp, tcp(1, 80)));
  apply(rules(Action::pass, {make_rule(10, 1, Action::drop, web)}));
  apply(rules(Action::pass, {make_rule(11, 1, Action::pass), make_rule(10, 2, Action::drop, web)}));
  apply(rules(Action::pass, {make_rule(10, 1, Action::drop, web)}));  // generation 1 active
  count_run(web_frame, veth_, 4);
  datapath_.reset();

  EXPECT_TRUE(fs::exists(pin_dir() + "/fw_pool"));
  EXPECT_EQ(fw::Datapath::pinned_rule_counters(pin_dir())[10].packets, 4u);
  EXPECT_EQ(fw::Datapath::pinned_totals(pin_dir()).drop.packets, 4u);

  datapath_ = open_datapath();
  EXPECT_TRUE(datapath_->created_pins().empty());
  EXPECT_EQ(datapath_->test_run(web_frame, veth_).decision.rule_id, 10u);
  EXPECT_EQ(datapath_->rule_counters()[10].packets, 4u);
  Match dns;
  dns.proto = {kUdp};
  apply(rules(Action::pass, {make_rule(20, 1, Action::drop, dns), make_rule(10, 2, Action::drop, web)}));
  EXPECT_EQ(datapath_->test_run(web_frame, veth_).decision.rule_id, 10u);
  EXPECT_EQ(datapath_->rule_counters()[10].packets, 4u);
  EXPECT_EQ(datapath_->rule_counters()[20].packets, 0u);
}

TEST_F(FirewallDatapathTest, ReplacesPinsOfAnotherLayout) {
  datapath_.reset();
  // An earlier build's fw_pool with another value size.
  const std::string pool = pin_dir() + "/fw_pool";
  ASSERT_EQ(::unlink(pool.c_str()), 0);
  UniqueFd other(bpf_map_create(BPF_MAP_TYPE_ARRAY, "fw_pool", 4, 8, 1, nullptr));
  ASSERT_TRUE(other);
  ASSERT_EQ(bpf_obj_pin(other.get(), pool.c_str()), 0);
  datapath_ = open_datapath();
  EXPECT_FALSE(datapath_->created_pins().empty());  // every map is new
  const Bytes frame = ether(kIpv4, ip4(a4("198.51.100.1"), a4("198.51.100.2"), kUdp, udp(1, 2)));
  apply(rules(Action::pass, {make_rule(1, 1, Action::drop)}));
  EXPECT_EQ(datapath_->test_run(frame, veth_).decision.rule_id, 1u);
}

TEST_F(FirewallDatapathTest, ExplainBuildsFramesTheParserReadsBack) {
  Match m;
  m.src = {prefix("2001:db8:100::1", 128)};
  m.proto = {kUdp};
  m.src_port = {{5353, 5353}};
  m.dst_port = {{53, 53}};
  apply(rules(Action::pass, {make_rule(1, 1, Action::drop, m)}));
  PacketKey p = make_packet(a6("2001:db8:100::1"), a6("2001:db8:100::2"), kUdp, 5353, 53);
  EXPECT_EQ(datapath_->explain(p, veth_).rule_id, 1u);
  EXPECT_EQ(datapath_->explain(p, other_).rule_id, 0u);  // not a firewall interface
  p.has_ports = false;                                   // a non-first fragment
  EXPECT_EQ(datapath_->explain(p, veth_).rule_id, 0u);
  p.proto = kAh;
  EXPECT_THROW(datapath_->explain(p, veth_), fw::InvalidPacket);
  p.proto = kIcmp6;
  p.has_ports = true;
  EXPECT_THROW(datapath_->explain(p, veth_), fw::InvalidPacket);
}

// --- the plugin ----------------------------------------------------------------

KernelFeatures with_xdp() {
  KernelFeatures f;
  f.features["xdp"] = KernelFeature{true, "test"};
  return f;
}

TEST_F(FirewallDatapathTest, PluginAppliesExplainsAndCounts) {
  datapath_.reset();
  const KernelFeatures features = with_xdp();
  PluginContext ctx{pins_->path(), *chain_, features};
  auto plugin = std::make_unique<FirewallPlugin>(ctx);
  const Bytes src = a4("198.51.100.1"), dst = a4("198.51.100.2");
  PacketKey p = make_packet(src, dst, kTcp, 40000, 22);

  try {
    plugin->explain(p, "");
    ADD_FAILURE() << "explained while stopped";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 503);
  }

  // Applied while stopped: remembered, then applied by start().
  Match ssh;
  ssh.proto = {kTcp};
  ssh.dst_port = {{22, 22}};
  ssh.iface = {"veth-b"};
  plugin->apply(rules(Action::pass, {make_rule(7, 1, Action::drop, ssh)}));
  plugin->start(nlohmann::json{{"interfaces", {"veth-b", "lo"}}});
  EXPECT_EQ(plugin->explain(p, "").rule_id, 7u);  // the first interface: veth-b
  EXPECT_EQ(plugin->explain(p, "veth-b").action, Action::drop);
  EXPECT_EQ(plugin->explain(p, "lo").rule_id, 0u);
  try {
    plugin->explain(p, "nope0");
    ADD_FAILURE() << "explained on a missing interface";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.field(), "iface");
  }
  p.proto = kIcmp;
  try {
    plugin->explain(p, "");
    ADD_FAILURE() << "explained ICMP with ports";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.field(), "src_port");
  }

  // Counters: run the installed program as packets on veth-b.
  const uint32_t prog_id = chain_->slot_prog_id(ADAM_XDP_SLOT_FIREWALL);
  ASSERT_NE(prog_id, 0u);
  UniqueFd prog(bpf_prog_get_fd_by_id(prog_id));
  const Bytes frame = ether(kIpv4, ip4(src, dst, kTcp, tcp(40000, 22)));
  EXPECT_EQ(xdp_test_run(prog.get(), frame, veth_, 6).verdict, static_cast<uint32_t>(XDP_DROP));
  nlohmann::json counters = plugin->all_rule_counters();
  EXPECT_EQ(counters["7"]["packets"], 6) << counters.dump();
  EXPECT_EQ(counters["7"]["bytes"], 6 * frame.size()) << counters.dump();
  EXPECT_GE(plugin->stats()["packets"]["drop"].get<uint64_t>(), 6u) << plugin->stats().dump();

  // Refused rulesets change nothing.
  Ruleset bad = rules(Action::pass, {make_rule(0, 1, Action::drop)});
  try {
    plugin->apply(bad);
    ADD_FAILURE() << "applied a rule with id 0";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 422);
  }
  p.proto = kTcp;
  EXPECT_EQ(plugin->explain(p, "").rule_id, 7u);

  // A rule added is enforced at once from the kernel's added-rules table,
  // then recompiled with the others once changes pause.
  const Ruleset ssh_only = rules(Action::pass, {make_rule(7, 1, Action::drop, ssh)});
  Ruleset with_pass = ssh_only;
  with_pass.rules.push_back(make_rule(9, 0, Action::pass, ssh));
  plugin->apply(with_pass, 9);
  EXPECT_EQ(plugin->stats()["added_rules"], 1);
  EXPECT_EQ(plugin->explain(p, "").rule_id, 9u) << "priority 0 precedes rule 7's 1";
  EXPECT_EQ(plugin->rule_counters(9), (nlohmann::json{{"packets", 0}, {"bytes", 0}}));
  const auto deadline = std::chrono::steady_clock::now() + 4 * FirewallPlugin::kCompactAfter;
  while (plugin->stats()["added_rules"] != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(plugin->stats()["added_rules"], 0) << "recompiled once changes paused";
  EXPECT_EQ(plugin->explain(p, "").rule_id, 9u);
  plugin->apply(ssh_only);
  EXPECT_TRUE(plugin->rule_counters(9).is_null());

  // A restarted adamd (a new plugin object) serves the pinned counters, and
  // its start() without apply() keeps enforcing the pinned ruleset.
  plugin.reset();
  auto second = std::make_unique<FirewallPlugin>(ctx);
  EXPECT_EQ(second->all_rule_counters()["7"]["packets"], 6);
  second->start(nlohmann::json{{"interfaces", {"veth-b"}}});
  EXPECT_EQ(second->explain(p, "").rule_id, 7u);
  second->stop();
  EXPECT_FALSE(fs::exists(pins_->path() + "/firewall"));
  EXPECT_TRUE(second->all_rule_counters().empty());

  // start() after stop() applies the remembered ruleset again.
  second->apply(rules(Action::drop, {}));
  second->start(nlohmann::json{{"interfaces", {"veth-b"}}});
  const fw::Decision d = second->explain(p, "");
  EXPECT_EQ(d.rule_id, 0u);
  EXPECT_EQ(d.action, Action::drop);
  second->stop();
}

}  // namespace
}  // namespace adam::test
