//! The after-sales lookups the IVR makes while a call is up: who is
//! calling, which of their tickets are open, where a ticket stands.
//!
//! Every caller number goes through [`crate::phone::normalise`] first, as
//! the stored numbers did, so `+86 138 0013 8000` finds `13800138000`. A
//! ticket is open while its stage is not `followed_up` or `closed`
//! ([`TicketStage::is_open`]); the SQL says so in [`open_stage!`], with the
//! same condition as the partial index `tickets_open_by_customer_idx`.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::{Store, StoreError, bad_value};
use crate::phone;
pub use crate::ticket::{TicketKind, TicketStage};

/// Most tickets [`Store::open_tickets_by_phone`] returns.
pub const OPEN_TICKETS_LIMIT: i64 = 10;

/// The SQL test for an open ticket of `tickets t`. Keep it as the partial
/// index in migrations/*/0002_customers_tickets.sql writes it, or the
/// index is not used.
macro_rules! open_stage {
    () => {
        "t.stage NOT IN ('followed_up', 'closed')"
    };
}
// The screen pop lists open tickets by the same test.
pub(super) use open_stage;

/// Who is calling, as the IVR needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CustomerSummary {
    pub id: i64,
    pub name: String,
    /// Province, city and district, e.g. `浙江省杭州市西湖区`.
    pub region: String,
    pub vip: bool,
    /// All the customer's numbers, normalised, in ascending order.
    pub phones: Vec<String>,
    /// How many of their tickets are open ([`TicketStage::is_open`]).
    pub open_tickets: i64,
}

/// A ticket with what the IVR says about it: its outlet and product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TicketSummary {
    /// Ten digits.
    pub number: String,
    pub kind: TicketKind,
    /// Fault type, or for complaints the team that owns it.
    pub category: String,
    pub stage: TicketStage,
    pub customer_id: i64,
    /// The outlet it is dispatched to; `None` before dispatch and for work
    /// the call center does itself (the three are `None` together).
    pub outlet_code: Option<String>,
    pub outlet_name: Option<String>,
    /// Normalised.
    pub outlet_phone: Option<String>,
    /// `None` when the ticket names no product.
    pub product_model: Option<String>,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
}

impl FromRow<'_, AnyRow> for TicketSummary {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let kind: String = row.try_get("kind")?;
        let stage: String = row.try_get("stage")?;
        Ok(TicketSummary {
            number: row.try_get("number")?,
            kind: TicketKind::parse(&kind).ok_or_else(|| bad_value("kind", &kind))?,
            category: row.try_get("category")?,
            stage: TicketStage::parse(&stage).ok_or_else(|| bad_value("stage", &stage))?,
            customer_id: row.try_get("customer_id")?,
            outlet_code: row.try_get("outlet_code")?,
            outlet_name: row.try_get("outlet_name")?,
            outlet_phone: row.try_get("outlet_phone")?,
            product_model: row.try_get("product_model")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// `SELECT ... FROM tickets t` with its outlet and product, in
/// [`TicketSummary`] order, as a literal for `concat!`.
macro_rules! ticket_summary_select {
    () => {
        "SELECT t.number, t.kind, t.category, t.stage, t.customer_id, \
         o.code AS outlet_code, o.name AS outlet_name, o.phone AS outlet_phone, \
         p.model AS product_model, t.created_at, t.updated_at \
         FROM tickets t \
         LEFT JOIN outlets o ON o.id = t.outlet_id \
         LEFT JOIN products p ON p.id = t.product_id"
    };
}
// The screen pop lists tickets in the same shape.
pub(super) use ticket_summary_select;

impl Store {
    /// The customer one of whose numbers `raw_phone` is, in any form
    /// [`phone::normalise`] understands; `None` if it is not a number or
    /// nobody has it.
    pub async fn customer_by_phone(
        &self,
        raw_phone: &str,
    ) -> Result<Option<CustomerSummary>, StoreError> {
        let Some(phone) = phone::normalise(raw_phone) else {
            return Ok(None);
        };
        let Some(row) = sqlx::query(concat!(
            "SELECT c.id, c.name, c.region, c.vip, \
             (SELECT COUNT(*) FROM tickets t WHERE t.customer_id = c.id AND ",
            open_stage!(),
            ") AS open_tickets \
             FROM customer_phones cp JOIN customers c ON c.id = cp.customer_id \
             WHERE cp.phone = $1"
        ))
        .bind(&phone)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?
        else {
            return Ok(None);
        };
        let decode = |row: &AnyRow| -> Result<(i64, String, String, i64, i64), sqlx::Error> {
            Ok((
                row.try_get("id")?,
                row.try_get("name")?,
                row.try_get("region")?,
                row.try_get("vip")?,
                row.try_get("open_tickets")?,
            ))
        };
        let (id, name, region, vip, open_tickets) = decode(&row).map_err(StoreError::from_sqlx)?;
        let phones = sqlx::query_scalar::<_, String>(
            "SELECT phone FROM customer_phones WHERE customer_id = $1 ORDER BY phone",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(Some(CustomerSummary {
            id,
            name,
            region,
            vip: vip != 0,
            phones,
            open_tickets,
        }))
    }

    /// The open tickets ([`TicketStage::is_open`]) of the customer who has
    /// `raw_phone`, newest first (ties by number, descending), at most
    /// [`OPEN_TICKETS_LIMIT`]. Empty if the number is unknown or not a
    /// number.
    pub async fn open_tickets_by_phone(
        &self,
        raw_phone: &str,
    ) -> Result<Vec<TicketSummary>, StoreError> {
        let Some(phone) = phone::normalise(raw_phone) else {
            return Ok(Vec::new());
        };
        sqlx::query_as::<_, TicketSummary>(concat!(
            ticket_summary_select!(),
            " JOIN customer_phones cp ON cp.customer_id = t.customer_id \
             WHERE cp.phone = $1 AND ",
            open_stage!(),
            " ORDER BY t.created_at DESC, t.number DESC LIMIT $2"
        ))
        .bind(&phone)
        .bind(OPEN_TICKETS_LIMIT)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// The ticket numbered `number` (exactly: ten digits, as keyed in),
    /// whatever its stage; `None` if there is none.
    pub async fn ticket_by_number(
        &self,
        number: &str,
    ) -> Result<Option<TicketSummary>, StoreError> {
        if number.len() != 10 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        sqlx::query_as::<_, TicketSummary>(concat!(
            ticket_summary_select!(),
            " WHERE t.number = $1"
        ))
        .bind(number)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)
    }
}

#[cfg(test)]
mod tests {
    use super::{TicketKind, TicketStage};

    #[test]
    fn names_round_trip() {
        for k in TicketKind::ALL {
            assert_eq!(TicketKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).ok(), Some(k.as_str().into()));
        }
        for s in TicketStage::ALL {
            assert_eq!(TicketStage::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).ok(), Some(s.as_str().into()));
        }
        assert_eq!(TicketKind::parse("Repair"), None);
        assert_eq!(TicketStage::parse(""), None);
    }

    /// The SQL test and `is_open` agree.
    #[test]
    fn open_stages_match_the_sql() {
        let sql = open_stage!();
        for s in TicketStage::ALL {
            let quoted = format!("'{}'", s.as_str());
            assert_eq!(s.is_open(), !sql.contains(&quoted), "{s}");
        }
    }
}
