#pragma once
// adamctl plugins, plugin start|stop: the plugins and their state; a start's
// config comes from --set/--config typed by the plugin's own config_schema,
// so no plugin's field is named here.
#include <string>
#include <vector>

#include "adamctl/command_table.h"

namespace adamctl {

class PluginCommands : public CommandGroup {
 public:
  explicit PluginCommands(CLI::App& app);  // adds `plugins` and `plugin start|stop` to app
  bool selected() const override { return plugins_->parsed() || plugin_->parsed(); }
  void run(Api& api, const Options& options) override;

 private:
  void start(Api& api, const Options& options);

  CLI::App *plugins_, *plugin_, *start_, *stop_;
  std::string name_, config_;
  std::vector<std::string> sets_;
  bool help_config_ = false;
};

}  // namespace adamctl
