//! Peregrine host state: a bounded process table with ancestry.
//!
//! The table is seeded from `/proc` at start and kept current from exec,
//! fork and exit events. Exited processes stay for a grace period so that
//! late events still resolve; when the table is full the least recently
//! seen entries are evicted (and counted).
#![deny(missing_docs)]

mod procfs;

use peregrine_event::{Event, EventData};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

pub use procfs::read_process;

/// What the table knows about a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Thread group id.
    pub pid: u32,
    /// Parent thread group id.
    pub ppid: u32,
    /// Task name.
    pub comm: String,
    /// Executable path.
    pub exe: Option<String>,
    /// Arguments.
    pub args: Vec<String>,
    /// Working directory at exec.
    pub cwd: Option<String>,
    /// Real uid.
    pub uid: u32,
    /// cgroup v2 leaf name.
    pub cgroup: String,
    /// When the exit was seen.
    pub exited: Option<Instant>,
}

/// Counters describing the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Entries inserted.
    pub inserted: u64,
    /// Entries evicted because the table was full.
    pub evicted: u64,
    /// Exited entries removed after the grace period.
    pub expired: u64,
    /// Lookups that found no entry.
    pub misses: u64,
}

/// Bounded process table.
#[derive(Debug)]
pub struct ProcessTable {
    procs: HashMap<u32, (ProcInfo, u64)>,
    capacity: usize,
    grace: Duration,
    tick: u64,
    stats: TableStats,
}

impl ProcessTable {
    /// An empty table holding at most `capacity` processes.
    pub fn new(capacity: usize) -> ProcessTable {
        ProcessTable {
            procs: HashMap::with_capacity(capacity.min(65536)),
            capacity: capacity.max(16),
            grace: Duration::from_secs(5),
            tick: 0,
            stats: TableStats::default(),
        }
    }

    /// Set how long exited processes are kept.
    pub fn with_exit_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Load every process of `/proc`. Returns how many were read.
    pub fn seed_from_proc(&mut self) -> usize {
        self.seed_from(Path::new("/proc"))
    }

    /// Load every process of a procfs mounted at `root`.
    pub fn seed_from(&mut self, root: &Path) -> usize {
        let mut n = 0;
        for pid in procfs::list_pids(root) {
            if let Some(info) = procfs::read_process(root, pid) {
                self.insert(info);
                n += 1;
            }
        }
        n
    }

    /// Insert or replace a process.
    pub fn insert(&mut self, info: ProcInfo) {
        self.tick += 1;
        if self.procs.len() >= self.capacity && !self.procs.contains_key(&info.pid) {
            self.evict();
        }
        self.stats.inserted += 1;
        self.procs.insert(info.pid, (info, self.tick));
    }

    fn evict(&mut self) {
        // Drop the least recently seen tenth (exited first), amortising the scan.
        let n = (self.capacity / 10).max(1);
        let mut order: Vec<(bool, u64, u32)> = self
            .procs
            .values()
            .map(|(p, t)| (p.exited.is_none(), *t, p.pid))
            .collect();
        order.sort_unstable();
        for (_, _, pid) in order.into_iter().take(n) {
            self.procs.remove(&pid);
            self.stats.evicted += 1;
        }
    }

    /// Look a process up.
    pub fn get(&self, pid: u32) -> Option<&ProcInfo> {
        self.procs.get(&pid).map(|(p, _)| p)
    }

    /// The ancestors of `pid`, parent first (bounded, loop-safe).
    pub fn ancestors(&self, pid: u32) -> Vec<&ProcInfo> {
        let mut out = Vec::new();
        let mut cur = self.get(pid).map(|p| p.ppid);
        while let Some(ppid) = cur {
            if ppid == 0 || out.len() >= 64 {
                break;
            }
            match self.get(ppid) {
                Some(p) => {
                    cur = if p.ppid == p.pid { None } else { Some(p.ppid) };
                    out.push(p);
                }
                None => break,
            }
        }
        out
    }

    /// Update the table from an event and fill `event.process.exe`.
    pub fn observe(&mut self, ev: &mut Event) {
        self.tick += 1;
        let pid = ev.process.pid;
        match &ev.data {
            EventData::Exec(x) => {
                self.insert(ProcInfo {
                    pid,
                    ppid: ev.process.ppid,
                    comm: ev.process.comm.clone(),
                    exe: Some(x.exe.clone()),
                    args: x.args.clone(),
                    cwd: Some(x.cwd.clone()),
                    uid: ev.process.uid,
                    cgroup: ev.process.cgroup.clone(),
                    exited: None,
                });
            }
            EventData::Fork { parent_pid, .. } => {
                let parent = self.get(*parent_pid).cloned();
                let mut info = parent.unwrap_or(ProcInfo {
                    pid,
                    ppid: *parent_pid,
                    comm: ev.process.comm.clone(),
                    exe: None,
                    args: Vec::new(),
                    cwd: None,
                    uid: ev.process.uid,
                    cgroup: ev.process.cgroup.clone(),
                    exited: None,
                });
                info.pid = pid;
                info.ppid = *parent_pid;
                info.exited = None;
                self.insert(info);
            }
            EventData::Exit { .. } => {
                if let Some((p, _)) = self.procs.get_mut(&pid) {
                    p.exited = Some(Instant::now());
                }
            }
            _ => {}
        }
        let tick = self.tick;
        match self.procs.get_mut(&pid) {
            Some((p, t)) => {
                *t = tick;
                if ev.process.exe.is_none() {
                    ev.process.exe = p.exe.clone();
                }
            }
            None => {
                self.stats.misses += 1;
                // A process that predates us and was missed: read it now.
                if let Some(info) = procfs::read_process(Path::new("/proc"), pid) {
                    ev.process.exe = info.exe.clone();
                    self.insert(info);
                }
            }
        }
    }

    /// Remove exited processes older than the grace period.
    pub fn gc(&mut self) {
        let grace = self.grace;
        let before = self.procs.len();
        self.procs
            .retain(|_, (p, _)| p.exited.map(|t| t.elapsed() < grace).unwrap_or(true));
        self.stats.expired += (before - self.procs.len()) as u64;
    }

    /// Number of processes held.
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// Counters.
    pub fn stats(&self) -> TableStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pid: u32, ppid: u32) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            comm: format!("p{pid}"),
            exe: Some(format!("/bin/p{pid}")),
            args: vec![],
            cwd: None,
            uid: 0,
            cgroup: String::new(),
            exited: None,
        }
    }

    #[test]
    fn ancestry_walks_parents_and_stops_on_loops() {
        let mut t = ProcessTable::new(100);
        t.insert(info(1, 0));
        t.insert(info(10, 1));
        t.insert(info(20, 10));
        let a: Vec<u32> = t.ancestors(20).iter().map(|p| p.pid).collect();
        assert_eq!(a, vec![10, 1]);
        t.insert(info(30, 31));
        t.insert(info(31, 30));
        assert!(t.ancestors(30).len() <= 64);
    }

    #[test]
    fn capacity_is_enforced_with_eviction_counted() {
        let mut t = ProcessTable::new(100);
        for pid in 1..=1000 {
            t.insert(info(pid, 1));
        }
        assert!(t.len() <= 100);
        assert!(t.stats().evicted >= 900);
        assert!(t.get(1000).is_some(), "most recent entry kept");
    }

    #[test]
    fn seeds_itself_from_proc() {
        let mut t = ProcessTable::new(100_000);
        assert!(t.seed_from_proc() > 0);
        let me = t.get(std::process::id()).expect("own process present");
        assert!(me.exe.as_deref().unwrap_or("").contains("peregrine_state"));
    }
}
