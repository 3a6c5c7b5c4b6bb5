#pragma once
// adamctl events: query the event store, or follow it live (-f).
#include <string>
#include <vector>

#include "adamctl/command_table.h"

namespace adamctl {

// One line per event (TIME PLUGIN KIND MACHINE DATA) and the header above them.
void print_event_header();
void print_event(const nlohmann::json& e);

class EventsCommand : public CommandGroup {
 public:
  explicit EventsCommand(CLI::App& app);  // adds `events` to app
  bool selected() const override;
  void run(Api& api, const Options& options) override;

 private:
  std::string query_string() const;
  void follow(Api& api, const Options& options);

  CLI::App* events_;
  std::string last_, since_, until_, plugin_;
  std::vector<std::string> kinds_;
  std::vector<std::string> data_;  // KEY=VALUE
  int limit_ = 0;                  // 0: the API's default
  bool follow_ = false;
};

}  // namespace adamctl
