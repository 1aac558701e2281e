//! Real programs traced: the events they cause, as the sensor reports them,
//! and hostile programs (bad pointers, huge argv, paths beyond PATH_MAX,
//! the i386 ABI, a thread that execs, a task killed mid-syscall) that must
//! neither crash nor hang the tracer.
use peregrine_event::{Endpoint, Event, EventData, EventKind, Syscall};
use peregrine_trace::{Options, Session, Target};
use std::sync::atomic::AtomicBool;

const HOSTILE: &str = env!("CARGO_BIN_EXE_pg-hostile");

fn trace_with(argv: &[&str], seccomp: bool) -> (Vec<Event>, i32) {
    let target = Target::Command(argv.iter().map(|s| s.to_string()).collect());
    let opts = Options {
        seccomp,
        ..Options::default()
    };
    let mut s = Session::start(&target, &opts).expect("start");
    assert_eq!(s.filtered(), seccomp, "the seccomp filter is in place");
    let mut events = Vec::new();
    let out = s
        .run(&AtomicBool::new(false), &mut |e| events.push(e), &mut || {})
        .expect("run");
    assert_eq!(out.decode_errors, 0);
    (events, out.exit_code())
}

fn trace(argv: &[&str]) -> (Vec<Event>, i32) {
    trace_with(argv, true)
}

fn opens<'a>(events: &'a [Event], path: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Open && e.file().is_some_and(|f| f.path == path))
        .collect()
}

fn check_cat_shadow(events: &[Event], code: i32) {
    assert_eq!(code, 0);
    let exec = events.iter().find(|e| e.kind == EventKind::Exec).unwrap();
    let x = exec.exec().unwrap();
    assert_eq!(x.args, vec!["cat", "/etc/shadow"]);
    assert_eq!(x.filename, "/usr/bin/cat");
    assert!(x.exe.ends_with("/bin/cat"), "{}", x.exe);
    assert_ne!(x.exe_ino, 0);
    assert_eq!(x.cwd, std::env::current_dir().unwrap().to_str().unwrap());
    assert_eq!(exec.process.comm, "cat");
    assert_eq!(exec.process.ppid, std::process::id());
    assert_eq!(exec.syscall, Some(Syscall::Execve));
    let open = opens(events, "/etc/shadow");
    let open = open.first().expect("open of /etc/shadow");
    let f = open.file().unwrap();
    assert!(f.ret >= 0 && f.ino != 0 && f.raw_path == "/etc/shadow");
    assert_eq!(f.flags & 3, 0, "O_RDONLY");
    assert_eq!(open.process.pid, exec.process.pid);
    assert_eq!(open.process.uid, 0);
    assert_ne!(open.process.mnt_ns, 0);
    let exit = events.iter().find(|e| e.kind == EventKind::Exit).unwrap();
    assert_eq!(exit.data, EventData::Exit { code: 0, signal: 0 });
}

#[test]
fn cat_etc_shadow_gives_exec_open_and_exit() {
    let (events, code) = trace(&["cat", "/etc/shadow"]);
    check_cat_shadow(&events, code);
}

#[test]
fn without_seccomp_every_syscall_stops_and_the_events_are_the_same() {
    let (events, code) = trace_with(&["cat", "/etc/shadow"], false);
    check_cat_shadow(&events, code);
}

#[test]
fn a_shell_forks_and_execs_children_and_its_exit_code_is_kept() {
    let (events, code) = trace(&["sh", "-c", "/bin/true; /bin/true; exit 7"]);
    assert_eq!(code, 7);
    let sh = events.iter().find(|e| e.kind == EventKind::Exec).unwrap();
    let forks: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == EventKind::Fork)
        .collect();
    assert_eq!(forks.len(), 2, "{forks:#?}");
    for f in &forks {
        assert_eq!(f.process.ppid, sh.process.pid);
        assert!(
            matches!(f.data, EventData::Fork { parent_pid, .. } if parent_pid == sh.process.pid)
        );
        let exec = events
            .iter()
            .find(|e| e.kind == EventKind::Exec && e.process.pid == f.process.pid)
            .expect("the child execs");
        assert_eq!(exec.exec().unwrap().filename, "/bin/true");
        // The fork comes before the child's exec, as from the kernel.
        let pos = |x: &Event| events.iter().position(|e| std::ptr::eq(e, x)).unwrap();
        assert!(pos(f) < pos(exec));
    }
}

#[test]
fn an_exec_through_a_file_descriptor_names_it_like_the_kernel() {
    let (events, code) = trace(&[HOSTILE, "fexecve", "/bin/true"]);
    assert_eq!(code, 0);
    let execs: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == EventKind::Exec)
        .collect();
    assert_eq!(execs.len(), 2);
    let x = execs[1].exec().unwrap();
    assert!(x.filename.starts_with("/dev/fd/"), "{}", x.filename);
    assert!(x.exe.ends_with("/true"), "{}", x.exe);
    assert_eq!(
        execs[1].syscall,
        Some(Syscall::Execve),
        "evt.type is execve"
    );
}

#[test]
fn vforked_children_are_followed() {
    let (events, code) = trace(&[HOSTILE, "spawn", "5"]);
    assert_eq!(code, 0);
    let root = events
        .iter()
        .find(|e| e.kind == EventKind::Exec)
        .unwrap()
        .process
        .pid;
    let children: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == EventKind::Exec && e.process.ppid == root)
        .collect();
    assert_eq!(children.len(), 5, "{events:#?}");
    assert!(children
        .iter()
        .all(|e| e.exec().unwrap().filename == "/bin/true"));
    let forks = events.iter().filter(|e| e.kind == EventKind::Fork).count();
    assert_eq!(forks, 5);
}

#[test]
fn a_connect_carries_both_endpoints() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let script = format!("exec 3<>/dev/tcp/127.0.0.1/{port}");
    let (events, code) = trace(&["bash", "-c", &script]);
    assert_eq!(code, 0);
    // bash's getaddrinfo may first try nscd's Unix socket (ENOENT on a machine without
    // nscd): the TCP connect is the AF_INET one.
    let c = events
        .iter()
        .find(|e| e.kind == EventKind::Connect && e.net().is_some_and(|n| n.family == 2))
        .unwrap_or_else(|| panic!("no AF_INET connect: {events:#?}"));
    let n = c.net().unwrap();
    assert_eq!(n.ret, 0, "{n:?}");
    assert_eq!(n.sock_type, 1, "SOCK_STREAM");
    assert_eq!(
        n.remote,
        Some(Endpoint::Ip {
            ip: "127.0.0.1".parse().unwrap(),
            port
        })
    );
    let Some(Endpoint::Ip { port: lport, .. }) = n.local else {
        panic!("no local endpoint: {n:?}");
    };
    assert_ne!(lport, 0);
    assert_eq!(n.name, format!("127.0.0.1:{lport}->127.0.0.1:{port}"));
}

#[test]
fn bad_pointers_give_events_with_what_could_be_read() {
    let (events, code) = trace(&[HOSTILE, "bad-pointer"]);
    assert_eq!(code, 0);
    let bad: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == EventKind::Open && e.file().is_some_and(|f| f.raw_path.is_empty()))
        .collect();
    assert_eq!(bad.len(), 2, "openat(8) and open(-16)");
    assert!(bad.iter().all(|e| e.file().unwrap().ret == -14), "EFAULT");
    let connects = events
        .iter()
        .filter(|e| e.kind == EventKind::Connect)
        .count();
    assert_eq!(connects, 2);
    // The failed execs are not events (as from the kernel).
    let execs = events.iter().filter(|e| e.kind == EventKind::Exec).count();
    assert_eq!(execs, 1);
}

#[test]
fn a_thousand_arguments_and_a_path_beyond_path_max() {
    let many: Vec<String> = (0..1000).map(|i| format!("argument-{i}")).collect();
    let mut argv = vec!["/bin/true"];
    argv.extend(many.iter().map(String::as_str));
    let (events, code) = trace(&argv);
    assert_eq!(code, 0);
    let x = events
        .iter()
        .find_map(|e| e.exec().filter(|_| e.kind == EventKind::Exec))
        .unwrap();
    assert!(x.args_truncated, "argv beyond 4096 bytes is cut");
    assert!(x.args.len() > 100 && x.args.len() < 1001);
    assert_eq!(x.args[1], "argument-0");

    let (events, code) = trace(&[HOSTILE, "long-path", "10000"]);
    assert_eq!(code, 0);
    let long = events
        .iter()
        .filter_map(|e| e.file())
        .find(|f| f.raw_path.starts_with("/a/a/"))
        .expect("the long open");
    assert_eq!(long.raw_path.len(), 1023, "bounded like the kernel copy");
    assert_eq!(long.ret, -36, "ENAMETOOLONG");
}

#[test]
fn an_open_through_the_i386_abi_is_seen() {
    let (events, code) = trace(&[HOSTILE, "int80-open", "/etc/shadow"]);
    assert_eq!(code, 0);
    let o = opens(&events, "/etc/shadow");
    assert_eq!(o.len(), 1, "{o:#?}");
    assert_eq!(o[0].syscall, Some(Syscall::Open));
    assert!(o[0].file().unwrap().ret >= 0);
}

#[test]
fn threads_and_an_exec_from_a_thread() {
    let (events, code) = trace(&[HOSTILE, "threads", "20"]);
    assert_eq!(code, 0);
    let o = opens(&events, "/dev/null");
    assert_eq!(o.len(), 20);
    let leader = o[0].process.pid;
    assert!(o
        .iter()
        .all(|e| e.process.pid == leader && e.process.tid != leader));
    assert_eq!(
        events.iter().filter(|e| e.kind == EventKind::Fork).count(),
        0,
        "threads are not processes"
    );

    let (events, code) = trace(&[HOSTILE, "thread-exec", "/bin/true"]);
    assert_eq!(code, 0);
    let execs: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == EventKind::Exec)
        .collect();
    assert_eq!(execs.len(), 2, "{execs:#?}");
    assert_eq!(
        execs[1].process.pid, execs[0].process.pid,
        "the leader's pid"
    );
    assert_eq!(execs[1].process.tid, execs[0].process.pid);
    assert_eq!(execs[1].exec().unwrap().filename, "/bin/true");
}

#[test]
fn signals_reach_the_traced_program() {
    let t = std::time::Instant::now();
    let (_, code) = trace(&[
        "sh",
        "-c",
        "trap 'exit 9' USR1; kill -USR1 $$; sleep 5; exit 1",
    ]);
    assert_eq!(code, 9, "the handler ran");
    assert!(t.elapsed() < std::time::Duration::from_secs(4));
    let (events, code) = trace(&["sh", "-c", "sleep 5 & kill -TERM $!; wait $!"]);
    assert_eq!(code, 128 + 15);
    let exits: Vec<&EventData> = events
        .iter()
        .filter(|e| e.kind == EventKind::Exit)
        .map(|e| &e.data)
        .collect();
    assert!(
        exits.contains(&&EventData::Exit {
            code: 0,
            signal: 15
        }),
        "{exits:?}"
    );
}

#[test]
fn a_program_killed_inside_a_traced_syscall_ends_the_trace() {
    let (events, code) = trace(&[HOSTILE, "die-in-syscall"]);
    assert_eq!(code, 128 + 9);
    let exit = events.iter().find(|e| e.kind == EventKind::Exit).unwrap();
    assert_eq!(exit.data, EventData::Exit { code: 0, signal: 9 });
}

#[test]
fn a_command_that_does_not_exist_is_an_error_naming_it() {
    let target = Target::Command(vec!["/nonexistent/prog".into()]);
    let mut s = Session::start(&target, &Options::default()).unwrap();
    let e = s
        .run(&AtomicBool::new(false), &mut |_| {}, &mut || {})
        .unwrap_err();
    assert!(
        e.to_string().contains("cannot run /nonexistent/prog"),
        "{e}"
    );
    let e = Session::start(
        &Target::Command(vec!["no-such-program-x".into()]),
        &Options::default(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("not found on PATH"), "{e}");
}
