#include "plugins/firewall/log_event.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "adam/firewall.h"  // struct adam_fw_log_event
#include "plugins/firewall/classifier.h"
#include "plugins/firewall/rule_json.h"

namespace adam::fw {
namespace {

// Header, 4 words, 4 bytes of family/has_ports/proto, 2 ports, 2 addresses:
// any padding would be bytes the program leaves unwritten.
static_assert(sizeof(adam_fw_log_event) == 16 + 16 + 8 + 32, "struct adam_fw_log_event has padding");

// Long enough that a log flood costs one lookup per interface every few
// seconds, short enough that a renamed interface soon shows its new name.
constexpr std::chrono::seconds kNameTtl{5};
// The firewall runs on at most 64 interfaces; more entries are stale indexes
// of interfaces that came and went.
constexpr size_t kMaxNames = 256;

std::string address_text(uint8_t family, const uint8_t* addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf, sizeof buf);
  return buf;
}

}  // namespace

std::string InterfaceNames::name(uint32_t ifindex) {
  const auto now = std::chrono::steady_clock::now();
  auto it = cache_.find(ifindex);
  if (it != cache_.end() && now - it->second.looked_up < kNameTtl) return it->second.name;
  if (it == cache_.end() && cache_.size() >= kMaxNames) cache_.clear();
  char buf[IF_NAMESIZE] = {};
  std::string found = ::if_indextoname(ifindex, buf) ? buf : "";
  cache_[ifindex] = Entry{found, now};
  return found;
}

bool decode_log_event(const adam_event_header& header, std::span<const std::byte> payload, DecodedRecord& out,
                      InterfaceNames& names) {
  adam_fw_log_event e;
  if (header.kind != ADAM_FW_EVENT_LOG || header.size != sizeof e ||
      payload.size() != sizeof e - sizeof e.header)
    return false;
  std::memcpy(&e.header, &header, sizeof header);
  std::memcpy(reinterpret_cast<std::byte*>(&e) + sizeof e.header, payload.data(), payload.size());
  if (e.verdict != ADAM_FW_VERDICT_PASS && e.verdict != ADAM_FW_VERDICT_DROP) return false;
  if (e.family != 0 && e.family != 4 && e.family != 6) return false;

  const Action action = action_of(e.verdict);
  nlohmann::json data = {{"rule_id", e.rule_id}, {"action", action_name(action)}, {"len", e.len}};
  const std::string iface = names.name(e.ifindex);
  if (iface.empty())
    data["iface"] = e.ifindex;
  else
    data["iface"] = iface;
  if (e.family != 0) {
    data["src"] = address_text(e.family, e.src);
    data["dst"] = address_text(e.family, e.dst);
  }
  if (e.proto < ADAM_FW_PROTOS) data["proto"] = proto_json(static_cast<uint8_t>(e.proto));
  if (e.has_ports) {
    data["src_port"] = e.sport;
    data["dst_port"] = e.dport;
  }
  out.kind = action == Action::drop ? "firewall.drop" : "firewall.pass";
  out.data = data.dump();
  return true;
}

}  // namespace adam::fw
