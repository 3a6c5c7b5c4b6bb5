// The firewall's log event decoder on records crafted here, laid out by the
// same struct the BPF program fills (bpf/adam/firewall.h); no kernel needed.
#include "plugins/firewall/log_event.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "adam/firewall.h"

namespace adam::fw {
namespace {

using nlohmann::json;

// An index no interface has (ifindexes are allocated from 1 upwards).
constexpr uint32_t kNoSuchIfindex = 0x7ffffff0;

adam_fw_log_event record(uint8_t family, const char* src, const char* dst) {
  adam_fw_log_event e{};
  e.header = {.ts_boot_ns = 1'000'000, .kind = ADAM_FW_EVENT_LOG, .size = sizeof e};
  e.family = family;
  if (family != 0) {
    const int af = family == 4 ? AF_INET : AF_INET6;
    EXPECT_EQ(::inet_pton(af, src, e.src), 1) << src;
    EXPECT_EQ(::inet_pton(af, dst, e.dst), 1) << dst;
  }
  return e;
}

struct Decoded {
  std::string kind;
  json data;
};

// Decodes `e` as EventHub hands it over: its header, then the `payload_bytes`
// after it (default: all of them). nullopt when the decoder refuses it.
std::optional<Decoded> decode(const adam_fw_log_event& e,
                              size_t payload_bytes = sizeof(adam_fw_log_event) - sizeof(adam_event_header)) {
  std::vector<std::byte> payload(payload_bytes);
  if (payload_bytes)  // memcpy to an empty vector's null data() is undefined, even of 0 bytes
    std::memcpy(payload.data(), reinterpret_cast<const std::byte*>(&e) + sizeof e.header,
                std::min(payload_bytes, sizeof e - sizeof e.header));
  InterfaceNames names;
  DecodedRecord out;
  if (!decode_log_event(e.header, payload, out, names)) return std::nullopt;
  return Decoded{std::string(out.kind), json::parse(out.data)};
}

TEST(FirewallLogEvent, Ipv4UdpWithPorts) {
  adam_fw_log_event e = record(4, "203.0.113.5", "198.51.100.2");
  e.rule_id = 7;
  e.verdict = ADAM_FW_VERDICT_DROP;
  e.ifindex = ::if_nametoindex("lo");
  e.len = 60;
  e.proto = 17;
  e.has_ports = 1;
  e.sport = 1234;
  e.dport = 8080;
  const auto d = decode(e);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, "firewall.drop");
  EXPECT_EQ(d->data, json::parse(R"({"rule_id":7,"action":"drop","iface":"lo","src":"203.0.113.5",
                                    "dst":"198.51.100.2","proto":"udp","src_port":1234,"dst_port":8080,
                                    "len":60})"));
}

TEST(FirewallLogEvent, Ipv6Icmpv6WithoutPortsOnAnUnknownInterface) {
  adam_fw_log_event e = record(6, "2001:db8:203::1", "2001:db8:100::2");
  e.rule_id = 3;
  e.verdict = ADAM_FW_VERDICT_PASS;
  e.ifindex = kNoSuchIfindex;
  e.len = 118;
  e.proto = 58;
  const auto d = decode(e);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, "firewall.pass");
  EXPECT_EQ(d->data, (json{{"rule_id", 3},
                           {"action", "pass"},
                           {"iface", kNoSuchIfindex},
                           {"src", "2001:db8:203::1"},
                           {"dst", "2001:db8:100::2"},
                           {"proto", "icmpv6"},
                           {"len", 118}}));
}

TEST(FirewallLogEvent, UnnamedAndUnknownProtocols) {
  adam_fw_log_event gre = record(4, "203.0.113.5", "198.51.100.2");
  gre.proto = 47;
  ASSERT_TRUE(decode(gre));
  EXPECT_EQ(decode(gre)->data["proto"], 47);

  // An unparsed frame (a rule without address, protocol or port conditions
  // matched it): no addresses, no protocol.
  adam_fw_log_event unparsed = record(0, nullptr, nullptr);
  unparsed.proto = ADAM_FW_PROTOS;
  unparsed.len = 12;
  const auto d = decode(unparsed);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->data.contains("src")) << d->data;
  EXPECT_FALSE(d->data.contains("dst")) << d->data;
  EXPECT_FALSE(d->data.contains("proto")) << d->data;
  EXPECT_FALSE(d->data.contains("src_port")) << d->data;
}

TEST(FirewallLogEvent, MalformedRecordsAreRefused) {
  const adam_fw_log_event good = record(4, "203.0.113.5", "198.51.100.2");
  const size_t payload = sizeof good - sizeof good.header;
  ASSERT_TRUE(decode(good));

  EXPECT_FALSE(decode(good, payload - 1)) << "a short record";
  EXPECT_FALSE(decode(good, 0)) << "a bare header";
  EXPECT_FALSE(decode(good, payload + 8)) << "a longer record than the header says";

  adam_fw_log_event e = good;
  e.header.size = sizeof e + 8;
  EXPECT_FALSE(decode(e)) << "a header that claims another size";
  e = good;
  e.header.kind = ADAM_FW_EVENT_LOG + 1;
  EXPECT_FALSE(decode(e)) << "an unknown kind";
  e = good;
  e.verdict = ADAM_FW_VERDICTS;
  EXPECT_FALSE(decode(e)) << "an unknown verdict";
  e = good;
  e.family = 5;
  EXPECT_FALSE(decode(e)) << "an unknown family";
}

}  // namespace
}  // namespace adam::fw
