//! The browser side is played by [`TestBrowser`] (a second `rtc` peer
//! offering what Chrome offers); datagrams pass between the two in memory
//! under simulated time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::test_audio::send_tone;
use super::test_browser::{TestBrowser, codec};
use super::*;
use crate::media::g711;
use crate::media::rtp::{self, RtpHeader};
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;

const SERVER: &str = "192.0.2.1:20000";
const BROWSER: &str = "192.0.2.10:40000";
const SERVER_SSRC: u32 = 0x5E4F;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Passes datagrams both ways, advancing the clock to each deadline, until
/// `until`; what the server peer reports besides datagrams goes to `out`.
fn run(
    mut now: Instant,
    until: Instant,
    browser: &mut TestBrowser,
    server: &mut dyn BrowserPeer,
    out: &mut Vec<PeerOutput>,
) -> Instant {
    loop {
        let mut moved = true;
        while moved {
            moved = false;
            while let Some((dest, bytes)) = browser.poll_transmit() {
                moved = true;
                assert_eq!(dest, addr(SERVER));
                server.handle_datagram(now, addr(BROWSER), &bytes);
            }
            while let Some(o) = server.poll_output() {
                if let PeerOutput::Transmit { dest, bytes } = &o {
                    moved = true;
                    assert_eq!(*dest, addr(BROWSER));
                    browser.receive(now, addr(SERVER), bytes);
                } else {
                    out.push(o);
                }
            }
        }
        let next = [browser.poll_timeout(), server.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(until)
            .max(now + Duration::from_millis(1));
        if next > until {
            return until;
        }
        now = next;
        browser.handle_timeout(now);
        server.handle_timeout(now);
    }
}

fn config(laws: Vec<Law>) -> PeerConfig {
    PeerConfig {
        identity: Identity::generate().unwrap(),
        local: addr(SERVER),
        laws,
        ssrc: SERVER_SSRC,
    }
}

fn tone_packet(seq: u16, freq: f64) -> Vec<u8> {
    let samples: Vec<i16> = (0..160)
        .map(|i| {
            let t = f64::from(u32::from(seq) * 160 + i) / 8000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
        })
        .collect();
    let mut payload = Vec::new();
    g711::encode_into(Law::Pcmu, &samples, &mut payload);
    let header = RtpHeader {
        marker: seq == 0,
        payload_type: 0,
        sequence: seq,
        timestamp: u32::from(seq) * 160,
        ssrc: SERVER_SSRC,
    };
    let mut out = Vec::new();
    rtp::write(&header, &payload, &mut out);
    out
}

/// Zero crossings of 20 ms of audio, as a frequency.
fn frequency(payload: &[u8]) -> f64 {
    let mut samples = Vec::new();
    g711::decode_into(Law::Pcmu, payload, &mut samples);
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] >= 0) != (w[1] >= 0))
        .count();
    25.0 * crossings as f64
}

#[test]
fn a_browser_connects_and_audio_flows_both_ways() {
    let t0 = Instant::now();
    let mut browser = TestBrowser::new(t0, addr(BROWSER));
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
    assert_eq!(out, vec![PeerOutput::State(PeerState::Connected)]);
    out.clear();

    // 440 Hz from the browser's microphone reaches us as plain RTP.
    for _ in 0..10 {
        send_tone(&mut browser, now, 440.0);
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
            PeerOutput::Rtp(p) => Some(frequency(rtp::parse(p).unwrap().payload)),
            _ => None,
        })
        .collect();
    assert_eq!(heard.len(), 10, "{out:?}");
    assert!(heard.iter().all(|f| (f - 440.0).abs() <= 50.0), "{heard:?}");

    // 1 kHz from us reaches the browser.
    for seq in 0..10 {
        server.send_rtp(now, &tone_packet(seq, 1000.0));
    }
    let now = run(
        now,
        now + Duration::from_millis(200),
        &mut browser,
        &mut *server,
        &mut out,
    );
    assert_eq!(browser.received.len(), 10);
    for (pt, payload) in &browser.received {
        assert_eq!(*pt, 0);
        let f = frequency(payload);
        assert!((f - 1000.0).abs() <= 50.0, "{f}");
    }

    // The page goes away without a word (a network drop): ICE consent
    // checks go unanswered; the connection is reported disconnected within
    // seconds, and given up within half a minute.
    out.clear();
    let mut gone = TestBrowser::new(now, addr(BROWSER));
    let t = run(
        now,
        now + Duration::from_secs(6),
        &mut gone,
        &mut *server,
        &mut out,
    );
    assert_eq!(out, vec![PeerOutput::State(PeerState::Disconnected)]);
    run(
        t,
        t + Duration::from_secs(30),
        &mut gone,
        &mut *server,
        &mut out,
    );
    assert_eq!(out.last(), Some(&PeerOutput::State(PeerState::Failed)));
}

#[test]
fn the_configured_law_order_decides_between_pcmu_and_pcma() {
    let t0 = Instant::now();
    let mut browser = TestBrowser::new(t0, addr(BROWSER));
    let offer = browser.offer(t0);
    let server = answer(t0, &config(vec![Law::Pcma, Law::Pcmu]), &offer).unwrap();
    assert_eq!(server.negotiated().law, Law::Pcma);
    assert_eq!(server.negotiated().payload_type, 8);
    // Only A-law and telephone-event/8000 (not the 48 kHz one) in the answer.
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
    let mut browser = TestBrowser::with_codecs(t0, addr(BROWSER), &[opus]);
    let offer = browser.offer(t0);
    let err = answer(t0, &config(vec![Law::Pcmu, Law::Pcma]), &offer).err();
    assert_eq!(err, Some(NegotiationError::NoG711));
}

#[test]
fn garbage_offers_candidates_and_datagrams_get_errors_not_panics() {
    let t0 = Instant::now();
    let cfg = config(vec![Law::Pcmu]);
    for bad in [
        "",
        "hello",
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
        "v=0\r\nm=audio 0 UDP/TLS/RTP/SAVPF 0\r\n",
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n",
        &"v=0\r\n".repeat(10_000),
    ] {
        assert!(answer(t0, &cfg, bad).is_err(), "{bad:?}");
    }
    let mut browser = TestBrowser::new(t0, addr(BROWSER));
    let offer = browser.offer(t0);
    let mut server = answer(t0, &cfg, &offer).unwrap();
    for bad in [
        "candidate:garbage",
        "candidate:1 1 udp x 10.0.0.1 9 typ host",
        "candidate:1 1 udp 1 not-an-ip 9 typ nonsense",
        &"x".repeat(2000),
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
    assert!(server.poll_timeout().is_none());
}

/// The offer Chromium 156 made on this machine (`tests/data/webrtc/`):
/// Opus, RED, G.722, PCMU, PCMA, CN and telephone-event at 48 and 8 kHz,
/// TCP and IPv6 candidates among its host candidates.
#[test]
fn a_real_chrome_offer_is_answered_with_g711_and_8_khz_telephone_events() {
    let t0 = Instant::now();
    let offer = include_str!("../../../tests/data/webrtc/chrome-156-offer.sdp");
    let mut server = answer(t0, &config(vec![Law::Pcma, Law::Pcmu]), offer).unwrap();
    assert_eq!(
        server.negotiated(),
        Negotiated {
            law: Law::Pcma,
            payload_type: 8,
            dtmf_payload_type: Some(126),
        }
    );
    let sdp = server.answer_sdp();
    let m = sdp.lines().find(|l| l.starts_with("m=audio")).unwrap();
    assert!(m.ends_with(" 8 126"), "{m}");
    assert!(
        sdp.contains("a=setup:active") || sdp.contains("a=setup:passive"),
        "{sdp}"
    );
    for candidate in offer.lines().filter_map(|l| l.strip_prefix("a=")) {
        if candidate.starts_with("candidate:") {
            let _ = server.add_remote_candidate(candidate);
        }
    }
    server.close();
}
