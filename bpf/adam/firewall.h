/* Types and constants shared by the firewall's XDP program (firewall.bpf.c)
 * and its C++ side (src/plugins/firewall/). Fixed-width types only, so both
 * sides agree on every layout.
 *
 * The classifier is a bit-vector search with an aggregated summary (see
 * docs/firewall.md): the enabled rules, in evaluation order, get positions
 * 0..N-1; per packet and per dimension (source, destination, protocol,
 * source port, destination port, interface) a lookup yields a bitmap of the
 * rules that dimension allows; the lowest bit set in the AND of the bitmaps
 * is the first matching rule.
 *
 * Every table exists twice, once per generation (ADAM_FW_GENERATIONS): the
 * program reads the active generation (fw_active) once per packet, userspace
 * rewrites the other one and then flips fw_active, so a packet sees either
 * the old ruleset or the new one. */
#ifndef ADAM_BPF_FIREWALL_H
#define ADAM_BPF_FIREWALL_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#include "adam/events.h" /* struct adam_event_header of the log records */

/* Verdicts: index of the fw_totals per-CPU array, and a rule's action. */
#define ADAM_FW_VERDICT_PASS 0
#define ADAM_FW_VERDICT_DROP 1
#define ADAM_FW_VERDICTS 2

/* How many interfaces the firewall can be started on at once (fw_ifaces). */
#define ADAM_FW_MAX_IFACES 64

/* Value of fw_totals (one per CPU and verdict) and of fw_rule_stats (one per
 * CPU and counter slot). */
struct adam_fw_counter {
	__u64 packets;
	__u64 bytes;
};

/* Value of fw_ifaces (key: __u32 ifindex). Reserved for per-interface
 * settings; 1 for now. */
#define ADAM_FW_IFACE_ON 1

/* fw_iface_bits mirrors fw_ifaces for ifindexes below ADAM_FW_IFINDEX_BITS
 * as a bitmap in an array (bit i of word w: ifindex w * 64 + i): every
 * packet asks whether its interface is a firewall interface, and an array
 * lookup costs a fraction of a hash lookup. Larger ifindexes use fw_ifaces. */
#define ADAM_FW_IFINDEX_BITS 65536

/* --- Limits ------------------------------------------------------------ */

/* Rules in one ruleset, enabled or not (each has a counter slot); also the
 * number of positions in a bitmap. */
#define ADAM_FW_MAX_RULES 10240
#define ADAM_FW_BITMAP_WORDS (ADAM_FW_MAX_RULES / 64)			   /* 160 */
#define ADAM_FW_SUMMARY_WORDS ((ADAM_FW_BITMAP_WORDS + 63) / 64) /* 3 */
/* Distinct rule bitmaps one generation can hold (fw_pool). A ruleset needs
 * about one per distinct prefix in each address table, one per elementary
 * port interval, and a few more; 10,000 rules with unique source and
 * destination prefixes of one family fit. */
#define ADAM_FW_POOL_SIZE 24576
/* IPv6 prefixes per address trie (source, destination) and generation. */
#define ADAM_FW_MAX_PREFIXES 16384
/* IPv4 table chunks per address field and generation (see adam_fw_v4_chunk):
 * a prefix longer than /16 needs up to one chunk per 4 bits past the 16th,
 * shared with the prefixes around it; 10,240 /32s in distinct /24s fit. */
#define ADAM_FW_V4_MAX_CHUNKS 49152
/* Distinct interfaces the rules of one generation may name. */
#define ADAM_FW_MAX_RULE_IFACES 256
#define ADAM_FW_GENERATIONS 2
#define ADAM_FW_PROTOS 256
#define ADAM_FW_PORTS 65536

/* --- Tables -------------------------------------------------------------- */

/* The dimensions a rule conditions on; index of adam_fw_generation's
 * `unconditioned`. */
#define ADAM_FW_DIM_SRC 0
#define ADAM_FW_DIM_DST 1
#define ADAM_FW_DIM_PROTO 2
#define ADAM_FW_DIM_SPORT 3
#define ADAM_FW_DIM_DPORT 4
#define ADAM_FW_DIM_IFACE 5
#define ADAM_FW_DIMS 6

/* adam_fw_generation.uses: the tables a generation filled. A dimension no
 * rule conditions on costs no lookup: its bitmap is `unconditioned`. */
#define ADAM_FW_USES_SRC4 (1u << 0)
#define ADAM_FW_USES_SRC6 (1u << 1)
#define ADAM_FW_USES_DST4 (1u << 2)
#define ADAM_FW_USES_DST6 (1u << 3)
#define ADAM_FW_USES_PROTO (1u << 4)
#define ADAM_FW_USES_PORTS (1u << 5)
#define ADAM_FW_USES_IFACE (1u << 6)

/* Value of fw_gens (key: generation). */
struct adam_fw_generation {
	__u32 rule_count;      /* enabled rules; 0: the default decides, no lookups */
	__u32 default_verdict; /* ADAM_FW_VERDICT_* when no rule matches */
	__u32 uses;	       /* ADAM_FW_USES_* */
	/* Entries of fw_added in use (see struct adam_fw_added_rule). adamd
	 * writes an entry, then this count: the program reads it once, so it
	 * sees a rule completely or not at all. */
	__u32 added_count;
	/* Per dimension, the pool index of the rules without a condition on it.
	 * It stands for the dimension when its value is unknown (an unparsed
	 * frame, an unknown protocol, a packet without ports: for the port
	 * dimensions that is the rules without any port condition), when the
	 * packet's interface is named by no rule, and when `uses` says the
	 * dimension has no table. */
	__u32 unconditioned[ADAM_FW_DIMS];
};

/* Value of fw_pool (key: gen * ADAM_FW_POOL_SIZE + index): bit p of words
 * is the rule at position p; summary bit i says words[i] != 0, so the search
 * skips the zero words of the AND of all dimensions. */
struct adam_fw_bitmap {
	__u64 summary[ADAM_FW_SUMMARY_WORDS];
	__u64 words[ADAM_FW_BITMAP_WORDS];
};

/* IPv4 addresses: a multibit trie in arrays (16-4-4-4-4), so that a lookup
 * costs at most 5 array loads however many prefixes the rules name (an LPM
 * trie walk grows with them; docs/firewall.md has the measurements). The
 * root (fw_src4_root, fw_dst4_root; key gen * ADAM_FW_V4_ROOT_SIZE + the
 * address's top 16 bits) and each chunk entry hold a pool index, or
 * ADAM_FW_V4_CHUNK | the chunk (key gen * ADAM_FW_V4_MAX_CHUNKS + chunk in
 * fw_src4_chunks, fw_dst4_chunks) that resolves the next 4 bits. */
#define ADAM_FW_V4_ROOT_BITS 16
#define ADAM_FW_V4_ROOT_SIZE (1 << ADAM_FW_V4_ROOT_BITS)
#define ADAM_FW_V4_STRIDE 4
#define ADAM_FW_V4_LEVELS ((32 - ADAM_FW_V4_ROOT_BITS) / ADAM_FW_V4_STRIDE) /* 4 */
#define ADAM_FW_V4_CHUNK 0x80000000u

struct adam_fw_v4_chunk {
	__u32 entry[1 << ADAM_FW_V4_STRIDE];
};

/* Keys of the IPv6 LPM tries fw_src6 and fw_dst6 (value: __u32 pool index).
 * The generation is the first byte of the key, so prefixlen is 8 + the
 * address prefix length and each generation is a subtree of its own. The
 * compiler pads the struct; the padding lies past every prefix. */
struct adam_fw_lpm6_key {
	__u32 prefixlen;
	__u8 gen;
	__u8 addr[16];
};

#define ADAM_FW_LPM_GEN_BITS 8

/* Key of fw_iface (value: __u32 pool index). */
struct adam_fw_iface_key {
	__u32 gen;
	__u32 ifindex;
};

/* Value of fw_rules (key: gen * ADAM_FW_MAX_RULES + position). */
struct adam_fw_rule {
	__u32 id;
	__u32 counter_slot; /* index of fw_rule_stats; stable per rule id */
	__u32 verdict;	    /* ADAM_FW_VERDICT_* */
	__u32 log;	    /* 1: the rule asks for events */
	__s32 priority;	    /* with id, orders an added rule against the search's match */
};

/* --- Added rules ------------------------------------------------------- */

/* Adding one rule to a compiled generation would shift the positions of all
 * rules after it, i.e. rewrite most bitmaps (hundreds of ms at 10,000 rules).
 * Instead adamd appends a rule added (or enabled) to the active generation's
 * small table of added rules, which the program matches rule by rule after
 * the bit-vector search; the earlier in (priority, id) of the two matches
 * decides. Once rule changes pause, adamd recompiles the ruleset into the
 * other generation with this table empty and flips (docs/firewall.md). */
#define ADAM_FW_ADDED_RULES 16
/* Values per field an added rule may have; a rule with more is compiled. */
#define ADAM_FW_ADDED_VALUES 4

struct adam_fw_added_prefix {
	__u32 family; /* 4 or 6 */
	__u32 addr[4]; /* network byte order, host bits zero; IPv4 in addr[0] */
	__u32 mask[4];
};

struct adam_fw_port_range {
	__u16 lo, hi; /* inclusive, host byte order */
};

/* Value of fw_added (key: gen * ADAM_FW_ADDED_RULES + index). A count of 0
 * leaves the field unconditioned. */
struct adam_fw_added_rule {
	struct adam_fw_rule rule;
	__u32 src_count, dst_count, proto_count, sport_count, dport_count, iface_count;
	struct adam_fw_added_prefix src[ADAM_FW_ADDED_VALUES], dst[ADAM_FW_ADDED_VALUES];
	__u32 proto[ADAM_FW_ADDED_VALUES];
	struct adam_fw_port_range sport[ADAM_FW_ADDED_VALUES], dport[ADAM_FW_ADDED_VALUES];
	__u32 iface[ADAM_FW_ADDED_VALUES]; /* ifindexes; 0 (an unknown name) matches no packet */
};

/* Keys of the per-generation arrays. */
static inline __u32 adam_fw_pool_key(__u32 gen, __u32 index)
{
	return gen * ADAM_FW_POOL_SIZE + index;
}

static inline __u32 adam_fw_rule_key(__u32 gen, __u32 position)
{
	return gen * ADAM_FW_MAX_RULES + position;
}

static inline __u32 adam_fw_added_key(__u32 gen, __u32 index)
{
	return gen * ADAM_FW_ADDED_RULES + index;
}

static inline __u32 adam_fw_proto_key(__u32 gen, __u32 proto)
{
	return gen * ADAM_FW_PROTOS + proto;
}

static inline __u32 adam_fw_port_key(__u32 gen, __u32 port)
{
	return gen * ADAM_FW_PORTS + port;
}

static inline __u32 adam_fw_v4_root_key(__u32 gen, __u32 slot)
{
	return gen * ADAM_FW_V4_ROOT_SIZE + slot;
}

static inline __u32 adam_fw_v4_chunk_key(__u32 gen, __u32 chunk)
{
	return gen * ADAM_FW_V4_MAX_CHUNKS + chunk;
}

/* --- Explain ----------------------------------------------------------- */

/* XDP metadata in front of a frame that adamd runs through the program with
 * BPF_PROG_TEST_RUN to explain a decision. Seeing the magic, the program
 * counts nothing and writes its decision back into the metadata. Frames from
 * the wire carry no metadata here: the firewall is the chain's first slot and
 * the root program adds none. */
#define ADAM_FW_EXPLAIN_MAGIC 0x41464558 /* "AFEX" */
struct adam_fw_explain {
	__u32 magic;
	__u32 classified; /* set to 1 by the program once it decided */
	__u32 verdict;	  /* ADAM_FW_VERDICT_* */
	__u32 rule_id;	  /* 0: the default decided */
};

/* --- Log events -------------------------------------------------------- */

/* A packet decided by a rule with log = 1 becomes one record in the ring
 * buffer fw_events (adam/events.h), unless a rate limit refuses it: at most
 * adam_fw_log_config.rule_rate per rule and total_rate over all rules per
 * one-second window. What either limit refuses, and what the ring buffer
 * cannot take, is counted in fw_events_lost (ADAM_EVENT_LOST_*). */

/* adam_event_header.kind of the firewall's records. */
#define ADAM_FW_EVENT_LOG 1

/* The record; adamd's decoder (src/plugins/firewall/log_event.cpp) reads
 * this same struct. No padding: every byte is written by the program. */
struct adam_fw_log_event {
	struct adam_event_header header;
	__u32 rule_id;
	__u32 verdict;	 /* ADAM_FW_VERDICT_* of the rule */
	__u32 ifindex;	 /* the interface the packet arrived on */
	__u32 len;	 /* bytes of the frame */
	__u8 family;	 /* 4, 6, or 0: unparsed (no addresses, no protocol) */
	__u8 has_ports;	 /* 1: TCP/UDP with ports (sport, dport valid) */
	__u16 proto;	 /* IP protocol; ADAM_FW_PROTOS or more: unknown */
	__u16 sport, dport; /* host byte order */
	__u8 src[16], dst[16]; /* network byte order; IPv4 in the first 4 bytes, then zeros */
};

/* Value of fw_log_config (one element), written by adamd at every start. A
 * map rather than the program's read-only data: pinned with the other maps,
 * it holds for the program an earlier adamd left running, and it can change
 * without loading the program again. */
struct adam_fw_log_config {
	__u32 rule_rate;  /* events per second and rule; 0: none */
	__u32 total_rate; /* events per second over all rules; 0: none */
};

/* Value of fw_log_windows: one fixed one-second window of a rate limit
 * (key: a rule's counter_slot, or ADAM_FW_LOG_WINDOW_TOTAL for the limit
 * over all rules), shared by every CPU. */
struct adam_fw_log_window {
	__u64 start_ns; /* bpf_ktime_get_coarse_ns() of the window's first packet */
	__u64 count;	/* events admitted (plus those CPUs racing at the limit refused) */
};

#define ADAM_FW_LOG_WINDOW_TOTAL ADAM_FW_MAX_RULES
#define ADAM_FW_LOG_WINDOWS (ADAM_FW_MAX_RULES + 1)

#endif /* ADAM_BPF_FIREWALL_H */
