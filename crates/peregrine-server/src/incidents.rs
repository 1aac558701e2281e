//! Incident routes: list, detail, change one (status, assignee, comment),
//! comment, and bulk changes. Reading needs a viewer, responder or admin
//! token; changing needs a responder or admin (viewers get 403). Every
//! change is recorded in the incident's history under the caller's token
//! name.

use crate::api::{params, parse_body, AppState, Call, Need, RawParams};
use crate::problem::{bad_param, ApiError};
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use peregrine_store::{IncidentChange, IncidentQuery, IncidentStatus};
use serde::Deserialize;

/// Longest comment, in characters.
pub const MAX_COMMENT: usize = 4000;
/// Most incidents one bulk request changes.
pub const MAX_BULK: usize = 500;

type ApiResult = Result<Response, ApiError>;

fn json(v: &impl serde::Serialize) -> ApiResult {
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(v)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
    )
        .into_response())
}

/// The incident routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/incidents", get(list))
        .route("/api/v1/incidents/bulk", post(bulk))
        .route("/api/v1/incidents/{id}", get(detail).patch(change))
        .route("/api/v1/incidents/{id}/comments", post(comment))
}

fn status(name: &str, v: &str) -> Result<IncidentStatus, ApiError> {
    IncidentStatus::parse(v).ok_or_else(|| {
        bad_param(
            name,
            format!(
                "'{}': expected open, acknowledged, resolved or false_positive",
                v.chars().take(40).collect::<String>()
            ),
        )
    })
}

fn positive(name: &str, v: &str) -> Result<i64, ApiError> {
    let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    match v.parse::<i64>().ok().filter(|_| digits) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(bad_param(
            name,
            format!("'{v:.40}' is not a positive integer"),
        )),
    }
}

fn incident_id(p: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let Path(id) = p.map_err(|e| bad_param("id", format!("{e}")))?;
    positive("id", &id)
}

fn assignee(v: &str) -> Result<String, ApiError> {
    if v.chars().count() > 128 || v.chars().any(char::is_control) {
        return Err(bad_param(
            "assignee",
            "0..=128 printable characters ('' unassigns)",
        ));
    }
    Ok(v.to_string())
}

fn comment_text(name: &str, v: &str) -> Result<String, ApiError> {
    let t = v.trim();
    if t.is_empty() || t.chars().count() > MAX_COMMENT {
        return Err(bad_param(
            name,
            format!("comments are 1..={MAX_COMMENT} characters"),
        ));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(bad_param(name, "no control characters but newline and tab"));
    }
    Ok(t.to_string())
}

fn query(p: &std::collections::HashMap<String, String>) -> Result<IncidentQuery, ApiError> {
    let mut q = IncidentQuery::default();
    if let Some(s) = p.get("status") {
        q.status = s
            .split(',')
            .map(|v| status("status", v.trim()))
            .collect::<Result<_, _>>()?;
    }
    q.assignee = p.get("assignee").map(|a| assignee(a)).transpose()?;
    q.rule = p.get("rule").filter(|r| !r.is_empty()).cloned();
    q.before_id = p.get("before").map(|v| positive("before", v)).transpose()?;
    if let Some(l) = p.get("limit") {
        q.limit = match positive("limit", l) {
            Ok(n @ 1..=500) => n as u32,
            _ => return Err(bad_param("limit", format!("'{l:.40}': expected 1..=500"))),
        };
    }
    Ok(q)
}

async fn list(State(st): State<AppState>, headers: HeaderMap, q: RawParams) -> Response {
    Call::get("incidents", Need::Read)
        .run(&st, headers, move |s, _, _| {
            let q = query(&params(
                q,
                &["status", "assignee", "rule", "before", "limit"],
            )?)?;
            let incidents = s.store.incidents(&q)?;
            let limit = if q.limit == 0 { 50 } else { q.limit } as usize;
            let next = (incidents.len() == limit)
                .then(|| incidents.last().map(|i| i.id))
                .flatten();
            json(&serde_json::json!({ "incidents": incidents, "next_before": next }))
        })
        .await
}

fn no_incident(id: i64) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no incident {id}")).param("id")
}

async fn detail(
    State(st): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    q: RawParams,
) -> Response {
    Call::get("incident", Need::Read)
        .run(&st, headers, move |s, _, _| {
            params(q, &[])?;
            let id = incident_id(id)?;
            match s.store.incident(id)? {
                Some(d) => json(&d),
                None => Err(no_incident(id)),
            }
        })
        .await
}

/// A change as the API takes it (one incident or, with `ids`, several).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    #[serde(default, deserialize_with = "present")]
    ids: Option<Vec<i64>>,
    #[serde(default, deserialize_with = "present")]
    status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    assignee: Option<String>,
    #[serde(default, deserialize_with = "present")]
    comment: Option<String>,
}

/// An optional field that, when given, is not `null`.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

fn change_of(b: &ChangeBody) -> Result<IncidentChange, ApiError> {
    let c = IncidentChange {
        status: b
            .status
            .as_deref()
            .map(|v| status("status", v))
            .transpose()?,
        assignee: b.assignee.as_deref().map(assignee).transpose()?,
        comment: b
            .comment
            .as_deref()
            .map(|v| comment_text("comment", v))
            .transpose()?,
    };
    if c == IncidentChange::default() {
        return Err(bad_param(
            "body",
            "nothing to change: give status, assignee or comment",
        ));
    }
    Ok(c)
}

/// Apply `c` to `ids` as `by`; 404 naming the missing ones (nothing changed).
fn apply(s: &AppState, ids: &[i64], c: &IncidentChange, by: &str) -> Result<(), ApiError> {
    let missing = s.store.update_incidents(ids, c, by)?;
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing.iter().map(i64::to_string).collect();
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no incident {} (nothing was changed)", list.join(", ")),
    )
    .param(if ids.len() > 1 { "ids" } else { "id" }))
}

fn detail_of(s: &AppState, id: i64) -> ApiResult {
    match s.store.incident(id)? {
        Some(d) => json(&d),
        None => Err(no_incident(id)),
    }
}

async fn change(
    State(st): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    q: RawParams,
    body: Body,
) -> Response {
    let limit = st.limits.max_small_body;
    Call::with_body("incident_change", Need::Triage, body, limit)
        .run(&st, headers, move |s, p, body| {
            params(q, &[])?;
            let id = incident_id(id)?;
            let b: ChangeBody = parse_body(&body)?;
            if b.ids.is_some() {
                return Err(bad_param("ids", "use /api/v1/incidents/bulk for several"));
            }
            apply(s, &[id], &change_of(&b)?, &p.token.name)?;
            detail_of(s, id)
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    text: String,
}

async fn comment(
    State(st): State<AppState>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    q: RawParams,
    body: Body,
) -> Response {
    let limit = st.limits.max_small_body;
    Call::with_body("incident_comment", Need::Triage, body, limit)
        .run(&st, headers, move |s, p, body| {
            params(q, &[])?;
            let id = incident_id(id)?;
            let b: CommentBody = parse_body(&body)?;
            let c = IncidentChange {
                comment: Some(comment_text("text", &b.text)?),
                ..Default::default()
            };
            apply(s, &[id], &c, &p.token.name)?;
            detail_of(s, id)
        })
        .await
}

async fn bulk(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: RawParams,
    body: Body,
) -> Response {
    let limit = st.limits.max_small_body;
    Call::with_body("incidents_bulk", Need::Triage, body, limit)
        .run(&st, headers, move |s, p, body| {
            params(q, &[])?;
            let b: ChangeBody = parse_body(&body)?;
            let mut ids = b.ids.clone().unwrap_or_default();
            if ids.is_empty() || ids.len() > MAX_BULK {
                return Err(bad_param("ids", format!("1..={MAX_BULK} incident ids")));
            }
            if let Some(bad) = ids.iter().find(|i| **i <= 0) {
                return Err(bad_param("ids", format!("{bad} is not a positive integer")));
            }
            ids.sort_unstable();
            ids.dedup();
            apply(s, &ids, &change_of(&b)?, &p.token.name)?;
            json(&serde_json::json!({ "updated": ids }))
        })
        .await
}
