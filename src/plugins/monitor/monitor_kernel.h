#pragma once
// The monitor's BPF side (bpf/monitor.bpf.c) in adamd: opened, configured
// (rodata and filter maps), loaded with the hook set the kernel takes
// (tp_btf, else raw_tp), its ring buffer joined to the event hub, attached;
// destroyed in reverse. Nothing is pinned: the monitor enforces nothing.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adam/monitor.h"
#include "plugins/monitor/process.h"

namespace adam {
class EventHub;
struct KernelFeatures;
}  // namespace adam

namespace adam::mon {

class ProcessTable;
struct ScannedProcess;

struct KernelConfig {
  uint32_t kinds = 0;  // ADAM_MON_KIND_BIT of each kind recorded
  uint32_t args_max = 512;
  std::vector<std::string> path_prefixes;
  std::vector<uint32_t> uids;        // empty: every uid
  std::vector<std::string> comms;    // empty: every comm
  std::vector<uint64_t> cgroup_ids;  // empty: every cgroup
  bool ignore_self = true;
  uint32_t ring_buffer_kb = 8192;
};

class Kernel {
 public:
  // Loads and attaches; throws (having released everything) on failure.
  // Decoded events go to `hub` as plugin "monitor" and into `table`.
  Kernel(const KernelConfig& config, const KernelFeatures& features, const BootClock& clock, EventHub* hub,
         ProcessTable& table);
  ~Kernel();  // detaches, drains the ring buffer, closes the maps
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  // Adds the processes /proc showed to mon_procs where the programs have
  // no fresher entry (BPF_NOEXIST): call after attaching, with a scan read
  // after it. Returns how many were added.
  size_t seed(const std::vector<ScannedProcess>& processes);

  // mon_procs' entry of `tgid`, if it has one.
  std::optional<adam_proc_entry> known(uint32_t tgid) const;

  // "tp_btf" or "raw_tp": the hook set of exec, fork and exit.
  const std::string& hooks() const { return hooks_; }
  // Records decoded so far, by kind code (ADAM_MON_EXEC...).
  uint64_t decoded(uint32_t kind) const { return kind < decoded_.size() ? decoded_[kind].load() : 0; }
  // Events the programs could not emit (ring buffer full), summed over CPUs.
  uint64_t kernel_lost() const;
  // Entries of mon_procs now.
  size_t kernel_processes() const;

 private:
  struct Objects;
  std::unique_ptr<Objects> objects_;
  std::string hooks_;
  std::array<std::atomic<uint64_t>, ADAM_MON_OPEN + 1> decoded_{};
};

}  // namespace adam::mon
