#include "support/bench_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace adam::bench {

namespace fs = std::filesystem;
using nlohmann::json;

std::atomic<bool> interrupted{false};

void stop_on_signals() {
  struct sigaction on_signal {};
  on_signal.sa_handler = [](int) { interrupted = true; };
  ::sigaction(SIGINT, &on_signal, nullptr);
  ::sigaction(SIGTERM, &on_signal, nullptr);
}

void check_interrupted() {
  if (interrupted) throw std::runtime_error("interrupted");
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double wall_now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

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

pid_t spawn(const std::vector<std::string>& argv, int output_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (output_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, output_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, output_fd, STDERR_FILENO);
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

std::string run_checked(const std::vector<std::string>& argv) {
  const CommandResult r = run(argv);
  if (r.status != 0) {
    std::string command;
    for (const auto& a : argv) command += (command.empty() ? "" : " ") + a;
    throw std::runtime_error(command + " failed (" + std::to_string(r.status) + "): " + r.output);
  }
  return r.output;
}

bool executable(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin"})
    if (::access((std::string(dir) + "/" + name).c_str(), X_OK) == 0) return true;
  return false;
}

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

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double paired_overhead_pct(const std::vector<double>& runs, const std::vector<double>& base) {
  std::vector<double> ratios;
  for (size_t i = 0; i < runs.size() && i < base.size(); ++i) ratios.push_back(runs[i] / base[i]);
  return round_to((median(ratios) - 1) * 100, 2);
}

double round_to(double v, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

double load_avg_1m() {
  std::ifstream loadavg("/proc/loadavg");
  double load1 = 0;
  loadavg >> load1;
  return load1;
}

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

Adamd::Adamd(const std::string& name) {
  const std::string tag = "adamt-" + name + "-" + std::to_string(::getpid());
  dir_ = "/tmp/" + tag;
  pins_ = "/sys/fs/bpf/" + tag;
  fs::create_directories(dir_);
  port_ = free_port();
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
  std::getline(token_file, token_);
}

Adamd::~Adamd() {
  ::kill(pid_, SIGTERM);
  wait_for(pid_);
  fs::remove_all(pins_);
  fs::remove_all(dir_);
  fs::remove(dir_ + ".log");
}

Adamd::Reply Adamd::request(const std::string& method, const std::string& path, const json& body) {
  const httplib::Headers auth = {{"Authorization", "Bearer " + token_}};
  const std::string text = body.is_null() ? "" : body.dump();
  httplib::Result r = method == "GET"      ? client_->Get(path, auth)
                      : method == "DELETE" ? client_->Delete(path, auth, text, "application/json")
                      : method == "PUT"    ? client_->Put(path, auth, text, "application/json")
                                           : client_->Post(path, auth, text, "application/json");
  if (!r) return {};
  return {r->status, json::parse(r->body, nullptr, false)};
}

json Adamd::get(const std::string& path) {
  Reply r = request("GET", path);
  if (r.status != 200) throw std::runtime_error("GET " + path + " failed (" + std::to_string(r.status) + ")");
  return r.body;
}

std::string Adamd::metrics() {
  auto r = client_->Get("/metrics", {{"Authorization", "Bearer " + token_}});
  if (!r || r->status != 200) throw std::runtime_error("GET /metrics failed");
  return r->body;
}

std::string Adamd::post(const std::string& path) {
  const Reply r = request("POST", path, json::object());
  if (r.status == 0) return "no answer";
  if (r.status != 200) return r.body.contains("error") ? r.body["error"].dump() : r.body.dump();
  const std::string reason =
      r.body.contains("reason") && r.body["reason"].is_string() ? r.body["reason"].get<std::string>() : "";
  return r.body.value("state", "?") + (reason.empty() ? "" : ": " + reason);
}

}  // namespace adam::bench
