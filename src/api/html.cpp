#include "api/html.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "api/templates.h"
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

std::string node(const json& n) {
  json features = json::array();
  for (const auto& [name, f] : n["features"].items())
    features.push_back({{"name", name}, {"available", f["available"]}, {"detail", f["detail"]}});
  json data = n;
  data["features"] = features;
  return templates::render("node", data);
}

namespace {

// One input of the start form per field of the plugin's config_schema,
// holding the current config's value.
json start_form_fields(const json& plugin) {
  json fields = json::array();
  const json& config = plugin["config"];
  for (const auto& field : plugin["config_schema"].value("fields", json::array())) {
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

json plugin_data(const json& p) {
  json data = p;
  const std::string state = p.value("state", "");
  data["running"] = state == "running";
  data["startable"] = state != "running" && state != "unsupported";
  data["stats"] = key_values(p["stats"]);
  data["fields"] = start_form_fields(p);
  return data;
}

}  // namespace

std::string plugin_row(const json& p) { return templates::render("plugin_row", plugin_data(p)); }

std::string plugins(const json& list) {
  json data = list;
  data["plugins"] = json::array();
  for (const auto& p : list["plugins"]) data["plugins"].push_back(plugin_data(p));
  return templates::render("plugins", data);
}

std::string tokens(const json& list) {
  json data = list;
  for (auto& t : data["tokens"]) {
    t["created"] = format_rfc3339(t["created_at"].get<TimeNs>());
    t["last_used"] =
        t["last_used_at"].is_number() ? json(format_rfc3339(t["last_used_at"].get<TimeNs>())) : json();
  }
  return templates::render("tokens", data);
}

std::string token_created(const json& created) { return templates::render("token_created", created); }

std::string events(const json& page) {
  json data = page;
  for (auto& e : data["events"]) e["data"] = key_values(e["data"]);
  return templates::render("events", data);
}

std::string histogram(const json& h) {
  constexpr int kBarWidth = 4;
  constexpr int kHeight = 60;
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
  return templates::render("histogram", data);
}

std::string error(int status, const std::string& message, const std::string& field) {
  return templates::render(
      "error", {{"status", status}, {"message", message}, {"field", field.empty() ? json() : json(field)}});
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
