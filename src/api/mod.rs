//! The HTTP API: `fn app(state) -> Router`, so tests drive it with
//! `tower::ServiceExt::oneshot` and no socket.
//!
//! Talks to the [`Store`] and to the [`Live`] counters the runtime keeps;
//! never to engine internals. All errors go through [`AppError`], which
//! never shows internals to the client.
//!
//! Routes:
//! - `GET /api/health` — `{status: "ok"|"draining", db: "ok"|"error",
//!   active_calls, calls_total, pending_records, uptime_s}`; 200, or 503
//!   when the database does not answer a ping.
//! - `GET /api/calls?limit=N` — `{calls: [CallRow...]}`, newest first;
//!   `limit` 1..=500, default 50; anything else is a 400.
//! - `GET /api/calls/{id}` — the call's fields plus `events` (by `seq`)
//!   and `messages` the caller left (by time); 404 if unknown.

mod error;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub use error::AppError;

use crate::store::{CallDetail, CallRow, Store};

/// `GET /api/calls` without `limit`.
pub const DEFAULT_CALLS_LIMIT: i64 = 50;
/// The largest `limit` `GET /api/calls` accepts.
pub const MAX_CALLS_LIMIT: i64 = 500;

/// What the handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub store: Store,
    pub live: Arc<Live>,
}

/// Live figures the runtime keeps up to date and the API reads. Plain
/// atomics: the runtime writes without locking, readers may see figures a
/// moment apart, which is fine for a health page.
#[derive(Debug)]
pub struct Live {
    /// Calls up right now.
    pub active_calls: AtomicUsize,
    /// Calls accepted since start.
    pub calls_total: AtomicU64,
    /// Set when shutdown began: no new calls, existing ones finish.
    pub draining: AtomicBool,
    /// Wall time at start, epoch ms.
    pub started_at_ms: i64,
    /// Records queued but not yet written: the record writer's counter
    /// ([`crate::rt::record_writer::RecordSink::pending_counter`]).
    pub pending_records: Arc<AtomicUsize>,
}

impl Live {
    /// Zeroed counters, started at `started_at_ms`, reading the writer's
    /// pending counter.
    pub fn new(started_at_ms: i64, pending_records: Arc<AtomicUsize>) -> Live {
        Live {
            active_calls: AtomicUsize::new(0),
            calls_total: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            started_at_ms,
            pending_records,
        }
    }
}

/// The API router, state applied.
pub fn app(state: ApiState) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/calls", get(list_calls))
        .route("/api/calls/{id}", get(call_detail))
        .with_state(state)
}

/// Body of `GET /api/health`.
#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    db: &'static str,
    active_calls: usize,
    calls_total: u64,
    pending_records: usize,
    uptime_s: i64,
}

async fn health(State(state): State<ApiState>) -> (StatusCode, Json<Health>) {
    let db_ok = match state.store.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %error::error_chain(&e), "health check: database ping failed");
            false
        }
    };
    let live = &state.live;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let body = Health {
        status: if live.draining.load(Ordering::Relaxed) {
            "draining"
        } else {
            "ok"
        },
        db: if db_ok { "ok" } else { "error" },
        active_calls: live.active_calls.load(Ordering::Relaxed),
        calls_total: live.calls_total.load(Ordering::Relaxed),
        pending_records: live.pending_records.load(Ordering::Relaxed),
        uptime_s: (now_ms - live.started_at_ms).max(0) / 1_000,
    };
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

#[derive(Debug, Deserialize)]
struct ListParams {
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
struct CallList {
    calls: Vec<CallRow>,
}

async fn list_calls(
    State(state): State<ApiState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<CallList>, AppError> {
    let bad_limit = || {
        AppError::BadRequest(format!(
            "limit must be an integer from 1 to {MAX_CALLS_LIMIT}"
        ))
    };
    let Query(params) = params.map_err(|_| bad_limit())?;
    let limit = params.limit.unwrap_or(DEFAULT_CALLS_LIMIT);
    if !(1..=MAX_CALLS_LIMIT).contains(&limit) {
        return Err(bad_limit());
    }
    let calls = state.store.recent_calls(limit).await?;
    Ok(Json(CallList { calls }))
}

async fn call_detail(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<CallDetail>, AppError> {
    state
        .store
        .call(&id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound("call"))
}
