#pragma once
// The enforcement plugin (docs/lsm.md): stored policies (PolicyStore), the
// mechanism that enforces each kind on this machine (the first available of
// the kind's list that the config allows), and the back ends those
// mechanisms need (enforcer.h: the kernel's, fanotify's), which get every
// change as the last step of the store's transaction.
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/plugin.h"
#include "plugins/lsm/enforcer.h"
#include "plugins/lsm/policy.h"
#include "plugins/monitor/process.h"

namespace adam {

namespace lsm {
class PolicyStore;
}

class LsmPlugin : public Plugin {
 public:
  explicit LsmPlugin(PluginContext& ctx);
  ~LsmPlugin() override;

  std::string name() const override { return "lsm"; }
  std::string description() const override;
  std::string unsupported_reason(const KernelFeatures& features) const override;
  nlohmann::json config_schema() const override;
  void validate(const nlohmann::json& config) const override;
  void start(const nlohmann::json& config) override;
  void stop() override;
  nlohmann::json stats() const override;
  std::string summary() const override;
  void metrics(MetricsWriter& w) const override;
  nlohmann::json counters() const override;
  nlohmann::json event_links(const std::string& kind, const nlohmann::json& data) const override;
  // lsm_routes.cpp: the policy routes and the Enforcement page.
  std::vector<Route> routes() override;

  // The mechanism of each kind: while running, what enforces it; while
  // stopped, what the last config (or the default) would use here.
  struct Choice {
    std::optional<lsm::Mechanism> mechanism;
    std::string detail;  // the hooks ("lsm/bprm_check_security"), or why there is none
  };
  std::array<Choice, ADAM_LSM_KINDS> mechanisms() const;
  // `policy` resolved for this machine; ApiError 422 naming the field when
  // it cannot be enforced here (resolve(), a kind without a mechanism, a
  // scope its mechanism cannot see).
  lsm::Policy checked(lsm::Policy policy) const;
  // The API's resource of a stored policy: its fields, id, mechanism,
  // mechanism_detail, resolved, hits, warnings and links.
  nlohmann::json resource(const lsm::Policy& policy) const;
  nlohmann::json resources(const std::vector<lsm::Policy>& policies) const;  // hits read once

 private:
  std::array<Choice, ADAM_LSM_KINDS> choose(const nlohmann::json& config) const;
  // The store's last step: the enabled policies that resolve, to the back
  // ends (all of them or none).
  void apply(const std::vector<lsm::Policy>& policies);
  std::map<int64_t, lsm::Hits> hits() const;  // with mu_ held
  nlohmann::json resource(const lsm::Policy& policy, const Choice& choice,
                          const std::map<int64_t, lsm::Hits>& hits) const;  // with mu_ held

  PluginContext& ctx_;
  const mon::BootClock clock_;
  std::unique_ptr<lsm::PolicyStore> store_;  // null without a database (kernel-only tests)
  mutable std::mutex mu_;                    // everything below
  nlohmann::json config_;                    // the running or last config; null: none yet
  bool running_ = false;
  std::unique_ptr<lsm::Enforcer> kernel_, fanotify_;
  std::vector<lsm::Policy> applied_;           // what the back ends enforce (resolved), by (priority, id)
  std::map<int64_t, std::string> unresolved_;  // stored policies left out: why
};

}  // namespace adam
