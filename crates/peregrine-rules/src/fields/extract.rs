//! Computing field values from an event and its context.

use super::args::{arg_value, ARG_ORDER};
use super::{lookup, Bound, Fid, FieldArg};
use crate::context::{Context, ProcessView, Value};
use crate::names;
use peregrine_event::{Endpoint, EventData, EventKind, Syscall};
use std::borrow::Cow;
use std::net::IpAddr;

pub(super) fn s<'a>(v: impl Into<Cow<'a, str>>) -> Option<Value<'a>> {
    Some(Value::Str(v.into()))
}
pub(super) fn n<'a>(v: impl TryInto<i64>) -> Option<Value<'a>> {
    v.try_into().ok().map(Value::Num)
}

/// The process at `level` of the ancestry; level 0 falls back to the event.
fn proc_at<'c>(ctx: &'c dyn Context, level: usize) -> Option<Cow<'c, ProcessView>> {
    if let Some(p) = ctx.process(level) {
        return Some(p);
    }
    if level != 0 {
        return None;
    }
    let ev = ctx.event();
    let p = &ev.process;
    let mut v = ProcessView {
        pid: p.pid,
        ppid: p.ppid,
        name: p.comm.clone(),
        exepath: p.exe.clone().unwrap_or_default(),
        vpid: p.vpid,
        ..ProcessView::default()
    };
    if let EventData::Exec(x) = &ev.data {
        v.exepath = x.exe.clone();
        v.args = x.args.clone();
        v.cwd = x.cwd.clone();
        v.tty = x.tty;
        v.sid = x.sid;
        v.pgid = x.pgid;
        v.cap_effective = x.cap_effective;
        v.cap_permitted = x.cap_permitted;
        v.cap_inheritable = x.cap_inheritable;
        v.exe_upper_layer = x.exe_upper_layer;
        v.exe_times = x.exe_ctime_ns.zip(x.exe_mtime_ns);
        v.env = std::sync::Arc::new(x.env.clone());
        v.start_ns = ev.ts_ns;
    }
    Some(Cow::Owned(v))
}

fn pstr<'c>(p: Cow<'c, ProcessView>, f: fn(&ProcessView) -> &str) -> Value<'c> {
    match p {
        Cow::Borrowed(b) => Value::Str(Cow::Borrowed(f(b))),
        Cow::Owned(o) => Value::Str(Cow::Owned(f(&o).to_string())),
    }
}

pub(super) fn name_of(p: &ProcessView) -> &str {
    &p.name
}
pub(super) fn exepath_of(p: &ProcessView) -> &str {
    &p.exepath
}
pub(super) fn cwd_of(p: &ProcessView) -> &str {
    &p.cwd
}
pub(super) fn argv0_of(p: &ProcessView) -> &str {
    p.args.first().map(String::as_str).unwrap_or(&p.name)
}

fn cmdline_val(p: Cow<'_, ProcessView>) -> Value<'_> {
    if !p.cmdline.is_empty() {
        return pstr(p, |p| &p.cmdline);
    }
    Value::Str(Cow::Owned(cmdline(&p)))
}

/// `proc.args`: the command line after argv[0], borrowed from the
/// precomputed command line when there is one.
fn args_val(p: Cow<'_, ProcessView>) -> Value<'_> {
    if p.args.len() <= 1 {
        return Value::Str(Cow::Borrowed(""));
    }
    let borrowed = p
        .cmdline
        .strip_prefix(p.name.as_str())
        .and_then(|r| r.strip_prefix(' '))
        .is_some();
    if borrowed {
        return pstr(p, |p| &p.cmdline[p.name.len() + 1..]);
    }
    Value::Str(Cow::Owned(p.args[1..].join(" ")))
}

fn cmdline(p: &ProcessView) -> String {
    peregrine_event::model::cmdline_of(&p.name, &p.args)
}

fn ancestors<'c, T>(
    ctx: &'c dyn Context,
    arg: &FieldArg,
    f: impl Fn(&ProcessView) -> T,
) -> Option<Value<'c>>
where
    T: Into<Value<'c>>,
{
    match arg {
        FieldArg::Index(i) => proc_at(ctx, *i).map(|p| f(&p).into()),
        _ => {
            let mut all = Vec::new();
            for level in 1..64 {
                match ctx.process(level) {
                    Some(p) => all.push(f(&p).into()),
                    None => break,
                }
            }
            if all.is_empty() {
                None
            } else {
                Some(Value::List(all))
            }
        }
    }
}

impl<'a> From<String> for Value<'a> {
    fn from(v: String) -> Self {
        Value::Str(Cow::Owned(v))
    }
}
impl<'a> From<u32> for Value<'a> {
    fn from(v: u32) -> Self {
        Value::Num(v as i64)
    }
}

fn ancestors_str<'c>(
    ctx: &'c dyn Context,
    arg: &FieldArg,
    f: fn(&ProcessView) -> &str,
) -> Option<Value<'c>> {
    match arg {
        FieldArg::Index(i) => proc_at(ctx, *i).map(|p| pstr(p, f)),
        _ => {
            let all: Vec<Value<'c>> = (1..64)
                .map_while(|l| ctx.process(l))
                .map(|p| pstr(p, f))
                .collect();
            (!all.is_empty()).then_some(Value::List(all))
        }
    }
}

struct Conn {
    local: Option<(IpAddr, u16)>,
    remote: Option<(IpAddr, u16)>,
    server_is_local: bool,
}

fn conn(ctx: &dyn Context) -> Option<Conn> {
    let n = ctx.event().net()?;
    let ep = |e: &Option<Endpoint>| match e {
        Some(Endpoint::Ip { ip, port }) => Some((*ip, *port)),
        _ => None,
    };
    Some(Conn {
        local: ep(&n.local),
        remote: ep(&n.remote),
        server_is_local: matches!(
            ctx.event().kind,
            EventKind::Accept | EventKind::Listen | EventKind::Bind
        ),
    })
}

pub(super) fn evt_type(ctx: &dyn Context) -> &'static str {
    let ev = ctx.event();
    match ev.kind {
        EventKind::Exec => "execve",
        EventKind::Fork => "clone",
        EventKind::Exit => "procexit",
        _ => ev.syscall.map(Syscall::name).unwrap_or(ev.kind.name()),
    }
}

/// What `fd.name` shows for events it does not take from the event's own
/// path or name (also `evt.arg.addr`).
pub(super) fn fd_name(ctx: &dyn Context) -> Option<String> {
    let ev = ctx.event();
    match &ev.data {
        EventData::File(f) => Some(f.path.clone()),
        EventData::Net(x) if !x.name.is_empty() => Some(x.name.clone()),
        EventData::Net(x) => Some(x.render_name(ev.kind)),
        EventData::Memfd { name, .. } => Some(format!("memfd:{name}")),
        EventData::Module { path, .. } => path.clone(),
        EventData::Namespace(x) if ev.kind == EventKind::Setns => x.target.clone(),
        _ => None,
    }
}

pub(super) fn split_dir(p: &str) -> (&str, &str) {
    match p.rfind('/') {
        Some(0) => ("/", &p[1..]),
        Some(i) => (&p[..i], &p[i + 1..]),
        None => ("", p),
    }
}

/// Compute a field's value for the event in `ctx`; `None` when absent.
///
/// This is the hot path of rule evaluation (every field check of every
/// rule calls it), so it stays one `match` on the field id, which the
/// compiler turns into a single jump table; it is the one function allowed
/// past the ~120-line limit. Split into helpers per field family it would
/// add a call and a second dispatch to every check: add new fields as arms
/// here, and put any work longer than a few lines in a helper function.
pub fn extract<'c>(b: &Bound, ctx: &'c dyn Context) -> Option<Value<'c>> {
    let ev = ctx.event();
    let p0 = || proc_at(ctx, 0);
    match b.def.id {
        Fid::K8sAudit(id) => super::k8saudit::extract(id, b, ctx),
        Fid::EvtType => s(evt_type(ctx)),
        Fid::EvtDir => s("<"),
        Fid::EvtNum => n(ctx.event_num()),
        Fid::EvtTime => {
            let secs = ev.ts_ns / 1_000_000_000;
            s(format!(
                "{:02}:{:02}:{:02}.{:09}",
                (secs / 3600) % 24,
                (secs / 60) % 60,
                secs % 60,
                ev.ts_ns % 1_000_000_000
            ))
        }
        Fid::EvtRawTime => n(ev.ts_ns),
        Fid::EvtHostname => s(ctx.hostname()),
        Fid::EvtRes | Fid::EvtRawRes | Fid::EvtFailed => {
            let ret = match arg_value(ctx, "res") {
                Some(Value::Num(r)) => r,
                _ => return None,
            };
            match b.def.id {
                Fid::EvtRes => s(names::errno(ret)),
                Fid::EvtRawRes => n(ret),
                _ => Some(Value::Bool(ret < 0)),
            }
        }
        Fid::EvtArgs => {
            let parts: Vec<String> = ARG_ORDER
                .iter()
                .filter_map(|a| arg_value(ctx, a).map(|v| format!("{a}={}", v.render())))
                .collect();
            s(parts.join(" "))
        }
        Fid::EvtArg => match &b.arg {
            FieldArg::Key(k) => arg_value(ctx, k),
            FieldArg::Index(i) => ARG_ORDER.iter().filter_map(|a| arg_value(ctx, a)).nth(*i),
            FieldArg::None => None,
        },
        Fid::EvtIsOpenRead | Fid::EvtIsOpenWrite | Fid::EvtIsOpenExec => {
            if ev.kind != EventKind::Open {
                return Some(Value::Bool(false));
            }
            let acc = ev.file().map(|f| f.flags & 3).unwrap_or(0);
            Some(Value::Bool(match b.def.id {
                Fid::EvtIsOpenRead => acc == 0 || acc == 2,
                Fid::EvtIsOpenWrite => acc == 1 || acc == 2,
                _ => false,
            }))
        }
        Fid::EvtBuffer => None,
        Fid::EvtCategory => s(ev.kind.category().name()),
        Fid::ProcName => p0().map(|p| pstr(p, name_of)),
        Fid::ProcExe => p0().map(|p| pstr(p, argv0_of)),
        Fid::ProcExePath => p0().map(|p| pstr(p, exepath_of)),
        Fid::ProcArgs => p0().map(args_val),
        Fid::ProcArgv => {
            let p = p0()?;
            let at = |i: usize| match &p {
                Cow::Borrowed(v) => Value::Str(Cow::Borrowed(v.args[i].as_str())),
                Cow::Owned(v) => Value::Str(Cow::Owned(v.args[i].clone())),
            };
            match b.arg {
                FieldArg::Index(i) => (i < p.args.len()).then(|| at(i)),
                _ => (!p.args.is_empty()).then(|| Value::List((0..p.args.len()).map(at).collect())),
            }
        }
        Fid::ProcCmdline => p0().map(cmdline_val),
        Fid::ProcPid => n(ev.process.pid),
        Fid::ProcPpid => n(ev.process.ppid),
        Fid::ProcVpid => n(ev.process.vpid),
        Fid::ProcPname => proc_at(ctx, 1).map(|p| pstr(p, name_of)),
        Fid::ProcPexe => proc_at(ctx, 1).map(|p| pstr(p, argv0_of)),
        Fid::ProcPexePath => proc_at(ctx, 1).map(|p| pstr(p, exepath_of)),
        Fid::ProcPcmdline => proc_at(ctx, 1).map(cmdline_val),
        Fid::ProcAname => ancestors_str(ctx, &b.arg, name_of),
        Fid::ProcAexe => ancestors_str(ctx, &b.arg, argv0_of),
        Fid::ProcAexePath => ancestors_str(ctx, &b.arg, exepath_of),
        Fid::ProcApid => ancestors(ctx, &b.arg, |p| p.pid),
        Fid::ProcAcmdline => match &b.arg {
            FieldArg::Index(i) => proc_at(ctx, *i).map(cmdline_val),
            _ => {
                let all: Vec<Value<'c>> = (1..64)
                    .map_while(|l| ctx.process(l))
                    .map(cmdline_val)
                    .collect();
                (!all.is_empty()).then_some(Value::List(all))
            }
        },
        Fid::ProcTty => p0().map(|p| Value::Num(p.tty as i64)),
        Fid::ProcSid => p0().map(|p| Value::Num(p.sid as i64)),
        Fid::ProcSname => {
            let sid = p0()?.sid;
            (1..64)
                .map_while(|l| proc_at(ctx, l))
                .find(|p| p.pid == sid)
                .map(|p| p.name.clone().into())
        }
        Fid::ProcCwd => p0().map(|p| pstr(p, cwd_of)),
        Fid::ProcEnv => {
            let p = p0()?;
            if p.env.is_empty() {
                return None;
            }
            match &b.arg {
                FieldArg::Key(k) => p
                    .env
                    .iter()
                    .find_map(|e| e.strip_prefix(k.as_str()).and_then(|r| r.strip_prefix('=')))
                    .map(|v| Value::Str(Cow::Owned(v.to_string()))),
                _ => s(p.env.join(" ")),
            }
        }
        Fid::ProcDuration => {
            let st = p0()?.start_ns;
            (st > 0).then(|| Value::Num(ev.ts_ns.saturating_sub(st) as i64))
        }
        Fid::ProcPpidDuration => {
            let st = proc_at(ctx, 1)?.start_ns;
            (st > 0).then(|| Value::Num(ev.ts_ns.saturating_sub(st) as i64))
        }
        Fid::ProcIsExeUpperLayer => p0()?.exe_upper_layer.map(Value::Bool),
        Fid::ProcIsExeFromMemfd => p0().map(|p| Value::Bool(p.exepath.starts_with("/memfd:"))),
        Fid::ProcExeIno => ev.exec().map(|x| Value::Num(x.exe_ino as i64)),
        Fid::ProcExeInoCtime | Fid::ProcExeInoMtime | Fid::ProcExeInoCtimeDur => {
            let p = p0()?;
            let (ctime, mtime) = p.exe_times?;
            match b.def.id {
                Fid::ProcExeInoCtime => n(ctime),
                Fid::ProcExeInoMtime => n(mtime),
                _ => (p.start_ns >= ctime && ctime > 0)
                    .then(|| Value::Num((p.start_ns - ctime) as i64)),
            }
        }
        Fid::ProcIsVpgidLeader => p0().map(|p| Value::Bool(p.pgid != 0 && p.pgid == p.pid)),
        Fid::ProcVpgid | Fid::ProcPgid => p0().map(|p| Value::Num(p.pgid as i64)),
        Fid::ProcVpgidName | Fid::ProcVpgidExe => {
            let pgid = p0()?.pgid;
            let leader = (0..64)
                .map_while(|l| proc_at(ctx, l))
                .find(|p| p.pid == pgid)?;
            Some(if b.def.id == Fid::ProcVpgidName {
                pstr(leader, name_of)
            } else {
                pstr(leader, argv0_of)
            })
        }
        Fid::ThreadTid => n(ev.process.tid),
        Fid::ThreadCapEff => p0().map(|p| names::caps(p.cap_effective).into()),
        Fid::ThreadCapPerm => p0().map(|p| names::caps(p.cap_permitted).into()),
        Fid::ThreadCapInh => p0().map(|p| names::caps(p.cap_inheritable).into()),
        Fid::UserUid => n(ev.process.uid),
        Fid::UserEuid => n(ev.process.euid),
        Fid::UserPrevUid => match &ev.data {
            EventData::Cred(c) => c.prev_uid.and_then(n),
            _ => None,
        },
        Fid::UserPrevEuid => match &ev.data {
            EventData::Cred(c) => c.prev_euid.and_then(n),
            _ => None,
        },
        Fid::UserName => ctx.user_name(ev.process.uid).map(Value::Str),
        Fid::UserLoginUid => n(ev.process.loginuid as i32),
        Fid::UserLoginName => {
            let l = ev.process.loginuid;
            if l == u32::MAX {
                return None;
            }
            ctx.user_name(l).map(Value::Str)
        }
        Fid::GroupGid => n(ev.process.gid),
        Fid::GroupName => ctx.group_name(ev.process.gid).map(Value::Str),
        Fid::FdNum => match &ev.data {
            EventData::File(f) if ev.kind == EventKind::Open && f.ret >= 0 => n(f.ret),
            EventData::Net(x) => n(x.fd),
            EventData::Memfd { ret, .. } => n(*ret),
            _ => None,
        },
        Fid::FdType | Fid::FdTypeChar => {
            let (t, c) = match &ev.data {
                EventData::File(f) if ev.kind == EventKind::Open && f.flags & 0o200000 != 0 => {
                    ("directory", "d")
                }
                EventData::File(_) if ev.kind == EventKind::Mkdir => ("directory", "d"),
                EventData::File(_) => ("file", "f"),
                EventData::Net(x) => match x.family {
                    2 => ("ipv4", "4"),
                    10 => ("ipv6", "6"),
                    1 => ("unix", "u"),
                    17 => ("packet", "p"),
                    16 => ("netlink", "n"),
                    _ => return None,
                },
                EventData::Memfd { .. } => ("memfd", "m"),
                _ => return None,
            };
            s(if b.def.id == Fid::FdType { t } else { c })
        }
        Fid::FdName => match &ev.data {
            EventData::File(f) => s(f.path.as_str()),
            EventData::Net(x) if !x.name.is_empty() => s(x.name.as_str()),
            _ => fd_name(ctx).map(|v| v.into()),
        },
        Fid::FdNameRaw => ev
            .file()
            .map(|f| Value::Str(Cow::Borrowed(f.raw_path.as_str()))),
        Fid::FdDirectory | Fid::FdFilename => {
            let f = ev.file()?;
            let (d, name) = split_dir(&f.path);
            s(if b.def.id == Fid::FdDirectory {
                d
            } else {
                name
            })
        }
        Fid::FdIp | Fid::FdNet | Fid::FdPort => {
            let c = conn(ctx)?;
            let mut v = Vec::new();
            for (ip, port) in [c.local, c.remote].into_iter().flatten() {
                v.push(if b.def.id == Fid::FdPort {
                    Value::Num(port as i64)
                } else {
                    Value::Ip(ip)
                });
            }
            (!v.is_empty()).then_some(Value::List(v))
        }
        Fid::FdCip
        | Fid::FdSip
        | Fid::FdLip
        | Fid::FdRip
        | Fid::FdCnet
        | Fid::FdSnet
        | Fid::FdLnet
        | Fid::FdRnet
        | Fid::FdCport
        | Fid::FdSport
        | Fid::FdLport
        | Fid::FdRport => {
            let c = conn(ctx)?;
            let (server, client) = if c.server_is_local {
                (c.local, c.remote)
            } else {
                (c.remote, c.local)
            };
            let ep = match b.def.id {
                Fid::FdCip | Fid::FdCnet | Fid::FdCport => client,
                Fid::FdSip | Fid::FdSnet | Fid::FdSport => server,
                Fid::FdLip | Fid::FdLnet | Fid::FdLport => c.local,
                _ => c.remote,
            }?;
            Some(match b.def.id {
                Fid::FdCport | Fid::FdSport | Fid::FdLport | Fid::FdRport => {
                    Value::Num(ep.1 as i64)
                }
                _ => Value::Ip(ep.0),
            })
        }
        Fid::FdL4Proto => {
            let x = ev.net()?;
            match (x.family, x.sock_type) {
                (1, _) => None,
                (_, 1) => s("tcp"),
                (_, 2) => s("udp"),
                (_, 3) => s("raw"),
                _ => None,
            }
        }
        Fid::FdSockFamily => match ev.net()?.family {
            1 => s("unix"),
            2 | 10 => s("ip"),
            _ => None,
        },
        Fid::FdConnected => ev.net().map(|x| {
            Value::Bool(matches!(ev.kind, EventKind::Connect | EventKind::Accept) && x.ret >= 0)
        }),
        Fid::FdNameChanged => Some(Value::Bool(false)),
        Fid::FdTypes => {
            let t = extract(
                &Bound {
                    def: lookup("fd.type")?,
                    arg: FieldArg::None,
                },
                ctx,
            )?;
            match &b.arg {
                FieldArg::Index(0) | FieldArg::None => Some(Value::List(vec![t])),
                _ => None,
            }
        }
        Fid::FdCipName | Fid::FdSipName | Fid::FdLipName | Fid::FdRipName => None,
        Fid::FdIno => ev
            .file()
            .filter(|f| f.ino != 0)
            .map(|f| Value::Num(f.ino as i64)),
        Fid::FdDev => ev
            .file()
            .filter(|f| f.ino != 0)
            .map(|f| Value::Num(f.dev as i64)),
        Fid::CtId | Fid::CtFullId | Fid::CtName | Fid::CtType => match ctx.container() {
            Some(c) => s(match b.def.id {
                Fid::CtId => Cow::Owned(c.id.chars().take(12).collect::<String>()),
                Fid::CtFullId => Cow::Borrowed(c.id.as_str()),
                Fid::CtName => Cow::Borrowed(c.name.as_str()),
                _ => Cow::Borrowed(c.runtime.as_str()),
            }),
            None => s("host"),
        },
        Fid::CtImage => ctx
            .container()
            .map(|c| Value::Str(Cow::Borrowed(c.image.as_str()))),
        Fid::CtImageRepo => ctx
            .container()
            .map(|c| Value::Str(Cow::Borrowed(c.image_repository.as_str()))),
        Fid::CtImageTag => ctx
            .container()
            .map(|c| Value::Str(Cow::Borrowed(c.image_tag.as_str()))),
        Fid::CtImageId => ctx
            .container()
            .map(|c| Value::Str(Cow::Borrowed(c.image_id.as_str()))),
        Fid::CtPrivileged => ctx.container().map(|c| Value::Bool(c.privileged)),
        Fid::CtMounts => ctx.container().map(|c| {
            let v: Vec<String> = c
                .mounts
                .iter()
                .map(|(s, d, m, rw)| format!("{s}:{d}:{m}:{rw}"))
                .collect();
            Value::Str(Cow::Owned(v.join(",")))
        }),
        Fid::CtMountDest | Fid::CtMountSource => {
            let FieldArg::Key(k) = &b.arg else {
                return None;
            };
            let c = ctx.container()?;
            c.mounts
                .iter()
                .find(|(src, dst, _, _)| {
                    if b.def.id == Fid::CtMountDest {
                        dst == k
                    } else {
                        src == k
                    }
                })
                .map(|(s, d, m, rw)| Value::Str(Cow::Owned(format!("{s}:{d}:{m}:{rw}"))))
        }
        Fid::CtStartTs => ctx.container().map(|c| Value::Num(c.start_ns as i64)),
        Fid::CtLabel | Fid::K8sPodLabel => {
            let FieldArg::Key(k) = &b.arg else {
                return None;
            };
            let c = ctx.container()?;
            c.labels
                .get(k)
                .map(|v| Value::Str(Cow::Borrowed(v.as_str())))
        }
        Fid::K8sNsName | Fid::K8sPodName | Fid::K8sPodUid => {
            let c = ctx.container()?;
            let key = match b.def.id {
                Fid::K8sNsName => "io.kubernetes.pod.namespace",
                Fid::K8sPodName => "io.kubernetes.pod.name",
                _ => "io.kubernetes.pod.uid",
            };
            c.labels
                .get(key)
                .map(|v| Value::Str(Cow::Borrowed(v.as_str())))
        }
        Fid::K8sDeploymentName
        | Fid::K8sDeploymentUid
        | Fid::K8sRsName
        | Fid::K8sRsUid
        | Fid::K8sRcName
        | Fid::K8sRcUid => {
            let (kind, uid) = match b.def.id {
                Fid::K8sDeploymentName => ("Deployment", false),
                Fid::K8sDeploymentUid => ("Deployment", true),
                Fid::K8sRsName => ("ReplicaSet", false),
                Fid::K8sRsUid => ("ReplicaSet", true),
                Fid::K8sRcName => ("ReplicationController", false),
                _ => ("ReplicationController", true),
            };
            let o = ctx.container()?.workload.as_ref()?.of_kind(kind)?;
            let v = if uid { &o.uid } else { &o.name };
            Some(Value::Str(Cow::Borrowed(v.as_str())))
        }
        Fid::K8sWorkloadKind | Fid::K8sWorkloadName => {
            let o = ctx.container()?.workload.as_ref()?.top()?;
            let v = if b.def.id == Fid::K8sWorkloadKind {
                &o.kind
            } else {
                &o.name
            };
            Some(Value::Str(Cow::Borrowed(v.as_str())))
        }
        Fid::K8sPodLabels => {
            let c = ctx.container()?;
            let v: Vec<String> = c
                .labels
                .iter()
                .filter(|(k, _)| !k.starts_with("io.kubernetes."))
                .map(|(k, v)| format!("{k}:{v}"))
                .collect();
            s(v.join(","))
        }
    }
}
