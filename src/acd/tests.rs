//! The ACD core in simulated time: each strategy, ring timeout, missed
//! offers, wrap-up, overflow, skill relaxation, priorities, refused
//! commands; and a property test that random interleavings keep the
//! module's invariants.

use std::collections::{BTreeMap, HashMap, HashSet};

use proptest::prelude::{
    ProptestConfig, TestCaseError, any, prop_assert, prop_assert_eq, prop_oneof, proptest,
};
use proptest::strategy::Strategy as Generator;

use super::*;

const T0: i64 = 1_000_000;

fn skills(list: &[(&str, u8)]) -> BTreeMap<String, u8> {
    list.iter().map(|(s, l)| (s.to_string(), *l)).collect()
}

fn acd_with(q: QueueConfig) -> Acd {
    Acd::new([q])
}

fn login(acd: &mut Acd, id: AgentId, now: i64) {
    acd.login(id, vec!["service".into()], BTreeMap::new(), true, now)
        .unwrap();
}

/// The offers made since the last call, in order.
fn offers(acd: &mut Acd) -> Vec<(CallRef, AgentId)> {
    let mut out = Vec::new();
    while let Some(e) = acd.poll_effect() {
        if let Effect::Offer { call, agent } = e {
            out.push((call, agent));
        }
    }
    out
}

fn all_effects(acd: &mut Acd) -> Vec<Effect> {
    std::iter::from_fn(|| acd.poll_effect()).collect()
}

#[test]
fn longest_idle_gets_the_call() {
    let mut acd = acd_with(QueueConfig::new("service"));
    login(&mut acd, 1, T0);
    login(&mut acd, 2, T0 + 10);
    login(&mut acd, 3, T0 + 5);
    offers(&mut acd);
    acd.enqueue(100, "service", 0, &[], T0 + 20).unwrap();
    assert_eq!(offers(&mut acd), [(100, 1)]);
    acd.enqueue(101, "service", 0, &[], T0 + 21).unwrap();
    assert_eq!(offers(&mut acd), [(101, 3)], "idle since T0+5 before T0+10");
}

#[test]
fn waiting_callers_hear_their_place_and_wait_every_interval() {
    let mut q = QueueConfig::new("service");
    q.announce_every_ms = Some(30_000);
    q.ring_timeout_ms = 60_000;
    let mut acd = acd_with(q);
    // One agent busy with a call: the two callers behind wait.
    login(&mut acd, 1, T0);
    acd.enqueue(100, "service", 0, &[], T0).unwrap();
    acd.answer(1, 100, T0).unwrap();
    acd.enqueue(101, "service", 0, &[], T0 + 1_000).unwrap();
    acd.enqueue(102, "service", 0, &[], T0 + 2_000).unwrap();
    all_effects(&mut acd);
    assert_eq!(acd.next_deadline(), Some(T0 + 31_000));
    let announced = |acd: &mut Acd| -> Vec<(CallRef, usize, i64)> {
        all_effects(acd)
            .into_iter()
            .filter_map(|e| match e {
                Effect::Announce {
                    call,
                    position,
                    wait_ms,
                } => Some((call, position, wait_ms)),
                _ => None,
            })
            .collect()
    };
    acd.tick(T0 + 31_000);
    // No handle time known yet: 3 minutes a call, one agent.
    assert_eq!(announced(&mut acd), [(101, 1, DEFAULT_HANDLE_MS)]);
    acd.tick(T0 + 32_000);
    assert_eq!(announced(&mut acd), [(102, 2, 2 * DEFAULT_HANDLE_MS)]);
    // The first call ends after 60 s: that is now the handle time; the
    // next caller is offered the agent after wrap-up, the other moves up.
    acd.hang_up(100, T0 + 60_000).unwrap();
    acd.tick(T0 + 61_000);
    assert_eq!(announced(&mut acd), [(101, 1, 60_000)]);
    acd.tick(T0 + 62_000);
    assert_eq!(announced(&mut acd), [(102, 2, 120_000)]);
    acd.set_ready(1, T0 + 62_500).unwrap();
    all_effects(&mut acd);
    acd.tick(T0 + 92_000);
    assert_eq!(
        announced(&mut acd),
        [(102, 2, 120_000)],
        "a ringing call hears no more"
    );
}

#[test]
fn a_consulted_agent_takes_the_call_or_is_ready_again() {
    let mut q = QueueConfig::new("service");
    q.wrap_up_ms = 10_000;
    let mut acd = acd_with(q);
    login(&mut acd, 1, T0);
    acd.enqueue(100, "service", 0, &[], T0).unwrap();
    acd.answer(1, 100, T0).unwrap();
    login(&mut acd, 2, T0 + 1);
    all_effects(&mut acd);
    // Not while ringing or on one's own: only a ready agent is consulted.
    assert!(acd.consult(1, 1, T0 + 2).is_err());
    acd.hold(1, true, T0 + 2).unwrap();
    acd.consult(1, 2, T0 + 3).unwrap();
    assert_eq!(
        acd.agent_state(2),
        Some(&AgentState::Consulted { call: 100, by: 1 })
    );
    // A consulted agent is offered nothing else.
    acd.enqueue(101, "service", 0, &[], T0 + 4).unwrap();
    assert!(offers(&mut acd).is_empty());
    // Cancelled: ready again, and the waiting call goes to them.
    acd.end_consult(2, T0 + 5).unwrap();
    assert_eq!(offers(&mut acd), [(101, 2)]);
    acd.answer(2, 101, T0 + 6).unwrap();
    login(&mut acd, 3, T0 + 7);
    acd.consult(1, 3, T0 + 8).unwrap();
    acd.complete_consult(3, T0 + 9).unwrap();
    assert_eq!(acd.agent_state(3), Some(&AgentState::OnCall { call: 100 }));
    assert_eq!(
        acd.agent_state(1),
        Some(&AgentState::WrapUp {
            until_ms: T0 + 10_009
        })
    );
    // The caller hangs up on agent 3, who wraps up in turn.
    acd.hang_up(100, T0 + 20).unwrap();
    assert!(matches!(
        acd.agent_state(3),
        Some(AgentState::WrapUp { .. })
    ));
    // A caller who leaves during a consultation frees the consulted agent.
    acd.set_ready(3, T0 + 21).unwrap();
    acd.consult(2, 3, T0 + 22).unwrap();
    acd.hang_up(101, T0 + 23).unwrap();
    assert_eq!(acd.agent_state(3), Some(&AgentState::Ready));
}

#[test]
fn an_agent_away_is_paused_instead_of_freed_and_never_offered() {
    let mut q = QueueConfig::new("service");
    q.wrap_up_ms = 5_000;
    let mut acd = acd_with(q);
    login(&mut acd, 1, T0);
    acd.enqueue(100, "service", 0, &[], T0).unwrap();
    acd.answer(1, 100, T0).unwrap();
    // The screen closes mid-call: the call goes on.
    acd.set_away(1, Some(("disconnected", "screen closed")), T0 + 1);
    assert_eq!(acd.agent_state(1), Some(&AgentState::OnCall { call: 100 }));
    acd.hang_up(100, T0 + 2).unwrap();
    acd.enqueue(101, "service", 0, &[], T0 + 3).unwrap();
    all_effects(&mut acd);
    // Wrap-up runs out with a caller waiting: paused, not offered.
    acd.tick(T0 + 5_002);
    let effects = all_effects(&mut acd);
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Offer { .. })),
        "{effects:?}"
    );
    assert_eq!(
        acd.agent_state(1),
        Some(&AgentState::NotReady {
            reason: "disconnected".into()
        })
    );
    // Back, and ready by their own move: the waiting call comes.
    acd.set_away(1, None, T0 + 6_000);
    acd.set_ready(1, T0 + 6_001).unwrap();
    assert_eq!(offers(&mut acd), [(101, 1)]);
}

#[test]
fn round_robin_goes_around_in_login_order() {
    let mut q = QueueConfig::new("service");
    q.strategy = Strategy::RoundRobin;
    q.wrap_up_ms = 0;
    let mut acd = acd_with(q);
    for id in [7, 3, 5] {
        login(&mut acd, id, T0);
    }
    offers(&mut acd);
    let mut got = Vec::new();
    for call in 0..4 {
        acd.enqueue(call, "service", 0, &[], T0 + 1).unwrap();
        let (c, agent) = offers(&mut acd)[0];
        got.push(agent);
        acd.answer(agent, c, T0 + 2).unwrap();
        acd.hang_up(c, T0 + 3).unwrap();
        acd.tick(T0 + 3);
        offers(&mut acd);
    }
    assert_eq!(got, [7, 3, 5, 7]);
}

#[test]
fn fewest_calls_balances_answered_calls() {
    let mut q = QueueConfig::new("service");
    q.strategy = Strategy::FewestCalls;
    q.wrap_up_ms = 0;
    let mut acd = acd_with(q);
    login(&mut acd, 1, T0);
    login(&mut acd, 2, T0 + 1);
    offers(&mut acd);
    // Agent 1 takes two calls while 2 is away.
    acd.set_not_ready(2, "break", T0 + 2).unwrap();
    for call in [10, 11] {
        acd.enqueue(call, "service", 0, &[], T0 + 3).unwrap();
        acd.answer(1, call, T0 + 4).unwrap();
        acd.hang_up(call, T0 + 5).unwrap();
        acd.tick(T0 + 5);
    }
    acd.set_ready(2, T0 + 100).unwrap();
    offers(&mut acd);
    // Agent 1 has been idle longer, but 2 has answered fewer.
    acd.enqueue(12, "service", 0, &[], T0 + 200).unwrap();
    assert_eq!(offers(&mut acd), [(12, 2)]);
}

#[test]
fn ring_all_offers_everyone_and_the_first_answer_wins() {
    let mut q = QueueConfig::new("service");
    q.strategy = Strategy::RingAll;
    let mut acd = acd_with(q);
    for id in 1..=3 {
        login(&mut acd, id, T0);
    }
    offers(&mut acd);
    acd.enqueue(5, "service", 0, &[], T0 + 1).unwrap();
    assert_eq!(offers(&mut acd), [(5, 1), (5, 2), (5, 3)]);
    acd.answer(2, 5, T0 + 2).unwrap();
    let effects = all_effects(&mut acd);
    assert!(effects.contains(&Effect::CancelOffer { call: 5, agent: 1 }));
    assert!(effects.contains(&Effect::CancelOffer { call: 5, agent: 3 }));
    assert!(effects.contains(&Effect::Connect { call: 5, agent: 2 }));
    // The same instant, another agent answers too: refused, nothing changes.
    assert_eq!(acd.answer(3, 5, T0 + 2), Err(AcdError::Taken { call: 5 }));
    assert_eq!(acd.agent_state(3), Some(&AgentState::Ready));
    assert_eq!(acd.agent_state(2), Some(&AgentState::OnCall { call: 5 }));
}

#[test]
fn skills_pick_the_best_agent_and_relax_while_the_call_waits() {
    let mut q = QueueConfig::new("service");
    q.strategy = Strategy::SkillsBased;
    q.skills = skills(&[("washer", 5)]);
    q.relax = vec![Relax {
        after_ms: 60_000,
        lower_by: 3,
    }];
    let mut acd = acd_with(q);
    let join = |acd: &mut Acd, id, level| {
        acd.login(
            id,
            vec!["service".into()],
            skills(&[("washer", level)]),
            true,
            T0,
        )
        .unwrap();
    };
    join(&mut acd, 1, 6);
    join(&mut acd, 2, 9);
    join(&mut acd, 3, 2);
    offers(&mut acd);
    acd.enqueue(1, "service", 0, &[], T0).unwrap();
    assert_eq!(offers(&mut acd), [(1, 2)], "the most skilled");
    acd.answer(2, 1, T0).unwrap();
    acd.enqueue(2, "service", 0, &[], T0).unwrap();
    assert_eq!(offers(&mut acd), [(2, 1)]);
    acd.answer(1, 2, T0).unwrap();
    // Only agent 3 (level 2) is free: not enough until the call waited a
    // minute, then level 5 - 3 = 2 will do.
    acd.enqueue(3, "service", 0, &[], T0).unwrap();
    assert_eq!(offers(&mut acd), []);
    assert_eq!(acd.next_deadline(), Some(T0 + 60_000));
    acd.tick(T0 + 59_999);
    assert_eq!(offers(&mut acd), []);
    acd.tick(T0 + 60_000);
    assert_eq!(offers(&mut acd), [(3, 3)]);
}

#[test]
fn priority_jumps_the_queue() {
    let mut acd = acd_with(QueueConfig::new("service"));
    acd.enqueue(1, "service", 0, &[], T0).unwrap();
    acd.enqueue(2, "service", 0, &[], T0 + 1).unwrap();
    acd.enqueue(3, "service", 5, &[], T0 + 2).unwrap();
    assert_eq!(acd.waiting_in("service"), [3, 1, 2]);
    login(&mut acd, 9, T0 + 3);
    assert_eq!(offers(&mut acd), [(3, 9)]);
}

#[test]
fn an_unanswered_offer_moves_on_and_repeated_misses_pause_the_agent() {
    let mut q = QueueConfig::new("service");
    q.ring_timeout_ms = 15_000;
    q.max_missed = 2;
    let mut acd = acd_with(q);
    login(&mut acd, 1, T0);
    login(&mut acd, 2, T0 + 1);
    offers(&mut acd);
    acd.enqueue(1, "service", 0, &[], T0 + 2).unwrap();
    assert_eq!(offers(&mut acd), [(1, 1)]);
    assert_eq!(acd.next_deadline(), Some(T0 + 2 + 15_000));
    acd.tick(T0 + 2 + 15_000);
    assert_eq!(offers(&mut acd), [(1, 2)], "to the next agent");
    assert_eq!(acd.agent_state(1), Some(&AgentState::Ready));
    acd.tick(T0 + 2 + 30_000);
    assert_eq!(offers(&mut acd), [(1, 1)], "back to the first");
    acd.tick(T0 + 2 + 45_000);
    // Agent 1 missed twice in a row: paused with reason "missed".
    assert_eq!(
        acd.agent_state(1),
        Some(&AgentState::NotReady {
            reason: "missed".into()
        })
    );
    assert_eq!(offers(&mut acd), [(1, 2)]);
}

#[test]
fn wrap_up_is_timed_extendable_and_can_end_early() {
    let mut q = QueueConfig::new("service");
    q.wrap_up_ms = 30_000;
    let mut acd = acd_with(q);
    login(&mut acd, 1, T0);
    acd.enqueue(1, "service", 0, &[], T0).unwrap();
    acd.answer(1, 1, T0 + 1).unwrap();
    acd.hang_up(1, T0 + 100).unwrap();
    assert_eq!(
        acd.agent_state(1),
        Some(&AgentState::WrapUp {
            until_ms: T0 + 30_100
        })
    );
    offers(&mut acd);
    // No call is offered during wrap-up.
    acd.enqueue(2, "service", 0, &[], T0 + 200).unwrap();
    acd.tick(T0 + 30_099);
    assert!(offers(&mut acd).is_empty());
    // Extended by 60 s: still wrapping up at the first end.
    acd.extend_wrap_up(1, 60_000, T0 + 20_000).unwrap();
    acd.tick(T0 + 30_100);
    assert!(offers(&mut acd).is_empty());
    assert_eq!(acd.next_deadline(), Some(T0 + 90_100));
    // Ended early by the agent: the waiting call comes at once.
    acd.set_ready(1, T0 + 40_000).unwrap();
    assert_eq!(offers(&mut acd), [(2, 1)]);
}

#[test]
fn a_call_waiting_too_long_overflows_once() {
    let mut q = QueueConfig::new("service");
    q.max_wait_ms = Some(120_000);
    q.overflow = Overflow::Queue("backup".into());
    let mut backup = QueueConfig::new("backup");
    backup.max_wait_ms = Some(60_000);
    backup.overflow = Overflow::Callback;
    let mut acd = Acd::new([q, backup]);
    acd.enqueue(1, "service", 0, &[], T0).unwrap();
    acd.tick(T0 + 120_000);
    assert_eq!(acd.waiting_in("backup"), [1]);
    assert_eq!(
        all_effects(&mut acd),
        [Effect::Moved {
            call: 1,
            queue: "backup".into()
        }],
        "moved, not ended"
    );
    // An agent of the backup queue would now get it.
    acd.tick(T0 + 180_000);
    assert_eq!(
        all_effects(&mut acd),
        [Effect::Ended {
            call: 1,
            end: CallEnd::Overflowed(Overflow::Callback)
        }]
    );
    assert!(acd.waiting_in("backup").is_empty());
    assert_eq!(acd.next_deadline(), None);
}

#[test]
fn commands_out_of_turn_are_refused_and_change_nothing() {
    let mut acd = acd_with(QueueConfig::new("service"));
    login(&mut acd, 1, T0);
    all_effects(&mut acd);
    assert_eq!(
        acd.answer(1, 5, T0),
        Err(AcdError::WrongState {
            state: "ready",
            action: "answer"
        })
    );
    assert_eq!(acd.reject(1, 5, T0), Err(AcdError::NotOffered { call: 5 }));
    assert_eq!(acd.hang_up(5, T0), Err(AcdError::UnknownCall(5)));
    assert_eq!(acd.answer(2, 5, T0), Err(AcdError::UnknownAgent(2)));
    assert_eq!(
        acd.enqueue(5, "nowhere", 0, &[], T0),
        Err(AcdError::UnknownQueue("nowhere".into()))
    );
    acd.enqueue(5, "service", 0, &[], T0).unwrap();
    assert_eq!(
        acd.enqueue(5, "service", 0, &[], T0),
        Err(AcdError::DuplicateCall(5))
    );
    acd.answer(1, 5, T0).unwrap();
    all_effects(&mut acd);
    for refused in [
        acd.set_ready(1, T0),
        acd.set_not_ready(1, "break", T0),
        acd.logout(1, T0),
        acd.hold(1, false, T0),
        acd.login(1, vec![], BTreeMap::new(), true, T0),
    ] {
        assert!(
            matches!(
                refused,
                Err(AcdError::WrongState {
                    state: "on_call",
                    ..
                })
            ),
            "{refused:?}"
        );
    }
    assert_eq!(acd.agent_state(1), Some(&AgentState::OnCall { call: 5 }));
    assert!(all_effects(&mut acd).is_empty());
}

#[test]
fn every_state_change_is_reported() {
    let mut acd = acd_with(QueueConfig::new("service"));
    login(&mut acd, 1, T0);
    acd.enqueue(1, "service", 0, &[], T0 + 1).unwrap();
    acd.answer(1, 1, T0 + 2).unwrap();
    acd.hold(1, true, T0 + 3).unwrap();
    acd.hold(1, false, T0 + 4).unwrap();
    acd.hang_up(1, T0 + 5).unwrap();
    acd.set_not_ready(1, "meal", T0 + 6).unwrap();
    acd.logout(1, T0 + 7).unwrap();
    let trail: Vec<(&str, &str, i64, &str)> = all_effects(&mut acd)
        .iter()
        .filter_map(|e| match e {
            Effect::AgentState {
                from,
                to,
                at_ms,
                why,
                ..
            } => Some((from.name(), to.name(), *at_ms - T0, *why)),
            _ => None,
        })
        .collect();
    assert_eq!(
        trail,
        [
            ("logged_out", "ready", 0, "login"),
            ("ready", "ringing", 1, "offered"),
            ("ringing", "on_call", 2, "answered"),
            ("on_call", "on_hold", 3, "hold"),
            ("on_hold", "on_call", 4, "resume"),
            ("on_call", "wrap_up", 5, "call ended"),
            ("wrap_up", "not_ready", 6, "agent"),
            ("not_ready", "logged_out", 7, "logout"),
        ]
    );
}

#[test]
fn the_estimated_wait_follows_recent_handle_times_and_staffing() {
    let mut q = QueueConfig::new("service");
    q.wrap_up_ms = 0;
    let mut acd = acd_with(q);
    login(&mut acd, 1, T0);
    // Two calls handled in 60 s and 120 s: 90 s on average.
    for (call, talk) in [(1, 60_000), (2, 120_000)] {
        acd.enqueue(call, "service", 0, &[], T0).unwrap();
        acd.answer(1, call, T0).unwrap();
        acd.hang_up(call, T0 + talk).unwrap();
        acd.tick(T0 + talk);
    }
    acd.set_not_ready(1, "break", T0).unwrap();
    for call in [10, 11, 12] {
        acd.enqueue(call, "service", 0, &[], T0 + 1).unwrap();
    }
    // A priority caller goes ahead of them all.
    acd.enqueue(13, "service", 3, &[], T0 + 2).unwrap();
    assert_eq!(acd.estimated_wait(13), Some((1, 90_000)));
    assert_eq!(acd.estimated_wait(12), Some((4, 360_000)));
    // A second agent halves it.
    acd.login(2, vec!["service".into()], BTreeMap::new(), false, T0 + 3)
        .unwrap();
    assert_eq!(acd.estimated_wait(12), Some((4, 180_000)));
    assert_eq!(acd.estimated_wait(99), None);
}

// ------------------------------------------------------------- property

#[derive(Debug, Clone)]
enum Op {
    Login(u8, bool),
    Logout(u8),
    Ready(u8),
    NotReady(u8),
    Arrive(u8, u8),
    Answer(u8),
    AnswerOther(u8, u8),
    Reject(u8),
    HangUpCall(u8),
    AgentHangsUp(u8),
    Hold(u8, bool),
    /// A call arrives transferred to one agent.
    ArriveFor(u8, u8),
    /// The caller's flow takes the call out of the queue.
    Leave(u8),
    /// The records raise the caller's priority.
    Raise(u8, u8),
    /// An agent with a call consults another.
    Consult(u8, u8),
    EndConsult(u8),
    CompleteConsult(u8),
    Advance(u16),
}

fn op() -> impl Generator<Value = Op> {
    let agent = 0u8..5;
    prop_oneof![
        (agent.clone(), any::<bool>()).prop_map(|(a, r)| Op::Login(a, r)),
        agent.clone().prop_map(Op::Logout),
        agent.clone().prop_map(Op::Ready),
        agent.clone().prop_map(Op::NotReady),
        (0u8..12, 0u8..3).prop_map(|(c, p)| Op::Arrive(c, p)),
        agent.clone().prop_map(Op::Answer),
        (agent.clone(), 0u8..12).prop_map(|(a, c)| Op::AnswerOther(a, c)),
        agent.clone().prop_map(Op::Reject),
        (0u8..12).prop_map(Op::HangUpCall),
        agent.clone().prop_map(Op::AgentHangsUp),
        (agent.clone(), any::<bool>()).prop_map(|(a, h)| Op::Hold(a, h)),
        (0u8..12, agent).prop_map(|(c, a)| Op::ArriveFor(c, a)),
        (0u8..12).prop_map(Op::Leave),
        (0u8..12, 0u8..12).prop_map(|(c, p)| Op::Raise(c, p)),
        (0u8..5, 0u8..5).prop_map(|(a, b)| Op::Consult(a, b)),
        (0u8..5).prop_map(Op::EndConsult),
        (0u8..5).prop_map(Op::CompleteConsult),
        (0u16..40).prop_map(Op::Advance),
    ]
}

fn queues() -> Vec<QueueConfig> {
    let mut general = QueueConfig::new("general");
    general.ring_timeout_ms = 5_000;
    general.max_wait_ms = Some(60_000);
    general.overflow = Overflow::Queue("all".into());
    general.max_missed = 2;
    general.wrap_up_ms = 3_000;
    general.announce_every_ms = Some(15_000);
    let mut all = QueueConfig::new("all");
    all.strategy = Strategy::RingAll;
    all.ring_timeout_ms = 8_000;
    all.max_wait_ms = Some(30_000);
    all.overflow = Overflow::Message;
    let mut vip = QueueConfig::new("vip");
    vip.strategy = Strategy::SkillsBased;
    vip.skills = skills(&[("vip", 3)]);
    vip.relax = vec![Relax {
        after_ms: 20_000,
        lower_by: 2,
    }];
    vip.max_wait_ms = Some(90_000);
    vip.overflow = Overflow::Hangup;
    vec![general, all, vip]
}

/// Checks the module's invariants against the ACD's insides.
fn check(acd: &Acd) -> Result<(), TestCaseError> {
    let mut holders: HashMap<CallRef, Vec<AgentId>> = HashMap::new();
    for (id, a) in &acd.agents {
        match a.state {
            AgentState::Ringing { call, until_ms } => {
                let w = acd.waiting.get(&call);
                prop_assert!(w.is_some(), "agent {id} rings with call {call} not waiting");
                prop_assert!(w.unwrap().offered.contains(id));
                prop_assert_eq!(w.unwrap().ring_until_ms, Some(until_ms));
                holders.entry(call).or_default().push(*id);
            }
            AgentState::OnCall { call } | AgentState::OnHold { call } => {
                prop_assert_eq!(acd.connected.get(&call), Some(id));
                prop_assert!(!acd.waiting.contains_key(&call));
            }
            AgentState::Consulted { call, by } => {
                prop_assert_eq!(
                    acd.connected.get(&call),
                    Some(&by),
                    "agent {} consulted about call {} not connected to {}",
                    id,
                    call,
                    by
                );
            }
            _ => {}
        }
    }
    for (call, w) in &acd.waiting {
        let ringing = holders.get(call).map_or(0, Vec::len);
        prop_assert_eq!(ringing, w.offered.len(), "call {} offers", call);
        let ring_all = acd
            .queues
            .get(&w.queue)
            .is_some_and(|q| q.strategy == Strategy::RingAll);
        prop_assert!(
            ring_all || w.offered.len() <= 1,
            "call {} offered to {:?}",
            call,
            w.offered
        );
        if let Some(only) = w.only {
            prop_assert!(
                w.offered.iter().all(|a| *a == only),
                "call {} for agent {} offered to {:?}",
                call,
                only,
                w.offered
            );
        }
    }
    for (call, agent) in &acd.connected {
        let state = &acd.agents[agent].state;
        prop_assert_eq!(
            state.call(),
            Some(*call),
            "connected call {} vs {:?}",
            call,
            state
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Random interleavings of arrivals, answers (also of calls taken
    /// elsewhere), rejections, timeouts, hang-ups on both sides, holds,
    /// logouts and logins keep the invariants; at the end, with everyone
    /// hung up, every call that arrived ended exactly once and nothing is
    /// left waiting or connected.
    #[test]
    fn random_interleavings_keep_the_invariants(ops in proptest::collection::vec(op(), 1..120)) {
        let mut acd = Acd::new(queues());
        let mut now = T0;
        let mut arrived: HashSet<CallRef> = HashSet::new();
        let mut ended: HashMap<CallRef, usize> = HashMap::new();
        let names = ["general", "all", "vip"];
        let drain = |acd: &mut Acd, ended: &mut HashMap<CallRef, usize>| {
            while let Some(e) = acd.poll_effect() {
                if let Effect::Ended { call, .. } = e {
                    *ended.entry(call).or_default() += 1;
                }
            }
        };
        for op in ops {
            match op {
                Op::Login(a, ready) => {
                    let skills = skills(&[("vip", a % 4)]);
                    let _ = acd.login(i64::from(a), names.iter().map(|s| s.to_string()).collect(), skills, ready, now);
                }
                Op::Logout(a) => { let _ = acd.logout(i64::from(a), now); }
                Op::Ready(a) => { let _ = acd.set_ready(i64::from(a), now); }
                Op::NotReady(a) => { let _ = acd.set_not_ready(i64::from(a), "break", now); }
                Op::Arrive(c, p) => {
                    let call = u64::from(c);
                    // A call handle is used once.
                    if !arrived.contains(&call) && acd.enqueue(call, names[usize::from(c) % 3], p, &[], now).is_ok() {
                        arrived.insert(call);
                    }
                }
                Op::Answer(a) => {
                    if let Some(AgentState::Ringing { call, .. }) = acd.agent_state(i64::from(a)).cloned() {
                        prop_assert!(acd.answer(i64::from(a), call, now).is_ok());
                    }
                }
                Op::AnswerOther(a, c) => { let _ = acd.answer(i64::from(a), u64::from(c), now); }
                Op::Reject(a) => {
                    if let Some(AgentState::Ringing { call, .. }) = acd.agent_state(i64::from(a)).cloned() {
                        prop_assert!(acd.reject(i64::from(a), call, now).is_ok());
                    }
                }
                Op::HangUpCall(c) => { let _ = acd.hang_up(u64::from(c), now); }
                Op::AgentHangsUp(a) => {
                    if let Some(call) = acd.agent_state(i64::from(a)).and_then(AgentState::call) {
                        prop_assert!(acd.hang_up(call, now).is_ok());
                    }
                }
                Op::Hold(a, on) => { let _ = acd.hold(i64::from(a), on, now); }
                Op::ArriveFor(c, a) => {
                    let call = u64::from(c);
                    if !arrived.contains(&call) && acd.enqueue_for(call, names[usize::from(c) % 3], i64::from(a), 200, now).is_ok() {
                        arrived.insert(call);
                    }
                }
                Op::Leave(c) => { let _ = acd.leave(u64::from(c), now); }
                Op::Raise(c, p) => acd.raise_priority(u64::from(c), p, now),
                Op::Consult(a, b) => { let _ = acd.consult(i64::from(a), i64::from(b), now); }
                Op::EndConsult(b) => { let _ = acd.end_consult(i64::from(b), now); }
                Op::CompleteConsult(b) => { let _ = acd.complete_consult(i64::from(b), now); }
                Op::Advance(s) => {
                    now += i64::from(s) * 500;
                    // The runtime ticks at every deadline on the way.
                    while let Some(d) = acd.next_deadline().filter(|d| *d <= now) {
                        acd.tick(d);
                        check(&acd)?;
                        drain(&mut acd, &mut ended);
                    }
                    acd.tick(now);
                }
            }
            check(&acd)?;
            drain(&mut acd, &mut ended);
        }
        // Everybody hangs up; time runs out every deadline.
        for call in arrived.iter().copied().collect::<Vec<_>>() {
            let _ = acd.hang_up(call, now);
        }
        while let Some(d) = acd.next_deadline() {
            prop_assert!(d >= now - 1, "deadline in the past: {d} < {now}");
            now = d.max(now);
            acd.tick(now);
            check(&acd)?;
        }
        drain(&mut acd, &mut ended);
        prop_assert!(acd.waiting.is_empty(), "calls left waiting: {:?}", acd.waiting.keys());
        prop_assert!(acd.connected.is_empty());
        for call in &arrived {
            prop_assert_eq!(ended.get(call).copied(), Some(1), "call {} ended once", call);
        }
        prop_assert!(ended.keys().all(|c| arrived.contains(c)));
        for (id, a) in &acd.agents {
            prop_assert!(
                matches!(a.state, AgentState::LoggedOut | AgentState::Ready | AgentState::NotReady { .. }),
                "agent {id} stuck in {:?}", a.state
            );
        }
    }
}
