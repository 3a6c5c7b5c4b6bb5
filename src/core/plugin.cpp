#include "core/plugin.h"

#include "core/config_schema.h"

namespace adam {

nlohmann::json Plugin::config_schema() const { return ConfigSchema().to_json(); }

void Plugin::validate(const nlohmann::json& config) const { check_config(config_schema(), config); }

}  // namespace adam
