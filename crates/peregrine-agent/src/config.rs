//! The agent's YAML configuration file.
//!
//! ```yaml
//! rules: [/etc/peregrine/rules/falco_rules.yaml]
//! outputs: [stdout, "file:/var/log/peregrine/alerts.jsonl,max_mb=100"]
//! metrics_addr: 127.0.0.1:9376      # "off" disables
//! docker_socket: /var/run/docker.sock
//! containerd_socket: /run/containerd/containerd.sock   # asked when Docker does not know a container
//! ring_mib: 16
//! max_processes: 65536
//! workers: 0                        # rule threads; 0 = automatic
//! watch_rules: true                 # reload when a rule file changes
//! btf: /path/to/vmlinux.btf         # optional
//! dedup: {window: 60, fields: [proc.name, fd.name], rate_limit: 20}
//! server:                           # optional: ship to a Peregrine server
//!   url: https://peregrine.example:8470
//!   token_file: /etc/peregrine/agent.token   # or token: pg_…
//!   ca: /etc/peregrine/ca.pem       # optional private CA
//!   buffer: /var/lib/peregrine/buffer/server
//! ```
//!
//! Precedence: built-in defaults < this file < `PEREGRINE_*` environment
//! variables < command-line flags. Every problem is reported with
//! `file:line:column`.

use crate::sinks::SinkConfig;
use crate::AgentConfig;
use peregrine_rules::diag::{Diagnostic, Source};
use peregrine_rules::yaml::{self, Node, NodeKind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const KEYS: &[&str] = &[
    "rules",
    "outputs",
    "metrics_addr",
    "docker_socket",
    "containerd_socket",
    "ring_mib",
    "max_processes",
    "workers",
    "watch_rules",
    "btf",
    "dedup",
    "server",
];

fn strings(src: &Arc<Source>, n: &Node, key: &str, errs: &mut Vec<Diagnostic>) -> Vec<String> {
    match &n.kind {
        NodeKind::Scalar(s) => vec![s.clone()],
        NodeKind::Seq(items) => items
            .iter()
            .filter_map(|i| match i.as_str() {
                Some(s) => Some(s.to_string()),
                None => {
                    errs.push(Diagnostic::error(
                        src,
                        i.pos,
                        format!("'{key}' items must be strings"),
                    ));
                    None
                }
            })
            .collect(),
        _ => {
            errs.push(Diagnostic::error(
                src,
                n.pos,
                format!("'{key}' must be a string or a list of strings"),
            ));
            Vec::new()
        }
    }
}

fn number<T: std::str::FromStr>(
    src: &Arc<Source>,
    n: &Node,
    key: &str,
    errs: &mut Vec<Diagnostic>,
) -> Option<T> {
    match n.as_str().and_then(|s| s.trim().parse().ok()) {
        Some(v) => Some(v),
        None => {
            errs.push(Diagnostic::error(
                src,
                n.pos,
                format!("'{key}' must be a number"),
            ));
            None
        }
    }
}

fn server_link(
    src: &Arc<Source>,
    v: &Node,
    base: Option<&std::path::Path>,
    errs: &mut Vec<Diagnostic>,
) -> Option<crate::report::ServerLink> {
    let Some(m) = v.as_map() else {
        errs.push(Diagnostic::error(
            src,
            v.pos,
            "server must be a mapping (url, token or token_file, ca, buffer)",
        ));
        return None;
    };
    let rel = |p: &str| match base {
        Some(b) if !p.starts_with('/') => b.join(p),
        _ => PathBuf::from(p),
    };
    let mut url = None;
    let mut token = None;
    let mut ca = None;
    let mut buffer = PathBuf::from("/var/lib/peregrine/buffer/server");
    for (k, val) in m {
        let Some(text) = val.as_str() else {
            errs.push(Diagnostic::error(
                src,
                val.pos,
                "server values must be strings",
            ));
            continue;
        };
        match k.as_str().unwrap_or("") {
            "url" => {
                if let Err(e) = crate::report::check_server_url(text) {
                    errs.push(Diagnostic::error(src, val.pos, format!("server.url {e}")));
                }
                url = Some(text.to_string());
            }
            "token" => token = Some(text.trim().to_string()),
            "token_file" => match std::fs::read_to_string(rel(text)) {
                Ok(t) => token = Some(t.trim().to_string()),
                Err(e) => errs.push(Diagnostic::error(
                    src,
                    val.pos,
                    format!("server.token_file {text}: {e}"),
                )),
            },
            "ca" => ca = Some(rel(text)),
            "buffer" => buffer = rel(text),
            other => errs.push(Diagnostic::error(
                src,
                k.pos,
                format!(
                    "unknown key 'server.{other}' (expected url, token, token_file, ca, buffer)"
                ),
            )),
        }
    }
    match (url, token) {
        (Some(url), Some(token)) => Some(crate::report::ServerLink {
            url,
            token,
            ca_file: ca,
            buffer_dir: buffer,
            heartbeat: Duration::from_secs(10),
        }),
        _ => {
            errs.push(Diagnostic::error(
                src,
                v.pos,
                "server needs url and token (or token_file)",
            ));
            None
        }
    }
}

/// Apply a configuration file's text onto `cfg`. Relative rule paths are
/// relative to the file's directory.
pub fn apply_file(
    cfg: &mut AgentConfig,
    name: &str,
    text: &str,
    base: Option<&std::path::Path>,
) -> Result<(), Vec<Diagnostic>> {
    let src = Arc::new(Source {
        name: name.to_string(),
        text: text.to_string(),
    });
    let docs = yaml::parse(&src).map_err(|e| vec![e])?;
    let mut errs = Vec::new();
    let Some(root) = docs.first() else {
        return Ok(());
    };
    let Some(map) = root.as_map() else {
        return Err(vec![Diagnostic::error(
            &src,
            root.pos,
            "the configuration must be a mapping",
        )]);
    };
    for (k, v) in map {
        let key = k.as_str().unwrap_or("");
        match key {
            "rules" => {
                cfg.rules = strings(&src, v, key, &mut errs)
                    .into_iter()
                    .map(|p| match base {
                        Some(b) if !p.starts_with('/') => b.join(p),
                        _ => PathBuf::from(p),
                    })
                    .collect()
            }
            "outputs" => {
                let mut sinks = Vec::new();
                for (spec, node) in strings(&src, v, key, &mut errs)
                    .into_iter()
                    .zip(v.as_seq().unwrap_or(std::slice::from_ref(v)))
                {
                    match SinkConfig::parse(&spec) {
                        Ok(s) => sinks.push(s),
                        Err(e) => errs.push(Diagnostic::error(&src, node.pos, e.to_string())),
                    }
                }
                cfg.sinks = sinks;
            }
            "metrics_addr" => match v.as_str() {
                Some("off") | Some("false") => cfg.metrics_addr = None,
                Some(a) => match a.parse() {
                    Ok(addr) => cfg.metrics_addr = Some(addr),
                    Err(_) => errs.push(Diagnostic::error(
                        &src,
                        v.pos,
                        format!("metrics_addr '{a}' is not HOST:PORT (or off)"),
                    )),
                },
                None => errs.push(Diagnostic::error(
                    &src,
                    v.pos,
                    "metrics_addr must be HOST:PORT or off",
                )),
            },
            "docker_socket" => match v.as_str() {
                Some(p) => cfg.docker_socket = PathBuf::from(p),
                None => errs.push(Diagnostic::error(
                    &src,
                    v.pos,
                    "docker_socket must be a path",
                )),
            },
            "containerd_socket" => match v.as_str() {
                Some(p) => cfg.containerd_socket = PathBuf::from(p),
                None => errs.push(Diagnostic::error(
                    &src,
                    v.pos,
                    "containerd_socket must be a path",
                )),
            },
            "btf" => cfg.btf = v.as_str().map(PathBuf::from),
            "ring_mib" => {
                if let Some(n) = number::<u32>(&src, v, key, &mut errs) {
                    if !(1..=1024).contains(&n) || !n.is_power_of_two() {
                        errs.push(Diagnostic::error(
                            &src,
                            v.pos,
                            "ring_mib must be a power of two from 1 to 1024",
                        ));
                    } else {
                        cfg.ring_mib = n;
                    }
                }
            }
            "watch_rules" => match v.as_bool() {
                Some(b) => cfg.watch_rules = b,
                None => errs.push(Diagnostic::error(
                    &src,
                    v.pos,
                    "watch_rules must be true or false",
                )),
            },
            "max_processes" => {
                if let Some(n) = number::<usize>(&src, v, key, &mut errs) {
                    cfg.max_processes = n;
                }
            }
            "workers" => {
                if let Some(n) = number::<usize>(&src, v, key, &mut errs) {
                    if n > 64 {
                        errs.push(Diagnostic::error(
                            &src,
                            v.pos,
                            "workers must be from 0 (automatic) to 64",
                        ));
                    } else {
                        cfg.workers = n;
                    }
                }
            }
            "dedup" => {
                let Some(m) = v.as_map() else {
                    errs.push(Diagnostic::error(
                        &src,
                        v.pos,
                        "dedup must be a mapping (window, fields, rate_limit)",
                    ));
                    continue;
                };
                for (dk, dv) in m {
                    match dk.as_str().unwrap_or("") {
                        "window" => {
                            if let Some(s) = number::<u64>(&src, dv, "dedup.window", &mut errs) {
                                cfg.dedup.window = Duration::from_secs(s);
                            }
                        }
                        "fields" => {
                            cfg.dedup.key_fields = strings(&src, dv, "dedup.fields", &mut errs)
                        }
                        "rate_limit" => {
                            if let Some(r) = number::<u32>(&src, dv, "dedup.rate_limit", &mut errs)
                            {
                                cfg.dedup.rate_per_rule = r;
                            }
                        }
                        other => errs.push(Diagnostic::error(
                            &src,
                            dk.pos,
                            format!(
                                "unknown key 'dedup.{other}' (expected window, fields, rate_limit)"
                            ),
                        )),
                    }
                }
            }
            "server" => {
                if let Some(link) = server_link(&src, v, base, &mut errs) {
                    cfg.server = Some(link);
                }
            }
            other => errs.push(Diagnostic::error(
                &src,
                k.pos,
                format!(
                    "unknown key '{other}' (expected one of: {})",
                    KEYS.join(", ")
                ),
            )),
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// Apply `PEREGRINE_RULES` (`:`-separated), `PEREGRINE_OUTPUTS`
/// (`;`-separated), `PEREGRINE_METRICS_ADDR` and `PEREGRINE_DOCKER_SOCKET`.
pub fn apply_env(
    cfg: &mut AgentConfig,
    get: impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    if let Some(r) = get("PEREGRINE_RULES") {
        cfg.rules = r
            .split(':')
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
    }
    if let Some(o) = get("PEREGRINE_OUTPUTS") {
        cfg.sinks = o
            .split(';')
            .filter(|s| !s.is_empty())
            .map(|s| SinkConfig::parse(s).map_err(|e| format!("PEREGRINE_OUTPUTS: {e}")))
            .collect::<Result<_, _>>()?;
    }
    if let Some(a) = get("PEREGRINE_METRICS_ADDR") {
        cfg.metrics_addr =
            if a == "off" {
                None
            } else {
                Some(a.parse().map_err(|_| {
                    format!("PEREGRINE_METRICS_ADDR '{a}' is not HOST:PORT (or off)")
                })?)
            };
    }
    if let Some(d) = get("PEREGRINE_DOCKER_SOCKET") {
        cfg.docker_socket = PathBuf::from(d);
    }
    if let Some(d) = get("PEREGRINE_CONTAINERD_SOCKET") {
        cfg.containerd_socket = PathBuf::from(d);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_applies() {
        let mut c = AgentConfig::default();
        let text = "rules: [a.yaml, /abs/b.yaml]\noutputs:\n  - stdout:json\n  - file:/tmp/x.jsonl,min=warning\nmetrics_addr: off\nring_mib: 32\ndedup: {window: 30, rate_limit: 5, fields: [fd.name]}\n";
        apply_file(
            &mut c,
            "p.yaml",
            text,
            Some(std::path::Path::new("/etc/pg")),
        )
        .unwrap();
        assert_eq!(
            c.rules,
            vec![
                PathBuf::from("/etc/pg/a.yaml"),
                PathBuf::from("/abs/b.yaml")
            ]
        );
        assert_eq!(c.sinks.len(), 2);
        assert_eq!(c.metrics_addr, None);
        assert_eq!(c.ring_mib, 32);
        assert_eq!(c.dedup.window, Duration::from_secs(30));
        assert_eq!(c.dedup.rate_per_rule, 5);
        assert_eq!(c.dedup.key_fields, vec!["fd.name"]);
    }

    #[test]
    fn every_error_has_a_position() {
        let mut c = AgentConfig::default();
        let text = "outptus: [stdout]\noutputs: [ftp://x]\nring_mib: 3\nmetrics_addr: nowhere\ndedup: {windw: 1}\n";
        let errs: Vec<String> = apply_file(&mut c, "p.yaml", text, None)
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect();
        let all = errs.join("\n");
        assert!(
            all.contains("p.yaml:1:1: error: unknown key 'outptus'"),
            "{all}"
        );
        assert!(
            all.contains("p.yaml:2:11: error: invalid sink 'ftp://x'"),
            "{all}"
        );
        assert!(
            all.contains("p.yaml:3:11: error: ring_mib must be a power of two"),
            "{all}"
        );
        assert!(
            all.contains("p.yaml:4:15: error: metrics_addr 'nowhere'"),
            "{all}"
        );
        assert!(all.contains("unknown key 'dedup.windw'"), "{all}");
        assert!(apply_file(&mut c, "p.yaml", "- a\n", None).is_err());
        assert!(apply_file(&mut c, "p.yaml", "a: [\n", None).is_err());
    }

    #[test]
    fn server_section() {
        let dir = std::env::temp_dir().join(format!("pg-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("agent.token"), "pg_abc\n").unwrap();
        let mut c = AgentConfig::default();
        let text = "server:\n  url: https://srv:8470\n  token_file: agent.token\n  ca: ca.pem\n";
        apply_file(&mut c, "p.yaml", text, Some(&dir)).unwrap();
        let link = c.server.unwrap();
        assert_eq!(link.url, "https://srv:8470");
        assert_eq!(link.token, "pg_abc");
        assert_eq!(link.ca_file, Some(dir.join("ca.pem")));
        let mut c = AgentConfig::default();
        let errs: Vec<String> = apply_file(
            &mut c,
            "p.yaml",
            "server:\n  url: ftp://x\n  tokn: a\n",
            None,
        )
        .unwrap_err()
        .iter()
        .map(|d| d.to_string())
        .collect();
        let all = errs.join("\n");
        assert!(all.contains("p.yaml:2:8: error: server.url"), "{all}");
        assert!(all.contains("unknown key 'server.tokn'"), "{all}");
        assert!(all.contains("needs url and token"), "{all}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn environment_overrides() {
        let mut c = AgentConfig::default();
        let env = |k: &str| match k {
            "PEREGRINE_RULES" => Some("/a.yaml:/b.yaml".to_string()),
            "PEREGRINE_OUTPUTS" => Some("stdout;file:/tmp/y,min=error".to_string()),
            "PEREGRINE_METRICS_ADDR" => Some("127.0.0.1:9999".to_string()),
            _ => None,
        };
        apply_env(&mut c, env).unwrap();
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.sinks.len(), 2);
        assert_eq!(c.metrics_addr, Some("127.0.0.1:9999".parse().unwrap()));
        assert!(apply_env(&mut c, |k| (k == "PEREGRINE_OUTPUTS")
            .then(|| "bogus".to_string()))
        .is_err());
    }
}
