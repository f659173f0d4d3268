//! The dialer's rules under simulated wall time: never outside the window
//! (across a time-zone boundary and on a holiday), retries at the right
//! delay per outcome and into the window, attempt caps, concurrency caps,
//! do-not-call and the daily cap, progressive never without a ready agent;
//! a campaign refused with its key; and, as properties, every pick within
//! every cap.

use std::collections::HashMap;
use std::time::Duration;

use jiff::civil::date;
use jiff::tz::TimeZone;
use proptest::prelude::*;

use super::*;

const MIN: i64 = 60_000;

/// Epoch ms of a local time in `zone`.
fn at(zone: &str, y: i16, m: i8, d: i8, h: i8, min: i8) -> i64 {
    date(y, m, d)
        .at(h, min, 0, 0)
        .to_zoned(TimeZone::get(zone).unwrap())
        .unwrap()
        .timestamp()
        .as_millisecond()
}

fn sh(m: i8, d: i8, h: i8, min: i8) -> i64 {
    at("Asia/Shanghai", 2026, m, d, h, min)
}

const HOLIDAYS: &str = r#"
[[holiday]]
date = "2026-10-01"
until = "2026-10-07"
name = "National Day"
"#;

fn limits() -> Limits {
    Limits {
        legal_hours: OpenSpan {
            start: 8 * 60,
            end: 21 * 60,
        },
        trunk_lines: 60,
    }
}

fn retry() -> RetryDelays {
    RetryDelays {
        busy: Duration::from_secs(10 * 60),
        no_answer: Duration::from_secs(60 * 60),
        rejected: Duration::from_secs(24 * 3600),
        failed: Duration::from_secs(2 * 3600),
        network_error: Duration::from_secs(5 * 60),
    }
}

fn spec(mode: Mode) -> CampaignSpec<'static> {
    CampaignSpec {
        name: "follow-up",
        mode,
        caller_id: "4008001234",
        time_zone: "Asia/Shanghai",
        hours: &[("mon-fri", "09:00-20:00"), ("sat", "10:00-16:00")],
        holidays: Some(Calendar::parse("cn-2026", HOLIDAYS).unwrap()),
        max_attempts: 3,
        retry: retry(),
        concurrency: 3,
        // Domestic mobiles, and Hangzhou landlines.
        allow: &["_1[3-9]XXXXXXXXX", "_0571XXXXXXXX"],
        enroll_completed_after: None,
    }
}

fn survey() -> Rules {
    spec(Mode::Survey {
        flow: "survey".into(),
    })
    .check(&limits())
    .unwrap()
}

fn waiting(contact: i64, number: &str, due_ms: i64) -> Waiting {
    Waiting {
        contact,
        number: number.into(),
        due_ms,
        since_ms: due_ms,
    }
}

fn nobody(_: &str) -> bool {
    false
}

fn situation<'a>(now_ms: i64, counts: &'a HashMap<String, u32>) -> Situation<'a> {
    Situation {
        now_ms,
        state: RunState::Running,
        in_flight: 0,
        trunk_free: 60,
        ready_agents: 0,
        do_not_call: &nobody,
        dialled_today: counts,
        daily_cap: 3,
    }
}

#[test]
fn no_dial_outside_the_window_nor_on_a_holiday() {
    let rules = survey();
    let counts = HashMap::new();
    let list = [waiting(1, "13800138000", 0)];
    // Monday 2026-09-28.
    for (now, dials) in [
        (sh(9, 28, 8, 59), false),
        (sh(9, 28, 9, 0), true),
        (sh(9, 28, 19, 59), true),
        (sh(9, 28, 20, 0), false),
        (sh(9, 26, 10, 30), true),  // Saturday
        (sh(9, 27, 10, 30), false), // Sunday
        (sh(10, 2, 10, 30), false), // National Day, a Friday
        (sh(10, 8, 10, 30), true),  // the day after
    ] {
        let picked = pick(&rules, &situation(now, &counts), &list);
        assert_eq!(!picked.dial.is_empty(), dials, "at {now}");
    }
}

#[test]
fn the_window_is_the_campaigns_own_time_zone() {
    let mut london = spec(Mode::Survey {
        flow: "survey".into(),
    });
    london.time_zone = "Europe/London";
    london.holidays = None;
    let london = london.check(&limits()).unwrap();
    let shanghai = survey();
    let counts = HashMap::new();
    let list = [waiting(1, "13800138000", 0)];
    // 09:30 in Shanghai is 02:30 in London (BST): only Shanghai dials.
    let now = sh(9, 28, 9, 30);
    assert_eq!(pick(&shanghai, &situation(now, &counts), &list).dial, [1]);
    assert!(
        pick(&london, &situation(now, &counts), &list)
            .dial
            .is_empty()
    );
    // London's 09:00 on the first weekday after the clocks went back
    // (Sunday 25 October): GMT now.
    let autumn = at("Europe/London", 2026, 10, 26, 9, 0);
    assert_eq!(pick(&london, &situation(autumn, &counts), &list).dial, [1]);
    assert!(!london.window_open(autumn - 1));
}

#[test]
fn retries_wait_per_outcome_and_land_inside_the_window() {
    let rules = survey();
    let now = sh(9, 28, 10, 0);
    assert_eq!(rules.after(now, Outcome::Answered, 1), Next::Reached);
    assert_eq!(
        rules.after(now, Outcome::Busy, 1),
        Next::RetryAt(now + 10 * MIN)
    );
    assert_eq!(
        rules.after(now, Outcome::NoAnswer, 1),
        Next::RetryAt(now + 60 * MIN)
    );
    assert_eq!(
        rules.after(now, Outcome::NetworkError, 2),
        Next::RetryAt(now + 5 * MIN)
    );
    // Busy at 19:55: 20:05 is closed, so the next morning at 09:00.
    assert_eq!(
        rules.after(sh(9, 28, 19, 55), Outcome::Busy, 1),
        Next::RetryAt(sh(9, 29, 9, 0))
    );
    // Rejected on the eve of the holiday: after it.
    assert_eq!(
        rules.after(sh(9, 30, 12, 0), Outcome::Rejected, 1),
        Next::RetryAt(sh(10, 8, 9, 0))
    );
    // The third attempt was the last.
    assert_eq!(
        rules.after(now, Outcome::Busy, 3),
        Next::GaveUp(Outcome::Busy)
    );
    assert_eq!(Outcome::of_sip(486), Outcome::Busy);
    assert_eq!(Outcome::of_sip(487), Outcome::NoAnswer);
    assert_eq!(Outcome::of_sip(503), Outcome::NetworkError);
    assert_eq!(Outcome::of_sip(603), Outcome::Rejected);
    assert_eq!(Outcome::of_sip(404), Outcome::Failed);
}

#[test]
fn caps_do_not_call_and_dial_rules_hold_every_pick() {
    let rules = survey();
    let now = sh(9, 28, 10, 0);
    let mut counts = HashMap::new();
    counts.insert("13900000003".to_owned(), 3);
    let dnc = |n: &str| n == "13900000002";
    let list = [
        waiting(1, "13900000001", now - 5 * MIN),
        waiting(2, "13900000002", now - 4 * MIN),
        waiting(3, "13900000003", now - 3 * MIN),
        waiting(4, "0101234567", now - 2 * MIN), // Beijing: not in the rules
        waiting(5, "13900000005", now - MIN),
        waiting(6, "13900000006", now - MIN),
        waiting(7, "13900000007", now + MIN), // not due
    ];
    let mut s = situation(now, &counts);
    s.do_not_call = &dnc;
    s.in_flight = 1;
    let picked = pick(&rules, &s, &list);
    assert_eq!(picked.dial, [1, 5], "concurrency 3 with one call up");
    assert_eq!(
        picked.held,
        [
            (2, Held::DoNotCall),
            (3, Held::DailyCap),
            (4, Held::NotAllowed)
        ]
    );
    s.trunk_free = 1;
    assert_eq!(pick(&rules, &s, &list).dial, [1], "the trunk's free lines");
    for state in [RunState::Paused, RunState::Stopped] {
        s.state = state;
        assert_eq!(pick(&rules, &s, &list), Picked::default());
    }
    // One number twice in one pick still counts against the daily cap.
    let twice = [
        waiting(1, "13900000001", now),
        waiting(2, "13900000001", now),
    ];
    let mut s = situation(now, &counts);
    s.daily_cap = 1;
    let picked = pick(&rules, &s, &twice);
    assert_eq!(picked.dial, [1]);
    assert_eq!(picked.held, [(2, Held::DailyCap)]);
}

#[test]
fn progressive_and_callbacks_dial_only_for_ready_agents_and_in_order() {
    let rules = spec(Mode::Callbacks {
        queue: "general".into(),
    })
    .check(&limits())
    .unwrap();
    let now = sh(9, 28, 10, 0);
    let counts = HashMap::new();
    // Due in another order than they called.
    let list = [
        Waiting {
            contact: 1,
            number: "13900000001".into(),
            due_ms: now - MIN,
            since_ms: now - 30 * MIN,
        },
        Waiting {
            contact: 2,
            number: "13900000002".into(),
            due_ms: now - 10 * MIN,
            since_ms: now - 40 * MIN,
        },
        Waiting {
            contact: 3,
            number: "13900000003".into(),
            due_ms: now - 20 * MIN,
            since_ms: now - 20 * MIN,
        },
    ];
    let mut s = situation(now, &counts);
    assert!(pick(&rules, &s, &list).dial.is_empty(), "no agent ready");
    s.ready_agents = 2;
    assert_eq!(
        pick(&rules, &s, &list).dial,
        [2, 1],
        "by the time they called"
    );
    let preview = spec(Mode::Preview {
        queue: "general".into(),
    })
    .check(&limits())
    .unwrap();
    assert!(pick(&preview, &s, &list).dial.is_empty(), "an agent dials");
}

#[test]
fn an_agent_may_dial_a_preview_contact_only_within_every_rule() {
    let rules = spec(Mode::Preview {
        queue: "general".into(),
    })
    .check(&limits())
    .unwrap();
    let open = sh(3, 10, 10, 0);
    let counts = HashMap::from([("13900000003".to_owned(), 3)]);
    let mut s = situation(open, &counts);
    let ok = waiting(1, "13900000001", open);
    assert_eq!(may_dial(&rules, &s, &ok), Ok(()));
    assert_eq!(
        may_dial(&rules, &s, &waiting(2, "13900000001", open + 60_000)),
        Err(Refused::NotDue)
    );
    assert_eq!(
        may_dial(&rules, &s, &waiting(3, "13900000003", open)),
        Err(Refused::Held(Held::DailyCap))
    );
    assert_eq!(
        may_dial(&rules, &s, &waiting(4, "110", open)),
        Err(Refused::Held(Held::NotAllowed))
    );
    let blocked = |n: &str| n == "13900000001";
    s.do_not_call = &blocked;
    assert_eq!(
        may_dial(&rules, &s, &ok),
        Err(Refused::Held(Held::DoNotCall))
    );
    s.do_not_call = &nobody;
    s.state = RunState::Paused;
    assert_eq!(may_dial(&rules, &s, &ok), Err(Refused::NotRunning));
    s.state = RunState::Running;
    s.now_ms = sh(3, 10, 22, 0);
    let late = waiting(1, "13900000001", open);
    assert_eq!(may_dial(&rules, &s, &late), Err(Refused::WindowClosed));
}

#[test]
fn a_campaign_that_breaks_a_limit_is_refused_with_its_key() {
    let base = || {
        spec(Mode::Survey {
            flow: "survey".into(),
        })
    };
    const NIGHT: &[(&str, &str)] = &[("daily", "07:00-22:00")];
    const LATE: &[(&str, &str)] = &[("sat", "10:00-21:30")];
    let cases: Vec<(CampaignSpec<'static>, &str)> = vec![
        (
            CampaignSpec {
                hours: NIGHT,
                ..base()
            },
            "hours",
        ),
        (
            CampaignSpec {
                hours: LATE,
                ..base()
            },
            "hours",
        ),
        (
            CampaignSpec {
                caller_id: "",
                ..base()
            },
            "caller_id",
        ),
        (
            CampaignSpec {
                caller_id: "anonymous",
                ..base()
            },
            "caller_id",
        ),
        (
            CampaignSpec {
                concurrency: 61,
                ..base()
            },
            "concurrency",
        ),
        (
            CampaignSpec {
                concurrency: 0,
                ..base()
            },
            "concurrency",
        ),
        (
            CampaignSpec {
                max_attempts: 0,
                ..base()
            },
            "max_attempts",
        ),
        (
            CampaignSpec {
                allow: &[],
                ..base()
            },
            "allow",
        ),
        (
            CampaignSpec {
                allow: &["_1[3-9"],
                ..base()
            },
            "allow[0]",
        ),
        (
            CampaignSpec {
                time_zone: "Mars/Olympus",
                ..base()
            },
            "time_zone",
        ),
        (
            CampaignSpec {
                retry: RetryDelays {
                    busy: Duration::from_secs(5),
                    ..retry()
                },
                ..base()
            },
            "retry.busy",
        ),
    ];
    for (spec, key) in cases {
        let err = spec.check(&limits()).unwrap_err();
        assert_eq!(err.key, key, "{err}");
        assert_eq!(err.campaign, "follow-up");
    }
    let err = CampaignSpec {
        hours: NIGHT,
        ..base()
    }
    .check(&limits())
    .unwrap_err();
    assert!(err.to_string().contains("08:00-21:00"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever is waiting and however busy things are, a pick dials only
    /// due, allowed, callable numbers inside the window, within every cap.
    #[test]
    fn every_pick_stays_within_every_cap(
        contacts in proptest::collection::vec((0u8..12, -120i64..120, any::<bool>()), 0..40),
        minute in 0i64..(7 * 24 * 60),
        in_flight in 0u32..5,
        trunk_free in 0u32..6,
        ready in 0u32..6,
        cap in 1u32..3,
        progressive in any::<bool>(),
        used in proptest::collection::vec(0u32..3, 12),
    ) {
        let mode = if progressive {
            Mode::Progressive { queue: "general".into() }
        } else {
            Mode::Survey { flow: "survey".into() }
        };
        let rules = spec(mode).check(&limits()).unwrap();
        let now = sh(9, 28, 0, 0) + minute * MIN;
        let number = |n: u8| if n == 11 { "0101234567".to_owned() } else { format!("139000000{n:02}") };
        let list: Vec<Waiting> = contacts
            .iter()
            .enumerate()
            .map(|(i, (n, due, _))| waiting(i as i64, &number(*n), now + due * MIN))
            .collect();
        let counts: HashMap<String, u32> =
            used.iter().enumerate().map(|(n, c)| (number(n as u8), *c)).collect();
        let dnc_numbers: Vec<String> = contacts
            .iter()
            .filter(|(_, _, d)| *d)
            .map(|(n, _, _)| number(*n))
            .collect();
        let dnc = |n: &str| dnc_numbers.iter().any(|d| d == n);
        let s = Situation {
            now_ms: now,
            state: RunState::Running,
            in_flight,
            trunk_free,
            ready_agents: ready,
            do_not_call: &dnc,
            dialled_today: &counts,
            daily_cap: cap,
        };
        let picked = pick(&rules, &s, &list);
        let mut room = 3u32.saturating_sub(in_flight).min(trunk_free);
        if progressive {
            room = room.min(ready);
        }
        prop_assert!(picked.dial.len() as u32 <= room);
        if !rules.window_open(now) {
            prop_assert!(picked.dial.is_empty());
        }
        let mut per_number: HashMap<&str, u32> = HashMap::new();
        for id in &picked.dial {
            let w = &list[*id as usize];
            prop_assert!(w.due_ms <= now);
            prop_assert!(rules.number_allowed(&w.number));
            prop_assert!(!dnc(&w.number));
            let n = per_number.entry(w.number.as_str()).or_default();
            *n += 1;
            prop_assert!(counts.get(&w.number).copied().unwrap_or(0) + *n <= cap);
        }
        // Nobody due and callable is overtaken by a later one.
        if let Some(last) = picked.dial.last() {
            let last = &list[*last as usize];
            for w in &list {
                let callable = w.due_ms <= now && rules.number_allowed(&w.number) && !dnc(&w.number)
                    && counts.get(&w.number).copied().unwrap_or(0) < cap;
                if callable && (w.since_ms, w.due_ms, w.contact) < (last.since_ms, last.due_ms, last.contact)
                    && !picked.dial.contains(&w.contact)
                {
                    // Only the daily cap within this pick may skip it.
                    let same = picked.dial.iter().filter(|d| list[**d as usize].number == w.number).count() as u32;
                    prop_assert!(counts.get(&w.number).copied().unwrap_or(0) + same >= cap);
                }
            }
        }
    }
}
