//! Error answers: RFC 9457 problem details (`application/problem+json`:
//! `type`, `title`, `status`, `detail`, and `param` naming the offending
//! parameter or field), plus `error` (the same text as `detail`) for
//! clients of the first API version.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What was wrong, for a person.
    pub detail: String,
    /// The query parameter, path segment, header or body field at fault.
    pub param: Option<String>,
    /// Close the connection after answering (the body was not read).
    pub close: bool,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            param: None,
            close: false,
        }
    }
    /// Name the parameter at fault.
    pub fn param(mut self, p: impl Into<String>) -> ApiError {
        self.param = Some(p.into());
        self
    }
    /// Close the connection after the answer.
    pub fn closing(mut self) -> ApiError {
        self.close = true;
        self
    }
}

/// 400 naming parameter `p`.
pub fn bad_param(p: &str, detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, format!("{p}: {}", detail.into())).param(p)
}

/// 400 without a single parameter at fault.
pub fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, detail)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let mut body = serde_json::json!({
            "type": "about:blank",
            "title": title,
            "status": self.status.as_u16(),
            "detail": self.detail,
            "error": self.detail,
        });
        if let Some(p) = &self.param {
            body["param"] = serde_json::Value::String(p.clone());
        }
        let mut r = (self.status, body.to_string()).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.close {
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"peregrine\""),
            );
        }
        r
    }
}
