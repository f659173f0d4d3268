//! Property test: random interleavings of requests, retransmissions, ACKs,
//! CANCELs, TU answers, responses and time steps, over UDP and TCP, on both
//! the server and the client side. Checks that nothing panics or errors on
//! valid input, that `poll_timeout` stays truthful (the [`Sim`] harness
//! asserts it at every timer), that no server transaction sends two
//! different final responses, and that once the TU has answered everything
//! every transaction is gone 64*T1 + T4 later.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;

use super::tests::{Sim, invite, ms, request, response, tcp, udp};
use super::*;

const CALLS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    /// The caller sends (or retransmits) INVITE i.
    Invite(usize),
    /// The caller CANCELs INVITE i.
    Cancel(usize),
    /// ACK with the INVITE's branch (the ACK of a non-2xx).
    AckSameBranch(usize),
    /// ACK with a new branch (the ACK of a 2xx).
    Ack2xx(usize),
    /// The TU answers INVITE i, if it has seen it.
    Respond(usize, u16),
    /// The caller sends (or retransmits) OPTIONS i.
    Options(usize),
    /// The TU answers OPTIONS i.
    RespondOptions(usize, u16),
    /// We send INVITE i (once).
    SendInvite(usize),
    /// The far end answers our INVITE i.
    FarResponse(usize, u16),
    /// We CANCEL our INVITE i.
    SendCancel(usize),
    /// We send an OPTIONS i; the far end may answer it.
    SendOptions(usize),
    FarOptionsResponse(usize, u16),
    /// Simulated time passes, timers fire.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let call = 0..CALLS;
    let tu_code = prop::sample::select(vec![100u16, 180, 200, 486, 603]);
    let far_code = prop::sample::select(vec![100u16, 180, 200, 200, 487, 486]);
    prop_oneof![
        3 => call.clone().prop_map(Op::Invite),
        2 => call.clone().prop_map(Op::Cancel),
        1 => call.clone().prop_map(Op::AckSameBranch),
        2 => call.clone().prop_map(Op::Ack2xx),
        3 => (call.clone(), tu_code.clone()).prop_map(|(c, s)| Op::Respond(c, s)),
        1 => call.clone().prop_map(Op::Options),
        1 => (call.clone(), tu_code).prop_map(|(c, s)| Op::RespondOptions(c, s)),
        1 => call.clone().prop_map(Op::SendInvite),
        2 => (call.clone(), far_code.clone()).prop_map(|(c, s)| Op::FarResponse(c, s)),
        1 => call.clone().prop_map(Op::SendCancel),
        1 => call.clone().prop_map(Op::SendOptions),
        1 => (call, far_code).prop_map(|(c, s)| Op::FarOptionsResponse(c, s)),
        3 => (0u64..6000).prop_map(Op::Advance),
    ]
}

struct Model {
    sim: Sim,
    peers: Vec<Peer>,
    /// Server transactions the TU has heard of, by call.
    invites: HashMap<usize, TxKey>,
    options: HashMap<usize, TxKey>,
    sent_invites: HashSet<usize>,
    /// Distinct final status codes sent per server transaction (branch, method).
    finals: HashMap<(String, String), HashSet<u16>>,
}

fn in_call(i: usize) -> String {
    format!("in{i}")
}

fn out_call(i: usize) -> String {
    format!("out{i}")
}

impl Model {
    fn new(tcp_calls: &[bool]) -> Model {
        Model {
            sim: Sim::new(),
            peers: tcp_calls
                .iter()
                .map(|&t| if t { tcp() } else { udp() })
                .collect(),
            invites: HashMap::new(),
            options: HashMap::new(),
            sent_invites: HashSet::new(),
            finals: HashMap::new(),
        }
    }

    fn in_invite(i: usize) -> rsip::Request {
        invite(&in_call(i), &format!("z9hG4bKin{i}"))
    }

    fn in_options(i: usize) -> rsip::Request {
        request("OPTIONS", &in_call(i), &format!("z9hG4bKopt{i}"), 9, None)
    }

    fn out_invite(i: usize) -> rsip::Request {
        invite(&out_call(i), &format!("z9hG4bKout{i}"))
    }

    fn out_options(i: usize) -> rsip::Request {
        request("OPTIONS", &out_call(i), &format!("z9hG4bKoo{i}"), 7, None)
    }

    fn apply(&mut self, op: &Op) {
        let s = &mut self.sim;
        match *op {
            Op::Invite(i) => s.request(Self::in_invite(i), self.peers[i]),
            Op::Cancel(i) => s.request(
                request("CANCEL", &in_call(i), &format!("z9hG4bKin{i}"), 1, None),
                self.peers[i],
            ),
            Op::AckSameBranch(i) => s.request(
                request("ACK", &in_call(i), &format!("z9hG4bKin{i}"), 1, Some("tu")),
                self.peers[i],
            ),
            Op::Ack2xx(i) => s.request(
                request("ACK", &in_call(i), &format!("z9hG4bKack{i}"), 1, Some("tu")),
                self.peers[i],
            ),
            Op::Respond(i, code) => {
                if let Some(key) = self.invites.get(&i) {
                    // Refusals (already final, ended) are expected here.
                    let _ = s.respond(key, response(&Self::in_invite(i), code, Some("tu")));
                }
            }
            Op::Options(i) => s.request(Self::in_options(i), self.peers[i]),
            Op::RespondOptions(i, code) => {
                if let Some(key) = self.options.get(&i) {
                    let _ = s.respond(key, response(&Self::in_options(i), code, Some("tu")));
                }
            }
            Op::SendInvite(i) => {
                if self.sent_invites.insert(i) {
                    s.send(Self::out_invite(i), self.peers[i]);
                }
            }
            Op::FarResponse(i, code) => {
                let tag = if code == 200 { "far-a" } else { "far" };
                s.response(
                    response(&Self::out_invite(i), code, Some(tag)),
                    self.peers[i],
                );
            }
            Op::SendCancel(i) => {
                if self.sent_invites.contains(&i) {
                    s.send(
                        request("CANCEL", &out_call(i), &format!("z9hG4bKout{i}"), 1, None),
                        self.peers[i],
                    );
                }
            }
            Op::SendOptions(i) => {
                s.send(Self::out_options(i), self.peers[i]);
            }
            Op::FarOptionsResponse(i, code) => {
                s.response(
                    response(&Self::out_options(i), code, Some("far")),
                    self.peers[i],
                );
            }
            Op::Advance(n) => {
                let to = s.elapsed() + ms(n);
                s.advance_to(to);
            }
        }
        self.observe();
    }

    /// Learns new server transactions from Request events and records the
    /// finals sent. A Request event starts a new transaction under its key,
    /// and the step that produces it sends no final for that key.
    fn observe(&mut self) {
        for (_, event) in std::mem::take(&mut self.sim.events) {
            match event {
                TxEvent::Request { key, request, .. } => {
                    assert_ne!(request.method, rsip::Method::Ack);
                    let call = key::call_id(&request).expect("call-id");
                    let i: usize = call[2..].parse().expect("in<i>");
                    self.finals
                        .remove(&(key.branch().to_string(), key.method().to_string()));
                    match key.method() {
                        rsip::Method::Invite => self.invites.insert(i, key),
                        _ => self.options.insert(i, key),
                    };
                }
                TxEvent::Cancelled { invite } => {
                    assert_eq!(invite.method(), rsip::Method::Invite)
                }
                TxEvent::Ack { request, .. } => assert_eq!(request.method, rsip::Method::Ack),
                TxEvent::Response { .. } | TxEvent::Timeout { .. } | TxEvent::AckTimeout { .. } => {
                }
            }
        }
        for sent in std::mem::take(&mut self.sim.sent) {
            let rsip::SipMessage::Response(r) = &sent.msg else {
                continue;
            };
            let code = r.status_code.code();
            let method = key::cseq(r).expect("cseq").method;
            if code < 200 || method == rsip::Method::Cancel {
                // CANCEL answers come from the layer and a CANCEL may
                // legitimately be answered 200 and later, once its own
                // transaction ended, 481 to a retransmission.
                continue;
            }
            let branch = key::top_via(r)
                .expect("via")
                .branch()
                .map(|b| b.to_string());
            let codes = self
                .finals
                .entry((branch.unwrap_or_default(), method.to_string()))
                .or_default();
            codes.insert(code);
            assert!(codes.len() <= 1, "two different finals: {codes:?}");
        }
    }

    /// The TU answers whatever is open, the far end answers our INVITEs,
    /// then everything must run out.
    fn finish(&mut self) {
        for (i, key) in self.invites.clone() {
            let _ = self
                .sim
                .respond(&key, response(&Self::in_invite(i), 486, Some("tu")));
        }
        for (i, key) in self.options.clone() {
            let _ = self
                .sim
                .respond(&key, response(&Self::in_options(i), 200, Some("tu")));
        }
        for i in self.sent_invites.clone() {
            self.sim.response(
                response(&Self::out_invite(i), 487, Some("far")),
                self.peers[i],
            );
        }
        self.observe();
        self.sim.settle();
        self.observe();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_interleavings_never_leak_or_double_answer(
        tcp_calls in prop::collection::vec(any::<bool>(), CALLS),
        ops in prop::collection::vec(op(), 0..80),
    ) {
        let mut model = Model::new(&tcp_calls);
        for op in &ops {
            model.apply(op);
        }
        model.finish();
        prop_assert_eq!(model.sim.layer.len(), 0);
    }
}
