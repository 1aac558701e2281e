//! Alert search: one query type, translated once to SQL for both back ends
//! (`?N` placeholders; the dialect renders the free-text condition).

use crate::dialect::{Dialect, TextSearch};
use crate::exec::Param;
use crate::{Result, StoreError};
use peregrine_event::Priority;
use serde::{Deserialize, Serialize};

/// A search over alerts. Empty fields do not filter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AlertQuery {
    /// From (inclusive), Unix nanoseconds.
    pub from_ns: Option<i64>,
    /// To (exclusive), Unix nanoseconds.
    pub to_ns: Option<i64>,
    /// Only alerts at least this severe.
    pub min_priority: Option<Priority>,
    /// Exactly these priorities (in addition to `min_priority`).
    #[serde(default)]
    pub priorities: Vec<Priority>,
    /// Rule name (exact).
    pub rule: Option<String>,
    /// Host name (exact).
    pub host: Option<String>,
    /// Container id (full or 12-character prefix) or name.
    pub container: Option<String>,
    /// Image (exact, or a prefix ending in `*`).
    pub image: Option<String>,
    /// Kubernetes namespace.
    pub k8s_namespace: Option<String>,
    /// Triage state.
    pub status: Option<crate::Status>,
    /// Free text, case-insensitive substring of the output or rule.
    pub text: Option<String>,
    /// Page size (1..=1000; default 50).
    pub limit: Option<u32>,
    /// Cursor from a previous page.
    pub cursor: Option<String>,
}

/// Escape `%`, `_` and `\` for a LIKE pattern (ESCAPE '\').
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl AlertQuery {
    /// Page size after clamping.
    pub fn page_size(&self) -> u32 {
        self.limit.unwrap_or(50).clamp(1, 1000)
    }

    /// Decode the cursor: `TIME_NS:AGENT_HEX:ID` (or `TIME_NS:ID` from
    /// servers before alerts were unique per agent).
    pub(crate) fn cursor_parts(&self) -> Result<Option<Cursor>> {
        let Some(c) = &self.cursor else {
            return Ok(None);
        };
        let bad = |what: &str| StoreError::Query(format!("cursor '{c}' {what}"));
        let (t, rest) = c.split_once(':').ok_or_else(|| bad("is not TIME:ID"))?;
        let time_ns = t.parse::<i64>().map_err(|_| bad("has a bad time"))?;
        let (agent, id) = match rest.split_once(':') {
            Some((hex, id)) => match unhex(hex) {
                Some(agent) => (Some(agent), id.to_string()),
                None => (None, rest.to_string()),
            },
            None => (None, rest.to_string()),
        };
        Ok(Some(Cursor { time_ns, id, agent }))
    }

    /// WHERE clause (without the keyword; `1=1` when empty) and its
    /// parameters, as `?N` placeholders; free text searched `how`.
    pub(crate) fn where_sql(
        &self,
        d: Dialect,
        with_cursor: bool,
        how: TextSearch,
    ) -> Result<(String, Vec<Param<'static>>)> {
        let mut conds: Vec<String> = Vec::new();
        let mut params: Vec<Param<'static>> = Vec::new();
        let next = |params: &Vec<Param>| format!("?{}", params.len() + 1);
        if let (Some(f), Some(t)) = (self.from_ns, self.to_ns) {
            if f > t {
                return Err(StoreError::Query("'from' is after 'to'".into()));
            }
        }
        if let Some(f) = self.from_ns {
            conds.push(format!("time_ns >= {}", next(&params)));
            params.push(Param::Int(f));
        }
        if let Some(t) = self.to_ns {
            conds.push(format!("time_ns < {}", next(&params)));
            params.push(Param::Int(t));
        }
        if let Some(p) = self.min_priority {
            conds.push(format!("priority <= {}", next(&params)));
            params.push(Param::Int(p.index() as i64));
        }
        if !self.priorities.is_empty() {
            let list: Vec<String> = self
                .priorities
                .iter()
                .map(|p| p.index().to_string())
                .collect();
            conds.push(format!("priority IN ({})", list.join(",")));
        }
        for (col, v) in [
            ("rule", &self.rule),
            ("hostname", &self.host),
            ("k8s_ns", &self.k8s_namespace),
        ] {
            if let Some(v) = v {
                conds.push(format!("{col} = {}", next(&params)));
                params.push(Param::Text(v.clone()));
            }
        }
        if let Some(c) = &self.container {
            // Each branch is served by an index: name, full id, or an id
            // prefix as a range (12+ characters, like `docker ps` shows).
            let a = next(&params);
            params.push(Param::Text(c.clone()));
            if c.len() >= 12 && c.len() < 64 && c.bytes().all(|b| b.is_ascii_hexdigit()) {
                let lo = next(&params);
                params.push(Param::Text(c.to_ascii_lowercase()));
                let hi = next(&params);
                params.push(Param::Text(format!("{}~", c.to_ascii_lowercase())));
                conds.push(format!(
                    "(container_name = {a} OR (container_id >= {lo} AND container_id < {hi}))"
                ));
            } else {
                conds.push(format!("(container_name = {a} OR container_id = {a})"));
            }
        }
        if let Some(i) = &self.image {
            if let Some(prefix) = i.strip_suffix('*') {
                // A range, so the image index serves it.
                let lo = next(&params);
                params.push(Param::Text(prefix.to_string()));
                let hi = next(&params);
                params.push(Param::Text(format!("{prefix}\u{10FFFF}")));
                conds.push(format!("(image >= {lo} AND image < {hi})"));
            } else {
                conds.push(format!("image = {}", next(&params)));
                params.push(Param::Text(i.clone()));
            }
        }
        if let Some(s) = self.status {
            conds.push(format!("status = {}", next(&params)));
            params.push(Param::Text(s.as_str().into()));
        }
        if let Some(t) = self
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            if t.chars().count() > 200 {
                return Err(StoreError::Query(
                    "search text longer than 200 characters".into(),
                ));
            }
            conds.push(d.text_condition(how, t, &mut params));
        }
        if with_cursor {
            if let Some(c) = self.cursor_parts()? {
                let a = next(&params);
                params.push(Param::Int(c.time_ns));
                let b = next(&params);
                params.push(Param::Text(c.id));
                let same_id = match c.agent {
                    Some(agent) => {
                        let g = next(&params);
                        params.push(Param::Text(agent));
                        format!(" OR (id = {b} AND agent < {g})")
                    }
                    None => String::new(),
                };
                conds.push(format!(
                    "(time_ns < {a} OR (time_ns = {a} AND (id < {b}{same_id})))"
                ));
            }
        }
        if conds.is_empty() {
            conds.push("1=1".into());
        }
        Ok((conds.join(" AND "), params))
    }
}

/// A decoded page cursor: the last alert of the previous page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cursor {
    pub time_ns: i64,
    pub id: String,
    /// Absent in cursors from before alerts were unique per agent.
    pub agent: Option<String>,
}

/// The cursor of the page after the alert (`time_ns`, `agent`, `id`).
pub(crate) fn cursor_after(time_ns: i64, agent: &str, id: &str) -> String {
    let hex: String = agent.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{time_ns}:{hex}:{id}")
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    const IDX: TextSearch = TextSearch::Index;
    #[test]
    fn placeholders_are_numbered_in_order() {
        let q = AlertQuery {
            from_ns: Some(1),
            rule: Some("r".into()),
            cursor: Some(cursor_after(5, "a-1", "x:y")),
            ..Default::default()
        };
        let (sql, p) = q.where_sql(Dialect::Postgres, true, IDX).unwrap();
        assert_eq!(
            sql,
            "time_ns >= ?1 AND rule = ?2 AND (time_ns < ?3 OR (time_ns = ?3 AND (id < ?4 OR (id = ?4 AND agent < ?5))))"
        );
        assert_eq!(p[3], Param::Text("x:y".into()));
        assert_eq!(p[4], Param::Text("a-1".into()));
    }
    #[test]
    fn old_cursors_still_page() {
        let q = AlertQuery {
            cursor: Some("5:abc".into()),
            ..Default::default()
        };
        let (sql, p) = q.where_sql(Dialect::Sqlite, true, IDX).unwrap();
        assert_eq!(sql, "(time_ns < ?1 OR (time_ns = ?1 AND (id < ?2)))");
        assert_eq!(p[1], Param::Text("abc".into()));
    }
    #[test]
    fn bad_cursor_and_range_are_errors() {
        let q = AlertQuery {
            cursor: Some("zz".into()),
            ..Default::default()
        };
        assert!(q.where_sql(Dialect::Sqlite, true, IDX).is_err());
        let q = AlertQuery {
            from_ns: Some(10),
            to_ns: Some(1),
            ..Default::default()
        };
        assert!(q.where_sql(Dialect::Sqlite, true, IDX).is_err());
    }
    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("a%b_c\\"), "a\\%b\\_c\\\\");
    }
}
