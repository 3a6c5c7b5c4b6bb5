#pragma once
// Where a balanced packet goes on the wire: the egress interface, its MAC
// and source address, and the next hop's MAC, looked up in adamd's network
// namespace from the kernel's routing and neighbour tables (rtnetlink), the
// way the kernel itself would send to the backend.
#include <array>
#include <cstdint>
#include <string>

#include "plugins/lb/service.h"

namespace adam::lb {

struct NextHop {
  bool resolved = false;  // false: `error` says why (no route, not on link, no neighbour entry yet)
  std::string error;
  std::string interface;  // egress interface
  uint32_t ifindex = 0;
  std::array<uint8_t, 6> src_mac{};  // the egress interface's
  std::array<uint8_t, 6> dst_mac{};  // the backend's (on link) or the gateway's
  IpAddress source;                  // the route's preferred source: the outer source of ipip
  uint32_t mtu = 0;                  // the egress interface's
};

// The next hop toward `backend`. `on_link`: the backend must be on a
// directly connected segment (l2dsr rewrites only the MACs), else a route
// through a gateway is fine (ipip). When the neighbour entry is missing or
// not yet valid, asks the kernel to resolve it (an RTM_NEWNEIGH with
// NTF_USE, which sends the ARP or neighbour solicitation) and answers
// unresolved: the caller asks again later.
NextHop resolve_next_hop(const IpAddress& backend, bool on_link);

}  // namespace adam::lb
