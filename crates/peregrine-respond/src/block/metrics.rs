//! Counters of the blocker (plain atomics; the agent exports them).
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of a [`super::Blocker`].
#[derive(Debug, Default)]
pub struct BlockMetrics {
    /// Permission requests received from the kernel.
    pub requests: AtomicU64,
    /// Requests answered by the decider (not cache, not exempt, not timeout).
    pub decisions: AtomicU64,
    /// Requests answered from the decision cache.
    pub cache_hits: AtomicU64,
    /// Requests allowed because the process or path is exempt.
    pub exempt: AtomicU64,
    /// Requests denied (by a decision, the cache or a fail-closed timeout).
    pub denials: AtomicU64,
    /// Requests answered by the watchdog at the timeout.
    pub timeouts: AtomicU64,
    /// Events that could not be handled (unreadable path, failed response write).
    pub errors: AtomicU64,
}

/// A copy of [`BlockMetrics`] at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[allow(missing_docs)]
pub struct BlockMetricsSnapshot {
    pub requests: u64,
    pub decisions: u64,
    pub cache_hits: u64,
    pub exempt: u64,
    pub denials: u64,
    pub timeouts: u64,
    pub errors: u64,
}

impl BlockMetrics {
    /// Reads every counter.
    pub fn snapshot(&self) -> BlockMetricsSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BlockMetricsSnapshot {
            requests: r(&self.requests),
            decisions: r(&self.decisions),
            cache_hits: r(&self.cache_hits),
            exempt: r(&self.exempt),
            denials: r(&self.denials),
            timeouts: r(&self.timeouts),
            errors: r(&self.errors),
        }
    }

    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
