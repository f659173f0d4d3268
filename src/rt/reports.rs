//! Keeps the reports' rollups warm: every few minutes, counts and keeps
//! the local hours and days that have closed since (and settles the
//! first-call resolution of hours whose window has passed), and the days
//! of the last two weeks a late record dropped (a follow-up days after a
//! repair), so the first report of the morning reads rather than counts.
//!
//! Nothing depends on it for being right: a report counts whatever is not
//! kept, and the store's triggers drop what a late record changes (see
//! [`crate::store::reports`]). It only moves the counting off the request.
//! Each hour is counted in its own short transaction, so the record writer
//! waits at most one hour's count. Several instances sharing a database
//! may all run it: the rollup's lock serialises them, and a span already
//! kept is skipped.

use std::time::Duration;

use jiff::ToSpan;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::wall_ms;
use crate::store::Store;
use crate::store::reports::{ReportTerms, local_days, local_hours};

/// How often closed spans are looked for.
const EVERY: Duration = Duration::from_secs(300);
/// How far back each round looks: yesterday and today, plus the day whose
/// calls' FCR windows close today.
const DAYS_BACK: i64 = 2;
/// How far back days are kept again when a late record dropped them: a
/// survey follows a repair up days after its completion, and an agent's
/// state change or a call can be written late after an outage.
const RECOUNT_DAYS: i64 = 14;

/// Rolls up until `stop` turns true.
pub(super) async fn keep_rollups(
    store: Store,
    terms: ReportTerms,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let now = wall_ms();
        let Ok(stamp) = jiff::Timestamp::from_millisecond(now) else {
            continue;
        };
        let today = stamp.to_zoned(terms.time_zone.clone()).date();
        // The hours whose FCR settles today arrived fcr_days ago.
        let back = i64::from(terms.fcr_days) + 1;
        let mut spans = Vec::new();
        for from in [
            today.checked_sub(DAYS_BACK.days()),
            today.checked_sub(back.days()),
        ] {
            let Ok(from) = from else { continue };
            let until = from
                .checked_add(DAYS_BACK.days())
                .unwrap_or(today)
                .min(today);
            if let Some(days) = local_days(&terms.time_zone, from, until) {
                spans.extend(days);
            }
        }
        spans.sort_unstable();
        spans.dedup();
        let hours: Vec<_> = spans.iter().copied().flat_map(local_hours).collect();
        // Days a late follow-up or breach made count again are kept again
        // (kept days are skipped at the cost of one read).
        if let Ok(from) = today.checked_sub(RECOUNT_DAYS.days())
            && let Some(days) = local_days(&terms.time_zone, from, today)
        {
            spans.extend(days);
            spans.sort_unstable();
            spans.dedup();
        }
        match store.roll_up(&hours, &spans, &terms, now).await {
            Ok(done) => debug!(
                hours = done.hours,
                days = done.days,
                ticket_days = done.ticket_days,
                "report rollups kept"
            ),
            Err(e) => warn!(error = %e, "report rollups failed; trying again later"),
        }
    }
}
