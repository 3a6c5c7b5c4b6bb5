// adamctl: the command-line client of adamd's REST API.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adamctl/client.h"
#include "adamctl/events.h"
#include "adamctl/firewall.h"

using adamctl::text;
using nlohmann::json;

namespace {

void print_node(const json& n) {
  std::printf("hostname  %s\nkernel    %s\nadamd     %s\nuptime    %ss\nfeatures\n",
              text(n["hostname"]).c_str(), text(n["kernel"]["release"]).c_str(), text(n["version"]).c_str(),
              text(n["uptime_s"]).c_str());
  for (const auto& [name, f] : n["features"].items())
    std::printf("  %-11s %-3s %s\n", name.c_str(), f["available"].get<bool>() ? "yes" : "no",
                text(f["detail"]).c_str());
}

void print_plugin(const json& p) {
  // Where each interface is hooked, when the plugin says (the firewall's
  // stats.hooks): "veth0@tc", "eth0@xdp/native".
  std::map<std::string, std::string> hooks;
  if (p.contains("stats") && p["stats"].is_object() && p["stats"].contains("hooks"))
    for (const auto& h : p["stats"]["hooks"])
      hooks[text(h["interface"])] =
          text(h["hook"]) + (h.contains("xdp_mode") ? "/" + text(h["xdp_mode"]) : "");
  std::string ifaces;
  if (p["config"].contains("interfaces"))
    for (const auto& i : p["config"]["interfaces"]) {
      ifaces += (ifaces.empty() ? "" : ",") + text(i);
      if (auto it = hooks.find(text(i)); it != hooks.end()) ifaces += "@" + it->second;
    }
  std::printf("%-10s %-12s %-10s %s\n", text(p["name"]).c_str(), text(p["state"]).c_str(),
              ifaces.empty() ? "-" : ifaces.c_str(), text(p["reason"]).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  adamctl::Options opts;
  CLI::App app{"adamctl: command-line client of adamd's API"};
  app.require_subcommand(1);
  const char* env_url = std::getenv("ADAM_URL");
  const char* env_token = std::getenv("ADAM_TOKEN");
  opts.url = env_url ? env_url : "http://127.0.0.1:9988";
  if (env_token) opts.token = env_token;
  app.add_option("--url", opts.url, "adamd's URL (env ADAM_URL)")->capture_default_str();
  app.add_option("--token", opts.token, "API token (env ADAM_TOKEN; default: the local admin token)");
  app.add_option("-o,--output", opts.output, "human or json")->check(CLI::IsMember({"human", "json"}));

  auto* node = app.add_subcommand("node", "show the machine: kernel, features, adamd version");
  auto* plugins = app.add_subcommand("plugins", "list plugins and their state");
  auto* plugin = app.add_subcommand("plugin", "start or stop one plugin");
  plugin->require_subcommand(1);
  std::string name;
  std::vector<std::string> ifaces;
  auto* start = plugin->add_subcommand("start", "start a plugin (idempotent)");
  start->add_option("name", name, "plugin name")->required();
  start->add_option("--iface,-i", ifaces, "interface to attach to (repeatable)");
  std::string config_text;
  start->add_option("--config", config_text,
                    "more of the plugin's config as a JSON object, e.g. '{\"log_rate\":100}' (docs/api.md)");
  std::string xdp_mode;
  start->add_option("--xdp-mode", xdp_mode, "XDP attach mode: native, generic or auto (firewall)")
      ->check(CLI::IsMember({"native", "generic", "auto"}));
  std::string hook;
  start->add_option("--hook", hook, "where the firewall hooks in: xdp, tc or auto (tc on veth)")
      ->check(CLI::IsMember({"xdp", "tc", "auto"}));
  auto* stop = plugin->add_subcommand("stop", "stop a plugin");
  stop->add_option("name", name, "plugin name")->required();
  adamctl::FirewallCommands firewall(app);
  adamctl::EventsCommand events(app);

  CLI11_PARSE(app, argc, argv);
  if (opts.token.empty()) opts.token = adamctl::local_admin_token();

  try {
    adamctl::Api api(opts);
    const bool as_json = opts.json_output();
    if (*node) {
      json n = api.call("GET", "/api/v1/node");
      as_json ? void(std::cout << n.dump(2) << "\n") : print_node(n);
    } else if (*plugins) {
      json list = api.call("GET", "/api/v1/plugins");
      if (as_json) {
        std::cout << list.dump(2) << "\n";
      } else {
        std::printf("%-10s %-12s %-10s %s\n", "NAME", "STATE", "IFACES", "REASON");
        for (const auto& p : list["plugins"]) print_plugin(p);
      }
    } else if (*start || *stop) {
      json config = json::object();
      if (!config_text.empty()) {
        config = json::parse(config_text, nullptr, false);
        if (!config.is_object()) throw std::runtime_error("--config: not a JSON object: " + config_text);
      }
      if (!ifaces.empty()) config["interfaces"] = ifaces;
      if (!xdp_mode.empty()) config["xdp_mode"] = xdp_mode;
      if (!hook.empty()) config["hook"] = hook;
      json p = *start ? api.call("POST", "/api/v1/plugins/" + name + "/start", config)
                      : api.call("POST", "/api/v1/plugins/" + name + "/stop", json::object());
      as_json ? void(std::cout << p.dump(2) << "\n") : print_plugin(p);
    } else if (firewall.selected()) {
      firewall.run(api, opts);
    } else if (events.selected()) {
      events.run(api, opts);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "adamctl: %s\n", e.what());
    return 1;
  }
  return 0;
}
