//! The wallboard's runtime: the driver's [`Feed`] counts today's figures
//! from every record op the engine emits and publishes a snapshot of the
//! floor (`Engine::board`) on a `watch` channel, at most every
//! [`MIN_GAP`] while things change and at least every [`HEARTBEAT`]
//! (waits grow and alerts come due with nothing happening); a render task
//! turns each snapshot into one JSON frame for every wallboard
//! ([`crate::api::wallboard`]); a reader brings the day's SLA breaches
//! from the store every [`BREACHES_EVERY`].
//!
//! Invariants:
//! - The driver never waits for the board: it only replaces the latest
//!   snapshot (a `watch` send), whoever reads it and however slowly.
//!   Serialising, and every client, happen off the driver.
//! - Every op the store gets, the tally gets, in the same order, so the
//!   live figures and the store's agree; at start the tally begins from
//!   what the store holds of the day (a restart does not zero the board).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::wall_ms;
use crate::api::wallboard::{Frame, WallboardHub};
use crate::config::Settings;
use crate::engine::Engine;
use crate::records::RecordOp;
use crate::store::Store;
use crate::wallboard::{Board, Breaches, Live, Tally, Thresholds, Today, day_of};

/// While the floor changes, a snapshot at most this often.
const MIN_GAP: Duration = Duration::from_millis(250);
/// A snapshot at least this often, changed or not.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often the day's SLA breaches are read from the store.
const BREACHES_EVERY: Duration = Duration::from_secs(10);
/// The latest breaches a frame lists.
const BREACHES_SHOWN: i64 = 20;

/// The floor and the day's figures at one moment.
#[derive(Debug)]
pub(super) struct Snapshot {
    live: Live,
    today: Today,
}

/// The driver's side: today's tally and when to publish next.
pub(super) struct Feed {
    tally: Tally,
    /// Something moved since the last snapshot.
    changed: bool,
    last: Option<Instant>,
    snapshots: watch::Sender<Option<Arc<Snapshot>>>,
}

impl Feed {
    /// A record op on its way to the store.
    pub(super) fn record(&mut self, op: &RecordOp) {
        if self.tally.apply(op) {
            self.changed = true;
        }
    }

    /// When the driver must wake up for the next snapshot.
    pub(super) fn due(&self) -> Option<Instant> {
        let last = self.last?;
        Some(last + if self.changed { MIN_GAP } else { HEARTBEAT })
    }

    /// Publishes a snapshot of `engine` if one is due at `now`.
    pub(super) fn publish_if_due(&mut self, engine: &Engine, now: Instant) {
        if self.due().is_some_and(|due| now < due) {
            return;
        }
        let live = engine.board(now);
        self.tally.roll(live.at_ms);
        let today = self.tally.today().clone();
        self.snapshots
            .send_replace(Some(Arc::new(Snapshot { live, today })));
        self.changed = false;
        self.last = Some(now);
    }
}

/// Starts the wallboard: the tally seeded from the store, the render task
/// and the breach reader (both end when `stop` turns true). The hub goes to
/// the API, the feed to the driver.
pub(super) async fn start(
    store: &Store,
    settings: &Settings,
    stop: watch::Receiver<bool>,
) -> (Feed, Arc<WallboardHub>, Vec<JoinHandle<()>>) {
    let thresholds = Thresholds::from(&settings.monitoring);
    let zone = settings.desk.time_zone.clone();
    let in_time_ms = i64::from(thresholds.service_level_secs) * 1000;
    let mut tally = Tally::new(zone.clone(), in_time_ms, wall_ms());
    let day = tally.today().clone();
    match store
        .wallboard_today(day.start_ms, day.end_ms, in_time_ms)
        .await
    {
        Ok(seed) => {
            if !tally.seed(&seed) {
                debug!(
                    "the day turned while the wallboard's figures were read: starting from zero"
                );
            }
        }
        Err(e) => {
            warn!(error = %e, "wallboard: today's figures so far could not be read; counting from now")
        }
    }
    let (snapshots, snapshot_rx) = watch::channel(None);
    let (frames, frame_rx) = watch::channel(None);
    let (breaches_tx, breaches_rx) = watch::channel(Breaches::default());
    let tasks = vec![
        tokio::spawn(read_breaches(
            store.clone(),
            zone,
            breaches_tx,
            stop.clone(),
        )),
        tokio::spawn(render(snapshot_rx, breaches_rx, frames, thresholds, stop)),
    ];
    let feed = Feed {
        tally,
        changed: true,
        last: None,
        snapshots,
    };
    (feed, Arc::new(WallboardHub::new(frame_rx)), tasks)
}

/// Turns each snapshot (and each new list of breaches) into the frame
/// every wallboard is sent.
async fn render(
    mut snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    mut breaches: watch::Receiver<Breaches>,
    frames: watch::Sender<Option<Frame>>,
    thresholds: Thresholds,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { return },
            changed = breaches.changed() => if changed.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
        let Some(snapshot) = snapshots.borrow_and_update().clone() else {
            continue;
        };
        let breaches = breaches.borrow_and_update().clone();
        let board = Board::build(
            &snapshot.live,
            &snapshot.today,
            &breaches,
            &thresholds,
            snapshot.live.at_ms,
        );
        match serde_json::to_string(&board) {
            Ok(text) => {
                frames.send_replace(Some(Frame::from(text)));
            }
            Err(e) => tracing::error!(error = %e, "wallboard frame not serialisable"),
        }
    }
}

/// Reads the day's SLA breaches (the SLA watch writes them) until `stop`;
/// a database outage keeps the last list and is tried again.
async fn read_breaches(
    store: Store,
    zone: jiff::tz::TimeZone,
    breaches: watch::Sender<Breaches>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(BREACHES_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let (_, from, to) = day_of(&zone, wall_ms());
        match store.wallboard_breaches(from, to, BREACHES_SHOWN).await {
            Ok(found) => {
                breaches.send_if_modified(|b| {
                    let new = *b != found;
                    *b = found;
                    new
                });
            }
            Err(e) => warn!(error = %e, "wallboard: SLA breaches not read; trying again"),
        }
    }
}
