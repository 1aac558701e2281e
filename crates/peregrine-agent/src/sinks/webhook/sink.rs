//! The HTTP sink: every alert is first appended to a disk queue, then a
//! delivery thread POSTs batches (a JSON array, or one object per request)
//! with retries, exponential backoff and jitter. Nothing is lost while the
//! destination is down or the agent restarts.

use super::payload::{accepted, payload};
use super::{HttpFormat, WebhookConfig};
use crate::sinks::{BufferedSink, Component, Sink, SinkError, Transport};
use std::time::Duration;

/// An HTTP client (10 s timeout) trusting the system roots plus the PEM
/// certificates in `ca_file`.
pub fn http_client(ca_file: Option<&std::path::Path>) -> Result<reqwest::blocking::Client, String> {
    let mut b = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10));
    if let Some(f) = ca_file {
        let pem = std::fs::read(f).map_err(|e| format!("CA file {}: {e}", f.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("CA file {}: {e}", f.display()))?;
        if certs.is_empty() {
            return Err(format!("CA file {}: no PEM certificate", f.display()));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// Delivers batches to an HTTP endpoint.
struct HttpTransport {
    cfg: WebhookConfig,
    client: reqwest::blocking::Client,
}

impl Transport for HttpTransport {
    fn max_batch(&self) -> usize {
        if self.cfg.format == HttpFormat::Slack {
            1
        } else {
            self.cfg.batch.max(1)
        }
    }
    fn deliver(&mut self, lines: &[String]) -> Result<(), String> {
        let shaped: Vec<String>;
        let lines = if self.cfg.format == HttpFormat::Json && !self.cfg.shape.is_full() {
            shaped = lines.iter().map(|l| self.cfg.shape.reshape(l)).collect();
            &shaped[..]
        } else {
            lines
        };
        let (body, ctype) = payload(&self.cfg.format, lines);
        let mut req = self
            .client
            .post(&self.cfg.url)
            .header("content-type", ctype);
        for (k, v) in &self.cfg.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.body(body).send().map_err(|e| e.to_string())?;
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        if status.is_success() && accepted(&self.cfg.format, &text) {
            Ok(())
        } else {
            Err(format!("HTTP {status} or documents rejected"))
        }
    }
}

/// The webhook sink: a [`BufferedSink`] delivering over HTTP(S).
pub struct WebhookSink;

impl WebhookSink {
    /// Validate the URL and the CA file, open the buffer and start
    /// delivering (the healthcheck is [`Component::healthcheck`]).
    pub fn start(cfg: WebhookConfig) -> Result<BufferedSink, SinkError> {
        let name = format!("webhook:{}", cfg.url);
        let bad = |reason: String| SinkError::Config {
            spec: name.clone(),
            reason,
        };
        let url = reqwest::Url::parse(&cfg.url).map_err(|e| bad(format!("invalid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the URL must be http:// or https://".into()));
        }
        let client = http_client(cfg.ca_file.as_deref()).map_err(bad)?;
        BufferedSink::start(
            name,
            cfg.min_priority,
            &cfg.buffer_dir,
            cfg.buffer_max_bytes,
            Box::new(HttpTransport {
                cfg: cfg.clone(),
                client,
            }),
        )
    }
}


impl Component for WebhookConfig {
    fn name(&self) -> String {
        format!("webhook:{}", self.url)
    }
    fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(WebhookSink::start(self.clone())?))
    }
    /// The flavour's health endpoint answers 2xx (Elasticsearch
    /// `_cluster/health`, Splunk `services/collector/health/1.0`, Loki
    /// `ready`), or, for a plain webhook or Slack, a TCP connection opens (a
    /// receiver that only takes alerts is not sent anything else).
    fn healthcheck(&self) -> Result<(), SinkError> {
        super::health::check(self).map_err(|reason| SinkError::Unhealthy {
            sink: format!("{} {}", self.format.kind(), self.url),
            reason,
            meanwhile: format!(
                "alerts are buffered in {} until it answers",
                self.buffer_dir.display()
            ),
        })
    }
}
