// The process monitor's cost, against no monitor and two peers, in one run
// (issue #11 "Performance"). Each round runs every configuration once, the
// order rotated from round to round so a slow moment of the machine does not
// land on one configuration only:
//   none      nothing watching;
//   monitor   a real build/adamd (own state dir, pin dir and port) with the
//             monitor started through the API with every event kind on;
//   hooks     an empty program on each of the monitor's exec, fork, exit and
//             syscall tracepoints (bench/monitor_hooks.bpf.c): what hooking
//             there costs before a program does anything, the monitor's floor;
//   auditd    Linux audit: Debian's auditd (started by the bench with its own
//             config directory and log when none runs) and the rule
//             `-a always,exit -F arch=b64 -S execve,execveat`;
//   bpftrace  Debian's bpftrace printing one line per
//             tracepoint:sched:sched_process_exec into a pipe the bench drains.
// In each: an exec storm (--execs posix_spawn of /bin/true, each waited for)
// and, for none, monitor and hooks, an open storm (--opens openat+close of a file
// outside the watched prefixes). Prints one JSON line: median wall times,
// overhead against none (the median of the per-round ratios), events stored
// and lost, adamd's CPU (user+sys) from the storm's start until its events
// are stored, the peers' records, and the targets as booleans. A peer that cannot run is "skipped" with the
// reason. Audit is left as found: our rule deleted by its key, our auditd
// stopped, the kernel's enabled flag set back.
// It refuses to run while another monitor's programs are loaded.
// Usage (root): build/bench/monitor_bench [--execs 5000] [--opens 200000] [--rounds 5]
#include <bpf/bpf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/bpf_handle.h"
#include "monitor_hooks.skel.h"
#include "support/bench_support.h"

namespace {

using namespace adam::bench;
using nlohmann::json;
namespace fs = std::filesystem;

// The open storm: returns its wall time.
double open_storm(int n, const std::string& path) {
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    if (i % 4096 == 0) check_interrupted();
    const int fd = ::openat(AT_FDCWD, path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("open " + path + " failed");
    ::close(fd);
  }
  return seconds_since(t0);
}

// The sum of the samples of family `name` whose labels contain `label`
// (e.g. plugin="monitor"), from Prometheus text.
double metric_sum(const std::string& text, const std::string& name, const std::string& label = "") {
  double sum = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name, 0) != 0 ||
        (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' '))
      continue;
    if (!label.empty() && line.find(label) == std::string::npos) continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

json metric_by_label(const std::string& text, const std::string& name, const std::string& label_key) {
  json out = json::object();
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + "{", 0) != 0) continue;
    const auto at = line.find(label_key + "=\"");
    if (at == std::string::npos) continue;
    const auto from = at + label_key.size() + 2;
    const std::string value = line.substr(from, line.find('"', from) - from);
    out[value] = out.value(value, 0.0) + std::stod(line.substr(line.rfind(' ') + 1));
  }
  return out;
}

double monitor_stored(Adamd& adamd) {
  return metric_sum(adamd.metrics(), "adamd_events_stored_total", "plugin=\"monitor\"");
}

// Waits until what happened so far is stored: the exit of a marker process
// run now is, and the ring buffer and the writer's queue hand events on in
// order. Returns the monitor's events stored since the count was
// `stored_before`.
double settle(Adamd& adamd, double stored_before) {
  const double since = wall_now_s() - 1;
  const pid_t marker = spawn({"/bin/true"});
  wait_for(marker);
  const std::string query =
      "/api/v1/events?plugin=monitor&kind=process.exit&limit=1&data.pid=" + std::to_string(marker) +
      "&since=" + std::to_string(since);
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (adamd.get(query)["events"].empty()) {
    check_interrupted();
    if (Clock::now() > deadline) throw std::runtime_error("the marker's exit was not stored within 60 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return monitor_stored(adamd) - stored_before;
}

// How many of `pids` have a stored process.exec event between the two instants.
int execs_recorded(Adamd& adamd, const std::set<int>& pids, double since_s, double until_s) {
  int found = 0;
  std::string path =
      "/api/v1/events?plugin=monitor&kind=process.exec&limit=10000&since=" + std::to_string(since_s) +
      "&until=" + std::to_string(until_s);
  for (;;) {
    const json page = adamd.get(path);
    for (const auto& e : page["events"])
      if (pids.count(e["data"].value("pid", -1))) ++found;
    if (page["next_cursor"].is_null()) return found;
    path = page["links"]["next"].get<std::string>();
  }
}

// Linux audit as the peer: the kernel's state at the start is put back at
// the end of every round.
class Audit {
 public:
  explicit Audit(const std::string& work_dir) : dir_(work_dir + "/audit") {}

  // Empty when audit can run here, else why not.
  std::string probe() {
    if (!executable("auditctl") || !executable("auditd")) return "auditd/auditctl not installed";
    const CommandResult s = run({"auditctl", "-s"});
    if (s.status != 0) return "auditctl -s failed (kernel without audit?): " + s.output;
    initial_enabled_ = status_field(s.output, "enabled");
    system_auditd_ = status_field(s.output, "pid") != "0";
    if (initial_enabled_ == "2") return "audit is locked (enabled 2): rules cannot be changed";
    return "";
  }

  void start() {
    if (!system_auditd_) start_own_auditd();
    const CommandResult add = run(rule("-a"));
    if (add.status != 0) throw std::runtime_error("auditctl -a failed: " + add.output);
    lost_before_ = lost();
  }

  // Removes our rule and our auditd; puts the enabled flag back. Safe to
  // call again.
  void stop() {
    run(rule("-d"));
    if (auditd_ > 0) {
      ::kill(auditd_, SIGTERM);
      wait_for(auditd_);
      auditd_ = -1;
    }
    if (!system_auditd_ && !initial_enabled_.empty()) run({"auditctl", "-e", initial_enabled_});
  }

  pid_t daemon_pid() const { return auditd_; }

  // What audit wrote for the round: EXECVE records in our log (unknown with
  // a system auditd, whose log is not ours) and the kernel's lost count.
  json recorded() {
    json r = {{"kernel_lost", lost() - lost_before_}};
    if (system_auditd_) return r;
    long execve = 0;  // audit.log and the files auditd rotated it into
    for (const auto& file : fs::directory_iterator(dir_)) {
      if (file.path().filename().string().rfind("audit.log", 0) != 0) continue;
      std::ifstream log(file.path());
      for (std::string line; std::getline(log, line);)
        if (line.rfind("type=EXECVE ", 0) == 0) ++execve;
    }
    r["execve_records"] = execve;
    return r;
  }

 private:
  static std::vector<std::string> rule(const std::string& op) {
    return {"auditctl",        op,   "always,exit",       "-F", "arch=b64", "-S",
            "execve,execveat", "-k", "adam-monitor-bench"};
  }

  static std::string status_field(const std::string& status, const std::string& key) {
    std::istringstream lines(status);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind(key + " ", 0) == 0) return line.substr(key.size() + 1);
    return "";
  }

  long lost() {
    const std::string v = status_field(run({"auditctl", "-s"}).output, "lost");
    return v.empty() ? 0 : std::stol(v);
  }

  // Debian's auditd.conf with the log, the plugins and libwrap moved out of
  // the way, so the bench writes nothing under /var/log or /etc.
  void start_own_auditd() {
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/plugins.d");
    std::ifstream in("/etc/audit/auditd.conf");
    std::ofstream out(dir_ + "/auditd.conf");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("log_file ", 0) == 0) line = "log_file = " + dir_ + "/audit.log";
      if (line.rfind("log_group ", 0) == 0) line = "log_group = root";
      if (line.rfind("plugin_dir ", 0) == 0) line = "plugin_dir = " + dir_ + "/plugins.d";
      if (line.rfind("use_libwrap ", 0) == 0) line = "use_libwrap = no";
      out << line << "\n";
    }
    out.close();
    fs::permissions(dir_ + "/auditd.conf", fs::perms::owner_read | fs::perms::owner_write);
    const int log = ::open((dir_ + "/auditd.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    auditd_ = spawn({"auditd", "-n", "-c", dir_}, log);
    ::close(log);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (status_field(run({"auditctl", "-s"}).output, "pid") != std::to_string(auditd_)) {
      if (Clock::now() > deadline)
        throw std::runtime_error("auditd did not register; see " + dir_ + "/auditd.out");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  std::string dir_;
  std::string initial_enabled_;
  bool system_auditd_ = false;
  pid_t auditd_ = -1;
  long lost_before_ = 0;
};

// bpftrace as the peer: one printed line per exec, read by a thread.
class Bpftrace {
 public:
  std::string probe() { return executable("bpftrace") ? "" : "bpftrace not installed"; }

  void start() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = spawn({"bpftrace", "-e",
                  "tracepoint:sched:sched_process_exec { printf(\"%d %d %s\\n\", pid, args->old_pid, "
                  "str(args->filename)); }"},
                 fds[1]);
    ::close(fds[1]);
    lines_ = 0;
    attached_ = false;
    reader_ = std::thread([this, fd = fds[0]] { drain(fd); });
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (!attached_) {
      if (Clock::now() > deadline) throw std::runtime_error("bpftrace did not attach");
      check_interrupted();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGINT);
      wait_for(pid_);
      pid_ = -1;
    }
    if (reader_.joinable()) reader_.join();
  }

  pid_t daemon_pid() const { return pid_; }
  json recorded() const { return {{"lines", lines_.load()}}; }

 private:
  void drain(int fd) {
    std::string pending;
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] != '\n') {
          if (!attached_) pending += buf[i];
          continue;
        }
        // bpftrace says "Attaching 1 probe..." once the probe is on.
        if (!attached_)
          attached_ = pending.rfind("Attaching", 0) == 0;
        else
          ++lines_;
        pending.clear();
      }
    }
    ::close(fd);
  }

  pid_t pid_ = -1;
  std::thread reader_;
  std::atomic<bool> attached_{false};
  std::atomic<long> lines_{0};
};

// The ids of loaded BPF programs named like the monitor's (mon_*): another
// adamd's monitor, whose hooks would be in every configuration of this run
// (the floor, and the target, then look met).
std::vector<uint32_t> monitor_programs_loaded() {
  std::vector<uint32_t> found;
  for (uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
    adam::UniqueFd fd(bpf_prog_get_fd_by_id(id));
    if (!fd) continue;  // gone since
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0 && std::string_view(info.name).starts_with("mon_"))
      found.push_back(id);
  }
  return found;
}

// The `hooks` configuration: bench/monitor_hooks.bpf.c loaded once,
// attached for a round and detached after it.
class Hooks {
 public:
  // Why the programs cannot run here, or "".
  std::string probe() {
    skel_.reset(monitor_hooks_bpf__open_and_load());
    return skel_ ? "" : "bench/monitor_hooks.bpf.c does not load: " + adam::libbpf_error(-errno);
  }
  void attach() {
    if (int err = monitor_hooks_bpf__attach(skel_.get()))
      throw std::runtime_error("attaching bench/monitor_hooks.bpf.c failed: " + adam::libbpf_error(err));
  }
  void detach() {
    if (skel_) monitor_hooks_bpf__detach(skel_.get());
  }

 private:
  adam::SkeletonPtr<monitor_hooks_bpf, monitor_hooks_bpf__destroy> skel_;
};

// One configuration's runs, summarised for the JSON.
struct Runs {
  std::string skipped;  // why it could not run
  std::vector<double> exec_s, open_s, exec_cpu_s, open_cpu_s, adamd_exec_cpu_s, adamd_open_cpu_s, peer_cpu_s;
  json records = json::array();  // per round: events stored, peer records
};

json summary(const Runs& runs, const Runs* none) {
  if (!runs.skipped.empty()) return {{"skipped", runs.skipped}};
  auto ms = [](const std::vector<double>& v) {
    json out = json::array();
    for (double s : v) out.push_back(round_to(s * 1000, 1));
    return out;
  };
  json s = {{"exec_median_s", round_to(median(runs.exec_s), 4)}, {"exec_runs_ms", ms(runs.exec_s)}};
  if (!runs.records.empty()) s["rounds"] = runs.records;
  if (none) s["exec_overhead_pct"] = paired_overhead_pct(runs.exec_s, none->exec_s);
  s["exec_storm_cpu_s"] = round_to(median(runs.exec_cpu_s), 3);
  if (none) s["exec_cpu_overhead_pct"] = paired_overhead_pct(runs.exec_cpu_s, none->exec_cpu_s);
  if (!runs.open_s.empty()) {
    s["open_median_s"] = round_to(median(runs.open_s), 4);
    s["open_storm_cpu_s"] = round_to(median(runs.open_cpu_s), 3);
    if (none) s["open_cpu_overhead_pct"] = paired_overhead_pct(runs.open_cpu_s, none->open_cpu_s);
    s["open_runs_ms"] = ms(runs.open_s);
    if (none) s["open_overhead_pct"] = paired_overhead_pct(runs.open_s, none->open_s);
  }
  if (!runs.adamd_exec_cpu_s.empty()) {
    s["adamd_cpu_exec_storm_s"] = round_to(median(runs.adamd_exec_cpu_s), 2);
    s["adamd_cpu_open_storm_s"] = round_to(median(runs.adamd_open_cpu_s), 2);
  }
  if (!runs.peer_cpu_s.empty()) s["daemon_cpu_exec_storm_s"] = round_to(median(runs.peer_cpu_s), 2);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int execs = 5000, opens = 200000, rounds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--execs")
      execs = value;
    else if (flag == "--opens")
      opens = value;
    else if (flag == "--rounds")
      rounds = value;
    else {
      std::cerr << "unknown option " << flag << "\n";
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::cerr << "monitor_bench: needs root\n";
    return 1;
  }
  stop_on_signals();
  if (const std::vector<uint32_t> others = monitor_programs_loaded(); !others.empty()) {
    std::cerr << "monitor_bench: " << others.size() << " monitor programs are loaded already (ids";
    for (uint32_t id : others) std::cerr << " " << id;
    std::cerr << "; bpftool prog show): stop the adamd whose monitor runs, its hooks would be in every "
                 "configuration\n";
    return 1;
  }

  enum Config { none, monitor, hooks, audit, bpftrace, kConfigs };
  const char* names[kConfigs] = {"none", "monitor", "hooks", "auditd", "bpftrace"};
  Runs runs[kConfigs];
  int code = 0;
  std::unique_ptr<Adamd> adamd;
  std::unique_ptr<Audit> audit_peer;
  Bpftrace bpftrace_peer;
  Hooks hooks_floor;
  try {
    adamd = std::make_unique<Adamd>("monbench");
    audit_peer = std::make_unique<Audit>(adamd->dir());
    const std::string open_target = adamd->dir() + "/open-target";  // under no watched prefix
    std::ofstream(open_target) << "x";

    const std::string started = adamd->post("/api/v1/plugins/monitor/start");
    if (started != "running") runs[monitor].skipped = "monitor does not start: " + started;
    adamd->post("/api/v1/plugins/monitor/stop");
    runs[hooks].skipped = hooks_floor.probe();
    runs[audit].skipped = audit_peer->probe();
    runs[bpftrace].skipped = bpftrace_peer.probe();
    const double lost_before = metric_sum(adamd->metrics(), "adamd_events_lost_total");

    exec_storm(std::max(execs / 10, 1), nullptr);  // warm the page cache and the allocator
    open_storm(std::max(opens / 10, 1), open_target);

    std::vector<Config> order;
    for (Config c : {none, monitor, hooks, audit, bpftrace})
      if (runs[c].skipped.empty()) order.push_back(c);
    for (int round = 0; round < rounds; ++round) {
      for (size_t k = 0; k < order.size(); ++k) {
        const Config c = order[(k + static_cast<size_t>(round)) % order.size()];
        Runs& r = runs[c];
        json record = json::object();
        if (c == monitor) {
          const std::string state = adamd->post("/api/v1/plugins/monitor/start");
          if (state != "running") throw std::runtime_error("monitor did not start: " + state);
          settle(*adamd, 0);  // the seeding from /proc is stored before the storm
        } else if (c == hooks) {
          hooks_floor.attach();
        } else if (c == audit) {
          audit_peer->start();
        } else if (c == bpftrace) {
          bpftrace_peer.start();
        }
        const pid_t peer = c == audit      ? audit_peer->daemon_pid()
                           : c == bpftrace ? bpftrace_peer.daemon_pid()
                                           : -1;
        const double peer_cpu0 = peer > 0 ? cpu_seconds(peer) : 0;
        const double stored0 = monitor_stored(*adamd);
        double cpu0 = cpu_seconds(adamd->pid());
        const double wall0 = wall_now_s();
        std::set<int> pids;
        double storm_cpu0 = storm_cpu_seconds();
        r.exec_s.push_back(exec_storm(execs, &pids));
        r.exec_cpu_s.push_back(storm_cpu_seconds() - storm_cpu0);
        const double wall1 = wall_now_s();
        if (c == monitor) {
          record["events_stored"] = settle(*adamd, stored0);
          r.adamd_exec_cpu_s.push_back(cpu_seconds(adamd->pid()) - cpu0);
          record["execs_recorded"] = execs_recorded(*adamd, pids, wall0 - 1, wall1 + 1);
        }
        if (peer > 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the peer's output drained
          r.peer_cpu_s.push_back(cpu_seconds(peer) - peer_cpu0);
        }
        if (c == none || c == monitor || c == hooks) {
          const double stored1 = monitor_stored(*adamd);
          cpu0 = cpu_seconds(adamd->pid());
          storm_cpu0 = storm_cpu_seconds();
          r.open_s.push_back(open_storm(opens, open_target));
          r.open_cpu_s.push_back(storm_cpu_seconds() - storm_cpu0);
          if (c == monitor) {
            record["open_storm_events_stored"] = settle(*adamd, stored1);
            r.adamd_open_cpu_s.push_back(cpu_seconds(adamd->pid()) - cpu0);
          }
        }
        if (c == monitor) {
          adamd->post("/api/v1/plugins/monitor/stop");
        } else if (c == hooks) {
          hooks_floor.detach();
        } else if (c == audit) {
          audit_peer->stop();
          record = audit_peer->recorded();
        } else if (c == bpftrace) {
          bpftrace_peer.stop();
          record = bpftrace_peer.recorded();
        }
        if (!record.empty()) r.records.push_back(record);
      }
    }

    const std::string metrics = adamd->metrics();
    const double lost = metric_sum(metrics, "adamd_events_lost_total") - lost_before;
    json result = {{"execs", execs}, {"opens", opens}, {"rounds", rounds}};
    for (Config c : {none, monitor, hooks, audit, bpftrace})
      result[names[c]] = summary(runs[c], c == none ? nullptr : &runs[none]);
    if (runs[monitor].skipped.empty() && runs[hooks].skipped.empty() && rounds > 0) {
      // What the monitor's programs add to the floor of their hooks, round by round.
      result["monitor"]["exec_overhead_over_hooks_pct"] =
          paired_overhead_pct(runs[monitor].exec_s, runs[hooks].exec_s);
      result["monitor"]["open_overhead_over_hooks_pct"] =
          paired_overhead_pct(runs[monitor].open_s, runs[hooks].open_s);
    }
    result["events_lost"] = lost;
    result["events_lost_by_reason"] = metric_by_label(metrics, "adamd_events_lost_total", "reason");
    json targets = json::object();
    if (runs[monitor].skipped.empty() && rounds > 0) {
      const double exec_overhead = result["monitor"]["exec_overhead_pct"];
      targets["exec_overhead_le_5pct"] = exec_overhead <= 5;
      for (Config peer : {audit, bpftrace})
        if (runs[peer].skipped.empty())
          targets[std::string("exec_overhead_le_") + names[peer]] =
              exec_overhead <= result[names[peer]]["exec_overhead_pct"].get<double>();
      targets["open_overhead_le_3pct"] = result["monitor"]["open_overhead_pct"].get<double>() <= 3;
      targets["zero_lost"] = lost == 0;
      bool all_recorded = true;
      for (const auto& rec : runs[monitor].records)
        all_recorded = all_recorded && rec["execs_recorded"] == execs;
      targets["every_exec_recorded"] = all_recorded;
    }
    result["targets"] = targets;
    result["load_avg_1m_at_end"] = load_avg_1m();
    std::cout << result.dump() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "monitor_bench: " << e.what() << "\n";
    code = 1;
  }
  bpftrace_peer.stop();
  hooks_floor.detach();
  if (audit_peer) audit_peer->stop();
  adamd.reset();
  return code;
}
