//! What the supervisor's wallboard reads from the store: the day's figures
//! so far when the server starts (so a restart does not zero the board),
//! and the day's SLA breaches.
//!
//! Counted by the database with aggregate queries: one row per queue and
//! per agent comes back, never the calls. The figures count what
//! [`crate::wallboard::Tally`] counts from the engine's ops, from the rows
//! those ops wrote (see that module for the definitions), with one
//! difference the rows cannot avoid: a call answered in one queue and then
//! transferred to another counts under the last (the row keeps the latest
//! queue), where the live tally counted it under the first.

use sqlx::Row;

use super::{Store, StoreError};
use crate::wallboard::{AgentDay, Breach, Breaches, QueueDay, Seed};

/// The longest a caller is taken to wait: a call answered or abandoned
/// today arrived at most this long before midnight, so the day's calls are
/// found through the arrival index.
const LONGEST_WAIT_MS: i64 = 86_400_000;

impl Store {
    /// The figures of the day `[from, to)` (epoch ms) so far: per queue the
    /// inbound calls answered (by their first agent, on the day of the
    /// answer), of those answered within `in_time_ms` of joining the queue,
    /// their total wait, and the calls that ended after joining the queue
    /// without an agent (on the day they ended); per agent the calls they
    /// answered or took over in a transfer (their state log's moves to
    /// on_call from ringing or consulted).
    pub async fn wallboard_today(
        &self,
        from: i64,
        to: i64,
        in_time_ms: i64,
    ) -> Result<Seed, StoreError> {
        let answered =
            "agent_id IS NOT NULL AND agent_answered_at >= $1 AND agent_answered_at < $2";
        let queues = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT queue, \
             COUNT(CASE WHEN {answered} THEN 1 END) AS answered, \
             COUNT(CASE WHEN {answered} AND wait_ms <= $3 THEN 1 END) AS in_time, \
             COUNT(CASE WHEN agent_id IS NULL AND ended_at >= $1 AND ended_at < $2 THEN 1 END) \
               AS abandoned, \
             CAST(COALESCE(SUM(CASE WHEN {answered} THEN wait_ms END), 0) AS BIGINT) AS wait \
             FROM calls \
             WHERE queue IS NOT NULL AND direction = 'inbound' \
             AND arrived_at >= $4 AND arrived_at < $2 \
             GROUP BY queue ORDER BY queue"
        )))
        .bind(from)
        .bind(to)
        .bind(in_time_ms)
        .bind(from - LONGEST_WAIT_MS)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        let mut seed = Seed {
            start_ms: from,
            ..Seed::default()
        };
        for row in &queues {
            let get = |name: &str| row.try_get::<i64, _>(name).map_err(StoreError::from_sqlx);
            let day = QueueDay {
                answered: u64::try_from(get("answered")?).unwrap_or(0),
                answered_in_time: u64::try_from(get("in_time")?).unwrap_or(0),
                abandoned: u64::try_from(get("abandoned")?).unwrap_or(0),
                wait_ms: get("wait")?,
            };
            let name: String = row.try_get("queue").map_err(StoreError::from_sqlx)?;
            if day != QueueDay::default() {
                seed.queues.push((name, day));
            }
        }
        // Through the (agent_id, at) index: the agents are the users.
        let agents = sqlx::query(
            "SELECT agent_id, COUNT(*) AS handled FROM agent_state_log \
             WHERE agent_id IN (SELECT id FROM users) AND at >= $1 AND at < $2 \
             AND to_state = 'on_call' AND from_state IN ('ringing', 'consulted') \
             GROUP BY agent_id ORDER BY agent_id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        for row in &agents {
            let agent: i64 = row.try_get("agent_id").map_err(StoreError::from_sqlx)?;
            let handled: i64 = row.try_get("handled").map_err(StoreError::from_sqlx)?;
            seed.agents.push((
                agent,
                AgentDay {
                    handled: u64::try_from(handled).unwrap_or(0),
                },
            ));
        }
        Ok(seed)
    }

    /// The SLA breaches the watch found in `[from, to)` (epoch ms): how
    /// many, and the latest `limit` of them, newest first.
    pub async fn wallboard_breaches(
        &self,
        from: i64,
        to: i64,
        limit: i64,
    ) -> Result<Breaches, StoreError> {
        let today: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM ticket_breaches WHERE detected_at >= $1 AND detected_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        let rows = sqlx::query_as::<_, (String, String, i64, i64)>(
            "SELECT t.number, b.stage, b.due_at, b.detected_at \
             FROM ticket_breaches b JOIN tickets t ON t.id = b.ticket_id \
             WHERE b.detected_at >= $1 AND b.detected_at < $2 \
             ORDER BY b.detected_at DESC, t.number LIMIT $3",
        )
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(Breaches {
            today: u64::try_from(today).unwrap_or(0),
            latest: rows
                .into_iter()
                .map(|(ticket, stage, due_at, detected_at)| Breach {
                    ticket,
                    stage,
                    due_at,
                    detected_at,
                })
                .collect(),
        })
    }
}
