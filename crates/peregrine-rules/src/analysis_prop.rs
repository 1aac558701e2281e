//! Property test of the open analysis against the rules themselves:
//! generated rule sets and open events, and the kernel's decision (a
//! successful open passes when its path starts with a prefix of its access
//! mode; failed opens always pass) must let through every event some rule
//! matches.

use super::{open_path_prefixes, Access};
use crate::context::EventOnly;
use crate::Engine;
use peregrine_event::{Event, EventData, EventKind, FileOp, Process, Syscall};

/// xorshift64*: deterministic, so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Components chosen to collide: `etc` and `etcx`, `e` a prefix of both.
const PARTS: &[&str] = &["etc", "etcx", "e", "tmp", "root", ".ssh", "x", "id_rsa"];

fn path(r: &mut Rng) -> String {
    let depth = 1 + r.below(3);
    (0..depth).map(|_| format!("/{}", r.pick(PARTS))).collect()
}

/// A path condition (or one about something else) of a shape the
/// analysis understands, partly understands, or must give up on.
fn path_cond(r: &mut Rng) -> String {
    let (p, q) = (path(r), path(r));
    let short = &p[..1 + r.below(p.len() as u64 - 1) as usize];
    match r.below(16) {
        0 => format!("fd.name startswith {short}"),
        1 => format!("fd.name = {p}"),
        2 => format!("fd.name in ({p}, {q})"),
        3 => format!("fd.directory = {p}"),
        4 => format!("fd.directory startswith {short}"),
        5 => format!("fd.directory in ({p}, {q})"),
        6 => format!("fd.name pmatch ({p}, {q})"),
        7 => format!("fd.name contains {}", r.pick(PARTS)),
        8 => format!("fd.name endswith {}", r.pick(PARTS)),
        9 => format!("not fd.name startswith {short}"),
        10 => format!("fd.name glob '{short}*'"),
        11 => format!("proc.name = {}", r.pick(&["cat", "sh"])),
        12 => format!("fd.filename = {}", r.pick(PARTS)),
        13 => format!("(fd.name startswith {short} or fd.directory = {q})"),
        14 => format!("(fd.name startswith {short} and not fd.name = {q})"),
        _ => format!("fd.name startswith {short} and fd.name startswith {q}"),
    }
}

fn condition(r: &mut Rng) -> String {
    let ty = r.pick(&[
        "evt.type = openat and ",
        "evt.type in (open, openat, openat2) and ",
        "evt.type = execve and ",
        "evt.type in (openat, execve) and ",
        "",
    ]);
    let access = r.pick(&[
        "",
        "evt.is_open_write = true and ",
        "evt.is_open_read = true and ",
        "evt.is_open_write = false and ",
        "evt.is_open_write != true and ",
    ]);
    let res = r.pick(&[
        "",
        "evt.res = SUCCESS and ",
        "fd.num >= 0 and ",
        "evt.res != SUCCESS and ",
    ]);
    let body = match r.below(4) {
        0 => format!("({} or {})", path_cond(r), path_cond(r)),
        1 => format!("({} and {})", path_cond(r), path_cond(r)),
        _ => path_cond(r),
    };
    format!("{ty}{access}{res}{body}")
}

fn open_event(r: &mut Rng) -> Event {
    // O_RDONLY, O_WRONLY, O_RDWR, mode 3, O_WRONLY|O_CREAT, O_RDONLY|O_CREAT
    let flags = [0u64, 1, 2, 3, 0o101, 0o100][r.below(6) as usize];
    let ret = if r.below(4) == 0 { -2 } else { 3 };
    let p = path(r);
    Event {
        ts_ns: 1,
        kind: EventKind::Open,
        syscall: Some(Syscall::Openat),
        process: Process {
            pid: 10,
            comm: r.pick(&["cat", "sh"]).into(),
            ..Process::default()
        },
        data: EventData::File(FileOp {
            ret,
            path: p.clone(),
            raw_path: p,
            flags,
            ..Default::default()
        }),
    }
}

/// The kernel's decision (`pg_open_needed` in bpf/peregrine.bpf.c).
fn kernel_passes(ev: &Event, read: &Option<Vec<String>>, write: &Option<Vec<String>>) -> bool {
    let f = ev.file().expect("an open");
    if f.ret < 0 {
        return true;
    }
    let acc = f.flags & 3;
    let set = if acc == 1 || acc == 2 { write } else { read };
    set.as_ref()
        .is_none_or(|ps| ps.iter().any(|p| f.path.starts_with(p.as_str())))
}

#[test]
fn the_open_filter_never_drops_an_event_a_rule_matches() {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut matched, mut dropped, mut filtering_sets) = (0u32, 0u32, 0u32);
    for case in 0..400 {
        let n = 1 + r.below(3);
        let conds: Vec<String> = (0..n).map(|_| condition(&mut r)).collect();
        let text: String = conds
            .iter()
            .enumerate()
            .map(|(i, c)| {
                format!(
                    "- rule: r{i}\n  desc: d\n  condition: {c}\n  output: o\n  priority: NOTICE\n"
                )
            })
            .collect();
        let e = Engine::from_str("prop.yaml", &text).unwrap_or_else(|e| panic!("{text}\n{e}"));
        let read = open_path_prefixes(e.rules(), Access::Read);
        let write = open_path_prefixes(e.rules(), Access::Write);
        filtering_sets += u32::from(read.is_some() || write.is_some());
        for _ in 0..40 {
            let ev = open_event(&mut r);
            let mut hit = None;
            e.for_each_match(&EventOnly(&ev), |m| {
                hit.get_or_insert(m.name.clone());
            });
            let passes = kernel_passes(&ev, &read, &write);
            if let Some(rule) = &hit {
                matched += 1;
                assert!(
                    passes,
                    "case {case}: rule {rule} matches an open the kernel drops\n{text}\
                     event: {:?}\nread prefixes: {read:?}\nwrite prefixes: {write:?}",
                    ev.data
                );
            } else if !passes {
                dropped += 1;
            }
        }
    }
    // The property means something only if both sides happen often.
    assert!(matched > 500, "rules matched {matched} events");
    assert!(
        dropped > 500,
        "the filter dropped {dropped} unmatched events"
    );
    assert!(filtering_sets > 100, "{filtering_sets} rule sets filtered");
}
