//! Peregrine's server: agents ship alerts, heartbeats and rule sets to it;
//! it keeps them in a [`peregrine_store::Store`], answers the HTTP API
//! (`/api/v1`, described in `openapi.yaml`) and serves the dashboard (assets
//! embedded in the binary, no internet needed).
//!
//! Every API route needs a bearer token (SHA-256 stored, never the token);
//! roles: `agent` (ingest), `viewer` (read), `responder` (read + triage of
//! alerts and incidents), `admin` (all of it).
//! Listens on 127.0.0.1 unless configured; TLS with rustls when a
//! certificate is given (HTTP/1.1 and HTTP/2 either way).
#![deny(missing_docs)]

mod api;
pub mod auth;
mod body;
mod conns;
mod dashboard;
pub mod fields;
mod incidents;
mod ingest;
mod limits;
mod metrics;
mod problem;
mod query;
pub mod redact;
mod rfc3339;
mod serve;
mod session;
mod signin;

pub use ingest::Ingest;
pub use limits::Limits;

use peregrine_store::{Retention, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// PEM certificate chain and private key: serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Retention policy, applied every `retention_every`.
    pub retention: Retention,
    /// How often retention runs.
    pub retention_every: std::time::Duration,
    /// Largest ingest batch body (bytes); other routes have smaller limits
    /// in `limits`.
    pub max_body: usize,
    /// Timeouts, connection caps, body limits.
    pub limits: Limits,
    /// Redaction patterns besides the defaults (see [`redact`]).
    pub redact: Vec<String>,
    /// Incident grouping window, seconds (alerts of one key within it of
    /// each other form one incident).
    pub incident_window_secs: i64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8470".parse().expect("valid address"),
            tls: None,
            retention: Retention::default(),
            retention_every: std::time::Duration::from_secs(300),
            max_body: 16 << 20,
            limits: Limits::default(),
            redact: Vec::new(),
            incident_window_secs: peregrine_store::DEFAULT_WINDOW_SECS,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding the listener failed.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// Certificate or key unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The async runtime could not start.
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    /// A redaction pattern is not a valid regular expression.
    #[error("{0}")]
    Redact(String),
}

/// A running server. Dropping it stops it.
pub struct ServerHandle {
    /// Bound address.
    pub addr: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The in-process ingest path (used by `peregrine run`).
    pub ingest: Ingest,
    sessions: Arc<session::Sessions>,
    sign_in_ttl: std::time::Duration,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// Base URL, e.g. `http://127.0.0.1:8470`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }
    /// A one-time dashboard sign-in link for `token`: single use, valid for
    /// `limits.sign_in_code_secs`; the code travels in the URL fragment
    /// (never sent in a request) and the dashboard trades it for a session
    /// cookie, then removes it from the address bar.
    pub fn sign_in_link(&self, token: &str) -> std::io::Result<String> {
        let code = self.sessions.issue_code(&auth::digest(token))?;
        Ok(format!("{}/#code={code}", self.url()))
    }
    /// How long a sign-in link stays valid.
    pub fn sign_in_ttl(&self) -> std::time::Duration {
        self.sign_in_ttl
    }
    /// Stop serving and wait.
    pub fn stop(mut self) {
        self.stop_inner();
    }
    fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Start serving on a runtime of its own (two worker threads).
pub fn start(cfg: ServerConfig, store: Arc<dyn Store>) -> Result<ServerHandle, ServerError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("pg-server")
        .enable_all()
        .build()
        .map_err(ServerError::Runtime)?;
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(serve::tls_config(cert, key)?),
        None => None,
    };
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(cfg.listen))
        .map_err(|e| ServerError::Bind(cfg.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServerError::Bind(cfg.listen, e))?;
    let metrics = Arc::new(metrics::ServerMetrics::new());
    let redactor = redact::Redactor::new(&cfg.redact).map_err(ServerError::Redact)?;
    store.set_incident_window(cfg.incident_window_secs);
    let ingest = Ingest::new(store.clone(), metrics.clone(), redactor);
    let limits = cfg.limits.clone();
    let sign_in_ttl = std::time::Duration::from_secs(limits.sign_in_code_secs);
    let sessions = session::Sessions::new(
        sign_in_ttl,
        std::time::Duration::from_secs(limits.session_secs),
    );
    let large_seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let state = api::AppState {
        store: store.clone(),
        ingest: ingest.clone(),
        metrics: metrics.clone(),
        sessions: sessions.clone(),
        limits: Arc::new(limits.clone()),
        max_ingest: cfg.max_body,
        large_seen: large_seen.clone(),
        tls: tls.is_some(),
    };
    let max_conns = limits.effective_max_connections();
    if max_conns < limits.max_connections {
        tracing::warn!(
            "max_connections lowered from {} to {max_conns} to fit the open-file limit",
            limits.max_connections
        );
    }
    let table = conns::ConnTable::new(max_conns, limits.max_connections_per_peer, metrics.clone());
    let serving = serve::Serving {
        app: api::router(state),
        tls,
        limits,
        table,
        metrics,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let scheme = if serving.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let retention = cfg.retention.clone();
    let every = cfg.retention_every;
    let watch = (sessions.clone(), store.clone());
    let thread = std::thread::Builder::new()
        .name("pg-server".into())
        .spawn(move || {
            rt.block_on(async move {
                let keep = store.clone();
                let retain = tokio::spawn(async move {
                    loop {
                        let s = keep.clone();
                        let r = retention.clone();
                        match tokio::task::spawn_blocking(move || {
                            s.retain(&r, peregrine_store::now_ns())
                        })
                        .await
                        {
                            Ok(Ok(n)) if n > 0 => tracing::info!(deleted = n, "retention"),
                            Ok(Err(e)) => tracing::warn!("retention failed: {e}"),
                            _ => {}
                        }
                        tokio::time::sleep(every).await;
                    }
                });
                let watcher = tokio::spawn(session::watcher(watch.0, watch.1));
                let trimmer = tokio::spawn(body::trimmer(large_seen));
                serve::serve(listener, serving, rx).await;
                retain.abort();
                watcher.abort();
                trimmer.abort();
            });
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        })
        .map_err(ServerError::Runtime)?;
    Ok(ServerHandle {
        addr,
        scheme,
        ingest,
        sessions,
        sign_in_ttl,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}
