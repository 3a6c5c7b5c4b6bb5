#include "plugins/lsm/kernel_tables.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "core/errors.h"

namespace adam::lsm {
namespace {

void set_bit(adam_lsm_bitmap& bitmap, size_t slot) { bitmap.bits[slot / 64] |= uint64_t{1} << (slot % 64); }

void or_into(adam_lsm_bitmap& into, const adam_lsm_bitmap& from) {
  for (size_t i = 0; i < ADAM_LSM_BITMAP_WORDS; ++i) into.bits[i] |= from.bits[i];
}

ApiError too_many(Kind kind, const std::string& what, size_t have, size_t limit) {
  return ApiError(422, "unprocessable",
                  std::string(name_of(kind)) + " policies need " + std::to_string(have) + " " + what +
                      ", the kernel's tables hold " + std::to_string(limit),
                  "kind");
}

// A trie's entries: every key gets the bits of the keys that cover it (the
// trie returns the longest match only).
template <typename Map, typename Covers>
std::vector<std::pair<typename Map::key_type, adam_lsm_bitmap>> with_covering(const Map& own, Covers covers) {
  std::vector<std::pair<typename Map::key_type, adam_lsm_bitmap>> out;
  for (const auto& [key, bits] : own) {
    adam_lsm_bitmap all = bits;
    for (const auto& [shorter, shorter_bits] : own)
      if (&shorter != &key && covers(shorter, key)) or_into(all, shorter_bits);
    out.emplace_back(key, all);
  }
  return out;
}

// The bytes a path pattern is stored as: a prefix ('/' at the end) as is, an
// exact path with its NUL, cut to the key's room.
std::string trie_bytes(const std::string& pattern) {
  std::string bytes = pattern;
  if (bytes.empty() || bytes.back() != '/') bytes.push_back('\0');
  if (bytes.size() > ADAM_LSM_KEY_PATH_MAX) bytes.resize(ADAM_LSM_KEY_PATH_MAX);
  return bytes;
}

adam_lsm_path_key path_key(uint8_t table, const std::string& bytes) {
  adam_lsm_path_key key{};
  key.prefixlen = static_cast<uint32_t>(8 + 8 * bytes.size());
  key.table = table;
  std::memcpy(key.path, bytes.data(), bytes.size());
  return key;
}

struct CidrOrder {
  bool operator()(const Cidr& a, const Cidr& b) const {
    return std::tie(a.family, a.addr, a.prefix_len) < std::tie(b.family, b.addr, b.prefix_len);
  }
};

}  // namespace

KindTables compile_kind(Kind kind, const std::vector<const Policy*>& policies, uint32_t gen) {
  if (policies.size() > ADAM_LSM_MAX_POLICIES)
    throw too_many(kind, "policy slots", policies.size(), ADAM_LSM_MAX_POLICIES);
  const uint8_t k = static_cast<uint8_t>(kind);
  const bool network = kind == Kind::connect || kind == Kind::bind;
  KindTables out;
  adam_lsm_kind_table& t = out.table;
  t.policies = static_cast<uint32_t>(policies.size());

  std::map<std::string, adam_lsm_bitmap> paths[2];  // match.path, scope.parent
  std::map<uint32_t, adam_lsm_bitmap> uids;
  std::map<std::string, adam_lsm_bitmap> comms;
  std::map<uint64_t, adam_lsm_bitmap> cgroups;
  std::map<Cidr, adam_lsm_bitmap, CidrOrder> addrs;
  std::set<uint32_t> starts{0};
  for (size_t slot = 0; slot < policies.size(); ++slot) {
    const Policy& p = *policies[slot];
    out.slots.push_back(adam_lsm_slot{static_cast<uint32_t>(p.id), static_cast<uint32_t>(p.action)});
    set_bit(t.all, slot);
    if (p.scope.uid.empty()) set_bit(t.any_uid, slot);
    for (uint32_t uid : p.scope.uid) set_bit(uids[uid], slot);
    if (p.scope.comm.empty()) set_bit(t.any_comm, slot);
    for (const std::string& comm : p.scope.comm) set_bit(comms[comm.substr(0, ADAM_LSM_COMM_LEN - 1)], slot);
    if (p.resolved.cgroup_ids.empty()) set_bit(t.any_cgroup, slot);
    for (uint64_t id : p.resolved.cgroup_ids) set_bit(cgroups[id], slot);
    if (p.resolved.parent.empty()) set_bit(t.any_parent, slot);
    for (const std::string& parent : p.resolved.parent) set_bit(paths[1][trie_bytes(parent)], slot);
    if (kind == Kind::exec || kind == Kind::file)
      for (const std::string& path : p.resolved.path) set_bit(paths[0][trie_bytes(path)], slot);
    if (p.match.access & ADAM_LSM_ACCESS_READ) set_bit(t.read, slot);
    if (p.match.access & ADAM_LSM_ACCESS_WRITE) set_bit(t.write, slot);
    if (p.match.tcp) set_bit(t.tcp, slot);
    if (p.match.udp) set_bit(t.udp, slot);
    if (p.match.addr.empty()) set_bit(t.any_addr, slot);
    for (const Cidr& c : p.match.addr) set_bit(addrs[c], slot);
    for (const PortRange& r : p.match.port) {
      starts.insert(r.lo);
      if (r.hi < 65535) starts.insert(uint32_t{r.hi} + 1);
    }
  }
  if (!uids.empty()) t.scoped |= ADAM_LSM_SCOPED_UID;
  if (!comms.empty()) t.scoped |= ADAM_LSM_SCOPED_COMM;
  if (!cgroups.empty()) t.scoped |= ADAM_LSM_SCOPED_CGROUP;
  if (!paths[1].empty()) t.scoped |= ADAM_LSM_SCOPED_PARENT;
  if (!addrs.empty()) t.scoped |= ADAM_LSM_SCOPED_ADDR;

  auto prefix_of = [](const std::string& shorter, const std::string& longer) {
    return longer.starts_with(shorter);
  };
  for (uint32_t parent = 0; parent < 2; ++parent) {
    const uint8_t table = ADAM_LSM_PATH_TABLE(gen, k, parent);
    for (const auto& [bytes, bits] : with_covering(paths[parent], prefix_of))
      out.paths.emplace_back(path_key(table, bytes), bits);
  }
  for (const auto& [uid, bits] : uids)
    out.uids.emplace_back(adam_lsm_uid_key{.gen = static_cast<uint8_t>(gen), .kind = k, .uid = uid}, bits);
  for (const auto& [comm, bits] : comms) {
    adam_lsm_comm_key key{.gen = static_cast<uint8_t>(gen), .kind = k};
    std::memcpy(key.comm, comm.data(), comm.size());
    out.comms.emplace_back(key, bits);
  }
  for (const auto& [id, bits] : cgroups)
    out.cgroups.emplace_back(
        adam_lsm_cgroup_key{.gen = static_cast<uint8_t>(gen), .kind = k, .cgroup_id = id}, bits);
  if (network) {
    auto covers = [](const Cidr& net, const Cidr& address) {
      return net.prefix_len <= address.prefix_len && cidr_contains(net, address);
    };
    for (const auto& [cidr, bits] : with_covering(addrs, covers)) {
      adam_lsm_addr_key key{};
      key.table = ADAM_LSM_ADDR_TABLE(gen, k);
      key.family = cidr.family;
      key.prefixlen = 16u + cidr.prefix_len;
      std::memcpy(key.addr, cidr.addr.data(), cidr.family == 4 ? 4 : 16);
      out.addrs.emplace_back(key, bits);
    }
    if (starts.size() > ADAM_LSM_MAX_PORT_INTERVALS)
      throw too_many(kind, "port intervals", starts.size(), ADAM_LSM_MAX_PORT_INTERVALS);
    for (uint32_t start : starts) {
      adam_lsm_bitmap bits{};
      for (size_t slot = 0; slot < policies.size(); ++slot) {
        const auto& ports = policies[slot]->match.port;
        if (ports.empty() || std::any_of(ports.begin(), ports.end(),
                                         [&](const PortRange& r) { return start >= r.lo && start <= r.hi; }))
          set_bit(bits, slot);
      }
      out.port_starts.push_back(start);
      out.port_bitmaps.push_back(bits);
    }
    t.port_intervals = static_cast<uint32_t>(starts.size());
  }
  return out;
}

}  // namespace adam::lsm
