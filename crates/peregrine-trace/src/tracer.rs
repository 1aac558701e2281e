//! The ptrace loop: every stop of every traced task, in the order the
//! kernel reports them, turned into sensor records.
//!
//! With the seccomp filter, a task stops only on the syscalls of interest
//! (`PTRACE_EVENT_SECCOMP`, before the syscall runs: arguments and the
//! exec filename are read there), is resumed with `PTRACE_SYSCALL` to stop
//! once more at the syscall's exit (the result; the record is built there,
//! as the sensor builds it at `sys_exit`), then runs free (`PTRACE_CONT`).
//! Without it (`--pid`, or a kernel that refuses the filter) every syscall
//! stops at entry and exit. Fork, clone, exec come from the ptrace events.

use crate::build;
use crate::syscalls::{self, Abi, Traced};
use crate::task::{self, Identity};
use peregrine_event::{decode, Clock, Event, EventKind};
use std::collections::{HashMap, HashSet};

const PTRACE_EVENT_STOP: i32 = 128;
const OP_ENTRY: u8 = 1;
const OP_EXIT: u8 = 2;
const OP_SECCOMP: u8 = 3;

/// `struct ptrace_syscall_info` (Linux 5.3+).
#[repr(C)]
#[derive(Default)]
struct SyscallInfo {
    op: u8,
    _pad: u8,
    _flags: u16,
    arch: u32,
    _ip: u64,
    _sp: u64,
    /// entry/seccomp: nr, args[6], ret_data; exit: rval, is_error.
    data: [u64; 8],
}

/// A syscall stop: operation (`PTRACE_SYSCALL_INFO_*`), ABI, number,
/// arguments, return value.
type Stop = (u8, Option<Abi>, u64, [u64; 6], i64);

/// A syscall between its seccomp (or entry) stop and its exit stop.
#[derive(Debug, Clone)]
struct Pending {
    traced: Traced,
    args: [u64; 6],
    /// execve's filename, read before the old image goes away.
    filename: Vec<u8>,
}

/// One traced thread.
#[derive(Debug, Clone, Default)]
struct Thread {
    tgid: u32,
    /// Its first stop (the attach stop) has been seen.
    started: bool,
    pending: Option<Pending>,
    /// Without PTRACE_GET_SYSCALL_INFO: inside a syscall (entry seen).
    in_syscall: bool,
}

/// How a trace ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Wait status of the root process (the command), if it ended.
    pub status: Option<i32>,
    /// Records that did not decode (a bug: the tracer builds them).
    pub decode_errors: u64,
}

impl Outcome {
    /// The command's exit code as a shell reports it (128 + signal).
    pub fn exit_code(&self) -> i32 {
        match self.status {
            Some(s) if libc::WIFEXITED(s) => libc::WEXITSTATUS(s),
            Some(s) if libc::WIFSIGNALED(s) => 128 + libc::WTERMSIG(s),
            _ => 1,
        }
    }
}

/// The state of a trace.
pub struct Tracer {
    kinds: HashSet<EventKind>,
    env: bool,
    seccomp: bool,
    root: Option<u32>,
    threads: HashMap<u32, Thread>,
    procs: HashMap<u32, Identity>,
    /// New tasks whose attach stop came before their parent's fork event.
    held: HashSet<u32>,
    clock: Clock,
    outcome: Outcome,
    syscall_info: bool,
}

fn ptrace(req: libc::c_uint, tid: u32, addr: usize, data: usize) -> i64 {
    // SAFETY: ptrace on a tracee; the kernel validates pid and request, and
    // the requests passing pointers pass ones to owned, sized buffers.
    unsafe { libc::ptrace(req, tid as libc::pid_t, addr, data) }
}

fn event_msg(tid: u32) -> u64 {
    let mut v: libc::c_ulong = 0;
    ptrace(libc::PTRACE_GETEVENTMSG, tid, 0, &mut v as *mut _ as usize);
    v
}

impl Tracer {
    /// A tracer for the event kinds `kinds` (process lifecycle always),
    /// copying the environment at exec when `env`.
    pub fn new(kinds: &[EventKind], env: bool) -> Tracer {
        let mut k: HashSet<EventKind> = kinds.iter().copied().collect();
        k.extend([EventKind::Exec, EventKind::Fork, EventKind::Exit]);
        Tracer {
            kinds: k,
            env,
            seccomp: false,
            root: None,
            threads: HashMap::new(),
            procs: HashMap::new(),
            held: HashSet::new(),
            clock: Clock::now(),
            outcome: Outcome {
                status: None,
                decode_errors: 0,
            },
            syscall_info: true,
        }
    }

    /// The kinds traced.
    pub fn kinds(&self) -> Vec<EventKind> {
        let mut v: Vec<EventKind> = self.kinds.iter().copied().collect();
        v.sort();
        v
    }

    /// Follow the command spawned as `pid` (stopped before its exec).
    pub fn adopt_root(&mut self, pid: u32, seccomp: bool) {
        self.seccomp = seccomp;
        self.root = Some(pid);
        self.add_process(pid);
        if let Some(t) = self.threads.get_mut(&pid) {
            t.started = true;
        }
    }

    /// Let a task adopted stopped run on (`adopt_root`).
    pub fn release(&self, tid: u32) {
        self.resume(tid, 0);
    }

    /// Follow an already running task attached with `PTRACE_SEIZE` (its
    /// attach stop is still to come).
    pub fn adopt_seized(&mut self, tid: u32, tgid: u32) {
        self.threads.insert(
            tid,
            Thread {
                tgid,
                ..Thread::default()
            },
        );
        if let Some(id) = task::read(tgid) {
            self.procs.insert(tgid, id);
        }
    }

    fn add_process(&mut self, pid: u32) {
        self.threads.insert(
            pid,
            Thread {
                tgid: pid,
                ..Thread::default()
            },
        );
        if let Some(id) = task::read(pid) {
            self.procs.insert(pid, id);
        }
    }

    /// Tasks traced now.
    pub fn tasks(&self) -> impl Iterator<Item = u32> + '_ {
        self.threads.keys().copied()
    }

    /// True while some task is traced.
    pub fn is_tracing(&self) -> bool {
        !self.threads.is_empty()
    }

    /// The outcome so far.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    fn emit(&mut self, raw: Option<Vec<u8>>, out: &mut dyn FnMut(Event)) {
        let Some(raw) = raw else { return };
        match decode(&raw, &self.clock) {
            Ok(ev) if self.kinds.contains(&ev.kind) => out(ev),
            Ok(_) => {}
            Err(e) => {
                self.outcome.decode_errors += 1;
                tracing::warn!("trace: a record did not decode: {e}");
            }
        }
    }

    fn resume(&self, tid: u32, sig: i32) {
        let stepping = !self.seccomp || self.threads.get(&tid).is_some_and(|t| t.pending.is_some());
        let req = if stepping {
            libc::PTRACE_SYSCALL
        } else {
            libc::PTRACE_CONT
        };
        // ESRCH (killed meanwhile) is reported by the next wait.
        ptrace(req, tid, 0, sig as usize);
    }

    /// Handle one wait status of `tid`.
    pub fn on_wait(&mut self, tid: u32, status: i32, out: &mut dyn FnMut(Event)) {
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            self.on_death(tid, status, out);
            return;
        }
        if !libc::WIFSTOPPED(status) {
            return;
        }
        let started = self.threads.get(&tid).map(|t| t.started);
        match started {
            None => {
                // A new task stopped before its parent's fork event named it.
                self.held.insert(tid);
                return;
            }
            Some(false) => {
                // The attach stop (SIGSTOP for auto-attached children,
                // PTRACE_EVENT_STOP for seized tasks) is swallowed; a signal
                // that comes first is delivered, the attach stop still due.
                let attach_stop = (status >> 16) & 0xff == PTRACE_EVENT_STOP
                    || libc::WSTOPSIG(status) == libc::SIGSTOP;
                if attach_stop {
                    if let Some(t) = self.threads.get_mut(&tid) {
                        t.started = true;
                    }
                    self.resume(tid, 0);
                } else {
                    self.resume(tid, libc::WSTOPSIG(status));
                }
                return;
            }
            Some(true) => {}
        }
        let sig = libc::WSTOPSIG(status);
        let event = (status >> 16) & 0xff;
        if sig == (libc::SIGTRAP | 0x80) {
            self.on_syscall_stop(tid, out);
        } else if sig == libc::SIGTRAP && event != 0 {
            self.on_event(tid, event, out);
        } else if event == PTRACE_EVENT_STOP {
            // Group stop of a seized task: keep it stopped, but listening.
            if matches!(
                sig,
                libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
            ) {
                ptrace(libc::PTRACE_LISTEN, tid, 0, 0);
            } else {
                self.resume(tid, 0);
            }
        } else {
            // Signal-delivery stop: deliver it. A group stop of a task
            // attached without SEIZE has no siginfo: resume it.
            let mut si = [0u8; 128];
            let has_info = ptrace(libc::PTRACE_GETSIGINFO, tid, 0, si.as_mut_ptr() as usize) == 0;
            self.resume(tid, if has_info { sig } else { 0 });
        }
    }

    fn on_death(&mut self, tid: u32, status: i32, out: &mut dyn FnMut(Event)) {
        let thread = self.threads.remove(&tid);
        self.held.remove(&tid);
        if Some(tid) == self.root {
            self.outcome.status = Some(status);
        }
        let leader = thread.map(|t| t.tgid == tid).unwrap_or(true);
        if leader {
            self.release_orphans(tid);
            if let Some(id) = self.procs.remove(&tid) {
                let raw = build::exit(&id, status);
                self.emit(Some(raw), out);
            }
        }
    }

    /// New tasks held for their parent's fork event that will never come
    /// (the parent `tgid` died first): follow them now.
    fn release_orphans(&mut self, tgid: u32) {
        let orphans: Vec<u32> = self
            .held
            .iter()
            .copied()
            .filter(|&t| task::read(t).is_none_or(|id| id.ppid == tgid || id.ppid == 1))
            .collect();
        for t in orphans {
            self.held.remove(&t);
            let tgid = task::tgid_of(t).unwrap_or(t);
            self.threads.insert(
                t,
                Thread {
                    tgid,
                    started: true,
                    ..Thread::default()
                },
            );
            self.resume(t, 0);
        }
    }

    /// The syscall a stop is in: `(op, abi, nr, args, rval)`.
    fn syscall_info(&mut self, tid: u32) -> Option<Stop> {
        if self.syscall_info {
            let mut info = SyscallInfo::default();
            let n = ptrace(
                libc::PTRACE_GET_SYSCALL_INFO,
                tid,
                std::mem::size_of::<SyscallInfo>(),
                &mut info as *mut SyscallInfo as usize,
            );
            if n > 0 {
                let d = info.data;
                let args = [d[1], d[2], d[3], d[4], d[5], d[6]];
                return Some((info.op, Abi::from_arch(info.arch), d[0], args, d[0] as i64));
            }
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EIO) {
                return None;
            }
            self.syscall_info = false;
        }
        // SAFETY: user_regs_struct is plain data.
        let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        if ptrace(libc::PTRACE_GETREGS, tid, 0, &mut regs as *mut _ as usize) != 0 {
            return None;
        }
        let (abi, args) = if regs.cs == 0x23 {
            let a = [regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi, regs.rbp];
            (Abi::I386, a.map(|v| v & 0xffff_ffff))
        } else {
            (
                Abi::X86_64,
                [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
            )
        };
        let t = self.threads.get_mut(&tid)?;
        let op = if t.in_syscall { OP_EXIT } else { OP_ENTRY };
        t.in_syscall = !t.in_syscall;
        Some((op, Some(abi), regs.orig_rax, args, regs.rax as i64))
    }

    /// Start of a syscall of interest: remember its arguments.
    fn on_entry(&mut self, tid: u32, abi: Option<Abi>, nr: u64, args: [u64; 6]) {
        let traced = abi.and_then(|a| syscalls::lookup(a, nr));
        let pending = traced
            .filter(|t| self.kinds.contains(&syscalls::kind_of(*t)))
            .map(|traced| {
                let filename = match traced {
                    Traced::Execve => exec_filename(tid, args[0], None),
                    Traced::Execveat => exec_filename(tid, args[1], Some((args[0], args[4]))),
                    Traced::Call(_) => Vec::new(),
                };
                Pending {
                    traced,
                    args,
                    filename,
                }
            });
        if let Some(t) = self.threads.get_mut(&tid) {
            t.pending = pending;
        }
    }

    fn on_syscall_stop(&mut self, tid: u32, out: &mut dyn FnMut(Event)) {
        match self.syscall_info(tid) {
            Some((OP_ENTRY, abi, nr, args, _)) if !self.seccomp => {
                self.on_entry(tid, abi, nr, args)
            }
            Some((OP_EXIT, _, _, _, ret)) => self.on_exit(tid, ret, out),
            _ => {}
        }
        self.resume(tid, 0);
    }

    fn on_exit(&mut self, tid: u32, ret: i64, out: &mut dyn FnMut(Event)) {
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        let Some(p) = t.pending.take() else { return };
        let tgid = t.tgid;
        // An interrupted syscall the kernel restarts stops again at entry.
        if (-516..=-512).contains(&ret) {
            return;
        }
        let Traced::Call(sys) = p.traced else {
            return; // exec: reported at PTRACE_EVENT_EXEC; a failed exec is not an event
        };
        let kind = sys.kind();
        if ret >= 0
            && matches!(
                kind,
                EventKind::Setuid
                    | EventKind::Setgid
                    | EventKind::Capset
                    | EventKind::Unshare
                    | EventKind::Setns
            )
        {
            if let Some(id) = task::read(tgid) {
                self.procs.insert(tgid, id);
            }
        }
        if !self.known(tgid) {
            return;
        }
        let raw = match self.procs.get(&tgid) {
            Some(id) => build::syscall(tid, id, sys, p.args, ret),
            None => return,
        };
        self.emit(raw, out);
    }

    /// Make sure the identity of `tgid` is cached; false once it is gone.
    fn known(&mut self, tgid: u32) -> bool {
        use std::collections::hash_map::Entry;
        match self.procs.entry(tgid) {
            Entry::Occupied(_) => true,
            Entry::Vacant(v) => match task::read(tgid) {
                Some(id) => {
                    v.insert(id);
                    true
                }
                None => false,
            },
        }
    }

    fn on_event(&mut self, tid: u32, event: i32, out: &mut dyn FnMut(Event)) {
        match event {
            libc::PTRACE_EVENT_SECCOMP => {
                if let Some((OP_SECCOMP, abi, nr, args, _)) = self.syscall_info(tid) {
                    self.on_entry(tid, abi, nr, args);
                } else if !self.syscall_info {
                    // GETREGS fallback: a seccomp stop is an entry.
                    if let Some((_, abi, nr, args, _)) = self.syscall_info(tid) {
                        self.on_entry(tid, abi, nr, args);
                    }
                    if let Some(t) = self.threads.get_mut(&tid) {
                        t.in_syscall = true;
                    }
                }
            }
            libc::PTRACE_EVENT_EXEC => self.on_exec(tid, out),
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                self.on_fork(tid, event, out)
            }
            _ => {}
        }
        self.resume(tid, 0);
    }

    fn on_exec(&mut self, tid: u32, out: &mut dyn FnMut(Event)) {
        // A non-leader thread that exec'd now has the leader's tid.
        let former = event_msg(tid) as u32;
        let mut pending = self.threads.get_mut(&tid).and_then(|t| t.pending.take());
        if former != tid && former != 0 {
            if let Some(old) = self.threads.remove(&former) {
                pending = pending.or(old.pending);
            }
        }
        let thread = self.threads.entry(tid).or_default();
        thread.tgid = tid;
        thread.started = true;
        // Keep the exec pending so that its exit stop is consumed quietly.
        thread.pending = pending.clone();
        let Some(id) = task::read(tid) else { return };
        self.procs.insert(tid, id.clone());
        let filename = match pending {
            Some(p) if !p.filename.is_empty() => p.filename,
            _ => std::fs::read_link(format!("/proc/{tid}/exe"))
                .map(|p| p.into_os_string().into_encoded_bytes())
                .unwrap_or_default(),
        };
        let raw = build::exec(tid, &id, &filename, self.env);
        self.emit(Some(raw), out);
    }

    fn on_fork(&mut self, tid: u32, event: i32, out: &mut dyn FnMut(Event)) {
        let child = event_msg(tid) as u32;
        if child == 0 {
            return;
        }
        let parent_tgid = self.threads.get(&tid).map(|t| t.tgid).unwrap_or(tid);
        let tgid = if event == libc::PTRACE_EVENT_CLONE {
            task::tgid_of(child).unwrap_or(child)
        } else {
            child
        };
        let held = self.held.remove(&child);
        self.threads.insert(
            child,
            Thread {
                tgid,
                started: held,
                ..Thread::default()
            },
        );
        if tgid == child {
            let id = task::read(child).or_else(|| {
                self.procs.get(&parent_tgid).cloned().map(|mut p| {
                    p.ppid = parent_tgid;
                    p.tgid = child;
                    p
                })
            });
            if let Some(id) = id {
                self.procs.insert(child, id.clone());
                let raw = build::fork(child, &id, parent_tgid, tid);
                self.emit(Some(raw), out);
            }
        }
        if held {
            self.resume(child, 0);
        }
    }
}

/// The filename the kernel reports for an exec: the path as given; for
/// execveat relative to a directory fd `/dev/fd/N/path`, `/dev/fd/N` for
/// `AT_EMPTY_PATH`.
fn exec_filename(tid: u32, addr: u64, at: Option<(u64, u64)>) -> Vec<u8> {
    const AT_EMPTY_PATH: u64 = 0x1000;
    let path = crate::mem::read_cstr(tid, addr, peregrine_event::abi::STR_MAX).unwrap_or_default();
    match at {
        Some((dirfd, _)) if dirfd as i32 == -100 || path.first() == Some(&b'/') => path,
        Some((dirfd, flags)) if path.is_empty() && flags & AT_EMPTY_PATH != 0 => {
            format!("/dev/fd/{}", dirfd as i32).into_bytes()
        }
        Some((dirfd, _)) => {
            let mut p = format!("/dev/fd/{}/", dirfd as i32).into_bytes();
            p.extend_from_slice(&path);
            p
        }
        None => path,
    }
}
