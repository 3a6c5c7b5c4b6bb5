// The one translation unit with Boost.Beast/Asio in it (heavy headers): a
// coroutine per connection on one I/O thread, handlers on a worker pool.
#include "api/http_server.h"

#include "api/asio_config.h"  // before any Boost.Asio header

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <exception>
#include <thread>
#include <type_traits>
#include <utility>

namespace adam::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

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

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

template <class S>
constexpr bool is_tls = !std::is_same_v<S, beast::tcp_stream>;

// Cancels a connection's pending reads when a deadline passes, so that the
// connection can still answer (408) instead of being cut off.
class ReadDeadline {
 public:
  explicit ReadDeadline(asio::any_io_executor ex) : timer_(std::move(ex)) {}
  ~ReadDeadline() { disarm(); }
  void arm(std::chrono::milliseconds after, tcp::socket& socket) {
    disarm();
    state_ = std::make_shared<State>();
    timer_.expires_after(after);
    // The state outlives the socket: a handler already queued when the
    // deadline was disarmed sees `armed` false and leaves the socket alone.
    timer_.async_wait([state = state_, &socket](error_code ec) {
      if (ec || !state->armed) return;
      state->expired = true;
      socket.cancel(ec);
    });
  }
  void disarm() {
    if (state_) state_->armed = false;
    timer_.cancel();
  }
  bool expired() const { return state_ && state_->expired; }

 private:
  struct State {
    bool armed = true;
    bool expired = false;
  };
  asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

// A malformed request (as opposed to a connection that ended mid-way).
bool malformed(const error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

}  // namespace

struct Server::Impl {
  Impl(Limits l, Application a)
      : limits(l),
        app(std::move(a)),
        workers(static_cast<size_t>(l.workers)),
        scan_workers(l.scan_workers > 0 ? static_cast<size_t>(l.scan_workers)
                                        : std::max<size_t>(1, std::thread::hardware_concurrency() / 2)) {}

  Limits limits;
  Application app;
  asio::thread_pool workers;
  asio::thread_pool scan_workers;
  // Everything below belongs to the I/O thread.
  bool stopping = false;
  // Set once run() is over: connections still open then are destroyed with
  // the io_context, after the timers below, which they must not touch.
  bool ran_out = false;
  size_t connections = 0;
  size_t body_bytes_reserved = 0;  // bodies being read, by their limit
  std::map<asio::ip::address, size_t> per_client;
  uint64_t next_connection = 0;
  std::map<uint64_t, std::function<void()>> closers;  // closes each open connection's socket
  asio::io_context ioc{1};
  std::optional<asio::ssl::context> tls;
  tcp::acceptor acceptor{ioc};
  asio::steady_timer stop_deadline{ioc};

  // Runs f() on a worker of `pool` and resumes the coroutine on the I/O
  // thread with its result (or exception). The work guard keeps run() going
  // meanwhile.
  template <class F>
  auto on_worker(asio::thread_pool& pool, F f) -> awaitable<std::invoke_result_t<F&>> {
    using R = std::invoke_result_t<F&>;
    return asio::async_initiate<decltype(use_awaitable), void(std::exception_ptr, R)>(
        [this, &pool, f = std::move(f)](auto handler) mutable {
          auto work = asio::make_work_guard(ioc);
          asio::post(
              pool, [f = std::move(f), handler = std::move(handler), work = std::move(work)]() mutable {
                std::exception_ptr error;
                R result{};
                try {
                  result = f();
                } catch (...) {
                  error = std::current_exception();
                }
                auto ex = asio::get_associated_executor(handler);
                asio::post(ex, [handler = std::move(handler), error, result = std::move(result)]() mutable {
                  handler(error, std::move(result));
                });
              });
        },
        use_awaitable);
  }

  // `hx`: the request's head was read and asked for HTML (HX-Request).
  std::string error_text(int status, const std::string& code, const std::string& message, bool close,
                         bool hx = false) {
    const Response r = app.error(status, code, message, hx);
    std::string text = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n", status,
                                   std::string(bhttp::obsolete_reason(static_cast<bhttp::status>(status))),
                                   r.content_type, r.body.size());
    for (const auto& [name, value] : r.headers) text += name + ": " + value + "\r\n";
    if (close) text += "Connection: close\r\n";
    return text + "\r\n" + r.body;
  }

  template <class S>
  awaitable<bool> write_all(S& stream, const std::string& text) {
    error_code ec;
    beast::get_lowest_layer(stream).expires_after(limits.write_deadline);
    co_await asio::async_write(stream, asio::buffer(text), asio::redirect_error(use_awaitable, ec));
    beast::get_lowest_layer(stream).expires_never();
    co_return !ec;
  }

  // `head_only`: the answer to a HEAD request, the header of what GET
  // answers (its Content-Length too) without the body.
  template <class S>
  awaitable<bool> write_response(S& stream, const Response& r, bool keep_alive, bool head_only) {
    auto head = [&](auto& res) {
      if (!r.content_type.empty()) res.set(bhttp::field::content_type, r.content_type);
      for (const auto& [name, value] : r.headers) res.insert(name, value);
      res.keep_alive(keep_alive);
    };
    error_code ec;
    beast::get_lowest_layer(stream).expires_after(limits.write_deadline);
    if (head_only) {
      bhttp::response<bhttp::empty_body> res{static_cast<bhttp::status>(r.status), 11};
      head(res);
      res.content_length(r.body.size());
      co_await bhttp::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
    } else {
      bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), 11};
      head(res);
      res.body() = r.body;
      res.prepare_payload();
      co_await bhttp::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
    }
    beast::get_lowest_layer(stream).expires_never();
    co_return !ec;
  }

  // Ends a connection after its last response. With a body left unread, it
  // reads and discards for a moment first: closing a socket with unread
  // input resets it, and the client might lose the response.
  template <class S>
  awaitable<void> close(S& stream, bool unread_input) {
    auto& tcp_layer = beast::get_lowest_layer(stream);
    error_code ec;
    if constexpr (is_tls<S>) {
      if (!unread_input) {
        tcp_layer.expires_after(std::chrono::seconds(1));
        co_await stream.async_shutdown(asio::redirect_error(use_awaitable, ec));
      }
    }
    tcp_layer.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (unread_input) {
      tcp_layer.expires_after(std::chrono::seconds(2));
      std::array<char, 16 * 1024> discard;
      while (!ec)
        co_await tcp_layer.async_read_some(asio::buffer(discard), asio::redirect_error(use_awaitable, ec));
    }
    tcp_layer.socket().close(ec);
  }

  template <class S>
  awaitable<void> serve(S& stream, const std::string& peer);
  template <class S>
  awaitable<void> serve_stream(S& stream, Outcome& outcome);
  awaitable<void> connection(tcp::socket socket, asio::ip::address peer);
  awaitable<void> accept_loop();
  awaitable<void> refuse(tcp::socket socket, std::string text);
  std::string read_failure(const error_code& ec, bool timed_out, const std::string& part,
                           std::chrono::milliseconds deadline, size_t body_limit, bool hx);
  // Refused connections still being answered (each holds an fd for a while).
  static constexpr int kMaxRefusing = 64;
  int refusing = 0;
};

// The answer to a request whose `part` ("request header", "body") could not
// be read: 408 past its deadline, 431/413 over a limit, 400 when malformed;
// empty when the client simply went away.
std::string Server::Impl::read_failure(const error_code& ec, bool timed_out, const std::string& part,
                                       std::chrono::milliseconds deadline, size_t body_limit, bool hx) {
  if (timed_out)
    return error_text(408, "request_timeout",
                      fmt::format("the {} did not arrive within {} ms", part, deadline.count()), true, hx);
  if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow)
    return error_text(431, "headers_too_large",
                      fmt::format("the request header is over {} bytes", limits.max_header_bytes), true, hx);
  if (ec == bhttp::error::body_limit)
    return error_text(413, "body_too_large", fmt::format("the body is over {} bytes", body_limit), true, hx);
  if (malformed(ec))
    return error_text(400, "bad_request", "malformed HTTP " + part + ": " + ec.message(), true, hx);
  return {};
}

template <class S>
awaitable<void> Server::Impl::serve(S& stream, const std::string& peer) {
  auto& socket = beast::get_lowest_layer(stream).socket();
  ReadDeadline deadline(co_await asio::this_coro::executor);
  // Holds the header (request line and fields) and what came after it.
  beast::flat_buffer buffer(limits.max_header_bytes + 16 * 1024);
  if constexpr (is_tls<S>) {
    error_code ec;
    deadline.arm(limits.header_deadline, socket);
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(use_awaitable, ec));
    deadline.disarm();
    if (ec) co_return;
  }
  while (!stopping) {
    bhttp::request_parser<bhttp::empty_body> head_parser;
    head_parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    head_parser.body_limit(limits.max_body_bytes);
    error_code ec;
    deadline.arm(limits.header_deadline, socket);
    co_await bhttp::async_read_header(stream, buffer, head_parser, asio::redirect_error(use_awaitable, ec));
    deadline.disarm();
    if (ec) {
      // A client that went away before sending anything gets no answer.
      const bool started = head_parser.got_some() || buffer.size() > 0;
      const std::string answer =
          deadline.expired() && !started
              ? ""
              : read_failure(ec, deadline.expired(), "request header", limits.header_deadline,
                             limits.max_body_bytes,
                             // a declared body over the limit is refused once every field is in
                             ec == bhttp::error::body_limit && head_parser.get()["HX-Request"] == "true");
      if (!answer.empty() && co_await write_all(stream, answer)) co_await close(stream, true);
      co_return;
    }

    const auto& req = head_parser.get();
    Head head;
    head.peer = peer;
    head.method = std::string(req.method_string());
    head.target = std::string(req.target());
    for (const auto& field : req) {
      std::string& value = head.headers[lower(std::string(field.name_string()))];
      value += (value.empty() ? "" : ", ") + std::string(field.value());
    }
    const auto length = head_parser.content_length();
    head.has_body = head_parser.chunked() || (length && *length > 0);
    const bool keep_alive = req.keep_alive();
    const bool hx = head.headers["hx-request"] == "true";

    Admission admission;
    try {
      auto admit = [this, &head] { return app.admit(head); };
      admission = co_await on_worker(workers, admit);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: {}", head.method, head.target, e.what());
      admission.answer = app.error(500, "internal", e.what(), hx);
    }
    if (admission.answer) {
      // The body, if any, stays unread: the connection cannot go on.
      if (co_await write_response(stream, *admission.answer, keep_alive && !head.has_body && !stopping,
                                  head.method == "HEAD")) {
        if (keep_alive && !head.has_body) continue;
        co_await close(stream, head.has_body);
      }
      co_return;
    }

    std::string body;
    if (head.has_body) {
      // Bodies being read hold memory up to their limit: their total is capped.
      const size_t body_limit =
          admission.max_body ? std::min(admission.max_body, limits.max_body_bytes) : limits.max_body_bytes;
      if (length && *length > body_limit) {  // the header parser checked only the server's limit
        if (co_await write_all(stream,
                               error_text(413, "body_too_large",
                                          fmt::format("the body is over {} bytes", body_limit), true, hx)))
          co_await close(stream, true);
        co_return;
      }
      const size_t reserve = length ? static_cast<size_t>(*length) : body_limit;
      if (body_bytes_reserved + reserve > 8 * limits.max_body_bytes) {
        if (co_await write_all(
                stream, error_text(503, "unavailable", "too many request bodies in flight; try again later",
                                   true, hx)))
          co_await close(stream, true);
        co_return;
      }
      body_bytes_reserved += reserve;
      if (head.headers["expect"] == "100-continue")
        co_await write_all(stream, std::string("HTTP/1.1 100 Continue\r\n\r\n"));
      bhttp::request_parser<bhttp::string_body> body_parser(std::move(head_parser));
      body_parser.body_limit(body_limit);
      deadline.arm(limits.body_deadline, socket);
      co_await bhttp::async_read(stream, buffer, body_parser, asio::redirect_error(use_awaitable, ec));
      deadline.disarm();
      body_bytes_reserved -= reserve;
      if (ec) {
        const std::string answer =
            read_failure(ec, deadline.expired(), "body", limits.body_deadline, body_limit, hx);
        if (!answer.empty() && co_await write_all(stream, answer)) co_await close(stream, true);
        co_return;
      }
      body = std::move(body_parser.get().body());
    }

    Outcome outcome;
    try {
      // A named lambda capturing by reference: g++ 12 mishandles init-captures
      // of a temporary lambda inside a co_await expression.
      auto proceed = [&admission, &body] { return admission.proceed(std::move(body)); };
      outcome = co_await on_worker(admission.scan ? scan_workers : workers, proceed);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: {}", head.method, head.target, e.what());
      outcome.response = app.error(500, "internal", e.what(), hx);
    }
    if (outcome.stream) {
      co_await serve_stream(stream, outcome);
      co_return;
    }
    if (!co_await write_response(stream, outcome.response, keep_alive && !stopping, head.method == "HEAD"))
      co_return;
    if (!keep_alive || stopping) {
      co_await close(stream, false);
      co_return;
    }
  }
}

// A Server-Sent Events response: chunked, polled on a worker every
// interval. A read stays pending meanwhile: it ends the stream the moment
// the client goes (or stop() closes the socket).
template <class S>
awaitable<void> Server::Impl::serve_stream(S& stream, Outcome& outcome) {
  Stream& events = *outcome.stream;
  const bool download = !events.content_type.empty();
  std::string head = fmt::format(
      "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nCache-Control: no-cache\r\n"
      "Transfer-Encoding: chunked\r\nConnection: close\r\n",
      download ? events.content_type : "text/event-stream");
  for (const auto& [name, value] : outcome.response.headers) head += name + ": " + value + "\r\n";
  if (!co_await write_all(stream, head + "\r\n")) co_return;

  struct Watch {
    explicit Watch(asio::any_io_executor ex) : wake(ex), watcher_done(ex) {}
    bool client_gone = false;
    bool finished = false;
    asio::steady_timer wake;          // the wait between polls
    asio::steady_timer watcher_done;  // cancelled when the watcher returns
  };
  // No co_await in the statements that make or copy `watch`: g++ 12
  // mishandles temporaries (here a lambda holding a shared_ptr) in a
  // full-expression with co_await, destroying them twice (a stream whose
  // client left freed the Watch while this coroutine still used it).
  const auto executor = co_await asio::this_coro::executor;
  auto watch = std::make_shared<Watch>(executor);
  auto watcher = [watch, &stream]() -> awaitable<void> {
    std::array<char, 512> ignored;
    error_code ec;
    while (!ec)
      co_await stream.async_read_some(asio::buffer(ignored), asio::redirect_error(use_awaitable, ec));
    watch->client_gone = true;
    watch->finished = true;
    watch->wake.cancel();
    watch->watcher_done.cancel();
  };
  asio::co_spawn(executor, std::move(watcher), asio::detached);

  auto chunk = [](const std::string& data) { return fmt::format("{:x}\r\n{}\r\n", data.size(), data); };
  auto last_write = std::chrono::steady_clock::now();
  while (!watch->client_gone && !stopping) {
    std::pair<std::string, bool> polled;
    try {
      auto poll = [&events, download] {
        std::string frames;
        const bool more = events.poll([&frames, download](const std::string& event, const std::string& data) {
          frames += download ? data : sse_frame(event, data);
        });
        return std::pair(std::move(frames), more);
      };
      polled = co_await on_worker(workers, poll);
    } catch (const std::exception& e) {
      spdlog::error("stream: {}", e.what());
      break;
    } catch (...) {  // a plugin's poll may throw anything: the stream ends, the watcher is awaited below
      spdlog::error("stream: a poll threw a non-standard exception");
      break;
    }
    auto& [frames, more] = polled;
    const auto now = std::chrono::steady_clock::now();
    if (frames.empty() && !download && now - last_write >= limits.stream_keepalive)
      frames = sse_frame("", "keepalive");
    if (!frames.empty()) {
      if (watch->client_gone || !co_await write_all(stream, chunk(frames))) break;
      last_write = now;
    }
    if (!more) {
      co_await write_all(stream, std::string("0\r\n\r\n"));
      break;
    }
    if (watch->client_gone || stopping) break;
    watch->wake.expires_after(events.interval);
    error_code ec;
    co_await watch->wake.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  outcome.stream.reset();  // frees the stream's slot now, not when the watcher returns
  error_code ec;
  beast::get_lowest_layer(stream).socket().close(ec);
  if (!watch->finished) {
    watch->watcher_done.expires_at(asio::steady_timer::time_point::max());
    co_await watch->watcher_done.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

// `peer` is the address accept_loop() counted the connection under: asking
// the socket again could give another (a reset connection has none).
awaitable<void> Server::Impl::connection(tcp::socket socket, asio::ip::address peer) {
  error_code ec;
  const uint64_t id = next_connection++;
  struct Leave {
    Impl& impl;
    uint64_t id;
    asio::ip::address peer;
    ~Leave() {
      impl.closers.erase(id);
      --impl.connections;
      if (--impl.per_client[peer] == 0) impl.per_client.erase(peer);
      if (impl.stopping && impl.connections == 0 && !impl.ran_out) impl.stop_deadline.cancel();
    }
  } leave{*this, id, peer};
  socket.set_option(tcp::no_delay(true), ec);
  // An IPv4 client of a dual-stack socket as itself (198.51.100.1, not ::ffff:198.51.100.1).
  const std::string peer_text = peer.is_v6() && peer.to_v6().is_v4_mapped()
                                    ? asio::ip::make_address_v4(asio::ip::v4_mapped, peer.to_v6()).to_string()
                                    : peer.to_string();
  beast::tcp_stream plain(std::move(socket));
  try {
    if (tls) {
      beast::ssl_stream<beast::tcp_stream> secure(std::move(plain), *tls);
      auto& lowest = beast::get_lowest_layer(secure);
      closers[id] = [&lowest] { lowest.close(); };
      co_await serve(secure, peer_text);
    } else {
      closers[id] = [&plain] { plain.close(); };
      co_await serve(plain, peer_text);
    }
  } catch (const std::exception& e) {
    spdlog::warn("connection from {}: {}", peer.to_string(), e.what());
  }
}

awaitable<void> Server::Impl::refuse(tcp::socket socket, std::string text) {
  beast::tcp_stream stream(std::move(socket));
  if (co_await write_all(stream, text)) co_await close(stream, true);
}

awaitable<void> Server::Impl::accept_loop() {
  asio::steady_timer backoff(ioc);
  while (!stopping) {
    error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
    if (stopping) co_return;
    if (ec) {
      // Out of file descriptors, mostly: wait for some to be freed.
      spdlog::warn("accept: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    const auto peer = socket.remote_endpoint(ec).address();
    if (connections >= limits.max_connections || per_client[peer] >= limits.max_connections_per_client) {
      if (per_client[peer] == 0) per_client.erase(peer);
      // A few refusals get a 429 (over TLS the client expects a handshake,
      // not text: it is closed at once); beyond that, not even an answer.
      if (!tls && refusing < kMaxRefusing) {
        ++refusing;
        asio::co_spawn(
            ioc,
            refuse(std::move(socket), error_text(429, "too_many_connections",
                                                 connections >= limits.max_connections
                                                     ? "too many open connections; try again later"
                                                     : "too many open connections from " + peer.to_string(),
                                                 true)),
            [this](std::exception_ptr) { --refusing; });
      }
      continue;
    }
    ++connections;
    ++per_client[peer];
    asio::co_spawn(ioc, connection(std::move(socket), peer), asio::detached);
  }
}

Server::Server(Limits limits, Application app) : impl_(std::make_unique<Impl>(limits, std::move(app))) {}

Server::~Server() = default;

int Server::listen(const std::string& host, int port, const std::optional<TlsFiles>& tls) {
  auto& impl = *impl_;
  if (tls) {
    impl.tls.emplace(asio::ssl::context::tls_server);
    impl.tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                          asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                          asio::ssl::context::no_tlsv1_1);
    try {
      impl.tls->use_certificate_chain_file(tls->cert);
    } catch (const std::exception& e) {
      throw std::runtime_error("--tls-cert " + tls->cert + ": " + e.what());
    }
    try {
      impl.tls->use_private_key_file(tls->key, asio::ssl::context::pem);
    } catch (const std::exception& e) {
      throw std::runtime_error("--tls-key " + tls->key + ": " + e.what());
    }
  }
  const std::string shown = host + ":" + std::to_string(port);
  error_code ec;
  tcp::resolver resolver(impl.ioc);
  auto endpoints = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) throw std::runtime_error("cannot listen on " + shown + ": " + ec.message());
  const tcp::endpoint endpoint = *endpoints.begin();
  impl.acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && endpoint.address().is_v6()) impl.acceptor.set_option(asio::ip::v6_only(false), ec);
  if (!ec) impl.acceptor.bind(endpoint, ec);
  if (!ec) impl.acceptor.listen(1024, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + shown + ": " + ec.message() +
                             (ec == asio::error::address_in_use ? " (is another adamd running?)" : ""));
  return impl.acceptor.local_endpoint().port();
}

void Server::run() {
  auto& impl = *impl_;
  asio::co_spawn(impl.ioc, impl.accept_loop(), asio::detached);
  impl.ioc.run();
  impl.ran_out = true;
  impl.workers.join();
  impl.scan_workers.join();
}

void Server::stop() {
  auto& impl = *impl_;
  asio::post(impl.ioc, [&impl] {
    if (impl.stopping) return;
    impl.stopping = true;
    error_code ec;
    impl.acceptor.close(ec);
    // Copies: a closer may end its connection, which erases it from the map.
    std::vector<std::function<void()>> closers;
    for (const auto& [id, closer] : impl.closers) closers.push_back(closer);
    for (const auto& closer : closers) closer();
    // Connections end within moments; a handler stuck in a syscall does not
    // hold the stop up past this.
    impl.stop_deadline.expires_after(std::chrono::seconds(2));
    impl.stop_deadline.async_wait([&impl](error_code ec) {
      if (!ec) impl.ioc.stop();
    });
    if (impl.connections == 0) impl.stop_deadline.cancel();
  });
}

}  // namespace adam::http
