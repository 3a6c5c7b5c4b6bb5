// adamctl: the command-line client of adamd's REST API. Its commands come
// from one table (adamctl/command_table.cpp); this parses the global options,
// builds the client and runs the command chosen.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "adamctl/client.h"
#include "adamctl/command_table.h"

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
  app.add_option("--machine", opts.machine, "act on this registered machine (by name) through adamd's proxy");
  app.add_option("-o,--output", opts.output, "human or json")->check(CLI::IsMember({"human", "json"}));
  const adamctl::Commands commands(app, adamctl::command_table());

  CLI11_PARSE(app, argc, argv);
  if (opts.token.empty()) opts.token = adamctl::local_admin_token();

  try {
    adamctl::Api api(opts);
    commands.chosen().run(api, opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "adamctl: %s\n", e.what());
    return 1;
  }
  return 0;
}
