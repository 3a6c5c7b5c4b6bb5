#pragma once
// The data path's packet parsing (bpf/adam/packet.h, shared by the firewall
// and the balancer) as docs/firewall.md "Packet parsing" describes it, in
// plain C++: the reference the packet-path fuzz targets hold the programs to.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "plugins/firewall/rule.h"

namespace adam::fuzz {

// What the parser makes of a frame: nothing (not IP: passed unclassified),
// or a packet whose protocol may be unknown (ADAM_PROTO_UNKNOWN).
struct Parsed {
  bool ip = false;
  adam::fw::PacketKey key{.family = 0};  // family 0: unparsed (PacketKey says 4 by default)
  bool proto_known = false;
  bool fragment = false;  // IPv4 MF or an offset, or an IPv6 fragment header met
  size_t l3 = 0;          // where the IP header begins (past the VLAN tags)
};

inline uint16_t be16_at(std::span<const uint8_t> f, size_t at) {
  return static_cast<uint16_t>(f[at] << 8 | f[at + 1]);
}

inline void parse_ports(std::span<const uint8_t> f, size_t l4, Parsed& out) {
  const uint8_t proto = out.key.proto;
  if (proto != adam::fw::kProtoTcp && proto != adam::fw::kProtoUdp) return;
  const size_t header = proto == adam::fw::kProtoTcp ? 20 : 8;
  if (l4 + header > f.size()) return;
  out.key.src_port = be16_at(f, l4);
  out.key.dst_port = be16_at(f, l4 + 2);
  out.key.has_ports = true;
}

inline bool is_ipv6_ext(uint32_t next) {
  return next == 0 || next == 43 || next == 44 || next == 51 || next == 60;
}

// The reference parse, written from docs/firewall.md's rules rather than
// from the BPF code: 2 VLAN tags at most; IPv4 with IHL 5..15 inside the
// frame, ports unless a non-first fragment; IPv6 with up to 6 extension
// headers walked, the protocol unknown past them or in a cut chain.
inline Parsed reference_parse(std::span<const uint8_t> f) {
  Parsed out;
  out.ip = true;  // a frame cut inside its Ethernet header: unparsed, not non-IP
  if (f.size() < 14) return out;
  uint16_t type = be16_at(f, 12);
  size_t at = 14;
  for (int tags = 0; type == 0x8100 || type == 0x88A8; ++tags) {
    if (tags == 2 || at + 4 > f.size()) return out;
    type = be16_at(f, at + 2);
    at += 4;
  }
  if (type == 0x0800) {
    if (at + 20 > f.size() || f[at] >> 4 != 4 || (f[at] & 0xf) < 5) return out;
    const size_t header = (f[at] & 0xfu) * 4;
    if (at + header > f.size()) return out;
    out.key.family = 4;
    std::copy_n(&f[at + 12], 4, out.key.src.begin());
    std::copy_n(&f[at + 16], 4, out.key.dst.begin());
    out.key.proto = f[at + 9];
    out.proto_known = true;
    out.l3 = at;
    out.fragment = (be16_at(f, at + 6) & 0x3fff) != 0;
    if (be16_at(f, at + 6) & 0x1fff) return out;  // non-first fragment
    parse_ports(f, at + header, out);
    return out;
  }
  if (type != 0x86DD) {
    out.ip = false;
    return out;
  }
  if (at + 40 > f.size() || f[at] >> 4 != 6) return out;
  out.key.family = 6;
  out.l3 = at;
  std::copy_n(&f[at + 8], 16, out.key.src.begin());
  std::copy_n(&f[at + 24], 16, out.key.dst.begin());
  uint32_t next = f[at + 6];
  size_t cursor = at + 40;
  for (int i = 0; i < 6 && is_ipv6_ext(next); ++i) {
    if (cursor + 2 > f.size()) return out;
    if (next == 44) {
      out.fragment = true;
      if (cursor + 8 > f.size()) return out;
      next = f[cursor];
      const bool first = (be16_at(f, cursor + 2) & 0xfff8) == 0;
      cursor += 8;
      if (!first) {
        out.key.proto = static_cast<uint8_t>(next);
        out.proto_known = true;
        return out;
      }
      continue;
    }
    const size_t len = next == 51 ? (f[cursor + 1] + 2u) * 4 : (f[cursor + 1] + 1u) * 8;
    next = f[cursor];
    cursor += len;
  }
  if (is_ipv6_ext(next)) return out;
  out.key.proto = static_cast<uint8_t>(next);
  out.proto_known = true;
  parse_ports(f, cursor, out);
  return out;
}

}  // namespace adam::fuzz
