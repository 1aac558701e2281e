//! The systemd units (deploy/systemd) pass `systemd-analyze verify` (which
//! works without systemd as PID 1). verify also checks that ExecStart's
//! binary exists: the units are checked with /usr/local/bin/peregrine
//! pointed at the binary cargo built, nothing else changed.
mod common;

use common::repo_str as repo;
use std::process::Command;

/// `systemd-analyze verify` of unit files: (success, everything it printed).
fn verify(paths: &[std::path::PathBuf]) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(paths)
        .output()
        .expect("systemd-analyze (scripts/bootstrap.sh --test installs it)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for name in ["peregrine-agent.service", "peregrine-server.service"] {
        let text = std::fs::read_to_string(repo(&format!("deploy/systemd/{name}"))).unwrap();
        assert!(
            text.contains("ExecStart=/usr/local/bin/peregrine "),
            "{name}"
        );
        let text = text.replace("/usr/local/bin/peregrine", env!("CARGO_BIN_EXE_peregrine"));
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        units.push(path);
    }
    let (ok, text) = verify(&units);
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );

    // verify does report a broken unit (and the test would see it).
    let bad = dir.path().join("peregrine-broken.service");
    let text = std::fs::read_to_string(&units[0]).unwrap();
    std::fs::write(
        &bad,
        text.replace("Restart=on-failure", "Restart=sometimes"),
    )
    .unwrap();
    let (_, text) = verify(&[bad]);
    assert!(
        text.contains("sometimes"),
        "broken unit not reported: {text}"
    );
}
