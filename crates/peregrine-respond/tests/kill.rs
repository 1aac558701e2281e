//! `kill` on real process trees.
use peregrine_respond::kill::{kill, KillConfig, KillError};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(s) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let rest = &s[s.rfind(')').unwrap() + 1..];
        if rest
            .split_whitespace()
            .nth(1)
            .and_then(|x| x.parse::<u32>().ok())
            == Some(pid)
        {
            out.push(p);
        }
    }
    out
}

fn descendants(pid: u32) -> Vec<u32> {
    let mut all = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in children(p) {
            all.push(c);
            todo.push(c);
        }
    }
    all
}

/// Alive = exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s[s.rfind(')').unwrap() + 1..].trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// A shell with two sleeping children and a subshell with its own child
/// (the caller waits for it).
#[allow(clippy::zombie_processes)]
fn spawn_tree() -> (std::process::Child, Vec<u32>) {
    let child = Command::new("sh")
        .args(["-c", "sleep 300 & sleep 300 & (sleep 300 & wait) & wait"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = descendants(child.id());
        if d.len() >= 4 {
            return (child, d);
        }
        assert!(Instant::now() < deadline, "tree did not start: {d:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "still alive: {:?}",
            pids.iter().filter(|&&p| alive(p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kill_tree_kills_every_descendant() {
    let (mut child, desc) = spawn_tree();
    let report = kill(
        child.id(),
        &KillConfig {
            tree: true,
            ..KillConfig::default()
        },
    )
    .unwrap();
    assert!(report.killed.contains(&child.id()));
    for d in &desc {
        assert!(
            report.killed.contains(d) || report.gone.contains(d),
            "{d} not in {report:?}"
        );
    }
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    wait_gone(&desc);
}

#[test]
fn kill_process_leaves_its_children() {
    let (mut child, desc) = spawn_tree();
    let report = kill(child.id(), &KillConfig::default()).unwrap();
    assert_eq!(report.killed, vec![child.id()]);
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(desc.iter().all(|&p| alive(p)), "children must survive");
    kill_all(&desc);
}

fn kill_all(pids: &[u32]) {
    for &p in pids {
        let _ = kill(p, &KillConfig::default());
    }
    wait_gone(pids);
}

#[test]
fn protected_and_missing_targets_are_refused() {
    let cfg = KillConfig {
        tree: true,
        ..KillConfig::default()
    };
    assert!(matches!(kill(1, &cfg), Err(KillError::Protected(1))));
    assert!(matches!(
        kill(std::process::id(), &cfg),
        Err(KillError::Protected(_))
    ));
    // Our parent's tree contains us.
    let parent = std::os::unix::process::parent_id();
    assert!(matches!(kill(parent, &cfg), Err(KillError::Protected(_))));
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    assert!(matches!(kill(pid, &cfg), Err(KillError::NotFound(_))));
}
