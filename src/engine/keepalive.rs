//! SIP OPTIONS keepalives to the carrier's outbound proxy (`[outbound]
//! proxy`): whether the trunk answers, for the health endpoint and the
//! metrics.
//!
//! An OPTIONS goes out every interval through the transaction layer, so it
//! is retransmitted on UDP (Timer E) and given up after 64*T1 (Timer F),
//! like any request of ours. Any response, whatever its code, shows the
//! proxy is alive (a 401, 404 or 405 still proves it reads our packets);
//! only silence until Timer F counts against it. [`FAILURES_BEFORE_DOWN`]
//! such timeouts in a row make the trunk down; the next response makes it
//! up again.
//!
//! Invariants:
//! - At most one OPTIONS is outstanding: the next one waits for the
//!   current one's answer or timeout, so a dead proxy is not flooded and
//!   the consecutive-failure count means what it says.
//! - The state machine is pure: time and wall time are inputs, and the
//!   engine tells it what the transaction layer said about its requests.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::Engine;
use crate::sip::transaction::TxKey;
use crate::sip::{Peer, Transport, dialog, message};

/// Unanswered OPTIONS in a row after which the trunk counts as down.
pub const FAILURES_BEFORE_DOWN: u32 = 2;

/// What the keepalives say about the trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkStatus {
    /// The proxy the OPTIONS go to.
    pub proxy: SocketAddr,
    /// OPTIONS in a row that went unanswered (0 after any answer).
    pub failures: u32,
    /// The status code of the latest answer; `None`: never answered.
    pub last_code: Option<u16>,
    /// When the trunk went down or came up last (wall ms); `None`: neither
    /// has happened yet.
    pub since_ms: Option<i64>,
}

impl TrunkStatus {
    /// [`FAILURES_BEFORE_DOWN`] or more OPTIONS in a row went unanswered.
    #[must_use]
    pub fn is_down(&self) -> bool {
        self.failures >= FAILURES_BEFORE_DOWN
    }
}

/// The keepalive of one trunk: when the next OPTIONS is due, which one is
/// outstanding, and what the answers said.
#[derive(Debug)]
pub(super) struct Keepalive {
    proxy: SocketAddr,
    /// The carrier's domain, for the Request-URI and To.
    domain: String,
    every: Duration,
    next_at: Instant,
    outstanding: Option<TxKey>,
    cseq: u32,
    status: TrunkStatus,
}

/// A change of the trunk's state, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Down,
    Up,
}

impl Keepalive {
    /// The first OPTIONS is due at `now`.
    pub(super) fn new(now: Instant, proxy: SocketAddr, domain: &str, every: Duration) -> Self {
        Keepalive {
            proxy,
            domain: domain.to_owned(),
            every,
            next_at: now,
            outstanding: None,
            cseq: 0,
            status: TrunkStatus {
                proxy,
                failures: 0,
                last_code: None,
                since_ms: None,
            },
        }
    }

    /// When the next OPTIONS is due; `None` while one is outstanding (its
    /// transaction's timers are the transaction layer's).
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.outstanding.is_none().then_some(self.next_at)
    }

    /// The OPTIONS to send now, if one is due; `host` is our `ip:port`.
    pub(super) fn due(
        &mut self,
        now: Instant,
        host: &str,
        rng: &mut fastrand::Rng,
    ) -> Option<rsip::Request> {
        if self.outstanding.is_some() || now < self.next_at {
            return None;
        }
        self.next_at = now + self.every;
        self.cseq = self.cseq.wrapping_add(1);
        let text = format!(
            "OPTIONS sip:{domain} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {host};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:hotline@{host}>;tag={tag}\r\n\
             To: <sip:{domain}>\r\n\
             Call-ID: {call_id:016x}@{host}\r\n\
             CSeq: {cseq} OPTIONS\r\n\
             Contact: <sip:hotline@{host}>\r\n\
             Accept: application/sdp\r\n\
             Allow: {allow}\r\n\
             Content-Length: 0\r\n\r\n",
            domain = self.domain,
            branch = dialog::new_branch(rng),
            tag = dialog::new_tag(rng),
            call_id = rng.u64(..),
            cseq = self.cseq,
            allow = super::ALLOW,
        );
        match message::parse(text.as_bytes()) {
            Ok(rsip::SipMessage::Request(r)) => Some(r),
            _ => None,
        }
    }

    /// The OPTIONS went out as client transaction `key`.
    pub(super) fn sent(&mut self, key: TxKey) {
        self.outstanding = Some(key);
    }

    pub(super) fn owns(&self, key: &TxKey) -> bool {
        self.outstanding.as_ref() == Some(key)
    }

    /// The proxy answered `code` (a final answer ends the wait).
    pub(super) fn answered(&mut self, code: u16, wall_ms: i64) -> Option<Change> {
        if code >= 200 {
            self.outstanding = None;
        }
        let was_down = self.status.is_down();
        self.status.failures = 0;
        self.status.last_code = Some(code);
        if was_down || self.status.since_ms.is_none() {
            self.status.since_ms = Some(wall_ms);
        }
        was_down.then_some(Change::Up)
    }

    /// The outstanding OPTIONS got no answer (Timer F).
    pub(super) fn unanswered(&mut self, wall_ms: i64) -> Option<Change> {
        self.outstanding = None;
        self.status.failures = self.status.failures.saturating_add(1);
        if self.status.failures == FAILURES_BEFORE_DOWN {
            self.status.since_ms = Some(wall_ms);
            return Some(Change::Down);
        }
        None
    }

    pub(super) fn status(&self) -> &TrunkStatus {
        &self.status
    }
}

impl Engine {
    /// Starts sending OPTIONS to the outbound proxy every `every`, the
    /// first now. Without a configured proxy nothing is sent (`false`).
    pub fn keep_trunk_alive(&mut self, now: Instant, every: Duration) -> bool {
        let Some(trunk) = self.cfg.outbound.clone() else {
            return false;
        };
        self.keepalive = Some(Keepalive::new(now, trunk.proxy, &trunk.domain, every));
        true
    }

    /// What the keepalives say about the trunk; `None` when none are sent.
    #[must_use]
    pub fn trunk_status(&self) -> Option<TrunkStatus> {
        self.keepalive.as_ref().map(|k| k.status().clone())
    }

    /// When the next OPTIONS is due.
    pub(super) fn keepalive_deadline(&self) -> Option<Instant> {
        self.keepalive.as_ref().and_then(Keepalive::deadline)
    }

    /// Sends the OPTIONS that is due, if any.
    pub(super) fn keepalive_timeout(&mut self, now: Instant) {
        // Called on every timeout of every call: nothing is built unless
        // an OPTIONS is due.
        if self.keepalive_deadline().is_none_or(|at| at > now) {
            return;
        }
        let host = super::call::sip_host(self.cfg.advertised_ip, self.cfg.sip_port);
        let Some(k) = self.keepalive.as_mut() else {
            return;
        };
        let Some(options) = k.due(now, &host, &mut self.rng) else {
            return;
        };
        let dest = Peer {
            addr: k.proxy,
            transport: Transport::Udp,
        };
        match self.tx.send_request(now, options, dest) {
            Ok(key) => k.sent(key),
            Err(e) => debug!(error = %e, "trunk OPTIONS not sent"),
        }
    }

    /// A response to one of our requests: `true` if it answered the
    /// keepalive (then it concerns nobody else).
    pub(super) fn keepalive_response(&mut self, now: Instant, key: &TxKey, code: u16) -> bool {
        let wall = self.wall_ms(now);
        let Some(k) = self.keepalive.as_mut().filter(|k| k.owns(key)) else {
            return false;
        };
        if k.answered(code, wall) == Some(Change::Up) {
            info!(proxy = %k.proxy, code, "trunk answers OPTIONS again");
        }
        true
    }

    /// One of our requests timed out: `true` if it was the keepalive.
    pub(super) fn keepalive_failed(&mut self, now: Instant, key: &TxKey) -> bool {
        let wall = self.wall_ms(now);
        let Some(k) = self.keepalive.as_mut().filter(|k| k.owns(key)) else {
            return false;
        };
        if k.unanswered(wall) == Some(Change::Down) {
            warn!(
                proxy = %k.proxy,
                failures = k.status.failures,
                "trunk not answering OPTIONS: outbound calls will likely fail"
            );
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keepalive(t0: Instant) -> Keepalive {
        Keepalive::new(
            t0,
            "192.0.2.10:5060".parse().expect("address"),
            "carrier.example",
            Duration::from_secs(30),
        )
    }

    #[test]
    fn one_options_at_a_time_on_its_interval() {
        let t0 = Instant::now();
        let mut rng = fastrand::Rng::with_seed(1);
        let mut k = keepalive(t0);
        assert_eq!(k.deadline(), Some(t0));
        let options = k.due(t0, "127.0.0.1:5060", &mut rng).expect("due at once");
        assert_eq!(options.method, rsip::Method::Options);
        assert_eq!(options.uri.to_string(), "sip:carrier.example");
        let key = TxKey::for_request(&options).expect("a key");
        k.sent(key.clone());
        assert_eq!(k.deadline(), None, "waits for the answer");
        let late = t0 + Duration::from_secs(40);
        assert!(k.due(late, "127.0.0.1:5060", &mut rng).is_none());
        assert_eq!(k.answered(200, 1), None);
        assert!(!k.owns(&key));
        assert_eq!(k.deadline(), Some(t0 + Duration::from_secs(30)));
        let next = k.due(late, "127.0.0.1:5060", &mut rng).expect("overdue");
        let next = TxKey::for_request(&next).expect("a key");
        assert_ne!(next, key, "a new branch");
        k.sent(next);
        assert_eq!(k.deadline(), None);
        // Unanswered: the next is due an interval after this one went out.
        assert_eq!(k.unanswered(2), None);
        assert_eq!(k.deadline(), Some(late + Duration::from_secs(30)));
    }

    #[test]
    fn two_silences_in_a_row_are_down_and_any_answer_is_up() {
        let mut k = keepalive(Instant::now());
        assert_eq!(k.unanswered(1_000), None, "one silence is not yet down");
        assert!(!k.status().is_down());
        assert_eq!(k.answered(200, 2_000), None, "an answer resets the count");
        assert_eq!(k.unanswered(3_000), None);
        assert_eq!(k.unanswered(4_000), Some(Change::Down));
        assert!(k.status().is_down());
        assert_eq!(k.status().since_ms, Some(4_000));
        assert_eq!(k.unanswered(5_000), None, "reported down once");
        assert_eq!(k.status().failures, 3);
        // A refusal is an answer too: the proxy is there.
        assert_eq!(k.answered(405, 6_000), Some(Change::Up));
        assert_eq!(
            k.status(),
            &TrunkStatus {
                proxy: "192.0.2.10:5060".parse().expect("address"),
                failures: 0,
                last_code: Some(405),
                since_ms: Some(6_000),
            }
        );
    }
}
