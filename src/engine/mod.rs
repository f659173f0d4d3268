//! The call engine: composes SIP transactions, dialogs, SDP and media into
//! calls, and runs each call's IVR. PURE: it never touches a socket, a file, a
//! database or a clock.
//!
//! # The run-loop contract
//! The runtime (`crate::rt`) owns one `Engine` and:
//! 1. feeds it what happened — [`Engine::handle_sip`] for a datagram or a
//!    framed TCP message, [`Engine::handle_rtp`] for an RTP datagram on a
//!    call's media socket, [`Engine::media_opened`] / [`Engine::media_failed`]
//!    in answer to [`Output::OpenMedia`], [`Engine::handle_timeout`] when the
//!    deadline it last read has passed;
//! 2. drains [`Engine::poll_output`] until it returns `None`, carrying out each
//!    [`Output`] in order;
//! 3. sleeps until [`Engine::poll_timeout`] or the next input.
//!
//! Every input takes `now: Instant`. Wall-clock time (for call records) is
//! derived from the pair (monotonic, wall) given to [`Engine::new`], so the
//! whole engine runs under simulated time in tests.
//!
//! # Invariants
//! - Every call that got past the trunk checks has exactly one `Arrived`
//!   record and, once it is over, exactly one `Ended` record.
//! - A call's media socket is opened at most once and closed exactly once.
//! - Nothing a peer sends can panic the engine: bad messages get a SIP error
//!   where one is due and are dropped otherwise.

mod agent_leg;
mod board;
mod browser_leg;
mod call;
mod consult;
mod desk;
mod dial;
mod gauges;
mod keepalive;
mod legs;
mod monitor;
pub mod prompts;
mod test_call;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rsip::headers::UntypedHeader;
use rsip::{Method, Request};
use tracing::{debug, info, warn};

use crate::config::{Cidr, Settings};
use crate::ivr::{LookupAnswer, LookupKind};
use crate::records::{HangupSide, RecordOp};
use crate::sip::message::{self, HeadersExt};
use crate::sip::transaction::{TimerConfig, TransactionLayer, TxEvent, TxKey, TxOutput};
use crate::sip::{Peer, dialog};
use call::{Action, Call};
pub use desk::{AgentProfile, PauseError};
use desk::{DESK_TIMER, Desk};
pub use dial::{AfterAnswer, Attempt, DialError, DialOrder};
pub use gauges::{AGENT_STATES, Gauges};
pub use keepalive::{FAILURES_BEFORE_DOWN, TrunkStatus};
pub use monitor::{MonitorError, MonitorMode, MonitorStatus};
pub use prompts::{IvrCatalog, PromptSet};
pub use test_call::{MAX_TEST_CALLS, TestCallError, TestCallStatus};

/// A handle the runtime uses to refer to one call (and its media socket).
pub type CallKey = u64;

/// Methods we implement; sent in Allow headers.
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY";

/// Option tags we support (RFC 3261 §8.2.2.3); anything else in Require
/// is refused with 420.
const SUPPORTED: &[&str] = &[];

/// What the engine asks the runtime to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// Send a SIP message.
    Transmit { dest: Peer, bytes: Vec<u8> },
    /// Bind an RTP socket for this call, then answer with
    /// [`Engine::media_opened`] or [`Engine::media_failed`].
    OpenMedia { call: CallKey },
    /// Send one RTP packet from the call's media socket.
    Rtp {
        call: CallKey,
        dest: SocketAddr,
        bytes: Vec<u8>,
    },
    /// The call is over: close its media socket.
    CloseMedia { call: CallKey },
    /// Keep this in the store (in order, retried until written).
    Record(RecordOp),
    /// Ask the store for the IVR; answer with [`Engine::lookup_done`].
    Lookup {
        call: CallKey,
        token: u32,
        what: LookupKind,
        key: String,
    },
    /// The caller starts leaving a message: open `file` (relative to the
    /// data directory) for 8 kHz mono audio.
    MessageStart {
        call: CallKey,
        call_id: String,
        file: String,
    },
    /// The next samples of the call's message.
    MessageAudio { call: CallKey, samples: Vec<i16> },
    /// The message is complete: close the file and record it with the call.
    MessageEnd { call: CallKey },
    /// The call's recording starts (at the answer): create `file`
    /// (relative to the data directory) for 8 kHz stereo audio, its first
    /// sample at `started_at` (wall ms).
    RecordingStart {
        call: CallKey,
        call_id: String,
        file: String,
        started_at: i64,
    },
    /// The next piece of the call's recording.
    RecordingAudio {
        call: CallKey,
        chunk: crate::media::recording::Chunk,
    },
    /// The recording is over: finish the file and record it with the call
    /// (or delete it, `keep: false`, a call the policy does not keep).
    /// `agents`: who was heard on the right channel besides the IVR.
    RecordingEnd {
        call: CallKey,
        keep: bool,
        agents: Vec<crate::acd::AgentId>,
    },
    /// Send this to the agent's CTI websocket.
    Cti {
        agent: crate::acd::AgentId,
        event: Box<crate::cti::Event>,
    },
    /// A call rings at this agent: read the caller's history (the screen
    /// pop) and send it with [`crate::cti::Event::Offered`].
    Offer {
        agent: crate::acd::AgentId,
        call: crate::cti::CallView,
    },
    /// Look up the SIP credentials of `username` for a REGISTER; answer
    /// with [`Engine::credentials_done`].
    Credentials { token: u64, username: String },
    /// Find out whether the caller is a VIP customer or has an open
    /// complaint (their place in a queue depends on it); answer with
    /// [`Engine::standing_done`]. Asked as the call arrives, so the answer
    /// is there before the caller reaches a queue.
    Standing { call: CallKey, caller: String },
    /// An outbound attempt is over: what it came to, for the dialer.
    Attempted(Box<Attempt>),
    /// The caller asked to be called back: enrol `number` in `campaign`,
    /// in line by `since_at` (when they called, wall ms).
    CallbackRequest {
        call_id: String,
        number: String,
        campaign: String,
        since_at: i64,
    },
}

/// The settings the engine needs, taken from the validated configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub numbers: Vec<String>,
    pub allowed_sources: Vec<Cidr>,
    /// Our address in Via, Contact and SDP.
    pub advertised_ip: IpAddr,
    pub sip_port: u16,
    pub codecs: Vec<String>,
    pub telephone_event_pt: u8,
    pub timers: TimerConfig,
    pub rtp_timeout: Duration,
    /// The ACD's queues.
    pub queues: Vec<crate::acd::QueueConfig>,
    pub not_ready_reasons: Vec<String>,
    /// The digest realm of agents' phones.
    pub sip_realm: String,
    pub rules: crate::acd::Rules,
    /// Browser softphones; `None`: agents need SIP phones.
    pub webrtc: Option<WebRtcConfig>,
    /// Our own SIP socket, as we can send to it: where the browser test
    /// caller's line calls (`None`: no test calls).
    pub self_sip: Option<SocketAddr>,
    /// Which calls are recorded.
    pub record: Arc<crate::config::RecordCalls>,
    /// Where outbound calls go (`None`: nothing is dialled).
    pub outbound: Option<Arc<crate::config::OutboundTrunk>>,
}

/// What agents' browser softphones need from the server.
#[derive(Debug, Clone)]
pub struct WebRtcConfig {
    /// The DTLS certificate every browser leg presents (the runtime makes
    /// it at start).
    pub identity: crate::media::webrtc::Identity,
    /// STUN and TURN servers for the pages.
    pub ice_servers: Vec<crate::cti::IceServer>,
    /// How long a call whose page audio went away waits for it.
    pub reattach: Duration,
}

impl EngineConfig {
    pub fn from_settings(s: &Settings) -> Self {
        EngineConfig {
            numbers: s.numbers.clone(),
            allowed_sources: s.allowed_sources.clone(),
            advertised_ip: s.advertised_ip,
            sip_port: s.sip_addr.port(),
            codecs: s.codecs.clone(),
            telephone_event_pt: s.telephone_event_pt,
            timers: TimerConfig {
                t1: s.t1,
                t2: s.t2,
                t4: s.t4,
            },
            rtp_timeout: s.rtp_timeout,
            queues: s.queues.clone(),
            not_ready_reasons: s.not_ready_reasons.clone(),
            sip_realm: s.sip_realm.clone(),
            rules: s.acd_rules,
            webrtc: None,
            self_sip: None,
            record: Arc::new(s.recording.calls.clone()),
            outbound: s.outbound.trunk.clone().map(Arc::new),
        }
    }

    fn source_allowed(&self, addr: SocketAddr) -> bool {
        self.allowed_sources.iter().any(|c| c.contains(addr.ip()))
    }

    /// Which of our service numbers a dialled number is, accepting the
    /// international forms a carrier may send (+86, 0086, 86 prefixes).
    fn served_number(&self, dialled: &str) -> Option<&str> {
        let digits = dialled.strip_prefix('+').unwrap_or(dialled);
        let candidates = [
            digits,
            digits.strip_prefix("0086").unwrap_or(digits),
            digits.strip_prefix("86").unwrap_or(digits),
        ];
        self.numbers
            .iter()
            .find(|n| candidates.contains(&n.as_str()))
            .map(String::as_str)
    }
}

/// Counters for the health endpoint and the benchmark.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    pub calls_total: u64,
    pub calls_rejected: u64,
    pub sip_malformed: u64,
    pub rtp_malformed: u64,
    /// Of `calls_total`, the outbound calls we placed.
    pub outbound_total: u64,
}

/// All calls of this server, and the SIP transaction layer under them.
pub struct Engine {
    cfg: EngineConfig,
    /// The IVR version new calls start with.
    catalog: Arc<IvrCatalog>,
    tx: TransactionLayer,
    calls: HashMap<CallKey, Call>,
    /// SIP Call-ID → call, for in-dialog requests and ACKs.
    by_call_id: HashMap<String, CallKey>,
    /// SIP Call-ID → our leg to a phone. Apart from the calls' map: the
    /// test caller's leg calls our own number, so the leg and the call it
    /// makes share one Call-ID (their dialogs' tags tell them apart).
    leg_by_call_id: HashMap<String, CallKey>,
    /// Our requests (client transactions) by who sent them: a call (its
    /// BYE, REFER) or a leg (its INVITE, CANCEL, BYE).
    client_owner: HashMap<TxKey, CallKey>,
    /// The INVITE server transaction of each call. Apart from ours: the
    /// test caller's INVITE to our own number is both, under one key.
    server_owner: HashMap<TxKey, CallKey>,
    /// Call deadlines; an entry is stale when it differs from the call's
    /// `scheduled` field (lazy deletion keeps rescheduling O(log n)).
    timers: BinaryHeap<Reverse<(Instant, CallKey)>>,
    outputs: VecDeque<Output>,
    rng: fastrand::Rng,
    epoch: (Instant, i64),
    next_key: CallKey,
    /// Calls not yet over (kept as a count: the runtime reads it after
    /// every input).
    active: usize,
    draining: bool,
    overloaded: bool,
    stats: EngineStats,
    /// Automatic call distribution: who is offered which caller.
    acd: crate::acd::Acd,
    /// The ACD's and the registrar's next deadline as it is on the timer
    /// heap (key [`DESK_TIMER`]).
    desk_scheduled: Option<Instant>,
    /// Agents known since their first CTI connection.
    desks: HashMap<crate::acd::AgentId, Desk>,
    /// Calls to agents' phones, keyed like calls (one key space: media
    /// sockets and timers are keyed by it).
    legs: HashMap<CallKey, legs::Leg>,
    /// Agents' phones and where they are.
    registrar: crate::sip::registrar::Registrar,
    /// REGISTERs waiting for their user's credentials.
    registering: HashMap<u64, (TxKey, Request, Peer)>,
    /// What browser legs share (from `cfg.webrtc`).
    browser: Option<Arc<browser_leg::BrowserSettings>>,
    /// Browser test callers.
    test_calls: test_call::TestCalls,
    /// Recent wrong passwords per SIP username (wall ms), for the lockout.
    register_failures: HashMap<String, Vec<i64>>,
    next_token: u64,
    /// Makes agent state records' ids unique.
    state_seq: u64,
    /// OPTIONS keepalives to the outbound proxy, once the runtime asks.
    keepalive: Option<keepalive::Keepalive>,
}

impl Engine {
    /// `now` and `wall_ms` are the same moment on the monotonic and the wall
    /// clock; `seed` makes tags, branches and SSRCs reproducible in tests.
    pub fn new(
        cfg: EngineConfig,
        catalog: Arc<IvrCatalog>,
        now: Instant,
        wall_ms: i64,
        seed: u64,
    ) -> Engine {
        let acd = crate::acd::Acd::new(cfg.queues.clone());
        let mut rng = fastrand::Rng::with_seed(seed);
        // Nonces are keyed by a secret of this run: after a restart phones
        // are simply challenged again.
        let mut secret = [0u8; 32];
        rng.fill(&mut secret);
        let registrar = crate::sip::registrar::Registrar::new(
            crate::sip::registrar::RegistrarConfig::new(cfg.sip_realm.clone(), secret),
        );
        let browser = cfg.webrtc.as_ref().map(|w| {
            Arc::new(browser_leg::BrowserSettings {
                identity: w.identity.clone(),
                laws: cfg
                    .codecs
                    .iter()
                    .map(|c| {
                        if c.eq_ignore_ascii_case("PCMA") {
                            crate::media::Law::Pcma
                        } else {
                            crate::media::Law::Pcmu
                        }
                    })
                    .collect(),
                reattach: w.reattach,
                advertised_ip: cfg.advertised_ip,
            })
        });
        Engine {
            browser,
            test_calls: test_call::TestCalls::default(),
            tx: TransactionLayer::new(cfg.timers),
            cfg,
            catalog,
            calls: HashMap::new(),
            by_call_id: HashMap::new(),
            leg_by_call_id: HashMap::new(),
            client_owner: HashMap::new(),
            server_owner: HashMap::new(),
            timers: BinaryHeap::new(),
            outputs: VecDeque::new(),
            rng,
            epoch: (now, wall_ms),
            next_key: 1,
            active: 0,
            draining: false,
            overloaded: false,
            stats: EngineStats::default(),
            acd,
            desk_scheduled: None,
            desks: HashMap::new(),
            legs: HashMap::new(),
            registrar,
            registering: HashMap::new(),
            register_failures: HashMap::new(),
            next_token: 1,
            state_seq: 0,
            keepalive: None,
        }
    }

    /// New calls start on `catalog` (a reload); calls in progress keep
    /// the version they started with.
    pub fn set_ivr(&mut self, catalog: Arc<IvrCatalog>) {
        self.catalog = catalog;
    }

    /// The store's answer to an [`Output::Lookup`].
    pub fn lookup_done(&mut self, now: Instant, call: CallKey, token: u32, answer: LookupAnswer) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.on_lookup(now, token, answer);
        }
        self.drive_call(now, call);
    }

    /// Calls that have not ended yet.
    pub fn active_calls(&self) -> usize {
        self.active
    }

    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Live SIP transactions (they must all end: a leak shows here).
    pub fn transactions(&self) -> usize {
        self.tx.len()
    }

    /// Calls the engine still tracks, ended ones whose BYE is in flight
    /// included.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// True once nothing is left to do: no call, no transaction.
    pub fn is_idle(&self) -> bool {
        self.calls.is_empty() && self.legs.is_empty() && self.tx.is_empty()
    }

    fn wall_ms(&self, now: Instant) -> i64 {
        let (mono, wall) = self.epoch;
        let since = now.saturating_duration_since(mono).as_millis();
        wall + i64::try_from(since).unwrap_or(i64::MAX / 2)
    }

    // ----- inputs -------------------------------------------------------

    /// A SIP message arrived (a UDP datagram or one framed TCP message).
    pub fn handle_sip(&mut self, now: Instant, bytes: &[u8], source: Peer) {
        match message::parse(bytes) {
            Ok(rsip::SipMessage::Request(mut req)) => {
                message::stamp_received(&mut req, source.addr);
                if let Err(e) = self.tx.handle_request(now, req, source) {
                    self.stats.sip_malformed += 1;
                    debug!(%source, error = %e, "request dropped by the transaction layer");
                }
            }
            Ok(rsip::SipMessage::Response(resp)) => {
                match self.tx.handle_response(now, resp, source) {
                    Ok(true) => {}
                    Ok(false) => debug!(%source, "stray response dropped"),
                    Err(e) => debug!(%source, error = %e, "response dropped"),
                }
            }
            Err(e) => {
                self.stats.sip_malformed += 1;
                debug!(%source, error = %e, "dropping malformed SIP message");
                if let Some(reply) = message::bad_request(bytes) {
                    self.outputs.push_back(Output::Transmit {
                        dest: source,
                        bytes: reply,
                    });
                }
            }
        }
        self.pump(now);
    }

    /// An RTP datagram arrived on a call's media socket.
    pub fn handle_rtp(&mut self, now: Instant, call: CallKey, source: SocketAddr, bytes: &[u8]) {
        if let Some(leg) = self.legs.get_mut(&call) {
            if matches!(
                leg.handle_datagram(now, source, bytes),
                Err(e) if !matches!(e, crate::media::Error::NotRtp(_))
            ) {
                self.stats.rtp_malformed += 1;
            }
            self.drive_leg(now, call);
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        match c.handle_rtp(now, source, bytes) {
            // RTCP multiplexed on the RTP port (RFC 5761) is not an error.
            Ok(()) | Err(crate::media::Error::NotRtp(_)) => {}
            Err(_) => self.stats.rtp_malformed += 1,
        }
        self.drive_call(now, call);
    }

    /// The runtime bound the RTP socket asked for with [`Output::OpenMedia`].
    pub fn media_opened(&mut self, now: Instant, call: CallKey, local: SocketAddr) {
        let seed = call::RtpSeed {
            ssrc: self.rng.u32(..),
            sequence: self.rng.u16(..),
            timestamp: self.rng.u32(..),
            sdp_session: self.rng.u64(1..u64::MAX / 2),
        };
        if let Some(leg) = self.legs.get_mut(&call) {
            leg.media_opened(now, local, seed);
            self.drive_leg(now, call);
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            // The call ended while the socket was being bound.
            self.outputs.push_back(Output::CloseMedia { call });
            return;
        };
        c.media_opened(now, local, seed);
        self.drive_call(now, call);
    }

    /// No RTP socket could be bound (the port range is exhausted).
    pub fn media_failed(&mut self, now: Instant, call: CallKey) {
        if let Some(leg) = self.legs.get_mut(&call) {
            warn!(leg = call, "no RTP port free for an agent's phone");
            leg.media_failed();
            self.drive_leg(now, call);
            return;
        }
        if let Some(c) = self.calls.get_mut(&call) {
            warn!(call = %c.id, "no RTP port free; refusing the call with 503");
            c.media_failed(now);
        }
        self.drive_call(now, call);
    }

    /// A deadline returned by [`Engine::poll_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.keepalive_timeout(now);
        while let Some(Reverse((at, key))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if !self.is_scheduled(key, at) {
                continue;
            }
            if key == DESK_TIMER {
                self.desk_scheduled = None;
                self.desk_timeout(now);
            } else if let Some(leg) = self.legs.get_mut(&key) {
                *leg.scheduled() = None;
                leg.handle_timeout(now);
                self.drive_leg(now, key);
            } else {
                if let Some(c) = self.calls.get_mut(&key) {
                    c.scheduled = None;
                    c.handle_timeout(now);
                }
                self.drive_call(now, key);
            }
        }
        self.pump(now);
    }

    /// Stop taking new calls (they get 503); calls in progress go on.
    pub fn begin_shutdown(&mut self) {
        self.draining = true;
    }

    /// The runtime is falling behind (its timers fire late): new calls get
    /// 503 with a short Retry-After until it catches up, so the calls in
    /// progress keep their audio and a burst cannot snowball into SIP
    /// retransmissions (RFC 3261 §21.5.4).
    pub fn set_overloaded(&mut self, overloaded: bool) {
        self.overloaded = overloaded;
    }

    /// The shutdown grace period is over: hang up every call still up.
    pub fn hangup_all(&mut self, now: Instant) {
        let keys: Vec<CallKey> = self.calls.keys().copied().collect();
        for key in keys {
            if let Some(c) = self.calls.get_mut(&key) {
                c.hangup(now, "shutdown");
            }
            self.drive_call(now, key);
        }
    }

    // ----- outputs ------------------------------------------------------

    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest moment [`Engine::handle_timeout`] must be called.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        // Drop stale heap entries so the top is a real deadline.
        while let Some(Reverse((at, key))) = self.timers.peek().copied() {
            if self.is_scheduled(key, at) {
                break;
            }
            self.timers.pop();
        }
        let call = self.timers.peek().map(|Reverse((at, _))| *at);
        [call, self.tx.poll_timeout(), self.keepalive_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    // ----- internals ----------------------------------------------------

    /// A timer-heap entry is live (not superseded by a later schedule).
    fn is_scheduled(&self, key: CallKey, at: Instant) -> bool {
        if key == DESK_TIMER {
            return self.desk_scheduled == Some(at);
        }
        if let Some(leg) = self.legs.get(&key) {
            return leg.scheduled_at() == Some(at);
        }
        self.calls
            .get(&key)
            .is_some_and(|c| c.scheduled == Some(at))
    }

    /// Moves transaction-layer output into ours and reacts to its events.
    fn pump(&mut self, now: Instant) {
        while let Some(out) = self.tx.poll_output() {
            match out {
                TxOutput::Transmit { dest, bytes } => {
                    self.outputs.push_back(Output::Transmit { dest, bytes })
                }
                TxOutput::Event(ev) => self.on_tx_event(now, ev),
            }
        }
    }

    fn on_tx_event(&mut self, now: Instant, ev: TxEvent) {
        match ev {
            TxEvent::Request {
                key,
                request,
                source,
            } => self.on_request(now, key, request, source),
            TxEvent::Ack { request, source } => {
                let Some(call) = request
                    .call_id()
                    .ok()
                    .and_then(|id| self.by_call_id.get(&id).copied())
                else {
                    debug!(%source, "ACK matches no call; dropped");
                    return;
                };
                if let Some(c) = self.calls.get_mut(&call) {
                    c.on_ack(now, &request);
                }
                self.drive_call(now, call);
            }
            TxEvent::Cancelled { invite } => {
                if let Some(call) = self.server_owner.remove(&invite) {
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.on_cancel(now);
                    }
                    self.drive_call(now, call);
                }
            }
            TxEvent::Response { key, response } => {
                if self.keepalive_response(now, &key, response.status_code().code()) {
                    return;
                }
                if let Some(&call) = self.client_owner.get(&key) {
                    let code = response.status_code().code();
                    let method = key.method();
                    // Our INVITE keeps its owner after a 2xx: the 2xx is
                    // retransmitted until our ACK arrives, and each
                    // retransmission needs the ACK again.
                    let answer = method == Method::Invite && code < 300;
                    if code >= 200 && !answer {
                        self.client_owner.remove(&key);
                    }
                    if let Some(leg) = self.legs.get_mut(&call) {
                        leg.on_response(now, &method, Some(&response), code);
                        self.drive_leg(now, call);
                        return;
                    }
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.on_response(now, &method, Some(&response), code);
                    }
                    self.drive_call(now, call);
                }
            }
            TxEvent::Timeout { key } => {
                if self.keepalive_failed(now, &key) {
                    return;
                }
                if let Some(call) = self.client_owner.remove(&key) {
                    if let Some(leg) = self.legs.get_mut(&call) {
                        leg.on_response(now, &key.method(), None, 408);
                        self.drive_leg(now, call);
                        return;
                    }
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.on_response(now, &key.method(), None, 408);
                    }
                    self.drive_call(now, call);
                }
            }
            TxEvent::AckTimeout { key } => {
                if let Some(call) = self.server_owner.get(&key).copied() {
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.on_ack_timeout(now);
                    }
                    self.drive_call(now, call);
                }
            }
        }
    }

    /// An in-dialog request of one of our outbound calls.
    fn is_outbound_dialog(&self, req: &Request) -> bool {
        req.to_tag().is_some()
            && req
                .call_id()
                .ok()
                .and_then(|id| self.by_call_id.get(&id))
                .and_then(|k| self.calls.get(k))
                .is_some_and(|c| c.is_outbound() && c.matches(req))
    }

    /// Answers a request outside any call with `code` (and optional extra
    /// headers), as the transaction layer's final response.
    fn reject(
        &mut self,
        now: Instant,
        key: &TxKey,
        req: &Request,
        code: u16,
        extra: Vec<rsip::Header>,
    ) {
        let tag = dialog::new_tag(&mut self.rng);
        let mut resp = message::response(req, code, None, Some(&tag));
        for h in extra {
            resp.headers.push(h);
        }
        if let Err(e) = self.tx.respond(now, key, resp) {
            debug!(error = %e, code, "could not send response");
        }
    }

    fn on_request(&mut self, now: Instant, key: TxKey, req: Request, source: Peer) {
        // Agents' phones register from anywhere (digest authentication
        // protects it), and talk in the dialogs we opened to them.
        if req.method() == &Method::Register {
            self.on_register(now, key, req, source);
            return;
        }
        if req.to_tag().is_some()
            && let Some(leg) = req
                .call_id()
                .ok()
                .and_then(|id| self.leg_by_call_id.get(&id).copied())
                .filter(|k| self.legs.get(k).is_some_and(|l| l.matches(&req)))
        {
            if let Some(l) = self.legs.get_mut(&leg) {
                let resp = l.on_in_dialog_request(&req);
                if let Err(e) = self.tx.respond(now, &key, resp) {
                    debug!(error = %e, "could not answer the phone");
                }
            }
            self.drive_leg(now, leg);
            return;
        }
        // Only the carrier may talk to us otherwise (RFC 3261 §26: no open
        // relay, no toll fraud through a 400 number). The dialogs of our
        // outbound calls are the carrier's too, wherever its proxy sends
        // from.
        if !self.cfg.source_allowed(source.addr)
            && !self.is_test_line(&req, source)
            && !self.is_outbound_dialog(&req)
        {
            info!(%source, method = %req.method(), "request from a source outside the trunk list: 403");
            self.stats.calls_rejected += 1;
            self.reject(now, &key, &req, 403, vec![]);
            return;
        }
        let in_dialog = req.to_tag().is_some();
        if in_dialog {
            let call = req
                .call_id()
                .ok()
                .and_then(|id| self.by_call_id.get(&id).copied())
                .filter(|k| self.calls.get(k).is_some_and(|c| c.matches(&req)));
            match call {
                Some(call) => {
                    let responses = self
                        .calls
                        .get_mut(&call)
                        .map(|c| c.on_in_dialog_request(now, &req))
                        .unwrap_or_default();
                    for resp in responses {
                        if let Err(e) = self.tx.respond(now, &key, resp) {
                            debug!(error = %e, "could not send in-dialog response");
                        }
                    }
                    self.drive_call(now, call);
                }
                None => self.reject(now, &key, &req, 481, vec![]),
            }
            return;
        }
        match req.method() {
            Method::Invite => self.on_invite(now, key, req, source),
            Method::Options => {
                let extra = vec![
                    rsip::headers::Allow::new(ALLOW).into(),
                    rsip::headers::Accept::new("application/sdp").into(),
                ];
                let code = if self.draining { 503 } else { 200 };
                self.reject(now, &key, &req, code, extra);
            }
            Method::Bye | Method::Info | Method::Update => {
                self.reject(now, &key, &req, 481, vec![]);
            }
            Method::Subscribe
            | Method::Notify
            | Method::Publish
            | Method::Message
            | Method::Refer => {
                self.reject(
                    now,
                    &key,
                    &req,
                    405,
                    vec![rsip::headers::Allow::new(ALLOW).into()],
                );
            }
            // ACK and CANCEL never reach here (the transaction layer owns them).
            _ => self.reject(now, &key, &req, 501, vec![]),
        }
    }

    fn on_invite(&mut self, now: Instant, key: TxKey, req: Request, source: Peer) {
        if self.draining || self.overloaded {
            self.stats.calls_rejected += 1;
            let after = if self.draining { "30" } else { "2" };
            let retry = rsip::headers::RetryAfter::new(after).into();
            self.reject(now, &key, &req, 503, vec![retry]);
            return;
        }
        let unsupported: Vec<String> = req
            .header_values("Require")
            .iter()
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty() && !SUPPORTED.contains(&t.as_str()))
            .collect();
        if !unsupported.is_empty() {
            self.stats.calls_rejected += 1;
            let h = rsip::headers::Unsupported::new(unsupported.join(", ")).into();
            self.reject(now, &key, &req, 420, vec![h]);
            return;
        }
        let dialled = req
            .request_uri_user()
            .or_else(|| req.to_user())
            .unwrap_or_default();
        let Some(number) = self.cfg.served_number(&dialled).map(str::to_owned) else {
            info!(%source, dialled, "INVITE for a number we do not serve: 404");
            self.stats.calls_rejected += 1;
            self.reject(now, &key, &req, 404, vec![]);
            return;
        };
        let Ok(sip_call_id) = req.call_id() else {
            self.reject(now, &key, &req, 400, vec![]);
            return;
        };
        if self.by_call_id.contains_key(&sip_call_id) {
            // Same Call-ID, no To tag, new branch: a merged or looped request
            // (RFC 3261 §8.2.2.2).
            self.reject(now, &key, &req, 482, vec![]);
            return;
        }
        let offer = match call::read_offer(&req, &self.cfg.codecs, None) {
            Ok(offer) => offer,
            Err(e) => {
                let code = if e == crate::sip::Error::NoCommonCodec {
                    488
                } else {
                    400
                };
                info!(%source, error = %e, code, "refusing INVITE offer");
                self.stats.calls_rejected += 1;
                // A caller to our number that we could not serve is still a
                // call: keep its record.
                let id = call::new_call_id(self.wall_ms(now), &mut self.rng);
                let at = self.wall_ms(now);
                let from = req.from_user().unwrap_or_default();
                self.outputs.push_back(Output::Record(RecordOp::Arrived {
                    call_id: id.clone(),
                    sip_call_id: sip_call_id.clone(),
                    from_number: from,
                    to_number: dialled.clone(),
                    service_number: number.clone(),
                    arrived_at: at,
                }));
                let cause = if code == 488 {
                    "no-common-codec"
                } else {
                    "bad-sdp"
                };
                self.outputs.push_back(Output::Record(RecordOp::Ended {
                    call_id: id,
                    at,
                    cause: cause.into(),
                    side: HangupSide::Hotline,
                }));
                self.reject(now, &key, &req, code, vec![]);
                return;
            }
        };
        let call_key = self.new_call_key();
        let wall = self.wall_ms(now);
        let id = call::new_call_id(wall, &mut self.rng);
        let local_tag = dialog::new_tag(&mut self.rng);
        self.stats.calls_total += 1;
        info!(call = %id, %source, dialled, "incoming call");
        let c = Call::new(call::NewCall {
            key: call_key,
            id,
            tx_key: key.clone(),
            invite: req,
            source,
            number,
            dialled,
            local_tag,
            offer,
            now,
            wall_ms: wall,
            cfg: &self.cfg,
            catalog: self.catalog.clone(),
            rng: self.rng.fork(),
            outbound: None,
        });
        self.active += 1;
        self.by_call_id.insert(sip_call_id, call_key);
        self.server_owner.insert(key, call_key);
        self.calls.insert(call_key, c);
        self.drive_call(now, call_key);
    }

    /// Carries out what a call (or, with `leg`, an agent leg) asked for.
    fn run_actions(&mut self, now: Instant, key: CallKey, actions: Vec<Action>, leg: bool) {
        for a in actions {
            match a {
                Action::Respond(resp) => {
                    let Some(c) = self.calls.get(&key) else {
                        continue;
                    };
                    if let Err(e) = self.tx.respond(now, &c.tx_key, resp) {
                        debug!(call = %c.id, error = %e, "response not sent");
                    }
                }
                Action::Request(req, dest) => match self.tx.send_request(now, req, dest) {
                    Ok(k) => {
                        if leg {
                            if let Some(r) = self.legs.get_mut(&key).and_then(|l| l.requests()) {
                                r.push(k.clone());
                            }
                        } else if let Some(c) = self.calls.get_mut(&key) {
                            c.requests.push(k.clone());
                        }
                        self.client_owner.insert(k, key);
                    }
                    // `key`: a call or an agent leg, whose id the call has.
                    Err(e) => warn!(key, error = %e, "request not sent"),
                },
                Action::Ack(req, dest) => self.tx.send_ack(req, dest),
                Action::Output(o) => self.outputs.push_back(o),
                Action::Enqueue {
                    queue,
                    priority,
                    skills,
                } => self.enqueue(now, key, &queue, priority, &skills, None),
                Action::TransferFailed(why) => self.agent_transfer_failed(now, key, &why),
                Action::WaitForAgent { queue, agent } => {
                    self.wait_for_agent(now, key, &queue, agent)
                }
                Action::Audio(samples) => {
                    let leg = self
                        .calls
                        .get(&key)
                        .and_then(|c| c.acd.as_ref())
                        .filter(|p| p.agent.is_some())
                        .and_then(|p| p.leg);
                    if let Some(l) = leg.and_then(|l| self.legs.get_mut(&l)) {
                        l.push_audio(&samples);
                    }
                    self.monitor_hears_caller(key, &samples);
                }
            }
        }
    }

    fn new_call_key(&mut self) -> CallKey {
        let k = self.next_key;
        self.next_key += 1;
        k
    }

    /// Carries out what a call asked for, reschedules its deadline and
    /// removes it once it is completely finished.
    fn drive_call(&mut self, now: Instant, key: CallKey) {
        let Some(c) = self.calls.get_mut(&key) else {
            self.pump(now);
            return;
        };
        let mut actions = Vec::new();
        c.poll_actions(now, &mut actions);
        self.run_actions(now, key, actions, false);
        // Leaving the ACD may give the call more to do (records, a BYE).
        self.check_caller(now, key);
        let Some(c) = self.calls.get_mut(&key) else {
            self.pump(now);
            return;
        };
        let mut actions = Vec::new();
        c.poll_actions(now, &mut actions);
        self.run_actions(now, key, actions, false);
        let Some(c) = self.calls.get_mut(&key) else {
            self.pump(now);
            return;
        };
        if c.counted && c.is_over() {
            c.counted = false;
            self.active -= 1;
        }
        let finished = c.is_finished();
        let deadline = c.poll_timeout();
        if finished {
            if let Some(c) = self.calls.remove(&key) {
                self.by_call_id.remove(&c.sip_call_id);
                self.server_owner.remove(&c.tx_key);
                for k in &c.requests {
                    self.client_owner.remove(k);
                }
            }
        } else if deadline != c.scheduled {
            c.scheduled = deadline;
            if let Some(at) = deadline {
                self.timers.push(Reverse((at, key)));
            }
        }
        self.pump(now);
    }
}

#[cfg(test)]
mod tests;
