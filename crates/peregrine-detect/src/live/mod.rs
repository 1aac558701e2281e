//! The live path of the anomaly model: the per-thread scorer table and the
//! options of the agent's anomaly detector (`peregrine_agent::stages::anomaly`,
//! which depends on this crate, not the other way round), which scores the
//! sensor's syscall id stream
//! (`EventData::Syscalls` batches, for the workloads selected with
//! `--model-comm` / `--model-cgroup`) with one [`crate::model::Scorer`] per
//! thread, and raises an alert in Falco's shape (`source: anomaly`, rule
//! [`RULE`]) when a thread's score crosses the model's threshold, naming the
//! rarest call sequences of the window as the explanation.

mod threads;

pub use threads::{LiveStats, ThreadTable};

use peregrine_event::Priority;

/// Rule name of the alerts.
pub const RULE: &str = "Anomalous syscall sequence";
/// `source` of the alerts: which analyser raised them.
pub const SOURCE: &str = "anomaly";
/// Default bound on scorers per worker.
pub const DEFAULT_MAX_THREADS: usize = 4096;

/// How the live detector runs.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Scorers kept per worker (least recently fed evicted beyond).
    pub max_threads: usize,
    /// Priority of the alerts.
    pub priority: Priority,
    /// Where the model came from (shown in alerts).
    pub model_name: String,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            max_threads: DEFAULT_MAX_THREADS,
            priority: Priority::Warning,
            model_name: String::new(),
        }
    }
}
