// The load balancer's service JSON (plugins/lb/service.h) and the
// enforcement plugin's policy JSON (plugins/lsm/policy.h), each input read
// as both, the way their routes read a body. What must hold: a refusal is
// an ApiError 400 (never another exception); an accepted document comes
// back the same through its stored form (service_to_json, policy_to_json),
// which is itself accepted; an accepted service is consistent (a prime
// table size of at least 100 per backend, unique backends, timeout below
// interval).
#include <cstdint>
#include <string_view>

#include "api/router.h"
#include "core/errors.h"
#include "fuzz_check.h"
#include "plugins/lb/service.h"
#include "plugins/lsm/policy.h"

namespace {

void check_service(const nlohmann::json& body) {
  adam::lb::Service s;
  try {
    s = adam::lb::service_from_json(body);
  } catch (const adam::ApiError& e) {
    FUZZ_CHECK(e.status() == 400, std::to_string(e.status()) + " " + e.what());
    return;
  }
  FUZZ_CHECK(s.port >= 1, "port 0 accepted");
  FUZZ_CHECK(adam::lb::is_prime(s.table_size) && s.table_size >= 100 * std::max<size_t>(1, s.backends.size()),
             "table_size " + std::to_string(s.table_size));
  for (size_t i = 0; i < s.backends.size(); ++i) {
    for (size_t j = i + 1; j < s.backends.size(); ++j)
      FUZZ_CHECK(!(s.backends[i].address == s.backends[j].address), "a backend given twice was accepted");
  }
  if (s.health) FUZZ_CHECK(s.health->timeout_ms < s.health->interval_ms, "health timeout not below interval");
  s.id = 17;
  const nlohmann::json stored = adam::lb::service_to_json(s);
  adam::lb::Service back;
  try {
    back = adam::lb::service_from_json(stored);
  } catch (const adam::ApiError& e) {
    FUZZ_CHECK(false, std::string("the stored form of an accepted service is refused: ") + e.what() + "\n" +
                          stored.dump());
  }
  back.id = s.id;  // the body's id is not read
  FUZZ_CHECK(back == s, "service does not round-trip: " + stored.dump());
}

void check_policy(const nlohmann::json& body) {
  adam::lsm::Policy p;
  try {
    p = adam::lsm::policy_from_json(body);
  } catch (const adam::ApiError& e) {
    FUZZ_CHECK(e.status() == 400, std::to_string(e.status()) + " " + e.what());
    return;
  }
  const nlohmann::json stored = adam::lsm::policy_to_json(p);
  adam::lsm::Policy back;
  try {
    back = adam::lsm::policy_from_json(stored);
  } catch (const adam::ApiError& e) {
    FUZZ_CHECK(false, std::string("the stored form of an accepted policy is refused: ") + e.what() + "\n" +
                          stored.dump());
  }
  FUZZ_CHECK(adam::lsm::policy_to_json(back) == stored, "policy does not round-trip: " + stored.dump());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  nlohmann::json body;
  try {
    body = adam::parse_json_body(std::string_view(reinterpret_cast<const char*>(bytes), size));
  } catch (const adam::ApiError& e) {
    FUZZ_CHECK(e.status() == 400, e.what());
    return 0;
  }
  check_service(body);
  check_policy(body);
  return 0;
}
