#pragma once
// The processes /proc shows now, as the monitor's table holds them and as
// the kernel's mon_procs map is seeded with (bpf/adam/monitor.h): exec ids
// from the same values the BPF programs read (stat fields 22 and 28), so a
// process seen here and in a kernel event has one id.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "adam/monitor.h"
#include "plugins/monitor/process.h"

namespace adam::mon {

struct ScannedProcess {
  Process process;
  adam_proc_entry entry{};  // the kernel's view: self and parent identity
};

// What the kernel's mon_procs holds for a tgid, if anything.
using KernelView = std::function<std::optional<adam_proc_entry>(uint32_t tgid)>;

// Every process of `proc_root` (a /proc), by pid. A process that has
// exited (a zombie its parent has not reaped) or exits while it is read is
// left out. args: argv's first `args_max` bytes.
// Where `kernel` knows the process (the same start), its identity and
// parent are the kernel's: the programs saw it fork and exec, and /proc
// hides the image tag of some processes.
std::vector<ScannedProcess> scan_processes(const BootClock& clock, size_t args_max,
                                           const KernelView& kernel = {},
                                           const std::string& proc_root = "/proc");

// One process of `proc_root` as scan_processes() reads it, its parent's
// identity from the parent's own /proc entry; nullopt when it is gone. A
// zombie is read as it was (what an event of its last moments names).
std::optional<ScannedProcess> scan_process(uint32_t pid, const BootClock& clock, size_t args_max,
                                           const std::string& proc_root = "/proc");

// Where cgroup v2 is mounted (from /proc/mounts), "" when it is not.
std::string cgroup2_mount();
// The cgroup v2 id of the cgroup at `path` (relative to the cgroup2 mount,
// as /proc/PID/cgroup and the config's `cgroups` name it): its directory's
// inode. 0 when there is no such cgroup.
uint64_t cgroup_id(const std::string& mount, const std::string& path);

}  // namespace adam::mon
