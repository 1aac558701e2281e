//! The schema, written once as data and rendered for each back end, and the
//! upgrades of databases made by earlier versions.
//!
//! A new database gets the current schema at once; an older one runs the
//! upgrade steps after its recorded version. Versions: 1 (first schema),
//! 2 (covering time index), 3 (alerts unique per agent: key (id, agent)
//! and a content hash; the time index orders by (time, id, agent)),
//! 4 (incidents: `incidents`, `incident_alerts`, the append-only
//! `incident_history`).

use crate::dialect::Dialect;
use crate::exec::{Exec, Param};
use crate::{Result, StoreError};

/// The schema version this code writes.
pub(crate) const LATEST: i64 = 4;

#[derive(Debug, Clone, Copy)]
enum Ty {
    Int,
    Text,
    /// Auto-assigned 64-bit row id, the primary key.
    Serial,
}

/// A column.
#[derive(Debug, Clone, Copy)]
struct Col {
    name: &'static str,
    ty: Ty,
    not_null: bool,
    default: Option<&'static str>,
    references: Option<&'static str>,
}

const fn col(name: &'static str, ty: Ty) -> Col {
    Col {
        name,
        ty,
        not_null: true,
        default: None,
        references: None,
    }
}
const fn int(name: &'static str) -> Col {
    col(name, Ty::Int)
}
const fn text(name: &'static str) -> Col {
    col(name, Ty::Text)
}
impl Col {
    const fn nullable(mut self) -> Col {
        self.not_null = false;
        self
    }
    const fn default(mut self, sql: &'static str) -> Col {
        self.default = Some(sql);
        self
    }
    const fn references(mut self, sql: &'static str) -> Col {
        self.references = Some(sql);
        self
    }
}

/// A table.
struct Table {
    name: &'static str,
    cols: &'static [Col],
    primary_key: &'static [&'static str],
    /// SQLite: store rows in the primary key's B-tree.
    without_rowid: bool,
}

/// An index; `include` columns are stored, not ordered on (PostgreSQL
/// `INCLUDE`; SQLite appends them to the key, which covers the same reads).
struct Index {
    name: &'static str,
    table: &'static str,
    unique: bool,
    cols: &'static [&'static str],
    include: &'static [&'static str],
}

const ALERTS: Table = Table {
    name: "alerts",
    cols: &[
        col("rid", Ty::Serial),
        text("id"),
        int("time_ns"),
        int("received_ns"),
        text("rule"),
        int("priority"),
        text("source"),
        text("hostname"),
        text("agent"),
        text("container_id").default("''"),
        text("container_name").default("''"),
        text("image").default("''"),
        text("k8s_ns").default("''"),
        text("k8s_pod").default("''"),
        text("tags").default("''"),
        text("output"),
        int("count").default("1"),
        text("status").default("'open'"),
        text("status_by").nullable(),
        int("status_ns").nullable(),
        text("doc"),
        // SHA-256 of `doc` (empty for rows stored before version 3).
        text("content_hash").default("''"),
    ],
    primary_key: &[],
    without_rowid: false,
};

const TABLES: &[Table] = &[
    ALERTS,
    Table {
        name: "alert_events",
        cols: &[
            int("alert_rid").references("alerts(rid) ON DELETE CASCADE"),
            int("seq"),
            text("kind"),
            int("pid"),
            text("name"),
            text("exepath"),
            text("cmdline"),
            text("detail"),
        ],
        primary_key: &["alert_rid", "seq"],
        without_rowid: true,
    },
    Table {
        name: "agents",
        cols: &[text("id"), int("first_seen"), int("last_seen"), text("doc")],
        primary_key: &["id"],
        without_rowid: false,
    },
    Table {
        name: "rulesets",
        cols: &[text("agent"), text("name"), text("doc"), int("updated")],
        primary_key: &["agent", "name"],
        without_rowid: false,
    },
    Table {
        name: "tokens",
        cols: &[text("sha256"), text("name"), text("role"), int("created")],
        primary_key: &["sha256"],
        without_rowid: false,
    },
];

/// Version 4's tables: incidents, their alerts and their history.
const INCIDENT_TABLES: &[Table] = &[
    Table {
        name: "incidents",
        cols: &[
            col("id", Ty::Serial),
            text("rule"),
            text("hostname"),
            text("agent"),
            text("container_id"),
            text("container_name"),
            int("tree_pid"),
            int("priority"),
            text("status").default("'open'"),
            text("assignee").default("''"),
            int("first_ns"),
            int("last_ns"),
            int("alert_count").default("1"),
            int("created_ns"),
            int("updated_ns"),
        ],
        primary_key: &[],
        without_rowid: false,
    },
    Table {
        name: "incident_alerts",
        cols: &[
            int("incident_id").references("incidents(id)"),
            int("alert_rid").references("alerts(rid) ON DELETE CASCADE"),
        ],
        primary_key: &["incident_id", "alert_rid"],
        without_rowid: true,
    },
    Table {
        name: "incident_history",
        cols: &[
            col("seq", Ty::Serial),
            int("incident_id").references("incidents(id)"),
            int("at_ns"),
            text("actor"),
            text("action"),
            text("old"),
            text("new"),
        ],
        primary_key: &[],
        without_rowid: false,
    },
];

const INCIDENT_INDEXES: &[Index] = &[
    // Grouping looks up the open incident of a key.
    Index {
        name: "incidents_key",
        table: "incidents",
        unique: false,
        cols: &["rule", "hostname", "container_id", "tree_pid", "last_ns"],
        include: &[],
    },
    Index {
        name: "incidents_status",
        table: "incidents",
        unique: false,
        cols: &["status", "id"],
        include: &[],
    },
    Index {
        name: "incident_alerts_rid",
        table: "incident_alerts",
        unique: false,
        cols: &["alert_rid"],
        include: &[],
    },
    Index {
        name: "incident_history_of",
        table: "incident_history",
        unique: false,
        cols: &["incident_id", "seq"],
        include: &[],
    },
];

/// The history cannot be changed or deleted, only appended to.
fn append_only(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => {
            "CREATE TRIGGER incident_history_no_update BEFORE UPDATE ON incident_history BEGIN
                 SELECT RAISE(ABORT, 'incident history is append-only');
             END;
             CREATE TRIGGER incident_history_no_delete BEFORE DELETE ON incident_history BEGIN
                 SELECT RAISE(ABORT, 'incident history is append-only');
             END;"
        }
        Dialect::Postgres => {
            "CREATE OR REPLACE FUNCTION incident_history_append_only() RETURNS trigger
                 LANGUAGE plpgsql AS $$
                 BEGIN RAISE EXCEPTION 'incident history is append-only'; END $$;
             CREATE TRIGGER incident_history_append_only BEFORE UPDATE OR DELETE
                 ON incident_history FOR EACH STATEMENT
                 EXECUTE PROCEDURE incident_history_append_only();"
        }
    }
}

/// Version 3 → 4: the incident tables (alerts stored before stay outside
/// incidents).
fn upgrade_to_4(d: Dialect) -> String {
    let mut sql: String = INCIDENT_TABLES
        .iter()
        .map(|t| create_table(d, t, t.name))
        .collect();
    sql.extend(INCIDENT_INDEXES.iter().map(|i| create_index(d, i)));
    sql.push_str(append_only(d));
    sql
}

const fn by_time(name: &'static str, col: &'static [&'static str]) -> Index {
    Index {
        name,
        table: "alerts",
        unique: false,
        cols: col,
        include: &[],
    }
}

const INDEXES: &[Index] = &[
    // An alert is one agent's: ids are unique per agent. Id first, so a
    // lookup by id alone is served too.
    Index {
        name: "alerts_key",
        table: "alerts",
        unique: true,
        cols: &["id", "agent"],
        include: &[],
    },
    // Pages are read newest first in (time, id, agent) order; the columns
    // lists filter on and charts count are covered, so time-ranged pages
    // and aggregations read the index only.
    Index {
        name: "alerts_time",
        table: "alerts",
        unique: false,
        cols: &["time_ns", "id", "agent"],
        include: &[
            "priority",
            "status",
            "rule",
            "hostname",
            "container_name",
            "image",
            "k8s_ns",
        ],
    },
    by_time("alerts_rule", &["rule", "time_ns"]),
    by_time("alerts_prio", &["priority", "time_ns"]),
    by_time("alerts_host", &["hostname", "time_ns"]),
    by_time("alerts_cname", &["container_name", "time_ns"]),
    by_time("alerts_cid", &["container_id", "time_ns"]),
    by_time("alerts_image", &["image", "time_ns"]),
    by_time("alerts_k8s", &["k8s_ns", "time_ns"]),
    by_time("alerts_status", &["status", "time_ns"]),
];

/// SQLite's trigram index over output and rule, kept by triggers.
const SQLITE_FTS: &str = "CREATE VIRTUAL TABLE alerts_fts USING fts5(
        output, rule, content='alerts', content_rowid='rid', tokenize='trigram');";
const SQLITE_FTS_TRIGGERS: &str = "
    CREATE TRIGGER alerts_ai AFTER INSERT ON alerts BEGIN
        INSERT INTO alerts_fts(rowid, output, rule) VALUES (new.rid, new.output, new.rule);
    END;
    CREATE TRIGGER alerts_ad AFTER DELETE ON alerts BEGIN
        INSERT INTO alerts_fts(alerts_fts, rowid, output, rule)
            VALUES ('delete', old.rid, old.output, old.rule);
    END;";

fn create_table(d: Dialect, t: &Table, name: &str) -> String {
    let mut parts: Vec<String> = t
        .cols
        .iter()
        .map(|c| {
            let mut s = format!(
                "{} {}",
                c.name,
                match c.ty {
                    Ty::Int => d.int(),
                    Ty::Text => "TEXT",
                    Ty::Serial => d.serial_pk(),
                }
            );
            if c.not_null && !matches!(c.ty, Ty::Serial) {
                s.push_str(" NOT NULL");
            }
            if let Some(v) = c.default {
                s.push_str(" DEFAULT ");
                s.push_str(v);
            }
            if let Some(r) = c.references {
                s.push_str(" REFERENCES ");
                s.push_str(r);
            }
            s
        })
        .collect();
    if !t.primary_key.is_empty() {
        parts.push(format!("PRIMARY KEY ({})", t.primary_key.join(", ")));
    }
    let rowid = if t.without_rowid && d == Dialect::Sqlite {
        " WITHOUT ROWID"
    } else {
        ""
    };
    format!(
        "CREATE TABLE {name} (\n    {}\n){rowid};\n",
        parts.join(",\n    ")
    )
}

fn create_index(d: Dialect, i: &Index) -> String {
    let unique = if i.unique { "UNIQUE " } else { "" };
    let mut cols = i.cols.join(", ");
    let mut include = String::new();
    if !i.include.is_empty() {
        match d {
            Dialect::Sqlite => {
                cols.push_str(", ");
                cols.push_str(&i.include.join(", "));
            }
            Dialect::Postgres => include = format!(" INCLUDE ({})", i.include.join(", ")),
        }
    }
    format!(
        "CREATE {unique}INDEX IF NOT EXISTS {} ON {}({cols}){include};\n",
        i.name, i.table
    )
}

fn indexes_of(d: Dialect, table: &str) -> String {
    INDEXES
        .iter()
        .filter(|i| i.table == table)
        .map(|i| create_index(d, i))
        .collect()
}

/// The whole current schema for `d`.
pub(crate) fn create_all(d: Dialect) -> String {
    let mut sql: String = TABLES.iter().map(|t| create_table(d, t, t.name)).collect();
    sql.extend(INDEXES.iter().map(|i| create_index(d, i)));
    if d == Dialect::Sqlite {
        sql.push_str(SQLITE_FTS);
        sql.push_str(SQLITE_FTS_TRIGGERS);
    }
    sql.push_str(&upgrade_to_4(d));
    sql
}

/// Columns of `alerts` before version 3 (all but `content_hash`).
fn v2_alert_columns() -> String {
    let cols: Vec<&str> = ALERTS
        .cols
        .iter()
        .map(|c| c.name)
        .filter(|n| *n != "content_hash")
        .collect();
    cols.join(", ")
}

/// Version 1 or 2 → 3. SQLite cannot drop the old `UNIQUE (id)`, so the
/// table is rebuilt (row ids kept, so context events and the FTS index stay
/// valid; the caller turns foreign keys off around it); PostgreSQL alters it.
fn upgrade_to_3(d: Dialect) -> String {
    match d {
        Dialect::Sqlite => {
            let cols = v2_alert_columns();
            format!(
                "{create}INSERT INTO alerts_v3 ({cols}) SELECT {cols} FROM alerts;
                 DROP TABLE alerts;
                 ALTER TABLE alerts_v3 RENAME TO alerts;
                 {indexes}{SQLITE_FTS_TRIGGERS}",
                create = create_table(d, &ALERTS, "alerts_v3"),
                indexes = indexes_of(d, "alerts"),
            )
        }
        Dialect::Postgres => format!(
            "ALTER TABLE alerts DROP CONSTRAINT IF EXISTS alerts_id_key;
             ALTER TABLE alerts ADD COLUMN content_hash TEXT NOT NULL DEFAULT '';
             DROP INDEX IF EXISTS alerts_time;
             {}",
            indexes_of(d, "alerts")
        ),
    }
}

/// Bring the database `x` talks to up to [`LATEST`] (run it in a
/// transaction). Returns the version found.
pub(crate) fn migrate(x: &mut dyn Exec, d: Dialect) -> Result<i64> {
    x.batch(&format!(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version {} PRIMARY KEY)",
        d.int()
    ))?;
    let current = x.int(
        "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM schema_migrations",
        &[],
    )?;
    if current > LATEST {
        return Err(StoreError::Open(format!(
            "database schema version {current} is newer than this Peregrine ({LATEST})"
        )));
    }
    match current {
        LATEST => return Ok(current),
        0 => x.batch(&create_all(d))?,
        3 => x.batch(&upgrade_to_4(d))?,
        // From 1 too: the rebuild makes version 2's index change as well.
        _ => {
            tracing::info!(
                from = current,
                "upgrading the store schema (alerts table rebuilt: may take a while on a large database)"
            );
            x.batch(&upgrade_to_3(d))?;
            x.batch(&upgrade_to_4(d))?
        }
    }
    for v in current + 1..=LATEST {
        x.exec(
            "INSERT INTO schema_migrations(version) VALUES (?1)",
            &[Param::Int(v)],
        )?;
    }
    tracing::info!(from = current, to = LATEST, "store schema migrated");
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn schema_renders_per_dialect() {
        let pg = create_all(Dialect::Postgres);
        assert!(pg.contains("rid BIGSERIAL PRIMARY KEY,"), "{pg}");
        assert!(pg.contains("INCLUDE (priority, status"), "{pg}");
        assert!(!pg.contains("WITHOUT ROWID") && !pg.contains("fts5"));
        let lite = create_all(Dialect::Sqlite);
        assert!(lite.contains("rid INTEGER PRIMARY KEY,"), "{lite}");
        assert!(lite.contains("alerts_time ON alerts(time_ns, id, agent, priority"));
        assert!(lite.contains(") WITHOUT ROWID;"));
        assert!(lite.contains("CREATE UNIQUE INDEX IF NOT EXISTS alerts_key ON alerts(id, agent)"));
    }
}
