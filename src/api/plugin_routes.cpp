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

json plugin_json(const PluginStatus& s) {
  const std::string self = "/api/v1/plugins/" + s.name;
  json links = {{"self", self}};
  if (s.state != PluginState::unsupported) {
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
          {"config_schema", s.config_schema},
          {"stats", s.stats},
          {"counters", s.counters},
          {"links", links}};
}

// A plugin with its event counters.
json plugin_with_events(ApiContext& ctx, const PluginStatus& s) {
  json j = plugin_json(s);
  auto counters = ctx.events.counters();
  j["events"] = event_counters_json(counters[s.name]);
  return j;
}

}  // namespace

std::vector<Route> plugin_routes(ApiContext& ctx) {
  std::vector<Route> r;
  r.push_back({"GET", "/api/v1/plugins", "/api/v1/plugins", Access::viewer,
               [&ctx](const Request&) {
                 json list = json::array();
                 for (const auto& s : ctx.plugins.list()) list.push_back(plugin_with_events(ctx, s));
                 return Reply{200, {{"plugins", list}, {"links", {{"self", "/api/v1/plugins"}}}}};
               },
               html::plugins});
  r.push_back({"GET", "/api/v1/plugins/([^/]+)", "/api/v1/plugins/{name}", Access::viewer,
               [&ctx](const Request& req) {
                 return Reply{200, plugin_with_events(ctx, ctx.plugins.status(req.params[0]))};
               },
               html::plugin_row});
  r.push_back({"POST", "/api/v1/plugins/([^/]+)/start", "/api/v1/plugins/{name}/start", Access::admin,
               [&ctx](const Request& req) {
                 const std::string& name = req.params[0];
                 const PluginStatus before = ctx.plugins.status(name);  // 404 before looking at the body
                 // A form's text values take the types the plugin's schema declares.
                 const json config = !req.form.empty()    ? config_from_text(before.config_schema, req.form)
                                     : req.body.is_null() ? json::object()
                                                          : req.body;
                 if (!config.is_object())
                   throw bad_request("body", "the plugin config must be a JSON object");
                 const PluginStatus after = ctx.plugins.start(name, config);
                 return Reply{200, plugin_with_events(ctx, after), plugin_audit(before), plugin_audit(after)};
               },
               html::plugin_row});
  r.push_back({"POST", "/api/v1/plugins/([^/]+)/stop", "/api/v1/plugins/{name}/stop", Access::admin,
               [&ctx](const Request& req) {
                 const PluginStatus before = ctx.plugins.status(req.params[0]);
                 const PluginStatus after = ctx.plugins.stop(req.params[0]);
                 return Reply{200, plugin_with_events(ctx, after), plugin_audit(before), plugin_audit(after)};
               },
               html::plugin_row});
  return r;
}

}  // namespace adam
