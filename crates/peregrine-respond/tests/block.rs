//! Real fanotify blocking on this host (needs root / CAP_SYS_ADMIN).
//!
//! Every decider here denies only files created by the test in a fresh
//! temporary directory, timeouts are short and fail-open for anything else,
//! and a guard aborts the test process (which releases the group) if a test
//! runs too long: other work on the machine must never be blocked.
use peregrine_respond::block::{
    AccessRequest, Blocker, BlockerConfig, Decider, FailMode, PathSetDecider, Verdict,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `body` with a blocker, dropping it afterwards; aborts the process if
/// the whole thing takes over 60 s.
fn with_blocker<T>(
    config: BlockerConfig,
    decider: Arc<dyn Decider>,
    body: impl FnOnce(&Blocker) -> T,
) -> T {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        while !d.load(Ordering::SeqCst) {
            if start.elapsed() > Duration::from_secs(60) {
                eprintln!("blocker test took over 60 s: aborting to release the fanotify group");
                std::process::abort();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let blocker = Blocker::start(config, decider).expect("start blocker");
    let out = body(&blocker);
    drop(blocker);
    done.store(true, Ordering::SeqCst);
    out
}

fn config(timeout_ms: u64) -> BlockerConfig {
    BlockerConfig {
        timeout_ms,
        ..BlockerConfig::default()
    }
}

/// A fresh copy of /bin/true at `dir/name`.
fn binary(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy("/bin/true", &p).expect("copy /bin/true");
    p
}

fn assert_denied(r: std::io::Result<std::process::ExitStatus>) {
    let e = r.expect_err("exec must be denied");
    assert!(
        matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)),
        "want EPERM/EACCES, got {e}"
    );
}

#[test]
fn denied_exec_fails_and_allowed_exec_runs() {
    let dir = tempfile::tempdir().unwrap();
    let denied = binary(dir.path(), "denied");
    let allowed = binary(dir.path(), "allowed");
    let decider = Arc::new(PathSetDecider::new().deny_exec(&denied));
    with_blocker(config(2000), decider, |b| {
        assert_denied(Command::new(&denied).status());
        let st = Command::new(&allowed).status().expect("allowed exec runs");
        assert!(st.success());
        // Second denied exec comes from the cache.
        assert_denied(Command::new(&denied).status());
        let m = b.metrics().snapshot();
        assert!(m.denials >= 2, "{m:?}");
        assert!(m.cache_hits >= 1, "{m:?}");
    });
}

#[test]
fn denied_open_fails() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    let other = dir.path().join("other");
    std::fs::write(&secret, "s3cret\n").unwrap();
    std::fs::write(&other, "fine\n").unwrap();
    let decider = Arc::new(PathSetDecider::new().deny_open(&secret));
    let cfg = BlockerConfig {
        open: true,
        ..config(2000)
    };
    with_blocker(cfg, decider, |_| {
        let out = Command::new("cat").arg(&secret).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Operation not permitted"), "stderr: {err}");
        let out = Command::new("cat").arg(&other).output().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"fine\n");
    });
}

#[test]
fn exec_inside_a_container_is_blocked() {
    // The container copies /bin/true to a unique path and runs it; fanotify
    // reports the container-relative path.
    let name = format!("/tmp/pg-respond-deny-{}", std::process::id());
    let decider = Arc::new(PathSetDecider::new().deny_exec(&name));
    let script = format!("cp /bin/true {name} && {name}; echo rc=$?; /bin/true && echo ok");
    with_blocker(config(5000), decider, |b| {
        let out = Command::new("docker")
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                "peregrine-test:latest",
                "sh",
                "-c",
                &script,
            ])
            .output()
            .expect("docker run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stdout.contains("rc=126"),
            "stdout: {stdout} stderr: {stderr}"
        );
        assert!(stdout.contains("ok"), "stdout: {stdout}");
        assert!(b.metrics().snapshot().denials >= 1);
    });
}

/// A decider that never returns; fails closed for one path only.
struct Stuck {
    closed: PathBuf,
}

impl Decider for Stuck {
    fn decide(&self, _req: &AccessRequest) -> Verdict {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }

    fn fail_mode(&self, req: &AccessRequest) -> Option<FailMode> {
        (req.path == self.closed).then_some(FailMode::Closed)
    }
}

#[test]
fn stuck_decider_fails_open_after_timeout_and_closed_where_asked() {
    let dir = tempfile::tempdir().unwrap();
    let open = binary(dir.path(), "open");
    let closed = binary(dir.path(), "closed");
    let decider = Arc::new(Stuck {
        closed: closed.clone(),
    });
    let cfg = BlockerConfig {
        workers: 1,
        ..config(300)
    };
    with_blocker(cfg, decider, |b| {
        let t = Instant::now();
        let st = Command::new(&open).status().expect("fail-open exec runs");
        assert!(st.success());
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert_denied(Command::new(&closed).status());
        let m = b.metrics().snapshot();
        assert!(m.timeouts >= 2, "{m:?}");
        assert_eq!(m.decisions, 0, "{m:?}");
    });
}

#[test]
fn group_is_released_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let denied = binary(dir.path(), "denied");
    let decider = Arc::new(PathSetDecider::new().deny_exec(&denied));
    with_blocker(config(2000), decider, |_| {
        assert_denied(Command::new(&denied).status());
    });
    let st = Command::new(&denied)
        .status()
        .expect("exec after drop runs");
    assert!(st.success());
}

#[test]
fn exempt_paths_are_never_asked() {
    let dir = tempfile::tempdir().unwrap();
    let denied = binary(dir.path(), "denied");
    let decider = Arc::new(PathSetDecider::new().deny_exec(&denied));
    let cfg = BlockerConfig {
        exempt_paths: vec![dir.path().to_path_buf()],
        ..config(2000)
    };
    with_blocker(cfg, decider, |b| {
        assert!(Command::new(&denied).status().unwrap().success());
        assert!(b.metrics().snapshot().exempt >= 1);
    });
}

/// A decider that panics on every request; fails closed for one path only.
struct Panics {
    closed: PathBuf,
}

impl Decider for Panics {
    fn decide(&self, req: &AccessRequest) -> Verdict {
        panic!("decider bug on {}", req.path.display());
    }

    fn fail_mode(&self, req: &AccessRequest) -> Option<FailMode> {
        (req.path == self.closed).then_some(FailMode::Closed)
    }
}

#[test]
fn panicking_decider_answers_with_the_fail_mode_and_keeps_its_workers() {
    let dir = tempfile::tempdir().unwrap();
    let open = binary(dir.path(), "open");
    let closed = binary(dir.path(), "closed");
    let cfg = BlockerConfig {
        workers: 1,
        cache_capacity: 0,
        ..config(5000)
    };
    with_blocker(
        cfg,
        Arc::new(Panics {
            closed: closed.clone(),
        }),
        |b| {
            for _ in 0..3 {
                let t = Instant::now();
                assert!(Command::new(&open).status().unwrap().success());
                // Answered by the (only) worker after the panic, not by the watchdog.
                assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
                assert_denied(Command::new(&closed).status());
            }
            assert_eq!(b.metrics().snapshot().timeouts, 0);
        },
    );
}

/// Helper for `frozen_agent_lets_execs_through_after_the_timeout`: run as a
/// separate process by that test, it is the "agent" that gets frozen.
#[test]
#[ignore = "helper process, started by frozen_agent_lets_execs_through_after_the_timeout"]
fn helper_blocker_process() {
    let Ok(denied) = std::env::var("PG_RESPOND_HELPER_DENY") else {
        return;
    };
    let decider = Arc::new(PathSetDecider::new().deny_exec(&denied));
    let blocker = Blocker::start(config(300), decider).expect("start blocker");
    println!("PG_HELPER_READY");
    std::thread::sleep(Duration::from_secs(30));
    drop(blocker);
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn frozen_agent_lets_execs_through_after_the_timeout() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let denied = binary(dir.path(), "denied");
    let allowed = binary(dir.path(), "allowed");
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_blocker_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PG_RESPOND_HELPER_DENY", &denied)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut helper = KillOnDrop(child);
    let pid = helper.0.id() as libc::pid_t;
    let stdout = helper.0.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    assert!(lines.any(|l| l.map(|l| l.contains("PG_HELPER_READY")).unwrap_or(false)));
    assert_denied(Command::new(&denied).status());
    // Freeze the agent: its guardian must resume it so the request is answered.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    let st = Command::new(&allowed).status().expect("exec proceeds");
    assert!(st.success());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "the agent was frozen: {:?}",
        t.elapsed()
    );
    // It still enforces once resumed.
    assert_denied(Command::new(&denied).status());
    drop(helper);
}
