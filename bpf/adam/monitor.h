/* Types and constants shared by the process monitor's BPF programs
 * (monitor.bpf.c) and its C++ side (src/plugins/monitor/). Fixed-width
 * types only, so both sides agree on every layout; the C++ side
 * static_asserts its mirrors (docs/monitor.md has the event JSON these
 * records become).
 *
 * A process is named by its exec id: the tgid, the start time of its thread
 * group leader (task->group_leader->start_boottime, what /proc/PID/stat
 * field 22 shows in clock ticks) and the tag of its program image
 * (mm->start_stack, /proc/PID/stat field 28: placed anew by every execve,
 * inherited by fork). adamd formats the three with the boot id into the
 * exec id string, so a process read from /proc and the same process seen by
 * a BPF program get the same id, across adamd restarts too. */
#ifndef ADAM_BPF_MONITOR_H
#define ADAM_BPF_MONITOR_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#include "adam/events.h"

/* --- Limits ------------------------------------------------------------ */

#define ADAM_MON_COMM_LEN 16
#define ADAM_MON_FILENAME_MAX 512 /* bytes of an exec's filename kept */
#define ADAM_MON_ARGS_MAX 4096    /* bytes of argv kept at most (config args_max: 0..4096) */
#define ADAM_MON_PATH_MAX 256     /* bytes of an opened path kept; also a prefix's limit (LPM key) */
#define ADAM_MON_MAX_PREFIXES 64  /* entries of mon_prefixes */
#define ADAM_MON_MAX_UIDS 64      /* entries of mon_uids */
#define ADAM_MON_MAX_COMMS 64     /* entries of mon_comms */
#define ADAM_MON_MAX_CGROUPS 64   /* entries of mon_cgroups */
#define ADAM_MON_CGROUP_DEPTH 16  /* ancestor levels a cgroup filter looks at */
#define ADAM_MON_PROCS 65536      /* entries of mon_procs: live processes the kernel side knows */
#define ADAM_MON_PENDING 16384    /* syscalls between enter and exit (mon_pending_*) */

/* --- Event kinds (adam_event_header.kind) and the config's kind bits ---- */

#define ADAM_MON_EXEC 1    /* process.exec */
#define ADAM_MON_FORK 2    /* process.fork: a new process (not a thread) */
#define ADAM_MON_EXIT 3    /* process.exit: the last thread of a group */
#define ADAM_MON_CONNECT 4 /* net.connect */
#define ADAM_MON_OPEN 5    /* file.open */
#define ADAM_MON_KIND_BIT(kind) (1u << (kind))

/* --- Process identity and lineage -------------------------------------- */

struct adam_proc_id {
	__u32 tgid;
	__u32 pad;
	__u64 start_ns; /* group leader's start_boottime, ns since boot */
	__u64 tag;      /* mm->start_stack of the image; 0 for kernel threads */
};

/* Value of mon_procs (key: __u32 tgid): written at fork and exec, deleted at
 * the process's exit, seeded from /proc by adamd at start. `parent` is the
 * process that forked this one, as it was then (so a process keeps its
 * parent after re-parenting, and its chain after its parent execs). */
struct adam_proc_entry {
	struct adam_proc_id self;
	struct adam_proc_id parent;
};

/* The subject process of every record. */
struct adam_proc_ctx {
	struct adam_proc_id self;
	struct adam_proc_id parent;
	__u32 tid;
	__u32 ppid; /* real_parent's tgid now */
	__u32 uid;
	__u32 gid;
	__u64 cgroup_id; /* cgroup v2 id (bpf_get_current_cgroup_id) */
	char comm[ADAM_MON_COMM_LEN];
};

/* Flags of records. */
#define ADAM_MON_ARGS_TRUNCATED (1u << 0)
#define ADAM_MON_FILENAME_TRUNCATED (1u << 1)
#define ADAM_MON_PATH_TRUNCATED (1u << 2)

/* ADAM_MON_EXEC. Sent with bpf_ringbuf_output, only args_len bytes of args:
 * size = offsetof(args) + args_len. args are argv's strings, each ended by
 * a NUL (the last one may be cut: ADAM_MON_ARGS_TRUNCATED). */
struct adam_mon_exec {
	struct adam_event_header header;
	struct adam_proc_ctx proc;
	__u32 flags;
	__u32 old_tid;      /* the thread that called execve (the tracepoint's old_pid) */
	__u32 filename_len; /* bytes of filename, no NUL */
	__u32 args_len;
	char filename[ADAM_MON_FILENAME_MAX]; /* bprm->filename: as execve was given it */
	char args[ADAM_MON_ARGS_MAX];
};

/* ADAM_MON_FORK: proc is the child (its parent is the forking process). */
struct adam_mon_fork {
	struct adam_event_header header;
	struct adam_proc_ctx proc;
};

/* ADAM_MON_EXIT, from the group's last thread (proc.tid). */
struct adam_mon_exit {
	struct adam_event_header header;
	struct adam_proc_ctx proc;
	__u32 exit_code; /* task->exit_code: wait status (code << 8 | signal | 0x80 core) */
	__u32 pad;
};

/* ADAM_MON_CONNECT: the address from cgroup/connect4|6 (the kernel's copy),
 * the result from the connect syscall's exit. */
struct adam_mon_connect {
	struct adam_event_header header;
	struct adam_proc_ctx proc;
	__s32 result; /* 0 or -errno (-EINPROGRESS for a non-blocking socket) */
	__u16 family; /* AF_INET or AF_INET6 */
	__u16 port;   /* host byte order */
	__u8 protocol; /* IPPROTO_TCP, IPPROTO_UDP, ... */
	__u8 pad[3];
	__u8 addr[16]; /* IPv4 in the first 4 bytes, network order */
};

/* ADAM_MON_OPEN (openat, openat2): only for paths under a prefix of
 * mon_prefixes. */
struct adam_mon_open {
	struct adam_event_header header;
	struct adam_proc_ctx proc;
	__s32 result; /* the fd, or -errno */
	__u32 flags;  /* open flags */
	__u32 path_len;
	__u32 trunc; /* ADAM_MON_PATH_TRUNCATED */
	char path[ADAM_MON_PATH_MAX];
};

/* Key of mon_prefixes (LPM trie over the path's bytes): prefixlen in bits. */
struct adam_mon_prefix_key {
	__u32 prefixlen;
	char path[ADAM_MON_PATH_MAX];
};

/* Config fixed per load (rodata, set by adamd between open and load). */
struct adam_mon_config {
	__u32 self_tgid;   /* adamd's tgid */
	__u32 ignore_self; /* drop events of adamd itself (and its direct children) */
	__u32 kinds;       /* ADAM_MON_KIND_BIT(kind) of every kind recorded */
	__u32 args_max;    /* bytes of argv kept, 0..ADAM_MON_ARGS_MAX */
	__u32 filter_uids;    /* only uids in mon_uids */
	__u32 filter_comms;   /* only comms in mon_comms */
	__u32 filter_cgroups; /* only processes in (or below) a cgroup of mon_cgroups */
	__u32 pad;
};

#endif
