//! Peregrine's alert store: alerts, agents, rule sets, API tokens and the
//! events around each alert, behind one [`Store`] interface with two
//! backends: embedded SQLite (the default, WAL mode) and PostgreSQL (for
//! fleets). Both apply the same numbered schema migrations at open and the
//! same retention policy.
#![deny(missing_docs)]

mod model;
mod postgres;
mod query;
mod sqlite;

pub use model::*;
pub use postgres::{redact as redact_url, PgStore};
pub use query::AlertQuery;
pub use sqlite::SqliteStore;

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
}

/// Result of store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Everything the server keeps. Implementations are safe to share between
/// threads; calls block (run them off async executors).
pub trait Store: Send + Sync {
    /// Backend name (`sqlite` or `postgres`).
    fn backend(&self) -> &'static str;
    /// Store alerts from `agent`. Idempotent by alert id: an id already
    /// stored is ignored (agents retry after failures). Returns how many
    /// were new.
    fn insert_alerts(&self, agent: &str, alerts: &[Alert]) -> Result<usize>;
    /// Alerts matching `q`, newest first, one page.
    fn query_alerts(&self, q: &AlertQuery) -> Result<AlertPage>;
    /// One alert.
    fn get_alert(&self, id: &str) -> Result<Option<StoredAlert>>;
    /// The events stored around an alert (its process chain and the
    /// triggering event), oldest ancestor first.
    fn alert_events(&self, id: &str) -> Result<Vec<ContextEvent>>;
    /// Acknowledge, resolve or reopen an alert. False if no such alert.
    fn set_status(&self, id: &str, status: Status, by: &str) -> Result<bool>;
    /// Counts for charts: a time histogram by priority (buckets of
    /// `bucket_secs`) and top rules, hosts, containers and images.
    fn aggregate(&self, q: &AlertQuery, bucket_secs: i64) -> Result<Aggregation>;
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
