#pragma once
// The process monitor (docs/monitor.md): BPF programs on the sched
// tracepoints (tp_btf, else raw_tp), the openat/openat2/connect syscall
// tracepoints and cgroup/connect4|6 (bpf/monitor.bpf.c) record exec, fork,
// exit, connect and file-open events with the process's exec id; a process
// table seeded from /proc (also into the kernel's mon_procs, where the
// programs look parents up) gives every process its chain back to pid 1;
// `?at=` rebuilds the table of a past moment from the stored events.
//
// Nothing is pinned: the monitor enforces nothing, and a restarted adamd
// seeds again from /proc, where exec ids are derived from (so they do not
// change across a restart).
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/plugin.h"
#include "plugins/monitor/process.h"

namespace adam {

namespace mon {
class Kernel;        // monitor_kernel.h: the BPF object, its hooks and the ring buffer
class ProcessTable;  // process_table.h: the bounded live table
}  // namespace mon

class MonitorPlugin : public Plugin {
 public:
  explicit MonitorPlugin(PluginContext& ctx);
  ~MonitorPlugin() override;

  std::string name() const override { return "monitor"; }
  std::string description() const override;
  std::string unsupported_reason(const KernelFeatures& features) const override;
  nlohmann::json config_schema() const override;
  void validate(const nlohmann::json& config) const override;
  void start(const nlohmann::json& config) override;
  void stop() override;
  nlohmann::json stats() const override;
  std::string summary() const override;
  void metrics(MetricsWriter& w) const override;
  nlohmann::json counters() const override;
  // monitor_routes.cpp: the process routes and the Processes page.
  nlohmann::json event_links(const std::string& kind, const nlohmann::json& data) const override;
  std::vector<Route> routes() override;

 private:
  PluginContext& ctx_;
  const mon::BootClock clock_;
  // Always there (the routes read it whatever the state); emptied at stop.
  std::unique_ptr<mon::ProcessTable> table_;
  mutable std::mutex mu_;  // kernel_ and config_ against the routes and stats
  std::unique_ptr<mon::Kernel> kernel_;
  nlohmann::json config_;

  // monitor_plugin.cpp: one round of process.seen events and their
  // process.snapshot (at start, then every snapshot_interval).
  void publish_snapshot(const std::string& reason);  // with mu_ held, while running
  void snapshot_loop(std::chrono::seconds interval);
  void stop_snapshots();
  std::mutex snapshot_mu_;
  std::condition_variable snapshot_cv_;
  bool snapshot_stop_ = false;
  std::thread snapshots_;
};

}  // namespace adam
