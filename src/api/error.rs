//! [`AppError`]: the one error type of the HTTP API.
//!
//! Every handler error becomes a JSON body `{"error": "<message>"}` with a
//! fitting status. Client mistakes get a message that helps the client;
//! server-side failures are logged in full here and answered with a generic
//! message, so no SQL, table name, path or driver text leaves the process.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed; the message is shown to the client.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Nothing at that address; the message names what was not found.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The store failed: 503 if the database is unreachable, else 500.
    #[error("store error")]
    Store(#[from] StoreError),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            AppError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            AppError::NotFound(what) => (StatusCode::NOT_FOUND, format!("{what} not found")),
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
        (status, Json(json!({ "error": message }))).into_response()
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
