#pragma once
// The lsm plugin's policies, persisted in adamd's database and kept in step
// with the enforcers: PluginStore documents of kind "policy"
// (policy_to_json), the document id being the policy id, stable and never
// reused (as the firewall's fw::RuleStore).
//
// Every change is one transaction whose last step hands every resulting
// policy to `apply` (the plugin resolves the enabled ones and gives each
// back end its kinds'): when apply throws, the transaction rolls back, so a
// refused set changes neither the store nor the kernel. Changes are
// serialized; the policies are kept in memory too, by id.
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "plugins/lsm/policy.h"
#include "store/plugin_store.h"

namespace adam::lsm {

class PolicyStore {
 public:
  // All-or-nothing: throws (ApiError 422 naming the field) to refuse the set.
  using Apply = std::function<void(const std::vector<Policy>& policies)>;

  PolicyStore(Database& db, Apply apply);

  template <typename T>
  struct Change {
    T before, after;
  };

  std::vector<Policy> list();  // by id
  Policy get(int64_t id);      // 404 when there is none
  // Stores `policy` under a new id (its own is ignored); created = updated = now.
  Policy add(Policy policy);
  // Replaces every field of policy `id` but its id and created.
  Change<Policy> replace(int64_t id, Policy policy);
  Change<Policy> set_enabled(int64_t id, bool enabled);
  Change<Policy> set_action(int64_t id, Action action);
  Policy remove(int64_t id);  // the removed policy
  // Hands the stored policies to apply again (the plugin's start): throws
  // what apply throws.
  void reapply();

 private:
  template <typename Edit>
  auto change(Edit&& edit);
  Change<Policy> edit_one(int64_t id, const std::function<void(Policy&)>& edit);
  Policy& existing(int64_t id);  // in policies_; 404 when there is none

  PluginStore store_;
  Apply apply_;
  std::mutex mu_;                 // policies_, and one change at a time
  std::vector<Policy> policies_;  // what the store holds, by id
};

}  // namespace adam::lsm
