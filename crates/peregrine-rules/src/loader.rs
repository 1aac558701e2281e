//! Loading Falco rules files: rules, macros, lists, exceptions, `append`,
//! `override`, `enabled`, engine/plugin requirements — with Falco's
//! semantics for several files (later files refine earlier ones).

use crate::diag::{Diagnostic, Pos, Source};
use crate::yaml::{self, Node, NodeKind};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// The Falco rules engine version whose files we accept.
pub const ENGINE_COMPAT_VERSION: (u64, u64, u64) = (0, 57, 0);

/// Where something was written.
#[derive(Debug, Clone)]
pub struct At {
    /// File.
    pub source: Arc<Source>,
    /// Position.
    pub pos: Pos,
}

/// A piece of a condition that came from one place (appends add pieces).
#[derive(Debug, Clone)]
pub struct Frag {
    /// Character offset of the piece in the combined text.
    pub start: usize,
    /// Where the piece was written.
    pub at: At,
}

/// Text assembled from one or more YAML scalars.
#[derive(Debug, Clone)]
pub struct Text {
    /// The text.
    pub text: String,
    /// Its pieces.
    pub frags: Vec<Frag>,
}

impl Text {
    fn new(text: &str, at: At) -> Text {
        Text {
            text: text.to_string(),
            frags: vec![Frag { start: 0, at }],
        }
    }
    fn append(&mut self, more: &Text) {
        let start = self.text.chars().count() + 1;
        self.text.push(' ');
        self.text.push_str(&more.text);
        for f in &more.frags {
            self.frags.push(Frag {
                start: start + f.start,
                at: f.at.clone(),
            });
        }
    }
    /// Source position of a character offset, locating `near` in the file.
    pub fn locate(&self, offset: usize, near: &str) -> At {
        let frag = self
            .frags
            .iter()
            .rev()
            .find(|f| f.start <= offset)
            .unwrap_or(&self.frags[0]);
        let needle: String = near.chars().take(30).collect();
        let pos = frag
            .at
            .source
            .find_from(frag.at.pos.index, needle.trim())
            .unwrap_or(frag.at.pos);
        At {
            source: frag.at.source.clone(),
            pos,
        }
    }
}

/// Rule priority, most severe first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Priority {
    /// System is unusable.
    Emergency,
    /// Act immediately.
    Alert,
    /// Critical.
    Critical,
    /// Error.
    Error,
    /// Warning.
    Warning,
    /// Notice.
    Notice,
    /// Informational.
    Informational,
    /// Debug.
    Debug,
}

impl Priority {
    /// Parse a priority name (case-insensitive; INFO accepted).
    pub fn parse(s: &str) -> Option<Priority> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "EMERGENCY" => Priority::Emergency,
            "ALERT" => Priority::Alert,
            "CRITICAL" => Priority::Critical,
            "ERROR" => Priority::Error,
            "WARNING" | "WARN" => Priority::Warning,
            "NOTICE" => Priority::Notice,
            "INFORMATIONAL" | "INFO" => Priority::Informational,
            "DEBUG" => Priority::Debug,
            _ => return None,
        })
    }
    /// Falco's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `list`.
#[derive(Debug, Clone)]
pub struct ListDef {
    /// Name.
    pub name: String,
    /// Items.
    pub items: Vec<String>,
    /// Definition.
    pub at: At,
}

/// A `macro`.
#[derive(Debug, Clone)]
pub struct MacroDef {
    /// Name.
    pub name: String,
    /// Condition.
    pub condition: Text,
    /// Definition.
    pub at: At,
}

/// One `exceptions` entry.
#[derive(Debug, Clone)]
pub struct ExceptionDef {
    /// Name.
    pub name: String,
    /// Fields (one, or a tuple).
    pub fields: Vec<String>,
    /// True when `fields` was a single scalar (values are then a flat list).
    pub single: bool,
    /// Comparison operators, one per field.
    pub comps: Vec<String>,
    /// Value tuples.
    pub values: Vec<Vec<String>>,
    /// Definition.
    pub at: At,
}

/// A `rule`.
#[derive(Debug, Clone)]
pub struct RuleDef {
    /// Name.
    pub name: String,
    /// Description.
    pub desc: String,
    /// Condition.
    pub condition: Text,
    /// Output template.
    pub output: Text,
    /// Priority.
    pub priority: Priority,
    /// Tags.
    pub tags: Vec<String>,
    /// Enabled.
    pub enabled: bool,
    /// Event source (`syscall`).
    pub source: String,
    /// Exceptions.
    pub exceptions: Vec<ExceptionDef>,
    /// Embedded test cases (Peregrine extension), raw.
    pub tests: Vec<Node>,
    /// Definition.
    pub at: At,
}

/// Everything loaded from one or more files.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// Rules in definition order.
    pub rules: Vec<RuleDef>,
    /// Macros by name.
    pub macros: HashMap<String, MacroDef>,
    /// Lists by name.
    pub lists: HashMap<String, ListDef>,
    /// `required_plugin_versions` entries (name, version).
    pub plugins: Vec<(String, String)>,
    /// Counts per file: (file, rules, macros, lists) as written.
    pub file_counts: Vec<(String, usize, usize, usize)>,
}

/// Loads files one after the other into a [`RuleSet`], collecting diagnostics.
#[derive(Debug, Default)]
pub struct Loader {
    /// The result so far.
    pub set: RuleSet,
    /// Problems found.
    pub diags: Vec<Diagnostic>,
}

fn scalar_list(n: &Node) -> Option<Vec<String>> {
    match &n.kind {
        NodeKind::Seq(items) => items
            .iter()
            .map(|i| match &i.kind {
                NodeKind::Scalar(s) => Some(s.clone()),
                NodeKind::Null => Some(String::new()),
                _ => None,
            })
            .collect(),
        NodeKind::Null => Some(Vec::new()),
        _ => None,
    }
}

fn is_true(n: &Node) -> Option<bool> {
    match n.as_str()?.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Some(true),
        "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_version(s: &str) -> Option<(u64, u64, u64)> {
    let mut it = s.trim().split('.');
    let a = it.next()?.parse().ok()?;
    let b = it.next().unwrap_or("0").parse().ok()?;
    let c = it.next().unwrap_or("0").parse().ok()?;
    Some((a, b, c))
}

const RULE_KEYS: &[&str] = &[
    "rule",
    "desc",
    "condition",
    "output",
    "priority",
    "tags",
    "enabled",
    "source",
    "exceptions",
    "append",
    "override",
    "warn_evttypes",
    "skip-if-unknown-filter",
    "capture",
    "capture_duration",
    "tests",
];
const MACRO_KEYS: &[&str] = &["macro", "condition", "append", "override"];
const LIST_KEYS: &[&str] = &["list", "items", "append", "override"];

impl Loader {
    /// A fresh loader.
    pub fn new() -> Loader {
        Loader::default()
    }

    /// True when an error was found.
    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.is_error())
    }

    /// Load one file's text.
    pub fn load_str(&mut self, name: &str, text: &str) {
        let src = Arc::new(Source {
            name: name.to_string(),
            text: text.to_string(),
        });
        let docs = match yaml::parse(&src) {
            Ok(d) => d,
            Err(e) => {
                self.diags.push(e);
                return;
            }
        };
        let mut counts = (0, 0, 0);
        for doc in docs {
            match &doc.kind {
                NodeKind::Seq(items) => {
                    for item in items {
                        self.item(&src, item, &mut counts);
                    }
                }
                NodeKind::Null => {}
                _ => self.diags.push(Diagnostic::error(
                    &src,
                    doc.pos,
                    format!(
                        "a rules file is a sequence of items, found {}",
                        doc.type_name()
                    ),
                )),
            }
        }
        self.set
            .file_counts
            .push((name.to_string(), counts.0, counts.1, counts.2));
    }

    /// Load a file from disk.
    pub fn load_file(&mut self, path: &std::path::Path) {
        match std::fs::read_to_string(path) {
            Ok(t) => self.load_str(&path.display().to_string(), &t),
            Err(e) => self.diags.push(Diagnostic {
                severity: crate::diag::Severity::Error,
                source: None,
                pos: Pos::default(),
                message: format!("cannot read {}: {e}", path.display()),
                item: None,
            }),
        }
    }

    fn err(&mut self, src: &Arc<Source>, pos: Pos, item: &str, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(src, pos, msg).in_item(item));
    }

    fn warn(&mut self, src: &Arc<Source>, pos: Pos, item: &str, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::warning(src, pos, msg).in_item(item));
    }

    fn check_keys(&mut self, src: &Arc<Source>, node: &Node, allowed: &[&str], item: &str) {
        for (k, _) in node.as_map().unwrap_or(&[]) {
            let key = k.as_str().unwrap_or("");
            if !allowed.contains(&key) {
                self.warn(src, k.pos, item, format!("unknown key '{key}' ignored"));
            }
        }
    }

    fn str_field(
        &mut self,
        src: &Arc<Source>,
        node: &Node,
        key: &str,
        item: &str,
    ) -> Option<(String, At)> {
        let v = node.get(key)?;
        match &v.kind {
            NodeKind::Scalar(s) => Some((
                s.clone(),
                At {
                    source: src.clone(),
                    pos: v.pos,
                },
            )),
            NodeKind::Null => Some((
                String::new(),
                At {
                    source: src.clone(),
                    pos: v.pos,
                },
            )),
            _ => {
                self.err(
                    src,
                    v.pos,
                    item,
                    format!("'{key}' must be a string, found {}", v.type_name()),
                );
                None
            }
        }
    }

    /// The override mode of `key`: None, "append" or "replace".
    fn override_of(
        &mut self,
        src: &Arc<Source>,
        node: &Node,
        key: &str,
        item: &str,
    ) -> Option<String> {
        let ov = node.get("override")?;
        let Some(map) = ov.as_map() else {
            self.err(
                src,
                ov.pos,
                item,
                "'override' must be a mapping of key: append|replace",
            );
            return None;
        };
        for (k, v) in map {
            if k.as_str() == Some(key) {
                return match v.as_str() {
                    Some(m @ ("append" | "replace")) => Some(m.to_string()),
                    _ => {
                        self.err(
                            src,
                            v.pos,
                            item,
                            format!("override of '{key}' must be 'append' or 'replace'"),
                        );
                        None
                    }
                };
            }
        }
        None
    }

    fn item(&mut self, src: &Arc<Source>, node: &Node, counts: &mut (usize, usize, usize)) {
        let Some(map) = node.as_map() else {
            self.diags.push(Diagnostic::error(
                src,
                node.pos,
                format!("each item must be a mapping, found {}", node.type_name()),
            ));
            return;
        };
        let first = map.first().and_then(|(k, _)| k.as_str()).unwrap_or("");
        let kind = [
            "rule",
            "macro",
            "list",
            "required_engine_version",
            "required_plugin_versions",
        ]
        .into_iter()
        .find(|k| node.get(k).is_some())
        .unwrap_or(first);
        match kind {
            "rule" => {
                counts.0 += 1;
                self.rule(src, node)
            }
            "macro" => {
                counts.1 += 1;
                self.macro_(src, node)
            }
            "list" => {
                counts.2 += 1;
                self.list(src, node)
            }
            "required_engine_version" => {
                let v = node.get(kind).unwrap();
                let text = v.as_str().unwrap_or("");
                match parse_version(text) {
                    Some(req) if req > ENGINE_COMPAT_VERSION => self.diags.push(Diagnostic::error(
                        src,
                        v.pos,
                        format!(
                            "rules require engine version {text}, this engine is compatible with {}.{}.{}",
                            ENGINE_COMPAT_VERSION.0, ENGINE_COMPAT_VERSION.1, ENGINE_COMPAT_VERSION.2
                        ),
                    )),
                    Some(_) => {}
                    None => self.diags.push(Diagnostic::error(src, v.pos, format!("invalid engine version '{text}'"))),
                }
            }
            "required_plugin_versions" => {
                let v = node.get(kind).unwrap();
                for p in v.as_seq().unwrap_or(&[]) {
                    let name = p.get("name").and_then(|n| n.as_str()).unwrap_or("").to_string();
                    let ver = p.get("version").and_then(|n| n.as_str()).unwrap_or("").to_string();
                    if name.is_empty() {
                        self.diags.push(Diagnostic::error(src, p.pos, "plugin requirement without a name"));
                        continue;
                    }
                    // Container and k8s metadata are native in Peregrine.
                    if !matches!(name.as_str(), "container" | "k8smeta") {
                        self.diags.push(Diagnostic::warning(src, p.pos, format!(
                            "plugin '{name}' is not available: rules of its event sources will not run"
                        )));
                    }
                    self.set.plugins.push((name, ver));
                }
            }
            other => self.diags.push(Diagnostic::error(
                src,
                node.pos,
                format!("unknown item '{other}': expected rule, macro, list, required_engine_version or required_plugin_versions"),
            )),
        }
    }

    fn list(&mut self, src: &Arc<Source>, node: &Node) {
        let Some((name, at)) = self.str_field(src, node, "list", "list") else {
            return;
        };
        let item = format!("list '{name}'");
        self.check_keys(src, node, LIST_KEYS, &item);
        let items = match node.get("items") {
            Some(v) => match scalar_list(v) {
                Some(i) => i,
                None => return self.err(src, v.pos, &item, "'items' must be a list of strings"),
            },
            None => return self.err(src, at.pos, &item, "list without 'items'"),
        };
        let append = node.get("append").and_then(is_true).unwrap_or(false)
            || self.override_of(src, node, "items", &item).as_deref() == Some("append");
        if append {
            match self.set.lists.get_mut(&name) {
                Some(l) => l.items.extend(items),
                None => self.err(
                    src,
                    at.pos,
                    &item,
                    format!("list '{name}' appended to before it is defined"),
                ),
            }
        } else {
            self.set
                .lists
                .insert(name.clone(), ListDef { name, items, at });
        }
    }

    fn macro_(&mut self, src: &Arc<Source>, node: &Node) {
        let Some((name, at)) = self.str_field(src, node, "macro", "macro") else {
            return;
        };
        let item = format!("macro '{name}'");
        self.check_keys(src, node, MACRO_KEYS, &item);
        let Some((cond, cat)) = self.str_field(src, node, "condition", &item) else {
            return self.err(src, at.pos, &item, "macro without 'condition'");
        };
        let text = Text::new(&cond, cat);
        let append = node.get("append").and_then(is_true).unwrap_or(false)
            || self.override_of(src, node, "condition", &item).as_deref() == Some("append");
        if append {
            match self.set.macros.get_mut(&name) {
                Some(m) => m.condition.append(&text),
                None => self.err(
                    src,
                    at.pos,
                    &item,
                    format!("macro '{name}' appended to before it is defined"),
                ),
            }
        } else {
            self.set.macros.insert(
                name.clone(),
                MacroDef {
                    name,
                    condition: text,
                    at,
                },
            );
        }
    }

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
                    if single {
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

    fn rule(&mut self, src: &Arc<Source>, node: &Node) {
        let Some((name, at)) = self.str_field(src, node, "rule", "rule") else {
            return;
        };
        let item = format!("rule '{name}'");
        self.check_keys(src, node, RULE_KEYS, &item);
        let existing = self.set.rules.iter().position(|r| r.name == name);
        let append = node.get("append").and_then(is_true).unwrap_or(false);
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
            Some(e) => match is_true(e) {
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
                            Some(e) => e.values.extend(ex.values),
                            None => r.exceptions.push(ex),
                        }
                    }
                }
            }
            r.tests.extend(tests);
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
            at,
        };
        match existing {
            Some(idx) => self.set.rules[idx] = def,
            None => self.set.rules.push(def),
        }
    }
}
