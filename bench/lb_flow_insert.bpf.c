// SPDX-License-Identifier: GPL-2.0
/* lb_bench's floor for a miss: what placing a new flow in a connection table
 * costs by itself, measured the same way as the balancer. The table is
 * lb_flows' kind (LRU hash, per-CPU LRU lists, the same key and value, the
 * size lb_bench gives both); the key comes from lb_bench's frames (Ethernet,
 * IPv4 without options, TCP) at fixed offsets, without the balancer's
 * parser, service lookup, hash or Maglev entry. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "adam/lb.h"

#define FRAME_IPV4 14		/* the IPv4 header after the Ethernet header */
#define FRAME_PORTS (FRAME_IPV4 + 20) /* the TCP ports after a header without options */

ADAM_LB_FLOWS_MAP(flows); /* the balancer's connection table, by the same declaration */

SEC("xdp")
int place_flow(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct adam_lb_flow_key key = {};
	struct adam_lb_flow flow = {};
	struct iphdr *ip = data + FRAME_IPV4;
	__be16 *ports = data + FRAME_PORTS;

	if ((void *)(ports + 2) > data_end)
		return XDP_DROP;
	__builtin_memcpy(key.src, &ip->saddr, 4);
	__builtin_memcpy(key.dst, &ip->daddr, 4);
	key.sport = bpf_ntohs(ports[0]);
	key.dport = bpf_ntohs(ports[1]);
	key.proto = ip->protocol;
	key.family = 4;
	if (bpf_map_update_elem(&flows, &key, &flow, BPF_ANY))
		return XDP_ABORTED;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
