/* The packet parser BPF programs share (the firewall's classifier; the load
 * balancer's next): Ethernet, up to ADAM_PACKET_MAX_VLAN_TAGS VLAN tags
 * (802.1Q, 802.1ad), IPv4 (options honoured) or IPv6 (up to
 * ADAM_PACKET_MAX_IPV6_EXT_HEADERS extension headers walked), and the ports
 * of TCP and UDP. What it makes of each kind of frame, truncated and
 * fragmented ones included: docs/firewall.md, "Packet parsing".
 *
 * For BPF programs only, after vmlinux.h and <bpf/bpf_endian.h>. Everything
 * is static __always_inline: a program that includes it pays only for the
 * functions it calls, and the verifier sees each call inlined with its
 * caller's bounds. */
#ifndef ADAM_BPF_PACKET_H
#define ADAM_BPF_PACKET_H

/* The parser's limits: a frame with more VLAN tags is unparsed, an IPv6
 * chain with more extension headers leaves the protocol unknown. */
#define ADAM_PACKET_MAX_VLAN_TAGS 2
#define ADAM_PACKET_MAX_IPV6_EXT_HEADERS 6

/* Not in vmlinux.h (macros carry no BTF). */
#define ADAM_ETH_P_IP 0x0800
#define ADAM_ETH_P_IPV6 0x86DD
#define ADAM_ETH_P_8021Q 0x8100
#define ADAM_ETH_P_8021AD 0x88A8
#define ADAM_IP_OFFSET_MASK 0x1FFF	  /* IPv4 fragment offset */
#define ADAM_IP_MF 0x2000		  /* IPv4 "more fragments" */
#define ADAM_IP_DF 0x4000		  /* IPv4 "don't fragment" */
#define ADAM_IPV6_FRAG_OFFSET_MASK 0xFFF8 /* IPv6 fragment header offset */
#define ADAM_PROTO_HOPOPTS 0
#define ADAM_PROTO_TCP 6
#define ADAM_PROTO_UDP 17
#define ADAM_PROTO_ROUTING 43
#define ADAM_PROTO_FRAGMENT 44
#define ADAM_PROTO_AH 51
#define ADAM_PROTO_DSTOPTS 60
#define ADAM_TCP_HEADER_LEN 20
#define ADAM_UDP_HEADER_LEN 8

/* What the parser found out about a frame. */
struct adam_packet {
	__u32 family;	 /* 4, 6, or 0: unparsed (no complete L3 header) */
	__u32 proto;	 /* IP protocol, or ADAM_PROTO_UNKNOWN */
	__u32 has_ports; /* TCP/UDP with a complete header, not a non-first fragment */
	__u16 sport, dport; /* host byte order */
	__u8 src[16], dst[16]; /* network byte order; IPv4 in the first 4 bytes */
	/* Where the headers start, from the frame's first byte (l4_off: TCP
	 * and UDP only, not in a non-first fragment; 0 otherwise), for a
	 * program that rewrites the frame (the load balancer). */
	__u16 l3_off, l4_off;
	__u8 tcp_flags;	  /* TCP with a complete header: its flags byte (FIN 0x01, SYN 0x02, ACK 0x10) */
	__u8 fragment;	  /* a fragment, first or not: IPv4 MF or offset, any IPv6 fragment header */
	__u8 ip_options;  /* IPv4 with a header longer than 20 bytes */
	__u8 reserved;
};

#define ADAM_PROTO_UNKNOWN 256

/* An 802.1Q/802.1ad tag, as it follows the MAC addresses or an outer tag. */
struct adam_vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

static __always_inline void adam_parse_ports(void *data, void *l4, void *data_end, struct adam_packet *pkt)
{
	/* TCP and UDP both start with the source and destination ports. */
	__u32 header_len = pkt->proto == ADAM_PROTO_TCP ? ADAM_TCP_HEADER_LEN : ADAM_UDP_HEADER_LEN;
	__be16 *ports = l4;

	if (pkt->proto != ADAM_PROTO_TCP && pkt->proto != ADAM_PROTO_UDP)
		return;
	pkt->l4_off = l4 - data;
	if (l4 + header_len > data_end)
		return;
	pkt->sport = bpf_ntohs(ports[0]);
	pkt->dport = bpf_ntohs(ports[1]);
	pkt->has_ports = 1;
	/* (the bound again: the verifier may see header_len as either length) */
	if (pkt->proto == ADAM_PROTO_TCP && l4 + ADAM_TCP_HEADER_LEN <= data_end)
		pkt->tcp_flags = ((__u8 *)l4)[13];
}

static __always_inline void adam_parse_ipv4(void *data, void *l3, void *data_end, struct adam_packet *pkt)
{
	struct iphdr *ip = l3;
	__u32 header_len;

	if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
		return;
	header_len = ip->ihl * 4;
	if (l3 + header_len > data_end)
		return;
	pkt->family = 4;
	__builtin_memcpy(pkt->src, &ip->saddr, 4);
	__builtin_memcpy(pkt->dst, &ip->daddr, 4);
	pkt->proto = ip->protocol;
	pkt->ip_options = header_len > sizeof(*ip);
	pkt->fragment = (ip->frag_off & bpf_htons(ADAM_IP_MF | ADAM_IP_OFFSET_MASK)) != 0;
	if (ip->frag_off & bpf_htons(ADAM_IP_OFFSET_MASK))
		return; /* a non-first fragment carries no L4 header */
	adam_parse_ports(data, l3 + header_len, data_end, pkt);
}

static __always_inline int adam_is_ipv6_ext(__u32 nexthdr)
{
	return nexthdr == ADAM_PROTO_HOPOPTS || nexthdr == ADAM_PROTO_ROUTING || nexthdr == ADAM_PROTO_FRAGMENT ||
	       nexthdr == ADAM_PROTO_AH || nexthdr == ADAM_PROTO_DSTOPTS;
}

static __always_inline void adam_parse_ipv6(void *data, void *l3, void *data_end, struct adam_packet *pkt)
{
	struct ipv6hdr *ip6 = l3;
	void *cursor = ip6 + 1;
	__u32 nexthdr, i;

	if (cursor > data_end || ip6->version != 6)
		return;
	pkt->family = 6;
	__builtin_memcpy(pkt->src, &ip6->saddr, 16);
	__builtin_memcpy(pkt->dst, &ip6->daddr, 16);
	nexthdr = ip6->nexthdr;
	/* A truncated chain, or a longer one than we walk, leaves the protocol
	 * unknown. */
	for (i = 0; i < ADAM_PACKET_MAX_IPV6_EXT_HEADERS && adam_is_ipv6_ext(nexthdr); i++) {
		struct ipv6_opt_hdr *ext = cursor;

		if ((void *)(ext + 1) > data_end)
			return;
		if (nexthdr == ADAM_PROTO_FRAGMENT) {
			struct frag_hdr *frag = cursor;

			if ((void *)(frag + 1) > data_end)
				return;
			nexthdr = frag->nexthdr;
			cursor = frag + 1;
			pkt->fragment = 1;
			if (frag->frag_off & bpf_htons(ADAM_IPV6_FRAG_OFFSET_MASK)) {
				pkt->proto = nexthdr; /* non-first fragment: no L4 header */
				return;
			}
			continue;
		}
		/* AH counts 4-byte units minus 2, the others 8-byte units minus 1. */
		if (nexthdr == ADAM_PROTO_AH)
			cursor += (ext->hdrlen + 2) * 4;
		else
			cursor += (ext->hdrlen + 1) * 8;
		nexthdr = ext->nexthdr;
	}
	if (adam_is_ipv6_ext(nexthdr))
		return;
	pkt->proto = nexthdr;
	adam_parse_ports(data, cursor, data_end, pkt);
}

/* Parses the frame in [data, data_end). Returns 0 for a non-IP frame, else 1
 * with what could be parsed in *pkt. A frame that ends inside its Ethernet, VLAN or
 * IP header is "unparsed" (family 0). */
static __always_inline int adam_parse_packet(void *data, void *data_end, struct adam_packet *pkt)
{
	struct ethhdr *eth = data;
	void *cursor = eth + 1;
	__be16 ethertype;
	__u32 i;

	pkt->family = 0;
	pkt->proto = ADAM_PROTO_UNKNOWN;
	pkt->has_ports = 0;
	pkt->l3_off = 0;
	pkt->l4_off = 0;
	pkt->tcp_flags = 0;
	pkt->fragment = 0;
	pkt->ip_options = 0;
	if (cursor > data_end)
		return 1;
	ethertype = eth->h_proto;
	for (i = 0; i < ADAM_PACKET_MAX_VLAN_TAGS + 1; i++) {
		struct adam_vlan_hdr *vlan = cursor;

		if (ethertype != bpf_htons(ADAM_ETH_P_8021Q) && ethertype != bpf_htons(ADAM_ETH_P_8021AD))
			break;
		/* More tags than we peel: unparsed (the firewall matches it only
		 * with rules without L3/L4 conditions). */
		if (i == ADAM_PACKET_MAX_VLAN_TAGS || (void *)(vlan + 1) > data_end)
			return 1;
		ethertype = vlan->encapsulated_proto;
		cursor = vlan + 1;
	}
	pkt->l3_off = cursor - data;
	if (ethertype == bpf_htons(ADAM_ETH_P_IP))
		adam_parse_ipv4(data, cursor, data_end, pkt);
	else if (ethertype == bpf_htons(ADAM_ETH_P_IPV6))
		adam_parse_ipv6(data, cursor, data_end, pkt);
	else
		return 0;
	return 1;
}

#endif /* ADAM_BPF_PACKET_H */
