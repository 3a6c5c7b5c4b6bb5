/* Events from BPF programs to adamd (see src/core/event_hub.h and
 * docs/events.md). Every record a plugin puts in its ring buffer starts with
 * struct adam_event_header; the plugin's decoder in adamd turns the rest into
 * the event's kind and JSON data. A record that cannot be reserved (the ring
 * buffer is full because adamd is behind) is counted in the plugin's per-CPU
 * lost counter, which adamd reads into adamd_events_lost_total: the BPF
 * program never waits. Included by BPF and C++ code alike. */
#ifndef ADAM_BPF_EVENTS_H
#define ADAM_BPF_EVENTS_H

#ifndef __bpf__
#include <linux/types.h>
#endif

struct adam_event_header {
	__u64 ts_boot_ns; /* bpf_ktime_get_boot_ns(); adamd turns it into wall-clock time */
	__u32 kind;       /* the plugin's own kind code; its decoder names it */
	__u32 size;       /* bytes of the whole record, header included */
};

#ifdef __bpf__
/* Declares a plugin's ring buffer and its lost counter (a per-CPU array with
 * one slot, so counting a loss never contends between CPUs). */
#define ADAM_EVENT_MAPS(ringbuf_name, lost_name, ringbuf_bytes) \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_RINGBUF);             \
		__uint(max_entries, ringbuf_bytes);             \
	} ringbuf_name SEC(".maps");                            \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);        \
		__uint(max_entries, 1);                         \
		__type(key, __u32);                             \
		__type(value, __u64);                           \
	} lost_name SEC(".maps")

/* Reserves a record of `size` bytes and fills its header, or counts the loss
 * and returns NULL. Submit it with bpf_ringbuf_submit(record, 0). */
static __always_inline void *adam_event_reserve(void *ringbuf, void *lost, __u32 size, __u32 kind)
{
	struct adam_event_header *h = bpf_ringbuf_reserve(ringbuf, size, 0);
	__u32 zero = 0;

	if (!h) {
		__u64 *count = bpf_map_lookup_elem(lost, &zero);
		if (count)
			*count += 1;
		return NULL;
	}
	h->ts_boot_ns = bpf_ktime_get_boot_ns();
	h->kind = kind;
	h->size = size;
	return h;
}
#endif

#endif
