#pragma once
// adamctl lsm policies|add|rm|enable|disable|promote: the enforcement
// plugin's policies (docs/lsm.md). Built into adamctl only (one line of
// adamctl/command_table.cpp), never adamd; adamd validates what it sends.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adamctl/command_table.h"

namespace adam::lsm {

// `adamctl lsm policies`'s table of GET /api/v1/lsm/policies: the mechanism
// of each kind, then ID PRIO KIND ACTION MECHANISM ON HITS NAME MATCH per
// policy, as listed (priority, id).
std::string policy_listing(const nlohmann::json& list);

// The options of `adamctl lsm add` as the policy JSON POST takes.
struct AddOptions {
  std::string name, kind, action;
  std::vector<std::string> path, dst, port, uid, comm, parent, cgroup;
  std::string priority;
  bool force = false;
};
nlohmann::json policy_body(const AddOptions& add);

class LsmCommands : public adamctl::CommandGroup {
 public:
  explicit LsmCommands(CLI::App& app);  // adds `lsm` and its subcommands to app
  bool selected() const override;
  void run(adamctl::Api& api, const adamctl::Options& options) override;

 private:
  CLI::App *lsm_, *policies_, *add_, *rm_, *enable_, *disable_, *promote_;
  AddOptions add_options_;
  std::string json_file_, id_, window_ = "24h";
};

}  // namespace adam::lsm
