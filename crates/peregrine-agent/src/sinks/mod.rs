//! Alert outputs. Each sink has its own configuration, a minimum priority,
//! and is validated when built (so a bad destination is a clear error at
//! start, not a silent loss later).

pub mod buffer;
pub mod buffered;
mod file;
mod stdout;
mod syslog;
mod webhook;

pub use buffered::{BufferedSink, DeliveryStats, Transport};
pub use file::FileSink;
pub use stdout::StdoutSink;
pub use syslog::{SyslogFormat, SyslogSink, SyslogTarget};
pub use webhook::{http_client, payload, HttpFormat, WebhookConfig, WebhookSink};

use crate::alert::Alert;
use peregrine_rules::Priority;
use std::path::PathBuf;

/// Hash of a destination, naming its default buffer directory (kept
/// stable across versions: alerts buffered by an earlier run are found).
fn fnv(s: &str) -> u64 {
    let mut h = 0u64;
    for b in s.bytes() {
        h = h.wrapping_mul(1099511628211) ^ b as u64;
    }
    h
}

/// Keeps every alert in memory (CI mode).
pub struct CollectorSink(pub std::sync::Arc<std::sync::Mutex<Vec<Alert>>>);

impl Sink for CollectorSink {
    fn name(&self) -> &str {
        "collector"
    }
    fn min_priority(&self) -> Priority {
        Priority::Debug
    }
    fn send(&mut self, alert: &Alert) -> Result<(), SinkError> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(alert.clone());
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Why a sink failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// I/O on the destination.
    #[error("{sink}: {source}")]
    Io {
        /// Sink name.
        sink: String,
        /// Why.
        source: std::io::Error,
    },
    /// A configuration that cannot work.
    #[error("invalid sink '{spec}': {reason}")]
    Config {
        /// The spec as given.
        spec: String,
        /// Why.
        reason: String,
    },
}

/// An alert destination.
pub trait Sink: Send {
    /// Name for logs and metrics.
    fn name(&self) -> &str;
    /// Alerts less severe than this are not sent.
    fn min_priority(&self) -> Priority;
    /// Deliver one alert.
    fn send(&mut self, alert: &Alert) -> Result<(), SinkError>;
    /// Make delivered alerts durable/visible.
    fn flush(&mut self) -> Result<(), SinkError>;
    /// Bytes waiting in a disk buffer (remote sinks).
    fn buffered_bytes(&self) -> u64 {
        0
    }
    /// Deliveries that failed so far (remote sinks).
    fn failures(&self) -> u64 {
        0
    }
}

/// Configuration of one sink.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkConfig {
    /// Standard output: JSON lines or Falco-style text.
    Stdout {
        /// JSON lines.
        json: bool,
        /// Minimum priority.
        min_priority: Priority,
    },
    /// A JSON-lines file with size-based rotation.
    File {
        /// Path.
        path: PathBuf,
        /// Rotate when the file exceeds this many bytes (0: never).
        max_bytes: u64,
        /// Rotated files kept.
        keep: usize,
        /// Minimum priority.
        min_priority: Priority,
    },
    /// An HTTP(S) webhook with a disk buffer.
    Webhook(WebhookConfig),
    /// Syslog (RFC 5424 or CEF) over UDP, TCP or a unix socket.
    Syslog {
        /// Destination.
        target: SyslogTarget,
        /// Message format.
        format: SyslogFormat,
        /// Facility number (16 = local0).
        facility: u8,
        /// Minimum priority.
        min_priority: Priority,
        /// Disk buffer (TCP only).
        buffer_dir: Option<PathBuf>,
    },
}

impl SinkConfig {
    /// Parse `stdout`, `stdout:json`, `file:PATH`, `webhook:URL`,
    /// `slack:URL`, `elasticsearch:URL` (the `_bulk` endpoint),
    /// `splunk:URL` (HEC endpoint), `loki:URL` (push endpoint), each optionally
    /// followed by `,min=PRIORITY`; files take `,max_mb=N,keep=N`; HTTP sinks
    /// `,buffer=DIR,batch=N,header=Name:value,ca=PEM_FILE`, `,index=NAME`
    /// (Elasticsearch), `,token=TOKEN` (Splunk); `syslog:udp://H:P`,
    /// `syslog:tcp://H:P`, `syslog:unix:///dev/log` take `,format=rfc5424|cef`
    /// and `,facility=N`.
    pub fn parse(spec: &str) -> Result<SinkConfig, SinkError> {
        let bad = |reason: String| SinkError::Config {
            spec: spec.to_string(),
            reason,
        };
        let mut parts = spec.split(',');
        let head = parts.next().unwrap_or("");
        let mut min_priority = Priority::Debug;
        let mut max_bytes = 100 << 20;
        let mut keep = 5;
        let mut buffer_dir: Option<PathBuf> = None;
        let mut headers = Vec::new();
        let mut batch = 100;
        let mut index: Option<String> = None;
        let mut sformat = SyslogFormat::Rfc5424;
        let mut facility = 16u8;
        let mut token: Option<String> = None;
        let mut ca_file: Option<PathBuf> = None;
        for opt in parts {
            let (k, v) = opt
                .split_once('=')
                .ok_or_else(|| bad(format!("option '{opt}' is not key=value")))?;
            match k {
                "min" => {
                    min_priority =
                        Priority::parse(v).ok_or_else(|| bad(format!("unknown priority '{v}'")))?
                }
                "max_mb" => {
                    max_bytes = v
                        .parse::<u64>()
                        .map_err(|_| bad(format!("max_mb '{v}' is not a number")))?
                        << 20
                }
                "keep" => {
                    keep = v
                        .parse()
                        .map_err(|_| bad(format!("keep '{v}' is not a number")))?
                }
                "buffer" => buffer_dir = Some(PathBuf::from(v)),
                "index" => index = Some(v.to_string()),
                "format" => {
                    sformat = match v {
                        "rfc5424" => SyslogFormat::Rfc5424,
                        "cef" => SyslogFormat::Cef,
                        _ => return Err(bad(format!("format '{v}': expected rfc5424 or cef"))),
                    }
                }
                "facility" => {
                    facility = v
                        .parse()
                        .ok()
                        .filter(|f| *f < 24)
                        .ok_or_else(|| bad(format!("facility '{v}' is not 0..23")))?
                }
                "token" => token = Some(v.to_string()),
                "ca" => ca_file = Some(PathBuf::from(v)),
                "batch" => {
                    batch = v
                        .parse()
                        .map_err(|_| bad(format!("batch '{v}' is not a number")))?
                }
                "header" => {
                    let (hk, hv) = v
                        .split_once(':')
                        .ok_or_else(|| bad(format!("header '{v}' is not Name:value")))?;
                    headers.push((hk.trim().to_string(), hv.trim().to_string()));
                }
                other => return Err(bad(format!("unknown option '{other}'"))),
            }
        }
        match head.split_once(':') {
            None if head == "stdout" => Ok(SinkConfig::Stdout {
                json: false,
                min_priority,
            }),
            Some(("stdout", "json")) => Ok(SinkConfig::Stdout {
                json: true,
                min_priority,
            }),
            Some(("file", path)) if !path.is_empty() => Ok(SinkConfig::File {
                path: PathBuf::from(path),
                max_bytes,
                keep,
                min_priority,
            }),
            Some(("syslog", target)) => {
                let t = SyslogTarget::parse(target).ok_or_else(|| {
                    bad(
                        "syslog target must be udp://HOST:PORT, tcp://HOST:PORT or unix://PATH"
                            .into(),
                    )
                })?;
                let buffer_dir = match &t {
                    SyslogTarget::Tcp(a) => Some(buffer_dir.clone().unwrap_or_else(|| {
                        PathBuf::from(format!("/var/lib/peregrine/buffer/syslog-{:016x}", fnv(a)))
                    })),
                    _ => None,
                };
                Ok(SinkConfig::Syslog {
                    target: t,
                    format: sformat,
                    facility,
                    min_priority,
                    buffer_dir,
                })
            }
            Some((kind @ ("webhook" | "slack" | "elasticsearch" | "splunk" | "loki"), url))
                if !url.is_empty() =>
            {
                match reqwest::Url::parse(url) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                    Ok(_) => return Err(bad("the URL must be http:// or https://".into())),
                    Err(e) => return Err(bad(format!("invalid URL: {e}"))),
                }
                let format = match kind {
                    "slack" => HttpFormat::Slack,
                    "elasticsearch" => HttpFormat::ElasticBulk {
                        index: index.clone().unwrap_or_else(|| "peregrine".into()),
                    },
                    "splunk" => {
                        let t = token
                            .clone()
                            .ok_or_else(|| bad("splunk needs token=HEC_TOKEN".into()))?;
                        headers.push(("Authorization".into(), format!("Splunk {t}")));
                        HttpFormat::SplunkHec
                    }
                    "loki" => HttpFormat::Loki,
                    _ => HttpFormat::Json,
                };
                let dir = buffer_dir.unwrap_or_else(|| {
                    PathBuf::from(format!(
                        "/var/lib/peregrine/buffer/webhook-{:016x}",
                        fnv(url)
                    ))
                });
                Ok(SinkConfig::Webhook(WebhookConfig {
                    url: url.to_string(),
                    headers,
                    buffer_dir: dir,
                    buffer_max_bytes: max_bytes.max(1 << 20) * 10,
                    batch,
                    min_priority,
                    format,
                    ca_file,
                }))
            }
            _ => Err(bad(
                "expected stdout, stdout:json, file:PATH, webhook:URL or slack:URL".into(),
            )),
        }
    }

    /// Validate and open the sink.
    pub fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        Ok(match self {
            SinkConfig::Stdout { json, min_priority } => {
                Box::new(StdoutSink::new(*json, *min_priority))
            }
            SinkConfig::File {
                path,
                max_bytes,
                keep,
                min_priority,
            } => Box::new(FileSink::open(
                path.clone(),
                *max_bytes,
                *keep,
                *min_priority,
            )?),
            SinkConfig::Webhook(cfg) => Box::new(WebhookSink::start(cfg.clone())?),
            SinkConfig::Syslog {
                target: SyslogTarget::Tcp(addr),
                format,
                facility,
                min_priority,
                buffer_dir,
            } => Box::new(syslog::tcp_buffered(
                addr,
                *format,
                *facility,
                *min_priority,
                buffer_dir
                    .as_deref()
                    .unwrap_or(std::path::Path::new("/var/lib/peregrine/buffer/syslog")),
            )?),
            SinkConfig::Syslog {
                target,
                format,
                facility,
                min_priority,
                ..
            } => Box::new(SyslogSink::open(target, *format, *facility, *min_priority)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn specs_parse_and_errors_name_the_problem() {
        assert_eq!(
            SinkConfig::parse("stdout").unwrap(),
            SinkConfig::Stdout {
                json: false,
                min_priority: Priority::Debug
            }
        );
        assert!(matches!(
            SinkConfig::parse("file:/tmp/a.json,min=warning,max_mb=1").unwrap(),
            SinkConfig::File {
                max_bytes: 1048576,
                min_priority: Priority::Warning,
                ..
            }
        ));
        for bad in [
            "",
            "ftp://x",
            "file:",
            "stdout,min=loud",
            "stdout,x=1",
            "stdout,min",
        ] {
            let e = SinkConfig::parse(bad).unwrap_err().to_string();
            assert!(e.contains("invalid sink"), "{e}");
        }
    }
}
