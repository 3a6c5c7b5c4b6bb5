#include "plugins/lb/service_store.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>

#include "adam/lb.h"
#include "core/errors.h"

namespace adam::lb {
namespace {

constexpr const char* kPlugin = "lb";
constexpr const char* kServiceKind = "service";

// The document's body: the stored form without the id, which is the
// document's own.
std::string document_of(const Service& service) {
  nlohmann::json body = service_to_json(service);
  body.erase("id");
  return body.dump();
}

Service service_of(const StoredDocument& document) {
  try {
    Service service = service_from_json(nlohmann::json::parse(document.body));
    service.id = document.id;
    return service;
  } catch (const std::exception& e) {
    // Not the client's fault: no 400 for it.
    throw std::runtime_error("lb: stored service " + std::to_string(document.id) +
                             " is unreadable: " + e.what());
  }
}

Service& service_in(std::vector<Service>& services, int64_t id) {
  auto it = std::find_if(services.begin(), services.end(), [&](const Service& s) { return s.id == id; });
  if (it == services.end()) throw not_found("no lb service with id " + std::to_string(id));
  return *it;
}

std::vector<Backend>::iterator backend_in(Service& service, const IpAddress& address) {
  auto it = std::find_if(service.backends.begin(), service.backends.end(),
                         [&](const Backend& b) { return b.address == address; });
  if (it == service.backends.end())
    throw not_found("lb service " + std::to_string(service.id) + " has no backend " + address.to_string());
  return it;
}

void check_weight(uint32_t weight) {
  if (weight > 65535)
    throw bad_request("weight", "must be an integer from 0 to 65535, got " + std::to_string(weight));
}

}  // namespace

ServiceStore::ServiceStore(Database& db, Apply apply) : store_(db, kPlugin), apply_(std::move(apply)) {
  for (const auto& document : store_.list(kServiceKind)) services_.push_back(service_of(document));
}

// Runs edit(services, tx) on a copy of the services, in a transaction whose
// last step is apply(the copy); the copy becomes the services only when
// both succeeded, so a refusal leaves the store and the memory as they were.
template <typename Edit>
auto ServiceStore::change(Edit&& edit) {
  std::lock_guard lock(mu_);
  std::vector<Service> next = services_;
  auto result = store_.transaction([&](PluginStore::Tx& tx) {
    auto edited = edit(next, tx);
    apply_(next);
    return edited;
  });
  services_ = std::move(next);
  return result;
}

std::vector<Service> ServiceStore::list() {
  std::lock_guard lock(mu_);
  return services_;
}

Service ServiceStore::get(int64_t id) {
  std::lock_guard lock(mu_);
  return service_in(services_, id);
}

Service ServiceStore::add(Service service) {
  return change([&](std::vector<Service>& services, PluginStore::Tx& tx) {
    service.id = 0;  // no stored service's: ids start at 1
    check_against(service, services);
    service.id = tx.insert(kServiceKind, document_of(service));
    services.push_back(service);  // the largest id: the end
    return service;
  });
}

// Edits service `id` in place; the result is checked against the others
// (the edit may add backends or move the vip) before it is stored.
ServiceStore::Change ServiceStore::edit_one(int64_t id, const std::function<void(Service&)>& edit) {
  return change([&](std::vector<Service>& services, PluginStore::Tx& tx) {
    Service& slot = service_in(services, id);
    Change c{slot, slot};
    edit(c.after);
    c.after.id = id;
    check_against(c.after, services);
    tx.put(kServiceKind, id, document_of(c.after));
    slot = c.after;
    return c;
  });
}

ServiceStore::Change ServiceStore::replace(int64_t id, Service service) {
  return edit_one(id, [&](Service& s) { s = service; });
}

Service ServiceStore::remove(int64_t id) {
  return change([&](std::vector<Service>& services, PluginStore::Tx& tx) {
    Service& slot = service_in(services, id);
    Service removed = slot;
    tx.remove(kServiceKind, id);
    services.erase(services.begin() + (&slot - services.data()));
    return removed;
  });
}

ServiceStore::Change ServiceStore::add_backend(int64_t id, Backend backend) {
  check_weight(backend.weight);
  return edit_one(id, [&](Service& s) {
    const std::string address = backend.address.to_string();
    if (backend.address == s.vip) throw bad_request("address", address + " is the service's vip");
    if (std::any_of(s.backends.begin(), s.backends.end(),
                    [&](const Backend& b) { return b.address == backend.address; }))
      throw ApiError(409, "conflict", address + " is already a backend of lb service " + std::to_string(id),
                     "address");
    // service_from_json's rule, which a stored service must keep to be read
    // back: the table holds at least ADAM_LB_MIN_TABLE_FACTOR entries a backend.
    if (s.table_size < uint64_t{ADAM_LB_MIN_TABLE_FACTOR} * (s.backends.size() + 1))
      throw ApiError(422, "table_too_small",
                     "lb service " + std::to_string(id) + "'s table_size " + std::to_string(s.table_size) +
                         " holds " + std::to_string(s.table_size / ADAM_LB_MIN_TABLE_FACTOR) +
                         " backends at most; replace the service with a larger table_size first",
                     "table_size");
    s.backends.push_back(backend);
  });
}

ServiceStore::Change ServiceStore::set_weight(int64_t id, const IpAddress& address, uint32_t weight) {
  check_weight(weight);
  return edit_one(id, [&](Service& s) { backend_in(s, address)->weight = weight; });
}

ServiceStore::Change ServiceStore::remove_backend(int64_t id, const IpAddress& address) {
  return edit_one(id, [&](Service& s) { s.backends.erase(backend_in(s, address)); });
}

void ServiceStore::reapply() {
  std::lock_guard lock(mu_);
  apply_(services_);
}

}  // namespace adam::lb
