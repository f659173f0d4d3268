//! [`AppError`]: the one error type of the HTTP API.
//!
//! Every handler error becomes a JSON body [`ErrorBody`]: `{"error":
//! "<message>"}`, plus `fields` naming each bad field for a 400 and
//! `current_version` for a version conflict. Client mistakes get a message
//! that helps the client; server-side failures are logged in full here and
//! answered with a generic message, so no SQL, table name, path or driver
//! text leaves the process.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;
use crate::ticket::TransitionError;
use crate::validate::FieldError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed; the message is shown to the client.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Fields failed validation: 400 naming each.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// No valid session (or wrong credentials at login): 401.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// Signed in, but the role may not do this: 403.
    #[error("forbidden")]
    Forbidden,
    /// Nothing at that address; the message names what was not found.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The request conflicts with the record's state (an illegal stage
    /// move, a taken value): 409 with the message.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Too many tries (a locked sign-in): 429 with Retry-After.
    #[error("too many requests")]
    TooManyRequests { retry_after_s: i64 },
    /// The request was based on an older version of the record: 409.
    #[error("version conflict")]
    Stale { current: i64 },
    /// A limit of the service is reached (the message says which): 503.
    #[error("exhausted: {0}")]
    Exhausted(&'static str),
    /// The store failed: 503 if the database is unreachable, else 500.
    #[error("store error")]
    Store(#[source] StoreError),
}

impl From<StoreError> for AppError {
    /// The store's client-caused errors get their own status; the rest are
    /// server failures.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => AppError::NotFound(what),
            StoreError::VersionConflict { current } => AppError::Stale { current },
            StoreError::Duplicate(what) => AppError::Conflict(format!("that {what} is taken")),
            StoreError::Invalid(fields) => AppError::Invalid(fields),
            StoreError::NoTicketNumbers => AppError::Exhausted(
                "all 9999 ticket numbers of today are used: no more tickets can be opened until tomorrow",
            ),
            e @ (StoreError::PhoneTaken { .. } | StoreError::SerialTaken { .. }) => {
                AppError::Conflict(e.to_string())
            }
            e => AppError::Store(e),
        }
    }
}

impl From<TransitionError> for AppError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Conflict { current, .. } => AppError::Stale {
                current: current as i64,
            },
            e => AppError::Conflict(e.to_string()),
        }
    }
}

impl AppError {
    /// One bad field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid(vec![FieldError::new(field, message)])
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// Each bad field (400 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// The record's version now (409 version conflict only): reload it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut fields = Vec::new();
        let mut current_version = None;
        let mut retry_after = None;
        let (status, message) = match self {
            AppError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            AppError::Invalid(errors) => {
                let message = match errors.as_slice() {
                    [one] => format!("{}: {}", one.field, one.message),
                    _ => format!("{} fields are invalid", errors.len()),
                };
                fields = errors;
                (StatusCode::BAD_REQUEST, message)
            }
            AppError::Unauthorized(why) => (StatusCode::UNAUTHORIZED, why.to_owned()),
            AppError::Forbidden => (
                StatusCode::FORBIDDEN,
                "your role may not do this".to_owned(),
            ),
            AppError::NotFound(what) => (StatusCode::NOT_FOUND, format!("{what} not found")),
            AppError::Conflict(message) => (StatusCode::CONFLICT, message),
            AppError::Exhausted(why) => (StatusCode::SERVICE_UNAVAILABLE, why.to_owned()),
            AppError::TooManyRequests { retry_after_s } => {
                retry_after = Some(retry_after_s);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "too many wrong passwords for this username: try again in {} minutes",
                        (retry_after_s + 59) / 60
                    ),
                )
            }
            AppError::Stale { current } => {
                current_version = Some(current);
                (
                    StatusCode::CONFLICT,
                    format!(
                        "someone else changed this record first (it is now at version {current}): reload it and try again"
                    ),
                )
            }
            AppError::Store(e) => {
                tracing::error!(error = %error_chain(&e), "API request failed in the store");
                if e.is_unavailable() {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "database unavailable".to_owned(),
                    )
                } else {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal error".to_owned(),
                    )
                }
            }
        };
        let body = ErrorBody {
            error: message,
            fields,
            current_version,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after
            && let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
    }
}

/// An error with its sources, `a: b: c`, for the logs only.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
