// Health checks (src/plugins/lb/health.cpp) on real sockets in a NetnsPair's
// namespace b: the TCP and HTTP probes against listeners on loopback, a
// black-holed address (198.51.100.9: on veth-b's segment, nobody behind it),
// the HealthChecker's rise/fall transitions, schedule and targets, and the
// depool rule as a table.
#include "plugins/lb/health.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/netns.h"

namespace adam::test {
namespace {

using namespace std::chrono_literals;
using lb::BackendHealth;
using lb::Health;
using lb::HealthCheck;
using lb::HealthChecker;
using lb::HealthTarget;
using lb::parse_address;
using Clock = std::chrono::steady_clock;

long ms_since(Clock::time_point start) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

// A listener on a loopback address of the test's namespace, answering each
// connection its way on a thread of its own, until destroyed.
class TestServer {
 public:
  enum class Reply {
    close,   // accepts and closes
    http,    // reads the request, answers "HTTP/1.1 <status>" and closes
    text,    // reads the request, answers `text` and closes
    silent,  // accepts and never answers
  };

  TestServer(const std::string& address, Reply reply, std::string text = {}, uint16_t port = 0)
      : reply_(reply), text_(std::move(text)) {
    const bool v6 = address.find(':') != std::string::npos;
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage storage{};
    socklen_t length;
    if (v6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(port);
      inet_pton(AF_INET6, address.c_str(), &in6->sin6_addr);
      length = sizeof *in6;
    } else {
      auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
      in4->sin_family = AF_INET;
      in4->sin_port = htons(port);
      inet_pton(AF_INET, address.c_str(), &in4->sin_addr);
      length = sizeof *in4;
    }
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&storage), length) != 0 || ::listen(fd_, 4096) != 0)
      throw std::runtime_error("TestServer: bind/listen " + address + ": " + std::strerror(errno));
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &length);
    port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TestServer() {
    stop_ = true;
    thread_.join();
    for (int fd : held_) ::close(fd);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  std::string last_request() const {
    std::lock_guard lock(mutex_);
    return last_request_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd listening{fd_, POLLIN, 0};
      if (::poll(&listening, 1, 20) <= 0) continue;
      const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      if (reply_ == Reply::silent) {
        held_.push_back(fd);
        continue;
      }
      if (reply_ != Reply::close) answer(fd);
      ::close(fd);
    }
  }
  void answer(int fd) {
    const timeval timeout{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string request;
    char buffer[1024];
    while (request.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) return;
      request.append(buffer, static_cast<size_t>(n));
    }
    {
      std::lock_guard lock(mutex_);
      last_request_ = request;
    }
    ::send(fd, text_.data(), text_.size(), MSG_NOSIGNAL);
  }

  Reply reply_;
  std::string text_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> held_;
  mutable std::mutex mutex_;
  std::string last_request_;
  std::thread thread_;
};

std::string http_reply(int status) {
  return "HTTP/1.1 " + std::to_string(status) + " Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

// The test thread in namespace b of a fresh pair (checkers made here run
// their thread there too: a new thread starts in its creator's namespace).
class HealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_root()) GTEST_SKIP() << "needs root (network namespaces)";
    pair_ = std::make_unique<NetnsPair>();
    in_b_ = std::make_unique<ScopedNetns>(pair_->b());
  }
  void TearDown() override {
    in_b_.reset();
    pair_.reset();
  }
  std::unique_ptr<NetnsPair> pair_;
  std::unique_ptr<ScopedNetns> in_b_;
};

const lb::IpAddress kLoopback = parse_address("127.0.0.1", "address");
const lb::IpAddress kBlackHole = parse_address("198.51.100.9", "address");

HealthCheck tcp_check(uint16_t port, uint32_t interval_ms, uint32_t timeout_ms, uint32_t rise = 2,
                      uint32_t fall = 3) {
  HealthCheck check;
  check.port = port;
  check.interval_ms = interval_ms;
  check.timeout_ms = timeout_ms;
  check.rise = rise;
  check.fall = fall;
  return check;
}

// Records on_change calls; reads the checker's state from inside the
// callback, which would deadlock if the callback ran under the checker's lock.
struct Changes {
  struct Change {
    int64_t service_id;
    Health health;
    long at_ms;
    std::string last_error;
    bool state_readable;
  };
  Clock::time_point start = Clock::now();
  std::atomic<HealthChecker*> checker{nullptr};
  mutable std::mutex mutex;
  std::vector<Change> changes;

  HealthChecker::OnChange callback() {
    return [this](const HealthTarget& target, const BackendHealth& now) {
      HealthChecker* self = checker.load();
      const bool readable = self != nullptr && self->state(target.service_id, target.address).has_value();
      std::lock_guard lock(mutex);
      changes.push_back({target.service_id, now.health, ms_since(start), now.last_error, readable});
    };
  }
  // A moment as an at_ms.
  long ms_at(Clock::time_point moment) const {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(moment - start).count());
  }
  std::vector<Health> sequence(int64_t service_id) const {
    std::lock_guard lock(mutex);
    std::vector<Health> out;
    for (const auto& change : changes)
      if (change.service_id == service_id) out.push_back(change.health);
    return out;
  }
  // Waits until service_id has had `count` changes, up to `within`; the last one.
  std::optional<Change> wait_for(int64_t service_id, size_t count, std::chrono::milliseconds within) const {
    const auto deadline = Clock::now() + within;
    for (;;) {
      {
        std::lock_guard lock(mutex);
        std::vector<Change> mine;
        for (const auto& change : changes)
          if (change.service_id == service_id) mine.push_back(change);
        if (mine.size() >= count) return mine[count - 1];
      }
      if (Clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(5ms);
    }
  }
};

// Runs `probe`: it fails with `error` after `timeout_ms`, not much later.
void expect_timeout(const std::function<lb::ProbeResult()>& probe, long timeout_ms,
                    const std::string& error) {
  const auto start = Clock::now();
  const auto result = probe();
  const long took = ms_since(start);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error, error);
  EXPECT_GE(took, timeout_ms - 1);
  EXPECT_LT(took, timeout_ms + 150);
}

TEST_F(HealthTest, TcpProbeConnectsRefusesAndTimesOut) {
  uint16_t port;
  {
    TestServer server("127.0.0.1", TestServer::Reply::close);
    port = server.port();
    const auto up = lb::probe_tcp(kLoopback, port, 500ms);
    EXPECT_TRUE(up.ok) << up.error;
    EXPECT_EQ(up.error, "");
  }
  const auto refused = lb::probe_tcp(kLoopback, port, 500ms);
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.error, "connect: Connection refused");

  expect_timeout([] { return lb::probe_tcp(kBlackHole, 80, 200ms); }, 200, "timeout after 200 ms");
}

TEST_F(HealthTest, HttpProbeMatchesTheStatusAndSendsHostAndConnectionClose) {
  TestServer ok("127.0.0.1", TestServer::Reply::http, http_reply(200));
  const auto pass = lb::probe_http(kLoopback, ok.port(), "/healthz", 200, 500ms);
  EXPECT_TRUE(pass.ok) << pass.error;
  const std::string request = ok.last_request();
  EXPECT_EQ(request.rfind("GET /healthz HTTP/1.1\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("\r\nHost: 127.0.0.1:" + std::to_string(ok.port()) + "\r\n"), std::string::npos)
      << request;
  EXPECT_NE(request.find("\r\nConnection: close\r\n"), std::string::npos) << request;

  TestServer unavailable("127.0.0.1", TestServer::Reply::http, http_reply(503));
  const auto mismatch = lb::probe_http(kLoopback, unavailable.port(), "/", 200, 500ms);
  EXPECT_FALSE(mismatch.ok);
  EXPECT_EQ(mismatch.error, "status 503, expected 200");
  EXPECT_TRUE(lb::probe_http(kLoopback, unavailable.port(), "/", 503, 500ms).ok);

  TestServer v6("::1", TestServer::Reply::http, http_reply(200));
  EXPECT_TRUE(lb::probe_http(parse_address("::1", "address"), v6.port(), "/", 200, 500ms).ok);
  EXPECT_NE(v6.last_request().find("\r\nHost: [::1]:" + std::to_string(v6.port()) + "\r\n"),
            std::string::npos)
      << v6.last_request();

  TestServer not_http("127.0.0.1", TestServer::Reply::text, "SSH-2.0-OpenSSH_9.2\r\n");
  EXPECT_EQ(lb::probe_http(kLoopback, not_http.port(), "/", 200, 500ms).error,
            "not an HTTP status line: SSH-2.0-OpenSSH_9.2");
}

TEST_F(HealthTest, HttpProbeTimesOutOverTheWholeExchange) {
  TestServer silent("127.0.0.1", TestServer::Reply::silent);  // the kernel completes the handshake
  expect_timeout([&] { return lb::probe_http(kLoopback, silent.port(), "/", 200, 300ms); }, 300,
                 "timeout after 300 ms waiting for the status line");
}

TEST_F(HealthTest, CheckerTakesABackendUpDownAndUpAgainWithinRiseAndFall) {
  Changes changes;
  HealthChecker checker(changes.callback());
  changes.checker = &checker;
  auto server = std::make_unique<TestServer>("127.0.0.1", TestServer::Reply::close);
  const uint16_t port = server->port();
  // interval 100 ms, rise 2, fall 3
  checker.set_targets({{1, kLoopback, tcp_check(port, 100, 50)}});
  EXPECT_EQ(checker.state(1, kLoopback)->health, Health::unknown);

  const auto up = changes.wait_for(1, 1, 1s);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->health, Health::up);
  EXPECT_LT(up->at_ms, 100 + 150);  // the first check at once, the second one interval later
  EXPECT_TRUE(up->state_readable);

  server.reset();
  const auto closed = Clock::now();
  const auto down = changes.wait_for(1, 2, 2s);
  ASSERT_TRUE(down);
  const long down_after = down->at_ms - changes.ms_at(closed);
  EXPECT_EQ(down->health, Health::down);
  EXPECT_EQ(down->last_error, "connect: Connection refused");
  EXPECT_GE(down_after, 200 - 20);  // three failures span two intervals
  EXPECT_LE(down_after, 3 * 100 + 150);
  const auto state = checker.state(1, kLoopback);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->health, Health::down);
  EXPECT_GT(state->since_ns, 0);

  server = std::make_unique<TestServer>("127.0.0.1", TestServer::Reply::close, "", port);
  const auto reopened = Clock::now();
  const auto again = changes.wait_for(1, 3, 2s);
  ASSERT_TRUE(again);
  const long up_after = again->at_ms - changes.ms_at(reopened);
  EXPECT_EQ(again->health, Health::up);
  EXPECT_GE(up_after, 100 - 20);  // two passes span one interval
  EXPECT_LE(up_after, 2 * 100 + 150);
  EXPECT_EQ(changes.sequence(1), (std::vector<Health>{Health::up, Health::down, Health::up}));
  std::cerr << "up after " << up->at_ms << " ms, down " << down_after << " ms after the close, up "
            << up_after << " ms after the reopen (interval 100 ms, rise 2, fall 3)\n";
}

TEST_F(HealthTest, AnUnknownBackendThatFailsGoesDownAfterFallFailuresWithoutEverBeingUp) {
  uint16_t closed_port;
  {
    TestServer gone("127.0.0.1", TestServer::Reply::close);
    closed_port = gone.port();
  }
  TestServer unavailable("127.0.0.1", TestServer::Reply::http, http_reply(503));
  Changes changes;
  HealthChecker checker(changes.callback());
  HealthCheck http = tcp_check(unavailable.port(), 100, 50);
  http.type = HealthCheck::Type::http;
  http.path = "/ready";
  checker.set_targets({{1, kLoopback, tcp_check(closed_port, 100, 50)}, {2, kLoopback, http}});

  const auto tcp_down = changes.wait_for(1, 1, 1s);
  const auto http_down = changes.wait_for(2, 1, 1s);
  ASSERT_TRUE(tcp_down && http_down);
  EXPECT_EQ(tcp_down->health, Health::down);
  EXPECT_EQ(http_down->health, Health::down);
  EXPECT_EQ(http_down->last_error, "status 503, expected 200");
  EXPECT_GE(http_down->at_ms, 200 - 20);
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(changes.sequence(1), std::vector<Health>{Health::down});
  EXPECT_EQ(changes.sequence(2), std::vector<Health>{Health::down});
  const auto state = checker.state(2, kLoopback);
  ASSERT_TRUE(state);
  EXPECT_GE(state->failures, 3u);
  EXPECT_EQ(state->passes, 0u);
  EXPECT_EQ(state->checks, state->failures);
}

TEST_F(HealthTest, BlackHoledBackendsDoNotDelayAnotherTargetsChecks) {
  TestServer server("127.0.0.1", TestServer::Reply::close);
  Changes changes;
  HealthChecker checker(changes.callback());
  std::vector<HealthTarget> targets{{1, kLoopback, tcp_check(server.port(), 100, 50)}};
  for (int i = 0; i < 10; ++i)  // each holds a connect for 900 ms of every second
    targets.push_back(
        {2, parse_address("198.51.100." + std::to_string(20 + i), "address"), tcp_check(80, 1000, 900)});
  checker.set_targets(targets);
  std::this_thread::sleep_for(1500ms);
  const auto good = checker.state(1, kLoopback);
  ASSERT_TRUE(good);
  EXPECT_EQ(good->health, Health::up);
  EXPECT_GE(good->checks, 12u);  // one at once, then every 100 ms: 15 (a stall of 900 ms would leave 6)
  EXPECT_LE(good->checks, 16u);
  const auto black_hole = checker.state(2, parse_address("198.51.100.20", "address"));
  ASSERT_TRUE(black_hole);
  EXPECT_EQ(black_hole->checks, 1u);  // at 0 s, timed out at 0.9 s; the next one (1 s) is in flight
  EXPECT_EQ(black_hole->last_error, "timeout after 900 ms");
  EXPECT_EQ(black_hole->health, Health::unknown);  // fall is 3
}

TEST_F(HealthTest, AThousandTargetsAtOneSecondAreEachCheckedEverySecond) {
  TestServer server("0.0.0.0", TestServer::Reply::close);  // 127.0.0.0/8 of namespace b
  Changes changes;
  HealthChecker checker(changes.callback());
  std::vector<HealthTarget> targets;
  for (int i = 0; i < 1000; ++i)
    targets.push_back(
        {i + 1, parse_address("127.0." + std::to_string(i / 250) + "." + std::to_string(1 + i % 250), "a"),
         tcp_check(server.port(), 1000, 500)});
  rusage before{}, after{};
  ::getrusage(RUSAGE_SELF, &before);
  checker.set_targets(targets);
  std::this_thread::sleep_for(3500ms);  // checks at 0, 1, 2 and 3 s
  ::getrusage(RUSAGE_SELF, &after);
  size_t up = 0, four_checks = 0;
  for (const auto& target : targets) {
    const auto state = checker.state(target.service_id, target.address);
    ASSERT_TRUE(state);
    up += state->health == Health::up;
    four_checks += state->checks == 4;
  }
  EXPECT_EQ(up, 1000u);
  EXPECT_EQ(four_checks, 1000u);
  EXPECT_EQ(changes.sequence(1000), std::vector<Health>{Health::up});
  const auto cpu_us = [](const rusage& r) {
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000000L + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
  };
  std::cerr << "1,000 targets at 1 s for 3.5 s: 4,000 checks, " << (cpu_us(after) - cpu_us(before)) / 1000
            << " ms of CPU (the checker and the test's listener)\n";
}

TEST_F(HealthTest, SetTargetsKeepsTheStateOfTargetsThatStay) {
  TestServer server("127.0.0.1", TestServer::Reply::close);
  Changes changes;
  HealthChecker checker(changes.callback());
  const HealthTarget first{1, kLoopback, tcp_check(server.port(), 100, 50)};
  const HealthTarget second{2, kLoopback, tcp_check(server.port(), 100, 50)};
  checker.set_targets({first});
  ASSERT_TRUE(changes.wait_for(1, 1, 1s));
  const auto before = checker.state(1, kLoopback);
  ASSERT_EQ(before->health, Health::up);

  checker.set_targets({second, first});
  const auto kept = checker.state(1, kLoopback);
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->health, Health::up);
  EXPECT_GE(kept->checks, before->checks);
  EXPECT_EQ(kept->since_ns, before->since_ns);
  EXPECT_EQ(checker.state(2, kLoopback)->health, Health::unknown);
  ASSERT_TRUE(changes.wait_for(2, 1, 1s));
  std::this_thread::sleep_for(250ms);
  EXPECT_GT(checker.state(1, kLoopback)->checks, before->checks + 1);
  EXPECT_EQ(changes.sequence(1), std::vector<Health>{Health::up});  // no second "up": it never started over

  HealthTarget changed = second;
  changed.check.interval_ms = 200;  // another check: a new target
  checker.set_targets({changed});
  EXPECT_FALSE(checker.state(1, kLoopback));
  const auto restarted = checker.state(2, kLoopback);
  ASSERT_TRUE(restarted);
  EXPECT_EQ(restarted->health, Health::unknown);
  EXPECT_EQ(restarted->checks, 0u);
}

TEST_F(HealthTest, TheDestructorStopsWithChecksInFlight) {
  Changes changes;
  auto checker = std::make_unique<HealthChecker>(changes.callback());
  std::vector<HealthTarget> targets;
  for (int i = 0; i < 10; ++i)
    targets.push_back(
        {1, parse_address("198.51.100." + std::to_string(20 + i), "address"), tcp_check(80, 5000, 4000)});
  checker->set_targets(targets);
  std::this_thread::sleep_for(100ms);
  const auto start = Clock::now();
  checker.reset();
  EXPECT_LT(ms_since(start), 100);
}

// --- the depool rule ---------------------------------------------------------

BackendHealth with(Health health, int64_t since_ns = 0) {
  BackendHealth out;
  out.health = health;
  out.since_ns = since_ns;
  return out;
}
constexpr Health U = Health::up, D = Health::down, N = Health::unknown;

struct DepoolCase {
  std::string name;
  std::vector<BackendHealth> weighted;
  double threshold;
  std::vector<bool> out;
  bool limited;
  uint32_t down;
};

TEST(LbDepool, Table) {
  const std::vector<DepoolCase> cases{
      {"none", {}, 0.5, {}, false, 0},
      {"all up", {with(U), with(U), with(U)}, 0.5, {false, false, false}, false, 0},
      {"one of four down",
       {with(U), with(D, 5), with(U), with(U)},
       0.5,
       {false, true, false, false},
       false,
       1},
      {"two of four down: exactly the threshold",
       {with(D, 5), with(U), with(D, 7), with(U)},
       0.5,
       {true, false, true, false},
       false,
       2},
      {"three of four down: the two down longest leave",
       {with(D, 30), with(D, 10), with(U), with(D, 20)},
       0.5,
       {false, true, false, true},
       true,
       3},
      {"all three down at 0.5: floor(1.5) = 1 leaves",
       {with(D, 3), with(D, 1), with(D, 2)},
       0.5,
       {false, true, false},
       true,
       3},
      {"threshold 0: nobody leaves", {with(D, 1), with(U)}, 0.0, {false, false}, true, 1},
      {"threshold 0, all up: not limited", {with(U), with(U)}, 0.0, {false, false}, false, 0},
      {"threshold 1, all down: all leave",
       {with(D, 2), with(D, 1), with(D, 3)},
       1.0,
       {true, true, true},
       false,
       3},
      {"unknown counts as up", {with(N), with(D, 1)}, 0.5, {false, true}, false, 1},
      {"ties by since_ns: the first listed leaves",
       {with(D, 7), with(D, 7), with(D, 7), with(U)},
       0.5,
       {true, true, false, false},
       true,
       3},
      {"a single backend down at 0.5 stays", {with(D, 1)}, 0.5, {false}, true, 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto decision = lb::depool(c.weighted, c.threshold);
    EXPECT_EQ(decision.out, c.out);
    EXPECT_EQ(decision.limited, c.limited);
    EXPECT_EQ(decision.down, c.down);
  }
}

TEST(LbDepool, ThresholdTimesCountIsNotRoundedDownByFloatingPoint) {
  std::vector<BackendHealth> weighted(100, with(U));
  for (int i = 0; i < 29; ++i) weighted[i] = with(D, i);
  const auto decision = lb::depool(weighted, 0.29);  // 0.29 x 100 is 28.999... in binary
  EXPECT_FALSE(decision.limited);
  EXPECT_EQ(std::count(decision.out.begin(), decision.out.end(), true), 29);
}

}  // namespace
}  // namespace adam::test
