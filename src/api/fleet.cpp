#include "api/fleet.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace adam {

using nlohmann::json;

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double number(const json& j) { return j.is_number() ? j.get<double>() : 0; }

// Total of the node's lost events, over every reason.
int64_t lost_events(const json& node) {
  int64_t total = 0;
  const json lost = node.value("events", json::object()).value("lost", json::object());
  for (const auto& [reason, n] : lost.items()) total += static_cast<int64_t>(number(n));
  return total;
}

}  // namespace

void FleetPoller::start() {
  std::lock_guard lock(mu_);
  if (!sources_ || thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void FleetPoller::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

json FleetPoller::status(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = seen_.find(id);
  if (it == seen_.end() || it->second.status.is_null())
    return {{"reachable", nullptr}, {"error", nullptr}, {"last_seen", nullptr}};
  return it->second.status;
}

void FleetPoller::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    std::vector<Source> round;
    try {
      round = sources_();
    } catch (const std::exception& e) {
      spdlog::warn("fleet: cannot list the machines: {}", e.what());
    }
    std::vector<std::thread> pollers;
    for (const auto& source : round) pollers.emplace_back([this, &source] { poll(source); });
    for (auto& t : pollers) t.join();
    lock.lock();
    // Machines removed from the registry leave the fleet.
    for (auto it = seen_.begin(); it != seen_.end();)
      it = std::any_of(round.begin(), round.end(), [&](const Source& s) { return s.id == it->first; })
               ? std::next(it)
               : seen_.erase(it);
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

void FleetPoller::poll(const Source& source) {
  json node, plugins;
  std::string error;
  try {
    node = source.get("/api/v1/node");
    plugins = source.get("/api/v1/plugins?stats=0");
  } catch (const std::exception& e) {
    error = e.what();
  }
  const auto sampled_at = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  Seen& seen = seen_[source.id];
  json status = seen.status.is_null() ? json{{"last_seen", nullptr}} : seen.status;
  if (!error.empty()) {
    status["reachable"] = false;
    status["error"] = error;
    seen.status = status;
    return;
  }
  // A machine answering something else than adamd's JSON shapes is
  // reachable but broken: said as its error, never a crash of the poller.
  std::map<std::string, double> counters;
  double stored = 0;
  try {
    const double elapsed = std::chrono::duration<double>(sampled_at - seen.sampled_at).count();
    const bool have_previous = seen.events_stored >= 0 && elapsed > 0;
    json running = json::array(), rates = json::object();
    for (const auto& p : plugins.value("plugins", json::array())) {
      const std::string name = p.value("name", "");
      if (p.value("state", "") == "running")
        running.push_back({{"name", name}, {"summary", p.value("summary", "")}});
      const json plugin_counters = p.value("counters", json::object());
      for (const auto& [counter, value] : plugin_counters.items()) {
        const std::string label = name + ": " + counter + "/s";
        counters[label] = number(value);
        auto previous = seen.counters.find(label);
        if (have_previous && previous != seen.counters.end())
          rates[label] = std::max(0.0, (number(value) - previous->second) / elapsed);
      }
    }
    stored = number(node.value("events", json::object()).value("stored", json()));
    status = {{"reachable", true},
              {"error", nullptr},
              {"hostname", node.value("hostname", "")},
              {"version", node.value("version", "")},
              {"kernel", node.value("kernel", json::object()).value("release", "")},
              {"plugins", running},
              {"rates", rates},
              {"events_per_s",
               have_previous ? json(std::max(0.0, (stored - seen.events_stored) / elapsed)) : json()},
              {"lost_events", lost_events(node)},
              {"last_seen", now_ns()}};
  } catch (const json::exception& e) {
    status["reachable"] = false;
    status["error"] = std::string("unexpected answer: ") + e.what();
    seen.status = status;
    return;
  }
  seen.status = status;
  seen.sampled_at = sampled_at;
  seen.counters = std::move(counters);
  seen.events_stored = stored;
}

}  // namespace adam
