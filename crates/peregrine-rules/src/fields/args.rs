//! `evt.arg.NAME`, `evt.arg[N]` and `evt.args`: the event's arguments by
//! Falco's names, one function per event family.

use super::extract::{fd_name, n, s};
use crate::context::{Context, Value};
use crate::names;
use peregrine_event::{CredOp, EventData, EventKind, Exec, FileOp, NamespaceOp, NetOp, Syscall};
use std::borrow::Cow;

/// The arguments `evt.args` lists and `evt.arg[N]` counts, in order.
pub(super) const ARG_ORDER: &[&str] = &[
    "fd", "res", "filename", "exe", "args", "name", "path", "oldpath", "newpath", "target",
    "linkpath", "flags", "mode", "uid", "gid", "request", "pid", "cmd", "dev", "dir", "type",
    "nstype", "backlog", "addr",
];

/// Argument names of the event, for `evt.arg.NAME` and `evt.args`.
pub(super) fn arg_value<'c>(ctx: &'c dyn Context, name: &str) -> Option<Value<'c>> {
    let ev = ctx.event();
    match &ev.data {
        EventData::Exec(x) => exec_arg(x, name),
        EventData::File(f) => file_arg(ctx, ev.kind, ev.syscall, f, name),
        EventData::Net(x) => net_arg(ctx, ev.kind, x, name),
        EventData::Cred(c) => cred_arg(ctx, c, name),
        EventData::Ptrace {
            ret,
            request,
            target_pid,
            addr,
        } => match name {
            "request" => s(names::ptrace_request(*request)),
            "pid" => n(*target_pid),
            "addr" => n(*addr as i64),
            "res" => n(*ret),
            _ => None,
        },
        EventData::Syscalls(_) => None,
        EventData::Userfaultfd { ret, flags } => match name {
            "res" | "fd" => n(*ret),
            "flags" => n(*flags),
            _ => None,
        },
        EventData::Namespace(x) => namespace_arg(ev.kind, x, name),
        EventData::Memfd {
            ret,
            name: nm,
            flags,
        } => match name {
            "fd" | "res" => n(*ret),
            "name" => s(nm.as_str()),
            "flags" => n(*flags),
            _ => None,
        },
        EventData::Module { ret, params, path } => match name {
            "res" => n(*ret),
            "uargs" => s(params.as_str()),
            "path" | "name" => path.as_deref().map(|v| Value::Str(Cow::Borrowed(v))),
            _ => None,
        },
        EventData::Bpf { ret, cmd, .. } => match name {
            "cmd" => Some(Value::List(vec![
                Value::Str(Cow::Borrowed(names::bpf_cmd(*cmd))),
                Value::Num(*cmd as i64),
            ])),
            "res" | "res_or_fd" | "fd" => n(*ret),
            _ => None,
        },
        EventData::Fork { parent_pid, .. } => match name {
            "pid" | "ptid" => n(*parent_pid),
            "res" => n(0),
            _ => None,
        },
        EventData::Exit { code, signal } => match name {
            "status" | "ret" => n(*code),
            "sig" => n(*signal),
            _ => None,
        },
    }
}

/// A user id argument: `[name, uid]`, or `[uid]` when the name is unknown.
fn uid_val<'c>(ctx: &'c dyn Context, uid: Option<u32>) -> Option<Value<'c>> {
    let uid = uid?;
    let mut v = vec![Value::Num(uid as i64)];
    if let Some(name) = ctx.user_name(uid) {
        v.insert(0, Value::Str(Cow::Owned(name.into_owned())));
    }
    Some(Value::List(v))
}

fn exec_arg<'c>(x: &'c Exec, name: &str) -> Option<Value<'c>> {
    match name {
        "filename" => s(x.filename.as_str()),
        "exe" => s(x.args.first().cloned().unwrap_or_default()),
        "args" => s(x.args.iter().skip(1).cloned().collect::<Vec<_>>().join(" ")),
        "cwd" => s(x.cwd.as_str()),
        "tty" => n(x.tty),
        "pgid" => n(x.pgid),
        "flags" => s(""),
        "res" => n(0),
        _ => None,
    }
}

fn file_arg<'c>(
    ctx: &'c dyn Context,
    kind: EventKind,
    syscall: Option<Syscall>,
    f: &'c FileOp,
    name: &str,
) -> Option<Value<'c>> {
    match name {
        "fd" | "res_or_fd" if kind == EventKind::Open => n(f.ret),
        "res" | "res_or_fd" => n(f.ret),
        "name" | "path" | "filename" => s(f.raw_path.as_str()),
        "flags" if kind == EventKind::Open => s(names::open_flags(f.flags)),
        // unlinkat: Falco names AT_REMOVEDIR; the number still compares.
        "flags" if syscall == Some(Syscall::Unlinkat) && f.flags & 0x200 != 0 => {
            Some(Value::List(vec![
                Value::Str(Cow::Borrowed("AT_REMOVEDIR")),
                Value::Num(f.flags as i64),
            ]))
        }
        "flags" => n(f.flags as i64),
        "mode" => s(names::mode(f.mode)),
        "oldpath" => s(f.raw_path.as_str()),
        "newpath" => f.path2.as_deref().map(|p| Value::Str(Cow::Borrowed(p))),
        "target" => match kind {
            EventKind::Symlink => f.path2.as_deref().map(|p| Value::Str(Cow::Borrowed(p))),
            _ => s(f.raw_path.as_str()),
        },
        "linkpath" => s(f.path.as_str()),
        "uid" => uid_val(ctx, f.uid),
        "gid" => f.gid.and_then(n),
        _ => None,
    }
}

fn net_arg<'c>(ctx: &'c dyn Context, kind: EventKind, x: &NetOp, name: &str) -> Option<Value<'c>> {
    match name {
        "fd" if kind == EventKind::Socket => n(x.ret),
        "fd" => n(x.fd),
        "res" | "res_or_fd" => n(x.ret),
        "backlog" => x.backlog.and_then(n),
        "domain" => s(names::socket_family(x.family)),
        "type" => s(names::socket_type(x.sock_type)),
        "proto" | "protocol" => n(x.protocol),
        "size" | "data" if kind == EventKind::Sendto => n(x.ret),
        "addr" | "tuple" => fd_name(ctx).map(|v| Value::Str(Cow::Owned(v))),
        _ => None,
    }
}

fn cred_arg<'c>(ctx: &'c dyn Context, c: &CredOp, name: &str) -> Option<Value<'c>> {
    match name {
        "uid" | "euid" | "gid" | "egid" => uid_val(ctx, c.effective),
        "ruid" | "rgid" => uid_val(ctx, c.real),
        "suid" | "sgid" => uid_val(ctx, c.saved),
        "res" => n(c.ret),
        "cap_effective" => c
            .cap_effective
            .map(|v| Value::Str(Cow::Owned(names::caps(v)))),
        "cap_permitted" => c
            .cap_permitted
            .map(|v| Value::Str(Cow::Owned(names::caps(v)))),
        "cap_inheritable" => c
            .cap_inheritable
            .map(|v| Value::Str(Cow::Owned(names::caps(v)))),
        _ => None,
    }
}

fn namespace_arg<'c>(kind: EventKind, x: &'c NamespaceOp, name: &str) -> Option<Value<'c>> {
    match name {
        "res" => n(x.ret),
        "flags" if kind == EventKind::Unshare => s(names::clone_flags(x.flags)),
        "flags" => n(x.flags as i64),
        "dev" | "source" => x.source.as_deref().map(|v| Value::Str(Cow::Borrowed(v))),
        "dir" | "name" | "target" => x.target.as_deref().map(|v| Value::Str(Cow::Borrowed(v))),
        "type" => x.fstype.as_deref().map(|v| Value::Str(Cow::Borrowed(v))),
        "fd" => x.fd.and_then(n),
        "nstype" => x
            .nstype
            .map(|v| Value::Str(Cow::Owned(names::clone_flags(v as u64)))),
        _ => None,
    }
}
