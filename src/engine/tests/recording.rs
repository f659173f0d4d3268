//! Call recording in the engine, under simulated time: what the caller says
//! lands on the left channel, what they hear (prompts, the agent) on the
//! right, the file is as long as the call, a pause is silence, and the
//! policy decides which files are kept.

use super::acd::{
    DeskPhone, FLOW, acd_sim, command, events_of, leg_key, queued_caller, sign_on, tone_packet,
};
use super::*;
use crate::acd::{QueueConfig, Strategy};
use crate::config::RecordCalls;
use crate::cti::Event;

/// Zero crossings over `samples` → frequency.
fn hz(samples: &[i16]) -> f64 {
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] >= 0) != (w[1] >= 0))
        .count();
    crossings as f64 * 8000.0 / 2.0 / samples.len() as f64
}

fn left(pairs: &[(i16, i16)]) -> Vec<i16> {
    pairs.iter().map(|p| p.0).collect()
}

fn right(pairs: &[(i16, i16)]) -> Vec<i16> {
    pairs.iter().map(|p| p.1).collect()
}

/// Sample pairs from `from` to `to` (sim elapsed) of a recording that
/// started at `started` (sim elapsed).
fn span(r: &Recorded, started: Duration, from: Duration, to: Duration) -> &[(i16, i16)] {
    let at = |t: Duration| ((t - started).as_micros() * 8 / 1000) as usize;
    &r.pairs[at(from).min(r.pairs.len())..at(to).min(r.pairs.len())]
}

#[test]
fn the_caller_is_left_the_agent_right_a_pause_is_silence_and_the_file_lasts_the_call() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let phone = DeskPhone::register(&mut sim, 1, "ann", 6001);
    sign_on(&mut sim, 1, "ann");
    command(&mut sim, 1, serde_json::json!({"type": "ready"}));
    let mut caller = Caller::new(Transport::Udp, "rec");
    let call = queued_caller(&mut sim, &mut caller);
    sim.stop_feeds();
    let id = sim.engine.calls[&call].id.clone();
    let rec = &sim.recordings[&call];
    assert_eq!(
        rec.file,
        format!("recordings/2023/11/14/{id}.wav"),
        "by the answer's UTC date"
    );
    let started = Duration::from_millis((rec.started_at - 1_700_000_000_000) as u64);

    // The welcome prompt plays while the caller waits: it is on the right.
    sim.advance(ms(300));
    phone.answer(&mut sim);
    let leg = leg_key(&sim);

    // A second of talk: the caller's 440 Hz, the agent's 1 kHz.
    let talk = sim.elapsed();
    let mut seq = 0u16;
    let mut talk_for = |sim: &mut Sim, n: u16| {
        for _ in 0..n {
            sim.rtp_in(call, &tone_packet(seq, 440.0));
            phone.talk(sim, leg, &tone_packet(seq, 1000.0));
            sim.advance(ms(20));
            seq += 1;
        }
    };
    talk_for(&mut sim, 50);

    // The agent pauses for a card number, then resumes.
    let paused = sim.elapsed();
    let ok = command(
        &mut sim,
        1,
        serde_json::json!({"type": "pause_recording", "call": id}),
    );
    assert!(matches!(ok, Event::Ok { .. }), "{ok:?}");
    assert!(events_of(&sim, 1).iter().any(|e| matches!(
        e,
        Event::Recording { paused: true, by, .. } if by == "agent 1"
    )));
    talk_for(&mut sim, 25);
    let resumed = sim.elapsed();
    command(
        &mut sim,
        1,
        serde_json::json!({"type": "resume_recording", "call": id}),
    );
    talk_for(&mut sim, 25);

    let (bye, _) = caller.in_dialog("BYE", None);
    sim.send(&bye, caller.peer);
    let ended = sim.elapsed();

    let rec = &sim.recordings[&call];
    assert_eq!(rec.end, Some((true, vec![1])), "kept; agent 1 was heard");
    let expected = (ended - started).as_micros() as usize * 8 / 1000;
    assert!(
        rec.pairs.len().abs_diff(expected) <= 8,
        "{} sample pairs for {expected} of call",
        rec.pairs.len()
    );

    let welcome = span(rec, started, started + ms(20), started + ms(80));
    assert!(
        (hz(&right(welcome)) - prompt_frequency(0)).abs() < 30.0,
        "the welcome prompt on the right: {} Hz",
        hz(&right(welcome))
    );
    assert!(
        left(welcome).iter().all(|s| *s == 0),
        "the caller said nothing"
    );

    // Skip the bridge's first frames (its playout) at each boundary.
    let talking = span(rec, started, talk + ms(100), paused - ms(20));
    assert!(
        (hz(&left(talking)) - 440.0).abs() < 10.0,
        "{}",
        hz(&left(talking))
    );
    assert!(
        (hz(&right(talking)) - 1000.0).abs() < 10.0,
        "{}",
        hz(&right(talking))
    );

    let silent = span(rec, started, paused + ms(20), resumed);
    assert!(silent.len() > 3500);
    let loud: Vec<usize> = (0..silent.len()).filter(|i| silent[*i] != (0, 0)).collect();
    assert!(
        loud.is_empty(),
        "nothing of the paused span is in the file: {} of {} loud, from {:?} to {:?}",
        loud.len(),
        silent.len(),
        loud.first(),
        loud.last()
    );
    let after = span(rec, started, resumed + ms(100), ended - ms(20));
    assert!((hz(&left(after)) - 440.0).abs() < 10.0);
    assert!((hz(&right(after)) - 1000.0).abs() < 10.0);

    let kinds: Vec<(String, String)> = sim
        .ops()
        .iter()
        .filter_map(|op| match op {
            RecordOp::Event { kind, detail, .. } if kind.starts_with("recording-") => {
                Some((kind.clone(), detail.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("recording-paused".into(), "agent 1".into()),
            ("recording-resumed".into(), "agent 1".into())
        ]
    );
}

#[test]
fn only_calls_that_reach_a_recorded_queue_are_kept() {
    let mut cfg = config();
    cfg.queues = vec![QueueConfig::new("general"), QueueConfig::new("complaint")];
    cfg.record = Arc::new(RecordCalls::Queues(vec!["complaint".into()]));
    let mut sim = Sim::with_flow(cfg, FLOW, &[]);
    let mut caller = Caller::new(Transport::Udp, "general");
    let call = queued_caller(&mut sim, &mut caller);
    sim.advance(secs(1));
    let (bye, _) = caller.in_dialog("BYE", None);
    sim.send(&bye, caller.peer);
    let rec = &sim.recordings[&call];
    assert_eq!(rec.end, Some((false, vec![])), "general is not recorded");
    assert!(rec.pairs.len() >= 8000, "recorded all the same until then");
}

#[test]
fn pausing_a_call_that_is_not_recorded_is_refused() {
    let mut cfg = config();
    cfg.record = Arc::new(RecordCalls::None);
    cfg.queues = vec![QueueConfig {
        ring_timeout_ms: 10_000,
        wrap_up_ms: 5_000,
        ..QueueConfig::new("general")
    }];
    let mut sim = Sim::with_flow(cfg, FLOW, &[]);
    let phone = DeskPhone::register(&mut sim, 1, "ann", 6001);
    sign_on(&mut sim, 1, "ann");
    command(&mut sim, 1, serde_json::json!({"type": "ready"}));
    let mut caller = Caller::new(Transport::Udp, "none");
    let call = queued_caller(&mut sim, &mut caller);
    sim.advance(ms(100));
    phone.answer(&mut sim);
    assert!(sim.recordings.is_empty(), "nothing recorded");
    let id = sim.engine.calls[&call].id.clone();
    let refused = command(
        &mut sim,
        1,
        serde_json::json!({"type": "pause_recording", "call": id}),
    );
    assert_eq!(super::acd::error_code(&refused), "not_recorded");
    let not_theirs = command(
        &mut sim,
        1,
        serde_json::json!({"type": "pause_recording", "call": "nope"}),
    );
    assert_eq!(super::acd::error_code(&not_theirs), "no_such_call");
}
