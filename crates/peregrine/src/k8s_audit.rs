//! The Kubernetes audit source's flags (`peregrine agent --k8s-audit-*`)
//! and `peregrine replay --k8s-audit FILE`.
use anyhow::{Context, Result};
use clap::Args;
use peregrine_agent::context::HostInfo;
use peregrine_agent::stages::audit::config::{parse_listen, K8sAuditSettings};
use peregrine_agent::stages::audit::eval::raise;
use peregrine_rules::fields::k8saudit::parse_payload;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Kubernetes audit events (the API server's audit webhook or log file).
#[derive(Debug, Args, Default)]
pub struct K8sAuditArgs {
    /// Receive the API server's audit webhook on this HTTPS address
    /// (HOST:PORT; a bare PORT binds 127.0.0.1). Needs --k8s-audit-tls-cert
    /// and --k8s-audit-tls-key.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    pub k8s_audit_listen: Option<SocketAddr>,
    /// Certificate chain (PEM) of the audit webhook.
    #[arg(long, value_name = "FILE")]
    pub k8s_audit_tls_cert: Option<PathBuf>,
    /// Private key (PEM) of the audit webhook's certificate.
    #[arg(long, value_name = "FILE")]
    pub k8s_audit_tls_key: Option<PathBuf>,
    /// File holding a bearer token the API server must present.
    #[arg(long, value_name = "FILE")]
    pub k8s_audit_token_file: Option<PathBuf>,
    /// URL path of the audit webhook (default /k8s-audit).
    #[arg(long, value_name = "PATH")]
    pub k8s_audit_path: Option<String>,
    /// Largest audit webhook request body in bytes (default 12 MiB; bigger: 413).
    #[arg(long, value_name = "BYTES")]
    pub k8s_audit_max_body: Option<usize>,
    /// Follow this audit log (JSON lines) as it grows, rotation included
    /// (repeatable).
    #[arg(long = "k8s-audit-file", value_name = "FILE")]
    pub k8s_audit_files: Vec<PathBuf>,
}

impl K8sAuditArgs {
    /// Apply the flags over the file's settings.
    pub fn apply(&self, s: &mut K8sAuditSettings) {
        if let Some(a) = self.k8s_audit_listen {
            s.listen = Some(a);
        }
        if self.k8s_audit_tls_cert.is_some() {
            s.tls_cert = self.k8s_audit_tls_cert.clone();
        }
        if self.k8s_audit_tls_key.is_some() {
            s.tls_key = self.k8s_audit_tls_key.clone();
        }
        if self.k8s_audit_token_file.is_some() {
            s.token_file = self.k8s_audit_token_file.clone();
        }
        if let Some(p) = &self.k8s_audit_path {
            s.path = p.clone();
        }
        if let Some(n) = self.k8s_audit_max_body {
            s.max_body_bytes = n;
        }
        if !self.k8s_audit_files.is_empty() {
            s.files = self.k8s_audit_files.clone();
        }
    }
}

/// `peregrine replay --k8s-audit FILE`: every audit event of a log (one
/// JSON payload a line: Event, EventList or an array) through the
/// `k8s_audit` rules; alerts on stdout, a summary on stderr.
pub fn replay(path: &Path, rules: &[PathBuf], json: bool) -> Result<()> {
    let engine = crate::rules::load_engine(rules, false)?;
    if engine.audit_rule_count() == 0 {
        eprintln!("warning: no rule with 'source: k8s_audit' is loaded");
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let host = HostInfo {
        hostname: peregrine_agent::report::hostname(),
        ..HostInfo::default()
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut memo = engine.memo();
    let (mut events, mut skipped, mut alerts) = (0u64, 0u64, 0u64);
    let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let items = match parse_payload(line.as_bytes()) {
            Ok(items) => items,
            Err(e) => {
                eprintln!("{}:{}: {e}", path.display(), n + 1);
                skipped += 1;
                continue;
            }
        };
        for item in items {
            let ev = match item {
                Ok(ev) => ev,
                Err(e) => {
                    eprintln!("{}:{}: {e}", path.display(), n + 1);
                    skipped += 1;
                    continue;
                }
            };
            events += 1;
            for r in raise(&engine, &mut memo, &ev, &host, events) {
                let a = r.alert;
                alerts += 1;
                *by_rule.entry(a.rule.clone()).or_default() += 1;
                if json {
                    serde_json::to_writer(&mut out, &a)?;
                    out.write_all(b"\n")?;
                } else {
                    writeln!(out, "{}", a.output)?;
                }
            }
        }
    }
    out.flush()?;
    eprintln!("replayed {events} k8s audit events: {alerts} alerts, {skipped} skipped");
    for (rule, n) in by_rule {
        eprintln!("  {n:>6}  {rule}");
    }
    Ok(())
}
