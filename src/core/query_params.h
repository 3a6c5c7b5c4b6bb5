#pragma once
// Routes that take no query parameter refuse every one (400 naming it): a
// misspelt filter must not pass for a query that matched everything.
#include <vector>

#include "core/route.h"

namespace adam {

// Wraps the handler and the stream of each route in `routes` so that a
// request with a query parameter is refused before the route runs.
void refuse_query_parameters(std::vector<Route>& routes);

}  // namespace adam
