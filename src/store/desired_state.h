#pragma once
// What the operator asked each plugin to be (running with a config, or
// stopped). adamd brings plugins back to it after a restart.
#include <optional>
#include <string>

#include "store/database.h"

namespace adam {

struct DesiredState {
  bool running = false;
  std::string config_json = "{}";
};

class DesiredStateStore {
 public:
  explicit DesiredStateStore(Database& db) : db_(db) {}
  std::optional<DesiredState> get(const std::string& plugin);
  void set(const std::string& plugin, const DesiredState& state);

 private:
  Database& db_;
};

}  // namespace adam
