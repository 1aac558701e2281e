//! List expansion: lists naming lists are expanded once each and shared;
//! list operands of conditions and exceptions are compiled once per
//! distinct operand. Values are de-duplicated (every list operator tests
//! membership), and the whole load is bounded by
//! [`MAX_LIST_VALUES`](crate::limits::MAX_LIST_VALUES).

use super::{types_rhs, Compiler};
use crate::ast::{Literal, Op};
use crate::diag::Diagnostic;
use crate::eval::{LitSet, Rhs};
use crate::limits::{MAX_LIST_DEPTH, MAX_LIST_VALUES};
use crate::loader::Text;
use std::collections::HashSet;
use std::sync::Arc;

/// A list operand as written, with what it compiles to for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct OperandKey {
    op: Op,
    evt_type: bool,
    items: Vec<(String, bool)>,
}

impl Compiler<'_> {
    /// The right side of a list operator (`in`, `intersects`, `pmatch`);
    /// `evt_type`: the field is a plain `evt.type` (compiled to a bitmask).
    pub(super) fn list_operand(
        &mut self,
        op: Op,
        items: &[Literal],
        evt_type: bool,
        text: &Text,
        item: &str,
    ) -> Option<Rhs> {
        let key = OperandKey {
            op,
            evt_type,
            items: items.iter().map(|l| (l.text.clone(), l.quoted)).collect(),
        };
        if let Some(rhs) = self.operands.get(&key) {
            return Some(rhs.clone());
        }
        let vals = self.expand_items(items, text, item)?;
        let rhs = match (op, evt_type) {
            (Op::In, true) => types_rhs(vals),
            _ => list_rhs(op, vals),
        };
        self.operands.insert(key, rhs.clone());
        Some(rhs)
    }

    /// Values of `items`, list names expanded, without duplicates.
    fn expand_items(&mut self, items: &[Literal], text: &Text, item: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for it in items {
            if !it.quoted && self.set.lists.contains_key(&it.text) {
                let values = self.list(&it.text, 0)?;
                for v in values.iter() {
                    if seen.insert(v.clone()) {
                        out.push(v.clone());
                    }
                }
            } else if seen.insert(it.text.clone()) {
                out.push(it.text.clone());
            }
        }
        if !self.charge(out.len()) {
            let (pos, near) = items
                .first()
                .map(|l| (l.pos, l.text.as_str()))
                .unwrap_or((0, ""));
            let msg = self.over_budget();
            self.report_at(text, pos, near, msg, item);
            return None;
        }
        Some(out)
    }

    /// The expanded values of list `name` (computed once). Names of lists
    /// being expanded (a cycle) stay values, as they always have.
    fn list(&mut self, name: &str, depth: usize) -> Option<Arc<Vec<String>>> {
        if let Some(done) = self.lists.get(name) {
            return done.clone();
        }
        let def = &self.set.lists[name];
        let litem = format!("list '{name}'");
        if depth >= MAX_LIST_DEPTH {
            self.diags.push(
                Diagnostic::error(
                    &def.at.source,
                    def.at.pos,
                    format!(
                        "lists nested deeper than {MAX_LIST_DEPTH} levels ({} -> {name})",
                        self.list_stack.join(" -> ")
                    ),
                )
                .in_item(&litem),
            );
            self.lists.insert(name.to_string(), None);
            return None;
        }
        self.list_stack.push(name.to_string());
        let mut out = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut ok = true;
        for v in &def.items {
            if self.set.lists.contains_key(v) && !self.list_stack.contains(v) {
                match self.list(v, depth + 1) {
                    Some(values) => {
                        for x in values.iter() {
                            if seen.insert(x.clone()) {
                                out.push(x.clone());
                            }
                        }
                    }
                    None => {
                        ok = false;
                        break;
                    }
                }
            } else if seen.insert(v.clone()) {
                out.push(v.clone());
            }
        }
        self.list_stack.pop();
        let result = if !ok {
            None
        } else if self.charge(out.len()) {
            Some(Arc::new(out))
        } else {
            let msg = self.over_budget();
            self.diags
                .push(Diagnostic::error(&def.at.source, def.at.pos, msg).in_item(&litem));
            None
        };
        self.lists.insert(name.to_string(), result.clone());
        result
    }

    /// Count `n` more expanded values; false past the budget.
    fn charge(&mut self, n: usize) -> bool {
        self.values = self.values.saturating_add(n);
        self.values <= self.max_values
    }
}

impl Compiler<'_> {
    fn over_budget(&self) -> String {
        format!(
            "list expansion exceeds {} values in total ({MAX_LIST_VALUES} plus one per byte of \
             rules; lists built from lists, or list operands, repeat too much)",
            self.max_values
        )
    }
}

/// The list values a load may expand: [`MAX_LIST_VALUES`] plus one per
/// byte of its files (what a large file holds legitimately grows with it).
pub(super) fn max_values(set: &crate::loader::RuleSet) -> usize {
    let mut seen = HashSet::new();
    let sources = set
        .lists
        .values()
        .map(|l| &l.at.source)
        .chain(set.macros.values().map(|m| &m.at.source))
        .chain(set.rules.iter().map(|r| &r.at.source));
    let bytes: usize = sources
        .filter(|s| seen.insert(Arc::as_ptr(s)))
        .map(|s| s.text.len())
        .sum();
    MAX_LIST_VALUES.saturating_add(bytes)
}

fn list_rhs(op: Op, vals: Vec<String>) -> Rhs {
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
