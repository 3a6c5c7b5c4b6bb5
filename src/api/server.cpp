#include "api/server.h"

#include <httplib.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "api/html.h"
#include "core/config_schema.h"
#include "core/embedded.h"
#include "core/errors.h"
#include "core/event_hub.h"
#include "core/event_query.h"
#include "core/kernel.h"
#include "core/metrics.h"
#include "core/plugin_manager.h"
#include "core/xdp_chain.h"
#include "store/tokens.h"

namespace adam {

using nlohmann::json;

namespace {

constexpr const char* kSessionCookie = "adam_session";
constexpr auto kSessionLifetime = std::chrono::hours(12);

enum class Access { open, viewer, admin };

// Who is calling, once authenticated.
struct Caller {
  Token token;
  bool via_cookie = false;
};

struct Reply {
  int status = 200;
  json body;
  // An admin route's change, for the audit trail (api.change events).
  json audit_before;
  json audit_after;
};

using Handler = std::function<Reply(const httplib::Request&, const Caller&)>;
using Renderer = std::function<std::string(const json&)>;

int64_t to_ns(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string random_hex(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1)
    throw std::runtime_error("RAND_bytes failed");
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : buf) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0xf]);
  }
  return out;
}

std::string cookie_value(const httplib::Request& req, const std::string& name) {
  const std::string header = req.get_header_value("Cookie");
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string part = header.substr(pos, end - pos);
    const size_t start = part.find_first_not_of(' ');
    if (start != std::string::npos) part = part.substr(start);
    if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
    pos = end + 1;
  }
  return {};
}

json parse_body(const httplib::Request& req) {
  if (req.body.empty()) return json::object();
  try {
    return json::parse(req.body);
  } catch (const json::parse_error& e) {
    throw bad_request("body", std::string("invalid JSON: ") + e.what());
  }
}

std::string content_type_of(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

json token_json(const Token& t) {
  json j = {{"id", t.id},
            {"name", t.name},
            {"role", to_string(t.role)},
            {"created_at", t.created_at},
            {"last_used_at", t.last_used_at ? json(*t.last_used_at) : json(nullptr)},
            {"links", {{"self", "/api/v1/tokens/" + std::to_string(t.id)}}}};
  return j;
}

// What an audit event records of a plugin: its state, not its stats.
json plugin_audit(const PluginStatus& s) {
  return {{"state", to_string(s.state)},
          {"desired", s.desired_running ? "running" : "stopped"},
          {"config", s.config}};
}

json event_json(const Event& e) {
  json data = json::parse(e.data, nullptr, false);
  return {{"id", e.id},
          {"ts", e.ts},
          {"time", format_rfc3339(e.ts)},
          {"plugin", e.plugin},
          {"kind", e.kind},
          {"machine", e.machine},
          {"data", data.is_discarded() ? json(e.data) : data}};
}

json counters_json(const EventCounters& c) {
  json lost = json::object();
  for (LossReason reason : kLossReasons) {
    auto it = c.lost.find(reason);
    lost[to_string(reason)] = it == c.lost.end() ? 0 : it->second;
  }
  return {{"stored", c.stored}, {"lost", lost}};
}

// One Server-Sent Events frame; an empty event name makes a comment line
// (keepalive), which clients ignore.
std::string sse_frame(const std::string& event, const std::string& data) {
  if (event.empty()) return ": " + data + "\n\n";
  std::string frame = "event: " + event + "\n";
  size_t start = 0;
  while (start <= data.size()) {  // one data: line per line of data
    size_t end = data.find('\n', start);
    if (end == std::string::npos) end = data.size();
    frame += "data: " + data.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return frame + "\n";
}

// The console's own routes and the API's entry points its page loads.
json console_links() {
  return {{"stylesheet", "/ui/assets/adam.css"},
          {"script", "/ui/assets/htmx.min.js"},
          {"login", "/ui/login"},
          {"logout", "/ui/logout"},
          {"node", "/api/v1/node"},
          {"plugins", "/api/v1/plugins"},
          {"tokens", "/api/v1/tokens"},
          {"events", "/api/v1/events"},
          {"histogram", "/api/v1/events/histogram"}};
}

json plugin_json(const PluginStatus& s) {
  const std::string self = "/api/v1/plugins/" + s.name;
  json links = {{"self", self}};
  if (s.state != PluginState::unsupported) {
    links["start"] = self + "/start";
    links["stop"] = self + "/stop";
  }
  return {{"name", s.name},
          {"description", s.description},
          {"state", to_string(s.state)},
          {"desired", s.desired_running ? "running" : "stopped"},
          {"config", s.config},
          {"reason", s.reason},
          {"summary", s.summary},
          {"config_schema", s.config_schema},
          {"stats", s.stats},
          {"links", links}};
}

}  // namespace

struct ApiServer::Impl {
  explicit Impl(ApiContext c) : ctx(std::move(c)) {}

  ApiContext ctx;
  httplib::Server srv;
  HttpMetrics metrics;

  struct Session {
    int64_t token_id;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex sessions_mu;
  std::map<std::string, Session> sessions;

  void write_error(httplib::Response& res, bool hx, int status, const std::string& code,
                   const std::string& message, const std::string& field) {
    res.status = status;
    if (status == 401) res.set_header("WWW-Authenticate", "Bearer realm=\"adam\"");
    if (hx) {
      res.set_content(html::error(status, message, field), "text/html; charset=utf-8");
      return;
    }
    json err = {{"code", code}, {"message", message}};
    if (!field.empty()) err["field"] = field;
    res.set_content(json{{"error", err}}.dump(), "application/json");
  }

  std::optional<Token> session_token(const httplib::Request& req) {
    const std::string sid = cookie_value(req, kSessionCookie);
    if (sid.empty()) return std::nullopt;
    int64_t token_id;
    {
      std::lock_guard lock(sessions_mu);
      auto it = sessions.find(sid);
      if (it == sessions.end()) return std::nullopt;
      if (it->second.expires < std::chrono::steady_clock::now()) {
        sessions.erase(it);
        return std::nullopt;
      }
      token_id = it->second.token_id;
    }
    return ctx.tokens.find(token_id);  // a deleted token ends its sessions
  }

  Caller authorize(const httplib::Request& req, Access access) {
    Caller caller;
    if (access == Access::open) return caller;
    const std::string auth = req.get_header_value("Authorization");
    if (!auth.empty()) {
      if (auth.rfind("Bearer ", 0) != 0)
        throw ApiError(401, "unauthorized", "Authorization must be 'Bearer <token>'");
      auto t = ctx.tokens.authenticate(auth.substr(7));
      if (!t) throw ApiError(401, "unauthorized", "unknown or revoked token");
      caller.token = *t;
    } else if (auto t = session_token(req)) {
      caller.token = *t;
      caller.via_cookie = true;
      // A cookie rides along on cross-site requests; a custom header and a
      // same-origin Origin do not, so writes need them (CSRF).
      if (req.method != "GET" && req.method != "HEAD") {
        const std::string origin = req.get_header_value("Origin");
        const std::string host = req.get_header_value("Host");
        const bool same_origin = origin.empty() || origin == "http://" + host || origin == "https://" + host;
        if (req.get_header_value("HX-Request") != "true" || !same_origin)
          throw ApiError(403, "csrf",
                         "cookie-authenticated writes must come from the console (HX-Request, same origin)");
      }
    } else {
      throw ApiError(401, "unauthorized", "missing token: send 'Authorization: Bearer <token>'");
    }
    if (access == Access::admin && caller.token.role != Role::admin)
      throw ApiError(403, "forbidden",
                     "token '" + caller.token.name + "' is a viewer token; this needs admin");
    return caller;
  }

  // Registers a route: auth, errors, content negotiation and metrics in one place.
  void route(const std::string& method, const std::string& pattern, const std::string& tmpl, Access access,
             Renderer html_renderer, Handler handler) {
    auto wrapped = [this, method, tmpl, access, html_renderer, handler](const httplib::Request& req,
                                                                        httplib::Response& res) {
      const auto t0 = std::chrono::steady_clock::now();
      const bool hx = req.get_header_value("HX-Request") == "true";
      try {
        Caller caller = authorize(req, access);
        Reply r = handler(req, caller);
        if (access == Access::admin && method != "GET" && r.status < 400) audit(req, tmpl, caller, r);
        res.status = r.status;
        if (r.status != 204) {
          if (hx && html_renderer)
            res.set_content(html_renderer(r.body), "text/html; charset=utf-8");
          else
            res.set_content(r.body.dump(), "application/json");
        }
      } catch (const ApiError& e) {
        write_error(res, hx, e.status(), e.code(), e.what(), e.field());
      } catch (const std::exception& e) {
        spdlog::error("{} {}: {}", req.method, req.path, e.what());
        write_error(res, hx, 500, "internal", e.what(), "");
      }
      metrics.observe(method, tmpl, res.status,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    };
    if (method == "GET")
      srv.Get(pattern, wrapped);
    else if (method == "POST")
      srv.Post(pattern, wrapped);
    else if (method == "PUT")
      srv.Put(pattern, wrapped);
    else if (method == "DELETE")
      srv.Delete(pattern, wrapped);
  }

  // Every state change through the API becomes an api.change event.
  void audit(const httplib::Request& req, const std::string& tmpl, const Caller& caller, const Reply& r) {
    json data = {{"token", caller.token.name}, {"method", req.method}, {"route", tmpl},
                 {"path", req.path},           {"status", r.status},   {"before", r.audit_before},
                 {"after", r.audit_after}};
    ctx.events.publish("adamd", "api.change", data.dump());
  }

  json events_json() {
    json per_plugin = json::object();
    EventCounters total;
    for (const auto& [plugin, c] : ctx.events.counters()) {
      per_plugin[plugin] = counters_json(c);
      total.stored += c.stored;
      for (const auto& [reason, n] : c.lost) total.lost[reason] += n;
    }
    json j = counters_json(total);
    j["plugins"] = per_plugin;
    j["rows"] = ctx.events.store().row_count();
    j["queue"] = {{"depth", ctx.events.queue_depth()}, {"capacity", ctx.events.queue_capacity()}};
    j["retention"] = {{"age", ctx.config.retention}, {"max_events", ctx.config.max_events}};
    return j;
  }

  json node_json() {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    struct utsname u {};
    ::uname(&u);
    json features = json::object();
    for (const auto& [name, f] : ctx.features.features)
      features[name] = {{"available", f.available}, {"detail", f.detail}};
    json ifaces = json::array();
    for (const auto& i : ctx.xdp.interfaces())
      ifaces.push_back(
          {{"ifname", i.ifname}, {"ifindex", i.ifindex}, {"mode", to_string(i.mode)}, {"owners", i.owners}});
    const auto now = std::chrono::system_clock::now();
    return {{"hostname", host},
            {"kernel", {{"release", u.release}, {"version", u.version}, {"machine", u.machine}}},
            {"version", ADAM_VERSION},
            {"started_at", to_ns(ctx.started_at)},
            {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(now - ctx.started_at).count()},
            {"features", features},
            {"state_dir", ctx.config.state_dir},
            {"pin_dir", ctx.config.pin_dir},
            {"xdp_interfaces", ifaces},
            {"events", events_json()},
            {"links",
             {{"self", "/api/v1/node"},
              {"plugins", "/api/v1/plugins"},
              {"tokens", "/api/v1/tokens"},
              {"events", "/api/v1/events"}}}};
  }

  // A plugin with its event counters.
  json plugin_with_events(const PluginStatus& s) {
    json j = plugin_json(s);
    auto counters = ctx.events.counters();
    j["events"] = counters_json(counters[s.name]);
    return j;
  }

  json plugins_json() {
    json list = json::array();
    for (const auto& s : ctx.plugins.list()) list.push_back(plugin_with_events(s));
    return {{"plugins", list}, {"links", {{"self", "/api/v1/plugins"}}}};
  }

  json tokens_json() {
    json list = json::array();
    for (const auto& t : ctx.tokens.list()) list.push_back(token_json(t));
    return {{"tokens", list}, {"links", {{"self", "/api/v1/tokens"}, {"create", "/api/v1/tokens"}}}};
  }

  std::string metrics_text() {
    MetricsWriter w;
    w.family("adamd_build_info", "gauge", "adamd's version; always 1.");
    w.sample("adamd_build_info", {{"version", ADAM_VERSION}}, 1);
    w.family("adamd_uptime_seconds", "gauge", "Seconds since adamd started.");
    w.sample("adamd_uptime_seconds", {},
             std::chrono::duration<double>(std::chrono::system_clock::now() - ctx.started_at).count());
    w.family("adamd_kernel_feature", "gauge", "1 when the kernel feature was found by probing.");
    for (const auto& [name, f] : ctx.features.features)
      w.sample("adamd_kernel_feature", {{"feature", name}}, f.available);
    ctx.plugins.metrics(w);
    w.family("adamd_xdp_interfaces", "gauge", "Interfaces with adamd's XDP root program attached.");
    w.sample("adamd_xdp_interfaces", {}, static_cast<double>(ctx.xdp.interfaces().size()));
    const auto counters = ctx.events.counters();
    w.family("adamd_events_stored_total", "counter", "Events written to the event store, by plugin.");
    for (const auto& [plugin, c] : counters)
      w.sample("adamd_events_stored_total", {{"plugin", plugin}}, static_cast<double>(c.stored));
    w.family("adamd_events_lost_total", "counter",
             "Events lost, by plugin and reason (kernel: ring buffer full; queue: writer queue full; "
             "write: SQLite error; decode: malformed record; rate_limit: refused by the producer's "
             "rate limit in the kernel).");
    for (const auto& [plugin, c] : counters)
      for (const auto& [reason, n] : c.lost)
        w.sample("adamd_events_lost_total", {{"plugin", plugin}, {"reason", to_string(reason)}},
                 static_cast<double>(n));
    w.family("adamd_events_queue_depth", "gauge", "Events waiting for the writer.");
    w.sample("adamd_events_queue_depth", {}, static_cast<double>(ctx.events.queue_depth()));
    w.family("adamd_events_rows", "gauge", "Events in the store.");
    w.sample("adamd_events_rows", {}, static_cast<double>(ctx.events.store().row_count()));
    metrics.write(w);
    return w.text();
  }

  void register_routes();
  void register_plugin_route(const PluginRoute& r);
  void register_event_routes();
  using Stream = std::function<void(const EventSink&)>;
  // Registers a Server-Sent Events route: auth and errors as usual, then
  // `open` checks the request (throwing ApiError) and returns the stream,
  // which runs on the connection's worker thread until the client is gone.
  void stream_route(const std::string& pattern, const std::string& tmpl, Access access,
                    std::function<Stream(const httplib::Request&, const Caller&)> open);

  std::atomic<int> open_streams{0};
  std::atomic<bool> stopping{false};  // streams end when set
};

// SSE streams hold a worker thread each: the pool is sized for them and
// their number capped, so streams can never starve the API.
constexpr int kWorkerThreads = 48;
constexpr int kMaxStreams = 32;
// A comment line this often keeps proxies from closing an idle stream and
// finds clients that went away.
constexpr auto kKeepalive = std::chrono::seconds(15);

void ApiServer::Impl::register_plugin_route(const PluginRoute& r) {
  const std::string pattern = "/api/v1" + r.pattern;
  const Access access = r.admin ? Access::admin : Access::viewer;
  auto to_request = [](const httplib::Request& req, const Caller& caller) {
    PluginRequest pr;
    for (size_t i = 1; i < req.matches.size(); ++i) pr.params.push_back(req.matches[i]);
    for (const auto& [k, v] : req.params) pr.query.emplace(k, v);
    pr.body = req.body.empty() ? json(nullptr) : parse_body(req);
    pr.caller = caller.token.name;
    return pr;
  };
  if (!r.stream) {
    Renderer html_renderer = r.html ? r.html : Renderer([](const json& j) { return html::json_block(j); });
    route(
        r.method, pattern, r.name, access, html_renderer,
        [handler = r.handler, to_request](const httplib::Request& req, const Caller& caller) {
          PluginRequest request = to_request(req, caller);
          PluginReply reply = handler(request);
          json after = reply.audit_after.is_null() ? request.body : std::move(reply.audit_after);
          return Reply{reply.status, std::move(reply.body), std::move(reply.audit_before), std::move(after)};
        });
    return;
  }
  stream_route(pattern, r.name, access,
               [stream = r.stream, to_request](const httplib::Request& req, const Caller& caller) -> Stream {
                 return [stream, pr = to_request(req, caller)](const EventSink& sink) { stream(pr, sink); };
               });
}

void ApiServer::Impl::stream_route(const std::string& pattern, const std::string& tmpl, Access access,
                                   std::function<Stream(const httplib::Request&, const Caller&)> open) {
  srv.Get(pattern, [this, tmpl, access, open](const httplib::Request& req, httplib::Response& res) {
    const bool hx = req.get_header_value("HX-Request") == "true";
    try {
      Caller caller = authorize(req, access);
      Stream stream = open(req, caller);
      if (open_streams.fetch_add(1) >= kMaxStreams) {
        open_streams.fetch_sub(1);
        throw unavailable("too many open streams; try again later");
      }
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider(
          "text/event-stream",
          [this, stream](size_t, httplib::DataSink& sink) {
            // A stopping server ends the stream at its next event: httplib's
            // stop() waits for its worker threads.
            stream([this, &sink](const std::string& event, const std::string& data) {
              const std::string frame = sse_frame(event, data);
              return !stopping && sink.is_writable() && sink.write(frame.data(), frame.size());
            });
            sink.done();
            return true;
          },
          [this](bool) { open_streams.fetch_sub(1); });
      metrics.observe("GET", tmpl, 200, 0);
    } catch (const ApiError& e) {
      write_error(res, hx, e.status(), e.code(), e.what(), e.field());
      metrics.observe("GET", tmpl, res.status, 0);
    }
  });
}

void ApiServer::Impl::register_routes() {
  srv.set_payload_max_length(4 << 20);
  srv.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };

  srv.Get("/healthz",
          [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });

  srv.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    try {
      if (ctx.config.metrics_auth) authorize(req, Access::viewer);
      res.set_content(metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
    } catch (const ApiError& e) {
      write_error(res, false, e.status(), e.code(), e.what(), e.field());
    }
  });

  // --- console ---
  srv.Get("/", [this](const httplib::Request& req, httplib::Response& res) {
    auto who = session_token(req);
    res.set_content(
        who ? html::console_page(token_json(*who), console_links()) : html::login_page("", console_links()),
        "text/html; charset=utf-8");
  });
  srv.Post("/ui/login", [this](const httplib::Request& req, httplib::Response& res) {
    auto t = ctx.tokens.authenticate(req.get_param_value("token"));
    if (!t) {
      res.status = 401;
      res.set_content(html::login_page("That token is not valid.", console_links()),
                      "text/html; charset=utf-8");
      return;
    }
    const std::string sid = random_hex(32);
    {
      std::lock_guard lock(sessions_mu);
      sessions[sid] = {t->id, std::chrono::steady_clock::now() + kSessionLifetime};
    }
    res.set_header("Set-Cookie", std::string(kSessionCookie) + "=" + sid +
                                     "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                                     std::to_string(std::chrono::seconds(kSessionLifetime).count()));
    res.set_redirect("/", 303);
  });
  srv.Post("/ui/logout", [this](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(sessions_mu);
      sessions.erase(cookie_value(req, kSessionCookie));
    }
    res.set_header("Set-Cookie",
                   std::string(kSessionCookie) + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    res.set_redirect("/", 303);
  });
  srv.Get("/ui/assets/([A-Za-z0-9._-]+)", [](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    for (const auto& f : embedded::web_assets) {
      if (f.name == name) {
        res.set_header("Cache-Control", "public, max-age=3600");
        res.set_content(std::string(f.data), content_type_of(f.name));
        return;
      }
    }
    res.status = 404;
    res.set_content("no such asset\n", "text/plain");
  });

  // --- API ---
  route("GET", "/api/v1/node", "/api/v1/node", Access::viewer, html::node,
        [this](const httplib::Request&, const Caller&) {
          return Reply{200, node_json()};
        });

  route("GET", "/api/v1/plugins", "/api/v1/plugins", Access::viewer, html::plugins,
        [this](const httplib::Request&, const Caller&) {
          return Reply{200, plugins_json()};
        });
  route("GET", "/api/v1/plugins/([^/]+)", "/api/v1/plugins/{name}", Access::viewer, html::plugin_row,
        [this](const httplib::Request& req, const Caller&) {
          return Reply{200, plugin_with_events(ctx.plugins.status(req.matches[1]))};
        });
  route("POST", "/api/v1/plugins/([^/]+)/start", "/api/v1/plugins/{name}/start", Access::admin,
        html::plugin_row, [this](const httplib::Request& req, const Caller&) {
          const std::string name = req.matches[1];
          const PluginStatus before = ctx.plugins.status(name);  // 404 before looking at the body
          const bool form =
              req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0;
          json config = form ? config_from_text(before.config_schema, {req.params.begin(), req.params.end()})
                             : parse_body(req);
          if (!config.is_object()) throw bad_request("body", "the plugin config must be a JSON object");
          const PluginStatus after = ctx.plugins.start(name, config);
          return Reply{200, plugin_with_events(after), plugin_audit(before), plugin_audit(after)};
        });
  route("POST", "/api/v1/plugins/([^/]+)/stop", "/api/v1/plugins/{name}/stop", Access::admin,
        html::plugin_row, [this](const httplib::Request& req, const Caller&) {
          const PluginStatus before = ctx.plugins.status(req.matches[1]);
          const PluginStatus after = ctx.plugins.stop(req.matches[1]);
          return Reply{200, plugin_with_events(after), plugin_audit(before), plugin_audit(after)};
        });

  route("GET", "/api/v1/tokens", "/api/v1/tokens", Access::admin, html::tokens,
        [this](const httplib::Request&, const Caller&) {
          return Reply{200, tokens_json()};
        });
  route("POST", "/api/v1/tokens", "/api/v1/tokens", Access::admin, html::token_created,
        [this](const httplib::Request& req, const Caller&) {
          const bool form =
              req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0;
          json body = form
                          ? json{{"name", req.get_param_value("name")}, {"role", req.get_param_value("role")}}
                          : parse_body(req);
          if (!body.is_object()) throw bad_request("body", "expected a JSON object {\"name\", \"role\"}");
          for (const auto& [key, _] : body.items())
            if (key != "name" && key != "role") throw bad_request(key, "unknown field '" + key + "'");
          if (!body.contains("name") || !body["name"].is_string())
            throw bad_request("name", "name is required and must be a string");
          Role role = Role::viewer;
          if (body.contains("role")) {
            auto r = body["role"].is_string() ? parse_role(body["role"].get<std::string>()) : std::nullopt;
            if (!r) throw bad_request("role", "role must be 'admin' or 'viewer'");
            role = *r;
          }
          NewToken created = ctx.tokens.create(body["name"].get<std::string>(), role);
          json j = token_json(created.token);
          const json audit_after = j;  // never the secret
          j["token"] = created.secret;
          return Reply{201, j, nullptr, audit_after};
        });
  route("DELETE", "/api/v1/tokens/([^/]+)", "/api/v1/tokens/{id}", Access::admin, nullptr,
        [this](const httplib::Request& req, const Caller&) {
          const std::string text = req.matches[1];
          int64_t id = 0;
          auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
          if (ec != std::errc() || ptr != text.data() + text.size())
            throw bad_request("id", "token id must be a number");
          const Token removed = ctx.tokens.remove(id);
          return Reply{204, nullptr, token_json(removed), nullptr};
        });

  for (const auto& r : ctx.plugins.routes()) register_plugin_route(r);
  register_event_routes();

  // Unknown routes and httplib's own errors (413, ...) answer in the API's format.
  srv.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const bool hx = req.get_header_value("HX-Request") == "true";
    if (res.status == 404) {
      write_error(res, hx, 404, "not_found", "no route " + req.method + " " + req.path, "");
      metrics.observe(req.method, "unmatched", 404, 0);
    } else {
      write_error(res, hx, res.status, "http_" + std::to_string(res.status),
                  "HTTP error " + std::to_string(res.status), "");
    }
  });
  srv.set_exception_handler(
      [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("{} {}: {}", req.method, req.path, what);
        write_error(res, false, 500, "internal", what, "");
      });
}

void ApiServer::Impl::register_event_routes() {
  route("GET", "/api/v1/events", "/api/v1/events", Access::viewer, html::events,
        [this](const httplib::Request& req, const Caller&) {
          const EventQuery q = parse_event_query(req.params, now_ns());
          const EventPage page = ctx.events.store().query(q.filter, q.cursor, q.limit);
          json events = json::array();
          for (const auto& e : page.events) events.push_back(event_json(e));
          QueryParams params = req.params;
          params.erase("cursor");
          const std::string self =
              "/api/v1/events" + (req.params.empty() ? "" : "?" + to_query_string(req.params));
          json next = nullptr;
          json next_link = nullptr;
          if (page.next) {
            next = page.next->encode();
            params.emplace("cursor", page.next->encode());
            next_link = "/api/v1/events?" + to_query_string(params);
          }
          return Reply{200,
                       {{"events", events},
                        {"next_cursor", next},
                        {"links",
                         {{"self", self},
                          {"next", next_link},
                          {"histogram", "/api/v1/events/histogram"},
                          {"stream", "/api/v1/events/stream"}}}}};
        });
  route("GET", "/api/v1/events/histogram", "/api/v1/events/histogram", Access::viewer, html::histogram,
        [this](const httplib::Request& req, const Caller&) {
          const HistogramQuery q = parse_histogram_query(req.params, now_ns());
          const Histogram h = ctx.events.store().histogram(q.filter, q.bucket_ns, q.group);
          json buckets = json::array();
          for (size_t i = 0; i < h.counts.size(); ++i) {
            int64_t total = 0;
            for (const auto& [name, n] : h.counts[i]) total += n;
            const TimeNs start = h.first_bucket + static_cast<TimeNs>(i) * h.bucket_ns;
            buckets.push_back(
                {{"ts", start}, {"time", format_rfc3339(start)}, {"total", total}, {"counts", h.counts[i]}});
          }
          return Reply{200,
                       {{"bucket", q.bucket},
                        {"bucket_ns", q.bucket_ns},
                        {"group", q.group == HistogramGroup::kind ? "kind" : "plugin"},
                        {"since", q.filter.since},
                        {"buckets", buckets},
                        {"links",
                         {{"self", "/api/v1/events/histogram?" + to_query_string(req.params)},
                          {"events", "/api/v1/events"}}}}};
        });
  // Stored events of last=/since= first (oldest first, up to limit), then
  // live ones; a keepalive comment every 15 s. The subscription is taken
  // before the stored events are read, so none falls between the two.
  stream_route("/api/v1/events/stream", "/api/v1/events/stream", Access::viewer,
               [this](const httplib::Request& req, const Caller&) -> Stream {
                 const EventQuery q = parse_stream_query(req.params, now_ns());
                 return [this, q](const EventSink& sink) {
                   auto subscription = ctx.events.subscribe(q.filter);
                   int64_t sent_up_to = 0;
                   if (q.has_range) {
                     EventPage stored = ctx.events.store().query(q.filter, std::nullopt, q.limit);
                     for (auto it = stored.events.rbegin(); it != stored.events.rend(); ++it) {
                       if (!sink("event", event_json(*it).dump())) return;
                       sent_up_to = std::max(sent_up_to, it->id);
                     }
                   }
                   // Short waits: a stopping server ends the stream within a second.
                   auto last_write = std::chrono::steady_clock::now();
                   while (!subscription->dropped() && !stopping) {
                     const auto events = subscription->wait(std::chrono::seconds(1));
                     for (const auto& e : events)
                       if (e.id > sent_up_to && !sink("event", event_json(e).dump())) return;
                     if (!events.empty()) {
                       last_write = std::chrono::steady_clock::now();
                     } else if (std::chrono::steady_clock::now() - last_write > kKeepalive) {
                       if (!sink("", "keepalive")) return;
                       last_write = std::chrono::steady_clock::now();
                     }
                   }
                   if (stopping) return;
                   sink("dropped", R"({"reason":"the client fell too far behind"})");
                 };
               });
}

ApiServer::ApiServer(ApiContext ctx) : impl_(std::make_unique<Impl>(std::move(ctx))) {
  impl_->register_routes();
}

ApiServer::~ApiServer() = default;

int ApiServer::bind(const ListenAddress& address) {
  if (address.port == 0) {
    const int port = impl_->srv.bind_to_any_port(address.host);
    if (port < 0) throw std::runtime_error("cannot listen on [" + address.host + "]:0");
    return port;
  }
  if (!impl_->srv.bind_to_port(address.host, address.port))
    throw std::runtime_error("cannot listen on " + address.host + ":" + std::to_string(address.port) + ": " +
                             std::strerror(errno) + " (is another adamd running?)");
  return address.port;
}

void ApiServer::serve() { impl_->srv.listen_after_bind(); }

void ApiServer::stop() {
  impl_->stopping = true;
  impl_->srv.stop();
}

}  // namespace adam
