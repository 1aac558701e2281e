//! What the loaded rules need from the kernel beyond event kinds: the path
//! prefixes an `open` must have for any rule to match it. The sensor can
//! then drop other opens in the kernel, after resolving their path.
//!
//! The analysis is conservative: a rule whose condition does not pin
//! `fd.name` to prefixes for open events (a `contains`, an `endswith`, a
//! negation, a field it does not understand) makes the whole answer "every
//! open".

use crate::ast::Op;
use crate::compile::CompiledRule;
use crate::eval::{evt_type_code_of, Node, Rhs};
use crate::fields::Fid;
use std::collections::BTreeSet;

/// What a condition allows for open events.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Paths {
    /// Any path.
    Any,
    /// No open event can match.
    Never,
    /// Only paths starting with one of these.
    Prefixes(BTreeSet<String>),
}

const OPEN_TYPES: &[&str] = &["open", "openat", "openat2", "creat"];

fn open_codes_mask() -> u128 {
    OPEN_TYPES
        .iter()
        .filter_map(|t| evt_type_code_of(t))
        .fold(0u128, |m, c| m | (1u128 << c))
}

fn absolute(items: impl IntoIterator<Item = String>) -> Paths {
    let mut set = BTreeSet::new();
    for i in items {
        if !i.starts_with('/') || i.len() < 2 {
            return Paths::Any; // relative or "/": no useful prefix
        }
        set.insert(i);
    }
    if set.is_empty() {
        Paths::Never
    } else {
        Paths::Prefixes(set)
    }
}

fn analyse(n: &Node, open_mask: u128) -> Paths {
    match n {
        Node::Const(false) => Paths::Never,
        Node::Const(true) => Paths::Any,
        Node::Shared(inner, _) => analyse(inner, open_mask),
        Node::Not(_) => Paths::Any,
        Node::And(v) => {
            let mut best = Paths::Any;
            for c in v {
                match analyse(c, open_mask) {
                    Paths::Never => return Paths::Never,
                    Paths::Any => {}
                    Paths::Prefixes(p) => {
                        best = match best {
                            Paths::Prefixes(b) if b.len() <= p.len() => Paths::Prefixes(b),
                            _ => Paths::Prefixes(p),
                        }
                    }
                }
            }
            best
        }
        Node::Or(v) => {
            let mut acc = BTreeSet::new();
            let mut any_prefix = false;
            for c in v {
                match analyse(c, open_mask) {
                    Paths::Any => return Paths::Any,
                    Paths::Never => {}
                    Paths::Prefixes(p) => {
                        any_prefix = true;
                        acc.extend(p);
                    }
                }
            }
            if any_prefix {
                Paths::Prefixes(acc)
            } else {
                Paths::Never
            }
        }
        Node::Check(c) => {
            if !c.transformers.is_empty() || c.any_ancestor {
                return Paths::Any;
            }
            if let Rhs::Types(mask, _) = &c.rhs {
                let hit = mask & open_mask != 0;
                return match c.op {
                    Op::Eq | Op::In if !hit => Paths::Never,
                    Op::Ne if *mask & open_mask == open_mask => Paths::Never,
                    _ => Paths::Any,
                };
            }
            let dir = match c.field.def.id {
                Fid::FdName => false,
                Fid::FdDirectory => true,
                _ => return Paths::Any,
            };
            let with_slash = |s: &str| {
                if dir {
                    format!("{}/", s.trim_end_matches('/'))
                } else {
                    s.to_string()
                }
            };
            match (&c.op, &c.rhs) {
                (Op::Eq | Op::StartsWith | Op::In | Op::Intersects, Rhs::Lit(l)) => {
                    absolute([with_slash(&l.text)])
                }
                (Op::In | Op::Intersects, Rhs::Set(s)) => {
                    absolute(s.strs.iter().map(|x| with_slash(x)))
                }
                (Op::PMatch, Rhs::Prefixes(p)) => absolute(p.iter().cloned()),
                (Op::PMatch, Rhs::Lit(l)) => absolute([l.text.clone()]),
                _ => Paths::Any,
            }
        }
    }
}

/// The rules that may match an open of any path (what keeps the kernel
/// from filtering opens by path).
pub fn rules_needing_every_open(rules: &[CompiledRule]) -> Vec<&str> {
    let mask = open_codes_mask();
    rules
        .iter()
        .filter(|r| {
            r.event_types
                .as_ref()
                .is_none_or(|ts| ts.iter().any(|t| OPEN_TYPES.contains(&t.as_str())))
        })
        .filter(|r| analyse(&r.condition, mask) == Paths::Any)
        .map(|r| r.name.as_str())
        .collect()
}

/// Path prefixes every open some rule may match starts with; `None` when
/// some rule may match any open (or when no prefix is useful). Prefixes
/// that extend another one are folded into it.
pub fn open_path_prefixes(rules: &[CompiledRule]) -> Option<Vec<String>> {
    let mask = open_codes_mask();
    let mut all = BTreeSet::new();
    for r in rules {
        let takes_opens = r
            .event_types
            .as_ref()
            .is_none_or(|ts| ts.iter().any(|t| OPEN_TYPES.contains(&t.as_str())));
        if !takes_opens {
            continue;
        }
        match analyse(&r.condition, mask) {
            Paths::Any => return None,
            Paths::Never => {}
            Paths::Prefixes(p) => all.extend(p),
        }
    }
    let mut out: Vec<String> = Vec::new();
    for p in all {
        // Sorted: a prefix of `p` sorts before it.
        if !out.iter().any(|q| p.starts_with(q.as_str())) {
            out.push(p);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Engine;

    fn prefixes(conditions: &[&str]) -> Option<Vec<String>> {
        let text: String = conditions
            .iter()
            .enumerate()
            .map(|(i, c)| {
                format!(
                    "- rule: r{i}\n  desc: d\n  condition: {c}\n  output: o\n  priority: NOTICE\n"
                )
            })
            .collect();
        let e = Engine::from_str("t.yaml", &text).unwrap();
        open_path_prefixes(e.rules())
    }

    #[test]
    fn prefixes_follow_the_conditions_conservatively() {
        assert_eq!(
            prefixes(&[
                "evt.type = openat and fd.name startswith /etc/",
                "evt.type in (open, openat) and (fd.name in (/etc/shadow, /root/.ssh/id_rsa) or fd.directory = /usr/bin)",
                "evt.type = execve and proc.name = bash",
            ]),
            Some(vec!["/etc/".into(), "/root/.ssh/id_rsa".into(), "/usr/bin/".into()])
        );
        assert_eq!(
            prefixes(&["evt.type = openat and fd.name endswith .log"]),
            None,
            "endswith pins no prefix"
        );
        assert_eq!(
            prefixes(&["evt.type = openat and not fd.name startswith /etc"]),
            None
        );
        assert_eq!(
            prefixes(&["fd.name startswith /tmp/x"]),
            Some(vec!["/tmp/x".into()])
        );
        assert_eq!(
            prefixes(&["proc.name = cat"]),
            None,
            "any event type, any path"
        );
        assert_eq!(
            prefixes(&["(evt.type = execve and proc.name = sh) or (evt.type = openat and fd.name pmatch (/etc, /var/lib))"]),
            Some(vec!["/etc".into(), "/var/lib".into()])
        );
        assert_eq!(
            prefixes(&["evt.type = openat and fd.name = relative"]),
            None,
            "relative paths pin nothing"
        );
    }
}
