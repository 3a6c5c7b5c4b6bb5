#pragma once
// A stored event as the API shows it (docs/events.md), for the events
// routes and for a plugin's resources that embed events.
#include <nlohmann/json.hpp>

#include "store/event_store.h"

namespace adam {

// {id, ts, time, plugin, kind, machine, data}: data parsed (kept as a
// string if it is not JSON).
nlohmann::json event_json(const Event& e);

}  // namespace adam
