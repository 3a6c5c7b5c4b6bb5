#pragma once
// adamd's settings: defaults, then the TOML config file, then flags.
#include <cstdint>
#include <string>
#include <vector>

namespace adam {

struct DaemonConfig {
  std::string listen = "[::]:9988";
  std::string state_dir = "/var/lib/adam";
  std::string pin_dir = "/sys/fs/bpf/adam";
  std::string log_level = "info";
  bool metrics_auth = false;        // /metrics needs a token too
  bool demo = false;                // build the demo lab (network namespace + veth + traffic)
  std::string retention = "30d";    // events older than this are deleted (a span: 90m, 7d, 3mo, 1y)
  int64_t max_events = 50'000'000;  // and the oldest beyond this many (0: no limit)
  std::string tls_cert;             // PEM certificate chain: serve HTTPS (with tls_key)
  std::string tls_key;              // PEM private key
  bool tls_self_signed = false;     // no tls_cert: generate <state_dir>/tls/{cert,key}.pem once, serve HTTPS
  // Origins the console is also served from ("https://adam.example.org",
  // a reverse proxy's): the CSRF check accepts them beside this machine's
  // own names and addresses on the listen port.
  std::vector<std::string> allowed_origins;
};

// Reads a TOML file whose keys are the flag names with '_' or '-'
// (listen, state_dir, pin_dir, log_level, metrics_auth, demo, retention,
// max_events, tls_cert, tls_key, tls_self_signed, allowed_origins) into `config`.
// Throws std::invalid_argument naming the file, key and problem.
void load_config_file(const std::string& path, DaemonConfig& config);

struct ListenAddress {
  std::string host;  // "::", "127.0.0.1", ...
  int port = 0;
};
// "[::]:9988", "127.0.0.1:9988", "localhost:80", ":9988" (all addresses).
// Throws std::invalid_argument naming the problem.
ListenAddress parse_listen(const std::string& text);

}  // namespace adam
