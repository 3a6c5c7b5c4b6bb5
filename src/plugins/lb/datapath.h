#pragma once
// The balancer's loaded BPF object (bpf/lb.bpf.c) and its maps: writes the
// services, their backends and their Maglev tables (atomically per service:
// a packet sees a service's old table or its new one), asks the loaded
// program which backend it picks for a flow (BPF_PROG_TEST_RUN), and reads
// the counters. See docs/lb.md "Data path".
//
// Pins: with a pin dir, every map is pinned there under its own name
// (lb_services, lb_backends, lb_rings, lb_flows, ...). A Datapath made on a
// pin dir holding an earlier one's maps adopts them (adopt_or_replace_map_pins)
// and reads back which slot each backend and which ring each service has, so
// that apply() of the same services leaves every slot a flow points to as it
// was: connections keep their backends across an adamd restart.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "adam/lb.h"
#include "core/bpf_handle.h"
#include "plugins/lb/next_hop.h"
#include "plugins/lb/service.h"

struct lb_bpf;

namespace adam::lb {

// A backend as the kernel gets it.
struct KernelBackend {
  IpAddress address;
  uint32_t table_weight = 0;  // its weight in the Maglev table: 0 when drained, depooled or unresolved
  bool down = false;          // ADAM_LB_BACKEND_DOWN: its existing flows are re-hashed
  NextHop next_hop;           // where its packets go (unresolved: table_weight must be 0)
};

struct KernelService {
  int64_t id = 0;
  IpAddress vip;
  uint16_t port = 0;
  uint8_t proto = 6;
  Mode mode = Mode::l2dsr;
  uint32_t table_size = 65537;
  std::vector<KernelBackend> backends;  // keyed by address within the service
};

struct BackendCounters {
  IpAddress address;
  adam_lb_backend_stats counters{};
  uint32_t table_entries = 0;  // entries of the service's table that map to it
};

struct ServiceCounters {
  int64_t id = 0;
  adam_lb_service_stats counters{};
  std::vector<BackendCounters> backends;
};

// The 5-tuple explain() runs through the program (TCP: an ACK, or a SYN
// when `syn`).
struct Flow {
  IpAddress src, dst;
  uint8_t proto = 6;
  uint16_t src_port = 0, dst_port = 0;
  bool syn = false;
};

struct Explanation {
  uint32_t xdp_action = 0;        // XDP_TX, XDP_REDIRECT, XDP_DROP, XDP_PASS
  int64_t service_id = 0;         // 0: no service took it
  std::optional<IpAddress> backend;
  uint32_t source = ADAM_LB_SOURCE_NONE;  // ADAM_LB_SOURCE_*
  uint32_t total = 0;                      // source NONE: the ADAM_LB_TOTAL_* it counted in
  std::vector<uint8_t> frame;              // the frame the program put out
};

class Datapath {
 public:
  // Opens and loads bpf/lb.bpf.c into the XDP chain `chain_fd` with a
  // connection table of `flow_capacity` entries. `pin_dir` empty: nothing
  // pinned. Throws std::runtime_error when the load fails.
  Datapath(int chain_fd, const std::string& pin_dir, uint32_t flow_capacity);
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  int prog_fd() const;  // for the chain's slot ADAM_XDP_SLOT_LB
  const std::vector<std::string>& created_pins() const;

  // The interfaces the balancer works on (ifindex -> its MAC and MTU);
  // packets of other interfaces go on down the chain unseen.
  void set_interfaces(const std::map<uint32_t, adam_lb_iface>& interfaces);

  // Makes the kernel's services exactly `services`: new backends get free
  // slots (a reused slot a new generation), removed ones are freed, a
  // service whose backends or table weights changed gets a new Maglev table
  // in a free ring that replaces its old one in one update. Services and
  // backends that did not change are not rewritten. Throws
  // std::invalid_argument past a limit of bpf/adam/lb.h, std::runtime_error
  // on a map write error; either way the services the kernel had stay.
  void apply(const std::vector<KernelService>& services);

  // The loaded program's choice for `flow` arriving on `ifindex`, by
  // BPF_PROG_TEST_RUN with an adam_lb_explain in the metadata: nothing is
  // counted or written to the connection table. Throws std::runtime_error.
  Explanation explain(const Flow& flow, uint32_t ifindex) const;

  std::vector<ServiceCounters> counters() const;  // per-CPU sums, one read per map
  std::array<uint64_t, ADAM_LB_TOTALS> totals() const;
  uint32_t flows() const;  // entries in the connection table (a walk: for stats, not metrics)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Removes every pin of a Datapath in `pin_dir` (the plugin's stop()).
void remove_datapath_pins(const std::string& pin_dir);

// An Ethernet frame carrying `flow` toward `dst_mac` as the balancer would
// receive it (IPv4 or IPv6 by the addresses' family; TCP with ACK or SYN,
// or UDP; 16 bytes of payload). Throws std::invalid_argument naming the
// field ("proto", "dst") for what cannot be built.
std::vector<uint8_t> frame_for(const Flow& flow, const std::array<uint8_t, 6>& dst_mac);

}  // namespace adam::lb
