// The lb plugin's service JSON and checks (service.h, docs/lb.md
// "Services"): what a client sends, what it is told when that is wrong (the
// status and the field), and what comes back.
#include "plugins/lb/service.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adam/lb.h"
#include "core/errors.h"

namespace adam::lb {
namespace {

using nlohmann::json;

const json kGood = json::parse(R"({"name": "web", "vip": "203.0.113.10", "port": 80,
  "backends": [{"address": "198.51.100.11"}, {"address": "198.51.100.12", "weight": 0}]})");

json backends_json(size_t n) {
  json list = json::array();
  for (size_t i = 0; i < n; ++i)
    list.push_back(
        {{"address", "2001:db8::" + std::to_string(i / 1000) + ":" + std::to_string(i % 1000 + 1)}});
  return list;
}

struct BadBody {
  const char* patch;  // merged into kGood (RFC 7386: null removes a field)
  int status;
  const char* field;
};

const BadBody kBadBodies[] = {
    {R"({"name": null})", 400, "name"},
    {R"({"name": ""})", 400, "name"},
    {R"({"name": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})", 400, "name"},
    {R"({"name": "a\u0007b"})", 400, "name"},
    {R"({"name": 5})", 400, "name"},
    {R"({"vip": null})", 400, "vip"},
    {R"({"vip": "203.0.113.10/32"})", 400, "vip"},
    {R"({"vip": "203.0.113.300"})", 400, "vip"},
    {R"({"vip": "203.0.113.010"})", 400, "vip"},
    {R"({"vip": "[2001:db8::10]:80"})", 400, "vip"},
    {R"({"vip": "fe80::1%eth0"})", 400, "vip"},
    {R"({"vip": "0.0.0.0"})", 400, "vip"},
    {R"({"vip": "::"})", 400, "vip"},
    {R"({"vip": "224.0.0.1"})", 400, "vip"},
    {R"({"vip": "ff02::1"})", 400, "vip"},
    {R"({"vip": "::ffff:203.0.113.10"})", 400, "vip"},
    {R"({"vip": 3405803786})", 400, "vip"},
    {R"({"port": null})", 400, "port"},
    {R"({"port": 0})", 400, "port"},
    {R"({"port": 65536})", 400, "port"},
    {R"({"port": -80})", 400, "port"},
    {R"({"port": "80"})", 400, "port"},
    {R"({"port": 80.5})", 400, "port"},
    {R"({"proto": "icmp"})", 400, "proto"},
    {R"({"proto": 6})", 400, "proto"},
    {R"({"proto": "TCP"})", 400, "proto"},
    {R"({"mode": "nat"})", 400, "mode"},
    {R"({"table_size": 65536})", 400, "table_size"},
    {R"({"table_size": 1000033})", 400, "table_size"},
    {R"({"table_size": 199})", 400, "table_size"},  // a prime, but below 100 x 2 backends
    {R"({"table_size": -65537})", 400, "table_size"},
    {R"({"table_size": 65537.0})", 400, "table_size"},
    {R"({"depool_threshold": 1.5})", 400, "depool_threshold"},
    {R"({"depool_threshold": -0.1})", 400, "depool_threshold"},
    {R"({"depool_threshold": "0.5"})", 400, "depool_threshold"},
    {R"({"backends": {"address": "198.51.100.11"}})", 400, "backends"},
    {R"({"backends": [{"address": "198.51.100.11"}, "198.51.100.12"]})", 400, "backends[1]"},
    {R"({"backends": [{"weight": 1}]})", 400, "backends[0].address"},
    {R"({"backends": [{"address": "198.51.100.11", "weight": 65536}]})", 400, "backends[0].weight"},
    {R"({"backends": [{"address": "198.51.100.11", "weight": -1}]})", 400, "backends[0].weight"},
    {R"({"backends": [{"address": "198.51.100.11", "weight": "1"}]})", 400, "backends[0].weight"},
    {R"({"backends": [{"address": "198.51.100.11", "weight": 1.0}]})", 400, "backends[0].weight"},
    {R"({"backends": [{"address": "198.51.100.11", "port": 8080}]})", 400, "backends[0].port"},
    {R"({"backends": [{"address": "198.51.100.11"}, {"address": "198.51.100.12"}, {"address": "198.51.100.13"},
                      {"address": "198.51.100.12"}]})",
     400, "backends[3].address"},
    {R"({"backends": [{"address": "2001:db8::1"}, {"address": "2001:0db8:0::1"}]})", 400,
     "backends[1].address"},
    {R"({"backends": [{"address": "203.0.113.10"}]})", 400, "backends[0].address"},
    {R"({"backends": [{"address": "198.51.100.0/24"}]})", 400, "backends[0].address"},
    {R"({"color": "red"})", 400, "color"},
    {R"({"health": "tcp"})", 400, "health"},
    {R"({"health": {}})", 400, "health.type"},
    {R"({"health": {"type": "icmp"}})", 400, "health.type"},
    {R"({"health": {"type": "tcp", "path": "/"}})", 400, "health.path"},
    {R"({"health": {"type": "tcp", "status": 200}})", 400, "health.status"},
    {R"({"health": {"type": "http", "path": "healthz"}})", 400, "health.path"},
    {R"({"health": {"type": "http", "path": "/a b"}})", 400, "health.path"},
    {R"({"health": {"type": "http", "path": "/\r\nHost: x"}})", 400, "health.path"},
    {R"({"health": {"type": "http", "status": 99}})", 400, "health.status"},
    {R"({"health": {"type": "http", "status": 600}})", 400, "health.status"},
    {R"({"health": {"type": "tcp", "port": 0}})", 400, "health.port"},
    {R"({"health": {"type": "tcp", "interval_ms": 99}})", 400, "health.interval_ms"},
    {R"({"health": {"type": "tcp", "interval_ms": 3600001}})", 400, "health.interval_ms"},
    {R"({"health": {"type": "tcp", "timeout_ms": 9}})", 400, "health.timeout_ms"},
    {R"({"health": {"type": "tcp", "timeout_ms": 60001, "interval_ms": 100000}})", 400, "health.timeout_ms"},
    {R"({"health": {"type": "tcp", "interval_ms": 500, "timeout_ms": 500}})", 400, "health.timeout_ms"},
    {R"({"health": {"type": "tcp", "rise": 0}})", 400, "health.rise"},
    {R"({"health": {"type": "tcp", "fall": 101}})", 400, "health.fall"},
    {R"({"health": {"type": "tcp", "retries": 3}})", 400, "health.retries"},
};

TEST(LbService, BadBodiesAreRefusedNamingTheField) {
  for (const auto& bad : kBadBodies) {
    json body = kGood;
    body.merge_patch(json::parse(bad.patch));
    try {
      service_from_json(body);
      ADD_FAILURE() << "accepted " << bad.patch;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), bad.status) << bad.patch << ": " << e.what();
      EXPECT_EQ(e.field(), bad.field) << bad.patch << ": " << e.what();
      EXPECT_FALSE(std::string(e.what()).empty());
    }
  }
}

TEST(LbService, ABodyThatIsNotAnObjectIsRefused) {
  for (const char* text : {"[]", "null", "\"web\"", "80"}) {
    try {
      service_from_json(json::parse(text));
      ADD_FAILURE() << "accepted " << text;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_EQ(e.field(), "body");
    }
  }
}

TEST(LbService, MoreBackendsThanTheKernelHoldsIs422) {
  json body = kGood;
  body["table_size"] = ADAM_LB_MAX_TABLE_SIZE;
  body["backends"] = backends_json(ADAM_LB_MAX_BACKENDS + 1);
  try {
    service_from_json(body);
    ADD_FAILURE() << "accepted " << ADAM_LB_MAX_BACKENDS + 1 << " backends";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 422);
    EXPECT_EQ(e.field(), "backends");
  }
  body["backends"] = backends_json(ADAM_LB_MAX_BACKENDS);
  EXPECT_EQ(service_from_json(body).backends.size(), size_t{ADAM_LB_MAX_BACKENDS});
}

TEST(LbService, DefaultsAreFilledIn) {
  const Service s = service_from_json(kGood);
  EXPECT_EQ(s.id, 0);
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.vip.to_string(), "203.0.113.10");
  EXPECT_EQ(s.port, 80);
  EXPECT_EQ(s.proto, 6);
  EXPECT_EQ(s.mode, Mode::l2dsr);
  EXPECT_EQ(s.table_size, 65537u);
  EXPECT_EQ(s.depool_threshold, 0.5);
  ASSERT_EQ(s.backends.size(), 2u);
  EXPECT_EQ(s.backends[0].weight, 100u);
  EXPECT_EQ(s.backends[1].weight, 0u);
  EXPECT_FALSE(s.health.has_value());

  json body = kGood;
  body["port"] = 8443;
  body["health"] = {{"type", "tcp"}};
  const HealthCheck tcp = service_from_json(body).health.value();
  EXPECT_EQ(tcp.type, HealthCheck::Type::tcp);
  EXPECT_EQ(tcp.port, 8443) << "health.port defaults to the service's port";
  EXPECT_EQ(tcp.interval_ms, 1000u);
  EXPECT_EQ(tcp.timeout_ms, 500u);
  EXPECT_EQ(tcp.rise, 2u);
  EXPECT_EQ(tcp.fall, 3u);

  body["health"] = {{"type", "http"}, {"port", 9000}};
  const HealthCheck http = service_from_json(body).health.value();
  EXPECT_EQ(http.port, 9000);
  EXPECT_EQ(http.path, "/");
  EXPECT_EQ(http.status, 200);

  body["health"] = nullptr;
  EXPECT_FALSE(service_from_json(body).health.has_value());
}

TEST(LbService, ServicesRoundTrip) {
  const char* bodies[] = {
      R"({"name": "web", "vip": "203.0.113.10", "port": 80})",
      R"({"name": "dns v6 ☃", "vip": "2001:db8:0:0::53", "port": 53, "proto": "udp", "mode": "ipip",
          "table_size": 1000003, "depool_threshold": 0.25,
          "backends": [{"address": "2001:db8::1:1", "weight": 65535}, {"address": "198.51.100.20", "weight": 0},
                       {"address": "2001:db8::1:2", "weight": 1}],
          "health": {"type": "http", "port": 8080, "path": "/healthz?full=1", "status": 204,
                     "interval_ms": 3600000, "timeout_ms": 60000, "rise": 100, "fall": 1}})",
      R"({"name": "t", "vip": "198.51.100.1", "port": 65535, "depool_threshold": 1, "table_size": 101,
          "backends": [{"address": "198.51.100.2"}], "health": {"type": "tcp", "interval_ms": 100, "timeout_ms": 10}})",
  };
  for (const char* text : bodies) {
    const Service s = service_from_json(json::parse(text));
    const json stored = service_to_json(s);
    EXPECT_EQ(service_from_json(stored), s) << stored.dump();
    EXPECT_EQ(service_to_json(service_from_json(stored)), stored);
    Service with_id = s;
    with_id.id = 42;
    EXPECT_EQ(service_to_json(with_id)["id"], 42);
    EXPECT_EQ(service_from_json(service_to_json(with_id)).id, 0) << "the id is not read from the body";
  }
}

TEST(LbService, TheStoredFormIsTheContractsShape) {
  const json stored = service_to_json(service_from_json(json::parse(
      R"({"name": "web", "vip": "2001:0db8::0010", "port": 80, "backends": [{"address": "198.51.100.11"}],
          "health": {"type": "tcp"}})")));
  EXPECT_EQ(stored, json::parse(R"({"id": 0, "name": "web", "vip": "2001:db8::10", "port": 80, "proto": "tcp",
      "mode": "l2dsr", "table_size": 65537, "depool_threshold": 0.5,
      "backends": [{"address": "198.51.100.11", "weight": 100}],
      "health": {"type": "tcp", "port": 80, "interval_ms": 1000, "timeout_ms": 500, "rise": 2, "fall": 3}})"));
}

// A GET's resource can be edited and PUT back: its read-only parts are not
// refused as unknown fields (and change nothing).
TEST(LbService, TheResourceCanBePutBack) {
  const json resource = json::parse(R"({"id": 1, "name": "web", "vip": "203.0.113.10", "port": 80,
      "backends": [{"address": "198.51.100.11", "weight": 100, "state": "up", "in_table": true,
                    "table_entries": 65537, "health": {"state": "up"}, "next_hop": null, "stats": null,
                    "links": {"self": "/api/v1/lb/services/1/backends/198.51.100.11"}}],
      "depool": {"down": 0, "limited": false}, "stats": null, "warnings": [], "links": {"self": "/api/v1/lb/services/1"}})");
  json plain = {
      {"name", "web"}, {"vip", "203.0.113.10"}, {"port", 80}, {"backends", {{{"address", "198.51.100.11"}}}}};
  EXPECT_EQ(service_from_json(resource), service_from_json(plain));
}

TEST(LbService, BackendBodies) {
  const Backend b = backend_from_json({{"address", "2001:db8::11"}, {"weight", 7}}, "");
  EXPECT_EQ(b.address.family, 6);
  EXPECT_EQ(b.address.to_string(), "2001:db8::11");
  EXPECT_EQ(b.weight, 7u);
  EXPECT_EQ(backend_from_json({{"address", "198.51.100.11"}}, "").weight, 100u);
  for (const auto& [body, field] : std::vector<std::pair<json, std::string>>{
           {{{"weight", 7}}, "address"},
           {{{"address", "198.51.100.11"}, {"weight", 70000}}, "weight"},
           {{{"address", "198.51.100.11"}, {"wieght", 7}}, "wieght"},
           {{{"address", "198.51.100.11"}, {"weight", nullptr}}, "weight"},
           {{{"address", nullptr}}, "address"},
           {json::array(), "body"}}) {
    try {
      backend_from_json(body, "");
      ADD_FAILURE() << "accepted " << body.dump();
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_EQ(e.field(), field) << body.dump();
    }
  }
  try {
    backend_from_json({{"address", "198.51.100.11"}, {"weight", -1}}, "backends[4]");
    ADD_FAILURE();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.field(), "backends[4].weight");
  }
}

TEST(LbService, Addresses) {
  const IpAddress v4 = parse_address("198.51.100.11", "vip");
  EXPECT_EQ(v4.family, 4);
  EXPECT_EQ(v4.bytes[0], 198);
  EXPECT_EQ(v4.bytes[3], 11);
  EXPECT_EQ(v4.bytes[4], 0);
  const IpAddress v6 = parse_address("2001:DB8::a:11", "vip");
  EXPECT_EQ(v6.family, 6);
  EXPECT_EQ(v6.bytes[0], 0x20);
  EXPECT_EQ(v6.bytes[15], 0x11);
  EXPECT_EQ(v6.to_string(), "2001:db8::a:11");
  EXPECT_LT(v4, v6);
  for (const char* bad :
       {"", "198.51.100", "198.51.100.11:80", "2001:db8::/32", "example.com", " 198.51.100.11"}) {
    try {
      parse_address(bad, "backends[0].address");
      ADD_FAILURE() << "parsed '" << bad << "'";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_EQ(e.field(), "backends[0].address");
    }
  }
  EXPECT_EQ(to_string(Mode::l2dsr), "l2dsr");
  EXPECT_EQ(to_string(Mode::ipip), "ipip");
}

Service service(int64_t id, const char* vip, uint16_t port, uint8_t proto, size_t backends = 0) {
  Service s;
  s.id = id;
  s.name = "s" + std::to_string(id);
  s.vip = parse_address(vip, "vip");
  s.port = port;
  s.proto = proto;
  s.backends.resize(backends);
  return s;
}

void expect_refused(const Service& s, const std::vector<Service>& others, int status,
                    const std::string& field) {
  try {
    check_against(s, others);
    ADD_FAILURE() << "accepted service " << s.id;
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), status) << e.what();
    EXPECT_EQ(e.field(), field) << e.what();
  }
}

TEST(LbService, TheSameVipPortAndProtoAsAnotherIs409) {
  const std::vector<Service> others = {service(1, "203.0.113.10", 80, 6), service(2, "2001:db8::10", 53, 17)};
  expect_refused(service(0, "203.0.113.10", 80, 6), others, 409, "vip");
  expect_refused(service(0, "2001:db8:0::10", 53, 17), others, 409, "vip");
  EXPECT_NO_THROW(check_against(service(0, "203.0.113.10", 80, 17), others));
  EXPECT_NO_THROW(check_against(service(0, "203.0.113.10", 443, 6), others));
  EXPECT_NO_THROW(check_against(service(0, "203.0.113.11", 80, 6), others));
  EXPECT_NO_THROW(check_against(service(1, "203.0.113.10", 80, 6), others)) << "itself, replaced";
  expect_refused(service(2, "203.0.113.10", 80, 6), others, 409, "vip");
}

TEST(LbService, TheKernelsLimitsAre422) {
  std::vector<Service> others;
  for (int i = 1; i < ADAM_LB_MAX_SERVICES; ++i) others.push_back(service(i, "203.0.113.10", i, 6));
  EXPECT_NO_THROW(check_against(service(0, "203.0.113.11", 80, 6), others)) << "the last one that fits";
  others.push_back(service(ADAM_LB_MAX_SERVICES, "203.0.113.10", ADAM_LB_MAX_SERVICES, 6));
  expect_refused(service(0, "203.0.113.11", 80, 6), others, 422, "vip");
  EXPECT_NO_THROW(check_against(service(1, "203.0.113.11", 80, 6), others))
      << "a replacement adds no service";

  others = {service(1, "203.0.113.10", 80, 6, ADAM_LB_MAX_BACKENDS - 100)};
  EXPECT_NO_THROW(check_against(service(0, "203.0.113.11", 80, 6, 100), others));
  expect_refused(service(0, "203.0.113.11", 80, 6, 101), others, 422, "backends");
  EXPECT_NO_THROW(check_against(service(1, "203.0.113.11", 80, 6, ADAM_LB_MAX_BACKENDS), others));
}

TEST(LbService, Primes) {
  for (uint32_t p : {2u, 3u, 101u, 65537u, 131071u, 1000003u, 4294967291u}) EXPECT_TRUE(is_prime(p)) << p;
  for (uint32_t n : {0u, 1u, 4u, 100u, 65536u, 1000001u, 4294967295u}) EXPECT_FALSE(is_prime(n)) << n;
}

}  // namespace
}  // namespace adam::lb
