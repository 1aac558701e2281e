//! Decoding of raw kernel records into [`Event`]s.
//!
//! Every input is treated as hostile: lengths and offsets are checked, strings
//! are decoded lossily, unknown kinds are errors, nothing panics.

use crate::abi::*;
use crate::event::*;
use crate::kind::{EventKind, Syscall};
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than its fixed part.
    #[error("record of {got} bytes is shorter than the {need} bytes of its layout")]
    Short {
        /// Bytes present.
        got: usize,
        /// Bytes needed.
        need: usize,
    },
    /// Kind id not known to this build.
    #[error("unknown event kind id {0}")]
    UnknownKind(u16),
    /// Size field disagrees with the buffer.
    #[error("record size field {size} exceeds the {got} bytes received")]
    BadSize {
        /// Declared size.
        size: u32,
        /// Bytes present.
        got: usize,
    },
}

/// Converts kernel CLOCK_BOOTTIME stamps to wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    offset_ns: i128,
}

impl Clock {
    /// Offset measured now: realtime minus boottime.
    pub fn now() -> Clock {
        let rt = clock_ns(libc_clock::REALTIME);
        let bt = clock_ns(libc_clock::BOOTTIME);
        Clock { offset_ns: rt - bt }
    }
    /// A clock with a fixed offset (replay, tests).
    pub fn with_offset(offset_ns: i128) -> Clock {
        Clock { offset_ns }
    }
    /// The offset (realtime minus boottime, ns).
    pub fn offset_ns(&self) -> i128 {
        self.offset_ns
    }
    /// Wall-clock nanoseconds for a boottime stamp.
    pub fn wall(&self, boot_ns: u64) -> u64 {
        (boot_ns as i128 + self.offset_ns).clamp(0, u64::MAX as i128) as u64
    }
}

mod libc_clock {
    pub const REALTIME: i32 = 0;
    pub const BOOTTIME: i32 = 7;
    #[repr(C)]
    pub struct Timespec {
        pub tv_sec: i64,
        pub tv_nsec: i64,
    }
    extern "C" {
        pub fn clock_gettime(clk: i32, ts: *mut Timespec) -> i32;
    }
}

fn clock_ns(clk: i32) -> i128 {
    let mut ts = libc_clock::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into a valid, owned struct.
    let rc = unsafe { libc_clock::clock_gettime(clk, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

fn read<T: Copy>(buf: &[u8]) -> Result<T, DecodeError> {
    if buf.len() < size_of::<T>() {
        return Err(DecodeError::Short {
            got: buf.len(),
            need: size_of::<T>(),
        });
    }
    // SAFETY: length checked above; T is a plain-old-data repr(C) type
    // (integers and arrays only) for which every bit pattern is valid.
    Ok(unsafe { std::ptr::read_unaligned(buf.as_ptr() as *const T) })
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn data_bytes(data: &[u8], s: PgStr) -> &[u8] {
    let start = s.off as usize;
    let end = start.saturating_add(s.len as usize).min(data.len());
    if start >= end {
        return &[];
    }
    &data[start..end]
}

fn data_str(data: &[u8], s: PgStr) -> String {
    cstr(data_bytes(data, s))
}

fn opt_str(data: &[u8], s: PgStr) -> Option<String> {
    if s.len == 0 {
        None
    } else {
        Some(data_str(data, s))
    }
}

/// Kind id of a raw record, without decoding it.
pub fn peek_kind(buf: &[u8]) -> Option<EventKind> {
    if buf.len() < size_of::<PgHeader>() {
        return None;
    }
    let kind = u16::from_ne_bytes([buf[20], buf[21]]);
    EventKind::from_id(kind)
}

/// Decode one ring buffer record.
pub fn decode(buf: &[u8], clock: &Clock) -> Result<Event, DecodeError> {
    let hdr: PgHeader = read(buf)?;
    if hdr.size as usize > buf.len() {
        return Err(DecodeError::BadSize {
            size: hdr.size,
            got: buf.len(),
        });
    }
    let buf = &buf[..hdr.size as usize];
    let kind = EventKind::from_id(hdr.kind).ok_or(DecodeError::UnknownKind(hdr.kind))?;
    let process = Process {
        pid: hdr.pid,
        tid: hdr.tid,
        ppid: hdr.ppid,
        vpid: hdr.vpid,
        uid: hdr.uid,
        gid: hdr.gid,
        euid: hdr.euid,
        egid: hdr.egid,
        loginuid: hdr.loginuid,
        comm: cstr(&hdr.comm),
        exe: None,
        cgroup_id: hdr.cgroup_id,
        cgroup: cstr(&hdr.cgroup),
        pid_ns: hdr.pid_ns,
        mnt_ns: hdr.mnt_ns,
        net_ns: hdr.net_ns,
    };
    let syscall = Syscall::from_id(hdr.syscall);
    let data = match kind {
        EventKind::Exec => {
            let ev: PgExecEvent = read(buf)?;
            decode_exec(&ev, &buf[size_of::<PgExecEvent>()..])
        }
        EventKind::Fork => {
            let ev: PgForkEvent = read(buf)?;
            EventData::Fork {
                parent_pid: ev.parent_pid,
                parent_tid: ev.parent_tid,
            }
        }
        EventKind::Exit => {
            let ev: PgExitEvent = read(buf)?;
            EventData::Exit {
                code: ev.code,
                signal: ev.signal,
            }
        }
        EventKind::Syscalls => decode_sysids(buf)?,
        _ => {
            let ev: PgSyscallEvent = read(buf)?;
            decode_syscall(kind, syscall, &ev, &buf[size_of::<PgSyscallEvent>()..])
        }
    };
    Ok(Event {
        ts_ns: clock.wall(hdr.ts_ns),
        kind,
        syscall,
        process,
        data,
    })
}

/// A `pg_sysids_event`: the record may be cut after its last id.
fn decode_sysids(buf: &[u8]) -> Result<EventData, DecodeError> {
    let fixed = std::mem::offset_of!(PgSysidsEvent, ids);
    if buf.len() < fixed {
        return Err(DecodeError::Short {
            got: buf.len(),
            need: fixed,
        });
    }
    let at = |off: usize| u16::from_ne_bytes([buf[off], buf[off + 1]]);
    let count = at(std::mem::offset_of!(PgSysidsEvent, count)) as usize;
    let flags = at(std::mem::offset_of!(PgSysidsEvent, flags));
    let need = fixed + count.min(SYSIDS_MAX) * 2;
    if count > SYSIDS_MAX || buf.len() < need {
        return Err(DecodeError::Short {
            got: buf.len(),
            need: fixed + count * 2,
        });
    }
    let ids = buf[fixed..need]
        .chunks_exact(2)
        .map(|c| u16::from_ne_bytes([c[0], c[1]]))
        .collect();
    Ok(EventData::Syscalls(SyscallBatch {
        ids,
        exit: flags & SYSIDS_F_EXIT != 0,
        exec: flags & SYSIDS_F_EXEC != 0,
    }))
}

/// NUL separated strings (argv, environment) as a list.
fn nul_list(raw: &[u8]) -> Vec<String> {
    if raw.is_empty() {
        return Vec::new();
    }
    let mut v: Vec<String> = raw
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    // The list ends with a NUL: drop the empty tail it leaves.
    if raw.last() == Some(&0) {
        v.pop();
    }
    v
}

fn decode_exec(ev: &PgExecEvent, data: &[u8]) -> EventData {
    let args = nul_list(data_bytes(data, ev.args));
    let mut env = nul_list(data_bytes(data, ev.env));
    if ev.flags & EXEC_F_ENV_TRUNCATED != 0 {
        // The last variable may be cut: keep only whole ones.
        env.pop();
    }
    EventData::Exec(Exec {
        filename: data_str(data, ev.filename),
        args,
        args_truncated: ev.flags & EXEC_F_ARGS_TRUNCATED != 0,
        cwd: data_str(data, ev.cwd),
        exe: data_str(data, ev.exe),
        exe_ino: ev.exe_ino,
        exe_dev: ev.exe_dev,
        tty: ev.tty,
        sid: ev.sid,
        pgid: ev.pgid,
        cap_effective: ev.cap_effective,
        cap_permitted: ev.cap_permitted,
        cap_inheritable: ev.cap_inheritable,
        // Known only to the state layer (it looks at the container's root).
        exe_upper_layer: None,
        exe_ctime_ns: None,
        exe_mtime_ns: None,
        env,
    })
}

/// Lexically normalise an absolute path: collapse `//`, `.` and `..`.
pub fn normalize_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Absolute form of `raw` given the directory it is relative to and, for a
/// chrooted task, its root (an absolute path names a file below it; `..`
/// cannot climb out of it).
fn absolute(raw: &str, base: Option<&str>, root: Option<&str>) -> String {
    if raw.starts_with('/') {
        match root {
            Some(root) => normalize_path(&format!("{root}/{}", normalize_path(raw))),
            None => normalize_path(raw),
        }
    } else if let Some(base) = base {
        normalize_path(&format!("{base}/{raw}"))
    } else {
        raw.to_string()
    }
}

fn id_arg(v: u64) -> Option<u32> {
    let v = v as u32;
    if v == u32::MAX {
        None
    } else {
        Some(v)
    }
}

const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// Decode a raw `struct sockaddr` copied from user space.
pub fn parse_sockaddr(b: &[u8]) -> Option<Endpoint> {
    if b.len() < 2 {
        return None;
    }
    let family = u16::from_ne_bytes([b[0], b[1]]);
    match family {
        AF_INET if b.len() >= 8 => Some(Endpoint::Ip {
            port: u16::from_be_bytes([b[2], b[3]]),
            ip: IpAddr::V4(Ipv4Addr::new(b[4], b[5], b[6], b[7])),
        }),
        AF_INET6 if b.len() >= 24 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[8..24]);
            Some(Endpoint::Ip {
                port: u16::from_be_bytes([b[2], b[3]]),
                ip: IpAddr::V6(Ipv6Addr::from(a)),
            })
        }
        AF_UNIX => {
            let p = &b[2..];
            let path = if p.first() == Some(&0) {
                format!("@{}", cstr(&p[1..]))
            } else {
                cstr(p)
            };
            Some(Endpoint::Unix { path })
        }
        _ => None,
    }
}

fn sock_endpoint(family: u16, addr: &[u8; 16], port: u16) -> Option<Endpoint> {
    match family {
        AF_INET => Some(Endpoint::Ip {
            ip: IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])),
            port,
        }),
        AF_INET6 => Some(Endpoint::Ip {
            ip: IpAddr::V6(Ipv6Addr::from(*addr)),
            port,
        }),
        _ => None,
    }
}

fn decode_syscall(
    kind: EventKind,
    sys: Option<Syscall>,
    ev: &PgSyscallEvent,
    data: &[u8],
) -> EventData {
    let a = ev.args;
    let ret = ev.ret;
    match kind {
        EventKind::Open
        | EventKind::Unlink
        | EventKind::Rename
        | EventKind::Chmod
        | EventKind::Chown
        | EventKind::Link
        | EventKind::Symlink
        | EventKind::Mkdir => EventData::File(decode_file(sys, ev, data)),
        EventKind::Socket => EventData::Net(NetOp {
            ret,
            fd: ret,
            family: a[0] as u16,
            // SOCK_NONBLOCK/SOCK_CLOEXEC share the type argument.
            sock_type: (a[1] & 0xf) as u16,
            protocol: a[2] as u16,
            ..NetOp::default()
        }),
        EventKind::Connect
        | EventKind::Accept
        | EventKind::Bind
        | EventKind::Listen
        | EventKind::Sendto => EventData::Net(decode_net(kind, ev, data)),
        EventKind::Setuid | EventKind::Setgid | EventKind::Capset => {
            EventData::Cred(decode_cred(sys, ev))
        }
        EventKind::Ptrace => EventData::Ptrace {
            ret,
            request: a[0] as i64,
            target_pid: a[1] as i32,
            addr: a[2],
        },
        EventKind::Mount | EventKind::Umount | EventKind::Unshare | EventKind::Setns => {
            EventData::Namespace(decode_namespace(kind, ev, data))
        }
        EventKind::MemfdCreate => EventData::Memfd {
            ret,
            name: data_str(data, ev.str_[0]),
            flags: a[1] as u32,
        },
        EventKind::ModuleLoad => EventData::Module {
            ret,
            params: data_str(data, ev.str_[0]),
            path: opt_str(data, ev.str_[2]),
        },
        EventKind::Bpf => EventData::Bpf {
            ret,
            cmd: a[0] as u32,
            prog_type: if a[0] == 5 {
                Some(ev.aux[0] as u32)
            } else {
                None
            },
        },
        EventKind::Userfaultfd => EventData::Userfaultfd {
            ret,
            flags: a[0] as u32,
        },
        EventKind::Exec | EventKind::Fork | EventKind::Exit | EventKind::Syscalls => {
            unreachable_process()
        }
    }
}

/// A file event: paths made absolute, flags, mode and ids from the
/// syscall's arguments.
fn decode_file(sys: Option<Syscall>, ev: &PgSyscallEvent, data: &[u8]) -> FileOp {
    use Syscall as S;
    let a = ev.args;
    let s0 = data_str(data, ev.str_[0]);
    let s1 = opt_str(data, ev.str_[1]);
    let s2 = opt_str(data, ev.str_[2]);
    let base = opt_str(data, ev.str_[3]);
    let mut f = FileOp {
        ret: ev.ret,
        raw_path: s0.clone(),
        ino: ev.aux[2],
        dev: ev.aux[3] as u32,
        ..FileOp::default()
    };
    // Kernel-resolved path wins; otherwise join with cwd/dirfd, or
    // for an absolute path with the task's root when chrooted
    // (str[3] carries one or the other: see peregrine_event.h).
    // symlink: str[3] belongs to the link created (str[1]).
    let object = match sys {
        Some(S::Symlink) | Some(S::Symlinkat) => s1.as_deref().unwrap_or(""),
        _ => s0.as_str(),
    };
    let (base, root) = match object.starts_with('/') {
        true => (None, base.as_deref()),
        false => (base.as_deref(), None),
    };
    f.path = match &s2 {
        Some(resolved) => resolved.clone(),
        None => absolute(&s0, base, root),
    };
    f.path2 = s1.map(|p| absolute(&p, base, root));
    match sys {
        Some(S::Open) => (f.flags, f.mode) = (a[1], a[2] as u32),
        Some(S::Openat) => (f.flags, f.mode) = (a[2], a[3] as u32),
        Some(S::Openat2) => (f.flags, f.mode) = (ev.aux[0], ev.aux[1] as u32),
        Some(S::Creat) => (f.flags, f.mode) = (0o1101, a[1] as u32),
        Some(S::Unlinkat) => f.flags = a[2],
        Some(S::Renameat2) | Some(S::Linkat) => f.flags = a[4],
        Some(S::Chmod) | Some(S::Fchmod) | Some(S::Mkdir) => f.mode = a[1] as u32,
        Some(S::Fchmodat) | Some(S::Mkdirat) => f.mode = a[2] as u32,
        Some(S::Fchmodat2) => (f.mode, f.flags) = (a[2] as u32, a[3]),
        Some(S::Chown) | Some(S::Lchown) | Some(S::Fchown) => {
            (f.uid, f.gid) = (id_arg(a[1]), id_arg(a[2]))
        }
        Some(S::Fchownat) => {
            (f.uid, f.gid, f.flags) = (id_arg(a[2]), id_arg(a[3]), a[4]);
        }
        _ => {}
    }
    if matches!(sys, Some(S::Symlink) | Some(S::Symlinkat)) {
        // symlink(target, linkpath): the object created is linkpath;
        // the target is kept as given.
        let link = f.path2.take().unwrap_or_default();
        f.path2 = Some(s0);
        f.path = link;
    }
    if matches!(sys, Some(S::Fchmod) | Some(S::Fchown)) && f.raw_path.is_empty() {
        f.raw_path = f.path.clone();
    }
    f
}

/// A network event on an existing socket: the address the caller passed
/// and the socket's own endpoints.
fn decode_net(kind: EventKind, ev: &PgSyscallEvent, data: &[u8]) -> NetOp {
    let a = ev.args;
    let ret = ev.ret;
    let sk = &ev.sock;
    let mut n = NetOp {
        ret,
        fd: a[0] as i32 as i64,
        family: sk.family,
        sock_type: sk.type_,
        protocol: sk.protocol,
        ..NetOp::default()
    };
    let user_addr = parse_sockaddr(data_bytes(data, ev.str_[0]));
    let local = sock_endpoint(sk.family, &sk.laddr, sk.lport);
    let remote = sock_endpoint(sk.family, &sk.raddr, sk.rport);
    match kind {
        EventKind::Connect | EventKind::Sendto => {
            n.remote = user_addr;
            n.local = local;
        }
        EventKind::Bind => {
            n.local = user_addr;
        }
        EventKind::Listen => {
            n.local = local;
            n.backlog = Some(a[1] as i32);
        }
        _ => {
            n.fd = ret;
            n.local = local;
            n.remote = remote;
        }
    }
    if n.family == 0 {
        n.family = family_of(&n.remote, &n.local);
    }
    n.name = n.render_name(kind);
    n
}

/// The address family the endpoints imply (IPv4 first), 0 when none does.
fn family_of(remote: &Option<Endpoint>, local: &Option<Endpoint>) -> u16 {
    match (remote, local) {
        (
            Some(Endpoint::Ip {
                ip: IpAddr::V4(_), ..
            }),
            _,
        )
        | (
            _,
            Some(Endpoint::Ip {
                ip: IpAddr::V4(_), ..
            }),
        ) => AF_INET,
        (Some(Endpoint::Ip { .. }), _) | (_, Some(Endpoint::Ip { .. })) => AF_INET6,
        (Some(Endpoint::Unix { .. }), _) | (_, Some(Endpoint::Unix { .. })) => AF_UNIX,
        _ => 0,
    }
}

/// A credential change: the ids (or capabilities) asked for.
fn decode_cred(sys: Option<Syscall>, ev: &PgSyscallEvent) -> CredOp {
    use Syscall as S;
    let a = ev.args;
    let mut c = CredOp {
        ret: ev.ret,
        ..CredOp::default()
    };
    match sys {
        Some(S::Setuid) | Some(S::Setgid) => c.effective = id_arg(a[0]),
        Some(S::Setreuid) | Some(S::Setregid) => {
            (c.real, c.effective) = (id_arg(a[0]), id_arg(a[1]))
        }
        Some(S::Setresuid) | Some(S::Setresgid) => {
            (c.real, c.effective, c.saved) = (id_arg(a[0]), id_arg(a[1]), id_arg(a[2]))
        }
        Some(S::Capset) => {
            c.cap_effective = Some(ev.aux[0]);
            c.cap_permitted = Some(ev.aux[1]);
            c.cap_inheritable = Some(ev.aux[2]);
        }
        _ => {}
    }
    c
}

/// A mount, umount, unshare or setns.
fn decode_namespace(kind: EventKind, ev: &PgSyscallEvent, data: &[u8]) -> NamespaceOp {
    let a = ev.args;
    let mut n = NamespaceOp {
        ret: ev.ret,
        ..NamespaceOp::default()
    };
    match kind {
        EventKind::Mount => {
            n.source = Some(data_str(data, ev.str_[0]));
            n.target = opt_str(data, ev.str_[1]);
            n.fstype = opt_str(data, ev.str_[2]);
            n.flags = a[3];
        }
        EventKind::Umount => {
            n.target = Some(data_str(data, ev.str_[0]));
            n.flags = a[1];
        }
        EventKind::Unshare => n.flags = a[0],
        _ => {
            n.fd = Some(a[0] as i32 as i64);
            n.nstype = Some(a[1] as u32);
            n.ns_inode = Some(ev.aux[2]).filter(|&i| i != 0);
            n.target = opt_str(data, ev.str_[2]);
        }
    }
    n
}

#[cold]
fn unreachable_process() -> EventData {
    // Process kinds have their own layouts and never reach this function.
    EventData::Exit { code: 0, signal: 0 }
}
