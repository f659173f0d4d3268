//! `/api/campaigns` and `/api/do-not-call` (supervisors and admins): the
//! configured outbound campaigns with their contacts by state, a contact
//! added by hand, and a number put on the do-not-call list. The dialler
//! itself is not running yet (issue 8 in progress): contacts wait.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::Input;
use super::{ApiState, AppError, ErrorBody, now_ms};
use crate::campaign::{Mode, Rules};
use crate::store::campaigns::NewContact;

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
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignList {
    campaigns: Vec<CampaignView>,
}

fn campaigns(state: &ApiState) -> &[Rules] {
    state.campaigns.as_deref().unwrap_or(&[])
}

/// The configured campaigns, each with its contacts counted by state.
#[utoipa::path(get, path = "/api/campaigns", tag = "campaigns",
    responses((status = 200, body = CampaignList)))]
pub async fn list(State(state): State<ApiState>) -> Result<Json<CampaignList>, AppError> {
    let mut out = Vec::new();
    for c in campaigns(&state) {
        let (kind, target) = match &c.mode {
            Mode::Survey { flow } => ("survey", flow.clone()),
            Mode::Preview { queue } => ("preview", queue.clone()),
            Mode::Progressive { queue } => ("progressive", queue.clone()),
            Mode::Callbacks { queue } => ("callbacks", queue.clone()),
        };
        out.push(CampaignView {
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
        });
    }
    Ok(Json(CampaignList { campaigns: out }))
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
    let rules = campaigns(&state)
        .iter()
        .find(|c| c.name == name)
        .ok_or(AppError::NotFound("campaign"))?;
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
    phone: String,
    #[serde(default)]
    reason: String,
}

/// Puts a number on the do-not-call list: no campaign dials it again.
#[utoipa::path(post, path = "/api/do-not-call", tag = "campaigns", request_body = DoNotCallInput,
    responses((status = 204), (status = 400, body = ErrorBody)))]
pub async fn do_not_call(
    State(state): State<ApiState>,
    Input(body): Input<DoNotCallInput>,
) -> Result<StatusCode, AppError> {
    let raw = body.phone.trim();
    let number = crate::phone::normalise(raw)
        .ok_or_else(|| AppError::field("phone", format!("`{raw}` is not a phone number")))?;
    if body.reason.chars().count() > 500 {
        return Err(AppError::field("reason", "at most 500 characters"));
    }
    state
        .store
        .add_do_not_call(&number, body.reason.trim(), now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The campaigns the API shows, from the validated settings.
pub fn config(campaigns: Vec<Rules>) -> Arc<[Rules]> {
    campaigns.into()
}
