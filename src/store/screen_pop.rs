//! The screen pop: what an agent sees the moment the phone rings — who is
//! calling (with all their numbers and products), their last calls and
//! their open tickets — in one [`Store::screen_pop`].
//!
//! It is on the ring path, so it is built for a few index lookups whatever
//! the size of the database, never a scan:
//! - The customer and all their phones come in one round trip: the caller's
//!   number on the `customer_phones` primary key, the customer by id, their
//!   other numbers on `customer_phones_customer_idx`.
//! - The recent calls are a `UNION ALL` of one subquery per phone, each
//!   `WHERE caller = $n ORDER BY arrived_at DESC, id DESC LIMIT 20`, then
//!   the top 20 of those. Each subquery is a range scan of
//!   `calls_caller_idx (caller, arrived_at DESC)` that stops after 20 rows,
//!   so a customer whose numbers made thousands of calls costs no more than
//!   one who made twenty. The plain `caller IN (...) ORDER BY ... LIMIT 20`
//!   reads every call of every number and sorts them, on both backends
//!   (EXPLAIN shows a temp B-tree on SQLite, a bitmap heap scan and a sort
//!   on PostgreSQL): neither merges the ranges of an `IN` list in order.
//!   SQLite allows no `ORDER BY` or
//!   `LIMIT` on a member of a compound select, and PostgreSQL 15 wants an
//!   alias on a subquery in `FROM`, hence `SELECT ... FROM (...) AS pN`.
//!   The text varies only in how many placeholders it has (one per phone);
//!   phones are sent in chunks of at most [`PHONES_PER_QUERY`] so the
//!   compound stays far below SQLite's limit of terms.
//! - The open tickets are those of the customer's id, on
//!   `tickets_open_by_customer_idx`, in the shape and order of
//!   [`Store::open_tickets_by_phone`].
//!
//! The queries run one after another on one pooled connection, outside a
//! transaction: a pop is a glance, and BEGIN/COMMIT would add two round
//! trips. A call or ticket written in between may show in one list and not
//! yet in another.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, FromRow, Row};

use super::lookups::{open_stage, ticket_summary_select};
use super::{OPEN_TICKETS_LIMIT, Product, Store, StoreError, TicketSummary};
use crate::phone;

/// Most calls a screen pop lists.
pub const POP_CALLS_LIMIT: i64 = 20;

/// Most phones in one recent-calls statement; more are queried in further
/// statements and merged. Customers have one to three numbers; this only
/// bounds the statement for the odd customer with very many.
const PHONES_PER_QUERY: usize = 16;

/// What the agent's screen shows when the phone rings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ScreenPop {
    /// The customer one of whose numbers is calling; `None` if unknown.
    pub customer: Option<PopCustomer>,
    /// The last [`POP_CALLS_LIMIT`] calls from any of the customer's
    /// numbers (or from the caller's number when the customer is unknown),
    /// newest first, ties by id descending.
    pub recent_calls: Vec<PopCall>,
    /// The customer's open tickets, as [`Store::open_tickets_by_phone`]
    /// lists them; empty when the customer is unknown.
    pub open_tickets: Vec<TicketSummary>,
}

/// The caller as a customer, with everything an agent asks about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PopCustomer {
    pub id: i64,
    pub name: String,
    /// Province, city and district.
    pub region: String,
    /// Street address for on-site service.
    pub address: String,
    pub vip: bool,
    /// All the customer's numbers, normalised, in ascending order.
    pub phones: Vec<String>,
    /// Their registered products, oldest registration (lowest id) first.
    pub products: Vec<Product>,
}

/// An earlier call, as the pop lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PopCall {
    pub id: String,
    /// The caller's number, normalised.
    pub caller: String,
    /// Epoch ms.
    pub arrived_at: i64,
    /// Epoch ms; `None` if never answered.
    pub answered_at: Option<i64>,
    /// Epoch ms; `None` while up (or if its end was never recorded).
    pub ended_at: Option<i64>,
    /// Every key the caller pressed in the IVR, in order.
    pub digits: String,
    pub hangup_cause: Option<String>,
    /// `inbound` (the customer called) or `outbound` (a campaign called
    /// them; `caller` is then the customer's number too).
    pub direction: String,
    /// The campaign of an outbound call.
    pub campaign: Option<String>,
}

impl FromRow<'_, AnyRow> for PopCall {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(PopCall {
            id: row.try_get("id")?,
            caller: row.try_get("caller")?,
            arrived_at: row.try_get("arrived_at")?,
            answered_at: row.try_get("answered_at")?,
            ended_at: row.try_get("ended_at")?,
            digits: row.try_get("digits")?,
            hangup_cause: row.try_get("hangup_cause")?,
            direction: row.try_get("direction")?,
            campaign: row.try_get("campaign")?,
        })
    }
}

/// The [`PopCall`] columns of `calls`.
const POP_CALL_COLUMNS: &str =
    "id, caller, arrived_at, answered_at, ended_at, digits, hangup_cause, direction, campaign";

/// The recent-calls statement for `n` phones (`$1`..`$n`, the limit in
/// `$n+1`); see the module docs for its shape.
fn recent_calls_sql(n: usize) -> String {
    let mut sql = String::with_capacity(200 * n + 100);
    for i in 1..=n {
        if i > 1 {
            sql.push_str(" UNION ALL ");
        }
        sql.push_str(&format!(
            "SELECT {POP_CALL_COLUMNS} FROM (SELECT {POP_CALL_COLUMNS} FROM calls \
             WHERE caller = ${i} ORDER BY arrived_at DESC, id DESC LIMIT ${l}) AS p{i}",
            l = n + 1
        ));
    }
    sql.push_str(&format!(
        " ORDER BY arrived_at DESC, id DESC LIMIT ${}",
        n + 1
    ));
    sql
}

/// The last [`POP_CALLS_LIMIT`] calls from any of `phones`, newest first.
async fn recent_calls(
    conn: &mut AnyConnection,
    phones: &[String],
) -> Result<Vec<PopCall>, sqlx::Error> {
    let mut calls = Vec::new();
    for chunk in phones.chunks(PHONES_PER_QUERY) {
        // Only the number of placeholders varies; the phones are bound.
        let sql = recent_calls_sql(chunk.len());
        let mut query = sqlx::query_as::<_, PopCall>(AssertSqlSafe(sql));
        for phone in chunk {
            query = query.bind(phone);
        }
        calls.extend(query.bind(POP_CALLS_LIMIT).fetch_all(&mut *conn).await?);
    }
    if phones.len() > PHONES_PER_QUERY {
        calls.sort_by(|a, b| (b.arrived_at, &b.id).cmp(&(a.arrived_at, &a.id)));
        calls.truncate(POP_CALLS_LIMIT as usize);
    }
    Ok(calls)
}

impl Store {
    /// The screen pop for a call from `caller`, in any form
    /// [`phone::normalise`] understands. A number that does not normalise
    /// matches nothing and gives an empty pop.
    pub async fn screen_pop(&self, caller: &str) -> Result<ScreenPop, StoreError> {
        let Some(phone) = phone::normalise(caller) else {
            return Ok(ScreenPop {
                customer: None,
                recent_calls: Vec::new(),
                open_tickets: Vec::new(),
            });
        };
        let mut conn = self.pool.acquire().await.map_err(StoreError::from_sqlx)?;
        pop(&mut conn, phone).await.map_err(StoreError::from_sqlx)
    }
}

async fn pop(conn: &mut AnyConnection, phone: String) -> Result<ScreenPop, sqlx::Error> {
    // One row per phone of the customer who has `phone`, customer columns
    // repeated: the customer and all their numbers in one round trip.
    let rows = sqlx::query(
        "SELECT c.id, c.name, c.region, c.address, c.vip, other.phone \
         FROM customer_phones cp \
         JOIN customers c ON c.id = cp.customer_id \
         JOIN customer_phones other ON other.customer_id = c.id \
         WHERE cp.phone = $1 ORDER BY other.phone",
    )
    .bind(&phone)
    .fetch_all(&mut *conn)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(ScreenPop {
            customer: None,
            recent_calls: recent_calls(conn, &[phone]).await?,
            open_tickets: Vec::new(),
        });
    };
    let id: i64 = first.try_get("id")?;
    let name: String = first.try_get("name")?;
    let region: String = first.try_get("region")?;
    let address: String = first.try_get("address")?;
    let vip: i64 = first.try_get("vip")?;
    let phones = rows
        .iter()
        .map(|row| row.try_get::<String, _>("phone"))
        .collect::<Result<Vec<_>, _>>()?;

    let products = sqlx::query_as::<_, Product>(
        "SELECT id, customer_id, model, serial, purchase_date, warranty_end FROM products \
         WHERE customer_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let recent_calls = recent_calls(conn, &phones).await?;
    let open_tickets = sqlx::query_as::<_, TicketSummary>(concat!(
        ticket_summary_select!(),
        " WHERE t.customer_id = $1 AND ",
        open_stage!(),
        " ORDER BY t.created_at DESC, t.number DESC LIMIT $2"
    ))
    .bind(id)
    .bind(OPEN_TICKETS_LIMIT)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ScreenPop {
        customer: Some(PopCustomer {
            id,
            name,
            region,
            address,
            vip: vip != 0,
            phones,
            products,
        }),
        recent_calls,
        open_tickets,
    })
}

#[cfg(test)]
mod tests {
    use super::recent_calls_sql;

    #[test]
    fn recent_calls_sql_has_one_subquery_per_phone() {
        let sql = recent_calls_sql(3);
        assert_eq!(sql.matches("UNION ALL").count(), 2);
        assert_eq!(sql.matches("WHERE caller = $").count(), 3);
        assert!(sql.contains("caller = $3 ORDER BY"));
        assert_eq!(sql.matches("LIMIT $4").count(), 4);
        assert!(!sql.contains("$5"));
    }
}
