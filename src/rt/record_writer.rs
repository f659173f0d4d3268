//! The record writer: one task that writes [`RecordOp`]s to the [`Store`]
//! strictly in the order they were sent, retrying until each is written.
//!
//! Why this shape:
//! - The call path must never wait on the database, so [`RecordSink::send`]
//!   pushes onto an unbounded queue and returns at once. The queue grows
//!   during an outage instead of blocking calls; [`RecordSink::pending`]
//!   shows how far behind the writer is (`/api/health`).
//! - Ops of one call depend on each other (an event needs its call's row),
//!   and later ops of a call overwrite earlier ones (`Digits`), so they are
//!   applied in order, and a failing op holds back all the ops behind it.
//! - What has queued up is written in one transaction (up to
//!   [`MAX_BATCH`] ops): a commit is a disk flush, and one per op could not
//!   keep up with hundreds of calls a second. If the batch fails, the first
//!   op goes alone with the retries below, then the rest is tried as a
//!   batch again.
//! - A database outage must not lose a record: a failed op is retried with
//!   exponential backoff (50 ms, doubling, capped at 5 s), forever, with a
//!   `warn` log per failure. Every op is idempotent (see [`crate::store`]),
//!   so retrying after an ambiguous failure (e.g. the commit happened but
//!   the connection dropped) is safe.
//! - The one exception is [`StoreError::MissingCall`]: the op names a call
//!   that has no row, which in-order writing cannot produce and waiting will
//!   not fix. It is retried [`MISSING_CALL_ATTEMPTS`] times in all (in case
//!   a row is being restored by hand), then dropped with an `error` log so
//!   the queue moves on.
//! - Shutdown flushes: when every [`RecordSink`] clone is dropped the task
//!   writes what is still queued and then ends; the runtime awaits the
//!   [`JoinHandle`]. During an outage that wait lasts until the database
//!   comes back (never dropping records is the point); a runtime that must
//!   stop anyway puts a timeout on the join and logs `pending()`.
//! - Every transaction (a batch) and every single-op attempt is timed into
//!   [`RecordSink::db_writes`], failed ones too, for `GET /metrics`: how
//!   long the database takes is what decides whether the queue grows.
//!
//! Backoff sleeps use `tokio::time`, so a paused test clock drives them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::metrics::DbWrites;
use crate::records::RecordOp;
use crate::store::{Store, StoreError};

/// First retry delay after a failed write.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
/// Longest delay between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Attempts in all for an op that fails with [`StoreError::MissingCall`]
/// before it is dropped.
pub const MISSING_CALL_ATTEMPTS: u32 = 4;

/// The sending end of the record queue. Cheap to clone; never blocks.
#[derive(Debug, Clone)]
pub struct RecordSink {
    tx: mpsc::UnboundedSender<RecordOp>,
    pending: Arc<AtomicUsize>,
    db: Arc<DbWrites>,
}

impl RecordSink {
    /// Queue `op` for writing. Returns at once. If the writer task is gone
    /// (it panicked), the op is lost and that is logged as an error.
    pub fn send(&self, op: RecordOp) {
        // Count before sending so the writer never decrements below zero.
        self.pending.fetch_add(1, Ordering::SeqCst);
        if let Err(mpsc::error::SendError(op)) = self.tx.send(op) {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            tracing::error!(
                call_id = op.call_id(),
                ?op,
                "record writer is gone; record lost"
            );
        }
    }

    /// A sink whose ops go to the returned receiver instead of a store.
    #[cfg(test)]
    pub(crate) fn for_test() -> (RecordSink, mpsc::UnboundedReceiver<RecordOp>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let db = Arc::default();
        (RecordSink { tx, pending, db }, rx)
    }

    /// Ops sent but not yet written (or dropped).
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// The shared counter behind [`RecordSink::pending`], for
    /// [`crate::api::Live::pending_records`].
    pub fn pending_counter(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.pending)
    }

    /// How long the writes take and how many fail, for
    /// [`crate::rt::metrics::Metrics`].
    pub fn db_writes(&self) -> Arc<DbWrites> {
        Arc::clone(&self.db)
    }
}

/// Start the writer task on the current tokio runtime.
pub fn spawn(store: Store) -> (RecordSink, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let pending = Arc::new(AtomicUsize::new(0));
    let db: Arc<DbWrites> = Arc::default();
    let task = tokio::spawn(run(store, rx, Arc::clone(&pending), Arc::clone(&db)));
    (RecordSink { tx, pending, db }, task)
}

/// Most ops written in one transaction.
pub const MAX_BATCH: usize = 256;

async fn run(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<RecordOp>,
    pending: Arc<AtomicUsize>,
    db: Arc<DbWrites>,
) {
    // recv_many keeps yielding queued ops after the last sender is dropped
    // and returns 0 only once the queue is empty: that is the flush.
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        write_batch(&store, &batch, &pending, &db).await;
        batch.clear();
    }
    tracing::debug!("record writer finished");
}

/// Writes what is queued in one transaction when it can; otherwise the
/// first op alone (with the retries of [`write`]), then tries the rest as a
/// batch again. Ops are idempotent, so a rolled-back batch replays safely.
async fn write_batch(store: &Store, mut ops: &[RecordOp], pending: &AtomicUsize, db: &DbWrites) {
    while let Some((first, rest)) = ops.split_first() {
        if !rest.is_empty() && timed(db, store.apply_batch(ops)).await.is_ok() {
            pending.fetch_sub(ops.len(), Ordering::SeqCst);
            return;
        }
        write(store, first, db).await;
        pending.fetch_sub(1, Ordering::SeqCst);
        ops = rest;
    }
}

/// Write one op, retrying as the module docs say; returns once it is
/// written or deliberately dropped.
async fn write(store: &Store, op: &RecordOp, db: &DbWrites) {
    let mut delay = INITIAL_BACKOFF;
    let mut attempt: u32 = 1;
    loop {
        let err = match timed(db, store.apply(op)).await {
            Ok(()) => return,
            Err(e) => e,
        };
        if matches!(err, StoreError::MissingCall { .. }) && attempt >= MISSING_CALL_ATTEMPTS {
            tracing::error!(
                call_id = op.call_id(),
                ?op,
                attempts = attempt,
                "record for a call with no row; dropped"
            );
            return;
        }
        tracing::warn!(
            call_id = op.call_id(),
            attempt,
            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %ErrorChain(&err),
            "record write failed; will retry"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_BACKOFF);
        attempt = attempt.saturating_add(1);
    }
}

/// Runs one write, timing it (and counting it if it failed) into `db`.
async fn timed<T>(
    db: &DbWrites,
    write: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let started = tokio::time::Instant::now();
    let result = write.await;
    db.latency.observe(started.elapsed());
    if result.is_err() {
        db.failures.fetch_add(1, Ordering::Relaxed);
    }
    result
}

/// Displays an error with its sources, `a: b: c`, for the logs.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}
