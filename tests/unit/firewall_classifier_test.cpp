// The firewall's rule compiler and its table walk (classifier.h), against the
// plain reference classifier (rule.h), without a kernel.
#include "plugins/firewall/classifier.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "support/firewall_random.h"

namespace adam::fw {
namespace {

using test::make_packet;
using test::make_rule;
using test::RandomRules;

const IfindexMap kInterfaces = {{"lo", 1}, {"eth0", 2}, {"eth1", 3}, {"eth2", 7}};

Prefix v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t len) { return Prefix{4, len, {a, b, c, d}}; }

PacketKey tcp4(std::array<uint8_t, 4> src, std::array<uint8_t, 4> dst, uint16_t sport, uint16_t dport) {
  return make_packet(src, dst, kProtoTcp, sport, dport, 2);
}

CompiledRuleset compile_fresh(const Ruleset& rs, const IfindexMap& ifindexes = kInterfaces) {
  return compile(rs, ifindexes, assign_counter_slots({}, rs));
}

// compile() must throw std::invalid_argument whose message contains `text`.
void expect_refused(const Ruleset& rs, const std::string& text, const IfindexMap& ifindexes = kInterfaces) {
  try {
    compile_fresh(rs, ifindexes);
    ADD_FAILURE() << "compiled; expected an error containing '" << text << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST(FirewallReference, OrdersByPriorityThenIdAndSkipsDisabledRules) {
  Ruleset rs;
  rs.rules = {make_rule(9, 5, Action::drop, {}), make_rule(4, 5, Action::pass, {}),
              make_rule(2, 1, Action::drop, {}), make_rule(1, 7, Action::pass, {})};
  rs.rules[2].enabled = false;
  std::vector<uint32_t> ids;
  for (const Rule* r : evaluation_order(rs)) ids.push_back(r->id);
  EXPECT_EQ(ids, (std::vector<uint32_t>{4, 9, 1}));
  EXPECT_EQ(reference_classify(rs, tcp4({1, 2, 3, 4}, {5, 6, 7, 8}, 1, 2)).rule_id, 4u);
}

TEST(FirewallReference, PortConditionsMatchOnlyPacketsWithPorts) {
  Ruleset rs;
  rs.default_action = Action::drop;
  Match ssh;
  ssh.dst_port = {{22, 22}};
  rs.rules = {make_rule(1, 0, Action::pass, ssh)};
  PacketKey p = tcp4({1, 1, 1, 1}, {2, 2, 2, 2}, 4000, 22);
  EXPECT_EQ(reference_classify(rs, p).rule_id, 1u);
  p.proto = kProtoIcmp;
  p.has_ports = false;
  EXPECT_EQ(reference_classify(rs, p).rule_id, 0u);
  EXPECT_EQ(reference_classify(rs, p).action, Action::drop);
  p.proto = kProtoTcp;  // a non-first fragment
  EXPECT_EQ(reference_classify(rs, p).rule_id, 0u);
}

TEST(FirewallReference, InterfaceNamesResolveThroughTheMap) {
  Ruleset rs;
  Match on_eth1;
  on_eth1.iface = {"eth1", "nope0"};
  rs.rules = {make_rule(1, 0, Action::drop, on_eth1)};
  PacketKey p = tcp4({1, 1, 1, 1}, {2, 2, 2, 2}, 1, 2);
  p.ifindex = 3;
  EXPECT_EQ(reference_classify(rs, p, kInterfaces).rule_id, 1u);
  p.ifindex = 2;
  EXPECT_EQ(reference_classify(rs, p, kInterfaces).rule_id, 0u);
  EXPECT_EQ(reference_classify(rs, p, {}).rule_id, 0u);
}

TEST(FirewallClassifier, EmptyRulesetNeedsNoTables) {
  Ruleset rs;
  rs.default_action = Action::drop;
  const CompiledRuleset t = compile_fresh(rs);
  EXPECT_EQ(t.generation.rule_count, 0u);
  EXPECT_EQ(t.generation.default_verdict, uint32_t{ADAM_FW_VERDICT_DROP});
  EXPECT_TRUE(t.pool.empty());
  EXPECT_EQ(lookup(t, tcp4({1, 1, 1, 1}, {2, 2, 2, 2}, 1, 2)).action, Action::drop);
}

TEST(FirewallClassifier, DimensionsNoRuleUsesHaveNoTable) {
  Ruleset rs;
  Match m;
  m.dst = {v4(198, 51, 100, 0, 24)};
  rs.rules = {make_rule(1, 0, Action::drop, m)};
  const CompiledRuleset t = compile_fresh(rs);
  EXPECT_EQ(t.generation.uses, ADAM_FW_USES_DST4);
  EXPECT_TRUE(t.src4.root.empty());
  EXPECT_EQ(t.dst4.root.size(), size_t{ADAM_FW_V4_ROOT_SIZE});
  EXPECT_EQ(t.dst4.chunks.size(), 2u);  // a /24 ends 8 bits past the root: two 4-bit levels
  EXPECT_TRUE(t.src6.empty());
  EXPECT_TRUE(t.dst6.empty());
  EXPECT_TRUE(t.proto.empty());
  EXPECT_TRUE(t.src_port.empty());
  EXPECT_TRUE(t.iface.empty());
  EXPECT_EQ(lookup(t, tcp4({1, 1, 1, 1}, {198, 51, 100, 9}, 1, 2)).rule_id, 1u);
  EXPECT_EQ(lookup(t, tcp4({1, 1, 1, 1}, {198, 51, 101, 9}, 1, 2)).rule_id, 0u);
}

TEST(FirewallClassifier, IdenticalBitmapsAreStoredOnce) {
  // 100 rules on the same prefix and ports: the pool holds a handful of
  // bitmaps, not one per rule and table entry.
  Ruleset rs;
  Match m;
  m.src = {v4(203, 0, 113, 0, 24)};
  m.proto = {kProtoTcp};
  m.dst_port = {{80, 80}};
  for (uint32_t id = 1; id <= 100; ++id) rs.rules.push_back(make_rule(id, 0, Action::drop, m));
  const CompiledRuleset t = compile_fresh(rs);
  EXPECT_LE(t.pool.size(), 6u);
  const std::set<uint32_t> port_bitmaps(t.dst_port.begin(), t.dst_port.end());
  EXPECT_EQ(port_bitmaps.size(), 2u);  // port 80, every other port
  EXPECT_EQ(lookup(t, tcp4({203, 0, 113, 7}, {1, 1, 1, 1}, 1, 80)).rule_id, 1u);
}

TEST(FirewallClassifier, SummaryBitsMarkTheNonZeroWords) {
  Ruleset rs;
  for (uint32_t id = 1; id <= 200; ++id) {
    Match m;
    m.dst_port = {{static_cast<uint16_t>(id), static_cast<uint16_t>(id)}};
    rs.rules.push_back(make_rule(id, 0, Action::drop, m));
  }
  const CompiledRuleset t = compile_fresh(rs);
  for (const adam_fw_bitmap& b : t.pool) {
    for (size_t w = 0; w < ADAM_FW_BITMAP_WORDS; ++w) {
      const bool summary = (b.summary[w / 64] >> (w % 64)) & 1;
      EXPECT_EQ(summary, b.words[w] != 0) << "word " << w;
    }
  }
  // Rule 130 sits in word 2: the search skips words 0 and 1 (zero in the port's bitmap).
  EXPECT_EQ(lookup(t, tcp4({1, 1, 1, 1}, {2, 2, 2, 2}, 9, 130)).rule_id, 130u);
}

// The heart of it: on random rulesets and packets aimed at rule edges, the
// compiled tables decide exactly as the reference does.
TEST(FirewallClassifier, AgreesWithTheReferenceOnRandomRulesets) {
  RandomRules gen(20261126, kInterfaces);
  for (size_t count : {1, 2, 5, 10, 50, 100, 300, 1000, 2500, 5000}) {
    int packets = 0, matched = 0;
    size_t deepest = 0;  // the deepest position that decided a packet
    for (int round = 0; round < (count <= 100 ? 8 : 2); ++round) {
      const Ruleset rs = gen.ruleset(count);
      const CompiledRuleset t = compile_fresh(rs);
      std::map<uint32_t, size_t> position_of;
      for (size_t pos = 0; pos < t.rules.size(); ++pos) position_of[t.rules[pos].id] = pos;
      for (int i = 0; i < (count >= 2500 ? 800 : 2000); ++i, ++packets) {
        const PacketKey p = gen.packet(rs);
        const Decision want = reference_classify(rs, p, kInterfaces);
        const Decision got = lookup(t, p);
        ASSERT_EQ(got.rule_id, want.rule_id) << count << " rules, round " << round << ", packet " << i;
        ASSERT_EQ(got.action, want.action) << count << " rules, round " << round << ", packet " << i;
        if (want.rule_id) {
          ++matched;
          deepest = std::max(deepest, position_of.at(want.rule_id));
        }
      }
    }
    // The packets exercise the rules, deep ones too, not only the default.
    if (count >= 10) {
      EXPECT_GT(matched, packets / 10) << count << " rules";
      EXPECT_GT(deepest, count / 2) << count << " rules";
    }
  }
}

TEST(FirewallClassifier, RefusesInvalidRules) {
  auto one = [](Rule r) {
    Ruleset rs;
    rs.rules = {std::move(r)};
    return rs;
  };
  expect_refused(one(make_rule(0, 0, Action::drop, {})), "rule id 0");
  Ruleset twice;
  twice.rules = {make_rule(5, 0, Action::drop, {}), make_rule(5, 1, Action::pass, {})};
  twice.rules[1].enabled = false;  // disabled rules count too
  expect_refused(twice, "rule 5: the id is used twice");
  Match host_bits;
  host_bits.src = {Prefix{4, 8, {10, 0, 0, 1}}};
  expect_refused(one(make_rule(1, 0, Action::drop, host_bits)),
                 "rule 1: src prefix 10.0.0.1/8 has host bits set");
  Match too_long;
  too_long.dst = {Prefix{4, 33, {}}};
  expect_refused(one(make_rule(1, 0, Action::drop, too_long)), "rule 1: dst prefix length 33 exceeds 32");
  Match family;
  family.dst = {Prefix{5, 0, {}}};
  expect_refused(one(make_rule(1, 0, Action::drop, family)), "unknown family 5");
  Match backwards;
  backwards.dst_port = {{90, 80}};
  expect_refused(one(make_rule(1, 0, Action::drop, backwards)), "rule 1: dst_port range 90-80 is empty");
}

TEST(FirewallClassifier, RefusesMoreRulesThanItHasPositions) {
  Ruleset rs;
  for (uint32_t id = 1; id <= ADAM_FW_MAX_RULES + 1; ++id)
    rs.rules.push_back(make_rule(id, 0, Action::drop, {}));
  EXPECT_THROW(assign_counter_slots({}, rs), std::invalid_argument);
  rs.rules.pop_back();
  EXPECT_NO_THROW(compile_fresh(rs));
}

TEST(FirewallClassifier, RefusesMoreIpv6PrefixesThanATrieHolds) {
  Match m;
  for (uint32_t i = 0; i < ADAM_FW_MAX_PREFIXES; ++i)  // + the 0-length prefix: one too many
    m.src.push_back(
        Prefix{6, 48, {0x20, 0x01, 0x0d, 0xb8, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)}});
  Ruleset rs;
  rs.rules = {make_rule(1, 0, Action::drop, m)};
  expect_refused(rs, "16385 src IPv6 prefixes, more than the 16384");
  rs.rules[0].match.src.pop_back();
  EXPECT_NO_THROW(compile_fresh(rs));
}

TEST(FirewallClassifier, RefusesIpv4TablesOfMoreChunksThanItHolds) {
  // /32s each in a /16 of its own: four chunks each.
  Match m;
  const uint32_t hosts = ADAM_FW_V4_MAX_CHUNKS / 4 + 1;
  for (uint32_t i = 0; i < hosts; ++i)
    m.dst.push_back(v4(static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i), 1, 1, 32));
  Ruleset rs;
  rs.rules = {make_rule(1, 0, Action::drop, m)};
  expect_refused(rs, "IPv4 dst prefixes need more than 49152 chunks");
}

TEST(FirewallClassifier, Ipv4TableResolvesNestedPrefixes) {
  // /8 > /20 > /30 > /32 nested, a /17 beside: every level of the table.
  Ruleset rs;
  const std::vector<std::pair<Prefix, uint32_t>> prefixes = {{v4(10, 0, 0, 0, 8), 1},
                                                             {v4(10, 1, 16, 0, 20), 2},
                                                             {v4(10, 1, 18, 4, 30), 3},
                                                             {v4(10, 1, 18, 6, 32), 4},
                                                             {v4(10, 2, 128, 0, 17), 5}};
  for (const auto& [p, id] : prefixes) {
    Match m;
    m.dst = {p};
    rs.rules.push_back(make_rule(id, -static_cast<int32_t>(id), Action::drop, m));  // longest first
  }
  const CompiledRuleset t = compile_fresh(rs);
  auto to = [&](uint8_t b, uint8_t c, uint8_t d) {
    return lookup(t, tcp4({1, 1, 1, 1}, {10, b, c, d}, 1, 2)).rule_id;
  };
  EXPECT_EQ(to(1, 18, 6), 4u);
  EXPECT_EQ(to(1, 18, 7), 3u);
  EXPECT_EQ(to(1, 18, 3), 2u);
  EXPECT_EQ(to(1, 31, 255), 2u);
  EXPECT_EQ(to(1, 32, 0), 1u);
  EXPECT_EQ(to(2, 128, 0), 5u);
  EXPECT_EQ(to(2, 127, 255), 1u);
  EXPECT_EQ(lookup(t, tcp4({1, 1, 1, 1}, {11, 1, 18, 6}, 1, 2)).rule_id, 0u);
}

TEST(FirewallClassifier, RefusesMoreInterfacesThanItsTableHolds) {
  IfindexMap many;
  Match m;
  for (uint32_t i = 1; i <= ADAM_FW_MAX_RULE_IFACES + 1; ++i) {
    m.iface.push_back("if" + std::to_string(i));
    many["if" + std::to_string(i)] = i;
  }
  Ruleset rs;
  rs.rules = {make_rule(1, 0, Action::drop, m)};
  expect_refused(rs, "257 interfaces", many);
}

TEST(FirewallClassifier, RefusesRulesetsThatOverflowTheBitmapPool) {
  // Unique source hosts (one bitmap each) and overlapping destination port
  // ranges (each elementary interval holds a distinct set of about 100
  // rules): about 30,000 distinct bitmaps.
  Ruleset rs;
  for (uint32_t id = 1; id <= ADAM_FW_MAX_RULES; ++id) {
    Match m;
    m.src = {v4(10, static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 1, 32)};
    m.dst_port = {{static_cast<uint16_t>(id * 4), static_cast<uint16_t>(id * 4 + 400)}};
    rs.rules.push_back(make_rule(id, 0, Action::drop, m));
  }
  expect_refused(rs, "distinct rule bitmaps (the firewall's bitmap pool)");
}

TEST(FirewallClassifier, TenThousandRulesWithUniqueHostsFit) {
  // The documented sizing: 10,000 rules with unique source and destination
  // /32s fit in the pool.
  Ruleset rs;
  for (uint32_t id = 1; id <= 10000; ++id) {
    Match m;
    m.src = {v4(10, static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 1, 32)};
    m.dst = {v4(11, static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 1, 32)};
    m.proto = {kProtoTcp};
    m.dst_port = {{22, 22}, {443, 443}};
    rs.rules.push_back(make_rule(id, 0, Action::drop, m));
  }
  const CompiledRuleset t = compile_fresh(rs);
  EXPECT_LE(t.pool.size(), size_t{ADAM_FW_POOL_SIZE});
  EXPECT_EQ(lookup(t, tcp4({10, 39, 16, 1}, {11, 39, 16, 1}, 5000, 443)).rule_id, 10000u);
}

TEST(FirewallCounterSlots, KeepSlotsOfKeptIdsAndAvoidSlotsStillInUse) {
  Ruleset first;
  first.rules = {make_rule(10, 0, Action::drop, {}), make_rule(20, 0, Action::drop, {}),
                 make_rule(30, 0, Action::drop, {})};
  const CounterSlots a = assign_counter_slots({}, first);
  EXPECT_EQ(a, (CounterSlots{{10, 0}, {20, 1}, {30, 2}}));

  Ruleset second;  // 20 goes, 40 comes: 40 must not take 20's slot 1, still counted under the old ruleset
  second.rules = {make_rule(30, 0, Action::drop, {}), make_rule(10, 0, Action::drop, {}),
                  make_rule(40, 0, Action::drop, {})};
  second.rules[0].enabled = false;  // disabled rules keep their slots
  const CounterSlots b = assign_counter_slots(a, second);
  EXPECT_EQ(b, (CounterSlots{{10, 0}, {30, 2}, {40, 3}}));
}

TEST(FirewallCounterSlots, ReuseFreedSlotsOnlyWhenNoOtherIsLeft) {
  Ruleset full;
  for (uint32_t id = 1; id <= ADAM_FW_MAX_RULES; ++id)
    full.rules.push_back(make_rule(id, 0, Action::drop, {}));
  const CounterSlots a = assign_counter_slots({}, full);
  full.rules.back().id = ADAM_FW_MAX_RULES + 1;  // replaces the last rule
  const CounterSlots b = assign_counter_slots(a, full);
  EXPECT_EQ(b.at(ADAM_FW_MAX_RULES + 1), a.at(ADAM_FW_MAX_RULES));
  EXPECT_EQ(b.size(), size_t{ADAM_FW_MAX_RULES});
}

TEST(FirewallClassifier, RulesCarryTheirCounterSlots) {
  Ruleset rs;
  rs.rules = {make_rule(7, 0, Action::drop, {}), make_rule(3, 1, Action::pass, {})};
  rs.rules[0].log = true;
  const CompiledRuleset t = compile(rs, {}, CounterSlots{{7, 42}, {3, 5}});
  ASSERT_EQ(t.rules.size(), 2u);
  EXPECT_EQ(t.rules[0].id, 7u);
  EXPECT_EQ(t.rules[0].counter_slot, 42u);
  EXPECT_EQ(t.rules[0].verdict, uint32_t{ADAM_FW_VERDICT_DROP});
  EXPECT_EQ(t.rules[0].log, 1u);
  EXPECT_EQ(t.rules[1].counter_slot, 5u);
  EXPECT_THROW(compile(rs, {}, CounterSlots{{7, 42}}), std::invalid_argument);
}

}  // namespace
}  // namespace adam::fw
