#pragma once
// A real build/adamd for integration tests: its own temporary state dir, a
// free port on 127.0.0.1, its own bpffs pin dir, optionally inside a network
// namespace of the test's. Everything is removed by the destructor.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/netns.h"

namespace adam::test {

struct HttpResponse {
  int status = 0;  // 0: no answer (connection refused, ...)
  std::string body;
  std::multimap<std::string, std::string> headers;
  nlohmann::json json() const;  // parsed body; fails the test when it is not JSON
  std::string header(const std::string& name) const;
};

class Adamd {
 public:
  struct Options {
    std::string netns;                      // run adamd (and requests) inside this namespace
    std::vector<std::string> args;          // extra flags
    bool wait_healthy = true;               // wait for /healthz before returning
    std::string binary;                     // the adamd to run; empty: build/adamd
    std::string listen_host = "127.0.0.1";  // 0.0.0.0: also reachable over the test's veths
    bool https = false;                     // it serves HTTPS (args has --tls-self-signed or --tls-cert)
  };
  explicit Adamd(Options options);
  Adamd() : Adamd(Options{}) {}
  ~Adamd();
  Adamd(const Adamd&) = delete;
  Adamd& operator=(const Adamd&) = delete;

  void start();  // starts the process (again) on the same state dir, port and pins
  int stop();    // SIGTERM, waits; returns the exit status (as from waitpid's WEXITSTATUS, 128+sig if killed)
  void kill9();  // SIGKILL, waits
  bool running() const { return pid_ > 0; }
  int pid() const { return pid_; }  // for /proc/<pid>/status (RSS)
  int wait_exit(int timeout_ms);    // for a process that should exit on its own; -1 on timeout

  int port() const { return port_; }
  std::string url() const;  // http:// or https://127.0.0.1:<port>
  const std::string& state_dir() const { return state_dir_; }
  const std::string& pin_dir() const { return pins_.path(); }
  const std::string& netns() const { return options_.netns; }
  std::string admin_token() const;  // read from <state-dir>/admin.token
  std::string log() const;          // what adamd printed so far

  // One HTTP request to this adamd (from inside its namespace when it has one).
  // token: "" = the admin token, "-" = no Authorization header.
  HttpResponse request(const std::string& method, const std::string& path, const std::string& body = "",
                       const std::string& token = "",
                       const std::map<std::string, std::string>& headers = {}) const;
  HttpResponse get(const std::string& path, const std::string& token = "") const {
    return request("GET", path, "", token);
  }
  HttpResponse post(const std::string& path, const std::string& body = "{}",
                    const std::string& token = "") const {
    return request("POST", path, body, token);
  }

 private:
  Options options_;
  std::string state_dir_;
  std::string log_path_;
  PinDir pins_;
  int port_ = 0;
  int pid_ = -1;
  size_t log_checked_ = 0;  // how much of the log exited() has read for sanitizer reports
  void exited();            // the process is reaped: fails the test if its log has a new report
};

}  // namespace adam::test

#include <gtest/gtest.h>

#include <memory>

namespace adam::test {

// Fails the test unless `r` is the API's error with this status, code
// (when given) and field (when given).
void expect_api_error(const HttpResponse& r, int status, const std::string& code,
                      const std::string& field = "");

// A fresh adamd per test, on loopback in the host's network namespace.
class AdamdTest : public ::testing::Test {
 protected:
  void SetUp() override;
  Adamd& d() { return *adamd_; }
  std::unique_ptr<Adamd> adamd_;
};

// A fresh NetnsPair per test with adamd running in namespace b.
class NetnsAdamdTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;  // adamd goes before its namespace
  std::unique_ptr<NetnsPair> pair_;
  std::unique_ptr<Adamd> adamd_;
};

}  // namespace adam::test
