#pragma once
// The one interface between adamd's core and a plugin. The core (manager,
// store, API, UI) only ever talks to plugins through it.
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace adam {

class XdpChain;
struct KernelFeatures;

// What adamd hands every plugin.
struct PluginContext {
  std::string pin_dir;  // bpffs root of adamd, e.g. /sys/fs/bpf/adam; a plugin pins under pin_dir/<name>/
  XdpChain& xdp;        // the shared XDP hook (root program + tail-call chain)
  const KernelFeatures& features;
};

class Plugin {
 public:
  virtual ~Plugin() = default;  // releases handles; pinned objects keep enforcing

  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  // Empty when the kernel has what the plugin needs, else the reason, naming
  // the missing feature.
  virtual std::string unsupported_reason(const KernelFeatures& features) const = 0;
  // Throws ApiError (400, naming the field) on a bad config. Changes nothing.
  virtual void validate(const nlohmann::json& config) const = 0;
  // Loads, configures and attaches; adopts what an earlier adamd pinned.
  // Throws on failure after undoing its partial work. Only called with a
  // config that validate() accepted, and only while stopped.
  virtual void start(const nlohmann::json& config) = 0;
  // Detaches and removes everything the plugin has in the kernel, pins
  // included, also those left by an earlier adamd. Safe when not running.
  virtual void stop() = 0;
  // Counters for the API and /metrics (a JSON object).
  virtual nlohmann::json stats() const = 0;
};

}  // namespace adam
