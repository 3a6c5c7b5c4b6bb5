#pragma once
// A load-balanced service (docs/lb.md "Services"): its JSON, its checks,
// and the address type the lb plugin uses everywhere. Pure control plane:
// nothing here touches the kernel or the network.
#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace adam::lb {

// An IPv4 or IPv6 address, network byte order, IPv4 in the first 4 bytes
// (as bpf/adam/lb.h keeps it).
struct IpAddress {
  uint8_t family = 4;  // 4 or 6
  std::array<uint8_t, 16> bytes{};
  auto operator<=>(const IpAddress&) const = default;
  // "198.51.100.11", "2001:db8::11" (inet_ntop's canonical form).
  std::string to_string() const;
};
// Parses an IPv4 or IPv6 address (no prefix, no port, no zone); throws
// ApiError 400 naming `field` otherwise.
IpAddress parse_address(const std::string& text, const std::string& field);

enum class Mode { l2dsr, ipip };
std::string to_string(Mode mode);

struct HealthCheck {
  enum class Type { tcp, http };
  Type type = Type::tcp;
  uint16_t port = 0;         // 0 in JSON: the service's port (filled in by service_from_json)
  std::string path = "/";    // http only
  uint16_t status = 200;     // http only: the expected status
  uint32_t interval_ms = 1000;  // 100..3,600,000
  uint32_t timeout_ms = 500;    // 10..60,000, below interval_ms
  uint32_t rise = 2;            // 1..100 passes in a row bring a down backend up
  uint32_t fall = 3;            // 1..100 failures in a row take an up backend down
  bool operator==(const HealthCheck&) const = default;
};

struct Backend {
  IpAddress address;
  uint32_t weight = 100;  // 0..65535; 0 drains: no new flows, existing flows stay
  bool operator==(const Backend&) const = default;
};

struct Service {
  int64_t id = 0;  // assigned by the store
  std::string name;
  IpAddress vip;
  uint16_t port = 0;  // 1..65535
  uint8_t proto = 6;  // IPPROTO_TCP or IPPROTO_UDP
  Mode mode = Mode::l2dsr;
  uint32_t table_size = 65537;  // prime, >= 100 x backends, <= ADAM_LB_MAX_TABLE_SIZE
  double depool_threshold = 0.5;  // 0..1: the largest share of weighted backends health checks may take out
  std::vector<Backend> backends;  // unique addresses, at most ADAM_LB_MAX_BACKENDS in all services
  std::optional<HealthCheck> health;  // none: every backend counts as up
  bool operator==(const Service&) const = default;
};

// The body of POST/PUT /api/v1/lb/services (docs/lb.md): every field
// checked, unknown fields refused; throws ApiError 400 naming the field path
// ("backends[2].weight", "health.interval_ms", "table_size"). The id is not
// read from the body.
Service service_from_json(const nlohmann::json& body);
// The stored form: the body's fields with every default filled in, and the id.
nlohmann::json service_to_json(const Service& service);
// A backend body ({"address", "weight"}), checked as above under `field`.
Backend backend_from_json(const nlohmann::json& body, const std::string& field);

// Checks `service` against the others (itself excluded by id): the same
// (vip, port, proto) as another is 409 naming "vip"; more backends than the
// kernel's slots in all services, or more services than ADAM_LB_MAX_SERVICES,
// is 422 naming "backends" / "vip".
void check_against(const Service& service, const std::vector<Service>& others);

bool is_prime(uint32_t n);

}  // namespace adam::lb
