//! The RFC 3261 transaction layer (§17), with the RFC 6026 fixes, as a pure
//! state machine.
//!
//! Owns every client and server transaction of the process: matching
//! requests and responses to them (§17.1.3, §17.2.3), retransmitting over
//! UDP, absorbing retransmissions, and the timers of RFC 3261 Table 4. On
//! top of the RFC it does three jobs for the UAS and UAC cores, so the TU
//! stays simple:
//! - a server INVITE answers `100 Trying` at once (§17.2.1);
//! - a CANCEL is answered by the layer (§9.2): 481 with no INVITE, 200 + 487
//!   while the INVITE waits for its final, 200 only once it has one;
//! - a 2xx to an INVITE is retransmitted until its ACK arrives (§13.3.1.4,
//!   Timer G'), inside the RFC 6026 "Accepted" state, and the TU hears
//!   [`TxEvent::AckTimeout`] if it never does (Timer L).
//!
//! # Driving it (sans-IO)
//! Feed inputs with `handle_request` / `handle_response` / `respond` /
//! `send_request` / `handle_timeout`, each with the current `now`; then drain
//! [`TransactionLayer::poll_output`] until `None` and sleep until
//! [`TransactionLayer::poll_timeout`]. Nothing here reads a clock or touches
//! a socket; responses go back to the peer a request came from (symmetric
//! response routing, which is what `rport` asks for, RFC 3581).
//!
//! # Invariants
//! - Every transaction that is not waiting for the TU has a timer that ends
//!   it, so after the TU has answered every request (and CANCELled or
//!   received a final for every INVITE it sent) [`TransactionLayer::len`]
//!   returns to 0 within max(64*T1, 32 s) + T4.
//! - A server transaction sends at most one final response.
//! - `poll_timeout` is the minimum of all armed timers.
//! - Over TCP no retransmission timer runs (A, E, G, G') and the wait timers
//!   (D, I, J, K) are zero: the transaction ends as it enters that state.
//! - No input panics: malformed messages are errors, unknown ones are dropped.
//!
//! Timers are kept per transaction in a fixed table (`timer::TimerTable`);
//! `poll_timeout` and `handle_timeout` scan all transactions, which is linear
//! in the number of live transactions (hundreds for a call centre).

mod client;
mod key;
mod server;
mod timer;
mod wire;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use key::{MAGIC_COOKIE, TxKey};
pub use timer::Timer;
use timer::TimerTable;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::sip::{Error, Peer};

use client::{ClientTx, InviteClient, NonInviteClient};
use server::{AckId, InviteServer, NonInviteServer, ServerTx};

/// The RFC 3261 timer base values (§17.1.1.1, Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// Round-trip estimate; retransmissions start at T1 and every
    /// transaction lifetime is 64*T1. Default 500 ms.
    pub t1: Duration,
    /// Cap on the retransmission interval of non-INVITE requests and of
    /// INVITE responses. Default 4 s.
    pub t2: Duration,
    /// How long a message may stay in the network (Timers I and K). Default 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// What the transaction layer tells the TU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEvent {
    /// A new request for the TU (never a retransmission). For INVITE the
    /// layer has already sent 100 Trying. Answer it with
    /// [`TransactionLayer::respond`] and `key`.
    Request {
        /// The server transaction to answer.
        key: TxKey,
        /// The request as received.
        request: rsip::Request,
        /// Where it came from (responses go back there).
        source: Peer,
    },
    /// ACK for a 2xx (it forms no transaction; goes to the dialog), or a
    /// stray ACK that matched nothing.
    Ack {
        /// The ACK as received.
        request: rsip::Request,
        /// Where it came from.
        source: Peer,
    },
    /// A CANCEL matched an INVITE server transaction still waiting for its
    /// final answer. The layer already answered the CANCEL 200 and the
    /// INVITE 487; the TU must tear down the call.
    Cancelled {
        /// The INVITE server transaction that was cancelled.
        invite: TxKey,
    },
    /// A response for a client transaction: every 1xx, the final, and in
    /// Accepted every further 2xx (retransmissions and forks) so the TU can
    /// ACK each. Retransmitted 3xx-6xx are absorbed (the layer re-ACKs).
    Response {
        /// The client transaction (as returned by `send_request`).
        key: TxKey,
        /// The response as received.
        response: rsip::Response,
    },
    /// Timer B/F fired (or B after a CANCEL, §9.1), or the transport
    /// reported an error: the client request failed (treat as 408).
    Timeout {
        /// The client transaction that failed.
        key: TxKey,
    },
    /// A 2xx to an INVITE was never ACKed within 64*T1 (Timer L): the TU
    /// should send BYE (RFC 3261 §13.3.1.4).
    AckTimeout {
        /// The INVITE server transaction whose 2xx went unacknowledged.
        key: TxKey,
    },
}

/// What the transaction layer asks the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "outputs are drained as soon as they are made; boxing the event would cost an allocation each"
)]
pub enum TxOutput {
    /// Send these bytes to `dest` (for TCP: on the connection to that peer).
    Transmit {
        /// Where to.
        dest: Peer,
        /// One whole SIP message.
        bytes: Vec<u8>,
    },
    /// Tell the TU.
    Event(TxEvent),
}

/// The outcome of a transition: the transaction goes on in a new state, or
/// it has ended ("Terminated" is not a state we keep).
enum Step<T> {
    Live(T),
    Terminated,
}

impl<T> Step<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Step<U> {
        match self {
            Step::Live(t) => Step::Live(f(t)),
            Step::Terminated => Step::Terminated,
        }
    }
}

/// What a transition may touch besides its own transaction: the time, the
/// configuration, the output queue and the random source.
struct Ctx<'a> {
    now: Instant,
    config: &'a TimerConfig,
    out: &'a mut VecDeque<TxOutput>,
    rng: &'a mut fastrand::Rng,
}

impl Ctx<'_> {
    fn transmit(&mut self, dest: Peer, bytes: Vec<u8>) {
        self.out.push_back(TxOutput::Transmit { dest, bytes });
    }

    fn emit(&mut self, event: TxEvent) {
        self.out.push_back(TxOutput::Event(event));
    }

    /// `now + duration`, or `None` past the end of time (the timer then
    /// never fires rather than overflowing).
    fn after(&self, duration: Duration) -> Option<Instant> {
        self.now.checked_add(duration)
    }

    fn arm(&self, timers: &mut TimerTable, timer: Timer, duration: Duration) {
        match self.after(duration) {
            Some(at) => timers.set(timer, at),
            None => timers.stop(timer),
        }
    }
}

fn no_transaction(key: &TxKey) -> Error {
    Error::NoTransaction(key.to_string())
}

fn already_final(key: &TxKey) -> Error {
    Error::AlreadyAnswered(key.to_string())
}

/// All transactions of one SIP endpoint. See the module docs.
pub struct TransactionLayer {
    config: TimerConfig,
    servers: HashMap<TxKey, ServerTx>,
    clients: HashMap<TxKey, ClientTx>,
    /// Accepted INVITE server transactions, by what their 2xx ACK carries
    /// (the ACK has a new branch, so its key does not find them).
    awaiting_ack: HashMap<AckId, TxKey>,
    out: VecDeque<TxOutput>,
    rng: fastrand::Rng,
}

impl std::fmt::Debug for TransactionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionLayer")
            .field("config", &self.config)
            .field("servers", &self.servers.len())
            .field("clients", &self.clients.len())
            .field("queued_outputs", &self.out.len())
            .finish_non_exhaustive()
    }
}

impl TransactionLayer {
    /// A layer with the given timers and a randomly seeded tag generator.
    /// T1 is raised to at least 1 ms and T2 to at least T1, so that
    /// retransmission intervals are never zero.
    pub fn new(config: TimerConfig) -> Self {
        Self::with_rng(config, fastrand::Rng::new())
    }

    /// Like [`TransactionLayer::new`] with a given random source for the To
    /// tags the layer makes (deterministic tests).
    pub fn with_rng(config: TimerConfig, rng: fastrand::Rng) -> Self {
        let t1 = config.t1.max(Duration::from_millis(1));
        let config = TimerConfig {
            t1,
            t2: config.t2.max(t1),
            t4: config.t4,
        };
        TransactionLayer {
            config,
            servers: HashMap::new(),
            clients: HashMap::new(),
            awaiting_ack: HashMap::new(),
            out: VecDeque::new(),
            rng,
        }
    }

    /// The timer values in force.
    pub fn config(&self) -> &TimerConfig {
        &self.config
    }

    /// Incoming request. Retransmissions are absorbed (the last response is
    /// resent), CANCEL is matched and answered (481 without an INVITE
    /// transaction; 200 + 487 while the INVITE waits for its final; 200 and
    /// no effect once it has one — the CANCEL/200 race), an ACK to a non-2xx
    /// final stops Timers G/H (→ Confirmed, Timer I), an ACK to a 2xx stops
    /// the 2xx retransmissions and goes up as [`TxEvent::Ack`]. Anything
    /// else new goes up as [`TxEvent::Request`].
    ///
    /// Errors when the request lacks what a key needs (Via, CSeq; From and
    /// Call-ID for INVITE); nothing is sent then.
    pub fn handle_request(
        &mut self,
        now: Instant,
        request: rsip::Request,
        source: Peer,
    ) -> Result<(), Error> {
        let key = TxKey::for_request(&request)?;
        let mut ctx = Ctx {
            now,
            config: &self.config,
            out: &mut self.out,
            rng: &mut self.rng,
        };
        if request.method == rsip::Method::Ack {
            return self.on_ack(now, key, request, source);
        }
        if let Some(tx) = self.servers.get(&key) {
            tx.on_retransmission(&mut ctx);
            return Ok(());
        }
        match request.method {
            rsip::Method::Cancel => self.on_cancel(now, key, request, source),
            rsip::Method::Invite => {
                let ack_id = AckId::for_request(&request)?;
                let tx =
                    InviteServer::start(&mut ctx, key.clone(), request.clone(), source, ack_id);
                self.servers.insert(key.clone(), ServerTx::Invite(tx));
                self.emit_request(key, request, source);
                Ok(())
            }
            _ => {
                let tx = NonInviteServer::start(key.clone(), source);
                self.servers.insert(key.clone(), ServerTx::NonInvite(tx));
                self.emit_request(key, request, source);
                Ok(())
            }
        }
    }

    fn emit_request(&mut self, key: TxKey, request: rsip::Request, source: Peer) {
        self.out.push_back(TxOutput::Event(TxEvent::Request {
            key,
            request,
            source,
        }));
    }

    /// An ACK: to the INVITE transaction of its branch (ACK to a non-2xx, or
    /// a 2xx ACK that reused the branch), else to the Accepted transaction
    /// its Call-ID, From tag and CSeq name, else up as a stray ACK.
    fn on_ack(
        &mut self,
        now: Instant,
        key: TxKey,
        ack: rsip::Request,
        source: Peer,
    ) -> Result<(), Error> {
        let by_branch = key.with_method(rsip::Method::Invite);
        let target = if matches!(self.servers.get(&by_branch), Some(ServerTx::Invite(_))) {
            Some(by_branch)
        } else {
            AckId::for_request(&ack)
                .ok()
                .and_then(|id| self.awaiting_ack.get(&id).cloned())
        };
        let Some(target) = target else {
            self.out.push_back(TxOutput::Event(TxEvent::Ack {
                request: ack,
                source,
            }));
            return Ok(());
        };
        if let Some(ServerTx::Invite(tx)) = self.servers.remove(&target) {
            let ack_id = Some(tx.ack_id().clone());
            let mut ctx = Ctx {
                now,
                config: &self.config,
                out: &mut self.out,
                rng: &mut self.rng,
            };
            let step = tx.on_ack(&mut ctx, ack, source).map(ServerTx::Invite);
            self.put_server(target, ack_id, step);
        }
        Ok(())
    }

    /// A new CANCEL (RFC 3261 §9.2): it gets a server transaction of its
    /// own, answered at once, so its retransmissions get the same answer.
    fn on_cancel(
        &mut self,
        now: Instant,
        key: TxKey,
        cancel: rsip::Request,
        source: Peer,
    ) -> Result<(), Error> {
        let invite_key = key.with_method(rsip::Method::Invite);
        let mut ctx = Ctx {
            now,
            config: &self.config,
            out: &mut self.out,
            rng: &mut self.rng,
        };
        let answer = match self.servers.remove(&invite_key) {
            Some(ServerTx::Invite(mut tx)) => {
                let ack_id = Some(tx.ack_id().clone());
                let tag = tx.tag_for_cancel(ctx.rng);
                let ok = wire::response_to(&cancel, 200, "OK", Some(&tag));
                let answer = NonInviteServer::answered(&mut ctx, key.clone(), source, &ok);
                let (invite_step, cancelled) = tx.on_cancel(&mut ctx, &tag);
                if cancelled {
                    ctx.emit(TxEvent::Cancelled {
                        invite: invite_key.clone(),
                    });
                }
                self.put_server(invite_key, ack_id, invite_step.map(ServerTx::Invite));
                answer
            }
            other => {
                if let Some(tx) = other {
                    self.servers.insert(invite_key, tx);
                }
                let tag = wire::random_tag(ctx.rng);
                let answer =
                    wire::response_to(&cancel, 481, "Call/Transaction Does Not Exist", Some(&tag));
                NonInviteServer::answered(&mut ctx, key.clone(), source, &answer)
            }
        };
        self.put_server(key, None, answer.map(ServerTx::NonInvite));
        Ok(())
    }

    /// Keeps a live server transaction (indexing it for its 2xx ACK while it
    /// is Accepted), or forgets an ended one.
    fn put_server(&mut self, key: TxKey, ack_id: Option<AckId>, step: Step<ServerTx>) {
        match step {
            Step::Live(tx) => {
                if let Some(id) = tx.awaiting_ack() {
                    self.awaiting_ack.insert(id.clone(), key.clone());
                }
                self.servers.insert(key, tx);
            }
            Step::Terminated => {
                if let Some(id) = ack_id
                    && self.awaiting_ack.get(&id) == Some(&key)
                {
                    self.awaiting_ack.remove(&id);
                }
            }
        }
    }

    fn put_client(&mut self, key: TxKey, step: Step<ClientTx>) {
        if let Step::Live(tx) = step {
            self.clients.insert(key, tx);
        }
    }

    /// Incoming response, matched to a client transaction by top Via branch
    /// and sent-by and CSeq method (RFC 3261 §17.1.3). Returns `Ok(false)`
    /// for a stray response (no transaction: dropped, worth a log line).
    pub fn handle_response(
        &mut self,
        now: Instant,
        response: rsip::Response,
        _source: Peer,
    ) -> Result<bool, Error> {
        let key = TxKey::for_response(&response)?;
        let Some(tx) = self.clients.remove(&key) else {
            return Ok(false);
        };
        let mut ctx = Ctx {
            now,
            config: &self.config,
            out: &mut self.out,
            rng: &mut self.rng,
        };
        let step = tx.on_response(&mut ctx, response);
        self.put_client(key, step);
        Ok(true)
    }

    /// The TU answers a server transaction.
    ///
    /// INVITE: 1xx stays in Proceeding (and answers INVITE retransmissions);
    /// 2xx enters Accepted (RFC 6026): the layer retransmits it at T1, 2*T1 …
    /// capped at T2 over UDP until the ACK (same Call-ID, CSeq number, From
    /// tag) arrives, or 64*T1 passes → [`TxEvent::AckTimeout`]; 3xx-6xx
    /// enters Completed with Timer G (UDP) and H, the ACK → Confirmed, Timer
    /// I. Non-INVITE: Trying/Proceeding/Completed with Timer J.
    ///
    /// Errors if the key is unknown (or ended), the transaction already sent
    /// its final response (also after a CANCEL answered 487), or the status
    /// is outside 100-699; nothing is sent then.
    pub fn respond(
        &mut self,
        now: Instant,
        key: &TxKey,
        response: rsip::Response,
    ) -> Result<(), Error> {
        let code = response.status_code.code();
        if !(100..=699).contains(&code) {
            return Err(Error::Malformed(format!("status code {code} out of range")));
        }
        let Some(tx) = self.servers.remove(key) else {
            return Err(no_transaction(key));
        };
        let ack_id = tx.ack_id();
        let mut ctx = Ctx {
            now,
            config: &self.config,
            out: &mut self.out,
            rng: &mut self.rng,
        };
        let (step, result) = tx.respond(&mut ctx, &response);
        self.put_server(key.clone(), ack_id, step);
        result
    }

    /// The TU sends a request: a client transaction starts and the request
    /// goes out now. The request must carry its own Via with a fresh branch
    /// (`z9hG4bK…`); its key is returned.
    ///
    /// INVITE: Timer A (UDP) / B; 1xx → Proceeding; 2xx → Accepted (Timer M)
    /// passing every 2xx up; 3xx-6xx → Completed: the layer sends the ACK
    /// (same branch, §17.1.1.3), re-ACKs retransmitted finals, Timer D.
    /// Non-INVITE: Timer E (UDP) / F, Completed with Timer K. A CANCEL also
    /// bounds the wait of the INVITE it cancels to 64*T1 (§9.1). An ACK is
    /// sent as by [`TransactionLayer::send_ack`] (no transaction).
    ///
    /// Errors if the request has no usable Via or CSeq; nothing is sent then.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: rsip::Request,
        dest: Peer,
    ) -> Result<TxKey, Error> {
        let key = TxKey::for_request(&request)?;
        let mut ctx = Ctx {
            now,
            config: &self.config,
            out: &mut self.out,
            rng: &mut self.rng,
        };
        let tx = match request.method {
            rsip::Method::Ack => {
                ctx.transmit(dest, wire::encode_request(&request));
                return Ok(key);
            }
            rsip::Method::Invite => {
                let cseq = key::cseq(&request)?.seq;
                ClientTx::Invite(InviteClient::start(
                    &mut ctx,
                    key.clone(),
                    request,
                    cseq,
                    dest,
                ))
            }
            method => {
                if method == rsip::Method::Cancel
                    && let Some(ClientTx::Invite(invite)) =
                        self.clients.get_mut(&key.with_method(rsip::Method::Invite))
                {
                    invite.on_cancel_sent(&mut ctx);
                }
                ClientTx::NonInvite(NonInviteClient::start(
                    &mut ctx,
                    key.clone(),
                    &request,
                    dest,
                ))
            }
        };
        // A TU that reuses a branch replaces the old transaction; branches
        // are supposed to be unique (§8.1.1.7).
        self.clients.insert(key.clone(), tx);
        Ok(key)
    }

    /// Sends an ACK for a 2xx (built by the dialog) outside any transaction
    /// (RFC 3261 §13.2.2.4, §17.1.1.3: it is the UAC core's, not ours).
    pub fn send_ack(&mut self, request: rsip::Request, dest: Peer) {
        self.out.push_back(TxOutput::Transmit {
            dest,
            bytes: wire::encode_request(&request),
        });
    }

    /// The transport could not deliver to `dest` (ICMP error, TCP connect or
    /// write failure). Client transactions to it that still wait for their
    /// final answer fail with [`TxEvent::Timeout`] (RFC 3261 §17.1.4).
    /// Server transactions run out on their timers.
    pub fn handle_transport_error(&mut self, now: Instant, dest: Peer) {
        let keys: Vec<TxKey> = self.clients.keys().cloned().collect();
        for key in keys {
            if let Some(tx) = self.clients.remove(&key) {
                let mut ctx = Ctx {
                    now,
                    config: &self.config,
                    out: &mut self.out,
                    rng: &mut self.rng,
                };
                let step = tx.on_transport_error(&mut ctx, dest);
                self.put_client(key, step);
            }
        }
    }

    /// Fires every timer due at `now`, earliest first. Retransmission timers
    /// re-arm from `now`, so a late call sends one retransmission, not a
    /// burst.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due: Vec<(Instant, bool, TxKey)> = self
            .servers
            .iter()
            .filter_map(|(k, tx)| tx.next_deadline().map(|at| (at, true, k.clone())))
            .chain(
                self.clients
                    .iter()
                    .filter_map(|(k, tx)| tx.next_deadline().map(|at| (at, false, k.clone()))),
            )
            .filter(|(at, _, _)| *at <= now)
            .collect();
        // Deterministic order across transactions (HashMap order is not).
        due.sort_by(|a, b| {
            (a.0, a.1, a.2.branch(), a.2.sent_by()).cmp(&(b.0, b.1, b.2.branch(), b.2.sent_by()))
        });
        for (_, is_server, key) in due {
            if is_server {
                self.fire_server(now, key);
            } else {
                self.fire_client(now, key);
            }
        }
    }

    fn fire_server(&mut self, now: Instant, key: TxKey) {
        // Each firing either ends the transaction or re-arms its timer past
        // `now`, so this loop ends; the bound only guards against a bug.
        for _ in 0..Timer::VALUES.len() * 2 {
            let Some(tx) = self.servers.remove(&key) else {
                return;
            };
            let Some(timer) = tx.timers().next_expired(now) else {
                self.servers.insert(key, tx);
                return;
            };
            let ack_id = tx.ack_id();
            let mut ctx = Ctx {
                now,
                config: &self.config,
                out: &mut self.out,
                rng: &mut self.rng,
            };
            let step = tx.on_timer(timer, &mut ctx);
            self.put_server(key.clone(), ack_id, step);
        }
    }

    fn fire_client(&mut self, now: Instant, key: TxKey) {
        for _ in 0..Timer::VALUES.len() * 2 {
            let Some(tx) = self.clients.remove(&key) else {
                return;
            };
            let Some(timer) = tx.timers().next_expired(now) else {
                self.clients.insert(key, tx);
                return;
            };
            let mut ctx = Ctx {
                now,
                config: &self.config,
                out: &mut self.out,
                rng: &mut self.rng,
            };
            let step = tx.on_timer(timer, &mut ctx);
            self.put_client(key.clone(), step);
        }
    }

    /// The next thing to send or tell the TU, in the order it happened.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<TxOutput> {
        self.out.pop_front()
    }

    /// The earliest armed timer of any transaction: call
    /// [`TransactionLayer::handle_timeout`] then.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.servers
            .values()
            .filter_map(ServerTx::next_deadline)
            .chain(self.clients.values().filter_map(ClientTx::next_deadline))
            .min()
    }

    /// Live transactions, client and server (a metric, and a test: they
    /// must all end).
    pub fn len(&self) -> usize {
        self.servers.len() + self.clients.len()
    }

    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
