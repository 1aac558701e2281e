//! The rule-derived open filter, live (run as root): an open that no rule
//! needs stays in the kernel (and is counted as filtered), one a rule needs
//! leaves it, and a mode without prefixes is not filtered at all.
mod common;

use common::{run, trigger, Capture};
use peregrine_event::{Category, EventKind};
use peregrine_sensor::{KernelFilter, OpenFilter, SensorConfig};

fn unique_dir(tag: &str) -> std::path::PathBuf {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let d = std::env::temp_dir().join(format!("pg-{tag}-{}-{ns}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn opens_no_rule_needs_stay_in_the_kernel() {
    let _serial = common::serial();
    let dir = unique_dir("openfilter");
    let needed = dir.join("needed");
    let unneeded = dir.join("unneeded");
    let written = dir.join("written");
    std::fs::write(&needed, b"n").unwrap();
    std::fs::write(&unneeded, b"u").unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let cfg = SensorConfig {
        kinds: [EventKind::Open].into_iter().collect(),
        filter: KernelFilter {
            open: OpenFilter {
                read: Some(vec![s(&needed)]),
                write: None,
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let cap = Capture::with_config(cfg);
    const N: u64 = 300;
    let p_un = run(trigger().args(["open-loop", &s(&unneeded), &N.to_string()]));
    let p_in = run(trigger().args(["open-loop", &s(&needed), "1"]));
    let p_w = run(trigger().args(["open-create", &s(&written)]));
    cap.wait_for("the read open a rule needs", |e| {
        e.process.pid == p_in && e.file().is_some_and(|f| f.path == s(&needed))
    });
    cap.wait_for("a write open (writes are not filtered)", |e| {
        e.process.pid == p_w && e.file().is_some_and(|f| f.path == s(&written))
    });
    // The unneeded opens ran before both: had they left the kernel, they
    // would be in the ring ahead of the events waited for.
    let leaked = cap
        .events()
        .iter()
        .filter(|e| e.process.pid == p_un && e.file().is_some_and(|f| f.path == s(&unneeded)))
        .count();
    assert_eq!(
        leaked, 0,
        "read opens outside the prefixes stay in the kernel"
    );
    let counters = cap.stop();
    let file = counters
        .iter()
        .find(|(c, _)| *c == Category::File)
        .unwrap()
        .1;
    assert!(
        file.filtered >= N,
        "each unneeded open is counted as filtered: {file:?}"
    );
    assert_eq!(file.dropped, 0);
    std::fs::remove_dir_all(dir).ok();
}

/// Poll `sensor` until an open of `path` by `pid` arrives (10 s at most);
/// returns every event read meanwhile.
fn read_until(
    sensor: &mut peregrine_sensor::Sensor,
    pid: u32,
    path: &str,
) -> Vec<peregrine_event::Event> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = Vec::new();
    while !seen.iter().any(|e: &peregrine_event::Event| {
        e.process.pid == pid && e.file().is_some_and(|f| f.path == path)
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "no open of {path} by {pid}"
        );
        sensor
            .poll(std::time::Duration::from_millis(20), |e| seen.push(e))
            .expect("poll");
    }
    seen
}

#[test]
fn a_new_open_filter_takes_effect_on_the_running_sensor() {
    let _serial = common::serial();
    let dir = unique_dir("openfilter-reload");
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::write(&a, b"a").unwrap();
    std::fs::write(&b, b"b").unwrap();
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let only = |p: &std::path::Path| OpenFilter {
        read: Some(vec![s(p)]),
        write: None,
    };
    let cfg = SensorConfig {
        kinds: [EventKind::Open].into_iter().collect(),
        filter: KernelFilter {
            open: only(&a),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut sensor = peregrine_sensor::Sensor::load(&cfg).expect("sensor loads");
    // Loaded with `a`: an open of b, then one of a.
    let pb = run(trigger().args(["open-loop", &s(&b), "1"]));
    let pa = run(trigger().args(["open-loop", &s(&a), "1"]));
    let seen = read_until(&mut sensor, pa, &s(&a));
    // (Failed opens, such as the loader's library search, always pass.)
    let opened = |seen: &[peregrine_event::Event], pid: u32, p: &std::path::Path| {
        seen.iter()
            .any(|e| e.process.pid == pid && e.file().is_some_and(|f| f.path == s(p)))
    };
    assert!(!opened(&seen, pb, &b), "b is filtered");
    // As after a rule reload: now b only.
    sensor.set_open_filter(&only(&b)).expect("new filter");
    let pa = run(trigger().args(["open-loop", &s(&a), "1"]));
    let pb = run(trigger().args(["open-loop", &s(&b), "1"]));
    let seen = read_until(&mut sensor, pb, &s(&b));
    assert!(!opened(&seen, pa, &a), "a is filtered now");
    // And off: both.
    sensor
        .set_open_filter(&OpenFilter::default())
        .expect("filter off");
    let pa = run(trigger().args(["open-loop", &s(&a), "1"]));
    read_until(&mut sensor, pa, &s(&a));
    std::fs::remove_dir_all(dir).ok();
}
