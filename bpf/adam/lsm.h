/* Types and constants shared by the enforcement plugin's BPF programs
 * (lsm.bpf.c) and its C++ side (src/plugins/lsm/). Fixed-width types only;
 * the C++ side static_asserts its mirrors. docs/lsm.md has the policy
 * semantics and the event JSON these records become.
 *
 * The policy tables (compiled in adamd from the stored policies, swapped in
 * whole so a hook sees the old set or the new one, never a mix) are
 * declared below by the kernel side's owner. */
#ifndef ADAM_BPF_LSM_H
#define ADAM_BPF_LSM_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#include "adam/events.h"
#include "adam/monitor.h" /* struct adam_proc_ctx: the subject, as the monitor records it */

/* --- Limits ------------------------------------------------------------ */

#define ADAM_LSM_MAX_POLICIES 1024 /* per kind: the bit vectors' width */
#define ADAM_LSM_PATH_MAX 256      /* bytes of a path, NUL included: a longer policy path is refused */
#define ADAM_LSM_MAX_SCOPE 64      /* entries of one scope or match list */
#define ADAM_LSM_CGROUP_DEPTH 16   /* ancestor levels scope.cgroup looks at */

/* --- Kinds, actions, mechanisms ---------------------------------------- */

#define ADAM_LSM_KIND_EXEC 0
#define ADAM_LSM_KIND_FILE 1
#define ADAM_LSM_KIND_CONNECT 2
#define ADAM_LSM_KIND_BIND 3
#define ADAM_LSM_KINDS 4

#define ADAM_LSM_ACTION_AUDIT 0
#define ADAM_LSM_ACTION_DENY 1

#define ADAM_LSM_MECH_BPF_LSM 0
#define ADAM_LSM_MECH_CGROUP 1
#define ADAM_LSM_MECH_FANOTIFY 2
#define ADAM_LSM_MECH_SIGNAL 3

/* Access bits of a file open (match.access). */
#define ADAM_LSM_ACCESS_READ (1u << 0)
#define ADAM_LSM_ACCESS_WRITE (1u << 1)

/* --- Event record (adam_event_header.kind) ------------------------------ */

#define ADAM_LSM_EVENT_AUDIT 1 /* lsm.audit: matched an audit policy, allowed */
#define ADAM_LSM_EVENT_DENY 2  /* lsm.deny: the operation failed with EPERM */
#define ADAM_LSM_EVENT_KILL 3  /* lsm.kill: exec happened, the process was sent SIGKILL */

struct adam_lsm_event {
	struct adam_event_header header;
	struct adam_proc_ctx proc;
	__u32 policy_id;
	__u8 kind;      /* ADAM_LSM_KIND_* */
	__u8 mechanism; /* ADAM_LSM_MECH_* */
	__u8 access;    /* file: ADAM_LSM_ACCESS_* of the open */
	__u8 proto;     /* connect, bind: IPPROTO_TCP or IPPROTO_UDP */
	__u32 flags;    /* file: the open's f_flags */
	__u16 family;   /* connect, bind: AF_INET or AF_INET6 */
	__u16 port;     /* connect, bind: host byte order */
	__u8 addr[16];  /* IPv4 in the first 4 bytes, network order */
	__u32 path_len; /* exec, file: bytes of path, no NUL */
	__u32 pad;
	char path[ADAM_LSM_PATH_MAX];
};

#endif
