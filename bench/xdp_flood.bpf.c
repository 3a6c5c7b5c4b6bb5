// SPDX-License-Identifier: GPL-2.0
/* The two ends of bench/lb_vs_nft.sh's flood.
 *
 * xdp_flood, the traffic generator of `udp_flood send-xdp`: run
 * by BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES on a UDP frame the
 * tool built, it turns each copy of the frame into the next flow's (source
 * port 10000 + n mod flows, the UDP checksum updated to match) and sends it
 * out of the run's ingress interface with XDP_TX. The kernel hands the
 * frames to the driver in batches, without an skb, a socket or a syscall
 * per packet: the sender costs next to nothing of the path it measures.
 *
 * xdp_count, the counter of `udp_flood count-xdp`: attached to a backend's
 * interface, it counts the IPv4 UDP packets to count_port and drops them,
 * so what a packet costs after its arrival is the same small amount
 * whichever way it came. */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define ETH_P_IP 0x0800 /* vmlinux.h has no macros */

struct flood_headers {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
} __attribute__((packed));

/* Flow 0's headers, as the tool wrote them after loading (bytes: the
 * skeleton knows no struct flood_headers; not const: the compiler would
 * fold a const array's copy to its zero initial value). */
__u8 headers[sizeof(struct flood_headers)];
const volatile __u32 flows = 1;

/* The frames sent so far: which flow is next. */
__u64 sent;

SEC("xdp")
int xdp_flood(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flood_headers *h = data;
	__u16 port;
	__u32 sum;

	if ((void *)(h + 1) > data_end)
		return XDP_ABORTED;
	/* All of them, every time: the kernel recycles a sent frame's page
	 * as it is, and whoever received it may have rewritten them (a
	 * balancer's MACs, a DNAT's address and checksums). */
	__builtin_memcpy(h, (const void *)headers, sizeof(*h));
	port = bpf_htons(10000 + sent++ % flows);
	/* RFC 1624: HC' = ~(~HC + ~m + m'). */
	sum = (__u16)~h->udp.check + (__u16)~h->udp.source + port;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	h->udp.source = port;
	h->udp.check = (__u16)~sum ?: 0xffff; /* 0 would mean "no checksum" */
	return XDP_TX;
}

const volatile __u16 count_port = 9999;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counted SEC(".maps");

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flood_headers *h = data;
	__u32 key = 0;
	__u64 *n;

	if ((void *)(h + 1) > data_end || h->eth.h_proto != bpf_htons(ETH_P_IP) ||
	    h->ip.ihl != 5 || h->ip.protocol != IPPROTO_UDP ||
	    h->udp.dest != bpf_htons(count_port))
		return XDP_PASS;
	n = bpf_map_lookup_elem(&counted, &key);
	if (n)
		*n += 1;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
