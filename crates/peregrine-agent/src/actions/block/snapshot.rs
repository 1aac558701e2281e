//! The event a permission request stands for, as the rules see it.

use crate::context::Snapshot;
use peregrine_event::{Event, EventData, EventKind, Exec, FileOp, Process, ProcessView, Syscall};
use peregrine_respond::block::{AccessKind, AccessRequest};
use std::sync::Arc;

/// Parents read from `/proc` above the requesting process.
const PARENTS: usize = 8;

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Task name the kernel gives an image: the file's base name, 15 bytes.
fn comm_of(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let mut end = base.len().min(15);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    base[..end].to_string()
}

/// A process of the ancestry from `/proc/<pid>` (best effort).
fn view_of(pid: u32) -> Option<ProcessView> {
    let base = format!("/proc/{pid}");
    let stat = std::fs::read_to_string(format!("{base}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
    let name = std::fs::read_to_string(format!("{base}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default();
    let args: Vec<String> = std::fs::read(format!("{base}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let exepath = std::fs::read_link(format!("{base}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    Some(ProcessView {
        pid,
        ppid,
        name,
        exepath,
        args,
        ..ProcessView::default()
    })
}

/// The requesting process's ancestry from its parent up.
fn parents(mut ppid: u32) -> Vec<Arc<ProcessView>> {
    let mut out = Vec::new();
    while ppid > 0 && out.len() < PARENTS {
        let Some(v) = view_of(ppid) else { break };
        ppid = v.ppid;
        out.push(Arc::new(v));
    }
    out
}

/// The snapshot the rules evaluate for `req`.
pub fn of_request(req: &AccessRequest) -> Snapshot {
    let path = req.path.to_string_lossy().into_owned();
    let p = &req.process;
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", req.pid))
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (kind, syscall, data, me) = match req.kind {
        AccessKind::Exec => {
            let me = ProcessView {
                pid: req.pid,
                ppid: p.ppid,
                name: comm_of(&path),
                exepath: path.clone(),
                args: vec![path.clone()],
                cwd: cwd.clone(),
                ..ProcessView::default()
            };
            let data = EventData::Exec(Exec {
                filename: path.clone(),
                args: vec![path.clone()],
                cwd,
                exe: path.clone(),
                exe_ino: req.ino,
                ..Exec::default()
            });
            (EventKind::Exec, Syscall::Execve, data, me)
        }
        AccessKind::Open => {
            let me = ProcessView {
                pid: req.pid,
                ppid: p.ppid,
                name: p.comm.clone(),
                exepath: p.exe.clone(),
                args: p.cmdline.clone(),
                cwd,
                ..ProcessView::default()
            };
            let data = EventData::File(FileOp {
                path: path.clone(),
                raw_path: path.clone(),
                ..FileOp::default()
            });
            (EventKind::Open, Syscall::Openat, data, me)
        }
    };
    let process = Process {
        pid: req.pid,
        tid: req.pid,
        ppid: p.ppid,
        uid: p.uid,
        euid: p.uid,
        loginuid: u32::MAX,
        comm: me.name.clone(),
        exe: Some(me.exepath.clone()),
        cgroup: p.container_id.clone().unwrap_or_default(),
        ..Process::default()
    };
    let mut chain = vec![Arc::new(me)];
    chain.extend(parents(p.ppid));
    Snapshot {
        event: Event {
            ts_ns: now_ns(),
            kind,
            syscall: Some(syscall),
            process,
            data,
        },
        chain,
        container: None,
        num: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_task_name_is_the_base_name_cut_at_15_bytes() {
        assert_eq!(comm_of("/usr/bin/bash"), "bash");
        assert_eq!(comm_of("/tmp/a-very-long-program-name"), "a-very-long-pro");
        assert_eq!(comm_of("/tmp/ééééééééé"), "ééééééé");
    }
}
