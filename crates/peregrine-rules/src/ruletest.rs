//! Embedded rule tests (a Peregrine extension Falco lacks).
//!
//! A rule may carry `tests:`, each a synthetic event and whether the rule
//! must fire on it:
//!
//! ```yaml
//! - rule: Read shadow
//!   ...
//!   tests:
//!     - name: cat reads shadow
//!       expect: fire            # or: no_fire
//!       event:
//!         type: openat          # any evt.type Peregrine captures
//!         proc: {name: cat, exepath: /usr/bin/cat, args: [cat, /etc/shadow], tty: 34816}
//!         ancestors: [{name: bash}, {name: sshd}]
//!         fd: {name: /etc/shadow, flags: O_RDONLY}
//!         user: {uid: 0, name: root}
//! ```
//!
//! `user` also takes `euid` (default: `uid`) and, for setuid-family events,
//! `prev_uid` / `prev_euid`: the ids before the call (absent by default).
//!
//! Other `event` keys: `res` (return value), `net: {sip, sport, cip, cport,
//! proto}`, `args: {uid, request, name, mode, target, newpath, flags}`,
//! `container: {id, name, image, privileged, labels}`.

use crate::context::Context;
use crate::diag::{Diagnostic, Pos};
use crate::engine::{kind_of_evt_type, Engine};
use crate::loader::At;
use crate::yaml::{Node, NodeKind};
use peregrine_event::*;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

/// The outcome of one test case.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Rule under test.
    pub rule: String,
    /// Test name.
    pub name: String,
    /// Whether the rule had to fire.
    pub expect: bool,
    /// Whether it did.
    pub fired: bool,
    /// Where the test is written.
    pub at: At,
}

impl Outcome {
    /// Did the test pass?
    pub fn passed(&self) -> bool {
        self.expect == self.fired
    }
}

pub(crate) struct TestCtx {
    pub(crate) event: Event,
    procs: Vec<ProcessView>,
    container: Option<ContainerView>,
    users: HashMap<u32, String>,
}

impl Context for TestCtx {
    fn event(&self) -> &Event {
        &self.event
    }
    fn process(&self, level: usize) -> Option<Cow<'_, ProcessView>> {
        self.procs.get(level).map(Cow::Borrowed)
    }
    fn container(&self) -> Option<&ContainerView> {
        self.container.as_ref()
    }
    fn user_name(&self, uid: u32) -> Option<Cow<'_, str>> {
        self.users.get(&uid).map(|s| Cow::Borrowed(s.as_str()))
    }
    fn group_name(&self, gid: u32) -> Option<Cow<'_, str>> {
        (gid == 0).then_some(Cow::Borrowed("root"))
    }
    fn hostname(&self) -> Cow<'_, str> {
        Cow::Borrowed("test")
    }
}

fn s(n: &Node, k: &str) -> Option<String> {
    n.get(k).and_then(|v| v.as_str()).map(str::to_string)
}

fn num(n: &Node, k: &str) -> Result<Option<i64>, String> {
    match n.get(k).and_then(|v| v.as_str()) {
        None => Ok(None),
        Some(v) => {
            let v = v.trim();
            let parsed = if let Some(o) = v.strip_prefix("0o") {
                i64::from_str_radix(o, 8).ok()
            } else if v.len() > 1 && v.starts_with('0') && v.bytes().all(|b| b.is_ascii_digit()) {
                i64::from_str_radix(v, 8).ok()
            } else {
                v.parse().ok()
            };
            parsed
                .map(Some)
                .ok_or_else(|| format!("'{k}: {v}' is not a number"))
        }
    }
}

fn open_flags(v: &str) -> Result<u64, String> {
    if let Ok(n) = v.parse() {
        return Ok(n);
    }
    let mut f = 0u64;
    for part in v.split('|').map(str::trim) {
        f |= match part {
            "O_RDONLY" => 0,
            "O_WRONLY" => 1,
            "O_RDWR" => 2,
            "O_CREAT" => 0o100,
            "O_EXCL" => 0o200,
            "O_TRUNC" => 0o1000,
            "O_APPEND" => 0o2000,
            "O_NONBLOCK" => 0o4000,
            "O_DIRECTORY" => 0o200000,
            "O_NOFOLLOW" => 0o400000,
            "O_CLOEXEC" => 0o2000000,
            "O_PATH" => 0o10000000,
            "O_TMPFILE" => 0o20200000,
            "AT_REMOVEDIR" => 0x200,
            other => return Err(format!("unknown open flag '{other}'")),
        };
    }
    Ok(f)
}

fn proc_view(n: &Node, pid: u32) -> Result<ProcessView, String> {
    known_keys(
        n,
        "proc",
        &[
            "name",
            "args",
            "cmdline",
            "pid",
            "exepath",
            "cwd",
            "tty",
            "cap_effective",
            "env",
        ],
    )?;
    let name = s(n, "name").unwrap_or_else(|| "proc".into());
    let args: Vec<String> = match n.get("args") {
        Some(a) => a
            .as_seq()
            .ok_or("'args' must be a list")?
            .iter()
            .map(|x| x.as_str().unwrap_or("").to_string())
            .collect(),
        None => match s(n, "cmdline") {
            Some(c) => c.split_whitespace().map(str::to_string).collect(),
            None => vec![name.clone()],
        },
    };
    let cmdline = peregrine_event::model::cmdline_of(&name, &args);
    Ok(ProcessView {
        pid: num(n, "pid")?.map(|v| v as u32).unwrap_or(pid),
        ppid: pid.saturating_sub(1),
        exepath: s(n, "exepath").unwrap_or_else(|| format!("/usr/bin/{name}")),
        cwd: s(n, "cwd").unwrap_or_else(|| "/".into()),
        tty: num(n, "tty")?.unwrap_or(0) as u32,
        start_ns: 1,
        cap_effective: num(n, "cap_effective")?.unwrap_or(0) as u64,
        env: n
            .get("env")
            .and_then(|e| e.as_seq())
            .map(|e| {
                std::sync::Arc::new(
                    e.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect(),
                )
            })
            .unwrap_or_default(),
        name,
        args,
        cmdline,
        ..ProcessView::default()
    })
}

/// A test event's map may only use the keys this format reads: a typo
/// (`lport` for `sport`) would otherwise make a test pass for nothing.
fn known_keys(n: &Node, what: &str, keys: &[&str]) -> Result<(), String> {
    for (k, _) in n.as_map().unwrap_or(&[]) {
        let k = k.as_str().unwrap_or("");
        if !keys.contains(&k) {
            return Err(format!(
                "unknown key '{k}' in '{what}' (known: {})",
                keys.join(", ")
            ));
        }
    }
    Ok(())
}

fn ip(n: &Node, k: &str) -> Result<Option<IpAddr>, String> {
    match s(n, k) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("'{k}: {v}' is not an IP address")),
    }
}

/// A map with no keys: what an absent `user`, `args`, `fd` or `net` reads as.
fn empty_map() -> Node {
    Node {
        kind: NodeKind::Map(vec![]),
        pos: Pos::default(),
        quoted: false,
    }
}

/// Reject keys the test event format does not read, at the top level and in
/// each sub-map.
fn check_event_keys(ev: &Node) -> Result<(), String> {
    known_keys(
        ev,
        "event",
        &[
            "type",
            "proc",
            "ancestors",
            "user",
            "res",
            "args",
            "fd",
            "net",
            "container",
        ],
    )?;
    for (what, keys) in [
        (
            "user",
            &["uid", "name", "euid", "prev_uid", "prev_euid"][..],
        ),
        ("fd", &["name", "nameraw", "flags"][..]),
        ("net", &["sip", "sport", "cip", "cport", "proto"][..]),
        (
            "container",
            &["id", "name", "image", "privileged", "labels"][..],
        ),
        (
            "args",
            &[
                "cmd", "domain", "flags", "fstype", "mode", "name", "newpath", "proto", "request",
                "source", "target", "type", "uid",
            ][..],
        ),
    ] {
        if let Some(n) = ev.get(what) {
            known_keys(n, what, keys)?;
        }
    }
    Ok(())
}

/// The test's process (level 0) followed by its `ancestors`.
fn processes(ev: &Node) -> Result<Vec<ProcessView>, String> {
    let empty = empty_map();
    let pnode = ev.get("proc").unwrap_or(&empty);
    let mut procs = vec![proc_view(pnode, 1000)?];
    for (i, a) in ev
        .get("ancestors")
        .and_then(|a| a.as_seq())
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        procs.push(proc_view(a, 999 - i as u32)?);
    }
    Ok(procs)
}

/// The test event's `user` map.
struct TestUser {
    uid: u32,
    euid: u32,
    prev_uid: Option<u32>,
    prev_euid: Option<u32>,
    /// uid → name, for `user.name` lookups.
    users: HashMap<u32, String>,
}

fn test_user(ev: &Node) -> Result<TestUser, String> {
    let empty = empty_map();
    let user = ev.get("user").unwrap_or(&empty);
    let uid = num(user, "uid")?.unwrap_or(0) as u32;
    let euid = num(user, "euid")?.map(|v| v as u32).unwrap_or(uid);
    // The ids before a setuid-family call (what the state layer adds).
    let prev_uid = num(user, "prev_uid")?.map(|v| v as u32);
    let prev_euid = num(user, "prev_euid")?.map(|v| v as u32).or(prev_uid);
    let mut users: HashMap<u32, String> = [(0, "root".to_string())].into_iter().collect();
    if let Some(name) = s(user, "name") {
        users.insert(uid, name);
    }
    Ok(TestUser {
        uid,
        euid,
        prev_uid,
        prev_euid,
        users,
    })
}

/// The event's payload for its kind, from `proc`, `fd`, `net`, `args` and `res`.
fn event_data(
    kind: EventKind,
    ev: &Node,
    procs: &[ProcessView],
    user: &TestUser,
    res: Option<i64>,
) -> Result<EventData, String> {
    let empty = empty_map();
    let p = &procs[0];
    let args = ev.get("args").unwrap_or(&empty);
    Ok(match kind {
        EventKind::Exec => EventData::Exec(Exec {
            filename: p.exepath.clone(),
            exe: p.exepath.clone(),
            args: p.args.clone(),
            cwd: p.cwd.clone(),
            tty: p.tty,
            cap_effective: p.cap_effective,
            ..Exec::default()
        }),
        EventKind::Fork => EventData::Fork {
            parent_pid: procs.get(1).map(|a| a.pid).unwrap_or(1),
            parent_tid: 0,
        },
        EventKind::Exit => EventData::Exit {
            code: res.unwrap_or(0) as i32,
            signal: 0,
        },
        k if k.category() == Category::File => {
            file_data(k, ev.get("fd").unwrap_or(&empty), args, res)?
        }
        k if k.category() == Category::Network => {
            net_data(k, ev.get("net").unwrap_or(&empty), args, res)?
        }
        EventKind::Setuid | EventKind::Setgid | EventKind::Capset => EventData::Cred(CredOp {
            ret: res.unwrap_or(0),
            effective: num(args, "uid")?.map(|v| v as u32),
            prev_uid: user.prev_uid,
            prev_euid: user.prev_euid,
            ..CredOp::default()
        }),
        EventKind::Ptrace => ptrace_data(args, res),
        EventKind::MemfdCreate => EventData::Memfd {
            ret: res.unwrap_or(3),
            name: s(args, "name").unwrap_or_default(),
            flags: 0,
        },
        EventKind::ModuleLoad => EventData::Module {
            ret: res.unwrap_or(0),
            params: String::new(),
            path: s(args, "name"),
        },
        EventKind::Bpf => EventData::Bpf {
            ret: res.unwrap_or(0),
            cmd: num(args, "cmd")?.unwrap_or(5) as u32,
            prog_type: None,
        },
        EventKind::Userfaultfd => EventData::Userfaultfd {
            ret: res.unwrap_or(3),
            flags: num(args, "flags")?.unwrap_or(0) as u32,
        },
        _ => EventData::Namespace(NamespaceOp {
            ret: res.unwrap_or(0),
            flags: num(args, "flags")?.unwrap_or(0) as u64,
            source: s(args, "source"),
            target: s(args, "target"),
            fstype: s(args, "fstype"),
            ..NamespaceOp::default()
        }),
    })
}

/// A file event's payload from `fd` and `args`.
fn file_data(k: EventKind, fd: &Node, args: &Node, res: Option<i64>) -> Result<EventData, String> {
    let name = s(fd, "name")
        .or_else(|| s(args, "name"))
        .unwrap_or_default();
    let raw = s(fd, "nameraw").unwrap_or_else(|| name.clone());
    Ok(EventData::File(FileOp {
        ret: res.unwrap_or(if k == EventKind::Open { 3 } else { 0 }),
        path: name,
        raw_path: raw,
        path2: s(args, "newpath").or_else(|| s(args, "target")),
        flags: match s(fd, "flags").or_else(|| s(args, "flags")) {
            Some(f) => open_flags(&f)?,
            None => 0,
        },
        mode: num(args, "mode")?.unwrap_or(0) as u32,
        uid: num(args, "uid")?.map(|v| v as u32),
        ..FileOp::default()
    }))
}

/// A network event's payload from `net` and `args`.
fn net_data(k: EventKind, net: &Node, args: &Node, res: Option<i64>) -> Result<EventData, String> {
    let ep = |a: Option<IpAddr>, port: Option<i64>| {
        a.map(|ip| Endpoint::Ip {
            ip,
            port: port.unwrap_or(0) as u16,
        })
    };
    let server = ep(ip(net, "sip")?, num(net, "sport")?);
    let client = ep(ip(net, "cip")?, num(net, "cport")?);
    let (local, remote) = if matches!(k, EventKind::Connect | EventKind::Sendto) {
        (client, server)
    } else {
        (server, client)
    };
    let v6 = matches!(
        &local,
        Some(Endpoint::Ip {
            ip: IpAddr::V6(_),
            ..
        })
    );
    let family = match s(args, "domain") {
        Some(d) => crate::names::socket_family_of(&d)
            .ok_or_else(|| format!("unknown socket domain '{d}'"))?,
        None if v6 => 10,
        None => 2,
    };
    let sock_type = match (s(args, "type"), s(net, "proto").as_deref()) {
        (Some(t), _) => {
            crate::names::socket_type_of(&t).ok_or_else(|| format!("unknown socket type '{t}'"))?
        }
        (None, Some("udp")) => 2,
        (None, Some("raw")) => 3,
        _ => 1,
    };
    let mut op = NetOp {
        ret: res.unwrap_or(if k == EventKind::Socket { 3 } else { 0 }),
        fd: 3,
        family,
        sock_type,
        protocol: num(args, "proto")?.unwrap_or(0) as u16,
        local: if k == EventKind::Socket { None } else { local },
        remote: if k == EventKind::Socket { None } else { remote },
        backlog: None,
        name: String::new(),
    };
    // As the decoder does.
    if k != EventKind::Socket {
        op.name = op.render_name(k);
    }
    Ok(EventData::Net(op))
}

/// A ptrace event's payload: `request` by name or number (PTRACE_ATTACH by default).
fn ptrace_data(args: &Node, res: Option<i64>) -> EventData {
    let req = s(args, "request").unwrap_or_default();
    let request = (0..0x4210)
        .find(|r| crate::names::ptrace_request(*r) == req)
        .or_else(|| req.parse().ok())
        .unwrap_or(16);
    EventData::Ptrace {
        ret: res.unwrap_or(0),
        request,
        target_pid: 1,
        addr: 0,
    }
}

/// The test event's `container` map, as the state layer would describe it.
fn container_view(c: &Node) -> ContainerView {
    let image = s(c, "image").unwrap_or_default();
    let (repo, tag) = match image.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
        _ => (image.clone(), "latest".into()),
    };
    ContainerView {
        id: s(c, "id").unwrap_or_else(|| "0123456789ab".repeat(5) + "cdef"),
        name: s(c, "name").unwrap_or_else(|| "test".into()),
        image,
        image_repository: repo,
        image_tag: tag,
        privileged: s(c, "privileged").as_deref() == Some("true"),
        labels: c
            .get("labels")
            .and_then(|l| l.as_map())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().unwrap_or("").into(),
                            v.as_str().unwrap_or("").into(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        runtime: "docker".into(),
        ..ContainerView::default()
    }
}

pub(crate) fn build(ev: &Node) -> Result<TestCtx, String> {
    let t = s(ev, "type").ok_or("event needs a 'type' (an evt.type such as execve or openat)")?;
    let kind = kind_of_evt_type(&t)
        .ok_or_else(|| format!("event type '{t}' is not captured by Peregrine"))?;
    let syscall = t.parse::<Syscall>().ok().or(match kind {
        EventKind::Exec => Some(Syscall::Execve),
        _ => None,
    });
    check_event_keys(ev)?;
    let procs = processes(ev)?;
    let user = test_user(ev)?;
    let res = num(ev, "res")?;
    let data = event_data(kind, ev, &procs, &user, res)?;
    let container = ev.get("container").map(container_view);
    let p = &procs[0];
    let event = Event {
        ts_ns: 1_700_000_000_000_000_000,
        kind,
        syscall: if kind == EventKind::Exec || kind == EventKind::Fork || kind == EventKind::Exit {
            syscall.filter(|_| kind == EventKind::Exec)
        } else {
            syscall
        },
        process: Process {
            pid: p.pid,
            tid: p.pid,
            ppid: procs.get(1).map(|a| a.pid).unwrap_or(1),
            vpid: p.pid,
            uid: user.uid,
            euid: user.euid,
            loginuid: u32::MAX,
            comm: p.name.clone(),
            exe: Some(p.exepath.clone()),
            cgroup_id: if container.is_some() { 4242 } else { 1 },
            cgroup: container.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
            ..Process::default()
        },
        data,
    };
    Ok(TestCtx {
        event,
        procs,
        container,
        users: user.users,
    })
}

/// Run every embedded test of the engine's rules. Malformed tests are
/// diagnostics (with their position), not panics.
pub fn run_all(engine: &Engine) -> (Vec<Outcome>, Vec<Diagnostic>) {
    let mut outcomes = Vec::new();
    let mut diags = Vec::new();
    for rule in engine.rules() {
        for t in &rule.tests {
            let at = At {
                source: rule.at.source.clone(),
                pos: t.pos,
            };
            let item = format!("rule '{}'", rule.name);
            let name = s(t, "name").unwrap_or_else(|| format!("test at line {}", t.pos.line));
            let expect = match s(t, "expect").as_deref() {
                Some("fire") | Some("true") => true,
                Some("no_fire") | Some("false") => false,
                other => {
                    diags.push(
                        Diagnostic::error(
                            &at.source,
                            t.pos,
                            format!("test '{name}': expect must be fire or no_fire, not {other:?}"),
                        )
                        .in_item(&item),
                    );
                    continue;
                }
            };
            let Some(ev) = t.get("event") else {
                diags.push(
                    Diagnostic::error(&at.source, t.pos, format!("test '{name}' has no 'event'"))
                        .in_item(&item),
                );
                continue;
            };
            match build(ev) {
                Ok(ctx) => {
                    let mut fired = false;
                    engine.for_each_match(&ctx, |r| fired |= r.name == rule.name);
                    outcomes.push(Outcome {
                        rule: rule.name.clone(),
                        name,
                        expect,
                        fired,
                        at,
                    });
                }
                Err(msg) => diags.push(
                    Diagnostic::error(&at.source, ev.pos, format!("test '{name}': {msg}"))
                        .in_item(&item),
                ),
            }
        }
    }
    crate::sequence::ruletest::run(engine, &mut outcomes, &mut diags);
    (outcomes, diags)
}
