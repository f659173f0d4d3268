//! QA over `app(state)`, on SQLite and PostgreSQL: the scorecards, the
//! search for recorded calls by each filter, scoring (weights, a fatal
//! miss, every item required), comments pinned within the recording, the
//! daily sample, the timeline's offsets in the recording, and who may do
//! what (QA any call, an agent only their own and only reading, outlets
//! nothing).

mod common;

use axum::http::StatusCode;
use common::api::{TestApi, fields};
use common::db::TestDb;
use hotline::qa::Scorecard;
use hotline::records::{RecordOp, RecordingState};
use hotline::store::Role;
use serde_json::{Value, json};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn scorecards() -> Vec<Scorecard> {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/scorecards/standard.toml");
    vec![Scorecard::parse(file, &std::fs::read_to_string(file).unwrap()).unwrap()]
}

/// One recorded call answered by `agent`, `secs` long, from `from`.
fn recorded_call(
    id: &str,
    from: &str,
    queue: &str,
    agent: i64,
    at: i64,
    secs: i64,
) -> Vec<RecordOp> {
    vec![
        RecordOp::Arrived {
            call_id: id.into(),
            sip_call_id: format!("{id}@carrier"),
            from_number: from.into(),
            to_number: "4008001234".into(),
            service_number: "4008001234".into(),
            arrived_at: at,
        },
        RecordOp::Answered {
            call_id: id.into(),
            at: at + 100,
        },
        RecordOp::RecordingStarted {
            call_id: id.into(),
            file: format!("recordings/{id}.wav"),
            started_at: at + 100,
        },
        RecordOp::Queued {
            call_id: id.into(),
            queue: queue.into(),
            at: at + 5_000,
        },
        RecordOp::AgentAnswered {
            call_id: id.into(),
            agent_id: agent,
            at: at + 10_100,
            wait_ms: 5_100,
        },
        RecordOp::Event {
            call_id: id.into(),
            seq: 1,
            at: at + 10_100,
            kind: "agent-answered".into(),
            detail: format!("agent {agent}"),
        },
        RecordOp::RecordingDone {
            call_id: id.into(),
            state: RecordingState::Complete,
            duration_ms: secs * 1000,
            bytes: 44 + secs * 32_000,
            sha256: Some("00".repeat(32)),
            agents: agent.to_string(),
            note: String::new(),
        },
    ]
}

async fn id_of(api: &TestApi, token: &str) -> i64 {
    let (status, me) = api.get("/api/me", token).await;
    assert_eq!(status, StatusCode::OK);
    me["id"].as_i64().unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    list["calls"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn reviewing_recorded_calls(db: &TestDb) {
    db.store.seed_demo(now()).await.expect("seed");
    let mut api = TestApi::new(db);
    api.state.qa = Some(hotline::api::qa::config(scorecards(), 2));
    let api = api;
    let qa = api.sign_in_as(Role::Qa, None).await;
    let ann = api.sign_in_as(Role::Agent, None).await;
    let bob = api.sign_in_as(Role::Agent, None).await;
    let outlet_id: i64 = sqlx::query_scalar("SELECT MIN(id) FROM outlets")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    let outlet = api.sign_in_as(Role::Outlet, Some(outlet_id)).await;
    let (ann_id, bob_id) = (id_of(&api, &ann).await, id_of(&api, &bob).await);
    let t = now() - 3_600_000;
    let mut ops = recorded_call("c1", "13800138000", "repair", ann_id, t, 61);
    ops.extend(recorded_call(
        "c2",
        "13700000002",
        "general",
        bob_id,
        t + 60_000,
        30,
    ));
    ops.push(RecordOp::Arrived {
        call_id: "c3".into(),
        sip_call_id: "c3@carrier".into(),
        from_number: "13700000003".into(),
        to_number: "4008001234".into(),
        service_number: "4008001234".into(),
        arrived_at: t,
    });
    for op in &ops {
        db.store.apply(op).await.expect("op");
    }

    // The scorecards.
    let (status, cards) = api.get("/api/qa/scorecards", &qa).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cards["scorecards"][0]["name"], "standard");
    assert_eq!(
        cards["scorecards"][0]["criteria"].as_array().unwrap().len(),
        7
    );

    // Search: every filter.
    let search = |q: &str| format!("/api/recordings?{q}");
    for (q, want) in [
        ("", vec!["c2", "c1"]),
        ("phone=%2B86%20138-0013-8000", vec!["c1"]),
        ("customer=%E7%8E%8B%E5%BB%BA", vec!["c1"]),
        (&format!("agent={bob_id}"), vec!["c2"]),
        ("queue=repair", vec!["c1"]),
        ("min_secs=45", vec!["c1"]),
        ("max_secs=45", vec!["c2"]),
        ("reviewed=false", vec!["c2", "c1"]),
        ("reviewed=true", vec![]),
    ] {
        let (status, list) = api.get(&search(q), &qa).await;
        assert_eq!(status, StatusCode::OK, "{q}: {list}");
        assert_eq!(ids(&list), want, "{q}");
        assert_eq!(list["total"], want.len(), "{q}");
    }
    let (_, list) = api.get(&search("phone=13800138000"), &qa).await;
    assert!(
        list["calls"][0]["customer_name"]
            .as_str()
            .unwrap()
            .starts_with("王")
    );
    assert!(list["calls"][0]["score"].is_null());
    let day = jiff::Timestamp::from_millisecond(t)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .date();
    let (_, list) = api.get(&search(&format!("from={day}&to={day}")), &qa).await;
    assert_eq!(list["total"], 2, "{list}");
    let (_, list) = api
        .get(
            &search(&format!(
                "from={}",
                day.tomorrow().unwrap().tomorrow().unwrap()
            )),
            &qa,
        )
        .await;
    assert_eq!(list["total"], 0);
    let (status, bad) = api
        .get(
            &search("from=2026-13-01&min_score=101&reviewed=maybe&limit=0"),
            &qa,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&bad), ["from", "min_score", "reviewed", "limit"]);
    // An agent finds their own calls only; an outlet nothing.
    let (_, mine) = api.get(&search(&format!("agent={bob_id}")), &ann).await;
    assert_eq!(ids(&mine), ["c1"]);
    let (status, _) = api.get(&search(""), &outlet).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The daily sample: one call of each agent.
    let (status, sample) = api
        .get(&format!("/api/qa/sample?date={day}&per_agent=1"), &qa)
        .await;
    assert_eq!(status, StatusCode::OK, "{sample}");
    let mut picked = ids(&sample);
    picked.sort();
    assert_eq!(picked, ["c1", "c2"]);
    let (status, _) = api.get("/api/qa/sample", &ann).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Scoring: the weights of what was met.
    let all_but_greeting = json!({ "greeting": false, "identity": true, "needs": true,
        "solution": true, "ticket": true, "courtesy": true, "closing": true });
    let (status, score) = api
        .call(
            "PUT",
            "/api/calls/c1/scores/standard",
            Some(&qa),
            Some(json!({ "items": all_but_greeting, "note": "no agent number given" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{score}");
    assert_eq!(
        (score["total"].as_i64(), score["failed"].as_bool()),
        (Some(90), Some(false))
    );
    assert_eq!(score["agent_id"], ann_id);
    // A criterion that fails the whole call: 0; saving again replaces.
    let mut rude = all_but_greeting.clone();
    rude["courtesy"] = json!(false);
    let (_, score) = api
        .call(
            "PUT",
            "/api/calls/c1/scores/standard",
            Some(&qa),
            Some(json!({ "items": rude })),
        )
        .await;
    assert_eq!(
        (score["total"].as_i64(), score["failed"].as_bool()),
        (Some(0), Some(true))
    );
    // Every item, and only the scorecard's.
    let (status, bad) = api
        .call(
            "PUT",
            "/api/calls/c1/scores/standard",
            Some(&qa),
            Some(json!({ "items": { "greeting": true, "smile": true } })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(fields(&bad).contains(&"items.identity".to_owned()), "{bad}");
    assert!(fields(&bad).contains(&"items.smile".to_owned()), "{bad}");
    let (status, _) = api
        .call(
            "PUT",
            "/api/calls/c1/scores/nope",
            Some(&qa),
            Some(json!({ "items": rude })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .call(
            "PUT",
            "/api/calls/c3/scores/standard",
            Some(&qa),
            Some(json!({ "items": rude })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no recording, no score");
    for who in [&ann, &outlet] {
        let (status, _) = api
            .call(
                "PUT",
                "/api/calls/c1/scores/standard",
                Some(who),
                Some(json!({ "items": rude })),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    // Comments, pinned within the recording.
    let (status, comment) = api
        .post(
            "/api/calls/c1/comments",
            &qa,
            json!({ "offset_ms": 12_000, "text": "没有报工号" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{comment}");
    assert_eq!(comment["offset_ms"], 12_000);
    for (body, field) in [
        (
            json!({ "offset_ms": 61_001, "text": "after the end" }),
            "offset_ms",
        ),
        (json!({ "offset_ms": -1, "text": "before" }), "offset_ms"),
        (json!({ "offset_ms": 0, "text": "  " }), "text"),
    ] {
        let (status, bad) = api.post("/api/calls/c1/comments", &qa, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(fields(&bad), [field]);
    }

    // The agent sees the scores and comments of their own calls only.
    let (status, reviews) = api.get("/api/calls/c1/qa", &ann).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        reviews["scores"].as_array().unwrap().len(),
        1,
        "one review, replaced"
    );
    assert_eq!(reviews["scores"][0]["total"], 0);
    assert_eq!(reviews["comments"][0]["text"], "没有报工号");
    let (status, _) = api.get("/api/calls/c1/qa", &bob).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api.get("/api/calls/c3/qa", &qa).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Search by score and review.
    for (q, want) in [
        ("reviewed=true", vec!["c1"]),
        ("reviewed=false", vec!["c2"]),
        ("max_score=0", vec!["c1"]),
        ("min_score=1", vec![]),
    ] {
        let (_, list) = api.get(&search(q), &qa).await;
        assert_eq!(ids(&list), want, "{q}");
    }
    let (_, list) = api.get(&search("reviewed=true"), &qa).await;
    assert_eq!(
        list["calls"][0]["score"],
        json!({ "total": 0, "failed": true, "reviews": 1 })
    );
    // Reviewed calls leave the sample.
    let (_, sample) = api.get(&format!("/api/qa/sample?date={day}"), &qa).await;
    assert_eq!(ids(&sample), ["c2"]);

    // The timeline's events carry their offset in the recording.
    let (_, call) = api.get("/api/calls/c1", &qa).await;
    assert_eq!(call["events"][0]["offset_ms"], 10_000, "{call}");
    assert_eq!(call["recording"]["state"], "complete");
}

on_both_backends!(reviewing_recorded_calls);
