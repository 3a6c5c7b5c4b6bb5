/* Types and constants shared by the load balancer's BPF programs (lb.bpf.c,
 * the XDP balancer; lb_decap.bpf.c, the tc decapsulator of a backend) and
 * its C++ side (src/plugins/lb/). Fixed-width types only; the C++ side
 * static_asserts the layouts it mirrors. docs/lb.md is the contract: the
 * service JSON, what the data path does with each kind of frame, counters. */
#ifndef ADAM_BPF_LB_H
#define ADAM_BPF_LB_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* --- Limits ------------------------------------------------------------ */

#define ADAM_LB_MAX_SERVICES 256      /* services (VIP, port, proto) */
#define ADAM_LB_MAX_BACKENDS 4096     /* backend slots, all services together */
#define ADAM_LB_MAX_TABLE_SIZE 1000003 /* the largest Maglev table (a prime) */
#define ADAM_LB_DEFAULT_TABLE_SIZE 65537
#define ADAM_LB_MIN_TABLE_FACTOR 100 /* a table holds at least 100 entries per backend */
#define ADAM_LB_RINGS (2 * ADAM_LB_MAX_SERVICES) /* a service's table and the next one being built */
#define ADAM_LB_MAX_IFACES 64
#define ADAM_LB_DEFAULT_FLOWS 262144 /* connection table entries (config conntrack_size) */

/* --- Forwarding modes ---------------------------------------------------- */

#define ADAM_LB_MODE_L2DSR 0 /* rewrite the MACs toward a backend on the segment; it holds the VIP on lo */
#define ADAM_LB_MODE_IPIP 1  /* IPIP / IP6IP6 (4in6, 6in4 by the backend's family) to the backend */

/* --- Services: lb_services (hash, key -> value) -------------------------- */

struct adam_lb_service_key {
	__u8 vip[16]; /* network byte order; IPv4 in the first 4 bytes, the rest 0 */
	__u16 port;   /* host byte order */
	__u8 proto;   /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family;  /* 4 or 6 */
};

struct adam_lb_service {
	__u32 id;	  /* the service's id in the API */
	__u32 index;	  /* its slot in lb_service_stats, 0..ADAM_LB_MAX_SERVICES-1 */
	__u32 mode;	  /* ADAM_LB_MODE_* */
	__u32 ring;	  /* its Maglev table: slot of lb_rings, 0..ADAM_LB_RINGS-1 */
	__u32 table_size; /* entries of that table (a prime) */
};

/* --- Maglev tables: lb_rings ---------------------------------------------
 * BPF_MAP_TYPE_ARRAY_OF_MAPS of ADAM_LB_RINGS slots; each inner map is an
 * array of table_size __u32 backend slots (of lb_backends), created with
 * BPF_F_INNER_MAP so tables of different sizes fit. adamd builds a new table
 * in a free ring slot, then replaces the service's value (ring and
 * table_size in one element update): a packet sees the old table or the new
 * one, never a mix. The old slot is freed after an RCU grace period. An
 * entry without a backend (every backend drained or down) holds: */
#define ADAM_LB_NO_BACKEND 0xFFFFFFFFu

/* --- Backends: lb_backends (array of ADAM_LB_MAX_BACKENDS) ---------------- */

#define ADAM_LB_BACKEND_ACTIVE (1u << 0) /* the slot holds a backend */
#define ADAM_LB_BACKEND_DOWN (1u << 1)	 /* failed its health checks: its flows move to the table's choice */

struct adam_lb_backend {
	__u8 addr[16];	  /* network byte order; IPv4 in the first 4 bytes */
	__u8 family;	  /* 4 or 6 */
	__u8 flags;	  /* ADAM_LB_BACKEND_* */
	__u8 dst_mac[6];  /* the next hop's MAC: the backend itself (l2dsr) or the gateway (ipip) */
	__u8 src_mac[6];  /* the egress interface's MAC */
	__u16 reserved;	  /* 0 */
	__u32 ifindex;	  /* egress interface: XDP_TX when it is the ingress one, else bpf_redirect */
	__u32 generation; /* bumped when the slot is given to another backend: older flows are stale */
	__u8 outer_src[16]; /* ipip: the outer header's source address (the egress interface's) */
};

/* --- Connection table: lb_flows (LRU hash, BPF_F_NO_COMMON_LRU) ---------- */

struct adam_lb_flow_key {
	__u8 src[16], dst[16]; /* network byte order, as in the packet */
	__u16 sport, dport;    /* host byte order */
	__u8 proto;
	__u8 family;
	__u16 reserved; /* 0 */
};

struct adam_lb_flow {
	__u32 backend;	  /* slot of lb_backends */
	__u32 generation; /* the backend slot's generation when the flow was placed */
};

#ifdef __bpf__
/* Declares a connection table: lb.bpf.c's lb_flows (max_entries is the
 * config's conntrack_size, set before the load; per-CPU LRU lists, so no
 * lock shared by all CPUs) and the bench's copy that measures its insert
 * alone (bench/lb_flow_insert.bpf.c), which must stay the same kind of map. */
#define ADAM_LB_FLOWS_MAP(name)                              \
	struct {                                             \
		__uint(type, BPF_MAP_TYPE_LRU_HASH);         \
		__uint(max_entries, ADAM_LB_DEFAULT_FLOWS);  \
		__uint(map_flags, BPF_F_NO_COMMON_LRU);      \
		__type(key, struct adam_lb_flow_key);        \
		__type(value, struct adam_lb_flow);          \
	} name SEC(".maps")
#endif

/* --- Interfaces: lb_ifaces (hash ifindex -> value) ------------------------
 * The interfaces of the lb's config; on any other interface of the chain
 * the program hands the packet on unseen. */
struct adam_lb_iface {
	__u8 mac[6];
	__u16 reserved;
	__u32 mtu;
};

/* lb_iface_bits: the same interfaces as a bitmap (array of __u64 words) for
 * ifindexes below ADAM_LB_IFINDEX_BITS, the test every packet of the chain
 * pays: an array lookup is cheaper than a hash lookup. Larger ifindexes are
 * looked up in lb_ifaces. */
#define ADAM_LB_IFINDEX_BITS 4096

/* --- Counters ------------------------------------------------------------ */

/* lb_service_stats: per-CPU array, one per service slot. */
struct adam_lb_service_stats {
	__u64 packets, bytes;
	__u64 new_flows;     /* flows placed by the Maglev table */
	__u64 lru_hits;	     /* packets whose flow was in the connection table */
	__u64 lru_misses;    /* packets that were hashed */
	__u64 non_syn_rehash; /* TCP packets other than a SYN that missed the table and were hashed */
	__u64 no_backend;    /* dropped: the table was empty (every backend drained or down) */
};

/* lb_backend_stats: per-CPU array, one per backend slot. */
struct adam_lb_backend_stats {
	__u64 packets, bytes;
	__u64 new_flows;
};

/* lb_totals: per-CPU array of __u64, one slot per ADAM_LB_TOTAL_*: what happened to the packets
 * that were not (or could not be) balanced. */
#define ADAM_LB_TOTAL_NOT_VIP 0	   /* no service: passed on down the chain untouched */
#define ADAM_LB_TOTAL_FRAGMENT 1   /* a fragment to a VIP: dropped (no ports to hash) */
#define ADAM_LB_TOTAL_IP_OPTIONS 2 /* an IPv4 packet to a VIP with options: balanced like any other */
#define ADAM_LB_TOTAL_TOO_BIG 3	   /* encapsulated, it would exceed the egress MTU: answered with ICMP */
#define ADAM_LB_TOTAL_UNPARSED 4   /* truncated or malformed headers: passed on */
#define ADAM_LB_TOTAL_STALE_FLOW 5 /* a flow whose backend was down or removed: re-hashed */
#define ADAM_LB_TOTAL_ENCAP_FAILED 6 /* bpf_xdp_adjust_head refused: dropped */
#define ADAM_LB_TOTALS 7

/* --- Explain (BPF_PROG_TEST_RUN) -----------------------------------------
 * adamd's explain puts this in the frame's metadata (ctx->data_meta); the
 * program fills it and writes neither the connection table nor a counter. */
#define ADAM_LB_EXPLAIN_MAGIC 0x4c42584cu /* "LBXL" */
#define ADAM_LB_SOURCE_NONE 0		  /* not balanced (no VIP, a fragment, ...) */
#define ADAM_LB_SOURCE_FLOW 1		  /* the connection table held the flow */
#define ADAM_LB_SOURCE_HASH 2		  /* the Maglev table chose */

struct adam_lb_explain {
	__u32 magic;
	__u32 service_id; /* 0: no service */
	__u32 backend;	  /* slot of lb_backends, when source != NONE */
	__u32 source;	  /* ADAM_LB_SOURCE_* */
	__u32 total;	  /* for source NONE: the ADAM_LB_TOTAL_* slot it counted in */
	__u32 reserved;
};

/* --- Decapsulation on a backend (lb_decap.bpf.c, tc ingress) -------------
 * lb_decap_addrs: hash of the local addresses whose IPIP/IP6IP6 packets are
 * decapsulated (key as below); any other packet goes on untouched.
 * lb_decap_totals: per-CPU array of __u64 by ADAM_LB_DECAP_*. */
struct adam_lb_decap_addr {
	__u8 addr[16];
	__u8 family;
	__u8 reserved[3];
};

#define ADAM_LB_DECAP_DONE 0	  /* decapsulated */
#define ADAM_LB_DECAP_MALFORMED 1 /* an IPIP packet to us whose inner header is broken: dropped */
#define ADAM_LB_DECAP_TOTALS 2

#endif /* ADAM_BPF_LB_H */
