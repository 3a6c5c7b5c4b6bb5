// SPDX-License-Identifier: GPL-2.0
/* The load balancer: slot ADAM_XDP_SLOT_LB of adamd's XDP chain, after the
 * firewall. A packet on an lb interface to a service's (VIP, port, proto)
 * goes to one of its backends: the connection table's (lb_flows) when the
 * flow is there and its backend still serves it, else the Maglev table's
 * entry at the flow's hash, which is then placed in the connection table.
 * It leaves with rewritten MACs (l2dsr) or inside a new outer IPv4/IPv6
 * header (ipip); one that would not fit the egress MTU once encapsulated is
 * answered with ICMP "fragmentation needed" / ICMPv6 "packet too big".
 * Everything else goes on down the chain. docs/lb.md, "Data path". */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "adam/xdp_chain.h"
#include "adam/lb.h"
#include "adam/packet.h"

/* The lb's interfaces (ifindex -> MAC, MTU); packets of the others go on unseen. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ADAM_LB_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct adam_lb_iface);
} lb_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ADAM_LB_IFINDEX_BITS / 64);
	__type(key, __u32);
	__type(value, __u64);
} lb_iface_bits SEC(".maps");

/* (VIP, port, proto) -> service. Each VIP also has an entry of port 0 per
 * protocol (no service has port 0), value id 0: "a VIP", which a fragment
 * without ports is looked up by. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * ADAM_LB_MAX_SERVICES);
	__type(key, struct adam_lb_service_key);
	__type(value, struct adam_lb_service);
} lb_services SEC(".maps");

/* The Maglev tables: ring slot -> an array of table_size backend slots. */
struct lb_ring {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* a template: BPF_F_INNER_MAP lets each table have its own size */
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, ADAM_LB_RINGS);
	__type(key, __u32);
	__array(values, struct lb_ring);
} lb_rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ADAM_LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct adam_lb_backend);
} lb_backends SEC(".maps");

/* Backend slot -> the id of its service (0: free). Userspace bookkeeping,
 * kept in a map so that it is pinned with the slots and a restarted adamd
 * gives every backend its old slot back. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ADAM_LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, __u32);
} lb_backend_services SEC(".maps");

ADAM_LB_FLOWS_MAP(lb_flows); /* the connection table (adam/lb.h) */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ADAM_LB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct adam_lb_service_stats);
} lb_service_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ADAM_LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct adam_lb_backend_stats);
} lb_backend_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ADAM_LB_TOTALS);
	__type(key, __u32);
	__type(value, __u64);
} lb_totals SEC(".maps");

#define LB_TCP_SYN 0x02
#define LB_TCP_ACK 0x10
#define LB_PROTO_ICMP 1
#define LB_PROTO_IPIP 4
#define LB_PROTO_IPV6 41
#define LB_PROTO_ICMPV6 58
#define LB_IPV4_HEADER_LEN 20
#define LB_IPV6_HEADER_LEN 40
#define LB_ICMP_HEADER_LEN 8
#define LB_OUTER_TTL 64
/* The largest Ethernet + VLAN header the parser accepts. */
#define LB_MAX_L2_LEN (14 + 4 * ADAM_PACKET_MAX_VLAN_TAGS)
/* How much of the packet an ICMP error quotes: as much as fits in 576
 * bytes (IPv4, RFC 1812 4.3.2.3) or 1280 bytes (IPv6, RFC 4443 2.4). */
#define LB_ICMP4_QUOTE_MAX (576 - LB_IPV4_HEADER_LEN - LB_ICMP_HEADER_LEN)
#define LB_ICMP6_QUOTE_MAX (1280 - LB_IPV6_HEADER_LEN - LB_ICMP_HEADER_LEN)

/* --- The hash: jhash2 (the kernel's lookup2-style jhash) over 10 words ----- */

static __always_inline __u32 lb_rol32(__u32 word, __u32 shift)
{
	return (word << shift) | (word >> (32 - shift));
}

#define LB_JHASH_MIX(a, b, c)                          \
	do {                                           \
		a -= c; a ^= lb_rol32(c, 4); c += b;   \
		b -= a; b ^= lb_rol32(a, 6); a += c;   \
		c -= b; c ^= lb_rol32(b, 8); b += a;   \
		a -= c; a ^= lb_rol32(c, 16); c += b;  \
		b -= a; b ^= lb_rol32(a, 19); a += c;  \
		c -= b; c ^= lb_rol32(b, 4); b += a;   \
	} while (0)

#define LB_JHASH_FINAL(a, b, c)                     \
	do {                                        \
		c ^= b; c -= lb_rol32(b, 14);       \
		a ^= c; a -= lb_rol32(c, 11);       \
		b ^= a; b -= lb_rol32(a, 25);       \
		c ^= b; c -= lb_rol32(b, 16);       \
		a ^= c; a -= lb_rol32(c, 4);        \
		b ^= a; b -= lb_rol32(a, 14);       \
		c ^= b; c -= lb_rol32(b, 24);       \
	} while (0)

#define LB_HASH_WORDS 10
#define LB_JHASH_INITVAL 0xdeadbeef

/* The flow's hash (docs/lb.md): jhash2 of the words src[0..3], dst[0..3]
 * (the addresses' bytes as they are in the packet, read as little-endian
 * words; IPv4 in the first word, the rest 0), sport << 16 | dport, proto. */
static __always_inline __u32 lb_flow_hash(const struct adam_lb_flow_key *key)
{
	__u32 k[LB_HASH_WORDS];
	__u32 a, b, c;

	__builtin_memcpy(k, key->src, 16);
	__builtin_memcpy(k + 4, key->dst, 16);
	k[8] = (__u32)key->sport << 16 | key->dport;
	k[9] = key->proto;
	a = b = c = LB_JHASH_INITVAL + (LB_HASH_WORDS << 2);
	a += k[0]; b += k[1]; c += k[2];
	LB_JHASH_MIX(a, b, c);
	a += k[3]; b += k[4]; c += k[5];
	LB_JHASH_MIX(a, b, c);
	a += k[6]; b += k[7]; c += k[8];
	LB_JHASH_MIX(a, b, c);
	a += k[9];
	LB_JHASH_FINAL(a, b, c);
	return c;
}

/* --- Checksums ----------------------------------------------------------- */

static __always_inline __u16 lb_csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~(__u16)sum;
}

/* The one's complement sum of the 16-bit words in [start, start + len),
 * len even and at most max_len; stops at data_end. */
static __always_inline __u64 lb_csum_add(__u64 sum, void *start, __u32 len, __u32 max_len, void *data_end)
{
	__u16 *word = start;
	__u32 i;

	for (i = 0; i < max_len / 2; i++) {
		if (i >= len / 2 || (void *)(word + 1) > data_end)
			break;
		sum += *word;
		word++;
	}
	return sum;
}

static __always_inline __u64 lb_csum_addr(__u64 sum, const __u8 *addr, __u32 len)
{
	const __u16 *word = (const __u16 *)addr;
	__u32 i;

	for (i = 0; i < len / 2; i++)
		sum += word[i];
	return sum;
}

/* --- Counters ------------------------------------------------------------ */

static __always_inline void lb_count_total(__u32 total)
{
	__u64 *count = bpf_map_lookup_elem(&lb_totals, &total);

	if (count)
		*count += 1;
}

static __always_inline int lb_on_interface(__u32 ifindex)
{
	__u32 word = ifindex / 64;
	__u64 *bits;

	if (ifindex >= ADAM_LB_IFINDEX_BITS)
		return bpf_map_lookup_elem(&lb_ifaces, &ifindex) != NULL;
	bits = bpf_map_lookup_elem(&lb_iface_bits, &word);
	return bits && ((*bits >> (ifindex % 64)) & 1);
}

/* The metadata explain() put in front of the frame, or NULL for a real packet. */
static __always_inline struct adam_lb_explain *lb_explain_request(struct xdp_md *ctx)
{
	struct adam_lb_explain *meta = (void *)(long)ctx->data_meta;

	if ((void *)(meta + 1) > (void *)(long)ctx->data)
		return NULL;
	if (meta->magic != ADAM_LB_EXPLAIN_MAGIC)
		return NULL;
	return meta;
}

/* --- Frame rewriting ----------------------------------------------------- */

/* A new IPv4 header (no options, TTL 64, checksum computed) from `src` to `dst`. */
static __always_inline void lb_write_ipv4(struct iphdr *ip, __u32 tot_len, __be16 frag_off, __u8 proto,
					  const __u8 *src, const __u8 *dst, void *data_end)
{
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(tot_len);
	ip->id = 0;
	ip->frag_off = frag_off;
	ip->ttl = LB_OUTER_TTL;
	ip->protocol = proto;
	ip->check = 0;
	__builtin_memcpy(&ip->saddr, src, 4);
	__builtin_memcpy(&ip->daddr, dst, 4);
	ip->check = lb_csum_fold(lb_csum_add(0, ip, LB_IPV4_HEADER_LEN, LB_IPV4_HEADER_LEN, data_end));
}

/* A new IPv6 header (traffic class 0, flow label 0, hop limit 64) from `src` to `dst`. */
static __always_inline void lb_write_ipv6(struct ipv6hdr *ip6, __u32 payload_len, __u8 nexthdr, const __u8 *src,
					  const __u8 *dst)
{
	*(__be32 *)ip6 = bpf_htonl(0x60000000); /* version 6 */
	ip6->payload_len = bpf_htons(payload_len);
	ip6->nexthdr = nexthdr;
	ip6->hop_limit = LB_OUTER_TTL;
	__builtin_memcpy(&ip6->saddr, src, 16);
	__builtin_memcpy(&ip6->daddr, dst, 16);
}

/* Copies the Ethernet header and its VLAN tags (`l2_len` bytes, at most
 * LB_MAX_L2_LEN) `gap` bytes toward the frame's start, in ascending order
 * so that overlapping ranges copy right. */
static __always_inline int lb_move_l2(void *data, void *data_end, __u32 gap, __u32 l2_len)
{
	__u16 *to = data;
	__u32 i;

	if (data + gap + LB_MAX_L2_LEN > data_end)
		return -1;
	for (i = 0; i < LB_MAX_L2_LEN / 2; i++) {
		if (i >= l2_len / 2)
			break;
		to[i] = *(__u16 *)(data + gap + 2 * i);
	}
	return 0;
}

/* Wraps the IP packet at pkt->l3_off into an outer header toward the
 * backend: IPv4 (protocol 4 or 41 by the inner family) or IPv6 (next header
 * 4 or 41). The VLAN tags stay in front of the new header. */
static __always_inline int lb_encap_after(struct xdp_md *ctx, const struct adam_packet *pkt,
					  const struct adam_lb_backend *backend, __u32 inner_len, __u16 inner_df,
					  const __u32 l2_len)
{
	__u32 outer_len = backend->family == 4 ? LB_IPV4_HEADER_LEN : LB_IPV6_HEADER_LEN;
	__u8 inner_proto = pkt->family == 4 ? LB_PROTO_IPIP : LB_PROTO_IPV6;
	void *data, *data_end;
	__be16 *ethertype;

	if (bpf_xdp_adjust_head(ctx, -(int)outer_len))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (lb_move_l2(data, data_end, outer_len, l2_len))
		return -1;
	ethertype = data + l2_len - 2;
	if ((void *)(ethertype + 1) > data_end)
		return -1;
	if (backend->family == 4) {
		struct iphdr *outer = data + l2_len;

		if ((void *)(outer + 1) > data_end)
			return -1;
		*ethertype = bpf_htons(ADAM_ETH_P_IP);
		lb_write_ipv4(outer, inner_len + LB_IPV4_HEADER_LEN, inner_df, inner_proto, backend->outer_src,
			      backend->addr, data_end);
	} else {
		struct ipv6hdr *outer = data + l2_len;

		if ((void *)(outer + 1) > data_end)
			return -1;
		*ethertype = bpf_htons(ADAM_ETH_P_IPV6);
		lb_write_ipv6(outer, inner_len, inner_proto, backend->outer_src, backend->addr);
	}
	return 0;
}

/* The Ethernet header's length as a constant in each call of `fn` (no, one
 * or two VLAN tags): the verifier then knows every offset behind it. */
#define LB_WITH_L2_LEN(pkt, fn, ...)                                          \
	((pkt)->l3_off == 14	       ? fn(__VA_ARGS__, 14) :                \
	 (pkt)->l3_off == 18	       ? fn(__VA_ARGS__, 18) :                \
	 (pkt)->l3_off == LB_MAX_L2_LEN ? fn(__VA_ARGS__, LB_MAX_L2_LEN) : -1)

static __always_inline int lb_encap(struct xdp_md *ctx, const struct adam_packet *pkt,
				    const struct adam_lb_backend *backend, __u32 inner_len, __u16 inner_df)
{
	return LB_WITH_L2_LEN(pkt, lb_encap_after, ctx, pkt, backend, inner_len, inner_df);
}

/* Turns the frame into an ICMP "fragmentation needed" (IPv4) or ICMPv6
 * "packet too big" from the VIP back to the client, quoting the start of
 * the packet, and swaps the MACs for XDP_TX. The new IP and ICMP headers go
 * in front of the original IP header (which is where the quote starts), so
 * only the Ethernet header moves. */
static __always_inline int lb_icmp_too_big_after(struct xdp_md *ctx, const struct adam_packet *pkt, __u32 l3_len,
						 __u32 mtu, const __u32 l2_len)
{
	__u32 ip_len = pkt->family == 4 ? LB_IPV4_HEADER_LEN : LB_IPV6_HEADER_LEN;
	__u32 gap = ip_len + LB_ICMP_HEADER_LEN;
	__u32 quote_max = pkt->family == 4 ? LB_ICMP4_QUOTE_MAX : LB_ICMP6_QUOTE_MAX;
	__u32 quote = l3_len < quote_max ? l3_len & ~1u : quote_max;
	void *data, *data_end;
	struct ethhdr *eth;
	__u8 mac[6];
	__u64 sum;
	int frame_len;

	if (bpf_xdp_adjust_head(ctx, -(int)gap))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	frame_len = data_end - data;
	if (bpf_xdp_adjust_tail(ctx, (int)(l2_len + gap + quote) - frame_len))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (lb_move_l2(data, data_end, gap, l2_len))
		return -1;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(mac, eth->h_dest, 6);
	__builtin_memcpy(eth->h_dest, eth->h_source, 6);
	__builtin_memcpy(eth->h_source, mac, 6);
	if (pkt->family == 4) {
		struct iphdr *ip = data + l2_len;
		struct icmphdr *icmp = (void *)(ip + 1);

		if ((void *)(icmp + 1) > data_end)
			return -1;
		lb_write_ipv4(ip, gap + quote, 0, LB_PROTO_ICMP, pkt->dst, pkt->src, data_end);
		icmp->type = 3; /* destination unreachable */
		icmp->code = 4; /* fragmentation needed and DF set */
		icmp->checksum = 0;
		icmp->un.frag.__unused = 0;
		icmp->un.frag.mtu = bpf_htons(mtu);
		sum = lb_csum_add(0, icmp, LB_ICMP_HEADER_LEN + quote, LB_ICMP_HEADER_LEN + LB_ICMP4_QUOTE_MAX,
				  data_end);
		icmp->checksum = lb_csum_fold(sum);
	} else {
		struct ipv6hdr *ip6 = data + l2_len;
		struct icmp6hdr *icmp6 = (void *)(ip6 + 1);
		__u32 payload_len = LB_ICMP_HEADER_LEN + quote;

		if ((void *)(icmp6 + 1) > data_end)
			return -1;
		lb_write_ipv6(ip6, payload_len, LB_PROTO_ICMPV6, pkt->dst, pkt->src);
		icmp6->icmp6_type = 2; /* packet too big */
		icmp6->icmp6_code = 0;
		icmp6->icmp6_cksum = 0;
		icmp6->icmp6_dataun.un_data32[0] = bpf_htonl(mtu);
		/* The pseudo-header: addresses, upper-layer length, next header. */
		sum = lb_csum_addr(0, pkt->dst, 16);
		sum = lb_csum_addr(sum, pkt->src, 16);
		sum += bpf_htons(payload_len) + bpf_htons(LB_PROTO_ICMPV6);
		sum = lb_csum_add(sum, icmp6, payload_len, LB_ICMP_HEADER_LEN + LB_ICMP6_QUOTE_MAX, data_end);
		icmp6->icmp6_cksum = lb_csum_fold(sum);
	}
	return 0;
}

static __always_inline int lb_icmp_too_big(struct xdp_md *ctx, const struct adam_packet *pkt, __u32 l3_len,
					   __u32 mtu)
{
	return LB_WITH_L2_LEN(pkt, lb_icmp_too_big_after, ctx, pkt, l3_len, mtu);
}

/* --- The decision -------------------------------------------------------- */

/* A backend of `slot` that can take the flow, or NULL. */
static __always_inline const struct adam_lb_backend *lb_backend(__u32 slot)
{
	const struct adam_lb_backend *backend = bpf_map_lookup_elem(&lb_backends, &slot);

	if (!backend || !(backend->flags & ADAM_LB_BACKEND_ACTIVE) || (backend->flags & ADAM_LB_BACKEND_DOWN))
		return NULL;
	return backend;
}

/* The backend slot the service's Maglev table gives the flow, or ADAM_LB_NO_BACKEND. */
static __always_inline __u32 lb_maglev(const struct adam_lb_service *service, const struct adam_lb_flow_key *key)
{
	__u32 ring_slot = service->ring, entry;
	__u32 *backend;
	void *ring;

	if (!service->table_size)
		return ADAM_LB_NO_BACKEND;
	ring = bpf_map_lookup_elem(&lb_rings, &ring_slot);
	if (!ring)
		return ADAM_LB_NO_BACKEND;
	entry = lb_flow_hash(key) % service->table_size;
	backend = bpf_map_lookup_elem(ring, &entry);
	return backend ? *backend : ADAM_LB_NO_BACKEND;
}

/* Sums of one balanced packet. */
static __always_inline void lb_count_balanced(const struct adam_lb_service *service, __u32 slot, __u32 source,
					      int non_syn, __u64 bytes)
{
	__u32 index = service->index;
	struct adam_lb_service_stats *s = bpf_map_lookup_elem(&lb_service_stats, &index);
	struct adam_lb_backend_stats *b = bpf_map_lookup_elem(&lb_backend_stats, &slot);

	if (s) {
		s->packets++;
		s->bytes += bytes;
		if (source == ADAM_LB_SOURCE_FLOW) {
			s->lru_hits++;
		} else {
			s->lru_misses++;
			s->new_flows++;
			if (non_syn)
				s->non_syn_rehash++;
		}
	}
	if (b) {
		b->packets++;
		b->bytes += bytes;
		if (source == ADAM_LB_SOURCE_HASH)
			b->new_flows++;
	}
}

static __always_inline void lb_count_no_backend(const struct adam_lb_service *service)
{
	__u32 index = service->index;
	struct adam_lb_service_stats *s = bpf_map_lookup_elem(&lb_service_stats, &index);

	if (s)
		s->no_backend++;
}

/* The frame's length from its IP header on, as the header says it (any
 * Ethernet padding after it is not part of the packet). */
static __always_inline int lb_l3_length(void *data, void *data_end, const struct adam_packet *pkt, __u32 *len,
					__u16 *df)
{
	void *l3 = data + pkt->l3_off;

	if (pkt->l3_off > LB_MAX_L2_LEN)
		return -1;
	if (pkt->family == 4) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > data_end)
			return -1;
		*len = bpf_ntohs(ip->tot_len);
		*df = ip->frag_off & bpf_htons(ADAM_IP_DF);
	} else {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		*len = bpf_ntohs(ip6->payload_len) + LB_IPV6_HEADER_LEN;
		*df = bpf_htons(ADAM_IP_DF); /* IPv6 is never fragmented on the way */
	}
	return 0;
}

/* The egress MTU: the lb interface's (lb_ifaces), or the kernel's for another one. */
static __always_inline __u32 lb_egress_mtu(struct xdp_md *ctx, __u32 ifindex)
{
	const struct adam_lb_iface *iface = bpf_map_lookup_elem(&lb_ifaces, &ifindex);
	__u32 mtu = 0;

	if (iface && iface->mtu)
		return iface->mtu;
	if (bpf_check_mtu(ctx, ifindex, &mtu, 0, 0) < 0 || !mtu)
		return 1500;
	return mtu;
}

/* An address of the parser's into a zeroed key: IPv4 fills the first 4
 * bytes (the parser leaves the other 12 of its copy undefined). */
static __always_inline void lb_copy_address(__u8 *key, const __u8 *addr, __u32 family)
{
	if (family == 4)
		__builtin_memcpy(key, addr, 4);
	else
		__builtin_memcpy(key, addr, 16);
}

SEC("xdp")
int adam_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 ifindex = ctx->ingress_ifindex;
	const struct adam_lb_backend *backend = NULL;
	struct adam_lb_service_key skey = {};
	struct adam_lb_flow_key fkey = {};
	const struct adam_lb_service *service;
	struct adam_lb_explain *explain;
	struct adam_lb_flow *flow;
	__u32 source = ADAM_LB_SOURCE_HASH, total = ADAM_LB_TOTALS;
	__u32 slot = ADAM_LB_NO_BACKEND, l3_len = 0, mtu = 0;
	__u64 bytes = data_end - data;
	struct adam_packet pkt;
	int syn, non_syn = 0, explaining;
	__u16 inner_df = 0;

	if (!lb_on_interface(ifindex))
		return adam_xdp_next(ctx, ADAM_XDP_SLOT_LB);
	explain = lb_explain_request(ctx);
	explaining = explain != NULL;

	if (!adam_parse_packet(data, data_end, &pkt) || !pkt.family) {
		total = ADAM_LB_TOTAL_UNPARSED;
		goto pass;
	}
	lb_copy_address(skey.vip, pkt.dst, pkt.family);
	skey.proto = pkt.proto;
	skey.family = pkt.family;
	if (pkt.fragment) {
		/* port 0: the VIP's own entry (no ports in a non-first fragment) */
		total = bpf_map_lookup_elem(&lb_services, &skey) ? ADAM_LB_TOTAL_FRAGMENT : ADAM_LB_TOTAL_NOT_VIP;
		if (total == ADAM_LB_TOTAL_FRAGMENT)
			goto drop;
		goto pass;
	}
	if (!pkt.has_ports) {
		/* TCP or UDP with its header cut short, or an IPv6 extension
		 * header chain cut short (or longer than the parser walks): unparsed;
		 * another protocol: no service of ours */
		total = pkt.proto == ADAM_PROTO_TCP || pkt.proto == ADAM_PROTO_UDP || pkt.proto == ADAM_PROTO_UNKNOWN
				? ADAM_LB_TOTAL_UNPARSED
				: ADAM_LB_TOTAL_NOT_VIP;
		goto pass;
	}
	skey.port = pkt.dport;
	service = bpf_map_lookup_elem(&lb_services, &skey);
	if (!service || !service->id) {
		total = ADAM_LB_TOTAL_NOT_VIP;
		goto pass;
	}
	if (explain)
		explain->service_id = service->id;
	if (pkt.ip_options && !explaining)
		lb_count_total(ADAM_LB_TOTAL_IP_OPTIONS);

	__builtin_memcpy(fkey.dst, skey.vip, 16);
	lb_copy_address(fkey.src, pkt.src, pkt.family);
	fkey.sport = pkt.sport;
	fkey.dport = pkt.dport;
	fkey.proto = pkt.proto;
	fkey.family = pkt.family;
	syn = pkt.proto == ADAM_PROTO_TCP && (pkt.tcp_flags & (LB_TCP_SYN | LB_TCP_ACK)) == LB_TCP_SYN;
	if (!syn) {
		flow = bpf_map_lookup_elem(&lb_flows, &fkey);
		if (flow) {
			backend = lb_backend(flow->backend);
			if (backend && backend->generation == flow->generation) {
				slot = flow->backend;
				source = ADAM_LB_SOURCE_FLOW;
			} else {
				backend = NULL;
				if (!explaining)
					lb_count_total(ADAM_LB_TOTAL_STALE_FLOW);
			}
		}
		non_syn = pkt.proto == ADAM_PROTO_TCP;
	}
	if (source == ADAM_LB_SOURCE_HASH) {
		slot = lb_maglev(service, &fkey);
		backend = slot == ADAM_LB_NO_BACKEND ? NULL : lb_backend(slot);
		if (!backend) {
			if (explain)
				explain->source = ADAM_LB_SOURCE_NONE;
			else
				lb_count_no_backend(service);
			return XDP_DROP;
		}
	}
	if (service->mode == ADAM_LB_MODE_IPIP) {
		if (lb_l3_length(data, data_end, &pkt, &l3_len, &inner_df))
			goto unparsed_drop;
		mtu = lb_egress_mtu(ctx, backend->ifindex);
		if (l3_len + (backend->family == 4 ? LB_IPV4_HEADER_LEN : LB_IPV6_HEADER_LEN) > mtu)
			total = ADAM_LB_TOTAL_TOO_BIG;
	}
	if (explain) {
		explain->backend = slot;
		explain->source = source;
		explain->total = total == ADAM_LB_TOTALS ? 0 : total;
	}

	if (total == ADAM_LB_TOTAL_TOO_BIG) {
		/* Not balanced: no flow placed, nothing counted to the service.
		 * Whatever DF says: XDP cannot fragment, the packet would be lost. */
		__u32 outer_len = backend->family == 4 ? LB_IPV4_HEADER_LEN : LB_IPV6_HEADER_LEN;

		if (!explaining)
			lb_count_total(ADAM_LB_TOTAL_TOO_BIG);
		if (lb_icmp_too_big(ctx, &pkt, l3_len, mtu - outer_len))
			return XDP_DROP;
		return XDP_TX;
	}
	if (!explaining) {
		if (source == ADAM_LB_SOURCE_HASH) {
			struct adam_lb_flow placed = { .backend = slot, .generation = backend->generation };

			bpf_map_update_elem(&lb_flows, &fkey, &placed, BPF_ANY);
		}
		lb_count_balanced(service, slot, source, non_syn, bytes);
	}
	if (service->mode == ADAM_LB_MODE_IPIP) {
		if (lb_encap(ctx, &pkt, backend, l3_len, inner_df)) {
			/* explain's metadata moved with the frame: only the flag is left */
			if (!explaining)
				lb_count_total(ADAM_LB_TOTAL_ENCAP_FAILED);
			return XDP_DROP;
		}
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
	}
	{
		struct ethhdr *eth = data;

		if ((void *)(eth + 1) > data_end)
			return XDP_DROP;
		__builtin_memcpy(eth->h_dest, backend->dst_mac, 6);
		__builtin_memcpy(eth->h_source, backend->src_mac, 6);
	}
	if (backend->ifindex == ifindex)
		return XDP_TX;
	return bpf_redirect(backend->ifindex, 0);

unparsed_drop:
	if (!explaining)
		lb_count_total(ADAM_LB_TOTAL_UNPARSED);
	return XDP_DROP;
drop:
	if (explain)
		explain->total = total;
	else
		lb_count_total(total);
	return XDP_DROP;
pass:
	if (explain)
		explain->total = total;
	else
		lb_count_total(total);
	return adam_xdp_next(ctx, ADAM_XDP_SLOT_LB);
}

char LICENSE[] SEC("license") = "GPL";
