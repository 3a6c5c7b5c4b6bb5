#pragma once
// The core's command groups: node, plugins and plugin start|stop, tokens and
// token create|rm. They name no plugin's field: a start's config comes from
// --set/--config typed by the plugin's own config_schema.
#include <cstdint>
#include <string>
#include <vector>

#include "adamctl/command_table.h"

namespace adamctl {

// adamctl node: the machine adamd runs on (kernel, features, version).
class NodeCommand : public CommandGroup {
 public:
  explicit NodeCommand(CLI::App& app);  // adds `node` to app
  bool selected() const override;
  void run(Api& api, const Options& options) override;

 private:
  CLI::App* node_;
};

// adamctl plugins, plugin start|stop: the plugins and their state.
class PluginCommands : public CommandGroup {
 public:
  explicit PluginCommands(CLI::App& app);  // adds `plugins` and `plugin start|stop` to app
  bool selected() const override;
  void run(Api& api, const Options& options) override;

 private:
  void start(Api& api, const Options& options);

  CLI::App *plugins_, *plugin_, *start_, *stop_;
  std::string name_, config_;
  std::vector<std::string> sets_;
  bool help_config_ = false;
};

// adamctl tokens, token create|rm: the API tokens (admin only).
class TokenCommands : public CommandGroup {
 public:
  explicit TokenCommands(CLI::App& app);  // adds `tokens` and `token create|rm` to app
  bool selected() const override;
  void run(Api& api, const Options& options) override;

 private:
  CLI::App *tokens_, *token_, *create_, *remove_;
  std::string name_, role_ = "viewer";
  int64_t id_ = 0;
};

}  // namespace adamctl
