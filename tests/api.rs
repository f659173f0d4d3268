//! The HTTP API through `tower::ServiceExt::oneshot` on `app(state)`: no
//! socket. Backed by a real SQLite store in a temp dir (the store itself is
//! tested on both backends in tests/store.rs).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hotline::api::{ApiState, Live, app};
use hotline::records::{HangupSide, RecordOp};
use hotline::store::Store;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const T0: i64 = 1_714_552_200_000;

struct TestApi {
    state: ApiState,
    dir: PathBuf,
}

impl Drop for TestApi {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn test_api() -> TestApi {
    let dir = std::env::temp_dir().join(format!(
        "hotline_api_{}_{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = Store::connect(&format!("sqlite://{}", dir.join("api.db").display()))
        .await
        .expect("connect");
    let live = Arc::new(Live::new(0, Arc::new(AtomicUsize::new(0))));
    TestApi {
        state: ApiState { store, live },
        dir,
    }
}

async fn get(state: &ApiState, uri: &str) -> (StatusCode, Value) {
    let response = app(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, body)
}

async fn seed_call(store: &Store, id: &str, at: i64) {
    let ops = [
        RecordOp::Arrived {
            call_id: id.to_owned(),
            sip_call_id: format!("sip-{id}"),
            from_number: "13800138000".to_owned(),
            to_number: "4008001234".to_owned(),
            service_number: "4008001234".to_owned(),
            arrived_at: at,
        },
        RecordOp::Event {
            call_id: id.to_owned(),
            seq: 1,
            at,
            kind: "arrived".to_owned(),
            detail: String::new(),
        },
        RecordOp::Digits {
            call_id: id.to_owned(),
            digits: "2".to_owned(),
        },
        RecordOp::Event {
            call_id: id.to_owned(),
            seq: 2,
            at: at + 3_000,
            kind: "digit".to_owned(),
            detail: "2".to_owned(),
        },
        RecordOp::Ended {
            call_id: id.to_owned(),
            at: at + 10_000,
            cause: "caller-bye".to_owned(),
            side: HangupSide::Caller,
        },
    ];
    for op in &ops {
        store.apply(op).await.expect("apply");
    }
}

/// No SQL, table, driver or file text in a client-facing body.
fn assert_no_internals(body: &Value) {
    let text = body.to_string().to_lowercase();
    for word in [
        "sql",
        "table",
        "calls_gone",
        "relation",
        "pool",
        "closed",
        "sqlx",
        "api.db",
        "/tmp",
    ] {
        assert!(
            !text.contains(word),
            "internal detail {word:?} leaked: {text}"
        );
    }
}

#[tokio::test]
async fn health_reports_live_figures() {
    let t = test_api().await;
    let live = &t.state.live;
    live.active_calls.store(3, Ordering::Relaxed);
    live.calls_total.store(42, Ordering::Relaxed);
    live.pending_records.store(7, Ordering::Relaxed);

    let (status, body) = get(&t.state, "/api/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["db"], "ok");
    assert_eq!(body["active_calls"], 3);
    assert_eq!(body["calls_total"], 42);
    assert_eq!(body["pending_records"], 7);
    // Started at the epoch: uptime is "now", in seconds.
    assert!(body["uptime_s"].as_i64().expect("uptime") > 1_700_000_000);

    live.draining.store(true, Ordering::Relaxed);
    let (status, body) = get(&t.state, "/api/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "draining");
}

#[tokio::test]
async fn health_is_503_when_the_database_is_down() {
    let t = test_api().await;
    t.state.store.close().await;
    let (status, body) = get(&t.state, "/api/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["db"], "error");
    assert_eq!(body["status"], "ok");
    assert_no_internals(&body);
}

#[tokio::test]
async fn list_calls_newest_first_with_limit() {
    let t = test_api().await;
    for i in 0..5 {
        seed_call(&t.state.store, &format!("c{i}"), T0 + i * 1_000).await;
    }
    let (status, body) = get(&t.state, "/api/calls").await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = body["calls"]
        .as_array()
        .expect("calls array")
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["c4", "c3", "c2", "c1", "c0"]);

    let (status, body) = get(&t.state, "/api/calls?limit=2").await;
    assert_eq!(status, StatusCode::OK);
    let calls = body["calls"].as_array().expect("calls array");
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0],
        json!({
            "id": "c4", "sip_call_id": "sip-c4",
            "from_number": "13800138000", "to_number": "4008001234",
            "service_number": "4008001234",
            "arrived_at": T0 + 4_000, "answered_at": null, "ended_at": T0 + 14_000,
            "digits": "2", "hangup_cause": "caller-bye", "hangup_side": "caller",
        })
    );

    let (status, body) = get(&t.state, "/api/calls?limit=500").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["calls"].as_array().expect("calls").len(), 5);
}

#[tokio::test]
async fn list_calls_rejects_bad_limits() {
    let t = test_api().await;
    for q in [
        "limit=abc",
        "limit=0",
        "limit=-1",
        "limit=501",
        "limit=",
        "limit=1.5",
    ] {
        let (status, body) = get(&t.state, &format!("/api/calls?{q}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(
            body["error"], "limit must be an integer from 1 to 500",
            "{q}"
        );
    }
}

#[tokio::test]
async fn call_detail_with_events() {
    let t = test_api().await;
    seed_call(&t.state.store, "c1", T0).await;
    let (status, body) = get(&t.state, "/api/calls/c1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], "c1");
    assert_eq!(body["digits"], "2");
    assert_eq!(
        body["events"],
        json!([
            { "call_id": "c1", "seq": 1, "at": T0, "kind": "arrived", "detail": "" },
            { "call_id": "c1", "seq": 2, "at": T0 + 3_000, "kind": "digit", "detail": "2" },
        ])
    );
    assert_eq!(body["messages"], json!([]));
}

#[tokio::test]
async fn call_detail_with_messages() {
    let t = test_api().await;
    seed_call(&t.state.store, "c1", T0).await;
    t.state
        .store
        .apply(&RecordOp::Message {
            call_id: "c1".to_owned(),
            file: "messages/c1-1.wav".to_owned(),
            duration_ms: 8_240,
            at: T0 + 5_000,
        })
        .await
        .expect("message");
    let (status, body) = get(&t.state, "/api/calls/c1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["messages"],
        json!([
            { "call_id": "c1", "file": "messages/c1-1.wav", "duration_ms": 8_240, "at": T0 + 5_000 },
        ])
    );
}

#[tokio::test]
async fn unknown_call_is_404() {
    let t = test_api().await;
    let (status, body) = get(&t.state, "/api/calls/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({ "error": "call not found" }));
}

#[tokio::test]
async fn database_errors_hide_internals() {
    let t = test_api().await;
    seed_call(&t.state.store, "c1", T0).await;

    // The database answers but the query fails: 500.
    sqlx::raw_sql("ALTER TABLE calls RENAME TO calls_gone")
        .execute(t.state.store.pool())
        .await
        .expect("rename");
    for uri in ["/api/calls", "/api/calls/c1"] {
        let (status, body) = get(&t.state, uri).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
        assert_eq!(body, json!({ "error": "internal error" }), "{uri}");
        assert_no_internals(&body);
    }

    // The database cannot be reached: 503.
    t.state.store.close().await;
    for uri in ["/api/calls", "/api/calls/c1"] {
        let (status, body) = get(&t.state, uri).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_eq!(body, json!({ "error": "database unavailable" }), "{uri}");
        assert_no_internals(&body);
    }
}
