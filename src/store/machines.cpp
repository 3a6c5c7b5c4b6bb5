#include "store/machines.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <chrono>
#include <regex>

#include "core/errors.h"

namespace adam {

namespace {

constexpr const char* kColumns = "id, name, url, token, fingerprint, ca, created_at";

Machine row_to_machine(SQLite::Statement& q) {
  Machine m;
  m.id = q.getColumn(0).getInt64();
  m.name = q.getColumn(1).getString();
  m.url = q.getColumn(2).getString();
  m.token = q.getColumn(3).getString();
  m.fingerprint = q.getColumn(4).getString();
  m.ca = q.getColumn(5).getString();
  m.created_at = q.getColumn(6).getInt64();
  return m;
}

}  // namespace

// The database that holds the remote tokens is the owner's alone: Database
// opens it as a state file (0600, and so are its -wal and -shm files).
MachineStore::MachineStore(Database& db) : db_(db) {}

void MachineStore::check_name(const std::string& name) {
  static const std::regex valid_name("[A-Za-z0-9._-]{1,64}");
  if (!std::regex_match(name, valid_name))
    throw bad_request("name", "machine name must be 1-64 characters of letters, digits, '.', '_', '-'");
}

Machine MachineStore::add(Machine m) {
  check_name(m.name);
  m.created_at = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  db_.with([&](SQLite::Database& db) {
    SQLite::Statement exists(db, "SELECT 1 FROM machines WHERE name = ?");
    exists.bind(1, m.name);
    if (exists.executeStep()) throw conflict(fmt::format("a machine named '{}' exists already", m.name));
    SQLite::Statement ins(
        db, "INSERT INTO machines(name, url, token, fingerprint, ca, created_at) VALUES (?, ?, ?, ?, ?, ?)");
    ins.bind(1, m.name);
    ins.bind(2, m.url);
    ins.bind(3, m.token);
    ins.bind(4, m.fingerprint);
    ins.bind(5, m.ca);
    ins.bind(6, static_cast<int64_t>(m.created_at));
    ins.exec();
    m.id = db.getLastInsertRowid();
  });
  return m;
}

std::vector<Machine> MachineStore::list() {
  return db_.with([&](SQLite::Database& db) {
    std::vector<Machine> out;
    SQLite::Statement q(db, fmt::format("SELECT {} FROM machines ORDER BY id", kColumns));
    while (q.executeStep()) out.push_back(row_to_machine(q));
    return out;
  });
}

std::optional<Machine> MachineStore::find(int64_t id) {
  return db_.with([&](SQLite::Database& db) -> std::optional<Machine> {
    SQLite::Statement q(db, fmt::format("SELECT {} FROM machines WHERE id = ?", kColumns));
    q.bind(1, static_cast<int64_t>(id));
    if (!q.executeStep()) return std::nullopt;
    return row_to_machine(q);
  });
}

Machine MachineStore::remove(int64_t id) {
  return db_.with([&](SQLite::Database& db) {
    SQLite::Transaction tx(db);
    SQLite::Statement q(db, fmt::format("SELECT {} FROM machines WHERE id = ?", kColumns));
    q.bind(1, static_cast<int64_t>(id));
    if (!q.executeStep()) throw not_found(fmt::format("no machine with id {}", id));
    Machine m = row_to_machine(q);
    SQLite::Statement del(db, "DELETE FROM machines WHERE id = ?");
    del.bind(1, static_cast<int64_t>(id));
    del.exec();
    tx.commit();
    return m;
  });
}

}  // namespace adam
