#include "core/plugin_manager.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <net/if.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "core/errors.h"
#include "core/metrics.h"
#include "store/desired_state.h"

namespace adam {

namespace {

// Whether the plugin has its program in the kernel: running, or degraded.
bool active(PluginState state) { return state == PluginState::running || state == PluginState::degraded; }

}  // namespace

std::string to_string(PluginState state) {
  switch (state) {
    case PluginState::stopped:
      return "stopped";
    case PluginState::running:
      return "running";
    case PluginState::degraded:
      return "degraded";
    case PluginState::failed:
      return "failed";
    case PluginState::unsupported:
      return "unsupported";
  }
  return "unknown";
}

PluginManager::PluginManager(std::vector<std::unique_ptr<Plugin>> plugins, DesiredStateStore& desired,
                             const KernelFeatures& features, std::string pin_dir)
    : desired_(desired), features_(features), pin_dir_(std::move(pin_dir)) {
  for (auto& p : plugins) {
    Entry e;
    e.reason = p->unsupported_reason(features_);
    if (!e.reason.empty()) e.state = PluginState::unsupported;
    e.plugin = std::move(p);
    entries_.push_back(std::move(e));
  }
}

PluginManager::~PluginManager() = default;

PluginManager::Entry& PluginManager::find(const std::string& name) {
  for (auto& e : entries_)
    if (e.plugin->name() == name) return e;
  throw not_found(fmt::format("no plugin named '{}'", name));
}

PluginStatus PluginManager::status_of(Entry& e, bool with_stats) {
  PluginStatus s;
  s.name = e.plugin->name();
  s.description = e.plugin->description();
  s.state = e.state;
  s.desired_running = e.desired_running;
  s.config = e.config;
  s.reason = e.reason;
  s.config_schema = e.plugin->config_schema();
  if (active(e.state)) {
    try {
      s.summary = e.plugin->summary();
      if (with_stats) s.stats = e.plugin->stats();
      s.counters = e.plugin->counters();
    } catch (const std::exception& ex) {
      spdlog::warn("plugin {}: reading stats failed: {}", s.name, ex.what());
    }
  }
  return s;
}

void PluginManager::start_entry(Entry& e, const nlohmann::json& config) {
  try {
    if (active(e.state))
      e.plugin->reconfigure(config);
    else
      e.plugin->start(config);
    e.state = PluginState::running;
    e.config = config;
    e.reason.clear();
    record_attachments(e);
    spdlog::info("plugin {}: running with {}", e.plugin->name(), config.dump());
  } catch (const std::exception& ex) {
    e.state = PluginState::failed;
    e.reason = ex.what();
    spdlog::error("plugin {}: start failed: {}", e.plugin->name(), ex.what());
    throw ApiError(422, "plugin_failed",
                   fmt::format("plugin {} failed to start: {}", e.plugin->name(), ex.what()));
  }
}

void PluginManager::restore() {
  std::lock_guard lock(mu_);
  for (auto& e : entries_) {
    const std::string name = e.plugin->name();
    const auto wanted = desired_.get(name);
    if (wanted) {
      e.desired_running = wanted->running;
      e.config = nlohmann::json::parse(wanted->config_json, nullptr, false);
      if (e.config.is_discarded()) e.config = nlohmann::json::object();
    }
    if (e.state == PluginState::unsupported) continue;
    if (!e.desired_running) {
      // Leftovers of an adamd that died while stopping it.
      try {
        e.plugin->stop();
      } catch (const std::exception& ex) {
        spdlog::warn("plugin {}: removing leftovers failed: {}", name, ex.what());
      }
      continue;
    }
    try {
      e.plugin->validate(e.config);
      start_entry(e, e.config);
    } catch (const std::exception& ex) {
      if (e.state != PluginState::failed) {  // start_entry() already recorded its own error
        e.state = PluginState::failed;
        e.reason = ex.what();
      }
      spdlog::error("plugin {}: cannot restore desired state: {}", name, ex.what());
    }
  }
}

PluginStatus PluginManager::start(const std::string& name, const nlohmann::json& config) {
  std::lock_guard lock(mu_);
  Entry& e = find(name);
  if (e.state == PluginState::unsupported)
    throw ApiError(503, "unsupported", fmt::format("plugin {} is unsupported here: {}", name, e.reason));
  e.plugin->validate(config);
  if (e.state == PluginState::running && e.config == config) return status_of(e);
  // (A degraded plugin started again with its config: re-attached in place.)
  start_entry(e, config);  // running: a new config, which the plugin takes in place if it can
  try {
    desired_.set(name, DesiredState{true, config.dump()});
    e.desired_running = true;
  } catch (const std::exception& ex) {
    // Not persisted means not committed: undo, so state and store agree.
    e.plugin->stop();
    e.state = PluginState::stopped;
    throw ApiError(500, "store_failed",
                   fmt::format("could not persist plugin {}'s state: {}", name, ex.what()));
  }
  return status_of(e);
}

PluginStatus PluginManager::stop(const std::string& name) {
  std::lock_guard lock(mu_);
  Entry& e = find(name);
  if (e.state == PluginState::unsupported) return status_of(e);
  desired_.set(name, DesiredState{false, e.config.dump()});
  e.desired_running = false;
  e.plugin->stop();
  e.state = PluginState::stopped;
  e.reason.clear();
  spdlog::info("plugin {}: stopped", name);
  return status_of(e);
}

PluginStatus PluginManager::status(const std::string& name) {
  std::lock_guard lock(mu_);
  return status_of(find(name));
}

std::vector<Route> PluginManager::routes() {
  std::lock_guard lock(mu_);
  std::vector<Route> out;
  for (auto& e : entries_)
    for (auto& r : e.plugin->routes()) {
      r.plugin = e.plugin->name();
      out.push_back(std::move(r));
    }
  return out;
}

std::map<std::string, nlohmann::json> PluginManager::counters() {
  std::lock_guard lock(mu_);
  std::map<std::string, nlohmann::json> out;
  for (auto& e : entries_) {
    if (!active(e.state)) continue;
    try {
      out[e.plugin->name()] = e.plugin->counters();
    } catch (const std::exception& ex) {
      spdlog::warn("plugin {}: reading counters failed: {}", e.plugin->name(), ex.what());
    }
  }
  return out;
}

nlohmann::json PluginManager::event_links(const std::string& plugin, const std::string& kind,
                                          const nlohmann::json& data) {
  std::lock_guard lock(mu_);
  for (auto& e : entries_)
    if (e.plugin->name() == plugin) {
      try {
        return e.plugin->event_links(kind, data);
      } catch (const std::exception& ex) {  // a malformed stored event links nowhere
        spdlog::debug("plugin {}: event_links: {}", plugin, ex.what());
      }
    }
  return nlohmann::json::object();
}

void PluginManager::record_attachments(Entry& e) {
  e.ifindexes.clear();
  e.pins.clear();
  std::error_code ec;
  for (const std::string& name : e.plugin->interfaces(e.config)) {
    e.ifindexes[name] = ::if_nametoindex(name.c_str());
    // The shared XDP root on that interface (core/xdp_chain.h's pins), when
    // the plugin runs behind it: without the pin a restarted adamd finds no
    // root there to re-adopt.
    const std::string root = pin_dir_ + "/xdp/root@" + name;
    if (std::filesystem::exists(root, ec)) e.pins.push_back(root);
  }
  for (auto it = std::filesystem::recursive_directory_iterator(pin_dir_ + "/" + e.plugin->name(), ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (!it->is_directory(ec)) e.pins.push_back(it->path().string());
}

void PluginManager::check_attachments(const Report& report) {
  std::lock_guard lock(mu_);
  for (auto& e : entries_) {
    if (!active(e.state)) continue;
    const std::string name = e.plugin->name();
    std::vector<std::string> problems;
    bool recreated = false;
    for (const auto& [ifname, ifindex] : e.ifindexes) {
      const unsigned now = ::if_nametoindex(ifname.c_str());
      if (now == 0)
        problems.push_back(
            fmt::format("interface '{}' is gone: nothing of {} runs there until it is back", ifname, name));
      else if (now != ifindex)
        recreated = true;
    }
    std::vector<std::string> removed;
    std::error_code ec;
    for (const auto& pin : e.pins)
      if (!std::filesystem::exists(pin, ec)) removed.push_back(pin);
    if (!removed.empty())
      problems.push_back(fmt::format(
          "{} pin(s) removed ({}): enforcing while adamd runs, but a restarted adamd cannot re-adopt them; "
          "stop and start the plugin to pin anew",
          removed.size(), fmt::join(removed, ", ")));
    if (problems.empty() && recreated) {
      // Back with a new ifindex: attached again with the config it has.
      try {
        e.plugin->reconfigure(e.config);
        e.state = PluginState::running;
        e.reason.clear();
        record_attachments(e);
        spdlog::warn("plugin {}: an interface was re-created; re-attached", name);
        report("plugin.repaired", {{"plugin", name}, {"reason", "an interface was re-created: re-attached"}});
      } catch (const std::exception& ex) {
        e.state = PluginState::failed;
        e.reason = fmt::format("re-attaching to a re-created interface failed: {}", ex.what());
        spdlog::error("plugin {}: {}", name, e.reason);
        report("plugin.failed", {{"plugin", name}, {"reason", e.reason}});
      }
      continue;
    }
    const std::string reason = fmt::format("{}", fmt::join(problems, "; "));
    if (problems.empty() && e.state == PluginState::degraded) {
      e.state = PluginState::running;
      e.reason.clear();
      spdlog::info("plugin {}: running again as attached", name);
      report("plugin.repaired", {{"plugin", name}, {"reason", "everything it attached is there again"}});
    } else if (!problems.empty() && (e.state != PluginState::degraded || e.reason != reason)) {
      e.state = PluginState::degraded;
      e.reason = reason;
      spdlog::error("plugin {}: degraded: {}", name, reason);
      report("plugin.degraded", {{"plugin", name}, {"reason", reason}});
    }
  }
}

std::vector<PluginStatus> PluginManager::list(bool with_stats) {
  std::lock_guard lock(mu_);
  std::vector<PluginStatus> out;
  for (auto& e : entries_) out.push_back(status_of(e, with_stats));
  return out;
}

void PluginManager::metrics(MetricsWriter& w) {
  std::lock_guard lock(mu_);
  w.family("adamd_plugin_state", "gauge", "1 for the state each plugin is in.");
  for (const auto& e : entries_)
    for (auto st : {PluginState::stopped, PluginState::running, PluginState::degraded, PluginState::failed,
                    PluginState::unsupported})
      w.sample("adamd_plugin_state", {{"plugin", e.plugin->name()}, {"state", to_string(st)}}, e.state == st);
  for (const auto& e : entries_) {
    if (!active(e.state)) continue;
    try {
      e.plugin->metrics(w);
    } catch (const std::exception& ex) {
      spdlog::warn("plugin {}: reading metrics failed: {}", e.plugin->name(), ex.what());
    }
  }
}

}  // namespace adam
