#pragma once
// The route table and the one wrapper around every route (core/route.h):
// matching, authentication before the body is read, body decoding (JSON or
// form, checked for depth, numbers and UTF-8), content negotiation (JSON,
// or HTML for HX-Request: true), the audit trail (api.change events),
// stream limits and HTTP metrics.
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "core/route.h"

namespace adam {

class Auth;
class EventHub;
class HttpMetrics;

// Server-Sent Events streams open at once: per token and in all.
constexpr int kMaxStreamsPerToken = 16;
constexpr int kMaxStreams = 1024;
// Bodies nested deeper than this are refused (400) before they are parsed.
constexpr int kMaxJsonDepth = 32;
// A path longer than any route's is refused (414) before matching: the
// standard regex recurses per character.
constexpr size_t kMaxPath = 2048;
// Bodies of open routes (the login form): sent without a token, kept small.
constexpr size_t kMaxOpenBody = 64 << 10;
// Fields of a form body or query string: the console's forms have a few.
constexpr size_t kMaxFormFields = 1000;

// What the router needs of the console's machine registry (api/machines.h):
// the pages of a registered machine read its API through this.
struct MachineDirectory {
  // The API of registered machine `id` (Request::api of its pages), called
  // with the stored token of that machine on behalf of `caller` (the page's
  // request: its role bounds what may be called). Throws ApiError 404 when
  // no machine has that id.
  std::function<ApiCall(const std::string& id, const Request& caller)> api;
  // The registered machines as GET /api/v1/machines lists them, without
  // their status: the console's machine selector, Request::machines.
  std::function<nlohmann::json()> list;
};

class Router {
 public:
  Router(Auth& auth, EventHub& events, HttpMetrics& metrics)
      : auth_(auth), events_(events), metrics_(metrics) {}

  // Page::machine routes are also added under /m/([^/]+) for a registered
  // machine's pages.
  void add(std::vector<Route> routes);
  void set_machines(MachineDirectory machines) { machines_ = std::move(machines); }
  // What the HTTP server calls (http_server.h).
  http::Application application();

  // A route of this adamd called in-process for `caller` (its token and role
  // as authenticated): the API of this adamd's own pages. Same access checks
  // and audit as over HTTP; throws the route's ApiError; 404 for no route,
  // 400 for a stream.
  nlohmann::json call(const Request& caller, const std::string& method, const std::string& target,
                      const nlohmann::json& body);
  // The HTML fragment this adamd renders for the JSON resource of
  // `method path` (what an HX request of that route gets): how the console
  // shows a registered machine's resources with its own templates.
  std::string fragment(const std::string& method, const std::string& path, const nlohmann::json& body) const;
  // A page's fragment inside the console layout: the navigation of the
  // request's machine (core pages, and the pages of the plugins that machine
  // has), the machine selector, the signed-in token.
  std::string layout(const Request& req, const std::string& main) const;

 private:
  struct Entry {
    Route route;
    std::regex pattern;
    bool on_machine = false;  // the /m/{id} twin of a Page::machine route: params[0] is the id
  };
  const Entry* match(const std::string& method, const std::string& path, std::smatch& m) const;
  void audit(const Route& route, const Request& req, const Reply& reply);
  http::Admission admit(const http::Head& head);
  http::Outcome run(const Entry& entry, Request req, const std::string& token_name, std::string body);
  http::Response render(const Entry& entry, const Request& req, const Reply& reply);
  std::shared_ptr<void> take_stream_slot(const std::string& token_name);

  Auth& auth_;
  EventHub& events_;
  HttpMetrics& metrics_;
  std::vector<Entry> entries_;
  MachineDirectory machines_;

  std::mutex streams_mu_;
  std::map<std::string, int> streams_per_token_;
  int streams_ = 0;
};

// The API's error reply: {"error": {"code", "message", "field"?}}, or the
// HTML error fragment for an HX request; 401 carries WWW-Authenticate.
http::Response error_response(int status, const std::string& code, const std::string& message,
                              const std::string& field, bool hx);

}  // namespace adam

namespace adam {

// Percent-decoded key/value pairs of application/x-www-form-urlencoded text
// (a form body, a query string). Throws ApiError 400 naming the key when a
// value is not valid UTF-8, or `body` past kMaxFormFields fields.
std::vector<std::pair<std::string, std::string>> parse_urlencoded(std::string_view text);
// A JSON body. Throws ApiError 400 naming `body` (or the top-level field
// that is nested too deep) when it is not JSON, nests deeper than
// kMaxJsonDepth, has a number out of range (1e999) or invalid UTF-8.
nlohmann::json parse_json_body(std::string_view text);

}  // namespace adam
