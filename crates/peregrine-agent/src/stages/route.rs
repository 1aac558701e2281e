//! Alert routing: what detection raised becomes an alert to deliver, or
//! not. In order: the rule's threshold (an alert only once its group
//! reaches the count), dedup of identical alerts within a window (a summary
//! when it closes), and the per-rule rate limit. Runs on the sink thread
//! (see [`crate::stages::sinks`]); per-sink minimum priorities are applied
//! at delivery.

use crate::actions::Planned;
use crate::alert::Alert;
use crate::dedup::{Dedup, DedupConfig};
use crate::evaluate::Raised;
use crate::metrics::{AlertLabel, Metrics};
use peregrine_rules::threshold::ThresholdGate;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An alert the router let through, with the rule that matched
/// (`alert.rule`, `alert.priority`, `alert.tags`).
#[derive(Debug, Clone)]
pub struct Routed {
    /// The alert to deliver.
    pub alert: Alert,
    /// A dedup summary (alerts aggregated over a window), not one match.
    pub summary: bool,
}

impl Routed {
    /// Name of the rule that matched.
    pub fn rule(&self) -> &str {
        &self.alert.rule
    }
}

/// Threshold, dedup and rate limit, with their metrics.
pub struct Router {
    thresholds: ThresholdGate,
    dedup: Dedup,
    metrics: Arc<Metrics>,
    last_expire: Instant,
    min: peregrine_rules::Priority,
    /// Alerts that passed their threshold (before dedup).
    pub alerts: u64,
}

impl Router {
    /// A router deduplicating with `dedup`, counting into `metrics`.
    pub fn new(dedup: DedupConfig, metrics: Arc<Metrics>) -> Router {
        Router {
            thresholds: ThresholdGate::default(),
            dedup: Dedup::new(dedup),
            metrics,
            last_expire: Instant::now(),
            min: peregrine_rules::Priority::Debug,
            alerts: 0,
        }
    }

    /// Let through only alerts at least as severe as `min` (the rest are
    /// dropped before thresholds, dedup and counting, as if their rules
    /// were not loaded: Falco's `priority`).
    pub fn with_min_priority(mut self, min: peregrine_rules::Priority) -> Router {
        self.min = min;
        self
    }

    /// Route one raised alert: `None` while its threshold group is below the
    /// count or when dedup or the rate limit suppress it.
    pub fn admit(&mut self, raised: Raised) -> Option<Routed> {
        let (a, _) = self.gate(raised)?;
        self.dedup(a)
    }

    /// The threshold step alone: the alert and its planned actions once the
    /// rule's threshold (if any) is reached. Counted as an alert.
    pub fn gate(&mut self, mut raised: Raised) -> Option<(Alert, Option<Box<Planned>>)> {
        if raised.alert.priority > self.min {
            return None;
        }
        let planned = raised.response.take();
        let a = crate::evaluate::pass_threshold(raised, &mut self.thresholds)?;
        self.alerts += 1;
        Some((a, planned))
    }

    /// Dedup and rate limit of an alert that passed [`Router::gate`].
    pub fn dedup(&mut self, a: Alert) -> Option<Routed> {
        let label = AlertLabel {
            rule: a.rule.clone(),
            priority: a.priority.to_string(),
        };
        self.metrics.alerts.get_or_create(&label).inc();
        match self.dedup.admit(a, Instant::now()) {
            Some(alert) => Some(Routed {
                alert,
                summary: false,
            }),
            None => {
                self.metrics.alerts_suppressed.get_or_create(&label).inc();
                None
            }
        }
    }

    /// Dedup summaries that are due (all of them when `force`); threshold
    /// groups with no match for a day (the longest window) are dropped
    /// every ten seconds.
    pub fn expire(&mut self, force: bool) -> Vec<Routed> {
        if self.last_expire.elapsed() > Duration::from_secs(10) {
            self.last_expire = Instant::now();
            let now_ns = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            self.thresholds
                .expire(now_ns.saturating_sub(86_400 * 1_000_000_000));
        }
        self.dedup
            .expire(Instant::now(), force)
            .into_iter()
            .map(|alert| Routed {
                alert,
                summary: true,
            })
            .collect()
    }
}
