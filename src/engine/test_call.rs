//! The browser test caller: an admin's page dials the hotline as a
//! customer, so anyone can try the whole loop (IVR, queue, ring, screen
//! pop, talk) with one browser and no SIP phone.
//!
//! A test call is two legs joined back to back: the page's WebRTC audio
//! (a [`BrowserLeg`] that is answered as soon as it connects) and a SIP
//! line from our own SIP socket to our own service number (an
//! [`AgentLeg`], the UAC leg agents' phones are rung with). The line's
//! INVITE reaches us like a carrier's, so the call it makes is an ordinary
//! call — IVR, queue, agent, records — nothing in the call path knows it is
//! a test. Only the trunk check lets it in: its source is our own SIP
//! socket and its Call-ID is a test line's.
//!
//! Invariants: a test call dials only once its page's audio is connected;
//! it ends exactly once, and ending takes both legs down (the page's going
//! away hangs up the line, the line's end closes the page's audio); ended
//! calls stay readable for [`Engine::test_call_status`] until
//! [`KEEP_ENDED`] newer ones have ended.

use std::collections::VecDeque;
use std::time::Instant;

use tracing::info;

use super::agent_leg::{AgentLeg, LegEvent, MediaState, NewLeg, Target};
use super::browser_leg::BrowserLeg;
use super::call::sip_host;
use super::legs::Leg;
use super::{CallKey, Engine};
use crate::sip::{Peer, Transport};

/// Test calls up at once, at most (each is two sockets and a DTLS peer).
pub const MAX_TEST_CALLS: usize = 8;
/// Ended test calls whose status is kept.
const KEEP_ENDED: usize = 32;

/// Why a test call could not be made or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestCallError {
    #[error("this server has no browser audio (webrtc.enabled is false)")]
    NoWebRtc,
    #[error("caller: a number of 3 to 20 digits, optionally with a leading +")]
    BadCaller,
    #[error("{MAX_TEST_CALLS} test calls are up already: hang one up first")]
    TooMany,
    #[error("{0}")]
    BadMedia(String),
    #[error("no such test call")]
    NotFound,
}

/// Where a test call stands, for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCallStatus {
    /// `connecting` (the page's audio), `ringing` (dialled, not yet
    /// answered), `answered`, `ended`.
    pub state: &'static str,
    /// hotline's id of the call the line made, once it is known.
    pub call_id: Option<String>,
    /// Why it ended.
    pub cause: Option<String>,
}

pub(super) struct TestCall {
    caller: String,
    /// The page's leg and, once dialled, the line.
    page: CallKey,
    line: Option<CallKey>,
    status: TestCallStatus,
}

/// The engine's test calls: by id, and which test call each leg is of.
#[derive(Default)]
pub(super) struct TestCalls {
    calls: std::collections::HashMap<String, TestCall>,
    of_leg: std::collections::HashMap<CallKey, String>,
    ended: VecDeque<String>,
}

impl Engine {
    /// An admin's page wants to call in as `caller`: the page's leg is made
    /// (its socket is opened by the runtime's next flush; then
    /// [`Engine::test_call_offer`] takes the page's SDP). Returns the
    /// test call's id.
    pub fn start_test_call(&mut self, now: Instant, caller: &str) -> Result<String, TestCallError> {
        let settings = self.browser.clone().ok_or(TestCallError::NoWebRtc)?;
        if self.cfg.self_sip.is_none() {
            return Err(TestCallError::NoWebRtc);
        }
        let digits = caller.strip_prefix('+').unwrap_or(caller);
        if !(3..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TestCallError::BadCaller);
        }
        let up = self
            .test_calls
            .calls
            .values()
            .filter(|t| t.status.state != "ended")
            .count();
        if up >= MAX_TEST_CALLS {
            return Err(TestCallError::TooMany);
        }
        let id = format!("tc{:016x}", self.rng.u64(..));
        let page = self.new_call_key();
        let mut leg = BrowserLeg::new(page, 0, 0, settings, None);
        // Nobody clicks answer on a caller's page: it is answered, and the
        // line dialled, when its audio connects.
        leg.answer_on_connect();
        self.legs.insert(page, Leg::Browser(Box::new(leg)));
        self.test_calls.of_leg.insert(page, id.clone());
        self.test_calls.calls.insert(
            id.clone(),
            TestCall {
                caller: caller.to_owned(),
                page,
                line: None,
                status: TestCallStatus {
                    state: "connecting",
                    call_id: None,
                    cause: None,
                },
            },
        );
        info!(test_call = %id, caller, "test call from a browser");
        self.drive_leg(now, page);
        Ok(id)
    }

    /// The page's WebRTC offer for test call `id`: our answer.
    pub fn test_call_offer(
        &mut self,
        now: Instant,
        id: &str,
        sdp: &str,
    ) -> Result<String, TestCallError> {
        let page = self
            .test_calls
            .calls
            .get(id)
            .filter(|t| t.status.state != "ended")
            .ok_or(TestCallError::NotFound)?
            .page;
        let answer = self
            .legs
            .get_mut(&page)
            .and_then(Leg::browser)
            .ok_or(TestCallError::NotFound)?
            .media_offer(now, sdp)
            .map_err(|e| TestCallError::BadMedia(e.to_string()));
        self.drive_leg(now, page);
        if answer.is_err() {
            self.end_test_call(now, id, "bad media");
        }
        answer
    }

    /// The page hangs up (or never got its media up).
    pub fn hang_up_test_call(&mut self, now: Instant, id: &str) -> Result<(), TestCallError> {
        match self.test_calls.calls.get(id) {
            Some(t) if t.status.state != "ended" => {
                self.end_test_call(now, id, "hung up by the page");
                Ok(())
            }
            Some(_) => Ok(()),
            None => Err(TestCallError::NotFound),
        }
    }

    pub fn test_call_status(&self, id: &str) -> Option<TestCallStatus> {
        self.test_calls.calls.get(id).map(|t| t.status.clone())
    }

    /// The test call `leg` is a leg of, if it is one.
    pub(super) fn test_call_of(&self, leg: CallKey) -> Option<String> {
        self.test_calls.of_leg.get(&leg).cloned()
    }

    /// A request from our own SIP socket on a test line's Call-ID: the
    /// one source the trunk list need not name.
    pub(super) fn is_test_line(&self, req: &rsip::Request, source: Peer) -> bool {
        use crate::sip::message::HeadersExt;
        self.cfg.self_sip == Some(source.addr)
            && req
                .call_id()
                .ok()
                .and_then(|id| self.leg_by_call_id.get(&id))
                .is_some_and(|leg| self.test_calls.of_leg.contains_key(leg))
    }

    /// Something happened to a leg of test call `id`.
    pub(super) fn on_test_leg_event(&mut self, now: Instant, id: &str, leg: CallKey, e: LegEvent) {
        let Some(t) = self.test_calls.calls.get(id) else {
            return;
        };
        let (page, line) = (t.page, t.line);
        if leg == page {
            match e {
                LegEvent::Answered => self.dial_test_line(now, id),
                LegEvent::Audio(samples) => {
                    if let Some(l) = line.and_then(|l| self.legs.get_mut(&l)) {
                        l.push_audio(&samples);
                    }
                }
                LegEvent::Dtmf(key) => {
                    if let Some(Leg::Phone(l)) = line.and_then(|l| self.legs.get_mut(&l)) {
                        l.send_keys(&key.to_string());
                    }
                }
                // The page went away: the caller hangs up, as a customer
                // whose phone died does.
                LegEvent::Media {
                    state: MediaState::Lost | MediaState::Failed,
                    ..
                } => self.end_test_call(now, id, "the page's audio went away"),
                LegEvent::Media { .. } => {}
                LegEvent::Refused { .. } | LegEvent::Ended { .. } => {
                    self.end_test_call(now, id, "the page's audio ended");
                }
            }
        } else if Some(leg) == line {
            match e {
                LegEvent::Answered => {
                    // The call the line made: ours, found by its Call-ID.
                    let call_id = match self.legs.get(&leg).and_then(Leg::sip_call_id) {
                        Some(sip) => self
                            .by_call_id
                            .get(sip)
                            .and_then(|k| self.calls.get(k))
                            .map(|c| c.id.clone()),
                        None => None,
                    };
                    if let Some(t) = self.test_calls.calls.get_mut(id) {
                        t.status.state = "answered";
                        t.status.call_id = call_id;
                    }
                }
                LegEvent::Audio(samples) => {
                    if let Some(l) = self.legs.get_mut(&page) {
                        l.push_audio(&samples);
                    }
                }
                LegEvent::Refused { code } => {
                    self.end_test_call(now, id, &format!("the hotline refused the call ({code})"));
                }
                LegEvent::Ended { cause, .. } => self.end_test_call(now, id, cause),
                LegEvent::Dtmf(_) | LegEvent::Media { .. } => {}
            }
        }
    }

    /// The page's audio is up: the line calls our first service number
    /// from our own SIP socket.
    fn dial_test_line(&mut self, now: Instant, id: &str) {
        let (Some(own), Some(number)) = (self.cfg.self_sip, self.cfg.numbers.first().cloned())
        else {
            return;
        };
        let Some(caller) = self.test_calls.calls.get(id).map(|t| t.caller.clone()) else {
            return;
        };
        let key = self.new_call_key();
        let host = sip_host(own.ip(), own.port());
        let leg = AgentLeg::new(NewLeg {
            key,
            agent: 0,
            call: 0,
            target: Target {
                contact: format!("sip:{number}@{host}"),
                peer: Peer {
                    addr: own,
                    transport: Transport::Udp,
                },
                username: number,
                realm: host.clone(),
            },
            sip_host: host,
            codecs: self.cfg.codecs.clone(),
            telephone_event_pt: self.cfg.telephone_event_pt,
            rtp_timeout: self.cfg.rtp_timeout,
            caller,
            ring_timeout: None,
            rng: self.rng.fork(),
        });
        self.leg_by_call_id.insert(leg.sip_call_id.clone(), key);
        self.legs.insert(key, Leg::Phone(Box::new(leg)));
        self.test_calls.of_leg.insert(key, id.to_owned());
        if let Some(t) = self.test_calls.calls.get_mut(id) {
            t.line = Some(key);
            t.status.state = "ringing";
        }
        self.drive_leg(now, key);
    }

    /// Ends test call `id` once: both legs go down.
    fn end_test_call(&mut self, now: Instant, id: &str, cause: &str) {
        let Some(t) = self.test_calls.calls.get_mut(id) else {
            return;
        };
        if t.status.state == "ended" {
            return;
        }
        t.status.state = "ended";
        t.status.cause = Some(cause.to_owned());
        let legs = [Some(t.page), t.line];
        info!(test_call = %id, cause, "test call over");
        for leg in legs.into_iter().flatten() {
            if let Some(l) = self.legs.get_mut(&leg) {
                l.hang_up("test-call-over");
            }
            self.drive_leg(now, leg);
        }
        self.test_calls.ended.push_back(id.to_owned());
        while self.test_calls.ended.len() > KEEP_ENDED {
            if let Some(old) = self.test_calls.ended.pop_front() {
                self.test_calls.calls.remove(&old);
            }
        }
    }

    /// A finished leg is no test call's any more.
    pub(super) fn forget_test_leg(&mut self, leg: CallKey) {
        self.test_calls.of_leg.remove(&leg);
    }
}
