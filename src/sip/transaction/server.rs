//! Server transactions: the INVITE one (RFC 3261 §17.2.1 with the RFC 6026
//! Accepted state) and the non-INVITE one (§17.2.2).
//!
//! Owns, per transaction: the request, the last response sent (to answer
//! retransmissions), its timers, and the To tag the TU answers with (so a
//! 487 produced by a CANCEL carries the same tag). Every transition consumes
//! the transaction and returns [`Step`]: the next state, or the end.
//!
//! Invariants: at most one final response is ever sent per transaction
//! (later `respond` calls fail and leave the state untouched); only
//! retransmission timers (G, G') re-arm themselves; every state that does not
//! wait for the TU has a timer that ends it (H, I, L, J), so a transaction
//! whose TU has answered always terminates.

use std::time::Duration;

use crate::sip::{Error, Peer};

use super::key::{self, TxKey};
use super::timer::{Timer, TimerTable};
use super::wire;
use super::{Ctx, Step, TxEvent};

/// What the 2xx ACK of an INVITE carries (RFC 3261 §13.2.2.4: new branch, but
/// the INVITE's Call-ID, From tag and CSeq number), to find the Accepted
/// transaction that retransmits the 2xx.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct AckId {
    call_id: String,
    from_tag: String,
    cseq: u32,
}

impl AckId {
    pub(super) fn for_request(request: &rsip::Request) -> Result<AckId, Error> {
        Ok(AckId {
            call_id: key::call_id(request)?,
            from_tag: key::from_tag(request)?.unwrap_or_default(),
            cseq: key::cseq(request)?.seq,
        })
    }
}

/// A server transaction of either kind.
pub(super) enum ServerTx {
    Invite(InviteServer),
    NonInvite(NonInviteServer),
}

impl ServerTx {
    pub(super) fn next_deadline(&self) -> Option<std::time::Instant> {
        self.timers().next_deadline()
    }

    pub(super) fn timers(&self) -> &TimerTable {
        match self {
            ServerTx::Invite(tx) => &tx.timers,
            ServerTx::NonInvite(tx) => &tx.timers,
        }
    }

    /// The ACK identity under which the layer indexes this transaction while
    /// it is Accepted (RFC 6026): only then does a 2xx ACK belong to it.
    pub(super) fn awaiting_ack(&self) -> Option<&AckId> {
        match self {
            ServerTx::Invite(tx) => match tx.state {
                InviteServerState::Expect2xxAck { .. } | InviteServerState::AbsorbInvites => {
                    Some(&tx.ack_id)
                }
                _ => None,
            },
            ServerTx::NonInvite(_) => None,
        }
    }

    /// The ACK identity, whatever the state (to clean the index up at the end).
    pub(super) fn ack_id(&self) -> Option<AckId> {
        match self {
            ServerTx::Invite(tx) => Some(tx.ack_id.clone()),
            ServerTx::NonInvite(_) => None,
        }
    }

    pub(super) fn on_retransmission(&self, ctx: &mut Ctx<'_>) {
        match self {
            ServerTx::Invite(tx) => tx.on_retransmission(ctx),
            ServerTx::NonInvite(tx) => tx.on_retransmission(ctx),
        }
    }

    pub(super) fn respond(
        self,
        ctx: &mut Ctx<'_>,
        response: &rsip::Response,
    ) -> (Step<ServerTx>, Result<(), Error>) {
        match self {
            ServerTx::Invite(tx) => {
                let (step, result) = tx.respond(ctx, response);
                (step.map(ServerTx::Invite), result)
            }
            ServerTx::NonInvite(tx) => {
                let (step, result) = tx.respond(ctx, response);
                (step.map(ServerTx::NonInvite), result)
            }
        }
    }

    pub(super) fn on_timer(self, timer: Timer, ctx: &mut Ctx<'_>) -> Step<ServerTx> {
        match self {
            ServerTx::Invite(tx) => tx.on_timer(timer, ctx).map(ServerTx::Invite),
            ServerTx::NonInvite(tx) => tx.on_timer(timer, ctx).map(ServerTx::NonInvite),
        }
    }
}

/// The state of an INVITE server transaction, named by what it waits for.
enum InviteServerState {
    /// "Proceeding": waits for the TU's final answer. The last provisional
    /// (our 100 Trying, or the TU's 1xx) answers INVITE retransmissions.
    ExpectFinal { provisional: Vec<u8> },
    /// "Completed": a 3xx-6xx went out; waits for its ACK. Timer G
    /// retransmits it (UDP), Timer H gives up.
    ExpectAck {
        response: Vec<u8>,
        interval: Duration,
    },
    /// "Confirmed": the ACK came; absorbs ACK retransmissions until Timer I.
    AbsorbAcks,
    /// "Accepted" (RFC 6026) before the ACK: Timer G' retransmits the 2xx
    /// (RFC 3261 §13.3.1.4, done here for the UAS core); Timer L gives up and
    /// tells the TU ([`TxEvent::AckTimeout`]).
    Expect2xxAck {
        response: Vec<u8>,
        interval: Duration,
    },
    /// "Accepted" after the ACK: absorbs INVITE retransmissions until Timer L
    /// (RFC 6026 §8.7); further ACKs still go up to the dialog.
    AbsorbInvites,
}

/// An INVITE server transaction.
pub(super) struct InviteServer {
    key: TxKey,
    peer: Peer,
    /// Boxed so that an INVITE transaction is not much larger than a
    /// non-INVITE one in the layer's map.
    request: Box<rsip::Request>,
    ack_id: AckId,
    /// The To tag of the TU's responses (or the one we made for a 487).
    to_tag: Option<String>,
    timers: TimerTable,
    state: InviteServerState,
}

impl InviteServer {
    /// Starts the transaction and answers 100 Trying at once (RFC 3261
    /// §17.2.1: the TU decides on ringing later, and the 100 stops the
    /// client's Timer A).
    pub(super) fn start(
        ctx: &mut Ctx<'_>,
        key: TxKey,
        request: rsip::Request,
        peer: Peer,
        ack_id: AckId,
    ) -> InviteServer {
        let trying = wire::encode_response(&wire::response_to(&request, 100, "Trying", None));
        ctx.transmit(peer, trying.clone());
        InviteServer {
            key,
            peer,
            request: Box::new(request),
            ack_id,
            to_tag: None,
            timers: TimerTable::default(),
            state: InviteServerState::ExpectFinal {
                provisional: trying,
            },
        }
    }

    fn reliable(&self) -> bool {
        self.peer.transport.is_reliable()
    }

    /// A retransmitted INVITE: resend the last provisional (Proceeding) or
    /// the final (Completed, §17.2.1); Confirmed and Accepted absorb it
    /// (RFC 6026 §8.7: the 2xx is retransmitted by Timer G', not on demand).
    fn on_retransmission(&self, ctx: &mut Ctx<'_>) {
        match &self.state {
            InviteServerState::ExpectFinal { provisional: bytes }
            | InviteServerState::ExpectAck {
                response: bytes, ..
            } => ctx.transmit(self.peer, bytes.clone()),
            InviteServerState::AbsorbAcks
            | InviteServerState::Expect2xxAck { .. }
            | InviteServerState::AbsorbInvites => {}
        }
    }

    /// An ACK matched this transaction, by branch (ACK to a non-2xx, or a
    /// 2xx ACK from a UA that reused the branch) or by [`AckId`].
    pub(super) fn on_ack(
        mut self,
        ctx: &mut Ctx<'_>,
        ack: rsip::Request,
        source: Peer,
    ) -> Step<InviteServer> {
        match self.state {
            InviteServerState::ExpectAck { .. } => {
                self.timers.stop_all();
                // §17.2.1: Confirmed absorbs ACK retransmissions for T4; over
                // a reliable transport none come, so end now.
                self.state = InviteServerState::AbsorbAcks;
                self.wait(ctx, Timer::I)
            }
            InviteServerState::Expect2xxAck { .. } | InviteServerState::AbsorbInvites => {
                // The 2xx arrived: stop G' but keep L running to absorb late
                // INVITE retransmissions (RFC 6026 §8.7).
                self.timers.stop(Timer::GPrime);
                self.state = InviteServerState::AbsorbInvites;
                ctx.emit(TxEvent::Ack {
                    request: ack,
                    source,
                });
                Step::Live(self)
            }
            // An ACK before any final answer acknowledges nothing; an ACK
            // retransmission in Confirmed is absorbed.
            InviteServerState::ExpectFinal { .. } | InviteServerState::AbsorbAcks => {
                Step::Live(self)
            }
        }
    }

    /// The TU answers. Only allowed while no final answer went out.
    fn respond(
        mut self,
        ctx: &mut Ctx<'_>,
        response: &rsip::Response,
    ) -> (Step<InviteServer>, Result<(), Error>) {
        if !matches!(self.state, InviteServerState::ExpectFinal { .. }) {
            let err = super::already_final(&self.key);
            return (Step::Live(self), Err(err));
        }
        if let Ok(Some(tag)) = key::to_tag(response) {
            self.to_tag = Some(tag);
        }
        let code = response.status_code.code();
        let bytes = wire::encode_response(response);
        ctx.transmit(self.peer, bytes.clone());
        let step = match code {
            100..=199 => {
                self.state = InviteServerState::ExpectFinal { provisional: bytes };
                Step::Live(self)
            }
            200..=299 => {
                let interval = ctx.config.t1;
                if !self.reliable() {
                    ctx.arm(&mut self.timers, Timer::GPrime, interval);
                }
                ctx.arm(
                    &mut self.timers,
                    Timer::L,
                    Timer::L.initial(ctx.config, false),
                );
                self.state = InviteServerState::Expect2xxAck {
                    response: bytes,
                    interval,
                };
                Step::Live(self)
            }
            _ => self.complete(ctx, bytes),
        };
        (step, Ok(()))
    }

    /// Enter Completed with a 3xx-6xx already sent: G (UDP only) and H.
    fn complete(mut self, ctx: &mut Ctx<'_>, response: Vec<u8>) -> Step<InviteServer> {
        let interval = ctx.config.t1;
        if !self.reliable() {
            ctx.arm(&mut self.timers, Timer::G, interval);
        }
        ctx.arm(
            &mut self.timers,
            Timer::H,
            Timer::H.initial(ctx.config, false),
        );
        self.state = InviteServerState::ExpectAck { response, interval };
        Step::Live(self)
    }

    /// The ACK identity of this INVITE.
    pub(super) fn ack_id(&self) -> &AckId {
        &self.ack_id
    }

    /// The To tag for the answers to a CANCEL of this INVITE: the TU's (from
    /// its 1xx or final), else a fresh one that the TU's later answers would
    /// not know, which is fine: after the 487 it has none to give.
    pub(super) fn tag_for_cancel(&mut self, rng: &mut fastrand::Rng) -> String {
        self.to_tag
            .get_or_insert_with(|| wire::random_tag(rng))
            .clone()
    }

    /// A CANCEL for this INVITE arrived (RFC 3261 §9.2) and was answered 200.
    /// Still waiting for the TU: answer the INVITE 487 with `tag` and report
    /// `true`. Already answered: no effect (the CANCEL/200 race), `false`.
    pub(super) fn on_cancel(self, ctx: &mut Ctx<'_>, tag: &str) -> (Step<InviteServer>, bool) {
        if !matches!(self.state, InviteServerState::ExpectFinal { .. }) {
            return (Step::Live(self), false);
        }
        let terminated = wire::response_to(&self.request, 487, "Request Terminated", Some(tag));
        let bytes = wire::encode_response(&terminated);
        ctx.transmit(self.peer, bytes.clone());
        (self.complete(ctx, bytes), true)
    }

    fn on_timer(mut self, timer: Timer, ctx: &mut Ctx<'_>) -> Step<InviteServer> {
        self.timers.stop(timer);
        match (timer, &mut self.state) {
            (Timer::G, InviteServerState::ExpectAck { response, interval })
            | (Timer::GPrime, InviteServerState::Expect2xxAck { response, interval }) => {
                ctx.transmit(self.peer, response.clone());
                // §17.2.1 / §13.3.1.4: double each time, capped at T2.
                *interval = interval.saturating_mul(2).min(ctx.config.t2);
                let next = *interval;
                ctx.arm(&mut self.timers, timer, next);
                Step::Live(self)
            }
            (Timer::L, InviteServerState::Expect2xxAck { .. }) => {
                // §13.3.1.4: no ACK for the 2xx in 64*T1: the TU should end
                // the session with a BYE.
                ctx.emit(TxEvent::AckTimeout {
                    key: self.key.clone(),
                });
                Step::Terminated
            }
            // H: the ACK never came; the error answer was final anyway, so
            // the TU has nothing left to do. I, L (after the ACK): done.
            (Timer::H, InviteServerState::ExpectAck { .. })
            | (Timer::I, InviteServerState::AbsorbAcks)
            | (Timer::L, InviteServerState::AbsorbInvites) => Step::Terminated,
            // A timer that does not belong to the state was already stopped.
            _ => Step::Live(self),
        }
    }

    /// Arms a wait timer, or ends the transaction when it is zero (TCP).
    fn wait(mut self, ctx: &mut Ctx<'_>, timer: Timer) -> Step<InviteServer> {
        let duration = timer.initial(ctx.config, self.reliable());
        if duration.is_zero() {
            return Step::Terminated;
        }
        ctx.arm(&mut self.timers, timer, duration);
        Step::Live(self)
    }
}

/// The state of a non-INVITE server transaction, named by what it waits for.
enum NonInviteServerState {
    /// "Trying" (no provisional yet: retransmissions are absorbed) or
    /// "Proceeding" (the last provisional answers them): waits for the TU.
    ExpectFinal { provisional: Option<Vec<u8>> },
    /// "Completed": resends the final to every retransmission until Timer J.
    AbsorbRetransmissions { response: Vec<u8> },
}

/// A non-INVITE server transaction (CANCEL included).
pub(super) struct NonInviteServer {
    key: TxKey,
    peer: Peer,
    timers: TimerTable,
    state: NonInviteServerState,
}

impl NonInviteServer {
    /// A new request, handed to the TU.
    pub(super) fn start(key: TxKey, peer: Peer) -> NonInviteServer {
        NonInviteServer {
            key,
            peer,
            timers: TimerTable::default(),
            state: NonInviteServerState::ExpectFinal { provisional: None },
        }
    }

    /// A request the layer answers itself (a CANCEL): sends `response` and
    /// goes straight to Completed.
    pub(super) fn answered(
        ctx: &mut Ctx<'_>,
        key: TxKey,
        peer: Peer,
        response: &rsip::Response,
    ) -> Step<NonInviteServer> {
        let bytes = wire::encode_response(response);
        ctx.transmit(peer, bytes.clone());
        NonInviteServer::start(key, peer).complete(ctx, bytes)
    }

    fn on_retransmission(&self, ctx: &mut Ctx<'_>) {
        match &self.state {
            NonInviteServerState::ExpectFinal {
                provisional: Some(bytes),
            }
            | NonInviteServerState::AbsorbRetransmissions { response: bytes } => {
                ctx.transmit(self.peer, bytes.clone())
            }
            NonInviteServerState::ExpectFinal { provisional: None } => {}
        }
    }

    fn respond(
        mut self,
        ctx: &mut Ctx<'_>,
        response: &rsip::Response,
    ) -> (Step<NonInviteServer>, Result<(), Error>) {
        if !matches!(self.state, NonInviteServerState::ExpectFinal { .. }) {
            let err = super::already_final(&self.key);
            return (Step::Live(self), Err(err));
        }
        let bytes = wire::encode_response(response);
        ctx.transmit(self.peer, bytes.clone());
        if response.status_code.code() < 200 {
            self.state = NonInviteServerState::ExpectFinal {
                provisional: Some(bytes),
            };
            return (Step::Live(self), Ok(()));
        }
        (self.complete(ctx, bytes), Ok(()))
    }

    /// Completed: Timer J (64*T1 UDP), or the end at once over TCP (§17.2.2).
    fn complete(mut self, ctx: &mut Ctx<'_>, response: Vec<u8>) -> Step<NonInviteServer> {
        let duration = Timer::J.initial(ctx.config, self.peer.transport.is_reliable());
        if duration.is_zero() {
            return Step::Terminated;
        }
        ctx.arm(&mut self.timers, Timer::J, duration);
        self.state = NonInviteServerState::AbsorbRetransmissions { response };
        Step::Live(self)
    }

    fn on_timer(mut self, timer: Timer, _ctx: &mut Ctx<'_>) -> Step<NonInviteServer> {
        self.timers.stop(timer);
        match (timer, &self.state) {
            (Timer::J, NonInviteServerState::AbsorbRetransmissions { .. }) => Step::Terminated,
            _ => Step::Live(self),
        }
    }
}
