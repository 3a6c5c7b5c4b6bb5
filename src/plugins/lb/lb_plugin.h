#pragma once
// The load balancer plugin (docs/lb.md): bpf/lb.bpf.c in the slot
// ADAM_XDP_SLOT_LB of adamd's XDP chain on the config's `interfaces`
// (Datapath), bpf/lb_decap.bpf.c at tc ingress of `decap_interfaces` on a
// backend (Decap), the services stored by lb::ServiceStore, whose every
// change ends in apply(): each backend's next hop, health (HealthChecker)
// and the depool rule turned into the kernel's services.
//
// Threads and locks: the store's change holds its lock and calls apply(),
// which takes mu_ (and, inside it, the checker's own lock through
// set_targets/state). The checker's on_change runs on its thread with no
// lock of its and takes only wake_mu_, to queue the verdict for the
// re-apply thread; that thread calls the store's reapply() (store lock, then
// mu_) with wake_mu_ released. So the order is always store -> mu_ ->
// checker, and wake_mu_ is a leaf: no cycle.
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/plugin.h"
#include "plugins/lb/datapath.h"
#include "plugins/lb/health.h"
#include "plugins/lb/next_hop.h"
#include "plugins/lb/service.h"

namespace adam {

namespace lb {
class Decap;
class ServiceStore;
}  // namespace lb

class LbPlugin : public Plugin {
 public:
  explicit LbPlugin(PluginContext& ctx);
  ~LbPlugin() override;  // lets go without detaching: the pins keep forwarding
  LbPlugin(const LbPlugin&) = delete;
  LbPlugin& operator=(const LbPlugin&) = delete;

  std::string name() const override { return "lb"; }
  std::string description() const override;
  std::string unsupported_reason(const KernelFeatures& features) const override;
  nlohmann::json config_schema() const override;
  void validate(const nlohmann::json& config) const override;
  // Where it balances and where it decapsulates: "interfaces" and "decap_interfaces".
  std::vector<std::string> interfaces(const nlohmann::json& config) const override;
  void start(const nlohmann::json& config) override;
  // Without a gap: lets go of the running objects as adamd's exit does and
  // starts again on their pins, as a restarted adamd would; the new program
  // replaces the old one in the slot in one update. The health checker and
  // its verdicts stay while the balancer does.
  void reconfigure(const nlohmann::json& config) override;
  void stop() override;
  // docs/lb.md "Counters, metrics, events".
  nlohmann::json stats() const override;
  std::string summary() const override;  // "veth0@xdp/generic; 2 services, 6 backends; decap on veth1"
  void metrics(MetricsWriter& w) const override;
  nlohmann::json counters() const override;
  nlohmann::json event_links(const std::string& kind, const nlohmann::json& data) const override;
  // lb_routes.cpp: /api/v1/lb/... and the console page /lb.
  std::vector<Route> routes() override;

  // The API's resource of stored services (docs/lb.md "The resource"):
  // counters read once for all.
  nlohmann::json resources(const std::vector<lb::Service>& services) const;
  nlohmann::json resource(const lb::Service& service) const;
  // POST /api/v1/lb/explain's body, answered by the loaded program. 503
  // when not running or without `interfaces`, 400 naming the field.
  nlohmann::json explain(const nlohmann::json& body) const;
  // The packets each backend of service `id` was sent so far (the rates
  // stream's readings; empty while not running).
  struct Reading {
    std::map<std::string, uint64_t> packets;  // by backend address
    std::chrono::steady_clock::time_point at;
  };
  Reading backend_packets(int64_t id) const;

 private:
  // What apply() made of one backend: shown in its resource.
  struct BackendView {
    lb::NextHop next_hop;
    std::optional<lb::BackendHealth> health;  // null: the service has no health check
    bool in_table = false;
    bool depooled = false;  // out for failing its checks
  };
  struct ServiceView {
    std::map<lb::IpAddress, BackendView> backends;
    uint32_t down = 0;
    bool limited = false;
  };
  // The store's last step (and the re-apply thread's): the services to the
  // kernel. Throws ApiError 422 when the data path refuses them.
  void apply(const std::vector<lb::Service>& services);
  // apply() with mu_ held.
  struct Applied {
    bool live = false;        // running: the services went to the kernel
    bool unresolved = false;  // some next hop is still unresolved
  };
  Applied apply_locked(const std::vector<lb::Service>& services);
  // The health checker's verdicts, queued for the re-apply thread.
  void health_changed(const lb::HealthTarget& target, const lb::BackendHealth& now);
  void reapply_loop();
  void publish(const std::string& kind, const nlohmann::json& data) const;
  std::string pin_dir() const;
  nlohmann::json resource(const lb::Service& service,
                          const std::map<int64_t, lb::ServiceCounters>& counters) const;  // with mu_ held
  std::map<int64_t, lb::ServiceCounters> counters_by_id() const;                          // with mu_ held

  PluginContext& ctx_;
  mutable std::mutex mu_;  // everything below but the re-apply thread's state
  nlohmann::json config_;  // while running
  bool running_ = false;
  std::vector<std::string> interfaces_;
  std::unique_ptr<lb::Datapath> datapath_;      // running with interfaces
  std::unique_ptr<lb::Decap> decap_;            // running with decap
  std::unique_ptr<lb::HealthChecker> checker_;  // running with interfaces
  std::map<int64_t, ServiceView> views_;        // by service id, of the last apply()
  std::set<int64_t> limited_;                   // services whose depool threshold holds (for the event)
  std::unique_ptr<lb::ServiceStore> store_;     // null without a database

  // The re-apply thread: a health verdict changed, or a next hop is still
  // unresolved (retried every kRetryFast, then every kRetrySlow).
  struct Verdict {
    lb::HealthTarget target;
    lb::BackendHealth now;
  };
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  std::vector<Verdict> verdicts_;                               // with wake_mu_
  std::optional<std::chrono::steady_clock::time_point> retry_;  // with wake_mu_
  uint32_t retries_ = 0;                                        // with wake_mu_
  bool quit_ = false;                                           // with wake_mu_
  std::thread reapplier_;                                       // last: it runs on the members above
};

}  // namespace adam
