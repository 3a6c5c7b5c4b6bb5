// SPDX-License-Identifier: GPL-2.0
/* Test programs of the pin tests (tests/integration/bpf_pins_test.cpp),
 * one per kind of hook that is not a network device: a tracepoint and a
 * cgroup hook. Each adds `step` (set before load) to its counter per call,
 * so that a test tells which load of the program counted. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

const volatile __u32 target_tgid = 0;
const volatile __u64 step = 1;

/* The getppid() calls of target_tgid, and the sockets created in the cgroup:
 * two maps, so that the tests of pinned maps adopt (or replace) a set. */
#define LINK_PROBE_COUNTER(name)              \
	struct {                              \
		__uint(type, BPF_MAP_TYPE_ARRAY); \
		__uint(max_entries, 1);       \
		__type(key, __u32);           \
		__type(value, __u64);         \
	} name SEC(".maps")

LINK_PROBE_COUNTER(link_probe_calls);
LINK_PROBE_COUNTER(link_probe_sockets);

static __always_inline void link_probe_count(void *counter)
{
	__u32 zero = 0;
	__u64 *count = bpf_map_lookup_elem(counter, &zero);

	if (count)
		__sync_fetch_and_add(count, step);
}

SEC("tp/syscalls/sys_enter_getppid")
int count_getppid(void *ctx)
{
	if (bpf_get_current_pid_tgid() >> 32 == target_tgid)
		link_probe_count(&link_probe_calls);
	return 0;
}

/* Only the processes of the cgroup it is attached to reach it. */
SEC("cgroup/sock_create")
int count_socket(struct bpf_sock *sk)
{
	link_probe_count(&link_probe_sockets);
	return 1; /* allow */
}

char LICENSE[] SEC("license") = "GPL";
