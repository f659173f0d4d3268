//! [`FieldError`]: one bad field of an input, named so a client can show
//! the message next to it. Pure validation functions across the crate
//! return a list of these; the API answers them as a 400 with every bad
//! field at once, rather than one per round trip.

use serde::Serialize;

/// A field that failed validation and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's path in the request: `name`, `phones[1]`, `outlet`.
    pub field: String,
    /// What is wrong, for a person: "must be 1 to 60 characters".
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks a text field's length in characters (not bytes: names are
/// Chinese), pushing an error when it is out of `min..=max`.
pub fn text_len(errors: &mut Vec<FieldError>, field: &str, value: &str, min: usize, max: usize) {
    let n = value.chars().count();
    if n < min || n > max {
        let message = match (min, n < min) {
            (1, true) => "must not be empty".to_owned(),
            _ => format!("must be {min} to {max} characters, not {n}"),
        };
        errors.push(FieldError::new(field, message));
    }
}
