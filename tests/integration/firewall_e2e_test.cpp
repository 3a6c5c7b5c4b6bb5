// The firewall end to end: real TCP, UDP and ICMP between two test
// namespaces over IPv4 and IPv6, filtered by a rule set through adamd's API;
// the rule keeps filtering while adamd is down and after it is back.
//
// a (client)                                  b (adamd, firewall on veth-b, servers)
// veth-a 198.51.100.1/24, 203.0.113.1/24  ⇄  veth-b 198.51.100.2/24
//        2001:db8:100::1/64, 2001:db8:203::1/64  2001:db8:100::2/64
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "support/adamd.h"
#include "support/netns.h"

namespace adam::test {
namespace {

using nlohmann::json;

// Test traffic in Python: `serve` (in b) answers TCP on 8080 and 8081 with
// "ok" and echoes UDP on 8080, on IPv4 and IPv6, and says "ready" once
// listening; `tcp|udp SRC DST PORT` (in a) exits 0 when the server answered
// within a second and a half.
constexpr const char* kTrafficScript = R"py(
import socket, sys, threading

def serve():
    def listener(kind, port):
        s = socket.socket(socket.AF_INET6, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        if kind == socket.SOCK_STREAM:
            s.listen(64)
        return s
    def answer_tcp(s):
        while True:
            c, _ = s.accept()
            c.sendall(b"ok")
            c.close()
    def echo_udp(s):
        while True:
            data, peer = s.recvfrom(64)
            s.sendto(data, peer)
    for serve_one, s in ((answer_tcp, listener(socket.SOCK_STREAM, 8080)),
                         (answer_tcp, listener(socket.SOCK_STREAM, 8081)),
                         (echo_udp, listener(socket.SOCK_DGRAM, 8080))):
        threading.Thread(target=serve_one, args=(s,), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()

def probe(kind, src, dst, port):
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(1.5)
    s.bind((src, 0))
    try:
        if kind == "tcp":
            s.connect((dst, port))
            return s.recv(2) == b"ok"
        s.sendto(b"hi", (dst, port))
        return s.recvfrom(2)[0] == b"hi"
    except OSError as e:
        print(kind, src, "->", dst, port, ":", e, file=sys.stderr)
        return False

if sys.argv[1] == "serve":
    serve()
sys.exit(0 if probe(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])) else 1)
)py";

// A file of the test's own, removed with it.
class TempFile {
 public:
  TempFile(const std::string& suffix, const std::string& content) {
    std::string name = "/tmp/adamt-XXXXXX" + suffix;
    const int fd = ::mkstemps(name.data(), static_cast<int>(suffix.size()));
    if (fd < 0) throw std::runtime_error("mkstemps failed");
    ::close(fd);
    path_ = name;
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The traffic servers running in a namespace until destroyed.
class Servers {
 public:
  Servers(const std::string& ns, const std::string& script) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::execlp("ip", "ip", "netns", "exec", ns.c_str(), "python3", script.c_str(), "serve", nullptr);
      ::_exit(127);
    }
    ::close(out[1]);
    // Wait (5 s at most) for "ready". The pipe stays open while the servers
    // run: a write to a closed one would end them.
    output_ = out[0];
    pollfd p{output_, POLLIN, 0};
    char buf[16] = {};
    ready_ = pid_ > 0 && ::poll(&p, 1, 5000) == 1 && ::read(output_, buf, sizeof buf - 1) > 0 &&
             std::string(buf).rfind("ready", 0) == 0;
  }
  ~Servers() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(output_);
  }
  Servers(const Servers&) = delete;
  Servers& operator=(const Servers&) = delete;
  bool ready() const { return ready_; }

 private:
  pid_t pid_ = -1;
  int output_ = -1;  // the servers' standard output
  bool ready_ = false;
};

class FirewallEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_root()) GTEST_SKIP() << "needs root (network namespaces, BPF)";
    if (std::system("command -v python3 >/dev/null") != 0) GTEST_SKIP() << "needs python3 for test traffic";
    pair_ = std::make_unique<NetnsPair>();
    const std::string a = pair_->a(), b = pair_->b();
    for (const std::string& step : {
             "ip -n " + a + " addr add 203.0.113.1/24 dev veth-a",
             "ip -n " + a + " addr add 2001:db8:203::1/64 dev veth-a nodad",
             "ip -n " + b + " route add 203.0.113.0/24 via 198.51.100.1 dev veth-b",
             "ip -n " + b + " route add 2001:db8:203::/64 via 2001:db8:100::1 dev veth-b",
         })
      ASSERT_EQ(run(step), 0) << step;
    script_ = std::make_unique<TempFile>(".py", kTrafficScript);
    servers_ = std::make_unique<Servers>(b, script_->path());
    ASSERT_TRUE(servers_->ready()) << "the test servers did not start in " << b;

    Adamd::Options o;
    o.netns = b;
    adamd_ = std::make_unique<Adamd>(o);
    ASSERT_TRUE(adamd_->running());
  }
  void TearDown() override {
    adamd_.reset();  // before the namespaces go
    servers_.reset();
    script_.reset();
    pair_.reset();
  }

  // A TCP/UDP exchange from namespace a: true when the server in b answered.
  bool reaches(const std::string& kind, const std::string& src, const std::string& dst, int port) {
    return pair_->exec(pair_->a(), "python3 " + script_->path() + " " + kind + " " + src + " " + dst + " " +
                                       std::to_string(port)) == 0;
  }
  bool pings(const std::string& src, const std::string& dst) {
    return pair_->exec(pair_->a(), "ping -q -c 2 -i 0.2 -W 1 -I " + src + " " + dst) == 0;
  }
  uint64_t rule_packets(int64_t id) {
    const json stats = adamd_->get("/api/v1/firewall/stats").json();
    return stats["rules"].value(std::to_string(id), json::object()).value("packets", uint64_t{0});
  }

  // Everything the rule lets through still gets through, and tcp/8080 from
  // the blocked sources does not.
  void expect_only_blocked_traffic_dropped() {
    EXPECT_FALSE(reaches("tcp", "203.0.113.1", "198.51.100.2", 8080)) << "the rule's traffic";
    EXPECT_TRUE(reaches("tcp", "203.0.113.1", "198.51.100.2", 8081)) << "another port";
    EXPECT_TRUE(reaches("tcp", "198.51.100.1", "198.51.100.2", 8080)) << "another source";
    EXPECT_TRUE(reaches("udp", "203.0.113.1", "198.51.100.2", 8080)) << "another protocol";
    EXPECT_TRUE(pings("203.0.113.1", "198.51.100.2"));
    EXPECT_FALSE(reaches("tcp", "2001:db8:203::1", "2001:db8:100::2", 8080)) << "the rule's traffic, IPv6";
    EXPECT_TRUE(reaches("tcp", "2001:db8:203::1", "2001:db8:100::2", 8081)) << "another port, IPv6";
    EXPECT_TRUE(reaches("tcp", "2001:db8:100::1", "2001:db8:100::2", 8080)) << "another source, IPv6";
    EXPECT_TRUE(reaches("udp", "2001:db8:203::1", "2001:db8:100::2", 8080)) << "another protocol, IPv6";
    EXPECT_TRUE(pings("2001:db8:203::1", "2001:db8:100::2"));
  }

  std::unique_ptr<NetnsPair> pair_;
  std::unique_ptr<TempFile> script_;
  std::unique_ptr<Servers> servers_;
  std::unique_ptr<Adamd> adamd_;
};

const json kBlock8080 = {
    {"name", "no 8080 from the test nets"},
    {"priority", 100},
    {"action", "drop"},
    {"match", {{"src", {"203.0.113.0/24", "2001:db8:203::/64"}}, {"proto", {"tcp"}}, {"dst_port", {8080}}}}};

TEST_F(FirewallEndToEndTest, ARuleDropsExactlyItsTrafficOverIpv4AndIpv6) {
  ASSERT_TRUE(reaches("tcp", "203.0.113.1", "198.51.100.2", 8080)) << "the test network works without rules";

  // Added while the firewall is stopped: stored, applied when it starts.
  auto created = adamd_->post("/api/v1/firewall/rules", kBlock8080.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const int64_t id = created.json()["id"];
  auto started = adamd_->post("/api/v1/plugins/firewall/start", R"({"interfaces":["veth-b"]})");
  ASSERT_EQ(started.status, 200) << started.body << adamd_->log();

  expect_only_blocked_traffic_dropped();
  EXPECT_GE(rule_packets(id), 2u) << "the dropped SYNs are counted on the rule";

  // Changes apply to the running firewall at once.
  const std::string self = "/api/v1/firewall/rules/" + std::to_string(id);
  ASSERT_EQ(adamd_->post(self + "/disable").status, 200);
  EXPECT_TRUE(reaches("tcp", "203.0.113.1", "198.51.100.2", 8080));
  ASSERT_EQ(adamd_->post(self + "/enable").status, 200);
  EXPECT_FALSE(reaches("tcp", "203.0.113.1", "198.51.100.2", 8080));
}

TEST_F(FirewallEndToEndTest, TheRuleKeepsFilteringWhileAdamdRestarts) {
  auto started = adamd_->post("/api/v1/plugins/firewall/start", R"({"interfaces":["veth-b"]})");
  ASSERT_EQ(started.status, 200) << started.body << adamd_->log();
  auto created = adamd_->post("/api/v1/firewall/rules", kBlock8080.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const int64_t id = created.json()["id"];
  EXPECT_FALSE(reaches("tcp", "203.0.113.1", "198.51.100.2", 8080));
  const uint64_t before = rule_packets(id);
  EXPECT_GE(before, 1u);

  EXPECT_EQ(adamd_->stop(), 0);
  EXPECT_FALSE(reaches("tcp", "203.0.113.1", "198.51.100.2", 8080)) << "dropped while adamd is down";
  EXPECT_TRUE(reaches("tcp", "203.0.113.1", "198.51.100.2", 8081));
  adamd_->start();
  ASSERT_TRUE(adamd_->running());

  const json rules = adamd_->get("/api/v1/firewall/rules").json();
  ASSERT_EQ(rules["rules"].size(), 1u) << rules.dump();
  EXPECT_EQ(rules["rules"][0]["id"], id) << "the same id after the restart";
  EXPECT_GT(rule_packets(id), before) << "the SYNs dropped while adamd was down are counted";
  const uint64_t after_restart = rule_packets(id);
  expect_only_blocked_traffic_dropped();
  EXPECT_GT(rule_packets(id), after_restart) << "the counter goes on";
}

// Every place the firewall can hook into veth-b filters, and keeps filtering
// from there across an adamd restart; stats and /api/v1/node say where.
TEST_F(FirewallEndToEndTest, FiltersAtEachHookAndKeepsItAcrossRestarts) {
  auto created = adamd_->post("/api/v1/firewall/rules", kBlock8080.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const bool tcx = adamd_->get("/api/v1/node").json()["features"]["tcx"]["available"].get<bool>();
  if (!tcx) std::cout << "[ NOTE ] no tcx links in this kernel: the tc hook is tested to be refused only\n";
  struct Case {
    json config;       // besides "interfaces"
    std::string hook;  // expected: "tc", or the XDP mode
  };
  // The default on a veth is tc ingress (XDP generic without tcx); an
  // xdp_mode asks for XDP; hook xdp on a veth is generic.
  std::vector<Case> cases = {{json::object(), tcx ? "tc" : "generic"},
                             {{{"xdp_mode", "native"}}, "native"},
                             {{{"xdp_mode", "generic"}}, "generic"},
                             {{{"hook", "xdp"}}, "generic"}};
  if (tcx) cases.push_back({{{"hook", "tc"}}, "tc"});
  for (const Case& c : cases) {
    SCOPED_TRACE("config " + c.config.dump());
    json config = c.config;
    config["interfaces"] = {"veth-b"};
    auto started = adamd_->post("/api/v1/plugins/firewall/start", config.dump());
    ASSERT_EQ(started.status, 200) << started.body << adamd_->log();
    auto expect_hooked = [&] {
      const bool at_tc = c.hook == "tc";
      EXPECT_EQ(xdp_mode_of(pair_->b(), "veth-b"), at_tc ? "none" : c.hook);
      EXPECT_EQ(tc_ingress_prog_ids(pair_->b(), "veth-b").size(), at_tc ? 1u : 0u);
      const json hooks = adamd_->get("/api/v1/firewall/stats").json()["hooks"];
      ASSERT_EQ(hooks.size(), 1u) << hooks.dump();
      EXPECT_EQ(hooks[0]["interface"], "veth-b");
      EXPECT_EQ(hooks[0]["hook"], at_tc ? "tc" : "xdp") << hooks.dump();
      if (!at_tc) EXPECT_EQ(hooks[0]["xdp_mode"], c.hook) << hooks.dump();
      const json node = adamd_->get("/api/v1/node").json();
      EXPECT_EQ(node["xdp_interfaces"].size(), at_tc ? 0u : 1u) << node.dump();
    };
    expect_hooked();
    EXPECT_FALSE(reaches("tcp", "203.0.113.1", "198.51.100.2", 8080));
    EXPECT_TRUE(reaches("tcp", "203.0.113.1", "198.51.100.2", 8081));

    // adamd restarts: the pinned link is re-adopted where it was.
    EXPECT_EQ(adamd_->stop(), 0);
    EXPECT_FALSE(reaches("tcp", "2001:db8:203::1", "2001:db8:100::2", 8080)) << "dropped while adamd is down";
    adamd_->start();
    ASSERT_TRUE(adamd_->running());
    expect_hooked();
    EXPECT_FALSE(reaches("tcp", "2001:db8:203::1", "2001:db8:100::2", 8080));
    EXPECT_TRUE(reaches("tcp", "2001:db8:203::1", "2001:db8:100::2", 8081));
    ASSERT_EQ(adamd_->post("/api/v1/plugins/firewall/stop", "{}").status, 200);
    EXPECT_EQ(xdp_mode_of(pair_->b(), "veth-b"), "none");
    EXPECT_TRUE(tc_ingress_prog_ids(pair_->b(), "veth-b").empty()) << "stop detaches the tc link";
  }
  for (const auto& [body, field] :
       {std::pair{R"({"interfaces":["veth-b"],"xdp_mode":"fast"})", "xdp_mode"},
        std::pair{R"({"interfaces":["veth-b"],"hook":"nf"})", "hook"},
        std::pair{R"({"interfaces":["veth-b"],"hook":"tc","xdp_mode":"native"})", "xdp_mode"}}) {
    auto bad = adamd_->post("/api/v1/plugins/firewall/start", body);
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_EQ(bad.json()["error"]["field"], field) << bad.body;
  }
  EXPECT_EQ(xdp_mode_of(pair_->b(), "veth-b"), "none") << "a refused start changes nothing";
  EXPECT_TRUE(tc_ingress_prog_ids(pair_->b(), "veth-b").empty());
}

}  // namespace
}  // namespace adam::test
