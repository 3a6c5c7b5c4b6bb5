#include "adamctl/plugins.h"

#include <cstdio>
#include <iostream>

#include "adamctl/plugin_config.h"

using nlohmann::json;

namespace adamctl {

namespace {

// One line: name, state, where it works (the plugin's own summary, e.g.
// "veth0@tc eth0@xdp/native"), and why it is not running.
void print_plugin(const json& p) {
  const std::string summary = text(p.value("summary", json("")));
  std::printf("%-10s %-12s %-10s %s\n", text(p["name"]).c_str(), text(p["state"]).c_str(),
              summary.empty() ? "-" : summary.c_str(), text(p["reason"]).c_str());
}

void print(const json& reply, const Options& options) {
  options.json_output() ? void(std::cout << reply.dump(2) << "\n") : print_plugin(reply);
}

}  // namespace

PluginCommands::PluginCommands(CLI::App& app) {
  plugins_ = app.add_subcommand("plugins", "list plugins and their state");
  plugin_ = app.add_subcommand("plugin", "start or stop one plugin");
  plugin_->require_subcommand(1);
  start_ = plugin_->add_subcommand("start", "start a plugin with a config (idempotent)");
  start_->add_option("name", name_, "plugin name")->required();
  start_->add_option("--set", sets_, "FIELD=VALUE of the plugin's config (repeatable; see --help-config)")
      ->allow_extra_args(false);
  start_->add_option("--config", config_, "the config as a JSON object, or @FILE holding one");
  start_->add_flag("--help-config", help_config_,
                   "print the plugin's config fields (types, defaults, help) and start nothing");
  stop_ = plugin_->add_subcommand("stop", "stop a plugin");
  stop_->add_option("name", name_, "plugin name")->required();
}

void PluginCommands::run(Api& api, const Options& options) {
  if (plugins_->parsed()) {
    const json list = api.call("GET", "/api/v1/plugins");
    if (options.json_output()) {
      std::cout << list.dump(2) << "\n";
      return;
    }
    std::printf("%-10s %-12s %-10s %s\n", "NAME", "STATE", "SUMMARY", "REASON");
    for (const auto& p : list["plugins"]) print_plugin(p);
  } else if (start_->parsed()) {
    start(api, options);
  } else {
    print(api.call("POST", "/api/v1/plugins/" + name_ + "/stop", json::object()), options);
  }
}

void PluginCommands::start(Api& api, const Options& options) {
  const std::string self = "/api/v1/plugins/" + name_;
  const json schema = api.call("GET", self).at("config_schema");
  if (help_config_) {
    options.json_output() ? void(std::cout << schema.dump(2) << "\n")
                          : void(std::cout << describe_schema(name_, schema));
    return;
  }
  print(api.call("POST", self + "/start", start_config(schema, config_, sets_)), options);
}

}  // namespace adamctl
