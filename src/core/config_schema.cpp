#include "core/config_schema.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <set>

#include "core/errors.h"

namespace adam {

using nlohmann::json;

ConfigSchema& ConfigSchema::field(Field f) {
  fields_.push_back(std::move(f));
  return *this;
}

json ConfigSchema::to_json() const {
  json fields = json::array();
  for (const Field& f : fields_) {
    json j = {{"name", f.name}, {"type", f.type}, {"help", f.help}, {"required", f.required}};
    if (!f.items.empty()) j["items"] = f.items;
    if (!f.default_value.is_null()) j["default"] = f.default_value;
    if (!f.choices.empty()) j["enum"] = f.choices;
    if (f.minimum) j["minimum"] = *f.minimum;
    if (f.maximum) j["maximum"] = *f.maximum;
    if (f.min_items) j["min_items"] = *f.min_items;
    if (f.max_items) j["max_items"] = *f.max_items;
    fields.push_back(std::move(j));
  }
  return {{"fields", std::move(fields)}};
}

namespace {

const json* find_field(const json& schema, const std::string& name) {
  for (const json& f : schema.at("fields"))
    if (f.at("name") == name) return &f;
  return nullptr;
}

bool is_integer(const json& v) { return v.is_number_integer() || v.is_number_unsigned(); }

// An integer within the field's minimum and maximum. A value past INT64_MAX
// is only ever unsigned, and above any maximum a schema gives.
bool within(const json& spec, const json& value) {
  if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(INT64_MAX))
    return !spec.contains("maximum");
  const int64_t n = value.get<int64_t>();
  return (!spec.contains("minimum") || n >= spec["minimum"].get<int64_t>()) &&
         (!spec.contains("maximum") || n <= spec["maximum"].get<int64_t>());
}

std::string bounds_text(const json& spec) {
  const bool lo = spec.contains("minimum"), hi = spec.contains("maximum");
  if (lo && hi) return " from " + spec["minimum"].dump() + " to " + spec["maximum"].dump();
  if (lo) return " of at least " + spec["minimum"].dump();
  if (hi) return " of at most " + spec["maximum"].dump();
  return "";
}

// One value (a field's, or an array's item) of type `type`.
void check_value(const json& spec, const std::string& type, const json& value, const std::string& field) {
  if (type == "string") {
    if (!value.is_string()) throw bad_request(field, "'" + field + "' must be a string, got " + value.dump());
    if (spec.contains("enum")) {
      const auto& choices = spec["enum"];
      if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
        std::string list;
        for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c.get<std::string>();
        throw bad_request(field, "'" + field + "' must be one of " + list + ", got " + value.dump());
      }
    }
  } else if (type == "integer") {
    if (!is_integer(value) || !within(spec, value))
      throw bad_request(field,
                        "'" + field + "' must be an integer" + bounds_text(spec) + ", got " + value.dump());
  } else if (type == "number") {
    if (!value.is_number()) throw bad_request(field, "'" + field + "' must be a number, got " + value.dump());
  } else if (type == "boolean") {
    if (!value.is_boolean())
      throw bad_request(field, "'" + field + "' must be true or false, got " + value.dump());
  }
}

}  // namespace

void check_config(const json& schema, const json& config) {
  if (!config.is_object()) throw bad_request("", "the config must be a JSON object");
  for (const auto& [key, value] : config.items()) {
    const json* spec = find_field(schema, key);
    if (!spec) throw bad_request(key, "unknown field '" + key + "'");
    const std::string type = spec->at("type");
    if (type != "array") {
      check_value(*spec, type, value, key);
      continue;
    }
    if (!value.is_array()) throw bad_request(key, "'" + key + "' must be an array, got " + value.dump());
    if (spec->contains("min_items") && value.size() < (*spec)["min_items"].get<size_t>())
      throw bad_request(key, "'" + key + "' must have at least " + (*spec)["min_items"].dump() + " item(s)");
    if (spec->contains("max_items") && value.size() > (*spec)["max_items"].get<size_t>())
      throw bad_request(key, "'" + key + "' takes at most " + (*spec)["max_items"].dump() + " items");
    const json item_spec = json::object();
    for (size_t i = 0; i < value.size(); ++i)
      check_value(item_spec, spec->value("items", "string"), value[i], key + "[" + std::to_string(i) + "]");
  }
  for (const json& f : schema.at("fields"))
    if (f.value("required", false) && !config.contains(f.at("name").get<std::string>()))
      throw bad_request(f.at("name"),
                        "missing field '" + f.at("name").get<std::string>() + "'" +
                            (f.value("help", "").empty() ? "" : ": " + f["help"].get<std::string>()));
}

namespace {

// `text` as `type` where it reads as one, else the text itself.
json typed(const std::string& type, const std::string& text) {
  if (type == "integer") {
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc() && end == text.data() + text.size()) return n;
  } else if (type == "number") {
    json n = json::parse(text, nullptr, false);
    if (n.is_number()) return n;
  } else if (type == "boolean") {
    static const std::set<std::string> yes = {"true", "on", "yes", "1"}, no = {"false", "off", "no", "0"};
    if (yes.count(text)) return true;
    if (no.count(text)) return false;
  }
  return text;
}

}  // namespace

json config_from_text(const json& schema, const std::vector<std::pair<std::string, std::string>>& pairs) {
  json config = json::object();
  for (const auto& [key, text] : pairs) {
    const json* spec = find_field(schema, key);
    const std::string type = spec ? spec->at("type").get<std::string>() : "string";
    if (type != "array") {
      if (!text.empty()) config[key] = typed(type, text);
      continue;
    }
    json& list = config[key];
    if (!list.is_array()) list = json::array();
    std::string item;
    for (char c : text + ",") {
      if (c == ',' || c == ' ') {
        if (!item.empty()) list.push_back(typed(spec->value("items", "string"), item));
        item.clear();
      } else {
        item.push_back(c);
      }
    }
    if (list.empty()) config.erase(key);
  }
  return config;
}

}  // namespace adam
