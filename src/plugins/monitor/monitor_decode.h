#pragma once
// The monitor's ring buffer records (bpf/adam/monitor.h) as the events of
// docs/monitor.md: kind and JSON data. Never throws; a record that is not
// one the programs write is refused.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>

#include "plugins/monitor/process.h"

struct adam_event_header;

namespace adam::mon {

struct MonitorEvent {
  std::string_view kind;  // a literal: "process.exec", ...
  nlohmann::json data;
};

// `payload` is the record after its header. False for a malformed record
// (unknown kind, a size the kind does not have, lengths past the record).
bool decode_record(const BootClock& clock, const adam_event_header& header,
                   std::span<const std::byte> payload, MonitorEvent& out);

// The JSON text of a monitor event's data; bytes that are not UTF-8 become U+FFFD.
std::string event_text(const nlohmann::json& data);

// "SIGKILL" for 9; "SIG<n>" for a number without a name.
std::string signal_name(int signal);
// "ECONNREFUSED" for 111; "E<n>" for a number without a name.
std::string errno_name(int err);
// "O_WRONLY|O_CREAT|O_CLOEXEC"; bits without a name as one hex number.
std::string open_flags_text(uint32_t flags);

}  // namespace adam::mon
