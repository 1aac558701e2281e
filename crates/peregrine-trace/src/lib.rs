//! Peregrine without eBPF: `peregrine trace -- CMD` follows a command and
//! every descendant with ptrace (filtered by seccomp so that only the
//! syscalls some rule needs stop) and produces the sensor's events.
//!
//! * [`syscalls`]: syscall numbers of interest (x86-64 and i386).
//! * [`seccomp`]: the classic-BPF filter that selects them.
//! * [`spawn`]: fork, `PTRACE_TRACEME`, filter, exec.
//! * [`tracer`]: the ptrace loop.
//! * [`build`] and [`record`]: what the eBPF programs read in the kernel,
//!   read through `/proc`, `process_vm_readv` and `pidfd_getfd` into the
//!   sensor's record layouts, decoded by [`peregrine_event::decode`]: the
//!   same `Event` values, so the same rules give the same alerts.
//! * [`mem`]: bounded reads of the traced program's memory (hostile input).
//! * [`task`]: the header fields (ids, namespaces, cgroup) from `/proc`.
#![deny(missing_docs)]

pub mod attach;
pub mod build;
pub mod mem;
pub mod record;
pub mod seccomp;
pub mod spawn;
pub mod syscalls;
pub mod task;
pub mod tracer;

pub use tracer::{Outcome, Tracer};

use peregrine_event::{Event, EventKind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often `Target::All` looks for new process trees.
const RESCAN: Duration = Duration::from_millis(500);

/// Why tracing could not start or went wrong.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The command cannot be run.
    #[error("{0}")]
    Command(String),
    /// A system call the tracer needs failed.
    #[error("{0}: {1}")]
    Os(&'static str, std::io::Error),
    /// A process could not be attached to.
    #[error("cannot attach to pid {0}: {1} (needs CAP_SYS_PTRACE and a shared pid namespace; see docs/TRACE.md)")]
    Attach(u32, std::io::Error),
}

/// What to trace and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Event kinds wanted (the rules' `required_kinds`); process lifecycle
    /// is always traced.
    pub kinds: Vec<EventKind>,
    /// Copy the environment at exec (some rule reads `proc.env`).
    pub env: bool,
    /// Use the seccomp filter (default); off: every syscall stops.
    pub seccomp: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            kinds: EventKind::ALL.to_vec(),
            env: false,
            seccomp: true,
        }
    }
}

/// What to follow.
#[derive(Debug, Clone)]
pub enum Target {
    /// Run this command (argv) and follow it.
    Command(Vec<String>),
    /// Attach to these running processes and their descendants.
    Pids(Vec<u32>),
    /// Attach to every process tree of the pid namespace but the tracer's
    /// own, and to new ones as they appear (a pod sidecar).
    All,
}

/// A running trace. Start it and run it on the same thread: ptrace binds
/// the tracee to the thread that attached.
pub struct Session {
    tracer: Tracer,
    child: Option<spawn::Child>,
    attached: bool,
    program: String,
    attacher: Option<attach::Attacher>,
}

impl Session {
    /// Spawn or attach. For a command, it is started now (stopped before its
    /// exec until [`Session::run`]).
    pub fn start(target: &Target, opts: &Options) -> Result<Session, TraceError> {
        let mut tracer = Tracer::new(&opts.kinds, opts.env);
        match target {
            Target::Command(argv) => {
                let filter = opts.seccomp.then(|| seccomp::Filter::new(&tracer.kinds()));
                let child = spawn::spawn(argv, filter.as_ref())?;
                tracer.adopt_root(child.pid, child.seccomp);
                tracer.release(child.pid);
                Ok(Session {
                    tracer,
                    child: Some(child),
                    attached: false,
                    program: argv.first().cloned().unwrap_or_default(),
                    attacher: None,
                })
            }
            Target::Pids(_) | Target::All => {
                let scope = match target {
                    Target::Pids(p) => attach::Scope::Pids(p.clone()),
                    _ => attach::Scope::All,
                };
                let mut attacher = attach::Attacher::new(scope);
                // Twice: threads and children started while the first pass
                // listed them are found by the second.
                let n = attacher.attach(&mut tracer)? + attacher.attach(&mut tracer)?;
                tracing::info!(tasks = n, "attached");
                Ok(Session {
                    tracer,
                    child: None,
                    attached: true,
                    program: String::new(),
                    attacher: Some(attacher),
                })
            }
        }
    }

    /// The command's pid (spawned sessions).
    pub fn root_pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.pid)
    }

    /// True when only the syscalls of interest stop (the seccomp filter).
    pub fn filtered(&self) -> bool {
        self.child.as_ref().is_some_and(|c| c.seccomp)
    }

    /// Trace until every traced task is gone (or, attached, until `stop`:
    /// then detach). Events go to `out`; `flush` is called before the
    /// tracer would wait idle (hand a batch on).
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        out: &mut dyn FnMut(Event),
        flush: &mut dyn FnMut(),
    ) -> Result<Outcome, TraceError> {
        let mut flushed = true;
        let mut nap = Duration::from_micros(50);
        let mut last_scan = std::time::Instant::now();
        loop {
            if self.attacher.as_ref().is_some_and(|a| a.rescans()) && last_scan.elapsed() > RESCAN {
                last_scan = std::time::Instant::now();
                if let Some(a) = self.attacher.as_mut() {
                    a.attach(&mut self.tracer)?;
                }
            }
            if self.attached && stop.load(Ordering::Relaxed) {
                self.detach_all();
                flush();
                break;
            }
            let nohang = !flushed || self.attached;
            let mut status = 0;
            let flags = libc::__WALL | libc::__WNOTHREAD | if nohang { libc::WNOHANG } else { 0 };
            // SAFETY: waitpid writes one int.
            let r = unsafe { libc::waitpid(-1, &mut status, flags) };
            if r > 0 {
                self.tracer.on_wait(r as u32, status, out);
                flushed = false;
                nap = Duration::from_micros(50);
                continue;
            }
            if r == 0 {
                if !flushed {
                    flush();
                    flushed = true;
                } else {
                    std::thread::sleep(nap);
                    nap = (nap * 2).min(Duration::from_millis(20));
                }
                let rescans = self.attacher.as_ref().is_some_and(|a| a.rescans());
                if self.attached && !rescans && !self.tracer.is_tracing() {
                    break;
                }
                continue;
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                // Nothing traced yet: wait for the next scan.
                Some(libc::ECHILD) if self.attacher.as_ref().is_some_and(|a| a.rescans()) => {
                    flush();
                    std::thread::sleep(Duration::from_millis(20));
                }
                Some(libc::ECHILD) => {
                    flush();
                    break;
                }
                _ => return Err(TraceError::Os("waitpid", e)),
            }
        }
        if let Some(e) = self.child.as_ref().and_then(|c| c.exec_error()) {
            let prog = &self.program;
            return Err(TraceError::Command(format!("cannot run {prog}: {e}")));
        }
        Ok(self.tracer.outcome())
    }

    /// Let go of every attached task (they run on untraced).
    fn detach_all(&mut self) {
        let tids: Vec<u32> = self.tracer.tasks().collect();
        for &tid in &tids {
            // SAFETY: plain ptrace request.
            unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid as i32, 0, 0) };
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        let mut left: std::collections::HashSet<u32> = tids.into_iter().collect();
        while !left.is_empty() && std::time::Instant::now() < deadline {
            let mut status = 0;
            // SAFETY: waitpid writes one int.
            let r = unsafe {
                libc::waitpid(
                    -1,
                    &mut status,
                    libc::__WALL | libc::__WNOTHREAD | libc::WNOHANG,
                )
            };
            if r <= 0 {
                if r < 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            let tid = r as u32;
            if libc::WIFSTOPPED(status) {
                let sig = libc::WSTOPSIG(status);
                let event = (status >> 16) & 0xff;
                let deliver = if event == 0 && sig != (libc::SIGTRAP | 0x80) {
                    sig
                } else {
                    0
                };
                // SAFETY: plain ptrace request on a stopped tracee.
                unsafe {
                    libc::ptrace(libc::PTRACE_DETACH, tid as i32, 0, deliver as libc::c_long)
                };
            }
            left.remove(&tid);
        }
    }
}
