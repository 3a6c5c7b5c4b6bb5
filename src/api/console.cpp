#include <algorithm>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "api/auth.h"
#include "api/html.h"
#include "api/resources.h"
#include "api/router.h"
#include "core/embedded.h"
#include "core/event_query.h"
#include "core/time_range.h"

namespace adam {

using nlohmann::json;

namespace {

std::string content_type_of(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

// The one value of query parameter `name`, or "" (the page's own form sends each once).
std::string query_value(const Request& req, const std::string& name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? "" : it->second;
}

// The events page's filter, from its own URL: a preset (last=) or an
// absolute since/until, the plugin, the kinds; what the API queries take.
struct EventsFilter {
  std::string last, since, until, plugin;
  std::vector<std::string> kinds;
  QueryParams data;  // data.KEY=VALUE: on a field of the events' data (a link's, e.g. one process's events)
  bool live = false;

  explicit EventsFilter(const Request& req)
      : last(query_value(req, "last")),
        since(query_value(req, "since")),
        until(query_value(req, "until")),
        plugin(query_value(req, "plugin")),
        live(!query_value(req, "live").empty()) {
    for (auto [it, end] = req.query.equal_range("kind"); it != end; ++it)
      if (!it->second.empty()) kinds.push_back(it->second);
    for (const auto& [name, value] : req.query)
      if (name.rfind("data.", 0) == 0) data.emplace(name, value);
    if (!since.empty() || !until.empty())
      last.clear();  // the absolute range wins: the form clears it when a preset is picked
    else if (last.empty())
      last = "24h";
  }
  // The range and plugin as API parameters; the kinds too unless `with_kinds` is false.
  QueryParams api_params(bool with_kinds = true) const {
    QueryParams p;
    if (!last.empty()) p.emplace("last", last);
    if (!since.empty()) p.emplace("since", utc_datetime_local(since));
    if (!until.empty()) p.emplace("until", utc_datetime_local(until));
    if (!plugin.empty()) p.emplace("plugin", plugin);
    if (with_kinds)
      for (const auto& k : kinds) p.emplace("kind", k);
    p.insert(data.begin(), data.end());
    return p;
  }
  // The range in ns, to choose the histogram's bucket. Throws ApiError 400
  // naming the parameter when a value cannot be read.
  std::pair<TimeNs, TimeNs> range(TimeNs now) const {
    const EventFilter f = parse_event_query(api_params(false), now).filter;
    return {f.since, std::min(f.until, now)};
  }
};

// The smallest histogram bucket that splits [since, until) into at most 120
// bars (so a preset gets 60-120), the largest one past that.
std::string_view bucket_for(TimeNs since, TimeNs until) {
  for (const auto& b : kHistogramBuckets)
    if ((until - since) / b.ns <= 120) return b.name;
  return std::end(kHistogramBuckets)[-1].name;
}

std::string with_query(const std::string& link, const QueryParams& params) {
  if (params.empty()) return link;
  return link + (link.find('?') == std::string::npos ? "?" : "&") + to_query_string(params);
}

Reply events_page(const Request& req) {
  const EventsFilter filter(req);
  const auto [since, until] = filter.range(now_ns());
  const std::string bucket(bucket_for(since, until));
  QueryParams page_params = filter.api_params();
  page_params.emplace("limit", "50");
  const json events = req.api("GET", with_query("/api/v1/events", page_params), nullptr);
  const json& links = events["links"];
  const std::string histogram_link = links.value("histogram", "");
  QueryParams histogram_params = filter.api_params();
  histogram_params.emplace("bucket", bucket);
  const json histogram = req.api("GET", with_query(histogram_link, histogram_params), nullptr);
  // The kinds to offer: those in the range whatever kinds are picked, and the picked ones.
  std::set<std::string> kinds(filter.kinds.begin(), filter.kinds.end());
  QueryParams any_kind = filter.api_params(false);
  any_kind.emplace("bucket", bucket);
  const json of_any_kind =
      filter.kinds.empty() ? histogram : req.api("GET", with_query(histogram_link, any_kind), nullptr);
  for (const auto& b : of_any_kind["buckets"])
    for (const auto& [kind, n] : b["counts"].items()) kinds.insert(kind);
  int64_t total = 0;
  for (const auto& b : histogram["buckets"]) total += b.value("total", int64_t{0});
  json kind_choices = json::array();
  for (const auto& k : kinds)
    kind_choices.push_back(
        {{"name", k},
         {"checked", std::find(filter.kinds.begin(), filter.kinds.end(), k) != filter.kinds.end()}});
  // The plugins to offer: the machine's, and adamd itself (the audit trail).
  std::set<std::string> plugins = {"adamd"};
  // value() copies: a range-for over operator[] of the temporary would dangle.
  for (const auto& p : req.api("GET", "/api/v1/plugins?stats=0", nullptr).value("plugins", json::array()))
    plugins.insert(p.value("name", ""));
  if (!filter.plugin.empty()) plugins.insert(filter.plugin);
  json plugin_choices = json::array();
  for (const auto& p : plugins) plugin_choices.push_back({{"name", p}, {"selected", p == filter.plugin}});
  json presets = json::array();
  for (const auto& [value, label] : std::vector<std::pair<std::string, std::string>>{
           {"1h", "last 1 h"}, {"24h", "last 24 h"}, {"7d", "last 7 d"}, {"3mo", "last 3 months"}})
    presets.push_back({{"value", value}, {"label", label}, {"selected", value == filter.last}});
  QueryParams live_params;
  live_params.emplace("format", "html");
  if (!filter.plugin.empty()) live_params.emplace("plugin", filter.plugin);
  for (const auto& k : filter.kinds) live_params.emplace("kind", k);
  live_params.insert(filter.data.begin(), filter.data.end());
  json data_filters = json::array();
  for (const auto& [name, value] : filter.data) data_filters.push_back({{"name", name}, {"value", value}});
  QueryParams jsonl = filter.api_params(), csv = filter.api_params();
  jsonl.emplace("format", "jsonl");
  csv.emplace("format", "csv");
  const std::string export_link = links.value("export", "");
  return html_reply(html::events_page({
      {"page", req.base + "/events"},
      {"presets", presets},
      {"since", filter.since},
      {"until", filter.until},
      {"plugins", plugin_choices},
      {"kinds", kind_choices},
      {"has_data_filters", !data_filters.empty()},
      {"data_filters", data_filters},
      {"live", filter.live},
      {"stream", with_query(links.value("stream", ""), live_params)},
      {"export_jsonl", with_query(export_link, jsonl)},
      {"export_csv", with_query(export_link, csv)},
      {"total", total},
      {"range_text", format_rfc3339(since) + " – " + format_rfc3339(until) + " (per " +
                         histogram.value("bucket", "") + ")"},
      {"histogram_html", html::histogram(histogram)},
      {"events_html", html::events(events)},
  }));
}

}  // namespace

json console_links() {
  return {{"home", "/"},
          {"stylesheet", "/ui/assets/adam.css"},
          {"script", "/ui/assets/htmx.min.js"},
          {"sse_script", "/ui/assets/sse.min.js"},
          {"chart_script", "/ui/assets/uPlot.iife.min.js"},
          {"chart_stylesheet", "/ui/assets/uPlot.min.css"},
          {"console_script", "/ui/assets/console.js"},
          {"login", "/ui/login"},
          {"logout", "/ui/logout"},
          {"node", "/api/v1/node"},
          {"plugins", "/api/v1/plugins"},
          {"tokens", "/api/v1/tokens"},
          {"events", "/api/v1/events"},
          {"histogram", "/api/v1/events/histogram"}};
}

std::vector<Route> console_routes(Auth& auth) {
  std::vector<Route> r;
  // The dashboard of the active machine.
  Route dashboard{"GET", "/", "/", Access::viewer, [](const Request& req) {
                    return html_reply(html::dashboard(req.api("GET", "/api/v1/node", nullptr),
                                                      req.api("GET", "/api/v1/plugins", nullptr),
                                                      req.caller_role == "admin"));
                  }};
  dashboard.page = Page::machine;
  dashboard.nav = "Dashboard";
  r.push_back(std::move(dashboard));
  // The machine's events: range, filters, histogram, table, live, export.
  Route events{"GET", "/events", "/events", Access::viewer, events_page};
  events.page = Page::machine;
  events.nav = "Events";
  events.shows = "/api/v1/events";  // a link to a query of events opens this page on it
  events.scans_store = true;
  r.push_back(std::move(events));
  // The machine's tokens, with the create form and a revoke button per token.
  Route tokens{"GET", "/tokens", "/tokens", Access::admin, [](const Request& req) {
                 return html_reply(html::tokens(req.api("GET", "/api/v1/tokens", nullptr)));
               }};
  tokens.page = Page::machine;
  tokens.nav = "Tokens";
  r.push_back(std::move(tokens));
  // The login form; signed in already, the dashboard.
  r.push_back({"GET", "/ui/login", "/ui/login", Access::open, [&auth](const Request& req) {
                 if (!auth.session(req)) return html_reply(html::login_page("", console_links()));
                 Reply reply = html_reply("", 303);
                 reply.headers = {{"Location", "/"}};
                 return reply;
               }});
  r.push_back(
      {"GET", "/ui/assets/([A-Za-z0-9._-]+)", "/ui/assets/{name}", Access::open, [](const Request& req) {
         Reply reply;
         for (const auto& f : embedded::web_assets) {
           if (f.name == req.params[0]) {
             reply.headers = {{"Cache-Control", "public, max-age=3600"}};
             reply.content = std::string(f.data);
             reply.content_type = content_type_of(f.name);
             return reply;
           }
         }
         reply.status = 404;
         reply.content = "no such asset\n";
         reply.content_type = "text/plain";
         return reply;
       }});
  return r;
}

}  // namespace adam
