// SPDX-License-Identifier: GPL-2.0
/* The process monitor's programs (docs/monitor.md "Hooks"): exec, fork and
 * exit from the sched tracepoints, each written once and attached as tp_btf
 * where the kernel takes it, else as raw_tp (adamd turns the other set's
 * autoload off); connect from cgroup/connect4|6 (the kernel's copy of the
 * address) and the connect syscall's exit (its result); file opens from the
 * openat/openat2 syscall tracepoints, kept only under a watched prefix.
 *
 * mon_procs holds every live process's identity and the process that forked
 * it, whatever the filters record: the exit record reads it (mm is gone by
 * then) and every record names its process's parent from it. adamd seeds it
 * from /proc for the processes older than the programs. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "adam/events.h"
#include "adam/monitor.h"
#include "adam/proc.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10

const volatile struct adam_mon_config mon_config = {};

/* The ring buffer's size is set by adamd before load (ring_buffer_kb). */
ADAM_EVENT_MAPS(mon_events, mon_lost, 1 << 23);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ADAM_MON_PROCS);
	__type(key, __u32); /* tgid */
	__type(value, struct adam_proc_entry);
} mon_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, ADAM_MON_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct adam_mon_prefix_key);
	__type(value, __u8);
} mon_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ADAM_MON_MAX_UIDS);
	__type(key, __u32);
	__type(value, __u8);
} mon_uids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ADAM_MON_MAX_COMMS);
	__type(key, char[ADAM_MON_COMM_LEN]);
	__type(value, __u8);
} mon_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ADAM_MON_MAX_CGROUPS);
	__type(key, __u64); /* cgroup v2 id */
	__type(value, __u8);
} mon_cgroups SEC(".maps");

/* An open under a watched prefix between its syscall's entry and exit; also
 * the per-CPU buffer the entry reads every path into (mon_open_scratch). */
struct pending_open {
	struct adam_mon_prefix_key key; /* the path, and its length in bits */
	__u32 flags;
	__u32 trunc;
};

/* A connect between cgroup/connect4|6 and the syscall's exit. */
struct pending_connect {
	__u16 family;
	__u16 port;
	__u8 protocol;
	__u8 pad[3];
	__u8 addr[16];
};

/* LRU: a syscall whose exit never comes (an io_uring connect seen by the
 * cgroup hook) leaves an entry that newer ones push out. Keyed by tid. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ADAM_MON_PENDING);
	__type(key, __u32);
	__type(value, struct pending_open);
} mon_pending_open SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ADAM_MON_PENDING);
	__type(key, __u32);
	__type(value, struct pending_connect);
} mon_pending_connect SEC(".maps");

/* Entries of mon_pending_open, over all threads: almost always 0, and then
 * an open's exit looks nothing up. (An entry the LRU pushed out leaves it
 * high: exits then look up, as they would without it.) */
__u64 mon_opens_pending = 0;

/* Per-CPU buffers for what the 512-byte stack cannot hold. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct adam_mon_exec);
} mon_exec_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pending_open);
} mon_open_scratch SEC(".maps");

/* --- Identity ---------------------------------------------------------- */

/* What mon_procs knows of `task`'s process, or, on a miss (the map was full,
 * or the process came before the programs and adamd has not seeded it yet),
 * the process as it is now and its real parent as the parent. */
static __always_inline void proc_entry_of(struct task_struct *task, struct adam_proc_entry *entry)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct adam_proc_entry *known = bpf_map_lookup_elem(&mon_procs, &tgid);

	if (known) {
		*entry = *known;
		return;
	}
	proc_id_of(task, &entry->self);
	proc_id_of(BPF_CORE_READ(task, real_parent), &entry->parent);
}

/* --- Filters ------------------------------------------------------------ */

static __always_inline bool in_watched_cgroup(void)
{
	for (int level = 0; level < ADAM_MON_CGROUP_DEPTH; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);

		if (!id)
			return false; /* past the current cgroup itself */
		if (bpf_map_lookup_elem(&mon_cgroups, &id))
			return true;
	}
	return false;
}

/* Whether an event of `kind` by the current task is recorded. */
static __always_inline bool recorded(__u32 kind)
{
	if (!(mon_config.kinds & ADAM_MON_KIND_BIT(kind)))
		return false;
	if (mon_config.ignore_self) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;

		if (tgid == mon_config.self_tgid || BPF_CORE_READ(task, real_parent, tgid) == mon_config.self_tgid)
			return false;
	}
	if (mon_config.filter_uids) {
		__u32 uid = (__u32)bpf_get_current_uid_gid();

		if (!bpf_map_lookup_elem(&mon_uids, &uid))
			return false;
	}
	if (mon_config.filter_comms) {
		char comm[ADAM_MON_COMM_LEN] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		if (!bpf_map_lookup_elem(&mon_comms, comm))
			return false;
	}
	if (mon_config.filter_cgroups && !in_watched_cgroup())
		return false;
	return true;
}

/* --- exec, fork, exit (tp_btf and raw_tp alike) ------------------------- */

static __always_inline int on_exec(struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct adam_proc_entry entry;
	struct adam_proc_entry *known = bpf_map_lookup_elem(&mon_procs, &tgid);

	/* The new image: its tag is the new mm's start_stack (set up before the
	 * tracepoint fires); the parent stays the process that forked it. */
	if (known)
		entry.parent = known->parent;
	else
		proc_id_of(BPF_CORE_READ(task, real_parent), &entry.parent);
	proc_id_of(task, &entry.self);
	bpf_map_update_elem(&mon_procs, &tgid, &entry, BPF_ANY);

	if (!recorded(ADAM_MON_EXEC))
		return 0;
	__u32 zero = 0;
	struct adam_mon_exec *e = bpf_map_lookup_elem(&mon_exec_scratch, &zero);

	if (!e)
		return 0;
	fill_proc_ctx(&e->proc, task, &entry);
	e->flags = 0;
	e->old_tid = old_pid;

	long n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));

	if (n <= 0)
		n = 1;
	if (n >= (long)sizeof(e->filename))
		e->flags |= ADAM_MON_FILENAME_TRUNCATED;
	e->filename_len = n - 1;

	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	__u64 arg_start = BPF_CORE_READ(mm, arg_start);
	__u64 len = BPF_CORE_READ(mm, arg_end) - arg_start;

	if (len > mon_config.args_max) {
		len = mon_config.args_max;
		e->flags |= ADAM_MON_ARGS_TRUNCATED;
	}
	if (len > ADAM_MON_ARGS_MAX) /* for the verifier: args_max is at most this */
		len = ADAM_MON_ARGS_MAX;
	if (len && bpf_probe_read_user(e->args, len, (const void *)arg_start)) {
		len = 0;
		e->flags |= ADAM_MON_ARGS_TRUNCATED;
	}
	e->args_len = len;
	adam_event_output(&mon_events, &mon_lost, &e->header, offsetof(struct adam_mon_exec, args) + len,
			  ADAM_MON_EXEC);
	return 0;
}

static __always_inline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 tgid = BPF_CORE_READ(child, tgid);
	struct adam_proc_entry entry;

	if (BPF_CORE_READ(child, pid) != tgid)
		return 0; /* a new thread, not a new process */
	/* The parent as mon_procs knows it: what adamd seeded it as (/proc
	 * hides start_stack of some processes: their tag is 0 there), so its
	 * children name the parent the table holds. */
	__u32 parent_tgid = BPF_CORE_READ(parent, tgid);
	struct adam_proc_entry *known = bpf_map_lookup_elem(&mon_procs, &parent_tgid);

	if (known)
		entry.parent = known->self;
	else
		proc_id_of(parent, &entry.parent);
	/* The child runs a copy of the parent's image: same tag. */
	proc_id_of(child, &entry.self);
	entry.self.tag = entry.parent.tag;
	bpf_map_update_elem(&mon_procs, &tgid, &entry, BPF_ANY);

	if (!recorded(ADAM_MON_FORK))
		return 0;
	struct adam_mon_fork *e = adam_event_reserve(&mon_events, &mon_lost, sizeof(*e), ADAM_MON_FORK);

	if (!e)
		return 0;
	fill_proc_ctx(&e->proc, child, &entry);
	adam_event_submit(&mon_events, e);
	return 0;
}

static __always_inline int on_exit(struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct adam_proc_entry entry;

	/* do_exit decremented signal->live before the tracepoint: 0 means the
	 * group's last thread, the end of the process. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	struct adam_proc_entry *known = bpf_map_lookup_elem(&mon_procs, &tgid);

	if (known) {
		entry = *known;
		/* Two threads ending at once can both read 0: the one that
		 * deletes the entry reports the exit. */
		if (bpf_map_delete_elem(&mon_procs, &tgid))
			return 0;
	} else {
		proc_id_of(task, &entry.self);
		proc_id_of(BPF_CORE_READ(task, real_parent), &entry.parent);
	}
	if (!recorded(ADAM_MON_EXIT))
		return 0;
	struct adam_mon_exit *e = adam_event_reserve(&mon_events, &mon_lost, sizeof(*e), ADAM_MON_EXIT);

	if (!e)
		return 0;
	fill_proc_ctx(&e->proc, task, &entry);
	e->exit_code = BPF_CORE_READ(task, exit_code);
	e->pad = 0;
	adam_event_submit(&mon_events, e);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(mon_exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, old_pid, bprm);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(mon_exec_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, old_pid, bprm);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(mon_fork_btf, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(mon_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(mon_exit_btf, struct task_struct *p)
{
	return on_exit(p);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(mon_exit_raw, struct task_struct *p)
{
	return on_exit(p);
}

/* --- connect ------------------------------------------------------------ */

/* The address as the kernel copied it from the caller: another thread can
 * no longer change it. Always allows (return 1): the monitor only records. */
static __always_inline int remember_connect(struct bpf_sock_addr *ctx, __u16 family)
{
	struct pending_connect pending = {};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	pending.family = family;
	pending.port = bpf_ntohs((__u16)ctx->user_port);
	pending.protocol = ctx->protocol;
	if (family == AF_INET) {
		__u32 ip4 = ctx->user_ip4;

		__builtin_memcpy(pending.addr, &ip4, 4);
	} else {
		__u32 ip6[4];

		ip6[0] = ctx->user_ip6[0];
		ip6[1] = ctx->user_ip6[1];
		ip6[2] = ctx->user_ip6[2];
		ip6[3] = ctx->user_ip6[3];
		__builtin_memcpy(pending.addr, ip6, 16);
	}
	bpf_map_update_elem(&mon_pending_connect, &tid, &pending, BPF_ANY);
	return 1;
}

SEC("cgroup/connect4")
int mon_connect4(struct bpf_sock_addr *ctx)
{
	return remember_connect(ctx, AF_INET);
}

SEC("cgroup/connect6")
int mon_connect6(struct bpf_sock_addr *ctx)
{
	return remember_connect(ctx, AF_INET6);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int mon_connect_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_connect *pending = bpf_map_lookup_elem(&mon_pending_connect, &tid);

	if (!pending)
		return 0;
	if (recorded(ADAM_MON_CONNECT)) {
		struct adam_mon_connect *e =
			adam_event_reserve(&mon_events, &mon_lost, sizeof(*e), ADAM_MON_CONNECT);

		if (e) {
			struct task_struct *task = (struct task_struct *)bpf_get_current_task();
			struct adam_proc_entry entry;

			proc_entry_of(task, &entry);
			fill_proc_ctx(&e->proc, task, &entry);
			e->result = ctx->ret;
			e->family = pending->family;
			e->port = pending->port;
			e->protocol = pending->protocol;
			__builtin_memset(e->pad, 0, sizeof(e->pad));
			__builtin_memcpy(e->addr, pending->addr, sizeof(e->addr));
			adam_event_submit(&mon_events, e);
		}
	}
	bpf_map_delete_elem(&mon_pending_connect, &tid);
	return 0;
}

/* --- file open ---------------------------------------------------------- */

/* Every openat and openat2 comes here: one string read and one trie lookup,
 * and only a path under a watched prefix goes further. */
static __always_inline int remember_open(const char *filename, __u32 flags)
{
	__u32 zero = 0;
	struct pending_open *scratch = bpf_map_lookup_elem(&mon_open_scratch, &zero);

	if (!scratch)
		return 0;
	long n = bpf_probe_read_user_str(scratch->key.path, sizeof(scratch->key.path), filename);

	if (n <= 1)
		return 0;
	scratch->key.prefixlen = (n - 1) * 8;
	if (!bpf_map_lookup_elem(&mon_prefixes, &scratch->key))
		return 0;
	if (!recorded(ADAM_MON_OPEN))
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	scratch->flags = flags;
	scratch->trunc = n >= (long)sizeof(scratch->key.path) ? ADAM_MON_PATH_TRUNCATED : 0;
	if (bpf_map_update_elem(&mon_pending_open, &tid, scratch, BPF_ANY) == 0)
		__sync_fetch_and_add(&mon_opens_pending, 1);
	return 0;
}

static __always_inline int emit_open(long ret)
{
	if (!*(volatile __u64 *)&mon_opens_pending)
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_open *pending = bpf_map_lookup_elem(&mon_pending_open, &tid);

	if (!pending)
		return 0;
	struct adam_mon_open *e = adam_event_reserve(&mon_events, &mon_lost, sizeof(*e), ADAM_MON_OPEN);

	if (e) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct adam_proc_entry entry;

		proc_entry_of(task, &entry);
		fill_proc_ctx(&e->proc, task, &entry);
		e->result = ret;
		e->flags = pending->flags;
		e->path_len = pending->key.prefixlen / 8;
		e->trunc = pending->trunc;
		__builtin_memcpy(e->path, pending->key.path, sizeof(e->path));
		adam_event_submit(&mon_events, e);
	}
	if (bpf_map_delete_elem(&mon_pending_open, &tid) == 0)
		__sync_fetch_and_sub(&mon_opens_pending, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int mon_openat_enter(struct trace_event_raw_sys_enter *ctx)
{
	return remember_open((const char *)ctx->args[1], (__u32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int mon_openat2_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how *how = (struct open_how *)ctx->args[2];
	__u64 flags = 0;

	bpf_probe_read_user(&flags, sizeof(flags), &how->flags);
	return remember_open((const char *)ctx->args[1], (__u32)flags);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int mon_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return emit_open(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int mon_openat2_exit(struct trace_event_raw_sys_exit *ctx)
{
	return emit_open(ctx->ret);
}
