// Credentials as an attacker would try them: many wrong tokens from one
// client (limited, recorded, other clients unaffected), a token in the login
// URL, a session cookie over TLS, and a write from a page of another site
// whose name resolves to this machine (DNS rebinding).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "support/adamd.h"
#include "support/netns.h"

namespace adam::test {
namespace {

// A request from another client address of this machine: curl bound to
// 127.0.0.2 (all of 127.0.0.0/8 is loopback), so adamd sees a second client.
int status_from_second_client(const Adamd& d, const std::string& path, const std::string& token) {
  const std::string out =
      capture("curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 -H 'Authorization: Bearer " +
              token + "' http://127.0.0.1:" + std::to_string(d.port()) + path);
  return std::atoi(out.c_str());
}

std::string login(const Adamd& d) {
  auto reply = d.request("POST", "/ui/login", "token=" + d.admin_token(), "-",
                         {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(reply.status, 303) << reply.body;
  return reply.header("Set-Cookie");
}

TEST(AuthLimits, WrongTokensFromOneClientAreLimitedRecordedAndOtherClientsGoOn) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  Adamd::Options o;
  o.listen_host = "0.0.0.0";  // reachable from 127.0.0.2 as well
  Adamd d(o);
  int unauthorized = 0, limited = 0;
  for (int i = 0; i < 200; ++i) {
    const int status = d.get("/api/v1/node", "wrong-token-" + std::to_string(i)).status;
    unauthorized += status == 401;
    limited += status == 429;
  }
  // A burst of 10, then one per second: the loop takes well under 5 s.
  EXPECT_GE(unauthorized, 10);
  EXPECT_LE(unauthorized, 15);
  EXPECT_EQ(unauthorized + limited, 200);
  auto refused = d.get("/api/v1/node");  // even a good token, while this client is limited
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_NE(refused.body.find("too_many_failures"), std::string::npos) << refused.body;

  // Another client is not locked out, and its own failures count for it alone.
  EXPECT_EQ(status_from_second_client(d, "/api/v1/node", d.admin_token()), 200);
  EXPECT_EQ(status_from_second_client(d, "/api/v1/node", "wrong"), 401);

  // Every failure that was looked at is an event; the limit starting is one.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the first client may try again
  ASSERT_EQ(d.get("/api/v1/node").status, 200);
  auto failed = d.get("/api/v1/events?kind=api.auth_failed&limit=1000").json()["events"];
  int from_first = 0, from_second = 0;
  for (const auto& e : failed) {
    from_first += e["data"]["client"] == "127.0.0.1";
    from_second += e["data"]["client"] == "127.0.0.2";
  }
  EXPECT_EQ(from_first, unauthorized);
  EXPECT_EQ(from_second, 1);
  auto limits = d.get("/api/v1/events?kind=api.auth_limited").json()["events"];
  ASSERT_EQ(limits.size(), 1u) << limits.dump();
  EXPECT_EQ(limits[0]["data"]["client"], "127.0.0.1");
  EXPECT_EQ(limits[0]["data"]["credential"], "bearer");
}

// A client told 429 learns from Retry-After how long to wait: refused until
// then, let in once it has waited that long. The same on the login form.
TEST(AuthLimits, A429CarriesRetryAfterAndWaitingThatLongLetsTheClientIn) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  Adamd d;
  HttpResponse refused;
  for (int i = 0; i < 50 && refused.status != 429; ++i)
    refused = d.get("/api/v1/node", "wrong-" + std::to_string(i));
  ASSERT_EQ(refused.status, 429) << refused.body;
  const std::string retry_after = refused.header("Retry-After");
  ASSERT_FALSE(retry_after.empty()) << "a 429 without Retry-After";
  ASSERT_EQ(retry_after.find_first_not_of("0123456789"), std::string::npos) << retry_after;
  const int seconds = std::stoi(retry_after);
  // One failure more per second: the next one is at most a second away.
  EXPECT_EQ(seconds, 1);
  EXPECT_NE(refused.body.find("retry in " + retry_after + " s"), std::string::npos) << refused.body;
  auto still = d.get("/api/v1/node");
  EXPECT_EQ(still.status, 429) << "a good token before the wait is refused too";
  EXPECT_EQ(still.header("Retry-After"), "1");
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  EXPECT_EQ(d.get("/api/v1/node").status, 200) << "waited Retry-After, still refused";

  const std::map<std::string, std::string> form = {{"Content-Type", "application/x-www-form-urlencoded"}};
  HttpResponse login_refused;
  for (int i = 0; i < 50 && login_refused.status != 429; ++i)
    login_refused = d.request("POST", "/ui/login", "token=wrong-" + std::to_string(i), "-", form);
  ASSERT_EQ(login_refused.status, 429) << login_refused.body;
  EXPECT_EQ(login_refused.header("Retry-After"), "1");
  // A 401 is not a 429: it says nothing of waiting.
  EXPECT_EQ(d.request("GET", "/api/v1/node", "", "-").header("Retry-After"), "");
}

TEST(AuthLimits, LoginTakesTheTokenFromTheFormBodyOnly) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  Adamd d;
  auto in_url = d.request("POST", "/ui/login?token=" + d.admin_token(), "", "-",
                          {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(in_url.status, 401) << in_url.body;
  EXPECT_EQ(in_url.header("Set-Cookie"), "");
  const std::string cookie = login(d);
  EXPECT_NE(cookie.find("adam_session="), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find("Secure"), std::string::npos) << "plain HTTP: a Secure cookie would never come back";
}

TEST(AuthLimits, OverTlsTheSessionCookieIsSecure) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  Adamd::Options o;
  o.args = {"--tls-self-signed"};
  o.https = true;
  Adamd d(o);
  const std::string cookie = login(d);
  EXPECT_NE(cookie.find("; Secure"), std::string::npos) << cookie;
  auto logout = d.request("POST", "/ui/logout", "", "-", {{"Cookie", cookie.substr(0, cookie.find(';'))}});
  EXPECT_NE(logout.header("Set-Cookie").find("; Secure"), std::string::npos) << logout.header("Set-Cookie");
}

TEST(AuthLimits, CookieWritesNeedAnOriginOfThisMachineNotJustOneThatMatchesHost) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  Adamd::Options o;
  o.args = {"--allowed-origin", "https://adam.example.org"};
  Adamd d(o);
  const std::string cookie = login(d);
  const std::string session = cookie.substr(0, cookie.find(';'));
  const std::string port = std::to_string(d.port());
  auto write_from = [&](const std::string& origin, const std::string& host, const std::string& name) {
    return d.request("POST", "/api/v1/tokens", R"({"name":")" + name + R"(","role":"viewer"})", "-",
                     {{"Cookie", session}, {"HX-Request", "true"}, {"Origin", origin}, {"Host", host}});
  };
  // A rebinding page: its Origin and Host agree, and name another site.
  auto rebound = write_from("http://evil.example:" + port, "evil.example:" + port, "rebound");
  EXPECT_EQ(rebound.status, 403) << rebound.body;
  EXPECT_NE(rebound.body.find("from an origin of this machine"), std::string::npos) << rebound.body;
  // This machine's own names and addresses on its port, and an allowed origin.
  EXPECT_EQ(write_from("http://127.0.0.1:" + port, "127.0.0.1:" + port, "by-address").status, 201);
  EXPECT_EQ(write_from("http://localhost:" + port, "localhost:" + port, "by-name").status, 201);
  EXPECT_EQ(write_from("https://adam.example.org", "adam.example.org", "proxied").status, 201);
  // The right host on another port, or the wrong scheme, is another origin.
  EXPECT_EQ(write_from("http://127.0.0.1:1", "127.0.0.1:1", "other-port").status, 403);
  EXPECT_EQ(write_from("https://127.0.0.1:" + port, "127.0.0.1:" + port, "other-scheme").status, 403);
  auto tokens = d.get("/api/v1/tokens").json();
  for (const auto& t : tokens["tokens"])
    EXPECT_TRUE(t["name"] != "rebound" && t["name"] != "other-port" && t["name"] != "other-scheme")
        << t.dump();
}

TEST(AuthLimits, AMalformedAllowedOriginStopsAdamdNamingTheFlag) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  Adamd::Options o;
  o.args = {"--allowed-origin", "adam.example.org/console"};
  o.wait_healthy = false;
  Adamd d(o);
  EXPECT_EQ(d.wait_exit(30000), 1);
  EXPECT_NE(d.log().find("--allowed-origin: 'adam.example.org/console' is not an origin"), std::string::npos)
      << d.log();
}

}  // namespace
}  // namespace adam::test
