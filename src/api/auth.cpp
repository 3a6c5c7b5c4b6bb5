#include "api/auth.h"

#include <openssl/rand.h>

#include <stdexcept>

#include "api/html.h"
#include "api/resources.h"
#include "core/errors.h"

namespace adam {
namespace {

constexpr const char* kSessionCookie = "adam_session";
constexpr auto kSessionLifetime = std::chrono::hours(12);

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

}  // namespace

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
    auto t = tokens_.authenticate(auth.substr(7));
    if (!t) throw ApiError(401, "unauthorized", "unknown or revoked token");
    token = *t;
  } else if (auto t = session(req)) {
    token = *t;
    // A cookie rides along on cross-site requests; a custom header and a
    // same-origin Origin do not, so writes need them (CSRF).
    if (req.method != "GET" && req.method != "HEAD") {
      const std::string origin = req.header("origin");
      const std::string host = req.header("host");
      const bool same_origin = origin.empty() || origin == "http://" + host || origin == "https://" + host;
      if (!req.hx || !same_origin)
        throw ApiError(403, "csrf",
                       "cookie-authenticated writes must come from the console (HX-Request, same origin)");
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
                 auto t = tokens_.authenticate(form_value(req, "token"));
                 if (!t)
                   return html_reply(html::login_page("That token is not valid.", console_links()), 401);
                 const std::string sid = random_hex(32);
                 {
                   std::lock_guard lock(mu_);
                   sessions_[sid] = {t->id, std::chrono::steady_clock::now() + kSessionLifetime};
                 }
                 Reply reply = html_reply("", 303);
                 reply.headers = {
                     {"Set-Cookie", std::string(kSessionCookie) + "=" + sid +
                                        "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                                        std::to_string(std::chrono::seconds(kSessionLifetime).count())},
                     {"Location", "/"}};
                 return reply;
               }});
  r.push_back({"POST", "/ui/logout", "/ui/logout", Access::open, [this](const Request& req) {
                 {
                   std::lock_guard lock(mu_);
                   sessions_.erase(cookie_value(req, kSessionCookie));
                 }
                 Reply reply = html_reply("", 303);
                 reply.headers = {{"Set-Cookie", std::string(kSessionCookie) +
                                                     "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"},
                                  {"Location", "/ui/login"}};
                 return reply;
               }});
  return r;
}

}  // namespace adam
