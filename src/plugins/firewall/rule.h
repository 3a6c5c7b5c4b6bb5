#pragma once
// The firewall's rule model (../shared/DESIGN.md, "Firewall rules"): a rule is
// a chain of conditions joined by AND; several values in one field are OR; an
// omitted (empty) field matches anything. Rules are evaluated in ascending
// priority (ties: lower id first); the first enabled rule whose every
// condition matches decides; no match: the ruleset's default.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace adam::fw {

enum class Action : uint8_t { pass = 0, drop = 1 };

struct Prefix {
  uint8_t family = 4;              // 4 or 6
  uint8_t len = 0;                 // 0..32 or 0..128
  std::array<uint8_t, 16> addr{};  // network byte order; IPv4 in addr[0..3]; host bits zero
  bool operator==(const Prefix&) const = default;
};

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;  // inclusive, lo <= hi
  bool operator==(const PortRange&) const = default;
};

// IP protocol numbers used by name.
inline constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoIcmpv6 = 58;

struct Match {
  std::vector<Prefix> src, dst;
  std::vector<uint8_t> proto;
  std::vector<PortRange> src_port, dst_port;  // only with proto tcp/udp (or none: then tcp/udp packets only)
  std::vector<std::string> iface;             // interface names
  bool operator==(const Match&) const = default;
};

struct Rule {
  uint32_t id = 0;  // stable, assigned by the store; never 0 once stored
  std::string name;
  std::string description;
  int32_t priority = 0;
  Action action = Action::drop;
  bool enabled = true;
  bool log = false;
  Match match;
  bool operator==(const Rule&) const = default;
};

struct Ruleset {
  Action default_action = Action::pass;
  std::vector<Rule> rules;  // any order; evaluation order is by (priority, id)
};

// The evaluation order of a ruleset's rules (enabled ones only).
std::vector<const Rule*> evaluation_order(const Ruleset& ruleset);

// A packet as the classifier sees it (what the kernel parses out of a frame).
struct PacketKey {
  uint8_t family = 4;
  std::array<uint8_t, 16> src{}, dst{};  // network byte order
  uint8_t proto = 0;
  bool has_ports = false;  // tcp/udp and not a non-first fragment
  uint16_t src_port = 0, dst_port = 0;
  uint32_t ifindex = 0;
};

struct Decision {
  Action action = Action::pass;
  uint32_t rule_id = 0;  // 0: the default decided
};

// Interface names of rules resolved to ifindexes; a name missing here matches
// no packet.
using IfindexMap = std::map<std::string, uint32_t>;

// The plain reference classifier: walks the rules in evaluation order.
Decision reference_classify(const Ruleset& ruleset, const PacketKey& packet,
                            const IfindexMap& ifindexes = {});

}  // namespace adam::fw
