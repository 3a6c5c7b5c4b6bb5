// The console's machine registry and what acts through it: the proxy of a
// registered machine's API (with its stored token, its links rewritten to
// point back at the proxy), copying resources between machines, the pages
// of registered machines (Router's MachineDirectory), the fleet poller's
// sources, and the Fleet and Machines pages.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include "api/fleet.h"
#include "api/machine_client.h"
#include "api/resources.h"
#include "api/router.h"
#include "api/templates.h"
#include "core/errors.h"
#include "core/query_params.h"
#include "core/time_range.h"
#include "store/machines.h"

namespace adam {

using nlohmann::json;

namespace {

constexpr std::chrono::milliseconds kRegisterTimeout{3000};
// Below the poller's interval: a round ends before the next one is due.
constexpr std::chrono::milliseconds kPollTimeout{1500};
// SSE records of a proxied stream waiting for the client; past this the
// oldest go (a client that cannot keep up sees the latest).
constexpr size_t kMaxQueuedRecords = 1024;
// Resources of one copy: a page of the console's tables (50 rows) many times over.
constexpr size_t kMaxCopyResources = 1000;

std::string id_text(int64_t id) { return std::to_string(id); }

std::string proxy_prefix(int64_t id) { return "/api/v1/machines/" + id_text(id) + "/proxy"; }

json machine_links(const std::string& id) {
  const std::string self = "/api/v1/machines/" + id;
  return {{"self", self},
          {"select", self + "/select"},
          {"proxy", self + "/proxy"},
          {"dashboard", "/m/" + id + "/"},
          {"copy", self + "/copy"}};
}

// A machine as every route shows it: never its token.
json machine_json(const Machine& m) {
  bool plain_http = false;
  try {
    plain_http = !machine::parse_url(m.url).tls;
  } catch (const std::invalid_argument&) {
  }
  return {{"id", m.id},
          {"name", m.name},
          {"url", m.url},
          {"fingerprint", m.fingerprint},
          {"ca", m.ca},
          {"plain_http", plain_http},
          {"created_at", m.created_at},
          {"links", machine_links(id_text(m.id))}};
}

machine::Endpoint endpoint_of(const Machine& m) { return {m.url, m.fingerprint, m.ca}; }

// Every string under a `links` object (at any depth) that is an API path of
// the remote machine becomes the same path through this adamd's proxy.
void rewrite_links(json& j, const std::string& prefix, bool in_links = false) {
  if (j.is_string()) {
    if (in_links && j.get_ref<const std::string&>().rfind("/api/", 0) == 0) j = prefix + j.get<std::string>();
  } else if (j.is_object()) {
    for (auto& [key, value] : j.items()) rewrite_links(value, prefix, in_links || key == "links");
  } else if (j.is_array()) {
    for (auto& item : j) rewrite_links(item, prefix, in_links);
  }
}

// `keep_slashes`: a path's, whose '/' separate its segments.
std::string percent_encode(const std::string& text, bool keep_slashes = false) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slashes && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 0xf]);
    }
  }
  return out;
}

template <class Pairs>
std::string urlencoded(const Pairs& pairs) {
  std::string out;
  for (const auto& [key, value] : pairs)
    out += (out.empty() ? "" : "&") + percent_encode(key) + "=" + percent_encode(value);
  return out;
}

// What an audit event keeps of a body forwarded to a machine: everything
// but tokens (registering a machine through the proxy carries one).
json without_tokens(json j) {
  if (j.is_object()) {
    for (auto& [key, value] : j.items())
      value = key == "token" ? json("(not recorded)") : without_tokens(value);
  } else if (j.is_array()) {
    for (auto& item : j) item = without_tokens(item);
  }
  return j;
}

// "AB:CD:..." from a fingerprint given in upper or lower case, with or
// without colons; empty when `text` is no SHA-256 fingerprint.
std::string normalized_fingerprint(const std::string& text) {
  std::string hex;
  for (const char c : text)
    if (c != ':') hex.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  if (hex.size() != 64 || hex.find_first_not_of("0123456789ABCDEF") != std::string::npos) return {};
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) out += (i ? ":" : "") + hex.substr(i, 2);
  return out;
}

class Registry {
 public:
  Registry(ApiContext& ctx, Router& router, FleetPoller& fleet)
      : store_(ctx.machines), router_(router), fleet_(fleet) {}

  Machine machine(const std::string& id_text) {
    int64_t id = 0;
    auto [ptr, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
    std::optional<Machine> m;
    if (ec == std::errc() && ptr == id_text.data() + id_text.size()) m = store_.find(id);
    if (!m) throw not_found("no machine with id " + id_text);
    return *m;
  }

  json listed(const Machine& m) {
    json j = machine_json(m);
    j["status"] = fleet_.status(id_text(m.id));
    return j;
  }

  json list() {
    json machines = json::array();
    for (const auto& m : store_.list()) machines.push_back(listed(m));
    return {{"machines", machines},
            {"links", {{"self", "/api/v1/machines"}, {"create", "/api/v1/machines"}}}};
  }

  struct Answer {
    int status = 0;
    json body;
    // A download (JSON lines, CSV): passed on as it came, not parsed.
    std::string download, content_type, content_disposition;
  };

  // One API call on machine `m` with its stored token. Failures to reach it
  // become the proxy's errors; the machine's own errors (but 401) keep their
  // status, named after it.
  Answer call(const Machine& m, const std::string& method, const std::string& target, const std::string& body,
              const std::string& content_type, std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
    machine::Headers headers = {{"Authorization", "Bearer " + m.token}, {"Accept", "application/json"}};
    if (!body.empty()) headers.emplace_back("Content-Type", content_type);
    machine::Response r;
    try {
      r = machine::request(endpoint_of(m), method, target, headers, body, {timeout});
    } catch (const machine::ClientError& e) {
      throw proxy_error(m, e);
    }
    if (r.status < 300 && !r.content_disposition.empty())
      return {r.status, nullptr, std::move(r.body), r.content_type, r.content_disposition};
    return answer(m, r.status, r.body);
  }

  // JSON in, JSON out: the ApiCall of a machine's pages, copy, the poller.
  json call_json(const Machine& m, const std::string& method, const std::string& target, const json& body,
                 std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
    return call(m, method, target, body.is_null() ? "" : body.dump(), "application/json", timeout).body;
  }

  Reply proxy(const Request& req) {
    const Machine m = machine(req.params[0]);
    const std::string& path = req.params[1];
    const std::string target = remote_target(req);
    // A form goes on as the same form (a plugin's start form is typed by
    // the remote's schema), anything else as JSON.
    const bool form = !req.form.empty();
    const std::string body = form ? urlencoded(req.form) : req.body.is_null() ? "" : req.body.dump();
    const Answer a =
        call(m, req.method, target, body, form ? "application/x-www-form-urlencoded" : "application/json");
    Reply reply{a.status, a.body};
    reply.audit_after = {{"machine", m.name}, {"body", without_tokens(req.body)}};
    if (!a.content_disposition.empty()) {  // an export: the file as the machine made it
      reply.content = a.download;
      reply.content_type = a.content_type;
      reply.headers = {{"Content-Disposition", a.content_disposition}};
    } else if (req.hx && a.status != 204) {
      // The remote answers JSON; this console renders it with its own templates.
      reply.content = router_.fragment(req.method, path, a.body);
      reply.content_type = "text/html; charset=utf-8";
    }
    return reply;
  }

  Stream proxy_stream(const Request& req) {
    const Machine m = machine(req.params[0]);
    const std::string target = remote_target(req);
    struct Queue {
      std::mutex mu;
      std::deque<std::pair<std::string, std::string>> records;
      bool ended = false;
    };
    auto queue = std::make_shared<Queue>();
    const std::string prefix = proxy_prefix(m.id);
    std::shared_ptr<machine::EventStream> remote;
    try {
      remote = std::make_shared<machine::EventStream>(
          endpoint_of(m), target,
          machine::Headers{{"Authorization", "Bearer " + m.token}, {"Accept", "text/event-stream"}},
          [queue, prefix](const std::string& event, const std::string& data) {
            json j = json::parse(data, nullptr, false);
            std::string shown = data;
            if (j.is_object()) {
              rewrite_links(j, prefix);
              shown = j.dump(-1, ' ', false, json::error_handler_t::replace);
            }
            std::lock_guard lock(queue->mu);
            if (queue->records.size() == kMaxQueuedRecords) queue->records.pop_front();
            queue->records.emplace_back(event, std::move(shown));
          },
          [queue, name = m.name](const std::string& reason) {
            spdlog::debug("machine '{}': proxied stream ended: {}", name, reason);
            std::lock_guard lock(queue->mu);
            queue->ended = true;
          });
    } catch (const machine::ClientError& e) {
      throw proxy_error(m, e);
    }
    if (remote->status() != 200) answer(m, remote->status(), remote->body());  // throws its error
    Stream stream;
    stream.interval = std::chrono::milliseconds(100);
    // The stream owns the remote reader: destroyed when the client goes.
    stream.poll = [queue, remote](const EventSink& sink) {
      std::deque<std::pair<std::string, std::string>> due;
      bool ended = false;
      {
        std::lock_guard lock(queue->mu);
        due.swap(queue->records);
        ended = queue->ended;
      }
      for (const auto& [event, data] : due) sink(event, data);
      return !ended;
    };
    return stream;
  }

  Reply create(const Request& req) {
    const json& b = req.body;
    if (!b.is_object())
      throw bad_request("body", "expected {name, url, token, fingerprint?, ca?} as JSON or a form");
    static const std::set<std::string> known = {"name", "url", "token", "fingerprint", "ca"};
    for (const auto& [key, _] : b.items())
      if (!known.count(key)) throw bad_request(key, "unknown field '" + key + "'");
    auto text = [&](const std::string& field, bool required) {
      if (!b.contains(field) || (b[field].is_string() && b[field].get<std::string>().empty())) {
        if (required) throw bad_request(field, field + " is required");
        return std::string();
      }
      if (!b[field].is_string()) throw bad_request(field, field + " must be a string");
      return b[field].get<std::string>();
    };
    Machine m;
    m.name = text("name", true);
    MachineStore::check_name(m.name);
    m.url = text("url", true);
    machine::Url url;
    try {
      url = machine::parse_url(m.url);
    } catch (const std::invalid_argument& e) {
      throw bad_request("url", "url " + std::string(e.what()));
    }
    if (!url.tls && !machine::is_loopback(url.host))
      throw bad_request("url",
                        "plain http:// is accepted only to a loopback address (127.0.0.0/8, ::1, localhost): "
                        "the token would cross the network in clear text; use https://");
    if (m.url.back() == '/') m.url.pop_back();
    m.token = text("token", true);
    if (m.token.size() > 1024 ||
        std::any_of(m.token.begin(), m.token.end(), [](unsigned char c) { return c < 0x21 || c > 0x7e; }))
      throw bad_request("token", "token must be at most 1024 printable characters without spaces");
    const std::string fingerprint = text("fingerprint", false);
    m.fingerprint = normalized_fingerprint(fingerprint);
    if (!fingerprint.empty() && m.fingerprint.empty())
      throw bad_request("fingerprint", "fingerprint must be a SHA-256 fingerprint: 32 hex bytes (AB:CD:...)");
    m.ca = text("ca", false);
    if (!m.ca.empty()) {
      if (m.ca.front() != '/') throw bad_request("ca", "ca must be the absolute path of a PEM CA file");
      if (!std::ifstream(m.ca)) throw bad_request("ca", "cannot read the CA file " + m.ca);
    }
    if (!url.tls && (!m.fingerprint.empty() || !m.ca.empty()))
      throw bad_request(m.ca.empty() ? "fingerprint" : "ca", "applies to https:// only");
    for (const auto& other : store_.list())
      if (other.name == m.name) throw conflict("a machine named '" + m.name + "' exists already");

    // Reach it now, with its token: a registry entry that cannot work is refused.
    machine::Response r;
    try {
      r = machine::request(endpoint_of(m), "GET", "/api/v1/node",
                           {{"Authorization", "Bearer " + m.token}, {"Accept", "application/json"}}, "",
                           {kRegisterTimeout});
    } catch (const machine::ClientError& e) {
      if (e.failure() == machine::Failure::fingerprint_changed)
        throw ApiError(422, "fingerprint_mismatch", e.what(), "fingerprint");
      throw ApiError(422, "machine_unreachable", "cannot reach " + m.url + ": " + e.what(), "url");
    }
    if (r.status == 401)
      throw ApiError(422, "token_refused", "the machine at " + m.url + " refused the token (401)", "token");
    const json node = json::parse(r.body, nullptr, false);
    if (r.status != 200 || !node.is_object() || !node.contains("hostname"))
      throw ApiError(422, "machine_unreachable",
                     m.url + " answered HTTP " + std::to_string(r.status) + ", not an adamd's /api/v1/node",
                     "url");
    // Trust on first use: the certificate presented now is the one pinned.
    if (url.tls && m.fingerprint.empty() && m.ca.empty()) m.fingerprint = r.fingerprint;
    const json created = listed(store_.add(m));
    return Reply{201, created, nullptr, created};
  }

  Reply remove(const Request& req) {
    const Machine m = machine(req.params[0]);
    const Machine removed = store_.remove(m.id);
    return Reply{204, nullptr, machine_json(removed), nullptr};
  }

  Reply select(const Request& req) {
    json j;
    if (req.params[0] == "local") {
      j = {{"id", "local"}, {"name", "this machine"}, {"links", {{"dashboard", "/"}}}};
    } else {
      j = listed(machine(req.params[0]));
    }
    Reply reply{200, j};
    if (req.hx) reply.headers.emplace_back("HX-Redirect", j["links"]["dashboard"].get<std::string>());
    return reply;
  }

  // GET of a resource URL as some resource's links.self gives it: this
  // adamd's, or a machine's through its proxy.
  json fetch(const Request& caller, const std::string& url) {
    static const std::string prefix = "/api/v1/machines/";
    if (url.rfind(prefix, 0) == 0) {
      const size_t slash = url.find('/', prefix.size());
      if (slash != std::string::npos && url.compare(slash, 7, "/proxy/") == 0) {
        const Machine m = machine(url.substr(prefix.size(), slash - prefix.size()));
        return call_json(m, "GET", url.substr(slash + 6), nullptr);
      }
    }
    return router_.call(caller, "GET", url, nullptr);
  }

  Reply copy(const Request& req) {
    const json& b = req.body;
    if (!b.is_object()) throw bad_request("body", "expected {resources: [URL, ...], into: URL}");
    json resources = b.value("resources", json());
    if (resources.is_string()) resources = json::array({resources});  // a form with one checkbox
    if (!resources.is_array() || resources.empty() ||
        !std::all_of(resources.begin(), resources.end(), [](const json& r) { return r.is_string(); }))
      throw bad_request("resources", "resources must be a list of resource URLs (their links.self)");
    // Checked before the first copy: one request does not hold a worker
    // for thousands of GET and POST round trips to other machines.
    if (resources.size() > kMaxCopyResources)
      throw bad_request("resources", std::to_string(resources.size()) + " resources; a copy takes at most " +
                                         std::to_string(kMaxCopyResources));
    if (!b.contains("into") || !b["into"].is_string() || b["into"].get<std::string>().rfind("/api/", 0) != 0)
      throw bad_request(
          "into", "into must be the URL of a collection on the target machine, e.g. /api/v1/firewall/rules");
    const std::string into = b["into"];
    std::optional<Machine> to;
    if (req.params[0] != "local") to = machine(req.params[0]);
    json copied = json::array();
    for (size_t i = 0; i < resources.size(); ++i) {
      const std::string from = resources[i];
      const std::string field = "resources[" + std::to_string(i) + "]";
      try {
        json resource = fetch(req, from);
        if (!resource.is_object()) throw bad_request(field, from + " is not a JSON object");
        for (const char* key : {"id", "links", "counters"}) resource.erase(key);
        const json made =
            to ? call_json(*to, "POST", into, resource) : router_.call(req, "POST", into, resource);
        copied.push_back({{"from", from}, {"id", made.is_object() ? made.value("id", json()) : json()}});
      } catch (const ApiError& e) {
        throw ApiError(
            e.status(), e.code(),
            from + ": " + e.what() +
                (copied.empty() ? "" : " (copied before it: " + std::to_string(copied.size()) + ")"),
            field);
      }
    }
    return Reply{200, {{"copied", copied}}};
  }

  MachineDirectory directory() {
    return {[this](const std::string& id, const Request& caller) -> ApiCall {
              const Machine m = machine(id);
              const bool admin = caller.caller_role == "admin";
              const std::string who = caller.caller;
              // One page's view of the machine: a resource read twice while
              // rendering it (the page's data, then the layout's plugin
              // list) crosses the network once. A write forgets what was read.
              auto read = std::make_shared<std::map<std::string, json>>();
              return [this, m, admin, who, read](const std::string& method, const std::string& target,
                                                 const json& body) {
                if (!admin && method != "GET")
                  throw ApiError(403, "forbidden", "token '" + who + "' is a viewer token; this needs admin");
                if (method != "GET") {
                  read->clear();
                  return call_json(m, method, target, body);
                }
                auto it = read->find(target);
                if (it == read->end()) it = read->emplace(target, call_json(m, method, target, body)).first;
                return it->second;
              };
            },
            [this] {
              json machines = json::array();
              for (const auto& m : store_.list()) machines.push_back(machine_json(m));
              return machines;
            }};
  }

  FleetPoller::Sources sources() {
    return [this] {
      Request fleet;
      fleet.caller = "fleet";
      fleet.caller_role = "viewer";
      std::vector<FleetPoller::Source> out = {{"local", [this, fleet](const std::string& target) {
                                                 return router_.call(fleet, "GET", target, nullptr);
                                               }}};
      for (const auto& m : store_.list())
        out.push_back({id_text(m.id), [this, m](const std::string& target) {
                         return call_json(m, "GET", target, nullptr, kPollTimeout);
                       }});
      return out;
    };
  }

  // The rows of the Fleet page: this adamd, then the registry.
  json fleet_rows() {
    json rows = json::array();
    auto row = [&](const std::string& id, const std::string& name, const std::string& url,
                   const json& links) {
      json s = fleet_.status(id);
      json rates = json::array();
      const json rate_values = s.value("rates", json::object());
      for (const auto& [label, value] : rate_values.items())
        rates.push_back({{"name", label}, {"value", fmt_rate(value)}});
      const json& last_seen = s["last_seen"];
      rows.push_back(
          {{"id", id},
           {"name", name},
           {"url", text_or_null(url)},
           {"reachable", s["reachable"] == true},
           {"state", state_of(s)},
           {"error", s.value("error", json())},
           {"hostname", text_or_null(s.value("hostname", json()))},
           {"version", s.value("version", "")},
           {"kernel", s.value("kernel", "")},
           {"plugins", s.value("plugins", json::array())},
           {"rates", rates},
           {"events_per_s", s.contains("events_per_s") ? fmt_rate(s["events_per_s"]) : ""},
           {"lost_events", s.value("lost_events", json())},
           {"last_seen", last_seen.is_number() ? format_rfc3339(last_seen.get<int64_t>()) : "never"},
           {"links", links}});
    };
    row("local", "this machine", "", {{"dashboard", "/"}});
    for (const auto& m : store_.list()) row(id_text(m.id), m.name, m.url, machine_links(id_text(m.id)));
    return rows;
  }

  // The Machines page and the HTML of the registry list.
  std::string machines_html(const json& list, bool admin) {
    json data = list;
    for (auto& m : data["machines"]) {
      const json& s = m["status"];
      m["state"] = state_of(s);
      m["error"] = s.value("error", json());
      m["version"] = text_or_null(s.value("version", json()));
      m["ca"] = text_or_null(m["ca"]);
      // 32 bytes ("AB:" each) on two lines of 16: the table stays readable.
      const std::string fingerprint = m["fingerprint"];
      const bool canonical = fingerprint.size() == 95;
      m["fingerprint"] = fingerprint.empty() ? json()
                         : canonical
                             ? json{{"head", fingerprint.substr(0, 47)}, {"tail", fingerprint.substr(48)}}
                             : json{{"head", fingerprint}, {"tail", ""}};
    }
    data["admin"] = admin;
    return templates::render("machines", data);
  }

 private:
  // The path and query a proxy route forwards: /api/... after its prefix,
  // encoded again (the router decoded it): a decoded CR LF or space in the
  // request line would let a caller write headers, or a second request
  // carrying the stored token, of their own.
  static std::string remote_target(const Request& req) {
    const std::string path = percent_encode(req.params[1], true);
    return req.query.empty() ? path : path + "?" + urlencoded(req.query);
  }

  // For a template's section: an empty text is none.
  static json text_or_null(const json& v) {
    return v.is_string() && !v.get<std::string>().empty() ? v : json();
  }

  static std::string state_of(const json& status) {
    const json& reachable = status["reachable"];
    return reachable.is_null() ? "not polled yet" : reachable == true ? "reachable" : "unreachable";
  }

  static std::string fmt_rate(const json& value) {
    if (!value.is_number()) return "";
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", value.get<double>());
    return text;
  }

  ApiError proxy_error(const Machine& m, const machine::ClientError& e) {
    switch (e.failure()) {
      case machine::Failure::timeout:
        return ApiError(504, "machine_timeout", "machine '" + m.name + "': " + e.what());
      case machine::Failure::fingerprint_changed:
        return ApiError(502, "machine_fingerprint_changed",
                        "machine '" + m.name +
                            "' presents another TLS certificate than the one pinned: " + e.what() +
                            "; refused, nothing was sent (if its certificate was replaced on purpose, "
                            "remove the machine and add it again)");
      case machine::Failure::unreachable:
        break;
    }
    return ApiError(502, "machine_unreachable", "machine '" + m.name + "' is unreachable: " + e.what());
  }

  Answer answer(const Machine& m, int status, const std::string& text) {
    // A 401 from the machine is about the stored token, not this console's
    // session: never passed on as a 401.
    if (status == 401)
      throw ApiError(502, "machine_token_refused",
                     "machine '" + m.name +
                         "' refused the stored token (401); remove the machine and add it again "
                         "with a valid token");
    json body = text.empty() ? json() : json::parse(text, nullptr, false);
    if (body.is_discarded()) {
      if (status >= 400) throw ApiError(status, "machine_error", m.name + ": HTTP " + std::to_string(status));
      throw ApiError(502, "machine_bad_answer", "machine '" + m.name + "' answered something else than JSON");
    }
    if (status >= 400) {
      const json error = body.is_object() ? body.value("error", json::object()) : json::object();
      throw ApiError(status, error.value("code", "machine_error"),
                     m.name + ": " + error.value("message", "HTTP " + std::to_string(status)),
                     error.value("field", ""));
    }
    rewrite_links(body, proxy_prefix(m.id));
    return {status, std::move(body)};
  }

  MachineStore& store_;
  Router& router_;
  FleetPoller& fleet_;
};

}  // namespace

std::vector<Route> machine_routes(ApiContext& ctx, Router& router, FleetPoller& fleet) {
  // One registry for the routes, the router's directory and the poller: it
  // lives as long as the routes (the router keeps them).
  auto registry = std::make_shared<Registry>(ctx, router, fleet);
  router.set_machines(registry->directory());
  fleet.set_sources(registry->sources());

  std::vector<Route> r;
  r.push_back({"GET", "/api/v1/machines", "/api/v1/machines", Access::viewer, [registry](const Request& req) {
                 Reply reply{200, registry->list()};
                 if (req.hx) {
                   reply.content = registry->machines_html(reply.body, req.caller_role == "admin");
                   reply.content_type = "text/html; charset=utf-8";
                 }
                 return reply;
               }});
  r.push_back({"POST", "/api/v1/machines", "/api/v1/machines", Access::admin,
               [registry](const Request& req) { return registry->create(req); },
               [](const json& created) { return templates::render("machines_added", created); }});
  r.push_back({"GET", "/api/v1/machines/([0-9]+)", "/api/v1/machines/{id}", Access::viewer,
               [registry](const Request& req) {
                 return Reply{200, registry->listed(registry->machine(req.params[0]))};
               }});
  r.push_back({"DELETE", "/api/v1/machines/([0-9]+)", "/api/v1/machines/{id}", Access::admin,
               [registry](const Request& req) { return registry->remove(req); }});
  r.push_back({"POST", "/api/v1/machines/([0-9]+|local)/select", "/api/v1/machines/{id}/select",
               Access::viewer, [registry](const Request& req) { return registry->select(req); }});
  r.push_back({"POST", "/api/v1/machines/([0-9]+|local)/copy", "/api/v1/machines/{id}/copy", Access::admin,
               [registry](const Request& req) { return registry->copy(req); }});
  refuse_query_parameters(r);  // the proxy's query goes on to the machine
  // The proxy: one route per method, as writes need admin here.
  for (const char* method : {"GET", "POST", "PUT", "DELETE"}) {
    Route proxy{method, "/api/v1/machines/([0-9]+)/proxy(/api/.*)", "/api/v1/machines/{id}/proxy/{path}",
                std::string(method) == "GET" ? Access::viewer : Access::admin,
                [registry](const Request& req) { return registry->proxy(req); }};
    if (proxy.method == "GET")
      proxy.stream = [registry](const Request& req) { return registry->proxy_stream(req); };
    r.push_back(std::move(proxy));
  }

  Route fleet_page{"GET", "/fleet", "/fleet", Access::viewer, [registry](const Request&) {
                     return html_reply(templates::render(
                         "fleet", {{"machines", registry->fleet_rows()}, {"links", {{"self", "/fleet"}}}}));
                   }};
  fleet_page.page = Page::console;
  fleet_page.nav = "Fleet";
  r.push_back(std::move(fleet_page));
  Route machines_page{
      "GET", "/machines", "/machines", Access::viewer, [registry](const Request& req) {
        return html_reply(registry->machines_html(registry->list(), req.caller_role == "admin"));
      }};
  machines_page.page = Page::console;
  machines_page.nav = "Machines";
  r.push_back(std::move(machines_page));
  return r;
}

}  // namespace adam
