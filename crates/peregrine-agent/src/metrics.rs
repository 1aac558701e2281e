//! Prometheus metrics and health, served on `/metrics` and `/healthz`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Label: event kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// Kind name.
    pub kind: String,
}

/// Label: counter category.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CategoryLabel {
    /// Category name.
    pub category: String,
}

/// Labels of an alert.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabel {
    /// Rule name.
    pub rule: String,
    /// Priority.
    pub priority: String,
}

/// Label: outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// ok or error.
    pub result: String,
}

/// Labels: response action and its outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResponseLabel {
    /// `kill`, `kill_tree`, `quarantine`, `block`.
    pub action: String,
    /// `done`, `failed`, `skipped`, `monitor` (would have acted), `missed`
    /// (an enforced block that did not stop the operation).
    pub outcome: String,
}

/// Label: which counter of the fanotify blocker.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BlockLabel {
    /// `requests`, `decisions`, `cache_hits`, `exempt`, `denials`, `timeouts`, `errors`.
    pub counter: String,
}

/// Label: sink.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabel {
    /// Sink name.
    pub sink: String,
}

/// Every metric of the agent.
pub struct Metrics {
    registry: Registry,
    /// Events processed, by kind.
    pub events: Family<KindLabel, Counter>,
    /// Events lost in the kernel (ring full), by category.
    pub kernel_drops: Family<CategoryLabel, Counter>,
    /// Events rejected by kernel filters, by category.
    pub kernel_filtered: Family<CategoryLabel, Counter>,
    /// Batches waiting between the sensor and the rule stage.
    pub queue_depth: Gauge,
    /// Time to evaluate the rules for one event.
    pub rule_eval_seconds: Histogram,
    /// Alerts raised.
    pub alerts: Family<AlertLabel, Counter>,
    /// Alerts suppressed by dedup/throttling.
    pub alerts_suppressed: Family<AlertLabel, Counter>,
    /// Alerts handed to each sink.
    pub sink_sent: Family<SinkLabel, Counter>,
    /// Deliveries that failed (retried or buffered).
    pub sink_failures: Family<SinkLabel, Counter>,
    /// Bytes waiting in each sink's disk buffer.
    pub sink_buffered_bytes: Family<SinkLabel, Gauge>,
    /// Processes in the table.
    pub processes: Gauge,
    /// Processes evicted because the table was full.
    pub process_evictions: Counter,
    /// Containers known.
    pub containers: Gauge,
    /// Containers forgotten because the container bound was reached.
    pub container_evictions: Counter,
    /// Rule reloads by outcome.
    pub rule_reloads: Family<ResultLabel, Counter>,
    /// Sequence rules' partial matches, evictions and completions.
    pub sequences: crate::stages::sequence::SequenceMetrics,
    /// Response actions by action and outcome.
    pub response_actions: Family<ResponseLabel, Counter>,
    /// The fanotify blocker's counters (absolute, published periodically).
    pub block: Family<BlockLabel, Gauge>,
    /// Behaviour profiles' counters (absolute, published every second).
    pub profiles: Family<CategoryLabel, Gauge>,
    healthy: AtomicBool,
    last_kernel: [AtomicU64; 12],
}

impl Metrics {
    /// A fresh set of metrics.
    pub fn new() -> Arc<Metrics> {
        Metrics::with_hooks(&[])
    }

    /// A fresh set of metrics plus those the `hooks` register (detectors
    /// from outside this crate: the anomaly model's scorer table).
    pub fn with_hooks(hooks: &[crate::wiring::MetricsHook]) -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("peregrine");
        let m = Metrics {
            events: Family::default(),
            kernel_drops: Family::default(),
            kernel_filtered: Family::default(),
            queue_depth: Gauge::default(),
            rule_eval_seconds: Histogram::new(exponential_buckets(1e-7, 3.0, 12)),
            alerts: Family::default(),
            alerts_suppressed: Family::default(),
            sink_sent: Family::default(),
            sink_failures: Family::default(),
            sink_buffered_bytes: Family::default(),
            processes: Gauge::default(),
            process_evictions: Counter::default(),
            containers: Gauge::default(),
            container_evictions: Counter::default(),
            rule_reloads: Family::default(),
            sequences: Default::default(),
            response_actions: Family::default(),
            block: Family::default(),
            profiles: Family::default(),
            healthy: AtomicBool::new(true),
            last_kernel: Default::default(),
            registry: Registry::default(),
        };
        registry.register("events", "Events processed by kind", m.events.clone());
        registry.register(
            "kernel_dropped_events",
            "Events lost in the kernel because the ring buffer was full",
            m.kernel_drops.clone(),
        );
        registry.register(
            "kernel_filtered_events",
            "Events rejected by kernel filter maps",
            m.kernel_filtered.clone(),
        );
        registry.register(
            "queue_depth",
            "Event batches waiting for the rule stage",
            m.queue_depth.clone(),
        );
        registry.register(
            "rule_eval_seconds",
            "Rule evaluation time per event",
            m.rule_eval_seconds.clone(),
        );
        registry.register("alerts", "Alerts raised", m.alerts.clone());
        registry.register(
            "alerts_suppressed",
            "Alerts suppressed by dedup or throttling",
            m.alerts_suppressed.clone(),
        );
        registry.register(
            "sink_sent_alerts",
            "Alerts handed to a sink",
            m.sink_sent.clone(),
        );
        registry.register(
            "sink_failures",
            "Failed sink deliveries",
            m.sink_failures.clone(),
        );
        registry.register(
            "sink_buffered_bytes",
            "Bytes waiting in a sink's disk buffer",
            m.sink_buffered_bytes.clone(),
        );
        registry.register(
            "processes",
            "Processes in the process table",
            m.processes.clone(),
        );
        registry.register(
            "process_evictions",
            "Processes evicted from the full table",
            m.process_evictions.clone(),
        );
        registry.register("containers", "Containers known", m.containers.clone());
        registry.register(
            "container_evictions",
            "Containers forgotten because the container bound was reached",
            m.container_evictions.clone(),
        );
        registry.register(
            "rule_reloads",
            "Rule reloads by outcome",
            m.rule_reloads.clone(),
        );
        m.sequences.register(&mut registry);
        registry.register(
            "response_actions",
            "Response actions by action and outcome (monitor: would have acted)",
            m.response_actions.clone(),
        );
        registry.register(
            "block",
            "Exec/open permission requests of the fanotify blocker, by counter",
            m.block.clone(),
        );
        registry.register(
            "profiles",
            "Behaviour profiles: profiles, monitored, items, learned, drifts, dropped_items (profile full), refused_units (too many profiles)",
            m.profiles.clone(),
        );
        for hook in hooks {
            (hook.0)(&mut registry);
        }
        Arc::new(Metrics { registry, ..m })
    }

    /// Record kernel counters (absolute values read from the sensor).
    pub fn set_kernel(&self, cat: usize, name: &str, dropped: u64, filtered: u64) {
        let slot = |i: usize, v: u64| -> u64 {
            let prev = self.last_kernel[i].swap(v, Ordering::Relaxed);
            v.saturating_sub(prev)
        };
        if cat < 6 {
            let l = CategoryLabel {
                category: name.to_string(),
            };
            self.kernel_drops
                .get_or_create(&l)
                .inc_by(slot(cat, dropped));
            self.kernel_filtered
                .get_or_create(&l)
                .inc_by(slot(6 + cat, filtered));
        }
    }

    /// Publish the blocker's counters.
    pub fn set_block(&self, b: &peregrine_respond::block::BlockMetricsSnapshot) {
        for (name, v) in [
            ("requests", b.requests),
            ("decisions", b.decisions),
            ("cache_hits", b.cache_hits),
            ("exempt", b.exempt),
            ("denials", b.denials),
            ("timeouts", b.timeouts),
            ("errors", b.errors),
        ] {
            self.block
                .get_or_create(&BlockLabel {
                    counter: name.into(),
                })
                .set(v as i64);
        }
    }

    /// Mark the pipeline unhealthy (`/healthz` answers 503).
    pub fn set_healthy(&self, ok: bool) {
        self.healthy.store(ok, Ordering::Relaxed);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Serve `/metrics` and `/healthz` on `addr` in a background thread.
/// Returns the bound address (port 0 picks a free port).
pub fn serve(metrics: Arc<Metrics>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new().name("pg-metrics".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_io().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!("metrics server: {e}");
                return;
            }
        };
        rt.block_on(async move {
            let m1 = metrics.clone();
            let m2 = metrics;
            let app = axum::Router::new()
                .route(
                    "/metrics",
                    axum::routing::get(move || {
                        let m = m1.clone();
                        async move {
                            (
                                [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
                                m.encode(),
                            )
                        }
                    }),
                )
                .route(
                    "/healthz",
                    axum::routing::get(move || {
                        let m = m2.clone();
                        async move {
                            if m.healthy.load(Ordering::Relaxed) {
                                (axum::http::StatusCode::OK, "ok\n")
                            } else {
                                (axum::http::StatusCode::SERVICE_UNAVAILABLE, "unhealthy\n")
                            }
                        }
                    }),
                );
            match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => {
                    if let Err(e) = axum::serve(l, app).await {
                        tracing::error!("metrics server: {e}");
                    }
                }
                Err(e) => tracing::error!("metrics server: {e}"),
            }
        });
    })?;
    Ok(bound)
}
