//! Embedded SQLite backend: one writer connection, a small pool of readers
//! (WAL lets them run beside the writer), FTS5 trigram index for free-text
//! search. Schema and queries are the shared ones ([`crate::ops`]).

use crate::dialect::{fts_phrase, Dialect, TextSearch};
use crate::exec::{Exec, Param, Row, Value};
use crate::*;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

const D: Dialect = Dialect::Sqlite;

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    window: AtomicI64,
}

fn configure(c: &Connection) -> rusqlite::Result<()> {
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.set_prepared_statement_cache_capacity(64);
    c.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;",
    )
}

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Int(i) => ToSqlOutput::from(*i),
            Param::Str(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// [`Exec`] over a connection or transaction (cached statements).
struct Lite<'a>(&'a Connection);

impl Exec for Lite<'_> {
    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let mut st = self.0.prepare_cached(sql)?;
        Ok(st.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn rows(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
        let mut st = self.0.prepare_cached(sql)?;
        let n = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut v = Vec::with_capacity(n);
            for i in 0..n {
                v.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(x) => Value::Int(x),
                    ValueRef::Real(x) => Value::Int(x as i64),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Value::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            out.push(Row(v));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.0.execute_batch(sql)?)
    }
}

/// Matches above which a scan beats the index.
const FREQUENT: i64 = 1000;

/// Pick the free-text strategy for `q` (trigrams need 3 characters).
fn text_strategy(c: &Connection, q: &AlertQuery) -> Result<TextSearch> {
    let Some(t) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(TextSearch::Index);
    };
    if t.chars().count() < 3 {
        return Ok(TextSearch::Scan);
    }
    let n = Lite(c).int(
        &format!("SELECT COUNT(*) FROM (SELECT 1 FROM alerts_fts WHERE alerts_fts MATCH ?1 LIMIT {FREQUENT})"),
        &[Param::Text(fts_phrase(t))],
    )?;
    Ok(if n >= FREQUENT {
        TextSearch::Scan
    } else {
        TextSearch::Index
    })
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
            window: AtomicI64::new(DEFAULT_WINDOW_SECS),
        })
    }

    /// Database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read<T>(&self, f: impl FnOnce(&Connection, &mut dyn Exec) -> Result<T>) -> Result<T> {
        let conn = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                configure(&c)?;
                c
            }
        };
        let out = f(&conn, &mut Lite(&conn));
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }

    fn write<T>(&self, f: impl FnOnce(&mut dyn Exec) -> Result<T>) -> Result<T> {
        let c = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut Lite(&c))
    }

    /// Run `f` in one write transaction.
    fn write_tx<T>(&self, f: impl FnOnce(&mut dyn Exec) -> Result<T>) -> Result<T> {
        let mut c = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = c.transaction()?;
        let out = f(&mut Lite(&tx))?;
        tx.commit()?;
        Ok(out)
    }
}

/// Apply the shared schema. Upgrades rebuild `alerts`, so foreign keys are
/// off meanwhile (else dropping the old table would delete every context
/// row) and checked after.
fn migrate(c: &mut Connection) -> Result<()> {
    c.execute_batch("PRAGMA foreign_keys = OFF")?;
    let tx = c.transaction()?;
    let from = schema::migrate(&mut Lite(&tx), D)?;
    if from > 0 && from < schema::LATEST {
        let broken = Lite(&tx).rows("PRAGMA foreign_key_check", &[])?;
        if !broken.is_empty() {
            return Err(StoreError::Open(format!(
                "schema upgrade left {} dangling context rows",
                broken.len()
            )));
        }
    }
    tx.commit()?;
    c.execute_batch("PRAGMA foreign_keys = ON")?;
    Ok(())
}

fn top10(m: std::collections::HashMap<String, u64>) -> Vec<Top> {
    crate::model::top10(
        m.into_iter()
            .map(|(name, count)| Top { name, count })
            .collect(),
    )
}

/// Counts for the charts in one pass over the (covering) time index,
/// counted here: one scan instead of one GROUP BY per chart.
fn aggregate(c: &Connection, q: &AlertQuery, bucket_secs: i64) -> Result<Aggregation> {
    let (where_, p) = q.where_sql(D, false, text_strategy(c, q)?)?;
    let mut agg = Aggregation {
        bucket_secs,
        ..Default::default()
    };
    let sql = format!(
        "SELECT time_ns, priority, status, rule, hostname, container_name, image
         FROM alerts WHERE {where_}"
    );
    let mut st = c.prepare(&sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(&p))?;
    let mut buckets: std::collections::BTreeMap<i64, [u64; 8]> = Default::default();
    let mut tops: [std::collections::HashMap<String, u64>; 4] = Default::default();
    let bns = bucket_secs * 1_000_000_000;
    let bump = |m: &mut std::collections::HashMap<String, u64>, v: &str| match m.get_mut(v) {
        Some(n) => *n += 1,
        None => {
            m.insert(v.to_string(), 1);
        }
    };
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
            if !v.is_empty() {
                bump(m, v);
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
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn insert_alerts(&self, agent: &str, alerts: &[Alert]) -> Result<Inserted> {
        self.write_tx(|x| ops::insert_alerts(x, agent, alerts, self.window.load(Ordering::Relaxed)))
    }

    fn query_alerts(&self, q: &AlertQuery) -> Result<AlertPage> {
        self.read(|c, x| ops::query_alerts(x, D, q, text_strategy(c, q)?))
    }

    fn get_alert(&self, agent: Option<&str>, id: &str) -> Result<Option<StoredAlert>> {
        self.read(|_, x| ops::get_alert(x, agent, id))
    }

    fn alert_events(&self, agent: Option<&str>, id: &str) -> Result<Vec<ContextEvent>> {
        self.read(|_, x| ops::alert_events(x, agent, id))
    }

    fn set_status(&self, agent: Option<&str>, id: &str, status: Status, by: &str) -> Result<bool> {
        self.write(|x| ops::set_status(x, agent, id, status, by))
    }

    fn aggregate(&self, q: &AlertQuery, bucket_secs: i64) -> Result<Aggregation> {
        let bucket_secs = bucket_secs.clamp(1, 366 * 86400);
        self.read(|c, _| aggregate(c, q, bucket_secs))
    }

    fn response_times(&self, q: &AlertQuery) -> Result<ResponseTimes> {
        self.read(|c, x| crate::times::response_times(x, D, q, text_strategy(c, q)?))
    }

    fn heartbeat(&self, hb: &Heartbeat) -> Result<()> {
        self.write(|x| ops::heartbeat(x, hb))
    }

    fn agents(&self) -> Result<Vec<AgentRecord>> {
        self.read(|_, x| ops::agents(x))
    }

    fn put_ruleset(&self, agent: &str, rules: &[RuleInfo]) -> Result<()> {
        self.write_tx(|x| ops::put_ruleset(x, agent, rules))
    }

    fn rules(&self) -> Result<Vec<RuleSummary>> {
        self.read(|_, x| ops::rules(x))
    }

    fn add_token(&self, name: &str, role: Role, sha256_hex: &str) -> Result<()> {
        self.write(|x| ops::add_token(x, name, role, sha256_hex))
    }

    fn token(&self, sha256_hex: &str) -> Result<Option<TokenRecord>> {
        self.read(|_, x| ops::token(x, sha256_hex))
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.read(|_, x| ops::tokens(x))
    }

    fn revoke_token(&self, name: &str) -> Result<usize> {
        self.write(|x| ops::revoke_token(x, name))
    }

    fn retain(&self, policy: &Retention, now_ns: i64) -> Result<u64> {
        self.write(|x| ops::retain(x, D, policy, now_ns))
    }

    fn count(&self) -> Result<u64> {
        self.read(|_, x| ops::count(x))
    }

    fn set_incident_window(&self, secs: i64) {
        self.window.store(secs.max(0), Ordering::Relaxed);
    }

    fn incidents(&self, q: &IncidentQuery) -> Result<Vec<Incident>> {
        self.read(|_, x| crate::incidents::list(x, q))
    }

    fn incident(&self, id: i64) -> Result<Option<IncidentDetail>> {
        self.read(|_, x| crate::incidents::detail(x, id))
    }

    fn update_incidents(&self, ids: &[i64], change: &IncidentChange, by: &str) -> Result<Vec<i64>> {
        self.write_tx(|x| crate::incidents::update(x, ids, change, by))
    }
}
