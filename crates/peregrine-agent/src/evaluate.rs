//! The per-event steps shared by the live agent and replay: update the host
//! state with the event and take a [`Snapshot`] (one thread, in event
//! order), then evaluate the rules on the snapshot and build the alerts
//! (any thread).

use crate::alert::{self, Alert};
use crate::context::{AgentContext, HostInfo, Snapshot};
use peregrine_event::Event;
use peregrine_rules::eval::Memo;
use peregrine_rules::threshold::{ThresholdGate, ThresholdMark};
use peregrine_rules::Engine;
use peregrine_state::{ContainerCache, ProcessTable};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An alert as a rule raised it; threshold rules' alerts still have to
/// pass their [`ThresholdGate`] (see [`pass_threshold`]).
#[derive(Debug, Clone)]
pub struct Raised {
    /// The alert.
    pub alert: Alert,
    /// What the match contributes to its rule's threshold, if it has one.
    pub threshold: Option<ThresholdMark>,
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

/// Deepest ancestry a snapshot carries (the rule fields stop there too).
pub const MAX_ANCESTRY: usize = 64;

/// What the rules look at besides the event.
pub struct HostState {
    /// Process table.
    pub table: ProcessTable,
    /// Container metadata.
    pub containers: ContainerCache,
    /// Users, host name, alert ids.
    pub host: Arc<HostInfo>,
    /// The events happen on this host now, so an exec may be enriched from
    /// `/proc` (drift, executable times). False for replay and benches,
    /// whose pids are not this host's processes.
    pub live: bool,
}

impl HostState {
    /// Apply `ev` to the state and detach what rules need from it. `num` is
    /// the event's sequence number.
    pub fn snapshot(&mut self, mut ev: Event, num: u64) -> Snapshot {
        if self.live {
            self.enrich_exec(&mut ev);
        }
        self.table.observe(&mut ev);
        let container = self.containers.lookup_shared(&ev.process.cgroup).cloned();
        let chain = self.table.chain(ev.process.pid, MAX_ANCESTRY);
        Snapshot {
            event: ev,
            chain,
            container,
            num,
        }
    }

    /// What an exec's record does not carry and the live process still
    /// shows: whether its executable is in the container's upper layer, and
    /// the executable's times.
    fn enrich_exec(&mut self, ev: &mut Event) {
        if let peregrine_event::EventData::Exec(x) = &mut ev.data {
            let upper = self.containers.exe_upper_file(
                &ev.process.cgroup,
                ev.process.pid,
                ev.process.ppid,
                &x.exe,
            );
            x.exe_upper_layer = upper.as_ref().map(|m| m.is_some());
            // The image's file through /proc/PID/exe (any mount namespace);
            // for a process already gone, its upper-layer copy if any.
            let meta = std::fs::metadata(format!("/proc/{}/exe", ev.process.pid))
                .ok()
                .or_else(|| upper.flatten());
            if let Some(m) = meta {
                use std::os::unix::fs::MetadataExt;
                let ns = |s: i64, n: i64| (s.max(0) as u64) * 1_000_000_000 + n.max(0) as u64;
                x.exe_ctime_ns = Some(ns(m.ctime(), m.ctime_nsec()));
                x.exe_mtime_ns = Some(ns(m.mtime(), m.mtime_nsec()));
            }
        }
    }

    /// Snapshot and evaluate in one step (replay, single-threaded use).
    pub fn evaluate(
        &mut self,
        engine: &Engine,
        memo: &mut Memo,
        ev: Event,
        num: u64,
    ) -> (Vec<Raised>, Duration) {
        let snap = self.snapshot(ev, num);
        evaluate(engine, memo, &snap, &self.host)
    }
}

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
            let (output, output_fields) = r.output.render(&ctx);
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
            }
        })
        .collect();
    (alerts, took)
}
