//! What the managers' reports count: call figures per local hour and queue,
//! agents' calls and time by state per local day (the tickets' figures are
//! [`super::ticket_reports`]'s, kept the same way). The definitions of every
//! figure are `crate::api::reports`'s (docs/reports.md); this module owns
//! how they are counted and the rollups that keep a long range cheap.
//!
//! # Counting
//! Every figure is counted by the database with aggregate queries over a
//! half-open span `[start, end)` of epoch ms; a few numbers per span and
//! queue (or agent) come back, never the calls. A call counts in the span
//! it *arrived* in, whenever it ended, under the queue it last joined
//! (`calls.queue`; `""` for none). [`Span`]s are the desk's local hours and
//! days ([`local_days`], [`local_hours`]), cut in its time zone, so a DST
//! day has 23 or 25 hours and every day is whole hours from its midnight.
//!
//! # Rollups (migration 0011)
//! Counting a month of 5,000,000 calls takes seconds to tens of seconds;
//! reading back 744 hours a few rows each takes milliseconds. So a span
//! that is over (its end at or before `now`) is counted once and kept:
//! hours in `report_hours`, agents' days in `report_days` and the two
//! tables hanging from it. What holds them exact:
//! - a span's rows are written in one transaction that counts it and
//!   inserts the result, holding the write lock (SQLite `BEGIN IMMEDIATE`;
//!   PostgreSQL `SHARE ROW EXCLUSIVE` on the table, which the triggers'
//!   `ROW EXCLUSIVE` waits for), so no record can change between the count
//!   and the insert unseen;
//! - every later write to a record a span was counted from deletes its rows
//!   (the migration's triggers: a call's insert, update of a counted column
//!   or delete; a `queue-left` or `callback-requested` event; an agent's
//!   state change; a customer's numbers changing, for FCR). The next report
//!   counts the span again;
//! - first-call resolution depends on calls *after* the span: an hour's
//!   FCR (`fcr_repeated`) is kept only once every call's window has passed
//!   (`end + fcr_days <= now`); before that the hour's other figures are
//!   kept and its FCR counted live (for an hour wholly inside the window
//!   that is just "pending", no query);
//! - the terms the rows were counted with (time zone, service level
//!   threshold, FCR days) are kept in `report_settings`; other terms
//!   delete every row first.
//!
//! Spans still open (the current hour and day) are always counted live.
//! [`Store::call_figures_live`] and [`Store::agent_figures_live`] count
//! everything from the records, for the tests that prove the rollups give
//! the same figures.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Backend, Store, StoreError};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// A half-open span of time, `[start, end)`, epoch ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

/// The terms every call and agent figure is counted with (the desk's
/// configuration): a change of any of them changes the figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTerms {
    /// The desk's time zone: what a local hour and day are.
    pub time_zone: TimeZone,
    /// A call answered within this wait counts as answered in time.
    pub service_level_ms: i64,
    /// A call is resolved first time when its caller does not call again
    /// within this many days.
    pub fcr_days: u32,
}

impl ReportTerms {
    fn fcr_window_ms(&self) -> i64 {
        i64::from(self.fcr_days) * DAY_MS
    }

    fn zone_name(&self) -> &str {
        self.time_zone.iana_name().unwrap_or("UTC")
    }
}

/// The local days `from` to `to` (inclusive) in `tz`, each from its
/// midnight to the next; `None` when a day is outside what the calendar
/// can place (the first and last days it knows).
pub fn local_days(tz: &TimeZone, from: Date, to: Date) -> Option<Vec<Span>> {
    let mut days = Vec::new();
    let mut day = from;
    let mut start = midnight(tz, day)?;
    while day <= to {
        let next = day.tomorrow().ok()?;
        let end = midnight(tz, next)?;
        days.push(Span { start, end });
        day = next;
        start = end;
    }
    Some(days)
}

/// The local hours of a day: 60 minutes each from its midnight, the last
/// one shorter when the day is not whole hours (a 30-minute DST shift).
pub fn local_hours(day: Span) -> Vec<Span> {
    let mut hours = Vec::with_capacity(25);
    let mut start = day.start;
    while start < day.end {
        let end = (start + HOUR_MS).min(day.end);
        hours.push(Span { start, end });
        start = end;
    }
    hours
}

/// The first instant of `day` in `tz` (epoch ms).
fn midnight(tz: &TimeZone, day: Date) -> Option<i64> {
    day.to_zoned(tz.clone())
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// The local date and time at `at_ms` in `tz`, `YYYY-MM-DD HH:MM`.
pub fn local_label(tz: &TimeZone, at_ms: i64) -> String {
    Timestamp::from_millisecond(at_ms)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// The calls of one span (and queue): each call that arrived in it counts
/// once, transfers or not. Counts and sums; `crate::api::reports` makes
/// the rates and averages. Adding two spans' figures gives the figures of
/// both ([`CallFigures::add`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallFigures {
    /// Inbound calls (whether they reached a queue or not).
    pub inbound: i64,
    /// Inbound calls that joined a queue: offered to agents.
    pub offered: i64,
    /// Of those, answered by an agent.
    pub answered: i64,
    /// Of those, answered within the service level threshold of joining
    /// the queue (`wait_ms <= service_level_ms`).
    pub answered_in_time: i64,
    /// The answered calls' waits, summed.
    pub answer_wait_ms: i64,
    /// The longest of them.
    pub longest_wait_ms: i64,
    /// Queued, never answered, no callback asked for, and the caller hung
    /// up while still in the queue (the queue did not let them go).
    pub abandoned: i64,
    /// Their time from joining the queue to hanging up, summed.
    pub abandon_wait_ms: i64,
    /// Queued, never answered, and asked for a callback after joining.
    pub callbacks: i64,
    /// Queued, never answered, ended, neither abandoned nor a callback:
    /// the queue let them go (its maximum wait: a message, the IVR's way
    /// out) or the hotline ended the call.
    pub left_queue: i64,
    /// Queued, not answered, not ended, no callback: still waiting (or
    /// still in the IVR after the queue) when counted.
    pub waiting: i64,
    /// Inbound calls an agent answered that have ended, with their talk
    /// and wrap-up recorded: those whose handle time is known.
    pub handled: i64,
    /// Their talk, hold and wrap-up, summed.
    pub talk_ms: i64,
    pub hold_ms: i64,
    pub wrap_up_ms: i64,
    /// Inbound calls an agent answered that were transferred at least once.
    pub transferred: i64,
    /// Outbound (campaign) calls, and of those the answered ones.
    pub outbound: i64,
    pub outbound_answered: i64,
    /// First-call resolution is asked of inbound calls an agent answered
    /// from a caller with a number (not withheld).
    pub fcr_calls: i64,
    /// Of those whose window has passed, the ones called again within it
    /// by the same customer (any of their numbers) or the same number.
    pub fcr_repeated: i64,
    /// Of those, the ones whose window has not passed yet.
    pub fcr_pending: i64,
}

impl CallFigures {
    /// The figures of both spans (or queues).
    pub fn add(&mut self, o: &CallFigures) {
        self.inbound += o.inbound;
        self.offered += o.offered;
        self.answered += o.answered;
        self.answered_in_time += o.answered_in_time;
        self.answer_wait_ms += o.answer_wait_ms;
        self.longest_wait_ms = self.longest_wait_ms.max(o.longest_wait_ms);
        self.abandoned += o.abandoned;
        self.abandon_wait_ms += o.abandon_wait_ms;
        self.callbacks += o.callbacks;
        self.left_queue += o.left_queue;
        self.waiting += o.waiting;
        self.handled += o.handled;
        self.talk_ms += o.talk_ms;
        self.hold_ms += o.hold_ms;
        self.wrap_up_ms += o.wrap_up_ms;
        self.transferred += o.transferred;
        self.outbound += o.outbound;
        self.outbound_answered += o.outbound_answered;
        self.fcr_calls += o.fcr_calls;
        self.fcr_repeated += o.fcr_repeated;
        self.fcr_pending += o.fcr_pending;
    }
}

/// One span's figures per queue (`""`: calls that joined none).
type QueueFigures = BTreeMap<String, CallFigures>;

/// The calls an agent is credited with (`calls.agent_id`: the first agent
/// who answered) over some days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentCalls {
    /// Inbound calls they answered.
    pub inbound: i64,
    /// Outbound calls they had (progressive and callback campaigns).
    pub outbound: i64,
    /// Of the inbound, those whose handle time is known (as
    /// [`CallFigures::handled`]), with its parts summed.
    pub handled: i64,
    pub talk_ms: i64,
    pub hold_ms: i64,
    pub wrap_up_ms: i64,
}

impl AgentCalls {
    fn add(&mut self, o: &AgentCalls) {
        self.inbound += o.inbound;
        self.outbound += o.outbound;
        self.handled += o.handled;
        self.talk_ms += o.talk_ms;
        self.hold_ms += o.hold_ms;
        self.wrap_up_ms += o.wrap_up_ms;
    }
}

/// Agents' calls and time by state over some days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentFigures {
    /// By agent (users.id).
    pub calls: BTreeMap<i64, AgentCalls>,
    /// By agent, state and not-ready reason (`""` for none): ms spent in
    /// it within the days (up to now for today). `logged_out` is left out.
    pub states: BTreeMap<(i64, String, String), i64>,
}

impl AgentFigures {
    fn add(&mut self, o: &AgentFigures) {
        for (agent, c) in &o.calls {
            self.calls.entry(*agent).or_default().add(c);
        }
        for (key, ms) in &o.states {
            *self.states.entry(key.clone()).or_default() += ms;
        }
    }
}

/// How many spans [`Store::roll_up`] counted and kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RolledUp {
    pub hours: usize,
    /// Agents' days.
    pub days: usize,
    pub ticket_days: usize,
}

/// Inbound calls an agent answered from a caller with a number: the ones
/// first-call resolution is asked of. A withheld or SIP-name caller is
/// kept as is on the row (not normalised), so it has a non-digit.
const FCR_ASKED: &str = "c.direction = 'inbound' AND c.agent_id IS NOT NULL \
     AND c.caller <> '' AND LTRIM(c.caller, '0123456789') = ''";

/// The call figures of `[$1, $2)` per queue; `$3` the service level
/// threshold, `$4` the FCR window, `$5` now (a call's FCR is decided once
/// `arrived_at + $4 <= $5`). `fate` of a queued, unanswered call: 1
/// abandoned, 2 callback, 3 left the queue, 4 waiting. Each call's flags
/// are worked out once, in a materialised CTE: PostgreSQL would otherwise
/// inline the subquery into every aggregate that reads a flag, and run its
/// lookups once per aggregate.
fn span_sql() -> String {
    format!(
        "WITH x AS MATERIALIZED (SELECT COALESCE(c.queue, '') AS queue, c.wait_ms, c.ended_at, \
             c.queued_at, c.talk_ms, c.hold_ms, c.wrap_up_ms, \
             CASE WHEN c.direction = 'inbound' THEN 1 ELSE 0 END AS inbound, \
             CASE WHEN c.direction = 'inbound' AND c.queued_at IS NOT NULL THEN 1 ELSE 0 END \
                 AS offered, \
             CASE WHEN c.direction = 'inbound' AND c.queued_at IS NOT NULL \
                  AND c.agent_id IS NOT NULL THEN 1 ELSE 0 END AS answered, \
             CASE WHEN c.direction = 'inbound' AND c.queued_at IS NOT NULL \
                  AND c.agent_id IS NULL THEN \
                 CASE WHEN EXISTS (SELECT 1 FROM call_events e WHERE e.call_id = c.id \
                          AND e.kind = 'callback-requested' AND e.at >= c.queued_at) THEN 2 \
                      WHEN c.ended_at IS NULL THEN 4 \
                      WHEN c.hangup_side = 'caller' AND NOT EXISTS (SELECT 1 FROM call_events e \
                          WHERE e.call_id = c.id AND e.kind = 'queue-left' \
                          AND e.at >= c.queued_at) THEN 1 \
                      ELSE 3 END \
             ELSE 0 END AS fate, \
             CASE WHEN c.direction = 'inbound' AND c.agent_id IS NOT NULL \
                  AND c.ended_at IS NOT NULL AND c.talk_ms IS NOT NULL \
                  AND c.wrap_up_ms IS NOT NULL THEN 1 ELSE 0 END AS handled, \
             CASE WHEN c.direction = 'inbound' AND c.agent_id IS NOT NULL AND c.transfers > 0 \
                  THEN 1 ELSE 0 END AS transferred, \
             CASE WHEN c.direction = 'outbound' THEN 1 ELSE 0 END AS outbound, \
             CASE WHEN c.direction = 'outbound' AND c.outcome = 'answered' THEN 1 ELSE 0 END \
                 AS outbound_answered, \
             CASE WHEN {FCR_ASKED} THEN 1 ELSE 0 END AS fcr, \
             CASE WHEN c.arrived_at + $4 <= $5 THEN 1 ELSE 0 END AS decided, \
             CASE WHEN {FCR_ASKED} AND c.arrived_at + $4 <= $5 THEN \
                 CASE WHEN EXISTS (SELECT 1 FROM calls n WHERE n.direction = 'inbound' \
                          AND n.caller = c.caller AND n.arrived_at > c.arrived_at \
                          AND n.arrived_at <= c.arrived_at + $4) \
                        OR EXISTS (SELECT 1 FROM customer_phones p \
                          JOIN customer_phones q ON q.customer_id = p.customer_id \
                              AND q.phone <> p.phone \
                          JOIN calls n ON n.direction = 'inbound' AND n.caller = q.phone \
                              AND n.arrived_at > c.arrived_at \
                              AND n.arrived_at <= c.arrived_at + $4 \
                          WHERE p.phone = c.caller) THEN 1 ELSE 0 END \
             ELSE 0 END AS repeated \
             FROM calls c WHERE c.arrived_at >= $1 AND c.arrived_at < $2) \
         SELECT queue, \
         COUNT(CASE WHEN inbound = 1 THEN 1 END) AS inbound, \
         COUNT(CASE WHEN offered = 1 THEN 1 END) AS offered, \
         COUNT(CASE WHEN answered = 1 THEN 1 END) AS answered, \
         COUNT(CASE WHEN answered = 1 AND wait_ms <= $3 THEN 1 END) AS answered_in_time, \
         COALESCE(CAST(SUM(CASE WHEN answered = 1 THEN wait_ms END) AS BIGINT), 0) \
             AS answer_wait_ms, \
         COALESCE(MAX(CASE WHEN answered = 1 THEN wait_ms END), 0) AS longest_wait_ms, \
         COUNT(CASE WHEN fate = 1 THEN 1 END) AS abandoned, \
         COALESCE(CAST(SUM(CASE WHEN fate = 1 THEN ended_at - queued_at END) AS BIGINT), 0) \
             AS abandon_wait_ms, \
         COUNT(CASE WHEN fate = 2 THEN 1 END) AS callbacks, \
         COUNT(CASE WHEN fate = 3 THEN 1 END) AS left_queue, \
         COUNT(CASE WHEN fate = 4 THEN 1 END) AS waiting, \
         COUNT(CASE WHEN handled = 1 THEN 1 END) AS handled, \
         COALESCE(CAST(SUM(CASE WHEN handled = 1 THEN talk_ms END) AS BIGINT), 0) AS talk_ms, \
         COALESCE(CAST(SUM(CASE WHEN handled = 1 THEN COALESCE(hold_ms, 0) END) AS BIGINT), 0) \
             AS hold_ms, \
         COALESCE(CAST(SUM(CASE WHEN handled = 1 THEN wrap_up_ms END) AS BIGINT), 0) \
             AS wrap_up_ms, \
         COUNT(CASE WHEN transferred = 1 THEN 1 END) AS transferred, \
         COUNT(CASE WHEN outbound = 1 THEN 1 END) AS outbound, \
         COUNT(CASE WHEN outbound_answered = 1 THEN 1 END) AS outbound_answered, \
         COUNT(CASE WHEN fcr = 1 THEN 1 END) AS fcr_calls, \
         COUNT(CASE WHEN fcr = 1 AND decided = 1 THEN 1 END) AS fcr_decided, \
         COUNT(CASE WHEN repeated = 1 THEN 1 END) AS fcr_repeated \
         FROM x \
         GROUP BY queue"
    )
}

/// One row of [`span_sql`] or of `report_hours`.
fn figures_of(row: &AnyRow, pending: Option<i64>) -> Result<CallFigures, sqlx::Error> {
    let get = |name: &str| row.try_get::<i64, _>(name);
    Ok(CallFigures {
        inbound: get("inbound")?,
        offered: get("offered")?,
        answered: get("answered")?,
        answered_in_time: get("answered_in_time")?,
        answer_wait_ms: get("answer_wait_ms")?,
        longest_wait_ms: get("longest_wait_ms")?,
        abandoned: get("abandoned")?,
        abandon_wait_ms: get("abandon_wait_ms")?,
        callbacks: get("callbacks")?,
        left_queue: get("left_queue")?,
        waiting: get("waiting")?,
        handled: get("handled")?,
        talk_ms: get("talk_ms")?,
        hold_ms: get("hold_ms")?,
        wrap_up_ms: get("wrap_up_ms")?,
        transferred: get("transferred")?,
        outbound: get("outbound")?,
        outbound_answered: get("outbound_answered")?,
        fcr_calls: get("fcr_calls")?,
        fcr_repeated: row.try_get::<Option<i64>, _>("fcr_repeated")?.unwrap_or(0),
        fcr_pending: match pending {
            Some(p) => p,
            None => get("fcr_calls")? - get("fcr_decided")?,
        },
    })
}

/// Counts one span's calls per queue from the records, FCR as of `now`.
async fn count_span(
    conn: &mut AnyConnection,
    span: Span,
    terms: &ReportTerms,
    now: i64,
) -> Result<QueueFigures, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(span_sql()))
        .bind(span.start)
        .bind(span.end)
        .bind(terms.service_level_ms)
        .bind(terms.fcr_window_ms())
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?;
    let mut out = QueueFigures::new();
    for row in &rows {
        let queue: String = row.try_get("queue").map_err(StoreError::from_sqlx)?;
        out.insert(queue, figures_of(row, None).map_err(StoreError::from_sqlx)?);
    }
    Ok(out)
}

/// Counts agents' calls and states within `span` (states up to
/// `min(end, now)`) from the records.
async fn count_agent_span(
    conn: &mut AnyConnection,
    span: Span,
    now: i64,
) -> Result<AgentFigures, StoreError> {
    let mut figures = AgentFigures::default();
    let rows = sqlx::query(
        "SELECT agent_id, \
         COUNT(CASE WHEN direction = 'inbound' THEN 1 END) AS inbound, \
         COUNT(CASE WHEN direction = 'outbound' THEN 1 END) AS outbound, \
         COUNT(CASE WHEN handled = 1 THEN 1 END) AS handled, \
         COALESCE(CAST(SUM(CASE WHEN handled = 1 THEN talk_ms END) AS BIGINT), 0) AS talk_ms, \
         COALESCE(CAST(SUM(CASE WHEN handled = 1 THEN COALESCE(hold_ms, 0) END) AS BIGINT), 0) \
             AS hold_ms, \
         COALESCE(CAST(SUM(CASE WHEN handled = 1 THEN wrap_up_ms END) AS BIGINT), 0) \
             AS wrap_up_ms \
         FROM (SELECT agent_id, direction, talk_ms, hold_ms, wrap_up_ms, \
             CASE WHEN direction = 'inbound' AND ended_at IS NOT NULL AND talk_ms IS NOT NULL \
                  AND wrap_up_ms IS NOT NULL THEN 1 ELSE 0 END AS handled \
             FROM calls WHERE arrived_at >= $1 AND arrived_at < $2 AND agent_id IS NOT NULL) x \
         GROUP BY agent_id",
    )
    .bind(span.start)
    .bind(span.end)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::from_sqlx)?;
    for row in &rows {
        let get = |name: &str| row.try_get::<i64, _>(name).map_err(StoreError::from_sqlx);
        figures.calls.insert(
            get("agent_id")?,
            AgentCalls {
                inbound: get("inbound")?,
                outbound: get("outbound")?,
                handled: get("handled")?,
                talk_ms: get("talk_ms")?,
                hold_ms: get("hold_ms")?,
                wrap_up_ms: get("wrap_up_ms")?,
            },
        );
    }
    let end = span.end.min(now);
    if end <= span.start {
        return Ok(figures);
    }
    // Each change lasts until the agent's next one (or the span's end).
    // The state at the span's start is the agent's last change before it
    // (agents are users: users are never deleted). Changes in the same
    // millisecond keep the engine's order: their ids are
    // `{at:012x}-{agent}-{seq}`, so for one agent and instant the longer
    // id is the later one, then the larger.
    let rows = sqlx::query(
        "SELECT agent_id, state, reason, CAST(SUM(until - at) AS BIGINT) AS ms FROM ( \
             SELECT agent_id, state, reason, at, \
                 LEAD(at, 1, $2) OVER (PARTITION BY agent_id ORDER BY at, n, id) AS until \
             FROM ( \
                 SELECT l.agent_id, l.to_state AS state, COALESCE(l.reason, '') AS reason, \
                     l.at, LENGTH(l.id) AS n, l.id \
                 FROM agent_state_log l WHERE l.at >= $1 AND l.at < $2 \
                 UNION ALL \
                 SELECT agent_id, state, reason, $1, 0, '' FROM ( \
                     SELECT u.id AS agent_id, \
                         (SELECT m.to_state FROM agent_state_log m \
                          WHERE m.agent_id = u.id AND m.at < $1 \
                          ORDER BY m.at DESC, LENGTH(m.id) DESC, m.id DESC LIMIT 1) AS state, \
                         (SELECT COALESCE(m.reason, '') FROM agent_state_log m \
                          WHERE m.agent_id = u.id AND m.at < $1 \
                          ORDER BY m.at DESC, LENGTH(m.id) DESC, m.id DESC LIMIT 1) AS reason \
                     FROM users u) s \
                 WHERE state IS NOT NULL) changes) spells \
         WHERE state <> 'logged_out' \
         GROUP BY agent_id, state, reason",
    )
    .bind(span.start)
    .bind(end)
    .fetch_all(&mut *conn)
    .await
    .map_err(StoreError::from_sqlx)?;
    for row in &rows {
        let agent: i64 = row.try_get("agent_id").map_err(StoreError::from_sqlx)?;
        let state: String = row.try_get("state").map_err(StoreError::from_sqlx)?;
        let reason: String = row.try_get("reason").map_err(StoreError::from_sqlx)?;
        let ms: i64 = row.try_get("ms").map_err(StoreError::from_sqlx)?;
        if ms > 0 {
            figures.states.insert((agent, state, reason), ms);
        }
    }
    Ok(figures)
}

/// `report_hours`' columns, in insert order.
const HOUR_COLUMNS: &str = "hour_start, hour_end, queue, inbound, offered, answered, \
     answered_in_time, answer_wait_ms, longest_wait_ms, abandoned, abandon_wait_ms, callbacks, \
     left_queue, waiting, handled, talk_ms, hold_ms, wrap_up_ms, transferred, outbound, \
     outbound_answered, fcr_calls, fcr_repeated";

/// Where a span stands in the rollups when a report reads it.
enum Kept {
    /// Counted and kept, FCR included (or wholly pending).
    Ready(QueueFigures),
    /// Not kept, or its FCR is due to be settled: count it and keep it.
    Fill,
    /// Still open, or its FCR only partly decided: count it live.
    Live,
}

impl Store {
    /// The call figures of each span (local hours), one per span in the
    /// same order, of `queue` (`Some("")`: the calls that joined no queue)
    /// or of all calls. Spans over by `now` come from the rollup (counted
    /// and kept first if missing); open ones are counted live.
    pub async fn call_figures(
        &self,
        spans: &[Span],
        queue: Option<&str>,
        terms: &ReportTerms,
        now: i64,
    ) -> Result<Vec<CallFigures>, StoreError> {
        let kept = self.kept_hours(spans, terms, now).await?;
        let mut out = Vec::with_capacity(spans.len());
        for (span, kept) in spans.iter().zip(kept) {
            let figures = match kept {
                Kept::Ready(f) => f,
                Kept::Fill => self.fill_hour(*span, terms, now).await?,
                Kept::Live => self.count_live(*span, terms, now).await?,
            };
            out.push(pick_queue(&figures, queue));
        }
        Ok(out)
    }

    /// The call figures of each span counted from the records, no rollup
    /// read or written (what the rollups must equal).
    pub async fn call_figures_live(
        &self,
        spans: &[Span],
        queue: Option<&str>,
        terms: &ReportTerms,
        now: i64,
    ) -> Result<Vec<CallFigures>, StoreError> {
        let mut out = Vec::with_capacity(spans.len());
        for span in spans {
            out.push(pick_queue(
                &self.count_live(*span, terms, now).await?,
                queue,
            ));
        }
        Ok(out)
    }

    /// Agents' calls and states over `days` (local days), summed. Days over
    /// by `now` come from the rollup (counted and kept first if missing);
    /// today is counted live, up to `now`.
    pub async fn agent_figures(
        &self,
        days: &[Span],
        terms: &ReportTerms,
        now: i64,
    ) -> Result<AgentFigures, StoreError> {
        self.check_terms(terms).await?;
        let mut total = AgentFigures::default();
        let closed: Vec<Span> = days.iter().copied().filter(|d| d.end <= now).collect();
        let (kept, figures) = self.kept_days(&closed).await?;
        total.add(&figures);
        for day in days {
            if day.start >= now || kept.contains(&day.start) {
                continue;
            }
            let figures = if day.end <= now {
                self.fill_day(*day, terms, now).await?
            } else {
                self.count_agents_live(*day, now).await?
            };
            total.add(&figures);
        }
        Ok(total)
    }

    /// Agents' figures over `days` counted from the records alone.
    pub async fn agent_figures_live(
        &self,
        days: &[Span],
        now: i64,
    ) -> Result<AgentFigures, StoreError> {
        let mut total = AgentFigures::default();
        for day in days {
            if day.start < now {
                total.add(&self.count_agents_live(*day, now).await?);
            }
        }
        Ok(total)
    }

    /// Counts and keeps every span of `hours` and `days` that is over by
    /// `now` and not kept yet (and settles the FCR of hours whose window
    /// has passed), so later reports only read. What the runtime runs
    /// after each hour, and a load test before it measures warm reads.
    pub async fn roll_up(
        &self,
        hours: &[Span],
        days: &[Span],
        terms: &ReportTerms,
        now: i64,
    ) -> Result<RolledUp, StoreError> {
        let mut done = RolledUp::default();
        let kept = self.kept_hours(hours, terms, now).await?;
        for (span, kept) in hours.iter().zip(kept) {
            if matches!(kept, Kept::Fill) {
                self.fill_hour(*span, terms, now).await?;
                done.hours += 1;
            }
        }
        let closed: Vec<Span> = days.iter().copied().filter(|d| d.end <= now).collect();
        let (kept, _) = self.kept_days(&closed).await?;
        for day in &closed {
            if !kept.contains(&day.start) {
                self.fill_day(*day, terms, now).await?;
                done.days += 1;
            }
        }
        done.ticket_days = self.roll_up_tickets(&closed, terms, now).await?;
        Ok(done)
    }

    /// Empties the rollups (a load test's cold start).
    pub async fn forget_rollups(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        lock_rollups(
            &mut tx,
            self.backend(),
            &["report_hours", "report_days", "report_ticket_days"],
        )
        .await?;
        sqlx::raw_sql(
            "DELETE FROM report_hours; DELETE FROM report_days; DELETE FROM report_ticket_days",
        )
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        tx.commit().await.map_err(StoreError::from_sqlx)
    }

    /// What the rollup holds for each span, after making sure it was
    /// counted with `terms`.
    async fn kept_hours(
        &self,
        spans: &[Span],
        terms: &ReportTerms,
        now: i64,
    ) -> Result<Vec<Kept>, StoreError> {
        self.check_terms(terms).await?;
        let window = terms.fcr_window_ms();
        let closed: Vec<&Span> = spans.iter().filter(|s| s.end <= now).collect();
        let mut rows: HashMap<i64, (i64, QueueFigures, bool)> = HashMap::new();
        if let (Some(first), Some(last)) = (
            closed.iter().map(|s| s.start).min(),
            closed.iter().map(|s| s.start).max(),
        ) {
            let found = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {HOUR_COLUMNS} FROM report_hours \
                 WHERE hour_start >= $1 AND hour_start <= $2"
            )))
            .bind(first)
            .bind(last)
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::from_sqlx)?;
            for row in &found {
                let get = |name: &str| row.try_get::<i64, _>(name).map_err(StoreError::from_sqlx);
                let start = get("hour_start")?;
                let end = get("hour_end")?;
                let queue: String = row.try_get("queue").map_err(StoreError::from_sqlx)?;
                let settled = row
                    .try_get::<Option<i64>, _>("fcr_repeated")
                    .map_err(StoreError::from_sqlx)?
                    .is_some();
                let mut figures = figures_of(row, Some(0)).map_err(StoreError::from_sqlx)?;
                if !settled {
                    // Read so only while the whole hour is inside the
                    // window: every call's FCR still pending.
                    figures.fcr_pending = figures.fcr_calls;
                }
                let entry = rows
                    .entry(start)
                    .or_insert_with(|| (end, QueueFigures::new(), settled));
                entry.2 &= settled;
                entry.1.insert(queue, figures);
            }
        }
        Ok(spans
            .iter()
            .map(|span| {
                if span.end > now {
                    return Kept::Live;
                }
                match rows.remove(&span.start) {
                    // A span kept with other bounds (never, unless the
                    // calendar changed under the same zone name) or
                    // without its marker row is counted again.
                    Some((end, figures, settled))
                        if end == span.end && figures.contains_key("") =>
                    {
                        if settled {
                            Kept::Ready(figures)
                        } else if span.end + window <= now {
                            Kept::Fill
                        } else if span.start + window > now {
                            Kept::Ready(figures)
                        } else {
                            Kept::Live
                        }
                    }
                    _ => Kept::Fill,
                }
            })
            .collect())
    }

    /// Counts one hour and keeps it, in one transaction that holds the
    /// rollup's write lock (see the module docs); its FCR is kept only if
    /// every call's window has passed. Returns the figures counted.
    async fn fill_hour(
        &self,
        span: Span,
        terms: &ReportTerms,
        now: i64,
    ) -> Result<QueueFigures, StoreError> {
        let mut tx = self.begin_write().await?;
        lock_rollups(&mut tx, self.backend(), &["report_hours"]).await?;
        no_jit(&mut tx, self.backend()).await?;
        let figures = count_span(&mut tx, span, terms, now).await?;
        if !terms_match(&mut tx, terms).await? {
            // Another instance with other terms took over the rollups.
            tx.rollback().await.map_err(StoreError::from_sqlx)?;
            return Ok(figures);
        }
        let settled = span.end + terms.fcr_window_ms() <= now;
        sqlx::query("DELETE FROM report_hours WHERE hour_start = $1")
            .bind(span.start)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        let (none, empty) = (String::new(), CallFigures::default());
        // The row of queue "" marks the hour as counted, even if empty.
        let marker = (!figures.contains_key("")).then_some((&none, &empty));
        for (queue, f) in figures.iter().chain(marker) {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO report_hours ({HOUR_COLUMNS}) VALUES ({})",
                super::placeholders(1, 23)
            )))
            .bind(span.start)
            .bind(span.end)
            .bind(queue)
            .bind(f.inbound)
            .bind(f.offered)
            .bind(f.answered)
            .bind(f.answered_in_time)
            .bind(f.answer_wait_ms)
            .bind(f.longest_wait_ms)
            .bind(f.abandoned)
            .bind(f.abandon_wait_ms)
            .bind(f.callbacks)
            .bind(f.left_queue)
            .bind(f.waiting)
            .bind(f.handled)
            .bind(f.talk_ms)
            .bind(f.hold_ms)
            .bind(f.wrap_up_ms)
            .bind(f.transferred)
            .bind(f.outbound)
            .bind(f.outbound_answered)
            .bind(f.fcr_calls)
            .bind(settled.then_some(f.fcr_repeated))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(figures)
    }

    /// A transaction for reading a report's counts (no JIT on PostgreSQL).
    pub(super) async fn read_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let mut tx = self.pool().begin().await.map_err(StoreError::from_sqlx)?;
        no_jit(&mut tx, self.backend()).await?;
        Ok(tx)
    }

    /// Counts one span from the records, in a transaction of its own.
    async fn count_live(
        &self,
        span: Span,
        terms: &ReportTerms,
        now: i64,
    ) -> Result<QueueFigures, StoreError> {
        let mut tx = self.read_tx().await?;
        let figures = count_span(&mut tx, span, terms, now).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(figures)
    }

    async fn count_agents_live(&self, span: Span, now: i64) -> Result<AgentFigures, StoreError> {
        let mut tx = self.read_tx().await?;
        let figures = count_agent_span(&mut tx, span, now).await?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(figures)
    }

    /// A snapshot to read kept days in (REPEATABLE READ on PostgreSQL: one
    /// for every read, so a day invalidated meanwhile is either wholly in
    /// or wholly out), and which of `days` have their marker row in
    /// `table` (`report_days`, `report_ticket_days`).
    pub(super) async fn kept_day_markers(
        &self,
        table: &'static str,
        days: &[Span],
    ) -> Result<(sqlx::Transaction<'static, sqlx::Any>, HashSet<i64>), StoreError> {
        let mut tx = self.pool().begin().await.map_err(StoreError::from_sqlx)?;
        if self.backend() == Backend::Postgres {
            sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        let mut kept = HashSet::new();
        let (Some(first), Some(last)) = (
            days.iter().map(|d| d.start).min(),
            days.iter().map(|d| d.start).max(),
        ) else {
            return Ok((tx, kept));
        };
        let wanted: HashSet<Span> = days.iter().copied().collect();
        let markers = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(format!(
            "SELECT day_start, day_end FROM {table} WHERE day_start >= $1 AND day_start <= $2"
        )))
        .bind(first)
        .bind(last)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        for (start, end) in markers {
            if wanted.contains(&Span { start, end }) {
                kept.insert(start);
            }
        }
        Ok((tx, kept))
    }

    /// Which of `days` are kept, and their kept agents' figures summed by
    /// the database, in one snapshot (a month of 1,200 agents is some
    /// 200,000 rows; their sums a few thousand).
    async fn kept_days(&self, days: &[Span]) -> Result<(HashSet<i64>, AgentFigures), StoreError> {
        let mut figures = AgentFigures::default();
        let (mut tx, kept) = self.kept_day_markers("report_days", days).await?;
        if kept.is_empty() {
            return Ok((kept, figures));
        }
        let starts: Vec<i64> = kept.iter().copied().collect();
        let list = super::id_list(&starts);
        let calls = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT agent_id, CAST(SUM(inbound) AS BIGINT) AS inbound, \
             CAST(SUM(outbound) AS BIGINT) AS outbound, CAST(SUM(handled) AS BIGINT) AS handled, \
             CAST(SUM(talk_ms) AS BIGINT) AS talk_ms, CAST(SUM(hold_ms) AS BIGINT) AS hold_ms, \
             CAST(SUM(wrap_up_ms) AS BIGINT) AS wrap_up_ms \
             FROM report_agent_days WHERE day_start IN ({list}) GROUP BY agent_id"
        )))
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        for row in &calls {
            let get = |name: &str| row.try_get::<i64, _>(name).map_err(StoreError::from_sqlx);
            figures.calls.insert(
                get("agent_id")?,
                AgentCalls {
                    inbound: get("inbound")?,
                    outbound: get("outbound")?,
                    handled: get("handled")?,
                    talk_ms: get("talk_ms")?,
                    hold_ms: get("hold_ms")?,
                    wrap_up_ms: get("wrap_up_ms")?,
                },
            );
        }
        let states = sqlx::query_as::<_, (i64, String, String, i64)>(sqlx::AssertSqlSafe(format!(
            "SELECT agent_id, state, reason, CAST(SUM(ms) AS BIGINT) FROM report_agent_states \
             WHERE day_start IN ({list}) GROUP BY agent_id, state, reason"
        )))
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        for (agent, state, reason, ms) in states {
            figures.states.insert((agent, state, reason), ms);
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok((kept, figures))
    }

    /// Counts one day's agents' figures and keeps them, as
    /// [`Store::fill_hour`] does an hour.
    async fn fill_day(
        &self,
        day: Span,
        terms: &ReportTerms,
        now: i64,
    ) -> Result<AgentFigures, StoreError> {
        let mut tx = self.begin_write().await?;
        lock_rollups(&mut tx, self.backend(), &["report_days"]).await?;
        no_jit(&mut tx, self.backend()).await?;
        let figures = count_agent_span(&mut tx, day, now).await?;
        if !terms_match(&mut tx, terms).await? {
            tx.rollback().await.map_err(StoreError::from_sqlx)?;
            return Ok(figures);
        }
        sqlx::query("DELETE FROM report_days WHERE day_start = $1")
            .bind(day.start)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        sqlx::query("INSERT INTO report_days (day_start, day_end) VALUES ($1, $2)")
            .bind(day.start)
            .bind(day.end)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        for (agent, c) in &figures.calls {
            sqlx::query(
                "INSERT INTO report_agent_days (day_start, agent_id, inbound, outbound, handled, \
                 talk_ms, hold_ms, wrap_up_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(day.start)
            .bind(*agent)
            .bind(c.inbound)
            .bind(c.outbound)
            .bind(c.handled)
            .bind(c.talk_ms)
            .bind(c.hold_ms)
            .bind(c.wrap_up_ms)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        for ((agent, state, reason), ms) in &figures.states {
            sqlx::query(
                "INSERT INTO report_agent_states (day_start, agent_id, state, reason, ms) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(day.start)
            .bind(*agent)
            .bind(state)
            .bind(reason)
            .bind(*ms)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(figures)
    }

    /// Makes sure the rollups were counted with `terms`: if not, deletes
    /// them all and writes `terms`.
    pub(super) async fn check_terms(&self, terms: &ReportTerms) -> Result<(), StoreError> {
        let mut conn = self.pool().acquire().await.map_err(StoreError::from_sqlx)?;
        if terms_match(&mut conn, terms).await? {
            return Ok(());
        }
        drop(conn);
        let mut tx = self.begin_write().await?;
        lock_rollups(
            &mut tx,
            self.backend(),
            &["report_hours", "report_days", "report_ticket_days"],
        )
        .await?;
        if !terms_match(&mut tx, terms).await? {
            sqlx::raw_sql(
                "DELETE FROM report_hours; DELETE FROM report_days; DELETE FROM report_ticket_days",
            )
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
            sqlx::query(
                "INSERT INTO report_settings (id, time_zone, service_level_ms, fcr_days) \
                 VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET \
                 time_zone = $1, service_level_ms = $2, fcr_days = $3",
            )
            .bind(terms.zone_name())
            .bind(terms.service_level_ms)
            .bind(i64::from(terms.fcr_days))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)
    }

    /// Usernames and display names of `ids` (users that exist).
    pub async fn user_names(
        &self,
        ids: &[i64],
    ) -> Result<HashMap<i64, (String, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query_as::<_, (i64, String, String)>(sqlx::AssertSqlSafe(format!(
            "SELECT id, username, display_name FROM users WHERE id IN ({})",
            super::id_list(ids)
        )))
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(rows
            .into_iter()
            .map(|(id, user, name)| (id, (user, name)))
            .collect())
    }
}

/// Whether the rollups were counted with `terms`.
pub(super) async fn terms_match(
    conn: &mut AnyConnection,
    terms: &ReportTerms,
) -> Result<bool, StoreError> {
    let row = sqlx::query_as::<_, (String, i64, i64)>(
        "SELECT time_zone, service_level_ms, fcr_days FROM report_settings WHERE id = 1",
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::from_sqlx)?;
    Ok(row.is_some_and(|(zone, sl, fcr)| {
        zone == terms.zone_name()
            && sl == terms.service_level_ms
            && fcr == i64::from(terms.fcr_days)
    }))
}

/// PostgreSQL: no JIT for the statements of this transaction. A report's
/// queries are planned once and run for every hour (a prepared statement's
/// generic plan), and their estimated cost, per-row lookups included, is
/// far over `jit_above_cost`: compiling them took 0.7 s each on the 2-core
/// test machine, where running one takes 0.2 s.
pub(super) async fn no_jit(conn: &mut AnyConnection, backend: Backend) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        sqlx::raw_sql("SET LOCAL jit = off")
            .execute(&mut *conn)
            .await
            .map_err(StoreError::from_sqlx)?;
    }
    Ok(())
}

/// PostgreSQL: takes the rollup's write lock, which the invalidation
/// triggers' `ROW EXCLUSIVE` waits for (and which waits for theirs).
/// SQLite's `BEGIN IMMEDIATE` already shuts every other writer out.
pub(super) async fn lock_rollups(
    conn: &mut AnyConnection,
    backend: Backend,
    tables: &[&str],
) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE",
            tables.join(", ")
        )))
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?;
    }
    Ok(())
}

/// One queue's figures, or all queues summed.
fn pick_queue(figures: &QueueFigures, queue: Option<&str>) -> CallFigures {
    match queue {
        Some(q) => figures.get(q).copied().unwrap_or_default(),
        None => {
            let mut total = CallFigures::default();
            for f in figures.values() {
                total.add(f);
            }
            total
        }
    }
}

/// The local days from `from` to `to` that a report may cover at most
/// (for the API's limits): the span in days, inclusive.
pub fn days_between(from: Date, to: Date) -> Option<i64> {
    let span = from.until(to).ok()?;
    Some(i64::from(span.get_days()) + 1)
}

/// The date `days` before `date` (for defaults).
pub fn days_before(date: Date, days: i64) -> Option<Date> {
    date.checked_sub(days.days()).ok()
}
