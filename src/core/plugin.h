#pragma once
// The one interface between adamd's core and a plugin. The core (manager,
// store, API, UI) only ever talks to plugins through it.
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

// A plugin's own API routes (under /api/v1), served by the core's HTTP server
// with the same auth, errors, negotiation and metrics as every other route.
struct PluginRequest {
  std::vector<std::string> params;                // the route pattern's captures
  std::multimap<std::string, std::string> query;  // ?a=1&a=2
  nlohmann::json body;                            // parsed JSON body; null when empty
  std::string caller;                             // the token's name (audit)
};

struct PluginReply {
  int status = 200;
  nlohmann::json body;  // ignored for 204
  // For an admin route's audit event (api.change): the changed resource
  // before and after. Left null, `after` is the request body.
  nlohmann::json audit_before;
  nlohmann::json audit_after;
};

// For streaming routes (SSE): sends one event; false once the client is gone.
using EventSink = std::function<bool(const std::string& event, const std::string& data)>;

struct PluginRoute {
  std::string method;   // GET, POST, PUT, DELETE
  std::string pattern;  // regex below /api/v1, e.g. "/firewall/rules/([0-9]+)"
  std::string name;     // template for metrics and docs, e.g. "/api/v1/firewall/rules/{id}"
  bool admin = false;   // true: needs an admin token (state-changing)
  std::function<PluginReply(const PluginRequest&)> handler;
  std::function<std::string(const nlohmann::json&)> html;  // HX-Request fragment; null: the JSON in <pre>
  // Set instead of `handler` for a Server-Sent Events stream: called on its
  // own thread, returns when the sink reports the client gone.
  std::function<void(const PluginRequest&, const EventSink&)> stream;
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
  // Counters for the API (a JSON object): may be costly (every rule's counter).
  virtual nlohmann::json stats() const = 0;
  // One line for listings (`adamctl plugins`, the console's plugin table),
  // e.g. where the plugin is attached: "veth0@tc eth0@xdp/native". Cheap.
  virtual std::string summary() const { return {}; }
  // The plugin's own series in /metrics: families named adam_<plugin>_*
  // (MetricsWriter escapes the labels). Called on every scrape while the
  // plugin runs, so it reads only what is cheap to read.
  virtual void metrics(MetricsWriter&) const {}
  // The plugin's own API routes; they answer whatever the plugin's state.
  virtual std::vector<PluginRoute> routes() { return {}; }
};

}  // namespace adam
