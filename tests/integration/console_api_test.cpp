// What the console's dashboard and events page read, against a real adamd:
// the rates stream (events per second, and a running firewall's packets per
// second while traffic flows in a netns lab), the events export (JSON lines
// and CSV, quoting, range filters, more than one page), event links to what
// produced an event, HEAD on GET routes, the server's own refusals as HTML
// fragments for htmx, and the events page's filter state.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/adamd.h"
#include "support/netns.h"
#include "support/sanitizers.h"

namespace adam::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// The `rates` events of GET /api/v1/node/rates read for `duration` while
// `meanwhile` runs, in order.
std::vector<json> rates_during(const Adamd& d, std::chrono::milliseconds duration,
                               const std::function<void()>& meanwhile) {
  std::string received;
  std::thread reader([&] {
    std::optional<ScopedNetns> in_ns;
    if (!d.netns().empty()) in_ns.emplace(d.netns());
    httplib::Client cli("127.0.0.1", d.port());
    cli.set_read_timeout(10);
    const auto until = std::chrono::steady_clock::now() + duration;
    cli.Get("/api/v1/node/rates", {{"Authorization", "Bearer " + d.admin_token()}},
            [&](const char* data, size_t n) {
              received.append(data, n);
              return std::chrono::steady_clock::now() < until;
            });
  });
  meanwhile();
  reader.join();
  std::vector<json> out;
  static const std::regex frame("event: rates\ndata: ([^\n]*)\n");
  for (std::sregex_iterator m(received.begin(), received.end(), frame), end; m != end; ++m)
    out.push_back(json::parse((*m)[1].str()));
  return out;
}

// The largest value of `label` over the samples (0 when it never came).
double peak(const std::vector<json>& samples, const std::string& label) {
  double best = 0;
  for (const auto& s : samples) best = std::max(best, s["series"].value(label, 0.0));
  return best;
}

// One exchange over a raw connection: what the server sent until it closed.
std::string raw_exchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// RFC 4180 records: fields split on commas outside quotes, "" an escaped quote.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        rows.back().back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        rows.back().back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().emplace_back();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      rows.emplace_back(1);
      ++i;
    } else {
      rows.back().back() += c;
    }
  }
  if (rows.back() == std::vector<std::string>(1)) rows.pop_back();  // after the last line break
  return rows;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  for (size_t start = 0, end; start < text.size(); start = end + 1) {
    end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
  }
  return out;
}

class ConsoleApiTest : public AdamdTest {
 protected:
  void create_token(const std::string& name) {
    const auto r = d().post("/api/v1/tokens", json{{"name", name}, {"role", "viewer"}}.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  // A firewall rule (kept while the firewall is stopped): its free-text
  // name comes back in the api.change event.
  void add_rule(const std::string& name) {
    const auto r = d().post("/api/v1/firewall/rules", json{{"name", name}, {"action", "pass"}}.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  // Waits until `n` events of the query are stored (the writer commits in batches).
  void wait_for_events(const std::string& query, size_t n) {
    for (auto deadline = std::chrono::steady_clock::now() + scaled(10s);
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(50ms))
      if (d().get("/api/v1/events?limit=10000&" + query).json()["events"].size() >= n) return;
    FAIL() << "fewer than " << n << " events of " << query;
  }
};

TEST_F(ConsoleApiTest, RatesCountEventsPerSecondWhileTheyArePublished) {
  EXPECT_EQ(d().get("/api/v1/node").json()["links"]["rates"], "/api/v1/node/rates");
  const auto samples = rates_during(d(), 4500ms, [&] {
    std::this_thread::sleep_for(1200ms);  // a quiet second first
    for (int i = 0; i < 40; ++i) {
      create_token("rate-" + std::to_string(i));
      std::this_thread::sleep_for(25ms);
    }
  });
  ASSERT_GE(samples.size(), 3u) << "one sample a second";
  for (const auto& s : samples) {
    EXPECT_TRUE(s["ts"].is_number_integer()) << s;
    EXPECT_TRUE(s["series"].contains("events/s")) << s;
    EXPECT_TRUE(s["series"].contains("lost events/s")) << s;
  }
  EXPECT_EQ(samples.front()["series"]["events/s"], 0.0) << "nothing happened in the first second";
  // 40 api.change events within about a second: a sample sees a good share of them.
  EXPECT_GE(peak(samples, "events/s"), 10.0);
  EXPECT_EQ(peak(samples, "lost events/s"), 0.0);
}

TEST_F(ConsoleApiTest, ExportWritesTheRangeAsJsonLinesAndQuotedCsv) {
  // Names that CSV must quote: a comma, a quote, a line break.
  const std::vector<std::string> names = {"plain", "comma,inside", "quote\"inside", "line\nbreak"};
  for (const auto& n : names) add_rule(n);
  wait_for_events("kind=api.change", names.size());
  const json stored = d().get("/api/v1/events?kind=api.change").json()["events"];

  const auto jsonl = d().get("/api/v1/events/export?format=jsonl&kind=api.change");
  ASSERT_EQ(jsonl.status, 200) << jsonl.body;
  EXPECT_EQ(jsonl.header("Content-Type"), "application/x-ndjson");
  EXPECT_EQ(jsonl.header("Content-Disposition"), "attachment; filename=\"adam-events.jsonl\"");
  std::vector<std::string> lines = lines_of(jsonl.body);
  ASSERT_EQ(lines.size(), names.size()) << jsonl.body;
  for (size_t i = 0; i < lines.size(); ++i) {
    const json e = json::parse(lines[i]);
    EXPECT_EQ(e["id"], stored[i]["id"]);  // newest first, as the events API
    EXPECT_EQ(e["data"], stored[i]["data"]);
  }

  const auto csv = d().get("/api/v1/events/export?format=csv&kind=api.change");
  ASSERT_EQ(csv.status, 200) << csv.body;
  EXPECT_EQ(csv.header("Content-Type"), "text/csv; charset=utf-8");
  EXPECT_EQ(csv.header("Content-Disposition"), "attachment; filename=\"adam-events.csv\"");
  const auto rows = parse_csv(csv.body);
  ASSERT_EQ(rows.size(), names.size() + 1) << csv.body;
  EXPECT_EQ(rows[0], (std::vector<std::string>{"id", "time", "plugin", "kind", "machine", "data"}));
  std::set<std::string> exported_names;
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 6u) << csv.body;
    EXPECT_EQ(rows[i][0], std::to_string(stored[i - 1]["id"].get<int64_t>()));
    EXPECT_EQ(rows[i][1], stored[i - 1]["time"]);
    EXPECT_EQ(rows[i][2], "adamd");
    EXPECT_EQ(rows[i][3], "api.change");
    EXPECT_EQ(json::parse(rows[i][5]), stored[i - 1]["data"]);
    exported_names.insert(json::parse(rows[i][5])["after"]["name"].get<std::string>());
  }
  EXPECT_EQ(exported_names, std::set<std::string>(names.begin(), names.end()));
}

TEST_F(ConsoleApiTest, ExportFollowsTheRangeFiltersAcrossPages) {
  // More than one page of the export (1,000 events a chunk).
  for (int i = 0; i < 1100; ++i) create_token("bulk-" + std::to_string(i));
  wait_for_events("kind=api.change", 1100);
  const auto all = d().get("/api/v1/events/export?format=jsonl&kind=api.change&last=1h");
  ASSERT_EQ(all.status, 200) << all.body.substr(0, 300);
  const auto lines = lines_of(all.body);
  ASSERT_EQ(lines.size(), 1100u);
  std::set<int64_t> ids;
  for (const auto& l : lines) ids.insert(json::parse(l)["id"].get<int64_t>());
  EXPECT_EQ(ids.size(), 1100u) << "every event once";

  // An absolute range: from the 100th newest event's time (inclusive) up to
  // the newest one's (exclusive).
  const json newest = json::parse(lines[0]), older = json::parse(lines[99]);
  const std::string range = "&since=" + std::to_string(older["ts"].get<int64_t>() / 1'000'000'000) +
                            "&until=" + std::to_string(newest["ts"].get<int64_t>() / 1'000'000'000 + 1);
  const auto ranged = d().get("/api/v1/events/export?format=csv&kind=api.change" + range);
  ASSERT_EQ(ranged.status, 200) << ranged.body.substr(0, 300);
  const auto rows = parse_csv(ranged.body);
  ASSERT_GE(rows.size(), 2u);
  for (size_t i = 1; i < rows.size(); ++i) {
    const int64_t id = std::stoll(rows[i][0]);
    EXPECT_TRUE(ids.count(id));
  }
  const auto none = d().get("/api/v1/events/export?format=csv&kind=api.change&until=1");
  EXPECT_EQ(parse_csv(none.body).size(), 1u) << "the header only: " << none.body;
  const auto other_kind = d().get("/api/v1/events/export?format=jsonl&kind=firewall.drop");
  EXPECT_EQ(other_kind.body, "");

  expect_api_error(d().get("/api/v1/events/export"), 400, "bad_request", "format");
  expect_api_error(d().get("/api/v1/events/export?format=xml"), 400, "bad_request", "format");
  expect_api_error(d().get("/api/v1/events/export?format=csv&limit=10"), 400, "bad_request", "limit");
  expect_api_error(d().get("/api/v1/events/export?format=csv&last=5x"), 400, "bad_request", "last");
  expect_api_error(d().get("/api/v1/events/export?format=csv", "-"), 401, "unauthorized");
}

TEST_F(ConsoleApiTest, CoreEventsLinkNowhereAndTheLiveStreamSendsRows) {
  create_token("linked");
  wait_for_events("kind=api.change", 1);
  const json e = d().get("/api/v1/events?kind=api.change").json()["events"][0];
  EXPECT_EQ(e["links"], json::object()) << "adamd's own events have no producer to link to";
  EXPECT_TRUE(d().get("/api/v1/events").json()["links"].contains("export"));

  // format=html: each event as the events table's row, for the page's live mode.
  std::string received;
  std::thread reader([&] {
    httplib::Client cli("127.0.0.1", d().port());
    cli.set_read_timeout(10);
    cli.Get("/api/v1/events/stream?format=html&kind=api.change",
            {{"Authorization", "Bearer " + d().admin_token()}}, [&](const char* data, size_t n) {
              received.append(data, n);
              return received.find("</tr>") == std::string::npos;
            });
  });
  std::this_thread::sleep_for(300ms);
  add_rule("<b>live</b>");
  reader.join();
  EXPECT_NE(received.find("event: event\n"), std::string::npos) << received;
  EXPECT_NE(received.find("\ndata: <tr id=\"event-"), std::string::npos) << received;
  EXPECT_NE(received.find("&lt;b&gt;live&lt;/b&gt;"), std::string::npos) << received;
  expect_api_error(d().get("/api/v1/events/stream?format=pdf"), 400, "bad_request", "format");
}

TEST_F(ConsoleApiTest, HeadAnswersLikeGetWithoutTheBody) {
  const std::string auth = "Authorization: Bearer " + d().admin_token() + "\r\n";
  const auto got = d().get("/api/v1/node");
  const std::string head = raw_exchange(
      d().port(), "HEAD /api/v1/plugins HTTP/1.1\r\nHost: x\r\n" + auth + "Connection: close\r\n\r\n");
  const size_t end = head.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos) << head;
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_NE(head.find("Content-Type: application/json"), std::string::npos) << head;
  const std::string length = std::to_string(d().get("/api/v1/plugins").body.size());
  EXPECT_NE(head.find("Content-Length: " + length + "\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.size(), end + 4) << "no body after the header: " << head;
  EXPECT_EQ(got.status, 200);

  EXPECT_EQ(
      raw_exchange(d().port(), "HEAD /nowhere HTTP/1.1\r\nHost: x\r\n" + auth + "Connection: close\r\n\r\n")
          .rfind("HTTP/1.1 404", 0),
      0u);
  EXPECT_EQ(raw_exchange(d().port(), "HEAD /api/v1/node HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .rfind("HTTP/1.1 401", 0),
            0u);
  // A stream's head: its type, and the connection is not held open.
  const std::string stream = raw_exchange(
      d().port(), "HEAD /api/v1/node/rates HTTP/1.1\r\nHost: x\r\n" + auth + "Connection: close\r\n\r\n");
  EXPECT_EQ(stream.rfind("HTTP/1.1 200", 0), 0u) << stream;
  EXPECT_NE(stream.find("text/event-stream"), std::string::npos) << stream;
}

TEST_F(ConsoleApiTest, TheServersOwnRefusalsAreHtmlForHtmx) {
  const std::string big = "POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                          d().admin_token() +
                          "\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n";
  const std::string hx = raw_exchange(d().port(), big + "HX-Request: true\r\n\r\n");
  EXPECT_EQ(hx.rfind("HTTP/1.1 413", 0), 0u) << hx;
  EXPECT_NE(hx.find("Content-Type: text/html"), std::string::npos) << hx;
  EXPECT_NE(hx.find("role=\"alert\""), std::string::npos) << hx;
  const std::string plain = raw_exchange(d().port(), big + "\r\n");
  EXPECT_EQ(plain.rfind("HTTP/1.1 413", 0), 0u) << plain;
  EXPECT_NE(plain.find("\"code\":\"body_too_large\""), std::string::npos) << plain;
  // Over the route's own limit (the login form's 64 KiB), refused after admission.
  const std::string login = raw_exchange(
      d().port(), "POST /ui/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nHX-Request: true\r\n\r\n");
  EXPECT_EQ(login.rfind("HTTP/1.1 413", 0), 0u) << login;
  EXPECT_NE(login.find("Content-Type: text/html"), std::string::npos) << login;
}

TEST_F(ConsoleApiTest, AViewerGetsNoStartOrStopLinksNorControls) {
  const auto made = d().post("/api/v1/tokens", R"({"name":"watcher","role":"viewer"})");
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string viewer = made.json()["token"];
  const json plugin = d().get("/api/v1/plugins/firewall", viewer).json();
  EXPECT_EQ(plugin["links"], json({{"self", "/api/v1/plugins/firewall"}})) << plugin;
  EXPECT_TRUE(d().get("/api/v1/plugins/firewall").json()["links"].contains("start")) << "an admin's has it";
  const auto fragment = d().request("GET", "/api/v1/plugins", "", viewer, {{"HX-Request", "true"}});
  EXPECT_EQ(fragment.body.find("hx-post"), std::string::npos) << fragment.body;
  const auto dashboard = d().get("/", viewer);
  ASSERT_EQ(dashboard.status, 200);
  EXPECT_NE(dashboard.body.find("id=\"plugin-firewall\""), std::string::npos);
  EXPECT_EQ(dashboard.body.find("hx-post"), std::string::npos) << dashboard.body;
  EXPECT_EQ(dashboard.body.find("href=\"/tokens\""), std::string::npos)
      << "no admin page in a viewer's navigation";
}

TEST_F(ConsoleApiTest, TheEventsPageKeepsItsFilterInItsLinks) {
  create_token("for-the-page");
  wait_for_events("kind=api.change", 1);
  const auto page = d().get("/events?last=7d&kind=api.change&live=1");
  ASSERT_EQ(page.status, 200) << page.body;
  const std::string& html = page.body;
  EXPECT_NE(html.find("<option value=\"7d\" selected>"), std::string::npos) << html;
  EXPECT_NE(html.find("name=\"kind\" value=\"api.change\" checked"), std::string::npos) << html;
  EXPECT_NE(html.find("href=\"/api/v1/events/export?format=csv&amp;kind=api.change&amp;last=7d\""),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("sse-connect=\"/api/v1/events/stream?format=html&amp;kind=api.change\""),
            std::string::npos)
      << html;
  // 7 days in 2 h buckets: 84 bars (85 when the range starts inside one).
  std::smatch m;
  ASSERT_TRUE(std::regex_search(html, m, std::regex("data-buckets=\"([0-9]+)\""))) << html;
  EXPECT_GE(std::stoi(m[1]), 60);
  EXPECT_LE(std::stoi(m[1]), 121);
  EXPECT_NE(html.find("for-the-page"), std::string::npos);

  // An absolute range (datetime-local values, UTC) instead of a preset.
  const auto absolute = d().get("/events?since=2026-01-01T00:00&until=2026-01-02T00:00");
  ASSERT_EQ(absolute.status, 200) << absolute.body;
  EXPECT_NE(absolute.body.find("value=\"2026-01-01T00:00\""), std::string::npos);
  EXPECT_NE(absolute.body.find("since=2026-01-01T00:00:00Z"), std::string::npos) << "in the export links";
  EXPECT_NE(absolute.body.find("No events in this range."), std::string::npos);
  const auto bad = d().request("GET", "/events?since=yesterday", "", "", {{"HX-Request", "true"}});
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("data-field=\"since\""), std::string::npos) << bad.body;
}

// The firewall's counters in the rates while traffic flows, and its log
// events linking to their rule.
using ConsoleFirewallTest = NetnsAdamdTest;

TEST_F(ConsoleFirewallTest, RatesShowPacketsPerSecondAndDropEventsLinkToTheirRule) {
  // 5 log events a second per rule: the 20 drops a second below lose most of theirs.
  auto r =
      adamd_->post("/api/v1/plugins/firewall/start", R"({"interfaces":["veth-b"],"hook":"tc","log_rate":5})");
  ASSERT_EQ(r.status, 200) << r.body << adamd_->log();
  r = adamd_->post(
      "/api/v1/firewall/rules",
      R"({"name":"drop udp 9","action":"drop","log":true,"match":{"proto":["udp"],"dst_port":[9]}})");
  ASSERT_EQ(r.status, 201) << r.body;
  const int64_t rule = r.json()["id"];
  const auto samples = rates_during(*adamd_, 4500ms, [&] {
    // Pings (passed) and UDP to port 9 (dropped) from namespace a for 3 s.
    pair_->exec(
        pair_->a(),
        "timeout 3 ping -q -i 0.05 198.51.100.2 >/dev/null 2>&1 & "
        "bash -c \"for i in \\$(seq 60); do echo x > /dev/udp/198.51.100.2/9; sleep 0.05; done\"; wait");
  });
  ASSERT_GE(samples.size(), 3u);
  EXPECT_GE(peak(samples, "firewall: passed packets/s"), 5.0);
  EXPECT_GE(peak(samples, "firewall: dropped packets/s"), 5.0);
  EXPECT_GE(peak(samples, "events/s"), 1.0) << "the drop rule logs";
  EXPECT_GE(peak(samples, "lost events/s"), 1.0) << "over its log rate";

  // Each loss is marked in the events where it happened: an events.lost of
  // adamd naming the plugin, the reason and the count; the counts add up.
  int64_t lost = 0, marked = 0;
  for (auto deadline = std::chrono::steady_clock::now() + scaled(10s);
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(200ms)) {
    lost = adamd_->get("/api/v1/node").json()["events"]["plugins"]["firewall"]["lost"]["rate_limit"];
    marked = 0;
    const json markers = adamd_->get("/api/v1/events?kind=events.lost&limit=10000").json();
    for (const auto& e : markers["events"]) {
      EXPECT_EQ(e["plugin"], "adamd");
      EXPECT_EQ(e["data"]["plugin"], "firewall");
      EXPECT_EQ(e["data"]["reason"], "rate_limit");
      marked += e["data"]["count"].get<int64_t>();
    }
    if (lost > 0 && marked == lost) break;
  }
  EXPECT_GT(lost, 0);
  EXPECT_EQ(marked, lost);

  const json drops = adamd_->get("/api/v1/events?kind=firewall.drop").json()["events"];
  ASSERT_FALSE(drops.empty());
  EXPECT_EQ(drops[0]["links"]["rule"], "/api/v1/firewall/rules/" + std::to_string(rule));
  // The events table renders it as a button loading the rule.
  const auto fragment =
      adamd_->request("GET", "/api/v1/events?kind=firewall.drop&limit=1", "", "", {{"HX-Request", "true"}});
  EXPECT_NE(fragment.body.find("hx-get=\"/api/v1/firewall/rules/" + std::to_string(rule) + "\""),
            std::string::npos)
      << fragment.body;
}

}  // namespace
}  // namespace adam::test
