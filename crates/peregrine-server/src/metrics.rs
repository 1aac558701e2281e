//! The server's own Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Instant;

/// Label: API route and status class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// Route name.
    pub route: String,
    /// HTTP status code.
    pub status: u16,
}

/// Label: why connections were closed or refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// `per_peer_cap_evicted`, `global_cap_refused`, `header_timeout`, …
    pub reason: String,
}

/// Server metrics.
pub struct ServerMetrics {
    registry: Registry,
    /// Alerts received from agents.
    pub alerts_received: Counter,
    /// Alerts newly stored (retries of stored ids are not counted).
    pub alerts_stored: Counter,
    /// Ingest batches the store failed on.
    pub ingest_errors: Counter,
    /// Alerts refused because their agent already stored their id with
    /// other content.
    pub alerts_conflicting: Counter,
    /// API requests by route and status.
    pub requests: Family<RouteLabel, Counter>,
    /// API latency.
    pub latency: Histogram,
    /// Connections open now.
    pub connections: Gauge,
    /// Connections the server closed or refused, by reason.
    pub connections_closed: Family<ReasonLabel, Counter>,
    /// Mean time to detect over the last 24 h, by priority.
    pub mttd: Family<PriorityLabel, Gauge<f64, AtomicU64>>,
    /// Mean time to remediate over the last 24 h, by priority.
    pub mttr: Family<PriorityLabel, Gauge<f64, AtomicU64>>,
    times_at: Mutex<Option<Instant>>,
}

/// Label: alert priority.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PriorityLabel {
    /// `Critical`, `Warning`, … or `all`.
    pub priority: String,
}

impl ServerMetrics {
    /// Register everything.
    pub fn new() -> ServerMetrics {
        let mut registry = Registry::with_prefix("peregrine_server");
        let alerts_received = Counter::default();
        let alerts_stored = Counter::default();
        let ingest_errors = Counter::default();
        let alerts_conflicting = Counter::default();
        let requests = Family::<RouteLabel, Counter>::default();
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let connections = Gauge::default();
        let connections_closed = Family::<ReasonLabel, Counter>::default();
        registry.register("connections", "Connections open", connections.clone());
        registry.register(
            "connections_closed",
            "Connections closed or refused by the server (caps, timeouts)",
            connections_closed.clone(),
        );
        registry.register(
            "alerts_received",
            "Alerts received from agents",
            alerts_received.clone(),
        );
        registry.register(
            "alerts_stored",
            "Alerts newly stored",
            alerts_stored.clone(),
        );
        registry.register(
            "ingest_errors",
            "Ingest batches the store failed on",
            ingest_errors.clone(),
        );
        registry.register(
            "alerts_conflicting",
            "Alerts refused: their agent already stored the id with other content",
            alerts_conflicting.clone(),
        );
        let mttd = Family::<PriorityLabel, Gauge<f64, AtomicU64>>::default();
        let mttr = Family::<PriorityLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "mttd_seconds",
            "Mean time to detect (event to alert stored) over the last 24 h",
            mttd.clone(),
        );
        registry.register(
            "mttr_seconds",
            "Mean time to remediate (alert stored to resolved) over the last 24 h",
            mttr.clone(),
        );
        registry.register("requests", "API requests", requests.clone());
        registry.register("request_seconds", "API request latency", latency.clone());
        ServerMetrics {
            registry,
            alerts_received,
            alerts_stored,
            ingest_errors,
            alerts_conflicting,
            requests,
            latency,
            connections,
            connections_closed,
            mttd,
            mttr,
            times_at: Mutex::new(None),
        }
    }

    /// Whether the response-time gauges are older than 30 s (and if so,
    /// the caller refreshes them now).
    pub fn times_due(&self) -> bool {
        let mut at = self.times_at.lock().unwrap_or_else(|p| p.into_inner());
        let due = at.is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(30));
        if due {
            *at = Some(Instant::now());
        }
        due
    }

    /// Publish MTTD/MTTR overall (`all`) and per priority.
    pub fn set_times(&self, t: &peregrine_store::ResponseTimes) {
        for line in std::iter::once(&t.overall).chain(&t.by_priority) {
            let label = PriorityLabel {
                priority: if line.name.is_empty() {
                    "all".into()
                } else {
                    line.name.clone()
                },
            };
            if let Some(ms) = line.mttd_ms {
                self.mttd.get_or_create(&label).set(ms as f64 / 1000.0);
            }
            if let Some(s) = line.mttr_secs {
                self.mttr.get_or_create(&label).set(s as f64);
            }
        }
    }

    /// Count a connection closed or refused for `reason`.
    pub fn closed(&self, reason: &str) {
        self.connections_closed
            .get_or_create(&ReasonLabel {
                reason: reason.into(),
            })
            .inc();
    }

    /// Text exposition.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

impl Default for ServerMetrics {
    fn default() -> Self {
        Self::new()
    }
}
