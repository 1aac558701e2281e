//! The opt-in syscall id stream: batches for the selected comm only, in
//! call order, flushed at exit (run as root).
mod common;

use common::{run, trigger, Capture};
use peregrine_event::{Event, EventData, EventKind, SyscallBatch};
use peregrine_sensor::{KernelFilter, SensorConfig};
use std::process::Command;
use std::time::{Duration, Instant};

const OPENAT: u16 = 257;
const CLOSE: u16 = 3;
const EXIT_GROUP: u16 = 231;

fn batches_of(events: &[Event], pid: u32) -> Vec<SyscallBatch> {
    events
        .iter()
        .filter(|e| e.process.pid == pid)
        .filter_map(|e| match &e.data {
            EventData::Syscalls(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn selected_comm_streams_its_syscalls_and_nothing_else() {
    let _serial = common::serial();
    let cap = Capture::with_config(SensorConfig {
        kinds: [EventKind::Syscalls].into_iter().collect(),
        filter: KernelFilter {
            stream_comms: vec!["pg-trigger".into()],
            ..Default::default()
        },
        ..SensorConfig::default()
    });
    // Unselected: a shell and cat doing their own syscalls meanwhile.
    let other = run(Command::new("/bin/sh").args(["-c", "cat /etc/hostname >/dev/null"]));
    let n = 1000;
    let pid = run(trigger().args(["open-loop", "/etc/hostname", &n.to_string()]));

    let deadline = Instant::now() + Duration::from_secs(10);
    let mine = loop {
        let b = batches_of(&cap.events(), pid);
        if b.iter().any(|b| b.exit) || Instant::now() > deadline {
            break b;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let events = cap.events();
    assert!(!mine.is_empty(), "no syscall batch of pg-trigger");
    assert!(mine.last().unwrap().exit, "the last batch marks the exit");
    assert!(mine.iter().all(|b| b.ids.len() <= 256));
    let ids: Vec<u16> = mine.iter().flat_map(|b| b.ids.iter().copied()).collect();
    // The loop is openat, close, openat, close, … in that order.
    let pairs = ids
        .windows(2)
        .filter(|w| w[0] == OPENAT && w[1] == CLOSE)
        .count();
    assert!(pairs >= n, "{pairs} openat+close pairs, want >= {n}");
    assert_eq!(ids.last(), Some(&EXIT_GROUP), "exit_group is the last call");
    // Nothing of the unselected processes, and every batch is pg-trigger's.
    assert!(batches_of(&events, other).is_empty());
    for e in events.iter().filter(|e| e.kind == EventKind::Syscalls) {
        assert_eq!(e.process.comm, "pg-trigger", "{e:?}");
    }
}

#[test]
fn no_selection_means_no_stream_programs() {
    let _serial = common::serial();
    let cfg = SensorConfig {
        kinds: [EventKind::Syscalls, EventKind::Exec].into_iter().collect(),
        ..SensorConfig::default()
    };
    let sensor = peregrine_sensor::Sensor::load(&cfg).expect("sensor loads");
    let r = sensor.report();
    assert!(
        !r.attached.iter().any(|p| p.contains("stream")),
        "{:?}",
        r.attached
    );
    assert!(r.skipped.iter().any(|p| p == "raw_sys_enter_stream"));
}

#[test]
fn selected_cgroup_streams_its_tasks_across_exec() {
    use std::os::unix::fs::MetadataExt;
    let _serial = common::serial();
    let dir = std::path::PathBuf::from(format!(
        "/sys/fs/cgroup/unified/pg-stream-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create a cgroup v2 directory");
    let id = std::fs::metadata(&dir).unwrap().ino();
    let cap = Capture::with_config(SensorConfig {
        kinds: [EventKind::Syscalls].into_iter().collect(),
        filter: KernelFilter {
            stream_cgroups: vec![id],
            ..Default::default()
        },
        ..SensorConfig::default()
    });
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec cat /etc/hostname",
        dir.display()
    );
    let pid = run(Command::new("/bin/sh")
        .args(["-c", &script])
        .stdout(std::process::Stdio::null()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !batches_of(&cap.events(), pid).iter().any(|b| b.exit) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let events = cap.events();
    let _ = std::fs::remove_dir(&dir);
    let mine = batches_of(&events, pid);
    assert!(
        mine.iter().any(|b| b.exec),
        "a batch ends at the exec of cat"
    );
    assert!(mine.last().is_some_and(|b| b.exit), "{mine:?}");
    let streamed: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == EventKind::Syscalls)
        .collect();
    assert!(streamed.iter().any(|e| e.process.comm == "cat"));
    for e in streamed {
        assert_eq!(e.process.cgroup_id, id, "{e:?}");
        assert_eq!(e.process.pid, pid, "{e:?}");
    }
}
