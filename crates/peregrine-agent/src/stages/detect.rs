//! Detection stage: every [`Detector`] looks at each event's [`Snapshot`] and
//! raises alerts. Detectors run on the rule workers
//! ([`crate::workers::Workers`]: N threads partitioned by thread-group id,
//! or inline on the state thread), one instance per worker, so a detector
//! keeps per-process state without locks.
//!
//! The rules engine ([`RulesDetector`]) is the first detector. Behaviour
//! profiles and anomaly models plug in here: implement [`Detector`] and add
//! its factory to the list [`DetectStage::spawn`] is given.

use crate::context::{HostInfo, Snapshot};
use crate::evaluate::Raised;
use crate::metrics::Metrics;
use crate::workers::{RuleSet, Workers};
use peregrine_event::EventKind;
use peregrine_rules::Engine;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

/// Looks at events and raises alerts. One instance per rule worker.
pub trait Detector: Send {
    /// Name (logs, metrics).
    fn name(&self) -> &str;
    /// Look at one event and push what it raises onto `out`.
    fn detect(&mut self, snap: &Snapshot, host: &HostInfo, out: &mut Vec<Raised>);
}

/// Makes one detector instance per worker.
pub type DetectorFactory = Arc<dyn Fn() -> Box<dyn Detector> + Send + Sync>;

/// The rules engine as a detector: evaluates the rule set in force and
/// picks up reloads at the next event.
pub struct RulesDetector {
    rules: Arc<RuleSet>,
    generation: u64,
    engine: Arc<Engine>,
    memo: peregrine_rules::eval::Memo,
    metrics: Arc<Metrics>,
}

impl RulesDetector {
    /// Evaluate `rules`, timing each evaluation into `metrics`.
    pub fn new(rules: Arc<RuleSet>, metrics: Arc<Metrics>) -> RulesDetector {
        let (generation, engine) = rules.current();
        RulesDetector {
            rules,
            generation,
            memo: engine.memo(),
            engine,
            metrics,
        }
    }

    /// A factory of rules detectors sharing `rules`.
    pub fn factory(rules: Arc<RuleSet>, metrics: Arc<Metrics>) -> DetectorFactory {
        Arc::new(move || Box::new(RulesDetector::new(rules.clone(), metrics.clone())))
    }
}

impl Detector for RulesDetector {
    fn name(&self) -> &str {
        "rules"
    }

    fn detect(&mut self, snap: &Snapshot, host: &HostInfo, out: &mut Vec<Raised>) {
        if self.rules.generation() != self.generation {
            (self.generation, self.engine) = self.rules.current();
            self.memo = self.engine.memo();
        }
        let (found, took) = crate::evaluate::evaluate(&self.engine, &mut self.memo, snap, host);
        self.metrics.rule_eval_seconds.observe(took.as_secs_f64());
        out.extend(found);
    }
}

/// The detectors on their workers, and the rule set they evaluate.
pub struct DetectStage {
    workers: Workers,
    rules: Arc<RuleSet>,
    files: Vec<PathBuf>,
    attached: BTreeSet<EventKind>,
    metrics: Arc<Metrics>,
}

impl DetectStage {
    /// Start `n` workers (0: inline) running the rules engine on `engine`
    /// (loaded from `files`) and the `extra` detectors; alerts go to `alerts`.
    pub fn spawn(
        n: usize,
        engine: Engine,
        files: Vec<PathBuf>,
        extra: Vec<DetectorFactory>,
        host: Arc<HostInfo>,
        alerts: SyncSender<Raised>,
        metrics: Arc<Metrics>,
    ) -> DetectStage {
        let attached = engine.required_kinds();
        let rules = Arc::new(RuleSet::new(engine));
        let mut factories = vec![RulesDetector::factory(rules.clone(), metrics.clone())];
        factories.extend(extra);
        let workers = Workers::spawn_detectors(n, &factories, host, alerts, metrics.clone());
        tracing::info!(workers = workers.len(), "rule workers started");
        DetectStage {
            workers,
            rules,
            files,
            attached,
            metrics,
        }
    }

    /// The rule set in force (shared with the workers, the k8s audit stage
    /// and the blocker; replaced on reload).
    pub fn rules(&self) -> Arc<RuleSet> {
        self.rules.clone()
    }

    /// Queue a snapshot (inline: detect now).
    pub fn push(&mut self, snap: Snapshot) {
        self.workers.push(snap);
    }

    /// Hand queued snapshots to the workers; false when one is gone.
    pub fn flush(&mut self) -> bool {
        self.workers.flush()
    }

    /// Load the rule files again and put them in force; a set that fails to
    /// load is reported and the one in force stays.
    pub fn reload(&self, status: Option<&crate::report::AgentStatus>) {
        let result = match Engine::from_files(&self.files) {
            Ok(new) => {
                let missing: Vec<&str> = new
                    .required_kinds()
                    .difference(&self.attached)
                    .map(|k| k.name())
                    .collect();
                if !missing.is_empty() {
                    tracing::warn!(
                        "reloaded rules need event kinds not captured since start ({}): restart the agent to capture them",
                        missing.join(", ")
                    );
                }
                tracing::info!(rules = new.stats().enabled, "rules reloaded");
                if let Some(st) = status {
                    st.set_rules(&new);
                }
                self.rules.replace(new);
                "ok"
            }
            Err(e) => {
                let first = e
                    .diagnostics
                    .iter()
                    .find(|d| d.is_error())
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                tracing::error!(
                    "rule reload failed, keeping the rules in force: {}",
                    first.lines().next().unwrap_or("")
                );
                "error"
            }
        };
        self.metrics
            .rule_reloads
            .get_or_create(&crate::metrics::ResultLabel {
                result: result.into(),
            })
            .inc();
    }

    /// Let the workers finish what is queued and wait for them.
    pub fn finish(self) {
        self.workers.finish();
    }
}
