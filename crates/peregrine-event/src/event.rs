//! The decoded, owned event model every later stage consumes.

use crate::kind::{EventKind, Syscall};
use serde::Serialize;
use std::net::IpAddr;

/// One observed behaviour.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    /// Wall-clock time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// What happened.
    pub kind: EventKind,
    /// The syscall behind it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syscall: Option<Syscall>,
    /// Who did it.
    pub process: Process,
    /// Kind-specific details.
    pub data: EventData,
}

/// The task an event belongs to.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Process {
    /// Thread group id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Parent thread group id.
    pub ppid: u32,
    /// Pid in its own pid namespace.
    pub vpid: u32,
    /// Real uid.
    pub uid: u32,
    /// Real gid.
    pub gid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Effective gid.
    pub egid: u32,
    /// Audit login uid (`u32::MAX` when unset).
    pub loginuid: u32,
    /// Task name.
    pub comm: String,
    /// Executable path (from the exec event or /proc; filled by the state layer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    /// cgroup v2 id.
    pub cgroup_id: u64,
    /// cgroup v2 leaf name (a container id for containers).
    pub cgroup: String,
    /// Pid namespace inode.
    pub pid_ns: u32,
    /// Mount namespace inode.
    pub mnt_ns: u32,
    /// Network namespace inode.
    pub net_ns: u32,
}

/// Kind-specific event details.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventData {
    /// exec.
    Exec(Exec),
    /// fork: `process` is the child.
    Fork {
        /// Parent tgid.
        parent_pid: u32,
        /// Parent thread id.
        parent_tid: u32,
    },
    /// exit.
    Exit {
        /// Exit status.
        code: i32,
        /// Terminating signal, 0 if none.
        signal: i32,
    },
    /// open, unlink, rename, chmod, chown, link, symlink, mkdir.
    File(FileOp),
    /// connect, accept, bind, listen.
    Net(NetOp),
    /// setuid, setgid and capset families.
    Cred(CredOp),
    /// ptrace.
    Ptrace {
        /// Result.
        ret: i64,
        /// PTRACE_* request.
        request: i64,
        /// Target pid.
        target_pid: i32,
        /// Address argument.
        addr: u64,
    },
    /// mount, umount, unshare, setns.
    Namespace(NamespaceOp),
    /// memfd_create.
    Memfd {
        /// Result (fd or -errno).
        ret: i64,
        /// Name given.
        name: String,
        /// MFD_* flags.
        flags: u32,
    },
    /// init_module / finit_module.
    Module {
        /// Result.
        ret: i64,
        /// Module parameters.
        params: String,
        /// Module file (finit_module).
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// A batch of raw syscall ids of one thread (opt-in stream).
    Syscalls(SyscallBatch),
    /// userfaultfd().
    Userfaultfd {
        /// Result (fd or -errno).
        ret: i64,
        /// O_CLOEXEC / O_NONBLOCK / UFFD_USER_MODE_ONLY flags.
        flags: u32,
    },
    /// bpf().
    Bpf {
        /// Result.
        ret: i64,
        /// BPF_* command.
        cmd: u32,
        /// Program type for BPF_PROG_LOAD.
        #[serde(skip_serializing_if = "Option::is_none")]
        prog_type: Option<u32>,
    },
}

/// Details of an exec.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Exec {
    /// Path given to execve.
    pub filename: String,
    /// Arguments, argv[0] first.
    pub args: Vec<String>,
    /// True when argv was longer than the kernel copies.
    pub args_truncated: bool,
    /// Working directory.
    pub cwd: String,
    /// Resolved executable path.
    pub exe: String,
    /// Inode of the executable.
    pub exe_ino: u64,
    /// Device of the executable.
    pub exe_dev: u32,
    /// Controlling tty (`(major << 20) | minor`), 0 when none.
    pub tty: u32,
    /// Session id.
    pub sid: u32,
    /// Process group id.
    pub pgid: u32,
    /// Effective capabilities.
    pub cap_effective: u64,
    /// Permitted capabilities.
    pub cap_permitted: u64,
    /// Inheritable capabilities.
    pub cap_inheritable: u64,
    /// The executable is in the container's overlayfs upper layer (written
    /// after the container started, not part of its image); set by the
    /// state layer for processes in containers, `None` when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe_upper_layer: Option<bool>,
    /// Status-change and modification times of the executable (ns since
    /// the epoch), read by the state layer at exec; `None` when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe_ctime_ns: Option<u64>,
    /// See `exe_ctime_ns`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe_mtime_ns: Option<u64>,
    /// Environment (`NAME=value`), copied only when some rule reads
    /// `proc.env`; empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
}

/// Details of a file operation.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct FileOp {
    /// Result (fd for open, 0 or -errno otherwise).
    pub ret: i64,
    /// Absolute path of the object (resolved in the kernel or joined with cwd/dirfd).
    pub path: String,
    /// Path exactly as given to the syscall.
    pub raw_path: String,
    /// Second path: rename/link destination, symlink path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path2: Option<String>,
    /// Flags (O_* for open, AT_* or RENAME_* otherwise).
    pub flags: u64,
    /// Mode (open with O_CREAT, chmod, mkdir).
    pub mode: u32,
    /// New owner (chown), `None` when unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// New group (chown), `None` when unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// Inode, when the kernel resolved the object.
    pub ino: u64,
    /// Device, when the kernel resolved the object.
    pub dev: u32,
}

/// A socket endpoint.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Endpoint {
    /// IPv4/IPv6 address and port.
    Ip {
        /// Address.
        ip: IpAddr,
        /// Port.
        port: u16,
    },
    /// Unix socket path (`@name` for the abstract namespace).
    Unix {
        /// Path.
        path: String,
    },
}

/// Details of a socket operation.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct NetOp {
    /// Result.
    pub ret: i64,
    /// The socket fd (the new fd for accept).
    pub fd: i64,
    /// Address family (AF_*).
    pub family: u16,
    /// Socket type (SOCK_*), 0 when unknown.
    pub sock_type: u16,
    /// Protocol (IPPROTO_* / ETH_P_*), 0 when unknown or the default.
    #[serde(skip_serializing_if = "is_zero")]
    pub protocol: u16,
    /// Local endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<Endpoint>,
    /// Remote endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<Endpoint>,
    /// listen() backlog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backlog: Option<i32>,
    /// `fd.name` as Falco renders it (`local->remote`), filled by the
    /// decoder so that rules compare it without rendering it per check;
    /// empty when not rendered yet (see [`NetOp::render_name`]).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
}

impl NetOp {
    /// `fd.name` of a socket event of kind `kind`: `local->remote` for
    /// connect/sendto, `remote->local` (client first) for accept, the local
    /// endpoint alone otherwise; IPv6 addresses in brackets.
    pub fn render_name(&self, kind: crate::EventKind) -> String {
        use std::fmt::Write;
        let put = |out: &mut String, e: &Option<Endpoint>| match e {
            Some(Endpoint::Ip {
                ip: std::net::IpAddr::V6(ip),
                port,
            }) => {
                let _ = write!(out, "[{ip}]:{port}");
            }
            Some(Endpoint::Ip { ip, port }) => {
                let _ = write!(out, "{ip}:{port}");
            }
            Some(Endpoint::Unix { path }) => out.push_str(path),
            None => {}
        };
        let mut out = String::with_capacity(48);
        let (first, second) = match kind {
            crate::EventKind::Connect | crate::EventKind::Sendto => {
                (&self.local, Some(&self.remote))
            }
            crate::EventKind::Accept => (&self.remote, Some(&self.local)),
            _ => (&self.local, None),
        };
        put(&mut out, first);
        if let Some(second) = second {
            out.push_str("->");
            put(&mut out, second);
        }
        out
    }
}

/// Details of a credential change.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct CredOp {
    /// Result.
    pub ret: i64,
    /// Real id requested (`None`: unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real: Option<u32>,
    /// Effective id requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective: Option<u32>,
    /// Saved id requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved: Option<u32>,
    /// capset: new effective set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap_effective: Option<u64>,
    /// capset: new permitted set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap_permitted: Option<u64>,
    /// capset: new inheritable set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap_inheritable: Option<u64>,
    /// Real uid of the caller before the call (the record's header carries
    /// the ids after it). Filled by the state layer from the process table;
    /// `None` when the process was not known before the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_uid: Option<u32>,
    /// Effective uid of the caller before the call (see `prev_uid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_euid: Option<u32>,
}

/// Details of a mount or namespace operation.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct NamespaceOp {
    /// Result.
    pub ret: i64,
    /// MS_*, MNT_*, CLONE_* flags.
    pub flags: u64,
    /// mount source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// mount/umount target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Filesystem type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fstype: Option<String>,
    /// setns: namespace fd.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fd: Option<i64>,
    /// setns: requested namespace type (CLONE_NEW*).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nstype: Option<u32>,
    /// setns: inode of the namespace joined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ns_inode: Option<u64>,
}

impl Event {
    /// Primary path of a file event.
    pub fn file(&self) -> Option<&FileOp> {
        match &self.data {
            EventData::File(f) => Some(f),
            _ => None,
        }
    }
    /// Details of an exec event.
    pub fn exec(&self) -> Option<&Exec> {
        match &self.data {
            EventData::Exec(e) => Some(e),
            _ => None,
        }
    }
    /// Details of a socket event.
    pub fn net(&self) -> Option<&NetOp> {
        match &self.data {
            EventData::Net(n) => Some(n),
            _ => None,
        }
    }
}

fn is_zero(v: &u16) -> bool {
    *v == 0
}

/// Raw syscall ids of one thread, in call order (`PG_KIND_SYSCALLS`).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct SyscallBatch {
    /// x86_64 syscall numbers as the thread entered them.
    pub ids: Vec<u16>,
    /// The thread exited after the last id.
    pub exit: bool,
    /// The thread exec'd (started a new program) after the last id.
    pub exec: bool,
}
