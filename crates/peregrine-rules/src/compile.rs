//! From a loaded [`RuleSet`] to an [`Engine`]: macro and list expansion,
//! exceptions, field binding, per-event-type indexing.

use crate::ast::{Expr, FieldRef, Literal, Op, Operand};
use crate::diag::{Diagnostic, LoadError};
use crate::eval::{glob_to_regex, Check, Lit, LitSet, Node, Rhs};
use crate::fields::{bind, Bound, FieldType};
use crate::loader::{At, ExceptionDef, Loader, Priority, RuleDef, RuleSet, Text};
use crate::output::Template;
use crate::parser;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// Name.
    pub name: String,
    /// Description.
    pub desc: String,
    /// Priority.
    pub priority: Priority,
    /// Tags.
    pub tags: Vec<String>,
    /// Event source.
    pub source: String,
    /// Condition.
    pub condition: Node,
    /// Output template.
    pub output: Template,
    /// Event types (`evt.type` values) it can match; `None`: any.
    pub event_types: Option<BTreeSet<String>>,
    /// Where it was defined.
    pub at: At,
    /// Embedded tests (raw).
    pub tests: Vec<crate::yaml::Node>,
    /// Alert only past a count of matches in a window (extension).
    pub threshold: Option<crate::threshold::Threshold>,
}

struct Compiler<'a> {
    set: &'a RuleSet,
    macros: HashMap<String, Option<(Arc<Node>, usize)>>,
    stack: Vec<String>,
    diags: Vec<Diagnostic>,
}

fn diag_at(text: &Text, offset: usize, near: &str, msg: String, item: &str) -> Diagnostic {
    let at = text.locate(offset, near);
    Diagnostic::error(&at.source, at.pos, msg).in_item(item)
}

impl<'a> Compiler<'a> {
    fn macro_node(&mut self, name: &str, text: &Text, pos: usize, item: &str) -> Option<Node> {
        if let Some(done) = self.macros.get(name) {
            return done.clone().map(|(n, id)| Node::Shared(n, id));
        }
        let Some(def) = self.set.macros.get(name) else {
            self.diags.push(diag_at(
                text,
                pos,
                name,
                format!("undefined macro '{name}'"),
                item,
            ));
            return None;
        };
        if self.stack.iter().any(|s| s == name) {
            self.diags.push(diag_at(
                text,
                pos,
                name,
                format!(
                    "macro '{name}' refers to itself ({} -> {name})",
                    self.stack.join(" -> ")
                ),
                item,
            ));
            return None;
        }
        self.stack.push(name.to_string());
        let mitem = format!("macro '{name}'");
        let node = match parser::parse(&def.condition.text) {
            Ok(ast) => self.expr(&ast, &def.condition, &mitem),
            Err(e) => {
                self.diags
                    .push(diag_at(&def.condition, e.pos, &e.near, e.message, &mitem));
                None
            }
        };
        self.stack.pop();
        let id = self.macros.len();
        let node = node.map(|n| (Arc::new(n), id));
        self.macros.insert(name.to_string(), node.clone());
        node.map(|(n, id)| Node::Shared(n, id))
    }

    fn expr(&mut self, e: &Expr, text: &Text, item: &str) -> Option<Node> {
        Some(match e {
            Expr::And(v) => Node::And(self.all(v, text, item)?),
            Expr::Or(v) => Node::Or(self.all(v, text, item)?),
            Expr::Not(inner) => Node::Not(Box::new(self.expr(inner, text, item)?)),
            Expr::Macro { name, pos } => self.macro_node(name, text, *pos, item)?,
            Expr::Check { field, op, value } => {
                self.check(field, *op, value.as_ref(), text, item)?
            }
        })
    }

    fn all(&mut self, v: &[Expr], text: &Text, item: &str) -> Option<Vec<Node>> {
        let mut out = Vec::with_capacity(v.len());
        let mut ok = true;
        for e in v {
            match self.expr(e, text, item) {
                Some(n) => out.push(n),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn bind_ref(&mut self, f: &FieldRef, text: &Text, item: &str) -> Option<Bound> {
        match bind(&f.name, f.arg.as_deref()) {
            Ok(b) => Some(b),
            Err(msg) => {
                self.diags.push(diag_at(text, f.pos, &f.name, msg, item));
                None
            }
        }
    }

    /// Expand list names among list items (recursively, loop-safe).
    fn expand_items(&self, items: &[Literal], out: &mut Vec<String>, depth: usize) {
        for it in items {
            match self.set.lists.get(&it.text) {
                Some(l) if !it.quoted && depth < 32 => {
                    let lits: Vec<Literal> = l
                        .items
                        .iter()
                        .map(|s| Literal {
                            text: s.clone(),
                            quoted: false,
                            pos: 0,
                        })
                        .collect();
                    self.expand_items(&lits, out, depth + 1);
                }
                _ => out.push(it.text.clone()),
            }
        }
    }

    fn check(
        &mut self,
        f: &FieldRef,
        op: Op,
        value: Option<&Operand>,
        text: &Text,
        item: &str,
    ) -> Option<Node> {
        let field = self.bind_ref(f, text, item)?;
        let err = |c: &mut Self, pos: usize, near: &str, msg: String| {
            c.diags.push(diag_at(text, pos, near, msg, item));
            None::<Node>
        };
        let rhs = match (op, value) {
            (Op::Exists, _) => Rhs::None,
            (_, None) => {
                return err(
                    self,
                    f.pos,
                    &f.name,
                    format!("'{}' needs a value", op.as_str()),
                )
            }
            (_, Some(Operand::Field(other))) => {
                let b = self.bind_ref(other, text, item)?;
                Rhs::Field(Box::new(b), other.transformers.clone())
            }
            (Op::In | Op::Intersects | Op::PMatch, Some(Operand::List(items))) => {
                let mut vals = Vec::new();
                self.expand_items(items, &mut vals, 0);
                self.list_rhs(op, vals)
            }
            (Op::In | Op::Intersects | Op::PMatch, Some(Operand::Value(l))) => {
                let mut vals = Vec::new();
                self.expand_items(std::slice::from_ref(l), &mut vals, 0);
                self.list_rhs(op, vals)
            }
            (_, Some(Operand::List(items))) => {
                let pos = items.first().map(|i| i.pos).unwrap_or(f.pos);
                return err(
                    self,
                    pos,
                    "(",
                    format!("'{}' takes a single value, not a list", op.as_str()),
                );
            }
            (Op::Regex, Some(Operand::Value(l))) => match regex::Regex::new(&l.text) {
                Ok(r) => Rhs::Regex(Arc::new(r)),
                Err(e) => return err(self, l.pos, &l.text, format!("invalid regex: {e}")),
            },
            (Op::Glob | Op::IGlob, Some(Operand::Value(l))) => {
                match glob_to_regex(&l.text, op == Op::IGlob) {
                    Ok(r) => Rhs::Regex(Arc::new(r)),
                    Err(e) => return err(self, l.pos, &l.text, format!("invalid glob: {e}")),
                }
            }
            (Op::BContains | Op::BStartsWith, Some(Operand::Value(l))) => {
                let hex = l.text.trim();
                let bytes: Option<Vec<u8>> = (hex.len() % 2 == 0)
                    .then(|| {
                        (0..hex.len())
                            .step_by(2)
                            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                            .collect()
                    })
                    .flatten();
                match bytes {
                    Some(b) => Rhs::Bytes(b),
                    None => {
                        return err(
                            self,
                            l.pos,
                            &l.text,
                            format!("'{}' takes hex bytes, not '{}'", op.as_str(), l.text),
                        )
                    }
                }
            }
            (_, Some(Operand::Value(l))) => {
                let lit = Lit::new(&l.text);
                if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge)
                    && field.def.ty == FieldType::Num
                    && lit.num.is_none()
                {
                    return err(
                        self,
                        l.pos,
                        &l.text,
                        format!(
                            "'{}' compares numbers; '{}' is not one",
                            op.as_str(),
                            l.text
                        ),
                    );
                }
                if field.def.ty == FieldType::Ip
                    && matches!(op, Op::Eq | Op::Ne)
                    && lit.net.is_none()
                {
                    return err(
                        self,
                        l.pos,
                        &l.text,
                        format!("'{}' is not an IP address or network", l.text),
                    );
                }
                Rhs::Lit(lit)
            }
        };
        // evt.type against names: a bitmask test instead of string work.
        let rhs = match (&rhs, field.def.name, op, f.transformers.is_empty()) {
            (Rhs::Set(set), "evt.type", Op::In, true) => {
                types_rhs(set.strs.iter().cloned().collect())
            }
            (Rhs::Lit(l), "evt.type", Op::Eq | Op::Ne, true) => types_rhs(vec![l.text.clone()]),
            _ => rhs,
        };
        let any_ancestor = crate::eval::is_any_ancestor(&field);
        Some(Node::Check(Box::new(Check {
            field,
            transformers: f.transformers.clone(),
            op,
            rhs,
            any_ancestor,
        })))
    }

    fn list_rhs(&self, op: Op, vals: Vec<String>) -> Rhs {
        if op == Op::PMatch {
            let p = vals
                .into_iter()
                .map(|v| {
                    if v.len() > 1 {
                        v.trim_end_matches('/').to_string()
                    } else {
                        v
                    }
                })
                .collect();
            return Rhs::Prefixes(Arc::new(p));
        }
        let mut set = LitSet::default();
        for v in vals {
            set.add(v);
        }
        Rhs::Set(Arc::new(set))
    }

    fn exceptions(&mut self, r: &RuleDef, item: &str) -> Option<Vec<Node>> {
        let mut out = Vec::new();
        for ex in &r.exceptions {
            if let Some(n) = self.exception(ex, item) {
                out.push(n);
            } else {
                return None;
            }
        }
        Some(out)
    }

    fn exception(&mut self, ex: &ExceptionDef, item: &str) -> Option<Node> {
        let text = Text {
            text: ex.fields.join(" "),
            frags: vec![crate::loader::Frag {
                start: 0,
                at: ex.at.clone(),
            }],
        };
        let lit = |v: &str| Literal {
            text: v.to_string(),
            quoted: false,
            pos: 0,
        };
        let one = |c: &mut Self, field: &str, comp: &str, values: Vec<&String>| -> Option<Node> {
            let (name, arg) = match crate::fields::split_field(field) {
                Ok((n, a)) => (n.to_string(), a.map(str::to_string)),
                Err(msg) => {
                    c.diags.push(
                        Diagnostic::error(
                            &ex.at.source,
                            ex.at.pos,
                            format!("exception '{}': {msg}", ex.name),
                        )
                        .in_item(item),
                    );
                    return None;
                }
            };
            let fref = FieldRef {
                name,
                arg,
                transformers: Vec::new(),
                pos: 0,
            };
            let Some(op) = Op::from_token(comp) else {
                c.diags.push(
                    Diagnostic::error(
                        &ex.at.source,
                        ex.at.pos,
                        format!("exception '{}': unknown comparison '{comp}'", ex.name),
                    )
                    .in_item(item),
                );
                return None;
            };
            let operand = if op.takes_list() {
                Operand::List(values.iter().map(|v| lit(v)).collect())
            } else {
                Operand::Value(lit(values.first().map(|s| s.as_str()).unwrap_or("")))
            };
            c.check(&fref, op, Some(&operand), &text, item)
        };
        if ex.values.is_empty() {
            return Some(Node::Const(false));
        }
        if ex.single {
            // One field compared with the whole list of values.
            let values: Vec<&String> = ex.values.iter().flatten().collect();
            return one(self, &ex.fields[0], &ex.comps[0], values);
        }
        let mut alts = Vec::new();
        for tuple in &ex.values {
            let mut conj = Vec::new();
            for (i, field) in ex.fields.iter().enumerate() {
                conj.push(one(self, field, &ex.comps[i], vec![&tuple[i]])?);
            }
            alts.push(if conj.len() == 1 {
                conj.pop().unwrap()
            } else {
                Node::And(conj)
            });
        }
        Some(Node::Or(alts))
    }
}

fn types_rhs(names: Vec<String>) -> Rhs {
    let mut mask = 0u128;
    for n in &names {
        if let Some(c) = crate::eval::evt_type_code_of(n) {
            mask |= 1u128 << c;
        }
    }
    Rhs::Types(mask, Arc::new(names))
}

/// Event types a condition can match; `None` means any.
fn event_types(n: &Node) -> Option<BTreeSet<String>> {
    match n {
        Node::Check(c) if c.field.def.name == "evt.type" && c.transformers.is_empty() => {
            match (&c.op, &c.rhs) {
                (Op::Eq, Rhs::Lit(l)) => Some([l.text.clone()].into_iter().collect()),
                (Op::In, Rhs::Set(s)) => Some(s.strs.iter().cloned().collect()),
                (Op::Eq | Op::In, Rhs::Types(_, names)) => Some(names.iter().cloned().collect()),
                _ => None,
            }
        }
        Node::Shared(inner, _) => event_types(inner),
        Node::And(v) => {
            let mut acc: Option<BTreeSet<String>> = None;
            for c in v {
                if let Some(t) = event_types(c) {
                    acc = Some(match acc {
                        None => t,
                        Some(a) => a.intersection(&t).cloned().collect(),
                    });
                }
            }
            acc
        }
        Node::Or(v) => {
            let mut acc = BTreeSet::new();
            for c in v {
                acc.extend(event_types(c)?);
            }
            Some(acc)
        }
        Node::Const(false) => Some(BTreeSet::new()),
        _ => None,
    }
}

/// Compile a loaded rule set: every problem is reported; nothing partial.
pub fn compile(loader: Loader) -> Result<(Vec<CompiledRule>, usize, Vec<Diagnostic>), LoadError> {
    let Loader { set, mut diags } = loader;
    let mut c = Compiler {
        set: &set,
        macros: HashMap::new(),
        stack: Vec::new(),
        diags: Vec::new(),
    };
    let mut rules = Vec::new();
    let mut simplified = HashMap::new();
    for r in &set.rules {
        let item = format!("rule '{}'", r.name);
        if r.source != "syscall" {
            diags.push(
                Diagnostic::warning(
                    &r.at.source,
                    r.at.pos,
                    format!(
                        "event source '{}' is not supported: rule not loaded",
                        r.source
                    ),
                )
                .in_item(&item),
            );
            continue;
        }
        let cond = match parser::parse(&r.condition.text) {
            Ok(ast) => c.expr(&ast, &r.condition, &item),
            Err(e) => {
                c.diags
                    .push(diag_at(&r.condition, e.pos, &e.near, e.message, &item));
                None
            }
        };
        let exc = c.exceptions(r, &item);
        let output = match Template::compile(&r.output.text) {
            Ok(t) => Some(t),
            Err((pos, msg)) => {
                let near: String = r
                    .output
                    .text
                    .chars()
                    .skip(pos)
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                c.diags.push(diag_at(
                    &r.output,
                    pos,
                    &near,
                    format!("in output: {msg}"),
                    &item,
                ));
                None
            }
        };
        let threshold = match r
            .threshold
            .as_ref()
            .map(|t| crate::threshold::Threshold::compile(t, &item))
        {
            None => Some(None),
            Some(Ok(t)) => Some(Some(t)),
            Some(Err(errs)) => {
                c.diags.extend(errs);
                None
            }
        };
        let (Some(cond), Some(exc), Some(output), Some(threshold)) = (cond, exc, output, threshold)
        else {
            continue;
        };
        let condition = if exc.is_empty() {
            cond
        } else {
            Node::And(vec![cond, Node::Not(Box::new(Node::Or(exc)))])
        };
        let condition = crate::optimize::simplify(&condition, &mut simplified);
        let event_types = event_types(&condition);
        if r.enabled {
            rules.push(CompiledRule {
                name: r.name.clone(),
                desc: r.desc.clone(),
                priority: r.priority,
                tags: r.tags.clone(),
                source: r.source.clone(),
                condition,
                output,
                event_types,
                at: r.at.clone(),
                tests: r.tests.clone(),
                threshold,
            });
        }
    }
    // Macros no rule uses are still checked for syntax, as Falco does.
    let mut names: Vec<&String> = set.macros.keys().collect();
    names.sort();
    for name in names {
        if !c.macros.contains_key(name.as_str()) {
            let def = &set.macros[name];
            if let Err(e) = parser::parse(&def.condition.text) {
                c.diags.push(diag_at(
                    &def.condition,
                    e.pos,
                    &e.near,
                    e.message,
                    &format!("macro '{name}'"),
                ));
            }
        }
    }
    diags.append(&mut c.diags);
    if diags.iter().any(|d| d.is_error()) {
        return Err(LoadError { diagnostics: diags });
    }
    Ok((rules, c.macros.len(), diags))
}
