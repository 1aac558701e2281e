//! Peregrine's alert store: alerts, agents, rule sets, API tokens and the
//! events around each alert, behind one [`Store`] interface with two
//! backends: embedded SQLite (the default, WAL mode) and PostgreSQL (for
//! fleets). The schema (`schema.rs`) and the queries (`ops.rs`) are written
//! once; what differs between the two is isolated in `dialect.rs`. An alert
//! is one agent's: ids are unique per agent, and a re-sent id is a no-op
//! when the content is the same and a reported conflict when it is not.
#![deny(missing_docs)]

mod dialect;
mod exec;
mod incidents;
mod model;
mod ops;
mod postgres;
mod query;
mod schema;
mod sqlite;
mod times;

pub use incidents::{
    tree_pid, HistoryEntry, Incident, IncidentChange, IncidentDetail, IncidentQuery,
    IncidentStatus, DEFAULT_WINDOW_SECS, SYSTEM_ACTOR,
};
pub use model::*;
pub use postgres::{redact as redact_url, PgStore};
pub use query::AlertQuery;
pub use sqlite::SqliteStore;
pub use times::{ResponseTimes, Timing};

use peregrine_event::Alert;
use std::path::Path;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL said no.
    #[error("postgres: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// A stored document did not decode (corruption or a newer schema).
    #[error("stored document for {what} does not decode: {reason}")]
    Corrupt {
        /// Which record.
        what: String,
        /// Why.
        reason: String,
    },
    /// The store location could not be used.
    #[error("{0}")]
    Open(String),
    /// A query parameter is out of range.
    #[error("invalid query: {0}")]
    Query(String),
    /// An alert id several agents use, looked up without naming the agent.
    #[error("alert id '{id}' is used by agents {}: name the agent", agents.join(", "))]
    Ambiguous {
        /// The id.
        id: String,
        /// Agents that have an alert with it (the first few).
        agents: Vec<String>,
    },
}

/// Result of store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Everything the server keeps. Implementations are safe to share between
/// threads; calls block (run them off async executors).
pub trait Store: Send + Sync {
    /// Backend name (`sqlite` or `postgres`).
    fn backend(&self) -> &'static str;
    /// Store alerts from `agent`. Alerts are keyed by (agent, id): the
    /// same id from another agent is another alert. Idempotent: an id this
    /// agent already stored with the same content is ignored (agents retry
    /// after failures); with different content it is a conflict, reported
    /// and not stored. Returns what happened to each alert.
    fn insert_alerts(&self, agent: &str, alerts: &[Alert]) -> Result<Inserted>;
    /// Alerts matching `q`, newest first, one page.
    fn query_alerts(&self, q: &AlertQuery) -> Result<AlertPage>;
    /// One alert: `id` of `agent`, or without an agent the one alert with
    /// that id ([`StoreError::Ambiguous`] when several agents have it).
    fn get_alert(&self, agent: Option<&str>, id: &str) -> Result<Option<StoredAlert>>;
    /// The events stored around an alert (its process chain and the
    /// triggering event), oldest ancestor first. `agent` as for
    /// [`Store::get_alert`].
    fn alert_events(&self, agent: Option<&str>, id: &str) -> Result<Vec<ContextEvent>>;
    /// Acknowledge, resolve or reopen an alert (`agent` as for
    /// [`Store::get_alert`]). False if no such alert.
    fn set_status(&self, agent: Option<&str>, id: &str, status: Status, by: &str) -> Result<bool>;
    /// Counts for charts: a time histogram by priority (buckets of
    /// `bucket_secs`) and top rules, hosts, containers and images.
    fn aggregate(&self, q: &AlertQuery, bucket_secs: i64) -> Result<Aggregation>;
    /// MTTD and MTTR of the alerts `q` selects (its cursor and limit are
    /// ignored), overall and per rule, priority and `team:` tag.
    fn response_times(&self, q: &AlertQuery) -> Result<ResponseTimes>;
    /// Record an agent heartbeat (creates the agent on first contact).
    fn heartbeat(&self, hb: &Heartbeat) -> Result<()>;
    /// Known agents, most recently seen first.
    fn agents(&self) -> Result<Vec<AgentRecord>>;
    /// Replace the rule set an agent runs.
    fn put_ruleset(&self, agent: &str, rules: &[RuleInfo]) -> Result<()>;
    /// Every rule any agent runs, with alert counts.
    fn rules(&self) -> Result<Vec<RuleSummary>>;
    /// Add an API token (only its SHA-256 is stored).
    fn add_token(&self, name: &str, role: Role, sha256_hex: &str) -> Result<()>;
    /// The token with this SHA-256, if not revoked.
    fn token(&self, sha256_hex: &str) -> Result<Option<TokenRecord>>;
    /// Every token (without secrets).
    fn tokens(&self) -> Result<Vec<TokenRecord>>;
    /// Revoke tokens by name; returns how many.
    fn revoke_token(&self, name: &str) -> Result<usize>;
    /// Apply the retention policy; returns alerts deleted.
    fn retain(&self, policy: &Retention, now_ns: i64) -> Result<u64>;
    /// Alerts stored.
    fn count(&self) -> Result<u64>;
    /// Set the incident grouping window (seconds; see [`Incident`]).
    fn set_incident_window(&self, secs: i64);
    /// Incidents matching `q`, newest first.
    fn incidents(&self, q: &IncidentQuery) -> Result<Vec<Incident>>;
    /// One incident with its alerts and history.
    fn incident(&self, id: i64) -> Result<Option<IncidentDetail>>;
    /// Apply `change` to all of `ids` in one transaction, recording each
    /// change in the history as `by`. All or nothing: returns the ids that
    /// do not exist (then nothing changed).
    fn update_incidents(&self, ids: &[i64], change: &IncidentChange, by: &str) -> Result<Vec<i64>>;
}

/// Open a store from a location: `postgres://…` / `postgresql://…`, or a
/// SQLite database path (`sqlite://PATH` or a plain path; a directory gets
/// `peregrine.db` inside).
pub fn open(location: &str) -> Result<Box<dyn Store>> {
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        return Ok(Box::new(PgStore::connect(location)?));
    }
    let path = location.strip_prefix("sqlite://").unwrap_or(location);
    let p = Path::new(path);
    let file = if p.is_dir() {
        p.join("peregrine.db")
    } else {
        p.to_path_buf()
    };
    Ok(Box::new(SqliteStore::open(&file)?))
}

/// The current time in Unix nanoseconds.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
