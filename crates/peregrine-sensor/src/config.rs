//! What the sensor is asked to capture.

use peregrine_event::EventKind;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// Kernel-side filters: only events passing them leave the kernel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KernelFilter {
    /// File events only for paths under one of these prefixes (empty: all).
    pub path_prefixes: Vec<String>,
    /// Only events of tasks whose comm is listed (empty: all).
    pub comm_allow: Vec<String>,
    /// Never events of tasks whose comm is listed.
    pub comm_deny: Vec<String>,
    /// Only these processes and their descendants (None: all). With
    /// `cgroups` too, a task in either scope passes.
    pub pids: Option<Vec<u32>>,
    /// Only these cgroup v2 ids (None: all).
    pub cgroups: Option<Vec<u64>>,
    /// Report socket(2) of AF_UNIX/AF_INET/AF_INET6 too. Off by default:
    /// every connection creates one, and rules look at the other families
    /// (AF_PACKET, AF_NETLINK, …); those are dropped at syscall entry.
    pub all_sockets: bool,
    /// Copy the environment of every exec (up to 4 KiB; rules that read
    /// `proc.env` need it, others should not pay for it).
    pub exec_env: bool,
    /// Stream raw syscall ids (the anomaly model's input) of tasks with
    /// these comms. With `stream_cgroups` too, a task in either passes.
    /// Both empty: no stream, and its programs are not attached.
    pub stream_comms: Vec<String>,
    /// Stream raw syscall ids of tasks in these cgroup v2 ids.
    pub stream_cgroups: Vec<u64>,
    /// The rule-derived open filter (see [`OpenFilter`]).
    pub open: OpenFilter,
}

/// Which successful opens leave the kernel, by access mode: `None` lets
/// every open of that mode through, `Some(prefixes)` only those whose
/// kernel-resolved path starts with one of the prefixes (an empty list:
/// none). Failed opens always leave the kernel. The agent derives the
/// prefixes from the loaded rules
/// (`peregrine_rules::Engine::open_path_prefixes`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenFilter {
    /// Read-only opens (`O_RDONLY`, and the access mode 3).
    pub read: Option<Vec<String>>,
    /// Opens for writing (`O_WRONLY`, `O_RDWR`, `creat`).
    pub write: Option<Vec<String>>,
}

impl OpenFilter {
    /// Does the filter let a successful open of `path` through (`write`:
    /// opened for writing)? The kernel's decision, for tests and replays:
    /// both the path and the prefixes are cut at
    /// [`peregrine_event::abi::PREFIX_MAX`] bytes as the kernel cuts them.
    pub fn passes(&self, path: &str, write: bool) -> bool {
        let set = if write { &self.write } else { &self.read };
        let Some(prefixes) = set else {
            return true;
        };
        let cut = |b: &[u8]| b[..b.len().min(peregrine_event::abi::PREFIX_MAX)].to_vec();
        let p = cut(path.as_bytes());
        prefixes
            .iter()
            .any(|x| !x.is_empty() && p.starts_with(&cut(x.as_bytes())))
    }
}

impl KernelFilter {
    /// Is any workload selected for the syscall id stream?
    pub fn streams(&self) -> bool {
        !self.stream_comms.is_empty() || !self.stream_cgroups.is_empty()
    }
}

/// Sensor configuration.
#[derive(Debug, Clone)]
pub struct SensorConfig {
    /// Event kinds wanted. Programs for other kinds are not attached at all.
    pub kinds: BTreeSet<EventKind>,
    /// Kernel filters.
    pub filter: KernelFilter,
    /// Ring buffer size in bytes (power of two, at least one page).
    pub ring_bytes: u32,
    /// A wakeup is forced once this many bytes wait in the ring.
    pub wakeup_bytes: u32,
    /// BTF file to use instead of `/sys/kernel/btf/vmlinux`.
    pub btf_path: Option<PathBuf>,
    /// Longest time an event waits in the ring before user space reads it.
    pub poll_interval: Duration,
    /// Also record syscalls made through the i386 ABI (`int 0x80`, 32-bit
    /// programs), which the per-syscall tracepoints never see: one program
    /// on the raw `sys_exit` tracepoint that every syscall passes through
    /// (a load and a test for a native one). On by default: off leaves an
    /// evasion route open.
    pub compat_syscalls: bool,
}

impl Default for SensorConfig {
    fn default() -> Self {
        SensorConfig {
            kinds: EventKind::ALL.iter().copied().collect(),
            filter: KernelFilter::default(),
            ring_bytes: 8 << 20,
            wakeup_bytes: 256 << 10,
            btf_path: None,
            poll_interval: Duration::from_millis(10),
            compat_syscalls: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OpenFilter;

    #[test]
    fn open_filter_decides_like_the_kernel() {
        let f = OpenFilter {
            read: Some(vec!["/etc/".into(), "/root/.ssh".into()]),
            write: None,
        };
        assert!(f.passes("/etc/shadow", false));
        assert!(f.passes("/root/.ssh/id_rsa", false));
        assert!(!f.passes("/tmp/x", false));
        assert!(!f.passes("/etc", false), "a prefix longer than the path");
        assert!(f.passes("/tmp/x", true), "no write prefixes: every write");
        let none = OpenFilter {
            read: Some(vec![]),
            write: Some(vec![String::new()]),
        };
        assert!(!none.passes("/etc/shadow", false));
        assert!(
            !none.passes("/etc/shadow", true),
            "an empty prefix matches nothing"
        );
        // Cut at PREFIX_MAX like the kernel's key: a long prefix still
        // passes paths sharing its first PREFIX_MAX bytes.
        let long = format!("/{}", "a".repeat(400));
        let cut = OpenFilter {
            read: Some(vec![format!("{long}/x")]),
            write: None,
        };
        assert!(cut.passes(&format!("{long}/y"), false));
    }
}
