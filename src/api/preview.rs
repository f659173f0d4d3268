//! Preview campaigns from the agent's side: the next contact to call, with
//! the customer and the ticket it is about, and the agent's "call" —
//! hotline dials the customer through the trunk and rings that agent the
//! moment the customer answers (agents and supervisors).
//!
//! The contact is claimed under a lease in the agent's name when they
//! call (the same claim the dialer makes, so no dialer and no other agent
//! takes it meanwhile), after every check of the campaign's rules
//! ([`crate::campaign::may_dial`]); the attempt is written when the call
//! ends, as the dialer's are.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::campaigns::campaign;
use super::engine::{EngineRequest, ask};
use super::{ApiState, AppError, ErrorBody, now_ms};
use crate::campaign::{Held, Mode, Refused, RunState, Situation};
use crate::engine::{AfterAnswer, DialError, DialOrder};

/// How long an agent holds a contact they chose to call: the attempt is
/// written when the call ends, well within it (the dialer renews only its
/// own calls' leases), and a contact held by a server that died comes
/// back after it.
const PREVIEW_LEASE_MS: i64 = 4 * 3_600_000;

/// The next contact of a preview campaign, as the agent sees it first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewContact {
    id: i64,
    /// Normalised.
    number: String,
    /// When the contact joined the line (epoch ms).
    since_at: i64,
    /// Attempts made so far, and the last one's outcome.
    attempts: i64,
    outcome: Option<String>,
    customer: Option<PreviewCustomer>,
    ticket: Option<PreviewTicket>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewCustomer {
    id: i64,
    name: String,
    region: String,
    vip: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewTicket {
    number: String,
    /// repair, installation, consultation, complaint.
    kind: String,
    stage: String,
    category: String,
    description: String,
    product_model: Option<String>,
}

/// A preview campaign an agent may call from.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewCampaign {
    name: String,
    /// The queue whose agents call its contacts.
    queue: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewCampaigns {
    campaigns: Vec<PreviewCampaign>,
}

/// The preview campaigns, for the agent's page.
#[utoipa::path(get, path = "/api/preview-campaigns", tag = "campaigns",
    responses((status = 200, body = PreviewCampaigns)))]
pub async fn campaigns(State(state): State<ApiState>) -> Json<PreviewCampaigns> {
    let campaigns = state
        .campaigns
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .filter_map(|c| match &c.mode {
            Mode::Preview { queue } => Some(PreviewCampaign {
                name: c.name.clone(),
                queue: queue.clone(),
            }),
            _ => None,
        })
        .collect();
    Json(PreviewCampaigns { campaigns })
}

/// The campaign `name`, which must be a preview campaign.
fn preview_campaign<'a>(
    state: &'a ApiState,
    name: &str,
) -> Result<(&'a crate::campaign::Rules, &'a str), AppError> {
    let rules = campaign(state, name)?;
    match &rules.mode {
        Mode::Preview { queue } => Ok((rules, queue)),
        _ => Err(AppError::Conflict(format!(
            "{name} is not a preview campaign: its calls are placed by the dialer"
        ))),
    }
}

/// The next contact due in a preview campaign, in line order, with the
/// customer and ticket; 204 when nobody is due.
#[utoipa::path(get, path = "/api/campaigns/{name}/next", tag = "campaigns",
    params(("name" = String, Path, description = "a preview campaign")),
    responses((status = 200, body = PreviewContact), (status = 204, description = "Nobody is due"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn next(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let (rules, _) = preview_campaign(&state, &name)?;
    let due = state.store.due_contacts(&rules.name, now_ms(), 1).await?;
    let Some(c) = due.into_iter().next() else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let ticket = match c.ticket.as_deref() {
        Some(number) => state.store.ticket_detail(number).await?,
        None => None,
    };
    // The customer named on the contact, else the ticket's, else whoever
    // has the number.
    let customer_id = match c
        .customer_id
        .or_else(|| ticket.as_ref().map(|t| t.ticket.customer_id))
    {
        Some(id) => Some(id),
        None => state
            .store
            .screen_pop(&c.number)
            .await?
            .customer
            .map(|p| p.id),
    };
    let customer = match customer_id {
        Some(id) => state.store.customer(id).await?.map(|c| PreviewCustomer {
            id: c.id,
            name: c.name,
            region: c.region,
            vip: c.vip,
        }),
        None => None,
    };
    let view = PreviewContact {
        id: c.id,
        number: c.number,
        since_at: c.since_at,
        attempts: c.attempts,
        outcome: c.outcome,
        customer,
        ticket: ticket.map(|t| PreviewTicket {
            number: t.ticket.number,
            kind: t.ticket.kind.as_str().to_owned(),
            stage: t.ticket.stage.as_str().to_owned(),
            category: t.ticket.category,
            description: t.ticket.description,
            product_model: t.ticket.product_model,
        }),
    };
    Ok(Json(view).into_response())
}

/// The call placed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dialled {
    /// hotline's id of the outbound call.
    call_id: String,
}

/// The agent calls a preview contact: hotline dials the customer and
/// rings this agent when they answer (the agent is made ready for it).
/// 409 when the contact may not be called now (the reason says why:
/// paused, outside the calling hours, do-not-call, the day's cap, taken by
/// someone else) or the agent's screen is not connected.
#[utoipa::path(post, path = "/api/campaigns/{name}/contacts/{id}/dial", tag = "campaigns",
    params(("name" = String, Path, description = "a preview campaign"),
        ("id" = i64, Path, description = "the contact")),
    responses((status = 202, body = Dialled), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn dial(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path((name, id)): Path<(String, i64)>,
) -> Result<(StatusCode, Json<Dialled>), AppError> {
    let (rules, queue) = preview_campaign(&state, &name)?;
    let contact = state
        .store
        .contact(id)
        .await?
        .filter(|c| c.campaign == rules.name)
        .ok_or(AppError::NotFound("contact"))?;
    if contact.state != "waiting" {
        return Err(AppError::Conflict(format!(
            "this contact is {} already",
            contact.state.replace('_', " ")
        )));
    }
    let now = now_ms();
    let switch = state
        .store
        .run_states()
        .await?
        .get(&rules.name)
        .copied()
        .unwrap_or(RunState::Running);
    let numbers = [contact.number.clone()];
    let blocked = !state.store.do_not_call_among(&numbers).await?.is_empty();
    let today = state
        .store
        .dialled_since(&numbers, rules.day_start(now))
        .await?;
    let checked = {
        let do_not_call = |_: &str| blocked;
        let situation = Situation {
            now_ms: now,
            state: switch,
            in_flight: 0,
            trunk_free: 1,
            ready_agents: 1,
            do_not_call: &do_not_call,
            dialled_today: &today,
            daily_cap: state.outbound_daily_cap,
        };
        crate::campaign::may_dial(rules, &situation, &contact.waiting())
    };
    if let Err(why) = checked {
        return Err(AppError::Conflict(
            match why {
                Refused::NotRunning => "the campaign is paused or stopped",
                Refused::WindowClosed => "outside the campaign's calling hours",
                Refused::NotDue => "this contact is not due yet",
                Refused::Held(Held::DoNotCall) => "the number is on the do-not-call list",
                Refused::Held(Held::NotAllowed) => {
                    "the number is outside the campaign's dial rules"
                }
                Refused::Held(Held::DailyCap) => {
                    "the number has had today's attempts (across all campaigns)"
                }
            }
            .to_owned(),
        ));
    }
    let owner = format!("agent:{}", caller.0.id);
    let claimed = state
        .store
        .claim_contacts(&rules.name, &[id], &owner, now, PREVIEW_LEASE_MS)
        .await?;
    if claimed.is_empty() {
        return Err(AppError::Conflict(
            "someone else is calling this contact".into(),
        ));
    }
    let order = DialOrder {
        campaign: rules.name.clone(),
        contact: id,
        attempt: u32::try_from(contact.attempts + 1).unwrap_or(u32::MAX),
        number: contact.number.clone(),
        caller_id: rules.caller_id.clone(),
        then: AfterAnswer::Agent {
            queue: queue.to_owned(),
            agent: Some(caller.0.id),
        },
        lease_owner: owner.clone(),
    };
    let placed = ask(&state, |reply| EngineRequest::Dial { order, reply }).await;
    match placed {
        Ok(Ok(call_id)) => {
            tracing::info!(campaign = %rules.name, contact = id, user = %caller.0.username, call = %call_id, "preview contact dialled by an agent");
            Ok((StatusCode::ACCEPTED, Json(Dialled { call_id })))
        }
        Ok(Err(e)) => {
            state.store.release_contacts(&[id], &owner, now).await?;
            Err(match e {
                DialError::NoAgent => AppError::Conflict(
                    "your agent screen is not connected: open it, then call".into(),
                ),
                DialError::NotNow => AppError::Exhausted(
                    "the server is not taking new calls right now: try again in a moment",
                ),
                DialError::NoTrunk
                | DialError::NoFlow
                | DialError::NoQueue
                | DialError::BadNumber => {
                    tracing::error!(campaign = %rules.name, error = %e, "a preview dial was refused by the engine");
                    AppError::Exhausted("this campaign cannot dial: ask an administrator")
                }
            })
        }
        Err(e) => {
            state.store.release_contacts(&[id], &owner, now).await?;
            Err(e)
        }
    }
}
