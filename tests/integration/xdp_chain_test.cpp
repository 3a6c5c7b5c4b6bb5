// The shared XDP hook: root program + tail-call chain (src/core/xdp_chain.h),
// on a veth pair between two network namespaces of the test's own.
// <net/if.h> before the <linux/...> headers (linux/libc-compat.h then skips
// the duplicate definitions of linux/if.h).
#include <net/if.h>
// clang-format off
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/icmp.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
// clang-format on

#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "adam/xdp_chain.h"  // slot numbers
#include "chain_probe.skel.h"
#include "core/bpf_handle.h"
#include "core/errors.h"
#include "core/xdp_chain.h"
#include "core/xdp_test_run.h"
#include "support/netns.h"

namespace adam::test {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kSlotA = 1;
constexpr uint32_t kSlotB = 2;
constexpr int kXdpDrop = 1;
constexpr int kXdpPass = 2;

using Probe = SkeletonPtr<chain_probe_bpf, chain_probe_bpf__destroy>;

// Opens and loads a probe for `slot`; chain_fd < 0 leaves it its own private
// chain map.
Probe load_probe(int chain_fd, uint32_t slot) {
  Probe skel(chain_probe_bpf__open());
  if (!skel) throw std::runtime_error("cannot open probe: " + libbpf_error(-errno));
  skel->rodata->probe_slot = static_cast<int>(slot);
  if (chain_fd >= 0) {
    if (int err = bpf_map__reuse_fd(skel->maps.adam_xdp_chain, chain_fd); err)
      throw std::runtime_error("reuse_fd: " + libbpf_error(err));
  }
  if (int err = chain_probe_bpf__load(skel.get()); err)
    throw std::runtime_error("cannot load probe: " + libbpf_error(err));
  return skel;
}
Probe load_a(int chain_fd) { return load_probe(chain_fd, kSlotA); }
Probe load_b(int chain_fd) { return load_probe(chain_fd, kSlotB); }

uint64_t icmp_seen(const Probe& p) { return __atomic_load_n(&p->bss->packets_icmp, __ATOMIC_SEQ_CST); }
void set_drop(const Probe& p, bool drop) {
  __atomic_store_n(&p->bss->drop_icmp, drop ? 1u : 0u, __ATOMIC_SEQ_CST);
}

uint32_t prog_id(int prog_fd) {
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return 0;
  return info.id;
}

// An Ethernet/IPv4/ICMP echo request 198.51.100.1 -> 198.51.100.2.
std::vector<uint8_t> icmp_echo_packet() {
  std::vector<uint8_t> pkt(sizeof(ethhdr) + sizeof(iphdr) + sizeof(icmphdr) + 16, 0);
  auto* eth = reinterpret_cast<ethhdr*>(pkt.data());
  const uint8_t dst[ETH_ALEN] = {0x02, 0, 0, 0, 0, 2}, src[ETH_ALEN] = {0x02, 0, 0, 0, 0, 1};
  std::memcpy(eth->h_dest, dst, ETH_ALEN);
  std::memcpy(eth->h_source, src, ETH_ALEN);
  eth->h_proto = htons(ETH_P_IP);
  // The headers are built aside and copied in: at offset 14 they are not
  // aligned for their types.
  iphdr ip{};
  ip.version = 4;
  ip.ihl = 5;
  ip.tot_len = htons(static_cast<uint16_t>(pkt.size() - sizeof(ethhdr)));
  ip.ttl = 64;
  ip.protocol = IPPROTO_ICMP;
  inet_pton(AF_INET, "198.51.100.1", &ip.saddr);
  inet_pton(AF_INET, "198.51.100.2", &ip.daddr);
  std::memcpy(pkt.data() + sizeof(ethhdr), &ip, sizeof ip);
  icmphdr icmp{};
  icmp.type = ICMP_ECHO;
  std::memcpy(pkt.data() + sizeof(ethhdr) + sizeof(iphdr), &icmp, sizeof icmp);
  return pkt;
}

// The verdict of one BPF_PROG_TEST_RUN of `prog_fd` on `pkt`.
int test_run(int prog_fd, const std::vector<uint8_t>& pkt) {
  return static_cast<int>(xdp_test_run(prog_fd, pkt, 0).verdict);
}

// The id of the bpf_link pinned at `path` (0: none).
uint32_t pinned_link_id(const std::string& path) {
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (!fd) return 0;
  bpf_link_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return 0;
  return info.id;
}

using XdpChainTest = InNetnsTest;

TEST_F(XdpChainTest, TailCallsThePluginsInSlotOrder) {
  XdpChain chain(pins());
  EXPECT_TRUE(fs::exists(pins() + "/xdp/chain"));
  chain.set_interfaces("test", {"veth-b"});
  EXPECT_TRUE(fs::exists(pins() + "/xdp/root@veth-b"));
  EXPECT_TRUE(veth_b_has_xdp());
  auto ifs = chain.interfaces();
  ASSERT_EQ(ifs.size(), 1u);
  EXPECT_EQ(ifs[0].ifname, "veth-b");
  EXPECT_EQ(ifs[0].ifindex, if_nametoindex("veth-b"));
  EXPECT_EQ(ifs[0].owners, std::set<std::string>{"test"});

  // The root program alone: packets pass.
  EXPECT_TRUE(ping());

  Probe a = load_a(chain.chain_fd());
  Probe b = load_b(chain.chain_fd());
  chain.install(kSlotA, bpf_program__fd(a->progs.chain_probe));
  chain.install(kSlotB, bpf_program__fd(b->progs.chain_probe));
  EXPECT_EQ(chain.slot_prog_id(kSlotA), prog_id(bpf_program__fd(a->progs.chain_probe)));
  EXPECT_EQ(chain.slot_prog_id(kSlotB), prog_id(bpf_program__fd(b->progs.chain_probe)));
  EXPECT_EQ(chain.slot_prog_id(0), 0u);

  ASSERT_TRUE(ping());
  EXPECT_GE(icmp_seen(a), 5u);
  EXPECT_GE(icmp_seen(b), 5u);

  // A drops: nothing reaches B (nor the stack), A still sees every packet.
  set_drop(a, true);
  const uint64_t a_before = icmp_seen(a), b_before = icmp_seen(b);
  EXPECT_FALSE(ping());
  EXPECT_GE(icmp_seen(a), a_before + 5);
  EXPECT_EQ(icmp_seen(b), b_before);

  // A lets go again; B out of the chain: packets still pass, B sees none.
  set_drop(a, false);
  chain.uninstall(kSlotB);
  EXPECT_EQ(chain.slot_prog_id(kSlotB), 0u);
  const uint64_t b_after = icmp_seen(b);
  EXPECT_TRUE(ping());
  EXPECT_EQ(icmp_seen(b), b_after);

  chain.set_interfaces("test", {});
  EXPECT_FALSE(veth_b_has_xdp());
  EXPECT_FALSE(fs::exists(pins() + "/xdp/root@veth-b"));
  EXPECT_TRUE(chain.interfaces().empty());
}

TEST_F(XdpChainTest, InterfacesAreReferenceCountedByOwner) {
  XdpChain chain(pins());
  chain.set_interfaces("one", {"veth-b"});
  chain.set_interfaces("two", {"veth-b", "veth-b"});
  auto ifs = chain.interfaces();
  ASSERT_EQ(ifs.size(), 1u);
  EXPECT_EQ(ifs[0].owners, (std::set<std::string>{"one", "two"}));
  chain.set_interfaces("one", {});
  EXPECT_TRUE(veth_b_has_xdp());
  chain.set_interfaces("two", {});
  EXPECT_FALSE(veth_b_has_xdp());
}

TEST_F(XdpChainTest, RestartReadoptsPinsWithoutInterruptingTraffic) {
  Probe a;
  Probe b;
  {
    XdpChain first(pins());
    first.set_interfaces("test", {"veth-b"});
    a = load_a(first.chain_fd());
    b = load_b(first.chain_fd());
    first.install(kSlotA, bpf_program__fd(a->progs.chain_probe));
    first.install(kSlotB, bpf_program__fd(b->progs.chain_probe));
    ASSERT_TRUE(ping());
  }  // "adamd exits": the XdpChain goes, the pins stay

  // No XdpChain object exists: packets still go through root, A and B.
  EXPECT_TRUE(fs::exists(pins() + "/xdp/chain"));
  EXPECT_TRUE(fs::exists(pins() + "/xdp/root@veth-b"));
  EXPECT_TRUE(veth_b_has_xdp());
  uint64_t a_before = icmp_seen(a), b_before = icmp_seen(b);
  EXPECT_TRUE(ping());
  EXPECT_GE(icmp_seen(a), a_before + 5);
  EXPECT_GE(icmp_seen(b), b_before + 5);

  // "adamd starts again": the link is re-adopted (no owner yet), A and B are
  // still in their slots, nothing is reinstalled.
  XdpChain second(pins());
  auto ifs = second.interfaces();
  ASSERT_EQ(ifs.size(), 1u);
  EXPECT_EQ(ifs[0].ifname, "veth-b");
  EXPECT_EQ(ifs[0].ifindex, if_nametoindex("veth-b"));
  EXPECT_TRUE(ifs[0].owners.empty());
  EXPECT_EQ(second.slot_prog_id(kSlotA), prog_id(bpf_program__fd(a->progs.chain_probe)));
  EXPECT_EQ(second.slot_prog_id(kSlotB), prog_id(bpf_program__fd(b->progs.chain_probe)));
  a_before = icmp_seen(a);
  b_before = icmp_seen(b);
  EXPECT_TRUE(ping());
  EXPECT_GE(icmp_seen(a), a_before + 5);
  EXPECT_GE(icmp_seen(b), b_before + 5);

  // A missing interface: ApiError naming it, nothing changed.
  try {
    second.set_interfaces("test", {"nope0"});
    ADD_FAILURE() << "set_interfaces accepted a missing interface";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.field(), "interfaces[0]");
    EXPECT_NE(std::string(e.what()).find("nope0"), std::string::npos) << e.what();
  }
  try {
    second.set_interfaces("test", {"veth-b", "nope0"});
    ADD_FAILURE() << "set_interfaces accepted a missing interface";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.field(), "interfaces[1]");
  }
  ifs = second.interfaces();
  ASSERT_EQ(ifs.size(), 1u);
  EXPECT_TRUE(ifs[0].owners.empty());
  EXPECT_TRUE(veth_b_has_xdp());

  // The re-adopted link can be claimed, and prune_unowned leaves it then.
  second.set_interfaces("test", {"veth-b"});
  second.prune_unowned();
  EXPECT_TRUE(veth_b_has_xdp());
  a_before = icmp_seen(a);
  EXPECT_TRUE(ping());
  EXPECT_GE(icmp_seen(a), a_before + 5);

  second.remove_all();
  EXPECT_FALSE(veth_b_has_xdp());
  EXPECT_FALSE(fs::exists(pins() + "/xdp"));
  EXPECT_TRUE(second.interfaces().empty());
  EXPECT_TRUE(ping());
}

TEST_F(XdpChainTest, PruneUnownedDetachesWhatNobodyClaims) {
  { XdpChain(pins()).set_interfaces("test", {"veth-b"}); }
  XdpChain chain(pins());
  ASSERT_EQ(chain.interfaces().size(), 1u);
  EXPECT_TRUE(veth_b_has_xdp());
  chain.prune_unowned();
  EXPECT_TRUE(chain.interfaces().empty());
  EXPECT_FALSE(veth_b_has_xdp());
  EXPECT_FALSE(fs::exists(pins() + "/xdp/root@veth-b"));
}

TEST_F(XdpChainTest, RefusesAnInterfaceWithAForeignXdpProgram) {
  ASSERT_EQ(run("ip -n " + pair_->b() + " link add dum0 type veth peer name dum1 && ip -n " + pair_->b() +
                " link set dum0 up && ip -n " + pair_->b() + " link set dum1 up"),
            0);
  // A program adam does not manage, on dum0.
  Probe foreign = load_b(-1);
  BpfLinkPtr foreign_link(bpf_program__attach_xdp(foreign->progs.chain_probe, if_nametoindex("dum0")));
  ASSERT_TRUE(foreign_link) << libbpf_error(-errno);

  XdpChain chain(pins());
  try {
    chain.set_interfaces("test", {"dum0"});
    ADD_FAILURE() << "attached over a foreign XDP program";
  } catch (const ApiError& e) {
    ADD_FAILURE() << "unexpected ApiError: " << e.what();
  } catch (const std::runtime_error& e) {
    std::cerr << "refused as expected: " << e.what() << std::endl;
    EXPECT_NE(std::string(e.what()).find("'dum0'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("already has an XDP program"), std::string::npos) << e.what();
  }
  // All or nothing: veth-b (attached first) is detached again.
  EXPECT_THROW(chain.set_interfaces("test", {"veth-b", "dum0"}), std::runtime_error);
  EXPECT_FALSE(veth_b_has_xdp());
  EXPECT_FALSE(fs::exists(pins() + "/xdp/root@veth-b"));
  EXPECT_TRUE(chain.interfaces().empty());
  EXPECT_TRUE(ping());

  // Earlier claims survive a failed call unchanged.
  chain.set_interfaces("test", {"veth-b"});
  EXPECT_THROW(chain.set_interfaces("test", {"dum0"}), std::runtime_error);
  ASSERT_EQ(chain.interfaces().size(), 1u);
  EXPECT_EQ(chain.interfaces()[0].ifname, "veth-b");
  EXPECT_TRUE(veth_b_has_xdp());
  chain.remove_all();
}

TEST_F(XdpChainTest, ReattachesWhenTheInterfaceWasRecreated) {
  const std::string a = pair_->a(), b = pair_->b();
  auto recreate_veth = [&] {
    ASSERT_EQ(run("ip -n " + b + " link del veth-b"), 0);
    ASSERT_EQ(run("ip -n " + a + " link add veth-a type veth peer name veth-b netns " + b), 0);
    ASSERT_EQ(
        run("ip -n " + a + " addr add 198.51.100.1/24 dev veth-a && ip -n " + a + " link set veth-a up"), 0);
    ASSERT_EQ(
        run("ip -n " + b + " addr add 198.51.100.2/24 dev veth-b && ip -n " + b + " link set veth-b up"), 0);
  };
  {
    XdpChain chain(pins());
    chain.set_interfaces("test", {"veth-b"});
    recreate_veth();
    EXPECT_FALSE(veth_b_has_xdp());
    // The old link died with its interface: asking again attaches anew.
    chain.set_interfaces("test", {"veth-b"});
    EXPECT_TRUE(veth_b_has_xdp());
    auto ifs = chain.interfaces();
    ASSERT_EQ(ifs.size(), 1u);
    EXPECT_EQ(ifs[0].ifindex, if_nametoindex("veth-b"));
    EXPECT_EQ(ifs[0].owners, std::set<std::string>{"test"});
    EXPECT_TRUE(ping());
  }
  // A pinned link whose interface is gone is dropped when adamd starts again.
  recreate_veth();
  XdpChain chain(pins());
  EXPECT_TRUE(chain.interfaces().empty());
  EXPECT_FALSE(fs::exists(pins() + "/xdp/root@veth-b"));
  chain.set_interfaces("test", {"veth-b"});
  EXPECT_TRUE(veth_b_has_xdp());
  EXPECT_TRUE(ping());
  chain.remove_all();
}

TEST_F(XdpChainTest, RootVerdictFollowsTheChainInProgTestRun) {
  XdpChain chain(pins());
  chain.set_interfaces("test", {"veth-b"});
  // The root program, found through its pinned link.
  BpfLinkPtr link(bpf_link__open((pins() + "/xdp/root@veth-b").c_str()));
  ASSERT_TRUE(link) << libbpf_error(-errno);
  bpf_link_info info{};
  __u32 len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(bpf_link__fd(link.get()), &info, &len), 0);
  UniqueFd root(bpf_prog_get_fd_by_id(info.prog_id));
  ASSERT_TRUE(root) << libbpf_error(root.get());

  const auto pkt = icmp_echo_packet();
  EXPECT_EQ(test_run(root.get(), pkt), kXdpPass);  // empty chain

  Probe a = load_a(chain.chain_fd());
  Probe b = load_b(chain.chain_fd());
  chain.install(kSlotA, bpf_program__fd(a->progs.chain_probe));
  chain.install(kSlotB, bpf_program__fd(b->progs.chain_probe));
  EXPECT_EQ(test_run(root.get(), pkt), kXdpPass);
  EXPECT_EQ(icmp_seen(a), 1u);
  EXPECT_EQ(icmp_seen(b), 1u);

  set_drop(a, true);
  EXPECT_EQ(test_run(root.get(), pkt), kXdpDrop);
  EXPECT_EQ(icmp_seen(a), 2u);
  EXPECT_EQ(icmp_seen(b), 1u);

  // B alone (A's slot emptied): B sees it, it passes.
  chain.uninstall(kSlotA);
  EXPECT_EQ(test_run(root.get(), pkt), kXdpPass);
  EXPECT_EQ(icmp_seen(a), 2u);
  EXPECT_EQ(icmp_seen(b), 2u);
  chain.remove_all();
}

TEST_F(XdpChainTest, AttachesInTheModeAskedForAndSwitchesIt) {
  XdpChain chain(pins());
  Probe a = load_a(chain.chain_fd());
  chain.install(kSlotA, bpf_program__fd(a->progs.chain_probe));
  const std::string pin = pins() + "/xdp/root@veth-b";

  // Native: in veth's driver hook. A drops ICMP: the chain runs.
  chain.set_interfaces("test", {"veth-b"}, XdpMode::native);
  EXPECT_EQ(veth_b_xdp_mode(), "native");
  ASSERT_EQ(chain.interfaces().size(), 1u);
  EXPECT_EQ(chain.interfaces()[0].mode, XdpMode::native);
  set_drop(a, true);
  uint64_t before = icmp_seen(a);
  EXPECT_FALSE(ping());
  EXPECT_GE(icmp_seen(a), before + 5);

  // Generic: re-attached in the skb hook (a new link), and it still filters.
  const uint32_t native_link = pinned_link_id(pin);
  chain.set_interfaces("test", {"veth-b"}, XdpMode::generic);
  EXPECT_EQ(veth_b_xdp_mode(), "generic");
  EXPECT_EQ(chain.interfaces()[0].mode, XdpMode::generic);
  EXPECT_NE(pinned_link_id(pin), native_link);
  before = icmp_seen(a);
  EXPECT_FALSE(ping());
  EXPECT_GE(icmp_seen(a), before + 5);

  // auto keeps generic on a veth: the same link, nothing re-attached.
  const uint32_t generic_link = pinned_link_id(pin);
  chain.set_interfaces("test", {"veth-b"}, XdpMode::automatic);
  EXPECT_EQ(pinned_link_id(pin), generic_link);
  EXPECT_EQ(veth_b_xdp_mode(), "generic");

  // auto on a veth in native mode switches it to generic; a fresh attach on
  // a veth under auto is generic too.
  chain.set_interfaces("test", {"veth-b"}, XdpMode::native);
  EXPECT_EQ(veth_b_xdp_mode(), "native");
  chain.set_interfaces("test", {"veth-b"});
  EXPECT_EQ(veth_b_xdp_mode(), "generic");
  chain.set_interfaces("test", {});
  EXPECT_EQ(veth_b_xdp_mode(), "none");
  chain.set_interfaces("test", {"veth-b"});
  EXPECT_EQ(veth_b_xdp_mode(), "generic");
  set_drop(a, false);
  EXPECT_TRUE(ping());
  chain.remove_all();
}

TEST_F(XdpChainTest, NativeNeedsDriverSupportAndAutoIsTheKernelsChoiceElsewhere) {
  // A bridge: its driver has no XDP support.
  ASSERT_EQ(
      run("ip -n " + pair_->b() + " link add br0 type bridge && ip -n " + pair_->b() + " link set br0 up"),
      0);
  XdpChain chain(pins());
  try {
    chain.set_interfaces("test", {"veth-b", "br0"}, XdpMode::native);
    ADD_FAILURE() << "attached natively to a bridge";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("'br0' in native mode"), std::string::npos) << e.what();
  }
  EXPECT_EQ(xdp_mode_of(pair_->b(), "br0"), "none");
  EXPECT_EQ(veth_b_xdp_mode(), "none") << "all or nothing";
  EXPECT_TRUE(chain.interfaces().empty());

  chain.set_interfaces("test", {"br0"});
  EXPECT_EQ(xdp_mode_of(pair_->b(), "br0"), "generic");
  ASSERT_EQ(chain.interfaces().size(), 1u);
  EXPECT_EQ(chain.interfaces()[0].mode, XdpMode::generic);

  // A failed switch to native (br0 refuses it) leaves veth-b in its old mode.
  chain.set_interfaces("test", {"veth-b"}, XdpMode::generic);
  EXPECT_THROW(chain.set_interfaces("test", {"veth-b", "br0"}, XdpMode::native), std::runtime_error);
  EXPECT_EQ(veth_b_xdp_mode(), "generic");
  ASSERT_EQ(chain.interfaces().size(), 1u);
  EXPECT_EQ(chain.interfaces()[0].ifname, "veth-b");
  EXPECT_EQ(chain.interfaces()[0].mode, XdpMode::generic);
  EXPECT_EQ(chain.interfaces()[0].owners, std::set<std::string>{"test"});
  EXPECT_TRUE(ping());
  chain.remove_all();
}

TEST_F(XdpChainTest, TheModeSurvivesARestartAndIsSharedByTheOwners) {
  const std::string pin = pins() + "/xdp/root@veth-b";
  uint32_t link = 0;
  {
    XdpChain first(pins());
    first.set_interfaces("one", {"veth-b"}, XdpMode::generic);
    link = pinned_link_id(pin);
  }
  EXPECT_EQ(veth_b_xdp_mode(), "generic");
  XdpChain second(pins());
  ASSERT_EQ(second.interfaces().size(), 1u);
  EXPECT_EQ(second.interfaces()[0].mode, XdpMode::generic) << "re-adopted with its mode";
  second.set_interfaces("one", {"veth-b"}, XdpMode::generic);
  EXPECT_EQ(pinned_link_id(pin), link) << "the same mode: the link is kept";
  second.set_interfaces("two", {"veth-b"}, XdpMode::automatic);
  EXPECT_EQ(pinned_link_id(pin), link);

  // Another owner holds it: no switch, nothing changed.
  try {
    second.set_interfaces("two", {"veth-b"}, XdpMode::native);
    ADD_FAILURE() << "switched the mode under another owner";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 409);
    EXPECT_NE(std::string(e.what()).find("'one'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(pinned_link_id(pin), link);
  EXPECT_EQ(second.interfaces()[0].owners, (std::set<std::string>{"one", "two"}));

  // Alone, an owner may switch it; a restart keeps the new mode.
  second.set_interfaces("two", {});
  second.set_interfaces("one", {"veth-b"}, XdpMode::native);
  EXPECT_EQ(veth_b_xdp_mode(), "native");
  EXPECT_NE(pinned_link_id(pin), link);
  link = pinned_link_id(pin);
  XdpChain third(pins());
  ASSERT_EQ(third.interfaces().size(), 1u);
  EXPECT_EQ(third.interfaces()[0].mode, XdpMode::native);
  third.set_interfaces("one", {"veth-b"}, XdpMode::native);
  EXPECT_EQ(pinned_link_id(pin), link);
  EXPECT_TRUE(ping());
  third.remove_all();
}

TEST_F(XdpChainTest, ParsesXdpModes) {
  EXPECT_EQ(xdp_mode_from_string("native", "f"), XdpMode::native);
  EXPECT_EQ(xdp_mode_from_string("generic", "f"), XdpMode::generic);
  EXPECT_EQ(xdp_mode_from_string("auto", "f"), XdpMode::automatic);
  for (XdpMode m : {XdpMode::native, XdpMode::generic, XdpMode::automatic})
    EXPECT_EQ(xdp_mode_from_string(to_string(m), "f"), m);
  try {
    xdp_mode_from_string("skb", "xdp_mode");
    ADD_FAILURE() << "accepted 'skb'";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.field(), "xdp_mode");
    EXPECT_NE(std::string(e.what()).find("'skb'"), std::string::npos) << e.what();
  }
}

// A pinned "chain" that is no chain of this build (another layout) is
// replaced by a new one, which the plugins' programs can tail-call through.
TEST_F(XdpChainTest, ReplacesAPinnedChainOfAnotherLayout) {
  fs::create_directories(pins() + "/xdp");
  UniqueFd other(bpf_map_create(BPF_MAP_TYPE_ARRAY, "adam_xdp_chain", 4, 4, 4, nullptr));
  ASSERT_TRUE(other) << libbpf_error(other.get());
  ASSERT_EQ(bpf_obj_pin(other.get(), (pins() + "/xdp/chain").c_str()), 0);
  XdpChain chain(pins());
  bpf_map_info info{};
  __u32 len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(chain.chain_fd(), &info, &len), 0);
  EXPECT_EQ(info.type, static_cast<__u32>(BPF_MAP_TYPE_PROG_ARRAY));
  EXPECT_EQ(info.max_entries, static_cast<__u32>(ADAM_XDP_CHAIN_SLOTS));
  const Probe a = load_a(chain.chain_fd());
  chain.install(kSlotA, bpf_program__fd(a->progs.chain_probe));
  EXPECT_EQ(chain.slot_prog_id(kSlotA), prog_id(bpf_program__fd(a->progs.chain_probe)));
}

TEST_F(XdpChainTest, RejectsBadSlots) {
  XdpChain chain(pins());
  EXPECT_THROW(chain.install(ADAM_XDP_CHAIN_SLOTS, 0), std::invalid_argument);
}

}  // namespace
}  // namespace adam::test
