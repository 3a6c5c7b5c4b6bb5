#include "store/database.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace adam {

const std::vector<Migration>& schema_migrations() {
  static const std::vector<Migration> migrations = {
      {1, "plugins' desired state and API tokens", R"sql(
        CREATE TABLE plugins (
          name       TEXT PRIMARY KEY,
          desired    TEXT NOT NULL CHECK (desired IN ('running', 'stopped')),
          config     TEXT NOT NULL,            -- JSON object given to start
          updated_at INTEGER NOT NULL          -- ns since epoch
        ) STRICT;
        CREATE TABLE tokens (
          id           INTEGER PRIMARY KEY,
          name         TEXT NOT NULL UNIQUE,
          role         TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
          hash         TEXT NOT NULL UNIQUE,   -- hex SHA-256 of the secret; the secret is never stored
          created_at   INTEGER NOT NULL,
          last_used_at INTEGER
        ) STRICT;
      )sql"},
      {2, "plugins' own documents and settings", R"sql(
        -- AUTOINCREMENT: an id is never handed out twice, even after deletes
        -- (firewall rule ids must stay stable and unambiguous).
        CREATE TABLE plugin_documents (
          id     INTEGER PRIMARY KEY AUTOINCREMENT,
          plugin TEXT NOT NULL,
          kind   TEXT NOT NULL,
          body   TEXT NOT NULL                 -- JSON
        );
        CREATE INDEX plugin_documents_by_kind ON plugin_documents(plugin, kind, id);
        CREATE TABLE plugin_settings (
          plugin TEXT NOT NULL,
          key    TEXT NOT NULL,
          value  TEXT NOT NULL,
          PRIMARY KEY (plugin, key)
        ) STRICT;
      )sql"},
  };
  return migrations;
}

namespace {
int user_version(SQLite::Database& db) { return db.execAndGet("PRAGMA user_version").getInt(); }
}  // namespace

Database::Database(const std::string& path, const std::vector<Migration>& migrations)
    : db_(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX), path_(path) {
  db_.setBusyTimeout(5000);
  migrate(migrations);
  // WAL only once the schema is in place, so a failed migration leaves even
  // a brand-new file's header as it was.
  db_.exec("PRAGMA journal_mode=WAL");
  db_.exec("PRAGMA synchronous=NORMAL");
  db_.exec("PRAGMA foreign_keys=ON");
}

int Database::schema_version() {
  return with([](SQLite::Database& db) { return user_version(db); });
}

void Database::migrate(const std::vector<Migration>& migrations) {
  int current = 0;
  try {
    current = user_version(db_);
  } catch (const SQLite::Exception& e) {
    throw MigrationError(fmt::format("{}: cannot read the schema version: {}", path_, e.what()));
  }
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  if (current > latest) {
    throw MigrationError(
        fmt::format("{}: database schema version {} is newer than this adamd knows ({}); use a newer adamd",
                    path_, current, latest));
  }
  if (current == latest) return;

  // One transaction for all pending steps: the file moves from its version to
  // the latest, or not at all.
  SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
  for (const auto& m : migrations) {
    if (m.version <= current) continue;
    try {
      db_.exec(m.sql);
      db_.exec(fmt::format("PRAGMA user_version = {}", m.version));
    } catch (const SQLite::Exception& e) {
      throw MigrationError(
          fmt::format("{}: migration {} ({}) failed: {}; database left unchanged at version {}", path_,
                      m.version, m.description, e.what(), current));
    }
    spdlog::info("database: applied migration {} ({})", m.version, m.description);
  }
  tx.commit();
}

}  // namespace adam
