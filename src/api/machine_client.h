#pragma once
// adamd as a client of other adamds (the machine registry's proxy and the
// fleet poller): synchronous HTTP/1.1 over TCP or TLS, every request bounded
// in time and size. TLS is trusted either through a CA file (chain and host
// name verified) or through the pinned SHA-256 fingerprint of the machine's
// leaf certificate (any other chain problem is then irrelevant: a
// self-signed adamd is trusted by its fingerprint). Boost.Asio stays inside
// machine_client.cpp.
#include <openssl/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace adam::machine {

// Where a machine is and how its certificate is trusted.
struct Endpoint {
  std::string url;          // https://host[:port], or http:// to a loopback address
  std::string fingerprint;  // "AB:CD:..." of the leaf certificate, or empty
  std::string ca;           // PEM CA file, or empty
};

struct Url {
  bool tls = false;
  std::string host;  // without the brackets of an IPv6 address
  std::string port;
};
// "https://host[:port]" (443 by default) or "http://host[:port]" (80), with
// nothing after the authority but an optional "/". Throws
// std::invalid_argument saying why not.
Url parse_url(const std::string& url);
// 127.0.0.0/8, ::1 or "localhost": where plain http never leaves the machine.
bool is_loopback(const std::string& host);

enum class Failure { unreachable, timeout, fingerprint_changed };

class ClientError : public std::runtime_error {
 public:
  ClientError(Failure failure, const std::string& message, std::string presented = {})
      : std::runtime_error(message), failure_(failure), presented_(std::move(presented)) {}
  Failure failure() const { return failure_; }
  // The fingerprint the machine presented (Failure::fingerprint_changed).
  const std::string& presented() const { return presented_; }

 private:
  Failure failure_;
  std::string presented_;
};

struct Options {
  std::chrono::milliseconds timeout{2000};  // the whole request: connect, handshake, send, read
  size_t max_body = 64 << 20;               // a longer response is a failure (unreachable)
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response {
  int status = 0;
  std::string content_type;
  std::string content_disposition;  // a download's file name
  std::string body;
  std::string fingerprint;  // of the leaf certificate presented (https), else empty
};

// One request. `target`: path and query. Throws ClientError.
Response request(const Endpoint& endpoint, const std::string& method, const std::string& target,
                 const Headers& headers, const std::string& body, const Options& options = {});

// A Server-Sent Events stream read on a thread of its own: the constructor
// connects and reads the response head (throwing ClientError, or returning
// with status() other than 200 and the error body in body()); then every
// record is handed to `on_record` (from that thread) until the server ends
// the stream (`on_end`, with the reason) or the object is destroyed.
class EventStream {
 public:
  using OnRecord = std::function<void(const std::string& event, const std::string& data)>;
  using OnEnd = std::function<void(const std::string& reason)>;
  EventStream(const Endpoint& endpoint, const std::string& target, const Headers& headers, OnRecord on_record,
              OnEnd on_end, const Options& options = {});
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  int status() const;
  const std::string& body() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "AB:CD:..." (SHA-256 of the DER form, upper-case hex) of a certificate.
std::string fingerprint_of(X509* cert);

}  // namespace adam::machine
