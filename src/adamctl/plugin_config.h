#pragma once
// What `adamctl plugin start NAME --set key=value … --config JSON|@file` sends,
// built from the plugin's config_schema (GET /api/v1/plugins/NAME), and the
// schema as text for --help-config. adamctl types the values; adamd checks
// them and names the field it refuses.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace adamctl {

// The config to start with: --config's object (inline JSON, or @FILE holding
// it; empty: none; throws when it is not a JSON object) with the --set
// pairs on top, each KEY=VALUE typed as the schema declares the field
// (core/config_schema.h config_from_text). A --set replaces the field, and
// `--set KEY=` drops it so its default applies. Throws on a --set without '='.
nlohmann::json start_config(const nlohmann::json& schema, const std::string& config,
                            const std::vector<std::string>& sets);

// The schema's fields, one per line with type, bounds, default and help.
std::string describe_schema(const std::string& plugin, const nlohmann::json& schema);

}  // namespace adamctl
