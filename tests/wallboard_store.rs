//! What the wallboard reads from the store, on both backends: the day's
//! figures so far (the seed a restarted server starts its board from)
//! count exactly what the live tally counts from the same record ops —
//! answers in and out of time, abandons, calls spanning midnight, a call
//! answered again after going back to its queue, outbound and IVR-only
//! calls left out, agents' answers and transfers taken from their state
//! log — and the day's SLA breaches, latest first.

mod common;

use std::collections::BTreeMap;

use common::db::TestDb;
use hotline::records::{HangupSide, RecordOp};
use hotline::store::{NewUser, Role, Store};
use hotline::wallboard::{Tally, day_of};
use jiff::tz::TimeZone;

on_both_backends!(
    the_seed_counts_what_the_tally_counts,
    the_days_breaches_latest_first
);

const ZONE: &str = "Asia/Shanghai";
const IN_TIME_MS: i64 = 20_000;

/// Epoch ms of a local time in Shanghai.
fn at(local: &str) -> i64 {
    local
        .parse::<jiff::civil::DateTime>()
        .unwrap()
        .to_zoned(TimeZone::get(ZONE).unwrap())
        .unwrap()
        .timestamp()
        .as_millisecond()
}

async fn user(store: &Store, name: &str) -> i64 {
    let new = NewUser {
        username: name.into(),
        display_name: name.into(),
        role: Role::Agent,
        outlet_id: None,
        password_hash: "not-a-real-hash".into(),
        sip_ha1: String::new(),
        skills: BTreeMap::new(),
        queues: Vec::new(),
    };
    store
        .create_user(&new, at("2026-03-01T09:00:00"))
        .await
        .unwrap()
        .id
}

/// The ops of one day's calls, in the order an engine emits them.
#[derive(Default)]
struct Day {
    ops: Vec<RecordOp>,
    seq: u64,
}

impl Day {
    fn arrived(&mut self, call: &str, at: i64) {
        self.ops.push(RecordOp::Arrived {
            call_id: call.into(),
            sip_call_id: format!("sip-{call}"),
            from_number: "13912340001".into(),
            to_number: "4008001234".into(),
            service_number: "4008001234".into(),
            arrived_at: at,
        });
    }

    fn queued(&mut self, call: &str, queue: &str, at: i64) {
        self.ops.push(RecordOp::Queued {
            call_id: call.into(),
            queue: queue.into(),
            at,
        });
    }

    fn state(&mut self, agent: i64, from: &str, to: &str, at: i64) {
        self.seq += 1;
        self.ops.push(RecordOp::AgentState {
            id: format!("{at:012x}-{agent}-{}", self.seq),
            agent_id: agent,
            from: from.into(),
            to: to.into(),
            reason: None,
            why: "test".into(),
            at,
        });
    }

    fn answered(&mut self, call: &str, agent: i64, at: i64, wait_ms: i64) {
        self.state(agent, "ready", "ringing", at - 1_000);
        self.ops.push(RecordOp::AgentAnswered {
            call_id: call.into(),
            agent_id: agent,
            at,
            wait_ms,
        });
        self.state(agent, "ringing", "on_call", at);
    }

    fn ended(&mut self, call: &str, at: i64) {
        self.ops.push(RecordOp::Ended {
            call_id: call.into(),
            at,
            cause: "caller-bye".into(),
            side: HangupSide::Caller,
        });
    }

    /// An inbound call queued at `queued`, answered by `agent` after
    /// `wait_ms` (or abandoned then, with `None`), over a minute later.
    fn call(&mut self, call: &str, queue: &str, queued: i64, wait_ms: i64, agent: Option<i64>) {
        self.arrived(call, queued - 15_000);
        self.queued(call, queue, queued);
        match agent {
            Some(a) => {
                self.answered(call, a, queued + wait_ms, wait_ms);
                self.ended(call, queued + wait_ms + 60_000);
            }
            None => self.ended(call, queued + wait_ms),
        }
    }
}

async fn the_seed_counts_what_the_tally_counts(db: &TestDb) {
    let store = &db.store;
    let (u1, u2, u3) = (
        user(store, "u1").await,
        user(store, "u2").await,
        user(store, "u3").await,
    );
    let mut d = Day::default();
    // Yesterday: answered and over; and two callers still waiting at
    // midnight, one answered after it, one who gives up after it.
    d.call("y1", "repair", at("2026-03-09T22:00:00"), 5_000, Some(u2));
    d.arrived("m1", at("2026-03-09T23:59:35"));
    d.queued("m1", "repair", at("2026-03-09T23:59:50"));
    d.arrived("m2", at("2026-03-09T23:58:45"));
    d.queued("m2", "repair", at("2026-03-09T23:59:00"));
    d.answered("m1", u1, at("2026-03-10T00:00:10"), 20_000);
    d.ended("m2", at("2026-03-10T00:00:30"));
    d.ended("m1", at("2026-03-10T00:03:00"));
    // Today: answered in time, late, abandoned.
    d.call("a1", "general", at("2026-03-10T09:00:05"), 8_000, Some(u1));
    d.call("a2", "general", at("2026-03-10T09:30:00"), 25_000, Some(u2));
    d.call("a3", "general", at("2026-03-10T10:00:00"), 40_000, None);
    // Answered by u1, back to the same queue (a transfer to it), answered
    // again by u2; then u2 consults u3, who takes it over.
    d.arrived("a7", at("2026-03-10T11:00:00"));
    d.queued("a7", "general", at("2026-03-10T11:00:10"));
    d.answered("a7", u1, at("2026-03-10T11:00:13"), 3_000);
    d.queued("a7", "general", at("2026-03-10T11:02:00"));
    d.state(u1, "on_call", "wrap_up", at("2026-03-10T11:02:00"));
    d.answered("a7", u2, at("2026-03-10T11:02:30"), 30_000);
    d.state(u3, "ready", "consulted", at("2026-03-10T11:03:00"));
    d.state(u3, "consulted", "on_call", at("2026-03-10T11:03:30"));
    d.state(u3, "on_call", "on_hold", at("2026-03-10T11:04:00"));
    d.state(u3, "on_hold", "on_call", at("2026-03-10T11:04:30"));
    d.ended("a7", at("2026-03-10T11:06:00"));
    // An outbound campaign call that waited for an agent: nobody's queue.
    d.ops.push(RecordOp::Dialled {
        call_id: "o1".into(),
        sip_call_id: "sip-o1".into(),
        number: "13900000001".into(),
        caller_id: "4008001234".into(),
        campaign: "callbacks".into(),
        contact: 1,
        attempt: 1,
        at: at("2026-03-10T12:00:00"),
    });
    d.queued("o1", "complaint", at("2026-03-10T12:00:20"));
    d.answered("o1", u3, at("2026-03-10T12:00:21"), 1_000);
    d.ended("o1", at("2026-03-10T12:03:00"));
    // A caller who stayed in the IVR; a caller still waiting now.
    d.arrived("i1", at("2026-03-10T12:10:00"));
    d.ended("i1", at("2026-03-10T12:11:00"));
    d.arrived("w1", at("2026-03-10T12:20:00"));
    d.queued("w1", "general", at("2026-03-10T12:20:05"));

    let now = at("2026-03-10T12:30:00");
    let zone = TimeZone::get(ZONE).unwrap();
    let mut tally = Tally::new(zone.clone(), IN_TIME_MS, at("2026-03-09T21:00:00"));
    for op in &d.ops {
        store
            .apply(op)
            .await
            .unwrap_or_else(|e| panic!("{op:?}: {e}"));
        tally.apply(op);
    }
    tally.roll(now);
    let (date, from, to) = day_of(&zone, now);
    assert_eq!(date.to_string(), "2026-03-10");
    let seed = store.wallboard_today(from, to, IN_TIME_MS).await.unwrap();
    assert_eq!(seed.start_ms, from);

    // The figures known by construction.
    let queues: BTreeMap<_, _> = seed.queues.iter().cloned().collect();
    let general = queues["general"];
    assert_eq!(
        (
            general.answered,
            general.answered_in_time,
            general.abandoned
        ),
        (3, 2, 1),
        "a1 in time, a2 late, a7 once (in time), a3 abandoned, w1 still waiting"
    );
    assert_eq!(general.wait_ms, 8_000 + 25_000 + 3_000);
    let repair = queues["repair"];
    assert_eq!(
        (
            repair.answered,
            repair.answered_in_time,
            repair.abandoned,
            repair.wait_ms
        ),
        (1, 1, 1, 20_000),
        "m1 answered and m2 abandoned after midnight; y1 yesterday"
    );
    assert!(
        !queues.contains_key("complaint"),
        "the outbound call: {queues:?}"
    );
    let agents: BTreeMap<_, _> = seed.agents.iter().map(|(a, d)| (*a, d.handled)).collect();
    assert_eq!(
        agents,
        BTreeMap::from([(u1, 3), (u2, 2), (u3, 2)]),
        "u3: a7 taken over, o1"
    );

    // And the same as the live tally.
    assert_eq!(queues, tally.today().queues);
    let live_agents: BTreeMap<_, _> = tally
        .today()
        .agents
        .iter()
        .map(|(a, d)| (*a, d.handled))
        .collect();
    assert_eq!(agents, live_agents);

    // A restarted server's tally starts from the seed.
    let mut restarted = Tally::new(zone, IN_TIME_MS, now);
    assert!(restarted.seed(&seed));
    assert_eq!(restarted.today().queues, tally.today().queues);
    // Another day has nothing.
    let (_, from, to) = day_of(&TimeZone::get(ZONE).unwrap(), at("2026-03-11T08:00:00"));
    let tomorrow = store.wallboard_today(from, to, IN_TIME_MS).await.unwrap();
    assert!(
        tomorrow.queues.is_empty() && tomorrow.agents.is_empty(),
        "{tomorrow:?}"
    );
}

async fn the_days_breaches_latest_first(db: &TestDb) {
    let store = &db.store;
    let t0 = at("2026-03-01T10:00:00");
    store.seed_demo(t0).await.unwrap();
    // Overdue a month on: the watch finds them (twice a day apart).
    let first = store
        .record_breaches(at("2026-03-31T09:00:00"))
        .await
        .unwrap();
    assert!(
        first.len() > 5,
        "the demo has overdue tickets: {}",
        first.len()
    );
    let zone = TimeZone::get(ZONE).unwrap();
    let (_, from, to) = day_of(&zone, at("2026-03-31T09:00:00"));
    let got = store.wallboard_breaches(from, to, 5).await.unwrap();
    assert_eq!(got.today, first.len() as u64);
    assert_eq!(got.latest.len(), 5);
    let mut numbers: Vec<&str> = first.iter().map(|b| b.number.as_str()).collect();
    numbers.sort_unstable();
    let latest: Vec<&str> = got.latest.iter().map(|b| b.ticket.as_str()).collect();
    assert_eq!(latest, numbers[..5], "same moment: by number");
    for b in &got.latest {
        assert_eq!(b.detected_at, at("2026-03-31T09:00:00"));
        let row = first.iter().find(|r| r.number == b.ticket).unwrap();
        assert_eq!(
            (b.stage.as_str(), b.due_at),
            (row.stage.as_str(), row.due_at)
        );
    }
    // Another day's check: none of these.
    let (_, from, to) = day_of(&zone, at("2026-04-01T09:00:00"));
    let none = store.wallboard_breaches(from, to, 5).await.unwrap();
    assert_eq!((none.today, none.latest.len()), (0, 0));
}
