//! `#[repr(C)]` mirrors of `bpf/include/peregrine_event.h`.
//!
//! These types are the only Rust description of what the kernel writes. The
//! test `tests/abi_layout.rs` compiles the C header with the host compiler
//! and checks every size and field offset against these definitions.

/// Version of the kernel/user ABI (`PG_ABI_VERSION`).
pub const ABI_VERSION: u32 = 2;
/// Length of `comm` (`PG_COMM_LEN`).
pub const COMM_LEN: usize = 16;
/// Length of the cgroup leaf name (`PG_CGROUP_NAME_LEN`).
pub const CGROUP_NAME_LEN: usize = 128;
/// Longest path resolved in the kernel (`PG_PATH_MAX`).
pub const PATH_MAX: usize = 4096;
/// Longest user string copied (`PG_STR_MAX`).
pub const STR_MAX: usize = 1024;
/// Longest argv copied (`PG_ARGS_MAX`).
pub const ARGS_MAX: usize = 4096;
/// Longest prefix in the path prefix filter (`PG_PREFIX_MAX`).
pub const PREFIX_MAX: usize = 256;
/// Number of kinds (`PG_KIND_MAX`).
pub const KIND_MAX: u16 = 31;
/// Number of counter categories (`PG_CAT_MAX`).
pub const CAT_MAX: u32 = 6;

/// `PG_EXEC_F_ARGS_TRUNCATED`.
pub const EXEC_F_ARGS_TRUNCATED: u32 = 1;
/// `PG_CFG_SCOPE_PIDS`.
pub const CFG_SCOPE_PIDS: u32 = 1;
/// `PG_CFG_SCOPE_CGROUPS`.
pub const CFG_SCOPE_CGROUPS: u32 = 2;
/// `PG_CFG_COMM_DENY`.
pub const CFG_COMM_DENY: u32 = 4;
/// `PG_CFG_COMM_ALLOW`.
pub const CFG_COMM_ALLOW: u32 = 8;
/// `PG_CFG_PATH_PREFIX`.
pub const CFG_PATH_PREFIX: u32 = 16;
/// `PG_ENV_MAX`: environment bytes copied at exec.
pub const ENV_MAX: usize = 4096;
/// `PG_CFG_EXEC_ENV`.
pub const CFG_EXEC_ENV: u32 = 64;
/// `PG_EXEC_F_ENV_TRUNCATED`.
pub const EXEC_F_ENV_TRUNCATED: u32 = 4;
/// `PG_CFG_ALL_SOCKETS`.
pub const CFG_ALL_SOCKETS: u32 = 32;
/// `PG_CFG_STREAM_COMM`: stream syscall ids of the comms in `STREAM_COMMS`.
pub const CFG_STREAM_COMM: u32 = 128;
/// `PG_CFG_STREAM_CGROUP`: stream syscall ids of the cgroups in `STREAM_CGROUPS`.
pub const CFG_STREAM_CGROUP: u32 = 256;
/// `PG_SYSIDS_MAX`: syscall ids in one [`PgSysidsEvent`].
pub const SYSIDS_MAX: usize = 256;
/// `PG_SYSIDS_FLUSH_NS`: a partial batch older than this is written at the
/// thread's next syscall.
pub const SYSIDS_FLUSH_NS: u64 = 200_000_000;
/// `PG_SYSIDS_F_EXIT`: the thread exited after the batch's last id.
pub const SYSIDS_F_EXIT: u16 = 1;
/// `PG_SYSIDS_F_EXEC`: the thread exec'd after the batch's last id.
pub const SYSIDS_F_EXEC: u16 = 2;

/// `struct pg_str`: a string in the data region after a record.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct PgStr {
    /// Offset from the start of the data region.
    pub off: u16,
    /// Length in bytes, without a NUL.
    pub len: u16,
}

/// `struct pg_header`: common header of every record.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PgHeader {
    /// CLOCK_BOOTTIME nanoseconds.
    pub ts_ns: u64,
    /// cgroup v2 id.
    pub cgroup_id: u64,
    /// Total record size.
    pub size: u32,
    /// `enum pg_kind`.
    pub kind: u16,
    /// `enum pg_syscall`.
    pub syscall: u16,
    /// Thread group id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Parent thread group id.
    pub ppid: u32,
    /// Pid in the task's pid namespace.
    pub vpid: u32,
    /// Real uid.
    pub uid: u32,
    /// Real gid.
    pub gid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Effective gid.
    pub egid: u32,
    /// Audit login uid.
    pub loginuid: u32,
    /// Pid namespace inode.
    pub pid_ns: u32,
    /// Mount namespace inode.
    pub mnt_ns: u32,
    /// Network namespace inode.
    pub net_ns: u32,
    /// Task comm.
    pub comm: [u8; COMM_LEN],
    /// Leaf name of the task's cgroup v2.
    pub cgroup: [u8; CGROUP_NAME_LEN],
}

/// `struct pg_exec_event`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PgExecEvent {
    /// Common header.
    pub hdr: PgHeader,
    /// Effective capabilities.
    pub cap_effective: u64,
    /// Permitted capabilities.
    pub cap_permitted: u64,
    /// Inheritable capabilities.
    pub cap_inheritable: u64,
    /// Inode of the executable.
    pub exe_ino: u64,
    /// Controlling tty, `(major << 20) | minor`, 0 if none.
    pub tty: u32,
    /// Session id.
    pub sid: u32,
    /// Process group id.
    pub pgid: u32,
    /// NUL separated environment (only with [`CFG_EXEC_ENV`]; zero in
    /// records from before, where this was reserved).
    pub env: PgStr,
    /// `PG_EXEC_F_*`.
    pub flags: u32,
    /// Device of the executable.
    pub exe_dev: u32,
    /// Filename given to execve.
    pub filename: PgStr,
    /// NUL separated argv.
    pub args: PgStr,
    /// Working directory.
    pub cwd: PgStr,
    /// Executable path.
    pub exe: PgStr,
}

/// `struct pg_fork_event`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PgForkEvent {
    /// Common header (describes the child).
    pub hdr: PgHeader,
    /// Parent tgid.
    pub parent_pid: u32,
    /// Parent thread id.
    pub parent_tid: u32,
}

/// `struct pg_exit_event`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PgExitEvent {
    /// Common header.
    pub hdr: PgHeader,
    /// Exit status.
    pub code: i32,
    /// Terminating signal.
    pub signal: i32,
}

/// `struct pg_sock`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct PgSock {
    /// Address family.
    pub family: u16,
    /// Socket type.
    pub type_: u16,
    /// Protocol (0 when unknown).
    pub protocol: u16,
    /// Local port (host order).
    pub lport: u16,
    /// Remote port (host order).
    pub rport: u16,
    /// Padding.
    pub _pad: [u16; 3],
    /// Local address.
    pub laddr: [u8; 16],
    /// Remote address.
    pub raddr: [u8; 16],
}

/// `struct pg_syscall_event`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PgSyscallEvent {
    /// Common header.
    pub hdr: PgHeader,
    /// Syscall return value.
    pub ret: i64,
    /// Raw syscall arguments.
    pub args: [u64; 6],
    /// Values read in the kernel (meaning per syscall).
    pub aux: [u64; 4],
    /// Socket tuple.
    pub sock: PgSock,
    /// Strings (meaning per syscall).
    pub str_: [PgStr; 4],
}

/// `struct pg_config`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct PgConfig {
    /// Bit `1 << kind` set: kind wanted.
    pub kind_mask: u64,
    /// Sensor's own tgid.
    pub self_tgid: u32,
    /// `PG_CFG_*`.
    pub flags: u32,
    /// Force a wakeup once this many bytes wait.
    pub wakeup_bytes: u32,
    /// Padding.
    pub _pad: u32,
}

/// `struct pg_counters`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct PgCounters {
    /// Records written.
    pub emitted: u64,
    /// Records lost: ring buffer full.
    pub dropped: u64,
    /// Records rejected by a kernel filter.
    pub filtered: u64,
    /// Padding.
    pub _pad: u64,
}

/// `struct pg_path_key`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PgPathKey {
    /// Prefix length in bits.
    pub prefixlen: u32,
    /// Path bytes.
    pub path: [u8; PREFIX_MAX],
}

/// `struct pg_sysids_event`: a batch of raw syscall ids of one thread
/// (`PG_KIND_SYSCALLS`). The record is cut after `ids[count - 1]`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PgSysidsEvent {
    /// Common header (`ts_ns` is the flush time).
    pub hdr: PgHeader,
    /// Ids in `ids`.
    pub count: u16,
    /// `PG_SYSIDS_F_*`.
    pub flags: u16,
    /// Padding.
    pub _pad: u32,
    /// Raw x86_64 syscall numbers, in call order.
    pub ids: [u16; SYSIDS_MAX],
}
