#pragma once
// The firewall plugin: an XDP program (bpf/firewall.bpf.c) in the firewall's
// slot of adamd's XDP chain, on the interfaces of its config. It classifies
// every IP packet against an ordered ruleset (see rule.h, docs/firewall.md)
// and drops it or lets it go on down the chain; it counts packets and bytes
// per rule and per verdict.
//
// Pins under <pin_dir>/firewall/: every map of the program (rule tables,
// counters, fw_ifaces), so that the datapath keeps enforcing the last ruleset
// while adamd is down and a restarted adamd re-adopts it with its counters;
// stop() removes them.
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/plugin.h"
#include "plugins/firewall/rule.h"

namespace adam {

namespace fw {
class Datapath;
struct Totals;
class RuleStore;
}  // namespace fw

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
  // existing interfaces), "xdp_mode": "native" | "generic" | "auto" (optional,
  // default auto: see XdpMode in core/xdp_chain.h). Unknown fields are
  // rejected.
  void validate(const nlohmann::json& config) const override;
  // Applies the ruleset of the last apply() (if any) before the program is
  // installed; without one, a re-adopted program keeps its pinned ruleset.
  void start(const nlohmann::json& config) override;
  void stop() override;
  // {"packets": {"pass": N, "drop": N}, "bytes": {"pass": N, "drop": N},
  //  "interfaces": [...], "rules": {"<id>": {"packets": N, "bytes": N}}}
  nlohmann::json stats() const override;
  // Packets and bytes per verdict only: what the flow stream reads every
  // second, without the per-rule counters stats() walks.
  fw::Totals totals() const;

  // Replaces the ruleset, atomically for the packet path. Interface names
  // are resolved in adamd's network namespace now (a name that does not
  // exist matches no packet). While stopped it is only remembered (and
  // checked); start() applies it. Throws ApiError 422 when the ruleset is
  // invalid or exceeds the firewall's limits, with nothing changed.
  void apply(const fw::Ruleset& ruleset);
  // The running program's decision for a packet arriving on `iface` (empty:
  // the first configured interface), by BPF_PROG_TEST_RUN. Throws ApiError
  // 503 when not running, 400 naming the field for a packet that cannot be
  // built or an interface that does not exist.
  fw::Decision explain(const fw::PacketKey& packet, const std::string& iface);
  // /api/v1/firewall/...: rules, ruleset, explain, stats, flow
  // (firewall_routes.cpp). None without a database.
  std::vector<PluginRoute> routes() override;

 private:
  std::string pin_dir() const;

  PluginContext& ctx_;
  mutable std::mutex mu_;
  std::unique_ptr<fw::Datapath> datapath_;  // while running
  std::vector<std::string> interfaces_;
  std::optional<fw::Ruleset> ruleset_;  // of the last apply()
  // The stored rules (null without a database): loaded and applied at
  // construction, so start() enforces them; every change goes through apply().
  std::unique_ptr<fw::RuleStore> rules_;
};

}  // namespace adam
