//! The managers' reports on SQLite and PostgreSQL, against the data set of
//! tests/common/report_data.rs whose answers are known by construction:
//! every report's figures exactly (service level 80.0% for the hour of
//! 100 calls with 80 answered within 20 s, a call spanning midnight, a
//! transfer, callbacks, outbound survey calls, a repeat caller inside and
//! outside the FCR window, agents' states, tickets at two outlets of
//! different tiers, complaints in categories), the API's 400s and role
//! refusals, the CSV export; and that the hourly and daily rollups give
//! exactly what counting the records gives, as time passes, after late
//! records of every kind arrive, and when the terms change.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::api::{TestApi, fields};
use common::db::TestDb;
use common::report_data::{Call, DAY, TIME_ZONE, at, date, seed, state_change};
use hotline::api::reports::{MAX_WAITING_REPORTS, ReportGate};
use hotline::records::{HangupSide, RecordOp};
use hotline::store::Role;
use hotline::store::reports::{ReportTerms, Span, local_days, local_hours};
use hotline::store::ticket_reports::TicketFigures;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tower::ServiceExt;

fn terms(service_level_ms: i64) -> ReportTerms {
    ReportTerms {
        time_zone: jiff::tz::TimeZone::get(TIME_ZONE).unwrap(),
        service_level_ms,
        fcr_days: 7,
    }
}

/// The local days from DAY + `first` to DAY + `last`.
fn days(first: i64, last: i64) -> Vec<Span> {
    local_days(
        &jiff::tz::TimeZone::get(TIME_ZONE).unwrap(),
        date(first).parse().unwrap(),
        date(last).parse().unwrap(),
    )
    .unwrap()
}

fn hours(first: i64, last: i64) -> Vec<Span> {
    days(first, last)
        .into_iter()
        .flat_map(local_hours)
        .collect()
}

/// The report's rows, and its total, as the API gives them.
async fn table(api: &TestApi, token: &str, uri: &str) -> (Vec<Value>, Value) {
    let (status, body) = api.get(uri, token).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    (
        body["rows"].as_array().unwrap().clone(),
        body["total"].clone(),
    )
}

/// The row whose `bucket` is `label`.
fn bucket<'a>(rows: &'a [Value], label: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["bucket"] == label)
        .unwrap_or_else(|| panic!("no row {label} in {rows:?}"))
}

async fn every_report_counts_what_was_constructed(db: &TestDb) {
    let s = seed(&db.store).await;
    let mut api = TestApi::new(db);
    api.state = api
        .state
        .with_queues(["repair", "install", "general"].map(String::from));
    let token = api.sign_in_as(Role::Supervisor, None).await;
    let d = DAY;
    let d1 = date(1);
    let d2 = date(2);

    // ----- Service level by hour: the hour of 100 queued calls of which 80
    // were answered within 20 s is at 80.0%.
    let uri = format!("/api/reports/service-level?from={d}&to={d}&by=hour");
    let (rows, total) = table(&api, &token, &uri).await;
    assert_eq!(rows.len(), 24, "one row per hour of the day");
    assert_eq!(
        bucket(&rows, &format!("{d} 10:00")),
        &json!({"bucket": format!("{d} 10:00"), "offered": 100, "answered": 92,
            "answered_in_time": 80, "callbacks": 0, "waiting": 0, "service_level": 80.0,
            "asa_secs": 14.8, "longest_wait_secs": 30.0})
    );
    // Callbacks and the caller still waiting are left out: 2 ÷ (7 − 1 − 2).
    assert_eq!(
        bucket(&rows, &format!("{d} 11:00")),
        &json!({"bucket": format!("{d} 11:00"), "offered": 7, "answered": 2,
            "answered_in_time": 2, "callbacks": 2, "waiting": 1, "service_level": 50.0,
            "asa_secs": 10.0, "longest_wait_secs": 10.0})
    );
    // The call that arrived at 23:59:50 and was answered after midnight
    // counts in the hour it arrived.
    assert_eq!(
        bucket(&rows, &format!("{d} 23:00")),
        &json!({"bucket": format!("{d} 23:00"), "offered": 1, "answered": 1,
            "answered_in_time": 1, "callbacks": 0, "waiting": 0, "service_level": 100.0,
            "asa_secs": 13.0, "longest_wait_secs": 13.0})
    );
    // The survey's outbound calls are in no inbound figure.
    assert_eq!(
        bucket(&rows, &format!("{d} 14:00")),
        &json!({"bucket": format!("{d} 14:00"), "offered": 0, "answered": 0,
            "answered_in_time": 0, "callbacks": 0, "waiting": 0, "service_level": null,
            "asa_secs": null, "longest_wait_secs": null})
    );
    assert_eq!(
        total,
        json!({"bucket": "total", "offered": 112, "answered": 99, "answered_in_time": 87,
            "callbacks": 2, "waiting": 1, "service_level": 79.8, "asa_secs": 14.3,
            "longest_wait_secs": 30.0})
    );
    // One queue only.
    let (rows, _) = table(
        &api,
        &token,
        &format!("/api/reports/service-level?from={d}&to={d}&by=hour&queue=install"),
    )
    .await;
    assert_eq!(bucket(&rows, &format!("{d} 10:00"))["offered"], 0);
    assert_eq!(bucket(&rows, &format!("{d} 11:00"))["offered"], 7);

    // ----- Calls by day: the midnight call on the day it arrived.
    let (rows, total) = table(
        &api,
        &token,
        &format!("/api/reports/calls?from={d}&to={d1}&by=day"),
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!({"bucket": d, "inbound": 113, "offered": 112, "answered": 99,
                "abandoned": 8, "callbacks": 2, "outbound": 4, "outbound_answered": 3}),
            json!({"bucket": d1, "inbound": 2, "offered": 1, "answered": 1,
                "abandoned": 0, "callbacks": 0, "outbound": 0, "outbound_answered": 0}),
        ]
    );
    assert_eq!(
        total,
        json!({"bucket": "total", "inbound": 115, "offered": 113, "answered": 100,
            "abandoned": 8, "callbacks": 2, "outbound": 4, "outbound_answered": 3})
    );

    // ----- Abandonment: 8 of the 100, after 45.0 s on average; callbacks
    // and calls the queue let go are not abandoned.
    let (rows, _) = table(
        &api,
        &token,
        &format!("/api/reports/abandonment?from={d}&to={d}&by=hour"),
    )
    .await;
    assert_eq!(
        bucket(&rows, &format!("{d} 10:00")),
        &json!({"bucket": format!("{d} 10:00"), "offered": 100, "abandoned": 8,
            "abandon_rate": 8.0, "avg_abandon_secs": 45.0, "callbacks": 0, "left_queue": 0,
            "waiting": 0})
    );
    assert_eq!(
        bucket(&rows, &format!("{d} 11:00")),
        &json!({"bucket": format!("{d} 11:00"), "offered": 7, "abandoned": 0,
            "abandon_rate": 0.0, "avg_abandon_secs": null, "callbacks": 2, "left_queue": 2,
            "waiting": 1})
    );
    let (rows, _) = table(
        &api,
        &token,
        &format!("/api/reports/abandonment?from={d}&to={d}"),
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!({"bucket": d, "offered": 112, "abandoned": 8, "abandon_rate": 7.2,
            "avg_abandon_secs": 45.0, "callbacks": 2, "left_queue": 2, "waiting": 1})
        ]
    );

    // ----- Handle time: talk + hold + wrap-up; the transferred call once.
    let (rows, total) = table(
        &api,
        &token,
        &format!("/api/reports/handle-time?from={d}&to={d}&by=hour"),
    )
    .await;
    assert_eq!(
        bucket(&rows, &format!("{d} 10:00")),
        &json!({"bucket": format!("{d} 10:00"), "handled": 92, "avg_talk_secs": 100.0,
            "avg_hold_secs": 10.0, "avg_wrap_up_secs": 20.0, "aht_secs": 130.0,
            "transferred": 1})
    );
    // 99 calls: talk 10,025 s, hold 920 s, wrap-up 1,935 s.
    assert_eq!(
        total,
        json!({"bucket": "total", "handled": 99, "avg_talk_secs": 101.3, "avg_hold_secs": 9.3,
            "avg_wrap_up_secs": 19.5, "aht_secs": 130.1, "transferred": 1})
    );

    // ----- First-call resolution: P1 (called again from the customer's
    // other number) and P4 repeated; P3 called again outside the window;
    // the withheld caller is not asked.
    let (rows, total) = table(
        &api,
        &token,
        &format!("/api/reports/fcr?from={d}&to={d}&by=hour"),
    )
    .await;
    assert_eq!(
        bucket(&rows, &format!("{d} 15:00")),
        &json!({"bucket": format!("{d} 15:00"), "fcr_calls": 3, "decided": 3, "repeated": 2,
            "resolved": 1, "pending": 0, "fcr_rate": 33.3})
    );
    assert_eq!(
        total,
        json!({"bucket": "total", "fcr_calls": 98, "decided": 98, "repeated": 2,
            "resolved": 96, "pending": 0, "fcr_rate": 98.0})
    );

    // ----- Calls per agent and their time by state on the day.
    let (rows, total) = table(
        &api,
        &token,
        &format!("/api/reports/agents?from={d}&to={d}"),
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!({"agent_id": s.agent_a, "agent": "Agent A", "inbound": 50, "outbound": 0,
                "handled": 50, "aht_secs": 124.6, "logged_in_secs": 10800.0,
                "calls_per_hour": 16.67}),
            json!({"agent_id": s.agent_b, "agent": "Agent B", "inbound": 49, "outbound": 0,
                "handled": 49, "aht_secs": 135.7, "logged_in_secs": 7200.0,
                "calls_per_hour": 24.5}),
            json!({"agent_id": s.agent_c, "agent": "Agent C", "inbound": 0, "outbound": 0,
                "handled": 0, "aht_secs": null, "logged_in_secs": 3600.0,
                "calls_per_hour": 0.0}),
        ]
    );
    assert_eq!(
        total,
        json!({"agent_id": null, "agent": "total", "inbound": 99, "outbound": 0,
            "handled": 99, "aht_secs": 130.1, "logged_in_secs": 21600.0,
            "calls_per_hour": 16.5})
    );
    let (rows, _) = table(
        &api,
        &token,
        &format!("/api/reports/agent-states?from={d}&to={d}"),
    )
    .await;
    // A's two changes in one millisecond end in logged_out (the engine's
    // order), so no wrap-up time runs on to midnight.
    assert_eq!(
        rows,
        vec![
            json!({"agent_id": s.agent_a, "agent": "Agent A", "state": "not_ready",
                "reason": "break", "secs": 900.0, "share": 8.3}),
            json!({"agent_id": s.agent_a, "agent": "Agent A", "state": "ready", "reason": "",
                "secs": 9900.0, "share": 91.7}),
            json!({"agent_id": s.agent_b, "agent": "Agent B", "state": "not_ready",
                "reason": "meal", "secs": 3600.0, "share": 50.0}),
            json!({"agent_id": s.agent_b, "agent": "Agent B", "state": "ready", "reason": "",
                "secs": 3600.0, "share": 50.0}),
            json!({"agent_id": s.agent_c, "agent": "Agent C", "state": "ready", "reason": "",
                "secs": 3600.0, "share": 100.0}),
        ]
    );
    // C stays ready past midnight: the next day is theirs too.
    let (rows, _) = table(
        &api,
        &token,
        &format!("/api/reports/agent-states?from={d}&to={d1}"),
    )
    .await;
    assert_eq!(rows.last().unwrap()["secs"], json!(90000.0), "{rows:?}");

    // ----- Satisfaction and follow-up coverage.
    let (rows, total) = table(
        &api,
        &token,
        &format!("/api/reports/satisfaction?from={d}&to={d2}"),
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!({"bucket": d, "completed": 3, "followed_up": 2, "coverage": 66.7,
                "scored": 1, "satisfied": 0, "satisfaction_rate": 0.0, "score_1": 0,
                "score_2": 1, "score_3": 0, "score_4": 0, "score_5": 0}),
            json!({"bucket": d1, "completed": 1, "followed_up": 0, "coverage": 0.0,
                "scored": 1, "satisfied": 1, "satisfaction_rate": 100.0, "score_1": 0,
                "score_2": 0, "score_3": 0, "score_4": 0, "score_5": 1}),
            json!({"bucket": d2, "completed": 1, "followed_up": 0, "coverage": 0.0,
                "scored": 0, "satisfied": 0, "satisfaction_rate": null, "score_1": 0,
                "score_2": 0, "score_3": 0, "score_4": 0, "score_5": 0}),
        ]
    );
    assert_eq!(
        (&total["coverage"], &total["satisfaction_rate"]),
        (&json!(40.0), &json!(50.0))
    );

    // ----- Ticket stage times and SLA compliance.
    let (rows, total) = table(
        &api,
        &token,
        &format!("/api/reports/stages?from={d}&to={d2}"),
    )
    .await;
    assert_eq!(total, Value::Null);
    assert_eq!(
        rows,
        vec![
            json!({"from_stage": "accepted", "to_stage": "dispatched", "moves": 5,
                "avg_hours": 1.23, "late": 1, "on_time_rate": 80.0}),
            json!({"from_stage": "dispatched", "to_stage": "in_service", "moves": 2,
                "avg_hours": 12.0, "late": null, "on_time_rate": null}),
            json!({"from_stage": "dispatched", "to_stage": "completed", "moves": 3,
                "avg_hours": 13.0, "late": 1, "on_time_rate": 66.7}),
            json!({"from_stage": "in_service", "to_stage": "completed", "moves": 2,
                "avg_hours": 17.0, "late": 0, "on_time_rate": 100.0}),
            json!({"from_stage": "completed", "to_stage": "followed_up", "moves": 2,
                "avg_hours": 10.17, "late": 0, "on_time_rate": 100.0}),
            json!({"from_stage": "followed_up", "to_stage": "closed", "moves": 1,
                "avg_hours": 0.08, "late": 0, "on_time_rate": 100.0}),
            json!({"from_stage": "followed_up", "to_stage": "reopened", "moves": 1,
                "avg_hours": 21.0, "late": null, "on_time_rate": null}),
        ]
    );

    // ----- The outlet ranking and the tiers.
    let (rows, _) = table(
        &api,
        &token,
        &format!("/api/reports/outlets?from={d}&to={d2}"),
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!({"rank": 1, "outlet": "WZ-TAISHUN", "outlet_name": "泰顺服务站",
                "tier": "town", "dispatched": 2, "completed": 2, "avg_arrival_hours": 20.0,
                "avg_repair_hours": 28.0, "avg_completion_hours": 26.0, "late": 0,
                "on_time_rate": 100.0}),
            json!({"rank": 2, "outlet": "WZ-LUCHENG", "outlet_name": "鹿城服务站", "tier": "city",
                "dispatched": 3, "completed": 3, "avg_arrival_hours": 4.0,
                "avg_repair_hours": 6.0, "avg_completion_hours": 15.0, "late": 1,
                "on_time_rate": 66.7}),
        ]
    );
    let (rows, total) = table(
        &api,
        &token,
        &format!("/api/reports/tiers?from={d}&to={d2}"),
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!({"tier": "city", "outlets": 1, "dispatched": 3, "completed": 3,
                "avg_completion_hours": 15.0, "late": 1, "on_time_rate": 66.7}),
            json!({"tier": "town", "outlets": 1, "dispatched": 2, "completed": 2,
                "avg_completion_hours": 26.0, "late": 0, "on_time_rate": 100.0}),
        ]
    );
    assert_eq!(
        total,
        json!({"tier": "total", "outlets": 2, "dispatched": 5, "completed": 5,
            "avg_completion_hours": 19.4, "late": 1, "on_time_rate": 80.0})
    );
    // Only the first day: T2 and T3 are not completed yet; both outlets
    // finished on time, and Y quicker (4 h against 7.5 h).
    let (rows, _) = table(
        &api,
        &token,
        &format!("/api/reports/outlets?from={d}&to={d}"),
    )
    .await;
    let ranks: Vec<(&Value, &Value, &Value, &Value)> = rows
        .iter()
        .map(|r| {
            (
                &r["outlet"],
                &r["completed"],
                &r["dispatched"],
                &r["avg_completion_hours"],
            )
        })
        .collect();
    assert_eq!(
        ranks,
        vec![
            (&json!("WZ-TAISHUN"), &json!(1), &json!(2), &json!(4.0)),
            (&json!("WZ-LUCHENG"), &json!(2), &json!(3), &json!(7.5)),
        ]
    );

    // ----- Complaints by category.
    let (rows, total) = table(
        &api,
        &token,
        &format!("/api/reports/complaints?from={d}&to={d2}"),
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!({"source": "accepted", "category": "收费争议", "team": "billing",
                "complaints": 1, "share": 33.3, "rate": 14.3}),
            json!({"source": "accepted", "category": "服务态度", "team": "service-quality",
                "complaints": 1, "share": 33.3, "rate": 14.3}),
            json!({"source": "reopened", "category": "漏水", "team": "",
                "complaints": 1, "share": 33.3, "rate": 14.3}),
        ]
    );
    assert_eq!(
        total,
        json!({"source": "total", "category": "", "team": "", "complaints": 3,
            "share": 100.0, "rate": 42.9})
    );

    // ----- A second read comes from the rollups and says the same.
    let again = table(
        &api,
        &token,
        &format!("/api/reports/service-level?from={d}&to={d}&by=hour"),
    )
    .await;
    assert_eq!(
        bucket(&again.0, &format!("{d} 10:00"))["service_level"],
        80.0
    );
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM report_hours WHERE queue = ''")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert!(kept >= 24, "the day's closed hours are kept: {kept}");
}

/// `uri` as `token`, with `accept`: status, content type, disposition and
/// the body as text.
async fn raw(
    api: &TestApi,
    uri: &str,
    token: &str,
    accept: Option<&str>,
) -> (StatusCode, String, String, String) {
    let mut req = Request::builder()
        .uri(uri)
        .header("authorization", format!("Bearer {token}"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let response = hotline::api::app(api.state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (status, kind, disposition) = (
        response.status(),
        header("content-type"),
        header("content-disposition"),
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        kind,
        disposition,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

async fn csv_bad_input_and_who_may(db: &TestDb) {
    let s = seed(&db.store).await;
    let mut api = TestApi::new(db);
    api.state = api
        .state
        .with_queues(["repair", "install"].map(String::from));
    let admin = api.sign_in_as(Role::Admin, None).await;
    let d = DAY;

    // ----- CSV: a header row of the keys, the rows, the total.
    let uri = format!("/api/reports/service-level?from={d}&to={d}&by=hour&format=csv");
    let (status, kind, disposition, body) = raw(&api, &uri, &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(kind, "text/csv; charset=utf-8");
    assert_eq!(
        disposition,
        format!("attachment; filename=\"hotline-service-level-{d}-to-{d}-by-hour.csv\"")
    );
    let text = body
        .strip_prefix('\u{feff}')
        .expect("a byte order mark for spreadsheets");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 26, "header, 24 hours, total");
    assert_eq!(
        lines[0],
        "bucket,offered,answered,answered_in_time,callbacks,waiting,service_level,asa_secs,longest_wait_secs"
    );
    assert_eq!(lines[11], format!("{d} 10:00,100,92,80,0,0,80.0,14.8,30.0"));
    assert_eq!(lines[15], format!("{d} 14:00,0,0,0,0,0,,,"));
    assert_eq!(lines[25], "total,112,99,87,2,1,79.8,14.3,30.0");
    // The same through Accept; Chinese text intact; a report over the
    // range has no grouping in its name.
    let uri = format!("/api/reports/complaints?from={d}&to={}", date(2));
    let (status, kind, disposition, body) = raw(&api, &uri, &admin, Some("text/csv")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/csv"), "{kind}");
    assert_eq!(
        disposition,
        format!(
            "attachment; filename=\"hotline-complaints-{d}-to-{}.csv\"",
            date(2)
        )
    );
    assert!(
        body.contains("accepted,收费争议,billing,1,33.3,14.3"),
        "{body}"
    );
    let (_, kind, _, _) = raw(
        &api,
        &format!("/api/reports/calls?from={d}&to={d}"),
        &admin,
        None,
    )
    .await;
    assert!(kind.starts_with("application/json"), "{kind}");

    // ----- Bad input: 400 naming the field and saying why.
    for (uri, field, says) in [
        (
            "/api/reports/service-level?from=2025-02-30&to=2025-03-01",
            "from",
            "not a date",
        ),
        (
            "/api/reports/service-level?from=yesterday",
            "from",
            "YYYY-MM-DD",
        ),
        (
            "/api/reports/service-level?from=2025-03-10&to=2025-03-09",
            "to",
            "before `from`",
        ),
        ("/api/reports/service-level?by=week", "by", "day or hour"),
        (
            "/api/reports/service-level?format=xml",
            "format",
            "json or csv",
        ),
        (
            "/api/reports/service-level?queue=nope",
            "queue",
            "no queue `nope`",
        ),
        ("/api/reports/wallpaper", "name", "no report `wallpaper`"),
        (
            "/api/reports/service-level?from=2025-01-01&to=2025-02-01&by=hour",
            "to",
            "is 32 days: by hour a report covers at most 31 days",
        ),
        (
            "/api/reports/calls?from=2023-01-01&to=2025-01-02",
            "to",
            "is 733 days: by day a report covers at most 731 days",
        ),
        (
            "/api/reports/outlets?from=2023-01-01&to=2025-01-02",
            "to",
            "at most 731 days",
        ),
    ] {
        let (status, body) = api.get(uri, &admin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(fields(&body), [field], "{uri}: {body}");
        let message = body["fields"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{uri}: {message}");
    }
    // 31 days by hour is fine (744 rows).
    let (status, body) = api
        .get(
            "/api/reports/calls?from=2025-03-01&to=2025-03-31&by=hour",
            &admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["rows"].as_array().unwrap().len(), 744);

    // ----- Who may: admins and supervisors; not agents, QA or outlets.
    let supervisor = api.sign_in_as(Role::Supervisor, None).await;
    let agent = api.sign_in_as(Role::Agent, None).await;
    let qa = api.sign_in_as(Role::Qa, None).await;
    let outlet = api.sign_in_as(Role::Outlet, Some(s.outlet_x)).await;
    for uri in [
        "/api/reports",
        "/api/reports/calls?from=2025-03-10&to=2025-03-10",
    ] {
        for token in [&admin, &supervisor] {
            assert_eq!(api.get(uri, token).await.0, StatusCode::OK, "{uri}");
        }
        for token in [&agent, &qa, &outlet] {
            assert_eq!(api.get(uri, token).await.0, StatusCode::FORBIDDEN, "{uri}");
        }
        assert_eq!(
            api.call("GET", uri, None, None).await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    // ----- The catalog: every report, its definition and columns, the
    // configured terms filled in.
    let (_, catalog) = api.get("/api/reports", &supervisor).await;
    let names: Vec<&str> = catalog["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "calls",
            "service-level",
            "abandonment",
            "handle-time",
            "fcr",
            "agents",
            "agent-states",
            "satisfaction",
            "stages",
            "outlets",
            "tiers",
            "complaints"
        ]
    );
    let sl = &catalog["reports"][1];
    assert!(
        sl["definition"]["en"]
            .as_str()
            .unwrap()
            .contains("within 20 s of joining the queue"),
        "{sl}"
    );
    assert!(sl["definition"]["zh"].as_str().unwrap().contains("20 秒内"));
    assert_eq!(sl["columns"][3]["title"]["en"], "Answered in 20 s");
    assert_eq!(catalog["terms"]["time_zone"], TIME_ZONE);
    assert_eq!(catalog["queues"], json!(["repair", "install"]));
}

/// Asserts that the rollups and a count of the records agree on every
/// hour and queue and on the agents' days, at `now`.
async fn agree(db: &TestDb, terms: &ReportTerms, now: i64, what: &str) {
    let spans = hours(-1, 10);
    for queue in [None, Some("repair"), Some("install"), Some("")] {
        let kept = db
            .store
            .call_figures(&spans, queue, terms, now)
            .await
            .unwrap();
        let counted = db
            .store
            .call_figures_live(&spans, queue, terms, now)
            .await
            .unwrap();
        for ((span, k), c) in spans.iter().zip(&kept).zip(&counted) {
            assert_eq!(k, c, "{what}: hour from {} of queue {queue:?}", span.start);
        }
    }
    let agent_days = days(-1, 10);
    assert_eq!(
        db.store
            .agent_figures(&agent_days, terms, now)
            .await
            .unwrap(),
        db.store.agent_figures_live(&agent_days, now).await.unwrap(),
        "{what}: agents"
    );
}

/// The figures of DAY's hour `h` (all queues) through the rollups.
async fn hour_figures(
    db: &TestDb,
    terms: &ReportTerms,
    h: i64,
    now: i64,
) -> hotline::store::reports::CallFigures {
    let span = Span {
        start: at(0, h, 0, 0),
        end: at(0, h + 1, 0, 0),
    };
    db.store
        .call_figures(&[span], None, terms, now)
        .await
        .unwrap()[0]
}

async fn kept_hours(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM report_hours WHERE queue = ''")
        .fetch_one(db.store.pool())
        .await
        .unwrap()
}

async fn rollups_equal_counting_the_records(db: &TestDb) {
    let s = seed(&db.store).await;
    let t = terms(20_000);

    // ----- As time passes: just after midnight (the next day open, every
    // FCR pending), a week later in the middle of the 15:00 hour's windows
    // (P1 and P3 decided, P4 pending: that hour counted live), a month
    // later (everything settled).
    let just_after = at(1, 0, 5, 0);
    agree(db, &t, just_after, "just after midnight").await;
    assert_eq!(
        kept_hours(db).await,
        48,
        "the day before and the day, closed"
    );
    let f = hour_figures(db, &t, 15, just_after).await;
    assert_eq!((f.fcr_calls, f.fcr_pending, f.fcr_repeated), (3, 3, 0));

    let mid_window = at(7, 15, 7, 0);
    agree(db, &t, mid_window, "a week later").await;
    let f = hour_figures(db, &t, 15, mid_window).await;
    assert_eq!((f.fcr_calls, f.fcr_pending, f.fcr_repeated), (3, 1, 1));
    let f = hour_figures(db, &t, 23, mid_window).await;
    assert_eq!((f.fcr_calls, f.fcr_pending), (1, 1));

    let later = at(30, 0, 0, 0);
    agree(db, &t, later, "a month later").await;
    let f = hour_figures(db, &t, 15, later).await;
    assert_eq!((f.fcr_pending, f.fcr_repeated), (0, 2));
    let settled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM report_hours WHERE queue = '' AND fcr_repeated IS NOT NULL",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert!(settled >= 24 * 3, "FCR settled and kept: {settled}");

    // ----- Late records. Each changes a kept figure; the rollups follow.
    // A call of 10:00 written late (a retry after an outage), abandoned.
    let arrived = at(0, 10, 59, 0);
    let late = Call::arrive("late-1", "13800109999", arrived)
        .queue("repair", arrived + 5_000)
        .end(arrived + 25_000, HangupSide::Caller);
    db.store.apply_batch(&late.ops).await.unwrap();
    let f = hour_figures(db, &t, 10, later).await;
    assert_eq!((f.offered, f.abandoned), (101, 9));
    agree(db, &t, later, "a late call").await;

    // Its queue-left event arrives after it: it left the queue instead.
    db.store
        .apply(&RecordOp::Event {
            call_id: "late-1".into(),
            seq: 1,
            at: arrived + 20_000,
            kind: "queue-left".into(),
            detail: "queue overflow (Message)".into(),
        })
        .await
        .unwrap();
    let f = hour_figures(db, &t, 10, later).await;
    assert_eq!((f.abandoned, f.left_queue), (8, 1));
    agree(db, &t, later, "a late event").await;

    // The caller still waiting at 11:00 is answered at last (late).
    let waited = at(0, 11, 4, 5);
    let answered = Call::existing("h11-wait")
        .answer(s.agent_a, waited + 400_000, 400_000)
        .handled(60_000, 0, 0)
        .end(waited + 460_000, HangupSide::Caller)
        .wrap_up(s.agent_a, 10_000);
    db.store.apply_batch(&answered.ops).await.unwrap();
    let f = hour_figures(db, &t, 11, later).await;
    assert_eq!(
        (f.waiting, f.answered, f.answered_in_time, f.handled),
        (0, 3, 2, 3)
    );
    agree(db, &t, later, "a late answer").await;

    // A repeat call written late for a caller of 10:00: their hour's
    // settled FCR is counted again.
    let again = Call::arrive("late-again", "13800100002", at(2, 9, 0, 0))
        .end(at(2, 9, 1, 0), HangupSide::Caller);
    db.store.apply_batch(&again.ops).await.unwrap();
    let f = hour_figures(db, &t, 10, later).await;
    assert_eq!(f.fcr_repeated, 1);
    agree(db, &t, later, "a late repeat call").await;

    // P3 turns out to be the customer's number too: P2's call 3 days
    // later makes P3's call a repeat.
    sqlx::query("INSERT INTO customer_phones (customer_id, phone) VALUES ($1, '13700000003')")
        .bind(s.customer)
        .execute(db.store.pool())
        .await
        .unwrap();
    let f = hour_figures(db, &t, 15, later).await;
    assert_eq!(f.fcr_repeated, 3);
    agree(db, &t, later, "a number joins a customer").await;
    // ... and leaves again.
    sqlx::query("DELETE FROM customer_phones WHERE phone = '13700000003'")
        .execute(db.store.pool())
        .await
        .unwrap();
    assert_eq!(hour_figures(db, &t, 15, later).await.fcr_repeated, 2);
    agree(db, &t, later, "a number leaves a customer").await;

    // An agent's state change written late: A went on training at 11:00.
    let day = days(0, 0);
    let before = db.store.agent_figures(&day, &t, later).await.unwrap();
    let a_ready = (s.agent_a, "ready".to_owned(), String::new());
    assert_eq!(before.states[&a_ready], 9_900_000);
    db.store
        .apply(&state_change(
            s.agent_a,
            4,
            "ready",
            "not_ready",
            Some("training"),
            at(0, 11, 0, 0),
        ))
        .await
        .unwrap();
    let after = db.store.agent_figures(&day, &t, later).await.unwrap();
    assert_eq!(after.states[&a_ready], 6_300_000);
    assert_eq!(
        after.states[&(s.agent_a, "not_ready".to_owned(), "training".to_owned())],
        3_600_000
    );
    agree(db, &t, later, "a late state change").await;

    // A late wrap-up moves the agent's handle time.
    let a_calls = after.calls[&s.agent_a];
    db.store
        .apply(&RecordOp::WrapUp {
            call_id: "h10-000".into(),
            agent_id: s.agent_a,
            wrap_up_ms: 80_000,
            disposition: None,
            notes: String::new(),
        })
        .await
        .unwrap();
    let now_a = db.store.agent_figures(&day, &t, later).await.unwrap().calls[&s.agent_a];
    assert_eq!(now_a.wrap_up_ms, a_calls.wrap_up_ms + 60_000);
    agree(db, &t, later, "a late wrap-up").await;

    // ----- Other terms: every kept row is counted again with them.
    let ten = terms(10_000);
    let f = hour_figures(db, &ten, 10, later).await;
    // Waits of 5 to 10 s: 6 of the 16 values, five calls each.
    assert_eq!(f.answered_in_time, 30);
    agree(db, &ten, later, "a 10 s threshold").await;
    let other_zone = ReportTerms {
        time_zone: jiff::tz::TimeZone::get("Asia/Kolkata").unwrap(),
        ..terms(20_000)
    };
    // Half-hour offsets: the hours are cut elsewhere, and still agree.
    let kolkata = local_days(
        &other_zone.time_zone,
        date(-1).parse().unwrap(),
        date(3).parse().unwrap(),
    )
    .unwrap();
    let spans: Vec<Span> = kolkata.into_iter().flat_map(local_hours).collect();
    assert_eq!(
        db.store
            .call_figures(&spans, None, &other_zone, later)
            .await
            .unwrap(),
        db.store
            .call_figures_live(&spans, None, &other_zone, later)
            .await
            .unwrap()
    );
}

/// The ticket figures of `days` from the kept days equal counting the
/// records, and what was kept.
async fn tickets_agree(db: &TestDb, days: &[Span], now: i64, what: &str) -> TicketFigures {
    let kept = db
        .store
        .ticket_figures(days, &terms(20_000), now)
        .await
        .unwrap();
    let live = db.store.ticket_figures_live(days, now).await.unwrap();
    assert_eq!(kept, live, "{what}");
    let by_day = db
        .store
        .follow_ups_by_day(days, &terms(20_000), now)
        .await
        .unwrap();
    for (day, kept) in days.iter().zip(by_day) {
        let live = db.store.ticket_figures_live(&[*day], now).await.unwrap();
        assert_eq!(kept, live.follow_ups, "{what}: the day at {}", day.start);
    }
    kept
}

async fn kept_ticket_days(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM report_ticket_days")
        .fetch_one(db.store.pool())
        .await
        .unwrap()
}

async fn run(db: &TestDb, sql: &str, ints: &[i64], text: Option<&str>) {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for i in ints {
        q = q.bind(*i);
    }
    if let Some(t) = text {
        q = q.bind(t);
    }
    q.execute(db.store.pool()).await.unwrap();
}

/// The kept ticket days give what counting the stamps gives, after late
/// records of every kind a day's figures read: a follow-up of an earlier
/// completion, an SLA breach found after the move, a complaint's category
/// changed, a ticket accepted in the past.
async fn ticket_rollups_equal_counting_the_records(db: &TestDb) {
    seed(&db.store).await;
    let (range, now) = (days(0, 3), at(5, 0, 0, 0));
    let f = tickets_agree(db, &range, now, "counted and kept").await;
    assert_eq!(kept_ticket_days(db).await, 4);
    assert_eq!(
        (
            f.tickets_accepted,
            f.follow_ups.tickets_completed,
            f.follow_ups.followed_up,
            f.follow_ups.scores
        ),
        (7, 5, 2, [0, 1, 0, 0, 1])
    );
    let (complaints, all) = f.complaints();
    assert_eq!((complaints.len(), all), (3, 3), "{complaints:?}");
    assert_eq!(tickets_agree(db, &range, now, "read back").await, f);

    let id = |number: &'static str| async move {
        sqlx::query_scalar::<_, i64>("SELECT id FROM tickets WHERE number = $1")
            .bind(number)
            .fetch_one(db.store.pool())
            .await
            .unwrap()
    };
    let t1 = id("2503100001").await;
    // Followed up three days after its completion, scored 4.
    run(
        db,
        "INSERT INTO ticket_stamps (ticket_id, seq, stage, at, score) \
         VALUES ($1, 4, 'followed_up', $2, 4)",
        &[t1, at(3, 10, 0, 0)],
        None,
    )
    .await;
    let f = tickets_agree(db, &range, now, "a late follow-up").await;
    assert_eq!(
        (f.follow_ups.followed_up, f.follow_ups.scores[3]),
        (2 + 1, 1)
    );
    // Its completion was due two hours before it came.
    let late = |f: &TicketFigures| f.moves[&("in_service".to_owned(), "completed".to_owned())].late;
    let before = late(&f);
    run(
        db,
        "INSERT INTO ticket_breaches (ticket_id, stage, due_at, detected_at) \
         VALUES ($1, 'completed', $2, $3)",
        &[t1, at(0, 18, 0, 0), at(0, 18, 1, 0)],
        None,
    )
    .await;
    let f = tickets_agree(db, &range, now, "a breach found late").await;
    assert_eq!(late(&f), before + 1);
    // A complaint's subject corrected.
    run(
        db,
        "UPDATE tickets SET category = $1 WHERE number = '2503100004'",
        &[],
        Some("配件"),
    )
    .await;
    let f = tickets_agree(db, &range, now, "a category changed").await;
    assert!(
        f.complaints
            .contains_key(&("accepted".to_owned(), "配件".to_owned())),
        "{:?}",
        f.complaints
    );
    // A ticket accepted on the first day, written now (an import).
    run(
        db,
        "INSERT INTO tickets (number, customer_id, kind, category, stage, created_at, \
         updated_at, accepted_kind) SELECT '2503109999', customer_id, 'complaint', $3, \
         'accepted', $1, $1, 'complaint' FROM tickets WHERE id = $2",
        &[at(0, 16, 0, 0), t1],
        Some("噪音"),
    )
    .await;
    let f = tickets_agree(db, &range, now, "a ticket accepted in the past").await;
    assert_eq!(f.tickets_accepted, 8);
    assert_eq!(kept_ticket_days(db).await, 4, "every day kept again");
}

/// A rollup round counts hour after hour, each in its own transaction;
/// calls' records are written between two hours, not after the round
/// (SQLite's own wait for its write lock is sleep-and-retry, not a queue:
/// without the store's turns the writer slept through the whole round).
async fn records_are_written_during_a_rollup_round(db: &TestDb) {
    seed(&db.store).await;
    let (t, all) = (terms(20_000), hours(-30, 0));
    let store = db.store.clone();
    let round = tokio::spawn(async move {
        let began = Instant::now();
        let done = store.roll_up(&all, &[], &t, at(1, 0, 0, 0)).await.unwrap();
        assert_eq!(done.hours, all.len());
        began.elapsed()
    });
    let (mut slowest, mut written) = (Duration::ZERO, 0);
    while !round.is_finished() {
        let call = Call::arrive(&format!("during-{written}"), "13800100000", at(2, 9, 0, 0));
        let began = Instant::now();
        db.store.apply_batch(&call.ops).await.unwrap();
        slowest = slowest.max(began.elapsed());
        written += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = round.await.unwrap();
    assert!(
        written >= 5,
        "{written} calls written in a round of {took:?}"
    );
    assert!(
        slowest * 5 < took,
        "a call waited {slowest:?} in a round of {took:?}"
    );
}

/// Reports take turns: while one counts, the others wait in line and all
/// answer once it is done; one more than the line holds gets a 503 at
/// once, and the line is empty afterwards.
#[tokio::test]
async fn reports_take_turns_and_a_full_line_is_refused() {
    let db = common::db::sqlite_db().await;
    let mut api = TestApi::new(&db);
    let gate = std::sync::Arc::new(ReportGate::new(1));
    api.state.reports = gate.clone();
    let token = api.sign_in_as(Role::Supervisor, None).await;
    let uri = format!("/api/reports/complaints?from={0}&to={0}", date(0));
    let counting = gate.turn().await.unwrap();
    let line: Vec<_> = (0..MAX_WAITING_REPORTS)
        .map(|_| {
            let (api, token, uri) = (
                TestApi {
                    state: api.state.clone(),
                },
                token.clone(),
                uri.clone(),
            );
            tokio::spawn(async move { api.get(&uri, &token).await.0 })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while gate.waiting() < MAX_WAITING_REPORTS {
        assert!(Instant::now() < deadline, "{} in line", gate.waiting());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, body) = api.get(&uri, &token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.to_string().contains("try again"), "{body}");
    assert!(
        line.iter().all(|t| !t.is_finished()),
        "the line waits its turn"
    );
    drop(counting);
    for waiting in line {
        assert_eq!(waiting.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(gate.waiting(), 0);
}

/// docs/reports.md holds the definitions as the code has them
/// (`HOTLINE_WRITE_DOCS=1` writes them there).
#[test]
fn the_docs_define_what_the_page_defines() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reports.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (start, end) = ("<!-- definitions:start -->\n", "<!-- definitions:end -->");
    let (head, rest) = doc.split_once(start).expect("the start marker");
    let (section, tail) = rest.split_once(end).expect("the end marker");
    let want = hotline::api::reports::definitions_markdown();
    if std::env::var("HOTLINE_WRITE_DOCS").is_ok() {
        std::fs::write(&path, format!("{head}{start}{want}{end}{tail}")).unwrap();
        return;
    }
    assert_eq!(
        section, want,
        "docs/reports.md is behind the code: run with HOTLINE_WRITE_DOCS=1"
    );
}

on_both_backends!(
    every_report_counts_what_was_constructed,
    csv_bad_input_and_who_may,
    rollups_equal_counting_the_records,
    records_are_written_during_a_rollup_round,
    ticket_rollups_equal_counting_the_records,
);
