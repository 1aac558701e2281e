//! What the eBPF programs read in the kernel, read here through `/proc`,
//! `process_vm_readv` and `pidfd_getfd`, into the sensor's record layouts
//! (one function per record type, one step per field group, mirroring
//! `bpf/peregrine.bpf.c`).

use crate::mem;
use crate::record::{self, Data, SOCKADDR_MAX};
use crate::task::Identity;
use peregrine_event::abi::{
    PgExecEvent, PgExitEvent, PgForkEvent, PgSock, PgStr, PgSyscallEvent, ARGS_MAX, ENV_MAX,
    EXEC_F_ARGS_TRUNCATED, EXEC_F_ENV_TRUNCATED, PATH_MAX, STR_MAX,
};
use peregrine_event::{EventKind, Syscall};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

const AT_FDCWD: i64 = -100;

fn readlink(path: &str) -> Option<Vec<u8>> {
    std::fs::read_link(path)
        .ok()
        .map(|p| p.as_os_str().as_bytes().to_vec())
}

/// A kernel `dev_t` (`MKDEV`: major << 20 | minor) from a user `st_dev`.
fn kdev(dev: u64) -> u64 {
    let major = libc::major(dev) as u64;
    let minor = libc::minor(dev) as u64;
    (major << 20) | minor
}

/// The file behind fd `fd` of `tid`: its path, inode and device.
fn fd_file(tid: u32, fd: i64) -> Option<(Vec<u8>, u64, u64)> {
    if !(0..=i32::MAX as i64).contains(&fd) {
        return None;
    }
    let link = format!("/proc/{tid}/fd/{fd}");
    let path = readlink(&link)?;
    let (ino, dev) = std::fs::metadata(&link)
        .map(|m| (m.ino(), kdev(m.dev())))
        .unwrap_or((0, 0));
    Some((path, ino, dev))
}

/// Up to `max` bytes of a `/proc` file, and whether there was more.
fn read_bounded(path: &str, max: usize) -> (Vec<u8>, bool) {
    let Ok(f) = std::fs::File::open(path) else {
        return (Vec::new(), false);
    };
    let mut buf = Vec::with_capacity(max.min(8192) + 1);
    let _ = f.take(max as u64 + 1).read_to_end(&mut buf);
    let more = buf.len() > max;
    buf.truncate(max);
    (buf, more)
}

/// A syscall record under construction.
struct Sys<'a> {
    tid: u32,
    ev: PgSyscallEvent,
    data: Data,
    id: &'a Identity,
}

impl Sys<'_> {
    fn user_str(&mut self, slot: usize, addr: u64) {
        if let Some(s) = mem::read_cstr(self.tid, addr, STR_MAX) {
            self.ev.str_[slot] = self.data.put(&s, STR_MAX - 1);
        }
    }
    fn user_bytes(&mut self, addr: u64, len: u64) {
        let len = (len as usize).min(SOCKADDR_MAX);
        if let Some(b) = mem::read_exact(self.tid, addr, len, SOCKADDR_MAX) {
            self.ev.str_[0] = self.data.put_raw(&b, SOCKADDR_MAX);
        }
    }
    /// `pg_put_file`: path, inode and device of the file behind `fd`.
    fn file(&mut self, fd: i64) {
        if let Some((path, ino, dev)) = fd_file(self.tid, fd) {
            self.ev.str_[2] = self.data.put(&path, PATH_MAX - 1);
            self.ev.aux[2] = ino;
            self.ev.aux[3] = dev;
        }
    }
    /// `pg_put_base_of`: the directory a relative path is relative to, or
    /// the task's root for an absolute one when chrooted.
    fn base_of(&mut self, dirfd: i64, first: PgStr) {
        let tid = self.tid;
        let path = if self.data.get(first).first() == Some(&b'/') {
            match readlink(&format!("/proc/{tid}/root")) {
                Some(r) if r.len() > 1 => Some(r),
                _ => None,
            }
        } else if dirfd as i32 as i64 == AT_FDCWD {
            readlink(&format!("/proc/{tid}/cwd"))
        } else {
            fd_file(tid, dirfd as i32 as i64).map(|f| f.0)
        };
        if let Some(p) = path {
            self.ev.str_[3] = self.data.put(&p, PATH_MAX - 1);
        }
    }
    /// `pg_put_proc_self_fd`: chmod("/proc/self/fd/N") names fd N's file.
    fn proc_self_fd(&mut self) {
        let s = self.data.get(self.ev.str_[0]).to_vec();
        let Some(digits) = s.strip_prefix(b"/proc/self/fd/") else {
            return;
        };
        if digits.is_empty() || digits.len() > 6 || !digits.iter().all(u8::is_ascii_digit) {
            return;
        }
        let fd = digits.iter().fold(0i64, |n, d| n * 10 + (d - b'0') as i64);
        self.file(fd);
    }
    /// `pg_fill_sock`: the socket behind `fd`, through a duplicate of it.
    fn sock(&mut self, fd: i64) {
        if let Some(s) = sock_info(self.id.tgid, fd) {
            self.ev.sock = s;
        }
    }
}

/// Duplicate fd `fd` of process `tgid` into this process (`pidfd_getfd`).
fn dup_from(tgid: u32, fd: i64) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if !(0..=i32::MAX as i64).contains(&fd) {
        return None;
    }
    // SAFETY: plain syscalls; every fd returned is owned and closed below.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, tgid as libc::c_long, 0);
        if pidfd < 0 {
            return None;
        }
        let pidfd = std::os::fd::OwnedFd::from_raw_fd(pidfd as i32);
        use std::os::fd::AsRawFd;
        let got = libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0);
        (got >= 0).then(|| std::os::fd::OwnedFd::from_raw_fd(got as i32))
    }
}

fn endpoint(sa: &libc::sockaddr_storage) -> ([u8; 16], u16) {
    let mut addr = [0u8; 16];
    match sa.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(sa as *const _ as *const libc::sockaddr_in) };
            addr[..4].copy_from_slice(&sin.sin_addr.s_addr.to_ne_bytes());
            (addr, u16::from_be(sin.sin_port))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(sa as *const _ as *const libc::sockaddr_in6) };
            (sin6.sin6_addr.s6_addr, u16::from_be(sin6.sin6_port))
        }
        _ => (addr, 0),
    }
}

/// Family, type and both endpoints of a traced process's socket.
fn sock_info(tgid: u32, fd: i64) -> Option<PgSock> {
    use std::os::fd::AsRawFd;
    let own = dup_from(tgid, fd)?;
    let raw = own.as_raw_fd();
    let opt = |name: i32| -> Option<i32> {
        let mut v: i32 = 0;
        let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
        // SAFETY: v and len are valid for writing one int.
        let rc = unsafe {
            libc::getsockopt(
                raw,
                libc::SOL_SOCKET,
                name,
                &mut v as *mut i32 as *mut _,
                &mut len,
            )
        };
        (rc == 0).then_some(v)
    };
    let family = opt(libc::SO_DOMAIN)?;
    let type_ = opt(libc::SO_TYPE).unwrap_or(0);
    let name = |peer: bool| -> Option<libc::sockaddr_storage> {
        // SAFETY: sockaddr_storage is plain data; zero is a valid value.
        let mut sa: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let p = &mut sa as *mut libc::sockaddr_storage as *mut libc::sockaddr;
        // SAFETY: sa and len describe a writable sockaddr_storage.
        let rc = unsafe {
            if peer {
                libc::getpeername(raw, p, &mut len)
            } else {
                libc::getsockname(raw, p, &mut len)
            }
        };
        (rc == 0).then_some(sa)
    };
    let mut s = PgSock {
        family: family as u16,
        type_: type_ as u16,
        ..PgSock::default()
    };
    if family == libc::AF_INET || family == libc::AF_INET6 {
        if let Some(l) = name(false) {
            (s.laddr, s.lport) = endpoint(&l);
        }
        if let Some(r) = name(true) {
            (s.raddr, s.rport) = endpoint(&r);
        }
    }
    Some(s)
}

/// `pg_syscall_wanted`: what no rule can want never becomes a record.
fn wanted(tid: u32, sys: Syscall, a: &[u64; 6]) -> bool {
    match sys {
        Syscall::Sendto => a[4] != 0,
        Syscall::Sendmsg => mem::read_u64(tid, a[1]).is_some_and(|name| name != 0),
        // socket() of unix/inet/inet6: the sensor's default drops them.
        Syscall::Socket => !matches!(a[0], 1 | 2 | 10),
        _ => true,
    }
}

/// The user strings a syscall passes (first `switch` of `pg_exit`).
fn strings(s: &mut Sys<'_>, sys: Syscall, a: &[u64; 6]) {
    use Syscall as S;
    match sys {
        S::Open | S::Creat => s.user_str(0, a[0]),
        S::Openat | S::Openat2 => s.user_str(0, a[1]),
        S::Unlink
        | S::Rmdir
        | S::Chmod
        | S::Chown
        | S::Lchown
        | S::Mkdir
        | S::Umount2
        | S::MemfdCreate => s.user_str(0, a[0]),
        S::Unlinkat | S::Fchmodat | S::Fchmodat2 | S::Fchownat | S::Mkdirat => s.user_str(0, a[1]),
        S::Rename | S::Link | S::Symlink => {
            s.user_str(0, a[0]);
            s.user_str(1, a[1]);
        }
        S::Renameat | S::Renameat2 | S::Linkat => {
            s.user_str(0, a[1]);
            s.user_str(1, a[3]);
        }
        S::Symlinkat => {
            s.user_str(0, a[0]);
            s.user_str(1, a[2]);
        }
        S::Mount => {
            s.user_str(0, a[0]);
            s.user_str(1, a[1]);
            s.user_str(2, a[2]);
        }
        S::InitModule => s.user_str(0, a[2]),
        S::FinitModule => s.user_str(0, a[1]),
        S::Connect | S::Bind => s.user_bytes(a[1], a[2]),
        S::Sendto => s.user_bytes(a[4], a[5]),
        S::Sendmsg => {
            // struct user_msghdr starts with msg_name, msg_namelen.
            let name = mem::read_u64(s.tid, a[1]).unwrap_or(0);
            let len = mem::read_u64(s.tid, a[1].wrapping_add(8)).unwrap_or(0) as u32;
            s.user_bytes(name, len as u64);
        }
        _ => {}
    }
}

/// What the kernel resolves (second `switch` of `pg_exit`).
fn resolve(s: &mut Sys<'_>, sys: Syscall, a: &[u64; 6], ret: i64) {
    use Syscall as S;
    let first = s.ev.str_[0];
    match sys {
        S::Open | S::Creat | S::Openat | S::Openat2 => {
            if sys == S::Openat2 {
                if let Some(how) = mem::read_exact(s.tid, a[2], 16, 16) {
                    s.ev.aux[0] = u64::from_le_bytes(how[..8].try_into().unwrap_or([0; 8]));
                    s.ev.aux[1] = u64::from_le_bytes(how[8..].try_into().unwrap_or([0; 8]));
                }
            }
            if ret >= 0 {
                s.file(ret);
            } else {
                let dirfd = match sys {
                    S::Openat | S::Openat2 => a[0] as i64,
                    _ => AT_FDCWD,
                };
                s.base_of(dirfd, first);
            }
        }
        S::Fchmod | S::Fchown | S::Setns | S::FinitModule => s.file(a[0] as i32 as i64),
        S::Chmod | S::Chown | S::Lchown => {
            s.proc_self_fd();
            s.base_of(AT_FDCWD, first);
        }
        S::Fchmodat | S::Fchmodat2 | S::Fchownat => {
            s.proc_self_fd();
            s.base_of(a[0] as i64, first);
        }
        S::Unlink | S::Rmdir | S::Mkdir | S::Rename | S::Link => s.base_of(AT_FDCWD, first),
        S::Unlinkat | S::Mkdirat | S::Renameat | S::Renameat2 | S::Linkat => {
            s.base_of(a[0] as i64, first)
        }
        S::Symlink => s.base_of(AT_FDCWD, s.ev.str_[1]),
        S::Symlinkat => s.base_of(a[1] as i64, s.ev.str_[1]),
        S::Connect | S::Bind | S::Listen | S::Sendto | S::Sendmsg => s.sock(a[0] as i32 as i64),
        S::Accept | S::Accept4 if ret >= 0 => s.sock(ret),
        S::Capset => {
            if let Some(c) = mem::read_exact(s.tid, a[1], 24, 24) {
                let w = |i: usize| {
                    u32::from_le_bytes(c[i * 4..i * 4 + 4].try_into().unwrap_or([0; 4])) as u64
                };
                s.ev.aux[0] = (w(3) << 32) | w(0);
                s.ev.aux[1] = (w(4) << 32) | w(1);
                s.ev.aux[2] = (w(5) << 32) | w(2);
            }
        }
        S::Bpf if a[0] == 5 => {
            if let Some(t) = mem::read_exact(s.tid, a[1], 4, 4) {
                s.ev.aux[0] = u32::from_le_bytes(t.try_into().unwrap_or([0; 4])) as u64;
            }
        }
        _ => {}
    }
}

/// The record of a finished syscall, or `None` when the sensor would not
/// have emitted one.
pub fn syscall(tid: u32, id: &Identity, sys: Syscall, a: [u64; 6], ret: i64) -> Option<Vec<u8>> {
    if !wanted(tid, sys, &a) {
        return None;
    }
    let kind: EventKind = sys.kind();
    let mut s = Sys {
        tid,
        // SAFETY: PgSyscallEvent is plain data; all-zero is a valid value.
        ev: unsafe { std::mem::zeroed() },
        data: Data::default(),
        id,
    };
    s.ev.args = a;
    s.ev.ret = ret;
    strings(&mut s, sys, &a);
    resolve(&mut s, sys, &a, ret);
    s.ev.hdr = id.header(tid, kind.id(), sys.id());
    Some(record::syscall_record(s.ev, &s.data))
}

/// Fields of `/proc/PID/stat` after the comm: (pgrp, session, tty_nr).
fn stat_fields(pid: u32) -> (u32, u32, u32) {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (0, 0, 0);
    };
    let rest: Vec<&str> = stat
        .rfind(')')
        .map(|i| stat[i + 1..].split_whitespace().collect())
        .unwrap_or_default();
    let num = |i: usize| rest.get(i).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    (num(2), num(3), num(4))
}

/// tty_nr (major in bits 8-15, minor in 0-7 and 20-31) as `major << 20 | minor`.
fn tty_of(tty_nr: u32) -> u32 {
    if tty_nr == 0 {
        return 0;
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    (major << 20) | minor
}

fn caps(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0)
}

/// The exec record of `pid` (stopped right after a successful exec):
/// `filename` as it was passed, the rest read from the new image.
pub fn exec(pid: u32, id: &Identity, filename: &[u8], with_env: bool) -> Vec<u8> {
    // SAFETY: PgExecEvent is plain data; all-zero is a valid value.
    let mut ev: PgExecEvent = unsafe { std::mem::zeroed() };
    let mut data = Data::default();
    ev.hdr = id.header(pid, EventKind::Exec.id(), Syscall::Execve.id());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    ev.cap_effective = caps(&status, "CapEff:");
    ev.cap_permitted = caps(&status, "CapPrm:");
    ev.cap_inheritable = caps(&status, "CapInh:");
    let (pgid, sid, tty_nr) = stat_fields(pid);
    (ev.pgid, ev.sid, ev.tty) = (pgid, sid, tty_of(tty_nr));
    ev.filename = data.put(filename, STR_MAX - 1);
    let (args, more) = read_bounded(&format!("/proc/{pid}/cmdline"), ARGS_MAX);
    if more {
        ev.flags |= EXEC_F_ARGS_TRUNCATED;
    }
    ev.args = data.put_raw(&args, ARGS_MAX);
    if let Some(cwd) = readlink(&format!("/proc/{pid}/cwd")) {
        ev.cwd = data.put(&cwd, PATH_MAX - 1);
    }
    let exe_link = format!("/proc/{pid}/exe");
    if let Some(exe) = readlink(&exe_link) {
        ev.exe = data.put(&exe, PATH_MAX - 1);
        if let Ok(m) = std::fs::metadata(&exe_link) {
            ev.exe_ino = m.ino();
            ev.exe_dev = kdev(m.dev()) as u32;
        }
    }
    if with_env && data.len() <= record::DATA_MAX - ENV_MAX {
        let (env, more) = read_bounded(&format!("/proc/{pid}/environ"), ENV_MAX);
        if more {
            ev.flags |= EXEC_F_ENV_TRUNCATED;
        }
        ev.env = data.put_raw(&env, ENV_MAX);
    }
    record::exec_record(ev, &data)
}

/// The fork record of a new process (`child` describes it).
pub fn fork(child_tid: u32, child: &Identity, parent_pid: u32, parent_tid: u32) -> Vec<u8> {
    // SAFETY: PgForkEvent is plain data; all-zero is a valid value.
    let mut ev: PgForkEvent = unsafe { std::mem::zeroed() };
    ev.hdr = child.header(child_tid, EventKind::Fork.id(), 0);
    ev.parent_pid = parent_pid;
    ev.parent_tid = parent_tid;
    record::fork_record(ev, &Data::default())
}

/// The exit record of a process that ended with wait status `status`.
pub fn exit(id: &Identity, status: i32) -> Vec<u8> {
    // SAFETY: PgExitEvent is plain data; all-zero is a valid value.
    let mut ev: PgExitEvent = unsafe { std::mem::zeroed() };
    ev.hdr = id.header(id.tgid, EventKind::Exit.id(), 0);
    ev.code = (status >> 8) & 0xff;
    ev.signal = status & 0x7f;
    record::exit_record(ev, &Data::default())
}
