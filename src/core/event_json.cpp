#include "core/event_json.h"

namespace adam {

nlohmann::json event_json(const Event& e) {
  nlohmann::json data = nlohmann::json::parse(e.data, nullptr, false);
  return {{"id", e.id},
          {"ts", e.ts},
          {"time", format_rfc3339(e.ts)},
          {"plugin", e.plugin},
          {"kind", e.kind},
          {"machine", e.machine},
          {"data", data.is_discarded() ? nlohmann::json(e.data) : data}};
}

}  // namespace adam
