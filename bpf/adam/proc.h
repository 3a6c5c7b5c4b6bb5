/* The subject of a record (struct adam_proc_ctx, adam/monitor.h) as the
 * monitor's and the enforcement plugin's programs both fill it: one copy of
 * how a process's identity is read from its task. BPF only; include after
 * vmlinux.h and bpf_core_read.h. */
#ifndef ADAM_BPF_PROC_H
#define ADAM_BPF_PROC_H

#include "adam/monitor.h"

/* The identity of the process `task` belongs to, as it is now. */
static __always_inline void proc_id_of(struct task_struct *task, struct adam_proc_id *id)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);

	id->tgid = BPF_CORE_READ(task, tgid);
	id->pad = 0;
	id->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	id->tag = mm ? BPF_CORE_READ(mm, start_stack) : 0;
}

/* The record's process fields. `task` is the subject; the ids, creds and
 * cgroup are the current task's, which is the subject or (at fork) its
 * parent, whose creds and cgroup the child has just copied. */
static __always_inline void fill_proc_ctx(struct adam_proc_ctx *ctx, struct task_struct *task,
					  const struct adam_proc_entry *entry)
{
	__u64 uid_gid = bpf_get_current_uid_gid();

	ctx->self = entry->self;
	ctx->parent = entry->parent;
	ctx->tid = BPF_CORE_READ(task, pid);
	ctx->ppid = BPF_CORE_READ(task, real_parent, tgid);
	ctx->uid = (__u32)uid_gid;
	ctx->gid = uid_gid >> 32;
	ctx->cgroup_id = bpf_get_current_cgroup_id();
	BPF_CORE_READ_STR_INTO(&ctx->comm, task, comm);
}

#endif
