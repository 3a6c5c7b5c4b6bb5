#include <sys/utsname.h>

#include "api/html.h"
#include "api/resources.h"
#include "core/event_hub.h"
#include "core/kernel.h"
#include "core/xdp_chain.h"

namespace adam {

using nlohmann::json;

namespace {

int64_t to_ns(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

json events_json(ApiContext& ctx) {
  json per_plugin = json::object();
  EventCounters total;
  for (const auto& [plugin, c] : ctx.events.counters()) {
    per_plugin[plugin] = event_counters_json(c);
    total.stored += c.stored;
    for (const auto& [reason, n] : c.lost) total.lost[reason] += n;
  }
  json j = event_counters_json(total);
  j["plugins"] = per_plugin;
  j["rows"] = ctx.events.store().row_count();
  j["queue"] = {{"depth", ctx.events.queue_depth()}, {"capacity", ctx.events.queue_capacity()}};
  j["retention"] = {{"age", ctx.config.retention}, {"max_events", ctx.config.max_events}};
  return j;
}

json node_json(ApiContext& ctx) {
  struct utsname u {};
  ::uname(&u);
  json features = json::object();
  for (const auto& [name, f] : ctx.features.features)
    features[name] = {{"available", f.available}, {"detail", f.detail}};
  json ifaces = json::array();
  for (const auto& i : ctx.xdp.interfaces())
    ifaces.push_back(
        {{"ifname", i.ifname}, {"ifindex", i.ifindex}, {"mode", to_string(i.mode)}, {"owners", i.owners}});
  const auto now = std::chrono::system_clock::now();
  return {{"hostname", host_name()},
          {"kernel", {{"release", u.release}, {"version", u.version}, {"machine", u.machine}}},
          {"version", ADAM_VERSION},
          {"started_at", to_ns(ctx.started_at)},
          {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(now - ctx.started_at).count()},
          {"features", features},
          {"state_dir", ctx.config.state_dir},
          {"pin_dir", ctx.config.pin_dir},
          {"xdp_interfaces", ifaces},
          {"events", events_json(ctx)},
          {"tls", ctx.tls_fingerprint.empty() ? json() : json{{"fingerprint", ctx.tls_fingerprint}}},
          {"links",
           {{"self", "/api/v1/node"},
            {"plugins", "/api/v1/plugins"},
            {"tokens", "/api/v1/tokens"},
            {"events", "/api/v1/events"}}}};
}

}  // namespace

std::vector<Route> node_routes(ApiContext& ctx) {
  return {{"GET", "/api/v1/node", "/api/v1/node", Access::viewer,
           [&ctx](const Request&) {
             return Reply{200, node_json(ctx)};
           },
           html::node}};
}

}  // namespace adam
