// adamd: the per-machine daemon. Hosts the plugins, owns their BPF objects,
// keeps state in SQLite and serves the API, console and metrics on one port.
#include <fcntl.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "api/self_signed.h"
#include "api/server.h"
#include "api/templates.h"
#include "core/bpf_handle.h"
#include "core/config.h"
#include "core/demo_lab.h"
#include "core/event_hub.h"
#include "core/kernel.h"
#include "core/log.h"
#include "core/plugin_manager.h"
#include "core/state_files.h"
#include "core/xdp_chain.h"
#include "plugins/registry.h"
#include "store/database.h"
#include "store/desired_state.h"
#include "store/event_store.h"
#include "store/machines.h"
#include "store/tokens.h"

namespace {

// One adamd per state dir: an flock held for the process's lifetime.
adam::UniqueFd lock_state_dir(const std::string& state_dir) {
  const std::string path = state_dir + "/adamd.lock";
  adam::UniqueFd fd = adam::open_state_file(path, O_RDWR | O_CREAT);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    const ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
    const std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
    throw std::runtime_error("another adamd (pid " + pid.substr(0, pid.find('\n')) +
                             ") is already using state dir " + state_dir +
                             "; stop it or pick another --state-dir");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0)
    spdlog::warn("cannot record the pid in {}", path);
  return fd;
}

// One adamd per pin dir as well: the pins are its plugins' kernel state, and
// a second adamd on them would re-adopt and then detach the first one's
// links while the first goes on reporting them running.
adam::UniqueFd lock_pin_dir(const std::string& pin_dir, const std::string& state_dir) {
  std::filesystem::create_directories(pin_dir);
  adam::UniqueFd fd(::open(pin_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw std::runtime_error("cannot open pin dir " + pin_dir + ": " + std::strerror(errno));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
    throw std::runtime_error("another adamd is already using pin dir " + pin_dir +
                             " (this one's state dir is " + state_dir +
                             "); stop it or pick another --pin-dir");
  return fd;
}

// Every connection is a file descriptor: the soft limit (often 1024) would
// cap them below what the HTTP server is built to hold.
void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
    spdlog::warn("cannot raise RLIMIT_NOFILE: {}", std::strerror(errno));
}

// The signals adamd takes itself (run()'s signal thread).
sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) sigaddset(&set, sig);
  return set;
}

// --retention and --max-events, checked.
std::pair<std::optional<adam::Span>, int64_t> retention_of(const adam::DaemonConfig& config) {
  std::optional<adam::Span> retention;
  try {
    retention = adam::parse_span(config.retention);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string("--retention: ") + e.what());
  }
  if (config.max_events < 0) throw std::runtime_error("--max-events must be 0 (no limit) or more");
  return {retention, config.max_events};
}

// SIGHUP: reads the config file again and applies what can change while
// adamd runs (log level, retention, max events), all or nothing; says which
// changed settings need a restart.
void reload(const adam::DaemonConfig& running, const std::function<adam::DaemonConfig()>& read_config,
            adam::EventHub& events) {
  try {
    const adam::DaemonConfig next = read_config();
    const auto [retention, max_events] = retention_of(next);
    adam::set_log_level(next.log_level);  // throws before anything changed
    events.set_retention(retention, max_events);
    spdlog::info("SIGHUP: reloaded: log level {}, retention {}, max events {}", next.log_level,
                 next.retention, next.max_events);
    std::vector<std::string> need_restart;
    if (next.listen != running.listen) need_restart.push_back("listen");
    if (next.state_dir != running.state_dir) need_restart.push_back("state_dir");
    if (next.pin_dir != running.pin_dir) need_restart.push_back("pin_dir");
    if (next.metrics_auth != running.metrics_auth) need_restart.push_back("metrics_auth");
    if (next.demo != running.demo) need_restart.push_back("demo");
    if (next.allowed_origins != running.allowed_origins) need_restart.push_back("allowed_origins");
    if (next.tls_cert != running.tls_cert || next.tls_key != running.tls_key ||
        next.tls_self_signed != running.tls_self_signed)
      need_restart.push_back("tls");
    if (!need_restart.empty())
      spdlog::warn("SIGHUP: changed settings that take a restart, not applied: {}",
                   fmt::join(need_restart, ", "));
  } catch (const std::exception& e) {
    spdlog::error("SIGHUP: config not reloaded, nothing changed: {}", e.what());
  }
}

int run(adam::DaemonConfig config, const std::function<adam::DaemonConfig()>& read_config) {
  const adam::DaemonConfig as_given = config;  // what SIGHUP's reload compares with
  const adam::ListenAddress listen = adam::parse_listen(config.listen);
  adam::templates::load();  // a broken console template stops adamd here, not on a page
  adam::EventHubOptions event_options;
  std::tie(event_options.retention, event_options.max_events) = retention_of(config);
  if (::geteuid() != 0)
    throw std::runtime_error(
        "adamd must run as root (it loads BPF programs and attaches them to interfaces)");

  raise_fd_limit();
  // What adamd creates is for root alone: the database, tokens and keys, and
  // the directories of its pins.
  ::umask(077);
  adam::prepare_state_dir(config.state_dir);
  adam::UniqueFd lock = lock_state_dir(config.state_dir);
  // Before the pin dir is made in it: a machine may have booted without
  // bpffs on /sys/fs/bpf (a container, an init that mounts nothing).
  for (const auto& [path, what] : adam::ensure_kernel_filesystems()) spdlog::info("{} on {}", what, path);
  adam::UniqueFd pin_lock = lock_pin_dir(config.pin_dir, config.state_dir);
  if (config.tls_self_signed) {
    if (!config.tls_cert.empty() || !config.tls_key.empty())
      throw std::runtime_error("--tls-self-signed and --tls-cert/--tls-key exclude each other: give one");
    const adam::TlsPair pair = adam::ensure_self_signed(config.state_dir);
    config.tls_cert = pair.cert;
    config.tls_key = pair.key;
  }
  // Other adamds pin this fingerprint (their machine registry).
  const std::string tls_fingerprint =
      config.tls_cert.empty() ? "" : adam::certificate_fingerprint(config.tls_cert);
  if (!tls_fingerprint.empty()) spdlog::info("TLS certificate SHA-256 fingerprint: {}", tls_fingerprint);

  const adam::KernelFeatures features = adam::probe_kernel_features();
  for (const auto& [name, f] : features.features)
    spdlog::info("kernel feature {}: {} ({})", name, f.available ? "yes" : "no", f.detail);

  adam::Database db(config.state_dir + "/adam.db");
  adam::TokenStore tokens(db);
  adam::MachineStore machines(db);
  const std::string token_path = config.state_dir + "/admin.token";
  tokens.ensure_admin_token(token_path);
  adam::DesiredStateStore desired(db);
  adam::EventStore event_store(db, adam::host_name());
  adam::EventHub events(event_store, event_options);

  std::optional<adam::DemoLab> lab;
  if (config.demo) lab.emplace();

  adam::XdpChain xdp(config.pin_dir);
  adam::PluginContext plugin_ctx{config.pin_dir, xdp, features, &db, &events};
  adam::PluginManager plugins(adam::make_plugins(plugin_ctx), desired, features, config.pin_dir);
  plugins.restore();
  xdp.prune_unowned();

  adam::ApiServer server(adam::ApiContext{plugins, tokens, xdp, features, events, config,
                                          std::chrono::system_clock::now(), machines, tls_fingerprint});
  const int port = server.bind(listen);
  const std::string shown_host = listen.host == "::" || listen.host == "0.0.0.0" ? "localhost" : listen.host;
  const bool v6 = shown_host.find(':') != std::string::npos;
  std::printf("adamd %s listening on %s://%s%s%s:%d (console and API)\nadmin token: %s\n", ADAM_VERSION,
              config.tls_cert.empty() ? "http" : "https", v6 ? "[" : "", shown_host.c_str(), v6 ? "]" : "",
              port, token_path.c_str());
  std::fflush(stdout);

  // Signals are blocked in every thread and taken by this one, so no handler
  // runs in the middle of anything: SIGINT/SIGTERM end serve(), SIGHUP
  // reloads, SIGUSR1 is logged and ignored.
  std::thread signals([&] {
    const sigset_t set = handled_signals();
    for (;;) {
      int sig = 0;
      sigwait(&set, &sig);
      if (sig == SIGHUP) {
        reload(as_given, read_config, events);
        continue;
      }
      if (sig == SIGUSR1) {
        spdlog::info("SIGUSR1: ignored (SIGHUP reloads the config, SIGTERM stops adamd)");
        continue;
      }
      spdlog::info("{}: shutting down (plugins keep enforcing through their pins)", strsignal(sig));
      server.stop();
      return;
    }
  });
  // What the plugins attached, looked at every second: an interface deleted
  // or re-created, pins removed (PluginManager::check_attachments). Its
  // reports are events of adamd's own.
  std::jthread attachments([&](std::stop_token stop) {
    std::mutex mu;
    std::condition_variable_any tick;
    while (!stop.stop_requested()) {
      {
        std::unique_lock lock(mu);
        tick.wait_for(lock, stop, std::chrono::seconds(1), [] { return false; });
      }
      if (stop.stop_requested()) break;
      plugins.check_attachments([&](const std::string& kind, const nlohmann::json& data) {
        events.publish("adamd", kind, data.dump());
      });
    }
  });
  server.serve();
  attachments.request_stop();
  attachments.join();
  // serve() also returns on its own if the socket fails: wake the signal thread.
  ::kill(::getpid(), SIGTERM);
  signals.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const sigset_t set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  adam::DaemonConfig config;
  CLI::App app{"adamd: the ADAM daemon (eBPF plugins, event store, REST API, web console)"};
  std::string config_file;
  app.add_option("--config", config_file, "TOML config file (its keys are these flags' names)")
      ->check(CLI::ExistingFile);
  auto* listen = app.add_option("--listen", config.listen, "HTTP listen address")->capture_default_str();
  auto* state_dir = app.add_option("--state-dir", config.state_dir, "state directory (SQLite, tokens)")
                        ->capture_default_str();
  auto* pin_dir = app.add_option("--pin-dir", config.pin_dir, "bpffs directory for pinned maps and links")
                      ->capture_default_str();
  auto* log_level =
      app.add_option("--log-level", config.log_level, "trace|debug|info|warn|error")->capture_default_str();
  auto* metrics_auth = app.add_flag("--metrics-auth", config.metrics_auth, "require a token on /metrics");
  auto* demo =
      app.add_flag("--demo", config.demo, "build a demo lab (netns, veth pair, traffic) for the plugins");
  auto* retention =
      app.add_option("--retention", config.retention, "delete events older than this (90m, 7d, 3mo, 1y)")
          ->capture_default_str();
  auto* max_events =
      app.add_option("--max-events", config.max_events, "keep at most this many events (0: no limit)")
          ->capture_default_str();
  auto* tls_cert =
      app.add_option("--tls-cert", config.tls_cert, "PEM certificate chain: serve HTTPS (with --tls-key)");
  auto* tls_key = app.add_option("--tls-key", config.tls_key, "PEM private key of --tls-cert");
  auto* tls_self_signed =
      app.add_flag("--tls-self-signed", config.tls_self_signed,
                   "serve HTTPS with a self-signed certificate generated on first start (<state-dir>/tls/)");
  auto* allowed_origins =
      app.add_option("--allowed-origin", config.allowed_origins,
                     "an origin the console is also served from, e.g. https://adam.example.org (repeatable)");
  app.add_flag_callback("--version", [] {
    std::printf("adamd %s\n", ADAM_VERSION);
    std::exit(0);
  });
  // As with most daemons, a flag given twice takes its last value.
  for (auto* opt : {listen, state_dir, pin_dir, log_level, retention, max_events, tls_cert, tls_key})
    opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  CLI11_PARSE(app, argc, argv);

  // The file gives the base, flags given on the command line win; read
  // again on SIGHUP.
  const adam::DaemonConfig from_flags = config;
  auto read_config = [&]() {
    adam::DaemonConfig merged = from_flags;
    if (config_file.empty()) return merged;
    adam::DaemonConfig from_file;
    adam::load_config_file(config_file, from_file);
    auto pick = [](CLI::Option* flag, auto& value, const auto& file_value) {
      if (flag->count() == 0) value = file_value;
    };
    pick(listen, merged.listen, from_file.listen);
    pick(state_dir, merged.state_dir, from_file.state_dir);
    pick(pin_dir, merged.pin_dir, from_file.pin_dir);
    pick(log_level, merged.log_level, from_file.log_level);
    pick(metrics_auth, merged.metrics_auth, from_file.metrics_auth);
    pick(demo, merged.demo, from_file.demo);
    pick(retention, merged.retention, from_file.retention);
    pick(max_events, merged.max_events, from_file.max_events);
    pick(tls_cert, merged.tls_cert, from_file.tls_cert);
    pick(tls_key, merged.tls_key, from_file.tls_key);
    pick(tls_self_signed, merged.tls_self_signed, from_file.tls_self_signed);
    pick(allowed_origins, merged.allowed_origins, from_file.allowed_origins);
    merged.state_dir = std::filesystem::absolute(merged.state_dir).lexically_normal().string();
    return merged;
  };
  try {
    config = read_config();
    adam::init_logging(config.log_level);
    return run(config, read_config);
  } catch (const adam::MigrationError& e) {
    std::fprintf(stderr, "adamd: database migration failed, not starting: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "adamd: %s\n", e.what());
  }
  return 1;
}
