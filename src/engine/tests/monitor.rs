//! Listen, whisper and barge under simulated time: a caller (440 Hz), the
//! agent's desk phone (1 kHz) and the supervisor's desk phone (1.8 kHz)
//! each send their tone; what each of them is sent is measured tone by
//! tone, so every party is shown to hear exactly what the mode allows.

use super::acd::{DeskPhone, acd_sim, command, queued_caller, sign_on, tone_packet};
use super::*;
use crate::acd::Strategy;
use crate::cti::Event;
use crate::engine::{MonitorError, MonitorMode};

const CALLER_HZ: f64 = 440.0;
const AGENT_HZ: f64 = 1000.0;
const SUPERVISOR_HZ: f64 = 1800.0;
const ANN: i64 = 1;
const SUE: i64 = 9;

/// The share of the signal's energy at `hz` (Goertzel): 1.0 for a pure
/// tone, about 0.5 for each of two equal tones, near 0 when absent.
fn share(samples: &[i16], hz: f64) -> f64 {
    let n = samples.len() as f64;
    let w = TAU * hz / 8000.0;
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s0 = f64::from(x) + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    let energy: f64 = samples.iter().map(|&x| f64::from(x).powi(2)).sum();
    if energy == 0.0 {
        return 0.0;
    }
    2.0 * power / (n * energy)
}

/// What the three parties hear while each talks for 0.5 s.
struct Heard {
    caller: Vec<i16>,
    agent: Vec<i16>,
    supervisor: Vec<i16>,
}

struct Party {
    call: CallKey,
    agent_leg: CallKey,
    supervisor_leg: CallKey,
    ann: DeskPhone,
    sue: DeskPhone,
    seq: u16,
}

impl Party {
    fn talk(&mut self, sim: &mut Sim) -> Heard {
        let start = sim.elapsed();
        for _ in 0..25 {
            let seq = self.seq;
            self.seq += 1;
            sim.rtp_in(self.call, &tone_packet(seq, CALLER_HZ));
            self.ann
                .talk(sim, self.agent_leg, &tone_packet(seq, AGENT_HZ));
            self.sue
                .talk(sim, self.supervisor_leg, &tone_packet(seq, SUPERVISOR_HZ));
            sim.advance(ms(20));
        }
        // The first packets carry what was fed before the switch.
        let from = start + ms(100);
        let decode = |key: CallKey| -> Vec<i16> {
            let mut out = Vec::new();
            for p in sim.rtp_of(key).iter().filter(|p| p.at > from) {
                g711::decode_into(g711::Law::Pcmu, &p.payload, &mut out);
            }
            out
        };
        Heard {
            caller: decode(self.call),
            agent: decode(self.agent_leg),
            supervisor: decode(self.supervisor_leg),
        }
    }
}

/// Asserts that `who` hears the tones in `yes` and none of `no`.
fn hears(who: &str, samples: &[i16], yes: &[f64], no: &[f64]) {
    assert!(
        samples.len() >= 160 * 15,
        "{who} was sent {} samples",
        samples.len()
    );
    for &hz in yes {
        let s = share(samples, hz);
        assert!(s > 0.2, "{who} should hear {hz} Hz: share {s:.3}");
    }
    for &hz in no {
        let s = share(samples, hz);
        assert!(s < 0.01, "{who} must not hear {hz} Hz: share {s:.4}");
    }
}

fn invites_to(sim: &Sim, port: u16) -> usize {
    sim.sip
        .iter()
        .filter(|s| s.dest.addr.port() == port && s.method() == Some(rsip::Method::Invite))
        .count()
}

fn monitor_events(sim: &Sim) -> Vec<(String, String)> {
    sim.ops()
        .iter()
        .filter_map(|op| match op {
            RecordOp::Event { kind, detail, .. } if kind.starts_with("monitor") => {
                Some((kind.clone(), detail.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Ann talks to a caller; Sue's phone is registered.
fn talking(sim: &mut Sim) -> (Caller, String, Party) {
    let ann = DeskPhone::register(sim, ANN, "ann", 6001);
    let sue = DeskPhone::register(sim, SUE, "sue", 6009);
    sign_on(sim, ANN, "ann");
    let ready = command(sim, ANN, serde_json::json!({"type": "ready", "id": "r"}));
    assert!(matches!(ready, Event::Ok { .. }), "{ready:?}");
    let mut caller = Caller::new(Transport::Udp, "monitor");
    let call = queued_caller(sim, &mut caller);
    sim.advance(ms(100));
    let agent_leg = super::acd::leg_key(sim);
    ann.answer(sim);
    sim.stop_feeds();
    let id = sim.engine.calls[&call].id.clone();
    (
        caller,
        id,
        Party {
            call,
            agent_leg,
            supervisor_leg: 0,
            ann,
            sue,
            seq: 0,
        },
    )
}

#[test]
fn each_party_hears_exactly_what_listen_whisper_and_barge_allow() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let (mut caller, id, mut p) = talking(&mut sim);

    // Sue listens: her phone rings, and until she answers nothing changes.
    let status = sim.engine.monitor(sim.now, SUE, &id, MonitorMode::Listen);
    assert_eq!(status.map(|s| s.connected), Ok(false));
    sim.drain();
    p.supervisor_leg = super::acd::leg_key(&sim);
    assert_ne!(p.supervisor_leg, p.agent_leg);
    assert_eq!(invites_to(&sim, 6009), 1, "Sue's phone rings");
    p.sue.answer(&mut sim);
    // The wallboard shows who is in the call and how.
    let board = sim.engine.board(sim.now);
    let entry = board
        .calls
        .iter()
        .find(|c| c.id == id)
        .expect("on the board");
    assert_eq!(
        entry.monitor,
        Some(crate::wallboard::LiveMonitor {
            supervisor: SUE,
            username: "sue".into(),
            mode: "listen",
            connected: true
        })
    );

    let h = p.talk(&mut sim);
    hears(
        "listen: the supervisor",
        &h.supervisor,
        &[CALLER_HZ, AGENT_HZ],
        &[SUPERVISOR_HZ],
    );
    hears(
        "listen: the agent",
        &h.agent,
        &[CALLER_HZ],
        &[AGENT_HZ, SUPERVISOR_HZ],
    );
    hears(
        "listen: the caller",
        &h.caller,
        &[AGENT_HZ],
        &[CALLER_HZ, SUPERVISOR_HZ],
    );

    // Whisper: the agent hears Sue; the caller still does not.
    let status = sim.engine.monitor(sim.now, SUE, &id, MonitorMode::Whisper);
    assert_eq!(status.map(|s| s.connected), Ok(true));
    sim.drain();
    let h = p.talk(&mut sim);
    hears(
        "whisper: the supervisor",
        &h.supervisor,
        &[CALLER_HZ, AGENT_HZ],
        &[SUPERVISOR_HZ],
    );
    hears(
        "whisper: the agent",
        &h.agent,
        &[CALLER_HZ, SUPERVISOR_HZ],
        &[AGENT_HZ],
    );
    hears(
        "whisper: the caller",
        &h.caller,
        &[AGENT_HZ],
        &[CALLER_HZ, SUPERVISOR_HZ],
    );

    // Barge: all three talk.
    sim.engine
        .monitor(sim.now, SUE, &id, MonitorMode::Barge)
        .expect("barge");
    sim.drain();
    let h = p.talk(&mut sim);
    hears(
        "barge: the supervisor",
        &h.supervisor,
        &[CALLER_HZ, AGENT_HZ],
        &[SUPERVISOR_HZ],
    );
    hears(
        "barge: the agent",
        &h.agent,
        &[CALLER_HZ, SUPERVISOR_HZ],
        &[AGENT_HZ],
    );
    hears(
        "barge: the caller",
        &h.caller,
        &[AGENT_HZ, SUPERVISOR_HZ],
        &[CALLER_HZ],
    );

    // Back to listen: nobody hears Sue again, and her phone was rung once.
    sim.engine
        .monitor(sim.now, SUE, &id, MonitorMode::Listen)
        .expect("listen again");
    sim.drain();
    let h = p.talk(&mut sim);
    hears(
        "listen again: the agent",
        &h.agent,
        &[CALLER_HZ],
        &[AGENT_HZ, SUPERVISOR_HZ],
    );
    hears(
        "listen again: the caller",
        &h.caller,
        &[AGENT_HZ],
        &[CALLER_HZ, SUPERVISOR_HZ],
    );
    assert_eq!(invites_to(&sim, 6009), 1, "switching never rings again");
    assert!(!sim.engine.calls[&p.call].is_over(), "nobody was dropped");

    // Sue leaves: her phone gets a BYE; the others still talk.
    sim.take_sip();
    assert_eq!(sim.engine.stop_monitor(sim.now, SUE, &id), Ok(()));
    sim.drain();
    let byes: Vec<_> = sim
        .take_sip()
        .into_iter()
        .filter(|s| s.method() == Some(rsip::Method::Bye))
        .collect();
    assert_eq!(byes.len(), 1, "{byes:#?}");
    assert_eq!(byes[0].dest.addr.port(), 6009);
    sim.send(&answer_to(&byes[0], 200), byes[0].dest);
    let h = p.talk(&mut sim);
    hears(
        "after: the agent",
        &h.agent,
        &[CALLER_HZ],
        &[AGENT_HZ, SUPERVISOR_HZ],
    );
    hears(
        "after: the caller",
        &h.caller,
        &[AGENT_HZ],
        &[CALLER_HZ, SUPERVISOR_HZ],
    );

    // Every use is on the call's timeline, with who and which mode.
    let kinds: Vec<String> = monitor_events(&sim)
        .into_iter()
        .map(|(k, d)| format!("{k}: {d}"))
        .collect();
    assert_eq!(
        kinds,
        [
            "monitor: supervisor 9: listen (ringing)",
            "monitor: supervisor 9: listen (connected)",
            "monitor-mode: supervisor 9: listen → whisper",
            "monitor-mode: supervisor 9: whisper → barge",
            "monitor-mode: supervisor 9: barge → listen",
            "monitor-end: supervisor 9: stopped by the supervisor",
        ]
    );

    // The call ends; a barge a moment later is told so.
    let (bye, _) = caller.in_dialog("BYE", None);
    sim.send(&bye, caller.peer);
    assert_eq!(
        sim.engine.monitor(sim.now, SUE, &id, MonitorMode::Barge),
        Err(MonitorError::NoSuchCall)
    );
}

#[test]
fn the_supervisor_leaves_with_the_call_and_refusals_change_nothing() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let (mut caller, id, mut p) = talking(&mut sim);

    assert_eq!(
        sim.engine
            .monitor(sim.now, SUE, "no-such-call", MonitorMode::Listen),
        Err(MonitorError::NoSuchCall)
    );
    assert_eq!(
        sim.engine.monitor(sim.now, ANN, &id, MonitorMode::Listen),
        Err(MonitorError::OwnCall)
    );
    // Bob has no phone registered.
    assert_eq!(
        sim.engine.monitor(sim.now, 10, &id, MonitorMode::Listen),
        Err(MonitorError::NoPhone)
    );
    assert_eq!(
        sim.engine.stop_monitor(sim.now, SUE, &id),
        Err(MonitorError::NotInCall)
    );
    sim.engine
        .monitor(sim.now, SUE, &id, MonitorMode::Listen)
        .expect("listen");
    sim.drain();
    p.supervisor_leg = super::acd::leg_key(&sim);
    p.sue.answer(&mut sim);
    // A second supervisor is refused; Sue may not take calls meanwhile.
    let _bob = DeskPhone::register(&mut sim, 10, "bob", 6010);
    assert!(matches!(
        sim.engine.monitor(sim.now, 10, &id, MonitorMode::Barge),
        Err(MonitorError::Busy(why)) if why.contains("supervisor 9")
    ));
    sign_on(&mut sim, SUE, "sue");
    let ready = command(
        &mut sim,
        SUE,
        serde_json::json!({"type": "ready", "id": "r2"}),
    );
    assert!(
        matches!(&ready, Event::Error { code: "wrong_state", message, .. } if message.contains(&id)),
        "{ready:?}"
    );
    // Nothing of the refusals reached anyone: Sue still only listens.
    let h = p.talk(&mut sim);
    hears("the caller", &h.caller, &[AGENT_HZ], &[SUPERVISOR_HZ]);

    // The caller hangs up: Ann's and Sue's phones both get a BYE.
    sim.take_sip();
    let (bye, _) = caller.in_dialog("BYE", None);
    sim.send(&bye, caller.peer);
    let ports: Vec<u16> = sim
        .take_sip()
        .into_iter()
        .filter(|s| s.method() == Some(rsip::Method::Bye))
        .map(|s| s.dest.addr.port())
        .collect();
    assert!(ports.contains(&6001) && ports.contains(&6009), "{ports:?}");
    assert_eq!(sim.engine.monitor_view(p.call), None);
    let last = monitor_events(&sim).pop().expect("an end");
    assert_eq!(last.0, "monitor-end");
}
