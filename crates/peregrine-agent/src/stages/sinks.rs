//! Sink stage: one thread (`pg-sinks`) that takes what detection raised,
//! routes it ([`Router`]: threshold, dedup, rate limit), lets the
//! [`Responder`] act on it, and delivers it to every sink whose minimum
//! priority it meets (retrying, then counting the failure). Sinks are
//! flushed after each burst. The thread ends once every sender is gone,
//! after delivering the dedup summaries still open.

use crate::alert::Alert;
use crate::evaluate::Raised;
use crate::metrics::{Metrics, SinkLabel};
use crate::report::AgentStatus;
use crate::sinks::Sink;
use crate::stages::respond::Responder;
use crate::stages::route::{Routed, Router};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Alerts queued for the sink thread before detection waits.
const QUEUE_ALERTS: usize = 4096;

/// Totals of the sink stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkTotals {
    /// Deliveries that failed after retries.
    pub failures: u64,
    /// Alerts that passed their threshold.
    pub alerts: u64,
}

struct Delivery {
    sinks: Vec<Box<dyn Sink>>,
    metrics: Arc<Metrics>,
    failures: u64,
    last_fail: Vec<u64>,
}

impl Delivery {
    fn deliver(&mut self, alert: &Alert) {
        for s in self.sinks.iter_mut() {
            if alert.priority > s.min_priority() {
                continue;
            }
            let label = SinkLabel {
                sink: s.name().to_string(),
            };
            self.metrics.sink_sent.get_or_create(&label).inc();
            if !send_with_retries(s.as_mut(), alert) {
                self.failures += 1;
                self.metrics.sink_failures.get_or_create(&label).inc();
            }
        }
    }

    fn flush(&mut self) {
        for s in self.sinks.iter_mut() {
            if let Err(e) = s.flush() {
                tracing::warn!(sink = s.name(), "flush failed: {e}");
            }
        }
    }

    /// Buffered bytes and failures the sinks counted themselves.
    fn publish(&mut self) {
        for (i, s) in self.sinks.iter().enumerate() {
            let l = SinkLabel {
                sink: s.name().to_string(),
            };
            self.metrics
                .sink_buffered_bytes
                .get_or_create(&l)
                .set(s.buffered_bytes() as i64);
            let f = s.failures();
            if f > self.last_fail[i] {
                self.metrics
                    .sink_failures
                    .get_or_create(&l)
                    .inc_by(f - self.last_fail[i]);
                self.last_fail[i] = f;
            }
        }
    }
}

/// Four tries, 50 ms apart doubling; false when all failed.
fn send_with_retries(s: &mut dyn Sink, alert: &Alert) -> bool {
    let mut delay = Duration::from_millis(50);
    for attempt in 0..4 {
        match s.send(alert) {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!(sink = s.name(), attempt, "delivery failed: {e}");
                std::thread::sleep(delay);
                delay *= 2;
            }
        }
    }
    false
}

struct Loop {
    router: Router,
    responder: Responder,
    delivery: Delivery,
    status: Option<Arc<AgentStatus>>,
}

impl Loop {
    fn handle(&mut self, routed: Routed) {
        self.delivery.deliver(&routed.alert);
    }

    /// Threshold, then the rule's actions (every match acts), then dedup.
    fn admit(&mut self, raised: Raised) {
        let Some((mut alert, planned)) = self.router.gate(raised) else {
            return;
        };
        self.responder.respond(&mut alert, planned.as_deref());
        if let Some(r) = self.router.dedup(alert) {
            self.handle(r);
        }
    }

    /// Deliver dedup summaries that are due; true when there were some.
    fn expire(&mut self, force: bool) -> bool {
        let due = self.router.expire(force);
        let any = !due.is_empty();
        for r in due {
            self.handle(r);
        }
        any
    }

    fn publish_status(&self) {
        if let Some(status) = &self.status {
            status.alerts.store(self.router.alerts, Ordering::Relaxed);
        }
    }

    fn run(mut self, rx: Receiver<Raised>) -> SinkTotals {
        loop {
            let mut wrote = false;
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(a) => {
                    self.admit(a);
                    // Drain what is queued, then flush once.
                    while let Ok(a) = rx.try_recv() {
                        self.admit(a);
                    }
                    wrote = true;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            wrote |= self.expire(false);
            if wrote {
                self.delivery.flush();
            }
            self.publish_status();
            self.delivery.publish();
        }
        self.expire(true);
        self.delivery.flush();
        self.publish_status();
        SinkTotals {
            failures: self.delivery.failures,
            alerts: self.router.alerts,
        }
    }
}

/// The running sink thread.
pub struct SinkStage {
    handle: JoinHandle<SinkTotals>,
}

impl SinkStage {
    /// Start the sink thread; detection sends to the returned sender (the
    /// thread ends when every clone of it is dropped).
    pub fn spawn(
        sinks: Vec<Box<dyn Sink>>,
        router: Router,
        responder: Responder,
        metrics: Arc<Metrics>,
        status: Option<Arc<AgentStatus>>,
    ) -> (SinkStage, SyncSender<Raised>) {
        let (tx, rx) = sync_channel::<Raised>(QUEUE_ALERTS);
        let stage = Loop {
            router,
            responder,
            delivery: Delivery {
                last_fail: vec![0; sinks.len()],
                sinks,
                metrics,
                failures: 0,
            },
            status,
        };
        let handle = std::thread::Builder::new()
            .name("pg-sinks".into())
            .spawn(move || stage.run(rx))
            .expect("spawn sink thread");
        (SinkStage { handle }, tx)
    }

    /// Wait for the thread (after every sender is gone).
    pub fn join(self) -> SinkTotals {
        self.handle.join().unwrap_or_default()
    }
}
