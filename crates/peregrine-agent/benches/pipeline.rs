//! Agent pipeline throughput without the kernel: the state stage (process
//! table, ancestry snapshots) and rule evaluation with Falco's stable rules,
//! run serially and with 1..N partitioned rule workers.
//!
//! `cargo bench -p peregrine-agent --bench pipeline` prints events/s per
//! mode and the ratio to the serial run. `PG_EVENTS` sets the stream length.
use peregrine_agent::context::HostInfo;
use peregrine_agent::metrics::Metrics;
use peregrine_agent::stages::state::StateStage;
use peregrine_agent::workers::{RuleSet, Workers};
use peregrine_event::*;
use peregrine_rules::Engine;
use peregrine_state::{HostState, ProcessTable};
use std::sync::Arc;
use std::time::Instant;

const NAMES: &[(&str, &str)] = &[
    ("python3", "/usr/bin/python3"),
    ("nginx", "/usr/sbin/nginx"),
    ("node", "/usr/bin/node"),
    ("java", "/usr/bin/java"),
    ("cat", "/usr/bin/cat"),
    ("curl", "/usr/bin/curl"),
    ("git", "/usr/bin/git"),
    ("make", "/usr/bin/make"),
];
const PATHS: &[&str] = &[
    "/etc/ld.so.cache",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/proc/self/status",
    "/etc/passwd",
    "/tmp/build/output.o",
    "/var/log/app.log",
    "/home/alice/project/src/main.rs",
    "/dev/null",
];
const LEAVES: u32 = 256;

fn view(pid: u32, ppid: u32, name: &str, exe: &str) -> ProcessView {
    let args = vec![name.to_string(), "--serve".into(), format!("job{pid}")];
    ProcessView {
        pid,
        ppid,
        name: name.into(),
        exepath: exe.into(),
        cmdline: peregrine_state::cmdline_of(name, &args),
        args,
        cwd: "/srv".into(),
        start_ns: 1,
        ..Default::default()
    }
}

fn state() -> StateStage {
    let mut table = ProcessTable::new(65536);
    table.insert(
        view(1, 0, "systemd", "/usr/lib/systemd/systemd"),
        String::new(),
    );
    table.insert(view(500, 1, "sshd", "/usr/sbin/sshd"), String::new());
    table.insert(view(999, 500, "bash", "/usr/bin/bash"), String::new());
    for i in 0..LEAVES {
        let (n, e) = NAMES[i as usize % NAMES.len()];
        table.insert(view(1000 + i, 999, n, e), String::new());
    }
    StateStage::offline(
        HostState::offline(table, peregrine_state::DEFAULT_MAX_CONTAINERS),
        Arc::new(HostInfo::default()),
    )
}

fn stream(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let pid = 1000 + (i as u32 * 7919) % LEAVES;
            let (name, exe) = NAMES[pid as usize % NAMES.len()];
            let (kind, sys, data) = match i % 10 {
                0 | 1 => (
                    EventKind::Exec,
                    Syscall::Execve,
                    EventData::Exec(Exec {
                        filename: exe.into(),
                        exe: exe.into(),
                        args: vec![name.into(), "--serve".into(), format!("job{pid}")],
                        cwd: "/srv".into(),
                        ..Default::default()
                    }),
                ),
                2 | 3 => (
                    EventKind::Connect,
                    Syscall::Connect,
                    EventData::Net(NetOp {
                        fd: 5,
                        family: 2,
                        sock_type: 1,
                        local: Some(Endpoint::Ip {
                            ip: "10.0.0.2".parse().unwrap(),
                            port: 40000,
                        }),
                        remote: Some(Endpoint::Ip {
                            ip: "93.184.216.34".parse().unwrap(),
                            port: 443,
                        }),
                        // The decoder renders it (on the sensor thread).
                        name: "10.0.0.2:40000->93.184.216.34:443".into(),
                        ..Default::default()
                    }),
                ),
                _ => (
                    EventKind::Open,
                    Syscall::Openat,
                    EventData::File(FileOp {
                        ret: 3,
                        path: PATHS[i % PATHS.len()].into(),
                        raw_path: PATHS[i % PATHS.len()].into(),
                        ..Default::default()
                    }),
                ),
            };
            Event {
                ts_ns: 10_000_000_000 + i as u64,
                kind,
                syscall: Some(sys),
                process: Process {
                    pid,
                    tid: pid,
                    ppid: 999,
                    comm: name.into(),
                    loginuid: u32::MAX,
                    ..Default::default()
                },
                data,
            }
        })
        .collect()
}

fn main() {
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../rules/falco-upstream/falco_rules.yaml");
    let n: usize = std::env::var("PG_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "agent pipeline, Falco falco_rules.yaml, {n} events (60% open, 20% exec, 20% connect), {cores} cores"
    );

    // Serial: state and rules on one thread.
    let engine = Engine::from_files(&[&rules]).expect("rules load");
    let mut st = state();
    let mut memo = engine.memo();
    let events = stream(n);
    let t = Instant::now();
    let mut alerts = 0usize;
    for (i, ev) in events.into_iter().enumerate() {
        alerts += st.evaluate(&engine, &mut memo, ev, i as u64 + 1).0.len();
    }
    let serial = n as f64 / t.elapsed().as_secs_f64();
    println!(
        "{:<36}{serial:>10.0} events/s  1.00x  ({alerts} alerts)",
        "serial (StateStage::evaluate)"
    );

    for workers in 0..=cores.max(2) {
        let set = Arc::new(RuleSet::new(
            Engine::from_files(&[&rules]).expect("rules load"),
        ));
        let mut st = state();
        let (tx, rx) = std::sync::mpsc::sync_channel(4096);
        let drain = std::thread::spawn(move || rx.iter().count());
        let mut w = Workers::spawn(workers, set, st.host().clone(), tx, Metrics::new());
        let events = stream(n);
        let t = Instant::now();
        for (i, ev) in events.into_iter().enumerate() {
            w.push(st.snapshot(ev, i as u64 + 1));
            if i % 256 == 255 {
                w.flush();
            }
        }
        w.finish();
        let rate = n as f64 / t.elapsed().as_secs_f64();
        let alerts = drain.join().unwrap_or(0);
        let mode = if workers == 0 {
            "workers: inline (state thread)".to_string()
        } else {
            format!("state stage + {workers} rule worker(s)")
        };
        println!(
            "{mode:<36}{rate:>10.0} events/s  {:.2}x  ({alerts} alerts)",
            rate / serial
        );
    }
}
