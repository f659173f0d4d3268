//! Agents whose phone is their browser page, under simulated time: the
//! page is a [`TestBrowser`] (an `rtc` peer offering what Chrome offers)
//! whose datagrams the [`Sim`] passes to and from its leg's socket. The
//! caller is a SIP caller queued by the IVR, as in the ACD tests.

use super::acd::*;
use super::*;
use super::{CALLER_NUMBER, identify, prompt_frequency};
use crate::acd::{AgentId, Strategy};
use crate::cti::Event;
use crate::engine::WebRtcConfig;
use crate::media::dtmf::DtmfReceiver;
use crate::media::webrtc::Identity;
use crate::media::webrtc::test_audio::{send_key, send_tone};
use crate::media::webrtc::test_browser::{TestBrowser, codec};

const PAGE: &str = "127.0.0.1:40000";

/// The ACD sim with browser softphones; a page's audio is waited for
/// 10 s.
fn softphone_sim() -> Sim {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let webrtc = WebRtcConfig {
        identity: Identity::generate().expect("a DTLS certificate"),
        ice_servers: vec![],
        reattach: secs(10),
    };
    // The engine was made without it: make it again, same flow.
    let mut cfg = config();
    cfg.queues = sim.engine.cfg.queues.clone();
    cfg.engine.webrtc = Some(webrtc);
    let catalog = sim.engine.catalog.clone();
    sim.engine = Engine::new(cfg.engine, catalog, sim.now, 1_700_000_000_000, 7);
    sim
}

/// Agent 1 signs on with the page as their phone and goes ready.
fn page_agent(sim: &mut Sim) {
    sign_on(sim, 1, "ann");
    let no_phone = command(sim, 1, serde_json::json!({"type": "ready"}));
    assert_eq!(error_code(&no_phone), "no_phone");
    let ok = command(sim, 1, serde_json::json!({"type": "softphone"}));
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
    let ok = command(sim, 1, serde_json::json!({"type": "ready"}));
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
}

/// The page offers its media for `call`; the browser takes our answer and
/// is wired to the leg's socket.
fn offer_media(sim: &mut Sim, agent: AgentId, call: &str) -> TestBrowser {
    let mut browser = TestBrowser::new(sim.now, PAGE.parse().unwrap());
    let offer = browser.offer(sim.now);
    let ok = command(
        sim,
        agent,
        serde_json::json!({"type": "media_offer", "call": call, "sdp": offer, "id": "m"}),
    );
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
    let events = events_of(sim, agent);
    let Some(Event::MediaAnswer { sdp, .. }) = events.iter().rev().nth(1) else {
        panic!("media_answer before ok: {events:?}");
    };
    browser.accept(sim.now, sdp);
    browser
}

/// The leg and every other are gone, the leg's socket closed once.
fn assert_gone(sim: &Sim, leg: CallKey) {
    assert!(sim.engine.legs.is_empty(), "legs left");
    assert_eq!(sim.closes.iter().filter(|(_, k)| *k == leg).count(), 1);
}

/// The `media` states the agent's page was told, in order.
fn media_states(sim: &Sim, agent: AgentId) -> Vec<&'static str> {
    events_of(sim, agent)
        .iter()
        .filter_map(|e| match e {
            Event::Media { state, .. } => Some(*state),
            _ => None,
        })
        .collect()
}

/// Speaks `hz` into the page and `caller_hz` into the caller's line for
/// `frames` packets.
fn talk(sim: &mut Sim, leg: CallKey, call: CallKey, hz: f64, caller_hz: f64, frames: u16) {
    for seq in 0..frames {
        if let Some(b) = sim.browsers.get_mut(&leg) {
            send_tone(b, sim.now, hz);
        }
        sim.rtp_in(call, &tone_packet(seq, caller_hz));
        sim.advance(ms(20));
    }
}

/// How many 20 ms packets near `hz` the caller got after `since`.
fn caller_heard(sim: &Sim, call: CallKey, since: Duration, hz: f64) -> usize {
    sim.rtp_of(call)
        .iter()
        .filter(|p| p.at > since && p.header.payload_type == 0)
        .filter(|p| (frequency(&p.payload) - hz).abs() < 60.0)
        .count()
}

/// How many packets near `hz` the page got since it had `from` packets.
fn page_heard(sim: &Sim, leg: CallKey, from: usize, hz: f64) -> usize {
    sim.browsers[&leg].received[from..]
        .iter()
        .filter(|(pt, p)| *pt == 0 && (frequency(p) - hz).abs() < 60.0)
        .count()
}

/// A caller queued, offered to the page agent: the caller's call, its id
/// and the leg.
fn ringing_page(sim: &mut Sim, caller: &mut Caller) -> (CallKey, String, CallKey) {
    page_agent(sim);
    let call = queued_caller(sim, caller);
    sim.advance(ms(100));
    let (agent, view) = sim.offers.last().cloned().expect("an offer");
    assert_eq!(agent, 1);
    assert_eq!(states_of(sim, 1).last(), Some(&"ringing"));
    let leg = leg_key(sim);
    assert_ne!(leg, call);
    // No SIP at all goes to the agent: the page rings on `offered`.
    assert!(sim.requests(rsip::Method::Invite).is_empty());
    (call, view.id, leg)
}

/// The page answers a ringing call: media first, then the click.
fn answered_page(sim: &mut Sim, caller: &mut Caller) -> (CallKey, String, CallKey) {
    let (call, id, leg) = ringing_page(sim, caller);
    let browser = offer_media(sim, 1, &id);
    sim.browsers.insert(leg, browser);
    sim.advance(ms(500));
    assert_eq!(media_states(sim, 1), ["connected"]);
    assert!(sim.browsers[&leg].connected);
    // Connected but not answered: still ringing, the caller still waits.
    assert_eq!(states_of(sim, 1).last(), Some(&"ringing"));
    let ok = command(sim, 1, serde_json::json!({"type": "answer", "call": id}));
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
    assert!(
        events_of(sim, 1)
            .iter()
            .any(|e| matches!(e, Event::Answered { call } if *call == id))
    );
    assert_eq!(states_of(sim, 1).last(), Some(&"on_call"));
    (call, id, leg)
}

#[test]
fn a_page_rings_is_answered_and_the_voices_cross() {
    let mut sim = softphone_sim();
    let mut caller = Caller::new(Transport::Udp, "page");
    let (call, _, leg) = answered_page(&mut sim, &mut caller);

    let start = sim.elapsed();
    let before = sim.browsers[&leg].received.len();
    talk(&mut sim, leg, call, 440.0, 1000.0, 25);
    assert!(
        caller_heard(&sim, call, start, 440.0) >= 20,
        "the caller hears the page's 440 Hz"
    );
    assert!(
        page_heard(&sim, leg, before, 1000.0) >= 20,
        "the page hears the caller's 1 kHz"
    );

    // The agent hangs up from the page: the caller is hung up, the leg's
    // peer and socket go.
    let id = sim.engine.calls[&call].id.clone();
    command(
        &mut sim,
        1,
        serde_json::json!({"type": "hang_up", "call": id}),
    );
    sim.only_bye();
    assert_eq!(states_of(&sim, 1).last(), Some(&"wrap_up"));
    assert_gone(&sim, leg);
}

#[test]
fn keys_on_the_pages_keypad_reach_the_caller_as_rfc_4733() {
    let mut sim = softphone_sim();
    let mut caller = Caller::new(Transport::Udp, "keys");
    let (call, _, leg) = answered_page(&mut sim, &mut caller);
    talk(&mut sim, leg, call, 440.0, 1000.0, 5);
    let start = sim.elapsed();
    for key in ['5', '#'] {
        send_key(sim.browsers.get_mut(&leg).unwrap(), sim.now, key);
        sim.drain();
        talk(&mut sim, leg, call, 440.0, 1000.0, 15);
    }
    let mut keys = DtmfReceiver::new();
    let mut got = String::new();
    for p in sim.rtp_of(call).iter().filter(|p| p.at > start) {
        if p.header.payload_type == 101
            && let Ok(Some(d)) = keys.handle(&p.header, &p.payload)
        {
            got.push(d.digit);
        }
    }
    assert_eq!(got, "5#");
}

#[test]
fn a_reloaded_page_gets_the_same_call_back_and_the_caller_hears_music_meanwhile() {
    let mut sim = softphone_sim();
    let mut caller = Caller::new(Transport::Udp, "reload");
    let (call, id, leg) = answered_page(&mut sim, &mut caller);
    talk(&mut sim, leg, call, 440.0, 1000.0, 10);

    // The page reloads: its browser stops without a word, its screen drops.
    sim.browser_gone(leg);
    sim.engine.agent_disconnected(sim.now, 1);
    sim.drain();
    // The page's websocket closing is enough: music at once, not after 2 s.
    assert_eq!(media_states(&sim, 1), ["connected", "lost"]);
    let gone = sim.elapsed();
    talk(&mut sim, leg, call, 440.0, 1000.0, 150);
    let music = sim
        .rtp_of(call)
        .into_iter()
        .find(|p| p.at > gone && identify(p.header.payload_type, &p.payload) == "hold-music")
        .expect("hold music");
    assert!(
        music.at - gone <= ms(60),
        "music {:?} after the page went",
        music.at - gone
    );
    let heard = sim.heard(call);
    let last = heard.last().expect("audio");
    assert!(last.0 == "hold-music" && last.1 > 5, "{heard:?}");
    // The call goes on: nobody hung up, the agent still has it.
    assert!(sim.requests(rsip::Method::Bye).is_empty());
    assert_eq!(states_of(&sim, 1).last(), Some(&"on_call"));

    // The page is back: hello says on_call with the call; it offers media
    // again for the same call and the voices cross again.
    sign_on(&mut sim, 1, "ann");
    let hello = events_of(&sim, 1)
        .into_iter()
        .rev()
        .find(|e| matches!(e, Event::Hello { .. }))
        .unwrap();
    let Event::Hello {
        state,
        call: Some(view),
        softphone,
        ..
    } = hello
    else {
        panic!("{hello:?}");
    };
    assert_eq!((state.name, view.id.as_str()), ("on_call", id.as_str()));
    assert!(softphone.is_some());
    command(&mut sim, 1, serde_json::json!({"type": "softphone"}));
    let browser = offer_media(&mut sim, 1, &id);
    sim.browsers.insert(leg, browser);
    sim.gone_browsers.retain(|&l| l != leg);
    sim.advance(ms(500));
    assert_eq!(media_states(&sim, 1), ["connected", "lost", "connected"]);
    let back = sim.elapsed();
    let before = sim.browsers[&leg].received.len();
    talk(&mut sim, leg, call, 440.0, 1000.0, 25);
    assert!(caller_heard(&sim, call, back, 440.0) >= 20);
    assert!(page_heard(&sim, leg, before, 1000.0) >= 20);
    let timeline: Vec<String> = sim
        .ops()
        .iter()
        .filter_map(|op| match op {
            RecordOp::Event { kind, .. } => Some(kind.clone()),
            _ => None,
        })
        .collect();
    assert!(
        timeline.contains(&"agent-audio-lost".into()) && timeline.contains(&"agent-audio".into()),
        "{timeline:?}"
    );
}

#[test]
fn a_page_that_never_comes_back_is_a_vanished_phone() {
    let mut sim = softphone_sim();
    let mut caller = Caller::new(Transport::Udp, "gone");
    let (call, _, leg) = answered_page(&mut sim, &mut caller);
    sim.browser_gone(leg);
    sim.engine.agent_disconnected(sim.now, 1);
    sim.drain();
    // 2 s to notice, 10 s to wait for the page.
    talk(&mut sim, leg, call, 440.0, 1000.0, 650);
    assert!(
        events_of(&sim, 1)
            .iter()
            .any(|e| matches!(e, Event::Ended { cause, .. } if cause == "agent-vanished"))
    );
    // The caller waits again at the front, hearing music; nobody hung up.
    assert!(sim.requests(rsip::Method::Bye).is_empty());
    assert!(
        sim.engine.calls[&call]
            .acd
            .as_ref()
            .is_some_and(|p| p.agent.is_none())
    );
    assert_gone(&sim, leg);
}

#[test]
fn bad_media_gets_clear_errors_and_the_call_rings_on() {
    let mut sim = softphone_sim();
    let mut caller = Caller::new(Transport::Udp, "bad");
    let (_, id, leg) = ringing_page(&mut sim, &mut caller);
    let send = |sim: &mut Sim, json: serde_json::Value| command(sim, 1, json);

    // A browser that offers no G.711.
    let opus = codec("audio/opus", 48000, 2, "minptime=10;useinbandfec=1", 111);
    let mut b = TestBrowser::with_codecs(sim.now, PAGE.parse().unwrap(), &[opus]);
    let offer = b.offer(sim.now);
    let e = send(
        &mut sim,
        serde_json::json!({"type": "media_offer", "call": id, "sdp": offer}),
    );
    assert_eq!(error_code(&e), "bad_media");
    let Event::Error { message, .. } = e else {
        unreachable!()
    };
    assert!(message.contains("G.711"), "{message}");
    // Garbage, a candidate before any offer, a garbage candidate.
    for json in [
        serde_json::json!({"type": "media_offer", "call": id, "sdp": "v=0 nonsense"}),
        serde_json::json!({"type": "ice_candidate", "call": id, "candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ host"}),
    ] {
        assert_eq!(error_code(&send(&mut sim, json)), "bad_media");
    }
    let browser = offer_media(&mut sim, 1, &id);
    sim.browsers.insert(leg, browser);
    let e = send(
        &mut sim,
        serde_json::json!({"type": "ice_candidate", "call": id, "candidate": "candidate:x garbage"}),
    );
    assert_eq!(error_code(&e), "bad_media");
    // Someone else's call, no call at all.
    for (json, code) in [
        (
            serde_json::json!({"type": "media_offer", "call": "nope", "sdp": "v=0"}),
            "no_such_call",
        ),
        (
            serde_json::json!({"type": "answer", "call": "nope"}),
            "no_such_call",
        ),
    ] {
        assert_eq!(error_code(&send(&mut sim, json)), code);
    }
    // Through all of it the call rang on; the page still answers it.
    assert_eq!(states_of(&sim, 1).last(), Some(&"ringing"));
    sim.advance(ms(500));
    let ok = send(&mut sim, serde_json::json!({"type": "answer", "call": id}));
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
    assert_eq!(states_of(&sim, 1).last(), Some(&"on_call"));
}

#[test]
fn softphone_and_answer_are_refused_where_they_cannot_work() {
    // A server without browser audio.
    let mut sim = acd_sim(Strategy::LongestIdle);
    sign_on(&mut sim, 1, "ann");
    let e = command(&mut sim, 1, serde_json::json!({"type": "softphone"}));
    assert_eq!(error_code(&e), "no_softphone");
    let Event::Hello { softphone, .. } = events_of(&sim, 1)[0].clone() else {
        panic!()
    };
    assert!(softphone.is_none());

    // A desk phone's call is answered with the handset, not the page.
    let mut sim = softphone_sim();
    let _phone = DeskPhone::register(&mut sim, 1, "ann", 6001);
    sign_on(&mut sim, 1, "ann");
    command(&mut sim, 1, serde_json::json!({"type": "ready"}));
    let mut caller = Caller::new(Transport::Udp, "desk");
    queued_caller(&mut sim, &mut caller);
    sim.advance(ms(100));
    let (_, view) = sim.offers.last().cloned().expect("an offer");
    let e = command(
        &mut sim,
        1,
        serde_json::json!({"type": "answer", "call": view.id}),
    );
    assert_eq!(error_code(&e), "wrong_state");
    let e = command(
        &mut sim,
        1,
        serde_json::json!({"type": "media_offer", "call": view.id, "sdp": "v=0"}),
    );
    assert_eq!(error_code(&e), "wrong_state");
}

#[test]
fn a_ring_withdrawn_closes_the_pages_media() {
    let mut sim = softphone_sim();
    let mut caller = Caller::new(Transport::Udp, "withdrawn");
    let (_, id, leg) = ringing_page(&mut sim, &mut caller);
    let browser = offer_media(&mut sim, 1, &id);
    sim.browsers.insert(leg, browser);
    sim.advance(ms(500));
    let e = command(
        &mut sim,
        1,
        serde_json::json!({"type": "reject", "call": id}),
    );
    assert!(matches!(e, Event::Ok { .. }), "{e:?}");
    assert!(!sim.engine.legs.contains_key(&leg));
    assert_eq!(sim.closes.iter().filter(|(_, k)| *k == leg).count(), 1);
    // Nobody else is there: the same page rings again, on a new leg.
    assert_eq!(states_of(&sim, 1).last(), Some(&"ringing"));
    assert_ne!(leg_key(&sim), leg);
}

#[test]
fn a_consulted_page_answers_talks_and_hangs_up_the_consultation() {
    let mut sim = softphone_sim();
    // Ann on a desk phone takes the call; Bob works on the page.
    let ann = DeskPhone::register(&mut sim, 1, "ann", 6001);
    sign_on(&mut sim, 1, "ann");
    command(&mut sim, 1, serde_json::json!({"type": "ready"}));
    let mut caller = Caller::new(Transport::Udp, "consult");
    let call = queued_caller(&mut sim, &mut caller);
    sim.advance(ms(100));
    ann.answer(&mut sim);
    sign_on(&mut sim, 2, "bob");
    command(&mut sim, 2, serde_json::json!({"type": "softphone"}));
    command(&mut sim, 2, serde_json::json!({"type": "ready"}));
    let id = sim.engine.calls[&call].id.clone();
    let ok = command(
        &mut sim,
        1,
        serde_json::json!({"type": "consult", "call": id, "agent": 2}),
    );
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
    let leg = leg_key(&sim);
    let browser = offer_media(&mut sim, 2, &id);
    sim.browsers.insert(leg, browser);
    sim.advance(ms(500));
    let ok = command(
        &mut sim,
        2,
        serde_json::json!({"type": "answer", "call": id}),
    );
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
    assert!(
        events_of(&sim, 1)
            .iter()
            .any(|e| matches!(e, Event::Consult { stage, .. } if *stage == "talking"))
    );
    // Ann's voice reaches Bob's page.
    let before = sim.browsers[&leg].received.len();
    let ann_leg = sim.engine.calls[&call].acd.as_ref().unwrap().leg.unwrap();
    for seq in 0..25 {
        ann.talk(&mut sim, ann_leg, &tone_packet(seq, 700.0));
        sim.advance(ms(20));
    }
    assert!(page_heard(&sim, leg, before, 700.0) >= 15);
    // Bob hangs up on the page: the consultation ends, Ann keeps the caller.
    let ok = command(
        &mut sim,
        2,
        serde_json::json!({"type": "hang_up", "call": id}),
    );
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
    assert!(events_of(&sim, 1).iter().any(|e| matches!(
        e,
        Event::Consult { stage, why: Some(why), .. } if *stage == "ended" && why == "agent-bye"
    )));
    assert_eq!(states_of(&sim, 2).last(), Some(&"ready"));
    assert_eq!(states_of(&sim, 1).last(), Some(&"on_hold"));
    assert!(!sim.engine.legs.contains_key(&leg));
}

#[test]
fn a_browser_test_caller_walks_in_through_the_trunk_and_talks_to_a_page_agent() {
    let mut sim = softphone_sim();
    sim.loopback = true;
    page_agent(&mut sim);

    // The caller's page: its leg opens a socket, its offer is answered.
    let id = sim
        .engine
        .start_test_call(sim.now, CALLER_NUMBER)
        .expect("a test call");
    sim.drain();
    let caller_leg = leg_key(&sim);
    let mut page = TestBrowser::new(sim.now, "127.0.0.1:41000".parse().unwrap());
    let offer = page.offer(sim.now);
    let answer = sim
        .engine
        .test_call_offer(sim.now, &id, &offer)
        .expect("an answer");
    sim.drain();
    page.accept(sim.now, &answer);
    sim.browsers.insert(caller_leg, page);
    assert_eq!(
        sim.engine.test_call_status(&id).unwrap().state,
        "connecting"
    );

    // Its audio connects: the line calls our number from our own socket,
    // the IVR answers, the caller hears the welcome and waits in the queue.
    sim.advance(ms(800));
    let status = sim.engine.test_call_status(&id).unwrap();
    assert_eq!(status.state, "answered", "{status:?}");
    let call_id = status.call_id.expect("the call the line made");
    let call = *sim
        .engine
        .calls
        .iter()
        .find(|(_, c)| c.id == call_id)
        .map(|(k, _)| k)
        .expect("the call is up");
    assert_eq!(sim.engine.calls[&call].view().caller, CALLER_NUMBER);
    let heard_welcome = sim.browsers[&caller_leg]
        .received
        .iter()
        .filter(|(pt, p)| *pt == 0 && (frequency(p) - prompt_frequency(0)).abs() < 40.0)
        .count();
    assert!(heard_welcome >= 3, "the page hears the welcome prompt");

    // Offered to the page agent, who answers on their page.
    let (agent, view) = sim.offers.last().cloned().expect("an offer");
    assert_eq!((agent, view.id.as_str()), (1, call_id.as_str()));
    let agent_leg = leg_key(&sim);
    let agent_page = offer_media(&mut sim, 1, &call_id);
    sim.browsers.insert(agent_leg, agent_page);
    sim.advance(ms(500));
    command(
        &mut sim,
        1,
        serde_json::json!({"type": "answer", "call": call_id}),
    );
    assert_eq!(states_of(&sim, 1).last(), Some(&"on_call"));

    // Page to page through the trunk: 440 Hz one way, 1 kHz the other.
    let (c0, a0) = (
        sim.browsers[&caller_leg].received.len(),
        sim.browsers[&agent_leg].received.len(),
    );
    for _ in 0..40 {
        let now = sim.now;
        send_tone(sim.browsers.get_mut(&caller_leg).unwrap(), now, 440.0);
        send_tone(sim.browsers.get_mut(&agent_leg).unwrap(), now, 1000.0);
        sim.advance(ms(20));
    }
    assert!(
        page_heard(&sim, agent_leg, a0, 440.0) >= 25,
        "the agent hears the caller"
    );
    assert!(
        page_heard(&sim, caller_leg, c0, 1000.0) >= 25,
        "the caller hears the agent"
    );

    // The caller's page hangs up: the agent's call ends, nothing is left.
    sim.engine.hang_up_test_call(sim.now, &id).unwrap();
    sim.drain();
    sim.advance(secs(2));
    assert_eq!(sim.engine.test_call_status(&id).unwrap().state, "ended");
    assert!(
        events_of(&sim, 1)
            .iter()
            .any(|e| matches!(e, Event::Ended { cause, .. } if cause == "caller-bye"))
    );
    assert!(sim.engine.calls.is_empty(), "the call is over");
    assert!(sim.engine.legs.is_empty(), "every leg is gone");
}

#[test]
fn test_calls_refuse_bad_callers_and_garbage_media() {
    let mut sim = softphone_sim();
    for bad in ["", "12", "abc", "+", "138001380001380013800138"] {
        assert_eq!(
            sim.engine.start_test_call(sim.now, bad),
            Err(crate::engine::TestCallError::BadCaller),
            "{bad:?}"
        );
    }
    let id = sim.engine.start_test_call(sim.now, "13800138000").unwrap();
    sim.drain();
    let leg = leg_key(&sim);
    let err = sim
        .engine
        .test_call_offer(sim.now, &id, "v=0 garbage")
        .unwrap_err();
    assert!(
        matches!(err, crate::engine::TestCallError::BadMedia(_)),
        "{err:?}"
    );
    sim.drain();
    assert_eq!(sim.engine.test_call_status(&id).unwrap().state, "ended");
    assert!(!sim.engine.legs.contains_key(&leg));
    assert_eq!(
        sim.engine.test_call_offer(sim.now, "tc-nope", "v=0"),
        Err(crate::engine::TestCallError::NotFound)
    );
    // A source outside the trunk list is still refused for anything else.
    let mut no_webrtc = acd_sim(Strategy::LongestIdle);
    assert_eq!(
        no_webrtc
            .engine
            .start_test_call(no_webrtc.now, "13800138000"),
        Err(crate::engine::TestCallError::NoWebRtc)
    );
    no_webrtc.drain();
}

#[test]
fn a_page_whose_audio_stops_without_a_word_is_noticed_after_two_seconds() {
    let mut sim = softphone_sim();
    let mut caller = Caller::new(Transport::Udp, "silent");
    let (call, _, leg) = answered_page(&mut sim, &mut caller);
    talk(&mut sim, leg, call, 440.0, 1000.0, 10);
    // The network between the page and us drops; its websocket stays up.
    sim.browser_gone(leg);
    let gone = sim.elapsed();
    talk(&mut sim, leg, call, 440.0, 1000.0, 90);
    assert_eq!(media_states(&sim, 1), ["connected"], "not lost before 2 s");
    talk(&mut sim, leg, call, 440.0, 1000.0, 20);
    assert_eq!(media_states(&sim, 1), ["connected", "lost"]);
    let music = sim
        .rtp_of(call)
        .into_iter()
        .find(|p| p.at > gone && identify(p.header.payload_type, &p.payload) == "hold-music")
        .expect("hold music");
    assert!(
        music.at - gone >= ms(1900) && music.at - gone <= ms(2200),
        "{:?}",
        music.at - gone
    );
}
