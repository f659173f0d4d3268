//! `/api/campaigns` and `/api/do-not-call`: the configured outbound
//! campaigns with their switch and contacts by state, the switch itself
//! (running, paused, stopped), a campaign's figures over a span of days, a
//! contact added by hand, and a number or a customer put on the do-not-call
//! list.
//! Supervisors and admins (the do-not-call list: agents too).
//!
//! A stopped campaign stays stopped: the store refuses to switch it again
//! ([`crate::store::Store::set_run_state`]), so two supervisors switching
//! at once cannot bring one back.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::input::Input;
use super::{ApiState, AppError, ErrorBody, now_ms};
use crate::campaign::{Mode, Rules, RunState};
use crate::store::campaign_figures::RunSwitch;
use crate::store::campaigns::NewContact;
use crate::validate::FieldError;

/// A configured campaign as the supervisor sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    name: String,
    /// survey, preview, progressive or callbacks.
    kind: &'static str,
    /// The survey flow, or the queue whose agents call.
    target: String,
    caller_id: String,
    concurrency: u32,
    max_attempts: u32,
    /// Contacts by state: waiting, dialling, reached, gave_up, closed.
    contacts: BTreeMap<String, i64>,
    /// The switch: running, paused or stopped (running until switched).
    state: &'static str,
    /// Who last switched it (a username); null if nobody has.
    state_changed_by: Option<String>,
    /// When it was last switched, epoch ms; null if never.
    state_changed_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignList {
    campaigns: Vec<CampaignView>,
}

fn campaigns(state: &ApiState) -> &[Rules] {
    state.campaigns.as_deref().unwrap_or(&[])
}

/// The configured campaign `name`, or 404.
pub(super) fn campaign<'a>(state: &'a ApiState, name: &str) -> Result<&'a Rules, AppError> {
    campaigns(state)
        .iter()
        .find(|c| c.name == name)
        .ok_or(AppError::NotFound("campaign"))
}

/// A campaign as the supervisor sees it, with its switch as last set.
async fn view(
    state: &ApiState,
    c: &Rules,
    switches: &HashMap<String, RunSwitch>,
) -> Result<CampaignView, AppError> {
    let (kind, target) = match &c.mode {
        Mode::Survey { flow } => ("survey", flow.clone()),
        Mode::Preview { queue } => ("preview", queue.clone()),
        Mode::Progressive { queue } => ("progressive", queue.clone()),
        Mode::Callbacks { queue } => ("callbacks", queue.clone()),
    };
    let switch = switches.get(&c.name);
    Ok(CampaignView {
        name: c.name.clone(),
        kind,
        target,
        caller_id: c.caller_id.clone(),
        concurrency: c.concurrency,
        max_attempts: c.max_attempts,
        contacts: state
            .store
            .contact_counts(&c.name)
            .await?
            .into_iter()
            .collect(),
        state: switch.map_or(RunState::Running, |s| s.state).as_str(),
        state_changed_by: switch.map(|s| s.changed_by.clone()),
        state_changed_at: switch.map(|s| s.changed_at),
    })
}

/// The configured campaigns, each with its switch and its contacts
/// counted by state.
#[utoipa::path(get, path = "/api/campaigns", tag = "campaigns",
    responses((status = 200, body = CampaignList)))]
pub async fn list(State(state): State<ApiState>) -> Result<Json<CampaignList>, AppError> {
    let switches = state.store.run_switches().await?;
    let mut out = Vec::new();
    for c in campaigns(&state) {
        out.push(view(&state, c, &switches).await?);
    }
    Ok(Json(CampaignList { campaigns: out }))
}

/// `PUT /api/campaigns/{name}/state` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateInput {
    /// running, paused or stopped.
    state: String,
}

/// Switches a campaign: `running` dials (inside its calling window),
/// `paused` dials nothing new (calls up go on) until it runs again,
/// `stopped` dials nothing ever again. Every server instance sees the
/// switch within a second. Stopped is final: 409 for any other state
/// once stopped (stopping it again changes nothing and answers 200).
#[utoipa::path(put, path = "/api/campaigns/{name}/state", tag = "campaigns",
    params(("name" = String, Path, description = "the campaign's name")),
    request_body = StateInput,
    responses((status = 200, body = CampaignView, description = "the campaign, switched"),
        (status = 400, body = ErrorBody, description = "not running, paused or stopped"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the campaign is stopped, which is final")))]
pub async fn set_state(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(name): Path<String>,
    Input(body): Input<StateInput>,
) -> Result<Json<CampaignView>, AppError> {
    let rules = campaign(&state, &name)?;
    let wanted = RunState::parse(body.state.trim())
        .ok_or_else(|| AppError::field("state", "must be running, paused or stopped"))?;
    let user = &caller.0.username;
    let switched = state
        .store
        .set_run_state(&rules.name, wanted, user, now_ms())
        .await?;
    if switched {
        tracing::info!(
            campaign = rules.name,
            user,
            state = wanted.as_str(),
            "campaign switched"
        );
    } else if wanted != RunState::Stopped {
        return Err(AppError::Conflict(format!(
            "campaign {} is stopped, and a stopped campaign stays stopped: it cannot be {} again",
            rules.name,
            match wanted {
                RunState::Paused => "paused",
                _ => "run",
            }
        )));
    }
    let switches = state.store.run_switches().await?;
    Ok(Json(view(&state, rules, &switches).await?))
}

/// The longest span `GET /api/campaigns/{name}/figures` counts, in days.
pub const MAX_FIGURE_DAYS: i32 = 366;
/// The span counted without `from`, in days up to and including `to`.
pub const DEFAULT_FIGURE_DAYS: i32 = 30;

/// `GET /api/campaigns/{name}/figures` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FiguresQuery {
    /// First day counted (YYYY-MM-DD, the service desk's time zone);
    /// default: 29 days before `to`.
    from: Option<String>,
    /// Last day counted, inclusive; default: today.
    to: Option<String>,
}

/// A campaign's figures over a span of days. Rates are fractions (0.4,
/// not 40), null when there is nothing to divide by.
#[derive(Debug, Serialize, ToSchema)]
pub struct Figures {
    campaign: String,
    /// The first day counted, YYYY-MM-DD.
    from: String,
    /// The last day counted (inclusive).
    to: String,
    /// The span counted, epoch ms: from midnight starting `from` up to,
    /// not including, midnight ending `to`, in the desk's time zone.
    from_ms: i64,
    to_ms: i64,
    /// Outbound calls of the campaign that started in the span (a call
    /// that began before midnight and ended after counts on its first day).
    attempts: i64,
    /// Of those, the ones the customer answered (outcome `answered`).
    answered: i64,
    /// answered / attempts.
    answer_rate: Option<f64>,
    /// Distinct contacts with an attempt that started in the span.
    contacts_dialled: i64,
    /// attempts / contacts_dialled.
    attempts_per_contact: Option<f64>,
    /// Survey campaigns only (null for the others).
    survey: Option<SurveyFigures>,
}

/// How completed tickets were followed up, over the same span. Desk-wide:
/// a follow-up by the survey or by an agent counts alike.
#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyFigures {
    /// Tickets completed in the span (each completion: a ticket reopened
    /// and completed again counts again).
    tickets_completed: i64,
    /// Of those completions, the ones followed up since (at any time up
    /// to now, before any later completion of the ticket).
    followed_up: i64,
    /// followed_up / tickets_completed.
    coverage: Option<f64>,
    /// Follow-up scores given in the span, by score: `{"1": n, ..., "5": n}`.
    scores: BTreeMap<String, i64>,
    /// All follow-up scores given in the span (the sum of `scores`).
    scored: i64,
    /// The lowest satisfied score (`tickets.satisfied_from`).
    satisfied_from: u8,
    /// Scores in the span of `satisfied_from` or more.
    satisfied: i64,
    /// satisfied / scored.
    satisfaction_rate: Option<f64>,
}

/// An optional day, YYYY-MM-DD (not at the very edge of the calendar,
/// which has no midnight after it).
fn date_param(field: &str, value: Option<&str>) -> Result<Option<jiff::civil::Date>, FieldError> {
    let Some(text) = value.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match text.parse::<jiff::civil::Date>() {
        Ok(d) if d.tomorrow().is_ok() && d.yesterday().is_ok() => Ok(Some(d)),
        _ => Err(FieldError::new(field, "must be a date, YYYY-MM-DD")),
    }
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// A campaign's figures for the days `from` to `to` (inclusive, in the
/// service desk's time zone; default the last 30 days up to today), each
/// counted by the database. 400 for a date that is not one, `to` before
/// `from`, or more than 366 days.
#[utoipa::path(get, path = "/api/campaigns/{name}/figures", tag = "campaigns",
    params(("name" = String, Path, description = "the campaign's name"), FiguresQuery),
    responses((status = 200, body = Figures), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn figures(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<FiguresQuery>,
) -> Result<Json<Figures>, AppError> {
    let rules = campaign(&state, &name)?;
    let (from, to) = match (
        date_param("from", q.from.as_deref()),
        date_param("to", q.to.as_deref()),
    ) {
        (Ok(from), Ok(to)) => (from, to),
        (from, to) => {
            return Err(AppError::Invalid(
                from.err().into_iter().chain(to.err()).collect(),
            ));
        }
    };
    let today = jiff::Timestamp::from_millisecond(now_ms())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(state.desk.time_zone.clone())
        .date();
    let to_given = to.is_some();
    let to = to.unwrap_or(today);
    let from = match from {
        Some(f) => f,
        None => to
            .checked_sub(jiff::Span::new().days(DEFAULT_FIGURE_DAYS - 1))
            .map_err(|_| AppError::field("to", "must be a date, YYYY-MM-DD"))?,
    };
    if to < from {
        return Err(AppError::field("to", "must not be before `from`"));
    }
    let days = from
        .until(to)
        .map_err(|_| AppError::field("to", "must be a date, YYYY-MM-DD"))?
        .get_days()
        + 1;
    if days > MAX_FIGURE_DAYS {
        return Err(AppError::field(
            if to_given { "to" } else { "from" },
            format!(
                "{from} to {to} is {days} days: at most {MAX_FIGURE_DAYS} days are counted at once"
            ),
        ));
    }
    let (Some(from_ms), Some(to_ms)) = (
        super::qa::midnight(&state, from),
        to.tomorrow()
            .ok()
            .and_then(|d| super::qa::midnight(&state, d)),
    ) else {
        return Err(AppError::field("from", "must be a date, YYYY-MM-DD"));
    };
    let calls = state
        .store
        .campaign_call_figures(&rules.name, from_ms, to_ms)
        .await?;
    let survey = match rules.mode {
        Mode::Survey { .. } => {
            let satisfied_from = state.desk.sla.satisfied_from;
            let f = state
                .store
                .follow_up_figures(from_ms, to_ms, satisfied_from)
                .await?;
            let scored = f.scores.iter().sum();
            Some(SurveyFigures {
                tickets_completed: f.tickets_completed,
                followed_up: f.followed_up,
                coverage: rate(f.followed_up, f.tickets_completed),
                scores: (1..=5)
                    .zip(f.scores)
                    .map(|(score, n)| (score.to_string(), n))
                    .collect(),
                scored,
                satisfied_from,
                satisfied: f.satisfied,
                satisfaction_rate: rate(f.satisfied, scored),
            })
        }
        _ => None,
    };
    Ok(Json(Figures {
        campaign: rules.name.clone(),
        from: from.to_string(),
        to: to.to_string(),
        from_ms,
        to_ms,
        attempts: calls.attempts,
        answered: calls.answered,
        answer_rate: rate(calls.answered, calls.attempts),
        contacts_dialled: calls.contacts_dialled,
        attempts_per_contact: rate(calls.attempts, calls.contacts_dialled),
        survey,
    }))
}

/// `POST /api/campaigns/{name}/contacts` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContactInput {
    /// In any common form.
    phone: String,
    #[serde(default)]
    customer_id: Option<i64>,
    /// The ticket the call is about.
    #[serde(default)]
    ticket: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Enrolled {
    campaign: String,
    /// Normalised.
    number: String,
}

/// Adds a contact to a campaign, due at once (in line after those already
/// waiting). 400 for a number that is not one, is outside the campaign's
/// dial rules or is on the do-not-call list; 409 when the campaign has it.
#[utoipa::path(post, path = "/api/campaigns/{name}/contacts", tag = "campaigns",
    params(("name" = String, Path, description = "the campaign's name")),
    request_body = NewContactInput,
    responses((status = 201, body = Enrolled), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_contact(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Input(body): Input<NewContactInput>,
) -> Result<(StatusCode, Json<Enrolled>), AppError> {
    let rules = campaign(&state, &name)?;
    let raw = body.phone.trim();
    let number = crate::phone::normalise(raw)
        .ok_or_else(|| AppError::field("phone", format!("`{raw}` is not a phone number")))?;
    if !rules.number_allowed(&number) {
        return Err(AppError::field(
            "phone",
            format!("`{raw}` is outside the campaign's dial rules"),
        ));
    }
    if !state
        .store
        .do_not_call_among(std::slice::from_ref(&number))
        .await?
        .is_empty()
    {
        return Err(AppError::field(
            "phone",
            format!("`{raw}` is on the do-not-call list"),
        ));
    }
    let ticket = body
        .ticket
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let now = now_ms();
    let added = state
        .store
        .enroll(
            &NewContact {
                campaign: &rules.name,
                number: &number,
                customer_id: body.customer_id,
                ticket,
                since_at: now,
                due_at: now,
            },
            now,
        )
        .await?;
    if !added {
        return Err(AppError::Conflict(format!(
            "the campaign has {raw} already"
        )));
    }
    Ok((
        StatusCode::CREATED,
        Json(Enrolled {
            campaign: rules.name.clone(),
            number,
        }),
    ))
}

/// `POST /api/do-not-call` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DoNotCallInput {
    /// A number in any form; or
    #[serde(default)]
    phone: Option<String>,
    /// a customer: all their numbers, now and later.
    #[serde(default)]
    customer_id: Option<i64>,
    #[serde(default)]
    reason: String,
}

/// Puts a number on the do-not-call list: no campaign dials it again.
#[utoipa::path(post, path = "/api/do-not-call", tag = "campaigns", request_body = DoNotCallInput,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn do_not_call(
    State(state): State<ApiState>,
    Input(body): Input<DoNotCallInput>,
) -> Result<StatusCode, AppError> {
    if body.reason.chars().count() > 500 {
        return Err(AppError::field("reason", "at most 500 characters"));
    }
    let reason = body.reason.trim();
    match (body.phone.as_deref().map(str::trim), body.customer_id) {
        (Some(raw), None) => {
            let number = crate::phone::normalise(raw).ok_or_else(|| {
                AppError::field("phone", format!("`{raw}` is not a phone number"))
            })?;
            state
                .store
                .add_do_not_call(&number, reason, now_ms())
                .await?;
        }
        (None, Some(customer)) => {
            state
                .store
                .add_do_not_call_customer(customer, reason, now_ms())
                .await?;
        }
        _ => {
            return Err(AppError::field(
                "phone",
                "give a phone number or a customer_id (one of them)",
            ));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The campaigns the API shows, from the validated settings.
pub fn config(campaigns: Vec<Rules>) -> Arc<[Rules]> {
    campaigns.into()
}
