/* SPDX-License-Identifier: GPL-2.0 */
/*
 * i386-ABI (compat) syscalls on x86-64: their numbers, and how their
 * arguments are normalised to the x86-64 syscall's meaning so that a
 * compat record decodes exactly like a native one. Numbers from the
 * kernel's arch/x86/entry/syscalls/syscall_32.tbl (a stable ABI).
 * Included by peregrine.bpf.c.
 */
#ifndef PEREGRINE_COMPAT_BPF_H
#define PEREGRINE_COMPAT_BPF_H

/* x86 TS_COMPAT (arch/x86/include/asm/thread_info.h): set in
 * thread_info.status while an i386-ABI syscall runs and cleared on the way
 * back to user space, after the sys_exit tracepoint. */
#define PG_TS_COMPAT 0x0002u

/* socketcall(2) (i386 102) multiplexes the socket calls; SYS_* of net.h. */
#define PG_NR32_SOCKETCALL 102
#define PG_SC_SOCKET 1
#define PG_SC_BIND 2
#define PG_SC_CONNECT 3
#define PG_SC_LISTEN 4
#define PG_SC_ACCEPT 5
#define PG_SC_SENDTO 11
#define PG_SC_SENDMSG 16
#define PG_SC_ACCEPT4 18

#define PG_KS(kind, sys) (((__u32)(kind) << 16) | (__u32)(sys))

/* (kind << 16) | sys of an i386 syscall number, 0 if not hooked. `call`:
 * socketcall's first argument. */
static __always_inline __u32 pg_compat_sys(long nr, __u32 call)
{
	switch (nr) {
	case 5: return PG_KS(PG_KIND_OPEN, PG_SYS_OPEN);
	case 8: return PG_KS(PG_KIND_OPEN, PG_SYS_CREAT);
	case 295: return PG_KS(PG_KIND_OPEN, PG_SYS_OPENAT);
	case 437: return PG_KS(PG_KIND_OPEN, PG_SYS_OPENAT2);
	case 10: return PG_KS(PG_KIND_UNLINK, PG_SYS_UNLINK);
	case 301: return PG_KS(PG_KIND_UNLINK, PG_SYS_UNLINKAT);
	case 40: return PG_KS(PG_KIND_UNLINK, PG_SYS_RMDIR);
	case 38: return PG_KS(PG_KIND_RENAME, PG_SYS_RENAME);
	case 302: return PG_KS(PG_KIND_RENAME, PG_SYS_RENAMEAT);
	case 353: return PG_KS(PG_KIND_RENAME, PG_SYS_RENAMEAT2);
	case 15: return PG_KS(PG_KIND_CHMOD, PG_SYS_CHMOD);
	case 94: return PG_KS(PG_KIND_CHMOD, PG_SYS_FCHMOD);
	case 306: return PG_KS(PG_KIND_CHMOD, PG_SYS_FCHMODAT);
	case 452: return PG_KS(PG_KIND_CHMOD, PG_SYS_FCHMODAT2);
	case 182: /* chown16 */
	case 212: return PG_KS(PG_KIND_CHOWN, PG_SYS_CHOWN);
	case 16: /* lchown16 */
	case 198: return PG_KS(PG_KIND_CHOWN, PG_SYS_LCHOWN);
	case 95: /* fchown16 */
	case 207: return PG_KS(PG_KIND_CHOWN, PG_SYS_FCHOWN);
	case 298: return PG_KS(PG_KIND_CHOWN, PG_SYS_FCHOWNAT);
	case 9: return PG_KS(PG_KIND_LINK, PG_SYS_LINK);
	case 303: return PG_KS(PG_KIND_LINK, PG_SYS_LINKAT);
	case 83: return PG_KS(PG_KIND_SYMLINK, PG_SYS_SYMLINK);
	case 304: return PG_KS(PG_KIND_SYMLINK, PG_SYS_SYMLINKAT);
	case 39: return PG_KS(PG_KIND_MKDIR, PG_SYS_MKDIR);
	case 296: return PG_KS(PG_KIND_MKDIR, PG_SYS_MKDIRAT);
	case 359: return PG_KS(PG_KIND_SOCKET, PG_SYS_SOCKET);
	case 362: return PG_KS(PG_KIND_CONNECT, PG_SYS_CONNECT);
	case 364: return PG_KS(PG_KIND_ACCEPT, PG_SYS_ACCEPT4);
	case 361: return PG_KS(PG_KIND_BIND, PG_SYS_BIND);
	case 363: return PG_KS(PG_KIND_LISTEN, PG_SYS_LISTEN);
	case 369: return PG_KS(PG_KIND_SENDTO, PG_SYS_SENDTO);
	case 370: return PG_KS(PG_KIND_SENDTO, PG_SYS_SENDMSG);
	case 23: /* setuid16 */
	case 213: return PG_KS(PG_KIND_SETUID, PG_SYS_SETUID);
	case 70:
	case 203: return PG_KS(PG_KIND_SETUID, PG_SYS_SETREUID);
	case 164:
	case 208: return PG_KS(PG_KIND_SETUID, PG_SYS_SETRESUID);
	case 46:
	case 214: return PG_KS(PG_KIND_SETGID, PG_SYS_SETGID);
	case 71:
	case 204: return PG_KS(PG_KIND_SETGID, PG_SYS_SETREGID);
	case 170:
	case 210: return PG_KS(PG_KIND_SETGID, PG_SYS_SETRESGID);
	case 185: return PG_KS(PG_KIND_CAPSET, PG_SYS_CAPSET);
	case 26: return PG_KS(PG_KIND_PTRACE, PG_SYS_PTRACE);
	case 21: return PG_KS(PG_KIND_MOUNT, PG_SYS_MOUNT);
	case 22: /* umount(name): umount2 without flags */
	case 52: return PG_KS(PG_KIND_UMOUNT, PG_SYS_UMOUNT2);
	case 310: return PG_KS(PG_KIND_UNSHARE, PG_SYS_UNSHARE);
	case 346: return PG_KS(PG_KIND_SETNS, PG_SYS_SETNS);
	case 356: return PG_KS(PG_KIND_MEMFD_CREATE, PG_SYS_MEMFD_CREATE);
	case 128: return PG_KS(PG_KIND_MODULE_LOAD, PG_SYS_INIT_MODULE);
	case 350: return PG_KS(PG_KIND_MODULE_LOAD, PG_SYS_FINIT_MODULE);
	case 357: return PG_KS(PG_KIND_BPF, PG_SYS_BPF);
	case 374: return PG_KS(PG_KIND_USERFAULTFD, PG_SYS_USERFAULTFD);
	case PG_NR32_SOCKETCALL:
		switch (call) {
		case PG_SC_SOCKET: return PG_KS(PG_KIND_SOCKET, PG_SYS_SOCKET);
		case PG_SC_BIND: return PG_KS(PG_KIND_BIND, PG_SYS_BIND);
		case PG_SC_CONNECT: return PG_KS(PG_KIND_CONNECT, PG_SYS_CONNECT);
		case PG_SC_LISTEN: return PG_KS(PG_KIND_LISTEN, PG_SYS_LISTEN);
		case PG_SC_ACCEPT: return PG_KS(PG_KIND_ACCEPT, PG_SYS_ACCEPT);
		case PG_SC_SENDTO: return PG_KS(PG_KIND_SENDTO, PG_SYS_SENDTO);
		case PG_SC_SENDMSG: return PG_KS(PG_KIND_SENDTO, PG_SYS_SENDMSG);
		case PG_SC_ACCEPT4: return PG_KS(PG_KIND_ACCEPT, PG_SYS_ACCEPT4);
		default: return 0;
		}
	default:
		return 0;
	}
}

/* An int argument (a dirfd: AT_FDCWD is -100) as the x86-64 ABI holds it. */
static __always_inline __u64 pg_sext32(__u64 v)
{
	return (__u64)(__s64)(__s32)(__u32)v;
}

/* A 16-bit uid/gid of the old i386 calls: its "unchanged" -1 is 0xffff. */
static __always_inline __u64 pg_uid16(__u64 v)
{
	v &= 0xffff;
	return v == 0xffff ? 0xffffffffull : v;
}

/*
 * Rewrite the 32-bit arguments in `a` to what the x86-64 syscall `sys`
 * would have received. False: the arguments cannot be read (socketcall's
 * argument block faulted), drop the record.
 */
static __always_inline bool pg_compat_args(__u64 *a, const __u32 sys, const long nr)
{
	if (nr == PG_NR32_SOCKETCALL) {
		/* socketcall(call, u32 *args): as many u32s as the call takes. */
		__u32 v[6] = {};
		__u32 n = 3;
		if (a[0] == PG_SC_LISTEN)
			n = 2;
		else if (a[0] == PG_SC_ACCEPT4)
			n = 4;
		else if (a[0] == PG_SC_SENDTO)
			n = 6;
		if (bpf_probe_read_user(v, n * sizeof(__u32), (void *)a[1]))
			return false;
		for (int i = 0; i < 6; i++)
			a[i] = v[i];
	}
	switch (nr) {
	case 182: /* chown16, lchown16, fchown16 */
	case 16:
	case 95:
		a[1] = pg_uid16(a[1]);
		a[2] = pg_uid16(a[2]);
		break;
	case 23: /* setuid16 .. setresgid16 */
	case 46:
	case 70:
	case 71:
	case 164:
	case 170:
		a[0] = pg_uid16(a[0]);
		a[1] = pg_uid16(a[1]);
		a[2] = pg_uid16(a[2]);
		break;
	default:
		break;
	}
	switch (sys) {
	case PG_SYS_OPENAT:
	case PG_SYS_OPENAT2:
	case PG_SYS_UNLINKAT:
	case PG_SYS_FCHMODAT:
	case PG_SYS_FCHMODAT2:
	case PG_SYS_FCHOWNAT:
	case PG_SYS_MKDIRAT:
		a[0] = pg_sext32(a[0]);
		break;
	case PG_SYS_RENAMEAT:
	case PG_SYS_RENAMEAT2:
	case PG_SYS_LINKAT:
		a[0] = pg_sext32(a[0]);
		a[2] = pg_sext32(a[2]);
		break;
	case PG_SYS_SYMLINKAT:
		a[1] = pg_sext32(a[1]);
		break;
	case PG_SYS_SETNS:
	case PG_SYS_FCHMOD:
	case PG_SYS_FCHOWN:
	case PG_SYS_FINIT_MODULE:
		a[0] = pg_sext32(a[0]);
		break;
	default:
		break;
	}
	return true;
}

#endif
