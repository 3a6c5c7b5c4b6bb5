// adamctl without a daemon: the command table dispatches to the group whose
// subcommand was given, and `plugin start` builds its config from --config
// and --set as the plugin's schema types them.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "adamctl/command_table.h"
#include "adamctl/core_commands.h"
#include "adamctl/plugin_config.h"
#include "core/config_schema.h"
#include "core/errors.h"
#include "plugins/firewall/cli.h"
#include "plugins/monitor/cli.h"

namespace adamctl {
namespace {

using nlohmann::json;

// A group with one subcommand that records that it ran.
class Recorder : public CommandGroup {
 public:
  Recorder(CLI::App& app, const std::string& name, std::vector<std::string>& ran)
      : name_(name), command_(app.add_subcommand(name, name)), ran_(ran) {}
  bool selected() const override { return command_->parsed(); }
  void run(Api&, const Options&) override { ran_.push_back(name_); }

 private:
  std::string name_;
  CLI::App* command_;
  std::vector<std::string>& ran_;
};

// Parses `args` (after the program name) into app; CLI11 takes them last first.
void parse(CLI::App& app, std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());
  app.parse(args);
}

TEST(AdamctlCommandTable, RunsTheGroupWhoseSubcommandWasGiven) {
  std::vector<std::string> ran;
  const std::vector<CommandEntry> table = {
      {"alpha", [&](CLI::App& app) { return std::make_unique<Recorder>(app, "alpha", ran); }},
      {"beta", [&](CLI::App& app) { return std::make_unique<Recorder>(app, "beta", ran); }}};
  CLI::App app;
  const Commands commands(app, table);
  parse(app, {"beta"});
  Options options{.url = "http://127.0.0.1:9"};
  Api api(options);
  commands.chosen().run(api, options);
  EXPECT_EQ(ran, std::vector<std::string>{"beta"});
}

TEST(AdamctlCommandTable, NoSubcommandGivenIsAnError) {
  std::vector<std::string> ran;
  CLI::App app;
  const Commands commands(
      app, {{"alpha", [&](CLI::App& app) { return std::make_unique<Recorder>(app, "alpha", ran); }}});
  parse(app, {});
  EXPECT_THROW(commands.chosen(), std::runtime_error);
}

TEST(AdamctlCommandTable, TheTableHasTheCoreGroupsAndTheFirewalls) {
  CLI::App app;
  const Commands commands(app, command_table());
  const std::string help = app.help();
  for (const char* command : {"node", "plugins", "plugin", "events", "tokens", "token", "fw", "ps", "proc"})
    EXPECT_NE(help.find(std::string("\n  ") + command + " "), std::string::npos) << command << "\n" << help;

  parse(app, {"fw", "rules"});
  EXPECT_NE(dynamic_cast<adam::fw::FirewallCommands*>(&commands.chosen()), nullptr);
}

TEST(AdamctlCommandTable, PluginStartTakesRepeatedSetsAndTheNameAfterThem) {
  CLI::App app;
  const Commands commands(app, command_table());
  parse(app, {"plugin", "start", "--set", "a=1", "--set", "b=2", "firewall", "--config", "{}"});
  EXPECT_NE(dynamic_cast<PluginCommands*>(&commands.chosen()), nullptr);
  EXPECT_EQ(app.get_subcommand("plugin")
                ->get_subcommand("start")
                ->get_option("--set")
                ->as<std::vector<std::string>>(),
            (std::vector<std::string>{"a=1", "b=2"}));
}

TEST(AdamctlMonitor, PsAndProcAreTheMonitorsAndAtExcludesExited) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"ps", "--tree", "--at", "2026-05-31T12:00:00+02:00"},
        {"ps", "--exited"},
        {"proc", "0badcafe-1-2-3"}}) {
    CLI::App app;
    const Commands commands(app, command_table());
    parse(app, args);
    EXPECT_NE(dynamic_cast<adam::mon::MonitorCommands*>(&commands.chosen()), nullptr) << args[0];
  }
  CLI::App app;
  const Commands commands(app, command_table());
  EXPECT_THROW(parse(app, {"ps", "--at", "1780000000", "--exited"}), CLI::ParseError);
  CLI::App again;
  const Commands proc(again, command_table());
  EXPECT_THROW(parse(again, {"proc"}), CLI::ParseError) << "proc needs an exec id";
}

json process(int pid, const std::string& exec_id, const std::string& parent, const std::string& comm) {
  return {{"pid", pid},
          {"ppid", 1},
          {"uid", 0},
          {"comm", comm},
          {"exec_id", exec_id},
          {"parent_exec_id", parent},
          {"started", 1'780'000'000'000'000'000 + pid},
          {"args", {comm, "-c", "x y"}},
          {"args_truncated", pid == 30},
          {"exited", nullptr}};
}

// The lines of `text` whose first column is a pid, as "PID COMM".
std::vector<std::string> pid_comm_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) continue;
    const std::string pid = line.substr(0, line.find(' '));
    // COMM is the fourth column and may be indented: from column 23 to the exec id.
    std::string comm = line.substr(23, 20);
    comm.erase(comm.find_last_not_of(' ') + 1);
    out.push_back(pid + " " + comm);
  }
  return out;
}

TEST(AdamctlMonitor, PsListsByPidOrAsATreeUnderEachParent) {
  const json processes = {process(1, "b-1-1-1", "", "init"),
                          process(40, "b-40-1-1", "b-1-1-1", "cron"),
                          process(20, "b-20-1-1", "b-10-1-1", "sh"),
                          process(10, "b-10-1-1", "b-1-1-1", "sshd"),
                          process(30, "b-30-1-1", "b-20-1-1", "sleep"),
                          process(50, "b-50-1-1", "gone-1-1-1", "orphan")};
  const std::string flat = adam::mon::process_listing(processes, false);
  EXPECT_EQ(flat.substr(0, flat.find('\n')).find("PID     PPID    UID    COMM"), 0u) << flat;
  EXPECT_NE(flat.find("EXEC_ID"), std::string::npos);
  EXPECT_EQ(pid_comm_lines(flat),
            (std::vector<std::string>{"1 init", "10 sshd", "20 sh", "30 sleep", "40 cron", "50 orphan"}));
  EXPECT_NE(flat.find("2026-05-28T20:26:40Z"), std::string::npos) << "STARTED in UTC:\n" << flat;
  EXPECT_NE(flat.find("sleep -c x y …"), std::string::npos) << "ARGS, truncation marked:\n" << flat;

  EXPECT_EQ(pid_comm_lines(adam::mon::process_listing(processes, true)),
            (std::vector<std::string>{"1 init", "10   \\_ sshd", "20     \\_ sh", "30       \\_ sleep",
                                      "40   \\_ cron", "50 orphan"}));
}

TEST(AdamctlMonitor, ProcShowsTheProcessItsAncestorsAndChildren) {
  json done = process(60, "b-60-1-1", "b-30-1-1", "true");
  done["exited"] = 1'780'000'001'000'000'000;
  done["exit_code"] = 7;
  const json detail = {
      {"process", process(30, "b-30-1-1", "b-20-1-1", "sleep")},
      {"ancestors", {process(20, "b-20-1-1", "b-10-1-1", "sh"), process(1, "b-1-1-1", "", "init")}},
      {"children", {done}},
      {"events", json::array()}};
  const std::string text = adam::mon::process_report(detail);
  const size_t ancestors = text.find("ancestors"), children = text.find("children");
  ASSERT_NE(ancestors, std::string::npos) << text;
  ASSERT_NE(children, std::string::npos) << text;
  EXPECT_LT(text.find("b-30-1-1"), ancestors);
  EXPECT_LT(text.find("b-20-1-1"), text.find("b-1-1-1 "));
  EXPECT_GT(text.find("b-60-1-1"), children);
  EXPECT_NE(text.find("(exited 7)"), std::string::npos) << text;
}

json schema() {
  adam::ConfigSchema s;
  s.field({.name = "interfaces",
           .type = "array",
           .items = "string",
           .help = "where",
           .required = true,
           .min_items = 1,
           .max_items = 4});
  s.field(
      {.name = "hook", .type = "string", .help = "how", .default_value = "auto", .choices = {"auto", "tc"}});
  s.field({.name = "rate",
           .type = "integer",
           .help = "how often",
           .default_value = 10,
           .minimum = 0,
           .maximum = 100});
  return s.to_json();
}

TEST(AdamctlStartConfig, SetPairsAreTypedByTheSchema) {
  EXPECT_EQ(start_config(schema(), "", {"interfaces=veth0,veth1", "interfaces=eth0", "hook=tc", "rate=5"}),
            json({{"interfaces", {"veth0", "veth1", "eth0"}}, {"hook", "tc"}, {"rate", 5}}));
}

// The field adamd's check names for `config`, "" when it passes.
std::string refused_field(const json& config) {
  try {
    adam::check_config(schema(), config);
  } catch (const adam::ApiError& e) {
    return e.field();
  }
  return "";
}

TEST(AdamctlStartConfig, WhatDoesNotFitTheSchemaIsSentAsTextForAdamdToRefuse) {
  const json wrong_type = start_config(schema(), "", {"interfaces=veth0", "rate=abc"});
  EXPECT_EQ(wrong_type, json({{"interfaces", {"veth0"}}, {"rate", "abc"}}));
  EXPECT_EQ(refused_field(wrong_type), "rate");
  const json unknown = start_config(schema(), "", {"interfaces=veth0", "nosuch=1"});
  EXPECT_EQ(unknown, json({{"interfaces", {"veth0"}}, {"nosuch", "1"}}));
  EXPECT_EQ(refused_field(unknown), "nosuch");
  EXPECT_EQ(refused_field(start_config(schema(), "", {"interfaces=veth0", "rate=100"})), "");
}

TEST(AdamctlStartConfig, SetWinsOverConfigAndAnEmptySetDropsTheField) {
  const json config = start_config(schema(), R"({"rate": 50, "hook": "tc", "interfaces": ["a"]})",
                                   {"rate=7", "hook=", "interfaces=b"});
  EXPECT_EQ(config, json({{"rate", 7}, {"interfaces", {"b"}}}));
}

TEST(AdamctlStartConfig, ConfigFromAFile) {
  const std::string path = testing::TempDir() + "adamctl_start_config.json";
  std::ofstream(path) << R"({"interfaces": ["veth0"], "rate": 3})";
  EXPECT_EQ(start_config(schema(), "@" + path, {"hook=tc"}),
            json({{"interfaces", {"veth0"}}, {"rate", 3}, {"hook", "tc"}}));
  std::remove(path.c_str());
  EXPECT_THROW(start_config(schema(), "@" + path, {}), std::runtime_error) << "the file is gone";
}

TEST(AdamctlStartConfig, BadArgumentsAreRefusedBeforeSending) {
  for (const char* config : {"[1]", "{", "\"text\""})
    EXPECT_THROW(start_config(schema(), config, {}), std::runtime_error) << config;
  for (const char* set : {"rate", "=5"})
    EXPECT_THROW(start_config(schema(), "", {set}), std::runtime_error) << set;
}

TEST(AdamctlStartConfig, HelpConfigListsEachFieldWithTypeDefaultAndHelp) {
  const std::string text = describe_schema("demo", schema());
  EXPECT_NE(text.find("adamctl plugin start demo"), std::string::npos) << text;
  EXPECT_NE(text.find("interfaces  list of string, 1 to 4 items, required\n              where"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("hook        string: auto|tc, default auto\n              how"), std::string::npos)
      << text;
  EXPECT_NE(text.find("rate        integer, 0 to 100, default 10\n              how often"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace adamctl
