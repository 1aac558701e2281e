//! Decoder behaviour on well-formed and hostile records.

use peregrine_event::abi::*;
use peregrine_event::decode::{normalize_path, parse_sockaddr};
use peregrine_event::*;
use std::mem::size_of;

fn header(kind: EventKind, sys: u16) -> PgHeader {
    let mut comm = [0u8; COMM_LEN];
    comm[..4].copy_from_slice(b"test");
    PgHeader {
        ts_ns: 1_000,
        cgroup_id: 1,
        size: 0,
        kind: kind.id(),
        syscall: sys,
        pid: 10,
        tid: 11,
        ppid: 1,
        vpid: 10,
        uid: 1000,
        gid: 1000,
        euid: 0,
        egid: 0,
        loginuid: 1000,
        pid_ns: 1,
        mnt_ns: 2,
        net_ns: 3,
        comm,
        cgroup: [0u8; CGROUP_NAME_LEN],
    }
}

fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
    // SAFETY: T is a repr(C) POD mirror; reading its bytes is always valid.
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, size_of::<T>()) }.to_vec()
}

fn syscall_record(
    kind: EventKind,
    sys: Syscall,
    strs: &[&[u8]],
    args: [u64; 6],
    ret: i64,
) -> Vec<u8> {
    let mut ev = PgSyscallEvent {
        hdr: header(kind, sys.id()),
        ret,
        args,
        aux: [0; 4],
        sock: PgSock::default(),
        str_: [PgStr::default(); 4],
    };
    let mut data = Vec::new();
    for (i, s) in strs.iter().enumerate() {
        if s.is_empty() {
            continue;
        }
        ev.str_[i] = PgStr {
            off: data.len() as u16,
            len: s.len() as u16,
        };
        data.extend_from_slice(s);
    }
    ev.hdr.size = (size_of::<PgSyscallEvent>() + data.len()) as u32;
    let mut out = bytes_of(&ev);
    out.extend(data);
    out
}

#[test]
fn relative_open_is_joined_with_its_directory() {
    let rec = syscall_record(
        EventKind::Open,
        Syscall::Openat,
        &[b"../etc/./shadow", b"", b"", b"/usr/bin"],
        [(-100i64) as u64, 0, 0o2, 0o600, 0, 0],
        -13,
    );
    let ev = decode(&rec, &Clock::with_offset(0)).unwrap();
    let f = ev.file().unwrap();
    assert_eq!(f.path, "/usr/etc/shadow");
    assert_eq!(f.raw_path, "../etc/./shadow");
    assert_eq!(f.flags, 0o2);
    assert_eq!(f.mode, 0o600);
    assert_eq!(f.ret, -13);
    assert_eq!(ev.process.comm, "test");
    assert_eq!(ev.syscall, Some(Syscall::Openat));
}

#[test]
fn absolute_paths_of_a_chrooted_task_are_joined_with_its_root() {
    // chmod("/usr/bin/sudo", 04755) by dpkg chrooted into /tmp/deb: the
    // sensor sends the root in str[3] (only when it is not "/").
    let rec = syscall_record(
        EventKind::Chmod,
        Syscall::Chmod,
        &[b"/usr/bin/../bin/sudo", b"", b"", b"/tmp/deb"],
        [0, 0o4755, 0, 0, 0, 0],
        0,
    );
    let ev = decode(&rec, &Clock::with_offset(0)).unwrap();
    let f = ev.file().unwrap();
    assert_eq!(f.path, "/tmp/deb/usr/bin/sudo");
    assert_eq!(f.raw_path, "/usr/bin/../bin/sudo");
    // `..` does not climb out of the root.
    let rec = syscall_record(
        EventKind::Rename,
        Syscall::Rename,
        &[b"/../../etc/passwd+", b"/etc/passwd", b"", b"/tmp/deb"],
        [0; 6],
        0,
    );
    let ev = decode(&rec, &Clock::with_offset(0)).unwrap();
    let f = ev.file().unwrap();
    assert_eq!(f.path, "/tmp/deb/etc/passwd+");
    assert_eq!(f.path2.as_deref(), Some("/tmp/deb/etc/passwd"));
    // symlink(target, linkpath): the root (or cwd) is the link's.
    let rec = syscall_record(
        EventKind::Symlink,
        Syscall::Symlink,
        &[b"/usr/bin/mawk", b"/usr/bin/awk.dpkg-tmp", b"", b"/tmp/deb"],
        [0; 6],
        0,
    );
    let ev = decode(&rec, &Clock::with_offset(0)).unwrap();
    let f = ev.file().unwrap();
    assert_eq!(f.path, "/tmp/deb/usr/bin/awk.dpkg-tmp");
    assert_eq!(f.path2.as_deref(), Some("/usr/bin/mawk"), "target as given");
    let rec = syscall_record(
        EventKind::Symlink,
        Syscall::Symlink,
        &[b"/usr/bin/mawk", b"awk", b"", b"/usr/bin"],
        [0; 6],
        0,
    );
    let ev = decode(&rec, &Clock::with_offset(0)).unwrap();
    assert_eq!(
        ev.file().unwrap().path,
        "/usr/bin/awk",
        "relative link joined with the cwd"
    );
    // Not chrooted: no str[3], the path stays as given.
    let rec = syscall_record(
        EventKind::Chmod,
        Syscall::Chmod,
        &[b"/usr/bin/sudo"],
        [0, 0o4755, 0, 0, 0, 0],
        0,
    );
    let ev = decode(&rec, &Clock::with_offset(0)).unwrap();
    assert_eq!(ev.file().unwrap().path, "/usr/bin/sudo");
}

#[test]
fn truncated_and_oversized_records_are_errors_not_panics() {
    let rec = syscall_record(EventKind::Open, Syscall::Openat, &[b"/x"], [0; 6], 0);
    for n in [
        0,
        1,
        10,
        size_of::<PgHeader>() - 1,
        size_of::<PgHeader>(),
        rec.len() - 1,
    ] {
        assert!(
            decode(&rec[..n], &Clock::with_offset(0)).is_err(),
            "prefix {n}"
        );
    }
    // Unknown kind.
    let mut bad = rec.clone();
    bad[20] = 200;
    assert!(matches!(
        decode(&bad, &Clock::with_offset(0)),
        Err(DecodeError::UnknownKind(200))
    ));
}

#[test]
fn string_offsets_out_of_range_are_clamped() {
    let mut ev = PgSyscallEvent {
        hdr: header(EventKind::Open, Syscall::Open.id()),
        ret: 3,
        args: [0; 6],
        aux: [0; 4],
        sock: PgSock::default(),
        str_: [
            PgStr {
                off: 60000,
                len: 9000,
            },
            PgStr { off: 2, len: 65535 },
            PgStr::default(),
            PgStr::default(),
        ],
    };
    ev.hdr.size = (size_of::<PgSyscallEvent>() + 4) as u32;
    let mut rec = bytes_of(&ev);
    rec.extend_from_slice(b"abcd");
    let got = decode(&rec, &Clock::with_offset(0)).unwrap();
    assert_eq!(got.file().unwrap().raw_path, "");
    assert_eq!(got.file().unwrap().path2.as_deref(), Some("cd"));
}

#[test]
fn random_bytes_never_panic() {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for len in 0..2000usize {
        let mut buf = vec![0u8; len];
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        if len >= size_of::<PgHeader>() {
            buf[20] = (x % 30) as u8;
            buf[21] = 0;
        }
        let _ = decode(&buf, &Clock::with_offset(0));
    }
}

#[test]
fn sockaddrs_decode() {
    let mut v4 = vec![2u8, 0, 0x1f, 0x90, 10, 0, 0, 1];
    v4.resize(16, 0);
    assert_eq!(
        serde_json::to_string(&parse_sockaddr(&v4).unwrap()).unwrap(),
        r#"{"ip":"10.0.0.1","port":8080}"#
    );
    let un = [1u8, 0, 0, b'x', b'y', 0];
    assert_eq!(
        serde_json::to_string(&parse_sockaddr(&un).unwrap()).unwrap(),
        r#"{"path":"@xy"}"#
    );
    assert!(parse_sockaddr(&[2]).is_none());
    assert!(parse_sockaddr(&[2, 0, 1]).is_none());
}

#[test]
fn paths_normalise() {
    assert_eq!(normalize_path("/a//b/./c/../d"), "/a/b/d");
    assert_eq!(normalize_path("/../.."), "/");
    assert_eq!(normalize_path("/"), "/");
}

#[test]
fn names_round_trip_and_unknown_names_list_the_choices() {
    for k in EventKind::ALL {
        assert_eq!(k.name().parse::<EventKind>().unwrap(), *k);
    }
    let e = "nope".parse::<EventKind>().unwrap_err().to_string();
    assert!(e.contains("exec") && e.contains("nope"), "{e}");
}

fn sysids_record(ids: &[u16], flags: u16) -> Vec<u8> {
    let mut ev = PgSysidsEvent {
        hdr: header(EventKind::Syscalls, 0),
        count: ids.len() as u16,
        flags,
        _pad: 0,
        ids: [0; SYSIDS_MAX],
    };
    ev.ids[..ids.len()].copy_from_slice(ids);
    let cut = std::mem::offset_of!(PgSysidsEvent, ids) + 2 * ids.len();
    ev.hdr.size = cut as u32;
    bytes_of(&ev)[..cut].to_vec()
}

#[test]
fn syscall_batches_decode_cut_after_the_last_id() {
    let rec = sysids_record(&[257, 3, 231], SYSIDS_F_EXIT);
    let e = decode(&rec, &Clock::with_offset(0)).unwrap();
    assert_eq!(e.kind, EventKind::Syscalls);
    assert_eq!((e.process.pid, e.process.tid), (10, 11));
    assert_eq!(
        e.data,
        EventData::Syscalls(SyscallBatch {
            ids: vec![257, 3, 231],
            exit: true,
            exec: false,
        })
    );
    // A count beyond the bytes present, or beyond the maximum, is an error.
    for n in [rec.len() - 1, rec.len() - 2, size_of::<PgHeader>() + 4] {
        let mut short = rec[..n].to_vec();
        short[16..20].copy_from_slice(&(n as u32).to_ne_bytes());
        assert!(
            decode(&short, &Clock::with_offset(0)).is_err(),
            "cut at {n}"
        );
    }
    let mut big = sysids_record(&[1; SYSIDS_MAX], SYSIDS_F_EXEC);
    let at = std::mem::offset_of!(PgSysidsEvent, count);
    big[at..at + 2].copy_from_slice(&(SYSIDS_MAX as u16 + 1).to_ne_bytes());
    assert!(decode(&big, &Clock::with_offset(0)).is_err());
    big[at..at + 2].copy_from_slice(&0u16.to_ne_bytes());
    let e = decode(&big, &Clock::with_offset(0)).unwrap();
    assert_eq!(
        e.data,
        EventData::Syscalls(SyscallBatch {
            ids: vec![],
            exit: false,
            exec: true,
        })
    );
}
