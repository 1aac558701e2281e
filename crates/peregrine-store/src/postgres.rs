//! PostgreSQL backend for fleets: a small connection pool (each connection
//! keeps its prepared statements), the shared schema and queries
//! ([`crate::ops`]), `pg_trgm` for free-text search when the extension can
//! be created (plain ILIKE otherwise).

use crate::dialect::{Dialect, TextSearch};
use crate::exec::{Exec, Param, Row, Value};
use crate::*;
use ::postgres::types::{ToSql, Type};
use ::postgres::{Client, GenericClient, NoTls, Statement};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

const D: Dialect = Dialect::Postgres;

/// Prepared statements kept per connection (dynamic search SQL included,
/// so the cache is bounded).
const STATEMENT_CACHE: usize = 128;

/// A pooled connection and its prepared statements.
struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// The PostgreSQL store.
pub struct PgStore {
    url: String,
    pool: Mutex<Vec<Conn>>,
    window: AtomicI64,
}

/// [`Exec`] over a client or transaction, preparing each SQL text once.
struct Pg<'a, C: GenericClient> {
    c: &'a mut C,
    statements: &'a mut HashMap<String, Statement>,
}

fn pg_params<'a>(p: &'a [Param<'_>]) -> Vec<&'a (dyn ToSql + Sync)> {
    p.iter()
        .map(|p| -> &(dyn ToSql + Sync) {
            match p {
                Param::Int(i) => i,
                Param::Str(s) => s,
                Param::Text(s) => s,
            }
        })
        .collect()
}

fn value(r: &::postgres::Row, i: usize) -> Result<Value> {
    let ty = r.columns()[i].type_();
    let v = if *ty == Type::INT8 {
        r.try_get::<_, Option<i64>>(i)?.map(Value::Int)
    } else if *ty == Type::INT4 {
        r.try_get::<_, Option<i32>>(i)?
            .map(|x| Value::Int(x.into()))
    } else if *ty == Type::INT2 {
        r.try_get::<_, Option<i16>>(i)?
            .map(|x| Value::Int(x.into()))
    } else {
        r.try_get::<_, Option<String>>(i)?.map(Value::Text)
    };
    Ok(v.unwrap_or(Value::Null))
}

impl<C: GenericClient> Pg<'_, C> {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.c.prepare(&D.placeholders(sql))?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

impl<C: GenericClient> Exec for Pg<'_, C> {
    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let st = self.statement(sql)?;
        Ok(self.c.execute(&st, &pg_params(params))?)
    }

    fn rows(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
        let st = self.statement(sql)?;
        self.c
            .query(&st, &pg_params(params))?
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| value(r, i))
                    .collect::<Result<_>>()
                    .map(Row)
            })
            .collect()
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.c.batch_execute(sql)?)
    }
}

impl PgStore {
    /// Connect and migrate.
    pub fn connect(url: &str) -> Result<PgStore> {
        let s = PgStore {
            url: url.to_string(),
            pool: Mutex::new(Vec::new()),
            window: AtomicI64::new(DEFAULT_WINDOW_SECS),
        };
        let mut c = s.conn()?;
        migrate(&mut c)?;
        s.put_back(c);
        Ok(s)
    }

    fn conn(&self) -> Result<Conn> {
        if let Some(c) = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            if !c.client.is_closed() {
                return Ok(c);
            }
        }
        let client = Client::connect(&self.url, NoTls).map_err(|e| {
            StoreError::Open(format!(
                "cannot connect to PostgreSQL at {}: {e}",
                redact(&self.url)
            ))
        })?;
        Ok(Conn {
            client,
            statements: HashMap::new(),
        })
    }

    fn put_back(&self, c: Conn) {
        let mut p = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if p.len() < 8 && !c.client.is_closed() {
            p.push(c);
        }
    }

    /// Run `f` on a pooled connection (autocommit).
    fn with<T>(&self, f: impl FnOnce(&mut dyn Exec) -> Result<T>) -> Result<T> {
        let mut c = self.conn()?;
        let Conn { client, statements } = &mut c;
        let out = f(&mut Pg {
            c: client,
            statements,
        });
        self.put_back(c);
        out
    }

    /// Run `f` in one transaction, again (up to 3 times) when PostgreSQL
    /// aborted it for a deadlock or serialization failure: concurrent
    /// batches sharing alert ids in different orders can deadlock, and
    /// nothing of an aborted transaction was stored.
    fn with_tx<T>(&self, f: impl Fn(&mut dyn Exec) -> Result<T>) -> Result<T> {
        let mut retries = 0;
        loop {
            match self.tx_once(&f) {
                Err(StoreError::Postgres(e)) if retries < 3 && retryable(&e) => {
                    retries += 1;
                    tracing::debug!("transaction retried: {e}");
                }
                out => return out,
            }
        }
    }

    fn tx_once<T>(&self, f: &impl Fn(&mut dyn Exec) -> Result<T>) -> Result<T> {
        let mut c = self.conn()?;
        let Conn { client, statements } = &mut c;
        let out = (|| {
            let mut tx = client.transaction()?;
            let out = f(&mut Pg {
                c: &mut tx,
                statements,
            })?;
            tx.commit()?;
            Ok(out)
        })();
        self.put_back(c);
        out
    }
}

fn retryable(e: &::postgres::Error) -> bool {
    use ::postgres::error::SqlState;
    matches!(e.code(), Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED
        || *c == SqlState::T_R_SERIALIZATION_FAILURE)
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

/// Apply the shared schema under an advisory lock (servers starting
/// together migrate once).
fn migrate(c: &mut Conn) -> Result<()> {
    let mut tx = c.client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock(7461726)", &[])?;
    let mut statements = HashMap::new();
    schema::migrate(
        &mut Pg {
            c: &mut tx,
            statements: &mut statements,
        },
        D,
    )?;
    tx.commit()?;
    // Optional: trigram index for substring search.
    if let Err(e) = c.client.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS pg_trgm;
         CREATE INDEX IF NOT EXISTS alerts_output_trgm ON alerts USING gin (output gin_trgm_ops);",
    ) {
        tracing::warn!("pg_trgm unavailable, free-text search scans: {e}");
    }
    Ok(())
}

/// Counts for the charts in one scan: grouping sets, told apart by
/// GROUPING().
fn aggregate(x: &mut dyn Exec, q: &AlertQuery, bucket_secs: i64) -> Result<Aggregation> {
    let (where_, p) = q.where_sql(D, false, TextSearch::Index)?;
    let mut agg = Aggregation {
        bucket_secs,
        ..Default::default()
    };
    let bns = bucket_secs * 1_000_000_000;
    let b = format!("(time_ns / {bns}) * {bucket_secs}");
    let sql = format!(
        "SELECT CAST(GROUPING({b}, priority, status, rule, hostname, container_name, image) AS BIGINT),
                {b}, priority, status, rule, hostname, container_name, image, COUNT(*)
         FROM alerts WHERE {where_}
         GROUP BY GROUPING SETS (({b}, priority, status), (rule), (hostname), (container_name), (image))"
    );
    let mut buckets: std::collections::BTreeMap<i64, [u64; 8]> = Default::default();
    let mut tops: [Vec<Top>; 4] = Default::default();
    for mut row in x.rows(&sql, &p)? {
        let g = row.int(0)?;
        let n = row.int(8)? as u64;
        // Bits, first grouped column most significant: 0b0001111 = the
        // (bucket, priority, status) set; otherwise one of the tops.
        if g == 0b0001111 {
            let pi = row.int(2)?.clamp(0, 7) as usize;
            agg.total += n;
            agg.by_priority[pi] += n;
            *agg.by_status.entry(row.text(3)?).or_default() += n;
            buckets.entry(row.int(1)?).or_insert([0; 8])[pi] += n;
            continue;
        }
        for (k, col) in (4..8).enumerate() {
            if g == 0b1111111 ^ (1 << (7 - col)) {
                let name = row.text(col)?;
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
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn insert_alerts(&self, agent: &str, alerts: &[Alert]) -> Result<Inserted> {
        self.with_tx(|x| ops::insert_alerts(x, agent, alerts, self.window.load(Ordering::Relaxed)))
    }

    fn query_alerts(&self, q: &AlertQuery) -> Result<AlertPage> {
        self.with(|x| ops::query_alerts(x, D, q, TextSearch::Index))
    }

    fn get_alert(&self, agent: Option<&str>, id: &str) -> Result<Option<StoredAlert>> {
        self.with(|x| ops::get_alert(x, agent, id))
    }

    fn alert_events(&self, agent: Option<&str>, id: &str) -> Result<Vec<ContextEvent>> {
        self.with(|x| ops::alert_events(x, agent, id))
    }

    fn set_status(&self, agent: Option<&str>, id: &str, status: Status, by: &str) -> Result<bool> {
        self.with(|x| ops::set_status(x, agent, id, status, by))
    }

    fn aggregate(&self, q: &AlertQuery, bucket_secs: i64) -> Result<Aggregation> {
        let bucket_secs = bucket_secs.clamp(1, 366 * 86400);
        self.with(|x| aggregate(x, q, bucket_secs))
    }

    fn response_times(&self, q: &AlertQuery) -> Result<ResponseTimes> {
        self.with(|x| crate::times::response_times(x, D, q, TextSearch::Index))
    }

    fn heartbeat(&self, hb: &Heartbeat) -> Result<()> {
        self.with(|x| ops::heartbeat(x, hb))
    }

    fn agents(&self) -> Result<Vec<AgentRecord>> {
        self.with(ops::agents)
    }

    fn put_ruleset(&self, agent: &str, rules: &[RuleInfo]) -> Result<()> {
        self.with_tx(|x| ops::put_ruleset(x, agent, rules))
    }

    fn rules(&self) -> Result<Vec<RuleSummary>> {
        self.with(ops::rules)
    }

    fn add_token(&self, name: &str, role: Role, sha256_hex: &str) -> Result<()> {
        self.with(|x| ops::add_token(x, name, role, sha256_hex))
    }

    fn token(&self, sha256_hex: &str) -> Result<Option<TokenRecord>> {
        self.with(|x| ops::token(x, sha256_hex))
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.with(ops::tokens)
    }

    fn revoke_token(&self, name: &str) -> Result<usize> {
        self.with(|x| ops::revoke_token(x, name))
    }

    fn retain(&self, policy: &Retention, now_ns: i64) -> Result<u64> {
        self.with(|x| ops::retain(x, D, policy, now_ns))
    }

    fn count(&self) -> Result<u64> {
        self.with(ops::count)
    }

    fn set_incident_window(&self, secs: i64) {
        self.window.store(secs.max(0), Ordering::Relaxed);
    }

    fn incidents(&self, q: &IncidentQuery) -> Result<Vec<Incident>> {
        self.with(|x| crate::incidents::list(x, q))
    }

    fn incident(&self, id: i64) -> Result<Option<IncidentDetail>> {
        self.with(|x| crate::incidents::detail(x, id))
    }

    fn update_incidents(&self, ids: &[i64], change: &IncidentChange, by: &str) -> Result<Vec<i64>> {
        self.with_tx(|x| crate::incidents::update(x, ids, change, by))
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
