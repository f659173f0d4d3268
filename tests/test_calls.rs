//! `/api/test-calls` against the real binary, without a browser: who may
//! use it, and what bad input gets. (A browser calling through it is in
//! tests/softphone.rs; the call itself under simulated time is in the
//! engine's tests.)

mod common;

use common::{Server, http_request};
use serde_json::{Value, json};

fn send(
    server: &Server,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    let (status, text) = http_request(server.http, method, path, Some(token), body.as_deref());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn fields(v: &Value) -> Vec<&str> {
    v["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["field"].as_str()).collect())
        .unwrap_or_default()
}

/// An SDP offer as a browser makes it, but with Opus only.
const OPUS_ONLY: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\n\
a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n";

#[test]
fn test_calls_are_for_admins_and_refuse_bad_input_by_field() {
    let server = Server::start(&[]);
    let admin = server.token.clone();

    // Bad callers, garbage and G.711-less offers: 400 naming the field.
    for (body, field) in [
        (json!({"caller": "12", "sdp": OPUS_ONLY}), "caller"),
        (json!({"caller": "1380013800a", "sdp": OPUS_ONLY}), "caller"),
        (json!({"caller": "13800138000", "sdp": ""}), "sdp"),
        (
            json!({"caller": "13800138000", "sdp": "x".repeat(20_000)}),
            "sdp",
        ),
        (
            json!({"caller": "13800138000", "sdp": "v=0 garbage"}),
            "sdp",
        ),
        (json!({"caller": "13800138000", "sdp": OPUS_ONLY}), "sdp"),
    ] {
        let (status, v) = send(
            &server,
            "POST",
            "/api/test-calls",
            &admin,
            Some(body.clone()),
        );
        assert_eq!(status, 400, "{body}: {v}");
        assert_eq!(fields(&v), [field], "{v}");
    }
    let (status, v) = send(
        &server,
        "POST",
        "/api/test-calls",
        &admin,
        Some(json!({"caller": "13800138000", "sdp": OPUS_ONLY})),
    );
    assert!(
        v["error"].as_str().unwrap().contains("G.711"),
        "{status} {v}"
    );
    // Unknown fields and ids.
    let (status, _) = send(
        &server,
        "POST",
        "/api/test-calls",
        &admin,
        Some(json!({"caller": "13800138000", "sdp": "v=0", "extra": 1})),
    );
    assert_eq!(status, 400);
    for method in ["GET", "DELETE"] {
        let (status, v) = send(&server, method, "/api/test-calls/tc-nope", &admin, None);
        assert_eq!(status, 404, "{method}: {v}");
    }

    // An agent may not: 403; nobody signed in: 401.
    let (status, _) = send(
        &server,
        "POST",
        "/api/users",
        &admin,
        Some(
            json!({"username": "ana", "display_name": "Ana", "role": "agent",
                    "password": "agent-password-1"}),
        ),
    );
    assert_eq!(status, 201);
    let login = json!({"username": "ana", "password": "agent-password-1"}).to_string();
    let (_, text) = http_request(server.http, "POST", "/api/login", None, Some(&login));
    let agent = serde_json::from_str::<Value>(&text).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"caller": "13800138000", "sdp": OPUS_ONLY});
    let (status, _) = send(
        &server,
        "POST",
        "/api/test-calls",
        &agent,
        Some(body.clone()),
    );
    assert_eq!(status, 403);
    let (status, _) = http_request(
        server.http,
        "POST",
        "/api/test-calls",
        None,
        Some(&body.to_string()),
    );
    assert_eq!(status, 401);
}
