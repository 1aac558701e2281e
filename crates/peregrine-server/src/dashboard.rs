//! The dashboard: static assets compiled into the binary, served with a
//! strict Content-Security-Policy; and the live alert stream it reads
//! (server-sent events over a fetch, authenticated by the session cookie
//! or a bearer token in a header, never a URL).

use crate::api::{authorize, params, stream_body, AppState, Need, RawParams};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(body: &'static str, ctype: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `/` and `/assets/*`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async {
                asset(
                    include_str!("../assets/index.html"),
                    "text/html; charset=utf-8",
                )
            }),
        )
        .route(
            "/assets/app.js",
            get(|| async {
                asset(
                    include_str!("../assets/app.js"),
                    "text/javascript; charset=utf-8",
                )
            }),
        )
        .route(
            "/assets/app.css",
            get(|| async { asset(include_str!("../assets/app.css"), "text/css; charset=utf-8") }),
        )
        .route(
            "/assets/logo.svg",
            get(|| async { asset(include_str!("../assets/logo.svg"), "image/svg+xml") }),
        )
}

/// `GET /api/v1/stream`: `text/event-stream` of new alerts
/// (`event: alert`, data `{agent, alert}`), a comment every 15 s. The
/// stream ends within a second of its token being revoked or changing
/// role, or of its session ending ([`crate::session`]).
pub async fn stream(State(st): State<AppState>, headers: HeaderMap, q: RawParams) -> Response {
    let p = match authorize(&st, &headers, Need::Read, false).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = params(q, &[]) {
        return e.into_response();
    }
    let watch = st
        .sessions
        .watch(&p.digest, p.token.role, p.session.as_deref());
    let mut sub = st.ingest.subscribe();
    let sessions = st.sessions.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        if tx
            .send(Bytes::from_static(b": connected\n\n"))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let msg = tokio::select! {
                // Revoked, role changed or signed out: end the stream now.
                _ = watch.end.notified() => return,
                m = sub.recv() => m,
                _ = tokio::time::sleep(std::time::Duration::from_secs(15)) => {
                    if tx.send(Bytes::from_static(b": keepalive\n\n")).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            // This and whatever else is queued now is delivered only after
            // a token check that started after it was announced: an alert
            // stored after a revocation never reaches the revoked stream.
            let mut batch = vec![msg];
            while let Ok(m) = sub.try_recv() {
                batch.push(Ok(m));
                if batch.len() >= 256 {
                    break;
                }
            }
            tokio::select! {
                _ = watch.end.notified() => return,
                _ = sessions.fresh() => {}
            }
            if watch.ended() {
                return;
            }
            for m in batch {
                let chunk = match m {
                    Ok(json) => format!("event: alert\ndata: {json}\n\n"),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        format!("event: lagged\ndata: {n}\n\n")
                    }
                    Err(_) => return,
                };
                tokio::select! {
                    _ = watch.end.notified() => return,
                    r = tx.send(Bytes::from(chunk)) => if r.is_err() { return },
                }
            }
        }
    });
    let mut r = stream_body(rx).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
