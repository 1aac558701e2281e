//! The eBPF programs in the object and how each is attached.

use peregrine_event::{EventKind, Syscall};

/// How a program attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    /// A classic tracepoint `category/name`.
    TracePoint {
        /// Tracepoint category.
        category: &'static str,
        /// Tracepoint name.
        name: String,
    },
    /// A raw tracepoint.
    RawTracePoint(&'static str),
}

/// What a program produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Produces {
    /// Records of one kind.
    Kind(EventKind),
    /// The opt-in syscall id stream (attached only with a selection).
    Stream,
    /// The dispatcher of syscalls made through the i386 ABI (`int 0x80`),
    /// which the per-syscall tracepoints never see: it tail-calls the
    /// handlers below.
    CompatSyscalls,
    /// The handler of one i386-ABI syscall: loaded into `COMPAT_PROGS` at
    /// the syscall's id, never attached.
    CompatHandler(Syscall),
}

/// A program of the object, identified by its function name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSpec {
    /// Function name in `bpf/peregrine.bpf.c`.
    pub name: String,
    /// Where it attaches.
    pub hook: Hook,
    /// What it produces, which decides whether it is attached.
    pub produces: Produces,
    /// A refused required program fails the sensor; others are skipped.
    pub required: bool,
}

/// Describe a program of the object by its function name.
pub fn spec_for(name: &str) -> Option<ProgramSpec> {
    match name {
        "sched_process_exec" => Some(ProgramSpec {
            name: name.into(),
            hook: Hook::TracePoint {
                category: "sched",
                name: name.into(),
            },
            produces: Produces::Kind(EventKind::Exec),
            required: true,
        }),
        "sched_process_exit" => Some(ProgramSpec {
            name: name.into(),
            hook: Hook::TracePoint {
                category: "sched",
                name: name.into(),
            },
            produces: Produces::Kind(EventKind::Exit),
            required: true,
        }),
        "raw_sched_process_fork" => Some(ProgramSpec {
            name: name.into(),
            hook: Hook::RawTracePoint("sched_process_fork"),
            produces: Produces::Kind(EventKind::Fork),
            required: true,
        }),
        // The opt-in syscall id stream (attached only with a selection).
        "raw_sys_enter_stream" | "raw_stream_exec" | "raw_stream_exit" => Some(ProgramSpec {
            name: name.into(),
            hook: Hook::RawTracePoint(match name {
                "raw_sys_enter_stream" => "sys_enter",
                "raw_stream_exec" => "sched_process_exec",
                _ => "sched_process_exit",
            }),
            produces: Produces::Stream,
            required: false,
        }),
        "raw_sys_exit_compat" => Some(ProgramSpec {
            name: name.into(),
            hook: Hook::RawTracePoint("sys_exit"),
            produces: Produces::CompatSyscalls,
            required: false,
        }),
        _ if name.starts_with("compat_") => {
            let syscall: Syscall = name.strip_prefix("compat_")?.parse().ok()?;
            Some(ProgramSpec {
                name: name.into(),
                hook: Hook::RawTracePoint("sys_exit"),
                produces: Produces::CompatHandler(syscall),
                required: false,
            })
        }
        _ => {
            let sys = name.strip_prefix("sys_exit_")?;
            // The tracepoint of umount2(2) is named after its SYSCALL_DEFINE.
            let sys_id = if sys == "umount" { "umount2" } else { sys };
            let syscall: Syscall = sys_id.parse().ok()?;
            Some(ProgramSpec {
                name: name.into(),
                hook: Hook::TracePoint {
                    category: "syscalls",
                    name: name.into(),
                },
                produces: Produces::Kind(syscall.kind()),
                required: false,
            })
        }
    }
}
