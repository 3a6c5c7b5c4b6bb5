// The process monitor's cost, against no monitor and two peers, in one run
// (issue #11 "Performance"). Each round runs every configuration once, the
// order rotated from round to round so a slow moment of the machine does not
// land on one configuration only:
//   none      nothing watching;
//   monitor   a real build/adamd (own state dir, pin dir and port) with the
//             monitor started through the API with every event kind on;
//   auditd    Linux audit: Debian's auditd (started by the bench with its own
//             config directory and log when none runs) and the rule
//             `-a always,exit -F arch=b64 -S execve,execveat`;
//   bpftrace  Debian's bpftrace printing one line per
//             tracepoint:sched:sched_process_exec into a pipe the bench drains.
// In each: an exec storm (--execs posix_spawn of /bin/true, each waited for)
// and, for none and monitor, an open storm (--opens openat+close of a file
// outside the watched prefixes). Prints one JSON line: median wall times,
// overhead against none, events stored and lost, adamd's CPU (user+sys)
// from the storm's start until its events are stored, the peers' records,
// and the targets as booleans. A peer that cannot run is "skipped" with the
// reason. Audit is left as found: our rule deleted by its key, our auditd
// stopped, the kernel's enabled flag set back.
// Usage (root): build/bench/monitor_bench [--execs 5000] [--opens 200000] [--rounds 5]
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
namespace fs = std::filesystem;

std::atomic<bool> interrupted{false};

void check_interrupted() {
  if (interrupted) throw std::runtime_error("interrupted");
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double wall_now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// utime + stime of every thread of `pid`, in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  for (int i = 3; i < 14; ++i) rest >> field;  // state .. cmajflt
  long utime = 0, stime = 0;
  rest >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The CPU (user + sys) of the bench and of its waited-for children so far:
// a storm's own cost, in its processes (where the BPF programs run too), which
// other work on the machine shifts less than the wall time.
double storm_cpu_seconds() {
  double total = 0;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage u{};
    ::getrusage(who, &u);
    for (const timeval& t : {u.ru_utime, u.ru_stime})
      total += static_cast<double>(t.tv_sec) + t.tv_usec / 1e6;
  }
  return total;
}

pid_t spawn(const std::vector<std::string>& argv, int stdout_fd = -1) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdout_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDERR_FILENO);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A command's exit status and its output (stdout and stderr).
struct CommandResult {
  int status = -1;
  std::string output;
};

CommandResult run(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  CommandResult r;
  pid_t pid = -1;
  try {
    pid = spawn(argv, fds[1]);
  } catch (const std::exception& e) {
    ::close(fds[0]);
    ::close(fds[1]);
    return {127, e.what()};
  }
  ::close(fds[1]);
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;)
    if (n > 0)
      r.output.append(buf, static_cast<size_t>(n));
    else if (errno != EINTR)
      break;
  ::close(fds[0]);
  r.status = wait_for(pid);
  return r;
}

bool executable(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin"})
    if (::access((std::string(dir) + "/" + name).c_str(), X_OK) == 0) return true;
  return false;
}

// The storms. Each returns its wall time; the pids of the exec storm's
// children are kept to find their events.
double exec_storm(int n, std::set<int>* pids) {
  const std::vector<std::string> argv = {"/bin/true"};
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    check_interrupted();
    const pid_t pid = spawn(argv);
    if (pids) pids->insert(pid);
    if (wait_for(pid) != 0) throw std::runtime_error("/bin/true failed");
  }
  return seconds_since(t0);
}

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

// build/adamd, as the tests start it: temporary state dir, own pin dir,
// a free port on 127.0.0.1; removed with everything it made.
class Adamd {
 public:
  Adamd() {
    const std::string tag = "adamt-monbench-" + std::to_string(::getpid());
    dir_ = "/tmp/" + tag;
    pins_ = "/sys/fs/bpf/" + tag;
    fs::create_directories(dir_);
    port_ = 19000 + static_cast<int>(::getpid() % 1000);
    const int log = ::open((dir_ + ".log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_ = spawn({ADAM_BUILD_DIR "/adamd", "--state-dir", dir_ + "/state", "--pin-dir", pins_, "--listen",
                  "127.0.0.1:" + std::to_string(port_), "--log-level", "warn"},
                 log);
    ::close(log);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(60);
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (!client_->Get("/healthz")) {
      if (Clock::now() > deadline) throw std::runtime_error("adamd did not start; see " + dir_ + ".log");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::ifstream token_file(dir_ + "/state/admin.token");
    std::string token;
    std::getline(token_file, token);
    auth_ = {{"Authorization", "Bearer " + token}};
  }
  ~Adamd() {
    ::kill(pid_, SIGTERM);
    wait_for(pid_);
    fs::remove_all(pins_);
    fs::remove_all(dir_);
    fs::remove(dir_ + ".log");
  }
  Adamd(const Adamd&) = delete;
  Adamd& operator=(const Adamd&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }

  json get(const std::string& path) {
    auto r = client_->Get(path, auth_);
    if (!r || r->status != 200) throw std::runtime_error("GET " + path + " failed");
    return json::parse(r->body);
  }
  std::string metrics() {
    auto r = client_->Get("/metrics", auth_);
    if (!r || r->status != 200) throw std::runtime_error("GET /metrics failed");
    return r->body;
  }
  // The plugin's state after the call, or the error's message.
  std::string post(const std::string& path) {
    auto r = client_->Post(path, auth_, "{}", "application/json");
    if (!r) return "no answer";
    const json body = json::parse(r->body, nullptr, false);
    if (r->status != 200) return body.contains("error") ? body["error"].dump() : r->body;
    const std::string reason = body.contains("reason") && body["reason"].is_string() ? body["reason"] : "";
    return body.value("state", "?") + (reason.empty() ? "" : ": " + reason);
  }

  double monitor_stored() { return metric_sum(metrics(), "adamd_events_stored_total", "plugin=\"monitor\""); }

  // Waits until what happened so far is stored: the exit of a marker
  // process run now is, and the ring buffer and the writer's queue hand
  // events on in order. Returns the monitor's events stored since the
  // count was `stored_before`.
  double settle(double stored_before) {
    const double since = wall_now_s() - 1;
    const pid_t marker = spawn({"/bin/true"});
    wait_for(marker);
    const std::string query =
        "/api/v1/events?plugin=monitor&kind=process.exit&limit=1&data.pid=" + std::to_string(marker) +
        "&since=" + std::to_string(since);
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (get(query)["events"].empty()) {
      check_interrupted();
      if (Clock::now() > deadline) throw std::runtime_error("the marker's exit was not stored within 60 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return monitor_stored() - stored_before;
  }

  // How many of `pids` have a stored process.exec event between the two instants.
  int execs_recorded(const std::set<int>& pids, double since_s, double until_s) {
    int found = 0;
    std::string path =
        "/api/v1/events?plugin=monitor&kind=process.exec&limit=10000&since=" + std::to_string(since_s) +
        "&until=" + std::to_string(until_s);
    for (;;) {
      const json page = get(path);
      for (const auto& e : page["events"])
        if (pids.count(e["data"].value("pid", -1))) ++found;
      if (page["next_cursor"].is_null()) return found;
      path = page["links"]["next"].get<std::string>();
    }
  }

 private:
  std::string dir_, pins_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::unique_ptr<httplib::Client> client_;
  httplib::Headers auth_;
};

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

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// `v` with `digits` decimals (divided, not multiplied back, so the JSON
// shows 0.5781 rather than 0.5781000000000001).
double round_to(double v, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

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
  if (none) s["exec_overhead_pct"] = round_to((median(runs.exec_s) / median(none->exec_s) - 1) * 100, 2);
  s["exec_storm_cpu_s"] = round_to(median(runs.exec_cpu_s), 3);
  if (none)
    s["exec_cpu_overhead_pct"] = round_to((median(runs.exec_cpu_s) / median(none->exec_cpu_s) - 1) * 100, 2);
  if (!runs.open_s.empty()) {
    s["open_median_s"] = round_to(median(runs.open_s), 4);
    s["open_storm_cpu_s"] = round_to(median(runs.open_cpu_s), 3);
    if (none)
      s["open_cpu_overhead_pct"] =
          round_to((median(runs.open_cpu_s) / median(none->open_cpu_s) - 1) * 100, 2);
    s["open_runs_ms"] = ms(runs.open_s);
    if (none) s["open_overhead_pct"] = round_to((median(runs.open_s) / median(none->open_s) - 1) * 100, 2);
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
  struct sigaction on_signal {};
  on_signal.sa_handler = [](int) { interrupted = true; };
  ::sigaction(SIGINT, &on_signal, nullptr);
  ::sigaction(SIGTERM, &on_signal, nullptr);

  enum Config { none, monitor, audit, bpftrace };
  const char* names[] = {"none", "monitor", "auditd", "bpftrace"};
  Runs runs[4];
  int code = 0;
  std::unique_ptr<Adamd> adamd;
  std::unique_ptr<Audit> audit_peer;
  Bpftrace bpftrace_peer;
  try {
    adamd = std::make_unique<Adamd>();
    audit_peer = std::make_unique<Audit>(adamd->dir());
    const std::string open_target = adamd->dir() + "/open-target";  // under no watched prefix
    std::ofstream(open_target) << "x";

    const std::string started = adamd->post("/api/v1/plugins/monitor/start");
    if (started != "running") runs[monitor].skipped = "monitor does not start: " + started;
    adamd->post("/api/v1/plugins/monitor/stop");
    runs[audit].skipped = audit_peer->probe();
    runs[bpftrace].skipped = bpftrace_peer.probe();
    const double lost_before = metric_sum(adamd->metrics(), "adamd_events_lost_total");

    exec_storm(std::max(execs / 10, 1), nullptr);  // warm the page cache and the allocator
    open_storm(std::max(opens / 10, 1), open_target);

    std::vector<Config> order;
    for (Config c : {none, monitor, audit, bpftrace})
      if (runs[c].skipped.empty()) order.push_back(c);
    for (int round = 0; round < rounds; ++round) {
      for (size_t k = 0; k < order.size(); ++k) {
        const Config c = order[(k + static_cast<size_t>(round)) % order.size()];
        Runs& r = runs[c];
        json record = json::object();
        if (c == monitor) {
          const std::string state = adamd->post("/api/v1/plugins/monitor/start");
          if (state != "running") throw std::runtime_error("monitor did not start: " + state);
          adamd->settle(0);  // the seeding from /proc is stored before the storm
        } else if (c == audit) {
          audit_peer->start();
        } else if (c == bpftrace) {
          bpftrace_peer.start();
        }
        const pid_t peer = c == audit      ? audit_peer->daemon_pid()
                           : c == bpftrace ? bpftrace_peer.daemon_pid()
                                           : -1;
        const double peer_cpu0 = peer > 0 ? cpu_seconds(peer) : 0;
        const double stored0 =
            metric_sum(adamd->metrics(), "adamd_events_stored_total", "plugin=\"monitor\"");
        double cpu0 = cpu_seconds(adamd->pid());
        const double wall0 = wall_now_s();
        std::set<int> pids;
        double storm_cpu0 = storm_cpu_seconds();
        r.exec_s.push_back(exec_storm(execs, &pids));
        r.exec_cpu_s.push_back(storm_cpu_seconds() - storm_cpu0);
        const double wall1 = wall_now_s();
        if (c == monitor) {
          record["events_stored"] = adamd->settle(stored0);
          r.adamd_exec_cpu_s.push_back(cpu_seconds(adamd->pid()) - cpu0);
          record["execs_recorded"] = adamd->execs_recorded(pids, wall0 - 1, wall1 + 1);
        }
        if (peer > 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the peer's output drained
          r.peer_cpu_s.push_back(cpu_seconds(peer) - peer_cpu0);
        }
        if (c == none || c == monitor) {
          const double stored1 =
              metric_sum(adamd->metrics(), "adamd_events_stored_total", "plugin=\"monitor\"");
          cpu0 = cpu_seconds(adamd->pid());
          storm_cpu0 = storm_cpu_seconds();
          r.open_s.push_back(open_storm(opens, open_target));
          r.open_cpu_s.push_back(storm_cpu_seconds() - storm_cpu0);
          if (c == monitor) {
            record["open_storm_events_stored"] = adamd->settle(stored1);
            r.adamd_open_cpu_s.push_back(cpu_seconds(adamd->pid()) - cpu0);
          }
        }
        if (c == monitor) {
          adamd->post("/api/v1/plugins/monitor/stop");
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
    for (Config c : {none, monitor, audit, bpftrace})
      result[names[c]] = summary(runs[c], c == none ? nullptr : &runs[none]);
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
    std::ifstream loadavg("/proc/loadavg");
    std::string load1;
    loadavg >> load1;
    result["load_avg_1m_at_end"] = std::stod(load1);
    std::cout << result.dump() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "monitor_bench: " << e.what() << "\n";
    code = 1;
  }
  bpftrace_peer.stop();
  if (audit_peer) audit_peer->stop();
  adamd.reset();
  return code;
}
