#pragma once
// The firewall's log events: what the XDP program puts in its ring buffer for
// a packet decided by a rule with `log: true` (struct adam_fw_log_event,
// bpf/adam/firewall.h) becomes an event of kind firewall.drop or firewall.pass
// with data
//   {"rule_id": 7, "action": "drop", "iface": "eth0", "src": "203.0.113.5",
//    "dst": "198.51.100.2", "proto": "udp", "src_port": 1234, "dst_port": 8080, "len": 60}
// (ports only for a packet that has them; src, dst and proto only when the
// frame's IP header could be parsed; docs/firewall.md, "Log events").
#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "core/event_hub.h"

namespace adam::fw {

// Interface names by ifindex in adamd's network namespace (if_indextoname),
// cached: a name is looked up again once it is a few seconds old, so an
// interface renamed, or replaced under the same index, soon shows as it is.
// Not thread-safe: one per decoder, which runs on the EventHub's consumer thread.
class InterfaceNames {
 public:
  // "" when no interface has this index.
  std::string name(uint32_t ifindex);

 private:
  struct Entry {
    std::string name;
    std::chrono::steady_clock::time_point looked_up;
  };
  std::map<uint32_t, Entry> cache_;
};

// A RecordDecoder (core/event_hub.h) with the interface cache it uses.
// False for a malformed record: a size other than the record's (its header's
// or the payload's), an unknown kind, verdict or address family.
bool decode_log_event(const adam_event_header& header, std::span<const std::byte> payload, DecodedRecord& out,
                      InterfaceNames& names);

}  // namespace adam::fw
