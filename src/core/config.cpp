#include "core/config.h"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace adam {

void load_config_file(const std::string& path, DaemonConfig& config) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw std::invalid_argument(fmt::format("{}:{}:{}: {}", path, e.source().begin.line,
                                            e.source().begin.column, std::string(e.description())));
  }
  for (const auto& entry : table) {
    // Not a structured binding: clang 14 cannot capture one in the lambdas below.
    const auto& raw_key = entry.first;
    const auto& node = entry.second;
    std::string key(raw_key.str());
    std::replace(key.begin(), key.end(), '-', '_');
    // Every setting is a name, a path or an address: a control character
    // (a newline pasted inside the quotes, say) is a mistake, told here
    // rather than as a strange path or address later.
    auto refuse_control = [&](const std::string& v) {
      auto bad = std::find_if(v.begin(), v.end(),
                              [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
      if (bad != v.end())
        throw std::invalid_argument(fmt::format("{}: '{}' holds a control character (U+{:04X}) at offset {}",
                                                path, raw_key.str(), static_cast<unsigned char>(*bad),
                                                bad - v.begin()));
    };
    auto want_string = [&](std::string& out) {
      auto v = node.value<std::string>();
      if (!v) throw std::invalid_argument(fmt::format("{}: '{}' must be a string", path, raw_key.str()));
      refuse_control(*v);
      out = *v;
    };
    auto want_bool = [&](bool& out) {
      auto v = node.value<bool>();
      if (!v || !node.is_boolean())
        throw std::invalid_argument(fmt::format("{}: '{}' must be true or false", path, raw_key.str()));
      out = *v;
    };
    if (key == "listen")
      want_string(config.listen);
    else if (key == "state_dir")
      want_string(config.state_dir);
    else if (key == "pin_dir")
      want_string(config.pin_dir);
    else if (key == "log_level")
      want_string(config.log_level);
    else if (key == "metrics_auth")
      want_bool(config.metrics_auth);
    else if (key == "demo")
      want_bool(config.demo);
    else if (key == "retention")
      want_string(config.retention);
    else if (key == "tls_cert")
      want_string(config.tls_cert);
    else if (key == "tls_key")
      want_string(config.tls_key);
    else if (key == "tls_self_signed")
      want_bool(config.tls_self_signed);
    else if (key == "allowed_origins") {
      const toml::array* origins = node.as_array();
      if (!origins)
        throw std::invalid_argument(fmt::format("{}: '{}' must be an array of strings", path, raw_key.str()));
      config.allowed_origins.clear();
      for (const auto& origin : *origins) {
        auto v = origin.value<std::string>();
        if (!v)
          throw std::invalid_argument(
              fmt::format("{}: '{}' must be an array of strings", path, raw_key.str()));
        refuse_control(*v);
        config.allowed_origins.push_back(*v);
      }
    } else if (key == "max_events") {
      // as_integer(), not value<int64_t>(): toml++ 3.3 converts a float to
      // an integer by a cast that is undefined beyond int64's range (1e123).
      const auto* v = node.as_integer();
      if (!v || v->get() < 0)
        throw std::invalid_argument(fmt::format("{}: '{}' must be a whole number >= 0", path, raw_key.str()));
      config.max_events = v->get();
    } else
      throw std::invalid_argument(
          fmt::format("{}: unknown setting '{}' (known: listen, state_dir, pin_dir, "
                      "log_level, metrics_auth, demo, retention, max_events, tls_cert, tls_key, "
                      "tls_self_signed, allowed_origins)",
                      path, raw_key.str()));
  }
}

ListenAddress parse_listen(const std::string& text) {
  ListenAddress out;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw std::invalid_argument(fmt::format("listen address '{}': expected [ipv6]:port", text));
    out.host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos)
      throw std::invalid_argument(fmt::format("listen address '{}': expected host:port", text));
    out.host = text.substr(0, colon);
    if (out.host.find(':') != std::string::npos)
      throw std::invalid_argument(fmt::format("listen address '{}': put an IPv6 host in brackets", text));
    port_text = text.substr(colon + 1);
  }
  if (out.host.empty()) out.host = "::";
  int port = -1;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port < 0 || port > 65535)
    throw std::invalid_argument(fmt::format("listen address '{}': port must be 0-65535", text));
  out.port = port;
  return out;
}

}  // namespace adam
