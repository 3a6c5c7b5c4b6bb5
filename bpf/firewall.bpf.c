// SPDX-License-Identifier: GPL-2.0
/* The firewall's programs: one classifier, two entry points. adam_firewall
 * runs at XDP, in slot ADAM_XDP_SLOT_FIREWALL of adamd's chain;
 * adam_firewall_tc runs at tc ingress (tcx), where XDP would cost more than
 * the classifier (veth). Each interface has one of the two.
 *
 * Packets from interfaces the firewall is not started on go on down the chain
 * untouched. Packets on a firewall interface are parsed (adam/packet.h),
 * classified against the active generation of the rule tables (bit-vector
 * search, see adam/firewall.h and docs/firewall.md), counted per rule and per
 * verdict, logged when their rule asks for it (rate-limited events in a ring
 * buffer), and then dropped or handed on to the next slot. Non-IP frames pass without
 * classification. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "adam/xdp_chain.h"
#include "adam/events.h"
#include "adam/firewall.h"
#include "adam/packet.h"

/* The interfaces (ifindex in adamd's network namespace) the firewall runs on. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ADAM_FW_MAX_IFACES);
	__type(key, __u32);
	__type(value, __u32);
} fw_ifaces SEC(".maps");

/* The same interfaces as a bitmap, for ifindexes below ADAM_FW_IFINDEX_BITS. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ADAM_FW_IFINDEX_BITS / 64);
	__type(key, __u32);
	__type(value, __u64);
} fw_iface_bits SEC(".maps");

/* Packets and bytes per verdict (ADAM_FW_VERDICT_*), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ADAM_FW_VERDICTS);
	__type(key, __u32);
	__type(value, struct adam_fw_counter);
} fw_totals SEC(".maps");

/* Packets and bytes per rule counter slot, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ADAM_FW_MAX_RULES);
	__type(key, __u32);
	__type(value, struct adam_fw_counter);
} fw_rule_stats SEC(".maps");

/* Rule id -> counter slot. Userspace bookkeeping, kept in a map so that it
 * is pinned with the counters and survives adamd restarts. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ADAM_FW_MAX_RULES);
	__type(key, __u32);
	__type(value, __u32);
} fw_slots SEC(".maps");

/* The generation packets are classified with (one element: 0 or 1). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fw_active SEC(".maps");

/* The rule tables, one copy per generation (keys: see adam/firewall.h). */
#define FW_ARRAY(name, entries, value_type)                           \
	struct {                                                      \
		__uint(type, BPF_MAP_TYPE_ARRAY);                     \
		__uint(max_entries, ADAM_FW_GENERATIONS * (entries)); \
		__type(key, __u32);                                   \
		__type(value, value_type);                            \
	} name SEC(".maps")

FW_ARRAY(fw_gens, 1, struct adam_fw_generation);
/* The deduplicated rule bitmaps every other table points into. */
FW_ARRAY(fw_pool, ADAM_FW_POOL_SIZE, struct adam_fw_bitmap);
/* Position -> the rule's id, verdict and counter slot. */
FW_ARRAY(fw_rules, ADAM_FW_MAX_RULES, struct adam_fw_rule);
/* Rules added since the generation was compiled, matched one by one. */
FW_ARRAY(fw_added, ADAM_FW_ADDED_RULES, struct adam_fw_added_rule);
/* IPv4 address -> pool index (see struct adam_fw_v4_chunk). */
FW_ARRAY(fw_src4_root, ADAM_FW_V4_ROOT_SIZE, __u32);
FW_ARRAY(fw_dst4_root, ADAM_FW_V4_ROOT_SIZE, __u32);
FW_ARRAY(fw_src4_chunks, ADAM_FW_V4_MAX_CHUNKS, struct adam_fw_v4_chunk);
FW_ARRAY(fw_dst4_chunks, ADAM_FW_V4_MAX_CHUNKS, struct adam_fw_v4_chunk);
/* Protocol or port -> pool index. */
FW_ARRAY(fw_proto, ADAM_FW_PROTOS, __u32);
FW_ARRAY(fw_sport, ADAM_FW_PORTS, __u32);
FW_ARRAY(fw_dport, ADAM_FW_PORTS, __u32);

/* IPv6 prefix -> pool index. */
#define FW_LPM_TRIE(name)                                                   \
	struct {                                                            \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                        \
		__uint(max_entries, ADAM_FW_GENERATIONS * ADAM_FW_MAX_PREFIXES); \
		__uint(map_flags, BPF_F_NO_PREALLOC);                       \
		__type(key, struct adam_fw_lpm6_key);                       \
		__type(value, __u32);                                       \
	} name SEC(".maps")

FW_LPM_TRIE(fw_src6);
FW_LPM_TRIE(fw_dst6);

/* Interface -> pool index, for the interfaces rules name; the others get
 * the generation's unconditioned interface bitmap. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ADAM_FW_GENERATIONS * ADAM_FW_MAX_RULE_IFACES);
	__type(key, struct adam_fw_iface_key);
	__type(value, __u32);
} fw_iface SEC(".maps");

/* The rule bitmaps of one packet, one per dimension. */
struct fw_bitmaps {
	const struct adam_fw_bitmap *src, *dst, *proto, *sport, *dport, *iface;
};

/* Pool index of the rules an IPv4 address allows: the root entry of its
 * top 16 bits, then one chunk per 4 more bits while the entry names a chunk.
 * Returns -1 on tables that contradict themselves. */
static __always_inline int fw_lookup_v4(void *root, void *chunks, __u32 gen, const __u8 *addr,
					__u32 *index)
{
	__u32 a = (__u32)addr[0] << 24 | (__u32)addr[1] << 16 | (__u32)addr[2] << 8 | addr[3];
	__u32 key = adam_fw_v4_root_key(gen, a >> ADAM_FW_V4_ROOT_BITS);
	__u32 *entry = bpf_map_lookup_elem(root, &key);
	__u32 e, level;

	if (!entry)
		return -1;
	e = *entry;
	for (level = 0; level < ADAM_FW_V4_LEVELS && (e & ADAM_FW_V4_CHUNK); level++) {
		__u32 shift = 32 - ADAM_FW_V4_ROOT_BITS - ADAM_FW_V4_STRIDE * (level + 1);
		struct adam_fw_v4_chunk *chunk;

		key = adam_fw_v4_chunk_key(gen, e & ~ADAM_FW_V4_CHUNK);
		chunk = bpf_map_lookup_elem(chunks, &key);
		if (!chunk)
			return -1;
		e = chunk->entry[(a >> shift) & ((1 << ADAM_FW_V4_STRIDE) - 1)];
	}
	if (e & ADAM_FW_V4_CHUNK)
		return -1;
	*index = e;
	return 0;
}

/* Pool index of the rules an IPv6 address allows: the value of its longest
 * prefix in the generation's trie. Returns -1 when the generation lacks the
 * 0-length prefix every filled trie has. */
static __always_inline int fw_lookup_v6(void *trie, __u32 gen, const __u8 *addr, __u32 *index)
{
	struct adam_fw_lpm6_key key = { .prefixlen = ADAM_FW_LPM_GEN_BITS + 128, .gen = (__u8)gen };
	__u32 *value;

	__builtin_memcpy(key.addr, addr, 16);
	value = bpf_map_lookup_elem(trie, &key);
	if (!value)
		return -1;
	*index = *value;
	return 0;
}

static __always_inline int fw_lookup_array(void *array, __u32 key, __u32 *index)
{
	__u32 *value = bpf_map_lookup_elem(array, &key);

	if (!value)
		return -1;
	*index = *value;
	return 0;
}

/* The pool index of each dimension's bitmap for this packet. */
static __always_inline int fw_lookup_dims(const struct adam_fw_generation *g, __u32 gen,
					  const struct adam_packet *pkt, __u32 ifindex,
					  __u32 index[ADAM_FW_DIMS])
{
	__u32 uses = g->uses;

	index[ADAM_FW_DIM_SRC] = g->unconditioned[ADAM_FW_DIM_SRC];
	index[ADAM_FW_DIM_DST] = g->unconditioned[ADAM_FW_DIM_DST];
	index[ADAM_FW_DIM_PROTO] = g->unconditioned[ADAM_FW_DIM_PROTO];
	index[ADAM_FW_DIM_SPORT] = g->unconditioned[ADAM_FW_DIM_SPORT];
	index[ADAM_FW_DIM_DPORT] = g->unconditioned[ADAM_FW_DIM_DPORT];
	index[ADAM_FW_DIM_IFACE] = g->unconditioned[ADAM_FW_DIM_IFACE];

	if (pkt->family == 4) {
		if ((uses & ADAM_FW_USES_SRC4) &&
		    fw_lookup_v4(&fw_src4_root, &fw_src4_chunks, gen, pkt->src, &index[ADAM_FW_DIM_SRC]))
			return -1;
		if ((uses & ADAM_FW_USES_DST4) &&
		    fw_lookup_v4(&fw_dst4_root, &fw_dst4_chunks, gen, pkt->dst, &index[ADAM_FW_DIM_DST]))
			return -1;
	} else if (pkt->family == 6) {
		if ((uses & ADAM_FW_USES_SRC6) && fw_lookup_v6(&fw_src6, gen, pkt->src, &index[ADAM_FW_DIM_SRC]))
			return -1;
		if ((uses & ADAM_FW_USES_DST6) && fw_lookup_v6(&fw_dst6, gen, pkt->dst, &index[ADAM_FW_DIM_DST]))
			return -1;
	}
	if ((uses & ADAM_FW_USES_PROTO) && pkt->proto < ADAM_FW_PROTOS) {
		if (fw_lookup_array(&fw_proto, adam_fw_proto_key(gen, pkt->proto),
				    &index[ADAM_FW_DIM_PROTO]))
			return -1;
	}
	if ((uses & ADAM_FW_USES_PORTS) && pkt->has_ports) {
		if (fw_lookup_array(&fw_sport, adam_fw_port_key(gen, pkt->sport),
				    &index[ADAM_FW_DIM_SPORT]) ||
		    fw_lookup_array(&fw_dport, adam_fw_port_key(gen, pkt->dport),
				    &index[ADAM_FW_DIM_DPORT]))
			return -1;
	}
	if (uses & ADAM_FW_USES_IFACE) {
		struct adam_fw_iface_key key = { .gen = gen, .ifindex = ifindex };
		__u32 *value = bpf_map_lookup_elem(&fw_iface, &key);

		if (value) /* else an interface no rule names */
			index[ADAM_FW_DIM_IFACE] = *value;
	}
	return 0;
}

static __always_inline const struct adam_fw_bitmap *fw_pool_bitmap(__u32 gen, __u32 index)
{
	__u32 key = adam_fw_pool_key(gen, index);

	return bpf_map_lookup_elem(&fw_pool, &key);
}

/* Index of the lowest set bit of x != 0. clang 14 crashes lowering
 * __builtin_ctzll for BPF ("unimplemented select CondCode"); popcount it
 * lowers to a few multiply/shift instructions, without branches. */
static __always_inline __u64 fw_lowest_bit(__u64 x)
{
	return __builtin_popcountll((x & -x) - 1);
}

static __always_inline __u64 fw_and_summary(const struct fw_bitmaps *b, __u32 i)
{
	return b->src->summary[i] & b->dst->summary[i] & b->proto->summary[i] &
	       b->sport->summary[i] & b->dport->summary[i] & b->iface->summary[i];
}

/* The addresses first: they are the sparsest dimensions in most rulesets, so
 * most words the summaries let through end after two loads, not six. */
static __always_inline __u64 fw_and_words(const struct fw_bitmaps *b, __u32 i)
{
	__u64 hits = b->src->words[i] & b->dst->words[i];

	if (!hits)
		return 0;
	return hits & b->proto->words[i] & b->sport->words[i] & b->dport->words[i] & b->iface->words[i];
}

/* The position of the first rule every dimension allows: the lowest bit of
 * the AND of the bitmaps. The summaries' AND names the only words worth
 * ANDing; the first non-zero one ends the search. Candidate words are
 * visited 8 at a time (a byte of the summary, unrolled): a zero byte costs a
 * test, a word in a non-zero byte a shift and a test. Extracting each
 * candidate's index instead (fw_lowest_bit) costs ~15 instructions per
 * candidate, and with wildcard rules spread over the ruleset most words are
 * candidates (measured: 10,000 rules took ~1.5x as long that way).
 * Returns -1 when no rule matches. */
static __always_inline int fw_first_match(const struct fw_bitmaps *b, __u32 *position)
{
	/* 64-bit indexes: a 32-bit one makes clang bounds-check a zero-extended
	 * copy, which the verifier does not relate to the index it uses. */
	__u64 s, byte, bit;

	for (s = 0; s < ADAM_FW_SUMMARY_WORDS; s++) {
		__u64 candidates = fw_and_summary(b, s);

		for (byte = 0; byte < 8 && candidates; byte++, candidates >>= 8) {
			if (!(candidates & 0xff))
				continue;
#pragma unroll
			for (bit = 0; bit < 8; bit++) {
				__u64 word = s * 64 + byte * 8 + bit;
				__u64 hits;

				if (!((candidates >> bit) & 1))
					continue;
				if (word >= ADAM_FW_BITMAP_WORDS)
					return -1; /* userspace never sets such summary bits */
				hits = fw_and_words(b, word);
				if (hits) {
					*position = word * 64 + fw_lowest_bit(hits);
					return 0;
				}
			}
		}
	}
	return -1;
}

/* The first rule the bit-vector search finds for the packet, or NULL.
 * Tables that contradict each other (never written so by userspace) find
 * none. */
static __always_inline const struct adam_fw_rule *fw_search(const struct adam_fw_generation *g, __u32 gen,
							     const struct adam_packet *pkt, __u32 ifindex)
{
	__u32 index[ADAM_FW_DIMS];
	struct fw_bitmaps b;
	__u32 position, key;

	if (!g->rule_count)
		return NULL;
	if (fw_lookup_dims(g, gen, pkt, ifindex, index))
		return NULL;

	b.src = fw_pool_bitmap(gen, index[ADAM_FW_DIM_SRC]);
	b.dst = fw_pool_bitmap(gen, index[ADAM_FW_DIM_DST]);
	b.proto = fw_pool_bitmap(gen, index[ADAM_FW_DIM_PROTO]);
	b.sport = fw_pool_bitmap(gen, index[ADAM_FW_DIM_SPORT]);
	b.dport = fw_pool_bitmap(gen, index[ADAM_FW_DIM_DPORT]);
	b.iface = fw_pool_bitmap(gen, index[ADAM_FW_DIM_IFACE]);
	if (!b.src || !b.dst || !b.proto || !b.sport || !b.dport || !b.iface)
		return NULL;
	if (fw_first_match(&b, &position))
		return NULL;

	key = adam_fw_rule_key(gen, position);
	return bpf_map_lookup_elem(&fw_rules, &key);
}

/* Does one of an added rule's `count` prefixes of a field hold `addr`? */
static __always_inline int fw_added_prefix_match(const struct adam_fw_added_prefix *prefixes, __u32 count,
						 const struct adam_packet *pkt, const __u8 *addr)
{
	__u32 a[4] = {}, i, w;

	if (!count)
		return 1;
	if (pkt->family == 4)
		__builtin_memcpy(a, addr, 4);
	else if (pkt->family == 6)
		__builtin_memcpy(a, addr, 16);
	else
		return 0; /* unparsed: no address */
	for (i = 0; i < ADAM_FW_ADDED_VALUES && i < count; i++) {
		const struct adam_fw_added_prefix *p = &prefixes[i];
		int hit = 1;

		if (p->family != pkt->family)
			continue;
#pragma unroll
		for (w = 0; w < 4; w++)
			hit &= (a[w] & p->mask[w]) == p->addr[w];
		if (hit)
			return 1;
	}
	return 0;
}

static __always_inline int fw_added_value_match(const __u32 *values, __u32 count, __u32 value)
{
	__u32 i;

	if (!count)
		return 1;
	for (i = 0; i < ADAM_FW_ADDED_VALUES && i < count; i++) {
		if (values[i] == value)
			return 1;
	}
	return 0;
}

static __always_inline int fw_added_port_match(const struct adam_fw_port_range *ranges, __u32 count,
					       __u32 port)
{
	__u32 i;

	if (!count)
		return 1;
	for (i = 0; i < ADAM_FW_ADDED_VALUES && i < count; i++) {
		if (ranges[i].lo <= port && port <= ranges[i].hi)
			return 1;
	}
	return 0;
}

/* The semantics of rule.cpp's matches(): every field with values must hold
 * the packet's; port conditions need a packet with ports. */
static __always_inline int fw_added_match(const struct adam_fw_added_rule *r, const struct adam_packet *pkt,
					  __u32 ifindex)
{
	if (!fw_added_prefix_match(r->src, r->src_count, pkt, pkt->src) ||
	    !fw_added_prefix_match(r->dst, r->dst_count, pkt, pkt->dst))
		return 0;
	if (!fw_added_value_match(r->proto, r->proto_count, pkt->proto))
		return 0;
	if (r->sport_count || r->dport_count) {
		if (!pkt->has_ports)
			return 0;
		if (!fw_added_port_match(r->sport, r->sport_count, pkt->sport) ||
		    !fw_added_port_match(r->dport, r->dport_count, pkt->dport))
			return 0;
	}
	return fw_added_value_match(r->iface, r->iface_count, ifindex);
}

static __always_inline int fw_precedes(const struct adam_fw_rule *a, const struct adam_fw_rule *b)
{
	return a->priority < b->priority || (a->priority == b->priority && a->id < b->id);
}

/* The state of a walk over a generation's added rules (bpf_loop: its
 * callback is verified once, whatever the count; an open-coded loop over
 * 16 rules of 6 fields made the verifier walk more than a million
 * instructions). */
struct fw_added_walk {
	const struct adam_packet *pkt;
	__u32 ifindex, gen;
	__s32 best;	/* index of the earliest matching added rule, -1: none yet */
	__s32 priority; /* and its priority and id */
	__u32 id;
};

static long fw_added_step(__u64 index, void *arg)
{
	struct fw_added_walk *w = arg;
	__u32 key = adam_fw_added_key(w->gen, (__u32)index);
	const struct adam_fw_added_rule *r = bpf_map_lookup_elem(&fw_added, &key);

	if (!r)
		return 1; /* stop */
	if (!fw_added_match(r, w->pkt, w->ifindex))
		return 0;
	if (w->best < 0 || r->rule.priority < w->priority ||
	    (r->rule.priority == w->priority && r->rule.id < w->id)) {
		w->best = (__s32)index;
		w->priority = r->rule.priority;
		w->id = r->rule.id;
	}
	return 0;
}

/* The earliest of `found` and the generation's added rules that match. */
static __always_inline const struct adam_fw_rule *fw_search_added(const struct adam_fw_generation *g, __u32 gen,
								   const struct adam_packet *pkt, __u32 ifindex,
								   const struct adam_fw_rule *found)
{
	/* Read once: entries below the count are complete (see adam/firewall.h). */
	__u32 count = *(volatile const __u32 *)&g->added_count;
	struct fw_added_walk w = { .pkt = pkt, .ifindex = ifindex, .gen = gen, .best = -1 };
	const struct adam_fw_added_rule *r;
	__u32 key;

	if (!count)
		return found;
	if (count > ADAM_FW_ADDED_RULES)
		count = ADAM_FW_ADDED_RULES;
	bpf_loop(count, fw_added_step, &w, 0);
	if (w.best < 0)
		return found;
	key = adam_fw_added_key(gen, (__u32)w.best);
	r = bpf_map_lookup_elem(&fw_added, &key);
	if (r && (!found || fw_precedes(&r->rule, found)))
		return &r->rule;
	return found;
}

/* What decided a packet: its verdict, and the rule that gave it. */
struct fw_decision {
	__u32 verdict;
	__u32 matched; /* 1: `rule` decided; 0: the default did */
	struct adam_fw_rule rule;
};

/* Decides a packet into *d. A global function, neither static nor inlined:
 * the verifier checks it once, for any packet, rather than once for each
 * path through the parser that reaches it; inlined, Debian 12's kernel (6.1)
 * walked more than a million instructions and refused the program. Its
 * pointer arguments may be NULL as far as the verifier knows. */
__noinline int fw_classify(const struct adam_packet *pkt, __u32 ifindex, struct fw_decision *d)
{
	const struct adam_fw_generation *g;
	const struct adam_fw_rule *rule;
	__u32 zero = 0, gen;
	__u32 *active;

	if (!pkt || !d)
		return 0;
	d->verdict = ADAM_FW_VERDICT_PASS;
	d->matched = 0;
	active = bpf_map_lookup_elem(&fw_active, &zero);
	if (!active)
		return 0;
	gen = *active; /* read once: the whole decision uses one generation */
	g = bpf_map_lookup_elem(&fw_gens, &gen);
	if (!g)
		return 0;
	d->verdict = g->default_verdict;
	rule = fw_search(g, gen, pkt, ifindex);
	rule = fw_search_added(g, gen, pkt, ifindex, rule);
	if (rule) {
		d->verdict = rule->verdict;
		d->matched = 1;
		d->rule = *rule;
	}
	return 0;
}

static __always_inline void fw_count(void *counters, __u32 key, __u64 packets, __u64 bytes)
{
	struct adam_fw_counter *c = bpf_map_lookup_elem(counters, &key);

	if (!c)
		return;
	c->packets += packets; /* per-CPU: no atomics needed */
	c->bytes += bytes;
}

static __always_inline int fw_on_interface(__u32 ifindex)
{
	if (ifindex < ADAM_FW_IFINDEX_BITS) {
		__u32 word = ifindex / 64;
		__u64 *bits = bpf_map_lookup_elem(&fw_iface_bits, &word);

		return bits && (*bits >> (ifindex % 64)) & 1;
	}
	return bpf_map_lookup_elem(&fw_ifaces, &ifindex) != NULL;
}

/* --- Log events (adam/firewall.h, "Log events") ---------------------------- */

/* 1 MiB: a record takes 80 bytes with the ring buffer's own header, so it
 * holds ~13,000 events, 0.65 s of the default firewall-wide limit (20,000/s):
 * the consumer thread, which only decodes and queues, may stall that long
 * before the kernel counts a loss. A larger total limit needs a larger ring
 * (an overflow is counted, never silent). */
#define FW_EVENTS_BYTES (1 << 20)
#define NSEC_PER_SEC 1000000000ULL

ADAM_EVENT_MAPS(fw_events, fw_events_lost, FW_EVENTS_BYTES);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct adam_fw_log_config);
} fw_log_config SEC(".maps");

/* One window per rule counter slot, and the firewall-wide one. Not per CPU:
 * a limit per CPU would let N CPUs emit N times the limit. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ADAM_FW_LOG_WINDOWS);
	__type(key, __u32);
	__type(value, struct adam_fw_log_window);
} fw_log_windows SEC(".maps");

/* Whether window `key` admits one more event at `limit` events per second.
 * `now` is CLOCK_MONOTONIC_COARSE: a window lasts a second give or take one
 * timer tick (4 ms at HZ=250), and reading it costs a fraction of
 * bpf_ktime_get_ns(), which made a flooded log rule's packets ~17 ns dearer. */
static __always_inline int fw_log_admit(__u32 key, __u32 limit, __u64 now)
{
	struct adam_fw_log_window *w = bpf_map_lookup_elem(&fw_log_windows, &key);

	if (!w)
		return 0;
	/* Signed: a CPU whose `now` predates a window another CPU just opened
	 * must not see it as expired. */
	if ((__s64)(now - w->start_ns) >= (__s64)NSEC_PER_SEC) {
		/* Not atomic with the other CPUs: two CPUs that both find the window
		 * expired both reset it, and the later reset forgets what the other
		 * admitted in between. A window can thus admit a few events more
		 * than `limit` (about one per racing CPU, only at its start). */
		w->start_ns = now;
		w->count = 0;
	}
	/* A used-up window is only read: a flood does not bounce its cache line
	 * between CPUs with atomic writes. */
	if (w->count >= limit)
		return 0;
	return __sync_fetch_and_add(&w->count, 1) < limit;
}

/* Emits the log event of a real packet its rule (log = 1) decided, unless a
 * rate limit refuses it; every event not emitted is counted in fw_events_lost.
 *
 * A function of its own (a BPF-to-BPF call) that parses the frame again: if
 * it were inlined, or took the caller's struct adam_packet, the compiler would
 * keep every parsed field alive on the stack for all packets; this way a
 * packet whose rule does not log pays one test, and one that does a call. */
static __noinline void fw_log(void *data, void *data_end, __u32 ifindex, __u32 len,
			    const struct adam_fw_rule *rule)
{
	const struct adam_fw_log_config *config;
	struct adam_fw_log_event *e;
	__u64 now = bpf_ktime_get_coarse_ns();
	struct adam_packet pkt;
	__u32 zero = 0;

	config = bpf_map_lookup_elem(&fw_log_config, &zero);
	/* The rule's own limit first: the events it refuses must not use up the
	 * firewall-wide budget the other rules share. */
	if (!config || !fw_log_admit(rule->counter_slot, config->rule_rate, now) ||
	    !fw_log_admit(ADAM_FW_LOG_WINDOW_TOTAL, config->total_rate, now)) {
		adam_event_count_lost(&fw_events_lost, ADAM_EVENT_LOST_RATE_LIMIT);
		return;
	}
	e = adam_event_reserve(&fw_events, &fw_events_lost, sizeof(*e), ADAM_FW_EVENT_LOG);
	if (!e)
		return;
	/* Ring buffer memory is not zeroed: every field is written. */
	adam_parse_packet(data, data_end, &pkt); /* an IP frame: its rule classified it */
	e->rule_id = rule->id;
	e->verdict = rule->verdict;
	e->ifindex = ifindex;
	e->len = len;
	e->family = pkt.family;
	e->has_ports = pkt.has_ports;
	e->proto = pkt.proto;
	e->sport = pkt.has_ports ? pkt.sport : 0;
	e->dport = pkt.has_ports ? pkt.dport : 0;
	__builtin_memset(e->src, 0, sizeof(e->src));
	__builtin_memset(e->dst, 0, sizeof(e->dst));
	if (pkt.family == 4) {
		__builtin_memcpy(e->src, pkt.src, 4);
		__builtin_memcpy(e->dst, pkt.dst, 4);
	} else if (pkt.family == 6) {
		__builtin_memcpy(e->src, pkt.src, 16);
		__builtin_memcpy(e->dst, pkt.dst, 16);
	}
	adam_event_submit(&fw_events, e);
}

/* The metadata explain() put in front of the frame, or NULL for a real packet. */
static __always_inline struct adam_fw_explain *fw_explain_request(struct xdp_md *ctx)
{
	struct adam_fw_explain *meta = (void *)(long)ctx->data_meta;

	if ((void *)(meta + 1) > (void *)(long)ctx->data)
		return NULL;
	if (meta->magic != ADAM_FW_EXPLAIN_MAGIC)
		return NULL;
	return meta;
}

/* Counts a real packet its rule (or the default) decided, and logs it when
 * the rule asks for it. `packets`: more than one for a GSO/GRO skb. */
static __always_inline void fw_account(void *data, void *data_end, __u32 ifindex,
				       const struct fw_decision *d, __u64 packets, __u64 bytes)
{
	if (d->matched) {
		fw_count(&fw_rule_stats, d->rule.counter_slot, packets, bytes);
		if (d->rule.log) /* all a rule without log pays: this test */
			fw_log(data, data_end, ifindex, bytes, &d->rule);
	}
	fw_count(&fw_totals, d->verdict, packets, bytes);
}

/* The classification both entry points share. A non-IP frame (ARP, LLDP)
 * passes whatever the default verdict: no rule can name it. */
static __always_inline void fw_decide(void *data, void *data_end, __u32 ifindex, struct fw_decision *d)
{
	/* Zeroed: the verifier checks that all of it is written before the call. */
	struct adam_packet pkt = {};

	d->verdict = ADAM_FW_VERDICT_PASS;
	d->matched = 0;
	if (!adam_parse_packet(data, data_end, &pkt))
		return;
	fw_classify(&pkt, ifindex, d);
}

/* Entry point at XDP: slot ADAM_XDP_SLOT_FIREWALL of adamd's chain. */
SEC("xdp")
int adam_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 ifindex = ctx->ingress_ifindex;
	struct adam_fw_explain *explain;
	struct fw_decision d;

	if (!fw_on_interface(ifindex))
		return adam_xdp_next(ctx, ADAM_XDP_SLOT_FIREWALL);

	fw_decide(data, data_end, ifindex, &d);
	explain = fw_explain_request(ctx);
	if (explain) {
		explain->classified = 1;
		explain->verdict = d.verdict;
		explain->rule_id = d.matched ? d.rule.id : 0;
	} else {
		fw_account(data, data_end, ifindex, &d, 1, data_end - data);
	}
	if (d.verdict == ADAM_FW_VERDICT_DROP)
		return XDP_DROP;
	return adam_xdp_next(ctx, ADAM_XDP_SLOT_FIREWALL);
}

/* --- Entry point at tc ingress (a tcx link, Linux 6.6+) --------------------- */

/* tc verdicts (macros: not in vmlinux.h). UNSPEC is tcx's "next": a packet
 * the firewall lets through still meets the programs attached after it. */
#define TC_ACT_UNSPEC (-1)
#define TC_ACT_SHOT 2

/* Bytes of a frame the parser may need in the skb's linear part: Ethernet,
 * two VLAN tags, an IPv6 header, 170 bytes of extension headers and a TCP
 * header. A frame whose headers go further is parsed as truncated there. */
#define FW_TC_HEADER_BYTES 256

/* Entry point at tc ingress, for interfaces where XDP is dear (veth: see
 * docs/firewall.md, "Where the firewall hooks in"). Same maps, same
 * classifier, same counters as the XDP entry; the packet is an skb the
 * kernel has already built, so this costs no copy. */
SEC("tc")
int adam_firewall_tc(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct fw_decision d;
	void *data, *data_end;
	__u32 linear;

	if (!fw_on_interface(ifindex))
		return TC_ACT_UNSPEC;
	/* Headers in the skb's paged part (a GSO packet, a driver that splits
	 * headers) are pulled into its linear part, where the program can read
	 * them: rarely needed, and then it may copy. */
	linear = skb->data_end - skb->data;
	if (linear < skb->len && linear < FW_TC_HEADER_BYTES)
		bpf_skb_pull_data(skb, skb->len < FW_TC_HEADER_BYTES ? skb->len : FW_TC_HEADER_BYTES);
	/* The pull moved the packet: read its pointers again. The empty asm
	 * keeps clang from reusing `skb + offsetof(data)` computed above, a
	 * modified context pointer the verifier refuses to dereference. */
	asm volatile("" : "+r"(skb));
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;

	fw_decide(data, data_end, ifindex, &d);
	/* The kernel's VLAN offload moves the outer tag out of the frame before
	 * tc: the parser sees the frame without it. A GSO skb counts its
	 * segments, as the wire carried them. */
	fw_account(data, data_end, ifindex, &d, skb->gso_segs > 1 ? skb->gso_segs : 1, skb->len);
	return d.verdict == ADAM_FW_VERDICT_DROP ? TC_ACT_SHOT : TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
