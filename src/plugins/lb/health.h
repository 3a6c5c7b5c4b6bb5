#pragma once
// Health checks of backends (docs/lb.md "Health checks"): TCP connect or an
// HTTP GET with an expected status, every interval, with rise and fall; and
// the depool rule that never takes more than a service's threshold of its
// backends out of the table.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plugins/lb/service.h"

namespace adam::lb {

// One check's outcome.
struct ProbeResult {
  bool ok = false;
  std::string error;  // why not: "connect: Connection refused", "timeout after 500 ms", "status 503, expected 200"
};
// A TCP connect to address:port within the timeout (closed at once).
ProbeResult probe_tcp(const IpAddress& address, uint16_t port, std::chrono::milliseconds timeout);
// GET `path` over HTTP/1.1 (Host: the address, Connection: close) within the
// timeout; ok when the status line's code is `status`.
ProbeResult probe_http(const IpAddress& address, uint16_t port, const std::string& path, uint16_t status,
                       std::chrono::milliseconds timeout);

enum class Health { unknown, up, down };  // unknown (no verdict yet) counts as up
std::string to_string(Health health);

struct BackendHealth {
  Health health = Health::unknown;
  uint32_t passes = 0, failures = 0;  // in a row
  int64_t since_ns = 0;               // wall clock of the last change
  std::string last_error;
  uint64_t checks = 0;
};

struct HealthTarget {
  int64_t service_id = 0;
  IpAddress address;
  HealthCheck check;
  bool operator==(const HealthTarget&) const = default;
};

// Runs every target's checks on one thread (non-blocking sockets, each at
// its own interval). A target's verdict changes after `rise` passes or
// `fall` failures in a row; `on_change` is called (on the checker's thread,
// no lock held) with the new state.
class HealthChecker {
 public:
  using OnChange = std::function<void(const HealthTarget& target, const BackendHealth& now)>;
  explicit HealthChecker(OnChange on_change);
  ~HealthChecker();  // stops and joins
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Replaces the targets; a target that stays (same service, address and
  // check) keeps its state and schedule, a new one starts unknown and is
  // checked at once.
  void set_targets(std::vector<HealthTarget> targets);
  std::optional<BackendHealth> state(int64_t service_id, const IpAddress& address) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The depool rule for one service. `weighted`: its backends with a weight
// above 0, each with its health. At most floor(threshold x weighted.size())
// of them leave the table for being down: the ones that went down first;
// the others stay in although down (`limited`).
struct DepoolDecision {
  std::vector<bool> out;  // per input: false = in the table
  bool limited = false;   // some down backends stayed in because of the threshold
  uint32_t down = 0;      // how many are down
};
DepoolDecision depool(const std::vector<BackendHealth>& weighted, double threshold);

}  // namespace adam::lb
