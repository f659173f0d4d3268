//! Service tickets and outlets through `app(state)`, on SQLite and
//! PostgreSQL: every route's happy path, its validation errors and its role
//! checks, outlet users confined to their own tickets, optimistic versions
//! under concurrent moves, and SLA breaches raised once.

mod common;

use axum::http::StatusCode;
use common::api::{TestApi, fields};
use common::db::TestDb;
use hotline::store::Role;
use hotline::ticket::{Actor, ServiceDesk, Ticket, TicketKind};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The demo world (a customer with products, five outlets), and the API.
async fn world(db: &TestDb) -> (TestApi, i64, Vec<i64>) {
    db.store.seed_demo(now()).await.expect("seed");
    let api = TestApi::new(db);
    let customer = db
        .store
        .customer_by_phone("13800138000")
        .await
        .unwrap()
        .expect("demo customer");
    let products: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM products WHERE customer_id = $1 ORDER BY id")
            .bind(customer.id)
            .fetch_all(db.store.pool())
            .await
            .unwrap();
    (api, customer.id, products)
}

async fn outlet_id(api: &TestApi, token: &str, code: &str) -> i64 {
    let (_, body) = api.get("/api/outlets", token).await;
    body["outlets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["code"] == code)
        .unwrap_or_else(|| panic!("outlet {code}"))["id"]
        .as_i64()
        .unwrap()
}

/// A repair from acceptance to closure, as the agent, the outlet and the
/// follow-up caller each see it.
async fn repair_lifecycle(db: &TestDb) {
    let (api, customer, products) = world(db).await;
    let agent = api.sign_in_as(Role::Agent, None).await;
    let xihu = outlet_id(&api, &agent, "HZ-XIHU").await;
    let gulou = outlet_id(&api, &agent, "NJ-GULOU").await;
    let xihu_staff = api.sign_in_as(Role::Outlet, Some(xihu)).await;
    let gulou_staff = api.sign_in_as(Role::Outlet, Some(gulou)).await;

    let before = now();
    let (status, t) = api
        .post(
            "/api/tickets",
            &agent,
            json!({
                "customer_id": customer, "product_id": products[0], "kind": "repair",
                "category": "不开机", "description": "电视通电后指示灯亮但无图像",
                "call_id": "call-1",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    let number = t["number"].as_str().unwrap().to_owned();
    assert_eq!(number.len(), 10);
    assert_eq!(&number[..6], ServiceDesk::default().number_day(before));
    assert_eq!(t["stage"], "accepted");
    assert_eq!(t["version"], 0);
    assert_eq!(t["team"], Value::Null);
    assert_eq!(t["product_model"], "LED65-E7 65英寸液晶电视");
    assert_eq!(t["due_stage"], "dispatched");
    let created = t["created_at"].as_i64().unwrap();
    assert_eq!(t["due_at"].as_i64().unwrap(), created + 2 * HOUR);
    assert_eq!(t["stamps"][0]["stage"], "accepted");
    assert!(
        t["stamps"][0]["username"]
            .as_str()
            .unwrap()
            .starts_with("agent")
    );

    // The next ticket the same day takes the next number.
    let (_, t2) = api
        .post(
            "/api/tickets",
            &agent,
            json!({ "customer_id": customer, "kind": "consultation", "description": "保修期多久" }),
        )
        .await;
    let n1: u64 = number.parse().unwrap();
    assert_eq!(
        t2["number"].as_str().unwrap().parse::<u64>().unwrap(),
        n1 + 1
    );

    // Dispatch needs an outlet; an unknown outlet is a field error.
    let url = format!("/api/tickets/{number}/transitions");
    let (status, body) = api
        .post(&url, &agent, json!({ "version": 0, "to": "dispatched" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "dispatch needs an outlet");
    let (status, body) = api
        .post(
            &url,
            &agent,
            json!({ "version": 0, "to": "dispatched", "outlet_id": 999_999 }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&body), ["outlet_id"]);
    // Not yet dispatched: the outlets cannot see it.
    assert_eq!(
        api.get(&format!("/api/tickets/{number}"), &xihu_staff)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let (status, t) = api
        .post(
            &url,
            &agent,
            json!({ "version": 0, "to": "dispatched", "outlet_id": xihu }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["stage"], "dispatched");
    assert_eq!(t["version"], 1);
    assert_eq!(t["outlet_code"], "HZ-XIHU");
    assert_eq!(t["due_stage"], "completed");
    let dispatched_at = t["stamps"][1]["at"].as_i64().unwrap();
    assert_eq!(t["stamps"][1]["outlet_tier"], "city");
    assert_eq!(t["due_at"].as_i64().unwrap(), dispatched_at + 24 * HOUR);

    // A stale version is refused with the current one.
    let (status, body) = api
        .post(&url, &agent, json!({ "version": 0, "to": "in_service" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["current_version"], 1);

    // The outlet sees it at once, the other outlet does not.
    let (_, list) = api.get("/api/tickets", &xihu_staff).await;
    assert!(
        list["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["number"] == number.as_str())
    );
    let (_, list) = api.get("/api/tickets", &gulou_staff).await;
    assert!(
        list["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["outlet_code"] == "NJ-GULOU"),
        "{list}"
    );
    assert_eq!(
        api.get(&format!("/api/tickets/{number}"), &gulou_staff)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = api
        .post(
            &url,
            &gulou_staff,
            json!({ "version": 1, "to": "in_service" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The outlet reports in service and completed, nothing else.
    let (status, _) = api
        .post(
            &url,
            &xihu_staff,
            json!({ "version": 1, "to": "dispatched", "outlet_id": gulou }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, t) = api
        .post(
            &url,
            &xihu_staff,
            json!({ "version": 1, "to": "in_service" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let (status, t) = api
        .post(
            &url,
            &xihu_staff,
            json!({ "version": 2, "to": "completed" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["due_stage"], "followed_up");
    let (status, _) = api
        .post(
            &url,
            &xihu_staff,
            json!({ "version": 3, "to": "followed_up", "score": 5 }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Outlets cannot open or edit tickets.
    let (status, _) = api
        .post(
            "/api/tickets",
            &xihu_staff,
            json!({ "customer_id": customer, "kind": "repair", "description": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Follow-up: a poor score cannot be closed; it reopens as a complaint.
    let (status, body) = api
        .post(&url, &agent, json!({ "version": 3, "to": "followed_up" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "follow-up needs a satisfaction score 1-5");
    let (status, t) = api
        .post(
            &url,
            &agent,
            json!({ "version": 3, "to": "followed_up", "score": 2 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["stage"], "followed_up");
    let (status, body) = api
        .post(&url, &agent, json!({ "version": 4, "to": "closed" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("reopen the ticket as a complaint"),
        "{body}"
    );
    let (status, t) = api
        .post(
            &url,
            &agent,
            json!({ "version": 4, "to": "reopened", "reason": "师傅未修好" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["kind"], "complaint");
    assert_eq!(t["accepted_kind"], "repair");
    assert_eq!(t["stamps"].as_array().unwrap().len(), 6);
    assert_eq!(t["stamps"][5]["reason"], "师傅未修好");
    // Stamps are in time order.
    let times: Vec<i64> = t["stamps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["at"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // Backwards is refused, naming the stages.
    let (status, body) = api
        .post(&url, &agent, json!({ "version": 5, "to": "accepted" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        "a ticket reopened cannot go back to accepted"
    );
}

on_both_backends!(repair_lifecycle);

/// Opening tickets: validation, complaints routed to their team, roles.
async fn opening_tickets(db: &TestDb) {
    let (api, customer, products) = world(db).await;
    let agent = api.sign_in_as(Role::Agent, None).await;
    let qa = api.sign_in_as(Role::Qa, None).await;

    let (status, t) = api
        .post(
            "/api/tickets",
            &agent,
            json!({ "customer_id": customer, "kind": "complaint", "category": "服务态度", "description": "师傅态度差" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(t["team"], "service-quality");
    assert_eq!(t["due_stage"], "dispatched");
    let (_, t) = api
        .post(
            "/api/tickets",
            &agent,
            json!({ "customer_id": customer, "kind": "complaint", "category": "其他", "description": "别的" }),
        )
        .await;
    assert_eq!(t["team"], "customer-care");
    // Re-categorising a complaint moves it to the new team.
    let number = t["number"].as_str().unwrap();
    let (status, t) = api
        .patch(
            &format!("/api/tickets/{number}"),
            &agent,
            json!({ "version": 0, "category": "收费争议" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["team"], "billing");
    assert_eq!(t["version"], 1);
    let (status, body) = api
        .patch(
            &format!("/api/tickets/{number}"),
            &agent,
            json!({ "version": 0, "description": "晚了" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["current_version"], 1);
    // A complaint settled by its team is completed without an outlet.
    let (status, t) = api
        .post(
            &format!("/api/tickets/{number}/transitions"),
            &agent,
            json!({ "version": 1, "to": "completed" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");

    // Every bad field at once.
    let (status, body) = api
        .post(
            "/api/tickets",
            &agent,
            json!({ "customer_id": customer, "kind": "complaint", "category": "", "description": " " }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&body), ["description", "category"]);
    let (status, body) = api
        .post(
            "/api/tickets",
            &agent,
            json!({ "customer_id": customer, "kind": "fix", "description": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&body), ["kind"]);
    let (status, body) = api
        .post(
            "/api/tickets",
            &agent,
            json!({ "customer_id": 999_999, "kind": "repair", "description": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&body), ["customer_id"]);
    // Another customer's product.
    let other = db
        .store
        .customer_by_phone("13900139000")
        .await
        .unwrap()
        .unwrap();
    let (status, body) = api
        .post(
            "/api/tickets",
            &agent,
            json!({ "customer_id": other.id, "product_id": products[0], "kind": "repair", "description": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&body), ["product_id"]);

    // QA reads but does not write.
    assert_eq!(
        api.get(&format!("/api/tickets/{number}"), &qa).await.0,
        StatusCode::OK
    );
    let (status, _) = api
        .post(
            "/api/tickets",
            &qa,
            json!({ "customer_id": customer, "kind": "repair", "description": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api
        .post(
            &format!("/api/tickets/{number}/transitions"),
            &qa,
            json!({ "version": 2, "to": "followed_up", "score": 4 }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        api.get("/api/tickets/0000000000", &agent).await.0,
        StatusCode::NOT_FOUND
    );

    // The day's 9999th number used: no more tickets today, said plainly.
    let last = format!("{}9999", ServiceDesk::default().number_day(now()));
    sqlx::query(
        "INSERT INTO tickets (number, customer_id, kind, accepted_kind, stage, created_at, updated_at) \
         VALUES ($1, $2, 'repair', 'repair', 'accepted', 0, 0)",
    )
    .bind(&last)
    .bind(customer)
    .execute(db.store.pool())
    .await
    .unwrap();
    let (status, body) = api
        .post(
            "/api/tickets",
            &agent,
            json!({ "customer_id": customer, "kind": "repair", "description": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("all 9999 ticket numbers of today are used"),
        "{body}"
    );
}

on_both_backends!(opening_tickets);

/// Lists filter and paginate; bad parameters are named.
async fn listing_tickets(db: &TestDb) {
    let (api, customer, _) = world(db).await;
    let agent = api.sign_in_as(Role::Agent, None).await;
    let (_, all) = api.get("/api/tickets?limit=200", &agent).await;
    let total = all["total"].as_i64().unwrap();
    assert_eq!(total, all["tickets"].as_array().unwrap().len() as i64);
    assert!(total >= 11, "{total}");
    let (_, page) = api.get("/api/tickets?limit=3&offset=2", &agent).await;
    let page: Vec<&Value> = page["tickets"].as_array().unwrap().iter().collect();
    assert_eq!(page.len(), 3);
    assert_eq!(page[0]["number"], all["tickets"][2]["number"]);

    let (_, open) = api
        .get(
            &format!("/api/tickets?open=true&customer_id={customer}"),
            &agent,
        )
        .await;
    let stages: Vec<&str> = open["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["dispatched"], "王建国 has one open ticket");
    let (_, complaints) = api
        .get("/api/tickets?kind=complaint&stage=accepted", &agent)
        .await;
    assert!(
        complaints["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["kind"] == "complaint" && t["stage"] == "accepted")
    );
    assert!(complaints["total"].as_i64().unwrap() >= 1);

    let (status, body) = api
        .get(
            "/api/tickets?stage=done&kind=x&limit=0&overdue=yes&customer_id=abc",
            &agent,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        fields(&body),
        ["stage", "kind", "customer_id", "overdue", "limit"]
    );
}

on_both_backends!(listing_tickets);

/// Two agents moving the same ticket at the same version: exactly one
/// wins, the other gets a 409, and the ticket has one new stamp.
async fn concurrent_moves(db: &TestDb) {
    let (api, customer, _) = world(db).await;
    let a = api.sign_in_as(Role::Agent, None).await;
    let b = api.sign_in_as(Role::Supervisor, None).await;
    let xihu = outlet_id(&api, &a, "HZ-XIHU").await;
    let gulou = outlet_id(&api, &a, "NJ-GULOU").await;
    for round in 0..5 {
        let (_, t) = api
            .post("/api/tickets", &a, json!({ "customer_id": customer, "kind": "repair", "description": format!("round {round}") }))
            .await;
        let url = format!("/api/tickets/{}/transitions", t["number"].as_str().unwrap());
        let (ra, rb) = tokio::join!(
            api.post(
                &url,
                &a,
                json!({ "version": 0, "to": "dispatched", "outlet_id": xihu })
            ),
            api.post(
                &url,
                &b,
                json!({ "version": 0, "to": "dispatched", "outlet_id": gulou })
            ),
        );
        let mut statuses = [ra.0, rb.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "{} / {}",
            ra.1,
            rb.1
        );
        let (_, t) = api
            .get(
                &format!("/api/tickets/{}", t["number"].as_str().unwrap()),
                &a,
            )
            .await;
        assert_eq!(t["version"], 1);
        assert_eq!(t["stamps"].as_array().unwrap().len(), 2);
        let winner = if ra.0 == StatusCode::OK {
            "HZ-XIHU"
        } else {
            "NJ-GULOU"
        };
        assert_eq!(t["outlet_code"], winner);
    }
}

on_both_backends!(concurrent_moves);

/// An overdue ticket is found by `overdue=true` and its breach recorded
/// once; moving it on clears the overdue state.
async fn sla_breaches(db: &TestDb) {
    let (api, customer, _) = world(db).await;
    let agent = api.sign_in_as(Role::Agent, None).await;
    let desk = ServiceDesk::default();
    // Accepted three hours ago: dispatch was due an hour ago.
    let accepted_at = now() - 3 * HOUR;
    let ticket = Ticket::accept(TicketKind::Repair, accepted_at, Actor::System, &desk.sla);
    let new = hotline::store::NewTicket {
        customer_id: customer,
        product_id: None,
        kind: TicketKind::Repair,
        category: String::new(),
        description: "逾期".to_owned(),
        call_id: None,
        team: None,
    };
    let late = db
        .store
        .insert_ticket(&new, &ticket, &desk.number_day(accepted_at))
        .await
        .unwrap();
    let number = late.ticket.number.clone();

    let (_, overdue) = api.get("/api/tickets?overdue=true&limit=200", &agent).await;
    assert!(
        overdue["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["number"] == number.as_str())
    );

    let found = db.store.record_breaches(now()).await.unwrap();
    let mine: Vec<_> = found.iter().filter(|b| b.number == number).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].stage.as_str(), "dispatched");
    assert_eq!(mine[0].due_at, accepted_at + 2 * HOUR);
    // Raised once.
    let again = db.store.record_breaches(now()).await.unwrap();
    assert!(again.iter().all(|b| b.number != number), "{again:?}");

    let xihu = outlet_id(&api, &agent, "HZ-XIHU").await;
    let (status, _) = api
        .post(
            &format!("/api/tickets/{number}/transitions"),
            &agent,
            json!({ "version": 0, "to": "dispatched", "outlet_id": xihu }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, overdue) = api.get("/api/tickets?overdue=true&limit=200", &agent).await;
    assert!(
        overdue["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["number"] != number.as_str())
    );
}

on_both_backends!(sla_breaches);

/// Outlets: listing, adding, editing, region suggestions, roles.
async fn outlets(db: &TestDb) {
    let (api, _, _) = world(db).await;
    let agent = api.sign_in_as(Role::Agent, None).await;
    let supervisor = api.sign_in_as(Role::Supervisor, None).await;
    let outlet = json!({
        "code": "HZ-BINJIANG", "name": "杭州滨江服务中心", "tier": "city",
        "phone": "0571-8888 5678", "areas": ["浙江省杭州市滨江区"],
    });
    let (status, _) = api.post("/api/outlets", &agent, outlet.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, created) = api.post("/api/outlets", &supervisor, outlet.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["phone"], "057188885678");
    let (status, _) = api.post("/api/outlets", &supervisor, outlet).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = api
        .post(
            "/api/outlets",
            &supervisor,
            json!({ "code": "x", "name": "", "tier": "village", "phone": "1" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&body), ["tier"]);

    let (_, s) = api
        .get("/api/outlets/suggest?region=浙江省杭州市西湖区", &agent)
        .await;
    let codes: Vec<&str> = s["outlets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.first(), Some(&"HZ-XIHU"), "{codes:?}");
    let (_, s) = api
        .get("/api/outlets/suggest?region=浙江省杭州市滨江区", &agent)
        .await;
    assert_eq!(s["outlets"][0]["code"], "HZ-BINJIANG");
    let (status, _) = api.get("/api/outlets/suggest", &agent).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let id = created["id"].as_i64().unwrap();
    let (status, edited) = api
        .call(
            "PUT",
            &format!("/api/outlets/{id}"),
            Some(&supervisor),
            Some(json!({ "code": "HZ-BINJIANG", "name": "滨江网点", "tier": "county", "phone": "057188885678", "areas": [] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["tier"], "county");
    let (status, _) = api
        .call(
            "PUT",
            "/api/outlets/999999",
            Some(&supervisor),
            Some(json!({ "code": "ZZ", "name": "z", "tier": "town", "phone": "057188885678" })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

on_both_backends!(outlets);

/// Random sequences of moves through the API, legal and not: whatever
/// was refused, the stored row always equals replaying its stored stamps
/// through the ticket core (stage, kind, outlet, version, due time), the
/// stamps are in time order, and a closed ticket has no due time.
async fn random_moves_keep_rows_consistent(db: &TestDb) {
    use hotline::ticket::TicketStage;
    let (api, customer, _) = world(db).await;
    let agent = api.sign_in_as(Role::Supervisor, None).await;
    let outlets: Vec<i64> = sqlx::query_scalar("SELECT id FROM outlets ORDER BY id")
        .fetch_all(db.store.pool())
        .await
        .unwrap();
    let desk = ServiceDesk::default();
    let mut rng = fastrand::Rng::with_seed(0x7ec4e7);
    let kinds = ["repair", "installation", "consultation", "complaint"];
    let mut moved_in_all = 0;
    for round in 0..12 {
        let kind = kinds[rng.usize(..kinds.len())];
        let (status, t) = api
            .post(
                "/api/tickets",
                &agent,
                json!({ "customer_id": customer, "kind": kind, "category": "随机", "description": format!("round {round}") }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let number = t["number"].as_str().unwrap().to_owned();
        let mut version = 0;
        let mut stage = TicketStage::Accepted;
        for _ in 0..10 {
            use TicketStage::*;
            // Mostly a move the stage allows, with what it needs; now and
            // then anything at all.
            let likely: &[TicketStage] = match stage {
                Accepted => &[Dispatched, Completed],
                Dispatched => &[InService, Dispatched],
                InService => &[Completed],
                Completed => &[FollowedUp],
                FollowedUp => &[Closed, Reopened],
                Reopened => &[Dispatched, InService, Completed],
                Closed => &[Reopened],
            };
            let to = if rng.u8(..10) < 8 {
                likely[rng.usize(..likely.len())]
            } else {
                TicketStage::ALL[rng.usize(..TicketStage::ALL.len())]
            };
            let mut body = json!({ "version": version, "to": to.as_str() });
            if (to == Dispatched) != (rng.u8(..10) == 0) {
                body["outlet_id"] = json!(outlets[rng.usize(..outlets.len())]);
            }
            if (to == FollowedUp) != (rng.u8(..10) == 0) {
                body["score"] = json!(rng.u8(1..=5));
            }
            // Now and then a stale version.
            if rng.u8(..10) == 0 {
                body["version"] = json!(version + 1);
            }
            let (status, moved) = api
                .post(&format!("/api/tickets/{number}/transitions"), &agent, body)
                .await;
            match status {
                StatusCode::OK => {
                    version = moved["version"].as_i64().unwrap();
                    stage = TicketStage::parse(moved["stage"].as_str().unwrap()).unwrap();
                    moved_in_all += 1;
                }
                StatusCode::CONFLICT | StatusCode::BAD_REQUEST => {}
                other => panic!("{other}: {moved}"),
            }
        }
        let detail = db.store.ticket_detail(&number).await.unwrap().unwrap();
        let row = &detail.ticket;
        let core = Ticket::restore(row.accepted_kind, detail.core_stamps(), &desk.sla)
            .unwrap_or_else(|e| panic!("{number}: stored stamps do not replay: {e}"));
        assert_eq!(row.stage, core.stage(), "{number}");
        assert_eq!(row.kind, core.kind(), "{number}");
        assert_eq!(row.outlet_id, core.outlet().map(|o| o.id), "{number}");
        assert_eq!(
            row.version,
            core.version() as i64,
            "{number}: no edits, so version = moves"
        );
        assert_eq!(row.due_stage, core.due().map(|d| d.stage), "{number}");
        assert_eq!(row.due_at, core.due().map(|d| d.at_ms), "{number}");
        assert!(
            detail.stamps.windows(2).all(|w| w[0].at <= w[1].at),
            "{number}"
        );
        if row.stage == TicketStage::Closed {
            assert_eq!(row.due_at, None, "{number}");
        }
    }
    // The walk went somewhere: a good share of the tries were legal.
    assert!(moved_in_all >= 40, "only {moved_in_all} moves succeeded");
}

on_both_backends!(random_moves_keep_rows_consistent);
