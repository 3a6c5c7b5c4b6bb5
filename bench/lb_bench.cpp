// The load balancer's per-packet cost, measured in the kernel with
// BPF_PROG_TEST_RUN (its `duration`), one run per call (repeat = 1: no
// frame is run twice, so each SYN of the miss case is a new flow) and
// averaged over --calls calls, three cases interleaved call by call so that
// they share the machine's conditions:
//   - hit:   an ACK of a flow in the connection table;
//   - miss:  a SYN of a new flow (a new source address and port each call):
//            hashed, looked up in the Maglev table, placed in the table;
//   - empty: bench/empty_pass.bpf.c's XDP program (return XDP_PASS): what
//            the test-run harness itself costs.
// Then the miss's floor, in a second loop with its own empty runs:
//   - flow_insert: bench/lb_flow_insert.bpf.c, the miss's new flows placed
//            in a table like the connection table and nothing else.
// Then the Maglev table's build time (maglev_table(), 65,537 entries) with
// 10 and 1,000 backends, the median of --rebuilds builds.
// Prints one JSON object (docs/BENCHMARKS.md, docs/lb.md).
//
//   lb_bench [--calls N] [--rebuilds K] [--conntrack-size N]
//
// The connection table has the config's default size (262,144; another with
// --conntrack-size) and per-CPU LRU lists, each CPU's share of the free
// entries about size / CPUs: past that many misses on one CPU, every miss
// also evicts a flow (dearer). The default 100,000 calls stay below it on a
// machine of 2 CPUs at the default size.
//
// Needs root; runs in a network namespace of its own (the frames arrive on
// its lo as far as the programs can tell).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "adam/lb.h"
#include "adam/xdp_chain.h"
#include "core/bpf_handle.h"
#include "core/xdp_test_run.h"
#include "empty_pass.skel.h"
#include "lb_flow_insert.skel.h"
#include "plugins/lb/datapath.h"
#include "plugins/lb/maglev.h"

namespace {

using namespace adam;
using Frame = std::vector<uint8_t>;

struct Options {
  uint32_t calls = 100000;
  int rebuilds = 9;
  uint32_t conntrack_size = ADAM_LB_DEFAULT_FLOWS;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "lb_bench: " << why
            << "\nusage: lb_bench [--calls N (>= 100000)] [--rebuilds K] [--conntrack-size N (>= 1)]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) usage("missing a value after " + arg);
    if (arg == "--calls")
      o.calls = static_cast<uint32_t>(std::stoul(argv[++i]));
    else if (arg == "--rebuilds")
      o.rebuilds = std::stoi(argv[++i]);
    else if (arg == "--conntrack-size")
      o.conntrack_size = static_cast<uint32_t>(std::stoul(argv[++i]));
    else
      usage("unknown option " + arg);
  }
  if (o.calls < 100000) usage("--calls must be at least 100000");
  if (o.rebuilds < 1) usage("--rebuilds must be at least 1");
  if (o.conntrack_size < 1) usage("--conntrack-size must be at least 1");
  return o;
}

lb::IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  lb::IpAddress ip;
  ip.family = 4;
  ip.bytes = {a, b, c, d};
  return ip;
}

const std::array<uint8_t, 6> kLbMac = {2, 0, 0, 0, 0, 0xb0};

lb::KernelService service_of(uint32_t backends, uint32_t ifindex) {
  lb::KernelService s;
  s.id = 1;
  s.vip = v4(203, 0, 113, 10);
  s.port = 80;
  s.proto = IPPROTO_TCP;
  s.table_size = ADAM_LB_DEFAULT_TABLE_SIZE;
  for (uint32_t i = 0; i < backends; ++i) {
    lb::KernelBackend b;
    b.address = v4(198, 51, 100, static_cast<uint8_t>(10 + i));
    b.table_weight = 100;
    b.next_hop.resolved = true;
    b.next_hop.ifindex = ifindex;
    b.next_hop.src_mac = kLbMac;
    b.next_hop.dst_mac = {2, 0, 0, 0, 1, static_cast<uint8_t>(i)};
    s.backends.push_back(b);
  }
  return s;
}

// A SYN or an ACK of flow number `flow` (< 2^24): from 198.51.100.<flow / 65536 + 1>,
// source port flow % 65536.
Frame frame_of(uint32_t flow, bool syn) {
  lb::Flow f;
  f.src = v4(198, 51, 100, static_cast<uint8_t>(1 + (flow >> 16)));
  f.dst = v4(203, 0, 113, 10);
  f.proto = IPPROTO_TCP;
  f.src_port = static_cast<uint16_t>(flow);
  f.dst_port = 80;
  f.syn = syn;
  return lb::frame_for(f, kLbMac);
}

uint32_t run_once(int prog_fd, const Frame& frame, uint32_t ifindex, uint32_t expected) {
  const XdpRunResult r = xdp_test_run(prog_fd, frame, ifindex, 1);
  if (r.verdict != expected)
    throw std::runtime_error("a run returned " + std::to_string(r.verdict) + ", not " +
                             std::to_string(expected));
  return r.ns_per_run;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double rebuild_ms(uint32_t backends, int rebuilds) {
  std::vector<lb::MaglevBackend> in;
  for (uint32_t i = 0; i < backends; ++i) in.push_back({"2001:db8::" + std::to_string(i + 1), 100});
  std::vector<double> ms;
  for (int i = 0; i < rebuilds; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const std::vector<uint32_t> table = lb::maglev_table(in, ADAM_LB_DEFAULT_TABLE_SIZE);
    const auto end = std::chrono::steady_clock::now();
    if (table.size() != ADAM_LB_DEFAULT_TABLE_SIZE) throw std::runtime_error("maglev_table: wrong size");
    ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  }
  return median(ms);
}

double round2(double v) { return std::round(v * 100) / 100; }

int run(const Options& o) {
  if (::unshare(CLONE_NEWNET) != 0)
    throw std::runtime_error(std::string("unshare(CLONE_NEWNET) (run as root): ") + strerror(errno));
  if (std::system("ip link set lo up") != 0) throw std::runtime_error("cannot bring lo up");
  const uint32_t lo = if_nametoindex("lo");

  UniqueFd chain(bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "bench_chain", 4, 4, ADAM_XDP_CHAIN_SLOTS, nullptr));
  if (!chain) throw std::runtime_error("cannot create a prog array: " + libbpf_error(-errno));
  lb::Datapath dp(chain.get(), "", o.conntrack_size);
  adam_lb_iface iface{};
  std::copy(kLbMac.begin(), kLbMac.end(), iface.mac);
  iface.mtu = 1500;
  dp.set_interfaces({{lo, iface}});
  dp.apply({service_of(10, lo)});

  SkeletonPtr<empty_pass_bpf, empty_pass_bpf__destroy> empty(empty_pass_bpf__open_and_load());
  if (!empty) throw std::runtime_error("cannot load bench/empty_pass.bpf.c: " + libbpf_error(-errno));
  const int empty_fd = bpf_program__fd(empty->progs.xdp_pass);

  // The hit case's flow, placed once; the miss case's frames, one new flow each.
  const Frame hit = frame_of(0, false);
  run_once(dp.prog_fd(), frame_of(0, true), lo, XDP_TX);
  std::vector<Frame> misses;
  misses.reserve(o.calls);
  for (uint32_t i = 1; i <= o.calls; ++i) misses.push_back(frame_of(i, true));

  uint64_t hit_ns = 0, miss_ns = 0, empty_ns = 0;
  for (uint32_t i = 0; i < o.calls; ++i) {
    hit_ns += run_once(dp.prog_fd(), hit, lo, XDP_TX);
    miss_ns += run_once(dp.prog_fd(), misses[i], lo, XDP_TX);
    empty_ns += run_once(empty_fd, hit, lo, XDP_PASS);
  }
  const auto counters = dp.counters().at(0).counters;
  if (counters.lru_hits < o.calls || counters.new_flows < o.calls)
    throw std::runtime_error("the hit and miss cases did not hit and miss");

  const double calls = o.calls;
  const double hit_mean = hit_ns / calls, miss_mean = miss_ns / calls, empty_mean = empty_ns / calls;

  SkeletonPtr<lb_flow_insert_bpf, lb_flow_insert_bpf__destroy> insert(lb_flow_insert_bpf__open());
  if (!insert || bpf_map__set_max_entries(insert->maps.flows, o.conntrack_size) != 0 ||
      lb_flow_insert_bpf__load(insert.get()) != 0)
    throw std::runtime_error("cannot load bench/lb_flow_insert.bpf.c: " + libbpf_error(-errno));
  const int insert_fd = bpf_program__fd(insert->progs.place_flow);
  uint64_t insert_ns = 0, insert_empty_ns = 0;
  for (uint32_t i = 0; i < o.calls; ++i) {
    insert_ns += run_once(insert_fd, misses[i], lo, XDP_PASS);
    insert_empty_ns += run_once(empty_fd, hit, lo, XDP_PASS);
  }
  const double insert_mean = insert_ns / calls, insert_empty_mean = insert_empty_ns / calls;
  const nlohmann::json out = {
      {"bench", "lb"},
      {"calls", o.calls},
      {"hit_ns", round2(hit_mean)},
      {"miss_ns", round2(miss_mean)},
      {"empty_ns", round2(empty_mean)},
      {"hit_ratio", round2(hit_mean / empty_mean)},
      {"miss_ratio", round2(miss_mean / empty_mean)},
      {"flow_insert_ns", round2(insert_mean)},
      {"flow_insert_ratio", round2(insert_mean / insert_empty_mean)},
      {"rebuild_ms_10", round2(rebuild_ms(10, o.rebuilds))},
      {"rebuild_ms_1000", round2(rebuild_ms(1000, o.rebuilds))},
      {"table_size", ADAM_LB_DEFAULT_TABLE_SIZE},
      {"conntrack_size", o.conntrack_size},
      {"flows", dp.flows()},
  };
  std::cout << out.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "lb_bench: " << e.what() << "\n";
    return 1;
  }
}
