// SPDX-License-Identifier: GPL-2.0
/* Test probe of the XDP chain tests, loaded once per slot it fills: counts
 * the packets it sees (all, and IPv4 ICMP), drops IPv4 ICMP while `drop_icmp`
 * is set, else hands the packet on down the chain. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "adam/xdp_chain.h"

#define PROBE_ETH_P_IP 0x0800

const volatile int probe_slot = 1; /* set before load */

__u64 packets_all = 0;
__u64 packets_icmp = 0;
__u32 drop_icmp = 0; /* set from userspace through the skeleton's bss */

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
int chain_probe(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&packets_all, 1);
	if (probe_is_icmp4(ctx)) {
		__sync_fetch_and_add(&packets_icmp, 1);
		if (drop_icmp)
			return XDP_DROP;
	}
	return adam_xdp_next(ctx, probe_slot);
}

char LICENSE[] SEC("license") = "GPL";
