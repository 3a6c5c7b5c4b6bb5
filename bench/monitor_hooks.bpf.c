// SPDX-License-Identifier: GPL-2.0
/* monitor_bench's `hooks` configuration: an empty program on every hook the
 * process monitor attaches for exec, fork, exit and file opens
 * (bpf/monitor.bpf.c, as it attaches them where the kernel takes tp_btf).
 * What the storms cost with these attached is what any program there costs
 * before it does anything: the floor under the monitor's own overhead. A
 * syscall tracepoint also sends every system call of every task through
 * the kernel's slow entry path (SYSCALL_WORK_SYSCALL_TRACEPOINT). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sched_process_exec")
int BPF_PROG(hook_exec)
{
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(hook_fork)
{
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(hook_exit)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int hook_openat_enter(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int hook_openat_exit(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int hook_openat2_enter(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int hook_openat2_exit(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int hook_connect_exit(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
