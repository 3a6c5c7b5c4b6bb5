// The HTTP server under abuse: /healthz and rule-add latency (p50/p99) of a
// real build/adamd, idle and then with --slow slow-header connections and
// --streams SSE streams open, and adamd's peak RSS. Prints one JSON line.
// Usage (root): build/bench/http_abuse [--slow 200] [--streams 200] [--requests 200]
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("cannot connect to adamd");
  return fd;
}

long status_kb(int pid, const std::string& key) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(key + ":", 0) == 0) return std::atol(line.c_str() + key.size() + 1);
  return -1;
}

json percentiles(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))]; };
  return {{"p50_ms", at(0.5)}, {"p99_ms", at(0.99)}};
}

struct Latencies {
  json healthz, rule_add;
};

Latencies measure(httplib::Client& cli, const httplib::Headers& auth, int n, int& next_rule) {
  std::vector<double> healthz, add;
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    auto h = cli.Get("/healthz");
    if (!h || h->status != 200) throw std::runtime_error("/healthz failed");
    healthz.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    const std::string rule =
        json{{"action", "drop"},
             {"match", {{"src", {"203.0.113." + std::to_string(next_rule % 250) + "/32"}}}},
             {"name", "bench-" + std::to_string(next_rule)}}
            .dump();
    ++next_rule;
    t0 = Clock::now();
    auto a = cli.Post("/api/v1/firewall/rules", auth, rule, "application/json");
    if (!a || a->status != 201) throw std::runtime_error("rule add failed");
    add.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return {percentiles(healthz), percentiles(add)};
}

}  // namespace

int main(int argc, char** argv) {
  int slow_count = 200, stream_count = 200, requests = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--slow")
      slow_count = value;
    else if (flag == "--streams")
      stream_count = value;
    else if (flag == "--requests")
      requests = value;
    else {
      std::cerr << "unknown option " << flag << "\n";
      return 2;
    }
  }
  const std::string dir = "/tmp/adamt-httpbench-" + std::to_string(::getpid());
  const std::string pins = "/sys/fs/bpf/adamt-httpbench-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const int port = 19000 + static_cast<int>(::getpid() % 1000);
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::freopen((dir + ".log").c_str(), "w", stdout);
    std::freopen((dir + ".log").c_str(), "a", stderr);
    ::execl(ADAM_BUILD_DIR "/adamd", "adamd", "--state-dir", dir.c_str(), "--pin-dir", pins.c_str(),
            "--listen", ("127.0.0.1:" + std::to_string(port)).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int code = 0;
  std::vector<int> fds;
  try {
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(30);
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (!cli.Get("/healthz")) {
      if (Clock::now() > deadline) throw std::runtime_error("adamd did not start");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::ifstream token_file(dir + "/admin.token");
    std::string token;
    std::getline(token_file, token);
    const httplib::Headers auth = {{"Authorization", "Bearer " + token}};
    const long idle_rss = status_kb(pid, "VmRSS");
    int next_rule = 0;
    const Latencies idle = measure(cli, auth, requests, next_rule);

    // Streams are limited per token (16): viewer tokens enough for them all.
    std::vector<std::string> viewers;
    for (int i = 0; i * 16 < stream_count; ++i) {
      auto r = cli.Post("/api/v1/tokens", auth, json{{"name", "bench-viewer-" + std::to_string(i)}}.dump(),
                        "application/json");
      if (!r || r->status != 201) throw std::runtime_error("token create failed");
      viewers.push_back(json::parse(r->body)["token"]);
    }
    for (int i = 0; i < slow_count; ++i) {
      fds.push_back(connect_to(port));
      const std::string partial = "GET /healthz HTTP/1.1\r\nHo";
      ::send(fds.back(), partial.data(), partial.size(), MSG_NOSIGNAL);
    }
    for (int i = 0; i < stream_count; ++i) {
      fds.push_back(connect_to(port));
      const std::string req = "GET /api/v1/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                              viewers[static_cast<size_t>(i / 16)] + "\r\n\r\n";
      ::send(fds.back(), req.data(), req.size(), MSG_NOSIGNAL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // all accepted and streaming
    const Latencies loaded = measure(cli, auth, requests, next_rule);
    auto ratio = [](const json& loaded_p, const json& idle_p) {
      return loaded_p["p50_ms"].get<double>() / std::max(idle_p["p50_ms"].get<double>(), 1e-3);
    };
    json result = {{"requests", requests},
                   {"slow_connections", slow_count},
                   {"sse_streams", stream_count},
                   {"idle", {{"healthz", idle.healthz}, {"rule_add", idle.rule_add}}},
                   {"loaded", {{"healthz", loaded.healthz}, {"rule_add", loaded.rule_add}}},
                   {"p50_ratio_loaded_to_idle",
                    {{"healthz", ratio(loaded.healthz, idle.healthz)},
                     {"rule_add", ratio(loaded.rule_add, idle.rule_add)}}},
                   {"idle_rss_kb", idle_rss},
                   {"peak_rss_kb", status_kb(pid, "VmHWM")}};
    std::cout << result.dump() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "http_abuse: " << e.what() << "\n";
    code = 1;
  }
  for (int fd : fds) ::close(fd);
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  std::filesystem::remove_all(pins);
  std::filesystem::remove_all(dir);
  std::filesystem::remove(dir + ".log");
  return code;
}
