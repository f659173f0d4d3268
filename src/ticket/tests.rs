//! Stage moves, SLA due times and the invariants under random moves.

use proptest::prelude::*;

use super::*;
use crate::ivr::calendar::{BusinessHours, Calendar};
use TicketStage::*;

const CN_2026: &str = include_str!("../../ivr-flows/calendars/cn-2026.toml");
const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
/// 2026-11-25T00:00:00Z, a Wednesday.
const T0: i64 = 1_795_564_800_000;
const AGENT: Actor = Actor::User(7);
const CITY: Outlet = Outlet {
    id: 1,
    tier: OutletTier::City,
};
const TOWN: Outlet = Outlet {
    id: 2,
    tier: OutletTier::Town,
};

/// The next move of `ticket` to `to`, a minute after its last stamp, with
/// what that move needs: an outlet (another one) to dispatch, score 4 to
/// follow up.
fn next(ticket: &Ticket, to: TicketStage) -> Transition {
    let mut t = Transition::to(to, ticket.version(), ticket.last().at_ms + MIN, AGENT);
    if to == Dispatched {
        t.outlet = Some(if ticket.outlet() == Some(CITY) {
            TOWN
        } else {
            CITY
        });
    }
    if to == FollowedUp {
        t.score = Some(4);
    }
    t
}

fn go(ticket: &mut Ticket, request: Transition) -> Result<(), TransitionError> {
    ticket.transition(request, &SlaPolicy::default())
}

fn step(ticket: &mut Ticket, to: TicketStage) {
    let request = next(ticket, to);
    go(ticket, request).unwrap_or_else(|e| panic!("to {to}: {e}"));
}

fn follow_up(ticket: &mut Ticket, score: u8) {
    let mut request = next(ticket, FollowedUp);
    request.score = Some(score);
    go(ticket, request).unwrap();
}

/// A `kind` ticket brought to `stage` by legal moves; a follow-up scores
/// `score`, a reopened ticket was scored 1, a closed one 5.
fn at(kind: TicketKind, stage: TicketStage, score: u8) -> Ticket {
    let mut t = Ticket::accept(kind, T0, Actor::System, &SlaPolicy::default());
    let path: &[TicketStage] = match stage {
        Accepted => &[],
        Dispatched => &[Dispatched],
        InService => &[Dispatched, InService],
        Completed | FollowedUp | Closed | Reopened => &[Dispatched, InService, Completed],
    };
    for &s in path {
        step(&mut t, s);
    }
    match stage {
        FollowedUp => follow_up(&mut t, score),
        Closed => {
            follow_up(&mut t, 5);
            step(&mut t, Closed);
        }
        Reopened => {
            follow_up(&mut t, 1);
            step(&mut t, Reopened);
        }
        _ => {}
    }
    assert_eq!(t.stage(), stage);
    t
}

fn repair(stage: TicketStage) -> Ticket {
    at(TicketKind::Repair, stage, 4)
}

/// Applies `request`; a refusal must leave the ticket untouched.
fn attempt(ticket: &mut Ticket, request: Transition) -> Result<(), TransitionError> {
    let before = ticket.clone();
    let result = go(ticket, request);
    if result.is_err() {
        assert_eq!(*ticket, before, "a refused move changed the ticket");
    }
    result
}

// ---- Moves ----------------------------------------------------------------

#[test]
fn every_legal_move() {
    let consultation = Ticket::accept(TicketKind::Consultation, T0, AGENT, &SlaPolicy::default());
    let table: [(Ticket, TicketStage); 11] = [
        (repair(Accepted), Dispatched),
        (consultation, Completed),
        (repair(Dispatched), InService),
        (repair(Dispatched), Dispatched),
        (repair(InService), Completed),
        (repair(Completed), FollowedUp),
        (at(TicketKind::Repair, FollowedUp, 3), Closed),
        (at(TicketKind::Repair, FollowedUp, 2), Reopened),
        (repair(Reopened), Dispatched),
        (repair(Reopened), InService),
        (repair(Reopened), Completed),
    ];
    for (mut ticket, to) in table {
        let from = ticket.stage();
        let version = ticket.version();
        let request = next(&ticket, to);
        let at_ms = request.at_ms;
        attempt(&mut ticket, request).unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
        assert_eq!(ticket.stage(), to);
        assert_eq!(ticket.version(), version + 1);
        let stamp = ticket.stamps().last().unwrap();
        assert_eq!((stamp.stage, stamp.at_ms, stamp.actor), (to, at_ms, AGENT));
    }
}

#[test]
fn every_other_move_is_refused() {
    let legal: &[(TicketStage, TicketStage)] = &[
        (Accepted, Dispatched),
        (Accepted, Completed),
        (Dispatched, InService),
        (Dispatched, Dispatched),
        (InService, Completed),
        (Completed, FollowedUp),
        (FollowedUp, Closed),
        (FollowedUp, Reopened),
        (Reopened, Dispatched),
        (Reopened, InService),
        (Reopened, Completed),
    ];
    let mut refused = 0;
    for from in TicketStage::ALL {
        for to in TicketStage::ALL {
            if legal.contains(&(from, to)) {
                continue;
            }
            let mut ticket = repair(from);
            let request = next(&ticket, to);
            let error = attempt(&mut ticket, request).unwrap_err();
            let expected = if from == Closed {
                TransitionError::Final { to }
            } else {
                TransitionError::NotAllowed { from, to }
            };
            assert_eq!(error, expected);
            refused += 1;
        }
    }
    assert_eq!(refused, 49 - legal.len());
}

/// A ticket, an edit of the usual request, its target, the error and its message.
type Case = (
    Ticket,
    Box<dyn Fn(&mut Transition)>,
    TicketStage,
    TransitionError,
    &'static str,
);

#[test]
fn refusals_say_why() {
    let policy = SlaPolicy::default();
    let cases: Vec<Case> = vec![
        (
            repair(InService),
            Box::new(|_| {}),
            Accepted,
            TransitionError::NotAllowed {
                from: InService,
                to: Accepted,
            },
            "a ticket in service cannot go back to accepted",
        ),
        (
            repair(Accepted),
            Box::new(|_| {}),
            InService,
            TransitionError::NotAllowed {
                from: Accepted,
                to: InService,
            },
            "a ticket accepted cannot go to in service",
        ),
        (
            repair(Closed),
            Box::new(|_| {}),
            Reopened,
            TransitionError::Final { to: Reopened },
            "a closed ticket is final: it cannot go to reopened",
        ),
        (
            repair(Accepted),
            Box::new(|r| r.outlet = None),
            Dispatched,
            TransitionError::NeedsOutlet {
                from: Accepted,
                to: Dispatched,
            },
            "dispatch needs an outlet",
        ),
        (
            repair(Dispatched),
            Box::new(|r| r.outlet = Some(CITY)),
            Dispatched,
            TransitionError::SameOutlet { outlet: 1 },
            "re-dispatch must go to another outlet: the ticket is already with outlet 1",
        ),
        (
            repair(Accepted),
            Box::new(|_| {}),
            Completed,
            TransitionError::NeedsDispatch {
                kind: TicketKind::Repair,
                from: Accepted,
                to: Completed,
            },
            "only a consultation or a complaint settled by the call center can be completed when accepted: a repair must be dispatched first",
        ),
        (
            repair(Completed),
            Box::new(|r| r.score = None),
            FollowedUp,
            TransitionError::NeedsScore,
            "follow-up needs a satisfaction score 1-5",
        ),
        (
            repair(Completed),
            Box::new(|r| r.score = Some(7)),
            FollowedUp,
            TransitionError::BadScore { score: 7 },
            "score 7 is not 1-5",
        ),
        (
            repair(Completed),
            Box::new(|r| r.score = Some(0)),
            FollowedUp,
            TransitionError::BadScore { score: 0 },
            "score 0 is not 1-5",
        ),
        (
            at(TicketKind::Repair, FollowedUp, 2),
            Box::new(|_| {}),
            Closed,
            TransitionError::Dissatisfied {
                score: 2,
                satisfied_from: 3,
            },
            "the customer scored 2, below 3: reopen the ticket as a complaint, do not close it",
        ),
        (
            at(TicketKind::Repair, FollowedUp, 3),
            Box::new(|_| {}),
            Reopened,
            TransitionError::Satisfied {
                score: 3,
                satisfied_from: 3,
            },
            "the customer scored 3, 3 or more, is satisfied: close the ticket, do not reopen it",
        ),
        (
            repair(InService),
            Box::new(|r| r.outlet = Some(TOWN)),
            Completed,
            TransitionError::Unexpected {
                from: InService,
                to: Completed,
                field: "outlet",
            },
            "going from in service to completed takes no outlet",
        ),
        (
            repair(Accepted),
            Box::new(|r| r.score = Some(5)),
            Dispatched,
            TransitionError::Unexpected {
                from: Accepted,
                to: Dispatched,
                field: "score",
            },
            "going from accepted to dispatched takes no score",
        ),
        (
            repair(Dispatched),
            Box::new(|r| r.version = 0),
            InService,
            TransitionError::Conflict {
                current: 1,
                based_on: 0,
            },
            "the ticket is at version 1, the request was based on version 0: reload it",
        ),
        (
            repair(Dispatched),
            Box::new(|r| r.version = 2),
            InService,
            TransitionError::Conflict {
                current: 1,
                based_on: 2,
            },
            "the ticket is at version 1, the request was based on version 2: reload it",
        ),
        (
            repair(Dispatched),
            Box::new(|r| r.at_ms = T0),
            InService,
            TransitionError::BeforeLastStamp {
                at_ms: T0,
                last_ms: T0 + MIN,
            },
            "1795564800000 is before the ticket's last stamp at 1795564860000",
        ),
        (
            // Answered on the call, then reopened: no outlet to serve it.
            {
                let mut t = Ticket::accept(TicketKind::Consultation, T0, AGENT, &policy);
                step(&mut t, Completed);
                follow_up(&mut t, 1);
                step(&mut t, Reopened);
                t
            },
            Box::new(|_| {}),
            InService,
            TransitionError::NeedsOutlet {
                from: Reopened,
                to: InService,
            },
            "service needs an outlet",
        ),
    ];
    for (mut ticket, edit, to, expected, message) in cases {
        let mut request = next(&ticket, to);
        edit(&mut request);
        let error = attempt(&mut ticket, request).unwrap_err();
        assert_eq!(error, expected);
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn same_instant_is_allowed_and_reasons_are_kept() {
    let mut ticket = repair(Dispatched);
    let mut request = next(&ticket, Dispatched);
    request.at_ms = ticket.last().at_ms;
    request.reason = Some("outlet 1 has no technician".into());
    attempt(&mut ticket, request).unwrap();
    let stamp = ticket.stamps().last().unwrap();
    assert_eq!(stamp.outlet, Some(TOWN));
    assert_eq!(stamp.reason.as_deref(), Some("outlet 1 has no technician"));
    assert_eq!(ticket.outlet(), Some(TOWN));
    assert_eq!(Actor::System.to_string(), "system");
    assert_eq!(AGENT.to_string(), "user 7");
}

#[test]
fn a_dissatisfied_follow_up_reopens_as_a_complaint() {
    let mut ticket = at(TicketKind::Installation, FollowedUp, 1);
    assert_eq!(ticket.kind(), TicketKind::Installation);
    let request = next(&ticket, Reopened);
    attempt(&mut ticket, request).unwrap();
    assert_eq!(ticket.kind(), TicketKind::Complaint);
    assert_eq!(ticket.score(), Some(1));
    // Served again by the same outlet, then satisfied.
    step(&mut ticket, InService);
    step(&mut ticket, Completed);
    follow_up(&mut ticket, 5);
    step(&mut ticket, Closed);
    assert_eq!(ticket.version(), 9);
    assert_eq!(ticket.due(), None);
}

// ---- SLA ------------------------------------------------------------------

#[test]
fn default_due_times_per_kind_and_tier() {
    let policy = SlaPolicy::default();
    let tiers = [
        (OutletTier::City, 24),
        (OutletTier::County, 48),
        (OutletTier::Town, 72),
    ];
    for kind in TicketKind::ALL {
        for (tier, hours) in tiers {
            let outlet = Outlet { id: 9, tier };
            let mut t = Ticket::accept(kind, T0, AGENT, &policy);
            let due = |stage, at_ms| Some(Due { stage, at_ms });
            assert_eq!(t.due(), due(Dispatched, T0 + 2 * HOUR), "{kind}");
            let mut request = Transition::to(Dispatched, 0, T0 + HOUR, AGENT);
            request.outlet = Some(outlet);
            t.transition(request, &policy).unwrap();
            // Complaints must also be closed within 72 h of acceptance.
            let complete_by = if kind == TicketKind::Complaint {
                (T0 + HOUR + hours * HOUR).min(T0 + 72 * HOUR)
            } else {
                T0 + HOUR + hours * HOUR
            };
            assert_eq!(t.due(), due(Completed, complete_by), "{kind} {tier:?}");
            // Service does not stop the completion clock.
            let request = Transition::to(InService, 1, T0 + 3 * HOUR, AGENT);
            t.transition(request, &policy).unwrap();
            assert_eq!(t.due(), due(Completed, complete_by), "{kind} {tier:?}");
            let request = Transition::to(Completed, 2, T0 + 10 * HOUR, AGENT);
            t.transition(request, &policy).unwrap();
            assert_eq!(t.due(), due(FollowedUp, T0 + 34 * HOUR), "{kind}");
            let mut request = Transition::to(FollowedUp, 3, T0 + 20 * HOUR, AGENT);
            request.score = Some(5);
            t.transition(request, &policy).unwrap();
            let close_by = (kind == TicketKind::Complaint).then_some(Due {
                stage: Closed,
                at_ms: T0 + 72 * HOUR,
            });
            assert_eq!(t.due(), close_by, "{kind}");
            let request = Transition::to(Closed, 4, T0 + 21 * HOUR, AGENT);
            t.transition(request, &policy).unwrap();
            assert_eq!(t.due(), None);
        }
    }
}

#[test]
fn a_re_dispatch_restarts_the_completion_clock() {
    let mut t = repair(Dispatched); // city, at T0 + 1 min
    assert_eq!(t.due().unwrap().at_ms, T0 + MIN + 24 * HOUR);
    let mut request = Transition::to(Dispatched, 1, T0 + 5 * HOUR, AGENT);
    request.outlet = Some(TOWN);
    go(&mut t, request).unwrap();
    assert_eq!(
        t.due(),
        Some(Due {
            stage: Completed,
            at_ms: T0 + 77 * HOUR
        })
    );
}

#[test]
fn a_reopened_ticket_is_due_as_a_complaint() {
    let mut t = at(TicketKind::Repair, FollowedUp, 2);
    let reopened_at = t.last().at_ms + HOUR;
    let request = Transition::to(Reopened, t.version(), reopened_at, AGENT);
    go(&mut t, request).unwrap();
    let close_by = reopened_at + 72 * HOUR;
    assert_eq!(
        t.due(),
        Some(Due {
            stage: Completed,
            at_ms: close_by
        })
    );
    // Dispatched again to a town outlet: 72 h from now, capped by closure.
    let mut request = next(&t, Dispatched);
    request.at_ms = reopened_at + HOUR;
    go(&mut t, request).unwrap();
    assert_eq!(t.due().unwrap().at_ms, close_by);
}

#[test]
fn breach_reports_an_overdue_ticket() {
    let t = repair(Accepted);
    let due_ms = T0 + 2 * HOUR;
    assert_eq!(t.breach(T0), None);
    assert_eq!(t.breach(due_ms), None, "due, not late");
    assert_eq!(
        t.breach(due_ms + 90 * MIN),
        Some(Breach {
            stage: Dispatched,
            due_ms,
            late_by_ms: 90 * MIN
        })
    );
    assert_eq!(repair(Closed).breach(i64::MAX), None);
    // No target, no breach.
    assert_eq!(repair(FollowedUp).breach(i64::MAX), None);
}

fn shanghai_ms(civil: &str) -> i64 {
    let civil: jiff::civil::DateTime = civil.parse().unwrap();
    civil
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .unwrap()
        .timestamp()
        .as_millisecond()
}

#[test]
fn business_hour_targets_skip_weekends_and_holidays() {
    let calendar = Calendar::parse("cn-2026.toml", CN_2026).unwrap();
    let hours = BusinessHours::new(
        "Asia/Shanghai",
        &[("mon-fri", "09:00-18:00")],
        Some(calendar),
    )
    .unwrap();
    let mut policy = SlaPolicy {
        business_hours: Some(hours),
        ..SlaPolicy::default()
    };
    policy.repair.dispatch = Some(SlaTarget::business_hours(2));
    policy.repair.complete[OutletTier::City as usize] = Some(SlaTarget::business_hours(8));
    // Friday 17:00: one hour left; Saturday is off but Sunday 20 September
    // is a make-up workday (Monday's hours).
    let accepted = shanghai_ms("2026-09-18T17:00");
    let mut t = Ticket::accept(TicketKind::Repair, accepted, AGENT, &policy);
    assert_eq!(t.due().unwrap().at_ms, shanghai_ms("2026-09-20T10:00"));
    // Friday 25 to Sunday 27 September is the Mid-Autumn holiday: Thursday
    // 17:00 + 2 h runs to Monday 28th.
    let t2 = Ticket::accept(
        TicketKind::Repair,
        shanghai_ms("2026-09-24T17:00"),
        AGENT,
        &policy,
    );
    assert_eq!(t2.due().unwrap().at_ms, shanghai_ms("2026-09-28T10:00"));
    // Dispatched on Wednesday 30 September at 17:00 to a city outlet: 1 h,
    // then the National Day week, then 7 h on Thursday 8 October.
    let mut request = Transition::to(Dispatched, 0, shanghai_ms("2026-09-30T17:00"), AGENT);
    request.outlet = Some(CITY);
    t.transition(request, &policy).unwrap();
    assert_eq!(t.due().unwrap().at_ms, shanghai_ms("2026-10-08T16:00"));
    // Wall-clock targets ignore the calendar.
    let request = Transition::to(Completed, 2, shanghai_ms("2026-10-01T12:00"), AGENT);
    t.transition(
        Transition::to(InService, 1, shanghai_ms("2026-10-01T10:00"), AGENT),
        &policy,
    )
    .unwrap();
    t.transition(request, &policy).unwrap();
    assert_eq!(t.due().unwrap().at_ms, shanghai_ms("2026-10-02T12:00"));
}

#[test]
fn business_hours_that_never_open_fall_back_to_wall_clock() {
    let mut policy = SlaPolicy {
        business_hours: Some(BusinessHours::new("Asia/Shanghai", &[], None).unwrap()),
        ..SlaPolicy::default()
    };
    policy.repair.dispatch = Some(SlaTarget::business_hours(2));
    let t = Ticket::accept(TicketKind::Repair, T0, AGENT, &policy);
    assert_eq!(t.due().unwrap().at_ms, T0 + 2 * HOUR);
}

// ---- Restoring --------------------------------------------------------------

/// `ticket` rebuilt from its stamps, as the store would load it.
fn restored(kind: TicketKind, ticket: &Ticket) -> Result<Ticket, RestoreError> {
    Ticket::restore(kind, ticket.stamps().to_vec(), &SlaPolicy::default())
}

#[test]
fn a_ticket_restored_from_its_stamps_is_the_same_ticket() {
    let policy = SlaPolicy::default();
    let mut t = Ticket::accept(TicketKind::Repair, T0, AGENT, &policy);
    t.stamps[0].reason = Some("no hot water".into());
    let mut trail = vec![restored(TicketKind::Repair, &t).unwrap()];
    step(&mut t, Dispatched);
    trail.push(restored(TicketKind::Repair, &t).unwrap());
    let mut request = next(&t, Dispatched);
    request.reason = Some("outlet 1 has no technician".into());
    go(&mut t, request).unwrap();
    for to in [InService, Completed] {
        step(&mut t, to);
    }
    follow_up(&mut t, 2);
    for to in [Reopened, Completed] {
        step(&mut t, to);
    }
    follow_up(&mut t, 5);
    step(&mut t, Closed);
    assert_eq!(t.version(), 9);
    assert_eq!(t.kind(), TicketKind::Complaint);

    let back = restored(TicketKind::Repair, &t).unwrap();
    assert_eq!(back, t);
    assert_eq!(back.kind(), TicketKind::Complaint);
    assert_eq!(back.stage(), Closed);
    assert_eq!(back.stamps(), t.stamps());
    assert_eq!(back.outlet(), Some(TOWN));
    assert_eq!(back.score(), Some(5));
    assert_eq!(back.version(), 9);
    assert_eq!(back.due(), None);
    assert_eq!(back.breach(i64::MAX), None);
    // Every stage on the way, too, due times included.
    assert_eq!(trail[0].due().unwrap().at_ms, T0 + 2 * HOUR);
    assert_eq!(trail[1].due().unwrap().at_ms, T0 + MIN + 24 * HOUR);
    for n in 1..=t.stamps().len() {
        let stamps = t.stamps()[..n].to_vec();
        let back = Ticket::restore(TicketKind::Repair, stamps.clone(), &policy).unwrap();
        assert_eq!(back.stamps(), &stamps[..]);
        assert_eq!(back.version(), n as u64 - 1);
    }
    // The acceptance kind matters: restored as a complaint from the start,
    // the same stamps have a closure deadline.
    let open = &t.stamps()[..3];
    let as_repair = Ticket::restore(TicketKind::Repair, open.to_vec(), &policy).unwrap();
    let as_complaint = Ticket::restore(TicketKind::Complaint, open.to_vec(), &policy).unwrap();
    assert_ne!(as_repair.due(), as_complaint.due());
    assert_eq!(as_complaint.due().unwrap().at_ms, T0 + 72 * HOUR);
}

/// An edit of a closed ticket's stamps, the error and its message.
type Corruption = (Box<dyn Fn(&mut Vec<Stamp>)>, RestoreError, &'static str);

#[test]
fn corrupted_stamps_are_refused() {
    let t = repair(Closed);
    let stamps = t.stamps().to_vec();
    let refuse = |edit: &dyn Fn(&mut Vec<Stamp>)| {
        let mut stamps = stamps.clone();
        edit(&mut stamps);
        Ticket::restore(TicketKind::Repair, stamps, &SlaPolicy::default()).unwrap_err()
    };
    let cases: Vec<Corruption> = vec![
        (
            Box::new(|s| s.clear()),
            RestoreError::NoStamps,
            "a ticket needs at least its acceptance stamp: there are no stamps",
        ),
        (
            Box::new(|s| {
                s.remove(0);
            }),
            RestoreError::FirstNotAccepted { stage: Dispatched },
            "the first stamp must be the acceptance, not dispatched",
        ),
        (
            Box::new(|s| s[0].outlet = Some(CITY)),
            RestoreError::AcceptanceCarries { field: "outlet" },
            "the acceptance stamp takes no outlet",
        ),
        (
            Box::new(|s| s[0].score = Some(3)),
            RestoreError::AcceptanceCarries { field: "score" },
            "the acceptance stamp takes no score",
        ),
        (
            // Out of time order: service before the dispatch.
            Box::new(|s| s[2].at_ms = T0),
            RestoreError::Refused {
                index: 2,
                stage: InService,
                error: TransitionError::BeforeLastStamp {
                    at_ms: T0,
                    last_ms: T0 + MIN,
                },
            },
            "stamp 2 (in service) is refused: 1795564800000 is before the ticket's last stamp at 1795564860000",
        ),
        (
            // An illegal move: the service stamp lost.
            Box::new(|s| {
                s.remove(2);
            }),
            RestoreError::Refused {
                index: 2,
                stage: Completed,
                error: TransitionError::NotAllowed {
                    from: Dispatched,
                    to: Completed,
                },
            },
            "stamp 2 (completed) is refused: a ticket dispatched cannot go to completed",
        ),
        (
            Box::new(|s| s[1].outlet = None),
            RestoreError::Refused {
                index: 1,
                stage: Dispatched,
                error: TransitionError::NeedsOutlet {
                    from: Accepted,
                    to: Dispatched,
                },
            },
            "stamp 1 (dispatched) is refused: dispatch needs an outlet",
        ),
        (
            Box::new(|s| s[4].score = None),
            RestoreError::Refused {
                index: 4,
                stage: FollowedUp,
                error: TransitionError::NeedsScore,
            },
            "stamp 4 (followed up) is refused: follow-up needs a satisfaction score 1-5",
        ),
        (
            // Closed after a dissatisfied follow-up.
            Box::new(|s| s[4].score = Some(1)),
            RestoreError::Refused {
                index: 5,
                stage: Closed,
                error: TransitionError::Dissatisfied {
                    score: 1,
                    satisfied_from: 3,
                },
            },
            "stamp 5 (closed) is refused: the customer scored 1, below 3: reopen the ticket as a complaint, do not close it",
        ),
        (
            Box::new(|s| s.push(s[5].clone())),
            RestoreError::Refused {
                index: 6,
                stage: Closed,
                error: TransitionError::Final { to: Closed },
            },
            "stamp 6 (closed) is refused: a closed ticket is final: it cannot go to closed",
        ),
    ];
    for (edit, expected, message) in cases {
        let error = refuse(&*edit);
        assert_eq!(error, expected);
        assert_eq!(error.to_string(), message);
    }
    // A consultation may be completed on the call, a complaint by its
    // team; a repair may not.
    let mut c = Ticket::accept(TicketKind::Complaint, T0, AGENT, &SlaPolicy::default());
    step(&mut c, Completed);
    assert_eq!(restored(TicketKind::Complaint, &c).unwrap(), c);
    let mut c = Ticket::accept(TicketKind::Consultation, T0, AGENT, &SlaPolicy::default());
    step(&mut c, Completed);
    assert_eq!(restored(TicketKind::Consultation, &c).unwrap(), c);
    assert!(matches!(
        restored(TicketKind::Repair, &c),
        Err(RestoreError::Refused {
            index: 1,
            error: TransitionError::NeedsDispatch { .. },
            ..
        })
    ));
}

// ---- Random moves -------------------------------------------------------

fn check_invariants(t: &Ticket, successes: u64) -> Result<(), TestCaseError> {
    let stamps = t.stamps();
    prop_assert_eq!(stamps[0].stage, Accepted);
    prop_assert!(
        stamps.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
        "stamps out of order"
    );
    prop_assert_eq!(t.version(), successes);
    prop_assert_eq!(stamps.len() as u64, successes + 1);
    prop_assert_eq!(t.stage(), stamps.last().unwrap().stage);
    if t.stage() == Closed {
        prop_assert_eq!(t.due(), None);
        prop_assert_eq!(t.breach(i64::MAX), None);
    }
    if stamps.iter().any(|s| s.stage == Reopened) {
        prop_assert_eq!(t.kind(), TicketKind::Complaint);
    }
    if matches!(t.stage(), Dispatched | InService) {
        prop_assert!(t.outlet().is_some());
    }
    if let Some(due) = t.due() {
        let expected = match t.stage() {
            Accepted => Dispatched,
            Dispatched | InService | Reopened => Completed,
            Completed => FollowedUp,
            FollowedUp | Closed => Closed,
        };
        prop_assert_eq!(due.stage, expected);
    }
    Ok(())
}

fn outlet() -> impl Strategy<Value = Option<Outlet>> {
    prop::option::of((1i64..4, 0usize..3).prop_map(|(id, tier)| Outlet {
        id,
        tier: [OutletTier::City, OutletTier::County, OutletTier::Town][tier],
    }))
}

/// One attempted move: a target, an actor, an outlet and a score (given
/// only where the target takes them, unless `noisy`), a version skew and a
/// time step.
#[derive(Debug, Clone)]
struct Attempt {
    to: TicketStage,
    user: Option<i64>,
    outlet: Option<Outlet>,
    score: u8,
    noisy: bool,
    version_skew: i64,
    delta_ms: i64,
    reason: bool,
}

fn attempt_strategy() -> impl Strategy<Value = Attempt> {
    (
        (0usize..7, prop::option::of(0i64..5), outlet(), 0u8..=6),
        (
            prop::bool::weighted(0.2),
            prop_oneof![8 => Just(0i64), 1 => Just(-1i64), 1 => Just(1i64)],
            prop_oneof![9 => 0..20 * HOUR, 1 => -HOUR..0],
            any::<bool>(),
        ),
    )
        .prop_map(
            |((to, user, outlet, score), (noisy, version_skew, delta_ms, reason))| Attempt {
                to: TicketStage::ALL[to],
                user,
                outlet,
                score,
                noisy,
                version_skew,
                delta_ms,
                reason,
            },
        )
}

proptest! {
    #[test]
    fn random_moves_keep_a_ticket_consistent(
        kind in 0usize..4,
        attempts in prop::collection::vec(attempt_strategy(), 0..80),
    ) {
        let policy = SlaPolicy::default();
        let mut t = Ticket::accept(TicketKind::ALL[kind], T0, Actor::System, &policy);
        let mut successes = 0;
        for a in attempts {
            let (outlet, score) = if a.noisy {
                (a.outlet, Some(a.score))
            } else {
                (
                    a.outlet.filter(|_| a.to == Dispatched),
                    Some(a.score).filter(|_| a.to == FollowedUp),
                )
            };
            let request = Transition {
                to: a.to,
                version: t.version().saturating_add_signed(a.version_skew),
                at_ms: t.last().at_ms + a.delta_ms,
                actor: a.user.map_or(Actor::System, Actor::User),
                outlet,
                score,
                reason: a.reason.then(|| "random".to_owned()),
            };
            let before = t.clone();
            match t.transition(request, &policy) {
                Ok(()) => successes += 1,
                Err(_) => prop_assert_eq!(&t, &before),
            }
            check_invariants(&t, successes)?;
        }
    }

    #[test]
    fn a_ticket_restored_from_its_stamps_after_random_moves_is_the_same(
        kind in 0usize..4,
        attempts in prop::collection::vec(attempt_strategy(), 0..80),
        business_hours in any::<bool>(),
    ) {
        let mut policy = SlaPolicy::default();
        if business_hours {
            let calendar = Calendar::parse("cn-2026.toml", CN_2026).unwrap();
            policy.business_hours = Some(
                BusinessHours::new("Asia/Shanghai", &[("mon-fri", "09:00-18:00")], Some(calendar))
                    .unwrap(),
            );
            policy.repair.dispatch = Some(SlaTarget::business_hours(2));
            policy.complaint.complete[OutletTier::Town as usize] =
                Some(SlaTarget::business_hours(16));
        }
        let kind = TicketKind::ALL[kind];
        let mut t = Ticket::accept(kind, T0, Actor::System, &policy);
        for a in attempts {
            // The same requests as above; only the accepted ones leave stamps.
            let request = Transition {
                to: a.to,
                version: t.version().saturating_add_signed(a.version_skew),
                at_ms: t.last().at_ms + a.delta_ms,
                actor: a.user.map_or(Actor::System, Actor::User),
                outlet: if a.noisy { a.outlet } else { a.outlet.filter(|_| a.to == Dispatched) },
                score: Some(a.score).filter(|_| a.noisy || a.to == FollowedUp),
                reason: a.reason.then(|| "random".to_owned()),
            };
            let _ = t.transition(request, &policy);
            let back = Ticket::restore(kind, t.stamps().to_vec(), &policy);
            prop_assert_eq!(back.as_ref(), Ok(&t));
        }
    }
}
