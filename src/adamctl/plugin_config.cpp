#include "adamctl/plugin_config.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "adamctl/client.h"
#include "core/config_schema.h"

using nlohmann::json;

namespace adamctl {

namespace {

// --config's object: the JSON text itself, or `@path` for a file holding it.
json config_argument(const std::string& argument) {
  const std::string source = argument.starts_with("@") ? read_file(argument.substr(1)) : argument;
  json config = json::parse(source, nullptr, false);
  if (!config.is_object()) throw std::runtime_error("--config: not a JSON object: " + argument);
  return config;
}

}  // namespace

json start_config(const json& schema, const std::string& config, const std::vector<std::string>& sets) {
  json merged = config.empty() ? json::object() : config_argument(config);
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const std::string& set : sets) {
    const size_t eq = set.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::runtime_error("--set " + set + ": expected FIELD=VALUE (see --help-config)");
    pairs.emplace_back(set.substr(0, eq), set.substr(eq + 1));
  }
  for (const auto& [key, value] : pairs) merged.erase(key);
  merged.update(adam::config_from_text(schema, pairs));
  return merged;
}

namespace {

// "integer, 0 to 100, default 10", "list of string, 1 to 64 items, required",
// "string: auto|xdp|tc, default auto".
std::string type_text(const json& field) {
  std::string type = field.value("type", "");
  if (type == "array") type = "list of " + field.value("items", "string");
  if (field.contains("enum")) {
    std::string choices;
    for (const auto& c : field["enum"]) choices += (choices.empty() ? "" : "|") + text(c);
    type += ": " + choices;
  }
  const auto bounds = [&](const char* lo, const char* hi, const std::string& unit) {
    if (field.contains(lo) && field.contains(hi))
      type += ", " + text(field[lo]) + " to " + text(field[hi]) + unit;
    else if (field.contains(lo))
      type += ", at least " + text(field[lo]) + unit;
    else if (field.contains(hi))
      type += ", at most " + text(field[hi]) + unit;
  };
  bounds("minimum", "maximum", "");
  bounds("min_items", "max_items", " items");
  if (field.value("required", false)) type += ", required";
  if (field.contains("default")) type += ", default " + text(field["default"]);
  return type;
}

}  // namespace

std::string describe_schema(const std::string& plugin, const json& schema) {
  std::string out = "adamctl plugin start " + plugin + " [--set FIELD=VALUE]... [--config JSON|@FILE]\n";
  size_t width = 0;
  for (const auto& field : schema["fields"]) width = std::max(width, text(field["name"]).size());
  for (const auto& field : schema["fields"]) {
    const std::string name = text(field["name"]);
    out += "  " + name + std::string(width - name.size() + 2, ' ') + type_text(field) + "\n" +
           std::string(width + 4, ' ') + text(field["help"]) + "\n";
  }
  out +=
      "A list takes commas (--set FIELD=a,b) or repeats (--set FIELD=a --set FIELD=b); "
      "--set FIELD= leaves FIELD at its default; --set wins over --config.\n";
  return out;
}

}  // namespace adamctl
