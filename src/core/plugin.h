#pragma once
// The one interface between adamd's core and a plugin. The core (manager,
// store, API, UI) only ever talks to plugins through it.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/route.h"

namespace adam {

class XdpChain;
class Database;
class MetricsWriter;
class EventHub;
struct KernelFeatures;

// What adamd hands every plugin.
struct PluginContext {
  std::string pin_dir;  // bpffs root of adamd, e.g. /sys/fs/bpf/adam; a plugin pins under pin_dir/<name>/
  XdpChain& xdp;        // the shared XDP hook (root program + tail-call chain)
  const KernelFeatures& features;
  Database* db =
      nullptr;  // for a PluginStore of the plugin's own (store/plugin_store.h); null in kernel-only tests
  // Where the plugin's events go: EventHub::add_ring_buffer for a BPF ring
  // buffer, publish() from C++ (core/event_hub.h). Null in kernel-only tests.
  EventHub* events = nullptr;
};

class Plugin {
 public:
  virtual ~Plugin() = default;  // releases handles; pinned objects keep enforcing

  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  // Empty when the kernel has what the plugin needs, else the reason, naming
  // the missing feature.
  virtual std::string unsupported_reason(const KernelFeatures& features) const = 0;
  // The config's fields, types, enums, defaults and help (core/config_schema.h):
  // served as `config_schema`, what the console's start form and `adamctl
  // plugin start --set` are generated from. Default: a plugin without config.
  virtual nlohmann::json config_schema() const;
  // Throws ApiError (400, naming the field) on a bad config. Changes nothing.
  // The default checks the config against config_schema(); a plugin with
  // more to check calls it first.
  virtual void validate(const nlohmann::json& config) const;
  // Loads, configures and attaches; adopts what an earlier adamd pinned.
  // Throws on failure after undoing its partial work. Only called with a
  // config that validate() accepted, and only while stopped.
  virtual void start(const nlohmann::json& config) = 0;
  // Detaches and removes everything the plugin has in the kernel, pins
  // included, also those left by an earlier adamd. Safe when not running.
  virtual void stop() = 0;
  // A running plugin takes a new config (validate() accepted it). The
  // default stops and starts again: the plugin is gone for a moment and its
  // kernel state starts afresh. A plugin that can switch in place overrides
  // it. Throws like start(); the plugin is then not running.
  virtual void reconfigure(const nlohmann::json& config) {
    stop();
    start(config);
  }
  // The network interfaces the plugin attaches to under `config` (one that
  // validate() accepted). The core watches them while the plugin runs: one
  // gone makes it `degraded`, one re-created gets a reconfigure(). Default:
  // none (a plugin on hooks that are not an interface's).
  virtual std::vector<std::string> interfaces(const nlohmann::json& /*config*/) const { return {}; }
  // Counters for the API (a JSON object): may be costly (every rule's counter).
  virtual nlohmann::json stats() const = 0;
  // One line for listings (`adamctl plugins`, the console's plugin table),
  // e.g. where the plugin is attached: "veth0@tc eth0@xdp/native". Cheap.
  virtual std::string summary() const { return {}; }
  // The plugin's own series in /metrics: families named adam_<plugin>_*
  // (MetricsWriter escapes the labels). Called on every scrape while the
  // plugin runs, so it reads only what is cheap to read.
  virtual void metrics(MetricsWriter&) const {}
  // Monotonic totals worth a rate, as {name: count}, e.g. {"dropped
  // packets": 12}: the fleet table and the dashboard chart show them per
  // second. Read on every listing while the plugin runs, so cheap.
  virtual nlohmann::json counters() const { return nlohmann::json::object(); }
  // Links from one of the plugin's events to what produced it, e.g. a
  // firewall.drop's {"rule": "/api/v1/firewall/rules/7"}; {} when none.
  virtual nlohmann::json event_links(const std::string& /*kind*/, const nlohmann::json& /*data*/) const {
    return nlohmann::json::object();
  }
  // The plugin's own routes (core/route.h): API resources under
  // /api/v1/<plugin>/ and console pages (Page::machine, e.g. /firewall);
  // served with the same auth, errors, negotiation, audit and metrics as the
  // core's. They answer whatever the plugin's state.
  virtual std::vector<Route> routes() { return {}; }
};

}  // namespace adam
