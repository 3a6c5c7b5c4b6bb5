#include "store/plugin_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <stdexcept>

namespace adam {

int64_t PluginStore::Tx::insert(const std::string& kind, const std::string& body) {
  SQLite::Statement q(db_, "INSERT INTO plugin_documents(plugin, kind, body) VALUES (?, ?, ?)");
  q.bind(1, plugin_);
  q.bind(2, kind);
  q.bind(3, body);
  q.exec();
  return db_.getLastInsertRowid();
}

void PluginStore::Tx::put(const std::string& kind, int64_t id, const std::string& body) {
  SQLite::Statement owner(db_, "SELECT plugin, kind FROM plugin_documents WHERE id = ?");
  owner.bind(1, static_cast<int64_t>(id));
  if (owner.executeStep() &&
      (owner.getColumn(0).getString() != plugin_ || owner.getColumn(1).getString() != kind))
    throw std::invalid_argument("id " + std::to_string(id) + " belongs to something else");
  SQLite::Statement q(db_,
                      "INSERT OR REPLACE INTO plugin_documents(id, plugin, kind, body) VALUES (?, ?, ?, ?)");
  q.bind(1, static_cast<int64_t>(id));
  q.bind(2, plugin_);
  q.bind(3, kind);
  q.bind(4, body);
  q.exec();
}

bool PluginStore::Tx::remove(const std::string& kind, int64_t id) {
  SQLite::Statement q(db_, "DELETE FROM plugin_documents WHERE plugin = ? AND kind = ? AND id = ?");
  q.bind(1, plugin_);
  q.bind(2, kind);
  q.bind(3, static_cast<int64_t>(id));
  return q.exec() > 0;
}

void PluginStore::Tx::remove_all(const std::string& kind) {
  SQLite::Statement q(db_, "DELETE FROM plugin_documents WHERE plugin = ? AND kind = ?");
  q.bind(1, plugin_);
  q.bind(2, kind);
  q.exec();
}

std::optional<StoredDocument> PluginStore::Tx::get(const std::string& kind, int64_t id) {
  SQLite::Statement q(db_, "SELECT id, body FROM plugin_documents WHERE plugin = ? AND kind = ? AND id = ?");
  q.bind(1, plugin_);
  q.bind(2, kind);
  q.bind(3, static_cast<int64_t>(id));
  if (!q.executeStep()) return std::nullopt;
  return StoredDocument{q.getColumn(0).getInt64(), q.getColumn(1).getString()};
}

std::vector<StoredDocument> PluginStore::Tx::list(const std::string& kind) {
  SQLite::Statement q(db_, "SELECT id, body FROM plugin_documents WHERE plugin = ? AND kind = ? ORDER BY id");
  q.bind(1, plugin_);
  q.bind(2, kind);
  std::vector<StoredDocument> out;
  while (q.executeStep()) out.push_back({q.getColumn(0).getInt64(), q.getColumn(1).getString()});
  return out;
}

std::optional<std::string> PluginStore::Tx::setting(const std::string& key) {
  SQLite::Statement q(db_, "SELECT value FROM plugin_settings WHERE plugin = ? AND key = ?");
  q.bind(1, plugin_);
  q.bind(2, key);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getString();
}

void PluginStore::Tx::set_setting(const std::string& key, const std::string& value) {
  SQLite::Statement q(db_, "INSERT OR REPLACE INTO plugin_settings(plugin, key, value) VALUES (?, ?, ?)");
  q.bind(1, plugin_);
  q.bind(2, key);
  q.bind(3, value);
  q.exec();
}

}  // namespace adam
