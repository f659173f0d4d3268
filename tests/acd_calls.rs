//! The ACD end to end, against the real binary: callers from our test
//! phone walk the demo IVR to "0"; agents' desk phones are sipp processes
//! that register with digest authentication and answer; the agents' screens
//! are websocket clients of `/api/agent/ws`. Checks what each person
//! notices: the agent's ring event carries the caller's history, the voices
//! cross the server both ways (by tone frequency), wrap-up takes a
//! disposition, and the call record has every ACD field.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::desk::DeskPhone;
use common::phone::{Phone, prompt_start, share_of, tone};
use common::screen::Screen;
use common::{Server, have_sipp};
use serde_json::{Value, json};

/// The caller: a known customer with an open repair ticket.
const CALLER: &str = "13912340001";
const AGENT_PASSWORD: &str = "agent-password-1";
const SIG: usize = 400;

// ----- setup ---------------------------------------------------------------------

/// The caller walks the demo IVR to the agent queue: Mandarin (1) in the
/// welcome, "no" (2) to the open-ticket offer, then 0 in the main menu.
fn call_to_queue(server: &Server) -> Phone {
    let phone = Phone::call(server.sip, CALLER);
    let hear = |prompt: &str| {
        let needle = prompt_start(phone.law, "zh", prompt, SIG);
        assert!(
            phone
                .wait_to_hear(&needle, Duration::from_secs(20))
                .is_some(),
            "{prompt} not heard\n{}",
            server.log()
        );
    };
    hear("welcome");
    phone.press("1");
    hear("ticket-offer-choice");
    phone.press("2");
    hear("main-menu");
    phone.press("0");
    hear("queue-agent");
    phone
}

/// Waits until some 200 ms the caller heard after sample `since` are
/// mostly `hz`.
fn hears_tone(phone: &Phone, since: usize, hz: f64, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        {
            let heard = phone.heard();
            let s = heard.samples.get(since..).unwrap_or_default();
            if s.chunks_exact(1600).any(|w| share_of(w, hz) > 0.6) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// How much the caller has heard so far.
fn heard_len(phone: &Phone) -> usize {
    phone.heard().samples.len()
}

#[test]
fn a_caller_reaches_a_registered_agent_who_sees_their_history_and_they_talk() {
    if !have_sipp() {
        return;
    }
    let server = Server::start(&[]);
    let (ann, ann_token) = server.add_user("ann", "agent", AGENT_PASSWORD);
    let (_bob, bob_token) = server.add_user("bob", "agent", AGENT_PASSWORD);
    let customer = server.post(
        "/api/customers",
        &json!({ "name": "周晓梅", "region": "浙江省杭州市西湖区", "phones": [CALLER] }),
    );
    let ticket = server.post(
        "/api/tickets",
        &json!({ "customer_id": customer["id"], "kind": "repair", "category": "no-cooling",
                "description": "air conditioner blows warm air" }),
    );

    // Ann's screen and phone: ready is refused until the phone registers.
    let mut ann_screen = Screen::open(&server, &ann_token);
    let hello = ann_screen.wait("hello", Duration::from_secs(5));
    assert_eq!(hello["protocol"], 1);
    assert_eq!(hello["agent"]["username"], "ann");
    assert_eq!(hello["state"]["name"], "not_ready");
    let refused = ann_screen.command("r0", json!({ "type": "ready" }));
    assert_eq!(refused["code"], "no_phone", "{refused}");
    let ann_phone = DeskPhone::register(
        &server,
        "ann",
        AGENT_PASSWORD,
        "agent_phone_tone.xml",
        false,
    );
    assert_eq!(
        ann_screen.command("r1", json!({ "type": "ready" }))["type"],
        "ok"
    );
    // The team list shows her ready with her screen open, Bob logged out.
    let (status, body) = server.get("/api/agents");
    assert_eq!(status, 200, "{body}");
    let team: Value = serde_json::from_str(&body).unwrap();
    let find = |name: &str| {
        team["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["username"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {team}"))
    };
    assert_eq!(find("ann")["state"], "ready");
    assert_eq!(find("ann")["online"], true);
    assert_eq!(find("bob")["state"], "logged_out");
    // Out of turn: nothing rings, nothing to hang up.
    let wrong = ann_screen.command("h0", json!({ "type": "hang_up", "call": "nope" }));
    assert_eq!(wrong["code"], "no_such_call", "{wrong}");
    let bad = ann_screen.command("x0", json!({ "type": "dance" }));
    assert_eq!(bad["code"], "bad_command", "{bad}");

    // A caller walks the IVR to 0; Ann's screen rings with their history.
    let caller = call_to_queue(&server);
    let offered = ann_screen.wait("offered", Duration::from_secs(10));
    let call_id = offered["call"]["id"].as_str().unwrap().to_owned();
    assert_eq!(offered["call"]["caller"], CALLER);
    assert_eq!(offered["call"]["queue"], "general");
    assert_eq!(offered["call"]["digits"], "120");
    let path = offered["call"]["ivr_path"].as_array().unwrap();
    assert!(
        path.iter().any(|p| p == "0 → agent"),
        "the menu choices: {path:?}"
    );
    assert_eq!(offered["pop"]["customer"]["name"], "周晓梅");
    let open = offered["pop"]["open_tickets"].as_array().unwrap();
    assert!(
        open.iter().any(|t| t["number"] == ticket["number"]),
        "open tickets {open:?} hold {}",
        ticket["number"]
    );

    // Her phone answers: the caller hears her phone's 1 kHz tone.
    let answered = ann_screen.wait("answered", Duration::from_secs(10));
    assert_eq!(answered["call"], call_id.as_str());
    assert!(
        hears_tone(&caller, heard_len(&caller), 1000.0, Duration::from_secs(5)),
        "the caller hears the agent\n{}",
        server.log()
    );

    // Hold: music instead of the agent; resume: the agent again.
    let held = ann_screen.command("h1", json!({ "type": "hold", "call": call_id }));
    assert_eq!(held["type"], "ok", "{held}");
    assert!(
        caller
            .wait_to_hear(
                &prompt_start(caller.law, "zh", "hold-music", SIG),
                Duration::from_secs(5)
            )
            .is_some(),
        "music on hold"
    );
    ann_screen.command("h2", json!({ "type": "resume", "call": call_id }));
    assert!(hears_tone(
        &caller,
        heard_len(&caller),
        1000.0,
        Duration::from_secs(5)
    ));

    // The caller hangs up: Ann's phone gets a BYE, she is in wrap-up.
    let mut caller = caller;
    caller.hang_up();
    ann_screen.wait("ended", Duration::from_secs(5));
    ann_screen
        .wait_for(Duration::from_secs(5), |e| {
            e["type"] == "state" && e["state"]["name"] == "wrap_up"
        })
        .expect("wrap-up");
    assert!(
        ann_phone.finished(Duration::from_secs(10)),
        "ann's phone saw the BYE"
    );
    let early = ann_screen.command("n0", json!({ "type": "not_ready", "reason": "break" }));
    assert_eq!(early["code"], "wrong_state", "{early}");
    let done = ann_screen.command(
        "w1",
        json!({ "type": "end_wrap_up", "disposition": "resolved",
                "notes": "explained the filter cleaning" }),
    );
    assert_eq!(done["type"], "ok", "{done}");
    ann_screen.command("n1", json!({ "type": "not_ready", "reason": "break" }));

    // The record: queue, agent, wait, talk, hold, wrap-up, disposition.
    let record = wait_for_record(&server, &call_id, |c| !c["disposition"].is_null());
    assert_eq!(record["queue"], "general");
    assert_eq!(record["agent_id"], ann);
    assert!(record["wait_ms"].as_i64().unwrap() >= 0);
    // Talk and hold add up to the time with the agent.
    let (talk, hold) = (
        record["talk_ms"].as_i64().unwrap(),
        record["hold_ms"].as_i64().unwrap(),
    );
    let with_agent =
        record["ended_at"].as_i64().unwrap() - record["agent_answered_at"].as_i64().unwrap();
    assert!(talk > 0 && hold > 0, "{record}");
    assert!((talk + hold - with_agent).abs() <= 20, "{record}");
    assert!(record["wrap_up_ms"].as_i64().unwrap() >= 0, "{record}");
    assert_eq!(record["disposition"], "resolved");
    assert_eq!(record["notes"], "explained the filter cleaning");

    // Bob, whose phone echoes: the caller's 440 Hz comes back through him.
    let mut bob_screen = Screen::open(&server, &bob_token);
    bob_screen.wait("hello", Duration::from_secs(5));
    let bob_phone =
        DeskPhone::register(&server, "bob", AGENT_PASSWORD, "agent_phone_echo.xml", true);
    assert_eq!(
        bob_screen.command("r1", json!({ "type": "ready" }))["type"],
        "ok"
    );
    let mut caller = call_to_queue(&server);
    bob_screen.wait("answered", Duration::from_secs(15));
    let since = heard_len(&caller);
    caller.talk(&tone(440.0, 2000));
    assert!(
        hears_tone(&caller, since, 440.0, Duration::from_secs(3)),
        "the caller's voice reaches the agent and comes back\n{}",
        server.log()
    );
    caller.hang_up();
    bob_screen.wait("ended", Duration::from_secs(5));
    assert!(bob_phone.finished(Duration::from_secs(10)));
}

fn wait_for_record(server: &Server, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = server.get(&format!("/api/calls/{id}"));
        if status == 200 {
            let v: Value = serde_json::from_str(&body).unwrap();
            let call = v.get("call").cloned().unwrap_or(v);
            if done(&call) {
                return call;
            }
            if Instant::now() > deadline {
                panic!("call record not complete: {call:#}");
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sighup_reloads_queues_and_reasons_and_refuses_a_config_the_flows_cannot_use() {
    let dir = common::temp_dir("reload");
    let config = dir.join("hotline.toml");
    let write = |reasons: &str, queues: &[&str]| {
        let mut text = format!("[agents]\nnot_ready_reasons = [{reasons}]\n");
        for q in queues {
            text.push_str(&format!("[[queues]]\nname = \"{q}\"\n"));
        }
        std::fs::write(&config, text).unwrap();
    };
    let all = ["repair", "installation", "complaint", "general"];
    write("\"break\"", &all);
    let server = Server::start(&["--config", config.to_str().unwrap()]);
    let (_ann, token) = server.add_user("ann", "agent", AGENT_PASSWORD);
    let mut screen = Screen::open(&server, &token);
    screen.wait("hello", Duration::from_secs(5));
    let lunch = json!({ "type": "not_ready", "reason": "lunch" });
    assert_eq!(screen.command("a", lunch.clone())["code"], "unknown_reason");

    let hup = || {
        let ok = Command::new("kill")
            .args(["-HUP", &server.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP");
    };
    write("\"break\", \"lunch\"", &all);
    hup();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    loop {
        n += 1;
        let answer = screen.command(&format!("b{n}"), lunch.clone());
        if answer["type"] == "ok" {
            break;
        }
        assert!(Instant::now() < deadline, "reason not reloaded: {answer}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The demo flow sends callers to `general`: a file without it is refused
    // and the last good settings stay.
    write("\"break\"", &["repair", "installation", "complaint"]);
    hup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("configuration not reloaded") {
        assert!(
            Instant::now() < deadline,
            "no refusal logged:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        server.log().contains("general"),
        "the log names the missing queue"
    );
    let still = screen.command("c", lunch);
    assert_eq!(still["type"], "ok", "the last good reasons stay: {still}");
}
