//! HTTP webhook sink: every alert is first appended to a disk queue, then a
//! delivery thread POSTs batches (a JSON array, or one object per request)
//! with retries, exponential backoff and jitter. Nothing is lost while the
//! destination is down or the agent restarts.

use super::buffered::{BufferedSink, Transport};
use super::SinkError;
use crate::alert::Alert;
use peregrine_rules::Priority;
use std::path::PathBuf;
use std::time::Duration;

/// Webhook settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// Destination URL (http or https).
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Directory of the disk buffer.
    pub buffer_dir: PathBuf,
    /// Largest buffer (bytes) before new alerts are refused and counted.
    pub buffer_max_bytes: u64,
    /// Alerts per request.
    pub batch: usize,
    /// Minimum priority.
    pub min_priority: Priority,
    /// Payload format.
    pub format: HttpFormat,
    /// Extra trusted CA certificates (PEM) for https destinations.
    pub ca_file: Option<PathBuf>,
}

/// How alerts are encoded for the destination.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpFormat {
    /// The alert JSON (an array when batched).
    Json,
    /// Slack-compatible `{"text": …}`, one alert per request.
    Slack,
    /// Elasticsearch/OpenSearch `_bulk` NDJSON; the alert id is the document
    /// id, so a retried batch never duplicates documents.
    ElasticBulk {
        /// Index name.
        index: String,
    },
    /// Splunk HTTP Event Collector events.
    SplunkHec,
    /// Grafana Loki push API.
    Loki,
}

/// Encode a batch of alert JSON lines for the destination; returns the body
/// and its content type.
pub fn payload(format: &HttpFormat, lines: &[String]) -> (String, &'static str) {
    let alerts = || {
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Alert>(l).ok())
    };
    match format {
        HttpFormat::Json if lines.len() == 1 => (lines[0].clone(), "application/json"),
        HttpFormat::Json => (format!("[{}]", lines.join(",")), "application/json"),
        HttpFormat::Slack => {
            let texts: Vec<String> = alerts()
                .map(|a| serde_json::json!({ "text": format!("[{}] {}: {}", a.priority, a.rule, a.output) }).to_string())
                .collect();
            (texts.join("\n"), "application/json")
        }
        HttpFormat::ElasticBulk { index } => {
            let mut body = String::new();
            for (a, line) in alerts().zip(lines) {
                body.push_str(
                    &serde_json::json!({ "index": { "_index": index, "_id": a.id } }).to_string(),
                );
                body.push('\n');
                body.push_str(line);
                body.push('\n');
            }
            (body, "application/x-ndjson")
        }
        HttpFormat::SplunkHec => {
            let mut body = String::new();
            for a in alerts() {
                let time = crate::alert::parse_rfc3339(&a.time) as f64 / 1e9;
                let host = a.hostname.clone();
                body.push_str(
                    &serde_json::json!({
                        "time": time, "host": host, "source": "peregrine", "sourcetype": "falco", "event": a
                    })
                    .to_string(),
                );
            }
            (body, "application/json")
        }
        HttpFormat::Loki => {
            let mut streams: std::collections::BTreeMap<(String, String), Vec<[String; 2]>> =
                Default::default();
            for (a, line) in alerts().zip(lines) {
                let ts = crate::alert::parse_rfc3339(&a.time).to_string();
                streams
                    .entry((a.priority.to_string(), a.hostname.clone()))
                    .or_default()
                    .push([ts, line.clone()]);
            }
            let streams: Vec<serde_json::Value> = streams
                .into_iter()
                .map(|((priority, host), values)| {
                    serde_json::json!({
                        "stream": { "job": "peregrine", "priority": priority, "hostname": host },
                        "values": values
                    })
                })
                .collect();
            (
                serde_json::json!({ "streams": streams }).to_string(),
                "application/json",
            )
        }
    }
}

/// Did the destination accept everything? (`_bulk` answers 200 with
/// `"errors": true` when some documents failed.)
fn accepted(format: &HttpFormat, body: &str) -> bool {
    match format {
        HttpFormat::ElasticBulk { .. } => serde_json::from_str::<serde_json::Value>(body)
            .map(|v| v.get("errors").and_then(|e| e.as_bool()) != Some(true))
            .unwrap_or(true),
        _ => true,
    }
}

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

/// TCP reachability of the URL's host and port (2 s).
fn healthcheck(url: &reqwest::Url) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let host = url.host_str().ok_or("no host")?;
    let port = url.port_or_known_default().ok_or("no port")?;
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = String::from("no address");
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{a}: {e}"),
        }
    }
    Err(last)
}

/// The webhook sink: a [`BufferedSink`] delivering over HTTP(S).
pub struct WebhookSink;

impl WebhookSink {
    /// Validate the URL, open the buffer and start delivering.
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
        // Healthcheck: can the destination be reached at all? A failure is a
        // warning, not fatal: alerts are buffered until it comes up.
        if let Err(reason) = healthcheck(&url) {
            tracing::warn!(
                "webhook {} unreachable at start ({reason}); alerts are buffered in {} until it answers",
                cfg.url,
                cfg.buffer_dir.display()
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, rule: &str) -> String {
        format!(
            r#"{{"time":"2026-11-25T13:00:00.000000001Z","rule":"{rule}","priority":"Warning","source":"syscall","hostname":"h1","output":"o","output_fields":{{}},"tags":[],"id":"{id}","count":1,"ancestry":[]}}"#
        )
    }

    #[test]
    fn encodings() {
        let lines = vec![line("a1", "R"), line("a2", "R")];
        let (b, t) = payload(&HttpFormat::Json, &lines);
        assert_eq!(t, "application/json");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&b)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let (b, t) = payload(&HttpFormat::ElasticBulk { index: "pg".into() }, &lines);
        assert_eq!(t, "application/x-ndjson");
        let l: Vec<&str> = b.lines().collect();
        assert_eq!(l.len(), 4);
        assert_eq!(l[0], r#"{"index":{"_id":"a1","_index":"pg"}}"#);
        assert!(l[1].contains("\"id\":\"a1\""));
        let (b, _) = payload(&HttpFormat::SplunkHec, &lines[..1]);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["sourcetype"], "falco");
        assert_eq!(v["event"]["id"], "a1");
        assert!((v["time"].as_f64().unwrap() - 1_795_611_600.0).abs() < 1e-3);
        let (b, _) = payload(&HttpFormat::Loki, &lines);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["streams"][0]["stream"]["priority"], "Warning");
        assert_eq!(v["streams"][0]["values"][0][0], "1795611600000000001");
        assert_eq!(v["streams"][0]["values"].as_array().unwrap().len(), 2);
        let (b, _) = payload(&HttpFormat::Slack, &lines[..1]);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&b).unwrap()["text"],
            "[Warning] R: o"
        );
    }

    #[test]
    fn bulk_errors_are_not_acknowledged() {
        let f = HttpFormat::ElasticBulk { index: "x".into() };
        assert!(!accepted(&f, r#"{"took":1,"errors":true,"items":[]}"#));
        assert!(accepted(&f, r#"{"took":1,"errors":false,"items":[]}"#));
        assert!(accepted(&HttpFormat::Json, "whatever"));
    }
}
