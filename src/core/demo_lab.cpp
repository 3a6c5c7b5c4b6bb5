#include "core/demo_lab.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace adam {

namespace {

// Runs an iproute2 command line; throws with the command on failure.
void ip(const std::string& args, bool may_fail = false) {
  const std::string cmd = "ip " + args + (may_fail ? " >/dev/null 2>&1" : "");
  const int rc = std::system(cmd.c_str());
  if (rc != 0 && !may_fail) throw std::runtime_error("demo lab: '" + cmd + "' failed");
}

// Starts a background command with its output discarded. It ends with
// adamd even when adamd is killed and no destructor runs: the parent-death
// signal, which the kernel sends when the forking thread ends (adamd's main
// thread builds the lab) and which root's exec of ping keeps.
pid_t spawn(const std::vector<std::string>& argv) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("demo lab: fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(0);  // adamd ended before the prctl
    const int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

DemoLab::DemoLab() {
  remove();
  try {
    const std::string ns = kNetns;
    const std::string host = kHostIface;
    ip("netns add " + ns);
    ip("link add " + host + " type veth peer name eth0 netns " + ns);
    ip("addr add 198.51.100.1/24 dev " + host);
    ip("addr add 2001:db8:100::1/64 dev " + host + " nodad");
    ip("link set " + host + " up");
    ip("-n " + ns + " addr add 198.51.100.2/24 dev eth0");
    ip("-n " + ns + " addr add 2001:db8:100::2/64 dev eth0 nodad");
    ip("-n " + ns + " link set eth0 up");
    ip("-n " + ns + " link set lo up");
    traffic_.push_back(spawn({"ip", "netns", "exec", ns, "ping", "-q", "-i", "1", "198.51.100.1"}));
    traffic_.push_back(spawn({"ip", "netns", "exec", ns, "ping", "-q", "-i", "1", "2001:db8:100::1"}));
    traffic_.push_back(spawn({"ping", "-q", "-i", "1", "198.51.100.2"}));
  } catch (...) {
    remove();
    throw;
  }
  spdlog::info(
      "demo lab up: {} (198.51.100.1, 2001:db8:100::1) <-> netns {} eth0 (198.51.100.2, 2001:db8:100::2), "
      "ping traffic both ways",
      kHostIface, kNetns);
}

DemoLab::~DemoLab() {
  remove();
  spdlog::info("demo lab removed");
}

void DemoLab::remove() {
  for (pid_t pid : traffic_) {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
  traffic_.clear();
  // Deleting the namespace deletes its veth end, which takes the host end too.
  ip(std::string("netns pids ") + kNetns + " | xargs -r kill", true);
  ip(std::string("netns delete ") + kNetns, true);
  ip(std::string("link delete ") + kHostIface, true);
}

}  // namespace adam
