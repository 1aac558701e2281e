//! What the loaded rules need from the kernel beyond event kinds: the path
//! prefixes a successful `open` must have for any rule to match it — one
//! set for read-only opens, one for opens for writing, since many rules
//! watch writes only (`open_write`). The sensor can then drop other opens in
//! the kernel, after resolving their path.
//!
//! The analysis is conservative: a rule whose condition does not pin
//! `fd.name` to prefixes for open events (a `contains`, an `endswith`, a
//! negation, a field it does not understand) makes the whole answer "every
//! open".

use crate::ast::Op;
use crate::compile::CompiledRule;
use crate::eval::{evt_type_code_of, Node, Rhs};
use crate::fields::Fid;
use std::collections::{BTreeSet, HashMap};

/// Prefixes above which a condition counts as "any path" (the answer stays
/// conservative; the analysis stays linear in the rules).
const MAX_PREFIXES: usize = 4096;

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

/// The access mode an open is analysed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `O_RDONLY`.
    Read,
    /// `O_WRONLY` or `O_RDWR`.
    Write,
}

/// Paths matching both a prefix of `a` and a prefix of `b`: the prefixes
/// of either set that extend one of the other (looked up by their own
/// prefixes, not pair by pair).
fn intersect(a: &BTreeSet<String>, b: &BTreeSet<String>) -> BTreeSet<String> {
    let extends = |x: &str, set: &BTreeSet<String>| {
        x.char_indices()
            .map(|(i, c)| &x[..i + c.len_utf8()])
            .any(|p| set.contains(p))
    };
    let mut out = BTreeSet::new();
    out.extend(a.iter().filter(|x| extends(x, b)).cloned());
    out.extend(b.iter().filter(|y| extends(y, a)).cloned());
    out
}

fn open_codes_mask() -> u128 {
    OPEN_TYPES
        .iter()
        .filter_map(|t| evt_type_code_of(t))
        .fold(0u128, |m, c| m | (1u128 << c))
}

fn absolute(items: impl IntoIterator<Item = String>) -> Paths {
    let mut set = BTreeSet::new();
    let items = items.into_iter();
    if items.size_hint().0 > MAX_PREFIXES {
        return Paths::Any;
    }
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

/// What `n` allows; `seen`: the answer for each shared sub-tree by memo
/// slot, so that a macro is analysed once.
fn analyse(n: &Node, open_mask: u128, access: Access, seen: &mut HashMap<usize, Paths>) -> Paths {
    match n {
        Node::Const(false) => Paths::Never,
        Node::Const(true) => Paths::Any,
        Node::Shared(inner, id) => {
            if let Some(done) = seen.get(id) {
                return done.clone();
            }
            let p = analyse(inner, open_mask, access, seen);
            seen.insert(*id, p.clone());
            p
        }
        Node::Not(_) => Paths::Any,
        Node::And(v) => {
            let mut acc = Paths::Any;
            for c in v {
                match analyse(c, open_mask, access, seen) {
                    Paths::Never => return Paths::Never,
                    Paths::Any => {}
                    Paths::Prefixes(p) => {
                        acc = match acc {
                            Paths::Prefixes(b) => {
                                let both = intersect(&b, &p);
                                if both.is_empty() {
                                    return Paths::Never;
                                }
                                Paths::Prefixes(both)
                            }
                            _ => Paths::Prefixes(p),
                        }
                    }
                }
            }
            acc
        }
        Node::Or(v) => {
            let mut acc = BTreeSet::new();
            let mut any_prefix = false;
            for c in v {
                match analyse(c, open_mask, access, seen) {
                    Paths::Any => return Paths::Any,
                    Paths::Never => {}
                    Paths::Prefixes(p) => {
                        any_prefix = true;
                        acc.extend(p);
                        if acc.len() > MAX_PREFIXES {
                            return Paths::Any;
                        }
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
            if c.field.def.id == Fid::EvtIsOpenWrite {
                // `evt.is_open_write = true` holds for write opens only.
                let wants_write = match (&c.op, &c.rhs) {
                    (Op::Eq, Rhs::Lit(l)) => l.text.eq_ignore_ascii_case("true"),
                    (Op::Ne, Rhs::Lit(l)) => l.text.eq_ignore_ascii_case("false"),
                    _ => return Paths::Any,
                };
                return if wants_write == (access == Access::Write) {
                    Paths::Any
                } else {
                    Paths::Never
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
                // `fd.directory startswith /etc` holds for /etcx/f too:
                // the literal is the prefix, with no slash added.
                (Op::StartsWith, Rhs::Lit(l)) => absolute([l.text.clone()]),
                (Op::Eq | Op::In | Op::Intersects, Rhs::Lit(l)) => absolute([with_slash(&l.text)]),
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

fn takes_opens(r: &CompiledRule) -> bool {
    r.source != crate::fields::k8saudit::SOURCE
        && r.event_types
            .as_ref()
            .is_none_or(|ts| ts.iter().any(|t| OPEN_TYPES.contains(&t.as_str())))
}

/// The rules that may match an open of any path for `access` (what keeps
/// the kernel from filtering those opens by path).
pub fn rules_needing_every_open(rules: &[CompiledRule], access: Access) -> Vec<&str> {
    let mask = open_codes_mask();
    let mut seen = HashMap::new();
    rules
        .iter()
        .filter(|r| takes_opens(r))
        .filter(|r| analyse(&r.condition, mask, access, &mut seen) == Paths::Any)
        .map(|r| r.name.as_str())
        .collect()
}

/// Path prefixes every successful open for `access` that some rule may
/// match starts with; `None` when some rule may match any such open.
/// Prefixes that extend another one are folded into it.
pub fn open_path_prefixes(rules: &[CompiledRule], access: Access) -> Option<Vec<String>> {
    let mask = open_codes_mask();
    let mut all = BTreeSet::new();
    let mut seen = HashMap::new();
    for r in rules.iter().filter(|r| takes_opens(r)) {
        match analyse(&r.condition, mask, access, &mut seen) {
            Paths::Any => return None,
            Paths::Never => {}
            Paths::Prefixes(p) => all.extend(p),
        }
    }
    let mut out: Vec<String> = Vec::new();
    for p in all {
        // Sorted: a prefix of `p` sorts before it, and so does everything
        // between them, which starts with it too and was folded into it;
        // the last prefix kept is the only candidate.
        if !out.last().is_some_and(|q| p.starts_with(q.as_str())) {
            out.push(p);
        }
    }
    Some(out)
}

/// Does any rule read field `id`, in its condition or its output? (What
/// the sensor must collect: the environment, for instance, is only copied
/// at exec when some rule looks at `proc.env`.)
pub(crate) fn uses_field(rules: &[CompiledRule], id: Fid) -> bool {
    // `seen`: shared sub-trees already looked at (each once).
    fn in_node(n: &Node, id: Fid, seen: &mut std::collections::HashSet<usize>) -> bool {
        match n {
            Node::And(v) | Node::Or(v) => v.iter().any(|c| in_node(c, id, seen)),
            Node::Not(x) => in_node(x, id, seen),
            Node::Shared(x, slot) => seen.insert(*slot) && in_node(x, id, seen),
            Node::Check(c) => {
                c.field.def.id == id || matches!(&c.rhs, Rhs::Field(b, _) if b.def.id == id)
            }
            Node::Const(_) => false,
        }
    }
    let mut seen = std::collections::HashSet::new();
    rules.iter().any(|r| {
        in_node(&r.condition, id, &mut seen)
            || r.output
                .segments
                .iter()
                .any(|s| matches!(s, crate::output::Segment::Field(_, b) if b.def.id == id))
    })
}

#[cfg(test)]
#[path = "analysis_prop.rs"]
mod prop;

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
        open_path_prefixes(e.rules(), Access::Read)
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
        // And: both constraints hold (the more specific prefixes survive).
        assert_eq!(
            prefixes(&["evt.type = openat and fd.name startswith /etc and fd.name in (/etc/shadow, /var/x)"]),
            Some(vec!["/etc/shadow".into()])
        );
        assert_eq!(
            prefixes(&[
                "evt.type = openat and fd.name startswith /etc and fd.name startswith /var"
            ]),
            Some(vec![]),
            "contradiction: no open"
        );
    }

    #[test]
    fn write_only_rules_do_not_need_read_opens() {
        let text = "\
- rule: w
  desc: d
  condition: evt.type = openat and evt.is_open_write = true and fd.name endswith .log
  output: o
  priority: NOTICE
- rule: r
  desc: d
  condition: evt.type = openat and evt.is_open_read = true and fd.name = /etc/shadow
  output: o
  priority: NOTICE
";
        let e = Engine::from_str("t.yaml", text).unwrap();
        assert_eq!(
            open_path_prefixes(e.rules(), Access::Read),
            Some(vec!["/etc/shadow".into()])
        );
        assert_eq!(open_path_prefixes(e.rules(), Access::Write), None);
        assert_eq!(
            rules_needing_every_open(e.rules(), Access::Write),
            vec!["w"]
        );
    }

    #[test]
    fn environment_is_needed_only_when_a_rule_reads_it() {
        let rule = |cond: &str, out: &str| {
            format!(
                "- rule: r\n  desc: d\n  condition: {cond}\n  output: {out}\n  priority: INFO\n"
            )
        };
        let needs = |text: String| {
            crate::Engine::from_str("t.yaml", &text)
                .unwrap()
                .needs_env()
        };
        assert!(needs(rule(
            "evt.type = execve and proc.env contains X=",
            "o"
        )));
        assert!(needs(rule("evt.type = execve", "o %proc.env[HOME]")));
        assert!(!needs(rule(
            "evt.type = execve and proc.name = x",
            "o %proc.cmdline"
        )));
    }
}
