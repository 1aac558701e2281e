//! Accept loop: plain TCP or rustls, HTTP/1.1 and HTTP/2 on each.

use crate::conns::{ConnSlot, ConnState, ConnTable, RequestGuard, TrackedBody};
use crate::limits::Limits;
use crate::metrics::ServerMetrics;
use crate::ServerError;
use axum::http::{Request, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_rustls::rustls;
use tower::ServiceExt;

/// Load a certificate chain and key into a rustls server config
/// (ALPN: h2, http/1.1).
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| ServerError::Tls(format!("{}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| ServerError::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!(
            "{}: no PEM certificate found",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ServerError::Tls(format!("{}: {e}", key.display())))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ServerError::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| ServerError::Tls(format!("certificate and key do not fit: {e}")))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// What the accept loop needs.
pub struct Serving {
    /// The router.
    pub app: Router,
    /// TLS, when configured.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Timeouts and caps.
    pub limits: Limits,
    /// Open connections.
    pub table: Arc<ConnTable>,
    /// Where closed connections are counted.
    pub metrics: Arc<ServerMetrics>,
}

/// Serve until `stop` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    s: Serving,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let acceptor = s.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let builder = Arc::new(builder(&s.limits));
    let s = Arc::new(s);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut stop => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors (EMFILE) among others: back off.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = s.table.admit(peer.ip()) else {
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let (s, builder) = (s.clone(), builder.clone());
        tokio::spawn(async move {
            let service = Tracked {
                app: s.app.clone(),
                state: slot.state.clone(),
            };
            let result = match acceptor {
                Some(a) => {
                    let tls = tokio::time::timeout(s.limits.header_read(), a.accept(tcp)).await;
                    match tls {
                        Ok(Ok(tls)) => {
                            let conn =
                                builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                            watch(conn, &slot, &s).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, "TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            s.metrics.closed("tls_handshake_timeout");
                            return;
                        }
                    }
                }
                None => {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                    watch(conn, &slot, &s).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection: {e}");
            }
        });
    }
}

/// hyper settings: header timeout and size, bounded buffers, HTTP/2 windows
/// and streams bounded so that unread bodies cannot pile up.
fn builder(l: &Limits) -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(l.header_read())
        .max_buf_size(l.max_header_bytes.max(8192))
        .max_headers(100);
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(l.max_header_bytes.max(8192) as u32)
        .max_concurrent_streams(64)
        .initial_stream_window_size(256 << 10)
        .initial_connection_window_size(1 << 20)
        .max_send_buf_size(256 << 10)
        .keep_alive_interval(Some(l.idle() / 2))
        .keep_alive_timeout(Duration::from_secs(20));
    b
}

type ConnResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Drive a connection; close it when the table evicts it, or when it has no
/// request in flight past its header or idle deadline.
async fn watch<F>(conn: F, slot: &ConnSlot, s: &Serving) -> ConnResult
where
    F: std::future::Future<Output = ConnResult>,
{
    tokio::pin!(conn);
    let (header, idle) = (s.limits.header_read(), s.limits.idle());
    loop {
        // With a request in flight, look again after the idle time.
        let at = slot
            .state
            .deadline(header, idle)
            .map_or(Instant::now() + idle, |(at, _)| at);
        tokio::select! {
            r = &mut conn => return r,
            _ = slot.state.kill.notified() => return Ok(()),
            _ = tokio::time::sleep_until(at.into()) => {
                if let Some((at, reason)) = slot.state.deadline(header, idle) {
                    if at <= Instant::now() {
                        s.metrics.closed(reason);
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// The router behind a request counter (see [`RequestGuard`]).
#[derive(Clone)]
struct Tracked {
    app: Router,
    state: Arc<ConnState>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<TrackedBody>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;
    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let guard = RequestGuard::new(self.state.clone());
        let app = self.app.clone();
        Box::pin(async move {
            let resp = app.oneshot(req.map(axum::body::Body::new)).await?;
            Ok(resp.map(|b| TrackedBody::new(b, guard)))
        })
    }
}
