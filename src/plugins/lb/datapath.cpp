#include "plugins/lb/datapath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <utility>

#include "core/bpf_maps.h"
#include "core/bpf_pins.h"
#include "core/frame_bytes.h"
#include "core/undo.h"
#include "core/xdp_test_run.h"
#include "lb.skel.h"
#include "plugins/lb/maglev.h"

namespace adam::lb {
namespace {

using LbSkeleton = SkeletonPtr<lb_bpf, lb_bpf__destroy>;

static_assert(kNoBackend == ADAM_LB_NO_BACKEND);
static_assert(sizeof(adam_lb_service_key) == 20);
static_assert(sizeof(adam_lb_backend) == 56);
static_assert(sizeof(adam_lb_flow_key) == 40);

LbSkeleton open_skeleton() {
  LbSkeleton skel(lb_bpf__open());
  if (!skel) throw std::runtime_error("lb: cannot open its BPF object: " + libbpf_error(-errno));
  return skel;
}

adam_lb_service_key service_key(const IpAddress& vip, uint16_t port, uint8_t proto) {
  adam_lb_service_key key{};
  std::copy(vip.bytes.begin(), vip.bytes.end(), key.vip);
  key.port = port;
  key.proto = proto;
  key.family = vip.family;
  return key;
}

bool same_key(const adam_lb_service_key& a, const adam_lb_service_key& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}
struct KeyLess {
  bool operator()(const adam_lb_service_key& a, const adam_lb_service_key& b) const {
    return std::memcmp(&a, &b, sizeof a) < 0;
  }
};
using KeySet = std::set<adam_lb_service_key, KeyLess>;

IpAddress address_of(const uint8_t* bytes, uint8_t family) {
  IpAddress a;
  a.family = family;
  std::copy(bytes, bytes + (family == 4 ? 4 : 16), a.bytes.begin());
  return a;
}

// The kernel's entry of a backend in `generation`.
adam_lb_backend backend_entry(const KernelBackend& b, uint32_t generation) {
  adam_lb_backend e{};
  std::copy(b.address.bytes.begin(), b.address.bytes.end(), e.addr);
  e.family = b.address.family;
  e.flags = ADAM_LB_BACKEND_ACTIVE | (b.down ? ADAM_LB_BACKEND_DOWN : 0);
  std::copy(b.next_hop.dst_mac.begin(), b.next_hop.dst_mac.end(), e.dst_mac);
  std::copy(b.next_hop.src_mac.begin(), b.next_hop.src_mac.end(), e.src_mac);
  e.ifindex = b.next_hop.ifindex;
  e.generation = generation;
  std::copy(b.next_hop.source.bytes.begin(), b.next_hop.source.bytes.end(), e.outer_src);
  return e;
}

bool same_entry(const adam_lb_backend& a, const adam_lb_backend& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

void check_limits(const std::vector<KernelService>& services) {
  if (services.size() > ADAM_LB_MAX_SERVICES)
    throw std::invalid_argument("lb: more than " + std::to_string(ADAM_LB_MAX_SERVICES) + " services");
  size_t backends = 0;
  std::set<int64_t> ids;
  KeySet keys;
  for (const KernelService& s : services) {
    if (s.id <= 0 || s.id > UINT32_MAX || !ids.insert(s.id).second)
      throw std::invalid_argument("lb: service id " + std::to_string(s.id) + " is not a unique id");
    if (!keys.insert(service_key(s.vip, s.port, s.proto)).second || s.port == 0)
      throw std::invalid_argument("lb: service " + std::to_string(s.id) +
                                  ": its (vip, port, proto) is taken");
    if (s.proto != IPPROTO_TCP && s.proto != IPPROTO_UDP)
      throw std::invalid_argument("lb: service " + std::to_string(s.id) + ": proto must be tcp or udp");
    if (s.table_size == 0 || s.table_size > ADAM_LB_MAX_TABLE_SIZE)
      throw std::invalid_argument("lb: service " + std::to_string(s.id) + ": table_size out of range");
    std::set<IpAddress> addresses;
    for (const KernelBackend& b : s.backends) {
      if (!addresses.insert(b.address).second)
        throw std::invalid_argument("lb: service " + std::to_string(s.id) + ": backend " +
                                    b.address.to_string() + " twice");
      if (b.table_weight > 0 && !b.next_hop.resolved)
        throw std::invalid_argument("lb: backend " + b.address.to_string() + " is unresolved but weighted");
    }
    backends += s.backends.size();
  }
  if (backends > ADAM_LB_MAX_BACKENDS)
    throw std::invalid_argument("lb: more than " + std::to_string(ADAM_LB_MAX_BACKENDS) + " backends");
}

// The lowest index in [0, n) that `taken` does not hold.
template <typename Taken>
uint32_t first_free(const Taken& taken, uint32_t n, const char* what) {
  for (uint32_t i = 0; i < n; ++i) {
    if (!taken(i)) return i;
  }
  throw std::invalid_argument(std::string("lb: no free ") + what);
}

}  // namespace

// --- frames -----------------------------------------------------------------

std::vector<uint8_t> frame_for(const Flow& flow, const std::array<uint8_t, 6>& dst_mac) {
  if (flow.proto != IPPROTO_TCP && flow.proto != IPPROTO_UDP)
    throw std::invalid_argument("proto: only tcp (6) and udp (17) flows are balanced");
  if (flow.src.family != flow.dst.family)
    throw std::invalid_argument("dst: the source and destination must be of one address family");
  constexpr size_t kPayload = 16;
  std::vector<uint8_t> l4(flow.proto == IPPROTO_TCP ? 20 : 8, 0);
  put_be16(l4, 0, flow.src_port);
  put_be16(l4, 2, flow.dst_port);
  if (flow.proto == IPPROTO_TCP) {
    l4[12] = 5 << 4;                  // data offset: 5 words
    l4[13] = flow.syn ? 0x02 : 0x10;  // SYN or ACK
    put_be16(l4, 14, 65535);          // window
  } else {
    put_be16(l4, 4, static_cast<uint16_t>(l4.size() + kPayload));
  }
  l4.resize(l4.size() + kPayload, 0xab);

  std::vector<uint8_t> frame(dst_mac.begin(), dst_mac.end());
  const uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
  frame.insert(frame.end(), std::begin(src_mac), std::end(src_mac));
  frame.resize(14);
  if (flow.src.family == 4) {
    put_be16(frame, 12, ETH_P_IP);
    std::vector<uint8_t> ip(20, 0);
    ip[0] = 0x45;
    put_be16(ip, 2, static_cast<uint16_t>(ip.size() + l4.size()));
    put_be16(ip, 6, 0x4000);  // don't fragment
    ip[8] = 64;
    ip[9] = flow.proto;
    std::copy(flow.src.bytes.begin(), flow.src.bytes.begin() + 4, ip.begin() + 12);
    std::copy(flow.dst.bytes.begin(), flow.dst.bytes.begin() + 4, ip.begin() + 16);
    put_be16(ip, 10, inet_checksum(ip.data(), ip.size()));
    frame.insert(frame.end(), ip.begin(), ip.end());
  } else {
    put_be16(frame, 12, ETH_P_IPV6);
    std::vector<uint8_t> ip(40, 0);
    ip[0] = 0x60;
    put_be16(ip, 4, static_cast<uint16_t>(l4.size()));
    ip[6] = flow.proto;
    ip[7] = 64;
    std::copy(flow.src.bytes.begin(), flow.src.bytes.end(), ip.begin() + 8);
    std::copy(flow.dst.bytes.begin(), flow.dst.bytes.end(), ip.begin() + 24);
    frame.insert(frame.end(), ip.begin(), ip.end());
  }
  frame.insert(frame.end(), l4.begin(), l4.end());
  return frame;
}

// --- Datapath ---------------------------------------------------------------

struct Datapath::Impl {
  // What the kernel has of one service.
  struct ServiceState {
    adam_lb_service_key key{};
    adam_lb_service value{};
    std::vector<uint32_t> table;              // its Maglev table (backend slots)
    std::vector<MaglevBackend> table_inputs;  // what `table` was built from (empty after an adopt)
    std::map<IpAddress, uint32_t> slots;      // its backends' slots
  };

  LbSkeleton skel;
  BpfMapAccess maps;
  std::vector<std::string> created_pins;
  std::array<adam_lb_backend, ADAM_LB_MAX_BACKENDS> backends{};  // as in lb_backends
  std::array<uint32_t, ADAM_LB_MAX_BACKENDS> owners{};           // as in lb_backend_services
  std::map<int64_t, ServiceState> services;                      // by id

  int fd(const bpf_map* map) const { return bpf_map__fd(map); }
  const auto& m() const { return skel->maps; }

  void read_back();
  std::vector<uint32_t> read_ring(uint32_t ring, uint32_t table_size) const;
  void write_ring(uint32_t ring, const std::vector<uint32_t>& table);
  void write_backend(uint32_t slot, const adam_lb_backend& entry, uint32_t owner);
  void sync_vip_entries();
};

std::vector<uint32_t> Datapath::Impl::read_ring(uint32_t ring, uint32_t table_size) const {
  __u32 id = 0;
  if (!maps.lookup(fd(m().lb_rings), &ring, &id)) return {};
  UniqueFd inner(bpf_map_get_fd_by_id(id));
  if (!inner) return {};
  bpf_map_info info{};
  __u32 len = sizeof info;
  if (bpf_obj_get_info_by_fd(inner.get(), &info, &len) || info.max_entries != table_size) return {};
  std::vector<uint32_t> table(table_size);
  maps.lookup_array(inner.get(), table.data(), table_size);
  return table;
}

void Datapath::Impl::write_ring(uint32_t ring, const std::vector<uint32_t>& table) {
  bpf_map_create_opts opts{};
  opts.sz = sizeof opts;
  opts.map_flags = BPF_F_INNER_MAP;  // as the template's: the kernel compares the flags
  UniqueFd inner(
      bpf_map_create(BPF_MAP_TYPE_ARRAY, "lb_ring", 4, 4, static_cast<__u32>(table.size()), &opts));
  if (!inner) throw std::runtime_error("lb: cannot create a Maglev table: " + libbpf_error(-errno));
  std::vector<__u32> keys(table.size());
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<__u32>(i);
  maps.update_batch(inner.get(), keys.data(), table.data(), static_cast<uint32_t>(table.size()));
  const __u32 inner_fd = static_cast<__u32>(inner.get());
  maps.update(fd(m().lb_rings), &ring, &inner_fd);  // the outer map holds the table from here on
}

void Datapath::Impl::write_backend(uint32_t slot, const adam_lb_backend& entry, uint32_t owner) {
  maps.update(fd(m().lb_backends), &slot, &entry);
  backends[slot] = entry;
  if (owners[slot] != owner) {
    maps.update(fd(m().lb_backend_services), &slot, &owner);
    owners[slot] = owner;
  }
}

// The "a VIP" entries (port 0) fragments are looked up by: one per (vip,
// proto) of the services, no other.
void Datapath::Impl::sync_vip_entries() {
  KeySet wanted;
  for (const auto& [id, s] : services) {
    adam_lb_service_key k = s.key;
    k.port = 0;
    wanted.insert(k);
  }
  const int services_fd = fd(m().lb_services);
  std::vector<adam_lb_service_key> stale;
  adam_lb_service_key key{}, next{};
  for (bool first = true; maps.next_key(services_fd, first ? nullptr : &key, &next); first = false) {
    if (next.port == 0 && !wanted.count(next)) stale.push_back(next);
    key = next;
  }
  for (const auto& k : stale) maps.remove(services_fd, &k);
  const adam_lb_service vip_only{};
  for (const auto& k : wanted) maps.update(services_fd, &k, &vip_only);
}

void Datapath::Impl::read_back() {
  maps.lookup_array(fd(m().lb_backends), backends.data(), ADAM_LB_MAX_BACKENDS);
  maps.lookup_array(fd(m().lb_backend_services), owners.data(), ADAM_LB_MAX_BACKENDS);
  const int services_fd = fd(m().lb_services);
  adam_lb_service_key key{}, next{};
  for (bool first = true; maps.next_key(services_fd, first ? nullptr : &key, &next); first = false) {
    key = next;
    adam_lb_service value{};
    if (next.port == 0 || !maps.lookup(services_fd, &next, &value) || value.id == 0) continue;
    ServiceState& s = services[value.id];
    s.key = next;
    s.value = value;
    s.table = read_ring(value.ring, value.table_size);
  }
  for (uint32_t slot = 0; slot < ADAM_LB_MAX_BACKENDS; ++slot) {
    const adam_lb_backend& b = backends[slot];
    auto s = services.find(owners[slot]);
    if (!(b.flags & ADAM_LB_BACKEND_ACTIVE) || s == services.end()) continue;
    s->second.slots[address_of(b.addr, b.family)] = slot;
  }
}

Datapath::Datapath(int chain_fd, const std::string& pin_dir, uint32_t flow_capacity)
    : impl_(std::make_unique<Impl>()) {
  impl_->skel = open_skeleton();
  lb_bpf& s = *impl_->skel;
  if (int err = bpf_map__reuse_fd(s.maps.adam_xdp_chain, chain_fd); err)
    throw std::runtime_error("lb: cannot use the XDP chain: " + libbpf_error(err));
  if (int err = bpf_map__set_max_entries(s.maps.lb_flows, flow_capacity); err)
    throw std::runtime_error("lb: cannot size the connection table: " + libbpf_error(err));
  // The maps only make sense together (a flow names a backend slot, a
  // service a ring): adopted all or none.
  const bpf_map* not_pinned[] = {s.maps.adam_xdp_chain};
  if (!pin_dir.empty()) impl_->created_pins = adopt_or_replace_map_pins(s.obj, pin_dir, not_pinned, "lb");
  if (int err = lb_bpf__load(&s); err)
    throw std::runtime_error("lb: cannot load its program: " + libbpf_error(err));
  UndoStack undo;
  undo.push("the lb's new map pins", [pins = impl_->created_pins] { remove_pins(pins); });
  if (impl_->created_pins.empty() && !pin_dir.empty()) {
    impl_->read_back();
    spdlog::info("lb: adopted the pinned connection table and {} services in {}", impl_->services.size(),
                 pin_dir);
  }
  undo.dismiss();
}

Datapath::~Datapath() = default;

int Datapath::prog_fd() const { return bpf_program__fd(impl_->skel->progs.adam_lb); }

const std::vector<std::string>& Datapath::created_pins() const { return impl_->created_pins; }

void Datapath::set_interfaces(const std::map<uint32_t, adam_lb_iface>& interfaces) {
  const int fd = impl_->fd(impl_->m().lb_ifaces);
  std::vector<__u32> stale;
  __u32 key = 0, next = 0;
  for (bool first = true; impl_->maps.next_key(fd, first ? nullptr : &key, &next); first = false) {
    if (!interfaces.count(next)) stale.push_back(next);
    key = next;
  }
  for (__u32 ifindex : stale) impl_->maps.remove(fd, &ifindex);
  for (const auto& [ifindex, iface] : interfaces) impl_->maps.update(fd, &ifindex, &iface);

  std::vector<uint64_t> bits(ADAM_LB_IFINDEX_BITS / 64, 0);
  for (const auto& [ifindex, iface] : interfaces) {
    if (ifindex < ADAM_LB_IFINDEX_BITS) bits[ifindex / 64] |= uint64_t{1} << (ifindex % 64);
  }
  std::vector<__u32> words(bits.size());
  for (size_t i = 0; i < words.size(); ++i) words[i] = static_cast<__u32>(i);
  impl_->maps.update_batch(impl_->fd(impl_->m().lb_iface_bits), words.data(), bits.data(),
                           static_cast<uint32_t>(bits.size()));
}

void Datapath::apply(const std::vector<KernelService>& wanted) {
  check_limits(wanted);
  Impl& d = *impl_;
  const int stats_fd = d.fd(d.m().lb_service_stats), backend_stats_fd = d.fd(d.m().lb_backend_stats);
  const size_t cpus = possible_cpus();

  // Plan everything that can run out (slots, indexes, rings) before the
  // first write.
  std::set<uint32_t> taken_slots, taken_indexes, taken_rings;
  for (const auto& [id, s] : d.services) {
    for (const auto& [address, slot] : s.slots) taken_slots.insert(slot);
    taken_indexes.insert(s.value.index);
    taken_rings.insert(s.value.ring);
  }
  struct Plan {
    const KernelService* service;
    std::map<IpAddress, uint32_t> slots;
    uint32_t index;
    std::vector<MaglevBackend> table_inputs;
    std::optional<std::vector<uint32_t>> table;  // a new table, or none: the old one stays
    uint32_t ring;
  };
  std::vector<Plan> plans;
  for (const KernelService& ks : wanted) {
    auto old = d.services.find(ks.id);
    Plan p{.service = &ks, .slots = {}, .index = 0, .table_inputs = {}, .table = std::nullopt, .ring = 0};
    for (const KernelBackend& b : ks.backends) {
      std::optional<uint32_t> slot;
      if (old != d.services.end()) {
        auto it = old->second.slots.find(b.address);
        if (it != old->second.slots.end()) slot = it->second;
      }
      if (!slot) {
        slot = first_free([&](uint32_t i) { return taken_slots.count(i) > 0; }, ADAM_LB_MAX_BACKENDS,
                          "backend slot");
        taken_slots.insert(*slot);
      }
      p.slots[b.address] = *slot;
      p.table_inputs.push_back(MaglevBackend{b.address.to_string(), b.table_weight});
    }
    if (old != d.services.end()) {
      p.index = old->second.value.index;
      p.ring = old->second.value.ring;
    } else {
      p.index = first_free([&](uint32_t i) { return taken_indexes.count(i) > 0; }, ADAM_LB_MAX_SERVICES,
                           "service index");
      taken_indexes.insert(p.index);
    }
    const bool same_inputs =
        old != d.services.end() && old->second.value.table_size == ks.table_size &&
        !old->second.table_inputs.empty() &&
        std::equal(p.table_inputs.begin(), p.table_inputs.end(), old->second.table_inputs.begin(),
                   old->second.table_inputs.end(), [](const MaglevBackend& a, const MaglevBackend& b) {
                     return a.key == b.key && a.weight == b.weight;
                   });
    if (!same_inputs || p.slots != old->second.slots) {
      std::vector<uint32_t> table = maglev_table(p.table_inputs, ks.table_size);
      for (uint32_t& entry : table) {
        if (entry != kNoBackend) entry = p.slots.at(ks.backends[entry].address);
      }
      if (old == d.services.end() || old->second.table != table) {
        p.ring =
            first_free([&](uint32_t i) { return taken_rings.count(i) > 0; }, ADAM_LB_RINGS, "Maglev ring");
        taken_rings.insert(p.ring);
        p.table = std::move(table);
      }
    }
    plans.push_back(std::move(p));
  }

  // Backends first (a table names only slots that are filled), then each
  // service's table and entry. A backend going down is marked so only once
  // the new tables are in: a SYN still hashed by an old table to it would
  // otherwise find it down and be dropped.
  const std::vector<adam_lb_backend_stats> zero_backend_stats(cpus);
  struct BackendWrite {
    uint32_t slot;
    adam_lb_backend entry;
    uint32_t owner;
  };
  std::vector<BackendWrite> going_down;
  for (const Plan& p : plans) {
    for (const KernelBackend& b : p.service->backends) {
      const uint32_t slot = p.slots.at(b.address);
      const adam_lb_backend& current = d.backends[slot];
      const bool held = d.owners[slot] == p.service->id && (current.flags & ADAM_LB_BACKEND_ACTIVE) &&
                        address_of(current.addr, current.family) == b.address;
      const adam_lb_backend entry = backend_entry(b, held ? current.generation : current.generation + 1);
      if (held && same_entry(entry, current)) continue;
      if (held && (entry.flags & ADAM_LB_BACKEND_DOWN) && !(current.flags & ADAM_LB_BACKEND_DOWN)) {
        going_down.push_back({slot, entry, static_cast<uint32_t>(p.service->id)});
        continue;
      }
      if (!held) d.maps.update(backend_stats_fd, &slot, zero_backend_stats.data());
      d.write_backend(slot, entry, static_cast<uint32_t>(p.service->id));
    }
  }
  const int services_fd = d.fd(d.m().lb_services);
  const std::vector<adam_lb_service_stats> zero_service_stats(cpus);
  std::vector<uint32_t> old_rings;
  std::set<int64_t> kept;
  for (Plan& p : plans) {
    const KernelService& ks = *p.service;
    Impl::ServiceState& s = d.services[ks.id];
    const bool is_new = s.value.id == 0;
    if (is_new) d.maps.update(stats_fd, &p.index, zero_service_stats.data());
    if (p.table) {
      d.write_ring(p.ring, *p.table);
      if (!is_new) old_rings.push_back(s.value.ring);
      s.table = std::move(*p.table);
    }
    const adam_lb_service value{
        .id = static_cast<__u32>(ks.id),
        .index = p.index,
        .mode = ks.mode == Mode::ipip ? __u32{ADAM_LB_MODE_IPIP} : __u32{ADAM_LB_MODE_L2DSR},
        .ring = p.ring,
        .table_size = ks.table_size};
    const adam_lb_service_key key = service_key(ks.vip, ks.port, ks.proto);
    if (!is_new && !same_key(key, s.key)) d.maps.remove(services_fd, &s.key);
    if (is_new || !same_key(key, s.key) || std::memcmp(&value, &s.value, sizeof value) != 0)
      d.maps.update(services_fd, &key, &value);  // the swap: one element, ring and table_size together
    s.key = key;
    s.value = value;
    s.table_inputs = std::move(p.table_inputs);
    s.slots = std::move(p.slots);
    kept.insert(ks.id);
  }

  for (const BackendWrite& w : going_down) d.write_backend(w.slot, w.entry, w.owner);

  // Services gone.
  for (auto it = d.services.begin(); it != d.services.end();) {
    if (kept.count(it->first)) {
      ++it;
      continue;
    }
    d.maps.remove(services_fd, &it->second.key);
    old_rings.push_back(it->second.value.ring);
    it = d.services.erase(it);
  }
  d.sync_vip_entries();
  // Each delete from lb_rings returns after an RCU grace period (the kernel
  // waits after every update of an array of maps): no packet that read the
  // service's old entry is still running, so the ring can be handed out
  // again.
  for (uint32_t ring : old_rings) d.maps.remove(d.fd(d.m().lb_rings), &ring);

  // Backend slots no service holds any more: their flows are stale from now
  // on (the entry is inactive; a new backend in the slot gets a new
  // generation).
  std::set<uint32_t> held;
  for (const auto& [id, s] : d.services) {
    for (const auto& [address, slot] : s.slots) held.insert(slot);
  }
  for (uint32_t slot = 0; slot < ADAM_LB_MAX_BACKENDS; ++slot) {
    if (held.count(slot) || (!(d.backends[slot].flags & ADAM_LB_BACKEND_ACTIVE) && d.owners[slot] == 0))
      continue;
    adam_lb_backend freed{};
    freed.generation = d.backends[slot].generation;
    d.write_backend(slot, freed, 0);
  }
}

Explanation Datapath::explain(const Flow& flow, uint32_t ifindex) const {
  const Impl& d = *impl_;
  adam_lb_iface iface{};
  d.maps.lookup(d.fd(d.m().lb_ifaces), &ifindex, &iface);
  std::array<uint8_t, 6> mac{};
  std::copy(std::begin(iface.mac), std::end(iface.mac), mac.begin());
  const std::vector<uint8_t> frame = frame_for(flow, mac);

  const adam_lb_explain request{.magic = ADAM_LB_EXPLAIN_MAGIC};
  std::vector<uint8_t> in(sizeof request + frame.size());
  std::memcpy(in.data(), &request, sizeof request);
  std::copy(frame.begin(), frame.end(), in.begin() + sizeof request);
  std::vector<uint8_t> out(in.size() + 256);  // room for an outer header
  const XdpRunResult result = xdp_test_run(prog_fd(), in, ifindex, 1, sizeof request, out);

  adam_lb_explain answer{};
  std::memcpy(&answer, out.data(), sizeof answer);
  Explanation e;
  e.xdp_action = result.verdict;
  e.service_id = answer.service_id;
  e.source = answer.source;
  e.total = answer.total;
  if (answer.source != ADAM_LB_SOURCE_NONE && answer.backend < ADAM_LB_MAX_BACKENDS) {
    const adam_lb_backend& b = d.backends[answer.backend];
    e.backend = address_of(b.addr, b.family);
  }
  if (result.size_out > sizeof answer)
    e.frame.assign(out.begin() + sizeof answer, out.begin() + std::min<size_t>(result.size_out, out.size()));
  return e;
}

std::vector<ServiceCounters> Datapath::counters() const {
  const Impl& d = *impl_;
  const auto service_stats =
      sum_per_cpu_array<adam_lb_service_stats>(d.maps, d.fd(d.m().lb_service_stats), ADAM_LB_MAX_SERVICES);
  const auto backend_stats =
      sum_per_cpu_array<adam_lb_backend_stats>(d.maps, d.fd(d.m().lb_backend_stats), ADAM_LB_MAX_BACKENDS);
  std::vector<ServiceCounters> out;
  for (const auto& [id, s] : d.services) {
    ServiceCounters c{.id = id, .counters = service_stats[s.value.index], .backends = {}};
    std::map<uint32_t, uint32_t> entries;  // slot -> table entries
    for (uint32_t slot : s.table) ++entries[slot];
    for (const auto& [address, slot] : s.slots)
      c.backends.push_back(BackendCounters{.address = address,
                                           .counters = backend_stats[slot],
                                           .table_entries = entries.count(slot) ? entries.at(slot) : 0});
    out.push_back(std::move(c));
  }
  return out;
}

std::array<uint64_t, ADAM_LB_TOTALS> Datapath::totals() const {
  const auto sums = sum_per_cpu_array<uint64_t>(impl_->maps, impl_->fd(impl_->m().lb_totals), ADAM_LB_TOTALS);
  std::array<uint64_t, ADAM_LB_TOTALS> out{};
  std::copy(sums.begin(), sums.end(), out.begin());
  return out;
}

uint32_t Datapath::flows() const {
  // BPF_MAP_LOOKUP_BATCH, 4,096 entries a syscall: a walk key by key costs
  // a syscall per flow (a quarter of a second at the default size).
  const int fd = impl_->fd(impl_->m().lb_flows);
  constexpr uint32_t kChunk = 4096;
  std::vector<adam_lb_flow_key> keys(kChunk);
  std::vector<adam_lb_flow> values(kChunk);
  uint32_t count = 0;
  __u32 batch = 0;
  for (bool first = true;; first = false) {
    __u32 n = kChunk;
    bpf_map_batch_opts opts{};
    opts.sz = sizeof opts;
    const int err =
        bpf_map_lookup_batch(fd, first ? nullptr : &batch, &batch, keys.data(), values.data(), &n, &opts);
    if (err && errno != ENOENT)
      throw std::runtime_error("lb: cannot read the connection table: " + libbpf_error(err));
    count += n;
    if (err) return count;  // ENOENT: the last batch
  }
}

void remove_datapath_pins(const std::string& pin_dir) {
  const LbSkeleton layout = open_skeleton();
  std::vector<std::string> pins;
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, layout->obj) {
    if (map != layout->maps.adam_xdp_chain) pins.push_back(map_pin_path(pin_dir, map));
  }
  remove_pins(pins);
}

}  // namespace adam::lb
