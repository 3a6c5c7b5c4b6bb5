// The lsm plugin's reference matcher (src/plugins/lsm/policy_match.cpp): the
// semantics of docs/lsm.md "Policies" that the BPF tables and the fanotify
// back end are compared with, as a table of (description, request, the
// policy that decides or none).
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "plugins/lsm/policy.h"

namespace adam::lsm {
namespace {

Cidr v4(const char* text, uint8_t len = 32) {
  Cidr c;
  c.family = 4;
  c.prefix_len = len;
  EXPECT_EQ(inet_pton(AF_INET, text, c.addr.data()), 1) << text;
  return c;
}

Cidr v6(const char* text, uint8_t len = 128) {
  Cidr c;
  c.family = 6;
  c.prefix_len = len;
  EXPECT_EQ(inet_pton(AF_INET6, text, c.addr.data()), 1) << text;
  return c;
}

Policy exec_policy(int64_t id, std::vector<std::string> paths, int32_t priority = 0) {
  Policy p;
  p.id = id;
  p.kind = Kind::exec;
  p.action = Action::deny;
  p.priority = priority;
  p.match.path = paths;
  p.resolved.path = paths;
  return p;
}

Policy file_policy(int64_t id, std::vector<std::string> paths, uint8_t access) {
  Policy p = exec_policy(id, std::move(paths));
  p.kind = Kind::file;
  p.match.access = access;
  return p;
}

Policy net_policy(int64_t id, Kind kind, std::vector<Cidr> nets, std::vector<PortRange> ports,
                  bool tcp = true, bool udp = true) {
  Policy p;
  p.id = id;
  p.kind = kind;
  p.action = Action::audit;
  p.match.addr = std::move(nets);
  p.match.port = std::move(ports);
  p.match.tcp = tcp;
  p.match.udp = udp;
  return p;
}

Request exec_of(std::string path) {
  Request r;
  r.kind = Kind::exec;
  r.path = std::move(path);
  r.uid = 1000;
  r.comm = "bash";
  r.parent = "/usr/bin/bash";
  r.cgroup_ids = {300, 200, 1};
  return r;
}

Request net_of(Kind kind, Cidr addr, uint16_t port, bool udp = false) {
  Request r;
  r.kind = kind;
  r.addr = addr;
  r.port = port;
  r.udp = udp;
  return r;
}

std::optional<int64_t> decided_by(const std::vector<Policy>& policies, const Request& req) {
  const Policy* p = first_match(policies, req);
  return p ? std::optional<int64_t>(p->id) : std::nullopt;
}

TEST(LsmMatch, PathsExactAndPrefix) {
  EXPECT_TRUE(path_matches("/usr/bin/nc", "/usr/bin/nc"));
  EXPECT_FALSE(path_matches("/usr/bin/nc", "/usr/bin/nc.openbsd"));
  EXPECT_FALSE(path_matches("/usr/bin/nc", "/usr/bin/n"));
  EXPECT_TRUE(path_matches("/tmp/", "/tmp/x"));
  EXPECT_TRUE(path_matches("/tmp/", "/tmp/a/b/c"));
  EXPECT_FALSE(path_matches("/tmp/", "/tmp"));  // the directory itself is not under it
  EXPECT_FALSE(path_matches("/tmp/", "/tmpfoo/x"));
  EXPECT_TRUE(path_matches("/", "/anything"));
}

TEST(LsmMatch, CidrContains) {
  EXPECT_TRUE(cidr_contains(v4("203.0.113.0", 24), v4("203.0.113.77")));
  EXPECT_FALSE(cidr_contains(v4("203.0.113.0", 24), v4("203.0.114.1")));
  EXPECT_TRUE(cidr_contains(v4("203.0.113.64", 26), v4("203.0.113.127")));
  EXPECT_FALSE(cidr_contains(v4("203.0.113.64", 26), v4("203.0.113.128")));
  EXPECT_TRUE(cidr_contains(v4("0.0.0.0", 0), v4("198.51.100.1")));
  EXPECT_FALSE(cidr_contains(v4("0.0.0.0", 0), v6("2001:db8::1")));  // families never mix
  EXPECT_TRUE(cidr_contains(v6("2001:db8::", 32), v6("2001:db8:1::5")));
  EXPECT_FALSE(cidr_contains(v6("2001:db8::", 33), v6("2001:db8:8000::1")));
}

TEST(LsmMatch, FirstByPriorityThenId) {
  std::vector<Policy> policies = {exec_policy(5, {"/tmp/"}, 10), exec_policy(3, {"/tmp/x"}, 10),
                                  exec_policy(9, {"/tmp/x"}, 20), exec_policy(1, {"/usr/"}, 0)};
  EXPECT_EQ(decided_by(policies, exec_of("/tmp/x")), 3);  // priority 10, lower id than 5
  EXPECT_EQ(decided_by(policies, exec_of("/tmp/y")), 5);
  EXPECT_EQ(decided_by(policies, exec_of("/usr/bin/true")), 1);
  EXPECT_EQ(decided_by(policies, exec_of("/opt/x")), std::nullopt);
  policies[1].enabled = false;  // a disabled policy is passed over
  EXPECT_EQ(decided_by(policies, exec_of("/tmp/x")), 5);
}

TEST(LsmMatch, MatchesOnlyItsKind) {
  std::vector<Policy> policies = {file_policy(1, {"/tmp/"}, ADAM_LSM_ACCESS_READ | ADAM_LSM_ACCESS_WRITE)};
  EXPECT_EQ(decided_by(policies, exec_of("/tmp/x")), std::nullopt);
}

TEST(LsmMatch, EnforcedPathsAreTheResolvedOnes) {
  Policy p = exec_policy(1, {"/bin/sh"});
  p.resolved.path = {"/usr/bin/dash"};
  EXPECT_EQ(decided_by({p}, exec_of("/usr/bin/dash")), 1);
  EXPECT_EQ(decided_by({p}, exec_of("/bin/sh")), std::nullopt);  // the kernel never sees the link's name
}

TEST(LsmMatch, FileAccess) {
  std::vector<Policy> writes = {file_policy(1, {"/etc/ssh/"}, ADAM_LSM_ACCESS_WRITE)};
  Request r = exec_of("/etc/ssh/sshd_config");
  r.kind = Kind::file;
  r.access = ADAM_LSM_ACCESS_READ;
  EXPECT_EQ(decided_by(writes, r), std::nullopt);
  r.access = ADAM_LSM_ACCESS_WRITE;
  EXPECT_EQ(decided_by(writes, r), 1);
  r.access = ADAM_LSM_ACCESS_READ | ADAM_LSM_ACCESS_WRITE;  // O_RDWR writes too
  EXPECT_EQ(decided_by(writes, r), 1);
}

TEST(LsmMatch, ScopeIsAndBetweenFieldsOrInside) {
  Policy p = exec_policy(1, {"/usr/bin/nc"});
  p.scope.uid = {0, 1000};
  p.scope.comm = {"bash", "sh"};
  p.resolved.cgroup_ids = {200};  // an ancestor of the request's cgroup
  p.resolved.parent = {"/usr/bin/"};
  const Request r = exec_of("/usr/bin/nc");
  EXPECT_EQ(decided_by({p}, r), 1);

  Request other_uid = r;
  other_uid.uid = 33;
  EXPECT_EQ(decided_by({p}, other_uid), std::nullopt);
  Request other_comm = r;
  other_comm.comm = "python3";
  EXPECT_EQ(decided_by({p}, other_comm), std::nullopt);
  Request other_cgroup = r;
  other_cgroup.cgroup_ids = {400, 1};
  EXPECT_EQ(decided_by({p}, other_cgroup), std::nullopt);
  Request other_parent = r;
  other_parent.parent = "/opt/bin/bash";
  EXPECT_EQ(decided_by({p}, other_parent), std::nullopt);
}

TEST(LsmMatch, NetworkAddressPortProto) {
  std::vector<Policy> policies = {
      net_policy(1, Kind::connect, {v4("203.0.113.0", 24)}, {{8080, 8080}, {9000, 9100}}, true, false),
      net_policy(2, Kind::connect, {v6("2001:db8::", 32)}, {}),
      net_policy(3, Kind::bind, {}, {{1, 1023}}),
  };
  struct Row {
    const char* what;
    Request req;
    std::optional<int64_t> policy;
  } rows[] = {
      {"tcp to the CIDR on a listed port", net_of(Kind::connect, v4("203.0.113.5"), 8080), 1},
      {"tcp to the CIDR in the range", net_of(Kind::connect, v4("203.0.113.5"), 9100), 1},
      {"tcp to the CIDR past the range", net_of(Kind::connect, v4("203.0.113.5"), 9101), std::nullopt},
      {"udp where only tcp is matched", net_of(Kind::connect, v4("203.0.113.5"), 8080, true), std::nullopt},
      {"outside the CIDR", net_of(Kind::connect, v4("198.51.100.5"), 8080), std::nullopt},
      {"IPv6 any port, tcp", net_of(Kind::connect, v6("2001:db8::7"), 1), 2},
      {"IPv6 any port, udp", net_of(Kind::connect, v6("2001:db8::7"), 65535, true), 2},
      {"a bind is not a connect", net_of(Kind::bind, v4("203.0.113.5"), 8080), std::nullopt},
      {"bind of a low port, any address", net_of(Kind::bind, v6("::"), 80), 3},
      {"bind of port 0 matches no port list", net_of(Kind::bind, v4("0.0.0.0"), 0), std::nullopt},
  };
  for (const Row& row : rows) EXPECT_EQ(decided_by(policies, row.req), row.policy) << row.what;
}

}  // namespace
}  // namespace adam::lsm
