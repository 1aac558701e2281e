//! HTTP webhook sink: every alert is first appended to a disk queue, then a
//! delivery thread POSTs batches (a JSON array, or one object per request)
//! with retries, exponential backoff and jitter. Nothing is lost while the
//! destination is down or the agent restarts.

use super::buffer::DiskQueue;
use super::{Sink, SinkError};
use crate::alert::Alert;
use peregrine_rules::Priority;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
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
    /// Slack-compatible payload (`{"text": …}`) instead of the alert JSON.
    pub slack: bool,
}

/// Delivery counters shared with the metrics.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Alerts acknowledged by the destination.
    pub delivered: AtomicU64,
    /// Failed attempts.
    pub failures: AtomicU64,
}

struct Shared {
    queue: Mutex<DiskQueue>,
    wake: Condvar,
    stop: AtomicBool,
    stats: WebhookStats,
}

/// The sink half (appends to the queue).
pub struct WebhookSink {
    name: String,
    min: Priority,
    shared: Arc<Shared>,
    worker: Option<std::thread::JoinHandle<()>>,
    pending: usize,
}

fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0) as u64;
    d + Duration::from_millis(nanos % (d.as_millis() as u64 / 2 + 1))
}

fn payload(cfg: &WebhookConfig, lines: &[String]) -> String {
    if cfg.slack {
        let texts: Vec<String> = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Alert>(l).ok())
            .map(|a| {
                serde_json::json!({ "text": format!("[{}] {}: {}", a.priority, a.rule, a.output) })
                    .to_string()
            })
            .collect();
        return texts.join("\n");
    }
    if lines.len() == 1 {
        lines[0].clone()
    } else {
        format!("[{}]", lines.join(","))
    }
}

fn deliver_loop(cfg: WebhookConfig, shared: Arc<Shared>) {
    let client = match reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("webhook {}: cannot build an HTTP client: {e}", cfg.url);
            return;
        }
    };
    let mut backoff = Duration::from_millis(200);
    loop {
        let (lines, end) = {
            let q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
            let batch = if cfg.slack { 1 } else { cfg.batch.max(1) };
            match q.peek(batch) {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!("webhook {}: reading buffer: {e}", cfg.url);
                    (Vec::new(), 0)
                }
            }
        };
        if lines.is_empty() {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            let q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
            let _ = shared.wake.wait_timeout(q, Duration::from_millis(500));
            continue;
        }
        let mut req = client
            .post(&cfg.url)
            .header("content-type", "application/json");
        for (k, v) in &cfg.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.body(payload(&cfg, &lines)).send() {
            Ok(resp) if resp.status().is_success() => {
                let mut q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(e) = q.ack(end) {
                    tracing::error!("webhook {}: acknowledging in buffer: {e}", cfg.url);
                }
                shared
                    .stats
                    .delivered
                    .fetch_add(lines.len() as u64, Ordering::Relaxed);
                backoff = Duration::from_millis(200);
                continue;
            }
            Ok(resp) => tracing::warn!(
                "webhook {}: HTTP {}; retrying in {backoff:?}",
                cfg.url,
                resp.status()
            ),
            Err(e) => tracing::warn!("webhook {}: {e}; retrying in {backoff:?}", cfg.url),
        }
        shared.stats.failures.fetch_add(1, Ordering::Relaxed);
        if shared.stop.load(Ordering::Relaxed) {
            return; // undelivered alerts stay in the buffer for the next start
        }
        std::thread::sleep(jitter(backoff));
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

impl WebhookSink {
    /// Validate the URL, open the buffer and start delivering.
    pub fn start(cfg: WebhookConfig) -> Result<WebhookSink, SinkError> {
        let name = format!("webhook:{}", cfg.url);
        let bad = |reason: String| SinkError::Config {
            spec: name.clone(),
            reason,
        };
        let url = reqwest::Url::parse(&cfg.url).map_err(|e| bad(format!("invalid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the URL must be http:// or https://".into()));
        }
        let queue = DiskQueue::open(&cfg.buffer_dir, cfg.buffer_max_bytes).map_err(|source| {
            SinkError::Io {
                sink: format!("{name} buffer {}", cfg.buffer_dir.display()),
                source,
            }
        })?;
        let waiting = queue.pending_bytes();
        if waiting > 0 {
            tracing::info!(
                "webhook {}: {waiting} bytes of alerts buffered from an earlier run",
                cfg.url
            );
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(queue),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            stats: WebhookStats::default(),
        });
        let s2 = shared.clone();
        let min = cfg.min_priority;
        let worker = std::thread::Builder::new()
            .name("pg-webhook".into())
            .spawn(move || deliver_loop(cfg, s2))
            .map_err(|source| SinkError::Io {
                sink: name.clone(),
                source,
            })?;
        Ok(WebhookSink {
            name,
            min,
            shared,
            worker: Some(worker),
            pending: 0,
        })
    }

    /// Delivery counters.
    pub fn stats(&self) -> &WebhookStats {
        &self.shared.stats
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn min_priority(&self) -> Priority {
        self.min
    }
    fn send(&mut self, alert: &Alert) -> Result<(), SinkError> {
        let line = serde_json::to_vec(alert).map_err(|e| SinkError::Io {
            sink: self.name.clone(),
            source: e.into(),
        })?;
        let mut q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        if !q.push(&line).map_err(|source| SinkError::Io {
            sink: self.name.clone(),
            source,
        })? {
            tracing::error!("{}: buffer full, alert {} dropped", self.name, alert.id);
        }
        self.pending += 1;
        Ok(())
    }
    fn buffered_bytes(&self) -> u64 {
        self.shared
            .queue
            .lock()
            .map(|q| q.pending_bytes())
            .unwrap_or(0)
    }
    fn failures(&self) -> u64 {
        self.shared.stats.failures.load(Ordering::Relaxed)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        if self.pending > 0 {
            self.shared
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .sync()
                .map_err(|source| SinkError::Io {
                    sink: self.name.clone(),
                    source,
                })?;
            self.pending = 0;
            self.shared.wake.notify_all();
        }
        Ok(())
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        let _ = self.flush();
        // Give the destination a moment to take what is queued, then stop;
        // the rest stays on disk for the next run.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            let pending = self
                .shared
                .queue
                .lock()
                .map(|q| q.pending_bytes())
                .unwrap_or(0);
            if pending == 0 || self.shared.stats.failures.load(Ordering::Relaxed) > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_all();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
