#include "adamctl/node.h"

#include <cstdio>
#include <iostream>

using nlohmann::json;

namespace adamctl {

NodeCommand::NodeCommand(CLI::App& app)
    : node_(app.add_subcommand("node", "show the machine: kernel, features, adamd version")) {}

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

}  // namespace adamctl
