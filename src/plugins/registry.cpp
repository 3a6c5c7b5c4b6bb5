#include "plugins/registry.h"

#include <mutex>

#include "plugins/firewall/firewall_plugin.h"
#include "plugins/lb/lb_plugin.h"
#include "plugins/lsm/lsm_plugin.h"
#include "plugins/monitor/monitor_plugin.h"

namespace adam {

namespace {

std::mutex registry_mu;

// The plugins this build ships, in the order the API lists them: a new
// plugin is one line here. Built on first use, so they come before any
// plugin register_plugin() adds.
std::vector<PluginFactory>& registered() {
  static std::vector<PluginFactory> factories = {
      make_plugin<FirewallPlugin>,
      make_plugin<MonitorPlugin>,
      make_plugin<LsmPlugin>,
      make_plugin<LbPlugin>,
  };
  return factories;
}

}  // namespace

void register_plugin(PluginFactory factory) {
  std::lock_guard lock(registry_mu);
  registered().push_back(std::move(factory));
}

std::vector<std::unique_ptr<Plugin>> make_plugins(PluginContext& ctx) {
  std::vector<PluginFactory> factories;
  {
    std::lock_guard lock(registry_mu);
    factories = registered();
  }
  std::vector<std::unique_ptr<Plugin>> plugins;
  for (const auto& make : factories) plugins.push_back(make(ctx));
  return plugins;
}

}  // namespace adam
