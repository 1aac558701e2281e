//! `sequence` items (Peregrine extension, only in Peregrine's own files:
//! Falco rejects an unknown top-level item): "A then B [then C] within T,
//! by process tree, container or user". The loader checks the shape and
//! keeps every text with its place; [`crate::sequence`] compiles and runs
//! them.
//!
//! ```yaml
//! - sequence: Downloaded file made executable and run
//!   desc: ...
//!   by: container            # process_tree | container | user
//!   within: 60s              # ms, s, m, h; a bare number is seconds
//!   steps:
//!     - condition: evt.type = openat and proc.name in (curl, wget)
//!       capture: {path: fd.name}
//!     - condition: evt.type = chmod and fd.name = ${path}
//!     - condition: evt.type = execve and proc.exepath = ${path}
//!   output: "Downloaded %proc.exepath run (file=${path})"
//!   priority: CRITICAL
//! ```

use super::{scalar_list, At, Loader, Text};
use crate::diag::{Pos, Source};
use crate::yaml::{Node, NodeKind};
use peregrine_event::Priority;
use std::sync::Arc;

/// What ties the steps of one sequence match together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqBy {
    /// Each step's process is the previous step's process or a descendant.
    ProcessTree,
    /// The same `container.id` (host processes share `host`).
    Container,
    /// The same `user.uid`.
    User,
}

impl SeqBy {
    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            SeqBy::ProcessTree => "process_tree",
            SeqBy::Container => "container",
            SeqBy::User => "user",
        }
    }
}

/// One step as written.
#[derive(Debug, Clone)]
pub struct StepDef {
    /// Condition (may compare fields with `${name}` of earlier captures).
    pub condition: Text,
    /// Values to carry to later steps: (name, field, where the field is written).
    pub captures: Vec<(String, String, Pos)>,
    /// Where the step is written.
    pub at: At,
}

/// A `sequence` item as written.
#[derive(Debug, Clone)]
pub struct SequenceDef {
    /// Name (the alerts' rule name).
    pub name: String,
    /// Description.
    pub desc: String,
    /// What ties the steps together.
    pub by: SeqBy,
    /// Longest time from the first step's event to the last one's, ns.
    pub within_ns: u64,
    /// Steps, in order (2 to [`MAX_STEPS`]).
    pub steps: Vec<StepDef>,
    /// Output template (fields of the last event; `${name}` captures).
    pub output: Text,
    /// Priority.
    pub priority: Priority,
    /// Tags.
    pub tags: Vec<String>,
    /// Enabled.
    pub enabled: bool,
    /// Partial matches held at most (the oldest is evicted).
    pub max_partials: usize,
    /// Embedded tests, raw.
    pub tests: Vec<Node>,
    /// Where it is defined.
    pub at: At,
}

/// Most steps in one sequence.
pub const MAX_STEPS: usize = 8;
/// Longest window (one day).
pub const MAX_WITHIN_NS: u64 = 86_400 * 1_000_000_000;
/// Partial matches held per sequence unless `max_partials` says otherwise.
pub const DEFAULT_MAX_PARTIALS: usize = 4096;

const KEYS: &[&str] = &[
    "sequence",
    "desc",
    "by",
    "within",
    "steps",
    "output",
    "priority",
    "tags",
    "enabled",
    "max_partials",
    "tests",
];
const STEP_KEYS: &[&str] = &["condition", "capture"];

/// `60s`, `500ms`, `5m`, `1h`, `60` (seconds) in nanoseconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "s" => 1_000_000_000,
        "ms" => 1_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Is `name` usable as a capture name (`${name}`)?
pub fn is_capture_name(name: &str) -> bool {
    let mut c = name.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

impl Loader {
    fn at(src: &Arc<Source>, pos: Pos) -> At {
        At {
            source: src.clone(),
            pos,
        }
    }

    pub(super) fn sequence(&mut self, src: &Arc<Source>, node: &Node) {
        let Some((name, at)) = self.str_field(src, node, "sequence", "sequence") else {
            return;
        };
        let item = format!("sequence '{name}'");
        self.check_sequence_keys(src, node, &item);
        // `- sequence: X` with only `enabled:` switches an earlier one.
        let keys = node.as_map().map_or(0, |m| m.len());
        if let (2, Some(e)) = (keys, node.get("enabled")) {
            return self.toggle_sequence(src, e, &name, &at, &item);
        }
        let mut missing = Vec::new();
        for key in ["desc", "by", "within", "steps", "output", "priority"] {
            if node.get(key).is_none() {
                missing.push(key);
            }
        }
        if !missing.is_empty() {
            return self.err(
                src,
                at.pos,
                &item,
                format!("sequence is missing: {}", missing.join(", ")),
            );
        }
        let Some(def) = self.sequence_def(src, node, name, at, &item) else {
            return;
        };
        // A later definition of the same name replaces the earlier one.
        match self.set.sequences.iter_mut().find(|s| s.name == def.name) {
            Some(s) => *s = def,
            None => self.set.sequences.push(def),
        }
    }

    /// Unknown keys of a `sequence` item are errors (not warnings as for
    /// rules: the item is Peregrine's own).
    fn check_sequence_keys(&mut self, src: &Arc<Source>, node: &Node, item: &str) {
        for (k, _) in node.as_map().unwrap_or(&[]) {
            let key = k.as_str().unwrap_or("");
            if !KEYS.contains(&key) {
                self.err(
                    src,
                    k.pos,
                    item,
                    format!("unknown sequence key '{key}' ({})", KEYS[1..].join(", ")),
                );
            }
        }
    }

    /// Switch the earlier sequence `name` on or off.
    fn toggle_sequence(&mut self, src: &Arc<Source>, e: &Node, name: &str, at: &At, item: &str) {
        let Some(on) = e.as_bool() else {
            return self.err(src, e.pos, item, "'enabled' must be true or false");
        };
        match self.set.sequences.iter_mut().find(|s| s.name == name) {
            Some(s) => s.enabled = on,
            None => self.err(
                src,
                at.pos,
                item,
                format!("sequence '{name}' is enabled or disabled before it is defined"),
            ),
        }
    }

    /// The definition of a `sequence` item that has every required key;
    /// `None` after reporting every invalid one.
    fn sequence_def(
        &mut self,
        src: &Arc<Source>,
        node: &Node,
        name: String,
        at: At,
        item: &str,
    ) -> Option<SequenceDef> {
        let desc = self.str_field(src, node, "desc", item);
        let output = self.str_field(src, node, "output", item);
        let by = self.seq_by(src, node.get("by").unwrap(), item);
        let within = self.seq_within(src, node.get("within").unwrap(), item);
        let steps = self.seq_steps(src, node.get("steps").unwrap(), item);
        let priority = self.seq_priority(src, node.get("priority").unwrap(), item);
        let tags = match node.get("tags") {
            None => Some(Vec::new()),
            Some(t) => scalar_list(t).or_else(|| {
                self.err(src, t.pos, item, "'tags' must be a list of strings");
                None
            }),
        };
        let enabled = match node.get("enabled") {
            None => Some(true),
            Some(e) => e.as_bool().or_else(|| {
                self.err(src, e.pos, item, "'enabled' must be true or false");
                None
            }),
        };
        let max_partials = self.seq_max_partials(src, node, item);
        let tests = node
            .get("tests")
            .and_then(|t| t.as_seq())
            .map(|t| t.to_vec())
            .unwrap_or_default();
        let (o, oat) = output?;
        Some(SequenceDef {
            name,
            desc: desc?.0,
            by: by?,
            within_ns: within?,
            steps: steps?,
            output: Text::new(&o, oat),
            priority: priority?,
            tags: tags?,
            enabled: enabled?,
            max_partials: max_partials?,
            tests,
            at,
        })
    }

    fn seq_priority(&mut self, src: &Arc<Source>, p: &Node, item: &str) -> Option<Priority> {
        let priority = p.as_str().and_then(Priority::parse);
        if priority.is_none() {
            self.err(src, p.pos, item, format!(
                "invalid priority '{}': expected one of EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFORMATIONAL, DEBUG",
                p.as_str().unwrap_or("")
            ));
        }
        priority
    }

    fn seq_max_partials(&mut self, src: &Arc<Source>, node: &Node, item: &str) -> Option<usize> {
        let Some(m) = node.get("max_partials") else {
            return Some(DEFAULT_MAX_PARTIALS);
        };
        match m.as_str().and_then(|s| s.trim().parse::<usize>().ok()) {
            Some(n) if (1..=1_000_000).contains(&n) => Some(n),
            _ => {
                self.err(
                    src,
                    m.pos,
                    item,
                    "max_partials must be a whole number from 1 to 1000000",
                );
                None
            }
        }
    }

    fn seq_by(&mut self, src: &Arc<Source>, n: &Node, item: &str) -> Option<SeqBy> {
        match n.as_str().map(str::trim) {
            Some("process_tree") => Some(SeqBy::ProcessTree),
            Some("container") => Some(SeqBy::Container),
            Some("user") => Some(SeqBy::User),
            other => {
                self.err(
                    src,
                    n.pos,
                    item,
                    format!(
                        "'by' must be process_tree, container or user, not '{}'",
                        other.unwrap_or("")
                    ),
                );
                None
            }
        }
    }

    fn seq_within(&mut self, src: &Arc<Source>, n: &Node, item: &str) -> Option<u64> {
        match n.as_str().and_then(parse_duration) {
            Some(ns) if ns > 0 && ns <= MAX_WITHIN_NS => Some(ns),
            _ => {
                self.err(
                    src,
                    n.pos,
                    item,
                    format!(
                        "'within' must be a duration from 1ms to 24h such as 60s, 500ms, 5m or 1h, not '{}'",
                        n.as_str().unwrap_or("")
                    ),
                );
                None
            }
        }
    }

    fn seq_steps(&mut self, src: &Arc<Source>, n: &Node, item: &str) -> Option<Vec<StepDef>> {
        let Some(list) = n.as_seq() else {
            self.err(
                src,
                n.pos,
                item,
                "'steps' must be a list of {condition, capture}",
            );
            return None;
        };
        if list.len() < 2 || list.len() > MAX_STEPS {
            self.err(
                src,
                n.pos,
                item,
                format!("a sequence has 2 to {MAX_STEPS} steps, not {}", list.len()),
            );
            return None;
        }
        let mut steps = Vec::new();
        let mut ok = true;
        for s in list {
            match self.seq_step(src, s, item) {
                Some(st) => steps.push(st),
                None => ok = false,
            }
        }
        ok.then_some(steps)
    }

    fn seq_step(&mut self, src: &Arc<Source>, s: &Node, item: &str) -> Option<StepDef> {
        if s.as_map().is_none() {
            self.err(
                src,
                s.pos,
                item,
                "each step must be a mapping with a 'condition'",
            );
            return None;
        }
        let mut ok = true;
        for (k, _) in s.as_map().unwrap_or(&[]) {
            let key = k.as_str().unwrap_or("");
            if !STEP_KEYS.contains(&key) {
                self.err(
                    src,
                    k.pos,
                    item,
                    format!("unknown step key '{key}' (condition, capture)"),
                );
                ok = false;
            }
        }
        let cond = match s.get("condition") {
            Some(c) => match &c.kind {
                NodeKind::Scalar(t) => Some(Text::new(t, Loader::at(src, c.pos))),
                _ => {
                    self.err(src, c.pos, item, "a step's 'condition' must be a string");
                    None
                }
            },
            None => {
                self.err(src, s.pos, item, "step without a 'condition'");
                None
            }
        };
        let mut captures = Vec::new();
        if let Some(c) = s.get("capture") {
            match c.as_map() {
                Some(m) => {
                    for (k, v) in m {
                        let name = k.as_str().unwrap_or("").trim().to_string();
                        if !is_capture_name(&name) {
                            self.err(src, k.pos, item, format!(
                                "capture name '{name}' must be letters, digits and '_' (not starting with a digit)"
                            ));
                            ok = false;
                            continue;
                        }
                        match v.as_str() {
                            Some(f) => captures.push((name, f.trim().to_string(), v.pos)),
                            None => {
                                self.err(
                                    src,
                                    v.pos,
                                    item,
                                    format!("capture '{name}' must name a field"),
                                );
                                ok = false;
                            }
                        }
                    }
                }
                None => {
                    self.err(
                        src,
                        c.pos,
                        item,
                        "'capture' must be a mapping of name: field, e.g. {path: fd.name}",
                    );
                    ok = false;
                }
            }
        }
        let condition = cond?;
        ok.then_some(StepDef {
            condition,
            captures,
            at: Loader::at(src, s.pos),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Some(60_000_000_000));
        assert_eq!(parse_duration("60"), Some(60_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("5m"), Some(300_000_000_000));
        assert_eq!(parse_duration("1h"), Some(3_600_000_000_000));
        for bad in ["", "s", "1d", "-1s", "1.5s", "99999999999999999999h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn capture_names() {
        assert!(is_capture_name("path"));
        assert!(is_capture_name("_p2"));
        assert!(!is_capture_name("2p"));
        assert!(!is_capture_name("a.b"));
        assert!(!is_capture_name(""));
    }
}
