#include "plugins/monitor/monitor_plugin.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <set>
#include <stdexcept>

#include "adam/monitor.h"
#include "core/config_schema.h"
#include "core/errors.h"
#include "core/event_hub.h"
#include "core/kernel.h"
#include "core/metrics.h"
#include "core/undo.h"
#include "plugins/monitor/monitor_decode.h"
#include "plugins/monitor/monitor_kernel.h"
#include "plugins/monitor/proc_scan.h"
#include "plugins/monitor/process_table.h"

namespace adam {
namespace {

using nlohmann::json;

struct MonitorKind {
  uint32_t code;
  const char* name;     // the event kind
  const char* counter;  // its name in counters(), "" when it has none
};
constexpr MonitorKind kKinds[] = {{ADAM_MON_EXEC, "process.exec", "execs"},
                                  {ADAM_MON_FORK, "process.fork", ""},
                                  {ADAM_MON_EXIT, "process.exit", ""},
                                  {ADAM_MON_CONNECT, "net.connect", "connects"},
                                  {ADAM_MON_OPEN, "file.open", "opens"}};

constexpr uint32_t kDefaultArgsMax = 512;
constexpr uint32_t kDefaultMaxProcesses = 65536;
constexpr uint32_t kDefaultRingBufferKb = 8192;
constexpr const char* kDefaultSnapshotInterval = "1h";
const std::vector<std::string> kDefaultPrefixes = {"/etc/", "/root/.ssh/"};

// "1m".."24h" (the events API's spans: minutes, hours, one day) in seconds.
std::chrono::seconds snapshot_interval(const json& config) {
  const std::string text = config.value("snapshot_interval", kDefaultSnapshotInterval);
  const char* field = "snapshot_interval";
  Span span;
  try {
    span = parse_span(text);
  } catch (const std::invalid_argument& e) {
    throw bad_request(field, "'snapshot_interval': " + std::string(e.what()));
  }
  // The span's length as the events API measures it back from now (a
  // calendar month is over 24 h either way).
  const TimeNs now = now_ns();
  const int64_t seconds = (now - span_start(span, now)) / 1'000'000'000;
  if (seconds < 60 || seconds > 86400)
    throw bad_request(field, "'snapshot_interval' must be from 1m to 24h, got \"" + text + "\"");
  return std::chrono::seconds(seconds);
}

std::vector<std::string> strings(const json& config, const char* field,
                                 const std::vector<std::string>& fallback) {
  auto it = config.find(field);
  return it == config.end() ? fallback : it->get<std::vector<std::string>>();
}

uint32_t kinds_of(const json& config) {
  uint32_t bits = 0;
  for (const MonitorKind& k : kKinds) {
    const auto kinds = config.find("kinds");
    if (kinds == config.end() || std::find(kinds->begin(), kinds->end(), k.name) != kinds->end())
      bits |= ADAM_MON_KIND_BIT(k.code);
  }
  return bits;
}

mon::KernelConfig kernel_config(const json& config) {
  mon::KernelConfig k;
  k.kinds = kinds_of(config);
  k.args_max = config.value("args_max", kDefaultArgsMax);
  k.path_prefixes = strings(config, "path_prefixes", kDefaultPrefixes);
  if (auto uids = config.find("uids"); uids != config.end()) k.uids = uids->get<std::vector<uint32_t>>();
  k.comms = strings(config, "comms", {});
  const std::string mount = mon::cgroup2_mount();
  for (const std::string& path : strings(config, "cgroups", {}))
    k.cgroup_ids.push_back(mon::cgroup_id(mount, path));
  k.ignore_self = config.value("ignore_self", true);
  k.ring_buffer_kb = config.value("ring_buffer_kb", kDefaultRingBufferKb);
  return k;
}

// A process.seen event's data: the process fields of every monitor event,
// and what an exec would have said.
json seen_data(const mon::Process& p) {
  return {{"pid", p.pid},
          {"tid", p.pid},
          {"ppid", p.ppid},
          {"uid", p.uid},
          {"gid", p.gid},
          {"comm", p.comm},
          {"cgroup_id", p.cgroup_id},
          {"exec_id", p.exec_id},
          {"parent_exec_id", p.parent_exec_id},
          {"filename", p.filename},
          {"args", p.args},
          {"args_truncated", p.args_truncated},
          {"started", p.started},
          {"seeded", true}};
}

}  // namespace

MonitorPlugin::MonitorPlugin(PluginContext& ctx)
    : ctx_(ctx), clock_(mon::BootClock::read()), table_(std::make_unique<mon::ProcessTable>()) {}

MonitorPlugin::~MonitorPlugin() {
  stop_snapshots();
  std::lock_guard lock(mu_);
  kernel_.reset();  // nothing pinned: the programs go with adamd
}

std::string MonitorPlugin::description() const {
  return "Process monitor: records exec, fork, exit, outgoing connects and opens of files under watched "
         "prefixes as events carrying each process's exec id, keeps a process table seeded from /proc "
         "(parent chains back to pid 1, for processes older than adamd too) and rebuilds the process tree "
         "of any past moment from the stored events.";
}

std::string MonitorPlugin::unsupported_reason(const KernelFeatures& features) const {
  if (!features.has("ringbuf")) return "BPF ring buffers are missing: " + features.detail("ringbuf");
  if (!features.has("tp_btf") && !features.has("raw_tp"))
    return "neither tp_btf (" + features.detail("tp_btf") + ") nor raw_tp (" + features.detail("raw_tp") +
           ") programs attach";
  if (!features.has("tracepoint"))
    return "tracepoint programs (the syscall tracepoints) are missing: " + features.detail("tracepoint");
  return "";
}

json MonitorPlugin::config_schema() const {
  std::vector<std::string> kinds;
  for (const MonitorKind& k : kKinds) kinds.push_back(k.name);
  ConfigSchema schema;
  schema.field({.name = "kinds",
                .type = "array",
                .items = "string",
                .help = "the event kinds recorded: process.exec, process.fork, process.exit, net.connect, "
                        "file.open (lineage is kept whatever is recorded)",
                .default_value = kinds,
                .max_items = static_cast<int64_t>(kinds.size())});
  schema.field({.name = "args_max",
                .type = "integer",
                .help = "bytes of argv kept per exec (longer ones are cut and marked args_truncated)",
                .default_value = kDefaultArgsMax,
                .minimum = 0,
                .maximum = ADAM_MON_ARGS_MAX});
  schema.field({.name = "path_prefixes",
                .type = "array",
                .items = "string",
                .help = "file.open only for paths under one of these absolute prefixes (each < " +
                        std::to_string(ADAM_MON_PATH_MAX) + " bytes)",
                .default_value = kDefaultPrefixes,
                .max_items = ADAM_MON_MAX_PREFIXES});
  schema.field({.name = "uids",
                .type = "array",
                .items = "integer",
                .help = "record only these users' events (none: every user)",
                .default_value = json::array(),
                .max_items = ADAM_MON_MAX_UIDS});
  schema.field({.name = "comms",
                .type = "array",
                .items = "string",
                .help = "record only these commands' events (names of at most 15 bytes; none: every command)",
                .default_value = json::array(),
                .max_items = ADAM_MON_MAX_COMMS});
  schema.field({.name = "cgroups",
                .type = "array",
                .items = "string",
                .help = "record only processes in or below these cgroup v2 paths, e.g. /system.slice (none: "
                        "every cgroup)",
                .default_value = json::array(),
                .max_items = ADAM_MON_MAX_CGROUPS});
  schema.field({.name = "ignore_self",
                .type = "boolean",
                .help = "leave out adamd's own activity and its direct children's",
                .default_value = true});
  schema.field({.name = "max_processes",
                .type = "integer",
                .help = "the live process table's bound in adamd (exited processes are evicted first)",
                .default_value = kDefaultMaxProcesses,
                .minimum = 1024,
                .maximum = 1'000'000});
  schema.field({.name = "ring_buffer_kb",
                .type = "integer",
                .help = "size of the ring buffer to adamd in KiB, a power of two",
                .default_value = kDefaultRingBufferKb,
                .minimum = 4,
                .maximum = 262144});
  schema.field({.name = "snapshot_interval",
                .type = "string",
                .help = "how often the process table is read again from /proc into the store, 1m to 24h",
                .default_value = kDefaultSnapshotInterval});
  return schema.to_json();
}

void MonitorPlugin::validate(const json& config) const {
  Plugin::validate(config);  // fields, types, bounds, item counts
  auto each = [&](const char* field, auto check) {
    if (auto it = config.find(field); it != config.end())
      for (size_t i = 0; i < it->size(); ++i)
        check((*it)[i], std::string(field) + "[" + std::to_string(i) + "]");
  };
  each("kinds", [](const json& kind, const std::string& field) {
    if (std::none_of(std::begin(kKinds), std::end(kKinds),
                     [&](const MonitorKind& k) { return kind == k.name; }))
      throw bad_request(field, "'" + field +
                                   "' must be one of process.exec, process.fork, process.exit, net.connect, "
                                   "file.open, got " +
                                   kind.dump());
  });
  each("path_prefixes", [](const json& prefix, const std::string& field) {
    const std::string path = prefix.get<std::string>();
    if (path.empty() || path[0] != '/')
      throw bad_request(field, "'" + field + "' must be an absolute path, got \"" + path + "\"");
    if (path.size() >= ADAM_MON_PATH_MAX)
      throw bad_request(
          field, "'" + field + "' must be shorter than " + std::to_string(ADAM_MON_PATH_MAX) + " bytes");
  });
  each("uids", [](const json& uid, const std::string& field) {
    const bool in_range = uid.is_number_unsigned()
                              ? uid.get<uint64_t>() <= std::numeric_limits<uint32_t>::max()
                              : uid.is_number_integer() && uid.get<int64_t>() >= 0 &&
                                    uid.get<int64_t>() <= std::numeric_limits<uint32_t>::max();
    if (!in_range)
      throw bad_request(field, "'" + field + "' must be a uid from 0 to 4294967295, got " + uid.dump());
  });
  each("comms", [](const json& comm, const std::string& field) {
    const std::string name = comm.get<std::string>();
    if (name.empty() || name.size() >= ADAM_MON_COMM_LEN)
      throw bad_request(field,
                        "'" + field + "' must be a command name of 1 to 15 bytes, got \"" + name + "\"");
  });
  const std::string mount = mon::cgroup2_mount();
  each("cgroups", [&](const json& cgroup, const std::string& field) {
    const std::string path = cgroup.get<std::string>();
    if (path.empty() || path[0] != '/' || path.find("/..") != std::string::npos)
      throw bad_request(
          field, "'" + field + "' must be a cgroup v2 path such as /system.slice, got \"" + path + "\"");
    if (mon::cgroup_id(mount, path) == 0)
      throw bad_request(field, "'" + field + "': no cgroup " + path +
                                   (mount.empty() ? " (cgroup v2 is not mounted)" : " under " + mount));
  });
  if (auto kb = config.find("ring_buffer_kb"); kb != config.end()) {
    const uint64_t n = kb->get<uint64_t>();
    if ((n & (n - 1)) != 0)
      throw bad_request("ring_buffer_kb", "'ring_buffer_kb' must be a power of two, got " + kb->dump());
  }
  snapshot_interval(config);
}

void MonitorPlugin::start(const json& config) {
  std::lock_guard lock(mu_);
  if (kernel_) throw conflict("the monitor is already running");
  const mon::KernelConfig kernel = kernel_config(config);
  const auto interval = snapshot_interval(config);
  UndoStack undo;
  table_->clear();
  table_->set_capacity(config.value("max_processes", kDefaultMaxProcesses));
  kernel_ = std::make_unique<mon::Kernel>(kernel, ctx_.features, clock_, ctx_.events, *table_);
  undo.push("the monitor's BPF programs", [this] {
    kernel_.reset();
    table_->clear();
  });
  config_ = config;
  // After the attach: a process that execs or exits from now on is the
  // programs' to report, and /proc has every older one.
  publish_snapshot("start");
  {
    std::lock_guard snapshot_lock(snapshot_mu_);
    snapshot_stop_ = false;
  }
  snapshots_ = std::thread([this, interval] { snapshot_loop(interval); });
  undo.dismiss();
  spdlog::info("monitor: running ({}; {} processes)", kernel_->hooks(), table_->size());
}

void MonitorPlugin::publish_snapshot(const std::string& reason) {
  const TimeNs round_start = now_ns();
  // What the programs know of a process (they saw it fork or exec since
  // they were attached) is fresher than /proc, and /proc hides some tags.
  const auto processes = mon::scan_processes(clock_, config_.value("args_max", kDefaultArgsMax),
                                             [this](uint32_t tgid) { return kernel_->known(tgid); });
  kernel_->seed(processes);
  // Every read is stamped with the round's start, before /proc was read:
  // an exec or exit that raced the read is then newer than it, and the
  // table (live, and as ?at= replays it) keeps the newer.
  std::set<std::string> found;
  for (const mon::ScannedProcess& s : processes) {
    const json data = seen_data(s.process);
    table_->apply("process.seen", data, round_start);
    if (ctx_.events) ctx_.events->publish("monitor", "process.seen", mon::event_text(data), round_start);
    found.insert(s.process.exec_id);
  }
  if (const size_t missed = table_->end_round(found, round_start))
    spdlog::warn("monitor: {} processes gone from /proc whose exit was not seen (lost events): marked exited",
                 missed);
  if (ctx_.events)
    ctx_.events->publish(
        "monitor", "process.snapshot",
        json{{"round_start", round_start}, {"processes", processes.size()}, {"reason", reason}}.dump());
}

void MonitorPlugin::snapshot_loop(std::chrono::seconds interval) {
  std::unique_lock lock(snapshot_mu_);
  while (!snapshot_cv_.wait_for(lock, interval, [this] { return snapshot_stop_; })) {
    lock.unlock();
    try {
      std::lock_guard running(mu_);
      if (kernel_) publish_snapshot("periodic");
    } catch (const std::exception& e) {
      spdlog::warn("monitor: the periodic /proc snapshot failed: {}", e.what());
    }
    lock.lock();
  }
}

void MonitorPlugin::stop_snapshots() {
  {
    std::lock_guard lock(snapshot_mu_);
    snapshot_stop_ = true;
  }
  snapshot_cv_.notify_all();
  if (snapshots_.joinable()) snapshots_.join();
}

void MonitorPlugin::stop() {
  stop_snapshots();
  std::lock_guard lock(mu_);
  kernel_.reset();  // detaches, then drains the ring buffer into the store
  table_->clear();
  config_ = nullptr;
  spdlog::info("monitor: stopped");
}

json MonitorPlugin::stats() const {
  std::lock_guard lock(mu_);
  if (!kernel_) return {{"running", false}};
  json events = json::object();
  for (const MonitorKind& k : kKinds) events[k.name] = kernel_->decoded(k.code);
  return {{"running", true},
          {"hooks", kernel_->hooks()},
          {"processes", table_->size()},
          {"capacity", table_->capacity()},
          {"evictions", table_->evictions()},
          {"exits_missed", table_->exits_missed()},
          {"events", events},
          {"lost", kernel_->kernel_lost()},
          {"kernel_processes", kernel_->kernel_processes()},
          {"kernel_capacity", ADAM_MON_PROCS}};
}

std::string MonitorPlugin::summary() const {
  std::lock_guard lock(mu_);
  if (!kernel_) return {};
  return kernel_->hooks() + "; " + std::to_string(table_->size()) + " processes";
}

void MonitorPlugin::metrics(MetricsWriter& w) const {
  std::lock_guard lock(mu_);
  if (!kernel_) return;
  w.family("adam_monitor_events_total", "counter", "events the monitor's programs reported, by kind");
  for (const MonitorKind& k : kKinds)
    w.sample("adam_monitor_events_total", {{"kind", k.name}}, static_cast<double>(kernel_->decoded(k.code)));
  w.family("adam_monitor_processes", "gauge", "processes in the monitor's live table");
  w.sample("adam_monitor_processes", {}, static_cast<double>(table_->size()));
  w.family("adam_monitor_processes_capacity", "gauge", "the live table's bound (max_processes)");
  w.sample("adam_monitor_processes_capacity", {}, static_cast<double>(table_->capacity()));
  w.family("adam_monitor_process_evictions_total", "counter", "processes evicted from the full live table");
  w.sample("adam_monitor_process_evictions_total", {}, static_cast<double>(table_->evictions()));
  w.family("adam_monitor_exits_missed_total", "counter",
           "live processes a /proc round found gone whose exit event was lost");
  w.sample("adam_monitor_exits_missed_total", {}, static_cast<double>(table_->exits_missed()));
}

json MonitorPlugin::counters() const {
  std::lock_guard lock(mu_);
  json out = json::object();
  for (const MonitorKind& k : kKinds)
    if (*k.counter) out[k.counter] = kernel_ ? kernel_->decoded(k.code) : 0;
  return out;
}

}  // namespace adam
