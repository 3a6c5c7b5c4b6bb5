// The machine registry between two real adamds: A in namespace a (the
// console), B in namespace b over HTTPS with a self-signed certificate,
// reached over the veth (198.51.100.2). Registration (trust on first use,
// a pinned fingerprint, refused input), the proxy (reads, writes, links,
// audit on both, viewer refused), copy between machines, what A says when B
// changes its certificate or goes away, the Fleet page, adamctl --machine.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "support/adamd.h"
#include "support/netns.h"

namespace adam::test {
namespace {

using nlohmann::json;

const std::string kRules = "/api/v1/firewall/rules";

json drop_rule(const std::string& name, const std::string& src) {
  return {{"name", name}, {"action", "drop"}, {"match", {{"src", {src}}}}};
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

// The body of GET `path` once it holds `text` (the audit trail is written
// by the event writer a moment after the change), or the last one after 5 s.
std::string body_with(const Adamd& d, const std::string& path, const std::string& text) {
  std::string body;
  for (int i = 0; i < 100; ++i) {
    body = d.get(path).body;
    if (body.find(text) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return body;
}

class MachinesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_root()) GTEST_SKIP() << "needs root (network namespaces, BPF)";
    pair_ = std::make_unique<NetnsPair>();
    Adamd::Options a;
    a.netns = pair_->a();
    a_ = std::make_unique<Adamd>(a);
    Adamd::Options b;
    b.netns = pair_->b();
    b.listen_host = "0.0.0.0";
    b.https = true;
    b.args = {"--tls-self-signed"};
    b_ = std::make_unique<Adamd>(b);
    ASSERT_TRUE(a_->running() && b_->running());
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    pair_.reset();
  }

  // B as A reaches it: over the veth, never over loopback.
  std::string b_url() const { return "https://198.51.100.2:" + std::to_string(b_->port()); }
  std::string b_fingerprint() const { return b_->get("/api/v1/node").json()["tls"]["fingerprint"]; }
  HttpResponse add_b(json fields = json::object()) {
    json body = {{"name", "b"}, {"url", b_url()}, {"token", b_->admin_token()}};
    body.update(fields);
    return a_->post("/api/v1/machines", body.dump());
  }
  // Registers B (trust on first use); returns the proxy's URL prefix.
  std::string register_b() {
    auto r = add_b();
    EXPECT_EQ(r.status, 201) << r.body;
    id_ = r.json().value("id", int64_t{0});
    return "/api/v1/machines/" + std::to_string(id_) + "/proxy";
  }
  std::string viewer_token_of_a() {
    auto r = a_->post("/api/v1/tokens", R"({"name": "watcher", "role": "viewer"})");
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("token", "");
  }
  std::string adamctl(const std::string& args) {
    return capture("ip netns exec " + pair_->a() + " " ADAM_BUILD_DIR "/adamctl --url " + a_->url() +
                   " --token " + a_->admin_token() + " " + args + " 2>&1; echo \"exit=$?\"");
  }

  std::unique_ptr<NetnsPair> pair_;
  std::unique_ptr<Adamd> a_, b_;
  int64_t id_ = 0;
};

TEST_F(MachinesTest, SelfSignedCertificateIsMadeOnceKeptPrivateAndPrinted) {
  const std::string tls = b_->state_dir() + "/tls";
  EXPECT_EQ(mode_of(tls + "/key.pem"), 0600u);
  EXPECT_EQ(mode_of(tls + "/cert.pem"), 0600u);
  const std::string fingerprint = b_fingerprint();
  EXPECT_EQ(fingerprint.size(), 95u) << fingerprint;  // 32 bytes "AB:" each, upper-case hex
  EXPECT_NE(b_->log().find("TLS certificate SHA-256 fingerprint: " + fingerprint), std::string::npos)
      << b_->log();
  b_->stop();
  b_->start();
  EXPECT_EQ(b_fingerprint(), fingerprint) << "the pair is reused after a restart";
  EXPECT_TRUE(a_->get("/api/v1/node").json()["tls"].is_null()) << "A serves plain http";
}

TEST_F(MachinesTest, TrustOnFirstUsePinsTheFingerprintAndTheTokenIsNeverShown) {
  auto r = add_b();
  ASSERT_EQ(r.status, 201) << r.body << a_->log();
  const json machine = r.json();
  EXPECT_EQ(machine["fingerprint"], b_fingerprint());
  EXPECT_EQ(machine["name"], "b");
  EXPECT_EQ(machine["url"], b_url());
  const std::string id = std::to_string(machine["id"].get<int64_t>());
  EXPECT_EQ(machine["links"]["dashboard"], "/m/" + id + "/");
  EXPECT_EQ(machine["links"]["proxy"], "/api/v1/machines/" + id + "/proxy");

  const std::string token = b_->admin_token();
  EXPECT_EQ(r.body.find(token), std::string::npos);
  const auto list = a_->get("/api/v1/machines");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json()["machines"].size(), 1u);
  EXPECT_EQ(list.body.find(token), std::string::npos);
  EXPECT_EQ(a_->get("/api/v1/machines/" + id).body.find(token), std::string::npos);
  const std::string audit = body_with(*a_, "/api/v1/events?kind=api.change", "/api/v1/machines");
  EXPECT_NE(audit.find("/api/v1/machines"), std::string::npos) << audit;
  EXPECT_NE(audit.find(b_url()), std::string::npos) << "the machine is in it: " << audit;
  EXPECT_EQ(audit.find(token), std::string::npos) << "the audit trail holds no token";
  EXPECT_EQ(mode_of(a_->state_dir() + "/adam.db"), 0600u) << "the database holds the tokens";

  // Removed, it is gone from the list (and its id answers 404).
  EXPECT_EQ(a_->request("DELETE", "/api/v1/machines/" + id).status, 204);
  EXPECT_TRUE(a_->get("/api/v1/machines").json()["machines"].empty());
  expect_api_error(a_->get("/api/v1/machines/" + id + "/proxy/api/v1/node"), 404, "not_found");
}

TEST_F(MachinesTest, AGivenFingerprintMustMatchWhatTheMachinePresents) {
  std::string lower = b_fingerprint();
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string wrong = "00" + b_fingerprint().substr(2);
  auto refused = add_b({{"fingerprint", wrong}});
  expect_api_error(refused, 422, "fingerprint_mismatch", "fingerprint");
  EXPECT_NE(refused.body.find("fingerprint mismatch: expected " + wrong + ", the machine presents " +
                              b_fingerprint()),
            std::string::npos)
      << refused.body;
  EXPECT_TRUE(a_->get("/api/v1/machines").json()["machines"].empty()) << "nothing stored";

  auto pinned = add_b({{"fingerprint", lower}});
  ASSERT_EQ(pinned.status, 201) << pinned.body;
  EXPECT_EQ(pinned.json()["fingerprint"], b_fingerprint()) << "stored in the canonical form";
}

TEST_F(MachinesTest, BadRegistrationsAreRefusedNamingTheField) {
  const std::string http_over_veth = "http://198.51.100.2:" + std::to_string(b_->port());
  auto plain = add_b({{"url", http_over_veth}});
  expect_api_error(plain, 400, "bad_request", "url");
  EXPECT_NE(plain.body.find("loopback"), std::string::npos) << plain.body;
  expect_api_error(add_b({{"url", "ftp://198.51.100.2"}}), 400, "bad_request", "url");
  expect_api_error(add_b({{"url", b_url() + "/api"}}), 400, "bad_request", "url");
  expect_api_error(add_b({{"name", "no spaces"}}), 400, "bad_request", "name");
  expect_api_error(add_b({{"name", std::string(65, 'x')}}), 400, "bad_request", "name");
  expect_api_error(add_b({{"token", ""}}), 400, "bad_request", "token");
  expect_api_error(add_b({{"fingerprint", "AB:CD"}}), 400, "bad_request", "fingerprint");
  expect_api_error(add_b({{"ca", "relative.pem"}}), 400, "bad_request", "ca");
  expect_api_error(add_b({{"colour", "red"}}), 400, "bad_request", "colour");
  expect_api_error(add_b({{"token", "adam_wrong"}}), 422, "token_refused", "token");
  expect_api_error(add_b({{"url", "https://198.51.100.2:1"}}), 422, "machine_unreachable", "url");
  EXPECT_TRUE(a_->get("/api/v1/machines").json()["machines"].empty()) << "nothing stored";
  // Plain http is fine on loopback: A registers itself.
  auto self = a_->post("/api/v1/machines",
                       json{{"name", "a"}, {"url", a_->url()}, {"token", a_->admin_token()}}.dump());
  ASSERT_EQ(self.status, 201) << self.body;
  EXPECT_EQ(self.json()["plain_http"], true);
  EXPECT_EQ(self.json()["fingerprint"], "");
  expect_api_error(add_b({{"name", "a"}}), 409, "conflict");
}

TEST_F(MachinesTest, TheProxyReadsAndWritesOnTheMachineAndAuditsOnBoth) {
  const std::string proxy = register_b();
  const auto node = a_->get(proxy + "/api/v1/node");
  ASSERT_EQ(node.status, 200) << node.body;
  EXPECT_EQ(node.json()["state_dir"], b_->state_dir());
  EXPECT_EQ(node.json()["links"]["plugins"], proxy + "/api/v1/plugins");

  const auto created = a_->post(proxy + kRules, drop_rule("from the console", "203.0.113.0/24").dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const int64_t rule = created.json()["id"];
  EXPECT_EQ(created.json()["links"]["self"], proxy + kRules + "/" + std::to_string(rule));
  const json on_b = b_->get(kRules).json()["rules"];
  ASSERT_EQ(on_b.size(), 1u);
  EXPECT_EQ(on_b[0]["name"], "from the console");
  EXPECT_TRUE(a_->get(kRules).json()["rules"].empty()) << "landed on B, not on A";

  const auto audit_a = body_with(*a_, "/api/v1/events?kind=api.change", "from the console");
  EXPECT_NE(audit_a.find("/api/v1/machines/{id}/proxy/{path}"), std::string::npos) << audit_a;
  EXPECT_NE(audit_a.find("from the console"), std::string::npos) << audit_a;
  const auto audit_b = body_with(*b_, "/api/v1/events?kind=api.change", "from the console");
  EXPECT_NE(audit_b.find("from the console"), std::string::npos) << audit_b;
  // An export of B's events comes through as the file B made.
  const auto csv = a_->get(proxy + "/api/v1/events/export?format=csv&kind=api.change&last=1h");
  ASSERT_EQ(csv.status, 200) << csv.body;
  EXPECT_EQ(csv.header("Content-Type").rfind("text/csv", 0), 0u) << csv.header("Content-Type");
  EXPECT_NE(csv.header("Content-Disposition").find("attachment"), std::string::npos);
  EXPECT_EQ(csv.body.rfind("id,time,plugin,kind,machine,data\r\n", 0), 0u) << csv.body;
  EXPECT_NE(csv.body.find("from the console"), std::string::npos) << csv.body;
  // A query goes along: B's audit trail read through the proxy.
  const auto audit_b_proxied = a_->get(proxy + "/api/v1/events?kind=api.change&limit=5");
  ASSERT_EQ(audit_b_proxied.status, 200) << audit_b_proxied.body;
  EXPECT_NE(audit_b_proxied.body.find("from the console"), std::string::npos) << audit_b_proxied.body;

  // A viewer of A reads through the proxy, and cannot write.
  const std::string viewer = viewer_token_of_a();
  EXPECT_EQ(a_->get(proxy + kRules, viewer).status, 200);
  expect_api_error(a_->post(proxy + kRules, drop_rule("viewer's", "198.51.100.0/24").dump(), viewer), 403,
                   "");
  EXPECT_EQ(b_->get(kRules).json()["rules"].size(), 1u);
  // The path reaches B as the path A was given, encoded again: an encoded
  // '?' stays in the path (no route has it) instead of becoming a query,
  // and a decoded CR LF never reaches B's request line.
  EXPECT_EQ(a_->get(proxy + "/api/v1/node%3Fx=1", viewer).status, 404);
  const std::string smuggled = "/api/none%20HTTP/1.1%0d%0aHost:%20b%0d%0a%0d%0aDELETE%20" +
                               std::string(kRules) + "/" + std::to_string(rule) +
                               "%20HTTP/1.1%0d%0aX-Ignored:";
  EXPECT_EQ(a_->get(proxy + smuggled, viewer).status, 404);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(b_->get(kRules).json()["rules"].size(), 1u) << "no second request reached B";
  // The machine's own errors come through, named after it.
  auto missing = a_->get(proxy + kRules + "/999");
  expect_api_error(missing, 404, "");
  EXPECT_EQ(missing.json()["error"]["message"].get<std::string>().rfind("b: ", 0), 0u) << missing.body;
  // An HX request gets this console's HTML of B's JSON.
  auto html = a_->request("GET", proxy + kRules, "", "", {{"HX-Request", "true"}});
  EXPECT_EQ(html.status, 200);
  EXPECT_NE(html.body.find("from the console"), std::string::npos) << html.body;
  EXPECT_NE(html.body.find(proxy + kRules), std::string::npos) << "its controls point at the proxy";
}

TEST_F(MachinesTest, StreamsOfTheMachineAreRelayed) {
  const std::string proxy = register_b();
  std::string received;
  std::atomic<bool> seen{false};
  // EventSource's request, to A, for B's live events.
  std::thread reader([&] {
    ScopedNetns in_a(a_->netns());
    httplib::Client cli(a_->url());
    cli.set_read_timeout(10);
    cli.Get(proxy + "/api/v1/events/stream?kind=api.change",
            {{"Authorization", "Bearer " + a_->admin_token()}, {"Accept", "text/event-stream"}},
            [&](const char* data, size_t n) {
              received.append(data, n);
              seen = received.find("streamed-token") != std::string::npos;
              return !seen;
            });
  });
  // A change on B while the stream is open: B's audit event comes through A.
  for (int i = 0; i < 20 && !seen; ++i) {
    if (i == 2) ASSERT_EQ(b_->post("/api/v1/tokens", R"({"name": "streamed-token"})").status, 201);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  reader.join();
  EXPECT_TRUE(seen) << received;
  EXPECT_NE(received.find("event: event"), std::string::npos) << received;
}

TEST_F(MachinesTest, RulesAreCopiedFromAToB) {
  register_b();
  std::vector<std::string> urls;
  for (const auto& [name, src] :
       {std::pair{"first", "203.0.113.0/24"}, std::pair{"second", "2001:db8::/32"}}) {
    auto r = a_->post(kRules, drop_rule(name, src).dump());
    ASSERT_EQ(r.status, 201) << r.body;
    urls.push_back(r.json()["links"]["self"]);
  }
  const auto copied = a_->post("/api/v1/machines/" + std::to_string(id_) + "/copy",
                               json{{"resources", urls}, {"into", kRules}}.dump());
  ASSERT_EQ(copied.status, 200) << copied.body;
  EXPECT_EQ(copied.json()["copied"].size(), 2u);
  const json on_b = b_->get(kRules).json()["rules"];
  ASSERT_EQ(on_b.size(), 2u);
  EXPECT_EQ(on_b[0]["name"], "first");
  EXPECT_EQ(on_b[1]["match"]["src"], json({"2001:db8::/32"}));
  EXPECT_EQ(a_->get(kRules).json()["rules"].size(), 2u) << "A keeps its own";
  // A resource that is not there is named.
  auto missing = a_->post("/api/v1/machines/" + std::to_string(id_) + "/copy",
                          json{{"resources", {kRules + "/999"}}, {"into", kRules}}.dump());
  expect_api_error(missing, 404, "", "resources[0]");
}

TEST_F(MachinesTest, AChangedCertificateAndAStoppedMachineAreSaidAsSuch) {
  const std::string proxy = register_b();
  ASSERT_EQ(a_->get(proxy + "/api/v1/node").status, 200);
  const std::string pinned = b_fingerprint();

  // B gets a new certificate: A refuses it.
  b_->stop();
  std::filesystem::remove_all(b_->state_dir() + "/tls");
  b_->start();
  ASSERT_NE(b_fingerprint(), pinned);
  auto changed = a_->get(proxy + "/api/v1/node");
  expect_api_error(changed, 502, "machine_fingerprint_changed");
  EXPECT_NE(changed.body.find(pinned), std::string::npos) << changed.body;
  EXPECT_NE(changed.body.find(b_fingerprint()), std::string::npos) << changed.body;
  EXPECT_EQ(a_->post(proxy + kRules, drop_rule("never sent", "203.0.113.0/24").dump()).status, 502);
  EXPECT_TRUE(b_->get(kRules).json()["rules"].empty()) << "nothing was sent";

  // B stopped: unreachable, said in the page too, and the poller notices.
  b_->stop();
  auto gone = a_->get(proxy + "/api/v1/node");
  expect_api_error(gone, 502, "machine_unreachable");
  EXPECT_NE(gone.json()["error"]["message"].get<std::string>().find("'b'"), std::string::npos) << gone.body;
  const auto page = a_->get("/m/" + std::to_string(id_) + "/");
  EXPECT_EQ(page.status, 502);
  EXPECT_NE(page.body.find("<nav"), std::string::npos) << "inside the layout: " << page.body;
  EXPECT_NE(page.body.find("is unreachable"), std::string::npos) << page.body;
  json status;
  for (int i = 0; i < 50; ++i) {
    status = a_->get("/api/v1/machines").json()["machines"][0]["status"];
    if (status["reachable"] == false) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status["reachable"], false) << status;
  EXPECT_NE(status.value("error", "").find("unreachable"), std::string::npos) << status;
  const auto fleet = a_->get("/fleet");
  EXPECT_EQ(fleet.status, 200);
  EXPECT_NE(fleet.body.find("id=\"fleet-" + std::to_string(id_) + "\" data-state=\"unreachable\""),
            std::string::npos)
      << fleet.body;
}

TEST_F(MachinesTest, TheFleetPageShowsEveryMachineFromThePoller) {
  register_b();
  // B's running firewall: its counters() become rates in the fleet's status.
  ASSERT_EQ(b_->post("/api/v1/plugins/firewall/start", R"({"interfaces": ["veth-b"]})").status, 200);
  const std::string row = "id=\"fleet-" + std::to_string(id_) + "\" data-state=\"reachable\"";
  HttpResponse fleet;
  for (int i = 0; i < 50; ++i) {
    fleet = a_->get("/fleet");
    if (fleet.body.find(row) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(fleet.body.find(row), std::string::npos) << fleet.body;
  EXPECT_NE(fleet.body.find("id=\"fleet-local\" data-state=\"reachable\""), std::string::npos) << fleet.body;
  EXPECT_NE(fleet.body.find("/m/" + std::to_string(id_) + "/"), std::string::npos) << "a select link";
  json status;
  for (int i = 0; i < 50; ++i) {
    status = a_->get("/api/v1/machines/" + std::to_string(id_)).json()["status"];
    if (status["rates"].contains("firewall: dropped packets/s")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(status["rates"].contains("firewall: passed packets/s")) << status;
  EXPECT_TRUE(status["rates"].contains("firewall: dropped packets/s")) << status;
  EXPECT_EQ(status["plugins"][0]["name"], "firewall") << status;
  EXPECT_TRUE(status["events_per_s"].is_number()) << status;
  const auto machines = a_->get("/machines");
  EXPECT_EQ(machines.status, 200);
  const std::string fingerprint = b_fingerprint();  // shown in two halves
  EXPECT_NE(machines.body.find(fingerprint.substr(0, 47)), std::string::npos) << machines.body;
  EXPECT_NE(machines.body.find(fingerprint.substr(48)), std::string::npos) << machines.body;
  EXPECT_EQ(machines.body.find(b_->admin_token()), std::string::npos);
  // Select answers where the machine's console is.
  auto selected = a_->request("POST", "/api/v1/machines/" + std::to_string(id_) + "/select", "", "",
                              {{"HX-Request", "true"}});
  EXPECT_EQ(selected.status, 200);
  EXPECT_EQ(selected.header("HX-Redirect"), "/m/" + std::to_string(id_) + "/");
}

TEST_F(MachinesTest, AdamctlReachesAMachineByName) {
  register_b();
  const std::string out = adamctl("--machine b -o json node");
  EXPECT_NE(out.find(b_->state_dir()), std::string::npos) << out;
  EXPECT_NE(out.find("exit=0"), std::string::npos) << out;
  const std::string unknown = adamctl("--machine nope node");
  EXPECT_NE(unknown.find("no machine named 'nope'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("exit=1"), std::string::npos) << unknown;
}

}  // namespace
}  // namespace adam::test
