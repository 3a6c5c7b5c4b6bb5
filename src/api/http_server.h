#pragma once
// adamd's HTTP/1.1 server (HTTP or HTTPS), built to hold under abuse: one
// event-driven I/O thread for every connection, deadlines on headers and
// bodies, header and body size limits (chunked bodies too), connection
// limits in all and per client address. Request handling (which blocks on
// SQLite and BPF syscalls) runs on a small worker pool, never on the I/O
// thread; so do stream polls. Boost.Beast/Asio stay inside http_server.cpp.
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/route.h"

namespace adam::http {

struct Limits {
  // From a connection's first byte (or the end of its previous request) to
  // the end of the request's header; then 408.
  std::chrono::milliseconds header_deadline{10'000};
  std::chrono::milliseconds body_deadline{30'000};   // to read a whole body
  std::chrono::milliseconds write_deadline{30'000};  // for one write to a slow reader
  size_t max_header_bytes = 16 * 1024;               // request line and fields; then 431
  size_t max_body_bytes = 4 << 20;                   // declared or chunked; then 413
  size_t max_connections = 4096;                     // then 429 and close
  size_t max_connections_per_client = 1024;          // by peer address
  std::chrono::seconds stream_keepalive{15};         // a comment line on an idle stream
  int workers = 4;
  // The answers that scan the event store (Admission::scan) run on workers
  // of their own, this many: a burst of them (tens of ms of CPU each where
  // other routes take microseconds) keeps to them and leaves the other
  // cores and workers to the rest of the API. Half the cores, at least one.
  int scan_workers = 0;  // 0: that default
};

struct Head {
  std::string peer;  // the client's address ("198.51.100.1", "2001:db8::1")
  std::string method;
  std::string target;                          // path and query, as sent
  std::map<std::string, std::string> headers;  // names in lower case; repeats joined by ", "
  bool has_body = false;                       // a Content-Length above 0, or chunked
};

struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// What a request turns into once its body is read: a response, or a
// response head followed by a Server-Sent Events stream.
struct Outcome {
  Response response;
  std::optional<Stream> stream;
};

// What the application makes of a request's head (on a worker, before the
// body is read): either an answer now (the body stays unread: no route, not
// authenticated, forbidden) or how to go on once the body is in.
struct Admission {
  std::optional<Response> answer;
  std::function<Outcome(std::string body)> proceed;
  size_t max_body = 0;  // the route's own body limit, below Limits::max_body_bytes; 0: that one
  bool scan = false;    // proceed() on the scan workers (Limits::scan_workers)
};

struct Application {
  std::function<Admission(const Head&)> admit;
  // The server's own refusals (400 malformed, 408, 413, 429, 431). `hx`:
  // the request's head was read and it has HX-Request: true (the console
  // shows an HTML fragment).
  std::function<Response(int status, const std::string& code, const std::string& message, bool hx)> error;
};

struct TlsFiles {
  std::string cert;  // PEM certificate chain
  std::string key;   // PEM private key
};

class Server {
 public:
  Server(Limits limits, Application app);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; returns the port (useful with port 0). With `tls`,
  // serves HTTPS only. Throws std::runtime_error naming the address or file.
  int listen(const std::string& host, int port, const std::optional<TlsFiles>& tls);
  // Serves until stop() (from any thread); returns once every connection
  // is closed and no handler runs any more.
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace adam::http
