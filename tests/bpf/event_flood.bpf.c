// SPDX-License-Identifier: GPL-2.0
/* The event pipeline's test producer: every run (BPF_PROG_TEST_RUN with
 * `repeat` runs it that many times) emits one event through the shared
 * header of bpf/adam/events.h and counts it as produced, so a test can check that
 * produced = stored + counted as lost. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "adam/events.h"

#define FLOOD_KIND_TICK 1

struct flood_event {
	struct adam_event_header header;
	__u64 seq; /* per CPU */
	__u32 cpu;
	__u32 pad;
};

ADAM_EVENT_MAPS(flood_events, flood_lost, 1 << 22);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} flood_produced SEC(".maps");

SEC("xdp")
int event_flood(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *produced = bpf_map_lookup_elem(&flood_produced, &zero);
	struct flood_event *e;

	if (!produced)
		return XDP_ABORTED;
	*produced += 1;
	e = adam_event_reserve(&flood_events, &flood_lost, sizeof(*e), FLOOD_KIND_TICK);
	if (!e)
		return XDP_PASS;
	e->seq = *produced;
	e->cpu = bpf_get_smp_processor_id();
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
