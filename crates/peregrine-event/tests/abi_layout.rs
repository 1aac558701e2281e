//! The Rust mirrors must match `bpf/include/peregrine_event.h` byte for byte.
//! Compiles the header with the host C compiler and compares every size and
//! offset the C compiler reports with `size_of`/`offset_of!`.

use peregrine_event::abi::*;
use std::mem::{offset_of, size_of};
use std::process::Command;

macro_rules! layout {
    ($($c:literal => $t:ty { $($cf:literal : $rf:ident),* $(,)? }),* $(,)?) => {{
        let mut v: Vec<(String, usize)> = Vec::new();
        $(
            v.push((format!("sizeof {}", $c), size_of::<$t>()));
            $( v.push((format!("{}.{}", $c, $cf), offset_of!($t, $rf))); )*
        )*
        v
    }};
}

#[test]
fn rust_mirrors_match_the_c_header() {
    let expected = layout! {
        "pg_str" => PgStr { "off": off, "len": len },
        "pg_header" => PgHeader {
            "ts_ns": ts_ns, "cgroup_id": cgroup_id, "size": size, "kind": kind,
            "syscall": syscall, "pid": pid, "tid": tid, "ppid": ppid, "vpid": vpid,
            "uid": uid, "gid": gid, "euid": euid, "egid": egid, "loginuid": loginuid,
            "pid_ns": pid_ns, "mnt_ns": mnt_ns, "net_ns": net_ns, "comm": comm,
            "cgroup": cgroup,
        },
        "pg_exec_event" => PgExecEvent {
            "hdr": hdr, "cap_effective": cap_effective, "cap_permitted": cap_permitted,
            "cap_inheritable": cap_inheritable, "exe_ino": exe_ino, "tty": tty, "sid": sid,
            "pgid": pgid, "flags": flags, "exe_dev": exe_dev, "filename": filename,
            "args": args, "cwd": cwd, "exe": exe, "env": env,
        },
        "pg_fork_event" => PgForkEvent { "hdr": hdr, "parent_pid": parent_pid, "parent_tid": parent_tid },
        "pg_exit_event" => PgExitEvent { "hdr": hdr, "code": code, "signal": signal },
        "pg_sock" => PgSock {
            "family": family, "type": type_, "protocol": protocol, "lport": lport,
            "rport": rport, "laddr": laddr, "raddr": raddr,
        },
        "pg_syscall_event" => PgSyscallEvent {
            "hdr": hdr, "ret": ret, "args": args, "aux": aux, "sock": sock, "str": str_,
        },
        "pg_config" => PgConfig {
            "kind_mask": kind_mask, "self_tgid": self_tgid, "flags": flags,
            "wakeup_bytes": wakeup_bytes,
        },
        "pg_counters" => PgCounters { "emitted": emitted, "dropped": dropped, "filtered": filtered },
        "pg_path_key" => PgPathKey { "prefixlen": prefixlen, "path": path },
        "pg_sysids_event" => PgSysidsEvent {
            "hdr": hdr, "count": count, "flags": flags, "ids": ids,
        },
    };

    let header = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bpf/include/peregrine_event.h"
    );
    let mut c = format!(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"{header}\"\nint main(void) {{\n"
    );
    for (name, _) in &expected {
        let expr = match name.strip_prefix("sizeof ") {
            Some(s) => format!("sizeof(struct {s})"),
            None => {
                let (s, f) = name.split_once('.').unwrap();
                format!("offsetof(struct {s}, {f})")
            }
        };
        c.push_str(&format!(
            "  printf(\"%s %zu\\n\", \"{name}\", (size_t){expr});\n"
        ));
    }
    // Constants shared by both sides.
    for (n, _) in CONSTS {
        c.push_str(&format!("  printf(\"%s %ld\\n\", \"{n}\", (long){n});\n"));
    }
    c.push_str("  return 0;\n}\n");

    let dir = std::env::temp_dir().join(format!("pg-abi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let bin = dir.join("layout");
    std::fs::write(&src, c).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .arg(&src)
        .arg("-o")
        .arg(&bin)
        .status()
        .expect("run the C compiler");
    assert!(st.success(), "compiling the header with {cc} failed");
    let out = Command::new(&bin).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let got: std::collections::HashMap<&str, i64> = text
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k, v.parse().unwrap()))
        .collect();
    let mut mismatches = Vec::new();
    for (name, rust) in &expected {
        if got.get(name.as_str()).copied() != Some(*rust as i64) {
            mismatches.push(format!(
                "{name}: C {:?} vs Rust {rust}",
                got.get(name.as_str())
            ));
        }
    }
    for (n, rust) in CONSTS {
        if got.get(n).copied() != Some(*rust) {
            mismatches.push(format!("{n}: C {:?} vs Rust {rust}", got.get(n)));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        mismatches.is_empty(),
        "layout mismatches:\n{}",
        mismatches.join("\n")
    );
    assert_eq!(expected.len() + CONSTS.len(), got.len());
}

const CONSTS: &[(&str, i64)] = &[
    ("PG_ABI_VERSION", ABI_VERSION as i64),
    ("PG_COMM_LEN", COMM_LEN as i64),
    ("PG_CGROUP_NAME_LEN", CGROUP_NAME_LEN as i64),
    ("PG_PATH_MAX", PATH_MAX as i64),
    ("PG_STR_MAX", STR_MAX as i64),
    ("PG_ARGS_MAX", ARGS_MAX as i64),
    ("PG_PREFIX_MAX", PREFIX_MAX as i64),
    ("PG_KIND_MAX", KIND_MAX as i64),
    (
        "PG_KIND_SYSCALLS",
        peregrine_event::EventKind::Syscalls as i64,
    ),
    ("PG_CFG_STREAM_COMM", CFG_STREAM_COMM as i64),
    ("PG_CFG_STREAM_CGROUP", CFG_STREAM_CGROUP as i64),
    ("PG_SYSIDS_MAX", SYSIDS_MAX as i64),
    ("PG_SYSIDS_FLUSH_NS", SYSIDS_FLUSH_NS as i64),
    ("PG_SYSIDS_F_EXIT", SYSIDS_F_EXIT as i64),
    ("PG_SYSIDS_F_EXEC", SYSIDS_F_EXEC as i64),
    ("PG_CAT_MAX", CAT_MAX as i64),
    ("PG_EXEC_F_ARGS_TRUNCATED", EXEC_F_ARGS_TRUNCATED as i64),
    ("PG_CFG_SCOPE_PIDS", CFG_SCOPE_PIDS as i64),
    ("PG_CFG_SCOPE_CGROUPS", CFG_SCOPE_CGROUPS as i64),
    ("PG_CFG_COMM_DENY", CFG_COMM_DENY as i64),
    ("PG_CFG_COMM_ALLOW", CFG_COMM_ALLOW as i64),
    ("PG_CFG_PATH_PREFIX", CFG_PATH_PREFIX as i64),
    ("PG_CFG_ALL_SOCKETS", CFG_ALL_SOCKETS as i64),
    ("PG_CFG_EXEC_ENV", CFG_EXEC_ENV as i64),
    ("PG_EXEC_F_ENV_TRUNCATED", EXEC_F_ENV_TRUNCATED as i64),
    ("PG_ENV_MAX", ENV_MAX as i64),
];

#[test]
fn kind_and_syscall_ids_match_the_header() {
    use peregrine_event::{Category, EventKind, Syscall};
    let header = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bpf/include/peregrine_event.h"
    ))
    .unwrap();
    let ids = |prefix: &str| -> Vec<(String, u32)> {
        header
            .lines()
            .filter_map(|l| l.trim().strip_prefix(prefix))
            .filter_map(|l| {
                let (name, v) = l.split_once('=')?;
                let v = v.trim().trim_end_matches(',').parse().ok()?;
                Some((name.trim().to_lowercase(), v))
            })
            .filter(|(n, v)| n != "max" && n != "none" && *v != 0)
            .collect()
    };
    let kinds = ids("PG_KIND_");
    assert_eq!(kinds.len(), EventKind::ALL.len());
    for (name, id) in kinds {
        let k = EventKind::from_id(id as u16).unwrap_or_else(|| panic!("kind {id} unknown"));
        assert_eq!(k.name(), name, "kind id {id}");
    }
    let sys = ids("PG_SYS_");
    assert_eq!(sys.len(), Syscall::ALL.len());
    for (name, id) in sys {
        let s = Syscall::from_id(id as u16).unwrap_or_else(|| panic!("syscall {id} unknown"));
        assert_eq!(s.name(), name, "syscall id {id}");
    }
    let cats: Vec<_> = ids("PG_CAT_");
    // PG_CAT_PROCESS = 0 is filtered by the helper; the rest must match.
    for (name, id) in cats {
        assert_eq!(Category::from_id(id).unwrap().name(), name);
    }
}
