//! The HTTPS endpoint the API server's audit webhook backend posts to:
//! `POST <path>` with an `audit.k8s.io/v1` `EventList` (or `Event`) as JSON;
//! TLS from certificate and key files, an optional bearer token, a body
//! size limit (413 past it).

use super::eval::Evaluator;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use peregrine_rules::fields::k8saudit::parse_payload;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;

/// Load a certificate chain and key into a rustls server configuration.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("certificate and key do not fit: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// What the handler needs.
pub struct Endpoint {
    /// Where events go.
    pub evaluator: Arc<Evaluator>,
    /// Bearer token required (`None`: any client).
    pub token: Option<String>,
    /// Largest body accepted.
    pub max_body: usize,
}

fn reply(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, msg.into()).into_response()
}

/// Constant-time comparison of the presented and expected tokens.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(ep: &Endpoint, headers: &HeaderMap) -> bool {
    let Some(token) = &ep.token else {
        return true;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    same(presented.trim().as_bytes(), token.as_bytes())
}

async fn receive(State(ep): State<Arc<Endpoint>>, headers: HeaderMap, body: Body) -> Response {
    if !authorized(&ep, &headers) {
        return reply(StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n");
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if !json {
        return reply(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json\n",
        );
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let read = tokio::time::timeout(BODY_TIMEOUT, read_body(body, ep.max_body, declared));
    let bytes = match read.await.unwrap_or(Err(StatusCode::REQUEST_TIMEOUT)) {
        Ok(b) => b,
        Err(code) => {
            let msg = match code {
                StatusCode::PAYLOAD_TOO_LARGE => {
                    format!("body larger than {} bytes\n", ep.max_body)
                }
                StatusCode::REQUEST_TIMEOUT => "body not received in time\n".to_string(),
                _ => "cannot read the body\n".to_string(),
            };
            return reply(code, msg);
        }
    };
    let items = match parse_payload(&bytes) {
        Ok(items) => items,
        Err(e) => return reply(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let mut events = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Ok(ev) => events.push(ev),
            Err(e) => tracing::warn!("k8s audit webhook: {e}; event skipped"),
        }
    }
    let n = events.len();
    let ev = ep.evaluator.clone();
    let delivered = tokio::task::spawn_blocking(move || ev.submit(&events))
        .await
        .unwrap_or(false);
    if !delivered {
        return reply(StatusCode::SERVICE_UNAVAILABLE, "agent is stopping\n");
    }
    tracing::debug!(events = n, "k8s audit batch received");
    StatusCode::OK.into_response()
}

/// Time to receive a request's headers, and its body.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Connections served at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 256;

/// An oversize body is still read (and dropped) up to this much past the
/// limit, so that a client that sends it whole before reading the reply
/// gets the 413 rather than a broken connection.
const DRAIN_PAST_LIMIT: u64 = 64 << 20;

/// The body, at most `max` bytes; 413 past it (once the rest, up to
/// [`DRAIN_PAST_LIMIT`], is read).
async fn read_body(
    mut body: Body,
    max: usize,
    declared: Option<u64>,
) -> Result<Vec<u8>, StatusCode> {
    use http_body_util::BodyExt;
    let mut over = declared.is_some_and(|n| n > max as u64);
    if declared.is_some_and(|n| n > max as u64 + DRAIN_PAST_LIMIT) {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let mut buf = Vec::new();
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| StatusCode::BAD_REQUEST)?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        total += data.len() as u64;
        over |= total > max as u64;
        if total > max as u64 + DRAIN_PAST_LIMIT {
            break;
        }
        if !over {
            buf.extend_from_slice(data);
        }
    }
    if over {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    Ok(buf)
}

/// The router: `POST path` (other methods 405, other paths 404).
pub fn router(path: &str, ep: Arc<Endpoint>) -> axum::Router {
    axum::Router::new()
        .route(path, axum::routing::post(receive))
        .with_state(ep)
}

/// Serve TLS connections on `listener` until `stop` is set.
pub async fn serve(
    listener: std::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    stop: Arc<AtomicBool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("k8s audit webhook: {e}");
            return;
        }
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let open = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        let (tcp, peer) = match accepted {
            Err(_) => continue,
            Ok(Err(e)) => {
                tracing::warn!("k8s audit webhook accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Ok(Ok(c)) => c,
        };
        if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            tracing::warn!(%peer, "k8s audit webhook: {MAX_CONNECTIONS} connections open, closing a new one");
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let (acceptor, app, open) = (acceptor.clone(), app.clone(), open.clone());
        tokio::spawn(async move {
            let _count = Count(open);
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "k8s audit webhook TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => return,
                };
            let service = TowerToHyperService::new(app);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(tls), service);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "k8s audit webhook connection: {e}");
            }
        });
    }
}

/// Counts an open connection while it lives.
struct Count(Arc<AtomicUsize>);

impl Drop for Count {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
