//! Syscalls made through the i386 ABI (`int 0x80`) by a 64-bit process are
//! recorded exactly like native ones (run as root). The per-syscall
//! tracepoints never see them: without the compat program an `int 0x80`
//! open of /etc/shadow would go unnoticed.
mod common;

use common::{trigger, Capture};
use peregrine_event::{Endpoint, Event, EventKind, Syscall};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::Output;

fn tmpdir(tag: &str) -> std::path::PathBuf {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let d = std::env::temp_dir().join(format!("pg-{tag}-{}-{ns}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run pg-trigger to completion; its pid and output.
fn run_trigger(cmd: &mut std::process::Command) -> (u32, Output) {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{cmd:?} failed: {out:?}");
    (pid, out)
}

/// Every event of `pid`, once its exit was seen (records of a process are
/// submitted before its exit record).
fn events_of(cap: &Capture, pid: u32) -> Vec<Event> {
    cap.wait_for("exit of the trigger", |e| {
        e.kind == EventKind::Exit && e.process.pid == pid
    });
    cap.events()
        .into_iter()
        .filter(|e| e.process.pid == pid && e.kind != EventKind::Exit)
        .collect()
}

#[test]
fn i386_file_syscalls_are_recorded_like_native_ones() {
    let _serial = common::serial();
    let kinds = [
        EventKind::Open,
        EventKind::Mkdir,
        EventKind::Rename,
        EventKind::Chmod,
        EventKind::Unlink,
        EventKind::Exit,
    ];
    let cap = Capture::start(&kinds);
    let dir = tmpdir("int80");
    let (pid, out) = run_trigger(trigger().arg("int80-files").current_dir(&dir));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(printed.contains("open=3"), "{printed}");
    assert!(printed.contains("openat-missing=-2"), "{printed}");
    let evs = events_of(&cap, pid);
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let find = |sys: Syscall, path: &str| {
        evs.iter()
            .find(|e| e.syscall == Some(sys) && e.file().is_some_and(|f| f.path == path))
            .unwrap_or_else(|| panic!("no {sys:?} of {path} in {evs:#?}\n{printed}"))
    };

    let open = find(Syscall::Open, &p("a")).file().unwrap().clone();
    assert!(open.ret >= 0, "{open:?}");
    assert_eq!(open.raw_path, "a");
    assert_ne!(
        open.flags & libc::O_CREAT as u64,
        0,
        "flags {:#x}",
        open.flags
    );
    assert_eq!(open.mode, 0o644);
    assert!(open.ino != 0, "resolved in the kernel");

    let openat = find(Syscall::Openat, &p("b")).file().unwrap().clone();
    assert!(openat.ret >= 0, "{openat:?}");
    // A failed openat relative to AT_FDCWD: the path is joined with the cwd
    // only if the 32-bit dirfd was read as -100.
    let missing = find(Syscall::Openat, &p("missing")).file().unwrap().clone();
    assert_eq!(missing.ret, -(libc::ENOENT as i64));
    let mkdir = find(Syscall::Mkdirat, &p("d")).file().unwrap().clone();
    assert_eq!(mkdir.ret, 0);
    assert_eq!(mkdir.mode, 0o755);
    let ren = find(Syscall::Rename, &p("a")).file().unwrap().clone();
    assert_eq!(ren.ret, 0);
    assert_eq!(ren.path2.as_deref(), Some(p("c").as_str()));
    let chmod = find(Syscall::Chmod, &p("c")).file().unwrap().clone();
    assert_eq!((chmod.ret, chmod.mode), (0, 0o600));
    let unlink = find(Syscall::Unlink, &p("c")).file().unwrap().clone();
    assert_eq!(unlink.ret, 0);
    assert!(dir.join("b").exists() && !dir.join("c").exists());
}

#[test]
fn i386_connects_through_socketcall_and_connect_are_recorded() {
    let _serial = common::serial();
    let cap = Capture::start(&[EventKind::Connect, EventKind::Exit]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (pid, out) = run_trigger(trigger().args(["int80-connect", &port.to_string()]));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        printed.contains("socketcall-connect=0") && printed.contains("\nconnect=0"),
        "{printed}"
    );
    let connects: Vec<Event> = events_of(&cap, pid)
        .into_iter()
        .filter(|e| e.kind == EventKind::Connect)
        .collect();
    assert_eq!(connects.len(), 2, "{connects:#?}");
    for ev in &connects {
        assert_eq!(ev.syscall, Some(Syscall::Connect));
        let n = ev.net().unwrap();
        assert_eq!(n.ret, 0);
        assert_eq!(n.family, libc::AF_INET as u16);
        assert_eq!(n.sock_type, libc::SOCK_STREAM as u16);
        assert_eq!(
            n.remote,
            Some(Endpoint::Ip {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port
            })
        );
    }
}

#[test]
fn native_syscalls_are_recorded_once() {
    let _serial = common::serial();
    let cap = Capture::start(&[EventKind::Open, EventKind::Connect, EventKind::Exit]);
    let dir = tmpdir("native");
    let file = dir.join("once.txt");
    let (pid, _) = run_trigger(trigger().args(["open-create", file.to_str().unwrap()]));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (pid2, _) = run_trigger(trigger().args(["connect", &port.to_string()]));
    let opens = events_of(&cap, pid)
        .into_iter()
        .filter(|e| e.file().is_some_and(|f| f.path == file.to_str().unwrap()))
        .count();
    assert_eq!(opens, 1, "one record for one native open");
    let connects = events_of(&cap, pid2)
        .into_iter()
        .filter(|e| e.kind == EventKind::Connect)
        .count();
    assert_eq!(connects, 1, "one record for one native connect");
}

#[test]
fn the_compat_program_can_be_left_out() {
    let _serial = common::serial();
    let cfg = peregrine_sensor::SensorConfig {
        kinds: [EventKind::Open, EventKind::Exit].into_iter().collect(),
        compat_syscalls: false,
        ..peregrine_sensor::SensorConfig::default()
    };
    let cap = Capture::with_config(cfg);
    let dir = tmpdir("nocompat");
    let (pid, _) = run_trigger(trigger().arg("int80-files").current_dir(&dir));
    let evs = events_of(&cap, pid);
    let d = dir.to_str().unwrap();
    assert!(
        !evs.iter()
            .any(|e| e.file().is_some_and(|f| f.path.starts_with(d))),
        "without the compat program int 0x80 opens are invisible: {evs:#?}"
    );
}
