#include "plugins/lb/health.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "core/bpf_handle.h"

namespace adam::lb {
namespace {

using Clock = std::chrono::steady_clock;

int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string errno_text(const std::string& what, int error) { return what + ": " + std::strerror(error); }

// "198.51.100.11", "[2001:db8::11]", with ":port" unless it is 80.
std::string host_header(const IpAddress& address, uint16_t port) {
  const std::string host = address.family == 6 ? "[" + address.to_string() + "]" : address.to_string();
  return port == 80 ? host : host + ":" + std::to_string(port);
}

// The status code of an HTTP status line ("HTTP/1.1 200 OK"), -1 if it is not one.
int status_code(const std::string& line) {
  if (line.size() < 12 || line.compare(0, 7, "HTTP/1.") != 0 || line[8] != ' ') return -1;
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return -1;
    code = code * 10 + (line[i] - '0');
  }
  return line.size() == 12 || line[12] == ' ' || line[12] == '\r' ? code : -1;
}

// One check in flight on a non-blocking socket: connect, then for http send
// the request and read the status line. The caller polls fd() for events()
// and calls on_ready(); on_deadline() ends it as a timeout. Both the one-off
// probes and the checker's thread (many at once) run checks this way.
class Probe {
 public:
  // A status line longer than this is not one.
  static constexpr size_t kMaxStatusLine = 1024;

  Probe(const IpAddress& address, const HealthCheck& check, Clock::time_point now)
      : check_(check), deadline_(now + std::chrono::milliseconds(check.timeout_ms)) {
    sockaddr_storage storage{};
    socklen_t length;
    if (address.family == 6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(check.port);
      std::memcpy(&in6->sin6_addr, address.bytes.data(), 16);
      length = sizeof(sockaddr_in6);
    } else {
      auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
      in4->sin_family = AF_INET;
      in4->sin_port = htons(check.port);
      std::memcpy(&in4->sin_addr, address.bytes.data(), 4);
      length = sizeof(sockaddr_in);
    }
    fd_.reset(::socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_) {
      finish(false, errno_text("socket", errno));
      return;
    }
    // Closed with a reset, as HAProxy's checks are: a check every second to
    // each backend would otherwise leave a minute of TIME_WAIT sockets each.
    const linger reset{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    if (check.type == HealthCheck::Type::http)
      request_ = "GET " + check.path + " HTTP/1.1\r\nHost: " + host_header(address, check.port) +
                 "\r\nUser-Agent: adamd-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&storage), length) == 0)
      connected();
    else if (errno != EINPROGRESS)
      finish(false, errno_text("connect", errno));
  }

  const std::optional<ProbeResult>& result() const { return result_; }
  int fd() const { return fd_.get(); }
  short events() const { return step_ == Step::reading ? POLLIN : POLLOUT; }
  Clock::time_point deadline() const { return deadline_; }

  void on_ready(short revents) {
    if (result_ || revents == 0) return;
    switch (step_) {
      case Step::connecting: {
        int error = 0;
        socklen_t size = sizeof error;
        ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &error, &size);
        if (error != 0)
          finish(false, errno_text("connect", error));
        else
          connected();
        break;
      }
      case Step::sending:
        send_request();
        break;
      case Step::reading:
        read_status_line();
        break;
    }
  }

  void on_deadline() {
    if (result_) return;
    const std::string after = "timeout after " + std::to_string(check_.timeout_ms) + " ms";
    finish(false, step_ == Step::connecting ? after : after + " waiting for the status line");
  }

 private:
  enum class Step { connecting, sending, reading };

  void connected() {
    if (check_.type == HealthCheck::Type::tcp) return finish(true, "");
    step_ = Step::sending;
    send_request();
  }

  void send_request() {
    const ssize_t sent = ::send(fd_.get(), request_.data() + sent_, request_.size() - sent_, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno != EAGAIN && errno != EINTR) finish(false, errno_text("send", errno));
      return;
    }
    sent_ += static_cast<size_t>(sent);
    if (sent_ == request_.size()) step_ = Step::reading;
  }

  void read_status_line() {
    char buffer[512];
    const ssize_t received = ::recv(fd_.get(), buffer, sizeof buffer, 0);
    if (received < 0) {
      if (errno != EAGAIN && errno != EINTR) finish(false, errno_text("read", errno));
      return;
    }
    if (received == 0) return finish(false, "connection closed before the status line");
    reply_.append(buffer, static_cast<size_t>(received));
    const size_t end = reply_.find('\n');
    if (end == std::string::npos) {
      if (reply_.size() > kMaxStatusLine) finish(false, "not an HTTP reply (no status line)");
      return;
    }
    std::string line = reply_.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const int code = status_code(line);
    if (code < 0)
      finish(false, "not an HTTP status line: " + line.substr(0, 80));
    else if (code != check_.status)
      finish(false, "status " + std::to_string(code) + ", expected " + std::to_string(check_.status));
    else
      finish(true, "");
  }

  void finish(bool ok, std::string error) {
    result_ = ProbeResult{ok, std::move(error)};
    fd_.reset();
  }

  HealthCheck check_;
  Clock::time_point deadline_;
  UniqueFd fd_;
  Step step_ = Step::connecting;
  std::string request_;
  size_t sent_ = 0;
  std::string reply_;
  std::optional<ProbeResult> result_;
};

// Milliseconds until `at` from `now`, rounded up (poll's timeout), at least 0.
int poll_timeout(Clock::time_point now, Clock::time_point at) {
  if (at <= now) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(at - now).count();
  return static_cast<int>(std::min<int64_t>(ms, 60'000));
}

ProbeResult run_probe(const IpAddress& address, const HealthCheck& check) {
  Probe probe(address, check, Clock::now());
  while (!probe.result()) {
    pollfd ready{probe.fd(), probe.events(), 0};
    const auto now = Clock::now();
    if (now >= probe.deadline())
      probe.on_deadline();
    else if (::poll(&ready, 1, poll_timeout(now, probe.deadline())) > 0)
      probe.on_ready(ready.revents);
  }
  return *probe.result();
}

HealthCheck one_off_check(HealthCheck::Type type, uint16_t port, std::chrono::milliseconds timeout) {
  HealthCheck check;
  check.type = type;
  check.port = port;
  check.timeout_ms = static_cast<uint32_t>(timeout.count());
  return check;
}

}  // namespace

ProbeResult probe_tcp(const IpAddress& address, uint16_t port, std::chrono::milliseconds timeout) {
  return run_probe(address, one_off_check(HealthCheck::Type::tcp, port, timeout));
}

ProbeResult probe_http(const IpAddress& address, uint16_t port, const std::string& path, uint16_t status,
                       std::chrono::milliseconds timeout) {
  HealthCheck check = one_off_check(HealthCheck::Type::http, port, timeout);
  check.path = path;
  check.status = status;
  return run_probe(address, check);
}

std::string to_string(Health health) {
  switch (health) {
    case Health::up:
      return "up";
    case Health::down:
      return "down";
    case Health::unknown:
      break;
  }
  return "unknown";
}

struct HealthChecker::Impl {
  using Key = std::pair<int64_t, IpAddress>;  // (service, backend)
  struct Entry {
    HealthTarget target;
    BackendHealth health;
    Clock::time_point due;       // the next check's start, also in `schedule`
    std::optional<Probe> probe;  // the check in flight
  };
  using Change = std::pair<HealthTarget, BackendHealth>;

  OnChange on_change;
  mutable std::mutex mutex;
  std::map<Key, Entry> entries;
  std::set<std::pair<Clock::time_point, Key>> schedule;  // by due time
  std::set<Key> in_flight;
  UniqueFd wake{::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  bool stopping = false;
  std::thread thread;

  void notify() const {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(wake.get(), &one, sizeof one);
  }

  void unschedule(const Key& key, Entry& entry) {
    schedule.erase({entry.due, key});
    in_flight.erase(key);
  }

  // The check's outcome into the entry's state: a change of verdict after
  // `rise` passes or `fall` failures in a row (from unknown too).
  void record(Entry& entry, const ProbeResult& result, std::vector<Change>& changes) {
    BackendHealth& health = entry.health;
    ++health.checks;
    Health verdict = health.health;
    if (result.ok) {
      ++health.passes;
      health.failures = 0;
      health.last_error.clear();
      if (health.passes >= entry.target.check.rise) verdict = Health::up;
    } else {
      ++health.failures;
      health.passes = 0;
      health.last_error = result.error;
      if (health.failures >= entry.target.check.fall) verdict = Health::down;
    }
    if (verdict == health.health) return;
    health.health = verdict;
    health.since_ns = wall_clock_ns();
    changes.emplace_back(entry.target, health);
  }

  // Starts the checks that are due (one in flight per target: a target
  // whose last check still runs skips this turn) and schedules their next.
  void start_due(Clock::time_point now, std::vector<Change>& changes) {
    while (!schedule.empty() && schedule.begin()->first <= now) {
      const auto [due, key] = *schedule.begin();
      schedule.erase(schedule.begin());
      Entry& entry = entries.at(key);
      const auto interval = std::chrono::milliseconds(entry.target.check.interval_ms);
      // Every interval from the first check; after a stall, from now.
      entry.due = std::max(due + interval, now);
      schedule.emplace(entry.due, key);
      if (entry.probe) continue;
      entry.probe.emplace(entry.target.address, entry.target.check, now);
      if (entry.probe->result())
        finish(entry, changes);
      else
        in_flight.insert(key);
    }
  }

  void finish(Entry& entry, std::vector<Change>& changes) {
    record(entry, *entry.probe->result(), changes);
    entry.probe.reset();
  }

  // Waits for the checks in flight, the next due time or a wake-up, and
  // advances the checks that are ready or past their deadline.
  void poll_in_flight(std::unique_lock<std::mutex>& lock, std::vector<Change>& changes) {
    const auto now = Clock::now();
    std::vector<pollfd> ready{{wake.get(), POLLIN, 0}};
    std::vector<Key> polled;
    auto wake_at = schedule.empty() ? now + std::chrono::minutes(1) : schedule.begin()->first;
    for (const Key& key : in_flight) {
      const Probe& probe = *entries.at(key).probe;
      ready.push_back({probe.fd(), probe.events(), 0});
      polled.push_back(key);
      wake_at = std::min(wake_at, probe.deadline());
    }
    lock.unlock();
    ::poll(ready.data(), ready.size(), poll_timeout(now, wake_at));
    if (ready[0].revents & POLLIN) {
      uint64_t wakes;
      [[maybe_unused]] const ssize_t n = ::read(wake.get(), &wakes, sizeof wakes);
    }
    lock.lock();
    const auto after = Clock::now();
    // set_targets may have removed or replaced a polled target meanwhile
    // (closing its socket): only a target still in flight has its probe.
    for (size_t i = 0; i < polled.size(); ++i) {
      if (!in_flight.contains(polled[i])) continue;
      Entry& entry = entries.at(polled[i]);
      entry.probe->on_ready(ready[i + 1].revents);
      if (!entry.probe->result() && after >= entry.probe->deadline()) entry.probe->on_deadline();
      if (!entry.probe->result()) continue;
      in_flight.erase(polled[i]);
      finish(entry, changes);
    }
  }

  void run() {
    std::unique_lock lock(mutex);
    std::vector<Change> changes;
    while (!stopping) {
      start_due(Clock::now(), changes);
      if (changes.empty()) poll_in_flight(lock, changes);
      if (changes.empty()) continue;
      const auto calls = std::exchange(changes, {});
      lock.unlock();
      for (const auto& [target, health] : calls) on_change(target, health);
      lock.lock();
    }
  }
};

HealthChecker::HealthChecker(OnChange on_change) : impl_(std::make_unique<Impl>()) {
  impl_->on_change = std::move(on_change);
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

HealthChecker::~HealthChecker() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->notify();
  impl_->thread.join();
}

void HealthChecker::set_targets(std::vector<HealthTarget> targets) {
  {
    std::lock_guard lock(impl_->mutex);
    std::map<Impl::Key, Impl::Entry> kept;
    const auto now = Clock::now();
    for (auto& target : targets) {
      Impl::Key key{target.service_id, target.address};
      if (kept.contains(key)) continue;  // a duplicate: the first one counts
      auto old = impl_->entries.find(key);
      if (old != impl_->entries.end() && old->second.target == target) {
        kept.emplace(key, std::move(old->second));
        impl_->entries.erase(old);
        continue;
      }
      if (old != impl_->entries.end()) {
        impl_->unschedule(key, old->second);
        impl_->entries.erase(old);
      }
      Impl::Entry entry{std::move(target), {}, now, std::nullopt};
      entry.health.since_ns = wall_clock_ns();
      impl_->schedule.emplace(now, key);
      kept.emplace(key, std::move(entry));
    }
    for (auto& [key, entry] : impl_->entries) impl_->unschedule(key, entry);
    impl_->entries = std::move(kept);
  }
  impl_->notify();
}

std::optional<BackendHealth> HealthChecker::state(int64_t service_id, const IpAddress& address) const {
  std::lock_guard lock(impl_->mutex);
  const auto it = impl_->entries.find({service_id, address});
  if (it == impl_->entries.end()) return std::nullopt;
  return it->second.health;
}

DepoolDecision depool(const std::vector<BackendHealth>& weighted, double threshold) {
  DepoolDecision decision;
  decision.out.assign(weighted.size(), false);
  std::vector<size_t> down;
  for (size_t i = 0; i < weighted.size(); ++i)
    if (weighted[i].health == Health::down) down.push_back(i);
  decision.down = static_cast<uint32_t>(down.size());
  // The epsilon keeps 0.29 x 100 at 29 (the product is 28.999...).
  const auto may_leave =
      static_cast<size_t>(std::floor(threshold * static_cast<double>(weighted.size()) + 1e-9));
  std::stable_sort(down.begin(), down.end(),
                   [&](size_t a, size_t b) { return weighted[a].since_ns < weighted[b].since_ns; });
  for (size_t n = 0; n < down.size() && n < may_leave; ++n) decision.out[down[n]] = true;
  decision.limited = down.size() > may_leave;
  return decision;
}

}  // namespace adam::lb
