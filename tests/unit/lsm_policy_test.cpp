// Policies as JSON (docs/lsm.md "Policies"): each bad body is refused
// naming its field, good ones come back as they went in; resolve() gives
// what the kernel will see (symlinks resolved, prefixes kept as prefixes)
// and applies the force rule.
#include "plugins/lsm/policy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/errors.h"
#include "plugins/monitor/proc_scan.h"

namespace adam::lsm {
namespace {

using nlohmann::json;

json exec_policy() {
  return {
      {"name", "no netcat"}, {"kind", "exec"}, {"action", "deny"}, {"match", {{"path", {"/usr/bin/nc"}}}}};
}

struct BadBody {
  const char* what;
  json body;
  std::string field;
};

TEST(LsmPolicyJson, BadBodiesNameTheirField) {
  auto with = [](json patch) {
    json body = exec_policy();
    body.merge_patch(patch);
    return body;
  };
  const std::string long_path = "/" + std::string(ADAM_LSM_PATH_MAX, 'a');
  std::string deep_path;  // one component more than the kernel reads
  for (int i = 0; i <= ADAM_LSM_PATH_DEPTH; ++i) deep_path += "/d";
  std::string deep_prefix;  // its '/' is the component too many
  for (int i = 0; i < ADAM_LSM_PATH_DEPTH; ++i) deep_prefix += "/d";
  deep_prefix += "/";
  const BadBody bad[] = {
      {"not an object", json::array(), "body"},
      {"no kind", {{"name", "x"}, {"action", "deny"}}, "kind"},
      {"unknown kind", with({{"kind", "ptrace"}}), "kind"},
      {"no name", with({{"name", nullptr}}), "name"},
      {"empty name", with({{"name", ""}}), "name"},
      {"long name", with({{"name", std::string(129, 'n')}}), "name"},
      {"unknown action", with({{"action", "kill"}}), "action"},
      {"no action", with({{"action", nullptr}}), "action"},
      {"unknown field", with({{"colour", "red"}}), "colour"},
      {"enabled not a bool", with({{"enabled", "yes"}}), "enabled"},
      {"priority too large", with({{"priority", 1LL << 40}}), "priority"},
      {"fail unknown", with({{"fail", "maybe"}}), "fail"},
      {"relative path", with({{"match", {{"path", {"/usr/bin/nc", "bin/sh"}}}}}), "match.path[1]"},
      {"path with ..", with({{"match", {{"path", {"/usr/../bin/sh"}}}}}), "match.path[0]"},
      {"path too long", with({{"match", {{"path", {long_path}}}}}), "match.path[0]"},
      {"path too deep", with({{"match", {{"path", {"/usr/bin/nc", deep_path}}}}}), "match.path[1]"},
      {"prefix too deep", with({{"match", {{"path", {deep_prefix}}}}}), "match.path[0]"},
      {"no paths", with({{"match", {{"path", json::array()}}}}), "match.path"},
      {"exec without match", {{"name", "x"}, {"kind", "exec"}, {"action", "deny"}}, "match.path"},
      {"a connect field on exec", with({{"match", {{"dst", {"203.0.113.0/24"}}}}}), "match.dst"},
      {"unknown match field", with({{"match", {{"colour", {"red"}}}}}), "match.colour"},
      {"unknown scope field", with({{"scope", {{"gid", {1}}}}}), "scope.gid"},
      {"negative uid", with({{"scope", {{"uid", {0, -1}}}}}), "scope.uid[1]"},
      {"uid too large", with({{"scope", {{"uid", {1LL << 33}}}}}), "scope.uid[0]"},
      {"long comm", with({{"scope", {{"comm", {"0123456789abcdef"}}}}}), "scope.comm[0]"},
      {"relative cgroup", with({{"scope", {{"cgroup", {"system.slice"}}}}}), "scope.cgroup[0]"},
      {"relative parent", with({{"scope", {{"parent", {"sshd"}}}}}), "scope.parent[0]"},
      {"too many uids", with({{"scope", {{"uid", json(std::vector<int>(ADAM_LSM_MAX_SCOPE + 1, 1))}}}}),
       "scope.uid"},
      {"unknown access",
       {{"name", "x"},
        {"kind", "file"},
        {"action", "deny"},
        {"match", {{"path", {"/etc/"}}, {"access", {"exec"}}}}},
       "match.access[0]"},
      {"bad cidr",
       {{"name", "x"}, {"kind", "connect"}, {"action", "deny"}, {"match", {{"dst", {"203.0.113.300/24"}}}}},
       "match.dst[0]"},
      {"host bits",
       {{"name", "x"}, {"kind", "connect"}, {"action", "deny"}, {"match", {{"dst", {"203.0.113.1/24"}}}}},
       "match.dst[0]"},
      {"prefix too long",
       {{"name", "x"}, {"kind", "connect"}, {"action", "deny"}, {"match", {{"dst", {"2001:db8::/129"}}}}},
       "match.dst[0]"},
      {"port 0",
       {{"name", "x"}, {"kind", "connect"}, {"action", "deny"}, {"match", {{"dst_port", {22, 0}}}}},
       "match.dst_port[1]"},
      {"port too large",
       {{"name", "x"}, {"kind", "bind"}, {"action", "deny"}, {"match", {{"port", {65536}}}}},
       "match.port[0]"},
      {"reversed range",
       {{"name", "x"},
        {"kind", "connect"},
        {"action", "deny"},
        {"match", {{"dst_port", {22, 80, "9100-9000"}}}}},
       "match.dst_port[2]"},
      {"bind's port on connect",
       {{"name", "x"}, {"kind", "connect"}, {"action", "deny"}, {"match", {{"port", {22}}}}},
       "match.port"},
      {"unknown proto",
       {{"name", "x"}, {"kind", "bind"}, {"action", "deny"}, {"match", {{"proto", {"sctp"}}}}},
       "match.proto[0]"},
  };
  for (const BadBody& b : bad) {
    try {
      policy_from_json(b.body);
      ADD_FAILURE() << b.what << ": accepted " << b.body.dump();
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400) << b.what;
      EXPECT_EQ(e.field(), b.field) << b.what << ": " << e.what();
    }
  }
}

TEST(LsmPolicyJson, GoodBodiesRoundTrip) {
  const json good[] = {
      {{"name", "no netcat"},
       {"description", "d"},
       {"kind", "exec"},
       {"action", "deny"},
       {"enabled", true},
       {"priority", 10},
       {"fail", "closed"},
       {"force", false},
       {"scope",
        {{"uid", {1000}},
         {"comm", {"bash"}},
         {"cgroup", {"/system.slice/web.service"}},
         {"parent", {"/usr/sbin/sshd"}}}},
       {"match", {{"path", {"/usr/bin/nc", "/tmp/"}}}}},
      {{"name", "ssh config read-only"},
       {"description", ""},
       {"kind", "file"},
       {"action", "deny"},
       {"enabled", false},
       {"priority", -3},
       {"fail", "open"},
       {"force", false},
       {"scope", json::object()},
       {"match", {{"path", {"/etc/ssh/"}}, {"access", {"write"}}}}},
      {{"name", "no docs net"},
       {"description", ""},
       {"kind", "connect"},
       {"action", "audit"},
       {"enabled", true},
       {"priority", 0},
       {"fail", "open"},
       {"force", false},
       {"scope", json::object()},
       {"match",
        {{"dst", {"203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"}},
         {"dst_port", {8080, "9000-9100"}},
         {"proto", {"tcp"}}}}},
      {{"name", "no low ports"},
       {"description", ""},
       {"kind", "bind"},
       {"action", "deny"},
       {"enabled", true},
       {"priority", 0},
       {"fail", "open"},
       {"force", true},
       {"scope", json::object()},
       {"match", {{"addr", {"0.0.0.0/0", "::/0"}}, {"port", {"1-1023"}}}}},
  };
  for (const json& body : good) {
    json out = policy_to_json(policy_from_json(body));
    out.erase("created");
    out.erase("updated");
    EXPECT_EQ(out, body);
  }
  // A bare address is a host; what GET answers can be sent back as it is.
  json body = exec_policy();
  body["kind"] = "connect";
  body["match"] = {{"dst", {"203.0.113.5"}}};
  body["id"] = 4;
  body["links"] = {{"self", "/api/v1/lsm/policies/4"}};
  body["mechanism"] = "cgroup";
  EXPECT_EQ(policy_to_json(policy_from_json(body))["match"]["dst"], json({"203.0.113.5/32"}));
}

TEST(LsmPolicyResolve, SymlinksAreResolvedAndPrefixesStayPrefixes) {
  const auto dir = std::filesystem::temp_directory_path() / ("lsm_policy_test." + std::to_string(getpid()));
  std::filesystem::create_directories(dir / "real" / "sub");
  std::filesystem::create_symlink(dir / "real", dir / "link");
  Policy p =
      policy_from_json({{"name", "x"},
                        {"kind", "exec"},
                        {"action", "audit"},
                        {"match",
                         {{"path",
                           {(dir / "link").string() + "/", (dir / "link" / "sub" / "nothing-yet").string(),
                            (dir / "link" / "gone" / "deeper/").string(), "/"}}}},
                        {"scope", {{"parent", {(dir / "link" / "sub").string()}}}}});
  resolve(p, "");
  std::filesystem::remove_all(dir);
  const std::string real = std::filesystem::weakly_canonical(dir).string() + "/real";
  EXPECT_EQ(p.resolved.path,
            (std::vector<std::string>{real + "/", real + "/sub/nothing-yet", real + "/gone/deeper/", "/"}));
  EXPECT_EQ(p.resolved.parent, std::vector<std::string>{real + "/sub"});

  // Where /bin/sh is a symlink (Debian: /bin -> usr/bin, sh -> dash), the policy names its target.
  std::error_code ec;
  const auto sh = std::filesystem::canonical("/bin/sh", ec);
  if (ec) GTEST_SKIP() << "no /bin/sh here";
  Policy shell = policy_from_json(
      {{"name", "sh"}, {"kind", "exec"}, {"action", "audit"}, {"match", {{"path", {"/bin/sh"}}}}});
  resolve(shell, "");
  EXPECT_EQ(shell.resolved.path, std::vector<std::string>{sh.string()});
}

TEST(LsmPolicyResolve, ForceRule) {
  auto deny_exec = [](std::vector<std::string> paths, json extra = json::object()) {
    json body = {{"name", "x"}, {"kind", "exec"}, {"action", "deny"}, {"match", {{"path", paths}}}};
    body.merge_patch(extra);
    return policy_from_json(body);
  };
  auto refused_field = [](Policy p) -> std::string {
    try {
      resolve(p, "");
      return "";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 422);
      EXPECT_NE(std::string(e.what()).find("force"), std::string::npos) << e.what();
      return e.field();
    }
  };
  EXPECT_EQ(refused_field(deny_exec({"/usr/bin/nc", "/bin/sh"})), "match.path[1]");
  EXPECT_EQ(refused_field(deny_exec({"/usr/bin/env"})), "match.path[0]");
  EXPECT_EQ(refused_field(deny_exec({"/"})), "match.path[0]");
  EXPECT_EQ(refused_field(deny_exec({"/usr/"})), "match.path[0]");
  EXPECT_EQ(refused_field(deny_exec({"/bin/"})), "match.path[0]");
  EXPECT_EQ(refused_field(deny_exec({"/lib64/ld-linux-x86-64.so.2"})), "match.path[0]");
  // What /bin/sh resolves to is as critical as /bin/sh.
  std::error_code ec;
  const auto sh = std::filesystem::canonical("/bin/sh", ec);
  if (!ec) {
    EXPECT_EQ(refused_field(deny_exec({sh.string()})), "match.path[0]");
  }
  // force, a scope, audit, or another binary: accepted.
  EXPECT_EQ(refused_field(deny_exec({"/bin/sh"}, {{"force", true}})), "");
  EXPECT_EQ(refused_field(deny_exec({"/bin/sh"}, {{"scope", {{"uid", {1000}}}}})), "");
  EXPECT_EQ(refused_field(deny_exec({"/bin/sh"}, {{"action", "audit"}})), "");
  EXPECT_EQ(refused_field(deny_exec({"/usr/bin/nc", "/tmp/"})), "");
  EXPECT_EQ(refused_field(policy_from_json(
                {{"name", "x"}, {"kind", "file"}, {"action", "deny"}, {"match", {{"path", {"/bin/sh"}}}}})),
            "");
}

TEST(LsmPolicyResolve, ACgroupThatDoesNotExistIsRefused) {
  const std::string mount = mon::cgroup2_mount();
  if (mount.empty()) GTEST_SKIP() << "cgroup v2 is not mounted here";
  Policy root = policy_from_json(
      {{"name", "x"}, {"kind", "connect"}, {"action", "deny"}, {"scope", {{"cgroup", {"/"}}}}});
  resolve(root, mount);
  EXPECT_EQ(root.resolved.cgroup_ids, std::vector<uint64_t>{mon::cgroup_id(mount, "/")});
  EXPECT_NE(root.resolved.cgroup_ids[0], 0u);
  Policy p = policy_from_json({{"name", "x"},
                               {"kind", "connect"},
                               {"action", "deny"},
                               {"scope", {{"cgroup", {"/", "/no-such-cgroup-lsm-test"}}}}});
  try {
    resolve(p, mount);
    FAIL() << "accepted a cgroup that does not exist";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 422);
    EXPECT_EQ(e.field(), "scope.cgroup[1]");
  }
}

}  // namespace
}  // namespace adam::lsm
