//! Request bodies, read only after authentication: bounded by the route's
//! limit (a declared `Content-Length` above it is refused before a byte is
//! read) and by the body-read timeout.

use crate::problem::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Bodies above this size ask for memory to be returned to the system
/// afterwards (see [`trimmer`]).
const LARGE: usize = 1 << 20;

/// Read `body` (at most `limit` bytes, within `timeout`).
pub async fn read(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    timeout: Duration,
    large_seen: &AtomicBool,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {limit} bytes (this route's limit)"),
        )
        .param("body")
        .closing()
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut buf: Vec<u8> = Vec::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
    let mut stream = body.into_data_stream();
    let collect = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("reading the request body: {e}"),
                )
                .closing()
            })?;
            if buf.len() + chunk.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(())
    };
    match tokio::time::timeout(timeout, collect).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} ms",
                    timeout.as_millis()
                ),
            )
            .param("body")
            .closing())
        }
    }
    if buf.len() >= LARGE {
        large_seen.store(true, Ordering::Relaxed);
    }
    Ok(Bytes::from(buf))
}

/// Give freed memory back to the system (glibc `malloc_trim`) at most once
/// a second, after large bodies were handled: a burst of big batches should
/// not leave the server's RSS at its peak.
pub async fn trimmer(large_seen: std::sync::Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // Trim on the next two ticks: the first may come while the request
    // that set the flag still holds its body.
    let mut pending = 0u8;
    loop {
        tick.tick().await;
        if large_seen.swap(false, Ordering::Relaxed) {
            pending = 2;
        }
        if pending > 0 {
            pending -= 1;
            let _ = tokio::task::spawn_blocking(|| {
                // SAFETY: malloc_trim has no preconditions.
                unsafe {
                    libc::malloc_trim(0);
                }
            })
            .await;
        }
    }
}
