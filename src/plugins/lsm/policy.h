#pragma once
// An enforcement policy (docs/lsm.md "Policies"), its JSON, and the plain
// C++ reference of what it matches: the semantics every mechanism (the BPF
// tables, fanotify's answers) must agree with, and what the differential
// tests compare them to.
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adam/lsm.h"
#include "core/time_range.h"

namespace adam::lsm {

enum class Kind : uint8_t {
  exec = ADAM_LSM_KIND_EXEC,
  file = ADAM_LSM_KIND_FILE,
  connect = ADAM_LSM_KIND_CONNECT,
  bind = ADAM_LSM_KIND_BIND,
};
enum class Action : uint8_t { audit = ADAM_LSM_ACTION_AUDIT, deny = ADAM_LSM_ACTION_DENY };
enum class Mechanism : uint8_t {
  bpf_lsm = ADAM_LSM_MECH_BPF_LSM,
  cgroup = ADAM_LSM_MECH_CGROUP,
  fanotify = ADAM_LSM_MECH_FANOTIFY,
  signal = ADAM_LSM_MECH_SIGNAL,
};
inline constexpr std::array<Kind, ADAM_LSM_KINDS> kAllKinds{Kind::exec, Kind::file, Kind::connect,
                                                            Kind::bind};

std::string_view name_of(Kind kind);            // "exec", ...
std::string_view name_of(Action action);        // "audit", "deny"
std::string_view name_of(Mechanism mechanism);  // "bpf_lsm", "cgroup", "fanotify", "signal"
// An open's ADAM_LSM_ACCESS_* bits as events show them: "read", "write", "read,write".
std::string_view access_name(uint8_t access);
std::optional<Kind> kind_named(std::string_view name);
std::optional<Mechanism> mechanism_named(std::string_view name);

// An IPv4 or IPv6 network. IPv4 is family 4 with the address in bytes 0..3.
struct Cidr {
  uint8_t family = 4;  // 4 or 6
  std::array<uint8_t, 16> addr{};
  uint8_t prefix_len = 0;  // 0..32 or 0..128
  bool operator==(const Cidr&) const = default;
};
struct PortRange {
  uint16_t lo = 0, hi = 0;  // inclusive, 1..65535
  bool operator==(const PortRange&) const = default;
};

// Empty lists match everything (AND between fields, OR inside one).
struct Scope {
  std::vector<uint32_t> uid;
  std::vector<std::string> comm;
  std::vector<std::string> cgroup;  // cgroup v2 paths, e.g. "/system.slice/web.service"
  std::vector<std::string> parent;  // binary paths: exact, or a prefix ending in '/'
};

struct Match {
  std::vector<std::string> path;  // exec, file: exact, or a prefix ending in '/'
  uint8_t access = ADAM_LSM_ACCESS_READ | ADAM_LSM_ACCESS_WRITE;  // file
  std::vector<Cidr> addr;                                         // connect: "dst", bind: "addr"
  std::vector<PortRange> port;                                    // connect: "dst_port", bind: "port"
  bool tcp = true, udp = true;                                    // "proto"
};

// What a policy is on this machine: its paths with symlinks resolved and
// its cgroups as ids (resolve()). Not stored: made again at every start.
struct Resolved {
  std::vector<std::string> path;     // match.path, each resolved
  std::vector<std::string> parent;   // scope.parent, each resolved
  std::vector<uint64_t> cgroup_ids;  // scope.cgroup, each the directory's inode
};

struct Policy {
  int64_t id = 0;  // 0 until stored
  std::string name;
  std::string description;
  Kind kind = Kind::exec;
  Action action = Action::audit;
  bool enabled = true;
  int32_t priority = 0;
  bool fail_closed = false;  // "fail": "closed"
  bool force = false;
  Scope scope;
  Match match;
  TimeNs created = 0, updated = 0;
  Resolved resolved;
};

// The policy a JSON body describes (POST/PUT, docs/lsm.md). Checks all that
// needs no machine: throws ApiError 400 naming the field ("match.path[1]").
// id, created, updated and the read-only fields are ignored.
Policy policy_from_json(const nlohmann::json& body);
// The stored fields (docs/lsm.md), without what depends on the machine
// (mechanism, resolved, hits, warnings, links: the routes add those).
nlohmann::json policy_to_json(const Policy& policy);
// Fills policy.resolved for this machine: paths with their existing part's
// symlinks resolved, cgroups to ids under `cgroup2_mount`. Throws ApiError
// 422 naming the field when a scope.cgroup does not exist, or when a deny
// policy hits the `force` rule (docs/lsm.md).
void resolve(Policy& policy, const std::string& cgroup2_mount);

// What is being decided: an operation of a process.
struct Request {
  Kind kind = Kind::exec;
  uint32_t uid = 0;
  std::string comm;
  std::vector<uint64_t> cgroup_ids;  // the process's cgroup, then its ancestors
  std::string parent;                // the binary of scope.parent's process (docs/lsm.md)
  std::string path;                  // exec, file: resolved, absolute
  uint8_t access = 0;                // file: ADAM_LSM_ACCESS_* of the open
  Cidr addr;                         // connect, bind: the address, prefix_len 32 or 128
  uint16_t port = 0;                 // connect, bind
  bool udp = false;                  // connect, bind: else tcp
};

// Whether `pattern` (exact, or a prefix ending in '/') matches `path`.
bool path_matches(std::string_view pattern, std::string_view path);
bool cidr_contains(const Cidr& net, const Cidr& address);
// The reference: the enabled policy of req.kind, first by (priority, id),
// whose every field matches req (paths through `resolved`), or null.
const Policy* first_match(const std::vector<Policy>& policies, const Request& req);

}  // namespace adam::lsm
