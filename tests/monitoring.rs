//! Listen, whisper and barge end to end, against the real binary: a
//! caller (our test phone, 440 Hz) reaches Ann, whose desk phone answers
//! (1 kHz); Sue, a supervisor, steps in from the API and her desk phone
//! answers (1.8 kHz). In each mode every party's received audio is
//! measured tone by tone: each hears exactly what the mode allows, and
//! switching drops nobody. The second test does the same from the
//! wallboard's buttons in headless Chromium (tests/browser/wallboard.mjs;
//! needs chromium and `npm ci --prefix tests/browser`, else SKIPPED, and a
//! failure under CI=true); `HOTLINE_SCREENSHOTS=DIR` writes
//! wallboard-monitor.png.

mod common;

use std::time::Duration;

use common::browser::{Driver, have_browser, screenshots_dir};
use common::phone::{Phone, share_of, tone};
use common::screen::Screen;
use common::{Server, call_to_agent_queue, http_request};
use serde_json::{Value, json};

const PASSWORD: &str = "desk-password-1";
const CALLER_HZ: f64 = 440.0;
const AGENT_HZ: f64 = 1000.0;
const SUPERVISOR_HZ: f64 = 1800.0;

fn monitor(server: &Server, token: &str, call: &str, mode: Option<&str>) -> (u16, Value) {
    let path = format!("/api/calls/{call}/monitor");
    let (status, body) = match mode {
        Some(mode) => http_request(
            server.http,
            "POST",
            &path,
            Some(token),
            Some(&json!({ "mode": mode }).to_string()),
        ),
        None => http_request(server.http, "DELETE", &path, Some(token), None),
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// One second of what each phone hears, taken after the mixing settled.
fn second_heard(phones: [&Phone; 3]) -> [Vec<i16>; 3] {
    std::thread::sleep(Duration::from_millis(400));
    let from = phones.map(|p| p.heard().samples.len());
    std::thread::sleep(Duration::from_millis(1000));
    let mut i = 0;
    phones.map(|p| {
        let heard = p.heard().samples[from[i]..].to_vec();
        i += 1;
        heard
    })
}

fn hears(who: &str, samples: &[i16], yes: &[f64], no: &[f64]) {
    assert!(
        samples.len() >= 6000,
        "{who} heard only {} samples",
        samples.len()
    );
    for &hz in yes {
        let s = share_of(samples, hz);
        assert!(s > 0.15, "{who} should hear {hz} Hz: share {s:.3}");
    }
    for &hz in no {
        let s = share_of(samples, hz);
        assert!(s < 0.02, "{who} must not hear {hz} Hz: share {s:.4}");
    }
}

/// Checks one second of what each phone hears against the mixing table
/// (src/engine/monitor.rs): `mode` the supervisor's, `None` once they left.
/// The caller always hears the agent, the agent the caller, the supervisor
/// both; whisper adds the supervisor for the agent, barge for both.
fn mixing_is(mode: Option<&str>, phones: [&Phone; 3]) {
    let [c, a, s] = second_heard(phones);
    let what = mode.unwrap_or("after");
    let (to_agent, to_caller) = match mode {
        Some("whisper") => (true, false),
        Some("barge") => (true, true),
        _ => (false, false),
    };
    // Each party: what it always hears, what it never does, and whether
    // the mode adds the supervisor.
    for (who, samples, always, own, with_sue) in [
        ("the caller", &c, AGENT_HZ, CALLER_HZ, to_caller),
        ("Ann", &a, CALLER_HZ, AGENT_HZ, to_agent),
    ] {
        let (mut yes, mut no) = (vec![always], vec![own]);
        if with_sue {
            yes.push(SUPERVISOR_HZ);
        } else {
            no.push(SUPERVISOR_HZ);
        }
        hears(&format!("{what}: {who}"), samples, &yes, &no);
    }
    if mode.is_some() {
        hears(
            &format!("{what}: Sue"),
            &s,
            &[CALLER_HZ, AGENT_HZ],
            &[SUPERVISOR_HZ],
        );
    }
}

#[test]
fn a_supervisor_listens_whispers_and_barges_and_each_party_hears_what_the_mode_allows() {
    let server = Server::start(&[]);
    let (_ann, ann_token) = server.add_user("ann", "agent", PASSWORD);
    let (_sue, sue_token) = server.add_user("sue", "supervisor", PASSWORD);

    let mut sue_phone = Phone::desk(server.sip, "sue", PASSWORD);
    let (caller, ann_phone, call, _screen) = talking(&server, &ann_token);

    // Who may not: an agent; on what: a call that does not exist.
    let (status, _) = monitor(&server, &ann_token, &call, Some("listen"));
    assert_eq!(status, 403);
    let (status, body) = monitor(&server, &sue_token, "no-such-call", Some("listen"));
    assert_eq!(status, 404, "{body}");
    let (status, body) = monitor(&server, &sue_token, &call, Some("shout"));
    assert_eq!(status, 400, "{body}");

    // Listen: Sue's phone rings; she answers and hears both sides.
    let (status, body) = monitor(&server, &sue_token, &call, Some("listen"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["connected"], false);
    sue_phone.pick_up(Duration::from_secs(5));
    sue_phone.start_talking(&tone(SUPERVISOR_HZ, 60_000));
    let phones = [&caller, &ann_phone, &sue_phone];
    mixing_is(Some("listen"), phones);

    // Whisper: Ann hears Sue, the caller does not.
    let (status, body) = monitor(&server, &sue_token, &call, Some("whisper"));
    assert_eq!((status, &body["connected"]), (200, &json!(true)), "{body}");
    mixing_is(Some("whisper"), phones);

    // Barge: all three talk.
    let (status, body) = monitor(&server, &sue_token, &call, Some("barge"));
    assert_eq!(status, 200, "{body}");
    mixing_is(Some("barge"), phones);

    // Sue leaves: her phone is hung up, the others talk on without her.
    let (status, body) = monitor(&server, &sue_token, &call, None);
    assert_eq!(status, 204, "{body}");
    assert!(sue_phone.wait_for_server_hangup(Duration::from_secs(5)));
    mixing_is(None, phones);
    let (status, body) = monitor(&server, &sue_token, &call, None);
    assert_eq!(status, 409, "leaving twice: {body}");

    // The caller hangs up; a barge a moment later gets a clear 404.
    let mut caller = caller;
    caller.hang_up();
    let (status, body) = monitor(&server, &sue_token, &call, Some("barge"));
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("call in progress"),
        "{body}"
    );

    // Every use is on the call's timeline.
    server.wait_for_ended_calls(1);
    let (status, text) = server.get(&format!("/api/calls/{call}"));
    assert_eq!(status, 200, "{text}");
    let record: Value = serde_json::from_str(&text).unwrap();
    let kinds: Vec<String> = record["events"]
        .as_array()
        .unwrap_or_else(|| panic!("events in {record}"))
        .iter()
        .filter(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("monitor")))
        .map(|e| {
            format!(
                "{}: {}",
                e["kind"].as_str().unwrap(),
                e["detail"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(kinds.len(), 5, "{kinds:#?}");
    assert!(kinds[0].starts_with("monitor: supervisor"), "{kinds:#?}");
    assert!(kinds[2].contains("listen → whisper"), "{kinds:#?}");
    assert!(kinds[3].contains("whisper → barge"), "{kinds:#?}");
    assert!(kinds[4].contains("stopped by the supervisor"), "{kinds:#?}");
}

/// Ann talks to a caller on her desk phone; both send their tones. The
/// caller's phone, Ann's phone and the call id.
fn talking(server: &Server, ann_token: &str) -> (Phone, Phone, String, Screen) {
    let mut screen = Screen::open(server, ann_token);
    screen.wait("hello", Duration::from_secs(5));
    let mut ann_phone = Phone::desk(server.sip, "ann", PASSWORD);
    assert_eq!(
        screen.command("r1", json!({ "type": "ready" }))["type"],
        "ok"
    );
    let caller = call_to_agent_queue(server, "13912340078");
    let offered = screen.wait("offered", Duration::from_secs(10));
    let call = offered["call"]["id"].as_str().unwrap().to_owned();
    ann_phone.pick_up(Duration::from_secs(5));
    screen.wait("answered", Duration::from_secs(5));
    caller.start_talking(&tone(CALLER_HZ, 60_000));
    ann_phone.start_talking(&tone(AGENT_HZ, 60_000));
    (caller, ann_phone, call, screen)
}

#[test]
fn from_the_wallboard_a_supervisor_listens_then_whispers_then_leaves() {
    if !have_browser() {
        return;
    }
    let server = Server::start(&[]);
    let (_ann, ann_token) = server.add_user("ann", "agent", PASSWORD);
    server.add_user("sue", "supervisor", PASSWORD);
    let mut sue_phone = Phone::desk(server.sip, "sue", PASSWORD);
    let (caller, ann_phone, call, _screen) = talking(&server, &ann_token);

    let shots = screenshots_dir();
    let mut page = Driver::open_page("wallboard.mjs", &server, "Asia/Shanghai", shots.as_deref());
    page.goto("/wallboard");
    page.login("sue", PASSWORD, "app");
    let row = format!("#calls tr[data-call='{call}']");
    page.wait_fn(
        &format!("document.querySelector(\"{row} button[data-mode='listen']\")"),
        Duration::from_secs(10),
    );

    // Listen: her phone rings; the row lights Listen once she answers.
    page.click(&format!("{row} button[data-mode='listen']"));
    sue_phone.pick_up(Duration::from_secs(5));
    sue_phone.start_talking(&tone(SUPERVISOR_HZ, 60_000));
    page.wait_fn(
        &format!(
            "document.querySelector(\"{row} button[data-mode='listen']\")?.getAttribute('aria-pressed') === 'true' \
             && !document.querySelector(\"{row} .monitor-ringing\")"
        ),
        Duration::from_secs(5),
    );
    let phones = [&caller, &ann_phone, &sue_phone];
    mixing_is(Some("listen"), phones);

    // Whisper from the same row: Ann hears her, the caller does not.
    page.click(&format!("{row} button[data-mode='whisper']"));
    page.wait_fn(
        &format!(
            "document.querySelector(\"{row} button[data-mode='whisper']\")?.getAttribute('aria-pressed') === 'true'"
        ),
        Duration::from_secs(5),
    );
    mixing_is(Some("whisper"), phones);
    let board = page.wait_fn("window.wallboard.state().board", Duration::from_secs(5));
    let entry = board["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == call.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{call} on the board: {board}"));
    assert_eq!(entry["monitor"]["mode"], "whisper", "{entry}");
    assert_eq!(entry["monitor"]["supervisor_name"], "sue", "{entry}");
    let cell = page.text(&format!("{row} td.col-monitor"));
    assert_eq!(
        cell, "ListenWhisperBargeLeave",
        "the buttons, and nothing else"
    );
    page.shot("wallboard-monitor");

    // Leave: her phone is hung up and the buttons are back to none lit.
    page.click(&format!("{row} button[data-mode='leave']"));
    assert!(sue_phone.wait_for_server_hangup(Duration::from_secs(5)));
    page.wait_fn(
        &format!(
            "!document.querySelector(\"{row} button[aria-pressed='true']\") \
             && document.querySelector(\"{row} button[data-mode='listen']\")"
        ),
        Duration::from_secs(5),
    );
    mixing_is(None, phones);
    page.assert_no_errors();
}
