#include "api/html.h"
#include "api/resources.h"
#include "core/config_schema.h"
#include "core/errors.h"
#include "core/event_hub.h"
#include "core/plugin_manager.h"

namespace adam {

using nlohmann::json;

namespace {

// What an audit event records of a plugin: its state, not its stats.
json plugin_audit(const PluginStatus& s) {
  return {{"state", to_string(s.state)},
          {"desired", s.desired_running ? "running" : "stopped"},
          {"config", s.config}};
}

// Takes `s` by value: a running firewall's stats hold every rule's
// counters, moved rather than copied. The start and stop links are there
// for a caller who may use them (an admin): what the HTML shows as controls.
json plugin_json(PluginStatus s, bool admin) {
  const std::string self = "/api/v1/plugins/" + s.name;
  json links = {{"self", self}};
  if (s.state != PluginState::unsupported && admin) {
    links["start"] = self + "/start";
    links["stop"] = self + "/stop";
  }
  return {{"name", s.name},
          {"description", s.description},
          {"state", to_string(s.state)},
          {"desired", s.desired_running ? "running" : "stopped"},
          {"config", s.config},
          {"reason", s.reason},
          {"summary", s.summary},
          {"config_schema", std::move(s.config_schema)},
          {"stats", std::move(s.stats)},
          {"counters", std::move(s.counters)},
          {"links", links}};
}

// A plugin with its event counters.
json plugin_with_events(ApiContext& ctx, PluginStatus s, const Request& req) {
  const std::string name = s.name;
  json j = plugin_json(std::move(s), req.caller_role == "admin");
  auto counters = ctx.events.counters();
  j["events"] = event_counters_json(counters[name]);
  return j;
}

}  // namespace

std::vector<Route> plugin_routes(ApiContext& ctx) {
  std::vector<Route> r;
  r.push_back({"GET", "/api/v1/plugins", "/api/v1/plugins", Access::viewer,
               [&ctx](const Request& req) {
                 // ?stats=0: names, states and counters without the stats (a
                 // running firewall's hold every rule's counters): what the
                 // console's navigation reads on every page.
                 const auto stats = req.query.find("stats");
                 if (stats != req.query.end() && stats->second != "0" && stats->second != "1")
                   throw bad_request("stats",
                                     "is 0 (leave the plugins' stats out) or 1, not '" + stats->second + "'");
                 const bool with_stats = stats == req.query.end() || stats->second == "1";
                 json list = json::array();
                 for (auto& s : ctx.plugins.list(with_stats)) {
                   json p = plugin_with_events(ctx, std::move(s), req);
                   if (!with_stats) p.erase("stats");
                   list.push_back(std::move(p));
                 }
                 return Reply{200, {{"plugins", list}, {"links", {{"self", "/api/v1/plugins"}}}}};
               },
               // The controls follow the links (an admin's); pages also pass their caller's role.
               [](const json& list) { return html::plugins(list, true); }});
  r.push_back({"GET", "/api/v1/plugins/([^/]+)", "/api/v1/plugins/{name}", Access::viewer,
               [&ctx](const Request& req) {
                 return Reply{200, plugin_with_events(ctx, ctx.plugins.status(req.params[0]), req)};
               },
               [](const json& plugin) { return html::plugin_row(plugin, true); }});
  r.push_back(
      {"POST", "/api/v1/plugins/([^/]+)/start", "/api/v1/plugins/{name}/start", Access::admin,
       [&ctx](const Request& req) {
         const std::string& name = req.params[0];
         const PluginStatus before = ctx.plugins.status(name);  // 404 before looking at the body
         // A form's text values take the types the plugin's schema declares.
         const json config = !req.form.empty()    ? config_from_text(before.config_schema, req.form)
                             : req.body.is_null() ? json::object()
                                                  : req.body;
         if (!config.is_object()) throw bad_request("body", "the plugin config must be a JSON object");
         const PluginStatus after = ctx.plugins.start(name, config);
         return Reply{200, plugin_with_events(ctx, after, req), plugin_audit(before), plugin_audit(after)};
       },
       [](const json& plugin) { return html::plugin_row(plugin, true); }});
  r.push_back(
      {"POST", "/api/v1/plugins/([^/]+)/stop", "/api/v1/plugins/{name}/stop", Access::admin,
       [&ctx](const Request& req) {
         const PluginStatus before = ctx.plugins.status(req.params[0]);
         const PluginStatus after = ctx.plugins.stop(req.params[0]);
         return Reply{200, plugin_with_events(ctx, after, req), plugin_audit(before), plugin_audit(after)};
       },
       [](const json& plugin) { return html::plugin_row(plugin, true); }});
  return r;
}

}  // namespace adam
