//! The decision interface: what is asked ([`AccessRequest`]) and answered ([`Verdict`]).
use super::FailMode;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Which operation is being attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessKind {
    /// `execve`/`execveat` of the file (`FAN_OPEN_EXEC_PERM`).
    Exec,
    /// `open` of the file (`FAN_OPEN_PERM`).
    Open,
}

/// The process attempting the access, read from `/proc/<pid>` (best effort:
/// fields are empty when the process exits or `/proc` cannot be read).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProcessInfo {
    /// `comm` (the thread-group leader's name).
    pub comm: String,
    /// The current executable (for an exec: the binary being replaced).
    pub exe: String,
    /// Arguments of the current image.
    pub cmdline: Vec<String>,
    /// Parent process id.
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// Container id from `/proc/<pid>/cgroup` (Docker/containerd/CRI-O style), if any.
    pub container_id: Option<String>,
}

/// One permission request from the kernel.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccessRequest {
    /// Exec or open.
    pub kind: AccessKind,
    /// The file, as the kernel resolves the event's descriptor (inside a
    /// container: the container-relative path).
    pub path: PathBuf,
    /// Thread-group id of the process attempting it.
    pub pid: u32,
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub ino: u64,
    /// Modification time of the file, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// The process (filled in by the decision worker before `decide`).
    pub process: ProcessInfo,
}

/// A decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Let the operation proceed.
    pub allow: bool,
    /// The decision depends only on the file (and rule set), so it may be
    /// cached per (dev, inode, mtime, rule-set version).
    pub cacheable: bool,
}

impl Verdict {
    /// Allow, cacheable.
    pub const ALLOW: Verdict = Verdict {
        allow: true,
        cacheable: true,
    };
    /// Deny, cacheable.
    pub const DENY: Verdict = Verdict {
        allow: false,
        cacheable: true,
    };
}

/// Makes access decisions. The agent plugs its compiled rules in here.
pub trait Decider: Send + Sync {
    /// Decides one request. May be slow: the blocker answers at the timeout
    /// regardless, with [`Decider::fail_mode`].
    fn decide(&self, req: &AccessRequest) -> Verdict;

    /// What to answer if `decide` does not return in time. Called on the
    /// fanotify reader thread before the request is queued, with
    /// `req.process` still empty: it must be cheap and never block.
    /// `None` means the blocker's configured default.
    fn fail_mode(&self, _req: &AccessRequest) -> Option<FailMode> {
        None
    }
}

/// A decider denying a fixed set of paths (exact match), for tests and
/// standalone use; paths in `fail_closed` are denied when no decision arrives in time.
#[derive(Debug, Clone, Default)]
pub struct PathSetDecider {
    deny_exec: HashSet<PathBuf>,
    deny_open: HashSet<PathBuf>,
    fail_closed: HashSet<PathBuf>,
}

impl PathSetDecider {
    /// An empty decider (allows everything).
    pub fn new() -> Self {
        Self::default()
    }

    /// Denies executing `path`.
    pub fn deny_exec(mut self, path: impl AsRef<Path>) -> Self {
        self.deny_exec.insert(path.as_ref().to_path_buf());
        self
    }

    /// Denies opening `path`.
    pub fn deny_open(mut self, path: impl AsRef<Path>) -> Self {
        self.deny_open.insert(path.as_ref().to_path_buf());
        self
    }

    /// Fails closed for `path` when no decision arrives in time.
    pub fn fail_closed(mut self, path: impl AsRef<Path>) -> Self {
        self.fail_closed.insert(path.as_ref().to_path_buf());
        self
    }
}

impl Decider for PathSetDecider {
    fn decide(&self, req: &AccessRequest) -> Verdict {
        let set = match req.kind {
            AccessKind::Exec => &self.deny_exec,
            AccessKind::Open => &self.deny_open,
        };
        if set.contains(&req.path) {
            Verdict::DENY
        } else {
            Verdict::ALLOW
        }
    }

    fn fail_mode(&self, req: &AccessRequest) -> Option<FailMode> {
        self.fail_closed
            .contains(&req.path)
            .then_some(FailMode::Closed)
    }
}
