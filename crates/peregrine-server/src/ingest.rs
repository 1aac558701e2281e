//! The one ingest path: HTTP handlers and the all-in-one agent both call
//! [`Ingest`], which validates, stores and announces new alerts to live
//! dashboard streams.

use crate::metrics::ServerMetrics;
use peregrine_event::Alert;
use peregrine_store::{Heartbeat, Inserted, Outcome, RuleInfo, Store, StoreError};
use std::sync::Arc;

/// Largest batch accepted in one request.
pub const MAX_BATCH: usize = 10_000;

/// Shared ingest handle.
#[derive(Clone)]
pub struct Ingest {
    store: Arc<dyn Store>,
    live: tokio::sync::broadcast::Sender<Arc<str>>,
    metrics: Arc<ServerMetrics>,
    redact: Arc<crate::redact::Redactor>,
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

impl Ingest {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        metrics: Arc<ServerMetrics>,
        redact: crate::redact::Redactor,
    ) -> Ingest {
        let (live, _) = tokio::sync::broadcast::channel(1024);
        Ingest {
            store,
            live,
            metrics,
            redact: Arc::new(redact),
        }
    }

    /// Validate and store a batch from `agent` (the authenticated agent:
    /// alert ids are unique per agent); returns what happened to each
    /// alert. Ids this agent already used for other content are conflicts:
    /// counted, logged and reported, not stored. Blocking (call from a
    /// blocking thread).
    pub fn alerts(&self, agent: &str, alerts: &[Alert]) -> Result<Inserted, IngestError> {
        if alerts.len() > MAX_BATCH {
            return Err(IngestError::Invalid(format!(
                "{} alerts in one batch; at most {MAX_BATCH}",
                alerts.len()
            )));
        }
        // Identity fields checked, oversized content truncated with a marker.
        let checked = crate::fields::check_batch(alerts)?;
        // Secrets out before anything is stored or shown.
        // Each alert is scanned once; the batch is copied only when one
        // of them had a secret.
        let scanned: Vec<Option<Alert>> = checked.iter().map(|a| self.redact.alert(a)).collect();
        let redacted: Vec<Alert>;
        let alerts: &[Alert] = if scanned.iter().any(Option::is_some) {
            redacted = scanned
                .into_iter()
                .zip(checked.iter())
                .map(|(r, a)| r.unwrap_or_else(|| a.clone()))
                .collect();
            &redacted
        } else {
            &checked
        };
        let done = match self.store.insert_alerts(agent, alerts) {
            Ok(d) => d,
            Err(e) => {
                self.metrics.ingest_errors.inc();
                return Err(e.into());
            }
        };
        self.metrics.alerts_received.inc_by(alerts.len() as u64);
        self.metrics.alerts_stored.inc_by(done.stored() as u64);
        if done.conflicts() > 0 {
            self.metrics
                .alerts_conflicting
                .inc_by(done.conflicts() as u64);
            let ids: Vec<&str> = done
                .positions(Outcome::Conflict)
                .take(5)
                .map(|i| alerts[i].id.as_str())
                .collect();
            tracing::warn!(
                agent,
                conflicts = done.conflicts(),
                ?ids,
                "alert ids this agent already used for other content: not stored"
            );
        }
        if self.live.receiver_count() > 0 {
            for i in done.positions(Outcome::New) {
                let v = serde_json::json!({ "agent": agent, "alert": &alerts[i] });
                let _ = self.live.send(Arc::from(v.to_string()));
            }
        }
        Ok(done)
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
        crate::fields::check_heartbeat(hb)?;
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
            .find(|r| r.name.is_empty() || r.name.chars().count() > 1024)
        {
            return Err(IngestError::Invalid(format!(
                "rule name '{}' must be 1..=1024 characters",
                r.name.chars().take(40).collect::<String>()
            )));
        }
        crate::fields::check_rules(rules)?;
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
