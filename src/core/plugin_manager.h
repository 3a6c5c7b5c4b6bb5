#pragma once
// Starts and stops plugins, keeps their observed state, and persists what the
// operator asked for (the desired state) so a restarted adamd restores it.
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/plugin.h"

namespace adam {

class DesiredStateStore;
class MetricsWriter;

// degraded: running, but part of what it attached is gone (an interface
// deleted, pins removed): `reason` says what, check_attachments() repairs.
enum class PluginState { stopped, running, degraded, failed, unsupported };
std::string to_string(PluginState state);

struct PluginStatus {
  std::string name;
  std::string description;
  PluginState state = PluginState::stopped;
  bool desired_running = false;
  nlohmann::json config = nlohmann::json::object();
  std::string reason;  // why failed/unsupported/degraded
  nlohmann::json config_schema;
  std::string summary;  // Plugin::summary(), while running
  nlohmann::json stats = nlohmann::json::object();
  nlohmann::json counters = nlohmann::json::object();  // Plugin::counters(), while running
};

class PluginManager {
 public:
  // pin_dir: adamd's bpffs root, under which each plugin pins <pin_dir>/<name>/.
  PluginManager(std::vector<std::unique_ptr<Plugin>> plugins, DesiredStateStore& desired,
                const KernelFeatures& features, std::string pin_dir);
  // Releases the plugins without stopping them: what they pinned keeps working.
  ~PluginManager();

  // At start: brings every plugin to its persisted desired state. Never throws:
  // a plugin that cannot start is marked failed with the error.
  void restore();

  // Throws ApiError: 404 unknown plugin, 503 unsupported, 400 bad config,
  // 422 when the plugin failed to start (its state is then `failed`).
  // Starting a running plugin with the same config changes nothing.
  PluginStatus start(const std::string& name, const nlohmann::json& config);
  PluginStatus stop(const std::string& name);

  PluginStatus status(const std::string& name);
  // `with_stats` false: without Plugin::stats(), which may be costly (every
  // rule's counter): what a listing of names and states needs.
  std::vector<PluginStatus> list(bool with_stats = true);
  // Each plugin's state, and the running plugins' own series
  // (Plugin::metrics): what /metrics shows of them, without their stats().
  void metrics(MetricsWriter& w);
  // Every plugin's own API routes (collected once, at server start), each
  // with its plugin's name in Route::plugin.
  std::vector<Route> routes();
  // Plugin::counters() of every running plugin, by name, without the
  // costlier status (stats): what a once-a-second rate stream reads.
  std::map<std::string, nlohmann::json> counters();
  // Plugin::event_links() of the plugin that published an event; {} for a
  // plugin adamd does not have (events of the core, of another machine).
  nlohmann::json event_links(const std::string& plugin, const std::string& kind, const nlohmann::json& data);

  // What a running plugin attached, checked against the system (every
  // second, from adamd's main): each interface of its config's "interfaces"
  // (still there with the ifindex it had at start?) and each file the
  // plugin pinned under <pin_dir>/<name>/ at start. An interface that is
  // gone or a pin removed makes the plugin `degraded` with the reason; an
  // interface that is back (re-created: a new ifindex) is re-attached by
  // Plugin::reconfigure() with the same config, and the plugin is running
  // again. Each change of state is reported (kind "plugin.degraded",
  // "plugin.repaired" or "plugin.failed", data {"plugin","reason"}).
  using Report = std::function<void(const std::string& kind, const nlohmann::json& data)>;
  void check_attachments(const Report& report);

 private:
  struct Entry {
    std::unique_ptr<Plugin> plugin;
    PluginState state = PluginState::stopped;
    nlohmann::json config = nlohmann::json::object();
    std::string reason;
    bool desired_running = false;
    // What check_attachments() compares against, taken when the plugin
    // (re)started, so a pin removed before the first check is reported too.
    std::map<std::string, unsigned> ifindexes;  // config's interfaces, by name
    std::vector<std::string> pins;              // files under <pin_dir>/<name>/
  };
  void record_attachments(Entry& e);
  Entry& find(const std::string& name);
  PluginStatus status_of(Entry& e, bool with_stats = true);
  void start_entry(Entry& e, const nlohmann::json& config);

  std::mutex mu_;
  std::vector<Entry> entries_;
  DesiredStateStore& desired_;
  const KernelFeatures& features_;
  const std::string pin_dir_;
};

}  // namespace adam
