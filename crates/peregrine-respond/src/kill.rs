//! `kill`: SIGKILL a process or its whole tree.
//!
//! Each process is addressed through a pidfd opened after checking its start
//! time, so a pid reused by an unrelated process is never signalled. A tree is
//! first frozen (SIGSTOP, repeated until a scan of `/proc` finds no new
//! descendant, so nothing forks away), then killed. Processes that exit on
//! their own meanwhile are reported as gone, not as errors.
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Errors of `kill`.
#[derive(Debug, thiserror::Error)]
pub enum KillError {
    /// The target is PID 0/1, the agent itself, a protected pid, or an
    /// ancestor of the agent (its tree would contain the agent).
    #[error("refusing to kill protected process {0}")]
    Protected(u32),
    /// The target does not exist.
    #[error("process {0} does not exist")]
    NotFound(u32),
    /// Signalling failed for a reason other than the process being gone
    /// (EPERM without CAP_KILL).
    #[error("cannot signal process {pid}: {source}")]
    Signal {
        /// The process.
        pid: u32,
        /// The error.
        source: io::Error,
    },
    /// `/proc` could not be read.
    #[error("cannot read /proc: {0}")]
    Proc(io::Error),
}

/// Settings of the kill action (serde: `deny_unknown_fields`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KillConfig {
    /// Kill every descendant too.
    pub tree: bool,
    /// Process ids never killed, besides 0, 1 and the agent.
    pub protected_pids: Vec<u32>,
}

/// What a kill did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KillReport {
    /// Processes sent SIGKILL, root first.
    pub killed: Vec<u32>,
    /// Processes of the tree that exited before they could be signalled.
    pub gone: Vec<u32>,
}

/// (ppid, start time in clock ticks) from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name is in parentheses and may contain anything: parse after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// Children of every process, from one scan of `/proc`.
fn children_map() -> Result<BTreeMap<u32, Vec<u32>>, KillError> {
    let mut map: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").map_err(KillError::Proc)? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((ppid, _)) = stat(pid) {
            map.entry(ppid).or_default().push(pid);
        }
    }
    Ok(map)
}

/// A process pinned by a pidfd.
struct Target {
    pid: u32,
    fd: OwnedFd,
}

/// Opens a pidfd for `pid`; `None` if it is gone (or was replaced meanwhile).
fn pin(pid: u32) -> Result<Option<Target>, KillError> {
    let Some((_, start)) = stat(pid) else {
        return Ok(None);
    };
    // SAFETY: plain syscall; the descriptor is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ESRCH) => Ok(None),
            _ => Err(KillError::Signal { pid, source: e }),
        };
    }
    // SAFETY: fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // Same start time after opening: the pidfd refers to the process we inspected.
    match stat(pid) {
        Some((_, s)) if s == start => Ok(Some(Target { pid, fd })),
        _ => Ok(None),
    }
}

/// Sends `sig`; false if the process is already gone.
fn signal(t: &Target, sig: i32) -> Result<bool, KillError> {
    // SAFETY: valid pidfd; no siginfo.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            t.fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ESRCH) => Ok(false),
            _ => Err(KillError::Signal {
                pid: t.pid,
                source: e,
            }),
        };
    }
    Ok(true)
}

fn check_protected(pid: u32, config: &KillConfig) -> Result<(), KillError> {
    let me = std::process::id();
    if pid <= 1 || pid == me || config.protected_pids.contains(&pid) {
        return Err(KillError::Protected(pid));
    }
    if config.tree {
        let mut p = me;
        while let Some((ppid, _)) = stat(p) {
            if ppid == pid {
                return Err(KillError::Protected(pid));
            }
            if ppid <= 1 {
                break;
            }
            p = ppid;
        }
    }
    Ok(())
}

/// Kills `pid` (and with `config.tree` all its descendants) with SIGKILL.
pub fn kill(pid: u32, config: &KillConfig) -> Result<KillReport, KillError> {
    check_protected(pid, config)?;
    let root = pin(pid)?.ok_or(KillError::NotFound(pid))?;
    let mut report = KillReport::default();
    if !config.tree {
        if signal(&root, libc::SIGKILL)? {
            report.killed.push(pid);
        } else {
            report.gone.push(pid);
        }
        return Ok(report);
    }
    let targets = freeze_tree(root, config, &mut report)?;
    for t in &targets {
        if signal(t, libc::SIGKILL)? {
            report.killed.push(t.pid);
        } else {
            report.gone.push(t.pid);
        }
    }
    tracing::info!(
        pid,
        killed = report.killed.len(),
        gone = report.gone.len(),
        "process tree killed"
    );
    Ok(report)
}

/// Stops the root and every descendant until a scan finds nobody new.
fn freeze_tree(
    root: Target,
    config: &KillConfig,
    report: &mut KillReport,
) -> Result<Vec<Target>, KillError> {
    let me = std::process::id();
    let mut seen = BTreeSet::from([root.pid]);
    if !signal(&root, libc::SIGSTOP)? {
        report.gone.push(root.pid);
    }
    let mut targets = vec![root];
    for _ in 0..64 {
        let children = children_map()?;
        let mut new = Vec::new();
        for t in &targets {
            for &c in children.get(&t.pid).into_iter().flatten() {
                if seen.insert(c) && c != me && !config.protected_pids.contains(&c) {
                    new.push(c);
                }
            }
        }
        if new.is_empty() {
            break;
        }
        for c in new {
            match pin(c)? {
                Some(t) => {
                    if signal(&t, libc::SIGSTOP)? {
                        targets.push(t);
                    } else {
                        report.gone.push(c);
                    }
                }
                None => report.gone.push(c),
            }
        }
    }
    Ok(targets)
}
