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
#define ADAM_LSM_PATH_DEPTH 32     /* components of a path the kernel reads from the root: a deeper policy path is refused */
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

/* --- Policy tables (bpf/lsm.bpf.c reads them, kernel_enforcer.cpp writes) --
 *
 * A bit-vector classifier per kind, as the firewall's: the kind's enabled
 * policies, sorted by (priority, id), get slots 0..n-1; every dimension of
 * an operation (path, uid, comm, cgroup, parent, access, address, port,
 * proto) looks up the bitmap of the slots that field allows; the bitmaps are
 * AND'ed and the lowest set bit is the deciding policy (lsm_slots).
 *
 * Two generations of every table: the hooks read lsm_active once and then
 * only that generation; adamd writes the other one, flips lsm_active (one
 * 4-byte write) and waits an RCU grace period before it writes that
 * generation again, so an operation sees the old set or the new one, never
 * a mix. Keys carry the generation (hash and trie keys) or it indexes the
 * array (arrays). */

#define ADAM_LSM_GENS 2
#define ADAM_LSM_BITMAP_WORDS (ADAM_LSM_MAX_POLICIES / 64)
#define ADAM_LSM_MAX_PATHS 16384          /* entries of lsm_paths, both generations */
#define ADAM_LSM_MAX_KEYS 16384           /* entries of each of lsm_uids, lsm_comms, lsm_cgroups */
#define ADAM_LSM_MAX_ADDRS 16384          /* entries of lsm_addrs */
#define ADAM_LSM_MAX_PORT_INTERVALS 4096  /* per generation and network kind */
#define ADAM_LSM_KEY_PATH_MAX 255         /* path bytes of a trie key (the trie's data is 256 bytes at most) */
#define ADAM_LSM_EXEMPT_DEPTH 32          /* real_parent levels the exemption looks up */
#define ADAM_LSM_COMM_LEN 16

struct adam_lsm_bitmap {
	__u64 bits[ADAM_LSM_BITMAP_WORDS];
};

/* lsm_paths (LPM trie): the path dimensions. `table` is
 * ADAM_LSM_PATH_TABLE(gen, kind, parent): a policy's match.path (parent 0)
 * or scope.parent (parent 1). A prefix ("/tmp/") is stored as its bytes, an
 * exact path with its NUL (so it matches only itself); prefixlen counts the
 * table byte too. Each entry's bitmap includes the slots of every shorter
 * entry that covers it (the trie returns only the longest). A path of 255
 * bytes has no room for its NUL: as an exact path it also matches the paths
 * it begins. */
#define ADAM_LSM_PATH_TABLE(gen, kind, parent) ((__u8)(((gen) << 3) | ((kind) << 1) | (parent)))
struct adam_lsm_path_key {
	__u32 prefixlen; /* bits: 8 (table) + 8 × bytes of path */
	__u8 table;
	char path[ADAM_LSM_KEY_PATH_MAX];
};

/* lsm_uids, lsm_comms, lsm_cgroups (hash): the scope dimensions. A policy
 * without that scope is in the kind's any_* bitmap instead. */
struct adam_lsm_uid_key {
	__u8 gen;
	__u8 kind;
	__u16 pad;
	__u32 uid;
};
struct adam_lsm_comm_key {
	__u8 gen;
	__u8 kind;
	char comm[ADAM_LSM_COMM_LEN];
	__u8 pad[2];
};
struct adam_lsm_cgroup_key {
	__u8 gen;
	__u8 kind;
	__u8 pad[6];
	__u64 cgroup_id;
};

/* lsm_addrs (LPM trie): connect's dst, bind's addr; IPv4 as family 4 with
 * 4 bytes (an IPv4-mapped IPv6 address is looked up as IPv4). prefixlen
 * counts table and family (16 bits) plus the CIDR's bits. */
#define ADAM_LSM_ADDR_TABLE(gen, kind) ((__u8)(((gen) << 2) | (kind)))
struct adam_lsm_addr_key {
	__u32 prefixlen;
	__u8 table;
	__u8 family; /* 4 or 6 */
	__u8 addr[16];
};

/* lsm_port_starts, lsm_port_bitmaps (arrays) at
 * ADAM_LSM_PORT_INDEX(gen, kind, i): the ports 0..65535 cut into intervals,
 * interval i starting at port_starts[i] (ascending, [0] = 0) and allowing
 * the slots of port_bitmaps[i]; the hook finds its port's interval by
 * binary search over the kind's port_intervals starts. Port 0 (a bind to
 * any port) lies in no policy's range: only policies without ports allow it. */
#define ADAM_LSM_NET_KIND(kind) ((kind) - ADAM_LSM_KIND_CONNECT) /* 0: connect, 1: bind */
#define ADAM_LSM_PORT_INDEX(gen, kind, i) \
	((((gen) * 2 + ADAM_LSM_NET_KIND(kind)) * ADAM_LSM_MAX_PORT_INTERVALS) + (i))
#define ADAM_LSM_PORT_ENTRIES (ADAM_LSM_GENS * 2 * ADAM_LSM_MAX_PORT_INTERVALS)

/* lsm_kinds (array) at ADAM_LSM_KIND_INDEX(gen, kind): one kind's policies in
 * one generation, and the bitmaps of the policies each dimension does not
 * restrict. `scoped` says which lookups are needed at all: a dimension no
 * policy restricts costs nothing. */
#define ADAM_LSM_KIND_INDEX(gen, kind) ((gen) * ADAM_LSM_KINDS + (kind))
#define ADAM_LSM_SCOPED_UID (1u << 0)
#define ADAM_LSM_SCOPED_COMM (1u << 1)
#define ADAM_LSM_SCOPED_CGROUP (1u << 2)
#define ADAM_LSM_SCOPED_PARENT (1u << 3)
#define ADAM_LSM_SCOPED_ADDR (1u << 4)
struct adam_lsm_kind_table {
	__u32 policies;       /* slots in use; 0: the kind allows everything at once */
	__u32 scoped;         /* ADAM_LSM_SCOPED_* */
	__u32 port_intervals; /* connect, bind: intervals in lsm_port_starts */
	__u32 pad;
	struct adam_lsm_bitmap all;        /* slots 0..policies-1 */
	struct adam_lsm_bitmap any_uid;    /* without scope.uid */
	struct adam_lsm_bitmap any_comm;   /* without scope.comm */
	struct adam_lsm_bitmap any_cgroup; /* without scope.cgroup */
	struct adam_lsm_bitmap any_parent; /* without scope.parent */
	struct adam_lsm_bitmap any_addr;   /* connect, bind: without addresses */
	struct adam_lsm_bitmap read;       /* file: access includes read */
	struct adam_lsm_bitmap write;      /* file: access includes write */
	struct adam_lsm_bitmap tcp;        /* connect, bind: proto includes tcp */
	struct adam_lsm_bitmap udp;        /* connect, bind: proto includes udp */
};

/* lsm_slots (array) at ADAM_LSM_SLOT_INDEX(gen, kind, slot): the policy a
 * slot stands for; lsm_hits (per-CPU array, same index): operations it
 * decided (counted whatever the event rate limit). */
#define ADAM_LSM_SLOT_INDEX(gen, kind, slot) \
	(((gen) * ADAM_LSM_KINDS + (kind)) * ADAM_LSM_MAX_POLICIES + (slot))
#define ADAM_LSM_SLOT_ENTRIES (ADAM_LSM_GENS * ADAM_LSM_KINDS * ADAM_LSM_MAX_POLICIES)
struct adam_lsm_slot {
	__u32 policy_id;
	__u32 action; /* ADAM_LSM_ACTION_* */
};

/* lsm_config (array, one entry): set by every adamd that adopts the pins
 * (a map, not rodata: the programs outlive the adamd that loaded them). */
struct adam_lsm_config {
	__u32 exempt_tgid; /* adamd: it and its descendants are exempt; 0: none */
	__u32 event_rate;  /* events per second at most */
};

/* lsm_rate (array, one entry): the event rate limit's one-second window. */
struct adam_lsm_rate_window {
	__u64 start_ns;
	__u64 count;
};

#endif
