#include "plugins/firewall/datapath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "core/bpf_pins.h"
#include "core/frame_bytes.h"
#include "core/undo.h"
#include "core/xdp_test_run.h"
#include "firewall.skel.h"

namespace adam::fw {
namespace {

using FirewallSkeleton = SkeletonPtr<firewall_bpf, firewall_bpf__destroy>;

FirewallSkeleton open_skeleton() {
  FirewallSkeleton skel(firewall_bpf__open());
  if (!skel) throw std::runtime_error("firewall: cannot open its BPF object: " + libbpf_error(-errno));
  return skel;
}

// The pin of `map` (a map of an opened, unloaded skeleton: the layout this
// build expects) that an earlier adamd left in pin_dir; empty when absent or
// of another layout (a build whose counters this one cannot read).
UniqueFd open_pinned(const bpf_map* map, const std::string& pin_dir) {
  try {
    return open_pinned_map(map_pin_path(pin_dir, map), map);
  } catch (const PinMismatch& e) {
    spdlog::debug("firewall: {}", e.what());
    return UniqueFd();
  }
}

Counter counter_of(const adam_fw_counter& c) { return Counter{.packets = c.packets, .bytes = c.bytes}; }

Counter sum_per_cpu_counter(const MapAccess& maps, int fd, uint32_t key) {
  return counter_of(sum_per_cpu<adam_fw_counter>(maps, fd, key));
}

Totals read_totals(const MapAccess& maps, int totals_fd) {
  return Totals{.pass = sum_per_cpu_counter(maps, totals_fd, ADAM_FW_VERDICT_PASS),
                .drop = sum_per_cpu_counter(maps, totals_fd, ADAM_FW_VERDICT_DROP)};
}

CounterSlots read_slots(const MapAccess& maps, int slots_fd) {
  CounterSlots slots;
  __u32 id = 0, next = 0, slot = 0;
  for (bool first = true; maps.next_key(slots_fd, first ? nullptr : &id, &next); first = false) {
    if (maps.lookup(slots_fd, &next, &slot)) slots[next] = slot;
    id = next;
  }
  return slots;
}

std::map<uint32_t, Counter> read_rule_counters(const MapAccess& maps, const CounterSlots& slots,
                                               int stats_fd) {
  std::map<uint32_t, Counter> counters;
  // A few rules: a lookup each. Many: the whole array in one syscall (a
  // lookup per rule costs ~1 µs, 10 ms at 10,000 rules).
  constexpr size_t kBatchFrom = 64;
  if (slots.size() < kBatchFrom) {
    for (const auto& [id, slot] : slots) counters[id] = sum_per_cpu_counter(maps, stats_fd, slot);
    return counters;
  }
  const std::vector<adam_fw_counter> sums =
      sum_per_cpu_array<adam_fw_counter>(maps, stats_fd, ADAM_FW_MAX_RULES);
  for (const auto& [id, slot] : slots) {
    if (slot < ADAM_FW_MAX_RULES) counters[id] = counter_of(sums[slot]);
  }
  return counters;
}

// Removes one generation's entries from a hash or trie whose keys carry it.
template <typename Key>
void remove_generation(MapAccess& maps, int fd, uint32_t gen) {
  std::vector<Key> stale;
  Key key{}, next{};
  for (bool first = true; maps.next_key(fd, first ? nullptr : &key, &next); first = false) {
    if (next.gen == gen) stale.push_back(next);
    key = next;
  }
  for (const Key& k : stale) maps.remove(fd, &k);
}

// Replaces one generation's entries of an IPv6 trie.
void write_ipv6_trie(MapAccess& maps, int fd, uint32_t gen, const std::vector<PrefixEntry>& entries) {
  remove_generation<adam_fw_lpm6_key>(maps, fd, gen);
  for (const PrefixEntry& e : entries) {
    // The generation byte leads the key.
    adam_fw_lpm6_key key{.prefixlen = ADAM_FW_LPM_GEN_BITS + __u32{e.prefix.len},
                         .gen = static_cast<__u8>(gen)};
    std::memcpy(key.addr, e.prefix.addr.data(), sizeof key.addr);
    maps.update(fd, &key, &e.bitmap);
  }
}

// Writes values[i] at key_of(i), all in one batch.
template <typename Value, typename KeyOf>
void write_array(MapAccess& maps, int fd, const std::vector<Value>& values, KeyOf key_of) {
  if (values.empty()) return;
  std::vector<__u32> keys(values.size());
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = key_of(static_cast<__u32>(i));
  maps.update_batch(fd, keys.data(), values.data(), static_cast<uint32_t>(values.size()));
}

bool is_ipv6_extension(uint8_t proto) {
  return proto == 0 || proto == 43 || proto == 44 || proto == 51 || proto == 60;
}

}  // namespace

// --- frames -----------------------------------------------------------------

std::vector<uint8_t> frame_for(const PacketKey& p) {
  if (p.family != 4 && p.family != 6)
    throw InvalidPacket("family", "the address family must be 4 or 6, not " + std::to_string(p.family));
  const bool tcp_or_udp = p.proto == kProtoTcp || p.proto == kProtoUdp;
  if (p.has_ports && !tcp_or_udp) throw InvalidPacket("src_port", "ports exist only for tcp and udp packets");
  if (p.family == 6 && is_ipv6_extension(p.proto))
    throw InvalidPacket("proto", "protocol " + std::to_string(p.proto) +
                                     " is an IPv6 extension header: no IPv6 packet ends with it");
  // The only TCP/UDP packet without ports is a non-first fragment.
  const bool fragment = tcp_or_udp && !p.has_ports;

  std::vector<uint8_t> l4(8, 0);
  if (p.has_ports) {
    l4.assign(p.proto == kProtoTcp ? 20 : 8, 0);
    put_be16(l4, 0, p.src_port);
    put_be16(l4, 2, p.dst_port);
    if (p.proto == kProtoTcp) {
      l4[12] = 5 << 4;  // data offset: 5 words
      l4[13] = 0x02;    // SYN
    } else {
      put_be16(l4, 4, static_cast<uint16_t>(l4.size()));
    }
  } else if (p.family == 4 && p.proto == kProtoIcmp) {
    l4[0] = 8;  // echo request
  } else if (p.family == 6 && p.proto == kProtoIcmpv6) {
    l4[0] = 128;  // echo request
  }

  std::vector<uint8_t> frame(14, 0);
  const uint8_t dst_mac[6] = {0x02, 0, 0, 0, 0, 0x02}, src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
  std::copy(std::begin(dst_mac), std::end(dst_mac), frame.begin());
  std::copy(std::begin(src_mac), std::end(src_mac), frame.begin() + 6);
  if (p.family == 4) {
    put_be16(frame, 12, ETH_P_IP);
    std::vector<uint8_t> ip(20, 0);
    ip[0] = 0x45;
    put_be16(ip, 2, static_cast<uint16_t>(ip.size() + l4.size()));
    put_be16(ip, 4, 0x1234);                      // identification
    put_be16(ip, 6, fragment ? 0x0001 : 0x4000);  // offset 1 (8 bytes) / don't fragment
    ip[8] = 64;
    ip[9] = p.proto;
    std::copy(p.src.begin(), p.src.begin() + 4, ip.begin() + 12);
    std::copy(p.dst.begin(), p.dst.begin() + 4, ip.begin() + 16);
    put_be16(ip, 10, inet_checksum(ip.data(), ip.size()));
    frame.insert(frame.end(), ip.begin(), ip.end());
  } else {
    put_be16(frame, 12, ETH_P_IPV6);
    std::vector<uint8_t> ip(40, 0);
    std::vector<uint8_t> frag;
    if (fragment) {
      frag.assign(8, 0);
      frag[0] = p.proto;
      put_be16(frag, 2, 1 << 3);  // offset 1 (8 bytes)
      put_be16(frag, 6, 0x1234);  // identification
    }
    ip[0] = 0x60;
    put_be16(ip, 4, static_cast<uint16_t>(frag.size() + l4.size()));
    ip[6] = fragment ? 44 : p.proto;
    ip[7] = 64;
    std::copy(p.src.begin(), p.src.end(), ip.begin() + 8);
    std::copy(p.dst.begin(), p.dst.end(), ip.begin() + 24);
    frame.insert(frame.end(), ip.begin(), ip.end());
    frame.insert(frame.end(), frag.begin(), frag.end());
  }
  frame.insert(frame.end(), l4.begin(), l4.end());
  return frame;
}

// --- Datapath ---------------------------------------------------------------

struct Datapath::Skeleton {
  FirewallSkeleton skel;
};

Datapath::Datapath(int chain_fd, const std::string& pin_dir) : skel_(std::make_unique<Skeleton>()) {
  grace_inner_.reset(bpf_map_create(BPF_MAP_TYPE_ARRAY, "fw_grace_inner", 4, 4, 1, nullptr));
  if (!grace_inner_)
    throw std::runtime_error("firewall: cannot create a map: " + libbpf_error(grace_inner_.get()));
  bpf_map_create_opts outer_opts{};
  outer_opts.sz = sizeof(outer_opts);
  outer_opts.inner_map_fd = static_cast<__u32>(grace_inner_.get());
  grace_outer_.reset(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "fw_grace", 4, 4, 1, &outer_opts));
  if (!grace_outer_)
    throw std::runtime_error("firewall: cannot create a map: " + libbpf_error(grace_outer_.get()));

  skel_->skel = open_skeleton();
  firewall_bpf& s = *skel_->skel;
  if (int err = bpf_map__reuse_fd(s.maps.adam_xdp_chain, chain_fd); err)
    throw std::runtime_error("firewall: cannot use the XDP chain: " + libbpf_error(err));
  // The maps only make sense together (fw_active names a generation of the
  // tables, fw_slots indexes fw_rule_stats): adopted all or none. The chain
  // is the XdpChain's, reused by fd.
  const bpf_map* not_pinned[] = {s.maps.adam_xdp_chain};
  if (!pin_dir.empty()) created_pins_ = adopt_or_replace_map_pins(s.obj, pin_dir, not_pinned, "firewall");
  // On failure libbpf unpins the maps it pinned during the load.
  if (int err = firewall_bpf__load(&s); err)
    throw std::runtime_error("firewall: cannot load its programs: " + libbpf_error(err));
  UndoStack undo;  // a constructor that throws from here on leaves no new pin
  undo.push("the firewall's new map pins", [pins = created_pins_] { remove_pins(pins); });
  if (created_pins_.empty() && !pin_dir.empty())
    spdlog::info("firewall: re-adopted the pinned rule tables and counters in {}", pin_dir);
  slots_ = read_slots(maps_, bpf_map__fd(s.maps.fw_slots));
  undo.dismiss();
}

Datapath::~Datapath() = default;

int Datapath::prog_fd() const { return bpf_program__fd(skel_->skel->progs.adam_firewall); }

int Datapath::tc_prog_fd() const { return bpf_program__fd(skel_->skel->progs.adam_firewall_tc); }

void Datapath::set_interfaces(const std::set<uint32_t>& ifindexes) {
  const int fd = bpf_map__fd(skel_->skel->maps.fw_ifaces);
  std::vector<__u32> stale;
  __u32 key = 0, next = 0;
  for (bool first = true; maps_.next_key(fd, first ? nullptr : &key, &next); first = false) {
    if (!ifindexes.count(next)) stale.push_back(next);
    key = next;
  }
  for (__u32 ifindex : stale) maps_.remove(fd, &ifindex);
  const __u32 on = ADAM_FW_IFACE_ON;
  for (__u32 ifindex : ifindexes) maps_.update(fd, &ifindex, &on);

  std::vector<uint64_t> bits(ADAM_FW_IFINDEX_BITS / 64, 0);
  for (__u32 ifindex : ifindexes) {
    if (ifindex < ADAM_FW_IFINDEX_BITS) bits[ifindex / 64] |= uint64_t{1} << (ifindex % 64);
  }
  write_array(maps_, bpf_map__fd(skel_->skel->maps.fw_iface_bits), bits, [](__u32 word) { return word; });
}

void Datapath::write_generation(uint32_t gen, const CompiledRuleset& t) {
  const auto& m = skel_->skel->maps;
  write_array(maps_, bpf_map__fd(m.fw_pool), t.pool, [gen](__u32 i) { return adam_fw_pool_key(gen, i); });
  for (const auto& [table, root_fd, chunks_fd] :
       {std::tuple{&t.src4, bpf_map__fd(m.fw_src4_root), bpf_map__fd(m.fw_src4_chunks)},
        std::tuple{&t.dst4, bpf_map__fd(m.fw_dst4_root), bpf_map__fd(m.fw_dst4_chunks)}}) {
    write_array(maps_, root_fd, table->root, [gen](__u32 i) { return adam_fw_v4_root_key(gen, i); });
    write_array(maps_, chunks_fd, table->chunks, [gen](__u32 i) { return adam_fw_v4_chunk_key(gen, i); });
  }
  write_ipv6_trie(maps_, bpf_map__fd(m.fw_src6), gen, t.src6);
  write_ipv6_trie(maps_, bpf_map__fd(m.fw_dst6), gen, t.dst6);
  write_array(maps_, bpf_map__fd(m.fw_proto), t.proto, [gen](__u32 p) { return adam_fw_proto_key(gen, p); });
  write_array(maps_, bpf_map__fd(m.fw_sport), t.src_port,
              [gen](__u32 p) { return adam_fw_port_key(gen, p); });
  write_array(maps_, bpf_map__fd(m.fw_dport), t.dst_port,
              [gen](__u32 p) { return adam_fw_port_key(gen, p); });
  const int iface_fd = bpf_map__fd(m.fw_iface);
  remove_generation<adam_fw_iface_key>(maps_, iface_fd, gen);
  for (const auto& [ifindex, bitmap] : t.iface) {
    const adam_fw_iface_key key{.gen = gen, .ifindex = ifindex};
    maps_.update(iface_fd, &key, &bitmap);
  }
  write_array(maps_, bpf_map__fd(m.fw_rules), t.rules,
              [gen](__u32 pos) { return adam_fw_rule_key(gen, pos); });
  maps_.update(bpf_map__fd(m.fw_gens), &gen, &t.generation);
}

void Datapath::wait_for_packets_in_flight() {
  // The kernel follows every update of an array-of-maps with synchronize_rcu()
  // (syscall.c, maybe_wait_bpf_programs()); XDP programs run in RCU read-side
  // sections, so when the update returns no run that began before it is left.
  const __u32 zero = 0, inner = static_cast<__u32>(grace_inner_.get());
  maps_.update(grace_outer_.get(), &zero, &inner);
}

uint32_t Datapath::active_generation() const {
  const __u32 zero = 0;
  __u32 active = 0;
  maps_.lookup(bpf_map__fd(skel_->skel->maps.fw_active), &zero, &active);
  return active;
}

void Datapath::assign_slot(uint32_t id, uint32_t slot) {
  const auto& m = skel_->skel->maps;
  const std::vector<adam_fw_counter> zeros(possible_cpus());
  maps_.update(bpf_map__fd(m.fw_rule_stats), &slot, zeros.data());
  maps_.update(bpf_map__fd(m.fw_slots), &id, &slot);
  slots_[id] = slot;
}

bool Datapath::add(const Rule& rule, const IfindexMap& ifindexes) {
  const auto& m = skel_->skel->maps;
  auto known = slots_.find(rule.id);
  const uint32_t slot = known != slots_.end() ? known->second : slot_for_added(slots_);
  std::optional<adam_fw_added_rule> entry;
  const uint32_t gen = active_generation();
  adam_fw_generation g{};
  if (rule.enabled) {
    entry = added_rule_entry(rule, ifindexes, slot);
    maps_.lookup(bpf_map__fd(m.fw_gens), &gen, &g);
    if (!entry || g.added_count >= ADAM_FW_ADDED_RULES) return false;
  }
  // The slot first: no rule holds it, so no packet counts into it before the
  // entry that names it is visible.
  if (known == slots_.end()) assign_slot(rule.id, slot);
  if (entry) {
    const __u32 key = adam_fw_added_key(gen, g.added_count);
    maps_.update(bpf_map__fd(m.fw_added), &key, &*entry);
    ++g.added_count;
    maps_.update(bpf_map__fd(m.fw_gens), &gen, &g);
  }
  added_.push_back(Added{rule.id, slot, entry});
  return true;
}

uint32_t Datapath::added_rules() const {
  const __u32 gen = active_generation();
  adam_fw_generation g{};
  maps_.lookup(bpf_map__fd(skel_->skel->maps.fw_gens), &gen, &g);
  return g.added_count;
}

void Datapath::apply(const Ruleset& ruleset, const IfindexMap& ifindexes) {
  Staged staged = stage(ruleset, ifindexes);
  build(staged);
  commit(staged);
}

Datapath::Staged Datapath::stage(Ruleset ruleset, IfindexMap ifindexes) const {
  Staged s{.ruleset = std::move(ruleset), .ifindexes = std::move(ifindexes)};
  // Refuses a ruleset with more rules than slots before anything is written.
  s.slots = assign_counter_slots(slots_, s.ruleset);
  s.gen = active_generation() == 0 ? 1 : 0;
  s.added_before = added_.size();
  return s;
}

void Datapath::build(Staged& s) {
  // Everything that can refuse the ruleset runs before the first write.
  s.tables = compile(s.ruleset, s.ifindexes, s.slots);
  if (grace_pending_) {
    wait_for_packets_in_flight();
    grace_pending_ = false;
  }
  // The inactive generation: no packet reads it, add() does not write it.
  write_generation(s.gen, s.tables);
}

void Datapath::commit(Staged& s) {
  const auto& m = skel_->skel->maps;
  // New rules start counting from zero. Their slots are ones no rule of the
  // active ruleset counts into (unless the slots ran out, see
  // assign_counter_slots()), so clearing them now races with no packet.
  const int stats_fd = bpf_map__fd(m.fw_rule_stats);
  const std::vector<adam_fw_counter> zeros(possible_cpus());
  for (const auto& [id, slot] : s.slots) {
    if (!slots_.count(id)) maps_.update(stats_fd, &slot, zeros.data());
  }

  // Rules add()ed since stage() are in the active generation's table only:
  // the new generation gets them in its own.
  std::vector<Added> carried(added_.begin() + static_cast<std::ptrdiff_t>(s.added_before), added_.end());
  adam_fw_generation g = s.tables.generation;
  for (const Added& a : carried) {
    s.slots[a.id] = a.slot;
    if (!a.entry) continue;
    const __u32 key = adam_fw_added_key(s.gen, g.added_count++);
    maps_.update(bpf_map__fd(m.fw_added), &key, &*a.entry);
  }
  if (g.added_count != s.tables.generation.added_count) maps_.update(bpf_map__fd(m.fw_gens), &s.gen, &g);

  const int active_fd = bpf_map__fd(m.fw_active);
  const __u32 zero = 0;
  maps_.update(active_fd, &zero, &s.gen);  // the flip

  const int slots_fd = bpf_map__fd(m.fw_slots);
  std::vector<uint32_t> freed;
  for (const auto& [id, slot] : slots_) {
    if (!s.slots.count(id)) freed.push_back(id);
  }
  if (!freed.empty()) {
    // Packets still deciding with the old generation count into the freed
    // slots: let them finish before the slots can be handed out again.
    wait_for_packets_in_flight();
    for (uint32_t id : freed) maps_.remove(slots_fd, &id);
  }
  grace_pending_ = freed.empty();
  for (const auto& [id, slot] : s.slots) {
    auto held = slots_.find(id);
    if (held == slots_.end() || held->second != slot) maps_.update(slots_fd, &id, &slot);
  }
  slots_ = std::move(s.slots);
  added_ = std::move(carried);
}

TestRun Datapath::test_run(std::span<const uint8_t> frame, uint32_t ifindex) const {
  const adam_fw_explain request{.magic = ADAM_FW_EXPLAIN_MAGIC};
  std::vector<uint8_t> in(sizeof request + frame.size());
  std::memcpy(in.data(), &request, sizeof request);
  if (!frame.empty()) std::memcpy(in.data() + sizeof request, frame.data(), frame.size());
  std::vector<uint8_t> out(in.size() + 256);  // room for a later slot that grows the frame

  const XdpRunResult result = xdp_test_run(prog_fd(), in, ifindex, 1, sizeof request, out);

  adam_fw_explain answer{};
  std::memcpy(&answer, out.data(), sizeof answer);
  TestRun run;
  run.xdp_action = result.verdict;
  run.classified = answer.classified != 0;
  if (run.classified) run.decision = Decision{action_of(answer.verdict), answer.rule_id};
  return run;
}

Decision Datapath::explain(const PacketKey& packet, uint32_t ifindex) const {
  return test_run(frame_for(packet), ifindex).decision;
}

std::map<uint32_t, Counter> Datapath::rule_counters() const {
  return read_rule_counters(maps_, slots_, bpf_map__fd(skel_->skel->maps.fw_rule_stats));
}

std::optional<Counter> Datapath::rule_counter(uint32_t id) const {
  auto it = slots_.find(id);
  if (it == slots_.end()) return std::nullopt;
  return sum_per_cpu_counter(maps_, bpf_map__fd(skel_->skel->maps.fw_rule_stats), it->second);
}

Totals Datapath::totals() const { return read_totals(maps_, bpf_map__fd(skel_->skel->maps.fw_totals)); }

std::map<uint32_t, Counter> Datapath::pinned_rule_counters(const std::string& pin_dir) {
  const FirewallSkeleton layout = open_skeleton();
  UniqueFd slots = open_pinned(layout->maps.fw_slots, pin_dir);
  UniqueFd stats = open_pinned(layout->maps.fw_rule_stats, pin_dir);
  if (!slots || !stats) return {};
  const BpfMapAccess maps;
  return read_rule_counters(maps, read_slots(maps, slots.get()), stats.get());
}

Totals Datapath::pinned_totals(const std::string& pin_dir) {
  const FirewallSkeleton layout = open_skeleton();
  UniqueFd totals = open_pinned(layout->maps.fw_totals, pin_dir);
  if (!totals) return {};
  return read_totals(BpfMapAccess{}, totals.get());
}

void Datapath::set_log_limits(uint32_t per_rule, uint32_t total) {
  const __u32 zero = 0;
  const adam_fw_log_config config{.rule_rate = per_rule, .total_rate = total};
  maps_.update(bpf_map__fd(skel_->skel->maps.fw_log_config), &zero, &config);
}

int Datapath::events_fd() const { return bpf_map__fd(skel_->skel->maps.fw_events); }

int Datapath::events_lost_fd() const { return bpf_map__fd(skel_->skel->maps.fw_events_lost); }

}  // namespace adam::fw
