//! What operations see of the engine, under simulated time: the gauges of
//! `/metrics` (calls by direction, queue depth, agents by state) as a
//! caller queues, rings an agent, talks and hangs up; and the trunk's
//! OPTIONS keepalive going down after two silences and up at the next
//! answer.

use super::acd::{DeskPhone, command, queue_sim, queued_caller, sign_on};
use super::*;
use crate::acd::QueueConfig;
use crate::engine::{AGENT_STATES, AfterAnswer, DialOrder, FAILURES_BEFORE_DOWN, Gauges};

/// How many agents `gauges` counts in `state`.
fn agents_in(g: &Gauges, state: &str) -> usize {
    let slot = AGENT_STATES
        .iter()
        .position(|s| *s == state)
        .expect("a state name");
    g.agents[slot]
}

/// The agents counted in a state other than the ones named.
fn agents_elsewhere(g: &Gauges, states: &[&str]) -> usize {
    AGENT_STATES
        .iter()
        .zip(g.agents)
        .filter(|(s, _)| !states.contains(s))
        .map(|(_, n)| n)
        .sum()
}

#[test]
fn the_gauges_follow_a_caller_from_the_queue_to_an_agent_and_out() {
    let mut sim = queue_sim(QueueConfig::new("general"));
    let g = sim.engine.gauges();
    assert_eq!((g.calls_inbound, g.calls_outbound), (0, 0));
    assert_eq!(g.queues, [("general".to_owned(), 0)]);
    assert_eq!(g.agents, [0; AGENT_STATES.len()]);

    // Ann has a phone and her screen open but is not ready yet.
    let phone = DeskPhone::register(&mut sim, 1, "ann", 6001);
    sign_on(&mut sim, 1, "ann");
    let g = sim.engine.gauges();
    assert_eq!(g.phone_registrations, 1);
    assert_eq!(agents_in(&g, "not_ready"), 1);
    assert_eq!(agents_elsewhere(&g, &["not_ready"]), 0);

    // A caller waits: nobody is ready.
    let mut caller = Caller::new(Transport::Udp, "gauges");
    queued_caller(&mut sim, &mut caller);
    sim.advance(ms(100));
    let g = sim.engine.gauges();
    assert_eq!((g.calls_inbound, g.calls_outbound), (1, 0));
    assert_eq!((g.started_inbound, g.started_outbound), (1, 0));
    assert_eq!(g.queues, [("general".to_owned(), 1)]);

    // Ann goes ready: her phone rings with the caller.
    command(&mut sim, 1, serde_json::json!({"type": "ready"}));
    sim.advance(ms(100));
    let g = sim.engine.gauges();
    assert_eq!(agents_in(&g, "ringing"), 1);
    assert_eq!(agents_elsewhere(&g, &["ringing"]), 0);

    // She answers: talking, nobody waits.
    phone.answer(&mut sim);
    sim.advance(ms(100));
    let g = sim.engine.gauges();
    assert_eq!(agents_in(&g, "on_call"), 1);
    assert_eq!(g.queues, [("general".to_owned(), 0)]);
    assert_eq!(g.calls_inbound, 1);

    // The caller hangs up: no call, Ann in wrap-up.
    let (bye, _) = caller.in_dialog("BYE", None);
    sim.send(&bye, caller.peer);
    sim.stop_feeds();
    sim.advance(ms(100));
    let g = sim.engine.gauges();
    assert_eq!((g.calls_inbound, g.calls_outbound), (0, 0));
    assert_eq!(agents_in(&g, "wrap_up"), 1);
    assert_eq!(g.started_inbound, 1, "a counter: the call stays counted");
}

#[test]
fn an_outbound_call_is_counted_as_outbound() {
    let mut sim = Sim::new(config());
    let order = DialOrder {
        campaign: "follow-up".into(),
        contact: 7,
        attempt: 1,
        number: "13800138000".into(),
        caller_id: "4008001234".into(),
        then: AfterAnswer::Flow("main".into()),
        lease_owner: "test-dialer".into(),
    };
    let now = sim.now;
    sim.engine.dial(now, order).expect("dialled");
    sim.drain();
    let g = sim.engine.gauges();
    assert_eq!((g.calls_inbound, g.calls_outbound), (0, 1));
    assert_eq!((g.started_inbound, g.started_outbound), (0, 1));
}

/// The carrier's outbound proxy of the test configuration.
fn proxy() -> Peer {
    Peer {
        addr: "192.0.2.10:5060".parse().expect("valid address"),
        transport: Transport::Udp,
    }
}

/// The OPTIONS sent to the proxy so far, each once (retransmissions
/// folded), with when they first went out.
fn options_sent(sim: &Sim) -> Vec<Sent> {
    sim.requests(rsip::Method::Options)
        .into_iter()
        .filter(|s| s.dest == proxy())
        .collect()
}

#[test]
fn the_trunk_is_down_after_two_unanswered_options_and_up_at_the_next_answer() {
    // T1 500 ms: an unanswered OPTIONS is given up after 64*T1 = 32 s.
    let mut sim = Sim::new(config());
    assert_eq!(sim.engine.trunk_status(), None, "no keepalive unless asked");
    let now = sim.now;
    assert!(sim.engine.keep_trunk_alive(now, secs(30)));
    sim.drain();
    sim.advance(ms(1));
    let first = options_sent(&sim);
    assert_eq!(first.len(), 1, "the first OPTIONS goes out at once");
    assert_eq!(
        first[0].header("To").as_deref(),
        Some("<sip:carrier.example>")
    );

    // Nobody answers: retransmitted (Timer E), given up at 32 s.
    sim.advance_to(secs(31));
    assert!(
        sim.sip
            .iter()
            .filter(|s| s.method() == Some(rsip::Method::Options))
            .count()
            > 3,
        "retransmitted on UDP"
    );
    assert_eq!(options_sent(&sim).len(), 1, "one at a time");
    assert_eq!(sim.engine.trunk_status().expect("status").failures, 0);
    sim.advance_to(secs(33));
    let status = sim.engine.trunk_status().expect("status");
    assert_eq!(status.failures, 1);
    assert!(!status.is_down(), "one silence is not down");
    // The next went out as soon as the first was given up (its interval
    // had passed); it goes unanswered too.
    assert_eq!(options_sent(&sim).len(), 2);
    sim.advance_to(secs(66));
    let status = sim.engine.trunk_status().expect("status");
    assert_eq!(status.failures, FAILURES_BEFORE_DOWN);
    assert!(status.is_down());
    assert_eq!(status.last_code, None);

    // The proxy comes back and answers the next OPTIONS, with anything.
    sim.advance_to(secs(70));
    let third = options_sent(&sim).pop().expect("a third OPTIONS");
    assert_eq!(options_sent(&sim).len(), 3);
    sim.send(&answer_to(&third, 404), proxy());
    let status = sim.engine.trunk_status().expect("status");
    assert!(!status.is_down());
    assert_eq!((status.failures, status.last_code), (0, Some(404)));
    // And the next follows an interval after the third went out (at 64 s,
    // when the second was given up).
    sim.advance_to(secs(93));
    assert_eq!(options_sent(&sim).len(), 3);
    sim.advance_to(secs(95));
    assert_eq!(options_sent(&sim).len(), 4);
    assert!(sim.engine.calls() == 0, "keepalives are no calls");
}

#[test]
fn without_an_outbound_proxy_no_options_are_sent() {
    let mut cfg = config();
    cfg.outbound = None;
    let mut sim = Sim::new(cfg);
    let now = sim.now;
    assert!(!sim.engine.keep_trunk_alive(now, secs(30)));
    sim.advance_to(secs(100));
    assert!(sim.requests(rsip::Method::Options).is_empty());
    assert_eq!(sim.engine.trunk_status(), None);
}
