//! One agent leg: the call hotline places to an agent's phone when the ACD
//! offers it a caller (we are the UAC). It owns the leg's dialog and media;
//! the engine owns the caller's call and the bridge between the two.
//!
//! ```text
//! OpeningMedia -> Inviting -> Up -> Leaving -> Over
//!                     \-> Cancelling -> Over      (offer withdrawn)
//!                     \-> Over                     (phone refused, timed out)
//! ```
//!
//! Invariants: the engine hears of the leg's outcome exactly once — one
//! [`LegEvent::Answered`] then one [`LegEvent::Ended`], or one
//! [`LegEvent::Refused`]; the media socket is closed exactly once; a 2xx
//! arriving after we gave up (it crossed our CANCEL) is ACKed and ended
//! with a BYE, so no phone is left off-hook in a dialog nobody tracks.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::headers::UntypedHeader;
use rsip::{Method, Request, Response};
use tracing::debug;

use super::call::{Action, RtpSeed, law_of, set_body};
use super::{CallKey, Output};
use crate::acd::AgentId;
use crate::media::session::{MediaConfig, MediaOutput, MediaSession};
use crate::sip::Peer;
use crate::sip::dialog::{self, Dialog};
use crate::sip::message::{self, HeadersExt};
use crate::sip::sdp::{self, Negotiated};
use crate::sip::transaction::TxKey;

/// What the engine must act on.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum LegEvent {
    /// The phone answered and its media runs.
    Answered,
    /// The phone never answered: a SIP final status (408 for no answer at
    /// all, 487 after our CANCEL, 0 when the leg could not start).
    Refused { code: u16 },
    /// The answered leg is over; `by_agent` when the phone hung up or
    /// vanished (no RTP for the configured time).
    Ended { cause: &'static str, by_agent: bool },
    /// The agent's voice, decoded: for the caller.
    Audio(Vec<i16>),
    /// The agent keyed a digit on their phone or page: for the caller.
    Dtmf(char),
    /// How a browser leg's audio goes (never sent for SIP phones); the
    /// page hears of it unless it caused it itself (`quiet`: a new offer
    /// of its own).
    Media {
        state: MediaState,
        why: String,
        quiet: bool,
    },
}

/// A browser leg's audio, as the agent's page hears of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaState {
    /// The page's audio is connected.
    Connected,
    /// Talking, the page's audio went away: the caller hears music until
    /// the page offers media again.
    Lost,
    /// The page's offer did not connect, or its connection ended.
    Failed,
}

impl MediaState {
    pub fn name(self) -> &'static str {
        match self {
            MediaState::Connected => "connected",
            MediaState::Lost => "lost",
            MediaState::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    OpeningMedia,
    Inviting,
    /// We sent CANCEL; a 2xx may still cross it.
    Cancelling,
    Up,
    /// We sent BYE.
    Leaving,
    Over,
}

/// Where and how to ring the phone.
pub(super) struct Target {
    /// The Request-URI: the phone's registered contact.
    pub contact: String,
    /// Where to send (the address its REGISTER came from).
    pub peer: Peer,
    /// The agent's SIP user, for To.
    pub username: String,
    pub realm: String,
}

pub(super) struct AgentLeg {
    pub key: CallKey,
    pub agent: AgentId,
    /// The caller's call this leg serves.
    pub call: CallKey,
    pub sip_call_id: String,
    pub scheduled: Option<Instant>,
    /// Client transactions of ours the engine maps to this leg.
    pub requests: Vec<TxKey>,
    target: Target,
    sip_host: String,
    local_tag: String,
    codecs: Vec<String>,
    telephone_event_pt: u8,
    rtp_timeout: Duration,
    /// Caller id shown on the phone.
    caller: String,
    ring_timeout: Option<Duration>,
    /// Ringing until then (set as the INVITE goes out).
    ring_until: Option<Instant>,
    invite: Option<Request>,
    dialog: Option<Dialog>,
    media: Option<MediaSession>,
    media_open: bool,
    local_rtp: Option<SocketAddr>,
    seed: Option<RtpSeed>,
    rtp_dest: Option<SocketAddr>,
    rtp_latched: bool,
    negotiated: Option<Negotiated>,
    phase: Phase,
    /// The phone said 180/183.
    pub ringing: bool,
    rng: fastrand::Rng,
    pending: Vec<Action>,
    events: VecDeque<LegEvent>,
}

/// Everything needed to start a leg.
pub(super) struct NewLeg {
    pub key: CallKey,
    pub agent: AgentId,
    pub call: CallKey,
    pub target: Target,
    pub sip_host: String,
    pub codecs: Vec<String>,
    pub telephone_event_pt: u8,
    pub rtp_timeout: Duration,
    pub caller: String,
    /// Give up ringing after this (the ACD times its own offers; a
    /// consultation has no ACD offer).
    pub ring_timeout: Option<Duration>,
    pub rng: fastrand::Rng,
}

impl AgentLeg {
    pub fn new(mut n: NewLeg) -> AgentLeg {
        let sip_call_id = format!("{:016x}{:016x}", n.rng.u64(..), n.rng.u64(..));
        let local_tag = dialog::new_tag(&mut n.rng);
        AgentLeg {
            key: n.key,
            agent: n.agent,
            call: n.call,
            sip_call_id,
            scheduled: None,
            requests: Vec::new(),
            target: n.target,
            sip_host: n.sip_host,
            local_tag,
            codecs: n.codecs,
            telephone_event_pt: n.telephone_event_pt,
            rtp_timeout: n.rtp_timeout,
            caller: n.caller,
            ring_timeout: n.ring_timeout,
            ring_until: None,
            invite: None,
            dialog: None,
            media: None,
            media_open: false,
            local_rtp: None,
            seed: None,
            rtp_dest: None,
            rtp_latched: false,
            negotiated: None,
            phase: Phase::OpeningMedia,
            ringing: false,
            rng: n.rng,
            pending: vec![Action::Output(Output::OpenMedia { call: n.key })],
            events: VecDeque::new(),
        }
    }

    /// Nothing left to do: the engine may forget the leg.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Over && self.pending.is_empty()
    }

    pub fn matches(&self, req: &Request) -> bool {
        self.dialog.as_ref().is_some_and(|d| d.matches(req))
    }

    pub fn poll_event(&mut self) -> Option<LegEvent> {
        self.events.pop_front()
    }

    pub fn take_actions(&mut self, out: &mut Vec<Action>) {
        self.drain_media();
        out.append(&mut self.pending);
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let media = self.media.as_ref().and_then(MediaSession::poll_timeout);
        [media, self.ring_until].into_iter().flatten().min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(m) = self.media.as_mut() {
            m.handle_timeout(now);
        }
        if self.ring_until.is_some_and(|t| t <= now) {
            self.ring_until = None;
            if self.phase == Phase::Inviting {
                // Nobody answered: stop ringing, and the engine hears of a
                // refusal (487 comes back for our CANCEL).
                self.cancel();
            }
        }
    }

    /// The runtime bound our RTP socket: ring the phone.
    pub fn media_opened(&mut self, now: Instant, local: SocketAddr, seed: RtpSeed) {
        self.media_open = true;
        if self.phase != Phase::OpeningMedia {
            self.close_media();
            return;
        }
        self.local_rtp = Some(local);
        self.seed = Some(seed);
        match self.build_invite(local, seed) {
            Some(invite) => {
                self.pending
                    .push(Action::Request(invite.clone(), self.target.peer));
                self.invite = Some(invite);
                self.phase = Phase::Inviting;
                self.ring_until = self.ring_timeout.map(|t| now + t);
            }
            None => self.refused(0),
        }
    }

    pub fn media_failed(&mut self) {
        if self.phase == Phase::OpeningMedia {
            self.refused(0);
        }
    }

    fn build_invite(&mut self, local: SocketAddr, seed: RtpSeed) -> Option<Request> {
        let laws: Vec<(u8, &str)> = self
            .codecs
            .iter()
            .map(|c| {
                if c == "PCMA" {
                    (8, "PCMA")
                } else {
                    (0, "PCMU")
                }
            })
            .collect();
        let body = sdp::offer(
            &laws,
            Some(self.telephone_event_pt),
            local.ip(),
            local.port(),
            seed.sdp_session,
            1,
        );
        let transport = self.target.peer.transport;
        let branch = dialog::new_branch(&mut self.rng);
        let t = &self.target;
        // The caller's number shows on the phone's display.
        let text = format!(
            "INVITE {contact} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {host};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: \"{caller}\" <sip:{caller}@{host}>;tag={tag}\r\n\
             To: <sip:{user}@{realm}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:hotline@{host}>\r\n\
             Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {len}\r\n\r\n{body}",
            contact = t.contact,
            host = self.sip_host,
            caller = sanitize(&self.caller),
            tag = self.local_tag,
            user = t.username,
            realm = t.realm,
            call_id = self.sip_call_id,
            len = body.len(),
        );
        match message::parse(text.as_bytes()) {
            Ok(rsip::SipMessage::Request(r)) => Some(r),
            _ => {
                debug!(contact = %t.contact, "cannot build an INVITE to this contact");
                None
            }
        }
    }

    /// Stop ringing (the offer was withdrawn); an answered leg is hung up.
    pub fn cancel(&mut self) {
        match self.phase {
            Phase::OpeningMedia => self.refused(487),
            Phase::Inviting => {
                if let Some(cancel) = self.invite.as_ref().and_then(cancel_for) {
                    self.pending.push(Action::Request(cancel, self.target.peer));
                }
                self.phase = Phase::Cancelling;
            }
            Phase::Up => self.hang_up("cancelled"),
            Phase::Cancelling | Phase::Leaving | Phase::Over => {}
        }
    }

    /// We end the answered leg (the caller hung up, a transfer, shutdown).
    pub fn hang_up(&mut self, cause: &'static str) {
        match self.phase {
            Phase::Up => {
                self.send_bye();
                self.end(cause, false);
            }
            Phase::OpeningMedia | Phase::Inviting => self.cancel(),
            _ => {}
        }
    }

    fn send_bye(&mut self) {
        let branch = dialog::new_branch(&mut self.rng);
        if let Some(d) = self.dialog.as_mut() {
            let bye = d.request(
                Method::Bye,
                &self.sip_host,
                self.target.peer.transport,
                &branch,
            );
            self.pending.push(Action::Request(bye, self.target.peer));
            self.phase = Phase::Leaving;
        } else {
            self.phase = Phase::Over;
        }
    }

    fn refused(&mut self, code: u16) {
        self.phase = Phase::Over;
        self.close_media();
        self.events.push_back(LegEvent::Refused { code });
    }

    fn end(&mut self, cause: &'static str, by_agent: bool) {
        self.close_media();
        self.events.push_back(LegEvent::Ended { cause, by_agent });
    }

    fn close_media(&mut self) {
        self.media = None;
        if self.media_open {
            self.media_open = false;
            self.pending
                .push(Action::Output(Output::CloseMedia { call: self.key }));
        }
    }

    /// A response to our INVITE, CANCEL or BYE (408 when it timed out).
    pub fn on_response(
        &mut self,
        now: Instant,
        method: &Method,
        resp: Option<&Response>,
        code: u16,
    ) {
        match *method {
            Method::Invite => self.on_invite_response(now, resp, code),
            Method::Bye if code >= 200 && self.phase == Phase::Leaving => self.phase = Phase::Over,
            _ => {}
        }
    }

    fn on_invite_response(&mut self, now: Instant, resp: Option<&Response>, code: u16) {
        if code < 200 {
            if (180..=183).contains(&code) {
                self.ringing = true;
            }
            return;
        }
        self.ring_until = None;
        if code >= 300 {
            if matches!(self.phase, Phase::Inviting | Phase::Cancelling) {
                self.refused(code);
            }
            return;
        }
        let (Some(resp), Some(invite)) = (resp, self.invite.as_ref()) else {
            return;
        };
        if self.dialog.is_some() {
            // A retransmitted 2xx: our ACK was lost.
            self.ack();
            return;
        }
        self.dialog = Dialog::from_response_as_uac(invite, resp).ok();
        self.ack();
        if self.phase == Phase::Cancelling {
            // Answered as we cancelled: hang up at once.
            self.send_bye();
            self.refused(487);
            return;
        }
        let answer = std::str::from_utf8(resp.body())
            .ok()
            .and_then(|t| sdp::SessionDescription::parse(t).ok())
            .and_then(|s| sdp::audio_offer(&s).ok())
            .and_then(|mut o| {
                o.codecs.retain(|(_, name, _)| {
                    self.codecs.iter().any(|c| c.eq_ignore_ascii_case(name))
                });
                sdp::negotiate(&o).ok()
            });
        let (Some(neg), Some(seed), Some(_)) = (answer, self.seed, self.dialog.as_ref()) else {
            debug!(
                leg = self.key,
                "the phone's answer has no usable SDP or dialog"
            );
            self.send_bye();
            self.refused(488);
            return;
        };
        let cfg = MediaConfig {
            law: law_of(&neg),
            payload_type: neg.law_pt,
            dtmf_payload_type: neg.telephone_event,
            inactivity_timeout: self.rtp_timeout,
        };
        let mut media = MediaSession::new(now, cfg, seed.ssrc, seed.sequence, seed.timestamp);
        media.set_capture(true);
        media.set_bridged(true);
        self.rtp_dest = Some(neg.remote);
        self.negotiated = Some(neg);
        self.media = Some(media);
        self.phase = Phase::Up;
        self.events.push_back(LegEvent::Answered);
    }

    fn ack(&mut self) {
        let (Some(d), Some(invite)) = (self.dialog.as_ref(), self.invite.as_ref()) else {
            return;
        };
        let cseq = invite.cseq().map(|(n, _)| n).unwrap_or(1);
        let branch = dialog::new_branch(&mut self.rng);
        let ack = d.ack(cseq, &self.sip_host, self.target.peer.transport, &branch);
        self.pending.push(Action::Ack(ack, self.target.peer));
    }

    /// A request in the leg's dialog (the phone hung up, a re-INVITE...).
    pub fn on_in_dialog_request(&mut self, req: &Request) -> Response {
        let tag = Some(self.local_tag.as_str());
        match req.method() {
            Method::Bye => {
                let resp = message::response(req, 200, None, tag);
                if self.phase == Phase::Up {
                    self.phase = Phase::Over;
                    self.end("agent-bye", true);
                }
                resp
            }
            Method::Invite => self.on_reinvite(req),
            Method::Options | Method::Info => message::response(req, 200, None, tag),
            _ => message::response(req, 501, None, tag),
        }
    }

    /// A re-INVITE from the phone: its hold button, or a new address. The
    /// agent's hold is the CTI's; here we only follow the media address and
    /// answer with our unchanged session.
    fn on_reinvite(&mut self, req: &Request) -> Response {
        let tag = Some(self.local_tag.as_str());
        let (Some(local), Some(seed)) = (self.local_rtp, self.seed) else {
            return message::response(req, 491, None, tag);
        };
        if let Some(remote) = std::str::from_utf8(req.body())
            .ok()
            .and_then(|t| sdp::SessionDescription::parse(t).ok())
            .and_then(|s| sdp::audio_offer(&s).ok())
            .and_then(|o| sdp::negotiate(&o).ok())
            .map(|n| n.remote)
            .filter(|r| !r.ip().is_unspecified())
        {
            self.rtp_dest = Some(remote);
            self.rtp_latched = false;
        }
        let Some(neg) = self.negotiated.as_ref() else {
            return message::response(req, 491, None, tag);
        };
        let body = sdp::answer(neg, local.ip(), local.port(), seed.sdp_session, 2);
        let mut resp = message::response(req, 200, None, tag);
        resp.headers
            .push(rsip::headers::Contact::new(format!("<sip:hotline@{}>", self.sip_host)).into());
        set_body(&mut resp, "application/sdp", body.into_bytes());
        resp
    }

    /// An RTP datagram on the leg's socket.
    pub fn handle_rtp(
        &mut self,
        now: Instant,
        source: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), crate::media::Error> {
        let Some(media) = self.media.as_mut() else {
            return Ok(());
        };
        media.handle_rtp(now, bytes)?;
        // Symmetric RTP, as for callers: answer where the phone sends from.
        if !self.rtp_latched {
            self.rtp_latched = true;
            self.rtp_dest = Some(source);
        }
        Ok(())
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

    /// Key presses to the phone's side (RFC 4733), for a leg that is up.
    pub fn send_keys(&mut self, keys: &str) {
        if let Some(m) = self.media.as_mut() {
            let _ = m.send_keys(keys);
        }
    }

    /// The caller is on hold (the agent hears silence) or back.
    pub fn set_muted(&mut self, muted: bool) {
        if let Some(m) = self.media.as_mut() {
            m.set_bridged(true);
            m.set_capture(!muted);
        }
    }

    fn drain_media(&mut self) {
        while let Some(o) = self.media.as_mut().and_then(MediaSession::poll_output) {
            match o {
                MediaOutput::Transmit(bytes) => {
                    if let Some(dest) = self.rtp_dest {
                        self.pending.push(Action::Output(Output::Rtp {
                            call: self.key,
                            dest,
                            bytes,
                        }));
                    }
                }
                MediaOutput::Audio(samples) => self.events.push_back(LegEvent::Audio(samples)),
                // The call's recording is made on the caller's leg.
                MediaOutput::Recorded(_) => {}
                MediaOutput::Inactive if self.phase == Phase::Up => {
                    // The phone vanished (no BYE, no RTP): our BYE may not
                    // reach it, but the dialog is ended on our side.
                    self.send_bye();
                    self.end("agent-vanished", true);
                }
                MediaOutput::Dtmf(d) if self.phase == Phase::Up => {
                    self.events.push_back(LegEvent::Dtmf(d.digit));
                }
                MediaOutput::Inactive
                | MediaOutput::Dtmf(_)
                | MediaOutput::PromptFinished { .. } => {}
            }
        }
    }
}

/// The CANCEL for our INVITE (RFC 3261 §9.1): same Request-URI, Call-ID,
/// From, To, top Via and CSeq number.
pub(super) fn cancel_for(invite: &Request) -> Option<Request> {
    let via = invite.header_values("Via").into_iter().next()?;
    let (cseq, _) = invite.cseq().ok()?;
    let text = format!(
        "CANCEL {} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\n\
         Call-ID: {}\r\nCSeq: {cseq} CANCEL\r\nContent-Length: 0\r\n\r\n",
        invite.uri,
        invite.header_values("From").first()?,
        invite.header_values("To").first()?,
        invite.call_id().ok()?,
    );
    match message::parse(text.as_bytes()) {
        Ok(rsip::SipMessage::Request(r)) => Some(r),
        _ => None,
    }
}

/// A caller number fit for a display name and a SIP user part.
fn sanitize(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'))
        .take(32)
        .collect();
    if clean.is_empty() {
        "anonymous".into()
    } else {
        clean
    }
}
