//! `quarantine` on real files, on the same filesystem and across filesystems.
use peregrine_respond::quarantine::{Quarantine, QuarantineConfig, QuarantineError};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn open_q(dir: &Path) -> Quarantine {
    Quarantine::open(QuarantineConfig {
        dir: dir.join("quarantine"),
        ..QuarantineConfig::default()
    })
    .unwrap()
}

/// Quarantines `file` into a directory under `qroot` and restores it.
fn round_trip(file_dir: &Path, qroot: &Path) {
    let file = file_dir.join("payload.sh");
    std::fs::write(&file, b"#!/bin/sh\necho pwned\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o750)).unwrap();
    let status = Command::new("touch")
        .args(["-d", "2021-02-03 04:05:06", file.to_str().unwrap()])
        .status();
    assert!(status.unwrap().success());
    let before = std::fs::metadata(&file).unwrap();
    let hash = sha256sum(&file);
    let q = open_q(qroot);
    assert_eq!(std::fs::metadata(q.dir()).unwrap().mode() & 0o7777, 0o700);

    let rec = q.quarantine(&file, Some("alert-42")).unwrap();
    assert!(!file.exists(), "original must be gone");
    let bin = q.dir().join(format!("{}.bin", rec.id));
    assert_eq!(sha256sum(&bin), hash);
    assert_eq!(std::fs::metadata(&bin).unwrap().mode() & 0o777, 0o400);
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(q.dir().join(format!("{}.json", rec.id))).unwrap())
            .unwrap();
    assert_eq!(sidecar["sha256"], hash.as_str());
    assert_eq!(sidecar["original_path"], file.to_str().unwrap());
    assert_eq!(sidecar["alert_id"], "alert-42");
    assert_eq!(sidecar["mode"], 0o750);
    assert_eq!(sidecar["uid"], before.uid());
    assert_eq!(sidecar["size"], before.len());
    assert_eq!(
        sidecar["mtime_ns"],
        before.mtime() * 1_000_000_000 + before.mtime_nsec()
    );

    q.restore(&rec.id).unwrap();
    let after = std::fs::metadata(&file).unwrap();
    assert_eq!(sha256sum(&file), hash);
    assert_eq!(after.mode() & 0o7777, 0o750);
    assert_eq!(
        (after.mtime(), after.mtime_nsec()),
        (before.mtime(), before.mtime_nsec())
    );
    assert!(!bin.exists(), "entry removed after restore");
}

#[test]
fn quarantine_and_restore_on_the_same_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(dir.path(), dir.path());
}

#[test]
fn quarantine_and_restore_across_filesystems() {
    let files = tempfile::tempdir_in("/dev/shm").unwrap();
    let qroot = tempfile::tempdir_in("/var/tmp").unwrap();
    let a = std::fs::metadata(files.path()).unwrap().dev();
    let b = std::fs::metadata(qroot.path()).unwrap().dev();
    assert_ne!(a, b, "/dev/shm and /var/tmp must be different filesystems");
    round_trip(files.path(), qroot.path());
}

fn refused(r: Result<impl std::fmt::Debug, QuarantineError>) {
    assert!(matches!(r, Err(QuarantineError::Refused { .. })), "{r:?}");
}

#[test]
fn symlinks_and_hostile_paths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let file = real.join("f");
    std::fs::write(&file, b"x").unwrap();
    std::os::unix::fs::symlink(&file, dir.path().join("link")).unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("dirlink")).unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let q = open_q(dir.path());
    refused(q.quarantine(&dir.path().join("link"), None));
    refused(q.quarantine(&dir.path().join("dirlink/f"), None));
    refused(q.quarantine(&real.join("../real/f"), None));
    refused(q.quarantine(Path::new("relative/f"), None));
    refused(q.quarantine(&fifo, None));
    assert!(file.exists(), "nothing was moved");
}

#[test]
fn unsafe_quarantine_dir_and_tampered_entry_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = Quarantine::open(QuarantineConfig {
        dir: open,
        ..QuarantineConfig::default()
    });
    assert!(matches!(r, Err(QuarantineError::UnsafeDir { .. })), "{r:?}");

    let q = open_q(dir.path());
    let file = dir.path().join("f");
    std::fs::write(&file, b"original").unwrap();
    let rec = q.quarantine(&file, None).unwrap();
    let bin = q.dir().join(format!("{}.bin", rec.id));
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&bin, b"tampered").unwrap();
    let r = q.restore(&rec.id);
    assert!(matches!(r, Err(QuarantineError::Tampered { .. })), "{r:?}");
    assert!(!file.exists(), "a tampered entry is not restored");
}
