#pragma once
// adamctl's commands as one table, as plugins/registry.cpp lists plugins: each
// group (node, plugin, events, a plugin's own such as the firewall's fw) is
// one entry whose factory adds the group's CLI11 subcommands to the app and
// runs them when the command line chose one. main() parses the global
// options, builds the Api client and dispatches through the table.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adamctl/client.h"

// CLI11 costs seconds of compiling in each file that includes it: only the
// files that add options do (main.cpp and each group's .cpp).
namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace adamctl {

class CommandGroup {
 public:
  virtual ~CommandGroup() = default;
  // Whether the command line chose one of this group's subcommands.
  virtual bool selected() const = 0;
  virtual void run(Api& api, const Options& options) = 0;
};

struct CommandEntry {
  std::string name;  // what the group is, as docs/plugins.md names it
  std::function<std::unique_ptr<CommandGroup>(CLI::App&)> add;  // adds the group's subcommands to app
};

// The factory of a group whose constructor adds its subcommands to the app.
template <class Group>
std::unique_ptr<CommandGroup> make_group(CLI::App& app) {
  return std::make_unique<Group>(app);
}

// Every command group of adamctl, in the order `adamctl --help` lists them.
const std::vector<CommandEntry>& command_table();

// The groups of a table, added to one app.
class Commands {
 public:
  Commands(CLI::App& app, const std::vector<CommandEntry>& table);
  // After parsing: the group the command line chose. Throws when none did.
  CommandGroup& chosen() const;

 private:
  std::vector<std::unique_ptr<CommandGroup>> groups_;
};

}  // namespace adamctl
