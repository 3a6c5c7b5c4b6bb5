// The HTTP router in-process: adamd's whole route table (ApiServer's
// application, without a socket) on a state dir of its own, given random
// methods, paths (often a route's, with a fuzzed tail), query strings,
// headers, cookies, credentials and bodies. The kernel features are all
// absent, so no plugin can start (a fuzzed admin request must not filter or
// deny anything on this machine), and it all runs in a network namespace of
// its own, so a registered machine's address reaches nothing. What must hold:
// no crash; no 5xx other than 503; and a refused request (4xx) changes no
// stored state: plugins' desired state, tokens (but their last use),
// plugins' documents and settings (rules, services, policies), machines.
#include <fuzzer/FuzzedDataProvider.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "api/server.h"
#include "core/event_hub.h"
#include "core/kernel.h"
#include "core/plugin_manager.h"
#include "core/xdp_chain.h"
#include "fuzz_check.h"
#include "plugins/registry.h"
#include "store/database.h"
#include "store/desired_state.h"
#include "store/event_store.h"
#include "store/machines.h"
#include "store/tokens.h"

namespace {

// Paths the fuzzer starts from: every route family of adamd (a fuzzed tail
// reaches ids, sub-resources and the console's machine pages).
constexpr const char* kPaths[] = {"/",
                                  "/healthz",
                                  "/metrics",
                                  "/events",
                                  "/firewall",
                                  "/fleet",
                                  "/lsm",
                                  "/processes",
                                  "/tokens",
                                  "/lb",
                                  "/ui/login",
                                  "/ui/logout",
                                  "/ui/assets/",
                                  "/m/1/",
                                  "/m/local/events",
                                  "/api/v1/node",
                                  "/api/v1/node/rates",
                                  "/api/v1/plugins",
                                  "/api/v1/plugins/firewall",
                                  "/api/v1/plugins/firewall/start",
                                  "/api/v1/plugins/monitor/stop",
                                  "/api/v1/tokens",
                                  "/api/v1/tokens/",
                                  "/api/v1/events",
                                  "/api/v1/events/histogram",
                                  "/api/v1/events/export",
                                  "/api/v1/events/stream",
                                  "/api/v1/machines",
                                  "/api/v1/machines/1",
                                  "/api/v1/machines/local/copy",
                                  "/api/v1/machines/1/select",
                                  "/api/v1/machines/1/proxy/api/v1/node",
                                  "/api/v1/firewall",
                                  "/api/v1/firewall/rules",
                                  "/api/v1/firewall/rules/",
                                  "/api/v1/firewall/ruleset",
                                  "/api/v1/firewall/default",
                                  "/api/v1/firewall/explain",
                                  "/api/v1/firewall/counters",
                                  "/api/v1/firewall/stats",
                                  "/api/v1/firewall/flow",
                                  "/api/v1/lb/services",
                                  "/api/v1/lb/services/",
                                  "/api/v1/lb/explain",
                                  "/api/v1/lsm/policies",
                                  "/api/v1/lsm/policies/",
                                  "/api/v1/monitor/processes",
                                  "/api/v1/monitor/processes/"};
constexpr const char* kMethods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"};
constexpr const char* kContentTypes[] = {"application/json", "application/x-www-form-urlencoded",
                                         "text/plain", "multipart/form-data; boundary=x"};
constexpr const char* kOrigins[] = {"http://localhost:9988", "http://127.0.0.1:9988", "https://evil.example",
                                    "null"};

class Daemon {
 public:
  Daemon() {
    if (::unshare(CLONE_NEWNET) != 0) {
      std::perror("router_fuzz: unshare(CLONE_NEWNET) (needs root)");
      std::exit(1);
    }
    spdlog::set_level(spdlog::level::off);
    state_dir_ = "/tmp/adam-router-fuzz-" + std::to_string(::getpid());
    pin_dir_ = "/sys/fs/bpf/adam-router-fuzz-" + std::to_string(::getpid());
    std::filesystem::create_directories(state_dir_);
    db_ = std::make_unique<adam::Database>(state_dir_ + "/adam.db");
    tokens_ = std::make_unique<adam::TokenStore>(*db_);
    machines_ = std::make_unique<adam::MachineStore>(*db_);
    desired_ = std::make_unique<adam::DesiredStateStore>(*db_);
    event_store_ = std::make_unique<adam::EventStore>(*db_, "fuzz");
    events_ = std::make_unique<adam::EventHub>(*event_store_, adam::EventHubOptions{});
    xdp_ = std::make_unique<adam::XdpChain>(pin_dir_);
    plugin_ctx_ = std::make_unique<adam::PluginContext>(
        adam::PluginContext{pin_dir_, *xdp_, features_, db_.get(), events_.get()});
    plugins_ = std::make_unique<adam::PluginManager>(adam::make_plugins(*plugin_ctx_), *desired_, features_,
                                                     pin_dir_);
    adam::DaemonConfig config;
    config.state_dir = state_dir_;
    config.pin_dir = pin_dir_;
    server_ = std::make_unique<adam::ApiServer>(
        adam::ApiContext{*plugins_, *tokens_, *xdp_, features_, *events_, config,
                         std::chrono::system_clock::now(), *machines_, ""});
    app_ = server_->application();
    check_credentials();
  }
  ~Daemon() {
    server_.reset();
    plugins_.reset();
    plugin_ctx_.reset();
    xdp_.reset();
    events_.reset();
    event_store_.reset();
    desired_.reset();
    machines_.reset();
    tokens_.reset();
    db_.reset();
    std::error_code ec;
    std::filesystem::remove_all(state_dir_, ec);
    std::filesystem::remove_all(pin_dir_, ec);
  }

  // A fuzzed request may revoke a token or end a session: made again, so
  // that the next inputs still reach the routes behind them.
  void check_credentials() {
    for (auto* t : {&admin_, &viewer_}) {
      if (t->id != 0 && tokens_->find(t->id)) continue;
      const bool admin = t == &admin_;
      const adam::NewToken made =
          tokens_->create((admin ? "fuzz-admin-" : "fuzz-viewer-") + std::to_string(++made_),
                          admin ? adam::Role::admin : adam::Role::viewer);
      *t = {made.token.id, made.secret};
      session_.clear();
    }
    if (session_.empty() || !session_live()) login();
  }

  adam::http::Response serve(const adam::http::Head& head, const std::string& body) {
    adam::http::Admission admission = app_.admit(head);
    if (admission.answer) return *admission.answer;
    FUZZ_CHECK(admission.proceed, "an admission with neither an answer nor a way on");
    if (admission.max_body && body.size() > admission.max_body)
      return app_.error(413, "too_large", "body too large", false);
    adam::http::Outcome outcome = admission.proceed(body);
    return outcome.response;  // a stream is dropped unread, as when its client goes
  }

  // What a refused request must leave as it was.
  std::string stored_state() {
    SQLite::Database db(db_->path(), SQLite::OPEN_READONLY);
    std::string out;
    for (const char* query : {"SELECT name, desired, config FROM plugins ORDER BY name",
                              "SELECT id, name, role, hash, created_at FROM tokens ORDER BY id",
                              "SELECT id, plugin, kind, body FROM plugin_documents ORDER BY id",
                              "SELECT plugin, key, value FROM plugin_settings ORDER BY plugin, key",
                              "SELECT * FROM machines ORDER BY 1"}) {
      SQLite::Statement s(db, query);
      out += query;
      out += '\n';
      while (s.executeStep()) {
        for (int i = 0; i < s.getColumnCount(); ++i) out += s.getColumn(i).getString() + '\t';
        out += '\n';
      }
    }
    return out;
  }

  const std::string& admin_secret() const { return admin_.secret; }
  const std::string& viewer_secret() const { return viewer_.secret; }
  const std::string& session() const { return session_; }

 private:
  void login() {
    adam::http::Head head{
        "198.51.100.250", "POST", "/ui/login", {{"content-type", "application/x-www-form-urlencoded"}}, true};
    const adam::http::Response r = serve(head, "token=" + admin_.secret);
    for (const auto& [name, value] : r.headers) {
      if (name == "Set-Cookie") session_ = value.substr(0, value.find(';'));
    }
  }
  bool session_live() {
    adam::http::Head head{"198.51.100.250", "GET", "/api/v1/node", {{"cookie", session_}}, false};
    return serve(head, "").status == 200;
  }

  struct Secret {
    int64_t id = 0;
    std::string secret;
  };
  std::string state_dir_, pin_dir_;
  adam::KernelFeatures features_;  // none: every plugin is unsupported, none starts
  std::unique_ptr<adam::Database> db_;
  std::unique_ptr<adam::TokenStore> tokens_;
  std::unique_ptr<adam::MachineStore> machines_;
  std::unique_ptr<adam::DesiredStateStore> desired_;
  std::unique_ptr<adam::EventStore> event_store_;
  std::unique_ptr<adam::EventHub> events_;
  std::unique_ptr<adam::XdpChain> xdp_;
  std::unique_ptr<adam::PluginContext> plugin_ctx_;
  std::unique_ptr<adam::PluginManager> plugins_;
  std::unique_ptr<adam::ApiServer> server_;
  adam::http::Application app_;
  Secret admin_, viewer_;
  std::string session_;
  int made_ = 0;
};

// What the HTTP server lets through to the application (Boost.Beast's
// parser): a method of token characters, a target without spaces or
// controls, header names of token characters, values without controls.
std::string token_chars(std::string s) {
  std::erase_if(s, [](unsigned char c) { return !std::isalnum(c) && c != '-' && c != '_' && c != '.'; });
  return s;
}
std::string without_controls(std::string s, bool space_too) {
  std::erase_if(
      s, [&](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f || (space_too && c <= 0x20); });
  return s;
}
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

template <typename T, size_t N>
const char* pick(FuzzedDataProvider& in, T (&list)[N]) {
  return list[in.ConsumeIntegralInRange<size_t>(0, N - 1)];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  static Daemon daemon;
  FuzzedDataProvider in(bytes, size);
  adam::http::Head head;
  head.peer = "198.51.100." + std::to_string(in.ConsumeIntegral<uint8_t>());
  head.method = in.ConsumeBool() ? pick(in, kMethods) : token_chars(in.ConsumeRandomLengthString(8));
  if (head.method.empty()) head.method = "GET";
  head.target =
      without_controls(in.ConsumeBool() ? std::string(pick(in, kPaths)) + in.ConsumeRandomLengthString(48)
                                        : in.ConsumeRandomLengthString(96),
                       true);
  if (head.target.empty()) head.target = "/";
  switch (in.ConsumeIntegralInRange(0, 5)) {
    case 0:
      break;
    case 1:
      head.headers["authorization"] = "Bearer " + daemon.admin_secret();
      break;
    case 2:
      head.headers["authorization"] = "Bearer " + daemon.viewer_secret();
      break;
    case 3:
      head.headers["cookie"] = daemon.session();
      break;
    case 4:
      head.headers["authorization"] = without_controls(in.ConsumeRandomLengthString(48), false);
      break;
    default:
      head.headers["cookie"] = without_controls(in.ConsumeRandomLengthString(48), false);
      break;
  }
  if (in.ConsumeBool()) head.headers["hx-request"] = "true";
  const auto value = [&](size_t max) { return without_controls(in.ConsumeRandomLengthString(max), false); };
  if (in.ConsumeBool()) head.headers["origin"] = in.ConsumeBool() ? pick(in, kOrigins) : value(32);
  if (in.ConsumeBool()) head.headers["content-type"] = in.ConsumeBool() ? pick(in, kContentTypes) : value(32);
  if (in.ConsumeBool()) head.headers["host"] = value(24);
  if (in.ConsumeBool()) {
    const std::string name = lower(token_chars(in.ConsumeRandomLengthString(16)));
    if (!name.empty()) head.headers[name] = value(32);
  }
  const std::string body = in.ConsumeRemainingBytesAsString();
  head.has_body = !body.empty();

  const std::string before = daemon.stored_state();
  const adam::http::Response r = daemon.serve(head, body);
  const std::string what = head.method + " " + head.target + ": " + std::to_string(r.status) + " " + r.body;
  FUZZ_CHECK(r.status >= 100 && r.status < 600, what);
  FUZZ_CHECK(r.status < 500 || r.status == 503, what);
  if (r.status >= 400 && r.status < 500)
    FUZZ_CHECK(daemon.stored_state() == before, "a refused request changed stored state: " + what);
  daemon.check_credentials();
  return 0;
}
