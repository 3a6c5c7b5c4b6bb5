// The cost of the lsm plugin's fanotify back end on exec (docs/lsm.md
// "fanotify"): an exec storm (posix_spawn of a copy of /bin/true, each
// waited for) in four configurations, each round running every one once in
// a rotated order:
//   none       no back end;
//   unmarked   the back end enforcing a deny policy elsewhere: the binary
//              is outside every mark, the kernel asks nobody;
//   named_not  the binary's directory marked (a policy names a file there
//              that does not exist yet): every exec is an event, answered
//              after the path check alone;
//   decided    the binary under a deny policy's prefix whose scope excludes
//              the bench (scope.uid): every exec is an event decided in
//              full (subject from /proc, first_match) and allowed.
// Prints one JSON line: median wall time per exec, the overhead against
// none, and the back end's own answer times (read → answered).
// Usage (root): build/bench/lsm_fanotify_bench [--execs 5000] [--rounds 5]
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "plugins/lsm/enforcer.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
namespace fs = std::filesystem;
using namespace adam::lsm;

double exec_storm_us(const std::string& path, int execs) {
  char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
  const auto start = Clock::now();
  for (int i = 0; i < execs; ++i) {
    pid_t pid = 0;
    if (int err = ::posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv, environ); err)
      throw std::runtime_error("posix_spawn " + path + ": " + std::strerror(err));
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error(path + " did not run");
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / execs;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

Policy exec_policy(int64_t id, std::vector<std::string> paths) {
  Policy p;
  p.id = id;
  p.name = "bench " + std::to_string(id);
  p.kind = Kind::exec;
  p.action = Action::deny;
  p.match.path = p.resolved.path = std::move(paths);
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  int execs = 5000, rounds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--execs")
      execs = std::stoi(argv[i + 1]);
    else if (arg == "--rounds")
      rounds = std::stoi(argv[i + 1]);
    else {
      std::cerr << "usage: lsm_fanotify_bench [--execs N] [--rounds N]\n";
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::cerr << "lsm_fanotify_bench needs root (fanotify permission events)\n";
    return 2;
  }
  char tmpl[] = "/tmp/adam-lsm-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  const std::string root = fs::canonical(tmpl).string();
  int rc = 0;
  try {
    for (const char* dir : {"/free", "/dir", "/scoped", "/elsewhere"}) fs::create_directories(root + dir);
    for (const char* copy : {"/free/true", "/dir/true", "/scoped/true"})
      fs::copy_file("/bin/true", root + copy);
    Policy scoped = exec_policy(3, {root + "/scoped/"});
    scoped.scope.uid = {4242424};
    // What each configuration enforces, and the binary its storm runs.
    struct Config {
      std::string name;
      std::optional<std::vector<Policy>> policies;  // nullopt: no back end
      std::string binary;
    };
    const std::vector<Config> configs{
        {"none", std::nullopt, root + "/free/true"},
        {"unmarked", std::vector{exec_policy(1, {root + "/elsewhere/"})}, root + "/free/true"},
        {"named_not", std::vector{exec_policy(2, {root + "/dir/later"})}, root + "/dir/true"},
        {"decided", std::vector{scoped}, root + "/scoped/true"},
    };
    std::map<std::string, std::vector<double>> us;
    std::map<std::string, json> stats;
    for (int round = 0; round < rounds; ++round) {
      for (size_t k = 0; k < configs.size(); ++k) {
        const Config& c = configs[(k + round) % configs.size()];
        std::unique_ptr<Enforcer> enforcer;
        if (c.policies) {
          FanotifySetup setup;
          setup.kinds[ADAM_LSM_KIND_EXEC] = true;
          setup.exempt_tgid = 0;  // the bench's children are the subjects
          enforcer = make_fanotify_enforcer(setup);
          enforcer->apply(*c.policies);
        }
        us[c.name].push_back(exec_storm_us(c.binary, execs));
        if (enforcer) stats[c.name] = enforcer->stats();
      }
    }
    json out{{"bench", "lsm_fanotify"}, {"execs", execs}, {"rounds", rounds}};
    const double none = median(us["none"]);
    for (const auto& c : configs) {
      json entry{{"exec_us", median(us[c.name])}};
      if (c.name != "none") entry["overhead_pct"] = (median(us[c.name]) / none - 1) * 100;
      if (stats.count(c.name)) {
        entry["answered"] = stats[c.name]["answered"];
        entry["answer_us_avg"] = stats[c.name]["answer_us_avg"];
        entry["answer_us_max"] = stats[c.name]["answer_us_max"];
      }
      out[c.name] = entry;
    }
    std::cout << out.dump() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "lsm_fanotify_bench: " << e.what() << "\n";
    rc = 1;
  }
  fs::remove_all(root);
  return rc;
}
