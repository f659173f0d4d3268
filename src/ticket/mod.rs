//! Service tickets' stages and SLA due times: the pure core behind the
//! ticket API (the trade's "service ticket" with its timed stages).
//!
//! Owns what a ticket is for ([`TicketKind`]), where it stands
//! ([`TicketStage`]), the legal moves between stages ([`Ticket::transition`]),
//! the stamps those moves leave ([`Stamp`]) and the SLA clock: the due time
//! of the next expected stage ([`Due`], from an [`SlaPolicy`]) and whether it
//! is overdue ([`Ticket::breach`]). Pure: no I/O and no clock; instants come
//! in as epoch milliseconds, who acts comes in as an [`Actor`].
//!
//! # Moves
//! ```text
//! accepted    -> dispatched (needs an outlet)
//!             -> completed  (a consultation answered on the call, or a
//!                            complaint settled by its team)
//! dispatched  -> in_service | dispatched (re-dispatch to another outlet)
//! in_service  -> completed
//! completed   -> followed_up (needs a satisfaction score 1-5)
//! followed_up -> closed   (the score is satisfied: >= the policy's threshold)
//!             -> reopened (dissatisfied: the ticket becomes a complaint)
//! reopened    -> dispatched | in_service (needs an outlet already) | completed
//! closed      final
//! ```
//! Anything else is refused with a [`TransitionError`] naming the stages
//! and why.
//!
//! # SLA
//! Each stage but the last has a next expected stage, due a policy target
//! after the stamp that started its clock: dispatch after acceptance,
//! completion after the (latest) dispatch, by the outlet's [`OutletTier`],
//! follow-up after completion. A kind may also have a closure target
//! (complaints: 72 h), counted from acceptance or from reopening; it caps
//! every due time until the ticket is closed, and is the due time of
//! `closed` after a follow-up and of `completed` after a reopening. A target
//! may count open time of the policy's [`BusinessHours`] instead of
//! wall-clock time (falling back to wall-clock time when the policy has
//! none or they never open).
//!
//! # Invariants
//! Kept by every [`Ticket::transition`], successful or not:
//! - stamps are in time order and the last one's stage is the ticket's;
//! - `version` is the number of successful transitions (0 when accepted),
//!   and a request based on another version is refused as a conflict;
//! - a closed ticket has no due time; a reopened ticket is a complaint;
//! - a ticket in service, dispatched or reopened after a dispatch has an
//!   outlet.

mod desk;
mod stage;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::ivr::calendar::BusinessHours;
pub use desk::{ServiceDesk, next_number};
pub use stage::{TicketKind, TicketStage};

/// The three tiers of service outlets (服务网点), which have different
/// completion targets.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OutletTier {
    /// 市级
    City,
    /// 县级
    County,
    /// 乡镇
    Town,
}

impl OutletTier {
    pub const ALL: [OutletTier; 3] = [OutletTier::City, OutletTier::County, OutletTier::Town];

    pub fn as_str(self) -> &'static str {
        match self {
            OutletTier::City => "city",
            OutletTier::County => "county",
            OutletTier::Town => "town",
        }
    }

    pub fn parse(s: &str) -> Option<OutletTier> {
        OutletTier::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The outlet a ticket is dispatched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Outlet {
    pub id: i64,
    pub tier: OutletTier,
}

/// Who made a move: a user, or the system itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    User(i64),
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(id) => write!(f, "user {id}"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// The record one move leaves: the stage reached, when and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stamp {
    pub stage: TicketStage,
    /// Epoch ms.
    pub at_ms: i64,
    pub actor: Actor,
    /// The outlet dispatched to (dispatched only).
    pub outlet: Option<Outlet>,
    /// The satisfaction score (followed_up only).
    pub score: Option<u8>,
    /// Free text: why (re-dispatch, reopening...), as the actor gave it.
    pub reason: Option<String>,
}

/// A request to move a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub to: TicketStage,
    /// The ticket version the request was based on.
    pub version: u64,
    /// Epoch ms.
    pub at_ms: i64,
    pub actor: Actor,
    /// Required to dispatch; refused elsewhere.
    pub outlet: Option<Outlet>,
    /// Required to follow up (1-5); refused elsewhere.
    pub score: Option<u8>,
    pub reason: Option<String>,
}

impl Transition {
    /// A move with no outlet, score or reason.
    pub fn to(to: TicketStage, version: u64, at_ms: i64, actor: Actor) -> Self {
        Self {
            to,
            version,
            at_ms,
            actor,
            outlet: None,
            score: None,
            reason: None,
        }
    }
}

/// Why a move was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// Someone else moved the ticket since the request's version (409).
    #[error(
        "the ticket is at version {current}, the request was based on version {based_on}: reload it"
    )]
    Conflict { current: u64, based_on: u64 },
    #[error("{}", not_allowed(*.from, *.to))]
    NotAllowed { from: TicketStage, to: TicketStage },
    #[error("a closed ticket is final: it cannot go to {}", .to.phrase())]
    Final { to: TicketStage },
    #[error(
        "only a consultation or a complaint settled by the call center can be completed when accepted: a {kind} must be dispatched first"
    )]
    NeedsDispatch {
        kind: TicketKind,
        from: TicketStage,
        to: TicketStage,
    },
    #[error("{} needs an outlet", if *.to == TicketStage::Dispatched { "dispatch" } else { "service" })]
    NeedsOutlet { from: TicketStage, to: TicketStage },
    #[error("re-dispatch must go to another outlet: the ticket is already with outlet {outlet}")]
    SameOutlet { outlet: i64 },
    #[error("follow-up needs a satisfaction score 1-5")]
    NeedsScore,
    #[error("score {score} is not 1-5")]
    BadScore { score: u8 },
    #[error(
        "the customer scored {score}, below {satisfied_from}: reopen the ticket as a complaint, do not close it"
    )]
    Dissatisfied { score: u8, satisfied_from: u8 },
    #[error(
        "the customer scored {score}, {satisfied_from} or more, is satisfied: close the ticket, do not reopen it"
    )]
    Satisfied { score: u8, satisfied_from: u8 },
    #[error("going from {} to {} takes no {field}", .from.phrase(), .to.phrase())]
    Unexpected {
        from: TicketStage,
        to: TicketStage,
        field: &'static str,
    },
    #[error("{at_ms} is before the ticket's last stamp at {last_ms}")]
    BeforeLastStamp { at_ms: i64, last_ms: i64 },
}

/// Why stored stamps do not make a ticket ([`Ticket::restore`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error("a ticket needs at least its acceptance stamp: there are no stamps")]
    NoStamps,
    #[error("the first stamp must be the acceptance, not {}", .stage.phrase())]
    FirstNotAccepted { stage: TicketStage },
    #[error("the acceptance stamp takes no {field}")]
    AcceptanceCarries { field: &'static str },
    /// Replaying stamp `index` (0 is the acceptance) was refused.
    #[error("stamp {index} ({}) is refused: {error}", .stage.phrase())]
    Refused {
        index: usize,
        stage: TicketStage,
        error: TransitionError,
    },
}

fn not_allowed(from: TicketStage, to: TicketStage) -> String {
    let back = if to.order() < from.order() {
        "back "
    } else {
        ""
    };
    format!(
        "a ticket {} cannot go {back}to {}",
        from.phrase(),
        to.phrase()
    )
}

/// One SLA target: a span of time, counted in wall-clock time or in open
/// time of the policy's business hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaTarget {
    pub within: Duration,
    pub business_hours: bool,
}

impl SlaTarget {
    /// `hours` of wall-clock time.
    pub const fn hours(hours: u64) -> Self {
        Self {
            within: Duration::from_secs(hours * 3600),
            business_hours: false,
        }
    }

    /// `hours` of open time.
    pub const fn business_hours(hours: u64) -> Self {
        Self {
            within: Duration::from_secs(hours * 3600),
            business_hours: true,
        }
    }
}

/// The targets of one ticket kind; `None` is no target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindTargets {
    /// Accepted (or reopened) to dispatched.
    pub dispatch: Option<SlaTarget>,
    /// Dispatched to completed, by the outlet's tier: city, county, town.
    pub complete: [Option<SlaTarget>; 3],
    /// Completed to followed up.
    pub follow_up: Option<SlaTarget>,
    /// Accepted (or reopened) to closed.
    pub close: Option<SlaTarget>,
}

impl KindTargets {
    /// The completion target for an outlet of `tier`.
    pub fn complete(&self, tier: OutletTier) -> Option<SlaTarget> {
        self.complete[tier as usize]
    }
}

/// The SLA targets per ticket kind, and when a follow-up is satisfied.
/// Plain data: the configuration fills it.
#[derive(Debug, Clone)]
pub struct SlaPolicy {
    pub repair: KindTargets,
    pub installation: KindTargets,
    pub consultation: KindTargets,
    pub complaint: KindTargets,
    /// Lowest satisfied follow-up score (1-5); below reopens.
    pub satisfied_from: u8,
    /// What targets counted in business hours count; `None`: wall-clock.
    pub business_hours: Option<BusinessHours>,
}

impl SlaPolicy {
    /// The targets of `kind`.
    pub fn targets(&self, kind: TicketKind) -> &KindTargets {
        match kind {
            TicketKind::Repair => &self.repair,
            TicketKind::Installation => &self.installation,
            TicketKind::Consultation => &self.consultation,
            TicketKind::Complaint => &self.complaint,
        }
    }

    /// The instant `target` after `from_ms`.
    pub fn due_after(&self, from_ms: i64, target: SlaTarget) -> i64 {
        let wall = || from_ms.saturating_add(duration_ms(target.within));
        match (&self.business_hours, target.business_hours) {
            (Some(hours), true) => hours
                .add_open_time(from_ms, target.within)
                .unwrap_or_else(wall),
            _ => wall(),
        }
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Default for SlaPolicy {
    /// Issue 4's targets, in wall-clock hours (the hotline runs 24 hours):
    /// dispatched within 2 h of acceptance, completed within 24/48/72 h of
    /// dispatch at a city/county/town outlet, followed up within 24 h of
    /// completion; complaints also closed within 72 h. Scores 3-5 satisfy.
    fn default() -> Self {
        let kind = KindTargets {
            dispatch: Some(SlaTarget::hours(2)),
            complete: [
                Some(SlaTarget::hours(24)),
                Some(SlaTarget::hours(48)),
                Some(SlaTarget::hours(72)),
            ],
            follow_up: Some(SlaTarget::hours(24)),
            close: None,
        };
        Self {
            repair: kind,
            installation: kind,
            consultation: kind,
            complaint: KindTargets {
                close: Some(SlaTarget::hours(72)),
                ..kind
            },
            satisfied_from: 3,
            business_hours: None,
        }
    }
}

/// When the next expected stage is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Due {
    pub stage: TicketStage,
    /// Epoch ms.
    pub at_ms: i64,
}

/// An overdue ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Breach {
    pub stage: TicketStage,
    pub due_ms: i64,
    pub late_by_ms: i64,
}

/// A service ticket's stages: its kind, stamps, outlet and SLA due time.
/// Built by [`Ticket::accept`] (or rebuilt from its stamps by
/// [`Ticket::restore`]), changed only by [`Ticket::transition`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ticket {
    kind: TicketKind,
    stamps: Vec<Stamp>,
    outlet: Option<Outlet>,
    version: u64,
    /// The closure deadline of the kind, from acceptance or reopening.
    close_by_ms: Option<i64>,
    due: Option<Due>,
}

impl Ticket {
    /// A ticket accepted at `at_ms` by `actor`, at version 0.
    pub fn accept(kind: TicketKind, at_ms: i64, actor: Actor, policy: &SlaPolicy) -> Self {
        let mut ticket = Self {
            kind,
            stamps: vec![Stamp {
                stage: TicketStage::Accepted,
                at_ms,
                actor,
                outlet: None,
                score: None,
                reason: None,
            }],
            outlet: None,
            version: 0,
            close_by_ms: None,
            due: None,
        };
        ticket.close_by_ms = policy
            .targets(kind)
            .close
            .map(|t| policy.due_after(at_ms, t));
        ticket.due = ticket.next_due(policy);
        ticket
    }

    /// Rebuilds a ticket from what the store keeps: the kind it was
    /// accepted as (a reopening turns it into a complaint) and its stamps,
    /// oldest first. Nothing else is trusted: the current kind, outlet,
    /// score, version and due time come from replaying the stamps through
    /// [`Ticket::accept`] and [`Ticket::transition`] under `policy`, so the
    /// result equals the ticket that left those stamps (under the same
    /// policy). Refuses stamps those rules would not have left.
    pub fn restore(
        kind_at_acceptance: TicketKind,
        stamps: Vec<Stamp>,
        policy: &SlaPolicy,
    ) -> Result<Self, RestoreError> {
        let mut stamps = stamps.into_iter();
        let first = stamps.next().ok_or(RestoreError::NoStamps)?;
        if first.stage != TicketStage::Accepted {
            return Err(RestoreError::FirstNotAccepted { stage: first.stage });
        }
        if first.outlet.is_some() {
            return Err(RestoreError::AcceptanceCarries { field: "outlet" });
        }
        if first.score.is_some() {
            return Err(RestoreError::AcceptanceCarries { field: "score" });
        }
        let mut ticket = Self::accept(kind_at_acceptance, first.at_ms, first.actor, policy);
        ticket.stamps[0].reason = first.reason;
        for (index, stamp) in stamps.enumerate() {
            let stage = stamp.stage;
            let request = Transition {
                to: stage,
                version: ticket.version,
                at_ms: stamp.at_ms,
                actor: stamp.actor,
                outlet: stamp.outlet,
                score: stamp.score,
                reason: stamp.reason,
            };
            ticket
                .transition(request, policy)
                .map_err(|error| RestoreError::Refused {
                    index: index + 1,
                    stage,
                    error,
                })?;
        }
        Ok(ticket)
    }

    pub fn kind(&self) -> TicketKind {
        self.kind
    }

    pub fn stage(&self) -> TicketStage {
        self.last().stage
    }

    /// Every move, oldest first; the first is the acceptance.
    pub fn stamps(&self) -> &[Stamp] {
        &self.stamps
    }

    /// The outlet of the latest dispatch.
    pub fn outlet(&self) -> Option<Outlet> {
        self.outlet
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// The next expected stage and when it is due; `None` when closed or
    /// when the policy sets no target.
    pub fn due(&self) -> Option<Due> {
        self.due
    }

    /// The latest satisfaction score.
    pub fn score(&self) -> Option<u8> {
        self.stamps.iter().rev().find_map(|s| s.score)
    }

    /// Whether the next expected stage is overdue at `now_ms`.
    pub fn breach(&self, now_ms: i64) -> Option<Breach> {
        let due = self.due?;
        (now_ms > due.at_ms).then(|| Breach {
            stage: due.stage,
            due_ms: due.at_ms,
            late_by_ms: now_ms.saturating_sub(due.at_ms),
        })
    }

    fn last(&self) -> &Stamp {
        // Never empty: accept() stamps, nothing removes.
        &self.stamps[self.stamps.len() - 1]
    }

    /// Moves the ticket as `request` asks, or refuses and leaves it as it
    /// was. See the module doc for the legal moves. Checked in this order,
    /// the first failure reported: the version, the move, the outlet, the
    /// score, the time.
    pub fn transition(
        &mut self,
        request: Transition,
        policy: &SlaPolicy,
    ) -> Result<(), TransitionError> {
        use TicketStage::*;
        let (from, to) = (self.stage(), request.to);
        if request.version != self.version {
            return Err(TransitionError::Conflict {
                current: self.version,
                based_on: request.version,
            });
        }
        let legal = match from {
            Accepted => matches!(to, Dispatched | Completed),
            Dispatched => matches!(to, InService | Dispatched),
            InService => to == Completed,
            Completed => to == FollowedUp,
            FollowedUp => matches!(to, Closed | Reopened),
            Reopened => matches!(to, Dispatched | InService | Completed),
            Closed => return Err(TransitionError::Final { to }),
        };
        if !legal {
            return Err(TransitionError::NotAllowed { from, to });
        }
        // Consultations are answered on the call and complaints settled by
        // their owning team; work on a product needs an outlet.
        if from == Accepted
            && to == Completed
            && !matches!(self.kind, TicketKind::Consultation | TicketKind::Complaint)
        {
            return Err(TransitionError::NeedsDispatch {
                kind: self.kind,
                from,
                to,
            });
        }
        // The outlet: given to dispatch, and only then.
        match (to, request.outlet) {
            (Dispatched, None) => return Err(TransitionError::NeedsOutlet { from, to }),
            (Dispatched, Some(new)) => {
                if let Some(old) = self
                    .outlet
                    .filter(|old| from == Dispatched && old.id == new.id)
                {
                    return Err(TransitionError::SameOutlet { outlet: old.id });
                }
            }
            (_, Some(_)) => {
                return Err(TransitionError::Unexpected {
                    from,
                    to,
                    field: "outlet",
                });
            }
            (_, None) => {}
        }
        if to == InService && self.outlet.is_none() {
            return Err(TransitionError::NeedsOutlet { from, to });
        }
        // The score: given to follow up, and only then; it decides the next move.
        let satisfied_from = policy.satisfied_from;
        match (to, request.score) {
            (FollowedUp, None) => return Err(TransitionError::NeedsScore),
            (FollowedUp, Some(score)) if !(1..=5).contains(&score) => {
                return Err(TransitionError::BadScore { score });
            }
            (FollowedUp, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(TransitionError::Unexpected {
                    from,
                    to,
                    field: "score",
                });
            }
        }
        if let (Closed | Reopened, Some(score)) = (to, self.score()) {
            match (to, score >= satisfied_from) {
                (Closed, false) => {
                    return Err(TransitionError::Dissatisfied {
                        score,
                        satisfied_from,
                    });
                }
                (Reopened, true) => {
                    return Err(TransitionError::Satisfied {
                        score,
                        satisfied_from,
                    });
                }
                _ => {}
            }
        }
        let last_ms = self.last().at_ms;
        if request.at_ms < last_ms {
            return Err(TransitionError::BeforeLastStamp {
                at_ms: request.at_ms,
                last_ms,
            });
        }

        // Accepted: stamp it.
        if let Some(outlet) = request.outlet {
            self.outlet = Some(outlet);
        }
        if to == Reopened {
            self.kind = TicketKind::Complaint;
            let close = policy.targets(self.kind).close;
            self.close_by_ms = close.map(|t| policy.due_after(request.at_ms, t));
        }
        self.stamps.push(Stamp {
            stage: to,
            at_ms: request.at_ms,
            actor: request.actor,
            outlet: request.outlet,
            score: request.score,
            reason: request.reason,
        });
        self.version += 1;
        self.due = self.next_due(policy);
        Ok(())
    }

    /// The due time of the next expected stage, as the module doc says.
    fn next_due(&self, policy: &SlaPolicy) -> Option<Due> {
        use TicketStage::*;
        let targets = policy.targets(self.kind);
        let last = self.last();
        let (stage, target, from_ms) = match last.stage {
            Accepted => (Dispatched, targets.dispatch, last.at_ms),
            Dispatched | InService => {
                // The clock starts at the latest dispatch.
                let dispatch = self.stamps.iter().rev().find(|s| s.stage == Dispatched)?;
                let tier = dispatch.outlet?.tier;
                (Completed, targets.complete(tier), dispatch.at_ms)
            }
            Completed => (FollowedUp, targets.follow_up, last.at_ms),
            FollowedUp => (Closed, None, last.at_ms),
            Reopened => (Completed, None, last.at_ms),
            Closed => return None,
        };
        let at_ms = match (
            target.map(|t| policy.due_after(from_ms, t)),
            self.close_by_ms,
        ) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(Due { stage, at_ms })
    }
}
