//! Field-level validation errors, shared by every input check.
//!
//! Owns [`FieldError`] and the small checks the input types build on
//! (lengths in characters, calendar dates). Validation is pure: a check
//! takes the value and returns every problem it finds, never only the
//! first, so a form (the API answers 400 with the whole list) or an import
//! row can be fixed in one go. A field is named as the client wrote it,
//! with an index for list items: `name`, `phones[1]`, `warranty_end`.

use serde::{Deserialize, Serialize};

/// One problem with one field of an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, e.g. `name` or `phones[1]`.
    pub field: String,
    /// What is wrong, for a person: `must be 1 to 60 characters`.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The errors as one line, `name: ...; phones[0]: ...`, for logs and the
/// import report.
pub fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(FieldError::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Pushes an error unless `value` has `min..=max` characters (not bytes:
/// a Chinese name of 60 characters is 180 bytes).
pub fn check_chars(errors: &mut Vec<FieldError>, field: &str, value: &str, min: usize, max: usize) {
    let n = value.chars().count();
    if n < min || n > max {
        let message = match (min, n) {
            (1, 0) => format!("is required (at most {max} characters)"),
            (0, _) => format!("must be at most {max} characters, not {n}"),
            _ => format!("must be {min} to {max} characters, not {n}"),
        };
        errors.push(FieldError::new(field, message));
    }
}

/// The calendar date `value` names, written exactly `YYYY-MM-DD` (what the
/// database stores and compares as text); `None` for any other form or a
/// day the calendar does not have (`2025-02-29`).
pub fn parse_date(value: &str) -> Option<jiff::civil::Date> {
    let b = value.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    let year: i16 = value[0..4].parse().ok()?;
    let month: i8 = value[5..7].parse().ok()?;
    let day: i8 = value[8..10].parse().ok()?;
    jiff::civil::Date::new(year, month, day).ok()
}

#[cfg(test)]
mod tests {
    use super::{FieldError, check_chars, join, parse_date};

    #[test]
    fn lengths_count_characters() {
        let mut errors = Vec::new();
        check_chars(&mut errors, "name", "王建国", 1, 3);
        check_chars(&mut errors, "name", "", 0, 3);
        assert!(errors.is_empty(), "{errors:?}");
        check_chars(&mut errors, "name", "", 1, 60);
        check_chars(&mut errors, "region", "王建国王", 0, 3);
        check_chars(&mut errors, "model", "ab", 3, 5);
        assert_eq!(
            errors,
            [
                FieldError::new("name", "is required (at most 60 characters)"),
                FieldError::new("region", "must be at most 3 characters, not 4"),
                FieldError::new("model", "must be 3 to 5 characters, not 2"),
            ]
        );
        assert_eq!(
            join(&errors[..2]),
            "name: is required (at most 60 characters); \
             region: must be at most 3 characters, not 4"
        );
    }

    #[test]
    fn dates_are_exact_calendar_days() {
        assert_eq!(
            parse_date("2024-02-29").map(|d| d.to_string()).as_deref(),
            Some("2024-02-29")
        );
        for bad in [
            "2025-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-1-01",
            "2024/01/01",
            "20240101",
            "2024-01-01T00:00",
            " 2024-01-01",
            "",
            "２０２４-01-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }
}
