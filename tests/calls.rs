//! End-to-end calls against the real server binary with sipp as the caller:
//! the call is answered, audio flows both ways, the digits pressed end up in
//! the call record, and the hang-up is recorded with its cause and side.

mod common;

use common::{Server, have_sipp, sipp};
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

fn dtmf_call(transport: &str) {
    if !have_sipp() {
        return;
    }
    let server = Server::start(&[]);
    let (ok, out) = sipp(
        "caller_dtmf.xml",
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
    assert_eq!(call["from_number"], "13800138000");
    assert_eq!(call["digits"], "12", "{call}");
    assert!(call["answered_at"].as_i64().is_some(), "{call}");
    assert_eq!(call["hangup_cause"], "flow-complete", "{call}");
    assert_eq!(call["hangup_side"], "hotline", "{call}");
    let kinds: Vec<String> = events(&call).into_iter().map(|(k, _)| k).collect();
    for k in ["arrived", "answered", "dtmf", "hangup"] {
        assert!(kinds.iter().any(|x| x == k), "no {k} event in {kinds:?}");
    }
    // sipp echoes every RTP packet it receives: what came back proves the
    // prompt audio reached the caller.
    assert!(packets_received(&call) > 50, "{call}");
}

#[test]
fn caller_over_udp_presses_digits_that_are_recorded() {
    dtmf_call("u1");
}

#[test]
fn caller_over_tcp_presses_digits_that_are_recorded() {
    dtmf_call("t1");
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
