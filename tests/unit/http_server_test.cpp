// The HTTP server's own scheduling, with an application of the test's: what
// it promises the routes whatever they do.
#include "api/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/sanitizers.h"

namespace adam::test {
namespace {

using Clock = std::chrono::steady_clock;

// One GET on a new connection; returns the status line, empty on failure.
std::string get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return answer.substr(0, answer.find("\r\n"));
}

// More requests that scan the store than there are workers, each taking its
// time, must not hold up a request that does not: it runs on the other
// workers. (Before the scan workers, /quick waited for a /scan to end.)
TEST(HttpServer, RequestsThatScanTheStoreLeaveTheOtherWorkersToTheRest) {
  const auto scan_time = scaled(std::chrono::milliseconds(1500));
  std::atomic<int> scans_started{0};
  http::Limits limits;
  limits.workers = 2;
  limits.scan_workers = 1;
  http::Application app;
  app.admit = [&](const http::Head& head) {
    http::Admission a;
    a.scan = head.target == "/scan";
    a.proceed = [&, scan = a.scan](std::string) {
      if (scan) {
        ++scans_started;
        std::this_thread::sleep_for(scan_time);
      }
      return http::Outcome{http::Response{200, "text/plain", scan ? "scanned" : "quick", {}}, std::nullopt};
    };
    return a;
  };
  app.error = [](int status, const std::string& code, const std::string& message, bool) {
    return http::Response{status, "text/plain", code + ": " + message, {}};
  };
  http::Server server(limits, app);
  const int port = server.listen("127.0.0.1", 0, std::nullopt);
  std::thread serving([&] { server.run(); });

  // Three scans: one runs, two wait for the one scan worker; the two
  // workers stay free.
  std::vector<std::thread> scans;
  std::vector<std::string> scan_answers(3);
  for (size_t i = 0; i < scan_answers.size(); ++i)
    scans.emplace_back([&, i] { scan_answers[i] = get(port, "/scan"); });
  const auto deadline = Clock::now() + scaled(std::chrono::seconds(5));
  while (scans_started == 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(scans_started, 1);

  const auto t0 = Clock::now();
  EXPECT_EQ(get(port, "/quick"), "HTTP/1.1 200 OK");
  EXPECT_LT(Clock::now() - t0, scan_time / 3) << "the quick request waited for a scan";
  EXPECT_EQ(scans_started, 1) << "the scans run one at a time";

  for (auto& t : scans) t.join();
  for (const std::string& answer : scan_answers) EXPECT_EQ(answer, "HTTP/1.1 200 OK");
  EXPECT_EQ(scans_started, 3);
  server.stop();
  serving.join();
}

}  // namespace
}  // namespace adam::test
