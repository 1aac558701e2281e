//! Threshold rules (Peregrine extension): a rule with `threshold:` alerts
//! once its condition has matched `count` times — or for `count` distinct
//! values of a field — within a window, per group of field values. The
//! engine evaluates conditions per event as usual; [`Threshold::mark`] says
//! what a match contributes and a [`ThresholdGate`] (one per alert stream,
//! so that matches found on different threads meet) decides when to alert.

use crate::context::Context;
use crate::diag::Diagnostic;
use crate::fields::{bind, extract, Bound};
use crate::loader::ThresholdDef;
use std::collections::{HashMap, VecDeque};

/// A compiled threshold.
#[derive(Debug, Clone)]
pub struct Threshold {
    /// Matches (or distinct values) needed.
    pub count: u32,
    /// Window in nanoseconds.
    pub window_ns: u64,
    /// Fields that make a group.
    pub group_by: Vec<Bound>,
    /// Count distinct values of this field instead of matches.
    pub distinct: Option<Bound>,
}

/// What one match contributes to its threshold group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdMark {
    /// Rendered group values.
    pub group: String,
    /// Rendered distinct value (empty when counting matches).
    pub value: String,
    /// Needed count.
    pub count: u32,
    /// Window, ns.
    pub window_ns: u64,
    /// Event time, ns.
    pub ts_ns: u64,
}

/// A group reached its threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crossed {
    /// Matches (or distinct values) in the window.
    pub count: u32,
    /// The distinct values seen (sorted; at most 20), empty when counting
    /// matches.
    pub values: Vec<String>,
}

impl Threshold {
    /// Bind the fields of a threshold as written; errors name the place.
    pub fn compile(def: &ThresholdDef, item: &str) -> Result<Threshold, Vec<Diagnostic>> {
        let mut errs = Vec::new();
        let mut bind_at = |name: &str, pos| match crate::fields::split_field(name)
            .and_then(|(n, arg)| bind(n, arg))
        {
            Ok(b) => Some(b),
            Err(msg) => {
                errs.push(
                    Diagnostic::error(&def.at.source, pos, format!("in threshold: {msg}"))
                        .in_item(item),
                );
                None
            }
        };
        let group_by: Vec<Option<Bound>> =
            def.group_by.iter().map(|(n, p)| bind_at(n, *p)).collect();
        let distinct = def.distinct.as_ref().map(|(n, p)| bind_at(n, *p));
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Threshold {
            count: def.count,
            window_ns: def.window_s * 1_000_000_000,
            group_by: group_by.into_iter().flatten().collect(),
            distinct: distinct.flatten(),
        })
    }

    /// What the current match contributes.
    pub fn mark(&self, ctx: &dyn Context) -> ThresholdMark {
        let render = |b: &Bound| extract(b, ctx).map(|v| v.render()).unwrap_or_default();
        let mut group = String::new();
        for (i, b) in self.group_by.iter().enumerate() {
            if i > 0 {
                group.push('\u{1f}');
            }
            group.push_str(&render(b));
        }
        ThresholdMark {
            group,
            value: self.distinct.as_ref().map(render).unwrap_or_default(),
            count: self.count,
            window_ns: self.window_ns,
            ts_ns: ctx.event().ts_ns,
        }
    }
}

struct Group {
    hits: VecDeque<(u64, String)>,
    last_ns: u64,
}

/// Counts threshold marks per (rule, group). Bounded: at most `max_groups`
/// groups (the stalest are dropped) and `4 × count` hits per group.
pub struct ThresholdGate {
    groups: HashMap<(String, String), Group>,
    max_groups: usize,
}

impl Default for ThresholdGate {
    fn default() -> Self {
        ThresholdGate::new(65_536)
    }
}

impl ThresholdGate {
    /// A gate holding at most `max_groups` groups.
    pub fn new(max_groups: usize) -> ThresholdGate {
        ThresholdGate {
            groups: HashMap::new(),
            max_groups: max_groups.max(1),
        }
    }

    /// Count a match of `rule`; `Some` when its group reaches the threshold
    /// (the group then starts again from zero).
    pub fn admit(&mut self, rule: &str, m: &ThresholdMark) -> Option<Crossed> {
        let key = (rule.to_string(), m.group.clone());
        if !self.groups.contains_key(&key) && self.groups.len() >= self.max_groups {
            self.evict();
        }
        let g = self.groups.entry(key.clone()).or_insert_with(|| Group {
            hits: VecDeque::new(),
            last_ns: 0,
        });
        let from = m.ts_ns.saturating_sub(m.window_ns);
        while g.hits.front().is_some_and(|(t, _)| *t < from) {
            g.hits.pop_front();
        }
        g.hits.push_back((m.ts_ns, m.value.clone()));
        g.last_ns = g.last_ns.max(m.ts_ns);
        let cap = (m.count as usize).saturating_mul(4).max(8);
        while g.hits.len() > cap {
            g.hits.pop_front();
        }
        let distinct = !m.value.is_empty() || g.hits.iter().any(|(_, v)| !v.is_empty());
        let (n, values) = if distinct {
            let mut v: Vec<String> = g.hits.iter().map(|(_, v)| v.clone()).collect();
            v.sort();
            v.dedup();
            (v.len(), v)
        } else {
            (g.hits.len(), Vec::new())
        };
        if n >= m.count as usize {
            self.groups.remove(&key);
            return Some(Crossed {
                count: n as u32,
                values: values.into_iter().take(20).collect(),
            });
        }
        None
    }

    /// Drop groups with no match since `before_ns`.
    pub fn expire(&mut self, before_ns: u64) {
        self.groups.retain(|_, g| g.last_ns >= before_ns);
    }

    /// Groups held.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True when no group is held.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    fn evict(&mut self) {
        let n = (self.max_groups / 10).max(1);
        let mut by_age: Vec<(u64, (String, String))> = self
            .groups
            .iter()
            .map(|(k, g)| (g.last_ns, k.clone()))
            .collect();
        by_age.sort();
        for (_, k) in by_age.into_iter().take(n) {
            self.groups.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(group: &str, value: &str, ts_s: u64) -> ThresholdMark {
        ThresholdMark {
            group: group.into(),
            value: value.into(),
            count: 3,
            window_ns: 10_000_000_000,
            ts_ns: ts_s * 1_000_000_000,
        }
    }

    #[test]
    fn distinct_values_within_the_window_cross_once_per_burst() {
        let mut g = ThresholdGate::default();
        assert_eq!(g.admit("r", &mark("p1", "id", 1)), None);
        assert_eq!(g.admit("r", &mark("p1", "id", 2)), None, "same value");
        assert_eq!(g.admit("r", &mark("p2", "uname", 2)), None, "other group");
        assert_eq!(g.admit("r", &mark("p1", "uname", 3)), None);
        let c = g.admit("r", &mark("p1", "whoami", 4)).expect("crossed");
        assert_eq!(c.count, 3);
        assert_eq!(c.values, vec!["id", "uname", "whoami"]);
        // The group starts again.
        assert_eq!(g.admit("r", &mark("p1", "hostname", 5)), None);
        // Outside the window, old values no longer count.
        assert_eq!(g.admit("r", &mark("p1", "ps", 30)), None);
        assert_eq!(g.admit("r", &mark("p1", "w", 31)), None);
        assert!(g.admit("r", &mark("p1", "last", 32)).is_some());
    }

    #[test]
    fn counting_matches_and_bounded_groups() {
        let mut g = ThresholdGate::new(10);
        assert_eq!(g.admit("r", &mark("a", "", 1)), None);
        assert_eq!(g.admit("r", &mark("a", "", 1)), None);
        assert_eq!(
            g.admit("r", &mark("a", "", 1)),
            Some(Crossed {
                count: 3,
                values: vec![]
            })
        );
        for i in 0..100 {
            g.admit("r", &mark(&format!("g{i}"), "", i));
        }
        assert!(g.len() <= 10);
        g.expire(95 * 1_000_000_000);
        assert!(g.len() <= 5);
    }

    #[test]
    fn field_names_with_arguments_split() {
        use crate::fields::split_field;
        assert_eq!(split_field("proc.aname[2]"), Ok(("proc.aname", Some("2"))));
        assert_eq!(split_field("proc.ppid"), Ok(("proc.ppid", None)));
        assert_eq!(split_field("evt.arg[uid]"), Ok(("evt.arg", Some("uid"))));
        for bad in ["proc.aname[2", "proc.aname]", "a[b]c", "a[[b]]"] {
            assert!(split_field(bad).is_err(), "{bad}");
        }
    }
}
