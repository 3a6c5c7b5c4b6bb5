// The events API of a real adamd: the audit trail of API changes, queries,
// pages, histograms, HTML fragments, bad parameters, the live stream (and a
// stalled stream client that must not hold anything up), counters, and a
// kill -9 in the middle of a flood.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "support/adamd.h"
#include "support/netns.h"

namespace adam::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

class EventsApiTest : public AdamdTest {
 protected:
  // Events of the query once at least `n` are there (the writer commits
  // within its batch window), newest first.
  json events_when(const std::string& query, size_t n) {
    json events;
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    do {
      auto r = d().get("/api/v1/events?" + query);
      EXPECT_EQ(r.status, 200) << r.body;
      events = r.json()["events"];
      if (events.size() >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (Clock::now() < deadline);
    return events;
  }
  int64_t create_token(const std::string& name, const std::string& as = "") {
    auto r = d().post("/api/v1/tokens", R"({"name":")" + name + R"(","role":"admin"})", as);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", int64_t{0});
  }
};

void expect_bad(const HttpResponse& r, const std::string& field) {
  EXPECT_EQ(r.status, 400) << r.body;
  auto j = r.json();
  EXPECT_EQ(j["error"]["code"], "bad_request") << r.body;
  EXPECT_EQ(j["error"].value("field", ""), field) << r.body;
}

TEST_F(EventsApiTest, TokenChangesAreAuditedWithWhoBeforeAndAfter) {
  const int64_t id = create_token("ci-bot");
  const std::string secret = d().post("/api/v1/tokens", R"({"name":"ops","role":"admin"})").json()["token"];
  create_token("made-by-ops", secret);
  EXPECT_EQ(d().post("/api/v1/tokens", R"({"name":"x","role":"root"})").status, 400);  // no change, no event
  EXPECT_EQ(d().request("DELETE", "/api/v1/tokens/" + std::to_string(id)).status, 204);

  json events = events_when("kind=api.change", 4);
  ASSERT_EQ(events.size(), 4u) << events.dump(2);
  const json& del = events[0];
  EXPECT_EQ(del["plugin"], "adamd");
  EXPECT_EQ(del["kind"], "api.change");
  EXPECT_FALSE(del["machine"].get<std::string>().empty());
  EXPECT_EQ(del["data"]["token"], "admin");
  EXPECT_EQ(del["data"]["method"], "DELETE");
  EXPECT_EQ(del["data"]["route"], "/api/v1/tokens/{id}");
  EXPECT_EQ(del["data"]["path"], "/api/v1/tokens/" + std::to_string(id));
  EXPECT_EQ(del["data"]["status"], 204);
  EXPECT_EQ(del["data"]["before"]["name"], "ci-bot");
  EXPECT_TRUE(del["data"]["after"].is_null());

  EXPECT_EQ(events[1]["data"]["token"], "ops") << "the caller's token, not the admin's";
  EXPECT_EQ(events[1]["data"]["after"]["name"], "made-by-ops");
  const json& created = events[3]["data"];
  EXPECT_EQ(created["method"], "POST");
  EXPECT_EQ(created["status"], 201);
  EXPECT_TRUE(created["before"].is_null());
  EXPECT_EQ(created["after"]["name"], "ci-bot");
  EXPECT_EQ(created["after"]["role"], "admin");
  EXPECT_FALSE(created["after"].contains("token")) << "the secret never goes into the audit trail";
}

TEST_F(EventsApiTest, BadParametersAreRefusedNamingThem) {
  expect_bad(d().get("/api/v1/events?last=5x"), "last");
  expect_bad(d().get("/api/v1/events?last=-1h"), "last");
  expect_bad(d().get("/api/v1/events?since=2026-05-31T12:00:00Z&until=2026-05-30T00:00:00Z"), "since");
  expect_bad(d().get("/api/v1/events?cursor=not-a-cursor"), "cursor");
  expect_bad(d().get("/api/v1/events?limit=0"), "limit");
  expect_bad(d().get("/api/v1/events?limit=100000"), "limit");
  expect_bad(d().get("/api/v1/events?colour=red"), "colour");
  expect_bad(d().get("/api/v1/events/histogram?bucket=2m"), "bucket");
  expect_bad(d().get("/api/v1/events/histogram?group=machine"), "group");
  expect_bad(d().get("/api/v1/events/stream?until=1780000000"), "until");
  EXPECT_EQ(d().get("/api/v1/events", "-").status, 401);
}

TEST_F(EventsApiTest, PagesFollowTheCursorAndFragmentsCarryControls) {
  for (int i = 0; i < 5; ++i) create_token("page-" + std::to_string(i));
  ASSERT_EQ(events_when("kind=api.change", 5).size(), 5u);
  std::vector<std::string> names;
  std::string path = "/api/v1/events?kind=api.change&limit=2&last=1h";
  for (int page = 0; page < 10 && !path.empty(); ++page) {
    auto j = d().get(path).json();
    for (const auto& e : j["events"]) names.push_back(e["data"]["after"]["name"]);
    EXPECT_EQ(j["next_cursor"].is_null(), j["links"]["next"].is_null());
    path = j["links"]["next"].is_string() ? j["links"]["next"].get<std::string>() : "";
  }
  EXPECT_EQ(names, (std::vector<std::string>{"page-4", "page-3", "page-2", "page-1", "page-0"}));

  auto html = d().request("GET", "/api/v1/events?kind=api.change&limit=2", "", "", {{"HX-Request", "true"}});
  EXPECT_EQ(html.status, 200);
  EXPECT_NE(html.header("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(html.body.find("<table>"), std::string::npos);
  EXPECT_NE(html.body.find("api.change"), std::string::npos);
  EXPECT_NE(html.body.find("hx-get=\"/api/v1/events?"), std::string::npos) << "a control for the next page";

  auto h = d().get("/api/v1/events/histogram?last=1h&bucket=5m&group=plugin").json();
  EXPECT_EQ(h["bucket"], "5m");
  int64_t total = 0;
  for (const auto& b : h["buckets"]) total += b["counts"].value("adamd", int64_t{0});
  EXPECT_EQ(total, 5);
  EXPECT_GE(h["buckets"].size(), 12u);
  auto svg = d().request("GET", "/api/v1/events/histogram?last=1h", "", "", {{"HX-Request", "true"}});
  EXPECT_NE(svg.body.find("<svg"), std::string::npos);
  EXPECT_NE(svg.body.find("<rect"), std::string::npos);
}

TEST_F(EventsApiTest, NodeMetricsAndPluginsCountStoredAndLostEvents) {
  create_token("counted");
  events_when("kind=api.change", 1);
  auto node = d().get("/api/v1/node").json();
  ASSERT_TRUE(node.contains("events")) << node.dump();
  EXPECT_GE(node["events"]["stored"].get<int64_t>(), 1);
  EXPECT_EQ(node["events"]["plugins"]["adamd"]["lost"]["queue"], 0);
  EXPECT_EQ(node["events"]["retention"]["age"], "30d");
  const std::string metrics = d().get("/metrics", "-").body;
  EXPECT_NE(metrics.find("adamd_events_stored_total{plugin=\"adamd\"}"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("# TYPE adamd_events_lost_total counter"), std::string::npos);
  auto fw = d().get("/api/v1/plugins/firewall").json();
  EXPECT_EQ(fw["events"]["stored"], 0);
}

TEST_F(EventsApiTest, TheStreamDeliversNewEventsAndAStalledClientHoldsNothingUp) {
  // A client that asks for the stream and never reads it.
  const int stalled = ::socket(AF_INET, SOCK_STREAM, 0);
  int small = 4096;
  ::setsockopt(stalled, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(d().port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(stalled, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string request = "GET /api/v1/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                              d().admin_token() + "\r\n\r\n";
  ASSERT_EQ(::send(stalled, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));

  std::mutex mu;
  std::string received;
  std::atomic<bool> done = false;
  std::thread reader([&] {
    httplib::Client cli("127.0.0.1", d().port());
    cli.set_read_timeout(20);
    cli.Get("/api/v1/events/stream?kind=api.change", {{"Authorization", "Bearer " + d().admin_token()}},
            [&](const char* data, size_t n) {
              std::lock_guard lock(mu);
              received.append(data, n);
              return !done && received.find("stream-299") == std::string::npos;
            });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the stream is subscribed
  const auto t0 = Clock::now();
  for (int i = 0; i < 300; ++i) create_token("stream-" + std::to_string(i));
  EXPECT_EQ(events_when("kind=api.change&limit=1000", 300).size(), 300u) << "inserts went on";
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(20));
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    {
      std::lock_guard lock(mu);
      if (received.find("stream-299") != std::string::npos) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  done = true;
  reader.join();
  ::close(stalled);
  EXPECT_NE(received.find("event: event\ndata: {"), std::string::npos) << received.substr(0, 500);
  EXPECT_NE(received.find("stream-0"), std::string::npos);
  EXPECT_NE(received.find("stream-299"), std::string::npos);
}

TEST_F(EventsApiTest, TheStreamSendsStoredEventsOfItsRangeFirst) {
  create_token("before-the-stream");
  events_when("kind=api.change", 1);
  std::string received;
  httplib::Client cli("127.0.0.1", d().port());
  cli.set_read_timeout(5);
  cli.Get("/api/v1/events/stream?last=1h&kind=api.change", {{"Authorization", "Bearer " + d().admin_token()}},
          [&](const char* data, size_t n) {
            received.append(data, n);
            return received.find("before-the-stream") == std::string::npos;
          });
  EXPECT_NE(received.find("before-the-stream"), std::string::npos) << received;
}

TEST_F(EventsApiTest, AdamctlListsAndFollowsEvents) {
  create_token("seen-by-adamctl");
  events_when("kind=api.change", 1);
  const std::string adamctl =
      ADAM_BUILD_DIR "/adamctl --url " + d().url() + " --token " + d().admin_token() + " ";
  const std::string human = capture(adamctl + "events --last 1h --kind api.change 2>&1");
  EXPECT_NE(human.find("TIME"), std::string::npos) << human;
  EXPECT_NE(human.find("api.change"), std::string::npos) << human;
  EXPECT_NE(human.find("seen-by-adamctl"), std::string::npos) << human;
  const json page = json::parse(capture(adamctl + "-o json events --plugin adamd --limit 5"), nullptr, false);
  ASSERT_TRUE(page.is_object());
  EXPECT_EQ(page["events"][0]["kind"], "api.change");
  const std::string bad = capture(adamctl + "events --last 5x 2>&1; echo \"exit=$?\"");
  EXPECT_NE(bad.find("field: last"), std::string::npos) << bad;
  EXPECT_NE(bad.find("exit=1"), std::string::npos) << bad;
  // -f: the stored event of the range first, then it keeps following until stopped.
  const std::string followed =
      capture("timeout 2 " + adamctl + "-o json events -f --last 1h --kind api.change");
  EXPECT_NE(followed.find("seen-by-adamctl"), std::string::npos) << followed;
}

// Plugin lifecycle and plugin routes (the firewall's rules) are audited too;
// the firewall runs on a veth in a namespace of the test's.
TEST(EventsAuditNetnsTest, PluginChangesAreAuditedWithStateBeforeAndAfter) {
  if (!have_root()) GTEST_SKIP() << "needs root (network namespaces, BPF)";
  NetnsPair pair;
  Adamd d(Adamd::Options{.netns = pair.b()});
  ASSERT_TRUE(d.running());
  ASSERT_EQ(d.post("/api/v1/plugins/firewall/start", R"({"interfaces":["veth-b"]})").status, 200) << d.log();
  EXPECT_EQ(d.post("/api/v1/plugins/firewall/start", R"({"interfaces":["adamt-none0"]})").status, 400);
  auto rule =
      d.post("/api/v1/firewall/rules",
             R"({"name":"audited","priority":10,"action":"drop","match":{"src":["203.0.113.0/24"]}})");
  EXPECT_EQ(rule.status, 201) << rule.body;
  ASSERT_EQ(d.post("/api/v1/plugins/firewall/stop").status, 200);

  json events;
  for (int i = 0; i < 100 && events.size() < 3; ++i) {
    events = d.get("/api/v1/events?kind=api.change").json()["events"];
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(events.size(), 3u) << events.dump(2);
  const json& stop = events[0]["data"];
  EXPECT_EQ(stop["route"], "/api/v1/plugins/{name}/stop");
  EXPECT_EQ(stop["path"], "/api/v1/plugins/firewall/stop");
  EXPECT_EQ(stop["before"]["state"], "running");
  EXPECT_EQ(stop["after"]["state"], "stopped");
  EXPECT_EQ(stop["after"]["desired"], "stopped");
  const json& added = events[1]["data"];
  EXPECT_EQ(added["route"], "/api/v1/firewall/rules");
  EXPECT_EQ(added["status"], 201);
  EXPECT_EQ(added["after"]["name"], "audited");
  const json& start = events[2]["data"];
  EXPECT_EQ(start["route"], "/api/v1/plugins/{name}/start");
  EXPECT_EQ(start["token"], "admin");
  EXPECT_EQ(start["before"]["state"], "stopped");
  EXPECT_EQ(start["after"]["state"], "running");
  EXPECT_EQ(start["after"]["config"]["interfaces"], json::array({"veth-b"}));
}

// Four clients change tokens as fast as adamd answers; adamd is killed in the
// middle. The database must be intact, and every change acknowledged more
// than a second before the kill must be in the audit trail.
TEST_F(EventsApiTest, KillDashNineDuringAFloodKeepsEveryCommittedBatch) {
  std::mutex mu;
  std::vector<std::pair<std::string, Clock::time_point>> acknowledged;
  std::atomic<bool> stop = false;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client cli("127.0.0.1", d().port());
      cli.set_read_timeout(5);
      const httplib::Headers auth = {{"Authorization", "Bearer " + d().admin_token()}};
      for (int i = 0; !stop; ++i) {
        const std::string name = "flood-" + std::to_string(c) + "-" + std::to_string(i);
        auto r = cli.Post("/api/v1/tokens", auth, R"({"name":")" + name + R"(","role":"viewer"})",
                          "application/json");
        if (!r) break;
        if (r->status == 201) {
          std::lock_guard lock(mu);
          acknowledged.emplace_back(name, Clock::now());
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const auto killed_at = Clock::now();
  d().kill9();
  stop = true;
  for (auto& t : clients) t.join();
  ASSERT_GT(acknowledged.size(), 100u);

  std::set<std::string> stored;
  {
    SQLite::Database db(d().state_dir() + "/adam.db", SQLite::OPEN_READWRITE);
    EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
    SQLite::Statement q(db,
                        "SELECT json_extract(e.data, '$.after.name') FROM events e "
                        "JOIN event_kinds k ON k.id = e.kind_id WHERE k.kind = 'api.change'");
    while (q.executeStep()) stored.insert(q.getColumn(0).getString());
    EXPECT_EQ(db.execAndGet("SELECT count(*) FROM events").getInt64(),
              db.execAndGet("SELECT rows FROM event_counts").getInt64());
  }
  int missing_old = 0, missing_recent = 0;
  for (const auto& [name, at] : acknowledged) {
    if (stored.count(name)) continue;
    (killed_at - at > std::chrono::seconds(1) ? missing_old : missing_recent)++;
  }
  EXPECT_EQ(missing_old, 0) << "acknowledged more than 1 s before the kill but not stored";
  std::printf("acknowledged %zu, stored %zu, lost in the last second %d\n", acknowledged.size(),
              stored.size(), missing_recent);

  d().start();  // and adamd carries on with that database
  ASSERT_TRUE(d().running());
  EXPECT_EQ(d().get("/api/v1/node").json()["events"]["rows"].get<size_t>(), stored.size());
}

}  // namespace
}  // namespace adam::test
