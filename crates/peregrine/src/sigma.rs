//! `peregrine rules import-sigma`.
use anyhow::{bail, Result};
use peregrine_rules::Engine;

/// `peregrine rules import-sigma`: convert, check every converted rule
/// compiles, write the rules file and a report of what was skipped and why.
pub fn import(
    dirs: &[std::path::PathBuf],
    output: Option<&std::path::Path>,
    report: Option<&std::path::Path>,
) -> Result<()> {
    use peregrine_rules::sigma::{self, Outcome, Skipped};
    let mut converted = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut total = 0;
    for dir in dirs {
        let files = if dir.is_file() {
            vec![dir.clone()]
        } else {
            sigma::files(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
        };
        for f in files {
            total += 1;
            let name = f.display().to_string();
            let text = match std::fs::read_to_string(&f) {
                Ok(t) => t,
                Err(e) => {
                    skipped.push(Skipped {
                        file: name,
                        title: String::new(),
                        reason: format!("unreadable: {e}"),
                        in_scope: true,
                    });
                    continue;
                }
            };
            match sigma::convert(&name, &text) {
                Outcome::Converted(c) => {
                    // Only rules the engine accepts are kept.
                    match Engine::from_str(&name, &c.yaml) {
                        Ok(_) => converted.push(c),
                        Err(e) => skipped.push(Skipped {
                            file: name,
                            title: c.name,
                            reason: format!(
                                "converted rule does not compile: {}",
                                e.diagnostics
                                    .first()
                                    .map(|d| d.message.clone())
                                    .unwrap_or_default()
                            ),
                            in_scope: true,
                        }),
                    }
                }
                Outcome::Skipped(s) => skipped.push(s),
            }
        }
    }
    let text = sigma::rules_file(&converted);
    if let Err(e) = Engine::from_str("converted", &text) {
        let first = e
            .diagnostics
            .first()
            .map(|d| d.to_string())
            .unwrap_or_default();
        bail!("the converted rules do not load together: {first}");
    }
    match output {
        Some(p) => std::fs::write(p, &text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        None => print!("{text}"),
    }
    let in_scope = converted.len() + skipped.iter().filter(|s| s.in_scope).count();
    let mut by_reason: std::collections::BTreeMap<String, usize> = Default::default();
    for s in &skipped {
        // The reason without its "search:" prefix groups alike skips.
        let key = match s.reason.split_once(": ") {
            Some((search, rest)) if !search.contains(' ') => rest,
            _ => s.reason.as_str(),
        }
        .trim()
        .to_string();
        *by_reason.entry(key).or_default() += 1;
    }
    let mut rep = format!(
        "Sigma import: {} converted of {in_scope} Linux process_creation/file_event/network_connection and auditd rules ({total} files read)\n",
        converted.len()
    );
    for c in [
        "process_creation",
        "file_event",
        "network_connection",
        "auditd:EXECVE",
        "auditd:PATH",
        "auditd:SYSCALL",
    ] {
        rep.push_str(&format!(
            "  {c}: {} converted\n",
            converted.iter().filter(|r| r.category == c).count()
        ));
    }
    rep.push_str("Not converted, by reason:\n");
    let mut reasons: Vec<_> = by_reason.into_iter().collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
    for (r, n) in reasons {
        rep.push_str(&format!("  {n:4}  {r}\n"));
    }
    rep.push_str("Per file:\n");
    for s in &skipped {
        rep.push_str(&format!("  {}: {} — {}\n", s.file, s.title, s.reason));
    }
    if let Some(p) = report {
        std::fs::write(p, &rep).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    }
    eprint!("{}", rep.split("Per file:").next().unwrap_or(""));
    Ok(())
}
