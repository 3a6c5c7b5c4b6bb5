#include "plugins/registry.h"

#include "plugins/firewall/firewall_plugin.h"

namespace adam {

// monitor, lsm and lb join this list as they are built.
std::vector<std::unique_ptr<Plugin>> make_plugins(PluginContext& ctx) {
  std::vector<std::unique_ptr<Plugin>> plugins;
  plugins.push_back(std::make_unique<FirewallPlugin>(ctx));
  return plugins;
}

}  // namespace adam
