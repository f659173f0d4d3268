//! The runtime side of outbound campaigns that exists so far: survey
//! campaigns that follow up completed tickets get every completed ticket
//! enrolled, at start and then every minute. Enrolment is idempotent in the
//! store (one contact per ticket completion), so a crash or a second
//! instance never enrols a ticket twice, and a ticket completed while the
//! server was down is enrolled at the next start.

use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use super::wall_ms;
use crate::campaign::Rules;
use crate::store::Store;

const EVERY: Duration = Duration::from_secs(60);

/// Enrols completed tickets in each campaign that follows them up, until
/// `stop` says so.
pub(super) async fn enroll_completed(
    store: Store,
    campaigns: Vec<Rules>,
    mut stop: watch::Receiver<bool>,
) {
    let follow_ups: Vec<(String, i64)> = campaigns
        .iter()
        .filter_map(|c| {
            let after = c.enroll_completed_after?;
            Some((
                c.name.clone(),
                i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            ))
        })
        .collect();
    if follow_ups.is_empty() {
        return;
    }
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        for (campaign, delay_ms) in &follow_ups {
            match store
                .enroll_completed_tickets(campaign, *delay_ms, wall_ms())
                .await
            {
                Ok(0) => {}
                Ok(n) => info!(
                    campaign,
                    enrolled = n,
                    "completed tickets enrolled for follow-up"
                ),
                Err(e) => {
                    warn!(campaign, error = %e, "cannot enrol completed tickets; trying again in a minute")
                }
            }
        }
    }
}
