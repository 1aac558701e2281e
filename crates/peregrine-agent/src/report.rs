//! Reporting to a Peregrine server: the agent's live status (counters,
//! kernel drops, loaded rules), a heartbeat built from it, and the HTTP
//! reporter that ships heartbeats and rule sets (alerts travel through the
//! buffered server sink, see [`ServerLink::sink_config`]).

use crate::sinks::{HttpFormat, SinkConfig, WebhookConfig};
use peregrine_event::wire::{Heartbeat, RuleInfo};
use peregrine_rules::{Engine, Priority};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Counters the pipeline keeps current while it runs.
#[derive(Debug, Default)]
pub struct AgentStatus {
    /// Events processed.
    pub events: AtomicU64,
    /// Alerts raised.
    pub alerts: AtomicU64,
    /// Kernel drops per category.
    pub drops: Mutex<BTreeMap<String, u64>>,
    /// Rules in force.
    pub rules: Mutex<Vec<RuleInfo>>,
    /// Bumped whenever `rules` changes.
    pub rules_version: AtomicU64,
    /// Start, Unix seconds.
    pub started: AtomicU64,
}

impl AgentStatus {
    /// A fresh status, started now.
    pub fn new() -> AgentStatus {
        let s = AgentStatus::default();
        s.started.store(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            Ordering::Relaxed,
        );
        s
    }

    /// Record the rules of a (re)loaded engine.
    pub fn set_rules(&self, engine: &Engine) {
        *self.rules.lock().unwrap_or_else(|p| p.into_inner()) = rule_infos(engine);
        self.rules_version.fetch_add(1, Ordering::Relaxed);
    }

    /// The heartbeat to send now.
    pub fn heartbeat(&self, agent: &str) -> Heartbeat {
        Heartbeat {
            agent: agent.to_string(),
            hostname: hostname(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            kernel: kernel_release(),
            events: self.events.load(Ordering::Relaxed),
            alerts: self.alerts.load(Ordering::Relaxed),
            drops: self.drops.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            rules: self.rules.lock().unwrap_or_else(|p| p.into_inner()).len() as u64,
            started: self.started.load(Ordering::Relaxed) as i64,
        }
    }
}

/// This host's name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// This kernel's release.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The rules of an engine, then its sequence rules, as a server lists them.
pub fn rule_infos(engine: &Engine) -> Vec<RuleInfo> {
    let rules = engine.rules().iter().map(|r| RuleInfo {
        name: r.name.clone(),
        priority: r.priority,
        tags: r.tags.clone(),
        desc: r.desc.trim().to_string(),
        enabled: true,
        file: r.at.source.name.clone(),
    });
    let seqs = engine.sequences().list().iter().map(|s| RuleInfo {
        name: s.name.clone(),
        priority: s.priority,
        tags: s.tags.clone(),
        desc: s.desc.trim().to_string(),
        enabled: true,
        file: s.at.source.name.clone(),
    });
    rules.chain(seqs).collect()
}

/// Check a server URL (http or https with a host). `Ok(true)` when it is
/// plain HTTP to a host other than loopback: tokens and alerts would cross
/// the network unencrypted.
pub fn check_server_url(url: &str) -> Result<bool, String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("'{url}': {e}"))?;
    let host = u.host_str().unwrap_or("");
    if !matches!(u.scheme(), "http" | "https") || host.is_empty() {
        return Err(format!("'{url}': expected http(s)://HOST[:PORT]"));
    }
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    Ok(u.scheme() == "http" && !loopback)
}

/// Where and how the agent reaches its server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerLink {
    /// Base URL (`https://server:8470`).
    pub url: String,
    /// Agent token.
    pub token: String,
    /// Extra trusted CA (PEM) for a server with a private certificate.
    pub ca_file: Option<PathBuf>,
    /// Disk buffer for alerts while the server is away.
    pub buffer_dir: PathBuf,
    /// Heartbeat period.
    pub heartbeat: Duration,
}

impl ServerLink {
    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches('/'))
    }

    /// The buffered sink that ships alerts (every priority) to the server.
    pub fn sink_config(&self) -> SinkConfig {
        SinkConfig::Webhook(WebhookConfig {
            url: self.endpoint("/api/v1/ingest/alerts"),
            headers: vec![("Authorization".into(), format!("Bearer {}", self.token))],
            buffer_dir: self.buffer_dir.clone(),
            buffer_max_bytes: 1 << 30,
            batch: 500,
            min_priority: Priority::Debug,
            format: HttpFormat::Json,
            ca_file: self.ca_file.clone(),
            shape: Default::default(),
        })
    }
}

/// Where heartbeats and rule sets go: the HTTP server API, or (for
/// `peregrine run`) the store in the same process.
pub trait Reporter: Send {
    /// Deliver a heartbeat; false to retry later.
    fn heartbeat(&mut self, hb: &Heartbeat) -> bool;
    /// Deliver the rule set; false to retry later.
    fn rules(&mut self, rules: &[RuleInfo]) -> bool;
}

/// Reports to a server over HTTP(S) with the agent token.
pub struct HttpReporter {
    link: ServerLink,
    client: reqwest::blocking::Client,
}

impl HttpReporter {
    /// A reporter for `link` (fails on an unusable CA file).
    pub fn new(link: ServerLink) -> Result<HttpReporter, String> {
        let client = crate::sinks::http_client(link.ca_file.as_deref())?;
        Ok(HttpReporter { link, client })
    }
}

impl Reporter for HttpReporter {
    fn heartbeat(&mut self, hb: &Heartbeat) -> bool {
        self.client
            .post(self.link.endpoint("/api/v1/ingest/heartbeat"))
            .bearer_auth(&self.link.token)
            .json(hb)
            .send()
            .map(|r| r.status().is_success())
            .unwrap_or(false)
    }
    fn rules(&mut self, rules: &[RuleInfo]) -> bool {
        self.client
            .put(self.link.endpoint("/api/v1/ingest/rules"))
            .bearer_auth(&self.link.token)
            .json(&rules)
            .send()
            .map(|r| r.status().is_success())
            .unwrap_or(false)
    }
}

/// Send a heartbeat every `period` and the rule set whenever it changes,
/// until `stop`. Failures are logged once and retried next period.
pub fn spawn_reporter(
    mut reporter: Box<dyn Reporter>,
    status: Arc<AgentStatus>,
    period: Duration,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("pg-report".into())
        .spawn(move || {
            let mut sent_rules = u64::MAX;
            let mut last: Option<std::time::Instant> = None;
            let mut warned = false;
            loop {
                let stopping = stop.load(Ordering::Relaxed);
                if stopping || last.is_none_or(|l| l.elapsed() >= period) {
                    last = Some(std::time::Instant::now());
                    let mut ok = reporter.heartbeat(&status.heartbeat(&hostname()));
                    let v = status.rules_version.load(Ordering::Relaxed);
                    if ok && v != sent_rules {
                        let rules = status
                            .rules
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .clone();
                        ok = reporter.rules(&rules);
                        if ok {
                            sent_rules = v;
                        }
                    }
                    if !ok && !warned {
                        tracing::warn!("the server does not take heartbeats yet; retrying");
                    }
                    warned = !ok;
                }
                if stopping {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
        .expect("spawn reporter thread")
}
