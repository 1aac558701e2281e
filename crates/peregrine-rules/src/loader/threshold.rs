//! `threshold:` on a rule (Peregrine extension): the rule alerts once its
//! condition has matched `count` times — or for `count` distinct values of
//! one field — within `window` seconds, per group of `group_by` values.
//!
//! ```yaml
//! threshold: {count: 5, window: 60, group_by: [proc.ppid], distinct: proc.name}
//! ```

use super::{At, Loader};
use crate::diag::{Pos, Source};
use crate::yaml::Node;
use std::sync::Arc;

/// A rule's threshold as written (fields are bound when compiled).
#[derive(Debug, Clone)]
pub struct ThresholdDef {
    /// Matches (or distinct values) needed.
    pub count: u32,
    /// Sliding window, seconds.
    pub window_s: u64,
    /// Fields whose values make a group, with their places.
    pub group_by: Vec<(String, Pos)>,
    /// Count distinct values of this field instead of matches.
    pub distinct: Option<(String, Pos)>,
    /// Where it was written.
    pub at: At,
}

const KEYS: &[&str] = &["count", "window", "group_by", "distinct"];

impl Loader {
    pub(super) fn threshold(
        &mut self,
        src: &Arc<Source>,
        node: &Node,
        item: &str,
    ) -> Option<ThresholdDef> {
        let Some(map) = node.as_map() else {
            self.err(
                src,
                node.pos,
                item,
                "'threshold' must be a mapping: {count: N, window: SECONDS, group_by: [fields], distinct: field}",
            );
            return None;
        };
        let mut ok = true;
        for (k, _) in map {
            let key = k.as_str().unwrap_or("");
            if !KEYS.contains(&key) {
                self.err(
                    src,
                    k.pos,
                    item,
                    format!("unknown threshold key '{key}' (count, window, group_by, distinct)"),
                );
                ok = false;
            }
        }
        let number = |l: &mut Loader, key: &str, lo: u64, hi: u64| -> Option<u64> {
            let n = node.get(key)?;
            match n.as_str().and_then(|s| s.trim().parse::<u64>().ok()) {
                Some(v) if (lo..=hi).contains(&v) => Some(v),
                _ => {
                    l.err(
                        src,
                        n.pos,
                        item,
                        format!("threshold {key} must be a whole number from {lo} to {hi}"),
                    );
                    None
                }
            }
        };
        let count = number(self, "count", 2, 100_000);
        let window = number(self, "window", 1, 86_400);
        if node.get("count").is_none() || node.get("window").is_none() {
            self.err(src, node.pos, item, "threshold needs 'count' and 'window'");
            return None;
        }
        let field = |n: &Node| n.as_str().map(|s| (s.trim().to_string(), n.pos));
        let group_by = match node.get("group_by") {
            None => Vec::new(),
            Some(g) => match g.as_seq() {
                Some(items) => {
                    let v: Option<Vec<_>> = items.iter().map(field).collect();
                    match v {
                        Some(v) => v,
                        None => {
                            self.err(
                                src,
                                g.pos,
                                item,
                                "threshold group_by must be a list of field names",
                            );
                            return None;
                        }
                    }
                }
                None => match field(g) {
                    Some(f) => vec![f],
                    None => {
                        self.err(
                            src,
                            g.pos,
                            item,
                            "threshold group_by must be a list of field names",
                        );
                        return None;
                    }
                },
            },
        };
        let distinct = match node.get("distinct") {
            None => None,
            Some(d) => match field(d) {
                Some(f) => Some(f),
                None => {
                    self.err(src, d.pos, item, "threshold distinct must be a field name");
                    return None;
                }
            },
        };
        if !ok {
            return None;
        }
        Some(ThresholdDef {
            count: count? as u32,
            window_s: window?,
            group_by,
            distinct,
            at: At {
                source: src.clone(),
                pos: node.pos,
            },
        })
    }
}
