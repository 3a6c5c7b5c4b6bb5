#pragma once
// The monitor's live process table in adamd: fed by the /proc seed and by
// every process event the decoder makes (from the event hub's consumer
// thread), read by the routes. Bounded: past `capacity` it evicts exited
// processes first (oldest exit first), then the oldest live ones, and
// counts every eviction (docs/monitor.md).
//
// Entries are keyed by exec id; each pid names its current one. A process
// that exits stays (marked exited) until evicted, and an image that an exec
// replaced stays (marked exited at the exec) while processes it forked are
// held: a live child's ancestors remain findable.
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "plugins/monitor/process.h"

namespace adam::mon {

class ProcessTable {
 public:
  explicit ProcessTable(size_t capacity = 65536);
  void set_capacity(size_t capacity);  // evicts at once down to it
  size_t capacity() const;

  // One event of the monitor (process.exec, process.seen, process.fork,
  // process.exit; other kinds are ignored) with its data and time.
  // Idempotent: the same event twice leaves the table as once. Throws
  // nlohmann::json::exception on data that lacks the process fields.
  void apply(std::string_view kind, const nlohmann::json& data, TimeNs ts);
  // The same with the event's process as process_from_event(kind, data, ts) reads it.
  void apply(std::string_view kind, Process p, TimeNs ts);
  // The end of a /proc round that began at `round_start` and found the
  // exec ids `found`: a live process held since before the round that
  // neither this round nor the one before found has exited, its exit event
  // lost (a full ring buffer); it is marked exited at the start of the
  // first round that missed it, exit code and signal unknown. Two rounds,
  // not one: an exit that raced the read is still on its way. Returns how
  // many were marked.
  size_t end_round(const std::set<std::string>& found, TimeNs round_start);
  void clear();

  // The live processes (exited ones too with `with_exited`), by pid.
  std::vector<Process> list(bool with_exited = false) const;
  std::optional<Process> find(std::string_view exec_id) const;
  // The processes whose parent_exec_id is `exec_id`.
  std::vector<Process> children(std::string_view exec_id) const;

  size_t size() const;
  uint64_t evictions() const;
  uint64_t exits_missed() const;  // marked by end_round()

 private:
  struct Entry {
    Process process;
    TimeNs since = 0;  // the time of the event that made it its pid's current process
  };
  using Order = std::set<std::pair<TimeNs, std::string>>;  // (time, exec id)
  // The rest: mu_ held.
  void insert(Process p, TimeNs ts);
  // Into the indexes; the pid's current process with `make_current`.
  void add(Process p, TimeNs since, bool make_current);
  void mark_exited(Process& p, TimeNs at);
  // The pid's current process left the live set (an exec of its own, or a
  // reused pid): kept as exited while it has children, else erased.
  void retire(Entry& current, TimeNs at);
  void erase(const std::string& exec_id);
  void evict_to(size_t capacity);

  mutable std::mutex mu_;
  size_t capacity_;
  uint64_t evictions_ = 0;
  uint64_t exits_missed_ = 0;
  std::unordered_map<std::string, TimeNs> missing_;  // exec id -> start of the first round that missed it
  std::unordered_map<std::string, Entry> by_exec_id_;
  std::unordered_map<uint32_t, std::string> current_;                // pid -> its current exec id
  std::unordered_map<std::string, std::set<std::string>> children_;  // parent exec id -> children's
  Order live_;    // (started, exec id): the oldest live is evicted last
  Order exited_;  // (exited, exec id): the oldest exit is evicted first
};

}  // namespace adam::mon
