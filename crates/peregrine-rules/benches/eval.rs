//! Rule evaluation throughput: Falco's three rule files against a generated
//! stream of exec/open/connect events with realistic ancestry.
//!
//! `cargo bench -p peregrine-rules --bench eval` prints events/s on one core
//! in two settings:
//!
//! - **agent-like**: as in `peregrine agent`, the ancestry of every event is
//!   shared with the process table (`Arc<ProcessView>`, a table of `PROCS`
//!   = 2,000 processes) and each batch of 256 events has just been decoded
//!   (cloned from the stream, outside the timed part) when it is evaluated;
//! - **cold**: 100,000 events, each with its own never-shared 4-process
//!   ancestry, evaluated straight from memory: every event misses the CPU
//!   caches (a worst case, not a host).
use peregrine_event::*;
use peregrine_rules::context::{Context, ProcessView};
use peregrine_rules::Engine;
use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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

#[derive(Clone)]
struct Ctx {
    event: Event,
    procs: Vec<Arc<ProcessView>>,
}

impl Context for Ctx {
    fn event(&self) -> &Event {
        &self.event
    }
    fn process(&self, level: usize) -> Option<Cow<'_, ProcessView>> {
        self.procs.get(level).map(|p| Cow::Borrowed(&**p))
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

/// `n` events; with a `table` of processes their ancestry is shared with
/// it (as in the agent), without it every event gets its own.
fn stream(n: usize, table: Option<usize>) -> Vec<Ctx> {
    let mut out = Vec::with_capacity(n);
    let shared = table.map(|size| {
        let init = Arc::new(pv(9, 1));
        let sshd = Arc::new(pv(6, 500));
        let parents: Vec<_> = (0..size / 3 + 2)
            .map(|j| Arc::new(pv(j + 1, 999)))
            .collect();
        let procs: Vec<_> = (0..size)
            .map(|j| Arc::new(pv(j, 1000 + j as u32)))
            .collect();
        (init, sshd, parents, procs)
    });
    for i in 0..n {
        let procs = match &shared {
            Some((init, sshd, parents, table)) => {
                let j = i % table.len();
                vec![
                    table[j].clone(),
                    parents[j / 3].clone(),
                    sshd.clone(),
                    init.clone(),
                ]
            }
            None => vec![
                Arc::new(pv(i, 1000 + i as u32)),
                Arc::new(pv(i / 3 + 1, 999)),
                Arc::new(pv(6, 500)),
                Arc::new(pv(9, 1)),
            ],
        };
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
                    // The decoder renders it (on the sensor thread).
                    name: "10.0.0.2:40000->93.184.216.34:443".into(),
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

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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
    let rounds: usize = env_or("ROUNDS", 10);
    let table: usize = env_or("PROCS", 2_000);
    println!(
        "rules: {} enabled from 3 Falco files (loaded in {:.1} ms), program of {} instructions over {} checks",
        engine.stats().enabled,
        load.as_secs_f64() * 1e3,
        engine.program_size().0,
        engine.program_size().1
    );
    let mut memo = engine.memo();

    // Agent-like: shared ancestry, each batch freshly decoded.
    let events = stream(100_000, Some(table));
    let mut matches = 0usize;
    let mut timed = std::time::Duration::ZERO;
    let mut per_kind = [(0u64, 0f64, 0u64); 3];
    let mut allocs = 0;
    for round in 0..=rounds {
        for chunk in events.chunks(256) {
            let batch: Vec<Ctx> = chunk.to_vec();
            let a = ALLOCS.load(Ordering::Relaxed);
            let t = Instant::now();
            for c in &batch {
                engine.for_each_match_memo(c, &mut memo, |_| matches += 1);
            }
            if round > 0 {
                timed += t.elapsed();
                allocs += ALLOCS.load(Ordering::Relaxed) - a;
            }
            if round == 1 {
                // Per kind, on the next pass over the same fresh batch.
                for c in &batch {
                    let k = match c.event.kind {
                        EventKind::Open => 0,
                        EventKind::Exec => 1,
                        _ => 2,
                    };
                    let a = ALLOCS.load(Ordering::Relaxed);
                    let t = Instant::now();
                    engine.for_each_match_memo(c, &mut memo, |_| ());
                    per_kind[k].1 += t.elapsed().as_secs_f64();
                    per_kind[k].0 += 1;
                    per_kind[k].2 += ALLOCS.load(Ordering::Relaxed) - a;
                }
            }
        }
        if round == 0 {
            matches = 0;
        }
    }
    let n = events.len() * rounds;
    let secs = timed.as_secs_f64();
    println!(
        "agent-like: {n} events (60% open, 20% exec, 20% connect; ancestry shared with a {table}-process table, batches of 256 freshly decoded) in {secs:.2}s: {:.0} events/s on one core, {:.0} ns/event, {matches} matches, {:.2} allocations/event",
        n as f64 / secs,
        secs * 1e9 / n as f64,
        allocs as f64 / n as f64
    );
    for (k, name) in ["open", "exec", "connect"].iter().enumerate() {
        let (n, secs, allocs) = per_kind[k];
        println!(
            "agent-like {name}: {:.0} ns/event (each timed alone, timer included), {:.2} allocations/event",
            secs * 1e9 / n.max(1) as f64,
            allocs as f64 / n.max(1) as f64
        );
    }
    drop(events);

    // Cold: nothing shared, straight from memory.
    let events = stream(100_000, None);
    matches = 0;
    let allocs_before = ALLOCS.load(Ordering::Relaxed);
    let t = Instant::now();
    for _ in 0..rounds {
        for c in &events {
            engine.for_each_match_memo(c, &mut memo, |_| matches += 1);
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs_before;
    println!(
        "cold: {n} events (every event with its own 4-process ancestry, 100,000 in memory) in {secs:.2}s: {:.0} events/s on one core, {:.0} ns/event, {matches} matches, {:.2} allocations/event",
        n as f64 / secs,
        secs * 1e9 / n as f64,
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
