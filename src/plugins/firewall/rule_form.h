#pragma once
// The console's firewall forms (application/x-www-form-urlencoded, as the
// router hands them over in Request::form) as the JSON the API takes, so
// that a form is validated by exactly the code that validates JSON
// (rule_json.h) and its errors name the same fields ("match.dst_port[1]").
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace adam::fw {

// The match fields a condition row of the rule form can restrict.
inline constexpr std::string_view kConditionFields[] = {"src",      "dst",      "proto",
                                                        "src_port", "dst_port", "iface"};

using FormFields = std::vector<std::pair<std::string, std::string>>;

// The rule form: name, description, priority, action, enabled, log
// (checkboxes: present means true) and its conditions as pairs of a `field`
// (src, dst, proto, src_port, dst_port, iface) followed by its `values`
// ("a, b, c": the field's values, OR), the conditions joined by AND. A
// condition without values is left out (a row just added); a field in two
// conditions is a 400 naming "match.<field>" (one row holds all its values).
// Throws ApiError 400 naming the field of an unknown key or a priority that
// is no integer; rule_from_json checks the rest.
nlohmann::json rule_json_from_form(const FormFields& form);

// The explain form: src, dst, proto, src_port, dst_port, iface, the empty
// ones left out and the ports as numbers (400 naming the port field that is
// not one), as packet_query_from_json takes it.
nlohmann::json packet_json_from_form(const FormFields& form);

}  // namespace adam::fw
