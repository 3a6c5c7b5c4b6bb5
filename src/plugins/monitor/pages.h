#pragma once
// The monitor's console page, Processes (/processes): the process tree,
// live or at a chosen past time, searchable on comm and args, and one
// process's detail (?exec_id=X): its fields, ancestors to pid 1, children,
// recent events and a link to every event of its exec id. It reads only
// through Request::api, so it serves a registered machine through its
// proxy too. MonitorPlugin::routes() (monitor_routes.cpp) appends it.
#include <vector>

#include "core/route.h"

namespace adam::mon {

std::vector<Route> processes_pages();

}  // namespace adam::mon
