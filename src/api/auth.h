#pragma once
// Who is calling: bearer tokens, the console's cookie sessions (HttpOnly,
// SameSite=Strict, Secure over TLS), the CSRF check for cookie-authenticated
// writes, and the per-client limit on failed logins and unknown tokens.
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/route.h"
#include "store/tokens.h"

namespace adam {

class EventHub;

// A 429 that tells the client when to come back: its answer carries
// `Retry-After: <seconds>` (RFC 9110, whole seconds, rounded up so a client
// that waits that long is let in).
class RetryLater : public ApiError {
 public:
  RetryLater(std::string code, std::string message, int64_t seconds)
      : ApiError(429, std::move(code), std::move(message)), seconds_(seconds) {}
  int64_t seconds() const { return seconds_; }

 private:
  int64_t seconds_;
};

// Failed credentials per client address, as a token bucket: a burst of
// `burst` failures, then one more per `refill`. A client whose bucket is
// empty gets 429 for every credential it sends until it refills; other
// clients are not affected. Bounded: idle clients are forgotten.
class FailureLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  FailureLimiter(double burst, Clock::duration refill) : burst_(burst), refill_(refill) {}

  struct Verdict {
    bool allowed = true;
    Clock::duration retry_after{};  // when refused: until one failure is allowed again
    bool first_refusal = false;     // the first refusal since the client was last allowed
  };
  // Whether `client` may try a credential now.
  Verdict check(const std::string& client, Clock::time_point now);
  // Counts a failed credential of `client`.
  void failed(const std::string& client, Clock::time_point now);

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated;
    bool refusing = false;
  };
  Bucket& bucket(const std::string& client, Clock::time_point now);  // refilled up to now
  static constexpr size_t kMaxClients = 10'000;

  double burst_;
  Clock::duration refill_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
};

class Auth {
 public:
  struct Options {
    bool tls = false;                          // the session cookie is Secure
    std::vector<std::string> allowed_origins;  // beside this machine's own (DaemonConfig)
  };
  // Throws std::invalid_argument naming --allowed-origin for an origin that
  // is not scheme://host[:port].
  Auth(TokenStore& tokens, EventHub* events, Options options);

  // The port adamd listens on: an Origin of this machine must name it.
  void set_listen_port(int port) { listen_port_ = port; }

  // The caller's token for a route of `access` (none for an open route).
  // Throws ApiError: 401 without a valid token or session, 429 for a client
  // over its limit of failed credentials, 403 for a viewer on an admin route
  // and for a cookie-authenticated write from elsewhere than the console
  // (CSRF: an HX-Request from an origin of this machine, or an allowed one).
  std::optional<Token> authorize(const Request& req, Access access);
  // The token of the request's console session, if it has a live one.
  std::optional<Token> session(const Request& req);
  // POST /ui/login (a form with the token in its body) and POST /ui/logout.
  std::vector<Route> routes();

  // Failed credentials: a burst of this many, then one per second per client.
  static constexpr double kFailureBurst = 10;

 private:
  struct Session {
    int64_t token_id;
    std::chrono::steady_clock::time_point expires;
  };
  // A credential from `req`'s client, checked: 429 while the client is over
  // its limit; a failure is counted and recorded as an api.auth_failed event.
  std::optional<Token> authenticate(const Request& req, const std::string& secret,
                                    const std::string& credential);
  bool origin_allowed(const std::string& origin) const;
  void record(const std::string& kind, const nlohmann::json& data);
  std::string session_cookie(const std::string& value, std::chrono::seconds max_age) const;

  TokenStore& tokens_;
  EventHub* events_;
  Options options_;
  std::set<std::string> allowed_origins_;  // normalized: scheme://host:port, lower case
  int listen_port_ = 0;
  FailureLimiter failures_;
  std::mutex mu_;
  std::map<std::string, Session> sessions_;
};

}  // namespace adam
