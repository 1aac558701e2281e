//! Audit events to alerts: the `k8s_audit` rules of the engine in force,
//! alerts with `source: k8s_audit`, routed and delivered like any other.

use crate::alert::Alert;
use crate::context::HostInfo;
use crate::evaluate::Raised;
use crate::metrics::{KindLabel, Metrics};
use crate::workers::RuleSet;
use peregrine_rules::eval::Memo;
use peregrine_rules::fields::k8saudit::{AuditContext, AuditEvent};
use peregrine_rules::{Engine, Match};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

/// Evaluate `engine`'s audit rules on one event (`num`: its sequence
/// number, from 1).
pub fn raise(
    engine: &Engine,
    memo: &mut Memo,
    ev: &AuditEvent,
    host: &HostInfo,
    num: u64,
) -> Vec<Raised> {
    let ctx = AuditContext::new(ev, &host.hostname, num);
    let mut out = Vec::new();
    engine.for_each_audit_match(&ctx, memo, |r| {
        let (output, output_fields) = r.output.render(&ctx);
        let m = Match {
            rule: r.name.clone(),
            priority: r.priority,
            output,
            output_fields,
            tags: r.tags.clone(),
        };
        out.push(Raised {
            alert: build(m, ev, host),
            threshold: r.threshold.as_ref().map(|t| t.mark(&ctx)),
            // Actions act on a process or file; an audit event has neither.
            response: None,
        });
    });
    out
}

/// The alert of a match on an audit event (Falco's shape; no container or
/// ancestry: the event is the API server's, not a process's).
pub fn build(m: Match, ev: &AuditEvent, host: &HostInfo) -> Alert {
    crate::alert::bare(m, ev.ts_ns, peregrine_rules::fields::k8saudit::SOURCE, host)
}

/// What both audit sources hand their events to: evaluates them with the
/// rule set in force (reloads included) and queues the alerts for the sink
/// stage (blocking when it is full: back-pressure on the sender).
pub struct Evaluator {
    rules: Arc<RuleSet>,
    metrics: Arc<Metrics>,
    host: Arc<HostInfo>,
    alerts: SyncSender<Raised>,
    num: AtomicU64,
    events: AtomicU64,
}

impl Evaluator {
    /// Evaluate with `rules`, alerts to `alerts`; audit events are counted
    /// in `metrics` as events of kind `k8s_audit`.
    pub fn new(
        rules: Arc<RuleSet>,
        host: Arc<HostInfo>,
        alerts: SyncSender<Raised>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Evaluator {
            rules,
            metrics,
            host,
            alerts,
            num: AtomicU64::new(0),
            events: AtomicU64::new(0),
        }
    }

    /// Evaluate a batch; false when the sink stage is gone.
    pub fn submit(&self, events: &[AuditEvent]) -> bool {
        let (_, engine) = self.rules.current();
        let mut memo = engine.memo();
        self.events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        let kind = KindLabel {
            kind: peregrine_rules::fields::k8saudit::SOURCE.into(),
        };
        self.metrics
            .events
            .get_or_create(&kind)
            .inc_by(events.len() as u64);
        for ev in events {
            let num = self.num.fetch_add(1, Ordering::Relaxed) + 1;
            for r in raise(&engine, &mut memo, ev, &self.host, num) {
                if self.alerts.send(r).is_err() {
                    return false;
                }
            }
        }
        true
    }

    /// Audit events evaluated so far.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }
}
