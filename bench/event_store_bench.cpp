// The event store's benchmarks (docs/BENCHMARKS.md, "Event store"). Each mode
// prints one JSON line.
//
//   event_store_bench --events 1000000
//       store ingest against the Python baseline (bench/event_store_baseline.py)
//       on the same rows, best of --rounds (default 3) for each
//   event_store_bench --kernel-rate 200000 --seconds 10
//       the test BPF producer (tests/bpf/event_flood.bpf.c) at that rate
//       through the whole pipeline: produced = stored + lost?   (root)
//   event_store_bench --query-events 10000000 [--spread 30d]
//       fills a state dir, starts build/adamd on it and times the events API  (root)
#include <httplib.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/event_hub.h"
#include "core/time_range.h"
#include "store/database.h"
#include "store/event_store.h"
#include "support/event_flood.h"

using namespace adam;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// Keep in step with KINDS and rows() in event_store_baseline.py.
const std::pair<const char*, const char*> kKinds[] = {{"firewall", "firewall.drop"},
                                                      {"firewall", "firewall.pass"},
                                                      {"monitor", "process.exec"},
                                                      {"adamd", "api.change"}};

std::string event_data(int64_t i) {
  char buf[128];
  std::snprintf(buf, sizeof buf, R"({"src":"198.51.100.%d","dst":"203.0.113.7","dport":%d,"rule":%d})",
                static_cast<int>(i % 250), static_cast<int>(i % 65536), static_cast<int>(i % 32));
  return buf;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU seconds of this process so far, every thread's (the checkpointer's too).
double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// A fresh state dir, removed at exit.
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/adam-bench-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

std::string run_command(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + command);
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (::pclose(p) != 0) throw std::runtime_error(command + " failed: " + out);
  return out;
}

// Store ingest: EventStore::append in 10,000-event transactions (the
// baseline's size), and the same through the EventHub's queue and writer.
json bench_ingest(int64_t n, int rounds) {
  const TimeNs base_ts = now_ns() - n * 1000;
  double best = 0, best_hub = 0, best_baseline = 0, best_per_cpu = 0, best_baseline_per_cpu = 0;
  for (int round = 0; round < rounds; ++round) {
    {
      TempDir dir;
      Database db(dir.path + "/adam.db");
      EventStore store(db, "bench");
      std::vector<NewEvent> events;
      events.reserve(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        const auto& [plugin, kind] = kKinds[i % 4];
        events.push_back({base_ts + i * 1000, store.kind_id(plugin, kind), event_data(i)});
      }
      const double cpu0 = cpu_seconds();
      const auto t0 = Clock::now();
      for (size_t first = 0; first < events.size(); first += 10'000)
        store.append(std::span(events).subspan(first, std::min<size_t>(10'000, events.size() - first)));
      best = std::max(best, static_cast<double>(n) / seconds_since(t0));
      best_per_cpu = std::max(best_per_cpu, static_cast<double>(n) / (cpu_seconds() - cpu0));
    }
    {
      TempDir dir;
      Database db(dir.path + "/adam.db");
      EventStore store(db, "bench");
      EventHub hub(store,
                   EventHubOptions{.queue_capacity = static_cast<size_t>(n), .retention = std::nullopt});
      std::vector<std::string> data;
      data.reserve(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) data.push_back(event_data(i));
      const auto t0 = Clock::now();
      for (int64_t i = 0; i < n; ++i)
        hub.publish(kKinds[i % 4].first, kKinds[i % 4].second, std::move(data[static_cast<size_t>(i)]),
                    base_ts + i * 1000);
      hub.flush();
      best_hub = std::max(best_hub, static_cast<double>(n) / seconds_since(t0));
    }
    {
      TempDir dir;
      const json baseline =
          json::parse(run_command("python3 " ADAM_SOURCE_DIR "/bench/event_store_baseline.py " + dir.path +
                                  "/baseline.db " + std::to_string(n) + " " + std::to_string(base_ts)));
      best_baseline = std::max(best_baseline, baseline["events_per_s"].get<double>());
      best_baseline_per_cpu = std::max(best_baseline_per_cpu, baseline["events_per_cpu_s"].get<double>());
    }
  }
  return {{"events", n},
          {"rounds", rounds},
          {"events_per_s", static_cast<int64_t>(best)},
          {"hub_events_per_s", static_cast<int64_t>(best_hub)},
          {"baseline_events_per_s", static_cast<int64_t>(best_baseline)},
          {"ratio", std::round(best / best_baseline * 100) / 100},
          // Per CPU second of all threads: the rate with no core to spare.
          {"events_per_cpu_s", static_cast<int64_t>(best_per_cpu)},
          {"baseline_events_per_cpu_s", static_cast<int64_t>(best_baseline_per_cpu)},
          {"cpu_ratio", std::round(best_per_cpu / best_baseline_per_cpu * 100) / 100}};
}

// The kernel path: BPF_PROG_TEST_RUN of the test producer every 10 ms, as
// many runs as keep the rate, then a wait for the pipeline to settle. Not
// more often: each XDP test run installs the program in the kernel's XDP
// dispatcher and takes it out again, patching kernel text with an IPI to
// every CPU, which on busy CPUs costs more than the runs themselves.
json bench_kernel(int64_t rate, int seconds) {
  TempDir dir;
  Database db(dir.path + "/adam.db");
  EventStore store(db, "bench");
  EventHub hub(store, EventHubOptions{.retention = std::nullopt});
  test::EventFlood flood(hub);
  const auto t0 = Clock::now();
  int64_t fired = 0;
  const int64_t total = rate * seconds;
  while (fired < total) {
    const int64_t due = std::min(total, static_cast<int64_t>(seconds_since(t0) * static_cast<double>(rate)));
    for (; fired < due;) {
      const auto runs = static_cast<uint32_t>(std::min<int64_t>(due - fired, 65536));
      flood.fire(runs);
      fired += runs;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double produce_seconds = seconds_since(t0);
  // Settle: everything produced is stored or counted lost.
  int64_t stored = 0, lost = 0;
  json lost_by_reason = json::object();
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    hub.flush();
    const EventCounters c = hub.counters()["flood"];
    stored = c.stored;
    lost = 0;
    for (const auto& [reason, n] : c.lost) {
      lost += n;
      lost_by_reason[to_string(reason)] = n;
    }
    if (stored + lost >= flood.produced()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return {{"mode", "kernel"},
          {"rate", rate},
          {"seconds", seconds},
          {"produce_seconds", produce_seconds},
          {"achieved_rate", static_cast<int64_t>(static_cast<double>(flood.produced()) / produce_seconds)},
          {"produced", flood.produced()},
          {"stored", stored},
          {"lost", lost},
          {"lost_by_reason", lost_by_reason},
          {"rows", store.row_count()}};
}

// Milliseconds of each of `n` GETs; fails on a non-200.
std::vector<double> time_requests(httplib::Client& cli, const std::string& path, int n,
                                  const httplib::Headers& auth) {
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    auto r = cli.Get(path, auth);
    ms.push_back(seconds_since(t0) * 1000);
    if (!r || r->status != 200)
      throw std::runtime_error(path + ": " + (r ? std::to_string(r->status) + " " + r->body : "no answer"));
  }
  return ms;
}

json summary(std::vector<double> ms) {
  const double first = ms.front();
  std::sort(ms.begin(), ms.end());
  return {{"first_ms", std::round(first * 100) / 100},
          {"median_ms", std::round(ms[ms.size() / 2] * 100) / 100},
          {"max_ms", std::round(ms.back() * 100) / 100}};
}

// Kinds by share: 70 % drops, 25 % passes, 4.9 % execs, 0.1 % API changes.
int kind_of(int64_t i) {
  const int64_t per_mille = (i * 7919) % 1000;  // spread evenly, not in runs
  return per_mille < 700 ? 0 : per_mille < 950 ? 1 : per_mille < 999 ? 2 : 3;
}

json bench_queries(int64_t n, const std::string& spread_text) {
  const Span spread = parse_span(spread_text);
  TempDir dir;
  const TimeNs now = now_ns();
  const TimeNs first_ts = span_start(spread, now);
  const auto fill_t0 = Clock::now();
  {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    Database db(dir.path + "/adam.db");
    EventStore store(db, host);
    std::vector<NewEvent> batch;
    for (int64_t i = 0; i < n; ++i) {
      const auto& [plugin, kind] = kKinds[kind_of(i)];
      batch.push_back({first_ts + (now - first_ts) / n * i, store.kind_id(plugin, kind), event_data(i)});
      if (batch.size() == 50'000 || i == n - 1) {
        store.append(batch);
        batch.clear();
      }
    }
  }
  const double fill_seconds = seconds_since(fill_t0);

  const int port = 19000 + static_cast<int>(::getpid() % 1000);
  const std::string pins = "/sys/fs/bpf/adamt-bench-" + std::to_string(::getpid());
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string log = dir.path + ".log";
    std::freopen(log.c_str(), "w", stdout);
    std::freopen(log.c_str(), "a", stderr);
    ::execl(ADAM_BUILD_DIR "/adamd", "adamd", "--state-dir", dir.path.c_str(), "--pin-dir", pins.c_str(),
            "--listen", ("127.0.0.1:" + std::to_string(port)).c_str(), "--retention", "1y", "--max-events",
            "0", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  json result;
  try {
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(60);
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (!cli.Get("/healthz")) {
      if (Clock::now() > deadline) throw std::runtime_error("adamd did not start");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::ifstream token_file(dir.path + "/admin.token");
    std::string token;
    std::getline(token_file, token);
    const httplib::Headers auth = {{"Authorization", "Bearer " + token}};
    json first_page = json::object();
    for (const char* kind : {"firewall.drop", "process.exec", "api.change"})
      first_page[kind] =
          summary(time_requests(cli, std::string("/api/v1/events?last=24h&kind=") + kind, 20, auth));
    result = {
        {"mode", "queries"},
        {"events", n},
        {"spread", spread_text},
        {"fill_seconds", fill_seconds},
        {"first_page_last_24h", first_page},
        {"all_kinds_first_page_last_24h", summary(time_requests(cli, "/api/v1/events?last=24h", 20, auth))},
        {"histogram_24h_5m",
         summary(time_requests(cli, "/api/v1/events/histogram?last=24h&bucket=5m", 5, auth))},
        {"histogram_24h_5m_by_plugin",
         summary(time_requests(cli, "/api/v1/events/histogram?last=24h&bucket=5m&group=plugin", 5, auth))}};
  } catch (...) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    std::filesystem::remove_all(pins);
    throw;
  }
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  std::filesystem::remove_all(pins);
  std::filesystem::remove(dir.path + ".log");
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  auto arg = [&](const std::string& name, const std::string& fallback) {
    auto it = args.find(name);
    return it == args.end() ? fallback : it->second;
  };
  try {
    json result;
    if (args.count("--kernel-rate"))
      result = bench_kernel(std::stoll(arg("--kernel-rate", "0")), std::stoi(arg("--seconds", "10")));
    else if (args.count("--query-events"))
      result = bench_queries(std::stoll(arg("--query-events", "0")), arg("--spread", "30d"));
    else
      result = bench_ingest(std::stoll(arg("--events", "1000000")), std::stoi(arg("--rounds", "3")));
    std::printf("%s\n", result.dump().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "event_store_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
