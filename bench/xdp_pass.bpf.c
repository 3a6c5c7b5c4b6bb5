// SPDX-License-Identifier: GPL-2.0
/* The empty XDP program of bench/fw_vs_iptables.sh: every packet passes. It
 * measures what attaching any XDP program costs on an interface, apart from
 * what the program does. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
