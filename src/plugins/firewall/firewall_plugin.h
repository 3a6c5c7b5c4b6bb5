#pragma once
// The firewall plugin: an XDP program (bpf/firewall.bpf.c) in the firewall's
// slot of adamd's XDP chain, on the interfaces of its config. This version
// passes every packet and counts it; the rule classifier comes later.
//
// Pins under <pin_dir>/firewall/: the maps fw_totals (counters) and fw_ifaces
// (the interfaces it runs on). They survive adamd restarts, so the counters
// continue where they were; stop() removes them.
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/plugin.h"

namespace adam {

class FirewallPlugin : public Plugin {
 public:
  explicit FirewallPlugin(PluginContext& ctx);
  ~FirewallPlugin() override;  // leaves the program in the chain and the pins in place
  FirewallPlugin(const FirewallPlugin&) = delete;
  FirewallPlugin& operator=(const FirewallPlugin&) = delete;

  std::string name() const override;
  std::string description() const override;
  std::string unsupported_reason(const KernelFeatures& features) const override;
  // Config: {"interfaces": ["eth0", ...]} (required, non-empty, unique,
  // existing interfaces). Unknown fields are rejected.
  void validate(const nlohmann::json& config) const override;
  void start(const nlohmann::json& config) override;
  void stop() override;
  // {"packets": {"pass": N, "drop": N}, "bytes": {"pass": N, "drop": N},
  //  "interfaces": [...]}
  nlohmann::json stats() const override;

 private:
  struct Loaded;  // the loaded BPF object while running
  std::string pin_dir() const;

  PluginContext& ctx_;
  mutable std::mutex mu_;
  std::unique_ptr<Loaded> loaded_;
  std::vector<std::string> interfaces_;
};

}  // namespace adam
