#include "core/query_params.h"

#include <fmt/format.h>

#include "core/errors.h"

namespace adam {

namespace {

void check_no_query(const Request& req) {
  if (req.query.empty()) return;
  const std::string& name = req.query.begin()->first;
  throw bad_request(name,
                    fmt::format("unknown parameter '{}': {} takes none", name.substr(0, 200), req.path));
}

}  // namespace

void refuse_query_parameters(std::vector<Route>& routes) {
  for (Route& route : routes) {
    if (route.handler)
      route.handler = [handler = std::move(route.handler)](const Request& req) {
        check_no_query(req);
        return handler(req);
      };
    if (route.stream)
      route.stream = [stream = std::move(route.stream)](const Request& req) {
        check_no_query(req);
        return stream(req);
      };
  }
}

}  // namespace adam
