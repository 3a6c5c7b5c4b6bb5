// ClassBench import (parse_classbench, what `adamctl firewall import` and the
// API read). What must hold: a refusal is an ApiError 400 naming a line
// ("line N") or the 422 of too many rules; the rules of an accepted file are
// valid rules (rule_from_json takes their JSON back unchanged), come back
// with the same matches through format_classbench, and compile into tables
// that decide the packets at their edges as the reference classifier does.
#include <cstdint>
#include <string_view>

#include "classifier_differential.h"
#include "core/errors.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  using namespace adam;
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);
  fw::Ruleset rs;
  try {
    rs.rules = fw::parse_classbench(text);
  } catch (const ApiError& e) {
    FUZZ_CHECK(
        (e.status() == 400 && e.field().starts_with("line ")) || (e.status() == 422 && e.field() == "rules"),
        std::to_string(e.status()) + " field '" + e.field() + "': " + e.what());
    return 0;
  }
  for (size_t i = 0; i < rs.rules.size(); ++i) {
    fw::Rule& r = rs.rules[i];
    r.id = static_cast<uint32_t>(i + 1);
    fw::Rule back = fw::rule_from_json(fw::rule_to_json(r));
    back.id = r.id;
    FUZZ_CHECK(back == r, "an imported rule is not a valid rule: " + fw::rule_to_json(r).dump());
  }
  std::string formatted;
  try {
    formatted = fw::format_classbench(rs);
  } catch (const ApiError& e) {
    FUZZ_CHECK(false, std::string("imported rules do not export: ") + e.what());
  }
  const std::vector<fw::Rule> again = fw::parse_classbench(formatted);
  FUZZ_CHECK(again.size() == rs.rules.size(), formatted);
  for (size_t i = 0; i < again.size(); ++i)
    FUZZ_CHECK(again[i].match == rs.rules[i].match, "line " + std::to_string(i + 1) + " of\n" + formatted +
                                                        "imported " + fw::rule_to_json(rs.rules[i]).dump() +
                                                        "\nexported and imported " +
                                                        fw::rule_to_json(again[i]).dump());
  fuzz::check_against_reference(rs, 64);
  return 0;
}
