#include "plugins/firewall/rule_form.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/errors.h"

namespace adam::fw {
namespace {

using nlohmann::json;

std::string trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return std::string(text);
}

// "a, b, c" as ["a", "b", "c"]; empty items are dropped.
json comma_list(std::string_view text) {
  json values = json::array();
  while (!text.empty()) {
    const size_t comma = text.find(',');
    if (std::string value = trimmed(text.substr(0, comma)); !value.empty()) values.push_back(value);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return values;
}

// A form's integer field (an optional sign and digits); nullopt when it is not one.
std::optional<int64_t> form_integer(const std::string& text) {
  int64_t value = 0;
  const char* begin = text.data() + (text.size() > 1 && text[0] == '+' ? 1 : 0);
  auto [end, ec] = std::from_chars(begin, text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

json rule_json_from_form(const FormFields& form) {
  json rule = {{"enabled", false}, {"log", false}};
  json match = json::object();
  std::string field;  // the condition whose values come next
  for (const auto& [key, value] : form) {
    if (key == "name" || key == "description" || key == "action") {
      rule[key] = value;
    } else if (key == "priority") {
      const std::string text = trimmed(value);
      if (text.empty()) continue;  // the default, 0
      auto priority = form_integer(text);
      if (!priority) throw bad_request("priority", "must be an integer, got \"" + value + "\"");
      rule["priority"] = *priority;  // rule_from_json checks the range
    } else if (key == "enabled" || key == "log") {
      rule[key] = true;  // a checked checkbox
    } else if (key == "field") {
      if (std::find(std::begin(kConditionFields), std::end(kConditionFields), value) ==
          std::end(kConditionFields))
        throw bad_request("field", "unknown condition field \"" + value +
                                       "\" (use src, dst, proto, src_port, dst_port or iface)");
      field = value;
    } else if (key == "values") {
      if (field.empty()) throw bad_request("values", "values must follow the field they are for");
      json values = comma_list(value);
      if (values.empty()) continue;
      if (match.contains(field))
        throw bad_request("match." + field,
                          "is in two conditions; list all its values in one (\"a, b, c\": any of them)");
      match[field] = std::move(values);
    } else {
      throw bad_request(key, "unknown form field '" + key + "'");
    }
  }
  rule["match"] = std::move(match);
  return rule;
}

json packet_json_from_form(const FormFields& form) {
  json packet = json::object();
  for (const auto& [key, value] : form) {
    const std::string text = trimmed(value);
    if (text.empty()) continue;
    if (key == "src_port" || key == "dst_port") {
      auto port = form_integer(text);
      if (!port) throw bad_request(key, "must be a port 0-65535, got \"" + value + "\"");
      packet[key] = *port;  // packet_query_from_json checks the range
    } else {
      packet[key] = text;  // packet_query_from_json refuses unknown keys
    }
  }
  return packet;
}

}  // namespace adam::fw
