//! The wallboard's figures and alerts in simulated time: what counts as
//! answered, in time and abandoned; the service level and the average
//! speed of answer; the day rolling over at local midnight; the store's
//! seed; alerts raised and cleared; the frame. A property test checks the
//! tally against a plain recount of random days of calls.

use proptest::prelude::{ProptestConfig, prop_assert, prop_assert_eq, proptest};
use proptest::strategy::Strategy as Generator;

use super::*;
use crate::records::HangupSide;

const ZONE: &str = "Asia/Shanghai";
/// The default service-level threshold: 20 s.
const SL_MS: i64 = 20_000;

fn zone() -> TimeZone {
    TimeZone::get(ZONE).unwrap()
}

/// Epoch ms of a local time in Shanghai, `2026-03-10T09:00:00`.
fn at(local: &str) -> i64 {
    local
        .parse::<jiff::civil::DateTime>()
        .unwrap()
        .to_zoned(zone())
        .unwrap()
        .timestamp()
        .as_millisecond()
}

fn tally(now: &str) -> Tally {
    Tally::new(zone(), SL_MS, at(now))
}

fn queued(call: &str, queue: &str, at: i64) -> RecordOp {
    RecordOp::Queued {
        call_id: call.into(),
        queue: queue.into(),
        at,
    }
}

fn answered(call: &str, agent: AgentId, at: i64, wait_ms: i64) -> RecordOp {
    RecordOp::AgentAnswered {
        call_id: call.into(),
        agent_id: agent,
        at,
        wait_ms,
    }
}

fn ended(call: &str, at: i64) -> RecordOp {
    RecordOp::Ended {
        call_id: call.into(),
        at,
        cause: "caller-bye".into(),
        side: HangupSide::Caller,
    }
}

fn state(agent: AgentId, from: &str, to: &str, at: i64) -> RecordOp {
    RecordOp::AgentState {
        id: format!("{at}-{agent}-{to}"),
        agent_id: agent,
        from: from.into(),
        to: to.into(),
        reason: None,
        why: "test".into(),
        at,
    }
}

/// A call queued at `t`, answered after `wait_ms` by `agent`, over a
/// minute later.
fn answered_call(t: &mut Tally, call: &str, queue: &str, start: i64, wait_ms: i64, agent: AgentId) {
    t.apply(&queued(call, queue, start));
    t.apply(&state(agent, "ready", "ringing", start + wait_ms - 1));
    t.apply(&answered(call, agent, start + wait_ms, wait_ms));
    t.apply(&state(agent, "ringing", "on_call", start + wait_ms));
    t.apply(&ended(call, start + wait_ms + 60_000));
}

fn queue_day(t: &Tally, queue: &str) -> QueueDay {
    t.today().queues.get(queue).copied().unwrap_or_default()
}

// ----- what counts ---------------------------------------------------------------

#[test]
fn eight_of_ten_answered_in_time_is_a_service_level_of_80_percent() {
    let mut t = tally("2026-03-10T08:00:00");
    let start = at("2026-03-10T09:00:00");
    // 7 answered well within 20 s, one at exactly 20 s (in time), one at
    // 20.001 s (late), and one abandoned after 45 s.
    for i in 0..7 {
        answered_call(
            &mut t,
            &format!("c{i}"),
            "general",
            start + i * 600_000,
            4_000 + i * 1_000,
            7,
        );
    }
    answered_call(&mut t, "c7", "general", start + 7 * 600_000, 20_000, 7);
    answered_call(&mut t, "c8", "general", start + 8 * 600_000, 20_001, 7);
    t.apply(&queued("c9", "general", start + 9 * 600_000));
    t.apply(&ended("c9", start + 9 * 600_000 + 45_000));
    // Another call answered late, in another queue: not the general
    // queue's.
    answered_call(&mut t, "r1", "repair", start, 90_000, 8);

    let q = queue_day(&t, "general");
    assert_eq!(q.answered, 9);
    assert_eq!(q.answered_in_time, 8);
    assert_eq!(q.abandoned, 1);
    assert_eq!(q.service_level(), Some(0.8));
    // (4+5+6+7+8+9+10) s + 20 s + 20.001 s over nine calls.
    assert_eq!(q.average_answer_ms(), Some((49_000 + 40_001) / 9));
    let r = queue_day(&t, "repair");
    assert_eq!((r.answered, r.answered_in_time), (1, 0));
    assert_eq!(r.service_level(), Some(0.0));
    assert_eq!(t.today().agents[&7].handled, 9);
    assert_eq!(t.today().agents[&8].handled, 1);
    // Every call ended: nothing is followed any more.
    assert_eq!(t.following(), 0);
}

#[test]
fn no_figures_before_the_first_answered_or_abandoned_call() {
    let mut t = tally("2026-03-10T08:00:00");
    t.apply(&queued("c1", "general", at("2026-03-10T09:00:00")));
    let q = queue_day(&t, "general");
    assert_eq!((q.service_level(), q.average_answer_ms()), (None, None));
    assert_eq!(t.following(), 1);
}

#[test]
fn a_transferred_call_counts_once_for_the_queue_and_once_for_each_agent() {
    let mut t = tally("2026-03-10T08:00:00");
    let t0 = at("2026-03-10T10:00:00");
    t.apply(&queued("c1", "general", t0));
    t.apply(&answered("c1", 1, t0 + 5_000, 5_000));
    t.apply(&state(1, "ringing", "on_call", t0 + 5_000));
    // Agent 1 transfers it to the repair queue, where agent 2 answers it
    // after a minute; then agent 2 consults agent 3, who takes it over.
    t.apply(&queued("c1", "repair", t0 + 60_000));
    t.apply(&state(1, "on_call", "wrap_up", t0 + 60_000));
    t.apply(&answered("c1", 2, t0 + 120_000, 60_000));
    t.apply(&state(2, "ringing", "on_call", t0 + 120_000));
    t.apply(&state(3, "ready", "consulted", t0 + 130_000));
    t.apply(&state(3, "consulted", "on_call", t0 + 140_000));
    // Hold and resume are no new call.
    t.apply(&state(3, "on_call", "on_hold", t0 + 150_000));
    t.apply(&state(3, "on_hold", "on_call", t0 + 160_000));
    t.apply(&ended("c1", t0 + 200_000));
    assert_eq!(queue_day(&t, "general").answered, 1);
    assert_eq!(
        queue_day(&t, "repair"),
        QueueDay::default(),
        "not abandoned either"
    );
    let handled = |a| t.today().agents.get(&a).map_or(0, |d| d.handled);
    assert_eq!((handled(1), handled(2), handled(3)), (1, 1, 1));
}

#[test]
fn outbound_calls_and_calls_that_never_queued_count_nowhere() {
    let mut t = tally("2026-03-10T08:00:00");
    let t0 = at("2026-03-10T11:00:00");
    t.apply(&RecordOp::Dialled {
        call_id: "o1".into(),
        sip_call_id: "x".into(),
        number: "13900000001".into(),
        caller_id: "4008001234".into(),
        campaign: "callbacks".into(),
        contact: 1,
        attempt: 1,
        at: t0,
    });
    t.apply(&queued("o1", "complaint", t0 + 10_000));
    t.apply(&answered("o1", 4, t0 + 11_000, 1_000));
    t.apply(&ended("o1", t0 + 90_000));
    // An inbound call that stayed in the IVR.
    t.apply(&RecordOp::Arrived {
        call_id: "i1".into(),
        sip_call_id: "y".into(),
        from_number: "13800138000".into(),
        to_number: "4008001234".into(),
        service_number: "4008001234".into(),
        arrived_at: t0,
    });
    t.apply(&ended("i1", t0 + 30_000));
    assert!(t.today().queues.is_empty(), "{:?}", t.today().queues);
    assert_eq!(t.following(), 0);
}

#[test]
fn only_ops_that_move_calls_or_agents_change_the_board() {
    let mut t = tally("2026-03-10T08:00:00");
    let t0 = at("2026-03-10T11:00:00");
    assert!(t.apply(&queued("c1", "general", t0)));
    assert!(t.apply(&state(1, "ready", "not_ready", t0)));
    let event = RecordOp::Event {
        call_id: "c1".into(),
        seq: 1,
        at: t0,
        kind: "prompt".into(),
        detail: String::new(),
    };
    assert!(!t.apply(&event));
    let digits = RecordOp::Digits {
        call_id: "c1".into(),
        digits: "1".into(),
    };
    assert!(!t.apply(&digits));
}

// ----- the day ---------------------------------------------------------------------

#[test]
fn the_figures_start_again_at_local_midnight() {
    let mut t = tally("2026-03-10T08:00:00");
    answered_call(&mut t, "a", "general", at("2026-03-10T23:58:00"), 5_000, 1);
    // Queued before midnight, answered after: the new day's.
    t.apply(&queued("b", "general", at("2026-03-10T23:59:50")));
    // Queued before midnight, the caller hangs up after: abandoned on the
    // new day.
    t.apply(&queued("c", "general", at("2026-03-10T23:59:55")));
    assert_eq!(queue_day(&t, "general").answered, 1);
    assert_eq!(t.today().date.to_string(), "2026-03-10");

    t.apply(&answered("b", 2, at("2026-03-11T00:00:10"), 20_000));
    assert_eq!(t.today().date.to_string(), "2026-03-11");
    assert_eq!(t.today().start_ms, at("2026-03-11T00:00:00"));
    assert_eq!(t.today().end_ms, at("2026-03-12T00:00:00"));
    t.apply(&ended("c", at("2026-03-11T00:00:30")));
    let q = queue_day(&t, "general");
    assert_eq!((q.answered, q.answered_in_time, q.abandoned), (1, 1, 1));
    assert!(
        !t.today().agents.contains_key(&1),
        "yesterday's agent figures are gone"
    );

    // A late op of yesterday changes nothing today.
    t.apply(&queued("d", "general", at("2026-03-10T23:59:00")));
    t.apply(&ended("d", at("2026-03-10T23:59:30")));
    assert_eq!(queue_day(&t, "general").abandoned, 1);

    // A quiet midnight: nothing happens, the day turns anyway.
    t.roll(at("2026-03-12T00:00:00") - 1);
    assert_eq!(t.today().date.to_string(), "2026-03-11");
    t.roll(at("2026-03-12T00:00:00"));
    assert_eq!(t.today().date.to_string(), "2026-03-12");
    assert!(t.today().queues.is_empty());
}

#[test]
fn a_day_with_a_clock_change_is_that_long() {
    let ny = TimeZone::get("America/New_York").unwrap();
    // 2026-03-08: clocks go forward at 02:00, a 23-hour day.
    let noon = jiff::civil::date(2026, 3, 8)
        .at(12, 0, 0, 0)
        .to_zoned(ny.clone())
        .unwrap()
        .timestamp()
        .as_millisecond();
    let (date, start, end) = day_of(&ny, noon);
    assert_eq!(date.to_string(), "2026-03-08");
    assert_eq!(end - start, 23 * 3_600_000);
    let (_, start, end) = day_of(&zone(), at("2026-03-10T00:00:00"));
    assert_eq!(
        (start, end),
        (at("2026-03-10T00:00:00"), at("2026-03-11T00:00:00"))
    );
}

#[test]
fn the_store_seed_adds_the_day_so_far_but_not_another_day() {
    let mut t = tally("2026-03-10T15:00:00");
    let seed = Seed {
        start_ms: at("2026-03-10T00:00:00"),
        queues: vec![(
            "general".into(),
            QueueDay {
                answered: 40,
                answered_in_time: 30,
                abandoned: 10,
                wait_ms: 400_000,
            },
        )],
        agents: vec![(7, AgentDay { handled: 12 })],
    };
    assert!(t.seed(&seed));
    answered_call(&mut t, "c1", "general", at("2026-03-10T15:01:00"), 2_000, 7);
    let q = queue_day(&t, "general");
    assert_eq!((q.answered, q.answered_in_time, q.abandoned), (41, 31, 10));
    assert_eq!(q.service_level(), Some(31.0 / 51.0));
    assert_eq!(q.average_answer_ms(), Some(402_000 / 41));
    assert_eq!(t.today().agents[&7].handled, 13);

    let mut late = tally("2026-03-11T00:00:01");
    assert!(!late.seed(&seed), "yesterday's seed");
    assert!(late.today().queues.is_empty());
}

// ----- a random day, recounted ---------------------------------------------------------

/// One generated call: when it joins the queue (ms after the start), which
/// queue, how long it waits, and whether an agent answers (else the caller
/// hangs up after the wait).
#[derive(Debug, Clone)]
struct Gen {
    start: i64,
    queue: usize,
    wait: i64,
    answered: bool,
    talk: i64,
}

fn gen_call() -> impl Generator<Value = Gen> {
    (
        0_i64..3 * 86_400_000,
        0_usize..3,
        0_i64..60_000,
        proptest::bool::weighted(0.8),
        1_000_i64..600_000,
    )
        .prop_map(|(start, queue, wait, answered, talk)| Gen {
            start,
            queue,
            wait,
            answered,
            talk,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Over three days of random calls fed in time order, the tally's
    /// figures at any moment are exactly a recount of the calls answered
    /// (or abandoned) that local day; nothing followed outlives its call.
    #[test]
    fn the_tally_is_a_recount_of_the_day(calls in proptest::collection::vec(gen_call(), 1..80), checks in proptest::collection::vec(0_i64..3 * 86_400_000, 1..6)) {
        const QUEUES: [&str; 3] = ["general", "repair", "complaint"];
        let base = at("2026-03-10T00:00:00") - 3_600_000;
        // Every op with its time, in time order (ties keep call order).
        let mut ops: Vec<(i64, RecordOp)> = Vec::new();
        for (i, c) in calls.iter().enumerate() {
            let id = format!("c{i}");
            let q = QUEUES[c.queue];
            let t0 = base + c.start;
            ops.push((t0, queued(&id, q, t0)));
            if c.answered {
                ops.push((t0 + c.wait, answered(&id, 1 + c.queue as i64, t0 + c.wait, c.wait)));
                ops.push((t0 + c.wait, state(1 + c.queue as i64, "ringing", "on_call", t0 + c.wait)));
                ops.push((t0 + c.wait + c.talk, ended(&id, t0 + c.wait + c.talk)));
            } else {
                ops.push((t0 + c.wait, ended(&id, t0 + c.wait)));
            }
        }
        ops.sort_by_key(|(t, _)| *t);
        let mut t = Tally::new(zone(), SL_MS, base);
        let mut next = 0;
        let mut moments: Vec<i64> = checks.iter().map(|c| base + c).collect();
        moments.sort_unstable();
        for now in moments {
            while next < ops.len() && ops[next].0 <= now {
                t.apply(&ops[next].1);
                next += 1;
            }
            t.roll(now);
            let (_, day_start, day_end) = day_of(&zone(), now);
            let today = |ms: i64| ms >= day_start && ms < day_end && ms <= now;
            for (qi, name) in QUEUES.iter().enumerate() {
                let mine = calls.iter().filter(|c| c.queue == qi);
                let mut want = QueueDay::default();
                for c in mine {
                    let t0 = base + c.start;
                    if c.answered && today(t0 + c.wait) {
                        want.answered += 1;
                        want.wait_ms += c.wait;
                        if c.wait <= SL_MS {
                            want.answered_in_time += 1;
                        }
                    } else if !c.answered && today(t0 + c.wait) {
                        want.abandoned += 1;
                    }
                }
                prop_assert_eq!(queue_day(&t, name), want, "queue {} at {}", name, now);
                let got = queue_day(&t, name);
                prop_assert!(got.answered_in_time <= got.answered);
                if let Some(level) = got.service_level() {
                    prop_assert!((0.0..=1.0).contains(&level));
                }
                let handled = calls
                    .iter()
                    .filter(|c| c.queue == qi && c.answered && today(base + c.start + c.wait))
                    .count() as u64;
                let agent = 1 + qi as i64;
                prop_assert_eq!(t.today().agents.get(&agent).map_or(0, |d| d.handled), handled);
            }
            let in_progress = calls
                .iter()
                .filter(|c| {
                    let t0 = base + c.start;
                    let end = if c.answered { t0 + c.wait + c.talk } else { t0 + c.wait };
                    // Fed: queued at or before now; not ended by now.
                    t0 <= now && end > now
                })
                .count();
            prop_assert_eq!(t.following(), in_progress);
        }
    }
}

// ----- alerts and the frame ---------------------------------------------------------

fn thresholds() -> Thresholds {
    Thresholds {
        service_level_secs: 20,
        service_level_target: 80,
        alert_wait_secs: 60,
        alert_not_ready_mins: 15,
    }
}

fn agent(id: AgentId, state: &'static str, since_ms: i64) -> LiveAgent {
    LiveAgent {
        id,
        username: format!("a{id}"),
        display_name: format!("Agent {id}"),
        queues: vec!["general".into()],
        state,
        reason: (state == "not_ready").then(|| "break".to_owned()),
        since_ms,
        online: true,
        call: None,
        call_since_ms: None,
    }
}

fn waiting_call(id: &str, caller: &str, since_ms: i64) -> LiveCall {
    LiveCall {
        id: id.into(),
        caller: caller.into(),
        campaign: None,
        queue: Some("general".into()),
        agent: None,
        state: CallState::Waiting,
        arrived_ms: since_ms - 15_000,
        queued_ms: Some(since_ms),
        answered_ms: None,
        monitor: None,
    }
}

/// The floor at `now`: `waiting` callers (id, since) in `general`, and
/// `agents`.
fn floor(now: i64, waiting: &[(&str, i64)], agents: Vec<LiveAgent>) -> Live {
    Live {
        at_ms: now,
        queues: vec![
            LiveQueue {
                name: "general".into(),
                waiting: waiting
                    .iter()
                    .map(|(id, since)| Waiter {
                        call: (*id).into(),
                        since_ms: *since,
                    })
                    .collect(),
            },
            LiveQueue {
                name: "repair".into(),
                waiting: Vec::new(),
            },
        ],
        agents,
        calls: waiting
            .iter()
            .map(|(id, since)| waiting_call(id, &format!("1390000{}", &id[1..]), *since))
            .collect(),
    }
}

fn kinds(alerts: &[Alert]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| match a {
            Alert::ServiceLevel { queue, .. } => format!("sl:{queue}"),
            Alert::LongWait { call, .. } => format!("wait:{call}"),
            Alert::NotReady { agent, .. } => format!("away:{agent}"),
            Alert::SlaBreach { ticket, .. } => format!("sla:{ticket}"),
        })
        .collect()
}

#[test]
fn a_caller_waiting_past_the_threshold_raises_an_alert_until_answered() {
    let t = tally("2026-03-10T09:00:00");
    let t0 = at("2026-03-10T09:00:00");
    let board = |now: i64, waiting: &[(&str, i64)]| {
        alerts(
            &floor(now, waiting, vec![]),
            t.today(),
            &Breaches::default(),
            &thresholds(),
            now,
        )
    };
    let queue = [("c1", t0), ("c2", t0 + 30_000)];
    assert!(
        board(t0 + 60_000, &queue).is_empty(),
        "60 s is not longer than 60 s"
    );
    let raised = board(t0 + 60_001, &queue);
    assert_eq!(kinds(&raised), ["wait:c1"]);
    assert_eq!(
        raised[0],
        Alert::LongWait {
            queue: "general".into(),
            call: "c1".into(),
            caller: "13900001".into(),
            since_ms: t0,
            wait_ms: 60_001,
        }
    );
    // Both past it: the longest first.
    assert_eq!(kinds(&board(t0 + 100_000, &queue)), ["wait:c1", "wait:c2"]);
    // c1 answered: only c2 is left waiting.
    assert_eq!(kinds(&board(t0 + 100_000, &queue[1..])), ["wait:c2"]);
    assert!(board(t0 + 100_000, &[]).is_empty());
}

#[test]
fn an_agent_not_ready_too_long_raises_an_alert_until_ready_or_gone() {
    let t = tally("2026-03-10T09:00:00");
    let t0 = at("2026-03-10T09:00:00");
    let check = |now: i64, agents: Vec<LiveAgent>| {
        kinds(&alerts(
            &floor(now, &[], agents),
            t.today(),
            &Breaches::default(),
            &thresholds(),
            now,
        ))
    };
    let fifteen = 15 * 60_000;
    assert!(check(t0 + fifteen, vec![agent(1, "not_ready", t0)]).is_empty());
    assert_eq!(
        check(t0 + fifteen + 1, vec![agent(1, "not_ready", t0)]),
        ["away:1"]
    );
    // Long in other states: no alert.
    let others = vec![
        agent(2, "ready", t0),
        agent(3, "on_call", t0),
        agent(4, "wrap_up", t0),
    ];
    assert!(check(t0 + 3 * fifteen, others).is_empty());
    // Ready again: cleared (a new since).
    assert!(check(t0 + fifteen + 5, vec![agent(1, "ready", t0 + fifteen + 2)]).is_empty());
    // The screen closed: off the floor, no alert.
    let mut gone = agent(1, "not_ready", t0);
    gone.online = false;
    assert!(check(t0 + 2 * fifteen, vec![gone]).is_empty());
}

#[test]
fn a_service_level_below_target_raises_an_alert_until_it_recovers() {
    let mut t = tally("2026-03-10T09:00:00");
    let t0 = at("2026-03-10T09:00:00");
    let check = |t: &Tally, now: i64| {
        let alerts = alerts(
            &floor(now, &[], vec![]),
            t.today(),
            &Breaches::default(),
            &thresholds(),
            now,
        );
        kinds(&alerts)
    };
    answered_call(&mut t, "c1", "general", t0, 5_000, 1);
    assert!(check(&t, t0 + 100_000).is_empty(), "100% >= 80%");
    t.apply(&queued("c2", "general", t0 + 200_000));
    t.apply(&ended("c2", t0 + 210_000));
    let now = t0 + 300_000;
    let raised = alerts(
        &floor(now, &[], vec![]),
        t.today(),
        &Breaches::default(),
        &thresholds(),
        now,
    );
    assert_eq!(
        raised,
        [Alert::ServiceLevel {
            queue: "general".into(),
            service_level: 0.5,
            target: 0.8,
        }]
    );
    // Four more in time: 5 of 6 is 83%, above the target again.
    for i in 0..4 {
        answered_call(
            &mut t,
            &format!("d{i}"),
            "general",
            t0 + 400_000 + i * 100_000,
            3_000,
            1,
        );
    }
    assert!(check(&t, t0 + 2_000_000).is_empty());
    // Tomorrow the day is new: no figures, no alert.
    t.apply(&queued("e", "repair", t0 + 2_100_000));
    t.apply(&ended("e", t0 + 2_110_000));
    assert_eq!(check(&t, t0 + 2_200_000), ["sl:repair"]);
    assert!(check(&t, at("2026-03-11T00:00:01")).is_empty());
}

#[test]
fn the_days_sla_breaches_are_alerts() {
    let t = tally("2026-03-10T09:00:00");
    let now = at("2026-03-10T12:00:00");
    let breaches = Breaches {
        today: 3,
        latest: vec![
            Breach {
                ticket: "2603100007".into(),
                stage: "dispatched".into(),
                due_at: now - 60_000,
                detected_at: now - 1_000,
            },
            Breach {
                ticket: "2603100002".into(),
                stage: "completed".into(),
                due_at: now - 7_200_000,
                detected_at: now - 3_600_000,
            },
        ],
    };
    let waiting = [("c1", now - 120_000)];
    let got = alerts(
        &floor(now, &waiting, vec![]),
        t.today(),
        &breaches,
        &thresholds(),
        now,
    );
    assert_eq!(kinds(&got), ["wait:c1", "sla:2603100007", "sla:2603100002"]);
    let board = Board::build(
        &floor(now, &waiting, vec![]),
        t.today(),
        &breaches,
        &thresholds(),
        now,
    );
    assert_eq!(board.breaches_today, 3);
}

#[test]
fn the_frame_shows_queues_agents_and_calls_as_of_its_moment() {
    let mut t = tally("2026-03-10T09:00:00");
    let t0 = at("2026-03-10T10:00:00");
    answered_call(&mut t, "old1", "general", t0 - 600_000, 10_000, 2);
    answered_call(&mut t, "old2", "repair", t0 - 500_000, 30_000, 2);
    t.apply(&queued("old3", "general", t0 - 400_000));
    t.apply(&ended("old3", t0 - 390_000));
    let now = t0 + 100_000;
    let mut talking = agent(2, "on_call", t0 + 40_000);
    talking.call = Some("c3".into());
    talking.call_since_ms = Some(t0 + 40_000);
    let mut ringing = agent(3, "ringing", t0 + 95_000);
    ringing.call = Some("c2".into());
    ringing.call_since_ms = Some(t0 + 95_000);
    let mut off = agent(4, "logged_out", t0);
    off.queues = vec!["general".into(), "repair".into()];
    let mut live = floor(
        now,
        &[("c1", t0 + 50_000)],
        vec![agent(1, "ready", t0), talking, ringing, off],
    );
    live.calls.push(LiveCall {
        agent: Some(3),
        state: CallState::Ringing,
        ..waiting_call("c2", "13900000002", t0 + 20_000)
    });
    live.calls.push(LiveCall {
        agent: Some(2),
        state: CallState::Talking,
        answered_ms: Some(t0 + 40_000),
        monitor: Some(LiveMonitor {
            supervisor: 2,
            username: "agent2".into(),
            mode: "whisper",
            connected: true,
        }),
        ..waiting_call("c3", "13900000003", t0 + 10_000)
    });
    live.queues[0].waiting.insert(
        0,
        Waiter {
            call: "c2".into(),
            since_ms: t0 + 20_000,
        },
    );
    let board = Board::build(&live, t.today(), &Breaches::default(), &thresholds(), now);
    assert_eq!(board.kind, "board");
    assert_eq!(board.day, "2026-03-10");
    let general = &board.queues[0];
    assert_eq!(general.name, "general");
    assert_eq!((general.waiting, general.longest_wait_ms), (2, 80_000));
    assert_eq!(
        (
            general.agents_staffed,
            general.agents_ready,
            general.agents_on_call
        ),
        (3, 1, 2),
        "the logged-out agent is not staffed"
    );
    assert_eq!((general.answered, general.abandoned), (1, 1));
    assert_eq!(
        (general.service_level, general.asa_ms),
        (Some(0.5), Some(10_000))
    );
    let repair = &board.queues[1];
    assert_eq!(
        (
            repair.waiting,
            repair.longest_wait_ms,
            repair.agents_staffed
        ),
        (0, 0, 0)
    );
    assert_eq!(
        (repair.service_level, repair.asa_ms),
        (Some(0.0), Some(30_000))
    );
    let totals = &board.totals;
    assert_eq!(
        (totals.waiting, totals.answered, totals.abandoned),
        (2, 2, 1)
    );
    assert_eq!(totals.answered_in_time, 1);
    assert_eq!(totals.asa_ms, Some(20_000));
    assert_eq!(totals.agents_staffed, 3);

    let a2 = board.agents.iter().find(|a| a.id == 2).unwrap();
    assert_eq!(
        (a2.state, a2.in_state_ms, a2.handled_today),
        ("on_call", 60_000, 2)
    );
    let call = a2.call.as_ref().unwrap();
    assert_eq!(
        (call.id.as_str(), call.caller.as_str()),
        ("c3", "13900000003")
    );
    assert_eq!(call.duration_ms, Some(60_000));
    let c1 = board.calls.iter().find(|c| c.id == "c1").unwrap();
    assert_eq!(
        (c1.state, c1.wait_ms, c1.talk_ms),
        (CallState::Waiting, Some(50_000), None)
    );
    assert_eq!(c1.duration_ms, 65_000);
    let c3 = board.calls.iter().find(|c| c.id == "c3").unwrap();
    assert_eq!((c3.wait_ms, c3.talk_ms), (None, Some(60_000)));
    assert_eq!(c3.agent_name.as_deref(), Some("Agent 2"));
    let m = c3.monitor.as_ref().expect("the supervisor in c3");
    assert_eq!(
        (
            m.supervisor,
            m.supervisor_name.as_str(),
            m.mode,
            m.connected
        ),
        (2, "Agent 2", "whisper", true)
    );

    // The JSON a client reads.
    let json = serde_json::to_value(&board).unwrap();
    assert_eq!(json["type"], "board");
    assert_eq!(json["calls"][0]["state"], "waiting");
    assert_eq!(json["queues"][0]["service_level"], 0.5);
    assert_eq!(json["thresholds"]["alert_wait_secs"], 60);

    // A frame for a moment past the day shows no figures of the old one.
    let tomorrow = at("2026-03-11T00:00:05");
    let stale = Board::build(
        &live,
        t.today(),
        &Breaches::default(),
        &thresholds(),
        tomorrow,
    );
    assert_eq!(
        (stale.queues[0].answered, stale.queues[0].service_level),
        (0, None)
    );
    assert!(stale.agents.iter().all(|a| a.handled_today == 0));
}
