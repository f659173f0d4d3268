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
//! # Cost
//! Timers are kept per transaction in a fixed table (`timer::TimerTable`),
//! and each transaction's earliest deadline in one layer-wide min-heap with
//! lazy deletion (`queue::TimerQueue`): `poll_timeout` is O(1) (a peek; every
//! mutating call leaves a live entry on top), `handle_timeout` is
//! O(k log n) for k due transactions, and every input is a hash lookup (by
//! [`TxKey`], or by Call-ID/From tag/CSeq for the ACK of a 2xx). Only
//! `handle_transport_error` looks at every client transaction.

mod client;
mod key;
mod queue;
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
use queue::{Due, Queued, Side, TimerQueue};
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

/// A transaction in the layer's maps, with the handle of the timer-queue
/// entry that stands for its earliest deadline (`None`: no timer runs).
struct Slot<T> {
    tx: T,
    queued: Option<Queued>,
}

/// True if `due` is the live entry of its transaction (not a leftover of an
/// earlier deadline or of an ended transaction).
fn is_live(
    servers: &HashMap<TxKey, Slot<ServerTx>>,
    clients: &HashMap<TxKey, Slot<ClientTx>>,
    due: &Due,
) -> bool {
    let queued = match due.side {
        Side::Server => servers.get(&due.key).and_then(|s| s.queued),
        Side::Client => clients.get(&due.key).and_then(|s| s.queued),
    };
    queued.is_some_and(|q| q.seq == due.seq)
}

/// All transactions of one SIP endpoint. See the module docs.
pub struct TransactionLayer {
    config: TimerConfig,
    servers: HashMap<TxKey, Slot<ServerTx>>,
    clients: HashMap<TxKey, Slot<ClientTx>>,
    /// Accepted INVITE server transactions, by what their 2xx ACK carries
    /// (the ACK has a new branch, so its key does not find them).
    awaiting_ack: HashMap<AckId, TxKey>,
    /// Every transaction's earliest deadline (see [`queue`]).
    queue: TimerQueue,
    out: VecDeque<TxOutput>,
    rng: fastrand::Rng,
}

impl std::fmt::Debug for TransactionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionLayer")
            .field("config", &self.config)
            .field("servers", &self.servers.len())
            .field("clients", &self.clients.len())
            .field("queued_timers", &self.queue.len())
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
            queue: TimerQueue::default(),
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
        let result = self.on_request(now, request, source);
        self.tidy_queue();
        result
    }

    fn on_request(
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
        if let Some(slot) = self.servers.get(&key) {
            slot.tx.on_retransmission(&mut ctx);
            return Ok(());
        }
        match request.method {
            rsip::Method::Cancel => self.on_cancel(now, key, request, source),
            rsip::Method::Invite => {
                let ack_id = AckId::for_request(&request)?;
                let tx =
                    InviteServer::start(&mut ctx, key.clone(), request.clone(), source, ack_id);
                self.put_server(key.clone(), None, None, Step::Live(ServerTx::Invite(tx)));
                self.emit_request(key, request, source);
                Ok(())
            }
            _ => {
                let tx = NonInviteServer::start(key.clone(), source);
                self.put_server(key.clone(), None, None, Step::Live(ServerTx::NonInvite(tx)));
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
        let target = if matches!(
            self.servers.get(&by_branch),
            Some(Slot {
                tx: ServerTx::Invite(_),
                ..
            })
        ) {
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
        if let Some(Slot {
            tx: ServerTx::Invite(tx),
            queued,
        }) = self.servers.remove(&target)
        {
            let ack_id = Some(tx.ack_id().clone());
            let mut ctx = Ctx {
                now,
                config: &self.config,
                out: &mut self.out,
                rng: &mut self.rng,
            };
            let step = tx.on_ack(&mut ctx, ack, source).map(ServerTx::Invite);
            self.put_server(target, ack_id, queued, step);
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
        let invite = match self.servers.get(&invite_key) {
            Some(Slot {
                tx: ServerTx::Invite(_),
                ..
            }) => self.servers.remove(&invite_key),
            _ => None,
        };
        let answer = match invite {
            Some(Slot {
                tx: ServerTx::Invite(mut tx),
                queued,
            }) => {
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
                self.put_server(
                    invite_key,
                    ack_id,
                    queued,
                    invite_step.map(ServerTx::Invite),
                );
                answer
            }
            _ => {
                let tag = wire::random_tag(ctx.rng);
                let answer =
                    wire::response_to(&cancel, 481, "Call/Transaction Does Not Exist", Some(&tag));
                NonInviteServer::answered(&mut ctx, key.clone(), source, &answer)
            }
        };
        self.put_server(key, None, None, answer.map(ServerTx::NonInvite));
        Ok(())
    }

    /// Keeps a live server transaction (indexing it for its 2xx ACK while it
    /// is Accepted, and re-filing its earliest deadline, `queued` being the
    /// queue entry it had), or forgets an ended one (its entry goes stale).
    fn put_server(
        &mut self,
        key: TxKey,
        ack_id: Option<AckId>,
        queued: Option<Queued>,
        step: Step<ServerTx>,
    ) {
        match step {
            Step::Live(tx) => {
                if let Some(id) = tx.awaiting_ack() {
                    self.awaiting_ack.insert(id.clone(), key.clone());
                }
                let queued = self
                    .queue
                    .schedule(Side::Server, &key, queued, tx.next_deadline());
                self.servers.insert(key, Slot { tx, queued });
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

    /// Keeps a live client transaction (re-filing its earliest deadline, as
    /// [`Self::put_server`] does), or forgets an ended one.
    fn put_client(&mut self, key: TxKey, queued: Option<Queued>, step: Step<ClientTx>) {
        if let Step::Live(tx) = step {
            let queued = self
                .queue
                .schedule(Side::Client, &key, queued, tx.next_deadline());
            self.clients.insert(key, Slot { tx, queued });
        }
    }

    /// Restores the timer queue's invariants after a mutating call: a live
    /// entry on top (so `poll_timeout` may just peek) and stale entries no
    /// more than about the live ones. Amortised O(1): each entry is pushed
    /// and dropped once.
    fn tidy_queue(&mut self) {
        let (servers, clients) = (&self.servers, &self.clients);
        let live_txs = servers.len() + clients.len();
        self.queue
            .compact(live_txs, |due| is_live(servers, clients, due));
        self.queue
            .drop_stale_top(|due| is_live(servers, clients, due));
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
        let Some(Slot { tx, queued }) = self.clients.remove(&key) else {
            return Ok(false);
        };
        let mut ctx = Ctx {
            now,
            config: &self.config,
            out: &mut self.out,
            rng: &mut self.rng,
        };
        let step = tx.on_response(&mut ctx, response);
        self.put_client(key, queued, step);
        self.tidy_queue();
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
        let Some(Slot { tx, queued }) = self.servers.remove(key) else {
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
        self.put_server(key.clone(), ack_id, queued, step);
        self.tidy_queue();
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
                let invite_key = key.with_method(rsip::Method::Invite);
                if method == rsip::Method::Cancel
                    && let Some(slot) = self.clients.get_mut(&invite_key)
                    && let ClientTx::Invite(invite) = &mut slot.tx
                {
                    invite.on_cancel_sent(&mut ctx);
                    let deadline = slot.tx.next_deadline();
                    slot.queued =
                        self.queue
                            .schedule(Side::Client, &invite_key, slot.queued, deadline);
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
        self.put_client(key.clone(), None, Step::Live(tx));
        self.tidy_queue();
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
            if let Some(Slot { tx, queued }) = self.clients.remove(&key) {
                let mut ctx = Ctx {
                    now,
                    config: &self.config,
                    out: &mut self.out,
                    rng: &mut self.rng,
                };
                let step = tx.on_transport_error(&mut ctx, dest);
                self.put_client(key, queued, step);
            }
        }
        self.tidy_queue();
    }

    /// Fires every timer due at `now`, earliest first. Retransmission timers
    /// re-arm from `now`, so a late call sends one retransmission, not a
    /// burst. Costs O(k log n) for k due entries (stale ones included).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(due) = self.queue.pop_due(now) {
            if !is_live(&self.servers, &self.clients, &due) {
                continue;
            }
            match due.side {
                Side::Server => self.fire_server(now, due.key),
                Side::Client => self.fire_client(now, due.key),
            }
        }
        self.tidy_queue();
    }

    fn fire_server(&mut self, now: Instant, key: TxKey) {
        // Each firing either ends the transaction or re-arms its timer past
        // `now`, so this loop ends; the bound only guards against a bug.
        for _ in 0..Timer::VALUES.len() * 2 {
            let Some(Slot { tx, queued }) = self.servers.remove(&key) else {
                return;
            };
            // An entry due at `now` has been popped (or soon is, as stale):
            // the transaction must get a new one.
            let queued = queued.filter(|q| q.at > now);
            let ack_id = tx.ack_id();
            let Some(timer) = tx.timers().next_expired(now) else {
                self.put_server(key, ack_id, queued, Step::Live(tx));
                return;
            };
            let mut ctx = Ctx {
                now,
                config: &self.config,
                out: &mut self.out,
                rng: &mut self.rng,
            };
            let step = tx.on_timer(timer, &mut ctx);
            self.put_server(key.clone(), ack_id, queued, step);
        }
    }

    fn fire_client(&mut self, now: Instant, key: TxKey) {
        for _ in 0..Timer::VALUES.len() * 2 {
            let Some(Slot { tx, queued }) = self.clients.remove(&key) else {
                return;
            };
            let queued = queued.filter(|q| q.at > now);
            let Some(timer) = tx.timers().next_expired(now) else {
                self.put_client(key, queued, Step::Live(tx));
                return;
            };
            let mut ctx = Ctx {
                now,
                config: &self.config,
                out: &mut self.out,
                rng: &mut self.rng,
            };
            let step = tx.on_timer(timer, &mut ctx);
            self.put_client(key.clone(), queued, step);
        }
    }

    /// The next thing to send or tell the TU, in the order it happened.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<TxOutput> {
        self.out.pop_front()
    }

    /// The earliest armed timer of any transaction: call
    /// [`TransactionLayer::handle_timeout`] then. O(1): the top of the timer
    /// queue, which every mutating call leaves live.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queue.peek().map(|due| due.at)
    }

    /// The earliest armed timer found by looking at every transaction (what
    /// `poll_timeout` must always equal).
    #[cfg(test)]
    fn scan_next_deadline(&self) -> Option<Instant> {
        self.servers
            .values()
            .filter_map(|s| s.tx.next_deadline())
            .chain(self.clients.values().filter_map(|s| s.tx.next_deadline()))
            .min()
    }

    /// Checks the timer queue against the transactions: `poll_timeout` is the
    /// true minimum, each transaction's handle names its current deadline,
    /// and stale entries are bounded. Returns the queue length.
    #[cfg(test)]
    fn check_timer_queue(&self) -> usize {
        assert_eq!(self.poll_timeout(), self.scan_next_deadline());
        let seqs = self.queue.seqs();
        let handles = (self
            .servers
            .values()
            .map(|s| (s.queued, s.tx.next_deadline())))
        .chain(
            self.clients
                .values()
                .map(|s| (s.queued, s.tx.next_deadline())),
        );
        for (queued, deadline) in handles {
            assert_eq!(
                queued.map(|q| q.at),
                deadline,
                "handle names another deadline"
            );
            if let Some(q) = queued {
                assert!(seqs.contains(&q.seq), "handle names no queue entry");
            }
        }
        let len = self.queue.len();
        assert!(
            len <= 2 * self.len() + queue::COMPACT_SLACK,
            "{len} queue entries for {} transactions",
            self.len()
        );
        len
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
