//! Quality assurance over the API: the scorecards, the search for recorded
//! calls, the daily sample of calls to review, and each call's scores and
//! comments.
//!
//! QA staff, supervisors and admins search, score and comment on any call;
//! an agent searches and reads the scores and comments of their own calls
//! only (those they answered or were heard on), and gives none.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::input::{Input, check, int_param};
use super::{ApiState, AppError, ErrorBody, now_ms};
use crate::qa::Scorecard;
use crate::records::RecordingState;
use crate::store::Role;
use crate::store::qa::{NewScore, QaComment, QaScore, RecordingSearch, ReviewRow};
use crate::validate::FieldError;

/// The scorecards and the sample's size, as loaded at start.
#[derive(Debug)]
pub struct QaConfig {
    pub scorecards: Vec<Scorecard>,
    pub sample_per_agent: u32,
}

fn scorecards(state: &ApiState) -> &[Scorecard] {
    state.qa.as_deref().map_or(&[], |q| q.scorecards.as_slice())
}

const MAX_NOTE: usize = 2000;
const MAX_SEARCH: i64 = 200;

#[derive(Debug, Serialize, ToSchema)]
pub struct ScorecardList {
    scorecards: Vec<Scorecard>,
}

/// The scorecards reviews are given with (`scorecards/*.toml`).
#[utoipa::path(get, path = "/api/qa/scorecards", tag = "qa",
    responses((status = 200, body = ScorecardList)))]
pub async fn list_scorecards(State(state): State<ApiState>) -> Json<ScorecardList> {
    Json(ScorecardList {
        scorecards: scorecards(&state).to_vec(),
    })
}

/// `GET /api/recordings` query: every filter optional.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// First day (YYYY-MM-DD, the hotline's time zone), inclusive.
    from: Option<String>,
    /// Last day, inclusive.
    to: Option<String>,
    /// The agent (user id) who answered or was heard on the call.
    agent: Option<String>,
    queue: Option<String>,
    /// The caller's number, in any common form.
    phone: Option<String>,
    /// Part of the customer's name.
    customer: Option<String>,
    /// A ticket number: calls of its customer.
    ticket: Option<String>,
    /// Recording at least / at most this long, seconds.
    min_secs: Option<String>,
    max_secs: Option<String>,
    disposition: Option<String>,
    /// Average review score at least / at most (0-100).
    min_score: Option<String>,
    max_score: Option<String>,
    /// `false`: not yet reviewed; `true`: reviewed.
    reviewed: Option<String>,
    /// 1-200, default 50.
    limit: Option<String>,
    offset: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingList {
    /// How many calls match in all (`calls` is one page of them).
    total: i64,
    calls: Vec<ReviewRow>,
}

/// Midnight starting `date` in the hotline's time zone, ms.
pub(super) fn midnight(state: &ApiState, date: jiff::civil::Date) -> Option<i64> {
    date.to_zoned(state.desk.time_zone.clone())
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// Midnight starting `day` (YYYY-MM-DD) in the hotline's time zone, ms.
fn day_start(state: &ApiState, day: &str) -> Option<i64> {
    midnight(state, day.trim().parse().ok()?)
}

/// Midnight ending `day` (YYYY-MM-DD) in the hotline's time zone, ms.
fn day_after(state: &ApiState, day: &str) -> Option<i64> {
    let date: jiff::civil::Date = day.trim().parse().ok()?;
    midnight(state, date.tomorrow().ok()?)
}

fn optional_int(
    errors: &mut Vec<FieldError>,
    name: &str,
    value: Option<&str>,
    range: std::ops::RangeInclusive<i64>,
) -> Option<i64> {
    let text = value.map(str::trim).filter(|t| !t.is_empty())?;
    match text.parse::<i64>() {
        Ok(n) if range.contains(&n) => Some(n),
        _ => {
            errors.push(FieldError::new(
                name,
                format!(
                    "must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            ));
            None
        }
    }
}

fn text(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Recorded calls, newest first, by date, agent, queue, customer phone or
/// name, ticket, duration, disposition, score, not-yet-reviewed. An agent
/// finds only their own calls.
#[utoipa::path(get, path = "/api/recordings", tag = "qa", params(SearchQuery),
    responses((status = 200, body = RecordingList), (status = 400, body = ErrorBody)))]
pub async fn search(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<RecordingList>, AppError> {
    let mut errors = Vec::new();
    let mut day = |name: &str, value: &Option<String>, end: bool| {
        let v = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        let at = if end {
            day_after(&state, v)
        } else {
            day_start(&state, v)
        };
        if at.is_none() {
            errors.push(FieldError::new(name, "must be a date, YYYY-MM-DD"));
        }
        at
    };
    let from_ms = day("from", &q.from, false);
    let to_ms = day("to", &q.to, true);
    let mut agent = optional_int(&mut errors, "agent", q.agent.as_deref(), 1..=i64::MAX);
    let phone = text(q.phone).map(|p| crate::phone::normalise(&p).unwrap_or(p));
    let min_secs = optional_int(&mut errors, "min_secs", q.min_secs.as_deref(), 0..=86_400);
    let max_secs = optional_int(&mut errors, "max_secs", q.max_secs.as_deref(), 0..=86_400);
    let min_score = optional_int(&mut errors, "min_score", q.min_score.as_deref(), 0..=100);
    let max_score = optional_int(&mut errors, "max_score", q.max_score.as_deref(), 0..=100);
    let reviewed = match q.reviewed.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            errors.push(FieldError::new("reviewed", "must be true or false"));
            None
        }
    };
    let limit = int_param(&mut errors, "limit", q.limit.as_deref(), 50, 1..=MAX_SEARCH);
    let offset = int_param(&mut errors, "offset", q.offset.as_deref(), 0, 0..=1_000_000);
    check(errors)?;
    if caller.0.role == Role::Agent {
        agent = Some(caller.0.id);
    }
    let (total, calls) = state
        .store
        .search_recordings(&RecordingSearch {
            from_ms,
            to_ms,
            agent,
            queue: text(q.queue),
            phone,
            customer: text(q.customer),
            ticket: text(q.ticket),
            min_ms: min_secs.map(|s| s * 1000),
            max_ms: max_secs.map(|s| s * 1000),
            disposition: text(q.disposition),
            min_score,
            max_score,
            reviewed,
            ids: None,
            limit,
            offset,
        })
        .await?;
    Ok(Json(RecordingList { total, calls }))
}

/// `GET /api/qa/sample` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SampleQuery {
    /// The day (YYYY-MM-DD, the hotline's time zone); default today.
    date: Option<String>,
    /// Calls per agent, 1-50; default `qa.sample_per_agent`.
    per_agent: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Sample {
    date: String,
    calls: Vec<ReviewRow>,
}

/// The day's calls offered for review: up to `per_agent` recorded calls of
/// each agent that nobody reviewed yet, the same for everyone all day.
#[utoipa::path(get, path = "/api/qa/sample", tag = "qa", params(SampleQuery),
    responses((status = 200, body = Sample), (status = 400, body = ErrorBody)))]
pub async fn sample(
    State(state): State<ApiState>,
    Query(q): Query<SampleQuery>,
) -> Result<Json<Sample>, AppError> {
    let mut errors = Vec::new();
    let default = state
        .qa
        .as_ref()
        .map_or(2, |c| i64::from(c.sample_per_agent));
    let per_agent = int_param(
        &mut errors,
        "per_agent",
        q.per_agent.as_deref(),
        default,
        1..=50,
    );
    let date = match text(q.date) {
        Some(d) => d,
        None => jiff::Timestamp::from_millisecond(now_ms())
            .map(|t| t.to_zoned(state.desk.time_zone.clone()).date().to_string())
            .unwrap_or_default(),
    };
    let bounds = day_start(&state, &date).zip(day_after(&state, &date));
    if bounds.is_none() {
        errors.push(FieldError::new("date", "must be a date, YYYY-MM-DD"));
    }
    check(errors)?;
    let (from, to) = bounds.unwrap_or_default();
    let pool = state.store.unreviewed_calls(from, to).await?;
    let ids = crate::qa::daily_sample(&date, usize::try_from(per_agent).unwrap_or(2), &pool);
    let (_, calls) = state
        .store
        .search_recordings(&RecordingSearch {
            limit: MAX_SEARCH * 50,
            ids: Some(ids),
            ..RecordingSearch::default()
        })
        .await?;
    Ok(Json(Sample { date, calls }))
}

/// The recording's facts, if the caller may see its reviews: 404 without
/// a recording, 403 for an agent not on the call.
async fn reviewable(
    state: &ApiState,
    caller: &Caller,
    id: &str,
) -> Result<crate::store::recordings::RecordingFile, AppError> {
    let rec = state
        .store
        .recording_file(id)
        .await?
        .ok_or(AppError::NotFound("recording"))?;
    if caller.0.role == Role::Agent && !rec.agents.contains(&caller.0.id) {
        return Err(AppError::Forbidden);
    }
    Ok(rec)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Reviews {
    /// Oldest first.
    scores: Vec<QaScore>,
    /// By their moment in the recording.
    comments: Vec<QaComment>,
}

/// The scores and comments of a call; an agent sees those of their own
/// calls.
#[utoipa::path(get, path = "/api/calls/{id}/qa", tag = "qa",
    params(("id" = String, Path, description = "hotline's call id")),
    responses((status = 200, body = Reviews), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn reviews(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Reviews>, AppError> {
    reviewable(&state, &caller, &id).await?;
    let (scores, comments) = state.store.reviews(&id).await?;
    Ok(Json(Reviews { scores, comments }))
}

/// `PUT /api/calls/{id}/scores/{scorecard}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreInput {
    /// Every criterion of the scorecard: met (`true`) or not.
    items: BTreeMap<String, bool>,
    #[serde(default)]
    note: String,
}

/// Scores the call with a scorecard: your review (saving again replaces
/// it). The total is the weights of the criteria met, 0 if one that fails
/// the whole call was not met.
#[utoipa::path(put, path = "/api/calls/{id}/scores/{scorecard}", tag = "qa",
    params(("id" = String, Path, description = "hotline's call id"),
        ("scorecard" = String, Path, description = "the scorecard's name")),
    request_body = ScoreInput,
    responses((status = 200, body = QaScore), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn score(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
    Input(body): Input<ScoreInput>,
) -> Result<Json<QaScore>, AppError> {
    let card = scorecards(&state)
        .iter()
        .find(|c| c.name == name)
        .ok_or(AppError::NotFound("scorecard"))?;
    let rec = reviewable(&state, &caller, &id).await?;
    let mut errors = Vec::new();
    let result = match card.score(&body.items) {
        Ok(result) => Some(result),
        Err(problems) => {
            errors.extend(problems.into_iter().map(|(f, m)| FieldError::new(f, m)));
            None
        }
    };
    if body.note.chars().count() > MAX_NOTE {
        errors.push(FieldError::new(
            "note",
            format!("at most {MAX_NOTE} characters"),
        ));
    }
    check(errors)?;
    // A refused score left its errors: `check` answered 400 above.
    let result = result.ok_or(AppError::BadRequest("bad items".into()))?;
    let items = serde_json::to_value(&body.items).unwrap_or_default();
    let saved = state
        .store
        .save_score(&NewScore {
            call_id: &id,
            scorecard: &card.name,
            reviewer_id: caller.0.id,
            agent_id: rec.agents.first().copied(),
            items: &items,
            total: i64::from(result.total),
            failed: result.failed,
            note: body.note.trim(),
            at: now_ms(),
        })
        .await?;
    Ok(Json(saved))
}

/// `POST /api/calls/{id}/comments` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentInput {
    /// The moment of the recording, ms from its start.
    offset_ms: i64,
    text: String,
}

/// Pins a comment to a moment of the call's recording.
#[utoipa::path(post, path = "/api/calls/{id}/comments", tag = "qa",
    params(("id" = String, Path, description = "hotline's call id")),
    request_body = CommentInput,
    responses((status = 201, body = QaComment), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn comment(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(id): Path<String>,
    Input(body): Input<CommentInput>,
) -> Result<(axum::http::StatusCode, Json<QaComment>), AppError> {
    reviewable(&state, &caller, &id).await?;
    let duration = state
        .store
        .call(&id)
        .await?
        .and_then(|c| c.call.recording)
        .filter(|r| r.state != RecordingState::Recording)
        .and_then(|r| r.duration_ms);
    let mut errors = Vec::new();
    let text = body.text.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTE {
        errors.push(FieldError::new(
            "text",
            format!("1 to {MAX_NOTE} characters"),
        ));
    }
    if body.offset_ms < 0 || duration.is_some_and(|d| body.offset_ms > d) {
        errors.push(FieldError::new(
            "offset_ms",
            format!(
                "must be within the recording (0 to {} ms)",
                duration.unwrap_or(0)
            ),
        ));
    }
    check(errors)?;
    let saved = state
        .store
        .add_comment(&id, caller.0.id, body.offset_ms, text, now_ms())
        .await?;
    Ok((axum::http::StatusCode::CREATED, Json(saved)))
}

/// The QA settings the API needs, from the validated settings and the
/// loaded scorecards.
pub fn config(scorecards: Vec<Scorecard>, sample_per_agent: u32) -> Arc<QaConfig> {
    Arc::new(QaConfig {
        scorecards,
        sample_per_agent,
    })
}
