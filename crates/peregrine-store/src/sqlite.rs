//! Embedded SQLite backend: one writer connection, a small pool of readers
//! (WAL lets them run beside the writer), FTS5 trigram index for free-text
//! search.

use crate::model::Columns;
use crate::query::{self, cursor_after, like_escape, Dialect, Param};
use crate::*;
use rusqlite::{params, Connection, OptionalExtension, ToSql};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Schema versions, applied in order; each runs once, in a transaction.
const MIGRATIONS: &[&str] = &[
    // 1: alerts with indexed columns, context events, agents, rule sets, tokens.
    "CREATE TABLE alerts (
        rid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        time_ns INTEGER NOT NULL,
        received_ns INTEGER NOT NULL,
        rule TEXT NOT NULL,
        priority INTEGER NOT NULL,
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
        count INTEGER NOT NULL DEFAULT 1,
        status TEXT NOT NULL DEFAULT 'open',
        status_by TEXT,
        status_ns INTEGER,
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
    CREATE VIRTUAL TABLE alerts_fts USING fts5(
        output, rule, content='alerts', content_rowid='rid', tokenize='trigram');
    CREATE TRIGGER alerts_ai AFTER INSERT ON alerts BEGIN
        INSERT INTO alerts_fts(rowid, output, rule) VALUES (new.rid, new.output, new.rule);
    END;
    CREATE TRIGGER alerts_ad AFTER DELETE ON alerts BEGIN
        INSERT INTO alerts_fts(alerts_fts, rowid, output, rule)
            VALUES ('delete', old.rid, old.output, old.rule);
    END;
    CREATE TABLE alert_events (
        alert_rid INTEGER NOT NULL REFERENCES alerts(rid) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        pid INTEGER NOT NULL,
        name TEXT NOT NULL,
        exepath TEXT NOT NULL,
        cmdline TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (alert_rid, seq)
    ) WITHOUT ROWID;
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE TABLE rulesets (
        agent TEXT NOT NULL,
        name TEXT NOT NULL,
        doc TEXT NOT NULL,
        updated INTEGER NOT NULL,
        PRIMARY KEY (agent, name)
    );
    CREATE TABLE tokens (
        sha256 TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        created INTEGER NOT NULL
    );",
    // 2: the time index covers what lists filter on and charts count, so
    // time-ranged pages and aggregations read the index only.
    "DROP INDEX alerts_time;
    CREATE INDEX alerts_time ON alerts(time_ns, id, priority, status, rule, hostname,
        container_name, image, k8s_ns);",
];

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn configure(c: &Connection) -> rusqlite::Result<()> {
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;",
    )
}

fn to_sql(p: &[Param]) -> Vec<Box<dyn ToSql>> {
    p.iter()
        .map(|p| -> Box<dyn ToSql> {
            match p {
                Param::Int(i) => Box::new(*i),
                Param::Text(s) => Box::new(s.clone()),
            }
        })
        .collect()
}

fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// Free text through the trigram index: cost grows with the matches.
fn fts_index(text: &str, params: &mut Vec<Param>, ph: &dyn Fn(usize) -> String) -> String {
    let p = ph(params.len() + 1);
    params.push(Param::Text(fts_phrase(text)));
    format!("rid IN (SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH {p})")
}

/// Free text by scanning (newest first): cost grows with the rows read
/// until a page is full, so it wins for frequent terms.
fn fts_scan(text: &str, params: &mut Vec<Param>, ph: &dyn Fn(usize) -> String) -> String {
    let p = ph(params.len() + 1);
    params.push(Param::Text(format!("%{}%", like_escape(text))));
    format!("(output LIKE {p} ESCAPE '\\' OR rule LIKE {p} ESCAPE '\\')")
}

/// Matches above which a scan beats the index.
const FREQUENT: i64 = 1000;

/// Pick the free-text strategy for `q` (trigrams need 3 characters).
fn text_strategy(c: &Connection, q: &AlertQuery) -> Result<query::FtsFn<'static>> {
    let Some(t) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(&fts_index);
    };
    if t.chars().count() < 3 {
        return Ok(&fts_scan);
    }
    let n: i64 = c.query_row(
        &format!("SELECT COUNT(*) FROM (SELECT 1 FROM alerts_fts WHERE alerts_fts MATCH ?1 LIMIT {FREQUENT})"),
        [fts_phrase(t)],
        |r| r.get(0),
    )?;
    Ok(if n >= FREQUENT { &fts_scan } else { &fts_index })
}

pub(crate) fn decode_alert(
    id: &str,
    doc: &str,
    agent: String,
    status: &str,
    status_by: Option<String>,
    received_ns: i64,
    time_ns: i64,
) -> Result<StoredAlert> {
    let alert: Alert = serde_json::from_str(doc).map_err(|e| StoreError::Corrupt {
        what: format!("alert {id}"),
        reason: e.to_string(),
    })?;
    Ok(StoredAlert {
        alert,
        agent,
        status: Status::parse(status).unwrap_or_default(),
        status_by,
        received_ns,
        time_ns,
    })
}

const ALERT_COLS: &str = "id, doc, agent, status, status_by, received_ns, time_ns";

/// id, doc, agent, status, status_by, received_ns, time_ns.
type AlertRow = (String, String, String, String, Option<String>, i64, i64);

fn row_alert(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

impl SqliteStore {
    /// Open (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Open(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut c = Connection::open(path)?;
        let mode: String = c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if mode != "wal" {
            tracing::warn!(path = %path.display(), "SQLite WAL mode unavailable (journal_mode={mode})");
        }
        configure(&c)?;
        migrate(&mut c)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(c),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                configure(&c)?;
                c
            }
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }

    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut c = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c)
    }
}

fn migrate(c: &mut Connection) -> Result<()> {
    c.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")?;
    let current: i64 = c.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    if current > MIGRATIONS.len() as i64 {
        return Err(StoreError::Open(format!(
            "database schema version {current} is newer than this Peregrine ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = c.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations(version) VALUES (?1)",
            [i as i64 + 1],
        )?;
        tx.commit()?;
        tracing::info!(version = i + 1, "store schema migrated");
    }
    Ok(())
}

fn top10(m: std::collections::HashMap<String, u64>) -> Vec<Top> {
    crate::model::top10(
        m.into_iter()
            .map(|(name, count)| Top { name, count })
            .collect(),
    )
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn insert_alerts(&self, agent: &str, alerts: &[Alert]) -> Result<usize> {
        let now = now_ns();
        self.write(|c| {
            let tx = c.transaction()?;
            let mut new = 0;
            {
                let mut ins = tx.prepare_cached(
                    "INSERT OR IGNORE INTO alerts (id, time_ns, received_ns, rule, priority, source, hostname, agent,
                        container_id, container_name, image, k8s_ns, k8s_pod, tags, output, count, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                )?;
                let mut ev = tx.prepare_cached(
                    "INSERT INTO alert_events (alert_rid, seq, kind, pid, name, exepath, cmdline, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for a in alerts {
                    let col = Columns::of(a);
                    let doc = serde_json::to_string(a).unwrap_or_default();
                    let n = ins.execute(params![
                        a.id,
                        col.time_ns,
                        now,
                        a.rule,
                        col.priority,
                        a.source,
                        a.hostname,
                        agent,
                        col.container_id,
                        col.container_name,
                        col.image,
                        col.k8s_ns,
                        col.k8s_pod,
                        col.tags,
                        a.output,
                        a.count as i64,
                        doc
                    ])?;
                    if n == 0 {
                        continue;
                    }
                    new += 1;
                    let rid = tx.last_insert_rowid();
                    for e in context_of(a) {
                        ev.execute(params![
                            rid,
                            e.seq,
                            e.kind,
                            e.pid,
                            e.name,
                            e.exepath,
                            e.cmdline,
                            serde_json::to_string(&e.detail).unwrap_or_default()
                        ])?;
                    }
                }
            }
            tx.commit()?;
            Ok(new)
        })
    }

    fn query_alerts(&self, q: &AlertQuery) -> Result<AlertPage> {
        let limit = q.page_size();
        self.read(|c| {
            let fts = text_strategy(c, q)?;
            let (where_all, p_all) = q.where_sql(Dialect::Sqlite, false, fts)?;
            let (where_page, p_page) = q.where_sql(Dialect::Sqlite, true, fts)?;
            let sql = format!(
                "SELECT {ALERT_COLS} FROM alerts WHERE {where_page} ORDER BY time_ns DESC, id DESC LIMIT {}",
                limit + 1
            );
            let mut st = c.prepare_cached(&sql)?;
            let args = to_sql(&p_page);
            let rows: Vec<_> = st
                .query_map(rusqlite::params_from_iter(args.iter()), row_alert)?
                .collect::<rusqlite::Result<_>>()?;
            let mut alerts = Vec::with_capacity(rows.len());
            for (id, doc, agent, status, by, rec, t) in rows {
                alerts.push(decode_alert(&id, &doc, agent, &status, by, rec, t)?);
            }
            let next = if alerts.len() > limit as usize {
                alerts.truncate(limit as usize);
                alerts.last().map(|a| cursor_after(a.time_ns, &a.alert.id))
            } else {
                None
            };
            let cap = AlertPage::COUNT_CAP;
            let sql = format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM alerts WHERE {where_all} LIMIT {})",
                cap + 1
            );
            let args = to_sql(&p_all);
            let n: i64 = c.query_row(&sql, rusqlite::params_from_iter(args.iter()), |r| r.get(0))?;
            Ok(AlertPage {
                alerts,
                total: (n as u64).min(cap),
                total_capped: n as u64 > cap,
                next,
            })
        })
    }

    fn get_alert(&self, id: &str) -> Result<Option<StoredAlert>> {
        self.read(|c| {
            let row = c
                .query_row(
                    &format!("SELECT {ALERT_COLS} FROM alerts WHERE id = ?1"),
                    [id],
                    row_alert,
                )
                .optional()?;
            row.map(|(id, doc, agent, status, by, rec, t)| {
                decode_alert(&id, &doc, agent, &status, by, rec, t)
            })
            .transpose()
        })
    }

    fn alert_events(&self, id: &str) -> Result<Vec<ContextEvent>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT e.seq, e.kind, e.pid, e.name, e.exepath, e.cmdline, e.detail
                 FROM alert_events e JOIN alerts a ON a.rid = e.alert_rid
                 WHERE a.id = ?1 ORDER BY e.seq",
            )?;
            let rows = st.query_map([id], |r| {
                let detail: String = r.get(6)?;
                Ok(ContextEvent {
                    seq: r.get(0)?,
                    kind: r.get(1)?,
                    pid: r.get(2)?,
                    name: r.get(3)?,
                    exepath: r.get(4)?,
                    cmdline: r.get(5)?,
                    detail: serde_json::from_str(&detail).unwrap_or_default(),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn set_status(&self, id: &str, status: Status, by: &str) -> Result<bool> {
        self.write(|c| {
            let n = c.execute(
                "UPDATE alerts SET status = ?1, status_by = ?2, status_ns = ?3 WHERE id = ?4",
                params![status.as_str(), by, now_ns(), id],
            )?;
            Ok(n > 0)
        })
    }

    fn aggregate(&self, q: &AlertQuery, bucket_secs: i64) -> Result<Aggregation> {
        let bucket_secs = bucket_secs.clamp(1, 366 * 86400);
        self.read(|c| {
            let (where_, p) = q.where_sql(Dialect::Sqlite, false, text_strategy(c, q)?)?;
            let args = to_sql(&p);
            let mut agg = Aggregation {
                bucket_secs,
                ..Default::default()
            };
            // One pass over the (covering) time index, counted here: one
            // scan instead of one GROUP BY per chart.
            let sql = format!(
                "SELECT time_ns, priority, status, rule, hostname, container_name, image
                 FROM alerts WHERE {where_}"
            );
            let mut st = c.prepare(&sql)?;
            let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
            let mut buckets: std::collections::BTreeMap<i64, [u64; 8]> = Default::default();
            let mut tops: [std::collections::HashMap<String, u64>; 4] = Default::default();
            let bns = bucket_secs * 1_000_000_000;
            while let Some(r) = rows.next()? {
                let t: i64 = r.get(0)?;
                let pi = r.get::<_, i64>(1)?.clamp(0, 7) as usize;
                agg.total += 1;
                agg.by_priority[pi] += 1;
                buckets
                    .entry(t.div_euclid(bns) * bucket_secs)
                    .or_insert([0; 8])[pi] += 1;
                let status = r.get_ref(2)?.as_str().unwrap_or("");
                match agg.by_status.get_mut(status) {
                    Some(n) => *n += 1,
                    None => {
                        agg.by_status.insert(status.to_string(), 1);
                    }
                }
                for (i, m) in tops.iter_mut().enumerate() {
                    let v = r.get_ref(3 + i)?.as_str().unwrap_or("");
                    if v.is_empty() {
                        continue;
                    }
                    match m.get_mut(v) {
                        Some(n) => *n += 1,
                        None => {
                            m.insert(v.to_string(), 1);
                        }
                    }
                }
            }
            agg.buckets = buckets
                .into_iter()
                .map(|(start, counts)| Bucket { start, counts })
                .collect();
            let [rules, hosts, containers, images] = tops.map(top10);
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
        self.write(|c| {
            c.execute(
                "INSERT INTO agents (id, first_seen, last_seen, doc) VALUES (?1, ?2, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen, doc = excluded.doc",
                params![hb.agent, now, doc],
            )?;
            Ok(())
        })
    }

    fn agents(&self) -> Result<Vec<AgentRecord>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT id, first_seen, last_seen, doc FROM agents ORDER BY last_seen DESC",
            )?;
            let rows: Vec<(String, i64, i64, String)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?;
            rows.into_iter()
                .map(|(id, first, last, doc)| {
                    let heartbeat =
                        serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt {
                            what: format!("agent {id}"),
                            reason: e.to_string(),
                        })?;
                    Ok(AgentRecord {
                        heartbeat,
                        first_seen: first,
                        last_seen: last,
                    })
                })
                .collect()
        })
    }

    fn put_ruleset(&self, agent: &str, rules: &[RuleInfo]) -> Result<()> {
        let now = now_ns() / 1_000_000_000;
        self.write(|c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM rulesets WHERE agent = ?1", [agent])?;
            {
                let mut st = tx.prepare(
                    "INSERT OR REPLACE INTO rulesets (agent, name, doc, updated) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for r in rules {
                    st.execute(params![
                        agent,
                        r.name,
                        serde_json::to_string(r).unwrap_or_default(),
                        now
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn rules(&self) -> Result<Vec<RuleSummary>> {
        self.read(|c| {
            let mut counts = std::collections::HashMap::new();
            let mut st =
                c.prepare("SELECT rule, COUNT(*), MAX(time_ns) FROM alerts GROUP BY rule")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                counts.insert(
                    r.get::<_, String>(0)?,
                    (r.get::<_, i64>(1)?, r.get::<_, i64>(2)?),
                );
            }
            let mut st =
                c.prepare("SELECT name, doc, COUNT(*) FROM rulesets GROUP BY name ORDER BY name")?;
            let rows: Vec<(String, String, i64)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            rows.into_iter()
                .map(|(name, doc, agents)| {
                    let rule: RuleInfo =
                        serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt {
                            what: format!("rule {name}"),
                            reason: e.to_string(),
                        })?;
                    let (n, last) = counts.get(&name).copied().unwrap_or((0, 0));
                    Ok(RuleSummary {
                        rule,
                        agents: agents as u64,
                        alerts: n as u64,
                        last_alert_ns: last,
                    })
                })
                .collect()
        })
    }

    fn add_token(&self, name: &str, role: Role, sha256_hex: &str) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT OR REPLACE INTO tokens (sha256, name, role, created) VALUES (?1, ?2, ?3, ?4)",
                params![sha256_hex, name, role.as_str(), now_ns() / 1_000_000_000],
            )?;
            Ok(())
        })
    }

    fn token(&self, sha256_hex: &str) -> Result<Option<TokenRecord>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT name, role, created FROM tokens WHERE sha256 = ?1",
                [sha256_hex],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?)),
            )
            .optional()?
            .and_then(|(name, role, created)| {
                Role::parse(&role).map(|role| TokenRecord {
                    name,
                    role,
                    created,
                })
            }))
        })
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT name, role, created FROM tokens ORDER BY name")?;
            let rows: Vec<(String, String, i64)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows
                .into_iter()
                .filter_map(|(name, role, created)| {
                    Role::parse(&role).map(|role| TokenRecord {
                        name,
                        role,
                        created,
                    })
                })
                .collect())
        })
    }

    fn revoke_token(&self, name: &str) -> Result<usize> {
        self.write(|c| Ok(c.execute("DELETE FROM tokens WHERE name = ?1", [name])?))
    }

    fn retain(&self, policy: &Retention, now_ns: i64) -> Result<u64> {
        self.write(|c| {
            let mut deleted = 0u64;
            if policy.max_age_secs > 0 {
                let cutoff = now_ns - policy.max_age_secs * 1_000_000_000;
                deleted += c.execute("DELETE FROM alerts WHERE time_ns < ?1", [cutoff])? as u64;
            }
            if policy.max_alerts > 0 {
                let n: i64 = c.query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get(0))?;
                let excess = n - policy.max_alerts as i64;
                if excess > 0 {
                    deleted += c.execute(
                        "DELETE FROM alerts WHERE rid IN (SELECT rid FROM alerts ORDER BY time_ns ASC LIMIT ?1)",
                        [excess],
                    )? as u64;
                }
            }
            if policy.max_bytes > 0 {
                for _ in 0..20 {
                    let used: i64 = c.query_row(
                        "SELECT (p.page_count - f.freelist_count) * s.page_size
                         FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() s",
                        [],
                        |r| r.get(0),
                    )?;
                    if used as u64 <= policy.max_bytes {
                        break;
                    }
                    let n: i64 = c.query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get(0))?;
                    if n == 0 {
                        break;
                    }
                    deleted += c.execute(
                        "DELETE FROM alerts WHERE rid IN (SELECT rid FROM alerts ORDER BY time_ns ASC LIMIT ?1)",
                        [(n / 10).max(1)],
                    )? as u64;
                }
            }
            Ok(deleted)
        })
    }

    fn count(&self) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM alerts", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }
}
