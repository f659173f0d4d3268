//! One browser leg: a caller offered to an agent whose softphone is their
//! browser page. It plays the part an [`super::agent_leg::AgentLeg`] plays
//! for a SIP phone, with WebRTC in place of SIP: the page rings on the CTI
//! `offered` event, offers its media over the CTI websocket
//! ([`BrowserLeg::media_offer`]), and answers with a click
//! ([`BrowserLeg::answer`]). The audio runs through a
//! [`crate::media::webrtc::BrowserPeer`] on the leg's own UDP socket.
//!
//! ```text
//! OpeningMedia -> Ringing --(clicked and media connected)--> Up -> Over
//!                    \-> Over                     (offer withdrawn)
//! ```
//!
//! Up, the browser's audio may go away (the page's websocket closes, the
//! page offers new media, the browser stops sending for
//! [`BROWSER_SILENCE`], its connection drops): the leg reports
//! [`MediaState::Lost`] and
//! the caller hears music while the page offers new media for the same
//! call ([`BrowserLeg::media_offer`] again); that re-attaches the audio. If
//! none connects within the configured time the leg ends as a vanished
//! phone does.
//!
//! Invariants: as for a SIP leg, the engine hears exactly one
//! [`LegEvent::Answered`] then one [`LegEvent::Ended`], or one
//! [`LegEvent::Refused`]; the socket is closed exactly once; a peer that is
//! replaced or ends is closed (its DTLS close alert sent) before it is
//! dropped, so nothing of it outlives the leg.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::debug;

use super::agent_leg::{LegEvent, MediaState};
use super::call::{Action, RtpSeed};
use super::{CallKey, Output};
use crate::acd::AgentId;
use crate::media::session::{MediaConfig, MediaOutput, MediaSession};
use crate::media::webrtc::{
    self, BrowserPeer, NegotiationError, PeerConfig, PeerOutput, PeerState,
};

/// No audio from the browser for this long while talking: its media is
/// lost (a page reload, a dropped network). A disabled microphone still
/// sends silence, so this is never a muted agent.
const BROWSER_SILENCE: Duration = Duration::from_secs(2);
/// A media offer whose connection is not up by then has failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What every browser leg shares: the server's WebRTC settings.
#[derive(Debug, Clone)]
pub(super) struct BrowserSettings {
    pub identity: webrtc::Identity,
    pub laws: Vec<crate::media::Law>,
    /// How long a call whose browser audio went away waits for it.
    pub reattach: Duration,
    /// Our address as the browsers reach it (the candidate's IP).
    pub advertised_ip: std::net::IpAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    OpeningMedia,
    /// Offered to the page: waiting for the click and for the media.
    Ringing,
    Up,
    Over,
}

pub(super) struct BrowserLeg {
    pub key: CallKey,
    pub agent: AgentId,
    /// The caller's call this leg serves.
    pub call: CallKey,
    pub scheduled: Option<Instant>,
    settings: Arc<BrowserSettings>,
    phase: Phase,
    /// The agent clicked answer.
    clicked: bool,
    /// Ring this long (a consultation; ACD offers are timed by the ACD).
    ring_timeout: Option<Duration>,
    ring_until: Option<Instant>,
    /// The socket's address as the browser reaches it.
    local: Option<SocketAddr>,
    seed: Option<RtpSeed>,
    media_open: bool,
    peer: Option<Box<dyn BrowserPeer>>,
    /// The peer's connection is up.
    connected: bool,
    /// Give up on the current media offer then.
    connect_until: Option<Instant>,
    /// Up, without the browser's audio: until when we wait for it.
    lost_until: Option<Instant>,
    media: Option<MediaSession>,
    /// The caller is on hold: the agent hears nothing.
    muted: bool,
    pending: Vec<Action>,
    events: VecDeque<LegEvent>,
}

impl BrowserLeg {
    pub fn new(
        key: CallKey,
        agent: AgentId,
        call: CallKey,
        settings: Arc<BrowserSettings>,
        ring_timeout: Option<Duration>,
    ) -> Self {
        BrowserLeg {
            key,
            agent,
            call,
            scheduled: None,
            settings,
            phase: Phase::OpeningMedia,
            clicked: false,
            ring_timeout,
            ring_until: None,
            local: None,
            seed: None,
            media_open: false,
            peer: None,
            connected: false,
            connect_until: None,
            lost_until: None,
            media: None,
            muted: false,
            pending: vec![Action::Output(Output::OpenMedia { call: key })],
            events: VecDeque::new(),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Over && self.pending.is_empty()
    }

    pub fn poll_event(&mut self) -> Option<LegEvent> {
        self.events.pop_front()
    }

    pub fn take_actions(&mut self, out: &mut Vec<Action>) {
        out.append(&mut self.pending);
    }

    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let media = self.media.as_ref().and_then(MediaSession::poll_timeout);
        let peer = self.peer.as_mut().and_then(|p| p.poll_timeout());
        [
            media,
            peer,
            self.connect_until,
            self.lost_until,
            self.ring_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn media_opened(&mut self, now: Instant, local: SocketAddr, seed: RtpSeed) {
        self.media_open = true;
        if self.phase != Phase::OpeningMedia {
            self.close_media();
            return;
        }
        self.ring_until = self.ring_timeout.map(|t| now + t);
        self.local = Some(SocketAddr::new(self.settings.advertised_ip, local.port()));
        self.seed = Some(seed);
        self.phase = Phase::Ringing;
    }

    pub fn media_failed(&mut self) {
        if self.phase == Phase::OpeningMedia {
            self.refused(0);
        }
    }

    /// The page's WebRTC offer (a first one, or a new one after its audio
    /// was lost): the answer for the page. A previous peer is closed.
    pub fn media_offer(&mut self, now: Instant, sdp: &str) -> Result<String, NegotiationError> {
        let (Some(local), Some(seed)) = (self.local, self.seed) else {
            return Err(NegotiationError::BadOffer(
                "the call's media is not ready yet".into(),
            ));
        };
        if !matches!(self.phase, Phase::Ringing | Phase::Up) {
            return Err(NegotiationError::BadOffer("the call is over".into()));
        }
        let cfg = PeerConfig {
            identity: self.settings.identity.clone(),
            local,
            laws: self.settings.laws.clone(),
            ssrc: seed.ssrc,
        };
        let peer = webrtc::answer(now, &cfg, sdp)?;
        let answer = peer.answer_sdp().to_owned();
        let n = peer.negotiated();
        // Talking, a new offer means the page's audio is being made anew:
        // the caller hears music until it connects (the page knows).
        self.lose(now, "the page is offering new media", true);
        self.close_peer();
        match self.media.as_mut() {
            Some(m) => m.set_codec(n.law, n.payload_type, n.dtmf_payload_type),
            None => {
                let mut m = MediaSession::new(
                    now,
                    MediaConfig {
                        law: n.law,
                        payload_type: n.payload_type,
                        dtmf_payload_type: n.dtmf_payload_type,
                        inactivity_timeout: BROWSER_SILENCE,
                    },
                    seed.ssrc,
                    seed.sequence,
                    seed.timestamp,
                );
                // Until answered the page hears silence and is not heard.
                m.set_bridged(self.phase == Phase::Up);
                m.set_capture(self.phase == Phase::Up && !self.muted);
                self.media = Some(m);
            }
        }
        self.peer = Some(peer);
        self.connected = false;
        self.connect_until = Some(now + CONNECT_TIMEOUT);
        self.pump(now);
        Ok(answer)
    }

    /// An ICE candidate the page trickled for its current offer.
    pub fn add_candidate(&mut self, now: Instant, candidate: &str) -> Result<(), NegotiationError> {
        let peer = self
            .peer
            .as_mut()
            .ok_or_else(|| NegotiationError::BadCandidate("no media offer yet".into()))?;
        let r = peer.add_remote_candidate(candidate);
        self.pump(now);
        r
    }

    /// Answered as soon as the media connects, without a click (a test
    /// caller's page).
    pub fn answer_on_connect(&mut self) {
        self.clicked = true;
    }

    /// The agent clicked answer: the leg is answered once the media is
    /// connected (at once when it already is).
    pub fn answer(&mut self, now: Instant) {
        if self.phase == Phase::Ringing {
            self.clicked = true;
            self.pump(now);
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(m) = self.media.as_mut() {
            m.handle_timeout(now);
        }
        if let Some(p) = self.peer.as_mut() {
            p.handle_timeout(now);
        }
        if self.ring_until.is_some_and(|t| t <= now) {
            self.ring_until = None;
            if self.phase == Phase::Ringing {
                // Nobody answered (408, as a SIP phone's ring-out).
                self.refused(408);
            }
        }
        if self.connect_until.is_some_and(|t| t <= now) {
            self.connect_until = None;
            if !self.connected {
                self.close_peer();
                self.media_event(MediaState::Failed, "no connection within 10 s");
                self.lose(now, "no connection within 10 s", false);
            }
        }
        if self.lost_until.is_some_and(|t| t <= now) && self.phase == Phase::Up {
            self.lost_until = None;
            self.close_peer();
            self.end("agent-vanished", true);
        }
        self.pump(now);
    }

    /// A datagram on the leg's socket (STUN, DTLS or SRTP from the page).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if let Some(p) = self.peer.as_mut() {
            p.handle_datagram(now, from, bytes);
        }
        self.pump(now);
    }

    /// The caller's voice for the agent.
    pub fn push_audio(&mut self, samples: &[i16]) {
        if let Some(m) = self.media.as_mut() {
            m.push_audio(samples);
        }
    }

    /// Mixes a third voice over the caller's (a supervisor listening in,
    /// or the agent for that supervisor) from now on, or stops.
    pub fn set_side(&mut self, on: bool) {
        if let Some(m) = self.media.as_mut() {
            m.set_side(on);
        }
    }

    /// The third voice, mixed in once [`Self::set_side`] is on.
    pub fn push_side_audio(&mut self, samples: &[i16]) {
        if let Some(m) = self.media.as_mut() {
            m.push_side_audio(samples);
        }
    }

    /// The page's websocket closed: a reload or a network drop, whose audio
    /// is gone with it. The caller hears music at once rather than after
    /// the silence is noticed; audio still arriving brings the agent back.
    pub fn page_gone(&mut self, now: Instant) {
        self.lose(now, "the page closed", false);
        self.pump(now);
    }

    /// Talking, the page's audio is gone (the caller hears music).
    pub fn audio_lost(&self) -> bool {
        self.lost_until.is_some()
    }

    /// The caller is on hold (the agent hears silence) or back.
    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
        if let Some(m) = self.media.as_mut() {
            m.set_bridged(true);
            m.set_capture(!muted);
        }
    }

    /// Stop ringing (the offer was withdrawn); an answered leg is hung up.
    pub fn cancel(&mut self) {
        match self.phase {
            Phase::OpeningMedia | Phase::Ringing => self.refused(487),
            Phase::Up => self.hang_up("cancelled"),
            Phase::Over => {}
        }
    }

    /// We end the leg (the caller hung up, a transfer, shutdown).
    pub fn hang_up(&mut self, cause: &'static str) {
        match self.phase {
            Phase::Up => self.end(cause, false),
            Phase::OpeningMedia | Phase::Ringing => self.refused(487),
            Phase::Over => {}
        }
    }

    fn refused(&mut self, code: u16) {
        self.phase = Phase::Over;
        self.close_peer();
        self.close_media();
        self.events.push_back(LegEvent::Refused { code });
    }

    fn end(&mut self, cause: &'static str, by_agent: bool) {
        self.phase = Phase::Over;
        self.close_peer();
        self.close_media();
        self.events.push_back(LegEvent::Ended { cause, by_agent });
    }

    fn close_peer(&mut self) {
        if let Some(mut p) = self.peer.take() {
            p.close();
            self.take_transmits(&mut *p);
        }
        self.connected = false;
        self.connect_until = None;
    }

    fn close_media(&mut self) {
        self.media = None;
        self.lost_until = None;
        if self.media_open {
            self.media_open = false;
            self.pending
                .push(Action::Output(Output::CloseMedia { call: self.key }));
        }
    }

    /// The datagrams a peer has left to send (a closing peer's alert).
    fn take_transmits(&mut self, peer: &mut dyn BrowserPeer) {
        while let Some(o) = peer.poll_output() {
            if let PeerOutput::Transmit { dest, bytes } = o {
                self.pending.push(Action::Output(Output::Rtp {
                    call: self.key,
                    dest,
                    bytes,
                }));
            }
        }
    }

    fn media_event(&mut self, state: MediaState, why: &str) {
        self.events.push_back(LegEvent::Media {
            state,
            why: why.to_owned(),
            quiet: false,
        });
    }

    /// Talking, the browser's audio went away: the engine plays music to
    /// the caller until it is back or the wait is over; `quiet` when the
    /// page itself made it so.
    fn lose(&mut self, now: Instant, why: &str, quiet: bool) {
        if self.phase == Phase::Up && self.lost_until.is_none() {
            self.lost_until = Some(now + self.settings.reattach);
            self.events.push_back(LegEvent::Media {
                state: MediaState::Lost,
                why: why.to_owned(),
                quiet,
            });
        }
    }

    /// Moves what the media session and the peer produced to where it
    /// goes, until neither has more.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            while let Some(o) = self.media.as_mut().and_then(MediaSession::poll_output) {
                moved = true;
                match o {
                    MediaOutput::Transmit(packet) => {
                        if let Some(p) = self.peer.as_mut() {
                            p.send_rtp(now, &packet);
                        }
                    }
                    MediaOutput::Audio(samples) if self.phase == Phase::Up => {
                        self.events.push_back(LegEvent::Audio(samples));
                    }
                    MediaOutput::Dtmf(d) if self.phase == Phase::Up => {
                        self.events.push_back(LegEvent::Dtmf(d.digit));
                    }
                    MediaOutput::Inactive if self.connected => {
                        self.lose(now, "no audio from the browser", false);
                    }
                    _ => {}
                }
            }
            let Some(mut peer) = self.peer.take() else {
                break;
            };
            let mut keep = true;
            while let Some(o) = peer.poll_output() {
                moved = true;
                match o {
                    PeerOutput::Transmit { dest, bytes } => {
                        self.pending.push(Action::Output(Output::Rtp {
                            call: self.key,
                            dest,
                            bytes,
                        }))
                    }
                    PeerOutput::Rtp(packet) => {
                        if let Some(m) = self.media.as_mut()
                            && let Err(e) = m.handle_rtp(now, &packet)
                        {
                            debug!(leg = self.key, error = %e, "browser RTP dropped");
                        }
                        if self.lost_until.is_some() && self.connected {
                            // Audio again on the same connection (a short
                            // network drop): back with the caller.
                            self.lost_until = None;
                            self.media_event(MediaState::Connected, "audio is back");
                        }
                    }
                    PeerOutput::State(PeerState::Connected) => {
                        self.connected = true;
                        self.connect_until = None;
                        self.lost_until = None;
                        self.media_event(MediaState::Connected, "audio connected");
                    }
                    PeerOutput::State(PeerState::Disconnected) => {
                        self.lose(now, "the browser's connection dropped", false);
                    }
                    PeerOutput::State(PeerState::Failed) => {
                        self.connected = false;
                        peer.close();
                        self.take_transmits(&mut *peer);
                        self.connect_until = None;
                        self.media_event(MediaState::Failed, "the browser's connection ended");
                        self.lose(now, "the browser's connection ended", false);
                        keep = false;
                        break;
                    }
                }
            }
            if keep {
                self.peer = Some(peer);
            }
            if self.phase == Phase::Ringing && self.clicked && self.connected {
                self.phase = Phase::Up;
                self.ring_until = None;
                if let Some(m) = self.media.as_mut() {
                    m.set_bridged(true);
                    m.set_capture(!self.muted);
                }
                self.events.push_back(LegEvent::Answered);
            }
            if !moved {
                break;
            }
        }
    }
}
