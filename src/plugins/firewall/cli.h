#pragma once
// adamctl fw ...: the firewall's rules, ruleset import/export and explain.
// The firewall's client code, built into adamctl only (one line of
// adamctl/command_table.cpp), never into adamd.
#include <cstdint>
#include <string>
#include <vector>

#include "adamctl/command_table.h"

namespace adam::fw {

class FirewallCommands : public adamctl::CommandGroup {
 public:
  explicit FirewallCommands(CLI::App& app);  // adds `fw` and its subcommands to app
  bool selected() const override;
  void run(adamctl::Api& api, const adamctl::Options& options) override;

 private:
  nlohmann::json rule_from_flags() const;
  nlohmann::json ruleset_to_import(adamctl::Api& api) const;
  nlohmann::json packet_from_flags() const;

  CLI::App* fw_;
  CLI::App *rules_, *add_, *rm_, *enable_, *disable_, *import_, *export_, *explain_;

  uint32_t id_ = 0;  // rm, enable, disable
  // add
  std::string name_, description_, action_, rule_json_;
  int32_t priority_ = 0;
  CLI::Option* priority_option_;
  std::vector<std::string> src_, dst_, proto_, sport_, dport_, iface_;
  bool disabled_ = false, log_ = false;
  // import, export
  std::string file_, format_ = "json", default_;
  // explain
  std::string packet_src_, packet_dst_, packet_proto_, packet_iface_;
  uint16_t packet_sport_ = 0, packet_dport_ = 0;
  CLI::Option *packet_sport_option_, *packet_dport_option_;
};

}  // namespace adam::fw
