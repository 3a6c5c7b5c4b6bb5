#pragma once
// The monitor's live process table in adamd: fed by the /proc seed and by
// every process event the decoder makes (from the event hub's consumer
// thread), read by the routes. Bounded: past `capacity` it evicts exited
// processes first (oldest exit first), then the oldest live ones, and
// counts every eviction (docs/monitor.md).
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
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
  void apply(std::string_view kind, const nlohmann::json& data, TimeNs ts);
  void clear();

  // The live processes (exited ones too with `with_exited`), by pid.
  std::vector<Process> list(bool with_exited = false) const;
  std::optional<Process> find(std::string_view exec_id) const;
  // The processes whose parent_exec_id is `exec_id`.
  std::vector<Process> children(std::string_view exec_id) const;

  size_t size() const;
  uint64_t evictions() const;
};

}  // namespace adam::mon
