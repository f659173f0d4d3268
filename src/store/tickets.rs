//! Service tickets as stored: the row, every stage's stamp, and the SLA
//! breaches found.
//!
//! The rules of a ticket's life are not here but in [`crate::ticket`]: the
//! API restores a [`Ticket`] from [`TicketDetail::stamps`], moves it there,
//! and hands the result to [`Store::save_transition`], which writes the new
//! stamp and the derived columns (stage, kind, outlet, due stage and time)
//! in one transaction, only if nobody moved or edited the ticket since it
//! was read (`version`, optimistic). So a row's derived columns always
//! equal what replaying its stamps gives.
//!
//! Ticket numbers are `YYMMDD` of the hotline's local day and a 4-digit
//! counter ([`crate::ticket::next_number`]), taken as one past the day's
//! highest in the same transaction as the insert; two inserts racing for
//! a number collide on the UNIQUE constraint, and the loser takes the next.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, FromRow, Row};
use utoipa::ToSchema;

use super::{Store, StoreError, bad_value};
use crate::ticket::{
    Actor, Outlet, OutletTier, Stamp, Ticket, TicketKind, TicketStage, next_number,
};

/// How often a ticket insert retries after losing a number to a
/// concurrent insert.
const NUMBER_ATTEMPTS: usize = 5;

/// A ticket as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TicketRow {
    pub id: i64,
    /// Ten digits: `YYMMDD` and a daily counter; what customers key in.
    pub number: String,
    pub customer_id: i64,
    pub customer_name: String,
    pub product_id: Option<i64>,
    pub product_model: Option<String>,
    /// Now: a reopened ticket is a complaint.
    pub kind: TicketKind,
    /// As accepted.
    pub accepted_kind: TicketKind,
    /// Fault type, or the complaint's subject.
    pub category: String,
    /// The team that owns a complaint; `None` for other kinds.
    pub team: Option<String>,
    pub description: String,
    pub stage: TicketStage,
    pub outlet_id: Option<i64>,
    pub outlet_code: Option<String>,
    pub outlet_name: Option<String>,
    /// The call it was opened on.
    pub call_id: Option<String>,
    /// Bumped by every move and edit; send it back to change the ticket.
    pub version: i64,
    /// The next stage expected and when it is due (epoch ms); `None` once
    /// closed.
    pub due_stage: Option<TicketStage>,
    pub due_at: Option<i64>,
    /// Epoch ms.
    pub created_at: i64,
    pub updated_at: i64,
}

/// One stage a ticket reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StampRow {
    pub stage: TicketStage,
    /// Epoch ms.
    pub at: i64,
    /// Who moved it; `None` for the system.
    pub user_id: Option<i64>,
    pub username: Option<String>,
    /// Dispatched to (dispatch only), with its tier then.
    pub outlet_id: Option<i64>,
    pub outlet_tier: Option<OutletTier>,
    /// The satisfaction score (follow-up only).
    pub score: Option<i64>,
    pub reason: Option<String>,
}

/// A ticket with its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: TicketRow,
    /// Oldest first; the first is the acceptance.
    pub stamps: Vec<StampRow>,
}

impl TicketDetail {
    /// The stamps as [`Ticket::restore`] takes them.
    pub fn core_stamps(&self) -> Vec<Stamp> {
        self.stamps
            .iter()
            .map(|s| Stamp {
                stage: s.stage,
                at_ms: s.at,
                actor: s.user_id.map_or(Actor::System, Actor::User),
                outlet: s
                    .outlet_id
                    .zip(s.outlet_tier)
                    .map(|(id, tier)| Outlet { id, tier }),
                score: s.score.and_then(|n| u8::try_from(n).ok()),
                reason: s.reason.clone(),
            })
            .collect()
    }
}

/// What a new ticket says; validated by the caller.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub customer_id: i64,
    pub product_id: Option<i64>,
    pub kind: TicketKind,
    pub category: String,
    pub description: String,
    pub call_id: Option<String>,
    /// The owning team (complaints).
    pub team: Option<String>,
}

/// Edits to a ticket's text; `None` leaves a field.
#[derive(Debug, Clone, Default)]
pub struct TicketEdit {
    pub category: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` removes the product.
    pub product_id: Option<Option<i64>>,
    /// Set with `category` on a complaint.
    pub team: Option<String>,
}

/// Which tickets a list wants; every field narrows it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TicketFilter {
    pub stage: Option<TicketStage>,
    pub kind: Option<TicketKind>,
    pub outlet_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub team: Option<String>,
    /// Only tickets whose due time is before this instant (epoch ms).
    pub overdue_at: Option<i64>,
    /// Open ([`TicketStage::is_open`]) or not.
    pub open: Option<bool>,
    pub limit: i64,
    pub offset: i64,
}

/// A page of tickets, newest first, and how many match in all.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketPage {
    pub tickets: Vec<TicketRow>,
    pub total: i64,
}

/// An SLA breach just found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BreachRow {
    pub ticket_id: i64,
    pub number: String,
    /// The stage that was due.
    pub stage: TicketStage,
    pub due_at: i64,
}

fn stage_col(row: &AnyRow, col: &str) -> Result<TicketStage, sqlx::Error> {
    let s: String = row.try_get(col)?;
    TicketStage::parse(&s).ok_or_else(|| bad_value(col, &s))
}

fn kind_col(row: &AnyRow, col: &str) -> Result<TicketKind, sqlx::Error> {
    let s: String = row.try_get(col)?;
    TicketKind::parse(&s).ok_or_else(|| bad_value(col, &s))
}

impl FromRow<'_, AnyRow> for TicketRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let due_stage: Option<String> = row.try_get("due_stage")?;
        Ok(TicketRow {
            id: row.try_get("id")?,
            number: row.try_get("number")?,
            customer_id: row.try_get("customer_id")?,
            customer_name: row.try_get("customer_name")?,
            product_id: row.try_get("product_id")?,
            product_model: row.try_get("product_model")?,
            kind: kind_col(row, "kind")?,
            accepted_kind: kind_col(row, "accepted_kind")?,
            category: row.try_get("category")?,
            team: row.try_get("team")?,
            description: row.try_get("description")?,
            stage: stage_col(row, "stage")?,
            outlet_id: row.try_get("outlet_id")?,
            outlet_code: row.try_get("outlet_code")?,
            outlet_name: row.try_get("outlet_name")?,
            call_id: row.try_get("call_id")?,
            version: row.try_get("version")?,
            due_stage: due_stage
                .map(|s| TicketStage::parse(&s).ok_or_else(|| bad_value("due_stage", &s)))
                .transpose()?,
            due_at: row.try_get("due_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

impl FromRow<'_, AnyRow> for StampRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let tier: Option<String> = row.try_get("outlet_tier")?;
        Ok(StampRow {
            stage: stage_col(row, "stage")?,
            at: row.try_get("at")?,
            user_id: row.try_get("user_id")?,
            username: row.try_get("username")?,
            outlet_id: row.try_get("outlet_id")?,
            outlet_tier: tier
                .map(|t| OutletTier::parse(&t).ok_or_else(|| bad_value("outlet_tier", &t)))
                .transpose()?,
            score: row.try_get("score")?,
            reason: row.try_get("reason")?,
        })
    }
}

/// `SELECT` of [`TicketRow`] from `tickets t` and what it joins.
macro_rules! ticket_row_select {
    () => {
        "SELECT t.id, t.number, t.customer_id, c.name AS customer_name, t.product_id, \
         p.model AS product_model, t.kind, t.accepted_kind, t.category, t.team, t.description, \
         t.stage, t.outlet_id, o.code AS outlet_code, o.name AS outlet_name, t.call_id, \
         t.version, t.due_stage, t.due_at, t.created_at, t.updated_at \
         FROM tickets t \
         JOIN customers c ON c.id = t.customer_id \
         LEFT JOIN products p ON p.id = t.product_id \
         LEFT JOIN outlets o ON o.id = t.outlet_id"
    };
}

/// The filter of [`Store::list_tickets`]: each `$n IS NULL OR` lets a
/// missing filter match everything, so one static SQL text serves all.
macro_rules! ticket_filter {
    () => {
        " WHERE ($1 IS NULL OR t.stage = $1) \
           AND ($2 IS NULL OR t.kind = $2) \
           AND ($3 IS NULL OR t.outlet_id = $3) \
           AND ($4 IS NULL OR t.customer_id = $4) \
           AND ($5 IS NULL OR t.team = $5) \
           AND ($6 IS NULL OR t.due_at < $6) \
           AND ($7 IS NULL OR ($7 = 1) = (t.stage NOT IN ('followed_up', 'closed')))"
    };
}

pub(super) fn due_columns(ticket: &Ticket) -> (Option<&'static str>, Option<i64>) {
    match ticket.due() {
        Some(due) => (Some(due.stage.as_str()), Some(due.at_ms)),
        None => (None, None),
    }
}

impl Store {
    /// Stores a newly accepted ticket (`ticket` is its core, as
    /// [`Ticket::accept`] made it) under the next number of `day`.
    /// [`StoreError::NotFound`] names a missing customer or product (a
    /// product must be the customer's).
    pub async fn insert_ticket(
        &self,
        new: &NewTicket,
        ticket: &Ticket,
        day: &str,
    ) -> Result<TicketDetail, StoreError> {
        let mut attempt = 0;
        let id = loop {
            attempt += 1;
            match self.try_insert_ticket(new, ticket, day).await {
                Err(StoreError::Duplicate(_)) if attempt < NUMBER_ATTEMPTS => continue,
                // Lost the race every time: a storm of inserts; the client
                // may retry (503), nothing was written.
                Err(StoreError::Duplicate(_)) => {
                    return Err(StoreError::Unavailable(sqlx::Error::Protocol(
                        "ticket numbers kept colliding".into(),
                    )));
                }
                other => break other?,
            }
        };
        self.ticket_detail_by_id(id)
            .await?
            .ok_or(StoreError::NotFound("ticket"))
    }

    async fn try_insert_ticket(
        &self,
        new: &NewTicket,
        ticket: &Ticket,
        day: &str,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let customer: Option<i64> = sqlx::query_scalar("SELECT id FROM customers WHERE id = $1")
            .bind(new.customer_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        if customer.is_none() {
            return Err(StoreError::NotFound("customer"));
        }
        if let Some(product) = new.product_id {
            require_product(&mut tx, product, new.customer_id).await?;
        }
        let last: Option<String> = sqlx::query_scalar(
            "SELECT MAX(number) FROM tickets WHERE number >= $1 AND number <= $2",
        )
        .bind(format!("{day}0000"))
        .bind(format!("{day}9999"))
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        let number = next_number(day, last.as_deref()).ok_or(StoreError::NoTicketNumbers)?;
        let accepted = &ticket.stamps()[0];
        let (due_stage, due_at) = due_columns(ticket);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tickets (number, customer_id, product_id, kind, accepted_kind, category, \
             description, stage, call_id, team, version, due_stage, due_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, 'accepted', $7, $8, 0, $9, $10, $11, $11) \
             RETURNING id",
        )
        .bind(&number)
        .bind(new.customer_id)
        .bind(new.product_id)
        .bind(new.kind.as_str())
        .bind(&new.category)
        .bind(&new.description)
        .bind(new.call_id.as_deref())
        .bind(new.team.as_deref())
        .bind(due_stage)
        .bind(due_at)
        .bind(accepted.at_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::from_sqlx_unique(e, "ticket number"))?;
        insert_stamp(&mut tx, id, 0, accepted)
            .await
            .map_err(StoreError::from_sqlx)?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(id)
    }

    /// The ticket numbered `number`, with its stamps.
    pub async fn ticket_detail(&self, number: &str) -> Result<Option<TicketDetail>, StoreError> {
        let row =
            sqlx::query_as::<_, TicketRow>(concat!(ticket_row_select!(), " WHERE t.number = $1"))
                .bind(number)
                .fetch_optional(self.pool())
                .await
                .map_err(StoreError::from_sqlx)?;
        self.with_stamps(row).await
    }

    async fn ticket_detail_by_id(&self, id: i64) -> Result<Option<TicketDetail>, StoreError> {
        let row = sqlx::query_as::<_, TicketRow>(concat!(ticket_row_select!(), " WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(StoreError::from_sqlx)?;
        self.with_stamps(row).await
    }

    async fn with_stamps(
        &self,
        row: Option<TicketRow>,
    ) -> Result<Option<TicketDetail>, StoreError> {
        let Some(ticket) = row else {
            return Ok(None);
        };
        let stamps = sqlx::query_as::<_, StampRow>(
            "SELECT s.stage, s.at, s.user_id, u.username, s.outlet_id, s.outlet_tier, s.score, \
             s.reason FROM ticket_stamps s LEFT JOIN users u ON u.id = s.user_id \
             WHERE s.ticket_id = $1 ORDER BY s.seq",
        )
        .bind(ticket.id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(Some(TicketDetail { ticket, stamps }))
    }

    /// Writes a move: `ticket` is the core after [`Ticket::transition`]
    /// succeeded on the stamps read at `expected_version`. Its last stamp
    /// is inserted and the derived columns set, unless the row moved on
    /// meanwhile ([`StoreError::VersionConflict`]).
    pub async fn save_transition(
        &self,
        id: i64,
        expected_version: i64,
        ticket: &Ticket,
    ) -> Result<TicketDetail, StoreError> {
        let stamps = ticket.stamps();
        let last = &stamps[stamps.len() - 1];
        let (due_stage, due_at) = due_columns(ticket);
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE tickets SET stage = $3, kind = $4, outlet_id = $5, due_stage = $6, \
             due_at = $7, version = version + 1, updated_at = $8 \
             WHERE id = $1 AND version = $2",
        )
        .bind(id)
        .bind(expected_version)
        .bind(ticket.stage().as_str())
        .bind(ticket.kind().as_str())
        .bind(ticket.outlet().map(|o| o.id))
        .bind(due_stage)
        .bind(due_at)
        .bind(last.at_ms)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        if updated.rows_affected() == 0 {
            return Err(stale_or_missing(&mut tx, id).await);
        }
        insert_stamp(&mut tx, id, stamps.len() as i64 - 1, last)
            .await
            .map_err(StoreError::from_sqlx)?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        self.ticket_detail_by_id(id)
            .await?
            .ok_or(StoreError::NotFound("ticket"))
    }

    /// Edits a ticket's text and product, if it is still at
    /// `expected_version`.
    pub async fn edit_ticket(
        &self,
        id: i64,
        customer_id: i64,
        expected_version: i64,
        edit: &TicketEdit,
        now_ms: i64,
    ) -> Result<TicketDetail, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(Some(product)) = edit.product_id {
            require_product(&mut tx, product, customer_id).await?;
        }
        let updated = sqlx::query(
            "UPDATE tickets SET category = COALESCE($3, category), \
             description = COALESCE($4, description), \
             product_id = CASE WHEN $5 = 1 THEN $6 ELSE product_id END, \
             team = COALESCE($7, team), version = version + 1, updated_at = $8 \
             WHERE id = $1 AND version = $2",
        )
        .bind(id)
        .bind(expected_version)
        .bind(edit.category.as_deref())
        .bind(edit.description.as_deref())
        .bind(i64::from(edit.product_id.is_some()))
        .bind(edit.product_id.flatten())
        .bind(edit.team.as_deref())
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        if updated.rows_affected() == 0 {
            return Err(stale_or_missing(&mut tx, id).await);
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        self.ticket_detail_by_id(id)
            .await?
            .ok_or(StoreError::NotFound("ticket"))
    }

    /// Tickets matching `filter`, newest first.
    pub async fn list_tickets(&self, filter: &TicketFilter) -> Result<TicketPage, StoreError> {
        let bind = |sql| {
            sqlx::query(sql)
                .bind(filter.stage.map(TicketStage::as_str))
                .bind(filter.kind.map(TicketKind::as_str))
                .bind(filter.outlet_id)
                .bind(filter.customer_id)
                .bind(filter.team.as_deref())
                .bind(filter.overdue_at)
                .bind(filter.open.map(i64::from))
        };
        let total: i64 = bind(concat!("SELECT COUNT(*) FROM tickets t", ticket_filter!()))
            .fetch_one(self.pool())
            .await
            .and_then(|row| row.try_get(0))
            .map_err(StoreError::from_sqlx)?;
        let rows = bind(concat!(
            ticket_row_select!(),
            ticket_filter!(),
            " ORDER BY t.created_at DESC, t.id DESC LIMIT $8 OFFSET $9"
        ))
        .bind(filter.limit)
        .bind(filter.offset)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        let tickets = rows
            .iter()
            .map(TicketRow::from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from_sqlx)?;
        Ok(TicketPage { tickets, total })
    }

    /// Records every due time passed by `now_ms` that is not recorded yet,
    /// and returns those: each breach is raised once, however often this
    /// runs.
    pub async fn record_breaches(&self, now_ms: i64) -> Result<Vec<BreachRow>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT t.id, t.number, t.due_stage, t.due_at FROM tickets t \
             WHERE t.due_at IS NOT NULL AND t.due_at < $1 AND NOT EXISTS ( \
               SELECT 1 FROM ticket_breaches b WHERE b.ticket_id = t.id \
               AND b.stage = t.due_stage AND b.due_at = t.due_at) \
             ORDER BY t.due_at",
        )
        .bind(now_ms)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        let mut breaches = Vec::with_capacity(rows.len());
        for row in &rows {
            let breach = BreachRow {
                ticket_id: row.try_get("id").map_err(StoreError::from_sqlx)?,
                number: row.try_get("number").map_err(StoreError::from_sqlx)?,
                stage: stage_col(row, "due_stage").map_err(StoreError::from_sqlx)?,
                due_at: row.try_get("due_at").map_err(StoreError::from_sqlx)?,
            };
            sqlx::query(
                "INSERT INTO ticket_breaches (ticket_id, stage, due_at, detected_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(breach.ticket_id)
            .bind(breach.stage.as_str())
            .bind(breach.due_at)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
            breaches.push(breach);
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(breaches)
    }
}

async fn require_product(
    conn: &mut AnyConnection,
    product: i64,
    customer: i64,
) -> Result<(), StoreError> {
    let owner: Option<i64> = sqlx::query_scalar("SELECT customer_id FROM products WHERE id = $1")
        .bind(product)
        .fetch_optional(conn)
        .await
        .map_err(StoreError::from_sqlx)?;
    match owner {
        Some(owner) if owner == customer => Ok(()),
        _ => Err(StoreError::NotFound("product")),
    }
}

/// Writes stamp `seq` of a ticket (also used by the demo seeding).
pub(super) async fn insert_stamp(
    conn: &mut AnyConnection,
    ticket_id: i64,
    seq: i64,
    stamp: &Stamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ticket_stamps (ticket_id, seq, stage, at, user_id, outlet_id, outlet_tier, \
         score, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(ticket_id)
    .bind(seq)
    .bind(stamp.stage.as_str())
    .bind(stamp.at_ms)
    .bind(match stamp.actor {
        Actor::User(id) => Some(id),
        Actor::System => None,
    })
    .bind(stamp.outlet.map(|o| o.id))
    .bind(stamp.outlet.map(|o| o.tier.as_str()))
    .bind(stamp.score.map(i64::from))
    .bind(stamp.reason.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

/// After an update matched no row: the ticket is gone, or at another
/// version.
async fn stale_or_missing(conn: &mut AnyConnection, id: i64) -> StoreError {
    match sqlx::query_scalar::<_, i64>("SELECT version FROM tickets WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
    {
        Ok(Some(current)) => StoreError::VersionConflict { current },
        Ok(None) => StoreError::NotFound("ticket"),
        Err(e) => StoreError::from_sqlx(e),
    }
}
