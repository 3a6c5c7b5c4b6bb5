// The load balancer's control plane through a real adamd in namespace b of a
// NetnsPair, balancing on veth-b; the backends are addresses of namespace a
// on the same segment (198.51.100.11, .12, .13 on veth-a), so their next hops
// resolve: service and backend CRUD, bad input naming the field with nothing
// changed, the VIP collision, persistence across a restart, drain and the
// last-backend warning, explain through the loaded program, stats, metrics
// and the rates stream, health events, and adamctl lb.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "support/adamd.h"
#include "support/netns.h"
#include "support/prometheus.h"
#include "support/sse.h"

namespace adam::test {
namespace {

using nlohmann::json;

const std::string kServices = "/api/v1/lb/services";
const char* kVip = "203.0.113.10";

json web_service() {
  return {
      {"name", "web"},
      {"vip", kVip},
      {"port", 80},
      {"backends",
       {{{"address", "198.51.100.11"}, {"weight", 100}}, {{"address", "198.51.100.12"}, {"weight", 100}}}}};
}

// A TCP listener in a namespace (accepts and closes), killed by the destructor.
class Listener {
 public:
  Listener(const std::string& ns, const std::string& address, int port) {
    const std::string program =
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
        "s.bind(('" +
        address + "'," + std::to_string(port) +
        "))\ns.listen(64)\nwhile True:\n c,_=s.accept()\n c.close()\n";
    pid_ = std::stoi(
        capture("ip netns exec " + ns + " python3 -c \"" + program + "\" >/dev/null 2>&1 & echo $!"));
    // Back once it listens (python takes a while to start on a loaded machine).
    const std::string listening =
        "ip netns exec " + ns + " ss -Hltn src " + address + ":" + std::to_string(port) + " 2>/dev/null";
    for (int i = 0; i < 100 && capture(listening).empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ~Listener() {
    ::kill(pid_, SIGKILL);
    run("wait " + std::to_string(pid_) + " 2>/dev/null");
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

 private:
  int pid_ = 0;
};

// The part of the services a client stored: what a refused change must leave as it was.
json stored(const json& list) {
  json out = json::array();
  for (const auto& s : list["services"]) {
    json backends = json::array();
    for (const auto& b : s["backends"]) backends.push_back({b["address"], b["weight"]});
    out.push_back({s["id"], s["name"], s["vip"], s["port"], s["proto"], s["mode"], s["table_size"],
                   s["depool_threshold"], s["health"], backends});
  }
  return out;
}

class LbApiTest : public NetnsAdamdTest {
 protected:
  void SetUp() override {
    NetnsAdamdTest::SetUp();
    if (IsSkipped()) return;
    for (const char* address : {"198.51.100.11", "198.51.100.12", "198.51.100.13"})
      ASSERT_EQ(pair_->exec(pair_->a(), std::string("ip addr add ") + address + "/24 dev veth-a"), 0);
  }
  HttpResponse put(const std::string& path, const json& body) {
    return adamd_->request("PUT", path, body.dump());
  }
  HttpResponse del(const std::string& path) { return adamd_->request("DELETE", path); }
  void start_lb(const json& config = {{"interfaces", {"veth-b"}}}) {
    auto r = adamd_->post("/api/v1/plugins/lb/start", config.dump());
    ASSERT_EQ(r.status, 200) << r.body << adamd_->log();
  }
  json add(const json& service) {
    auto r = adamd_->post(kServices, service.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json();
  }
  json list() { return adamd_->get(kServices).json(); }
  // The service once `done(service)` holds, polled for up to `seconds`.
  template <typename Done>
  json wait_for(int64_t id, Done done, double seconds = 5) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    json s;
    do {
      s = adamd_->get(kServices + "/" + std::to_string(id)).json();
      if (done(s)) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (std::chrono::steady_clock::now() < deadline);
    ADD_FAILURE() << "not reached: " << s.dump(2);
    return s;
  }
  static bool all_up(const json& s) {
    for (const auto& b : s["backends"])
      if (b["state"] != "up" || b["in_table"] != true) return false;
    return true;
  }
  // Events of `kind` in the last hour.
  json events(const std::string& kind) {
    return adamd_->get("/api/v1/events?plugin=lb&kind=" + kind + "&last=1h").json()["events"];
  }
  std::string adamctl(const std::string& args) {
    return capture("ip netns exec " + pair_->b() + " " ADAM_BUILD_DIR "/adamctl --url " + adamd_->url() +
                   " --token " + adamd_->admin_token() + " " + args + " 2>&1; echo \"exit=$?\"");
  }
};

TEST_F(LbApiTest, AConfigWithoutInterfacesOrDecapOrWithAMissingInterfaceIsRefusedNamingTheField) {
  expect_api_error(adamd_->post("/api/v1/plugins/lb/start", "{}"), 400, "", "interfaces");
  expect_api_error(adamd_->post("/api/v1/plugins/lb/start", R"({"interfaces":["nosuch0"]})"), 400, "",
                   "interfaces[0]");
  expect_api_error(adamd_->post("/api/v1/plugins/lb/start", R"({"decap":true})"), 400, "",
                   "decap_interfaces");
  expect_api_error(
      adamd_->post("/api/v1/plugins/lb/start", R"({"interfaces":["veth-b"],"conntrack_size":10})"), 400, "",
      "conntrack_size");
  EXPECT_EQ(adamd_->get("/api/v1/plugins/lb").json()["state"], "stopped");
}

TEST_F(LbApiTest, ServicesCanBeAddedReadReplacedAndRemovedAndTheirBackendsComeUp) {
  start_lb();
  const json created = add(web_service());
  const int64_t id = created["id"];
  const std::string self = kServices + "/" + std::to_string(id);
  EXPECT_EQ(created["links"]["self"], self);
  EXPECT_EQ(created["links"]["rates"], self + "/rates");
  EXPECT_EQ(created["table_size"], 65537);
  EXPECT_EQ(created["proto"], "tcp");
  EXPECT_EQ(created["backends"][0]["links"]["drain"], self + "/backends/198.51.100.11/drain");

  // Both next hops resolve (namespace a answers ARP): both in the table, sharing it.
  const json up = wait_for(id, all_up);
  uint64_t entries = 0;
  for (const auto& b : up["backends"]) {
    entries += b["table_entries"].get<uint64_t>();
    EXPECT_EQ(b["next_hop"]["interface"], "veth-b") << b.dump();
    EXPECT_EQ(b["next_hop"]["resolved"], true);
    EXPECT_NEAR(b["table_entries"].get<double>(), 65537 / 2.0, 65537 * 0.01) << b.dump();
  }
  EXPECT_EQ(entries, 65537u);
  EXPECT_EQ(up["warnings"], json::array());
  EXPECT_EQ(up["stats"]["packets"], 0);

  json replaced = web_service();
  replaced["port"] = 8080;
  replaced["backends"] = {{{"address", "198.51.100.13"}, {"weight", 50}}};
  auto r = put(self, replaced);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["port"], 8080);
  EXPECT_EQ(r.json()["backends"].size(), 1u);
  EXPECT_EQ(list()["services"].size(), 1u);

  EXPECT_EQ(del(self).status, 204);
  EXPECT_EQ(adamd_->get(self).status, 404);
  EXPECT_EQ(list()["services"], json::array());
  json changes;  // the start, POST, PUT and DELETE (the store takes them in the background)
  for (int i = 0; i < 50 && changes.size() < 4;
       ++i, std::this_thread::sleep_for(std::chrono::milliseconds(100)))
    changes = adamd_->get("/api/v1/events?kind=api.change&last=1h").json()["events"];
  ASSERT_EQ(changes.size(), 4u) << changes.dump(2);
  EXPECT_EQ(changes[1]["data"]["before"]["port"], 80) << "the PUT's before and after";
  EXPECT_EQ(changes[1]["data"]["after"]["port"], 8080);
}

TEST_F(LbApiTest, BadInputIsRefusedNamingTheFieldAndChangesNothing) {
  start_lb();
  const int64_t id = add(web_service())["id"];
  const std::string self = kServices + "/" + std::to_string(id);
  const json before = stored(list());
  struct Case {
    json body;
    int status;
    std::string field;
  };
  auto with = [](const char* key, json value) {
    json s = web_service();
    s["name"] = "other";
    s["vip"] = "203.0.113.20";
    s[key] = std::move(value);
    return s;
  };
  json heavy = with("port", 80);
  heavy["backends"][1]["weight"] = 70000;
  json early = with("port", 80);
  early["health"] = {{"type", "tcp"}, {"interval_ms", 200}, {"timeout_ms", 500}};
  json unknown = with("port", 80);
  unknown["colour"] = "red";
  const std::vector<Case> cases = {
      {with("vip", "203.0.113.300"), 400, "vip"},
      {with("port", 0), 400, "port"},
      {with("proto", "icmp"), 400, "proto"},
      {with("mode", "gre"), 400, "mode"},
      {with("table_size", 65536), 400, "table_size"},
      {with("table_size", 101), 400, "table_size"},  // prime, but below 100 x 2 backends
      {heavy, 400, "backends[1].weight"},
      {early, 400, "health.timeout_ms"},
      {unknown, 400, "colour"},
      {web_service(), 409, "vip"},  // the same (vip, port, proto) as service `id`
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body.dump());
    expect_api_error(adamd_->post(kServices, c.body.dump()), c.status, "", c.field);
    expect_api_error(put(self, c.status == 409 ? with("vip", "x") : c.body), 400, "",
                     c.status == 409 ? "vip" : c.field);
  }
  expect_api_error(adamd_->post(self + "/backends", R"({"address":"198.51.100.11"})"), 409, "", "");
  expect_api_error(adamd_->post(self + "/backends", R"({"address":"198.51.100.14","weight":-1})"), 400, "",
                   "weight");
  expect_api_error(adamd_->post(self + "/backends", R"({"address":"nope"})"), 400, "", "address");
  expect_api_error(put(self + "/backends/198.51.100.11", {{"weight", "heavy"}}), 400, "", "weight");
  expect_api_error(put(self + "/backends/198.51.100.11", json::object()), 400, "", "weight");
  expect_api_error(put(self + "/backends/198.51.100.11", {{"weight", 5}, {"wieght", 6}}), 400, "", "wieght");
  EXPECT_EQ(put(self + "/backends/198.51.100.99", {{"weight", 5}}).status, 404);
  EXPECT_EQ(adamd_->post(self + "/backends/not-an-address/drain").status, 404);
  EXPECT_EQ(del(kServices + "/99").status, 404);
  EXPECT_EQ(stored(list()), before);
  EXPECT_EQ(adamd_->get("/healthz", "-").status, 200);
}

TEST_F(LbApiTest, BackendsAreAddedWeightedDrainedAndRemovedAndTheLastOneUpIsWarned) {
  start_lb();
  const int64_t id = add(web_service())["id"];
  const std::string self = kServices + "/" + std::to_string(id);
  auto r = adamd_->post(self + "/backends", R"({"address":"198.51.100.13","weight":300})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json()["backends"].size(), 3u);
  json s = wait_for(id, all_up);
  EXPECT_GT(s["backends"][2]["table_entries"].get<uint64_t>(), 65537u / 2) << "weight 300 of 500";

  const json syn = {
      {"src", "198.51.100.1"}, {"dst", kVip}, {"src_port", 1234}, {"dst_port", 80}, {"syn", true}};
  EXPECT_EQ(adamd_->post("/api/v1/lb/explain", syn.dump()).json()["source"], "hash") << "after a backend add";
  r = put(self + "/backends/198.51.100.13", {{"weight", 100}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["backends"][2]["weight"], 100);

  r = adamd_->post(self + "/backends/198.51.100.11/drain");
  ASSERT_EQ(r.status, 200) << r.body;
  s = r.json();
  EXPECT_EQ(s["backends"][0]["weight"], 0);
  EXPECT_EQ(s["backends"][0]["state"], "draining");
  EXPECT_EQ(s["backends"][0]["in_table"], false);
  EXPECT_EQ(s["backends"][0]["table_entries"], 0);
  EXPECT_EQ(s["warnings"], json::array());
  const json drained = adamd_->post("/api/v1/lb/explain", syn.dump()).json();
  EXPECT_EQ(drained["source"], "hash") << "after a drain: " << drained.dump();
  EXPECT_NE(drained["backend"], "198.51.100.11") << "a drained backend takes no new flow";

  ASSERT_EQ(del(self + "/backends/198.51.100.13").status, 200);
  r = del(self + "/backends/198.51.100.12");  // the last one up (.11 drains)
  ASSERT_EQ(r.status, 200) << r.body;
  s = r.json();
  ASSERT_EQ(s["backends"].size(), 1u);
  ASSERT_EQ(s["warnings"].size(), 1u) << s.dump(2);
  EXPECT_NE(s["warnings"][0].get<std::string>().find("no backend is up"), std::string::npos);
}

TEST_F(LbApiTest, ExplainAnswersTheBackendAndWhetherTheFlowOrTheHashChoseIt) {
  expect_api_error(adamd_->post("/api/v1/lb/explain",
                                R"({"src":"198.51.100.1","dst":"203.0.113.10","src_port":1,"dst_port":80})"),
                   503, "", "");
  start_lb();
  const int64_t id = add(web_service())["id"];
  const json s = wait_for(id, all_up);
  json flow = {{"src", "198.51.100.1"}, {"dst", kVip},    {"proto", "tcp"},
               {"src_port", 40000},     {"dst_port", 80}, {"syn", true}};
  auto r = adamd_->post("/api/v1/lb/explain", flow.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json e = r.json();
  EXPECT_EQ(e["service"]["id"], id) << e.dump();
  EXPECT_EQ(e["service"]["name"], "web");
  EXPECT_EQ(e["source"], "hash");
  EXPECT_EQ(e["action"], "tx") << "the backend is on the interface the packet came in on";
  ASSERT_TRUE(e["backend"].is_string()) << e.dump();
  std::string mac;
  for (const auto& b : s["backends"])
    if (b["address"] == e["backend"]) mac = b["next_hop"]["mac"];
  EXPECT_FALSE(mac.empty()) << e.dump();
  EXPECT_EQ(e["frame"]["dst_mac"], mac);
  EXPECT_TRUE(e["frame"]["outer"].is_null());
  // The same flow again: the same backend (nothing was placed in the table).
  EXPECT_EQ(adamd_->post("/api/v1/lb/explain", flow.dump()).json()["backend"], e["backend"]);

  flow["dst"] = "203.0.113.99";
  const json miss = adamd_->post("/api/v1/lb/explain", flow.dump()).json();
  EXPECT_EQ(miss["source"], "none") << miss.dump();
  EXPECT_EQ(miss["action"], "pass");
  EXPECT_TRUE(miss["service"].is_null());
  EXPECT_TRUE(miss["backend"].is_null());

  flow["dst"] = "x";
  expect_api_error(adamd_->post("/api/v1/lb/explain", flow.dump()), 400, "", "dst");
  flow["dst"] = kVip;
  flow["dst_port"] = 70000;
  expect_api_error(adamd_->post("/api/v1/lb/explain", flow.dump()), 400, "", "dst_port");
  flow["dst_port"] = 80;
  flow["proto"] = "sctp";
  expect_api_error(adamd_->post("/api/v1/lb/explain", flow.dump()), 400, "", "proto");
}

TEST_F(LbApiTest, StatsMetricsAndTheRatesStreamCarryTheBalancersCounters) {
  start_lb();
  const int64_t id = add(web_service())["id"];
  wait_for(id, all_up);
  const json plugin = adamd_->get("/api/v1/plugins/lb").json();
  EXPECT_EQ(plugin["stats"]["services"], 1) << plugin.dump(2);
  EXPECT_EQ(plugin["stats"]["backends"], 2);
  for (const char* total :
       {"not_vip", "fragment", "ip_options", "too_big", "unparsed", "stale_flow", "encap_failed"})
    EXPECT_TRUE(plugin["stats"]["totals"].contains(total)) << total;
  EXPECT_NE(plugin["summary"].get<std::string>().find("veth-b@xdp/"), std::string::npos) << plugin["summary"];
  EXPECT_NE(plugin["summary"].get<std::string>().find("1 service, 2 backends"), std::string::npos);

  // Packets from a that are for no VIP pass on untouched, and are counted so.
  pair_->exec(pair_->a(), "ping -q -c 3 -i 0.1 -W 1 198.51.100.2");
  const Exposition m = parse_exposition(adamd_->get("/metrics", "-").body);
  EXPECT_TRUE(m.value("adam_lb_packets_total", {{"service", "web"}}));
  EXPECT_TRUE(m.value("adam_lb_lru_total", {{"service", "web"}, {"result", "miss"}}));
  EXPECT_EQ(m.value("adam_lb_backend_up", {{"service", "web"}, {"backend", "198.51.100.11"}}), 1.0);
  EXPECT_GE(m.value("adam_lb_passed_total", {{"reason", "not_vip"}}).value_or(0), 3.0);

  const auto rates = read_sse_events(*adamd_, kServices + "/" + std::to_string(id) + "/rates", "rates", 2,
                                     std::chrono::milliseconds(3500));
  ASSERT_EQ(rates.size(), 2u);
  EXPECT_TRUE(rates[0].contains("ts")) << rates[0].dump();
  EXPECT_TRUE(rates[0]["series"].contains("198.51.100.11 pps")) << rates[0].dump();
  EXPECT_TRUE(rates[0]["series"].contains("198.51.100.12 pps")) << rates[0].dump();
}

TEST_F(LbApiTest, ServicesPersistAcrossARestartAndAreChangedWhileStopped) {
  const int64_t id = add(web_service())["id"];  // stopped: stored, applied at start
  const json stopped = adamd_->get(kServices + "/" + std::to_string(id)).json();
  EXPECT_TRUE(stopped["stats"].is_null());
  EXPECT_TRUE(stopped["backends"][0]["next_hop"].is_null());
  start_lb();
  wait_for(id, all_up);
  const json before = stored(list());
  ASSERT_EQ(adamd_->stop(), 0);
  // adamd let go without detaching: the balancer stays in the chain, its maps pinned.
  EXPECT_NE(xdp_mode_of(pair_->b(), "veth-b"), "none");
  EXPECT_TRUE(std::filesystem::exists(adamd_->pin_dir() + "/lb"));
  adamd_->start();
  EXPECT_EQ(stored(list()), before);
  EXPECT_EQ(adamd_->get("/api/v1/plugins/lb").json()["state"], "running");
  wait_for(id, all_up);
  ASSERT_EQ(adamd_->post("/api/v1/plugins/lb/stop").status, 200);
  EXPECT_EQ(stored(list()), before);
  EXPECT_FALSE(std::filesystem::exists(adamd_->pin_dir() + "/lb")) << "stop removes the pins";
}

TEST_F(LbApiTest, AHealthCheckedBackendWithoutAListenerGoesDownAndComesBackUpWhenItListens) {
  start_lb();
  Listener twelve(pair_->a(), "198.51.100.12", 8080);
  json service = web_service();
  service["health"] = {{"type", "tcp"},     {"port", 8080}, {"interval_ms", 200},
                       {"timeout_ms", 100}, {"rise", 1},    {"fall", 2}};
  const int64_t id = add(service)["id"];
  const json down = wait_for(id, [](const json& s) { return s["backends"][0]["state"] == "down"; });
  EXPECT_EQ(down["backends"][0]["in_table"], false) << "one of two may leave under the threshold 0.5";
  EXPECT_EQ(down["backends"][1]["state"], "up");
  EXPECT_EQ(down["backends"][1]["table_entries"], 65537);
  EXPECT_FALSE(down["backends"][0]["health"]["last_error"].get<std::string>().empty());
  json went_down;
  for (int i = 0; i < 50 && went_down.empty();
       ++i, std::this_thread::sleep_for(std::chrono::milliseconds(100)))
    went_down = events("lb.backend_down");
  ASSERT_EQ(went_down.size(), 1u) << went_down.dump(2);
  EXPECT_EQ(went_down[0]["data"]["backend"], "198.51.100.11");
  EXPECT_EQ(went_down[0]["data"]["service_id"], id);
  EXPECT_EQ(went_down[0]["data"]["service"], "web");
  EXPECT_EQ(went_down[0]["links"]["service"], kServices + "/" + std::to_string(id));
  EXPECT_TRUE(events("lb.backend_up").empty()) << "the listening one never changed: unknown counts as up";

  // A reconfigure keeps the verdicts: the backend does not come back as unknown.
  start_lb({{"interfaces", {"veth-b"}}, {"conntrack_size", 4096}});
  EXPECT_EQ(adamd_->get(kServices + "/" + std::to_string(id)).json()["backends"][0]["state"], "down");

  Listener eleven(pair_->a(), "198.51.100.11", 8080);
  wait_for(id, all_up);
  json came_up;
  for (int i = 0; i < 50 && came_up.empty(); ++i, std::this_thread::sleep_for(std::chrono::milliseconds(100)))
    came_up = events("lb.backend_up");
  ASSERT_GE(came_up.size(), 1u);
  EXPECT_EQ(came_up[0]["data"]["backend"], "198.51.100.11");
}

TEST_F(LbApiTest, ABackendWhoseNextHopIsUnresolvedStaysOutUntilItAnswersArp) {
  start_lb();
  json service = web_service();
  service["backends"] = {{{"address", "198.51.100.14"}}};  // nobody holds it yet
  const int64_t id = add(service)["id"];
  const json out = wait_for(id, [](const json& s) { return s["backends"][0]["state"] == "unresolved"; });
  EXPECT_EQ(out["backends"][0]["next_hop"]["resolved"], false);
  EXPECT_FALSE(out["backends"][0]["next_hop"]["error"].get<std::string>().empty());
  EXPECT_EQ(out["backends"][0]["in_table"], false);
  EXPECT_EQ(out["warnings"].size(), 2u) << out.dump(2);  // unresolved, and so none up
  ASSERT_EQ(pair_->exec(pair_->a(), "ip addr add 198.51.100.14/24 dev veth-a"), 0);
  // adamd asks again in the background (every 200 ms, then every second).
  const json up = wait_for(id, all_up, 10);
  EXPECT_EQ(up["backends"][0]["table_entries"], 65537);
  EXPECT_EQ(up["warnings"], json::array());
}

TEST_F(LbApiTest, AUdpServiceCheckedOverTcpIsWarnedThatItsBackendsMustListenOnTcp) {
  json service = web_service();
  service["proto"] = "udp";
  service["port"] = 53;
  service["health"] = {{"type", "tcp"}};
  const json stored = add(service);
  bool warned = false;
  for (const auto& w : stored["warnings"])
    warned |= w.get<std::string>().find("connect over TCP to port 53") != std::string::npos;
  EXPECT_TRUE(warned) << stored.dump(2);
  service["health"] = {{"type", "http"}, {"port", 8080}};
  service["port"] = 54;
  const json added = add(service);
  for (const auto& w : added["warnings"])
    EXPECT_EQ(w.get<std::string>().find("over TCP"), std::string::npos) << w;
}

// A backend's MAC the kernel learns anew (a replaced NIC, a moved address)
// reaches the kernel's backend entry without any change through the API.
TEST_F(LbApiTest, AResolvedNextHopIsReadAgainSoANewMacReachesTheDataPath) {
  start_lb();
  json service = web_service();
  service["backends"] = {{{"address", "198.51.100.11"}}};
  const int64_t id = add(service)["id"];
  wait_for(id, all_up);
  const std::string moved = "02:00:5e:00:53:11";
  ASSERT_EQ(
      pair_->exec(pair_->b(), "ip neigh replace 198.51.100.11 lladdr " + moved + " dev veth-b nud permanent"),
      0);
  const json s = wait_for(
      id, [&](const json& j) { return j["backends"][0]["next_hop"]["mac"] == moved; }, 15);
  const json flow = {{"src", "198.51.100.1"}, {"dst", kVip},    {"proto", "tcp"},
                     {"src_port", 40001},     {"dst_port", 80}, {"syn", true}};
  EXPECT_EQ(adamd_->post("/api/v1/lb/explain", flow.dump()).json()["frame"]["dst_mac"], moved) << s.dump(2);
}

// The health checker's verdicts re-apply the services from the re-apply
// thread while API changes apply them from request threads: both take the
// store's lock and then the plugin's, the checker's callback neither. A
// backend flapping every 150 ms under 100 ms checks while weights change
// must leave every request answered and the daemon up.
TEST_F(LbApiTest, FlappingHealthVerdictsAndConcurrentChangesNeitherDeadlockNorFail) {
  start_lb();
  json service = web_service();
  service["backends"].push_back({{"address", "198.51.100.13"}});
  service["health"] = {{"type", "tcp"},    {"port", 8080}, {"interval_ms", 100},
                       {"timeout_ms", 50}, {"rise", 1},    {"fall", 1}};
  Listener twelve(pair_->a(), "198.51.100.12", 8080), thirteen(pair_->a(), "198.51.100.13", 8080);
  const int64_t id = add(service)["id"];
  std::atomic<bool> done{false};
  std::thread flapper([&] {
    while (!done) {
      {
        Listener eleven(pair_->a(), "198.51.100.11", 8080);
        std::this_thread::sleep_for(std::chrono::milliseconds(400));  // some checks pass
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });
  const std::string self = kServices + "/" + std::to_string(id);
  int changes = 0, answered = 0;
  for (const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(4);
       std::chrono::steady_clock::now() < end; ++changes) {
    answered += put(self + "/backends/198.51.100.12", {{"weight", 50 + changes % 100}}).status == 200;
    answered += adamd_->get(self).status == 200 ? 0 : -1000;
  }
  done = true;
  flapper.join();
  EXPECT_EQ(answered, changes);
  EXPECT_GT(changes, 20);
  EXPECT_EQ(adamd_->get(self).json()["backends"][1]["weight"], 50 + (changes - 1) % 100);
  json down, up;
  for (int i = 0; i < 30 && (down.empty() || up.empty());
       ++i, std::this_thread::sleep_for(std::chrono::milliseconds(100))) {
    down = events("lb.backend_down");
    up = events("lb.backend_up");
  }
  EXPECT_FALSE(down.empty()) << "the flapping backend never went down";
  EXPECT_FALSE(up.empty()) << "the flapping backend never came back";
  EXPECT_EQ(adamd_->stop(), 0) << "a clean exit with the checker and the re-apply thread running";
}

// decap joins a running balancer and the balancer leaves a decapsulating
// backend, each by a new config (reconfigure): the XDP program stays attached
// while the balancer stays in the config, the tc link appears and goes.
TEST_F(LbApiTest, ReconfiguringAddsDecapAndDropsTheBalancerAndStopRemovesBoth) {
  start_lb();
  const int64_t id = add(web_service())["id"];
  wait_for(id, all_up);
  start_lb({{"interfaces", {"veth-b"}}, {"decap", true}, {"decap_interfaces", {"veth-b"}}});
  json plugin = adamd_->get("/api/v1/plugins/lb").json();
  EXPECT_EQ(plugin["state"], "running") << plugin.dump(2);
  EXPECT_NE(plugin["summary"].get<std::string>().find("decap on veth-b"), std::string::npos)
      << plugin["summary"];
  EXPECT_TRUE(plugin["stats"]["decap"].contains("done")) << plugin.dump(2);
  EXPECT_NE(xdp_mode_of(pair_->b(), "veth-b"), "none");
  EXPECT_FALSE(tc_ingress_prog_ids(pair_->b(), "veth-b").empty());
  const json syn = {
      {"src", "198.51.100.1"}, {"dst", kVip}, {"src_port", 1234}, {"dst_port", 80}, {"syn", true}};
  EXPECT_EQ(adamd_->post("/api/v1/lb/explain", syn.dump()).json()["source"], "hash");

  start_lb({{"decap", true}, {"decap_interfaces", {"veth-b"}}});
  plugin = adamd_->get("/api/v1/plugins/lb").json();
  EXPECT_EQ(plugin["summary"], "decap on veth-b");
  EXPECT_EQ(xdp_mode_of(pair_->b(), "veth-b"), "none") << "no balancer: adamd's XDP chain leaves veth-b";
  EXPECT_FALSE(tc_ingress_prog_ids(pair_->b(), "veth-b").empty());
  expect_api_error(adamd_->post("/api/v1/lb/explain", syn.dump()), 503, "", "");
  EXPECT_EQ(adamd_->get(kServices + "/" + std::to_string(id)).json()["backends"][0]["next_hop"], nullptr);

  ASSERT_EQ(adamd_->post("/api/v1/plugins/lb/stop").status, 200);
  EXPECT_TRUE(tc_ingress_prog_ids(pair_->b(), "veth-b").empty());
  EXPECT_FALSE(std::filesystem::exists(adamd_->pin_dir() + "/lb"));
}

// The console's forms: urlencoded bodies with HX-Request, answered with
// the service's section; a bad line of the backends names its JSON field;
// a viewer may explain but not change.
TEST_F(LbApiTest, TheConsolesFormsAddAServiceAndABackendAndNameTheFieldOfABadLine) {
  start_lb();
  auto form = [&](const std::string& method, const std::string& path, const std::string& body,
                  const std::string& token = "") {
    return adamd_->request(method, path, body, token,
                           {{"Content-Type", "application/x-www-form-urlencoded"}, {"HX-Request", "true"}});
  };
  const std::string fields =
      "name=web&vip=203.0.113.10&port=80&proto=tcp&mode=l2dsr&health.type=http&health.port=8080"
      "&health.path=%2Fhealthz&backends=";
  const HttpResponse bad = form("POST", kServices, fields + "198.51.100.11+100%0D%0A198.51.100.12+heavy");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("data-field=\"backends[1].weight\""), std::string::npos) << bad.body;
  EXPECT_EQ(list()["services"], json::array());

  const HttpResponse added = form("POST", kServices, fields + "198.51.100.11+100%0D%0A%0D%0A198.51.100.12");
  ASSERT_EQ(added.status, 201) << added.body;
  EXPECT_NE(added.body.find("<section class=\"lb-service"), std::string::npos) << added.body;
  const json s = list()["services"][0];
  ASSERT_EQ(s["backends"].size(), 2u) << "a blank line is no backend: " << s.dump();
  EXPECT_EQ(s["backends"][1]["address"], "198.51.100.12");
  EXPECT_EQ(s["backends"][1]["weight"], 100) << "weight 100 when a line has none";
  EXPECT_EQ(s["health"]["type"], "http");
  EXPECT_EQ(s["health"]["port"], 8080);
  EXPECT_EQ(s["health"]["path"], "/healthz");

  const std::string self = s["links"]["self"];
  const HttpResponse backend = form("POST", s["links"]["backends"], "address=198.51.100.13&weight=7");
  ASSERT_EQ(backend.status, 201) << backend.body;
  EXPECT_NE(backend.body.find("data-address=\"198.51.100.13\""), std::string::npos) << backend.body;
  const HttpResponse weight = form("PUT", self + "/backends/198.51.100.13", "weight=9");
  ASSERT_EQ(weight.status, 200) << weight.body;
  EXPECT_EQ(adamd_->get(self).json()["backends"][2]["weight"], 9);

  const auto viewer = adamd_->post("/api/v1/tokens", R"({"name":"watcher","role":"viewer"})").json()["token"];
  EXPECT_EQ(form("POST", self + "/backends/198.51.100.13/drain", "", viewer).status, 403);
  const HttpResponse explained = form(
      "POST", "/api/v1/lb/explain",
      "src=198.51.100.1&dst=203.0.113.10&proto=tcp&src_port=999&dst_port=80&syn=true&interface=", viewer);
  EXPECT_EQ(explained.status, 200) << explained.body;
  EXPECT_NE(explained.body.find("class=\"lb-decision"), std::string::npos) << explained.body;
  EXPECT_EQ(adamd_->get(self).json()["backends"][2]["weight"], 9);
}

TEST_F(LbApiTest, AdamctlListsAddsWeighsDrainsExplainsAndRemoves) {
  start_lb();
  auto added = adamctl(
      "lb add --name web --vip 203.0.113.10 --port 80 --backend 198.51.100.11 "
      "--backend 198.51.100.12=50");
  ASSERT_NE(added.find("added service 1 (web, 203.0.113.10:80/tcp, 2 backends)"), std::string::npos) << added;
  auto bad = adamctl("lb add --name bad --vip 203.0.113.11 --port 99999");
  EXPECT_NE(bad.find("port"), std::string::npos) << bad;
  EXPECT_EQ(bad.find("exit=0"), std::string::npos) << bad;
  wait_for(1, all_up);
  auto services = adamctl("lb services");
  EXPECT_NE(services.find("203.0.113.10:80/tcp"), std::string::npos) << services;
  EXPECT_NE(services.find("198.51.100.12"), std::string::npos) << services;
  EXPECT_NE(adamctl("lb backend add 1 198.51.100.13 --weight 20").find("exit=0"), std::string::npos);
  EXPECT_NE(adamctl("lb weight 1 198.51.100.13 30").find("weight 30"), std::string::npos);
  EXPECT_NE(adamctl("lb drain 1 198.51.100.11").find("drained"), std::string::npos);
  const json s = adamd_->get(kServices + "/1").json();
  EXPECT_EQ(s["backends"][0]["weight"], 0);
  EXPECT_EQ(s["backends"][2]["weight"], 30);
  auto explained =
      adamctl("lb explain --src 198.51.100.1 --dst 203.0.113.10 --src-port 1234 --dst-port 80 --syn");
  EXPECT_NE(explained.find("from the Maglev table"), std::string::npos) << explained;
  EXPECT_EQ(explained.find("198.51.100.11"), std::string::npos)
      << "a drained backend takes no new flow: " << explained;
  EXPECT_NE(adamctl("lb backend rm 1 198.51.100.13").find("exit=0"), std::string::npos);
  EXPECT_NE(adamctl("-o json lb services").find("\"services\""), std::string::npos);
  EXPECT_NE(adamctl("lb rm 1").find("removed service 1"), std::string::npos);
  EXPECT_EQ(list()["services"], json::array());
}

}  // namespace
}  // namespace adam::test
