//! Store, migrations and record writer against real databases.
//!
//! Each backend-independent test is an `async fn(&TestDb)` run twice by
//! `on_both_backends!`: on SQLite in a fresh temp dir and on PostgreSQL in a
//! fresh schema (`HOTLINE_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), dropped afterwards even if
//! the test panics. Unreachable PostgreSQL fails the test when `CI=true`
//! and prints a loud skip line otherwise.

use std::time::Duration;

use hotline::config::{RecordCalls, RecordingPolicy};
use hotline::records::{HangupSide, RecordOp, RecordingState};
use hotline::rt::record_writer;
use hotline::store::{
    Backend, CallDetail, CallEventRow, CallMessageRow, CallRow, CustomerSummary,
    MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE, OPEN_TICKETS_LIMIT, POP_CALLS_LIMIT, PopCall,
    ScreenPop, Store, StoreError, TicketKind, TicketStage, TicketSummary, calls_table,
    civil_from_days, format_duration_ms, format_utc_ms,
};
use sqlx::{AssertSqlSafe, Connection};

// ---------------------------------------------------------------- harness

mod common;

use common::db::{Guard, TestDb, fresh_database, sqlite_db, unique};

on_both_backends!(
    migrations_are_idempotent,
    full_call_sequence,
    retried_ops_are_idempotent,
    recent_calls_newest_first,
    call_detail_orders_events,
    ops_for_missing_call_fail,
    batches_are_all_or_nothing,
    writer_survives_outage_in_order,
    writer_drops_missing_call_and_moves_on,
    writer_flushes_queue_on_shutdown,
    migrations_create_empty_after_sales_tables,
    migrates_from_0001_keeping_data,
    schema_rejects_bad_rows,
    message_ops_are_idempotent,
    seed_demo_inserts_once,
    concurrent_seeds_insert_once,
    customer_by_phone_in_any_form,
    open_tickets_by_phone_lists_open_ones,
    open_tickets_newest_first_at_most_ten,
    every_stage_is_open_or_not,
    ticket_by_number_finds_any_stage,
    screen_pop_lists_calls_from_every_phone,
    screen_pop_of_unknown_number,
    screen_pop_in_any_form_lists_open_tickets_only,
    screen_pop_merges_many_phones,
    recording_states_holds_and_retention,
    retention_deletes_old_files_and_keeps_held_ones,
);

// ---------------------------------------------------------------- helpers

const T0: i64 = 1_714_552_200_000; // 2024-05-01 08:30:00 UTC

fn arrived(id: &str, at: i64) -> RecordOp {
    RecordOp::Arrived {
        call_id: id.to_owned(),
        sip_call_id: format!("sip-{id}@carrier"),
        from_number: "13800138000".to_owned(),
        to_number: "4008001234".to_owned(),
        service_number: "4008001234".to_owned(),
        arrived_at: at,
    }
}

fn event(id: &str, seq: i64, at: i64, kind: &str, detail: &str) -> RecordOp {
    RecordOp::Event {
        call_id: id.to_owned(),
        seq,
        at,
        kind: kind.to_owned(),
        detail: detail.to_owned(),
    }
}

fn message(id: &str, file: &str, duration_ms: i64, at: i64) -> RecordOp {
    RecordOp::Message {
        call_id: id.to_owned(),
        file: file.to_owned(),
        duration_ms,
        at,
    }
}

fn digits(id: &str, d: &str) -> RecordOp {
    RecordOp::Digits {
        call_id: id.to_owned(),
        digits: d.to_owned(),
    }
}

fn answered(id: &str, at: i64) -> RecordOp {
    RecordOp::Answered {
        call_id: id.to_owned(),
        at,
    }
}

fn ended(id: &str, at: i64, cause: &str, side: HangupSide) -> RecordOp {
    RecordOp::Ended {
        call_id: id.to_owned(),
        at,
        cause: cause.to_owned(),
        side,
    }
}

/// The ops of one whole call, in the order the engine emits them.
fn call_ops(id: &str, t: i64) -> Vec<RecordOp> {
    vec![
        arrived(id, t),
        event(id, 1, t, "arrived", "from 13800138000"),
        answered(id, t + 500),
        event(id, 2, t + 500, "answered", ""),
        digits(id, "1"),
        event(id, 3, t + 4_000, "digit", "1"),
        digits(id, "12"),
        event(id, 4, t + 6_000, "digit", "2"),
        ended(id, t + 65_000, "caller-bye", HangupSide::Caller),
        event(id, 5, t + 65_000, "ended", "caller-bye"),
    ]
}

fn expected_call(id: &str, t: i64) -> CallDetail {
    let ev = |seq, at, kind: &str, detail: &str| CallEventRow {
        call_id: id.to_owned(),
        seq,
        at,
        kind: kind.to_owned(),
        detail: detail.to_owned(),
        offset_ms: None,
    };
    CallDetail {
        call: CallRow {
            id: id.to_owned(),
            sip_call_id: format!("sip-{id}@carrier"),
            from_number: "13800138000".to_owned(),
            to_number: "4008001234".to_owned(),
            service_number: "4008001234".to_owned(),
            arrived_at: t,
            answered_at: Some(t + 500),
            ended_at: Some(t + 65_000),
            digits: "12".to_owned(),
            hangup_cause: Some("caller-bye".to_owned()),
            hangup_side: Some("caller".to_owned()),
            queue: None,
            queued_at: None,
            agent_id: None,
            agent_answered_at: None,
            wait_ms: None,
            talk_ms: None,
            hold_ms: None,
            transfers: 0,
            wrap_up_ms: None,
            disposition: None,
            notes: None,
            recording: None,
        },
        events: vec![
            ev(1, t, "arrived", "from 13800138000"),
            ev(2, t + 500, "answered", ""),
            ev(3, t + 4_000, "digit", "1"),
            ev(4, t + 6_000, "digit", "2"),
            ev(5, t + 65_000, "ended", "caller-bye"),
        ],
        messages: vec![],
    }
}

async fn apply_all(store: &Store, ops: &[RecordOp]) {
    for op in ops {
        store
            .apply(op)
            .await
            .unwrap_or_else(|e| panic!("{op:?}: {e}"));
    }
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(store.pool())
        .await
        .expect(sql)
}

// ------------------------------------------------- tests on both backends

async fn migrations_are_idempotent(db: &TestDb) {
    let store = &db.store;
    let known = match store.backend() {
        Backend::Sqlite => MIGRATIONS_SQLITE.len(),
        Backend::Postgres => MIGRATIONS_POSTGRES.len(),
    };
    let migrations = "SELECT COUNT(*) FROM schema_migrations";
    assert_eq!(count(store, migrations).await, known as i64);
    store.ping().await.expect("ping");

    // Connecting again (second process, restart) applies nothing new.
    apply_all(store, &[arrived("c1", T0)]).await;
    let again = Store::connect(&db.url).await.expect("second connect");
    assert_eq!(again.backend(), store.backend());
    assert_eq!(count(&again, migrations).await, known as i64);
    assert_eq!(count(&again, "SELECT COUNT(*) FROM calls").await, 1);
    again.close().await;

    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM schema_migrations ORDER BY version")
            .fetch_all(store.pool())
            .await
            .expect("names");
    assert_eq!(
        names,
        [
            "calls",
            "customers_tickets",
            "service_desk",
            "knowledge_base",
            "sip_credentials",
            "acd",
            "recordings",
            "qa",
            "campaigns",
            "outbound_calls",
            "report_rollups",
            "ticket_rollups"
        ]
    );

    if store.backend() == Backend::Sqlite {
        let pool = store.pool();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .expect("journal_mode");
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(pool)
            .await
            .expect("foreign_keys");
        assert_eq!(fk, 1);
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(pool)
            .await
            .expect("busy_timeout");
        assert_eq!(busy, 5_000);
    }
}

async fn full_call_sequence(db: &TestDb) {
    let store = &db.store;
    apply_all(store, &call_ops("c1", T0)).await;
    let got = store.call("c1").await.expect("call").expect("present");
    assert_eq!(got, expected_call("c1", T0));

    // A call still up: nullable columns stay NULL.
    apply_all(store, &[arrived("c2", T0 + 1)]).await;
    let up = store.call("c2").await.expect("call").expect("present");
    assert_eq!(up.call.answered_at, None);
    assert_eq!(up.call.ended_at, None);
    assert_eq!(up.call.hangup_cause, None);
    assert_eq!(up.call.hangup_side, None);
    assert_eq!(up.call.digits, "");
    assert!(up.events.is_empty());
}

async fn retried_ops_are_idempotent(db: &TestDb) {
    let store = &db.store;
    // Every op applied twice in a row, as after an ambiguous failure.
    for op in call_ops("c1", T0) {
        store.apply(&op).await.expect("first");
        store.apply(&op).await.expect("retry");
    }
    assert_eq!(
        store.call("c1").await.expect("call"),
        Some(expected_call("c1", T0))
    );
    assert_eq!(count(store, "SELECT COUNT(*) FROM calls").await, 1);
    assert_eq!(count(store, "SELECT COUNT(*) FROM call_events").await, 5);

    // Late duplicates with other values: the first arrival, answer, end and
    // event win; digits carry the whole string, so the latest wins.
    let mut dup = arrived("c1", T0 + 9);
    if let RecordOp::Arrived { from_number, .. } = &mut dup {
        *from_number = "999".to_owned();
    }
    apply_all(
        store,
        &[
            dup,
            answered("c1", T0 + 9_999),
            ended("c1", T0 + 99_999, "shutdown", HangupSide::Hotline),
            event("c1", 1, T0 + 9, "other", "other"),
        ],
    )
    .await;
    assert_eq!(
        store.call("c1").await.expect("call"),
        Some(expected_call("c1", T0))
    );
    apply_all(store, &[digits("c1", "123")]).await;
    let got = store.call("c1").await.expect("call").expect("present");
    assert_eq!(got.call.digits, "123");
}

async fn recent_calls_newest_first(db: &TestDb) {
    let store = &db.store;
    for (id, dt) in [("a", 3), ("b", 1), ("c", 5), ("d", 2), ("e", 4), ("f", 5)] {
        apply_all(store, &[arrived(id, T0 + dt * 1_000)]).await;
    }
    let ids = |rows: Vec<CallRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    // Same arrival time ("c", "f"): the larger id first.
    assert_eq!(
        ids(store.recent_calls(3).await.expect("recent")),
        ["f", "c", "e"]
    );
    assert_eq!(
        ids(store.recent_calls(100).await.expect("recent")),
        ["f", "c", "e", "a", "d", "b"]
    );
    assert!(store.recent_calls(0).await.expect("recent").is_empty());
    assert!(store.recent_calls(-5).await.expect("recent").is_empty());
}

async fn call_detail_orders_events(db: &TestDb) {
    let store = &db.store;
    apply_all(
        store,
        &[
            arrived("c1", T0),
            event("c1", 3, T0 + 3, "third", ""),
            event("c1", 1, T0 + 1, "first", ""),
            event("c1", 2, T0 + 2, "second", "x"),
            arrived("c2", T0),
            event("c2", 1, T0, "other call", ""),
        ],
    )
    .await;
    let got = store.call("c1").await.expect("call").expect("present");
    let kinds: Vec<_> = got
        .events
        .iter()
        .map(|e| (e.seq, e.kind.as_str()))
        .collect();
    assert_eq!(kinds, [(1, "first"), (2, "second"), (3, "third")]);
    assert_eq!(store.call("nope").await.expect("call"), None);
}

async fn ops_for_missing_call_fail(db: &TestDb) {
    let store = &db.store;
    for op in [
        answered("ghost", T0),
        digits("ghost", "1"),
        ended("ghost", T0, "caller-bye", HangupSide::Caller),
        event("ghost", 1, T0, "arrived", ""),
        message("ghost", "messages/ghost-1.wav", 4_000, T0),
    ] {
        match store.apply(&op).await {
            Err(StoreError::MissingCall { call_id }) => assert_eq!(call_id, "ghost"),
            other => panic!("{op:?}: expected MissingCall, got {other:?}"),
        }
    }
    assert_eq!(store.call("ghost").await.expect("call"), None);
    assert_eq!(count(store, "SELECT COUNT(*) FROM call_events").await, 0);
    assert_eq!(count(store, "SELECT COUNT(*) FROM call_messages").await, 0);
}

/// A batch is one transaction: a failing op in it leaves nothing behind;
/// a good batch writes every op, in order.
async fn batches_are_all_or_nothing(db: &TestDb) {
    let store = &db.store;
    let bad = [
        arrived("b1", T0),
        event("b1", 1, T0, "arrived", ""),
        answered("ghost", T0),
    ];
    assert!(matches!(
        store.apply_batch(&bad).await,
        Err(StoreError::MissingCall { .. })
    ));
    assert_eq!(store.call("b1").await.expect("call"), None);
    assert_eq!(count(store, "SELECT COUNT(*) FROM call_events").await, 0);

    let good = [
        arrived("b1", T0),
        event("b1", 1, T0, "arrived", ""),
        digits("b1", "4"),
        digits("b1", "42"),
        ended("b1", T0 + 5_000, "flow-complete", HangupSide::Hotline),
    ];
    store.apply_batch(&good).await.expect("batch");
    // Replaying it (a retry after an ambiguous failure) changes nothing.
    store.apply_batch(&good).await.expect("replay");
    let detail = store.call("b1").await.expect("call").expect("row");
    assert_eq!(detail.call.digits, "42");
    assert_eq!(detail.call.ended_at, Some(T0 + 5_000));
    assert_eq!(detail.events.len(), 1);
}

/// Ops sent while the database refuses them are all written, in order,
/// once it recovers. The outage is real: the `calls` table is renamed away,
/// so every write of the first op fails inside the database.
async fn writer_survives_outage_in_order(db: &TestDb) {
    let store = &db.store;
    sqlx::raw_sql("ALTER TABLE calls RENAME TO calls_offline")
        .execute(store.pool())
        .await
        .expect("take calls offline");

    let (sink, task) = record_writer::spawn(store.clone());
    let pending = sink.pending_counter();
    // Order matters here: an event before its arrival would be dropped as
    // MissingCall, and digits applied out of order would leave "1".
    let mut ops = call_ops("c1", T0);
    ops.extend([
        arrived("c2", T0 + 10),
        event("c2", 1, T0 + 10, "arrived", ""),
    ]);
    let n = ops.len();
    for op in ops {
        sink.send(op);
    }
    assert_eq!(sink.pending(), n);

    // Several failed attempts (50 + 100 + 200 ms of backoff) later, nothing
    // was written and nothing was given up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.pending(), n, "ops lost or written during the outage");
    assert_eq!(count(store, "SELECT COUNT(*) FROM calls_offline").await, 0);
    assert_eq!(count(store, "SELECT COUNT(*) FROM call_events").await, 0);

    sqlx::raw_sql("ALTER TABLE calls_offline RENAME TO calls")
        .execute(store.pool())
        .await
        .expect("bring calls back");
    drop(sink);
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("writer did not finish after recovery")
        .expect("writer panicked");

    assert_eq!(pending.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(
        store.call("c1").await.expect("call"),
        Some(expected_call("c1", T0))
    );
    let c2 = store.call("c2").await.expect("call").expect("c2 written");
    assert_eq!(c2.events.len(), 1);
    assert_eq!(count(store, "SELECT COUNT(*) FROM call_events").await, 6);
}

async fn writer_drops_missing_call_and_moves_on(db: &TestDb) {
    let store = &db.store;
    let (sink, task) = record_writer::spawn(store.clone());
    sink.send(answered("ghost", T0));
    sink.send(arrived("c1", T0));
    sink.send(event("c1", 1, T0, "arrived", ""));
    let pending = sink.pending_counter();
    drop(sink);
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("writer stuck on a missing call")
        .expect("writer panicked");
    assert_eq!(pending.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(store.call("ghost").await.expect("call"), None);
    let c1 = store.call("c1").await.expect("call").expect("c1 written");
    assert_eq!(c1.events.len(), 1);
}

async fn writer_flushes_queue_on_shutdown(db: &TestDb) {
    let store = &db.store;
    let (sink, task) = record_writer::spawn(store.clone());
    let sinks: Vec<_> = (0..4).map(|_| sink.clone()).collect();
    drop(sink);
    for i in 0..40 {
        let s = &sinks[i % sinks.len()];
        for op in call_ops(&format!("c{i:03}"), T0 + i as i64) {
            s.send(op);
        }
    }
    // Shutdown: the runtime drops every sink and awaits the task.
    drop(sinks);
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("writer did not flush")
        .expect("writer panicked");
    assert_eq!(count(store, "SELECT COUNT(*) FROM calls").await, 40);
    assert_eq!(count(store, "SELECT COUNT(*) FROM call_events").await, 200);
    assert_eq!(
        store.call("c017").await.expect("call"),
        Some(expected_call("c017", T0 + 17))
    );
}

// ------------------------------------------ after-sales records (0002)

/// 2026-11-25 10:00 UTC (18:00 in China): "now" for the demo data.
const NOW: i64 = 1_795_600_800_000;
const HOUR: i64 = 3_600_000;

/// The tables migrations 0002 and 0003 create.
const AFTER_SALES_TABLES: [&str; 10] = [
    "customers",
    "customer_phones",
    "products",
    "outlets",
    "tickets",
    "call_messages",
    "users",
    "sessions",
    "ticket_stamps",
    "ticket_breaches",
];

async fn table_count(store: &Store, table: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("count {table}: {e}"))
}

async fn seeded(store: &Store) {
    assert!(
        store.seed_demo(NOW).await.expect("seed_demo"),
        "already seeded"
    );
}

fn numbers(tickets: &[TicketSummary]) -> Vec<&str> {
    tickets.iter().map(|t| t.number.as_str()).collect()
}

async fn migrations_create_empty_after_sales_tables(db: &TestDb) {
    let store = &db.store;
    let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(store.pool())
        .await
        .expect("version");
    assert_eq!(version, MIGRATIONS_SQLITE.len() as i64);
    for table in AFTER_SALES_TABLES {
        assert_eq!(table_count(store, table).await, 0, "{table}");
    }
}

/// A database left at 0001 by an older hotline, with calls in it, gets
/// 0002 on connect and keeps its calls.
async fn migrates_from_0001_keeping_data(db: &TestDb) {
    let backend = db.store.backend();
    let Some((url, _guard)) = fresh_database(backend, "migrates_from_0001_keeping_data").await
    else {
        return;
    };
    let first = match backend {
        Backend::Sqlite => MIGRATIONS_SQLITE[0],
        Backend::Postgres => MIGRATIONS_POSTGRES[0],
    };
    assert_eq!(first.version, 1);
    // An older hotline's database: schema 0001 and a call written by it.
    let mut conn = sqlx::AnyConnection::connect(&url).await.expect("connect");
    sqlx::raw_sql(
        "CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, \
         name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .expect("schema_migrations");
    sqlx::raw_sql(first.sql)
        .execute(&mut conn)
        .await
        .expect("0001");
    sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'calls', 0)")
        .execute(&mut conn)
        .await
        .expect("version 1");
    sqlx::query(
        "INSERT INTO calls (id, sip_call_id, from_number, to_number, service_number, \
         arrived_at, digits) VALUES ('old', 'sip-old', '13800138000', '4008001234', \
         '4008001234', $1, '12')",
    )
    .bind(T0)
    .execute(&mut conn)
    .await
    .expect("old call");
    sqlx::query(
        "INSERT INTO call_events (call_id, seq, at, kind, detail) \
         VALUES ('old', 1, $1, 'arrived', '')",
    )
    .bind(T0)
    .execute(&mut conn)
    .await
    .expect("old event");
    let has_customers = sqlx::query("SELECT COUNT(*) FROM customers")
        .fetch_one(&mut conn)
        .await;
    assert!(has_customers.is_err(), "customers exists before 0002");
    conn.close().await.expect("close");

    let store = Store::connect(&url).await.expect("migrate from 0001");
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM schema_migrations ORDER BY version")
            .fetch_all(store.pool())
            .await
            .expect("names");
    assert_eq!(
        names,
        [
            "calls",
            "customers_tickets",
            "service_desk",
            "knowledge_base",
            "sip_credentials",
            "acd",
            "recordings",
            "qa",
            "campaigns",
            "outbound_calls",
            "report_rollups",
            "ticket_rollups"
        ]
    );
    let old = store
        .call("old")
        .await
        .expect("call")
        .expect("old call kept");
    assert_eq!(old.call.digits, "12");
    assert_eq!(old.events.len(), 1);
    assert!(old.messages.is_empty());
    for table in AFTER_SALES_TABLES {
        assert_eq!(table_count(&store, table).await, 0, "{table}");
    }
    // The new tables work with the old rows.
    store
        .apply(&message("old", "messages/old-1.wav", 3_000, T0 + 9_000))
        .await
        .expect("message for an old call");
    seeded(&store).await;
    assert_eq!(
        store
            .customer_by_phone("13800138000")
            .await
            .expect("lookup")
            .map(|c| c.name),
        Some("王建国".to_owned())
    );
    store.close().await;
}

/// The CHECK, UNIQUE and foreign key constraints hold on both backends.
async fn schema_rejects_bad_rows(db: &TestDb) {
    let store = &db.store;
    seeded(store).await;
    let customer_id: i64 = sqlx::query_scalar("SELECT MIN(id) FROM customers")
        .fetch_one(store.pool())
        .await
        .expect("a customer");
    let ticket = |number: &'static str, kind: &'static str, stage: &'static str| {
        sqlx::query(
            "INSERT INTO tickets (number, customer_id, kind, stage, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 0, 0)",
        )
        .bind(number)
        .bind(customer_id)
        .bind(kind)
        .bind(stage)
    };
    let pool = store.pool();
    // The valid row first, so the failures below are the constraints'.
    ticket("2611259999", "repair", "accepted")
        .execute(pool)
        .await
        .expect("a valid ticket");
    for (number, kind, stage) in [
        ("2611259999", "repair", "accepted"), // number taken
        ("261125999", "repair", "accepted"),  // 9 digits
        ("26112599990", "repair", "accepted"),
        ("26112599x9", "repair", "accepted"),
        ("2611259998", "Repair", "accepted"),
        ("2611259998", "repair", "done"),
    ] {
        assert!(
            ticket(number, kind, stage).execute(pool).await.is_err(),
            "{number} {kind} {stage} accepted"
        );
    }
    let bad = [
        "INSERT INTO customer_phones (phone, customer_id) VALUES ('13800138000', 1)",
        "INSERT INTO customer_phones (phone, customer_id) VALUES ('13700000001', 999999)",
        "INSERT INTO customers (name, vip, created_at) VALUES ('x', 2, 0)",
        "INSERT INTO outlets (code, name, tier, phone) VALUES ('HZ-XIHU', 'x', 'city', '1')",
        "INSERT INTO outlets (code, name, tier, phone) VALUES ('X-1', 'x', 'village', '1')",
        "INSERT INTO products (customer_id, model, purchase_date) VALUES (999999, 'x', NULL)",
        "INSERT INTO call_messages (call_id, file, duration_ms, at) VALUES ('nope', 'f', 1, 1)",
    ];
    for sql in bad {
        assert!(sqlx::query(sql).execute(pool).await.is_err(), "{sql}");
    }
    let product = |date: &'static str| {
        sqlx::query(
            "INSERT INTO products (customer_id, model, purchase_date, warranty_end) \
             VALUES ($1, 'x', $2, $2)",
        )
        .bind(customer_id)
        .bind(date)
    };
    product("2026-11-25").execute(pool).await.expect("a date");
    for date in ["2026-1-25", "25/11/2026", "2026-11-25T00:00"] {
        assert!(product(date).execute(pool).await.is_err(), "{date}");
    }
}

async fn message_ops_are_idempotent(db: &TestDb) {
    let store = &db.store;
    let first = message("c1", "messages/c1-1.wav", 12_500, T0 + 30_000);
    apply_all(store, &[arrived("c1", T0), first.clone()]).await;
    // A retry, and a late duplicate with other values: the first wins.
    store.apply(&first).await.expect("retry");
    store
        .apply(&message("c1", "messages/c1-1.wav", 1, T0 + 99_000))
        .await
        .expect("duplicate");
    // A second message, earlier in the call, in a replayed batch.
    let batch = [message("c1", "messages/c1-0.wav", 2_000, T0 + 10_000)];
    store.apply_batch(&batch).await.expect("batch");
    store.apply_batch(&batch).await.expect("replay");
    let detail = store.call("c1").await.expect("call").expect("present");
    assert_eq!(
        detail.messages,
        [
            CallMessageRow {
                call_id: "c1".to_owned(),
                file: "messages/c1-0.wav".to_owned(),
                duration_ms: 2_000,
                at: T0 + 10_000,
            },
            CallMessageRow {
                call_id: "c1".to_owned(),
                file: "messages/c1-1.wav".to_owned(),
                duration_ms: 12_500,
                at: T0 + 30_000,
            },
        ]
    );
    assert_eq!(count(store, "SELECT COUNT(*) FROM call_messages").await, 2);
    // Same file name on another call is another message.
    apply_all(
        store,
        &[
            arrived("c2", T0),
            message("c2", "messages/c1-1.wav", 1_000, T0),
        ],
    )
    .await;
    assert_eq!(count(store, "SELECT COUNT(*) FROM call_messages").await, 3);

    // An unknown call: MissingCall, alone and in a batch (which then
    // writes nothing).
    match store.apply(&message("ghost", "m.wav", 1, T0)).await {
        Err(StoreError::MissingCall { call_id }) => assert_eq!(call_id, "ghost"),
        other => panic!("expected MissingCall, got {other:?}"),
    }
    let bad = [
        message("c2", "messages/c2-2.wav", 1, T0),
        message("ghost", "m.wav", 1, T0),
    ];
    assert!(matches!(
        store.apply_batch(&bad).await,
        Err(StoreError::MissingCall { .. })
    ));
    assert_eq!(count(store, "SELECT COUNT(*) FROM call_messages").await, 3);
}

fn recording_started(id: &str, at: i64) -> RecordOp {
    RecordOp::RecordingStarted {
        call_id: id.to_owned(),
        file: format!("recordings/2024/05/01/{id}.wav"),
        started_at: at,
    }
}

fn recording_done(id: &str, state: RecordingState) -> RecordOp {
    RecordOp::RecordingDone {
        call_id: id.to_owned(),
        state,
        duration_ms: 61_000,
        bytes: 44 + 61 * 32_000,
        sha256: Some("ab".repeat(32)),
        agents: "3,5".to_owned(),
        note: String::new(),
    }
}

fn queued(id: &str, queue: &str) -> RecordOp {
    RecordOp::Queued {
        call_id: id.to_owned(),
        queue: queue.to_owned(),
        at: T0,
    }
}

/// A recording's life in the store: started (found unfinished after a
/// crash), done (its facts on the call), retried ops that change nothing,
/// legal holds, retention per queue, and the access log.
async fn recording_states_holds_and_retention(db: &TestDb) {
    const DAY: i64 = 86_400_000;
    let store = &db.store;
    apply_all(
        store,
        &[
            arrived("old", T0),
            queued("old", "general"),
            recording_started("old", T0),
            arrived("held", T0),
            queued("held", "general"),
            recording_started("held", T0),
            arrived("complaint", T0),
            queued("complaint", "complaint"),
            recording_started("complaint", T0),
            arrived("live", T0 + 10 * DAY),
            recording_started("live", T0 + 10 * DAY),
            arrived("never", T0),
        ],
    )
    .await;
    let unfinished = store.unfinished_recordings().await.expect("unfinished");
    assert_eq!(unfinished.len(), 4);
    assert_eq!(
        unfinished[0].1.split('/').next_back(),
        Some("old.wav"),
        "{unfinished:?}"
    );
    for id in ["old", "held", "complaint"] {
        store
            .apply(&recording_done(id, RecordingState::Complete))
            .await
            .expect("done");
    }
    // A retried start after the end changes nothing.
    store
        .apply(&recording_started("old", T0))
        .await
        .expect("retry");
    let rec = store
        .call("old")
        .await
        .unwrap()
        .unwrap()
        .call
        .recording
        .expect("recorded");
    assert_eq!(rec.state, RecordingState::Complete);
    assert_eq!(rec.started_at, Some(T0));
    assert_eq!(rec.duration_ms, Some(61_000));
    assert_eq!(rec.agents, [3, 5]);
    assert!(!rec.legal_hold);
    assert_eq!(
        store.call("never").await.unwrap().unwrap().call.recording,
        None
    );
    assert_eq!(
        store.unfinished_recordings().await.unwrap(),
        [(
            "live".to_owned(),
            "recordings/2024/05/01/live.wav".to_owned()
        )]
    );

    // Playback: the file and everyone who may hear it.
    let file = store.recording_file("old").await.unwrap().expect("a file");
    assert_eq!(file.file, "recordings/2024/05/01/old.wav");
    assert_eq!(file.agents, [3, 5]);
    assert_eq!(store.recording_file("never").await.unwrap(), None);

    // Legal hold; retention of 30 days, complaints 365.
    assert!(store.set_legal_hold("held", true).await.unwrap());
    assert!(
        !store.set_legal_hold("never", true).await.unwrap(),
        "no recording to hold"
    );
    let policy = RecordingPolicy {
        calls: RecordCalls::All,
        keep_days: 30,
        keep_days_by_queue: [("complaint".to_owned(), 365)].into(),
        agents_listen: true,
    };
    assert!(
        store
            .expired_recordings(&policy, T0 + 29 * DAY, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store
        .expired_recordings(&policy, T0 + 31 * DAY, 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ["old"],
        "not the hold, not the complaint, not the one still recording"
    );
    let due = store
        .expired_recordings(&policy, T0 + 366 * DAY, 10)
        .await
        .unwrap();
    let mut ids: Vec<&str> = due.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["complaint", "old"]);
    assert!(
        store
            .mark_recording_deleted("old", T0 + 366 * DAY)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_recording_deleted("old", T0 + 366 * DAY)
            .await
            .unwrap(),
        "once"
    );
    assert!(
        !store
            .mark_recording_deleted("held", T0 + 366 * DAY)
            .await
            .unwrap(),
        "held"
    );
    let rec = store
        .call("old")
        .await
        .unwrap()
        .unwrap()
        .call
        .recording
        .unwrap();
    assert_eq!(rec.state, RecordingState::Deleted);
    assert_eq!(rec.sha256, Some("ab".repeat(32)), "its facts stay");
    let rec = store
        .call("held")
        .await
        .unwrap()
        .unwrap()
        .call
        .recording
        .unwrap();
    assert!(rec.legal_hold);
    assert_eq!(rec.state, RecordingState::Complete);

    // Who listened.
    store
        .log_recording_access("held", 7, "listen", T0 + 1)
        .await
        .unwrap();
    store
        .log_recording_access("held", 8, "download", T0 + 2)
        .await
        .unwrap();
    let log = store.recording_access("held").await.unwrap();
    assert_eq!(
        log.iter()
            .map(|a| (a.user_id, a.action.as_str(), a.at))
            .collect::<Vec<_>>(),
        [(7, "listen", T0 + 1), (8, "download", T0 + 2)]
    );
}

/// The retention's round against real files: the expired file goes and
/// its record says deleted; a held one and a younger one stay.
async fn retention_deletes_old_files_and_keeps_held_ones(db: &TestDb) {
    let store = &db.store;
    let data = common::temp_dir("retention");
    let mut ops = Vec::new();
    for (id, queue) in [
        ("old", "general"),
        ("held", "general"),
        ("complaint", "complaint"),
    ] {
        ops.extend([
            arrived(id, T0),
            queued(id, queue),
            recording_started(id, T0),
            recording_done(id, RecordingState::Complete),
        ]);
        let file = data.join(format!("recordings/2024/05/01/{id}.wav"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"RIFF").unwrap();
    }
    apply_all(store, &ops).await;
    assert!(store.set_legal_hold("held", true).await.unwrap());
    let policy = RecordingPolicy {
        calls: RecordCalls::All,
        keep_days: 30,
        keep_days_by_queue: [("complaint".to_owned(), 36_500)].into(),
        agents_listen: true,
    };
    let deleted = hotline::rt::recordings::delete_expired(store, &data, &policy).await;
    assert_eq!(deleted, 1);
    let gone = |id: &str| {
        !data
            .join(format!("recordings/2024/05/01/{id}.wav"))
            .exists()
    };
    assert!(gone("old"));
    assert!(!gone("held") && !gone("complaint"));
    let state = |c: CallDetail| c.call.recording.unwrap().state;
    assert_eq!(
        state(store.call("old").await.unwrap().unwrap()),
        RecordingState::Deleted
    );
    assert_eq!(
        state(store.call("held").await.unwrap().unwrap()),
        RecordingState::Complete
    );
    assert_eq!(
        hotline::rt::recordings::delete_expired(store, &data, &policy).await,
        0,
        "once"
    );
    std::fs::remove_dir_all(data).ok();
}

async fn seed_demo_inserts_once(db: &TestDb) {
    let store = &db.store;
    seeded(store).await;
    let counts = [
        ("customers", 6),
        ("customer_phones", 14),
        ("products", 8),
        ("outlets", 5),
        ("tickets", 11),
    ];
    for (table, n) in counts {
        assert_eq!(table_count(store, table).await, n, "{table}");
    }
    assert!(!store.seed_demo(NOW + HOUR).await.expect("second seed"));
    for (table, n) in counts {
        assert_eq!(
            table_count(store, table).await,
            n,
            "{table} after a second seed"
        );
    }
    // Every tier, every kind, every stage.
    for (sql, n) in [
        ("SELECT COUNT(DISTINCT tier) FROM outlets", 3),
        ("SELECT COUNT(DISTINCT kind) FROM tickets", 4),
        ("SELECT COUNT(DISTINCT stage) FROM tickets", 7),
        ("SELECT COUNT(*) FROM customers WHERE vip = 1", 1),
        (
            "SELECT COUNT(*) FROM products WHERE purchase_date IS NULL AND warranty_end IS NULL",
            1,
        ),
    ] {
        assert_eq!(count(store, sql).await, n, "{sql}");
    }
    // Dates on the China calendar, from NOW (2026-11-25 18:00 there): the
    // TV bought 400 days ago, three years of warranty.
    let dates: (String, String) = sqlx::query_as(
        "SELECT purchase_date, warranty_end FROM products WHERE serial = 'E765K2410120318'",
    )
    .fetch_one(store.pool())
    .await
    .expect("the TV");
    assert_eq!(dates, ("2025-10-21".to_owned(), "2028-10-21".to_owned()));
    // A store with customers of its own is left alone.
    sqlx::query("DELETE FROM tickets")
        .execute(store.pool())
        .await
        .expect("delete");
    assert!(!store.seed_demo(NOW).await.expect("third seed"));
    assert_eq!(table_count(store, "tickets").await, 0);
}

async fn concurrent_seeds_insert_once(db: &TestDb) {
    let store = &db.store;
    let other = Store::connect(&db.url).await.expect("second store");
    let (a, b) = tokio::join!(store.seed_demo(NOW), other.seed_demo(NOW));
    let (a, b) = (a.expect("seed a"), b.expect("seed b"));
    assert!(a != b, "both seeded, or neither: {a} {b}");
    assert_eq!(table_count(store, "customers").await, 6);
    other.close().await;
}

async fn customer_by_phone_in_any_form(db: &TestDb) {
    let store = &db.store;
    assert_eq!(
        store.customer_by_phone("13800138000").await.expect("empty"),
        None
    );
    seeded(store).await;

    let wang = store
        .customer_by_phone("13800138000")
        .await
        .expect("lookup")
        .expect("13800138000 is a demo customer");
    assert_eq!(
        wang,
        CustomerSummary {
            id: wang.id,
            name: "王建国".to_owned(),
            region: "浙江省杭州市西湖区".to_owned(),
            vip: false,
            phones: vec!["057186541234".to_owned(), "13800138000".to_owned()],
            open_tickets: 1,
        }
    );
    for raw in [
        "+86 138 0013 8000",
        "+8613800138000",
        "008613800138000",
        "8613800138000",
        "138-0013-8000",
        "013800138000",
        "0571-8654-1234",
        "+86 571 8654 1234",
    ] {
        assert_eq!(
            store.customer_by_phone(raw).await.expect("lookup").as_ref(),
            Some(&wang),
            "{raw}"
        );
    }

    let li = store
        .customer_by_phone("13900139000")
        .await
        .expect("lookup")
        .expect("13900139000 is a demo customer");
    assert_eq!(li.name, "李秀英");
    assert!(li.vip);
    assert_eq!(li.open_tickets, 1);
    assert_eq!(li.phones, ["02583456789", "13900139000", "15951234567"]);
    assert_ne!(li.id, wang.id);

    for raw in [
        "13700000000",
        "4008001234",
        "057188881234",
        "",
        "anonymous",
        "sip:13800138000",
    ] {
        assert_eq!(
            store.customer_by_phone(raw).await.expect("lookup"),
            None,
            "{raw}"
        );
    }
}

async fn open_tickets_by_phone_lists_open_ones(db: &TestDb) {
    let store = &db.store;
    seeded(store).await;
    let wang = store
        .customer_by_phone("13800138000")
        .await
        .expect("lookup")
        .expect("wang");
    let open = store
        .open_tickets_by_phone("+86 138 0013 8000")
        .await
        .expect("open tickets");
    assert_eq!(
        open,
        [TicketSummary {
            number: "2611250001".to_owned(),
            kind: TicketKind::Repair,
            category: "无图像有声音".to_owned(),
            stage: TicketStage::Dispatched,
            customer_id: wang.id,
            outlet_code: Some("HZ-XIHU".to_owned()),
            outlet_name: Some("杭州西湖服务中心".to_owned()),
            outlet_phone: Some("057188881234".to_owned()),
            product_model: Some("LED65-E7 65英寸液晶电视".to_owned()),
            created_at: NOW - 3 * HOUR,
            updated_at: NOW - 2 * HOUR,
        }]
    );
    // His closed ticket exists but is not listed.
    let closed = store
        .ticket_by_number("2412250008")
        .await
        .expect("lookup")
        .expect("closed ticket");
    assert_eq!(closed.stage, TicketStage::Closed);
    assert_eq!(closed.customer_id, wang.id);

    // The VIP's open complaint: no outlet.
    let li = store
        .open_tickets_by_phone("13900139000")
        .await
        .expect("open");
    assert_eq!(numbers(&li), ["2611200003"]);
    assert_eq!(li[0].kind, TicketKind::Complaint);
    assert_eq!(li[0].stage, TicketStage::Accepted);
    assert_eq!(
        (&li[0].outlet_code, &li[0].outlet_name, &li[0].outlet_phone),
        (&None, &None, &None)
    );

    // Several open ones, newest first, from any of the customer's numbers;
    // one names no product.
    let liu = store
        .open_tickets_by_phone("0571-6461-2345")
        .await
        .expect("open");
    assert_eq!(numbers(&liu), ["2611250003", "2611050015"]);
    assert_eq!(liu[0].product_model, None);
    assert_eq!(liu[1].stage, TicketStage::Reopened);

    for raw in ["13700000000", "", "not a number"] {
        assert!(
            store
                .open_tickets_by_phone(raw)
                .await
                .expect("open")
                .is_empty(),
            "{raw}"
        );
    }
}

async fn open_tickets_newest_first_at_most_ten(db: &TestDb) {
    let store = &db.store;
    let pool = store.pool();
    let customer_id: i64 = sqlx::query_scalar(
        "INSERT INTO customers (name, region, address, vip, created_at) \
         VALUES ('测试', '', '', 0, 0) RETURNING id",
    )
    .fetch_one(pool)
    .await
    .expect("customer");
    sqlx::query("INSERT INTO customer_phones (phone, customer_id) VALUES ('13612345678', $1)")
        .bind(customer_id)
        .execute(pool)
        .await
        .expect("phone");
    // 14 tickets an hour apart; #3 and #7 are closed, #4 and #5 share a time.
    for i in 0..14_i64 {
        let stage = if i == 3 || i == 7 {
            "closed"
        } else {
            "accepted"
        };
        let created = if i == 5 { T0 + 4 * HOUR } else { T0 + i * HOUR };
        sqlx::query(
            "INSERT INTO tickets (number, customer_id, kind, stage, created_at, updated_at) \
             VALUES ($1, $2, 'repair', $3, $4, $4)",
        )
        .bind(format!("26110100{i:02}"))
        .bind(customer_id)
        .bind(stage)
        .bind(created)
        .execute(pool)
        .await
        .expect("ticket");
    }
    let open = store
        .open_tickets_by_phone("13612345678")
        .await
        .expect("open");
    assert_eq!(open.len() as i64, OPEN_TICKETS_LIMIT);
    assert_eq!(
        numbers(&open),
        [
            "2611010013",
            "2611010012",
            "2611010011",
            "2611010010",
            "2611010009",
            "2611010008",
            "2611010006",
            "2611010005", // same time as 04: the larger number first
            "2611010004",
            "2611010002",
        ]
    );
    assert!(
        open.iter()
            .all(|t| t.product_model.is_none() && t.outlet_code.is_none())
    );
    let summary = store
        .customer_by_phone("13612345678")
        .await
        .expect("lookup")
        .expect("customer");
    assert_eq!(summary.open_tickets, 12);
}

/// Across the demo data: a ticket is listed exactly when its stage is open.
async fn every_stage_is_open_or_not(db: &TestDb) {
    let store = &db.store;
    seeded(store).await;
    let all: Vec<(String, String)> = sqlx::query_as("SELECT number, stage FROM tickets")
        .fetch_all(store.pool())
        .await
        .expect("tickets");
    let phones: Vec<String> =
        sqlx::query_scalar("SELECT MIN(phone) FROM customer_phones GROUP BY customer_id")
            .fetch_all(store.pool())
            .await
            .expect("phones");
    let mut listed = Vec::new();
    for phone in &phones {
        let open = store.open_tickets_by_phone(phone).await.expect("open");
        let customer = store
            .customer_by_phone(phone)
            .await
            .expect("lookup")
            .expect("customer");
        assert_eq!(customer.open_tickets, open.len() as i64, "{phone}");
        listed.extend(open.into_iter().map(|t| t.number));
    }
    listed.sort();
    let mut expected: Vec<String> = all
        .into_iter()
        .filter(|(_, stage)| TicketStage::parse(stage).expect("known stage").is_open())
        .map(|(number, _)| number)
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(listed.len(), 7);
}

async fn ticket_by_number_finds_any_stage(db: &TestDb) {
    let store = &db.store;
    assert_eq!(
        store.ticket_by_number("2611250001").await.expect("empty"),
        None
    );
    seeded(store).await;
    let t = store
        .ticket_by_number("2611250001")
        .await
        .expect("lookup")
        .expect("2611250001 is a demo ticket");
    assert_eq!(t.stage, TicketStage::Dispatched);
    assert_eq!(t.outlet_code.as_deref(), Some("HZ-XIHU"));
    assert_eq!(t.outlet_phone.as_deref(), Some("057188881234"));
    assert_eq!(
        store
            .open_tickets_by_phone("13800138000")
            .await
            .expect("open"),
        [t]
    );
    let followed = store
        .ticket_by_number("2611130012")
        .await
        .expect("lookup")
        .expect("followed-up ticket");
    assert_eq!(followed.stage, TicketStage::FollowedUp);
    assert_eq!(followed.outlet_code.as_deref(), Some("NJ-GULOU"));
    for number in [
        "0000000000",
        "2611250009",
        "261125000",
        "26112500011",
        "26112500a1",
        " 2611250001",
        "",
    ] {
        assert_eq!(
            store.ticket_by_number(number).await.expect("lookup"),
            None,
            "{number:?}"
        );
    }
}

/// A call from `from` (as the carrier wrote it) at `at`, answered 1 s
/// later, with `digits` pressed, ended by the caller after a minute.
async fn call_from(store: &Store, id: &str, from: &str, at: i64, digits_pressed: &str) {
    let mut ops = vec![RecordOp::Arrived {
        call_id: id.to_owned(),
        sip_call_id: format!("sip-{id}@carrier"),
        from_number: from.to_owned(),
        to_number: "4008001234".to_owned(),
        service_number: "4008001234".to_owned(),
        arrived_at: at,
    }];
    ops.push(answered(id, at + 1_000));
    if !digits_pressed.is_empty() {
        ops.push(digits(id, digits_pressed));
    }
    ops.push(ended(id, at + 60_000, "caller-bye", HangupSide::Caller));
    apply_all(store, &ops).await;
}

fn pop_call_ids(pop: &ScreenPop) -> Vec<&str> {
    pop.recent_calls.iter().map(|c| c.id.as_str()).collect()
}

async fn screen_pop_lists_calls_from_every_phone(db: &TestDb) {
    let store = &db.store;
    seeded(store).await;
    // 王建国 calls 30 times: 25 times from his mobile, written as a carrier
    // might, 5 times from his landline in between; so the newest 20 are 15
    // and 5, and the mobile alone has more than 20. 李秀英 calls later.
    for i in 0..30_i64 {
        let from = if i % 6 == 1 {
            "0571-8654-1234"
        } else {
            "+86 138 0013 8000"
        };
        let pressed = format!("{}", i % 10);
        call_from(
            store,
            &format!("wang{i:02}"),
            from,
            T0 + i * 60_000,
            &pressed,
        )
        .await;
    }
    call_from(store, "li-late", "13900139000", T0 + 100 * 60_000, "9").await;
    // Same time as wang29: the larger id comes first.
    call_from(store, "wang99", "13800138000", T0 + 29 * 60_000, "").await;

    let pop = store.screen_pop("13800138000").await.expect("pop");
    let customer = pop.customer.as_ref().expect("wang is a customer");
    assert_eq!(customer.name, "王建国");
    assert_eq!(customer.region, "浙江省杭州市西湖区");
    assert_eq!(customer.address, "文一西路522号西溪花园7幢2单元301室");
    assert!(!customer.vip);
    assert_eq!(customer.phones, ["057186541234", "13800138000"]);
    let products: Vec<(&str, &str)> = customer
        .products
        .iter()
        .map(|p| (p.model.as_str(), p.serial.as_str()))
        .collect();
    assert_eq!(
        products,
        [
            ("LED65-E7 65英寸液晶电视", "E765K2410120318"),
            ("XQG100-B14 滚筒洗衣机", "B14K24122501577"),
        ]
    );
    for p in &customer.products {
        let (bought, end) = (
            p.purchase_date.as_deref().expect("known"),
            p.warranty_end.as_deref().expect("known"),
        );
        assert_eq!((bought.len(), end.len()), (10, 10), "{p:?}");
        assert!(bought < end, "{p:?}");
    }

    assert_eq!(pop.recent_calls.len() as i64, POP_CALLS_LIMIT);
    let mut expected = vec!["wang99".to_owned()];
    expected.extend((11..30).rev().map(|i| format!("wang{i:02}")));
    assert_eq!(pop_call_ids(&pop), expected);
    let landline = pop
        .recent_calls
        .iter()
        .filter(|c| c.caller == "057186541234")
        .count();
    assert_eq!(landline, 3, "wang13, wang19 and wang25");
    assert_eq!(
        pop.recent_calls[5],
        PopCall {
            id: "wang25".to_owned(),
            caller: "057186541234".to_owned(),
            arrived_at: T0 + 25 * 60_000,
            answered_at: Some(T0 + 25 * 60_000 + 1_000),
            ended_at: Some(T0 + 25 * 60_000 + 60_000),
            digits: "5".to_owned(),
            hangup_cause: Some("caller-bye".to_owned()),
            direction: "inbound".to_owned(),
            campaign: None,
        }
    );
    assert_eq!(pop.recent_calls[1].caller, "13800138000");
    assert_eq!(pop.recent_calls[1].digits, "9");
    assert_eq!(pop.recent_calls[0].digits, "");
    // Calling from the landline gives the same pop.
    assert_eq!(store.screen_pop("057186541234").await.expect("pop"), pop);
}

async fn screen_pop_of_unknown_number(db: &TestDb) {
    let store = &db.store;
    seeded(store).await;
    call_from(store, "u1", "13700000000", T0, "1").await;
    call_from(store, "u2", "+86 137 0000 0000", T0 + 60_000, "12").await;
    call_from(store, "u3", "13700000000", T0 + 120_000, "").await;
    call_from(store, "other", "13800138000", T0 + 180_000, "").await;
    call_from(store, "anon", "anonymous", T0 + 240_000, "").await;

    let pop = store.screen_pop("137-0000-0000").await.expect("pop");
    assert_eq!(pop.customer, None);
    assert_eq!(pop_call_ids(&pop), ["u3", "u2", "u1"]);
    assert!(pop.recent_calls.iter().all(|c| c.caller == "13700000000"));
    assert_eq!(pop.recent_calls[1].digits, "12");
    assert!(pop.open_tickets.is_empty());

    // Not a number: nothing, not even the calls stored under that name.
    let empty = ScreenPop {
        customer: None,
        recent_calls: vec![],
        open_tickets: vec![],
    };
    assert_eq!(store.screen_pop("anonymous").await.expect("pop"), empty);
    assert_eq!(store.screen_pop("").await.expect("pop"), empty);
    // A number nobody called from.
    assert_eq!(store.screen_pop("13600000000").await.expect("pop"), empty);
}

async fn screen_pop_in_any_form_lists_open_tickets_only(db: &TestDb) {
    let store = &db.store;
    seeded(store).await;
    call_from(store, "w1", "13800138000", T0, "1").await;
    let pop = store.screen_pop("+86 138-0013-8000").await.expect("pop");
    let customer = pop.customer.as_ref().expect("found in that form");
    assert_eq!(customer.name, "王建国");
    assert_eq!(pop_call_ids(&pop), ["w1"]);
    // His open repair, not his closed installation 2412250008.
    assert_eq!(numbers(&pop.open_tickets), ["2611250001"]);
    assert_eq!(
        pop.open_tickets,
        store
            .open_tickets_by_phone("13800138000")
            .await
            .expect("open")
    );
    assert_eq!(pop.open_tickets[0].outlet_code.as_deref(), Some("HZ-XIHU"));

    // 李秀英: an open complaint and a followed-up repair; only the first.
    let li = store.screen_pop("0086 159 5123 4567").await.expect("pop");
    assert!(li.customer.as_ref().expect("li").vip);
    assert_eq!(numbers(&li.open_tickets), ["2611200003"]);
    assert!(li.recent_calls.is_empty());

    // Closing his repair empties the list.
    sqlx::query("UPDATE tickets SET stage = 'closed' WHERE number = '2611250001'")
        .execute(store.pool())
        .await
        .expect("close");
    let pop = store.screen_pop("13800138000").await.expect("pop");
    assert!(pop.open_tickets.is_empty(), "{:?}", pop.open_tickets);
    assert!(pop.customer.is_some());
}

/// A customer with more numbers than one statement takes: the lists of
/// the statements are merged, newest first, still at most 20.
async fn screen_pop_merges_many_phones(db: &TestDb) {
    let store = &db.store;
    let pool = store.pool();
    let customer_id: i64 = sqlx::query_scalar(
        "INSERT INTO customers (name, region, address, vip, created_at) \
         VALUES ('总机', '', '', 1, 0) RETURNING id",
    )
    .fetch_one(pool)
    .await
    .expect("customer");
    let phones: Vec<String> = (0..18).map(|i| format!("136000000{i:02}")).collect();
    for phone in &phones {
        sqlx::query("INSERT INTO customer_phones (phone, customer_id) VALUES ($1, $2)")
            .bind(phone)
            .bind(customer_id)
            .execute(pool)
            .await
            .expect("phone");
    }
    // Two calls a phone; call k (0..36) from phone k % 18 at minute k.
    for k in 0..36_i64 {
        let phone = &phones[(k % 18) as usize];
        call_from(store, &format!("m{k:02}"), phone, T0 + k * 60_000, "").await;
    }
    let pop = store.screen_pop("13600000017").await.expect("pop");
    let customer = pop.customer.as_ref().expect("customer");
    assert_eq!(customer.phones, phones);
    let expected: Vec<String> = (16..36).rev().map(|k| format!("m{k:02}")).collect();
    assert_eq!(pop_call_ids(&pop), expected);
}

// ------------------------------------------------- backend-specific tests

#[tokio::test]
async fn unsupported_url_is_rejected() {
    for url in ["mysql://root:secret@db/x", "hotline.db", ""] {
        match Store::connect(url).await {
            Err(StoreError::UnsupportedUrl(shown)) => {
                assert!(!shown.contains("secret"), "URL secret shown: {shown}");
            }
            other => panic!("{url}: expected UnsupportedUrl, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn sqlite_plain_path_url_creates_the_file() {
    let dir = std::env::temp_dir().join(unique("hotline_store"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let _guard = Guard::Dir(dir.clone());
    let file = dir.join("new.db");
    let store = Store::connect(&format!("sqlite:{}", file.display()))
        .await
        .expect("connect");
    assert_eq!(store.backend(), Backend::Sqlite);
    assert!(file.exists());
    store.close().await;
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let db = sqlite_db().await;
    sqlx::query(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)",
    )
    .execute(db.store.pool())
    .await
    .expect("insert");
    match Store::connect(&db.url).await {
        Err(StoreError::SchemaTooNew { found: 99, known }) => {
            assert_eq!(known, MIGRATIONS_SQLITE.last().expect("one").version);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn migration_lists_match() {
    let key = |ms: &[hotline::store::Migration]| {
        ms.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>()
    };
    assert_eq!(key(MIGRATIONS_SQLITE), key(MIGRATIONS_POSTGRES));
    let versions: Vec<i64> = MIGRATIONS_SQLITE.iter().map(|m| m.version).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
}

// ------------------------------------------------------- text formatting

#[test]
fn civil_from_days_known_dates() {
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
    assert_eq!(civil_from_days(59), (1970, 3, 1));
    assert_eq!(civil_from_days(10_957), (2000, 1, 1));
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    assert_eq!(civil_from_days(47_541), (2100, 3, 1)); // 2100 is no leap year
    assert_eq!(civil_from_days(-719_468), (0, 3, 1));
    assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
}

/// Walk day by day over ±1000 years: each day is the next calendar day,
/// with month lengths and leap years by the Gregorian rule.
#[test]
fn civil_from_days_walks_the_calendar() {
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = |y: i64, m: u32| match m {
        2 if leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let mut prev = civil_from_days(-366_000);
    for z in -365_999..366_000 {
        let (y, m, d) = civil_from_days(z);
        let (py, pm, pd) = prev;
        let expect = if pd < days_in(py, pm) {
            (py, pm, pd + 1)
        } else if pm < 12 {
            (py, pm + 1, 1)
        } else {
            (py + 1, 1, 1)
        };
        assert_eq!((y, m, d), expect, "day {z}");
        prev = (y, m, d);
    }
}

#[test]
fn utc_and_duration_formatting() {
    assert_eq!(format_utc_ms(0), "1970-01-01 00:00:00");
    assert_eq!(format_utc_ms(T0), "2024-05-01 08:30:00");
    assert_eq!(format_utc_ms(T0 + 999), "2024-05-01 08:30:00");
    assert_eq!(format_utc_ms(951_868_799_000), "2000-02-29 23:59:59");
    assert_eq!(format_utc_ms(-1), "1969-12-31 23:59:59");
    assert_eq!(format_duration_ms(0), "0:00");
    assert_eq!(format_duration_ms(65_999), "1:05");
    assert_eq!(format_duration_ms(3_599_000), "59:59");
    assert_eq!(format_duration_ms(3_600_000), "1:00:00");
    assert_eq!(format_duration_ms(-5), "0:00");
}

#[test]
fn calls_table_layout() {
    let done = CallRow {
        queue: Some("repair".to_owned()),
        queued_at: Some(T0 + 10_000),
        agent_id: Some(3),
        agent_answered_at: Some(T0 + 22_000),
        wait_ms: Some(12_000),
        talk_ms: Some(40_900),
        hold_ms: Some(5_000),
        transfers: 1,
        wrap_up_ms: Some(20_000),
        disposition: Some("resolved".to_owned()),
        notes: Some("not in the table".to_owned()),
        ..expected_call("c-0001", T0).call
    };
    let up = CallRow {
        id: "c-0002-long-id".to_owned(),
        from_number: "anon\nymous".to_owned(),
        arrived_at: T0 + 3_600_000,
        answered_at: None,
        ended_at: None,
        digits: String::new(),
        hangup_cause: None,
        hangup_side: None,
        queue: Some("vip\x1b".to_owned()),
        agent_id: None,
        wait_ms: None,
        talk_ms: None,
        hold_ms: None,
        transfers: 0,
        wrap_up_ms: None,
        disposition: None,
        ..done.clone()
    };
    let table = calls_table(&[up, done]);
    let expected = "\
ID              ARRIVED (UTC)        FROM         TO          DURATION  DIGITS  QUEUE   AGENT  WAIT  TALK  HOLD  WRAP  XFER  DISPOSITION  END
c-0002-long-id  2024-05-01 09:30:00  anon?ymous   4008001234  -         -       vip?    -      -     -     -     -     -     -            -
c-0001          2024-05-01 08:30:00  13800138000  4008001234  1:05      12      repair  #3     0:12  0:40  0:05  0:20  1     resolved     caller-bye/caller
";
    assert_eq!(table, expected, "\n{table}");
    assert_eq!(
        calls_table(&[]),
        "ID  ARRIVED (UTC)  FROM  TO  DURATION  DIGITS  QUEUE  AGENT  WAIT  TALK  HOLD  WRAP  XFER  DISPOSITION  END\n"
    );
}
