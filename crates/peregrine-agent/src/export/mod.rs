//! Metrics exporters: the agent's `/metrics` pushed every `interval_s`
//! seconds to an OpenTelemetry collector (OTLP/HTTP protobuf or OTLP/gRPC,
//! [`otlp`]) and/or written as CloudWatch Embedded Metric Format documents
//! to stdout or a file for the CloudWatch agent ([`emf`]). Both read the
//! same samples: the registry's own text exposition, parsed back here
//! ([`samples`]), so every metric `/metrics` shows is exported with its
//! labels, and nothing is counted twice.

pub mod emf;
pub mod otlp;
pub mod samples;

use crate::metrics::Metrics;
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `metrics_export:` in the agent configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsExportSettings {
    /// Seconds between exports.
    pub interval_s: u64,
    /// Push to an OTLP collector.
    pub otlp: Option<otlp::OtlpMetricsSettings>,
    /// Write CloudWatch EMF documents.
    pub emf: Option<emf::EmfSettings>,
}

impl Default for MetricsExportSettings {
    fn default() -> Self {
        MetricsExportSettings {
            interval_s: 60,
            otlp: None,
            emf: None,
        }
    }
}

impl MetricsExportSettings {
    /// Relative paths against the configuration file's directory.
    pub fn resolve(&mut self, base: Option<&std::path::Path>) {
        if let (Some(e), Some(b)) = (&mut self.emf, base) {
            if e.path != std::path::Path::new("-") && e.path.is_relative() {
                e.path = b.join(&e.path);
            }
        }
    }
}

/// A destination of exported samples.
trait Exporter: Send {
    fn name(&self) -> String;
    fn export(
        &mut self,
        samples: &[samples::Sample],
        now: std::time::SystemTime,
    ) -> Result<(), String>;
}

/// The running exporter thread (ends when `stop` is set, after a last export).
pub struct ExportStage {
    handle: std::thread::JoinHandle<()>,
}

impl ExportStage {
    /// Start exporting `metrics` as `settings` say; `None` when nothing is
    /// configured. An error for a destination that cannot be opened.
    pub fn start(
        settings: &MetricsExportSettings,
        metrics: Arc<Metrics>,
        hostname: String,
        stop: Arc<AtomicBool>,
    ) -> Result<Option<ExportStage>, String> {
        let mut exporters: Vec<Box<dyn Exporter>> = Vec::new();
        if let Some(o) = &settings.otlp {
            exporters.push(Box::new(otlp::OtlpExporter::new(o.clone(), &hostname)?));
        }
        if let Some(e) = &settings.emf {
            exporters.push(Box::new(emf::EmfExporter::open(e.clone(), &hostname)?));
        }
        if exporters.is_empty() {
            return Ok(None);
        }
        let every = Duration::from_secs(settings.interval_s.max(1));
        let handle = std::thread::Builder::new()
            .name("pg-metrics-export".into())
            .spawn(move || run(exporters, metrics, every, stop))
            .map_err(|e| format!("cannot start the metrics exporter: {e}"))?;
        Ok(Some(ExportStage { handle }))
    }

    /// Wait for the last export (after `stop` was set).
    pub fn join(self) {
        let _ = self.handle.join();
    }
}

fn run(
    mut exporters: Vec<Box<dyn Exporter>>,
    metrics: Arc<Metrics>,
    every: Duration,
    stop: Arc<AtomicBool>,
) {
    let mut next = Instant::now() + every;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if stopping || Instant::now() >= next {
            let samples = samples::parse(&metrics.encode());
            let now = std::time::SystemTime::now();
            for e in exporters.iter_mut() {
                if let Err(err) = e.export(&samples, now) {
                    tracing::warn!(exporter = e.name(), "metrics export failed: {err}");
                }
            }
            next = Instant::now() + every;
        }
        if stopping {
            return;
        }
        std::thread::sleep(Duration::from_millis(200).min(every));
    }
}

/// Where EMF documents go: `-` is stdout.
pub fn is_stdout(p: &std::path::Path) -> bool {
    p == std::path::Path::new("-")
}
