// The REST API of a real adamd: auth, errors, content negotiation, tokens,
// metrics, the console's session, and refusing bad starts.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/adamd.h"
#include "support/netns.h"
#include "support/prometheus.h"

namespace adam::test {
namespace {

using ApiTest = AdamdTest;

void expect_error(const HttpResponse& r, int status, const std::string& code, const std::string& field = "") {
  expect_api_error(r, status, code, field);
}

TEST_F(ApiTest, HealthzIsOpenAndApiNeedsAToken) {
  auto h = d().get("/healthz", "-");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "ok\n");
  expect_error(d().get("/api/v1/node", "-"), 401, "unauthorized");
  expect_error(d().get("/api/v1/node", "adam_wrong"), 401, "unauthorized");
  EXPECT_EQ(d().get("/api/v1/node", "-").header("WWW-Authenticate").rfind("Bearer", 0), 0u);
  auto basic = d().request("GET", "/api/v1/node", "", "-", {{"Authorization", "Basic Zm9vOmJhcg=="}});
  expect_error(basic, 401, "unauthorized");
}

TEST_F(ApiTest, AdminTokenFileIsPrivate) {
  const auto perms = std::filesystem::status(d().state_dir() + "/admin.token").permissions();
  EXPECT_EQ(perms, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST_F(ApiTest, NodeReportsKernelAndProbedFeatures) {
  auto r = d().get("/api/v1/node");
  ASSERT_EQ(r.status, 200) << r.body;
  auto n = r.json();
  EXPECT_FALSE(n["hostname"].get<std::string>().empty());
  EXPECT_FALSE(n["kernel"]["release"].get<std::string>().empty());
  EXPECT_EQ(n["version"], ADAM_VERSION);
  for (const char* f : {"btf", "xdp", "tc", "ringbuf", "bpf_lsm", "tracepoint"}) {
    ASSERT_TRUE(n["features"].contains(f)) << f;
    EXPECT_FALSE(n["features"][f]["detail"].get<std::string>().empty()) << f;
  }
  EXPECT_TRUE(n["features"]["xdp"]["available"].get<bool>());
  EXPECT_EQ(n["links"]["plugins"], "/api/v1/plugins");
}

TEST_F(ApiTest, PluginsListFirewallWithActionLinks) {
  auto r = d().get("/api/v1/plugins");
  ASSERT_EQ(r.status, 200);
  auto list = r.json()["plugins"];
  ASSERT_GE(list.size(), 1u);
  auto fw = list[0];
  EXPECT_EQ(fw["name"], "firewall");
  EXPECT_EQ(fw["state"], "stopped");
  EXPECT_EQ(fw["links"]["start"], "/api/v1/plugins/firewall/start");
  auto one = d().get("/api/v1/plugins/firewall").json();
  EXPECT_EQ(one["name"], "firewall");
  EXPECT_TRUE(fw.contains("stats"));
  // The navigation's listing: states and counters without the stats.
  auto brief = d().get("/api/v1/plugins?stats=0").json()["plugins"][0];
  EXPECT_EQ(brief["state"], "stopped");
  EXPECT_TRUE(brief.contains("counters"));
  EXPECT_FALSE(brief.contains("stats")) << brief.dump();
  expect_error(d().get("/api/v1/plugins?stats=no"), 400, "bad_request", "stats");
}

TEST_F(ApiTest, BadRequestsNameTheProblemAndChangeNothing) {
  expect_error(d().get("/api/v1/plugins/nope"), 404, "not_found");
  expect_error(d().post("/api/v1/plugins/nope/start", "{}"), 404, "not_found");
  expect_error(d().get("/api/v1/nothing-here"), 404, "not_found");
  expect_error(d().post("/api/v1/plugins/firewall/start", "{\"interfaces\": [\"eth0\""), 400, "bad_request",
               "body");
  expect_error(d().post("/api/v1/plugins/firewall/start", "[1,2]"), 400, "bad_request", "body");
  expect_error(d().post("/api/v1/plugins/firewall/start", R"({"interfaces":["adamt-none0"]})"), 400,
               "bad_request", "interfaces[0]");
  auto r = d().post("/api/v1/plugins/firewall/start", R"({"interfaces":["lo","adamt-none1"]})");
  expect_error(r, 400, "bad_request", "interfaces[1]");
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("adamt-none1"), std::string::npos) << r.body;
  expect_error(d().post("/api/v1/plugins/firewall/start", R"({"interfaces":["lo"],"colour":1})"), 400,
               "bad_request", "colour");
  auto fw = d().get("/api/v1/plugins/firewall").json();
  EXPECT_EQ(fw["state"], "stopped");
  EXPECT_EQ(fw["desired"], "stopped");
  EXPECT_TRUE(d().get("/api/v1/node").json()["xdp_interfaces"].empty());
}

TEST_F(ApiTest, ViewerTokensReadButCannotWrite) {
  auto created = d().post("/api/v1/tokens", R"({"name":"dashboard","role":"viewer"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string viewer = created.json()["token"];
  EXPECT_EQ(d().get("/api/v1/plugins", viewer).status, 200);
  expect_error(d().post("/api/v1/plugins/firewall/start", R"({"interfaces":["lo"]})", viewer), 403,
               "forbidden");
  expect_error(d().post("/api/v1/plugins/firewall/stop", "{}", viewer), 403, "forbidden");
  expect_error(d().get("/api/v1/tokens", viewer), 403, "forbidden");
  EXPECT_EQ(d().get("/api/v1/plugins/firewall").json()["state"], "stopped");
}

TEST_F(ApiTest, TokensAreCreatedListedWithoutSecretsAndRevoked) {
  auto created = d().post("/api/v1/tokens", R"({"name":"ci","role":"admin"})");
  ASSERT_EQ(created.status, 201);
  auto c = created.json();
  const std::string secret = c["token"];
  EXPECT_EQ(c["role"], "admin");
  auto list = d().get("/api/v1/tokens");
  EXPECT_EQ(list.body.find(secret), std::string::npos) << "the secret is shown once, never listed";
  EXPECT_EQ(list.json()["tokens"].size(), 2u);
  EXPECT_EQ(d().get("/api/v1/node", secret).status, 200);

  expect_error(d().post("/api/v1/tokens", R"({"name":"ci"})"), 409, "conflict");
  expect_error(d().post("/api/v1/tokens", R"({"name":"x","role":"root"})"), 400, "bad_request", "role");
  expect_error(d().post("/api/v1/tokens", R"({"role":"viewer"})"), 400, "bad_request", "name");
  expect_error(d().post("/api/v1/tokens", R"({"name":"y","ttl":3})"), 400, "bad_request", "ttl");
  expect_error(d().request("DELETE", "/api/v1/tokens/abc"), 400, "bad_request", "id");
  expect_error(d().request("DELETE", "/api/v1/tokens/999"), 404, "not_found");

  EXPECT_EQ(d().request("DELETE", "/api/v1/tokens/" + c["id"].dump()).status, 204);
  expect_error(d().get("/api/v1/node", secret), 401, "unauthorized");
}

TEST_F(ApiTest, HxRequestGetsAnHtmlFragmentWithControls) {
  auto r = d().request("GET", "/api/v1/plugins", "", "", {{"HX-Request", "true"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type").rfind("text/html", 0), 0u) << r.header("Content-Type");
  EXPECT_NE(r.body.find("<table"), std::string::npos);
  EXPECT_NE(r.body.find("hx-post=\"/api/v1/plugins/firewall/start\""), std::string::npos) << r.body;
  auto err = d().request("GET", "/api/v1/plugins/nope", "", "", {{"HX-Request", "true"}});
  EXPECT_EQ(err.status, 404);
  EXPECT_NE(err.body.find("class=\"error\""), std::string::npos) << err.body;
  auto node = d().request("GET", "/api/v1/node", "", "", {{"HX-Request", "true"}});
  EXPECT_NE(node.body.find("<section id=\"node\""), std::string::npos) << node.body;
}

TEST_F(ApiTest, MetricsExposeBuildInfoPluginStatesAndHttpCounters) {
  d().get("/api/v1/node");
  d().get("/api/v1/plugins/nope");
  auto m = d().get("/metrics", "-");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.header("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u);
  const Exposition e = parse_exposition(m.body);
  EXPECT_EQ(e.value("adamd_build_info", {{"version", ADAM_VERSION}}), 1);
  EXPECT_EQ(e.value("adamd_plugin_state", {{"plugin", "firewall"}, {"state", "stopped"}}), 1);
  EXPECT_EQ(e.value("adamd_plugin_state", {{"plugin", "firewall"}, {"state", "running"}}), 0);
  EXPECT_EQ(
      e.value("adamd_http_requests_total", {{"method", "GET"}, {"route", "/api/v1/node"}, {"status", "200"}}),
      1);
  EXPECT_EQ(e.value("adamd_http_requests_total",
                    {{"method", "GET"}, {"route", "/api/v1/plugins/{name}"}, {"status", "404"}}),
            1);
  EXPECT_EQ(e.value("adamd_http_request_duration_seconds_bucket",
                    {{"method", "GET"}, {"route", "/api/v1/node"}, {"le", "+Inf"}}),
            1);
  EXPECT_EQ(e.types.at("adamd_http_request_duration_seconds"), "histogram");
  EXPECT_EQ(e.value("adamd_kernel_feature", {{"feature", "xdp"}}), 1);
}

TEST_F(ApiTest, ConsoleSessionCookieIsHttpOnlyStrictAndCsrfSafe) {
  auto page = d().get("/", "-");
  EXPECT_EQ(page.status, 303);
  EXPECT_EQ(page.header("Location"), "/ui/login");
  auto login_form = d().get("/ui/login", "-");
  EXPECT_EQ(login_form.status, 200);
  EXPECT_NE(login_form.body.find("name=\"token\""), std::string::npos) << "login form";
  auto js = d().get("/ui/assets/htmx.min.js", "-");
  EXPECT_EQ(js.status, 200);
  EXPECT_GT(js.body.size(), 10000u);

  auto bad = d().request("POST", "/ui/login", "token=adam_nope", "-",
                         {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(bad.status, 401);
  EXPECT_TRUE(bad.header("Set-Cookie").empty());

  auto login = d().request("POST", "/ui/login", "token=" + d().admin_token(), "-",
                           {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(login.status, 303);
  const std::string cookie = login.header("Set-Cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos) << cookie;
  const std::string session = cookie.substr(0, cookie.find(';'));

  EXPECT_EQ(d().request("GET", "/api/v1/node", "", "-", {{"Cookie", session}}).status, 200);
  EXPECT_NE(d().request("GET", "/", "", "-", {{"Cookie", session}}).body.find("id=\"plugin-firewall\""),
            std::string::npos);
  // A cross-site form post carries the cookie but no HX-Request header.
  expect_error(d().request("POST", "/api/v1/plugins/firewall/stop", "", "-", {{"Cookie", session}}), 403,
               "csrf");
  auto cross = d().request("POST", "/api/v1/plugins/firewall/stop", "", "-",
                           {{"Cookie", session}, {"HX-Request", "true"}, {"Origin", "http://evil.example"}});
  EXPECT_EQ(cross.status, 403) << cross.body;
  EXPECT_NE(cross.body.find("from an origin of this machine"), std::string::npos) << cross.body;
  auto ok = d().request("POST", "/api/v1/plugins/firewall/stop", "", "-",
                        {{"Cookie", session}, {"HX-Request", "true"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST_F(ApiTest, PluginsContributeConsolePagesThroughTheirRoutes) {
  auto login = d().request("POST", "/ui/login", "token=" + d().admin_token(), "-",
                           {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(login.status, 303);
  const std::string session = login.header("Set-Cookie").substr(0, login.header("Set-Cookie").find(';'));
  auto console = d().request("GET", "/", "", "-", {{"Cookie", session}});
  EXPECT_NE(console.body.find("href=\"/firewall\""), std::string::npos)
      << "the firewall's page is in the navigation";
  // Loaded whole, the page comes inside the console layout; by htmx, the fragment alone.
  auto page = d().request("GET", "/firewall", "", "-", {{"Cookie", session}});
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_NE(page.body.find("<table id=\"fw-rules\""), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("/ui/logout"), std::string::npos) << "inside the layout";
  auto fragment = d().request("GET", "/firewall", "", "-", {{"Cookie", session}, {"HX-Request", "true"}});
  EXPECT_NE(fragment.body.find("<table id=\"fw-rules\""), std::string::npos) << fragment.body;
  EXPECT_EQ(fragment.body.find("/ui/logout"), std::string::npos) << "the fragment alone";
  // Without a session a page sends the browser to the login form; an HX request gets the 401.
  auto anonymous = d().get("/firewall", "-");
  EXPECT_EQ(anonymous.status, 303);
  EXPECT_EQ(anonymous.header("Location"), "/ui/login");
  auto hx = d().request("GET", "/firewall", "", "-", {{"HX-Request", "true"}});
  EXPECT_EQ(hx.status, 401);
  EXPECT_NE(hx.body.find("class=\"error\""), std::string::npos) << hx.body;
}

TEST(Daemon, SecondAdamdOnTheSameStateDirRefuses) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  Adamd first;
  ASSERT_TRUE(first.running());
  Adamd::Options o;
  o.args = {"--state-dir", first.state_dir()};  // the later flag wins
  o.wait_healthy = false;
  Adamd second(o);
  EXPECT_EQ(second.wait_exit(30000), 1);
  EXPECT_NE(second.log().find("already using state dir " + first.state_dir()), std::string::npos)
      << second.log();
  EXPECT_EQ(first.get("/healthz", "-").status, 200);
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Daemon, FailedMigrationStopsAdamdAndLeavesTheDatabaseAlone) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  char tmpl[] = "/tmp/adamt-mig-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string db = dir + "/adam.db";
  {
    // Someone else's table where migration 1 creates `plugins`.
    SQLite::Database d(db, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    d.exec("CREATE TABLE plugins(owner TEXT); INSERT INTO plugins VALUES ('theirs');");
  }
  const std::string before = file_bytes(db);
  Adamd::Options o;
  o.args = {"--state-dir", dir};
  o.wait_healthy = false;
  Adamd adamd(o);
  EXPECT_EQ(adamd.wait_exit(30000), 1);
  EXPECT_NE(adamd.log().find("migration 1"), std::string::npos) << adamd.log();
  EXPECT_NE(adamd.log().find("plugins already exists"), std::string::npos) << adamd.log();
  EXPECT_EQ(file_bytes(db), before);
  std::filesystem::remove_all(dir);
}

TEST(Daemon, MetricsCanRequireAToken) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  Adamd::Options o;
  o.args = {"--metrics-auth"};
  Adamd adamd(o);
  ASSERT_TRUE(adamd.running());
  EXPECT_EQ(adamd.get("/metrics", "-").status, 401);
  EXPECT_EQ(adamd.get("/metrics").status, 200);
}

TEST(Daemon, BadFlagsAndConfigFilesAreRefusedClearly) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  char tmpl[] = "/tmp/adamt-cfg-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  ::close(fd);
  std::ofstream(tmpl) << "listen = \"127.0.0.1:1\"\nfirewall_mode = \"fast\"\n";
  Adamd::Options o;
  o.args = {"--config", tmpl};
  o.wait_healthy = false;
  Adamd adamd(o);
  EXPECT_EQ(adamd.wait_exit(30000), 1);
  EXPECT_NE(adamd.log().find("unknown setting 'firewall_mode'"), std::string::npos) << adamd.log();
  std::filesystem::remove(tmpl);
}

TEST(Daemon, SigtermShutsDownCleanly) {
  if (!have_root()) GTEST_SKIP() << "needs root (adamd loads BPF)";
  Adamd adamd;
  ASSERT_TRUE(adamd.running());
  EXPECT_EQ(adamd.stop(), 0);
  EXPECT_NE(adamd.log().find("shutting down"), std::string::npos) << adamd.log();
}

}  // namespace
}  // namespace adam::test
