//! Exec enrichment from the live host: what an exec's kernel record does not
//! carry and the running process still shows (whether the executable is in
//! its container's upper layer, the executable's times). Only for events
//! that happen on this host now: replayed and synthetic events have pids of
//! processes that are not theirs.

use crate::ContainerCache;
use peregrine_event::{Event, EventData};
use std::os::unix::fs::MetadataExt;

/// Fill `exe_upper_layer`, `exe_ctime_ns` and `exe_mtime_ns` of an exec
/// event (other events are left alone).
pub fn enrich_exec(containers: &mut ContainerCache, ev: &mut Event) {
    let EventData::Exec(x) = &mut ev.data else {
        return;
    };
    let upper =
        containers.exe_upper_file(&ev.process.cgroup, ev.process.pid, ev.process.ppid, &x.exe);
    x.exe_upper_layer = upper.as_ref().map(|m| m.is_some());
    // The image's file through /proc/PID/exe (any mount namespace); for a
    // process already gone, its upper-layer copy if any.
    let meta = std::fs::metadata(format!("/proc/{}/exe", ev.process.pid))
        .ok()
        .or_else(|| upper.flatten());
    if let Some(m) = meta {
        let ns = |s: i64, n: i64| (s.max(0) as u64) * 1_000_000_000 + n.max(0) as u64;
        x.exe_ctime_ns = Some(ns(m.ctime(), m.ctime_nsec()));
        x.exe_mtime_ns = Some(ns(m.mtime(), m.mtime_nsec()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_event::Exec;

    #[test]
    fn an_exec_of_this_process_gets_its_executables_times() {
        let exe = std::env::current_exe().unwrap();
        let meta = std::fs::metadata(&exe).unwrap();
        let mut ev = Event {
            ts_ns: 0,
            kind: peregrine_event::EventKind::Exec,
            syscall: None,
            process: peregrine_event::Process {
                pid: std::process::id(),
                ..Default::default()
            },
            data: EventData::Exec(Exec {
                exe: exe.display().to_string(),
                ..Default::default()
            }),
        };
        enrich_exec(&mut ContainerCache::new("/nonexistent"), &mut ev);
        let EventData::Exec(x) = &ev.data else {
            unreachable!()
        };
        assert_eq!(
            x.exe_mtime_ns.map(|n| n / 1_000_000_000),
            Some(meta.mtime() as u64)
        );
        assert_eq!(x.exe_upper_layer, None, "not in a container");
    }
}
