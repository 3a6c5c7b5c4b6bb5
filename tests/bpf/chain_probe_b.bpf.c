// SPDX-License-Identifier: GPL-2.0
/* Test probe B of the XDP chain test (slot 2): counts the packets it sees
 * (all, and IPv4 ICMP) and hands them on down the chain. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdp_chain.h"

#define PROBE_SLOT 2
#define PROBE_ETH_P_IP 0x0800

__u64 packets_all = 0;
__u64 packets_icmp = 0;

static __always_inline int probe_is_icmp4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);

	if ((void *)(ip + 1) > data_end)
		return 0;
	if (eth->h_proto != bpf_htons(PROBE_ETH_P_IP))
		return 0;
	return ip->protocol == IPPROTO_ICMP;
}

SEC("xdp")
int chain_probe_b(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&packets_all, 1);
	if (probe_is_icmp4(ctx))
		__sync_fetch_and_add(&packets_icmp, 1);
	return adam_xdp_next(ctx, PROBE_SLOT);
}

char LICENSE[] SEC("license") = "GPL";
