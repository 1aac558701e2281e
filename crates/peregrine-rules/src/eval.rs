//! Compiled condition trees and their evaluation.

use crate::ast::{Op, Transformer};
use crate::context::{Context, Value};
use crate::fields::{extract, extract_text, ArgKind, Bound, FieldArg, Text};

/// True for fields that mean "any ancestor" when used without an index.
pub fn is_any_ancestor(b: &Bound) -> bool {
    b.arg == FieldArg::None
        && b.def.arg == ArgKind::OptIndex
        && b.def.name.starts_with("proc.a")
        && b.def.name != "proc.argv"
}
use ahash::AHashSet;
use regex::Regex;
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

/// An IP network (address and prefix length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpNet {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}

impl IpNet {
    /// Parse `1.2.3.4`, `10.0.0.0/8`, `::1`, `fe80::/10`.
    pub fn parse(s: &str) -> Option<IpNet> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse().ok().filter(|&v| v <= max)?,
            None => max,
        };
        Some(IpNet { addr, prefix })
    }
    /// Does the network contain `ip`?
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix as u32)
                };
                (u32::from(n) & mask) == (u32::from(*a) & mask)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix as u32)
                };
                (u128::from(n) & mask) == (u128::from(*a) & mask)
            }
            _ => false,
        }
    }
}

/// A literal prepared for every way it may be compared.
#[derive(Debug, Clone)]
pub struct Lit {
    /// Text.
    pub text: String,
    /// Lower-cased text (icontains, iglob).
    pub lower: String,
    /// As a number, if it is one.
    pub num: Option<i64>,
    /// As an address/network, if it is one.
    pub net: Option<IpNet>,
}

impl Lit {
    /// Prepare a literal.
    pub fn new(text: &str) -> Lit {
        Lit {
            text: text.to_string(),
            lower: text.to_lowercase(),
            num: text.trim().parse().ok(),
            net: IpNet::parse(text.trim()),
        }
    }
}

/// A set of literals for `in`/`intersects`.
#[derive(Debug, Clone, Default)]
pub struct LitSet {
    /// Texts.
    pub strs: AHashSet<String>,
    /// A bit per text length present (bit 63: 63 bytes or more): most
    /// values are rejected without hashing.
    pub lens: u64,
    /// Numbers.
    pub nums: AHashSet<i64>,
    /// Networks.
    pub nets: Vec<IpNet>,
}

impl LitSet {
    /// Add a text (and its number/network readings).
    pub fn add(&mut self, v: String) {
        if let Ok(n) = v.trim().parse() {
            self.nums.insert(n);
        }
        if let Some(net) = IpNet::parse(v.trim()) {
            self.nets.push(net);
        }
        self.lens |= len_bit(&v);
        self.strs.insert(v);
    }
    /// Is this text in the set?
    #[inline]
    pub fn contains_str(&self, s: &str) -> bool {
        self.lens & len_bit(s) != 0 && self.strs.contains(s)
    }
}

#[inline]
fn len_bit(s: &str) -> u64 {
    1u64 << s.len().min(63)
}

/// Right-hand side of a compiled check.
#[derive(Debug, Clone)]
pub enum Rhs {
    /// `exists`.
    None,
    /// One value.
    Lit(Lit),
    /// A set.
    Set(Arc<LitSet>),
    /// Path prefixes (pmatch), without trailing slashes.
    Prefixes(Arc<Vec<String>>),
    /// A compiled regex or glob.
    Regex(Arc<Regex>),
    /// Bytes (bcontains, bstartswith).
    Bytes(Vec<u8>),
    /// Another field.
    Field(Box<Bound>, Vec<Transformer>),
    /// `evt.type` compared with names: a bit per event type code (no string
    /// work per event), and the names for analysis.
    Types(u128, Arc<Vec<String>>),
}

/// Small integer for each `evt.type` Peregrine produces.
pub fn evt_type_code(ev: &peregrine_event::Event) -> u32 {
    use peregrine_event::EventKind;
    match ev.kind {
        EventKind::Exec => 0,
        EventKind::Fork => 1,
        EventKind::Exit => 2,
        _ => ev.syscall.map(|s| 3 + s.id() as u32).unwrap_or(127),
    }
}

/// The code of an `evt.type` name, if Peregrine produces that type.
pub fn evt_type_code_of(name: &str) -> Option<u32> {
    match name {
        "execve" => Some(0),
        "clone" => Some(1),
        "procexit" => Some(2),
        other => other
            .parse::<peregrine_event::Syscall>()
            .ok()
            .filter(|s| *s != peregrine_event::Syscall::Execve)
            .map(|s| 3 + s.id() as u32)
            .filter(|c| *c < 127),
    }
}

/// The `evt.type` name of the events with [`evt_type_code`] `code`.
pub fn evt_type_name_of_code(code: u32) -> Option<&'static str> {
    match code {
        0 => Some("execve"),
        1 => Some("clone"),
        2 => Some("procexit"),
        c => peregrine_event::Syscall::ALL
            .iter()
            .find(|s| 3 + s.id() as u32 == c)
            .map(|s| s.name()),
    }
}

/// A compiled check.
#[derive(Debug, Clone)]
pub struct Check {
    /// Field.
    pub field: Bound,
    /// Transformers, innermost first.
    pub transformers: Vec<Transformer>,
    /// Operator.
    pub op: Op,
    /// Right side.
    pub rhs: Rhs,
    /// `proc.aname` and friends without an index: any ancestor.
    pub any_ancestor: bool,
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Node {
    /// All.
    And(Vec<Node>),
    /// Any.
    Or(Vec<Node>),
    /// Not.
    Not(Box<Node>),
    /// A check.
    Check(Box<Check>),
    /// A shared sub-tree (an expanded macro) with its memo slot: a macro
    /// used by many rules is evaluated once per event.
    Shared(Arc<Node>, usize),
    /// A constant.
    Const(bool),
}

/// Per-event results of shared sub-trees (0 unknown, 1 false, 2 true),
/// and where the compiled program returns after evaluating each.
#[derive(Debug, Default)]
pub struct Memo {
    slots: Vec<u8>,
    returns: Vec<u32>,
}

impl Memo {
    /// A memo for `n` shared sub-trees.
    pub fn new(n: usize) -> Memo {
        Memo {
            slots: vec![0; n],
            returns: vec![0; n],
        }
    }
    /// Grow to hold at least `n` shared sub-trees.
    #[inline]
    pub(crate) fn ensure(&mut self, n: usize) {
        if self.slots.len() < n || self.returns.len() < n {
            self.slots.resize(n, 0);
            self.returns.resize(n, 0);
        }
    }
    /// Note where the program continues once slot `slot` is evaluated.
    #[inline]
    pub(crate) fn set_return(&mut self, slot: usize, pc: u32) {
        self.returns[slot] = pc;
    }
    /// Where the program continues after evaluating slot `slot`.
    #[inline]
    pub(crate) fn return_to(&self, slot: usize) -> u32 {
        self.returns[slot]
    }
    /// The recorded result of slot `slot`, if any.
    #[inline]
    pub fn get(&self, slot: usize) -> Option<bool> {
        match self.slots.get(slot) {
            Some(1) => Some(false),
            Some(2) => Some(true),
            _ => None,
        }
    }
    /// Record the result of slot `slot`.
    #[inline]
    pub fn set(&mut self, slot: usize, val: bool) {
        if let Some(s) = self.slots.get_mut(slot) {
            *s = 1 + val as u8;
        }
    }
    /// Forget everything (before the next event).
    pub fn reset(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = 0);
    }
}

impl Node {
    /// Evaluate against a context (without memoisation).
    pub fn eval(&self, ctx: &dyn Context) -> bool {
        self.eval_memo(ctx, &mut Memo::default())
    }

    /// Evaluate, remembering shared sub-tree results in `memo`.
    pub fn eval_memo(&self, ctx: &dyn Context, memo: &mut Memo) -> bool {
        match self {
            Node::And(v) => v.iter().all(|n| n.eval_memo(ctx, memo)),
            Node::Or(v) => v.iter().any(|n| n.eval_memo(ctx, memo)),
            Node::Not(n) => !n.eval_memo(ctx, memo),
            Node::Check(c) => c.eval(ctx),
            Node::Shared(n, id) => match memo.slots.get(*id).copied() {
                Some(1) => false,
                Some(2) => true,
                Some(_) => {
                    let r = n.eval_memo(ctx, memo);
                    memo.slots[*id] = if r { 2 } else { 1 };
                    r
                }
                None => n.eval_memo(ctx, memo),
            },
            Node::Const(b) => *b,
        }
    }
}

fn b64_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => return None,
        } as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Apply transformers to a value.
pub fn transform<'a>(mut v: Value<'a>, ts: &[Transformer]) -> Option<Value<'a>> {
    for t in ts {
        v = match (t, v) {
            (_, Value::List(items)) => Value::List(
                items
                    .into_iter()
                    .filter_map(|i| transform(i, &[*t]))
                    .collect(),
            ),
            (Transformer::Len, Value::Str(s)) => Value::Num(s.chars().count() as i64),
            (Transformer::Len, other) => Value::Num(other.render().len() as i64),
            (Transformer::ToLower, Value::Str(s)) => Value::Str(Cow::Owned(s.to_lowercase())),
            (Transformer::ToUpper, Value::Str(s)) => Value::Str(Cow::Owned(s.to_uppercase())),
            (Transformer::B64, Value::Str(s)) => Value::Str(Cow::Owned(b64_decode(&s)?)),
            (Transformer::Basename, Value::Str(s)) => {
                let b = s.rsplit('/').next().unwrap_or("").to_string();
                Value::Str(Cow::Owned(b))
            }
            (_, other) => other,
        };
    }
    Some(v)
}

fn str_of<'a>(v: &'a Value<'_>) -> Cow<'a, str> {
    match v {
        Value::Str(s) => Cow::Borrowed(s.as_ref()),
        other => Cow::Owned(other.render()),
    }
}

fn ieq_contains(hay: &str, needle_lower: &str) -> bool {
    if hay.is_ascii() && needle_lower.is_ascii() {
        let h = hay.as_bytes();
        let n = needle_lower.as_bytes();
        if n.is_empty() {
            return true;
        }
        h.windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
    } else {
        hay.to_lowercase().contains(needle_lower)
    }
}

fn cmp_ord(v: &Value<'_>, lit: &Lit) -> Option<std::cmp::Ordering> {
    match (v, lit.num) {
        (Value::Num(n), Some(l)) => Some(n.cmp(&l)),
        (Value::Str(s), Some(l)) => s.trim().parse::<i64>().ok().map(|n| n.cmp(&l)),
        _ => Some(str_of(v).as_ref().cmp(lit.text.as_str())),
    }
}

fn eq_lit(v: &Value<'_>, lit: &Lit) -> bool {
    match v {
        Value::Str(s) => s.as_ref() == lit.text,
        // A literal that equals a number's text parses as that number.
        Value::Num(n) => lit.num == Some(*n),
        Value::Bool(b) => lit
            .text
            .eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Ip(ip) => lit.net.as_ref().is_some_and(|n| n.contains(ip)),
        Value::List(items) => items.iter().any(|i| eq_lit(i, lit)),
    }
}

fn in_set(v: &Value<'_>, set: &LitSet) -> bool {
    match v {
        Value::Str(s) => set.contains_str(s),
        Value::Num(n) => set.nums.contains(n),
        Value::Bool(b) => set.strs.contains(if *b { "true" } else { "false" }),
        Value::Ip(ip) => set.nets.iter().any(|n| n.contains(ip)),
        Value::List(items) => items.iter().any(|i| in_set(i, set)),
    }
}

fn pmatch(s: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| {
        s == p
            || (s.starts_with(p.as_str())
                && (p.ends_with('/') || s.as_bytes().get(p.len()) == Some(&b'/')))
    })
}

fn hex_contains(hay: &[u8], needle: &[u8], prefix_only: bool) -> bool {
    if prefix_only {
        hay.starts_with(needle)
    } else {
        needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
    }
}

impl Check {
    /// Evaluate.
    pub fn eval(&self, ctx: &dyn Context) -> bool {
        if let Rhs::Types(mask, _) = &self.rhs {
            let hit = (mask >> evt_type_code(ctx.event())) & 1 == 1;
            return if self.op == Op::Ne { !hit } else { hit };
        }
        // "Any ancestor" fields: walk the ancestry without collecting it.
        if self.any_ancestor {
            let mut any = false;
            for level in 1..64 {
                if ctx.process(level).is_none() {
                    break;
                }
                let one = Check {
                    field: Bound {
                        def: self.field.def,
                        arg: FieldArg::Index(level),
                    },
                    transformers: Vec::new(),
                    op: if self.op == Op::Ne { Op::Eq } else { self.op },
                    rhs: Rhs::None,
                    any_ancestor: false,
                };
                let Some(v) = extract(&one.field, ctx) else {
                    continue;
                };
                let Some(v) = transform(v, &self.transformers) else {
                    continue;
                };
                if self.op == Op::Exists || self.cmp(&v, ctx, one.op) {
                    any = true;
                    break;
                }
            }
            return if self.op == Op::Ne {
                !any && ctx.process(1).is_some()
            } else {
                any
            };
        }
        if self.transformers.is_empty() {
            match extract_text(&self.field, ctx) {
                Text::Str(s) => return self.op == Op::Exists || self.cmp_text(s, ctx),
                Text::Absent => return false,
                Text::Other => {}
            }
        }
        let Some(v) = extract(&self.field, ctx) else {
            return false;
        };
        let v = if self.transformers.is_empty() {
            v
        } else {
            match transform(v, &self.transformers) {
                Some(v) => v,
                None => return false,
            }
        };
        if self.op == Op::Exists {
            return true;
        }
        if let (Value::List(items), Op::In) = (&v, self.op) {
            // Falco's list fields: `in` means every value is in the set.
            if crate::fields::k8saudit::in_means_all(&self.field) {
                return items.iter().all(|i| self.cmp(i, ctx, Op::In));
            }
        }
        if let (Value::List(items), false) = (&v, matches!(self.op, Op::In | Op::Intersects)) {
            if self.op == Op::Ne {
                return !items.iter().any(|i| self.cmp(i, ctx, Op::Eq));
            }
            return items.iter().any(|i| self.cmp(i, ctx, self.op));
        }
        self.cmp(&v, ctx, self.op)
    }

    /// [`Check::cmp`] for a text value, without building a [`Value`].
    fn cmp_text(&self, s: &str, ctx: &dyn Context) -> bool {
        match (&self.rhs, self.op) {
            (Rhs::Lit(l), Op::Eq | Op::In | Op::Intersects) => s == l.text,
            (Rhs::Lit(l), Op::Ne) => s != l.text,
            (Rhs::Lit(l), Op::Contains) => s.contains(l.text.as_str()),
            (Rhs::Lit(l), Op::StartsWith) => s.starts_with(l.text.as_str()),
            (Rhs::Lit(l), Op::EndsWith) => s.ends_with(l.text.as_str()),
            (Rhs::Lit(l), Op::IContains) => ieq_contains(s, &l.lower),
            (Rhs::Set(set), _) => set.contains_str(s),
            (Rhs::Prefixes(p), _) => pmatch(s, p),
            (Rhs::Regex(re), _) => re.is_match(s),
            _ => self.cmp(&Value::Str(Cow::Borrowed(s)), ctx, self.op),
        }
    }

    fn cmp(&self, v: &Value<'_>, ctx: &dyn Context, op: Op) -> bool {
        match &self.rhs {
            Rhs::None => true,
            Rhs::Lit(lit) => match op {
                Op::Eq => eq_lit(v, lit),
                Op::Ne => !eq_lit(v, lit),
                Op::Lt => cmp_ord(v, lit).is_some_and(|o| o.is_lt()),
                Op::Le => cmp_ord(v, lit).is_some_and(|o| o.is_le()),
                Op::Gt => cmp_ord(v, lit).is_some_and(|o| o.is_gt()),
                Op::Ge => cmp_ord(v, lit).is_some_and(|o| o.is_ge()),
                Op::Contains => str_of(v).contains(lit.text.as_str()),
                Op::IContains => ieq_contains(&str_of(v), &lit.lower),
                Op::StartsWith => str_of(v).starts_with(lit.text.as_str()),
                Op::EndsWith => str_of(v).ends_with(lit.text.as_str()),
                Op::In | Op::Intersects => eq_lit(v, lit),
                Op::PMatch => pmatch(&str_of(v), std::slice::from_ref(&lit.text)),
                _ => false,
            },
            Rhs::Set(set) => in_set(v, set),
            Rhs::Prefixes(p) => pmatch(&str_of(v), p),
            Rhs::Regex(re) => re.is_match(&str_of(v)),
            Rhs::Bytes(b) => hex_contains(str_of(v).as_bytes(), b, op == Op::BStartsWith),
            Rhs::Types(mask, _) => {
                evt_type_code_of(&str_of(v)).is_some_and(|c| (mask >> c) & 1 == 1)
            }
            Rhs::Field(other, ts) => {
                let Some(o) = extract(other, ctx).and_then(|o| transform(o, ts)) else {
                    return false;
                };
                let lit = Lit::new(&str_of(&o));
                match op {
                    Op::Eq | Op::In | Op::Intersects => eq_lit(v, &lit),
                    Op::Ne => !eq_lit(v, &lit),
                    Op::Contains => str_of(v).contains(lit.text.as_str()),
                    Op::IContains => ieq_contains(&str_of(v), &lit.lower),
                    Op::StartsWith => str_of(v).starts_with(lit.text.as_str()),
                    Op::EndsWith => str_of(v).ends_with(lit.text.as_str()),
                    Op::Lt => cmp_ord(v, &lit).is_some_and(|o| o.is_lt()),
                    Op::Le => cmp_ord(v, &lit).is_some_and(|o| o.is_le()),
                    Op::Gt => cmp_ord(v, &lit).is_some_and(|o| o.is_gt()),
                    Op::Ge => cmp_ord(v, &lit).is_some_and(|o| o.is_ge()),
                    _ => false,
                }
            }
        }
    }
}

/// Translate a glob (`*`, `?`, `[…]`) into an anchored regex.
pub fn glob_to_regex(glob: &str, case_insensitive: bool) -> Result<Regex, regex::Error> {
    let mut re = String::from(if case_insensitive { "(?is)^" } else { "(?s)^" });
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '[' => {
                let mut class = String::from("[");
                if chars.peek() == Some(&'!') {
                    chars.next();
                    class.push('^');
                }
                let mut closed = false;
                for d in chars.by_ref() {
                    if d == ']' {
                        closed = true;
                        break;
                    }
                    if d == '\\' || d == '[' {
                        class.push('\\');
                    }
                    class.push(d);
                }
                if closed {
                    class.push(']');
                    re.push_str(&class);
                } else {
                    re.push_str(&regex::escape("["));
                    re.push_str(&regex::escape(&class[1..]));
                }
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let n = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(n.contains(&"10.1.2.3".parse().unwrap()));
        assert!(!n.contains(&"11.0.0.1".parse().unwrap()));
        assert!(IpNet::parse("::1")
            .unwrap()
            .contains(&"::1".parse().unwrap()));
        assert!(IpNet::parse("10.0.0.0/33").is_none());
        assert!(IpNet::parse("bash").is_none());
    }

    #[test]
    fn globs() {
        let g = glob_to_regex("/home/*/.ssh/*", false).unwrap();
        assert!(g.is_match("/home/alice/.ssh/id_rsa"));
        assert!(!g.is_match("/root/.ssh/id_rsa"));
        assert!(glob_to_regex("/proc/[0-9]*/environ", false)
            .unwrap()
            .is_match("/proc/12/environ"));
        assert!(glob_to_regex("*.PEM", true).unwrap().is_match("/x/key.pem"));
        assert!(glob_to_regex("[unclosed", false)
            .unwrap()
            .is_match("[unclosed"));
    }

    #[test]
    fn transformers() {
        let v = Value::Str(Cow::Borrowed("/usr/bin/BASH"));
        assert_eq!(
            transform(v.clone(), &[Transformer::Basename, Transformer::ToLower]),
            Some(Value::Str(Cow::Owned("bash".into())))
        );
        assert_eq!(transform(v, &[Transformer::Len]), Some(Value::Num(13)));
        let b = Value::Str(Cow::Borrowed("aGVsbG8="));
        assert_eq!(
            transform(b, &[Transformer::B64]),
            Some(Value::Str(Cow::Owned("hello".into())))
        );
        assert_eq!(
            transform(Value::Str(Cow::Borrowed("!!")), &[Transformer::B64]),
            None
        );
    }

    #[test]
    fn prefix_match_respects_path_boundaries() {
        let p = vec!["/etc".to_string(), "/usr/bin/".to_string()];
        assert!(pmatch("/etc", &p));
        assert!(pmatch("/etc/shadow", &p));
        assert!(!pmatch("/etcetera", &p));
        assert!(pmatch("/usr/bin/ls", &p));
    }
}
