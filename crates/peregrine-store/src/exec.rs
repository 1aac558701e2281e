//! The little the shared store code needs from a database connection: run
//! a statement, read rows of integers and text. Each back end implements
//! [`Exec`] over its driver (statement caching included), so the queries in
//! [`crate::ops`] are written once.

use crate::{Result, StoreError};

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param<'a> {
    /// 64-bit integer.
    Int(i64),
    /// Borrowed text.
    Str(&'a str),
    /// Owned text.
    Text(String),
}

/// A column value read back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row(pub Vec<Value>);

fn bad_column(i: usize, want: &str, got: &Value) -> StoreError {
    StoreError::Corrupt {
        what: format!("result column {i}"),
        reason: format!("expected {want}, got {got:?}"),
    }
}

impl Row {
    /// Integer column `i`.
    pub fn int(&self, i: usize) -> Result<i64> {
        match self.0.get(i) {
            Some(Value::Int(v)) => Ok(*v),
            Some(v) => Err(bad_column(i, "an integer", v)),
            None => Err(bad_column(i, "an integer", &Value::Null)),
        }
    }

    /// Text column `i` (taken out of the row).
    pub fn text(&mut self, i: usize) -> Result<String> {
        match self.0.get_mut(i) {
            Some(Value::Text(s)) => Ok(std::mem::take(s)),
            Some(v) => Err(bad_column(i, "text", v)),
            None => Err(bad_column(i, "text", &Value::Null)),
        }
    }

    /// Nullable text column `i`.
    pub fn opt_text(&mut self, i: usize) -> Result<Option<String>> {
        match self.0.get(i) {
            Some(Value::Null) => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
}

/// A connection or transaction the shared code runs on. SQL is written
/// with `?N` placeholders; implementations translate for their back end.
pub(crate) trait Exec {
    /// Run one statement; rows affected.
    fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64>;
    /// Run one query; its rows.
    fn rows(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>>;
    /// Run several statements without parameters.
    fn batch(&mut self, sql: &str) -> Result<()>;

    /// The first row, if any.
    fn row(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>> {
        Ok(self.rows(sql, params)?.into_iter().next())
    }

    /// A query answering one integer.
    fn int(&mut self, sql: &str, params: &[Param<'_>]) -> Result<i64> {
        match self.row(sql, params)? {
            Some(r) => r.int(0),
            None => Err(StoreError::Corrupt {
                what: sql.chars().take(60).collect(),
                reason: "no row".into(),
            }),
        }
    }
}
