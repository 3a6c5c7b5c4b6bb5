#include "api/auth.h"
#include "api/html.h"
#include "api/resources.h"
#include "api/router.h"
#include "core/embedded.h"

namespace adam {

using nlohmann::json;

namespace {

std::string content_type_of(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace

json console_links() {
  return {{"home", "/"},
          {"stylesheet", "/ui/assets/adam.css"},
          {"script", "/ui/assets/htmx.min.js"},
          {"sse_script", "/ui/assets/sse.min.js"},
          {"chart_script", "/ui/assets/uPlot.iife.min.js"},
          {"chart_stylesheet", "/ui/assets/uPlot.min.css"},
          {"console_script", "/ui/assets/console.js"},
          {"login", "/ui/login"},
          {"logout", "/ui/logout"},
          {"node", "/api/v1/node"},
          {"plugins", "/api/v1/plugins"},
          {"tokens", "/api/v1/tokens"},
          {"events", "/api/v1/events"},
          {"histogram", "/api/v1/events/histogram"}};
}

std::vector<Route> console_routes(Auth& auth) {
  std::vector<Route> r;
  // The dashboard of the active machine.
  Route dashboard{"GET", "/", "/", Access::viewer, [](const Request& req) {
                    Reply reply;
                    reply.content = html::node(req.api("GET", "/api/v1/node", nullptr)) +
                                    html::plugins(req.api("GET", "/api/v1/plugins", nullptr));
                    reply.content_type = "text/html; charset=utf-8";
                    return reply;
                  }};
  dashboard.page = Page::machine;
  dashboard.nav = "Dashboard";
  r.push_back(std::move(dashboard));
  // The machine's tokens, with the create form and a revoke button per token.
  Route tokens{"GET", "/tokens", "/tokens", Access::admin, [](const Request& req) {
                 Reply reply;
                 reply.content = html::tokens(req.api("GET", "/api/v1/tokens", nullptr));
                 reply.content_type = "text/html; charset=utf-8";
                 return reply;
               }};
  tokens.page = Page::machine;
  tokens.nav = "Tokens";
  r.push_back(std::move(tokens));
  // The login form; signed in already, the dashboard.
  r.push_back({"GET", "/ui/login", "/ui/login", Access::open, [&auth](const Request& req) {
                 Reply reply;
                 if (auth.session(req)) {
                   reply.status = 303;
                   reply.headers = {{"Location", "/"}};
                 }
                 reply.content = auth.session(req) ? "" : html::login_page("", console_links());
                 reply.content_type = "text/html; charset=utf-8";
                 return reply;
               }});
  r.push_back(
      {"GET", "/ui/assets/([A-Za-z0-9._-]+)", "/ui/assets/{name}", Access::open, [](const Request& req) {
         Reply reply;
         for (const auto& f : embedded::web_assets) {
           if (f.name == req.params[0]) {
             reply.headers = {{"Cache-Control", "public, max-age=3600"}};
             reply.content = std::string(f.data);
             reply.content_type = content_type_of(f.name);
             return reply;
           }
         }
         reply.status = 404;
         reply.content = "no such asset\n";
         reply.content_type = "text/plain";
         return reply;
       }});
  return r;
}

}  // namespace adam
