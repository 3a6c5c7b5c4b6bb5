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
