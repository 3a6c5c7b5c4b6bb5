#pragma once
// The firewall's loaded BPF object (bpf/firewall.bpf.c) and its maps: writes
// compiled rulesets into them with an atomic generation flip, asks the loaded
// program itself how it decides a packet (BPF_PROG_TEST_RUN), and reads the
// counters. See docs/firewall.md.
//
// Pins: with a pin dir, every map of the object is pinned there under its
// own name (fw_totals, fw_ifaces, fw_pool, ...). A Datapath made on a pin dir
// that holds the maps of an earlier one adopts them all when every layout
// matches, so the ruleset, the active generation and the counters carry on;
// if any layout differs it replaces them all (logged).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/bpf_handle.h"
#include "core/bpf_maps.h"
#include "plugins/firewall/classifier.h"
#include "plugins/firewall/rule.h"

struct firewall_bpf;

namespace adam::fw {

struct Counter {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

struct Totals {
  Counter pass, drop;
};

// One BPF_PROG_TEST_RUN of the firewall program.
struct TestRun {
  uint32_t xdp_action = 0;  // what the chain returned: XDP_DROP, or XDP_PASS once no later slot took it
  bool classified = false;  // false: the firewall is not on the frame's interface, it passed it on unseen
  Decision decision;        // the firewall's decision (pass, rule 0 when not classified)
};

// A packet explain() cannot turn into a frame; `field` names the PacketKey
// field at fault (family, proto, src_port).
class InvalidPacket : public std::invalid_argument {
 public:
  InvalidPacket(std::string field, const std::string& message)
      : std::invalid_argument(message), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

// An Ethernet frame that carries `packet` so that the firewall's parser reads
// exactly its fields back: IPv4 or IPv6; a TCP/UDP header with the ports when
// has_ports, a non-first fragment when TCP/UDP without ports; an ICMP/ICMPv6
// echo request; 8 zero bytes of payload for other protocols. Throws
// InvalidPacket for a family other than 4/6, ports on a protocol other than
// TCP/UDP, or an IPv6 protocol number that is an extension header.
std::vector<uint8_t> frame_for(const PacketKey& packet);

class Datapath {
 public:
  // Opens and loads the firewall program into the XDP chain `chain_fd` (its
  // tail calls go there). `pin_dir` empty: nothing is pinned. Throws
  // std::runtime_error when the load fails.
  Datapath(int chain_fd, const std::string& pin_dir);
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  // The XDP entry point (for the chain's slot) and the tc one (for tcx
  // links): the same classifier, maps and counters.
  int prog_fd() const;
  int tc_prog_fd() const;
  // The pins this Datapath created (those it adopted not included), for a
  // caller that must undo a failed start.
  const std::vector<std::string>& created_pins() const { return created_pins_; }

  // The interfaces (ifindexes) whose packets the firewall classifies; the
  // others go on down the chain unseen.
  void set_interfaces(const std::set<uint32_t>& ifindexes);

  // Compiles `ruleset` (interface names resolved through `ifindexes`), writes
  // it into the inactive generation, flips fw_active (one 4-byte write: a
  // packet sees the old ruleset or the new one) and returns once no packet
  // still uses the old generation. Throws std::invalid_argument (an invalid
  // rule or an overflowed limit) with nothing changed; on a map write error
  // std::runtime_error with the active ruleset unchanged.
  void apply(const Ruleset& ruleset, const IfindexMap& ifindexes);

  // Adds `rule` to the applied ruleset without recompiling it: a new rule
  // gets its counter slot, and an enabled one (new, or applied so far as
  // disabled) an entry in the active generation's added-rules table (see
  // bpf/adam/firewall.h), written before the count that makes packets see it.
  // Returns false, with nothing changed, when the table is full or the rule
  // has more values in a field than an entry holds: apply() the ruleset then.
  // Throws as apply() does for a malformed rule.
  bool add(const Rule& rule, const IfindexMap& ifindexes);
  // Entries in the active generation's added-rules table: a recompiling
  // apply() folds them into the bit-vector tables.
  uint32_t added_rules() const;

  // apply() in three steps, so that add() can go on while the slow middle one
  // runs (the plugin folds added rules into the compiled tables this way):
  //   stage()  copies what the compile needs          (serialized with add())
  //   build()  compiles and writes the inactive generation (alongside add())
  //   commit() carries the rules add()ed since stage() over into the new
  //            generation's added-rules table, flips  (serialized with add())
  // Only one Staged may be in flight, and no apply() meanwhile. commit()
  // waits for the packets still on the old generation only when the ruleset
  // freed counter slots (add() could hand them out again); else the next
  // build() waits before it rewrites that generation.
  struct Staged {
    Ruleset ruleset;
    IfindexMap ifindexes;
    CounterSlots slots;
    uint32_t gen = 0;         // the inactive generation, written by build()
    size_t added_before = 0;  // add()ed entries that the compile includes
    CompiledRuleset tables;
  };
  Staged stage(Ruleset ruleset, IfindexMap ifindexes) const;
  void build(Staged& staged);
  void commit(Staged& staged);

  // Runs the loaded program once on `frame` as if it arrived on `ifindex` (an
  // interface of the calling thread's network namespace), with explain
  // metadata so that it counts nothing and reports its decision. Safe to call
  // while another thread runs apply().
  TestRun test_run(std::span<const uint8_t> frame, uint32_t ifindex) const;
  // test_run() on frame_for(packet): the kernel's decision for the packet
  // (packet.ifindex is ignored, `ifindex` is the interface).
  Decision explain(const PacketKey& packet, uint32_t ifindex) const;

  // Rule id -> packets and bytes summed over CPUs, for every rule of the
  // applied ruleset (enabled or not).
  std::map<uint32_t, Counter> rule_counters() const;
  // One rule's counters; nullopt for a rule not in the applied ruleset.
  std::optional<Counter> rule_counter(uint32_t id) const;
  Totals totals() const;

  // The counters an earlier adamd left pinned in `pin_dir` (zero/empty when
  // absent or of another layout), for stats while the firewall is stopped.
  static std::map<uint32_t, Counter> pinned_rule_counters(const std::string& pin_dir);
  static Totals pinned_totals(const std::string& pin_dir);

  // Log events (bpf/adam/firewall.h, "Log events"): the rate limits, in events
  // per second per rule and over all rules, in force from the next packet.
  void set_log_limits(uint32_t per_rule, uint32_t total);
  // The events' ring buffer and its lost counter (bpf/adam/events.h), for
  // EventHub::add_ring_buffer.
  int events_fd() const;
  int events_lost_fd() const;

 private:
  struct Skeleton;
  void write_generation(uint32_t gen, const CompiledRuleset& tables);
  uint32_t active_generation() const;
  // Gives rule `id` counter slot `slot`, counting from zero.
  void assign_slot(uint32_t id, uint32_t slot);
  void wait_for_packets_in_flight();

  BpfMapAccess maps_;
  std::unique_ptr<Skeleton> skel_;
  std::vector<std::string> created_pins_;
  CounterSlots slots_;  // of the applied ruleset (read back from fw_slots on adoption)
  // What add() did since the last compile (an earlier adamd's not included):
  // the rule's slot and, for an enabled rule, its entry in the active
  // generation's added-rules table.
  struct Added {
    uint32_t id = 0, slot = 0;
    std::optional<adam_fw_added_rule> entry;
  };
  std::vector<Added> added_;
  // The last flip's grace period has not been waited for: the inactive
  // generation may still be read by packets in flight.
  bool grace_pending_ = false;
  // An array-of-maps whose update makes the kernel wait for an RCU grace
  // period: every XDP program run that started before has finished.
  UniqueFd grace_inner_, grace_outer_;
};

}  // namespace adam::fw
