//! Compiling `sequence` items: each step's condition goes through the
//! ordinary compiler once its comparisons with captured values
//! (`field op ${name}`, top-level `and` terms only) are taken out; they are
//! checked against the values a partial match carries.

use super::{CompiledSequence, CompiledStep, Correlation};
use crate::ast::{Expr, FieldRef, Op, Operand};
use crate::compile::{event_types, Compiler};
use crate::diag::Diagnostic;
use crate::eval::Node;
use crate::fields::{bind, split_field};
use crate::loader::{SequenceDef, Text};
use crate::output::Template;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Operators a step may compare a captured value with.
pub const CORRELATION_OPS: &[Op] = &[
    Op::Eq,
    Op::Ne,
    Op::Lt,
    Op::Le,
    Op::Gt,
    Op::Ge,
    Op::Contains,
    Op::IContains,
    Op::StartsWith,
    Op::EndsWith,
];

/// `${name}` → `name`.
pub(crate) fn capture_ref(text: &str) -> Option<&str> {
    text.strip_prefix("${")?.strip_suffix('}')
}

/// Every `${name}` in a text, with its character offset.
pub(crate) fn capture_refs(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i + 1 < chars.len() {
        if chars[i] == '$' && chars[i + 1] == '{' {
            if let Some(end) = chars[i + 2..].iter().position(|&c| c == '}') {
                out.push((i, chars[i + 2..i + 2 + end].iter().collect()));
                i += end + 3;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// A literal `${…}` somewhere in `e` (where it cannot be substituted).
fn stray_ref(e: &Expr) -> Option<(usize, String)> {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().find_map(stray_ref),
        Expr::Not(x) => stray_ref(x),
        Expr::Macro { .. } => None,
        Expr::Check { value, .. } => match value {
            Some(Operand::Value(l)) if !l.quoted && capture_ref(&l.text).is_some() => {
                Some((l.pos, l.text.clone()))
            }
            Some(Operand::List(items)) => items
                .iter()
                .find(|l| !l.quoted && capture_ref(&l.text).is_some())
                .map(|l| (l.pos, l.text.clone())),
            _ => None,
        },
    }
}

fn flatten(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::And(v) => v.into_iter().for_each(|x| flatten(x, out)),
        other => out.push(other),
    }
}

/// Compile every sequence of the compiler's rule set (errors go to the
/// compiler's diagnostics); the enabled ones that compiled.
pub(crate) fn all(
    c: &mut Compiler<'_>,
    simplified: &mut HashMap<usize, Arc<Node>>,
    types_seen: &mut HashMap<usize, Option<BTreeSet<String>>>,
) -> Vec<CompiledSequence> {
    let set = c.set();
    let mut out = Vec::new();
    for def in &set.sequences {
        if let Some(s) = sequence(c, def, simplified, types_seen) {
            if def.enabled {
                out.push(s);
            }
        }
    }
    out
}

fn sequence(
    c: &mut Compiler<'_>,
    def: &SequenceDef,
    simplified: &mut HashMap<usize, Arc<Node>>,
    types_seen: &mut HashMap<usize, Option<BTreeSet<String>>>,
) -> Option<CompiledSequence> {
    let mut vars: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    let mut ok = true;
    for (i, st) in def.steps.iter().enumerate() {
        let item = format!("sequence '{}' step {}", def.name, i + 1);
        let known = vars.len();
        let mut captures = Vec::new();
        for (name, field, pos) in &st.captures {
            let bound = split_field(field).and_then(|(n, a)| bind(n, a));
            let err = |c: &mut Compiler<'_>, msg: String| {
                c.report(Diagnostic::error(&st.at.source, *pos, msg).in_item(&item))
            };
            if vars.iter().any(|v| v == name) {
                err(c, format!("'{name}' is captured by an earlier step"));
                ok = false;
                continue;
            }
            match bound {
                Ok(b) => {
                    captures.push((vars.len(), b));
                    vars.push(name.clone());
                }
                Err(msg) => {
                    err(c, format!("in capture '{name}': {msg}"));
                    ok = false;
                }
            }
        }
        match step(c, &st.condition, &vars[..known], &item) {
            Some((condition, correlations)) => {
                let condition = crate::optimize::simplify(&condition, simplified);
                let event_types = event_types(&condition, types_seen);
                if event_types.is_none() {
                    c.report(
                        Diagnostic::warning(
                            &st.at.source,
                            st.at.pos,
                            "step does not restrict evt.type: it is evaluated for every event",
                        )
                        .in_item(&item),
                    );
                }
                steps.push(CompiledStep {
                    condition,
                    event_types,
                    captures,
                    correlations,
                    at: st.at.clone(),
                });
            }
            None => ok = false,
        }
    }
    let item = format!("sequence '{}'", def.name);
    let output = match Template::compile(&def.output.text) {
        Ok(t) => Some(t),
        Err((pos, msg)) => {
            let near: String = def.output.text.chars().skip(pos).take(20).collect();
            c.report_at(&def.output, pos, &near, format!("in output: {msg}"), &item);
            None
        }
    };
    for (pos, name) in capture_refs(&def.output.text) {
        if !vars.contains(&name) {
            let msg = format!("output refers to '${{{name}}}', which no step captures");
            c.report_at(&def.output, pos, "${", msg, &item);
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    Some(CompiledSequence {
        name: def.name.clone(),
        desc: def.desc.clone(),
        by: def.by,
        within_ns: def.within_ns,
        steps,
        vars,
        output: output?,
        priority: def.priority,
        tags: def.tags.clone(),
        max_partials: def.max_partials,
        tests: def.tests.clone(),
        at: def.at.clone(),
    })
}

/// `field op ${name}`, unquoted: (field, op, name, offset of the value).
fn as_correlation(e: &Expr) -> Option<(&FieldRef, Op, &str, usize)> {
    match e {
        Expr::Check {
            field,
            op,
            value: Some(Operand::Value(l)),
        } if !l.quoted => capture_ref(&l.text).map(|v| (field, *op, v, l.pos)),
        _ => None,
    }
}

/// A top-level term made of comparisons with captured values only: one
/// comparison, or several joined by `or`.
fn correlation_clause(e: &Expr) -> Option<Vec<&Expr>> {
    match e {
        Expr::Or(alts) if alts.iter().all(|a| as_correlation(a).is_some()) => {
            Some(alts.iter().collect())
        }
        _ if as_correlation(e).is_some() => Some(vec![e]),
        _ => None,
    }
}

/// Check and bind one comparison with a captured value.
fn correlation(
    c: &mut Compiler<'_>,
    e: &Expr,
    text: &Text,
    vars: &[String],
    item: &str,
) -> Option<Correlation> {
    let (field, op, name, pos) = as_correlation(e)?;
    let near = format!("${{{name}}}");
    let Some(var) = vars.iter().position(|v| v == name) else {
        let msg = format!("'{near}' is not captured by an earlier step");
        c.report_at(text, pos, &near, msg, item);
        return None;
    };
    if !CORRELATION_OPS.contains(&op) {
        let ops: Vec<&str> = CORRELATION_OPS.iter().map(|o| o.as_str()).collect();
        let msg = format!(
            "'{}' cannot compare with a captured value (use one of {})",
            op.as_str(),
            ops.join(" ")
        );
        c.report_at(text, pos, &near, msg, item);
        return None;
    }
    match bind(&field.name, field.arg.as_deref()) {
        Ok(b) => Some(Correlation {
            field: b,
            transformers: field.transformers.clone(),
            op,
            var,
        }),
        Err(msg) => {
            c.report_at(text, field.pos, &field.name, msg, item);
            None
        }
    }
}

/// One step's condition: the compiled rest and its comparisons with the
/// values captured so far (`vars`), as clauses that must all hold, each
/// by one of its comparisons.
fn step(
    c: &mut Compiler<'_>,
    text: &Text,
    vars: &[String],
    item: &str,
) -> Option<(Node, Vec<Vec<Correlation>>)> {
    let ast = match crate::parser::parse(&text.text) {
        Ok(a) => a,
        Err(e) => {
            c.report_at(text, e.pos, &e.near, e.message, item);
            return None;
        }
    };
    let mut terms = Vec::new();
    flatten(ast, &mut terms);
    let mut rest = Vec::new();
    let mut clauses = Vec::new();
    let mut ok = true;
    for t in terms {
        let Some(alts) = correlation_clause(&t) else {
            if let Some((pos, text_ref)) = stray_ref(&t) {
                let msg = format!(
                    "{text_ref} can only be compared directly in a top-level 'and' of the step \
                     condition (field op {text_ref}, or several such joined by 'or'); quote it \
                     to mean the text itself"
                );
                c.report_at(text, pos, &text_ref, msg, item);
                ok = false;
            }
            rest.push(t);
            continue;
        };
        let clause: Vec<Option<Correlation>> = alts
            .into_iter()
            .map(|a| correlation(c, a, text, vars, item))
            .collect();
        match clause.into_iter().collect::<Option<Vec<_>>>() {
            Some(cl) => clauses.push(cl),
            None => ok = false,
        }
    }
    if rest.is_empty() {
        c.report_at(
            text,
            0,
            "",
            "a step needs a condition besides comparisons with captured values".into(),
            item,
        );
        return None;
    }
    let expr = if rest.len() == 1 {
        rest.pop().unwrap()
    } else {
        Expr::And(rest)
    };
    let node = c.condition(&expr, text, item);
    if !ok {
        return None;
    }
    Some((node?, clauses))
}
