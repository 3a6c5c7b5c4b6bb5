#pragma once
// The balancer's decision in plain C++ (docs/lb.md "Data path"), shared by
// the data-path test and the packet-path fuzz target: the flow hash and the
// backend a service's Maglev table gives a flow.
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "plugins/lb/datapath.h"
#include "plugins/lb/maglev.h"

namespace adam::test {

inline uint32_t rol32(uint32_t w, int s) { return w << s | w >> (32 - s); }

// jhash2 (the kernel's) of the 10 words docs/lb.md names.
inline uint32_t reference_hash(const lb::IpAddress& src, const lb::IpAddress& dst, uint16_t sport,
                               uint16_t dport, uint8_t proto) {
  uint32_t k[10] = {};
  std::memcpy(k, src.bytes.data(), 16);
  std::memcpy(k + 4, dst.bytes.data(), 16);
  k[8] = uint32_t{sport} << 16 | dport;
  k[9] = proto;
  uint32_t a = 0xdeadbeef + (10 << 2), b = a, c = a;
  auto mix = [&] {
    a -= c, a ^= rol32(c, 4), c += b;
    b -= a, b ^= rol32(a, 6), a += c;
    c -= b, c ^= rol32(b, 8), b += a;
    a -= c, a ^= rol32(c, 16), c += b;
    b -= a, b ^= rol32(a, 19), a += c;
    c -= b, c ^= rol32(b, 4), b += a;
  };
  for (int i = 0; i < 9; i += 3) {
    a += k[i], b += k[i + 1], c += k[i + 2];
    mix();
  }
  a += k[9];
  c ^= b, c -= rol32(b, 14);
  a ^= c, a -= rol32(c, 11);
  b ^= a, b -= rol32(a, 25);
  c ^= b, c -= rol32(b, 16);
  a ^= c, a -= rol32(c, 4);
  b ^= a, b -= rol32(a, 14);
  c ^= b, c -= rol32(b, 24);
  return c;
}

// The service's Maglev table, as the plugin builds it from its backends.
inline std::vector<uint32_t> reference_table(const lb::KernelService& s) {
  std::vector<lb::MaglevBackend> in;
  for (const lb::KernelBackend& b : s.backends) in.push_back({b.address.to_string(), b.table_weight});
  return lb::maglev_table(in, s.table_size);
}

// The backend `table` (the service's) gives the flow; none when empty.
inline std::optional<lb::IpAddress> table_choice(const lb::KernelService& s,
                                                 const std::vector<uint32_t>& table, const lb::IpAddress& src,
                                                 uint16_t sport, uint16_t dport) {
  const uint32_t entry = table[reference_hash(src, s.vip, sport, dport, s.proto) % s.table_size];
  if (entry == lb::kNoBackend) return std::nullopt;
  return s.backends[entry].address;
}
inline std::optional<lb::IpAddress> table_choice(const lb::KernelService& s, const lb::IpAddress& src,
                                                 uint16_t sport, uint16_t dport) {
  return table_choice(s, reference_table(s), src, sport, dport);
}

}  // namespace adam::test
