//! The bodies of the fuzz targets, shared by `fuzz/fuzz_targets/*.rs` (via
//! `#[path]`) and by the regression test `tests/fuzz_regressions.rs`, so a
//! crash input replays through exactly the code the fuzzer ran.
//!
//! Each function takes arbitrary bytes and must never panic. Besides "no
//! panic" they check a few properties the code documents: what we write we
//! can read back, a stream frames the same however it is chunked, and an
//! engine driven to quiescence has no call, transaction or media socket left.

// Each fuzz target uses one of these functions; the test uses them all.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline::config::Cidr;
use hotline::engine::{CallKey, Engine, EngineConfig, IvrCatalog, Output, PromptSet};
use hotline::ivr::LookupAnswer;
use hotline::media::{DtmfReceiver, Law, MediaConfig, MediaSession, Prompt, rtp};
use hotline::records::RecordOp;
use hotline::sip::framing::{Frame, StreamFramer};
use hotline::sip::message;
use hotline::sip::sdp::{self, SessionDescription};
use hotline::sip::transaction::TimerConfig;
use hotline::sip::{Peer, Transport};

/// A small deterministic hash of the input, to pick parameters from.
fn mix(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Up to the last `n` bytes of the input as text.
fn tail_text(data: &[u8], n: usize) -> String {
    String::from_utf8_lossy(&data[data.len().saturating_sub(n)..]).into_owned()
}

// ----- sip_message ---------------------------------------------------------

/// `message::parse`, `normalise` and `bad_request` on the raw bytes; for a
/// message that parses, `serialize` must give bytes that parse again, and
/// for a request, a `response` to it must serialise to a parsable response
/// with the asked status code.
pub fn sip_message(data: &[u8]) {
    let _ = message::normalise(data);
    let _ = message::bad_request(data);
    let Ok(msg) = message::parse(data) else {
        return;
    };
    let wire = message::serialize(&msg);
    if let Err(e) = message::parse(&wire) {
        panic!(
            "serialize(parse(x)) does not parse again: {e}\n{}",
            String::from_utf8_lossy(&wire)
        );
    }
    let rsip::SipMessage::Request(req) = &msg else {
        return;
    };
    let h = mix(data);
    let code = 100 + (h % 600) as u16;
    let custom = tail_text(data, 24);
    let reason = match (h >> 10) % 3 {
        0 => None,
        1 => Some("OK"),
        _ => Some(custom.as_str()),
    };
    // Tags are ours (`dialog::new_tag`), never the peer's: keep them tokens.
    let token: String = custom
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(*c))
        .collect();
    let to_tag = match (h >> 12) % 3 {
        0 => None,
        1 => Some("as83kd9bs"),
        _ => Some(token.as_str()),
    };
    let resp = message::response(req, code, reason, to_tag);
    let wire = message::serialize(&rsip::SipMessage::Response(resp));
    match message::parse(&wire) {
        Ok(rsip::SipMessage::Response(back)) => {
            assert_eq!(back.status_code.code(), code, "status code changed");
        }
        Ok(rsip::SipMessage::Request(_)) => panic!("a response parsed back as a request"),
        Err(e) => panic!(
            "response({code}, {reason:?}, {to_tag:?}) does not parse again: {e}\n{}",
            String::from_utf8_lossy(&wire)
        ),
    }
}

// ----- sip_framing ---------------------------------------------------------

/// Largest message the framers in this harness accept.
const FRAMER_MAX: usize = 4096;

/// Drains a framer: frames until `Ok(None)`, or the (final) error.
fn drain_framer(framer: &mut StreamFramer, frames: &mut Vec<Frame>) -> Option<String> {
    // Every pushed byte is consumed by at most one frame, so this ends.
    loop {
        match framer.next() {
            Ok(Some(frame)) => {
                if let Frame::Message(bytes) = &frame {
                    assert!(
                        bytes.len() <= FRAMER_MAX,
                        "a {} byte frame passed a {FRAMER_MAX} byte limit",
                        bytes.len()
                    );
                }
                frames.push(frame);
            }
            Ok(None) => return None,
            Err(e) => {
                let again = framer.next();
                assert_eq!(again, Err(e.clone()), "framer errors must be final");
                return Some(e.to_string());
            }
        }
    }
}

/// The input as a TCP stream: pushed whole into one framer and in chunks
/// (cut where its first bytes say) into another. Both must yield the same
/// frames and the same final error; every frame then goes to `parse`.
pub fn sip_framing(data: &[u8]) {
    let mut whole = StreamFramer::new(FRAMER_MAX);
    whole.push(data);
    let mut whole_frames = Vec::new();
    let whole_error = drain_framer(&mut whole, &mut whole_frames);

    let mut cuts: Vec<usize> = data
        .iter()
        .take(4)
        .map(|&b| usize::from(b) * data.len() / 256)
        .collect();
    cuts.push(data.len());
    cuts.sort_unstable();
    let mut chunked = StreamFramer::new(FRAMER_MAX);
    let mut chunked_frames = Vec::new();
    let mut chunked_error = None;
    let mut from = 0;
    for cut in cuts {
        chunked.push(&data[from..cut]);
        from = cut;
        chunked_error = drain_framer(&mut chunked, &mut chunked_frames);
        if chunked_error.is_some() {
            break;
        }
    }
    assert_eq!(
        whole_frames, chunked_frames,
        "frames depend on how the stream was chunked"
    );
    assert_eq!(
        whole_error, chunked_error,
        "the error depends on how the stream was chunked"
    );
    for frame in &whole_frames {
        if let Frame::Message(bytes) = frame {
            let _ = message::parse(bytes);
        }
    }
}

// ----- sdp -----------------------------------------------------------------

/// `SessionDescription::parse`; on success `audio_offer`, `negotiate`,
/// `answer` and `answer_to`. Our answers must parse and offer audio again.
pub fn sdp(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(offer_sdp) = SessionDescription::parse(&text) else {
        return;
    };
    let Ok(offer) = sdp::audio_offer(&offer_sdp) else {
        return;
    };
    let Ok(neg) = sdp::negotiate(&offer) else {
        return;
    };
    let local_ip = if offer.remote.is_ipv6() {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    };
    let answers = [
        sdp::answer(&neg, local_ip, 40_000, 1, 2),
        sdp::answer_to(&offer_sdp, &neg, local_ip, 40_000, 1, 2),
    ];
    for answer in answers {
        let parsed = SessionDescription::parse(&answer)
            .unwrap_or_else(|e| panic!("our answer does not parse: {e}\n{answer}"));
        let again = sdp::audio_offer(&parsed)
            .unwrap_or_else(|e| panic!("our answer has no audio stream: {e}\n{answer}"));
        sdp::negotiate(&again)
            .unwrap_or_else(|e| panic!("our answer has no G.711 law: {e}\n{answer}"));
    }
}

// ----- webrtc --------------------------------------------------------------

/// A browser's media offer, as `media_offer` brings it: the input split at
/// [`ENGINE_SEPARATOR`] into the SDP offer, then an ICE candidate, then
/// datagrams on the leg's socket. `webrtc::answer` must refuse or answer
/// without panicking; an answer offers exactly one G.711 law (the one
/// negotiated) and no other audio codec; candidates and datagrams are
/// refused or taken, never a panic; closing twice is fine.
pub fn webrtc(data: &[u8]) {
    use hotline::media::webrtc::{self, Identity, PeerConfig};
    static IDENTITY: std::sync::OnceLock<Identity> = std::sync::OnceLock::new();
    let identity = IDENTITY
        .get_or_init(|| Identity::generate().expect("a DTLS certificate"))
        .clone();
    let mut parts = segments(data, ENGINE_SEPARATOR);
    let offer = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let t0 = Instant::now();
    let cfg = PeerConfig {
        identity,
        local: SocketAddr::from(([192, 0, 2, 1], 20_000)),
        laws: vec![Law::Pcmu, Law::Pcma],
        ssrc: mix(data),
    };
    let Ok(mut peer) = webrtc::answer(t0, &cfg, &offer) else {
        return;
    };
    let n = peer.negotiated();
    let m = peer
        .answer_sdp()
        .lines()
        .find(|l| l.starts_with("m=audio"))
        .unwrap_or_else(|| panic!("our answer has no audio section:\n{}", peer.answer_sdp()))
        .to_owned();
    let formats: Vec<&str> = m.split_whitespace().skip(3).collect();
    let law = n.payload_type.to_string();
    assert!(
        formats.first() == Some(&law.as_str()) && formats.len() <= 2,
        "{m} for {n:?}"
    );
    if let Some(candidate) = parts.next() {
        let _ = peer.add_remote_candidate(&String::from_utf8_lossy(candidate));
    }
    let from = SocketAddr::from(([192, 0, 2, 10], 40_000));
    for (i, datagram) in parts.take(16).enumerate() {
        let now = t0 + Duration::from_millis(20 * i as u64);
        peer.handle_datagram(now, from, datagram);
        peer.handle_timeout(now);
        while peer.poll_output().is_some() {}
    }
    peer.close();
    peer.close();
}

// ----- rtp -----------------------------------------------------------------

/// The input as records `[len: u8][len bytes]` (the last one may be short).
fn records(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (&len, rest) = data.split_first()?;
        let (record, rest) = rest.split_at(usize::from(len).min(rest.len()));
        data = rest;
        Some(record)
    })
}

/// `rtp::parse` on the whole input (what parses must write back the same);
/// then the input as length-prefixed datagrams through a `MediaSession`
/// (telephone-event on payload type 101) and a bare `DtmfReceiver`.
pub fn rtp(data: &[u8]) {
    if let Ok(packet) = rtp::parse(data) {
        let mut out = Vec::new();
        rtp::write(&packet.header, packet.payload, &mut out);
        let back = rtp::parse(&out).expect("a written packet parses");
        assert_eq!(back, packet, "RTP header or payload changed on rewrite");
    }

    let t0 = Instant::now();
    let config = MediaConfig {
        law: if mix(data) & 1 == 0 {
            Law::Pcmu
        } else {
            Law::Pcma
        },
        payload_type: 0,
        dtmf_payload_type: Some(101),
        inactivity_timeout: Duration::from_millis(100),
    };
    let mut session = MediaSession::new(t0, config, 0x1234_5678, 65_530, u32::MAX - 100);
    session.play(t0, Prompt::new("beep", vec![1000_i16; 400]));
    let mut dtmf = DtmfReceiver::new();
    let mut now = t0;
    let _ = session.handle_rtp(now, data);
    for datagram in records(data).take(256) {
        let _ = session.handle_rtp(now, datagram);
        if let Ok(packet) = rtp::parse(datagram) {
            let _ = dtmf.handle(&packet.header, packet.payload);
        }
        now += Duration::from_millis(7);
        session.handle_timeout(now);
        while session.poll_output().is_some() {}
    }
    session.handle_timeout(now + Duration::from_secs(3600));
    while session.poll_output().is_some() {}
    let _ = session.poll_timeout();
    let _ = session.stats();
}

// ----- engine --------------------------------------------------------------

/// Separates the datagrams of one engine input.
pub const ENGINE_SEPARATOR: &[u8] = b"\n#next\n";

/// In a SIP datagram, replaced by the To tag of our latest response, so an
/// input can carry in-dialog requests (ACK, BYE, re-INVITE).
const TAG_PLACEHOLDER: &[u8] = b"$TAG";

/// Where SIP comes from (inside the allowed sources) and RTP comes from.
const CARRIER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5091);
const CARRIER_RTP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6000);
const LOCAL_RTP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40_000);

fn engine_config() -> EngineConfig {
    EngineConfig {
        numbers: vec!["4008001234".into(), "service".into()],
        allowed_sources: vec![
            Cidr::parse("127.0.0.0/8").expect("valid CIDR"),
            Cidr::parse("::1").expect("valid CIDR"),
        ],
        advertised_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        sip_port: 5060,
        codecs: vec!["PCMU".into(), "PCMA".into()],
        telephone_event_pt: 101,
        timers: TimerConfig::default(),
        rtp_timeout: Duration::from_secs(5),
        queues: vec![hotline::acd::QueueConfig::new("general")],
        not_ready_reasons: vec!["break".into()],
        sip_realm: "hotline".into(),
        rules: hotline::acd::Rules::default(),
        webrtc: None,
        self_sip: None,
        record: std::sync::Arc::new(hotline::config::RecordCalls::All),
        outbound: None,
    }
}

/// The flow fuzzed calls run: a lookup (answered "not found" at once), a
/// menu, a collect with a pattern and a message, so keys and timeouts reach
/// every kind of waiting node.
const FUZZ_FLOW: &str = r#"start = "find"
[node.find]
kind = "lookup"
what = "customer"
key = "${caller}"
found = "menu"
not_found = "menu"
[node.menu]
kind = "menu"
prompt = "welcome"
options = { "1" = "collect", "2" = "message" }
timeout = "2s"
tries = 2
invalid = "goodbye"
after_retries = "bye"
[node.collect]
kind = "collect"
prompt = "you-entered"
into = "n"
max = 8
pattern = "_X."
timeout = "3s"
inter_digit_timeout = "2s"
tries = 2
next = "say"
after_retries = "bye"
[node.say]
kind = "say"
value = "${n}"
as = "digits"
next = "bye"
[node.message]
kind = "message"
max = "3s"
next = "bye"
[node.bye]
kind = "hangup"
prompt = "goodbye"
"#;

/// The fuzz flow with every prompt it needs, 30 ms of a quiet tone each
/// (two RTP frames).
fn engine_catalog() -> Arc<IvrCatalog> {
    let mut set = PromptSet::new();
    let names = [
        "welcome",
        "you-entered",
        "goodbye",
        "beep",
        "digit-star",
        "digit-pound",
    ];
    let digits = (0..10).map(|d| format!("digit-{d}"));
    for name in names.into_iter().map(str::to_owned).chain(digits) {
        set.insert(Prompt::new(name, vec![100_i16; 240]));
    }
    Arc::new(
        IvrCatalog::single_flow(FUZZ_FLOW, set, "en", Vec::new()).expect("the fuzz flow is valid"),
    )
}

/// What the harness saw the engine ask for.
#[derive(Default)]
struct Seen {
    /// Calls whose media was opened, newest last.
    calls: Vec<CallKey>,
    opened: HashMap<CallKey, u32>,
    closed: HashMap<CallKey, u32>,
    arrived: HashMap<String, u32>,
    ended: HashMap<String, u32>,
    /// `Digits` records (the caller's key presses reached the call flow).
    digits: usize,
    /// The To tag of our latest SIP response.
    tag: Option<Vec<u8>>,
}

/// The value of `tag=` in the To header of a response we sent.
fn to_tag(bytes: &[u8]) -> Option<Vec<u8>> {
    if !bytes.starts_with(b"SIP/2.0 ") {
        return None;
    }
    let line = bytes
        .split(|&b| b == b'\n')
        .find(|l| l.len() > 3 && l[..3].eq_ignore_ascii_case(b"To:"))?;
    let at = line.windows(5).position(|w| w == b";tag=")? + 5;
    let tag: Vec<u8> = line[at..]
        .iter()
        .copied()
        .take_while(|b| !matches!(b, b';' | b'\r' | b'>' | b' ' | b','))
        .collect();
    (!tag.is_empty()).then_some(tag)
}

/// Drains the engine's outputs, answering `OpenMedia` at once.
fn drain_engine(engine: &mut Engine, now: Instant, seen: &mut Seen) {
    while let Some(out) = engine.poll_output() {
        match out {
            Output::Transmit { bytes, .. } => {
                if let Some(tag) = to_tag(&bytes) {
                    seen.tag = Some(tag);
                }
            }
            Output::OpenMedia { call } => {
                *seen.opened.entry(call).or_default() += 1;
                seen.calls.push(call);
                engine.media_opened(now, call, LOCAL_RTP);
            }
            Output::Rtp { .. } => {}
            Output::CloseMedia { call } => *seen.closed.entry(call).or_default() += 1,
            Output::Record(RecordOp::Arrived { call_id, .. }) => {
                *seen.arrived.entry(call_id).or_default() += 1;
            }
            Output::Record(RecordOp::Ended { call_id, .. }) => {
                *seen.ended.entry(call_id).or_default() += 1;
            }
            Output::Record(RecordOp::Digits { .. }) => seen.digits += 1,
            Output::Record(_) => {}
            Output::Lookup { call, token, .. } => {
                engine.lookup_done(now, call, token, LookupAnswer::NotFound);
            }
            // A REGISTER's user is unknown; callers are nobody special.
            Output::Credentials { token, .. } => engine.credentials_done(now, token, None),
            Output::Standing { call, .. } => engine.standing_done(now, call, false, false),
            Output::MessageStart { .. }
            | Output::MessageAudio { .. }
            | Output::MessageEnd { .. }
            | Output::RecordingStart { .. }
            | Output::RecordingAudio { .. }
            | Output::RecordingEnd { .. }
            | Output::Cti { .. }
            | Output::Offer { .. }
            | Output::Attempted(_)
            | Output::CallbackRequest { .. } => {}
        }
    }
}

/// Splits `data` at every separator.
fn segments<'a>(data: &'a [u8], separator: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let data = rest?;
        match data.windows(separator.len()).position(|w| w == separator) {
            Some(at) => {
                rest = Some(&data[at + separator.len()..]);
                Some(&data[..at])
            }
            None => {
                rest = None;
                Some(data)
            }
        }
    })
}

/// Replaces every `$TAG` with `tag`.
fn with_tag(segment: &[u8], tag: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(segment.len());
    let mut rest = segment;
    while let Some(at) = rest
        .windows(TAG_PLACEHOLDER.len())
        .position(|w| w == TAG_PLACEHOLDER)
    {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(tag);
        rest = &rest[at + TAG_PLACEHOLDER.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// An `Engine` fed the input's segments (split at [`ENGINE_SEPARATOR`], at
/// most 16, 20 ms apart): one starting with an RTP version-2 byte goes to
/// the newest call's media socket, any other is a SIP datagram from an
/// allowed source. Then time jumps an hour at a time until the engine has
/// no deadline left; by then every call must have ended (one Arrived and
/// one Ended record each, media opened and closed once) and no call or
/// transaction may be left.
pub fn engine(data: &[u8]) {
    engine_run(data);
}

/// What one [`engine`] run reached, for checking that seeds get somewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineRun {
    /// Calls whose media was opened.
    pub calls: usize,
    /// `Digits` records written.
    pub digit_records: usize,
}

/// [`engine`], returning what the run reached.
pub fn engine_run(data: &[u8]) -> EngineRun {
    let t0 = Instant::now();
    let mut engine = Engine::new(engine_config(), engine_catalog(), t0, 1_700_000_000_000, 7);
    let source = Peer {
        addr: CARRIER,
        transport: Transport::Udp,
    };
    let mut seen = Seen::default();
    let mut now = t0;
    for segment in segments(data, ENGINE_SEPARATOR).take(16) {
        if segment.first().is_some_and(|b| b >> 6 == 2) {
            if let Some(&call) = seen.calls.last() {
                engine.handle_rtp(now, call, CARRIER_RTP, segment);
            }
        } else {
            let segment = match &seen.tag {
                Some(tag) => with_tag(segment, tag),
                None => segment.to_vec(),
            };
            engine.handle_sip(now, &segment, source);
        }
        drain_engine(&mut engine, now, &mut seen);
        now += Duration::from_millis(20);
        if engine.poll_timeout().is_some_and(|t| t <= now) {
            engine.handle_timeout(now);
            drain_engine(&mut engine, now, &mut seen);
        }
    }
    for _ in 0..64 {
        if engine.poll_timeout().is_none() {
            break;
        }
        now += Duration::from_secs(3600);
        engine.handle_timeout(now);
        drain_engine(&mut engine, now, &mut seen);
    }

    assert_eq!(engine.active_calls(), 0, "a call outlived every timer");
    assert!(engine.is_idle(), "a call or transaction was leaked");
    assert_eq!(engine.poll_timeout(), None, "an idle engine has a deadline");
    for (call, opened) in &seen.opened {
        assert_eq!(*opened, 1, "media of call {call} opened {opened} times");
        let closed = seen.closed.get(call).copied().unwrap_or(0);
        assert_eq!(closed, 1, "media of call {call} closed {closed} times");
    }
    for call in seen.closed.keys() {
        assert!(
            seen.opened.contains_key(call),
            "closed unopened media {call}"
        );
    }
    for (id, arrived) in &seen.arrived {
        assert_eq!(*arrived, 1, "call {id} arrived {arrived} times");
        let ended = seen.ended.get(id).copied().unwrap_or(0);
        assert_eq!(ended, 1, "call {id} ended {ended} times");
    }
    for id in seen.ended.keys() {
        assert!(
            seen.arrived.contains_key(id),
            "call {id} ended, never arrived"
        );
    }
    EngineRun {
        calls: seen.opened.len(),
        digit_records: seen.digits,
    }
}

/// Flows [`flow`] accepted and walked (the regression test checks the demo
/// seed gets that far).
pub static FLOWS_ACCEPTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The flow loader on arbitrary text (as the main flow, with the demo
/// prompts and a transfer allow-list), then — when it accepts the flow —
/// the interpreter walking it under simulated time with a few keys, every
/// prompt list played to its end and every lookup answered "not found":
/// no panic, and the walk ends or waits (never spins).
pub fn flow(data: &[u8]) {
    use hotline::ivr::pattern::DigitPattern;
    use hotline::ivr::{Clock, Effect, Ivr, Sources, Start, load};
    use std::collections::{BTreeMap, BTreeSet};

    let text = String::from_utf8_lossy(data);
    let names: BTreeSet<String> = include_str!("../ivr-flows/prompts/prompts.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split('\t').next())
        .filter(|n| !n.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let allow = vec![DigitPattern::parse("_0571XXXXXXXX").expect("pattern")];
    let sources = Sources {
        flows: vec![("ivr-flows/hotline.toml".into(), text.into_owned())],
        calendars: BTreeMap::from([(
            "calendars/cn-2026.toml".to_owned(),
            include_str!("../ivr-flows/calendars/cn-2026.toml").to_owned(),
        )]),
        prompts: BTreeMap::from([("en".to_owned(), names.clone()), ("zh".to_owned(), names)]),
        transfer_allow: allow.clone(),
        main: "hotline".into(),
    };
    let Ok(flows) = load(&sources) else {
        return;
    };
    FLOWS_ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut ivr = Ivr::new(Start {
        flows: std::sync::Arc::new(flows),
        flow: None,
        language: "zh".into(),
        transfer_allow: allow.into(),
        caller: "13800138000".into(),
        dialled: "4008001234".into(),
        call_id: "fuzz".into(),
    });
    let t0 = Instant::now();
    let mut clock = Clock {
        now: t0,
        wall_ms: 1_795_572_000_000,
    };
    ivr.start(clock);
    let keys = ['1', '3', '0', '#', '9'];
    for step in 0..200 {
        let mut effects = 0;
        while let Some(e) = ivr.poll_effect() {
            effects += 1;
            assert!(effects < 10_000, "the interpreter spins");
            match e {
                Effect::Play { token, .. } => ivr.on_playback_done(clock, token),
                Effect::Lookup { token, .. } => {
                    ivr.on_lookup(clock, token, hotline::ivr::LookupAnswer::NotFound)
                }
                Effect::Transfer { .. } => ivr.on_transfer_failed(clock, "fuzz"),
                _ => {}
            }
        }
        if ivr.is_over() {
            return;
        }
        if step % 3 == 0 {
            ivr.on_digit(clock, keys[step % keys.len()]);
        }
        clock.now += Duration::from_secs(7);
        clock.wall_ms += 7_000;
        ivr.handle_timeout(clock);
    }
}
