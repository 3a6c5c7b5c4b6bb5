#pragma once
// Compiles a ruleset into the tables of the firewall's kernel classifier
// (bpf/adam/firewall.h, docs/firewall.md), as plain data that Datapath writes into
// one generation of the BPF maps, and walks those tables the way
// bpf/firewall.bpf.c does. Pure C++: the compile step is testable against
// reference_classify() without a kernel.
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "adam/firewall.h"  // table layouts and limits
#include "plugins/firewall/rule.h"

namespace adam::fw {

// One entry of an IPv6 address trie: the pool index of the rules whose
// prefixes in that field contain `prefix` (the packet's longest matching
// prefix).
struct PrefixEntry {
  Prefix prefix;
  uint32_t bitmap = 0;
};

// The IPv4 table of one address field: a 16-4-4-4-4 multibit trie (see
// struct adam_fw_v4_chunk in bpf/adam/firewall.h).
struct Ipv4Table {
  std::vector<uint32_t> root;            // ADAM_FW_V4_ROOT_SIZE entries
  std::vector<adam_fw_v4_chunk> chunks;  // an entry ADAM_FW_V4_CHUNK | i points at chunks[i]
};

// One generation's content. A dimension whose `uses` flag is clear has no
// table here (its vectors are empty): every packet gets its unconditioned
// bitmap without a lookup.
struct CompiledRuleset {
  adam_fw_generation generation{};   // rule_count, default_verdict, uses, unconditioned
  std::vector<adam_fw_bitmap> pool;  // deduplicated bitmaps; tables hold indexes into it
  Ipv4Table src4, dst4;
  std::vector<PrefixEntry> src6, dst6;       // the 0-length prefix included
  std::vector<uint32_t> proto;               // ADAM_FW_PROTOS entries
  std::vector<uint32_t> src_port, dst_port;  // ADAM_FW_PORTS entries each
  std::map<uint32_t, uint32_t> iface;        // ifindex -> pool index, for ifindexes rules name
  std::vector<adam_fw_rule> rules;           // by position (evaluation order of the enabled rules)
};

// An action as the BPF program's verdict (ADAM_FW_VERDICT_*), and back.
inline uint32_t verdict_of(Action action) {
  return action == Action::drop ? ADAM_FW_VERDICT_DROP : ADAM_FW_VERDICT_PASS;
}
inline Action action_of(uint32_t verdict) {
  return verdict == ADAM_FW_VERDICT_DROP ? Action::drop : Action::pass;
}

// Rule id -> counter slot (index of the per-CPU array fw_rule_stats).
using CounterSlots = std::map<uint32_t, uint32_t>;

// Counter slots for every rule of `ruleset`, enabled or not: a rule id in
// `current` keeps its slot (its counters continue across rulesets); a new id
// gets the lowest slot no rule of `current` holds, so that packets still
// counted under the old ruleset do not land on a new rule's slot, and only
// when those run out a slot freed by this ruleset. Throws
// std::invalid_argument when the ruleset has more than ADAM_FW_MAX_RULES rules.
CounterSlots assign_counter_slots(const CounterSlots& current, const Ruleset& ruleset);

// The counter slot for one rule added to a ruleset whose rules hold
// `current`: the lowest slot none of them holds. Throws std::invalid_argument
// when all ADAM_FW_MAX_RULES are held.
uint32_t slot_for_added(const CounterSlots& current);

// An enabled rule as an entry of a generation's added-rules table (struct
// adam_fw_added_rule in bpf/adam/firewall.h), or nullopt when one of its fields
// has more than ADAM_FW_ADDED_VALUES values (such a rule must be compiled).
// Throws std::invalid_argument as compile() does for a malformed rule.
std::optional<adam_fw_added_rule> added_rule_entry(const Rule& rule, const IfindexMap& ifindexes,
                                                   uint32_t counter_slot);

// Throws std::invalid_argument naming the rule and field, or the limit that
// overflowed: a rule id of 0 or used twice, a malformed prefix (unknown
// family, length past the family's width, host bits set), a port range with
// lo > hi, a rule without a slot in `slots`, an IPv4 address table of more
// than ADAM_FW_V4_MAX_CHUNKS chunks, more than ADAM_FW_MAX_PREFIXES IPv6
// prefixes in one field, more than ADAM_FW_MAX_RULE_IFACES interfaces, more
// than ADAM_FW_POOL_SIZE distinct bitmaps.
CompiledRuleset compile(const Ruleset& ruleset, const IfindexMap& ifindexes, const CounterSlots& slots);

// Classifies a packet with compiled tables, step by step as the BPF program
// does (IPv4 table walk or longest IPv6 prefix, array lookups, AND of the
// summaries, first non-zero word).
Decision lookup(const CompiledRuleset& tables, const PacketKey& packet);

}  // namespace adam::fw
