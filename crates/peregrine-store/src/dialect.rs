//! What differs between the two SQL back ends, in one place: placeholder
//! spelling, column types, case-insensitive LIKE, the free-text condition,
//! and the few statements only one of them has. Everything else (schema,
//! queries) is written once in [`crate::schema`] and [`crate::ops`] in the
//! common subset of SQL both speak (`ON CONFLICT … DO NOTHING/UPDATE`,
//! `RETURNING`, `CAST`, `excluded.`).

use crate::exec::Param;
use crate::query::like_escape;

/// A SQL back end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite 3.35+ (bundled).
    Sqlite,
    /// PostgreSQL 11+.
    Postgres,
}

/// How a free-text condition is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextSearch {
    /// Through the back end's text index (SQLite: FTS5 trigrams;
    /// PostgreSQL: ILIKE, served by the pg_trgm index when present).
    Index,
    /// By reading rows newest first (wins for frequent terms).
    Scan,
}

impl Dialect {
    /// Integer column type (64-bit on both).
    pub fn int(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER",
            Dialect::Postgres => "BIGINT",
        }
    }

    /// An auto-assigned 64-bit row id primary key.
    pub fn serial_pk(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER PRIMARY KEY",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        }
    }

    /// Case-insensitive LIKE.
    fn like_ci(self) -> &'static str {
        match self {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        }
    }

    /// Rewrite `?N` placeholders (the spelling shared SQL is written in)
    /// for this back end. The shared SQL has no `?` in literals.
    pub fn placeholders(self, sql: &str) -> String {
        match self {
            Dialect::Sqlite => sql.to_string(),
            Dialect::Postgres => sql.replace('?', "$"),
        }
    }

    /// The condition "output or rule contains `text`, case-insensitively",
    /// binding its parameter as the next placeholder.
    pub fn text_condition(self, how: TextSearch, text: &str, params: &mut Vec<Param>) -> String {
        let p = format!("?{}", params.len() + 1);
        if self == Dialect::Sqlite && how == TextSearch::Index {
            params.push(Param::Text(fts_phrase(text)));
            return format!("rid IN (SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH {p})");
        }
        params.push(Param::Text(format!("%{}%", like_escape(text))));
        let like = self.like_ci();
        format!("(output {like} {p} ESCAPE '\\' OR rule {like} {p} ESCAPE '\\')")
    }

    /// Bytes the alert tables use (one integer row).
    pub fn used_bytes_sql(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "SELECT (p.page_count - f.freelist_count) * s.page_size
                 FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() s"
            }
            Dialect::Postgres => {
                "SELECT CAST(pg_total_relation_size('alerts') + pg_total_relation_size('alert_events') AS BIGINT)"
            }
        }
    }

    /// Planner statistics after retention deleted rows.
    pub fn analyze_sql(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some("ANALYZE alerts; ANALYZE alert_events;"),
        }
    }

    /// Make deleted space reusable (PostgreSQL only reuses it after a
    /// vacuum; SQLite's free pages are reused already).
    pub fn reclaim_sql(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some("VACUUM alerts; VACUUM alert_events;"),
        }
    }
}

/// An FTS5 phrase query matching `text` literally.
pub(crate) fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn placeholders_are_rewritten_for_postgres() {
        assert_eq!(
            Dialect::Postgres.placeholders("a = ?1 AND b = ?12"),
            "a = $1 AND b = $12"
        );
        assert_eq!(Dialect::Sqlite.placeholders("a = ?1"), "a = ?1");
    }
    #[test]
    fn text_conditions_bind_one_parameter() {
        let mut p = vec![Param::Int(1)];
        let s = Dialect::Postgres.text_condition(TextSearch::Index, "a%b", &mut p);
        assert_eq!(
            s,
            "(output ILIKE ?2 ESCAPE '\\' OR rule ILIKE ?2 ESCAPE '\\')"
        );
        assert_eq!(p[1], Param::Text("%a\\%b%".into()));
        let s = Dialect::Sqlite.text_condition(TextSearch::Index, "x\"y", &mut p);
        assert!(s.contains("MATCH ?3"), "{s}");
        assert_eq!(p[2], Param::Text("\"x\"\"y\"".into()));
    }
}
