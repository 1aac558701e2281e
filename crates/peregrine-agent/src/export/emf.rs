//! CloudWatch Embedded Metric Format: one JSON document per export, a line
//! each, to stdout or a file the CloudWatch agent tails. Each document
//! holds the samples of one label set (`_aws.CloudWatchMetrics` declares
//! the metric names, the label names are its dimensions, and the values
//! sit at the top level beside `host`). Histogram buckets are left out.

use super::samples::{Kind, Sample};
use super::Exporter;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

/// `metrics_export.emf:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmfSettings {
    /// `-` (stdout) or a file, appended to.
    pub path: PathBuf,
    /// CloudWatch namespace.
    #[serde(default = "namespace")]
    pub namespace: String,
}

fn namespace() -> String {
    "Peregrine".into()
}

/// The EMF documents of `samples` at `now` (milliseconds).
pub fn documents(
    samples: &[Sample],
    ns: &str,
    host: &str,
    now: SystemTime,
) -> Vec<serde_json::Value> {
    let ms = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // One document per label set: CloudWatch dimensions are per document.
    let mut groups: BTreeMap<Vec<(String, String)>, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        if s.kind == Kind::Other || s.name.ends_with("_bucket") || !s.value.is_finite() {
            continue;
        }
        groups.entry(s.labels.clone()).or_default().push(s);
    }
    groups
        .into_iter()
        .map(|(labels, group)| {
            let mut dims: Vec<String> = vec!["host".into()];
            dims.extend(labels.iter().map(|(k, _)| k.clone()));
            let unit = |s: &Sample| match s.kind {
                Kind::Counter => "Count",
                _ if s.name.ends_with("_seconds") || s.name.ends_with("_seconds_sum") => "Seconds",
                _ if s.name.ends_with("_bytes") => "Bytes",
                _ => "None",
            };
            let metrics: Vec<serde_json::Value> = group
                .iter()
                .map(|s| serde_json::json!({"Name": s.name, "Unit": unit(s)}))
                .collect();
            let mut doc = serde_json::json!({
                "_aws": {
                    "Timestamp": ms,
                    "CloudWatchMetrics": [{"Namespace": ns, "Dimensions": [dims], "Metrics": metrics}],
                },
                "host": host,
            });
            let obj = doc.as_object_mut().expect("an object");
            for (k, v) in &labels {
                obj.insert(k.clone(), serde_json::Value::String(v.clone()));
            }
            for s in group {
                obj.insert(s.name.clone(), serde_json::json!(s.value));
            }
            doc
        })
        .collect()
}

/// Writes EMF documents.
pub struct EmfExporter {
    cfg: EmfSettings,
    host: String,
    out: Box<dyn Write + Send>,
}

impl EmfExporter {
    /// Open the destination (a file is created or appended to).
    pub fn open(cfg: EmfSettings, host: &str) -> Result<EmfExporter, String> {
        let out: Box<dyn Write + Send> = if super::is_stdout(&cfg.path) {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&cfg.path)
                    .map_err(|e| format!("metrics_export.emf.path {}: {e}", cfg.path.display()))?,
            )
        };
        Ok(EmfExporter {
            cfg,
            host: host.to_string(),
            out,
        })
    }
}

impl Exporter for EmfExporter {
    fn name(&self) -> String {
        format!("emf:{}", self.cfg.path.display())
    }

    fn export(&mut self, samples: &[Sample], now: SystemTime) -> Result<(), String> {
        let mut text = String::new();
        for d in documents(samples, &self.cfg.namespace, &self.host, now) {
            text.push_str(&d.to_string());
            text.push('\n');
        }
        self.out
            .write_all(text.as_bytes())
            .and_then(|_| self.out.flush())
            .map_err(|e| e.to_string())
    }
}
