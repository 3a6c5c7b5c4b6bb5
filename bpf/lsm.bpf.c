// SPDX-License-Identifier: GPL-2.0
/* The enforcement plugin's programs (docs/lsm.md "Mechanisms"): each hook
 * turns its operation into a request (kind, path, address, ...), decides it
 * with the policy tables of bpf/adam/lsm.h, counts the deciding policy's hit,
 * records lsm.audit, lsm.deny or lsm.kill, and denies or kills.
 *
 *   bpf_lsm: lsm/bprm_check_security, lsm/file_open, lsm/socket_connect,
 *            lsm/socket_sendmsg, lsm/socket_bind: return -EPERM;
 *   cgroup:  cgroup/connect4|6, sendmsg4|6, bind4|6 on the cgroup v2 root:
 *            return 0 (the kernel answers EPERM);
 *   signal:  tp_btf (or raw_tp) sched_process_exec: bpf_send_signal(SIGKILL).
 *
 * adamd loads only the programs of the mechanisms it chose. Paths are built
 * by walking the dentries and mounts of a struct path (path_of()), one code
 * for every hook: bpf_d_path is not allowed where the signal mechanism and
 * the parent binary need a path, and this way the bpf_lsm programs the VM
 * verifies compute paths as the ones tested here. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "adam/events.h"
#include "adam/lsm.h"
#include "adam/proc.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define EPERM 1
#define SIGKILL 9
#define NSEC_PER_SEC 1000000000ULL
#define O_ACCMODE 3
#define O_WRONLY 1
#define O_RDWR 2
#define O_TRUNC 01000
#define O_APPEND 02000
#define FMODE_CREATED 0x100000

#define PATH_DEPTH ADAM_LSM_PATH_DEPTH /* components kept of a path: its root-most ones */
#define PATH_WALK_STEPS 4096           /* steps up a path (components and mounts): PATH_MAX allows 2048 components */
#define PATH_MASK (ADAM_LSM_PATH_MAX - 1)

ADAM_EVENT_MAPS(lsm_events, lsm_lost, 1 << 20);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} lsm_active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct adam_lsm_config);
} lsm_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct adam_lsm_rate_window);
} lsm_rate SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ADAM_LSM_GENS * ADAM_LSM_KINDS);
	__type(key, __u32);
	__type(value, struct adam_lsm_kind_table);
} lsm_kinds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ADAM_LSM_SLOT_ENTRIES);
	__type(key, __u32);
	__type(value, struct adam_lsm_slot);
} lsm_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ADAM_LSM_SLOT_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} lsm_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, ADAM_LSM_MAX_PATHS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct adam_lsm_path_key);
	__type(value, struct adam_lsm_bitmap);
} lsm_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ADAM_LSM_MAX_KEYS);
	__type(key, struct adam_lsm_uid_key);
	__type(value, struct adam_lsm_bitmap);
} lsm_uids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ADAM_LSM_MAX_KEYS);
	__type(key, struct adam_lsm_comm_key);
	__type(value, struct adam_lsm_bitmap);
} lsm_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ADAM_LSM_MAX_KEYS);
	__type(key, struct adam_lsm_cgroup_key);
	__type(value, struct adam_lsm_bitmap);
} lsm_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, ADAM_LSM_MAX_ADDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct adam_lsm_addr_key);
	__type(value, struct adam_lsm_bitmap);
} lsm_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ADAM_LSM_PORT_ENTRIES);
	__type(key, __u32);
	__type(value, __u32); /* the interval's first port */
} lsm_port_starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ADAM_LSM_PORT_ENTRIES);
	__type(key, __u32);
	__type(value, struct adam_lsm_bitmap);
} lsm_port_bitmaps SEC(".maps");

/* A path being built, laid out so that its start is a lsm_paths key. */
struct path_buf {
	__u32 prefixlen;
	__u8 table;
	char path[2 * ADAM_LSM_PATH_MAX - 1]; /* room for a whole component past the limit */
	__u32 len;                            /* bytes of path, no NUL */
	bool truncated;                       /* path is only the start of a longer or deeper path */
};

/* Per-CPU: what the 512-byte stack cannot hold. The event doubles as the
 * request: the hook fills its operation fields, decide() reads them. */
struct lsm_scratch {
	struct adam_lsm_event event;
	struct adam_lsm_bitmap acc; /* the slots every dimension so far allows */
	struct adam_lsm_bitmap any; /* one dimension's, being OR'ed together */
	struct path_buf path;       /* exec, file: the operation's path */
	struct path_buf parent;     /* scope.parent: the parent's binary */
	const unsigned char *names[PATH_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lsm_scratch);
} lsm_scratch_map SEC(".maps");

/* What decide() found. */
#define LSM_ALLOW -1 /* no policy matched, or the process is exempt */

/* --- Bitmaps ------------------------------------------------------------ */

/* acc &= a; whether a bit is left. */
static __always_inline bool bitmap_and(struct adam_lsm_bitmap *acc, const struct adam_lsm_bitmap *a)
{
	__u64 left = 0;

	for (int i = 0; i < ADAM_LSM_BITMAP_WORDS; i++) {
		acc->bits[i] &= a->bits[i];
		left |= acc->bits[i];
	}
	return left != 0;
}

static __always_inline void bitmap_or(struct adam_lsm_bitmap *acc, const struct adam_lsm_bitmap *a)
{
	for (int i = 0; i < ADAM_LSM_BITMAP_WORDS; i++)
		acc->bits[i] |= a->bits[i];
}

/* acc &= any | found (found: a lookup's result, maybe NULL). */
static __always_inline bool bitmap_and_either(struct adam_lsm_bitmap *acc, struct adam_lsm_bitmap *tmp,
					      const struct adam_lsm_bitmap *any,
					      const struct adam_lsm_bitmap *found)
{
	*tmp = *any;
	if (found)
		bitmap_or(tmp, found);
	return bitmap_and(acc, tmp);
}

/* The lowest set bit of a non-zero word (BPF has no count-trailing-zeros). */
static __always_inline int lowest_bit(__u64 word)
{
	int bit = 0;

	word &= -word;
	if (word & 0xffffffff00000000ULL)
		bit += 32;
	if (word & 0xffff0000ffff0000ULL)
		bit += 16;
	if (word & 0xff00ff00ff00ff00ULL)
		bit += 8;
	if (word & 0xf0f0f0f0f0f0f0f0ULL)
		bit += 4;
	if (word & 0xccccccccccccccccULL)
		bit += 2;
	if (word & 0xaaaaaaaaaaaaaaaaULL)
		bit += 1;
	return bit;
}

static __always_inline int first_slot(const struct adam_lsm_bitmap *acc)
{
	for (int i = 0; i < ADAM_LSM_BITMAP_WORDS; i++) {
		if (acc->bits[i])
			return i * 64 + lowest_bit(acc->bits[i]);
	}
	return -1;
}

/* --- Paths -------------------------------------------------------------- */

/* Building a path: two bpf_loop()s, whose callbacks the verifier checks
 * once, not once per iteration and branch. */
struct path_walk {
	struct dentry *dentry;
	struct mount *mnt;
	const unsigned char **names; /* a ring of the last PATH_DEPTH components met: the root-most */
	int depth;
	bool complete; /* reached the root of the mount tree */
};

/* One step up: to the parent dentry, or across to the mount point. */
static long path_walk_step(__u64 i, struct path_walk *w)
{
	/* Locals: BPF_CORE_READ would relocate w's own fields too. */
	struct dentry *dentry = w->dentry;
	struct mount *mnt = w->mnt;
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	struct dentry *mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);

	if (dentry == mnt_root || dentry == parent) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

		if (dentry != mnt_root || up == mnt) {
			w->complete = true;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		return 0;
	}
	w->names[w->depth & (PATH_DEPTH - 1)] = BPF_CORE_READ(dentry, d_name.name);
	w->depth++;
	w->dentry = parent;
	return 0;
}

struct path_write {
	struct path_buf *buf;
	const unsigned char **names;
	int depth;
	__u32 len;
	bool failed;
	bool truncated;
};

/* Appends "/" and component `i` (counting from the root). */
static long path_write_step(__u64 i, struct path_write *w)
{
	int at = w->depth - 1 - (int)i;
	__u32 len = w->len;

	if (at < 0)
		return 1;
	if (len >= ADAM_LSM_PATH_MAX - 1) {
		w->truncated = true;
		return 1;
	}
	/* Masked where the verifier sees it: the compiler would drop a mask it
	 * knows to be a no-op after the check above. */
	barrier_var(len);
	w->buf->path[len & PATH_MASK] = '/';
	len++;
	barrier_var(len);
	long n = bpf_probe_read_kernel_str(&w->buf->path[len & PATH_MASK], ADAM_LSM_PATH_MAX,
					   w->names[at & (PATH_DEPTH - 1)]);

	if (n < 1) {
		w->failed = true;
		return 1;
	}
	w->len = len + n - 1;
	return 0;
}

/* The absolute path of `p` (its dentries up to the mount's root, across the
 * mounts up to the root of the mount tree) into buf->path, NUL-ended, its
 * length in buf->len. A path deeper than PATH_DEPTH components or longer
 * than ADAM_LSM_PATH_MAX - 1 bytes is kept as its root-most components and
 * bytes, buf->truncated: only prefixes can match it, as they match the whole
 * path (a policy path is at most that long and deep), so nesting a file
 * deeper never takes it out of a prefix. False when the path cannot be read. */
static __always_inline bool path_of(const struct path *p, struct path_buf *buf, const unsigned char **names)
{
	struct vfsmount *vfsmnt = BPF_CORE_READ(p, mnt);
	struct path_walk walk = {
		.dentry = BPF_CORE_READ(p, dentry),
		.mnt = container_of(vfsmnt, struct mount, mnt),
		.names = names,
	};

	if (!walk.dentry || !vfsmnt)
		return false;
	bpf_loop(PATH_WALK_STEPS, path_walk_step, &walk, 0);
	if (!walk.complete)
		return false;
	struct path_write write = { .buf = buf, .names = names, .depth = walk.depth };

	bpf_loop(PATH_DEPTH, path_write_step, &write, 0);
	if (write.failed)
		return false;
	buf->truncated = write.truncated || walk.depth > PATH_DEPTH;
	if (write.len > ADAM_LSM_PATH_MAX - 1) {
		write.len = ADAM_LSM_PATH_MAX - 1;
		buf->path[ADAM_LSM_PATH_MAX - 1] = 0;
		buf->truncated = true;
	}
	if (write.len == 0) {
		buf->path[0] = '/';
		buf->path[1] = 0;
		write.len = 1;
	}
	buf->len = write.len;
	return true;
}

/* The binary of `task`'s image (mm->exe_file), as path_of() reads it. */
static __always_inline bool binary_of(struct task_struct *task, struct path_buf *buf,
				      const unsigned char **names)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	struct file *exe = mm ? BPF_CORE_READ(mm, exe_file) : NULL;

	if (!exe)
		return false;
	return path_of(&exe->f_path, buf, names);
}

/* acc &= the slots the path allows in `table`: the longest entry covering
 * the path (with its NUL, so an exact entry matches only itself). */
static __always_inline bool and_path(struct adam_lsm_bitmap *acc, struct path_buf *buf, __u8 table)
{
	/* A truncated path goes without its NUL: no exact entry matches it. */
	__u32 bytes = buf->truncated ? buf->len : buf->len + 1;

	if (bytes > ADAM_LSM_KEY_PATH_MAX)
		bytes = ADAM_LSM_KEY_PATH_MAX;
	buf->table = table;
	buf->prefixlen = 8 + 8 * bytes;
	struct adam_lsm_bitmap *found = bpf_map_lookup_elem(&lsm_paths, buf);

	if (!found) {
		__builtin_memset(acc, 0, sizeof(*acc));
		return false;
	}
	return bitmap_and(acc, found);
}

/* --- Deciding ------------------------------------------------------------ */

/* Whether the current process is adamd or one of its descendants (by
 * real_parent, ADAM_LSM_EXEMPT_DEPTH levels up). */
static __always_inline bool exempt(void)
{
	__u32 zero = 0;
	struct adam_lsm_config *config = bpf_map_lookup_elem(&lsm_config, &zero);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (!config || !config->exempt_tgid)
		return false;
	for (int i = 0; i < ADAM_LSM_EXEMPT_DEPTH; i++) {
		__u32 tgid = BPF_CORE_READ(task, tgid);

		if (tgid == config->exempt_tgid)
			return true;
		if (tgid <= 1)
			return false;
		task = BPF_CORE_READ(task, real_parent);
	}
	return false;
}

/* Whether the event rate limit admits one more event this second. Not atomic
 * between CPUs at a window's start: a window can admit a few events more. */
static __always_inline bool rate_admits(void)
{
	__u32 zero = 0;
	struct adam_lsm_config *config = bpf_map_lookup_elem(&lsm_config, &zero);
	struct adam_lsm_rate_window *w = bpf_map_lookup_elem(&lsm_rate, &zero);
	__u64 now = bpf_ktime_get_ns(); /* the coarse clock is not allowed in tracing programs */

	if (!config || !w)
		return false;
	if ((__s64)(now - w->start_ns) >= (__s64)NSEC_PER_SEC) {
		w->start_ns = now;
		w->count = 0;
	}
	if (w->count >= config->event_rate)
		return false;
	return __sync_fetch_and_add(&w->count, 1) < config->event_rate;
}

/* The scope dimensions but the parent: uid, comm (in s->event.proc.comm),
 * cgroup (the current one and its ancestors, OR'ed). */
static __always_inline bool and_scope(struct lsm_scratch *s, const struct adam_lsm_kind_table *t, __u32 gen,
				      __u32 kind)
{
	if (t->scoped & ADAM_LSM_SCOPED_UID) {
		struct adam_lsm_uid_key key = { .gen = gen, .kind = kind, .uid = (__u32)bpf_get_current_uid_gid() };

		if (!bitmap_and_either(&s->acc, &s->any, &t->any_uid, bpf_map_lookup_elem(&lsm_uids, &key)))
			return false;
	}
	if (t->scoped & ADAM_LSM_SCOPED_COMM) {
		struct adam_lsm_comm_key key = { .gen = gen, .kind = kind };

		__builtin_memcpy(key.comm, s->event.proc.comm, sizeof(key.comm));
		if (!bitmap_and_either(&s->acc, &s->any, &t->any_comm, bpf_map_lookup_elem(&lsm_comms, &key)))
			return false;
	}
	if (t->scoped & ADAM_LSM_SCOPED_CGROUP) {
		s->any = t->any_cgroup;
		for (int level = 0; level < ADAM_LSM_CGROUP_DEPTH; level++) {
			struct adam_lsm_cgroup_key key = { .gen = gen, .kind = kind };
			struct adam_lsm_bitmap *found;

			key.cgroup_id = bpf_get_current_ancestor_cgroup_id(level);
			if (!key.cgroup_id)
				break; /* past the current cgroup itself */
			found = bpf_map_lookup_elem(&lsm_cgroups, &key);
			if (found)
				bitmap_or(&s->any, found);
		}
		if (!bitmap_and(&s->acc, &s->any))
			return false;
	}
	return first_slot(&s->acc) >= 0;
}

/* acc &= the slots the parent's binary allows: any_parent | its entry,
 * computed as (acc & any_parent) | (acc & entry). */
static __always_inline bool and_parent(struct lsm_scratch *s, const struct adam_lsm_kind_table *t, __u32 gen,
				       __u32 kind, struct task_struct *image_of)
{
	if (!binary_of(image_of, &s->parent, s->names))
		return bitmap_and(&s->acc, &t->any_parent);
	s->any = s->acc;
	bitmap_and(&s->any, &t->any_parent);
	and_path(&s->acc, &s->parent, ADAM_LSM_PATH_TABLE(gen, kind, 1));
	bitmap_or(&s->acc, &s->any);
	return first_slot(&s->acc) >= 0;
}

/* The file dimension: the access of the open (read, write or both). */
static __always_inline bool and_access(struct lsm_scratch *s, const struct adam_lsm_kind_table *t)
{
	__builtin_memset(&s->any, 0, sizeof(s->any));
	if (s->event.access & ADAM_LSM_ACCESS_READ)
		bitmap_or(&s->any, &t->read);
	if (s->event.access & ADAM_LSM_ACCESS_WRITE)
		bitmap_or(&s->any, &t->write);
	return bitmap_and(&s->acc, &s->any);
}

/* The network dimensions: proto, address (the trie's longest prefix) and
 * port (the interval holding it, by binary search over their starts). */
static __always_inline bool and_network(struct lsm_scratch *s, const struct adam_lsm_kind_table *t, __u32 gen,
					__u32 kind)
{
	struct adam_lsm_event *e = &s->event;

	if (!bitmap_and(&s->acc, e->proto == IPPROTO_TCP ? &t->tcp : &t->udp))
		return false;
	if (t->scoped & ADAM_LSM_SCOPED_ADDR) {
		struct adam_lsm_addr_key key = { .table = ADAM_LSM_ADDR_TABLE(gen, kind) };

		key.family = e->family == AF_INET ? 4 : 6;
		key.prefixlen = 16 + (e->family == AF_INET ? 32 : 128);
		__builtin_memcpy(key.addr, e->addr, sizeof(key.addr));
		if (!bitmap_and_either(&s->acc, &s->any, &t->any_addr, bpf_map_lookup_elem(&lsm_addrs, &key)))
			return false;
	}
	/* The last interval starting at or before the port: in [lo, hi). */
	__u32 lo = 0, hi = t->port_intervals, at;

	for (int i = 0; i < 13 && hi - lo > 1; i++) { /* 2^12 = ADAM_LSM_MAX_PORT_INTERVALS */
		__u32 mid = (lo + hi) / 2;
		__u32 *start;

		at = ADAM_LSM_PORT_INDEX(gen, kind, mid);
		start = bpf_map_lookup_elem(&lsm_port_starts, &at);
		if (!start)
			return false;
		if (*start <= e->port)
			lo = mid;
		else
			hi = mid;
	}
	at = ADAM_LSM_PORT_INDEX(gen, kind, lo);
	struct adam_lsm_bitmap *ports = bpf_map_lookup_elem(&lsm_port_bitmaps, &at);

	return ports && bitmap_and(&s->acc, ports);
}

/* Sends the event of the policy in `slot`, unless the rate limit refuses it
 * (counted lost). The operation's fields are in s->event already. */
static __always_inline void record(struct lsm_scratch *s, const struct adam_lsm_slot *slot, __u32 kind,
				   __u32 mechanism)
{
	struct adam_lsm_event *e = &s->event;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct adam_proc_entry entry;
	__u32 event_kind = ADAM_LSM_EVENT_AUDIT;

	if (!rate_admits()) {
		adam_event_count_lost(&lsm_lost, ADAM_EVENT_LOST_RATE_LIMIT);
		return;
	}
	proc_id_of(task, &entry.self);
	proc_id_of(BPF_CORE_READ(task, real_parent), &entry.parent);
	fill_proc_ctx(&e->proc, task, &entry);
	e->policy_id = slot->policy_id;
	e->kind = kind;
	e->mechanism = mechanism;
	e->pad = 0;
	if (kind == ADAM_LSM_KIND_EXEC || kind == ADAM_LSM_KIND_FILE) {
		e->path_len = s->path.len;
		bpf_probe_read_kernel(e->path, sizeof(e->path), s->path.path);
	} else {
		e->path_len = 0;
		e->path[0] = 0;
	}
	if (slot->action == ADAM_LSM_ACTION_DENY)
		event_kind = mechanism == ADAM_LSM_MECH_SIGNAL ? ADAM_LSM_EVENT_KILL : ADAM_LSM_EVENT_DENY;
	adam_event_output(&lsm_events, &lsm_lost, &e->header, sizeof(*e), event_kind);
}

static __always_inline struct lsm_scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&lsm_scratch_map, &zero);
}

/* Decides the operation of `kind` whose fields the hook put in s->event
 * (`path`: exec's binary or the opened file; `parent_image_of`: the task
 * whose binary scope.parent names). Returns the deciding policy's action
 * (ADAM_LSM_ACTION_*), counted and recorded, or LSM_ALLOW. */
static __always_inline int decide(struct lsm_scratch *s, __u32 kind, __u32 mechanism, const struct path *path,
				  struct task_struct *parent_image_of)
{
	__u32 zero = 0;
	__u32 *active = bpf_map_lookup_elem(&lsm_active, &zero);

	if (!active)
		return LSM_ALLOW;
	__u32 gen = *active & 1;
	__u32 at = ADAM_LSM_KIND_INDEX(gen, kind);
	struct adam_lsm_kind_table *t = bpf_map_lookup_elem(&lsm_kinds, &at);

	if (!t || !t->policies)
		return LSM_ALLOW;
	s->acc = t->all;
	if (kind == ADAM_LSM_KIND_FILE && !and_access(s, t))
		return LSM_ALLOW;
	if ((kind == ADAM_LSM_KIND_CONNECT || kind == ADAM_LSM_KIND_BIND) && !and_network(s, t, gen, kind))
		return LSM_ALLOW;
	if (t->scoped & ADAM_LSM_SCOPED_COMM)
		bpf_get_current_comm(s->event.proc.comm, sizeof(s->event.proc.comm));
	if (!and_scope(s, t, gen, kind))
		return LSM_ALLOW;
	if (kind == ADAM_LSM_KIND_EXEC || kind == ADAM_LSM_KIND_FILE) {
		if (!path_of(path, &s->path, s->names))
			return LSM_ALLOW;
		if (!and_path(&s->acc, &s->path, ADAM_LSM_PATH_TABLE(gen, kind, 0)))
			return LSM_ALLOW;
	}
	if ((t->scoped & ADAM_LSM_SCOPED_PARENT) && !and_parent(s, t, gen, kind, parent_image_of))
		return LSM_ALLOW;

	int slot = first_slot(&s->acc);

	if (slot < 0 || slot >= ADAM_LSM_MAX_POLICIES || exempt())
		return LSM_ALLOW;
	at = ADAM_LSM_SLOT_INDEX(gen, kind, slot);
	struct adam_lsm_slot *policy = bpf_map_lookup_elem(&lsm_slots, &at);
	__u64 *hits = bpf_map_lookup_elem(&lsm_hits, &at);

	if (!policy)
		return LSM_ALLOW;
	if (hits)
		*hits += 1; /* per-CPU */
	record(s, policy, kind, mechanism);
	return policy->action;
}

/* --- The network request ------------------------------------------------- */

static __always_inline void set_inet4(struct adam_lsm_event *e, __u32 addr, __u16 port, __u8 proto)
{
	e->family = AF_INET;
	e->port = port;
	e->proto = proto;
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	__builtin_memcpy(e->addr, &addr, 4);
}

/* An IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 address. */
static __always_inline void set_inet6(struct adam_lsm_event *e, const __u32 addr[4], __u16 port, __u8 proto)
{
	if (addr[0] == 0 && addr[1] == 0 && addr[2] == bpf_htonl(0xffff)) {
		set_inet4(e, addr[3], port, proto);
		return;
	}
	e->family = AF_INET6;
	e->port = port;
	e->proto = proto;
	__builtin_memcpy(e->addr, addr, 16);
}

/* Decides a connect, sendmsg or bind of TCP or UDP (the others pass). */
static __always_inline bool denies_network(struct lsm_scratch *s, __u32 kind, __u32 mechanism)
{
	if (s->event.proto != IPPROTO_TCP && s->event.proto != IPPROTO_UDP)
		return false;
	s->event.access = 0;
	s->event.flags = 0;
	return decide(s, kind, mechanism, NULL, BPF_CORE_READ((struct task_struct *)bpf_get_current_task(),
							     real_parent)) == ADAM_LSM_ACTION_DENY;
}

/* --- cgroup: connect, sendmsg (UDP with an address), bind ----------------- */

/* 1 lets the operation go on, 0 fails it with EPERM. */
static __always_inline int cgroup_hook(struct bpf_sock_addr *ctx, __u32 kind, bool v6)
{
	struct lsm_scratch *s = scratch();

	if (!s)
		return 1;
	if (v6) {
		__u32 addr[4];

		addr[0] = ctx->user_ip6[0];
		addr[1] = ctx->user_ip6[1];
		addr[2] = ctx->user_ip6[2];
		addr[3] = ctx->user_ip6[3];
		set_inet6(&s->event, addr, bpf_ntohs((__u16)ctx->user_port), ctx->protocol);
	} else {
		set_inet4(&s->event, ctx->user_ip4, bpf_ntohs((__u16)ctx->user_port), ctx->protocol);
	}
	return denies_network(s, kind, ADAM_LSM_MECH_CGROUP) ? 0 : 1;
}

SEC("cgroup/connect4")
int lsm_cg_connect4(struct bpf_sock_addr *ctx)
{
	return cgroup_hook(ctx, ADAM_LSM_KIND_CONNECT, false);
}

SEC("cgroup/connect6")
int lsm_cg_connect6(struct bpf_sock_addr *ctx)
{
	return cgroup_hook(ctx, ADAM_LSM_KIND_CONNECT, true);
}

SEC("cgroup/sendmsg4")
int lsm_cg_sendmsg4(struct bpf_sock_addr *ctx)
{
	return cgroup_hook(ctx, ADAM_LSM_KIND_CONNECT, false);
}

SEC("cgroup/sendmsg6")
int lsm_cg_sendmsg6(struct bpf_sock_addr *ctx)
{
	return cgroup_hook(ctx, ADAM_LSM_KIND_CONNECT, true);
}

SEC("cgroup/bind4")
int lsm_cg_bind4(struct bpf_sock_addr *ctx)
{
	return cgroup_hook(ctx, ADAM_LSM_KIND_BIND, false);
}

SEC("cgroup/bind6")
int lsm_cg_bind6(struct bpf_sock_addr *ctx)
{
	return cgroup_hook(ctx, ADAM_LSM_KIND_BIND, true);
}

/* --- bpf_lsm --------------------------------------------------------------- */

/* A socket hook's address (the kernel's copy of the caller's): 0 or -EPERM. */
static __always_inline int lsm_socket_hook(struct socket *sock, struct sockaddr *address, __u32 kind)
{
	struct lsm_scratch *s = scratch();
	__u16 family = BPF_CORE_READ(address, sa_family);
	__u8 proto = BPF_CORE_READ(sock, sk, sk_protocol);

	if (!s)
		return 0;
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)address;

		set_inet4(&s->event, BPF_CORE_READ(in, sin_addr.s_addr), bpf_ntohs(BPF_CORE_READ(in, sin_port)),
			  proto);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)address;
		__u32 addr[4];

		bpf_probe_read_kernel(addr, sizeof(addr), &in6->sin6_addr);
		set_inet6(&s->event, addr, bpf_ntohs(BPF_CORE_READ(in6, sin6_port)), proto);
	} else {
		return 0;
	}
	return denies_network(s, kind, ADAM_LSM_MECH_BPF_LSM) ? -EPERM : 0;
}

SEC("lsm/socket_connect")
int BPF_PROG(lsm_connect, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	if (ret)
		return ret;
	return lsm_socket_hook(sock, address, ADAM_LSM_KIND_CONNECT);
}

/* UDP sends with an address: connect policies stop them too. */
SEC("lsm/socket_sendmsg")
int BPF_PROG(lsm_sendmsg, struct socket *sock, struct msghdr *msg, int size, int ret)
{
	struct sockaddr *address = BPF_CORE_READ(msg, msg_name);

	if (ret)
		return ret;
	if (!address || BPF_CORE_READ(sock, sk, sk_protocol) != IPPROTO_UDP)
		return 0;
	return lsm_socket_hook(sock, address, ADAM_LSM_KIND_CONNECT);
}

SEC("lsm/socket_bind")
int BPF_PROG(lsm_bind, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	if (ret)
		return ret;
	return lsm_socket_hook(sock, address, ADAM_LSM_KIND_BIND);
}

/* Before the exec's point of no return: current still runs the caller's
 * image, which is what scope.parent names for exec. */
SEC("lsm/bprm_check_security")
int BPF_PROG(lsm_exec, struct linux_binprm *bprm, int ret)
{
	struct lsm_scratch *s = scratch();
	struct file *file = BPF_CORE_READ(bprm, file);

	if (ret)
		return ret;
	if (!s || !file)
		return 0;
	s->event.access = 0;
	s->event.flags = 0;
	s->event.family = 0;
	s->event.port = 0;
	s->event.proto = 0;
	return decide(s, ADAM_LSM_KIND_EXEC, ADAM_LSM_MECH_BPF_LSM, &file->f_path,
		      (struct task_struct *)bpf_get_current_task()) == ADAM_LSM_ACTION_DENY ?
		       -EPERM :
		       0;
}

SEC("lsm/file_open")
int BPF_PROG(lsm_file_open, struct file *file, int ret)
{
	struct lsm_scratch *s = scratch();

	if (ret)
		return ret;
	if (!s)
		return 0;
	__u32 flags = BPF_CORE_READ(file, f_flags);
	__u32 mode = BPF_CORE_READ(file, f_mode);
	__u32 accmode = flags & O_ACCMODE;
	__u8 access = 0;

	if (accmode != O_WRONLY)
		access |= ADAM_LSM_ACCESS_READ;
	if (accmode == O_WRONLY || accmode == O_RDWR || (flags & (O_TRUNC | O_APPEND)) || (mode & FMODE_CREATED))
		access |= ADAM_LSM_ACCESS_WRITE;
	s->event.access = access;
	s->event.flags = flags;
	s->event.family = 0;
	s->event.port = 0;
	s->event.proto = 0;
	return decide(s, ADAM_LSM_KIND_FILE, ADAM_LSM_MECH_BPF_LSM, &file->f_path,
		      BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), real_parent)) ==
			       ADAM_LSM_ACTION_DENY ?
		       -EPERM :
		       0;
}

/* --- signal: kill right after exec ------------------------------------------ */

/* The new image is in place but has not run: SIGKILL ends it before its first
 * instruction. The caller's image is gone: scope.parent is the parent's. */
static __always_inline int kill_after_exec(struct task_struct *task, struct linux_binprm *bprm)
{
	struct lsm_scratch *s = scratch();
	struct file *file = BPF_CORE_READ(bprm, file);

	if (!s || !file)
		return 0;
	s->event.access = 0;
	s->event.flags = 0;
	s->event.family = 0;
	s->event.port = 0;
	s->event.proto = 0;
	if (decide(s, ADAM_LSM_KIND_EXEC, ADAM_LSM_MECH_SIGNAL, &file->f_path, BPF_CORE_READ(task, real_parent)) ==
	    ADAM_LSM_ACTION_DENY)
		bpf_send_signal(SIGKILL);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(lsm_exec_kill_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return kill_after_exec(p, bprm);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(lsm_exec_kill_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return kill_after_exec(p, bprm);
}
