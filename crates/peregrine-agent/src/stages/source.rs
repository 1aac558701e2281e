//! An event source in place of the eBPF sensor: `peregrine trace` (ptrace,
//! for hosts and pods that cannot load eBPF) hands its tracer in through
//! [`crate::Wiring::source`]. It runs on the sensor thread (`pg-source`)
//! and feeds the same channel, so state, rules, routing and sinks are the
//! agent's own. A full channel blocks the source (the traced program waits:
//! nothing is dropped).

use crate::metrics::Metrics;
use crate::stages::sensor::{SensorEnd, SensorStage, SensorStartError};
use peregrine_event::{Event, EventKind};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// Batches queued between the source and the state stage.
const QUEUE_BATCHES: usize = 256;

/// What a source is asked for: the kinds the rules need, whether they
/// read the environment at exec.
#[derive(Debug, Clone)]
pub struct SourceNeeds {
    /// Event kinds some rule (or the state) needs.
    pub kinds: Vec<EventKind>,
    /// Some rule reads `proc.env`.
    pub env: bool,
}

/// Where a source's events go.
pub struct SourceOutput {
    tx: SyncSender<Vec<Event>>,
    metrics: Arc<Metrics>,
}

impl SourceOutput {
    /// Hand a batch to the state stage (blocks while the queue is full);
    /// false once the agent is shutting down.
    pub fn send(&self, batch: Vec<Event>) -> bool {
        if batch.is_empty() {
            return true;
        }
        self.metrics.queue_depth.inc();
        self.tx.send(batch).is_ok()
    }
}

/// A source of events other than the kernel sensor.
pub trait EventSource: Send {
    /// Start (on the source thread); an error stops the agent's start.
    fn start(&mut self, needs: &SourceNeeds) -> Result<(), String>;
    /// Produce events until done (or `stop`); an error is logged.
    fn run(&mut self, stop: &AtomicBool, out: &SourceOutput) -> Result<(), String>;
}

/// A source handed to the agent (taken once, when the agent starts).
#[derive(Clone)]
pub struct SourceHandle(pub Arc<Mutex<Option<Box<dyn EventSource>>>>);

impl SourceHandle {
    /// Wrap a source.
    pub fn new(source: Box<dyn EventSource>) -> SourceHandle {
        SourceHandle(Arc::new(Mutex::new(Some(source))))
    }
    fn take(&self) -> Option<Box<dyn EventSource>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl std::fmt::Debug for SourceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSource")
    }
}

/// Start `handle`'s source on its own thread and wait until it started.
pub fn spawn(
    handle: &SourceHandle,
    needs: SourceNeeds,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
) -> Result<(SensorStage, Receiver<Vec<Event>>), SensorStartError> {
    let mut source = handle
        .take()
        .ok_or_else(|| SensorStartError::Source("the event source was already used".into()))?;
    let (tx, rx) = sync_channel::<Vec<Event>>(QUEUE_BATCHES);
    let (ready_tx, ready_rx) = sync_channel::<Result<(), String>>(1);
    let handle = std::thread::Builder::new()
        .name("pg-source".into())
        .spawn(move || {
            if let Err(e) = source.start(&needs) {
                let _ = ready_tx.send(Err(e));
                return SensorEnd::Stopped(0);
            }
            let _ = ready_tx.send(Ok(()));
            let out = SourceOutput { tx, metrics };
            if let Err(e) = source.run(&stop, &out) {
                tracing::error!("event source: {e}");
            }
            SensorEnd::Stopped(0)
        })
        .map_err(|e| SensorStartError::Died(format!("cannot spawn: {e}")))?;
    let stage = SensorStage { handle };
    match ready_rx.recv() {
        Ok(Ok(())) => Ok((stage, rx)),
        Ok(Err(e)) => {
            let _ = stage.join();
            Err(SensorStartError::Source(e))
        }
        Err(_) => Err(SensorStartError::Died(format!("{:?}", stage.join()))),
    }
}
