//! The server's own Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Label: API route and status class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// Route name.
    pub route: String,
    /// HTTP status code.
    pub status: u16,
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
    /// API requests by route and status.
    pub requests: Family<RouteLabel, Counter>,
    /// API latency.
    pub latency: Histogram,
}

impl ServerMetrics {
    /// Register everything.
    pub fn new() -> ServerMetrics {
        let mut registry = Registry::with_prefix("peregrine_server");
        let alerts_received = Counter::default();
        let alerts_stored = Counter::default();
        let ingest_errors = Counter::default();
        let requests = Family::<RouteLabel, Counter>::default();
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
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
        registry.register("requests", "API requests", requests.clone());
        registry.register("request_seconds", "API request latency", latency.clone());
        ServerMetrics {
            registry,
            alerts_received,
            alerts_stored,
            ingest_errors,
            requests,
            latency,
        }
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
