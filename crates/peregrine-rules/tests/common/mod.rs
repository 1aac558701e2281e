//! Synthetic events and a context with ancestry, users and a container.
#![allow(dead_code)]

use peregrine_event::*;
use peregrine_rules::context::{ContainerView, Context, ProcessView};
use std::borrow::Cow;

pub struct Ctx {
    pub event: Event,
    pub procs: Vec<ProcessView>,
    pub container: Option<ContainerView>,
}

impl Context for Ctx {
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
        match uid {
            0 => Some("root".into()),
            1000 => Some("alice".into()),
            65534 => Some("nobody".into()),
            _ => None,
        }
    }
    fn group_name(&self, gid: u32) -> Option<Cow<'_, str>> {
        (gid == 0).then(|| "root".into())
    }
    fn hostname(&self) -> Cow<'_, str> {
        "testhost".into()
    }
}

pub fn proc(pid: u32, name: &str, exe: &str, args: &[&str]) -> ProcessView {
    ProcessView {
        pid,
        ppid: pid.saturating_sub(1),
        name: name.into(),
        exepath: exe.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        cwd: "/root".into(),
        ..Default::default()
    }
}

fn base(kind: EventKind, sys: Option<Syscall>, comm: &str, data: EventData) -> Event {
    Event {
        ts_ns: 1_700_000_000_000_000_000,
        kind,
        syscall: sys,
        process: Process {
            pid: 100,
            tid: 100,
            ppid: 99,
            vpid: 100,
            uid: 0,
            comm: comm.into(),
            loginuid: u32::MAX,
            cgroup_id: 1,
            ..Default::default()
        },
        data,
    }
}

/// A context: the event's process and two ancestors.
pub fn ctx(event: Event, chain: &[(&str, &str, &[&str])]) -> Ctx {
    let procs = chain
        .iter()
        .enumerate()
        .map(|(i, (n, e, a))| proc(100 - i as u32, n, e, a))
        .collect();
    Ctx {
        event,
        procs,
        container: None,
    }
}

pub fn open(comm: &str, path: &str, flags: u64) -> Event {
    base(
        EventKind::Open,
        Some(Syscall::Openat),
        comm,
        EventData::File(FileOp {
            ret: 3,
            path: path.into(),
            raw_path: path.into(),
            flags,
            ..Default::default()
        }),
    )
}

pub fn exec(comm: &str, exe: &str, args: &[&str]) -> Event {
    base(
        EventKind::Exec,
        Some(Syscall::Execve),
        comm,
        EventData::Exec(Exec {
            filename: exe.into(),
            exe: exe.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            cwd: "/root".into(),
            ..Default::default()
        }),
    )
}

pub fn connect(comm: &str, ip: &str, port: u16) -> Event {
    base(
        EventKind::Connect,
        Some(Syscall::Connect),
        comm,
        EventData::Net(NetOp {
            ret: 0,
            fd: 3,
            family: 2,
            sock_type: 1,
            local: Some(Endpoint::Ip {
                ip: "10.0.0.5".parse().unwrap(),
                port: 40000,
            }),
            remote: Some(Endpoint::Ip {
                ip: ip.parse().unwrap(),
                port,
            }),
            protocol: 0,
            backlog: None,
            // Not rendered: the rules render it themselves (the decoder's
            // shortcut is tested separately).
            name: String::new(),
        }),
    )
}
