#pragma once
// adamd's one SQLite database (<state-dir>/adam.db): WAL, versioned
// migrations applied at start. SQLite connections are not shared across
// threads here: every access goes through with(), which serializes them.
#include <SQLiteCpp/Database.h>

#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace adam {

struct Migration {
  int version;              // user_version after it is applied (1, 2, ...)
  const char* description;  // said in errors and logs
  const char* sql;
};

// The schema, in order. Never edit a shipped migration: append a new one.
const std::vector<Migration>& schema_migrations();

// A migration failed or the database is newer than this adamd: adamd must not
// start, and the file is left as it was.
class MigrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Database {
 public:
  // Opens (creating if needed) and migrates; throws MigrationError.
  explicit Database(const std::string& path, const std::vector<Migration>& migrations = schema_migrations());

  int schema_version();
  const std::string& path() const { return path_; }

  template <typename F>
  auto with(F&& f) {
    std::lock_guard lock(mu_);
    return f(db_);
  }

 private:
  void migrate(const std::vector<Migration>& migrations);

  std::mutex mu_;
  SQLite::Database db_;
  std::string path_;
};

}  // namespace adam
