//! Reading the initial process state from /proc.

use crate::ProcInfo;
use std::fs;
use std::path::Path;

/// Read one process from `/proc/<pid>`; `None` if it vanished or is unreadable.
pub fn read_process(proc_root: &Path, pid: u32) -> Option<ProcInfo> {
    let dir = proc_root.join(pid.to_string());
    let stat = fs::read_to_string(dir.join("stat")).ok()?;
    // comm may contain spaces and ')': it ends at the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    if close < open {
        return None;
    }
    let comm = stat[open + 1..close].to_string();
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let ppid = rest.get(1)?.parse().ok()?;
    let exe = fs::read_link(dir.join("exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let cwd = fs::read_link(dir.join("cwd"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let args = fs::read(dir.join("cmdline"))
        .map(|b| {
            let mut v: Vec<String> = b
                .split(|&c| c == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if b.last() == Some(&0) {
                v.pop();
            }
            v
        })
        .unwrap_or_default();
    let mut uid = 0;
    if let Ok(status) = fs::read_to_string(dir.join("status")) {
        for line in status.lines() {
            if let Some(v) = line.strip_prefix("Uid:") {
                uid = v
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(0);
            }
        }
    }
    let cgroup = fs::read_to_string(dir.join("cgroup"))
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("0::"))
                .map(|l| l[3..].rsplit('/').next().unwrap_or("").to_string())
        })
        .unwrap_or_default();
    Some(ProcInfo {
        pid,
        ppid,
        comm,
        exe,
        args,
        cwd,
        uid,
        cgroup,
        exited: None,
    })
}

/// Every numeric entry of `/proc`.
pub fn list_pids(proc_root: &Path) -> Vec<u32> {
    fs::read_dir(proc_root)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}
