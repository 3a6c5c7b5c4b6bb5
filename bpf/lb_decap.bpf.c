// SPDX-License-Identifier: GPL-2.0
/* The load balancer's decapsulator on a backend (config `decap: true`), at
 * tc ingress through tcx links: an IPv4 packet of protocol 4 (IPIP) or 41
 * (6in4), or an IPv6 packet of next header 4 (4in6) or 41 (IP6IP6), whose
 * outer destination is an address of the interface it arrived on, loses
 * its outer header and goes on into the stack as the inner packet. Anything
 * else goes on untouched. docs/lb.md, "Decapsulation". */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "adam/lb.h"

/* The decap interfaces' addresses -> the ifindex that has them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct adam_lb_decap_addr);
	__type(value, __u32);
} lb_decap_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ADAM_LB_DECAP_TOTALS);
	__type(key, __u32);
	__type(value, __u64);
} lb_decap_totals SEC(".maps");

/* tc verdicts (macros: not in vmlinux.h). UNSPEC is tcx's "next". */
#define TC_ACT_UNSPEC (-1)
#define TC_ACT_SHOT 2
#define DECAP_ETH_P_IP 0x0800
#define DECAP_ETH_P_IPV6 0x86DD
#define DECAP_PROTO_IPIP 4
#define DECAP_PROTO_IPV6 41
#define DECAP_ETH_LEN 14
#define DECAP_IPV4_LEN 20
#define DECAP_IPV6_LEN 40
/* Ethernet, the longest outer header we strip, the longest inner header we check. */
#define DECAP_HEADER_BYTES (DECAP_ETH_LEN + 60 + DECAP_IPV6_LEN)

static __always_inline void decap_count(__u32 total)
{
	__u64 *count = bpf_map_lookup_elem(&lb_decap_totals, &total);

	if (count)
		*count += 1;
}

/* Whether `addr` is an address of `ifindex` that we decapsulate for. */
static __always_inline int decap_for_us(const void *addr, __u8 family, __u32 ifindex)
{
	struct adam_lb_decap_addr key = { .family = family };
	__u32 *owner;

	__builtin_memcpy(key.addr, addr, family == 4 ? 4 : 16);
	owner = bpf_map_lookup_elem(&lb_decap_addrs, &key);
	return owner && *owner == ifindex;
}

SEC("tc")
int adam_lb_decap(struct __sk_buff *skb)
{
	__u32 outer_len, inner_family, linear;
	void *data, *data_end, *inner;
	struct ethhdr *eth;
	__be16 inner_ethertype;

	linear = skb->data_end - skb->data;
	if (linear < skb->len && linear < DECAP_HEADER_BYTES)
		bpf_skb_pull_data(skb, skb->len < DECAP_HEADER_BYTES ? skb->len : DECAP_HEADER_BYTES);
	/* The pull moved the packet: read its pointers again (see firewall.bpf.c). */
	asm volatile("" : "+r"(skb));
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_UNSPEC;

	if (eth->h_proto == bpf_htons(DECAP_ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
			return TC_ACT_UNSPEC;
		if (ip->protocol != DECAP_PROTO_IPIP && ip->protocol != DECAP_PROTO_IPV6)
			return TC_ACT_UNSPEC;
		if (ip->frag_off & bpf_htons(0x3FFF))
			return TC_ACT_UNSPEC; /* a fragment: the stack reassembles it (and has no tunnel for it) */
		if (!decap_for_us(&ip->daddr, 4, skb->ifindex))
			return TC_ACT_UNSPEC;
		outer_len = ip->ihl * 4;
		inner_family = ip->protocol == DECAP_PROTO_IPIP ? 4 : 6;
	} else if (eth->h_proto == bpf_htons(DECAP_ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return TC_ACT_UNSPEC;
		if (ip6->nexthdr != DECAP_PROTO_IPIP && ip6->nexthdr != DECAP_PROTO_IPV6)
			return TC_ACT_UNSPEC;
		if (!decap_for_us(&ip6->daddr, 6, skb->ifindex))
			return TC_ACT_UNSPEC;
		outer_len = DECAP_IPV6_LEN;
		inner_family = ip6->nexthdr == DECAP_PROTO_IPIP ? 4 : 6;
	} else {
		return TC_ACT_UNSPEC;
	}

	/* Ours: the inner header must be whole and of the family the outer one
	 * announced, or the packet is dropped (the stack has no tunnel to give
	 * it to either). */
	if (outer_len > 60)
		goto malformed;
	inner = data + DECAP_ETH_LEN + outer_len;
	if (inner_family == 4) {
		struct iphdr *ip = inner;

		if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
			goto malformed;
		inner_ethertype = bpf_htons(DECAP_ETH_P_IP);
	} else {
		struct ipv6hdr *ip6 = inner;

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			goto malformed;
		inner_ethertype = bpf_htons(DECAP_ETH_P_IPV6);
	}

	/* bpf_skb_change_proto() turns the room between the MAC header and the
	 * rest into the other family's header length (v4 -> v6: 20 more bytes,
	 * v6 -> v4: 20 fewer); bpf_skb_adjust_room() then removes what is left
	 * of the outer header. */
	if ((inner_family == 4) != (eth->h_proto == bpf_htons(DECAP_ETH_P_IP))) {
		if (bpf_skb_change_proto(skb, inner_ethertype, 0))
			goto malformed;
		outer_len = inner_family == 4 ? outer_len - (DECAP_IPV6_LEN - DECAP_IPV4_LEN)
					      : outer_len + (DECAP_IPV6_LEN - DECAP_IPV4_LEN);
	}
	if (bpf_skb_adjust_room(skb, -(__s32)outer_len, BPF_ADJ_ROOM_MAC, 0))
		goto malformed;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_SHOT;
	eth->h_proto = inner_ethertype;
	decap_count(ADAM_LB_DECAP_DONE);
	return TC_ACT_UNSPEC;

malformed:
	decap_count(ADAM_LB_DECAP_MALFORMED);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
