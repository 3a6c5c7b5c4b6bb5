#include "support/adamd.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <strings.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "support/sanitizers.h"

namespace adam::test {

nlohmann::json HttpResponse::json() const {
  auto j = nlohmann::json::parse(body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON (status " << status << "): " << body;
  return j;
}

std::string HttpResponse::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  return {};
}

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
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

Adamd::Adamd(Options options) : options_(std::move(options)) {
  char tmpl[] = "/tmp/adamt-state-XXXXXX";
  state_dir_ = ::mkdtemp(tmpl);
  log_path_ = state_dir_ + ".log";
  {
    std::optional<ScopedNetns> in_ns;
    if (!options_.netns.empty()) in_ns.emplace(options_.netns);
    port_ = free_port();
  }
  start();
}

Adamd::~Adamd() {
  if (running()) stop();
  std::error_code ec;
  std::filesystem::remove_all(state_dir_, ec);
  std::filesystem::remove(log_path_, ec);
}

std::string Adamd::url() const {
  return (options_.https ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_);
}

void Adamd::start() {
  ASSERT_FALSE(running()) << "adamd is running already";
  std::vector<std::string> argv = {options_.binary.empty() ? ADAM_BUILD_DIR "/adamd" : options_.binary,
                                   "--state-dir",
                                   state_dir_,
                                   "--pin-dir",
                                   pins_.path(),
                                   "--listen",
                                   options_.listen_host + ":" + std::to_string(port_),
                                   "--log-level",
                                   "debug"};
  argv.insert(argv.end(), options_.args.begin(), options_.args.end());
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!options_.netns.empty()) {
      const int fd = ::open(("/run/netns/" + options_.netns).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) ::_exit(126);
    }
    const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ::dup2(log, 1);
    ::dup2(log, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  pid_ = pid;
  if (!options_.wait_healthy) return;
  const auto limit = scaled(std::chrono::seconds(30));
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      log_checked_ = log().size();
      FAIL() << "adamd exited during start (status " << status << "):\n" << log();
    }
    if (get("/healthz", "-").status == 200) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL() << "adamd did not answer /healthz within " << limit.count() << " ms:\n" << log();
}

void Adamd::exited() {
  pid_ = -1;
  // A sanitizer report ends the process (halt_on_error) or comes at its exit
  // (leaks): either way it is in the log, whatever the test expected of the
  // exit status. Only the part written since the last check, as start()
  // appends to the same log.
  const std::string all = log();
  const std::string report = sanitizer_report(all.substr(std::min(log_checked_, all.size())));
  log_checked_ = all.size();
  if (!report.empty()) ADD_FAILURE() << "adamd (" << log_path_ << ") reported:\n" << report;
}

int Adamd::wait_exit(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (pid_ > 0) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited();
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

int Adamd::stop() {
  if (!running()) return -1;
  ::kill(pid_, SIGTERM);
  const auto limit = scaled(std::chrono::seconds(30));
  const int rc = wait_exit(static_cast<int>(limit.count()));
  if (rc == -1) {
    ADD_FAILURE() << "adamd did not exit within " << limit.count() << " ms of SIGTERM:\n" << log();
    kill9();
  }
  return rc;
}

void Adamd::kill9() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  exited();
}

std::string Adamd::admin_token() const {
  std::ifstream in(state_dir_ + "/admin.token");
  std::string token;
  std::getline(in, token);
  return token;
}

std::string Adamd::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

HttpResponse Adamd::request(const std::string& method, const std::string& path, const std::string& body,
                            const std::string& token,
                            const std::map<std::string, std::string>& headers) const {
  std::optional<ScopedNetns> in_ns;
  if (!options_.netns.empty()) in_ns.emplace(options_.netns);
  httplib::Client cli(url());
  // Tests trust their own adamd; what a client checks of its certificate is
  // the machine registry's business (machines_test.cpp).
  cli.enable_server_certificate_verification(false);
  cli.set_connection_timeout(5);
  cli.set_read_timeout(60);
  httplib::Headers h;
  if (token != "-") h.emplace("Authorization", "Bearer " + (token.empty() ? admin_token() : token));
  std::string content_type = "application/json";
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), "Content-Type") == 0)
      content_type = v;
    else
      h.emplace(k, v);
  }
  httplib::Result r = method == "GET"      ? cli.Get(path, h)
                      : method == "PUT"    ? cli.Put(path, h, body, content_type)
                      : method == "DELETE" ? cli.Delete(path, h, body, content_type)
                                           : cli.Post(path, h, body, content_type);
  HttpResponse out;
  if (!r) return out;
  out.status = r->status;
  out.body = r->body;
  for (const auto& [k, v] : r->headers) out.headers.emplace(k, v);
  return out;
}

}  // namespace adam::test

namespace adam::test {

void expect_api_error(const HttpResponse& r, int status, const std::string& code, const std::string& field) {
  EXPECT_EQ(r.status, status) << r.body;
  const nlohmann::json body = r.json();
  ASSERT_TRUE(body.contains("error")) << r.body;
  if (!code.empty()) {
    EXPECT_EQ(body["error"]["code"], code) << r.body;
  }
  EXPECT_FALSE(body["error"].value("message", "").empty()) << r.body;
  if (!field.empty()) {
    EXPECT_EQ(body["error"].value("field", ""), field) << r.body;
  }
}

void AdamdTest::SetUp() {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  adamd_ = std::make_unique<Adamd>();
  ASSERT_TRUE(adamd_->running());
}

void NetnsAdamdTest::SetUp() {
  if (!have_root()) GTEST_SKIP() << "needs root (network namespaces, BPF)";
  pair_ = std::make_unique<NetnsPair>();
  Adamd::Options o;
  o.netns = pair_->b();
  adamd_ = std::make_unique<Adamd>(o);
  ASSERT_TRUE(adamd_->running());
}

void NetnsAdamdTest::TearDown() {
  adamd_.reset();
  pair_.reset();
}

}  // namespace adam::test
