// A plugin's config schema: what the core checks before a plugin's own
// validate(), and how text from a form or `adamctl --set` becomes a config.
#include "core/config_schema.h"

#include <gtest/gtest.h>

#include "core/errors.h"

namespace adam {
namespace {

using nlohmann::json;

json schema() {
  ConfigSchema s;
  s.field({.name = "interfaces",
           .type = "array",
           .items = "string",
           .help = "where",
           .required = true,
           .min_items = 1,
           .max_items = 3});
  s.field({.name = "hook", .type = "string", .default_value = "auto", .choices = {"auto", "xdp", "tc"}});
  s.field({.name = "rate", .type = "integer", .default_value = 10, .minimum = 0, .maximum = 100});
  s.field({.name = "ports", .type = "array", .items = "integer"});
  s.field({.name = "verbose", .type = "boolean"});
  return s.to_json();
}

// The field an ApiError 400 names, or "" when `config` passes.
std::string rejected_field(const json& config) {
  try {
    check_config(schema(), config);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400) << e.what();
    return e.field().empty() ? "(none)" : e.field();
  }
  return "";
}

TEST(ConfigSchema, DocumentKeepsTheFieldsInOrderWithTheirRules) {
  const json s = schema();
  ASSERT_EQ(s["fields"].size(), 5u);
  EXPECT_EQ(s["fields"][0]["name"], "interfaces");
  EXPECT_EQ(s["fields"][0]["required"], true);
  EXPECT_EQ(s["fields"][0]["items"], "string");
  EXPECT_EQ(s["fields"][1]["enum"], json({"auto", "xdp", "tc"}));
  EXPECT_EQ(s["fields"][1]["default"], "auto");
  EXPECT_EQ(s["fields"][2]["maximum"], 100);
  EXPECT_FALSE(s["fields"][4].contains("default"));
}

TEST(ConfigSchema, ChecksEveryRuleNamingTheField) {
  EXPECT_EQ(rejected_field({{"interfaces", {"eth0"}}}), "");
  EXPECT_EQ(
      rejected_field(
          {{"interfaces", {"eth0"}}, {"hook", "tc"}, {"rate", 0}, {"ports", {22, 80}}, {"verbose", true}}),
      "");
  EXPECT_EQ(rejected_field(json::array()), "(none)");
  EXPECT_EQ(rejected_field(json::object()), "interfaces");
  EXPECT_EQ(rejected_field({{"interfaces", {"eth0"}}, {"policy", 1}}), "policy");
  EXPECT_EQ(rejected_field({{"interfaces", "eth0"}}), "interfaces");
  EXPECT_EQ(rejected_field({{"interfaces", json::array()}}), "interfaces");
  EXPECT_EQ(rejected_field({{"interfaces", {"a", "b", "c", "d"}}}), "interfaces");
  EXPECT_EQ(rejected_field({{"interfaces", {"eth0", 7}}}), "interfaces[1]");
  EXPECT_EQ(rejected_field({{"interfaces", {"eth0"}}, {"hook", "nft"}}), "hook");
  EXPECT_EQ(rejected_field({{"interfaces", {"eth0"}}, {"hook", 1}}), "hook");
  for (const json& bad : {json(-1), json(101), json(1.5), json("5"), json(true), json(UINT64_MAX)})
    EXPECT_EQ(rejected_field({{"interfaces", {"eth0"}}, {"rate", bad}}), "rate") << bad;
  EXPECT_EQ(rejected_field({{"interfaces", {"eth0"}}, {"ports", {22, "http"}}}), "ports[1]");
  EXPECT_EQ(rejected_field({{"interfaces", {"eth0"}}, {"verbose", "yes"}}), "verbose");
}

TEST(ConfigSchema, UnknownFieldMessageNamesIt) {
  try {
    check_config(schema(), {{"interfaces", {"eth0"}}, {"policy", 1}});
    FAIL() << "accepted an unknown field";
  } catch (const ApiError& e) {
    EXPECT_EQ(std::string(e.what()), "unknown field 'policy'");
  }
}

TEST(ConfigSchema, TextBecomesTheDeclaredTypes) {
  const json config = config_from_text(schema(), {{"interfaces", "veth0, eth0"},
                                                  {"interfaces", "eth1"},
                                                  {"hook", "tc"},
                                                  {"rate", "42"},
                                                  {"ports", "22,80"},
                                                  {"verbose", "on"}});
  EXPECT_EQ(config, json({{"interfaces", {"veth0", "eth0", "eth1"}},
                          {"hook", "tc"},
                          {"rate", 42},
                          {"ports", {22, 80}},
                          {"verbose", true}}));
  EXPECT_EQ(rejected_field(config), "");
}

TEST(ConfigSchema, EmptyTextLeavesTheFieldToItsDefault) {
  EXPECT_EQ(config_from_text(schema(), {{"interfaces", "eth0"}, {"rate", ""}, {"ports", " , "}}),
            json({{"interfaces", {"eth0"}}}));
}

TEST(ConfigSchema, TextThatIsNotTheTypeStaysTextAndIsRejectedByName) {
  const json config =
      config_from_text(schema(), {{"interfaces", "eth0"}, {"rate", "fast"}, {"nosuch", "1"}, {"ports", "x"}});
  EXPECT_EQ(config["rate"], "fast");
  EXPECT_EQ(config["nosuch"], "1");
  EXPECT_EQ(config["ports"], json({"x"}));
  json only_rate = config;
  only_rate.erase("nosuch");
  only_rate.erase("ports");
  EXPECT_EQ(rejected_field(only_rate), "rate");
  EXPECT_EQ(rejected_field(config), "nosuch");
}

}  // namespace
}  // namespace adam
