#pragma once
// The lb plugin's HTML (templates/*.mustache): the fragments its routes
// answer HX requests with, and the Load balancer page (/lb), which reads
// only through Request::api so it serves a registered machine through its
// proxy too. Each renders a resource's JSON only.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/route.h"

namespace adam::lb {

// GET /api/v1/lb/services: every service's section.
std::string services_html(const nlohmann::json& list);
// One service's section (GET, POST, PUT, and every backend change).
std::string service_html(const nlohmann::json& service);
// POST /api/v1/lb/explain's answer.
std::string explain_html(const nlohmann::json& answer);

std::vector<Route> pages();

}  // namespace adam::lb
