//! Client transactions: the INVITE one (RFC 3261 §17.1.1 with the RFC 6026
//! Accepted state) and the non-INVITE one (§17.1.2).
//!
//! Owns, per transaction: the encoded request (for retransmissions), the
//! INVITE itself (to build the ACK for a non-2xx final, §17.1.1.3), where it
//! goes, and its timers. Every transition consumes the transaction and
//! returns [`Step`].
//!
//! Invariants: the TU sees every provisional and final response once (2xx
//! retransmissions and forked 2xx in Accepted too, so it can ACK each), never
//! a retransmitted non-2xx final; retransmission timers (A, E) run over UDP
//! only; each state but INVITE "Proceeding" has a timer that ends it, and
//! Proceeding gets one (B) as soon as the TU sends a CANCEL (§9.1).

use std::time::{Duration, Instant};

use crate::sip::Peer;

use super::key::TxKey;
use super::timer::{Timer, TimerTable};
use super::wire;
use super::{Ctx, Step, TxEvent};

/// A client transaction of either kind.
pub(super) enum ClientTx {
    Invite(InviteClient),
    NonInvite(NonInviteClient),
}

impl ClientTx {
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.timers().next_deadline()
    }

    pub(super) fn timers(&self) -> &TimerTable {
        match self {
            ClientTx::Invite(tx) => &tx.timers,
            ClientTx::NonInvite(tx) => &tx.timers,
        }
    }

    pub(super) fn on_response(self, ctx: &mut Ctx<'_>, response: rsip::Response) -> Step<ClientTx> {
        match self {
            ClientTx::Invite(tx) => tx.on_response(ctx, response).map(ClientTx::Invite),
            ClientTx::NonInvite(tx) => tx.on_response(ctx, response).map(ClientTx::NonInvite),
        }
    }

    pub(super) fn on_timer(self, timer: Timer, ctx: &mut Ctx<'_>) -> Step<ClientTx> {
        match self {
            ClientTx::Invite(tx) => tx.on_timer(timer, ctx).map(ClientTx::Invite),
            ClientTx::NonInvite(tx) => tx.on_timer(timer, ctx).map(ClientTx::NonInvite),
        }
    }

    /// The transport reported that `dest` cannot be reached. A transaction
    /// still waiting for its final answer fails (§17.1.4); one that has it
    /// runs out on its own timers.
    pub(super) fn on_transport_error(self, ctx: &mut Ctx<'_>, dest: Peer) -> Step<ClientTx> {
        let (key, waiting, to) = match &self {
            ClientTx::Invite(tx) => (
                &tx.key,
                matches!(
                    tx.state,
                    InviteClientState::ExpectResponse { .. } | InviteClientState::ExpectFinal
                ),
                tx.dest,
            ),
            ClientTx::NonInvite(tx) => (
                &tx.key,
                !matches!(tx.state, NonInviteClientState::AbsorbResponses),
                tx.dest,
            ),
        };
        if waiting && to == dest {
            ctx.emit(TxEvent::Timeout { key: key.clone() });
            return Step::Terminated;
        }
        Step::Live(self)
    }
}

/// The state of an INVITE client transaction, named by what it waits for.
enum InviteClientState {
    /// "Calling": waits for any response. Timer A retransmits (UDP), Timer B
    /// gives up.
    ExpectResponse { interval: Duration },
    /// "Proceeding": a provisional came; waits for the final. No timer runs
    /// (the TU limits ringing and CANCELs) until a CANCEL arms B (§9.1).
    ExpectFinal,
    /// "Accepted" (RFC 6026 §8.4): a 2xx came; every further 2xx goes up
    /// (retransmissions and forks, each needs an ACK from the dialog) until
    /// Timer M.
    Accepted,
    /// "Completed": a 3xx-6xx came and we ACKed it; retransmissions of it
    /// are ACKed again and absorbed until Timer D.
    AbsorbFinals { ack: Vec<u8> },
}

/// An INVITE client transaction.
pub(super) struct InviteClient {
    key: TxKey,
    dest: Peer,
    /// Boxed so that an INVITE transaction is not much larger than a
    /// non-INVITE one in the layer's map.
    invite: Box<rsip::Request>,
    cseq: u32,
    bytes: Vec<u8>,
    /// Set when the TU sent a CANCEL: the latest the transaction may wait for
    /// a final answer (§9.1: 64*T1 after the CANCEL).
    give_up_at: Option<Instant>,
    timers: TimerTable,
    state: InviteClientState,
}

impl InviteClient {
    /// Sends the INVITE and starts Timers A (UDP) and B (§17.1.1.2).
    pub(super) fn start(
        ctx: &mut Ctx<'_>,
        key: TxKey,
        invite: rsip::Request,
        cseq: u32,
        dest: Peer,
    ) -> InviteClient {
        let bytes = wire::encode_request(&invite);
        ctx.transmit(dest, bytes.clone());
        let mut timers = TimerTable::default();
        let interval = ctx.config.t1;
        if !dest.transport.is_reliable() {
            ctx.arm(&mut timers, Timer::A, interval);
        }
        ctx.arm(&mut timers, Timer::B, Timer::B.initial(ctx.config, false));
        InviteClient {
            key,
            dest,
            invite: Box::new(invite),
            cseq,
            bytes,
            give_up_at: None,
            timers,
            state: InviteClientState::ExpectResponse { interval },
        }
    }

    /// The TU sent a CANCEL for this INVITE: do not wait for the final
    /// longer than 64*T1 from now (§9.1).
    pub(super) fn on_cancel_sent(&mut self, ctx: &mut Ctx<'_>) {
        if self.give_up_at.is_some() {
            return;
        }
        self.give_up_at = ctx.after(Timer::B.initial(ctx.config, false));
        if let (InviteClientState::ExpectFinal, Some(at)) = (&self.state, self.give_up_at) {
            self.timers.set(Timer::B, at);
        }
    }

    fn on_response(mut self, ctx: &mut Ctx<'_>, response: rsip::Response) -> Step<InviteClient> {
        let code = response.status_code.code();
        match (&self.state, code) {
            (
                InviteClientState::ExpectResponse { .. } | InviteClientState::ExpectFinal,
                100..=199,
            ) => {
                // §17.1.1.2: a provisional stops retransmissions and Timer B.
                self.timers.stop_all();
                if let Some(at) = self.give_up_at {
                    self.timers.set(Timer::B, at);
                }
                self.state = InviteClientState::ExpectFinal;
                self.pass_up(ctx, response);
                Step::Live(self)
            }
            (
                InviteClientState::ExpectResponse { .. } | InviteClientState::ExpectFinal,
                200..=299,
            ) => {
                // RFC 6026 §8.4: Accepted instead of Terminated, so 2xx
                // retransmissions and forks still reach the TU.
                self.timers.stop_all();
                ctx.arm(
                    &mut self.timers,
                    Timer::M,
                    Timer::M.initial(ctx.config, false),
                );
                self.state = InviteClientState::Accepted;
                self.pass_up(ctx, response);
                Step::Live(self)
            }
            (
                InviteClientState::ExpectResponse { .. } | InviteClientState::ExpectFinal,
                300..=699,
            ) => {
                // §17.1.1.3: the transaction ACKs a non-2xx final itself.
                self.timers.stop_all();
                let ack = wire::encode_request(&wire::ack_for(&self.invite, self.cseq, &response));
                ctx.transmit(self.dest, ack.clone());
                self.pass_up(ctx, response);
                let wait = Timer::D.initial(ctx.config, self.dest.transport.is_reliable());
                if wait.is_zero() {
                    return Step::Terminated;
                }
                ctx.arm(&mut self.timers, Timer::D, wait);
                self.state = InviteClientState::AbsorbFinals { ack };
                Step::Live(self)
            }
            (InviteClientState::Accepted, 200..=299) => {
                self.pass_up(ctx, response);
                Step::Live(self)
            }
            (InviteClientState::AbsorbFinals { ack }, 300..=699) => {
                ctx.transmit(self.dest, ack.clone());
                Step::Live(self)
            }
            // Late provisionals, a non-2xx after a 2xx, nonsense codes.
            _ => Step::Live(self),
        }
    }

    fn pass_up(&self, ctx: &mut Ctx<'_>, response: rsip::Response) {
        ctx.emit(TxEvent::Response {
            key: self.key.clone(),
            response,
        });
    }

    fn on_timer(mut self, timer: Timer, ctx: &mut Ctx<'_>) -> Step<InviteClient> {
        self.timers.stop(timer);
        match (timer, &mut self.state) {
            (Timer::A, InviteClientState::ExpectResponse { interval }) => {
                ctx.transmit(self.dest, self.bytes.clone());
                // §17.1.1.2: Timer A doubles without a cap; B ends it first.
                *interval = interval.saturating_mul(2);
                let next = *interval;
                ctx.arm(&mut self.timers, Timer::A, next);
                Step::Live(self)
            }
            (
                Timer::B,
                InviteClientState::ExpectResponse { .. } | InviteClientState::ExpectFinal,
            ) => {
                ctx.emit(TxEvent::Timeout {
                    key: self.key.clone(),
                });
                Step::Terminated
            }
            (Timer::D, InviteClientState::AbsorbFinals { .. })
            | (Timer::M, InviteClientState::Accepted) => Step::Terminated,
            _ => Step::Live(self),
        }
    }
}

/// The state of a non-INVITE client transaction, named by what it waits for.
enum NonInviteClientState {
    /// "Trying": waits for any response. Timer E retransmits (UDP) at T1,
    /// 2*T1 ... capped at T2; Timer F gives up.
    ExpectResponse { interval: Duration },
    /// "Proceeding": a provisional came; Timer E now retransmits every T2,
    /// Timer F still gives up.
    ExpectFinal,
    /// "Completed": absorbs response retransmissions until Timer K.
    AbsorbResponses,
}

/// A non-INVITE client transaction (CANCEL included).
pub(super) struct NonInviteClient {
    key: TxKey,
    dest: Peer,
    bytes: Vec<u8>,
    timers: TimerTable,
    state: NonInviteClientState,
}

impl NonInviteClient {
    /// Sends the request and starts Timers E (UDP) and F (§17.1.2.2).
    pub(super) fn start(
        ctx: &mut Ctx<'_>,
        key: TxKey,
        request: &rsip::Request,
        dest: Peer,
    ) -> NonInviteClient {
        let bytes = wire::encode_request(request);
        ctx.transmit(dest, bytes.clone());
        let mut timers = TimerTable::default();
        let interval = ctx.config.t1;
        if !dest.transport.is_reliable() {
            ctx.arm(&mut timers, Timer::E, interval);
        }
        ctx.arm(&mut timers, Timer::F, Timer::F.initial(ctx.config, false));
        NonInviteClient {
            key,
            dest,
            bytes,
            timers,
            state: NonInviteClientState::ExpectResponse { interval },
        }
    }

    fn on_response(mut self, ctx: &mut Ctx<'_>, response: rsip::Response) -> Step<NonInviteClient> {
        let code = response.status_code.code();
        match (&self.state, code) {
            (NonInviteClientState::AbsorbResponses, _) => Step::Live(self),
            (_, 100..=199) => {
                // E keeps its deadline; when it fires it re-arms at T2.
                self.state = NonInviteClientState::ExpectFinal;
                ctx.emit(TxEvent::Response {
                    key: self.key.clone(),
                    response,
                });
                Step::Live(self)
            }
            (_, 200..=699) => {
                self.timers.stop_all();
                ctx.emit(TxEvent::Response {
                    key: self.key.clone(),
                    response,
                });
                let wait = Timer::K.initial(ctx.config, self.dest.transport.is_reliable());
                if wait.is_zero() {
                    return Step::Terminated;
                }
                ctx.arm(&mut self.timers, Timer::K, wait);
                self.state = NonInviteClientState::AbsorbResponses;
                Step::Live(self)
            }
            _ => Step::Live(self),
        }
    }

    fn on_timer(mut self, timer: Timer, ctx: &mut Ctx<'_>) -> Step<NonInviteClient> {
        self.timers.stop(timer);
        match (timer, &mut self.state) {
            (Timer::E, NonInviteClientState::ExpectResponse { interval }) => {
                ctx.transmit(self.dest, self.bytes.clone());
                *interval = interval.saturating_mul(2).min(ctx.config.t2);
                let next = *interval;
                ctx.arm(&mut self.timers, Timer::E, next);
                Step::Live(self)
            }
            (Timer::E, NonInviteClientState::ExpectFinal) => {
                ctx.transmit(self.dest, self.bytes.clone());
                let t2 = ctx.config.t2;
                ctx.arm(&mut self.timers, Timer::E, t2);
                Step::Live(self)
            }
            (
                Timer::F,
                NonInviteClientState::ExpectResponse { .. } | NonInviteClientState::ExpectFinal,
            ) => {
                ctx.emit(TxEvent::Timeout {
                    key: self.key.clone(),
                });
                Step::Terminated
            }
            (Timer::K, NonInviteClientState::AbsorbResponses) => Step::Terminated,
            _ => Step::Live(self),
        }
    }
}
