//! Disk-buffered delivery shared by the remote sinks (HTTP, syslog over
//! TCP): every alert is appended to a [`DiskQueue`] first; a delivery
//! thread hands batches to a [`Transport`] and acknowledges them only when
//! the destination took them, retrying with exponential backoff and jitter.
//! Nothing is lost while the destination is down or the agent restarts.

use super::buffer::DiskQueue;
use crate::alert::Alert;
use crate::sinks::{Sink, SinkError};
use peregrine_rules::Priority;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How batches reach a destination.
pub trait Transport: Send + 'static {
    /// Alerts per delivery.
    fn max_batch(&self) -> usize;
    /// Deliver alert JSON lines; `Err` (with a reason) means "retry later".
    fn deliver(&mut self, lines: &[String]) -> Result<(), String>;
}

/// Delivery counters shared with the metrics.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Alerts acknowledged by the destination.
    pub delivered: AtomicU64,
    /// Failed attempts.
    pub failures: AtomicU64,
}

struct Shared {
    queue: Mutex<DiskQueue>,
    wake: Condvar,
    stop: AtomicBool,
    stats: DeliveryStats,
}

/// A sink that buffers on disk and delivers through a [`Transport`].
pub struct BufferedSink {
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

fn deliver_loop(name: String, mut t: Box<dyn Transport>, shared: Arc<Shared>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let (lines, end) = {
            let q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
            match q.peek(t.max_batch().max(1)) {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!("{name}: reading buffer: {e}");
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
        match t.deliver(&lines) {
            Ok(()) => {
                let mut q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(e) = q.ack(end) {
                    tracing::error!("{name}: acknowledging in buffer: {e}");
                }
                shared
                    .stats
                    .delivered
                    .fetch_add(lines.len() as u64, Ordering::Relaxed);
                backoff = Duration::from_millis(200);
                continue;
            }
            Err(e) => tracing::warn!("{name}: {e}; retrying in {backoff:?}"),
        }
        shared.stats.failures.fetch_add(1, Ordering::Relaxed);
        if shared.stop.load(Ordering::Relaxed) {
            return; // undelivered alerts stay in the buffer for the next start
        }
        std::thread::sleep(jitter(backoff));
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

impl BufferedSink {
    /// Open the buffer in `dir` and start the delivery thread.
    pub fn start(
        name: String,
        min: Priority,
        dir: &Path,
        max_bytes: u64,
        transport: Box<dyn Transport>,
    ) -> Result<BufferedSink, SinkError> {
        let queue = DiskQueue::open(dir, max_bytes).map_err(|source| SinkError::Io {
            sink: format!("{name} buffer {}", dir.display()),
            source,
        })?;
        let waiting = queue.pending_bytes();
        if waiting > 0 {
            tracing::info!("{name}: {waiting} bytes of alerts buffered from an earlier run");
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(queue),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            stats: DeliveryStats::default(),
        });
        let (s2, n2) = (shared.clone(), name.clone());
        let worker = std::thread::Builder::new()
            .name("pg-deliver".into())
            .spawn(move || deliver_loop(n2, transport, s2))
            .map_err(|source| SinkError::Io {
                sink: name.clone(),
                source,
            })?;
        Ok(BufferedSink {
            name,
            min,
            shared,
            worker: Some(worker),
            pending: 0,
        })
    }

    /// Delivery counters.
    pub fn stats(&self) -> &DeliveryStats {
        &self.shared.stats
    }
}

impl Sink for BufferedSink {
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

impl Drop for BufferedSink {
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
