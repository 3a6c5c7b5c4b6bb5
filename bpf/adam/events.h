/* Events from BPF programs to adamd (see src/core/event_hub.h and
 * docs/events.md). Every record a plugin puts in its ring buffer starts with
 * struct adam_event_header; the plugin's decoder in adamd turns the rest into
 * the event's kind and JSON data. An event the program could not emit is
 * counted in the plugin's per-CPU lost counter, one slot per reason (below),
 * which adamd reads into adamd_events_lost_total: the BPF program never
 * waits. Included by BPF and C++ code alike. */
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

/* Slots of a lost counter: why an event was not emitted. adamd reports them
 * as LossReason kernel and rate_limit (src/core/event_hub.h). */
#define ADAM_EVENT_LOST_RESERVE 0    /* the ring buffer was full: adamd fell behind */
#define ADAM_EVENT_LOST_RATE_LIMIT 1 /* the producer's own rate limit refused it */
#define ADAM_EVENT_LOST_SLOTS 2

/* A program wakes adamd's reader only once its ring buffer is
 * 1/ADAM_EVENT_WAKEUP_SHARE full; the reader also reads every
 * ADAM_EVENT_POLL_MS whatever it was told (src/core/event_hub.cpp), which
 * bounds how late an event is read. Waking it for every record, as
 * bpf_ringbuf_submit(.., 0) does for a reader that keeps up, costs an
 * interrupt and a wake-up per event: in a VM 10 times what the program
 * itself does (docs/BENCHMARKS.md, "Process monitor"). */
#define ADAM_EVENT_WAKEUP_SHARE 4
#define ADAM_EVENT_POLL_MS 100

#ifdef __bpf__
/* Declares a plugin's ring buffer and its lost counter (a per-CPU array with
 * one slot per ADAM_EVENT_LOST_* reason, so counting a loss never contends
 * between CPUs). */
#define ADAM_EVENT_MAPS(ringbuf_name, lost_name, ringbuf_bytes) \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_RINGBUF);             \
		__uint(max_entries, ringbuf_bytes);             \
	} ringbuf_name SEC(".maps");                            \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);        \
		__uint(max_entries, ADAM_EVENT_LOST_SLOTS);     \
		__type(key, __u32);                             \
		__type(value, __u64);                           \
	} lost_name SEC(".maps")

/* Counts one event lost for `reason` (ADAM_EVENT_LOST_*). */
static __always_inline void adam_event_count_lost(void *lost, __u32 reason)
{
	__u64 *count = bpf_map_lookup_elem(lost, &reason);

	if (count)
		*count += 1; /* per-CPU: no atomics needed */
}

/* The flags of a record's submit: a wake-up only once the ring is
 * 1/ADAM_EVENT_WAKEUP_SHARE full (after the reserve, so counting the record). */
static __always_inline __u64 adam_event_wakeup(void *ringbuf)
{
	__u64 size = bpf_ringbuf_query(ringbuf, BPF_RB_RING_SIZE);

	return bpf_ringbuf_query(ringbuf, BPF_RB_AVAIL_DATA) >= size / ADAM_EVENT_WAKEUP_SHARE
		       ? BPF_RB_FORCE_WAKEUP
		       : BPF_RB_NO_WAKEUP;
}

/* Reserves a record of `size` bytes and fills its header, or counts the loss
 * and returns NULL. Send it with adam_event_submit(). */
static __always_inline void *adam_event_reserve(void *ringbuf, void *lost, __u32 size, __u32 kind)
{
	struct adam_event_header *h = bpf_ringbuf_reserve(ringbuf, size, 0);

	if (!h) {
		adam_event_count_lost(lost, ADAM_EVENT_LOST_RESERVE);
		return NULL;
	}
	h->ts_boot_ns = bpf_ktime_get_boot_ns();
	h->kind = kind;
	h->size = size;
	return h;
}

/* Sends a record adam_event_reserve() gave. */
static __always_inline void adam_event_submit(void *ringbuf, void *record)
{
	bpf_ringbuf_submit(record, adam_event_wakeup(ringbuf));
}

/* Sends a record of `size` bytes that the program built elsewhere (a per-CPU
 * scratch buffer: a record too big for the stack, or of a size known only at
 * run time, which bpf_ringbuf_reserve cannot take): fills its header, copies
 * it into the ring buffer, or counts the loss. 0 when sent. */
static __always_inline long adam_event_output(void *ringbuf, void *lost, struct adam_event_header *h,
					      __u32 size, __u32 kind)
{
	long err;

	h->ts_boot_ns = bpf_ktime_get_boot_ns();
	h->kind = kind;
	h->size = size;
	/* The wake-up is decided before the copy: the record is not counted. */
	err = bpf_ringbuf_output(ringbuf, h, size, adam_event_wakeup(ringbuf));
	if (err)
		adam_event_count_lost(lost, ADAM_EVENT_LOST_RESERVE);
	return err;
}
#endif

#endif
