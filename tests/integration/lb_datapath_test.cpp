// The load balancer's kernel programs (bpf/lb.bpf.c through lb::Datapath,
// bpf/lb_decap.bpf.c through lb::Decap), run with BPF_PROG_TEST_RUN on
// frames built here: a fixture table of frames and what comes out of them
// byte by byte (rewritten MACs, outer headers and their checksums, ICMP
// replies); flows kept across backend changes, table swaps, explain and an
// adopt from pins; a differential test against a plain C++ model of the
// decision; and the decapsulator, alone and on the balancer's output.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <net/if.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "adam/lb.h"
#include "core/bpf_handle.h"
#include "core/bpf_pins.h"
#include "core/errors.h"
#include "core/xdp_chain.h"
#include "core/xdp_test_run.h"
#include "plugins/lb/datapath.h"
#include "plugins/lb/decap.h"
#include "plugins/lb/maglev.h"
#include "support/frames.h"
#include "support/lb_reference.h"
#include "support/netns.h"

namespace adam::test {
namespace {

using lb::Datapath;
using lb::IpAddress;
using lb::KernelBackend;
using lb::KernelService;

constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kFragment = 44, kDstOpts = 60;

IpAddress ip(const char* text) {
  IpAddress a;
  const Bytes b = std::string(text).find(':') != std::string::npos ? a6(text) : a4(text);
  a.family = b.size() == 4 ? 4 : 6;
  std::copy(b.begin(), b.end(), a.bytes.begin());
  return a;
}
std::string hex(uint32_t n) {
  char text[16];
  std::snprintf(text, sizeof text, "%x", n);
  return text;
}
Bytes bytes_of(const IpAddress& a) {
  return Bytes(a.bytes.begin(), a.bytes.begin() + (a.family == 4 ? 4 : 16));
}
std::array<uint8_t, 6> mac(uint8_t last, uint8_t second_last = 0) { return {2, 0, 0, 0, second_last, last}; }
Bytes mac_bytes(const std::array<uint8_t, 6>& m) { return Bytes(m.begin(), m.end()); }

// --- fixture -----------------------------------------------------------------

const std::array<uint8_t, 6> kLbMac = mac(0xb0), kOutMac = mac(0xb1);
constexpr uint32_t kMtu = 1500;
constexpr uint32_t kFlowCapacity = 65536;
constexpr uint32_t kBigIfindex = 5000;

// A namespace of the test's own with veth-b and out0 (the balancer's
// interfaces) and other0 (not one of them); the balancer loaded on a fresh
// XDP chain with the services below.
class LbDatapathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_root()) GTEST_SKIP() << "needs root";
    pair_ = std::make_unique<NetnsPair>();
    ASSERT_EQ(run("ip -n " + pair_->b() + " link add out0 type veth peer name out1"), 0);
    ASSERT_EQ(run("ip -n " + pair_->b() + " link add other0 type veth peer name other1"), 0);
    // A balancer interface past the ifindex bitmap (ADAM_LB_IFINDEX_BITS).
    ASSERT_EQ(run("ip -n " + pair_->b() + " link add big0 index 5000 type veth peer name big1"), 0);
    // An egress the balancer does not run on: its MTU comes from the kernel.
    ASSERT_EQ(run("ip -n " + pair_->b() + " link set other0 mtu 1400"), 0);
    in_b_ = std::make_unique<ScopedNetns>(pair_->b());
    pins_ = std::make_unique<PinDir>();
    chain_ = std::make_unique<XdpChain>(pins_->path());
    veth_ = if_nametoindex("veth-b");
    out_ = if_nametoindex("out0");
    other_ = if_nametoindex("other0");
    ASSERT_NE(veth_, 0u);
    ASSERT_NE(out_, 0u);
    ASSERT_NE(other_, 0u);
    dp_ = open_datapath();
  }

  std::unique_ptr<Datapath> open_datapath() {
    auto dp = std::make_unique<Datapath>(chain_->chain_fd(), pin_dir(), kFlowCapacity);
    adam_lb_iface veth{}, out{};
    std::copy(kLbMac.begin(), kLbMac.end(), veth.mac);
    std::copy(kOutMac.begin(), kOutMac.end(), out.mac);
    veth.mtu = out.mtu = kMtu;
    dp->set_interfaces({{veth_, veth}, {out_, out}, {kBigIfindex, veth}});
    return dp;
  }
  std::string pin_dir() const { return pins_->path() + "/lb"; }

  // A backend whose next hop is on `ifindex` (veth-b: XDP_TX; out0: redirect).
  KernelBackend backend(const char* address, uint8_t mac_last, uint32_t weight = 100, uint32_t ifindex = 0,
                        const char* outer_src = nullptr) const {
    KernelBackend b;
    b.address = ip(address);
    b.table_weight = weight;
    b.next_hop.resolved = true;
    b.next_hop.ifindex = ifindex ? ifindex : veth_;
    b.next_hop.src_mac = b.next_hop.ifindex == out_ ? kOutMac : kLbMac;
    b.next_hop.dst_mac = mac(mac_last);
    b.next_hop.source =
        ip(outer_src ? outer_src : (b.address.family == 4 ? "198.51.100.1" : "2001:db8:100::1"));
    b.next_hop.mtu = kMtu;
    return b;
  }
  static KernelService service(int64_t id, const char* vip, uint16_t port, uint8_t proto, lb::Mode mode,
                               std::vector<KernelBackend> backends, uint32_t table_size = 1009) {
    KernelService s;
    s.id = id;
    s.vip = ip(vip);
    s.port = port;
    s.proto = proto;
    s.mode = mode;
    s.table_size = table_size;
    s.backends = std::move(backends);
    return s;
  }

  struct Output {
    uint32_t action = 0;
    Bytes frame;
  };
  // Runs the program like a real packet (it counts and places flows).
  Output run_frame(const Bytes& frame, uint32_t ifindex, int prog_fd = -1) const {
    Bytes out(frame.size() + 256);
    const XdpRunResult r = xdp_test_run(prog_fd < 0 ? dp_->prog_fd() : prog_fd, frame, ifindex, 1, 0, out);
    out.resize(r.size_out);
    return Output{r.verdict, out};
  }

  // Runs the decapsulator once on `frame` as an skb arriving on `ifindex`.
  Output run_decap(const lb::Decap& decap, const Bytes& frame, uint32_t ifindex) const {
    Bytes out(frame.size() + 256);
    const auto run = tc_test_run(decap.prog_fd(), frame, ifindex, out);
    if (!run) throw std::runtime_error("BPF_PROG_TEST_RUN of the decapsulator: no skb of the frame (EINVAL)");
    out.resize(run->size_out);
    return Output{static_cast<uint32_t>(run->verdict), out};
  }

  // The service counters summed over services.
  adam_lb_service_stats service_sums() const {
    adam_lb_service_stats sum{};
    for (const auto& s : dp_->counters()) {
      sum.packets += s.counters.packets;
      sum.lru_hits += s.counters.lru_hits;
      sum.lru_misses += s.counters.lru_misses;
      sum.non_syn_rehash += s.counters.non_syn_rehash;
      sum.no_backend += s.counters.no_backend;
      sum.new_flows += s.counters.new_flows;
    }
    return sum;
  }

  std::unique_ptr<NetnsPair> pair_;
  std::unique_ptr<ScopedNetns> in_b_;
  std::unique_ptr<PinDir> pins_;
  std::unique_ptr<XdpChain> chain_;
  std::unique_ptr<Datapath> dp_;
  uint32_t veth_ = 0, out_ = 0, other_ = 0;
};

// The frame as the balancer sends it on toward a backend with the MACs of `hop`.
Bytes with_macs(Bytes frame, const Bytes& dst, const Bytes& src) {
  std::copy(dst.begin(), dst.end(), frame.begin());
  std::copy(src.begin(), src.end(), frame.begin() + 6);
  return frame;
}

// `frame` (its L2 header `l2_len` bytes) inside an outer header toward
// `backend`, built here from the RFCs, not from the program.
Bytes encapsulated(const Bytes& frame, size_t l2_len, const KernelBackend& backend) {
  const Bytes inner = slice(frame, l2_len, frame.size() - l2_len);
  const bool inner_v4 = (inner[0] >> 4) == 4;
  const uint8_t proto = inner_v4 ? 4 : 41;
  Bytes l2 = with_macs(slice(frame, 0, l2_len), mac_bytes(backend.next_hop.dst_mac),
                       mac_bytes(backend.next_hop.src_mac));
  Bytes outer;
  if (backend.address.family == 4) {
    l2[l2_len - 2] = 0x08, l2[l2_len - 1] = 0x00;
    const uint16_t df = inner_v4 ? (inner[6] & 0x40 ? 0x4000 : 0) : 0x4000;
    outer = Bytes{0x45, 0} + be16(static_cast<uint16_t>(20 + inner.size())) + be16(0) + be16(df) +
            Bytes{64, proto, 0, 0} + bytes_of(backend.next_hop.source) + bytes_of(backend.address);
    const uint16_t check = inet_checksum(outer);
    outer[10] = static_cast<uint8_t>(check >> 8), outer[11] = static_cast<uint8_t>(check);
  } else {
    l2[l2_len - 2] = 0x86, l2[l2_len - 1] = 0xDD;
    outer = Bytes{0x60, 0, 0, 0} + be16(static_cast<uint16_t>(inner.size())) + Bytes{proto, 64} +
            bytes_of(backend.next_hop.source) + bytes_of(backend.address);
  }
  return l2 + outer + inner;
}

// The ICMP "fragmentation needed" / ICMPv6 "packet too big" the balancer
// answers `frame` with, built here from RFC 792 / RFC 4443.
Bytes too_big_reply(const Bytes& frame, size_t l2_len, uint32_t mtu) {
  const Bytes inner = slice(frame, l2_len, frame.size() - l2_len);
  Bytes l2 = slice(frame, 6, 6) + slice(frame, 0, 6) + slice(frame, 12, l2_len - 12);
  if ((inner[0] >> 4) == 4) {
    const Bytes quote = slice(inner, 0, std::min<size_t>(inner.size() & ~size_t{1}, 548));
    Bytes icmp = Bytes{3, 4, 0, 0, 0, 0} + be16(static_cast<uint16_t>(mtu)) + quote;
    const uint16_t icmp_check = inet_checksum(icmp);
    icmp[2] = static_cast<uint8_t>(icmp_check >> 8), icmp[3] = static_cast<uint8_t>(icmp_check);
    Bytes ip = Bytes{0x45, 0} + be16(static_cast<uint16_t>(20 + icmp.size())) + be16(0) + be16(0) +
               Bytes{64, kIcmp, 0, 0} + slice(inner, 16, 4) + slice(inner, 12, 4);
    const uint16_t ip_check = inet_checksum(ip);
    ip[10] = static_cast<uint8_t>(ip_check >> 8), ip[11] = static_cast<uint8_t>(ip_check);
    return l2 + ip + icmp;
  }
  const Bytes quote = slice(inner, 0, std::min<size_t>(inner.size() & ~size_t{1}, 1232));
  Bytes icmp6 = Bytes{2, 0, 0, 0} + be32(mtu) + quote;
  const Bytes src = slice(inner, 24, 16), dst = slice(inner, 8, 16);
  const Bytes pseudo = src + dst + be32(static_cast<uint32_t>(icmp6.size())) + Bytes{0, 0, 0, 58};
  const uint16_t check = inet_checksum(pseudo + icmp6);
  icmp6[2] = static_cast<uint8_t>(check >> 8), icmp6[3] = static_cast<uint8_t>(check);
  return l2 + Bytes{0x60, 0, 0, 0} + be16(static_cast<uint16_t>(icmp6.size())) + Bytes{58, 64} + src + dst +
         icmp6;
}

// --- the fixture table -----------------------------------------------------

// What a row's frame adds to the services' counters.
struct Counts {
  int hits = 0, misses = 0, non_syn = 0, no_backend = 0;
};
constexpr Counts kNone{}, kHit{.hits = 1}, kMiss{.misses = 1}, kRehash{.misses = 1, .non_syn = 1},
    kNoBackend{.no_backend = 1};

struct Row {
  std::string what;
  Bytes frame;
  uint32_t xdp_action;
  Bytes expected;                 // the frame that comes out (empty: the frame unchanged)
  std::optional<uint32_t> total;  // the ADAM_LB_TOTAL_* it counts in
  Counts counts;
  uint32_t ifindex = 0;  // 0: veth-b
};

TEST_F(LbDatapathTest, HandlesEveryFixtureFrame) {
  const Bytes client = a4("198.51.100.50"), client6 = a6("2001:db8:100::50");
  const Bytes vip = a4("203.0.113.10"), vip_ipip = a4("203.0.113.20"), vip_4in6 = a4("203.0.113.30"),
              vip_empty = a4("203.0.113.40"), vip6 = a6("2001:db8:ff::10"), vip_6in4 = a6("2001:db8:ff::30");
  const KernelBackend web1 = backend("198.51.100.11", 0x11), web2 = backend("198.51.100.12", 0x12),
                      dns1 = backend("198.51.100.13", 0x13, 100, out_), tun4 = backend("198.51.100.21", 0x21),
                      tun6 = backend("2001:db8:100::21", 0x22), tun4in6 = backend("2001:db8:100::23", 0x23),
                      tun6in4 = backend("198.51.100.24", 0x24), web6 = backend("2001:db8:100::25", 0x25),
                      drained = backend("198.51.100.26", 0x26, 0),
                      elsewhere = backend("198.51.100.27", 0x27, 100, other_);
  const KernelService web = service(1, "203.0.113.10", 80, kTcp, lb::Mode::l2dsr, {web1, web2});
  const std::vector<KernelService> services = {
      web,
      service(2, "203.0.113.10", 53, kUdp, lb::Mode::l2dsr, {dns1}),
      service(3, "2001:db8:ff::10", 80, kTcp, lb::Mode::ipip, {tun6}),
      service(4, "203.0.113.20", 80, kTcp, lb::Mode::ipip, {tun4}),
      service(5, "203.0.113.30", 80, kTcp, lb::Mode::ipip, {tun4in6}),
      service(6, "2001:db8:ff::30", 80, kTcp, lb::Mode::ipip, {tun6in4}),
      service(7, "203.0.113.40", 80, kTcp, lb::Mode::l2dsr, {drained}),
      service(8, "2001:db8:ff::10", 53, kUdp, lb::Mode::l2dsr, {web6}),
      service(9, "203.0.113.50", 80, kTcp, lb::Mode::ipip, {elsewhere}),
  };
  dp_->apply(services);

  const Bytes lb = mac_bytes(kLbMac), out = mac_bytes(kOutMac), dns_mac = mac_bytes(dns1.next_hop.dst_mac);
  auto to_web = [&](const Bytes& frame, uint16_t sport) {
    const auto b = table_choice(web, ip("198.51.100.50"), sport, 80);
    EXPECT_TRUE(b);
    return with_macs(frame,
                     mac_bytes(b && *b == web1.address ? web1.next_hop.dst_mac : web2.next_hop.dst_mac), lb);
  };
  const Bytes syn = ether(kEthIpv4, ip4(client, vip, kTcp, tcp(40000, 80, kTcpSyn, Bytes(16, 0xab))));
  const Bytes ack = ether(kEthIpv4, ip4(client, vip, kTcp, tcp(40000, 80, kTcpAck, Bytes(16, 0xab))));
  const Bytes lone_ack = ether(kEthIpv4, ip4(client, vip, kTcp, tcp(40001, 80, kTcpAck)));
  const Bytes synack = ether(kEthIpv4, ip4(client, vip, kTcp, tcp(40002, 80, kTcpSyn | kTcpAck)));
  const Bytes dns = ether(kEthIpv4, ip4(client, vip, kUdp, udp(5353, 53, Bytes(20, 7))));
  const Bytes options = ether(kEthIpv4, ip4(client, vip, kTcp, tcp(40003, 80), 0x4000, {1, 1, 1, 0}));
  const Bytes vlan1 = ether(kEthIpv4, ip4(client, vip, kTcp, tcp(40004, 80)), {kEthQ});
  const Bytes vlan2 = ether(kEthIpv4, ip4(client, vip, kTcp, tcp(40005, 80)), {kEthAd, kEthQ});
  const Bytes ipip4 = ether(kEthIpv4, ip4(client, vip_ipip, kTcp, tcp(40006, 80, kTcpSyn, Bytes(30, 1))));
  const Bytes ipip4_no_df = ether(kEthIpv4, ip4(client, vip_ipip, kTcp, tcp(40007, 80), 0));
  const Bytes ipip4_vlan = ether(kEthIpv4, ip4(client, vip_ipip, kTcp, tcp(40008, 80)), {kEthQ});
  const Bytes ipip4_vlan2 = ether(kEthIpv4, ip4(client, vip_ipip, kTcp, tcp(40009, 80)), {kEthAd, kEthQ});
  const Bytes ipip6 = ether(kEthIpv6, ip6(client6, vip6, kTcp, tcp(40010, 80, kTcpSyn, Bytes(10, 2))));
  const Bytes ipip6_ext = ether(kEthIpv6, ip6(client6, vip6, kDstOpts, ext6(kTcp) + tcp(40011, 80)));
  const Bytes four_in_six = ether(kEthIpv4, ip4(client, vip_4in6, kTcp, tcp(40012, 80)));
  const Bytes six_in_four = ether(kEthIpv6, ip6(client6, vip_6in4, kTcp, tcp(40013, 80)));
  const Bytes udp6 = ether(kEthIpv6, ip6(client6, vip6, kUdp, udp(5353, 53)));
  const Bytes big4 = ether(kEthIpv4, ip4(client, vip_ipip, kTcp, tcp(40014, 80, kTcpAck, Bytes(1450, 3))));
  const Bytes big6 = ether(kEthIpv6, ip6(client6, vip6, kTcp, tcp(40015, 80, kTcpAck, Bytes(1420, 4))));
  const Bytes big4_vlan =
      ether(kEthIpv4, ip4(client, vip_ipip, kTcp, tcp(40016, 80, kTcpAck, Bytes(1451, 5))), {kEthQ});
  const Bytes on_big = ether(kEthIpv4, ip4(client, vip, kTcp, tcp(40020, 80)));
  const Bytes vip_elsewhere = a4("203.0.113.50");
  const Bytes fits_elsewhere =
      ether(kEthIpv4, ip4(client, vip_elsewhere, kTcp, tcp(40018, 80, kTcpAck, Bytes(1340, 7))));
  const Bytes big_elsewhere =
      ether(kEthIpv4, ip4(client, vip_elsewhere, kTcp, tcp(40019, 80, kTcpAck, Bytes(1341, 8))));
  const Bytes fits4 = ether(kEthIpv4, ip4(client, vip_ipip, kTcp, tcp(40017, 80, kTcpAck, Bytes(1440, 6))));

  // clang-format off
  const std::vector<Row> rows = {
    {"TCP SYN to a VIP: hashed, MACs rewritten, XDP_TX", syn, XDP_TX, to_web(syn, 40000), {}, kMiss},
    {"its ACK: the connection table's backend", ack, XDP_TX, to_web(ack, 40000), {}, kHit},
    {"an ACK of a flow not in the table: hashed", lone_ack, XDP_TX, to_web(lone_ack, 40001), {}, kRehash},
    {"a SYN-ACK is no SYN: looked up, then hashed", synack, XDP_TX, to_web(synack, 40002), {}, kRehash},
    {"the same ACK again: now in the table", lone_ack, XDP_TX, to_web(lone_ack, 40001), {}, kHit},
    {"UDP to a VIP on another egress: XDP_REDIRECT", dns, XDP_REDIRECT, with_macs(dns, dns_mac, out), {}, kMiss},
    {"the same UDP flow: a table hit", dns, XDP_REDIRECT, with_macs(dns, dns_mac, out), {}, kHit},
    {"IPv6 UDP to a VIP", udp6, XDP_TX, with_macs(udp6, mac_bytes(web6.next_hop.dst_mac), lb), {}, kMiss},
    {"the VIP, another port: passed", ether(kEthIpv4, ip4(client, vip, kTcp, tcp(40000, 8080))),
     XDP_PASS, {}, ADAM_LB_TOTAL_NOT_VIP, kNone},
    {"the VIP's port over UDP (no such service): passed", ether(kEthIpv4, ip4(client, vip, kUdp, udp(40000, 80))),
     XDP_PASS, {}, ADAM_LB_TOTAL_NOT_VIP, kNone},
    {"another address: passed", ether(kEthIpv4, ip4(client, a4("203.0.113.99"), kTcp, tcp(40000, 80))),
     XDP_PASS, {}, ADAM_LB_TOTAL_NOT_VIP, kNone},
    {"ICMP to a VIP: passed to the stack", ether(kEthIpv4, ip4(client, vip, kIcmp, icmp(3, 4))),
     XDP_PASS, {}, ADAM_LB_TOTAL_NOT_VIP, kNone},
    {"IPv4 with options: balanced", options, XDP_TX, to_web(options, 40003), ADAM_LB_TOTAL_IP_OPTIONS, kMiss},
    {"IPv4 first fragment to a VIP: dropped", ether(kEthIpv4, ip4(client, vip, kTcp, tcp(40000, 80), 0x2000)),
     XDP_DROP, {}, ADAM_LB_TOTAL_FRAGMENT, kNone},
    {"IPv4 later fragment to a VIP: dropped", ether(kEthIpv4, ip4(client, vip, kTcp, zeros(8), 0x0010)),
     XDP_DROP, {}, ADAM_LB_TOTAL_FRAGMENT, kNone},
    {"IPv4 fragment to another address: passed",
     ether(kEthIpv4, ip4(client, a4("203.0.113.99"), kTcp, zeros(8), 0x0010)),
     XDP_PASS, {}, ADAM_LB_TOTAL_NOT_VIP, kNone},
    {"IPv6 fragment header to a VIP: dropped",
     ether(kEthIpv6, ip6(client6, vip6, kFragment, frag6(kTcp, 0, true) + tcp(40000, 80))),
     XDP_DROP, {}, ADAM_LB_TOTAL_FRAGMENT, kNone},
    {"IPv6 later fragment to a VIP: dropped",
     ether(kEthIpv6, ip6(client6, vip6, kFragment, frag6(kTcp, 8, false) + zeros(8))),
     XDP_DROP, {}, ADAM_LB_TOTAL_FRAGMENT, kNone},
    {"one VLAN tag: balanced, the tag kept", vlan1, XDP_TX, to_web(vlan1, 40004), {}, kMiss},
    {"two VLAN tags: balanced, the tags kept", vlan2, XDP_TX, to_web(vlan2, 40005), {}, kMiss},
    {"three VLAN tags: unparsed", ether(kEthIpv4, ip4(client, vip, kTcp, tcp(40000, 80)), {kEthAd, kEthQ, kEthQ}),
     XDP_PASS, {}, ADAM_LB_TOTAL_UNPARSED, kNone},
    {"ipip 4in4: outer IPv4, protocol 4, DF copied", ipip4, XDP_TX, encapsulated(ipip4, 14, tun4), {}, kMiss},
    {"ipip 4in4 of a packet without DF: outer DF clear", ipip4_no_df, XDP_TX, encapsulated(ipip4_no_df, 14, tun4),
     {}, kMiss},
    {"ipip behind a VLAN tag: the tag before the outer header", ipip4_vlan, XDP_TX,
     encapsulated(ipip4_vlan, 18, tun4), {}, kMiss},
    {"ipip behind two VLAN tags", ipip4_vlan2, XDP_TX, encapsulated(ipip4_vlan2, 22, tun4), {}, kMiss},
    {"ipip 6in6: outer IPv6, next header 41", ipip6, XDP_TX, encapsulated(ipip6, 14, tun6), {}, kMiss},
    {"ipip 6in6 with a destination options header", ipip6_ext, XDP_TX, encapsulated(ipip6_ext, 14, tun6), {}, kMiss},
    {"ipip 4in6: outer IPv6, next header 4", four_in_six, XDP_TX, encapsulated(four_in_six, 14, tun4in6), {}, kMiss},
    {"ipip 6in4: outer IPv4, protocol 41, DF set", six_in_four, XDP_TX, encapsulated(six_in_four, 14, tun6in4), {},
     kMiss},
    {"ipip exactly at the MTU: sent", fits4, XDP_TX, encapsulated(fits4, 14, tun4), {}, kRehash},
    {"ipip over the MTU (IPv4): ICMP fragmentation needed back", big4, XDP_TX, too_big_reply(big4, 14, 1480),
     ADAM_LB_TOTAL_TOO_BIG, kNone},
    {"ipip over the MTU behind a VLAN tag: the reply keeps it", big4_vlan, XDP_TX, too_big_reply(big4_vlan, 18, 1480),
     ADAM_LB_TOTAL_TOO_BIG, kNone},
    {"ipip over the MTU (IPv6): ICMPv6 packet too big back", big6, XDP_TX, too_big_reply(big6, 14, 1460),
     ADAM_LB_TOTAL_TOO_BIG, kNone},
    {"ipip to an egress not the balancer's, at its MTU: redirected", fits_elsewhere, XDP_REDIRECT,
     encapsulated(fits_elsewhere, 14, elsewhere), {}, kRehash},
    {"ipip over the kernel's MTU of that egress: ICMP back", big_elsewhere, XDP_TX,
     too_big_reply(big_elsewhere, 14, 1380), ADAM_LB_TOTAL_TOO_BIG, kNone},
    {"a service whose backends are all drained: dropped",
     ether(kEthIpv4, ip4(client, vip_empty, kTcp, tcp(40000, 80))), XDP_DROP, {}, {}, kNoBackend},
    {"truncated VLAN tag", cut(vlan1, 16), XDP_PASS, {}, ADAM_LB_TOTAL_UNPARSED, kNone},
    {"truncated IPv4 header", cut(syn, 14 + 12), XDP_PASS, {}, ADAM_LB_TOTAL_UNPARSED, kNone},
    {"truncated TCP header to a VIP", cut(syn, 14 + 20 + 10), XDP_PASS, {}, ADAM_LB_TOTAL_UNPARSED, kNone},
    {"truncated UDP header to a VIP", cut(dns, 14 + 20 + 6), XDP_PASS, {}, ADAM_LB_TOTAL_UNPARSED, kNone},
    {"truncated IPv6 header", cut(udp6, 14 + 30), XDP_PASS, {}, ADAM_LB_TOTAL_UNPARSED, kNone},
    {"truncated IPv6 extension header", cut(ipip6_ext, 14 + 40 + 4), XDP_PASS, {}, ADAM_LB_TOTAL_UNPARSED, kNone},
    {"IPv4 header length below 5 words", with_byte(syn, 14, 0x44), XDP_PASS, {}, ADAM_LB_TOTAL_UNPARSED, kNone},
    {"ARP: not IP", ether(kEthArp, zeros(28)), XDP_PASS, {}, ADAM_LB_TOTAL_UNPARSED, kNone},
    {"a VIP's SYN on an interface not the balancer's: unseen", syn, XDP_PASS, {}, {}, kNone, other_},
    {"a balancer interface of ifindex 5000 (past the bitmap): balanced, redirected to the egress", on_big,
     XDP_REDIRECT, to_web(on_big, 40020), {}, kMiss, kBigIfindex},
  };
  // clang-format on
  ASSERT_GE(rows.size(), 30u);

  for (const Row& row : rows) {
    SCOPED_TRACE(row.what);
    const auto totals_before = dp_->totals();
    const adam_lb_service_stats before = service_sums();
    const Output got = run_frame(row.frame, row.ifindex ? row.ifindex : veth_);
    EXPECT_EQ(got.action, row.xdp_action);
    EXPECT_EQ(got.frame, row.expected.empty() ? row.frame : row.expected);
    const auto totals_after = dp_->totals();
    for (uint32_t t = 0; t < ADAM_LB_TOTALS; ++t)
      EXPECT_EQ(totals_after[t] - totals_before[t], row.total == t ? 1u : 0u) << "total " << t;
    const adam_lb_service_stats after = service_sums();
    const Counts& c = row.counts;
    EXPECT_EQ(after.lru_hits - before.lru_hits, static_cast<uint64_t>(c.hits));
    EXPECT_EQ(after.lru_misses - before.lru_misses, static_cast<uint64_t>(c.misses));
    EXPECT_EQ(after.new_flows - before.new_flows, static_cast<uint64_t>(c.misses));
    EXPECT_EQ(after.non_syn_rehash - before.non_syn_rehash, static_cast<uint64_t>(c.non_syn));
    EXPECT_EQ(after.no_backend - before.no_backend, static_cast<uint64_t>(c.no_backend));
    EXPECT_EQ(after.packets - before.packets, static_cast<uint64_t>(c.hits + c.misses));
  }
}

// The outer IPv4 header's checksum, checked on its own terms: the header
// sums to 0xffff.
TEST_F(LbDatapathTest, OuterIpv4ChecksumVerifies) {
  const KernelBackend tun = backend("198.51.100.21", 0x21);
  dp_->apply({service(4, "203.0.113.20", 80, kTcp, lb::Mode::ipip, {tun})});
  for (uint16_t sport = 1000; sport < 1064; ++sport) {
    const Bytes frame = ether(kEthIpv4, ip4(a4("198.51.100.50"), a4("203.0.113.20"), kTcp,
                                            tcp(sport, 80, kTcpSyn, Bytes(sport % 50, 9))));
    const Output got = run_frame(frame, veth_);
    ASSERT_EQ(got.action, static_cast<uint32_t>(XDP_TX));
    ASSERT_GE(got.frame.size(), 34u + frame.size() - 14);
    EXPECT_EQ(inet_checksum(slice(got.frame, 14, 20)), 0) << "sport " << sport;
    EXPECT_EQ(slice(got.frame, 34, frame.size() - 14), slice(frame, 14, frame.size() - 14))
        << "payload intact";
  }
}

// --- flows across changes ----------------------------------------------------

class LbFlowTest : public LbDatapathTest {
 protected:
  Bytes packet(uint16_t sport, uint8_t flags) const {
    return ether(kEthIpv4, ip4(a4("198.51.100.50"), a4("203.0.113.10"), kTcp, tcp(sport, 80, flags)));
  }
  // The backend (by its MAC's last byte) the packet went to; 0 when dropped or passed.
  uint8_t sent_to(const Bytes& frame) const {
    const Output got = run_frame(frame, veth_);
    return got.action == XDP_TX ? got.frame[5] : 0;
  }
  std::vector<KernelBackend> three(uint32_t w1 = 100, uint32_t w2 = 100, uint32_t w3 = 100) const {
    return {backend("198.51.100.11", 0x11, w1), backend("198.51.100.12", 0x12, w2),
            backend("198.51.100.13", 0x13, w3)};
  }
  KernelService web(std::vector<KernelBackend> backends) const {
    return service(1, "203.0.113.10", 80, kTcp, lb::Mode::l2dsr, std::move(backends));
  }
  // Places `n` flows with SYNs; returns each one's backend by source port.
  std::map<uint16_t, uint8_t> place(uint16_t n) const {
    std::map<uint16_t, uint8_t> placed;
    for (uint16_t sport = 20000; sport < 20000 + n; ++sport) placed[sport] = sent_to(packet(sport, kTcpSyn));
    return placed;
  }
};

TEST_F(LbFlowTest, DownBackendsFlowsAreRehashedAndCountedStale) {
  dp_->apply({web(three())});
  const auto placed = place(60);
  std::vector<KernelBackend> down = three();
  down[0].down = true;
  down[0].table_weight = 0;
  dp_->apply({web(down)});
  uint64_t moved = 0;
  const uint64_t stale_before = dp_->totals()[ADAM_LB_TOTAL_STALE_FLOW];
  for (const auto& [sport, to] : placed) {
    const uint8_t now = sent_to(packet(sport, kTcpAck));
    if (to == 0x11) {
      EXPECT_NE(now, 0x11) << sport;
      EXPECT_NE(now, 0) << sport;
      ++moved;
    } else {
      EXPECT_EQ(now, to) << "a flow of a backend still up stays: " << sport;
    }
  }
  ASSERT_GT(moved, 0u);
  EXPECT_EQ(dp_->totals()[ADAM_LB_TOTAL_STALE_FLOW] - stale_before, moved);
}

TEST_F(LbFlowTest, RemovedBackendsFlowsAreRehashedEvenWhenItsSlotIsReused) {
  dp_->apply({web(three())});
  const auto placed = place(60);
  std::vector<KernelBackend> two = three();
  two.erase(two.begin());
  dp_->apply({web(two)});
  // A new backend takes the freed slot (a new generation): the old flows
  // must not follow the slot to it.
  two.push_back(backend("198.51.100.14", 0x14, 0));
  dp_->apply({web(two)});
  for (const auto& [sport, to] : placed) {
    const uint8_t now = sent_to(packet(sport, kTcpAck));
    if (to == 0x11)
      EXPECT_TRUE(now == 0x12 || now == 0x13) << sport << " went to " << int{now};
    else
      EXPECT_EQ(now, to) << sport;
  }
}

TEST_F(LbFlowTest, DrainedBackendKeepsItsFlowsAndGetsNoNewOnes) {
  dp_->apply({web(three())});
  const auto placed = place(60);
  dp_->apply({web(three(0, 100, 100))});
  for (const auto& [sport, to] : placed) EXPECT_EQ(sent_to(packet(sport, kTcpAck)), to) << sport;
  for (uint16_t sport = 30000; sport < 30100; ++sport)
    EXPECT_NE(sent_to(packet(sport, kTcpSyn)), 0x11) << sport;
  // A SYN always hashes: a flow of the drained backend that starts again moves.
  for (const auto& [sport, to] : placed) {
    if (to == 0x11) EXPECT_NE(sent_to(packet(sport, kTcpSyn)), 0x11) << sport;
  }
}

TEST_F(LbFlowTest, TableSwapKeepsFlows) {
  dp_->apply({web(three())});
  const auto placed = place(200);
  std::vector<KernelBackend> four = three();
  four.push_back(backend("198.51.100.14", 0x14));
  dp_->apply({web(four)});
  const auto before = dp_->counters().at(0).counters;
  for (const auto& [sport, to] : placed) EXPECT_EQ(sent_to(packet(sport, kTcpAck)), to) << sport;
  EXPECT_EQ(dp_->counters().at(0).counters.lru_hits - before.lru_hits, placed.size());
  // New flows reach the new backend.
  std::set<uint8_t> reached;
  for (uint16_t sport = 30000; sport < 30200; ++sport) reached.insert(sent_to(packet(sport, kTcpSyn)));
  EXPECT_TRUE(reached.count(0x14));
}

TEST_F(LbFlowTest, ExplainPlacesNoFlowAndCountsNothing) {
  dp_->apply({web(three())});
  lb::Flow flow{.src = ip("198.51.100.50"),
                .dst = ip("203.0.113.10"),
                .proto = kTcp,
                .src_port = 20000,
                .dst_port = 80,
                .syn = false};
  const auto flows_before = dp_->flows();
  const auto counters_before = dp_->counters().at(0).counters;
  const auto totals_before = dp_->totals();
  const lb::Explanation e = dp_->explain(flow, veth_);
  EXPECT_EQ(e.xdp_action, static_cast<uint32_t>(XDP_TX));
  EXPECT_EQ(e.service_id, 1);
  EXPECT_EQ(e.source, static_cast<uint32_t>(ADAM_LB_SOURCE_HASH));
  ASSERT_TRUE(e.backend);
  EXPECT_EQ(*e.backend, *table_choice(web(three()), flow.src, 20000, 80));
  ASSERT_GE(e.frame.size(), 12u);
  // three(): 198.51.100.1N has the MAC ending in 0x1N
  EXPECT_EQ(e.frame[5], 0x10 + e.backend->bytes[3] - 10);
  EXPECT_EQ(dp_->flows(), flows_before);
  EXPECT_EQ(dp_->counters().at(0).counters.packets, counters_before.packets);
  EXPECT_EQ(dp_->totals(), totals_before);

  // A real SYN places it; explain then says the table held it.
  const uint8_t to = sent_to(packet(20000, kTcpSyn));
  EXPECT_EQ(dp_->flows(), flows_before + 1);
  const lb::Explanation held = dp_->explain(flow, veth_);
  EXPECT_EQ(held.source, static_cast<uint32_t>(ADAM_LB_SOURCE_FLOW));
  EXPECT_EQ(held.frame[5], to);
  // A flow to no service: none, passed.
  flow.dst_port = 81;
  const lb::Explanation none = dp_->explain(flow, veth_);
  EXPECT_EQ(none.service_id, 0);
  EXPECT_EQ(none.source, static_cast<uint32_t>(ADAM_LB_SOURCE_NONE));
  EXPECT_EQ(none.total, static_cast<uint32_t>(ADAM_LB_TOTAL_NOT_VIP));
  EXPECT_EQ(none.xdp_action, static_cast<uint32_t>(XDP_PASS));
  EXPECT_EQ(dp_->totals(), totals_before);
}

// The inner map ids in the pinned lb_rings, by ring slot.
std::map<uint32_t, uint32_t> ring_ids(const std::string& pin_dir) {
  UniqueFd rings(bpf_obj_get((pin_dir + "/lb_rings").c_str()));
  EXPECT_TRUE(rings);
  std::map<uint32_t, uint32_t> ids;
  for (uint32_t slot = 0; slot < ADAM_LB_RINGS; ++slot) {
    uint32_t id = 0;
    if (bpf_map_lookup_elem(rings.get(), &slot, &id) == 0) ids[slot] = id;
  }
  return ids;
}

TEST_F(LbFlowTest, AdoptFromPinsKeepsSlotsTablesAndFlows) {
  const std::vector<KernelService> services = {
      web(three(100, 50, 0)), service(2, "2001:db8:ff::10", 53, kUdp, lb::Mode::ipip,
                                      {backend("2001:db8:100::21", 0x21), backend("198.51.100.22", 0x22)})};
  dp_->apply(services);
  const auto placed = place(100);
  const auto rings = ring_ids(pin_dir());
  ASSERT_EQ(rings.size(), 2u);
  const auto counters = dp_->counters();

  // adamd restarts: a new Datapath on the same pins, the old one gone.
  dp_.reset();
  dp_ = open_datapath();
  EXPECT_TRUE(dp_->created_pins().empty());
  EXPECT_EQ(dp_->flows(), placed.size());
  EXPECT_EQ(dp_->counters().at(0).counters.packets, counters.at(0).counters.packets);
  dp_->apply(services);
  EXPECT_EQ(ring_ids(pin_dir()), rings) << "the same services rewrote a table";
  const uint64_t stale_before = dp_->totals()[ADAM_LB_TOTAL_STALE_FLOW];
  for (const auto& [sport, to] : placed) EXPECT_EQ(sent_to(packet(sport, kTcpAck)), to) << sport;
  EXPECT_EQ(dp_->totals()[ADAM_LB_TOTAL_STALE_FLOW], stale_before);
  // A change after the adopt still works: the table is replaced.
  dp_->apply({web(three(100, 50, 100)), services[1]});
  EXPECT_NE(ring_ids(pin_dir()), rings);
}

TEST_F(LbFlowTest, ConnectionTableHasTheConfiguredSize) {
  UniqueFd flows(bpf_obj_get((pin_dir() + "/lb_flows").c_str()));
  ASSERT_TRUE(flows);
  bpf_map_info info{};
  __u32 len = sizeof info;
  ASSERT_EQ(bpf_obj_get_info_by_fd(flows.get(), &info, &len), 0);
  EXPECT_EQ(info.max_entries, kFlowCapacity);
  EXPECT_EQ(info.type, static_cast<__u32>(BPF_MAP_TYPE_LRU_HASH));
  EXPECT_TRUE(info.map_flags & BPF_F_NO_COMMON_LRU);
}

TEST_F(LbFlowTest, LimitsRefusedWithNothingChanged) {
  dp_->apply({web(three())});
  const auto placed = place(10);
  std::vector<KernelService> many;
  for (int i = 0; i <= ADAM_LB_MAX_SERVICES; ++i) {
    const std::string vip = "203.0.113." + std::to_string(i % 250);
    many.push_back(service(i + 1, vip.c_str(), static_cast<uint16_t>(1000 + i), kTcp, lb::Mode::l2dsr, {}));
  }
  EXPECT_THROW(dp_->apply(many), std::invalid_argument);
  std::vector<KernelBackend> twice = three();
  twice.push_back(twice[0]);
  EXPECT_THROW(dp_->apply({web(twice)}), std::invalid_argument);
  for (const auto& [sport, to] : placed) EXPECT_EQ(sent_to(packet(sport, kTcpAck)), to) << sport;
}

TEST_F(LbFlowTest, FrameForRefusesWhatItCannotBuild) {
  lb::Flow icmp_flow{.src = ip("198.51.100.50"), .dst = ip("203.0.113.10"), .proto = kIcmp};
  try {
    lb::frame_for(icmp_flow, kLbMac);
    FAIL() << "an ICMP flow was built";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("proto", 0), 0u) << e.what();
  }
  lb::Flow mixed{.src = ip("198.51.100.50"), .dst = ip("2001:db8::1"), .proto = kTcp};
  try {
    lb::frame_for(mixed, kLbMac);
    FAIL() << "a mixed-family flow was built";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("dst", 0), 0u) << e.what();
  }
}

// --- differential: the program against the plain model ------------------------

TEST_F(LbDatapathTest, AgreesWithThePlainModelOnRandomFlows) {
  std::mt19937 rng(1313);
  std::vector<KernelService> services;
  const uint32_t primes[] = {1009, 2003, 4001};
  for (int s = 0; s < 8; ++s) {
    const bool v6 = s % 2 == 1;
    const std::string vip =
        v6 ? "2001:db8:ff::" + std::to_string(s + 1) : "203.0.113." + std::to_string(s + 1);
    KernelService ks = service(s + 1, vip.c_str(), static_cast<uint16_t>(80 + s % 3),
                               s % 3 == 2 ? kUdp : kTcp, lb::Mode::l2dsr, {}, primes[s % 3]);
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int b = 0; b < n; ++b) {
      const std::string address = "198.51.100." + std::to_string(10 + s * 10 + b);
      KernelBackend kb = backend(address.c_str(), static_cast<uint8_t>(s * 16 + b), rng() % 4 * 50);
      kb.next_hop.dst_mac = mac(static_cast<uint8_t>(b), static_cast<uint8_t>(s + 1));
      ks.backends.push_back(kb);
    }
    services.push_back(ks);
  }
  dp_->apply(services);

  // The model: service lookup, then the connection table for what is not
  // a SYN, then the table.
  using Key = std::tuple<int, IpAddress, uint16_t>;  // service, source, source port
  std::map<Key, IpAddress> model_flows;
  auto model = [&](int s, const IpAddress& src, uint16_t sport, bool syn) -> std::optional<IpAddress> {
    const KernelService& ks = services[s];
    const Key key{s, src, sport};
    if (!syn) {
      auto it = model_flows.find(key);
      if (it != model_flows.end()) {
        for (const KernelBackend& b : ks.backends)
          if (b.address == it->second && !b.down) return it->second;
      }
    }
    const auto chosen = table_choice(ks, src, sport, ks.port);
    if (chosen) model_flows[key] = *chosen;
    return chosen;
  };
  auto frame_of = [&](int s, const IpAddress& src, uint16_t sport, bool syn) {
    const KernelService& ks = services[s];
    const Bytes l4 = ks.proto == kUdp ? udp(sport, ks.port) : tcp(sport, ks.port, syn ? kTcpSyn : kTcpAck);
    if (ks.vip.family == 4) return ether(kEthIpv4, ip4(bytes_of(src), bytes_of(ks.vip), ks.proto, l4));
    return ether(kEthIpv6, ip6(bytes_of(src), bytes_of(ks.vip), ks.proto, l4));
  };
  auto random_src = [&](int s) {
    const std::string text = services[s].vip.family == 4 ? "198.51.100." + std::to_string(rng() % 250)
                                                         : "2001:db8:100::" + hex(rng() % 0xffff);
    return ip(text.c_str());
  };
  auto backend_of_mac = [&](int s, const Bytes& frame) -> std::optional<IpAddress> {
    for (const KernelBackend& b : services[s].backends)
      if (mac_bytes(b.next_hop.dst_mac) == slice(frame, 0, 6)) return b.address;
    return std::nullopt;
  };

  struct Sent {
    int service;
    IpAddress src;
    uint16_t sport;
  };
  std::vector<Sent> sent;
  auto check = [&](const Sent& f, bool syn, int round) {
    const auto expected = model(f.service, f.src, f.sport, syn);
    const Output got = run_frame(frame_of(f.service, f.src, f.sport, syn), veth_);
    if (!expected) {
      EXPECT_EQ(got.action, static_cast<uint32_t>(XDP_DROP)) << "round " << round << " service " << f.service;
      return;
    }
    ASSERT_EQ(got.action, static_cast<uint32_t>(XDP_TX)) << "round " << round << " service " << f.service;
    const auto to = backend_of_mac(f.service, got.frame);
    ASSERT_TRUE(to);
    EXPECT_EQ(to->to_string(), expected->to_string())
        << "round " << round << " service " << f.service << " " << f.src.to_string() << ":" << f.sport;
  };
  for (int i = 0; i < 1500; ++i) {
    const int s = static_cast<int>(rng() % services.size());
    Sent f{s, random_src(s), static_cast<uint16_t>(1024 + rng() % 60000)};
    check(f, true, 0);
    sent.push_back(f);
  }
  for (const Sent& f : sent) check(f, false, 1);

  // New weights, a backend down per service: flows of up backends stay, the
  // others move as the model says.
  for (KernelService& ks : services) {
    for (KernelBackend& b : ks.backends) b.table_weight = rng() % 4 * 50;
    ks.backends[0].down = true;
    ks.backends[0].table_weight = 0;
  }
  dp_->apply(services);
  for (const Sent& f : sent) check(f, false, 2);
}

// --- the decapsulator ----------------------------------------------------------

class LbDecapTest : public LbDatapathTest {
 protected:
  void SetUp() override {
    LbDatapathTest::SetUp();
    if (IsSkipped()) return;
    decap_ = std::make_unique<lb::Decap>(pin_dir());
    decap_->set_interfaces({"veth-b"}, "decap_interfaces");
  }
  void TearDown() override {
    decap_.reset();
    if (pins_) lb::remove_decap_pins(pin_dir());
  }
  static constexpr uint32_t kTcNext = static_cast<uint32_t>(-1), kTcShot = 2;
  std::unique_ptr<lb::Decap> decap_;
};

TEST_F(LbDecapTest, StripsOuterHeadersAddressedToUs) {
  const Bytes us4 = a4("198.51.100.2"), us6 = a6("2001:db8:100::2"), lb4 = a4("198.51.100.1"),
              lb6 = a6("2001:db8:100::1");
  const Bytes inner4 =
      ip4(a4("198.51.100.50"), a4("203.0.113.10"), kTcp, tcp(40000, 80, kTcpSyn, Bytes(9, 1)));
  const Bytes inner6 = ip6(a6("2001:db8:100::50"), a6("2001:db8:ff::10"), kTcp, tcp(40000, 80));
  struct Case {
    std::string what;
    Bytes frame;
    uint32_t verdict;
    Bytes expected;  // empty: unchanged
    int done = 0, malformed = 0;
  };
  const std::vector<Case> cases = {
      {"IPIP", ether(kEthIpv4, ip4(lb4, us4, 4, inner4)), kTcNext, ether(kEthIpv4, inner4), 1},
      {"IP6IP6", ether(kEthIpv6, ip6(lb6, us6, 41, inner6)), kTcNext, ether(kEthIpv6, inner6), 1},
      {"4in6", ether(kEthIpv6, ip6(lb6, us6, 4, inner4)), kTcNext, ether(kEthIpv4, inner4), 1},
      {"6in4", ether(kEthIpv4, ip4(lb4, us4, 41, inner6)), kTcNext, ether(kEthIpv6, inner6), 1},
      {"IPIP with outer options", ether(kEthIpv4, ip4(lb4, us4, 4, inner4, 0x4000, {1, 1, 1, 0})), kTcNext,
       ether(kEthIpv4, inner4), 1},
      {"IPIP to another address: untouched",
       ether(kEthIpv4, ip4(lb4, a4("198.51.100.9"), 4, inner4)),
       kTcNext,
       {}},
      {"IP6IP6 to another address: untouched",
       ether(kEthIpv6, ip6(lb6, a6("2001:db8:100::9"), 41, inner6)),
       kTcNext,
       {}},
      {"plain TCP to us: untouched", ether(kEthIpv4, inner4), kTcNext, {}},
      {"IPIP whose inner header is IPv6: malformed",
       ether(kEthIpv4, ip4(lb4, us4, 4, inner6)),
       kTcShot,
       {},
       0,
       1},
      {"6in4 whose inner header is IPv4: malformed",
       ether(kEthIpv4, ip4(lb4, us4, 41, inner4)),
       kTcShot,
       {},
       0,
       1},
      {"IPIP with a truncated inner header: malformed",
       ether(kEthIpv4, ip4(lb4, us4, 4, cut(inner4, 12))),
       kTcShot,
       {},
       0,
       1},
      {"an outer fragment: left to the stack",
       ether(kEthIpv4, ip4(lb4, us4, 4, inner4, 0x2000)),
       kTcNext,
       {}},
      {"ARP: untouched", ether(kEthArp, zeros(28)), kTcNext, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const auto before = decap_->totals();
    const Output got = run_decap(*decap_, c.frame, veth_);
    EXPECT_EQ(got.action, c.verdict);
    if (c.verdict == kTcNext) EXPECT_EQ(got.frame, c.expected.empty() ? c.frame : c.expected);
    const auto after = decap_->totals();
    EXPECT_EQ(after[ADAM_LB_DECAP_DONE] - before[ADAM_LB_DECAP_DONE], static_cast<uint64_t>(c.done));
    EXPECT_EQ(after[ADAM_LB_DECAP_MALFORMED] - before[ADAM_LB_DECAP_MALFORMED],
              static_cast<uint64_t>(c.malformed));
  }
  // On another interface the same addresses are not ours.
  const Bytes ipip = ether(kEthIpv4, ip4(lb4, us4, 4, inner4));
  EXPECT_EQ(run_decap(*decap_, ipip, other_).frame, ipip);
}

TEST_F(LbDecapTest, UndoesTheBalancersEncapsulationByteForByte) {
  // The backends are this namespace's own addresses: the decapsulator's.
  const KernelBackend v4 = backend("198.51.100.2", 0x02), v6 = backend("2001:db8:100::2", 0x02);
  dp_->apply({service(1, "203.0.113.20", 80, kTcp, lb::Mode::ipip, {v4}),
              service(2, "2001:db8:ff::20", 80, kTcp, lb::Mode::ipip, {v6}),
              service(3, "203.0.113.21", 80, kTcp, lb::Mode::ipip, {v6}),
              service(4, "2001:db8:ff::21", 80, kTcp, lb::Mode::ipip, {v4})});
  const std::vector<Bytes> frames = {
      ether(kEthIpv4, ip4(a4("198.51.100.50"), a4("203.0.113.20"), kTcp, tcp(1, 80, kTcpSyn, Bytes(33, 1)))),
      ether(kEthIpv6,
            ip6(a6("2001:db8:100::50"), a6("2001:db8:ff::20"), kTcp, tcp(2, 80, kTcpSyn, Bytes(7, 2)))),
      ether(kEthIpv4, ip4(a4("198.51.100.50"), a4("203.0.113.21"), kTcp, tcp(3, 80, kTcpSyn, Bytes(64, 3)))),
      ether(kEthIpv6,
            ip6(a6("2001:db8:100::50"), a6("2001:db8:ff::21"), kTcp, tcp(4, 80, kTcpSyn, Bytes(1, 4)))),
  };
  for (const Bytes& frame : frames) {
    const Output encapsulated = run_frame(frame, veth_);
    ASSERT_EQ(encapsulated.action, static_cast<uint32_t>(XDP_TX));
    ASSERT_GT(encapsulated.frame.size(), frame.size());
    const Output decapsulated = run_decap(*decap_, encapsulated.frame, veth_);
    EXPECT_EQ(decapsulated.action, kTcNext);
    EXPECT_EQ(decapsulated.frame, with_macs(frame, mac_bytes(v4.next_hop.dst_mac), mac_bytes(kLbMac)));
  }
}

TEST_F(LbDecapTest, NamesAMissingInterface) {
  try {
    decap_->set_interfaces({"veth-b", "zz-missing"}, "decap_interfaces");
    FAIL() << "a missing interface was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.field(), "decap_interfaces[1]");
  }
  EXPECT_EQ(decap_->interfaces(), std::set<std::string>{"veth-b"});
}

TEST_F(LbDecapTest, LinksArePinnedAndAdoptedThenRemoved) {
  EXPECT_EQ(tc_ingress_prog_ids(pair_->b(), "veth-b").size(), 1u);
  decap_.reset();  // adamd stops: the link stays
  EXPECT_EQ(tc_ingress_prog_ids(pair_->b(), "veth-b").size(), 1u);
  decap_ = std::make_unique<lb::Decap>(pin_dir());
  EXPECT_EQ(decap_->interfaces(), std::set<std::string>{"veth-b"});
  decap_.reset();
  lb::remove_decap_pins(pin_dir());
  EXPECT_TRUE(tc_ingress_prog_ids(pair_->b(), "veth-b").empty());
}

}  // namespace
}  // namespace adam::test
