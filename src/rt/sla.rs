//! The SLA watch: once a minute, finds tickets whose next stage is overdue
//! and raises each breach once: a row in `ticket_breaches` (what the
//! wallboard and notifications read) and a warning in the log.
//!
//! Due times are computed by the ticket core on every move and stored with
//! the ticket (see [`crate::store::Store::save_transition`]), so the watch
//! is one indexed query. It runs with the wall clock (this is the runtime
//! layer); a database outage is logged and tried again next minute.

use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, warn};

use super::wall_ms;
use crate::store::Store;

/// How often overdue tickets are looked for.
const CHECK_EVERY: Duration = Duration::from_secs(60);

/// Checks until `stop` turns true.
pub(super) async fn watch_breaches(store: Store, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match store.record_breaches(wall_ms()).await {
            Ok(breaches) => {
                for b in &breaches {
                    warn!(
                        ticket = %b.number,
                        due_stage = %b.stage,
                        due_at = b.due_at,
                        "SLA breached: the ticket is overdue"
                    );
                }
                debug!(found = breaches.len(), "SLA check done");
            }
            Err(e) => warn!(error = %e, "SLA check failed; trying again next minute"),
        }
    }
}
