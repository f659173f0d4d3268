//! The supervisor's wallboard as data: what the floor looks like now and
//! how the day has gone so far. PURE: no I/O and no clock; wall time comes
//! in as epoch milliseconds.
//!
//! Three parts:
//! - [`Live`]: a snapshot of the engine at one moment — each queue's
//!   waiting callers, each agent's state (since when, why, which call) and
//!   every call in progress. `crate::engine::Engine::board` makes it.
//! - [`Tally`]: today's figures per queue and per agent, counted from the
//!   [`RecordOp`]s the engine emits (the ops the store writes, so the two
//!   agree), started from what the store holds of the day so far
//!   ([`Seed`]: a restart does not zero the board) and rolled over at
//!   local midnight in the desk's time zone.
//! - [`Board::build`]: the frame a wallboard shows, from a snapshot,
//!   today's figures, the day's SLA breaches and the thresholds, with the
//!   alerts [`alerts`] raises.
//!
//! # What counts
//! The store's seed (`crate::store::Store::wallboard_today`) counts the
//! same way from the call rows:
//! - A call counts under the queue it last joined (`Queued`). Outbound
//!   campaign calls wait for agents too, but they are not a queue's
//!   callers and count nowhere.
//! - **answered**: the call's first agent answered (`AgentAnswered`),
//!   counted on the day of the answer, with its wait in the queue.
//! - **abandoned**: the call ended (`Ended`) after joining a queue without
//!   an agent ever answering it — the caller hung up waiting or ringing,
//!   or the queue let them go (overflow, the IVR's own maximum wait);
//!   counted on the day it ended.
//! - **service level**: answered within `service_level_secs` ÷ (answered
//!   + abandoned); none until a call was answered or abandoned.
//! - **average speed of answer**: the answered calls' wait ÷ answered.
//! - an agent's **calls handled**: calls they answered (ringing →
//!   on_call) or took over in a transfer (consulted → on_call), counted on
//!   the day of the answer.
//!
//! # Invariants
//! - Within a day the counters only grow; at each local midnight they
//!   start again from zero. An op stamped before the current day changes
//!   no counter (the day it belongs to is gone from the board).
//! - The tally follows a call only from its first `Queued` (or `Dialled`)
//!   to its `Ended`, so its memory is bounded by the calls in progress.
//! - Alerts are a function of their inputs: a condition that stops (the
//!   caller answered, the agent ready again) takes its alert away.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::acd::AgentId;
use crate::records::RecordOp;

// ----- the live snapshot ----------------------------------------------------

/// What a call in progress is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// An outbound call we placed, not answered yet.
    Dialling,
    /// In the IVR (menus, prompts, a message being left), in no queue.
    Ivr,
    /// In a queue, waiting for an agent.
    Waiting,
    /// Ringing at an agent.
    Ringing,
    /// Talking to an agent.
    Talking,
    /// Held by its agent.
    OnHold,
}

/// One call in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCall {
    /// hotline's call id (the call record's).
    pub id: String,
    /// The customer's number (who called us, or whom a campaign called).
    pub caller: String,
    /// The campaign of an outbound call.
    pub campaign: Option<String>,
    /// The queue it (last) joined.
    pub queue: Option<String>,
    /// The agent it rings at or talks to.
    pub agent: Option<AgentId>,
    pub state: CallState,
    /// When it arrived (or was dialled), wall ms.
    pub arrived_ms: i64,
    /// When it (last) joined its queue.
    pub queued_ms: Option<i64>,
    /// When its current agent answered it.
    pub answered_ms: Option<i64>,
    /// A supervisor listening in, whispering or barging.
    pub monitor: Option<LiveMonitor>,
}

/// A supervisor in a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveMonitor {
    pub supervisor: AgentId,
    pub username: String,
    /// `listen`, `whisper` or `barge`.
    pub mode: &'static str,
    /// Their phone answered (else it rings).
    pub connected: bool,
}

/// A caller waiting in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiter {
    pub call: String,
    /// In the queue since, wall ms.
    pub since_ms: i64,
}

/// A configured queue and who waits in it, in the order they will be
/// served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveQueue {
    pub name: String,
    pub waiting: Vec<Waiter>,
}

/// An agent the engine knows (since their first screen of this run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAgent {
    pub id: AgentId,
    pub username: String,
    pub display_name: String,
    /// The queues they are logged in to.
    pub queues: Vec<String>,
    /// An ACD state name (`crate::acd::AgentState::name`).
    pub state: &'static str,
    /// The not-ready reason.
    pub reason: Option<String>,
    /// In this state since, wall ms.
    pub since_ms: i64,
    /// Their screen is open.
    pub online: bool,
    /// The call ringing at them, connected, or consulted about.
    pub call: Option<String>,
    /// Since when they have that call: the ring's start, or their answer.
    pub call_since_ms: Option<i64>,
}

/// The engine's state at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Live {
    /// The moment, wall ms.
    pub at_ms: i64,
    /// The configured queues, in configuration order.
    pub queues: Vec<LiveQueue>,
    /// By id.
    pub agents: Vec<LiveAgent>,
    /// Calls not over yet, oldest first.
    pub calls: Vec<LiveCall>,
}

// ----- today's figures --------------------------------------------------------

/// One queue's figures for the day so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDay {
    /// Calls an agent answered.
    pub answered: u64,
    /// Of those, answered within the service-level threshold.
    pub answered_in_time: u64,
    /// Calls that ended in the queue without an agent.
    pub abandoned: u64,
    /// The answered calls' total wait in the queue, ms.
    pub wait_ms: i64,
}

impl QueueDay {
    /// Answered in time ÷ (answered + abandoned); `None` before any.
    pub fn service_level(&self) -> Option<f64> {
        let handled = self.answered + self.abandoned;
        (handled > 0).then(|| self.answered_in_time as f64 / handled as f64)
    }

    /// The average wait of the answered calls, ms; `None` before any.
    pub fn average_answer_ms(&self) -> Option<i64> {
        (self.answered > 0).then(|| self.wait_ms / self.answered as i64)
    }

    fn add(&mut self, other: &QueueDay) {
        self.answered += other.answered;
        self.answered_in_time += other.answered_in_time;
        self.abandoned += other.abandoned;
        self.wait_ms += other.wait_ms;
    }
}

/// One agent's figures for the day so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentDay {
    /// Calls answered or taken over in a transfer.
    pub handled: u64,
}

/// The figures of one local day: `[start_ms, end_ms)` is the day from its
/// midnight to the next in the desk's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Today {
    pub date: Date,
    pub start_ms: i64,
    pub end_ms: i64,
    pub queues: BTreeMap<String, QueueDay>,
    pub agents: BTreeMap<AgentId, AgentDay>,
}

impl Today {
    fn empty(zone: &TimeZone, at_ms: i64) -> Today {
        let (date, start_ms, end_ms) = day_of(zone, at_ms);
        Today {
            date,
            start_ms,
            end_ms,
            queues: BTreeMap::new(),
            agents: BTreeMap::new(),
        }
    }

    /// Whether `at_ms` falls on this day.
    pub fn contains(&self, at_ms: i64) -> bool {
        (self.start_ms..self.end_ms).contains(&at_ms)
    }
}

/// The local day of `at_ms` in `zone`: its date, and its first and the
/// next day's first millisecond (midnight, or the first moment after it
/// where a clock change skips midnight).
pub fn day_of(zone: &TimeZone, at_ms: i64) -> (Date, i64, i64) {
    let instant = Timestamp::from_millisecond(at_ms).unwrap_or(Timestamp::UNIX_EPOCH);
    let date = instant.to_zoned(zone.clone()).date();
    let first = |d: Date| {
        d.to_zoned(zone.clone())
            .ok()
            .map(|z| z.timestamp().as_millisecond())
    };
    let start = first(date).unwrap_or(at_ms).min(at_ms);
    let end = date
        .tomorrow()
        .ok()
        .and_then(first)
        .unwrap_or(i64::MAX)
        .max(at_ms + 1);
    (date, start, end)
}

/// Today's figures so far, as the store counts them at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seed {
    /// The day's first millisecond the store counted from.
    pub start_ms: i64,
    pub queues: Vec<(String, QueueDay)>,
    pub agents: Vec<(AgentId, AgentDay)>,
}

/// A call the tally follows from its queue to its end.
#[derive(Debug, Clone)]
struct Followed {
    queue: String,
    answered: bool,
}

/// Counts today's figures from the engine's record ops (see the module
/// docs for what counts).
#[derive(Debug, Clone)]
pub struct Tally {
    zone: TimeZone,
    /// Answered within this wait counts towards the service level.
    in_time_ms: i64,
    today: Today,
    /// Calls that joined a queue and have not ended.
    queued: HashMap<String, Followed>,
    /// Outbound calls not ended.
    outbound: HashSet<String>,
}

impl Tally {
    /// An empty tally for the day of `now_ms` in `zone`; calls answered
    /// within `service_level_ms` of joining their queue are in time.
    pub fn new(zone: TimeZone, service_level_ms: i64, now_ms: i64) -> Tally {
        Tally {
            today: Today::empty(&zone, now_ms),
            zone,
            in_time_ms: service_level_ms,
            queued: HashMap::new(),
            outbound: HashSet::new(),
        }
    }

    /// The figures of the current day.
    pub fn today(&self) -> &Today {
        &self.today
    }

    /// Calls followed now (in a queue, or outbound): for tests and memory
    /// checks.
    pub fn following(&self) -> usize {
        self.queued.len() + self.outbound.len()
    }

    /// Adds what the store counted of the day so far. Refused (false) when
    /// the store counted another day than the current one (midnight came
    /// while it was reading).
    pub fn seed(&mut self, seed: &Seed) -> bool {
        if seed.start_ms != self.today.start_ms {
            return false;
        }
        for (name, figures) in &seed.queues {
            self.today
                .queues
                .entry(name.clone())
                .or_default()
                .add(figures);
        }
        for (agent, figures) in &seed.agents {
            self.today.agents.entry(*agent).or_default().handled += figures.handled;
        }
        true
    }

    /// A new day begins if `now_ms` is past the current one: every counter
    /// starts from zero (calls in progress are still followed).
    pub fn roll(&mut self, now_ms: i64) {
        if now_ms >= self.today.end_ms {
            self.today = Today::empty(&self.zone, now_ms);
        }
    }

    /// Whether a moment counts today (rolling over first if it is past it).
    fn counts(&mut self, at_ms: i64) -> bool {
        self.roll(at_ms);
        self.today.contains(at_ms)
    }

    /// Takes one op into the figures. Returns whether it changes what a
    /// wallboard shows (a call or an agent moved), counted or not.
    pub fn apply(&mut self, op: &RecordOp) -> bool {
        match op {
            RecordOp::Dialled { call_id, .. } => {
                self.outbound.insert(call_id.clone());
            }
            RecordOp::Queued { call_id, queue, .. } => {
                if !self.outbound.contains(call_id) {
                    self.queued
                        .entry(call_id.clone())
                        .and_modify(|f| f.queue.clone_from(queue))
                        .or_insert_with(|| Followed {
                            queue: queue.clone(),
                            answered: false,
                        });
                }
            }
            RecordOp::AgentAnswered {
                call_id,
                at,
                wait_ms,
                ..
            } => {
                let first = self
                    .queued
                    .get_mut(call_id)
                    .filter(|f| !f.answered)
                    .map(|f| {
                        f.answered = true;
                        f.queue.clone()
                    });
                if let Some(queue) = first
                    && self.counts(*at)
                {
                    let q = self.today.queues.entry(queue).or_default();
                    q.answered += 1;
                    q.wait_ms += (*wait_ms).max(0);
                    if *wait_ms <= self.in_time_ms {
                        q.answered_in_time += 1;
                    }
                }
            }
            RecordOp::Ended { call_id, at, .. } => {
                self.outbound.remove(call_id);
                if let Some(f) = self.queued.remove(call_id)
                    && !f.answered
                    && self.counts(*at)
                {
                    self.today.queues.entry(f.queue).or_default().abandoned += 1;
                }
            }
            RecordOp::AgentState {
                agent_id,
                from,
                to,
                at,
                ..
            } => {
                let took_call = to == "on_call" && (from == "ringing" || from == "consulted");
                if took_call && self.counts(*at) {
                    self.today.agents.entry(*agent_id).or_default().handled += 1;
                }
            }
            RecordOp::Arrived { .. } | RecordOp::Answered { .. } | RecordOp::Outcome { .. } => {}
            RecordOp::Digits { .. }
            | RecordOp::Event { .. }
            | RecordOp::Message { .. }
            | RecordOp::Handled { .. }
            | RecordOp::WrapUp { .. }
            | RecordOp::RecordingStarted { .. }
            | RecordOp::RecordingDone { .. } => return false,
        }
        true
    }
}

// ----- thresholds, breaches and alerts ----------------------------------------

/// What the board measures against (`[monitoring]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Thresholds {
    /// Answered within this many seconds counts towards the service level.
    pub service_level_secs: u32,
    /// The service level promised, percent.
    pub service_level_target: u32,
    /// A caller waiting longer than this raises an alert.
    pub alert_wait_secs: u32,
    /// An agent not ready longer than this raises an alert.
    pub alert_not_ready_mins: u32,
}

impl From<&crate::config::Monitoring> for Thresholds {
    fn from(m: &crate::config::Monitoring) -> Self {
        Thresholds {
            service_level_secs: m.service_level_secs,
            service_level_target: m.service_level_target,
            alert_wait_secs: m.alert_wait_secs,
            alert_not_ready_mins: m.alert_not_ready_mins,
        }
    }
}

/// A ticket whose next stage went overdue, found by the SLA watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breach {
    /// The ticket's number.
    pub ticket: String,
    /// The stage that was due.
    pub stage: String,
    pub due_at: i64,
    /// When the watch found it, epoch ms.
    pub detected_at: i64,
}

/// The day's SLA breaches: how many, and the latest ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breaches {
    pub today: u64,
    /// Newest first.
    pub latest: Vec<Breach>,
}

/// A threshold crossed now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Alert {
    /// A queue's service level today is below the target.
    ServiceLevel {
        queue: String,
        /// A fraction, like the target.
        service_level: f64,
        target: f64,
    },
    /// A caller has waited longer than `alert_wait_secs`.
    LongWait {
        queue: String,
        call: String,
        caller: String,
        /// In the queue since, epoch ms.
        since_ms: i64,
        wait_ms: i64,
    },
    /// An agent (their screen open) has been not ready longer than
    /// `alert_not_ready_mins`.
    NotReady {
        agent: AgentId,
        name: String,
        reason: Option<String>,
        since_ms: i64,
        for_ms: i64,
    },
    /// A ticket breached its SLA today.
    SlaBreach {
        ticket: String,
        stage: String,
        due_at: i64,
        detected_at: i64,
    },
}

/// Every threshold crossed at `now_ms`: queues below their service level
/// target, then callers waiting too long (longest first), agents not
/// ready too long (longest first), then the day's SLA breaches (newest
/// first). An agent whose screen is closed is off the floor, not an alert.
pub fn alerts(
    live: &Live,
    today: &Today,
    breaches: &Breaches,
    thresholds: &Thresholds,
    now_ms: i64,
) -> Vec<Alert> {
    let mut out = Vec::new();
    let target = f64::from(thresholds.service_level_target) / 100.0;
    let counted = today.contains(now_ms);
    for (name, figures) in today.queues.iter().filter(|_| counted) {
        if let Some(level) = figures.service_level()
            && level < target
        {
            out.push(Alert::ServiceLevel {
                queue: name.clone(),
                service_level: level,
                target,
            });
        }
    }
    let callers: HashMap<&str, &str> = live
        .calls
        .iter()
        .map(|c| (c.id.as_str(), c.caller.as_str()))
        .collect();
    let wait_limit = i64::from(thresholds.alert_wait_secs) * 1000;
    let mut waits: Vec<Alert> = live
        .queues
        .iter()
        .flat_map(|q| q.waiting.iter().map(move |w| (q, w)))
        .filter(|(_, w)| now_ms - w.since_ms > wait_limit)
        .map(|(q, w)| Alert::LongWait {
            queue: q.name.clone(),
            call: w.call.clone(),
            caller: callers
                .get(w.call.as_str())
                .copied()
                .unwrap_or("")
                .to_owned(),
            since_ms: w.since_ms,
            wait_ms: now_ms - w.since_ms,
        })
        .collect();
    waits.sort_by_key(|a| match a {
        Alert::LongWait { since_ms, call, .. } => (*since_ms, call.clone()),
        _ => (0, String::new()),
    });
    out.extend(waits);
    let away_limit = i64::from(thresholds.alert_not_ready_mins) * 60_000;
    let mut away: Vec<&LiveAgent> = live
        .agents
        .iter()
        .filter(|a| a.state == "not_ready" && a.online && now_ms - a.since_ms > away_limit)
        .collect();
    away.sort_by_key(|a| (a.since_ms, a.id));
    out.extend(away.into_iter().map(|a| Alert::NotReady {
        agent: a.id,
        name: a.display_name.clone(),
        reason: a.reason.clone(),
        since_ms: a.since_ms,
        for_ms: now_ms - a.since_ms,
    }));
    out.extend(breaches.latest.iter().map(|b| Alert::SlaBreach {
        ticket: b.ticket.clone(),
        stage: b.stage.clone(),
        due_at: b.due_at,
        detected_at: b.detected_at,
    }));
    out
}

// ----- the frame ---------------------------------------------------------------

/// A queue on the board: live figures and today's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueFigures {
    /// The queue's name; empty for the totals of every queue.
    pub name: String,
    /// Callers waiting now.
    pub waiting: usize,
    /// The longest of their waits now, ms (0 when nobody waits).
    pub longest_wait_ms: i64,
    /// Agents logged in to the queue (for the totals: logged in at all).
    pub agents_staffed: usize,
    /// Of those, ready for a call.
    pub agents_ready: usize,
    /// Of those, with a call (ringing, talking, holding, consulted).
    pub agents_on_call: usize,
    pub answered: u64,
    pub answered_in_time: u64,
    pub abandoned: u64,
    /// `answered_in_time / (answered + abandoned)`, a fraction; null
    /// before any call was answered or abandoned today.
    pub service_level: Option<f64>,
    /// Average speed of answer: the answered calls' average wait, ms.
    pub asa_ms: Option<i64>,
}

/// The call an agent has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentCall {
    pub id: String,
    pub caller: String,
    pub queue: Option<String>,
    /// Since the ring began (ringing) or the agent answered, epoch ms.
    pub since_ms: Option<i64>,
    pub duration_ms: Option<i64>,
}

/// An agent on the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentFigures {
    pub id: AgentId,
    pub username: String,
    pub display_name: String,
    pub queues: Vec<String>,
    /// logged_out, ready, not_ready, ringing, on_call, on_hold, wrap_up,
    /// consulted.
    pub state: &'static str,
    /// The not-ready reason code.
    pub reason: Option<String>,
    pub since_ms: i64,
    /// Time in the state now, ms.
    pub in_state_ms: i64,
    /// Their screen is open.
    pub online: bool,
    pub call: Option<AgentCall>,
    /// Calls answered (or taken in a transfer) today.
    pub handled_today: u64,
}

/// A call in progress on the board. (Listen, whisper and barge come to
/// these rows.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallFigures {
    pub id: String,
    pub caller: String,
    pub campaign: Option<String>,
    pub queue: Option<String>,
    pub agent: Option<AgentId>,
    /// The agent's display name.
    pub agent_name: Option<String>,
    pub state: CallState,
    pub arrived_ms: i64,
    /// Since arrival, ms.
    pub duration_ms: i64,
    /// In the queue so far (waiting or ringing), ms.
    pub wait_ms: Option<i64>,
    /// With its agent so far (talking or holding), ms.
    pub talk_ms: Option<i64>,
    /// The supervisor in the call, if one is.
    pub monitor: Option<MonitorFigures>,
}

/// Who listens in on a call, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonitorFigures {
    pub supervisor: AgentId,
    /// Their display name (their username until they open a screen).
    pub supervisor_name: String,
    /// `listen`, `whisper` or `barge`.
    pub mode: &'static str,
    /// Their phone answered (else it rings).
    pub connected: bool,
}

/// One wallboard frame: everything the page shows (docs/wallboard.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Board {
    /// Always `board`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The moment shown, epoch ms (durations are as of this moment).
    pub at_ms: i64,
    /// Today in the desk's time zone, YYYY-MM-DD.
    pub day: String,
    pub thresholds: Thresholds,
    /// Every queue together.
    pub totals: QueueFigures,
    pub queues: Vec<QueueFigures>,
    pub agents: Vec<AgentFigures>,
    /// Oldest first.
    pub calls: Vec<CallFigures>,
    pub alerts: Vec<Alert>,
    /// SLA breaches found today (the alerts list the latest).
    pub breaches_today: u64,
}

/// Agent states with a call.
fn on_call(state: &str) -> bool {
    matches!(state, "ringing" | "on_call" | "on_hold" | "consulted")
}

impl Board {
    /// The frame for `now_ms` (normally the snapshot's moment). Figures of
    /// a day that is over count as zero.
    pub fn build(
        live: &Live,
        today: &Today,
        breaches: &Breaches,
        thresholds: &Thresholds,
        now_ms: i64,
    ) -> Board {
        let counted = today.contains(now_ms);
        let day_of_queue = |name: &str| {
            if counted {
                today.queues.get(name).copied().unwrap_or_default()
            } else {
                QueueDay::default()
            }
        };
        let calls: HashMap<&str, &LiveCall> =
            live.calls.iter().map(|c| (c.id.as_str(), c)).collect();
        let names: HashMap<AgentId, &str> = live
            .agents
            .iter()
            .map(|a| (a.id, a.display_name.as_str()))
            .collect();
        let logged_in = |a: &&LiveAgent| a.state != "logged_out";
        let figures =
            |name: String, waiting: &[&Waiter], agents: Vec<&LiveAgent>, day: QueueDay| {
                QueueFigures {
                    name,
                    waiting: waiting.len(),
                    longest_wait_ms: waiting
                        .iter()
                        .map(|w| (now_ms - w.since_ms).max(0))
                        .max()
                        .unwrap_or(0),
                    agents_staffed: agents.len(),
                    agents_ready: agents.iter().filter(|a| a.state == "ready").count(),
                    agents_on_call: agents.iter().filter(|a| on_call(a.state)).count(),
                    answered: day.answered,
                    answered_in_time: day.answered_in_time,
                    abandoned: day.abandoned,
                    service_level: day.service_level(),
                    asa_ms: day.average_answer_ms(),
                }
            };
        let mut queues: Vec<QueueFigures> = live
            .queues
            .iter()
            .map(|q| {
                let waiting: Vec<&Waiter> = q.waiting.iter().collect();
                let agents = live
                    .agents
                    .iter()
                    .filter(logged_in)
                    .filter(|a| a.queues.contains(&q.name))
                    .collect();
                figures(q.name.clone(), &waiting, agents, day_of_queue(&q.name))
            })
            .collect();
        // A queue a reload removed still shows what it did today.
        if counted {
            for (name, day) in &today.queues {
                if !live.queues.iter().any(|q| &q.name == name) {
                    queues.push(figures(name.clone(), &[], Vec::new(), *day));
                }
            }
        }
        let mut all = QueueDay::default();
        for q in &queues {
            all.add(&day_of_queue(&q.name));
        }
        let every_waiter: Vec<&Waiter> = live.queues.iter().flat_map(|q| &q.waiting).collect();
        let totals = figures(
            String::new(),
            &every_waiter,
            live.agents.iter().filter(logged_in).collect(),
            all,
        );
        let agents = live
            .agents
            .iter()
            .map(|a| AgentFigures {
                id: a.id,
                username: a.username.clone(),
                display_name: a.display_name.clone(),
                queues: a.queues.clone(),
                state: a.state,
                reason: a.reason.clone(),
                since_ms: a.since_ms,
                in_state_ms: (now_ms - a.since_ms).max(0),
                online: a.online,
                call: a.call.as_ref().map(|id| {
                    let c = calls.get(id.as_str());
                    AgentCall {
                        id: id.clone(),
                        caller: c.map(|c| c.caller.clone()).unwrap_or_default(),
                        queue: c.and_then(|c| c.queue.clone()),
                        since_ms: a.call_since_ms,
                        duration_ms: a.call_since_ms.map(|s| (now_ms - s).max(0)),
                    }
                }),
                handled_today: if counted {
                    today.agents.get(&a.id).map_or(0, |d| d.handled)
                } else {
                    0
                },
            })
            .collect();
        let calls = live
            .calls
            .iter()
            .map(|c| {
                let in_queue = matches!(c.state, CallState::Waiting | CallState::Ringing);
                let with_agent = matches!(c.state, CallState::Talking | CallState::OnHold);
                CallFigures {
                    id: c.id.clone(),
                    caller: c.caller.clone(),
                    campaign: c.campaign.clone(),
                    queue: c.queue.clone(),
                    agent: c.agent,
                    agent_name: c.agent.and_then(|a| names.get(&a)).map(|n| (*n).to_owned()),
                    state: c.state,
                    arrived_ms: c.arrived_ms,
                    duration_ms: (now_ms - c.arrived_ms).max(0),
                    wait_ms: c
                        .queued_ms
                        .filter(|_| in_queue)
                        .map(|q| (now_ms - q).max(0)),
                    talk_ms: c
                        .answered_ms
                        .filter(|_| with_agent)
                        .map(|a| (now_ms - a).max(0)),
                    monitor: c.monitor.as_ref().map(|m| MonitorFigures {
                        supervisor: m.supervisor,
                        supervisor_name: names
                            .get(&m.supervisor)
                            .map_or_else(|| m.username.clone(), |n| (*n).to_owned()),
                        mode: m.mode,
                        connected: m.connected,
                    }),
                }
            })
            .collect();
        Board {
            kind: "board",
            at_ms: now_ms,
            day: today.date.to_string(),
            thresholds: *thresholds,
            totals,
            queues,
            agents,
            calls,
            alerts: alerts(live, today, breaches, thresholds, now_ms),
            breaches_today: breaches.today,
        }
    }
}
