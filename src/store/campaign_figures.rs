//! What the supervisor's campaign page reads: each campaign's switch with
//! who set it and when, and a campaign's figures over a span of time.
//!
//! Every figure is counted by the database with aggregate queries (a few
//! numbers come back, never the rows), over a half-open span `[from, to)`
//! of epoch milliseconds:
//! - call figures, from the campaign's outbound call records, each attempt
//!   counted in the span it *started* in (`arrived_at`), whenever it ended;
//! - follow-up figures, from the tickets' stamps, desk-wide (a ticket
//!   followed up by the survey or by an agent counts alike): completions
//!   in the span and whether each was followed up, and the follow-up
//!   scores given in the span.

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use super::{Store, StoreError};
use crate::campaign::RunState;

/// A campaign's switch as last set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSwitch {
    pub state: RunState,
    /// Who set it (a username).
    pub changed_by: String,
    /// When, epoch ms.
    pub changed_at: i64,
}

/// A campaign's attempts in a span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallFigures {
    /// Outbound calls of the campaign that started in the span.
    pub attempts: i64,
    /// Of those, the ones whose outcome is `answered`.
    pub answered: i64,
    /// Distinct contacts with an attempt that started in the span.
    pub contacts_dialled: i64,
}

/// Ticket follow-ups in a span, desk-wide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowUpFigures {
    /// Completion stamps in the span (a ticket completed twice, after a
    /// reopening, counts twice: each completion is followed up on its own).
    pub tickets_completed: i64,
    /// Of those completions, the ones followed up after them (before the
    /// ticket's next completion, if any), whenever that was.
    pub followed_up: i64,
    /// Follow-up stamps in the span with score 1, 2, 3, 4 and 5.
    pub scores: [i64; 5],
    /// Of those scores, the ones at or above `satisfied_from`.
    pub satisfied: i64,
}

impl Store {
    /// Each campaign's switch, with who set it and when, where one was set
    /// (running otherwise). A state the code does not know is left out.
    pub async fn run_switches(&self) -> Result<HashMap<String, RunSwitch>, StoreError> {
        let rows = sqlx::query_as::<_, (String, String, String, i64)>(
            "SELECT campaign, state, changed_by, changed_at FROM campaign_runs",
        )
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(rows
            .into_iter()
            .filter_map(|(campaign, state, changed_by, changed_at)| {
                Some((
                    campaign,
                    RunSwitch {
                        state: RunState::parse(&state)?,
                        changed_by,
                        changed_at,
                    },
                ))
            })
            .collect())
    }

    /// `campaign`'s attempts that started in `[from, to)` (epoch ms).
    pub async fn campaign_call_figures(
        &self,
        campaign: &str,
        from: i64,
        to: i64,
    ) -> Result<CallFigures, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS attempts, \
             COUNT(CASE WHEN outcome = 'answered' THEN 1 END) AS answered, \
             COUNT(DISTINCT contact_id) AS contacts \
             FROM calls WHERE direction = 'outbound' AND campaign = $1 \
             AND arrived_at >= $2 AND arrived_at < $3",
        )
        .bind(campaign)
        .bind(from)
        .bind(to)
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        let get = |name: &str| row.try_get::<i64, _>(name).map_err(StoreError::from_sqlx);
        Ok(CallFigures {
            attempts: get("attempts")?,
            answered: get("answered")?,
            contacts_dialled: get("contacts")?,
        })
    }

    /// Ticket completions in `[from, to)` and whether each was followed
    /// up; follow-up scores given in `[from, to)`, and how many of them
    /// are `satisfied_from` or more.
    pub async fn follow_up_figures(
        &self,
        from: i64,
        to: i64,
        satisfied_from: u8,
    ) -> Result<FollowUpFigures, StoreError> {
        let mut conn = self.pool().acquire().await.map_err(StoreError::from_sqlx)?;
        let mut f = count_follow_ups(&mut conn, from, to).await?;
        f.count_satisfied(satisfied_from);
        Ok(f)
    }
}

impl FollowUpFigures {
    /// Sets `satisfied` from the scores: those at or above `from`.
    pub fn count_satisfied(&mut self, from: u8) {
        self.satisfied = (usize::from(from.max(1))..=5)
            .map(|score| self.scores[score - 1])
            .sum();
    }

    pub fn add(&mut self, other: &FollowUpFigures) {
        self.tickets_completed += other.tickets_completed;
        self.followed_up += other.followed_up;
        for (mine, theirs) in self.scores.iter_mut().zip(other.scores) {
            *mine += theirs;
        }
        self.satisfied += other.satisfied;
    }
}

/// The follow-up figures of `[from, to)` but `satisfied` (left 0).
pub(super) async fn count_follow_ups(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
) -> Result<FollowUpFigures, StoreError> {
    // A completion is followed up by a followed_up stamp after it with
    // no other completion of the ticket in between (a reopened ticket
    // completed again waits for a follow-up of its own).
    let completions = sqlx::query(
        "SELECT COUNT(*) AS completed, \
         COUNT(CASE WHEN EXISTS ( \
             SELECT 1 FROM ticket_stamps f \
             WHERE f.ticket_id = c.ticket_id AND f.stage = 'followed_up' AND f.seq > c.seq \
             AND NOT EXISTS (SELECT 1 FROM ticket_stamps n \
                 WHERE n.ticket_id = c.ticket_id AND n.stage = 'completed' \
                 AND n.seq > c.seq AND n.seq < f.seq)) THEN 1 END) AS followed \
         FROM ticket_stamps c \
         WHERE c.stage = 'completed' AND c.at >= $1 AND c.at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::from_sqlx)?;
    let scores = sqlx::query(
        "SELECT COUNT(CASE WHEN score = 1 THEN 1 END) AS s1, \
         COUNT(CASE WHEN score = 2 THEN 1 END) AS s2, \
         COUNT(CASE WHEN score = 3 THEN 1 END) AS s3, \
         COUNT(CASE WHEN score = 4 THEN 1 END) AS s4, \
         COUNT(CASE WHEN score = 5 THEN 1 END) AS s5 \
         FROM ticket_stamps \
         WHERE stage = 'followed_up' AND score IS NOT NULL AND at >= $1 AND at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::from_sqlx)?;
    let count = |row: &sqlx::any::AnyRow, name: &str| {
        row.try_get::<i64, _>(name).map_err(StoreError::from_sqlx)
    };
    Ok(FollowUpFigures {
        tickets_completed: count(&completions, "completed")?,
        followed_up: count(&completions, "followed")?,
        scores: [
            count(&scores, "s1")?,
            count(&scores, "s2")?,
            count(&scores, "s3")?,
            count(&scores, "s4")?,
            count(&scores, "s5")?,
        ],
        satisfied: 0,
    })
}
