//! `peregrine ci --learn-baseline DIR` then `--baseline DIR`: a canary
//! comparison of a command's behaviour with what it did while learning.
mod common;

use common::{peregrine, scratch};
use std::path::Path;
use std::process::Output;

/// Rules that never fire: only the baseline decides the verdict.
const QUIET: &str = "- rule: Never\n  desc: d\n  condition: evt.type = execve and proc.name = no-such-program-here\n  output: o\n  priority: WARNING\n";

fn ci(dir: &Path, how: &str, base: &Path, script: &str) -> Output {
    let rules = dir.join("quiet.yaml");
    std::fs::write(&rules, QUIET).unwrap();
    peregrine()
        .args(["ci", "--rules"])
        .arg(&rules)
        .arg(how)
        .arg(base)
        .args(["--", "sh", "-c", script])
        .output()
        .unwrap()
}

fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

const LEARNED: &str = "cat /etc/hostname >/dev/null; ls / >/dev/null";

#[test]
fn a_run_that_does_something_new_fails_against_its_baseline() {
    let dir = scratch("baseline-canary");
    let base = dir.join("baseline");
    let out = ci(&dir, "--learn-baseline", &base, LEARNED);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "learning run: {err}");
    let saved = snapshot(&base);
    assert!(!saved.is_empty(), "no profile saved: {err}");

    // The same behaviour passes, twice (nothing learned in between).
    for _ in 0..2 {
        let out = ci(&dir, "--baseline", &base, LEARNED);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "same behaviour drifted: {err}");
        assert!(!err.contains("Behaviour drift"), "{err}");
    }

    // A new program fails the build, named in the report.
    let out = ci(
        &dir,
        "--baseline",
        &base,
        &format!("{LEARNED}; uname >/dev/null"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "new behaviour passed: {err}");
    assert!(err.contains("Behaviour drift: new executable"), "{err}");
    assert!(err.contains("uname"), "{err}");
    assert_eq!(snapshot(&base), saved, "the baseline was written to");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_or_empty_baseline_is_a_clear_error() {
    let dir = scratch("baseline-empty");
    let empty = dir.join("none");
    std::fs::create_dir_all(&empty).unwrap();
    let out = ci(&dir, "--baseline", &empty, "true");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--baseline") && err.contains("no profiles there"),
        "{err}"
    );
    let out = ci(&dir, "--baseline", &dir.join("missing"), "true");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--baseline"));
    let _ = std::fs::remove_dir_all(&dir);
}
