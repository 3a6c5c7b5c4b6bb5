// adamd as an operator runs it, inside test network namespaces: start and stop
// the firewall through the API and adamctl, restarts (clean and kill -9) that
// restore the desired state, and traffic that keeps flowing through the
// pinned XDP chain while adamd is down.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "support/adamd.h"
#include "support/netns.h"

namespace adam::test {
namespace {

class DaemonNetnsTest : public NetnsAdamdTest {
 protected:
  // Pings veth-b (in b, where adamd runs) from a; true when all answered.
  bool ping(int count) {
    return pair_->exec(pair_->a(), "ping -q -c " + std::to_string(count) + " -i 0.05 -W 1 198.51.100.2") == 0;
  }
  bool xdp_attached() {
    return capture("ip -n " + pair_->b() + " -d link show veth-b").find("prog/xdp") != std::string::npos;
  }
  // Whether a program filters veth-b: at XDP, or at tc ingress.
  bool hooked() { return xdp_attached() || !tc_ingress_prog_ids(pair_->b(), "veth-b").empty(); }
  uint64_t passed() {
    auto fw = adamd_->get("/api/v1/plugins/firewall").json();
    return fw["stats"]["packets"]["pass"].get<uint64_t>();
  }
  std::string adamctl(const std::string& args) { return adamctl_with(adamd_->admin_token(), args); }
  std::string adamctl_with(const std::string& token, const std::string& args) {
    return capture("ip netns exec " + pair_->b() + " " ADAM_BUILD_DIR "/adamctl --url " + adamd_->url() +
                   " --token " + token + " " + args + " 2>&1; echo \"exit=$?\"");
  }
};

TEST_F(DaemonNetnsTest, FirewallStartsOnAnInterfaceCountsTrafficAndStops) {
  auto r = adamd_->post("/api/v1/plugins/firewall/start", R"({"interfaces":["veth-b"],"hook":"xdp"})");
  ASSERT_EQ(r.status, 200) << r.body << adamd_->log();
  EXPECT_EQ(r.json()["state"], "running");
  EXPECT_TRUE(xdp_attached());
  auto node = adamd_->get("/api/v1/node").json();
  ASSERT_EQ(node["xdp_interfaces"].size(), 1u);
  EXPECT_EQ(node["xdp_interfaces"][0]["ifname"], "veth-b");

  EXPECT_TRUE(ping(5)) << "the firewall passes everything until rules exist";
  EXPECT_GE(passed(), 5u);
  EXPECT_NE(
      adamd_->get("/metrics", "-").body.find("adamd_plugin_state{plugin=\"firewall\",state=\"running\"} 1"),
      std::string::npos);

  // Idempotent: the same start again changes nothing.
  const uint64_t before = passed();
  EXPECT_EQ(
      adamd_->post("/api/v1/plugins/firewall/start", R"({"interfaces":["veth-b"],"hook":"xdp"})").status,
      200);
  EXPECT_GE(passed(), before);

  // A bad interface is refused and the running firewall stays as it was.
  auto bad = adamd_->post("/api/v1/plugins/firewall/start", R"({"interfaces":["veth-b","adamt-gone0"]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json()["error"]["field"], "interfaces[1]");
  auto fw = adamd_->get("/api/v1/plugins/firewall").json();
  EXPECT_EQ(fw["state"], "running");
  EXPECT_EQ(fw["config"]["interfaces"], nlohmann::json::array({"veth-b"}));
  EXPECT_TRUE(xdp_attached());

  auto stopped = adamd_->post("/api/v1/plugins/firewall/stop");
  ASSERT_EQ(stopped.status, 200);
  EXPECT_EQ(stopped.json()["state"], "stopped");
  EXPECT_FALSE(xdp_attached());
  EXPECT_TRUE(ping(2));
}

TEST_F(DaemonNetnsTest, RestartRestoresDesiredStateAndTrafficFlowsMeanwhile) {
  ASSERT_EQ(adamd_->post("/api/v1/plugins/firewall/start", R"({"interfaces":["veth-b"]})").status, 200);
  ASSERT_TRUE(ping(3));
  const uint64_t before = passed();

  EXPECT_EQ(adamd_->stop(), 0);
  EXPECT_TRUE(hooked()) << "the pinned link stays while adamd is down";
  EXPECT_TRUE(ping(10));
  adamd_->start();
  ASSERT_TRUE(adamd_->running());
  auto fw = adamd_->get("/api/v1/plugins/firewall").json();
  EXPECT_EQ(fw["state"], "running") << adamd_->log();
  EXPECT_EQ(fw["desired"], "running");
  EXPECT_EQ(fw["config"]["interfaces"], nlohmann::json::array({"veth-b"}));
  EXPECT_GE(passed(), before + 10) << "packets seen while adamd was down are counted in the pinned map";

  // A crash is no different.
  adamd_->kill9();
  EXPECT_TRUE(ping(3));
  adamd_->start();
  EXPECT_EQ(adamd_->get("/api/v1/plugins/firewall").json()["state"], "running");
  EXPECT_TRUE(ping(3));

  // Stopped on purpose stays stopped across a restart.
  ASSERT_EQ(adamd_->post("/api/v1/plugins/firewall/stop").status, 200);
  EXPECT_EQ(adamd_->stop(), 0);
  adamd_->start();
  EXPECT_EQ(adamd_->get("/api/v1/plugins/firewall").json()["state"], "stopped");
  EXPECT_FALSE(hooked());
}

TEST_F(DaemonNetnsTest, InterfaceGoneAtRestartMarksFirewallFailed) {
  ASSERT_EQ(pair_->exec(pair_->b(), "ip link add adamt-dummy0 type veth peer name adamt-dummy1"), 0);
  ASSERT_EQ(pair_->exec(pair_->b(), "ip link set adamt-dummy0 up"), 0);
  auto started = adamd_->post("/api/v1/plugins/firewall/start", R"({"interfaces":["adamt-dummy0"]})");
  ASSERT_EQ(started.status, 200) << started.body;
  EXPECT_EQ(adamd_->stop(), 0);
  pair_->exec(pair_->b(), "ip link delete adamt-dummy0");
  adamd_->start();
  auto fw = adamd_->get("/api/v1/plugins/firewall").json();
  EXPECT_EQ(fw["state"], "failed");
  EXPECT_NE(fw["reason"].get<std::string>().find("adamt-dummy0"), std::string::npos) << fw.dump();
  EXPECT_EQ(fw["desired"], "running") << "the operator's wish is kept for when the interface is back";
}

TEST_F(DaemonNetnsTest, AdamctlDrivesTheSameApi) {
  auto node = adamctl("node");
  EXPECT_NE(node.find("xdp         yes"), std::string::npos) << node;
  EXPECT_NE(node.find("exit=0"), std::string::npos) << node;

  auto start = adamctl("plugin start firewall --set interfaces=veth-b --set hook=xdp");
  EXPECT_NE(start.find("firewall   running      veth-b@xdp/generic"), std::string::npos) << start;
  EXPECT_TRUE(xdp_attached());
  EXPECT_TRUE(tc_ingress_prog_ids(pair_->b(), "veth-b").empty());

  auto list = adamctl("plugins");
  EXPECT_NE(list.find("NAME"), std::string::npos) << list;
  EXPECT_NE(list.find("firewall   running"), std::string::npos) << list;

  auto json = adamctl("-o json plugins");
  auto parsed = nlohmann::json::parse(json.substr(0, json.rfind("exit=")), nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << json;
  EXPECT_EQ(parsed["plugins"][0]["state"], "running");

  auto bad = adamctl("plugin start firewall --set interfaces=adamt-nope0");
  EXPECT_NE(bad.find("exit=1"), std::string::npos) << bad;
  EXPECT_NE(bad.find("no interface named 'adamt-nope0'"), std::string::npos) << bad;
  EXPECT_NE(bad.find("field: interfaces[0]"), std::string::npos) << bad;

  auto bad_config = adamctl("plugin start firewall --set interfaces=veth-b --config '{\"log_rate\":-1}'");
  EXPECT_NE(bad_config.find("exit=1"), std::string::npos) << bad_config;
  EXPECT_NE(bad_config.find("field: log_rate"), std::string::npos) << bad_config;
  auto not_json = adamctl("plugin start firewall --config '[1]'");
  EXPECT_NE(not_json.find("--config: not a JSON object"), std::string::npos) << not_json;

  auto unknown = adamctl("plugin stop nope");
  EXPECT_NE(unknown.find("HTTP 404"), std::string::npos) << unknown;

  auto wrong_token = adamctl_with("adam_wrong", "plugins");
  EXPECT_NE(wrong_token.find("HTTP 401"), std::string::npos) << wrong_token;
  EXPECT_NE(wrong_token.find("exit=1"), std::string::npos) << wrong_token;

  auto stop = adamctl("plugin stop firewall");
  EXPECT_NE(stop.find("firewall   stopped"), std::string::npos) << stop;
  EXPECT_FALSE(xdp_attached());

  auto configured = adamctl("plugin start firewall --set interfaces=veth-b --config '{\"log_rate\":100}'");
  EXPECT_NE(configured.find("exit=0"), std::string::npos) << configured;
  EXPECT_EQ(adamd_->get("/api/v1/plugins/firewall").json()["config"]["log_rate"], 100);
  // Without a hook, a veth gets the tc hook where the kernel has tcx.
  const bool tcx = adamd_->get("/api/v1/node").json()["features"]["tcx"]["available"].get<bool>();
  EXPECT_NE(configured.find(tcx ? "veth-b@tc" : "veth-b@xdp/generic"), std::string::npos) << configured;
  EXPECT_EQ(xdp_attached(), !tcx);
  EXPECT_EQ(tc_ingress_prog_ids(pair_->b(), "veth-b").size(), tcx ? 1u : 0u);
  auto bad_hook = adamctl("plugin start firewall --set interfaces=veth-b --set hook=nf");
  EXPECT_NE(bad_hook.find("exit="), std::string::npos) << bad_hook;
  EXPECT_EQ(bad_hook.find("exit=0"), std::string::npos)
      << "adamd refuses a hook it does not know: " << bad_hook;
  EXPECT_NE(bad_hook.find("field: hook"), std::string::npos) << bad_hook;
}

// `plugin start` takes the plugin's own fields (its config_schema), typed by
// adamctl and checked by adamd, which names the field it refuses.
TEST_F(DaemonNetnsTest, AdamctlStartsAPluginFromItsConfigSchema) {
  if (!adamd_->get("/api/v1/node").json()["features"]["tcx"]["available"].get<bool>())
    GTEST_SKIP() << "no tcx links in this kernel: the tc hook cannot be asked for";
  auto start = adamctl("plugin start firewall --set interfaces=veth-b --set hook=tc --set log_rate=100");
  EXPECT_NE(start.find("exit=0"), std::string::npos) << start;
  const auto fw = [&] { return adamd_->get("/api/v1/plugins/firewall").json(); };
  EXPECT_EQ(fw()["state"], "running");
  EXPECT_EQ(fw()["summary"], "veth-b@tc");
  EXPECT_EQ(fw()["config"]["log_rate"], 100);
  EXPECT_EQ(tc_ingress_prog_ids(pair_->b(), "veth-b").size(), 1u);
  EXPECT_FALSE(xdp_attached());

  auto list = adamctl("plugins");
  EXPECT_NE(list.find("SUMMARY"), std::string::npos) << list;
  EXPECT_NE(list.find("firewall   running      veth-b@tc"), std::string::npos) << list;

  const nlohmann::json running = fw()["config"];
  for (auto [set, field] : {std::pair{"log_rate=abc", "log_rate"}, {"nosuch=1", "nosuch"}}) {
    auto bad = adamctl(std::string("plugin start firewall --set interfaces=veth-b --set ") + set);
    EXPECT_NE(bad.find("exit=1"), std::string::npos) << bad;
    EXPECT_NE(bad.find(std::string("field: ") + field), std::string::npos) << bad;
    EXPECT_EQ(fw()["state"], "running");
    EXPECT_EQ(fw()["config"], running) << "a refused start changes nothing";
    EXPECT_EQ(fw()["summary"], "veth-b@tc");
  }

  auto help = adamctl("plugin start firewall --help-config");
  EXPECT_NE(help.find("interfaces      list of string"), std::string::npos) << help;
  EXPECT_NE(help.find("hook            string: auto|xdp|tc, default auto"), std::string::npos) << help;
  EXPECT_NE(help.find("log_rate        integer, 0 to "), std::string::npos) << help;
  EXPECT_EQ(fw()["config"], running) << "--help-config starts nothing";

  // A file, and a --set over it.
  const std::string file = testing::TempDir() + "adamctl_firewall_config.json";
  std::ofstream(file) << R"({"interfaces": ["veth-b"], "hook": "tc", "log_rate": 5, "log_rate_total": 50})";
  auto from_file = adamctl("plugin start firewall --config @" + file + " --set log_rate=7");
  std::remove(file.c_str());
  EXPECT_NE(from_file.find("exit=0"), std::string::npos) << from_file;
  EXPECT_EQ(fw()["config"]["log_rate_total"], 50);
  EXPECT_EQ(fw()["config"]["log_rate"], 7) << "--set wins over --config";
  EXPECT_EQ(fw()["summary"], "veth-b@tc");
}

TEST_F(DaemonNetnsTest, AdamctlManagesTokens) {
  auto created = adamctl("token create ci-viewer --role viewer");
  EXPECT_NE(created.find("exit=0"), std::string::npos) << created;
  EXPECT_NE(created.find("shown this once"), std::string::npos) << created;
  const size_t at = created.find("\nadam_");
  ASSERT_NE(at, std::string::npos) << created;
  const std::string secret = created.substr(at + 1, created.find('\n', at + 1) - at - 1);

  auto list = adamctl("tokens");
  EXPECT_NE(list.find("ci-viewer"), std::string::npos) << list;
  EXPECT_NE(list.find("viewer"), std::string::npos) << list;
  EXPECT_NE(adamctl_with(secret, "plugins").find("exit=0"), std::string::npos) << "a viewer reads";
  auto refused = adamctl_with(secret, "plugin stop firewall");
  EXPECT_NE(refused.find("HTTP 403"), std::string::npos) << "a viewer changes nothing: " << refused;

  const auto tokens = adamd_->get("/api/v1/tokens").json()["tokens"];
  std::string id;
  for (const auto& t : tokens)
    if (t["name"] == "ci-viewer") id = std::to_string(t["id"].get<int64_t>());
  ASSERT_FALSE(id.empty()) << tokens.dump();
  auto removed = adamctl("token rm " + id);
  EXPECT_NE(removed.find("removed token " + id), std::string::npos) << removed;
  EXPECT_NE(adamctl_with(secret, "plugins").find("HTTP 401"), std::string::npos)
      << "a removed token is refused";
  EXPECT_EQ(adamctl("tokens").find("ci-viewer"), std::string::npos);
}

}  // namespace
}  // namespace adam::test
