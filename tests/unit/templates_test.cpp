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
#include "plugins/lb/lb_pages.h"
#include "plugins/lsm/lsm_pages.h"

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
  return {{"id", 4},
          {"time", s},
          {"plugin", s},
          {"kind", s},
          {"machine", s},
          {"data", {{s, s}, {"n", {{s, s}}}}},
          {"links", {{s, "/api/v1/firewall/rules/7"}, {"self", "/self"}}}};
}

// An events.lost marker: its count and reason stand out.
json lost_event(const std::string& s) {
  json e = event(s);
  e["kind"] = "events.lost";
  e["data"] = {{"count", 12}, {"reason", s}};
  return e;
}

json rule(const std::string& s) {
  return {{"id", 3},         {"priority", 10},     {"action", s},         {"name", s},
          {"enabled", true}, {"match_summary", s}, {"counters", nullptr}, {"links", links()}};
}

// A condition row of the firewall's rule form.
json condition(const std::string& s) {
  return {{"field", s},
          {"values", s},
          {"options", {{{"value", s}, {"selected", true}}, {{"value", "src"}, {"selected", false}}}}};
}

json rule_form(const std::string& s) {
  return {{"edit", true},
          {"id", 3},
          {"name", s},
          {"description", s},
          {"priority", s},
          {"drop", true},
          {"pass", false},
          {"enabled", true},
          {"log", false},
          {"conditions", {condition(s), condition(s)}},
          {"blank_condition", condition(s)},
          {"links", links()}};
}

json rules_page(const std::string& s) {
  json first = rule(s), second = rule(s);
  second["id"] = 4;
  second["highlighted"] = true;
  second["counters"] = {{"packets", 5}, {"bytes", 300}};
  json l = links();
  l["prev"] = "/self?offset=0";
  l["counters"] = "/counters?ids=3,4";
  return {{"default", s}, {"rules", {first, second}},
          {"total", 60},  {"first", 51},
          {"last", 52},   {"limit", 50},
          {"q", s},       {"links", l}};
}

// An lb service as the API serves it while running, with a user's (or the
// kernel's, or a health check's) strings wherever it holds one.
json lb_service(const std::string& s) {
  json backend = {{"address", s},
                  {"weight", 100},
                  {"state", s},
                  {"in_table", true},
                  {"table_entries", 3},
                  {"health", {{"state", s}, {"since", 1}, {"last_error", s}, {"checks", 2}}},
                  {"next_hop", {{"resolved", false}, {"interface", s}, {"mac", s}, {"error", s}}},
                  {"stats", {{"packets", 1}, {"bytes", 2}, {"new_flows", 3}}},
                  {"links", links()}};
  return {{"id", 4},
          {"name", s},
          {"vip", s},
          {"port", 80},
          {"proto", s},
          {"mode", s},
          {"table_size", 7},
          {"health", {{"type", s}, {"port", 80}}},
          {"backends", {backend}},
          {"depool", {{"down", 1}, {"limited", true}}},
          {"warnings", {s}},
          {"highlighted", true},
          {"links", links()}};
}

// An lsm policy as the API serves it, with a user's strings wherever a
// policy holds one.
json lsm_policy(const std::string& s) {
  return {{"id", 3},
          {"name", s},
          {"description", s},
          {"kind", s},
          {"action", "audit"},
          {"enabled", true},
          {"priority", 1},
          {"scope", {{"comm", {s}}, {"parent", {s}}}},
          {"match", {{"path", {s, s}}}},
          {"mechanism", s},
          {"mechanism_detail", s},
          {"warnings", {s}},
          {"hits", {{"deny", 1}, {"audit", 2}}},
          {"links", links()}};
}

// A process as the Processes page's rows and chains show it (pages.cpp,
// process_row), with the kernel's strings in comm, filename and args.
json process_row(const std::string& s, int depth) {
  return {{"exec_id", s},        {"pid", 42},
          {"ppid", 1},           {"uid", 0},
          {"comm", s},           {"filename", s},
          {"args", s},           {"args_truncated", true},
          {"started", s},        {"exited", s},
          {"seeded", true},      {"href", "?exec_id=1"},
          {"depth", depth},      {"context", depth == 0},
          {"parent", depth == 0}};
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
  static const auto row = [](const std::string& s) { return html::plugin_row(plugin(s), true); };
  static const auto node = [](const std::string& s) {
    return json{{"hostname", s},
                {"kernel", {{"release", s}, {"machine", s}}},
                {"version", s},
                {"uptime_s", 5},
                {"features",
                 {{s, {{"available", true}, {"detail", s}}}, {"xdp", {{"available", false}, {"detail", s}}}}},
                {"events",
                 {{"rows", 3}, {"lost", {{s, 1}}}, {"plugins", {{s, {{"stored", 2}, {"lost", {{s, 1}}}}}}}}},
                {"links", {{"self", "/node"}, {"rates", "/node/rates"}}}};
  };
  static const auto events_page = [](const std::string& s) {
    const json choices =
        json::array({{{"name", s}, {"value", s}, {"label", s}, {"checked", true}, {"selected", true}}});
    return html::events_page({{"page", "/events"},
                              {"presets", choices},
                              {"since", s},
                              {"until", s},
                              {"plugins", choices},
                              {"kinds", choices},
                              {"has_data_filters", true},
                              {"data_filters", {{{"name", s}, {"value", s}}}},
                              {"live", true},
                              {"stream", "/stream?format=html"},
                              {"export_jsonl", "/export?format=jsonl"},
                              {"export_csv", "/export?format=csv"},
                              {"total", 3},
                              {"range_text", s},
                              {"histogram_html", "<figure></figure>"},
                              {"events_html", "<section></section>"}});
  };
  static const std::map<std::string, std::function<std::string(const std::string&)>> all = {
      {"console", console},
      {"page_top", console},
      {"page_bottom", console},
      {"login", [](const std::string& s) { return html::login_page(s, links()); }},
      {"node", [](const std::string& s) { return html::node(node(s)); }},
      {"dashboard",
       [](const std::string& s) {
         return html::dashboard(node(s), {{"plugins", {plugin(s)}}, {"links", links()}}, true);
       }},
      {"plugins",
       [](const std::string& s) {
         return html::plugins({{"plugins", {plugin(s)}}, {"links", links()}}, true);
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
         return html::events({{"events", {event(s), lost_event(s)}}, {"links", links()}});
       }},
      {"event_row", [](const std::string& s) { return html::event_row(event(s)); }},
      {"events_page", events_page},
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
       [](const std::string& s) { return templates::render("firewall/rules", rules_page(s)); }},
      {"firewall/counters",
       [](const std::string& s) {
         return templates::render("firewall/counters",
                                  {{"cells", {{{"id", s}, {"packets", 5}, {"bytes", 300}}}}});
       }},
      {"firewall/condition",
       [](const std::string& s) { return templates::render("firewall/condition", condition(s)); }},
      {"firewall/rule_form",
       [](const std::string& s) { return templates::render("firewall/rule_form", rule_form(s)); }},
      {"firewall/default_form",
       [](const std::string& s) {
         return templates::render("firewall/default_form",
                                  {{"default", s}, {"pass", true}, {"drop", false}, {"links", links()}});
       }},
      {"firewall/explain",
       [](const std::string& s) {
         return templates::render("firewall/explain", {{"verdict", s}, {"rule_id", 3}, {"rule_name", s}});
       }},
      {"monitor/processes",
       [](const std::string& s) {
         return templates::render("monitor/processes", {{"page", "/processes"},
                                                        {"script", "/a.js"},
                                                        {"at", s},
                                                        {"q", s},
                                                        {"live", false},
                                                        {"message", nullptr},
                                                        {"rows", {process_row(s, 0), process_row(s, 1)}},
                                                        {"count", 2},
                                                        {"shown", 2},
                                                        {"at_text", s},
                                                        {"capacity", 65536},
                                                        {"evictions", 0},
                                                        {"snapshot", s},
                                                        {"replayed", 3}}) +
                templates::render(
                    "monitor/processes",
                    {{"page", "/processes"}, {"script", "/a.js"}, {"message", s}, {"rows", json::array()}});
       }},
      {"monitor/process",
       [](const std::string& s) {
         return templates::render(
             "monitor/process",
             {{"process", process_row(s, 0)},
              {"fields", {{{"name", s}, {"value", s}}}},
              {"ancestors", {process_row(s, 0)}},
              {"children", {process_row(s, 1)}},
              {"tree", "/processes"},
              {"events_page", "/events?data.exec_id=1"},
              {"events_html", html::events({{"events", {event(s)}}, {"links", links()}})}});
       }},
      {"form_fields", row},
      {"lsm/policy_row", [](const std::string& s) { return lsm::policy_row_html(lsm_policy(s)); }},
      {"lsm/policies",
       [](const std::string& s) {
         json disabled = lsm_policy(s);
         disabled["enabled"] = false;
         disabled["action"] = "deny";
         return lsm::policies_html({{"policies", {lsm_policy(s), disabled}}, {"links", links()}}) +
                lsm::promoted_html({{"policy", lsm_policy(s)}, {"would_have_denied", 4}, {"window", s}});
       }},
      {"lsm/page",
       [](const std::string& s) {
         return templates::render(
             "lsm/page", {{"links", links()},
                          {"mechanisms", {{{"kind", s}, {"mechanism", s}, {"detail", s}}}},
                          {"table", lsm::policies_html({{"policies", {lsm_policy(s)}}, {"links", links()}})},
                          {"fields", html::form_fields(plugin(s)["config_schema"], {{s, s}})},
                          {"field_kinds", json{{"match.path", {"exec", "file"}}}.dump()},
                          {"script", "/a.js"}});
       }},
      {"lb/service", [](const std::string& s) { return lb::service_html(lb_service(s)); }},
      {"lb/services",
       [](const std::string& s) {
         return lb::services_html({{"services", {lb_service(s)}}, {"viewer", true}, {"links", links()}});
       }},
      {"lb/explain",
       [](const std::string& s) {
         return lb::explain_html(
             {{"service", {{"id", 1}, {"name", s}}},
              {"backend", s},
              {"source", s},
              {"action", s},
              {"reason", s},
              {"frame",
               {{"dst_mac", s}, {"src_mac", s}, {"outer", {{"src", s}, {"dst", s}, {"proto", 4}}}}}});
       }},
      {"lb/page",
       [](const std::string& s) {
         return templates::render(
             "lb/page",
             {{"links", links()},
              {"services", lb::services_html({{"services", {lb_service(s)}}, {"links", links()}})}});
       }},
      {"firewall/page",
       [](const std::string& s) {
         return templates::render("firewall/page",
                                  {{"links", links()},
                                   {"script", "/a.js"},
                                   {"can_copy", true},
                                   {"copy_targets", {{{"name", s}, {"copy", "/copy"}}}},
                                   {"into", "/rules"},
                                   {"table", templates::render("firewall/rules", rules_page(s))},
                                   {"default_form", templates::render("firewall/default_form",
                                                                      {{"default", s}, {"links", links()}})},
                                   {"rule_form", templates::render("firewall/rule_form", rule_form(s))}});
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
  const std::string row = html::plugin_row(p, true);
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

TEST(TemplatesTest, AViewerGetsNoWriteControls) {
  json running = plugin("fw");
  running["state"] = "running";
  for (const json& p : {plugin("fw"), running}) {
    const std::string viewer = html::plugins({{"plugins", {p}}, {"links", links()}}, false);
    EXPECT_EQ(viewer.find("hx-post"), std::string::npos) << viewer;
    EXPECT_EQ(viewer.find("<form"), std::string::npos) << viewer;
    EXPECT_NE(html::plugins({{"plugins", {p}}, {"links", links()}}, true).find("hx-post"), std::string::npos);
  }
}

// The lb page for a viewer: the services, their backends and the rates
// chart, but no control that changes anything (explain stays: it changes
// nothing).
TEST(TemplatesTest, TheLbPageGivesAViewerNoWriteControls) {
  for (const bool viewer : {true, false}) {
    const std::string services =
        lb::services_html({{"services", {lb_service("web")}}, {"viewer", viewer}, {"links", links()}});
    const std::string page =
        templates::render("lb/page", {{"viewer", viewer}, {"links", links()}, {"services", services}});
    EXPECT_NE(page.find("data-chart-stream="), std::string::npos) << page;
    EXPECT_NE(page.find("id=\"lb-explain\""), std::string::npos) << page;
    for (const char* control : {"hx-put", "hx-delete", "lb-drain", "lb-add-backend", "id=\"lb-add\""})
      EXPECT_EQ(page.find(control) == std::string::npos, viewer) << control << ": " << page;
  }
}

TEST(TemplatesTest, AnEventRowLinksToWhatProducedItAndLossesStandOut) {
  const std::string row = html::event_row(event("e"));
  EXPECT_NE(row.find("hx-get=\"/api/v1/firewall/rules/7\" hx-target=\"#event-detail\""), std::string::npos)
      << row;
  EXPECT_EQ(row.find("\"/self\""), std::string::npos) << "self is no producer: " << row;
  EXPECT_EQ(row.find("event-lost"), std::string::npos) << row;
  const std::string lost = html::event_row(lost_event("kernel"));
  EXPECT_NE(lost.find("class=\"event event-lost\""), std::string::npos) << lost;
  EXPECT_NE(lost.find("12 lost"), std::string::npos) << lost;
  EXPECT_NE(lost.find("<span class=\"lost-reason\">kernel</span>"), std::string::npos) << lost;
}

// A link to an API resource that a console page shows (Route::shows)
// opens that page, relative so it stays on the machine's pages, also
// through a machine's proxy; other links stay buttons loading the resource.
TEST(TemplatesTest, AnEventLinkOpensThePageThatShowsItsResource) {
  html::add_resource_page("/processes", "/api/v1/monitor/processes/([^/]+)", {"exec_id"});
  html::add_resource_page("/events", "/api/v1/events", {});
  EXPECT_EQ(html::resource_page("/api/v1/monitor/processes/ab-12-3-7f"), "processes?exec_id=ab-12-3-7f");
  EXPECT_EQ(html::resource_page("/api/v1/machines/4/proxy/api/v1/monitor/processes/ab-12-3-7f"),
            "processes?exec_id=ab-12-3-7f");
  EXPECT_EQ(html::resource_page("/api/v1/monitor/processes/a%20b+c"), "processes?exec_id=a%20b%2Bc");
  EXPECT_EQ(html::resource_page("/api/v1/events?data.exec_id=ab-12&kind=process.exec"),
            "events?data.exec_id=ab-12&kind=process.exec");
  EXPECT_EQ(html::resource_page("/api/v1/monitor/processes/ab/children"), "");
  EXPECT_EQ(html::resource_page("/api/v1/firewall/rules/7"), "");
  json e = event("e");
  e["links"] = {{"process", "/api/v1/monitor/processes/ab-12"},
                {"exec id events", "/api/v1/events?data.exec_id=ab-12"},
                {"rule", "/api/v1/firewall/rules/7"}};
  const std::string row = html::event_row(e);
  EXPECT_NE(row.find("<a class=\"link\" href=\"processes?exec_id=ab-12\">process</a>"), std::string::npos)
      << row;
  EXPECT_NE(row.find("<a class=\"link\" href=\"events?data.exec_id=ab-12\">exec id events</a>"),
            std::string::npos)
      << row;
  EXPECT_NE(row.find("hx-get=\"/api/v1/firewall/rules/7\""), std::string::npos) << row;
}

TEST(TemplatesTest, TheNodeShowsFeaturesAndLostEventsPerPluginAndReason) {
  const std::string html =
      html::node({{"hostname", "h"},
                  {"uptime_s", 93784},
                  {"features",
                   {{"xdp", {{"available", true}, {"detail", "loaded"}}},
                    {"bpf_lsm", {{"available", false}, {"detail", "no lsm"}}}}},
                  {"events",
                   {{"lost", {{"kernel", 3}, {"queue", 0}}},
                    {"plugins", {{"firewall", {{"stored", 5}, {"lost", {{"kernel", 3}, {"queue", 0}}}}}}}}},
                  {"links", {{"self", "/api/v1/node"}}}});
  EXPECT_NE(html.find("1 d 2 h"), std::string::npos) << html;
  EXPECT_NE(html.find("<tr id=\"feature-bpf_lsm\" class=\"unavailable\">"), std::string::npos) << html;
  EXPECT_NE(html.find("enforcement at LSM hooks"), std::string::npos) << html;
  EXPECT_NE(html.find("<th>kernel</th><th>queue</th>"), std::string::npos) << html;
  EXPECT_NE(html.find("<td>firewall</td><td>5</td><td class=\"bad\">3</td><td class=\"\">0</td>"),
            std::string::npos)
      << html;
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
