//! `rule` items and their exceptions.

use super::*;

impl Loader {
    fn exceptions(&mut self, src: &Arc<Source>, node: &Node, item: &str) -> Vec<ExceptionDef> {
        let mut out = Vec::new();
        let Some(list) = node.as_seq() else {
            self.err(src, node.pos, item, "'exceptions' must be a list");
            return out;
        };
        for ex in list {
            let at = At {
                source: src.clone(),
                pos: ex.pos,
            };
            let Some(name) = ex.get("name").and_then(|n| n.as_str()) else {
                self.err(src, ex.pos, item, "exception without a 'name'");
                continue;
            };
            let has_fields = ex.get("fields").is_some();
            let (fields, single) = match ex.get("fields") {
                Some(f) if f.as_str().is_some() => (vec![f.as_str().unwrap().to_string()], true),
                Some(f) => {
                    match scalar_list(f) {
                        Some(v) => (v, false),
                        None => {
                            self.err(src, f.pos, item, format!("exception '{name}': 'fields' must be a field or a list of fields"));
                            continue;
                        }
                    }
                }
                None => (Vec::new(), false),
            };
            let comps = match ex.get("comps") {
                None => vec![if single { "in" } else { "=" }.to_string(); fields.len()],
                Some(c) if c.as_str().is_some() => vec![c.as_str().unwrap().to_string()],
                Some(c) => match scalar_list(c) {
                    Some(v) => v,
                    None => {
                        self.err(
                            src,
                            c.pos,
                            item,
                            format!("exception '{name}': 'comps' must be a list of operators"),
                        );
                        continue;
                    }
                },
            };
            if comps.len() != fields.len() {
                self.err(
                    src,
                    ex.pos,
                    item,
                    format!(
                        "exception '{name}': {} fields but {} comps",
                        fields.len(),
                        comps.len()
                    ),
                );
                continue;
            }
            let values = match ex.get("values") {
                Some(v) => {
                    let shape = if !has_fields {
                        ValueShape::Appended
                    } else if single {
                        ValueShape::Scalar
                    } else {
                        ValueShape::Tuple(fields.len())
                    };
                    self.exception_values(src, v, name, shape, item)
                }
                None => Vec::new(),
            };
            out.push(ExceptionDef {
                name: name.to_string(),
                fields,
                single,
                comps,
                values,
                at,
            });
        }
        out
    }

    /// The `values` of exception `name`: each a tuple of one value per
    /// field (a scalar for a single field); invalid ones are reported and
    /// left out.
    fn exception_values(
        &mut self,
        src: &Arc<Source>,
        v: &Node,
        name: &str,
        shape: ValueShape,
        item: &str,
    ) -> Vec<Vec<String>> {
        let mut values = Vec::new();
        for tuple in v.as_seq().unwrap_or(&[]) {
            let msg = match shape {
                // Values appended to an exception defined earlier:
                // checked against its fields when merged.
                ValueShape::Appended => match (&tuple.kind, scalar_list(tuple)) {
                    (NodeKind::Scalar(s), _) => {
                        values.push(vec![s.clone()]);
                        continue;
                    }
                    (_, Some(t)) => {
                        values.push(t);
                        continue;
                    }
                    _ => format!("exception '{name}': invalid value"),
                },
                ValueShape::Scalar => match &tuple.kind {
                    NodeKind::Scalar(s) => {
                        values.push(vec![s.clone()]);
                        continue;
                    }
                    _ => format!("exception '{name}': values of a single field are scalars"),
                },
                ValueShape::Tuple(n) => match scalar_list(tuple) {
                    Some(t) if t.len() == n => {
                        values.push(t);
                        continue;
                    }
                    Some(t) => format!(
                        "exception '{name}': a value tuple has {} items for {n} fields",
                        t.len()
                    ),
                    None => format!("exception '{name}': each value must be a list"),
                },
            };
            self.err(src, tuple.pos, item, msg);
        }
        values
    }

    pub(super) fn rule(&mut self, src: &Arc<Source>, node: &Node) {
        let Some((name, at)) = self.str_field(src, node, "rule", "rule") else {
            return;
        };
        let item = format!("rule '{name}'");
        self.check_keys(src, node, RULE_KEYS, &item);
        let existing = self.rule_position(&name);
        let append = node.get("append").and_then(Node::as_bool).unwrap_or(false);
        let has_override = node.get("override").is_some();
        let Some(keys) = self.rule_keys(src, node, &item) else {
            return;
        };
        if append || has_override {
            let Some(idx) = existing else {
                return self.err(
                    src,
                    at.pos,
                    &item,
                    format!("rule '{name}' is appended to or overridden before it is defined"),
                );
            };
            return self.amend_rule(src, node, &item, idx, append, keys);
        }
        self.define_rule(src, name, at, &item, existing, keys);
    }

    /// Parse the keys of a `rule` item; `None` (after reporting) when one
    /// that makes the whole item unusable is invalid.
    fn rule_keys(&mut self, src: &Arc<Source>, node: &Node, item: &str) -> Option<RuleKeys> {
        let cond = self.str_field(src, node, "condition", item);
        let output = self.str_field(src, node, "output", item);
        let desc = self.str_field(src, node, "desc", item);
        let priority = match node.get("priority") {
            Some(p) => match p.as_str().and_then(Priority::parse) {
                Some(pr) => Some(pr),
                None => {
                    self.err(src, p.pos, item, format!(
                        "invalid priority '{}': expected one of EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFORMATIONAL, DEBUG",
                        p.as_str().unwrap_or("")
                    ));
                    return None;
                }
            },
            None => None,
        };
        let tags = match node.get("tags") {
            Some(t) => match scalar_list(t) {
                Some(v) => Some(v),
                None => {
                    self.err(src, t.pos, item, "'tags' must be a list of strings");
                    return None;
                }
            },
            None => None,
        };
        let enabled = match node.get("enabled") {
            Some(e) => match e.as_bool() {
                Some(b) => Some(b),
                None => {
                    self.err(src, e.pos, item, "'enabled' must be true or false");
                    return None;
                }
            },
            None => None,
        };
        let exceptions = node
            .get("exceptions")
            .map(|e| self.exceptions(src, e, item));
        let tests = node
            .get("tests")
            .and_then(|t| t.as_seq())
            .map(|t| t.to_vec())
            .unwrap_or_default();
        let threshold = match node.get("threshold") {
            Some(t) => Some(self.threshold(src, t, item)?),
            None => None,
        };
        let actions = self.actions(src, node, item)?;
        let source = node
            .get("source")
            .and_then(|s| s.as_str())
            .unwrap_or("syscall")
            .to_string();
        Some(RuleKeys {
            cond,
            output,
            desc,
            priority,
            tags,
            enabled,
            exceptions,
            tests,
            threshold,
            actions,
            source,
            has_actions: node.get("actions").is_some(),
        })
    }

    /// Apply an `append: true` or `override:` item to the existing rule at
    /// `idx`.
    fn amend_rule(
        &mut self,
        src: &Arc<Source>,
        node: &Node,
        item: &str,
        idx: usize,
        append: bool,
        keys: RuleKeys,
    ) {
        let mode = |l: &mut Loader, key: &str| -> Option<String> {
            if append {
                Some("append".to_string())
            } else {
                l.override_of(src, node, key, item)
            }
        };
        let modes = Modes {
            condition: mode(self, "condition"),
            output: mode(self, "output"),
            desc: mode(self, "desc"),
            tags: mode(self, "tags"),
            exceptions: mode(self, "exceptions"),
            priority: self.override_of(src, node, "priority", item),
            enabled: self.override_of(src, node, "enabled", item),
        };
        let problems = amend(&mut self.set.rules[idx], keys, &modes, append);
        for (pos, msg) in problems {
            self.err(src, pos, item, msg);
        }
    }

    /// Define a new rule (or replace one of the same name), or, for an item
    /// with only `enabled`, toggle an existing one.
    fn define_rule(
        &mut self,
        src: &Arc<Source>,
        name: String,
        at: At,
        item: &str,
        existing: Option<usize>,
        keys: RuleKeys,
    ) {
        let RuleKeys {
            cond,
            output,
            desc,
            priority,
            ..
        } = &keys;
        // `- rule: X\n  enabled: false` alone toggles an existing rule.
        if cond.is_none() && output.is_none() && desc.is_none() && priority.is_none() {
            match (existing, keys.enabled) {
                (Some(idx), Some(e)) => {
                    self.set.rules[idx].enabled = e;
                    return;
                }
                _ => {
                    return self.err(
                        src,
                        at.pos,
                        item,
                        "rule without 'condition', 'output', 'desc' and 'priority'",
                    )
                }
            }
        }
        let mut missing = Vec::new();
        if cond.is_none() {
            missing.push("condition")
        }
        if output.is_none() {
            missing.push("output")
        }
        if desc.is_none() {
            missing.push("desc")
        }
        if priority.is_none() {
            missing.push("priority")
        }
        if !missing.is_empty() {
            return self.err(
                src,
                at.pos,
                item,
                format!("rule is missing: {}", missing.join(", ")),
            );
        }
        for ex in keys.exceptions.iter().flatten() {
            if ex.fields.is_empty() {
                return self.err(
                    src,
                    ex.at.pos,
                    item,
                    format!("exception '{}' has no 'fields'", ex.name),
                );
            }
        }
        let (c, cat) = keys.cond.unwrap();
        let (o, oat) = keys.output.unwrap();
        let def = RuleDef {
            name: name.clone(),
            desc: keys.desc.unwrap().0,
            condition: Text::new(&c, cat),
            output: Text::new(&o, oat),
            priority: keys.priority.unwrap(),
            tags: keys.tags.unwrap_or_default(),
            enabled: keys.enabled.unwrap_or(true),
            source: keys.source,
            exceptions: keys.exceptions.unwrap_or_default(),
            tests: keys.tests,
            threshold: keys.threshold,
            actions: keys.actions,
            at,
        };
        match existing {
            Some(idx) => self.set.rules[idx] = def,
            None => {
                self.rule_index.insert(name, self.set.rules.len());
                self.set.rules.push(def)
            }
        }
    }
}

/// What each value of an exception must be.
#[derive(Clone, Copy)]
enum ValueShape {
    /// Values appended to an exception defined earlier (no `fields`): a
    /// scalar or a list, checked against its fields when merged.
    Appended,
    /// A scalar: the exception has a single field.
    Scalar,
    /// A list of this many values, one per field.
    Tuple(usize),
}

/// The keys of one `rule` item, each `None` when absent.
struct RuleKeys {
    cond: Option<(String, At)>,
    output: Option<(String, At)>,
    desc: Option<(String, At)>,
    priority: Option<Priority>,
    tags: Option<Vec<String>>,
    enabled: Option<bool>,
    exceptions: Option<Vec<ExceptionDef>>,
    tests: Vec<Node>,
    threshold: Option<ThresholdDef>,
    actions: crate::actions::RuleActions,
    source: String,
    /// Whether the item has an `actions:` key (an empty list clears them).
    has_actions: bool,
}

/// How an amending item changes each key: `None` leaves it alone,
/// `"append"` or `"replace"` otherwise.
struct Modes {
    condition: Option<String>,
    output: Option<String>,
    desc: Option<String>,
    tags: Option<String>,
    exceptions: Option<String>,
    priority: Option<String>,
    enabled: Option<String>,
}

/// Apply an amending item's keys to rule `r`; the problems found while
/// merging exceptions, to report.
fn amend(r: &mut RuleDef, keys: RuleKeys, modes: &Modes, append: bool) -> Vec<(Pos, String)> {
    let mut problems: Vec<(Pos, String)> = Vec::new();
    if let (Some((c, cat)), Some(m)) = (&keys.cond, &modes.condition) {
        let t = Text::new(c, cat.clone());
        if m == "append" {
            r.condition.append(&t)
        } else {
            r.condition = t
        }
    }
    if let (Some((o, oat)), Some(m)) = (&keys.output, &modes.output) {
        let t = Text::new(o, oat.clone());
        if m == "append" {
            r.output.append(&t)
        } else {
            r.output = t
        }
    }
    if let (Some((d, _)), Some(m)) = (&keys.desc, &modes.desc) {
        if m == "append" {
            r.desc.push(' ');
            r.desc.push_str(d)
        } else {
            r.desc = d.clone()
        }
    }
    if let (Some(t), Some(m)) = (&keys.tags, &modes.tags) {
        if m == "append" {
            r.tags.extend(t.iter().cloned())
        } else {
            r.tags = t.clone()
        }
    }
    if let (Some(p), Some(_)) = (keys.priority, &modes.priority) {
        r.priority = p;
    }
    if let Some(e) = keys.enabled {
        if append || modes.enabled.is_some() {
            r.enabled = e;
        }
    }
    if let (Some(exs), Some(m)) = (keys.exceptions, &modes.exceptions) {
        if m == "replace" {
            r.exceptions = exs;
        } else {
            merge_exceptions(r, exs, &mut problems);
        }
    }
    r.tests.extend(keys.tests);
    if keys.threshold.is_some() {
        r.threshold = keys.threshold;
    }
    if keys.has_actions {
        r.actions.kinds = keys.actions.kinds;
    }
    if keys.actions.mode.is_some() {
        r.actions.mode = keys.actions.mode;
    }
    problems
}

/// Append exceptions to rule `r`: values join an exception of the same
/// name, new names are added.
fn merge_exceptions(r: &mut RuleDef, exs: Vec<ExceptionDef>, problems: &mut Vec<(Pos, String)>) {
    for ex in exs {
        match r.exceptions.iter_mut().find(|e| e.name == ex.name) {
            Some(e) => {
                for v in ex.values {
                    if e.single || v.len() == e.fields.len() {
                        e.values.push(v);
                    } else {
                        problems.push((
                            ex.at.pos,
                            format!(
                                "exception '{}': a value tuple has {} items for {} fields",
                                e.name,
                                v.len(),
                                e.fields.len()
                            ),
                        ));
                    }
                }
            }
            None if ex.fields.is_empty() => problems.push((
                ex.at.pos,
                format!(
                    "exception '{}' has no 'fields' and no earlier exception of that name",
                    ex.name
                ),
            )),
            None => r.exceptions.push(ex),
        }
    }
}
