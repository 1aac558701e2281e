//! A profile as Falco-language allow-list rules (reviewable, versionable):
//! one rule per item kind, scoped to the profile's unit, firing on what the
//! profile never learned.
//!
//! The rules are at least as permissive as the profile: file prefixes
//! become `pmatch` path prefixes (a learned `/etc/` allows files below
//! `/etc/` at any depth; a `*` component cuts the prefix there), and a
//! kind's drifted items are not allowed.

use super::{ItemKind, Profile};
use std::collections::BTreeSet;
use std::fmt::Write;

/// The condition selecting the unit's events (`exec`: for exec events,
/// whose host unit is the parent's executable).
fn scope(unit: &str, exec: bool) -> String {
    if let Some(image) = unit.strip_prefix("image:") {
        return match image.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) {
            Some((repo, tag)) => format!(
                "container.image.repository = {} and container.image.tag = {}",
                quote(repo),
                quote(tag)
            ),
            None => format!("container.image.repository = {}", quote(image)),
        };
    }
    if let Some(name) = unit.strip_prefix("container:") {
        return format!("container.name = {}", quote(name));
    }
    let exe = unit.strip_prefix("exe:").unwrap_or(unit);
    let field = if exec {
        "proc.pexepath"
    } else {
        "proc.exepath"
    };
    format!("container.id = host and {field} = {}", quote(exe))
}

/// A double-quoted condition string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A YAML single-quoted scalar.
fn yaml(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    items.into_iter().collect::<Vec<_>>().join(", ")
}

/// `not (…)` over a kind's learned items; empty when nothing was learned
/// (every event of the kind then fires).
fn allowed(kind: ItemKind, items: &BTreeSet<String>) -> String {
    if items.is_empty() {
        return String::new();
    }
    let cond = match kind {
        ItemKind::Executable => {
            format!("proc.exepath in ({})", list(items.iter().map(|i| quote(i))))
        }
        ItemKind::User => format!("user.uid in ({})", list(items.iter().cloned())),
        ItemKind::ListenPort => format!(
            "fd.sport in ({})",
            list(
                items
                    .iter()
                    .map(|i| i.rsplit('/').next().unwrap_or(i).to_string())
            )
        ),
        ItemKind::FileRead | ItemKind::FileWrite => {
            let prefixes: BTreeSet<String> = items.iter().map(|p| path_prefix(p)).collect();
            format!(
                "fd.name pmatch ({})",
                list(prefixes.iter().map(|p| quote(p)))
            )
        }
        ItemKind::ExecEdge => items
            .iter()
            .filter_map(|e| e.split_once(" -> "))
            .map(|(p, c)| {
                format!(
                    "(proc.pexepath = {} and proc.exepath = {})",
                    quote(p),
                    quote(c)
                )
            })
            .collect::<Vec<_>>()
            .join(" or "),
        ItemKind::Peer => items
            .iter()
            .filter_map(|p| p.rsplit_once(':'))
            .map(|(ip, port)| {
                let ip = ip.trim_start_matches('[').trim_end_matches(']');
                match ip.contains('/') {
                    true => format!("(fd.rnet = {} and fd.rport = {port})", quote(ip)),
                    false => format!("(fd.rip = {} and fd.rport = {port})", quote(ip)),
                }
            })
            .collect::<Vec<_>>()
            .join(" or "),
    };
    format!(" and not ({cond})")
}

/// A learned prefix as a `pmatch` path: cut at the first `*` component,
/// without the trailing `/` (except `/` itself).
fn path_prefix(p: &str) -> String {
    let cut = p.find("/*").map_or(p, |i| &p[..i]);
    let trimmed = cut.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Events of one kind, and what the alert prints.
fn event(kind: ItemKind) -> (&'static str, &'static str) {
    match kind {
        ItemKind::Executable | ItemKind::ExecEdge | ItemKind::User => (
            "evt.type in (execve, execveat)",
            "exe=%proc.exepath parent=%proc.pexepath uid=%user.uid cmdline=%proc.cmdline",
        ),
        ItemKind::FileRead => (
            "evt.type in (open, openat, openat2) and evt.rawres >= 0 and evt.is_open_write = false",
            "file=%fd.name exe=%proc.exepath",
        ),
        ItemKind::FileWrite => (
            "evt.type in (open, openat, openat2) and evt.rawres >= 0 and evt.is_open_write = true",
            "file=%fd.name exe=%proc.exepath",
        ),
        ItemKind::Peer => (
            "evt.type = connect and (fd.typechar = 4 or fd.typechar = 6)",
            "connection=%fd.name exe=%proc.exepath",
        ),
        ItemKind::ListenPort => (
            "evt.type = listen and evt.rawres >= 0",
            "port=%fd.sport exe=%proc.exepath",
        ),
    }
}

/// `profile` as Falco rules: a header comment, then one rule per item kind.
pub fn falco_rules(profile: &Profile) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Behaviour profile {} ({}, {} items, learned {}s), exported by `peregrine profile export`.\n# Each rule fires on what the profile never learned.",
        profile.unit,
        profile.mode.name(),
        profile.len(),
        profile.learned_secs(super::now_s()),
    );
    let empty = BTreeSet::new();
    for kind in ItemKind::ALL {
        let items = profile.items.get(&kind).unwrap_or(&empty);
        let (evt, fields) = event(kind);
        let exec = matches!(
            kind,
            ItemKind::Executable | ItemKind::ExecEdge | ItemKind::User
        );
        let condition = format!(
            "{evt} and {}{}",
            scope(&profile.unit, exec),
            allowed(kind, items)
        );
        let name = format!("Profile {}: {}", profile.unit, kind.title());
        let _ = writeln!(
            out,
            "\n- rule: {}\n  desc: {}\n  condition: {}\n  output: {}\n  priority: {}\n  tags: [profile, drift]",
            yaml(&name),
            yaml(&format!("{} of {} not in its behaviour profile ({} learned)", kind.name(), profile.unit, items.len())),
            yaml(&condition),
            yaml(&format!("Behaviour drift: {} (profile={} {fields} container=%container.id)", kind.title(), profile.unit)),
            kind.priority().to_uppercase(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_prefixes() {
        assert_eq!(
            scope("image:localhost:5000/app:1.2", false),
            r#"container.image.repository = "localhost:5000/app" and container.image.tag = "1.2""#
        );
        assert_eq!(
            scope("image:localhost:5000/app", false),
            r#"container.image.repository = "localhost:5000/app""#
        );
        assert_eq!(
            scope("exe:/usr/bin/x", true),
            r#"container.id = host and proc.pexepath = "/usr/bin/x""#
        );
        assert_eq!(path_prefix("/proc/*/"), "/proc");
        assert_eq!(path_prefix("/"), "/");
        assert_eq!(path_prefix("/etc/ssl/"), "/etc/ssl");
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
