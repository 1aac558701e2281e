//! Reading the initial process state from /proc.

use peregrine_event::model::cmdline_of;
use peregrine_event::ProcessView;
use std::fs;
use std::path::Path;

/// Boot time in ns since the epoch (from /proc/stat `btime`).
pub fn boot_time_ns(proc_root: &Path) -> u64 {
    fs::read_to_string(proc_root.join("stat"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .map(|s| s * 1_000_000_000)
        .unwrap_or(0)
}

fn cap_line(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0)
}

/// Real and effective uid from a `/proc/PID/status` text (`Uid:` line).
fn uid_line(status: &str) -> Option<(u32, u32)> {
    let mut ids = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .map(|v| v.parse::<u32>().ok());
    Some((ids.next()??, ids.next()??))
}

/// Read one process from `/proc/<pid>`; `None` if it vanished or is unreadable.
pub fn read_process(proc_root: &Path, pid: u32, boot_ns: u64) -> Option<(ProcessView, String)> {
    read_process_ids(proc_root, pid, boot_ns).map(|(view, cgroup, _)| (view, cgroup))
}

/// A process read from `/proc`: what rules see, its cgroup leaf name, and
/// its real and effective uid.
pub(crate) type ProcRead = (ProcessView, String, Option<(u32, u32)>);

/// [`read_process`] plus the process's real and effective uid.
pub(crate) fn read_process_ids(proc_root: &Path, pid: u32, boot_ns: u64) -> Option<ProcRead> {
    let dir = proc_root.join(pid.to_string());
    let stat = fs::read_to_string(dir.join("stat")).ok()?;
    // comm may contain spaces and ')': it ends at the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    if close < open {
        return None;
    }
    let name = stat[open + 1..close].to_string();
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let num = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // Fields after comm: state(0) ppid(1) pgrp(2) session(3) tty_nr(4) … starttime(19)
    let ppid = num(1) as u32;
    let tty_nr = num(4) as u32;
    // Linux encodes tty_nr as major in bits 8-15, minor in 0-7 and 20-31.
    let tty = if tty_nr == 0 {
        0
    } else {
        let major = (tty_nr >> 8) & 0xfff;
        let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
        (major << 20) | minor
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc_sysconf_clk_tck() }.max(1);
    let start_ns = boot_ns + num(19) * 1_000_000_000 / hz;
    let exepath = fs::read_link(dir.join("exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cwd = fs::read_link(dir.join("cwd"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let args: Vec<String> = fs::read(dir.join("cmdline"))
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
    let status = fs::read_to_string(dir.join("status")).unwrap_or_default();
    let cgroup = fs::read_to_string(dir.join("cgroup"))
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("0::"))
                .map(|l| l[3..].rsplit('/').next().unwrap_or("").to_string())
        })
        .unwrap_or_default();
    let vpid = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|v| v.split_whitespace().last().and_then(|x| x.parse().ok()))
        .unwrap_or(pid);
    let cmdline = cmdline_of(&name, &args);
    let ids = uid_line(&status);
    Some((
        ProcessView {
            pid,
            ppid,
            name,
            exepath,
            args,
            cwd,
            tty,
            sid: num(3) as u32,
            pgid: num(2) as u32,
            vpid,
            start_ns,
            cap_effective: cap_line(&status, "CapEff:"),
            cap_permitted: cap_line(&status, "CapPrm:"),
            cap_inheritable: cap_line(&status, "CapInh:"),
            env: Default::default(),
            cmdline,
            // Processes found at start-up: their exec was not seen.
            exe_upper_layer: None,
            exe_times: None,
        },
        cgroup,
        ids,
    ))
}

extern "C" {
    fn sysconf(name: i32) -> i64;
}

unsafe fn libc_sysconf_clk_tck() -> u64 {
    const SC_CLK_TCK: i32 = 2;
    // SAFETY: sysconf is always safe to call.
    unsafe { sysconf(SC_CLK_TCK) as u64 }
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
