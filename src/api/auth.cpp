#include "api/auth.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <regex>
#include <stdexcept>

#include "api/html.h"
#include "api/resources.h"
#include "core/errors.h"
#include "core/event_hub.h"

namespace adam {
namespace {

constexpr const char* kSessionCookie = "adam_session";
constexpr std::chrono::seconds kSessionLifetime = std::chrono::hours(12);

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

std::string cookie_value(const Request& req, const std::string& name) {
  const std::string header = req.header("cookie");
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find_first_of(";,", pos);  // several Cookie headers arrive joined by ", "
    if (end == std::string::npos) end = header.size();
    std::string part = header.substr(pos, end - pos);
    const size_t start = part.find_first_not_of(' ');
    if (start != std::string::npos) part = part.substr(start);
    if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
    pos = end + 1;
  }
  return {};
}

std::string form_value(const Request& req, const std::string& key) {
  for (const auto& [k, v] : req.form)
    if (k == key) return v;
  return {};
}

struct Origin {
  std::string scheme, host;  // host lower case, an IPv6 literal without brackets
  int port = 0;
  std::string text() const {
    const bool v6 = host.find(':') != std::string::npos;
    return scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
};

// "scheme://host[:port]" as a browser sends it in Origin; nullopt otherwise.
std::optional<Origin> parse_origin(const std::string& text) {
  static const std::regex form(R"(^(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?$)");
  std::smatch m;
  if (!std::regex_match(text, m, form)) return std::nullopt;
  Origin o;
  o.scheme = m[1];
  o.host = m[2];
  if (o.host.front() == '[') o.host = o.host.substr(1, o.host.size() - 2);
  std::transform(o.host.begin(), o.host.end(), o.host.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  o.port = m[3].matched ? std::stoi(m[3]) : (o.scheme == "https" ? 443 : 80);
  if (o.port < 1 || o.port > 65535) return std::nullopt;
  return o;
}

// Whether `host` names this machine: localhost, its host name, or a literal
// address of one of its interfaces (in adamd's network namespace, now).
bool is_own_host(const std::string& host) {
  if (host == "localhost") return true;
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) == 0) {
    std::string own(name);
    std::transform(own.begin(), own.end(), own.begin(), [](unsigned char c) { return std::tolower(c); });
    if (host == own) return true;
  }
  in6_addr v6{};
  in_addr v4{};
  const bool is_v4 = ::inet_pton(AF_INET, host.c_str(), &v4) == 1;
  const bool is_v6 = !is_v4 && ::inet_pton(AF_INET6, host.c_str(), &v6) == 1;
  if (!is_v4 && !is_v6) return false;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  bool found = false;
  for (ifaddrs* a = list; a && !found; a = a->ifa_next) {
    if (!a->ifa_addr) continue;
    if (is_v4 && a->ifa_addr->sa_family == AF_INET)
      found = std::memcmp(&reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, &v4, sizeof v4) == 0;
    else if (is_v6 && a->ifa_addr->sa_family == AF_INET6)
      found = std::memcmp(&reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr, &v6, sizeof v6) == 0;
  }
  ::freeifaddrs(list);
  return found;
}

}  // namespace

FailureLimiter::Bucket& FailureLimiter::bucket(const std::string& client, Clock::time_point now) {
  if (buckets_.size() >= kMaxClients && !buckets_.count(client)) {
    // Forget the clients whose buckets have refilled: they are as new ones.
    std::erase_if(buckets_, [&](const auto& entry) {
      return entry.second.tokens + (now - entry.second.updated) / refill_ >= burst_;
    });
    if (buckets_.size() >= kMaxClients) buckets_.erase(buckets_.begin());
  }
  auto [it, inserted] = buckets_.try_emplace(client, Bucket{burst_, now, false});
  Bucket& b = it->second;
  if (!inserted) {
    b.tokens = std::min(burst_, b.tokens + std::chrono::duration<double>(now - b.updated) /
                                               std::chrono::duration<double>(refill_));
    b.updated = now;
  }
  return b;
}

FailureLimiter::Verdict FailureLimiter::check(const std::string& client, Clock::time_point now) {
  std::lock_guard lock(mu_);
  Bucket& b = bucket(client, now);
  Verdict v;
  v.allowed = b.tokens >= 1;
  if (v.allowed) {
    b.refusing = false;
    return v;
  }
  v.first_refusal = !b.refusing;
  b.refusing = true;
  v.retry_after = std::chrono::duration_cast<Clock::duration>((1 - b.tokens) * refill_);
  return v;
}

void FailureLimiter::failed(const std::string& client, Clock::time_point now) {
  std::lock_guard lock(mu_);
  Bucket& b = bucket(client, now);
  b.tokens = std::max(0.0, b.tokens - 1);
}

Auth::Auth(TokenStore& tokens, EventHub* events, Options options)
    : tokens_(tokens),
      events_(events),
      options_(std::move(options)),
      failures_(kFailureBurst, std::chrono::seconds(1)) {
  for (const std::string& text : options_.allowed_origins) {
    auto origin = parse_origin(text);
    if (!origin)
      throw std::invalid_argument("--allowed-origin: '" + text +
                                  "' is not an origin (scheme://host[:port], e.g. https://adam.example.org)");
    allowed_origins_.insert(origin->text());
  }
}

bool Auth::origin_allowed(const std::string& text) const {
  const auto origin = parse_origin(text);
  if (!origin) return false;
  if (allowed_origins_.count(origin->text())) return true;
  // Never the request's own Host header: a page of another site that
  // resolves its name to this machine (DNS rebinding) sends a Host and an
  // Origin that agree.
  return origin->scheme == (options_.tls ? "https" : "http") && origin->port == listen_port_ &&
         is_own_host(origin->host);
}

void Auth::record(const std::string& kind, const nlohmann::json& data) {
  if (events_)
    events_->publish("adamd", kind, data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::optional<Token> Auth::authenticate(const Request& req, const std::string& secret,
                                        const std::string& credential) {
  // In-process calls (the console's pages, the fleet poller) have no client.
  if (req.client.empty()) return tokens_.authenticate(secret);
  const auto now = FailureLimiter::Clock::now();
  const auto verdict = failures_.check(req.client, now);
  if (!verdict.allowed) {
    const auto retry_ms = std::chrono::duration_cast<std::chrono::milliseconds>(verdict.retry_after).count();
    if (verdict.first_refusal)
      record("api.auth_limited",
             {{"client", req.client}, {"credential", credential}, {"retry_after_ms", retry_ms}});
    const int64_t retry_s =
        std::max<int64_t>(1, static_cast<int64_t>(std::ceil(static_cast<double>(retry_ms) / 1000)));
    throw RetryLater("too_many_failures",
                     "too many failed logins or unknown tokens from " + req.client + "; retry in " +
                         std::to_string(retry_s) + " s",
                     retry_s);
  }
  auto token = tokens_.authenticate(secret);
  if (!token) {
    failures_.failed(req.client, now);
    record("api.auth_failed",
           {{"client", req.client}, {"credential", credential}, {"method", req.method}, {"path", req.path}});
  }
  return token;
}

std::string Auth::session_cookie(const std::string& value, std::chrono::seconds max_age) const {
  return std::string(kSessionCookie) + "=" + value + "; Path=/; HttpOnly; SameSite=Strict" +
         (options_.tls ? "; Secure" : "") + "; Max-Age=" + std::to_string(max_age.count());
}

std::optional<Token> Auth::session(const Request& req) {
  const std::string sid = cookie_value(req, kSessionCookie);
  if (sid.empty()) return std::nullopt;
  int64_t token_id;
  {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) return std::nullopt;
    if (it->second.expires < std::chrono::steady_clock::now()) {
      sessions_.erase(it);
      return std::nullopt;
    }
    token_id = it->second.token_id;
  }
  return tokens_.find(token_id);  // a deleted token ends its sessions
}

std::optional<Token> Auth::authorize(const Request& req, Access access) {
  if (access == Access::open) return std::nullopt;
  Token token;
  const std::string auth = req.header("authorization");
  if (!auth.empty()) {
    if (auth.rfind("Bearer ", 0) != 0)
      throw ApiError(401, "unauthorized", "Authorization must be 'Bearer <token>'");
    auto t = authenticate(req, auth.substr(7), "bearer");
    if (!t) throw ApiError(401, "unauthorized", "unknown or revoked token");
    token = *t;
  } else if (auto t = session(req)) {
    token = *t;
    // A cookie rides along on cross-site requests; a custom header and a
    // same-origin Origin do not, so writes need them (CSRF).
    if (req.method != "GET" && req.method != "HEAD") {
      const std::string origin = req.header("origin");
      if (!req.hx || (!origin.empty() && !origin_allowed(origin)))
        throw ApiError(
            403, "csrf",
            "cookie-authenticated writes must come from the console (HX-Request, from an origin of "
            "this machine or an --allowed-origin)");
    }
  } else {
    throw ApiError(401, "unauthorized", "missing token: send 'Authorization: Bearer <token>'");
  }
  if (access == Access::admin && token.role != Role::admin)
    throw ApiError(403, "forbidden", "token '" + token.name + "' is a viewer token; this needs admin");
  return token;
}

std::vector<Route> Auth::routes() {
  std::vector<Route> r;
  r.push_back({"POST", "/ui/login", "/ui/login", Access::open, [this](const Request& req) {
                 // The token from the form's body only: in a URL it would stay in
                 // the browser's history and in proxies' logs.
                 auto t = authenticate(req, form_value(req, "token"), "login");
                 if (!t)
                   return html_reply(html::login_page("That token is not valid.", console_links()), 401);
                 const std::string sid = random_hex(32);
                 {
                   std::lock_guard lock(mu_);
                   const auto now = std::chrono::steady_clock::now();
                   std::erase_if(sessions_, [&](const auto& entry) { return entry.second.expires < now; });
                   sessions_[sid] = {t->id, now + kSessionLifetime};
                 }
                 Reply reply = html_reply("", 303);
                 reply.headers = {{"Set-Cookie", session_cookie(sid, kSessionLifetime)}, {"Location", "/"}};
                 return reply;
               }});
  r.push_back({"POST", "/ui/logout", "/ui/logout", Access::open, [this](const Request& req) {
                 {
                   std::lock_guard lock(mu_);
                   sessions_.erase(cookie_value(req, kSessionCookie));
                 }
                 Reply reply = html_reply("", 303);
                 reply.headers = {{"Set-Cookie", session_cookie("", std::chrono::seconds(0))},
                                  {"Location", "/ui/login"}};
                 return reply;
               }});
  return r;
}

}  // namespace adam
