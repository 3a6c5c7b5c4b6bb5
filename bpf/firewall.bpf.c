// SPDX-License-Identifier: GPL-2.0
/* The firewall's XDP program, slot ADAM_XDP_SLOT_FIREWALL of adamd's chain.
 *
 * Packets from interfaces the firewall is not started on go on down the chain
 * untouched. Packets on a firewall interface are classified (for now every
 * packet passes: the rule classifier comes later), counted per verdict in
 * fw_totals, and then dropped or handed on to the next slot. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "xdp_chain.h"
#include "firewall.h"

/* The interfaces (ifindex in adamd's network namespace) the firewall runs on. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ADAM_FW_MAX_IFACES);
	__type(key, __u32);
	__type(value, __u32);
} fw_ifaces SEC(".maps");

/* Packets and bytes per verdict (ADAM_FW_VERDICT_*), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ADAM_FW_VERDICTS);
	__type(key, __u32);
	__type(value, struct adam_fw_counter);
} fw_totals SEC(".maps");

/* Decides a packet's verdict. No rules yet: everything passes. */
static __always_inline __u32 fw_classify(struct xdp_md *ctx)
{
	return ADAM_FW_VERDICT_PASS;
}

static __always_inline void fw_count(__u32 verdict, __u64 bytes)
{
	struct adam_fw_counter *c = bpf_map_lookup_elem(&fw_totals, &verdict);

	if (!c)
		return;
	c->packets += 1; /* per-CPU: no atomics needed */
	c->bytes += bytes;
}

SEC("xdp")
int adam_firewall(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	__u32 verdict;

	if (!bpf_map_lookup_elem(&fw_ifaces, &ifindex))
		return adam_xdp_next(ctx, ADAM_XDP_SLOT_FIREWALL);

	verdict = fw_classify(ctx);
	fw_count(verdict, (__u64)(ctx->data_end - ctx->data));
	if (verdict == ADAM_FW_VERDICT_DROP)
		return XDP_DROP;
	return adam_xdp_next(ctx, ADAM_XDP_SLOT_FIREWALL);
}

char LICENSE[] SEC("license") = "GPL";
