#include "adamctl/command_table.h"

#include <stdexcept>

#include "adamctl/core_commands.h"
#include "adamctl/events.h"
#include "plugins/firewall/cli.h"
#include "plugins/lb/cli.h"
#include "plugins/lsm/cli.h"
#include "plugins/monitor/cli.h"

namespace adamctl {

// A plugin with commands of its own adds its line here (docs/plugins.md, "its adamctl commands").
const std::vector<CommandEntry>& command_table() {
  static const std::vector<CommandEntry> table = {
      {"node", make_group<NodeCommand>},
      {"plugins", make_group<PluginCommands>},
      {"events", make_group<EventsCommand>},
      {"tokens", make_group<TokenCommands>},
      {"firewall", make_group<adam::fw::FirewallCommands>},
      {"monitor", make_group<adam::mon::MonitorCommands>},
      {"lsm", make_group<adam::lsm::LsmCommands>},
      {"lb", make_group<adam::lb::LbCommands>},
  };
  return table;
}

Commands::Commands(CLI::App& app, const std::vector<CommandEntry>& table) {
  for (const CommandEntry& entry : table) groups_.push_back(entry.add(app));
}

CommandGroup& Commands::chosen() const {
  for (const auto& group : groups_)
    if (group->selected()) return *group;
  throw std::runtime_error("no command given: see --help");
}

}  // namespace adamctl
