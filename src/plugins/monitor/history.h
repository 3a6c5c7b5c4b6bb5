#pragma once
// The monitor's past from the stored events alone (docs/monitor.md "The
// past"): the process table at a past moment, one process by its exec id,
// its chain of ancestors and its children. Works while the monitor is
// stopped and after adamd restarts: every event carries its exec id.
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "plugins/monitor/process.h"
#include "store/event_store.h"

namespace adam::mon {

// Where the events of a process that started at `started` (wall clock) are
// looked for: a minute before, as its start is in clock ticks (10 ms) turned
// into wall-clock time with the boot time as this adamd read it, which a
// clock step since can shift against the events' own times.
constexpr TimeNs kStartSlack = 60'000'000'000;
TimeNs events_since(TimeNs started);
// The same for an exec id, from the start it encodes; 0 when it is of
// another boot.
TimeNs events_since(const BootClock& clock, std::string_view exec_id);

// The table at `at`: the latest process.snapshot at or before it names a
// round of process.seen events (the base), then every process.exec, fork
// and exit from the round's start up to `at` is replayed in (ts, id) order.
struct PastTable {
  TimeNs at = 0;
  TimeNs snapshot_ts = 0;
  TimeNs round_start = 0;
  size_t replayed = 0;             // the exec, fork and exit events applied on the base
  std::vector<Process> processes;  // alive at `at`, by pid
};
// Throws ApiError 422 naming `at` when no snapshot is at or before it.
PastTable table_at(EventStore& store, TimeNs at);

// The process of `exec_id` from its stored process.exec or process.fork
// event (else its newest process.seen), with its exit when one is stored.
std::optional<Process> stored_process(EventStore& store, const BootClock& clock, std::string_view exec_id);
// The stored processes whose parent is `exec_id`, by start.
std::vector<Process> stored_children(EventStore& store, const BootClock& clock, std::string_view exec_id);
// The stored events of `exec_id` (any plugin, any kind), newest first.
std::vector<Event> stored_events_of(EventStore& store, const BootClock& clock, std::string_view exec_id,
                                    int limit);

using ProcessLookup = std::function<std::optional<Process>(std::string_view exec_id)>;
// Parent, grandparent, … up to pid 1, each found by `find`; ends early where
// a parent is unknown (or at a loop, which only corrupt data could make).
std::vector<Process> ancestors_of(const Process& p, const ProcessLookup& find);

}  // namespace adam::mon
