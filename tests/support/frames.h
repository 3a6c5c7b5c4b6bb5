#pragma once
// A small builder of Ethernet frames for the data-path tests (firewall, lb):
// headers as byte vectors, concatenated with +, so that a fixture row reads
// like the frame it is.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/frame_bytes.h"

namespace adam::test {

using Bytes = std::vector<uint8_t>;

inline Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
inline Bytes be16(uint16_t v) { return {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)}; }
inline Bytes be32(uint32_t v) {
  return be16(static_cast<uint16_t>(v >> 16)) + be16(static_cast<uint16_t>(v));
}
inline Bytes zeros(size_t n) { return Bytes(n, 0); }
inline Bytes cut(Bytes b, size_t n) {
  b.resize(n);
  return b;
}
inline Bytes with_byte(Bytes b, size_t at, uint8_t value) {
  b.at(at) = value;
  return b;
}
inline Bytes slice(const Bytes& b, size_t from, size_t len) {
  return Bytes(b.begin() + static_cast<std::ptrdiff_t>(from),
               b.begin() + static_cast<std::ptrdiff_t>(from + len));
}

constexpr uint16_t kEthIpv4 = 0x0800, kEthIpv6 = 0x86DD, kEthArp = 0x0806, kEthQ = 0x8100, kEthAd = 0x88A8;

inline Bytes a4(const char* text) {
  Bytes a(4);
  EXPECT_EQ(inet_pton(AF_INET, text, a.data()), 1) << text;
  return a;
}
inline Bytes a6(const char* text) {
  Bytes a(16);
  EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1) << text;
  return a;
}

// The Internet checksum (RFC 1071) of `b`.
inline uint16_t inet_checksum(const Bytes& b) { return adam::inet_checksum(b.data(), b.size()); }

inline const Bytes kDstMac = {2, 0, 0, 0, 0, 2}, kSrcMac = {2, 0, 0, 0, 0, 1};

// Ethernet header (+ VLAN tags, outermost first) around an L3 packet.
inline Bytes ether(uint16_t type, const Bytes& l3, std::vector<uint16_t> tags = {},
                   const Bytes& dst = kDstMac, const Bytes& src = kSrcMac) {
  Bytes frame = dst + src + be16(tags.empty() ? type : tags[0]);
  for (size_t i = 0; i < tags.size(); ++i)
    frame = frame + be16(static_cast<uint16_t>(100 + i)) + be16(i + 1 < tags.size() ? tags[i + 1] : type);
  return frame + l3;
}

// IPv4 header (checksum right) + payload; frag is the flags/offset field (default: DF).
inline Bytes ip4(const Bytes& src, const Bytes& dst, uint8_t proto, const Bytes& payload,
                 uint16_t frag = 0x4000, const Bytes& options = {}) {
  const auto header_len = static_cast<uint8_t>(20 + options.size());
  Bytes header = Bytes{static_cast<uint8_t>(0x40 | header_len / 4), 0} +
                 be16(static_cast<uint16_t>(header_len + payload.size())) + be16(0x1234) + be16(frag) +
                 Bytes{64, proto, 0, 0} + src + dst + options;
  const uint16_t check = inet_checksum(header);
  header[10] = static_cast<uint8_t>(check >> 8);
  header[11] = static_cast<uint8_t>(check);
  return header + payload;
}
inline Bytes ip6(const Bytes& src, const Bytes& dst, uint8_t nexthdr, const Bytes& payload) {
  return Bytes{0x60, 0, 0, 0} + be16(static_cast<uint16_t>(payload.size())) + Bytes{nexthdr, 64} + src + dst +
         payload;
}
// Hop-by-hop, routing or destination options header of `len` bytes (multiple of 8).
inline Bytes ext6(uint8_t nexthdr, size_t len = 8) {
  return Bytes{nexthdr, static_cast<uint8_t>(len / 8 - 1)} + zeros(len - 2);
}
inline Bytes ah6(uint8_t nexthdr) { return Bytes{nexthdr, 1, 0, 0} + zeros(8); }  // 12 bytes: (1 + 2) * 4
inline Bytes frag6(uint8_t nexthdr, uint16_t offset, bool more) {
  return Bytes{nexthdr, 0} + be16(static_cast<uint16_t>(offset << 3 | (more ? 1 : 0))) +
         Bytes{0, 0, 0x12, 0x34};
}
constexpr uint8_t kTcpSyn = 0x02, kTcpAck = 0x10, kTcpRst = 0x04;
// A TCP header (no options, checksum left 0: no program here reads it) + payload.
inline Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags = kTcpSyn, const Bytes& payload = {}) {
  return be16(sport) + be16(dport) + zeros(8) + Bytes{0x50, flags} + zeros(6) + payload;
}
inline Bytes udp(uint16_t sport, uint16_t dport, const Bytes& payload = {}) {
  return be16(sport) + be16(dport) + be16(static_cast<uint16_t>(8 + payload.size())) + zeros(2) + payload;
}
inline Bytes icmp(uint8_t type, uint8_t code = 0) { return Bytes{type, code} + zeros(6); }

}  // namespace adam::test
