// Services as JSON (docs/lb.md "Services"): every check that needs neither
// the kernel nor the network, so a body is refused before anything is
// stored; errors name the field as a path into the body
// ("backends[2].weight", "health.timeout_ms").
#include "plugins/lb/service.h"

#include <arpa/inet.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <span>

#include "adam/lb.h"
#include "core/errors.h"

namespace adam::lb {
namespace {

using nlohmann::json;

constexpr size_t kMaxNameChars = 64;
constexpr size_t kMaxPathBytes = 1024;
constexpr uint8_t kTcp = 6, kUdp = 17;

std::string proto_name(uint8_t proto) { return proto == kUdp ? "udp" : "tcp"; }

// A client's value in a message: the start of a long one, invalid UTF-8
// replaced (a megabyte value must not come back whole).
std::string shown(const json& v) {
  const std::string text = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() <= 64 ? text : text.substr(0, 64) + "...";
}

// One JSON object of a body, its fields read by key and named by their path
// in errors. Keys that are neither read nor `ignored` are refused: a typo
// must not silently fall back to a default.
class Fields {
 public:
  Fields(const json& j, std::string at, std::initializer_list<std::string_view> known,
         std::span<const std::string_view> ignored = {})
      : j_(j), path_(std::move(at)) {
    if (!j.is_object())
      throw bad_request(path_.empty() ? "body" : path_, "must be a JSON object, got " + shown(j));
    for (const auto& item : j.items()) {
      // A plain reference, not a structured binding: clang 14 refuses to capture one.
      const std::string& key = item.key();
      const auto is = [&](std::string_view k) { return k == key; };
      if (std::none_of(known.begin(), known.end(), is) && std::none_of(ignored.begin(), ignored.end(), is))
        throw bad_request(path(key), "unknown field '" + key + "'");
    }
  }

  std::string path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  bool has(std::string_view key) const { return j_.contains(key); }
  const json& required(std::string_view key, const std::string& what) const {
    if (!has(key)) throw bad_request(path(key), "missing field '" + std::string(key) + "' (" + what + ")");
    return j_.at(std::string(key));
  }

  // An integer field within [lo, hi]; `fallback` when absent.
  int64_t integer(std::string_view key, int64_t lo, int64_t hi, int64_t fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(std::string(key));
    std::optional<int64_t> value;
    if (v.is_number_unsigned()) {
      if (v.get<uint64_t>() <= static_cast<uint64_t>(hi)) value = v.get<int64_t>();
    } else if (v.is_number_integer()) {
      value = v.get<int64_t>();
    }
    if (!value || *value < lo || *value > hi)
      throw bad_request(path(key), "must be an integer from " + std::to_string(lo) + " to " +
                                       std::to_string(hi) + ", got " + shown(v));
    return *value;
  }

  // One of `names`, as its index; `fallback` when absent.
  size_t choice(std::string_view key, std::initializer_list<std::string_view> names, size_t fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(std::string(key));
    for (size_t i = 0; i < names.size(); ++i)
      if (v.is_string() && v.get<std::string>() == names.begin()[i]) return i;
    std::string list;
    for (auto name : names) list += (list.empty() ? "\"" : ", \"") + std::string(name) + "\"";
    throw bad_request(path(key), "must be one of " + list + ", got " + shown(v));
  }

  std::string text(std::string_view key, const std::string& what) const {
    const json& v = required(key, what);
    if (!v.is_string()) throw bad_request(path(key), "must be a string (" + what + "), got " + shown(v));
    return v.get<std::string>();
  }

  IpAddress address(std::string_view key) const {
    const json& v = required(key, "an IPv4 or IPv6 address");
    if (!v.is_string())
      throw bad_request(path(key), "must be an IPv4 or IPv6 address string, got " + shown(v));
    return parse_address(v.get<std::string>(), path(key));
  }

  const json& at(std::string_view key) const { return j_.at(std::string(key)); }

 private:
  const json& j_;
  std::string path_;
};

// 1..64 characters of valid UTF-8, none of them a control character.
std::string checked_name(const std::string& name, const std::string& field) {
  size_t chars = 0;
  for (size_t i = 0; i < name.size(); ++chars) {
    const auto lead = static_cast<unsigned char>(name[i]);
    const size_t length = lead < 0x80         ? 1
                          : (lead >> 5) == 6  ? 2
                          : (lead >> 4) == 14 ? 3
                          : (lead >> 3) == 30 ? 4
                                              : 0;
    bool valid = length > 0 && i + length <= name.size();
    for (size_t k = 1; valid && k < length; ++k) valid = (static_cast<unsigned char>(name[i + k]) >> 6) == 2;
    if (!valid) throw bad_request(field, "is not valid UTF-8");
    if (lead < 0x20 || lead == 0x7f) throw bad_request(field, "must not contain control characters");
    i += length;
  }
  if (chars < 1 || chars > kMaxNameChars)
    throw bad_request(
        field, "must be 1 to " + std::to_string(kMaxNameChars) + " characters, got " + std::to_string(chars));
  return name;
}

// The probe's request line is "GET <path> HTTP/1.1": an absolute path of
// visible ASCII, so nothing a client writes can split it.
std::string checked_http_path(const std::string& path, const std::string& field) {
  if (path.empty() || path[0] != '/' || path.size() > kMaxPathBytes)
    throw bad_request(field, "must be an absolute path (\"/healthz\") of at most " +
                                 std::to_string(kMaxPathBytes) + " bytes");
  if (!std::all_of(path.begin(), path.end(), [](char c) { return c > 0x20 && c < 0x7f; }))
    throw bad_request(field, "must be visible ASCII without spaces (percent-encode the rest)");
  return path;
}

bool is_unspecified_or_multicast(const IpAddress& a) {
  if (a.family == 4)
    return (a.bytes[0] == 0 && a.bytes[1] == 0 && a.bytes[2] == 0 && a.bytes[3] == 0) ||
           (a.bytes[0] >= 224 && a.bytes[0] < 240);
  return a.bytes[0] == 0xff || std::all_of(a.bytes.begin(), a.bytes.end(), [](uint8_t b) { return b == 0; });
}

IpAddress unicast_address(const Fields& f, std::string_view key) {
  IpAddress a = f.address(key);
  if (is_unspecified_or_multicast(a))
    throw bad_request(f.path(key), a.to_string() + " is not a unicast address");
  return a;
}

HealthCheck health_from_json(const json& j, const std::string& path, uint16_t service_port) {
  const Fields f(j, path, {"type", "port", "path", "status", "interval_ms", "timeout_ms", "rise", "fall"});
  HealthCheck h;
  f.required("type", "\"tcp\" or \"http\"");
  h.type = f.choice("type", {"tcp", "http"}, 0) == 0 ? HealthCheck::Type::tcp : HealthCheck::Type::http;
  h.port = static_cast<uint16_t>(f.integer("port", 1, 65535, service_port));
  if (h.type == HealthCheck::Type::tcp) {
    for (const char* key : {"path", "status"})
      if (f.has(key)) throw bad_request(f.path(key), std::string("is for http checks only; this one is tcp"));
  } else {
    if (f.has("path")) h.path = checked_http_path(f.text("path", "an absolute path"), f.path("path"));
    h.status = static_cast<uint16_t>(f.integer("status", 100, 599, h.status));
  }
  h.interval_ms = static_cast<uint32_t>(f.integer("interval_ms", 100, 3'600'000, h.interval_ms));
  h.timeout_ms = static_cast<uint32_t>(f.integer("timeout_ms", 10, 60'000, h.timeout_ms));
  if (h.timeout_ms >= h.interval_ms)
    throw bad_request(f.path("timeout_ms"), "must be below interval_ms (" + std::to_string(h.interval_ms) +
                                                "), got " + std::to_string(h.timeout_ms));
  h.rise = static_cast<uint32_t>(f.integer("rise", 1, 100, h.rise));
  h.fall = static_cast<uint32_t>(f.integer("fall", 1, 100, h.fall));
  return h;
}

json health_to_json(const HealthCheck& h) {
  json j = {{"type", h.type == HealthCheck::Type::tcp ? "tcp" : "http"}, {"port", h.port}};
  if (h.type == HealthCheck::Type::http) {
    j["path"] = h.path;
    j["status"] = h.status;
  }
  j["interval_ms"] = h.interval_ms;
  j["timeout_ms"] = h.timeout_ms;
  j["rise"] = h.rise;
  j["fall"] = h.fall;
  return j;
}

// The resource's read-only parts (docs/lb.md "The resource"): a GET's
// output can be edited and PUT back, these parts being ignored.
constexpr std::string_view kServiceReadOnly[] = {"id", "depool", "stats", "warnings", "links"};
constexpr std::string_view kBackendReadOnly[] = {"state",    "in_table", "table_entries", "health",
                                                 "next_hop", "stats",    "links"};

}  // namespace

std::string IpAddress::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof text);
  return text;
}

IpAddress parse_address(const std::string& text, const std::string& field) {
  IpAddress a;
  a.family = text.find(':') == std::string::npos ? 4 : 6;
  if (::inet_pton(a.family == 4 ? AF_INET : AF_INET6, text.c_str(), a.bytes.data()) != 1)
    throw bad_request(field, "\"" + text.substr(0, 64) +
                                 "\" is not an IPv4 or IPv6 address (no prefix length, port or zone)");
  // ::ffff:a.b.c.d would be an IPv6 backend that the kernel reaches over IPv4.
  const bool mapped = a.family == 6 &&
                      std::all_of(a.bytes.begin(), a.bytes.begin() + 10, [](uint8_t b) { return b == 0; }) &&
                      a.bytes[10] == 0xff && a.bytes[11] == 0xff;
  if (mapped) {
    IpAddress v4;
    std::copy(a.bytes.begin() + 12, a.bytes.end(), v4.bytes.begin());
    throw bad_request(field, "\"" + text + "\" is an IPv4-mapped address: write it as " + v4.to_string());
  }
  return a;
}

std::string to_string(Mode mode) { return mode == Mode::ipip ? "ipip" : "l2dsr"; }

Backend backend_from_json(const json& body, const std::string& field) {
  const Fields f(body, field, {"address", "weight"}, kBackendReadOnly);
  Backend b;
  b.address = unicast_address(f, "address");
  b.weight = static_cast<uint32_t>(f.integer("weight", 0, 65535, b.weight));
  return b;
}

Service service_from_json(const json& body) {
  const Fields f(
      body, "",
      {"name", "vip", "port", "proto", "mode", "table_size", "depool_threshold", "backends", "health"},
      kServiceReadOnly);
  Service s;
  s.name = checked_name(f.text("name", "1 to 64 characters"), "name");
  s.vip = unicast_address(f, "vip");
  f.required("port", "1 to 65535");
  s.port = static_cast<uint16_t>(f.integer("port", 1, 65535, 0));
  s.proto = f.choice("proto", {"tcp", "udp"}, 0) == 0 ? kTcp : kUdp;
  s.mode = f.choice("mode", {"l2dsr", "ipip"}, 0) == 0 ? Mode::l2dsr : Mode::ipip;

  if (f.has("backends")) {
    const json& list = f.at("backends");
    if (!list.is_array())
      throw bad_request("backends", "must be an array of {\"address\", \"weight\"}, got " + shown(list));
    if (list.size() > ADAM_LB_MAX_BACKENDS)
      throw ApiError(422, "too_many_backends",
                     std::to_string(list.size()) + " backends; the kernel holds at most " +
                         std::to_string(ADAM_LB_MAX_BACKENDS) + " in all services",
                     "backends");
    std::set<IpAddress> seen;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string field = "backends[" + std::to_string(i) + "]";
      Backend b = backend_from_json(list[i], field);
      if (b.address == s.vip) throw bad_request(field + ".address", "is the service's vip");
      if (!seen.insert(b.address).second)
        throw bad_request(field + ".address",
                          b.address.to_string() + " is already a backend of this service");
      s.backends.push_back(b);
    }
  }

  s.table_size = static_cast<uint32_t>(f.integer("table_size", 2, ADAM_LB_MAX_TABLE_SIZE, s.table_size));
  if (!is_prime(s.table_size))
    throw bad_request("table_size",
                      "must be a prime (65537, 131071, ...), got " + std::to_string(s.table_size));
  if (s.table_size < uint64_t{ADAM_LB_MIN_TABLE_FACTOR} * s.backends.size())
    throw bad_request("table_size", "must be at least " + std::to_string(ADAM_LB_MIN_TABLE_FACTOR) +
                                        " entries per backend (" +
                                        std::to_string(ADAM_LB_MIN_TABLE_FACTOR * s.backends.size()) +
                                        " for " + std::to_string(s.backends.size()) + "), got " +
                                        std::to_string(s.table_size));

  if (f.has("depool_threshold")) {
    const json& v = f.at("depool_threshold");
    if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1)
      throw bad_request("depool_threshold", "must be a number from 0 to 1, got " + shown(v));
    s.depool_threshold = v.get<double>();
  }
  // null: none, as service_to_json writes it.
  if (f.has("health") && !f.at("health").is_null())
    s.health = health_from_json(f.at("health"), "health", s.port);
  return s;
}

json service_to_json(const Service& s) {
  json backends = json::array();
  for (const Backend& b : s.backends)
    backends.push_back({{"address", b.address.to_string()}, {"weight", b.weight}});
  return {{"id", s.id},
          {"name", s.name},
          {"vip", s.vip.to_string()},
          {"port", s.port},
          {"proto", proto_name(s.proto)},
          {"mode", to_string(s.mode)},
          {"table_size", s.table_size},
          {"depool_threshold", s.depool_threshold},
          {"backends", std::move(backends)},
          {"health", s.health ? health_to_json(*s.health) : json(nullptr)}};
}

// Trial division: table sizes are at most ADAM_LB_MAX_TABLE_SIZE, a
// thousand divisions.
bool is_prime(uint32_t n) {
  if (n < 2) return false;
  for (uint64_t d = 2; d * d <= n; ++d)
    if (n % d == 0) return false;
  return true;
}

void check_against(const Service& service, const std::vector<Service>& others) {
  size_t services = 1, backends = service.backends.size();
  for (const Service& other : others) {
    if (other.id == service.id) continue;
    if (other.vip == service.vip && other.port == service.port && other.proto == service.proto)
      throw ApiError(409, "conflict",
                     service.vip.to_string() + " port " + std::to_string(service.port) + " " +
                         proto_name(service.proto) + " is already service " + std::to_string(other.id) +
                         " (\"" + other.name + "\")",
                     "vip");
    ++services;
    backends += other.backends.size();
  }
  if (services > ADAM_LB_MAX_SERVICES)
    throw ApiError(422, "too_many_services",
                   "the kernel holds at most " + std::to_string(ADAM_LB_MAX_SERVICES) + " services", "vip");
  if (backends > ADAM_LB_MAX_BACKENDS)
    throw ApiError(422, "too_many_backends",
                   std::to_string(backends) + " backends in all services; the kernel holds at most " +
                       std::to_string(ADAM_LB_MAX_BACKENDS),
                   "backends");
}

}  // namespace adam::lb
