#include <sys/utsname.h>

#include <map>
#include <memory>

#include "api/html.h"
#include "api/resources.h"
#include "core/event_hub.h"
#include "core/kernel.h"
#include "core/plugin_manager.h"
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
  // Each plugin's state and its one-line summary (where it is attached, which
  // hooks it chose): what runs on this node, at a glance.
  json plugins = json::object();
  for (const auto& p : ctx.plugins.list(/*with_stats=*/false)) {
    json entry = {{"state", to_string(p.state)}, {"summary", p.summary}};
    if (!p.reason.empty()) entry["reason"] = p.reason;
    plugins[p.name] = std::move(entry);
  }
  const auto now = std::chrono::system_clock::now();
  return {{"hostname", host_name()},
          {"kernel", {{"release", u.release}, {"version", u.version}, {"machine", u.machine}}},
          {"version", ADAM_VERSION},
          {"started_at", to_ns(ctx.started_at)},
          {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(now - ctx.started_at).count()},
          {"features", features},
          {"plugins", plugins},
          {"state_dir", ctx.config.state_dir},
          {"pin_dir", ctx.config.pin_dir},
          {"xdp_interfaces", ifaces},
          {"events", events_json(ctx)},
          {"tls", ctx.tls_fingerprint.empty() ? json() : json{{"fingerprint", ctx.tls_fingerprint}}},
          {"links",
           {{"self", "/api/v1/node"},
            {"plugins", "/api/v1/plugins"},
            {"tokens", "/api/v1/tokens"},
            {"events", "/api/v1/events"},
            {"rates", "/api/v1/node/rates"}}}};
}

// The monotonic totals the dashboard shows per second: the node's stored
// and lost events, and every running plugin's counters().
std::map<std::string, double> rate_totals(ApiContext& ctx) {
  std::map<std::string, double> totals;
  double stored = 0, lost = 0;
  for (const auto& [plugin, c] : ctx.events.counters()) {
    stored += static_cast<double>(c.stored);
    for (const auto& [reason, n] : c.lost) lost += static_cast<double>(n);
  }
  totals["events/s"] = stored;
  totals["lost events/s"] = lost;
  for (const auto& [plugin, counters] : ctx.plugins.counters())
    for (const auto& [name, value] : counters.items())
      if (value.is_number()) totals[plugin + ": " + name + "/s"] = value.get<double>();
  return totals;
}

// GET /api/v1/node/rates: once a second, {ts, series: {label: per second}},
// each rate the growth of its total since the previous poll. A total that
// shrank (its plugin restarted) counts from zero again; a plugin that
// stopped drops out of the series.
Stream rates_stream(ApiContext& ctx) {
  struct Previous {
    std::chrono::steady_clock::time_point at;
    std::map<std::string, double> totals;
  };
  auto previous = std::make_shared<Previous>(Previous{std::chrono::steady_clock::now(), rate_totals(ctx)});
  return Stream{std::chrono::seconds(1), [&ctx, previous](const EventSink& send) {
                  const auto now = std::chrono::steady_clock::now();
                  const double seconds = std::chrono::duration<double>(now - previous->at).count();
                  if (seconds < 0.5) return true;  // the poll right after opening: no interval yet
                  std::map<std::string, double> totals = rate_totals(ctx);
                  json series = json::object();
                  for (const auto& [label, total] : totals) {
                    auto it = previous->totals.find(label);
                    const double before = it == previous->totals.end() || it->second > total ? 0 : it->second;
                    series[label] = (total - before) / seconds;
                  }
                  *previous = Previous{now, std::move(totals)};
                  send("rates", json{{"ts", now_ns()}, {"series", series}}.dump());
                  return true;
                }};
}

}  // namespace

std::vector<Route> node_routes(ApiContext& ctx) {
  std::vector<Route> r;
  r.push_back({"GET", "/api/v1/node", "/api/v1/node", Access::viewer,
               [&ctx](const Request&) {
                 return Reply{200, node_json(ctx)};
               },
               html::node});
  Route rates{"GET", "/api/v1/node/rates", "/api/v1/node/rates", Access::viewer};
  rates.stream = [&ctx](const Request&) { return rates_stream(ctx); };
  r.push_back(std::move(rates));
  return r;
}

}  // namespace adam
