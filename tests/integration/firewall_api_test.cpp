// The firewall's control plane through a real adamd in a test namespace:
// rule CRUD, the ruleset, errors that name the field, roles, stats, the flow
// stream, explain, persistence across restarts, and adamctl fw.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "plugins/firewall/rule_json.h"
#include "support/adamd.h"
#include "support/netns.h"
#include "support/prometheus.h"
#include "support/sse.h"

namespace adam::test {
namespace {

using nlohmann::json;

const std::string kRules = "/api/v1/firewall/rules";
const std::string kRuleset = "/api/v1/firewall/ruleset";

json drop_rule(const std::string& name, const json& match = json::object()) {
  return {{"name", name}, {"action", "drop"}, {"match", match}};
}

// The 8080 rule of the design's example: tcp from 203.0.113.0/24 to port 8080.
json block_8080() {
  return {{"name", "block 8080"},
          {"priority", 100},
          {"action", "drop"},
          {"match", {{"src", {"203.0.113.0/24"}}, {"proto", {"tcp"}}, {"dst_port", {8080}}}}};
}

class FirewallApiTest : public NetnsAdamdTest {
 protected:
  HttpResponse put(const std::string& path, const json& body, const std::string& token = "") {
    return adamd_->request("PUT", path, body.dump(), token);
  }
  HttpResponse del(const std::string& path, const std::string& token = "") {
    return adamd_->request("DELETE", path, "", token);
  }
  // Adds a rule; returns its id.
  int64_t add(const json& rule) {
    auto r = adamd_->post(kRules, rule.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", int64_t{0});
  }
  json ruleset() { return adamd_->get(kRuleset).json(); }
  void start_firewall() {
    auto r = adamd_->post("/api/v1/plugins/firewall/start", R"({"interfaces":["veth-b"]})");
    ASSERT_EQ(r.status, 200) << r.body << adamd_->log();
  }
  std::string adamctl(const std::string& args) {
    return capture("ip netns exec " + pair_->b() + " " ADAM_BUILD_DIR "/adamctl --url " + adamd_->url() +
                   " --token " + adamd_->admin_token() + " " + args + " 2>&1; echo \"exit=$?\"");
  }
};

// A response must be the API's error with this status and field.
void expect_error(const HttpResponse& r, int status, const std::string& field) {
  expect_api_error(r, status, "", field);
}

TEST_F(FirewallApiTest, RulesCanBeAddedReadReplacedToggledAndRemoved) {
  auto created = adamd_->post(kRules, block_8080().dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const json rule = created.json();
  const int64_t id = rule["id"];
  const std::string self = kRules + "/" + std::to_string(id);
  EXPECT_GT(id, 0);
  EXPECT_EQ(rule["links"]["self"], self);
  EXPECT_EQ(rule["links"]["disable"], self + "/disable");
  EXPECT_EQ(rule["match"]["dst_port"], json({8080}));
  EXPECT_EQ(rule["enabled"], true);

  auto list = adamd_->get(kRules).json();
  EXPECT_EQ(list["default"], "pass");
  ASSERT_EQ(list["rules"].size(), 1u);
  EXPECT_EQ(list["rules"][0]["id"], id);
  EXPECT_EQ(adamd_->get(self).json()["name"], "block 8080");

  json replacement = drop_rule("block 9090", {{"proto", {"udp"}}, {"dst_port", {9090}}});
  auto replaced = put(self, replacement);
  ASSERT_EQ(replaced.status, 200) << replaced.body;
  EXPECT_EQ(replaced.json()["id"], id) << "PUT keeps the id";
  EXPECT_EQ(adamd_->get(self).json()["match"]["proto"], json({"udp"}));
  // A rule read from the API can be sent back as it is.
  EXPECT_EQ(put(self, adamd_->get(self).json()).status, 200);

  auto disabled = adamd_->post(self + "/disable");
  ASSERT_EQ(disabled.status, 200) << disabled.body;
  EXPECT_EQ(disabled.json()["enabled"], false);
  EXPECT_EQ(adamd_->get(self).json()["enabled"], false);
  EXPECT_EQ(adamd_->post(self + "/enable").json()["enabled"], true);

  // The console's fragments carry the next actions.
  auto html = adamd_->request("GET", kRules, "", "", {{"HX-Request", "true"}});
  EXPECT_NE(html.body.find("<table id=\"fw-rules\""), std::string::npos) << html.body;
  EXPECT_NE(html.body.find("hx-post=\"" + self + "/disable\""), std::string::npos) << html.body;
  EXPECT_NE(html.body.find("hx-delete=\"" + self + "\""), std::string::npos) << html.body;

  EXPECT_EQ(del(self).status, 204);
  expect_error(adamd_->get(self), 404, "");
  expect_error(del(self), 404, "");
  expect_error(put(self, replacement), 404, "");
  expect_error(adamd_->post(self + "/enable"), 404, "");
  expect_error(adamd_->get(kRules + "/99999999999"), 404, "");
  EXPECT_TRUE(adamd_->get(kRules).json()["rules"].empty());
  EXPECT_GT(add(block_8080()), id) << "ids are never reused";
}

TEST_F(FirewallApiTest, BadInputIsRefusedNamingTheFieldAndChangesNothing) {
  const int64_t id = add(block_8080());
  const json before = ruleset();

  expect_error(adamd_->post(kRules, drop_rule("r", {{"dst_port", {22, 70000}}}).dump()), 400,
               "match.dst_port[1]");
  auto host_bits = adamd_->post(kRules, drop_rule("r", {{"src", {"10.1.2.3/8"}}}).dump());
  expect_error(host_bits, 400, "match.src[0]");
  EXPECT_NE(host_bits.body.find("did you mean"), std::string::npos) << host_bits.body;
  expect_error(adamd_->post(kRules, drop_rule("r", {{"proto", {"icmp"}}, {"dst_port", {22}}}).dump()), 400,
               "match.dst_port");
  expect_error(adamd_->post(kRules, drop_rule("r", {{"dport", {22}}}).dump()), 400, "match.dport");
  expect_error(adamd_->post(kRules, R"({"name":"r","action":"allow"})"), 400, "action");
  expect_error(adamd_->post(kRules, R"({"name":"r","action":"drop","id":5})"), 400, "id");
  expect_error(adamd_->post(kRules, "{not json"), 400, "body");
  expect_error(adamd_->post(kRules, ""), 400, "body");
  json with_other_id = block_8080();
  with_other_id["id"] = id + 1;
  expect_error(put(kRules + "/" + std::to_string(id), with_other_id), 400, "id");

  json too_many = {{"rules", json::array()}};
  for (size_t i = 0; i <= fw::kMaxRules; ++i) too_many["rules"].push_back(drop_rule("r"));
  auto refused = put(kRuleset, too_many);
  expect_error(refused, 422, "rules");
  EXPECT_NE(refused.body.find(std::to_string(fw::kMaxRules + 1)), std::string::npos) << refused.body;

  // Within the rule limit but more prefixes than the kernel's tables hold:
  // refused by the kernel update, the transaction's last step.
  json too_big = {{"rules", json::array()}};
  char prefix[64];
  for (int i = 0; i < 9000; ++i) {
    json src = json::array();
    for (int j : {2 * i, 2 * i + 1}) {
      std::snprintf(prefix, sizeof prefix, "2001:db8::%x/128", j);
      src.push_back(prefix);
    }
    too_big["rules"].push_back(drop_rule("r", {{"src", src}}));
  }
  expect_error(put(kRuleset, too_big), 422, "rules");

  EXPECT_EQ(ruleset(), before);
}

TEST_F(FirewallApiTest, RulesetExportsAndReplacesAtomically) {
  const int64_t a = add(block_8080());
  const int64_t b = add(drop_rule("b", {{"dst", {"198.51.100.0/24"}}}));
  const int64_t c = add(drop_rule("c", {{"proto", {"udp"}}}));
  json exported = ruleset();
  ASSERT_EQ(exported["rules"].size(), 3u);

  // The export goes back in unchanged: same ids, same rules.
  exported["default"] = "drop";
  auto same = put(kRuleset, exported);
  ASSERT_EQ(same.status, 200) << same.body;
  EXPECT_EQ(ruleset(), exported);

  // One bad rule: nothing changes.
  json bad = exported;
  bad["default"] = "pass";
  bad["rules"][2]["match"]["src"] = {"203.0.113.7/24"};
  expect_error(put(kRuleset, bad), 400, "rules[2].match.src[0]");
  json unknown_id = exported;
  unknown_id["rules"][0]["id"] = c + 1000;
  expect_error(put(kRuleset, unknown_id), 400, "rules[0].id");
  json duplicate_id = exported;
  duplicate_id["rules"][1]["id"] = duplicate_id["rules"][0]["id"];
  expect_error(put(kRuleset, duplicate_id), 400, "rules[1].id");
  EXPECT_EQ(ruleset(), exported);

  // Rules with an id keep it, the others get new ones, the rest go.
  json next = {{"default", "pass"}, {"rules", {drop_rule("new"), block_8080()}}};
  next["rules"][1]["id"] = a;
  auto replaced = put(kRuleset, next);
  ASSERT_EQ(replaced.status, 200) << replaced.body;
  const json now = ruleset();
  EXPECT_EQ(now["default"], "pass");
  ASSERT_EQ(now["rules"].size(), 2u);
  EXPECT_EQ(now["rules"][0]["name"], "new");  // priority 0 before 100
  EXPECT_GT(now["rules"][0]["id"].get<int64_t>(), c);
  EXPECT_EQ(now["rules"][1]["id"], a);
  expect_error(adamd_->get(kRules + "/" + std::to_string(b)), 404, "");
}

TEST_F(FirewallApiTest, RuleChangesAreAuditedWithBeforeAndAfter) {
  const int64_t id = add(block_8080());
  const std::string self = kRules + "/" + std::to_string(id);
  ASSERT_EQ(adamd_->post(self + "/disable").status, 200);
  ASSERT_EQ(del(self).status, 204);

  // The audit trail is written in the background: newest first once all three are there.
  json events;
  for (int i = 0; i < 50 && events.size() < 3; ++i, usleep(100'000))
    events = adamd_->get("/api/v1/events?kind=api.change&last=1h").json()["events"];
  ASSERT_EQ(events.size(), 3u) << events.dump(2);
  const json& removed = events[0]["data"];
  EXPECT_EQ(removed["route"], "/api/v1/firewall/rules/{id}");
  EXPECT_EQ(removed["before"]["id"], id);
  EXPECT_EQ(removed["before"]["enabled"], false);
  EXPECT_TRUE(removed["after"].is_null());
  const json& disabled = events[1]["data"];
  EXPECT_EQ(disabled["before"]["enabled"], true);
  EXPECT_EQ(disabled["after"]["enabled"], false);
  const json& created = events[2]["data"];
  EXPECT_TRUE(created["before"].is_null());
  EXPECT_EQ(created["after"]["id"], id);
  EXPECT_EQ(created["after"]["match"]["dst_port"], json({8080}));
}

TEST_F(FirewallApiTest, ViewerTokensReadButCannotWrite) {
  const int64_t id = add(block_8080());
  auto created = adamd_->post("/api/v1/tokens", R"({"name":"watcher","role":"viewer"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string viewer = created.json()["token"];
  const std::string self = kRules + "/" + std::to_string(id);

  EXPECT_EQ(adamd_->get(kRules, viewer).status, 200);
  EXPECT_EQ(adamd_->get(self, viewer).status, 200);
  EXPECT_EQ(adamd_->get(kRuleset, viewer).status, 200);
  EXPECT_EQ(adamd_->get("/api/v1/firewall/stats", viewer).status, 200);
  expect_error(adamd_->post(kRules, block_8080().dump(), viewer), 403, "");
  expect_error(put(self, block_8080(), viewer), 403, "");
  expect_error(del(self, viewer), 403, "");
  expect_error(adamd_->post(self + "/disable", "{}", viewer), 403, "");
  expect_error(put(kRuleset, {{"rules", json::array()}}, viewer), 403, "");
  EXPECT_EQ(adamd_->get(self).json()["enabled"], true);
  EXPECT_EQ(ruleset()["rules"].size(), 1u);
  // Explaining changes nothing: viewers may (503 here: the firewall is stopped).
  expect_error(
      adamd_->post("/api/v1/firewall/explain",
                   R"({"src":"203.0.113.1","dst":"198.51.100.2","proto":"tcp","dst_port":8080})", viewer),
      503, "");
}

TEST_F(FirewallApiTest, StatsCountAndTheFlowStreamReportsEverySecond) {
  const int64_t id = add(drop_rule("drop from a", {{"src", {"198.51.100.1/32"}}, {"proto", {"icmp"}}}));
  start_firewall();
  pair_->exec(pair_->a(), "ping -q -c 3 -i 0.1 -W 1 198.51.100.2");
  const json stats = adamd_->get("/api/v1/firewall/stats").json();
  EXPECT_GE(stats["packets"]["drop"].get<uint64_t>(), 3u) << stats.dump();
  EXPECT_GE(stats["rules"][std::to_string(id)]["packets"].get<uint64_t>(), 3u) << stats.dump();
  EXPECT_TRUE(stats["bytes"].contains("pass"));
  EXPECT_GE(adamd_->get(kRules + "/" + std::to_string(id)).json()["counters"]["packets"].get<uint64_t>(), 3u);

  // Reads the stream until two events came or 3.5 s passed, then hangs up.
  const auto events =
      read_sse_events(*adamd_, "/api/v1/firewall/flow", "flow", 2, std::chrono::milliseconds(3500));
  ASSERT_EQ(events.size(), 2u);
  for (const char* key : {"ts", "pass_pps", "drop_pps", "pass_bps", "drop_bps"})
    EXPECT_TRUE(events[0].contains(key)) << key << " missing in " << events[0].dump();
  EXPECT_EQ(adamd_->get("/healthz", "-").status, 200) << "the stream ended with the client";
}

// What a Prometheus server scraping adamd sees of the firewall: its own
// adam_firewall_* series, parsed as a scraper parses them.
TEST_F(FirewallApiTest, MetricsCarryTheFirewallsCountersAsPrometheusSeries) {
  add(drop_rule("drop from a", {{"src", {"198.51.100.1/32"}}, {"proto", {"icmp"}}}));
  add(drop_rule("unused", {{"src", {"203.0.113.9/32"}}}));
  const Exposition idle = parse_exposition(adamd_->get("/metrics", "-").body);
  EXPECT_FALSE(idle.value("adam_firewall_packets_total", {{"verdict", "drop"}}))
      << "a stopped firewall exports no series of its own";
  start_firewall();
  pair_->exec(pair_->a(), "ping -q -c 5 -i 0.1 -W 1 198.51.100.2");
  const HttpResponse r = adamd_->get("/metrics", "-");
  ASSERT_EQ(r.status, 200);
  const Exposition m = parse_exposition(r.body);
  EXPECT_EQ(m.types.at("adam_firewall_packets_total"), "counter");
  EXPECT_EQ(m.types.at("adam_firewall_rules"), "gauge");
  EXPECT_GE(m.value("adam_firewall_packets_total", {{"verdict", "drop"}}).value_or(0), 5);
  EXPECT_GE(m.value("adam_firewall_bytes_total", {{"verdict", "drop"}}).value_or(0), 5 * 98);
  EXPECT_TRUE(m.value("adam_firewall_packets_total", {{"verdict", "pass"}}));
  EXPECT_EQ(m.value("adam_firewall_rules"), 2);
  EXPECT_EQ(m.value("adam_firewall_hook_info", {{"interface", "veth-b"}}), 1);
  EXPECT_EQ(m.value("adamd_plugin_state", {{"plugin", "firewall"}, {"state", "running"}}), 1);
  // The scrape reads the verdict totals, never a counter per rule.
  for (const Sample& s : m.samples)
    EXPECT_EQ(s.labels.count("rule_id") + s.labels.count("rule"), 0u) << s.name;
  // The same numbers as the API's stats.
  const json stats = adamd_->get("/api/v1/firewall/stats").json();
  EXPECT_LE(m.value("adam_firewall_packets_total", {{"verdict", "drop"}}).value_or(0),
            stats["packets"]["drop"].get<double>());
}

TEST_F(FirewallApiTest, ExplainAgreesWithTheRules) {
  const std::string explain = "/api/v1/firewall/explain";
  const std::string tcp_8080 = R"({"src":"203.0.113.1","dst":"198.51.100.2","proto":"tcp","dst_port":8080})";
  expect_error(adamd_->post(explain, tcp_8080), 503, "");
  const int64_t id = add(block_8080());
  start_firewall();

  auto dropped = adamd_->post(explain, tcp_8080);
  ASSERT_EQ(dropped.status, 200) << dropped.body;
  EXPECT_EQ(dropped.json()["verdict"], "drop");
  EXPECT_EQ(dropped.json()["rule_id"], id);
  auto udp =
      adamd_->post(explain, R"({"src":"203.0.113.1","dst":"198.51.100.2","proto":"udp","dst_port":8080})");
  ASSERT_EQ(udp.status, 200) << udp.body;
  EXPECT_EQ(udp.json()["verdict"], "pass");
  EXPECT_TRUE(udp.json()["rule_id"].is_null()) << "the default decided";
  auto other_source =
      adamd_->post(explain, R"({"src":"198.51.100.1","dst":"198.51.100.2","proto":"tcp","dst_port":8080})");
  EXPECT_EQ(other_source.json()["verdict"], "pass");

  // A rule change is what explain sees next.
  ASSERT_EQ(adamd_->post(kRules + "/" + std::to_string(id) + "/disable").status, 200);
  EXPECT_EQ(adamd_->post(explain, tcp_8080).json()["verdict"], "pass");

  expect_error(adamd_->post(explain, R"({"src":"x","dst":"198.51.100.2","proto":"tcp"})"), 400, "src");
  expect_error(
      adamd_->post(explain, R"({"src":"203.0.113.1","dst":"198.51.100.2","proto":"icmp","dst_port":1})"), 400,
      "dst_port");
  expect_error(
      adamd_->post(explain,
                   R"({"src":"203.0.113.1","dst":"198.51.100.2","proto":"tcp","iface":"adamt-none0"})"),
      400, "iface");
}

TEST_F(FirewallApiTest, RulesAndDefaultSurviveARestartWithTheirIds) {
  add(block_8080());
  const int64_t disabled = add(drop_rule("off"));
  ASSERT_EQ(adamd_->post(kRules + "/" + std::to_string(disabled) + "/disable").status, 200);
  json set_default = ruleset();
  set_default["default"] = "drop";
  ASSERT_EQ(put(kRuleset, set_default).status, 200);
  const json before = ruleset();

  EXPECT_EQ(adamd_->stop(), 0);
  adamd_->start();
  EXPECT_EQ(ruleset(), before);
  adamd_->kill9();
  adamd_->start();
  EXPECT_EQ(ruleset(), before);
  EXPECT_GT(add(drop_rule("after")), disabled) << "ids are never reused, also across restarts";
}

TEST_F(FirewallApiTest, AdamctlManagesRules) {
  auto added = adamctl("fw add --name web --action pass --proto tcp --dport 80 --dport 443 --priority 5");
  EXPECT_NE(added.find("exit=0"), std::string::npos) << added;
  EXPECT_NE(added.find("proto tcp dport 80,443"), std::string::npos) << added;
  const int64_t id = ruleset()["rules"][0]["id"];
  const std::string sid = std::to_string(id);

  auto bad = adamctl("fw add --name x --action drop --proto icmp --dport 22");
  EXPECT_NE(bad.find("field: match.dst_port"), std::string::npos) << bad;
  EXPECT_NE(bad.find("exit=1"), std::string::npos) << bad;
  EXPECT_NE(adamctl("fw add --json '{\"name\":\"j\",\"action\":\"drop\"}'").find("exit=0"),
            std::string::npos);

  auto list = adamctl("fw rules");
  EXPECT_NE(list.find("ID"), std::string::npos) << list;
  EXPECT_NE(list.find("web"), std::string::npos) << list;
  EXPECT_NE(list.find("default: pass"), std::string::npos) << list;
  EXPECT_NE(adamctl("fw disable " + sid).find(" no "), std::string::npos);
  EXPECT_EQ(adamd_->get(kRules + "/" + sid).json()["enabled"], false);
  EXPECT_NE(adamctl("fw enable " + sid).find(" yes "), std::string::npos);
  auto as_json = adamctl("-o json fw rules");
  EXPECT_FALSE(json::parse(as_json.substr(0, as_json.rfind("exit=")), nullptr, false).is_discarded())
      << as_json;

  // Export → import keeps the ids of rules that exist.
  char dir_template[] = "/tmp/adamt-fwctl-XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  const std::string exported = dir + "/ruleset.json";
  EXPECT_NE(adamctl("fw export " + exported).find("exit=0"), std::string::npos);
  const json before = ruleset();
  auto imported = adamctl("fw import " + exported + " --default drop");
  EXPECT_NE(imported.find("ruleset replaced: 2 rules, default drop"), std::string::npos) << imported;
  json expected = before;
  expected["default"] = "drop";
  EXPECT_EQ(ruleset(), expected);

  // ClassBench: line order is priority; any protocol with ports is tcp/udp.
  const std::string classbench = dir + "/filters.rules";
  std::ofstream(classbench)
      << "@203.0.113.0/24\t198.51.100.0/24\t0 : 65535\t22 : 22\t0x06/0xFF\t0x0000/0x0000\t\n"
         "@0.0.0.0/0\t0.0.0.0/0\t1024 : 65535\t53 : 53\t0x00/0x00\t0x0000/0x0000\t\n";
  auto cb = adamctl("fw import --format classbench " + classbench);
  EXPECT_NE(cb.find("ruleset replaced: 2 rules, default pass"), std::string::npos) << cb;
  const json loaded = ruleset();
  ASSERT_EQ(loaded["rules"].size(), 2u);
  EXPECT_EQ(loaded["rules"][1]["match"]["proto"], json({"tcp", "udp"}));
  std::ofstream(classbench, std::ios::app)
      << "@0.0.0.0/0\t0.0.0.0/0\t9 : 1\t0 : 65535\t0x06/0xFF\t0x0000/0x0000\n";
  auto bad_line = adamctl("fw import --format classbench " + classbench);
  EXPECT_NE(bad_line.find("line 3"), std::string::npos) << bad_line;
  EXPECT_NE(bad_line.find("exit=1"), std::string::npos) << bad_line;
  EXPECT_EQ(ruleset(), loaded);
  std::filesystem::remove_all(dir);

  auto explain = adamctl("fw explain --src 203.0.113.1 --dst 198.51.100.2 --proto tcp --dport 22");
  EXPECT_NE(explain.find("firewall is not running"), std::string::npos) << explain;
  start_firewall();
  explain = adamctl("fw explain --src 203.0.113.1 --dst 198.51.100.2 --proto tcp --dport 22");
  EXPECT_NE(explain.find("drop by rule " + loaded["rules"][0]["id"].dump()), std::string::npos) << explain;
  explain = adamctl("fw explain --src 203.0.113.1 --dst 198.51.100.2 --proto icmp");
  EXPECT_NE(explain.find("pass by the default policy"), std::string::npos) << explain;

  const std::string first = loaded["rules"][0]["id"].dump();
  EXPECT_NE(adamctl("fw rm " + first).find("removed rule " + first), std::string::npos);
  EXPECT_NE(adamctl("fw rm " + first).find("HTTP 404"), std::string::npos);
}

}  // namespace
}  // namespace adam::test
