#include "api/resources.h"
#include "core/event_hub.h"
#include "core/kernel.h"
#include "core/metrics.h"
#include "core/plugin_manager.h"
#include "core/xdp_chain.h"

namespace adam {

namespace {

std::string metrics_text(ApiContext& ctx, const HttpMetrics& http) {
  MetricsWriter w;
  w.family("adamd_build_info", "gauge", "adamd's version; always 1.");
  w.sample("adamd_build_info", {{"version", ADAM_VERSION}}, 1);
  w.family("adamd_uptime_seconds", "gauge", "Seconds since adamd started.");
  w.sample("adamd_uptime_seconds", {},
           std::chrono::duration<double>(std::chrono::system_clock::now() - ctx.started_at).count());
  w.family("adamd_kernel_feature", "gauge", "1 when the kernel feature was found by probing.");
  for (const auto& [name, f] : ctx.features.features)
    w.sample("adamd_kernel_feature", {{"feature", name}}, f.available);
  ctx.plugins.metrics(w);
  w.family("adamd_xdp_interfaces", "gauge", "Interfaces with adamd's XDP root program attached.");
  w.sample("adamd_xdp_interfaces", {}, static_cast<double>(ctx.xdp.interfaces().size()));
  const auto counters = ctx.events.counters();
  w.family("adamd_events_stored_total", "counter", "Events written to the event store, by plugin.");
  for (const auto& [plugin, c] : counters)
    w.sample("adamd_events_stored_total", {{"plugin", plugin}}, static_cast<double>(c.stored));
  w.family("adamd_events_lost_total", "counter",
           "Events lost, by plugin and reason (kernel: ring buffer full; queue: writer queue full; "
           "write: SQLite error; decode: malformed record; rate_limit: refused by the producer's "
           "rate limit in the kernel).");
  for (const auto& [plugin, c] : counters)
    for (const auto& [reason, n] : c.lost)
      w.sample("adamd_events_lost_total", {{"plugin", plugin}, {"reason", to_string(reason)}},
               static_cast<double>(n));
  w.family("adamd_events_queue_depth", "gauge", "Events waiting for the writer.");
  w.sample("adamd_events_queue_depth", {}, static_cast<double>(ctx.events.queue_depth()));
  w.family("adamd_events_rows", "gauge", "Events in the store.");
  w.sample("adamd_events_rows", {}, static_cast<double>(ctx.events.store().row_count()));
  http.write(w);
  return w.text();
}

}  // namespace

std::vector<Route> metrics_routes(ApiContext& ctx, const HttpMetrics& http) {
  return {{"GET", "/metrics", "/metrics", ctx.config.metrics_auth ? Access::viewer : Access::open,
           [&ctx, &http](const Request&) {
             Reply r;
             r.content = metrics_text(ctx, http);
             r.content_type = "text/plain; version=0.0.4; charset=utf-8";
             return r;
           }}};
}

}  // namespace adam
