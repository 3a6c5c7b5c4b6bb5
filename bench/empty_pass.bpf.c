// SPDX-License-Identifier: GPL-2.0
/* The empty programs of bench/fw_vs_iptables.sh: every packet passes. They
 * measure what hooking any program into an interface's receive path costs,
 * apart from what the program does: at XDP (attached with `ip link set ...
 * xdpdrv|xdpgeneric obj empty_pass.bpf.o sec xdp`) and at tc ingress
 * (attached through a tcx link by bench/tcx_attach). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* TC_ACT_UNSPEC: on to the next program, as the firewall's pass does. */
SEC("tc")
int tc_pass(struct __sk_buff *skb)
{
	return -1;
}

char LICENSE[] SEC("license") = "GPL";
