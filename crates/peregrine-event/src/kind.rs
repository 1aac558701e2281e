//! Event kinds, categories and syscall identities shared with the kernel.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

macro_rules! id_enum {
    ($(#[$m:meta])* $name:ident : $repr:ty { $($(#[$vm:meta])* $var:ident = $val:expr => $s:expr),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $var = $val),+ }
        impl $name {
            /// Every value, in id order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// Stable lower-case name.
            pub fn name(self) -> &'static str { match self { $($name::$var => $s),+ } }
            /// The value for a kernel id.
            pub fn from_id(id: $repr) -> Option<Self> { match id { $($val => Some($name::$var),)+ _ => None } }
            /// The kernel id.
            pub fn id(self) -> $repr { self as $repr }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.name()) }
        }
        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                $name::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| UnknownName {
                    what: stringify!($name),
                    name: s.to_string(),
                    expected: $name::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", "),
                })
            }
        }
    };
}

/// A name that is not one of the known values.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown {what} '{name}' (expected one of: {expected})")]
pub struct UnknownName {
    /// What was being parsed.
    pub what: &'static str,
    /// The name given.
    pub name: String,
    /// The accepted names.
    pub expected: String,
}

id_enum! {
    /// What happened, independent of the syscall variant (`enum pg_kind`).
    EventKind: u16 {
        /// A program was executed.
        Exec = 1 => "exec",
        /// A new process was created.
        Fork = 2 => "fork",
        /// A process exited.
        Exit = 3 => "exit",
        /// A file was opened or created.
        Open = 4 => "open",
        /// A file or directory was removed.
        Unlink = 5 => "unlink",
        /// A file was renamed.
        Rename = 6 => "rename",
        /// File mode changed.
        Chmod = 7 => "chmod",
        /// File owner changed.
        Chown = 8 => "chown",
        /// A hard link was created.
        Link = 9 => "link",
        /// A symbolic link was created.
        Symlink = 10 => "symlink",
        /// A directory was created.
        Mkdir = 11 => "mkdir",
        /// An outbound connection.
        Connect = 12 => "connect",
        /// An inbound connection accepted.
        Accept = 13 => "accept",
        /// A socket was bound.
        Bind = 14 => "bind",
        /// A socket started listening.
        Listen = 15 => "listen",
        /// User ids changed.
        Setuid = 16 => "setuid",
        /// Group ids changed.
        Setgid = 17 => "setgid",
        /// Capabilities changed.
        Capset = 18 => "capset",
        /// ptrace was called.
        Ptrace = 19 => "ptrace",
        /// A filesystem was mounted.
        Mount = 20 => "mount",
        /// A filesystem was unmounted.
        Umount = 21 => "umount",
        /// Namespaces were unshared.
        Unshare = 22 => "unshare",
        /// A namespace was joined.
        Setns = 23 => "setns",
        /// An anonymous memory file was created.
        MemfdCreate = 24 => "memfd_create",
        /// A kernel module load was attempted.
        ModuleLoad = 25 => "module_load",
        /// The bpf() syscall was called.
        Bpf = 26 => "bpf",
        /// A socket was created.
        Socket = 27 => "socket",
        /// Data was sent to an explicit destination (unconnected UDP, raw).
        Sendto = 28 => "sendto",
        /// A userfaultfd was created.
        Userfaultfd = 29 => "userfaultfd",
        /// A batch of raw syscall ids of one thread (the opt-in stream the
        /// anomaly model scores; not a behaviour rules match on).
        Syscalls = 30 => "syscalls",
    }
}

id_enum! {
    /// Counter categories (`enum pg_category`).
    Category: u32 {
        /// exec, fork, exit.
        Process = 0 => "process",
        /// File operations.
        File = 1 => "file",
        /// Socket operations.
        Network = 2 => "network",
        /// Credential changes and ptrace.
        Privilege = 3 => "privilege",
        /// Mounts and namespaces.
        Namespace = 4 => "namespace",
        /// memfd, modules, bpf.
        Kernel = 5 => "kernel",
    }
}

impl EventKind {
    /// The counter category of this kind.
    pub fn category(self) -> Category {
        use EventKind::*;
        match self {
            Exec | Fork | Exit => Category::Process,
            Open | Unlink | Rename | Chmod | Chown | Link | Symlink | Mkdir => Category::File,
            Connect | Accept | Bind | Listen | Socket | Sendto => Category::Network,
            Setuid | Setgid | Capset | Ptrace => Category::Privilege,
            Mount | Umount | Unshare | Setns => Category::Namespace,
            MemfdCreate | ModuleLoad | Bpf | Userfaultfd | Syscalls => Category::Kernel,
        }
    }
}

id_enum! {
    /// The syscall behind an event (`enum pg_syscall`); names match Falco's `evt.type`.
    Syscall: u16 {
        /// open(2)
        Open = 1 => "open",
        /// openat(2)
        Openat = 2 => "openat",
        /// openat2(2)
        Openat2 = 3 => "openat2",
        /// creat(2)
        Creat = 4 => "creat",
        /// unlink(2)
        Unlink = 5 => "unlink",
        /// unlinkat(2)
        Unlinkat = 6 => "unlinkat",
        /// rmdir(2)
        Rmdir = 7 => "rmdir",
        /// rename(2)
        Rename = 8 => "rename",
        /// renameat(2)
        Renameat = 9 => "renameat",
        /// renameat2(2)
        Renameat2 = 10 => "renameat2",
        /// chmod(2)
        Chmod = 11 => "chmod",
        /// fchmod(2)
        Fchmod = 12 => "fchmod",
        /// fchmodat(2)
        Fchmodat = 13 => "fchmodat",
        /// fchmodat2(2)
        Fchmodat2 = 14 => "fchmodat2",
        /// chown(2)
        Chown = 15 => "chown",
        /// lchown(2)
        Lchown = 16 => "lchown",
        /// fchown(2)
        Fchown = 17 => "fchown",
        /// fchownat(2)
        Fchownat = 18 => "fchownat",
        /// link(2)
        Link = 19 => "link",
        /// linkat(2)
        Linkat = 20 => "linkat",
        /// symlink(2)
        Symlink = 21 => "symlink",
        /// symlinkat(2)
        Symlinkat = 22 => "symlinkat",
        /// mkdir(2)
        Mkdir = 23 => "mkdir",
        /// mkdirat(2)
        Mkdirat = 24 => "mkdirat",
        /// connect(2)
        Connect = 25 => "connect",
        /// accept(2)
        Accept = 26 => "accept",
        /// accept4(2)
        Accept4 = 27 => "accept4",
        /// bind(2)
        Bind = 28 => "bind",
        /// listen(2)
        Listen = 29 => "listen",
        /// setuid(2)
        Setuid = 30 => "setuid",
        /// setreuid(2)
        Setreuid = 31 => "setreuid",
        /// setresuid(2)
        Setresuid = 32 => "setresuid",
        /// setgid(2)
        Setgid = 33 => "setgid",
        /// setregid(2)
        Setregid = 34 => "setregid",
        /// setresgid(2)
        Setresgid = 35 => "setresgid",
        /// capset(2)
        Capset = 36 => "capset",
        /// ptrace(2)
        Ptrace = 37 => "ptrace",
        /// mount(2)
        Mount = 38 => "mount",
        /// umount2(2)
        Umount2 = 39 => "umount2",
        /// unshare(2)
        Unshare = 40 => "unshare",
        /// setns(2)
        Setns = 41 => "setns",
        /// memfd_create(2)
        MemfdCreate = 42 => "memfd_create",
        /// init_module(2)
        InitModule = 43 => "init_module",
        /// finit_module(2)
        FinitModule = 44 => "finit_module",
        /// bpf(2)
        Bpf = 45 => "bpf",
        /// execve(2)
        Execve = 46 => "execve",
        /// socket(2)
        Socket = 47 => "socket",
        /// sendto(2) with a destination address
        Sendto = 48 => "sendto",
        /// sendmsg(2) with a destination address
        Sendmsg = 49 => "sendmsg",
        /// userfaultfd(2)
        Userfaultfd = 50 => "userfaultfd",
    }
}

impl Syscall {
    /// The event kind this syscall produces.
    pub fn kind(self) -> EventKind {
        use EventKind as K;
        use Syscall as S;
        match self {
            S::Open | S::Openat | S::Openat2 | S::Creat => K::Open,
            S::Unlink | S::Unlinkat | S::Rmdir => K::Unlink,
            S::Rename | S::Renameat | S::Renameat2 => K::Rename,
            S::Chmod | S::Fchmod | S::Fchmodat | S::Fchmodat2 => K::Chmod,
            S::Chown | S::Lchown | S::Fchown | S::Fchownat => K::Chown,
            S::Link | S::Linkat => K::Link,
            S::Symlink | S::Symlinkat => K::Symlink,
            S::Mkdir | S::Mkdirat => K::Mkdir,
            S::Connect => K::Connect,
            S::Accept | S::Accept4 => K::Accept,
            S::Bind => K::Bind,
            S::Listen => K::Listen,
            S::Setuid | S::Setreuid | S::Setresuid => K::Setuid,
            S::Setgid | S::Setregid | S::Setresgid => K::Setgid,
            S::Capset => K::Capset,
            S::Ptrace => K::Ptrace,
            S::Mount => K::Mount,
            S::Umount2 => K::Umount,
            S::Unshare => K::Unshare,
            S::Setns => K::Setns,
            S::MemfdCreate => K::MemfdCreate,
            S::InitModule | S::FinitModule => K::ModuleLoad,
            S::Bpf => K::Bpf,
            S::Execve => K::Exec,
            S::Socket => K::Socket,
            S::Sendto | S::Sendmsg => K::Sendto,
            S::Userfaultfd => K::Userfaultfd,
        }
    }
}
