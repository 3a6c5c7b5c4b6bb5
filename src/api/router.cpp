#include "api/router.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "api/auth.h"
#include "api/html.h"
#include "api/resources.h"
#include "core/errors.h"
#include "core/event_hub.h"
#include "core/metrics.h"

namespace adam {

using nlohmann::json;

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      const int hi = hex_digit(text[i + 1]), lo = hex_digit(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    // Continuation bytes after the lead byte: 0-3; 4 marks an invalid lead.
    const size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 4;
    if (n == 4 || i + n >= s.size()) return false;
    uint32_t cp = n == 0 ? c : c & (0x3f >> n);
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

// What a message shows of a client's value: enough to recognise it.
std::string shown(std::string_view text) {
  constexpr size_t kMax = 200;
  return text.size() <= kMax ? std::string(text) : std::string(text.substr(0, kMax)) + "...";
}

// A query parameter's name and value: longer than any route takes (the
// longest value is the firewall's counters?ids= of 256 ids), refused before
// a route parses or quotes them.
constexpr size_t kMaxQueryName = 128;
constexpr size_t kMaxQueryValue = 4096;

// Nesting depth, checked before parsing: a deep body must cost neither
// stack (parsing, dumping, destroying it recurse) nor memory. Names the
// top-level field whose value nests too deep.
void check_depth(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false, object_at_top = false;
  size_t string_start = 0;
  std::string_view last_string, key;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"') {
        in_string = false;
        if (depth == 1) last_string = text.substr(string_start, i - string_start);
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        string_start = i + 1;
        break;
      case ':':
        if (depth == 1) key = last_string;
        break;
      case '[':
      case '{':
        if (depth == 0) object_at_top = c == '{';
        if (++depth > kMaxJsonDepth)
          throw bad_request(object_at_top && !key.empty() ? shown(key) : "body",
                            "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
        break;
      case ']':
      case '}':
        --depth;
        break;
      default:
        break;
    }
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_urlencoded(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> pairs;
  size_t pos = 0;
  while (pos < text.size()) {
    if (pairs.size() == kMaxFormFields)
      throw bad_request("body", "more than " + std::to_string(kMaxFormFields) + " form fields");
    size_t end = text.find('&', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view part = text.substr(pos, end - pos);
    pos = end + 1;
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    std::string key = percent_decode(part.substr(0, eq), true);
    std::string value = eq == std::string_view::npos ? "" : percent_decode(part.substr(eq + 1), true);
    if (!valid_utf8(key)) throw bad_request("body", "a form key is not valid UTF-8");
    if (!valid_utf8(value)) throw bad_request(key, "is not valid UTF-8");
    pairs.emplace_back(std::move(key), std::move(value));
  }
  return pairs;
}

json parse_json_body(std::string_view text) {
  check_depth(text);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for 1e999
    throw bad_request("body", std::string("invalid JSON: ") + shown(e.what()));
  }
}

http::Response error_response(int status, const std::string& code, const std::string& message,
                              const std::string& field, bool hx) {
  http::Response res;
  res.status = status;
  if (status == 401) res.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"adam\"");
  if (hx) {
    res.content_type = "text/html; charset=utf-8";
    res.body = html::error(status, message, field);
    return res;
  }
  json err = {{"code", code}, {"message", message}};
  if (!field.empty()) err["field"] = field;
  res.content_type = "application/json";
  // Messages may quote what the client sent: invalid UTF-8 is replaced.
  res.body = json{{"error", err}}.dump(-1, ' ', false, json::error_handler_t::replace);
  return res;
}

namespace {

// The headers a thrown error's answer carries besides its body.
std::vector<std::pair<std::string, std::string>> error_headers(const ApiError& e) {
  if (const auto* later = dynamic_cast<const RetryLater*>(&e))
    return {{"Retry-After", std::to_string(later->seconds())}};
  return {};
}

// The error reply of a thrown error, with the headers it carries.
http::Response error_reply(const ApiError& e, bool hx) {
  http::Response res = error_response(e.status(), e.code(), e.what(), e.field(), hx);
  for (auto& h : error_headers(e)) res.headers.push_back(std::move(h));
  return res;
}

}  // namespace

void Router::add(std::vector<Route> routes) {
  for (auto& r : routes) {
    if (!r.shows.empty()) html::add_resource_page(r.name, r.shows, r.shows_params);
    if (r.page == Page::machine) {
      // The same page of a registered machine: /m/{id}/firewall, /m/{id}/ for "/".
      Route twin = r;
      twin.name = "/m/{id}" + r.name;
      const std::string pattern = "/m/([^/]+)" + (r.pattern == "/" ? std::string("/?") : r.pattern);
      entries_.push_back({std::move(twin), std::regex(pattern), true});
    }
    std::regex pattern(r.pattern);
    entries_.push_back({std::move(r), std::move(pattern), false});
  }
}

const Router::Entry* Router::match(const std::string& method, const std::string& path, std::smatch& m) const {
  for (const auto& e : entries_)
    if (e.route.method == method && std::regex_match(path, m, e.pattern)) return &e;
  return nullptr;
}

http::Application Router::application() {
  return {[this](const http::Head& head) { return admit(head); },
          [](int status, const std::string& code, const std::string& message, bool hx) {
            return error_response(status, code, message, "", hx);
          }};
}

std::shared_ptr<void> Router::take_stream_slot(const std::string& token_name) {
  std::lock_guard lock(streams_mu_);
  if (streams_ >= kMaxStreams)
    throw ApiError(429, "too_many_streams", "too many open streams; try again later");
  int& mine = streams_per_token_[token_name];
  if (mine >= kMaxStreamsPerToken)
    throw ApiError(429, "too_many_streams",
                   "token '" + token_name + "' has " + std::to_string(mine) +
                       " streams open, the most one token may; close one first");
  ++mine;
  ++streams_;
  return std::shared_ptr<void>(nullptr, [this, token_name](void*) {
    std::lock_guard lock(streams_mu_);
    --streams_;
    if (--streams_per_token_[token_name] == 0) streams_per_token_.erase(token_name);
  });
}

http::Admission Router::admit(const http::Head& head) {
  const auto t0 = std::chrono::steady_clock::now();
  Request req;
  // HEAD is GET without the body (the HTTP server leaves it out).
  const bool head_only = head.method == "HEAD";
  req.method = head_only ? "GET" : head.method;
  req.headers = head.headers;
  req.client = head.peer;
  req.hx = req.header("hx-request") == "true";
  const size_t question = head.target.find('?');
  req.path = percent_decode(std::string_view(head.target).substr(0, question), false);
  // Route labels in metrics are bounded: a method no route has counts as OTHER.
  const bool known_method =
      req.method == "GET" || req.method == "POST" || req.method == "PUT" || req.method == "DELETE";
  const std::string method_label = known_method ? req.method : "OTHER";
  auto refuse = [&](int status, const std::string& route_name, const ApiError& e) {
    metrics_.observe(method_label, route_name, status,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return http::Admission{error_reply(e, req.hx), {}};
  };
  // No route has a path this long; std::regex recurses per character.
  if (req.path.size() > kMaxPath)
    return refuse(414, "unmatched",
                  ApiError(414, "uri_too_long", "the path is over " + std::to_string(kMaxPath) + " bytes"));
  std::smatch m;
  const Entry* found = match(req.method, req.path, m);
  if (!found) return refuse(404, "unmatched", not_found("no route " + head.method + " " + req.path));
  for (size_t i = found->on_machine ? 2 : 1; i < m.size(); ++i) req.params.push_back(m[i]);
  if (found->on_machine) {
    req.machine = m[1];
    req.base = "/m/" + req.machine;
  }

  std::string token_name;
  try {
    if (auto token = auth_.authorize(req, found->route.access)) {
      token_name = token->name;
      req.caller_role = to_string(token->role);
    }
    if (question != std::string::npos)
      for (auto& [k, v] : parse_urlencoded(std::string_view(head.target).substr(question + 1))) {
        if (k.size() > kMaxQueryName)
          throw bad_request(shown(k),
                            "a parameter name is at most " + std::to_string(kMaxQueryName) + " bytes");
        if (v.size() > kMaxQueryValue)
          throw bad_request(k, "'" + k + "' is over " + std::to_string(kMaxQueryValue) + " bytes");
        req.query.emplace(std::move(k), std::move(v));
      }
  } catch (const ApiError& e) {
    // A page opened without a session: the login form.
    if (e.status() == 401 && found->route.page != Page::none && !req.hx) {
      metrics_.observe(method_label, found->route.name, 303,
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      return http::Admission{http::Response{303, "text/plain", "", {{"Location", "/ui/login"}}}, {}};
    }
    return refuse(e.status(), found->route.name, e);
  }
  req.caller = token_name;
  // Open routes (the login form) take small bodies only: no token was needed to send one.
  const size_t max_body = found->route.access == Access::open ? kMaxOpenBody : 0;
  return {std::nullopt,
          [this, found, req = std::move(req), token_name, t0, head_only](std::string body) mutable {
            http::Outcome out = run(*found, std::move(req), token_name, std::move(body));
            if (head_only) out.stream.reset();  // its head only: the response says what it would be
            metrics_.observe(found->route.method, found->route.name, out.response.status,
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            return out;
          },
          max_body, found->route.scans_store};
}

http::Outcome Router::run(const Entry& entry, Request req, const std::string& token_name, std::string body) {
  const Route& route = entry.route;
  try {
    if (!body.empty()) {
      if (req.header("content-type").rfind("application/x-www-form-urlencoded", 0) == 0) {
        req.form = parse_urlencoded(body);
        req.body = json::object();
        for (const auto& [k, v] : req.form) {
          json& slot = req.body[k];
          if (slot.is_null())
            slot = v;
          else if (slot.is_array())
            slot.push_back(v);
          else
            slot = json::array({slot, v});
        }
      } else {
        req.body = parse_json_body(body);
      }
    }
    if (route.stream &&
        (!route.handler || req.header("accept").find("text/event-stream") != std::string::npos)) {
      Stream stream = route.stream(req);
      auto slot = take_stream_slot(token_name);
      stream.poll = [poll = std::move(stream.poll), slot](const EventSink& sink) { return poll(sink); };
      http::Response head{200, stream.content_type.empty() ? "text/event-stream" : stream.content_type, "",
                          stream.headers};
      return {std::move(head), std::move(stream)};
    }
    if (route.page != Page::none) {
      req.machines =
          json::array({{{"id", "local"},
                        {"name", "this machine"},
                        {"links", {{"dashboard", "/"}, {"copy", "/api/v1/machines/local/copy"}}}}});
      if (machines_.list)
        for (auto& m : machines_.list()) req.machines.push_back(std::move(m));
      if (req.machine.empty()) {
        req.api = [this, caller = req](const std::string& method, const std::string& target, const json& b) {
          return call(caller, method, target, b);
        };
      } else {
        if (!machines_.api) throw not_found("this adamd has no machine registry");
        req.api = machines_.api(req.machine, req);
      }
      // A page's reads are one snapshot, each GET made once: the layout's
      // navigation reuses the plugin list the page read (a firewall with
      // 10,000 rules makes that list cost tens of ms).
      req.api = [api = std::move(req.api), read = std::make_shared<std::map<std::string, json>>()](
                    const std::string& method, const std::string& target, const json& b) {
        if (method != "GET") {
          read->clear();
          return api(method, target, b);
        }
        auto it = read->find(target);
        if (it == read->end()) it = read->emplace(target, api(method, target, b)).first;
        return it->second;
      };
    }
    Reply reply = route.handler(req);
    audit(route, req, reply);
    return {render(entry, req, reply), std::nullopt};
  } catch (const ApiError& e) {
    // A page shows its error inside the console, never as a blank page; the
    // layout does not ask the machine again (its error would show twice).
    if (route.page != Page::none && !req.hx) {
      req.api = nullptr;
      http::Response res{e.status(), "text/html; charset=utf-8",
                         layout(req, html::error(e.status(), e.what(), e.field())), error_headers(e)};
      return {std::move(res), std::nullopt};
    }
    return {error_reply(e, req.hx), std::nullopt};
  } catch (const std::exception& e) {
    spdlog::error("{} {}: {}", req.method, req.path, e.what());
    return {error_response(500, "internal", e.what(), "", req.hx), std::nullopt};
  }
}

void Router::audit(const Route& route, const Request& req, const Reply& reply) {
  if (route.access != Access::admin || req.method == "GET" || reply.status >= 400) return;
  const json data = {{"token", req.caller},
                     {"method", req.method},
                     {"route", route.name},
                     {"path", req.path},
                     {"status", reply.status},
                     {"before", reply.audit_before},
                     {"after", reply.audit_after.is_null() ? req.body : reply.audit_after}};
  events_.publish("adamd", "api.change", data.dump(-1, ' ', false, json::error_handler_t::replace));
}

json Router::call(const Request& caller, const std::string& method, const std::string& target,
                  const json& body) {
  const size_t question = target.find('?');
  Request req;
  req.method = method;
  req.path = target.substr(0, question);
  std::smatch m;
  const Entry* found = match(method, req.path, m);
  if (!found || found->on_machine || found->route.page != Page::none || !found->route.handler)
    throw not_found("no API route " + method + " " + req.path);
  const Route& route = found->route;
  for (size_t i = 1; i < m.size(); ++i) req.params.push_back(m[i]);
  if (question != std::string::npos)
    for (auto& [k, v] : parse_urlencoded(std::string_view(target).substr(question + 1)))
      req.query.emplace(std::move(k), std::move(v));
  if (route.access == Access::admin && caller.caller_role != "admin")
    throw ApiError(403, "forbidden", "token '" + caller.caller + "' is a viewer token; this needs admin");
  req.body = body;
  req.caller = caller.caller;
  req.caller_role = caller.caller_role;
  Reply reply = route.handler(req);
  audit(route, req, reply);
  return std::move(reply.body);
}

std::string Router::fragment(const std::string& method, const std::string& path, const json& body) const {
  std::smatch m;
  const Entry* found = match(method, path, m);
  return found && found->route.html ? found->route.html(body) : html::json_block(body);
}

std::string Router::layout(const Request& req, const std::string& main) const {
  // The plugins the request's machine has: their pages are in its navigation.
  std::vector<std::string> plugins;
  std::string machine_error;
  if (req.api) {
    try {
      for (const auto& p : req.api("GET", "/api/v1/plugins?stats=0", nullptr).value("plugins", json::array()))
        if (p.value("state", "") != "unsupported") plugins.push_back(p.value("name", ""));
    } catch (const ApiError& e) {
      machine_error = e.what();
    }
  }
  json machine_nav = json::array(), console_nav = json::array();
  for (const auto& e : entries_) {
    const Route& r = e.route;
    if (e.on_machine || r.nav.empty() || (r.access == Access::admin && req.caller_role != "admin")) continue;
    if (r.page == Page::console) {
      console_nav.push_back({{"title", r.nav}, {"href", r.pattern}, {"active", r.pattern == req.path}});
    } else if (r.page == Page::machine &&
               (r.plugin.empty() || std::find(plugins.begin(), plugins.end(), r.plugin) != plugins.end())) {
      const std::string href = req.base + r.pattern;
      machine_nav.push_back(
          {{"title", r.nav},
           {"href", href},
           {"active", href == req.path || (href == req.base + "/" && req.path == req.base)}});
    }
  }
  // The machine selector: this adamd, then the registered machines.
  json machines =
      json::array({{{"id", ""}, {"name", "this machine"}, {"href", "/"}, {"active", req.machine.empty()}}});
  json machine = machines[0];
  if (machines_.list) {
    for (const auto& m : machines_.list()) {
      const std::string id = m.value("id", json()).is_string() ? m["id"].get<std::string>() : m["id"].dump();
      json entry = {{"id", id},
                    {"name", m.value("name", id)},
                    {"href", "/m/" + id + "/"},
                    {"active", id == req.machine}};
      if (id == req.machine) machine = entry;
      machines.push_back(std::move(entry));
    }
  }
  return html::console_page({{"token", {{"name", req.caller}, {"role", req.caller_role}}},
                             {"admin", req.caller_role == "admin"},
                             {"links", console_links()},
                             {"nav", machine_nav},
                             {"console_nav", console_nav},
                             {"machines", machines},
                             {"machine", machine},
                             {"machine_error", machine_error.empty() ? json() : json(machine_error)}},
                            main);
}

http::Response Router::render(const Entry& entry, const Request& req, const Reply& reply) {
  http::Response res{reply.status, {}, {}, reply.headers};
  if (reply.status == 204) return res;
  if (!reply.content.empty() || !reply.content_type.empty()) {
    res.content_type = reply.content_type;
    // A console page loaded whole (not by htmx) comes inside the console layout.
    res.body = entry.route.page != Page::none && !req.hx ? layout(req, reply.content) : reply.content;
    return res;
  }
  if (req.hx) {
    res.content_type = "text/html; charset=utf-8";
    res.body = entry.route.html ? entry.route.html(reply.body) : html::json_block(reply.body);
    return res;
  }
  res.content_type = "application/json";
  res.body = reply.body.dump(-1, ' ', false, json::error_handler_t::replace);
  return res;
}

}  // namespace adam
