#pragma once
// What the benchmarks that drive processes and a real adamd share: running
// commands, the CPU a storm and a daemon spent, the exec storm, medians, and
// build/adamd started as the tests start it. Every helper throws
// std::runtime_error on failure; a bench catches it in main and cleans up.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace httplib {
class Client;
}

namespace adam::bench {

using Clock = std::chrono::steady_clock;

// Set by SIGINT/SIGTERM once stop_on_signals() ran: the storms stop at their
// next check, so the bench cleans up instead of dying half-way.
extern std::atomic<bool> interrupted;
void stop_on_signals();
void check_interrupted();  // throws when interrupted

double seconds_since(Clock::time_point t0);
double wall_now_s();  // seconds since the epoch, as the event store's timestamps

// utime + stime of every thread of `pid`, in seconds.
double cpu_seconds(pid_t pid);
// The CPU (user + sys) of the bench and of its waited-for children so far:
// a storm's own cost, in its processes (where the BPF programs run too), which
// other work on the machine shifts less than the wall time.
double storm_cpu_seconds();

// posix_spawnp of argv; stdout and stderr to `output_fd` when given.
pid_t spawn(const std::vector<std::string>& argv, int output_fd = -1);
// The exit status, 128 + signal when killed.
int wait_for(pid_t pid);

struct CommandResult {
  int status = -1;
  std::string output;  // stdout and stderr
};
CommandResult run(const std::vector<std::string>& argv);
// run(), throwing with the output unless the command exits 0.
std::string run_checked(const std::vector<std::string>& argv);
bool executable(const std::string& name);  // in /usr/sbin, /usr/bin, /sbin or /bin

// `n` posix_spawn of /bin/true, each waited for; returns the wall time. The
// children's pids go to `pids` when given (to find their events).
double exec_storm(int n, std::set<int>* pids = nullptr);

double median(std::vector<double> v);
// The median of the per-round ratios runs[i] / base[i], as a percentage
// above 1: rounds run seconds apart, so a slow stretch of a shared machine
// weighs on both sides of a ratio, where a ratio of medians mixes rounds.
double paired_overhead_pct(const std::vector<double>& runs, const std::vector<double>& base);
// `v` with `digits` decimals (divided, not multiplied back, so the JSON
// shows 0.5781 rather than 0.5781000000000001).
double round_to(double v, int digits);
double load_avg_1m();

// build/adamd, as the tests start it: a temporary state dir and pin dir named
// after `name` and the bench's pid, a free port on 127.0.0.1; removed with
// everything it made.
class Adamd {
 public:
  explicit Adamd(const std::string& name);
  ~Adamd();
  Adamd(const Adamd&) = delete;
  Adamd& operator=(const Adamd&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }

  struct Reply {
    int status = 0;  // 0: no answer
    nlohmann::json body;
  };
  Reply request(const std::string& method, const std::string& path, const nlohmann::json& body = {});
  nlohmann::json get(const std::string& path);  // throws unless 200
  std::string metrics();                        // GET /metrics, throws unless 200
  // POST to a plugin action (start, stop): the plugin's state after the
  // call ("running", "failed: <reason>"), or the error's message.
  std::string post(const std::string& path);

 private:
  std::string dir_, pins_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::unique_ptr<httplib::Client> client_;
  std::string token_;
};

}  // namespace adam::bench
