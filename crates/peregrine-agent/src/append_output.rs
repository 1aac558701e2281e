//! `append_output` (Falco's key of the same name, also in Peregrine's
//! config): more text at the end of the outputs of chosen rules, and more
//! fields in their `output_fields`.
//!
//! ```yaml
//! append_output:
//!   - match: {source: syscall, tags: [T1555], rule: Read sensitive file untrusted}
//!     extra_output: "on CPU %evt.cpu"       # appended after a space
//!     extra_fields:
//!       - proc.ppid                         # a field, by its name
//!       - home: "%user.name at ${HOME}"     # a name and a format
//! ```
//!
//! An entry applies to rules that match every condition given in `match`
//! (all when there is none): the rule's source, all of the `tags`, its
//! name. `suggested_output` is accepted and has no effect (Peregrine has no
//! plugins suggesting fields).

use peregrine_rules::context::Context;
use peregrine_rules::output::Template;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One `append_output` entry as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendOutput {
    /// Which rules (all when absent).
    #[serde(rename = "match", default)]
    pub matches: AppendMatch,
    /// Text (with `%fields`) appended to the output after a space.
    #[serde(default)]
    pub extra_output: Option<String>,
    /// More `output_fields`: a field name, or `{name: format}`.
    #[serde(default)]
    pub extra_fields: Vec<ExtraField>,
    /// Accepted; no effect.
    #[serde(default)]
    pub suggested_output: Option<bool>,
}

/// `match` of an entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppendMatch {
    /// The rule's source (`syscall`).
    #[serde(default)]
    pub source: Option<String>,
    /// Tags the rule must all have.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The rule's name.
    #[serde(default)]
    pub rule: Option<String>,
}

/// One entry of `extra_fields`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ExtraField {
    /// A field by name: its value under its name.
    Field(String),
    /// `{name: format}`: the rendered format under `name`.
    Formatted(BTreeMap<String, String>),
}

struct Entry {
    matches: AppendMatch,
    output: Option<Template>,
    fields: Vec<(String, Template)>,
}

/// The entries, compiled once.
#[derive(Default)]
pub struct Appender {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Appender({} entries)", self.entries.len())
    }
}

fn template(what: &str, text: &str) -> Result<Template, String> {
    Template::compile(text)
        .map_err(|(at, e)| format!("append_output {what} '{text}': {e} (at {at})"))
}

impl Appender {
    /// Compile the entries; an unknown field or a malformed format is an
    /// error naming it.
    pub fn compile(list: &[AppendOutput]) -> Result<Appender, String> {
        let mut entries = Vec::new();
        for a in list {
            let output = match &a.extra_output {
                Some(t) if !t.trim().is_empty() => Some(template("extra_output", t)?),
                _ => None,
            };
            let mut fields = Vec::new();
            for f in &a.extra_fields {
                match f {
                    ExtraField::Field(name) => {
                        fields.push((name.clone(), template("extra_fields", &format!("%{name}"))?))
                    }
                    ExtraField::Formatted(m) if m.len() == 1 => {
                        for (name, fmt) in m {
                            fields.push((name.clone(), template("extra_fields", fmt)?));
                        }
                    }
                    ExtraField::Formatted(_) => {
                        return Err("append_output extra_fields: each entry is a field name or one `name: format`".into())
                    }
                }
            }
            if output.is_some() || !fields.is_empty() {
                entries.push(Entry {
                    matches: a.matches.clone(),
                    output,
                    fields,
                });
            }
        }
        Ok(Appender { entries })
    }

    /// True when there is nothing to append.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Append to a rendered `output` and its `fields` for the rule
    /// (`name`, `tags`, `source`), rendering against `ctx`.
    pub fn apply(
        &self,
        rule: (&str, &[String], &str),
        ctx: &dyn Context,
        output: &mut String,
        fields: &mut BTreeMap<String, String>,
    ) {
        let (name, tags, source) = rule;
        for e in &self.entries {
            let m = &e.matches;
            if m.source.as_deref().is_some_and(|s| s != source)
                || m.rule.as_deref().is_some_and(|r| r != name)
                || !m.tags.iter().all(|t| tags.contains(t))
            {
                continue;
            }
            if let Some(t) = &e.output {
                let (text, more) = t.render(ctx);
                if !text.is_empty() {
                    output.push(' ');
                    output.push_str(&text);
                }
                fields.extend(more);
            }
            for (key, t) in &e.fields {
                fields.insert(key.clone(), t.render(ctx).0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(yaml: &str) -> Vec<AppendOutput> {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn entries_compile_and_bad_ones_are_named() {
        let ok = entry(
            "- match: {tags: [a, b]}\n  extra_output: 'x=%proc.name'\n  extra_fields: [proc.pid, {who: '%user.name'}]\n- suggested_output: true\n",
        );
        let a = Appender::compile(&ok).unwrap();
        assert_eq!(a.entries.len(), 1, "suggested_output alone appends nothing");
        let e = Appender::compile(&entry("- extra_output: '%no.such.field'\n")).unwrap_err();
        assert!(e.contains("extra_output '%no.such.field'"), "{e}");
        let e = Appender::compile(&entry(
            "- extra_fields: [{a: '%proc.name', b: '%proc.pid'}]\n",
        ))
        .unwrap_err();
        assert!(e.contains("one `name: format`"), "{e}");
    }

    #[test]
    fn the_config_file_locates_a_bad_entry() {
        let e = crate::config::Settings::from_yaml(
            "p.yaml",
            "ring_mib: 16\nappend_output:\n  - extra_output: '%bogus.field'\n",
            None,
        )
        .unwrap_err();
        let text = e[0].to_string();
        assert!(
            text.starts_with("p.yaml:2:") || text.starts_with("p.yaml:3:"),
            "{text}"
        );
        assert!(text.contains("%bogus.field"), "{text}");
        let unknown = crate::config::Settings::from_yaml(
            "p.yaml",
            "append_output:\n  - extra_outptu: x\n",
            None,
        )
        .unwrap_err();
        assert!(
            unknown[0].to_string().contains("extra_outptu"),
            "{}",
            unknown[0]
        );
    }
}
