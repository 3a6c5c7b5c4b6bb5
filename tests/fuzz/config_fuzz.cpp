// adamd's TOML config file (core/config.cpp) on arbitrary bytes. What must
// hold: a refusal is std::invalid_argument whose message starts with the
// file's path (the user is told which file); an accepted file, written back
// as TOML with the settings it set, reads back to the same settings; and
// the listen address it gives either parses or is refused with
// std::invalid_argument, as adamd's start does.
#include <unistd.h>

#include <toml++/toml.h>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "core/config.h"
#include "fuzz_check.h"

namespace {

// One file per fuzzing process, rewritten for every input.
const std::string& config_path() {
  static const std::string path = "/tmp/adam-config-fuzz-" + std::to_string(::getpid()) + ".toml";
  return path;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string as_toml(const adam::DaemonConfig& c) {
  toml::array origins;
  for (const std::string& o : c.allowed_origins) origins.push_back(o);
  toml::table t{{"listen", c.listen},
                {"state_dir", c.state_dir},
                {"pin_dir", c.pin_dir},
                {"log_level", c.log_level},
                {"metrics_auth", c.metrics_auth},
                {"demo", c.demo},
                {"retention", c.retention},
                {"max_events", c.max_events},
                {"tls_cert", c.tls_cert},
                {"tls_key", c.tls_key},
                {"tls_self_signed", c.tls_self_signed},
                {"allowed_origins", origins}};
  std::ostringstream out;
  out << t;
  return out.str();
}

bool same(const adam::DaemonConfig& a, const adam::DaemonConfig& b) {
  return a.listen == b.listen && a.state_dir == b.state_dir && a.pin_dir == b.pin_dir &&
         a.log_level == b.log_level && a.metrics_auth == b.metrics_auth && a.demo == b.demo &&
         a.retention == b.retention && a.max_events == b.max_events && a.tls_cert == b.tls_cert &&
         a.tls_key == b.tls_key && a.tls_self_signed == b.tls_self_signed &&
         a.allowed_origins == b.allowed_origins;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string& path = config_path();
  write_file(path, std::string(reinterpret_cast<const char*>(bytes), size));
  adam::DaemonConfig config;
  try {
    adam::load_config_file(path, config);
  } catch (const std::invalid_argument& e) {
    FUZZ_CHECK(std::string_view(e.what()).starts_with(path),
               std::string("does not name the file: ") + e.what());
    return 0;
  }
  FUZZ_CHECK(config.max_events >= 0, std::to_string(config.max_events));
  try {
    const adam::ListenAddress address = adam::parse_listen(config.listen);
    FUZZ_CHECK(address.port >= 0 && address.port <= 65535 && !address.host.empty(), config.listen);
  } catch (const std::invalid_argument&) {
  }

  write_file(path, as_toml(config));
  adam::DaemonConfig again;
  try {
    adam::load_config_file(path, again);
  } catch (const std::invalid_argument& e) {
    FUZZ_CHECK(false, std::string("an accepted config written back is refused: ") + e.what());
  }
  FUZZ_CHECK(same(config, again), "an accepted config does not read back the same:\n" + as_toml(config));
  return 0;
}
