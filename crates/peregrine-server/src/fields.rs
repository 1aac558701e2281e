//! Caps on every field of what agents send (docs/SECURITY.md has the
//! table). Identity fields (`id`, `time`, `rule`, `source`, `count`,
//! `output_fields` keys) are refused when invalid; content fields that are
//! too long or too many are truncated with a visible marker and listed in
//! the alert's `peregrine.truncated` output field, so nothing accepted is
//! silently lost and one oversized alert cannot block an agent's queue.
//! NUL characters (which PostgreSQL cannot store) become U+FFFD.

use crate::ingest::IngestError;
use peregrine_event::Alert;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Identity caps, in characters (refused beyond).
pub const MAX_ID: usize = 128;
/// Rule names.
pub const MAX_RULE: usize = 1024;
/// Event source names.
pub const MAX_SOURCE: usize = 64;
/// `output_fields` key names.
pub const MAX_FIELD_KEY: usize = 128;
/// Content caps, in bytes (truncated beyond): host names.
pub const MAX_HOSTNAME: usize = 255;
/// The rendered output.
pub const MAX_OUTPUT: usize = 64 << 10;
/// Each `output_fields` value, command line and executable path.
pub const MAX_VALUE: usize = 4096;
/// Tags, process names, container ids/names, namespaces, pods.
pub const MAX_NAME: usize = 256;
/// Container images.
pub const MAX_IMAGE: usize = 1024;
/// Entries of `output_fields`.
pub const MAX_FIELDS: usize = 256;
/// Tags.
pub const MAX_TAGS: usize = 64;
/// Ancestors.
pub const MAX_ANCESTORS: usize = 64;
/// The output field naming what was truncated.
pub const TRUNCATED_FIELD: &str = "peregrine.truncated";
const MARK: &str = "…[truncated]";

/// Fit `s` into `max` bytes (marker included), NULs replaced; `true` if
/// it changed.
fn fit(s: &mut String, max: usize) -> bool {
    let mut changed = false;
    if s.contains('\0') {
        *s = s.replace('\0', "\u{FFFD}");
        changed = true;
    }
    if s.len() > max {
        let mut cut = max.saturating_sub(MARK.len());
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str(MARK);
        changed = true;
    }
    changed
}

fn refuse(i: usize, field: &str, why: impl std::fmt::Display) -> IngestError {
    IngestError::Invalid(format!("alert {i}: {field} {why}"))
}

fn identity(i: usize, a: &Alert) -> Result<(), IngestError> {
    let printable = |s: &str| !s.chars().any(char::is_control);
    let n = |s: &str| s.chars().count();
    if a.id.is_empty() || n(&a.id) > MAX_ID || !printable(&a.id) {
        return Err(refuse(
            i,
            "id",
            format!("must be 1..={MAX_ID} printable characters"),
        ));
    }
    if a.rule.is_empty() || n(&a.rule) > MAX_RULE || !printable(&a.rule) {
        return Err(refuse(
            i,
            "rule",
            format!("must be 1..={MAX_RULE} printable characters"),
        ));
    }
    if n(&a.source) > MAX_SOURCE || !printable(&a.source) {
        return Err(refuse(
            i,
            "source",
            format!("must be at most {MAX_SOURCE} printable characters"),
        ));
    }
    if a.count == 0 || a.count > i64::MAX as u64 {
        return Err(refuse(i, "count", "must be 1..=9223372036854775807"));
    }
    if let Some(k) = a
        .output_fields
        .keys()
        .find(|k| k.is_empty() || n(k) > MAX_FIELD_KEY || !printable(k))
    {
        return Err(refuse(
            i,
            "output_fields",
            format!(
                "key '{}' must be 1..={MAX_FIELD_KEY} printable characters",
                k.chars().take(40).collect::<String>()
            ),
        ));
    }
    if let Err(why) = crate::rfc3339::parse(&a.time) {
        return Err(refuse(
            i,
            "time",
            format!(
                "'{}' is not RFC 3339: {why}",
                a.time.chars().take(40).collect::<String>()
            ),
        ));
    }
    Ok(())
}

/// Truncate the content fields of `a`; returns the names of those cut.
fn content(a: &mut Alert) -> Vec<String> {
    let mut cut = Vec::new();
    let mut note = |changed: bool, name: &str| {
        if changed && !cut.iter().any(|c| c == name) {
            cut.push(name.to_string());
        }
    };
    note(fit(&mut a.hostname, MAX_HOSTNAME), "hostname");
    note(fit(&mut a.output, MAX_OUTPUT), "output");
    if a.output_fields.len() > MAX_FIELDS {
        let extra = a.output_fields.len() - (MAX_FIELDS - 1);
        a.output_fields = std::mem::take(&mut a.output_fields)
            .into_iter()
            .take(MAX_FIELDS - 1)
            .collect::<BTreeMap<_, _>>();
        note(true, &format!("output_fields({extra} dropped)"));
    }
    for v in a.output_fields.values_mut() {
        note(fit(v, MAX_VALUE), "output_fields");
    }
    if a.tags.len() > MAX_TAGS {
        let extra = a.tags.len() - MAX_TAGS;
        a.tags.truncate(MAX_TAGS);
        note(true, &format!("tags({extra} dropped)"));
    }
    for t in &mut a.tags {
        note(fit(t, MAX_NAME), "tags");
    }
    if let Some(c) = &mut a.container {
        note(fit(&mut c.id, MAX_NAME), "container.id");
        note(fit(&mut c.name, MAX_NAME), "container.name");
        note(fit(&mut c.image, MAX_IMAGE), "container.image");
        for (v, n) in [
            (&mut c.k8s_namespace, "container.k8s_namespace"),
            (&mut c.k8s_pod, "container.k8s_pod"),
        ] {
            if let Some(v) = v {
                note(fit(v, MAX_NAME), n);
            }
        }
    }
    if a.ancestry.len() > MAX_ANCESTORS {
        let extra = a.ancestry.len() - MAX_ANCESTORS;
        a.ancestry.truncate(MAX_ANCESTORS);
        note(true, &format!("ancestry({extra} dropped)"));
    }
    for p in &mut a.ancestry {
        note(fit(&mut p.name, MAX_NAME), "ancestry.name");
        note(fit(&mut p.exepath, MAX_VALUE), "ancestry.exepath");
        note(fit(&mut p.cmdline, MAX_VALUE), "ancestry.cmdline");
    }
    cut
}

/// Check one alert's identity fields and fit its content fields; `None`
/// when nothing needed changing.
pub fn check_alert(i: usize, a: &Alert) -> Result<Option<Alert>, IngestError> {
    identity(i, a)?;
    let mut fixed = a.clone();
    let cut = content(&mut fixed);
    // Offsets other than Z (and lower-case or space separators) are kept
    // as the same instant in the canonical UTC form the store indexes.
    let canonical = a.time.as_bytes()[10] == b'T' && a.time.ends_with('Z');
    if !canonical {
        let ns = crate::rfc3339::parse(&a.time).unwrap_or(0);
        fixed.time = peregrine_event::time::rfc3339(ns as u64);
    }
    if cut.is_empty() {
        return Ok(if canonical { None } else { Some(fixed) });
    }
    fixed
        .output_fields
        .insert(TRUNCATED_FIELD.into(), cut.join(","));
    Ok(Some(fixed))
}

/// [`check_alert`] over a batch, borrowing it when nothing changes.
pub fn check_batch(alerts: &[Alert]) -> Result<Cow<'_, [Alert]>, IngestError> {
    let mut out: Option<Vec<Alert>> = None;
    for (i, a) in alerts.iter().enumerate() {
        match check_alert(i, a)? {
            Some(fixed) => {
                out.get_or_insert_with(|| alerts[..i].to_vec()).push(fixed);
            }
            None => {
                if let Some(o) = &mut out {
                    o.push(a.clone());
                }
            }
        }
    }
    Ok(match out {
        Some(v) => Cow::Owned(v),
        None => Cow::Borrowed(alerts),
    })
}

/// Text fields of heartbeats and rule sets: at most `max` characters, no
/// control characters (refused; both are re-sent whole by the agent).
pub fn check_text(what: &str, s: &str, max: usize) -> Result<(), IngestError> {
    if s.chars().count() > max {
        return Err(IngestError::Invalid(format!(
            "{what}: longer than {max} characters"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(IngestError::Invalid(format!(
            "{what}: control characters are not allowed"
        )));
    }
    Ok(())
}

/// Counters are stored as signed 64-bit integers.
pub fn check_count(what: &str, n: u64) -> Result<(), IngestError> {
    if n > i64::MAX as u64 {
        return Err(IngestError::Invalid(format!(
            "{what}: {n} is above 9223372036854775807"
        )));
    }
    Ok(())
}

/// Heartbeat fields: bounded text, counters that fit the store.
pub fn check_heartbeat(hb: &peregrine_store::Heartbeat) -> Result<(), IngestError> {
    check_text("agent", &hb.agent, 128)?;
    check_text("hostname", &hb.hostname, MAX_HOSTNAME)?;
    check_text("version", &hb.version, 64)?;
    check_text("kernel", &hb.kernel, MAX_NAME)?;
    for (k, v) in &hb.drops {
        check_text("drops key", k, 64)?;
        check_count(&format!("drops.{k}"), *v)?;
    }
    check_count("events", hb.events)?;
    check_count("alerts", hb.alerts)?;
    check_count("rules", hb.rules)?;
    if hb.started < 0 {
        return Err(IngestError::Invalid("started: negative Unix time".into()));
    }
    Ok(())
}

/// Rule-set fields: printable names, bounded tags, descriptions and files.
pub fn check_rules(rules: &[peregrine_event::wire::RuleInfo]) -> Result<(), IngestError> {
    for r in rules {
        let at = |f: &str| {
            format!(
                "rule '{}': {f}",
                r.name.chars().take(40).collect::<String>()
            )
        };
        check_text(&at("name"), &r.name, MAX_RULE)?;
        if r.tags.len() > MAX_TAGS {
            return Err(IngestError::Invalid(at(&format!(
                "more than {MAX_TAGS} tags"
            ))));
        }
        for t in &r.tags {
            check_text(&at("tag"), t, MAX_NAME)?;
        }
        if r.desc.chars().count() > 16 << 10 || r.desc.contains('\0') {
            return Err(IngestError::Invalid(at(
                "desc longer than 16384 characters or holding NUL",
            )));
        }
        check_text(&at("file"), &r.file, MAX_VALUE)?;
    }
    Ok(())
}
