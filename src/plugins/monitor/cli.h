#pragma once
// adamctl ps and adamctl proc: the monitor's process table (live or at a
// past moment, as a tree if asked) and one process with its lineage. Built
// into adamctl only (one line of adamctl/command_table.cpp), never adamd.
#include <nlohmann/json.hpp>
#include <string>

#include "adamctl/command_table.h"

namespace adam::mon {

// `adamctl ps`'s table of a processes resource's "processes": a header and
// PID PPID UID COMM EXEC_ID STARTED ARGS per process, by pid; with `tree`,
// each process under its parent (by parent_exec_id), its COMM indented.
std::string process_listing(const nlohmann::json& processes, bool tree);
// `adamctl proc`'s text of a process resource (GET /processes/{exec_id}):
// the process, its ancestors up to pid 1, its children (events apart).
std::string process_report(const nlohmann::json& detail);

class MonitorCommands : public adamctl::CommandGroup {
 public:
  explicit MonitorCommands(CLI::App& app);  // adds `ps` and `proc` to app
  bool selected() const override;
  void run(adamctl::Api& api, const adamctl::Options& options) override;

 private:
  CLI::App *ps_, *proc_;
  bool tree_ = false, exited_ = false;
  std::string at_, exec_id_;
};

}  // namespace adam::mon
