//! The store's operations, written once over [`Exec`] for both back ends.
//! Back ends add connection handling, transactions, the free-text strategy
//! and the aggregation plan (the one place their best SQL differs).

use crate::dialect::{Dialect, TextSearch};
use crate::exec::{Exec, Param, Row};
use crate::model::Columns;
use crate::query::cursor_after;
use crate::*;
use sha2::{Digest, Sha256};

/// Columns read for a [`StoredAlert`], in [`decode_alert`]'s order.
pub(crate) const ALERT_COLS: &str = "id, doc, agent, status, status_by, received_ns, time_ns";

const INSERT_ALERT: &str = "INSERT INTO alerts (id, time_ns, received_ns, rule, priority, source,
        hostname, agent, container_id, container_name, image, k8s_ns, k8s_pod, tags, output,
        count, doc, content_hash)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
    ON CONFLICT (id, agent) DO NOTHING RETURNING rid";

const INSERT_EVENT: &str = "INSERT INTO alert_events
        (alert_rid, seq, kind, pid, name, exepath, cmdline, detail)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// Hex SHA-256 of a stored document: tells a re-send from a collision.
pub(crate) fn content_hash(doc: &str) -> String {
    Sha256::digest(doc.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A row of [`ALERT_COLS`] as a [`StoredAlert`].
pub(crate) fn decode_alert(mut r: Row) -> Result<StoredAlert> {
    let id = r.text(0)?;
    let doc = r.text(1)?;
    let alert: Alert = serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt {
        what: format!("alert {id}"),
        reason: e.to_string(),
    })?;
    Ok(StoredAlert {
        alert,
        agent: r.text(2)?,
        status: Status::parse(&r.text(3)?).unwrap_or_default(),
        status_by: r.opt_text(4)?,
        received_ns: r.int(5)?,
        time_ns: r.int(6)?,
    })
}

/// What happened to one alert that was not new.
fn existing_outcome(
    x: &mut dyn Exec,
    agent: &str,
    id: &str,
    doc: &str,
    hash: &str,
) -> Result<Outcome> {
    let key = [Param::Str(agent), Param::Str(id)];
    let Some(mut r) = x.row(
        "SELECT content_hash FROM alerts WHERE id = ?2 AND agent = ?1",
        &key,
    )?
    else {
        // Deleted (retention) between the insert and this read: it was
        // stored, so a re-send.
        return Ok(Outcome::Duplicate);
    };
    let stored = r.text(0)?;
    let same = if stored.is_empty() {
        // Stored before content hashes: compare the documents.
        let mut r = x
            .row("SELECT doc FROM alerts WHERE id = ?2 AND agent = ?1", &key)?
            .ok_or_else(|| StoreError::Query(format!("alert {id} vanished")))?;
        r.text(0)? == doc
    } else {
        stored == hash
    };
    Ok(if same {
        Outcome::Duplicate
    } else {
        Outcome::Conflict
    })
}

/// Store one alert and its context rows.
fn insert_one(x: &mut dyn Exec, agent: &str, a: &Alert, now: i64, window: i64) -> Result<Outcome> {
    let col = Columns::of(a);
    let doc = serde_json::to_string(a).unwrap_or_default();
    let hash = content_hash(&doc);
    let row = x.row(
        INSERT_ALERT,
        &[
            Param::Str(&a.id),
            Param::Int(col.time_ns),
            Param::Int(now),
            Param::Str(&a.rule),
            Param::Int(col.priority),
            Param::Str(&a.source),
            Param::Str(&a.hostname),
            Param::Str(agent),
            Param::Str(col.container_id),
            Param::Str(col.container_name),
            Param::Str(col.image),
            Param::Str(col.k8s_ns),
            Param::Str(col.k8s_pod),
            Param::Str(&col.tags),
            Param::Str(&a.output),
            Param::Int(a.count as i64),
            Param::Str(&doc),
            Param::Str(&hash),
        ],
    )?;
    let Some(row) = row else {
        return existing_outcome(x, agent, &a.id, &doc, &hash);
    };
    let rid = row.int(0)?;
    crate::incidents::group(x, agent, a, rid, window)?;
    for e in context_of(a) {
        let detail = serde_json::to_string(&e.detail).unwrap_or_default();
        x.exec(
            INSERT_EVENT,
            &[
                Param::Int(rid),
                Param::Int(e.seq),
                Param::Str(&e.kind),
                Param::Int(e.pid),
                Param::Str(&e.name),
                Param::Str(&e.exepath),
                Param::Str(&e.cmdline),
                Param::Str(&detail),
            ],
        )?;
    }
    Ok(Outcome::New)
}

/// Store a batch from `agent` (run it in one transaction), grouping new
/// alerts into incidents within `window` seconds.
pub(crate) fn insert_alerts(
    x: &mut dyn Exec,
    agent: &str,
    alerts: &[Alert],
    window: i64,
) -> Result<Inserted> {
    let now = now_ns();
    let mut outcomes = Vec::with_capacity(alerts.len());
    for a in alerts {
        outcomes.push(insert_one(x, agent, a, now, window)?);
    }
    Ok(Inserted { outcomes })
}

/// One page of alerts matching `q`, and the (capped) count.
pub(crate) fn query_alerts(
    x: &mut dyn Exec,
    d: Dialect,
    q: &AlertQuery,
    how: TextSearch,
) -> Result<AlertPage> {
    let limit = q.page_size();
    let (where_page, p_page) = q.where_sql(d, true, how)?;
    let sql = format!(
        "SELECT {ALERT_COLS} FROM alerts WHERE {where_page}
         ORDER BY time_ns DESC, id DESC, agent DESC LIMIT {}",
        limit + 1
    );
    let mut alerts = x
        .rows(&sql, &p_page)?
        .into_iter()
        .map(decode_alert)
        .collect::<Result<Vec<_>>>()?;
    let next = if alerts.len() > limit as usize {
        alerts.truncate(limit as usize);
        alerts
            .last()
            .map(|a| cursor_after(a.time_ns, &a.agent, &a.alert.id))
    } else {
        None
    };
    let (where_all, p_all) = q.where_sql(d, false, how)?;
    let cap = AlertPage::COUNT_CAP;
    let n = x.int(
        &format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM alerts WHERE {where_all} LIMIT {}) t",
            cap + 1
        ),
        &p_all,
    )?;
    Ok(AlertPage {
        alerts,
        total: (n as u64).min(cap),
        total_capped: n as u64 > cap,
        next,
    })
}

/// The one row of alert `id` (of `agent`, or of whichever agent when
/// only one has it), reading `cols`.
fn find(x: &mut dyn Exec, agent: Option<&str>, id: &str, cols: &str) -> Result<Option<Row>> {
    let mut rows = match agent {
        Some(agent) => x.rows(
            &format!("SELECT {cols}, agent FROM alerts WHERE id = ?1 AND agent = ?2"),
            &[Param::Str(id), Param::Str(agent)],
        )?,
        None => x.rows(
            &format!("SELECT {cols}, agent FROM alerts WHERE id = ?1 ORDER BY agent LIMIT 10"),
            &[Param::Str(id)],
        )?,
    };
    if rows.len() > 1 {
        let agents = rows
            .iter_mut()
            .map(|r| {
                let last = r.0.len() - 1;
                r.text(last)
            })
            .collect::<Result<Vec<_>>>()?;
        return Err(StoreError::Ambiguous {
            id: id.to_string(),
            agents,
        });
    }
    Ok(rows.pop())
}

pub(crate) fn get_alert(
    x: &mut dyn Exec,
    agent: Option<&str>,
    id: &str,
) -> Result<Option<StoredAlert>> {
    find(x, agent, id, ALERT_COLS)?
        .map(decode_alert)
        .transpose()
}

pub(crate) fn alert_events(
    x: &mut dyn Exec,
    agent: Option<&str>,
    id: &str,
) -> Result<Vec<ContextEvent>> {
    let Some(r) = find(x, agent, id, "rid")? else {
        return Ok(Vec::new());
    };
    x.rows(
        "SELECT seq, kind, pid, name, exepath, cmdline, detail FROM alert_events
         WHERE alert_rid = ?1 ORDER BY seq",
        &[Param::Int(r.int(0)?)],
    )?
    .into_iter()
    .map(|mut r| {
        Ok(ContextEvent {
            seq: r.int(0)?,
            kind: r.text(1)?,
            pid: r.int(2)?,
            name: r.text(3)?,
            exepath: r.text(4)?,
            cmdline: r.text(5)?,
            detail: serde_json::from_str(&r.text(6)?).unwrap_or_default(),
        })
    })
    .collect()
}

pub(crate) fn set_status(
    x: &mut dyn Exec,
    agent: Option<&str>,
    id: &str,
    status: Status,
    by: &str,
) -> Result<bool> {
    let Some(r) = find(x, agent, id, "rid")? else {
        return Ok(false);
    };
    let n = x.exec(
        "UPDATE alerts SET status = ?1, status_by = ?2, status_ns = ?3 WHERE rid = ?4",
        &[
            Param::Str(status.as_str()),
            Param::Str(by),
            Param::Int(now_ns()),
            Param::Int(r.int(0)?),
        ],
    )?;
    Ok(n > 0)
}

pub(crate) fn heartbeat(x: &mut dyn Exec, hb: &Heartbeat) -> Result<()> {
    let doc = serde_json::to_string(hb).unwrap_or_default();
    x.exec(
        "INSERT INTO agents (id, first_seen, last_seen, doc) VALUES (?1, ?2, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, doc = excluded.doc",
        &[
            Param::Str(&hb.agent),
            Param::Int(now_ns() / 1_000_000_000),
            Param::Str(&doc),
        ],
    )?;
    Ok(())
}

pub(crate) fn agents(x: &mut dyn Exec) -> Result<Vec<AgentRecord>> {
    x.rows(
        "SELECT id, first_seen, last_seen, doc FROM agents ORDER BY last_seen DESC",
        &[],
    )?
    .into_iter()
    .map(|mut r| {
        let id = r.text(0)?;
        let heartbeat = serde_json::from_str(&r.text(3)?).map_err(|e| StoreError::Corrupt {
            what: format!("agent {id}"),
            reason: e.to_string(),
        })?;
        Ok(AgentRecord {
            heartbeat,
            first_seen: r.int(1)?,
            last_seen: r.int(2)?,
        })
    })
    .collect()
}

/// Replace an agent's rule set (run it in one transaction).
pub(crate) fn put_ruleset(x: &mut dyn Exec, agent: &str, rules: &[RuleInfo]) -> Result<()> {
    let now = now_ns() / 1_000_000_000;
    x.exec(
        "DELETE FROM rulesets WHERE agent = ?1",
        &[Param::Str(agent)],
    )?;
    for r in rules {
        let doc = serde_json::to_string(r).unwrap_or_default();
        x.exec(
            "INSERT INTO rulesets (agent, name, doc, updated) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (agent, name) DO UPDATE SET doc = excluded.doc, updated = excluded.updated",
            &[Param::Str(agent), Param::Str(&r.name), Param::Str(&doc), Param::Int(now)],
        )?;
    }
    Ok(())
}

pub(crate) fn rules(x: &mut dyn Exec) -> Result<Vec<RuleSummary>> {
    let mut counts = std::collections::HashMap::new();
    for mut r in x.rows(
        "SELECT rule, COUNT(*), MAX(time_ns) FROM alerts GROUP BY rule",
        &[],
    )? {
        counts.insert(r.text(0)?, (r.int(1)?, r.int(2)?));
    }
    x.rows(
        "SELECT name, MAX(doc), COUNT(*) FROM rulesets GROUP BY name ORDER BY name",
        &[],
    )?
    .into_iter()
    .map(|mut r| {
        let name = r.text(0)?;
        let rule: RuleInfo =
            serde_json::from_str(&r.text(1)?).map_err(|e| StoreError::Corrupt {
                what: format!("rule {name}"),
                reason: e.to_string(),
            })?;
        let (n, last) = counts.get(&name).copied().unwrap_or((0, 0));
        Ok(RuleSummary {
            rule,
            agents: r.int(2)? as u64,
            alerts: n as u64,
            last_alert_ns: last,
        })
    })
    .collect()
}

pub(crate) fn add_token(x: &mut dyn Exec, name: &str, role: Role, sha256_hex: &str) -> Result<()> {
    x.exec(
        "INSERT INTO tokens (sha256, name, role, created) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (sha256) DO UPDATE SET name = excluded.name, role = excluded.role,
             created = excluded.created",
        &[
            Param::Str(sha256_hex),
            Param::Str(name),
            Param::Str(role.as_str()),
            Param::Int(now_ns() / 1_000_000_000),
        ],
    )?;
    Ok(())
}

fn token_record(mut r: Row) -> Result<Option<TokenRecord>> {
    let name = r.text(0)?;
    Ok(Role::parse(&r.text(1)?).map(|role| TokenRecord {
        name,
        role,
        created: r.int(2).unwrap_or(0),
    }))
}

pub(crate) fn token(x: &mut dyn Exec, sha256_hex: &str) -> Result<Option<TokenRecord>> {
    match x.row(
        "SELECT name, role, created FROM tokens WHERE sha256 = ?1",
        &[Param::Str(sha256_hex)],
    )? {
        Some(r) => token_record(r),
        None => Ok(None),
    }
}

pub(crate) fn tokens(x: &mut dyn Exec) -> Result<Vec<TokenRecord>> {
    let mut out = Vec::new();
    for r in x.rows("SELECT name, role, created FROM tokens ORDER BY name", &[])? {
        out.extend(token_record(r)?);
    }
    Ok(out)
}

pub(crate) fn revoke_token(x: &mut dyn Exec, name: &str) -> Result<usize> {
    Ok(x.exec("DELETE FROM tokens WHERE name = ?1", &[Param::Str(name)])? as usize)
}

pub(crate) fn count(x: &mut dyn Exec) -> Result<u64> {
    Ok(x.int("SELECT COUNT(*) FROM alerts", &[])? as u64)
}

fn delete_oldest(x: &mut dyn Exec, n: i64) -> Result<u64> {
    x.exec(
        "DELETE FROM alerts WHERE rid IN (SELECT rid FROM alerts ORDER BY time_ns ASC LIMIT ?1)",
        &[Param::Int(n)],
    )
}

/// Apply `policy` (outside a transaction: each delete commits).
pub(crate) fn retain(x: &mut dyn Exec, d: Dialect, policy: &Retention, now_ns: i64) -> Result<u64> {
    let mut deleted = 0u64;
    if policy.max_age_secs > 0 {
        let cutoff = now_ns - policy.max_age_secs * 1_000_000_000;
        deleted += x.exec(
            "DELETE FROM alerts WHERE time_ns < ?1",
            &[Param::Int(cutoff)],
        )?;
    }
    if policy.max_alerts > 0 {
        let excess = count(x)? as i64 - policy.max_alerts as i64;
        if excess > 0 {
            deleted += delete_oldest(x, excess)?;
        }
    }
    if let Some(sql) = d.analyze_sql() {
        x.batch(sql)?;
    }
    if policy.max_bytes > 0 {
        for _ in 0..20 {
            if x.int(d.used_bytes_sql(), &[])? as u64 <= policy.max_bytes {
                break;
            }
            let n = count(x)? as i64;
            if n == 0 {
                break;
            }
            deleted += delete_oldest(x, (n / 10).max(1))?;
            if let Some(sql) = d.reclaim_sql() {
                let _ = x.batch(sql);
            }
        }
    }
    Ok(deleted)
}
