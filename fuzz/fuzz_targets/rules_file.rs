#![no_main]
//! Any rules file loads or yields diagnostics, never a panic; what loads
//! is evaluated (the compiled program runs, sequence rules follow) on a
//! few events.
use libfuzzer_sys::fuzz_target;
use peregrine_event::{Event, EventData, EventKind, Exec, FileOp, Process, Syscall};
use peregrine_rules::context::EventOnly;

fn events() -> Vec<Event> {
    let process = Process {
        pid: 42,
        ppid: 1,
        comm: "sh".into(),
        ..Process::default()
    };
    vec![
        Event {
            ts_ns: 1,
            kind: EventKind::Exec,
            syscall: Some(Syscall::Execve),
            process: process.clone(),
            data: EventData::Exec(Exec {
                exe: "/bin/sh".into(),
                args: vec!["sh".into(), "-c".into(), "id".into()],
                env: vec!["HOME=/root".into()],
                ..Exec::default()
            }),
        },
        Event {
            ts_ns: 2,
            kind: EventKind::Open,
            syscall: Some(Syscall::Openat),
            process,
            data: EventData::File(FileOp {
                ret: 3,
                path: "/etc/shadow".into(),
                raw_path: "/etc/../etc/shadow".into(),
                ..FileOp::default()
            }),
        },
    ]
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(engine) = peregrine_rules::Engine::from_str("fuzz.yaml", s) {
            // Sequence rules (extension) follow the same events in order.
            let mut tracker = peregrine_rules::sequence::Tracker::new(engine.sequences());
            let mut memo = engine.memo();
            for ev in events() {
                let _ = engine.evaluate(&EventOnly(&ev));
                let _ = tracker.observe(engine.sequences(), &EventOnly(&ev), &mut memo);
            }
        }
    }
});
