#pragma once
// A plugin's config described as data: what GET /api/v1/plugins/{name} serves
// as `config_schema`, what the console's start form and `adamctl plugin start
// --set key=value` are generated from, and the first check of every config.
//
// The document (small, JSON-Schema-like, fields in the order a form shows them):
//   {"fields": [{"name": "interfaces", "type": "array", "items": "string",
//                "required": true, "min_items": 1, "help": "..."},
//               {"name": "hook", "type": "string", "enum": ["xdp", "tc", "auto"],
//                "default": "auto", "help": "..."},
//               {"name": "log_rate", "type": "integer", "minimum": 0,
//                "maximum": 10000000, "default": 1000, "help": "..."}]}
// type: string, integer, number, boolean or array (of `items`: string or
// integer). Only the core and adamctl read it; a plugin builds it with
// ConfigSchema below.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace adam {

class ConfigSchema {
 public:
  struct Field {
    std::string name;
    std::string type;   // string, integer, number, boolean, array
    std::string items;  // arrays: string or integer
    std::string help;
    bool required = false;
    nlohmann::json default_value;                 // null: none
    std::vector<std::string> choices;             // strings: the allowed values
    std::optional<int64_t> minimum, maximum;      // integers
    std::optional<int64_t> min_items, max_items;  // arrays
  };

  ConfigSchema& field(Field f);
  nlohmann::json to_json() const;

 private:
  std::vector<Field> fields_;
};

// Checks `config` against the schema document: an object, no unknown field,
// every required field present, each of the declared type, within its enum
// and bounds. Throws ApiError 400 naming the field ("interfaces[1]").
void check_config(const nlohmann::json& schema, const nlohmann::json& config);

// A config from text key/value pairs (an HTML form, `--set key=value`):
// each value becomes the declared type where it reads as one: an array field
// takes a comma/space separated list (repeated keys add to it), integers and
// booleans parse; an empty value leaves the field out (its default applies).
// Text that does not read as the declared type, and unknown keys, stay
// strings, so check_config() rejects them naming the field.
nlohmann::json config_from_text(const nlohmann::json& schema,
                                const std::vector<std::pair<std::string, std::string>>& pairs);

}  // namespace adam
