//! Sequence stage: sequence rules ([`peregrine_rules::sequence`]) follow
//! every event in stream order on the state thread, before the event is
//! handed to the rule workers (which are partitioned by process, so no
//! worker sees a whole process tree). Completed sequences go to the sink
//! thread as alerts like any other (dedup, rate limit, response apply).
//! Replay runs the same [`SequenceCore`] on the same stream, so it raises
//! the same sequence alerts.

use crate::context::{AgentContext, HostInfo, Snapshot};
use crate::evaluate::Raised;
use crate::metrics::Metrics;
use crate::workers::RuleSet;
use peregrine_rules::eval::Memo;
use peregrine_rules::sequence::{SeqStats, Tracker};
use peregrine_rules::Engine;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Label: sequence rule.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SequenceLabel {
    /// Sequence rule name.
    pub rule: String,
}

/// Metrics of the sequence rules.
#[derive(Debug, Default)]
pub struct SequenceMetrics {
    /// Partial matches held, per sequence rule.
    pub partials: Family<SequenceLabel, Gauge>,
    /// Partial matches evicted at the cap, per sequence rule.
    pub evictions: Family<SequenceLabel, Counter>,
    /// Sequences completed (alerts raised), per sequence rule.
    pub completions: Family<SequenceLabel, Counter>,
    /// Partial matches whose window passed, per sequence rule.
    pub expired: Family<SequenceLabel, Counter>,
}

impl SequenceMetrics {
    /// Register under `registry` (`peregrine_sequence_…`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "sequence_partial_matches",
            "Partial matches of sequence rules held",
            self.partials.clone(),
        );
        registry.register(
            "sequence_evictions",
            "Partial matches of sequence rules evicted because the rule's cap was reached",
            self.evictions.clone(),
        );
        registry.register(
            "sequence_completions",
            "Sequence rules completed (alerts raised)",
            self.completions.clone(),
        );
        registry.register(
            "sequence_expired",
            "Partial matches of sequence rules whose window passed",
            self.expired.clone(),
        );
    }

    /// Publish `stats` (absolute, from the tracker) for `engine`'s sequences;
    /// `last` holds what was published before (per rule).
    fn publish(&self, engine: &Engine, stats: &[SeqStats], last: &mut Vec<SeqStats>) {
        last.resize(stats.len(), SeqStats::default());
        for ((seq, s), prev) in engine
            .sequences()
            .list()
            .iter()
            .zip(stats)
            .zip(last.iter_mut())
        {
            let l = SequenceLabel {
                rule: seq.name.clone(),
            };
            self.partials.get_or_create(&l).set(s.active as i64);
            let add = |c: &Family<SequenceLabel, Counter>, now: u64, before: u64| {
                c.get_or_create(&l).inc_by(now.saturating_sub(before));
            };
            add(&self.evictions, s.evictions, prev.evictions);
            add(&self.completions, s.completions, prev.completions);
            add(&self.expired, s.expired, prev.expired);
            *prev = *s;
        }
    }
}

/// The sequence rules' state for one engine, fed every event in order.
pub struct SequenceCore {
    tracker: Tracker,
    memo: Memo,
}

impl SequenceCore {
    /// Empty state for `engine`'s sequence rules.
    pub fn new(engine: &Engine) -> SequenceCore {
        SequenceCore {
            tracker: Tracker::new(engine.sequences()),
            memo: engine.memo(),
        }
    }

    /// Follow one event; the alerts of the sequences it completes.
    pub fn observe(&mut self, engine: &Engine, snap: &Snapshot, host: &HostInfo) -> Vec<Raised> {
        if engine.sequences().is_empty() {
            return Vec::new();
        }
        let ctx = AgentContext { snap, host };
        self.tracker
            .observe(engine.sequences(), &ctx, &mut self.memo)
            .into_iter()
            .map(|m| Raised {
                alert: crate::alert::build(m, snap, host),
                threshold: None,
                response: None,
            })
            .collect()
    }

    /// Counters per sequence rule.
    pub fn stats(&self) -> Vec<SeqStats> {
        self.tracker.stats()
    }
}

/// The live stage: the rule set in force (a reload starts its sequences
/// from empty state), the alerts channel and the metrics.
pub struct SequenceStage {
    rules: Arc<RuleSet>,
    generation: u64,
    engine: Arc<Engine>,
    core: SequenceCore,
    host: Arc<HostInfo>,
    alerts: SyncSender<Raised>,
    metrics: Arc<Metrics>,
    published: Vec<SeqStats>,
    last_publish: Instant,
}

impl SequenceStage {
    /// Follow the sequences of `rules`, sending alerts to `alerts`.
    pub fn new(
        rules: Arc<RuleSet>,
        host: Arc<HostInfo>,
        alerts: SyncSender<Raised>,
        metrics: Arc<Metrics>,
    ) -> SequenceStage {
        let (generation, engine) = rules.current();
        SequenceStage {
            core: SequenceCore::new(&engine),
            rules,
            generation,
            engine,
            host,
            alerts,
            metrics,
            published: Vec::new(),
            last_publish: Instant::now(),
        }
    }

    /// Follow one event (every event, in order).
    pub fn observe(&mut self, snap: &Snapshot) {
        if self.rules.generation() != self.generation {
            (self.generation, self.engine) = self.rules.current();
            self.core = SequenceCore::new(&self.engine);
            self.published.clear();
        }
        for a in self.core.observe(&self.engine, snap, &self.host) {
            let _ = self.alerts.send(a);
        }
    }

    /// Publish the counters (at most once a second).
    pub fn maintain(&mut self) {
        if self.last_publish.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_publish = Instant::now();
        let stats = self.core.stats();
        self.metrics
            .sequences
            .publish(&self.engine, &stats, &mut self.published);
    }
}
