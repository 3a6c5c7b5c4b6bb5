#pragma once
// The console's registry of machines (other adamds): where each is, the
// token this adamd calls it with, and how its TLS certificate is trusted.
// The token is a secret of the registry: stored here (the database file is
// mode 0600), never returned by any route.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/database.h"

namespace adam {

struct Machine {
  int64_t id = 0;
  std::string name;         // unique, 1-64 of [A-Za-z0-9._-]
  std::string url;          // https://host[:port] or http://loopback[:port]
  std::string token;        // the remote API token
  std::string fingerprint;  // SHA-256 of its leaf certificate, "AB:CD:..." (https)
  std::string ca;           // PEM CA file, or empty
  int64_t created_at = 0;   // ns since epoch
};

class MachineStore {
 public:
  // Makes the database file (and its WAL files) mode 0600: it holds tokens.
  explicit MachineStore(Database& db);

  // Throws ApiError 400 naming `name` unless it is 1-64 of [A-Za-z0-9._-].
  static void check_name(const std::string& name);
  // Stores `m` (its id and created_at are set). Throws ApiError 400 naming
  // `name` when it is not a valid name, 409 when it is taken.
  Machine add(Machine m);
  std::vector<Machine> list();
  std::optional<Machine> find(int64_t id);
  // Throws ApiError 404 for an unknown id.
  Machine remove(int64_t id);

 private:
  Database& db_;
};

}  // namespace adam
