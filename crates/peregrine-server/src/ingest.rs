//! The one ingest path: HTTP handlers and the all-in-one agent both call
//! [`Ingest`], which validates, stores and announces new alerts to live
//! dashboard streams.

use crate::metrics::ServerMetrics;
use peregrine_event::Alert;
use peregrine_store::{Heartbeat, RuleInfo, Store, StoreError};
use std::sync::Arc;

/// Largest batch accepted in one request.
pub const MAX_BATCH: usize = 10_000;

/// Shared ingest handle.
#[derive(Clone)]
pub struct Ingest {
    store: Arc<dyn Store>,
    live: tokio::sync::broadcast::Sender<Arc<str>>,
    metrics: Arc<ServerMetrics>,
}

/// Why a batch was refused (nothing of it is stored).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The payload is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

fn check_str(what: &str, i: usize, s: &str, max: usize) -> Result<(), IngestError> {
    if s.len() > max {
        return Err(IngestError::Invalid(format!(
            "alert {i}: {what} longer than {max} bytes"
        )));
    }
    Ok(())
}

/// Validate one alert (bounded sizes, parseable time, non-empty id).
pub fn validate(i: usize, a: &Alert) -> Result<(), IngestError> {
    if a.id.is_empty() || a.id.len() > 128 || a.id.chars().any(|c| c.is_control()) {
        return Err(IngestError::Invalid(format!(
            "alert {i}: id must be 1..=128 printable characters"
        )));
    }
    if a.rule.is_empty() {
        return Err(IngestError::Invalid(format!("alert {i}: empty rule")));
    }
    check_str("rule", i, &a.rule, 1024)?;
    check_str("hostname", i, &a.hostname, 255)?;
    check_str("source", i, &a.source, 64)?;
    check_str("output", i, &a.output, 64 << 10)?;
    if a.output_fields.len() > 256 || a.tags.len() > 64 || a.ancestry.len() > 64 {
        return Err(IngestError::Invalid(format!(
            "alert {i}: too many output fields, tags or ancestors"
        )));
    }
    let t = peregrine_event::time::parse_rfc3339(&a.time);
    if t == 0 || t > i64::MAX as u64 {
        return Err(IngestError::Invalid(format!(
            "alert {i}: time '{}' is not RFC 3339",
            a.time.chars().take(40).collect::<String>()
        )));
    }
    Ok(())
}

impl Ingest {
    pub(crate) fn new(store: Arc<dyn Store>, metrics: Arc<ServerMetrics>) -> Ingest {
        let (live, _) = tokio::sync::broadcast::channel(1024);
        Ingest {
            store,
            live,
            metrics,
        }
    }

    /// Validate and store a batch from `agent`; returns how many were new.
    /// Blocking (call from a blocking thread).
    pub fn alerts(&self, agent: &str, alerts: &[Alert]) -> Result<usize, IngestError> {
        if alerts.len() > MAX_BATCH {
            return Err(IngestError::Invalid(format!(
                "{} alerts in one batch; at most {MAX_BATCH}",
                alerts.len()
            )));
        }
        for (i, a) in alerts.iter().enumerate() {
            validate(i, a)?;
        }
        let new = match self.store.insert_alerts(agent, alerts) {
            Ok(n) => n,
            Err(e) => {
                self.metrics.ingest_errors.inc();
                return Err(e.into());
            }
        };
        self.metrics.alerts_received.inc_by(alerts.len() as u64);
        self.metrics.alerts_stored.inc_by(new as u64);
        if new > 0 && self.live.receiver_count() > 0 {
            for a in alerts {
                let v = serde_json::json!({ "agent": agent, "alert": a });
                let _ = self.live.send(Arc::from(v.to_string()));
            }
        }
        Ok(new)
    }

    /// Record a heartbeat (the agent name is the authenticated one).
    pub fn heartbeat(&self, hb: &Heartbeat) -> Result<(), IngestError> {
        if hb.agent.is_empty() || hb.agent.len() > 128 {
            return Err(IngestError::Invalid(
                "agent name must be 1..=128 bytes".into(),
            ));
        }
        if hb.drops.len() > 64 {
            return Err(IngestError::Invalid("too many drop categories".into()));
        }
        self.store.heartbeat(hb)?;
        Ok(())
    }

    /// Replace an agent's rule set.
    pub fn rules(&self, agent: &str, rules: &[RuleInfo]) -> Result<(), IngestError> {
        if rules.len() > 20_000 {
            return Err(IngestError::Invalid("more than 20000 rules".into()));
        }
        if let Some(r) = rules
            .iter()
            .find(|r| r.name.is_empty() || r.name.len() > 1024)
        {
            return Err(IngestError::Invalid(format!(
                "rule name '{}' must be 1..=1024 bytes",
                r.name.chars().take(40).collect::<String>()
            )));
        }
        self.store.put_ruleset(agent, rules)?;
        Ok(())
    }

    /// New alerts as they are stored (JSON `{agent, alert}`).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        self.live.subscribe()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}
