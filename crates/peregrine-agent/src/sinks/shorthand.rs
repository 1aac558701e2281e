//! The string shorthand `KIND[:ARG][,key=value…]` (`--output`, env,
//! config-file strings): a front end that splits the spec, takes the shared
//! options once and hands the rest to the sink, which fills its typed
//! settings. An option nobody took is an error naming the sink and the
//! option.

use super::{registry, shared, SinkConfig, SinkError};
use std::str::FromStr;

/// The `key=value` options of one spec, taken one by one by the shared
/// options and the sink; whatever is left is an error.
pub struct Options<'a> {
    pairs: Vec<(&'a str, &'a str)>,
    asked: Vec<&'static str>,
}

impl<'a> Options<'a> {
    fn new(pairs: Vec<(&'a str, &'a str)>) -> Options<'a> {
        Options {
            pairs,
            asked: Vec::new(),
        }
    }

    /// Every value of a repeatable option (`header=…`), in order.
    pub fn take_all(&mut self, key: &'static str) -> Vec<&'a str> {
        self.asked.push(key);
        let mut out = Vec::new();
        self.pairs.retain(|(k, v)| {
            let hit = *k == key;
            if hit {
                out.push(*v);
            }
            !hit
        });
        out
    }

    /// The value of `key` (the last one when repeated).
    pub fn take(&mut self, key: &'static str) -> Option<&'a str> {
        self.take_all(key).pop()
    }

    /// The value of `key` parsed; "`key` 'v' is not a number" otherwise.
    pub fn take_parsed<T: FromStr>(&mut self, key: &'static str) -> Result<Option<T>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("{key} '{v}' is not a number")),
        }
    }

    /// Ok when every option was taken; otherwise an error naming the sink,
    /// the first option left and the options the sink has.
    pub fn finish(&self, kind: &str) -> Result<(), String> {
        match self.pairs.first() {
            None => Ok(()),
            Some((k, _)) => Err(format!(
                "{kind} has no option '{k}' (its options: {})",
                self.asked.join(", ")
            )),
        }
    }
}

/// Parse one shorthand spec.
pub(super) fn parse(spec: &str) -> Result<SinkConfig, SinkError> {
    let bad = |reason: String| SinkError::Config {
        spec: spec.to_string(),
        reason,
    };
    let mut parts = spec.split(',');
    let head = parts.next().unwrap_or("");
    let (name, arg) = match head.split_once(':') {
        Some((k, a)) => (k, Some(a)),
        None => (head, None),
    };
    let kind = registry::lookup(name).ok_or_else(|| {
        bad(format!(
            "unknown sink '{name}' (expected one of: {})",
            registry::names()
        ))
    })?;
    let mut pairs = Vec::new();
    for opt in parts {
        let (k, v) = opt
            .split_once('=')
            .ok_or_else(|| bad(format!("option '{opt}' is not key=value")))?;
        pairs.push((k, v));
    }
    let mut opts = Options::new(pairs);
    let shared = shared::Shared::from_shorthand(&mut opts, kind.buffered).map_err(bad)?;
    (kind.shorthand)(name, arg, &mut opts, shared).map_err(bad)
}
