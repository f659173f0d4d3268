//! The ACD in the engine, under simulated time: callers queue in the IVR,
//! agents' phones register with digest authentication and are rung, their
//! answers are bridged, and the agents' screens get their events. The fake
//! phones here write what a desk phone would; the fake runtime is the
//! [`Sim`] of the engine tests.

use std::collections::BTreeMap;

use rsip::headers::UntypedHeader;

use super::*;
use crate::acd::{AgentId, QueueConfig, Strategy};
use crate::cti::{Event, Request};
use crate::engine::AgentProfile;
use crate::engine::call::set_body;
use crate::sip::digest;

/// Callers go straight to the queue `general`: the welcome, then the beep
/// on hold until an agent answers.
pub(super) const FLOW: &str = r#"start = "q"
[node.q]
kind = "queue"
queue = "general"
prompt = "welcome"
hold = ["beep"]
max_wait = "300s"
after_wait = "bye"
[node.bye]
kind = "hangup"
prompt = "goodbye"
"#;

const PASSWORD: &str = "desk-phone-pw";

pub(super) fn acd_sim(strategy: Strategy) -> Sim {
    queue_sim(QueueConfig {
        strategy,
        ..QueueConfig::new("general")
    })
}

/// 10 s rings, 5 s wrap-up.
pub(super) fn queue_sim(queue: QueueConfig) -> Sim {
    let mut cfg = config();
    cfg.queues = vec![QueueConfig {
        ring_timeout_ms: 10_000,
        wrap_up_ms: 5_000,
        ..queue
    }];
    Sim::with_flow(cfg, FLOW, &[])
}

/// A desk phone on 127.0.0.1:`port`.
pub(super) struct DeskPhone {
    agent: AgentId,
    peer: Peer,
    /// Where it receives RTP (its SDP).
    rtp: SocketAddr,
}

impl DeskPhone {
    /// Registers the agent's phone: challenged, then accepted with the
    /// digest computed as a phone does.
    pub(super) fn register(sim: &mut Sim, agent: AgentId, user: &str, port: u16) -> DeskPhone {
        let code = DeskPhone::try_register(sim, agent, user, port, PASSWORD, 2);
        assert_eq!(code, 200);
        DeskPhone {
            agent,
            peer: Peer {
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                transport: Transport::Udp,
            },
            rtp: SocketAddr::from(([127, 0, 0, 1], port + 1000)),
        }
    }

    /// One challenged REGISTER (CSeq `cseq` and `cseq + 1`) with
    /// `password`; the final status. A credentials lookup, if asked for,
    /// is answered with the agent's real credentials.
    fn try_register(
        sim: &mut Sim,
        agent: AgentId,
        user: &str,
        port: u16,
        password: &str,
        cseq: u32,
    ) -> u16 {
        let peer = Peer {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            transport: Transport::Udp,
        };
        let register = |cseq: u32, auth: &str| {
            format!(
                "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKreg{cseq}x{port}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{user}@hotline>;tag=r{port}\r\n\
                 To: <sip:{user}@hotline>\r\nCall-ID: reg-{port}@phone\r\n\
                 CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@127.0.0.1:{port}>\r\n\
                 Expires: 3600\r\n{auth}Content-Length: 0\r\n\r\n"
            )
        };
        sim.take_sip();
        sim.send(&register(cseq - 1, ""), peer);
        let challenge = sim.expect_response(401);
        // The whole header (header_values splits at commas).
        let text = String::from_utf8(message::serialize(&challenge.msg)).expect("UTF-8");
        let nonce = text
            .split("nonce=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("a nonce")
            .to_owned();
        let ha1 = digest::ha1(user, "hotline", password);
        let mut creds = digest::Credentials {
            username: user.into(),
            realm: "hotline".into(),
            nonce: nonce.clone(),
            uri: "sip:127.0.0.1:5060".into(),
            response: String::new(),
            algorithm: Some("MD5".into()),
            cnonce: Some("0a4f113b".into()),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
        };
        creds.response = digest::response(&ha1, "REGISTER", &creds);
        let auth = format!(
            "Authorization: Digest username=\"{user}\", realm=\"hotline\", nonce=\"{nonce}\", \
             uri=\"sip:127.0.0.1:5060\", response=\"{}\", algorithm=MD5, cnonce=\"0a4f113b\", \
             qop=auth, nc=00000001\r\n",
            creds.response
        );
        sim.send(&register(cseq, &auth), peer);
        if let Some((token, name)) = sim.credentials.pop() {
            assert_eq!(name, user);
            let real = digest::ha1(user, "hotline", PASSWORD);
            sim.engine
                .credentials_done(sim.now, token, Some((agent, real)));
            sim.drain();
        }
        let answers = sim.take_sip();
        assert_eq!(answers.len(), 1, "{answers:#?}");
        answers[0].code().expect("a response")
    }

    /// The INVITE hotline sent this phone (the latest).
    fn invite(&self, sim: &Sim) -> Sent {
        sim.sip
            .iter()
            .rev()
            .find(|s| s.dest == self.peer && s.method() == Some(rsip::Method::Invite))
            .cloned()
            .expect("an INVITE to the phone")
    }

    /// Lifts the handset: 200 with our SDP.
    pub(super) fn answer(&self, sim: &mut Sim) {
        let invite = self.invite(sim);
        let rsip::SipMessage::Request(req) = &invite.msg else {
            unreachable!()
        };
        let mut ok = message::response(req, 200, None, Some(&format!("phone{}", self.agent)));
        ok.headers
            .push(rsip::Header::Contact(rsip::headers::Contact::new(format!(
                "<sip:desk@{}>",
                self.peer.addr
            ))));
        let sdp = format!(
            "v=0\r\no=desk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
            self.rtp.port()
        );
        set_body(&mut ok, "application/sdp", sdp.into_bytes());
        let bytes = message::serialize(&rsip::SipMessage::Response(ok));
        sim.send_bytes(&bytes, self.peer);
    }

    /// RTP from the phone to its leg.
    pub(super) fn talk(&self, sim: &mut Sim, leg: CallKey, packet: &[u8]) {
        sim.engine.handle_rtp(sim.now, leg, self.rtp, packet);
        sim.drain();
    }

    /// A final answer other than 200 (busy, declined).
    fn refuse(&self, sim: &mut Sim, code: u16) {
        let invite = self.invite(sim);
        sim.send(&answer_to(&invite, code), self.peer);
    }
}

pub(super) fn profile(agent: AgentId, user: &str) -> AgentProfile {
    AgentProfile {
        id: agent,
        username: user.into(),
        display_name: user.into(),
        queues: Vec::new(),
        skills: BTreeMap::new(),
    }
}

/// The agent opens their screen and, with a phone, goes ready.
pub(super) fn sign_on(sim: &mut Sim, agent: AgentId, user: &str) {
    let before = events_of(sim, agent).len();
    sim.engine.agent_connected(sim.now, profile(agent, user));
    sim.drain();
    let first = events_of(sim, agent).into_iter().nth(before);
    assert!(matches!(first, Some(Event::Hello { .. })), "{first:?}");
}

/// Sends a command from the agent's screen and returns its answer.
pub(super) fn command(sim: &mut Sim, agent: AgentId, json: serde_json::Value) -> Event {
    let req: Request = serde_json::from_value(json).expect("a command");
    sim.engine.agent_command(sim.now, agent, req);
    sim.drain();
    let answer = events_of(sim, agent).last().cloned().expect("an answer");
    assert!(
        matches!(answer, Event::Ok { .. } | Event::Error { .. }),
        "{answer:?}"
    );
    answer
}

pub(super) fn error_code(e: &Event) -> &'static str {
    match e {
        Event::Error { code, .. } => code,
        other => panic!("not an error: {other:?}"),
    }
}

pub(super) fn events_of(sim: &Sim, agent: AgentId) -> Vec<Event> {
    sim.cti
        .iter()
        .filter(|(a, _)| *a == agent)
        .map(|(_, e)| e.clone())
        .collect()
}

/// The state names the agent's screen was told, in order.
pub(super) fn states_of(sim: &Sim, agent: AgentId) -> Vec<&'static str> {
    sim.cti
        .iter()
        .filter(|(a, _)| *a == agent)
        .filter_map(|(_, e)| match e {
            Event::State { state, .. } => Some(state.name),
            _ => None,
        })
        .collect()
}

/// The key of the latest agent leg (its media socket).
pub(super) fn leg_key(sim: &Sim) -> CallKey {
    *sim.open_requests.last().expect("OpenMedia for the leg")
}

/// One PCMU RTP packet carrying 20 ms of `hz`.
pub(super) fn tone_packet(seq: u16, hz: f64) -> Vec<u8> {
    let payload: Vec<u8> = (0..160)
        .map(|n| {
            let t = f64::from(u32::from(seq) * 160 + n) / 8000.0;
            g711::ulaw_encode((8000.0 * (TAU * hz * t).sin()) as i16)
        })
        .collect();
    let header = RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: seq,
        timestamp: u32::from(seq) * 160,
        ssrc: 0xA6E7,
    };
    let mut out = Vec::new();
    rtp::write(&header, &payload, &mut out);
    out
}

/// Zero crossings per 20 ms packet → frequency.
pub(super) fn frequency(payload: &[u8]) -> f64 {
    let mut samples = Vec::new();
    g711::decode_into(g711::Law::Pcmu, payload, &mut samples);
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] >= 0) != (w[1] >= 0))
        .count();
    25.0 * crossings as f64
}

/// A caller calls in (answered, ACKed, RTP flowing) and joins the queue;
/// returns the call's key. The INVITEs to ringing phones stay unread.
pub(super) fn queued_caller(sim: &mut Sim, caller: &mut Caller) -> CallKey {
    let branch = caller.branch();
    sim.send(
        &caller.invite(&branch, Some(&pcmu_offer()), ""),
        caller.peer,
    );
    let ok = sim
        .sip
        .iter()
        .rev()
        .find(|s| s.dest == caller.peer && s.code() == Some(200))
        .cloned()
        .expect("the caller's 200");
    caller.learn(&ok);
    let call = sim
        .open_requests
        .iter()
        .rev()
        .copied()
        .find(|k| sim.engine.calls.contains_key(k))
        .expect("the caller's OpenMedia");
    sim.advance(ms(10));
    let ack = caller.ack(None);
    sim.send(&ack, caller.peer);
    sim.start_feed(call);
    call
}

/// A caller in the queue, agent 1 ready with a phone.
fn caller_and_agent(sim: &mut Sim) -> (Caller, CallKey, DeskPhone) {
    let phone = DeskPhone::register(sim, 1, "ann", 6001);
    sign_on(sim, 1, "ann");
    assert!(matches!(
        command(sim, 1, serde_json::json!({"type": "ready", "id": "r"})),
        Event::Ok { .. }
    ));
    let mut caller = Caller::new(Transport::Udp, "acd");
    let call = queued_caller(sim, &mut caller);
    sim.advance(ms(100));
    (caller, call, phone)
}

/// Ann, talking to a caller, asks Bob (ready, with a phone) about the
/// call: the caller, the call's key and id, Ann's and Bob's phones.
fn consulting(sim: &mut Sim) -> (Caller, CallKey, String, DeskPhone, DeskPhone) {
    let (caller, call, ann) = caller_and_agent(sim);
    let bob = DeskPhone::register(sim, 2, "bob", 6002);
    sign_on(sim, 2, "bob");
    ann.answer(sim);
    command(sim, 2, serde_json::json!({"type": "ready"}));
    let id = sim.engine.calls[&call].id.clone();
    let ok = command(
        sim,
        1,
        serde_json::json!({"type": "consult", "call": id, "agent": 2}),
    );
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
    (caller, call, id, ann, bob)
}

#[test]
fn a_queued_caller_rings_the_agents_phone_and_their_voices_cross() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let (mut caller, call, phone) = caller_and_agent(&mut sim);

    // The phone rings with the caller's number; the screen gets the offer.
    let invite = phone.invite(&sim);
    assert!(
        invite.header("From").unwrap().contains(CALLER_NUMBER),
        "{invite:?}"
    );
    let offered = invite.sdp();
    assert!(offered.codecs.iter().any(|(_, name, _)| name == "PCMU"));
    let (agent, view) = sim.offers.last().cloned().expect("an offer");
    assert_eq!(agent, 1);
    assert_eq!(view.caller, CALLER_NUMBER);
    assert_eq!(view.queue, "general");
    let leg = leg_key(&sim);
    assert_ne!(leg, call);

    // Lifted: ACK, and the screen hears of it.
    sim.take_sip();
    phone.answer(&mut sim);
    let acks = sim.take_sip();
    assert!(
        acks.iter()
            .any(|s| s.method() == Some(rsip::Method::Ack) && s.dest == phone.peer),
        "{acks:#?}"
    );
    assert!(
        events_of(&sim, 1)
            .iter()
            .any(|e| matches!(e, Event::Answered { .. }))
    );
    assert_eq!(
        states_of(&sim, 1),
        ["not_ready", "ready", "ringing", "on_call"]
    );

    // The caller's 440 Hz reaches the phone, the phone's 1 kHz the caller.
    let start = sim.elapsed();
    for seq in 0..10u16 {
        sim.rtp_in(call, &tone_packet(seq, 440.0));
        phone.talk(&mut sim, leg, &tone_packet(seq, 1000.0));
        sim.advance(ms(20));
    }
    let to_phone: Vec<f64> = sim
        .rtp_of(leg)
        .iter()
        .filter(|p| p.at > start && p.dest == phone.rtp)
        .map(|p| frequency(&p.payload))
        .collect();
    let to_caller: Vec<f64> = sim
        .rtp_of(call)
        .iter()
        .filter(|p| p.at > start)
        .map(|p| frequency(&p.payload))
        .collect();
    assert!(
        to_phone
            .iter()
            .filter(|f| (**f - 440.0).abs() < 60.0)
            .count()
            >= 8,
        "the phone hears {to_phone:?}"
    );
    assert!(
        to_caller
            .iter()
            .filter(|f| (**f - 1000.0).abs() < 60.0)
            .count()
            >= 8,
        "the caller hears {to_caller:?}"
    );

    // The caller hangs up: the phone gets a BYE, the agent wraps up, and
    // the disposition ends it.
    let (bye, _) = caller.in_dialog("BYE", None);
    sim.send(&bye, caller.peer);
    sim.stop_feeds();
    let bye = sim
        .take_sip()
        .into_iter()
        .find(|s| s.method() == Some(rsip::Method::Bye))
        .expect("a BYE to the phone");
    assert_eq!(bye.dest, phone.peer);
    sim.send(&answer_to(&bye, 200), phone.peer);
    assert_eq!(states_of(&sim, 1).last(), Some(&"wrap_up"));
    let early = command(&mut sim, 1, serde_json::json!({"type": "ready"}));
    assert_eq!(error_code(&early), "wrong_state");
    sim.advance(ms(1500));
    let done = command(
        &mut sim,
        1,
        serde_json::json!({"type": "end_wrap_up", "disposition": "resolved", "notes": "ok"}),
    );
    assert!(matches!(done, Event::Ok { .. }), "{done:?}");
    assert_eq!(states_of(&sim, 1).last(), Some(&"ready"));

    let ops = sim.ops();
    let queued = ops
        .iter()
        .any(|op| matches!(op, RecordOp::Queued { queue, .. } if queue == "general"));
    let answered = ops.iter().find_map(|op| match op {
        RecordOp::AgentAnswered {
            agent_id, wait_ms, ..
        } => Some((*agent_id, *wait_ms)),
        _ => None,
    });
    let handled = ops.iter().find_map(|op| match op {
        RecordOp::Handled { talk_ms, .. } => Some(*talk_ms),
        _ => None,
    });
    let wrap = ops.iter().find_map(|op| match op {
        RecordOp::WrapUp {
            wrap_up_ms,
            disposition,
            ..
        } => Some((*wrap_up_ms, disposition.clone())),
        _ => None,
    });
    assert!(queued);
    assert!(matches!(answered, Some((1, w)) if w >= 100), "{answered:?}");
    assert!(matches!(handled, Some(t) if t >= 200), "{handled:?}");
    assert_eq!(wrap, Some((1500, Some("resolved".into()))));
    let changes = ops
        .iter()
        .filter(|op| matches!(op, RecordOp::AgentState { .. }))
        .count();
    assert_eq!(changes, states_of(&sim, 1).len(), "every change is logged");
    sim.advance(secs(40));
    assert_eq!(sim.engine.active_calls(), 0);
    assert!(sim.engine.legs.is_empty(), "the leg is gone");
}

#[test]
fn two_phones_answering_at_once_exactly_one_gets_the_caller() {
    let mut sim = acd_sim(Strategy::RingAll);
    let ann = DeskPhone::register(&mut sim, 1, "ann", 6001);
    let bob = DeskPhone::register(&mut sim, 2, "bob", 6002);
    for (agent, user) in [(1, "ann"), (2, "bob")] {
        sign_on(&mut sim, agent, user);
        command(&mut sim, agent, serde_json::json!({"type": "ready"}));
    }
    let mut caller = Caller::new(Transport::Udp, "race");
    queued_caller(&mut sim, &mut caller);
    sim.advance(ms(100));
    ann.invite(&sim);
    bob.invite(&sim);
    sim.take_sip();
    // Both 200s in the same instant.
    ann.answer(&mut sim);
    bob.answer(&mut sim);
    let sent = sim.take_sip();
    let byes: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.method() == Some(rsip::Method::Bye))
        .collect();
    assert_eq!(byes.len(), 1, "{sent:#?}");
    assert_eq!(byes[0].dest, bob.peer, "the second answer is hung up");
    let acks = sent
        .iter()
        .filter(|s| s.method() == Some(rsip::Method::Ack))
        .count();
    assert_eq!(acks, 2, "both 200s are ACKed");
    assert_eq!(states_of(&sim, 1).last(), Some(&"on_call"));
    assert_eq!(states_of(&sim, 2).last(), Some(&"ready"));
    let connected = sim
        .ops()
        .iter()
        .filter(|op| matches!(op, RecordOp::AgentAnswered { .. }))
        .count();
    assert_eq!(connected, 1);
}

#[test]
fn a_vanished_phone_puts_the_caller_back_in_front_with_music() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let (_caller, call, phone) = caller_and_agent(&mut sim);
    let bob = DeskPhone::register(&mut sim, 2, "bob", 6002);
    sign_on(&mut sim, 2, "bob");
    command(
        &mut sim,
        2,
        serde_json::json!({"type": "not_ready", "reason": "break"}),
    );
    phone.answer(&mut sim);
    let leg = leg_key(&sim);
    phone.talk(&mut sim, leg, &tone_packet(0, 1000.0));
    sim.take_sip();
    // The phone sends nothing more: after the RTP timeout it is hung up
    // and the caller hears hold music while waiting again.
    sim.advance(secs(11));
    let bye = sim
        .take_sip()
        .into_iter()
        .find(|s| s.method() == Some(rsip::Method::Bye))
        .expect("a BYE to the vanished phone");
    assert_eq!(bye.dest, phone.peer);
    assert!(sim.engine.active_calls() == 1, "the caller is still there");
    // Runs of (what, packets): the music loops (5 packets a play).
    let heard = sim.heard(call);
    let last = heard.last().expect("audio");
    assert!(last.0 == "hold-music" && last.1 > 5, "{heard:?}");
    assert!(
        events_of(&sim, 1)
            .iter()
            .any(|e| matches!(e, Event::Ended { cause, .. } if cause == "agent-vanished"))
    );
    // Bob goes ready and gets the caller at once.
    command(&mut sim, 2, serde_json::json!({"type": "ready"}));
    assert_eq!(states_of(&sim, 2).last(), Some(&"ringing"));
    bob.invite(&sim);
}

#[test]
fn a_caller_who_leaves_while_ringing_stops_the_phone() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let (mut caller, _call, phone) = caller_and_agent(&mut sim);
    let invite = phone.invite(&sim);
    sim.send(&answer_to(&invite, 180), phone.peer);
    sim.take_sip();
    let (bye, _) = caller.in_dialog("BYE", None);
    sim.send(&bye, caller.peer);
    sim.stop_feeds();
    let cancel = sim
        .take_sip()
        .into_iter()
        .find(|s| s.method() == Some(rsip::Method::Cancel))
        .expect("a CANCEL to the ringing phone");
    assert_eq!(cancel.dest, phone.peer);
    assert_eq!(
        cancel.msg.top_via_branch().ok(),
        invite.msg.top_via_branch().ok(),
        "the CANCEL matches the INVITE"
    );
    sim.send(&answer_to(&cancel, 200), phone.peer);
    phone.refuse(&mut sim, 487);
    assert_eq!(states_of(&sim, 1).last(), Some(&"ready"));
    assert!(
        sim.ops()
            .iter()
            .all(|op| !matches!(op, RecordOp::AgentAnswered { .. }))
    );
}

#[test]
fn missed_offers_go_to_the_next_agent_and_pause_the_agent_who_missed() {
    let mut sim = queue_sim(QueueConfig {
        max_missed: 1,
        ..QueueConfig::new("general")
    });
    let (_caller, _call, ann) = caller_and_agent(&mut sim);
    let _bob = DeskPhone::register(&mut sim, 2, "bob", 6002);
    sign_on(&mut sim, 2, "bob");
    command(&mut sim, 2, serde_json::json!({"type": "ready"}));
    // Ann's phone rings 10 s unanswered: CANCEL, and Bob rings.
    sim.take_sip();
    sim.advance(secs(10));
    let sent = sim.take_sip();
    assert!(
        sent.iter()
            .any(|s| s.method() == Some(rsip::Method::Cancel) && s.dest == ann.peer),
        "{sent:#?}"
    );
    assert_eq!(states_of(&sim, 2).last(), Some(&"ringing"));
    let paused = events_of(&sim, 1).into_iter().rev().find_map(|e| match e {
        Event::State { state, .. } => Some((state.name, state.reason)),
        _ => None,
    });
    assert_eq!(paused, Some(("not_ready", Some("missed".into()))));
    // A busy phone is a decline: the offer goes on, no "missed" count.
    let bob_phone = DeskPhone {
        agent: 2,
        peer: Peer {
            addr: SocketAddr::from(([127, 0, 0, 1], 6002)),
            transport: Transport::Udp,
        },
        rtp: SocketAddr::from(([127, 0, 0, 1], 7002)),
    };
    bob_phone.refuse(&mut sim, 486);
    assert_eq!(
        states_of(&sim, 2).last(),
        Some(&"ringing"),
        "offered again: nobody else"
    );
    assert_eq!(bob_phone.agent, 2);
}

#[test]
fn a_vip_caller_is_served_before_earlier_callers() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let mut first = Caller::new(Transport::Udp, "first");
    let first_call = queued_caller(&mut sim, &mut first);
    sim.engine.standing_done(sim.now, first_call, false, false);
    sim.advance(secs(1));
    // The store answers after the VIP joined the queue: they move up.
    let mut vip = Caller::from_addr(Transport::Udp, "vip", "127.0.0.1:5071");
    let vip_call = queued_caller(&mut sim, &mut vip);
    assert!(
        sim.standings
            .iter()
            .any(|(c, n)| *c == vip_call && n == CALLER_NUMBER),
        "asked who the caller is"
    );
    sim.engine.standing_done(sim.now, vip_call, true, false);
    sim.drain();
    sim.advance(secs(1));
    let _phone = DeskPhone::register(&mut sim, 1, "ann", 6001);
    sign_on(&mut sim, 1, "ann");
    command(&mut sim, 1, serde_json::json!({"type": "ready"}));
    let (_, view) = sim.offers.last().cloned().expect("an offer");
    assert_eq!(view.id, sim.engine.calls[&vip_call].id, "the VIP first");
}

#[test]
fn commands_out_of_turn_get_an_error_and_change_nothing() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    sign_on(&mut sim, 1, "ann");
    let cases = [
        (serde_json::json!({"type": "ready"}), "no_phone"),
        (
            serde_json::json!({"type": "hang_up", "call": "x"}),
            "no_such_call",
        ),
        (
            serde_json::json!({"type": "reject", "call": "x"}),
            "no_such_call",
        ),
        (
            serde_json::json!({"type": "not_ready", "reason": "nap"}),
            "unknown_reason",
        ),
        (
            serde_json::json!({"type": "end_wrap_up", "disposition": "ok"}),
            "wrong_state",
        ),
        (
            serde_json::json!({"type": "end_wrap_up", "disposition": "no spaces"}),
            "bad_command",
        ),
    ];
    for (json, code) in cases {
        let before = states_of(&sim, 1).len();
        let answer = command(&mut sim, 1, json.clone());
        assert_eq!(error_code(&answer), code, "{json}");
        assert_eq!(states_of(&sim, 1).len(), before, "{json} changed the state");
    }
    // Someone else's call is not yours to hang up.
    let (_caller, _call, _phone) = {
        let phone = DeskPhone::register(&mut sim, 2, "bob", 6002);
        sign_on(&mut sim, 2, "bob");
        command(&mut sim, 2, serde_json::json!({"type": "ready"}));
        let mut caller = Caller::new(Transport::Udp, "theirs");
        let call = queued_caller(&mut sim, &mut caller);
        sim.advance(ms(100));
        (caller, call, phone)
    };
    let (_, view) = sim.offers.last().cloned().expect("offered to bob");
    let answer = command(
        &mut sim,
        1,
        serde_json::json!({"type": "hang_up", "call": view.id}),
    );
    assert_eq!(error_code(&answer), "not_your_call");
    assert_eq!(states_of(&sim, 2).last(), Some(&"ringing"));
}

#[test]
fn an_agent_transfers_the_caller_to_another_agent_who_answers() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let (_caller, call, ann) = caller_and_agent(&mut sim);
    let bob = DeskPhone::register(&mut sim, 2, "bob", 6002);
    sign_on(&mut sim, 2, "bob");
    command(
        &mut sim,
        2,
        serde_json::json!({"type": "not_ready", "reason": "break"}),
    );
    ann.answer(&mut sim);
    let id = sim.engine.calls[&call].id.clone();
    let refusals = [
        (
            serde_json::json!({"type": "transfer", "call": id, "queue": "nowhere"}),
            "unknown_queue",
        ),
        (
            serde_json::json!({"type": "transfer", "call": id, "agent": 9}),
            "unknown_agent",
        ),
        (
            serde_json::json!({"type": "transfer", "call": id, "agent": 1}),
            "unknown_agent",
        ),
        (
            serde_json::json!({"type": "transfer", "call": id}),
            "bad_command",
        ),
    ];
    for (json, code) in refusals {
        assert_eq!(
            error_code(&command(&mut sim, 1, json.clone())),
            code,
            "{json}"
        );
    }
    assert_eq!(
        states_of(&sim, 1).last(),
        Some(&"on_call"),
        "refusals change nothing"
    );
    sim.take_sip();
    let ok = command(
        &mut sim,
        1,
        serde_json::json!({"type": "transfer", "call": id, "agent": 2}),
    );
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
    // Ann's phone is hung up and she wraps up; the caller hears music
    // until Bob is ready, then Bob's phone rings.
    let sent = sim.take_sip();
    assert!(
        sent.iter()
            .any(|s| s.method() == Some(rsip::Method::Bye) && s.dest == ann.peer),
        "{sent:#?}"
    );
    assert_eq!(states_of(&sim, 1).last(), Some(&"wrap_up"));
    sim.advance(secs(2));
    let heard = sim.heard(call);
    assert_eq!(
        heard.last().map(|h| h.0.as_str()),
        Some("hold-music"),
        "{heard:?}"
    );
    command(&mut sim, 2, serde_json::json!({"type": "ready"}));
    assert_eq!(states_of(&sim, 2).last(), Some(&"ringing"));
    bob.answer(&mut sim);
    assert_eq!(states_of(&sim, 2).last(), Some(&"on_call"));
    let transfers = sim.ops().iter().rev().find_map(|op| match op {
        RecordOp::Handled { transfers, .. } => Some(*transfers),
        _ => None,
    });
    assert_eq!(transfers, Some(1));
    // Bob sends the caller on to a queue: they wait there, and Bob's phone
    // is released.
    command(
        &mut sim,
        2,
        serde_json::json!({"type": "transfer", "call": id, "queue": "general"}),
    );
    assert_eq!(states_of(&sim, 2).last(), Some(&"wrap_up"));
    assert!(sim.engine.active_calls() == 1);
}

#[test]
fn a_queue_that_hangs_up_on_overflow_says_goodbye_first() {
    let mut sim = queue_sim(QueueConfig {
        max_wait_ms: Some(30_000),
        overflow: crate::acd::Overflow::Hangup,
        ..QueueConfig::new("general")
    });
    let mut caller = Caller::new(Transport::Udp, "overflow");
    let call = queued_caller(&mut sim, &mut caller);
    sim.advance(secs(31));
    let heard = sim.heard(call);
    assert_eq!(heard.last(), Some(&("goodbye".to_owned(), 5)), "{heard:?}");
    let bye = sim.only_bye();
    assert_eq!(bye.dest, caller.peer);
    let (cause, _) = sim.only_ending();
    assert_eq!(cause, "queue-overflow");
}

#[test]
fn the_agent_sends_keys_to_the_caller() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let (_caller, call, phone) = caller_and_agent(&mut sim);
    let id = sim.engine.calls[&call].id.clone();
    let early = command(
        &mut sim,
        1,
        serde_json::json!({"type": "dtmf", "call": id, "digits": "1"}),
    );
    assert_eq!(
        error_code(&early),
        "wrong_state",
        "nothing to key into while ringing"
    );
    phone.answer(&mut sim);
    let bad = command(
        &mut sim,
        1,
        serde_json::json!({"type": "dtmf", "call": id, "digits": "1z"}),
    );
    assert_eq!(error_code(&bad), "bad_command");
    let start = sim.elapsed();
    let ok = command(
        &mut sim,
        1,
        serde_json::json!({"type": "dtmf", "call": id, "digits": "42"}),
    );
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
    sim.advance(ms(600));
    let events: Vec<(u8, bool)> = sim
        .rtp_of(call)
        .iter()
        .filter(|p| p.at >= start && p.header.payload_type == 101)
        .map(|p| (p.payload[0], p.payload[1] & 0x80 != 0))
        .collect();
    // Key 4 then key 2, each 5 packets and 3 End packets.
    let keys: Vec<u8> = events.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, [[4u8; 8], [2u8; 8]].concat(), "{events:?}");
    assert_eq!(events.iter().filter(|(_, end)| *end).count(), 6);
}

#[test]
fn an_agent_transfers_to_an_allowed_outside_number_and_a_failure_comes_back() {
    let mut cfg = config();
    cfg.queues = vec![QueueConfig::new("general")];
    let mut sim = Sim::with_flow(cfg, FLOW, &["_0571XXXXXXXX"]);
    let (mut caller, call, phone) = caller_and_agent(&mut sim);
    phone.answer(&mut sim);
    let id = sim.engine.calls[&call].id.clone();
    let refused = command(
        &mut sim,
        1,
        serde_json::json!({"type": "transfer", "call": id, "number": "0085212345678"}),
    );
    assert_eq!(
        error_code(&refused),
        "unknown_number",
        "not on the allow-list"
    );
    let ok = command(
        &mut sim,
        1,
        serde_json::json!({"type": "transfer", "call": id, "number": "057188881234"}),
    );
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
    // The carrier is asked; it cannot connect: the caller is back in the
    // queue (music) and Ann, ready again after wrap-up, gets them.
    let (refer, to) = only_refer(&sim);
    assert_eq!(to, format!("<sip:057188881234@{}>", caller.peer.addr));
    sim.send(&answer_to(&refer, 202), caller.peer);
    let sipfrag = Some(("message/sipfrag;version=2.0", "SIP/2.0 486 Busy Here\r\n"));
    let (notify, _) = caller.in_dialog("NOTIFY", sipfrag);
    sim.send(&notify, caller.peer);
    sim.advance(secs(1));
    assert_eq!(event_details(&sim, "transfer-failed").len(), 1);
    let heard = sim.heard(call);
    assert_eq!(
        heard.last().map(|h| h.0.as_str()),
        Some("hold-music"),
        "{heard:?}"
    );
    sim.advance(secs(30));
    assert_eq!(states_of(&sim, 1).last(), Some(&"ringing"), "offered again");
    assert!(sim.engine.active_calls() == 1);
}

#[test]
fn an_attended_transfer_bridges_the_agents_then_hands_the_caller_over() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let (_caller, call, ann) = caller_and_agent(&mut sim);
    let bob = DeskPhone::register(&mut sim, 2, "bob", 6002);
    sign_on(&mut sim, 2, "bob");
    command(
        &mut sim,
        2,
        serde_json::json!({"type": "not_ready", "reason": "break"}),
    );
    ann.answer(&mut sim);
    let ann_leg = leg_key(&sim);
    let id = sim.engine.calls[&call].id.clone();
    let busy = command(
        &mut sim,
        1,
        serde_json::json!({"type": "consult", "call": id, "agent": 2}),
    );
    assert_eq!(error_code(&busy), "unknown_agent", "Bob is not ready");
    command(&mut sim, 2, serde_json::json!({"type": "ready"}));
    let early = command(
        &mut sim,
        1,
        serde_json::json!({"type": "complete_transfer", "call": id}),
    );
    assert_eq!(error_code(&early), "wrong_state");
    let ok = command(
        &mut sim,
        1,
        serde_json::json!({"type": "consult", "call": id, "agent": 2}),
    );
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
    assert_eq!(states_of(&sim, 1).last(), Some(&"on_hold"));
    assert_eq!(states_of(&sim, 2).last(), Some(&"consulted"));
    // Bob's phone rings with the caller's details; he answers.
    assert!(sim.offers.iter().any(|(a, v)| *a == 2 && v.id == id));
    bob.answer(&mut sim);
    let bob_leg = leg_key(&sim);
    assert!(
        events_of(&sim, 1)
            .iter()
            .any(|e| matches!(e, Event::Consult { stage, agent: 2, .. } if *stage == "talking"))
    );
    // Ann and Bob hear each other; the caller hears music.
    let start = sim.elapsed();
    for seq in 0..10u16 {
        ann.talk(&mut sim, ann_leg, &tone_packet(seq, 440.0));
        bob.talk(&mut sim, bob_leg, &tone_packet(seq, 1000.0));
        sim.advance(ms(20));
    }
    let tones = |sim: &Sim, key: CallKey, hz: f64| {
        sim.rtp_of(key)
            .iter()
            .filter(|p| p.at > start && p.header.payload_type == 0)
            .filter(|p| (frequency(&p.payload) - hz).abs() < 60.0)
            .count()
    };
    assert!(tones(&sim, bob_leg, 440.0) >= 8, "Bob hears Ann");
    assert!(tones(&sim, ann_leg, 1000.0) >= 8, "Ann hears Bob");
    let heard = sim.heard(call);
    assert_eq!(
        heard.last().map(|h| h.0.as_str()),
        Some("hold-music"),
        "{heard:?}"
    );
    // Complete: Ann's phone is hung up, the caller talks to Bob.
    sim.take_sip();
    let done = command(
        &mut sim,
        1,
        serde_json::json!({"type": "complete_transfer", "call": id}),
    );
    assert!(matches!(done, Event::Ok { .. }), "{done:?}");
    assert!(
        sim.take_sip()
            .iter()
            .any(|s| s.method() == Some(rsip::Method::Bye) && s.dest == ann.peer)
    );
    assert_eq!(states_of(&sim, 1).last(), Some(&"wrap_up"));
    assert_eq!(states_of(&sim, 2).last(), Some(&"on_call"));
    let start = sim.elapsed();
    for seq in 10..20u16 {
        sim.rtp_in(call, &tone_packet(seq, 440.0));
        bob.talk(&mut sim, bob_leg, &tone_packet(seq, 1000.0));
        sim.advance(ms(20));
    }
    let to_caller = sim
        .rtp_of(call)
        .iter()
        .filter(|p| p.at > start && (frequency(&p.payload) - 1000.0).abs() < 60.0)
        .count();
    assert!(to_caller >= 8, "the caller hears Bob");
    assert!(tones(&sim, bob_leg, 440.0) >= 8, "Bob hears the caller");
    let transfers = sim.ops().iter().rev().find_map(|op| match op {
        RecordOp::Handled { transfers, .. } => Some(*transfers),
        _ => None,
    });
    assert_eq!(transfers, Some(1));
}

#[test]
fn a_cancelled_consultation_gives_the_caller_back() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let (_caller, _call, id, _ann, bob) = consulting(&mut sim);
    bob.invite(&sim); // Bob's phone rings.
    sim.take_sip();
    let ok = command(
        &mut sim,
        1,
        serde_json::json!({"type": "cancel_transfer", "call": id}),
    );
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
    assert!(
        sim.take_sip()
            .iter()
            .any(|s| s.method() == Some(rsip::Method::Cancel) && s.dest == bob.peer),
        "Bob's phone stops ringing"
    );
    assert_eq!(states_of(&sim, 2).last(), Some(&"ready"));
    assert_eq!(
        states_of(&sim, 1).last(),
        Some(&"on_call"),
        "the caller is back"
    );
    assert!(
        events_of(&sim, 1)
            .iter()
            .any(|e| matches!(e, Event::Consult { stage, .. } if *stage == "ended"))
    );
}

#[test]
fn a_caller_sent_back_to_a_queue_still_hears_their_place() {
    let mut sim = queue_sim(QueueConfig {
        announce_every_ms: Some(20_000),
        ..QueueConfig::new("general")
    });
    let (_caller, call, ann) = caller_and_agent(&mut sim);
    ann.answer(&mut sim);
    let id = sim.engine.calls[&call].id.clone();
    command(
        &mut sim,
        1,
        serde_json::json!({"type": "transfer", "call": id, "queue": "general"}),
    );
    command(
        &mut sim,
        1,
        serde_json::json!({"type": "end_wrap_up", "disposition": "moved"}),
    );
    command(
        &mut sim,
        1,
        serde_json::json!({"type": "not_ready", "reason": "break"}),
    );
    sim.advance(secs(25));
    assert_eq!(
        event_details(&sim, "announce"),
        ["position 1, about 1 min"],
        "Ann's short call is the queue's handle time now"
    );
}

#[test]
fn an_unanswered_consultation_rings_out_and_only_its_agent_may_end_it() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let (_caller, call, id, ann, bob) = consulting(&mut sim);
    let not_bob = command(
        &mut sim,
        2,
        serde_json::json!({"type": "cancel_transfer", "call": id}),
    );
    assert_eq!(error_code(&not_bob), "not_your_call");
    let refused = command(
        &mut sim,
        1,
        serde_json::json!({"type": "resume", "call": id}),
    );
    assert_eq!(error_code(&refused), "wrong_state");
    // The queue's ring timeout (10 s) passes: Bob's phone is cancelled.
    // (Ann's phone keeps sending RTP: a silent one would count as gone.)
    sim.take_sip();
    let ann_leg = sim.engine.calls[&call]
        .acd
        .as_ref()
        .and_then(|p| p.leg)
        .expect("Ann's leg");
    for seq in 0..550u16 {
        ann.talk(&mut sim, ann_leg, &tone_packet(seq, 440.0));
        sim.advance(ms(20));
    }
    let cancel = sim
        .take_sip()
        .into_iter()
        .find(|s| s.method() == Some(rsip::Method::Cancel))
        .expect("the consultation rings out");
    sim.send(&answer_to(&cancel, 200), bob.peer);
    bob.refuse(&mut sim, 487);
    assert_eq!(states_of(&sim, 2).last(), Some(&"ready"));
    assert!(
        events_of(&sim, 1)
            .iter()
            .any(|e| matches!(e, Event::Consult { stage, .. } if *stage == "ended"))
    );
    // The caller is still Ann's, on hold until she resumes.
    let back = command(
        &mut sim,
        1,
        serde_json::json!({"type": "resume", "call": id}),
    );
    assert!(matches!(back, Event::Ok { .. }), "{back:?}");
}

#[test]
fn a_consulting_agent_whose_phone_vanishes_ends_the_consultation() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let (_caller, call, _id, ann, bob) = consulting(&mut sim);
    bob.answer(&mut sim);
    let bob_leg = leg_key(&sim);
    sim.take_sip();
    // Bob talks; Ann's phone says nothing more and is taken for gone.
    for seq in 0..550u16 {
        bob.talk(&mut sim, bob_leg, &tone_packet(seq, 1000.0));
        sim.advance(ms(20));
    }
    let byes: Vec<Peer> = sim
        .take_sip()
        .iter()
        .filter(|s| s.method() == Some(rsip::Method::Bye))
        .map(|s| s.dest)
        .collect();
    assert!(
        byes.contains(&ann.peer) && byes.contains(&bob.peer),
        "{byes:?}"
    );
    // The caller goes back to the front of the queue, and Bob, free again,
    // is offered them as an ordinary call.
    assert!(
        events_of(&sim, 2)
            .iter()
            .any(|e| matches!(e, Event::Ended { cause, .. } if cause == "consultation over"))
    );
    assert_eq!(states_of(&sim, 2).last(), Some(&"ringing"));
    assert_eq!(sim.engine.consult_of(call), None);
}

#[test]
fn five_wrong_phone_passwords_lock_the_registration_for_a_while() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    for n in 0..5u32 {
        let code = DeskPhone::try_register(&mut sim, 1, "ann", 6001, "guess", 2 + 2 * n);
        assert_eq!(code, 403, "wrong password {n}");
    }
    // The right password now gets 403 too, and the store is not asked.
    let asked = sim.credentials.len();
    let code = DeskPhone::try_register(&mut sim, 1, "ann", 6001, PASSWORD, 20);
    assert_eq!(code, 403);
    assert_eq!(sim.credentials.len(), asked, "no lookup while locked");
    // Another user is not affected; after 15 minutes Ann is let in.
    let code = DeskPhone::try_register(&mut sim, 2, "bob", 6002, PASSWORD, 2);
    assert_eq!(code, 200);
    sim.advance(secs(15 * 60 + 1));
    let code = DeskPhone::try_register(&mut sim, 1, "ann", 6001, PASSWORD, 30);
    assert_eq!(code, 200);
}
