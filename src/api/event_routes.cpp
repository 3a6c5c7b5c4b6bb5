#include <algorithm>

#include "api/html.h"
#include "api/resources.h"
#include "core/errors.h"
#include "core/event_hub.h"
#include "core/event_json.h"
#include "core/event_query.h"
#include "core/plugin_manager.h"

namespace adam {

using nlohmann::json;

namespace {

// An event as the API shows it: with `links` to what produced it (the
// plugin's event_links(), e.g. the firewall rule of a firewall.drop).
json linked_event_json(ApiContext& ctx, const Event& e) {
  json j = event_json(e);
  j["links"] = ctx.plugins.event_links(e.plugin, e.kind, j["data"]);
  return j;
}

// Takes the `format` parameter out of `params`: one of `allowed`, the
// first of them when it is absent and not `required`; 400 naming it else.
std::string take_format(QueryParams& params, const std::vector<std::string>& allowed, bool required) {
  const auto [first, last] = params.equal_range("format");
  std::string text;
  for (const auto& name : allowed) text += (text.empty() ? "" : " or ") + name;
  if (first == last && !required) return allowed.front();
  if (first == last || std::next(first) != last ||
      std::find(allowed.begin(), allowed.end(), first->second) == allowed.end())
    throw bad_request("format",
                      "format must be given " + std::string(required ? "" : "at most ") + "once, as " + text);
  std::string format = first->second;
  params.erase("format");
  return format;
}

// One CSV field (RFC 4180): quoted, quotes doubled, when it holds a comma,
// a quote or a line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string csv_line(const Event& e) {
  return std::to_string(e.id) + "," + csv_field(format_rfc3339(e.ts)) + "," + csv_field(e.plugin) + "," +
         csv_field(e.kind) + "," + csv_field(e.machine) + "," + csv_field(e.data) + "\r\n";
}

// Events per poll of an export: what one chunk of the body holds.
constexpr int kExportPage = 1000;

// GET /api/v1/events/export: the range as a download, newest first, a page
// of the store's cursor at a time written as one chunk of the body: memory
// stays at one page however many events the range holds.
Stream export_stream(ApiContext& ctx, const Request& req) {
  QueryParams params = req.query;
  const std::string format = take_format(params, {"jsonl", "csv"}, true);
  for (const char* paged : {"limit", "cursor"})
    if (params.count(paged))
      throw bad_request(paged, std::string(paged) + " does not apply: the export holds the whole range");
  const EventQuery q = parse_event_query(params, now_ns());
  struct State {
    std::optional<EventCursor> after;
    bool header_sent = false;
  };
  auto state = std::make_shared<State>();
  const bool csv = format == "csv";
  Stream stream{std::chrono::milliseconds(0), [&ctx, q, csv, state](const EventSink& send) {
                  std::string chunk;
                  if (csv && !state->header_sent) chunk = "id,time,plugin,kind,machine,data\r\n";
                  state->header_sent = true;
                  const EventPage page = ctx.events.store().query(q.filter, state->after, kExportPage);
                  for (const auto& e : page.events)
                    chunk += csv ? csv_line(e)
                                 : event_json(e).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
                  if (!chunk.empty()) send("", chunk);
                  state->after = page.next;
                  return page.next.has_value();
                }};
  stream.content_type = csv ? "text/csv; charset=utf-8" : "application/x-ndjson";
  stream.headers = {{"Content-Disposition",
                     std::string("attachment; filename=\"adam-events.") + (csv ? "csv" : "jsonl") + "\""}};
  return stream;
}

Reply events_page(ApiContext& ctx, const Request& req) {
  const EventQuery q = parse_event_query(req.query, now_ns());
  const EventPage page = ctx.events.store().query(q.filter, q.cursor, q.limit);
  json events = json::array();
  for (const auto& e : page.events) events.push_back(linked_event_json(ctx, e));
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
                  {"stream", "/api/v1/events/stream"},
                  {"export", "/api/v1/events/export"}}}}};
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
// format=html sends each event as its table row (html::event_row), what
// the console's live mode prepends (htmx-ext-sse swaps an event's data).
Stream event_stream(ApiContext& ctx, const Request& req) {
  QueryParams params = req.query;
  const bool as_html = take_format(params, {"json", "html"}, false) == "html";
  const EventQuery q = parse_stream_query(params, now_ns());
  auto render = [&ctx, as_html](const Event& e) {
    const json j = linked_event_json(ctx, e);
    return as_html ? html::event_row(j) : j.dump();
  };
  struct State {
    std::shared_ptr<EventSubscription> subscription;
    bool stored_sent = false;
    int64_t sent_up_to = 0;
  };
  auto state = std::make_shared<State>(State{ctx.events.subscribe(q.filter)});
  return Stream{std::chrono::milliseconds(200), [&ctx, q, state, render](const EventSink& send) {
                  if (!state->stored_sent) {
                    state->stored_sent = true;
                    if (q.has_range) {
                      const EventPage stored = ctx.events.store().query(q.filter, std::nullopt, q.limit);
                      for (auto it = stored.events.rbegin(); it != stored.events.rend(); ++it) {
                        send("event", render(*it));
                        state->sent_up_to = std::max(state->sent_up_to, it->id);
                      }
                    }
                  }
                  // A zero wait: what is pending, without blocking the worker.
                  for (const auto& e : state->subscription->wait(std::chrono::milliseconds(0)))
                    if (e.id > state->sent_up_to) send("event", render(e));
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
  // Pages and histograms read ranges of the store: the scan workers'.
  for (Route route : {Route{"GET", "/api/v1/events", "/api/v1/events", Access::viewer,
                            [&ctx](const Request& req) { return events_page(ctx, req); }, html::events},
                      Route{"GET", "/api/v1/events/histogram", "/api/v1/events/histogram", Access::viewer,
                            [&ctx](const Request& req) { return histogram(ctx, req); }, html::histogram}}) {
    route.scans_store = true;
    r.push_back(std::move(route));
  }
  Route stream{"GET", "/api/v1/events/stream", "/api/v1/events/stream", Access::viewer};
  stream.stream = [&ctx](const Request& req) { return event_stream(ctx, req); };
  r.push_back(std::move(stream));
  Route exported{"GET", "/api/v1/events/export", "/api/v1/events/export", Access::viewer};
  exported.stream = [&ctx](const Request& req) { return export_stream(ctx, req); };
  r.push_back(std::move(exported));
  return r;
}

}  // namespace adam
