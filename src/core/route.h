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

// The API of the machine a console page is for: this adamd (called
// in-process) or a registered machine (through this adamd's proxy, with its
// stored token). `target` is a path with an optional query
// ("/api/v1/events?last=1h"); `body` is sent as JSON (null: no body). Answers
// the resource's JSON with its `links` made reachable from this console
// (a remote machine's /api/... links point at its proxy). Throws ApiError
// with the route's own error, or 502/504 naming the machine when it cannot
// be reached.
using ApiCall = std::function<nlohmann::json(const std::string& method, const std::string& target,
                                             const nlohmann::json& body)>;

// Where a route belongs in the console.
enum class Page {
  none,     // an API route or an asset
  machine,  // a page of the active machine: served at its pattern for this
            // adamd and under /m/{id} for a registered one (Request::machine)
  console,  // a page of this console itself (fleet, machine registry, login)
};

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
  std::string client;                          // the peer's address; empty for an in-process call
  std::string caller;                          // the token's name (audit); empty on open routes
  std::string caller_role;                     // "admin" or "viewer"; empty on open routes
  bool hx = false;                             // HX-Request: true (the console asks for HTML)
  // Console pages (Route::page) only: the machine the page shows. Pages
  // read it through `api` alone, so one handler serves every machine.
  std::string machine;  // its registry id; empty for this adamd
  std::string base;     // the prefix of its page URLs: "" or "/m/{id}"
  ApiCall api;
  // The console's machines, for pages that act across them (copy to
  // another machine): this adamd first ({"id": "local", "name", "links":
  // {"dashboard", "copy"}}), then the registry's entries as GET
  // /api/v1/machines lists them, without their status.
  nlohmann::json machines;

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

// A reply of HTML (a console page's fragment, the login form).
inline Reply html_reply(std::string html, int status = 200) {
  Reply reply;
  reply.status = status;
  reply.content = std::move(html);
  reply.content_type = "text/html; charset=utf-8";
  return reply;
}

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
  // Set: not Server-Sent Events but a download of this type (a chunked
  // body, e.g. an export too large to hold): the sink's `data` is written
  // as it is, its `event` ignored, and no keepalives are sent.
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Content-Disposition
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
  // An SSE stream: checks the request (throwing ApiError) and returns the
  // stream. Set instead of `handler`, or beside it for a route that streams
  // only when asked to (Accept: text/event-stream, as EventSource sends).
  std::function<Stream(const Request&)> stream;
  // A console page (a GET route whose reply `content` is an HTML fragment):
  // served inside the console layout unless the request is an HX one, and
  // listed in the navigation under `nav` when that is set. Without a
  // session a page redirects to the login form.
  Page page = Page::none;
  std::string nav;
  // A console page that shows an API resource: in the console, a link to
  // an API path matching `shows` (a regex of the whole path; an event's
  // links) becomes a link to this page, the API link's query kept and the
  // regex's captures added as the query parameters named by
  // `shows_params`, in order. The events page shows /api/v1/events; a
  // plugin's page may show its resources (/api/v1/x/items/([0-9]+) with
  // {"item"}: a link to /api/v1/x/items/7 opens /x?item=7).
  std::string shows;
  std::vector<std::string> shows_params;
  // The handler reads a range of the event store (pages of events,
  // histograms, a process tree of the past): tens of milliseconds of CPU
  // where most routes take microseconds. It runs on the server's scan
  // workers (http::Limits::scan_workers), so a burst of such requests
  // cannot hold every worker and core the rest of the API needs.
  bool scans_store = false;
  // The plugin whose route this is (PluginManager::routes() sets it); empty
  // for the core's. A plugin's page is in a machine's navigation only when
  // that machine has the plugin.
  std::string plugin;
};

}  // namespace adam
