#pragma once
// The firewall classifier differentially, for the rule-JSON and ClassBench
// targets: a ruleset the parsers accepted is compiled into the kernel's
// tables (classifier.h) and every packet the rules imply is looked up there
// and by reference_classify(); the two must decide alike. The packets sit at
// each rule's edges: the first and last address of its prefixes and the
// addresses just outside, its port ranges' bounds and the ports next to
// them, each of its protocols and interfaces, and a non-first fragment.
#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "plugins/firewall/classifier.h"
#include "plugins/firewall/rule_json.h"

namespace adam::fuzz {

// The interfaces the fuzzed rules may name (others name no interface here).
inline const fw::IfindexMap& fuzz_interfaces() {
  static const fw::IfindexMap names{{"eth0", 2}, {"veth1", 7}, {"br-lab", 11}};
  return names;
}

// Ids as the store gives them: every rule a distinct id above 0 (the JSON
// may carry none, or the same one twice).
inline void number_rules(fw::Ruleset& rs) {
  std::set<uint32_t> seen;
  bool fine = true;
  for (const fw::Rule& r : rs.rules) fine = fine && r.id != 0 && seen.insert(r.id).second;
  if (fine) return;
  for (size_t i = 0; i < rs.rules.size(); ++i) rs.rules[i].id = static_cast<uint32_t>(i + 1);
}

// `edge`: 0 the prefix's first address, 1 its last, 2 one past the last,
// 3 one before the first (both wrap around the address space).
inline std::array<uint8_t, 16> edge_address(const fw::Prefix& p, int edge) {
  std::array<uint8_t, 16> a = p.addr;
  const int bytes = p.family == 4 ? 4 : 16;
  if (edge != 0 && edge != 3) {
    for (unsigned bit = p.len; bit < static_cast<unsigned>(bytes * 8); ++bit)
      a[bit / 8] |= static_cast<uint8_t>(0x80u >> (bit % 8));
  }
  if (edge == 2) {
    for (int i = bytes - 1; i >= 0 && ++a[static_cast<size_t>(i)] == 0; --i) {
    }
  } else if (edge == 3) {
    for (int i = bytes - 1; i >= 0 && a[static_cast<size_t>(i)]-- == 0; --i) {
    }
  }
  return a;
}

inline uint16_t edge_port(const fw::PortRange& r, int edge) {
  switch (edge % 4) {
    case 0:
      return r.lo;
    case 1:
      return r.hi;
    case 2:
      return static_cast<uint16_t>(r.hi + 1);
    default:
      return static_cast<uint16_t>(r.lo - 1);
  }
}

// An address of `family` for a field the rule leaves open, or whose prefixes
// are of the other family: one of another rule's prefixes, else a fixed one.
inline std::array<uint8_t, 16> some_address(const fw::Ruleset& rs, uint8_t family, size_t salt) {
  for (size_t k = 0; k < rs.rules.size(); ++k) {
    const fw::Rule& r = rs.rules[(k + salt) % rs.rules.size()];
    for (const auto* field : {&r.match.dst, &r.match.src}) {
      for (const fw::Prefix& p : *field) {
        if (p.family == family) return edge_address(p, static_cast<int>(salt % 2));
      }
    }
  }
  std::array<uint8_t, 16> a{};
  a[0] = family == 4 ? 198 : 0x20;
  a[1] = family == 4 ? 51 : 0x01;
  return a;
}

inline std::vector<fw::PacketKey> edge_packets(const fw::Ruleset& rs, size_t max_rules) {
  std::vector<fw::PacketKey> out;
  const fw::IfindexMap& interfaces = fuzz_interfaces();
  for (size_t i = 0; i < rs.rules.size() && i < max_rules; ++i) {
    const fw::Match& m = rs.rules[i].match;
    for (int v = 0; v < 8; ++v) {
      fw::PacketKey p;
      const fw::Prefix* src = m.src.empty() ? nullptr : &m.src[static_cast<size_t>(v) % m.src.size()];
      const fw::Prefix* dst = m.dst.empty() ? nullptr : &m.dst[static_cast<size_t>(v / 2) % m.dst.size()];
      p.family = src ? src->family : dst ? dst->family : (v % 3 == 2 ? 6 : 4);
      p.src = src && src->family == p.family ? edge_address(*src, v % 4) : some_address(rs, p.family, i + v);
      p.dst = dst && dst->family == p.family ? edge_address(*dst, (v + 1) % 4)
                                             : some_address(rs, p.family, i + v + 1);
      if (!m.proto.empty())
        p.proto = m.proto[static_cast<size_t>(v) % m.proto.size()];
      else
        p.proto = std::array<uint8_t, 4>{fw::kProtoTcp, fw::kProtoUdp, fw::kProtoIcmp, 47}[v % 4];
      p.has_ports = (p.proto == fw::kProtoTcp || p.proto == fw::kProtoUdp) && v != 7;
      if (p.has_ports) {
        p.src_port =
            m.src_port.empty() ? 1024 : edge_port(m.src_port[static_cast<size_t>(v) % m.src_port.size()], v);
        p.dst_port = m.dst_port.empty()
                         ? 80
                         : edge_port(m.dst_port[static_cast<size_t>(v / 2) % m.dst_port.size()], v + 1);
      }
      if (!m.iface.empty() && v % 3 != 2) {
        const auto it = interfaces.find(m.iface[static_cast<size_t>(v) % m.iface.size()]);
        p.ifindex = it == interfaces.end() ? 99 : it->second;
      } else {
        p.ifindex = std::next(interfaces.begin(), v % static_cast<int>(interfaces.size()))->second;
      }
      out.push_back(p);
    }
  }
  return out;
}

// Limits of the kernel's tables are refusals the user is told of; anything
// else compile() refuses is a rule the parser should not have accepted.
inline bool is_table_limit(const std::invalid_argument& e) {
  return std::string_view(e.what()).find("more than") != std::string_view::npos;
}

inline std::string packet_text(const fw::PacketKey& p) {
  fw::Prefix src{p.family, static_cast<uint8_t>(p.family == 4 ? 32 : 128), p.src};
  fw::Prefix dst{p.family, static_cast<uint8_t>(p.family == 4 ? 32 : 128), p.dst};
  return fw::prefix_text(src) + " -> " + fw::prefix_text(dst) + " proto " + std::to_string(p.proto) +
         (p.has_ports ? " ports " + std::to_string(p.src_port) + " " + std::to_string(p.dst_port) : "") +
         " ifindex " + std::to_string(p.ifindex);
}

// Compiles `rs` and checks the compiled tables against the reference on
// the packets at its rules' edges. False when a table limit refused it.
inline bool check_against_reference(const fw::Ruleset& rs, size_t max_rules = 256) {
  fw::CompiledRuleset tables;
  try {
    tables = fw::compile(rs, fuzz_interfaces(), fw::assign_counter_slots({}, rs));
  } catch (const std::invalid_argument& e) {
    FUZZ_CHECK(is_table_limit(e), std::string("compile refused an accepted ruleset: ") + e.what());
    return false;
  }
  for (const fw::PacketKey& p : edge_packets(rs, max_rules)) {
    const fw::Decision want = fw::reference_classify(rs, p, fuzz_interfaces());
    const fw::Decision got = fw::lookup(tables, p);
    FUZZ_CHECK(want.action == got.action && want.rule_id == got.rule_id,
               packet_text(p) + ": reference rule " + std::to_string(want.rule_id) + " " +
                   fw::action_name(want.action) + ", compiled rule " + std::to_string(got.rule_id) + " " +
                   fw::action_name(got.action));
  }
  return true;
}

}  // namespace adam::fuzz
