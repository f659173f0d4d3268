//! The browser side is played by a second `rtc` peer connection (the
//! offerer, with the codecs Chrome offers); datagrams pass between the two
//! in memory under simulated time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

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
use rtc::shared::marshal::Unmarshal;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};

use super::*;
use crate::media::g711;
use crate::media::rtp::{self, RtpHeader};

const SERVER: &str = "192.0.2.1:20000";
const BROWSER: &str = "192.0.2.10:40000";
const BROWSER_SSRC: u32 = 0xB0B0;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn codec(mime: &str, rate: u32, channels: u16, fmtp: &str, pt: u8) -> RTCRtpCodecParameters {
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

/// A browser: an offerer with `codecs`, sending on one audio track.
struct Browser {
    pc: RTCPeerConnection,
    sender: rtc::rtp_transceiver::RTCRtpSenderId,
    connected: bool,
    received: Vec<Vec<u8>>,
}

impl Browser {
    fn new(now: Instant, codecs: &[RTCRtpCodecParameters]) -> Self {
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
        let a = addr(BROWSER);
        let host = CandidateHostConfig {
            base_config: CandidateConfig {
                network: "udp".into(),
                address: a.ip().to_string(),
                port: a.port(),
                component: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .new_candidate_host()
        .unwrap();
        pc.add_local_candidate(RTCIceCandidate::from(&host).to_json().unwrap())
            .unwrap();
        Browser {
            pc,
            sender,
            connected: false,
            received: Vec::new(),
        }
    }

    fn offer(&mut self, now: Instant) -> String {
        let offer = self.pc.create_offer(None).unwrap();
        self.pc.set_local_description(now, offer.clone()).unwrap();
        offer.sdp
    }

    fn accept(&mut self, now: Instant, answer: &str) {
        let answer = RTCSessionDescription::answer(answer.to_owned()).unwrap();
        self.pc.set_remote_description(now, answer).unwrap();
    }

    fn send(&mut self, now: Instant, packet: &[u8]) {
        let mut buf = packet;
        let p = rtc::rtp::Packet::unmarshal(&mut buf).unwrap();
        self.pc
            .rtp_sender(self.sender)
            .unwrap()
            .write_rtp(now, p)
            .unwrap();
    }
}

/// Passes datagrams both ways, advancing the clock to each deadline, until
/// `until` passes; returns the time reached.
fn run(
    mut now: Instant,
    until: Instant,
    browser: &mut Browser,
    server: &mut dyn BrowserPeer,
    out: &mut Vec<PeerOutput>,
) -> Instant {
    loop {
        let mut moved = true;
        while moved {
            moved = false;
            while let Some(w) = browser.pc.poll_write() {
                moved = true;
                assert_eq!(w.transport.peer_addr, addr(SERVER));
                server.handle_datagram(now, addr(BROWSER), &w.message);
            }
            while let Some(o) = server.poll_output() {
                if let PeerOutput::Transmit { dest, bytes } = &o {
                    moved = true;
                    assert_eq!(*dest, addr(BROWSER));
                    browser
                        .pc
                        .handle_read(TaggedBytesMut {
                            now,
                            transport: TransportContext {
                                local_addr: addr(BROWSER),
                                peer_addr: addr(SERVER),
                                ecn: None,
                                transport_protocol: TransportProtocol::UDP,
                            },
                            message: BytesMut::from(&bytes[..]),
                        })
                        .ok();
                } else {
                    out.push(o);
                }
            }
            while let Some(e) = browser.pc.poll_event() {
                if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(
                    RTCPeerConnectionState::Connected,
                ) = e
                {
                    browser.connected = true;
                }
            }
            while let Some(TaggedRTCMessage { message, .. }) = browser.pc.poll_read() {
                if let RTCMessage::RtpPacket(_, p) = message {
                    browser.received.push(p.payload.to_vec());
                }
            }
        }
        let next = [browser.pc.poll_timeout(), server.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(until)
            .max(now + Duration::from_millis(1));
        if next > until {
            return until;
        }
        now = next;
        browser.pc.handle_timeout(now).ok();
        server.handle_timeout(now);
    }
}

fn chrome_codecs() -> Vec<RTCRtpCodecParameters> {
    vec![
        codec(MIME_TYPE_OPUS, 48000, 2, "minptime=10;useinbandfec=1", 111),
        codec(MIME_TYPE_PCMU, 8000, 0, "", 0),
        codec(MIME_TYPE_PCMA, 8000, 0, "", 8),
        codec(MIME_TYPE_TELEPHONE_EVENT, 48000, 0, "0-16", 110),
        codec(MIME_TYPE_TELEPHONE_EVENT, 8000, 0, "0-16", 126),
    ]
}

fn config(laws: Vec<Law>) -> PeerConfig {
    PeerConfig {
        identity: Identity::generate().unwrap(),
        local: addr(SERVER),
        laws,
        ssrc: 0x5E4F,
    }
}

fn tone_packet(seq: u16, pt: u8, law: g711::Law, freq: f64) -> Vec<u8> {
    let samples: Vec<i16> = (0..160)
        .map(|i| {
            let t = f64::from(u32::from(seq) * 160 + i) / 8000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
        })
        .collect();
    let mut payload = Vec::new();
    g711::encode_into(law, &samples, &mut payload);
    let header = RtpHeader {
        marker: seq == 0,
        payload_type: pt,
        sequence: seq,
        timestamp: u32::from(seq) * 160,
        ssrc: 0,
    };
    let mut out = Vec::new();
    rtp::write(&header, &payload, &mut out);
    out
}

/// Zero crossings of 20 ms of audio, as a frequency.
fn frequency(law: g711::Law, payload: &[u8]) -> f64 {
    let mut samples = Vec::new();
    g711::decode_into(law, payload, &mut samples);
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] >= 0) != (w[1] >= 0))
        .count();
    25.0 * crossings as f64
}

#[test]
fn a_browser_connects_and_audio_flows_both_ways() {
    let t0 = Instant::now();
    let mut browser = Browser::new(t0, &chrome_codecs());
    let offer = browser.offer(t0);
    let mut server = answer(t0, &config(vec![Law::Pcmu, Law::Pcma]), &offer).unwrap();
    assert_eq!(
        server.negotiated(),
        Negotiated {
            law: Law::Pcmu,
            payload_type: 0,
            dtmf_payload_type: Some(126),
        }
    );
    let sdp = server.answer_sdp().to_owned();
    assert!(sdp.contains("a=fingerprint:sha-256"), "{sdp}");
    assert!(!sdp.to_lowercase().contains("opus"), "{sdp}");
    assert!(sdp.contains("192.0.2.1 20000"), "our host candidate: {sdp}");
    browser.accept(t0, &sdp);

    let mut out = Vec::new();
    let now = run(
        t0,
        t0 + Duration::from_secs(3),
        &mut browser,
        &mut *server,
        &mut out,
    );
    assert!(browser.connected, "the browser never connected");
    assert!(
        out.contains(&PeerOutput::State(PeerState::Connected)),
        "{out:?}"
    );
    out.clear();

    // 440 Hz from the browser's microphone reaches us as plain RTP.
    for seq in 0..10 {
        let mut p = tone_packet(seq, 0, Law::Pcmu, 440.0);
        p[8..12].copy_from_slice(&BROWSER_SSRC.to_be_bytes());
        browser.send(now, &p);
    }
    let now = run(
        now,
        now + Duration::from_millis(200),
        &mut browser,
        &mut *server,
        &mut out,
    );
    let heard: Vec<f64> = out
        .iter()
        .filter_map(|o| match o {
            PeerOutput::Rtp(p) => Some(frequency(Law::Pcmu, rtp::parse(p).unwrap().payload)),
            _ => None,
        })
        .collect();
    assert_eq!(heard.len(), 10, "{out:?}");
    assert!(heard.iter().all(|f| (f - 440.0).abs() <= 50.0), "{heard:?}");

    // 1 kHz from us reaches the browser.
    for seq in 0..10 {
        let mut p = tone_packet(seq, 0, Law::Pcmu, 1000.0);
        p[8..12].copy_from_slice(&0x5E4Fu32.to_be_bytes());
        server.send_rtp(now, &p);
    }
    run(
        now,
        now + Duration::from_millis(200),
        &mut browser,
        &mut *server,
        &mut out,
    );
    assert_eq!(browser.received.len(), 10);
    for payload in &browser.received {
        let f = frequency(Law::Pcmu, payload);
        assert!((f - 1000.0).abs() <= 50.0, "{f}");
    }
}

#[test]
fn the_configured_law_order_decides_between_pcmu_and_pcma() {
    let t0 = Instant::now();
    let mut browser = Browser::new(t0, &chrome_codecs());
    let offer = browser.offer(t0);
    let server = answer(t0, &config(vec![Law::Pcma, Law::Pcmu]), &offer).unwrap();
    assert_eq!(server.negotiated().law, Law::Pcma);
    assert_eq!(server.negotiated().payload_type, 8);
    let m = server
        .answer_sdp()
        .lines()
        .find(|l| l.starts_with("m=audio"))
        .unwrap()
        .to_owned();
    assert!(m.ends_with(" 8 126"), "{m}");
}

#[test]
fn an_offer_without_g711_is_refused() {
    let t0 = Instant::now();
    let opus = codec(MIME_TYPE_OPUS, 48000, 2, "minptime=10;useinbandfec=1", 111);
    let mut browser = Browser::new(t0, std::slice::from_ref(&opus));
    let offer = browser.offer(t0);
    let err = answer(t0, &config(vec![Law::Pcmu, Law::Pcma]), &offer).err();
    assert_eq!(err, Some(NegotiationError::NoG711));
}

#[test]
fn garbage_offers_and_candidates_get_errors_not_panics() {
    let t0 = Instant::now();
    let cfg = config(vec![Law::Pcmu]);
    for bad in [
        "",
        "hello",
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n",
        &"v=0\r\n".repeat(10_000),
    ] {
        assert!(answer(t0, &cfg, bad).is_err(), "{bad:?}");
    }
    let mut browser = Browser::new(t0, &chrome_codecs());
    let offer = browser.offer(t0);
    let mut server = answer(t0, &cfg, &offer).unwrap();
    for bad in [
        "candidate:garbage",
        "candidate:1 1 udp x 10.0.0.1 9 typ host",
        "candidate:1 1 udp 1 not-an-ip 9 typ nonsense",
    ] {
        assert!(server.add_remote_candidate(bad).is_err(), "{bad}");
    }
    // An mDNS name is skipped, a good candidate taken.
    server
        .add_remote_candidate("candidate:1 1 udp 2122260223 0b1c-aa.local 50000 typ host")
        .unwrap();
    server
        .add_remote_candidate("candidate:2 1 udp 2122260223 192.0.2.10 40000 typ host")
        .unwrap();
    // Datagrams of every kind of garbage are dropped.
    for junk in [
        &[][..],
        &[0u8; 3],
        &[0x16, 0xfe, 0xfd, 0, 0],
        &[0x80; 200],
        &[0xff; 1500],
    ] {
        server.handle_datagram(t0, addr(BROWSER), junk);
    }
    server.close();
    server.close();
}
