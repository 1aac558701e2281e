//! Loading Falco rules files: rules, macros, lists, exceptions, `append`,
//! `override`, `enabled`, engine/plugin requirements — with Falco's
//! semantics for several files (later files refine earlier ones).

mod actions;
mod rule;
mod sequence;
mod threshold;

pub use sequence::{parse_duration, SeqBy, SequenceDef, StepDef};
pub use threshold::ThresholdDef;

use crate::diag::{Diagnostic, Pos, Source};
use crate::yaml::{self, Node, NodeKind};
use std::collections::HashMap;
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
    /// Length of `text` in characters.
    pub chars: usize,
}

impl Text {
    /// A text written in one place.
    pub fn new(text: &str, at: At) -> Text {
        Text {
            text: text.to_string(),
            frags: vec![Frag { start: 0, at }],
            chars: text.chars().count(),
        }
    }
    fn append(&mut self, more: &Text) {
        let start = self.chars + 1;
        self.chars = start + more.chars;
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
        // Pieces are in order of `start`.
        let i = self.frags.partition_point(|f| f.start <= offset);
        let frag = &self.frags[i.saturating_sub(1)];
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

pub use peregrine_event::Priority;

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
    /// Alert only past a count of matches in a window (Peregrine extension).
    pub threshold: Option<ThresholdDef>,
    /// Response actions (Peregrine extension).
    pub actions: crate::actions::RuleActions,
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
    /// Sequence rules (Peregrine extension) in definition order.
    pub sequences: Vec<SequenceDef>,
}

/// Loads files one after the other into a [`RuleSet`], collecting diagnostics.
#[derive(Debug, Default)]
pub struct Loader {
    /// The result so far.
    pub set: RuleSet,
    /// Problems found.
    pub diags: Vec<Diagnostic>,
    /// Index in `set.rules` by name (a rule is looked up for every item).
    rule_index: HashMap<String, usize>,
}

pub(crate) fn scalar_list(n: &Node) -> Option<Vec<String>> {
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

fn parse_version(s: &str) -> Option<(u64, u64, u64)> {
    // A bare number is Falco's older form: engine version N is 0.N.0.
    if let Ok(minor) = s.trim().parse::<u64>() {
        return Some((0, minor, 0));
    }
    let mut it = s.trim().split('.');
    let a = it.next()?.parse().ok()?;
    let b = it.next().unwrap_or("0").parse().ok()?;
    let c = it.next().unwrap_or("0").parse().ok()?;
    Some((a, b, c))
}

pub(crate) const RULE_KEYS: &[&str] = &[
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
    "threshold",
    "actions",
    "action_mode",
];
const MACRO_KEYS: &[&str] = &["macro", "condition", "append", "override"];
const LIST_KEYS: &[&str] = &["list", "items", "append", "override"];

impl Loader {
    /// A fresh loader.
    pub fn new() -> Loader {
        Loader::default()
    }

    /// The index of rule `name` in `set.rules`.
    fn rule_position(&mut self, name: &str) -> Option<usize> {
        let rules = &self.set.rules;
        match self.rule_index.get(name) {
            Some(&i) if rules.get(i).is_some_and(|r| r.name == name) => Some(i),
            // `set` is public: rebuild if it was changed behind our back.
            _ if self.rule_index.len() != rules.len() => {
                self.rule_index = rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (r.name.clone(), i))
                    .collect();
                self.rule_index.get(name).copied()
            }
            _ => None,
        }
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
        // Each item's YAML tree is dropped once loaded (the whole file's
        // tree and what it loads into are never held at once).
        for doc in docs {
            match doc.kind {
                NodeKind::Seq(items) => {
                    for item in items {
                        self.item(&src, &item, &mut counts);
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

    /// Load a rules path: a file, a directory (its `*.yaml`/`*.yml` files
    /// in lexical order) or an embedded file (`builtin:NAME`, `builtin:`
    /// for the whole default ruleset); see [`crate::sources`]. A path that
    /// does not exist is an error naming it.
    pub fn load_path(&mut self, path: &std::path::Path) {
        match crate::sources::expand(path) {
            Ok(files) => {
                for f in files {
                    match f {
                        crate::sources::RuleFile::Disk(p) => self.load_file(&p),
                        crate::sources::RuleFile::Builtin(e) => {
                            self.load_str(&format!("{}{}", crate::sources::BUILTIN, e.name), e.text)
                        }
                    }
                }
            }
            Err(message) => self.diags.push(Diagnostic {
                severity: crate::diag::Severity::Error,
                source: None,
                pos: Pos::default(),
                message,
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
            "sequence",
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
            "sequence" => self.sequence(src, node),
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
                    // Container and k8s metadata, k8s audit and JSON fields are native.
                    if !matches!(name.as_str(), "container" | "k8smeta" | "k8saudit" | "json") {
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
        let append = node.get("append").and_then(Node::as_bool).unwrap_or(false)
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
        let append = node.get("append").and_then(Node::as_bool).unwrap_or(false)
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
}
