//! A browser for tests: an `rtc` peer connection that offers what Chrome
//! offers (Opus, PCMU, PCMA, telephone-event at 48 and 8 kHz) and sends one
//! microphone track. It does no I/O: the user passes its datagrams to and
//! from the server, in memory under simulated time (the unit tests of
//! `hotline::media::webrtc` and the engine include this file) or over real
//! sockets (the soak test and the WebRTC benchmark). It uses nothing of
//! hotline, so both sides can include it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::RTCPeerConnectionBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_OPUS, MIME_TYPE_PCMA, MIME_TYPE_PCMU, MIME_TYPE_TELEPHONE_EVENT, MediaEngine,
};
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};

/// The SSRC of the test browser's microphone.
pub const BROWSER_SSRC: u32 = 0xB0B0;

pub fn codec(mime: &str, rate: u32, channels: u16, fmtp: &str, pt: u8) -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.to_owned(),
            clock_rate: rate,
            channels,
            sdp_fmtp_line: fmtp.to_owned(),
            rtcp_feedback: vec![],
        },
        payload_type: pt,
    }
}

/// What Chrome offers for audio.
pub fn chrome_codecs() -> Vec<RTCRtpCodecParameters> {
    vec![
        codec(MIME_TYPE_OPUS, 48000, 2, "minptime=10;useinbandfec=1", 111),
        codec(MIME_TYPE_PCMU, 8000, 0, "", 0),
        codec(MIME_TYPE_PCMA, 8000, 0, "", 8),
        codec(MIME_TYPE_TELEPHONE_EVENT, 48000, 0, "0-16", 110),
        codec(MIME_TYPE_TELEPHONE_EVENT, 8000, 0, "0-16", 126),
    ]
}

pub struct TestBrowser {
    pub addr: SocketAddr,
    pc: RTCPeerConnection,
    sender: rtc::rtp_transceiver::RTCRtpSenderId,
    pub connected: bool,
    /// (payload type, payload) of every RTP packet received.
    pub received: Vec<(u8, Vec<u8>)>,
    out: VecDeque<(SocketAddr, Vec<u8>)>,
    sequence: u16,
    /// The RTP timestamp of the next packet (8 kHz).
    pub timestamp: u32,
}

impl TestBrowser {
    /// A browser at `addr` offering Chrome's codecs.
    pub fn new(now: Instant, addr: SocketAddr) -> TestBrowser {
        TestBrowser::with_codecs(now, addr, &chrome_codecs())
    }

    pub fn with_codecs(
        now: Instant,
        addr: SocketAddr,
        codecs: &[RTCRtpCodecParameters],
    ) -> TestBrowser {
        let mut media = MediaEngine::default();
        for c in codecs {
            media
                .register_codec(c.clone(), RtpCodecKind::Audio)
                .unwrap();
        }
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media)
            .build(now)
            .unwrap();
        let track = MediaStreamTrack::new(
            "browser".into(),
            "mic".into(),
            "mic".into(),
            RtpCodecKind::Audio,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(BROWSER_SSRC),
                    ..Default::default()
                },
                // No codec: the offer lists every codec, as a browser's does.
                ..Default::default()
            }],
        );
        let sender = pc.add_track(track).unwrap();
        let host = CandidateHostConfig {
            base_config: CandidateConfig {
                network: "udp".into(),
                address: addr.ip().to_string(),
                port: addr.port(),
                component: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .new_candidate_host()
        .unwrap();
        pc.add_local_candidate(RTCIceCandidate::from(&host).to_json().unwrap())
            .unwrap();
        TestBrowser {
            addr,
            pc,
            sender,
            connected: false,
            received: Vec::new(),
            out: VecDeque::new(),
            sequence: 0,
            timestamp: 0,
        }
    }

    pub fn offer(&mut self, now: Instant) -> String {
        let offer = self.pc.create_offer(None).unwrap();
        self.pc.set_local_description(now, offer.clone()).unwrap();
        offer.sdp
    }

    pub fn accept(&mut self, now: Instant, answer: &str) {
        let answer = RTCSessionDescription::answer(answer.to_owned()).unwrap();
        self.pc.set_remote_description(now, answer).unwrap();
        self.pump();
    }

    /// A datagram from `from` (the server).
    pub fn receive(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let _ = self.pc.handle_read(TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: self.addr,
                peer_addr: from,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: BytesMut::from(bytes),
        });
        self.pump();
    }

    /// The next datagram the browser sends: (destination, bytes).
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.pump();
        self.out.pop_front()
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.pc.poll_timeout()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = self.pc.handle_timeout(now);
        self.pump();
    }

    /// One RTP packet from the microphone, at the current timestamp,
    /// which then moves on by `advance` samples.
    pub fn send(
        &mut self,
        now: Instant,
        payload_type: u8,
        marker: bool,
        payload: Vec<u8>,
        advance: u32,
    ) {
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::Header {
                version: 2,
                marker,
                payload_type,
                sequence_number: self.sequence,
                timestamp: self.timestamp,
                ssrc: BROWSER_SSRC,
                ..Default::default()
            },
            payload: payload.into(),
        };
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(advance);
        if let Some(mut s) = self.pc.rtp_sender(self.sender) {
            let _ = s.write_rtp(now, packet);
        }
        self.pump();
    }

    fn pump(&mut self) {
        while let Some(w) = self.pc.poll_write() {
            self.out
                .push_back((w.transport.peer_addr, w.message.to_vec()));
        }
        while let Some(e) = self.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(s) = e {
                self.connected = s == RTCPeerConnectionState::Connected;
            }
        }
        while let Some(TaggedRTCMessage { message, .. }) = self.pc.poll_read() {
            if let RTCMessage::RtpPacket(_, p) = message {
                self.received
                    .push((p.header.payload_type, p.payload.to_vec()));
            }
        }
    }
}
