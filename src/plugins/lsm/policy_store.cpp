#include "plugins/lsm/policy_store.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/errors.h"

namespace adam::lsm {

namespace {

constexpr const char* kPlugin = "lsm";
constexpr const char* kPolicyKind = "policy";

std::string body_of(const Policy& p) { return policy_to_json(p).dump(); }

Policy policy_of(const StoredDocument& document) {
  try {
    const auto body = nlohmann::json::parse(document.body);
    Policy p = policy_from_json(body);
    p.id = document.id;
    p.created = body.value("created", TimeNs{0});
    p.updated = body.value("updated", TimeNs{0});
    return p;
  } catch (const std::exception& e) {
    // Not the client's fault: no 400 for it.
    throw std::runtime_error("lsm: stored policy " + std::to_string(document.id) +
                             " is unreadable: " + e.what());
  }
}

// The kernel's tables hold ADAM_LSM_MAX_POLICIES of a kind.
void check_fits(const std::vector<Policy>& policies, Kind kind) {
  const auto n =
      std::count_if(policies.begin(), policies.end(), [&](const Policy& p) { return p.kind == kind; });
  if (n > ADAM_LSM_MAX_POLICIES)
    throw ApiError(422, "too_many_policies",
                   "at most " + std::to_string(ADAM_LSM_MAX_POLICIES) + " " + std::string(name_of(kind)) +
                       " policies fit the kernel's tables",
                   "kind");
}

}  // namespace

PolicyStore::PolicyStore(Database& db, Apply apply) : store_(db, kPlugin), apply_(std::move(apply)) {
  store_.transaction([&](PluginStore::Tx& tx) {
    for (const auto& document : tx.list(kPolicyKind)) policies_.push_back(policy_of(document));
  });
}

Policy& PolicyStore::existing(int64_t id) {
  auto it = std::lower_bound(policies_.begin(), policies_.end(), id,
                             [](const Policy& p, int64_t id) { return p.id < id; });
  if (it == policies_.end() || it->id != id) throw not_found("no lsm policy with id " + std::to_string(id));
  return *it;
}

// Runs edit(tx) (which edits policies_ and the store alike) in a
// transaction whose last step is apply; policies_ is put back when that
// or the commit fails.
template <typename Edit>
auto PolicyStore::change(Edit&& edit) {
  std::lock_guard lock(mu_);
  std::vector<Policy> before = policies_;
  try {
    return store_.transaction([&](PluginStore::Tx& tx) {
      auto result = edit(tx);
      apply_(policies_);
      return result;
    });
  } catch (...) {
    policies_ = std::move(before);
    throw;
  }
}

std::vector<Policy> PolicyStore::list() {
  std::lock_guard lock(mu_);
  return policies_;
}

Policy PolicyStore::get(int64_t id) {
  std::lock_guard lock(mu_);
  return existing(id);
}

Policy PolicyStore::add(Policy policy) {
  return change([&](PluginStore::Tx& tx) {
    policy.created = policy.updated = now_ns();
    policy.id = tx.insert(kPolicyKind, body_of(policy));
    policies_.push_back(policy);  // the largest id: the end
    check_fits(policies_, policy.kind);
    return policy;
  });
}

PolicyStore::Change<Policy> PolicyStore::edit_one(int64_t id, const std::function<void(Policy&)>& edit) {
  return change([&](PluginStore::Tx& tx) {
    Policy& slot = existing(id);
    Policy after = slot;
    edit(after);
    after.id = slot.id;
    after.created = slot.created;
    after.updated = now_ns();
    tx.put(kPolicyKind, id, body_of(after));
    Change<Policy> c{std::exchange(slot, after), after};
    check_fits(policies_, after.kind);
    return c;
  });
}

PolicyStore::Change<Policy> PolicyStore::replace(int64_t id, Policy policy) {
  return edit_one(id, [&](Policy& p) { p = policy; });
}

PolicyStore::Change<Policy> PolicyStore::set_enabled(int64_t id, bool enabled) {
  return edit_one(id, [&](Policy& p) { p.enabled = enabled; });
}

PolicyStore::Change<Policy> PolicyStore::set_action(int64_t id, Action action) {
  return edit_one(id, [&](Policy& p) { p.action = action; });
}

Policy PolicyStore::remove(int64_t id) {
  return change([&](PluginStore::Tx& tx) {
    Policy& slot = existing(id);
    Policy removed = slot;
    tx.remove(kPolicyKind, id);
    policies_.erase(policies_.begin() + (&slot - policies_.data()));
    return removed;
  });
}

void PolicyStore::reapply() {
  std::lock_guard lock(mu_);
  apply_(policies_);
}

}  // namespace adam::lsm
