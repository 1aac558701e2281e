// SPDX-License-Identifier: GPL-2.0-only
/*
 * Peregrine sensor: CO-RE eBPF programs.
 *
 * Process lifecycle comes from the sched tracepoints; every other behaviour
 * from the per-syscall tracepoints (enter stashes the arguments, exit emits
 * one record with the result). Programs only run for the syscalls that are
 * attached, and user space attaches only the kinds some consumer wants.
 * Records are written with bpf_ringbuf_output() without a wakeup; a wakeup
 * is forced once `wakeup_bytes` are waiting, and user space also polls on a
 * short timer, so wakeups are batched.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "peregrine_event.h"

char LICENSE[] SEC("license") = "GPL";

#define PG_REC_FIXED 512
#define PG_NAME_MAX 256
#define PG_PATH_DEPTH 48
#define PG_AT_FDCWD -100
#define PG_S_IFMT 00170000
#define PG_S_IFSOCK 0140000
#define PG_AF_INET 2
#define PG_AF_INET6 10
#define PG_BPF_PROG_LOAD 5

struct pg_scratch {
	__u8 rec[PG_REC_FIXED + PG_DATA_MAX + PG_PATH_MAX];
	__u8 path[2 * PG_PATH_MAX];
	struct pg_path_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} EVENTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_config);
} CONFIG SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PG_CAT_MAX);
	__type(key, __u32);
	__type(value, struct pg_counters);
} COUNTERS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_scratch);
} SCRATCH SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} PID_SCOPE SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} CGROUP_SCOPE SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, char[PG_COMM_LEN]);
	__type(value, __u8);
} COMM_FILTER SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pg_path_key);
	__type(value, __u8);
} PATH_PREFIXES SEC(".maps");

/*
 * Rule-derived open filter (PG_CFG_OPEN_READ / PG_CFG_OPEN_WRITE): the path
 * prefixes some loaded rule may match, one trie per access mode.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pg_path_key);
	__type(value, __u8);
} OPEN_READ_PREFIXES SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pg_path_key);
	__type(value, __u8);
} OPEN_WRITE_PREFIXES SEC(".maps");

static __always_inline __u32 pg_category(__u32 kind)
{
	switch (kind) {
	case PG_KIND_EXEC:
	case PG_KIND_FORK:
	case PG_KIND_EXIT:
		return PG_CAT_PROCESS;
	case PG_KIND_OPEN:
	case PG_KIND_UNLINK:
	case PG_KIND_RENAME:
	case PG_KIND_CHMOD:
	case PG_KIND_CHOWN:
	case PG_KIND_LINK:
	case PG_KIND_SYMLINK:
	case PG_KIND_MKDIR:
		return PG_CAT_FILE;
	case PG_KIND_CONNECT:
	case PG_KIND_ACCEPT:
	case PG_KIND_BIND:
	case PG_KIND_LISTEN:
	case PG_KIND_SOCKET:
	case PG_KIND_SENDTO:
		return PG_CAT_NETWORK;
	case PG_KIND_SETUID:
	case PG_KIND_SETGID:
	case PG_KIND_CAPSET:
	case PG_KIND_PTRACE:
		return PG_CAT_PRIVILEGE;
	case PG_KIND_MOUNT:
	case PG_KIND_UMOUNT:
	case PG_KIND_UNSHARE:
	case PG_KIND_SETNS:
		return PG_CAT_NAMESPACE;
	default:
		return PG_CAT_KERNEL;
	}
}

static __always_inline void pg_count_filtered(__u32 cat)
{
	struct pg_counters *c = bpf_map_lookup_elem(&COUNTERS, &cat);
	if (c)
		c->filtered++;
}

/* Is an event of `kind` from the current task wanted? Cheapest tests first. */
static __always_inline bool pg_wanted(__u32 kind, __u32 tgid)
{
	__u32 zero = 0;
	struct pg_config *cfg = bpf_map_lookup_elem(&CONFIG, &zero);
	if (!cfg)
		return false;
	if (!(cfg->kind_mask & (1ULL << (kind & 63))))
		return false;
	if (tgid == cfg->self_tgid)
		return false;
	__u32 flags = cfg->flags;
	if (!(flags & (PG_CFG_SCOPE_PIDS | PG_CFG_SCOPE_CGROUPS | PG_CFG_COMM_DENY |
		       PG_CFG_COMM_ALLOW)))
		return true;
	/* Scopes add up: a task in the pid tree OR in a scoped cgroup passes. */
	if (flags & (PG_CFG_SCOPE_PIDS | PG_CFG_SCOPE_CGROUPS)) {
		bool in_scope = (flags & PG_CFG_SCOPE_PIDS) && bpf_map_lookup_elem(&PID_SCOPE, &tgid);
		if (!in_scope && (flags & PG_CFG_SCOPE_CGROUPS)) {
			__u64 cg = bpf_get_current_cgroup_id();
			in_scope = bpf_map_lookup_elem(&CGROUP_SCOPE, &cg) != NULL;
		}
		if (!in_scope)
			goto filtered;
	}
	if (flags & (PG_CFG_COMM_DENY | PG_CFG_COMM_ALLOW)) {
		char comm[PG_COMM_LEN] = {};
		bpf_get_current_comm(comm, sizeof(comm));
		bool listed = bpf_map_lookup_elem(&COMM_FILTER, comm) != NULL;
		if ((flags & PG_CFG_COMM_DENY) && listed)
			goto filtered;
		if ((flags & PG_CFG_COMM_ALLOW) && !listed)
			goto filtered;
	}
	return true;
filtered:
	pg_count_filtered(pg_category(kind));
	return false;
}

/* numbers[] is a flexible array: address it by offset (aya rejects index 0 of it). */
static __always_inline struct upid pg_upid(struct pid *p, unsigned int level)
{
	struct upid up = {};
	if (!p)
		return up;
	__u64 off = bpf_core_field_offset(struct pid, numbers) + (level & 31) * sizeof(struct upid);
	bpf_probe_read_kernel(&up, sizeof(up), (char *)p + off);
	return up;
}

static __always_inline void pg_fill_header(struct pg_header *h, struct task_struct *task,
					   __u16 kind, __u16 sys)
{
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	h->kind = kind;
	h->syscall = sys;
	h->pid = BPF_CORE_READ(task, tgid);
	h->tid = BPF_CORE_READ(task, pid);
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);

	struct pid *tp = BPF_CORE_READ(task, group_leader, thread_pid);
	unsigned int level = BPF_CORE_READ(tp, level);
	struct upid up = pg_upid(tp, level);
	h->vpid = up.nr;
	h->pid_ns = BPF_CORE_READ(up.ns, ns.inum);

	const struct cred *cred = BPF_CORE_READ(task, cred);
	h->uid = BPF_CORE_READ(cred, uid.val);
	h->gid = BPF_CORE_READ(cred, gid.val);
	h->euid = BPF_CORE_READ(cred, euid.val);
	h->egid = BPF_CORE_READ(cred, egid.val);
	h->loginuid = BPF_CORE_READ(task, loginuid.val);
	h->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	h->net_ns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	BPF_CORE_READ_STR_INTO(&h->comm, task, comm);
	const char *cgname = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name);
	if (cgname)
		bpf_probe_read_kernel_str(h->cgroup, sizeof(h->cgroup), cgname);
	else
		h->cgroup[0] = 0;
}

/*
 * Header of the current task through BTF pointers: direct (exception-table
 * protected) loads instead of one bpf_probe_read_kernel() per field. Needs
 * bpf_get_current_task_btf() (Linux 5.11+).
 */
static __always_inline void pg_fill_header_cur(struct pg_header *h, __u16 kind, __u16 sys)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 pt = bpf_get_current_pid_tgid();
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->kind = kind;
	h->syscall = sys;
	h->pid = pt >> 32;
	h->tid = (__u32)pt;
	h->ppid = task->real_parent->tgid;

	struct pid *tp = task->group_leader->thread_pid;
	struct upid up = pg_upid(tp, tp->level);
	h->vpid = up.nr;
	h->pid_ns = BPF_CORE_READ(up.ns, ns.inum);

	const struct cred *cred = task->cred;
	h->uid = cred->uid.val;
	h->gid = cred->gid.val;
	h->euid = cred->euid.val;
	h->egid = cred->egid.val;
	h->loginuid = task->loginuid.val;
	struct nsproxy *nsp = task->nsproxy;
	if (nsp) {
		h->mnt_ns = nsp->mnt_ns->ns.inum;
		h->net_ns = nsp->net_ns->ns.inum;
	}
	bpf_get_current_comm(h->comm, sizeof(h->comm));
	const char *cgname = task->cgroups->dfl_cgrp->kn->name;
	if (!cgname || bpf_probe_read_kernel_str(h->cgroup, sizeof(h->cgroup), cgname) < 0)
		h->cgroup[0] = 0;
}

/* Append a user-space string to the data region. */
static __always_inline void pg_put_user_str(__u8 *data, __u32 *pos, struct pg_str *s,
					    const void *src)
{
	__u32 p = *pos;
	if (!src || p > PG_DATA_MAX - PG_STR_MAX)
		return;
	long n = bpf_probe_read_user_str(&data[p], PG_STR_MAX, src);
	if (n <= 0)
		return;
	s->off = p;
	s->len = n - 1;
	*pos = p + (n & (PG_STR_MAX - 1 + PG_STR_MAX));
}

/* Append raw user bytes (a sockaddr) to the data region. */
static __always_inline void pg_put_user_bytes(__u8 *data, __u32 *pos, struct pg_str *s,
					      const void *src, __u64 len)
{
	__u32 p = *pos;
	if (!src || p > PG_DATA_MAX - PG_SOCKADDR_MAX)
		return;
	if (len > PG_SOCKADDR_MAX)
		len = PG_SOCKADDR_MAX;
	__u32 n = len & (PG_SOCKADDR_MAX * 2 - 1);
	if (n == 0 || bpf_probe_read_user(&data[p], n, src))
		return;
	s->off = p;
	s->len = n;
	*pos = p + n;
}

struct pg_walk {
	struct dentry *dentry;
	struct mount *mnt;
	struct dentry *mnt_root;
	__u32 off;
	__u32 _pad;
};

static __always_inline struct pg_scratch *pg_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&SCRATCH, &zero);
}

/* One step of the dentry walk (a bpf_loop callback: verified once). */
static long pg_walk_step(__u64 index, void *vctx)
{
	struct pg_walk *w = vctx;
	struct pg_scratch *sc = pg_scratch();
	if (!sc)
		return 1;
	struct dentry *dentry = w->dentry;
	struct mount *mnt = w->mnt;
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == w->mnt_root) {
		struct mount *mparent = BPF_CORE_READ(mnt, mnt_parent);
		if (mnt == mparent)
			return 1;
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mparent;
		w->mnt_root = BPF_CORE_READ(mparent, mnt.mnt_root);
		return 0;
	}
	__u32 len = BPF_CORE_READ(dentry, d_name.len);
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	len &= (PG_NAME_MAX - 1);
	__u32 off = w->off;
	if (off > PG_PATH_MAX || len + 2 > off)
		return 1;
	off -= len;
	bpf_probe_read_kernel(&sc->path[off & (PG_PATH_MAX - 1)], len, name);
	off -= 1;
	sc->path[off & (PG_PATH_MAX - 1)] = '/';
	w->off = off;
	if (dentry == parent)
		return 1; /* memfd, anonymous and detached dentries */
	w->dentry = parent;
	return 0;
}

/*
 * Resolve a struct path to an absolute path by walking dentries and crossing
 * mounts, written backwards into the scratch buffer, then appended to data.
 * Paths inside another mount namespace come out relative to its root.
 */
static __always_inline void pg_put_path(struct pg_scratch *sc, __u8 *data, __u32 *pos,
					struct pg_str *s, const struct path *path)
{
	if (!path)
		return;
	struct pg_walk w = {};
	w.dentry = BPF_CORE_READ(path, dentry);
	struct vfsmount *vfsmnt = BPF_CORE_READ(path, mnt);
	if (!w.dentry || !vfsmnt)
		return;
	w.mnt = container_of(vfsmnt, struct mount, mnt);
	w.mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	w.off = PG_PATH_MAX;
	bpf_loop(PG_PATH_DEPTH, pg_walk_step, &w, 0);
	__u32 off = w.off;
	if (off >= PG_PATH_MAX) {
		off = PG_PATH_MAX - 1;
		sc->path[off & (PG_PATH_MAX - 1)] = '/';
	}
	__u32 len = (PG_PATH_MAX - off) & (PG_PATH_MAX - 1);
	__u32 p = *pos;
	if (p > PG_DATA_MAX - PG_PATH_MAX)
		return;
	if (bpf_probe_read_kernel(&data[p], len, &sc->path[off & (PG_PATH_MAX - 1)]))
		return;
	s->off = p;
	s->len = len;
	*pos = p + len;
}

static __always_inline struct file *pg_fd_file(struct task_struct *task, long fd)
{
	if (fd < 0)
		return NULL;
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned long)fd >= max)
		return NULL;
	struct file **arr = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &arr[fd & 0xfffff]);
	return f;
}

/* Path, inode and device of an open file. */
static __always_inline void pg_put_file(struct pg_scratch *sc, __u8 *data, __u32 *pos,
					struct pg_syscall_event *ev, struct pg_str *s,
					struct file *f)
{
	if (!f)
		return;
	pg_put_path(sc, data, pos, s, &f->f_path);
	ev->aux[2] = BPF_CORE_READ(f, f_inode, i_ino);
	ev->aux[3] = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
}

/*
 * The directory a relative path is resolved against: dirfd or cwd. An
 * absolute path is resolved against the task's root instead, which is sent
 * only when it is not the root of the mount namespace (a chroot): user space
 * then reports the path as the rest of the namespace sees it, as it does for
 * paths resolved from a struct file.
 */
static __always_inline void pg_put_base_of(struct pg_scratch *sc, __u8 *data, __u32 *pos,
					   struct pg_syscall_event *ev, struct task_struct *task,
					   long dirfd, struct pg_str *first)
{
	if (first->len > 0) {
		__u8 c = data[first->off & (PG_DATA_MAX - 1)];
		if (c == '/') {
			struct fs_struct *fs = BPF_CORE_READ(task, fs);
			__u32 before = *pos;
			pg_put_path(sc, data, pos, &ev->str[3], &fs->root);
			if (ev->str[3].len <= 1) {
				/* "/": not chrooted, nothing to add. */
				ev->str[3].len = 0;
				ev->str[3].off = 0;
				*pos = before;
			}
			return;
		}
	}
	if ((int)dirfd == PG_AT_FDCWD) {
		struct fs_struct *fs = BPF_CORE_READ(task, fs);
		pg_put_path(sc, data, pos, &ev->str[3], &fs->pwd);
	} else {
		struct file *f = pg_fd_file(task, (int)dirfd);
		if (f)
			pg_put_path(sc, data, pos, &ev->str[3], &f->f_path);
	}
}

/*
 * glibc's lchmod and fchmodat(AT_SYMLINK_NOFOLLOW) open the file with O_PATH
 * and chmod its magic link, "/proc/self/fd/N" (tar and cp -a restoring modes
 * do this for every file): resolve N to the file, as for open's new fd.
 */
static __always_inline void pg_put_proc_self_fd(struct pg_scratch *sc, __u8 *data, __u32 *pos,
						struct pg_syscall_event *ev,
						struct task_struct *task)
{
	const char prefix[] = "/proc/self/fd/";
	__u32 len = ev->str[0].len;
	__u32 off = ev->str[0].off;
	if (len <= 14 || len > 20 || off > PG_DATA_MAX - 32)
		return;
#pragma unroll
	for (int i = 0; i < 14; i++) {
		if (data[(off + i) & (PG_DATA_MAX - 1)] != prefix[i])
			return;
	}
	long fd = 0;
	int bad = 0;
#pragma unroll
	for (int i = 14; i < 20; i++) {
		__u8 c = data[(off + i) & (PG_DATA_MAX - 1)];
		if (i < (int)len) {
			bad |= c < '0' || c > '9';
			fd = fd * 10 + (c - '0');
		}
	}
	if (bad)
		return;
	pg_put_file(sc, data, pos, ev, &ev->str[2], pg_fd_file(task, fd));
}

/* The base of str[0] (the object of every file syscall but symlink). */
static __always_inline void pg_put_base(struct pg_scratch *sc, __u8 *data, __u32 *pos,
					struct pg_syscall_event *ev, struct task_struct *task,
					long dirfd)
{
	pg_put_base_of(sc, data, pos, ev, task, dirfd, &ev->str[0]);
}

static __always_inline void pg_fill_sock(struct pg_syscall_event *ev, struct task_struct *task,
					 long fd)
{
	struct file *f = pg_fd_file(task, fd);
	if (!f)
		return;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & PG_S_IFMT) != PG_S_IFSOCK)
		return;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return;
	ev->sock.type = BPF_CORE_READ(sock, type);
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	ev->sock.family = family;
	ev->sock.lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev->sock.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == PG_AF_INET) {
		__u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(ev->sock.laddr, &l, 4);
		__builtin_memcpy(ev->sock.raddr, &r, 4);
	} else if (family == PG_AF_INET6) {
		BPF_CORE_READ_INTO(&ev->sock.laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&ev->sock.raddr, sk, __sk_common.skc_v6_daddr);
	}
}

static __always_inline bool pg_path_allowed(struct pg_scratch *sc, __u8 *data,
					    struct pg_syscall_event *ev)
{
	__u32 zero = 0;
	struct pg_config *cfg = bpf_map_lookup_elem(&CONFIG, &zero);
	if (!cfg || !(cfg->flags & PG_CFG_PATH_PREFIX))
		return true;
	/* Prefer the kernel-resolved path; fall back to the path as given. */
	struct pg_str *s = ev->str[2].len ? &ev->str[2] : &ev->str[0];
	__u32 len = s->len;
	if (len > PG_PREFIX_MAX)
		len = PG_PREFIX_MAX;
	len &= (PG_PREFIX_MAX * 2 - 1);
	__u32 off = s->off & (PG_DATA_MAX - 1);
	if (len == 0)
		return false;
	if (bpf_probe_read_kernel(sc->key.path, len, &data[off]))
		return false;
	sc->key.prefixlen = len * 8;
	return bpf_map_lookup_elem(&PATH_PREFIXES, &sc->key) != NULL;
}

/*
 * The rule-derived open filter: may some loaded rule match this open? Only
 * successful opens with a kernel-resolved path are decided (that path is
 * fd.name in user space); failed opens, whose fd.name user space joins
 * from a relative path, always pass. Access as evt.is_open_write reads it:
 * O_WRONLY or O_RDWR (and creat) is a write, anything else a read.
 */
static __always_inline bool pg_open_needed(struct pg_scratch *sc, __u8 *data,
					   struct pg_syscall_event *ev, __u32 sys)
{
	__u32 zero = 0;
	struct pg_config *cfg = bpf_map_lookup_elem(&CONFIG, &zero);
	if (!cfg || !(cfg->flags & (PG_CFG_OPEN_READ | PG_CFG_OPEN_WRITE)))
		return true;
	if ((long)ev->ret < 0 || ev->str[2].len == 0)
		return true;
	__u64 fl;
	switch (sys) {
	case PG_SYS_OPEN:
		fl = ev->args[1];
		break;
	case PG_SYS_OPENAT:
		fl = ev->args[2];
		break;
	case PG_SYS_OPENAT2:
		fl = ev->aux[0];
		break;
	case PG_SYS_CREAT:
		fl = 1;
		break;
	default:
		return true;
	}
	__u64 acc = fl & 3;
	bool write = acc == 1 || acc == 2;
	if (!(cfg->flags & (write ? PG_CFG_OPEN_WRITE : PG_CFG_OPEN_READ)))
		return true;
	__u32 len = ev->str[2].len;
	if (len > PG_PREFIX_MAX)
		len = PG_PREFIX_MAX;
	len &= (PG_PREFIX_MAX * 2 - 1);
	__u32 off = ev->str[2].off & (PG_DATA_MAX - 1);
	if (len == 0 || bpf_probe_read_kernel(sc->key.path, len, &data[off]))
		return true;
	sc->key.prefixlen = len * 8;
	if (write)
		return bpf_map_lookup_elem(&OPEN_WRITE_PREFIXES, &sc->key) != NULL;
	return bpf_map_lookup_elem(&OPEN_READ_PREFIXES, &sc->key) != NULL;
}

static __always_inline void pg_submit(struct pg_header *h, __u32 size, __u32 cat)
{
	__u32 zero = 0;
	struct pg_config *cfg = bpf_map_lookup_elem(&CONFIG, &zero);
	struct pg_counters *c = bpf_map_lookup_elem(&COUNTERS, &cat);
	if (!cfg || !c)
		return;
	h->size = size;
	__u64 flags = BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_query(&EVENTS, BPF_RB_AVAIL_DATA) >= cfg->wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	if (size > PG_REC_FIXED + PG_DATA_MAX)
		return;
	if (bpf_ringbuf_output(&EVENTS, h, size, flags))
		c->dropped++;
	else
		c->emitted++;
}

/* ---------------------------------------------------------------- process */

SEC("tracepoint/sched/sched_process_exec")
int sched_process_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!pg_wanted(PG_KIND_EXEC, tgid))
		return 0;
	struct pg_scratch *sc = pg_scratch();
	if (!sc)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pg_exec_event *ev = (struct pg_exec_event *)sc->rec;
	__u8 *data = sc->rec + sizeof(*ev);
	__u32 pos = 0;
	__builtin_memset(ev, 0, sizeof(*ev));
	pg_fill_header_cur(&ev->hdr, PG_KIND_EXEC, PG_SYS_EXECVE);

	const struct cred *cred = BPF_CORE_READ(task, cred);
	bpf_core_read(&ev->cap_effective, sizeof(__u64), &cred->cap_effective);
	bpf_core_read(&ev->cap_permitted, sizeof(__u64), &cred->cap_permitted);
	bpf_core_read(&ev->cap_inheritable, sizeof(__u64), &cred->cap_inheritable);

	struct signal_struct *sig = BPF_CORE_READ(task, signal);
	struct tty_struct *tty = BPF_CORE_READ(sig, tty);
	if (tty) {
		int index = BPF_CORE_READ(tty, index);
		int major = BPF_CORE_READ(tty, driver, major);
		int minor = BPF_CORE_READ(tty, driver, minor_start);
		ev->tty = ((__u32)major << 20) | (__u32)(minor + index);
	}
	struct pid *sidp = BPF_CORE_READ(sig, pids[PIDTYPE_SID]);
	struct pid *pgp = BPF_CORE_READ(sig, pids[PIDTYPE_PGID]);
	ev->sid = pg_upid(sidp, 0).nr;
	ev->pgid = pg_upid(pgp, 0).nr;

	/* filename as passed to execve, from the tracepoint's __data_loc. */
	__u32 loc = ctx->__data_loc_filename & 0xFFFF;
	long n = bpf_probe_read_kernel_str(&data[0], PG_STR_MAX, (void *)ctx + loc);
	if (n > 0) {
		ev->filename.off = 0;
		ev->filename.len = n - 1;
		pos = n & (PG_STR_MAX * 2 - 1);
	}

	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	unsigned long arg_start = BPF_CORE_READ(mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(mm, arg_end);
	unsigned long alen = arg_end > arg_start ? arg_end - arg_start : 0;
	if (alen > PG_ARGS_MAX) {
		alen = PG_ARGS_MAX;
		ev->flags |= PG_EXEC_F_ARGS_TRUNCATED;
	}
	__u32 a = alen & (PG_ARGS_MAX * 2 - 1);
	if (pos <= PG_STR_MAX && a > 0 &&
	    bpf_probe_read_user(&data[pos], a, (void *)arg_start) == 0) {
		ev->args.off = pos;
		ev->args.len = a;
		pos += a;
	}

	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	pg_put_path(sc, data, &pos, &ev->cwd, &fs->pwd);
	struct file *exe = BPF_CORE_READ(mm, exe_file);
	if (exe) {
		pg_put_path(sc, data, &pos, &ev->exe, &exe->f_path);
		ev->exe_ino = BPF_CORE_READ(exe, f_inode, i_ino);
		ev->exe_dev = BPF_CORE_READ(exe, f_inode, i_sb, s_dev);
	}
	__u32 zero = 0;
	struct pg_config *cfg = bpf_map_lookup_elem(&CONFIG, &zero);
	if (cfg && (cfg->flags & PG_CFG_EXEC_ENV)) {
		unsigned long env_start = BPF_CORE_READ(mm, env_start);
		unsigned long env_end = BPF_CORE_READ(mm, env_end);
		unsigned long elen = env_end > env_start ? env_end - env_start : 0;
		if (elen > PG_ENV_MAX) {
			elen = PG_ENV_MAX;
			ev->flags |= PG_EXEC_F_ENV_TRUNCATED;
		}
		__u32 e = elen & (PG_ENV_MAX * 2 - 1);
		if (pos <= PG_DATA_MAX - PG_ENV_MAX && e > 0 && e <= PG_ENV_MAX &&
		    bpf_probe_read_user(&data[pos & (PG_DATA_MAX - 1)], e, (void *)env_start) == 0) {
			ev->env.off = pos;
			ev->env.len = e;
			pos += e;
		}
	}
	pg_submit(&ev->hdr, sizeof(*ev) + pos, PG_CAT_PROCESS);
	return 0;
}

SEC("raw_tp/sched_process_fork")
int raw_sched_process_fork(void *ctx)
{
	/* Plain loads: args[] of bpf_raw_tracepoint_args is a flexible array. */
	__u64 *args = ctx;
	struct task_struct *parent = (struct task_struct *)args[0];
	struct task_struct *child = (struct task_struct *)args[1];
	__u32 child_pid = BPF_CORE_READ(child, pid);
	__u32 child_tgid = BPF_CORE_READ(child, tgid);
	if (child_pid != child_tgid)
		return 0; /* a new thread, not a new process */
	__u32 ptgid = BPF_CORE_READ(parent, tgid);

	/* Scope by process tree: children of scoped processes are scoped. */
	if (bpf_map_lookup_elem(&PID_SCOPE, &ptgid)) {
		__u8 one = 1;
		bpf_map_update_elem(&PID_SCOPE, &child_tgid, &one, BPF_ANY);
	}
	if (!pg_wanted(PG_KIND_FORK, child_tgid))
		return 0;
	struct pg_scratch *sc = pg_scratch();
	if (!sc)
		return 0;
	struct pg_fork_event *ev = (struct pg_fork_event *)sc->rec;
	__builtin_memset(ev, 0, sizeof(*ev));
	pg_fill_header(&ev->hdr, child, PG_KIND_FORK, PG_SYS_NONE);
	ev->parent_pid = ptgid;
	ev->parent_tid = BPF_CORE_READ(parent, pid);
	pg_submit(&ev->hdr, sizeof(*ev), PG_CAT_PROCESS);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int sched_process_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	int live = BPF_CORE_READ(task, signal, live.counter);
	if (live != 0)
		return 0; /* other threads of the process are still running */
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	bool wanted = pg_wanted(PG_KIND_EXIT, tgid);
	bpf_map_delete_elem(&PID_SCOPE, &tgid);
	if (!wanted)
		return 0;
	struct pg_scratch *sc = pg_scratch();
	if (!sc)
		return 0;
	struct pg_exit_event *ev = (struct pg_exit_event *)sc->rec;
	__builtin_memset(ev, 0, sizeof(*ev));
	pg_fill_header_cur(&ev->hdr, PG_KIND_EXIT, PG_SYS_NONE);
	int code = BPF_CORE_READ(task, exit_code);
	ev->code = (code >> 8) & 0xff;
	ev->signal = code & 0x7f;
	pg_submit(&ev->hdr, sizeof(*ev), PG_CAT_PROCESS);
	return 0;
}

/* --------------------------------------------------------------- syscalls */

/*
 * Syscall arguments as the task passed them, read at exit from the user
 * registers saved on syscall entry (x86-64 syscall ABI: di, si, dx, r10, r8,
 * r9; i386 ABI: bx, cx, dx, si, di, bp, 32 bits each). None of the hooked
 * syscalls rewrites them; ax alone holds the result. One program per
 * syscall instead of an entry/exit pair and a hash map of in-flight
 * arguments: half the invocations, no map updates.
 */
static __always_inline void pg_syscall_args(__u64 *a, const bool compat)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (compat) {
		a[0] = (__u32)regs->bx;
		a[1] = (__u32)regs->cx;
		a[2] = (__u32)regs->dx;
		a[3] = (__u32)regs->si;
		a[4] = (__u32)regs->di;
		a[5] = (__u32)regs->bp;
		return;
	}
	a[0] = regs->di;
	a[1] = regs->si;
	a[2] = regs->dx;
	a[3] = regs->r10;
	a[4] = regs->r8;
	a[5] = regs->r9;
}

/* Cheap drops before any record is built: what no rule can want. */
static __always_inline bool pg_syscall_wanted(const __u32 sys, const __u64 *a, const bool compat)
{
	/* Sends matter only with an explicit destination (unconnected UDP,
	 * raw sockets): connected sends are the hot path of every stream. */
	if (sys == PG_SYS_SENDTO && a[4] == 0)
		return false;
	if (sys == PG_SYS_SENDMSG) {
		/* msg_name is the first member of user_msghdr / compat_msghdr. */
		__u64 name = 0;
		if (bpf_probe_read_user(&name, compat ? 4 : 8, (void *)a[1]) || !name)
			return false;
	}
	if (sys == PG_SYS_SOCKET && (a[0] == 1 || a[0] == 2 || a[0] == 10)) {
		__u32 zero = 0;
		struct pg_config *cfg = bpf_map_lookup_elem(&CONFIG, &zero);
		if (!cfg || !(cfg->flags & PG_CFG_ALL_SOCKETS)) {
			pg_count_filtered(PG_CAT_NETWORK);
			return false;
		}
	}
	return true;
}

#include "compat.bpf.h"

/*
 * One record for a syscall that returned `ret`. `compat`: an i386-ABI
 * syscall, `nr` its i386 number (arguments are normalised to the x86-64
 * syscall's meaning, so user space decodes both alike).
 */
static __always_inline int pg_exit(long ret, const __u32 kind, const __u32 sys, const bool compat,
				   const long nr)
{
	if (!pg_wanted(kind, bpf_get_current_pid_tgid() >> 32))
		return 0;
	struct pg_scratch *sc = pg_scratch();
	if (!sc)
		return 0;
	struct pg_syscall_event *ev = (struct pg_syscall_event *)sc->rec;
	__u8 *data = sc->rec + sizeof(*ev);
	__u32 pos = 0;
	__builtin_memset(ev, 0, sizeof(*ev));
	pg_syscall_args(ev->args, compat);
	if (compat && !pg_compat_args(ev->args, sys, nr))
		return 0;
	if (!pg_syscall_wanted(sys, ev->args, compat))
		return 0;

	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	ev->ret = ret;
	__u64 *a = ev->args;

	switch (sys) {
	case PG_SYS_OPEN:
	case PG_SYS_CREAT:
		pg_put_user_str(data, &pos, &ev->str[0], (void *)a[0]);
		break;
	case PG_SYS_OPENAT:
	case PG_SYS_OPENAT2:
		pg_put_user_str(data, &pos, &ev->str[0], (void *)a[1]);
		break;
	case PG_SYS_UNLINK:
	case PG_SYS_RMDIR:
	case PG_SYS_CHMOD:
	case PG_SYS_CHOWN:
	case PG_SYS_LCHOWN:
	case PG_SYS_MKDIR:
	case PG_SYS_UMOUNT2:
	case PG_SYS_MEMFD_CREATE:
		pg_put_user_str(data, &pos, &ev->str[0], (void *)a[0]);
		break;
	case PG_SYS_UNLINKAT:
	case PG_SYS_FCHMODAT:
	case PG_SYS_FCHMODAT2:
	case PG_SYS_FCHOWNAT:
	case PG_SYS_MKDIRAT:
		pg_put_user_str(data, &pos, &ev->str[0], (void *)a[1]);
		break;
	case PG_SYS_RENAME:
	case PG_SYS_LINK:
	case PG_SYS_SYMLINK:
		pg_put_user_str(data, &pos, &ev->str[0], (void *)a[0]);
		pg_put_user_str(data, &pos, &ev->str[1], (void *)a[1]);
		break;
	case PG_SYS_RENAMEAT:
	case PG_SYS_RENAMEAT2:
	case PG_SYS_LINKAT:
		pg_put_user_str(data, &pos, &ev->str[0], (void *)a[1]);
		pg_put_user_str(data, &pos, &ev->str[1], (void *)a[3]);
		break;
	case PG_SYS_SYMLINKAT:
		pg_put_user_str(data, &pos, &ev->str[0], (void *)a[0]);
		pg_put_user_str(data, &pos, &ev->str[1], (void *)a[2]);
		break;
	case PG_SYS_MOUNT:
		pg_put_user_str(data, &pos, &ev->str[0], (void *)a[0]);
		pg_put_user_str(data, &pos, &ev->str[1], (void *)a[1]);
		pg_put_user_str(data, &pos, &ev->str[2], (void *)a[2]);
		break;
	case PG_SYS_INIT_MODULE:
		pg_put_user_str(data, &pos, &ev->str[0], (void *)a[2]);
		break;
	case PG_SYS_FINIT_MODULE:
		pg_put_user_str(data, &pos, &ev->str[0], (void *)a[1]);
		break;
	case PG_SYS_CONNECT:
	case PG_SYS_BIND:
		pg_put_user_bytes(data, &pos, &ev->str[0], (void *)a[1], a[2]);
		break;
	case PG_SYS_SENDTO:
		pg_put_user_bytes(data, &pos, &ev->str[0], (void *)a[4], a[5]);
		break;
	case PG_SYS_SENDMSG: {
		/* struct user_msghdr starts with msg_name, msg_namelen. */
		struct {
			__u64 name;
			__u32 namelen;
		} mh = {};
		if (compat) {
			/* struct compat_msghdr: a 32-bit msg_name, then msg_namelen. */
			__u32 cmh[2] = {};
			if (bpf_probe_read_user(cmh, sizeof(cmh), (void *)a[1]) == 0) {
				mh.name = cmh[0];
				mh.namelen = cmh[1];
			}
		} else if (bpf_probe_read_user(&mh, sizeof(mh), (void *)a[1])) {
			mh.name = 0;
		}
		if (mh.name)
			pg_put_user_bytes(data, &pos, &ev->str[0], (void *)mh.name, mh.namelen);
		break;
	}
	default:
		break;
	}

	/* Kernel-side resolution: files behind fds, sockets, extra structs. */
	switch (sys) {
	case PG_SYS_OPEN:
	case PG_SYS_CREAT:
	case PG_SYS_OPENAT:
	case PG_SYS_OPENAT2:
		if (sys == PG_SYS_OPENAT2) {
			struct open_how how = {};
			if (bpf_probe_read_user(&how, sizeof(how), (void *)a[2]) == 0) {
				ev->aux[0] = how.flags;
				ev->aux[1] = how.mode;
			}
		}
		if (ret >= 0)
			pg_put_file(sc, data, &pos, ev, &ev->str[2], pg_fd_file(task, ret));
		else
			pg_put_base(sc, data, &pos, ev, task,
				    (sys == PG_SYS_OPENAT || sys == PG_SYS_OPENAT2) ? (long)a[0]
										  : PG_AT_FDCWD);
		break;
	case PG_SYS_FCHMOD:
	case PG_SYS_FCHOWN:
	case PG_SYS_SETNS:
	case PG_SYS_FINIT_MODULE:
		pg_put_file(sc, data, &pos, ev, &ev->str[2], pg_fd_file(task, (long)a[0]));
		break;
	case PG_SYS_CHMOD:
	case PG_SYS_CHOWN:
	case PG_SYS_LCHOWN:
		pg_put_proc_self_fd(sc, data, &pos, ev, task);
		pg_put_base(sc, data, &pos, ev, task, PG_AT_FDCWD);
		break;
	case PG_SYS_FCHMODAT:
	case PG_SYS_FCHMODAT2:
	case PG_SYS_FCHOWNAT:
		pg_put_proc_self_fd(sc, data, &pos, ev, task);
		pg_put_base(sc, data, &pos, ev, task, (long)a[0]);
		break;
	case PG_SYS_UNLINK:
	case PG_SYS_RMDIR:
	case PG_SYS_MKDIR:
	case PG_SYS_RENAME:
	case PG_SYS_LINK:
		pg_put_base(sc, data, &pos, ev, task, PG_AT_FDCWD);
		break;
	case PG_SYS_UNLINKAT:
	case PG_SYS_MKDIRAT:
	case PG_SYS_RENAMEAT:
	case PG_SYS_RENAMEAT2:
	case PG_SYS_LINKAT:
		pg_put_base(sc, data, &pos, ev, task, (long)a[0]);
		break;
	case PG_SYS_SYMLINK:
		/* symlink(target, linkpath): the object is linkpath. */
		pg_put_base_of(sc, data, &pos, ev, task, PG_AT_FDCWD, &ev->str[1]);
		break;
	case PG_SYS_SYMLINKAT:
		pg_put_base_of(sc, data, &pos, ev, task, (long)a[1], &ev->str[1]);
		break;
	case PG_SYS_CONNECT:
	case PG_SYS_BIND:
	case PG_SYS_LISTEN:
	case PG_SYS_SENDTO:
	case PG_SYS_SENDMSG:
		pg_fill_sock(ev, task, (long)a[0]);
		break;
	case PG_SYS_ACCEPT:
	case PG_SYS_ACCEPT4:
		if (ret >= 0)
			pg_fill_sock(ev, task, ret);
		break;
	case PG_SYS_CAPSET: {
		__u32 caps[6] = {};
		if (bpf_probe_read_user(caps, sizeof(caps), (void *)a[1]) == 0) {
			ev->aux[0] = ((__u64)caps[3] << 32) | caps[0];
			ev->aux[1] = ((__u64)caps[4] << 32) | caps[1];
			ev->aux[2] = ((__u64)caps[5] << 32) | caps[2];
		}
		break;
	}
	case PG_SYS_BPF:
		if (a[0] == PG_BPF_PROG_LOAD) {
			__u32 prog_type = 0;
			if (bpf_probe_read_user(&prog_type, sizeof(prog_type), (void *)a[1]) == 0)
				ev->aux[0] = prog_type;
		}
		break;
	default:
		break;
	}

	if (pg_category(kind) == PG_CAT_FILE && !pg_path_allowed(sc, data, ev)) {
		pg_count_filtered(PG_CAT_FILE);
		return 0;
	}
	if (kind == PG_KIND_OPEN && !pg_open_needed(sc, data, ev, sys)) {
		pg_count_filtered(PG_CAT_FILE);
		return 0;
	}
	/* The header last: filtered records never pay for it. */
	pg_fill_header_cur(&ev->hdr, kind, sys);
	pg_submit(&ev->hdr, sizeof(*ev) + pos, pg_category(kind));
	return 0;
}

#define PG_SYSCALL(name, kind, sys)                                                  \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                   \
	int sys_exit_##name(struct trace_event_raw_sys_exit *ctx)                    \
	{                                                                            \
		return pg_exit(ctx->ret, kind, sys, false, 0);                       \
	}

PG_SYSCALL(open, PG_KIND_OPEN, PG_SYS_OPEN)
PG_SYSCALL(openat, PG_KIND_OPEN, PG_SYS_OPENAT)
PG_SYSCALL(openat2, PG_KIND_OPEN, PG_SYS_OPENAT2)
PG_SYSCALL(creat, PG_KIND_OPEN, PG_SYS_CREAT)
PG_SYSCALL(unlink, PG_KIND_UNLINK, PG_SYS_UNLINK)
PG_SYSCALL(unlinkat, PG_KIND_UNLINK, PG_SYS_UNLINKAT)
PG_SYSCALL(rmdir, PG_KIND_UNLINK, PG_SYS_RMDIR)
PG_SYSCALL(rename, PG_KIND_RENAME, PG_SYS_RENAME)
PG_SYSCALL(renameat, PG_KIND_RENAME, PG_SYS_RENAMEAT)
PG_SYSCALL(renameat2, PG_KIND_RENAME, PG_SYS_RENAMEAT2)
PG_SYSCALL(chmod, PG_KIND_CHMOD, PG_SYS_CHMOD)
PG_SYSCALL(fchmod, PG_KIND_CHMOD, PG_SYS_FCHMOD)
PG_SYSCALL(fchmodat, PG_KIND_CHMOD, PG_SYS_FCHMODAT)
PG_SYSCALL(fchmodat2, PG_KIND_CHMOD, PG_SYS_FCHMODAT2)
PG_SYSCALL(chown, PG_KIND_CHOWN, PG_SYS_CHOWN)
PG_SYSCALL(lchown, PG_KIND_CHOWN, PG_SYS_LCHOWN)
PG_SYSCALL(fchown, PG_KIND_CHOWN, PG_SYS_FCHOWN)
PG_SYSCALL(fchownat, PG_KIND_CHOWN, PG_SYS_FCHOWNAT)
PG_SYSCALL(link, PG_KIND_LINK, PG_SYS_LINK)
PG_SYSCALL(linkat, PG_KIND_LINK, PG_SYS_LINKAT)
PG_SYSCALL(symlink, PG_KIND_SYMLINK, PG_SYS_SYMLINK)
PG_SYSCALL(symlinkat, PG_KIND_SYMLINK, PG_SYS_SYMLINKAT)
PG_SYSCALL(mkdir, PG_KIND_MKDIR, PG_SYS_MKDIR)
PG_SYSCALL(mkdirat, PG_KIND_MKDIR, PG_SYS_MKDIRAT)
PG_SYSCALL(connect, PG_KIND_CONNECT, PG_SYS_CONNECT)
PG_SYSCALL(accept, PG_KIND_ACCEPT, PG_SYS_ACCEPT)
PG_SYSCALL(accept4, PG_KIND_ACCEPT, PG_SYS_ACCEPT4)
PG_SYSCALL(bind, PG_KIND_BIND, PG_SYS_BIND)
PG_SYSCALL(listen, PG_KIND_LISTEN, PG_SYS_LISTEN)
PG_SYSCALL(setuid, PG_KIND_SETUID, PG_SYS_SETUID)
PG_SYSCALL(setreuid, PG_KIND_SETUID, PG_SYS_SETREUID)
PG_SYSCALL(setresuid, PG_KIND_SETUID, PG_SYS_SETRESUID)
PG_SYSCALL(setgid, PG_KIND_SETGID, PG_SYS_SETGID)
PG_SYSCALL(setregid, PG_KIND_SETGID, PG_SYS_SETREGID)
PG_SYSCALL(setresgid, PG_KIND_SETGID, PG_SYS_SETRESGID)
PG_SYSCALL(capset, PG_KIND_CAPSET, PG_SYS_CAPSET)
PG_SYSCALL(socket, PG_KIND_SOCKET, PG_SYS_SOCKET)
PG_SYSCALL(sendto, PG_KIND_SENDTO, PG_SYS_SENDTO)
PG_SYSCALL(sendmsg, PG_KIND_SENDTO, PG_SYS_SENDMSG)
PG_SYSCALL(userfaultfd, PG_KIND_USERFAULTFD, PG_SYS_USERFAULTFD)
PG_SYSCALL(ptrace, PG_KIND_PTRACE, PG_SYS_PTRACE)
PG_SYSCALL(mount, PG_KIND_MOUNT, PG_SYS_MOUNT)
PG_SYSCALL(umount, PG_KIND_UMOUNT, PG_SYS_UMOUNT2)
PG_SYSCALL(unshare, PG_KIND_UNSHARE, PG_SYS_UNSHARE)
PG_SYSCALL(setns, PG_KIND_SETNS, PG_SYS_SETNS)
PG_SYSCALL(memfd_create, PG_KIND_MEMFD_CREATE, PG_SYS_MEMFD_CREATE)
PG_SYSCALL(init_module, PG_KIND_MODULE_LOAD, PG_SYS_INIT_MODULE)
PG_SYSCALL(finit_module, PG_KIND_MODULE_LOAD, PG_SYS_FINIT_MODULE)
PG_SYSCALL(bpf, PG_KIND_BPF, PG_SYS_BPF)

/*
 * i386-ABI syscalls (int 0x80, sysenter, 32-bit programs) never reach the
 * per-syscall tracepoints above (the kernel skips compat syscalls there), so
 * a 64-bit program could hide an open or a connect behind `int 0x80`. One
 * program on the raw sys_exit tracepoint catches them: for every native
 * syscall it costs one load and one test. It tail-calls a handler per
 * syscall (COMPAT_PROGS, filled by user space for the wanted kinds): one
 * program switching over every syscall would be rejected by the verifier
 * (too many paths).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, PG_SYS_MAX);
	__type(key, __u32);
	__type(value, __u32);
} COMPAT_PROGS SEC(".maps");

static __always_inline struct pt_regs *pg_user_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

SEC("raw_tp/sys_exit")
int raw_sys_exit_compat(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (!(task->thread_info.status & PG_TS_COMPAT))
		return 0;
	struct pt_regs *regs = pg_user_regs();
	__u32 ks = pg_compat_sys(regs->orig_ax, (__u32)regs->bx);
	if (ks)
		bpf_tail_call(ctx, &COMPAT_PROGS, ks & 0xffff);
	return 0;
}

/* sys_exit(struct pt_regs *regs, long ret): a plain array read, the
 * flexible args[] of bpf_raw_tracepoint_args defeats CO-RE. */
#define PG_COMPAT(name, kind, sys)                                                   \
	SEC("raw_tp/sys_exit")                                                       \
	int compat_##name(void *ctx)                                                 \
	{                                                                            \
		return pg_exit((long)((__u64 *)ctx)[1], kind, sys, true,               \
			       pg_user_regs()->orig_ax);                             \
	}

PG_COMPAT(open, PG_KIND_OPEN, PG_SYS_OPEN)
PG_COMPAT(openat, PG_KIND_OPEN, PG_SYS_OPENAT)
PG_COMPAT(openat2, PG_KIND_OPEN, PG_SYS_OPENAT2)
PG_COMPAT(creat, PG_KIND_OPEN, PG_SYS_CREAT)
PG_COMPAT(unlink, PG_KIND_UNLINK, PG_SYS_UNLINK)
PG_COMPAT(unlinkat, PG_KIND_UNLINK, PG_SYS_UNLINKAT)
PG_COMPAT(rmdir, PG_KIND_UNLINK, PG_SYS_RMDIR)
PG_COMPAT(rename, PG_KIND_RENAME, PG_SYS_RENAME)
PG_COMPAT(renameat, PG_KIND_RENAME, PG_SYS_RENAMEAT)
PG_COMPAT(renameat2, PG_KIND_RENAME, PG_SYS_RENAMEAT2)
PG_COMPAT(chmod, PG_KIND_CHMOD, PG_SYS_CHMOD)
PG_COMPAT(fchmod, PG_KIND_CHMOD, PG_SYS_FCHMOD)
PG_COMPAT(fchmodat, PG_KIND_CHMOD, PG_SYS_FCHMODAT)
PG_COMPAT(fchmodat2, PG_KIND_CHMOD, PG_SYS_FCHMODAT2)
PG_COMPAT(chown, PG_KIND_CHOWN, PG_SYS_CHOWN)
PG_COMPAT(lchown, PG_KIND_CHOWN, PG_SYS_LCHOWN)
PG_COMPAT(fchown, PG_KIND_CHOWN, PG_SYS_FCHOWN)
PG_COMPAT(fchownat, PG_KIND_CHOWN, PG_SYS_FCHOWNAT)
PG_COMPAT(link, PG_KIND_LINK, PG_SYS_LINK)
PG_COMPAT(linkat, PG_KIND_LINK, PG_SYS_LINKAT)
PG_COMPAT(symlink, PG_KIND_SYMLINK, PG_SYS_SYMLINK)
PG_COMPAT(symlinkat, PG_KIND_SYMLINK, PG_SYS_SYMLINKAT)
PG_COMPAT(mkdir, PG_KIND_MKDIR, PG_SYS_MKDIR)
PG_COMPAT(mkdirat, PG_KIND_MKDIR, PG_SYS_MKDIRAT)
PG_COMPAT(connect, PG_KIND_CONNECT, PG_SYS_CONNECT)
PG_COMPAT(accept, PG_KIND_ACCEPT, PG_SYS_ACCEPT)
PG_COMPAT(accept4, PG_KIND_ACCEPT, PG_SYS_ACCEPT4)
PG_COMPAT(bind, PG_KIND_BIND, PG_SYS_BIND)
PG_COMPAT(listen, PG_KIND_LISTEN, PG_SYS_LISTEN)
PG_COMPAT(setuid, PG_KIND_SETUID, PG_SYS_SETUID)
PG_COMPAT(setreuid, PG_KIND_SETUID, PG_SYS_SETREUID)
PG_COMPAT(setresuid, PG_KIND_SETUID, PG_SYS_SETRESUID)
PG_COMPAT(setgid, PG_KIND_SETGID, PG_SYS_SETGID)
PG_COMPAT(setregid, PG_KIND_SETGID, PG_SYS_SETREGID)
PG_COMPAT(setresgid, PG_KIND_SETGID, PG_SYS_SETRESGID)
PG_COMPAT(capset, PG_KIND_CAPSET, PG_SYS_CAPSET)
PG_COMPAT(socket, PG_KIND_SOCKET, PG_SYS_SOCKET)
PG_COMPAT(sendto, PG_KIND_SENDTO, PG_SYS_SENDTO)
PG_COMPAT(sendmsg, PG_KIND_SENDTO, PG_SYS_SENDMSG)
PG_COMPAT(userfaultfd, PG_KIND_USERFAULTFD, PG_SYS_USERFAULTFD)
PG_COMPAT(ptrace, PG_KIND_PTRACE, PG_SYS_PTRACE)
PG_COMPAT(mount, PG_KIND_MOUNT, PG_SYS_MOUNT)
PG_COMPAT(umount2, PG_KIND_UMOUNT, PG_SYS_UMOUNT2)
PG_COMPAT(unshare, PG_KIND_UNSHARE, PG_SYS_UNSHARE)
PG_COMPAT(setns, PG_KIND_SETNS, PG_SYS_SETNS)
PG_COMPAT(memfd_create, PG_KIND_MEMFD_CREATE, PG_SYS_MEMFD_CREATE)
PG_COMPAT(init_module, PG_KIND_MODULE_LOAD, PG_SYS_INIT_MODULE)
PG_COMPAT(finit_module, PG_KIND_MODULE_LOAD, PG_SYS_FINIT_MODULE)
PG_COMPAT(bpf, PG_KIND_BPF, PG_SYS_BPF)

/* ------------------------------------------------- syscall id stream */
#include "syscall_stream.bpf.h"
