//! One [`Scorer`] per monitored thread, bounded: a thread's scorer goes
//! when the thread exits or execs, or, when the table is full and a new
//! thread appears, the least recently fed one is evicted.

use crate::model::{Model, Scorer};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

/// Counters of the live scorer, shared by every worker's table (Prometheus
/// metrics: [`LiveStats::register`]).
#[derive(Debug, Default)]
pub struct LiveStats {
    /// Threads with a scorer now (all workers).
    pub threads: Gauge<i64, AtomicI64>,
    /// Scorers dropped because the table was full (least recently fed).
    pub evicted: Counter,
    /// Scorers dropped at thread exit or exec.
    pub ended: Counter,
    /// Syscall ids scored.
    pub syscalls: Counter,
    /// Batches received.
    pub batches: Counter,
    /// Anomaly alerts raised.
    pub alerts: Counter,
}

impl LiveStats {
    /// Register the counters as `peregrine_model_*`.
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "model_threads",
            "Threads with an anomaly-model scorer",
            self.threads.clone(),
        );
        r.register(
            "model_thread_evictions",
            "Scorers evicted because the table was full",
            self.evicted.clone(),
        );
        r.register(
            "model_thread_ends",
            "Scorers dropped at thread exit or exec",
            self.ended.clone(),
        );
        r.register(
            "model_batches",
            "Syscall id batches scored",
            self.batches.clone(),
        );
        r.register(
            "model_syscalls",
            "Syscall ids scored",
            self.syscalls.clone(),
        );
        r.register("model_alerts", "Anomaly alerts raised", self.alerts.clone());
    }

    /// One line for logs.
    pub fn summary(&self) -> String {
        format!(
            "threads={} evicted={} ended={} batches={} syscalls={} alerts={}",
            self.threads.get(),
            self.evicted.get(),
            self.ended.get(),
            self.batches.get(),
            self.syscalls.get(),
            self.alerts.get()
        )
    }
}

struct Slot {
    scorer: Scorer<'static>,
    used: u64,
}

/// Scorers by thread id, at most `cap` of them.
pub struct ThreadTable {
    model: &'static Model,
    cap: usize,
    tick: u64,
    slots: HashMap<u32, Slot>,
    stats: Arc<LiveStats>,
}

impl ThreadTable {
    /// An empty table of at most `cap` (at least 1) scorers.
    pub fn new(model: &'static Model, cap: usize, stats: Arc<LiveStats>) -> ThreadTable {
        ThreadTable {
            model,
            cap: cap.max(1),
            tick: 0,
            slots: HashMap::new(),
            stats,
        }
    }

    /// Scorers held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no thread has a scorer.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The scorer of `tid`, created (evicting the least recently fed one
    /// when full) if the thread has none.
    pub fn scorer(&mut self, tid: u32) -> &mut Scorer<'static> {
        self.tick += 1;
        if !self.slots.contains_key(&tid) {
            if self.slots.len() >= self.cap {
                self.evict_oldest();
            }
            self.slots.insert(
                tid,
                Slot {
                    scorer: Scorer::new(self.model),
                    used: 0,
                },
            );
            self.stats.threads.inc();
        }
        let slot = self.slots.get_mut(&tid).expect("inserted above");
        slot.used = self.tick;
        &mut slot.scorer
    }

    /// Drop the scorer of a thread that exited or exec'd.
    pub fn end(&mut self, tid: u32) {
        if self.slots.remove(&tid).is_some() {
            self.stats.threads.dec();
            self.stats.ended.inc();
        }
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .slots
            .iter()
            .min_by_key(|(_, s)| s.used)
            .map(|(t, _)| *t);
        if let Some(tid) = oldest {
            self.slots.remove(&tid);
            self.stats.threads.dec();
            self.stats.evicted.inc();
        }
    }
}

impl Drop for ThreadTable {
    fn drop(&mut self) {
        self.stats.threads.dec_by(self.slots.len() as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{kneser::KneserNey, Body};

    fn model() -> &'static Model {
        let normal: Vec<u16> = [0u16, 1, 2, 3].repeat(10);
        Box::leak(Box::new(Model {
            body: Body::KneserNey(KneserNey::fit(&[&normal[..]], 3)),
            window: 4,
            threshold: 1.0,
            trained_on: 1,
        }))
    }

    #[test]
    fn bounded_with_lru_eviction_and_end() {
        let stats = Arc::new(LiveStats::default());
        let mut t = ThreadTable::new(model(), 2, stats.clone());
        t.scorer(1).push(0);
        t.scorer(2).push(0);
        t.scorer(1).push(1); // 2 is now the least recently fed
        t.scorer(3).push(0);
        assert_eq!(t.len(), 2);
        assert!(t.slots.contains_key(&1) && t.slots.contains_key(&3));
        assert_eq!(stats.evicted.get(), 1);
        t.end(1);
        t.end(42);
        assert_eq!(t.len(), 1);
        assert_eq!(stats.ended.get(), 1);
        assert_eq!(stats.threads.get(), 1);
        drop(t);
        assert_eq!(stats.threads.get(), 0);
    }
}
