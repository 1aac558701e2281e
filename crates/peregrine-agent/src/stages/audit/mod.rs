//! Kubernetes audit stage: audit events from the API server, by its audit
//! webhook backend (an HTTPS endpoint, [`webhook`]) or its audit log file
//! ([`file`]), evaluated against the `k8s_audit` rules of the rule set in
//! force ([`eval`]); the alerts (`source: k8s_audit`) join the syscall
//! alerts in the sink stage (same routing, dedup and sinks).
//!
//! Threads: `pg-k8s-audit` (the webhook, a single-threaded tokio runtime)
//! and `pg-k8s-audit-file` (the followed files).

pub mod config;
pub mod eval;
pub mod file;
pub mod webhook;

pub use config::K8sAuditSettings;

use crate::context::HostInfo;
use crate::evaluate::Raised;
use crate::workers::RuleSet;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Why the audit source could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuditStartError {
    /// Listening without a certificate and key.
    #[error("--k8s-audit-listen needs --k8s-audit-tls-cert and --k8s-audit-tls-key (the webhook is HTTPS only)")]
    NoTls,
    /// Certificate or key unusable.
    #[error("k8s audit webhook TLS: {0}")]
    Tls(String),
    /// The token file could not be read or is empty.
    #[error("k8s audit token file {0}: {1}")]
    Token(String, String),
    /// The address could not be bound.
    #[error("cannot listen for k8s audit events on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// The webhook path is not absolute.
    #[error("k8s audit webhook path '{0}' must start with /")]
    Path(String),
}

/// The webhook's socket, TLS and token, checked before anything else starts.
struct Listener {
    socket: TcpListener,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
    token: Option<String>,
}

/// The audit source, its configuration checked and its socket bound, not
/// yet running (so that a mistake stops the agent before the sensor starts).
pub struct Prepared {
    settings: K8sAuditSettings,
    listener: Option<Listener>,
}

impl Prepared {
    /// Check `settings`, load the TLS files and the token, bind the address.
    pub fn new(settings: &K8sAuditSettings) -> Result<Prepared, AuditStartError> {
        let listener = match settings.listen {
            None => None,
            Some(addr) => {
                if !settings.path.starts_with('/') {
                    return Err(AuditStartError::Path(settings.path.clone()));
                }
                let (Some(cert), Some(key)) = (&settings.tls_cert, &settings.tls_key) else {
                    return Err(AuditStartError::NoTls);
                };
                let tls = webhook::tls_config(cert, key).map_err(AuditStartError::Tls)?;
                let token = match &settings.token_file {
                    None => None,
                    Some(f) => {
                        let name = f.display().to_string();
                        let t = std::fs::read_to_string(f)
                            .map_err(|e| AuditStartError::Token(name.clone(), e.to_string()))?;
                        let t = t.trim().to_string();
                        if t.is_empty() {
                            return Err(AuditStartError::Token(name, "empty".into()));
                        }
                        Some(t)
                    }
                };
                let socket = TcpListener::bind(addr).map_err(|e| AuditStartError::Bind(addr, e))?;
                socket
                    .set_nonblocking(true)
                    .map_err(|e| AuditStartError::Bind(addr, e))?;
                Some(Listener { socket, tls, token })
            }
        };
        Ok(Prepared {
            settings: settings.clone(),
            listener,
        })
    }

    /// The webhook's bound address, if it listens.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener
            .as_ref()
            .and_then(|l| l.socket.local_addr().ok())
    }

    /// Start the sources: events are evaluated with `rules`, alerts sent to
    /// `alerts` (the sink stage), events counted in `metrics`.
    pub fn spawn(
        self,
        rules: Arc<RuleSet>,
        host: Arc<HostInfo>,
        alerts: SyncSender<Raised>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> AuditStage {
        let stop = Arc::new(AtomicBool::new(false));
        let evaluator = Arc::new(eval::Evaluator::new(rules, host, alerts, metrics));
        let mut threads = Vec::new();
        if let Some(l) = self.listener {
            let addr = l.socket.local_addr().ok();
            let ep = Arc::new(webhook::Endpoint {
                evaluator: evaluator.clone(),
                token: l.token,
                max_body: self.settings.max_body_bytes,
            });
            let app = webhook::router(&self.settings.path, ep);
            let stop = stop.clone();
            let spawned = std::thread::Builder::new()
                .name("pg-k8s-audit".into())
                .spawn(move || {
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => return tracing::error!("k8s audit webhook runtime: {e}"),
                    };
                    rt.block_on(webhook::serve(l.socket, l.tls, app, stop));
                });
            match spawned {
                Ok(t) => {
                    if let Some(a) = addr {
                        tracing::info!("k8s audit webhook on https://{a}{}", self.settings.path);
                    }
                    threads.push(t);
                }
                Err(e) => tracing::error!("k8s audit webhook thread: {e}"),
            }
        }
        if !self.settings.files.is_empty() {
            let (files, ev, stop) = (self.settings.files.clone(), evaluator.clone(), stop.clone());
            let max = self.settings.max_body_bytes;
            match std::thread::Builder::new()
                .name("pg-k8s-audit-file".into())
                .spawn(move || file::follow(files, max, ev, stop))
            {
                Ok(t) => threads.push(t),
                Err(e) => tracing::error!("k8s audit file thread: {e}"),
            }
        }
        AuditStage {
            threads,
            stop,
            evaluator,
        }
    }
}

/// The running audit sources.
pub struct AuditStage {
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    evaluator: Arc<eval::Evaluator>,
}

impl AuditStage {
    /// Audit events evaluated so far.
    pub fn events(&self) -> u64 {
        self.evaluator.events()
    }

    /// Stop the sources and wait for them (their alert sender is dropped
    /// with them, which lets the sink stage end).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}
