#pragma once
// One route type for every HTTP route adamd serves, the core's and the
// plugins' alike (Plugin::routes(), src/api/*_routes.cpp). No HTTP library
// in it: the API layer (src/api/router.h) matches, authenticates, decodes,
// negotiates, audits and counts around `handler` the same way for all.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace adam {

// Who may call a route. `open`: no token (/healthz, the login page, assets);
// `viewer`: any valid token or console session; `admin`: an admin token.
enum class Access { open, viewer, admin };

struct Request {
  std::string method;
  std::string path;                               // without the query
  std::vector<std::string> params;                // the route pattern's captures
  std::multimap<std::string, std::string> query;  // ?a=1&a=2
  // The body as a JSON object: parsed JSON, or an
  // application/x-www-form-urlencoded form (each key a string, a repeated
  // key an array of strings). Null when the body is empty.
  nlohmann::json body;
  // The form's pairs in order, when the body was a form (for
  // config_from_text); empty otherwise.
  std::vector<std::pair<std::string, std::string>> form;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string caller;                          // the token's name (audit); empty on open routes
  std::string caller_role;                     // "admin" or "viewer"; empty on open routes
  bool hx = false;                             // HX-Request: true (the console asks for HTML)

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct Reply {
  int status = 200;
  nlohmann::json body;  // the JSON resource (ignored for 204 and when `content` is set)
  // For an admin route's audit event (api.change): the changed resource
  // before and after. Left null, `after` is the request body.
  nlohmann::json audit_before;
  nlohmann::json audit_after;
  // A reply that is not JSON (pages, assets, /metrics): its bytes and type.
  std::string content;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // Set-Cookie, Location, ...
};

// Sends one Server-Sent Event; an empty event name sends a comment line.
using EventSink = std::function<void(const std::string& event, const std::string& data)>;

// A Server-Sent Events stream. It holds no thread: the server calls poll()
// on a worker right after opening it and then every `interval`, never twice
// at once; poll() sends what is due through the sink without blocking and
// returns false once the stream is finished. The server sends keepalives,
// notices a client that went away and destroys the stream then.
struct Stream {
  std::chrono::milliseconds interval{250};
  std::function<bool(const EventSink&)> poll;
};

struct Route {
  std::string method;   // GET, POST, PUT, DELETE
  std::string pattern;  // regex of the whole path, e.g. "/api/v1/firewall/rules/([0-9]+)"
  std::string name;     // template for metrics and docs, e.g. "/api/v1/firewall/rules/{id}"
  Access access = Access::viewer;
  std::function<Reply(const Request&)> handler;
  // The HTML fragment of the reply's JSON for HX-Request: true; null: the
  // JSON in a <pre>.
  std::function<std::string(const nlohmann::json&)> html;
  // Set instead of `handler` for an SSE stream: checks the request (throwing
  // ApiError) and returns the stream.
  std::function<Stream(const Request&)> stream;
  // A GET route whose reply `content` is an HTML fragment for the console:
  // listed in the console's navigation under this title, and served inside
  // the console layout unless the request is an HX one.
  std::string nav;
};

}  // namespace adam
