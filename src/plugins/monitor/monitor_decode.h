#pragma once
// The monitor's ring buffer records (bpf/adam/monitor.h) as the events of
// docs/monitor.md: kind and JSON data, written as text without a JSON tree
// (building, dumping and freeing one was 45 % of adamd's work per event),
// and the process the record is about as the process table takes it.
// Never throws; a record that is not one the programs write is refused.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>

#include "plugins/monitor/process.h"

struct adam_event_header;

namespace adam::mon {

struct MonitorEvent {
  std::string_view kind;  // a literal: "process.exec", ...
  TimeNs ts = 0;          // when it happened (wall clock)
  std::string data;       // JSON object text, keys sorted; bytes that are not UTF-8 as U+FFFD
  // The process the event is about: what process_from_event(kind, data, ts) reads from the data.
  Process process;
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
