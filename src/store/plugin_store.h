#pragma once
// A plugin's own persistent state (e.g. the firewall's rules and default
// policy) without the store knowing its shape: JSON documents of a `kind`
// with stable ids that are never reused, and key/value settings.
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Transaction.h>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "store/database.h"

namespace adam {

struct StoredDocument {
  int64_t id = 0;
  std::string body;  // JSON text
};

class PluginStore {
 public:
  // The operations, valid inside transaction().
  class Tx {
   public:
    Tx(SQLite::Database& db, const std::string& plugin) : db_(db), plugin_(plugin) {}
    int64_t insert(const std::string& kind, const std::string& body);  // assigns a new id
    // Inserts or replaces the document with this id (ids are global: an id
    // used by another plugin or kind is refused with std::invalid_argument).
    void put(const std::string& kind, int64_t id, const std::string& body);
    bool remove(const std::string& kind, int64_t id);
    void remove_all(const std::string& kind);
    std::optional<StoredDocument> get(const std::string& kind, int64_t id);
    std::vector<StoredDocument> list(const std::string& kind);  // by id
    std::optional<std::string> setting(const std::string& key);
    void set_setting(const std::string& key, const std::string& value);

   private:
    SQLite::Database& db_;
    const std::string& plugin_;
  };

  PluginStore(Database& db, std::string plugin) : db_(db), plugin_(std::move(plugin)) {}

  // Runs f(Tx&) in one SQLite transaction: committed when f returns, rolled
  // back when it throws (the exception goes on). Do the kernel update last
  // inside f, so a failing kernel update leaves the store unchanged too.
  template <typename F>
  auto transaction(F&& f) {
    return db_.with([&](SQLite::Database& db) {
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
      Tx ops(db, plugin_);
      if constexpr (std::is_void_v<decltype(f(ops))>) {
        f(ops);
        tx.commit();
      } else {
        auto result = f(ops);
        tx.commit();
        return result;
      }
    });
  }

  std::vector<StoredDocument> list(const std::string& kind) {
    return transaction([&](Tx& tx) { return tx.list(kind); });
  }
  std::optional<StoredDocument> get(const std::string& kind, int64_t id) {
    return transaction([&](Tx& tx) { return tx.get(kind, id); });
  }
  std::optional<std::string> setting(const std::string& key) {
    return transaction([&](Tx& tx) { return tx.setting(key); });
  }

 private:
  Database& db_;
  std::string plugin_;
};

}  // namespace adam
