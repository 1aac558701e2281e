//! Rule evaluation throughput: Falco's three rule files against a generated
//! stream of exec/open/connect events with realistic ancestry.
//!
//! `cargo bench -p peregrine-rules --bench eval` prints events/s on one core.
use peregrine_event::*;
use peregrine_rules::context::{Context, ProcessView};
use peregrine_rules::Engine;
use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Counts allocations, to report allocations per evaluated event.
struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Ctx {
    event: Event,
    procs: Vec<ProcessView>,
}

impl Context for Ctx {
    fn event(&self) -> &Event {
        &self.event
    }
    fn process(&self, level: usize) -> Option<Cow<'_, ProcessView>> {
        self.procs.get(level).map(Cow::Borrowed)
    }
    fn user_name(&self, uid: u32) -> Option<Cow<'_, str>> {
        (uid == 0).then_some(Cow::Borrowed("root"))
    }
}

const PROCS: &[(&str, &str)] = &[
    ("bash", "/usr/bin/bash"),
    ("python3", "/usr/bin/python3"),
    ("nginx", "/usr/sbin/nginx"),
    ("node", "/usr/bin/node"),
    ("java", "/usr/bin/java"),
    ("cat", "/usr/bin/cat"),
    ("sshd", "/usr/sbin/sshd"),
    ("curl", "/usr/bin/curl"),
    ("git", "/usr/bin/git"),
    ("cargo", "/root/.cargo/bin/cargo"),
];
const PATHS: &[&str] = &[
    "/etc/ld.so.cache",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/proc/self/status",
    "/etc/passwd",
    "/tmp/build/output.o",
    "/var/log/app.log",
    "/home/alice/project/src/main.rs",
    "/etc/shadow",
    "/dev/null",
    "/usr/share/zoneinfo/UTC",
];

fn pv(i: usize, pid: u32) -> ProcessView {
    let (n, e) = PROCS[i % PROCS.len()];
    ProcessView {
        pid,
        ppid: pid - 1,
        name: n.into(),
        exepath: e.into(),
        args: vec![n.into(), "--flag".into(), format!("arg{i}")],
        cwd: "/srv".into(),
        start_ns: 1,
        cmdline: format!("{n} --flag arg{i}"),
        ..Default::default()
    }
}

fn stream(n: usize) -> Vec<Ctx> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let procs = vec![
            pv(i, 1000 + i as u32),
            pv(i / 3 + 1, 999),
            pv(6, 500),
            pv(9, 1),
        ];
        let (kind, sys, data) = match i % 10 {
            0 | 1 => (
                EventKind::Exec,
                Syscall::Execve,
                EventData::Exec(Exec {
                    filename: procs[0].exepath.clone(),
                    exe: procs[0].exepath.clone(),
                    args: procs[0].args.clone(),
                    cwd: "/srv".into(),
                    ..Default::default()
                }),
            ),
            2 | 3 => (
                EventKind::Connect,
                Syscall::Connect,
                EventData::Net(NetOp {
                    ret: 0,
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
                    protocol: 0,
                    backlog: None,
                }),
            ),
            _ => (
                EventKind::Open,
                Syscall::Openat,
                EventData::File(FileOp {
                    ret: 3,
                    path: PATHS[i % PATHS.len()].into(),
                    raw_path: PATHS[i % PATHS.len()].into(),
                    flags: if i % 4 == 0 { 0o101 } else { 0 },
                    ..Default::default()
                }),
            ),
        };
        let event = Event {
            ts_ns: 10_000_000_000,
            kind,
            syscall: Some(sys),
            process: Process {
                pid: procs[0].pid,
                ppid: 999,
                comm: procs[0].name.clone(),
                loginuid: u32::MAX,
                ..Default::default()
            },
            data,
        };
        out.push(Ctx { event, procs });
    }
    out
}

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/falco-upstream");
    let files = [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ];
    let paths: Vec<_> = files.iter().map(|f| dir.join(f)).collect();
    let t = Instant::now();
    let engine = Engine::from_files(&paths).unwrap_or_else(|e| panic!("{e}"));
    let load = t.elapsed();
    println!(
        "rules evaluated per event: openat {}, execve {}, connect {}",
        engine.rules_for_type("openat"),
        engine.rules_for_type("execve"),
        engine.rules_for_type("connect")
    );
    let events = stream(100_000);
    // Warm up, then measure several passes.
    let mut matches = 0usize;
    for c in &events[..10_000] {
        engine.for_each_match(c, |_| matches += 1);
    }
    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    matches = 0;
    let mut memo = engine.memo();
    let allocs_before = ALLOCS.load(Ordering::Relaxed);
    let t = Instant::now();
    for _ in 0..rounds {
        for c in &events {
            engine.for_each_match_memo(c, &mut memo, |_| matches += 1);
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs_before;
    let n = events.len() * rounds;
    println!(
        "rules: {} enabled from 3 Falco files (loaded in {:.1} ms)",
        engine.stats().enabled,
        load.as_secs_f64() * 1e3
    );
    println!(
        "evaluated {n} events (60% open, 20% exec, 20% connect) in {secs:.2}s: {:.0} events/s on one core, {:.0} ns/event, {matches} matches",
        n as f64 / secs,
        secs * 1e9 / n as f64
    );
    println!(
        "allocations per event on the hot path: {:.2}",
        allocs as f64 / n as f64
    );
    if std::env::var_os("PER_RULE").is_some() {
        per_rule(&engine, &events);
    }
}

/// `PER_RULE=1`: the most expensive rules (each evaluated alone over the
/// stream, shared macros not memoised across rules).
fn per_rule(engine: &Engine, events: &[Ctx]) {
    let mut costs: Vec<(f64, &str)> = engine
        .rules()
        .iter()
        .map(|r| {
            let mut memo = engine.memo();
            let t = Instant::now();
            for c in events {
                let ty = c.event.syscall.map(|s| s.name()).unwrap_or("execve");
                let ty = if c.event.kind == EventKind::Exec {
                    "execve"
                } else {
                    ty
                };
                if r.event_types.as_ref().is_none_or(|ts| ts.contains(ty)) {
                    memo.reset();
                    std::hint::black_box(r.condition.eval_memo(c, &mut memo));
                }
            }
            (
                t.elapsed().as_secs_f64() * 1e9 / events.len() as f64,
                r.name.as_str(),
            )
        })
        .collect();
    costs.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (ns, name) in costs.iter().take(15) {
        println!("{ns:8.1} ns/event  {name}");
    }
}
