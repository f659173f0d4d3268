//! An agent's leg, whichever phone carries it: a SIP phone ([`AgentLeg`])
//! or the agent's browser page ([`BrowserLeg`]). The engine holds legs as
//! [`Leg`] and speaks to both alike; only SIP's own business (responses,
//! in-dialog requests) and WebRTC's (media offers, the answer click) are
//! asked of one kind.

use std::net::SocketAddr;
use std::time::Instant;

use rsip::{Method, Request, Response};

use super::CallKey;
use super::agent_leg::{AgentLeg, LegEvent};
use super::browser_leg::BrowserLeg;
use super::call::{Action, RtpSeed};
use crate::acd::AgentId;
use crate::sip::transaction::TxKey;

pub(super) enum Leg {
    Phone(Box<AgentLeg>),
    Browser(Box<BrowserLeg>),
}

impl Leg {
    pub fn agent(&self) -> AgentId {
        match self {
            Leg::Phone(l) => l.agent,
            Leg::Browser(l) => l.agent,
        }
    }

    /// The caller's call the leg serves.
    pub fn call(&self) -> CallKey {
        match self {
            Leg::Phone(l) => l.call,
            Leg::Browser(l) => l.call,
        }
    }

    /// The leg's deadline as it is on the engine's timer heap.
    pub fn scheduled_at(&self) -> Option<Instant> {
        match self {
            Leg::Phone(l) => l.scheduled,
            Leg::Browser(l) => l.scheduled,
        }
    }

    pub fn scheduled(&mut self) -> &mut Option<Instant> {
        match self {
            Leg::Phone(l) => &mut l.scheduled,
            Leg::Browser(l) => &mut l.scheduled,
        }
    }

    /// The SIP Call-ID of a phone's leg.
    pub fn sip_call_id(&self) -> Option<&str> {
        match self {
            Leg::Phone(l) => Some(&l.sip_call_id),
            Leg::Browser(_) => None,
        }
    }

    /// Our client transactions of a phone's leg.
    pub fn requests(&mut self) -> Option<&mut Vec<TxKey>> {
        match self {
            Leg::Phone(l) => Some(&mut l.requests),
            Leg::Browser(_) => None,
        }
    }

    pub fn is_browser(&self) -> bool {
        matches!(self, Leg::Browser(_))
    }

    pub fn browser(&mut self) -> Option<&mut BrowserLeg> {
        match self {
            Leg::Browser(l) => Some(l),
            Leg::Phone(_) => None,
        }
    }

    pub fn is_finished(&self) -> bool {
        match self {
            Leg::Phone(l) => l.is_finished(),
            Leg::Browser(l) => l.is_finished(),
        }
    }

    /// A SIP request belongs to this (phone's) leg's dialog.
    pub fn matches(&self, req: &Request) -> bool {
        match self {
            Leg::Phone(l) => l.matches(req),
            Leg::Browser(_) => false,
        }
    }

    pub fn poll_event(&mut self) -> Option<LegEvent> {
        match self {
            Leg::Phone(l) => l.poll_event(),
            Leg::Browser(l) => l.poll_event(),
        }
    }

    pub fn take_actions(&mut self, out: &mut Vec<Action>) {
        match self {
            Leg::Phone(l) => l.take_actions(out),
            Leg::Browser(l) => l.take_actions(out),
        }
    }

    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        match self {
            Leg::Phone(l) => l.poll_timeout(),
            Leg::Browser(l) => l.poll_timeout(),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        match self {
            Leg::Phone(l) => l.handle_timeout(now),
            Leg::Browser(l) => l.handle_timeout(now),
        }
    }

    pub fn media_opened(&mut self, now: Instant, local: SocketAddr, seed: RtpSeed) {
        match self {
            Leg::Phone(l) => l.media_opened(now, local, seed),
            Leg::Browser(l) => l.media_opened(now, local, seed),
        }
    }

    pub fn media_failed(&mut self) {
        match self {
            Leg::Phone(l) => l.media_failed(),
            Leg::Browser(l) => l.media_failed(),
        }
    }

    /// A datagram on the leg's socket: RTP from a phone; STUN, DTLS or
    /// SRTP from a browser.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), crate::media::Error> {
        match self {
            Leg::Phone(l) => l.handle_rtp(now, source, bytes),
            Leg::Browser(l) => {
                l.handle_datagram(now, source, bytes);
                Ok(())
            }
        }
    }

    /// A response to a phone leg's request (408 when it timed out).
    pub fn on_response(
        &mut self,
        now: Instant,
        method: &Method,
        resp: Option<&Response>,
        code: u16,
    ) {
        if let Leg::Phone(l) = self {
            l.on_response(now, method, resp, code);
        }
    }

    /// A request in a phone leg's dialog ([`Leg::matches`] said so).
    pub fn on_in_dialog_request(&mut self, req: &Request) -> Response {
        match self {
            Leg::Phone(l) => l.on_in_dialog_request(req),
            Leg::Browser(_) => crate::sip::message::response(req, 481, None, None),
        }
    }

    pub fn cancel(&mut self) {
        match self {
            Leg::Phone(l) => l.cancel(),
            Leg::Browser(l) => l.cancel(),
        }
    }

    pub fn hang_up(&mut self, cause: &'static str) {
        match self {
            Leg::Phone(l) => l.hang_up(cause),
            Leg::Browser(l) => l.hang_up(cause),
        }
    }

    pub fn push_audio(&mut self, samples: &[i16]) {
        match self {
            Leg::Phone(l) => l.push_audio(samples),
            Leg::Browser(l) => l.push_audio(samples),
        }
    }

    pub fn set_side(&mut self, on: bool) {
        match self {
            Leg::Phone(l) => l.set_side(on),
            Leg::Browser(l) => l.set_side(on),
        }
    }

    pub fn push_side_audio(&mut self, samples: &[i16]) {
        match self {
            Leg::Phone(l) => l.push_side_audio(samples),
            Leg::Browser(l) => l.push_side_audio(samples),
        }
    }

    /// A browser leg talking without the page's audio.
    pub fn audio_lost(&self) -> bool {
        match self {
            Leg::Phone(_) => false,
            Leg::Browser(l) => l.audio_lost(),
        }
    }

    pub fn set_muted(&mut self, muted: bool) {
        match self {
            Leg::Phone(l) => l.set_muted(muted),
            Leg::Browser(l) => l.set_muted(muted),
        }
    }
}
