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
}

impl Default for SensorConfig {
    fn default() -> Self {
        SensorConfig {
            kinds: EventKind::ALL.iter().copied().collect(),
            filter: KernelFilter::default(),
            ring_bytes: 16 << 20,
            wakeup_bytes: 256 << 10,
            btf_path: None,
            poll_interval: Duration::from_millis(10),
        }
    }
}
