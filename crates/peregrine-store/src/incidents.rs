//! Incidents: related alerts grouped, with a triage status, an assignee,
//! comments and an append-only history.
//!
//! Grouping: a newly stored alert joins the incident with the same key —
//! (agent, host, container id, rule, process tree) — whose alerts lie
//! within the grouping window of it (default one hour, sliding: each alert
//! extends the incident) and that is not closed (resolved or false
//! positive); otherwise it starts a new incident. The process tree is the
//! oldest recorded ancestor other than PID 1 (the process itself when it
//! has no recorded ancestry), so alerts of one shell session or one
//! container entrypoint group while unrelated processes do not.

use crate::exec::{Exec, Param, Row};
use crate::model::Columns;
use crate::{now_ns, Alert, Result, StoreError, StoredAlert};
use serde::{Deserialize, Serialize};

/// Default grouping window: one hour.
pub const DEFAULT_WINDOW_SECS: i64 = 3600;

/// Who the store names in the history for what it did itself.
pub const SYSTEM_ACTOR: &str = "peregrine";

/// Triage state of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Nobody looked yet.
    #[default]
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Handled.
    Resolved,
    /// Not an attack (closed without action).
    FalsePositive,
}

impl IncidentStatus {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::FalsePositive => "false_positive",
        }
    }
    /// Parse the stored spelling.
    pub fn parse(s: &str) -> Option<IncidentStatus> {
        Some(match s {
            "open" => IncidentStatus::Open,
            "acknowledged" => IncidentStatus::Acknowledged,
            "resolved" => IncidentStatus::Resolved,
            "false_positive" => IncidentStatus::FalsePositive,
            _ => return None,
        })
    }
    /// Closed states take no new alerts.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            IncidentStatus::Resolved | IncidentStatus::FalsePositive
        )
    }
}

/// An incident's summary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// Id (assigned by the store).
    pub id: i64,
    /// Rule of its alerts.
    pub rule: String,
    /// Host.
    pub hostname: String,
    /// Agent.
    pub agent: String,
    /// Container id ('' on the host).
    pub container_id: String,
    /// Container name ('' on the host).
    pub container_name: String,
    /// Pid of the process tree's root (see the module docs).
    pub tree_pid: i64,
    /// Most severe priority of its alerts (0 Emergency ..= 7 Debug).
    pub priority: i64,
    /// Triage state.
    pub status: IncidentStatus,
    /// Who works on it ('' when nobody).
    pub assignee: String,
    /// Time of its first and last alert, Unix nanoseconds.
    pub first_ns: i64,
    /// See `first_ns`.
    pub last_ns: i64,
    /// Alerts in it.
    pub alert_count: i64,
    /// Last change of anything, Unix nanoseconds.
    pub updated_ns: i64,
}

/// One history entry. Comments are entries of kind `comment`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// Unix nanoseconds.
    pub at_ns: i64,
    /// Who (token or session name; `peregrine` for the store itself).
    pub actor: String,
    /// `created`, `alert`, `status`, `assignee` or `comment`.
    pub action: String,
    /// Value before (status and assignee changes).
    pub old: String,
    /// Value after, the alert id, or the comment text.
    pub new: String,
}

/// An incident with its alerts (newest first) and history (oldest first).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IncidentDetail {
    /// Summary.
    pub incident: Incident,
    /// Its alerts.
    pub alerts: Vec<StoredAlert>,
    /// Everything that happened to it.
    pub history: Vec<HistoryEntry>,
}

/// Which incidents to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentQuery {
    /// Only these states (all when empty).
    pub status: Vec<IncidentStatus>,
    /// Only this assignee ('' = unassigned).
    pub assignee: Option<String>,
    /// Only this rule.
    pub rule: Option<String>,
    /// Incidents with an id below this (the next page).
    pub before_id: Option<i64>,
    /// Page size (1..=500; 0 means 50).
    pub limit: u32,
}

/// A change applied to one or several incidents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentChange {
    /// New state.
    pub status: Option<IncidentStatus>,
    /// New assignee ('' unassigns).
    pub assignee: Option<String>,
    /// A comment to add.
    pub comment: Option<String>,
}

const INCIDENT_COLS: &str = "id, rule, hostname, agent, container_id, container_name, tree_pid,
    priority, status, assignee, first_ns, last_ns, alert_count, updated_ns";

fn decode(mut r: Row) -> Result<Incident> {
    let id = r.int(0)?;
    let status = r.text(8)?;
    Ok(Incident {
        id,
        rule: r.text(1)?,
        hostname: r.text(2)?,
        agent: r.text(3)?,
        container_id: r.text(4)?,
        container_name: r.text(5)?,
        tree_pid: r.int(6)?,
        priority: r.int(7)?,
        status: IncidentStatus::parse(&status).ok_or_else(|| StoreError::Corrupt {
            what: format!("incident {id}"),
            reason: format!("unknown status '{status}'"),
        })?,
        assignee: r.text(9)?,
        first_ns: r.int(10)?,
        last_ns: r.int(11)?,
        alert_count: r.int(12)?,
        updated_ns: r.int(13)?,
    })
}

/// The process tree an alert belongs to (see the module docs).
pub fn tree_pid(a: &Alert) -> i64 {
    let pid_of = |f: &str| a.output_fields.get(f).and_then(|p| p.parse::<i64>().ok());
    a.ancestry
        .iter()
        .rev()
        .map(|x| x.pid as i64)
        .find(|p| *p > 1)
        .or_else(|| pid_of("proc.pid"))
        .unwrap_or(0)
}

fn history(
    x: &mut dyn Exec,
    id: i64,
    actor: &str,
    action: &str,
    old: &str,
    new: &str,
) -> Result<()> {
    x.exec(
        "INSERT INTO incident_history (incident_id, at_ns, actor, action, old, new)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            Param::Int(id),
            Param::Int(now_ns()),
            Param::Str(actor),
            Param::Str(action),
            Param::Str(old),
            Param::Str(new),
        ],
    )?;
    Ok(())
}

/// Put the just-stored alert `rid` into its incident (in the insert's
/// transaction).
pub(crate) fn group(
    x: &mut dyn Exec,
    agent: &str,
    a: &Alert,
    rid: i64,
    window_secs: i64,
) -> Result<()> {
    let col = Columns::of(a);
    let tree = tree_pid(a);
    let w = window_secs.max(0).saturating_mul(1_000_000_000);
    let found = x.row(
        "SELECT id FROM incidents WHERE agent = ?1 AND hostname = ?2 AND container_id = ?3
             AND rule = ?4 AND tree_pid = ?5 AND status IN ('open', 'acknowledged')
             AND last_ns >= ?6 AND first_ns <= ?7
         ORDER BY last_ns DESC LIMIT 1",
        &[
            Param::Str(agent),
            Param::Str(&a.hostname),
            Param::Str(col.container_id),
            Param::Str(&a.rule),
            Param::Int(tree),
            Param::Int(col.time_ns.saturating_sub(w)),
            Param::Int(col.time_ns.saturating_add(w)),
        ],
    )?;
    let now = now_ns();
    let id = match found {
        Some(r) => {
            let id = r.int(0)?;
            x.exec(
                "UPDATE incidents SET alert_count = alert_count + 1,
                     first_ns = CASE WHEN ?2 < first_ns THEN ?2 ELSE first_ns END,
                     last_ns = CASE WHEN ?2 > last_ns THEN ?2 ELSE last_ns END,
                     priority = CASE WHEN ?3 < priority THEN ?3 ELSE priority END,
                     updated_ns = ?4
                 WHERE id = ?1",
                &[
                    Param::Int(id),
                    Param::Int(col.time_ns),
                    Param::Int(col.priority),
                    Param::Int(now),
                ],
            )?;
            id
        }
        None => {
            let r = x
                .row(
                    "INSERT INTO incidents (rule, hostname, agent, container_id, container_name,
                         tree_pid, priority, first_ns, last_ns, created_ns, updated_ns)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?9) RETURNING id",
                    &[
                        Param::Str(&a.rule),
                        Param::Str(&a.hostname),
                        Param::Str(agent),
                        Param::Str(col.container_id),
                        Param::Str(col.container_name),
                        Param::Int(tree),
                        Param::Int(col.priority),
                        Param::Int(col.time_ns),
                        Param::Int(now),
                    ],
                )?
                .ok_or_else(|| StoreError::Query("incident insert returned no id".into()))?;
            let id = r.int(0)?;
            history(x, id, SYSTEM_ACTOR, "created", "", &a.id)?;
            id
        }
    };
    x.exec(
        "INSERT INTO incident_alerts (incident_id, alert_rid) VALUES (?1, ?2)",
        &[Param::Int(id), Param::Int(rid)],
    )?;
    history(x, id, SYSTEM_ACTOR, "alert", "", &a.id)
}

/// One page of incidents, newest first.
pub(crate) fn list(x: &mut dyn Exec, q: &IncidentQuery) -> Result<Vec<Incident>> {
    let mut cond = vec!["1 = 1".to_string()];
    let mut params: Vec<Param> = Vec::new();
    if !q.status.is_empty() {
        let list: Vec<String> = q
            .status
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        cond.push(format!("status IN ({})", list.join(", ")));
    }
    if let Some(a) = &q.assignee {
        params.push(Param::Text(a.clone()));
        cond.push(format!("assignee = ?{}", params.len()));
    }
    if let Some(r) = &q.rule {
        params.push(Param::Text(r.clone()));
        cond.push(format!("rule = ?{}", params.len()));
    }
    if let Some(b) = q.before_id {
        params.push(Param::Int(b));
        cond.push(format!("id < ?{}", params.len()));
    }
    let limit = match q.limit {
        0 => 50,
        n => n.min(500),
    };
    let sql = format!(
        "SELECT {INCIDENT_COLS} FROM incidents WHERE {} ORDER BY id DESC LIMIT {limit}",
        cond.join(" AND ")
    );
    x.rows(&sql, &params)?.into_iter().map(decode).collect()
}

fn get(x: &mut dyn Exec, id: i64) -> Result<Option<Incident>> {
    x.row(
        &format!("SELECT {INCIDENT_COLS} FROM incidents WHERE id = ?1"),
        &[Param::Int(id)],
    )?
    .map(decode)
    .transpose()
}

/// One incident with its alerts and history.
pub(crate) fn detail(x: &mut dyn Exec, id: i64) -> Result<Option<IncidentDetail>> {
    let Some(incident) = get(x, id)? else {
        return Ok(None);
    };
    let cols = crate::ops::ALERT_COLS
        .split(", ")
        .map(|c| format!("a.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let alerts = x
        .rows(
            &format!(
                "SELECT {cols} FROM alerts a JOIN incident_alerts i ON i.alert_rid = a.rid
                 WHERE i.incident_id = ?1 ORDER BY a.time_ns DESC, a.id DESC LIMIT 1000"
            ),
            &[Param::Int(id)],
        )?
        .into_iter()
        .map(crate::ops::decode_alert)
        .collect::<Result<Vec<_>>>()?;
    let history = x
        .rows(
            "SELECT at_ns, actor, action, old, new FROM incident_history
             WHERE incident_id = ?1 ORDER BY seq",
            &[Param::Int(id)],
        )?
        .into_iter()
        .map(|mut r| {
            Ok(HistoryEntry {
                at_ns: r.int(0)?,
                actor: r.text(1)?,
                action: r.text(2)?,
                old: r.text(3)?,
                new: r.text(4)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(IncidentDetail {
        incident,
        alerts,
        history,
    }))
}

/// Apply `c` to every incident of `ids` (run it in one transaction): all
/// or none. Returns the ids that do not exist (nothing changed then).
pub(crate) fn update(
    x: &mut dyn Exec,
    ids: &[i64],
    c: &IncidentChange,
    by: &str,
) -> Result<Vec<i64>> {
    let mut found = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for &id in ids {
        match get(x, id)? {
            Some(i) => found.push(i),
            None => missing.push(id),
        }
    }
    if !missing.is_empty() {
        return Ok(missing);
    }
    let now = now_ns();
    for i in found {
        if let Some(s) = c.status.filter(|s| *s != i.status) {
            x.exec(
                "UPDATE incidents SET status = ?1, updated_ns = ?2 WHERE id = ?3",
                &[Param::Str(s.as_str()), Param::Int(now), Param::Int(i.id)],
            )?;
            history(x, i.id, by, "status", i.status.as_str(), s.as_str())?;
        }
        if let Some(a) = c.assignee.as_deref().filter(|a| *a != i.assignee) {
            x.exec(
                "UPDATE incidents SET assignee = ?1, updated_ns = ?2 WHERE id = ?3",
                &[Param::Str(a), Param::Int(now), Param::Int(i.id)],
            )?;
            history(x, i.id, by, "assignee", &i.assignee, a)?;
        }
        if let Some(text) = &c.comment {
            x.exec(
                "UPDATE incidents SET updated_ns = ?1 WHERE id = ?2",
                &[Param::Int(now), Param::Int(i.id)],
            )?;
            history(x, i.id, by, "comment", "", text)?;
        }
    }
    Ok(Vec::new())
}
