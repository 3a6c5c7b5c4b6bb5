#pragma once
// The monitor's process resources (docs/monitor.md "Routes"), as functions
// of the live table and the event store: MonitorPlugin::routes() serves
// them, tests call them without a kernel.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/event_query.h"
#include "plugins/monitor/process.h"

namespace adam {
class EventStore;
}

namespace adam::mon {

class ProcessTable;

constexpr int kProcessEventsMax = 100;  // the recent events of GET /processes/{exec_id}

// GET /api/v1/monitor/processes's parameters: ?exited=1, ?at=TIME (RFC
// 3339 or epoch seconds). Bad ones: ApiError 400 naming them.
struct ProcessesQuery {
  bool with_exited = false;
  std::optional<TimeNs> at;
};
ProcessesQuery parse_processes_query(const QueryParams& query);
// The exec id of a route; ApiError 400 naming `exec_id` unless it is one.
std::string exec_id_param(std::string_view text);

// The process object with its links (self, events, page).
nlohmann::json process_json(const Process& p);
// {"process", "exec id events"}: the links of anything naming an exec id.
nlohmann::json exec_id_links(std::string_view exec_id);

// {"processes", "count", "capacity", "evictions", "links"}
nlohmann::json live_processes(const ProcessTable& table, bool with_exited);
// {"at", "processes", "count", "snapshot": {"ts", "round_start"}, "replayed", "links"};
// ApiError 422 naming `at` when no snapshot reaches back to it.
nlohmann::json past_processes(EventStore& store, TimeNs at);
// {"process", "ancestors", "children", "events", "links"}: from the table,
// else the store (null: none); ApiError 404 when neither knows it.
nlohmann::json process_detail(const ProcessTable& table, EventStore* store, const BootClock& clock,
                              const std::string& exec_id);

}  // namespace adam::mon
