#pragma once
// adamctl lb services|add|rm|backend add|backend rm|weight|drain|explain:
// the load balancer's services (docs/lb.md "adamctl"). Built into adamctl
// only (one line of adamctl/command_table.cpp), never adamd; adamd validates
// what it sends.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adamctl/command_table.h"

namespace adam::lb {

// `adamctl lb services`'s table of GET /api/v1/lb/services: a line per
// service (ID NAME VIP:PORT/PROTO MODE PACKETS), then a line per backend
// (address, state, weight, table share, packets) and the warnings.
std::string service_listing(const nlohmann::json& list);

// The options of `adamctl lb add` as the service JSON POST takes.
struct AddOptions {
  std::string name, vip, port, proto, mode, health, health_path;
  std::vector<std::string> backends;  // ADDR or ADDR=WEIGHT
};
nlohmann::json service_body(const AddOptions& add);

class LbCommands : public adamctl::CommandGroup {
 public:
  explicit LbCommands(CLI::App& app);  // adds `lb` and its subcommands to app
  bool selected() const override;
  void run(adamctl::Api& api, const adamctl::Options& options) override;

 private:
  CLI::App *lb_, *services_, *add_, *rm_, *backend_, *backend_add_, *backend_rm_, *weight_, *drain_,
      *explain_;
  AddOptions add_options_;
  std::string json_file_, id_, address_, weight_value_;
  std::string src_, dst_, proto_ = "tcp", src_port_, dst_port_, interface_;
  bool syn_ = false;
};

}  // namespace adam::lb
