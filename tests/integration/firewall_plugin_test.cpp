// The firewall plugin (pass-through version) on a veth pair between two
// network namespaces of the test's own.
#include "plugins/firewall/firewall_plugin.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "adam/xdp_chain.h"  // slot numbers
#include "chain_probe.skel.h"
#include "core/bpf_handle.h"
#include "core/errors.h"
#include "core/kernel.h"
#include "core/plugin.h"
#include "core/tcx_ingress.h"
#include "core/xdp_chain.h"
#include "core/xdp_test_run.h"
#include "support/firewall_random.h"
#include "support/netns.h"

namespace adam::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

KernelFeatures xdp_features(bool available) {
  KernelFeatures f;
  f.features["xdp"] = KernelFeature{available, available ? "test" : "loading an xdp program failed: test"};
  return f;
}

// One "adamd": the chain and the plugin, built on a pin dir.
struct Daemon {
  explicit Daemon(const std::string& pin_dir, KernelFeatures kernel = xdp_features(true))
      : features(std::move(kernel)),
        chain(pin_dir),
        ctx{pin_dir, chain, features},
        firewall(std::make_unique<FirewallPlugin>(ctx)) {}
  KernelFeatures features;
  XdpChain chain;
  PluginContext ctx;
  std::unique_ptr<FirewallPlugin> firewall;
};

uint64_t passed(const json& stats) { return stats["packets"]["pass"].get<uint64_t>(); }

// Every pin under `dir`, relative to it.
std::set<std::string> pins_under(const std::string& dir) {
  std::set<std::string> pins;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    pins.insert(fs::relative(entry.path(), dir));
  return pins;
}

// The kernel's BPF objects of `kind` ("map" or "link"), id -> what bpftool
// says of it, that this process holds an fd of: `bpftool <kind> show` lists
// every process's, and tests of other checkouts may run alongside.
std::map<uint32_t, std::string> held_bpf_objects(const std::string& kind) {
  std::set<uint32_t> held;
  for (const auto& entry : fs::directory_iterator("/proc/self/fdinfo")) {
    std::ifstream fdinfo(entry.path());
    for (std::string line; std::getline(fdinfo, line);)
      if (line.starts_with(kind + "_id:"))
        held.insert(static_cast<uint32_t>(std::stoul(line.substr(kind.size() + 4))));
  }
  std::string listing;
  if (FILE* bpftool = ::popen(("bpftool -j " + kind + " show").c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, bpftool)) > 0;) listing.append(buf, n);
    ::pclose(bpftool);
  }
  std::map<uint32_t, std::string> objects;
  for (const json& object : json::parse(listing))
    if (held.count(object["id"].get<uint32_t>())) objects[object["id"].get<uint32_t>()] = object.dump();
  return objects;
}

// What `after` has that `before` had not.
std::map<uint32_t, std::string> added(const std::map<uint32_t, std::string>& before,
                                      std::map<uint32_t, std::string> after) {
  std::erase_if(after, [&](const auto& object) { return before.count(object.first) > 0; });
  return after;
}

constexpr int kXdpPass = 2;

// Runs an XDP program `repeat` times (BPF_PROG_TEST_RUN) on a small IPv4/UDP
// packet arriving on `ifindex`; returns its verdict.
int test_run_on(int prog_fd, uint32_t ifindex, uint32_t repeat) {
  std::vector<uint8_t> pkt(64, 0);
  pkt[12] = 0x08;  // EtherType IPv4
  pkt[14] = 0x45;  // IPv4, 20-byte header
  pkt[17] = 50;    // total length
  pkt[22] = 64;    // TTL
  pkt[23] = 17;    // UDP
  return static_cast<int>(xdp_test_run(prog_fd, pkt, ifindex, repeat).verdict);
}

class FirewallPluginTest : public InNetnsTest {
 protected:
  // Why this kernel has no tcx links, "" when it has (tests of the tc hook
  // skip, saying why).
  static std::string tcx_missing() { return tcx_unsupported_reason(); }
  // What the plugin is told of a kernel with tcx links.
  static KernelFeatures tcx_features() {
    KernelFeatures f = xdp_features(true);
    f.features["tcx"] = KernelFeature{true, "test"};
    return f;
  }
  // An XDP program adam does not manage, attached to an interface of this
  // thread's namespace (null link when that failed): adam cannot attach there.
  struct ForeignXdp {
    SkeletonPtr<chain_probe_bpf, chain_probe_bpf__destroy> skel;
    BpfLinkPtr link;
  };
  static ForeignXdp attach_foreign_xdp(const std::string& ifname) {
    ForeignXdp foreign{
        SkeletonPtr<chain_probe_bpf, chain_probe_bpf__destroy>(chain_probe_bpf__open_and_load()), nullptr};
    if (foreign.skel)
      foreign.link.reset(
          bpf_program__attach_xdp(foreign.skel->progs.chain_probe, if_nametoindex(ifname.c_str())));
    return foreign;
  }
  std::vector<uint32_t> veth_b_tc_progs() const { return tc_ingress_prog_ids(pair_->b(), "veth-b"); }

  // validate() must reject `config` with a 400 naming `field`.
  static void expect_rejected(const Plugin& plugin, const json& config, const std::string& field) {
    try {
      plugin.validate(config);
      ADD_FAILURE() << "accepted " << config.dump();
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400) << config.dump();
      EXPECT_EQ(e.field(), field) << config.dump() << ": " << e.what();
    }
  }
};

TEST_F(FirewallPluginTest, DescribesItselfAndNeedsXdp) {
  Daemon d(pins());
  EXPECT_EQ(d.firewall->name(), "firewall");
  EXPECT_FALSE(d.firewall->description().empty());
  EXPECT_EQ(d.firewall->unsupported_reason(xdp_features(true)), "");
  const std::string reason = d.firewall->unsupported_reason(xdp_features(false));
  EXPECT_EQ(reason.rfind("XDP not supported by this kernel: ", 0), 0u) << reason;
  EXPECT_NE(reason.find("test"), std::string::npos) << reason;
}

TEST_F(FirewallPluginTest, ValidatesItsConfig) {
  Daemon d(pins());
  const FirewallPlugin& fw = *d.firewall;
  EXPECT_NO_THROW(fw.validate(json{{"interfaces", {"veth-b"}}}));
  EXPECT_NO_THROW(fw.validate(json{{"interfaces", {"veth-b", "lo"}}}));
  expect_rejected(fw, json{{"interfaces", {"nope0"}}}, "interfaces[0]");
  expect_rejected(fw, json{{"interfaces", {"veth-b", "nope0"}}}, "interfaces[1]");
  expect_rejected(fw, json{{"interfaces", {"veth-b"}}, {"policy", "drop"}}, "policy");
  expect_rejected(fw, json::object(), "interfaces");
  expect_rejected(fw, json{{"interfaces", "veth-b"}}, "interfaces");
  expect_rejected(fw, json{{"interfaces", json::array()}}, "interfaces");
  expect_rejected(fw, json{{"interfaces", {"veth-b", 3}}}, "interfaces[1]");
  expect_rejected(fw, json{{"interfaces", {"veth-b", "veth-b"}}}, "interfaces[1]");
  expect_rejected(fw, json{{"interfaces", {"veth-b/../x"}}}, "interfaces[0]");
  expect_rejected(fw, json::array({"veth-b"}), "");
  // The log rate limits: integers 0..10,000,000 (0: no events).
  EXPECT_NO_THROW(
      fw.validate(json{{"interfaces", {"veth-b"}}, {"log_rate", 0}, {"log_rate_total", 10'000'000}}));
  EXPECT_NO_THROW(fw.validate(json::parse(R"({"interfaces":["veth-b"],"log_rate":500,"log_rate_total":0})")));
  for (const json& bad : {json(-1), json(10'000'001), json(1.5), json("100"), json(true), json(nullptr),
                          json(uint64_t{1} << 63)}) {
    expect_rejected(fw, json{{"interfaces", {"veth-b"}}, {"log_rate", bad}}, "log_rate");
    expect_rejected(fw, json{{"interfaces", {"veth-b"}}, {"log_rate_total", bad}}, "log_rate_total");
  }
  for (const char* mode : {"native", "generic", "auto"})
    EXPECT_NO_THROW(fw.validate(json{{"interfaces", {"veth-b"}}, {"xdp_mode", mode}})) << mode;
  expect_rejected(fw, json{{"interfaces", {"veth-b"}}, {"xdp_mode", "skb"}}, "xdp_mode");
  expect_rejected(fw, json{{"interfaces", {"veth-b"}}, {"xdp_mode", 1}}, "xdp_mode");
  for (const char* hook : {"xdp", "auto"})
    EXPECT_NO_THROW(fw.validate(json{{"interfaces", {"veth-b"}}, {"hook", hook}})) << hook;
  expect_rejected(fw, json{{"interfaces", {"veth-b"}}, {"hook", "ingress"}}, "hook");
  expect_rejected(fw, json{{"interfaces", {"veth-b"}}, {"hook", 1}}, "hook");
  // This daemon's kernel "has no tcx": hook tc is refused, naming why.
  expect_rejected(fw, json{{"interfaces", {"veth-b"}}, {"hook", "tc"}}, "hook");
  if (tcx_missing().empty()) {
    Daemon with_tcx(pins(), tcx_features());
    EXPECT_NO_THROW(with_tcx.firewall->validate(json{{"interfaces", {"veth-b"}}, {"hook", "tc"}}));
    expect_rejected(*with_tcx.firewall,
                    json{{"interfaces", {"veth-b"}}, {"hook", "tc"}, {"xdp_mode", "native"}}, "xdp_mode");
  }
  try {
    fw.validate(json{{"interfaces", {"veth-b"}}, {"policy", "drop"}});
  } catch (const ApiError& e) {
    EXPECT_EQ(std::string(e.what()), "unknown field 'policy'");
  }
  try {
    fw.validate(json{{"interfaces", {"veth-b", "nope0"}}});
  } catch (const ApiError& e) {
    EXPECT_EQ(std::string(e.what()), "no interface named 'nope0'");
  }
  // Nothing was loaded or pinned by validating.
  EXPECT_FALSE(fs::exists(pins() + "/firewall"));
  EXPECT_FALSE(veth_b_has_xdp());
}

TEST_F(FirewallPluginTest, PassesAndCountsTraffic) {
  Daemon d(pins());
  d.firewall->start(json{{"interfaces", {"veth-b"}}});
  EXPECT_TRUE(veth_b_has_xdp());
  EXPECT_NE(d.chain.slot_prog_id(ADAM_XDP_SLOT_FIREWALL), 0u);
  EXPECT_TRUE(fs::exists(pins() + "/firewall/fw_totals"));
  EXPECT_TRUE(fs::exists(pins() + "/firewall/fw_ifaces"));

  ASSERT_TRUE(ping());
  const json stats = d.firewall->stats();
  EXPECT_GE(passed(stats), 5u) << stats.dump();
  EXPECT_GE(stats["bytes"]["pass"].get<uint64_t>(), 5u * 98) << stats.dump();  // 5 echo requests of 98 B
  EXPECT_EQ(stats["packets"]["drop"], 0) << stats.dump();
  EXPECT_EQ(stats["bytes"]["drop"], 0) << stats.dump();
  EXPECT_EQ(stats["interfaces"], json::array({"veth-b"})) << stats.dump();

  // Only packets of the firewall's interfaces are counted: run its program
  // (BPF_PROG_TEST_RUN) 1000 times as if packets arrived on lo, then on veth-b.
  // (The margin covers the little IPv6 chatter veth-b may see meanwhile.)
  UniqueFd prog(bpf_prog_get_fd_by_id(d.chain.slot_prog_id(ADAM_XDP_SLOT_FIREWALL)));
  ASSERT_TRUE(prog) << libbpf_error(prog.get());
  uint64_t before = passed(d.firewall->stats());
  EXPECT_EQ(test_run_on(prog.get(), if_nametoindex("lo"), 1000), kXdpPass);
  EXPECT_LT(passed(d.firewall->stats()), before + 1000);
  before = passed(d.firewall->stats());
  EXPECT_EQ(test_run_on(prog.get(), if_nametoindex("veth-b"), 1000), kXdpPass);
  EXPECT_GE(passed(d.firewall->stats()), before + 1000);

  d.firewall->stop();
}

TEST_F(FirewallPluginTest, StartUndoesItsWorkOnFailure) {
  Daemon d(pins());
  // dum0 carries an XDP program adam does not manage: the attach fails.
  ASSERT_EQ(run("ip -n " + pair_->b() + " link add dum0 type veth peer name dum1 && ip -n " + pair_->b() +
                " link set dum0 up && ip -n " + pair_->b() + " link set dum1 up"),
            0);
  const ForeignXdp foreign = attach_foreign_xdp("dum0");
  ASSERT_TRUE(foreign.link) << libbpf_error(-errno);
  EXPECT_THROW(d.firewall->start(json{{"interfaces", {"veth-b", "dum0"}}}), std::runtime_error);
  EXPECT_FALSE(veth_b_has_xdp());
  EXPECT_FALSE(fs::exists(pins() + "/firewall"));
  EXPECT_EQ(d.chain.slot_prog_id(ADAM_XDP_SLOT_FIREWALL), 0u);
  EXPECT_TRUE(d.chain.interfaces().empty());
  // And it can start afterwards.
  d.firewall->start(json{{"interfaces", {"veth-b"}}});
  EXPECT_TRUE(ping());
  d.firewall->stop();
}

TEST_F(FirewallPluginTest, StopRemovesPinsAndDetaches) {
  Daemon d(pins());
  d.firewall->start(json{{"interfaces", {"veth-b"}}});
  ASSERT_TRUE(ping());
  d.firewall->stop();
  EXPECT_FALSE(fs::exists(pins() + "/firewall"));
  EXPECT_EQ(d.chain.slot_prog_id(ADAM_XDP_SLOT_FIREWALL), 0u);
  EXPECT_TRUE(d.chain.interfaces().empty());
  EXPECT_FALSE(veth_b_has_xdp());
  const json stats = d.firewall->stats();
  EXPECT_EQ(passed(stats), 0u);
  EXPECT_EQ(stats["interfaces"], json::array());
  EXPECT_TRUE(ping());
  EXPECT_NO_THROW(d.firewall->stop());  // stopping a stopped plugin is fine
}

TEST_F(FirewallPluginTest, CountersSurviveAnAdamdRestart) {
  const json config = {{"interfaces", {"veth-b"}}};
  uint64_t before_exit = 0;
  {
    Daemon first(pins());
    first.firewall->start(config);
    ASSERT_TRUE(ping());
    before_exit = passed(first.firewall->stats());
    EXPECT_GE(before_exit, 5u);
  }  // adamd exits without stopping the plugin
  EXPECT_TRUE(fs::exists(pins() + "/firewall/fw_totals"));
  EXPECT_TRUE(veth_b_has_xdp());
  ASSERT_TRUE(ping());  // counted by the firewall program while no adamd runs

  Daemon second(pins());
  // Not started yet: stats come from the pinned counters.
  const uint64_t during_gap = passed(second.firewall->stats());
  EXPECT_GE(during_gap, before_exit + 5);
  second.firewall->start(config);
  EXPECT_GE(passed(second.firewall->stats()), during_gap);
  ASSERT_TRUE(ping());
  EXPECT_GE(passed(second.firewall->stats()), during_gap + 5);
  second.chain.prune_unowned();
  EXPECT_TRUE(veth_b_has_xdp());  // the firewall claimed the re-adopted link
  second.firewall->stop();
  EXPECT_FALSE(fs::exists(pins() + "/firewall"));
  EXPECT_FALSE(veth_b_has_xdp());
}

// On a veth with tcx the firewall hooks in at tc ingress: a pinned link that
// keeps filtering and counting while adamd is down, is re-adopted (its
// program replaced in place), gives way to XDP when asked, and goes on stop.
TEST_F(FirewallPluginTest, AtTcIngressTheLinkOutlivesAdamdAndStopDetachesIt) {
  if (!tcx_missing().empty()) GTEST_SKIP() << "no tcx links in this kernel: " << tcx_missing();
  const json config = {{"interfaces", {"veth-b"}}};
  std::vector<uint32_t> first_progs;
  uint64_t before_exit = 0;
  {
    Daemon first(pins(), tcx_features());
    first.firewall->start(config);
    EXPECT_FALSE(veth_b_has_xdp());
    EXPECT_TRUE(first.chain.interfaces().empty());
    first_progs = veth_b_tc_progs();
    ASSERT_EQ(first_progs.size(), 1u);
    EXPECT_TRUE(fs::exists(pins() + "/firewall/tc@veth-b"));
    const json hooks = first.firewall->stats()["hooks"];
    EXPECT_EQ(hooks, json::parse(R"([{"interface":"veth-b","hook":"tc"}])")) << hooks.dump();
    ASSERT_TRUE(ping());
    before_exit = passed(first.firewall->stats());
    EXPECT_GE(before_exit, 5u);
  }  // adamd exits without stopping the plugin
  EXPECT_EQ(veth_b_tc_progs(), first_progs);
  ASSERT_TRUE(ping());  // counted while no adamd runs

  {
    Daemon second(pins(), tcx_features());
    const uint64_t during_gap = passed(second.firewall->stats());
    EXPECT_GE(during_gap, before_exit + 5);
    second.firewall->start(config);
    const std::vector<uint32_t> second_progs = veth_b_tc_progs();
    ASSERT_EQ(second_progs.size(), 1u);
    EXPECT_NE(second_progs, first_progs) << "the re-adopted link runs the new program";
    ASSERT_TRUE(ping());
    EXPECT_GE(passed(second.firewall->stats()), during_gap + 5);
  }

  Daemon third(pins(), tcx_features());
  third.firewall->start(json{{"interfaces", {"veth-b"}}, {"hook", "xdp"}});
  EXPECT_TRUE(veth_b_has_xdp());
  EXPECT_TRUE(veth_b_tc_progs().empty()) << "moved to XDP: the tc link is gone";
  EXPECT_FALSE(fs::exists(pins() + "/firewall/tc@veth-b"));
  ASSERT_TRUE(ping());
  third.firewall->stop();
  third.firewall->start(config);
  EXPECT_EQ(veth_b_tc_progs().size(), 1u);
  EXPECT_FALSE(veth_b_has_xdp());
  third.firewall->stop();
  EXPECT_TRUE(veth_b_tc_progs().empty());
  EXPECT_FALSE(fs::exists(pins() + "/firewall"));
  EXPECT_TRUE(ping());
}

// At tc a TCP stream arrives in GSO skbs of up to 64 KB; the counters count
// the segments the wire carried, not the skbs.
TEST_F(FirewallPluginTest, AtTcAGsoPacketCountsAsItsSegments) {
  if (!tcx_missing().empty()) GTEST_SKIP() << "no tcx links in this kernel: " << tcx_missing();
  Daemon d(pins(), tcx_features());
  d.firewall->start(json{{"interfaces", {"veth-b"}}});
  // The receiver: this thread is in namespace b.
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(9100);
  ASSERT_EQ(inet_pton(AF_INET, "198.51.100.2", &addr.sin_addr), 1);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
      << std::strerror(errno);
  ASSERT_EQ(::listen(listener.get(), 1), 0);
  // accept() and recv() give up after 10 s: a sender that never connects
  // fails the test instead of hanging it.
  const timeval timeout{10, 0};
  ASSERT_EQ(::setsockopt(listener.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout), 0);
  const json before = d.firewall->stats();
  constexpr size_t kSent = 8 << 20;
  size_t received = 0;
  std::thread reader([&] {
    UniqueFd conn(::accept(listener.get(), nullptr, nullptr));
    if (conn) ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::vector<char> buf(1 << 20);
    for (ssize_t n; conn && (n = ::recv(conn.get(), buf.data(), buf.size(), 0)) > 0;) received += n;
  });
  const int sent =
      pair_->exec(pair_->a(),
                  "python3 -c 'import socket; s = socket.create_connection((\"198.51.100.2\", 9100)); "
                  "s.sendall(bytes(" +
                      std::to_string(kSent) + ")); s.close()'");
  reader.join();
  ASSERT_EQ(sent, 0);
  ASSERT_EQ(received, kSent);
  const json after = d.firewall->stats();
  const uint64_t packets = passed(after) - passed(before);
  const uint64_t bytes = after["bytes"]["pass"].get<uint64_t>() - before["bytes"]["pass"].get<uint64_t>();
  // 8 MiB in segments of at most 1448 payload bytes (MTU 1500, TCP options).
  EXPECT_GE(packets, kSent / 1448) << bytes << " bytes";
  EXPECT_GE(bytes, kSent);
  EXPECT_LE(bytes / packets, 1514u) << packets << " packets, " << bytes
                                    << " bytes: skbs counted, not segments";
  d.firewall->stop();
}

// A new config while running (another hook, other limits) leaves no moment
// unfiltered, and the counters carry on.
TEST_F(FirewallPluginTest, ANewConfigLeavesNoGapAndKeepsTheCounters) {
  if (!tcx_missing().empty()) GTEST_SKIP() << "no tcx links in this kernel: " << tcx_missing();
  Daemon d(pins(), tcx_features());
  fw::Ruleset drop_ping;
  fw::Match icmp;
  icmp.proto = {fw::kProtoIcmp};
  drop_ping.rules.push_back(make_rule(1, 1, fw::Action::drop, icmp));
  d.firewall->apply(drop_ping);
  d.firewall->start(json{{"interfaces", {"veth-b"}}});
  ASSERT_EQ(veth_b_tc_progs().size(), 1u);

  // 100 pings a second from a for 4 s, all through the switches below: ping
  // exits 1 when not one was answered.
  int ping_status = -1;
  std::thread pinger(
      [&] { ping_status = pair_->exec(pair_->a(), "ping -q -n -c 400 -i 0.01 -W 1 198.51.100.2"); });
  const std::vector<json> configs = {
      {{"interfaces", {"veth-b"}}, {"hook", "xdp"}},
      {{"interfaces", {"veth-b"}}, {"log_rate", 10}},
      {{"interfaces", {"veth-b"}}, {"xdp_mode", "generic"}, {"log_rate_total", 100}},
      {{"interfaces", {"veth-b"}}},
  };
  for (const json& config : configs) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    d.firewall->reconfigure(config);
    const bool at_tc = !config.contains("hook") && !config.contains("xdp_mode");
    EXPECT_EQ(veth_b_tc_progs().size(), at_tc ? 1u : 0u) << config.dump();
    EXPECT_EQ(veth_b_has_xdp(), !at_tc) << config.dump();
  }
  pinger.join();
  EXPECT_EQ(ping_status, 1) << "a ping got through: 0 means answered, 1 none answered";
  const json counters = d.firewall->rule_counters(1);
  EXPECT_GE(counters["packets"].get<uint64_t>(), 400u)
      << counters.dump() << ": counted at every hook, never reset";
  d.firewall->stop();
  EXPECT_TRUE(veth_b_tc_progs().empty());
  EXPECT_FALSE(veth_b_has_xdp());
}

// A start that fails on one interface leaves no tc link on the others.
TEST_F(FirewallPluginTest, AFailedStartLeavesNoTcLinkBehind) {
  if (!tcx_missing().empty()) GTEST_SKIP() << "no tcx links in this kernel: " << tcx_missing();
  Daemon d(pins(), tcx_features());
  // br0 (a bridge, not a veth: the firewall takes XDP there) carries an XDP
  // program adam does not manage.
  ASSERT_EQ(
      run("ip -n " + pair_->b() + " link add br0 type bridge && ip -n " + pair_->b() + " link set br0 up"),
      0);
  const ForeignXdp foreign = attach_foreign_xdp("br0");
  ASSERT_TRUE(foreign.link) << libbpf_error(-errno);
  EXPECT_THROW(d.firewall->start(json{{"interfaces", {"veth-b", "br0"}}}), std::runtime_error);
  EXPECT_TRUE(veth_b_tc_progs().empty());
  EXPECT_FALSE(fs::exists(pins() + "/firewall"));
  d.firewall->start(json{{"interfaces", {"veth-b"}}});
  EXPECT_EQ(veth_b_tc_progs().size(), 1u);
  d.firewall->stop();
}

// A start that fails late, after it pinned its maps and (with tcx) attached
// its tc link: the XDP attach to br0 fails. It leaves no pin, link or map.
TEST_F(FirewallPluginTest, AFailedStartLeavesNoPinLinkOrMapBehind) {
  Daemon d(pins(), tcx_missing().empty() ? tcx_features() : xdp_features(true));
  ASSERT_EQ(
      run("ip -n " + pair_->b() + " link add br0 type bridge && ip -n " + pair_->b() + " link set br0 up"),
      0);
  const ForeignXdp foreign = attach_foreign_xdp("br0");
  ASSERT_TRUE(foreign.link) << libbpf_error(-errno);
  // The firewall's pin dir exists already (as an earlier adamd may leave
  // it): the start must remove each pin it made, not the directory.
  fs::create_directories(pins() + "/firewall");
  const std::set<std::string> pins_before = pins_under(pins());
  const auto maps_before = held_bpf_objects("map"), links_before = held_bpf_objects("link");
  ASSERT_FALSE(maps_before.empty()) << "bpftool lists no map of this process (the XDP chain's)";

  EXPECT_THROW(d.firewall->start(json{{"interfaces", {"veth-b", "br0"}}}), std::runtime_error);
  EXPECT_EQ(pins_under(pins()), pins_before);
  EXPECT_EQ(added(maps_before, held_bpf_objects("map")), (std::map<uint32_t, std::string>{}));
  EXPECT_EQ(added(links_before, held_bpf_objects("link")), (std::map<uint32_t, std::string>{}));
  EXPECT_EQ(d.chain.slot_prog_id(ADAM_XDP_SLOT_FIREWALL), 0u);
  EXPECT_TRUE(veth_b_tc_progs().empty());
}

TEST_F(FirewallPluginTest, StopWithoutStartRemovesWhatAnEarlierAdamdLeft) {
  {
    Daemon first(pins());
    first.firewall->start(json{{"interfaces", {"veth-b"}}});
  }
  Daemon second(pins());
  EXPECT_NE(second.chain.slot_prog_id(ADAM_XDP_SLOT_FIREWALL), 0u);
  second.firewall->stop();
  EXPECT_FALSE(fs::exists(pins() + "/firewall"));
  EXPECT_EQ(second.chain.slot_prog_id(ADAM_XDP_SLOT_FIREWALL), 0u);
  second.chain.prune_unowned();  // what adamd does once every plugin is restored
  EXPECT_FALSE(veth_b_has_xdp());
  EXPECT_TRUE(ping());
}

TEST_F(FirewallPluginTest, StopWithoutStartDetachesTheTcLinkAnEarlierAdamdLeft) {
  if (!tcx_missing().empty()) GTEST_SKIP() << "no tcx links in this kernel: " << tcx_missing();
  {
    Daemon first(pins(), tcx_features());
    first.firewall->start(json{{"interfaces", {"veth-b"}}});
  }
  ASSERT_EQ(veth_b_tc_progs().size(), 1u);
  Daemon second(pins(), tcx_features());
  second.firewall->stop();
  EXPECT_TRUE(veth_b_tc_progs().empty());
  EXPECT_FALSE(fs::exists(pins() + "/firewall"));
  EXPECT_TRUE(ping());
}

}  // namespace
}  // namespace adam::test
