//! Outbound calls under simulated time: the INVITE a campaign sends the
//! carrier, what each answer comes to (busy, no answer at the ring time, no
//! response at all, a challenge answered once), and an answered survey
//! call whose key press is reported with the attempt.

use super::*;
use crate::campaign::Outcome;
use crate::engine::{AfterAnswer, DialError, DialOrder};

/// The carrier's proxy of the test configuration: outside the trunk's
/// allowed sources, as a carrier's outbound proxy often is.
fn carrier() -> Peer {
    Peer {
        addr: "192.0.2.10:5060".parse().expect("valid address"),
        transport: Transport::Udp,
    }
}

/// A one-question survey: a score 1-5, then goodbye.
const SURVEY: &str = r#"start = "score"
[node.score]
kind = "collect"
prompt = "welcome"
into = "score"
min = 1
max = 1
terminator = ""
pattern = "_[1-5]"
timeout = "3s"
tries = 2
invalid = "goodbye"
no_input = "goodbye"
next = "answer"
after_retries = "bye"

[node.answer]
kind = "answer"
question = "score"
value = "${score}"
next = "bye"

[node.bye]
kind = "hangup"
prompt = "goodbye"
"#;

fn dial_sim() -> Sim {
    Sim::with_flow(config(), SURVEY, &[])
}

fn order(number: &str) -> DialOrder {
    DialOrder {
        campaign: "follow-up".into(),
        contact: 7,
        attempt: 1,
        number: number.into(),
        caller_id: "4008001234".into(),
        then: AfterAnswer::Flow("main".into()),
        lease_owner: "test-dialer".into(),
    }
}

/// Dials `number`; returns the call's key and the INVITE sent.
fn dial(sim: &mut Sim, number: &str) -> (CallKey, Sent) {
    let now = sim.now;
    sim.engine.dial(now, order(number)).expect("dialled");
    sim.drain();
    let call = *sim.open_requests.last().expect("media asked for");
    let invites = sim.requests(rsip::Method::Invite);
    (call, invites.last().expect("an INVITE").clone())
}

/// The carrier's answer to `req` (`tag` on all but 100), with extra
/// header lines and an SDP body.
fn reply(req: &Sent, code: u16, extra: &str, sdp: Option<&str>) -> String {
    let h = |name: &str| req.header(name).expect(name);
    let tag = if code == 100 { "" } else { ";tag=carrier-1" };
    let (cseq, method) = req.cseq();
    let body = sdp.unwrap_or("");
    let ctype = if sdp.is_some() {
        "Content-Type: application/sdp\r\n"
    } else {
        ""
    };
    format!(
        "SIP/2.0 {code} Whatever\r\nVia: {}\r\nFrom: {}\r\nTo: {}{tag}\r\nCall-ID: {}\r\n\
         CSeq: {cseq} {method}\r\nContact: <sip:customer@192.0.2.10:5060>\r\n{extra}{ctype}\
         Content-Length: {}\r\n\r\n{body}",
        h("Via"),
        h("From"),
        h("To"),
        h("Call-ID"),
        body.len()
    )
}

/// The customer's SDP answer: PCMU and telephone-event at `CALLER_RTP`.
fn customer_sdp() -> String {
    let rtp = caller_rtp();
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
        ip = rtp.ip(),
        port = rtp.port()
    )
}

/// The customer hangs up: a BYE in the dialog of `invite`, from the proxy.
fn customer_bye(invite: &Sent, branch: &str) -> String {
    let to = invite.header("From").unwrap();
    let from = format!("{};tag=carrier-1", invite.header("To").unwrap());
    format!(
        "BYE sip:hotline@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{branch}\r\n\
         Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: 1 BYE\r\n\
         Content-Length: 0\r\n\r\n",
        invite.header("Call-ID").unwrap()
    )
}

fn only_attempt(sim: &Sim) -> crate::engine::Attempt {
    assert_eq!(sim.attempts.len(), 1, "{:#?}", sim.attempts);
    sim.attempts[0].1.clone()
}

#[test]
fn the_invite_names_the_customer_at_the_carrier_and_offers_our_codecs() {
    let mut sim = dial_sim();
    let (_, invite) = dial(&mut sim, "13900000486");
    assert_eq!(invite.dest, carrier());
    let rsip::SipMessage::Request(req) = &invite.msg else {
        panic!("a request");
    };
    assert_eq!(req.uri.to_string(), "sip:13900000486@carrier.example");
    assert!(
        invite
            .header("From")
            .unwrap()
            .contains("sip:4008001234@carrier.example")
    );
    let offer = invite.sdp();
    let names: Vec<_> = offer.codecs.iter().map(|c| c.1.clone()).collect();
    assert_eq!(names, ["PCMU", "PCMA"]);
    assert_eq!(offer.telephone_event, Some(101));
    assert!(matches!(
        sim.ops().first(),
        Some(RecordOp::Dialled { number, campaign, contact: 7, attempt: 1, .. })
            if number == "13900000486" && campaign == "follow-up"
    ));
}

#[test]
fn busy_ends_the_attempt_busy_and_releases_everything() {
    let mut sim = dial_sim();
    let (call, invite) = dial(&mut sim, "13900000486");
    sim.send(&reply(&invite, 100, "", None), carrier());
    sim.advance(ms(300));
    sim.send(&reply(&invite, 486, "", None), carrier());
    let a = only_attempt(&sim);
    assert_eq!((a.outcome, a.contact, a.attempt), (Outcome::Busy, 7, 1));
    assert!(a.answers.is_empty());
    assert_eq!(sim.only_ending(), ("busy-486".into(), HangupSide::Caller));
    assert!(
        sim.ops()
            .iter()
            .any(|op| matches!(op, RecordOp::Outcome { outcome, .. } if outcome == "busy"))
    );
    assert!(sim.closes.iter().any(|(_, c)| *c == call), "media closed");
    // The transaction layer ACKs the 486 (RFC 3261 §17.1.1.3).
    assert_eq!(sim.requests(rsip::Method::Ack).len(), 1);
    sim.advance(secs(40));
    assert!(sim.engine.is_idle());
    assert_eq!(sim.engine.active_calls(), 0);
}

#[test]
fn the_carriers_challenge_is_answered_once() {
    let mut sim = dial_sim();
    let (_, invite) = dial(&mut sim, "13900000001");
    let secret = b"carrier secret";
    let wall = 1_700_000_000_000;
    let challenge = crate::sip::digest::challenge("carrier", secret, wall, false);
    sim.send(
        &reply(
            &invite,
            407,
            &format!("Proxy-Authenticate: {challenge}\r\n"),
            None,
        ),
        carrier(),
    );
    let invites = sim.requests(rsip::Method::Invite);
    assert_eq!(invites.len(), 2, "the INVITE again, with our answer");
    let again = &invites[1];
    assert_eq!(again.cseq().0, 2);
    assert_eq!(again.header("Call-ID"), invite.header("Call-ID"));
    assert_eq!(again.body(), invite.body(), "the same offer");
    // (header_values splits at commas: the credentials are one list.)
    let header = again.msg.header_values("Proxy-Authorization").join(", ");
    let creds = crate::sip::digest::parse(&header).expect("credentials");
    let ha1 = crate::sip::digest::ha1("acct", "carrier", "pw");
    assert_eq!(
        crate::sip::digest::verify(&creds, "INVITE", "carrier", &ha1, secret, wall),
        Ok(())
    );
    // A second challenge means the account is wrong: the attempt failed.
    sim.send(
        &reply(
            again,
            407,
            &format!("Proxy-Authenticate: {challenge}\r\n"),
            None,
        ),
        carrier(),
    );
    assert_eq!(sim.requests(rsip::Method::Invite).len(), 2);
    assert_eq!(only_attempt(&sim).outcome, Outcome::Failed);
}

#[test]
fn a_call_nobody_answers_is_cancelled_at_the_ring_time() {
    let mut sim = dial_sim();
    let (_, invite) = dial(&mut sim, "13900000408");
    sim.send(&reply(&invite, 180, "", None), carrier());
    sim.advance(secs(19));
    assert!(sim.requests(rsip::Method::Cancel).is_empty());
    sim.advance(secs(2));
    let cancels = sim.requests(rsip::Method::Cancel);
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].at, secs(20), "at the configured ring time");
    sim.send(&reply(&cancels[0], 200, "", None), carrier());
    sim.send(&reply(&invite, 487, "", None), carrier());
    let (at, a) = sim.attempts[0].clone();
    assert_eq!((a.outcome, at), (Outcome::NoAnswer, secs(21)));
    assert_eq!(sim.attempts.len(), 1);
    assert_eq!(sim.only_ending().1, HangupSide::Hotline);
}

#[test]
fn an_answer_crossing_our_cancel_is_hung_up_at_once() {
    let mut sim = dial_sim();
    let (_, invite) = dial(&mut sim, "13900000408");
    sim.send(&reply(&invite, 180, "", None), carrier());
    sim.advance(secs(21));
    assert_eq!(sim.requests(rsip::Method::Cancel).len(), 1);
    sim.send(&reply(&invite, 200, "", Some(&customer_sdp())), carrier());
    assert_eq!(sim.requests(rsip::Method::Ack).len(), 1, "the 2xx is ACKed");
    let byes = sim.requests(rsip::Method::Bye);
    assert_eq!(byes.len(), 1, "and hung up");
    sim.send(&reply(&byes[0], 200, "", None), carrier());
    assert_eq!(only_attempt(&sim).outcome, Outcome::NoAnswer);
    sim.advance(secs(40));
    assert!(sim.engine.is_idle());
}

#[test]
fn a_ring_time_before_any_provisional_answer_waits_to_cancel() {
    let mut sim = dial_sim();
    let (_, invite) = dial(&mut sim, "13900000408");
    sim.advance(secs(21));
    assert!(
        sim.requests(rsip::Method::Cancel).is_empty(),
        "no CANCEL before a provisional response (RFC 3261 §9.1)"
    );
    sim.send(&reply(&invite, 180, "", None), carrier());
    let cancels = sim.requests(rsip::Method::Cancel);
    assert_eq!(cancels.len(), 1, "sent on the first provisional response");
    sim.send(&reply(&invite, 487, "", None), carrier());
    assert_eq!(only_attempt(&sim).outcome, Outcome::NoAnswer);
}

#[test]
fn a_carrier_that_never_answers_is_a_network_error() {
    let mut sim = dial_sim();
    dial(&mut sim, "13900000001");
    sim.advance(secs(40));
    let a = only_attempt(&sim);
    assert_eq!(a.outcome, Outcome::NetworkError);
    assert_eq!(sim.only_ending().0, "no-response");
}

#[test]
fn an_answered_survey_reports_the_customers_key() {
    let mut sim = dial_sim();
    let (call, invite) = dial(&mut sim, "13758461234");
    sim.send(&reply(&invite, 180, "", None), carrier());
    sim.advance(ms(500));
    sim.send(&reply(&invite, 200, "", Some(&customer_sdp())), carrier());
    assert_eq!(sim.requests(rsip::Method::Ack).len(), 1);
    // A retransmitted 2xx (our ACK was lost) is ACKed again.
    sim.send(&reply(&invite, 200, "", Some(&customer_sdp())), carrier());
    assert_eq!(
        sim.sip
            .iter()
            .filter(|s| s.method() == Some(rsip::Method::Ack))
            .count(),
        2
    );
    sim.start_feed(call);
    sim.advance(ms(60));
    // The question plays to the customer's address from the SDP.
    sim.advance(ms(40));
    let heard = sim.heard(call);
    assert!(heard.iter().any(|(p, _)| p == "welcome"), "{heard:?}");
    assert!(sim.rtp_of(call).iter().all(|p| p.dest == caller_rtp()));
    sim.press(call, '4');
    sim.advance(secs(2));
    let bye = sim.only_bye();
    assert_eq!(bye.dest, carrier());
    sim.send(&reply(&bye, 200, "", None), carrier());
    let a = only_attempt(&sim);
    assert_eq!(a.outcome, Outcome::Answered);
    assert_eq!(a.answers, vec![("score".to_owned(), "4".to_owned())]);
    assert!(
        sim.ops()
            .iter()
            .any(|op| matches!(op, RecordOp::Answered { .. }))
    );
    assert!(sim.ops().iter().any(
        |op| matches!(op, RecordOp::Event { kind, detail, .. } if kind == "survey-answer" && detail == "score=4")
    ));
    assert_eq!(sim.only_ending().0, "flow-complete");
}

#[test]
fn the_customer_hanging_up_is_taken_from_the_carriers_proxy() {
    let mut sim = dial_sim();
    let (call, invite) = dial(&mut sim, "13758461234");
    sim.send(&reply(&invite, 200, "", Some(&customer_sdp())), carrier());
    sim.start_feed(call);
    sim.advance(ms(500));
    // The customer's BYE, in the dialog, from the proxy (outside the
    // trunk's allowed sources).
    let bye = customer_bye(&invite, "bye1");
    sim.take_sip();
    sim.send(&bye, carrier());
    sim.expect_response(200);
    let a = only_attempt(&sim);
    assert_eq!((a.outcome, a.answers.len()), (Outcome::Answered, 0));
    assert_eq!(sim.only_ending(), ("caller-bye".into(), HangupSide::Caller));
}

#[test]
fn dial_orders_are_refused_with_a_reason() {
    let mut sim = dial_sim();
    let now = sim.now;
    assert_eq!(
        sim.engine.dial(now, order("139-0000")),
        Err(DialError::BadNumber)
    );
    let mut flowless = order("13900000001");
    flowless.then = AfterAnswer::Flow("nowhere".into());
    assert_eq!(sim.engine.dial(now, flowless), Err(DialError::NoFlow));
    sim.engine.begin_shutdown();
    assert_eq!(
        sim.engine.dial(now, order("13900000001")),
        Err(DialError::NotNow)
    );
    let mut cfg = config();
    cfg.outbound = None;
    let mut bare = Sim::new(cfg);
    let now = bare.now;
    assert_eq!(
        bare.engine.dial(now, order("13900000001")),
        Err(DialError::NoTrunk)
    );
    assert!(sim.engine.is_idle() && bare.engine.is_idle());
}

#[test]
fn a_progressive_call_is_dialled_for_a_ready_agent_and_rings_them_once_answered() {
    use super::acd::{DeskPhone, acd_sim, command, sign_on};
    let mut sim = acd_sim(crate::acd::Strategy::LongestIdle);
    let phone = DeskPhone::register(&mut sim, 1, "ann", 6001);
    sign_on(&mut sim, 1, "ann");
    assert_eq!(sim.engine.agent_room("general"), 0, "nobody is ready");
    command(&mut sim, 1, serde_json::json!({"type": "ready"}));
    assert_eq!(sim.engine.agent_room("general"), 1);

    let mut progressive = order("13900000042");
    progressive.then = AfterAnswer::Agent {
        queue: "general".into(),
        agent: None,
    };
    let now = sim.now;
    sim.engine.dial(now, progressive).expect("dialled");
    sim.drain();
    let call = *sim.open_requests.last().expect("media");
    let invite = sim.requests(rsip::Method::Invite).last().cloned().unwrap();
    assert_eq!(invite.dest, carrier());
    assert_eq!(
        sim.engine.agent_room("general"),
        0,
        "the ready agent is promised to the call being dialled"
    );
    assert!(
        sim.offers.is_empty(),
        "the agent is not rung before the answer"
    );

    sim.send(&reply(&invite, 180, "", None), carrier());
    sim.advance(ms(400));
    sim.send(&reply(&invite, 200, "", Some(&customer_sdp())), carrier());
    sim.start_feed(call);
    sim.advance(ms(100));
    let (agent, view) = sim
        .offers
        .last()
        .cloned()
        .expect("the agent is offered the call");
    assert_eq!(agent, 1);
    assert_eq!(view.campaign.as_deref(), Some("follow-up"));
    assert_eq!(view.caller, "13900000042");
    assert_eq!(view.queue, "general");
    phone.answer(&mut sim);
    sim.advance(ms(200));
    assert!(
        sim.ops()
            .iter()
            .any(|op| matches!(op, RecordOp::AgentAnswered { agent_id: 1, .. }))
    );
    assert_eq!(sim.engine.agent_room("general"), 0, "on the call");

    // The customer hangs up: the attempt was answered.
    let bye = customer_bye(&invite, "bye2");
    sim.send(&bye, carrier());
    assert_eq!(only_attempt(&sim).outcome, Outcome::Answered);
}

#[test]
fn a_progressive_order_for_an_unknown_queue_is_refused() {
    let mut sim = dial_sim();
    let mut o = order("13900000042");
    o.then = AfterAnswer::Agent {
        queue: "nowhere".into(),
        agent: None,
    };
    let now = sim.now;
    assert_eq!(sim.engine.dial(now, o), Err(DialError::NoQueue));
}
