//! The wallboard's snapshot of the engine (`Engine::board`) under
//! simulated time, as a caller and an agent move through the ACD: the
//! caller waiting in the queue and since when, ringing at the agent,
//! talking, held, gone; the agent's state with its reason, since when,
//! and their call since their answer. The engine's record ops, fed to the
//! wallboard's tally, count the call as answered with its wait.

use super::acd::{DeskPhone, acd_sim, command, queued_caller, sign_on};
use super::*;
use crate::acd::Strategy;
use crate::wallboard::{CallState, LiveAgent, LiveCall, Tally};

fn agent(live: &crate::wallboard::Live, id: crate::acd::AgentId) -> LiveAgent {
    live.agents
        .iter()
        .find(|a| a.id == id)
        .cloned()
        .unwrap_or_else(|| panic!("agent {id} in {live:#?}"))
}

fn only_call(live: &crate::wallboard::Live) -> LiveCall {
    assert_eq!(live.calls.len(), 1, "{live:#?}");
    live.calls[0].clone()
}

#[test]
fn the_board_follows_a_caller_and_an_agent_through_the_acd() {
    let mut sim = acd_sim(Strategy::LongestIdle);
    let wall = |sim: &Sim| 1_700_000_000_000 + i64::try_from(sim.elapsed().as_millis()).unwrap();

    // Ann's screen opens (not ready, "login"); she steps away for a break.
    let phone = DeskPhone::register(&mut sim, 1, "ann", 6001);
    sim.advance(ms(500));
    sign_on(&mut sim, 1, "ann");
    let live = sim.engine.board(sim.now);
    assert_eq!(live.at_ms, wall(&sim));
    let ann = agent(&live, 1);
    assert_eq!(
        (ann.state, ann.reason.as_deref()),
        ("not_ready", Some("login"))
    );
    assert_eq!((ann.since_ms, ann.online), (wall(&sim), true));
    assert_eq!(ann.queues, ["general"]);
    sim.advance(ms(1000));
    command(
        &mut sim,
        1,
        serde_json::json!({"type": "not_ready", "reason": "break"}),
    );
    let break_at = wall(&sim);
    let ann = agent(&sim.engine.board(sim.now), 1);
    assert_eq!(
        (ann.reason.as_deref(), ann.since_ms),
        (Some("break"), break_at)
    );
    assert_eq!(ann.call, None);

    // A caller waits in the queue: listed with since when.
    let mut caller = Caller::new(Transport::Udp, "board");
    queued_caller(&mut sim, &mut caller);
    sim.advance(secs(4));
    let live = sim.engine.board(sim.now);
    let call = only_call(&live);
    assert_eq!(call.caller, CALLER_NUMBER);
    assert_eq!(
        (call.state, call.queue.as_deref()),
        (CallState::Waiting, Some("general"))
    );
    let queued_at = call.queued_ms.expect("queued");
    assert!(wall(&sim) - queued_at >= 4_000, "{call:?}");
    assert_eq!(live.queues.len(), 1);
    assert_eq!(live.queues[0].waiting.len(), 1);
    assert_eq!(live.queues[0].waiting[0].call, call.id);
    assert_eq!(live.queues[0].waiting[0].since_ms, queued_at);

    // Ann is ready: the call rings at her.
    command(&mut sim, 1, serde_json::json!({"type": "ready"}));
    let ring_at = wall(&sim);
    let live = sim.engine.board(sim.now);
    let call = only_call(&live);
    assert_eq!((call.state, call.agent), (CallState::Ringing, Some(1)));
    let ann = agent(&live, 1);
    assert_eq!(ann.state, "ringing");
    assert_eq!(ann.call.as_deref(), Some(call.id.as_str()));
    assert_eq!(ann.call_since_ms, Some(ring_at));
    assert_eq!(
        live.queues[0].waiting.len(),
        1,
        "a ringing caller still waits"
    );

    // She answers two seconds later: talking, her call since the answer.
    sim.advance(secs(2));
    phone.answer(&mut sim);
    let answer_at = wall(&sim);
    sim.advance(secs(3));
    let live = sim.engine.board(sim.now);
    let call = only_call(&live);
    assert_eq!((call.state, call.agent), (CallState::Talking, Some(1)));
    assert_eq!(call.answered_ms, Some(answer_at));
    let ann = agent(&live, 1);
    assert_eq!((ann.state, ann.call_since_ms), ("on_call", Some(answer_at)));
    assert!(live.queues[0].waiting.is_empty());

    // Held, then the caller hangs up: gone from the board, Ann wraps up.
    let id = call.id.clone();
    command(&mut sim, 1, serde_json::json!({"type": "hold", "call": id}));
    let live = sim.engine.board(sim.now);
    assert_eq!(only_call(&live).state, CallState::OnHold);
    assert_eq!(agent(&live, 1).state, "on_hold");
    assert_eq!(
        agent(&live, 1).call_since_ms,
        Some(answer_at),
        "hold is no new call"
    );
    let (bye, _) = caller.in_dialog("BYE", None);
    sim.send(&bye, caller.peer);
    sim.stop_feeds();
    let live = sim.engine.board(sim.now);
    assert!(live.calls.is_empty(), "{live:#?}");
    assert_eq!(agent(&live, 1).state, "wrap_up");
    assert_eq!(agent(&live, 1).call, None);

    // What the engine recorded, counted the wallboard's way.
    let mut tally = Tally::new(jiff::tz::TimeZone::UTC, 20_000, 1_700_000_000_000);
    for op in sim.ops() {
        tally.apply(op);
    }
    let general = tally.today().queues["general"];
    assert_eq!(
        (
            general.answered,
            general.answered_in_time,
            general.abandoned
        ),
        (1, 1, 0)
    );
    assert_eq!(general.wait_ms, answer_at - queued_at);
    assert_eq!(tally.today().agents[&1].handled, 1);
    assert_eq!(tally.following(), 0, "the ended call is forgotten");
}
