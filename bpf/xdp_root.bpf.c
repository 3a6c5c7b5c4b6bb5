// SPDX-License-Identifier: GPL-2.0
/* adamd's root XDP program: attached once per interface (a bpf_link pinned at
 * <pin_dir>/xdp/root@<ifname>), it hands every packet to the first filled slot
 * of the chain (see adam/xdp_chain.h and src/core/xdp_chain.h). With no plugin
 * program installed the packet passes untouched. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "adam/xdp_chain.h"

SEC("xdp")
int adam_xdp_root(struct xdp_md *ctx)
{
	return adam_xdp_next(ctx, -1);
}

char LICENSE[] SEC("license") = "GPL";
