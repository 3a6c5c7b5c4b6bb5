#pragma once
// The lb plugin's services, persisted in adamd's database and kept in step
// with the kernel: PluginStore documents of kind "service"
// (service_to_json), the document id being the service id, stable and never
// reused (as the firewall's fw::RuleStore and the lsm's PolicyStore).
//
// Every change is one transaction whose last step hands every resulting
// service to `apply` (the plugin turns them into kernel services): when
// apply throws, the transaction rolls back, so a refused set changes neither
// the store nor the kernel. Changes are serialized; the services are kept in
// memory too, by id.
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "plugins/lb/service.h"
#include "store/plugin_store.h"

namespace adam::lb {

class ServiceStore {
 public:
  using Apply = std::function<void(const std::vector<Service>& services)>;

  ServiceStore(Database& db, Apply apply);

  struct Change {
    Service before, after;
  };

  std::vector<Service> list();  // by id
  Service get(int64_t id);      // 404 when there is none
  // Stores `service` under a new id (check_against the others first).
  Service add(Service service);
  Change replace(int64_t id, Service service);
  Service remove(int64_t id);
  // Backends by address: 404 for an address the service does not have, 409
  // for one it has already (add).
  Change add_backend(int64_t id, Backend backend);
  Change set_weight(int64_t id, const IpAddress& address, uint32_t weight);
  Change remove_backend(int64_t id, const IpAddress& address);
  // Hands the stored services to apply again (start, a health change).
  void reapply();

 private:
  template <typename Edit>
  auto change(Edit&& edit);
  Change edit_one(int64_t id, const std::function<void(Service&)>& edit);

  PluginStore store_;
  Apply apply_;
  std::mutex mu_;
  std::vector<Service> services_;
};

}  // namespace adam::lb
