#pragma once
// The kernel back end's ring buffer records (struct adam_lsm_event,
// bpf/adam/lsm.h) as the events of docs/lsm.md: lsm.audit, lsm.deny,
// lsm.kill with their data. Never throws; a record that is not one the
// programs write is refused.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "plugins/monitor/process.h"

struct adam_event_header;

namespace adam::lsm {

struct LsmEvent {
  std::string_view kind;  // a literal: "lsm.deny", ...
  nlohmann::json data;
};

// `payload` is the record after its header; `policy_name` names a policy id
// ("" when unknown). The subject's ancestors are read from `proc_root`.
// False for a malformed record (unknown kind, another size, a code or
// length out of range).
bool decode_record(const mon::BootClock& clock, const adam_event_header& header,
                   std::span<const std::byte> payload, LsmEvent& out,
                   const std::function<std::string(uint32_t)>& policy_name,
                   const std::string& proc_root = "/proc");

}  // namespace adam::lsm
