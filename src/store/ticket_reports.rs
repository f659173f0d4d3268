//! What the ticket reports count, per local day: follow-up coverage and
//! satisfaction scores, ticket stage times by move, each outlet's jobs
//! (the outlet ranking) and complaints by category. The definitions are
//! `crate::api::reports`'s (docs/reports.md).
//!
//! Counted by the database with aggregate queries over the tickets'
//! stamps, breaches and acceptances in a day `[start, end)`; a few rows
//! per day come back. Days that are over are kept (migration 0012:
//! `report_ticket_days` and the three tables hanging from it) exactly as
//! [`super::reports`] keeps the calls' hours, and held exact the same way:
//! - a day is counted and kept in one transaction holding the rollup's
//!   write lock (SQLite `BEGIN IMMEDIATE`; PostgreSQL `SHARE ROW EXCLUSIVE`
//!   on `report_ticket_days`, which the triggers' `ROW EXCLUSIVE` waits
//!   for);
//! - the migration's triggers delete a kept day whenever a record it was
//!   counted from changes: a stamp in it, a follow-up of a completion in
//!   it, an SLA breach of a stage moved into in it, a ticket accepted in
//!   it or whose kind or category changes;
//! - the days' bounds come from the time zone of `report_settings`, whose
//!   change deletes every kept day.
//!
//! Every figure is a sum over days, so a range of any length is its kept
//! days summed by the database, the closed days not kept counted and kept,
//! and today counted live. [`Store::ticket_figures_live`] counts
//! everything from the records, for the tests that prove the two agree.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::{AnyConnection, Row};

use super::campaign_figures::{FollowUpFigures, count_follow_ups};
use super::reports::{ReportTerms, Span, lock_rollups, no_jit, terms_match};
use super::{Store, StoreError};

/// The most categories the complaints report lists (the rest are summed
/// into the total only): categories are free text.
pub const MAX_COMPLAINT_CATEGORIES: usize = 500;

/// The ticket moves from one stage to the next within a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageMoves {
    /// The stage moved from and to (`accepted` → `dispatched`, ...).
    pub from: String,
    pub to: String,
    /// Moves stamped in the span.
    pub moves: i64,
    /// Their time since the stamp before, summed.
    pub total_ms: i64,
    /// Of those, the ones into a stage that was already overdue: an SLA
    /// breach of that stage was recorded with a due time before the move
    /// (and after the ticket last reached that stage, if it had).
    pub late: i64,
}

/// An outlet's jobs within a span, under the tier it had at dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutletJobs {
    pub outlet_id: i64,
    pub code: String,
    pub name: String,
    /// `city`, `county` or `town`, as stamped at dispatch.
    pub tier: String,
    pub jobs: Jobs,
}

/// What an outlet did within a span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Jobs {
    /// Dispatches to it stamped in the span.
    pub dispatched: i64,
    /// Completions stamped in the span whose latest dispatch was to it.
    pub completed: i64,
    /// Their time from that dispatch to the completion, summed.
    pub completion_ms: i64,
    /// Of those, the ones with an in-service stamp in between: how many,
    /// and their dispatch → in service and in service → completed times.
    pub started: i64,
    pub arrival_ms: i64,
    pub repair_ms: i64,
    /// Completions that were overdue (as [`StageMoves::late`]).
    pub late: i64,
}

impl Jobs {
    pub fn add(&mut self, o: &Jobs) {
        self.dispatched += o.dispatched;
        self.completed += o.completed;
        self.completion_ms += o.completion_ms;
        self.started += o.started;
        self.arrival_ms += o.arrival_ms;
        self.repair_ms += o.repair_ms;
        self.late += o.late;
    }
}

/// Moves between two stages within a span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moves {
    pub moves: i64,
    pub total_ms: i64,
    pub late: i64,
}

/// Complaints within a span, by where they came from and category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintCount {
    /// `accepted`: a ticket opened as a complaint; `reopened`: a ticket
    /// reopened as one after a dissatisfied follow-up.
    pub source: String,
    /// The ticket's category (a complaint's subject; the fault type of a
    /// reopened ticket).
    pub category: String,
    pub complaints: i64,
}

/// Every ticket figure of a span (a day, or days summed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFigures {
    /// Tickets of every kind accepted in the span.
    pub tickets_accepted: i64,
    /// Completions, follow-ups and scores (`satisfied` left 0: it depends
    /// on the desk's `satisfied_from`, see [`TicketFigures::follow_ups`]).
    pub follow_ups: FollowUpFigures,
    /// By (from stage, to stage).
    pub moves: BTreeMap<(String, String), Moves>,
    /// By (outlet id, tier at dispatch).
    pub outlets: BTreeMap<(i64, String), Jobs>,
    /// By (source, category).
    pub complaints: BTreeMap<(String, String), i64>,
}

impl TicketFigures {
    pub fn add(&mut self, o: &TicketFigures) {
        self.tickets_accepted += o.tickets_accepted;
        self.follow_ups.add(&o.follow_ups);
        for (k, m) in &o.moves {
            let e = self.moves.entry(k.clone()).or_default();
            e.moves += m.moves;
            e.total_ms += m.total_ms;
            e.late += m.late;
        }
        for (k, j) in &o.outlets {
            self.outlets.entry(k.clone()).or_default().add(j);
        }
        for (k, n) in &o.complaints {
            *self.complaints.entry(k.clone()).or_default() += n;
        }
    }

    /// The follow-up figures, scores of `satisfied_from` or more satisfied.
    pub fn follow_ups(&self, satisfied_from: u8) -> FollowUpFigures {
        let mut f = self.follow_ups;
        f.count_satisfied(satisfied_from);
        f
    }

    /// The moves, each pair of stages once.
    pub fn stage_moves(&self) -> Vec<StageMoves> {
        self.moves
            .iter()
            .map(|((from, to), m)| StageMoves {
                from: from.clone(),
                to: to.clone(),
                moves: m.moves,
                total_ms: m.total_ms,
                late: m.late,
            })
            .collect()
    }

    /// The outlets' jobs, named from `names` (id → code, name).
    pub fn outlet_jobs(&self, names: &HashMap<i64, (String, String)>) -> Vec<OutletJobs> {
        self.outlets
            .iter()
            .map(|((outlet_id, tier), jobs)| {
                let (code, name) = names.get(outlet_id).cloned().unwrap_or_default();
                OutletJobs {
                    outlet_id: *outlet_id,
                    code,
                    name,
                    tier: tier.clone(),
                    jobs: *jobs,
                }
            })
            .collect()
    }

    /// The complaints, the most complained of first (then by source and
    /// category, in one order on both stores), at most
    /// [`MAX_COMPLAINT_CATEGORIES`]; and all of them summed.
    pub fn complaints(&self) -> (Vec<ComplaintCount>, i64) {
        let mut by_category: Vec<ComplaintCount> = self
            .complaints
            .iter()
            .map(|((source, category), n)| ComplaintCount {
                source: source.clone(),
                category: category.clone(),
                complaints: *n,
            })
            .collect();
        by_category.sort_by(|a, b| {
            b.complaints
                .cmp(&a.complaints)
                .then_with(|| a.source.cmp(&b.source))
                .then_with(|| a.category.cmp(&b.category))
        });
        by_category.truncate(MAX_COMPLAINT_CATEGORIES);
        (by_category, self.complaints.values().sum())
    }
}

impl Store {
    /// The ticket figures of `days` (local days), summed. Days over by
    /// `now` come from the rollup (counted and kept first if missing);
    /// today is counted live.
    pub async fn ticket_figures(
        &self,
        days: &[Span],
        terms: &ReportTerms,
        now: i64,
    ) -> Result<TicketFigures, StoreError> {
        self.check_terms(terms).await?;
        let closed: Vec<Span> = days.iter().copied().filter(|d| d.end <= now).collect();
        let (kept, mut total) = self.kept_ticket_days(&closed).await?;
        for day in days {
            if day.start >= now || kept.contains(&day.start) {
                continue;
            }
            let figures = if day.end <= now {
                self.fill_ticket_day(*day, terms).await?
            } else {
                self.count_tickets_live(*day).await?
            };
            total.add(&figures);
        }
        Ok(total)
    }

    /// The ticket figures of `days` counted from the records alone.
    pub async fn ticket_figures_live(
        &self,
        days: &[Span],
        now: i64,
    ) -> Result<TicketFigures, StoreError> {
        let mut total = TicketFigures::default();
        for day in days.iter().filter(|d| d.start < now) {
            total.add(&self.count_tickets_live(*day).await?);
        }
        Ok(total)
    }

    /// The follow-up figures of each of `days`, in order (`satisfied` left
    /// 0), read from the kept days in one query after keeping the closed
    /// days missing; today counted live.
    pub async fn follow_ups_by_day(
        &self,
        days: &[Span],
        terms: &ReportTerms,
        now: i64,
    ) -> Result<Vec<FollowUpFigures>, StoreError> {
        self.check_terms(terms).await?;
        self.roll_up_tickets(days, terms, now).await?;
        let closed: Vec<Span> = days.iter().copied().filter(|d| d.end <= now).collect();
        let (mut tx, kept) = self.kept_day_markers("report_ticket_days", &closed).await?;
        let mut kept_days = HashMap::new();
        if !kept.is_empty() {
            let starts: Vec<i64> = kept.iter().copied().collect();
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT day_start, completed, followed_up, score_1, score_2, score_3, score_4, \
                 score_5 FROM report_ticket_days WHERE day_start IN ({})",
                super::id_list(&starts)
            )))
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
            for row in &rows {
                let get = |name: &str| row.try_get::<i64, _>(name).map_err(StoreError::from_sqlx);
                let mut f = FollowUpFigures {
                    tickets_completed: get("completed")?,
                    followed_up: get("followed_up")?,
                    ..FollowUpFigures::default()
                };
                for (i, score) in f.scores.iter_mut().enumerate() {
                    *score = get(&format!("score_{}", i + 1))?;
                }
                kept_days.insert(get("day_start")?, f);
            }
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        let mut out = Vec::with_capacity(days.len());
        for day in days {
            out.push(match kept_days.remove(&day.start) {
                Some(f) => f,
                None if day.start >= now => FollowUpFigures::default(),
                // Today, or a day a late record dropped since it was kept.
                None => {
                    let mut conn = self.pool().acquire().await.map_err(StoreError::from_sqlx)?;
                    count_follow_ups(&mut conn, day.start, day.end).await?
                }
            });
        }
        Ok(out)
    }

    /// Every outlet's code and name, by id.
    pub async fn outlet_names(&self) -> Result<HashMap<i64, (String, String)>, StoreError> {
        Ok(
            sqlx::query_as::<_, (i64, String, String)>("SELECT id, code, name FROM outlets")
                .fetch_all(self.pool())
                .await
                .map_err(StoreError::from_sqlx)?
                .into_iter()
                .map(|(id, code, name)| (id, (code, name)))
                .collect(),
        )
    }

    /// Counts and keeps each of `days` that is over by `now` and not kept
    /// yet; how many it kept.
    pub(super) async fn roll_up_tickets(
        &self,
        days: &[Span],
        terms: &ReportTerms,
        now: i64,
    ) -> Result<usize, StoreError> {
        let closed: Vec<Span> = days.iter().copied().filter(|d| d.end <= now).collect();
        let (tx, kept) = self.kept_day_markers("report_ticket_days", &closed).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        let mut done = 0;
        for day in closed.iter().filter(|d| !kept.contains(&d.start)) {
            self.fill_ticket_day(*day, terms).await?;
            done += 1;
        }
        Ok(done)
    }

    async fn count_tickets_live(&self, day: Span) -> Result<TicketFigures, StoreError> {
        let mut tx = self.read_tx().await?;
        let figures = count_tickets(&mut tx, day).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(figures)
    }

    /// Counts one day and keeps it, in one transaction that holds the
    /// rollup's write lock. Returns the figures counted.
    async fn fill_ticket_day(
        &self,
        day: Span,
        terms: &ReportTerms,
    ) -> Result<TicketFigures, StoreError> {
        let mut tx = self.begin_write().await?;
        lock_rollups(&mut tx, self.backend(), &["report_ticket_days"]).await?;
        no_jit(&mut tx, self.backend()).await?;
        let f = count_tickets(&mut tx, day).await?;
        if !terms_match(&mut tx, terms).await? {
            // Another instance with other terms took over the rollups.
            tx.rollback().await.map_err(StoreError::from_sqlx)?;
            return Ok(f);
        }
        let run = |sql: &'static str| sqlx::query(sql).bind(day.start);
        run("DELETE FROM report_ticket_days WHERE day_start = $1")
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        let s = &f.follow_ups.scores;
        run(
            "INSERT INTO report_ticket_days (day_start, day_end, tickets_accepted, completed, \
             followed_up, score_1, score_2, score_3, score_4, score_5) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(day.end)
        .bind(f.tickets_accepted)
        .bind(f.follow_ups.tickets_completed)
        .bind(f.follow_ups.followed_up)
        .bind(s[0])
        .bind(s[1])
        .bind(s[2])
        .bind(s[3])
        .bind(s[4])
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        for ((from, to), m) in &f.moves {
            run(
                "INSERT INTO report_stage_days (day_start, from_stage, to_stage, moves, \
                 total_ms, late) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(from)
            .bind(to)
            .bind(m.moves)
            .bind(m.total_ms)
            .bind(m.late)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        for ((outlet, tier), j) in &f.outlets {
            run(
                "INSERT INTO report_outlet_days (day_start, outlet_id, outlet_tier, dispatched, \
                 completed, completion_ms, started, arrival_ms, repair_ms, late) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(*outlet)
            .bind(tier)
            .bind(j.dispatched)
            .bind(j.completed)
            .bind(j.completion_ms)
            .bind(j.started)
            .bind(j.arrival_ms)
            .bind(j.repair_ms)
            .bind(j.late)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        for ((source, category), n) in &f.complaints {
            run(
                "INSERT INTO report_complaint_days (day_start, source, category, complaints) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(source)
            .bind(category)
            .bind(*n)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(f)
    }

    /// Which of `days` are kept, and their figures summed by the database
    /// (in one snapshot).
    async fn kept_ticket_days(
        &self,
        days: &[Span],
    ) -> Result<(HashSet<i64>, TicketFigures), StoreError> {
        let mut f = TicketFigures::default();
        let (mut tx, kept) = self.kept_day_markers("report_ticket_days", days).await?;
        if kept.is_empty() {
            return Ok((kept, f));
        }
        let starts: Vec<i64> = kept.iter().copied().collect();
        let list = super::id_list(&starts);
        let sums = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(SUM(tickets_accepted) AS BIGINT) AS tickets_accepted, \
             CAST(SUM(completed) AS BIGINT) AS completed, \
             CAST(SUM(followed_up) AS BIGINT) AS followed_up, \
             CAST(SUM(score_1) AS BIGINT) AS score_1, CAST(SUM(score_2) AS BIGINT) AS score_2, \
             CAST(SUM(score_3) AS BIGINT) AS score_3, CAST(SUM(score_4) AS BIGINT) AS score_4, \
             CAST(SUM(score_5) AS BIGINT) AS score_5 \
             FROM report_ticket_days WHERE day_start IN ({list})"
        )))
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        let get = |name: &str| sums.try_get::<i64, _>(name).map_err(StoreError::from_sqlx);
        f.tickets_accepted = get("tickets_accepted")?;
        f.follow_ups.tickets_completed = get("completed")?;
        f.follow_ups.followed_up = get("followed_up")?;
        for (i, score) in f.follow_ups.scores.iter_mut().enumerate() {
            *score = get(&format!("score_{}", i + 1))?;
        }
        let moves =
            sqlx::query_as::<_, (String, String, i64, i64, i64)>(sqlx::AssertSqlSafe(format!(
                "SELECT from_stage, to_stage, CAST(SUM(moves) AS BIGINT), \
                 CAST(SUM(total_ms) AS BIGINT), CAST(SUM(late) AS BIGINT) \
                 FROM report_stage_days WHERE day_start IN ({list}) GROUP BY from_stage, to_stage"
            )))
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        for (from, to, moves, total_ms, late) in moves {
            f.moves.insert(
                (from, to),
                Moves {
                    moves,
                    total_ms,
                    late,
                },
            );
        }
        let outlets = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT outlet_id, outlet_tier, CAST(SUM(dispatched) AS BIGINT) AS dispatched, \
             CAST(SUM(completed) AS BIGINT) AS completed, \
             CAST(SUM(completion_ms) AS BIGINT) AS completion_ms, \
             CAST(SUM(started) AS BIGINT) AS started, \
             CAST(SUM(arrival_ms) AS BIGINT) AS arrival_ms, \
             CAST(SUM(repair_ms) AS BIGINT) AS repair_ms, CAST(SUM(late) AS BIGINT) AS late \
             FROM report_outlet_days WHERE day_start IN ({list}) GROUP BY outlet_id, outlet_tier"
        )))
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        for row in &outlets {
            let (key, jobs) = outlet_row(row)?;
            f.outlets.insert(key, jobs);
        }
        let complaints = sqlx::query_as::<_, (String, String, i64)>(sqlx::AssertSqlSafe(format!(
            "SELECT source, category, CAST(SUM(complaints) AS BIGINT) FROM report_complaint_days \
             WHERE day_start IN ({list}) GROUP BY source, category"
        )))
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        for (source, category, n) in complaints {
            f.complaints.insert((source, category), n);
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok((kept, f))
    }
}

/// An outlet's row: its key and jobs (columns named as [`Jobs`]'s fields).
fn outlet_row(row: &sqlx::any::AnyRow) -> Result<((i64, String), Jobs), StoreError> {
    let get = |name: &str| row.try_get::<i64, _>(name).map_err(StoreError::from_sqlx);
    let tier: String = row.try_get("outlet_tier").map_err(StoreError::from_sqlx)?;
    Ok((
        (get("outlet_id")?, tier),
        Jobs {
            dispatched: get("dispatched")?,
            completed: get("completed")?,
            completion_ms: get("completion_ms")?,
            started: get("started")?,
            arrival_ms: get("arrival_ms")?,
            repair_ms: get("repair_ms")?,
            late: get("late")?,
        },
    ))
}

/// A move into a stage with a due time that came after it: an SLA breach
/// of that stage recorded with a due time before the move, not met by an
/// earlier arrival in that stage (a reopened ticket completed twice has
/// two completions, each with its own due time). `s` is the move's stamp.
const LATE: &str = "s.stage IN ('dispatched', 'completed', 'followed_up', 'closed') \
     AND EXISTS (SELECT 1 FROM ticket_breaches b \
         WHERE b.ticket_id = s.ticket_id AND b.stage = s.stage AND b.due_at < s.at \
         AND NOT EXISTS (SELECT 1 FROM ticket_stamps e WHERE e.ticket_id = s.ticket_id \
             AND e.stage = s.stage AND e.seq < s.seq AND e.at >= b.due_at))";

/// Every ticket figure of `span`, from the records.
async fn count_tickets(conn: &mut AnyConnection, span: Span) -> Result<TicketFigures, StoreError> {
    let (from, to) = (span.start, span.end);
    let mut f = TicketFigures {
        follow_ups: count_follow_ups(conn, from, to).await?,
        ..TicketFigures::default()
    };
    // Every move (stamp after stamp), by the stages it went from and to.
    let moves = sqlx::query_as::<_, (String, String, i64, i64, i64)>(sqlx::AssertSqlSafe(format!(
        "SELECT p.stage, s.stage, COUNT(*), \
             COALESCE(CAST(SUM(s.at - p.at) AS BIGINT), 0), \
             COUNT(CASE WHEN {LATE} THEN 1 END) \
             FROM ticket_stamps s \
             JOIN ticket_stamps p ON p.ticket_id = s.ticket_id AND p.seq = s.seq - 1 \
             WHERE s.stage IN ('dispatched', 'in_service', 'completed', 'followed_up', \
                               'closed', 'reopened') \
               AND s.at >= $1 AND s.at < $2 \
             GROUP BY p.stage, s.stage"
    )))
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::from_sqlx)?;
    for (from_stage, to_stage, moves, total_ms, late) in moves {
        f.moves.insert(
            (from_stage, to_stage),
            Moves {
                moves,
                total_ms,
                late,
            },
        );
    }
    // Each outlet's dispatches, and its completions (those whose latest
    // dispatch was to it; a completion without a dispatch, a consultation
    // answered on the call, is no outlet's).
    let dispatched = sqlx::query_as::<_, (i64, String, i64)>(
        "SELECT outlet_id, outlet_tier, COUNT(*) FROM ticket_stamps \
         WHERE stage = 'dispatched' AND at >= $1 AND at < $2 \
           AND outlet_id IS NOT NULL AND outlet_tier IS NOT NULL \
         GROUP BY outlet_id, outlet_tier",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::from_sqlx)?;
    for (outlet, tier, n) in dispatched {
        f.outlets.entry((outlet, tier)).or_default().dispatched = n;
    }
    let completed = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT outlet_id, outlet_tier, CAST(0 AS BIGINT) AS dispatched, COUNT(*) AS completed, \
         COALESCE(CAST(SUM(at - dispatched_at) AS BIGINT), 0) AS completion_ms, \
         COUNT(started_at) AS started, \
         COALESCE(CAST(SUM(started_at - dispatched_at) AS BIGINT), 0) AS arrival_ms, \
         COALESCE(CAST(SUM(CASE WHEN started_at IS NOT NULL THEN at - started_at END) \
             AS BIGINT), 0) AS repair_ms, \
         COUNT(CASE WHEN late = 1 THEN 1 END) AS late \
         FROM (SELECT d.outlet_id, d.outlet_tier, d.at AS dispatched_at, s.at, \
             (SELECT MIN(i.at) FROM ticket_stamps i WHERE i.ticket_id = s.ticket_id \
              AND i.stage = 'in_service' AND i.seq > d.seq AND i.seq < s.seq) AS started_at, \
             CASE WHEN {LATE} THEN 1 ELSE 0 END AS late \
             FROM ticket_stamps s \
             JOIN ticket_stamps d ON d.ticket_id = s.ticket_id AND d.seq = ( \
                 SELECT MAX(x.seq) FROM ticket_stamps x WHERE x.ticket_id = s.ticket_id \
                 AND x.stage = 'dispatched' AND x.seq < s.seq) \
             WHERE s.stage = 'completed' AND s.at >= $1 AND s.at < $2 \
               AND d.outlet_id IS NOT NULL AND d.outlet_tier IS NOT NULL) jobs \
         GROUP BY outlet_id, outlet_tier"
    )))
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::from_sqlx)?;
    for row in &completed {
        let (key, jobs) = outlet_row(row)?;
        let e = f.outlets.entry(key).or_default();
        let dispatched = e.dispatched;
        *e = Jobs { dispatched, ..jobs };
    }
    // Complaints: tickets opened as one, and tickets reopened as one.
    let complaints = sqlx::query_as::<_, (String, String, i64)>(
        "SELECT source, category, COUNT(*) FROM ( \
             SELECT 'accepted' AS source, category FROM tickets \
             WHERE accepted_kind = 'complaint' AND created_at >= $1 AND created_at < $2 \
             UNION ALL \
             SELECT 'reopened', t.category FROM ticket_stamps s \
             JOIN tickets t ON t.id = s.ticket_id \
             WHERE s.stage = 'reopened' AND s.at >= $1 AND s.at < $2) c \
         GROUP BY source, category",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::from_sqlx)?;
    for (source, category, n) in complaints {
        f.complaints.insert((source, category), n);
    }
    f.tickets_accepted = sqlx::query_scalar(
        "SELECT COUNT(*) FROM tickets WHERE created_at >= $1 AND created_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::from_sqlx)?;
    Ok(f)
}
