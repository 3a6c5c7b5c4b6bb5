// SPDX-License-Identifier: GPL-2.0
// Tiny programs that adamd loads (one at a time, the others' autoload off) to
// find out what the running kernel accepts: see src/core/kernel.cpp. They do
// nothing and are detached and unloaded as soon as the probe has its answer.
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

// BPF LSM: needs CONFIG_BPF_LSM, "bpf" in the active LSM list and a kernel that
// lets us load BPF_PROG_TYPE_LSM. Passes on whatever earlier programs decided.
SEC("lsm/file_open")
int BPF_PROG(probe_lsm, struct file *file, int ret) { return ret; }

// fentry (BPF trampolines). do_unlinkat is a long-lived, non-inlined function.
SEC("fentry/do_unlinkat")
int BPF_PROG(probe_fentry) { return 0; }

// Classic tracepoint attached through perf_event_open (needs tracefs for the id).
SEC("tracepoint/sched/sched_process_exec")
int probe_tp(void *ctx) { return 0; }

// BTF-typed raw tracepoint (tp_btf): typed arguments, attached through a
// BPF link; the process monitor's first choice for the sched tracepoints.
SEC("tp_btf/sched_process_exec")
int BPF_PROG(probe_tp_btf, struct task_struct *p) { return 0; }

// Raw tracepoint: untyped arguments; the monitor's fallback.
SEC("raw_tp/sched_process_exec")
int BPF_PROG(probe_raw_tp, struct task_struct *p) { return 0; }

// cgroup-v2 socket address hooks (the lsm plugin's connect and bind
// mechanism without BPF LSM): attached as a link on the cgroup2 root for a
// moment. Allows every connect.
SEC("cgroup/connect4")
int probe_cgroup_connect4(struct bpf_sock_addr *ctx) { return 1; }

// bpf_send_signal (the lsm plugin's last resort for exec): only loaded,
// never attached; the flag is never set, so it would signal nothing anyway.
volatile const int probe_signal_never = 0;

SEC("raw_tp/sched_process_exec")
int BPF_PROG(probe_send_signal, struct task_struct *p)
{
	if (probe_signal_never)
		bpf_send_signal(9);
	return 0;
}
