#pragma once
// The lsm plugin's HTML (templates/*.mustache): the policy fragments its
// routes answer HX requests with, and the Enforcement page (/lsm), which
// reads only through Request::api so it serves a registered machine through
// its proxy too. Each renders a resource's JSON only.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/route.h"

namespace adam::lsm {

// GET /api/v1/lsm/policies: the policies table.
std::string policies_html(const nlohmann::json& list);
// One policy's row (POST, GET, PUT, enable, disable).
std::string policy_row_html(const nlohmann::json& policy);
// POST .../promote's answer: the promoted policy's row, saying how many
// operations it would have denied in the window.
std::string promoted_html(const nlohmann::json& promotion);

std::vector<Route> pages();

}  // namespace adam::lsm
