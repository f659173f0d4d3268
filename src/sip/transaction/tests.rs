//! Scenario tests of the transaction layer in simulated time: one base
//! `Instant`, every step an offset from it. The [`Sim`] harness also checks,
//! at every timer it fires, that `poll_timeout` named the earliest deadline
//! (nothing fires just before it) and never lies in the past.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::prelude::*;

use super::*;
use crate::sip::Transport;

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(super) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(super) fn peer(transport: Transport) -> Peer {
    let addr: SocketAddr = match transport {
        Transport::Udp => "192.0.2.1:5060",
        Transport::Tcp => "192.0.2.2:5060",
    }
    .parse()
    .expect("valid address");
    Peer { addr, transport }
}

pub(super) fn udp() -> Peer {
    peer(Transport::Udp)
}

pub(super) fn tcp() -> Peer {
    peer(Transport::Tcp)
}

/// A request of call `call` (Call-ID, From tag) with the given branch.
pub(super) fn request(
    method: &str,
    call: &str,
    branch: &str,
    cseq: u32,
    to_tag: Option<&str>,
) -> rsip::Request {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let text = format!(
        "{method} sip:4001234567@hotline.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@example.com>;tag=from-{call}\r\n\
         To: <sip:4001234567@hotline.example>{to_tag}\r\n\
         Call-ID: {call}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:caller@192.0.2.1:5060>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match rsip::SipMessage::try_from(text.as_str()) {
        Ok(rsip::SipMessage::Request(r)) => r,
        other => panic!("test request does not parse: {other:?}"),
    }
}

pub(super) fn invite(call: &str, branch: &str) -> rsip::Request {
    request("INVITE", call, branch, 1, None)
}

/// A response to `req` as its UAS would write it.
pub(super) fn response(req: &rsip::Request, code: u16, to_tag: Option<&str>) -> rsip::Response {
    let mut text = format!("SIP/2.0 {code} Whatever\r\n");
    for header in req.headers.iter() {
        match header {
            rsip::Header::Via(_)
            | rsip::Header::From(_)
            | rsip::Header::CallId(_)
            | rsip::Header::CSeq(_) => text.push_str(&format!("{header}\r\n")),
            rsip::Header::To(to) => {
                let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
                text.push_str(&format!("To: {}{tag}\r\n", to.value()));
            }
            _ => {}
        }
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    match rsip::SipMessage::try_from(text.as_str()) {
        Ok(rsip::SipMessage::Response(r)) => r,
        other => panic!("test response does not parse: {other:?}"),
    }
}

/// A message the layer sent, parsed back.
#[derive(Debug)]
pub(super) struct Sent {
    pub at: Duration,
    pub dest: Peer,
    pub msg: rsip::SipMessage,
}

impl Sent {
    pub fn code(&self) -> Option<u16> {
        match &self.msg {
            rsip::SipMessage::Response(r) => Some(r.status_code.code()),
            rsip::SipMessage::Request(_) => None,
        }
    }

    pub fn method(&self) -> Option<rsip::Method> {
        match &self.msg {
            rsip::SipMessage::Request(r) => Some(r.method),
            rsip::SipMessage::Response(_) => None,
        }
    }

    pub fn to_tag(&self) -> Option<String> {
        self.msg
            .to_header()
            .ok()
            .and_then(|t| t.tag().ok().flatten())
            .map(|t| t.to_string())
    }

    pub fn cseq_method(&self) -> Option<rsip::Method> {
        self.msg.cseq_header().ok().and_then(|c| c.method().ok())
    }
}

/// The simulated-time harness.
pub(super) struct Sim {
    pub layer: TransactionLayer,
    pub base: Instant,
    pub now: Instant,
    pub sent: Vec<Sent>,
    pub events: Vec<(Duration, TxEvent)>,
}

impl Sim {
    pub fn new() -> Sim {
        Sim::with_config(TimerConfig::default())
    }

    pub fn with_config(config: TimerConfig) -> Sim {
        let base = Instant::now();
        Sim {
            layer: TransactionLayer::with_rng(config, fastrand::Rng::with_seed(7)),
            base,
            now: base,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    fn drain(&mut self) {
        self.layer.check_timer_queue();
        while let Some(out) = self.layer.poll_output() {
            match out {
                TxOutput::Transmit { dest, bytes } => {
                    let msg = rsip::SipMessage::try_from(bytes.as_slice())
                        .expect("the layer sends parsable messages");
                    let text = String::from_utf8(bytes).expect("ASCII");
                    assert_eq!(text.matches("Content-Length:").count(), 1, "{text}");
                    self.sent.push(Sent {
                        at: self.elapsed(),
                        dest,
                        msg,
                    });
                }
                TxOutput::Event(e) => self.events.push((self.elapsed(), e)),
            }
        }
    }

    /// Runs every timer up to `base + to`, checking `poll_timeout` on the way.
    pub fn advance_to(&mut self, to: Duration) {
        let target = self.base + to;
        while let Some(t) = self.layer.poll_timeout() {
            assert!(t > self.now, "poll_timeout is not in the future");
            if t > target {
                break;
            }
            // Nothing may be due before the deadline poll_timeout named.
            let just_before = t - Duration::from_micros(1);
            if just_before > self.now {
                let len = self.layer.len();
                self.layer.handle_timeout(just_before);
                assert!(self.layer.poll_output().is_none(), "a timer fired early");
                self.layer.check_timer_queue();
                assert_eq!(self.layer.poll_timeout(), Some(t));
                assert_eq!(self.layer.len(), len);
            }
            self.now = t;
            self.layer.handle_timeout(t);
            self.drain();
        }
        if target > self.now {
            self.now = target;
        }
    }

    pub fn request(&mut self, req: rsip::Request, from: Peer) {
        self.layer
            .handle_request(self.now, req, from)
            .expect("valid request");
        self.drain();
    }

    pub fn response(&mut self, resp: rsip::Response, from: Peer) -> bool {
        let matched = self
            .layer
            .handle_response(self.now, resp, from)
            .expect("valid response");
        self.drain();
        matched
    }

    pub fn respond(&mut self, key: &TxKey, resp: rsip::Response) -> Result<(), Error> {
        let r = self.layer.respond(self.now, key, resp);
        self.drain();
        r
    }

    pub fn send(&mut self, req: rsip::Request, dest: Peer) -> TxKey {
        let key = self
            .layer
            .send_request(self.now, req, dest)
            .expect("valid request");
        self.drain();
        key
    }

    pub fn take_sent(&mut self) -> Vec<Sent> {
        std::mem::take(&mut self.sent)
    }

    pub fn take_events(&mut self) -> Vec<TxEvent> {
        std::mem::take(&mut self.events)
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }

    /// The key of the single Request event so far.
    pub fn request_key(&mut self) -> TxKey {
        let events = self.take_events();
        match events.as_slice() {
            [TxEvent::Request { key, .. }] => key.clone(),
            other => panic!("expected one Request event, got {other:?}"),
        }
    }

    /// Lets every transaction run out and checks none is left.
    pub fn settle(&mut self) {
        let c = *self.layer.config();
        let until = self.elapsed() + c.t1 * 64 + c.t4 + secs(1);
        self.advance_to(until);
        assert_eq!(self.layer.len(), 0, "transactions leaked");
        assert!(self.layer.is_empty());
        assert_eq!(self.layer.poll_timeout(), None);
    }
}

fn times(sent: &[Sent]) -> Vec<Duration> {
    sent.iter().map(|s| s.at).collect()
}

/// 0, then T1, 2T1, 4T1 … capped at T2, while before `end` (UDP G, G', E).
fn capped_schedule(end: Duration) -> Vec<Duration> {
    let mut at = Duration::ZERO;
    let mut interval = ms(500);
    let mut out = vec![at];
    loop {
        at += interval;
        if at >= end {
            return out;
        }
        out.push(at);
        interval = (interval * 2).min(secs(4));
    }
}

// ---------------------------------------------------------------- INVITE server

#[test]
fn invite_server_sends_trying_then_passes_request_up() {
    let mut sim = Sim::new();
    sim.request(invite("c1", "z9hG4bK1"), udp());
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].code(), Some(100));
    assert_eq!(sent[0].dest, udp());
    assert_eq!(sent[0].to_tag(), None, "no tag on 100 Trying");
    match sim.take_events().as_slice() {
        [
            TxEvent::Request {
                key,
                request,
                source,
            },
        ] => {
            assert_eq!(key.method(), rsip::Method::Invite);
            assert_eq!(request.method, rsip::Method::Invite);
            assert_eq!(*source, udp());
        }
        other => panic!("{other:?}"),
    }
    // Proceeding waits for the TU: no timer runs.
    assert_eq!(sim.layer.poll_timeout(), None);
    assert_eq!(sim.layer.len(), 1);
}

#[test]
fn retransmitted_invite_in_proceeding_resends_last_provisional() {
    let mut sim = Sim::new();
    let inv = invite("c1", "z9hG4bK1");
    sim.request(inv.clone(), udp());
    let key = sim.request_key();
    sim.take_sent();
    sim.request(inv.clone(), udp());
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].code(), Some(100));
    assert!(
        sim.take_events().is_empty(),
        "a retransmission is not passed up"
    );

    sim.respond(&key, response(&inv, 180, Some("tu"))).unwrap();
    assert_eq!(sim.take_sent()[0].code(), Some(180));
    sim.request(inv.clone(), udp());
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].code(), Some(180));
    assert_eq!(sent[0].to_tag().as_deref(), Some("tu"));
    assert!(sim.take_events().is_empty());

    sim.respond(&key, response(&inv, 486, Some("tu"))).unwrap();
    sim.settle();
}

#[test]
fn lost_ack_for_4xx_timer_g_until_h() {
    let mut sim = Sim::new();
    let inv = invite("c1", "z9hG4bK1");
    sim.request(inv.clone(), udp());
    let key = sim.request_key();
    sim.take_sent();
    sim.respond(&key, response(&inv, 486, Some("busy")))
        .unwrap();
    // G: 0.5, 1, 2, 4, 4 … s apart; H ends it at 64*T1 = 32 s.
    assert_eq!(sim.layer.poll_timeout(), Some(sim.base + ms(500)));
    sim.advance_to(secs(31));
    assert_eq!(sim.layer.len(), 1);
    sim.advance_to(secs(40));
    let sent = sim.take_sent();
    assert!(sent.iter().all(|s| s.code() == Some(486)));
    let expected: Vec<Duration> = vec![
        ms(0),
        ms(500),
        ms(1500),
        ms(3500),
        ms(7500),
        ms(11500),
        ms(15500),
        ms(19500),
        ms(23500),
        ms(27500),
        ms(31500),
    ];
    assert_eq!(times(&sent), expected);
    assert_eq!(times(&sent), capped_schedule(secs(32)));
    assert_eq!(sim.layer.len(), 0, "Timer H ended it");
    assert!(
        sim.take_events().is_empty(),
        "H after an error answer is silent"
    );
}

#[test]
fn ack_for_4xx_stops_g_then_timer_i() {
    let mut sim = Sim::new();
    let inv = invite("c1", "z9hG4bK1");
    sim.request(inv.clone(), udp());
    let key = sim.request_key();
    sim.take_sent();
    sim.respond(&key, response(&inv, 404, Some("nf"))).unwrap();
    sim.advance_to(ms(1000));
    assert_eq!(times(&sim.take_sent()), vec![ms(0), ms(500)]);
    // An INVITE retransmission in Completed gets the final again.
    sim.request(inv.clone(), udp());
    assert_eq!(sim.take_sent()[0].code(), Some(404));

    let ack = request("ACK", "c1", "z9hG4bK1", 1, Some("nf"));
    sim.request(ack.clone(), udp());
    assert!(sim.take_sent().is_empty());
    assert!(sim.take_events().is_empty(), "ACK to a non-2xx is absorbed");
    // Confirmed: Timer I = T4.
    assert_eq!(
        sim.layer.poll_timeout(),
        Some(sim.base + ms(1000) + secs(5))
    );
    sim.request(ack, udp());
    sim.request(inv, udp());
    assert!(
        sim.take_sent().is_empty(),
        "Confirmed absorbs ACK and INVITE"
    );
    assert!(sim.take_events().is_empty());
    sim.advance_to(ms(5999));
    assert_eq!(sim.layer.len(), 1);
    sim.advance_to(secs(6));
    assert_eq!(sim.layer.len(), 0);
    assert!(
        sim.take_sent().is_empty(),
        "no retransmission after the ACK"
    );
}

#[test]
fn lost_200_is_retransmitted_until_ack() {
    let mut sim = Sim::new();
    let inv = invite("c1", "z9hG4bK1");
    sim.request(inv.clone(), udp());
    let key = sim.request_key();
    sim.take_sent();
    sim.respond(&key, response(&inv, 200, Some("ok"))).unwrap();
    sim.advance_to(secs(2));
    // The INVITE retransmitted in Accepted is absorbed, not passed up.
    sim.request(inv.clone(), udp());
    assert!(sim.take_events().is_empty());
    sim.advance_to(secs(5));
    let sent = sim.take_sent();
    assert!(sent.iter().all(|s| s.code() == Some(200)));
    assert_eq!(times(&sent), vec![ms(0), ms(500), ms(1500), ms(3500)]);

    // The 2xx ACK has a new branch (RFC 3261 §13.2.2.4).
    let ack = request("ACK", "c1", "z9hG4bKack", 1, Some("ok"));
    sim.request(ack.clone(), udp());
    match sim.take_events().as_slice() {
        [TxEvent::Ack { request, source }] => {
            assert_eq!(request, &ack);
            assert_eq!(*source, udp());
        }
        other => panic!("{other:?}"),
    }
    // Still in Accepted (Timer L) to absorb INVITE retransmissions.
    assert_eq!(sim.layer.len(), 1);
    sim.request(inv, udp());
    assert!(sim.take_events().is_empty());
    sim.advance_to(secs(31));
    assert!(
        sim.take_sent().is_empty(),
        "the ACK stopped the retransmissions"
    );
    sim.advance_to(secs(32));
    assert_eq!(sim.layer.len(), 0, "Timer L ended it");
    assert!(sim.take_events().is_empty(), "no AckTimeout after the ACK");
}

#[test]
fn unacked_200_gives_ack_timeout_at_64_t1() {
    let mut sim = Sim::new();
    let inv = invite("c1", "z9hG4bK1");
    sim.request(inv.clone(), udp());
    let key = sim.request_key();
    sim.take_sent();
    sim.respond(&key, response(&inv, 200, Some("ok"))).unwrap();
    sim.advance_to(secs(40));
    let sent = sim.take_sent();
    assert_eq!(times(&sent), capped_schedule(secs(32)));
    assert_eq!(sent.len(), 11);
    match sim.events.as_slice() {
        [(at, TxEvent::AckTimeout { key: k })] => {
            assert_eq!(*at, secs(32));
            assert_eq!(k, &key);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.layer.len(), 0);
}

#[test]
fn ack_reusing_the_invite_branch_still_acks_the_2xx() {
    let mut sim = Sim::new();
    let inv = invite("c1", "z9hG4bK1");
    sim.request(inv.clone(), udp());
    let key = sim.request_key();
    sim.respond(&key, response(&inv, 200, Some("ok"))).unwrap();
    sim.take_sent();
    sim.request(request("ACK", "c1", "z9hG4bK1", 1, Some("ok")), udp());
    assert!(matches!(
        sim.take_events().as_slice(),
        [TxEvent::Ack { .. }]
    ));
    sim.advance_to(secs(10));
    assert!(sim.take_sent().is_empty());
    sim.settle();
}

#[test]
fn cancel_before_final_answers_200_and_487() {
    let mut sim = Sim::new();
    let inv = invite("c1", "z9hG4bK1");
    sim.request(inv.clone(), udp());
    let key = sim.request_key();
    sim.take_sent();
    let cancel = request("CANCEL", "c1", "z9hG4bK1", 1, None);
    sim.request(cancel.clone(), udp());
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].code(), Some(200));
    assert_eq!(sent[0].cseq_method(), Some(rsip::Method::Cancel));
    assert_eq!(sent[1].code(), Some(487));
    assert_eq!(sent[1].cseq_method(), Some(rsip::Method::Invite));
    let tag = sent[1].to_tag().expect("487 carries a To tag");
    assert_eq!(sent[0].to_tag(), Some(tag));
    assert_eq!(
        sim.take_events(),
        vec![TxEvent::Cancelled {
            invite: key.clone()
        }]
    );
    // The TU's answer comes too late: the 487 was the final.
    assert!(sim.respond(&key, response(&inv, 200, Some("x"))).is_err());
    assert!(sim.take_sent().is_empty());
    // A retransmitted CANCEL gets the same 200, nothing else.
    sim.request(cancel, udp());
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].code(), Some(200));
    assert!(sim.take_events().is_empty());
    // The 487 is ACKed like any error answer.
    sim.request(request("ACK", "c1", "z9hG4bK1", 1, None), udp());
    assert!(sim.take_events().is_empty());
    sim.settle();
    assert!(sim.take_sent().is_empty(), "the ACK stopped Timer G");
}

#[test]
fn cancel_uses_the_tag_of_the_tus_provisional() {
    let mut sim = Sim::new();
    let inv = invite("c1", "z9hG4bK1");
    sim.request(inv.clone(), udp());
    let key = sim.request_key();
    sim.respond(&key, response(&inv, 180, Some("tu-tag")))
        .unwrap();
    sim.take_sent();
    sim.request(request("CANCEL", "c1", "z9hG4bK1", 1, None), udp());
    let sent = sim.take_sent();
    assert_eq!(sent[1].code(), Some(487));
    assert_eq!(sent[1].to_tag().as_deref(), Some("tu-tag"));
    sim.settle();
}

#[test]
fn cancel_after_200_only_answers_the_cancel() {
    let mut sim = Sim::new();
    let inv = invite("c1", "z9hG4bK1");
    sim.request(inv.clone(), udp());
    let key = sim.request_key();
    sim.respond(&key, response(&inv, 200, Some("ok"))).unwrap();
    sim.take_sent();
    sim.request(request("CANCEL", "c1", "z9hG4bK1", 1, None), udp());
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].code(), Some(200));
    assert_eq!(sent[0].cseq_method(), Some(rsip::Method::Cancel));
    assert_eq!(sent[0].to_tag().as_deref(), Some("ok"));
    assert!(sim.take_events().is_empty(), "the call goes on");
    // The 2xx is still retransmitted until its ACK.
    sim.advance_to(ms(600));
    assert_eq!(sim.take_sent()[0].code(), Some(200));
    sim.request(request("ACK", "c1", "z9hG4bKa", 1, Some("ok")), udp());
    assert!(matches!(
        sim.take_events().as_slice(),
        [TxEvent::Ack { .. }]
    ));
    sim.settle();
}

#[test]
fn cancel_for_unknown_invite_is_481() {
    let mut sim = Sim::new();
    let cancel = request("CANCEL", "c9", "z9hG4bKnone", 1, None);
    sim.request(cancel.clone(), udp());
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].code(), Some(481));
    assert!(sent[0].to_tag().is_some());
    assert!(sim.take_events().is_empty());
    sim.request(cancel, udp());
    assert_eq!(sim.take_sent()[0].code(), Some(481));
    // Timer J keeps the answer for retransmissions, then ends it.
    assert_eq!(sim.layer.poll_timeout(), Some(sim.base + secs(32)));
    sim.settle();
}

// ------------------------------------------------------------ non-INVITE server

#[test]
fn non_invite_server_udp_timer_j() {
    let mut sim = Sim::new();
    let options = request("OPTIONS", "o1", "z9hG4bKo", 1, None);
    sim.request(options.clone(), udp());
    let key = sim.request_key();
    assert!(sim.take_sent().is_empty(), "no 100 for non-INVITE");
    // Trying: a retransmission is absorbed.
    sim.request(options.clone(), udp());
    assert!(sim.take_sent().is_empty());
    assert!(sim.take_events().is_empty());
    sim.advance_to(secs(1));
    sim.respond(&key, response(&options, 200, Some("t")))
        .unwrap();
    assert_eq!(sim.take_sent()[0].code(), Some(200));
    sim.advance_to(secs(2));
    sim.request(options, udp());
    assert_eq!(
        sim.take_sent()[0].code(),
        Some(200),
        "Completed resends the final"
    );
    assert_eq!(sim.layer.poll_timeout(), Some(sim.base + secs(33)));
    sim.advance_to(ms(32999));
    assert_eq!(sim.layer.len(), 1);
    sim.advance_to(secs(33));
    assert_eq!(sim.layer.len(), 0);
    assert!(
        sim.take_sent().is_empty(),
        "a non-INVITE final is never retransmitted on a timer"
    );
}

#[test]
fn non_invite_server_proceeding_and_tcp_zero_j() {
    let mut sim = Sim::new();
    let bye = request("BYE", "b1", "z9hG4bKb", 2, Some("x"));
    sim.request(bye.clone(), tcp());
    let key = sim.request_key();
    sim.respond(&key, response(&bye, 100, Some("x"))).unwrap();
    sim.request(bye.clone(), tcp());
    let sent = sim.take_sent();
    assert_eq!(
        sent.iter().filter_map(Sent::code).collect::<Vec<_>>(),
        [100, 100]
    );
    assert!(sent.iter().all(|s| s.dest == tcp()));
    sim.respond(&key, response(&bye, 200, Some("x"))).unwrap();
    assert_eq!(sim.take_sent()[0].code(), Some(200));
    assert_eq!(sim.layer.len(), 0, "J is zero over TCP");
    // A late retransmission is a new request again (RFC 3261 §17.2.2).
    sim.request(bye, tcp());
    assert!(matches!(
        sim.take_events().as_slice(),
        [TxEvent::Request { .. }]
    ));
}

#[test]
fn respond_errors() {
    let mut sim = Sim::new();
    let options = request("OPTIONS", "o1", "z9hG4bKo", 1, None);
    let unknown = TxKey::for_request(&options).unwrap();
    assert!(
        sim.respond(&unknown, response(&options, 200, None))
            .is_err()
    );
    sim.request(options.clone(), udp());
    let key = sim.request_key();
    let mut bad = response(&options, 200, None);
    bad.status_code = 99.into();
    assert!(sim.respond(&key, bad.clone()).is_err());
    bad.status_code = 700.into();
    assert!(sim.respond(&key, bad).is_err());
    sim.respond(&key, response(&options, 200, None)).unwrap();
    assert!(sim.respond(&key, response(&options, 500, None)).is_err());
    assert!(sim.respond(&key, response(&options, 180, None)).is_err());
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1, "refused answers send nothing");
    sim.settle();
    assert!(sim.respond(&key, response(&options, 200, None)).is_err());
}

// ------------------------------------------------------------------ INVITE client

#[test]
fn invite_client_timer_a_doubles_and_b_times_out() {
    let mut sim = Sim::new();
    let key = sim.send(invite("u1", "z9hG4bKu1"), udp());
    assert_eq!(key.method(), rsip::Method::Invite);
    sim.advance_to(secs(40));
    let sent = sim.take_sent();
    assert!(
        sent.iter()
            .all(|s| s.method() == Some(rsip::Method::Invite))
    );
    // A: T1, 2T1, 4T1 … without a cap (RFC 3261 §17.1.1.2).
    assert_eq!(
        times(&sent),
        vec![
            ms(0),
            ms(500),
            ms(1500),
            ms(3500),
            ms(7500),
            ms(15500),
            ms(31500)
        ]
    );
    match sim.events.as_slice() {
        [(at, TxEvent::Timeout { key: k })] => {
            assert_eq!(*at, secs(32));
            assert_eq!(k, &key);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.layer.len(), 0);
}

#[test]
fn invite_client_provisional_stops_a_then_error_is_acked() {
    let mut sim = Sim::new();
    let inv = invite("u1", "z9hG4bKu1");
    let key = sim.send(inv.clone(), udp());
    sim.advance_to(ms(700));
    assert!(sim.response(response(&inv, 100, None), udp()));
    assert!(matches!(
        sim.take_events().as_slice(),
        [TxEvent::Response { .. }]
    ));
    assert_eq!(sim.layer.poll_timeout(), None, "Proceeding runs no timer");
    sim.advance_to(secs(100));
    assert_eq!(times(&sim.take_sent()), vec![ms(0), ms(500)]);
    assert_eq!(sim.layer.len(), 1);

    assert!(sim.response(response(&inv, 486, Some("busy")), udp()));
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1);
    let rsip::SipMessage::Request(ack) = &sent[0].msg else {
        panic!("expected the ACK")
    };
    assert_eq!(ack.method, rsip::Method::Ack);
    assert_eq!(ack.uri, inv.uri);
    assert_eq!(
        TxKey::for_request(ack)
            .unwrap()
            .with_method(rsip::Method::Invite),
        key
    );
    assert_eq!(ack.cseq_header().unwrap().value(), "1 ACK");
    assert_eq!(sent[0].to_tag().as_deref(), Some("busy"));
    match sim.take_events().as_slice() {
        [TxEvent::Response { key: k, response }] => {
            assert_eq!(k, &key);
            assert_eq!(response.status_code.code(), 486);
        }
        other => panic!("{other:?}"),
    }
    // A retransmitted final is ACKed again and not passed up.
    sim.advance_to(secs(101));
    assert!(sim.response(response(&inv, 486, Some("busy")), udp()));
    assert_eq!(sim.take_sent()[0].method(), Some(rsip::Method::Ack));
    assert!(sim.take_events().is_empty());
    // Timer D: 32 s over UDP.
    assert_eq!(sim.layer.poll_timeout(), Some(sim.base + secs(132)));
    sim.advance_to(secs(132));
    assert_eq!(sim.layer.len(), 0);
}

#[test]
fn invite_client_2xx_accepted_with_timer_m() {
    let mut sim = Sim::new();
    let inv = invite("u1", "z9hG4bKu1");
    let key = sim.send(inv.clone(), udp());
    sim.advance_to(secs(2));
    sim.take_sent();
    assert!(sim.response(response(&inv, 200, Some("a")), udp()));
    assert!(
        sim.take_sent().is_empty(),
        "the 2xx ACK is the dialog's job"
    );
    // Duplicate and forked 2xx go up too, each needs its ACK.
    assert!(sim.response(response(&inv, 200, Some("a")), udp()));
    assert!(sim.response(response(&inv, 200, Some("b")), udp()));
    // Non-2xx after a 2xx are dropped.
    assert!(sim.response(response(&inv, 486, Some("c")), udp()));
    let events = sim.take_events();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(
        |e| matches!(e, TxEvent::Response { key: k, response } if k == &key && response.status_code.code() == 200)
    ));
    assert_eq!(sim.layer.poll_timeout(), Some(sim.base + secs(34)));
    sim.advance_to(secs(34));
    assert_eq!(sim.layer.len(), 0);
    assert!(sim.take_events().is_empty(), "M ends silently");
    assert!(
        !sim.response(response(&inv, 200, Some("a")), udp()),
        "stray after M"
    );
    // The UAC core sends its own ACK for the 2xx outside any transaction.
    sim.layer
        .send_ack(request("ACK", "u1", "z9hG4bKack", 1, Some("a")), udp());
    sim.drain();
    assert_eq!(sim.take_sent()[0].method(), Some(rsip::Method::Ack));
    assert_eq!(sim.layer.len(), 0);
}

#[test]
fn cancel_bounds_the_wait_for_a_final() {
    let mut sim = Sim::new();
    let inv = invite("u1", "z9hG4bKu1");
    let key = sim.send(inv.clone(), udp());
    assert!(sim.response(response(&inv, 180, Some("r")), udp()));
    sim.advance_to(secs(5));
    sim.take_sent();
    let cancel = request("CANCEL", "u1", "z9hG4bKu1", 1, None);
    let cancel_key = sim.send(cancel.clone(), udp());
    assert_eq!(cancel_key.method(), rsip::Method::Cancel);
    assert_eq!(sim.layer.len(), 2);
    assert!(sim.response(response(&cancel, 200, Some("r")), udp()));
    sim.take_events();
    // The peer never sends its 487: §9.1 gives up 64*T1 after the CANCEL.
    sim.advance_to(secs(60));
    assert!(sim.events.iter().any(
        |(at, e)| *at == secs(37) && matches!(e, TxEvent::Timeout { key: k } if k == &key)
    ));
    assert_eq!(sim.layer.len(), 0);
}

#[test]
fn invite_client_over_tcp_no_retransmission_and_zero_d() {
    let mut sim = Sim::new();
    let inv = invite("u1", "z9hG4bKu1");
    sim.send(inv.clone(), tcp());
    sim.advance_to(secs(31));
    assert_eq!(sim.take_sent().len(), 1, "no Timer A over TCP");
    assert!(sim.response(response(&inv, 603, Some("d")), tcp()));
    let sent = sim.take_sent();
    assert_eq!(sent[0].method(), Some(rsip::Method::Ack));
    assert_eq!(sent[0].dest, tcp());
    assert_eq!(sim.layer.len(), 0, "Timer D is zero over TCP");
    // B still bounds a silent TCP peer.
    let key = sim.send(invite("u2", "z9hG4bKu2"), tcp());
    sim.advance_to(secs(31 + 32));
    assert!(sim.take_events().contains(&TxEvent::Timeout { key }));
    assert_eq!(sim.take_sent().len(), 1);
    assert_eq!(sim.layer.len(), 0);
}

// -------------------------------------------------------------- non-INVITE client

#[test]
fn non_invite_client_timer_e_capped_and_f_times_out() {
    let mut sim = Sim::new();
    let key = sim.send(request("OPTIONS", "o1", "z9hG4bKo1", 1, None), udp());
    sim.advance_to(secs(40));
    let sent = sim.take_sent();
    assert_eq!(times(&sent), capped_schedule(secs(32)));
    assert_eq!(sent.len(), 11);
    assert_eq!(
        sim.events,
        vec![(secs(32), TxEvent::Timeout { key })],
        "Timer F"
    );
    assert_eq!(sim.layer.len(), 0);
}

#[test]
fn timer_e_continues_at_t2_after_a_provisional_then_k() {
    let mut sim = Sim::new();
    let bye = request("BYE", "o1", "z9hG4bKo1", 2, Some("x"));
    sim.send(bye.clone(), udp());
    sim.advance_to(ms(600));
    assert!(sim.response(response(&bye, 100, Some("x")), udp()));
    sim.advance_to(secs(10));
    // E fires at 1.5 s as planned, then every T2.
    assert_eq!(
        times(&sim.take_sent()),
        vec![ms(0), ms(500), ms(1500), ms(5500), ms(9500)]
    );
    assert!(sim.response(response(&bye, 200, Some("x")), udp()));
    let events = sim.take_events();
    assert_eq!(events.len(), 2, "the 100 and the 200");
    // Completed absorbs retransmissions; Timer K = T4.
    assert!(sim.response(response(&bye, 200, Some("x")), udp()));
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.poll_timeout(), Some(sim.base + secs(15)));
    sim.advance_to(secs(15));
    assert_eq!(sim.layer.len(), 0);
    assert!(sim.take_sent().is_empty());
}

#[test]
fn non_invite_client_over_tcp() {
    let mut sim = Sim::new();
    let info = request("INFO", "i1", "z9hG4bKi1", 3, Some("x"));
    sim.send(info.clone(), tcp());
    sim.advance_to(secs(10));
    assert_eq!(sim.take_sent().len(), 1, "no Timer E over TCP");
    assert!(sim.response(response(&info, 200, Some("x")), tcp()));
    assert_eq!(sim.layer.len(), 0, "Timer K is zero over TCP");
    let key = sim.send(request("INFO", "i1", "z9hG4bKi2", 4, Some("x")), tcp());
    sim.advance_to(secs(42));
    assert_eq!(sim.take_events().last(), Some(&TxEvent::Timeout { key }));
    assert_eq!(sim.layer.len(), 0);
}

// ------------------------------------------------------------------- TCP server

#[test]
fn invite_server_over_tcp() {
    let mut sim = Sim::new();
    // Error answer: no G, the ACK ends it at once (I = 0).
    let inv = invite("t1", "z9hG4bKt1");
    sim.request(inv.clone(), tcp());
    let key = sim.request_key();
    sim.respond(&key, response(&inv, 480, Some("t"))).unwrap();
    assert_eq!(
        sim.layer.poll_timeout(),
        Some(sim.base + secs(32)),
        "only H runs"
    );
    sim.advance_to(secs(10));
    assert_eq!(sim.take_sent().len(), 2, "100 and 480, no retransmission");
    sim.request(request("ACK", "t1", "z9hG4bKt1", 1, Some("t")), tcp());
    assert_eq!(sim.layer.len(), 0);

    // 2xx: no G', but L still waits for the ACK.
    let inv = invite("t2", "z9hG4bKt2");
    sim.request(inv.clone(), tcp());
    let key = sim.request_key();
    sim.respond(&key, response(&inv, 200, Some("t"))).unwrap();
    sim.advance_to(secs(41));
    assert_eq!(sim.layer.len(), 1);
    sim.advance_to(secs(42));
    assert_eq!(sim.take_sent().len(), 2);
    assert!(sim.take_events().contains(&TxEvent::AckTimeout { key }));
    assert_eq!(sim.layer.len(), 0);
}

// ------------------------------------------------------------------------- misc

#[test]
fn poll_timeout_is_the_earliest_of_all() {
    let mut sim = Sim::new();
    let options = request("OPTIONS", "o1", "z9hG4bKo", 1, None);
    sim.request(options.clone(), udp());
    let key = sim.request_key();
    sim.respond(&key, response(&options, 200, None)).unwrap(); // J at 32 s
    assert_eq!(sim.layer.poll_timeout(), Some(sim.base + secs(32)));
    sim.advance_to(secs(1));
    sim.send(request("OPTIONS", "o2", "z9hG4bKo2", 1, None), udp()); // E at 1.5 s
    assert_eq!(sim.layer.poll_timeout(), Some(sim.base + ms(1500)));
    sim.send(invite("u1", "z9hG4bKu1"), tcp()); // B at 33 s
    assert_eq!(sim.layer.poll_timeout(), Some(sim.base + ms(1500)));
    sim.advance_to(ms(1500));
    assert_eq!(sim.layer.poll_timeout(), Some(sim.base + ms(2500)));
    sim.settle();
}

#[test]
fn a_late_handle_timeout_sends_one_retransmission_not_a_burst() {
    let mut sim = Sim::new();
    sim.send(request("OPTIONS", "o1", "z9hG4bKo1", 1, None), udp());
    sim.take_sent();
    sim.now = sim.base + secs(10);
    sim.layer.handle_timeout(sim.now);
    sim.drain();
    assert_eq!(sim.take_sent().len(), 1);
    assert_eq!(sim.layer.poll_timeout(), Some(sim.base + secs(11)));
    // Far too late: F wins over E, no retransmission at the moment we give up.
    sim.now = sim.base + secs(100);
    sim.layer.handle_timeout(sim.now);
    sim.drain();
    assert!(sim.take_sent().is_empty());
    assert!(matches!(
        sim.take_events().as_slice(),
        [TxEvent::Timeout { .. }]
    ));
    assert_eq!(sim.layer.len(), 0);
}

#[test]
fn strays_and_malformed_input() {
    let mut sim = Sim::new();
    let inv = invite("s1", "z9hG4bKs1");
    assert!(
        !sim.response(response(&inv, 200, Some("x")), udp()),
        "stray response"
    );
    let ack = request("ACK", "s1", "z9hG4bKs2", 1, Some("x"));
    sim.request(ack.clone(), udp());
    assert_eq!(
        sim.take_events(),
        vec![TxEvent::Ack {
            request: ack,
            source: udp()
        }],
        "a stray ACK goes up to the dialog layer"
    );

    let no_via = rsip::Request::try_from(
        "OPTIONS sip:x SIP/2.0\r\nCSeq: 1 OPTIONS\r\nCall-ID: a\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(
        sim.layer.handle_request(sim.now, no_via.clone(), udp()),
        Err(Error::BadHeader("Via"))
    );
    assert_eq!(
        sim.layer.send_request(sim.now, no_via, udp()),
        Err(Error::BadHeader("Via"))
    );
    let no_from = rsip::Request::try_from(
        "INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKq\r\nCSeq: 1 INVITE\r\nCall-ID: a\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(
        sim.layer.handle_request(sim.now, no_from, udp()),
        Err(Error::BadHeader("From"))
    );
    let no_cseq = rsip::Response::try_from(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKq\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(
        sim.layer.handle_response(sim.now, no_cseq, udp()),
        Err(Error::BadHeader("CSeq"))
    );
    assert!(sim.layer.poll_output().is_none(), "errors send nothing");
    assert_eq!(sim.layer.len(), 0);
}

#[test]
fn transport_error_fails_waiting_client_transactions() {
    let mut sim = Sim::new();
    let inv = invite("e1", "z9hG4bKe1");
    let key = sim.send(inv, tcp());
    let other = sim.send(request("OPTIONS", "e2", "z9hG4bKe2", 1, None), udp());
    sim.layer.handle_transport_error(sim.now, tcp());
    sim.drain();
    assert_eq!(sim.take_events(), vec![TxEvent::Timeout { key }]);
    assert_eq!(sim.layer.len(), 1);
    sim.advance_to(secs(40));
    assert_eq!(sim.take_events(), vec![TxEvent::Timeout { key: other }]);
    assert_eq!(sim.layer.len(), 0);
}

#[test]
fn rfc2543_invite_retransmission_and_ack() {
    let mut sim = Sim::new();
    let inv = invite("old", "1");
    sim.request(inv.clone(), udp());
    let key = sim.request_key();
    sim.request(inv.clone(), udp());
    assert!(
        sim.take_events().is_empty(),
        "retransmission absorbed without a cookie"
    );
    sim.respond(&key, response(&inv, 486, Some("b"))).unwrap();
    sim.request(request("ACK", "old", "1", 1, Some("b")), udp());
    assert!(sim.take_events().is_empty(), "the ACK matched the INVITE");
    sim.advance_to(secs(10));
    assert_eq!(sim.layer.len(), 0, "Confirmed ended after T4");
}

#[test]
fn config_is_sanitised_and_defaults_hold() {
    let c = TimerConfig::default();
    assert_eq!((c.t1, c.t2, c.t4), (ms(500), secs(4), secs(5)));
    let layer = TransactionLayer::new(TimerConfig {
        t1: Duration::ZERO,
        t2: Duration::ZERO,
        t4: Duration::ZERO,
    });
    assert_eq!(layer.config().t1, ms(1));
    assert_eq!(layer.config().t2, ms(1));
    assert!(layer.is_empty());
}

#[test]
fn huge_timers_do_not_overflow() {
    let mut sim = Sim::with_config(TimerConfig {
        t1: Duration::MAX,
        t2: Duration::MAX,
        t4: Duration::MAX,
    });
    let inv = invite("h1", "z9hG4bKh1");
    sim.request(inv.clone(), udp());
    let key = sim.request_key();
    sim.respond(&key, response(&inv, 200, Some("x"))).unwrap();
    sim.send(invite("h2", "z9hG4bKh2"), udp());
    sim.layer.handle_timeout(sim.now);
    assert_eq!(sim.layer.len(), 2);
}

// ---- The timer queue at scale -------------------------------------------

/// Drains the layer's outputs into the requests the TU has to answer: new
/// ones are added, cancelled ones removed.
type Pending = Vec<(TxKey, rsip::Request, Peer)>;

fn drain_requests(layer: &mut TransactionLayer, pending: &mut Pending) {
    while let Some(out) = layer.poll_output() {
        match out {
            TxOutput::Event(TxEvent::Request {
                key,
                request,
                source,
            }) => pending.push((key, request, source)),
            TxOutput::Event(TxEvent::Cancelled { invite }) => {
                pending.retain(|(k, _, _)| *k != invite)
            }
            _ => {}
        }
    }
}

/// Runs the timers up to `now` as the runtime would, checking that nothing
/// stays due and that `poll_timeout` never lies in the past.
fn run_timers(layer: &mut TransactionLayer, now: Instant, pending: &mut Pending) {
    if layer.poll_timeout().is_some_and(|t| t <= now) {
        layer.handle_timeout(now);
    }
    assert!(layer.poll_timeout().is_none_or(|t| t > now));
    drain_requests(layer, pending);
}

#[test]
fn timer_queue_matches_a_full_scan_with_10_000_transactions() {
    const TRANSACTIONS: usize = 10_000;
    let mut rng = fastrand::Rng::with_seed(42);
    let mut layer = TransactionLayer::with_rng(TimerConfig::default(), fastrand::Rng::with_seed(7));
    let mut now = Instant::now();
    let peers = [udp(), udp(), tcp()];
    // Incoming INVITEs (to retransmit and CANCEL), requests the TU has not
    // answered yet, INVITEs answered 2xx / non-2xx (to ACK), our requests.
    let mut invites: Vec<(rsip::Request, Peer)> = Vec::new();
    let mut pending: Pending = Vec::new();
    let mut accepted: Vec<(rsip::Request, Peer)> = Vec::new();
    let mut rejected: Vec<(rsip::Request, Peer)> = Vec::new();
    let mut sent: Vec<(rsip::Request, Peer)> = Vec::new();
    let (mut started, mut ops, mut max_live, mut max_queue) = (0, 0, 0, 0);
    let answer = |layer: &mut TransactionLayer, now, key: &TxKey, req: &rsip::Request, code| {
        layer
            .respond(now, key, response(req, code, Some("uas")))
            .expect("a pending transaction takes an answer");
    };
    while started < TRANSACTIONS {
        now += ms(rng.u64(0..4));
        run_timers(&mut layer, now, &mut pending);
        let i = started;
        let peer = peers[rng.usize(..peers.len())];
        match rng.u8(0..14) {
            0..=2 => {
                let inv = invite(&format!("in{i}"), &format!("z9hG4bKin{i}"));
                layer.handle_request(now, inv.clone(), peer).unwrap();
                invites.push((inv, peer));
                started += 1;
            }
            3 => {
                let opt = request(
                    "OPTIONS",
                    &format!("o{i}"),
                    &format!("z9hG4bKo{i}"),
                    2,
                    None,
                );
                layer.handle_request(now, opt, peer).unwrap();
                started += 1;
            }
            4..=6 if !pending.is_empty() => {
                let (key, req, from) = pending.swap_remove(rng.usize(..pending.len()));
                let code = if req.method == rsip::Method::Invite {
                    [180, 200, 200, 486][rng.usize(..4)]
                } else {
                    200
                };
                answer(&mut layer, now, &key, &req, code);
                match code {
                    180 => pending.push((key, req, from)),
                    200 if req.method == rsip::Method::Invite => accepted.push((req, from)),
                    486 => rejected.push((req, from)),
                    _ => {}
                }
            }
            7 if !accepted.is_empty() => {
                let (inv, from) = accepted.swap_remove(rng.usize(..accepted.len()));
                let call = inv.call_id_header().unwrap().value().to_string();
                let ack = request("ACK", &call, &format!("z9hG4bKack{i}"), 1, Some("uas"));
                layer.handle_request(now, ack, from).unwrap();
            }
            8 if !rejected.is_empty() => {
                let (inv, from) = rejected.swap_remove(rng.usize(..rejected.len()));
                let call = inv.call_id_header().unwrap().value().to_string();
                let branch = key::top_via(&inv).unwrap().branch().unwrap().to_string();
                let ack = request("ACK", &call, &branch, 1, Some("uas"));
                layer.handle_request(now, ack, from).unwrap();
            }
            9 if !invites.is_empty() => {
                // A CANCEL, or a retransmission of the INVITE.
                let (inv, from) = invites[rng.usize(..invites.len())].clone();
                if rng.bool() {
                    let call = inv.call_id_header().unwrap().value().to_string();
                    let branch = key::top_via(&inv).unwrap().branch().unwrap().to_string();
                    let cancel = request("CANCEL", &call, &branch, 1, None);
                    layer.handle_request(now, cancel, from).unwrap();
                } else {
                    layer.handle_request(now, inv, from).unwrap();
                }
            }
            10 => {
                let (call, branch) = (format!("out{i}"), format!("z9hG4bKout{i}"));
                let req = if rng.bool() {
                    invite(&call, &branch)
                } else {
                    request("OPTIONS", &call, &branch, 1, None)
                };
                layer.send_request(now, req.clone(), peer).unwrap();
                sent.push((req, peer));
                started += 1;
            }
            11 | 12 if !sent.is_empty() => {
                let (req, dest) = sent[rng.usize(..sent.len())].clone();
                let code = [100, 180, 200, 486][rng.usize(..4)];
                layer
                    .handle_response(now, response(&req, code, Some("far")), dest)
                    .unwrap();
            }
            13 if !sent.is_empty() => {
                let (req, dest) = sent[rng.usize(..sent.len())].clone();
                if req.method == rsip::Method::Invite && rng.u8(0..8) > 0 {
                    let call = req.call_id_header().unwrap().value().to_string();
                    let branch = key::top_via(&req).unwrap().branch().unwrap().to_string();
                    let cancel = request("CANCEL", &call, &branch, 1, None);
                    layer.send_request(now, cancel, dest).unwrap();
                } else {
                    layer.handle_transport_error(now, tcp());
                }
            }
            _ => {}
        }
        drain_requests(&mut layer, &mut pending);
        ops += 1;
        max_live = max_live.max(layer.len());
        if ops % 50 == 0 {
            max_queue = max_queue.max(layer.check_timer_queue());
        }
    }
    // The TU answers everything, the far end gives every INVITE a final;
    // then every transaction must run out.
    for (key, req, _) in std::mem::take(&mut pending) {
        answer(&mut layer, now, &key, &req, 486);
    }
    for (req, dest) in &sent {
        let _ = layer.handle_response(now, response(req, 486, Some("far")), *dest);
    }
    layer.check_timer_queue();
    while let Some(t) = layer.poll_timeout() {
        now = t;
        run_timers(&mut layer, now, &mut pending);
        assert!(pending.is_empty(), "no new request arrives while settling");
        ops += 1;
        if ops % 50 == 0 {
            layer.check_timer_queue();
        }
    }
    assert!(max_live > 3_000, "only {max_live} live at most");
    assert!(max_queue > 0);
    assert_eq!(layer.len(), 0, "transactions leaked");
    assert_eq!(layer.queue.len(), 0, "stale timer entries were left behind");
}

/// Over TCP a client transaction ends with its final response but leaves
/// the entry of its Timer B/F (64*T1 away) in the queue: thousands of those
/// must be swept, not kept for 32 s.
#[test]
fn stale_timer_entries_are_swept() {
    let mut layer = TransactionLayer::with_rng(TimerConfig::default(), fastrand::Rng::with_seed(7));
    let now = Instant::now();
    // A few long-lived transactions, so the queue is never trivially empty.
    for i in 0..10 {
        let req = request(
            "OPTIONS",
            &format!("keep{i}"),
            &format!("z9hG4bKk{i}"),
            1,
            None,
        );
        layer.send_request(now, req, udp()).unwrap();
    }
    let mut max_queue = 0;
    for i in 0..10_000 {
        let call = format!("t{i}");
        let req = if i % 2 == 0 {
            invite(&call, &format!("z9hG4bKt{i}"))
        } else {
            request("OPTIONS", &call, &format!("z9hG4bKt{i}"), 1, None)
        };
        layer.send_request(now, req.clone(), tcp()).unwrap();
        assert!(layer.queue.len() <= 2 * layer.len() + queue::COMPACT_SLACK);
        let code = if i % 2 == 0 { 486 } else { 200 };
        assert!(
            layer
                .handle_response(now, response(&req, code, Some("far")), tcp())
                .unwrap()
        );
        assert_eq!(layer.len(), 10, "over TCP the final ends the transaction");
        max_queue = max_queue.max(layer.queue.len());
        drain_requests(&mut layer, &mut Vec::new());
    }
    assert!(
        max_queue <= 2 * 10 + queue::COMPACT_SLACK + 1,
        "{max_queue} entries for 10 live transactions"
    );
    assert_eq!(layer.check_timer_queue(), layer.queue.len());
}
