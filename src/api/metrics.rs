//! `GET /metrics`: the server's figures in the Prometheus text format
//! (0.0.4), for a scraper; what each figure means is in
//! docs/operations.md, how they are gathered in [`crate::rt::metrics`].
//!
//! Who may read it: a scraper has no session, so the route is public in
//! the access table, like `/api/health`. It shows counts only (calls,
//! agents per state, queue names, disk space), nothing about a person or
//! a call. Where the listener is reachable by people who should not see
//! even that, `[operations] metrics_token` (or `HOTLINE_METRICS_TOKEN`)
//! makes it ask for `Authorization: Bearer <token>`, which Prometheus
//! sends from its `authorization` setting; the comparison takes the same
//! time whatever the guess.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::{ApiState, AppError, ErrorBody, now_ms};
use crate::rt::metrics::Outside;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The figures, for Prometheus.
#[utoipa::path(get, path = "/metrics", tag = "system", security(()),
    responses(
        (status = 200, description = "Prometheus text format 0.0.4 (docs/operations.md lists the figures)",
         content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "`[operations] metrics_token` is set and the request did not send it",
         body = ErrorBody)))]
pub async fn metrics(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(token) = state.metrics_token.as_deref() {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if !same(sent.as_bytes(), token.as_bytes()) {
            return Err(AppError::Unauthorized(
                "send the metrics token as a bearer token",
            ));
        }
    }
    let live = &state.live;
    let now = now_ms();
    let text = live.metrics.render(&Outside {
        pending_records: live.pending_records.load(Ordering::Relaxed),
        recording_failures: live.recording_failures.load(Ordering::Relaxed),
        draining: live.draining.load(Ordering::Relaxed),
        cti_clients: state.cti.as_ref().map_or(0, |hub| hub.online()),
        wallboard_clients: state.wallboard.as_ref().map_or(0, |hub| hub.clients()),
        started_at_ms: live.started_at_ms,
        uptime: std::time::Duration::from_millis(
            u64::try_from(now - live.started_at_ms).unwrap_or(0),
        ),
    });
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

/// Byte strings equal, in a time that depends on their lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same(b"0123456789abcdef", b"0123456789abcdeF"));
        assert!(!same(b"0123456789abcdef", b"0123456789abcde"));
        assert!(!same(b"", b"0123456789abcdef"));
    }
}
