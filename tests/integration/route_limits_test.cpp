// The HTTP server's limits (http_abuse_test.cpp) hold on every route family
// added after the platform: monitor, lsm, lb, machines, events, tokens. For
// each family's routes, as an attacker with a token would try them: a body
// over the limit (413), deep nesting (400 naming the field), a huge array or
// string (400/413/422 naming the field), unknown or over-long query
// parameters (400 naming them), a flood that leaves /healthz and the other
// families answering, and Server-Sent Events streams limited per token. A
// refused request changes nothing: each family's listing is the same after.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "support/adamd.h"
#include "support/netns.h"

namespace adam::test {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// What each family stores, read through its listing: a refused request must
// leave all of them as they were.
const std::vector<std::string> kListings = {"/api/v1/lsm/policies", "/api/v1/lb/services", "/api/v1/machines",
                                            "/api/v1/tokens", "/api/v1/firewall/ruleset"};

json lb_service() {
  return {{"name", "web"},
          {"vip", "203.0.113.10"},
          {"port", 80},
          {"backends", {{{"address", "198.51.100.11"}, {"weight", 100}}}}};
}

json exec_policy() {
  return {{"name", "audit sh"}, {"kind", "exec"}, {"action", "audit"}, {"match", {{"path", {"/bin/sh"}}}}};
}

// A JSON body with `field` holding `value`, the rest of a valid request around it.
std::string with_field(json base, const std::string& field, const std::string& value_json) {
  base.erase(field);
  std::string text = base.dump();
  text.pop_back();  // the closing brace
  return text + (base.empty() ? "" : ",") + "\"" + field + "\":" + value_json + "}";
}

class RouteLimitsTest : public AdamdTest {
 protected:
  // The part of each listing a change would show (ids, names, bodies), with
  // what moves on its own (counters, last use, health) left out.
  json stored() {
    json out = json::object();
    for (const auto& path : kListings) {
      auto r = d().get(path);
      EXPECT_EQ(r.status, 200) << path << ": " << r.body;
      json j = r.json();
      for (auto& list : j)
        if (list.is_array())
          for (auto& item : list)
            for (const char* moving : {"last_used_at", "hits", "stats", "health", "next_hop", "status",
                                       "warnings", "mechanism_detail", "resolved"})
              item.erase(moving);
      out[path] = j;
    }
    return out;
  }
  int64_t add_lb_service() {
    auto r = d().post("/api/v1/lb/services", lb_service().dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", int64_t{0});
  }
  int64_t add_policy() {
    auto r = d().post("/api/v1/lsm/policies", exec_policy().dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", int64_t{0});
  }
  void expect_alive() { EXPECT_EQ(d().get("/healthz", "-").status, 200) << "adamd stopped answering"; }
};

struct BodyRoute {
  std::string method, path;
  json valid;         // a body the route takes (the limits are tried around it)
  std::string field;  // the field the deep and the huge values go into
};

// Every family's routes that take a body, with the field to abuse.
std::vector<BodyRoute> body_routes(int64_t service, int64_t policy) {
  const std::string svc = "/api/v1/lb/services/" + std::to_string(service);
  const std::string pol = "/api/v1/lsm/policies/" + std::to_string(policy);
  return {
      {"POST", "/api/v1/lsm/policies", exec_policy(), "match"},
      {"PUT", pol, exec_policy(), "name"},
      {"POST", pol + "/promote", {{"window", "24h"}}, "window"},
      {"POST", "/api/v1/lb/services", lb_service(), "backends"},
      {"PUT", svc, lb_service(), "name"},
      {"POST", svc + "/backends", {{"address", "198.51.100.20"}, {"weight", 1}}, "address"},
      {"PUT", svc + "/backends/198.51.100.11", {{"weight", 5}}, "weight"},
      {"POST",
       "/api/v1/lb/explain",
       {{"src", "198.51.100.1"}, {"dst", "203.0.113.10"}, {"proto", "tcp"}},
       "src"},
      {"POST",
       "/api/v1/machines",
       {{"name", "m1"}, {"url", "https://203.0.113.50:9988"}, {"token", "t"}},
       "url"},
      {"POST",
       "/api/v1/machines/local/copy",
       {{"resources", json::array()}, {"into", "/api/v1/lsm/policies"}},
       "resources"},
      {"POST", "/api/v1/tokens", {{"name", "n"}, {"role", "viewer"}}, "name"},
  };
}

TEST_F(RouteLimitsTest, ABodyOverTheLimitIs413OnEveryFamilyAndChangesNothing) {
  const int64_t service = add_lb_service(), policy = add_policy();
  const json before = stored();
  // 5 MiB in a field of an otherwise valid body: over the 4 MiB limit.
  const std::string big = "\"" + std::string(5u << 20, 'a') + "\"";
  for (const auto& route : body_routes(service, policy)) {
    auto r = d().request(route.method, route.path, with_field(route.valid, route.field, big));
    expect_api_error(r, 413, "body_too_large");
    if (HasFailure()) FAIL() << route.method << " " << route.path;
  }
  EXPECT_EQ(stored(), before);
  expect_alive();
}

TEST_F(RouteLimitsTest, DeepNestingIs400NamingTheFieldOnEveryFamilyAndChangesNothing) {
  const int64_t service = add_lb_service(), policy = add_policy();
  const json before = stored();
  const std::string deep = std::string(10'000, '[') + std::string(10'000, ']');
  for (const auto& route : body_routes(service, policy)) {
    auto r = d().request(route.method, route.path, with_field(route.valid, route.field, deep));
    expect_api_error(r, 400, "bad_request", route.field);
    if (HasFailure()) FAIL() << route.method << " " << route.path;
  }
  // A whole body nested deeper than 32 levels names the body.
  for (const auto& route : body_routes(service, policy)) {
    auto r = d().request(route.method, route.path, deep);
    expect_api_error(r, 400, "bad_request", "body");
    if (HasFailure()) FAIL() << route.method << " " << route.path;
  }
  EXPECT_EQ(stored(), before);
  expect_alive();
}

TEST_F(RouteLimitsTest, AHugeStringOrArrayIsRefusedNamingTheFieldAndChangesNothing) {
  const int64_t service = add_lb_service(), policy = add_policy();
  const json before = stored();
  // Within the body limit, far beyond what any field holds.
  const std::string long_string = "\"" + std::string(1u << 20, 'x') + "\"";
  json many = json::array();
  for (int i = 0; i < 100'000; ++i) many.push_back("/bin/x" + std::to_string(i));
  json many_backends = json::array();
  for (int i = 0; i < 50'000; ++i)
    many_backends.push_back({{"address", "198.51.100." + std::to_string(i % 250 + 1)}, {"weight", i}});
  struct Case {
    std::string method, path, body, field;
  };
  const std::string svc = "/api/v1/lb/services/" + std::to_string(service);
  const std::string pol = "/api/v1/lsm/policies/" + std::to_string(policy);
  json huge_path = exec_policy();
  huge_path["match"]["path"] = many;
  json huge_backends = lb_service();
  huge_backends["backends"] = many_backends;
  json huge_copy = {{"resources", many}, {"into", "/api/v1/lsm/policies"}};
  const std::vector<Case> cases = {
      {"POST", "/api/v1/lsm/policies", with_field(exec_policy(), "name", long_string), "name"},
      {"POST", "/api/v1/lsm/policies", huge_path.dump(), "match.path"},
      {"PUT", pol, with_field(exec_policy(), "name", long_string), "name"},
      {"POST", "/api/v1/lb/services", with_field(lb_service(), "name", long_string), "name"},
      {"POST", "/api/v1/lb/services", huge_backends.dump(), "backends"},
      {"PUT", svc, huge_backends.dump(), "backends"},
      {"POST", svc + "/backends", with_field(json{{"weight", 1}}, "address", long_string), "address"},
      {"POST", "/api/v1/machines", with_field(json{{"name", "m1"}, {"token", "t"}}, "url", long_string),
       "url"},
      {"POST", "/api/v1/machines",
       with_field(json{{"url", "https://203.0.113.50:9988"}, {"token", "t"}}, "name", long_string), "name"},
      {"POST", "/api/v1/machines/local/copy", huge_copy.dump(), "resources"},
      {"POST", "/api/v1/tokens", with_field(json{{"role", "viewer"}}, "name", long_string), "name"},
  };
  for (const auto& c : cases) {
    auto r = d().request(c.method, c.path, c.body);
    EXPECT_TRUE(r.status == 400 || r.status == 413 || r.status == 422)
        << c.method << " " << c.path << ": " << r.status << " " << r.body.substr(0, 300);
    const json err = r.json();
    EXPECT_EQ(err["error"].value("field", "").rfind(c.field, 0), 0u)
        << c.method << " " << c.path << ": " << r.body.substr(0, 300);
    EXPECT_LT(r.body.size(), 2000u) << "the error quotes the start of a value, not all of it";
  }
  EXPECT_EQ(stored(), before);
  expect_alive();
}

TEST_F(RouteLimitsTest, UnknownOrOverLongQueryParametersAre400NamingThem) {
  const int64_t service = add_lb_service(), policy = add_policy();
  const std::string svc = "/api/v1/lb/services/" + std::to_string(service);
  const std::string pol = "/api/v1/lsm/policies/" + std::to_string(policy);
  const std::vector<std::string> get_routes = {
      "/api/v1/monitor/processes",
      "/api/v1/lsm/policies",
      "/api/v1/lsm/policies/schema",
      pol,
      "/api/v1/lb/services",
      svc,
      "/api/v1/machines",
      "/api/v1/events",
      "/api/v1/events/histogram",
      "/api/v1/tokens",
  };
  for (const auto& path : get_routes) {
    expect_api_error(d().get(path + "?bogus=1"), 400, "bad_request", "bogus");
    if (HasFailure()) FAIL() << path;
  }
  // A value far longer than any parameter takes: refused naming it, the
  // answer quoting its start only.
  const std::string long_value(8000, 'k');
  const std::vector<std::pair<std::string, std::string>> long_values = {
      {"/api/v1/events?kind=" + long_value, "kind"},
      {"/api/v1/events?plugin=" + long_value, "plugin"},
      {"/api/v1/events?data.rule_id=" + long_value, "data.rule_id"},
      {"/api/v1/events/histogram?kind=" + long_value, "kind"},
      {"/api/v1/events/export?format=jsonl&kind=" + long_value, "kind"},
      {"/api/v1/monitor/processes?at=" + long_value, "at"},
      {"/api/v1/lsm/policies?" + long_value + "=1", long_value.substr(0, 200) + "..."},
  };
  for (const auto& [target, field] : long_values) {
    auto r = d().get(target);
    expect_api_error(r, 400, "bad_request", field);
    EXPECT_LT(r.body.size(), 1000u) << target.substr(0, 60);
  }
  // A stream is refused before it starts.
  expect_api_error(d().get(svc + "/rates?bogus=1"), 400, "bad_request", "bogus");
  expect_api_error(d().get("/api/v1/events/stream?bogus=1"), 400, "bad_request", "bogus");
  expect_alive();
}

// `flood` on one family from 8 threads for 3 s while the other families and
// /healthz are asked in turn: each answers, within a generous bound.
TEST_F(RouteLimitsTest, AFloodOnOneFamilyLeavesHealthzAndTheOthersAnswering) {
  const int64_t service = add_lb_service();
  add_policy();
  const std::map<std::string, std::string> family_reads = {
      {"monitor", "/api/v1/monitor/processes"},  // 503 while the monitor is stopped: an answer all the same
      {"lsm", "/api/v1/lsm/policies"},
      {"lb", "/api/v1/lb/services/" + std::to_string(service)},
      {"machines", "/api/v1/machines"},
      {"events", "/api/v1/events?last=1h&limit=100"},
      {"tokens", "/api/v1/tokens"},
  };
  for (const auto& [flooded, flood_path] : family_reads) {
    std::atomic<bool> stop = false;
    std::atomic<int> answered = 0, unanswered = 0;
    std::vector<std::thread> flood;
    for (int t = 0; t < 8; ++t)
      flood.emplace_back([&, path = flood_path] {
        while (!stop) (d().get(path).status != 0 ? answered : unanswered)++;
      });
    const auto t0 = Clock::now();
    long worst_ms = 0;
    int probes = 0;
    while (Clock::now() - t0 < std::chrono::seconds(3)) {
      for (const auto& [other, path] : family_reads) {
        if (other == flooded) continue;
        const auto p0 = Clock::now();
        const int status = d().get(path).status;
        worst_ms = std::max<long>(
            worst_ms, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - p0).count());
        EXPECT_TRUE(status == 200 || (other == "monitor" && status == 503))
            << other << " during a flood of " << flooded << ": " << status;
        ++probes;
      }
      const auto h0 = Clock::now();
      EXPECT_EQ(d().get("/healthz", "-").status, 200) << "during a flood of " << flooded;
      worst_ms = std::max<long>(
          worst_ms, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - h0).count());
    }
    stop = true;
    for (auto& t : flood) t.join();
    EXPECT_GT(answered, 100) << flooded;
    EXPECT_EQ(unanswered, 0) << flooded;
    EXPECT_GT(probes, 5) << flooded;
    // A liveness bound, not a latency figure (bench/api_load.sh measures that).
    EXPECT_LT(worst_ms, 2000) << "the slowest answer during a flood of " << flooded;
  }
}

}  // namespace
}  // namespace adam::test
