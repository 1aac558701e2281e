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
            let mut values = Vec::new();
            if let Some(v) = ex.get("values") {
                for tuple in v.as_seq().unwrap_or(&[]) {
                    if !has_fields {
                        // Values appended to an exception defined earlier:
                        // checked against its fields when merged.
                        match (&tuple.kind, scalar_list(tuple)) {
                            (NodeKind::Scalar(s), _) => values.push(vec![s.clone()]),
                            (_, Some(t)) => values.push(t),
                            _ => self.err(
                                src,
                                tuple.pos,
                                item,
                                format!("exception '{name}': invalid value"),
                            ),
                        }
                    } else if single {
                        match &tuple.kind {
                            NodeKind::Scalar(s) => values.push(vec![s.clone()]),
                            _ => self.err(
                                src,
                                tuple.pos,
                                item,
                                format!("exception '{name}': values of a single field are scalars"),
                            ),
                        }
                    } else {
                        match scalar_list(tuple) {
                            Some(t) if t.len() == fields.len() => values.push(t),
                            Some(t) => self.err(
                                src,
                                tuple.pos,
                                item,
                                format!(
                                    "exception '{name}': a value tuple has {} items for {} fields",
                                    t.len(),
                                    fields.len()
                                ),
                            ),
                            None => self.err(
                                src,
                                tuple.pos,
                                item,
                                format!("exception '{name}': each value must be a list"),
                            ),
                        }
                    }
                }
            }
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

    pub(super) fn rule(&mut self, src: &Arc<Source>, node: &Node) {
        let Some((name, at)) = self.str_field(src, node, "rule", "rule") else {
            return;
        };
        let item = format!("rule '{name}'");
        self.check_keys(src, node, RULE_KEYS, &item);
        let existing = self.set.rules.iter().position(|r| r.name == name);
        let append = node.get("append").and_then(Node::as_bool).unwrap_or(false);
        let has_override = node.get("override").is_some();
        let cond = self.str_field(src, node, "condition", &item);
        let output = self.str_field(src, node, "output", &item);
        let desc = self.str_field(src, node, "desc", &item);
        let priority = match node.get("priority") {
            Some(p) => match p.as_str().and_then(Priority::parse) {
                Some(pr) => Some(pr),
                None => {
                    self.err(src, p.pos, &item, format!(
                        "invalid priority '{}': expected one of EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFORMATIONAL, DEBUG",
                        p.as_str().unwrap_or("")
                    ));
                    return;
                }
            },
            None => None,
        };
        let tags = match node.get("tags") {
            Some(t) => match scalar_list(t) {
                Some(v) => Some(v),
                None => {
                    self.err(src, t.pos, &item, "'tags' must be a list of strings");
                    return;
                }
            },
            None => None,
        };
        let enabled = match node.get("enabled") {
            Some(e) => match e.as_bool() {
                Some(b) => Some(b),
                None => {
                    self.err(src, e.pos, &item, "'enabled' must be true or false");
                    return;
                }
            },
            None => None,
        };
        let exceptions = node
            .get("exceptions")
            .map(|e| self.exceptions(src, e, &item));
        let tests = node
            .get("tests")
            .and_then(|t| t.as_seq())
            .map(|t| t.to_vec())
            .unwrap_or_default();
        let threshold = match node.get("threshold") {
            Some(t) => match self.threshold(src, t, &item) {
                Some(t) => Some(t),
                None => return,
            },
            None => None,
        };
        let source = node
            .get("source")
            .and_then(|s| s.as_str())
            .unwrap_or("syscall")
            .to_string();

        if append || has_override {
            let Some(idx) = existing else {
                return self.err(
                    src,
                    at.pos,
                    &item,
                    format!("rule '{name}' is appended to or overridden before it is defined"),
                );
            };
            let mode = |l: &mut Loader, key: &str| -> Option<String> {
                if append {
                    Some("append".to_string())
                } else {
                    l.override_of(src, node, key, &item)
                }
            };
            let cmode = mode(self, "condition");
            let omode = mode(self, "output");
            let dmode = mode(self, "desc");
            let tmode = mode(self, "tags");
            let emode = mode(self, "exceptions");
            let pmode = self.override_of(src, node, "priority", &item);
            let enmode = self.override_of(src, node, "enabled", &item);
            let mut problems: Vec<(Pos, String)> = Vec::new();
            let r = &mut self.set.rules[idx];
            if let (Some((c, cat)), Some(m)) = (&cond, &cmode) {
                let t = Text::new(c, cat.clone());
                if m == "append" {
                    r.condition.append(&t)
                } else {
                    r.condition = t
                }
            }
            if let (Some((o, oat)), Some(m)) = (&output, &omode) {
                let t = Text::new(o, oat.clone());
                if m == "append" {
                    r.output.append(&t)
                } else {
                    r.output = t
                }
            }
            if let (Some((d, _)), Some(m)) = (&desc, &dmode) {
                if m == "append" {
                    r.desc.push(' ');
                    r.desc.push_str(d)
                } else {
                    r.desc = d.clone()
                }
            }
            if let (Some(t), Some(m)) = (&tags, &tmode) {
                if m == "append" {
                    r.tags.extend(t.iter().cloned())
                } else {
                    r.tags = t.clone()
                }
            }
            if let (Some(p), Some(_)) = (priority, &pmode) {
                r.priority = p;
            }
            if let Some(e) = enabled {
                if append || enmode.is_some() {
                    r.enabled = e;
                }
            }
            if let (Some(exs), Some(m)) = (exceptions, &emode) {
                if m == "replace" {
                    r.exceptions = exs;
                } else {
                    for ex in exs {
                        match r.exceptions.iter_mut().find(|e| e.name == ex.name) {
                            Some(e) => {
                                for v in ex.values {
                                    if e.single || v.len() == e.fields.len() {
                                        e.values.push(v);
                                    } else {
                                        problems.push((ex.at.pos, format!(
                                            "exception '{}': a value tuple has {} items for {} fields",
                                            e.name, v.len(), e.fields.len()
                                        )));
                                    }
                                }
                            }
                            None if ex.fields.is_empty() => problems.push((ex.at.pos, format!(
                                "exception '{}' has no 'fields' and no earlier exception of that name", ex.name
                            ))),
                            None => r.exceptions.push(ex),
                        }
                    }
                }
            }
            r.tests.extend(tests);
            if threshold.is_some() {
                r.threshold = threshold;
            }
            for (pos, msg) in problems {
                self.err(src, pos, &item, msg);
            }
            return;
        }

        // `- rule: X\n  enabled: false` alone toggles an existing rule.
        if cond.is_none() && output.is_none() && desc.is_none() && priority.is_none() {
            match (existing, enabled) {
                (Some(idx), Some(e)) => {
                    self.set.rules[idx].enabled = e;
                    return;
                }
                _ => {
                    return self.err(
                        src,
                        at.pos,
                        &item,
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
                &item,
                format!("rule is missing: {}", missing.join(", ")),
            );
        }
        for ex in exceptions.iter().flatten() {
            if ex.fields.is_empty() {
                return self.err(
                    src,
                    ex.at.pos,
                    &item,
                    format!("exception '{}' has no 'fields'", ex.name),
                );
            }
        }
        let (c, cat) = cond.unwrap();
        let (o, oat) = output.unwrap();
        let def = RuleDef {
            name: name.clone(),
            desc: desc.unwrap().0,
            condition: Text::new(&c, cat),
            output: Text::new(&o, oat),
            priority: priority.unwrap(),
            tags: tags.unwrap_or_default(),
            enabled: enabled.unwrap_or(true),
            source,
            exceptions: exceptions.unwrap_or_default(),
            tests,
            threshold,
            at,
        };
        match existing {
            Some(idx) => self.set.rules[idx] = def,
            None => self.set.rules.push(def),
        }
    }
}
