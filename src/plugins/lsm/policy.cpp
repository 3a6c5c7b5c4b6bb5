// Policies as JSON (docs/lsm.md "Policies") and what they are on this
// machine (resolve()). Every check that needs no machine is here, so a body
// is refused before anything is stored; the errors name the field as a path
// into the body ("match.path[1]", "scope.uid[0]").
#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <limits>
#include <memory>

#include "core/errors.h"
#include "plugins/lsm/policy.h"
#include "plugins/monitor/proc_scan.h"

namespace adam::lsm {

namespace {

using nlohmann::json;

constexpr size_t kMaxName = 128;
constexpr size_t kMaxDescription = 1024;
constexpr size_t kMaxComm = ADAM_MON_COMM_LEN - 1;  // the kernel's comm, NUL excluded

constexpr std::string_view kKindNames[] = {"exec", "file", "connect", "bind"};
constexpr std::string_view kMechanismNames[] = {"bpf_lsm", "cgroup", "fanotify", "signal"};

// The JSON names of a kind's address and port lists (docs/lsm.md).
struct NetFields {
  const char* addr;
  const char* port;
};
NetFields net_fields(Kind kind) {
  return kind == Kind::connect ? NetFields{"dst", "dst_port"} : NetFields{"addr", "port"};
}

// The match fields of each kind, in the order policy_to_json writes them.
std::vector<std::string_view> match_fields(Kind kind) {
  switch (kind) {
    case Kind::exec:
      return {"path"};
    case Kind::file:
      return {"path", "access"};
    case Kind::connect:
      return {"dst", "dst_port", "proto"};
    case Kind::bind:
      return {"addr", "port", "proto"};
  }
  return {};
}

// A client's value quoted in a message: the start of a long one, invalid
// UTF-8 replaced.
std::string quoted(const json& v) {
  constexpr size_t kMax = 64;
  const std::string text = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() <= kMax ? text : text.substr(0, kMax) + "...";
}

std::string item_of(const std::string& field, size_t i) { return field + "[" + std::to_string(i) + "]"; }

void known_keys(const json& j, const std::string& path, const std::vector<std::string_view>& known,
                const std::string& hint) {
  if (!j.is_object()) throw bad_request(path.empty() ? "body" : path, "must be a JSON object");
  for (const auto& [key, value] : j.items())
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw bad_request(path.empty() ? key : path + "." + key, "unknown field '" + key + "'" + hint);
}

std::string text_of(const json& v, const std::string& field, size_t min, size_t max) {
  if (!v.is_string()) throw bad_request(field, "must be a string, got " + quoted(v));
  std::string text = v.get<std::string>();
  if (text.size() < min || text.size() > max)
    throw bad_request(field, "must be " + std::to_string(min) + " to " + std::to_string(max) +
                                 " bytes long, got " + std::to_string(text.size()));
  return text;
}

bool bool_of(const json& v, const std::string& field) {
  if (!v.is_boolean()) throw bad_request(field, "must be true or false, got " + quoted(v));
  return v.get<bool>();
}

// One of `names` (their index), else 400 listing them.
size_t choice_of(const json& v, const std::string& field, const std::vector<std::string_view>& names) {
  for (size_t i = 0; i < names.size(); ++i)
    if (v.is_string() && v.get<std::string>() == names[i]) return i;
  std::string list;
  for (auto name : names) list += (list.empty() ? "" : ", ") + std::string(name);
  throw bad_request(field, "must be one of " + list + ", got " + quoted(v));
}

std::optional<int64_t> integer_of(const json& v) {
  if (v.is_number_unsigned())
    return v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())
               ? std::nullopt
               : std::optional<int64_t>(static_cast<int64_t>(v.get<uint64_t>()));
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

// A JSON array of at most `max` items, each read by `parse(item, "field[i]")`.
template <typename Parse>
auto list_of(const json& v, const std::string& field, size_t min, size_t max, Parse parse) {
  using T = decltype(parse(v, field));
  if (!v.is_array()) throw bad_request(field, "must be an array, got " + quoted(v));
  if (v.size() < min || v.size() > max)
    throw bad_request(field, "must have " + std::to_string(min) + " to " + std::to_string(max) +
                                 " items, got " + std::to_string(v.size()));
  std::vector<T> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(parse(v[i], item_of(field, i)));
  return out;
}

// An absolute, normalized path shorter and shallower than the kernel reads: exact, or a
// prefix ending in '/'. No "." or ".." parts and no "//", so the path means
// what it says before symlinks are resolved.
std::string path_of(const json& v, const std::string& field) {
  const std::string path = text_of(v, field, 1, ADAM_LSM_PATH_MAX - 1);
  if (path[0] != '/')
    throw bad_request(field, "must be an absolute path (starting with '/'), got " + quoted(v));
  if (path.find('\0') != std::string::npos) throw bad_request(field, "must not hold a NUL byte");
  size_t parts = 0;
  for (size_t at = 1; at <= path.size(); ++parts) {
    const size_t end = std::min(path.find('/', at), path.size());
    const std::string_view part(path.data() + at, end - at);
    if ((part.empty() && end != path.size()) || part == "." || part == "..")
      throw bad_request(field, "must be a normalized path (no \"//\", \".\" or \"..\"), got " + quoted(v));
    at = end + 1;
  }
  if (parts > ADAM_LSM_PATH_DEPTH)
    throw bad_request(field, "must have at most " + std::to_string(ADAM_LSM_PATH_DEPTH) +
                                 " components (what the kernel hooks read of a path), got " + quoted(v));
  return path;
}

uint32_t uid_of(const json& v, const std::string& field) {
  auto uid = integer_of(v);
  if (!uid || *uid < 0 || *uid > std::numeric_limits<uint32_t>::max())
    throw bad_request(field, "must be a uid from 0 to 4294967295, got " + quoted(v));
  return static_cast<uint32_t>(*uid);
}

std::string comm_of(const json& v, const std::string& field) { return text_of(v, field, 1, kMaxComm); }

std::string cgroup_of(const json& v, const std::string& field) {
  const std::string path = text_of(v, field, 1, 4095);
  if (path[0] != '/' || path.find("/..") != std::string::npos)
    throw bad_request(field, "must be a cgroup v2 path such as /system.slice, got " + quoted(v));
  return path;
}

std::optional<uint32_t> decimal_of(std::string_view text) {
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// "203.0.113.0/24", "2001:db8::/32" or a bare address (a host). Host bits
// are refused: "10.1.2.3/8" is more likely a mistyped length than 10.0.0.0/8.
Cidr cidr_of(const json& v, const std::string& field) {
  if (!v.is_string()) throw bad_request(field, "must be a CIDR like \"203.0.113.0/24\", got " + quoted(v));
  const std::string text = v.get<std::string>();
  const size_t slash = text.find('/');
  const std::string address = text.substr(0, slash);
  Cidr cidr;
  cidr.family = address.find(':') == std::string::npos ? 4 : 6;
  if (::inet_pton(cidr.family == 4 ? AF_INET : AF_INET6, address.c_str(), cidr.addr.data()) != 1)
    throw bad_request(field, quoted(v) + " is not an IPv4 or IPv6 address or CIDR");
  const uint32_t bits = cidr.family == 4 ? 32 : 128;
  auto len =
      slash == std::string::npos ? std::optional(bits) : decimal_of(std::string_view(text).substr(slash + 1));
  if (!len || *len > bits)
    throw bad_request(field, "the prefix length of " + quoted(v) + " must be 0 to " + std::to_string(bits));
  cidr.prefix_len = static_cast<uint8_t>(*len);
  for (uint32_t bit = *len; bit < bits; ++bit)
    if (cidr.addr[bit / 8] & (0x80u >> (bit % 8)))
      throw bad_request(field, quoted(v) + " has host bits set beyond /" + std::to_string(*len));
  return cidr;
}

std::string cidr_text(const Cidr& cidr) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(cidr.family == 4 ? AF_INET : AF_INET6, cidr.addr.data(), text, sizeof text);
  return std::string(text) + "/" + std::to_string(cidr.prefix_len);
}

// 22 or "1024-65535", ports 1..65535.
PortRange ports_of(const json& v, const std::string& field) {
  const std::string bad = "must be a port 1-65535 or a range \"lo-hi\", got " + quoted(v);
  std::optional<uint32_t> lo, hi;
  if (auto n = integer_of(v); n && *n >= 0 && *n <= 65535) {
    lo = hi = static_cast<uint32_t>(*n);
  } else if (v.is_string()) {
    const std::string text = v.get<std::string>();
    const size_t dash = text.find('-');
    lo = decimal_of(std::string_view(text).substr(0, dash));
    hi = dash == std::string::npos ? lo : decimal_of(std::string_view(text).substr(dash + 1));
  }
  if (!lo || !hi || *lo < 1 || *hi > 65535) throw bad_request(field, bad);
  if (*lo > *hi) throw bad_request(field, "the range " + quoted(v) + " has lo > hi");
  return {static_cast<uint16_t>(*lo), static_cast<uint16_t>(*hi)};
}

json ports_json(const PortRange& r) {
  if (r.lo == r.hi) return r.lo;
  return std::to_string(r.lo) + "-" + std::to_string(r.hi);
}

Scope scope_of(const json& j) {
  known_keys(j, "scope", {"uid", "comm", "cgroup", "parent"}, " (known: uid, comm, cgroup, parent)");
  Scope s;
  const size_t max = ADAM_LSM_MAX_SCOPE;
  if (j.contains("uid")) s.uid = list_of(j["uid"], "scope.uid", 0, max, uid_of);
  if (j.contains("comm")) s.comm = list_of(j["comm"], "scope.comm", 0, max, comm_of);
  if (j.contains("cgroup")) s.cgroup = list_of(j["cgroup"], "scope.cgroup", 0, max, cgroup_of);
  if (j.contains("parent")) s.parent = list_of(j["parent"], "scope.parent", 0, max, path_of);
  return s;
}

// The fields of another kind's match are named as such: a connect field on
// an exec policy is a mistake to point at, not an unknown name.
void only_kind_fields(const json& j, Kind kind) {
  const auto mine = match_fields(kind);
  for (const auto& [key, value] : j.items()) {
    if (std::find(mine.begin(), mine.end(), key) != mine.end()) continue;
    std::string list;
    for (auto f : mine) list += (list.empty() ? "" : ", ") + std::string(f);
    for (Kind other : kAllKinds) {
      const auto theirs = match_fields(other);
      if (std::find(theirs.begin(), theirs.end(), key) != theirs.end())
        throw bad_request("match." + key, "is a field of " + std::string(name_of(other)) + " policies; " +
                                              std::string(name_of(kind)) + " policies match " + list);
    }
    throw bad_request("match." + key, "unknown field '" + key + "' (" + std::string(name_of(kind)) +
                                          " policies match " + list + ")");
  }
}

Match match_of(const json& j, Kind kind) {
  if (!j.is_object()) throw bad_request("match", "must be a JSON object");
  only_kind_fields(j, kind);
  Match m;
  const size_t max = ADAM_LSM_MAX_SCOPE;
  if (kind == Kind::exec || kind == Kind::file) {
    if (!j.contains("path"))
      throw bad_request("match.path", std::string(name_of(kind)) + " policies need match.path");
    m.path = list_of(j["path"], "match.path", 1, max, path_of);
  }
  if (kind == Kind::file && j.contains("access")) {
    const auto bits = list_of(j["access"], "match.access", 1, 2, [](const json& v, const std::string& field) {
      return choice_of(v, field, {"read", "write"}) == 0 ? ADAM_LSM_ACCESS_READ : ADAM_LSM_ACCESS_WRITE;
    });
    m.access = 0;
    for (auto bit : bits) m.access |= static_cast<uint8_t>(bit);
  }
  if (kind == Kind::connect || kind == Kind::bind) {
    const NetFields f = net_fields(kind);
    if (j.contains(f.addr)) m.addr = list_of(j[f.addr], std::string("match.") + f.addr, 0, max, cidr_of);
    if (j.contains(f.port)) m.port = list_of(j[f.port], std::string("match.") + f.port, 0, max, ports_of);
    if (j.contains("proto")) {
      const auto protos =
          list_of(j["proto"], "match.proto", 1, 2, [](const json& v, const std::string& field) {
            return choice_of(v, field, {"tcp", "udp"});
          });
      m.tcp = std::find(protos.begin(), protos.end(), 0) != protos.end();
      m.udp = std::find(protos.begin(), protos.end(), 1) != protos.end();
    }
  }
  return m;
}

template <typename T, typename ToJson>
void put_list(json& j, const char* key, const std::vector<T>& values, ToJson to_json) {
  if (values.empty()) return;
  json list = json::array();
  for (const auto& v : values) list.push_back(to_json(v));
  j[key] = std::move(list);
}

// Shells, env and the dynamic loaders (docs/lsm.md "force"), by the names
// scripts use; each also counts as what it resolves to here (/bin/sh:
// /usr/bin/dash on Debian), and a prefix holding one (/, /usr/bin/) as it.
constexpr std::string_view kCriticalBinaries[] = {"/bin/sh",
                                                  "/bin/bash",
                                                  "/bin/dash",
                                                  "/usr/bin/sh",
                                                  "/usr/bin/bash",
                                                  "/usr/bin/dash",
                                                  "/usr/bin/env",
                                                  "/bin/env",
                                                  "/lib64/ld-linux-x86-64.so.2",
                                                  "/lib/ld-linux-aarch64.so.1",
                                                  "/lib/ld-linux.so.2",
                                                  "/lib/ld-linux-armhf.so.3"};

// `path` with the symlinks of its longest existing prefix resolved and the
// rest kept; a trailing '/' (a prefix) kept.
std::string resolved_path(const std::string& path) {
  const bool prefix = path.size() > 1 && path.back() == '/';
  std::string head = prefix ? path.substr(0, path.size() - 1) : path;
  std::string tail;
  for (;;) {
    std::unique_ptr<char, decltype(&free)> real(::realpath(head.c_str(), nullptr), &free);
    if (real) {
      std::string out = real.get();
      if (!tail.empty()) out += (out == "/" ? "" : "/") + tail;
      if (prefix && out != "/") out += '/';
      return out;
    }
    const size_t slash = head.rfind('/');
    tail = head.substr(slash + 1) + (tail.empty() ? "" : "/" + tail);
    head = slash == 0 ? "/" : head.substr(0, slash);
  }
}

// Why a deny of exec of `pattern` (resolved) for every process needs force,
// or "" when it does not.
std::string force_reason(const std::string& pattern) {
  for (auto binary : kCriticalBinaries) {
    const std::string target = resolved_path(std::string(binary));
    if (path_matches(pattern, binary) || path_matches(pattern, target))
      return "denies " + target + " (" + std::string(binary) +
             ": a shell, env or the dynamic loader, which scripts, logins and services run)";
  }
  return "";
}

}  // namespace

std::string_view name_of(Kind kind) { return kKindNames[static_cast<size_t>(kind)]; }
std::string_view name_of(Action action) { return action == Action::deny ? "deny" : "audit"; }
std::string_view name_of(Mechanism mechanism) { return kMechanismNames[static_cast<size_t>(mechanism)]; }

std::string_view access_name(uint8_t access) {
  if (access == (ADAM_LSM_ACCESS_READ | ADAM_LSM_ACCESS_WRITE)) return "read,write";
  return access & ADAM_LSM_ACCESS_WRITE ? "write" : "read";
}

std::optional<Kind> kind_named(std::string_view name) {
  for (size_t i = 0; i < std::size(kKindNames); ++i)
    if (kKindNames[i] == name) return static_cast<Kind>(i);
  return std::nullopt;
}

std::optional<Mechanism> mechanism_named(std::string_view name) {
  for (size_t i = 0; i < std::size(kMechanismNames); ++i)
    if (kMechanismNames[i] == name) return static_cast<Mechanism>(i);
  return std::nullopt;
}

Policy policy_from_json(const json& body) {
  known_keys(
      body, "",
      {"name", "description", "kind", "action", "enabled", "priority", "fail", "force", "scope", "match",
       // read-only: what GET answers can be sent back as it is
       "id", "mechanism", "mechanism_detail", "resolved", "hits", "warnings", "created", "updated", "links"},
      "");
  Policy p;
  if (!body.contains("kind")) throw bad_request("kind", "is required: exec, file, connect or bind");
  p.kind = static_cast<Kind>(choice_of(body["kind"], "kind", {std::begin(kKindNames), std::end(kKindNames)}));
  if (!body.contains("name")) throw bad_request("name", "is required");
  p.name = text_of(body["name"], "name", 1, kMaxName);
  if (body.contains("description"))
    p.description = text_of(body["description"], "description", 0, kMaxDescription);
  if (!body.contains("action")) throw bad_request("action", "is required: deny or audit");
  p.action = choice_of(body["action"], "action", {"audit", "deny"}) == 0 ? Action::audit : Action::deny;
  if (body.contains("enabled")) p.enabled = bool_of(body["enabled"], "enabled");
  if (body.contains("priority")) {
    auto priority = integer_of(body["priority"]);
    if (!priority || *priority < std::numeric_limits<int32_t>::min() ||
        *priority > std::numeric_limits<int32_t>::max())
      throw bad_request("priority",
                        "must be an integer from -2147483648 to 2147483647, got " + quoted(body["priority"]));
    p.priority = static_cast<int32_t>(*priority);
  }
  if (body.contains("fail")) p.fail_closed = choice_of(body["fail"], "fail", {"open", "closed"}) == 1;
  if (body.contains("force")) p.force = bool_of(body["force"], "force");
  if (body.contains("scope")) p.scope = scope_of(body["scope"]);
  if (!body.contains("match") && (p.kind == Kind::exec || p.kind == Kind::file))
    throw bad_request("match.path", std::string(name_of(p.kind)) + " policies need match.path");
  p.match = match_of(body.value("match", json::object()), p.kind);
  return p;
}

json policy_to_json(const Policy& p) {
  json scope = json::object();
  put_list(scope, "uid", p.scope.uid, [](uint32_t uid) { return uid; });
  put_list(scope, "comm", p.scope.comm, [](const std::string& s) { return s; });
  put_list(scope, "cgroup", p.scope.cgroup, [](const std::string& s) { return s; });
  put_list(scope, "parent", p.scope.parent, [](const std::string& s) { return s; });
  json match = json::object();
  put_list(match, "path", p.match.path, [](const std::string& s) { return s; });
  if (p.kind == Kind::file) {
    match["access"] = json::array();
    if (p.match.access & ADAM_LSM_ACCESS_READ) match["access"].push_back("read");
    if (p.match.access & ADAM_LSM_ACCESS_WRITE) match["access"].push_back("write");
  }
  if (p.kind == Kind::connect || p.kind == Kind::bind) {
    const NetFields f = net_fields(p.kind);
    put_list(match, f.addr, p.match.addr, cidr_text);
    put_list(match, f.port, p.match.port, ports_json);
    if (!(p.match.tcp && p.match.udp)) match["proto"] = {p.match.tcp ? "tcp" : "udp"};
  }
  return {{"name", p.name},
          {"description", p.description},
          {"kind", name_of(p.kind)},
          {"action", name_of(p.action)},
          {"enabled", p.enabled},
          {"priority", p.priority},
          {"fail", p.fail_closed ? "closed" : "open"},
          {"force", p.force},
          {"scope", std::move(scope)},
          {"match", std::move(match)},
          {"created", p.created},
          {"updated", p.updated}};
}

void resolve(Policy& p, const std::string& cgroup2_mount) {
  Resolved r;
  for (const auto& path : p.match.path) r.path.push_back(resolved_path(path));
  for (const auto& path : p.scope.parent) r.parent.push_back(resolved_path(path));
  for (size_t i = 0; i < p.scope.cgroup.size(); ++i) {
    const uint64_t id = cgroup2_mount.empty() ? 0 : mon::cgroup_id(cgroup2_mount, p.scope.cgroup[i]);
    if (id == 0)
      throw ApiError(422, "no_cgroup",
                     "no cgroup " + p.scope.cgroup[i] +
                         (cgroup2_mount.empty() ? " (cgroup v2 is not mounted)" : " under " + cgroup2_mount),
                     item_of("scope.cgroup", i));
    r.cgroup_ids.push_back(id);
  }
  const bool everyone =
      p.scope.uid.empty() && p.scope.comm.empty() && p.scope.cgroup.empty() && p.scope.parent.empty();
  if (p.kind == Kind::exec && p.action == Action::deny && everyone && !p.force)
    for (size_t i = 0; i < r.path.size(); ++i)
      if (const std::string why = force_reason(r.path[i]); !why.empty())
        throw ApiError(422, "needs_force",
                       "a deny of exec for every process that " + why +
                           " would lock users and services out: narrow the scope, or set \"force\": true",
                       item_of("match.path", i));
  p.resolved = std::move(r);
}

}  // namespace adam::lsm
