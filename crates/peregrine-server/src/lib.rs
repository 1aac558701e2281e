//! Peregrine's server: agents ship alerts, heartbeats and rule sets to it;
//! it keeps them in a [`peregrine_store::Store`], answers the HTTP API
//! (`/api/v1`, described in `openapi.yaml`) and serves the dashboard (assets
//! embedded in the binary, no internet needed).
//!
//! Every API route needs a bearer token (SHA-256 stored, never the token);
//! roles: `agent` (ingest), `viewer` (read), `admin` (read + triage).
//! Listens on 127.0.0.1 unless configured; TLS with rustls when a
//! certificate is given (HTTP/1.1 and HTTP/2 either way).
#![deny(missing_docs)]

mod api;
pub mod auth;
mod dashboard;
mod ingest;
mod metrics;
mod serve;

pub use ingest::Ingest;

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
    /// Largest request body (bytes).
    pub max_body: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8470".parse().expect("valid address"),
            tls: None,
            retention: Retention::default(),
            retention_every: std::time::Duration::from_secs(300),
            max_body: 16 << 20,
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
}

/// A running server. Dropping it stops it.
pub struct ServerHandle {
    /// Bound address.
    pub addr: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The in-process ingest path (used by `peregrine run`).
    pub ingest: Ingest,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// Base URL, e.g. `http://127.0.0.1:8470`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
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
    let ingest = Ingest::new(store.clone(), metrics.clone());
    let state = api::AppState {
        store: store.clone(),
        ingest: ingest.clone(),
        metrics,
    };
    let app = api::router(state, cfg.max_body);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let retention = cfg.retention.clone();
    let every = cfg.retention_every;
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
                serve::serve(listener, app, tls, rx).await;
                retain.abort();
            });
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        })
        .map_err(ServerError::Runtime)?;
    Ok(ServerHandle {
        addr,
        scheme,
        ingest,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}
