//! Attaching to processes that already run (`PTRACE_SEIZE`): given pids
//! and their descendants, or (a pod sidecar with a shared process
//! namespace) every process tree of the namespace but our own, found
//! again periodically so that processes started later (`kubectl exec`) are
//! followed too.

use crate::{spawn, task, TraceError, Tracer};
use std::collections::{HashMap, HashSet};

/// Which processes to attach to.
#[derive(Debug, Clone)]
pub enum Scope {
    /// These processes and their descendants.
    Pids(Vec<u32>),
    /// Every process of the pid namespace except the tracer and its
    /// ancestors (and a pod's `pause` process).
    All,
}

/// Parent → children of every process.
fn children_map() -> HashMap<u32, Vec<u32>> {
    let mut map: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, ppid) in processes() {
        map.entry(ppid).or_default().push(pid);
    }
    map
}

/// (pid, ppid) of every process in `/proc`.
fn processes() -> Vec<(u32, u32)> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 1..];
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect()
}

/// `roots` and their descendants, each once.
fn with_descendants(roots: &[u32]) -> Vec<u32> {
    let map = children_map();
    let mut out: Vec<u32> = Vec::new();
    let mut seen = HashSet::new();
    let mut queue: Vec<u32> = roots.to_vec();
    while let Some(p) = queue.pop() {
        if !seen.insert(p) || out.len() > 100_000 {
            continue;
        }
        out.push(p);
        queue.extend(map.get(&p).into_iter().flatten());
    }
    out
}

/// The tracer itself and its ancestors: never attached.
fn own_lineage() -> HashSet<u32> {
    let mut own = HashSet::new();
    let mut pid = std::process::id();
    while pid != 0 && own.insert(pid) {
        pid = task::read(pid).map(|i| i.ppid).unwrap_or(0);
    }
    own
}

/// Attaches processes in scope and remembers what it could not attach.
#[derive(Debug)]
pub struct Attacher {
    scope: Scope,
    own: HashSet<u32>,
    refused: HashSet<u32>,
}

impl Attacher {
    /// An attacher for `scope`.
    pub fn new(scope: Scope) -> Attacher {
        Attacher {
            scope,
            own: own_lineage(),
            refused: HashSet::new(),
        }
    }

    /// True when the scope is looked at again while tracing.
    pub fn rescans(&self) -> bool {
        matches!(self.scope, Scope::All)
    }

    fn roots(&self) -> Vec<u32> {
        match &self.scope {
            Scope::Pids(p) => p.clone(),
            // Every process of the namespace (a pod's containers, their
            // orphans, `kubectl exec` sessions), but the pod's `pause`.
            Scope::All => processes()
                .into_iter()
                .map(|(pid, _)| pid)
                .filter(|pid| !self.own.contains(pid))
                .filter(|pid| {
                    let comm =
                        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                    comm.trim() != "pause"
                })
                .collect(),
        }
    }

    /// Seize every task in scope not traced yet; an error only for a pid
    /// named explicitly that cannot be attached.
    pub fn attach(&mut self, tracer: &mut Tracer) -> Result<usize, TraceError> {
        let named: HashSet<u32> = match &self.scope {
            Scope::Pids(p) => p.iter().copied().collect(),
            Scope::All => HashSet::new(),
        };
        let traced: HashSet<u32> = tracer.tasks().collect();
        let opts = spawn::options(false, false);
        let mut n = 0;
        for pid in with_descendants(&self.roots()) {
            if self.own.contains(&pid) || self.refused.contains(&pid) {
                continue;
            }
            let tasks = match std::fs::read_dir(format!("/proc/{pid}/task")) {
                Ok(t) => t,
                Err(e) if named.contains(&pid) => return Err(TraceError::Attach(pid, e)),
                Err(_) => continue,
            };
            for t in tasks.flatten() {
                let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                if traced.contains(&tid) {
                    continue;
                }
                // SAFETY: plain ptrace requests on a pid.
                let rc = unsafe {
                    libc::ptrace(libc::PTRACE_SEIZE, tid as i32, 0, opts as libc::c_long)
                };
                if rc != 0 {
                    let e = std::io::Error::last_os_error();
                    if named.contains(&pid) {
                        return Err(TraceError::Attach(pid, e));
                    }
                    if e.raw_os_error() != Some(libc::EPERM) {
                        continue; // gone, or already ours
                    }
                    tracing::warn!("cannot attach to pid {pid}: {e}");
                    self.refused.insert(pid);
                    break;
                }
                // SAFETY: as above.
                unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid as i32, 0, 0) };
                tracer.adopt_seized(tid, pid);
                n += 1;
            }
        }
        Ok(n)
    }
}
