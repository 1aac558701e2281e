//! PostgreSQL backend for fleets: a small connection pool, the same schema
//! as SQLite (BIGINT columns), `pg_trgm` for free-text search when the
//! extension can be created (plain ILIKE otherwise).

use crate::model::Columns;
use crate::query::{cursor_after, like_escape, Dialect, Param};
use crate::sqlite::decode_alert;
use crate::*;
use ::postgres::types::ToSql;
use ::postgres::{Client, NoTls};
use std::sync::Mutex;

const MIGRATIONS: &[&str] = &[
    // 1: same tables as the SQLite schema.
    "CREATE TABLE alerts (
        rid BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        time_ns BIGINT NOT NULL,
        received_ns BIGINT NOT NULL,
        rule TEXT NOT NULL,
        priority BIGINT NOT NULL,
        source TEXT NOT NULL,
        hostname TEXT NOT NULL,
        agent TEXT NOT NULL,
        container_id TEXT NOT NULL DEFAULT '',
        container_name TEXT NOT NULL DEFAULT '',
        image TEXT NOT NULL DEFAULT '',
        k8s_ns TEXT NOT NULL DEFAULT '',
        k8s_pod TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '',
        output TEXT NOT NULL,
        count BIGINT NOT NULL DEFAULT 1,
        status TEXT NOT NULL DEFAULT 'open',
        status_by TEXT,
        status_ns BIGINT,
        doc TEXT NOT NULL
    );
    CREATE INDEX alerts_time ON alerts(time_ns, id);
    CREATE INDEX alerts_rule ON alerts(rule, time_ns);
    CREATE INDEX alerts_prio ON alerts(priority, time_ns);
    CREATE INDEX alerts_host ON alerts(hostname, time_ns);
    CREATE INDEX alerts_cname ON alerts(container_name, time_ns);
    CREATE INDEX alerts_cid ON alerts(container_id, time_ns);
    CREATE INDEX alerts_image ON alerts(image, time_ns);
    CREATE INDEX alerts_k8s ON alerts(k8s_ns, time_ns);
    CREATE INDEX alerts_status ON alerts(status, time_ns);
    CREATE TABLE alert_events (
        alert_rid BIGINT NOT NULL REFERENCES alerts(rid) ON DELETE CASCADE,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        pid BIGINT NOT NULL,
        name TEXT NOT NULL,
        exepath TEXT NOT NULL,
        cmdline TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (alert_rid, seq)
    );
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        first_seen BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE TABLE rulesets (
        agent TEXT NOT NULL,
        name TEXT NOT NULL,
        doc TEXT NOT NULL,
        updated BIGINT NOT NULL,
        PRIMARY KEY (agent, name)
    );
    CREATE TABLE tokens (
        sha256 TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        created BIGINT NOT NULL
    );",
    // 2: covering time index (see the SQLite schema).
    "DROP INDEX alerts_time;
    CREATE INDEX alerts_time ON alerts(time_ns, id)
        INCLUDE (priority, status, rule, hostname, container_name, image, k8s_ns);",
];

/// The PostgreSQL store.
pub struct PgStore {
    url: String,
    pool: Mutex<Vec<Client>>,
}

fn args(p: &[Param]) -> Vec<Box<dyn ToSql + Sync>> {
    p.iter()
        .map(|p| -> Box<dyn ToSql + Sync> {
            match p {
                Param::Int(i) => Box::new(*i),
                Param::Text(s) => Box::new(s.clone()),
            }
        })
        .collect()
}

fn refs(a: &[Box<dyn ToSql + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    a.iter().map(|b| b.as_ref()).collect()
}

fn fts(text: &str, params: &mut Vec<Param>, ph: &dyn Fn(usize) -> String) -> String {
    let p = ph(params.len() + 1);
    params.push(Param::Text(format!("%{}%", like_escape(text))));
    format!("(output ILIKE {p} OR rule ILIKE {p})")
}

impl PgStore {
    /// Connect and migrate.
    pub fn connect(url: &str) -> Result<PgStore> {
        let s = PgStore {
            url: url.to_string(),
            pool: Mutex::new(Vec::new()),
        };
        let mut c = s.client()?;
        migrate(&mut c)?;
        s.put_back(c);
        Ok(s)
    }

    fn client(&self) -> Result<Client> {
        if let Some(c) = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            if !c.is_closed() {
                return Ok(c);
            }
        }
        Client::connect(&self.url, NoTls).map_err(|e| {
            StoreError::Open(format!(
                "cannot connect to PostgreSQL at {}: {e}",
                redact(&self.url)
            ))
        })
    }

    fn put_back(&self, c: Client) {
        let mut p = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if p.len() < 8 && !c.is_closed() {
            p.push(c);
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        let mut c = self.client()?;
        let out = f(&mut c);
        self.put_back(c);
        out
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

fn migrate(c: &mut Client) -> Result<()> {
    let mut tx = c.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock(7461726)", &[])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)")?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
            &[],
        )?
        .get(0);
    if current > MIGRATIONS.len() as i64 {
        return Err(StoreError::Open(format!(
            "database schema version {current} is newer than this Peregrine ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations(version) VALUES ($1)",
            &[&(i as i64 + 1)],
        )?;
        tracing::info!(version = i + 1, "store schema migrated");
    }
    tx.commit()?;
    // Optional: trigram index for substring search.
    if let Err(e) = c.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS pg_trgm;
         CREATE INDEX IF NOT EXISTS alerts_output_trgm ON alerts USING gin (output gin_trgm_ops);",
    ) {
        tracing::warn!("pg_trgm unavailable, free-text search scans: {e}");
    }
    Ok(())
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn insert_alerts(&self, agent: &str, alerts: &[Alert]) -> Result<usize> {
        let now = now_ns();
        self.with(|c| {
            let mut tx = c.transaction()?;
            let ins = tx.prepare(
                "INSERT INTO alerts (id, time_ns, received_ns, rule, priority, source, hostname, agent,
                    container_id, container_name, image, k8s_ns, k8s_pod, tags, output, count, doc)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                 ON CONFLICT (id) DO NOTHING RETURNING rid",
            )?;
            let ev = tx.prepare(
                "INSERT INTO alert_events (alert_rid, seq, kind, pid, name, exepath, cmdline, detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )?;
            let mut new = 0;
            for a in alerts {
                let col = Columns::of(a);
                let doc = serde_json::to_string(a).unwrap_or_default();
                let rows = tx.query(
                    &ins,
                    &[
                        &a.id,
                        &col.time_ns,
                        &now,
                        &a.rule,
                        &col.priority,
                        &a.source,
                        &a.hostname,
                        &agent,
                        &col.container_id,
                        &col.container_name,
                        &col.image,
                        &col.k8s_ns,
                        &col.k8s_pod,
                        &col.tags,
                        &a.output,
                        &(a.count as i64),
                        &doc,
                    ],
                )?;
                let Some(row) = rows.first() else { continue };
                let rid: i64 = row.get(0);
                new += 1;
                for e in context_of(a) {
                    let detail = serde_json::to_string(&e.detail).unwrap_or_default();
                    tx.execute(
                        &ev,
                        &[&rid, &e.seq, &e.kind, &e.pid, &e.name, &e.exepath, &e.cmdline, &detail],
                    )?;
                }
            }
            tx.commit()?;
            Ok(new)
        })
    }

    fn query_alerts(&self, q: &AlertQuery) -> Result<AlertPage> {
        let limit = q.page_size();
        let (where_all, p_all) = q.where_sql(Dialect::Postgres, false, &fts)?;
        let (where_page, p_page) = q.where_sql(Dialect::Postgres, true, &fts)?;
        self.with(|c| {
            let sql = format!(
                "SELECT id, doc, agent, status, status_by, received_ns, time_ns FROM alerts
                 WHERE {where_page} ORDER BY time_ns DESC, id DESC LIMIT {}",
                limit + 1
            );
            let a = args(&p_page);
            let mut alerts = Vec::new();
            for r in c.query(&sql, &refs(&a))? {
                let id: String = r.get(0);
                let doc: String = r.get(1);
                let status: String = r.get(3);
                alerts.push(decode_alert(
                    &id,
                    &doc,
                    r.get(2),
                    &status,
                    r.get(4),
                    r.get(5),
                    r.get(6),
                )?);
            }
            let next = if alerts.len() > limit as usize {
                alerts.truncate(limit as usize);
                alerts.last().map(|a| cursor_after(a.time_ns, &a.alert.id))
            } else {
                None
            };
            let cap = AlertPage::COUNT_CAP;
            let a = args(&p_all);
            let n: i64 = c
                .query_one(
                    &format!(
                        "SELECT COUNT(*) FROM (SELECT 1 FROM alerts WHERE {where_all} LIMIT {}) t",
                        cap + 1
                    ),
                    &refs(&a),
                )?
                .get(0);
            Ok(AlertPage {
                alerts,
                total: (n as u64).min(cap),
                total_capped: n as u64 > cap,
                next,
            })
        })
    }

    fn get_alert(&self, id: &str) -> Result<Option<StoredAlert>> {
        self.with(|c| {
            let rows = c.query(
                "SELECT id, doc, agent, status, status_by, received_ns, time_ns FROM alerts WHERE id = $1",
                &[&id],
            )?;
            rows.first()
                .map(|r| {
                    let id: String = r.get(0);
                    let doc: String = r.get(1);
                    let status: String = r.get(3);
                    decode_alert(&id, &doc, r.get(2), &status, r.get(4), r.get(5), r.get(6))
                })
                .transpose()
        })
    }

    fn alert_events(&self, id: &str) -> Result<Vec<ContextEvent>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT e.seq, e.kind, e.pid, e.name, e.exepath, e.cmdline, e.detail
                 FROM alert_events e JOIN alerts a ON a.rid = e.alert_rid
                 WHERE a.id = $1 ORDER BY e.seq",
                &[&id],
            )?
            .iter()
            .map(|r| {
                let detail: String = r.get(6);
                ContextEvent {
                    seq: r.get(0),
                    kind: r.get(1),
                    pid: r.get(2),
                    name: r.get(3),
                    exepath: r.get(4),
                    cmdline: r.get(5),
                    detail: serde_json::from_str(&detail).unwrap_or_default(),
                }
            })
            .collect())
        })
    }

    fn set_status(&self, id: &str, status: Status, by: &str) -> Result<bool> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE alerts SET status = $1, status_by = $2, status_ns = $3 WHERE id = $4",
                &[&status.as_str(), &by, &now_ns(), &id],
            )?;
            Ok(n > 0)
        })
    }

    fn aggregate(&self, q: &AlertQuery, bucket_secs: i64) -> Result<Aggregation> {
        let bucket_secs = bucket_secs.clamp(1, 366 * 86400);
        let (where_, p) = q.where_sql(Dialect::Postgres, false, &fts)?;
        let a = args(&p);
        let r = refs(&a);
        self.with(|c| {
            let mut agg = Aggregation {
                bucket_secs,
                ..Default::default()
            };
            // One scan for every chart: grouping sets, told apart by GROUPING().
            let bns = bucket_secs * 1_000_000_000;
            let sql = format!(
                "SELECT GROUPING((time_ns / {bns}) * {bucket_secs}, priority, status, rule, hostname, container_name, image)::BIGINT AS g,
                        (time_ns / {bns}) * {bucket_secs}, priority, status, rule, hostname, container_name, image, COUNT(*)
                 FROM alerts WHERE {where_}
                 GROUP BY GROUPING SETS (((time_ns / {bns}) * {bucket_secs}, priority, status), (rule), (hostname), (container_name), (image))"
            );
            let mut buckets: std::collections::BTreeMap<i64, [u64; 8]> = Default::default();
            let mut tops: [Vec<Top>; 4] = Default::default();
            for row in c.query(&sql, &r)? {
                let g: i64 = row.get(0);
                let n = row.get::<_, i64>(8) as u64;
                // Bits, first grouped column most significant: 0b0001111 =
                // the (bucket, priority, status) set; otherwise one of the tops.
                if g == 0b0001111 {
                    let start: i64 = row.get(1);
                    let prio: i64 = row.get(2);
                    let status: String = row.get(3);
                    let pi = prio.clamp(0, 7) as usize;
                    agg.total += n;
                    agg.by_priority[pi] += n;
                    *agg.by_status.entry(status).or_default() += n;
                    buckets.entry(start).or_insert([0; 8])[pi] += n;
                    continue;
                }
                for (k, col) in (4..8).enumerate() {
                    if g == 0b1111111 ^ (1 << (7 - col)) {
                        let name: String = row.get(col);
                        if !name.is_empty() {
                            tops[k].push(Top { name, count: n });
                        }
                    }
                }
            }
            agg.buckets = buckets
                .into_iter()
                .map(|(start, counts)| Bucket { start, counts })
                .collect();
            let [rules, hosts, containers, images] = tops.map(crate::model::top10);
            agg.top_rules = rules;
            agg.top_hosts = hosts;
            agg.top_containers = containers;
            agg.top_images = images;
            Ok(agg)
        })
    }

    fn heartbeat(&self, hb: &Heartbeat) -> Result<()> {
        let now = now_ns() / 1_000_000_000;
        let doc = serde_json::to_string(hb).unwrap_or_default();
        self.with(|c| {
            c.execute(
                "INSERT INTO agents (id, first_seen, last_seen, doc) VALUES ($1, $2, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, doc = excluded.doc",
                &[&hb.agent, &now, &doc],
            )?;
            Ok(())
        })
    }

    fn agents(&self) -> Result<Vec<AgentRecord>> {
        self.with(|c| {
            c.query(
                "SELECT id, first_seen, last_seen, doc FROM agents ORDER BY last_seen DESC",
                &[],
            )?
            .iter()
            .map(|r| {
                let id: String = r.get(0);
                let doc: String = r.get(3);
                let heartbeat = serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt {
                    what: format!("agent {id}"),
                    reason: e.to_string(),
                })?;
                Ok(AgentRecord {
                    heartbeat,
                    first_seen: r.get(1),
                    last_seen: r.get(2),
                })
            })
            .collect()
        })
    }

    fn put_ruleset(&self, agent: &str, rules: &[RuleInfo]) -> Result<()> {
        let now = now_ns() / 1_000_000_000;
        self.with(|c| {
            let mut tx = c.transaction()?;
            tx.execute("DELETE FROM rulesets WHERE agent = $1", &[&agent])?;
            let st = tx.prepare(
                "INSERT INTO rulesets (agent, name, doc, updated) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (agent, name) DO UPDATE SET doc = excluded.doc, updated = excluded.updated",
            )?;
            for r in rules {
                let doc = serde_json::to_string(r).unwrap_or_default();
                tx.execute(&st, &[&agent, &r.name, &doc, &now])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn rules(&self) -> Result<Vec<RuleSummary>> {
        self.with(|c| {
            let mut counts = std::collections::HashMap::new();
            for r in c.query(
                "SELECT rule, COUNT(*), MAX(time_ns) FROM alerts GROUP BY rule",
                &[],
            )? {
                counts.insert(
                    r.get::<_, String>(0),
                    (r.get::<_, i64>(1), r.get::<_, i64>(2)),
                );
            }
            c.query(
                "SELECT name, MAX(doc), COUNT(*) FROM rulesets GROUP BY name ORDER BY name",
                &[],
            )?
            .iter()
            .map(|r| {
                let name: String = r.get(0);
                let doc: String = r.get(1);
                let rule: RuleInfo =
                    serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt {
                        what: format!("rule {name}"),
                        reason: e.to_string(),
                    })?;
                let (n, last) = counts.get(&name).copied().unwrap_or((0, 0));
                Ok(RuleSummary {
                    rule,
                    agents: r.get::<_, i64>(2) as u64,
                    alerts: n as u64,
                    last_alert_ns: last,
                })
            })
            .collect()
        })
    }

    fn add_token(&self, name: &str, role: Role, sha256_hex: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO tokens (sha256, name, role, created) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (sha256) DO UPDATE SET name = excluded.name, role = excluded.role",
                &[
                    &sha256_hex,
                    &name,
                    &role.as_str(),
                    &(now_ns() / 1_000_000_000),
                ],
            )?;
            Ok(())
        })
    }

    fn token(&self, sha256_hex: &str) -> Result<Option<TokenRecord>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT name, role, created FROM tokens WHERE sha256 = $1",
                &[&sha256_hex],
            )?
            .first()
            .and_then(|r| {
                let role: String = r.get(1);
                Role::parse(&role).map(|role| TokenRecord {
                    name: r.get(0),
                    role,
                    created: r.get(2),
                })
            }))
        })
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.with(|c| {
            Ok(
                c.query("SELECT name, role, created FROM tokens ORDER BY name", &[])?
                    .iter()
                    .filter_map(|r| {
                        let role: String = r.get(1);
                        Role::parse(&role).map(|role| TokenRecord {
                            name: r.get(0),
                            role,
                            created: r.get(2),
                        })
                    })
                    .collect(),
            )
        })
    }

    fn revoke_token(&self, name: &str) -> Result<usize> {
        self.with(|c| Ok(c.execute("DELETE FROM tokens WHERE name = $1", &[&name])? as usize))
    }

    fn retain(&self, policy: &Retention, now_ns: i64) -> Result<u64> {
        self.with(|c| {
            let mut deleted = 0u64;
            if policy.max_age_secs > 0 {
                let cutoff = now_ns - policy.max_age_secs * 1_000_000_000;
                deleted += c.execute("DELETE FROM alerts WHERE time_ns < $1", &[&cutoff])?;
            }
            if policy.max_alerts > 0 {
                let n: i64 = c.query_one("SELECT COUNT(*) FROM alerts", &[])?.get(0);
                let excess = n - policy.max_alerts as i64;
                if excess > 0 {
                    deleted += c.execute(
                        "DELETE FROM alerts WHERE rid IN (SELECT rid FROM alerts ORDER BY time_ns ASC LIMIT $1)",
                        &[&excess],
                    )?;
                }
            }
            // Planner statistics for the alert tables (sampled, cheap).
            c.batch_execute("ANALYZE alerts; ANALYZE alert_events;")?;
            if policy.max_bytes > 0 {
                for _ in 0..20 {
                    let used: i64 = c
                        .query_one(
                            "SELECT (pg_total_relation_size('alerts') + pg_total_relation_size('alert_events'))::BIGINT",
                            &[],
                        )?
                        .get(0);
                    if used as u64 <= policy.max_bytes {
                        break;
                    }
                    let n: i64 = c.query_one("SELECT COUNT(*) FROM alerts", &[])?.get(0);
                    if n == 0 {
                        break;
                    }
                    deleted += c.execute(
                        "DELETE FROM alerts WHERE rid IN (SELECT rid FROM alerts ORDER BY time_ns ASC LIMIT $1)",
                        &[&(n / 10).max(1)],
                    )?;
                    // Space is reusable only after a vacuum.
                    let _ = c.batch_execute("VACUUM alerts; VACUUM alert_events;");
                }
            }
            Ok(deleted)
        })
    }

    fn count(&self) -> Result<u64> {
        self.with(|c| {
            Ok(c.query_one("SELECT COUNT(*) FROM alerts", &[])?
                .get::<_, i64>(0) as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
    }
}
