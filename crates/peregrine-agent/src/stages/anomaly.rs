//! The anomaly model in the detection stage: scores the sensor's syscall id
//! stream (`EventData::Syscalls` batches, for the workloads selected with
//! `--model-comm` / `--model-cgroup` / `--model-container`) with one scorer
//! per thread ([`peregrine_detect::live::ThreadTable`]) and raises an alert in
//! Falco's shape (`source: anomaly`, rule [`RULE`]) when a thread's score
//! crosses the model's threshold, naming the rarest call sequences.

use crate::context::{HostInfo, Snapshot};
use crate::evaluate::Raised;
use crate::stages::detect::{Detector, DetectorFactory};
use peregrine_detect::live::{LiveOptions, LiveStats, ThreadTable, RULE, SOURCE};
use peregrine_detect::model::{vocab, Explanation, Model};
use peregrine_event::EventData;
use peregrine_rules::Match;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Scores syscall batches; one instance per rule worker.
pub struct ModelDetector {
    table: ThreadTable,
    opts: Arc<LiveOptions>,
    stats: Arc<LiveStats>,
}

impl ModelDetector {
    /// A detector scoring with `model`.
    pub fn new(model: &'static Model, opts: Arc<LiveOptions>, stats: Arc<LiveStats>) -> Self {
        ModelDetector {
            table: ThreadTable::new(model, opts.max_threads, stats.clone()),
            opts,
            stats,
        }
    }

    /// A factory for the agent ([`crate::Wiring::detectors`]). The
    /// model lives as long as the program (leaked once: every worker's
    /// scorers borrow it).
    pub fn factory(model: Model, opts: LiveOptions, stats: Arc<LiveStats>) -> DetectorFactory {
        let model: &'static Model = Box::leak(Box::new(model));
        let opts = Arc::new(opts);
        Arc::new(move || Box::new(ModelDetector::new(model, opts.clone(), stats.clone())))
    }

    fn alert(&self, snap: &Snapshot, host: &HostInfo, why: &Explanation) -> Raised {
        let p = &snap.event.process;
        let exe = p
            .exe
            .clone()
            .or_else(|| snap.chain.first().map(|v| v.exepath.clone()))
            .unwrap_or_default();
        let rarest = why
            .rarest
            .iter()
            .map(|r| format!("{} ({:.2})", r.calls.join(" "), r.cost))
            .collect::<Vec<_>>()
            .join("; ");
        let container = snap
            .container
            .as_ref()
            .map(|c| c.id.as_str())
            .unwrap_or("host");
        let output = format!(
            "Anomalous syscall sequence (score={:.3} threshold={:.3} window={:.3} \
             rarest=[{rarest}] process={} exe={exe} pid={} tid={} container_id={container} model={})",
            why.score, why.threshold, why.window, p.comm, p.pid, p.tid, self.opts.model_name
        );
        let mut fields = BTreeMap::new();
        fields.insert("proc.name".to_string(), p.comm.clone());
        fields.insert("proc.exepath".to_string(), exe);
        fields.insert("proc.pid".to_string(), p.pid.to_string());
        fields.insert("thread.tid".to_string(), p.tid.to_string());
        fields.insert("container.id".to_string(), container.to_string());
        fields.insert("anomaly.score".to_string(), format!("{:.4}", why.score));
        fields.insert("anomaly.window".to_string(), format!("{:.4}", why.window));
        fields.insert(
            "anomaly.threshold".to_string(),
            format!("{:.4}", why.threshold),
        );
        fields.insert("anomaly.rarest".to_string(), rarest);
        fields.insert("anomaly.model".to_string(), self.opts.model_name.clone());
        let m = Match {
            rule: RULE.to_string(),
            priority: self.opts.priority,
            output,
            output_fields: fields,
            tags: vec!["anomaly".into(), "syscall_sequence".into()],
        };
        let mut alert = crate::alert::build(m, snap, host);
        alert.source = SOURCE.to_string();
        Raised {
            alert,
            threshold: None,
            response: None,
        }
    }
}

impl Detector for ModelDetector {
    fn name(&self) -> &str {
        "anomaly-model"
    }

    fn detect(&mut self, snap: &Snapshot, host: &HostInfo, out: &mut Vec<Raised>) {
        let EventData::Syscalls(batch) = &snap.event.data else {
            return;
        };
        let tid = snap.event.process.tid;
        self.stats.batches.inc();
        self.stats.syscalls.inc_by(batch.ids.len() as u64);
        if !batch.ids.is_empty() {
            let scorer = self.table.scorer(tid);
            let mut found = Vec::new();
            for &id in &batch.ids {
                if let Some(why) = scorer.push(vocab::token(u32::from(id))).alert {
                    found.push(why);
                }
            }
            for why in found {
                self.stats.alerts.inc();
                out.push(self.alert(snap, host, &why));
            }
        }
        if batch.exit || batch.exec {
            self.table.end(tid);
        }
    }
}

impl Drop for ModelDetector {
    fn drop(&mut self) {
        tracing::info!("anomaly model worker stopped: {}", self.stats.summary());
    }
}
