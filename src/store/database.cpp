#include "store/database.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "core/state_files.h"

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
      {3, "events of every plugin", R"sql(
        -- Plugin and kind, and the host, are integer-coded: a row stays
        -- small and a kind filter is an integer compare.
        CREATE TABLE event_kinds (
          id     INTEGER PRIMARY KEY,
          plugin TEXT NOT NULL,
          kind   TEXT NOT NULL,
          UNIQUE (plugin, kind)
        ) STRICT;
        CREATE TABLE event_machines (
          id   INTEGER PRIMARY KEY,
          name TEXT NOT NULL UNIQUE
        ) STRICT;
        -- id is the rowid: appends land on the b-tree's right edge. The one
        -- index serves every page (keyset on (ts, id), newest first) with
        -- one range per kind, merged, so a rare kind never scans the common
        -- ones; and retention by age. docs/events.md has the query plans
        -- and the measurements behind this shape.
        CREATE TABLE events (
          id         INTEGER PRIMARY KEY,
          ts         INTEGER NOT NULL,       -- ns since epoch, UTC
          kind_id    INTEGER NOT NULL,       -- event_kinds.id
          machine_id INTEGER NOT NULL,       -- event_machines.id
          data       TEXT NOT NULL           -- JSON object
        ) STRICT;
        CREATE INDEX events_by_kind ON events(kind_id, ts);
        -- Events per minute and kind, kept by the writer in the same
        -- transactions as the events: histograms read these instead of
        -- counting millions of rows.
        CREATE TABLE event_minutes (
          minute  INTEGER NOT NULL,          -- ts / 60 s
          kind_id INTEGER NOT NULL,
          count   INTEGER NOT NULL,
          PRIMARY KEY (minute, kind_id)
        ) WITHOUT ROWID, STRICT;
        -- Kept by the writer too: retention by row count needs the count
        -- without a scan, and ids are never reused, not even after
        -- retention emptied the table.
        CREATE TABLE event_counts (
          rows    INTEGER NOT NULL,
          next_id INTEGER NOT NULL
        ) STRICT;
        INSERT INTO event_counts VALUES (0, 1);
      )sql"},
      {4, "events clustered by kind and time", R"sql(
        -- One b-tree instead of a rowid table plus its (kind_id, ts) index:
        -- an append writes one entry, not two (each kind's right edge, as
        -- the writer sorts a batch by (kind, ts)), and a page of one kind
        -- reads its rows straight from the range, without a lookup per row.
        -- The key ends with id, which the writer still gives out (never
        -- reused): pages are keyset-paginated on (ts, id). docs/events.md.
        CREATE TABLE events_by_kind_ts (
          kind_id    INTEGER NOT NULL,       -- event_kinds.id
          ts         INTEGER NOT NULL,       -- ns since epoch, UTC
          id         INTEGER NOT NULL,
          machine_id INTEGER NOT NULL,       -- event_machines.id
          data       TEXT NOT NULL,          -- JSON object
          PRIMARY KEY (kind_id, ts, id)
        ) WITHOUT ROWID, STRICT;
        INSERT INTO events_by_kind_ts (kind_id, ts, id, machine_id, data)
          SELECT kind_id, ts, id, machine_id, data FROM events;
        DROP TABLE events;
        ALTER TABLE events_by_kind_ts RENAME TO events;
      )sql"},
      {5, "the console's machine registry", R"sql(
        -- AUTOINCREMENT: a machine's id is in console URLs (/m/{id}/); a
        -- removed machine's id never comes to mean another one.
        CREATE TABLE machines (
          id          INTEGER PRIMARY KEY AUTOINCREMENT,
          name        TEXT NOT NULL UNIQUE,
          url         TEXT NOT NULL,
          token       TEXT NOT NULL,          -- the remote API token (never returned by a route)
          fingerprint TEXT NOT NULL,          -- SHA-256 of its leaf certificate, or ''
          ca          TEXT NOT NULL,          -- PEM CA file, or ''
          created_at  INTEGER NOT NULL
        );
      )sql"},
  };
  return migrations;
}

namespace {
int user_version(SQLite::Database& db) { return db.execAndGet("PRAGMA user_version").getInt(); }

// SQLite's memory statistics take a global mutex around every allocation;
// adamd reads none of them. Possible only before SQLite initializes, i.e.
// before the first connection opens: at static initialization.
[[maybe_unused]] const bool kMemstatusOff = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;

// Creates the database file 0600 (SQLite gives its -wal and -shm files the
// database file's mode) and checks it and those files as state files
// (core/state_files.h), before SQLite opens them with O_NOFOLLOW as well.
const std::string& checked_state_file(const std::string& path) {
  if (path == ":memory:") return path;  // SQLite's in-memory database: no file
  open_state_file(path, O_RDWR | O_CREAT);
  for (const char* suffix : {"-wal", "-shm"}) open_state_file(path + suffix, O_RDWR);
  return path;
}
}  // namespace

Database::Database(const std::string& path, const std::vector<Migration>& migrations)
    : db_(checked_state_file(path),
          SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW),
      path_(path) {
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
