//! fanotify enforcement cost: decision latency p50/p99 and exec overhead.
//!
//! `cargo run --release -p peregrine-respond --example fanotify_bench -- [ITERATIONS]`
//! (root). Measures, with a policy that matches nothing:
//! - open latency in a child process (the agent's own pid is exempt) with
//!   `FAN_OPEN_PERM` on and the cache off, against no enforcement: the
//!   difference is the per-request decision round trip (target p99 <= 1 ms);
//! - fork+exec of a copy of /bin/true with `FAN_OPEN_EXEC_PERM` on (cache
//!   on, as deployed) against no enforcement (target <= 1.05x).
//!
//! Do not trust numbers from a loaded machine; see bench/fanotify.sh.
use peregrine_respond::block::{Blocker, BlockerConfig, PathSetDecider};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Child mode: open+close `path` `n` times, print one latency (ns) per line.
fn child_opens(path: &str, n: usize) {
    let mut out = String::with_capacity(n * 8);
    for _ in 0..n {
        let t = Instant::now();
        drop(std::fs::File::open(path).expect("open"));
        out.push_str(&format!("{}\n", t.elapsed().as_nanos()));
    }
    print!("{out}");
}

fn open_latencies(path: &str, n: usize) -> Vec<Duration> {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--child-opens", path, &n.to_string()])
        .output()
        .expect("child");
    let mut v: Vec<Duration> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.parse().ok())
        .map(Duration::from_nanos)
        .collect();
    v.sort();
    v
}

fn exec_loop(bin: &std::path::Path, n: usize) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        assert!(Command::new(bin).status().unwrap().success());
    }
    t.elapsed() / n as u32
}

fn report(name: &str, v: &[Duration]) {
    println!(
        "{name}: p50 {:?} p99 {:?} (n={})",
        percentile(v, 0.5),
        percentile(v, 0.99),
        v.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "--child-opens" {
        return child_opens(&args[2], args[3].parse().expect("count"));
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, b"x").unwrap();
    let bin = dir.path().join("true");
    std::fs::copy("/bin/true", &bin).unwrap();
    let path = file.to_str().unwrap();
    let nothing = Arc::new(PathSetDecider::new().deny_exec(dir.path().join("never")));

    let base_open = open_latencies(path, n);
    let base_exec = exec_loop(&bin, n / 4);
    let cfg = BlockerConfig {
        open: true,
        cache_capacity: 0,
        ..BlockerConfig::default()
    };
    let blocker = Blocker::start(cfg, nothing.clone()).expect("start blocker");
    let enforced_open = open_latencies(path, n);
    let m = blocker.metrics().snapshot();
    drop(blocker);
    let blocker = Blocker::start(BlockerConfig::default(), nothing).expect("start blocker");
    let enforced_exec = exec_loop(&bin, n / 4);
    drop(blocker);

    report("open, no enforcement", &base_open);
    report("open, FAN_OPEN_PERM, cache off", &enforced_open);
    let d50 = percentile(&enforced_open, 0.5).saturating_sub(percentile(&base_open, 0.5));
    let d99 = percentile(&enforced_open, 0.99).saturating_sub(percentile(&base_open, 0.99));
    println!("decision latency (difference): p50 {d50:?} p99 {d99:?} (target p99 <= 1ms)");
    println!("blocker counters during the open run: {m:?}");
    println!(
        "fork+exec: {base_exec:?} bare, {enforced_exec:?} with FAN_OPEN_EXEC_PERM: {:.3}x (target <= 1.05x)",
        enforced_exec.as_secs_f64() / base_exec.as_secs_f64()
    );
}
