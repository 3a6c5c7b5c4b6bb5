#include "plugins/firewall/classifier.h"

#include <arpa/inet.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace adam::fw {
namespace {

// A rule set as bits by position, the words of an adam_fw_bitmap.
using Bits = std::array<uint64_t, ADAM_FW_BITMAP_WORDS>;

void set_bit(Bits& bits, size_t position) { bits[position / 64] |= uint64_t{1} << (position % 64); }
void clear_bit(Bits& bits, size_t position) { bits[position / 64] &= ~(uint64_t{1} << (position % 64)); }

Bits operator|(Bits a, const Bits& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] |= b[i];
  return a;
}

std::string to_string(const Prefix& p) {
  char text[INET6_ADDRSTRLEN] = "?";
  inet_ntop(p.family == 6 ? AF_INET6 : AF_INET, p.addr.data(), text, sizeof text);
  return std::string(text) + "/" + std::to_string(p.len);
}

unsigned family_bits(uint8_t family) { return family == 6 ? 128 : 32; }

uint32_t ipv4_value(const std::array<uint8_t, 16>& addr) {
  return uint32_t{addr[0]} << 24 | uint32_t{addr[1]} << 16 | uint32_t{addr[2]} << 8 | addr[3];
}

// The prefix cut to `len` bits (every address bit past them zero).
Prefix truncated(const Prefix& p, uint8_t len) {
  Prefix out = p;
  out.len = len;
  for (unsigned bit = len; bit < 128; ++bit) out.addr[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  return out;
}

bool prefix_less(const Prefix& a, const Prefix& b) {
  return std::tie(a.family, a.len, a.addr) < std::tie(b.family, b.len, b.addr);
}
using PrefixMap = std::map<Prefix, Bits, decltype(&prefix_less)>;

// The deduplicated bitmaps of one generation.
class Pool {
 public:
  uint32_t intern(const Bits& words) {
    const size_t hash = std::hash<std::string_view>{}(
        std::string_view(reinterpret_cast<const char*>(words.data()), sizeof(Bits)));
    auto [first, last] = by_hash_.equal_range(hash);
    for (auto it = first; it != last; ++it) {
      if (std::equal(words.begin(), words.end(), bitmaps_[it->second].words)) return it->second;
    }
    if (bitmaps_.size() == ADAM_FW_POOL_SIZE)
      throw std::invalid_argument("the ruleset needs more than " + std::to_string(ADAM_FW_POOL_SIZE) +
                                  " distinct rule bitmaps (the firewall's bitmap pool); use fewer distinct "
                                  "prefixes or port ranges");
    adam_fw_bitmap bitmap{};
    std::copy(words.begin(), words.end(), bitmap.words);
    for (size_t i = 0; i < words.size(); ++i) {
      if (words[i]) bitmap.summary[i / 64] |= uint64_t{1} << (i % 64);
    }
    bitmaps_.push_back(bitmap);
    const auto index = static_cast<uint32_t>(bitmaps_.size() - 1);
    by_hash_.emplace(hash, index);
    return index;
  }
  std::vector<adam_fw_bitmap> take() { return std::move(bitmaps_); }

 private:
  std::vector<adam_fw_bitmap> bitmaps_;
  std::unordered_multimap<size_t, uint32_t> by_hash_;
};

void validate(const Rule& rule) {
  const std::string what = "rule " + std::to_string(rule.id);
  if (rule.id == 0) throw std::invalid_argument("rule id 0 is reserved (it means: the default decided)");
  for (const auto& [field, prefixes] :
       {std::pair{"src", &rule.match.src}, std::pair{"dst", &rule.match.dst}}) {
    for (const Prefix& p : *prefixes) {
      if (p.family != 4 && p.family != 6)
        throw std::invalid_argument(what + ": " + field + " has a prefix of unknown family " +
                                    std::to_string(p.family));
      if (p.len > family_bits(p.family))
        throw std::invalid_argument(what + ": " + field + " prefix length " + std::to_string(p.len) +
                                    " exceeds " + std::to_string(family_bits(p.family)));
      if (truncated(p, p.len) != p)
        throw std::invalid_argument(what + ": " + field + " prefix " + to_string(p) + " has host bits set");
    }
  }
  for (const auto& [field, ranges] :
       {std::pair{"src_port", &rule.match.src_port}, std::pair{"dst_port", &rule.match.dst_port}}) {
    for (const PortRange& r : *ranges) {
      if (r.lo > r.hi)
        throw std::invalid_argument(what + ": " + field + " range " + std::to_string(r.lo) + "-" +
                                    std::to_string(r.hi) + " is empty (lo > hi)");
    }
  }
}

void validate(const Ruleset& ruleset) {
  std::set<uint32_t> ids;
  for (const Rule& rule : ruleset.rules) {
    validate(rule);
    if (!ids.insert(rule.id).second)
      throw std::invalid_argument("rule " + std::to_string(rule.id) + ": the id is used twice");
  }
}

// The kernel's rule table entry of an enabled rule.
adam_fw_rule rule_entry(const Rule& rule, uint32_t counter_slot) {
  return adam_fw_rule{
      .id = rule.id,
      .counter_slot = counter_slot,
      .verdict = verdict_of(rule.action),
      .log = rule.log ? 1u : 0u,
      .priority = rule.priority,
  };
}

// Builds the tables of one generation from the enabled rules in evaluation order.
class Compiler {
 public:
  Compiler(const std::vector<const Rule*>& order, const IfindexMap& ifindexes)
      : order_(order), ifindexes_(ifindexes) {}

  CompiledRuleset run(Action default_action, const CounterSlots& slots) {
    CompiledRuleset out;
    adam_fw_generation& g = out.generation;
    g.default_verdict = verdict_of(default_action);
    g.rule_count = static_cast<uint32_t>(order_.size());
    if (order_.empty()) return out;  // the default decides without tables

    const Bits src_any = rules_where([](const Match& m) { return m.src.empty(); });
    const Bits dst_any = rules_where([](const Match& m) { return m.dst.empty(); });
    const Bits proto_any = rules_where([](const Match& m) { return m.proto.empty(); });
    const Bits no_ports =
        rules_where([](const Match& m) { return m.src_port.empty() && m.dst_port.empty(); });
    const Bits iface_any = rules_where([](const Match& m) { return m.iface.empty(); });
    g.unconditioned[ADAM_FW_DIM_SRC] = pool_.intern(src_any);
    g.unconditioned[ADAM_FW_DIM_DST] = pool_.intern(dst_any);
    g.unconditioned[ADAM_FW_DIM_PROTO] = pool_.intern(proto_any);
    g.unconditioned[ADAM_FW_DIM_SPORT] = g.unconditioned[ADAM_FW_DIM_DPORT] = pool_.intern(no_ports);
    g.unconditioned[ADAM_FW_DIM_IFACE] = pool_.intern(iface_any);

    const auto src = [](const Match& m) -> const std::vector<Prefix>& { return m.src; };
    const auto dst = [](const Match& m) -> const std::vector<Prefix>& { return m.dst; };
    if (auto entries = prefix_entries(4, src, src_any); !entries.empty()) {
      g.uses |= ADAM_FW_USES_SRC4;
      out.src4 = ipv4_table(entries, "src");
    }
    if (auto entries = prefix_entries(4, dst, dst_any); !entries.empty()) {
      g.uses |= ADAM_FW_USES_DST4;
      out.dst4 = ipv4_table(entries, "dst");
    }
    if (auto entries = prefix_entries(6, src, src_any); !entries.empty()) {
      g.uses |= ADAM_FW_USES_SRC6;
      out.src6 = ipv6_trie(std::move(entries), "src");
    }
    if (auto entries = prefix_entries(6, dst, dst_any); !entries.empty()) {
      g.uses |= ADAM_FW_USES_DST6;
      out.dst6 = ipv6_trie(std::move(entries), "dst");
    }
    if (!all_set(proto_any)) {
      g.uses |= ADAM_FW_USES_PROTO;
      out.proto = proto_table(proto_any);
    }
    if (!all_set(no_ports)) {
      g.uses |= ADAM_FW_USES_PORTS;
      out.src_port = port_table([](const Match& m) -> const std::vector<PortRange>& { return m.src_port; });
      out.dst_port = port_table([](const Match& m) -> const std::vector<PortRange>& { return m.dst_port; });
    }
    if (!all_set(iface_any)) {
      g.uses |= ADAM_FW_USES_IFACE;
      out.iface = iface_table(iface_any);
    }

    for (const Rule* rule : order_) {
      auto slot = slots.find(rule->id);
      if (slot == slots.end())
        throw std::invalid_argument("rule " + std::to_string(rule->id) + " has no counter slot");
      out.rules.push_back(rule_entry(*rule, slot->second));
    }
    out.pool = pool_.take();
    return out;
  }

 private:
  template <typename Pred>
  Bits rules_where(Pred pred) const {
    Bits bits{};
    for (size_t pos = 0; pos < order_.size(); ++pos) {
      if (pred(order_[pos]->match)) set_bit(bits, pos);
    }
    return bits;
  }

  bool all_set(const Bits& bits) const {
    return bits == rules_where([](const Match&) { return true; });
  }

  // The prefixes of one address field and family, shortest first: every
  // prefix a rule names, plus the 0-length one. An entry's rules are those
  // whose prefixes contain it: the rules of its longest named ancestor plus
  // its own, so the packet's longest matching entry holds exactly the rules
  // it matches. Empty when no rule names a prefix of the family.
  template <typename Field>
  std::vector<PrefixEntry> prefix_entries(uint8_t family, Field prefixes_of, const Bits& unconditioned) {
    PrefixMap own(&prefix_less);  // prefix -> rules naming it
    for (size_t pos = 0; pos < order_.size(); ++pos) {
      for (const Prefix& p : prefixes_of(order_[pos]->match)) {
        if (p.family == family) set_bit(own[p], pos);
      }
    }
    std::vector<PrefixEntry> table;
    if (own.empty()) return table;
    own.try_emplace(Prefix{.family = family, .len = 0});

    std::set<uint8_t> lengths;
    PrefixMap contained_in(&prefix_less);      // prefix -> rules whose prefixes contain it
    for (const auto& [prefix, rules] : own) {  // shorter prefixes first: ancestors are done
      Bits bits = unconditioned;
      for (auto len = lengths.rbegin(); len != lengths.rend(); ++len) {
        if (*len >= prefix.len) continue;
        auto ancestor = contained_in.find(truncated(prefix, *len));
        if (ancestor != contained_in.end()) {
          bits = ancestor->second;
          break;
        }
      }
      bits = bits | rules;
      lengths.insert(prefix.len);
      table.push_back(PrefixEntry{prefix, pool_.intern(bits)});
      contained_in.emplace(prefix, bits);
    }
    return table;
  }

  static std::vector<PrefixEntry> ipv6_trie(std::vector<PrefixEntry> entries, const char* field) {
    if (entries.size() > ADAM_FW_MAX_PREFIXES)
      throw std::invalid_argument("the rules name " + std::to_string(entries.size()) + " " + field +
                                  " IPv6 prefixes, more than the " + std::to_string(ADAM_FW_MAX_PREFIXES) +
                                  " an address trie holds");
    return entries;
  }

  // Paints the prefixes, shortest first, into the root and chunks: a longer
  // prefix overwrites the range of the shorter ones around it. A chunk is
  // made where a prefix ends below the entry it falls in, filled with that
  // entry's rules (those of the enclosing prefixes).
  static Ipv4Table ipv4_table(const std::vector<PrefixEntry>& entries, const char* field) {
    Ipv4Table t;
    t.root.assign(ADAM_FW_V4_ROOT_SIZE, 0);
    for (const PrefixEntry& e : entries) {
      const uint32_t a = ipv4_value(e.prefix.addr);
      unsigned resolved = ADAM_FW_V4_ROOT_BITS;  // address bits the current table level consumed
      if (e.prefix.len <= resolved) {
        paint(t.root.data() + (a >> (32 - resolved)), resolved - e.prefix.len, e.bitmap);
        continue;
      }
      // The entry the prefix falls in: (chunk, index), chunk -1 for the root.
      int64_t chunk = -1;
      uint32_t index = a >> (32 - resolved);
      auto entry = [&]() -> uint32_t& { return chunk < 0 ? t.root[index] : t.chunks[chunk].entry[index]; };
      for (;;) {
        if (!(entry() & ADAM_FW_V4_CHUNK)) {
          if (t.chunks.size() == ADAM_FW_V4_MAX_CHUNKS)
            throw std::invalid_argument(std::string("the rules' IPv4 ") + field +
                                        " prefixes need more than " + std::to_string(ADAM_FW_V4_MAX_CHUNKS) +
                                        " chunks of the firewall's IPv4 table");
          adam_fw_v4_chunk fresh;
          std::fill(std::begin(fresh.entry), std::end(fresh.entry), entry());
          t.chunks.push_back(fresh);
          entry() = ADAM_FW_V4_CHUNK | static_cast<uint32_t>(t.chunks.size() - 1);
        }
        chunk = entry() & ~ADAM_FW_V4_CHUNK;
        resolved += ADAM_FW_V4_STRIDE;
        index = (a >> (32 - resolved)) & ((1u << ADAM_FW_V4_STRIDE) - 1);
        if (e.prefix.len <= resolved) {
          paint(&t.chunks[chunk].entry[index], resolved - e.prefix.len, e.bitmap);
          break;
        }
      }
    }
    return t;
  }

  // Sets the 2^free_bits entries from `first` to `value`.
  static void paint(uint32_t* first, unsigned free_bits, uint32_t value) {
    std::fill_n(first, size_t{1} << free_bits, value);
  }

  std::vector<uint32_t> proto_table(const Bits& unconditioned) {
    std::array<Bits, ADAM_FW_PROTOS> by_proto;
    by_proto.fill(unconditioned);
    for (size_t pos = 0; pos < order_.size(); ++pos) {
      for (uint8_t proto : order_[pos]->match.proto) set_bit(by_proto[proto], pos);
    }
    std::vector<uint32_t> table(ADAM_FW_PROTOS);
    for (size_t proto = 0; proto < ADAM_FW_PROTOS; ++proto) table[proto] = pool_.intern(by_proto[proto]);
    return table;
  }

  // A port table for packets that have ports: one bitmap per elementary
  // interval between the ranges' boundaries, swept in port order. A rule
  // without a range in this field allows every port.
  template <typename Field>
  std::vector<uint32_t> port_table(Field ranges_of) {
    std::map<uint32_t, std::vector<std::pair<size_t, int>>> edges;  // port -> (position, +1 enter / -1 leave)
    for (size_t pos = 0; pos < order_.size(); ++pos) {
      for (const PortRange& r : ranges_of(order_[pos]->match)) {
        edges[r.lo].emplace_back(pos, +1);
        edges[uint32_t{r.hi} + 1].emplace_back(pos, -1);
      }
    }
    edges.try_emplace(ADAM_FW_PORTS);
    Bits current = rules_where([&](const Match& m) { return ranges_of(m).empty(); });
    std::vector<int> covering(order_.size(), 0);  // ranges of a rule covering the current port
    std::vector<uint32_t> table(ADAM_FW_PORTS);
    uint32_t start = 0;
    for (const auto& [port, changes] : edges) {
      if (port > start) std::fill(table.begin() + start, table.begin() + port, pool_.intern(current));
      for (const auto& [pos, delta] : changes) {
        covering[pos] += delta;
        if (covering[pos] > 0)
          set_bit(current, pos);
        else
          clear_bit(current, pos);
      }
      start = port;
    }
    return table;
  }

  std::map<uint32_t, uint32_t> iface_table(const Bits& unconditioned) {
    std::map<uint32_t, Bits> by_ifindex;
    for (size_t pos = 0; pos < order_.size(); ++pos) {
      for (const std::string& name : order_[pos]->match.iface) {
        auto it = ifindexes_.find(name);
        if (it == ifindexes_.end()) continue;  // an interface that does not exist matches nothing
        set_bit(by_ifindex.try_emplace(it->second, unconditioned).first->second, pos);
      }
    }
    if (by_ifindex.size() > ADAM_FW_MAX_RULE_IFACES)
      throw std::invalid_argument("the rules name " + std::to_string(by_ifindex.size()) +
                                  " interfaces, more than the " + std::to_string(ADAM_FW_MAX_RULE_IFACES) +
                                  " the firewall's interface table holds");
    std::map<uint32_t, uint32_t> table;
    for (const auto& [ifindex, bits] : by_ifindex) table[ifindex] = pool_.intern(bits);
    return table;
  }

  const std::vector<const Rule*>& order_;
  const IfindexMap& ifindexes_;
  Pool pool_;
};

uint32_t ipv4_table_lookup(const Ipv4Table& t, const std::array<uint8_t, 16>& addr) {
  const uint32_t a = ipv4_value(addr);
  uint32_t e = t.root.at(a >> (32 - ADAM_FW_V4_ROOT_BITS));
  for (unsigned level = 0; level < ADAM_FW_V4_LEVELS && (e & ADAM_FW_V4_CHUNK); ++level) {
    const unsigned shift = 32 - ADAM_FW_V4_ROOT_BITS - ADAM_FW_V4_STRIDE * (level + 1);
    e = t.chunks.at(e & ~ADAM_FW_V4_CHUNK).entry[(a >> shift) & ((1u << ADAM_FW_V4_STRIDE) - 1)];
  }
  return e;
}

bool prefix_contains(const Prefix& prefix, uint8_t family, const std::array<uint8_t, 16>& addr) {
  if (prefix.family != family) return false;
  Prefix packet{.family = family, .len = static_cast<uint8_t>(family_bits(family)), .addr = addr};
  return truncated(packet, prefix.len).addr == prefix.addr;
}

// The longest entry containing an IPv6 address, as the LPM trie answers.
const PrefixEntry* longest_match(const std::vector<PrefixEntry>& table, const std::array<uint8_t, 16>& addr) {
  const PrefixEntry* best = nullptr;
  for (const PrefixEntry& e : table) {
    if (prefix_contains(e.prefix, 6, addr) && (!best || e.prefix.len > best->prefix.len)) best = &e;
  }
  return best;
}

}  // namespace

CounterSlots assign_counter_slots(const CounterSlots& current, const Ruleset& ruleset) {
  if (ruleset.rules.size() > ADAM_FW_MAX_RULES)
    throw std::invalid_argument("the ruleset has " + std::to_string(ruleset.rules.size()) +
                                " rules, more than the firewall's " + std::to_string(ADAM_FW_MAX_RULES));
  CounterSlots slots;
  std::vector<bool> taken(ADAM_FW_MAX_RULES, false), held_before(ADAM_FW_MAX_RULES, false);
  for (const auto& [id, slot] : current) {
    if (slot < ADAM_FW_MAX_RULES) held_before[slot] = true;
  }
  for (const Rule& rule : ruleset.rules) {
    auto it = current.find(rule.id);
    if (it != current.end() && it->second < ADAM_FW_MAX_RULES) {
      slots[rule.id] = it->second;
      taken[it->second] = true;
    }
  }
  // New ids: first the slots no current rule holds, then the freed ones.
  uint32_t next_unheld = 0, next_freed = 0;
  for (const Rule& rule : ruleset.rules) {
    if (slots.count(rule.id)) continue;
    while (next_unheld < ADAM_FW_MAX_RULES && (taken[next_unheld] || held_before[next_unheld])) ++next_unheld;
    uint32_t slot = next_unheld;
    if (slot == ADAM_FW_MAX_RULES) {
      while (taken[next_freed]) ++next_freed;  // the size check above guarantees one
      slot = next_freed;
    }
    taken[slot] = true;
    slots[rule.id] = slot;
  }
  return slots;
}

uint32_t slot_for_added(const CounterSlots& current) {
  if (current.size() >= ADAM_FW_MAX_RULES)
    throw std::invalid_argument("the ruleset would have more than the firewall's " +
                                std::to_string(ADAM_FW_MAX_RULES) + " rules");
  std::vector<bool> held(ADAM_FW_MAX_RULES, false);
  for (const auto& [id, slot] : current) {
    if (slot < ADAM_FW_MAX_RULES) held[slot] = true;
  }
  return static_cast<uint32_t>(std::find(held.begin(), held.end(), false) - held.begin());
}

std::optional<adam_fw_added_rule> added_rule_entry(const Rule& rule, const IfindexMap& ifindexes,
                                                   uint32_t counter_slot) {
  validate(rule);
  const Match& m = rule.match;
  for (size_t count :
       {m.src.size(), m.dst.size(), m.proto.size(), m.src_port.size(), m.dst_port.size(), m.iface.size()}) {
    if (count > ADAM_FW_ADDED_VALUES) return std::nullopt;
  }
  adam_fw_added_rule e{};
  e.rule = rule_entry(rule, counter_slot);
  auto prefixes = [](const std::vector<Prefix>& from, adam_fw_added_prefix* to, __u32& count) {
    count = static_cast<__u32>(from.size());
    for (size_t i = 0; i < from.size(); ++i) {
      std::array<uint8_t, 16> mask{};
      for (unsigned bit = 0; bit < from[i].len; ++bit) mask[bit / 8] |= 0x80u >> (bit % 8);
      to[i].family = from[i].family;
      std::memcpy(to[i].addr, from[i].addr.data(), sizeof to[i].addr);
      std::memcpy(to[i].mask, mask.data(), sizeof to[i].mask);
    }
  };
  auto ports = [](const std::vector<PortRange>& from, adam_fw_port_range* to, __u32& count) {
    count = static_cast<__u32>(from.size());
    for (size_t i = 0; i < from.size(); ++i) to[i] = adam_fw_port_range{from[i].lo, from[i].hi};
  };
  prefixes(m.src, e.src, e.src_count);
  prefixes(m.dst, e.dst, e.dst_count);
  ports(m.src_port, e.sport, e.sport_count);
  ports(m.dst_port, e.dport, e.dport_count);
  e.proto_count = static_cast<__u32>(m.proto.size());
  std::copy(m.proto.begin(), m.proto.end(), e.proto);
  e.iface_count = static_cast<__u32>(m.iface.size());
  for (size_t i = 0; i < m.iface.size(); ++i) {
    auto it = ifindexes.find(m.iface[i]);
    e.iface[i] = it == ifindexes.end() ? 0 : it->second;  // 0: no packet arrives on it
  }
  return e;
}

CompiledRuleset compile(const Ruleset& ruleset, const IfindexMap& ifindexes, const CounterSlots& slots) {
  validate(ruleset);
  const std::vector<const Rule*> order = evaluation_order(ruleset);
  if (order.size() > ADAM_FW_MAX_RULES)
    throw std::invalid_argument("the ruleset has " + std::to_string(order.size()) +
                                " enabled rules, more than the firewall's " +
                                std::to_string(ADAM_FW_MAX_RULES));
  return Compiler(order, ifindexes).run(ruleset.default_action, slots);
}

Decision lookup(const CompiledRuleset& t, const PacketKey& p) {
  const adam_fw_generation& g = t.generation;
  const Decision by_default{action_of(g.default_verdict), 0};
  if (g.rule_count == 0) return by_default;

  std::array<uint32_t, ADAM_FW_DIMS> index;
  std::copy(std::begin(g.unconditioned), std::end(g.unconditioned), index.begin());
  if (p.family == 4) {
    if (g.uses & ADAM_FW_USES_SRC4) index[ADAM_FW_DIM_SRC] = ipv4_table_lookup(t.src4, p.src);
    if (g.uses & ADAM_FW_USES_DST4) index[ADAM_FW_DIM_DST] = ipv4_table_lookup(t.dst4, p.dst);
  } else if (p.family == 6) {
    for (auto [uses, table, addr, dim] : {std::tuple{ADAM_FW_USES_SRC6, &t.src6, &p.src, ADAM_FW_DIM_SRC},
                                          std::tuple{ADAM_FW_USES_DST6, &t.dst6, &p.dst, ADAM_FW_DIM_DST}}) {
      if (!(g.uses & uses)) continue;
      const PrefixEntry* e = longest_match(*table, *addr);
      if (!e) return by_default;  // as the BPF program does on a trie without its 0-length prefix
      index[dim] = e->bitmap;
    }
  }
  if (g.uses & ADAM_FW_USES_PROTO) index[ADAM_FW_DIM_PROTO] = t.proto.at(p.proto);
  if ((g.uses & ADAM_FW_USES_PORTS) && p.has_ports) {
    index[ADAM_FW_DIM_SPORT] = t.src_port.at(p.src_port);
    index[ADAM_FW_DIM_DPORT] = t.dst_port.at(p.dst_port);
  }
  if (g.uses & ADAM_FW_USES_IFACE) {
    auto it = t.iface.find(p.ifindex);
    if (it != t.iface.end()) index[ADAM_FW_DIM_IFACE] = it->second;
  }

  // The candidate words in ascending order, as the program visits them (it
  // steps through the summary a byte at a time; same words, same order).
  std::array<const adam_fw_bitmap*, ADAM_FW_DIMS> bitmaps;
  for (size_t d = 0; d < ADAM_FW_DIMS; ++d) bitmaps[d] = &t.pool.at(index[d]);
  for (uint32_t s = 0; s < ADAM_FW_SUMMARY_WORDS; ++s) {
    uint64_t candidates = ~uint64_t{0};
    for (const adam_fw_bitmap* b : bitmaps) candidates &= b->summary[s];
    for (; candidates; candidates &= candidates - 1) {
      const uint32_t word = s * 64 + static_cast<uint32_t>(std::countr_zero(candidates));
      uint64_t hits = ~uint64_t{0};
      for (const adam_fw_bitmap* b : bitmaps) hits &= b->words[word];
      if (hits) {
        const adam_fw_rule& rule = t.rules.at(word * 64 + std::countr_zero(hits));
        return Decision{action_of(rule.verdict), rule.id};
      }
    }
  }
  return by_default;
}

}  // namespace adam::fw
