//! Request inputs with errors a client can act on.
//!
//! [`Input`] is axum's `Json` with the rejection made ours: a body that
//! does not deserialize is a 400 naming the field (`phones[1]`, `kind`)
//! and what is wrong with it, found by `serde_path_to_error`. Query
//! strings are read as text ([`QueryText`]) and parsed by the handlers
//! with the helpers here, so a bad `limit` gets the same kind of answer.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::AppError;
use crate::validate::FieldError;

/// A JSON request body.
#[derive(Debug)]
pub struct Input<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Input<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        if !json {
            return Err(AppError::BadRequest(
                "the body must be JSON with Content-Type: application/json".to_owned(),
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(Input)
            .map_err(|e| AppError::Invalid(vec![body_error(&e)]))
    }
}

/// The field a deserialisation error is about and the message, without
/// serde_json's "at line 1 column 9" (the client did not write lines).
fn body_error(e: &serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let inner = e.inner();
    let mut message = inner.to_string();
    if let Some(at) = message.find(" at line ") {
        message.truncate(at);
    }
    let mut field = e.path().to_string();
    // "missing field `name`" is reported at the parent; name the field.
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        field = if field == "." {
            name.to_owned()
        } else {
            format!("{field}.{name}")
        };
        message = "is required".to_owned();
    } else if field == "." {
        field = "body".to_owned();
    }
    if inner.is_syntax() || inner.is_eof() {
        field = "body".to_owned();
        message = format!("not valid JSON: {message}");
    }
    FieldError::new(field, message)
}

/// Parses an optional integer query parameter in `range`, recording an
/// error naming it otherwise.
pub fn int_param(
    errors: &mut Vec<FieldError>,
    name: &str,
    value: Option<&str>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> i64 {
    let Some(text) = value else {
        return default;
    };
    match text.trim().parse::<i64>() {
        Ok(n) if range.contains(&n) => n,
        _ => {
            errors.push(FieldError::new(
                name,
                format!(
                    "must be an integer from {} to {}",
                    range.start(),
                    range.end()
                ),
            ));
            default
        }
    }
}

/// `Err(Invalid)` when any errors were recorded.
pub fn check(errors: Vec<FieldError>) -> Result<(), AppError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid(errors))
    }
}
