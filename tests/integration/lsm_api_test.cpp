// The lsm plugin's policy routes through a real adamd: create, read,
// replace, enable, disable, delete with their audit trail; bad input named
// and nothing changed; what no mechanism here can enforce refused with 422;
// policies kept across an adamd restart; and promote counting the real
// lsm.audit events of an audit policy (exec through fanotify) before it
// denies.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "plugins/monitor/proc_scan.h"
#include "support/adamd.h"
#include "support/netns.h"

namespace adam::test {
namespace {

using nlohmann::json;

const std::string kPolicies = "/api/v1/lsm/policies";

std::string url_of(const json& policy) {
  return kPolicies + "/" + std::to_string(policy["id"].get<int64_t>());
}

json exec_policy(const std::string& name, const std::string& path, int priority = 0) {
  return {{"name", name},
          {"kind", "exec"},
          {"action", "audit"},
          {"priority", priority},
          {"match", {{"path", {path}}}}};
}

class LsmApiTest : public AdamdTest {
 protected:
  HttpResponse send(const std::string& method, const std::string& path, const json& body) {
    return d().request(method, path, body.dump(), "", {{"Content-Type", "application/json"}});
  }
  json add(const json& body) {
    const HttpResponse r = send("POST", kPolicies, body);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json();
  }
  json list() {
    const HttpResponse r = d().get(kPolicies);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }
  bool available(const std::string& feature) {
    return d().get("/api/v1/node").json()["features"][feature]["available"] == true;
  }
  std::string adamctl(const std::string& args) {
    return capture(ADAM_BUILD_DIR "/adamctl --url " + d().url() + " --token " + d().admin_token() + " " +
                   args + " 2>&1; echo \"exit=$?\"");
  }
  // The api.change events of this adamd so far.
  json changes() { return d().get("/api/v1/events?kind=api.change&limit=1000").json()["events"]; }
};

TEST_F(LsmApiTest, PoliciesAreCreatedReadReplacedSwitchedAndDeletedWithAnAuditTrail) {
  const json created = add(exec_policy("no netcat", "/usr/bin/nc"));
  const std::string self = url_of(created);
  EXPECT_EQ(created["name"], "no netcat");
  EXPECT_EQ(created["links"]["self"], self);
  EXPECT_EQ(created["links"]["promote"], self + "/promote");
  EXPECT_EQ(created["links"]["events"], "/api/v1/events?plugin=lsm&data.policy_id=" + created["id"].dump());
  EXPECT_EQ(created["hits"], json({{"deny", 0}, {"audit", 0}}));

  // The mechanism shown is what this machine has (/api/v1/node), also while the plugin is stopped.
  const std::string exec_mechanism = available("bpf_lsm")           ? "bpf_lsm"
                                     : available("fanotify")        ? "fanotify"
                                     : available("bpf_send_signal") ? "signal"
                                                                    : "";
  const json l = list();
  EXPECT_EQ(l["mechanisms"]["exec"], exec_mechanism.empty() ? json() : json(exec_mechanism));
  ASSERT_EQ(l["policies"].size(), 1u);
  EXPECT_EQ(l["policies"][0]["mechanism"], l["mechanisms"]["exec"]);

  const json replacement = {{"name", "docs net"},
                            {"kind", "connect"},
                            {"action", "audit"},
                            {"priority", -5},
                            {"match", {{"dst", {"203.0.113.0/24"}}, {"dst_port", {8080, "9000-9100"}}}}};
  HttpResponse r = send("PUT", self, replacement);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["kind"], "connect");
  EXPECT_EQ(r.json()["id"], created["id"]);
  EXPECT_EQ(r.json()["created"], created["created"]);
  EXPECT_EQ(d().get(self).json()["match"]["dst_port"], json({8080, "9000-9100"}));

  r = d().post(self + "/disable");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["enabled"], false);
  EXPECT_EQ(r.json()["links"]["enable"], self + "/enable");
  r = d().post(self + "/enable");
  EXPECT_EQ(r.json()["enabled"], true);

  // Listed by priority, then id.
  const json later = add(exec_policy("later", "/tmp/"));
  const json first = add(exec_policy("first", "/opt/", -9));
  std::vector<json> order;
  const json listed = list();
  for (const auto& p : listed["policies"]) order.push_back(p["id"]);
  EXPECT_EQ(order, (std::vector<json>{first["id"], created["id"], later["id"]}));

  EXPECT_EQ(d().request("DELETE", self).status, 204);
  EXPECT_EQ(d().get(self).status, 404);
  EXPECT_EQ(list()["policies"].size(), 2u);

  // Every change is an api.change event with what it replaced (stored
  // by the event writer, soon).
  json trail;
  auto change_of = [&](const std::string& method, const std::string& path) {
    for (const auto& e : trail)
      if (e["data"].value("method", "") == method && e["data"].value("path", "") == path) return e["data"];
    return json();
  };
  for (int tries = 0; tries < 100 && change_of("DELETE", self).is_null(); ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    trail = changes();
  }
  const json put = change_of("PUT", self);
  ASSERT_FALSE(put.is_null()) << trail.dump();
  EXPECT_EQ(put["before"]["kind"], "exec");
  EXPECT_EQ(put["after"]["kind"], "connect");
  EXPECT_EQ(change_of("DELETE", self)["before"]["name"], "docs net");
  EXPECT_FALSE(change_of("POST", self + "/disable").is_null());
}

TEST_F(LsmApiTest, BadInputIsNamedAndChangesNothing) {
  const json kept = add(exec_policy("kept", "/usr/bin/nc"));
  const json before = list()["policies"];
  struct Bad {
    json body;
    int status;
    std::string field;
  };
  const std::string mount_cgroup = "/no-such-cgroup-lsm-api-test";
  const Bad bad[] = {
      {exec_policy("relative", "bin/nc"), 400, "match.path[0]"},
      {exec_policy("long", "/" + std::string(300, 'a')), 400, "match.path[0]"},
      {{{"name", "x"}, {"kind", "ptrace"}, {"action", "deny"}}, 400, "kind"},
      {{{"name", "x"}, {"kind", "connect"}, {"action", "deny"}, {"match", {{"dst", {"203.0.113.0/33"}}}}},
       400,
       "match.dst[0]"},
      {{{"name", "x"}, {"kind", "connect"}, {"action", "deny"}, {"match", {{"dst_port", {"90-80"}}}}},
       400,
       "match.dst_port[0]"},
      {{{"name", "x"},
        {"kind", "file"},
        {"action", "deny"},
        {"match", {{"path", {"/etc/"}}, {"access", {"exec"}}}}},
       400,
       "match.access[0]"},
      {{{"name", "x"},
        {"kind", "exec"},
        {"action", "deny"},
        {"match", {{"path", {"/x"}}}},
        {"scope", {{"gid", {0}}}}},
       400,
       "scope.gid"},
      {{{"name", "x"},
        {"kind", "exec"},
        {"action", "deny"},
        {"match", {{"path", {"/x"}}, {"dst", {"0.0.0.0/0"}}}}},
       400,
       "match.dst"},
      {{{"name", "x"}, {"kind", "exec"}, {"action", "deny"}, {"match", {{"path", {"/bin/sh"}}}}},
       422,
       "match.path[0]"},
      {{{"name", "x"}, {"kind", "connect"}, {"action", "deny"}, {"scope", {{"cgroup", {mount_cgroup}}}}},
       422,
       "scope.cgroup[0]"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.body.dump());
    expect_api_error(send("POST", kPolicies, b.body), b.status, "", b.field);
    expect_api_error(send("PUT", url_of(kept), b.body), b.status, "", b.field);
  }
  expect_api_error(d().request("POST", kPolicies, "{\"name\":", "", {{"Content-Type", "application/json"}}),
                   400, "");
  expect_api_error(send("PUT", kPolicies + "/999", exec_policy("x", "/x")), 404, "not_found");
  expect_api_error(d().post(kPolicies + "/999/enable"), 404, "not_found");
  expect_api_error(d().request("DELETE", kPolicies + "/999"), 404, "not_found");
  EXPECT_EQ(list()["policies"], before);

  // The force rule's 422 says why and how: force, or a scope.
  const HttpResponse forced = send("POST", kPolicies, bad[8].body);
  EXPECT_NE(forced.json()["error"]["message"].get<std::string>().find("force"), std::string::npos);
  json with_force = bad[8].body;
  with_force["force"] = true;
  const json accepted = add(with_force);
  EXPECT_EQ(d().request("DELETE", url_of(accepted)).status, 204);
  EXPECT_EQ(list()["policies"], before);
}

TEST_F(LsmApiTest, WhatNoMechanismHereCanEnforceIs422NamingTheMissingOne) {
  if (!available("fanotify")) GTEST_SKIP() << "starts the plugin with fanotify alone";
  // Allowed only fanotify, the plugin enforces no connect policy: a new one is refused naming why.
  const HttpResponse started = send("POST", "/api/v1/plugins/lsm/start", {{"mechanisms", {"fanotify"}}});
  ASSERT_EQ(started.status, 200) << started.body;
  EXPECT_EQ(started.json()["summary"],
            "exec: fanotify, file: fanotify, connect: none, bind: none; 0 policies");
  const HttpResponse refused = send(
      "POST", kPolicies, {{"name", "x"}, {"kind", "bind"}, {"action", "deny"}, {"match", {{"port", {22}}}}});
  expect_api_error(refused, 422, "unenforceable", "kind");
  const std::string why = refused.json()["error"]["message"];
  EXPECT_NE(why.find("bind policies need bpf_lsm or cgroup"), std::string::npos) << why;
  EXPECT_NE(why.find("left out by the config's mechanisms"), std::string::npos) << why;
  EXPECT_EQ(list()["mechanisms"]["bind"], json());
  EXPECT_TRUE(list()["policies"].empty());
}

TEST_F(LsmApiTest, PoliciesAreKeptAcrossARestart) {
  add(exec_policy("a", "/usr/bin/nc"));
  const json b =
      add({{"name", "b"},
           {"kind", "bind"},
           {"action", "deny"},
           {"match", {{"addr", {"0.0.0.0/0", "::/0"}}, {"port", {"1-1023"}}, {"proto", {"tcp"}}}}});
  ASSERT_EQ(d().post(url_of(b) + "/disable").status, 200);
  const json before = list()["policies"];
  d().stop();
  d().start();
  const json after = list()["policies"];
  ASSERT_EQ(after.size(), 2u);
  for (size_t i = 0; i < after.size(); ++i)
    for (const char* field :
         {"id", "name", "kind", "action", "enabled", "match", "scope", "created", "updated"})
      EXPECT_EQ(after[i][field], before[i][field]) << field;
  // Ids are not given again after a restart.
  EXPECT_GT(add(exec_policy("c", "/opt/"))["id"].get<int64_t>(), b["id"].get<int64_t>());
}

// Runs `path` as a child of the test (not of adamd, so no exemption);
// its exit status, or 200 + errno when execv failed.
int run(const std::string& path) {
  const pid_t pid = fork();
  if (pid == 0) {
    execl(path.c_str(), path.c_str(), static_cast<char*>(nullptr));
    _exit(200 + errno);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST_F(LsmApiTest, PromoteCountsTheAuditEventsInTheWindowThenDenies) {
  if (!available("fanotify")) GTEST_SKIP() << "the audit events come from fanotify here, which is missing";
  const auto dir = std::filesystem::temp_directory_path() / ("lsm_api_test." + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};
  const std::string binary = (dir / "true").string();
  std::filesystem::copy_file("/bin/true", binary);

  ASSERT_EQ(send("POST", "/api/v1/plugins/lsm/start", {{"mechanisms", {"fanotify"}}}).status, 200);
  const json policy = add(exec_policy("audit first", dir.string() + "/"));
  ASSERT_EQ(policy["mechanism"], "fanotify");
  constexpr int kRuns = 3;
  for (int i = 0; i < kRuns; ++i) ASSERT_EQ(run(binary), 0) << "an audit policy lets the exec happen";
  const std::string events = policy["links"]["events"].get<std::string>() + "&kind=lsm.audit";
  size_t recorded = 0;
  for (int tries = 0; tries < 100 && recorded < kRuns; ++tries) {
    recorded = d().get(events).json()["events"].size();
    if (recorded < kRuns) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(recorded, size_t{kRuns});
  EXPECT_EQ(d().get(url_of(policy)).json()["hits"]["audit"], kRuns);

  expect_api_error(send("POST", url_of(policy) + "/promote", {{"window", "soon"}}), 400, "", "window");
  EXPECT_EQ(d().get(url_of(policy)).json()["action"], "audit") << "a refused promote changes nothing";
  const HttpResponse promoted = send("POST", url_of(policy) + "/promote", {{"window", "1h"}});
  ASSERT_EQ(promoted.status, 200) << promoted.body;
  const json answer = promoted.json();
  EXPECT_EQ(answer["would_have_denied"], kRuns);
  EXPECT_EQ(answer["policy"]["action"], "deny");
  EXPECT_FALSE(answer["policy"]["links"].contains("promote"));
  EXPECT_EQ(answer["until"].get<int64_t>() - answer["since"].get<int64_t>(), 3600LL * 1'000'000'000);

  EXPECT_EQ(run(binary), 200 + EPERM) << "the promoted policy denies the exec";
  expect_api_error(d().post(url_of(policy) + "/promote"), 409, "conflict");
}

// A cgroup v2 group of the test's (its connecting children join it, so the
// policies scoped to it deny nothing else on this machine), removed at the end.
struct TestCgroup {
  std::string path;  // under the mount; empty when cgroup v2 is not mounted
  std::string name;  // as a policy's scope names it
  TestCgroup() {
    const std::string mount = mon::cgroup2_mount();
    if (mount.empty()) return;
    name = "/adamt-" + std::to_string(getpid()) + "-lsm-api";
    path = mount + name;
    std::filesystem::create_directory(path);
  }
  ~TestCgroup() {
    if (!path.empty()) rmdir(path.c_str());
  }
};

// The errno of a TCP connect to addr:port from a child in `cgroup` and in
// the network namespace `ns` (0: connected).
int connect_errno(const TestCgroup& cgroup, const std::string& ns, const std::string& addr, uint16_t port) {
  const pid_t pid = fork();
  if (pid == 0) {
    { std::ofstream(cgroup.path + "/cgroup.procs") << getpid() << "\n"; }
    const int netns = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (netns < 0 || setns(netns, CLONE_NEWNET) != 0) _exit(250);
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    inet_pton(AF_INET, addr.c_str(), &to.sin_addr);
    _exit(connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0 ? 0 : errno);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(LsmApiTest, PromoteOfAConnectAuditPolicyCountsItsConnectsThenTheyFail) {
  if (!available("cgroup_sock_addr") || available("bpf_lsm"))
    GTEST_SKIP() << "needs connect policies enforced by the cgroup hooks here";
  TestCgroup cgroup;
  if (cgroup.path.empty()) GTEST_SKIP() << "cgroup v2 is not mounted";
  NetnsPair pair;  // 203.0.113.0/24 on a's lo: connects there are refused by no one but the policy
  ASSERT_EQ(pair.exec(pair.a(), "ip addr add 203.0.113.1/24 dev lo"), 0);
  const HttpResponse started = send("POST", "/api/v1/plugins/lsm/start", json::object());
  ASSERT_EQ(started.status, 200) << started.body;
  const json policy = add({{"name", "docs net"},
                           {"kind", "connect"},
                           {"action", "audit"},
                           {"scope", {{"cgroup", {cgroup.name}}}},
                           {"match", {{"dst", {"203.0.113.0/24"}}, {"dst_port", {8080}}}}});
  ASSERT_EQ(policy["mechanism"], "cgroup");
  constexpr int kConnects = 4;
  for (int i = 0; i < kConnects; ++i)
    ASSERT_EQ(connect_errno(cgroup, pair.a(), "203.0.113.7", 8080), ECONNREFUSED) << "audit lets it through";
  EXPECT_EQ(connect_errno(cgroup, pair.a(), "203.0.113.7", 8081), ECONNREFUSED) << "another port: no match";
  const std::string events = policy["links"]["events"].get<std::string>() + "&kind=lsm.audit";
  size_t recorded = 0;
  for (int tries = 0; tries < 100 && recorded < kConnects; ++tries) {
    recorded = d().get(events).json()["events"].size();
    if (recorded < kConnects) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(recorded, size_t{kConnects});
  const HttpResponse promoted = d().post(url_of(policy) + "/promote");
  ASSERT_EQ(promoted.status, 200) << promoted.body;
  EXPECT_EQ(promoted.json()["would_have_denied"], kConnects);
  EXPECT_EQ(promoted.json()["window"], "24h");
  EXPECT_EQ(connect_errno(cgroup, pair.a(), "203.0.113.7", 8080), EPERM) << "the promoted policy denies";
  EXPECT_EQ(connect_errno(cgroup, pair.a(), "203.0.113.7", 8081), ECONNREFUSED);
  EXPECT_GE(d().get(url_of(policy)).json()["hits"]["deny"].get<int>(), 1);
  EXPECT_EQ(d().post("/api/v1/plugins/lsm/stop").status, 200);  // its pins go, before the cgroup
}

TEST_F(LsmApiTest, AConnectDenyHoldsWhileAdamdIsDownAcrossItsRestartAndReconfigures) {
  if (!available("cgroup_sock_addr") || available("bpf_lsm"))
    GTEST_SKIP() << "needs connect policies enforced by the cgroup hooks here";
  TestCgroup cgroup;
  if (cgroup.path.empty()) GTEST_SKIP() << "cgroup v2 is not mounted";
  NetnsPair pair;
  ASSERT_EQ(pair.exec(pair.a(), "ip addr add 203.0.113.1/24 dev lo"), 0);
  ASSERT_EQ(send("POST", "/api/v1/plugins/lsm/start", json::object()).status, 200);
  const json policy = add({{"name", "no docs net"},
                           {"kind", "connect"},
                           {"action", "deny"},
                           {"scope", {{"cgroup", {cgroup.name}}}},
                           {"match", {{"dst", {"203.0.113.0/24"}}}}});
  EXPECT_EQ(connect_errno(cgroup, pair.a(), "203.0.113.7", 80), EPERM);
  d().stop();
  EXPECT_EQ(connect_errno(cgroup, pair.a(), "203.0.113.7", 80), EPERM) << "while adamd is down";
  d().start();
  // The plugin is running again (its desired state), with the same policy.
  const json plugin = d().get("/api/v1/plugins/lsm").json();
  EXPECT_EQ(plugin["state"], "running") << plugin.dump();
  EXPECT_EQ(d().get(url_of(policy)).json()["match"], policy["match"]);
  EXPECT_EQ(connect_errno(cgroup, pair.a(), "203.0.113.7", 80), EPERM) << "after the restart";
  EXPECT_EQ(connect_errno(cgroup, pair.a(), "127.0.0.1", 80), ECONNREFUSED) << "elsewhere: as without it";
  // A new config while running: the deny stays; the restarted adamd's
  // back end applies the next change.
  ASSERT_EQ(send("POST", "/api/v1/plugins/lsm/start", {{"event_rate", 500}}).status, 200);
  EXPECT_EQ(connect_errno(cgroup, pair.a(), "203.0.113.7", 80), EPERM) << "after a reconfigure";
  ASSERT_EQ(d().post(url_of(policy) + "/disable").status, 200);
  EXPECT_EQ(connect_errno(cgroup, pair.a(), "203.0.113.7", 80), ECONNREFUSED);
  ASSERT_EQ(d().post(url_of(policy) + "/enable").status, 200);
  EXPECT_EQ(connect_errno(cgroup, pair.a(), "203.0.113.7", 80), EPERM);
  // A config without the cgroup mechanism leaves nothing of it enforcing.
  ASSERT_EQ(send("POST", "/api/v1/plugins/lsm/start", {{"mechanisms", {"fanotify"}}}).status, 200);
  EXPECT_EQ(connect_errno(cgroup, pair.a(), "203.0.113.7", 80), ECONNREFUSED);
  EXPECT_EQ(d().get(url_of(policy)).json()["mechanism"], json());
  EXPECT_EQ(d().post("/api/v1/plugins/lsm/stop").status, 200);
}

TEST_F(LsmApiTest, AdamctlListsAddsSwitchesPromotesAndRemovesPolicies) {
  std::string out = adamctl(
      "lsm add --name 'docs net' --kind connect --action audit --dst 203.0.113.0/24 --port 8080 9000-9100 "
      "--uid 1000");
  ASSERT_NE(out.find("added policy 1 (connect, audit, mechanism "), std::string::npos) << out;
  const json stored = d().get(kPolicies + "/1").json();
  EXPECT_EQ(stored["match"], json({{"dst", {"203.0.113.0/24"}}, {"dst_port", {8080, "9000-9100"}}}));
  EXPECT_EQ(stored["scope"], json({{"uid", {1000}}}));
  out = adamctl("lsm add --name low --kind bind --action deny --dst 0.0.0.0/0 --port 1-1023");
  ASSERT_NE(out.find("added policy 2 (bind, deny"), std::string::npos) << out;
  EXPECT_EQ(d().get(kPolicies + "/2").json()["match"], json({{"addr", {"0.0.0.0/0"}}, {"port", {"1-1023"}}}));

  out = adamctl("lsm policies");
  EXPECT_NE(out.find("docs net"), std::string::npos) << out;
  EXPECT_NE(out.find("dst 203.0.113.0/24; dst_port 8080, 9000-9100; uid 1000"), std::string::npos) << out;
  EXPECT_NE(out.find("exit=0"), std::string::npos) << out;

  // adamd's refusal, with its field, is what adamctl says.
  out = adamctl("lsm add --name x --kind exec --action deny --path bin/sh");
  EXPECT_NE(out.find("match.path[0]"), std::string::npos) << out;
  EXPECT_EQ(out.find("exit=0"), std::string::npos) << out;
  EXPECT_EQ(list()["policies"].size(), 2u);

  EXPECT_NE(adamctl("lsm disable 2").find("policy 2 disabled"), std::string::npos);
  EXPECT_EQ(d().get(kPolicies + "/2").json()["enabled"], false);
  EXPECT_NE(adamctl("lsm enable 2").find("policy 2 enabled"), std::string::npos);
  out = adamctl("lsm promote 1 --window 2h");
  EXPECT_NE(out.find("policy 1 now denies; in the last 2h it would have denied 0"), std::string::npos) << out;
  EXPECT_EQ(d().get(kPolicies + "/1").json()["action"], "deny");
  EXPECT_NE(adamctl("lsm rm 2").find("removed policy 2"), std::string::npos);
  EXPECT_EQ(d().get(kPolicies + "/2").status, 404);

  const auto file =
      std::filesystem::temp_directory_path() / ("lsm_api_test." + std::to_string(getpid()) + ".json");
  { std::ofstream(file) << exec_policy("from a file", "/usr/bin/nc").dump(); }
  out = adamctl("lsm add --json " + file.string());
  std::filesystem::remove(file);
  EXPECT_NE(out.find("added policy 3 (exec, audit"), std::string::npos) << out;
}

}  // namespace
}  // namespace adam::test
