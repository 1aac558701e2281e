//! From a loaded [`RuleSet`] to an [`Engine`]: macro and list expansion,
//! exceptions, field binding, per-event-type indexing.

use crate::ast::{Expr, FieldRef, Literal, Op, Operand};
use crate::diag::{Diagnostic, LoadError};
use crate::eval::{glob_to_regex, Check, Lit, Node, Rhs};
use crate::fields::{bind, Bound, FieldType};
use crate::limits::{MAX_DIAGNOSTICS, MAX_EXPANDED_DEPTH, MAX_INDEXED_EVENT_TYPES};
use crate::loader::{At, ExceptionDef, Loader, Priority, RuleDef, RuleSet, Text};
use crate::output::Template;
use crate::parser;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

mod lists;

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
    /// Response actions (extension).
    pub actions: crate::actions::RuleActions,
    /// What `block` stops, when the rule has that action.
    pub block: Option<crate::actions::BlockTarget>,
}

/// A compiled macro: its shared body, memo slot and expanded depth.
type MacroDone = Option<(Arc<Node>, usize, usize)>;

/// Compiles conditions of one rule set (macros and lists expanded once).
pub(crate) struct Compiler<'a> {
    set: &'a RuleSet,
    /// Every macro compiled once, by name (`None`: it has errors).
    macros: HashMap<String, MacroDone>,
    /// Macros being expanded, outermost first.
    stack: Vec<String>,
    /// Lists expanded once, by name (`None`: it has errors).
    lists: HashMap<String, Option<Arc<Vec<String>>>>,
    /// Lists being expanded, outermost first.
    list_stack: Vec<String>,
    /// List operands compiled once.
    operands: HashMap<lists::OperandKey, Rhs>,
    /// Expanded list values so far, and the most allowed.
    values: usize,
    max_values: usize,
    /// Nesting of the expression being compiled, macros expanded.
    depth: usize,
    /// Deepest nesting reached since the current macro started.
    peak: usize,
    /// The depth limit was reported for the current rule.
    too_deep: bool,
    diags: Vec<Diagnostic>,
    /// Errors past [`MAX_DIAGNOSTICS`], counted only.
    suppressed: usize,
}

impl Compiler<'_> {
    /// Report an error at a character offset of `text` (located in its
    /// file only while under [`MAX_DIAGNOSTICS`]; later ones are counted).
    pub(crate) fn report_at(
        &mut self,
        text: &Text,
        offset: usize,
        near: &str,
        msg: String,
        item: &str,
    ) {
        if self.diags.len() >= MAX_DIAGNOSTICS {
            self.suppressed += 1;
            return;
        }
        self.diags.push(diag_at(text, offset, near, msg, item));
    }
}

fn diag_at(text: &Text, offset: usize, near: &str, msg: String, item: &str) -> Diagnostic {
    let at = text.locate(offset, near);
    Diagnostic::error(&at.source, at.pos, msg).in_item(item)
}

impl<'a> Compiler<'a> {
    fn macro_node(&mut self, name: &str, text: &Text, pos: usize, item: &str) -> Option<Node> {
        if self.too_deep {
            // This rule already failed: expanding more of it (maybe
            // exponentially more, as what failed is not memoised) is no use.
            return None;
        }
        if let Some(done) = self.macros.get(name) {
            let (node, id, depth) = done.clone()?;
            self.peak = self.peak.max(self.depth + depth);
            if self.depth + depth > MAX_EXPANDED_DEPTH {
                return self.report_too_deep(name, text, pos, item);
            }
            return Some(Node::Shared(node, id));
        }
        let Some(def) = self.set.macros.get(name) else {
            self.report_at(text, pos, name, format!("undefined macro '{name}'"), item);
            return None;
        };
        if self.stack.iter().any(|s| s == name) {
            self.report_at(
                text,
                pos,
                name,
                format!(
                    "macro '{name}' refers to itself ({} -> {name})",
                    self.stack.join(" -> ")
                ),
                item,
            );
            return None;
        }
        if self.depth >= MAX_EXPANDED_DEPTH {
            return self.report_too_deep(name, text, pos, item);
        }
        self.stack.push(name.to_string());
        let outer_peak = std::mem::replace(&mut self.peak, self.depth);
        let mitem = format!("macro '{name}'");
        let node = match parser::parse(&def.condition.text) {
            Ok(ast) => self.expr(&ast, &def.condition, &mitem),
            Err(e) => {
                self.report_at(&def.condition, e.pos, &e.near, e.message, &mitem);
                None
            }
        };
        let depth = self.peak - self.depth;
        self.peak = self.peak.max(outer_peak);
        self.stack.pop();
        let id = self.macros.len();
        let node = node.map(|n| (Arc::new(n), id, depth));
        self.macros.insert(name.to_string(), node.clone());
        if self.depth + depth > MAX_EXPANDED_DEPTH {
            return self.report_too_deep(name, text, pos, item);
        }
        node.map(|(n, id, _)| Node::Shared(n, id))
    }

    /// The expansion depth limit, reported once per rule, at the macro
    /// reference that crosses it.
    fn report_too_deep(&mut self, name: &str, text: &Text, pos: usize, item: &str) -> Option<Node> {
        if !self.too_deep {
            self.too_deep = true;
            let mut chain = self.stack.clone();
            chain.push(name.to_string());
            self.report_at(
                text,
                pos,
                name,
                format!(
                    "condition nested deeper than {MAX_EXPANDED_DEPTH} levels once macros are \
                     expanded (through {})",
                    chain.join(" -> ")
                ),
                item,
            );
        }
        None
    }

    /// Compile a parsed condition written in `text` (sequence steps).
    pub(crate) fn condition(&mut self, e: &Expr, text: &Text, item: &str) -> Option<Node> {
        self.too_deep = false;
        self.expr(e, text, item)
    }

    /// The rule set being compiled.
    pub(crate) fn set(&self) -> &'a RuleSet {
        self.set
    }

    /// Report a problem that is not at a condition offset.
    pub(crate) fn report(&mut self, d: Diagnostic) {
        if self.diags.len() >= MAX_DIAGNOSTICS {
            self.suppressed += 1;
            return;
        }
        self.diags.push(d);
    }

    fn expr(&mut self, e: &Expr, text: &Text, item: &str) -> Option<Node> {
        self.depth += 1;
        self.peak = self.peak.max(self.depth);
        let node = self.expr_at(e, text, item);
        self.depth -= 1;
        node
    }

    fn expr_at(&mut self, e: &Expr, text: &Text, item: &str) -> Option<Node> {
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
                self.report_at(text, f.pos, &f.name, msg, item);
                None
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
        let plain_evt_type = field.def.name == "evt.type" && f.transformers.is_empty();
        let err = |c: &mut Self, pos: usize, near: &str, msg: String| {
            c.report_at(text, pos, near, msg, item);
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
                self.list_operand(op, items, plain_evt_type, text, item)?
            }
            (Op::In | Op::Intersects | Op::PMatch, Some(Operand::Value(l))) => {
                let items = std::slice::from_ref(l);
                self.list_operand(op, items, plain_evt_type, text, item)?
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
            (_, Some(Operand::Value(l))) => self.value_operand(op, l, &field, text, item)?,
        };
        // evt.type against names: a bitmask test instead of string work.
        let rhs = match (&rhs, op, plain_evt_type) {
            (Rhs::Lit(l), Op::Eq | Op::Ne, true) => types_rhs(vec![l.text.clone()]),
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

    /// The right-hand side of `op` with one value (not `in`, `intersects`
    /// or `pmatch`): a regex, a glob, hex bytes or a literal checked
    /// against the field's type.
    fn value_operand(
        &mut self,
        op: Op,
        l: &Literal,
        field: &Bound,
        text: &Text,
        item: &str,
    ) -> Option<Rhs> {
        let mut err = |msg: String| {
            self.report_at(text, l.pos, &l.text, msg, item);
            None
        };
        match op {
            Op::Regex => match regex::Regex::new(&l.text) {
                Ok(r) => Some(Rhs::Regex(Arc::new(r))),
                Err(e) => err(format!("invalid regex: {e}")),
            },
            Op::Glob | Op::IGlob => match glob_to_regex(&l.text, op == Op::IGlob) {
                Ok(r) => Some(Rhs::Regex(Arc::new(r))),
                Err(e) => err(format!("invalid glob: {e}")),
            },
            Op::BContains | Op::BStartsWith => match hex_bytes(l.text.trim()) {
                Some(b) => Some(Rhs::Bytes(b)),
                None => err(format!(
                    "'{}' takes hex bytes, not '{}'",
                    op.as_str(),
                    l.text
                )),
            },
            _ => {
                let lit = Lit::new(&l.text);
                if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge)
                    && field.def.ty == FieldType::Num
                    && lit.num.is_none()
                {
                    return err(format!(
                        "'{}' compares numbers; '{}' is not one",
                        op.as_str(),
                        l.text
                    ));
                }
                if field.def.ty == FieldType::Ip
                    && matches!(op, Op::Eq | Op::Ne)
                    && lit.net.is_none()
                {
                    return err(format!("'{}' is not an IP address or network", l.text));
                }
                Some(Rhs::Lit(lit))
            }
        }
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
        let text = Text::new(&ex.fields.join(" "), ex.at.clone());
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

/// `hex` (an even number of hex digits) as bytes.
/// Hex digits (pairs) as bytes; `None` for anything else (odd length, a
/// non-hex character — also a multibyte one, which byte slicing would split).
fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    let b = hex.as_bytes();
    if !b.len().is_multiple_of(2) || !b.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    b.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
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

/// Event types a condition can match; `None` means any (also past
/// [`MAX_INDEXED_EVENT_TYPES`] names). `seen`: the answer for each shared
/// sub-tree, by memo slot, so that a macro is looked at once.
pub(crate) fn event_types(
    n: &Node,
    seen: &mut HashMap<usize, Option<BTreeSet<String>>>,
) -> Option<BTreeSet<String>> {
    match n {
        Node::Check(c) if c.field.def.name == "evt.type" && c.transformers.is_empty() => {
            let names: Vec<&String> = match (&c.op, &c.rhs) {
                (Op::Eq, Rhs::Lit(l)) => vec![&l.text],
                (Op::In, Rhs::Set(s)) if s.strs.len() <= MAX_INDEXED_EVENT_TYPES => {
                    s.strs.iter().collect()
                }
                (Op::Eq | Op::In, Rhs::Types(_, names))
                    if names.len() <= MAX_INDEXED_EVENT_TYPES =>
                {
                    names.iter().collect()
                }
                _ => return None,
            };
            Some(names.into_iter().cloned().collect())
        }
        Node::Shared(inner, id) => {
            if let Some(done) = seen.get(id) {
                return done.clone();
            }
            let t = event_types(inner, seen);
            seen.insert(*id, t.clone());
            t
        }
        Node::And(v) => {
            let mut acc: Option<BTreeSet<String>> = None;
            for c in v {
                if let Some(t) = event_types(c, seen) {
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
                acc.extend(event_types(c, seen)?);
                if acc.len() > MAX_INDEXED_EVENT_TYPES {
                    return None;
                }
            }
            Some(acc)
        }
        Node::Const(false) => Some(BTreeSet::new()),
        _ => None,
    }
}

/// Compile a loaded rule set: every problem is reported; nothing partial.
pub fn compile(loader: Loader) -> Result<(Vec<CompiledRule>, usize, Vec<Diagnostic>), LoadError> {
    compile_all(loader).map(|(rules, _, slots, warnings)| (rules, slots, warnings))
}

/// What [`compile_all`] returns: rules, sequences, memo slots, warnings.
pub type Compiled = (
    Vec<CompiledRule>,
    Vec<crate::sequence::CompiledSequence>,
    usize,
    Vec<Diagnostic>,
);

/// Compile a loaded rule set with its sequence rules.
pub fn compile_all(loader: Loader) -> Result<Compiled, LoadError> {
    let Loader { set, mut diags, .. } = loader;
    let mut c = Compiler::new(&set);
    let mut rules = Vec::new();
    let mut simplified = HashMap::new();
    let mut types_seen = HashMap::new();
    for r in &set.rules {
        if r.source != "syscall" && r.source != crate::fields::k8saudit::SOURCE {
            diags.push(unsupported_source(r));
            continue;
        }
        if r.source == crate::fields::k8saudit::SOURCE && !r.actions.is_empty() {
            diags.push(
                Diagnostic::warning(
                    &r.at.source,
                    r.at.pos,
                    "actions act on a process or a file, and k8s_audit events have neither: the rule's actions are ignored",
                )
                .in_item(&format!("rule '{}'", r.name)),
            );
        }
        let Some(rule) = c.rule(r, &mut simplified, &mut types_seen) else {
            continue;
        };
        if r.enabled {
            rules.push(rule);
        }
    }
    let sequences = crate::sequence::compile::all(&mut c, &mut simplified, &mut types_seen);
    c.check_unused_macros();
    diags.append(&mut c.diags);
    crate::diag::cap(&mut diags, c.suppressed);
    if diags.iter().any(|d| d.is_error()) {
        return Err(LoadError { diagnostics: diags });
    }
    Ok((rules, sequences, c.macros.len(), diags))
}

/// The warning for a rule of an event source Peregrine has no fields for.
fn unsupported_source(r: &RuleDef) -> Diagnostic {
    Diagnostic::warning(
        &r.at.source,
        r.at.pos,
        format!(
            "event source '{}' is not supported: rule not loaded",
            r.source
        ),
    )
    .in_item(&format!("rule '{}'", r.name))
}

impl<'a> Compiler<'a> {
    /// A compiler for the rules, macros and lists of `set`.
    fn new(set: &'a RuleSet) -> Compiler<'a> {
        Compiler {
            set,
            macros: HashMap::new(),
            stack: Vec::new(),
            lists: HashMap::new(),
            list_stack: Vec::new(),
            operands: HashMap::new(),
            values: 0,
            max_values: lists::max_values(set),
            depth: 0,
            peak: 0,
            too_deep: false,
            diags: Vec::new(),
            suppressed: 0,
        }
    }
}

impl Compiler<'_> {
    /// Compile one rule (enabled or not); `None` after reporting its errors.
    fn rule(
        &mut self,
        r: &RuleDef,
        simplified: &mut HashMap<usize, Arc<Node>>,
        types_seen: &mut HashMap<usize, Option<BTreeSet<String>>>,
    ) -> Option<CompiledRule> {
        let item = format!("rule '{}'", r.name);
        self.too_deep = false;
        let cond = match parser::parse(&r.condition.text) {
            Ok(ast) => self.expr(&ast, &r.condition, &item),
            Err(e) => {
                self.report_at(&r.condition, e.pos, &e.near, e.message, &item);
                None
            }
        };
        let exc = self.exceptions(r, &item);
        let output = self.output_template(r, &item);
        let threshold = self.threshold(r, &item);
        let (Some(cond), Some(exc), Some(output), Some(threshold)) = (cond, exc, output, threshold)
        else {
            return None;
        };
        let condition = if exc.is_empty() {
            cond
        } else {
            Node::And(vec![cond, Node::Not(Box::new(Node::Or(exc)))])
        };
        if let Some(f) = crate::fields::k8saudit::foreign_field(&condition, &output, &r.source) {
            let msg = format!("field '{f}' does not exist for event source '{}'", r.source);
            self.diags
                .push(Diagnostic::error(&r.at.source, r.at.pos, msg).in_item(&item));
            return None;
        }
        let condition = crate::optimize::simplify(&condition, simplified);
        let event_types = event_types(&condition, types_seen);
        let block = if r.actions.has(crate::actions::ActionKind::Block) {
            match crate::actions::block_target(event_types.as_ref()) {
                Ok(t) => Some(t),
                Err(msg) => {
                    self.diags
                        .push(Diagnostic::error(&r.at.source, r.at.pos, msg).in_item(&item));
                    return None;
                }
            }
        } else {
            None
        };
        Some(CompiledRule {
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
            actions: r.actions.clone(),
            block,
        })
    }

    /// The rule's output template; `None` after reporting where it is wrong.
    fn output_template(&mut self, r: &RuleDef, item: &str) -> Option<Template> {
        match Template::compile(&r.output.text) {
            Ok(t) => Some(t),
            Err((pos, msg)) => {
                let near: String = r
                    .output
                    .text
                    .chars()
                    .skip(pos)
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                self.report_at(&r.output, pos, &near, format!("in output: {msg}"), item);
                None
            }
        }
    }

    /// The rule's threshold (`Some(None)`: it has none); `None` after
    /// reporting its errors.
    fn threshold(
        &mut self,
        r: &RuleDef,
        item: &str,
    ) -> Option<Option<crate::threshold::Threshold>> {
        match r
            .threshold
            .as_ref()
            .map(|t| crate::threshold::Threshold::compile(t, item))
        {
            None => Some(None),
            Some(Ok(t)) => Some(Some(t)),
            Some(Err(errs)) => {
                self.diags.extend(errs);
                None
            }
        }
    }

    /// Macros no rule uses are still checked for syntax, as Falco does.
    fn check_unused_macros(&mut self) {
        let set = self.set;
        let mut names: Vec<&String> = set.macros.keys().collect();
        names.sort();
        for name in names {
            if !self.macros.contains_key(name.as_str()) {
                let def = &set.macros[name];
                if let Err(e) = parser::parse(&def.condition.text) {
                    self.report_at(
                        &def.condition,
                        e.pos,
                        &e.near,
                        e.message,
                        &format!("macro '{name}'"),
                    );
                }
            }
        }
    }
}
