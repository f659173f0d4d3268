//! End-to-end calls against the real server binary with sipp as the
//! caller, walking the demo after-sales flow: the call is answered, the
//! caller's keys (RFC 4733, replayed from sipp's own captures) choose the
//! path, the store looks up the ticket, and the path — nodes, keys,
//! lookups, prompts — is on the call's timeline with the hang-up's cause
//! and side.

mod common;

use common::{Server, have_sipp, scenario, sipp};
use serde_json::Value;

/// The call record of the only call, with its events.
fn only_call(server: &Server) -> Value {
    let list = server.wait_for_ended_calls(1);
    let calls = list["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{list}");
    let id = calls[0]["id"].as_str().unwrap();
    let (status, body) = server.get(&format!("/api/calls/{id}"));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn events(call: &Value) -> Vec<(String, String)> {
    call["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Asserts the timeline holds these (kind, detail prefix) entries in this
/// order, with anything in between.
#[track_caller]
fn assert_path(call: &Value, expected: &[(&str, &str)]) {
    let events = events(call);
    let mut at = 0;
    for (kind, detail) in expected {
        match events[at..]
            .iter()
            .position(|(k, d)| k == kind && d.starts_with(detail))
        {
            Some(i) => at += i + 1,
            None => panic!(
                "no `{kind}: {detail}` after entry {at} of the timeline:\n{}",
                events
                    .iter()
                    .map(|(k, d)| format!("  {k}: {d}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }
}

/// The packets hotline received on the call, from its `media` event.
fn packets_received(call: &Value) -> u64 {
    let (_, detail) = events(call)
        .into_iter()
        .find(|(k, _)| k == "media")
        .expect("a media event");
    detail
        .split_whitespace()
        .skip_while(|w| *w != "received")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count in `{detail}`"))
}

/// Runs one scenario call over `transport` (sipp's `-t`) and returns the
/// call's record.
fn walk(transport: &str, caller: &str, keys: &[(char, u64)], hold_ms: u64) -> Value {
    let server = Server::start(&[]);
    let path = scenario(caller, keys, hold_ms);
    let (ok, out) = sipp(
        path.to_str().unwrap(),
        server.sip,
        &["-t", transport, "-m", "1", "-rtp_echo"],
    );
    assert!(
        ok,
        "sipp failed:\n{out}\n--- server log ---\n{}",
        server.log()
    );
    let call = only_call(&server);
    assert_eq!(call["service_number"], "4008001234");
    assert_eq!(call["from_number"], caller);
    assert_eq!(call["hangup_cause"], "caller-bye", "{call}");
    assert_eq!(call["hangup_side"], "caller", "{call}");
    // sipp echoes every RTP packet it receives: what came back proves the
    // prompt audio reached the caller.
    assert!(packets_received(&call) > 50, "{call}");
    call
}

/// 3 for "where is my ticket", then the ticket number: the ticket's stage
/// is looked up and said.
fn ticket_status(transport: &str) {
    if !have_sipp() {
        return;
    }
    let mut keys = vec![('1', 1000), ('3', 1500)];
    // sipp replays one capture per key, each with its own fixed RTP
    // timestamp: keys more than a second apart are new presses to
    // hotline even when the timestamp goes back (media::session).
    keys.extend("2611250001".chars().map(|d| (d, 1100)));
    let call = walk(transport, "13700000000", &keys, 12_000);
    assert_eq!(call["digits"], "132611250001", "{call}");
    assert_path(
        &call,
        &[
            ("node", "hotline/hours (time)"),
            ("time", "open"),
            ("prompt", "zh: welcome"),
            ("dtmf", "1 (rfc4733)"),
            ("menu", "1 → mandarin"),
            ("lookup", "open_tickets 13700000000: not found"),
            ("node", "hotline/main (menu)"),
            ("menu", "3 → enter_ticket"),
            ("collect", "ticket_number=2611250001"),
            ("lookup", "ticket 2611250001: found"),
            ("prompt", "zh: ticket-status stage-dispatched"),
            ("prompt", "zh: ticket-outlet-phone"),
            ("hangup", "caller-bye"),
        ],
    );
}

#[test]
fn where_is_my_ticket_over_udp() {
    ticket_status("u1");
}

#[test]
fn where_is_my_ticket_over_tcp() {
    ticket_status("t1");
}

#[test]
fn a_caller_with_an_open_ticket_is_offered_it_then_reaches_the_agent_queue() {
    if !have_sipp() {
        return;
    }
    // 13800138000 has ticket 2611250001 open: "press 1 about it, 2 for
    // other services"; 2, then 0 for an agent.
    let call = walk(
        "u1",
        "13800138000",
        &[('2', 1000), ('2', 9000), ('0', 1500)],
        3000,
    );
    assert_path(
        &call,
        &[
            ("menu", "2 → english"),
            ("lookup", "open_tickets 13800138000: found tickets.count=1"),
            ("prompt", "en: ticket-offer"),
            (
                "prompt",
                "en: digit-2 digit-6 digit-1 digit-1 digit-2 digit-5 digit-0 digit-0 digit-0 digit-1",
            ),
            ("menu", "2 → main"),
            ("menu", "0 → agent"),
            ("queue", "general priority 5"),
            ("prompt", "en: queue-agent hold-music queue-hold"),
            ("hangup", "caller-bye"),
        ],
    );
}

#[test]
fn caller_hang_up_is_recorded_as_the_callers() {
    if !have_sipp() {
        return;
    }
    let server = Server::start(&[]);
    let (ok, out) = sipp(
        "caller_hangs_up.xml",
        server.sip,
        &["-t", "u1", "-m", "3", "-l", "3", "-d", "800", "-rtp_echo"],
    );
    assert!(ok, "sipp failed:\n{out}\n{}", server.log());
    let list = server.wait_for_ended_calls(3);
    for call in list["calls"].as_array().unwrap() {
        assert_eq!(call["hangup_cause"], "caller-bye", "{call}");
        assert_eq!(call["hangup_side"], "caller", "{call}");
        assert_eq!(call["digits"], "");
    }
}
