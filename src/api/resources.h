#pragma once
// The core's routes, each concern a file returning its routes exactly as a
// plugin does (Plugin::routes()): the server (server.cpp) adds them all to
// one router.
#include <nlohmann/json.hpp>
#include <vector>

#include "api/server.h"
#include "core/route.h"

namespace adam {

class Auth;
class FleetPoller;
class HttpMetrics;
class Router;
struct EventCounters;

std::vector<Route> node_routes(ApiContext& ctx);    // node_routes.cpp: GET /api/v1/node
std::vector<Route> plugin_routes(ApiContext& ctx);  // plugin_routes.cpp: /api/v1/plugins...
std::vector<Route> token_routes(ApiContext& ctx);   // token_routes.cpp: /api/v1/tokens...
std::vector<Route> event_routes(ApiContext& ctx);   // event_routes.cpp: /api/v1/events...
std::vector<Route> metrics_routes(ApiContext& ctx, const HttpMetrics& http);  // metrics_routes.cpp
// machine_routes.cpp: the machine registry (/api/v1/machines...), its proxy
// and copy, the Fleet and Machines pages; gives `router` its
// MachineDirectory and `fleet` the machines to poll (this adamd included).
std::vector<Route> machine_routes(ApiContext& ctx, Router& router, FleetPoller& fleet);
// console.cpp: the console's core pages (dashboard, tokens), the login form
// and the assets; the layout and navigation come from the router.
std::vector<Route> console_routes(Auth& auth);
// The console's own URLs and the API entry points its pages load (the
// console page's `links`).
nlohmann::json console_links();

// {stored, lost: {reason: n}} of one plugin's events (node and plugins show it).
nlohmann::json event_counters_json(const EventCounters& c);

}  // namespace adam
