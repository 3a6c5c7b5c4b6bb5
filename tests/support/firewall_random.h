#pragma once
// Random firewall rulesets and packets for differential tests of the
// classifier (compiled tables, kernel program) against reference_classify().
// Addresses cluster around a few networks and packets aim at rule edges (the
// first and last address of a prefix, the ports at and next to a range's
// bounds), where an off-by-one in the compiled tables would show.
#include <algorithm>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "plugins/firewall/rule.h"

namespace adam::test {

class RandomRules {
 public:
  // `interfaces`: the names rules may use and their ifindexes (packets arrive
  // on these); rules also name one interface that does not exist.
  RandomRules(uint64_t seed, fw::IfindexMap interfaces) : rng_(seed), interfaces_(std::move(interfaces)) {
    for (int i = 0; i < 6; ++i) v4_bases_.push_back(random_address(4));
    for (int i = 0; i < 4; ++i) v6_bases_.push_back(random_address(6));
  }

  const fw::IfindexMap& interfaces() const { return interfaces_; }

  // `count` rules with distinct ids; priorities collide often (ties are
  // decided by id), about one rule in ten is disabled.
  fw::Ruleset ruleset(size_t count) {
    // Broad rules (no address, short prefixes) become rarer as rulesets
    // grow, so that packets reach rules deep in long rulesets too.
    broad_ = std::min(1.0, 20.0 / static_cast<double>(count));
    fw::Ruleset rs;
    rs.default_action = coin(0.5) ? fw::Action::drop : fw::Action::pass;
    std::vector<uint32_t> ids(count);
    for (size_t i = 0; i < count; ++i) ids[i] = static_cast<uint32_t>(i + 1);
    std::shuffle(ids.begin(), ids.end(), rng_);
    const int priorities = std::max<int>(1, static_cast<int>(count / 4));
    for (size_t i = 0; i < count; ++i) {
      fw::Rule r;
      r.id = ids[i] * 3;  // gaps between ids
      r.priority = uniform(0, priorities);
      r.action = coin(0.5) ? fw::Action::drop : fw::Action::pass;
      r.enabled = !coin(0.1);
      r.match = random_match();
      rs.rules.push_back(std::move(r));
    }
    return rs;
  }

  // A packet aimed at a random rule's edges (2 in 3) or anywhere near the
  // rules' networks. Always one a frame can carry (see fw::frame_for).
  fw::PacketKey packet(const fw::Ruleset& rs) {
    const fw::Match* m = rs.rules.empty() || coin(1.0 / 3) ? nullptr : &pick(rs.rules).match;
    fw::PacketKey p;
    p.family = packet_family(m);
    p.src = packet_address(p.family, m ? &m->src : nullptr);
    p.dst = packet_address(p.family, m ? &m->dst : nullptr);
    p.proto = m && !m->proto.empty() && coin(0.8) ? pick(m->proto) : random_proto(p.family);
    if (!carried_by(p.family, p.proto)) p.proto = random_proto(p.family);
    const bool tcp_or_udp = p.proto == fw::kProtoTcp || p.proto == fw::kProtoUdp;
    p.has_ports = tcp_or_udp && !coin(0.1);  // else a non-first fragment
    if (p.has_ports) {
      p.src_port = packet_port(m ? &m->src_port : nullptr);
      p.dst_port = packet_port(m ? &m->dst_port : nullptr);
    }
    p.ifindex = pick_ifindex();
    return p;
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  static constexpr uint16_t kEdgePorts[] = {0, 1, 22, 53, 80, 443, 1023, 1024, 8080, 32768, 65534, 65535};
  static constexpr uint8_t kProtos[] = {
      fw::kProtoTcp, fw::kProtoUdp, fw::kProtoIcmp, fw::kProtoIcmpv6, 47, 132};

  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool coin(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(uniform(0, static_cast<int>(v.size()) - 1))];
  }

  uint16_t edge_port() { return kEdgePorts[uniform(0, static_cast<int>(std::size(kEdgePorts)) - 1)]; }

  std::array<uint8_t, 16> random_address(uint8_t family) {
    std::array<uint8_t, 16> a{};
    for (size_t i = 0; i < (family == 4 ? 4u : 16u); ++i) a[i] = static_cast<uint8_t>(uniform(0, 255));
    return a;
  }

  // An address of one of the base networks with some of its low bits changed.
  std::array<uint8_t, 16> clustered_address(uint8_t family) {
    std::array<uint8_t, 16> a = pick(family == 4 ? v4_bases_ : v6_bases_);
    const int bits = family == 4 ? 32 : 128;
    const int flips = uniform(0, family == 4 ? 20 : 40);
    for (int i = 0; i < flips; ++i) {
      const int bit = bits - 1 - uniform(0, family == 4 ? 24 : 64);
      a[bit / 8] ^= static_cast<uint8_t>(0x80u >> (bit % 8));
    }
    return a;
  }

  static fw::Prefix masked(uint8_t family, uint8_t len, std::array<uint8_t, 16> a) {
    for (unsigned bit = len; bit < 128; ++bit) a[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
    return fw::Prefix{family, len, a};
  }

  fw::Prefix random_prefix(uint8_t family) {
    const int bits = family == 4 ? 32 : 128;
    const int shortest = coin(broad_) ? (family == 4 ? 8 : 16) : bits - (family == 4 ? 12 : 48);
    const int len = coin(0.04 * broad_) ? 0 : coin(0.3) ? bits : uniform(shortest, bits);
    return masked(family, static_cast<uint8_t>(len), clustered_address(family));
  }

  std::vector<fw::Prefix> random_prefixes() {
    std::vector<fw::Prefix> out;
    if (coin(0.4)) return out;
    const int n = uniform(1, 3);
    for (int i = 0; i < n; ++i) out.push_back(random_prefix(coin(0.7) ? 4 : 6));
    return out;
  }

  fw::PortRange random_range() {
    uint16_t a = coin(0.6) ? edge_port() : static_cast<uint16_t>(uniform(0, 65535));
    uint16_t b = coin(0.5) ? a : static_cast<uint16_t>(uniform(0, 65535));
    return fw::PortRange{std::min(a, b), std::max(a, b)};
  }

  std::vector<fw::PortRange> random_ranges(double empty) {
    std::vector<fw::PortRange> out;
    if (coin(empty)) return out;
    const int n = uniform(1, 2);
    for (int i = 0; i < n; ++i) out.push_back(random_range());
    return out;
  }

  // IPv6 packets never end in an extension header.
  static bool carried_by(uint8_t family, uint8_t proto) {
    return family == 4 || (proto != 0 && proto != 43 && proto != 44 && proto != 51 && proto != 60);
  }

  uint8_t random_proto(uint8_t family) {
    for (;;) {
      const uint8_t proto = coin(0.9) ? kProtos[uniform(0, static_cast<int>(std::size(kProtos)) - 1)]
                                      : static_cast<uint8_t>(uniform(0, 255));
      if (carried_by(family, proto)) return proto;
    }
  }

  fw::Match random_match() {
    fw::Match m;
    m.src = random_prefixes();
    m.dst = random_prefixes();
    // Few rules without any address condition: they would decide most
    // packets near the top of a long ruleset and leave the rest untested.
    if (m.src.empty() && m.dst.empty() && !coin(0.1 * broad_))
      m.dst.push_back(random_prefix(coin(0.7) ? 4 : 6));
    if (coin(0.5)) {
      const int n = uniform(1, 2);
      for (int i = 0; i < n; ++i) m.proto.push_back(random_proto(4));
    }
    m.src_port = random_ranges(0.75);
    m.dst_port = random_ranges(0.5);
    if (coin(0.2)) {
      m.iface.push_back(coin(0.2) ? "adamt-missing0" : pick_name());
      if (coin(0.3)) m.iface.push_back(pick_name());
    }
    return m;
  }

  std::string pick_name() {
    auto it = interfaces_.begin();
    std::advance(it, uniform(0, static_cast<int>(interfaces_.size()) - 1));
    return it->first;
  }
  uint32_t pick_ifindex() { return interfaces_.at(pick_name()); }

  // The family of a prefix the rule names, else either.
  uint8_t packet_family(const fw::Match* m) {
    std::vector<uint8_t> families;
    if (m) {
      for (const auto* prefixes : {&m->src, &m->dst}) {
        for (const fw::Prefix& p : *prefixes) families.push_back(p.family);
      }
    }
    return families.empty() ? (coin(0.7) ? 4 : 6) : pick(families);
  }

  // An address at or next to the edge of one of `prefixes`, or clustered.
  std::array<uint8_t, 16> packet_address(uint8_t family, const std::vector<fw::Prefix>* prefixes) {
    std::vector<fw::Prefix> same;
    if (prefixes) {
      for (const fw::Prefix& p : *prefixes) {
        if (p.family == family) same.push_back(p);
      }
    }
    if (same.empty() || coin(0.15)) return clustered_address(family);
    const fw::Prefix& p = pick(same);
    std::array<uint8_t, 16> a = p.addr;
    const unsigned bits = family == 4 ? 32 : 128;
    const int edge = uniform(0, 3);  // first, last, random inside, just past the last
    for (unsigned bit = p.len; bit < bits; ++bit) {
      const bool one = edge == 1 || edge == 3 || (edge == 2 && coin(0.5));
      if (one) a[bit / 8] |= static_cast<uint8_t>(0x80u >> (bit % 8));
    }
    if (edge == 3) {  // + 1 with carry
      for (int i = static_cast<int>(bits / 8) - 1; i >= 0 && ++a[static_cast<size_t>(i)] == 0; --i) {
      }
    }
    return a;
  }

  uint16_t packet_port(const std::vector<fw::PortRange>* ranges) {
    if (!ranges || ranges->empty() || coin(0.2)) return edge_port();
    const fw::PortRange& r = pick(*ranges);
    switch (uniform(0, 4)) {
      case 0:
        return r.lo;
      case 1:
        return r.hi;
      case 2:
        return static_cast<uint16_t>(r.lo - 1);  // wraps at 0: still an edge
      case 3:
        return static_cast<uint16_t>(r.hi + 1);
      default:
        return static_cast<uint16_t>(uniform(r.lo, r.hi));
    }
  }

  std::mt19937_64 rng_;
  fw::IfindexMap interfaces_;
  std::vector<std::array<uint8_t, 16>> v4_bases_, v6_bases_;
  double broad_ = 1.0;
};

// One rule for a fixture: id, priority, action and conditions.
// A TCP/UDP packet with ports between two addresses of 4 or 16 bytes (the
// family follows their size), arriving on `ifindex`.
inline fw::PacketKey make_packet(std::span<const uint8_t> src, std::span<const uint8_t> dst, uint8_t proto,
                                 uint16_t src_port, uint16_t dst_port, uint32_t ifindex = 0) {
  fw::PacketKey p;
  p.family = src.size() == 16 ? 6 : 4;
  std::copy(src.begin(), src.end(), p.src.begin());
  std::copy(dst.begin(), dst.end(), p.dst.begin());
  p.proto = proto;
  p.has_ports = true;
  p.src_port = src_port;
  p.dst_port = dst_port;
  p.ifindex = ifindex;
  return p;
}

inline fw::Rule make_rule(uint32_t id, int32_t priority, fw::Action action, fw::Match match = {}) {
  fw::Rule r;
  r.id = id;
  r.priority = priority;
  r.action = action;
  r.match = std::move(match);
  return r;
}

}  // namespace adam::test
