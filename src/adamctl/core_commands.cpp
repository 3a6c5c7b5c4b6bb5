#include "adamctl/core_commands.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "adamctl/plugin_config.h"

using nlohmann::json;

namespace adamctl {

NodeCommand::NodeCommand(CLI::App& app)
    : node_(app.add_subcommand("node", "show the machine: kernel, features, adamd version")) {}

bool NodeCommand::selected() const { return node_->parsed(); }

void NodeCommand::run(Api& api, const Options& options) {
  const json n = api.call("GET", "/api/v1/node");
  if (options.json_output()) {
    std::cout << n.dump(2) << "\n";
    return;
  }
  std::printf("hostname  %s\nkernel    %s\nadamd     %s\nuptime    %ss\nfeatures\n",
              text(n["hostname"]).c_str(), text(n["kernel"]["release"]).c_str(), text(n["version"]).c_str(),
              text(n["uptime_s"]).c_str());
  for (const auto& [name, f] : n["features"].items())
    std::printf("  %-11s %-3s %s\n", name.c_str(), f["available"].get<bool>() ? "yes" : "no",
                text(f["detail"]).c_str());
}

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

bool PluginCommands::selected() const { return plugins_->parsed() || plugin_->parsed(); }

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

TokenCommands::TokenCommands(CLI::App& app) {
  tokens_ = app.add_subcommand("tokens", "list the API tokens (admin)");
  token_ = app.add_subcommand("token", "create or remove an API token (admin)");
  token_->require_subcommand(1);
  create_ = token_->add_subcommand("create", "create a token and print its secret, shown this once");
  create_->add_option("name", name_, "what the token is for, e.g. prometheus")->required();
  create_->add_option("--role", role_, "admin or viewer (read only)")
      ->check(CLI::IsMember({"admin", "viewer"}))
      ->capture_default_str();
  remove_ = token_->add_subcommand("rm", "remove a token: its sessions end (not the last admin token)");
  remove_->add_option("id", id_, "token id (adamctl tokens)")->required();
}

bool TokenCommands::selected() const { return tokens_->parsed() || token_->parsed(); }

void TokenCommands::run(Api& api, const Options& options) {
  const bool as_json = options.json_output();
  if (tokens_->parsed()) {
    const json list = api.call("GET", "/api/v1/tokens");
    if (as_json) {
      std::cout << list.dump(2) << "\n";
      return;
    }
    std::printf("%-6s %-24s %-7s %-26s %s\n", "ID", "NAME", "ROLE", "CREATED", "LAST USED");
    for (const auto& t : list["tokens"])
      std::printf("%-6s %-24s %-7s %-26s %s\n", text(t["id"]).c_str(), text(t["name"]).c_str(),
                  text(t["role"]).c_str(), text(t["created_at"]).c_str(),
                  t["last_used_at"].is_null() ? "-" : text(t["last_used_at"]).c_str());
  } else if (create_->parsed()) {
    const json created = api.call("POST", "/api/v1/tokens", {{"name", name_}, {"role", role_}});
    if (as_json) {
      std::cout << created.dump(2) << "\n";
      return;
    }
    std::fprintf(stderr, "token %s '%s' (%s); the secret is shown this once:\n", text(created["id"]).c_str(),
                 text(created["name"]).c_str(), text(created["role"]).c_str());
    std::printf("%s\n", text(created["token"]).c_str());
  } else {
    api.call("DELETE", "/api/v1/tokens/" + std::to_string(id_));
    if (!as_json) std::printf("removed token %lld\n", static_cast<long long>(id_));
  }
}

}  // namespace adamctl
