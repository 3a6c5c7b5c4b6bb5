#include "adamctl/tokens.h"

#include <cstdio>
#include <iostream>

using nlohmann::json;

namespace adamctl {

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
