#pragma once
// What code that builds frames in user space needs (the plugins' explain
// frames): big-endian fields and the Internet checksum (RFC 1071).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace adam {

inline void put_be16(std::vector<uint8_t>& buf, size_t at, uint16_t value) {
  buf[at] = static_cast<uint8_t>(value >> 8);
  buf[at + 1] = static_cast<uint8_t>(value);
}

// The Internet checksum of `len` bytes (an odd last byte padded with 0):
// of an IPv4 header with its checksum field 0, of an ICMP message, ...
inline uint16_t inet_checksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i < len; i += 2) sum += (uint32_t{data[i]} << 8) | (i + 1 < len ? data[i + 1] : 0);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace adam
