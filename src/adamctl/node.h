#pragma once
// adamctl node: the machine adamd runs on (kernel, features, version).
#include "adamctl/command_table.h"

namespace adamctl {

class NodeCommand : public CommandGroup {
 public:
  explicit NodeCommand(CLI::App& app);  // adds `node` to app
  bool selected() const override { return node_->parsed(); }
  void run(Api& api, const Options& options) override;

 private:
  CLI::App* node_;
};

}  // namespace adamctl
