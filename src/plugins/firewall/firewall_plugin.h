#pragma once
// The firewall plugin: an XDP program (bpf/firewall.bpf.c) in the firewall's
// slot of adamd's XDP chain, on the interfaces of its config; on veth, the
// same classifier at tc ingress instead (a pinned tcx link). It classifies
// every IP packet against an ordered ruleset (see rule.h, docs/firewall.md)
// and drops it or lets it go on down the chain; it counts packets and bytes
// per rule and per verdict, and turns the packets of rules with `log: true`
// into events (firewall.drop / firewall.pass, log_event.h), rate-limited in
// the kernel.
//
// Pins under <pin_dir>/firewall/: every map of the program (rule tables,
// counters, fw_ifaces, the events' ring buffer) and the tc links
// (tc@<ifname>), so that the datapath keeps
// enforcing the last ruleset while adamd is down and a restarted adamd
// re-adopts it with its counters (and the events still in the ring buffer);
// stop() removes them.
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/event_hub.h"
#include "core/plugin.h"
#include "plugins/firewall/rule.h"

namespace adam {

class TcxIngress;

namespace fw {
class Datapath;
struct Counter;
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
  // existing interfaces), "hook": "xdp" | "tc" | "auto" (optional, default
  // auto: tc ingress on a veth when the kernel has tcx links and no xdp_mode
  // is given, XDP elsewhere), "xdp_mode": "native" | "generic" | "auto"
  // (optional, default auto: see XdpMode in core/xdp_chain.h; not with hook
  // tc), "log_rate" (events per
  // second and rule, default 1000) and "log_rate_total" (over all rules,
  // default 20000), integers 0..10,000,000 (0: no events). Unknown fields are
  // rejected.
  void validate(const nlohmann::json& config) const override;
  nlohmann::json config_schema() const override;
  std::vector<std::string> interfaces(const nlohmann::json& config) const override;  // its "interfaces"
  // Applies the ruleset of the last apply() (if any) before the program is
  // installed; without one, a re-adopted program keeps its pinned ruleset.
  void start(const nlohmann::json& config) override;
  void stop() override;
  // Takes a new config without a moment unfiltered: lets go of the running
  // objects as adamd's exit does (programs, links and pins stay and go on
  // filtering and counting) and starts again on them, as a restarted adamd
  // would. Interfaces that leave the config are detached; one that changes
  // hook gets the new one before it leaves the old.
  void reconfigure(const nlohmann::json& config) override;
  // {"packets": {"pass": N, "drop": N}, "bytes": {"pass": N, "drop": N},
  //  "interfaces": [...],
  //  "hooks": [{"interface": "eth0", "hook": "xdp", "xdp_mode": "native"},
  //            {"interface": "veth0", "hook": "tc"}],
  //  "added_rules": N}
  // Never a per-rule counter: every plugin listing shows stats.
  nlohmann::json stats() const override;
  // Where each interface is hooked: "veth0@tc eth0@xdp/native".
  std::string summary() const override;
  // Packets and bytes by verdict, rules, added rules, hooks: never a per-rule counter.
  void metrics(MetricsWriter& w) const override;
  // {"passed packets", "dropped packets"}: the verdict totals.
  nlohmann::json counters() const override;
  // A firewall.drop or firewall.pass event links to the rule that decided it.
  nlohmann::json event_links(const std::string& kind, const nlohmann::json& data) const override;
  // Every rule's counters, {"<id>": {"packets": N, "bytes": N}} (what
  // GET /api/v1/firewall/stats adds to stats()): one read per rule.
  nlohmann::json all_rule_counters() const;
  // One rule's counters {"packets": N, "bytes": N}, null when the kernel
  // has none for it.
  nlohmann::json rule_counters(uint32_t id) const;
  // The counters of rules `ids`: {"<id>": {"packets", "bytes"}}, rules the
  // kernel has none for left out. A few ids cost a lookup each, many one
  // batched read of all (what a page of the console's table reads).
  nlohmann::json rule_counters(const std::vector<uint32_t>& ids) const;
  // Every rule's counters in one batched read: what the flow stream diffs
  // each second for its top rules.
  std::map<uint32_t, fw::Counter> rule_counter_map() const;
  // Packets and bytes per verdict only: what the flow stream reads every
  // second, without the per-rule counters stats() walks.
  fw::Totals totals() const;

  // Replaces the ruleset, atomically for the packet path. Interface names
  // are resolved in adamd's network namespace now (a name that does not
  // exist matches no packet). While stopped it is only remembered (and
  // checked); start() applies it. Throws ApiError 422 when the ruleset is
  // invalid or exceeds the firewall's limits, with nothing changed.
  // `added`: the id of the one rule by which `ruleset` differs from the last
  // one (added, or enabled), or 0. Such a rule goes into the kernel's table
  // of added rules (milliseconds, not a recompile of the ruleset); the
  // ruleset is recompiled once rule changes pause for kCompactAfter.
  void apply(const fw::Ruleset& ruleset, uint32_t added = 0);
  static constexpr std::chrono::milliseconds kCompactAfter{1000};
  // Added rules in the kernel's table (of ADAM_FW_ADDED_RULES) from which
  // the ruleset is recompiled without waiting for a pause.
  static constexpr uint32_t kCompactWhen = 8;
  // The running program's decision for a packet arriving on `iface` (empty:
  // the first configured interface), by BPF_PROG_TEST_RUN. Throws ApiError
  // 503 when not running, 400 naming the field for a packet that cannot be
  // built or an interface that does not exist.
  fw::Decision explain(const fw::PacketKey& packet, const std::string& iface);
  // /api/v1/firewall/...: rules, ruleset, explain, stats, flow
  // (firewall_routes.cpp). None without a database.
  std::vector<Route> routes() override;

 private:
  std::string pin_dir() const;
  std::map<uint32_t, fw::Counter> locked_rule_counter_map() const;  // with mu_ held
  // stats()' "hooks": where each interface's packets meet the firewall.
  nlohmann::json hooks_json() const;
  // apply() of a ruleset that is ruleset_ plus rule `id`, through the
  // kernel's added-rules table; false when that cannot take it.
  bool add(const fw::Ruleset& ruleset, uint32_t id);
  // Recompiles the ruleset, with the rules of the kernel's added-rules table,
  // once kCompactAfter passed without a change or the table holds
  // kCompactWhen rules.
  void compact_loop();
  void compact();

  PluginContext& ctx_;
  // Held by whoever writes a whole generation of the kernel's tables (apply,
  // the compactor, start, stop), before mu_. The compactor holds it through
  // its compile but mu_ only around it, so add() is not held up.
  std::mutex tables_mu_;
  mutable std::mutex mu_;
  std::condition_variable compact_cv_;
  std::chrono::steady_clock::time_point last_change_;
  bool compact_stop_ = false;
  bool compact_failed_ = false;             // until the next change
  std::unique_ptr<fw::Datapath> datapath_;  // while running
  // The log events' ring buffer in the EventHub, while running (and with a
  // hub). Declared after datapath_ so that it is destroyed first: its
  // destructor drains the ring buffer, whose map the datapath closes.
  std::unique_ptr<EventHub::Registration> events_;
  // The tc ingress links, on the interfaces hooked at tc (while running).
  std::unique_ptr<TcxIngress> tcx_;
  std::vector<std::string> interfaces_;
  std::optional<fw::Ruleset> ruleset_;  // of the last apply()
  // The stored rules (null without a database): loaded and applied at
  // construction, so start() enforces them; every change goes through apply().
  std::unique_ptr<fw::RuleStore> rules_;
  std::thread compactor_;  // last: it runs on the members above
};

}  // namespace adam
