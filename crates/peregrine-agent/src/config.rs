//! What a user configures: [`Settings`], read from a YAML file, `PEREGRINE_*`
//! environment variables and command-line flags (in that precedence:
//! built-in defaults < file < environment < flags).
//!
//! ```yaml
//! rules: [/etc/peregrine/rules/falco_rules.yaml]
//! outputs: [stdout, "file:/var/log/peregrine/alerts.jsonl,max_mb=100"]
//! metrics_addr: 127.0.0.1:9376      # "off" disables
//! docker_socket: /var/run/docker.sock
//! containerd_socket: /run/containerd/containerd.sock   # asked when Docker does not know a container
//! ring_mib: 8                       # ring buffer MiB (mapped twice: 16 MB of RSS)
//! max_processes: 65536
//! max_containers: 4096              # container metadata kept at once
//! workers: 0                        # rule threads; 0 = automatic
//! watch_rules: true                 # reload when a rule file changes
//! kernel_filter: true               # drop in the kernel the opens no rule can match
//! compat_syscalls: true             # also watch i386-ABI syscalls (int 0x80)
//! btf: /path/to/vmlinux.btf         # optional
//! dedup: {window: 60, fields: [proc.name, fd.name], rate_limit: 20}
//! min_priority: debug               # rules less severe raise no alert
//! append_output: [{match: {tags: [T1555]}, extra_output: "ppid=%proc.ppid"}]
//! time_format_iso_8601: false       # outputs start with the full time
//! profiles: {dir: /var/lib/peregrine/profiles, stable_after_s: 3600, mode: learn}  # optional
//! kubernetes: {api: auto}           # owner workloads of pods: auto (in a cluster), off or a URL
//! server:                           # optional: ship to a Peregrine server
//!   url: https://peregrine.example:8470
//!   token_file: /etc/peregrine/agent.token   # or token: pg_…
//!   ca: /etc/peregrine/ca.pem       # optional private CA
//!   buffer: /var/lib/peregrine/buffer/server
//! ```
//!
//! Unknown keys are errors. Every problem in the file is reported with
//! `file:line:column` (one per top-level key, see [`Settings::from_yaml`]);
//! an environment variable's problem names the variable.

use crate::sinks::SinkConfig;
use peregrine_rules::diag::{Diagnostic, Pos, Source};
use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Everything a user configures about the agent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Rule files, in order (a string or a list).
    #[serde(deserialize_with = "one_or_many")]
    pub rules: Vec<PathBuf>,
    /// Alert outputs: the `kind:ARG,key=value` shorthand or a typed map
    /// each (see [`crate::sinks`]).
    #[serde(deserialize_with = "one_or_many")]
    pub outputs: Vec<SinkConfig>,
    /// Where to serve /metrics and /healthz (`off`: not served).
    #[serde(deserialize_with = "metrics_addr")]
    pub metrics_addr: Option<SocketAddr>,
    /// Docker Engine API socket.
    pub docker_socket: PathBuf,
    /// containerd API socket (containers Docker does not know).
    pub containerd_socket: PathBuf,
    /// Ring buffer size in MiB (a power of two, 1 to 1024).
    #[serde(deserialize_with = "ring_mib")]
    pub ring_mib: u32,
    /// Process table capacity.
    pub max_processes: usize,
    /// Containers whose metadata is kept at once.
    pub max_containers: usize,
    /// Rule worker threads (0: automatic, see [`crate::workers::worker_count`]).
    #[serde(deserialize_with = "workers")]
    pub workers: usize,
    /// Reload rules when their files change (polled every 2 s), as on SIGHUP.
    pub watch_rules: bool,
    /// Drop in the kernel the successful opens no loaded rule can match
    /// (path prefixes derived from the rules, per access mode; see
    /// docs/specs/kernel-filter.md). Off automatically with profiles.
    pub kernel_filter: bool,
    /// Also watch syscalls made through the i386 ABI (`int 0x80`, 32-bit
    /// programs), which the per-syscall tracepoints miss; off leaves that
    /// evasion route open (docs/specs/compat-syscalls.md).
    pub compat_syscalls: bool,
    /// BTF file override.
    pub btf: Option<PathBuf>,
    /// Dedup and throttling.
    pub dedup: DedupSettings,
    /// Ship alerts, heartbeats and rule sets to a Peregrine server.
    pub server: Option<ServerSettings>,
    /// Response actions: monitor or enforce, block timeouts, quarantine.
    pub response: crate::actions::ResponseSettings,
    /// Kubernetes audit events (webhook, log files): [`crate::stages::audit`].
    pub k8s_audit: crate::stages::audit::K8sAuditSettings,
    /// More output text and fields for chosen rules (Falco's
    /// `append_output`, see [`crate::append_output`]).
    #[serde(deserialize_with = "append_output")]
    pub append_output: Vec<crate::append_output::AppendOutput>,
    /// Rules less severe than this raise no alert anywhere (Falco's
    /// `priority`; default debug: every rule).
    #[serde(deserialize_with = "priority")]
    pub min_priority: peregrine_rules::Priority,
    /// Alert outputs start with the full ISO 8601 time
    /// (`2026-12-02T14:00:00.000000000Z: Warning …`) instead of the time of
    /// day, as Falco's `time_format_iso_8601`.
    pub time_format_iso_8601: bool,
    /// Behaviour profiles (off unless given; see `docs/DETECTION.md`).
    pub profiles: Option<peregrine_detect::profile::ProfileSettings>,
    /// Push metrics to an OTLP collector and/or write CloudWatch EMF.
    pub metrics_export: crate::export::MetricsExportSettings,
    /// Kubernetes API server for the owner workloads of pods
    /// (`k8s.workload.*`, `k8smeta.deployment.*`; see docs/KUBERNETES.md).
    #[serde(deserialize_with = "kubernetes")]
    pub kubernetes: crate::kubernetes::KubernetesSettings,
}

/// Dedup and throttling settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupSettings {
    /// Aggregation window in seconds; 0 disables dedup.
    pub window: u64,
    /// Fields that make two alerts identical (empty: the defaults).
    #[serde(deserialize_with = "one_or_many")]
    pub fields: Vec<String>,
    /// Alerts per second per rule; 0: unlimited.
    pub rate_limit: u32,
}

impl DedupSettings {
    /// The dedup stage's configuration.
    pub fn to_config(&self) -> crate::dedup::DedupConfig {
        crate::dedup::DedupConfig {
            window: Duration::from_secs(self.window),
            key_fields: self.fields.clone(),
            rate_per_rule: self.rate_limit,
        }
    }
}

/// The server the agent reports to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Base URL (`https://server:8470`).
    #[serde(deserialize_with = "server_url")]
    pub url: String,
    /// Agent token.
    #[serde(default)]
    pub token: Option<String>,
    /// File holding the agent token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Extra CA certificate (PEM).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Disk buffer for alerts while the server is away.
    #[serde(default = "default_buffer")]
    pub buffer: PathBuf,
}

fn default_buffer() -> PathBuf {
    PathBuf::from("/var/lib/peregrine/buffer/server")
}

impl ServerSettings {
    /// The link the agent uses (reads `token_file`).
    pub fn link(&self) -> Result<crate::report::ServerLink, String> {
        let token = match (&self.token, &self.token_file) {
            (Some(t), _) => t.trim().to_string(),
            (None, Some(f)) => std::fs::read_to_string(f)
                .map_err(|e| format!("server.token_file {}: {e}", f.display()))?
                .trim()
                .to_string(),
            (None, None) => return Err("server needs url and token (or token_file)".into()),
        };
        Ok(crate::report::ServerLink {
            url: self.url.clone(),
            token,
            ca_file: self.ca.clone(),
            buffer_dir: self.buffer.clone(),
            heartbeat: Duration::from_secs(10),
        })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rules: Vec::new(),
            outputs: vec![SinkConfig::default()],
            metrics_addr: Some(SocketAddr::from(([127, 0, 0, 1], 9376))),
            docker_socket: PathBuf::from("/var/run/docker.sock"),
            containerd_socket: PathBuf::from(peregrine_state::containerd::DEFAULT_SOCKET),
            ring_mib: 8,
            max_processes: 65536,
            max_containers: peregrine_state::DEFAULT_MAX_CONTAINERS,
            workers: 0,
            watch_rules: true,
            kernel_filter: true,
            compat_syscalls: true,
            btf: None,
            dedup: DedupSettings::default(),
            server: None,
            response: crate::actions::ResponseSettings::default(),
            k8s_audit: Default::default(),
            time_format_iso_8601: false,
            min_priority: peregrine_rules::Priority::Debug,
            append_output: Vec::new(),
            profiles: None,
            metrics_export: Default::default(),
            kubernetes: Default::default(),
        }
    }
}

/// A string or a list of them (each item keeps its own position in errors).
fn one_or_many<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Vec<T>, E> {
            use serde::de::IntoDeserializer;
            let d: serde::de::value::StrDeserializer<'_, E> = s.into_deserializer();
            T::deserialize(d).map(|t| vec![t])
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(|t| vec![t])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(t) = seq.next_element()? {
                out.push(t);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V(std::marker::PhantomData))
}

fn parse_metrics_addr(a: &str) -> Result<Option<SocketAddr>, String> {
    match a {
        "off" | "false" => Ok(None),
        a => a
            .parse()
            .map(Some)
            .map_err(|_| format!("metrics_addr '{a}' is not HOST:PORT (or off)")),
    }
}

fn metrics_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    parse_metrics_addr(&s).map_err(serde::de::Error::custom)
}

fn kubernetes<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<crate::kubernetes::KubernetesSettings, D::Error> {
    let k = crate::kubernetes::KubernetesSettings::deserialize(d)?;
    k.check().map_err(serde::de::Error::custom)?;
    Ok(k)
}

fn check_ring_mib(n: u32) -> Result<u32, String> {
    if (1..=1024).contains(&n) && n.is_power_of_two() {
        Ok(n)
    } else {
        Err("ring_mib must be a power of two from 1 to 1024".into())
    }
}

fn ring_mib<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    check_ring_mib(u32::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn workers<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    match usize::deserialize(d)? {
        n if n <= 64 => Ok(n),
        _ => Err(serde::de::Error::custom(
            "workers must be from 0 (automatic) to 64",
        )),
    }
}

fn priority<'de, D: Deserializer<'de>>(d: D) -> Result<peregrine_rules::Priority, D::Error> {
    let s = String::deserialize(d)?;
    peregrine_rules::Priority::parse(&s).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "min_priority '{s}' is not a priority (emergency, alert, critical, error, warning, notice, informational, debug)"
        ))
    })
}

fn append_output<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<crate::append_output::AppendOutput>, D::Error> {
    let list = Vec::<crate::append_output::AppendOutput>::deserialize(d)?;
    crate::append_output::Appender::compile(&list).map_err(serde::de::Error::custom)?;
    Ok(list)
}

fn server_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let url = String::deserialize(d)?;
    crate::report::check_server_url(&url)
        .map_err(|e| serde::de::Error::custom(format!("server.url {e}")))?;
    Ok(url)
}

/// serde's wording ("unknown field `x`, expected one of a, b") in the
/// project's ("unknown key 'dedup.x' (expected one of: a, b)").
fn reword(msg: &str, section: Option<&str>) -> String {
    let Some(rest) = msg.strip_prefix("unknown field `") else {
        return msg.to_string();
    };
    let Some((key, tail)) = rest.split_once('`') else {
        return msg.to_string();
    };
    let key = match section {
        Some(s) => format!("{s}.{key}"),
        None => key.to_string(),
    };
    let expected = tail
        .trim_start_matches(", ")
        .replace("expected one of ", "expected one of: ");
    if expected.is_empty() {
        format!("unknown key '{key}'")
    } else {
        format!("unknown key '{key}' ({expected})")
    }
}

/// Top-level entries of a block mapping: (first line, key) of each, lines
/// 1-based. Flow-style documents yield one entry.
fn top_level_entries(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let c = l.chars().next();
            c.is_some_and(|c| !c.is_whitespace() && c != '#' && c != '-')
                && !l.starts_with("---")
                && !l.starts_with("...")
        })
        .map(|(i, l)| {
            let key = l.split(':').next().unwrap_or("").trim().to_string();
            (i + 1, key)
        })
        .collect()
}

/// Blank the top-level entry holding `line` (keeping every line break, so
/// that later positions stay right). False when there is nothing to blank.
fn blank_entry(text: &mut String, line: usize) -> bool {
    let entries = top_level_entries(text);
    let Some(i) = entries.iter().rposition(|(l, _)| *l <= line) else {
        return false;
    };
    let (from, to) = (entries[i].0, entries.get(i + 1).map(|e| e.0));
    let blanked: Vec<String> = text
        .split('\n')
        .enumerate()
        .map(|(n, l)| {
            let n = n + 1;
            if n >= from && to.is_none_or(|t| n < t) {
                String::new()
            } else {
                l.to_string()
            }
        })
        .collect();
    let next = blanked.join("\n");
    let changed = next != *text;
    *text = next;
    changed
}

impl Settings {
    /// Read a configuration file's text. Relative paths (rules, server
    /// token file, CA, buffer) are relative to `base`, the file's
    /// directory. Every error names `name:line:column`: after the first,
    /// the top-level entry holding it is set aside and the rest read again,
    /// so that each entry's first problem is reported.
    pub fn from_yaml(
        name: &str,
        text: &str,
        base: Option<&Path>,
    ) -> Result<Settings, Vec<Diagnostic>> {
        let src = Arc::new(Source {
            name: name.to_string(),
            text: text.to_string(),
        });
        let mut remaining = text.to_string();
        let mut errs = Vec::new();
        loop {
            let e = match serde_saphyr::from_str::<Option<Settings>>(&remaining) {
                Ok(s) if errs.is_empty() => {
                    let mut s = s.unwrap_or_default();
                    s.resolve(base);
                    return Ok(s);
                }
                Ok(_) => return Err(errs),
                Err(e) => e,
            };
            let (line, col) = e
                .location()
                .map_or((0, 0), |l| (l.line() as usize, l.column() as usize));
            let plain = e.without_snippet().to_string();
            let suffix = format!(" at line {line}, column {col}");
            let msg = plain.strip_suffix(&suffix).unwrap_or(&plain);
            let section = (col > 1)
                .then(|| top_level_entries(&remaining))
                .and_then(|t| t.into_iter().rev().find(|(l, _)| *l <= line))
                .map(|(_, k)| k);
            let pos = Pos {
                line,
                col,
                index: 0,
            };
            errs.push(Diagnostic::error(
                &src,
                pos,
                reword(msg, section.as_deref()),
            ));
            if errs.len() >= 50 || line == 0 || !blank_entry(&mut remaining, line) {
                return Err(errs);
            }
        }
    }

    /// Make relative paths relative to `base`.
    fn resolve(&mut self, base: Option<&Path>) {
        let Some(base) = base else {
            return;
        };
        let rel = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.rules.iter_mut().for_each(rel);
        if let Some(s) = &mut self.server {
            s.token_file.iter_mut().for_each(rel);
            s.ca.iter_mut().for_each(rel);
            rel(&mut s.buffer);
        }
        self.k8s_audit.resolve(base);
        self.metrics_export.resolve(Some(base));
        if let Some(p) = &mut self.profiles {
            p.dir.iter_mut().for_each(rel);
        }
        self.kubernetes.token_file.iter_mut().for_each(rel);
        self.kubernetes.ca.iter_mut().for_each(rel);
    }

    /// Apply `PEREGRINE_RULES` (`:`-separated), `PEREGRINE_OUTPUTS`
    /// (`;`-separated), `PEREGRINE_METRICS_ADDR`, `PEREGRINE_DOCKER_SOCKET`,
    /// `PEREGRINE_CONTAINERD_SOCKET`, `PEREGRINE_RING_MIB`,
    /// `PEREGRINE_MAX_PROCESSES` and `PEREGRINE_MAX_CONTAINERS`. An error
    /// names the variable.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(r) = get("PEREGRINE_RULES") {
            self.rules = r
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect();
        }
        if let Some(o) = get("PEREGRINE_OUTPUTS") {
            self.outputs = o
                .split(';')
                .filter(|s| !s.is_empty())
                .map(|s| SinkConfig::parse(s).map_err(|e| format!("PEREGRINE_OUTPUTS: {e}")))
                .collect::<Result<_, _>>()?;
        }
        if let Some(a) = get("PEREGRINE_METRICS_ADDR") {
            self.metrics_addr =
                parse_metrics_addr(&a).map_err(|e| format!("PEREGRINE_METRICS_ADDR: {e}"))?;
        }
        if let Some(d) = get("PEREGRINE_DOCKER_SOCKET") {
            self.docker_socket = PathBuf::from(d);
        }
        if let Some(d) = get("PEREGRINE_CONTAINERD_SOCKET") {
            self.containerd_socket = PathBuf::from(d);
        }
        let number = |var: &str| -> Result<Option<usize>, String> {
            get(var)
                .map(|v| {
                    v.trim()
                        .parse()
                        .map_err(|_| format!("{var}: '{v}' is not a number"))
                })
                .transpose()
        };
        if let Some(n) = number("PEREGRINE_RING_MIB")? {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            self.ring_mib = check_ring_mib(n).map_err(|e| format!("PEREGRINE_RING_MIB: {e}"))?;
        }
        if let Some(n) = number("PEREGRINE_MAX_PROCESSES")? {
            self.max_processes = n;
        }
        if let Some(n) = number("PEREGRINE_MAX_CONTAINERS")? {
            self.max_containers = n;
        }
        Ok(())
    }

    /// The sink configurations of the outputs.
    pub fn sinks(&self) -> &[SinkConfig] {
        &self.outputs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> String {
        Settings::from_yaml("p.yaml", text, None)
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_full_file_applies() {
        let text = "rules: [a.yaml, /abs/b.yaml]\noutputs:\n  - stdout:json\n  - file:/tmp/x.jsonl,min=warning\nmetrics_addr: off\nring_mib: 32\nmax_containers: 100\ndedup: {window: 30, rate_limit: 5, fields: [fd.name]}\n";
        let c = Settings::from_yaml("p.yaml", text, Some(Path::new("/etc/pg"))).unwrap();
        assert_eq!(
            c.rules,
            vec![
                PathBuf::from("/etc/pg/a.yaml"),
                PathBuf::from("/abs/b.yaml")
            ]
        );
        assert_eq!(c.outputs.len(), 2);
        assert_eq!(c.metrics_addr, None);
        assert_eq!(c.ring_mib, 32);
        assert_eq!(c.max_containers, 100);
        let d = c.dedup.to_config();
        assert_eq!(d.window, Duration::from_secs(30));
        assert_eq!(d.rate_per_rule, 5);
        assert_eq!(d.key_fields, vec!["fd.name"]);
        let one = Settings::from_yaml("p.yaml", "rules: /r.yaml\n", None).unwrap();
        assert_eq!(one.rules, vec![PathBuf::from("/r.yaml")]);
        let empty = Settings::from_yaml("p.yaml", "", None).unwrap();
        assert_eq!(empty, Settings::default());
    }

    #[test]
    fn every_error_has_a_position() {
        let text = "outptus: [stdout]\noutputs: [ftp://x]\nring_mib: 3\nmetrics_addr: nowhere\ndedup: {windw: 1}\n";
        let all = errors(text);
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
        assert!(
            all.contains("p.yaml:5:9: error: unknown key 'dedup.windw'"),
            "{all}"
        );
        assert!(errors("- a\n").contains("p.yaml:1:1"));
        assert!(errors("a: [\n").contains("p.yaml:1:1"));
        assert!(errors("workers: 65\n").contains("p.yaml:1:10: error: workers must be"));
        assert!(errors("ring_mib: lots\n").contains("p.yaml:1:11"));
    }

    #[test]
    fn server_section() {
        let dir = std::env::temp_dir().join(format!("pg-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("agent.token"), "pg_abc\n").unwrap();
        let text = "server:\n  url: https://srv:8470\n  token_file: agent.token\n  ca: ca.pem\n";
        let c = Settings::from_yaml("p.yaml", text, Some(&dir)).unwrap();
        let link = c.server.unwrap().link().unwrap();
        assert_eq!(link.url, "https://srv:8470");
        assert_eq!(link.token, "pg_abc");
        assert_eq!(link.ca_file, Some(dir.join("ca.pem")));
        let all = errors("server:\n  url: ftp://x\n  tokn: a\n");
        assert!(all.contains("p.yaml:2:8: error: server.url"), "{all}");
        let all = errors("server:\n  url: https://srv\n  tokn: a\n");
        assert!(
            all.contains("p.yaml:3:3: error: unknown key 'server.tokn'"),
            "{all}"
        );
        let bare = Settings::from_yaml("p.yaml", "server: {url: 'https://srv'}\n", None).unwrap();
        let e = bare.server.unwrap().link().unwrap_err();
        assert!(e.contains("needs url and token"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn environment_overrides_and_names_the_variable() {
        let mut c = Settings::default();
        let env = |k: &str| match k {
            "PEREGRINE_RULES" => Some("/a.yaml:/b.yaml".to_string()),
            "PEREGRINE_OUTPUTS" => Some("stdout;file:/tmp/y,min=error".to_string()),
            "PEREGRINE_METRICS_ADDR" => Some("127.0.0.1:9999".to_string()),
            "PEREGRINE_MAX_CONTAINERS" => Some("64".to_string()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.outputs.len(), 2);
        assert_eq!(c.metrics_addr, Some("127.0.0.1:9999".parse().unwrap()));
        assert_eq!(c.max_containers, 64);
        let bad = |var: &'static str, v: &'static str| {
            Settings::default()
                .apply_env(|k| (k == var).then(|| v.to_string()))
                .unwrap_err()
        };
        assert!(bad("PEREGRINE_OUTPUTS", "bogus").starts_with("PEREGRINE_OUTPUTS: "));
        assert!(bad("PEREGRINE_RING_MIB", "3").starts_with("PEREGRINE_RING_MIB: "));
        assert!(bad("PEREGRINE_MAX_PROCESSES", "x").starts_with("PEREGRINE_MAX_PROCESSES: "));
        assert!(bad("PEREGRINE_METRICS_ADDR", "x").starts_with("PEREGRINE_METRICS_ADDR: "));
    }
}
