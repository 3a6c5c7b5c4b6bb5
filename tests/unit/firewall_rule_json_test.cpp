// Firewall rules as JSON and ClassBench lines: round trips, and every kind of
// bad input names its field and quotes the bad value.
#include "plugins/firewall/rule_json.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include "core/errors.h"

namespace adam::fw {
namespace {

using nlohmann::json;

// f() must throw an ApiError with this status and field whose message
// contains `mentions` (the bad value).
void expect_error(const std::function<void()>& f, int status, const std::string& field,
                  const std::string& mentions) {
  try {
    f();
    ADD_FAILURE() << "accepted; expected " << status << " on " << field;
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), status) << e.what();
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_NE(std::string(e.what()).find(mentions), std::string::npos)
        << "message \"" << e.what() << "\" does not mention " << mentions;
  }
}

json rule_with(const json& match) { return {{"name", "r"}, {"action", "drop"}, {"match", match}}; }

void expect_bad_rule(const json& rule, const std::string& field, const std::string& mentions) {
  SCOPED_TRACE(rule.dump());
  expect_error([&] { rule_from_json(rule); }, 400, field, mentions);
}

void expect_bad_match(const json& match, const std::string& field, const std::string& mentions) {
  expect_bad_rule(rule_with(match), field, mentions);
}

Prefix v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t len) {
  Prefix p;
  p.family = 4;
  p.len = len;
  p.addr[0] = a, p.addr[1] = b, p.addr[2] = c, p.addr[3] = d;
  return p;
}

TEST(FirewallRuleJson, RoundTripsEveryField) {
  const json in = {{"name", "ssh from office only"},
                   {"description", "office → ssh"},
                   {"priority", -100},
                   {"action", "pass"},
                   {"enabled", false},
                   {"log", true},
                   {"match",
                    {{"src", {"203.0.113.0/24", "2001:db8::/32"}},
                     {"dst", {"198.51.100.7"}},
                     {"proto", {"TCP", "udp"}},
                     {"src_port", {"1024-65535"}},
                     {"dst_port", {22, "8000-8080", "443"}},
                     {"iface", {"eth0"}}}}};
  const Rule rule = rule_from_json(in);
  EXPECT_EQ(rule.id, 0u);
  EXPECT_EQ(rule.priority, -100);
  EXPECT_EQ(rule.action, Action::pass);
  EXPECT_FALSE(rule.enabled);
  EXPECT_TRUE(rule.log);
  ASSERT_EQ(rule.match.src.size(), 2u);
  EXPECT_EQ(rule.match.src[0], v4(203, 0, 113, 0, 24));
  EXPECT_EQ(rule.match.src[1].family, 6);
  EXPECT_EQ(rule.match.dst[0], v4(198, 51, 100, 7, 32)) << "a bare address is a host prefix";
  EXPECT_EQ(rule.match.proto, (std::vector<uint8_t>{kProtoTcp, kProtoUdp}));
  EXPECT_EQ(rule.match.dst_port, (std::vector<PortRange>{{22, 22}, {8000, 8080}, {443, 443}}));

  const json out = rule_to_json(rule);
  EXPECT_EQ(out["match"], json({{"src", {"203.0.113.0/24", "2001:db8::/32"}},
                                {"dst", {"198.51.100.7/32"}},
                                {"proto", {"tcp", "udp"}},
                                {"src_port", {"1024-65535"}},
                                {"dst_port", {22, "8000-8080", 443}},
                                {"iface", {"eth0"}}}));
  EXPECT_FALSE(out.contains("id"));
  EXPECT_EQ(rule_from_json(out), rule);

  const Rule numbered = rule_from_json(rule_with({{"proto", {47, "132", "ICMPv6", 1}}}));
  EXPECT_EQ(numbered.match.proto, (std::vector<uint8_t>{47, 132, kProtoIcmpv6, kProtoIcmp}));
  EXPECT_EQ(rule_to_json(numbered)["match"]["proto"], json({47, 132, "icmpv6", "icmp"}));
}

TEST(FirewallRuleJson, OmittedAndEmptyFieldsMatchAnything) {
  const Rule minimal = rule_from_json({{"name", "all"}, {"action", "drop"}});
  EXPECT_EQ(minimal.priority, 0);
  EXPECT_TRUE(minimal.enabled);
  EXPECT_FALSE(minimal.log);
  EXPECT_EQ(minimal.description, "");
  EXPECT_EQ(minimal.match, Match{});
  const Rule empty_lists = rule_from_json(rule_with({{"src", json::array()},
                                                     {"dst", json::array()},
                                                     {"proto", json::array()},
                                                     {"dst_port", json::array()}}));
  EXPECT_EQ(empty_lists.match, Match{}) << "[] is the same as omitted";
  EXPECT_EQ(rule_to_json(empty_lists)["match"], json::object());
  EXPECT_EQ(match_summary(rule_to_json(empty_lists)["match"]), "any");
}

TEST(FirewallRuleJson, ReadOnlyOutputFieldsAreIgnoredAndIdIsRead) {
  json resource = rule_with({{"proto", {"tcp"}}});
  resource["id"] = 7;
  resource["links"] = {{"self", "/api/v1/firewall/rules/7"}};
  resource["counters"] = {{"packets", 1}, {"bytes", 60}};
  EXPECT_EQ(rule_from_json(resource).id, 7u);
  for (const json& bad_id : {json(0), json(-1), json("7"), json(4294967296)}) {
    resource["id"] = bad_id;
    expect_bad_rule(resource, "id", bad_id.dump());
  }
}

TEST(FirewallRuleJson, BadPrefixesNameFieldAndValue) {
  expect_bad_match({{"src", {"10.0.0.0/8", "10.1.2.3/8"}}}, "match.src[1]",
                   "\"10.1.2.3/8\" has host bits set; did you mean \"10.0.0.0/8\"?");
  expect_bad_match({{"dst", {"2001:db8::1/32"}}}, "match.dst[0]", "did you mean \"2001:db8::/32\"?");
  expect_bad_match({{"src", {"10.0.0.0/33"}}}, "match.src[0]", "\"10.0.0.0/33\"");
  expect_bad_match({{"src", {"2001:db8::/129"}}}, "match.src[0]", "0 to 128");
  expect_bad_match({{"src", {"10.0.0.0/"}}}, "match.src[0]", "\"10.0.0.0/\"");
  expect_bad_match({{"src", {"10.0.0.0/-1"}}}, "match.src[0]", "\"10.0.0.0/-1\"");
  expect_bad_match({{"src", {"300.1.1.0/24"}}}, "match.src[0]",
                   "\"300.1.1.0/24\" is not an IPv4 or IPv6 prefix");
  expect_bad_match({{"dst", {"example.com"}}}, "match.dst[0]", "\"example.com\"");
  expect_bad_match({{"dst", {42}}}, "match.dst[0]", "42");
  expect_bad_match({{"src", "10.0.0.0/8"}}, "match.src", "must be an array");
  expect_bad_match({{"src", {"198.51.100.0/24"}}, {"dst", {"2001:db8::/32"}}}, "match.dst",
                   "could never match");
}

TEST(FirewallRuleJson, BadPortsNameFieldAndValue) {
  expect_bad_match({{"dst_port", {22, 70000}}}, "match.dst_port[1]", "70000");
  expect_bad_match({{"dst_port", {-1}}}, "match.dst_port[0]", "-1");
  expect_bad_match({{"src_port", {"200-100"}}}, "match.src_port[0]",
                   "\"200-100\" is reversed; did you mean \"100-200\"?");
  expect_bad_match({{"dst_port", {"1-70000"}}}, "match.dst_port[0]", "\"1-70000\"");
  expect_bad_match({{"dst_port", {"http"}}}, "match.dst_port[0]", "\"http\"");
  expect_bad_match({{"dst_port", {"22-"}}}, "match.dst_port[0]", "\"22-\"");
  expect_bad_match({{"dst_port", {1.5}}}, "match.dst_port[0]", "1.5");
  expect_bad_match({{"dst_port", {true}}}, "match.dst_port[0]", "true");
}

TEST(FirewallRuleJson, BadProtocolsAndPortsWithoutTcpOrUdp) {
  expect_bad_match({{"proto", {"tcp", "tcpp"}}}, "match.proto[1]", "unknown protocol \"tcpp\"");
  expect_bad_match({{"proto", {256}}}, "match.proto[0]", "256");
  expect_bad_match({{"proto", {"icmp"}}, {"dst_port", {22}}}, "match.dst_port", "\"icmp\"");
  expect_bad_match({{"proto", {"tcp", 47}}, {"src_port", {22}}}, "match.src_port", "47");
  EXPECT_NO_THROW(rule_from_json(rule_with({{"proto", {"tcp", "udp"}}, {"dst_port", {53}}})));
  EXPECT_NO_THROW(rule_from_json(rule_with({{"dst_port", {53}}}))) << "no proto: tcp and udp packets";
}

TEST(FirewallRuleJson, BadInterfaceNames) {
  EXPECT_NO_THROW(rule_from_json(rule_with({{"iface", {"veth-b", "eth0.100"}}})));
  expect_bad_match({{"iface", {""}}}, "match.iface[0]", "\"\"");
  expect_bad_match({{"iface", {"eth0", "a/b"}}}, "match.iface[1]", "\"a/b\"");
  expect_bad_match({{"iface", {"sixteen-chars-xx"}}}, "match.iface[0]", "sixteen-chars-xx");
}

TEST(FirewallRuleJson, UnknownFieldsAndWrongTypes) {
  json rule = rule_with(json::object());
  rule["nmae"] = "typo";
  expect_bad_rule(rule, "nmae", "unknown field 'nmae'");
  expect_bad_match({{"dport", {22}}}, "match.dport", "unknown field 'dport'");
  expect_bad_match(json::array(), "match", "must be a JSON object");
  expect_error([] { rule_from_json(json::array()); }, 400, "body", "must be a JSON object");

  auto with = [](const char* key, const json& value) {
    json r = {{"name", "r"}, {"action", "drop"}};
    r[key] = value;
    return r;
  };
  expect_bad_rule(with("name", 5), "name", "5");
  expect_bad_rule(with("priority", "100"), "priority", "\"100\"");
  expect_bad_rule(with("priority", 2147483648), "priority", "2147483648");
  expect_bad_rule(with("priority", 1.5), "priority", "1.5");
  expect_bad_rule(with("enabled", "yes"), "enabled", "\"yes\"");
  expect_bad_rule(with("log", 1), "log", "1");
  expect_bad_rule(with("action", "allow"), "action", "\"allow\"");
  EXPECT_EQ(rule_from_json(with("priority", -2147483648)).priority, INT32_MIN);
}

TEST(FirewallRuleJson, NameAndActionAreRequired) {
  expect_bad_rule({{"action", "drop"}}, "name", "missing");
  expect_bad_rule({{"name", ""}, {"action", "drop"}}, "name", "got 0");
  expect_bad_rule({{"name", std::string(129, 'n')}, {"action", "drop"}}, "name", "got 129");
  EXPECT_NO_THROW(rule_from_json({{"name", std::string(128, 'n')}, {"action", "drop"}}));
  expect_bad_rule({{"name", "r"}}, "action", "missing");
  expect_bad_rule({{"name", "r"}, {"action", "drop"}, {"description", std::string(1025, 'd')}}, "description",
                  "1025");
}

TEST(FirewallRuleJson, RulesetRoundTripsInEvaluationOrderAndKeepsIds) {
  const json in = {{"default", "drop"},
                   {"rules",
                    {{{"id", 9}, {"name", "b"}, {"priority", 10}, {"action", "pass"}},
                     {{"id", 3}, {"name", "c"}, {"priority", 10}, {"action", "pass"}},
                     {{"name", "new"}, {"priority", 5}, {"action", "drop"}}}}};
  const Ruleset ruleset = ruleset_from_json(in);
  EXPECT_EQ(ruleset.default_action, Action::drop);
  ASSERT_EQ(ruleset.rules.size(), 3u);
  EXPECT_EQ(ruleset.rules[0].id, 9u);
  EXPECT_EQ(ruleset.rules[2].id, 0u);
  const json out = ruleset_to_json(ruleset);
  EXPECT_EQ(out["default"], "drop");
  ASSERT_EQ(out["rules"].size(), 3u);
  EXPECT_EQ(out["rules"][0]["name"], "new");  // priority 5
  EXPECT_EQ(out["rules"][1]["id"], 3);        // priority 10, lower id first
  EXPECT_EQ(out["rules"][2]["id"], 9);
  const Ruleset again = ruleset_from_json(out);
  EXPECT_EQ(again.default_action, ruleset.default_action);
  EXPECT_EQ(ruleset_to_json(again), out);

  EXPECT_EQ(ruleset_from_json(json::object()).default_action, Action::pass) << "pass unless set";
}

TEST(FirewallRuleJson, RulesetErrorsNameTheRule) {
  json rules = json::array();
  for (int i = 0; i < 4; ++i) rules.push_back(rule_with({{"src", {"203.0.113.0/24"}}}));
  rules[3]["match"]["src"][0] = "203.0.113.1/24";
  expect_error(
      [&] {
        ruleset_from_json({{"rules", rules}});
      },
      400, "rules[3].match.src[0]", "203.0.113.1/24");
  expect_error([] { ruleset_from_json({{"default", "deny"}}); }, 400, "default", "\"deny\"");
  expect_error([] { ruleset_from_json({{"rule", json::array()}}); }, 400, "rule", "unknown field 'rule'");
  expect_error([] { ruleset_from_json({{"rules", json::object()}}); }, 400, "rules", "array");

  const json too_many = {{"rules", json::array()}};
  json many = too_many;
  for (size_t i = 0; i <= kMaxRules; ++i) many["rules"].push_back({{"name", "r"}, {"action", "drop"}});
  expect_error([&] { ruleset_from_json(many); }, 422, "rules", std::to_string(kMaxRules + 1) + " rules");
  many["rules"].erase(many["rules"].begin());
  EXPECT_EQ(ruleset_from_json(many).rules.size(), kMaxRules);
}

TEST(FirewallRuleJson, MatchSummaryForTables) {
  EXPECT_EQ(match_summary({{"src", {"203.0.113.0/24"}}, {"proto", {"tcp"}}, {"dst_port", {22, "8000-8080"}}}),
            "src 203.0.113.0/24 proto tcp dport 22,8000-8080");
}

TEST(FirewallPacketQuery, ParsesAndValidates) {
  const PacketQuery q = packet_query_from_json({{"src", "203.0.113.1"},
                                                {"dst", "198.51.100.2"},
                                                {"proto", "tcp"},
                                                {"dst_port", 8080},
                                                {"iface", "veth-b"}});
  EXPECT_EQ(q.packet.family, 4);
  EXPECT_EQ(q.packet.src[0], 203);
  EXPECT_EQ(q.packet.dst[3], 2);
  EXPECT_EQ(q.packet.proto, kProtoTcp);
  EXPECT_TRUE(q.packet.has_ports);
  EXPECT_EQ(q.packet.src_port, 0);
  EXPECT_EQ(q.packet.dst_port, 8080);
  EXPECT_EQ(q.iface, "veth-b");
  const PacketQuery icmp6 =
      packet_query_from_json({{"src", "2001:db8::1"}, {"dst", "2001:db8::2"}, {"proto", 58}});
  EXPECT_EQ(icmp6.packet.family, 6);
  EXPECT_FALSE(icmp6.packet.has_ports);

  const json base = {{"src", "203.0.113.1"}, {"dst", "198.51.100.2"}, {"proto", "udp"}};
  auto bad = [&](const char* key, const json& value, const std::string& mentions) {
    json q = base;
    q[key] = value;
    expect_error([&] { packet_query_from_json(q); }, 400, key, mentions);
  };
  bad("src", "203.0.113.0/24", "\"203.0.113.0/24\"");
  bad("dst", "2001:db8::2", "is IPv6 but src is IPv4");
  bad("proto", "sctpp", "\"sctpp\"");
  bad("dst_port", 65536, "65536");
  bad("iface", "a b", "\"a b\"");
  bad("size", 1, "unknown field 'size'");
  json icmp = base;
  icmp["proto"] = "icmp";
  icmp["dst_port"] = 1;
  expect_error([&] { packet_query_from_json(icmp); }, 400, "dst_port", "\"icmp\"");
  expect_error(
      [] {
        packet_query_from_json({{"src", "203.0.113.1"}, {"dst", "198.51.100.2"}});
      },
      400, "proto", "missing");
}

TEST(FirewallClassBench, ParsesFiltersInLineOrder) {
  const std::string text =
      "@203.0.113.0/24\t198.51.100.7/32\t0 : 65535\t22 : 22\t0x06/0xFF\t0x1000/0x1000\t\n"
      "@0.0.0.0/0\t0.0.0.0/0\t1024 : 65535\t80 : 88\t0x00/0x00\t0x0000/0x0000\t\r\n"
      "\n"
      "@0.0.0.0/0\t198.51.100.0/24\t0 : 65535\t0 : 65535\t0x01/0xFF\t0x0000/0x0000\n"
      "@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\t0x0000/0x0000";
  const std::vector<Rule> rules = parse_classbench(text);
  ASSERT_EQ(rules.size(), 4u);

  EXPECT_EQ(rules[0].name, "classbench line 1");
  EXPECT_EQ(rules[0].priority, 10);
  EXPECT_EQ(rules[0].action, Action::drop);
  EXPECT_EQ(rule_to_json(rules[0])["match"], json({{"src", {"203.0.113.0/24"}},
                                                   {"dst", {"198.51.100.7/32"}},
                                                   {"proto", {"tcp"}},
                                                   {"dst_port", {22}}}));
  // Ports with any protocol: ports exist for tcp and udp only.
  EXPECT_EQ(rule_to_json(rules[1])["match"],
            json({{"proto", {"tcp", "udp"}}, {"src_port", {"1024-65535"}}, {"dst_port", {"80-88"}}}));
  EXPECT_EQ(rules[2].name, "classbench line 4");
  EXPECT_EQ(rules[2].priority, 40);
  EXPECT_EQ(rule_to_json(rules[2])["match"], json({{"dst", {"198.51.100.0/24"}}, {"proto", {"icmp"}}}));
  EXPECT_EQ(rules[3].match, Match{});
}

// A ClassBench file of the shared sets, exported again, reads back to the
// same matches in the same order; what ClassBench cannot say is refused.
TEST(FirewallClassBench, ExportReadsBackToTheSameRules) {
  std::ifstream file(std::string(ADAM_SOURCE_DIR) + "/../shared/classbench/fw1_1k.rules");
  ASSERT_TRUE(file) << "../shared/classbench/fw1_1k.rules";
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  Ruleset imported;
  imported.rules = parse_classbench(text);
  for (size_t i = 0; i < imported.rules.size(); ++i) imported.rules[i].id = static_cast<uint32_t>(i + 1);
  const std::vector<Rule> again = parse_classbench(format_classbench(imported));
  ASSERT_EQ(again.size(), imported.rules.size());
  for (size_t i = 0; i < again.size(); ++i)
    EXPECT_EQ(again[i].match, imported.rules[i].match) << "rule " << i;

  Ruleset pass;
  pass.rules = {rule_from_json({{"name", "p"}, {"action", "pass"}})};
  expect_error([&] { format_classbench(pass); }, 422, "rules[0]", "no action");
  Ruleset v6;
  v6.rules = {rule_from_json({{"name", "v6"}, {"action", "drop"}, {"match", {{"src", {"2001:db8::/32"}}}}})};
  expect_error([&] { format_classbench(v6); }, 422, "rules[0]", "one IPv4 prefix");
}

TEST(FirewallClassBench, BadLinesAreNamed) {
  const std::string good = "@203.0.113.0/24\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x06/0xFF\t0x0000/0x0000\n";
  auto bad_second_line = [&](const std::string& line, const std::string& mentions) {
    SCOPED_TRACE(line);
    expect_error([&] { parse_classbench(good + line); }, 400, "line 2", mentions);
  };
  bad_second_line("@0.0.0.0/0\t0.0.0.0/0\t200 : 100\t0 : 65535\t0x06/0xFF\t0x0000/0x0000",
                  "line 2: match.src_port[0]: port range \"200-100\" is reversed");
  bad_second_line("@203.0.113.1/24\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x06/0xFF\t0x0000/0x0000",
                  "did you mean \"203.0.113.0/24\"?");
  bad_second_line("@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x06/0x0F\t0x0000/0x0000", "\"0x06/0x0F\"");
  bad_second_line("@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t22 : 22\t0x01/0xFF\t0x0000/0x0000",
                  "match.dst_port: ports apply to tcp and udp only");
  bad_second_line("@0.0.0.0/0\t0.0.0.0/0\t0 : 70000\t0 : 65535\t0x06/0xFF\t0x0000/0x0000", "\"0 : 70000\"");
  bad_second_line("@0.0.0.0/0\t0.0.0.0/0\t0 : 65535", "got 3");
  bad_second_line("0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x06/0xFF\t0x0000/0x0000", "'@'");
  // Found by classbench_fuzz: a NUL inside an address was read as its end.
  bad_second_line(
      std::string("@0.0.0.0/0\t0.0.0.0\0\0/0\t0 : 65535\t0 : 65535\t0x06/0xFF\t0x0000/0x0000", 66),
      "a control character (byte 0x00) at column 19");
}

}  // namespace
}  // namespace adam::fw
