// The monitor's routes (docs/monitor.md "Routes"): the live process table,
// the table of a past moment, one process with its ancestors, children and
// events; and the links of the monitor's events to their process.
#include "plugins/monitor/monitor_routes.h"

#include <fmt/format.h>

#include <stdexcept>

#include "core/errors.h"
#include "core/event_hub.h"
#include "core/event_json.h"
#include "plugins/monitor/history.h"
#include "plugins/monitor/monitor_plugin.h"
#include "plugins/monitor/pages.h"
#include "plugins/monitor/process_table.h"

namespace adam::mon {

namespace {

const std::string kProcesses = "/api/v1/monitor/processes";

nlohmann::json processes_json(const std::vector<Process>& processes) {
  nlohmann::json out = nlohmann::json::array();
  for (const Process& p : processes) out.push_back(process_json(p));
  return out;
}

const std::string& single(const QueryParams& query, const std::string& name) {
  if (query.count(name) != 1) throw bad_request(name, fmt::format("'{}' may be given only once", name));
  return query.find(name)->second;
}

}  // namespace

ProcessesQuery parse_processes_query(const QueryParams& query) {
  for (const auto& [name, value] : query)
    if (name != "exited" && name != "at")
      throw bad_request(name, fmt::format("unknown parameter '{}' (known: at, exited)", name));
  ProcessesQuery q;
  if (query.count("exited")) {
    const std::string& exited = single(query, "exited");
    if (exited != "1" && exited != "0" && exited != "true" && exited != "false")
      throw bad_request("exited", "exited is 1 or 0");
    q.with_exited = exited == "1" || exited == "true";
  }
  if (query.count("at")) {
    try {
      q.at = parse_instant(single(query, "at"));
    } catch (const std::invalid_argument& e) {
      throw bad_request("at", fmt::format("at: {} (RFC 3339 or epoch seconds)", e.what()));
    }
    if (q.with_exited)
      throw bad_request("exited",
                        "exited does not apply with at: the past table holds the processes alive then");
  }
  return q;
}

std::string exec_id_param(std::string_view text) {
  if (!parse_exec_id(text))
    throw bad_request("exec_id", fmt::format("'{}' is not an exec id (<boot>-<pid>-<start ticks>-<tag hex>)",
                                             text.substr(0, 100)));
  return std::string(text);
}

nlohmann::json exec_id_links(std::string_view exec_id) {
  return {{"process", fmt::format("{}/{}", kProcesses, exec_id)},
          {"exec id events", fmt::format("/api/v1/events?data.exec_id={}", exec_id)}};
}

nlohmann::json process_json(const Process& p) {
  nlohmann::json j = to_json(p);
  j["links"] = {{"self", fmt::format("{}/{}", kProcesses, p.exec_id)},
                {"events", fmt::format("/api/v1/events?data.exec_id={}&since={}", p.exec_id,
                                       format_rfc3339(events_since(p.started)))},
                {"page", fmt::format("/processes?exec_id={}", p.exec_id)}};
  if (!p.parent_exec_id.empty()) j["links"]["parent"] = fmt::format("{}/{}", kProcesses, p.parent_exec_id);
  return j;
}

nlohmann::json live_processes(const ProcessTable& table, bool with_exited) {
  const std::vector<Process> processes = table.list(with_exited);
  return {{"processes", processes_json(processes)},
          {"count", processes.size()},
          {"capacity", table.capacity()},
          {"evictions", table.evictions()},
          {"links",
           {{"self", kProcesses + (with_exited ? "?exited=1" : "")},
            {"exited", kProcesses + "?exited=1"},
            {"at", kProcesses + "?at={time}"},
            {"events", "/api/v1/events?plugin=monitor"},
            {"page", "/processes"}}}};
}

nlohmann::json past_processes(EventStore& store, TimeNs at) {
  const PastTable past = table_at(store, at);
  return {{"at", past.at},
          {"time", format_rfc3339(past.at)},
          {"processes", processes_json(past.processes)},
          {"count", past.processes.size()},
          {"snapshot", {{"ts", past.snapshot_ts}, {"round_start", past.round_start}}},
          {"replayed", past.replayed},
          {"links",
           {{"self", fmt::format("{}?at={}", kProcesses, format_rfc3339(at))},
            {"live", kProcesses},
            {"page", fmt::format("/processes?at={}", format_rfc3339(at))}}}};
}

nlohmann::json process_detail(const ProcessTable& table, EventStore* store, const BootClock& clock,
                              const std::string& exec_id) {
  // The table first (the live state, exits included), the store for what
  // the table never held or evicted.
  const ProcessLookup find = [&](std::string_view id) {
    auto p = table.find(id);
    if (!p && store) p = stored_process(*store, clock, id);
    return p;
  };
  auto process = table.find(exec_id);
  // The table's children (exited ones it still holds too) for a process it
  // holds; the store's for one it does not.
  const bool held = process.has_value();
  if (!held && store) process = stored_process(*store, clock, exec_id);
  if (!process) throw not_found(fmt::format("no process has exec id {}", exec_id));
  const std::vector<Process> children =
      held || !store ? table.children(exec_id) : stored_children(*store, clock, exec_id);
  nlohmann::json events = nlohmann::json::array();
  if (store)
    for (const Event& e : stored_events_of(*store, clock, exec_id, kProcessEventsMax))
      events.push_back(event_json(e));
  const std::string self = fmt::format("{}/{}", kProcesses, exec_id);
  return {
      {"process", process_json(*process)},
      {"ancestors", processes_json(ancestors_of(*process, find))},
      {"children", processes_json(children)},
      {"events", events},
      {"links",
       {{"self", self}, {"processes", kProcesses}, {"page", fmt::format("/processes?exec_id={}", exec_id)}}}};
}

}  // namespace adam::mon

namespace adam {

nlohmann::json MonitorPlugin::event_links(const std::string&, const nlohmann::json& data) const {
  auto exec_id = data.find("exec_id");
  if (exec_id == data.end() || !exec_id->is_string()) return nlohmann::json::object();
  return mon::exec_id_links(exec_id->get<std::string>());
}

std::vector<Route> MonitorPlugin::routes() {
  EventStore* store = ctx_.events ? &ctx_.events->store() : nullptr;
  std::vector<Route> r;
  // Both read the event store: the tree at a past moment, a process's recent events.
  Route processes{"GET", mon::kProcesses, mon::kProcesses, Access::viewer, [this, store](const Request& req) {
                    const mon::ProcessesQuery q = mon::parse_processes_query(req.query);
                    if (q.at) {
                      if (!store) throw unavailable("adamd runs without an event store: there is no past");
                      return Reply{200, mon::past_processes(*store, *q.at)};
                    }
                    {
                      std::lock_guard lock(mu_);
                      if (!kernel_)
                        throw unavailable(
                            "the monitor is not running: start it (POST /api/v1/plugins/monitor/start), "
                            "or ask for a past moment (?at=TIME)");
                    }
                    return Reply{200, mon::live_processes(*table_, q.with_exited)};
                  }};
  Route process{
      "GET", mon::kProcesses + "/([^/]+)", mon::kProcesses + "/{exec_id}", Access::viewer,
      [this, store](const Request& req) {
        return Reply{200, mon::process_detail(*table_, store, clock_, mon::exec_id_param(req.params.at(0)))};
      }};
  for (Route* route : {&processes, &process}) {
    route->scans_store = true;
    r.push_back(std::move(*route));
  }
  for (auto& page : mon::processes_pages()) r.push_back(std::move(page));
  return r;
}

}  // namespace adam
