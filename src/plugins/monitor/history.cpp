#include "plugins/monitor/history.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/errors.h"
#include "core/event_query.h"
#include "plugins/monitor/process_table.h"

namespace adam::mon {

namespace {

const std::string kPlugin = "monitor";
const std::vector<std::string> kLifeKinds = {"process.exec", "process.fork", "process.exit"};

// Every event of `filter`, oldest first (the store pages newest first).
std::vector<Event> all_events(EventStore& store, const EventFilter& filter) {
  std::vector<Event> out;
  std::optional<EventCursor> cursor;
  do {
    EventPage page = store.query(filter, cursor, kMaxEventLimit);
    std::move(page.events.begin(), page.events.end(), std::back_inserter(out));
    cursor = page.next;
  } while (cursor);
  std::reverse(out.begin(), out.end());
  return out;
}

std::optional<Event> newest(EventStore& store, const EventFilter& filter) {
  EventPage page = store.query(filter, std::nullopt, 1);
  if (page.events.empty()) return std::nullopt;
  return std::move(page.events.front());
}

// Applies a stored event to `table`. An event whose data lacks the process
// fields (none that adamd wrote) is left out rather than failing the whole
// answer.
bool apply(ProcessTable& table, const Event& e) {
  try {
    table.apply(e.kind, nlohmann::json::parse(e.data), e.ts);
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// The monitor's events of `kinds` whose data field `key` is `exec_id`, from
// when that process started.
EventFilter events_naming(const BootClock& clock, std::string_view exec_id, const char* key,
                          std::vector<std::string> kinds) {
  return {.since = events_since(clock, exec_id),
          .plugins = {kPlugin},
          .kinds = std::move(kinds),
          .data = {{key, std::string(exec_id)}}};
}

}  // namespace

TimeNs events_since(TimeNs started) { return std::max<TimeNs>(0, started - kStartSlack); }

TimeNs events_since(const BootClock& clock, std::string_view exec_id) {
  const auto started = clock.started(exec_id);
  return started ? events_since(*started) : 0;
}

PastTable table_at(EventStore& store, TimeNs at) {
  const TimeNs until = at == std::numeric_limits<TimeNs>::max() ? at : at + 1;  // at itself included
  const auto snapshot = newest(store, {.until = until, .plugins = {kPlugin}, .kinds = {"process.snapshot"}});
  if (!snapshot)
    throw ApiError(422, "no_snapshot",
                   fmt::format("no process snapshot at or before {}: the past reaches back to the oldest "
                               "stored process.snapshot (the monitor stores one at start and every "
                               "snapshot_interval)",
                               format_rfc3339(at)),
                   "at");
  PastTable past;
  past.at = at;
  past.snapshot_ts = snapshot->ts;
  const auto data = nlohmann::json::parse(snapshot->data, nullptr, false);
  past.round_start = data.is_object() ? data.value("round_start", snapshot->ts) : snapshot->ts;
  // Unbounded: what one round and its replay hold (snapshot_interval bounds it).
  ProcessTable table(std::numeric_limits<size_t>::max());
  for (const Event& e : all_events(store, {.since = past.round_start,
                                          .until = snapshot->ts + 1,
                                          .plugins = {kPlugin},
                                          .kinds = {"process.seen"}}))
    apply(table, e);
  // The round's own exec, fork and exit events too: the table applies each
  // idempotently, and one older than what it holds for a pid is stale.
  for (const Event& e : all_events(
           store, {.since = past.round_start, .until = until, .plugins = {kPlugin}, .kinds = kLifeKinds}))
    past.replayed += apply(table, e);
  past.processes = table.list();
  return past;
}

std::optional<Process> stored_process(EventStore& store, const BootClock& clock, std::string_view exec_id) {
  auto born = newest(store, events_naming(clock, exec_id, "exec_id", {"process.exec", "process.fork"}));
  if (!born) born = newest(store, events_naming(clock, exec_id, "exec_id", {"process.seen"}));
  if (!born) return std::nullopt;
  ProcessTable one(1);
  if (!apply(one, *born)) return std::nullopt;
  if (auto exit = newest(store, events_naming(clock, exec_id, "exec_id", {"process.exit"})))
    apply(one, *exit);
  return one.find(exec_id);
}

std::vector<Process> stored_children(EventStore& store, const BootClock& clock, std::string_view exec_id) {
  // Their events in order through a table of their own, as the live table
  // would have held them (a fork's image gives way to its exec).
  ProcessTable children(std::numeric_limits<size_t>::max());
  for (const Event& e :
       all_events(store, events_naming(clock, exec_id, "parent_exec_id",
                                       {"process.exec", "process.fork", "process.exit", "process.seen"})))
    apply(children, e);
  std::vector<Process> out = children.list(true);
  std::sort(out.begin(), out.end(), [](const Process& a, const Process& b) { return a.started < b.started; });
  return out;
}

std::vector<Event> stored_events_of(EventStore& store, const BootClock& clock, std::string_view exec_id,
                                    int limit) {
  EventFilter filter{.since = events_since(clock, exec_id), .data = {{"exec_id", std::string(exec_id)}}};
  return store.query(filter, std::nullopt, limit).events;
}

std::vector<Process> ancestors_of(const Process& p, const ProcessLookup& find) {
  std::vector<Process> chain;
  std::set<std::string> seen{p.exec_id};
  const Process* at = &p;
  while (at->pid != 1 && !at->parent_exec_id.empty() && seen.insert(at->parent_exec_id).second) {
    auto parent = find(at->parent_exec_id);
    if (!parent) break;
    chain.push_back(std::move(*parent));
    at = &chain.back();
  }
  return chain;
}

}  // namespace adam::mon
