#pragma once
// Who is calling: bearer tokens, the console's cookie sessions (HttpOnly,
// SameSite=Strict) and the CSRF check for cookie-authenticated writes.
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/route.h"
#include "store/tokens.h"

namespace adam {

class Auth {
 public:
  explicit Auth(TokenStore& tokens) : tokens_(tokens) {}

  // The caller's token for a route of `access` (none for an open route).
  // Throws ApiError: 401 without a valid token or session, 403 for a viewer
  // on an admin route and for a cookie-authenticated write from elsewhere
  // than the console (CSRF).
  std::optional<Token> authorize(const Request& req, Access access);
  // The token of the request's console session, if it has a live one.
  std::optional<Token> session(const Request& req);
  // POST /ui/login (a form with the token) and POST /ui/logout.
  std::vector<Route> routes();

 private:
  struct Session {
    int64_t token_id;
    std::chrono::steady_clock::time_point expires;
  };
  TokenStore& tokens_;
  std::mutex mu_;
  std::map<std::string, Session> sessions_;
};

}  // namespace adam
