//! HTTP API (`/api/v1`, see `openapi.yaml`): ingest, search, detail,
//! triage, aggregations, agents, rules, a live stream, dashboard sessions;
//! `/healthz`, `/metrics`; the dashboard at `/`.
//!
//! Every API request is authenticated from its headers before its body is
//! read; bodies are then read up to the route's limit; every parameter is
//! validated ([`crate::query`]) and errors are problem details
//! ([`crate::problem`]).

use crate::ingest::{Ingest, IngestError};
use crate::limits::Limits;
use crate::metrics::{RouteLabel, ServerMetrics};
use crate::problem::{bad, bad_param, ApiError};
use crate::query;
use crate::session::Sessions;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use peregrine_event::Alert;
use peregrine_store::{Heartbeat, Outcome, Role, RuleInfo, Status, Store, TokenRecord};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub ingest: Ingest,
    pub metrics: Arc<ServerMetrics>,
    pub sessions: Arc<Sessions>,
    pub limits: Arc<Limits>,
    /// Largest ingest batch body.
    pub max_ingest: usize,
    /// Set when a large body was read (memory is trimmed afterwards).
    pub large_seen: Arc<AtomicBool>,
    /// Served over HTTPS (session cookies get `Secure`).
    pub tls: bool,
}

impl From<peregrine_store::StoreError> for ApiError {
    fn from(e: peregrine_store::StoreError) -> Self {
        match e {
            peregrine_store::StoreError::Query(m) => {
                let p = if m.contains("cursor") {
                    "cursor"
                } else {
                    "query"
                };
                bad(m).param(p)
            }
            e @ peregrine_store::StoreError::Ambiguous { .. } => {
                ApiError::new(StatusCode::CONFLICT, e.to_string()).param("agent")
            }
            other => {
                tracing::error!("store: {other}");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("store: {other}"))
            }
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Invalid(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m).param("body")
            }
            IngestError::Store(s) => s.into(),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

fn json(v: &impl serde::Serialize) -> ApiResult {
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(v)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
    )
        .into_response())
}

/// Which roles a route admits.
#[derive(Clone, Copy)]
pub(crate) enum Need {
    /// Any valid token.
    Any,
    /// Agents (and admins): ingest.
    Ingest,
    /// Viewers, responders, admins: read.
    Read,
    /// Responders and admins: triage alerts and incidents.
    Triage,
}

/// Who is asking: the token, its SHA-256, and the session it came through.
pub(crate) struct Principal {
    pub token: TokenRecord,
    pub digest: String,
    pub session: Option<String>,
}

/// The header cookie-session requests that change something must carry
/// (a cross-site form cannot set it; a cross-origin script needs a CORS
/// preflight this server never grants).
pub const CSRF_HEADER: &str = "x-peregrine-request";

/// Authenticate from the headers (bearer token, or the session cookie),
/// then check the role. Blocking (reads the store).
fn authenticate(
    st: &AppState,
    headers: &HeaderMap,
    need: Need,
    changes: bool,
) -> Result<Principal, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let sid = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| crate::session::cookie(c, crate::session::COOKIE));
    let p = match (bearer, sid) {
        (Some(h), _) => {
            let (token, digest) =
                crate::auth::check_digest(st.store.as_ref(), Some(h)).map_err(unauthorized)?;
            Principal {
                token,
                digest,
                session: None,
            }
        }
        (None, Some(sid)) => {
            let s = st
                .sessions
                .get(sid)
                .ok_or_else(|| unauthorized("session expired or signed out"))?;
            let token = match st.store.token(&s.token_digest)? {
                Some(t) if t.role == s.role => t,
                _ => {
                    st.sessions.close(sid);
                    return Err(unauthorized("the session's token was revoked or changed"));
                }
            };
            if changes && !headers.contains_key(CSRF_HEADER) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!("requests from a session that change something need the {CSRF_HEADER} header"),
                )
                .param(CSRF_HEADER));
            }
            Principal {
                token,
                digest: s.token_digest,
                session: Some(sid.to_string()),
            }
        }
        (None, None) => return Err(unauthorized("missing Authorization: Bearer token")),
    };
    let ok = match need {
        Need::Any => true,
        Need::Ingest => matches!(p.token.role, Role::Agent | Role::Admin),
        Need::Read => matches!(p.token.role, Role::Viewer | Role::Responder | Role::Admin),
        Need::Triage => matches!(p.token.role, Role::Responder | Role::Admin),
    };
    if !ok {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("a {} token may not do this", p.token.role.as_str()),
        ));
    }
    Ok(p)
}

/// [`authenticate`] on a blocking thread.
pub(crate) async fn authorize(
    st: &AppState,
    headers: &HeaderMap,
    need: Need,
    changes: bool,
) -> Result<Principal, ApiError> {
    let (s, h) = (st.clone(), headers.clone());
    tokio::task::spawn_blocking(move || authenticate(&s, &h, need, changes))
        .await
        .unwrap_or_else(|e| {
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ))
        })
}

/// One API call: authenticate from the headers, then read the body (if the
/// route takes one, up to its limit), then run `f` on a blocking thread;
/// record metrics.
pub(crate) struct Call {
    route: &'static str,
    need: Need,
    changes: bool,
    body: Option<(Body, usize)>,
}

impl Call {
    pub(crate) fn get(route: &'static str, need: Need) -> Call {
        Call {
            route,
            need,
            changes: false,
            body: None,
        }
    }
    pub(crate) fn with_body(route: &'static str, need: Need, body: Body, limit: usize) -> Call {
        Call {
            route,
            need,
            changes: true,
            body: Some((body, limit)),
        }
    }

    pub(crate) async fn run(
        self,
        st: &AppState,
        headers: HeaderMap,
        f: impl FnOnce(&AppState, Principal, Bytes) -> ApiResult + Send + 'static,
    ) -> Response {
        let t0 = Instant::now();
        let has_body = self.body.is_some();
        let r = async {
            let p = authorize(st, &headers, self.need, self.changes)
                .await
                // The body is left unread: do not keep the connection.
                .map_err(|e| if has_body { e.closing() } else { e })?;
            let bytes = match self.body {
                Some((b, limit)) => {
                    crate::body::read(b, &headers, limit, st.limits.body_read(), &st.large_seen)
                        .await?
                }
                None => Bytes::new(),
            };
            let s = st.clone();
            tokio::task::spawn_blocking(move || f(&s, p, bytes))
                .await
                .unwrap_or_else(|e| {
                    Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        e.to_string(),
                    ))
                })
        }
        .await;
        let resp = r.unwrap_or_else(|e| e.into_response());
        st.metrics.latency.observe(t0.elapsed().as_secs_f64());
        st.metrics
            .requests
            .get_or_create(&RouteLabel {
                route: self.route.into(),
                status: resp.status().as_u16(),
            })
            .inc();
        resp
    }
}

/// The raw query string of a request.
pub(crate) type RawParams = RawQuery;

/// Checked parameters of a route taking `allowed` (malformed percent
/// escapes or invalid UTF-8 are a 400, never replaced).
pub(crate) fn params(q: RawParams, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let RawQuery(raw) = q;
    query::params(query::decode(raw.as_deref().unwrap_or(""))?, allowed)
}

/// The router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
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
        .route("/api/v1/response-times", get(response_times))
        .route("/api/v1/agents", get(agents))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/stream", get(crate::dashboard::stream))
        .route(
            "/api/v1/session",
            post(crate::signin::open).delete(crate::signin::close),
        )
        .merge(crate::incidents::routes())
        .merge(crate::dashboard::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|m: Method| async move {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {m} is not allowed on this route"),
            )
        })
        .with_state(state)
}

async fn healthz(q: RawParams) -> Response {
    match params(q, &[]) {
        Ok(_) => ([(header::CONTENT_TYPE, "text/plain")], "ok\n").into_response(),
        Err(e) => e.into_response(),
    }
}

async fn metrics(State(st): State<AppState>, q: RawParams) -> Response {
    if let Err(e) = params(q, &[]) {
        return e.into_response();
    }
    // MTTD/MTTR of the last 24 h, recomputed at most every 30 s.
    if st.metrics.times_due() {
        let (store, m) = (st.store.clone(), st.metrics.clone());
        let _ = tokio::task::spawn_blocking(move || {
            let q = peregrine_store::AlertQuery {
                from_ns: Some(peregrine_store::now_ns() - 86_400_000_000_000),
                ..Default::default()
            };
            match store.response_times(&q) {
                Ok(t) => m.set_times(&t),
                Err(e) => tracing::warn!("response times for /metrics: {e}"),
            }
        })
        .await;
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.encode(),
    )
        .into_response()
}

async fn openapi(q: RawParams) -> Response {
    if let Err(e) = params(q, &[]) {
        return e.into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/yaml")],
        include_str!("../openapi.yaml"),
    )
        .into_response()
}

async fn whoami(State(st): State<AppState>, headers: HeaderMap, q: RawParams) -> Response {
    Call::get("whoami", Need::Any)
        .run(&st, headers, move |_, p, _| {
            params(q, &[])?;
            json(&p.token)
        })
        .await
}

/// Which agent a batch is from: an agent token's name, or (admin tokens)
/// the `X-Peregrine-Agent` header.
fn agent_name(tok: &TokenRecord, headers: &HeaderMap) -> Result<String, ApiError> {
    if tok.role == Role::Agent {
        return Ok(tok.name.clone());
    }
    match headers.get("x-peregrine-agent") {
        None => Ok(tok.name.clone()),
        Some(v) => match v.to_str() {
            Ok(v) if !v.is_empty() && v.len() <= 128 && !v.chars().any(char::is_control) => {
                Ok(v.to_string())
            }
            _ => Err(bad_param(
                "X-Peregrine-Agent",
                "must be 1..=128 printable ASCII characters",
            )),
        },
    }
}

/// Parse a JSON body. Integers written with a zero fraction (`3.0`, which
/// JSON Schema counts as an integer) are accepted: on a first failure the
/// body is re-read with such numbers made integers.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let first = match serde_json::from_slice(body) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let retry = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|mut v| integral(&mut v).then_some(v))
        .and_then(|v| serde_json::from_value(v).ok());
    retry.ok_or_else(|| bad_param("body", format!("invalid JSON body: {first}")))
}

/// Turn floats with no fraction into integers; `true` if any changed.
fn integral(v: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            let int = if f.fract() == 0.0 && f >= 0.0 && f < u64::MAX as f64 {
                Some(serde_json::Number::from(f as u64))
            } else if f.fract() == 0.0 && f < 0.0 && f >= i64::MIN as f64 {
                Some(serde_json::Number::from(f as i64))
            } else {
                None
            };
            int.map(|i| *n = i).is_some()
        }
        Value::Array(a) => a.iter_mut().fold(false, |c, x| integral(x) | c),
        Value::Object(o) => o.values_mut().fold(false, |c, x| integral(x) | c),
        _ => false,
    }
}

async fn ingest_alerts(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: RawParams,
    body: Body,
) -> Response {
    let h2 = headers.clone();
    let limit = st.max_ingest;
    Call::with_body("ingest_alerts", Need::Ingest, body, limit)
        .run(&st, headers, move |s, p, body| {
            params(q, &[])?;
            // One alert object or an array of them.
            let trimmed = body.iter().position(|b| !b.is_ascii_whitespace());
            let alerts: Vec<Alert> = match trimmed.map(|i| body[i]) {
                Some(b'[') => parse_body(&body)?,
                Some(b'{') => vec![parse_body(&body)?],
                _ => {
                    return Err(bad_param(
                        "body",
                        "body must be a JSON alert or an array of alerts",
                    ))
                }
            };
            drop(body);
            let agent = agent_name(&p.token, &h2)?;
            let done = s.ingest.alerts(&agent, &alerts)?;
            let conflicts: Vec<&str> = done
                .positions(Outcome::Conflict)
                .map(|i| alerts[i].id.as_str())
                .collect();
            json(&serde_json::json!({
                "accepted": alerts.len(),
                "new": done.stored(),
                "duplicates": done.duplicates(),
                "conflicts": conflicts,
            }))
        })
        .await
}

async fn ingest_heartbeat(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: RawParams,
    body: Body,
) -> Response {
    let h2 = headers.clone();
    let limit = st.limits.max_heartbeat_body;
    Call::with_body("ingest_heartbeat", Need::Ingest, body, limit)
        .run(&st, headers, move |s, p, body| {
            params(q, &[])?;
            let mut hb: Heartbeat = parse_body(&body)?;
            hb.agent = agent_name(&p.token, &h2)?;
            s.ingest.heartbeat(&hb)?;
            json(&serde_json::json!({ "ok": true }))
        })
        .await
}

async fn ingest_rules(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: RawParams,
    body: Body,
) -> Response {
    let h2 = headers.clone();
    let limit = st.limits.max_rules_body;
    Call::with_body("ingest_rules", Need::Ingest, body, limit)
        .run(&st, headers, move |s, p, body| {
            params(q, &[])?;
            let rules: Vec<RuleInfo> = parse_body(&body)?;
            s.ingest.rules(&agent_name(&p.token, &h2)?, &rules)?;
            json(&serde_json::json!({ "rules": rules.len() }))
        })
        .await
}

async fn list_alerts(State(st): State<AppState>, headers: HeaderMap, q: RawParams) -> Response {
    Call::get("list_alerts", Need::Read)
        .run(&st, headers, move |s, _, _| {
            let known = [query::FILTERS, &["limit", "cursor"]].concat();
            let q = query::alert_query(&params(q, &known)?)?;
            json(&s.store.query_alerts(&q)?)
        })
        .await
}

fn alert_id(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) = p.map_err(|e| bad_param("id", format!("{e}")))?;
    if id.is_empty() || id.len() > crate::fields::MAX_ID || id.chars().any(char::is_control) {
        return Err(bad_param(
            "id",
            format!(
                "alert ids are 1..={} printable characters",
                crate::fields::MAX_ID
            ),
        ));
    }
    Ok(id)
}

/// The optional `agent` of an alert reference (ids are unique per agent;
/// without it the id must be unambiguous).
fn alert_agent(p: &HashMap<String, String>) -> Result<Option<String>, ApiError> {
    match p.get("agent") {
        Some(a) if a.is_empty() || a.chars().count() > 128 || a.chars().any(char::is_control) => {
            Err(bad_param("agent", "1..=128 printable characters"))
        }
        a => Ok(a.cloned()),
    }
}

fn no_alert(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no alert '{id}'")).param("id")
}

async fn alert_detail(
    State(st): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    q: RawParams,
) -> Response {
    Call::get("alert_detail", Need::Read)
        .run(&st, headers, move |s, _, _| {
            let agent = alert_agent(&params(q, &["agent"])?)?;
            let id = alert_id(id)?;
            let Some(alert) = s.store.get_alert(agent.as_deref(), &id)? else {
                return Err(no_alert(&id));
            };
            let events = s.store.alert_events(Some(&alert.agent), &id)?;
            json(&serde_json::json!({ "alert": alert, "events": events }))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: String,
}

async fn alert_status(
    State(st): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    q: RawParams,
    body: Body,
) -> Response {
    let limit = st.limits.max_small_body;
    Call::with_body("alert_status", Need::Triage, body, limit)
        .run(&st, headers, move |s, p, body| {
            let agent = alert_agent(&params(q, &["agent"])?)?;
            let id = alert_id(id)?;
            let b: StatusBody = parse_body(&body)?;
            let status = Status::parse(&b.status).ok_or_else(|| {
                bad_param(
                    "status",
                    format!(
                        "'{}': expected open, acknowledged or resolved",
                        b.status.chars().take(40).collect::<String>()
                    ),
                )
            })?;
            if !s
                .store
                .set_status(agent.as_deref(), &id, status, &p.token.name)?
            {
                return Err(no_alert(&id));
            }
            json(&serde_json::json!({ "id": id, "status": status }))
        })
        .await
}

async fn stats(State(st): State<AppState>, headers: HeaderMap, q: RawParams) -> Response {
    Call::get("stats", Need::Read)
        .run(&st, headers, move |s, _, _| {
            let known = [query::FILTERS, &["bucket"]].concat();
            let p = params(q, &known)?;
            let q = query::alert_query(&p)?;
            let bucket = query::bucket(&p, &q)?;
            let (from_ns, to_ns) = query::range(&q);
            json(&Stats {
                agg: s.store.aggregate(&q, bucket)?,
                from: from_ns.div_euclid(1_000_000_000),
                to: to_ns.div_euclid(1_000_000_000),
            })
        })
        .await
}

/// `/stats`: the aggregation and the range it covers (Unix seconds), so a
/// chart draws the whole range, empty buckets included.
#[derive(serde::Serialize)]
struct Stats {
    #[serde(flatten)]
    agg: peregrine_store::Aggregation,
    from: i64,
    to: i64,
}

/// MTTD and MTTR of the alerts the filters select (the same as /alerts).
async fn response_times(State(st): State<AppState>, headers: HeaderMap, q: RawParams) -> Response {
    Call::get("response_times", Need::Read)
        .run(&st, headers, move |s, _, _| {
            let p = params(q, query::FILTERS)?;
            let q = query::alert_query(&p)?;
            json(&s.store.response_times(&q)?)
        })
        .await
}

async fn agents(State(st): State<AppState>, headers: HeaderMap, q: RawParams) -> Response {
    Call::get("agents", Need::Read)
        .run(&st, headers, move |s, _, _| {
            params(q, &[])?;
            json(&s.store.agents()?)
        })
        .await
}

async fn rules(State(st): State<AppState>, headers: HeaderMap, q: RawParams) -> Response {
    Call::get("rules", Need::Read)
        .run(&st, headers, move |s, _, _| {
            params(q, &[])?;
            json(&s.store.rules()?)
        })
        .await
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
