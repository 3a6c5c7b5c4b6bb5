// adamd: the per-machine daemon. Hosts the plugins, owns their BPF objects,
// keeps state in SQLite and serves the API, console and metrics on one port.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

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
  adam::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
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

// Every connection is a file descriptor: the soft limit (often 1024) would
// cap them below what the HTTP server is built to hold.
void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
    spdlog::warn("cannot raise RLIMIT_NOFILE: {}", std::strerror(errno));
}

int run(adam::DaemonConfig config) {
  const adam::ListenAddress listen = adam::parse_listen(config.listen);
  adam::templates::load();  // a broken console template stops adamd here, not on a page
  adam::EventHubOptions event_options;
  try {
    event_options.retention = adam::parse_span(config.retention);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string("--retention: ") + e.what());
  }
  if (config.max_events < 0) throw std::runtime_error("--max-events must be 0 (no limit) or more");
  event_options.max_events = config.max_events;
  if (::geteuid() != 0)
    throw std::runtime_error(
        "adamd must run as root (it loads BPF programs and attaches them to interfaces)");

  raise_fd_limit();
  std::filesystem::create_directories(config.state_dir);
  ::chmod(config.state_dir.c_str(), 0700);
  adam::UniqueFd lock = lock_state_dir(config.state_dir);
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

  for (const auto& [path, what] : adam::ensure_kernel_filesystems()) spdlog::info("{} on {}", what, path);
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

  std::filesystem::create_directories(config.pin_dir);
  adam::XdpChain xdp(config.pin_dir);
  adam::PluginContext plugin_ctx{config.pin_dir, xdp, features, &db, &events};
  adam::PluginManager plugins(adam::make_plugins(plugin_ctx), desired, features);
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

  // SIGINT/SIGTERM end serve(); signals are blocked in every thread and
  // taken by this one, so no handler runs in the middle of anything.
  std::thread signals([&server] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("{}: shutting down (plugins keep enforcing through their pins)", strsignal(sig));
    server.stop();
  });
  server.serve();
  // serve() also returns on its own if the socket fails: wake the signal thread.
  ::kill(::getpid(), SIGTERM);
  signals.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
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
  app.add_flag_callback("--version", [] {
    std::printf("adamd %s\n", ADAM_VERSION);
    std::exit(0);
  });
  // As with most daemons, a flag given twice takes its last value.
  for (auto* opt : {listen, state_dir, pin_dir, log_level, retention, max_events, tls_cert, tls_key})
    opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  CLI11_PARSE(app, argc, argv);

  try {
    if (!config_file.empty()) {
      // The file gives the base, flags given on the command line win.
      adam::DaemonConfig from_file;
      adam::load_config_file(config_file, from_file);
      auto pick = [](CLI::Option* flag, auto& value, const auto& file_value) {
        if (flag->count() == 0) value = file_value;
      };
      pick(listen, config.listen, from_file.listen);
      pick(state_dir, config.state_dir, from_file.state_dir);
      pick(pin_dir, config.pin_dir, from_file.pin_dir);
      pick(log_level, config.log_level, from_file.log_level);
      pick(metrics_auth, config.metrics_auth, from_file.metrics_auth);
      pick(demo, config.demo, from_file.demo);
      pick(retention, config.retention, from_file.retention);
      pick(max_events, config.max_events, from_file.max_events);
      pick(tls_cert, config.tls_cert, from_file.tls_cert);
      pick(tls_key, config.tls_key, from_file.tls_key);
      pick(tls_self_signed, config.tls_self_signed, from_file.tls_self_signed);
    }
    adam::init_logging(config.log_level);
    config.state_dir = std::filesystem::absolute(config.state_dir).lexically_normal().string();
    return run(config);
  } catch (const adam::MigrationError& e) {
    std::fprintf(stderr, "adamd: database migration failed, not starting: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "adamd: %s\n", e.what());
  }
  return 1;
}
