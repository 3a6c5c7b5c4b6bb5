#include "api/machine_client.h"

#include "api/asio_config.h"  // first: before any Boost.Asio header

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <strings.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <thread>

namespace adam::machine {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;
using tcp = asio::ip::tcp;

Url parse_url(const std::string& url) {
  Url out;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    out.tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    throw std::invalid_argument("must start with https:// (or http:// to a loopback address)");
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find_first_of("/?#@ ") != std::string::npos)
    throw std::invalid_argument("must be scheme://host[:port], without a path, query or user");
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos) throw std::invalid_argument("has an IPv6 address without its ']'");
    out.host = rest.substr(1, close - 1);
    const std::string after = rest.substr(close + 1);
    if (!after.empty() && after.front() != ':') throw std::invalid_argument("has text after the ']'");
    if (!after.empty()) port = after.substr(1);
    error_code ec;
    asio::ip::make_address_v6(out.host, ec);
    if (ec) throw std::invalid_argument("'" + out.host + "' is no IPv6 address");
  } else {
    const size_t colon = rest.find(':');
    if (colon != std::string::npos && rest.find(':', colon + 1) != std::string::npos)
      throw std::invalid_argument("put an IPv6 address in brackets: https://[2001:db8::1]:9988");
    out.host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
    if (out.host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
        std::string::npos)
      throw std::invalid_argument("host '" + out.host + "' has characters no host name has");
  }
  if (out.host.empty()) throw std::invalid_argument("has no host");
  if (port.empty()) port = out.tls ? "443" : "80";
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 ||
      std::stoi(port) > 65535)
    throw std::invalid_argument("port '" + port + "' is not 1-65535");
  out.port = port;
  return out;
}

bool is_loopback(const std::string& host) {
  if (strcasecmp(host.c_str(), "localhost") == 0) return true;
  error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

std::string fingerprint_of(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &len) != 1)
    throw std::runtime_error("X509_digest(sha256) failed");
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    if (i) out.push_back(':');
    out.push_back(digits[digest[i] >> 4]);
    out.push_back(digits[digest[i] & 0xf]);
  }
  return out;
}

namespace {

// One connection's trust decisions: what the machine presented and
// whether the pin refused it. Outlives the io_context that uses it.
struct Trust {
  Endpoint endpoint;
  Url url;
  std::optional<asio::ssl::context> ssl;
  std::string presented;
  bool pin_refused = false;

  Trust(const Endpoint& e, Url u) : endpoint(e), url(std::move(u)) {
    if (!url.tls) return;
    ssl.emplace(asio::ssl::context::tls_client);
    ssl->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    ssl->set_verify_mode(asio::ssl::verify_peer);
    if (!endpoint.ca.empty()) {
      error_code ec;
      ssl->load_verify_file(endpoint.ca, ec);
      if (ec)
        throw ClientError(Failure::unreachable, "cannot load CA file " + endpoint.ca + ": " + ec.message());
    }
  }

  // Depth 0 is the machine's own certificate: its fingerprint is what is
  // pinned. The chain counts only when a CA file is given; with a pin
  // alone, a self-signed certificate is expected.
  bool verify(bool preverified, asio::ssl::verify_context& ctx) {
    X509_STORE_CTX* store = ctx.native_handle();
    const bool leaf = X509_STORE_CTX_get_error_depth(store) == 0;
    if (leaf) {
      presented = fingerprint_of(X509_STORE_CTX_get_current_cert(store));
      if (!endpoint.fingerprint.empty() && strcasecmp(presented.c_str(), endpoint.fingerprint.c_str()) != 0) {
        pin_refused = true;
        return false;
      }
    }
    if (endpoint.ca.empty()) return true;
    return asio::ssl::host_name_verification(url.host)(preverified, ctx);
  }

  std::string where() const { return url.host + ":" + url.port; }
};

ClientError failure(const Trust& trust, const std::string& step, const error_code& ec) {
  if (trust.pin_refused)
    return ClientError(Failure::fingerprint_changed,
                       "fingerprint mismatch: expected " + trust.endpoint.fingerprint +
                           ", the machine presents " + trust.presented,
                       trust.presented);
  return ClientError(Failure::unreachable, step + " " + trust.where() + ": " + ec.message());
}

template <class S>
awaitable<void> open(S& stream, Trust& trust) {
  auto& socket = beast::get_lowest_layer(stream);
  tcp::resolver resolver(co_await asio::this_coro::executor);
  error_code ec;
  const auto endpoints = co_await resolver.async_resolve(trust.url.host, trust.url.port,
                                                         asio::redirect_error(use_awaitable, ec));
  if (ec) throw failure(trust, "cannot resolve", ec);
  co_await socket.async_connect(endpoints, asio::redirect_error(use_awaitable, ec));
  if (ec) throw failure(trust, "cannot connect to", ec);
  if constexpr (!std::is_same_v<S, beast::tcp_stream>) {
    error_code not_ip;
    asio::ip::make_address(trust.url.host, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(stream.native_handle(), trust.url.host.c_str());
    stream.set_verify_callback([&trust](bool preverified, asio::ssl::verify_context& ctx) {
      return trust.verify(preverified, ctx);
    });
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(use_awaitable, ec));
    if (ec) throw failure(trust, "TLS handshake with", ec);
  }
}

template <class S>
awaitable<void> send(S& stream, Trust& trust, const std::string& method, const std::string& target,
                     const Headers& headers, const std::string& body) {
  const bhttp::verb verb = bhttp::string_to_verb(method);
  if (verb == bhttp::verb::unknown) throw std::invalid_argument("unknown HTTP method " + method);
  bhttp::request<bhttp::string_body> req{verb, target, 11};
  const bool v6 = trust.url.host.find(':') != std::string::npos;
  req.set(bhttp::field::host, (v6 ? "[" + trust.url.host + "]" : trust.url.host) + ":" + trust.url.port);
  req.set(bhttp::field::user_agent, "adamd");
  req.set(bhttp::field::connection, "close");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  error_code ec;
  co_await bhttp::async_write(stream, req, asio::redirect_error(use_awaitable, ec));
  if (ec) throw failure(trust, "cannot send the request to", ec);
}

template <class S>
awaitable<Response> exchange(S& stream, Trust& trust, const std::string& method, const std::string& target,
                             const Headers& headers, const std::string& body, size_t max_body) {
  co_await open(stream, trust);
  co_await send(stream, trust, method, target, headers, body);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(max_body);
  error_code ec;
  co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
  if (ec == bhttp::error::body_limit)
    throw ClientError(Failure::unreachable,
                      trust.where() + " answered more than " + std::to_string(max_body >> 20) + " MiB");
  if (ec) throw failure(trust, "no answer from", ec);
  Response out;
  out.status = static_cast<int>(parser.get().result_int());
  out.content_type = std::string(parser.get()[bhttp::field::content_type]);
  out.content_disposition = std::string(parser.get()[bhttp::field::content_disposition]);
  out.body = std::move(parser.get().body());
  out.fingerprint = trust.presented;
  co_return out;
}

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// Runs `make(stream)` on a plain or TLS stream of a fresh connection.
template <class F>
auto on_connection(asio::io_context& ioc, Trust& trust, F make) {
  return [&ioc, &trust, make]() -> decltype(make(std::declval<beast::tcp_stream&>())) {
    if (trust.ssl) {
      TlsStream stream(ioc, *trust.ssl);
      co_return co_await make(stream);
    }
    beast::tcp_stream stream(ioc);
    co_return co_await make(stream);
  };
}

ClientError timed_out(const Trust& trust, std::chrono::milliseconds timeout) {
  return ClientError(Failure::timeout,
                     trust.where() + " did not answer within " + std::to_string(timeout.count()) + " ms");
}

Url parsed(const Endpoint& endpoint) {
  try {
    return parse_url(endpoint.url);
  } catch (const std::invalid_argument& e) {
    throw ClientError(Failure::unreachable, "url " + endpoint.url + " " + e.what());
  }
}

}  // namespace

Response request(const Endpoint& endpoint, const std::string& method, const std::string& target,
                 const Headers& headers, const std::string& body, const Options& options) {
  Trust trust(endpoint, parsed(endpoint));
  std::optional<Response> result;
  std::exception_ptr error;
  {
    asio::io_context ioc;
    auto run = on_connection(ioc, trust, [&](auto& stream) {
      return exchange(stream, trust, method, target, headers, body, options.max_body);
    });
    asio::co_spawn(ioc, run(), [&](std::exception_ptr e, Response r) {
      if (e)
        error = e;
      else
        result = std::move(r);
    });
    ioc.run_for(options.timeout);
  }
  if (error) std::rethrow_exception(error);
  if (!result) throw timed_out(trust, options.timeout);
  return std::move(*result);
}

// The stream's connection lives in its io_context: the constructor runs it
// until the head is in, then a thread of its own runs it until the end.
struct EventStream::Impl {
  Trust trust;
  std::string target;
  Headers headers;
  OnRecord on_record;
  OnEnd on_end;
  asio::io_context ioc;
  std::thread reader;
  int status = 0;
  std::string body;  // the error body of a response other than 200
  bool head_read = false, finished = false;
  std::exception_ptr error;

  Impl(const Endpoint& e, std::string t, Headers h, OnRecord r, OnEnd end)
      : trust(e, parsed(e)),
        target(std::move(t)),
        headers(std::move(h)),
        on_record(std::move(r)),
        on_end(std::move(end)) {}

  // SSE records are separated by an empty line; "event:" names one,
  // "data:" lines make its data, ":" lines are comments (keepalives).
  void feed(std::string& pending) {
    size_t end;
    while ((end = pending.find("\n\n")) != std::string::npos) {
      std::string record = pending.substr(0, end);
      pending.erase(0, end + 2);
      std::string event, data;
      bool has_data = false;
      size_t pos = 0;
      while (pos <= record.size()) {
        size_t eol = record.find('\n', pos);
        if (eol == std::string::npos) eol = record.size();
        std::string line = record.substr(pos, eol - pos);
        pos = eol + 1;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto value = [&](size_t skip) {
          return line.substr(line.size() > skip && line[skip] == ' ' ? skip + 1 : skip);
        };
        if (line.rfind("event:", 0) == 0) {
          event = value(6);
        } else if (line.rfind("data:", 0) == 0) {
          data += (has_data ? "\n" : "") + value(5);
          has_data = true;
        }
      }
      if (has_data) on_record(event, data);
    }
  }

  template <class S>
  awaitable<void> read(S& stream) {
    co_await open(stream, trust);
    co_await send(stream, trust, "GET", target, headers, "");
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.body_limit(boost::none);
    error_code ec;
    co_await bhttp::async_read_header(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
    if (ec) throw failure(trust, "no answer from", ec);
    status = static_cast<int>(parser.get().result_int());
    head_read = true;
    std::string pending;
    char chunk[16 * 1024];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      // Some of the body, as soon as it is there (a record may be small).
      co_await bhttp::async_read_some(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      if (ec == bhttp::error::need_buffer) ec = {};
      const size_t got = sizeof chunk - parser.get().body().size;
      if (status != 200) {
        if (body.size() < (1 << 20)) body.append(chunk, got);
      } else {
        pending.append(chunk, got);
        feed(pending);
      }
      if (ec) {
        if (status == 200) on_end(trust.where() + ": " + ec.message());
        co_return;
      }
    }
    if (status == 200) on_end(trust.where() + " ended the stream");
  }
};

EventStream::EventStream(const Endpoint& endpoint, const std::string& target, const Headers& headers,
                         OnRecord on_record, OnEnd on_end, const Options& options)
    : impl_(std::make_unique<Impl>(endpoint, target, headers, std::move(on_record), std::move(on_end))) {
  Impl& i = *impl_;
  auto run = on_connection(i.ioc, i.trust, [&i](auto& stream) { return i.read(stream); });
  asio::co_spawn(i.ioc, run(), [&i](std::exception_ptr e) {
    if (e && i.head_read && i.status == 200) i.on_end(i.trust.where() + ": the stream failed");
    i.error = e;
    i.finished = true;
  });
  // The head (and an error's whole body) within the timeout, on this thread.
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  while (!i.finished && (!i.head_read || i.status != 200))
    if (i.ioc.run_one_until(deadline) == 0) break;
  if (i.error) std::rethrow_exception(i.error);
  if (!i.head_read || (i.status != 200 && !i.finished)) throw timed_out(i.trust, options.timeout);
  if (!i.finished) i.reader = std::thread([&i] { i.ioc.run(); });
}

EventStream::~EventStream() {
  impl_->ioc.stop();
  if (impl_->reader.joinable()) impl_->reader.join();
}

int EventStream::status() const { return impl_->status; }
const std::string& EventStream::body() const { return impl_->body; }

}  // namespace adam::machine
