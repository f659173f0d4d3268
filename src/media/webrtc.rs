//! WebRTC media for an agent's browser: ICE, DTLS-SRTP and G.711, behind
//! one trait, [`BrowserPeer`], so the engine never sees the library that
//! does it (webrtc-rs's sans-I/O core `rtc`, pinned to an exact version in
//! Cargo.toml).
//!
//! One peer is one browser's `RTCPeerConnection` seen from the server: the
//! browser offers, we answer ([`answer`]). We are the ICE-controlled side
//! with one host candidate (the address the runtime bound for the leg, as
//! the agents' browsers reach it); the browser's checks find us, so its
//! own candidates are welcome ([`BrowserPeer::add_remote_candidate`]) but
//! not needed. Audio is plain RTP on our side: the engine's media session
//! makes and reads RTP packets as for a SIP phone, and the peer protects
//! and unprotects them (SRTP).
//!
//! Invariants:
//! - Pure: every input carries the instant; datagrams come in as bytes
//!   and leave as [`PeerOutput::Transmit`]. (The DTLS certificate is made
//!   once, by the runtime, with [`Identity::generate`].)
//! - The answer offers exactly one audio codec, PCMU or PCMA, chosen from
//!   the browser's offer in the configured order, plus RFC 4733
//!   telephone-event at 8 kHz when the browser offers it; an offer without
//!   G.711 is refused ([`NegotiationError::NoG711`]) before any state is
//!   made.
//! - [`PeerOutput::State`] reports each change of the connection once, in
//!   order; [`PeerState::Connected`] means DTLS is done and SRTP flows.
//! - Nothing the browser sends can panic the peer: a datagram the library
//!   refuses is dropped (and counted by the caller as it likes).

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::RTCPeerConnectionBuilder;
use rtc::peer_connection::certificate::{CertificateParams, RTCCertificate};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_PCMA, MIME_TYPE_PCMU, MIME_TYPE_TELEPHONE_EVENT, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::shared::marshal::{Marshal, Unmarshal};
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};

use super::g711::Law;

/// Longest SDP offer we read: a browser's audio-only offer is 2-5 KB.
pub const MAX_SDP: usize = 16 * 1024;

/// Why a browser's media could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// The offer has no audio section with PCMU or PCMA at 8 kHz.
    #[error("the browser offered no G.711 audio (PCMU or PCMA)")]
    NoG711,
    /// The offer is not an SDP offer we can read.
    #[error("the offer is not usable SDP: {0}")]
    BadOffer(String),
    /// A trickled ICE candidate could not be read.
    #[error("the ICE candidate is not usable: {0}")]
    BadCandidate(String),
    /// The DTLS certificate could not be made.
    #[error("no DTLS certificate: {0}")]
    Identity(String),
}

/// The server's DTLS certificate, made once and shared by every peer (a
/// browser pins it by the fingerprint in our answer).
#[derive(Clone)]
pub struct Identity(Arc<RTCCertificate>);

impl Identity {
    /// A fresh self-signed ECDSA P-256 certificate. Reads the wall clock
    /// (inside the library, for the certificate's validity), so only the
    /// runtime calls this.
    pub fn generate() -> Result<Identity, NegotiationError> {
        let fail = |e: &dyn fmt::Display| NegotiationError::Identity(e.to_string());
        let provider = rtc::crypto::default_provider().map_err(|e| fail(&e))?;
        let params = CertificateParams::new(vec!["hotline".to_owned()]).map_err(|e| fail(&e))?;
        let cert = RTCCertificate::generate(
            provider.crypto(),
            rtc::crypto::SignatureScheme::EcdsaP256Sha256,
            params,
        )
        .map_err(|e| fail(&e))?;
        Ok(Identity(Arc::new(cert)))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identity(DTLS certificate)")
    }
}

/// How the browser's media was negotiated: what the engine's media session
/// needs to make and read the RTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub law: Law,
    pub payload_type: u8,
    /// RFC 4733 telephone-event at 8 kHz, if the browser offered it.
    pub dtmf_payload_type: Option<u8>,
}

/// What a peer asks the driver to do or tells the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerOutput {
    /// Send this datagram (STUN, DTLS or SRTP) from the leg's socket.
    Transmit { dest: SocketAddr, bytes: Vec<u8> },
    /// A plain RTP packet from the browser (SRTP removed).
    Rtp(Vec<u8>),
    /// The connection changed state.
    State(PeerState),
}

/// The connection's state, as far as the call cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// ICE found a path and DTLS is done: audio flows.
    Connected,
    /// ICE lost the browser for a while (it may come back).
    Disconnected,
    /// ICE or DTLS gave up, or the browser closed: this peer is done.
    Failed,
}

/// One browser's WebRTC connection, as the engine drives it. The sans-I/O
/// contract of the crate: feed with `handle_*`, drain [`poll_output`]
/// until `None`, wake at [`poll_timeout`].
///
/// [`poll_output`]: BrowserPeer::poll_output
/// [`poll_timeout`]: BrowserPeer::poll_timeout
pub trait BrowserPeer: Send {
    /// How the audio was negotiated.
    fn negotiated(&self) -> Negotiated;
    /// Our SDP answer for the browser.
    fn answer_sdp(&self) -> &str;
    /// A candidate the browser trickled (`candidate:...` as the browser's
    /// `RTCIceCandidate.candidate` gives it; empty for end of candidates).
    fn add_remote_candidate(&mut self, candidate: &str) -> Result<(), NegotiationError>;
    /// A datagram from `from` on the leg's socket.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]);
    /// A plain RTP packet for the browser (the media session's); dropped
    /// until the connection is up.
    fn send_rtp(&mut self, now: Instant, packet: &[u8]);
    fn handle_timeout(&mut self, now: Instant);
    #[must_use]
    fn poll_output(&mut self) -> Option<PeerOutput>;
    #[must_use]
    fn poll_timeout(&mut self) -> Option<Instant>;
    /// Ends the connection (a DTLS close alert goes out).
    fn close(&mut self);
}

/// What [`answer`] needs besides the offer.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub identity: Identity,
    /// Our candidate: the leg socket's address as browsers reach it.
    pub local: SocketAddr,
    /// The laws we accept, in order of preference.
    pub laws: Vec<Law>,
    /// The SSRC of the RTP the media session will send.
    pub ssrc: u32,
}

/// Answers a browser's offer: the peer, ready for the browser's checks.
pub fn answer(
    now: Instant,
    cfg: &PeerConfig,
    offer: &str,
) -> Result<Box<dyn BrowserPeer>, NegotiationError> {
    if offer.len() > MAX_SDP {
        return Err(NegotiationError::BadOffer(format!(
            "{} bytes, over the {MAX_SDP} limit",
            offer.len()
        )));
    }
    // One reading of the lines for us and the library alike: a line with
    // stray blanks or carriage returns at either end (the fuzzer's find)
    // was an m= line to one and not to the other.
    let offer: String = offer
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .flat_map(|l| [l, "\r\n"])
        .collect();
    let offered = read_audio_offer(&offer)?;
    let law = cfg
        .laws
        .iter()
        .copied()
        .find(|l| offered.laws.contains(l))
        .ok_or(NegotiationError::NoG711)?;
    let bad = |e: rtc::shared::error::Error| NegotiationError::BadOffer(e.to_string());

    let g711 = codec(law);
    let mut media = MediaEngine::default();
    media
        .register_codec(g711.clone(), RtpCodecKind::Audio)
        .map_err(bad)?;
    if offered.telephone_event {
        media
            .register_codec(telephone_event(), RtpCodecKind::Audio)
            .map_err(bad)?;
    }
    let config = RTCConfigurationBuilder::new()
        .with_certificates(vec![(*cfg.identity.0).clone()])
        .build();
    // A server with one address the browser can reach: no gathering of
    // our own, and the browser's connectivity checks tell us its address.
    let settings = SettingEngineBuilder::new()
        .with_include_loopback_candidate(true)
        .build();
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(config)
        .with_setting_engine(settings)
        .with_media_engine(media)
        .build(now)
        .map_err(bad)?;
    // The library matches codecs by name and format parameters, not clock
    // rate (it would answer telephone-event/48000 as ours): it sees only
    // the payload types we take.
    let mut keep = vec![g711.payload_type];
    keep.extend(offered.telephone_event_pt);
    let offer_sdp = RTCSessionDescription::offer(only_payload_types(&offer, &keep)).map_err(bad)?;
    pc.set_remote_description(now, offer_sdp).map_err(bad)?;
    let track = MediaStreamTrack::new(
        "hotline".to_owned(),
        "hotline-audio".to_owned(),
        "hotline".to_owned(),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(cfg.ssrc),
                ..Default::default()
            },
            // No codec of its own: the track sends what the answer
            // negotiates (the media engine holds only that law and
            // telephone-event, which a codec here would leave out).
            ..Default::default()
        }],
    );
    let sender = pc.add_track(track).map_err(bad)?;
    let host = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".to_owned(),
            address: cfg.local.ip().to_string(),
            port: cfg.local.port(),
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .new_candidate_host()
    .map_err(bad)?;
    let host = RTCIceCandidate::from(&host).to_json().map_err(bad)?;
    pc.add_local_candidate(host).map_err(bad)?;
    pc.add_local_candidate(RTCIceCandidateInit::default())
        .map_err(bad)?;
    let answer = pc.create_answer(None).map_err(bad)?;
    pc.set_local_description(now, answer).map_err(bad)?;
    let sdp = pc
        .local_description()
        .map(|d| d.sdp)
        .ok_or_else(|| NegotiationError::BadOffer("no answer was made".into()))?;
    let answered = read_audio_offer(&sdp)?;
    if !answered.laws.contains(&law) {
        return Err(NegotiationError::NoG711);
    }
    let negotiated = Negotiated {
        law,
        payload_type: match law {
            Law::Pcmu => 0,
            Law::Pcma => 8,
        },
        dtmf_payload_type: answered.telephone_event_pt,
    };
    Ok(Box::new(RtcPeer {
        pc,
        sender,
        local: cfg.local,
        negotiated,
        answer: sdp,
        outputs: VecDeque::new(),
        state: None,
        closed: false,
    }))
}

fn codec(law: Law) -> RTCRtpCodecParameters {
    let (mime, pt) = match law {
        Law::Pcmu => (MIME_TYPE_PCMU, 0),
        Law::Pcma => (MIME_TYPE_PCMA, 8),
    };
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.to_owned(),
            clock_rate: 8000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
        payload_type: pt,
    }
}

fn telephone_event() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_TELEPHONE_EVENT.to_owned(),
            clock_rate: 8000,
            channels: 0,
            sdp_fmtp_line: "0-16".to_owned(),
            rtcp_feedback: vec![],
        },
        payload_type: 101,
    }
}

/// What the first audio section of an SDP carries that we care about.
#[derive(Debug, Default)]
struct AudioOffer {
    laws: Vec<Law>,
    telephone_event: bool,
    telephone_event_pt: Option<u8>,
}

/// Reads the first `m=audio` section's G.711 and 8 kHz telephone-event
/// payload types (static 0 and 8 count without an rtpmap).
fn read_audio_offer(sdp: &str) -> Result<AudioOffer, NegotiationError> {
    let mut in_audio = false;
    let mut seen_audio = false;
    let mut formats: Vec<u8> = Vec::new();
    let mut offer = AudioOffer::default();
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            if seen_audio {
                break;
            }
            in_audio = m.starts_with("audio ");
            if in_audio {
                seen_audio = true;
                let mut parts = m.split_whitespace().skip(1);
                let port = parts.next().unwrap_or("0");
                if port == "0" {
                    // A rejected or unusable section.
                    return Err(NegotiationError::NoG711);
                }
                formats = parts.skip(1).filter_map(|f| f.parse().ok()).collect();
            }
            continue;
        }
        if !in_audio {
            continue;
        }
        if let Some(map) = line.strip_prefix("a=rtpmap:") {
            let mut it = map.splitn(2, ' ');
            let (Some(pt), Some(enc)) = (it.next(), it.next()) else {
                continue;
            };
            let Ok(pt) = pt.parse::<u8>() else { continue };
            if !formats.contains(&pt) {
                continue;
            }
            let enc = enc.to_ascii_lowercase();
            if enc.starts_with("pcmu/8000") && pt == 0 {
                offer.laws.push(Law::Pcmu);
            } else if enc.starts_with("pcma/8000") && pt == 8 {
                offer.laws.push(Law::Pcma);
            } else if enc.starts_with("telephone-event/8000") {
                offer.telephone_event = true;
                offer.telephone_event_pt.get_or_insert(pt);
            }
        }
    }
    if !seen_audio {
        return Err(NegotiationError::BadOffer("no audio section".into()));
    }
    // Static payload types need no rtpmap (RFC 3551).
    for (pt, law) in [(0u8, Law::Pcmu), (8, Law::Pcma)] {
        if formats.contains(&pt) && !offer.laws.contains(&law) {
            offer.laws.push(law);
        }
    }
    Ok(offer)
}

/// `sdp` (trimmed lines, CRLF) with its first audio section cut down to
/// the payload types `keep`, in that order (the m= line's formats and
/// their rtpmap, fmtp and rtcp-fb lines).
fn only_payload_types(sdp: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(sdp.len());
    let mut section = 0; // 0 before the audio section, 1 in it, 2 after
    for line in sdp.split_inclusive('\n') {
        let text = line.trim_end();
        if let Some(m) = text.strip_prefix("m=") {
            section = match section {
                0 if m.starts_with("audio ") => 1,
                0 => 0,
                _ => 2,
            };
            if section == 1 {
                let mut parts = m.split_whitespace();
                let head: Vec<&str> = parts.by_ref().take(3).collect();
                // In our order, the law first: the library keeps the
                // offer's order, and the browser sends the first codec.
                let offered: Vec<u8> = parts.filter_map(|f| f.parse().ok()).collect();
                out.push_str("m=");
                out.push_str(&head.join(" "));
                for pt in keep.iter().filter(|pt| offered.contains(pt)) {
                    out.push(' ');
                    out.push_str(&pt.to_string());
                }
                out.push_str("\r\n");
                continue;
            }
        }
        if section == 1 {
            let attr = ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"]
                .iter()
                .find_map(|p| text.strip_prefix(p));
            if let Some(rest) = attr {
                let pt = rest.split(' ').next().and_then(|p| p.parse::<u8>().ok());
                if !pt.is_some_and(|pt| keep.contains(&pt)) {
                    continue;
                }
            }
        }
        out.push_str(line);
    }
    out
}

/// [`BrowserPeer`] over webrtc-rs's `rtc`.
struct RtcPeer {
    pc: RTCPeerConnection,
    sender: rtc::rtp_transceiver::RTCRtpSenderId,
    local: SocketAddr,
    negotiated: Negotiated,
    answer: String,
    outputs: VecDeque<PeerOutput>,
    state: Option<PeerState>,
    closed: bool,
}

impl RtcPeer {
    /// Moves what the library has for us into our outputs.
    fn drain(&mut self) {
        while let Some(w) = self.pc.poll_write() {
            self.outputs.push_back(PeerOutput::Transmit {
                dest: w.transport.peer_addr,
                bytes: w.message.to_vec(),
            });
        }
        while let Some(TaggedRTCMessage { message, .. }) = self.pc.poll_read() {
            if let RTCMessage::RtpPacket(_, packet) = message
                && let Ok(bytes) = packet.marshal()
            {
                self.outputs.push_back(PeerOutput::Rtp(bytes.to_vec()));
            }
        }
        while let Some(e) = self.pc.poll_event() {
            let state = match e {
                RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) => match s {
                    RTCPeerConnectionState::Connected => Some(PeerState::Connected),
                    RTCPeerConnectionState::Disconnected => Some(PeerState::Disconnected),
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                        Some(PeerState::Failed)
                    }
                    _ => None,
                },
                _ => None,
            };
            if let Some(s) = state
                && self.state != Some(s)
                && self.state != Some(PeerState::Failed)
            {
                self.state = Some(s);
                self.outputs.push_back(PeerOutput::State(s));
            }
        }
    }

    fn fail(&mut self) {
        if self.state != Some(PeerState::Failed) {
            self.state = Some(PeerState::Failed);
            self.outputs.push_back(PeerOutput::State(PeerState::Failed));
        }
    }
}

impl BrowserPeer for RtcPeer {
    fn negotiated(&self) -> Negotiated {
        self.negotiated
    }

    fn answer_sdp(&self) -> &str {
        &self.answer
    }

    fn add_remote_candidate(&mut self, candidate: &str) -> Result<(), NegotiationError> {
        if candidate.len() > 1024 {
            return Err(NegotiationError::BadCandidate("too long".into()));
        }
        // mDNS names (Chrome hides host addresses behind `*.local`) cannot
        // be resolved here; the browser's checks reach us anyway.
        if candidate.contains(".local ") {
            return Ok(());
        }
        let init = RTCIceCandidateInit {
            candidate: candidate.to_owned(),
            ..Default::default()
        };
        let r = self
            .pc
            .add_remote_candidate(init)
            .map_err(|e| NegotiationError::BadCandidate(e.to_string()));
        self.drain();
        r
    }

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if self.closed {
            return;
        }
        let msg = TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: self.local,
                peer_addr: from,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: BytesMut::from(bytes),
        };
        if let Err(e) = self.pc.handle_read(msg) {
            tracing::debug!(%from, error = %e, "WebRTC datagram dropped");
        }
        self.drain();
        if self.state != Some(PeerState::Connected) {
            // Setting up, a datagram may make work due now that the
            // library's `poll_timeout` does not report (the DTLS handshake
            // starts once ICE picks its pair): without this it waited for
            // the leg's next timer, some 20 ms.
            if let Err(e) = self.pc.handle_timeout(now) {
                tracing::debug!(error = %e, "WebRTC timeout handling failed");
            }
            self.drain();
        }
    }

    fn send_rtp(&mut self, now: Instant, packet: &[u8]) {
        if self.closed || self.state != Some(PeerState::Connected) {
            return;
        }
        let mut buf = packet;
        let Ok(packet) = rtc::rtp::Packet::unmarshal(&mut buf) else {
            return;
        };
        if let Some(mut sender) = self.pc.rtp_sender(self.sender)
            && let Err(e) = sender.write_rtp(now, packet)
        {
            tracing::debug!(error = %e, "RTP to the browser dropped");
        }
        self.drain();
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if let Err(e) = self.pc.handle_timeout(now) {
            tracing::debug!(error = %e, "WebRTC timeout handling failed");
            self.fail();
        }
        self.drain();
    }

    fn poll_output(&mut self) -> Option<PeerOutput> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        self.pc.poll_timeout()
    }

    fn close(&mut self) {
        if self.closed {
            return;
        }
        let _ = self.pc.close();
        self.drain();
        self.closed = true;
    }
}

#[cfg(test)]
pub(crate) mod test_audio;
#[cfg(test)]
#[path = "../../tests/common/webrtc.rs"]
pub(crate) mod test_browser;
#[cfg(test)]
mod tests;
