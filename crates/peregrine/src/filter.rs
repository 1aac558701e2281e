//! `--filter KEY=VALUE` parsing into the sensor's kernel filter.
use anyhow::{bail, Context, Result};
use peregrine_event::EventKind;
use peregrine_sensor::KernelFilter;
use std::collections::BTreeSet;

const KEYS: &str = "kind, path, comm, not-comm, pid, cgroup";

/// Parse every `--filter` into wanted kinds and a kernel filter.
pub fn parse(filters: &[String]) -> Result<(BTreeSet<EventKind>, KernelFilter)> {
    let mut kinds: Option<BTreeSet<EventKind>> = None;
    // `capture` shows what the kernel sees: every socket(2) too.
    let mut f = KernelFilter {
        all_sockets: true,
        ..KernelFilter::default()
    };
    for spec in filters {
        let (key, value) = spec.split_once('=').with_context(|| {
            format!("--filter '{spec}': expected KEY=VALUE with KEY one of {KEYS}")
        })?;
        let values: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            bail!("--filter '{spec}': no value given");
        }
        match key.trim() {
            "kind" => {
                let set = kinds.get_or_insert_with(BTreeSet::new);
                for v in values {
                    set.insert(v.parse().with_context(|| format!("--filter '{spec}'"))?);
                }
            }
            "path" => {
                for v in values {
                    if !v.starts_with('/') {
                        bail!("--filter '{spec}': path prefix '{v}' must be absolute");
                    }
                    f.path_prefixes.push(v.to_string());
                }
            }
            "comm" => f.comm_allow.extend(values.iter().map(|s| s.to_string())),
            "not-comm" => f.comm_deny.extend(values.iter().map(|s| s.to_string())),
            "pid" => {
                let pids = f.pids.get_or_insert_with(Vec::new);
                for v in values {
                    pids.push(
                        v.parse()
                            .with_context(|| format!("--filter '{spec}': '{v}' is not a pid"))?,
                    );
                }
            }
            "cgroup" => {
                let cgs = f.cgroups.get_or_insert_with(Vec::new);
                for v in values {
                    cgs.push(
                        v.parse().with_context(|| {
                            format!("--filter '{spec}': '{v}' is not a cgroup id")
                        })?,
                    );
                }
            }
            other => bail!("--filter '{spec}': unknown key '{other}' (expected one of {KEYS})"),
        }
    }
    if !f.comm_allow.is_empty() && !f.comm_deny.is_empty() {
        bail!("--filter: comm= and not-comm= cannot be combined");
    }
    let kinds = kinds.unwrap_or_else(|| EventKind::ALL.iter().copied().collect());
    Ok((kinds, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kinds_and_filters() {
        let (k, f) =
            parse(&["kind=exec,open".into(), "path=/etc".into(), "pid=42".into()]).unwrap();
        assert_eq!(k.len(), 2);
        assert!(k.contains(&EventKind::Open));
        assert_eq!(f.path_prefixes, vec!["/etc"]);
        assert_eq!(f.pids, Some(vec![42]));
    }

    #[test]
    fn unknown_key_and_kind_are_named() {
        let e = parse(&["colour=red".into()]).unwrap_err().to_string();
        assert!(e.contains("unknown key 'colour'"), "{e}");
        let e = format!("{:#}", parse(&["kind=teleport".into()]).unwrap_err());
        assert!(e.contains("unknown EventKind 'teleport'"), "{e}");
        assert!(parse(&["path=etc".into()]).is_err());
        assert!(parse(&["kind".into()]).is_err());
    }
}
