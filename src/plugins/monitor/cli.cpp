#include "plugins/monitor/cli.h"

#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>

#include "adamctl/events.h"

using adamctl::text;
using nlohmann::json;

namespace adam::mon {
namespace {

const std::string kProcesses = "/api/v1/monitor/processes";

// A process's start (ns since the epoch) to the second, in UTC.
std::string started_text(const json& started) {
  if (!started.is_number()) return "-";
  const time_t seconds = static_cast<time_t>(started.get<int64_t>() / 1'000'000'000);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return out;
}

std::string args_text(const json& p) {
  std::string out;
  if (p.contains("args") && p["args"].is_array())
    for (const auto& arg : p["args"]) out += (out.empty() ? "" : " ") + text(arg);
  if (out.empty()) out = text(p.value("filename", json("")));
  if (p.value("args_truncated", false)) out += " …";
  return out;
}

std::string row(const json& p, const std::string& comm) {
  char line[512];
  std::snprintf(line, sizeof line, "%-7s %-7s %-6s %-20s %-34s %-20s ", text(p["pid"]).c_str(),
                text(p["ppid"]).c_str(), text(p["uid"]).c_str(), comm.c_str(), text(p["exec_id"]).c_str(),
                started_text(p["started"]).c_str());
  std::string out = line + args_text(p);
  if (p.contains("exited") && !p["exited"].is_null()) {
    out += "  (exited";
    if (p.contains("exit_code") && !p["exit_code"].is_null()) out += " " + text(p["exit_code"]);
    if (p.contains("signal") && !p["signal"].is_null()) out += ", signal " + text(p["signal"]);
    out += ")";
  }
  return out + "\n";
}

std::string header() {
  char line[256];
  std::snprintf(line, sizeof line, "%-7s %-7s %-6s %-20s %-34s %-20s %s\n", "PID", "PPID", "UID", "COMM",
                "EXEC_ID", "STARTED", "ARGS");
  return line;
}

// The processes in order of pid.
std::vector<const json*> by_pid(const json& processes) {
  std::vector<const json*> out;
  for (const auto& p : processes) out.push_back(&p);
  std::stable_sort(out.begin(), out.end(), [](const json* a, const json* b) {
    return a->value("pid", uint64_t{0}) < b->value("pid", uint64_t{0});
  });
  return out;
}

}  // namespace

std::string process_listing(const json& processes, bool tree) {
  std::string out = header();
  const std::vector<const json*> sorted = by_pid(processes);
  if (!tree) {
    for (const json* p : sorted) out += row(*p, text((*p)["comm"]));
    return out;
  }
  std::set<std::string> listed;
  for (const json* p : sorted) listed.insert(text((*p)["exec_id"]));
  std::map<std::string, std::vector<const json*>> children;  // parent exec id -> children, by pid
  std::vector<const json*> roots;                            // whose parent is not listed
  for (const json* p : sorted) {
    const std::string parent = text(p->value("parent_exec_id", json("")));
    if (listed.count(parent) && parent != text((*p)["exec_id"]))
      children[parent].push_back(p);
    else
      roots.push_back(p);
  }
  // Depth first, each child under its parent; `placed` guards against a
  // loop in the parents (only corrupt data makes one).
  std::set<std::string> placed;
  std::vector<std::pair<const json*, int>> stack;
  for (auto it = roots.rbegin(); it != roots.rend(); ++it) stack.emplace_back(*it, 0);
  while (!stack.empty()) {
    auto [p, depth] = stack.back();
    stack.pop_back();
    const std::string exec_id = text((*p)["exec_id"]);
    if (!placed.insert(exec_id).second) continue;
    out += row(*p,
               std::string(2 * static_cast<size_t>(depth), ' ') + (depth ? "\\_ " : "") + text((*p)["comm"]));
    const auto kids = children.find(exec_id);
    if (kids == children.end()) continue;
    for (auto it = kids->second.rbegin(); it != kids->second.rend(); ++it) stack.emplace_back(*it, depth + 1);
  }
  return out;
}

std::string process_report(const json& detail) {
  std::string out = header() + row(detail["process"], text(detail["process"]["comm"]));
  out += "\nancestors (parent first):\n";
  if (detail["ancestors"].empty()) out += "  none known\n";
  for (const auto& p : detail["ancestors"]) out += row(p, text(p["comm"]));
  out += "\nchildren:\n";
  if (detail["children"].empty()) out += "  none\n";
  for (const auto& p : detail["children"]) out += row(p, text(p["comm"]));
  return out;
}

MonitorCommands::MonitorCommands(CLI::App& app) {
  ps_ = app.add_subcommand("ps", "the monitor's process table: live, or as it was at a past moment");
  ps_->add_flag("--tree", tree_, "each process under its parent");
  CLI::Option* at = ps_->add_option(
      "--at", at_, "the table at this time (RFC 3339 or epoch seconds), rebuilt from stored events");
  ps_->add_flag("--exited", exited_, "also the exited processes the live table still holds")->excludes(at);
  proc_ =
      app.add_subcommand("proc", "one process: its ancestors up to pid 1, its children, its recent events");
  proc_->add_option("exec_id", exec_id_, "its exec id (adamctl ps shows them)")->required();
}

bool MonitorCommands::selected() const { return ps_->parsed() || proc_->parsed(); }

void MonitorCommands::run(adamctl::Api& api, const adamctl::Options& options) {
  if (ps_->parsed()) {
    std::string path = kProcesses;
    if (!at_.empty()) {
      path += "?at=" + httplib::detail::encode_query_param(at_);
    } else if (exited_) {
      path += "?exited=1";
    }
    const json table = api.call("GET", path);
    if (options.json_output()) {
      std::cout << table.dump(2) << "\n";
      return;
    }
    std::cout << process_listing(table["processes"], tree_);
    return;
  }
  const json detail = api.call("GET", kProcesses + "/" + exec_id_);
  if (options.json_output()) {
    std::cout << detail.dump(2) << "\n";
    return;
  }
  std::cout << process_report(detail) << "\nrecent events (newest first):\n" << std::flush;
  adamctl::print_event_header();
  for (const auto& e : detail["events"]) adamctl::print_event(e);
}

}  // namespace adam::mon
