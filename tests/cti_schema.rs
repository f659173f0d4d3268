//! docs/cti-protocol.schema.json against the protocol as the code has it
//! (`hotline::cti`) and against the examples of docs/cti-protocol.md, so
//! that neither document drifts from the server:
//! - every [`Event`] variant is built with the real types (a [`StateView`]
//!   in every state, with and without its optional fields, a [`CallView`],
//!   a real [`ScreenPop`]), serialised as the server does and validated
//!   against the schema's `event`;
//! - every example of the document is validated against the schema
//!   (` ```json command`, ` ```json event`, ` ```json pop` blocks, and the
//!   `→`/`←` lines of ` ```text exchange` blocks), and every command example
//!   must also deserialise into [`Request`];
//! - malformed commands must be refused by both, and the few places where
//!   the server and the schema differ (listed in the document) are pinned;
//! - every error code, not-ready reason and `why` written in the server's
//!   code (src/acd/mod.rs, src/engine/desk.rs, src/engine/consult.rs,
//!   src/api/cti.rs, read as text) is named by the document, and every
//!   error code by the schema; the stages of the `consult` event written
//!   there are those of the schema, and the ways a consultation ends are
//!   in the document.
//!
//! The validator is python3's `jsonschema` (draft 2020-12; a dependency of
//! openapi-spec-validator, which scripts/test.sh installs), run once for
//! every case of this file. Without it the schema checks are skipped with a
//! warning, and fail under CI=true; the Rust-side checks always run.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use hotline::cti::{
    AgentView, CallView, Command, Event, IceServer, PROTOCOL, Request, SoftphoneView, StateView,
};
use hotline::store::{
    PopCall, PopCustomer, Product, ScreenPop, TicketKind, TicketStage, TicketSummary,
};
use serde_json::{Value, json};

const SCHEMA: &str = include_str!("../docs/cti-protocol.schema.json");
const DOC: &str = include_str!("../docs/cti-protocol.md");
const DOC_PATH: &str = "docs/cti-protocol.md";
/// Where the server's code writes its error codes, reasons and whys.
const SOURCES: &[(&str, &str)] = &[
    ("src/acd/mod.rs", include_str!("../src/acd/mod.rs")),
    ("src/engine/desk.rs", include_str!("../src/engine/desk.rs")),
    (
        "src/engine/consult.rs",
        include_str!("../src/engine/consult.rs"),
    ),
    ("src/api/cti.rs", include_str!("../src/api/cti.rs")),
];

// ----- the protocol's names, tied to the Rust types ---------------------

/// Every command type. [`command_type`] is an exhaustive match: a new
/// `Command` variant does not compile until it is named here, and then
/// the schema and the document must have it too.
const COMMAND_TYPES: &[&str] = &[
    "ready",
    "not_ready",
    "logout",
    "reject",
    "hang_up",
    "hold",
    "resume",
    "pause_recording",
    "resume_recording",
    "transfer",
    "dtmf",
    "consult",
    "complete_transfer",
    "cancel_transfer",
    "end_wrap_up",
    "extend_wrap_up",
    "softphone",
    "answer",
    "media_offer",
    "ice_candidate",
];

fn command_type(c: &Command) -> &'static str {
    match c {
        Command::Ready => "ready",
        Command::NotReady { .. } => "not_ready",
        Command::Logout => "logout",
        Command::Reject { .. } => "reject",
        Command::HangUp { .. } => "hang_up",
        Command::Hold { .. } => "hold",
        Command::Resume { .. } => "resume",
        Command::PauseRecording { .. } => "pause_recording",
        Command::ResumeRecording { .. } => "resume_recording",
        Command::Transfer { .. } => "transfer",
        Command::Dtmf { .. } => "dtmf",
        Command::Consult { .. } => "consult",
        Command::CompleteTransfer { .. } => "complete_transfer",
        Command::CancelTransfer { .. } => "cancel_transfer",
        Command::EndWrapUp { .. } => "end_wrap_up",
        Command::ExtendWrapUp { .. } => "extend_wrap_up",
        Command::Softphone => "softphone",
        Command::Answer { .. } => "answer",
        Command::MediaOffer { .. } => "media_offer",
        Command::IceCandidate { .. } => "ice_candidate",
    }
}

/// Every event type; [`event_type`] is exhaustive likewise.
const EVENT_TYPES: &[&str] = &[
    "hello",
    "state",
    "offered",
    "offer_cancelled",
    "answered",
    "held",
    "resumed",
    "recording",
    "ended",
    "consult",
    "ok",
    "error",
    "media_answer",
    "media",
];

fn event_type(e: &Event) -> &'static str {
    match e {
        Event::Hello { .. } => "hello",
        Event::State { .. } => "state",
        Event::Offered { .. } => "offered",
        Event::OfferCancelled { .. } => "offer_cancelled",
        Event::Answered { .. } => "answered",
        Event::Held { .. } => "held",
        Event::Resumed { .. } => "resumed",
        Event::Recording { .. } => "recording",
        Event::Ended { .. } => "ended",
        Event::Consult { .. } => "consult",
        Event::Ok { .. } => "ok",
        Event::Error { .. } => "error",
        Event::MediaAnswer { .. } => "media_answer",
        Event::Media { .. } => "media",
    }
}

/// The agent states (`AgentState::name`).
const STATE_NAMES: &[&str] = &[
    "logged_out",
    "ready",
    "not_ready",
    "ringing",
    "on_call",
    "on_hold",
    "consulted",
    "wrap_up",
];

/// The error codes, as `Event::Error` lists them in src/cti.rs.
const ERROR_CODES: &[&str] = &[
    "bad_command",
    "wrong_state",
    "no_such_call",
    "not_your_call",
    "unknown_queue",
    "unknown_agent",
    "unknown_number",
    "unknown_reason",
    "no_phone",
    "bad_media",
    "no_softphone",
    "not_recorded",
    "replaced",
    "session_ended",
];

/// The `why` of `offer_cancelled`: that of every change from ringing to
/// anything but on_call (src/acd/mod.rs).
const OFFER_CANCELLED_WHYS: &[&str] = &[
    "rejected",
    "caller left",
    "caller left the queue",
    "answered elsewhere",
    "ring timeout",
    "missed offers",
    "overflowed",
    "screen closed",
    "no phone registered",
];

/// The stages of the `consult` event (`Event::Consult::stage`, written in
/// src/engine/consult.rs).
const CONSULT_STAGES: &[&str] = &["ringing", "talking", "ended"];

// ----- events built with the real types ---------------------------------

const CALL: &str = "019b785fc1603fa2c1d7";
const T: i64 = 1_767_251_100_000;

fn call_view() -> CallView {
    CallView {
        id: CALL.into(),
        caller: "+86 138 1234 5678".into(),
        service_number: "4008001234".into(),
        queue: "repair".into(),
        arrived_ms: T,
        queued_ms: T + 18_000,
        digits: "11".into(),
        ivr_path: vec!["1 → mandarin".into(), "1 → repair".into()],
        language: "zh".into(),
        campaign: None,
    }
}

/// A call that never went through a menu (empty digits, path, queue).
fn bare_call_view() -> CallView {
    CallView {
        id: "019b785fc16000000001".into(),
        caller: String::new(),
        service_number: "4008001234".into(),
        queue: String::new(),
        arrived_ms: T,
        queued_ms: T,
        digits: String::new(),
        ivr_path: Vec::new(),
        language: "en".into(),
        // A callback the customer asked for: hotline called them.
        campaign: Some("callbacks".into()),
    }
}

fn softphone() -> SoftphoneView {
    SoftphoneView {
        ice_servers: vec![
            IceServer {
                urls: vec!["stun:stun.example.com:3478".into()],
                username: String::new(),
                credential: String::new(),
            },
            IceServer {
                urls: vec!["turn:turn.example.com:3478?transport=udp".into()],
                username: "agents".into(),
                credential: "s3cret".into(),
            },
        ],
        reattach_secs: 60,
    }
}

fn agent_view() -> AgentView {
    AgentView {
        id: 12,
        username: "lina".into(),
        display_name: "李娜".into(),
        queues: vec!["repair".into(), "general".into()],
    }
}

/// A screen pop as the dispatcher puts it in `offered` (the store's
/// `ScreenPop`, through `serde_json::to_value`).
fn screen_pop(known: bool) -> Value {
    let pop = if known {
        ScreenPop {
            customer: Some(PopCustomer {
                id: 7,
                name: "周晓梅".into(),
                region: "浙江省杭州市西湖区".into(),
                address: "文三路 90 号".into(),
                vip: true,
                phones: vec!["057188881234".into(), "13812345678".into()],
                products: vec![
                    Product {
                        id: 31,
                        customer_id: 7,
                        model: "KFR-35GW/N1".into(),
                        serial: "A1923004417".into(),
                        purchase_date: Some("2024-06-18".into()),
                        warranty_end: Some("2027-06-17".into()),
                    },
                    Product {
                        id: 40,
                        customer_id: 7,
                        model: "XQG100-B14".into(),
                        serial: String::new(),
                        purchase_date: None,
                        warranty_end: None,
                    },
                ],
            }),
            recent_calls: vec![
                PopCall {
                    id: "019b302fd6000e5b77a1".into(),
                    caller: "13812345678".into(),
                    arrived_at: T - 1_000_000,
                    answered_at: Some(T - 970_000),
                    ended_at: Some(T - 700_000),
                    digits: "11".into(),
                    hangup_cause: Some("caller-bye".into()),
                    direction: "inbound".into(),
                    campaign: None,
                },
                PopCall {
                    id: "019af232b2009c04d3e2".into(),
                    caller: "057188881234".into(),
                    arrived_at: T - 9_000_000,
                    answered_at: None,
                    ended_at: None,
                    digits: String::new(),
                    hangup_cause: None,
                    direction: "outbound".into(),
                    campaign: Some("follow-up".into()),
                },
            ],
            open_tickets: vec![
                TicketSummary {
                    number: "2512180003".into(),
                    kind: TicketKind::Repair,
                    category: "no-cooling".into(),
                    stage: TicketStage::Dispatched,
                    customer_id: 7,
                    outlet_code: Some("HZ-XIHU".into()),
                    outlet_name: Some("杭州西湖服务网点".into()),
                    outlet_phone: Some("057187654321".into()),
                    product_model: Some("KFR-35GW/N1".into()),
                    created_at: T - 700_000,
                    updated_at: T - 600_000,
                },
                TicketSummary {
                    number: "2512190001".into(),
                    kind: TicketKind::Complaint,
                    category: "outlet-behaviour".into(),
                    stage: TicketStage::Reopened,
                    customer_id: 7,
                    outlet_code: None,
                    outlet_name: None,
                    outlet_phone: None,
                    product_model: None,
                    created_at: T - 500_000,
                    updated_at: T - 400_000,
                },
            ],
        }
    } else {
        ScreenPop {
            customer: None,
            recent_calls: Vec::new(),
            open_tickets: Vec::new(),
        }
    };
    serde_json::to_value(pop).expect("a screen pop serialises")
}

/// A state as `Engine::state_view` makes it: the optional fields exactly
/// where the engine fills them in.
fn state(name: &'static str) -> StateView {
    let (reason, until_ms, call) = match name {
        "not_ready" => (Some("break".to_owned()), None, None),
        "ringing" => (None, Some(T + 20_000), Some(CALL.to_owned())),
        "on_call" | "on_hold" | "consulted" => (None, None, Some(CALL.to_owned())),
        "wrap_up" => (None, Some(T + 30_000), Some(CALL.to_owned())),
        _ => (None, None, None),
    };
    StateView {
        name,
        reason,
        since_ms: T,
        until_ms,
        call,
    }
}

/// Every event the server can send, each variant at least once, with
/// names for the failure messages.
fn server_events() -> Vec<(String, Event)> {
    let hello = |state: StateView, call: Option<CallView>, pop: Option<Value>| Event::Hello {
        protocol: PROTOCOL,
        agent: agent_view(),
        state,
        call,
        pop,
        not_ready_reasons: vec!["break".into(), "meal".into()],
        queues: vec!["repair".into(), "general".into(), "complaint".into()],
        softphone: Some(softphone()),
    };
    let mut events = vec![
        (
            "hello, first connection".into(),
            hello(state("not_ready"), None, None),
        ),
        (
            "hello, reconnect during a call".into(),
            hello(state("on_call"), Some(call_view()), Some(screen_pop(true))),
        ),
        (
            "hello, ringing, pop unknown".into(),
            hello(state("ringing"), Some(call_view()), None),
        ),
        (
            "hello, reconnect in wrap-up".into(),
            hello(state("wrap_up"), None, None),
        ),
        (
            "hello, no queues, no reasons".into(),
            Event::Hello {
                protocol: PROTOCOL,
                agent: AgentView {
                    queues: Vec::new(),
                    ..agent_view()
                },
                state: state("logged_out"),
                call: None,
                pop: None,
                not_ready_reasons: Vec::new(),
                queues: Vec::new(),
                softphone: None,
            },
        ),
        (
            "offered with a known caller".into(),
            Event::Offered {
                call: call_view(),
                pop: Some(screen_pop(true)),
            },
        ),
        (
            "offered with an unknown caller".into(),
            Event::Offered {
                call: bare_call_view(),
                pop: Some(screen_pop(false)),
            },
        ),
        (
            "offered, pop too slow".into(),
            Event::Offered {
                call: call_view(),
                pop: None,
            },
        ),
        ("answered".into(), Event::Answered { call: CALL.into() }),
        ("held".into(), Event::Held { call: CALL.into() }),
        ("resumed".into(), Event::Resumed { call: CALL.into() }),
        (
            "recording".into(),
            Event::Recording {
                call: CALL.into(),
                paused: true,
                by: "agent 12".into(),
            },
        ),
        (
            "ok with id".into(),
            Event::Ok {
                id: Some("7".into()),
            },
        ),
        ("ok without id".into(), Event::Ok { id: None }),
        (
            "media_answer".into(),
            Event::MediaAnswer {
                call: CALL.into(),
                sdp: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n".into(),
            },
        ),
    ];
    for (state, why) in [
        ("connected", "audio connected"),
        ("lost", "no audio from the browser"),
        ("failed", "no connection within 10 s"),
    ] {
        events.push((
            format!("media {state}"),
            Event::Media {
                call: CALL.into(),
                state,
                why: why.into(),
            },
        ));
    }
    for &name in STATE_NAMES {
        events.push((
            format!("state {name}"),
            Event::State {
                state: state(name),
                previous: "ready",
                why: "agent".into(),
            },
        ));
    }
    for &why in OFFER_CANCELLED_WHYS {
        events.push((
            format!("offer_cancelled {why}"),
            Event::OfferCancelled {
                call: CALL.into(),
                why: why.into(),
            },
        ));
    }
    // The optional fields left out where the schema allows it: a call the
    // server no longer knows has no `call`.
    for name in ["ringing", "on_call", "on_hold", "consulted", "wrap_up"] {
        events.push((
            format!("state {name} without its call"),
            Event::State {
                state: StateView {
                    call: None,
                    ..state(name)
                },
                previous: "ready",
                why: "offered".into(),
            },
        ));
    }
    for cause in [
        "caller-bye",
        "agent-bye",
        "agent-hangup",
        "transferred",
        "agent-vanished",
        "consultation cancelled",
        "consultation the caller hung up",
        "consultation not answered (486)",
        "consultation agent-bye",
    ] {
        events.push((
            format!("ended {cause}"),
            Event::Ended {
                call: CALL.into(),
                cause: cause.into(),
            },
        ));
    }
    for &stage in CONSULT_STAGES {
        let why = (stage == "ended").then(|| "not answered (486)".to_owned());
        events.push((
            format!("consult {stage}"),
            Event::Consult {
                call: CALL.into(),
                agent: 31,
                stage,
                why,
            },
        ));
    }
    for why in ["cancelled", "the caller hung up", "agent-bye"] {
        events.push((
            format!("consult ended, {why}"),
            Event::Consult {
                call: CALL.into(),
                agent: 31,
                stage: "ended",
                why: Some(why.into()),
            },
        ));
    }
    for &code in ERROR_CODES {
        events.push((
            format!("error {code}"),
            Event::error(Some("9".into()), code, "refused"),
        ));
        events.push((
            format!("error {code} without id"),
            Event::error(None, code, ""),
        ));
    }
    events
}

/// Events the server never sends, most of them expressible with the real
/// types: the schema must refuse them, or it is not as precise as the
/// document says.
fn impossible_events() -> Vec<(String, Value)> {
    let st = |name, reason: Option<&str>, until_ms, call: Option<&str>| Event::State {
        state: StateView {
            name,
            reason: reason.map(str::to_owned),
            since_ms: T,
            until_ms,
            call: call.map(str::to_owned),
        },
        previous: "ready",
        why: "agent".into(),
    };
    let consult = |stage, why: Option<&str>| Event::Consult {
        call: CALL.into(),
        agent: 31,
        stage,
        why: why.map(str::to_owned),
    };
    let hello_without = |field: &str| {
        let mut v = serde_json::to_value(Event::Hello {
            protocol: PROTOCOL,
            agent: agent_view(),
            state: state("ready"),
            call: None,
            pop: None,
            not_ready_reasons: Vec::new(),
            queues: Vec::new(),
            softphone: None,
        })
        .unwrap();
        v.as_object_mut().unwrap().remove(field);
        v
    };
    let typed = vec![
        (
            "ready with a reason".into(),
            st("ready", Some("break"), None, None),
        ),
        (
            "not_ready without reason".into(),
            st("not_ready", None, None, None),
        ),
        (
            "ringing without until_ms".into(),
            st("ringing", None, None, Some(CALL)),
        ),
        (
            "on_call with until_ms".into(),
            st("on_call", None, Some(T), Some(CALL)),
        ),
        (
            "ready with a call".into(),
            st("ready", None, None, Some(CALL)),
        ),
        (
            "not_ready with a call".into(),
            st("not_ready", Some("break"), None, Some(CALL)),
        ),
        (
            "a state name that is none".into(),
            st("busy", None, None, None),
        ),
        (
            "consulted with until_ms".into(),
            st("consulted", None, Some(T), Some(CALL)),
        ),
        (
            "consulted with a reason".into(),
            st("consulted", Some("break"), None, Some(CALL)),
        ),
        (
            "a consult stage that is none".into(),
            consult("dialling", None),
        ),
        ("a consult ended without why".into(), consult("ended", None)),
        (
            "a consult ringing with a why".into(),
            consult("ringing", Some("cancelled")),
        ),
        (
            "previous that is no state".into(),
            Event::State {
                state: state("ready"),
                previous: "away",
                why: "agent".into(),
            },
        ),
        (
            "an error code that is none".into(),
            Event::error(None, "oops", "no such code"),
        ),
        (
            "the error code taken, removed".into(),
            Event::error(None, "taken", "too late"),
        ),
        (
            "hello of another version".into(),
            Event::Hello {
                protocol: PROTOCOL + 1,
                agent: agent_view(),
                state: state("ready"),
                call: None,
                pop: None,
                not_ready_reasons: Vec::new(),
                queues: Vec::new(),
                softphone: None,
            },
        ),
        (
            "a pop without its lists".into(),
            Event::Offered {
                call: call_view(),
                pop: Some(json!({ "customer": null })),
            },
        ),
    ];
    let mut values: Vec<(String, Value)> = typed
        .into_iter()
        .map(|(name, e)| (name, serde_json::to_value(e).unwrap()))
        .collect();
    values.push(("hello without call".into(), hello_without("call")));
    values.push(("hello without pop".into(), hello_without("pop")));
    values.push((
        "a consult naming its agent as text".into(),
        json!({"type": "consult", "call": CALL, "agent": "31", "stage": "ringing"}),
    ));
    values
}

// ----- the document's examples ------------------------------------------

/// A JSON message of docs/cti-protocol.md.
struct Example {
    /// `docs/cti-protocol.md:LINE`.
    at: String,
    /// The schema definition it must match: command, event or screen_pop.
    def: &'static str,
    text: String,
}

/// Every example of the document, by its fence's info string: ` ```json
/// command|event|pop` is one message; in ` ```text exchange` a line
/// starting `→` is a command and `←` an event, and other lines are prose.
/// An untagged ` ```json` block is an error: every example is checked.
fn doc_examples() -> Vec<Example> {
    let mut examples = Vec::new();
    let mut lines = DOC.lines().enumerate().map(|(i, l)| (i + 1, l));
    while let Some((open_at, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let info = info.trim().to_owned();
        let body: Vec<(usize, &str)> = lines.by_ref().take_while(|(_, l)| *l != "```").collect();
        let at = |n: usize| format!("{DOC_PATH}:{n}");
        let whole = || body.iter().map(|(_, l)| *l).collect::<Vec<_>>().join("\n");
        match info.as_str() {
            "json command" => examples.push(Example {
                at: at(open_at),
                def: "command",
                text: whole(),
            }),
            "json event" => examples.push(Example {
                at: at(open_at),
                def: "event",
                text: whole(),
            }),
            "json pop" => examples.push(Example {
                at: at(open_at),
                def: "screen_pop",
                text: whole(),
            }),
            "text exchange" => {
                for &(n, l) in &body {
                    if let Some(msg) = l.strip_prefix('→') {
                        examples.push(Example {
                            at: at(n),
                            def: "command",
                            text: msg.trim().to_owned(),
                        });
                    } else if let Some(msg) = l.strip_prefix('←') {
                        examples.push(Example {
                            at: at(n),
                            def: "event",
                            text: msg.trim().to_owned(),
                        });
                    } else {
                        assert!(
                            !l.contains('{'),
                            "{}: a message in an exchange must start with → or ←",
                            at(n)
                        );
                    }
                }
            }
            i if i == "json" || i.starts_with("json ") => {
                panic!(
                    "{}: tag the example as ```json command, ```json event or ```json pop",
                    at(open_at)
                )
            }
            _ => {}
        }
    }
    examples
}

fn parse_example(e: &Example) -> Value {
    serde_json::from_str(&e.text).unwrap_or_else(|err| panic!("{}: not JSON: {err}", e.at))
}

// ----- commands that must be refused, and where the two differ ----------

/// Malformed commands: the server answers `bad_command` (they do not
/// deserialise) and the schema refuses them.
const MALFORMED_COMMANDS: &[(&str, &str)] = &[
    (
        "unknown type",
        r#"{"type": "pick_up", "call": "019b785fc1603fa2c1d7"}"#,
    ),
    ("type in another case", r#"{"type": "Ready"}"#),
    ("no type", r#"{"id": "1"}"#),
    ("missing call", r#"{"type": "hold", "id": "1"}"#),
    (
        "transfer missing call",
        r#"{"type": "transfer", "queue": "general"}"#,
    ),
    (
        "agent as text",
        r#"{"type": "transfer", "call": "019b785fc1603fa2c1d7", "agent": "31"}"#,
    ),
    (
        "digits missing",
        r#"{"type": "dtmf", "call": "019b785fc1603fa2c1d7"}"#,
    ),
    (
        "digits as a number",
        r#"{"type": "dtmf", "call": "019b785fc1603fa2c1d7", "digits": 1}"#,
    ),
    (
        "number as a number",
        r#"{"type": "transfer", "call": "019b785fc1603fa2c1d7", "number": 57187654321}"#,
    ),
    (
        "queue as a number",
        r#"{"type": "transfer", "call": "019b785fc1603fa2c1d7", "queue": 3}"#,
    ),
    (
        "consult missing agent",
        r#"{"type": "consult", "call": "019b785fc1603fa2c1d7"}"#,
    ),
    (
        "consult with a null agent",
        r#"{"type": "consult", "call": "019b785fc1603fa2c1d7", "agent": null}"#,
    ),
    (
        "consult agent as text",
        r#"{"type": "consult", "call": "019b785fc1603fa2c1d7", "agent": "31"}"#,
    ),
    (
        "consult missing call",
        r#"{"type": "consult", "agent": 31}"#,
    ),
    (
        "complete_transfer missing call",
        r#"{"type": "complete_transfer", "id": "1"}"#,
    ),
    (
        "cancel_transfer call is a number",
        r#"{"type": "cancel_transfer", "call": 42}"#,
    ),
    ("missing reason", r#"{"type": "not_ready"}"#),
    (
        "media_offer without sdp",
        r#"{"type": "media_offer", "call": "019b785fc1603fa2c1d7"}"#,
    ),
    (
        "media_offer sdp as an object",
        r#"{"type": "media_offer", "call": "019b785fc1603fa2c1d7", "sdp": {"type": "offer"}}"#,
    ),
    (
        "ice_candidate without candidate",
        r#"{"type": "ice_candidate", "call": "019b785fc1603fa2c1d7"}"#,
    ),
    ("answer without call", r#"{"type": "answer"}"#),
    (
        "missing disposition",
        r#"{"type": "end_wrap_up", "notes": "x"}"#,
    ),
    ("call is a number", r#"{"type": "reject", "call": 42}"#),
    ("id is a number", r#"{"type": "ready", "id": 1}"#),
    (
        "negative seconds",
        r#"{"type": "extend_wrap_up", "seconds": -5}"#,
    ),
    (
        "seconds as text",
        r#"{"type": "extend_wrap_up", "seconds": "60"}"#,
    ),
    (
        "seconds beyond u32",
        r#"{"type": "extend_wrap_up", "seconds": 4294967296}"#,
    ),
    (
        "notes null",
        r#"{"type": "end_wrap_up", "disposition": "ok", "notes": null}"#,
    ),
    ("not an object", r#"["ready"]"#),
    ("a bare string", r#""ready""#),
];

/// Where the server and the schema knowingly differ (docs/cti-protocol.md,
/// "Commands and their answers"): (name, text, server takes it, schema
/// takes it).
const DIFFERENCES: &[(&str, &str, bool, bool)] = &[
    (
        "an unknown field",
        r#"{"type": "ready", "id": "1", "colour": "blue"}"#,
        true,
        false,
    ),
    ("a null id", r#"{"type": "ready", "id": null}"#, true, false),
    (
        "a null queue beside an agent",
        r#"{"type": "transfer", "call": "019b785fc1603fa2c1d7", "queue": null, "agent": 31}"#,
        true,
        false,
    ),
    (
        "seconds with a zero fraction",
        r#"{"type": "extend_wrap_up", "seconds": 60.0}"#,
        false,
        true,
    ),
    (
        "agent with a zero fraction",
        r#"{"type": "transfer", "call": "019b785fc1603fa2c1d7", "agent": 31.0}"#,
        false,
        true,
    ),
    (
        "a consulted agent with a zero fraction",
        r#"{"type": "consult", "call": "019b785fc1603fa2c1d7", "agent": 31.0}"#,
        false,
        true,
    ),
    (
        "a consult with an unknown field",
        r#"{"type": "consult", "call": "019b785fc1603fa2c1d7", "agent": 31, "queue": "general"}"#,
        true,
        false,
    ),
    // Deserialise, then the engine answers bad_command.
    (
        "a disposition that is not a code",
        r#"{"type": "end_wrap_up", "disposition": "called back later"}"#,
        true,
        false,
    ),
    (
        "seconds 0",
        r#"{"type": "extend_wrap_up", "seconds": 0}"#,
        true,
        false,
    ),
    (
        "seconds over 600",
        r#"{"type": "extend_wrap_up", "seconds": 601}"#,
        true,
        false,
    ),
    (
        "digits with a character that is not a key",
        r#"{"type": "dtmf", "call": "019b785fc1603fa2c1d7", "digits": "1z"}"#,
        true,
        false,
    ),
    (
        "no digits",
        r#"{"type": "dtmf", "call": "019b785fc1603fa2c1d7", "digits": ""}"#,
        true,
        false,
    ),
    (
        "33 keys",
        r#"{"type": "dtmf", "call": "019b785fc1603fa2c1d7", "digits": "123456789012345678901234567890123"}"#,
        true,
        false,
    ),
    (
        "a transfer to neither queue nor agent",
        r#"{"type": "transfer", "call": "019b785fc1603fa2c1d7"}"#,
        true,
        false,
    ),
    (
        "a transfer to both a queue and an agent",
        r#"{"type": "transfer", "call": "019b785fc1603fa2c1d7", "queue": "general", "agent": 31}"#,
        true,
        false,
    ),
    (
        "a transfer to an agent and a number",
        r#"{"type": "transfer", "call": "019b785fc1603fa2c1d7", "agent": 31, "number": "110"}"#,
        true,
        false,
    ),
    (
        "a transfer to all three",
        r#"{"type": "transfer", "call": "019b785fc1603fa2c1d7", "queue": "general", "agent": 31, "number": "110"}"#,
        true,
        false,
    ),
];

fn difference(name: &str) -> &'static str {
    DIFFERENCES
        .iter()
        .find(|d| d.0 == name)
        .unwrap_or_else(|| panic!("no difference {name:?}"))
        .1
}

// ----- what the server's code writes ------------------------------------

/// The string literals of each call `open...);` in `text`, whitespace
/// collapsed: `.set_state(agent, to, now, "offered");` gives `["offered"]`.
fn call_literals(text: &str, open: &str) -> Vec<Vec<String>> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    text.match_indices(open)
        .map(|(at, _)| {
            let rest = &text[at + open.len()..];
            let args = &rest[..rest.find(");").unwrap_or(rest.len())];
            args.split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// The literal after each `prefix` in `text` (whitespace removed first),
/// up to its closing quote.
fn literals_after(text: &str, prefix: &str) -> Vec<String> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    text.match_indices(prefix)
        .filter_map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            Some(rest[..rest.find('"')?].to_owned())
        })
        .collect()
}

/// Names found in the code, each with the file it was found in.
type Found = BTreeSet<(String, &'static str)>;

/// The table of the document whose header row is `header`, up to the
/// first line that is not a row.
fn doc_table(header: &str) -> String {
    let at = DOC
        .find(header)
        .unwrap_or_else(|| panic!("{DOC_PATH} has no table {header:?}"));
    DOC[at..]
        .lines()
        .take_while(|l| l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The state names `AgentState::name` gives (src/acd/mod.rs).
fn state_names_of_the_server() -> BTreeSet<String> {
    let (_, acd) = SOURCES[0];
    let at = acd
        .find("pub fn name(&self)")
        .expect("AgentState::name in src/acd/mod.rs");
    let body = &acd[at..];
    let body = &body[..body.find("\n    }\n").expect("the end of AgentState::name")];
    literals_after(body, "=>\"").into_iter().collect()
}

/// The body of `fn name` in the source `path` of [`SOURCES`], up to the
/// end of the function (a method: indented four spaces).
fn fn_body(path: &str, name: &str) -> &'static str {
    let (_, text) = SOURCES
        .iter()
        .find(|(p, _)| *p == path)
        .unwrap_or_else(|| panic!("{path} is not read"));
    let at = text
        .find(&format!("fn {name}("))
        .unwrap_or_else(|| panic!("fn {name} in {path}"));
    let body = &text[at..];
    &body[..body
        .find("\n    }\n")
        .unwrap_or_else(|| panic!("the end of fn {name} in {path}"))]
}

/// The (reason, why) pairs `Engine::update_away` gives the ACD for an
/// agent who cannot take calls: `Some(("disconnected", "screen closed"))`.
fn away_of_the_server() -> Vec<(String, String)> {
    let body = fn_body("src/engine/desk.rs", "update_away");
    let pairs: Vec<(String, String)> = body
        .split("Some((\"")
        .skip(1)
        .map(|rest| {
            let pair = &rest[..rest.find("\"))").expect("a pair of literals")];
            let lits: Vec<&str> = pair.split('"').collect();
            assert!(
                lits.len() == 3 && lits[1].trim() == ",",
                "not a (reason, why) pair in update_away: {pair:?}"
            );
            (lits[0].to_owned(), lits[2].to_owned())
        })
        .collect();
    assert!(!pairs.is_empty(), "no (reason, why) pair in update_away");
    pairs
}

/// What the server's code writes: (whys of state changes, not-ready
/// reasons it sets, error codes).
fn written_by_the_server() -> (Found, Found, Found) {
    let (mut whys, mut reasons, mut codes) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for &(path, text) in SOURCES {
        for lits in call_literals(text, ".set_state(") {
            if let Some(why) = lits.last() {
                whys.insert((why.clone(), path));
            }
        }
        // pause(agent, reason, why, now): a literal reason, a literal why.
        for lits in call_literals(text, ".pause(") {
            match lits.as_slice() {
                [reason, why] => {
                    reasons.insert((reason.clone(), path));
                    whys.insert((why.clone(), path));
                }
                [why] => {
                    whys.insert((why.clone(), path));
                }
                _ => {}
            }
        }
        for r in literals_after(text, "reason:\"") {
            reasons.insert((r, path));
        }
        // update_away: every change to ready becomes this pause.
        if path == "src/engine/desk.rs" {
            for (reason, why) in away_of_the_server() {
                reasons.insert((reason, path));
                whys.insert((why, path));
            }
        }
        for prefix in [
            "Err((\"",
            "=>(\"",
            "=>{(\"",
            "Event::error(None,\"",
            "Event::error(id(),\"",
        ] {
            for c in literals_after(text, prefix) {
                codes.insert((c, path));
            }
        }
    }
    (whys, reasons, codes)
}

// ----- the validator ----------------------------------------------------

/// One value to validate against one definition of the schema.
struct Case {
    key: String,
    def: &'static str,
    instance: Value,
}

fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (name, e) in server_events() {
        cases.push(Case {
            key: format!("server event: {name}"),
            def: "event",
            instance: serde_json::to_value(&e).unwrap(),
        });
    }
    for (name, instance) in impossible_events() {
        cases.push(Case {
            key: format!("impossible event: {name}"),
            def: "event",
            instance,
        });
    }
    for e in doc_examples() {
        cases.push(Case {
            key: e.at.clone(),
            def: e.def,
            instance: parse_example(&e),
        });
    }
    for (name, text) in MALFORMED_COMMANDS {
        cases.push(Case {
            key: format!("malformed: {name}"),
            def: "command",
            instance: serde_json::from_str(text).unwrap(),
        });
    }
    for (name, text, _, _) in DIFFERENCES {
        cases.push(Case {
            key: format!("difference: {name}"),
            def: "command",
            instance: serde_json::from_str(text).unwrap(),
        });
    }
    cases
}

/// Validates every case; prints the validator's complaints, one list per
/// case (empty: valid). For a `oneOf` it names the complaints of the one
/// alternative whose `type` matched.
const VALIDATE_PY: &str = r##"
import json, sys
from jsonschema import Draft202012Validator

def describe(e):
    text = "/" + "/".join(str(p) for p in e.absolute_path) + ": " + e.message
    if e.validator == "oneOf" and e.context:
        branches = {}
        for c in e.context:
            branches.setdefault(c.relative_schema_path[0], []).append(c)
        typed = [cs for cs in branches.values()
                 if not any(list(c.relative_path)[:1] == ["type"] for c in cs)]
        if len(typed) == 1:
            text += " -- " + "; ".join(describe(c) for c in typed[0])
    return text

with open(sys.argv[1], encoding="utf-8") as f:
    data = json.load(f)
schema = data["schema"]
Draft202012Validator.check_schema(schema)
validators = {}
verdicts = []
for case in data["cases"]:
    d = case["def"]
    if d not in validators:
        validators[d] = Draft202012Validator(
            {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/" + d})
    verdicts.append([describe(e) for e in validators[d].iter_errors(case["instance"])])
json.dump(verdicts, sys.stdout)
"##;

/// The validator's complaints per case key; `None` when python3 or
/// jsonschema is missing (and CI is not set). Computed once, in one
/// python process, for all the tests of this file.
fn verdicts() -> Option<&'static HashMap<String, Vec<String>>> {
    static VERDICTS: OnceLock<Option<HashMap<String, Vec<String>>>> = OnceLock::new();
    VERDICTS.get_or_init(run_validator).as_ref()
}

fn run_validator() -> Option<HashMap<String, Vec<String>>> {
    let found = std::process::Command::new("python3")
        .args(["-c", "import jsonschema"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 with jsonschema is missing and CI=true: run scripts/test.sh"
        );
        eprintln!(
            "\n!!!!! SKIPPED: python3 -m jsonschema is not installed: schema not checked !!!!!\n"
        );
        return None;
    }
    let cases = all_cases();
    let mut keys = BTreeSet::new();
    for c in &cases {
        assert!(keys.insert(c.key.as_str()), "two cases named {}", c.key);
    }
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
    let input = json!({
        "schema": schema,
        "cases": cases
            .iter()
            .map(|c| json!({ "def": c.def, "instance": c.instance }))
            .collect::<Vec<_>>(),
    });
    let file = std::env::temp_dir().join(format!("hotline-cti-schema-{}.json", std::process::id()));
    std::fs::write(&file, input.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", VALIDATE_PY])
        .arg(&file)
        .output()
        .expect("python3 runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "the validator failed (is the schema valid draft 2020-12?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Vec<String>> =
        serde_json::from_slice(&out.stdout).expect("the validator prints a JSON list");
    assert_eq!(verdicts.len(), cases.len());
    Some(cases.into_iter().map(|c| c.key).zip(verdicts).collect())
}

/// Asserts what the schema says of each key: valid or not. Collects every
/// failure before failing.
fn expect_schema(keys: &[String], valid: bool) {
    let Some(verdicts) = verdicts() else { return };
    let mut wrong = Vec::new();
    for key in keys {
        let errors = &verdicts[key];
        if valid && !errors.is_empty() {
            wrong.push(format!(
                "{key}: refused by the schema:\n    {}",
                errors.join("\n    ")
            ));
        }
        if !valid && errors.is_empty() {
            wrong.push(format!(
                "{key}: accepted by the schema, which should refuse it"
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}\n", wrong.join("\n"));
}

// ----- the tests --------------------------------------------------------

/// The schema names the same command and event types, state names and
/// error codes as the code, once each.
#[test]
fn schema_lists_every_type_state_and_code() {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let types = |def: &str| -> Vec<String> {
        schema["$defs"][def]["oneOf"]
            .as_array()
            .unwrap_or_else(|| panic!("$defs/{def} has a oneOf"))
            .iter()
            .map(|alt| {
                alt["properties"]["type"]["const"]
                    .as_str()
                    .unwrap_or_else(|| panic!("an alternative of {def} has no type const"))
                    .to_owned()
            })
            .collect()
    };
    let sorted = |v: &[&str]| {
        let mut v: Vec<String> = v.iter().map(|s| (*s).to_owned()).collect();
        v.sort();
        v
    };
    let mut commands = types("command");
    commands.sort();
    assert_eq!(commands, sorted(COMMAND_TYPES));
    let mut events = types("event");
    events.sort();
    assert_eq!(events, sorted(EVENT_TYPES));
    for alt in schema["$defs"]["command"]["oneOf"].as_array().unwrap() {
        assert_eq!(alt["additionalProperties"], false, "{alt}");
    }
    for alt in schema["$defs"]["event"]["oneOf"].as_array().unwrap() {
        assert_eq!(alt["additionalProperties"], true, "{alt}");
    }
    let list = |def: &str| -> Vec<String> {
        let mut v: Vec<String> = schema["$defs"][def]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("$defs/{def} is an enum"))
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(list("state_name"), sorted(STATE_NAMES));
    assert_eq!(list("error_code"), sorted(ERROR_CODES));
    assert_eq!(
        schema["$defs"]["event"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["title"] == "hello")
            .expect("hello")["properties"]["protocol"]["const"],
        PROTOCOL
    );
}

/// Every event the server sends — each variant, each state, each error
/// code, with and without the optional fields — matches the schema's
/// `event`.
#[test]
fn every_event_the_server_sends_matches_the_schema() {
    let events = server_events();
    let mut seen = BTreeSet::new();
    for (name, e) in &events {
        let v = serde_json::to_value(e).unwrap();
        assert_eq!(v["type"], event_type(e), "{name}: {v}");
        seen.insert(event_type(e));
    }
    assert_eq!(
        seen,
        EVENT_TYPES.iter().copied().collect::<BTreeSet<_>>(),
        "an Event variant is not built"
    );
    let states: BTreeSet<&str> = events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::State { state, .. } => Some(state.name),
            _ => None,
        })
        .collect();
    assert_eq!(states, STATE_NAMES.iter().copied().collect::<BTreeSet<_>>());
    let keys: Vec<String> = events
        .iter()
        .map(|(name, _)| format!("server event: {name}"))
        .collect();
    expect_schema(&keys, true);
}

/// The schema is as precise as the document: events the server never
/// sends (a reason on a ready agent, an unknown code...) are refused.
#[test]
fn the_schema_refuses_events_the_server_never_sends() {
    let keys: Vec<String> = impossible_events()
        .into_iter()
        .map(|(name, _)| format!("impossible event: {name}"))
        .collect();
    expect_schema(&keys, false);
}

/// Every example of docs/cti-protocol.md matches the schema; every
/// command example is a `Request` the server accepts; between them the
/// examples show every command and every event type.
#[test]
fn the_documents_examples_match_the_schema_and_the_server() {
    let examples = doc_examples();
    let mut commands = BTreeSet::new();
    let mut events = BTreeSet::new();
    for e in &examples {
        let v = parse_example(e);
        match e.def {
            "command" => {
                let req: Request = serde_json::from_str(&e.text)
                    .unwrap_or_else(|err| panic!("{}: the server refuses it: {err}", e.at));
                assert_eq!(v["type"], command_type(&req.command), "{}", e.at);
                assert_eq!(req.id.as_deref(), v["id"].as_str(), "{}", e.at);
                commands.insert(command_type(&req.command));
            }
            "event" => {
                let t = v["type"].as_str().unwrap_or_default().to_owned();
                events.insert(t);
            }
            _ => {}
        }
    }
    let missing: Vec<_> = COMMAND_TYPES
        .iter()
        .filter(|t| !commands.contains(*t))
        .collect();
    assert!(
        missing.is_empty(),
        "commands without an example in {DOC_PATH}: {missing:?}"
    );
    let missing: Vec<_> = EVENT_TYPES
        .iter()
        .filter(|t| !events.contains(**t))
        .collect();
    assert!(
        missing.is_empty(),
        "events without an example in {DOC_PATH}: {missing:?}"
    );
    for name in STATE_NAMES.iter().chain(ERROR_CODES) {
        assert!(
            DOC.contains(&format!("`{name}`")),
            "{DOC_PATH} does not name `{name}`"
        );
    }
    let keys: Vec<String> = examples.iter().map(|e| e.at.clone()).collect();
    expect_schema(&keys, true);
}

/// Every `why` of a state change, every not-ready reason the server sets
/// and every error code written in the server's code is in the document
/// (the whys in the table of changes, the codes in the table of errors),
/// the codes are those of [`ERROR_CODES`] and the state names those of
/// [`STATE_NAMES`], hence of the schema.
#[test]
fn the_document_names_every_why_reason_and_code_of_the_server() {
    let (whys, reasons, codes) = written_by_the_server();
    let names = |set: &Found| -> BTreeSet<String> { set.iter().map(|(n, _)| n.clone()).collect() };
    // The reading of the code still finds them.
    for why in [
        "offered",
        "wrap-up over",
        "screen closed",
        "no phone registered",
    ] {
        assert!(names(&whys).contains(why), "{why} not found in {whys:?}");
    }
    for reason in ["login", "missed", "disconnected", "no_phone"] {
        assert!(
            names(&reasons).contains(reason),
            "{reason} not found in {reasons:?}"
        );
    }
    for code in ["wrong_state", "unknown_agent", "replaced", "session_ended"] {
        assert!(
            names(&codes).contains(code),
            "{code} not found in {codes:?}"
        );
    }
    let changes = doc_table("| from | to | why | caused by |");
    let errors = doc_table("| code | meaning |");
    let mut missing = Vec::new();
    for (why, path) in &whys {
        if !changes.contains(&format!("| `{why}` |")) {
            missing.push(format!(
                "why `{why}` ({path}) is not in the table of changes"
            ));
        }
    }
    for (reason, path) in &reasons {
        if !DOC.contains(&format!("`{reason}`")) {
            missing.push(format!("reason `{reason}` ({path}) is not named"));
        }
    }
    for (code, path) in &codes {
        if !ERROR_CODES.contains(&code.as_str()) {
            missing.push(format!(
                "error code `{code}` ({path}) is not in ERROR_CODES"
            ));
        }
        if !errors.contains(&format!("| `{code}` |")) {
            missing.push(format!(
                "error code `{code}` ({path}) is not in the table of errors"
            ));
        }
    }
    for why in OFFER_CANCELLED_WHYS {
        if !names(&whys).contains(*why) {
            missing.push(format!(
                "offer_cancelled why `{why}` is not written by the server"
            ));
        }
    }
    assert!(missing.is_empty(), "{DOC_PATH}:\n{}", missing.join("\n"));
    // Every code the document and schema list is written somewhere.
    assert_eq!(
        state_names_of_the_server(),
        STATE_NAMES.iter().map(|s| (*s).to_owned()).collect(),
        "AgentState::name and STATE_NAMES (hence the schema and {DOC_PATH}) differ"
    );
    let unused: Vec<_> = ERROR_CODES
        .iter()
        .filter(|c| !names(&codes).contains(**c))
        .collect();
    assert!(
        unused.is_empty(),
        "error codes the server never writes: {unused:?}"
    );
}

/// The stages of `consult` written in src/engine/consult.rs are those of
/// [`CONSULT_STAGES`] (hence of the schema, which the server's events
/// match) and of the document's table; the ways a consultation ends that
/// the code writes as text are named there, and as the consulted agent's
/// `ended` cause.
#[test]
fn the_consult_event_is_as_the_server_writes_it() {
    let (_, text) = SOURCES
        .iter()
        .find(|(p, _)| *p == "src/engine/consult.rs")
        .unwrap();
    let stages: BTreeSet<String> = literals_after(text, "stage:\"").into_iter().collect();
    assert_eq!(
        stages,
        CONSULT_STAGES.iter().map(|s| (*s).to_owned()).collect(),
        "the stages src/engine/consult.rs writes"
    );
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let consult = schema["$defs"]["event"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "consult")
        .expect("the schema's consult event");
    assert_eq!(
        consult["properties"]["stage"]["enum"],
        json!(CONSULT_STAGES),
        "the schema's consult stages"
    );
    let table = doc_table("| stage | |");
    for stage in CONSULT_STAGES {
        assert!(
            table.contains(&format!("| `{stage}` |")),
            "{DOC_PATH}: stage `{stage}` is not in the consult event's table"
        );
    }
    // end_consult(now, call, "why"): the literal whys (a call without a
    // literal, or running past its statement, is left out).
    let mut whys = BTreeSet::new();
    for &(path, text) in SOURCES {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for (at, _) in text.match_indices("self.end_consult(") {
            let rest = &text[at..];
            let args = &rest[..rest.find(");").unwrap_or(rest.len())];
            if args.contains(';') {
                continue;
            }
            if let Some(why) = args.split('"').nth(1) {
                whys.insert((why.replace("{code}", "CODE"), path));
            }
        }
    }
    let names: BTreeSet<&str> = whys.iter().map(|(w, _)| w.as_str()).collect();
    for why in ["cancelled", "the call ended", "not answered (CODE)"] {
        assert!(names.contains(why), "{why} not found in {whys:?}");
    }
    let mut missing = Vec::new();
    for (why, path) in &whys {
        if !table.contains(&format!("`{why}`")) {
            missing.push(format!("consult why `{why}` ({path}) is not in the table"));
        }
    }
    assert!(missing.is_empty(), "{DOC_PATH}:\n{}", missing.join("\n"));
}

/// Malformed commands are refused by the server (they do not deserialise,
/// so it answers `bad_command`) and by the schema.
#[test]
fn malformed_commands_are_refused_by_server_and_schema() {
    for (name, text) in MALFORMED_COMMANDS {
        let parsed = serde_json::from_str::<Request>(text);
        assert!(
            parsed.is_err(),
            "{name}: the server takes {text} as {parsed:?}"
        );
    }
    let keys: Vec<String> = MALFORMED_COMMANDS
        .iter()
        .map(|(name, _)| format!("malformed: {name}"))
        .collect();
    expect_schema(&keys, false);
}

/// The places where the server and the schema differ are exactly those
/// docs/cti-protocol.md lists; if one changes, so must the document.
#[test]
fn server_and_schema_differ_only_where_the_document_says() {
    for (name, text, server, _) in DIFFERENCES {
        let parsed = serde_json::from_str::<Request>(text);
        assert_eq!(parsed.is_ok(), *server, "{name}: {text} gives {parsed:?}");
    }
    assert_eq!(
        serde_json::from_str::<Request>(r#"{"type": "ready", "id": null}"#).unwrap(),
        Request {
            id: None,
            command: Command::Ready
        }
    );
    assert_eq!(
        serde_json::from_str::<Request>(difference("a null queue beside an agent"))
            .unwrap()
            .command,
        Command::Transfer {
            call: CALL.into(),
            queue: None,
            agent: Some(31),
            number: None,
        },
        "a null queue is no queue"
    );
    for valid in [true, false] {
        let keys: Vec<String> = DIFFERENCES
            .iter()
            .filter(|d| d.3 == valid)
            .map(|(name, ..)| format!("difference: {name}"))
            .collect();
        expect_schema(&keys, valid);
    }
}
