// The load balancer's packet path: arbitrary frames through BPF_PROG_TEST_RUN
// at both of its entry points, the balancer's XDP program and the
// decapsulator at tc ingress, against the C++ reference decision of
// docs/lb.md ("Data path", "Decapsulation"): the frame parsed as the
// firewall's reference parse reads it (reference_parse.h: the two programs
// share bpf/adam/packet.h), then the service it is addressed to, the Maglev
// table's backend for its flow (tests/support/lb_reference.h) and the frame
// that comes out, byte for byte. The services are fixed for the run: l2dsr
// services with backends behind lo (XDP_TX), one without backends; the
// decapsulator runs on lo for an IPv4 and an IPv6 address of lo's.
// Needs root and the kernel; runs in a network and mount namespace of its
// own, with a bpffs of its own, so nothing is left behind even on a crash.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "../support/lb_reference.h"
#include "core/xdp_chain.h"
#include "core/xdp_test_run.h"
#include "fuzz_check.h"
#include "plugins/lb/decap.h"
#include "private_namespaces.h"
#include "reference_parse.h"

namespace {

using adam::fuzz::Parsed;
using adam::fuzz::reference_parse;
using adam::lb::IpAddress;
using adam::lb::KernelBackend;
using adam::lb::KernelService;
using Frame = std::vector<uint8_t>;

constexpr std::array<uint8_t, 6> kLbMac = {2, 0, 0, 0, 0, 0xb0};
constexpr uint32_t kTcNext = static_cast<uint32_t>(-1), kTcShot = 2;
constexpr uint8_t kTcp = 6, kUdp = 17;

IpAddress address(const char* text) { return adam::lb::parse_address(text, "address"); }

std::string hex(std::span<const uint8_t> f) {
  std::string out;
  for (uint8_t b : f) out += "0123456789abcdef"[b >> 4], out += "0123456789abcdef"[b & 15];
  return out;
}

void must(const std::string& command) {
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "lb_packet_path_fuzz: '%s' failed\n", command.c_str());
    std::exit(1);
  }
}

struct Balancer {
  std::unique_ptr<adam::XdpChain> chain;
  std::unique_ptr<adam::lb::Datapath> datapath;
  std::unique_ptr<adam::lb::Decap> decap;
  std::vector<KernelService> services;
  std::vector<std::vector<uint32_t>> tables;  // services[i]'s Maglev table
  std::vector<IpAddress> decap_addresses;     // lo's
  uint32_t lo = 0;

  Balancer() {
    adam::fuzz::enter_private_namespaces("lb_packet_path_fuzz");
    must(
        "ip link set lo up && ip addr add 198.51.100.2/32 dev lo && ip addr add 2001:db8:100::2/128 dev lo "
        "nodad");
    // lo's own addresses are its too: the decapsulator takes every address of the interface.
    decap_addresses = {address("198.51.100.2"), address("2001:db8:100::2"), address("127.0.0.1"),
                       address("::1")};
    lo = ::if_nametoindex("lo");
    const std::string pins = "/sys/fs/bpf/adam";
    chain = std::make_unique<adam::XdpChain>(pins);
    datapath = std::make_unique<adam::lb::Datapath>(chain->chain_fd(), pins + "/lb", 4096);
    adam_lb_iface iface{};
    std::copy(kLbMac.begin(), kLbMac.end(), iface.mac);
    iface.mtu = 1500;
    datapath->set_interfaces({{lo, iface}});
    services = {
        service(1, "203.0.113.10", 80, kTcp, {"198.51.100.11", "198.51.100.12"}),
        service(2, "203.0.113.10", 53, kUdp, {"198.51.100.13"}),
        service(3, "2001:db8:ff::10", 80, kTcp, {"2001:db8:100::21", "2001:db8:100::22", "2001:db8:100::23"}),
        service(4, "2001:db8:ff::10", 443, kUdp, {"2001:db8:100::24"}),
        service(5, "203.0.113.40", 80, kTcp, {}),  // no backend: dropped
    };
    datapath->apply(services);
    for (const KernelService& s : services) tables.push_back(adam::test::reference_table(s));
    decap = std::make_unique<adam::lb::Decap>(pins + "/lb");
    decap->set_interfaces({"lo"}, "decap_interfaces");
  }

  KernelService service(int64_t id, const char* vip, uint16_t port, uint8_t proto,
                        const std::vector<const char*>& backends) const {
    KernelService s;
    s.id = id;
    s.vip = address(vip);
    s.port = port;
    s.proto = proto;
    s.table_size = 1009;
    for (size_t i = 0; i < backends.size(); ++i) {
      KernelBackend b;
      b.address = address(backends[i]);
      b.table_weight = 100;
      b.next_hop.resolved = true;
      b.next_hop.ifindex = lo;
      b.next_hop.src_mac = kLbMac;
      b.next_hop.dst_mac = {2, 0, 0, 0, static_cast<uint8_t>(id), static_cast<uint8_t>(i + 1)};
      b.next_hop.source = address(b.address.family == 4 ? "198.51.100.1" : "2001:db8:100::1");
      b.next_hop.mtu = 1500;
      s.backends.push_back(b);
    }
    return s;
  }

  // What the balancer does with the frame: its XDP action and the frame
  // that leaves (docs/lb.md's table, top to bottom).
  std::pair<uint32_t, Frame> balance(std::span<const uint8_t> frame, const Parsed& parsed) const {
    const Frame same(frame.begin(), frame.end());
    if (!parsed.ip || parsed.key.family == 0 || !parsed.proto_known) return {XDP_PASS, same};
    IpAddress dst;
    dst.family = parsed.key.family;
    std::copy(parsed.key.dst.begin(), parsed.key.dst.end(), dst.bytes.begin());
    for (size_t i = 0; i < services.size(); ++i) {
      const KernelService& s = services[i];
      if (s.vip != dst || s.proto != parsed.key.proto) continue;
      if (parsed.fragment) return {XDP_DROP, same};  // to the VIP and protocol: whatever the port
      if (!parsed.key.has_ports || parsed.key.dst_port != s.port) continue;
      IpAddress src;
      src.family = parsed.key.family;
      std::copy(parsed.key.src.begin(), parsed.key.src.end(), src.bytes.begin());
      const auto chosen = adam::test::table_choice(s, tables[i], src, parsed.key.src_port, s.port);
      if (!chosen) return {XDP_DROP, same};
      Frame out = same;
      for (const KernelBackend& b : s.backends)
        if (b.address == *chosen)
          std::copy(b.next_hop.dst_mac.begin(), b.next_hop.dst_mac.end(), out.begin());
      std::copy(kLbMac.begin(), kLbMac.end(), out.begin() + 6);
      return {XDP_TX, out};
    }
    return {XDP_PASS, same};
  }

  bool ours(std::span<const uint8_t> a, uint8_t family) const {
    for (const IpAddress& d : decap_addresses)
      if (d.family == family && std::equal(a.begin(), a.end(), d.bytes.begin())) return true;
    return false;
  }

  // What the decapsulator does with the frame: its tc verdict and the frame
  // that goes on (docs/lb.md "Decapsulation"; no VLAN tags: not ours).
  std::pair<uint32_t, Frame> decapsulate(std::span<const uint8_t> f) const {
    const Frame same(f.begin(), f.end());
    if (f.size() < 14) return {kTcNext, same};
    const uint16_t type = adam::fuzz::be16_at(f, 12);
    size_t outer = 0;
    uint8_t inner_family = 0;
    if (type == 0x0800) {
      if (f.size() < 34 || f[14] >> 4 != 4 || (f[14] & 0xf) < 5) return {kTcNext, same};
      if (f[23] != 4 && f[23] != 41) return {kTcNext, same};
      if (adam::fuzz::be16_at(f, 20) & 0x3fff) return {kTcNext, same};
      if (!ours(f.subspan(30, 4), 4)) return {kTcNext, same};
      outer = (f[14] & 0xfu) * 4;
      inner_family = f[23] == 4 ? 4 : 6;
    } else if (type == 0x86DD) {
      if (f.size() < 54 || f[14] >> 4 != 6) return {kTcNext, same};
      if (f[20] != 4 && f[20] != 41) return {kTcNext, same};
      if (!ours(f.subspan(38, 16), 6)) return {kTcNext, same};
      outer = 40;
      inner_family = f[20] == 4 ? 4 : 6;
    } else {
      return {kTcNext, same};
    }
    const size_t inner = 14 + outer;
    const bool whole = inner_family == 4
                           ? inner + 20 <= f.size() && f[inner] >> 4 == 4 && (f[inner] & 0xf) >= 5
                           : inner + 40 <= f.size() && f[inner] >> 4 == 6;
    if (!whole) return {kTcShot, same};
    Frame out(f.begin(), f.begin() + 12);
    out.push_back(inner_family == 4 ? 0x08 : 0x86);
    out.push_back(inner_family == 4 ? 0x00 : 0xDD);
    out.insert(out.end(), f.begin() + static_cast<std::ptrdiff_t>(inner), f.end());
    return {kTcNext, out};
  }

  // The decapsulator's verdict and output, or nothing when BPF_PROG_TEST_RUN
  // builds no skb of the frame (EINVAL: an IP header cut short, a frame
  // below 14 bytes).
  std::optional<std::pair<uint32_t, Frame>> run_decap(std::span<const uint8_t> frame) const {
    Frame out(frame.size() + 256);
    const auto run = adam::tc_test_run(decap->prog_fd(), frame, lo, out);
    if (!run) return std::nullopt;
    out.resize(run->size_out);
    return std::pair{static_cast<uint32_t>(run->verdict), out};
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  static Balancer lb;
  if (size > 1024) return 0;  // headers are what is parsed; longer adds nothing but time
  const std::span<const uint8_t> frame(bytes, size);
  const std::string what = "frame " + hex(frame);

  const auto [action, want] = lb.balance(frame, reference_parse(frame));
  std::optional<adam::XdpRunResult> xdp;
  Frame out(size + 256);
  try {
    xdp = adam::xdp_test_run(lb.datapath->prog_fd(), frame, lb.lo, 1, 0, out);
  } catch (const std::runtime_error&) {
    FUZZ_CHECK(size < 14, what + ": BPF_PROG_TEST_RUN refused a frame of " + std::to_string(size) + " bytes");
  }
  if (xdp) {
    out.resize(xdp->size_out);
    FUZZ_CHECK(xdp->verdict == action, what + ": XDP action " + std::to_string(xdp->verdict) +
                                           ", the reference " + std::to_string(action));
    if (action != XDP_DROP)
      FUZZ_CHECK(out == want, what + ": the balancer sent " + hex(out) + ", the reference " + hex(want));
  }

  if (const auto decap = lb.run_decap(frame)) {
    const auto [verdict, expected] = lb.decapsulate(frame);
    FUZZ_CHECK(decap->first == verdict, what + ": decap verdict " +
                                            std::to_string(static_cast<int>(decap->first)) +
                                            ", the reference " + std::to_string(static_cast<int>(verdict)));
    if (verdict == kTcNext)
      FUZZ_CHECK(decap->second == expected, what + ": the decapsulator let " + hex(decap->second) +
                                                " go on, the reference " + hex(expected));
  }
  return 0;
}
