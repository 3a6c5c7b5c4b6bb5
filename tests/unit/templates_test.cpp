// The console's templates: every embedded template rendered with hostile
// strings in every user-supplied field comes out inert, and the start form
// follows a plugin's config_schema.
#include "api/templates.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "api/html.h"
#include "core/config_schema.h"

namespace adam {
namespace {

using nlohmann::json;

// Markup, quotes, mustache delimiters, bytes that are not UTF-8 and a
// javascript: URL in one value.
const std::string kHostile = "<script>alert(1)</script>\"'{{ }}{{{x}}}\xff\xfe javascript:alert(1)";

// The console's links: made by adamd, never by a user.
json links() {
  return {{"self", "/self"},          {"start", "/self/start"}, {"stop", "/self/stop"},
          {"create", "/self"},        {"enable", "/self/on"},   {"disable", "/self/off"},
          {"next", "/self?cursor=1"}, {"stylesheet", "/a.css"}, {"script", "/a.js"},
          {"login", "/login"},        {"logout", "/logout"},    {"node", "/node"},
          {"plugins", "/plugins"},    {"tokens", "/tokens"},    {"events", "/events"},
          {"histogram", "/histogram"}};
}

json token(const std::string& s) {
  return {{"id", 7},         {"name", s}, {"role", "admin"}, {"created_at", 0}, {"last_used_at", nullptr},
          {"links", links()}};
}

json plugin(const std::string& s) {
  ConfigSchema schema;
  schema.field(
      {.name = s, .type = "array", .items = "string", .help = s, .required = true, .default_value = {s}});
  schema.field({.name = s + "enum", .type = "string", .help = s, .default_value = s, .choices = {s, "b"}});
  schema.field({.name = s + "int", .type = "integer", .help = s, .minimum = 0, .maximum = 9});
  schema.field({.name = s + "num", .type = "number", .help = s});
  schema.field({.name = s + "bool", .type = "boolean", .help = s, .default_value = true});
  schema.field({.name = s + "text", .type = "string", .help = s, .default_value = s});
  return {{"name", s},
          {"description", s},
          {"state", "stopped"},
          {"reason", s},
          {"summary", s},
          {"config", {{s, {s, s}}, {s + "text", s}}},
          {"config_schema", schema.to_json()},
          {"stats", {{s, s}, {"list", {s, 1}}, {"nested", {{s, s}}}, {"deep", {{"x", {{"y", s}}}}}}},
          {"links", links()}};
}

json event(const std::string& s) {
  return {{"time", s}, {"plugin", s}, {"kind", s}, {"machine", s}, {"data", {{s, s}, {"n", {{s, s}}}}}};
}

json rule(const std::string& s) {
  return {{"id", 3},         {"priority", 10},     {"action", s},         {"name", s},
          {"enabled", true}, {"match_summary", s}, {"counters", nullptr}, {"links", links()}};
}

// How each template is rendered with `s` in every user-supplied field: by
// the html:: function that uses it, or directly. A partial is rendered by a
// template that includes it.
const std::map<std::string, std::function<std::string(const std::string&)>>& fixtures() {
  static const auto console = [](const std::string& s) {
    const json nav = json::array({{{"title", s}, {"href", "/" + s}, {"active", true}}});
    const json machine = {{"id", s}, {"name", s}, {"href", "/m/" + s + "/"}, {"active", true}};
    return html::console_page({{"token", token(s)},
                               {"admin", true},
                               {"links", links()},
                               {"nav", nav},
                               {"console_nav", nav},
                               {"machines", json::array({machine})},
                               {"machine", machine},
                               {"machine_error", s}},
                              "");
  };
  static const auto row = [](const std::string& s) { return html::plugin_row(plugin(s)); };
  static const std::map<std::string, std::function<std::string(const std::string&)>> all = {
      {"console", console},
      {"page_top", console},
      {"page_bottom", console},
      {"login", [](const std::string& s) { return html::login_page(s, links()); }},
      {"node",
       [](const std::string& s) {
         return html::node({{"hostname", s},
                            {"kernel", {{"release", s}}},
                            {"version", s},
                            {"uptime_s", 5},
                            {"features", {{s, {{"available", true}, {"detail", s}}}}},
                            {"links", links()}});
       }},
      {"plugins",
       [](const std::string& s) {
         return html::plugins({{"plugins", {plugin(s)}}, {"links", links()}});
       }},
      {"plugin_row", row},
      {"plugin_start_form", row},
      {"key_value", row},
      {"tokens",
       [](const std::string& s) {
         return html::tokens({{"tokens", {token(s)}}, {"links", links()}});
       }},
      {"token_created",
       [](const std::string& s) {
         json created = token(s);
         created["token"] = s;
         return html::token_created(created);
       }},
      {"events",
       [](const std::string& s) {
         return html::events({{"events", {event(s), event(s)}}, {"links", links()}});
       }},
      {"histogram",
       [](const std::string& s) {
         return html::histogram({{"bucket", s},
                                 {"buckets", {{{"time", s}, {"total", 3}, {"counts", {{s, 3}}}}}},
                                 {"links", links()}});
       }},
      {"error", [](const std::string& s) { return html::error(400, s, s); }},
      {"json_block",
       [](const std::string& s) {
         return html::json_block({{s, s}});
       }},
      {"fleet",
       [](const std::string& s) {
         const json row = {{"id", s},
                           {"name", s},
                           {"url", s},
                           {"reachable", false},
                           {"state", s},
                           {"error", s},
                           {"hostname", s},
                           {"version", s},
                           {"kernel", s},
                           {"plugins", {{{"name", s}, {"summary", s}}}},
                           {"rates", {{{"name", s}, {"value", s}}}},
                           {"events_per_s", s},
                           {"lost_events", s},
                           {"last_seen", s},
                           {"links", links()}};
         return templates::render("fleet", {{"machines", {row}}, {"links", links()}});
       }},
      {"machines",
       [](const std::string& s) {
         const json machine = {{"id", 7},
                               {"name", s},
                               {"url", s},
                               {"plain_http", true},
                               {"fingerprint", {{"head", s}, {"tail", s}}},
                               {"ca", s},
                               {"state", s},
                               {"version", s},
                               {"error", s},
                               {"links", links()}};
         return templates::render("machines", {{"machines", {machine}}, {"admin", true}, {"links", links()}});
       }},
      {"machines_added",
       [](const std::string& s) {
         return templates::render("machines_added",
                                  {{"id", 7}, {"name", s}, {"fingerprint", s}, {"plain_http", true}});
       }},
      {"firewall/rule_row",
       [](const std::string& s) { return templates::render("firewall/rule_row", rule(s)); }},
      {"firewall/rules",
       [](const std::string& s) {
         return templates::render("firewall/rules",
                                  {{"default", s}, {"rules", {rule(s)}}, {"links", links()}});
       }},
  };
  return all;
}

// The tags of `html` with their attribute names, in order ("input type name
// value"); fails the test where a '<' starts no well-formed tag.
std::vector<std::string> tag_structure(const std::string& html) {
  static const std::regex tag(
      R"(<(/?[a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s"'=<>/]+(?:="[^"<>]*"|='[^'<>]*')?)*)\s*/?>)");
  static const std::regex attribute(R"(\s+([^\s"'=<>/]+))"
                                    R"((?:="[^"]*"|='[^']*')?)");
  std::vector<std::string> tags;
  for (size_t at = html.find('<'); at != std::string::npos; at = html.find('<', at + 1)) {
    if (html.compare(at, 15, "<!doctype html>") == 0) continue;
    std::smatch m;
    if (!std::regex_search(html.cbegin() + at, html.cend(), m, tag, std::regex_constants::match_continuous)) {
      ADD_FAILURE() << "no well-formed tag at " << html.substr(at, 80);
      continue;
    }
    std::string entry = m[1].str();
    const std::string attributes = m[2].str();
    for (std::sregex_iterator a(attributes.begin(), attributes.end(), attribute), end; a != end; ++a)
      entry += " " + (*a)[1].str();
    tags.push_back(entry);
  }
  return tags;
}

TEST(TemplatesTest, EveryTemplateHasAFixture) {
  const std::vector<std::string> names = templates::names();
  EXPECT_GE(names.size(), 15u);
  for (const auto& name : names)
    EXPECT_TRUE(fixtures().count(name)) << "template '" << name << "' has no fixture in templates_test.cpp";
}

TEST(TemplatesTest, HostileValuesComeOutInert) {
  for (const auto& name : templates::names()) {
    auto fixture = fixtures().find(name);
    if (fixture == fixtures().end()) continue;  // EveryTemplateHasAFixture fails
    SCOPED_TRACE(name);
    std::string benign, hostile;
    // Sorts like kHostile among object keys, so both render the same entries.
    ASSERT_NO_THROW(benign = fixture->second("1plain"));
    ASSERT_NO_THROW(hostile = fixture->second(kHostile));
    // Nothing the values hold became a tag or an attribute.
    EXPECT_EQ(tag_structure(hostile), tag_structure(benign)) << hostile;
    EXPECT_EQ(hostile.find("<script>"), std::string::npos) << hostile;
    EXPECT_NE(hostile.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos) << hostile;
    // The value's mustache tags are text, not evaluated again.
    EXPECT_NE(hostile.find("{{{x}}}"), std::string::npos) << hostile;
    // Valid UTF-8 (dump() throws otherwise): the stray bytes became U+FFFD.
    EXPECT_NO_THROW(json(hostile).dump());
    EXPECT_NE(hostile.find("\xef\xbf\xbd"), std::string::npos);
    // No URL attribute takes a value: URLs come from links only.
    static const std::regex url_attribute(
        R"((href|src|action|hx-get|hx-post|hx-put|hx-delete)=["']\s*javascript:)");
    EXPECT_FALSE(std::regex_search(hostile, url_attribute)) << hostile;
  }
}

TEST(TemplatesTest, UnknownTemplateIsAnError) {
  EXPECT_THROW(templates::render("no-such-template", json::object()), std::invalid_argument);
}

TEST(TemplatesTest, StartFormFollowsTheConfigSchema) {
  ConfigSchema schema;
  schema.field({.name = "interfaces", .type = "array", .items = "string", .help = "where", .required = true});
  schema.field({.name = "hook", .type = "string", .default_value = "auto", .choices = {"auto", "xdp", "tc"}});
  schema.field({.name = "rate",
                .type = "integer",
                .help = "per second",
                .default_value = 10,
                .minimum = 0,
                .maximum = 100});
  schema.field({.name = "verbose", .type = "boolean", .default_value = false});
  const json p = {{"name", "demo"},
                  {"state", "stopped"},
                  {"config", {{"interfaces", {"eth0", "eth1"}}, {"hook", "tc"}, {"verbose", true}}},
                  {"config_schema", schema.to_json()},
                  {"stats", json::object()},
                  {"links", {{"self", "/p"}, {"start", "/p/start"}, {"stop", "/p/stop"}}}};
  const std::string row = html::plugin_row(p);
  const auto has = [&](const std::string& text) { return row.find(text) != std::string::npos; };
  EXPECT_TRUE(has("hx-post=\"/p/start\"")) << row;
  EXPECT_TRUE(has("name=\"interfaces\" value=\"eth0, eth1\"")) << row;
  EXPECT_TRUE(has("<select name=\"hook\">")) << row;
  EXPECT_TRUE(has("<option value=\"\">default: auto</option>")) << row;  // leaves the field out
  EXPECT_TRUE(has("<option value=\"tc\" selected>")) << row;
  EXPECT_TRUE(has("<option value=\"auto\">")) << row;
  EXPECT_TRUE(
      has("type=\"number\" step=\"1\" name=\"rate\" value=\"\" placeholder=\"10\" min=\"0\" max=\"100\""))
      << row;
  EXPECT_TRUE(has("title=\"per second\"")) << row;
  EXPECT_TRUE(has("type=\"checkbox\" name=\"verbose\" value=\"true\" checked")) << row;
  // The form posts what config_from_text() reads back into the config.
  const json config = config_from_text(schema.to_json(), {{"interfaces", "eth0, eth1"},
                                                          {"hook", "tc"},
                                                          {"rate", ""},
                                                          {"verbose", "false"},
                                                          {"verbose", "true"}});
  EXPECT_EQ(config, json({{"interfaces", {"eth0", "eth1"}}, {"hook", "tc"}, {"verbose", true}}));
  EXPECT_FALSE(has("<button hx-post=\"/p/stop\"")) << row;
}

TEST(TemplatesTest, StatsAreAKeyValueListNotJson) {
  const json stats = {{"packets", {{"pass", 5}, {"drop", 2}}},
                      {"interfaces", {"veth0", "veth1"}},
                      {"added_rules", 0},
                      {"rules", {{"1", {{"packets", 1}}}}}};
  EXPECT_EQ(html::key_values(stats), json::parse(R"([{"name":"added_rules","value":"0","parts":[]},
                            {"name":"interfaces","value":"veth0, veth1","parts":[]},
                            {"name":"packets","value":null,"parts":[{"name":"drop","value":"2"},{"name":"pass","value":"5"}]}])"));
}

}  // namespace
}  // namespace adam
