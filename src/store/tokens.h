#pragma once
// API tokens: a random secret shown once, stored only as its SHA-256.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/database.h"

namespace adam {

enum class Role { admin, viewer };
std::string to_string(Role role);
std::optional<Role> parse_role(const std::string& text);

struct Token {
  int64_t id = 0;
  std::string name;
  Role role = Role::viewer;
  int64_t created_at = 0;  // ns since epoch
  std::optional<int64_t> last_used_at;
};

struct NewToken {
  Token token;
  std::string secret;  // only ever returned here
};

class TokenStore {
 public:
  explicit TokenStore(Database& db) : db_(db) {}

  // Throws ApiError: 400 for a bad name, 409 when the name is taken.
  NewToken create(const std::string& name, Role role);
  // The token a secret belongs to (and records its use), or nothing.
  std::optional<Token> authenticate(const std::string& secret);
  std::vector<Token> list();
  std::optional<Token> find(int64_t id);
  // Throws ApiError 404 for an unknown id, 409 when it is the last admin token.
  Token remove(int64_t id);

  // First start: when no admin token exists, creates one named "admin" and
  // writes its secret to `path` (mode 0600). Returns true when it did.
  bool ensure_admin_token(const std::string& path);

 private:
  Database& db_;
};

// Hex SHA-256 (what the tokens table stores).
std::string sha256_hex(const std::string& data);

}  // namespace adam
