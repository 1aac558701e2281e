//! Rule workers: the state stage hands each event's [`Snapshot`] to one of
//! N threads, chosen by thread-group id, so that rule evaluation scales past
//! one core while the events of one process stay in order.
//!
//! Evaluated batches go back to the state thread, which frees them: glibc
//! serialises frees across threads and the ancestry's reference counts would
//! otherwise bounce between cores. On small machines the rules run inline on
//! the state thread (`workers: 0` picks; see `cargo bench -p peregrine-agent
//! --bench pipeline` and docs/PERFORMANCE.md).

use crate::context::{HostInfo, Snapshot};
use crate::evaluate::Raised;
use crate::metrics::Metrics;
use crate::stages::detect::{Detector, DetectorFactory, RulesDetector};
use peregrine_rules::Engine;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

/// Batches queued per worker before the state stage waits.
const QUEUE_BATCHES: usize = 64;

/// The rule set in force; replaced as a whole on reload.
pub struct RuleSet {
    generation: AtomicU64,
    engine: RwLock<Arc<Engine>>,
}

impl RuleSet {
    /// Start with `engine`.
    pub fn new(engine: Engine) -> RuleSet {
        RuleSet {
            generation: AtomicU64::new(0),
            engine: RwLock::new(Arc::new(engine)),
        }
    }

    /// The engine in force and its generation.
    pub fn current(&self) -> (u64, Arc<Engine>) {
        let e = self.engine.read().unwrap_or_else(|p| p.into_inner());
        (self.generation.load(Ordering::Acquire), e.clone())
    }

    /// Put `engine` in force; workers pick it up at their next batch.
    pub fn replace(&self, engine: Engine) {
        let mut e = self.engine.write().unwrap_or_else(|p| p.into_inner());
        *e = Arc::new(engine);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Generation of the engine in force (bumped by each replace).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// Rule worker threads for a configured count (0: automatic). The result 0
/// means inline evaluation on the state thread: chosen automatically below
/// four cores, where the sensor and state threads already take the cores a
/// worker would run on; above, half the cores (at most 16).
pub fn worker_count(configured: usize) -> usize {
    if configured > 0 {
        return configured.min(64);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 4 {
        0
    } else {
        (cores / 2).min(16)
    }
}

/// Which of `n` workers evaluates events of thread group `tgid`.
pub fn partition(tgid: u32, n: usize) -> usize {
    // Fibonacci hashing: consecutive pids spread over the workers.
    ((tgid.wrapping_mul(0x9E37_79B9) >> 16) as usize) % n.max(1)
}

/// Runs every detector on snapshots and sends what they raise: the inline
/// mode and every worker thread use one.
struct Evaluator {
    detectors: Vec<Box<dyn Detector>>,
    host: Arc<HostInfo>,
    alerts: SyncSender<Raised>,
    found: Vec<Raised>,
}

impl Evaluator {
    fn new(
        factories: &[DetectorFactory],
        host: Arc<HostInfo>,
        alerts: SyncSender<Raised>,
    ) -> Evaluator {
        Evaluator {
            detectors: factories.iter().map(|f| f()).collect(),
            host,
            alerts,
            found: Vec::new(),
        }
    }

    /// False when the alert stage is gone.
    fn eval(&mut self, snap: &Snapshot) -> bool {
        for d in &mut self.detectors {
            d.detect(snap, &self.host, &mut self.found);
        }
        self.found.drain(..).all(|a| self.alerts.send(a).is_ok())
    }
}

/// The running workers and the batches being filled for them.
pub struct Workers {
    txs: Vec<SyncSender<Vec<Snapshot>>>,
    pending: Vec<Vec<Snapshot>>,
    /// Evaluated batches come back to be freed on the thread that allocated
    /// them (glibc serialises cross-thread frees; the ancestry's reference
    /// counts then stay on one core) and their vectors reused.
    done: Option<Receiver<Vec<Snapshot>>>,
    spare: Vec<Vec<Snapshot>>,
    handles: Vec<JoinHandle<()>>,
    metrics: Arc<Metrics>,
    inline: Option<Evaluator>,
    healthy: bool,
}

impl Workers {
    /// Start `n` workers evaluating `rules` (0: evaluate inline, on the
    /// thread that pushes); alerts go to `alerts`.
    pub fn spawn(
        n: usize,
        rules: Arc<RuleSet>,
        host: Arc<HostInfo>,
        alerts: SyncSender<Raised>,
        metrics: Arc<Metrics>,
    ) -> Workers {
        let rules = RulesDetector::factory(rules, metrics.clone());
        Workers::spawn_detectors(n, &[rules], host, alerts, metrics)
    }

    /// Start `n` workers, each with one instance of every detector of
    /// `factories` (0: inline, on the thread that pushes).
    pub fn spawn_detectors(
        n: usize,
        factories: &[DetectorFactory],
        host: Arc<HostInfo>,
        alerts: SyncSender<Raised>,
        metrics: Arc<Metrics>,
    ) -> Workers {
        if n == 0 {
            return Workers {
                txs: Vec::new(),
                pending: Vec::new(),
                done: None,
                spare: Vec::new(),
                handles: Vec::new(),
                metrics: metrics.clone(),
                inline: Some(Evaluator::new(factories, host, alerts)),
                healthy: true,
            };
        }
        let mut txs = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        let (done_tx, done_rx) = channel::<Vec<Snapshot>>();
        for i in 0..n {
            let done_tx = done_tx.clone();
            let (tx, rx) = sync_channel::<Vec<Snapshot>>(QUEUE_BATCHES);
            let mut evaluator = Evaluator::new(factories, host.clone(), alerts.clone());
            let worker_metrics = metrics.clone();
            let handle = std::thread::Builder::new()
                .name(format!("pg-rules-{i}"))
                .spawn(move || {
                    while let Ok(batch) = rx.recv() {
                        worker_metrics.queue_depth.dec();
                        for snap in &batch {
                            if !evaluator.eval(snap) {
                                return;
                            }
                        }
                        // Freed by the state stage; if it is gone, here.
                        let _ = done_tx.send(batch);
                    }
                })
                .expect("spawn rule worker");
            txs.push(tx);
            handles.push(handle);
        }
        Workers {
            txs,
            pending: (0..n).map(|_| Vec::new()).collect(),
            done: Some(done_rx),
            spare: Vec::new(),
            handles,
            metrics,
            inline: None,
            healthy: true,
        }
    }

    /// Number of worker threads (0: inline).
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// True when rules run inline on the pushing thread.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Queue a snapshot for the worker of its thread group (inline: evaluate
    /// it now).
    pub fn push(&mut self, snap: Snapshot) {
        if let Some(inline) = &mut self.inline {
            self.healthy &= inline.eval(&snap);
            return;
        }
        let i = partition(snap.event.process.pid, self.txs.len());
        self.pending[i].push(snap);
    }

    /// Hand the queued snapshots to the workers (waits while a worker's
    /// queue is full). False when a worker (or the alert stage) is gone.
    pub fn flush(&mut self) -> bool {
        if self.inline.is_some() {
            return self.healthy;
        }
        self.reclaim();
        for (tx, pending) in self.txs.iter().zip(self.pending.iter_mut()) {
            if pending.is_empty() {
                continue;
            }
            let next = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(64));
            let batch = std::mem::replace(pending, next);
            self.metrics.queue_depth.inc();
            if tx.send(batch).is_err() {
                return false;
            }
        }
        true
    }

    /// Free evaluated batches here and keep their vectors (a few) for reuse.
    fn reclaim(&mut self) {
        let Some(done) = &self.done else {
            return;
        };
        while let Ok(mut batch) = done.try_recv() {
            batch.clear();
            if self.spare.len() < 2 * self.txs.len() + 2 {
                self.spare.push(batch);
            }
        }
    }

    /// Flush, let the workers finish what is queued and wait for them.
    pub fn finish(mut self) {
        self.flush();
        self.txs.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        self.reclaim();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_cover_every_worker_and_are_stable() {
        for n in 1..6 {
            let mut seen = vec![0; n];
            for pid in 1..10_000u32 {
                let p = partition(pid, n);
                assert_eq!(p, partition(pid, n));
                seen[p] += 1;
            }
            for (i, c) in seen.iter().enumerate() {
                assert!(*c > 10_000 / n / 2, "worker {i} of {n} got {c}");
            }
        }
    }

    #[test]
    fn worker_count_is_bounded() {
        assert_eq!(worker_count(3), 3);
        assert_eq!(worker_count(1000), 64);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let auto = worker_count(0);
        if cores < 4 {
            assert_eq!(auto, 0, "inline below four cores");
        } else {
            assert!((2..=16).contains(&auto));
        }
    }
}
