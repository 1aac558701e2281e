/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Peregrine kernel <-> user space event layouts.
 *
 * This header is the single definition of every record the eBPF programs
 * write into the ring buffer and of the configuration maps user space fills.
 * It is included by the BPF programs (with vmlinux.h) and mirrored in Rust by
 * `peregrine-event` (`#[repr(C)]` types); a test compiles this header with the
 * host C compiler and compares every size and offset with the Rust mirror.
 *
 * Rules for changing it: only append kinds/syscalls, keep every struct
 * 8-byte aligned with explicit padding, bump PG_ABI_VERSION.
 */
#ifndef PEREGRINE_EVENT_H
#define PEREGRINE_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define PG_ABI_VERSION 2

#define PG_COMM_LEN 16
#define PG_CGROUP_NAME_LEN 128

/* Bounds for variable-length data carried after a fixed record. */
#define PG_PATH_MAX 4096     /* resolved paths (power of two) */
#define PG_STR_MAX 1024      /* user strings: paths given to syscalls, names */
#define PG_ARGS_MAX 4096     /* exec argv bytes (power of two) */
#define PG_ENV_MAX 4096      /* exec environment bytes (power of two) */
#define PG_SOCKADDR_MAX 128  /* raw sockaddr bytes copied from user space */
#define PG_DATA_MAX 16384    /* capacity of the data region of one record */

/* Event kinds: one per behaviour, independent of the syscall variant. */
enum pg_kind {
	PG_KIND_NONE = 0,
	PG_KIND_EXEC = 1,
	PG_KIND_FORK = 2,
	PG_KIND_EXIT = 3,
	PG_KIND_OPEN = 4,
	PG_KIND_UNLINK = 5,
	PG_KIND_RENAME = 6,
	PG_KIND_CHMOD = 7,
	PG_KIND_CHOWN = 8,
	PG_KIND_LINK = 9,
	PG_KIND_SYMLINK = 10,
	PG_KIND_MKDIR = 11,
	PG_KIND_CONNECT = 12,
	PG_KIND_ACCEPT = 13,
	PG_KIND_BIND = 14,
	PG_KIND_LISTEN = 15,
	PG_KIND_SETUID = 16,
	PG_KIND_SETGID = 17,
	PG_KIND_CAPSET = 18,
	PG_KIND_PTRACE = 19,
	PG_KIND_MOUNT = 20,
	PG_KIND_UMOUNT = 21,
	PG_KIND_UNSHARE = 22,
	PG_KIND_SETNS = 23,
	PG_KIND_MEMFD_CREATE = 24,
	PG_KIND_MODULE_LOAD = 25,
	PG_KIND_BPF = 26,
	/* socket(2): family, type, protocol in args */
	PG_KIND_SOCKET = 27,
	/* sendto/sendmsg with an explicit destination */
	PG_KIND_SENDTO = 28,
	PG_KIND_USERFAULTFD = 29,
	/* a batch of raw syscall ids of one thread (struct pg_sysids_event) */
	PG_KIND_SYSCALLS = 30,
	PG_KIND_MAX = 31,
};

/* Drop/emit counter categories. */
enum pg_category {
	PG_CAT_PROCESS = 0,
	PG_CAT_FILE = 1,
	PG_CAT_NETWORK = 2,
	PG_CAT_PRIVILEGE = 3,
	PG_CAT_NAMESPACE = 4,
	PG_CAT_KERNEL = 5,
	PG_CAT_MAX = 6,
};

/* The exact syscall behind an event (architecture independent ids). */
enum pg_syscall {
	PG_SYS_NONE = 0,
	PG_SYS_OPEN = 1,
	PG_SYS_OPENAT = 2,
	PG_SYS_OPENAT2 = 3,
	PG_SYS_CREAT = 4,
	PG_SYS_UNLINK = 5,
	PG_SYS_UNLINKAT = 6,
	PG_SYS_RMDIR = 7,
	PG_SYS_RENAME = 8,
	PG_SYS_RENAMEAT = 9,
	PG_SYS_RENAMEAT2 = 10,
	PG_SYS_CHMOD = 11,
	PG_SYS_FCHMOD = 12,
	PG_SYS_FCHMODAT = 13,
	PG_SYS_FCHMODAT2 = 14,
	PG_SYS_CHOWN = 15,
	PG_SYS_LCHOWN = 16,
	PG_SYS_FCHOWN = 17,
	PG_SYS_FCHOWNAT = 18,
	PG_SYS_LINK = 19,
	PG_SYS_LINKAT = 20,
	PG_SYS_SYMLINK = 21,
	PG_SYS_SYMLINKAT = 22,
	PG_SYS_MKDIR = 23,
	PG_SYS_MKDIRAT = 24,
	PG_SYS_CONNECT = 25,
	PG_SYS_ACCEPT = 26,
	PG_SYS_ACCEPT4 = 27,
	PG_SYS_BIND = 28,
	PG_SYS_LISTEN = 29,
	PG_SYS_SETUID = 30,
	PG_SYS_SETREUID = 31,
	PG_SYS_SETRESUID = 32,
	PG_SYS_SETGID = 33,
	PG_SYS_SETREGID = 34,
	PG_SYS_SETRESGID = 35,
	PG_SYS_CAPSET = 36,
	PG_SYS_PTRACE = 37,
	PG_SYS_MOUNT = 38,
	PG_SYS_UMOUNT2 = 39,
	PG_SYS_UNSHARE = 40,
	PG_SYS_SETNS = 41,
	PG_SYS_MEMFD_CREATE = 42,
	PG_SYS_INIT_MODULE = 43,
	PG_SYS_FINIT_MODULE = 44,
	PG_SYS_BPF = 45,
	PG_SYS_EXECVE = 46,
	PG_SYS_SOCKET = 47,
	PG_SYS_SENDTO = 48,
	PG_SYS_SENDMSG = 49,
	PG_SYS_USERFAULTFD = 50,
	PG_SYS_MAX = 51,
};

/* A string in the data region that follows a record. */
struct pg_str {
	__u16 off; /* offset from the start of the data region */
	__u16 len; /* bytes, without a terminating NUL */
};

/* Common header of every record. Filled from the current task. */
struct pg_header {
	__u64 ts_ns;     /* CLOCK_BOOTTIME nanoseconds */
	__u64 cgroup_id; /* cgroup v2 id (inode of the cgroup directory) */
	__u32 size;      /* total record size including the data region */
	__u16 kind;      /* enum pg_kind */
	__u16 syscall;   /* enum pg_syscall */
	__u32 pid;       /* thread group id */
	__u32 tid;       /* thread id */
	__u32 ppid;      /* parent thread group id */
	__u32 vpid;      /* pid in the task's own pid namespace */
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 loginuid;
	__u32 pid_ns;
	__u32 mnt_ns;
	__u32 net_ns;
	char comm[PG_COMM_LEN];
	char cgroup[PG_CGROUP_NAME_LEN]; /* leaf name of the cgroup v2 */
};

/* PG_KIND_EXEC: sched_process_exec. Data: filename, args, cwd, exe, env. */
struct pg_exec_event {
	struct pg_header hdr;
	__u64 cap_effective;
	__u64 cap_permitted;
	__u64 cap_inheritable;
	__u64 exe_ino;
	__u32 tty;   /* (major << 20) | minor of the controlling tty, 0 if none */
	__u32 sid;   /* session id */
	__u32 pgid;  /* process group id */
	struct pg_str env; /* NUL separated environment (PG_CFG_EXEC_ENV only; was
			   * reserved, zero, in earlier records) */
	__u32 flags; /* PG_EXEC_F_* */
	__u32 exe_dev;
	struct pg_str filename; /* as given to execve */
	struct pg_str args;     /* NUL separated argv */
	struct pg_str cwd;      /* resolved in the kernel */
	struct pg_str exe;      /* mm->exe_file resolved in the kernel */
};

#define PG_EXEC_F_ARGS_TRUNCATED 1u
#define PG_EXEC_F_EXE_UPPER_LAYER 2u /* exe lives in an overlayfs upper layer */
#define PG_EXEC_F_ENV_TRUNCATED 4u

/* PG_KIND_FORK: a new process (not a thread). hdr describes the child. */
struct pg_fork_event {
	struct pg_header hdr;
	__u32 parent_pid;
	__u32 parent_tid;
};

/* PG_KIND_EXIT: the last thread of a process exited. */
struct pg_exit_event {
	struct pg_header hdr;
	__s32 code;   /* exit status (as for WEXITSTATUS) */
	__s32 signal; /* terminating signal, 0 if none */
};

/* Socket tuple read from the kernel socket. Ports in host byte order. */
struct pg_sock {
	__u16 family;
	__u16 type;
	__u16 protocol;
	__u16 lport;
	__u16 rport;
	__u16 _pad[3];
	__u8 laddr[16]; /* IPv4 in the first 4 bytes */
	__u8 raddr[16];
};

/*
 * Every syscall kind. `args` are the raw syscall arguments; the meaning of
 * `aux`, `sock` and `str[]` depends on the syscall:
 *  str[0] first path / name / sockaddr bytes as given by user space
 *  str[1] second path (rename/link/symlink target), mount target
 *  str[2] path resolved in the kernel (new fd of open, fd argument, the file
 *         behind a "/proc/self/fd/N" str[0] of chmod/chown), fstype
 *  str[3] directory a relative str[0] is relative to (cwd or dirfd); for an
 *         absolute str[0], the task's root when it is not the mount
 *         namespace's root (chroot), empty otherwise. For symlink and
 *         symlinkat the same for str[1] (the link created).
 *  aux: openat2 flags/mode, capset effective/permitted/inheritable,
 *       bpf prog type, inode/dev of the object where known.
 */
struct pg_syscall_event {
	struct pg_header hdr;
	__s64 ret;
	__u64 args[6];
	__u64 aux[4];
	struct pg_sock sock;
	struct pg_str str[4];
};

/* Configuration written by user space at index 0 of CONFIG. */
struct pg_config {
	__u64 kind_mask;     /* bit (1 << kind) set: kind wanted */
	__u32 self_tgid;     /* never report the sensor itself */
	__u32 flags;         /* PG_CFG_* */
	__u32 wakeup_bytes;  /* force a wakeup once this much data waits */
	__u32 _pad;
};

#define PG_CFG_SCOPE_PIDS 1u    /* only tgids present in PID_SCOPE (and descendants) */
#define PG_CFG_SCOPE_CGROUPS 2u /* only cgroup ids present in CGROUP_SCOPE; with
				 * PG_CFG_SCOPE_PIDS the two scopes add up */
#define PG_CFG_COMM_DENY 4u     /* drop events of comms present in COMM_FILTER */
#define PG_CFG_COMM_ALLOW 8u    /* only events of comms present in COMM_FILTER */
#define PG_CFG_PATH_PREFIX 16u  /* file events only under prefixes in PATH_PREFIXES */
#define PG_CFG_EXEC_ENV 64u     /* copy the environment at exec (rules read proc.env) */
#define PG_CFG_ALL_SOCKETS 32u  /* socket(2) of AF_UNIX/AF_INET/AF_INET6 too (otherwise
				 * dropped at entry: every connection makes one) */

#define PG_CFG_STREAM_COMM 128u   /* stream syscall ids of comms in STREAM_COMMS */
#define PG_CFG_STREAM_CGROUP 256u /* stream syscall ids of cgroup ids in STREAM_CGROUPS */
#define PG_CFG_OPEN_READ 512u   /* successful read-only opens only under OPEN_READ_PREFIXES */
#define PG_CFG_OPEN_WRITE 1024u /* successful opens for writing only under OPEN_WRITE_PREFIXES */

/*
 * Syscall id stream (opt-in, for the anomaly model): every syscall entry of
 * a selected thread appends its raw (x86_64) id to a per-thread buffer; the
 * buffer is written as one record when full, when its oldest id is older
 * than PG_SYSIDS_FLUSH_NS at the next syscall, at exec and at thread exit.
 * A full record is 8 + 2 * PG_SYSIDS_MAX bytes after the common header:
 * about 2.9 bytes per syscall. The record is cut after ids[count - 1].
 */
#define PG_SYSIDS_MAX 256
#define PG_SYSIDS_FLUSH_NS 200000000ULL /* 200 ms */
#define PG_SYSIDS_F_EXIT 1u /* the thread exited after the last id */
#define PG_SYSIDS_F_EXEC 2u /* the thread exec'd after the last id (new program) */

/* PG_KIND_SYSCALLS. hdr.ts_ns is the flush time. */
struct pg_sysids_event {
	struct pg_header hdr;
	__u16 count; /* ids in ids[] */
	__u16 flags; /* PG_SYSIDS_F_* */
	__u32 _pad;
	__u16 ids[PG_SYSIDS_MAX];
};

/* Per-CPU counters, one entry per category. */
struct pg_counters {
	__u64 emitted;
	__u64 dropped;  /* ring buffer full */
	__u64 filtered; /* rejected by a kernel filter map */
	__u64 _pad;
};

/* Key of the PATH_PREFIXES LPM trie. prefixlen is in bits. */
#define PG_PREFIX_MAX 256
struct pg_path_key {
	__u32 prefixlen;
	__u8 path[PG_PREFIX_MAX];
};

#endif /* PEREGRINE_EVENT_H */
