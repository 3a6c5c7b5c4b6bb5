#include "plugins/firewall/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <stdexcept>

#include "core/errors.h"
#include "plugins/firewall/rule_json.h"

using adamctl::read_file;
using adamctl::text;
using nlohmann::json;

namespace adam::fw {
namespace {

const std::string kFirewall = "/api/v1/firewall";

void print_rule_header() {
  std::printf("%-6s %-6s %-6s %-7s %-24s %-44s %s\n", "ID", "PRIO", "ACTION", "ENABLED", "NAME", "MATCH",
              "PACKETS");
}

void print_rule(const json& rule) {
  const std::string packets = rule.contains("counters") ? text(rule["counters"]["packets"]) : "-";
  std::printf("%-6s %-6s %-6s %-7s %-24s %-44s %s\n", text(rule["id"]).c_str(),
              text(rule["priority"]).c_str(), text(rule["action"]).c_str(),
              rule["enabled"].get<bool>() ? "yes" : "no", text(rule["name"]).c_str(),
              match_summary(rule["match"]).c_str(), packets.c_str());
}

void print_one_rule(const json& rule) {
  print_rule_header();
  print_rule(rule);
}

}  // namespace

FirewallCommands::FirewallCommands(CLI::App& app) {
  fw_ = app.add_subcommand("fw", "the firewall's rules (list, add, remove, toggle, import, export, explain)");
  fw_->require_subcommand(1);

  rules_ = fw_->add_subcommand("rules", "list the rules in evaluation order, with their packet counters");

  add_ =
      fw_->add_subcommand("add", "add a rule (the conditions are ANDed; a repeated flag matches any value)");
  CLI::Option* json_option =
      add_->add_option("--json", rule_json_, "the whole rule as JSON (see docs/api.md)");
  std::vector<CLI::Option*> field_options = {
      add_->add_option("--name", name_, "name (required)"),
      add_->add_option("--description", description_, "description"),
      priority_option_ = add_->add_option("--priority", priority_, "lower is evaluated first (default 0)"),
      add_->add_option("--action", action_, "pass or drop")->check(CLI::IsMember({"pass", "drop"})),
      add_->add_option("--src", src_, "source prefix, e.g. 203.0.113.0/24 (repeatable)"),
      add_->add_option("--dst", dst_, "destination prefix (repeatable)"),
      add_->add_option("--proto", proto_, "tcp, udp, icmp, icmpv6 or a number (repeatable)"),
      add_->add_option("--sport", sport_, "source port or range, e.g. 1024-65535 (repeatable)"),
      add_->add_option("--dport", dport_, "destination port or range (repeatable)"),
      add_->add_option("--iface", iface_, "arriving on this interface (repeatable)"),
      add_->add_flag("--disabled", disabled_, "add it disabled"),
      add_->add_flag("--log", log_, "emit an event for each match (rate-limited)")};
  for (CLI::Option* option : field_options) json_option->excludes(option);

  for (auto [command, what] : {std::pair{&rm_, "rm"}, {&enable_, "enable"}, {&disable_, "disable"}}) {
    *command = fw_->add_subcommand(what, std::string(what) + " a rule");
    (*command)->add_option("id", id_, "rule id")->required();
  }

  import_ = fw_->add_subcommand("import", "replace the whole ruleset with a file's");
  import_->add_option("file", file_, "the file")->required()->check(CLI::ExistingFile);
  import_->add_option("--format", format_, "json (an `fw export`) or classbench (a ClassBench filter file)")
      ->check(CLI::IsMember({"json", "classbench"}))
      ->capture_default_str();
  import_->add_option("--default", default_, "default policy (else the file's; pass for classbench)")
      ->check(CLI::IsMember({"pass", "drop"}));

  export_ = fw_->add_subcommand("export", "write the ruleset as JSON (what `fw import` takes)");
  export_->add_option("file", file_, "the file (default: standard output)");

  explain_ = fw_->add_subcommand("explain", "which rule decides a packet (asks the loaded kernel program)");
  explain_->add_option("--src", packet_src_, "source address")->required();
  explain_->add_option("--dst", packet_dst_, "destination address")->required();
  explain_->add_option("--proto", packet_proto_, "tcp, udp, icmp, icmpv6 or a number")->required();
  packet_sport_option_ = explain_->add_option("--sport", packet_sport_, "source port (tcp/udp)");
  packet_dport_option_ = explain_->add_option("--dport", packet_dport_, "destination port (tcp/udp)");
  explain_->add_option("--iface", packet_iface_, "arriving interface (default: the firewall's first)");
}

bool FirewallCommands::selected() const { return fw_->parsed(); }

json FirewallCommands::rule_from_flags() const {
  if (!rule_json_.empty()) {
    json rule = json::parse(rule_json_, nullptr, false);
    if (rule.is_discarded()) throw std::runtime_error("--json is not valid JSON");
    return rule;
  }
  // Only what was given: adamd's validation and defaults apply to the rest.
  json rule = json::object();
  if (!name_.empty()) rule["name"] = name_;
  if (!description_.empty()) rule["description"] = description_;
  if (priority_option_->count()) rule["priority"] = priority_;
  if (!action_.empty()) rule["action"] = action_;
  if (disabled_) rule["enabled"] = false;
  if (log_) rule["log"] = true;
  json match = json::object();
  for (auto [key, values] : {std::pair{"src", &src_},
                             {"dst", &dst_},
                             {"proto", &proto_},
                             {"src_port", &sport_},
                             {"dst_port", &dport_},
                             {"iface", &iface_}})
    if (!values->empty()) match[key] = *values;
  rule["match"] = match;
  return rule;
}

json FirewallCommands::ruleset_to_import(adamctl::Api& api) const {
  json ruleset;
  if (format_ == "classbench") {
    std::vector<Rule> rules;
    try {
      rules = parse_classbench(read_file(file_));
    } catch (const ApiError& e) {
      throw std::runtime_error(file_ + ": " + e.what());
    }
    ruleset = {{"default", "pass"}, {"rules", json::array()}};
    for (const auto& rule : rules) ruleset["rules"].push_back(rule_to_json(rule));
  } else {
    ruleset = json::parse(read_file(file_), nullptr, false);
    if (!ruleset.is_object())
      throw std::runtime_error(file_ + " is not a JSON ruleset {\"default\", \"rules\"}");
    ruleset.erase("links");
    // An export keeps the ids of rules that exist here (their counters go on);
    // ids from another machine or a removed rule would be refused: new ids.
    const json listed = api.call("GET", kFirewall + "/rules");
    std::set<int64_t> current;
    for (const auto& rule : listed["rules"]) current.insert(rule["id"].get<int64_t>());
    if (ruleset.contains("rules") && ruleset["rules"].is_array())
      for (auto& rule : ruleset["rules"])
        if (rule.is_object() && rule.contains("id") && rule["id"].is_number_integer() &&
            !current.count(rule["id"].get<int64_t>()))
          rule.erase("id");
  }
  if (!default_.empty()) ruleset["default"] = default_;
  return ruleset;
}

json FirewallCommands::packet_from_flags() const {
  json packet = {{"src", packet_src_}, {"dst", packet_dst_}, {"proto", packet_proto_}};
  if (packet_sport_option_->count()) packet["src_port"] = packet_sport_;
  if (packet_dport_option_->count()) packet["dst_port"] = packet_dport_;
  if (!packet_iface_.empty()) packet["iface"] = packet_iface_;
  return packet;
}

void FirewallCommands::run(adamctl::Api& api, const adamctl::Options& options) {
  const bool as_json = options.json_output();
  const std::string rule_path = kFirewall + "/rules/" + std::to_string(id_);
  if (rules_->parsed()) {
    json list = api.call("GET", kFirewall + "/rules");
    if (as_json) {
      std::cout << list.dump(2) << "\n";
      return;
    }
    print_rule_header();
    for (const auto& rule : list["rules"]) print_rule(rule);
    std::printf("default: %s\n", text(list["default"]).c_str());
  } else if (add_->parsed() || enable_->parsed() || disable_->parsed()) {
    json rule = add_->parsed()      ? api.call("POST", kFirewall + "/rules", rule_from_flags())
                : enable_->parsed() ? api.call("POST", rule_path + "/enable", json::object())
                                    : api.call("POST", rule_path + "/disable", json::object());
    as_json ? void(std::cout << rule.dump(2) << "\n") : print_one_rule(rule);
  } else if (rm_->parsed()) {
    api.call("DELETE", rule_path);
    if (!as_json) std::printf("removed rule %u\n", id_);
  } else if (import_->parsed()) {
    json stored = api.call("PUT", kFirewall + "/ruleset", ruleset_to_import(api));
    if (as_json)
      std::cout << stored.dump(2) << "\n";
    else
      std::printf("ruleset replaced: %zu rules, default %s\n", stored["rules"].size(),
                  text(stored["default"]).c_str());
  } else if (export_->parsed()) {
    json ruleset = api.call("GET", kFirewall + "/ruleset");
    ruleset.erase("links");
    const std::string out = ruleset.dump(2) + "\n";
    if (file_.empty()) {
      std::cout << out;
      return;
    }
    std::ofstream f(file_, std::ios::binary | std::ios::trunc);
    if (!(f << out)) throw std::runtime_error("cannot write " + file_);
    std::fprintf(stderr, "exported %zu rules to %s\n", ruleset["rules"].size(), file_.c_str());
  } else if (explain_->parsed()) {
    json decision = api.call("POST", kFirewall + "/explain", packet_from_flags());
    if (as_json)
      std::cout << decision.dump(2) << "\n";
    else if (decision["rule_id"].is_null())
      std::printf("%s by the default policy\n", text(decision["verdict"]).c_str());
    else
      std::printf("%s by rule %s\n", text(decision["verdict"]).c_str(), text(decision["rule_id"]).c_str());
  }
}

}  // namespace adam::fw
