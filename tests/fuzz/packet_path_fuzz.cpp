// The firewall's packet path: arbitrary frames (truncated headers, odd IHL,
// IPv6 extension-header chains, VLAN stacks, zero lengths: the seeds have
// one of each to start from) through BPF_PROG_TEST_RUN at both entry points
// of the loaded firewall program, XDP and tc, against the C++ reference
// decision: the frame parsed as docs/firewall.md ("Packet parsing") says the
// parser (bpf/adam/packet.h) reads it, then reference_classify() over the
// ruleset the program holds. The ruleset is fixed for the run (an apply()
// per input would measure RCU grace periods): 48 random rules around the
// test networks from tests/support/firewall_random.h, plus rules on the
// fields a parse leaves unknown (an unparsed frame, an unknown protocol).
// Needs root and the kernel; runs in a network and mount namespace of its
// own, with a bpffs of its own, so nothing is left behind even on a crash.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "../support/firewall_random.h"
#include "core/xdp_chain.h"
#include "core/xdp_test_run.h"
#include "fuzz_check.h"
#include "plugins/firewall/datapath.h"
#include "plugins/firewall/rule_json.h"
#include "private_namespaces.h"
#include "reference_parse.h"

namespace {

using adam::fuzz::Parsed;
using adam::fuzz::reference_parse;
using adam::fw::Action;
using adam::fw::Decision;

struct Firewall {
  std::string pin_dir;
  std::unique_ptr<adam::XdpChain> chain;
  std::unique_ptr<adam::fw::Datapath> datapath;
  adam::fw::Ruleset ruleset;
  adam::fw::IfindexMap interfaces;
  uint32_t lo = 0;
  uint8_t unknown_proto = 0;  // a protocol number no rule names: how the reference sees "unknown"

  Firewall() {
    adam::fuzz::enter_private_namespaces("packet_path_fuzz");
    lo = ::if_nametoindex("lo");
    pin_dir = "/sys/fs/bpf/adam";
    chain = std::make_unique<adam::XdpChain>(pin_dir);
    datapath = std::make_unique<adam::fw::Datapath>(chain->chain_fd(), "");
    datapath->set_interfaces({lo});
    interfaces = {{"lo", lo}};
    adam::test::RandomRules random(20261201, interfaces);
    ruleset = random.ruleset(48);
    ruleset.default_action = Action::drop;
    // Rules on what only odd frames have: an extension-header number as the
    // protocol (a non-first IPv6 fragment's next header), ports without a
    // protocol, and an interface that does not exist.
    ruleset.rules.push_back(adam::test::make_rule(900, 1000, Action::pass, {.proto = {43, 60}}));
    ruleset.rules.push_back(adam::test::make_rule(901, 1001, Action::drop, {.src_port = {{0, 1023}}}));
    ruleset.rules.push_back(adam::test::make_rule(902, 1002, Action::pass, {.iface = {"missing0"}}));
    std::vector<bool> named(256);
    for (const auto& r : ruleset.rules)
      for (uint8_t p : r.match.proto) named[p] = true;
    while (named[unknown_proto]) ++unknown_proto;
    datapath->apply(ruleset, interfaces);
  }
  ~Firewall() {
    datapath.reset();
    chain.reset();
  }

  Decision reference(const Parsed& parsed) const {
    if (!parsed.ip) return Decision{Action::pass, 0};
    adam::fw::PacketKey key = parsed.key;
    if (!parsed.proto_known) {
      key.proto = unknown_proto;
      key.has_ports = false;
    }
    key.ifindex = lo;
    return adam::fw::reference_classify(ruleset, key, interfaces);
  }

  // The tc entry's verdict, or nothing when BPF_PROG_TEST_RUN builds no skb
  // of the frame (EINVAL: an IP header cut short, a frame below 14 bytes).
  std::optional<int> tc_verdict(std::span<const uint8_t> frame) const {
    const auto run = adam::tc_test_run(datapath->tc_prog_fd(), frame, lo);
    if (!run) return std::nullopt;
    return run->verdict;
  }
};

std::string hex(std::span<const uint8_t> f) {
  std::string out;
  for (uint8_t b : f) out += "0123456789abcdef"[b >> 4], out += "0123456789abcdef"[b & 15];
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  static Firewall fw;
  if (size > 1024) return 0;  // headers are what is parsed; longer adds nothing but time
  const std::span<const uint8_t> frame(bytes, size);
  const Parsed parsed = reference_parse(frame);
  const Decision want = fw.reference(parsed);
  std::string what = "frame " + hex(frame) + ": reference rule " + std::to_string(want.rule_id) + " " +
                     adam::fw::action_name(want.action);
  for (const auto& r : fw.ruleset.rules)
    if (r.id == want.rule_id) what += " (" + adam::fw::rule_to_json(r).dump() + ")";

  std::optional<adam::fw::TestRun> xdp;
  try {
    xdp = fw.datapath->test_run(frame, fw.lo);
  } catch (const std::runtime_error&) {
    FUZZ_CHECK(size < 14, what + ": BPF_PROG_TEST_RUN refused a frame of " + std::to_string(size) + " bytes");
  }
  if (xdp) {
    FUZZ_CHECK(xdp->classified, what + ": the XDP entry did not classify a frame on its interface");
    FUZZ_CHECK(xdp->decision.action == want.action && xdp->decision.rule_id == want.rule_id,
               what + "; XDP rule " + std::to_string(xdp->decision.rule_id) + " " +
                   adam::fw::action_name(xdp->decision.action));
    FUZZ_CHECK(xdp->xdp_action == (want.action == Action::drop ? XDP_DROP : XDP_PASS),
               what + "; XDP action " + std::to_string(xdp->xdp_action));
  }
  if (const std::optional<int> tc = fw.tc_verdict(frame)) {
    constexpr int kTcNext = -1, kTcShot = 2;
    FUZZ_CHECK(*tc == (want.action == Action::drop ? kTcShot : kTcNext),
               what + "; tc verdict " + std::to_string(*tc));
  }
  return 0;
}
