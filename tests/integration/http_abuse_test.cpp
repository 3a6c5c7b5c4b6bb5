// adamd's HTTP server under abuse, as an attacker with no token or a viewer
// token would try it: slow headers, many streams, huge and chunked bodies,
// many headers, deep nesting, bad UTF-8 and numbers. The API must keep
// answering, refuse each with a 4xx JSON error, and stay within its memory.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/adamd.h"
#include "support/netns.h"

namespace adam::test {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// A raw connection to adamd: what an attacker sends is not what a client
// library would.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawConnection() { close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  bool send(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads until `until` appears, the peer closes, or the time is up.
  std::string read(std::chrono::milliseconds timeout, const std::string& until = "\r\n\r\n") {
    const auto deadline = Clock::now() + timeout;
    while (received_.find(until) == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      char buf[16384];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_by_peer_ = true;
        break;
      }
      received_.append(buf, static_cast<size_t>(n));
    }
    return received_;
  }
  // The response's status (0: none yet).
  int status(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const std::string r = read(timeout);
    if (r.rfind("HTTP/1.1 ", 0) != 0) return 0;
    return std::atoi(r.c_str() + 9);
  }
  // Whether the peer closed the connection within the time.
  bool closed_within(std::chrono::milliseconds timeout) {
    read(timeout, std::string(1, '\0') + "never");
    return closed_by_peer_;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Ends both directions, the descriptor kept: a send() blocked in another
  // thread returns (closing it there would race with that thread's read of
  // the descriptor and could hand its number to another file).
  void shutdown() { ::shutdown(fd_, SHUT_RDWR); }

 private:
  int fd_;
  bool connected_ = false;
  bool closed_by_peer_ = false;
  std::string received_;
};

long rss_kb(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

constexpr long kRssBudgetKb = 64 * 1024;

std::string request_head(const std::string& method, const std::string& path, const std::string& token,
                         const std::string& extra = "") {
  return method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
         (token.empty() ? "" : "Authorization: Bearer " + token + "\r\n") + extra + "\r\n";
}

class HttpAbuseTest : public AdamdTest {
 protected:
  std::string viewer_token(const std::string& name) {
    auto r = d().post("/api/v1/tokens", json{{"name", name}, {"role", "viewer"}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["token"];
  }
  // Milliseconds a request took, failing the test unless it got `status`.
  long timed(const std::string& method, const std::string& path, const std::string& body, int status) {
    const auto t0 = Clock::now();
    auto r = d().request(method, path, body);
    const long ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    EXPECT_EQ(r.status, status) << method << " " << path << ": " << r.body;
    return ms;
  }
  void expect_alive() { EXPECT_EQ(d().get("/healthz", "-").status, 200) << "adamd stopped answering"; }
};

TEST_F(HttpAbuseTest, SlowHeadersAndManyStreamsLeaveTheApiAnswering) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  const long idle_rss = rss_kb(d().pid());
  // Streams are limited per token: 200 over 13 viewer tokens.
  std::vector<std::string> viewers;
  for (int i = 0; i < 13; ++i) viewers.push_back(viewer_token("viewer-" + std::to_string(i)));

  std::vector<std::unique_ptr<RawConnection>> slow, streams;
  for (int i = 0; i < 200; ++i) {
    slow.push_back(std::make_unique<RawConnection>(d().port()));
    ASSERT_TRUE(slow.back()->connected());
    slow.back()->send("GET /healthz HTTP/1.1\r\nHo");  // and never the rest
  }
  for (int i = 0; i < 200; ++i) {
    streams.push_back(std::make_unique<RawConnection>(d().port()));
    ASSERT_TRUE(streams.back()->send(request_head("GET", "/api/v1/events/stream", viewers[i / 16])));
  }
  for (auto& s : streams) ASSERT_EQ(s->status(), 200) << s->read(std::chrono::milliseconds(0));

  // A generous liveness bound; bench/http_abuse measures the latency.
  EXPECT_LT(timed("GET", "/healthz", "", 200), 2000);
  EXPECT_LT(timed("POST", "/api/v1/firewall/rules",
                  R"({"name":"under-load","action":"drop","match":{"src":["203.0.113.7/32"]}})", 201),
            2000);
  EXPECT_LT(rss_kb(d().pid()), idle_rss + kRssBudgetKb);
  // The streams are live: the rule add's audit event reached them.
  EXPECT_NE(streams.front()->read(std::chrono::seconds(3), "api.change").find("api.change"),
            std::string::npos);
}

TEST_F(HttpAbuseTest, ASlowHeaderIsCutOffAtTheDeadlineWith408) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  RawConnection slow(d().port());
  const auto t0 = Clock::now();
  slow.send("GET /healthz HTTP/1.1\r\n");
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    slow.send("X");
  }
  EXPECT_EQ(slow.status(std::chrono::seconds(15)), 408);
  EXPECT_TRUE(slow.closed_within(std::chrono::seconds(5)));
  EXPECT_GE(Clock::now() - t0, std::chrono::seconds(9)) << "the deadline is 10 s";
}

// Sends a chunked body of `total` bytes in 64 KiB chunks on its own thread
// (adamd may stop reading at any time) and returns the response's status.
int chunked_post(RawConnection& c, const std::string& path, const std::string& token, size_t total) {
  c.send(
      request_head("POST", path, token, "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"));
  std::atomic<bool> stop = false;
  std::thread sender([&] {
    const std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
    for (size_t sent = 0; sent < total && !stop; sent += 0x10000)
      if (!c.send(chunk)) return;
    c.send("0\r\n\r\n");
  });
  const int status = c.status(std::chrono::seconds(30));
  stop = true;
  c.shutdown();  // unblocks a sender stuck in send()
  sender.join();
  c.close();
  return status;
}

TEST_F(HttpAbuseTest, AChunkedBodyWithoutATokenIs401UnreadAndOneOverTheLimitIs413) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  const long idle_rss = rss_kb(d().pid());
  {
    RawConnection c(d().port());
    EXPECT_EQ(chunked_post(c, "/api/v1/firewall/rules", "", 64u << 20), 401);
  }
  EXPECT_LT(rss_kb(d().pid()), idle_rss + kRssBudgetKb);
  {
    RawConnection c(d().port());
    EXPECT_EQ(chunked_post(c, "/api/v1/firewall/rules", d().admin_token(), 64u << 20), 413);
  }
  EXPECT_LT(rss_kb(d().pid()), idle_rss + kRssBudgetKb);
  expect_alive();
}

TEST_F(HttpAbuseTest, FiftyThousandHeadersAre431) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  const long idle_rss = rss_kb(d().pid());
  RawConnection c(d().port());
  std::string headers;
  for (int i = 0; i < 50'000; ++i) headers += "X-Filler-" + std::to_string(i) + ": y\r\n";
  std::thread sender([&] { c.send(request_head("GET", "/api/v1/node", d().admin_token(), headers)); });
  EXPECT_EQ(c.status(), 431);
  EXPECT_NE(c.read(std::chrono::seconds(1), "}}").find("\"headers_too_large\""), std::string::npos);
  c.close();
  sender.join();
  EXPECT_LT(rss_kb(d().pid()), idle_rss + kRssBudgetKb);
  expect_alive();
}

TEST_F(HttpAbuseTest, DeepNestingInAnyBodyFieldIs400NamingTheField) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  const std::string deep(100'000, '[');
  const std::string viewer = viewer_token("nester");
  struct Case {
    std::string method, path, body_before, field, token;
  };
  const std::vector<Case> cases = {
      {"POST", "/api/v1/firewall/explain", R"({"src":)", "src", viewer},
      {"POST", "/api/v1/firewall/explain", R"({"src":"203.0.113.1","dst":)", "dst", viewer},
      {"POST", "/api/v1/firewall/rules", R"({"action":"drop","match":{"src":)", "match", ""},
      {"PUT", "/api/v1/firewall/ruleset", R"({"default":"pass","rules":)", "rules", ""},
      {"POST", "/api/v1/plugins/firewall/start", R"({"interfaces":)", "interfaces", ""},
      {"POST", "/api/v1/tokens", R"({"name":)", "name", ""},
      {"POST", "/api/v1/tokens", "", "body", ""},
  };
  for (const auto& c : cases) {
    auto r = d().request(c.method, c.path, c.body_before + deep, c.token);
    expect_api_error(r, 400, "bad_request", c.field);
    expect_alive();
  }
  EXPECT_EQ(d().get("/api/v1/plugins/firewall").json()["state"], "stopped");
}

// What an attacker without a token can send is small: an open route's body,
// a path, a method name.
TEST_F(HttpAbuseTest, WhatNeedsNoTokenIsKeptSmall) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  const long idle_rss = rss_kb(d().pid());
  const std::map<std::string, std::string> form = {{"Content-Type", "application/x-www-form-urlencoded"}};
  // The login form takes 64 KiB, not the API's 4 MiB of "a&a&a…".
  std::string fields;
  for (int i = 0; i < 1'000'000; ++i) fields += "a&";
  expect_api_error(d().request("POST", "/ui/login", fields, "-", form), 413, "body_too_large");
  // A path longer than any route's is refused before the routes' regexes run.
  expect_api_error(d().get("/api/v1/plugins/" + std::string(12'000, 'A'), "-"), 414, "uri_too_long");
  // Made-up methods share one label in /metrics.
  for (int i = 0; i < 20; ++i) {
    RawConnection c(d().port());
    c.send(request_head("MKCOL" + std::to_string(i), "/x", ""));
    EXPECT_EQ(c.status(), 404);
  }
  const std::string metrics = d().get("/metrics", "-").body;
  EXPECT_EQ(metrics.find("MKCOL"), std::string::npos);
  EXPECT_NE(metrics.find(R"(method="OTHER",route="unmatched",status="404"} 20)"), std::string::npos)
      << metrics;
  // With a token, a form still has at most 1000 fields.
  expect_api_error(d().request("POST", "/api/v1/tokens", fields.substr(0, 4000), "", form), 400,
                   "bad_request", "body");
  EXPECT_LT(rss_kb(d().pid()), idle_rss + kRssBudgetKb);
  expect_alive();
}

TEST_F(HttpAbuseTest, InvalidUtf8AndOutOfRangeNumbersAre400) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  expect_api_error(d().post("/api/v1/tokens", "{\"name\":\"\xff\xfe\"}"), 400, "bad_request", "body");
  expect_api_error(d().post("/api/v1/firewall/rules", R"({"priority":1e999,"action":"drop"})"), 400,
                   "bad_request", "body");
  expect_api_error(d().post("/api/v1/firewall/explain", R"({"src":"203.0.113.1","dst_port":1e999})"), 400,
                   "bad_request", "body");
  // A message quotes the start of a long value, not all of it.
  auto long_value =
      d().post("/api/v1/firewall/rules", json{{"name", "x"}, {"action", std::string(1 << 20, 'p')}}.dump());
  expect_api_error(long_value, 400, "bad_request", "action");
  EXPECT_LT(long_value.body.size(), 1000u);
  auto form = d().request("POST", "/api/v1/tokens", "name=%FF%FE&role=viewer", "",
                          {{"Content-Type", "application/x-www-form-urlencoded"}});
  expect_api_error(form, 400, "bad_request", "name");
  expect_alive();
}

TEST_F(HttpAbuseTest, StreamsAreLimitedPerTokenAndAClosedOneFreesItsSlotAtOnce) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  const std::string viewer = viewer_token("streamer");
  std::vector<std::unique_ptr<RawConnection>> open;
  for (int i = 0; i < 16; ++i) {
    open.push_back(std::make_unique<RawConnection>(d().port()));
    open.back()->send(request_head("GET", "/api/v1/events/stream", viewer));
    ASSERT_EQ(open.back()->status(), 200);
  }
  RawConnection refused(d().port());
  refused.send(request_head("GET", "/api/v1/events/stream", viewer));
  EXPECT_EQ(refused.status(), 429);
  EXPECT_NE(refused.read(std::chrono::seconds(1), "}}").find("\"too_many_streams\""), std::string::npos);
  // Another token still gets its streams.
  RawConnection other(d().port());
  other.send(request_head("GET", "/api/v1/events/stream", d().admin_token()));
  EXPECT_EQ(other.status(), 200);

  open.front()->close();
  const auto t0 = Clock::now();
  int status = 0;
  while (Clock::now() - t0 < std::chrono::seconds(2)) {
    RawConnection again(d().port());
    again.send(request_head("GET", "/api/v1/events/stream", viewer));
    status = again.status();
    if (status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(status, 200);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1)) << "the slot came free only at a keepalive";
}

// HTTPS with a self-signed pair made here: /healthz and an authenticated call.
TEST(HttpsTest, ServesHealthzAndTheApiOverTls) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  const std::string dir =
      std::filesystem::temp_directory_path() / ("adamt-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  const std::string make_pair =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout " + key + " -out " +
      cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(make_pair.c_str()), 0);
  Adamd::Options o;
  o.args = {"--tls-cert", cert, "--tls-key", key};
  o.wait_healthy = false;
  Adamd d(o);
  auto curl = [&](const std::string& args) {
    const std::string cmd = "curl -sk -o /dev/null -w '%{http_code}' " + args;
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char buf[64];
      while (std::fgets(buf, sizeof buf, p)) out += buf;
      ::pclose(p);
    }
    return out;
  };
  const std::string base = "https://127.0.0.1:" + std::to_string(d.port());
  std::string healthz;
  for (int i = 0; i < 100 && healthz != "200"; ++i) {
    healthz = curl(base + "/healthz");
    if (healthz != "200") std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(healthz, "200") << d.log();
  EXPECT_EQ(curl("-H 'Authorization: Bearer " + d.admin_token() + "' " + base + "/api/v1/node"), "200");
  EXPECT_EQ(curl(base + "/api/v1/node"), "401");
  EXPECT_NE(d.request("GET", "/healthz").status, 200) << "plain HTTP is not served next to HTTPS";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace adam::test
