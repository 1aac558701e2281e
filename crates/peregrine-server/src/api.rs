//! HTTP API (`/api/v1`, see `openapi.yaml`): ingest, search, detail,
//! triage, aggregations, agents, rules, a live stream; `/healthz`,
//! `/metrics`; the dashboard at `/`.

use crate::ingest::{Ingest, IngestError};
use crate::metrics::{RouteLabel, ServerMetrics};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use peregrine_event::{Alert, Priority};
use peregrine_store::{AlertQuery, Heartbeat, Role, RuleInfo, Status, Store, TokenRecord};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub ingest: Ingest,
    pub metrics: Arc<ServerMetrics>,
}

/// An error answer: `{"error": "..."}` with a status.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "error": self.1 }).to_string(),
        )
            .into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

impl From<peregrine_store::StoreError> for ApiError {
    fn from(e: peregrine_store::StoreError) -> Self {
        match e {
            peregrine_store::StoreError::Query(m) => bad(m),
            other => {
                tracing::error!("store: {other}");
                ApiError(StatusCode::SERVICE_UNAVAILABLE, format!("store: {other}"))
            }
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Invalid(m) => ApiError(StatusCode::UNPROCESSABLE_ENTITY, m),
            IngestError::Store(s) => s.into(),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

fn json(v: &impl serde::Serialize) -> ApiResult {
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(v)
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
    )
        .into_response())
}

/// Which roles a route admits.
#[derive(Clone, Copy)]
enum Need {
    /// Any valid token.
    Any,
    Ingest,
    Read,
    Triage,
}

fn authorize(store: &dyn Store, headers: &HeaderMap, need: Need) -> Result<TokenRecord, ApiError> {
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let tok =
        crate::auth::check(store, h).map_err(|m| ApiError(StatusCode::UNAUTHORIZED, m.into()))?;
    let ok = match need {
        Need::Any => true,
        Need::Ingest => matches!(tok.role, Role::Agent | Role::Admin),
        Need::Read => matches!(tok.role, Role::Viewer | Role::Admin),
        Need::Triage => tok.role == Role::Admin,
    };
    if !ok {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!("a {} token may not do this", tok.role.as_str()),
        ));
    }
    Ok(tok)
}

/// Run `f` on a blocking thread after authorizing; record metrics.
async fn blocking(
    st: &AppState,
    route: &'static str,
    headers: HeaderMap,
    need: Need,
    f: impl FnOnce(&AppState, TokenRecord) -> ApiResult + Send + 'static,
) -> Response {
    let t0 = Instant::now();
    let s = st.clone();
    let r = tokio::task::spawn_blocking(move || {
        let tok = authorize(s.store.as_ref(), &headers, need)?;
        f(&s, tok)
    })
    .await
    .unwrap_or_else(|e| Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())));
    let resp = r.unwrap_or_else(|e| e.into_response());
    st.metrics.latency.observe(t0.elapsed().as_secs_f64());
    st.metrics
        .requests
        .get_or_create(&RouteLabel {
            route: route.into(),
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}

/// The router.
pub fn router(state: AppState, max_body: usize) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.yaml", get(openapi))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/ingest/alerts", post(ingest_alerts))
        .route("/api/v1/ingest/heartbeat", post(ingest_heartbeat))
        .route("/api/v1/ingest/rules", put(ingest_rules))
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/{id}", get(alert_detail))
        .route("/api/v1/alerts/{id}/status", post(alert_status))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/agents", get(agents))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/stream", get(crate::dashboard::stream))
        .merge(crate::dashboard::routes())
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such route".into()) })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.encode(),
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/yaml")],
        include_str!("../openapi.yaml"),
    )
        .into_response()
}

async fn whoami(State(st): State<AppState>, headers: HeaderMap) -> Response {
    blocking(&st, "whoami", headers, Need::Any, |_, tok| json(&tok)).await
}

/// Which agent a batch is from: an agent token's name, or (admin tokens)
/// the `X-Peregrine-Agent` header.
fn agent_name(tok: &TokenRecord, headers: &HeaderMap) -> String {
    if tok.role == Role::Agent {
        return tok.name.clone();
    }
    headers
        .get("x-peregrine-agent")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .unwrap_or(&tok.name)
        .to_string()
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

async fn ingest_alerts(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let h2 = headers.clone();
    blocking(
        &st,
        "ingest_alerts",
        headers,
        Need::Ingest,
        move |s, tok| {
            // One alert object or an array of them.
            let trimmed = body.iter().position(|b| !b.is_ascii_whitespace());
            let alerts: Vec<Alert> = match trimmed.map(|i| body[i]) {
                Some(b'[') => parse_body(&body)?,
                Some(b'{') => vec![parse_body(&body)?],
                _ => return Err(bad("body must be a JSON alert or an array of alerts")),
            };
            let agent = agent_name(&tok, &h2);
            let new = s.ingest.alerts(&agent, &alerts)?;
            json(&serde_json::json!({ "accepted": alerts.len(), "new": new }))
        },
    )
    .await
}

async fn ingest_heartbeat(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let h2 = headers.clone();
    blocking(
        &st,
        "ingest_heartbeat",
        headers,
        Need::Ingest,
        move |s, tok| {
            let mut hb: Heartbeat = parse_body(&body)?;
            hb.agent = agent_name(&tok, &h2);
            s.ingest.heartbeat(&hb)?;
            json(&serde_json::json!({ "ok": true }))
        },
    )
    .await
}

async fn ingest_rules(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let h2 = headers.clone();
    blocking(&st, "ingest_rules", headers, Need::Ingest, move |s, tok| {
        let rules: Vec<RuleInfo> = parse_body(&body)?;
        s.ingest.rules(&agent_name(&tok, &h2), &rules)?;
        json(&serde_json::json!({ "rules": rules.len() }))
    })
    .await
}

/// A time parameter: RFC 3339, Unix seconds, or relative (`-15m`, `-24h`, `-7d`).
fn parse_time(name: &str, v: &str) -> Result<i64, ApiError> {
    let v = v.trim();
    if let Some(rel) = v.strip_prefix('-') {
        let (num, unit) = rel.split_at(rel.len().saturating_sub(1));
        let n: i64 = num
            .parse()
            .map_err(|_| bad(format!("{name}: '{v}' is not a relative time like -24h")))?;
        let secs = match unit {
            "s" => n,
            "m" => n * 60,
            "h" => n * 3600,
            "d" => n * 86400,
            _ => return Err(bad(format!("{name}: unit of '{v}' must be s, m, h or d"))),
        };
        return Ok(peregrine_store::now_ns() - secs.min(100 * 365 * 86400) * 1_000_000_000);
    }
    if let Ok(secs) = v.parse::<i64>() {
        return secs
            .checked_mul(1_000_000_000)
            .ok_or_else(|| bad(format!("{name}: '{v}' is out of range")));
    }
    match peregrine_event::time::parse_rfc3339(v) {
        0 => Err(bad(format!(
            "{name}: '{v}' is not RFC 3339, Unix seconds or a relative time"
        ))),
        t => Ok(t as i64),
    }
}

fn alert_query(p: &HashMap<String, String>) -> Result<AlertQuery, ApiError> {
    const KNOWN: &[&str] = &[
        "from",
        "to",
        "priority",
        "min_priority",
        "rule",
        "host",
        "container",
        "image",
        "namespace",
        "status",
        "q",
        "limit",
        "cursor",
        "bucket",
    ];
    if let Some(k) = p.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(bad(format!("unknown parameter '{k}'")));
    }
    let s = |k: &str| p.get(k).filter(|v| !v.is_empty()).cloned();
    let prio = |v: &str| Priority::parse(v).ok_or_else(|| bad(format!("unknown priority '{v}'")));
    Ok(AlertQuery {
        from_ns: s("from").map(|v| parse_time("from", &v)).transpose()?,
        to_ns: s("to").map(|v| parse_time("to", &v)).transpose()?,
        min_priority: s("min_priority").map(|v| prio(&v)).transpose()?,
        priorities: match s("priority") {
            Some(v) => v.split(',').map(prio).collect::<Result<_, _>>()?,
            None => Vec::new(),
        },
        rule: s("rule"),
        host: s("host"),
        container: s("container"),
        image: s("image"),
        k8s_namespace: s("namespace"),
        status: s("status")
            .map(|v| Status::parse(&v).ok_or_else(|| bad(format!("unknown status '{v}'"))))
            .transpose()?,
        text: s("q"),
        limit: s("limit")
            .map(|v| {
                v.parse()
                    .map_err(|_| bad(format!("limit '{v}' is not a number")))
            })
            .transpose()?,
        cursor: s("cursor"),
    })
}

async fn list_alerts(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    blocking(&st, "list_alerts", headers, Need::Read, move |s, _| {
        let q = alert_query(&p)?;
        json(&s.store.query_alerts(&q)?)
    })
    .await
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 128 {
        return Err(bad("alert ids are 1..=128 characters"));
    }
    Ok(())
}

async fn alert_detail(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    blocking(&st, "alert_detail", headers, Need::Read, move |s, _| {
        check_id(&id)?;
        let Some(alert) = s.store.get_alert(&id)? else {
            return Err(ApiError(StatusCode::NOT_FOUND, format!("no alert '{id}'")));
        };
        let events = s.store.alert_events(&id)?;
        json(&serde_json::json!({ "alert": alert, "events": events }))
    })
    .await
}

#[derive(Deserialize)]
struct StatusBody {
    status: String,
}

async fn alert_status(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    blocking(&st, "alert_status", headers, Need::Triage, move |s, tok| {
        check_id(&id)?;
        let b: StatusBody = parse_body(&body)?;
        let status = Status::parse(&b.status).ok_or_else(|| {
            bad(format!(
                "status '{}': expected open, acknowledged or resolved",
                b.status
            ))
        })?;
        if !s.store.set_status(&id, status, &tok.name)? {
            return Err(ApiError(StatusCode::NOT_FOUND, format!("no alert '{id}'")));
        }
        json(&serde_json::json!({ "id": id, "status": status }))
    })
    .await
}

async fn stats(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<HashMap<String, String>>,
) -> Response {
    blocking(&st, "stats", headers, Need::Read, move |s, _| {
        let q = alert_query(&p)?;
        let bucket = match p.get("bucket") {
            Some(b) => b
                .parse::<i64>()
                .map_err(|_| bad(format!("bucket '{b}' is not seconds")))?,
            None => {
                // About 60 bars over the range (default range: 24 h).
                let from = q
                    .from_ns
                    .unwrap_or(peregrine_store::now_ns() - 86_400_000_000_000);
                let to = q.to_ns.unwrap_or(peregrine_store::now_ns());
                ((to - from) / 60 / 1_000_000_000).max(1)
            }
        };
        json(&s.store.aggregate(&q, bucket)?)
    })
    .await
}

async fn agents(State(st): State<AppState>, headers: HeaderMap) -> Response {
    blocking(&st, "agents", headers, Need::Read, move |s, _| {
        json(&s.store.agents()?)
    })
    .await
}

async fn rules(State(st): State<AppState>, headers: HeaderMap) -> Response {
    blocking(&st, "rules", headers, Need::Read, move |s, _| {
        json(&s.store.rules()?)
    })
    .await
}

/// Authorize a read request outside [`blocking`] (the live stream).
pub(crate) async fn authorize_read(st: &AppState, headers: HeaderMap) -> Result<(), Response> {
    let s = st.store.clone();
    match tokio::task::spawn_blocking(move || authorize(s.as_ref(), &headers, Need::Read)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.into_response()),
        Err(e) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()),
    }
}

/// A streaming body from a channel of chunks.
pub(crate) fn stream_body(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    let s = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Body::from_stream(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn time_parameters() {
        assert_eq!(parse_time("from", "10").ok(), Some(10_000_000_000));
        assert!(parse_time("from", "2026-01-01T00:00:00Z").unwrap() > 0);
        assert!(parse_time("from", "-24h").unwrap() < peregrine_store::now_ns());
        assert!(parse_time("from", "-24x").is_err());
        assert!(parse_time("from", "yesterday").is_err());
        assert!(parse_time("from", "99999999999999999").is_err());
    }
    #[test]
    fn unknown_parameters_are_refused() {
        let p: HashMap<String, String> = [("prio".to_string(), "x".to_string())].into();
        assert!(alert_query(&p).is_err());
    }
}
