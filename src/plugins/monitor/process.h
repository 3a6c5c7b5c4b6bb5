#pragma once
// A process as the monitor's table, its API and its history hold it, and
// the exec id that names it (bpf/adam/monitor.h, docs/monitor.md).
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/time_range.h"

namespace adam::mon {

// The parts of an exec id: "<boot>-<tgid>-<start ticks>-<tag hex>", e.g.
// "3f2a9c1e-1234-98765-7ffc9a8b1000". boot: the first 8 hex digits of
// /proc/sys/kernel/random/boot_id; start ticks: the group leader's start
// time in clock ticks since boot (/proc/PID/stat field 22); tag: the image's
// mm->start_stack in hex (field 28), which every execve places anew.
struct ExecIdParts {
  std::string boot;
  uint32_t tgid = 0;
  uint64_t start_ticks = 0;
  uint64_t tag = 0;
};
std::string format_exec_id(const ExecIdParts& parts);
// nullopt unless `text` is an exec id as format_exec_id writes it.
std::optional<ExecIdParts> parse_exec_id(std::string_view text);

// This boot's clock: the boot id and the wall-clock time of boot, to turn
// the kernel's boot-relative times into exec ids and wall-clock times.
struct BootClock {
  std::string boot;                // 8 hex digits of the boot id
  TimeNs boot_wall_ns = 0;         // CLOCK_REALTIME - CLOCK_BOOTTIME when read
  int64_t ticks_per_second = 100;  // sysconf(_SC_CLK_TCK), the kernel's USER_HZ

  static BootClock read();  // from /proc and the clocks
  // The kernel's nsec_to_clock_t (what /proc/PID/stat shows).
  uint64_t ticks_of(uint64_t boot_ns) const { return boot_ns / (1'000'000'000 / ticks_per_second); }
  // Saturates: a record's start time past year 2262 (a bogus one) is no overflow.
  TimeNs wall_of_ticks(uint64_t ticks) const {
    const uint64_t per_tick = static_cast<uint64_t>(1'000'000'000 / ticks_per_second);
    TimeNs wall = 0;
    if (ticks > static_cast<uint64_t>(std::numeric_limits<TimeNs>::max()) / per_tick ||
        __builtin_add_overflow(boot_wall_ns, static_cast<TimeNs>(ticks * per_tick), &wall))
      return std::numeric_limits<TimeNs>::max();
    return wall;
  }
  std::string exec_id(uint32_t tgid, uint64_t start_boot_ns, uint64_t tag) const {
    return format_exec_id({boot, tgid, ticks_of(start_boot_ns), tag});
  }
  // When the process of `exec_id` started, if it started in this boot.
  std::optional<TimeNs> started(std::string_view exec_id) const;
};

struct Process {
  std::string exec_id;
  std::string parent_exec_id;  // "" for pid 1 and kernel threads' root (kthreadd's parent)
  uint32_t pid = 0;
  uint32_t ppid = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string comm;
  std::string filename;
  std::vector<std::string> args;
  bool args_truncated = false;
  uint64_t cgroup_id = 0;
  TimeNs started = 0;            // wall-clock ns
  std::optional<TimeNs> exited;  // when its last thread exited
  std::optional<int> exit_code;  // exit status, when it exited normally
  std::optional<int> signal;     // the signal that killed it
  bool seeded = false;           // known from /proc, not from an exec or fork event
};

// The process fields of docs/monitor.md ("The process object").
nlohmann::json to_json(const Process& p);
// The process an event of the monitor describes (process.exec, process.seen,
// process.fork; process.exit fills exited/exit_code/signal), from its data.
// Throws nlohmann::json::exception on data that lacks the fields.
Process process_from_event(std::string_view kind, const nlohmann::json& data, TimeNs ts);

}  // namespace adam::mon
