#include "store/tokens.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <regex>
#include <stdexcept>

#include "core/errors.h"
#include "core/state_files.h"

namespace adam {

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string hex(const unsigned char* data, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 0xf]);
  }
  return out;
}

std::string random_secret() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    throw std::runtime_error("RAND_bytes failed: no randomness for a token");
  return "adam_" + hex(bytes, sizeof bytes);
}

Token row_to_token(SQLite::Statement& q) {
  Token t;
  t.id = q.getColumn(0).getInt64();
  t.name = q.getColumn(1).getString();
  t.role = parse_role(q.getColumn(2).getString()).value_or(Role::viewer);
  t.created_at = q.getColumn(3).getInt64();
  if (!q.getColumn(4).isNull()) t.last_used_at = q.getColumn(4).getInt64();
  return t;
}

constexpr const char* kColumns = "id, name, role, created_at, last_used_at";

}  // namespace

std::string to_string(Role role) { return role == Role::admin ? "admin" : "viewer"; }

std::optional<Role> parse_role(const std::string& text) {
  if (text == "admin") return Role::admin;
  if (text == "viewer") return Role::viewer;
  return std::nullopt;
}

std::string sha256_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("EVP_Digest(sha256) failed");
  return hex(digest, len);
}

NewToken TokenStore::create(const std::string& name, Role role) {
  static const std::regex valid_name("[A-Za-z0-9][A-Za-z0-9._@-]{0,63}");
  if (!std::regex_match(name, valid_name))
    throw bad_request("name", "token name must be 1-64 characters of letters, digits, '.', '_', '@', '-'");
  NewToken created;
  created.secret = random_secret();
  created.token.name = name;
  created.token.role = role;
  created.token.created_at = now_ns();
  db_.with([&](SQLite::Database& db) {
    SQLite::Statement exists(db, "SELECT 1 FROM tokens WHERE name = ?");
    exists.bind(1, name);
    if (exists.executeStep()) throw conflict(fmt::format("a token named '{}' exists already", name));
    SQLite::Statement ins(db, "INSERT INTO tokens(name, role, hash, created_at) VALUES (?, ?, ?, ?)");
    ins.bind(1, name);
    ins.bind(2, to_string(role));
    ins.bind(3, sha256_hex(created.secret));
    ins.bind(4, static_cast<int64_t>(created.token.created_at));
    ins.exec();
    created.token.id = db.getLastInsertRowid();
  });
  return created;
}

std::optional<Token> TokenStore::authenticate(const std::string& secret) {
  if (secret.empty() || secret.size() > 256) return std::nullopt;
  const std::string hash = sha256_hex(secret);
  return db_.with([&](SQLite::Database& db) -> std::optional<Token> {
    SQLite::Statement q(db, fmt::format("SELECT {} FROM tokens WHERE hash = ?", kColumns));
    q.bind(1, hash);
    if (!q.executeStep()) return std::nullopt;
    Token t = row_to_token(q);
    // Coarse last-use stamp: at most one write a minute per token.
    const int64_t now = now_ns();
    if (!t.last_used_at || now - *t.last_used_at > 60'000'000'000LL) {
      SQLite::Statement upd(db, "UPDATE tokens SET last_used_at = ? WHERE id = ?");
      upd.bind(1, static_cast<int64_t>(now));
      upd.bind(2, static_cast<int64_t>(t.id));
      upd.exec();
      t.last_used_at = now;
    }
    return t;
  });
}

std::vector<Token> TokenStore::list() {
  return db_.with([&](SQLite::Database& db) {
    std::vector<Token> out;
    SQLite::Statement q(db, fmt::format("SELECT {} FROM tokens ORDER BY id", kColumns));
    while (q.executeStep()) out.push_back(row_to_token(q));
    return out;
  });
}

std::optional<Token> TokenStore::find(int64_t id) {
  return db_.with([&](SQLite::Database& db) -> std::optional<Token> {
    SQLite::Statement q(db, fmt::format("SELECT {} FROM tokens WHERE id = ?", kColumns));
    q.bind(1, static_cast<int64_t>(id));
    if (!q.executeStep()) return std::nullopt;
    return row_to_token(q);
  });
}

Token TokenStore::remove(int64_t id) {
  return db_.with([&](SQLite::Database& db) {
    SQLite::Transaction tx(db);
    SQLite::Statement q(db, fmt::format("SELECT {} FROM tokens WHERE id = ?", kColumns));
    q.bind(1, static_cast<int64_t>(id));
    if (!q.executeStep()) throw not_found(fmt::format("no token with id {}", id));
    Token t = row_to_token(q);
    if (t.role == Role::admin) {
      const int admins = db.execAndGet("SELECT count(*) FROM tokens WHERE role = 'admin'").getInt();
      if (admins <= 1)
        throw conflict("this is the last admin token: create another admin token before removing it");
    }
    SQLite::Statement del(db, "DELETE FROM tokens WHERE id = ?");
    del.bind(1, static_cast<int64_t>(id));
    del.exec();
    tx.commit();
    return t;
  });
}

bool TokenStore::ensure_admin_token(const std::string& path) {
  const bool have_admin = db_.with([](SQLite::Database& db) {
    return db.execAndGet("SELECT count(*) FROM tokens WHERE role = 'admin'").getInt() > 0;
  });
  if (have_admin) return false;
  // Write the file before the row exists, so a crash never leaves an admin
  // token nobody knows.
  const std::string secret = random_secret();
  write_state_file(path, secret + "\n");
  db_.with([&](SQLite::Database& db) {
    SQLite::Statement ins(db, "INSERT INTO tokens(name, role, hash, created_at) VALUES (?, 'admin', ?, ?)");
    // "admin" may be taken by a viewer token someone named so; keep names unique.
    const bool taken = db.execAndGet("SELECT count(*) FROM tokens WHERE name = 'admin'").getInt() > 0;
    ins.bind(1, taken ? fmt::format("admin-{}", now_ns()) : std::string("admin"));
    ins.bind(2, sha256_hex(secret));
    ins.bind(3, static_cast<int64_t>(now_ns()));
    ins.exec();
  });
  spdlog::info("wrote the admin token to {}", path);
  return true;
}

}  // namespace adam
