//! The campaigns' API over `app(state)`, on SQLite and PostgreSQL: the
//! configured campaigns with their contacts by state, a contact added by
//! hand (refused when it is not a number, outside the dial rules, on the
//! do-not-call list, or there already), the do-not-call list, and who may.

mod common;

use axum::http::StatusCode;
use common::api::{TestApi, fields};
use common::db::TestDb;
use hotline::campaign::{CampaignSpec, Limits, Mode, RetryDelays};
use hotline::ivr::calendar::OpenSpan;
use hotline::store::Role;
use serde_json::json;

fn follow_up() -> hotline::campaign::Rules {
    let minute = std::time::Duration::from_secs(60);
    CampaignSpec {
        name: "follow-up",
        mode: Mode::Survey {
            flow: "survey".into(),
        },
        caller_id: "4008001234",
        time_zone: "Asia/Shanghai",
        hours: &[("mon-fri", "09:00-20:00")],
        holidays: None,
        max_attempts: 3,
        retry: RetryDelays {
            busy: minute,
            no_answer: minute,
            rejected: minute,
            failed: minute,
            network_error: minute,
        },
        concurrency: 5,
        allow: &["_1[3-9]XXXXXXXXX"],
        enroll_completed_after: None,
    }
    .check(&Limits {
        legal_hours: OpenSpan {
            start: 8 * 60,
            end: 21 * 60,
        },
        trunk_lines: 30,
    })
    .unwrap()
}

async fn contacts_and_do_not_call(db: &TestDb) {
    let mut api = TestApi::new(db);
    api.state.campaigns = Some(hotline::api::campaigns::config(vec![follow_up()]));
    let boss = api.sign_in_as(Role::Supervisor, None).await;
    let agent = api.sign_in_as(Role::Agent, None).await;
    let qa = api.sign_in_as(Role::Qa, None).await;

    let add = |phone: &str| json!({ "phone": phone, "ticket": null });
    let (status, body) = api
        .post(
            "/api/campaigns/follow-up/contacts",
            &boss,
            add("+86 139-0000-0001"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["number"], "13900000001");
    let (status, _) = api
        .post(
            "/api/campaigns/follow-up/contacts",
            &boss,
            add("13900000001"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "there already");
    for bad in ["not a number", "010-12345678"] {
        let (status, body) = api
            .post("/api/campaigns/follow-up/contacts", &boss, add(bad))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(fields(&body), ["phone"]);
    }
    let (status, _) = api
        .post("/api/campaigns/nope/contacts", &boss, add("13900000001"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An agent records a customer's wish not to be called; no campaign
    // takes the number after that.
    let (status, body) = api
        .post(
            "/api/do-not-call",
            &agent,
            json!({ "phone": "139 0000 0002", "reason": "asked" }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = api
        .post(
            "/api/campaigns/follow-up/contacts",
            &boss,
            add("13900000002"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("do-not-call"),
        "{body}"
    );
    let (status, _) = api
        .post("/api/do-not-call", &agent, json!({ "phone": "abc" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, list) = api.get("/api/campaigns", &boss).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["campaigns"][0]["name"], "follow-up");
    assert_eq!(list["campaigns"][0]["kind"], "survey");
    assert_eq!(list["campaigns"][0]["contacts"], json!({ "waiting": 1 }));

    for who in [&agent, &qa] {
        let (status, _) = api.get("/api/campaigns", who).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = api
            .post("/api/campaigns/follow-up/contacts", who, add("13900000003"))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = api
        .post("/api/do-not-call", &qa, json!({ "phone": "13900000004" }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

on_both_backends!(contacts_and_do_not_call);
