//! Service tickets: open, list, read, edit, and move through their stages.
//!
//! Each move restores the ticket's core from its stored stamps
//! ([`Ticket::restore`]), asks the core for the move
//! ([`Ticket::transition`]: the stage rules, outlet, score and SLA due
//! times all live there), and saves it only if the ticket is still at the
//! version the client read ([`crate::store::Store::save_transition`]). An
//! illegal move is a 409 with the core's reason; a stale version a 409
//! with the current version.
//!
//! Outlet users see only tickets dispatched to their outlet (anything else
//! is a 404, so they cannot probe for numbers), and may only report them in
//! service and completed.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::input::{Input, check, int_param};
use super::{ApiState, AppError, ErrorBody, now_ms};
use crate::store::{NewTicket, StoreError, TicketDetail, TicketEdit, TicketFilter, TicketPage};
use crate::ticket::{Actor, Outlet, Ticket, TicketKind, TicketStage, Transition};
use crate::validate::{FieldError, check_chars};

/// Most tickets one page holds.
pub const MAX_PAGE: i64 = 200;

/// `POST /api/tickets` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    pub customer_id: i64,
    /// One of the customer's products.
    pub product_id: Option<i64>,
    pub kind: TicketKind,
    /// Fault type, or the complaint's subject (which picks its team).
    #[serde(default)]
    pub category: String,
    pub description: String,
    /// The call it is opened on.
    pub call_id: Option<String>,
}

/// `PATCH /api/tickets/{number}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditTicket {
    /// The version read; a 409 if the ticket changed since.
    pub version: i64,
    pub category: Option<String>,
    pub description: Option<String>,
    /// Another of the customer's products.
    pub product_id: Option<i64>,
}

/// `POST /api/tickets/{number}/transitions` body: move the ticket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveTicket {
    /// The version read; a 409 if the ticket changed since.
    pub version: i64,
    pub to: TicketStage,
    /// Dispatch only: the outlet that will do the work.
    pub outlet_id: Option<i64>,
    /// Follow-up only: the customer's satisfaction, 1-5.
    pub score: Option<u8>,
    /// Why (re-dispatch, reopening); shown in the history.
    pub reason: Option<String>,
}

/// `GET /api/tickets` query; every parameter narrows the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// accepted, dispatched, in_service, completed, followed_up, closed, reopened
    pub stage: Option<String>,
    /// repair, installation, consultation, complaint
    pub kind: Option<String>,
    pub outlet_id: Option<String>,
    pub customer_id: Option<String>,
    /// A complaint team.
    pub team: Option<String>,
    /// `true`: only tickets past their due time now.
    pub overdue: Option<String>,
    /// `true`: only open tickets; `false`: only followed-up and closed.
    pub open: Option<String>,
    /// 1-200, default 50.
    pub limit: Option<String>,
    /// Default 0.
    pub offset: Option<String>,
}

fn bool_param(errors: &mut Vec<FieldError>, name: &str, value: Option<&str>) -> Option<bool> {
    match value {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            errors.push(FieldError::new(name, "must be true or false"));
            None
        }
    }
}

fn enum_param<T>(
    errors: &mut Vec<FieldError>,
    name: &str,
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
    all: &[&str],
) -> Option<T> {
    let text = value?;
    let parsed = parse(text);
    if parsed.is_none() {
        errors.push(FieldError::new(
            name,
            format!("must be one of {}", all.join(", ")),
        ));
    }
    parsed
}

fn id_param(errors: &mut Vec<FieldError>, name: &str, value: Option<&str>) -> Option<i64> {
    value.map(|_| int_param(errors, name, value, 0, 1..=i64::MAX))
}

/// Tickets, newest first. Outlet users get their outlet's only.
#[utoipa::path(get, path = "/api/tickets", tag = "tickets", params(TicketQuery),
    responses((status = 200, body = TicketPage), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<TicketQuery>,
) -> Result<Json<TicketPage>, AppError> {
    let mut errors = Vec::new();
    let stages: Vec<&str> = TicketStage::ALL.iter().map(|s| s.as_str()).collect();
    let kinds: Vec<&str> = TicketKind::ALL.iter().map(|k| k.as_str()).collect();
    let mut filter = TicketFilter {
        stage: enum_param(
            &mut errors,
            "stage",
            q.stage.as_deref(),
            TicketStage::parse,
            &stages,
        ),
        kind: enum_param(
            &mut errors,
            "kind",
            q.kind.as_deref(),
            TicketKind::parse,
            &kinds,
        ),
        outlet_id: id_param(&mut errors, "outlet_id", q.outlet_id.as_deref()),
        customer_id: id_param(&mut errors, "customer_id", q.customer_id.as_deref()),
        team: q.team.clone(),
        overdue_at: bool_param(&mut errors, "overdue", q.overdue.as_deref())
            .filter(|o| *o)
            .map(|_| now_ms()),
        open: bool_param(&mut errors, "open", q.open.as_deref()),
        limit: int_param(&mut errors, "limit", q.limit.as_deref(), 50, 1..=MAX_PAGE),
        offset: int_param(&mut errors, "offset", q.offset.as_deref(), 0, 0..=1_000_000),
    };
    check(errors)?;
    if let Some(outlet) = caller.outlet_scope() {
        filter.outlet_id = Some(outlet);
    }
    Ok(Json(state.store.list_tickets(&filter).await?))
}

/// Opens a ticket. A complaint goes to the team its category is mapped to.
#[utoipa::path(post, path = "/api/tickets", tag = "tickets", request_body = CreateTicket,
    responses(
        (status = 201, body = TicketDetail),
        (status = 400, description = "Invalid fields, or an unknown customer or product", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ApiState>,
    Extension(Caller(user)): Extension<Caller>,
    Input(req): Input<CreateTicket>,
) -> Result<(StatusCode, Json<TicketDetail>), AppError> {
    let mut errors = Vec::new();
    check_chars(&mut errors, "category", req.category.trim(), 0, 40);
    check_chars(&mut errors, "description", req.description.trim(), 1, 2000);
    if let Some(call) = &req.call_id {
        check_chars(&mut errors, "call_id", call, 1, 64);
    }
    if req.kind == TicketKind::Complaint && req.category.trim().is_empty() {
        errors.push(FieldError::new(
            "category",
            "a complaint needs its subject, which picks the team",
        ));
    }
    check(errors)?;
    let desk = &state.desk;
    let now = now_ms();
    let ticket = Ticket::accept(req.kind, now, Actor::User(user.id), &desk.sla);
    let category = req.category.trim().to_owned();
    let new = NewTicket {
        customer_id: req.customer_id,
        product_id: req.product_id,
        kind: req.kind,
        team: (req.kind == TicketKind::Complaint).then(|| desk.team_for(&category).to_owned()),
        category,
        description: req.description.trim().to_owned(),
        call_id: req.call_id,
    };
    match state
        .store
        .insert_ticket(&new, &ticket, &desk.number_day(now))
        .await
    {
        Ok(detail) => Ok((StatusCode::CREATED, Json(detail))),
        Err(StoreError::NotFound(what @ ("customer" | "product"))) => Err(AppError::field(
            &format!("{what}_id"),
            format!(
                "no such {what}{}",
                if what == "product" {
                    " of this customer"
                } else {
                    ""
                }
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The ticket the caller may see: 404 for an outlet user when it is not
/// their outlet's.
async fn visible(
    state: &ApiState,
    caller: &Caller,
    number: &str,
) -> Result<TicketDetail, AppError> {
    let detail = state
        .store
        .ticket_detail(number)
        .await?
        .ok_or(AppError::NotFound("ticket"))?;
    match caller.outlet_scope() {
        Some(outlet) if detail.ticket.outlet_id != Some(outlet) => {
            Err(AppError::NotFound("ticket"))
        }
        _ => Ok(detail),
    }
}

/// A ticket with every stage it reached.
#[utoipa::path(get, path = "/api/tickets/{number}", tag = "tickets",
    params(("number" = String, Path, description = "Ten-digit ticket number")),
    responses((status = 200, body = TicketDetail), (status = 404, body = ErrorBody)))]
pub async fn detail(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<String>,
) -> Result<Json<TicketDetail>, AppError> {
    Ok(Json(visible(&state, &caller, &number).await?))
}

/// Edits a ticket's category, description or product.
#[utoipa::path(patch, path = "/api/tickets/{number}", tag = "tickets", request_body = EditTicket,
    params(("number" = String, Path, description = "Ten-digit ticket number")),
    responses(
        (status = 200, body = TicketDetail),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Changed since it was read", body = ErrorBody),
    ))]
pub async fn edit(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<String>,
    Input(req): Input<EditTicket>,
) -> Result<Json<TicketDetail>, AppError> {
    let mut errors = Vec::new();
    if let Some(c) = &req.category {
        check_chars(&mut errors, "category", c.trim(), 0, 40);
    }
    if let Some(d) = &req.description {
        check_chars(&mut errors, "description", d.trim(), 1, 2000);
    }
    check(errors)?;
    let current = visible(&state, &caller, &number).await?.ticket;
    let category = req.category.map(|c| c.trim().to_owned());
    let edit = TicketEdit {
        team: category
            .as_deref()
            .filter(|_| current.kind == TicketKind::Complaint)
            .map(|c| state.desk.team_for(c).to_owned()),
        category,
        description: req.description.map(|d| d.trim().to_owned()),
        product_id: req.product_id.map(Some),
    };
    match state
        .store
        .edit_ticket(
            current.id,
            current.customer_id,
            req.version,
            &edit,
            now_ms(),
        )
        .await
    {
        Ok(detail) => Ok(Json(detail)),
        Err(StoreError::NotFound("product")) => Err(AppError::field(
            "product_id",
            "no such product of this customer",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Moves a ticket to another stage: dispatch (with `outlet_id`), in
/// service, completed, followed up (with `score`), closed, or reopened.
/// Outlet users may only report their tickets in service and completed.
#[utoipa::path(post, path = "/api/tickets/{number}/transitions", tag = "tickets",
    request_body = MoveTicket,
    params(("number" = String, Path, description = "Ten-digit ticket number")),
    responses(
        (status = 200, description = "Moved; the ticket with its new stamp and due time", body = TicketDetail),
        (status = 400, body = ErrorBody),
        (status = 403, description = "An outlet user moving to another stage", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "An illegal move, or changed since it was read", body = ErrorBody),
    ))]
pub async fn transition(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(number): Path<String>,
    Input(req): Input<MoveTicket>,
) -> Result<Json<TicketDetail>, AppError> {
    let mut errors = Vec::new();
    if let Some(reason) = &req.reason {
        check_chars(&mut errors, "reason", reason.trim(), 1, 500);
    }
    check(errors)?;
    if caller.outlet_scope().is_some()
        && !matches!(req.to, TicketStage::InService | TicketStage::Completed)
    {
        return Err(AppError::Forbidden);
    }
    let detail = visible(&state, &caller, &number).await?;
    if detail.ticket.version != req.version {
        return Err(AppError::Stale {
            current: detail.ticket.version,
        });
    }
    let desk = &state.desk;
    let mut ticket = Ticket::restore(detail.ticket.accepted_kind, detail.core_stamps(), &desk.sla)
        .map_err(|e| {
            tracing::error!(ticket = %number, error = %e, "stored stamps do not replay");
            AppError::Conflict(format!(
                "ticket {number}'s stored history is inconsistent; an administrator must look at it"
            ))
        })?;
    let outlet = match req.outlet_id {
        Some(id) => {
            let o = state
                .store
                .outlet(id)
                .await?
                .ok_or_else(|| AppError::field("outlet_id", "no such outlet"))?;
            Some(Outlet {
                id: o.id,
                tier: o.tier,
            })
        }
        None => None,
    };
    // A stamp never goes before the last one, even if this clock is behind
    // the one that wrote it.
    let last_at = ticket.stamps().last().map_or(0, |s| s.at_ms);
    let request = Transition {
        to: req.to,
        version: ticket.version(),
        at_ms: now_ms().max(last_at),
        actor: Actor::User(caller.0.id),
        outlet,
        score: req.score,
        reason: req.reason.map(|r| r.trim().to_owned()),
    };
    ticket.transition(request, &desk.sla)?;
    let saved = state
        .store
        .save_transition(detail.ticket.id, req.version, &ticket)
        .await?;
    tracing::info!(ticket = %number, to = %req.to, user = %caller.0.username, "ticket moved");
    Ok(Json(saved))
}
