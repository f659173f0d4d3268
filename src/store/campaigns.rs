//! Campaign contacts in the store, shared safely by several server
//! instances: a contact is dialled only by the instance that claimed it,
//! under a lease that runs out if that instance dies.
//!
//! Invariants:
//! - A claim moves a contact from `waiting` (due) — or `dialling` under a
//!   lease that ran out — to `dialling` under the claimer's lease, in one
//!   transaction that re-checks the contact's state under its row lock
//!   (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so instances claiming at once
//!   pass each other's rows instead of waiting; SQLite: one writer at a
//!   time, `BEGIN IMMEDIATE`). So no contact is held by two instances at
//!   once, and none is forgotten when one dies.
//! - An attempt's end is written only by the lease's holder; a holder whose
//!   lease was taken over learns it (`Ok(false)`) and writes nothing.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, FromRow, Row};

use super::{Backend, Store, StoreError, id_list, placeholders};
use std::collections::HashMap;

use crate::campaign::{Next, Outcome, RunState, Waiting};

/// A contact as the dialer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: i64,
    pub campaign: String,
    pub number: String,
    pub customer_id: Option<i64>,
    pub ticket: Option<String>,
    pub since_at: i64,
    pub due_at: i64,
    pub attempts: i64,
    pub state: String,
    pub outcome: Option<String>,
}

impl FromRow<'_, AnyRow> for Contact {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Contact {
            id: row.try_get("id")?,
            campaign: row.try_get("campaign")?,
            number: row.try_get("number")?,
            customer_id: row.try_get("customer_id")?,
            ticket: row.try_get("ticket")?,
            since_at: row.try_get("since_at")?,
            due_at: row.try_get("due_at")?,
            attempts: row.try_get("attempts")?,
            state: row.try_get("state")?,
            outcome: row.try_get("outcome")?,
        })
    }
}

impl Contact {
    /// As [`crate::campaign::pick`] takes it.
    #[must_use]
    pub fn waiting(&self) -> Waiting {
        Waiting {
            contact: self.id,
            number: self.number.clone(),
            due_ms: self.due_at,
            since_ms: self.since_at,
        }
    }
}

/// A contact to enrol.
#[derive(Debug, Clone)]
pub struct NewContact<'a> {
    pub campaign: &'a str,
    /// Normalised.
    pub number: &'a str,
    pub customer_id: Option<i64>,
    pub ticket: Option<&'a str>,
    pub since_at: i64,
    pub due_at: i64,
}

const COLUMNS: &str =
    "id, campaign, number, customer_id, ticket, since_at, due_at, attempts, state, outcome";

/// Claimable at `$now`: waiting and due, or dialling under a lease that ran out.
const CLAIMABLE: &str =
    "((state = 'waiting' AND due_at <= $2) OR (state = 'dialling' AND lease_until < $2))";

impl Store {
    /// Enrols a contact; `false` if the campaign has it already (the same
    /// ticket, or the same number without one).
    pub async fn enroll(&self, c: &NewContact<'_>, at: i64) -> Result<bool, StoreError> {
        let dedupe = c
            .ticket
            .map_or_else(|| format!("number:{}", c.number), |t| format!("ticket:{t}"));
        let done = sqlx::query(
            "INSERT INTO campaign_contacts \
             (campaign, number, customer_id, ticket, dedupe, since_at, due_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (campaign, dedupe) DO NOTHING",
        )
        .bind(c.campaign)
        .bind(c.number)
        .bind(c.customer_id)
        .bind(c.ticket)
        .bind(&dedupe)
        .bind(c.since_at)
        .bind(c.due_at)
        .bind(at)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }

    /// Up to `limit` contacts of `campaign` claimable at `now`, in line
    /// order: the dialer's candidates (not yet claimed).
    pub async fn due_contacts(
        &self,
        campaign: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Contact>, StoreError> {
        sqlx::query_as::<_, Contact>(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM campaign_contacts WHERE campaign = $1 AND {CLAIMABLE} \
             ORDER BY since_at, due_at, id LIMIT $3"
        )))
        .bind(campaign)
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// Claims those of `ids` still claimable at `now` for `owner` until
    /// `now + lease_ms`; returns the ones this instance now holds (another
    /// instance may have taken the rest a moment before).
    pub async fn claim_contacts(
        &self,
        campaign: &str,
        ids: &[i64],
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = id_list(ids);
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.begin_write().await?;
        let free: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM campaign_contacts WHERE campaign = $1 AND id IN ({list}) \
             AND {CLAIMABLE} ORDER BY id{lock}"
        )))
        .bind(campaign)
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        if !free.is_empty() {
            let taken = id_list(&free);
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE campaign_contacts SET state = 'dialling', lease_owner = $1, \
                 lease_until = $2, updated_at = $3 WHERE id IN ({taken})"
            )))
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(free)
    }

    /// Records the end of an attempt on a contact `owner` holds: one more
    /// attempt, its outcome, and what follows (`next` from
    /// [`crate::campaign::Rules::after`]). `false` if `owner` no longer
    /// holds it (its lease ran out and another instance took it): nothing
    /// is written then.
    pub async fn finish_attempt(
        &self,
        contact: i64,
        owner: &str,
        outcome: Outcome,
        next: Next,
        at: i64,
    ) -> Result<bool, StoreError> {
        let (state, due) = match next {
            Next::RetryAt(t) => ("waiting", Some(t)),
            Next::Reached => ("reached", None),
            Next::GaveUp(_) => ("gave_up", None),
        };
        let done = sqlx::query(
            "UPDATE campaign_contacts SET attempts = attempts + 1, outcome = $3, state = $4, \
             due_at = COALESCE($5, due_at), lease_owner = NULL, lease_until = NULL, updated_at = $6 \
             WHERE id = $1 AND state = 'dialling' AND lease_owner = $2",
        )
        .bind(contact)
        .bind(owner)
        .bind(outcome.as_str())
        .bind(state)
        .bind(due)
        .bind(at)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }

    /// Closes a contact that must not be dialled (do-not-call, outside the
    /// dial rules), with why.
    pub async fn close_contact(&self, contact: i64, why: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE campaign_contacts SET state = 'closed', outcome = $2, lease_owner = NULL, \
             lease_until = NULL, updated_at = $3 WHERE id = $1 AND state IN ('waiting', 'dialling')",
        )
        .bind(contact)
        .bind(why)
        .bind(at)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// One contact, in any state.
    pub async fn contact(&self, id: i64) -> Result<Option<Contact>, StoreError> {
        sqlx::query_as::<_, Contact>(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM campaign_contacts WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// Enrols in `campaign` every ticket in the completed stage not yet
    /// enrolled for this completion, due `delay_ms` after it was completed
    /// (a ticket reopened and completed again is followed up again); the
    /// customer's lowest-sorting number is called. A ticket the campaign
    /// is already to call about (imported by hand) is not enrolled twice.
    /// Idempotent; returns how many were enrolled.
    pub async fn enroll_completed_tickets(
        &self,
        campaign: &str,
        delay_ms: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "INSERT INTO campaign_contacts \
             (campaign, number, customer_id, ticket, dedupe, since_at, due_at, created_at, updated_at) \
             SELECT $1, (SELECT MIN(p.phone) FROM customer_phones p WHERE p.customer_id = t.customer_id), \
             t.customer_id, t.number, 'ticket:' || t.number || ':' || CAST(s.seq AS TEXT), \
             s.at, s.at + $2, $3, $3 \
             FROM tickets t JOIN ticket_stamps s ON s.ticket_id = t.id \
             WHERE t.stage = 'completed' AND s.stage = 'completed' \
             AND s.seq = (SELECT MAX(s2.seq) FROM ticket_stamps s2 \
                          WHERE s2.ticket_id = t.id AND s2.stage = 'completed') \
             AND EXISTS (SELECT 1 FROM customer_phones p WHERE p.customer_id = t.customer_id) \
             AND NOT EXISTS (SELECT 1 FROM campaign_contacts c WHERE c.campaign = $1 \
                             AND c.ticket = t.number AND c.state IN ('waiting', 'dialling')) \
             ON CONFLICT (campaign, dedupe) DO NOTHING",
        )
        .bind(campaign)
        .bind(delay_ms)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(done.rows_affected())
    }

    /// How many contacts `campaign` has in each state.
    pub async fn contact_counts(&self, campaign: &str) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT state, COUNT(*) FROM campaign_contacts WHERE campaign = $1 \
             GROUP BY state ORDER BY state",
        )
        .bind(campaign)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// Puts a number on the do-not-call list (again: keeps the first).
    pub async fn add_do_not_call(
        &self,
        number: &str,
        reason: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO do_not_call (number, reason, added_at) VALUES ($1, $2, $3) \
             ON CONFLICT (number) DO NOTHING",
        )
        .bind(number)
        .bind(reason)
        .bind(at)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Puts a customer on the do-not-call list, all their numbers with
    /// them (again: keeps the first). `NotFound` for no such customer.
    pub async fn add_do_not_call_customer(
        &self,
        customer_id: i64,
        reason: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM customers WHERE id = $1")
            .bind(customer_id)
            .fetch_optional(self.pool())
            .await
            .map_err(StoreError::from_sqlx)?;
        if exists.is_none() {
            return Err(StoreError::NotFound("customer"));
        }
        sqlx::query(
            "INSERT INTO do_not_call_customers (customer_id, reason, added_at) \
             VALUES ($1, $2, $3) ON CONFLICT (customer_id) DO NOTHING",
        )
        .bind(customer_id)
        .bind(reason)
        .bind(at)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Which of `numbers` are on the do-not-call list: listed themselves,
    /// or a number of a customer who is.
    pub async fn do_not_call_among(&self, numbers: &[String]) -> Result<Vec<String>, StoreError> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let list = placeholders(1, numbers.len());
        let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(format!(
            "SELECT number FROM do_not_call WHERE number IN ({list}) \
             UNION SELECT p.phone FROM customer_phones p \
             JOIN do_not_call_customers d ON d.customer_id = p.customer_id \
             WHERE p.phone IN ({list})"
        )));
        for n in numbers {
            q = q.bind(n.clone());
        }
        q.fetch_all(self.pool())
            .await
            .map_err(StoreError::from_sqlx)
    }

    /// Attempts made to each of `numbers` (normalised) since `since` (epoch
    /// ms), across all campaigns: the daily cap's count, from the outbound
    /// call records.
    pub async fn dialled_since(
        &self,
        numbers: &[String],
        since: i64,
    ) -> Result<HashMap<String, u32>, StoreError> {
        if numbers.is_empty() {
            return Ok(HashMap::new());
        }
        let mut q = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(format!(
            "SELECT caller, COUNT(*) FROM calls WHERE direction = 'outbound' \
             AND arrived_at >= $1 AND caller IN ({}) GROUP BY caller",
            placeholders(2, numbers.len())
        )))
        .bind(since);
        for n in numbers {
            q = q.bind(n.clone());
        }
        let rows = q
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(rows
            .into_iter()
            .map(|(n, c)| (n, u32::try_from(c).unwrap_or(u32::MAX)))
            .collect())
    }

    /// Extends `owner`'s leases on `ids` (calls still up) to `until`.
    pub async fn renew_leases(
        &self,
        ids: &[i64],
        owner: &str,
        until: i64,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let list = id_list(ids);
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE campaign_contacts SET lease_until = $1 \
             WHERE state = 'dialling' AND lease_owner = $2 AND id IN ({list})"
        )))
        .bind(until)
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Gives a waiting contact a later due time (its number reached the
    /// day's cap), keeping its place in line.
    pub async fn postpone_contact(
        &self,
        contact: i64,
        due_at: i64,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE campaign_contacts SET due_at = $2, updated_at = $3 \
             WHERE id = $1 AND state = 'waiting' AND due_at < $2",
        )
        .bind(contact)
        .bind(due_at)
        .bind(at)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Each campaign's switch, where one was set (running otherwise).
    pub async fn run_states(&self) -> Result<HashMap<String, RunState>, StoreError> {
        let rows =
            sqlx::query_as::<_, (String, String)>("SELECT campaign, state FROM campaign_runs")
                .fetch_all(self.pool())
                .await
                .map_err(StoreError::from_sqlx)?;
        Ok(rows
            .into_iter()
            .filter_map(|(c, s)| Some((c, RunState::parse(&s)?)))
            .collect())
    }

    /// Sets a campaign's switch. A stopped campaign stays stopped: `false`
    /// (nothing changed) if it is.
    pub async fn set_run_state(
        &self,
        campaign: &str,
        state: RunState,
        by: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO campaign_runs (campaign, state, changed_by, changed_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (campaign) DO UPDATE SET \
             state = EXCLUDED.state, changed_by = EXCLUDED.changed_by, \
             changed_at = EXCLUDED.changed_at WHERE campaign_runs.state <> 'stopped'",
        )
        .bind(campaign)
        .bind(state.as_str())
        .bind(by)
        .bind(at)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }

    /// Gives back contacts `owner` claimed but did not dial (the engine
    /// refused the call): waiting again, no attempt counted.
    pub async fn release_contacts(
        &self,
        contacts: &[i64],
        owner: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        if contacts.is_empty() {
            return Ok(());
        }
        let list = id_list(contacts);
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE campaign_contacts SET state = 'waiting', lease_owner = NULL, \
             lease_until = NULL, updated_at = $2 \
             WHERE id IN ({list}) AND state = 'dialling' AND lease_owner = $1"
        )))
        .bind(owner)
        .bind(at)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Enrols a caller who asked to be called back during call `call_id`,
    /// in line by `since_at` (when they called) and due at once; `false`
    /// if the campaign is already to call that number back.
    pub async fn enroll_callback(
        &self,
        campaign: &str,
        number: &str,
        call_id: &str,
        since_at: i64,
        at: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO campaign_contacts \
             (campaign, number, customer_id, ticket, dedupe, since_at, due_at, created_at, updated_at) \
             SELECT $1, $2, (SELECT MIN(p.customer_id) FROM customer_phones p WHERE p.phone = $2), \
             NULL, $3, $4, $5, $5, $5 \
             WHERE NOT EXISTS (SELECT 1 FROM campaign_contacts c WHERE c.campaign = $1 \
                               AND c.number = $2 AND c.state IN ('waiting', 'dialling')) \
             ON CONFLICT (campaign, dedupe) DO NOTHING",
        )
        .bind(campaign)
        .bind(number)
        .bind(format!("callback:{call_id}"))
        .bind(since_at)
        .bind(at)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }
}
