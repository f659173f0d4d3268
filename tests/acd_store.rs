//! What the ACD keeps in the store, on both backends: the ACD record ops
//! on calls and agent_state_log (idempotent, first agent kept, latest
//! queue and totals win) and the calls API showing them.

mod common;

use axum::http::StatusCode;
use common::api::TestApi;
use common::db::TestDb;
use hotline::records::{HangupSide, RecordOp};
use hotline::store::{Role, Store, StoreError};
use serde_json::json;
use sqlx::Row;

on_both_backends!(
    queued_keeps_the_latest_queue,
    agent_answered_keeps_the_first_agent,
    handled_and_wrap_up_keep_the_latest,
    agent_state_rows_land_once,
    acd_ops_for_missing_call_fail,
    whole_acd_call_in_one_batch,
    api_calls_show_the_acd_fields,
);

const T0: i64 = 1_714_552_200_000; // 2024-05-01 08:30:00 UTC

// ---------------------------------------------------------------- helpers

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

fn queued(id: &str, queue: &str, at: i64) -> RecordOp {
    RecordOp::Queued {
        call_id: id.to_owned(),
        queue: queue.to_owned(),
        at,
    }
}

fn agent_answered(id: &str, agent_id: i64, at: i64, wait_ms: i64) -> RecordOp {
    RecordOp::AgentAnswered {
        call_id: id.to_owned(),
        agent_id,
        at,
        wait_ms,
    }
}

fn handled(id: &str, talk_ms: i64, hold_ms: i64, transfers: i64) -> RecordOp {
    RecordOp::Handled {
        call_id: id.to_owned(),
        talk_ms,
        hold_ms,
        transfers,
    }
}

fn wrap_up(id: &str, agent_id: i64, ms: i64, disposition: Option<&str>, notes: &str) -> RecordOp {
    RecordOp::WrapUp {
        call_id: id.to_owned(),
        agent_id,
        wrap_up_ms: ms,
        disposition: disposition.map(str::to_owned),
        notes: notes.to_owned(),
    }
}

fn agent_state(id: &str, agent_id: i64, from: &str, to: &str, at: i64) -> RecordOp {
    RecordOp::AgentState {
        id: id.to_owned(),
        agent_id,
        from: from.to_owned(),
        to: to.to_owned(),
        reason: (to == "not_ready").then(|| "break".to_owned()),
        why: "agent".to_owned(),
        at,
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

/// Each op applied twice in a row, as the record writer does after an
/// ambiguous failure.
async fn apply_twice(store: &Store, ops: &[RecordOp]) {
    for op in ops {
        for attempt in ["first", "retry"] {
            store
                .apply(op)
                .await
                .unwrap_or_else(|e| panic!("{op:?} ({attempt}): {e}"));
        }
    }
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(store.pool())
        .await
        .expect(sql)
}

async fn call_row(store: &Store, id: &str) -> hotline::store::CallRow {
    store.call(id).await.expect("call").expect("present").call
}

/// `agent_state_log` as `(id, agent, from, to, reason, why, at)`, by time.
type StateRow = (String, i64, String, String, Option<String>, String, i64);

async fn state_log(store: &Store) -> Vec<StateRow> {
    sqlx::query(
        "SELECT id, agent_id, from_state, to_state, reason, why, at \
         FROM agent_state_log ORDER BY at, id",
    )
    .fetch_all(store.pool())
    .await
    .expect("agent_state_log")
    .iter()
    .map(|r| {
        (
            r.get("id"),
            r.get("agent_id"),
            r.get("from_state"),
            r.get("to_state"),
            r.get("reason"),
            r.get("why"),
            r.get("at"),
        )
    })
    .collect()
}

// ------------------------------------------------------ the record ops

async fn queued_keeps_the_latest_queue(db: &TestDb) {
    let store = &db.store;
    apply_twice(
        store,
        &[arrived("c1", T0), queued("c1", "repair", T0 + 10_000)],
    )
    .await;
    let row = call_row(store, "c1").await;
    assert_eq!(row.queue.as_deref(), Some("repair"));
    assert_eq!(row.queued_at, Some(T0 + 10_000));

    // Transferred to another queue: the latest wins...
    apply_twice(store, &[queued("c1", "complaint", T0 + 90_000)]).await;
    // ... even over a late retry of the earlier one.
    apply_all(store, &[queued("c1", "repair", T0 + 10_000)]).await;
    let row = call_row(store, "c1").await;
    assert_eq!(row.queue.as_deref(), Some("complaint"));
    assert_eq!(row.queued_at, Some(T0 + 90_000));
    assert_eq!(count(store, "SELECT COUNT(*) FROM calls").await, 1);

    // A call that never queued shows none.
    apply_all(store, &[arrived("c2", T0)]).await;
    let row = call_row(store, "c2").await;
    assert_eq!((row.queue, row.queued_at), (None, None));
}

async fn agent_answered_keeps_the_first_agent(db: &TestDb) {
    let store = &db.store;
    apply_twice(
        store,
        &[
            arrived("c1", T0),
            queued("c1", "repair", T0 + 10_000),
            agent_answered("c1", 7, T0 + 22_000, 12_000),
        ],
    )
    .await;
    let row = call_row(store, "c1").await;
    assert_eq!(row.agent_id, Some(7));
    assert_eq!(row.agent_answered_at, Some(T0 + 22_000));
    assert_eq!(row.wait_ms, Some(12_000));

    // A second agent after a transfer: the first one stays, with their
    // answer time and wait.
    apply_twice(store, &[agent_answered("c1", 9, T0 + 80_000, 3_000)]).await;
    let row = call_row(store, "c1").await;
    assert_eq!(
        (row.agent_id, row.agent_answered_at, row.wait_ms),
        (Some(7), Some(T0 + 22_000), Some(12_000))
    );
    // Answering the caller's leg (the IVR) is another column.
    assert_eq!(row.answered_at, None);
}

async fn handled_and_wrap_up_keep_the_latest(db: &TestDb) {
    let store = &db.store;
    apply_twice(
        store,
        &[
            arrived("c1", T0),
            handled("c1", 40_000, 5_000, 0),
            wrap_up("c1", 7, 20_000, Some("resolved"), "换了主板"),
        ],
    )
    .await;
    let row = call_row(store, "c1").await;
    assert_eq!(
        (row.talk_ms, row.hold_ms, row.transfers),
        (Some(40_000), Some(5_000), 0)
    );
    assert_eq!(row.wrap_up_ms, Some(20_000));
    assert_eq!(row.disposition.as_deref(), Some("resolved"));
    assert_eq!(row.notes.as_deref(), Some("换了主板"));

    // The totals after a transfer, and the second agent's wrap-up: each
    // op carries the call's values so far, so the latest replaces them.
    apply_twice(
        store,
        &[
            handled("c1", 95_000, 5_000, 1),
            wrap_up("c1", 9, 31_000, None, ""),
        ],
    )
    .await;
    let row = call_row(store, "c1").await;
    assert_eq!(
        (row.talk_ms, row.hold_ms, row.transfers),
        (Some(95_000), Some(5_000), 1)
    );
    assert_eq!(
        (row.wrap_up_ms, row.disposition, row.notes),
        (Some(31_000), None, Some(String::new()))
    );
    // None of it touched the first agent.
    assert_eq!(row.agent_id, None);
}

async fn agent_state_rows_land_once(db: &TestDb) {
    let store = &db.store;
    // No call is needed: these name an agent, not a call.
    let ops = [
        agent_state("s-7-1", 7, "logged_out", "ready", T0),
        agent_state("s-7-2", 7, "ready", "not_ready", T0 + 60_000),
        agent_state("s-9-1", 9, "logged_out", "ready", T0 + 1_000),
    ];
    apply_twice(store, &ops).await;
    // A replayed batch writes nothing twice either.
    store.apply_batch(&ops).await.expect("replayed batch");
    // A duplicate id with other values: the first stays.
    apply_all(store, &[agent_state("s-7-1", 7, "x", "y", T0 + 5)]).await;
    let log = state_log(store).await;
    let row = |id: &str, agent, from: &str, to: &str, reason: Option<&str>, at| {
        (
            id.to_owned(),
            agent,
            from.to_owned(),
            to.to_owned(),
            reason.map(str::to_owned),
            "agent".to_owned(),
            at,
        )
    };
    assert_eq!(
        log,
        [
            row("s-7-1", 7, "logged_out", "ready", None, T0),
            row("s-9-1", 9, "logged_out", "ready", None, T0 + 1_000),
            row("s-7-2", 7, "ready", "not_ready", Some("break"), T0 + 60_000),
        ]
    );
    assert_eq!(count(store, "SELECT COUNT(*) FROM calls").await, 0);
}

async fn acd_ops_for_missing_call_fail(db: &TestDb) {
    let store = &db.store;
    for op in [
        queued("ghost", "repair", T0),
        agent_answered("ghost", 7, T0, 0),
        handled("ghost", 1, 0, 0),
        wrap_up("ghost", 7, 1, Some("resolved"), ""),
    ] {
        match store.apply(&op).await {
            Err(StoreError::MissingCall { call_id }) => assert_eq!(call_id, "ghost"),
            other => panic!("{op:?}: expected MissingCall, got {other:?}"),
        }
    }
    assert_eq!(count(store, "SELECT COUNT(*) FROM calls").await, 0);
    // A state change never misses a call.
    store
        .apply(&agent_state("s1", 7, "ready", "ringing", T0))
        .await
        .expect("agent state without calls");
    // In a batch, a missing call undoes the state change with it.
    let batch = [
        agent_state("s2", 7, "ringing", "ready", T0 + 1),
        handled("ghost", 1, 0, 0),
    ];
    assert!(matches!(
        store.apply_batch(&batch).await,
        Err(StoreError::MissingCall { .. })
    ));
    assert_eq!(state_log(store).await.len(), 1);
}

/// An ACD call as the engine records it, in one batch and then replayed:
/// the call detail and the list show every ACD field.
async fn whole_acd_call_in_one_batch(db: &TestDb) {
    let store = &db.store;
    let ops = [
        arrived("c1", T0),
        RecordOp::Answered {
            call_id: "c1".to_owned(),
            at: T0 + 500,
        },
        queued("c1", "repair", T0 + 10_000),
        agent_state("s1", 3, "ready", "ringing", T0 + 15_000),
        agent_state("s2", 3, "ringing", "on_call", T0 + 22_000),
        agent_answered("c1", 3, T0 + 22_000, 12_000),
        handled("c1", 40_000, 5_000, 0),
        RecordOp::Ended {
            call_id: "c1".to_owned(),
            at: T0 + 67_000,
            cause: "caller-bye".to_owned(),
            side: HangupSide::Caller,
        },
        agent_state("s3", 3, "on_call", "wrap_up", T0 + 67_000),
        wrap_up("c1", 3, 20_000, Some("resolved"), "约了上门"),
        agent_state("s4", 3, "wrap_up", "ready", T0 + 87_000),
    ];
    store.apply_batch(&ops).await.expect("batch");
    store.apply_batch(&ops).await.expect("replayed batch");
    let row = call_row(store, "c1").await;
    assert_eq!(row.answered_at, Some(T0 + 500));
    assert_eq!(row.ended_at, Some(T0 + 67_000));
    assert_eq!(row.queue.as_deref(), Some("repair"));
    assert_eq!(row.queued_at, Some(T0 + 10_000));
    assert_eq!(row.agent_id, Some(3));
    assert_eq!(row.agent_answered_at, Some(T0 + 22_000));
    assert_eq!(row.wait_ms, Some(12_000));
    assert_eq!(row.talk_ms, Some(40_000));
    assert_eq!(row.hold_ms, Some(5_000));
    assert_eq!(row.transfers, 0);
    assert_eq!(row.wrap_up_ms, Some(20_000));
    assert_eq!(row.disposition.as_deref(), Some("resolved"));
    assert_eq!(row.notes.as_deref(), Some("约了上门"));
    assert_eq!(store.recent_calls(10).await.expect("recent"), [row]);
    assert_eq!(state_log(store).await.len(), 4);
}

/// A database an older hotline left at 0005, with a user and a call,
/// gets 0006 on connect: the call has no ACD values and no transfers,
/// the user no skills and every queue.
async fn api_calls_show_the_acd_fields(db: &TestDb) {
    let api = TestApi::new(db);
    let agent = api.sign_in_as(Role::Agent, None).await;
    apply_all(
        api.store(),
        &[
            arrived("c1", T0),
            queued("c1", "repair", T0 + 10_000),
            agent_answered("c1", 3, T0 + 22_000, 12_000),
            handled("c1", 40_000, 5_000, 1),
            wrap_up("c1", 3, 20_000, Some("resolved"), "约了上门"),
            arrived("c2", T0 - 1),
        ],
    )
    .await;
    let (status, list) = api.get("/api/calls", &agent).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let calls = list["calls"].as_array().expect("calls");
    let acd = json!({
        "queue": "repair", "queued_at": T0 + 10_000, "agent_id": 3,
        "agent_answered_at": T0 + 22_000, "wait_ms": 12_000, "talk_ms": 40_000,
        "hold_ms": 5_000, "transfers": 1, "wrap_up_ms": 20_000,
        "disposition": "resolved", "notes": "约了上门",
    });
    for (key, want) in acd.as_object().expect("object") {
        assert_eq!(&calls[0][key], want, "list: {key}");
    }
    let none = json!({
        "queue": null, "queued_at": null, "agent_id": null, "agent_answered_at": null,
        "wait_ms": null, "talk_ms": null, "hold_ms": null, "transfers": 0,
        "wrap_up_ms": null, "disposition": null, "notes": null,
    });
    for (key, want) in none.as_object().expect("object") {
        assert_eq!(&calls[1][key], want, "never queued: {key}");
    }
    let (status, detail) = api.get("/api/calls/c1", &agent).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    for (key, want) in acd.as_object().expect("object") {
        assert_eq!(&detail[key], want, "detail: {key}");
    }

    // The OpenAPI document describes them.
    let (status, doc) = api.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let props = &doc["components"]["schemas"]["CallRow"]["properties"];
    for key in acd.as_object().expect("object").keys() {
        assert!(props.get(key).is_some(), "CallRow schema lacks {key}");
    }
}
