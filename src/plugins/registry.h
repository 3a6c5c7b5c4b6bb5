#pragma once
// Every plugin this adamd build ships, in the order the API lists them.
#include <memory>
#include <vector>

#include "core/plugin.h"

namespace adam {

std::vector<std::unique_ptr<Plugin>> make_plugins(PluginContext& ctx);

}  // namespace adam
