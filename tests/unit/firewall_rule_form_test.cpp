// The console's firewall forms as the API's JSON: a rule built condition by
// condition, and the explain form; bad values name the field the page shows
// the error next to.
#include "plugins/firewall/rule_form.h"

#include <gtest/gtest.h>

#include "core/errors.h"
#include "plugins/firewall/rule_json.h"

namespace adam::fw {
namespace {

using nlohmann::json;

// The ApiError's field of f(), or "" when it does not throw one.
template <typename F>
std::string error_field(F f) {
  try {
    f();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400) << e.what();
    return e.field();
  }
  return "";
}

TEST(FirewallRuleFormTest, ConditionRowsBecomeTheRulesMatch) {
  const FormFields form = {{"name", "block web"},
                           {"description", "from the lab"},
                           {"priority", " 20 "},
                           {"action", "drop"},
                           {"enabled", "on"},
                           {"field", "src"},
                           {"values", "203.0.113.0/24, 198.51.100.0/24"},
                           {"field", "proto"},
                           {"values", "tcp"},
                           {"field", "dst_port"},
                           {"values", "80,443 , 8000-8080,"},
                           {"field", "iface"},
                           {"values", "  "}};  // a row just added: left out
  const json rule = rule_json_from_form(form);
  EXPECT_EQ(rule, json::parse(R"({"name": "block web", "description": "from the lab", "priority": 20,
      "action": "drop", "enabled": true, "log": false,
      "match": {"src": ["203.0.113.0/24", "198.51.100.0/24"], "proto": ["tcp"],
                "dst_port": ["80", "443", "8000-8080"]}})"));
  // What the API then stores.
  const Rule parsed = rule_from_json(rule);
  EXPECT_EQ(parsed.priority, 20);
  EXPECT_TRUE(parsed.enabled);
  EXPECT_FALSE(parsed.log);
  ASSERT_EQ(parsed.match.dst_port.size(), 3u);
  EXPECT_EQ(parsed.match.dst_port[2], (PortRange{8000, 8080}));
  EXPECT_EQ(parsed.match.src.size(), 2u);
  EXPECT_TRUE(parsed.match.iface.empty());
}

TEST(FirewallRuleFormTest, UncheckedBoxesAreFalseAndNoConditionMatchesAll) {
  const json rule =
      rule_json_from_form({{"name", "all"}, {"action", "pass"}, {"priority", ""}, {"log", "on"}});
  EXPECT_EQ(rule, json::parse(R"({"name": "all", "action": "pass", "enabled": false, "log": true,
                                  "match": {}})"));
  EXPECT_EQ(match_summary(rule["match"]), "any");
}

TEST(FirewallRuleFormTest, BadValuesNameTheirField) {
  auto form_error = [](const FormFields& form) {
    return error_field([&] { rule_from_json(rule_json_from_form(form)); });
  };
  const FormFields base = {{"name", "r"}, {"action", "drop"}};
  auto with = [&](FormFields extra) {
    FormFields form = base;
    form.insert(form.end(), extra.begin(), extra.end());
    return form;
  };
  // The second value of the dst_port condition: the row's error slot is "match.dst_port".
  EXPECT_EQ(form_error(with({{"field", "dst_port"}, {"values", "22, 70000"}})), "match.dst_port[1]");
  EXPECT_EQ(form_error(with({{"field", "src"}, {"values", "10.1.2.3/8"}})), "match.src[0]");
  EXPECT_EQ(
      form_error(with({{"field", "proto"}, {"values", "icmp"}, {"field", "dst_port"}, {"values", "22"}})),
      "match.dst_port");
  EXPECT_EQ(
      form_error(with(
          {{"field", "src"}, {"values", "203.0.113.0/24"}, {"field", "src"}, {"values", "198.51.100.0/24"}})),
      "match.src");
  EXPECT_EQ(form_error(with({{"field", "mac"}, {"values", "x"}})), "field");
  EXPECT_EQ(form_error(with({{"values", "x"}})), "values");
  EXPECT_EQ(form_error(with({{"priority", "high"}})), "priority");
  EXPECT_EQ(form_error(with({{"priority", "99999999999"}})), "priority");
  EXPECT_EQ(form_error(with({{"colour", "red"}})), "colour");
  EXPECT_EQ(form_error({{"action", "drop"}}), "name");
  EXPECT_EQ(form_error({{"name", "r"}, {"action", "reject"}}), "action");
  EXPECT_EQ(form_error(with({})), "");  // the base is a valid rule
}

TEST(FirewallRuleFormTest, ExplainFormSendsPortsAsNumbersAndLeavesEmptyFieldsOut) {
  const json packet = packet_json_from_form({{"src", " 203.0.113.5"},
                                             {"dst", "198.51.100.2"},
                                             {"proto", "udp"},
                                             {"src_port", "5353"},
                                             {"dst_port", "53"},
                                             {"iface", ""}});
  EXPECT_EQ(packet, json::parse(R"({"src": "203.0.113.5", "dst": "198.51.100.2", "proto": "udp",
                                    "src_port": 5353, "dst_port": 53})"));
  EXPECT_EQ(packet_query_from_json(packet).packet.dst_port, 53);
  EXPECT_EQ(error_field([] { packet_json_from_form({{"dst_port", "dns"}}); }), "dst_port");
  EXPECT_EQ(
      error_field([] {
        packet_query_from_json(packet_json_from_form(
            {{"src", "203.0.113.5"}, {"dst", "198.51.100.2"}, {"proto", "tcp"}, {"dst_port", "65536"}}));
      }),
      "dst_port");
  EXPECT_EQ(error_field([] {
              packet_query_from_json(packet_json_from_form({{"src", "203.0.113.5"}, {"flags", "S"}}));
            }),
            "flags");
}

}  // namespace
}  // namespace adam::fw
