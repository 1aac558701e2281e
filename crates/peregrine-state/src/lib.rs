//! Peregrine host state: a bounded process table with ancestry, and user
//! names.
//!
//! The table is seeded from `/proc` at start and kept current from exec,
//! fork and exit events. Exited processes stay for a grace period so that
//! late events still resolve; when the table is full the least recently seen
//! entries are evicted (and counted).
#![deny(missing_docs)]

pub mod bounded;
pub mod containerd;
mod containers;
pub mod docker;
pub mod enrich;
mod host;
pub mod kube;
pub mod overlay;
mod procfs;
mod runtime_events;
mod users;

use peregrine_event::{Event, EventData, ProcessView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use bounded::{BoundStats, BoundedContainers, DEFAULT_MAX_CONTAINERS};
pub use containers::{container_id, parse_inspect, split_image, ContainerCache, RuntimeError};
pub use host::{HostState, Observed, MAX_ANCESTRY};
pub use peregrine_event::model::cmdline_of;
pub use procfs::read_process;
pub use runtime_events::{parse_event_line, watch_docker, RuntimeUpdate, StreamAction};
pub use users::UserDb;

/// A process table entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// What rules see (shared with in-flight rule evaluations).
    pub view: Arc<ProcessView>,
    /// cgroup v2 leaf name (container id for containers).
    pub cgroup: String,
    /// When the exit was seen.
    pub exited: Option<Instant>,
    tick: u64,
    /// Real and effective uid as of the process's latest event: what a
    /// setuid-family call changes from (its record carries the new ids).
    ids: Option<(u32, u32)>,
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
    /// Events whose process was unknown.
    pub misses: u64,
}

/// Bounded process table.
#[derive(Debug)]
pub struct ProcessTable {
    procs: HashMap<u32, Entry>,
    capacity: usize,
    grace: Duration,
    tick: u64,
    stats: TableStats,
    proc_root: PathBuf,
    boot_ns: u64,
}

impl ProcessTable {
    /// An empty table holding at most `capacity` processes.
    pub fn new(capacity: usize) -> ProcessTable {
        let proc_root = PathBuf::from("/proc");
        ProcessTable {
            procs: HashMap::new(),
            capacity: capacity.max(16),
            grace: Duration::from_secs(5),
            tick: 0,
            stats: TableStats::default(),
            boot_ns: procfs::boot_time_ns(&proc_root),
            proc_root,
        }
    }

    /// Set how long exited processes are kept.
    pub fn with_exit_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Load every process of `/proc`. Returns how many were read.
    pub fn seed_from_proc(&mut self) -> usize {
        let root = self.proc_root.clone();
        self.seed_from(&root)
    }

    /// Load every process of a procfs mounted at `root`.
    pub fn seed_from(&mut self, root: &Path) -> usize {
        let mut n = 0;
        for pid in procfs::list_pids(root) {
            if let Some((view, cgroup, ids)) = procfs::read_process_ids(root, pid, self.boot_ns) {
                self.insert(view, cgroup);
                self.set_ids(pid, ids);
                n += 1;
            }
        }
        n
    }

    /// Insert or replace a process.
    pub fn insert(&mut self, view: ProcessView, cgroup: String) {
        self.tick += 1;
        if self.procs.len() >= self.capacity && !self.procs.contains_key(&view.pid) {
            self.evict();
        }
        self.stats.inserted += 1;
        self.procs.insert(
            view.pid,
            Entry {
                view: Arc::new(view),
                cgroup,
                exited: None,
                tick: self.tick,
                ids: None,
            },
        );
    }

    fn set_ids(&mut self, pid: u32, ids: Option<(u32, u32)>) {
        if let Some(e) = self.procs.get_mut(&pid) {
            e.ids = ids;
        }
    }

    /// Real and effective uid of a process as of its latest event (or as
    /// read from `/proc` at seeding), if known.
    pub fn ids(&self, pid: u32) -> Option<(u32, u32)> {
        self.procs.get(&pid).and_then(|e| e.ids)
    }

    fn evict(&mut self) {
        // Drop the least recently seen tenth (exited first), amortising the scan.
        let n = (self.capacity / 10).max(1);
        let mut order: Vec<(bool, u64, u32)> = self
            .procs
            .values()
            .map(|e| (e.exited.is_none(), e.tick, e.view.pid))
            .collect();
        order.sort_unstable();
        for (_, _, pid) in order.into_iter().take(n) {
            self.procs.remove(&pid);
            self.stats.evicted += 1;
        }
    }

    /// Every live (not exited) process with its cgroup leaf name.
    pub fn snapshot(&self) -> Vec<(ProcessView, String)> {
        self.procs
            .values()
            .filter(|e| e.exited.is_none())
            .map(|e| ((*e.view).clone(), e.cgroup.clone()))
            .collect()
    }

    /// The environment of a new image: the same allocation as the process's
    /// previous image or its parent when equal (the usual case), else new.
    fn shared_env(&self, pid: u32, ppid: u32, env: &[String]) -> Arc<Vec<String>> {
        [pid, ppid]
            .iter()
            .filter_map(|p| self.get(*p))
            .find(|v| v.env.as_slice() == env)
            .map(|v| v.env.clone())
            .unwrap_or_else(|| Arc::new(env.to_vec()))
    }

    /// Look a process up.
    pub fn get(&self, pid: u32) -> Option<&ProcessView> {
        self.procs.get(&pid).map(|e| &*e.view)
    }

    /// `pid` and its ancestors (itself first, at most `max`), as shared
    /// handles: a snapshot of the ancestry that stays valid while the table
    /// changes (rule workers evaluate it on other threads).
    pub fn chain(&self, pid: u32, max: usize) -> Vec<Arc<ProcessView>> {
        let mut out = Vec::with_capacity(8);
        let Some(mut cur) = self.procs.get(&pid) else {
            return out;
        };
        while out.len() < max.min(64) {
            out.push(cur.view.clone());
            let v = &cur.view;
            if v.ppid == 0 || v.ppid == v.pid {
                break;
            }
            match self.procs.get(&v.ppid) {
                Some(p) => cur = p,
                None => break,
            }
        }
        out
    }

    /// The table entry of a process.
    pub fn entry(&self, pid: u32) -> Option<&Entry> {
        self.procs.get(&pid)
    }

    /// The process `level` steps up from `pid` (0 = `pid` itself).
    pub fn ancestor(&self, pid: u32, level: usize) -> Option<&ProcessView> {
        let mut cur = self.get(pid)?;
        for _ in 0..level.min(64) {
            if cur.ppid == 0 || cur.ppid == cur.pid {
                return None;
            }
            cur = self.get(cur.ppid)?;
        }
        Some(cur)
    }

    /// The ancestors of `pid`, parent first (bounded, loop-safe).
    pub fn ancestors(&self, pid: u32) -> Vec<&ProcessView> {
        (1..64).map_while(|l| self.ancestor(pid, l)).collect()
    }

    /// Update the table from an event and fill `event.process.exe`; a
    /// setuid-family event also gets the caller's ids from before the call
    /// (`CredOp::prev_uid`, `prev_euid`).
    pub fn observe(&mut self, ev: &mut Event) {
        self.tick += 1;
        let pid = ev.process.pid;
        if let EventData::Cred(c) = &mut ev.data {
            if let Some((uid, euid)) = self.ids(pid) {
                (c.prev_uid, c.prev_euid) = (Some(uid), Some(euid));
            }
        }
        match &ev.data {
            EventData::Exec(x) => {
                let start_ns = self
                    .get(pid)
                    .map(|p| p.start_ns)
                    .filter(|&s| s != 0)
                    .unwrap_or(ev.ts_ns);
                let view = ProcessView {
                    pid,
                    ppid: ev.process.ppid,
                    name: ev.process.comm.clone(),
                    exepath: x.exe.clone(),
                    args: x.args.clone(),
                    cwd: x.cwd.clone(),
                    tty: x.tty,
                    sid: x.sid,
                    pgid: x.pgid,
                    vpid: ev.process.vpid,
                    start_ns,
                    cap_effective: x.cap_effective,
                    cap_permitted: x.cap_permitted,
                    cap_inheritable: x.cap_inheritable,
                    env: self.shared_env(pid, ev.process.ppid, &x.env),
                    cmdline: cmdline_of(&ev.process.comm, &x.args),
                    exe_upper_layer: x.exe_upper_layer,
                    exe_times: x.exe_ctime_ns.zip(x.exe_mtime_ns),
                };
                self.insert(view, ev.process.cgroup.clone());
            }
            EventData::Fork { parent_pid, .. } => {
                let mut view = self
                    .get(*parent_pid)
                    .cloned()
                    .unwrap_or_else(|| ProcessView {
                        name: ev.process.comm.clone(),
                        cmdline: ev.process.comm.clone(),
                        ..ProcessView::default()
                    });
                view.pid = pid;
                view.ppid = *parent_pid;
                view.vpid = ev.process.vpid;
                view.start_ns = ev.ts_ns;
                self.insert(view, ev.process.cgroup.clone());
            }
            EventData::Exit { .. } => {
                if let Some(e) = self.procs.get_mut(&pid) {
                    e.exited = Some(Instant::now());
                }
            }
            _ => {}
        }
        let tick = self.tick;
        let ids = Some((ev.process.uid, ev.process.euid));
        match self.procs.get_mut(&pid) {
            Some(e) => {
                e.tick = tick;
                e.ids = ids;
                if ev.process.exe.is_none() && !e.view.exepath.is_empty() {
                    ev.process.exe = Some(e.view.exepath.clone());
                }
            }
            None => {
                self.stats.misses += 1;
                // A process that predates us and was missed: read it now.
                if let Some((view, cgroup)) =
                    procfs::read_process(&self.proc_root, pid, self.boot_ns)
                {
                    if !view.exepath.is_empty() {
                        ev.process.exe = Some(view.exepath.clone());
                    }
                    self.insert(view, cgroup);
                    self.set_ids(pid, ids);
                }
            }
        }
    }

    /// Remove exited processes older than the grace period.
    pub fn gc(&mut self) {
        let grace = self.grace;
        let before = self.procs.len();
        self.procs
            .retain(|_, e| e.exited.map(|t| t.elapsed() < grace).unwrap_or(true));
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

    fn view(pid: u32, ppid: u32) -> ProcessView {
        ProcessView {
            pid,
            ppid,
            name: format!("p{pid}"),
            exepath: format!("/bin/p{pid}"),
            ..Default::default()
        }
    }

    #[test]
    fn ancestry_walks_parents_and_stops_on_loops() {
        let mut t = ProcessTable::new(100);
        t.insert(view(1, 0), String::new());
        t.insert(view(10, 1), String::new());
        t.insert(view(20, 10), String::new());
        let a: Vec<u32> = t.ancestors(20).iter().map(|p| p.pid).collect();
        assert_eq!(a, vec![10, 1]);
        assert_eq!(t.ancestor(20, 0).unwrap().pid, 20);
        assert_eq!(t.ancestor(20, 2).unwrap().pid, 1);
        assert!(t.ancestor(20, 3).is_none());
        t.insert(view(30, 31), String::new());
        t.insert(view(31, 30), String::new());
        assert!(t.ancestors(30).len() <= 64);
        // The shared chain: itself first, bounded, loop-safe, and a
        // snapshot that outlives changes to the table.
        let chain = t.chain(20, 64);
        let pids: Vec<u32> = chain.iter().map(|p| p.pid).collect();
        assert_eq!(pids, vec![20, 10, 1]);
        assert_eq!(t.chain(20, 2).len(), 2);
        assert_eq!(t.chain(30, 64).len(), 64);
        assert!(t.chain(999, 64).is_empty());
        t.insert(view(10, 1), String::new());
        assert_eq!(chain[1].pid, 10, "old snapshot still readable");
    }

    #[test]
    fn capacity_is_enforced_with_eviction_counted() {
        let mut t = ProcessTable::new(100);
        for pid in 1..=1000 {
            t.insert(view(pid, 1), String::new());
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
        assert!(me.exepath.contains("peregrine_state"), "{}", me.exepath);
        assert!(
            me.start_ns > 1_600_000_000_000_000_000,
            "start time is wall clock"
        );
        assert!(me.cmdline.starts_with(&me.name));
        assert_ne!(me.cap_effective, 0, "tests run as root");
    }

    #[test]
    fn a_setuid_event_carries_the_ids_from_before_the_call() {
        use peregrine_event::{CredOp, Event, EventData, EventKind, Process};
        let ev = |uid: u32, euid: u32, data: EventData| Event {
            ts_ns: 1,
            kind: EventKind::Setuid,
            syscall: None,
            process: Process {
                pid: 10,
                ppid: 1,
                uid,
                euid,
                comm: "make".into(),
                ..Process::default()
            },
            data,
        };
        let cred = || EventData::Cred(CredOp::default());
        let prev = |ev: &Event| match &ev.data {
            EventData::Cred(c) => (c.prev_uid, c.prev_euid),
            _ => unreachable!(),
        };
        let mut t = ProcessTable::new(100);
        t.insert(view(10, 1), String::new());
        // Not known before: no previous ids.
        let mut e = ev(0, 0, cred());
        t.observe(&mut e);
        assert_eq!(prev(&e), (None, None));
        // root -> root (make's seteuid(0)): the same ids before and after.
        let mut e = ev(0, 0, cred());
        t.observe(&mut e);
        assert_eq!(prev(&e), (Some(0), Some(0)));
        assert_eq!((e.process.uid, e.process.euid), (0, 0));
        // root -> nobody: the record has the new ids, the table the old.
        let mut e = ev(65534, 65534, cred());
        t.observe(&mut e);
        assert_eq!(prev(&e), (Some(0), Some(0)));
        assert_eq!(t.ids(10), Some((65534, 65534)));
        // Any event moves the known ids on (a fork inherits the parent's).
        let mut f = ev(
            65534,
            65534,
            EventData::Fork {
                parent_pid: 10,
                parent_tid: 10,
            },
        );
        f.process.pid = 11;
        f.kind = EventKind::Fork;
        t.observe(&mut f);
        assert_eq!(t.ids(11), Some((65534, 65534)));
    }

    #[test]
    fn seeding_reads_the_ids_of_each_process() {
        let mut t = ProcessTable::new(100_000);
        t.seed_from_proc();
        assert_eq!(t.ids(std::process::id()), Some((0, 0)), "tests run as root");
    }

    #[test]
    fn an_unchanged_environment_is_shared_with_the_parent() {
        use peregrine_event::{Event, EventData, EventKind, Exec, Process};
        let exec = |pid: u32, ppid: u32, env: &[&str]| Event {
            ts_ns: 1,
            kind: EventKind::Exec,
            syscall: None,
            process: Process {
                pid,
                ppid,
                comm: "sh".into(),
                ..Process::default()
            },
            data: EventData::Exec(Exec {
                exe: "/bin/sh".into(),
                env: env.iter().map(|s| s.to_string()).collect(),
                ..Exec::default()
            }),
        };
        let mut t = ProcessTable::new(100);
        t.observe(&mut exec(10, 1, &["HOME=/root", "PATH=/bin"]));
        t.observe(&mut exec(11, 10, &["HOME=/root", "PATH=/bin"]));
        t.observe(&mut exec(12, 10, &["HOME=/root", "PATH=/bin", "X=1"]));
        let (a, b, c) = (t.get(10).unwrap(), t.get(11).unwrap(), t.get(12).unwrap());
        assert!(
            Arc::ptr_eq(&a.env, &b.env),
            "same environment, one allocation"
        );
        assert!(!Arc::ptr_eq(&a.env, &c.env));
        assert_eq!(c.env.len(), 3);
    }
}
