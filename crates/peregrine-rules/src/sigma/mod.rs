//! Sigma → Falco-language conversion (`peregrine rules import-sigma`).
//!
//! Linux `process_creation`, `file_event` and `network_connection` rules
//! become Falco rules guarded by the matching event types; Sigma fields map
//! onto ours (`Image` → `proc.exepath`, `CommandLine` → `proc.cmdline`,
//! `TargetFilename` → `fd.name`, `DestinationIp` → `fd.rip`, …). Sigma string
//! matching is case-insensitive, so values become `icontains`/`iglob`
//! checks. What cannot be expressed (keyword searches, aggregations, fields
//! we do not observe such as hashes or DNS names, encodings like `base64`)
//! is reported with the reason instead of being approximated.

pub mod condition;

use crate::diag::Source;
use crate::yaml::{self, Node, NodeKind};
use condition::Cond;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A converted rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// Source file.
    pub file: String,
    /// Falco rule name.
    pub name: String,
    /// Sigma id.
    pub id: String,
    /// Sigma logsource category.
    pub category: String,
    /// The rule as a Falco YAML list item.
    pub yaml: String,
}

/// A rule that was not converted, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// Source file.
    pub file: String,
    /// Title (if it had one).
    pub title: String,
    /// Why.
    pub reason: String,
    /// False when the rule is outside what import-sigma converts at all
    /// (another product, a log service, another category).
    pub in_scope: bool,
}

/// The result for one file.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Converted.
    Converted(Converted),
    /// Not converted.
    Skipped(Skipped),
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Number,
    Ip,
}

fn field_map(category: &str, f: &str) -> Option<(&'static str, Kind)> {
    use Kind::*;
    let common = match f {
        "Image" => Some(("proc.exepath", Text)),
        "CommandLine" => Some(("proc.cmdline", Text)),
        "User" => Some(("user.name", Text)),
        "ParentImage" => Some(("proc.pexepath", Text)),
        "ParentCommandLine" => Some(("proc.pcmdline", Text)),
        "CurrentDirectory" => Some(("proc.cwd", Text)),
        "ProcessId" => Some(("proc.pid", Number)),
        "ParentProcessId" => Some(("proc.ppid", Number)),
        _ => None,
    };
    const ARGV: [&str; 10] = [
        "proc.argv[0]",
        "proc.argv[1]",
        "proc.argv[2]",
        "proc.argv[3]",
        "proc.argv[4]",
        "proc.argv[5]",
        "proc.argv[6]",
        "proc.argv[7]",
        "proc.argv[8]",
        "proc.argv[9]",
    ];
    match (category, f) {
        // auditd records, one record = one kernel event.
        ("auditd:EXECVE", a) => {
            let n: usize = a.strip_prefix('a')?.parse().ok()?;
            ARGV.get(n).map(|f| (*f, Text))
        }
        ("auditd:PATH", "name") => Some(("fd.name", Text)),
        ("auditd:SYSCALL", "exe") => Some(("proc.exepath", Text)),
        ("auditd:SYSCALL", "comm") => Some(("proc.name", Text)),
        ("auditd:SYSCALL", "uid") => Some(("user.uid", Number)),
        ("auditd:SYSCALL", "euid") => Some(("user.uid", Number)),
        (c, _) if c.starts_with("auditd:") => None,
        ("file_event", "TargetFilename") => Some(("fd.name", Text)),
        ("network_connection", "DestinationIp") => Some(("fd.rip", Ip)),
        ("network_connection", "DestinationPort") => Some(("fd.rport", Number)),
        ("network_connection", "SourceIp") => Some(("fd.lip", Ip)),
        ("network_connection", "SourcePort") => Some(("fd.lport", Number)),
        ("network_connection", "Protocol") => Some(("fd.l4proto", Text)),
        _ => common,
    }
}

fn guard(category: &str) -> Option<&'static str> {
    Some(match category {
        "process_creation" => "evt.type in (execve, execveat) and evt.dir = <",
        "file_event" => {
            "evt.type in (open, openat, openat2, creat) and evt.dir = < and evt.is_open_write = true and fd.typechar = 'f' and (evt.type = creat or evt.arg.flags contains O_CREAT)"
        }
        "network_connection" => {
            "evt.type in (connect, accept, accept4) and evt.dir = < and (fd.typechar = 4 or fd.typechar = 6)"
        }
        "auditd:EXECVE" => "evt.type in (execve, execveat) and evt.dir = <",
        "auditd:PATH" => {
            "evt.type in (open, openat, openat2, creat, unlink, unlinkat, rmdir, rename, renameat, renameat2, chmod, fchmodat, chown, lchown, fchownat, link, linkat, symlink, symlinkat, mkdir, mkdirat) and evt.dir = <"
        }
        "auditd:SYSCALL" => "evt.dir = <",
        _ => return None,
    })
}

fn output(category: &str, title: &str) -> String {
    let what = match category {
        "process_creation" | "auditd:EXECVE" | "auditd:SYSCALL" => "process=%proc.name exe=%proc.exepath command=%proc.cmdline parent=%proc.pname pcmdline=%proc.pcmdline",
        "file_event" | "auditd:PATH" => "file=%fd.name process=%proc.name command=%proc.cmdline",
        _ => "connection=%fd.name process=%proc.name command=%proc.cmdline",
    };
    format!("Sigma: {title} ({what} user=%user.name container=%container.name)")
}

/// A Falco string literal.
fn lit(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A YAML double-quoted scalar.
fn ystr(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Sigma value → (glob pattern, has wildcards). Sigma: `*`/`?` are
/// wildcards, `\*`, `\?`, `\\` literals.
fn sigma_glob(v: &str) -> (String, bool) {
    let mut out = String::new();
    let mut wild = false;
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => match chars.next() {
                Some('*') => out.push_str("[*]"),
                Some('?') => out.push_str("[?]"),
                _ => out.push('\\'),
            },
            '*' => {
                wild = true;
                out.push('*');
            }
            '?' => {
                wild = true;
                out.push('?');
            }
            '[' => out.push_str("[[]"),
            c => out.push(c),
        }
    }
    (out, wild)
}

/// Sigma value with escapes resolved (no wildcards).
fn sigma_plain(v: &str) -> String {
    v.replace("\\*", "*")
        .replace("\\?", "?")
        .replace("\\\\", "\\")
}

fn value_cond(field: &str, kind: Kind, mods: &[&str], v: &Node) -> Result<String, String> {
    let raw = match &v.kind {
        NodeKind::Scalar(s) => s.clone(),
        NodeKind::Null => return Err(format!("null values ({field}) are not supported")),
        _ => return Err("nested values are not supported".into()),
    };
    let m = mods
        .iter()
        .find(|m| !matches!(**m, "all" | "i" | "m" | "s"));
    if kind != Kind::Text && m.is_some_and(|m| *m != "cidr") {
        return Err(format!(
            "modifier '{}' on a non-text field",
            m.unwrap_or(&"")
        ));
    }
    match m.copied() {
        None => match kind {
            Kind::Number => {
                raw.parse::<u64>()
                    .map_err(|_| format!("'{raw}' is not a number for {field}"))?;
                Ok(format!("{field} = {raw}"))
            }
            Kind::Ip => Ok(format!("{field} = {}", lit(&raw))),
            Kind::Text => {
                let (g, _) = sigma_glob(&raw);
                Ok(format!("{field} iglob {}", lit(&g)))
            }
        },
        Some("contains") => {
            let (g, wild) = sigma_glob(&raw);
            if wild {
                Ok(format!("{field} iglob {}", lit(&format!("*{g}*"))))
            } else {
                Ok(format!("{field} icontains {}", lit(&sigma_plain(&raw))))
            }
        }
        Some("startswith") => Ok(format!(
            "{field} iglob {}",
            lit(&format!("{}*", sigma_glob(&raw).0))
        )),
        Some("endswith") => Ok(format!(
            "{field} iglob {}",
            lit(&format!("*{}", sigma_glob(&raw).0))
        )),
        Some("re") => {
            let mut flags = String::new();
            for f in ["i", "m", "s"] {
                if mods.contains(&f) {
                    flags.push_str(f);
                }
            }
            let re = if flags.is_empty() {
                raw
            } else {
                format!("(?{flags}){raw}")
            };
            regex::Regex::new(&re).map_err(|e| format!("regex does not compile: {e}"))?;
            Ok(format!("{field} regex {}", lit(&re)))
        }
        Some("cidr") if kind == Kind::Ip => {
            crate::eval::IpNet::parse(&raw)
                .ok_or_else(|| format!("'{raw}' is not a CIDR network"))?;
            Ok(format!("{field} = {}", lit(&raw)))
        }
        Some(other) => Err(format!("modifier '{other}' is not supported")),
    }
}

/// The values of a selection key: a list, or one value.
fn values_of(v: &Node) -> Vec<&Node> {
    match &v.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![v],
    }
}

fn selection(category: &str, map: &[(Node, Node)]) -> Result<String, String> {
    let mut ands = Vec::new();
    for (k, v) in map {
        let key = k.as_str().unwrap_or("");
        let mut parts = key.split('|');
        let name = parts.next().unwrap_or("");
        let mods: Vec<&str> = parts.collect();
        if category.starts_with("auditd:") && name == "type" {
            continue; // the record type chose the category
        }
        if category == "auditd:SYSCALL" && name.eq_ignore_ascii_case("syscall") {
            ands.push(audit_syscalls(v)?);
            continue;
        }
        if category.starts_with("auditd:") && name == "key" {
            return Err("audit rule keys ('key') depend on the host's audit rules".into());
        }
        if name == "Initiated" && category == "network_connection" {
            match v.as_str().map(|s| s.to_ascii_lowercase()).as_deref() {
                Some("true") => ands.push("evt.type = connect".to_string()),
                Some("false") => ands.push("evt.type in (accept, accept4)".to_string()),
                _ => return Err("Initiated must be true or false".into()),
            }
            continue;
        }
        let (field, kind) = field_map(category, name)
            .ok_or_else(|| format!("field '{name}' is not observed by Peregrine for {category}"))?;
        if mods.contains(&"exists") {
            let yes = v
                .as_str()
                .map(|s| s.eq_ignore_ascii_case("true"))
                .unwrap_or(true);
            ands.push(if yes {
                format!("{field} exists")
            } else {
                format!("not {field} exists")
            });
            continue;
        }
        let values = values_of(v);
        if values.is_empty() {
            return Err(format!("'{key}' has no values"));
        }
        let conds = values
            .iter()
            .map(|n| value_cond(field, kind, &mods, n))
            .collect::<Result<Vec<_>, _>>()?;
        let joiner = if mods.contains(&"all") {
            " and "
        } else {
            " or "
        };
        ands.push(if conds.len() == 1 {
            conds.into_iter().next().unwrap_or_default()
        } else {
            format!("({})", conds.join(joiner))
        });
    }
    if ands.is_empty() {
        return Err("empty selection".into());
    }
    Ok(if ands.len() == 1 {
        ands.remove(0)
    } else {
        format!("({})", ands.join(" and "))
    })
}

/// `SYSCALL: name` of an auditd SYSCALL record → `evt.type`, if Peregrine
/// captures that syscall.
fn audit_syscalls(v: &Node) -> Result<String, String> {
    let mut names = Vec::new();
    for n in values_of(v) {
        let mut name = n.as_str().unwrap_or("").trim().to_ascii_lowercase();
        if name == "execveat" {
            name = "execve".into(); // both arrive as the exec event
        }
        if crate::engine::kind_of_evt_type(&name).is_none() {
            return Err(format!("syscall '{name}' is not captured by Peregrine"));
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err("SYSCALL has no values".into());
    }
    Ok(if names.len() == 1 {
        format!("evt.type = {}", names[0])
    } else {
        format!("evt.type in ({})", names.join(", "))
    })
}

/// The audit record type every selection of an auditd rule is about, and
/// whether a selection names the syscall (`SYSCALL:`).
fn audit_record_type(det: &[(Node, Node)]) -> Result<(String, bool), String> {
    let mut types = std::collections::BTreeSet::new();
    let mut names_syscall = false;
    for (k, v) in det {
        if matches!(k.as_str(), Some("condition" | "timeframe")) {
            continue;
        }
        let maps: Vec<&[(Node, Node)]> = match &v.kind {
            NodeKind::Map(m) => vec![m.as_slice()],
            NodeKind::Seq(items) => items.iter().filter_map(|i| i.as_map()).collect(),
            _ => vec![],
        };
        for m in maps {
            for (fk, fv) in m {
                let field = fk.as_str().unwrap_or("").split('|').next().unwrap_or("");
                names_syscall |= field.eq_ignore_ascii_case("syscall");
                if fk.as_str() == Some("type") {
                    match fv.as_str() {
                        Some(t) => {
                            types.insert(t.trim().to_ascii_uppercase());
                        }
                        None => return Err("several audit record types in one selection".into()),
                    }
                }
            }
        }
    }
    let types: Vec<String> = types.into_iter().collect();
    match types.as_slice() {
        [] => Err("audit selection without a record type".into()),
        [t] if matches!(t.as_str(), "EXECVE" | "PATH" | "SYSCALL") => {
            Ok((t.clone(), names_syscall))
        }
        [t] => Err(format!(
            "audit record type {t} has no kernel-event equivalent"
        )),
        many => Err(format!(
            "correlates several audit records of one event ({})",
            many.join(", ")
        )),
    }
}

fn search(category: &str, n: &Node) -> Result<String, String> {
    match &n.kind {
        NodeKind::Map(m) => selection(category, m),
        NodeKind::Seq(items) if items.iter().all(|i| i.as_map().is_some()) => {
            let ors = items
                .iter()
                .map(|i| selection(category, i.as_map().unwrap_or_default()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(format!("({})", ors.join(" or ")))
        }
        _ => Err("keyword searches (values without a field) are not supported".into()),
    }
}

fn render(c: &Cond, ids: &[(String, String)]) -> Result<String, String> {
    Ok(match c {
        Cond::Id(id) => ids
            .iter()
            .find(|(n, _)| n == id)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| format!("condition names unknown search '{id}'"))?,
        Cond::Of { all, pattern } => {
            let m: Vec<&String> = ids
                .iter()
                .filter(|(n, _)| condition::pattern_matches(pattern, n))
                .map(|(_, s)| s)
                .collect();
            if m.is_empty() {
                return Err(format!("'{pattern}' matches no search"));
            }
            let j = if *all { " and " } else { " or " };
            format!(
                "({})",
                m.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(j)
            )
        }
        Cond::Not(x) => format!("not {}", render(x, ids)?),
        Cond::And(a, b) => format!("({} and {})", render(a, ids)?, render(b, ids)?),
        Cond::Or(a, b) => format!("({} or {})", render(a, ids)?, render(b, ids)?),
    })
}

fn tag(t: &str) -> Option<String> {
    let t = t.trim().to_ascii_lowercase();
    let rest = t.strip_prefix("attack.")?;
    if let Some(n) = rest.strip_prefix('t') {
        if n.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            return Some(format!("T{}", n.to_ascii_uppercase()));
        }
    }
    if rest.starts_with('g')
        || rest.starts_with('s') && rest[1..].chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    Some(format!("mitre_{}", rest.replace('-', "_")))
}

fn priority(level: &str) -> &'static str {
    match level {
        "critical" => "CRITICAL",
        "high" => "ERROR",
        "medium" => "WARNING",
        "low" => "NOTICE",
        _ => "INFORMATIONAL",
    }
}

/// Why a document is not converted.
struct Skip {
    reason: String,
    /// False when the document is about something Peregrine does not see.
    in_scope: bool,
}

fn skip(reason: impl Into<String>) -> Skip {
    Skip {
        reason: reason.into(),
        in_scope: true,
    }
}

fn out_of_scope(reason: impl Into<String>) -> Skip {
    Skip {
        reason: reason.into(),
        in_scope: false,
    }
}

/// A top-level string of the document, trimmed ("" when absent).
fn doc_str(doc: &Node, k: &str) -> String {
    doc.get(k)
        .and_then(|n| n.as_str())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Convert one Sigma document.
pub fn convert(file: &str, text: &str) -> Outcome {
    let skipped = |title: &str, s: Skip| {
        Outcome::Skipped(Skipped {
            file: file.to_string(),
            title: title.to_string(),
            reason: s.reason,
            in_scope: s.in_scope,
        })
    };
    let src = Arc::new(Source {
        name: file.to_string(),
        text: text.to_string(),
    });
    let doc = match single_doc(&src) {
        Ok(d) => d,
        Err(e) => return skipped("", e),
    };
    let title = doc_str(&doc, "title");
    if title.is_empty() {
        return skipped("", skip("no title"));
    }
    match convert_doc(file, &doc, &title) {
        Ok(c) => Outcome::Converted(c),
        Err(e) => skipped(&title, e),
    }
}

/// The file's one YAML document.
fn single_doc(src: &Arc<Source>) -> Result<Node, Skip> {
    let mut docs = yaml::parse(src).map_err(|e| skip(format!("not YAML: {}", e.message)))?;
    if docs.len() != 1 {
        return Err(skip(
            "multi-document Sigma files (correlations, collections) are not supported",
        ));
    }
    Ok(docs.remove(0))
}

/// Convert a document that has a title.
fn convert_doc(file: &str, doc: &Node, title: &str) -> Result<Converted, Skip> {
    let status = doc_str(doc, "status");
    if matches!(status.as_str(), "deprecated" | "unsupported") {
        return Err(skip(format!("status is {status}")));
    }
    let (category, names_syscall) = event_category(doc)?;
    let Some(guard) = guard(&category) else {
        return Err(out_of_scope(format!(
            "category '{category}' is out of scope"
        )));
    };
    let expr = detection(doc, &category)?;
    // A SYSCALL record that names no syscall is, in these rules, about the
    // program run (exe, comm): its execution.
    let guard = if category == "auditd:SYSCALL" && !names_syscall {
        "evt.type in (execve, execveat) and evt.dir = <"
    } else {
        guard
    };
    let yaml = rule_yaml(doc, title, &category, guard, &expr);
    Ok(Converted {
        file: file.to_string(),
        name: title.to_string(),
        id: doc_str(doc, "id"),
        category,
        yaml,
    })
}

/// The document's log source as a category (`auditd:TYPE` for an auditd
/// record) and, for auditd, whether the detection names a syscall.
fn event_category(doc: &Node) -> Result<(String, bool), Skip> {
    let ls = doc.get("logsource");
    let l = |k: &str| {
        ls.and_then(|n| n.get(k))
            .and_then(|n| n.as_str())
            .unwrap_or("")
            .to_string()
    };
    let (product, mut category) = (l("product"), l("category"));
    let mut names_syscall = false;
    if product != "linux" {
        return Err(out_of_scope(format!("product '{product}' is not linux")));
    }
    if l("service") == "auditd" && category.is_empty() {
        // An audit record of one syscall maps onto our event of it.
        let Some(det) = doc.get("detection").and_then(|d| d.as_map()) else {
            return Err(skip("no detection"));
        };
        let (t, named) = audit_record_type(det).map_err(skip)?;
        category = format!("auditd:{t}");
        names_syscall = named;
    } else if !l("service").is_empty() {
        return Err(out_of_scope(format!(
            "log service '{}' (not a kernel event source)",
            l("service")
        )));
    }
    Ok((category, names_syscall))
}

/// The `detection` block as a Falco condition expression.
fn detection(doc: &Node, category: &str) -> Result<String, Skip> {
    let Some(det) = doc.get("detection").and_then(|d| d.as_map()) else {
        return Err(skip("no detection"));
    };
    let mut ids = Vec::new();
    let mut cond_text = None;
    for (k, v) in det {
        let key = k.as_str().unwrap_or("");
        if key == "condition" {
            cond_text = match &v.kind {
                NodeKind::Scalar(c) => Some(c.clone()),
                NodeKind::Seq(_) => return Err(skip("several conditions are not supported")),
                _ => None,
            };
            continue;
        }
        if key == "timeframe" {
            return Err(skip("timeframes (aggregations) are not supported"));
        }
        match search(category, v) {
            Ok(sql) => ids.push((key.to_string(), sql)),
            Err(e) => return Err(skip(format!("{key}: {e}"))),
        }
    }
    let Some(cond_text) = cond_text else {
        return Err(skip("no condition"));
    };
    condition::parse(&cond_text)
        .and_then(|c| render(&c, &ids))
        .map_err(skip)
}

/// The Falco rule item for a converted document.
fn rule_yaml(doc: &Node, title: &str, category: &str, guard: &str, expr: &str) -> String {
    let id = doc_str(doc, "id");
    let mut tags: Vec<String> = doc
        .get("tags")
        .and_then(|t| t.as_seq())
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t.as_str().and_then(tag))
        .collect();
    tags.push("sigma".into());
    let desc = format!(
        "{} (Sigma rule {id}{}; converted by peregrine rules import-sigma)",
        doc_str(doc, "description")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        match doc_str(doc, "author") {
            a if a.is_empty() => String::new(),
            a => format!(" by {a}"),
        }
    );
    let level = doc_str(doc, "level");
    format!(
        "- rule: {}\n  desc: {}\n  condition: >-\n    {guard} and {expr}\n  output: {}\n  priority: {}\n  tags: [{}]\n  source: syscall\n",
        ystr(title),
        ystr(&desc),
        ystr(&output(category, title)),
        priority(&level),
        tags.iter().map(|t| ystr(t)).collect::<Vec<_>>().join(", "),
    )
}

/// Every `*.yml`/`*.yaml` below `dir`, sorted.
pub fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A rules file from converted rules (duplicate titles get the Sigma id).
pub fn rules_file(rules: &[Converted]) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::from(
        "# Converted from Sigma by `peregrine rules import-sigma` (Sigma rules: DRL 1.1).\n",
    );
    for r in rules {
        let mut yaml = r.yaml.clone();
        if !seen.insert(r.name.clone()) {
            let unique = format!("{} [{}]", r.name, r.id.chars().take(8).collect::<String>());
            yaml = yaml.replacen(
                &format!("- rule: {}", ystr(&r.name)),
                &format!("- rule: {}", ystr(&unique)),
                1,
            );
            seen.insert(unique);
        }
        out.push('\n');
        out.push_str(&yaml);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn globs_and_escapes() {
        assert_eq!(sigma_glob("/etc/*.conf"), ("/etc/*.conf".into(), true));
        assert_eq!(sigma_glob("a\\*b[x]"), ("a[*]b[[]x]".into(), false));
        assert_eq!(tag("attack.t1059.004"), Some("T1059.004".into()));
        assert_eq!(
            tag("attack.defense-evasion"),
            Some("mitre_defense_evasion".into())
        );
        assert_eq!(tag("attack.g0032"), None);
        assert_eq!(tag("cve.2021-1"), None);
    }
}
