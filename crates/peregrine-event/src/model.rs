//! Host state shared by the state layer (which builds it) and the rule
//! engine (which reads it): processes and containers.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A process as the rule engine sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessView {
    /// Thread group id.
    pub pid: u32,
    /// Parent tgid.
    pub ppid: u32,
    /// Task name (comm).
    pub name: String,
    /// Full executable path.
    pub exepath: String,
    /// argv (argv[0] first).
    pub args: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// Controlling tty, 0 if none.
    pub tty: u32,
    /// Session id.
    pub sid: u32,
    /// Process group id.
    pub pgid: u32,
    /// Pid in its namespace.
    pub vpid: u32,
    /// Start time (ns since epoch), 0 if unknown.
    pub start_ns: u64,
    /// Effective capabilities.
    pub cap_effective: u64,
    /// Permitted capabilities.
    pub cap_permitted: u64,
    /// Inheritable capabilities.
    pub cap_inheritable: u64,
    /// Environment, when known; shared with the parent (or the process's
    /// previous image) when unchanged, as it nearly always is.
    pub env: std::sync::Arc<Vec<String>>,
    /// `name args…` as Falco renders `proc.cmdline`; a cache the state layer
    /// fills once per process (computed on each use when empty).
    pub cmdline: String,
    /// The executable is in the container's overlayfs upper layer (see
    /// [`crate::Exec::exe_upper_layer`]); `None` when unknown.
    pub exe_upper_layer: Option<bool>,
    /// The executable's ctime and mtime at exec (ns since the epoch).
    pub exe_times: Option<(u64, u64)>,
}

/// Container metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerView {
    /// Full container id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Image as given (`repo:tag`).
    pub image: String,
    /// Image repository.
    pub image_repository: String,
    /// Image tag.
    pub image_tag: String,
    /// Image digest / id.
    pub image_id: String,
    /// Privileged container.
    pub privileged: bool,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Mounts as (source, destination, mode, rw).
    pub mounts: Vec<(String, String, String, bool)>,
    /// Start time, ns since epoch.
    pub start_ns: u64,
    /// Runtime (docker, containerd, cri-o).
    pub runtime: String,
    /// The Kubernetes workload owning the container's pod, from the API
    /// server (`None`: not a pod, not known yet, or not allowed).
    pub workload: Option<Workload>,
}

/// One owner reference of a Kubernetes object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRef {
    /// Kind (`ReplicaSet`, `Deployment`, `DaemonSet`, `Job`, …).
    pub kind: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
}

/// The controller chain above a pod, its direct controller first
/// (e.g. ReplicaSet, then Deployment).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Workload {
    /// Controllers, the pod's own first; empty for a bare pod.
    pub chain: Vec<OwnerRef>,
}

impl Workload {
    /// The top controller (what users call the workload).
    pub fn top(&self) -> Option<&OwnerRef> {
        self.chain.last()
    }

    /// The controller of `kind` in the chain.
    pub fn of_kind(&self, kind: &str) -> Option<&OwnerRef> {
        self.chain.iter().find(|o| o.kind == kind)
    }
}

/// `name args…` as Falco renders `proc.cmdline`.
pub fn cmdline_of(name: &str, args: &[String]) -> String {
    let mut s = name.to_string();
    for a in args.iter().skip(1) {
        s.push(' ');
        s.push_str(a);
    }
    s
}
