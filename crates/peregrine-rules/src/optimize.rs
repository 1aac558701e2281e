//! Simplification of compiled conditions before they are evaluated.
//!
//! Macro expansion leaves deep trees: `and` inside `and`, one-child groups,
//! constant branches, and macros that are a single cheap check yet pay for a
//! memo slot on every use. Every rewrite here keeps the condition's meaning
//! (conditions have no side effects, so neither does evaluation order):
//!
//! - nested `and`/`or` of the same kind are flattened, one-child groups
//!   replaced by their child;
//! - constants are folded (`x and false` is false, `not true` is false…);
//! - `not not x` is `x`;
//! - a macro (shared sub-tree) that simplifies to a constant or to one check
//!   that costs less than its memo lookup is inlined.
//!
//! Shared sub-trees stay shared: each is simplified once and every rule
//! that uses it points at the same result.

use crate::eval::{Check, Node, Rhs};
use std::collections::HashMap;
use std::sync::Arc;

/// Simplify `node`; `shared` holds the simplified macro bodies by memo slot.
pub fn simplify(node: &Node, shared: &mut HashMap<usize, Arc<Node>>) -> Node {
    match node {
        Node::And(children) => group(children, shared, true),
        Node::Or(children) => group(children, shared, false),
        Node::Not(inner) => match simplify(inner, shared) {
            Node::Const(b) => Node::Const(!b),
            Node::Not(x) => *x,
            other => Node::Not(Box::new(other)),
        },
        Node::Shared(inner, id) => {
            let body = match shared.get(id) {
                Some(done) => done.clone(),
                None => {
                    let done = Arc::new(simplify(inner, shared));
                    shared.insert(*id, done.clone());
                    done
                }
            };
            match &*body {
                Node::Const(b) => Node::Const(*b),
                Node::Check(c) if cheaper_than_memo(c) => Node::Check(c.clone()),
                _ => Node::Shared(body, *id),
            }
        }
        Node::Check(c) => Node::Check(c.clone()),
        Node::Const(b) => Node::Const(*b),
    }
}

/// `and` (`all` true) or `or` of `children`, flattened and folded.
fn group(children: &[Node], shared: &mut HashMap<usize, Arc<Node>>, all: bool) -> Node {
    let mut out = Vec::with_capacity(children.len());
    for child in children {
        match simplify(child, shared) {
            // `true` in an `and`, `false` in an `or`: no effect.
            Node::Const(b) if b == all => {}
            // `false` in an `and`, `true` in an `or`: decides the group.
            Node::Const(b) => return Node::Const(b),
            Node::And(inner) if all => out.extend(inner),
            Node::Or(inner) if !all => out.extend(inner),
            other => out.push(other),
        }
    }
    match out.len() {
        0 => Node::Const(all),
        1 => out.pop().unwrap_or(Node::Const(all)),
        _ if all => Node::And(out),
        _ => Node::Or(out),
    }
}

/// A check on the event itself without transformers: evaluating it again is
/// about as cheap as looking its result up.
fn cheaper_than_memo(c: &Check) -> bool {
    c.transformers.is_empty()
        && !c.any_ancestor
        && matches!(c.rhs, Rhs::Types(..) | Rhs::Lit(_) | Rhs::None)
        && c.field.def.name.starts_with("evt.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::EventOnly;
    use crate::Engine;

    fn rule_condition(text: &str) -> Node {
        let e = Engine::from_str("t.yaml", text).unwrap_or_else(|e| panic!("{e}"));
        e.rules()[0].condition.clone()
    }

    fn depth(n: &Node) -> usize {
        match n {
            Node::And(v) | Node::Or(v) => 1 + v.iter().map(depth).max().unwrap_or(0),
            Node::Not(x) => 1 + depth(x),
            Node::Shared(x, _) => 1 + depth(x),
            _ => 1,
        }
    }

    #[test]
    fn nested_groups_are_flattened_and_cheap_macros_inlined() {
        let n = rule_condition(
            "- macro: is_open\n  condition: evt.type = openat\n\
             - macro: two\n  condition: (proc.name = a and (proc.pid > 1 and proc.ppid > 1))\n\
             - rule: r\n  desc: d\n  output: o\n  priority: INFO\n  \
               condition: is_open and (two and (fd.name = x and (not not fd.num > 2)))\n",
        );
        // and[evt.type, shared(and[3 checks]), fd.name, fd.num]
        let Node::And(v) = &n else {
            panic!("not an and: {n:?}")
        };
        assert_eq!(v.len(), 4, "{n:?}");
        assert!(matches!(v[0], Node::Check(_)), "cheap macro inlined");
        assert!(
            matches!(&v[1], Node::Shared(inner, _) if matches!(&**inner, Node::And(c) if c.len() == 3))
        );
        assert!(matches!(v[3], Node::Check(_)), "double negation removed");
        assert_eq!(depth(&n), 4, "and > shared > and > check");
    }

    #[test]
    fn constants_fold() {
        use peregrine_event::{Event, EventData, EventKind, Process};
        let text = |cond: &str| {
            format!(
                "- macro: never\n  condition: (evt.type = openat and not evt.type = openat)\n\
                 - rule: r\n  desc: d\n  output: o\n  priority: INFO\n  condition: {cond}\n"
            )
        };
        let e = Engine::from_str("t.yaml", &text("evt.type = openat and not never")).unwrap();
        let ev = Event {
            ts_ns: 1,
            kind: EventKind::Exit,
            syscall: None,
            process: Process::default(),
            data: EventData::Exit { code: 0, signal: 0 },
        };
        // Semantics unchanged on an event that is not an open.
        assert!(!e.rules()[0].condition.eval(&EventOnly(&ev)));
        let mut shared = HashMap::new();
        let folded = simplify(
            &Node::And(vec![
                Node::Const(true),
                Node::Or(vec![Node::Const(false), Node::Const(true)]),
            ]),
            &mut shared,
        );
        assert!(matches!(folded, Node::Const(true)));
        let folded = simplify(
            &Node::Or(vec![
                Node::Not(Box::new(Node::Const(true))),
                Node::Const(false),
            ]),
            &mut shared,
        );
        assert!(matches!(folded, Node::Const(false)));
    }
}
