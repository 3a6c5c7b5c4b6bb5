#include "plugins/firewall/rule.h"

#include <algorithm>

namespace adam::fw {
namespace {

bool prefix_contains(const Prefix& prefix, uint8_t family, const std::array<uint8_t, 16>& addr) {
  if (prefix.family != family) return false;
  for (unsigned bit = 0; bit < prefix.len; ++bit) {
    const unsigned byte = bit / 8, mask = 0x80u >> (bit % 8);
    if ((prefix.addr[byte] & mask) != (addr[byte] & mask)) return false;
  }
  return true;
}

bool port_in(const std::vector<PortRange>& ranges, uint16_t port) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const PortRange& r) { return r.lo <= port && port <= r.hi; });
}

bool matches(const Match& m, const PacketKey& p, const IfindexMap& ifindexes) {
  auto any_prefix = [&](const std::vector<Prefix>& prefixes, const std::array<uint8_t, 16>& addr) {
    return prefixes.empty() || std::any_of(prefixes.begin(), prefixes.end(), [&](const Prefix& prefix) {
             return prefix_contains(prefix, p.family, addr);
           });
  };
  if (!any_prefix(m.src, p.src) || !any_prefix(m.dst, p.dst)) return false;
  if (!m.proto.empty() && std::find(m.proto.begin(), m.proto.end(), p.proto) == m.proto.end()) return false;
  // Ports exist only for TCP/UDP packets that are not non-first fragments: a
  // rule with a port condition matches nothing else.
  if (!m.src_port.empty() || !m.dst_port.empty()) {
    if (!p.has_ports) return false;
    if (!m.src_port.empty() && !port_in(m.src_port, p.src_port)) return false;
    if (!m.dst_port.empty() && !port_in(m.dst_port, p.dst_port)) return false;
  }
  if (!m.iface.empty() && std::none_of(m.iface.begin(), m.iface.end(), [&](const std::string& name) {
        auto it = ifindexes.find(name);
        return it != ifindexes.end() && it->second == p.ifindex;
      }))
    return false;
  return true;
}

}  // namespace

std::vector<const Rule*> evaluation_order(const Ruleset& ruleset) {
  std::vector<const Rule*> order;
  for (const Rule& rule : ruleset.rules) {
    if (rule.enabled) order.push_back(&rule);
  }
  std::sort(order.begin(), order.end(), [](const Rule* a, const Rule* b) {
    return a->priority != b->priority ? a->priority < b->priority : a->id < b->id;
  });
  return order;
}

Decision reference_classify(const Ruleset& ruleset, const PacketKey& packet, const IfindexMap& ifindexes) {
  for (const Rule* rule : evaluation_order(ruleset)) {
    if (matches(rule->match, packet, ifindexes)) return Decision{rule->action, rule->id};
  }
  return Decision{ruleset.default_action, 0};
}

}  // namespace adam::fw
