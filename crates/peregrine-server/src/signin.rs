//! `POST /api/v1/session` (sign in: a one-time code, or a token in the
//! `Authorization` header, for a session cookie) and `DELETE
//! /api/v1/session` (sign out).

use crate::api::{authorize, params, parse_body, AppState, Need, RawParams};
use crate::problem::ApiError;
use crate::session::COOKIE;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use peregrine_store::{Role, TokenRecord};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    code: String,
}

fn cookie(st: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if st.tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// The token a sign-in request stands for, and its digest.
async fn who(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(TokenRecord, String), ApiError> {
    let limit = st.limits.max_small_body;
    if headers.contains_key(header::AUTHORIZATION) {
        let p = authorize(st, headers, Need::Any, false).await?;
        // A body, if any, must still be a well-formed sign-in request.
        let bytes =
            crate::body::read(body, headers, limit, st.limits.body_read(), &st.large_seen).await?;
        if !bytes.is_empty() {
            check_code(&parse_body::<SignIn>(&bytes)?.code)?;
        }
        return Ok((p.token, p.digest));
    }
    let bytes =
        crate::body::read(body, headers, limit, st.limits.body_read(), &st.large_seen).await?;
    let req: SignIn = parse_body(&bytes)?;
    check_code(&req.code)?;
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "sign-in code unknown, already used or expired",
        )
        .param("code")
    };
    let digest = st.sessions.redeem(&req.code).ok_or_else(refused)?;
    let s = st.store.clone();
    let d = digest.clone();
    let tok = tokio::task::spawn_blocking(move || s.token(&d))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??
        .ok_or_else(refused)?;
    Ok((tok, digest))
}

fn check_code(code: &str) -> Result<(), ApiError> {
    if code.chars().count() > 128 {
        return Err(crate::problem::bad_param(
            "code",
            "longer than 128 characters",
        ));
    }
    Ok(())
}

/// Sign in.
pub async fn open(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: RawParams,
    body: Body,
) -> Response {
    let r = async {
        params(q, &[])?;
        let (tok, digest) = who(&st, &headers, body).await?;
        if tok.role == Role::Agent {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "agent tokens can only ship alerts; use a viewer or admin token",
            ));
        }
        let sid = st
            .sessions
            .open(&digest, tok.role)
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        let mut r = (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&tok).unwrap_or_default(),
        )
            .into_response();
        r.headers_mut().insert(
            header::SET_COOKIE,
            cookie(&st, &sid, st.limits.session_secs),
        );
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok::<_, ApiError>(r)
    }
    .await;
    r.unwrap_or_else(|e| e.into_response())
}

/// Sign out (ends the session and every stream opened through it).
pub async fn close(State(st): State<AppState>, headers: HeaderMap, q: RawParams) -> Response {
    if let Err(e) = params(q, &[]) {
        return e.into_response();
    }
    if let Some(sid) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| crate::session::cookie(c, COOKIE))
    {
        st.sessions.close(sid);
    }
    let mut r = (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"ok":true}"#,
    )
        .into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, cookie(&st, "", 0));
    r
}
