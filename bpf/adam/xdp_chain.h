/* The XDP chain shared by adamd's root program and every XDP plugin program
 * (see src/core/xdp_chain.h). Included by BPF and C++ code alike. */
#ifndef ADAM_BPF_XDP_CHAIN_H
#define ADAM_BPF_XDP_CHAIN_H

/* Slots of the chain, in the order packets visit them. */
#define ADAM_XDP_CHAIN_SLOTS 8
#define ADAM_XDP_SLOT_FIREWALL 0 /* the firewall decides before anything else */
#define ADAM_XDP_SLOT_LB 4       /* the load balancer sees what the firewall let through */

#ifdef __bpf__
/* Every program that takes part declares this map; userspace points it at the
 * one pinned chain (bpf_map__reuse_fd) before loading. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, ADAM_XDP_CHAIN_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} adam_xdp_chain SEC(".maps");

/* Hands the packet to the first filled slot after `slot` (pass -1 to start at
 * the beginning). A tail call that succeeds never returns; an empty slot falls
 * through to the next. When no later slot is filled the packet passes. */
/* Unrolled by hand: clang 14 refuses to unroll the equivalent loop (its
 * `#pragma unroll` fails with -Wpass-failed), and a constant index lets the
 * JIT turn each tail call into a direct jump. `slot` is a constant in every
 * caller, so the tests fold away. */
#define ADAM_XDP_TRY_SLOT(ctx, slot, i)                               \
	do {                                                          \
		if ((i) > (slot))                                     \
			bpf_tail_call((ctx), &adam_xdp_chain, (i));  \
	} while (0)
static __always_inline int adam_xdp_next(struct xdp_md *ctx, int slot)
{
	_Static_assert(ADAM_XDP_CHAIN_SLOTS == 8, "adam_xdp_next tries exactly 8 slots");
	ADAM_XDP_TRY_SLOT(ctx, slot, 0);
	ADAM_XDP_TRY_SLOT(ctx, slot, 1);
	ADAM_XDP_TRY_SLOT(ctx, slot, 2);
	ADAM_XDP_TRY_SLOT(ctx, slot, 3);
	ADAM_XDP_TRY_SLOT(ctx, slot, 4);
	ADAM_XDP_TRY_SLOT(ctx, slot, 5);
	ADAM_XDP_TRY_SLOT(ctx, slot, 6);
	ADAM_XDP_TRY_SLOT(ctx, slot, 7);
	return XDP_PASS;
}
#endif /* __bpf__ */

#endif /* ADAM_BPF_XDP_CHAIN_H */
