#pragma once
// The fleet's health, polled in the background: every machine of the
// registry (and this adamd) is asked for /api/v1/node and /api/v1/plugins
// every interval, each on a thread of its own with a bounded request, so one
// unreachable machine delays no other. The fleet page answers from the last
// round, never with a live fetch.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace adam {

class FleetPoller {
 public:
  struct Source {
    std::string id;  // "local" or the registry id
    // GET of an API path on that machine: its JSON, or throws (the
    // exception's text is shown as the machine's error).
    std::function<nlohmann::json(const std::string& target)> get;
  };
  using Sources = std::function<std::vector<Source>()>;

  explicit FleetPoller(std::chrono::milliseconds interval = std::chrono::seconds(2)) : interval_(interval) {}
  ~FleetPoller() { stop(); }
  FleetPoller(const FleetPoller&) = delete;
  FleetPoller& operator=(const FleetPoller&) = delete;

  // What to poll, asked at the start of every round.
  void set_sources(Sources sources) { sources_ = std::move(sources); }
  void start();
  // Returns once the round in progress (bounded by its requests' timeouts) is over.
  void stop();

  // What the last round saw of machine `id`: {reachable (null before the
  // first round), error, hostname, version, kernel, plugins [{name, state,
  // summary}] (running ones), rates {"<plugin>: <counter>/s": x},
  // events_per_s, lost_events, last_seen (ns, null when never)}.
  nlohmann::json status(const std::string& id) const;

 private:
  struct Seen {
    nlohmann::json status;
    // The previous round's counters, for rates.
    std::chrono::steady_clock::time_point sampled_at;
    std::map<std::string, double> counters;
    double events_stored = -1;
  };
  void poll(const Source& source);
  void run();

  std::chrono::milliseconds interval_;
  Sources sources_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::string, Seen> seen_;
  std::thread thread_;
};

}  // namespace adam
