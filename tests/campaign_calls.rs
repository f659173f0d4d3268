//! A survey campaign dialling real customers: hotline calls out through a
//! carrier proxy, and sipp (tests/sipp/customer.xml) plays the customers
//! behind it — one answers and presses 4, one answers and presses 1, one is
//! busy, one never answers. What the people around would notice: the
//! ticket of the satisfied customer is followed up with score 4, the
//! dissatisfied customer's ticket is reopened as a complaint and put in for
//! an agent's call back, the busy number is rung again after its retry
//! delay (and not before), the unanswered call is given up after the ring
//! time, and every attempt is a call record in the customer's history.
//!
//! And a callback: a caller who waited too long in the queue presses 1 to
//! be called back and hangs up; when an agent becomes ready, hotline calls
//! the customer, and the agent's phone rings with the screen pop once the
//! customer has answered.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::desk::DeskPhone;
use common::screen::Screen;
use common::{Server, phone};
use serde_json::json;

struct Customers(Child);

impl Drop for Customers {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// sipp as the customers behind the carrier's proxy at `port`, for
/// `calls` calls.
fn customers(port: u16, calls: usize) -> Customers {
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/customer.xml");
    let child = Command::new("sipp")
        .arg("-sf")
        .arg(scenario)
        .args([
            "-p",
            &port.to_string(),
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
        ])
        .args(["-mp", &common::free_port().to_string()])
        .args(["-m", &calls.to_string(), "-nostdin"])
        .current_dir(common::temp_dir("sipp-customers"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run sipp");
    Customers(child)
}

/// Waits for `what` to hold, reading the store every 200 ms.
fn wait_for<T>(
    what: &str,
    limit: Duration,
    server: &Server,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not in time\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[derive(Debug, Clone)]
struct ContactRow {
    number: String,
    state: String,
    attempts: i64,
    outcome: Option<String>,
    due_at: i64,
    updated_at: i64,
}

#[derive(Debug, Clone)]
struct CallRow {
    id: String,
    arrived_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    hangup_cause: Option<String>,
    campaign: Option<String>,
    attempt: Option<i64>,
    outcome: Option<String>,
}

#[test]
fn a_survey_campaign_calls_customers_and_follows_their_tickets_up() {
    if !common::have_sipp() {
        return;
    }
    let proxy = common::free_port();
    // 4 first attempts, then the busy number once more.
    let _customers = customers(proxy, 5);
    let config = common::campaign_config(
        "[outbound]\nproxy = \"127.0.0.1:{proxy}\"\nring_secs = 5\n\
             [[campaigns]]\nname = \"follow-up\"\nkind = \"survey\"\nflow = \"survey\"\n\
             caller_id = \"4008001234\"\ntime_zone = \"{zone}\"\nhours = { daily = \"08:00-21:00\" }\n\
             max_attempts = 2\nconcurrency = 4\nallow = [\"_1[3-9]XXXXXXXXX\"]\n\
             retry_secs = { busy = 60, no_answer = 3600, rejected = 3600, failed = 3600, network_error = 3600 }\n\
             complaint_callbacks = \"callbacks\"\n\
             [[campaigns]]\nname = \"callbacks\"\nkind = \"callbacks\"\nqueue = \"complaint\"\n\
             caller_id = \"4008001234\"\ntime_zone = \"{zone}\"\nhours = { daily = \"09:00-18:00\" }\n\
             allow = [\"_1[3-9]XXXXXXXXX\"]\n",
        proxy,
    );
    let server = Server::start(&["--config", config.to_str().unwrap(), "--demo"]);

    // The satisfied customer: the demo's completed installation (陈静,
    // 13758461234). The dissatisfied one: a new customer whose enquiry
    // was answered (completed) on the call.
    let (status, body) = server.get("/api/tickets/2611160007");
    assert_eq!(status, 200, "{body}");
    let happy: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(happy["stage"], "completed");
    let customer = server.post(
        "/api/customers",
        &json!({ "name": "王芳", "region": "浙江省杭州市", "phones": ["13900000001"] }),
    );
    let ticket = server.post(
        "/api/tickets",
        &json!({ "customer_id": customer["id"], "kind": "consultation",
                 "description": "热水器温度忽高忽低，电话指导" }),
    );
    let unhappy = ticket["number"].as_str().unwrap().to_owned();
    server.post(
        &format!("/api/tickets/{unhappy}/transitions"),
        &json!({ "version": ticket["version"], "to": "completed" }),
    );

    for (phone, ticket) in [
        ("13758461234", Some("2611160007")),
        ("13900000001", Some(unhappy.as_str())),
        ("13900000486", None),
        ("13900000408", None),
    ] {
        server.post(
            "/api/campaigns/follow-up/contacts",
            &json!({ "phone": phone, "ticket": ticket }),
        );
    }

    let (rt, store) = common::server_store(&server);
    let contacts = || -> Vec<ContactRow> {
        let rows: Vec<(String, String, i64, Option<String>, i64, i64)> = rt
            .block_on(
                sqlx::query_as(
                    "SELECT number, state, attempts, outcome, due_at, updated_at \
                     FROM campaign_contacts WHERE campaign = 'follow-up' ORDER BY number",
                )
                .fetch_all(store.pool()),
            )
            .unwrap();
        rows.into_iter()
            .map(
                |(number, state, attempts, outcome, due_at, updated_at)| ContactRow {
                    number,
                    state,
                    attempts,
                    outcome,
                    due_at,
                    updated_at,
                },
            )
            .collect()
    };
    let contact = |number: &str| contacts().into_iter().find(|c| c.number == number).unwrap();
    type Row = (
        String,
        i64,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
    );
    let calls_to = |number: &str| -> Vec<CallRow> {
        let rows: Vec<Row> = rt
            .block_on(
                sqlx::query_as(
                    "SELECT id, arrived_at, answered_at, ended_at, hangup_cause, \
                     campaign, attempt, outcome FROM calls \
                     WHERE direction = 'outbound' AND to_number = $1 ORDER BY arrived_at",
                )
                .bind(number)
                .fetch_all(store.pool()),
            )
            .unwrap();
        rows.into_iter()
            .map(|r| CallRow {
                id: r.0,
                arrived_at: r.1,
                answered_at: r.2,
                ended_at: r.3,
                hangup_cause: r.4,
                campaign: r.5,
                attempt: r.6,
                outcome: r.7,
            })
            .collect()
    };

    // Every first attempt is over within the survey's length.
    wait_for(
        "four first attempts",
        Duration::from_secs(60),
        &server,
        || {
            let all = contacts();
            all.iter().all(|c| c.attempts >= 1).then_some(all)
        },
    );

    // 4: the ticket is followed up with score 4, and stays satisfied.
    let c = contact("13758461234");
    assert_eq!(
        (c.state.as_str(), c.outcome.as_deref()),
        ("reached", Some("answered")),
        "{c:?}"
    );
    let (_, body) = server.get("/api/tickets/2611160007");
    let t: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(t["stage"], "followed_up", "{t}");
    let stamp = t["stamps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(stamp["score"], 4, "{stamp}");
    let calls = calls_to("13758461234");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(
        (
            call.campaign.as_deref(),
            call.attempt,
            call.outcome.as_deref()
        ),
        (Some("follow-up"), Some(1), Some("answered"))
    );
    assert!(
        call.answered_at.is_some() && call.ended_at.is_some(),
        "{call:?}"
    );
    let (_, body) = server.get(&format!("/api/calls/{}", call.id));
    assert!(
        body.contains("score=4") && body.contains("on_time=yes"),
        "{body}"
    );

    // 1: reopened as a complaint, and an agent is to call back.
    let c = contact("13900000001");
    assert_eq!(c.state, "reached", "{c:?}");
    let (_, body) = server.get(&format!("/api/tickets/{unhappy}"));
    let t: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (t["stage"].as_str(), t["kind"].as_str()),
        (Some("reopened"), Some("complaint")),
        "{t}"
    );
    let callbacks: Vec<(String, Option<String>, String)> = rt
        .block_on(
            sqlx::query_as(
                "SELECT number, ticket, state FROM campaign_contacts WHERE campaign = 'callbacks'",
            )
            .fetch_all(store.pool()),
        )
        .unwrap();
    assert_eq!(
        callbacks,
        vec![(
            "13900000001".to_owned(),
            Some(unhappy.clone()),
            "waiting".to_owned()
        )]
    );

    // Never answered: cancelled after the 5 s ring time, tried again in
    // an hour.
    let c = contact("13900000408");
    assert_eq!(
        (c.state.as_str(), c.outcome.as_deref(), c.attempts),
        ("waiting", Some("no_answer"), 1),
        "{c:?}"
    );
    let call = &calls_to("13900000408")[0];
    let rang = call.ended_at.unwrap() - call.arrived_at;
    assert!((4_500..8_000).contains(&rang), "rang {rang} ms: {call:?}");
    assert!(call.answered_at.is_none());
    assert!(
        (c.due_at - call.ended_at.unwrap() - 3_600_000).abs() < 5_000,
        "{c:?} {call:?}"
    );

    // Busy: due again 60 s after the attempt, rung again then (not
    // before), busy again, and given up after the second attempt.
    let first = calls_to("13900000486")[0].clone();
    assert_eq!(first.outcome.as_deref(), Some("busy"), "{first:?}");
    assert_eq!(first.hangup_cause.as_deref(), Some("busy-486"), "{first:?}");
    let c = contact("13900000486");
    assert_eq!((c.state.as_str(), c.attempts), ("waiting", 1), "{c:?}");
    let wait = c.due_at - first.ended_at.unwrap();
    assert!(
        (59_000..62_000).contains(&wait),
        "due {wait} ms after the busy answer"
    );
    let c = wait_for(
        "the busy number's second attempt",
        Duration::from_secs(90),
        &server,
        || {
            let c = contact("13900000486");
            (c.attempts == 2).then_some(c)
        },
    );
    assert_eq!(
        (c.state.as_str(), c.outcome.as_deref()),
        ("gave_up", Some("busy")),
        "{c:?}"
    );
    let calls = calls_to("13900000486");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[1].attempt, Some(2));
    assert!(
        calls[1].arrived_at >= first.ended_at.unwrap() + 59_000,
        "rung again too early: {calls:?}"
    );
    assert!(c.updated_at >= calls[1].arrived_at);

    // Every attempt is in the customer's history, as an outbound call.
    let (_, body) = server.get(&format!(
        "/api/customers/{}/timeline",
        customer["id"].as_i64().unwrap()
    ));
    let timeline: serde_json::Value = serde_json::from_str(&body).unwrap();
    let outbound = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "call")
        .unwrap_or_else(|| panic!("no call in {timeline}"));
    assert_eq!(outbound["direction"], "outbound", "{outbound}");
    assert_eq!(outbound["campaign"], "follow-up", "{outbound}");
    rt.block_on(store.close());
}

/// The demo flow with a callback offer: after 5 s in the agent queue the
/// caller may press 1 to be called back (the recipe in docs/ivr-flows.md).
fn flows_with_callbacks(text: &str) -> String {
    let text = common::always_open(text).replace(
        "max_wait = \"180s\"\nafter_wait = \"leave_message\"",
        "max_wait = \"5s\"\nafter_wait = \"callback_offer\"",
    );
    format!(
        "{text}\n[node.callback_offer]\nkind = \"menu\"\nprompt = \"callback-offer\"\n\
         options = {{ \"1\" = \"callback\", \"2\" = \"agent\" }}\ntimeout = \"6s\"\ntries = 1\n\
         after_retries = \"leave_message\"\n\n[node.callback]\nkind = \"callback\"\n\
         campaign = \"callbacks\"\nnext = \"callback_booked\"\n\n[node.callback_booked]\n\
         kind = \"hangup\"\nprompt = \"callback-booked\"\n"
    )
}

#[test]
fn a_caller_who_asks_to_be_called_back_is_called_when_an_agent_is_ready() {
    if !common::have_sipp() {
        return;
    }
    const CUSTOMER: &str = "13900000042";
    const PASSWORD: &str = "ann-desk-9";
    let proxy = common::free_port();
    let _customers = customers(proxy, 1);
    let config = common::campaign_config(
        "[outbound]\nproxy = \"127.0.0.1:{proxy}\"\n\
             [[campaigns]]\nname = \"callbacks\"\nkind = \"callbacks\"\nqueue = \"general\"\n\
             caller_id = \"4008001234\"\ntime_zone = \"{zone}\"\nhours = { daily = \"08:00-21:00\" }\n\
             allow = [\"_1[3-9]XXXXXXXXX\"]\n",
        proxy,
    );
    let flows = common::flows_copy(flows_with_callbacks);
    let server = Server::start_with_flows(&flows, &["--config", config.to_str().unwrap()]);
    let (ann, token) = server.add_user("ann", "agent", PASSWORD);
    let mut screen = Screen::open(&server, &token);
    screen.wait("hello", Duration::from_secs(5));
    let desk = DeskPhone::register(&server, "ann", PASSWORD, "agent_phone_tone.xml", false);

    // Nobody is ready: the caller waits 5 s, is offered a callback, takes
    // it and is told so.
    let caller = common::call_to_agent_queue(&server, CUSTOMER);
    let hear = |prompt: &str| {
        let needle = phone::prompt_start(caller.law, "zh", prompt, 400);
        assert!(
            caller
                .wait_to_hear(&needle, Duration::from_secs(20))
                .is_some(),
            "{prompt} not heard\n{}",
            server.log()
        );
    };
    hear("callback-offer");
    caller.press("1");
    hear("callback-booked");
    assert!(caller.wait_for_server_hangup(Duration::from_secs(15)));
    let calls = server.wait_for_ended_calls(1);
    let inbound = &calls["calls"][0];
    let (rt, store) = common::server_store(&server);
    let contact = || -> Option<(String, i64, String, Option<String>)> {
        rt.block_on(
            sqlx::query_as(
                "SELECT number, since_at, state, outcome FROM campaign_contacts \
                 WHERE campaign = 'callbacks'",
            )
            .fetch_optional(store.pool()),
        )
        .unwrap()
    };
    let (number, since, state, _) = wait_for(
        "the callback request",
        Duration::from_secs(5),
        &server,
        contact,
    );
    assert_eq!(
        (number.as_str(), since, state.as_str()),
        (CUSTOMER, inbound["arrived_at"].as_i64().unwrap(), "waiting"),
        "in line by the time they called"
    );
    // Not dialled while no agent is ready.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(contact().unwrap().2, "waiting");

    // Ann is ready: hotline calls the customer back, and once they answer
    // Ann's phone rings with the screen pop.
    let before = screen.seen.len();
    let ready_at = Instant::now();
    assert_eq!(
        screen.command("r", json!({ "type": "ready" }))["type"],
        "ok"
    );
    let offered = screen.wait_from(before, "offered", Duration::from_secs(15));
    let took = ready_at.elapsed();
    assert_eq!(offered["call"]["campaign"], "callbacks", "{offered}");
    assert_eq!(offered["call"]["caller"], CUSTOMER, "{offered}");
    let recent = offered["pop"]["recent_calls"].as_array().unwrap();
    assert!(
        recent
            .iter()
            .any(|c| c["id"] == inbound["id"] && c["direction"] == "inbound"),
        "the call they asked from is in the pop: {offered}"
    );
    screen.wait_from(before, "answered", Duration::from_secs(10));
    eprintln!("agent ready -> offered with the customer on the line: {took:?}");
    let call_id = offered["call"]["id"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        screen.command("h", json!({ "type": "hang_up", "call": call_id }))["type"],
        "ok"
    );
    assert!(desk.finished(Duration::from_secs(10)), "{}", server.log());
    let (_, _, state, outcome) = wait_for(
        "the callback done",
        Duration::from_secs(10),
        &server,
        || contact().filter(|c| c.2 != "dialling" && c.2 != "waiting"),
    );
    assert_eq!(
        (state.as_str(), outcome.as_deref()),
        ("reached", Some("answered"))
    );
    let (_, body) = server.get(&format!("/api/calls/{call_id}"));
    let record: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(record["agent_id"], ann, "{record}");
    rt.block_on(store.close());
}

#[test]
fn an_agent_previews_a_contact_and_calls_it() {
    if !common::have_sipp() {
        return;
    }
    const PASSWORD: &str = "ann-desk-9";
    let proxy = common::free_port();
    let _customers = customers(proxy, 1);
    let config = common::campaign_config(
        "[outbound]\nproxy = \"127.0.0.1:{proxy}\"\n\
             [[campaigns]]\nname = \"repair-calls\"\nkind = \"preview\"\nqueue = \"general\"\n\
             caller_id = \"4008001234\"\ntime_zone = \"{zone}\"\nhours = { daily = \"08:00-21:00\" }\n\
             allow = [\"_1[3-9]XXXXXXXXX\"]\n\
             [[campaigns]]\nname = \"follow-up\"\nkind = \"survey\"\nflow = \"survey\"\n\
             caller_id = \"4008001234\"\ntime_zone = \"{zone}\"\nhours = { daily = \"08:00-09:00\" }\n\
             allow = [\"_1[3-9]XXXXXXXXX\"]\n",
        proxy,
    );
    let server = Server::start(&["--config", config.to_str().unwrap(), "--demo"]);
    let (ann, token) = server.add_user("ann", "agent", PASSWORD);
    let ask = |method: &str, path: &str| {
        common::http_request(server.http, method, path, Some(&token), Some("{}"))
    };
    let (status, body) = ask("GET", "/api/campaigns/repair-calls/next");
    assert_eq!((status, body.as_str()), (204, ""), "nobody due yet");
    // 陈静, whose installation was completed: the agent is to call her.
    server.post(
        "/api/campaigns/repair-calls/contacts",
        &json!({ "phone": "13758461234", "ticket": "2611160007" }),
    );
    let (status, body) = ask("GET", "/api/campaigns/repair-calls/next");
    assert_eq!(status, 200, "{body}");
    let next: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(next["number"], "13758461234");
    assert_eq!(next["customer"]["name"], "陈静", "{next}");
    assert_eq!(next["ticket"]["number"], "2611160007", "{next}");
    let dial = format!("/api/campaigns/repair-calls/contacts/{}/dial", next["id"]);

    // Without the agent's screen there is nobody to ring.
    let (status, body) = ask("POST", &dial);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("not connected"), "{body}");
    // Not the dialer's campaigns, nor another campaign's contact.
    let (status, _) = ask("GET", "/api/campaigns/follow-up/next");
    assert_eq!(status, 409);
    let (status, _) = ask(
        "POST",
        &format!("/api/campaigns/follow-up/contacts/{}/dial", next["id"]),
    );
    assert_eq!(status, 409);

    let mut screen = Screen::open(&server, &token);
    screen.wait("hello", Duration::from_secs(5));
    let desk = DeskPhone::register(&server, "ann", PASSWORD, "agent_phone_tone.xml", false);
    let before = screen.seen.len();
    let (status, body) = ask("POST", &dial);
    assert_eq!(status, 202, "{body}");
    let call_id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["call_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = ask("POST", &dial);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("dialling already"), "{body}");

    // She answers; Ann (not ready a moment ago) is rung with her history.
    let offered = screen.wait_from(before, "offered", Duration::from_secs(15));
    assert_eq!(offered["call"]["id"], call_id.as_str());
    assert_eq!(offered["call"]["campaign"], "repair-calls");
    assert_eq!(offered["pop"]["customer"]["name"], "陈静", "{offered}");
    screen.wait_from(before, "answered", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        screen.command("h", json!({ "type": "hang_up", "call": call_id }))["type"],
        "ok"
    );
    assert!(desk.finished(Duration::from_secs(10)), "{}", server.log());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = server.get("/api/campaigns");
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        let reached = list["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "repair-calls")
            .map(|c| c["contacts"]["reached"].as_i64() == Some(1));
        if reached == Some(true) {
            break;
        }
        assert!(Instant::now() < deadline, "{body}\n{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, body) = server.get(&format!("/api/calls/{call_id}"));
    let record: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(record["agent_id"], ann, "{record}");
}
