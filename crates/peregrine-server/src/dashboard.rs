//! The dashboard: static assets compiled into the binary, served with a
//! strict Content-Security-Policy; and the live alert stream it reads
//! (server-sent events over a fetch, so the token stays in a header).

use crate::api::{authorize_read, stream_body, AppState};
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
/// (`event: alert`, data `{agent, alert}`), a comment every 15 s.
pub async fn stream(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize_read(&st, headers).await {
        return r;
    }
    let mut sub = st.ingest.subscribe();
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
                m = sub.recv() => m,
                _ = tokio::time::sleep(std::time::Duration::from_secs(15)) => {
                    if tx.send(Bytes::from_static(b": keepalive\n\n")).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let chunk = match msg {
                Ok(json) => format!("event: alert\ndata: {json}\n\n"),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    format!("event: lagged\ndata: {n}\n\n")
                }
                Err(_) => return,
            };
            if tx.send(Bytes::from(chunk)).await.is_err() {
                return;
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
