#pragma once
// The firewall's rules as JSON (the API's and the store's format, DESIGN.md
// "Firewall rules") and ClassBench filter files as rules. Validation is
// strict and names what is wrong: every bad input is an ApiError 400 whose
// field is a path into the input ("priority", "match.dst_port[1]",
// "rules[3].match.src[0]") and whose message quotes the bad value; more rules
// than the firewall holds is a 422 naming "rules". docs/firewall.md ("API")
// lists the decisions.
//
// Also built into adamctl (ClassBench import, rule tables): it depends on
// nothing but the rule model, core/errors.h and nlohmann::json.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/firewall/rule.h"

namespace adam::fw {

// The most rules a ruleset may have: what the kernel tables hold
// (ADAM_FW_MAX_RULES in bpf/adam/firewall.h; rule_store.cpp checks they agree).
inline constexpr size_t kMaxRules = 10240;
inline constexpr size_t kMaxNameLength = 128;
inline constexpr size_t kMaxDescriptionLength = 1024;

std::string action_name(Action action);         // "pass" / "drop"
nlohmann::json proto_json(uint8_t proto);       // "tcp", "udp", "icmp", "icmpv6", else the number
std::string prefix_text(const Prefix& prefix);  // "203.0.113.0/24", "2001:db8::/32"

// A rule's own fields: name, description, priority, action, enabled, log and
// match (only the fields that restrict something). Without id, links and
// counters: the API's rule resource adds those.
nlohmann::json rule_to_json(const Rule& rule);

// Parses a rule. `path` is where the rule sits in the request ("rules[3]"),
// prepended to the field of every error. An "id" (positive integer) is read
// into Rule::id, 0 when absent: the caller decides whether it accepts one.
// The read-only output fields "links" and "counters" are ignored, so a rule
// read from the API can be sent back as it is.
Rule rule_from_json(const nlohmann::json& j, const std::string& path = "");

// Every rule, disabled ones too, in evaluation order (priority, then id):
// the order in which listings show them.
std::vector<const Rule*> listing_order(const Ruleset& ruleset);

// {"default": "pass|drop", "rules": [rule + "id", ...]}, in listing order.
nlohmann::json ruleset_to_json(const Ruleset& ruleset);
// The inverse; "default" defaults to pass, rules keep the ids they carry.
Ruleset ruleset_from_json(const nlohmann::json& j);

// Throws the 422 (field "rules", naming the count) when `count` rules are
// more than kMaxRules.
void check_rule_count(size_t count);

// One line describing a rule's match JSON for tables, e.g.
// "src 203.0.113.0/24 proto tcp dport 22,8000-8080"; "any" when empty.
std::string match_summary(const nlohmann::json& match);

// A packet for explain: {"src", "dst", "proto", "src_port"?, "dst_port"?,
// "iface"?}. Addresses of one family; ports only (and defaulting to 0) for
// tcp and udp. PacketKey::ifindex stays 0: `iface` names the interface.
struct PacketQuery {
  PacketKey packet;
  std::string iface;  // empty: not given
};
PacketQuery packet_query_from_json(const nlohmann::json& j);

// A ClassBench filter file (one filter a line:
// "@SRC/LEN\tDST/LEN\tLO : HI\tLO : HI\tPROTO/MASK\tFLAGS/MASK") as drop
// rules named "classbench line N" with priority 10 × N, so line order is
// evaluation order. Match-anything fields are left out; a filter with ports
// and any protocol gets proto [tcp, udp] (ports exist only there); flags are
// ignored. A bad line is a 400 naming it ("line 12"), too many a 422.
std::vector<Rule> parse_classbench(std::string_view text);
// The inverse: the enabled rules in evaluation order as ClassBench filters,
// what parse_classbench() reads back to the same matches. ClassBench has
// no action, one IPv4 prefix and one port range per field and no
// interface: a pass rule, an IPv6 prefix, several values in a field or an
// iface is a 422 naming the rule (`rules[i]`, i in evaluation order).
std::string format_classbench(const Ruleset& ruleset);

}  // namespace adam::fw
