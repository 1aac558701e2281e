//! Alert outputs, one directory per sink.
//!
//! Each sink directory holds `config.rs` (its typed settings, serde with
//! `deny_unknown_fields`, and the resolved config the sink runs with),
//! `sink.rs` (the [`Sink`]) and its tests. The sink's config implements
//! [`SinkKind`] (names, how the shorthand reaches its settings) and
//! [`Component`] (build, healthcheck). The one line per sink in the
//! `sinks!` invocation below registers it: that line declares the
//! module, adds the [`SinkConfig`] variant wrapping its config, and puts its
//! names in the table the two front ends look kinds up in — the string
//! shorthand (`webhook:URL,min=warning`, [`SinkConfig::parse`]) and the typed
//! map of the config file (`{type: webhook, url: …}`, `Deserialize`).
//! Options every sink has (`min`) and those of disk-buffered sinks
//! (`buffer`, `batch`, `buffer_max_mb`) are handled once, in [`shared`].

mod registry;
mod shorthand;
mod typed;

pub mod shared;

pub use registry::{Component, SinkKind};
pub use shared::{buffer, buffered};
pub use shared::{BufferOptions, BufferedSink, DeliveryStats, Shared, Transport};
pub use shorthand::Options;

registry::sinks! {
    /// Standard output: Falco-style text or JSON lines.
    Stdout(stdout::StdoutConfig),
    /// A JSON-lines file with size-based rotation.
    File(file::FileConfig),
    /// HTTP(S) with a disk buffer: generic JSON, Slack, Elasticsearch, Splunk HEC, Loki.
    Webhook(webhook::WebhookConfig),
    /// Syslog (RFC 5424 or CEF) over UDP, a unix socket, or buffered TCP.
    Syslog(syslog::SyslogConfig),
    /// OpenTelemetry: alerts as OTLP log records over HTTP/protobuf or gRPC.
    Otlp(otlp::OtlpConfig),
    /// A program fed every alert on stdin (Falco's `program_output`).
    Program(program::ProgramConfig),
}

pub use file::{FileConfig, FileSink};
pub use stdout::{StdoutConfig, StdoutSink};
pub use syslog::{SyslogConfig, SyslogFormat, SyslogSink, SyslogTarget};
pub use webhook::{http_client, payload, HttpFormat, WebhookConfig, WebhookSink};

use crate::alert::Alert;
use peregrine_rules::Priority;

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
    /// The healthcheck failed: the destination does not answer now.
    #[error("{sink} unreachable ({reason}); {meanwhile}")]
    Unhealthy {
        /// Sink, as named in logs (`webhook https://…`).
        sink: String,
        /// Why.
        reason: String,
        /// What happens to alerts until it answers.
        meanwhile: String,
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

impl Default for SinkConfig {
    /// Falco-style text on stdout, every priority.
    fn default() -> Self {
        SinkConfig::Stdout(StdoutConfig::default())
    }
}

impl SinkConfig {
    /// Parse the shorthand `KIND[:ARG][,key=value…]`: `stdout`,
    /// `stdout:json`, `file:PATH`, `webhook:URL`, `slack:URL`,
    /// `elasticsearch:URL` (the `_bulk` endpoint), `splunk:URL` (HEC
    /// endpoint), `loki:URL` (push endpoint), `syslog:udp://H:P`,
    /// `syslog:tcp://H:P`, `syslog:unix:///dev/log`. Every sink takes
    /// `,min=PRIORITY`; disk-buffered ones (HTTP, syslog over TCP)
    /// `,buffer=DIR,batch=N,buffer_max_mb=N`; the rest is the sink's own
    /// (files `,max_mb=N,keep=N`; HTTP `,header=Name:value,ca=PEM_FILE`,
    /// `,index=NAME` for Elasticsearch, `,token=TOKEN` for Splunk; syslog
    /// `,format=rfc5424|cef,facility=N`). An option the sink does not have
    /// is an error naming the sink and the option.
    pub fn parse(spec: &str) -> Result<SinkConfig, SinkError> {
        shorthand::parse(spec)
    }

    /// Validate and open the sink, then run its healthcheck: a sink that
    /// cannot work (unwritable file, unreadable CA file, unusable buffer
    /// directory) is an error; a destination that does not answer yet is a
    /// warning (remote sinks buffer on disk until it does).
    pub fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        let sink = self.component().build()?;
        match self.component().healthcheck() {
            Ok(()) => {}
            Err(SinkError::Unhealthy {
                sink,
                reason,
                meanwhile,
            }) => tracing::warn!("{sink} unreachable at start ({reason}); {meanwhile}"),
            Err(e) => tracing::warn!("healthcheck: {e}"),
        }
        Ok(sink)
    }

    /// Is the destination usable now? (File writable, socket reachable,
    /// HTTP endpoint answering.) Does not open or build the sink.
    pub fn healthcheck(&self) -> Result<(), SinkError> {
        self.component().healthcheck()
    }

    /// The sink's name, as in logs and metrics.
    pub fn name(&self) -> String {
        self.component().name()
    }
}

#[cfg(test)]
mod tests;
