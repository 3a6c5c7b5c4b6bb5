#include "api/html.h"
#include "api/resources.h"
#include "core/event_hub.h"
#include "core/event_query.h"

namespace adam {

using nlohmann::json;

namespace {

json event_json(const Event& e) {
  json data = json::parse(e.data, nullptr, false);
  return {{"id", e.id},
          {"ts", e.ts},
          {"time", format_rfc3339(e.ts)},
          {"plugin", e.plugin},
          {"kind", e.kind},
          {"machine", e.machine},
          {"data", data.is_discarded() ? json(e.data) : data}};
}

Reply events_page(ApiContext& ctx, const Request& req) {
  const EventQuery q = parse_event_query(req.query, now_ns());
  const EventPage page = ctx.events.store().query(q.filter, q.cursor, q.limit);
  json events = json::array();
  for (const auto& e : page.events) events.push_back(event_json(e));
  QueryParams params = req.query;
  params.erase("cursor");
  const std::string self = "/api/v1/events" + (req.query.empty() ? "" : "?" + to_query_string(req.query));
  json next = nullptr;
  json next_link = nullptr;
  if (page.next) {
    next = page.next->encode();
    params.emplace("cursor", page.next->encode());
    next_link = "/api/v1/events?" + to_query_string(params);
  }
  return Reply{200,
               {{"events", events},
                {"next_cursor", next},
                {"links",
                 {{"self", self},
                  {"next", next_link},
                  {"histogram", "/api/v1/events/histogram"},
                  {"stream", "/api/v1/events/stream"}}}}};
}

Reply histogram(ApiContext& ctx, const Request& req) {
  const HistogramQuery q = parse_histogram_query(req.query, now_ns());
  const Histogram h = ctx.events.store().histogram(q.filter, q.bucket_ns, q.group);
  json buckets = json::array();
  for (size_t i = 0; i < h.counts.size(); ++i) {
    int64_t total = 0;
    for (const auto& [name, n] : h.counts[i]) total += n;
    const TimeNs start = h.first_bucket + static_cast<TimeNs>(i) * h.bucket_ns;
    buckets.push_back(
        {{"ts", start}, {"time", format_rfc3339(start)}, {"total", total}, {"counts", h.counts[i]}});
  }
  return Reply{
      200,
      {{"bucket", q.bucket},
       {"bucket_ns", q.bucket_ns},
       {"group", q.group == HistogramGroup::kind ? "kind" : "plugin"},
       {"since", q.filter.since},
       {"buckets", buckets},
       {"links",
        {{"self", "/api/v1/events/histogram?" + to_query_string(req.query)}, {"events", "/api/v1/events"}}}}};
}

// Stored events of last=/since= first (oldest first, up to limit), then
// live ones. The subscription is taken before the stored events are read,
// so none falls between the two.
Stream event_stream(ApiContext& ctx, const Request& req) {
  const EventQuery q = parse_stream_query(req.query, now_ns());
  struct State {
    std::shared_ptr<EventSubscription> subscription;
    bool stored_sent = false;
    int64_t sent_up_to = 0;
  };
  auto state = std::make_shared<State>(State{ctx.events.subscribe(q.filter)});
  return Stream{std::chrono::milliseconds(200), [&ctx, q, state](const EventSink& send) {
                  if (!state->stored_sent) {
                    state->stored_sent = true;
                    if (q.has_range) {
                      const EventPage stored = ctx.events.store().query(q.filter, std::nullopt, q.limit);
                      for (auto it = stored.events.rbegin(); it != stored.events.rend(); ++it) {
                        send("event", event_json(*it).dump());
                        state->sent_up_to = std::max(state->sent_up_to, it->id);
                      }
                    }
                  }
                  // A zero wait: what is pending, without blocking the worker.
                  for (const auto& e : state->subscription->wait(std::chrono::milliseconds(0)))
                    if (e.id > state->sent_up_to) send("event", event_json(e).dump());
                  if (!state->subscription->dropped()) return true;
                  send("dropped", R"({"reason":"the client fell too far behind"})");
                  return false;
                }};
}

}  // namespace

json event_counters_json(const EventCounters& c) {
  json lost = json::object();
  for (LossReason reason : kLossReasons) {
    auto it = c.lost.find(reason);
    lost[to_string(reason)] = it == c.lost.end() ? 0 : it->second;
  }
  return {{"stored", c.stored}, {"lost", lost}};
}

std::vector<Route> event_routes(ApiContext& ctx) {
  std::vector<Route> r;
  r.push_back({"GET", "/api/v1/events", "/api/v1/events", Access::viewer,
               [&ctx](const Request& req) { return events_page(ctx, req); }, html::events});
  r.push_back({"GET", "/api/v1/events/histogram", "/api/v1/events/histogram", Access::viewer,
               [&ctx](const Request& req) { return histogram(ctx, req); }, html::histogram});
  Route stream{"GET", "/api/v1/events/stream", "/api/v1/events/stream", Access::viewer};
  stream.stream = [&ctx](const Request& req) { return event_stream(ctx, req); };
  r.push_back(std::move(stream));
  return r;
}

}  // namespace adam
