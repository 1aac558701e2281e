//! State stage: the process table and container metadata
//! ([`peregrine_state::HostState`], both bounded), updated by every event
//! in order on the pipeline's main thread, which turns each event into a
//! [`Snapshot`] for detection. It owns the container runtime's event-stream
//! thread (`pg-docker-watch`), the state's metrics (processes, containers,
//! evictions, events by kind) and the periodic expiry and memory trim.

use crate::context::{HostInfo, Snapshot};
use crate::metrics::{KindLabel, Metrics};
use peregrine_event::Event;
use peregrine_rules::eval::Memo;
use peregrine_rules::Engine;
use peregrine_state::{HostState, RuntimeUpdate};
use prometheus_client::metrics::counter::Counter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The container runtime's event stream feeding the state.
struct RuntimeWatch {
    rx: Receiver<RuntimeUpdate>,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

/// The host state and what keeps it current.
pub struct StateStage {
    state: HostState,
    host: Arc<HostInfo>,
    watch: Option<RuntimeWatch>,
    metrics: Option<Arc<Metrics>>,
    kind_counters: Vec<Option<Counter>>,
    events: u64,
    last_gc: Instant,
    last_trim: Instant,
}

impl StateStage {
    /// State for recorded or synthetic events (replay, benches): no runtime
    /// watch, no metrics.
    pub fn offline(state: HostState, host: Arc<HostInfo>) -> StateStage {
        StateStage {
            state,
            host,
            watch: None,
            metrics: None,
            kind_counters: Vec::new(),
            events: 0,
            last_gc: Instant::now(),
            last_trim: Instant::now(),
        }
    }

    /// The live state: watches the Docker socket for container starts,
    /// renames and removals (applied between batches) and counts into
    /// `metrics`.
    pub fn live(
        state: HostState,
        host: Arc<HostInfo>,
        docker_socket: PathBuf,
        metrics: Arc<Metrics>,
    ) -> StateStage {
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let handle = peregrine_state::watch_docker(docker_socket, tx, stop.clone());
        // One counter per event kind, created once (no label allocation per event).
        let mut kind_counters = vec![None; peregrine_event::abi::KIND_MAX as usize + 1];
        for k in peregrine_event::EventKind::ALL {
            kind_counters[k.id() as usize] = Some(
                metrics
                    .events
                    .get_or_create(&KindLabel {
                        kind: k.name().to_string(),
                    })
                    .clone(),
            );
        }
        StateStage {
            watch: Some(RuntimeWatch { rx, stop, handle }),
            metrics: Some(metrics),
            kind_counters,
            ..StateStage::offline(state, host)
        }
    }

    /// Host-wide data shared with detection.
    pub fn host(&self) -> &Arc<HostInfo> {
        &self.host
    }

    /// The state itself.
    pub fn state(&mut self) -> &mut HostState {
        &mut self.state
    }

    /// The metrics the state counts into (live only).
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// Events seen so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Apply the container updates that arrived since the last call.
    pub fn apply_runtime_updates(&mut self) {
        if let Some(w) = &self.watch {
            while let Ok(update) = w.rx.try_recv() {
                self.state.apply(update);
            }
        }
    }

    /// Apply `ev` to the state and detach what detection needs. `num` is
    /// the event's sequence number.
    pub fn snapshot(&mut self, ev: Event, num: u64) -> Snapshot {
        let o = self.state.observe(ev);
        Snapshot {
            event: o.event,
            chain: o.chain,
            container: o.container,
            num,
        }
    }

    /// Count `ev` and snapshot it with the next sequence number.
    pub fn next(&mut self, ev: Event) -> Snapshot {
        self.events += 1;
        if let Some(Some(c)) = self.kind_counters.get(ev.kind.id() as usize) {
            c.inc();
        }
        self.snapshot(ev, self.events)
    }

    /// Snapshot and evaluate the rules in one step (replay, single-threaded
    /// use).
    pub fn evaluate(
        &mut self,
        engine: &Engine,
        memo: &mut Memo,
        ev: Event,
        num: u64,
    ) -> (Vec<crate::evaluate::Raised>, Duration) {
        let snap = self.snapshot(ev, num);
        crate::evaluate::evaluate(engine, memo, &snap, &self.host)
    }

    /// Expire exited processes and stale containers every second (and
    /// publish the state's size); give memory freed by bursts back to the
    /// system every five.
    pub fn maintain(&mut self) {
        if self.last_gc.elapsed() > Duration::from_secs(1) {
            self.last_gc = Instant::now();
            self.state.gc();
            if let Some(m) = &self.metrics {
                let table = &self.state.table;
                m.processes.set(table.len() as i64);
                let ev = table.stats().evicted;
                m.process_evictions
                    .inc_by(ev.saturating_sub(m.process_evictions.get()));
                let c = &self.state.containers;
                m.containers.set(c.len() as i64);
                let ev = c.stats().evicted;
                m.container_evictions
                    .inc_by(ev.saturating_sub(m.container_evictions.get()));
            }
        }
        if self.last_trim.elapsed() > Duration::from_secs(5) {
            self.last_trim = Instant::now();
            trim();
        }
    }

    /// Stop the runtime watch and wait for it.
    pub fn shutdown(self) {
        if let Some(w) = self.watch {
            w.stop.store(true, Ordering::Relaxed);
            drop(w.rx);
            let _ = w.handle.join();
        }
    }
}

/// Hand memory freed by bursts (queues, expired processes, start-up) back to
/// the system so RSS follows the live state.
pub fn trim() {
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
