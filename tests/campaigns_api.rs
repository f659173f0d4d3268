//! The campaigns' API over `app(state)`, on SQLite and PostgreSQL: the
//! configured campaigns with their contacts by state, a contact added by
//! hand (refused when it is not a number, outside the dial rules, on the
//! do-not-call list, or there already), the do-not-call list, the run
//! switch (stopped is final), each campaign's figures over a span of days
//! against a data set whose answers are known by construction, and who
//! may.

mod common;

use axum::http::StatusCode;
use common::api::{TestApi, fields};
use common::db::TestDb;
use hotline::campaign::RunState;
use hotline::campaign::{CampaignSpec, Limits, Mode, RetryDelays};
use hotline::ivr::calendar::OpenSpan;
use hotline::records::RecordOp;
use hotline::store::Role;
use serde_json::{Value, json};

fn follow_up() -> hotline::campaign::Rules {
    campaign(
        "follow-up",
        Mode::Survey {
            flow: "survey".into(),
        },
    )
}

/// A campaign of another kind: no survey figures.
fn call_backs() -> hotline::campaign::Rules {
    campaign(
        "call-backs",
        Mode::Preview {
            queue: "repair".into(),
        },
    )
}

fn campaign(name: &str, mode: Mode) -> hotline::campaign::Rules {
    let minute = std::time::Duration::from_secs(60);
    CampaignSpec {
        name,
        mode,
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

    // A customer on the list: every number of theirs, and one added later.
    let (status, customer) = api
        .post(
            "/api/customers",
            &agent,
            json!({ "name": "周敏", "phones": ["13900000005"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{customer}");
    let (status, body) = api
        .post(
            "/api/do-not-call",
            &agent,
            json!({ "customer_id": customer["id"], "reason": "no calls, please" }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let later = hotline::store::CustomerPatch {
        phones: Some(vec!["13900000005".into(), "13900000006".into()]),
        ..Default::default()
    };
    db.store
        .update_customer(customer["id"].as_i64().unwrap(), 0, &later)
        .await
        .unwrap();
    for phone in ["13900000005", "139 0000 0006"] {
        let (status, body) = api
            .post("/api/campaigns/follow-up/contacts", &boss, add(phone))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{phone}: {body}");
        assert!(body.to_string().contains("do-not-call"), "{body}");
    }
    let (status, _) = api
        .post(
            "/api/do-not-call",
            &agent,
            json!({ "customer_id": 999_999 }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for both_or_none in [
        json!({ "phone": "13900000007", "customer_id": customer["id"] }),
        json!({ "reason": "?" }),
    ] {
        let (status, body) = api.post("/api/do-not-call", &agent, both_or_none).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(fields(&body), ["phone"]);
    }

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

/// The API knows `campaigns`; a supervisor, an agent and a QA user signed in.
async fn api_with(db: &TestDb, campaigns: Vec<hotline::campaign::Rules>) -> (TestApi, [String; 3]) {
    let mut api = TestApi::new(db);
    api.state.campaigns = Some(hotline::api::campaigns::config(campaigns));
    let boss = api.sign_in_as(Role::Supervisor, None).await;
    let agent = api.sign_in_as(Role::Agent, None).await;
    let qa = api.sign_in_as(Role::Qa, None).await;
    (api, [boss, agent, qa])
}

async fn put_state(api: &TestApi, token: &str, name: &str, body: Value) -> (StatusCode, Value) {
    api.call(
        "PUT",
        &format!("/api/campaigns/{name}/state"),
        Some(token),
        Some(body),
    )
    .await
}

/// No SQL, table or driver text in an error.
fn assert_plain(body: &Value) {
    let text = body.to_string().to_lowercase();
    for inside in [
        "campaign_runs",
        "sql",
        "select",
        "insert",
        "constraint",
        "sqlx",
    ] {
        assert!(!text.contains(inside), "internals in {body}");
    }
}

/// Running until switched; paused and resumed with who and when on the
/// view and in the store the dialer reads; stopped for good (409 for any
/// other state after, naming why; stopping again is a no-op); bad states,
/// unknown campaigns and other roles refused.
async fn the_run_switch(db: &TestDb) {
    let (api, [boss, agent, qa]) = api_with(db, vec![follow_up(), call_backs()]).await;
    let (_, me) = api.get("/api/me", &boss).await;
    let boss_name = me["username"].as_str().unwrap().to_owned();

    let (status, list) = api.get("/api/campaigns", &boss).await;
    assert_eq!(status, StatusCode::OK);
    for c in list["campaigns"].as_array().unwrap() {
        assert_eq!(c["state"], "running", "{c}");
        assert_eq!(c["state_changed_by"], Value::Null, "{c}");
        assert_eq!(c["state_changed_at"], Value::Null, "{c}");
    }

    let before = hotline_now();
    let (status, view) = put_state(&api, &boss, "follow-up", json!({ "state": "paused" })).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["name"], "follow-up");
    assert_eq!(view["kind"], "survey");
    assert_eq!(view["state"], "paused");
    assert_eq!(view["state_changed_by"], boss_name.as_str());
    let at = view["state_changed_at"].as_i64().unwrap();
    assert!(at >= before && at <= hotline_now(), "{at}");
    let states = api.store().run_states().await.unwrap();
    assert_eq!(states.get("follow-up"), Some(&RunState::Paused));
    assert_eq!(states.get("call-backs"), None, "the other is untouched");
    let (_, list) = api.get("/api/campaigns", &boss).await;
    assert_eq!(list["campaigns"][0]["state"], "paused");
    assert_eq!(list["campaigns"][1]["state"], "running");

    let (status, view) = put_state(&api, &boss, "follow-up", json!({ "state": "running" })).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["state"], "running");
    assert_eq!(
        api.store().run_states().await.unwrap().get("follow-up"),
        Some(&RunState::Running)
    );

    for bad in [
        json!({ "state": "flying" }),
        json!({ "state": "" }),
        json!({}),
    ] {
        let (status, body) = put_state(&api, &boss, "follow-up", bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(fields(&body), ["state"], "{body}");
    }
    let (status, body) = put_state(&api, &boss, "nope", json!({ "state": "paused" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    for who in [&agent, &qa] {
        let (status, _) = put_state(&api, who, "follow-up", json!({ "state": "paused" })).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    assert_eq!(
        api.store().run_states().await.unwrap().get("follow-up"),
        Some(&RunState::Running),
        "nothing refused changed anything"
    );

    // Stopped is final.
    let (status, view) = put_state(&api, &boss, "call-backs", json!({ "state": "stopped" })).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["state"], "stopped");
    let stopped_at = view["state_changed_at"].clone();
    let admin = api.sign_in_as(Role::Admin, None).await;
    for again in ["running", "paused"] {
        let (status, body) = put_state(&api, &admin, "call-backs", json!({ "state": again })).await;
        assert_eq!(status, StatusCode::CONFLICT, "{again}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(
            message.contains("stopped") && message.contains("stays stopped"),
            "{message}"
        );
        assert_plain(&body);
    }
    let (status, view) = put_state(&api, &admin, "call-backs", json!({ "state": "stopped" })).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "stopping again changes nothing: {view}"
    );
    assert_eq!(
        (
            &view["state"],
            &view["state_changed_by"],
            &view["state_changed_at"]
        ),
        (&json!("stopped"), &json!(boss_name), &stopped_at),
        "the first stop stands"
    );
    assert_eq!(
        api.store().run_states().await.unwrap().get("call-backs"),
        Some(&RunState::Stopped)
    );
}

fn hotline_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Midnight starting the day in the service desk's zone (China), ms.
fn midnight(y: i16, m: i8, d: i8) -> i64 {
    jiff::civil::date(y, m, d)
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .unwrap()
        .timestamp()
        .as_millisecond()
}

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// An outbound attempt of `campaign` to `contact`, started `at`, with its
/// outcome (`None`: still up).
async fn attempt(
    store: &hotline::store::Store,
    n: &mut u32,
    campaign: &str,
    contact: i64,
    at: i64,
    outcome: Option<&str>,
) {
    *n += 1;
    let call_id = format!("out{n:04}");
    store
        .apply(&RecordOp::Dialled {
            call_id: call_id.clone(),
            sip_call_id: format!("sip-{call_id}"),
            number: format!("1390000{contact:04}"),
            caller_id: "4008001234".into(),
            campaign: campaign.into(),
            contact,
            attempt: 1,
            at,
        })
        .await
        .unwrap();
    if let Some(outcome) = outcome {
        store
            .apply(&RecordOp::Outcome {
                call_id: call_id.clone(),
                outcome: outcome.into(),
            })
            .await
            .unwrap();
    }
    if outcome == Some("answered") {
        store
            .apply(&RecordOp::Answered {
                call_id,
                at: at + 5_000,
            })
            .await
            .unwrap();
    }
}

/// A ticket with its stamps: `(stage, at, score)`, in order.
async fn ticket(
    store: &hotline::store::Store,
    customer: i64,
    number: &str,
    stamps: &[(&str, i64, Option<i64>)],
) {
    let last = stamps.last().unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tickets (number, customer_id, kind, stage, created_at, updated_at) \
         VALUES ($1, $2, 'repair', $3, $4, $5) RETURNING id",
    )
    .bind(number)
    .bind(customer)
    .bind(last.0)
    .bind(stamps[0].1)
    .bind(last.1)
    .fetch_one(store.pool())
    .await
    .unwrap();
    for (seq, (stage, at, score)) in (0_i64..).zip(stamps) {
        sqlx::query(
            "INSERT INTO ticket_stamps (ticket_id, seq, stage, at, score) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(seq)
        .bind(*stage)
        .bind(*at)
        .bind(*score)
        .execute(store.pool())
        .await
        .unwrap();
    }
}

/// The days 2026-03-01 to 2026-03-10 (China time) seeded with attempts
/// and tickets whose figures are known by construction, with records on
/// both sides of each edge: every figure, the empty range, the default
/// range, the refusals, and who may.
async fn figures_known_by_construction(db: &TestDb) {
    let (api, [boss, agent, qa]) = api_with(db, vec![follow_up(), call_backs()]).await;
    let store = api.store().clone();
    let from = midnight(2026, 3, 1);
    let to = midnight(2026, 3, 11); // the end of the 10th
    let mid = midnight(2026, 3, 5) + 10 * HOUR;
    let mut n = 0;

    // 10 attempts of follow-up in the range, to 4 contacts (4 + 3 + 2 + 1),
    // 4 answered; the first at the range's first instant, the last begun
    // a millisecond before its end (and answered after it: counted by its
    // start).
    let seeded = [
        (1, from, Some("answered")),
        (1, mid, Some("busy")),
        (1, mid + HOUR, Some("no_answer")),
        (1, mid + 2 * HOUR, Some("answered")),
        (2, mid, Some("busy")),
        (2, mid + DAY, Some("network_error")),
        (2, mid + 2 * DAY, Some("answered")),
        (3, mid, Some("no_answer")),
        (3, mid + HOUR, None),
        (4, to - 1, Some("answered")),
    ];
    for (contact, at, outcome) in seeded {
        attempt(&store, &mut n, "follow-up", contact, at, outcome).await;
    }
    // Outside: begun a millisecond before the range (answered inside it),
    // at the instant the range ends, and days away; another campaign's
    // attempt and an inbound call inside.
    attempt(&store, &mut n, "follow-up", 5, from - 1, Some("answered")).await;
    attempt(&store, &mut n, "follow-up", 5, to, Some("answered")).await;
    attempt(&store, &mut n, "follow-up", 6, from - 3 * DAY, Some("busy")).await;
    attempt(&store, &mut n, "call-backs", 7, mid, Some("answered")).await;
    attempt(&store, &mut n, "call-backs", 7, mid + HOUR, Some("busy")).await;
    store
        .apply(&RecordOp::Arrived {
            call_id: "in0001".into(),
            sip_call_id: "sip-in0001".into(),
            from_number: "13900000001".into(),
            to_number: "4008001234".into(),
            service_number: "4008001234".into(),
            arrived_at: mid,
        })
        .await
        .unwrap();

    // Tickets: 5 completions in the range, 3 of them followed up since;
    // follow-up scores in the range 1, 2, 3 and 5 (4 given at the range's
    // end, outside).
    let customer: i64 = sqlx::query_scalar(
        "INSERT INTO customers (name, created_at) VALUES ('王芳', 0) RETURNING id",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    let t = |stage, at, score| (stage, at, score);
    let c = |at| t("completed", at, None);
    // Completed at the first instant, followed up the next day (5).
    ticket(
        &store,
        customer,
        "2603010001",
        &[
            t("accepted", from - 2 * DAY, None),
            c(from),
            t("followed_up", from + DAY, Some(5)),
            t("closed", from + DAY, None),
        ],
    )
    .await;
    // Completed, followed up (2), reopened, completed again: the second
    // completion is not followed up yet.
    ticket(
        &store,
        customer,
        "2603010002",
        &[
            t("accepted", mid - DAY, None),
            c(mid),
            t("followed_up", mid + HOUR, Some(2)),
            t("reopened", mid + HOUR, None),
            c(mid + 2 * DAY),
        ],
    )
    .await;
    // Completed at the last instant; followed up (4) at the range's end.
    ticket(
        &store,
        customer,
        "2603010003",
        &[
            t("accepted", mid, None),
            c(to - 1),
            t("followed_up", to, Some(4)),
            t("closed", to, None),
        ],
    )
    .await;
    // Completed just before the range; followed up (3) inside it.
    ticket(
        &store,
        customer,
        "2603010004",
        &[
            t("accepted", from - DAY, None),
            c(from - 1),
            t("followed_up", from + HOUR, Some(3)),
            t("closed", from + HOUR, None),
        ],
    )
    .await;
    // Completed at the range's end: outside.
    ticket(
        &store,
        customer,
        "2603010005",
        &[t("accepted", mid, None), c(to)],
    )
    .await;
    // Completed inside, never followed up.
    ticket(
        &store,
        customer,
        "2603010006",
        &[t("accepted", mid, None), c(mid + HOUR)],
    )
    .await;
    // Completed long before; followed up (1) at the last instant.
    ticket(
        &store,
        customer,
        "2603010007",
        &[
            t("accepted", from - 9 * DAY, None),
            c(from - 8 * DAY),
            t("followed_up", to - 1, Some(1)),
            t("reopened", to - 1, None),
        ],
    )
    .await;

    let (status, f) = api
        .get(
            "/api/campaigns/follow-up/figures?from=2026-03-01&to=2026-03-10",
            &boss,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert_eq!(
        f,
        json!({
            "campaign": "follow-up",
            "from": "2026-03-01",
            "to": "2026-03-10",
            "from_ms": from,
            "to_ms": to,
            "attempts": 10,
            "answered": 4,
            "answer_rate": 0.4,
            "contacts_dialled": 4,
            "attempts_per_contact": 2.5,
            "survey": {
                "tickets_completed": 5,
                "followed_up": 3,
                "coverage": 0.6,
                "scores": { "1": 1, "2": 1, "3": 1, "4": 0, "5": 1 },
                "scored": 4,
                "satisfied_from": 3,
                "satisfied": 2,
                "satisfaction_rate": 0.5,
            },
        })
    );

    // One day: the last, with the attempt begun a millisecond before its
    // end, the completion at its last instant and the score 1.
    let (_, f) = api
        .get(
            "/api/campaigns/follow-up/figures?from=2026-03-10&to=2026-03-10",
            &boss,
        )
        .await;
    assert_eq!(
        (
            &f["attempts"],
            &f["answered"],
            &f["contacts_dialled"],
            &f["answer_rate"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(1.0)),
        "{f}"
    );
    assert_eq!(f["survey"]["tickets_completed"], 1, "{f}");
    assert_eq!(
        f["survey"]["scores"],
        json!({ "1": 1, "2": 0, "3": 0, "4": 0, "5": 0 })
    );

    // A campaign of another kind: its own attempts, no survey figures.
    let (_, f) = api
        .get(
            "/api/campaigns/call-backs/figures?from=2026-03-01&to=2026-03-10",
            &boss,
        )
        .await;
    assert_eq!(
        (
            &f["attempts"],
            &f["answered"],
            &f["answer_rate"],
            &f["contacts_dialled"],
            &f["attempts_per_contact"],
            &f["survey"]
        ),
        (
            &json!(2),
            &json!(1),
            &json!(0.5),
            &json!(1),
            &json!(2.0),
            &Value::Null
        ),
        "{f}"
    );

    // An empty range: zeros, and no rate where nothing divides.
    let (status, f) = api
        .get(
            "/api/campaigns/follow-up/figures?from=2026-04-01&to=2026-04-01",
            &boss,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert_eq!(
        (
            &f["attempts"],
            &f["answer_rate"],
            &f["contacts_dialled"],
            &f["attempts_per_contact"]
        ),
        (&json!(0), &Value::Null, &json!(0), &Value::Null),
        "{f}"
    );
    assert_eq!(
        f["survey"],
        json!({
            "tickets_completed": 0, "followed_up": 0, "coverage": null,
            "scores": { "1": 0, "2": 0, "3": 0, "4": 0, "5": 0 }, "scored": 0,
            "satisfied_from": 3, "satisfied": 0, "satisfaction_rate": null,
        })
    );

    // Without dates: the last 30 days up to today (China time).
    let (status, f) = api.get("/api/campaigns/follow-up/figures", &boss).await;
    assert_eq!(status, StatusCode::OK, "{f}");
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .date();
    let first = today.checked_sub(jiff::Span::new().days(29)).unwrap();
    assert_eq!(
        (f["from"].as_str(), f["to"].as_str()),
        (
            Some(first.to_string().as_str()),
            Some(today.to_string().as_str())
        ),
        "{f}"
    );
    // Only `to`: the 30 days up to it, with the two attempts before the
    // 1st.
    let (_, f) = api
        .get("/api/campaigns/follow-up/figures?to=2026-03-10", &boss)
        .await;
    assert_eq!(
        (&f["from"], &f["attempts"]),
        (&json!("2026-02-09"), &json!(12)),
        "{f}"
    );

    // 366 days are counted (every attempt of follow-up); 367 are not, nor `to` before `from`, nor
    // what is not a date.
    let (status, f) = api
        .get(
            "/api/campaigns/follow-up/figures?from=2025-03-11&to=2026-03-11",
            &boss,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert_eq!(f["attempts"], 13, "{f}");
    for (query, bad) in [
        ("from=2025-03-10&to=2026-03-11", vec!["to"]),
        ("from=2026-03-10&to=2026-03-01", vec!["to"]),
        ("from=2026-02-30", vec!["from"]),
        ("from=yesterday&to=3/10/2026", vec!["from", "to"]),
        ("from=2000-01-01", vec!["from"]),
    ] {
        let (status, body) = api
            .get(&format!("/api/campaigns/follow-up/figures?{query}"), &boss)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(fields(&body), bad, "{query}: {body}");
        assert_plain(&body);
    }
    let (status, _) = api.get("/api/campaigns/nope/figures", &boss).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for who in [&agent, &qa] {
        let (status, _) = api.get("/api/campaigns/follow-up/figures", who).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

on_both_backends!(the_run_switch, figures_known_by_construction);
