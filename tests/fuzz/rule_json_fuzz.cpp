// Firewall rule JSON (the API's body of PUT /ruleset and POST /rules) →
// validation → classifier compile, differentially against the reference
// classifier. The input is JSON text read as the router reads a body: an
// object with "rules" or "default" is a ruleset, any other one rule. What
// must hold: a refusal is an ApiError 400 or 422 (never another exception);
// an accepted rule comes back the same through rule_to_json, a ruleset
// through ruleset_to_json; compile() refuses nothing the parser accepted
// but the kernel tables' limits; and the compiled tables decide every packet
// at the rules' edges as reference_classify() does.
#include <cstdint>
#include <string_view>

#include "api/router.h"
#include "classifier_differential.h"
#include "core/errors.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace adam;
  fw::Ruleset rs;
  try {
    const nlohmann::json body = parse_json_body(std::string_view(reinterpret_cast<const char*>(bytes), size));
    if (body.is_object() && (body.contains("rules") || body.contains("default")))
      rs = fw::ruleset_from_json(body);
    else
      rs.rules.push_back(fw::rule_from_json(body));
  } catch (const ApiError& e) {
    FUZZ_CHECK(e.status() == 400 || e.status() == 422, std::to_string(e.status()) + " " + e.what());
    return 0;
  }

  for (const fw::Rule& r : rs.rules) {
    const nlohmann::json j = fw::rule_to_json(r);
    fw::Rule back = fw::rule_from_json(j);
    back.id = r.id;  // rule_to_json leaves the id to the resource
    FUZZ_CHECK(back == r, "rule does not round-trip: " + j.dump());
    (void)fw::match_summary(j.value("match", nlohmann::json::object()));
  }
  fuzz::number_rules(rs);
  const nlohmann::json listed = fw::ruleset_to_json(rs);
  const fw::Ruleset back = fw::ruleset_from_json(listed);
  FUZZ_CHECK(back.default_action == rs.default_action && back.rules.size() == rs.rules.size(), listed.dump());
  for (const fw::Rule& r : back.rules) {
    const auto it =
        std::find_if(rs.rules.begin(), rs.rules.end(), [&](const fw::Rule& x) { return x.id == r.id; });
    FUZZ_CHECK(it != rs.rules.end() && *it == r, "ruleset does not round-trip: " + listed.dump());
  }
  fuzz::check_against_reference(rs);
  return 0;
}
