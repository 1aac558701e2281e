//! `peregrine trace -- COMMAND` and `peregrine trace --pid N`: the agent
//! without eBPF. The tracer (`peregrine-trace`: seccomp-filtered ptrace)
//! replaces the kernel sensor as the agent's event source; state, rules,
//! routing and outputs are the agent's. The command's exit status is
//! `peregrine trace`'s.
use crate::cli::TraceArgs;
use anyhow::{anyhow, Result};
use peregrine_agent::sinks::SinkConfig;
use peregrine_agent::stages::source::{EventSource, SourceHandle, SourceNeeds, SourceOutput};
use peregrine_agent::{AgentConfig, Settings, Wiring};
use peregrine_event::Event;
use peregrine_trace::{Options, Outcome, Session, Target};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Events handed on at most this many at a time.
const BATCH: usize = 256;

/// The tracer as the agent's event source.
struct TraceSource {
    target: Target,
    seccomp: bool,
    session: Option<Session>,
    root: Arc<AtomicU32>,
    outcome: Arc<Mutex<Option<Result<Outcome, String>>>>,
}

impl EventSource for TraceSource {
    fn start(&mut self, needs: &SourceNeeds) -> Result<(), String> {
        let opts = Options {
            kinds: needs.kinds.clone(),
            env: needs.env,
            seccomp: self.seccomp,
        };
        let session = Session::start(&self.target, &opts).map_err(|e| e.to_string())?;
        if let Some(pid) = session.root_pid() {
            self.root.store(pid, Ordering::SeqCst);
        }
        self.session = Some(session);
        Ok(())
    }

    fn run(&mut self, stop: &AtomicBool, out: &SourceOutput) -> Result<(), String> {
        let session = self.session.as_mut().ok_or("the tracer did not start")?;
        let batch: RefCell<Vec<Event>> = RefCell::new(Vec::with_capacity(BATCH));
        let send = || {
            let b = std::mem::take(&mut *batch.borrow_mut());
            out.send(b);
        };
        let result = session.run(
            stop,
            &mut |e| {
                batch.borrow_mut().push(e);
                if batch.borrow().len() >= BATCH {
                    send();
                }
            },
            &mut || send(),
        );
        send();
        // Reported by `run` below (once), with the exit status.
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(result.map_err(|e| e.to_string()));
        Ok(())
    }
}

/// SIGINT/SIGTERM received so far.
static SIGNALS: AtomicU32 = AtomicU32::new(0);
/// The last of them sent by a process (not by the terminal, which signals
/// the command's process group itself), to pass on; 0: none.
static FORWARD: AtomicI32 = AtomicI32::new(0);
/// `si_code` of a signal the kernel raised (a terminal's ^C).
const SI_KERNEL: i32 = 0x80;

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let code = unsafe { info.as_ref() }.map(|i| i.si_code).unwrap_or(0);
    if code != SI_KERNEL {
        FORWARD.store(sig, Ordering::SeqCst);
    }
}

/// SIGINT/SIGTERM: passed on to the command (a terminal's ^C already
/// reached it; a third signal kills it), the trace ending with it; or,
/// attached, the trace ends (the processes are detached and run on).
fn forward_signals(root: Arc<AtomicU32>, stop: Arc<AtomicBool>, attached: bool) {
    // SAFETY: the handler only touches atomics (async-signal-safe); the
    // sigaction struct is fully initialised.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
    }
    std::thread::spawn(move || {
        let mut killed = false;
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let got = SIGNALS.load(Ordering::SeqCst);
            if attached && got > 0 {
                stop.store(true, Ordering::SeqCst);
                return;
            }
            let pid = root.load(Ordering::SeqCst) as i32;
            let sig = match FORWARD.swap(0, Ordering::SeqCst) {
                _ if got >= 3 && !killed => {
                    killed = true;
                    libc::SIGKILL
                }
                0 => continue,
                s => s,
            };
            if pid != 0 {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(pid, sig) };
            }
        }
    });
}

/// Run the command (or attach) and exit with its status.
pub fn run(args: TraceArgs) -> Result<()> {
    let target = match (
        args.pids.is_empty(),
        args.attach_all,
        args.command.is_empty(),
    ) {
        (false, false, true) => Target::Pids(args.pids.clone()),
        (true, true, true) => Target::All,
        (true, false, false) => Target::Command(args.command.clone()),
        _ => {
            return Err(anyhow!(
                "give one of: a command after --, --pid PID, --attach-all"
            ))
        }
    };
    let attached = !matches!(target, Target::Command(_));
    let mut settings = Settings {
        rules: args.rules.clone(),
        metrics_addr: args.metrics_addr,
        ..Settings::default()
    };
    if let Some(w) = args.dedup_window {
        settings.dedup.window = w;
    }
    if let Some(r) = args.rate_limit {
        settings.dedup.rate_limit = r;
    }
    if !args.outputs.is_empty() {
        settings.outputs = args
            .outputs
            .iter()
            .map(|o| SinkConfig::parse(o).map_err(|e| anyhow!("--output: {e}")))
            .collect::<Result<Vec<_>>>()?;
    }
    let root = Arc::new(AtomicU32::new(0));
    let outcome = Arc::new(Mutex::new(None));
    let source = TraceSource {
        target,
        seccomp: !args.no_seccomp,
        session: None,
        root: root.clone(),
        outcome: outcome.clone(),
    };
    let cfg = AgentConfig {
        settings,
        wiring: Wiring {
            source: Some(SourceHandle::new(Box::new(source))),
            ..Wiring::default()
        },
    };
    let stop = Arc::new(AtomicBool::new(false));
    forward_signals(root, stop.clone(), attached);
    let stats = peregrine_agent::run(&cfg, stop, |_| {})?;
    tracing::info!(events = stats.events, alerts = stats.alerts, "trace ended");
    let outcome = outcome.lock().unwrap_or_else(|p| p.into_inner()).take();
    match outcome {
        Some(Ok(o)) if attached => {
            let _ = o;
            Ok(())
        }
        Some(Ok(o)) => std::process::exit(o.exit_code()),
        Some(Err(e)) => {
            eprintln!("peregrine: error: {e}");
            std::process::exit(127)
        }
        None => Err(anyhow!("the tracer did not finish")),
    }
}
