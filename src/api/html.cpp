#include "api/html.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>

#include "api/router.h"
#include "api/templates.h"
#include "core/event_query.h"
#include "core/time_range.h"

namespace adam::html {

using nlohmann::json;

namespace {

// A JSON value as text: strings as they are, anything else as JSON (bytes
// that are not UTF-8 replaced rather than thrown on).
std::string text_of(const json& j) {
  return j.is_string() ? j.get<std::string>() : j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A scalar or a list of scalars ("a, b") as text; nothing for deeper values.
std::optional<std::string> scalar_text(const json& j) {
  if (j.is_primitive()) return text_of(j);
  if (!j.is_array() || !std::all_of(j.begin(), j.end(), [](const json& item) { return item.is_primitive(); }))
    return std::nullopt;
  std::string text;
  for (const auto& item : j) text += (text.empty() ? "" : ", ") + text_of(item);
  return text;
}

// "2026-12-01T11:16:20.841728547Z" as a table shows it: "2026-12-01
// 11:16:20" and, with `millis`, ".841" (the <time> element keeps it whole).
std::string readable_time(const std::string& rfc3339, bool millis) {
  if (rfc3339.size() < 19) return rfc3339;
  std::string text = rfc3339.substr(0, 10) + " " + rfc3339.substr(11, 8);
  if (millis && rfc3339.size() > 20 && rfc3339[19] == '.') text += rfc3339.substr(19, 4);
  return text;
}

}  // namespace

json key_values(const json& j) {
  json entries = json::array();
  if (!j.is_object()) {
    entries.push_back(
        {{"name", ""}, {"value", scalar_text(j).value_or(text_of(j))}, {"parts", json::array()}});
    return entries;
  }
  for (const auto& [name, value] : j.items()) {
    if (auto text = scalar_text(value)) {
      entries.push_back({{"name", name}, {"value", *text}, {"parts", json::array()}});
      continue;
    }
    if (!value.is_object()) continue;
    json parts = json::array();
    for (const auto& [part, part_value] : value.items())
      if (auto text = scalar_text(part_value)) parts.push_back({{"name", part}, {"value", *text}});
    if (!parts.empty()) entries.push_back({{"name", name}, {"value", nullptr}, {"parts", parts}});
  }
  return entries;
}

std::string json_block(const json& j) {
  return templates::render("json_block", {{"text", j.dump(2, ' ', false, json::error_handler_t::replace)}});
}

namespace {

// What each kernel feature adamd probes (core/kernel.h) lets a plugin do.
std::string feature_allows(const std::string& name) {
  static const std::map<std::string, std::string> kAllows = {
      {"btf", "CO-RE programs that run on this kernel without rebuilding (BTF type info)"},
      {"xdp", "packet filtering at the driver, before the stack (XDP hook)"},
      {"tc", "packet filtering at tc ingress (classic cls_bpf)"},
      {"tcx", "packet filtering at tc ingress through tcx links (kernel 6.6+)"},
      {"ringbuf", "events from BPF programs to adamd through ring buffers"},
      {"tracepoint", "observing kernel events (process exec/exit) at tracepoints"},
      {"bpf_lsm", "enforcement at LSM hooks: deny exec, file access, connect"},
      {"fentry", "low-overhead tracing of kernel functions (fentry/fexit)"},
  };
  auto it = kAllows.find(name);
  return it == kAllows.end() ? "" : it->second;
}

// "3 d 4 h", "2 h 5 min", "42 s": an uptime as a reader takes it in.
std::string duration_text(int64_t seconds) {
  const int64_t d = seconds / 86400, h = seconds % 86400 / 3600, m = seconds % 3600 / 60;
  if (d > 0) return std::to_string(d) + " d " + std::to_string(h) + " h";
  if (h > 0) return std::to_string(h) + " h " + std::to_string(m) + " min";
  if (m > 0) return std::to_string(m) + " min " + std::to_string(seconds % 60) + " s";
  return std::to_string(seconds) + " s";
}

}  // namespace

std::string node(const json& n) {
  json features = json::array();
  const json found = n.value("features", json::object());  // a named value: items() refers to it
  for (const auto& [name, f] : found.items())
    features.push_back({{"name", name},
                        {"available", f["available"]},
                        {"detail", f["detail"]},
                        {"allows", feature_allows(name)}});
  // Lost events: a row per plugin, a column per loss reason (node.events).
  const json& events = n.contains("events") ? n["events"] : json::object();
  json reasons = json::array();
  const json lost_totals = events.value("lost", json::object());
  for (const auto& [reason, _] : lost_totals.items()) reasons.push_back(reason);
  json lost = json::array();
  const json per_plugin = events.value("plugins", json::object());
  for (const auto& [plugin, c] : per_plugin.items()) {
    json counts = json::array();
    const json plugin_lost = c.value("lost", json::object());
    for (const auto& reason : reasons) {
      const json count = plugin_lost.value(reason.get<std::string>(), json(0));
      counts.push_back({{"count", count}, {"nonzero", count != 0}});
    }
    lost.push_back({{"plugin", plugin}, {"stored", c.value("stored", json(0))}, {"counts", counts}});
  }
  json data = n;
  data["features"] = features;
  data["reasons"] = reasons;
  data["lost"] = lost;
  data["uptime"] = n["uptime_s"].is_number() ? json(duration_text(n["uptime_s"].get<int64_t>())) : json();
  return templates::render("node", data);
}

std::string dashboard(const json& node_json, const json& plugin_list, bool admin) {
  return templates::render(
      "dashboard",
      {{"node", node_json}, {"node_html", node(node_json)}, {"plugins_html", plugins(plugin_list, admin)}});
}

json form_fields(const json& schema, const json& config) {
  json fields = json::array();
  for (const auto& field : schema.value("fields", json::array())) {
    const std::string name = field.at("name").get<std::string>();
    const std::string type = field.at("type").get<std::string>();
    const json current = config.is_object() && config.contains(name) ? config[name] : json();
    const json& default_value = field.contains("default") ? field["default"] : json();
    const bool is_enum = field.contains("enum");
    json options = json::array();
    for (const auto& choice : field.value("enum", json::array()))
      options.push_back({{"value", choice}, {"selected", choice == current}});
    fields.push_back({
        {"name", name},
        {"help", field.value("help", "")},
        {"required", field.value("required", false)},
        {"is_enum", is_enum},
        {"is_string", type == "string" && !is_enum},
        {"is_integer", type == "integer"},
        {"is_number", type == "number"},
        {"is_boolean", type == "boolean"},
        {"is_array", type == "array"},
        {"options", options},
        {"minimum", field.contains("minimum") ? field["minimum"] : json()},
        {"maximum", field.contains("maximum") ? field["maximum"] : json()},
        {"value", current.is_null() ? "" : scalar_text(current).value_or(text_of(current))},
        {"placeholder", default_value.is_null() ? json() : json(scalar_text(default_value).value_or(""))},
        {"checked", (current.is_null() ? default_value : current) == true},
    });
  }
  return fields;
}

namespace {

json plugin_data(const json& p, bool admin) {
  // Every field but the stats, which a firewall fills with every rule's
  // counters: only their key/value list goes to the template.
  json data = json::object();
  for (const auto& [name, value] : p.items())
    if (name != "stats") data[name] = value;
  const std::string state = p.value("state", "");
  // A control where the plugin links its action and the page's caller may use it.
  const json links = p.value("links", json::object());
  const bool active = state == "running" || state == "degraded";  // degraded: running, with a gap
  data["stoppable"] = admin && active && links.contains("stop");
  data["startable"] = admin && !active && state != "unsupported" && links.contains("start");
  data["stats"] = key_values(p["stats"]);
  data["counters"] = p.contains("counters") ? key_values(p["counters"]) : json::array();
  data["fields"] = form_fields(p["config_schema"], p["config"]);
  return data;
}

}  // namespace

std::string plugin_row(const json& p, bool admin) {
  return templates::render("plugin_row", plugin_data(p, admin));
}

std::string plugins(const json& list, bool admin) {
  json data = {{"plugins", json::array()}};
  for (const auto& p : list["plugins"]) data["plugins"].push_back(plugin_data(p, admin));
  return templates::render("plugins", data);
}

std::string tokens(const json& list) {
  json data = list;
  for (auto& t : data["tokens"]) {
    t["created"] = readable_time(format_rfc3339(t["created_at"].get<TimeNs>()), false);
    t["last_used"] = t["last_used_at"].is_number()
                         ? json(readable_time(format_rfc3339(t["last_used_at"].get<TimeNs>()), false))
                         : json();
  }
  return templates::render("tokens", data);
}

std::string token_created(const json& created) { return templates::render("token_created", created); }

namespace {

// An event as its row shows it: data as a key/value list, its links
// (besides self) as [{name, href}], and an events.lost marker's count and
// reason in `lost`.
json event_row_data(const json& e) {
  json row = json::object();
  for (const auto& [name, value] : e.items())  // not the data: an audit event's may be a whole ruleset
    if (name != "data") row[name] = value;
  row["data"] = key_values(e["data"]);
  row["shown_time"] = readable_time(e.value("time", ""), true);
  json links = json::array();
  const json event_links = e.value("links", json::object());
  for (const auto& [name, href] : event_links.items()) {
    if (name == "self" || !href.is_string()) continue;
    const std::string page = resource_page(href);
    links.push_back({{"name", name}, {"href", href}, {"page", page.empty() ? json() : json(page)}});
  }
  row["links"] = links;
  const json& data = e["data"];
  row["lost"] = e.value("kind", "") == "events.lost" && data.is_object()
                    ? json{{"count", data.value("count", json())}, {"reason", data.value("reason", json())}}
                    : json();
  return row;
}

}  // namespace

std::string events(const json& page) {
  json data = {{"events", json::array()}, {"links", page["links"]}};
  for (const auto& e : page["events"]) data["events"].push_back(event_row_data(e));
  return templates::render("events", data);
}

std::string event_row(const json& event) { return templates::render("event_row", event_row_data(event)); }

std::string events_page(const json& view) { return templates::render("events_page", view); }

std::string histogram(const json& h) {
  constexpr int kBarWidth = 10;
  constexpr int kHeight = 80;
  int64_t max = 1;
  for (const auto& b : h["buckets"]) max = std::max(max, b["total"].get<int64_t>());
  json bars = json::array();
  int x = 0;
  for (const auto& b : h["buckets"]) {
    const int64_t total = b["total"].get<int64_t>();
    const int height = static_cast<int>(total * kHeight / max);
    bars.push_back({{"x", x},
                    {"y", kHeight - height},
                    {"width", kBarWidth - 1},
                    {"height", height},
                    {"time", b["time"]},
                    {"total", total},
                    {"counts", key_values(b["counts"])}});
    x += kBarWidth;
  }
  json data = h;
  data["bars"] = bars;
  data["width"] = std::max(x, 1);
  data["height"] = kHeight;
  data["max"] = max;
  data["bucket_count"] = bars.size();
  data["first_time"] = bars.empty() ? json() : bars.front()["time"];
  data["last_time"] = bars.empty() ? json() : bars.back()["time"];
  return templates::render("histogram", data);
}

std::string error(int status, const std::string& message, const std::string& field) {
  return templates::render(
      "error", {{"status", status}, {"message", message}, {"field", field.empty() ? json() : json(field)}});
}

namespace {

struct ResourcePage {
  std::string page;  // relative: "processes"
  std::regex shows;
  std::vector<std::string> params;
};

std::vector<ResourcePage>& resource_pages() {
  static std::vector<ResourcePage> pages;
  return pages;
}

}  // namespace

void add_resource_page(const std::string& page, const std::string& shows,
                       const std::vector<std::string>& params) {
  const std::string relative = page.substr(page.rfind('/') + 1);
  for (const auto& p : resource_pages())
    if (p.page == relative && p.params == params) return;  // another router of this process declared it
  resource_pages().push_back({relative, std::regex(shows), params});
}

std::string resource_page(const std::string& api_link) {
  std::string link = api_link;
  // A registered machine's link: /api/v1/machines/{id}/proxy/api/...
  static const std::regex proxied("/api/v1/machines/[^/]+/proxy(/api/.*)");
  std::smatch m;
  if (std::regex_match(link, m, proxied)) link = m[1].str();
  const size_t query_at = link.find('?');
  const std::string path = link.substr(0, query_at);
  for (const auto& p : resource_pages()) {
    if (!std::regex_match(path, m, p.shows)) continue;
    QueryParams query;
    try {
      if (query_at != std::string::npos)
        for (auto& [key, value] : parse_urlencoded(link.substr(query_at + 1))) query.emplace(key, value);
      for (size_t i = 0; i < p.params.size() && i + 1 < m.size(); ++i) {
        std::string segment = m[i + 1].str();  // percent-decoded as a form value: its '+' is a plus
        for (size_t at = 0; (at = segment.find('+', at)) != std::string::npos; at += 3)
          segment.replace(at, 1, "%2B");
        query.emplace(p.params[i], parse_urlencoded("v=" + segment).at(0).second);
      }
    } catch (const std::exception&) {
      return "";  // not a link this console made sense of: the plain API link stays
    }
    return p.page + (query.empty() ? "" : "?" + to_query_string(query));
  }
  return "";
}

std::string login_page(const std::string& message, const json& links) {
  return templates::render("login",
                           {{"message", message.empty() ? json() : json(message)}, {"links", links}});
}

std::string console_page(const json& layout, const std::string& main) {
  json data = layout;
  data["main"] = main;
  return templates::render("console", data);
}

}  // namespace adam::html
