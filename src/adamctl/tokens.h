#pragma once
// adamctl tokens, token create|rm: the API tokens (admin only).
#include <cstdint>
#include <string>

#include "adamctl/command_table.h"

namespace adamctl {

class TokenCommands : public CommandGroup {
 public:
  explicit TokenCommands(CLI::App& app);  // adds `tokens` and `token create|rm` to app
  bool selected() const override { return tokens_->parsed() || token_->parsed(); }
  void run(Api& api, const Options& options) override;

 private:
  CLI::App *tokens_, *token_, *create_, *remove_;
  std::string name_, role_ = "viewer";
  int64_t id_ = 0;
};

}  // namespace adamctl
