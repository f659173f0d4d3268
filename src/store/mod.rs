//! The store: call records and the after-sales records (customers, their
//! phones and products, service outlets, tickets) in SQLite (default, one
//! embedded file) or PostgreSQL, through one sqlx `any` pool.
//!
//! Owns the SQL, the row types and the schema (see [`migrate`]); knows
//! nothing of SIP or the call engine beyond the plain [`RecordOp`] data.
//! The call records are written through [`Store::apply`]; the after-sales
//! records are read by the IVR's lookups ([`Store::customer_by_phone`],
//! [`Store::open_tickets_by_phone`], [`Store::ticket_by_number`]) and the
//! agent's screen pop ([`Store::screen_pop`]); written by the API (users,
//! outlets, tickets and their stamps, the knowledge base, searched during a
//! call with [`Store::search_articles`]). Customers, their phones and
//! products are kept by [`customers`] (create, edit, list, timeline, CSV
//! import); [`Store::seed_demo`] seeds a demo world. Users carry the
//! skills and queues an agent logs in to the ACD with, read by the runtime
//! through [`Store::agent_profile`] (text forms in [`parse_skills`] and
//! [`parse_queues`]); the ACD's records (queue, agent, wait, talk, hold,
//! wrap-up on `calls`, and `agent_state_log`) come through [`Store::apply`].
//!
//! Invariants and choices:
//! - One SQL text for both backends: `$N` placeholders only, times as `i64`
//!   epoch milliseconds, no SQLite `BOOLEAN` (the `any` driver cannot decode
//!   it). Rows are read with `Row::try_get` through a manual
//!   [`FromRow`] impl, because the crate builds sqlx without its macros.
//! - Every [`Store::apply`] is idempotent, so the record writer
//!   ([`crate::rt::record_writer`]) may retry any op after an ambiguous
//!   failure without duplicating anything. Per op:
//!   - `Arrived` inserts the row if it is absent (`ON CONFLICT (id) DO
//!     NOTHING`): the first arrival wins.
//!   - `Answered` and `Ended` fill their columns only while they are still
//!     NULL: the first answer and the first end win, a retry changes nothing.
//!   - `Digits` overwrites `digits` (the op always carries the whole string).
//!   - `Event` inserts on `(call_id, seq)`, doing nothing if present.
//!   - `Message` inserts on `(call_id, file)`, doing nothing if present.
//!   - `Queued` sets `queue` and `queued_at` unless the row already has a
//!     later `queued_at`: the latest queue wins, even over a late retry.
//!   - `AgentAnswered` fills `agent_id`, `agent_answered_at` and `wait_ms`
//!     only while `agent_id` is NULL: the first agent is kept (later ones
//!     come with transfers).
//!   - `Handled` and `WrapUp` overwrite their columns (`talk_ms`,
//!     `hold_ms`, `transfers`; `wrap_up_ms`, `disposition`,
//!     `wrap_up_notes`): each carries the call's values so far, so the
//!     latest wins and a retry writes the same again.
//!   - `AgentState` inserts into `agent_state_log` on its `id`, doing
//!     nothing if present. It names no call, so it never fails with
//!     [`StoreError::MissingCall`].
//! - An update, event or message for a call whose row is absent returns
//!   [`StoreError::MissingCall`]. Applied in order this cannot happen; the
//!   writer retries it a few times, then drops the op with an error log.
//! - SQLite runs in WAL mode with a 5 s busy timeout and foreign keys on,
//!   set on every new connection. The `any` driver re-parses the URL for each
//!   connection, so `sqlite::memory:` would give each pooled connection its
//!   own empty database: use a file (tests use a temp dir).

mod agents;
pub mod campaign_figures;
pub mod campaigns;
pub mod customers;
mod demo;
mod demo_crowd;
mod kb;
mod lookups;
mod migrate;
mod outlets;
pub mod qa;
pub mod recordings;
pub mod reports;
mod screen_pop;
mod table;
pub mod ticket_reports;
mod tickets;
mod users;
mod wallboard;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::error::ErrorKind;
use sqlx::{AnyConnection, AnyPool, FromRow, Row};

use crate::records::RecordOp;

pub use agents::{
    AgentProfile, SKILL_LEVELS, check_queues, check_skills, format_queues, format_skills,
    parse_queues, parse_skills,
};
pub use customers::{
    Customer, CustomerFilter, CustomerPage, CustomerPatch, ImportReport, NewCustomer, NewProduct,
    Product, TimelineEntry,
};
pub use kb::{Article, ArticleFilter, ArticleHit, ArticlePage, KB_PAGE_MAX, NewArticle};
pub use lookups::{CustomerSummary, OPEN_TICKETS_LIMIT, TicketKind, TicketStage, TicketSummary};
pub use migrate::{MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE, Migration};
pub use outlets::{OutletInput, OutletRecord, suggest as suggest_outlets};
pub use screen_pop::{POP_CALLS_LIMIT, PopCall, PopCustomer, ScreenPop};
pub use table::{calls_table, civil_from_days, format_duration_ms, format_utc_ms};
pub use tickets::{
    BreachRow, NewTicket, StampRow, TicketDetail, TicketEdit, TicketFilter, TicketPage, TicketRow,
};
pub use users::{NewUser, Role, User, UserChanges};

/// How long a query waits for a pooled connection before giving up with
/// [`StoreError::Unavailable`]; keeps `/api/health` answering while the
/// database is down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Run on every new SQLite connection. The sqlite driver already defaults
/// to a 5 s busy timeout and foreign keys on; we say so here rather than
/// depend on a default. WAL lets the API read while the writer writes.
const SQLITE_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no backend we support (`sqlite:` or
    /// `postgres:`/`postgresql:`).
    #[error("unsupported database URL (expected sqlite:... or postgres://...): {0}")]
    UnsupportedUrl(String),
    /// Could not open the database or make the first connection.
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    /// A migration failed; its transaction was rolled back.
    #[error("migration {version} ({name}) failed")]
    Migrate {
        version: i64,
        name: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// The database was migrated by a newer hotline than this one.
    #[error("database schema version {found} is newer than this build knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    /// An update or event named a call that has no row. Ops applied in order
    /// never cause this; the record writer retries it a few times and then
    /// drops the op with an error log.
    #[error("no call with id {call_id:?}")]
    MissingCall { call_id: String },
    /// The database cannot be reached right now (connection lost, pool
    /// closed or exhausted, server shutting down, SQLite busy); worth
    /// retrying.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database error (bad SQL, missing table, decode failure).
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// The record an operation names does not exist; says which kind of
    /// record (`"article"`, `"user"`, ...), for a 404 naming it.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Optimistic versioning: an edit named a version the record has moved
    /// on from (someone else saved first). `current` is the version now, so
    /// the client can reload and retry; nothing was written.
    #[error("version conflict: the record is now at version {current}")]
    VersionConflict { current: i64 },
    /// All 9999 ticket numbers of the day are used.
    #[error("all 9999 ticket numbers of the day are used")]
    NoTicketNumbers,
    /// A value that must be unique (named) is taken.
    #[error("that {0} is taken")]
    Duplicate(&'static str),
    /// The input failed its checks; nothing was written. Every problem,
    /// by field (the API answers 400 with the list).
    #[error("invalid input: {}", crate::validate::join(.0))]
    Invalid(Vec<crate::validate::FieldError>),
    /// A phone number (normalised) already belongs to another customer.
    #[error("phone {phone} already belongs to customer #{customer_id}")]
    PhoneTaken { phone: String, customer_id: i64 },
    /// A product serial is already registered for that model (to
    /// `customer_id`, as product `product_id`).
    #[error("serial {serial} of {model} is already registered (customer #{customer_id})")]
    SerialTaken {
        model: String,
        serial: String,
        product_id: i64,
        customer_id: i64,
    },
}

impl StoreError {
    /// Sort a sqlx error into [`StoreError::Unavailable`] (transient) or
    /// [`StoreError::Database`].
    fn from_sqlx(e: sqlx::Error) -> StoreError {
        if is_transient(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Database(e)
        }
    }

    /// Like [`StoreError::from_sqlx`], but a unique violation becomes
    /// [`StoreError::Duplicate`] naming `what`.
    fn from_sqlx_unique(e: sqlx::Error, what: &'static str) -> StoreError {
        match &e {
            sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
                StoreError::Duplicate(what)
            }
            _ => StoreError::from_sqlx(e),
        }
    }

    /// True when the database could not be reached (as opposed to a query
    /// that reached it and failed); the API answers 503 for these.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Connect(_))
    }
}

fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => match db.code() {
            // PostgreSQL: 08 connection exception, 53 insufficient
            // resources, 57P admin/crash shutdown, 40001/40P01 retryable.
            Some(code) => {
                code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57P")
                    || code == "40001"
                    || code == "40P01"
                    // SQLite: SQLITE_BUSY (5) / SQLITE_LOCKED (6) and their
                    // extended codes (low byte 5 or 6).
                    || code
                        .parse::<i32>()
                        .is_ok_and(|c| matches!(c & 0xff, 5 | 6))
            }
            None => false,
        },
        _ => false,
    }
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            // Only the scheme: the rest may hold a password.
            let shown = match url.split_once(':') {
                Some((scheme, _)) => format!("{scheme}:..."),
                None => "no scheme".to_owned(),
            };
            Err(StoreError::UnsupportedUrl(shown))
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// One row of `calls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CallRow {
    pub id: String,
    pub sip_call_id: String,
    pub from_number: String,
    pub to_number: String,
    pub service_number: String,
    /// Epoch ms.
    pub arrived_at: i64,
    /// Epoch ms; `None` until answered.
    pub answered_at: Option<i64>,
    /// Epoch ms; `None` while the call is up (or if its end was never
    /// recorded).
    pub ended_at: Option<i64>,
    pub digits: String,
    pub hangup_cause: Option<String>,
    /// `caller` or `hotline`.
    pub hangup_side: Option<String>,
    /// The ACD queue the call last joined; `None` if it never queued.
    pub queue: Option<String>,
    /// Epoch ms it joined that queue.
    pub queued_at: Option<i64>,
    /// The user id of the first agent who answered.
    pub agent_id: Option<i64>,
    /// Epoch ms that agent answered.
    pub agent_answered_at: Option<i64>,
    /// Time in the queue before that agent answered.
    pub wait_ms: Option<i64>,
    /// Talk time with agents in all (hold excluded), once the agent part
    /// of the call is over.
    pub talk_ms: Option<i64>,
    /// Time on hold in all, likewise.
    pub hold_ms: Option<i64>,
    /// Times the call was transferred.
    pub transfers: i64,
    /// After-call work of the (latest) wrap-up.
    pub wrap_up_ms: Option<i64>,
    /// What the agent recorded the call as (e.g. `resolved`), if anything.
    pub disposition: Option<String>,
    /// The agent's wrap-up notes; `None` until wrapped up.
    pub notes: Option<String>,
    /// The call's recording; `None` if it was never recorded.
    pub recording: Option<recordings::RecordingInfo>,
}

impl FromRow<'_, AnyRow> for CallRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(CallRow {
            id: row.try_get("id")?,
            sip_call_id: row.try_get("sip_call_id")?,
            from_number: row.try_get("from_number")?,
            to_number: row.try_get("to_number")?,
            service_number: row.try_get("service_number")?,
            arrived_at: row.try_get("arrived_at")?,
            answered_at: row.try_get("answered_at")?,
            ended_at: row.try_get("ended_at")?,
            digits: row.try_get("digits")?,
            hangup_cause: row.try_get("hangup_cause")?,
            hangup_side: row.try_get("hangup_side")?,
            queue: row.try_get("queue")?,
            queued_at: row.try_get("queued_at")?,
            agent_id: row.try_get("agent_id")?,
            agent_answered_at: row.try_get("agent_answered_at")?,
            wait_ms: row.try_get("wait_ms")?,
            talk_ms: row.try_get("talk_ms")?,
            hold_ms: row.try_get("hold_ms")?,
            transfers: row.try_get("transfers")?,
            wrap_up_ms: row.try_get("wrap_up_ms")?,
            disposition: row.try_get("disposition")?,
            notes: row.try_get("wrap_up_notes")?,
            recording: recordings::RecordingInfo::from_call_row(row)?,
        })
    }
}

/// One row of `call_events`: an entry in a call's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CallEventRow {
    pub call_id: String,
    /// Counts from 1 per call.
    pub seq: i64,
    /// Epoch ms.
    pub at: i64,
    pub kind: String,
    pub detail: String,
    /// Where it happened in the call's recording, ms from its start
    /// (`None`: not recorded, or before the answer).
    pub offset_ms: Option<i64>,
}

impl FromRow<'_, AnyRow> for CallEventRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(CallEventRow {
            call_id: row.try_get("call_id")?,
            seq: row.try_get("seq")?,
            at: row.try_get("at")?,
            kind: row.try_get("kind")?,
            detail: row.try_get("detail")?,
            offset_ms: None,
        })
    }
}

/// One row of `call_messages`: a message the caller left in the IVR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CallMessageRow {
    pub call_id: String,
    /// The recording, relative to the data directory.
    pub file: String,
    pub duration_ms: i64,
    /// Epoch ms.
    pub at: i64,
}

impl FromRow<'_, AnyRow> for CallMessageRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(CallMessageRow {
            call_id: row.try_get("call_id")?,
            file: row.try_get("file")?,
            duration_ms: row.try_get("duration_ms")?,
            at: row.try_get("at")?,
        })
    }
}

/// A call with its timeline and messages; serialises as the call's fields
/// plus `events` and `messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CallDetail {
    #[serde(flatten)]
    pub call: CallRow,
    /// Ordered by `seq`.
    pub events: Vec<CallEventRow>,
    /// Ordered by `at`, then `file`.
    pub messages: Vec<CallMessageRow>,
}

/// The `calls` columns [`CallRow`] reads, in its order, as a literal for `concat!`
/// (queries must be `&'static str`).
macro_rules! call_columns {
    () => {
        "id, sip_call_id, from_number, to_number, service_number, \
         arrived_at, answered_at, ended_at, digits, hangup_cause, hangup_side, \
         queue, queued_at, agent_id, agent_answered_at, wait_ms, talk_ms, hold_ms, \
         transfers, wrap_up_ms, disposition, wrap_up_notes, \
         recording_state, recording_started_at, recording_ms, recording_bytes, \
         recording_sha256, recording_agents, recording_note, legal_hold"
    };
}

/// The database behind hotline's records. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite's turn to write, handed out first come, first served; see
    /// [`Store::begin_write`].
    writers: Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction from [`Store::begin_write`]: the connection (by
/// deref) and, on SQLite, this process's turn to write, given back when
/// the transaction commits, rolls back or is dropped.
pub(crate) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

impl Store {
    /// Open the database at `url` and bring its schema up to date.
    ///
    /// `sqlite:path`, `sqlite://path` (`sqlite:///abs/path`) or
    /// `postgres://user@host/db`. A SQLite file is created if missing unless
    /// the URL sets `mode=` itself (e.g. `mode=ro`).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite
                if !url
                    .split_once('?')
                    .is_some_and(|(_, query)| query.contains("mode=")) =>
            {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(StoreError::Connect)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                // One writer at a time anyway; a few readers for the API.
                Backend::Sqlite => 4,
                Backend::Postgres => 10,
            })
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::raw_sql(SQLITE_PRAGMAS).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::Connect)?;
        migrate::run(&pool, backend).await?;
        Ok(Store {
            pool,
            backend,
            writers: Arc::default(),
        })
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a transaction that will write: on SQLite it takes the write
    /// lock now (`BEGIN IMMEDIATE`), so reading first and writing after
    /// never fails to upgrade the lock when another writer got in between
    /// (a deferred transaction that must upgrade gets "database is locked"
    /// at once: SQLite's busy timeout cannot help it).
    ///
    /// On SQLite the writers of this process also take turns, first come,
    /// first served, before asking for the lock. SQLite's own wait is a
    /// sleep-and-retry, not a queue: a writer that commits and begins again
    /// at once (the reports' rollup counting hour after hour) would get the
    /// lock back every time while the record writer sleeps, and calls'
    /// records would fall behind for the whole round. Taking turns, the
    /// record writer waits for one transaction at most. Waiting for a turn
    /// is bounded like the pool's: [`StoreError::Unavailable`] after 5 s.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        match self.backend {
            Backend::Sqlite => {
                let turn =
                    tokio::time::timeout(ACQUIRE_TIMEOUT, Arc::clone(&self.writers).lock_owned())
                        .await
                        .map_err(|_| StoreError::Unavailable(sqlx::Error::PoolTimedOut))?;
                let tx = self
                    .pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(StoreError::from_sqlx)?;
                Ok(WriteTx {
                    tx,
                    _turn: Some(turn),
                })
            }
            Backend::Postgres => Ok(WriteTx {
                tx: self.pool.begin().await.map_err(StoreError::from_sqlx)?,
                _turn: None,
            }),
        }
    }

    /// The underlying pool, for tests and admin commands; the record tables
    /// should be written only through [`Store::apply`].
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Close every connection; later calls fail with
    /// [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Cheap round trip to the database (for `/api/health`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Write one op, idempotently (see the module docs).
    pub async fn apply(&self, op: &RecordOp) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::from_sqlx)?;
        apply_on(&mut conn, op).await
    }

    /// Write several ops in one transaction, in order: all or none. One
    /// commit for many ops is what lets the store keep up with hundreds of
    /// calls a second (each commit is a disk flush).
    pub async fn apply_batch(&self, ops: &[RecordOp]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for op in ops {
            apply_on(&mut tx, op).await?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)
    }

    /// The `limit` most recent calls, newest first (ties broken by id,
    /// descending). A `limit` below 1 gives an empty list.
    pub async fn recent_calls(&self, limit: i64) -> Result<Vec<CallRow>, StoreError> {
        if limit < 1 {
            return Ok(Vec::new());
        }
        sqlx::query_as::<_, CallRow>(concat!(
            "SELECT ",
            call_columns!(),
            " FROM calls ORDER BY arrived_at DESC, id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// The latest calls `agent_id` answered, newest first.
    pub async fn agent_calls(&self, agent_id: i64, limit: i64) -> Result<Vec<CallRow>, StoreError> {
        if limit < 1 {
            return Ok(Vec::new());
        }
        sqlx::query_as::<_, CallRow>(concat!(
            "SELECT ",
            call_columns!(),
            " FROM calls WHERE agent_id = $1 ORDER BY arrived_at DESC, id DESC LIMIT $2"
        ))
        .bind(agent_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// One call with its events ordered by `seq` and its messages by time;
    /// `None` if unknown.
    pub async fn call(&self, id: &str) -> Result<Option<CallDetail>, StoreError> {
        let Some(call) = sqlx::query_as::<_, CallRow>(concat!(
            "SELECT ",
            call_columns!(),
            " FROM calls WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?
        else {
            return Ok(None);
        };
        let mut events = sqlx::query_as::<_, CallEventRow>(
            "SELECT call_id, seq, at, kind, detail FROM call_events \
             WHERE call_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        if let Some(start) = call.recording.as_ref().and_then(|r| r.started_at) {
            for e in &mut events {
                e.offset_ms = (e.at >= start).then(|| e.at - start);
            }
        }
        let messages = sqlx::query_as::<_, CallMessageRow>(
            "SELECT call_id, file, duration_ms, at FROM call_messages \
             WHERE call_id = $1 ORDER BY at, file",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(Some(CallDetail {
            call,
            events,
            messages,
        }))
    }
}

/// [`Store::apply`] on a given connection (or transaction).
async fn apply_on(conn: &mut AnyConnection, op: &RecordOp) -> Result<(), StoreError> {
    let missing = || StoreError::MissingCall {
        call_id: op.call_id().to_owned(),
    };
    let affected = match op {
        RecordOp::Arrived {
            call_id,
            sip_call_id,
            from_number,
            to_number,
            service_number,
            arrived_at,
        } => {
            sqlx::query(
                "INSERT INTO calls \
                 (id, sip_call_id, from_number, caller, to_number, service_number, arrived_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            )
            .bind(call_id)
            .bind(sip_call_id)
            .bind(from_number)
            // What the screen pop matches customer_phones against; a number
            // that does not normalise (anonymous, a SIP name) is kept as is.
            .bind(crate::phone::normalise(from_number).unwrap_or_else(|| from_number.clone()))
            .bind(to_number)
            .bind(service_number)
            .bind(*arrived_at)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::from_sqlx)?;
            // 0 rows means it was already there: a retry, not an error.
            return Ok(());
        }
        RecordOp::Dialled {
            call_id,
            sip_call_id,
            number,
            caller_id,
            campaign,
            contact,
            attempt,
            at,
        } => {
            sqlx::query(
                "INSERT INTO calls \
                 (id, sip_call_id, from_number, caller, to_number, service_number, arrived_at, \
                  direction, campaign, contact_id, attempt) \
                 VALUES ($1, $2, $3, $4, $5, $3, $6, 'outbound', $7, $8, $9) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(call_id)
            .bind(sip_call_id)
            .bind(caller_id)
            // The customer: what the screen pop and the daily cap match.
            .bind(crate::phone::normalise(number).unwrap_or_else(|| number.clone()))
            .bind(number)
            .bind(*at)
            .bind(campaign)
            .bind(*contact)
            .bind(*attempt)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::from_sqlx)?;
            return Ok(());
        }
        RecordOp::Outcome { call_id, outcome } => {
            sqlx::query("UPDATE calls SET outcome = $2 WHERE id = $1")
                .bind(call_id)
                .bind(outcome)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::from_sqlx)?
        }
        RecordOp::Answered { call_id, at } => {
            sqlx::query("UPDATE calls SET answered_at = COALESCE(answered_at, $2) WHERE id = $1")
                .bind(call_id)
                .bind(*at)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::from_sqlx)?
        }
        RecordOp::Digits { call_id, digits } => {
            sqlx::query("UPDATE calls SET digits = $2 WHERE id = $1")
                .bind(call_id)
                .bind(digits)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::from_sqlx)?
        }
        RecordOp::Ended {
            call_id,
            at,
            cause,
            side,
        } => sqlx::query(
            // All three columns are written together, so one test on
            // ended_at keeps the first end's values on a retry.
            "UPDATE calls SET \
             hangup_cause = CASE WHEN ended_at IS NULL THEN $3 ELSE hangup_cause END, \
             hangup_side = CASE WHEN ended_at IS NULL THEN $4 ELSE hangup_side END, \
             ended_at = COALESCE(ended_at, $2) \
             WHERE id = $1",
        )
        .bind(call_id)
        .bind(*at)
        .bind(cause)
        .bind(side.as_str())
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?,
        RecordOp::Event {
            call_id,
            seq,
            at,
            kind,
            detail,
        } => {
            let result = sqlx::query(
                "INSERT INTO call_events (call_id, seq, at, kind, detail) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (call_id, seq) DO NOTHING",
            )
            .bind(call_id)
            .bind(*seq)
            .bind(*at)
            .bind(kind)
            .bind(detail)
            .execute(&mut *conn)
            .await;
            return insert_result(result, missing);
        }
        RecordOp::Message {
            call_id,
            file,
            duration_ms,
            at,
        } => {
            let result = sqlx::query(
                "INSERT INTO call_messages (call_id, file, duration_ms, at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (call_id, file) DO NOTHING",
            )
            .bind(call_id)
            .bind(file)
            .bind(*duration_ms)
            .bind(*at)
            .execute(&mut *conn)
            .await;
            return insert_result(result, missing);
        }
        RecordOp::Queued { call_id, queue, at } => sqlx::query(
            // Both columns on one test of queued_at, so a late retry of an
            // earlier queue cannot undo a later one.
            "UPDATE calls SET \
             queue = CASE WHEN queued_at IS NULL OR queued_at <= $3 THEN $2 ELSE queue END, \
             queued_at = CASE WHEN queued_at IS NULL OR queued_at <= $3 THEN $3 \
                         ELSE queued_at END \
             WHERE id = $1",
        )
        .bind(call_id)
        .bind(queue)
        .bind(*at)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?,
        RecordOp::AgentAnswered {
            call_id,
            agent_id,
            at,
            wait_ms,
        } => sqlx::query(
            // As with Ended: one test on agent_id keeps the first agent's
            // answer and wait together.
            "UPDATE calls SET \
             agent_answered_at = CASE WHEN agent_id IS NULL THEN $3 ELSE agent_answered_at END, \
             wait_ms = CASE WHEN agent_id IS NULL THEN $4 ELSE wait_ms END, \
             agent_id = COALESCE(agent_id, $2) \
             WHERE id = $1",
        )
        .bind(call_id)
        .bind(*agent_id)
        .bind(*at)
        .bind(*wait_ms)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?,
        RecordOp::Handled {
            call_id,
            talk_ms,
            hold_ms,
            transfers,
        } => {
            sqlx::query("UPDATE calls SET talk_ms = $2, hold_ms = $3, transfers = $4 WHERE id = $1")
                .bind(call_id)
                .bind(*talk_ms)
                .bind(*hold_ms)
                .bind(*transfers)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::from_sqlx)?
        }
        RecordOp::WrapUp {
            call_id,
            // The call row keeps the first agent (AgentAnswered); who
            // wrapped up is in agent_state_log.
            agent_id: _,
            wrap_up_ms,
            disposition,
            notes,
        } => sqlx::query(
            "UPDATE calls SET wrap_up_ms = $2, disposition = $3, wrap_up_notes = $4 \
             WHERE id = $1",
        )
        .bind(call_id)
        .bind(*wrap_up_ms)
        .bind(disposition.as_deref())
        .bind(notes)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?,
        RecordOp::RecordingStarted {
            call_id,
            file,
            started_at,
        } => sqlx::query(
            // A retry arriving after the end must not make it "recording"
            // again: the state is set only if there is none.
            "UPDATE calls SET recording_state = COALESCE(recording_state, 'recording'), \
             recording_file = $2, recording_started_at = $3 WHERE id = $1",
        )
        .bind(call_id)
        .bind(file)
        .bind(*started_at)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?,
        RecordOp::RecordingDone {
            call_id,
            state,
            duration_ms,
            bytes,
            sha256,
            agents,
            note,
        } => sqlx::query(
            "UPDATE calls SET recording_state = $2, recording_ms = $3, recording_bytes = $4, \
             recording_sha256 = $5, recording_agents = $6, recording_note = $7 WHERE id = $1",
        )
        .bind(call_id)
        .bind(state.as_str())
        .bind(*duration_ms)
        .bind(*bytes)
        .bind(sha256.as_deref())
        .bind(agents)
        .bind(note)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?,
        RecordOp::AgentState {
            id,
            agent_id,
            from,
            to,
            reason,
            why,
            at,
        } => {
            sqlx::query(
                "INSERT INTO agent_state_log (id, agent_id, from_state, to_state, reason, why, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(*agent_id)
            .bind(from)
            .bind(to)
            .bind(reason.as_deref())
            .bind(why)
            .bind(*at)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::from_sqlx)?;
            // No call row to miss; 0 rows means a retry.
            return Ok(());
        }
    };
    // Both backends count rows matched, changed or not, so 0 means absent.
    if affected.rows_affected() == 0 {
        return Err(missing());
    }
    Ok(())
}

/// The outcome of an insert keyed on a call: a foreign key violation means
/// the call has no row.
fn insert_result(
    result: Result<sqlx::any::AnyQueryResult, sqlx::Error>,
    missing: impl FnOnce() -> StoreError,
) -> Result<(), StoreError> {
    match result {
        // 0 rows means it was already there: a retry, not an error.
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(db)) if db.kind() == ErrorKind::ForeignKeyViolation => {
            Err(missing())
        }
        Err(e) => Err(StoreError::from_sqlx(e)),
    }
}

/// A stored name that is not one of the enum's, as a decode error.
pub(crate) fn bad_value(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown {column} {value:?}").into(),
    }
}

/// `$first, ..., $(first + n - 1)`: the placeholders of `n` bound values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ids as a literal SQL list: integers only, nothing to escape, and no
/// limit on how many a statement may hold.
pub(crate) fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
