//! Sensor stage: one thread (`pg-sensor`) that loads the eBPF sensor, polls
//! the ring buffer and sends event batches on. It also feeds cgroups into
//! the kernel scope (CI mode) and publishes the kernel's drop and filter
//! counters once a second. A full channel blocks it, so the kernel ring
//! fills and drops are counted there, never silently in user space.

use crate::metrics::Metrics;
use crate::report::AgentStatus;
use peregrine_event::Event;
use peregrine_sensor::{OpenFilter, Sensor, SensorConfig, SensorError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Batches queued between the sensor and the state stage.
const QUEUE_BATCHES: usize = 256;

/// How the sensor thread ended.
#[derive(Debug)]
pub enum SensorEnd {
    /// Stopped on request (or because the next stage went away), with the
    /// kernel's drop count.
    Stopped(u64),
    /// Reading the ring buffer failed.
    Failed(SensorError),
    /// The thread panicked (the panic's message).
    Panicked(String),
}

/// Why the sensor did not start.
#[derive(Debug, thiserror::Error)]
pub enum SensorStartError {
    /// Loading or attaching failed.
    #[error("starting the sensor: {0}")]
    Load(#[from] SensorError),
    /// The thread died before it could say.
    #[error("the sensor thread died while starting: {0}")]
    Died(String),
    /// An event source given in place of the sensor did not start.
    #[error("{0}")]
    Source(String),
}

/// What the sensor thread needs besides its configuration.
pub struct SensorLinks {
    /// Ends the thread.
    pub stop: Arc<AtomicBool>,
    /// Kernel counters go here.
    pub metrics: Arc<Metrics>,
    /// Kernel drops for heartbeats.
    pub status: Option<Arc<AgentStatus>>,
    /// Cgroup ids to add to the kernel scope while running.
    pub cgroup_feed: Option<Arc<Mutex<Vec<u64>>>>,
    /// A new rule-derived open filter to write into the kernel (after a
    /// rule reload).
    pub open_filter_feed: Option<Arc<Mutex<Option<OpenFilter>>>>,
}

/// The running sensor thread.
pub struct SensorStage {
    pub(crate) handle: JoinHandle<SensorEnd>,
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

impl SensorStage {
    /// Load the sensor on its own thread and wait until it is attached.
    pub fn spawn(
        cfg: SensorConfig,
        links: SensorLinks,
    ) -> Result<(SensorStage, Receiver<Vec<Event>>), SensorStartError> {
        Self::spawn_with(move || Sensor::load(&cfg), links)
    }

    /// Like [`SensorStage::spawn`] with the loading step given (tests).
    pub fn spawn_with(
        load: impl FnOnce() -> Result<Sensor, SensorError> + Send + 'static,
        links: SensorLinks,
    ) -> Result<(SensorStage, Receiver<Vec<Event>>), SensorStartError> {
        let (tx, rx) = sync_channel::<Vec<Event>>(QUEUE_BATCHES);
        let (ready_tx, ready_rx) = sync_channel::<Result<(), SensorError>>(1);
        let handle = std::thread::Builder::new()
            .name("pg-sensor".into())
            .spawn(move || {
                let mut sensor = match load() {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return SensorEnd::Stopped(0);
                    }
                };
                let _ = ready_tx.send(Ok(()));
                run(&mut sensor, &links, &tx)
            })
            .map_err(|e| SensorStartError::Died(format!("cannot spawn: {e}")))?;
        let stage = SensorStage { handle };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok((stage, rx)),
            Ok(Err(e)) => {
                let _ = stage.handle.join();
                Err(SensorStartError::Load(e))
            }
            Err(_) => Err(SensorStartError::Died(match stage.join() {
                SensorEnd::Panicked(m) => m,
                other => format!("{other:?}"),
            })),
        }
    }

    /// True once the thread has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Wait for the thread (after `stop`) and say how it ended.
    pub fn join(self) -> SensorEnd {
        self.handle
            .join()
            .unwrap_or_else(|p| SensorEnd::Panicked(panic_message(p)))
    }
}

fn publish_counters(sensor: &Sensor, links: &SensorLinks) {
    let Ok(c) = sensor.counters() else {
        return;
    };
    if let Some(st) = &links.status {
        let mut d = st.drops.lock().unwrap_or_else(|p| p.into_inner());
        for (cat, v) in &c {
            d.insert(cat.name().to_string(), v.dropped);
        }
    }
    for (cat, v) in c {
        links
            .metrics
            .set_kernel(cat.id() as usize, cat.name(), v.dropped, v.filtered);
    }
}

fn feed_cgroups(sensor: &mut Sensor, feed: &Mutex<Vec<u64>>) {
    let ids: Vec<u64> = std::mem::take(&mut *feed.lock().unwrap_or_else(|p| p.into_inner()));
    for id in ids {
        if let Err(e) = sensor.scope_cgroup(id) {
            tracing::warn!("cannot scope cgroup {id}: {e}");
        }
    }
}

/// Poll until `stop` (or the next stage is gone); then send what is left.
fn run(sensor: &mut Sensor, links: &SensorLinks, tx: &SyncSender<Vec<Event>>) -> SensorEnd {
    let mut last_counters = Instant::now()
        .checked_sub(Duration::from_secs(2))
        .unwrap_or_else(Instant::now);
    while !links.stop.load(Ordering::Relaxed) {
        if let Some(feed) = &links.cgroup_feed {
            feed_cgroups(sensor, feed);
        }
        if let Some(feed) = &links.open_filter_feed {
            let next = feed.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(f) = next {
                if let Err(e) = sensor.set_open_filter(&f) {
                    tracing::error!("cannot update the kernel open filter: {e}");
                }
            }
        }
        if last_counters.elapsed() > Duration::from_secs(1) {
            last_counters = Instant::now();
            publish_counters(sensor, links);
        }
        let mut batch = Vec::with_capacity(256);
        if let Err(e) = sensor.poll(Duration::from_millis(50), |e| batch.push(e)) {
            tracing::error!("sensor: {e}");
            return SensorEnd::Failed(e);
        }
        if !batch.is_empty() {
            // Counted before sending so the consumer never sees it negative.
            links.metrics.queue_depth.inc();
            if tx.send(batch).is_err() {
                break;
            }
        }
    }
    let mut rest = Vec::new();
    let _ = sensor.poll(Duration::ZERO, |e| rest.push(e));
    if !rest.is_empty() {
        links.metrics.queue_depth.inc();
        let _ = tx.send(rest);
    }
    SensorEnd::Stopped(sensor.dropped().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> SensorLinks {
        SensorLinks {
            stop: Arc::new(AtomicBool::new(false)),
            metrics: Metrics::new(),
            status: None,
            cgroup_feed: None,
            open_filter_feed: None,
        }
    }

    #[test]
    fn a_sensor_thread_that_dies_while_starting_says_why() {
        let err = SensorStage::spawn_with(|| panic!("BTF parse exploded"), links())
            .err()
            .expect("start must fail");
        let text = err.to_string();
        assert!(
            text.contains("sensor thread died") && text.contains("BTF parse exploded"),
            "{text}"
        );
        assert!(!text.contains("rule"), "{text}");
    }

    #[test]
    fn a_sensor_that_cannot_load_reports_the_load_error() {
        let err = SensorStage::spawn_with(
            || {
                Sensor::load(&SensorConfig {
                    btf_path: Some("/nonexistent/vmlinux.btf".into()),
                    ..SensorConfig::default()
                })
            },
            links(),
        )
        .err()
        .expect("start must fail");
        assert!(matches!(err, SensorStartError::Load(_)), "{err}");
        assert!(
            err.to_string().starts_with("starting the sensor: "),
            "{err}"
        );
    }
}
