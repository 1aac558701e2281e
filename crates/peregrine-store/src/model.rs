//! Records the store keeps and returns.

use peregrine_event::Alert;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use peregrine_event::wire::{Heartbeat, RuleInfo};

/// Triage state of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nobody looked yet.
    #[default]
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Done.
    Resolved,
}

impl Status {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }
    /// Parse the stored spelling.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "open" => Some(Status::Open),
            "acknowledged" | "ack" => Some(Status::Acknowledged),
            "resolved" => Some(Status::Resolved),
            _ => None,
        }
    }
}

/// An alert as stored: the agent's alert plus triage state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredAlert {
    /// The alert as the agent sent it.
    #[serde(flatten)]
    pub alert: Alert,
    /// Agent that sent it.
    pub agent: String,
    /// Triage state.
    pub status: Status,
    /// Who changed the state last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_by: Option<String>,
    /// Unix nanoseconds the server received it.
    pub received_ns: i64,
    /// Unix nanoseconds of the alert.
    pub time_ns: i64,
}

/// What storing one alert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Stored.
    New,
    /// This agent already stored this id with the same content (a retry).
    Duplicate,
    /// This agent already stored this id with different content: not
    /// stored, reported.
    Conflict,
}

/// What storing a batch did, one [`Outcome`] per alert in batch order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Per alert, in order.
    pub outcomes: Vec<Outcome>,
}

impl Inserted {
    fn count(&self, o: Outcome) -> usize {
        self.outcomes.iter().filter(|x| **x == o).count()
    }
    /// Alerts newly stored.
    pub fn stored(&self) -> usize {
        self.count(Outcome::New)
    }
    /// Re-sent alerts (ignored).
    pub fn duplicates(&self) -> usize {
        self.count(Outcome::Duplicate)
    }
    /// Alerts whose id this agent already used for other content.
    pub fn conflicts(&self) -> usize {
        self.count(Outcome::Conflict)
    }
    /// Indexes (into the batch) of the alerts with outcome `o`.
    pub fn positions(&self, o: Outcome) -> impl Iterator<Item = usize> + '_ {
        self.outcomes
            .iter()
            .enumerate()
            .filter(move |(_, x)| **x == o)
            .map(|(i, _)| i)
    }
}

/// One page of alerts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertPage {
    /// The alerts, newest first.
    pub alerts: Vec<StoredAlert>,
    /// Matching alerts, counted up to [`AlertPage::COUNT_CAP`].
    pub total: u64,
    /// True when `total` was capped.
    pub total_capped: bool,
    /// Cursor for the next (older) page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl AlertPage {
    /// Counting stops here (counting millions of rows would make every
    /// page slow).
    pub const COUNT_CAP: u64 = 10_000;
}

/// One event of an alert's context.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContextEvent {
    /// Position, oldest ancestor first.
    pub seq: i64,
    /// `process` (an ancestor or the process itself) or the event type.
    pub kind: String,
    /// Pid.
    pub pid: i64,
    /// Process name.
    pub name: String,
    /// Executable path.
    pub exepath: String,
    /// Command line.
    pub cmdline: String,
    /// Further fields (the triggering event's output fields).
    #[serde(default)]
    pub detail: BTreeMap<String, String>,
}

/// One histogram bucket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bucket {
    /// Start, Unix seconds.
    pub start: i64,
    /// Alerts per priority, index = [`peregrine_event::Priority::index`].
    pub counts: [u64; 8],
}

/// A name and how many alerts carry it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Top {
    /// Name (rule, host, container, image).
    pub name: String,
    /// Alerts.
    pub count: u64,
}

/// The ten largest counts, ties by name (both backends rank the same way).
pub(crate) fn top10(mut v: Vec<Top>) -> Vec<Top> {
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    v.truncate(10);
    v
}

/// Counts for the overview charts.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Aggregation {
    /// Alerts matching.
    pub total: u64,
    /// Per priority, index = [`peregrine_event::Priority::index`].
    pub by_priority: [u64; 8],
    /// Per triage state.
    pub by_status: BTreeMap<String, u64>,
    /// Time histogram, oldest first.
    pub buckets: Vec<Bucket>,
    /// Bucket width in seconds.
    pub bucket_secs: i64,
    /// Most frequent rules.
    pub top_rules: Vec<Top>,
    /// Most alerting hosts.
    pub top_hosts: Vec<Top>,
    /// Most alerting containers (by name).
    pub top_containers: Vec<Top>,
    /// Most alerting images.
    pub top_images: Vec<Top>,
}

/// An agent as the server knows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentRecord {
    /// Last heartbeat.
    #[serde(flatten)]
    pub heartbeat: Heartbeat,
    /// First contact, Unix seconds.
    pub first_seen: i64,
    /// Last contact, Unix seconds.
    pub last_seen: i64,
}

/// A rule across the fleet.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RuleSummary {
    /// The rule (as the most recent agent reported it).
    #[serde(flatten)]
    pub rule: RuleInfo,
    /// Agents running it.
    pub agents: u64,
    /// Alerts stored for it.
    pub alerts: u64,
    /// Newest alert, Unix nanoseconds (0: none).
    pub last_alert_ns: i64,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Ship alerts and heartbeats only.
    Agent,
    /// Read alerts, agents, rules, incidents.
    Viewer,
    /// Read, and triage alerts and incidents (status, assignee, comments).
    Responder,
    /// Read and triage (acknowledge/resolve), manage tokens.
    Admin,
}

impl Role {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }
    /// Parse the stored spelling.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "agent" => Some(Role::Agent),
            "viewer" => Some(Role::Viewer),
            "responder" => Some(Role::Responder),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// An API token (the secret itself is never stored).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenRecord {
    /// Name (an agent name for agent tokens).
    pub name: String,
    /// Role.
    pub role: Role,
    /// Created, Unix seconds.
    pub created: i64,
}

/// How long alerts are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    /// Delete alerts older than this (seconds; 0 = keep).
    pub max_age_secs: i64,
    /// Keep at most this many alerts (0 = no limit).
    pub max_alerts: u64,
    /// Keep the alert tables under this many bytes (0 = no limit).
    pub max_bytes: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age_secs: 30 * 86400,
            max_alerts: 5_000_000,
            max_bytes: 0,
        }
    }
}

/// The context rows stored with an alert: its ancestry (oldest first),
/// then the triggering event.
pub fn context_of(a: &Alert) -> Vec<ContextEvent> {
    let mut out: Vec<ContextEvent> = a
        .ancestry
        .iter()
        .rev()
        .map(|p| ContextEvent {
            seq: 0,
            kind: "process".into(),
            pid: p.pid as i64,
            name: p.name.clone(),
            exepath: p.exepath.clone(),
            cmdline: p.cmdline.clone(),
            detail: BTreeMap::new(),
        })
        .collect();
    let f = |k: &str| a.output_fields.get(k).cloned().unwrap_or_default();
    out.push(ContextEvent {
        seq: 0,
        kind: a
            .output_fields
            .get("evt.type")
            .cloned()
            .unwrap_or_else(|| "event".into()),
        pid: f("proc.pid").parse().unwrap_or(-1),
        name: f("proc.name"),
        exepath: f("proc.exepath"),
        cmdline: f("proc.cmdline"),
        detail: a.output_fields.clone(),
    });
    for (i, e) in out.iter_mut().enumerate() {
        e.seq = i as i64;
    }
    out
}

/// Columns extracted from an alert for indexing.
pub(crate) struct Columns<'a> {
    pub time_ns: i64,
    pub priority: i64,
    pub container_id: &'a str,
    pub container_name: &'a str,
    pub image: &'a str,
    pub k8s_ns: &'a str,
    pub k8s_pod: &'a str,
    pub tags: String,
}

impl<'a> Columns<'a> {
    pub fn of(a: &'a Alert) -> Columns<'a> {
        let c = a.container.as_ref();
        Columns {
            time_ns: peregrine_event::time::parse_rfc3339(&a.time) as i64,
            priority: a.priority.index() as i64,
            container_id: c.map(|c| c.id.as_str()).unwrap_or(""),
            container_name: c.map(|c| c.name.as_str()).unwrap_or(""),
            image: c.map(|c| c.image.as_str()).unwrap_or(""),
            k8s_ns: c.and_then(|c| c.k8s_namespace.as_deref()).unwrap_or(""),
            k8s_pod: c.and_then(|c| c.k8s_pod.as_deref()).unwrap_or(""),
            tags: a.tags.join(","),
        }
    }
}
