//! The rules' per-event step shared by the live agent and replay: evaluate
//! the rules on a [`Snapshot`] (taken by the state stage,
//! [`crate::stages::state`]) and build the alerts (any thread); and the
//! threshold gate alerts pass before routing.

use crate::alert::{self, Alert};
use crate::context::{AgentContext, HostInfo, Snapshot};
use peregrine_rules::eval::Memo;
use peregrine_rules::threshold::{ThresholdGate, ThresholdMark};
use peregrine_rules::Engine;
use std::time::{Duration, Instant};

/// An alert as a rule raised it; threshold rules' alerts still have to
/// pass their [`ThresholdGate`] (see [`pass_threshold`]).
#[derive(Debug, Clone)]
pub struct Raised {
    /// The alert.
    pub alert: Alert,
    /// What the match contributes to its rule's threshold, if it has one.
    pub threshold: Option<ThresholdMark>,
    /// The actions the rule asks for and their target (rules with
    /// `actions:` only).
    pub response: Option<Box<crate::actions::Planned>>,
}

/// Apply a rule's threshold: `None` while its group is below the count;
/// the alert, annotated with what was counted, once it is reached.
pub fn pass_threshold(raised: Raised, gate: &mut ThresholdGate) -> Option<Alert> {
    let Some(mark) = raised.threshold else {
        return Some(raised.alert);
    };
    let crossed = gate.admit(&raised.alert.rule, &mark)?;
    let mut alert = raised.alert;
    let secs = mark.window_ns / 1_000_000_000;
    let what = if crossed.values.is_empty() {
        format!(" (threshold: {} matches in {secs}s)", crossed.count)
    } else {
        format!(
            " (threshold: {} distinct in {secs}s: {})",
            crossed.count,
            crossed.values.join(", ")
        )
    };
    alert.output.push_str(&what);
    alert
        .output_fields
        .insert("threshold.count".into(), crossed.count.to_string());
    if !crossed.values.is_empty() {
        alert
            .output_fields
            .insert("threshold.values".into(), crossed.values.join(","));
    }
    Some(alert)
}

/// What a match of `rule` asks to be done, to the event's process and file.
fn planned(
    rule: &peregrine_rules::compile::CompiledRule,
    snap: &Snapshot,
) -> crate::actions::Planned {
    let ev = &snap.event;
    let file = ev
        .file()
        .map(|f| f.path.clone())
        .or_else(|| ev.exec().map(|e| e.exe.clone()))
        .filter(|p| !p.is_empty());
    crate::actions::Planned {
        actions: rule.actions.clone(),
        target: crate::actions::Target {
            pid: ev.process.pid,
            file,
            container: snap.container.as_ref().map(|c| c.id.clone()),
        },
    }
}

/// Deepest ancestry a snapshot carries (the rule fields stop there too).
pub use peregrine_state::MAX_ANCESTRY;

/// Evaluate `engine` on a snapshot; the alerts raised, and the time the
/// rule evaluation itself took.
pub fn evaluate(
    engine: &Engine,
    memo: &mut Memo,
    snap: &Snapshot,
    host: &HostInfo,
) -> (Vec<Raised>, Duration) {
    let ctx = AgentContext { snap, host };
    let mut matched = Vec::new();
    let t0 = Instant::now();
    engine.for_each_match_memo(&ctx, memo, |r| matched.push(r));
    let took = t0.elapsed();
    let alerts = matched
        .into_iter()
        .map(|r| {
            let (mut output, mut output_fields) = r.output.render(&ctx);
            if !host.append.is_empty() {
                let rule = (r.name.as_str(), r.tags.as_slice(), r.source.as_str());
                host.append
                    .apply(rule, &ctx, &mut output, &mut output_fields);
            }
            let m = peregrine_rules::Match {
                rule: r.name.clone(),
                priority: r.priority,
                output,
                output_fields,
                tags: r.tags.clone(),
            };
            Raised {
                alert: alert::build(m, snap, host),
                threshold: r.threshold.as_ref().map(|t| t.mark(&ctx)),
                response: (!r.actions.is_empty()).then(|| Box::new(planned(r, snap))),
            }
        })
        .collect();
    (alerts, took)
}
