#include "store/desired_state.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <chrono>

namespace adam {

std::optional<DesiredState> DesiredStateStore::get(const std::string& plugin) {
  return db_.with([&](SQLite::Database& db) -> std::optional<DesiredState> {
    SQLite::Statement q(db, "SELECT desired, config FROM plugins WHERE name = ?");
    q.bind(1, plugin);
    if (!q.executeStep()) return std::nullopt;
    return DesiredState{q.getColumn(0).getString() == "running", q.getColumn(1).getString()};
  });
}

void DesiredStateStore::set(const std::string& plugin, const DesiredState& state) {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  db_.with([&](SQLite::Database& db) {
    SQLite::Statement q(
        db,
        "INSERT INTO plugins(name, desired, config, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET desired = excluded.desired, config = excluded.config, "
        "updated_at = excluded.updated_at");
    q.bind(1, plugin);
    q.bind(2, state.running ? "running" : "stopped");
    q.bind(3, state.config_json);
    q.bind(4, static_cast<int64_t>(now));
    q.exec();
  });
}

}  // namespace adam
