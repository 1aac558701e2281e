//! Host preparation: agents starting at the same moment on a machine where
//! tracefs is not mounted yet (a fresh node, a CI machine) all come up — the
//! one that loses the race to mount it gets EBUSY from the kernel and must
//! still start.
//!
//! The race runs in a private mount namespace (this test re-runs itself under
//! `unshare --mount`), so unmounting tracefs there touches no other test.
use std::process::Command;
use std::sync::{Arc, Barrier};

const INNER: &str = "PEREGRINE_TRACEFS_RACE_INNER";
const NAME: &str = "agents_racing_to_mount_tracefs_all_start";

#[test]
fn agents_racing_to_mount_tracefs_all_start() {
    if std::env::var_os(INNER).is_some() {
        race_in_private_namespace();
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(exe)
        .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
        .env(INNER, "1")
        .output()
        .expect("unshare runs");
    assert!(
        out.status.success(),
        "race in a private mount namespace failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "the inner run did not run the race: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn unmount_all_tracefs() {
    for target in [c"/sys/kernel/debug/tracing", c"/sys/kernel/tracing"] {
        // Stacked mounts: detach until none is left.
        // SAFETY: a valid NUL-terminated path.
        while unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } == 0 {}
    }
}

fn race_in_private_namespace() {
    for round in 0..10 {
        unmount_all_tracefs();
        assert!(
            !std::path::Path::new("/sys/kernel/tracing/events").is_dir(),
            "tracefs still mounted in the private namespace"
        );
        let start = Arc::new(Barrier::new(8));
        let agents: Vec<_> = (0..8)
            .map(|_| {
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    peregrine_sensor::host::ensure_tracefs()
                })
            })
            .collect();
        for agent in agents {
            let result = agent.join().expect("no panic");
            assert!(result.is_ok(), "round {round}: {}", result.unwrap_err());
        }
        assert!(std::path::Path::new("/sys/kernel/tracing/events").is_dir());
    }
}
