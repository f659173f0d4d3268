//! Outbound campaigns as data: the rules a campaign dials by, what follows
//! each attempt, and which waiting contacts the dialer may take now. PURE:
//! wall time comes in as epoch milliseconds, the do-not-call list and the
//! day's attempt counts as the runtime read them; nothing here dials.
//!
//! An outbound dialer that calls at night, calls one person ten times or
//! can be made to call anywhere is a liability, so every dial passes every
//! check here at the moment it is taken ([`pick`]), not only when the
//! contact was enrolled:
//! - the campaign is running (not paused or stopped);
//! - its calling window is open now (weekly hours in its time zone, with
//!   the IVR's holiday calendar: [`crate::ivr::calendar::BusinessHours`]);
//! - the number matches the campaign's dial rules (an allow-list of keypad
//!   patterns) and is not on the do-not-call list;
//! - the number has had fewer than the daily cap of attempts today, across
//!   all campaigns;
//! - the campaign's concurrency cap and the trunk's free lines hold;
//! - in progressive and callback modes, an agent of the campaign's queue is
//!   ready for each call placed (a customer who answers is never left
//!   without an agent); preview mode never dials by itself.
//!
//! Invariants of [`pick`]: it never returns more dials than the smallest of
//! the caps allows, never a contact that is not due, and it takes due
//! contacts in order (callbacks by the time of the original call, others
//! by when they became due), so nobody waiting is overtaken.
//!
//! A checked campaign ([`CampaignSpec::check`]) calls only inside the legal
//! calling hours, presents a caller id, and dials no more at once than the
//! trunk carries.

use std::collections::HashMap;
use std::time::Duration;

use crate::ivr::calendar::{BusinessHours, Calendar, OpenSpan, WeekHours};
use crate::ivr::pattern::DigitPattern;

/// What an attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The customer answered.
    Answered,
    /// 486 / 600: busy.
    Busy,
    /// 480, 408, 487 or our ring timeout: nobody answered.
    NoAnswer,
    /// 603: declined.
    Rejected,
    /// Any other final failure from the carrier (404, 484, ...).
    Failed,
    /// No answer from the carrier at all, or 5xx: not the customer's doing.
    NetworkError,
}

impl Outcome {
    /// The outcome of a final SIP answer to our INVITE.
    #[must_use]
    pub fn of_sip(code: u16) -> Outcome {
        match code {
            200..=299 => Outcome::Answered,
            486 | 600 => Outcome::Busy,
            408 | 480 | 487 => Outcome::NoAnswer,
            603 => Outcome::Rejected,
            500..=599 => Outcome::NetworkError,
            _ => Outcome::Failed,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Busy => "busy",
            Outcome::NoAnswer => "no_answer",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
            Outcome::NetworkError => "network_error",
        }
    }
}

/// How a campaign's calls reach people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The server calls and runs a survey flow from ivr-flows/.
    Survey { flow: String },
    /// An agent sees the contact and dials it; the dialer never does.
    Preview { queue: String },
    /// The server dials when an agent of `queue` is ready and bridges on
    /// answer.
    Progressive { queue: String },
    /// Callers who asked to be called back, in the order they called, when
    /// an agent of `queue` is ready.
    Callbacks { queue: String },
}

impl Mode {
    /// Whether each dial needs a ready agent waiting for it.
    fn needs_agent(&self) -> bool {
        matches!(self, Mode::Progressive { .. } | Mode::Callbacks { .. })
    }
}

/// Whether a campaign dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    /// Nothing new is dialled; calls up go on; resumable.
    Paused,
    /// Nothing is dialled again.
    Stopped,
}

impl RunState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Stopped => "stopped",
        }
    }

    #[must_use]
    pub fn parse(text: &str) -> Option<RunState> {
        [RunState::Running, RunState::Paused, RunState::Stopped]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Wait before the next attempt, per outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryDelays {
    pub busy: Duration,
    pub no_answer: Duration,
    pub rejected: Duration,
    pub failed: Duration,
    pub network_error: Duration,
}

impl RetryDelays {
    fn of(&self, outcome: Outcome) -> Option<Duration> {
        match outcome {
            Outcome::Answered => None,
            Outcome::Busy => Some(self.busy),
            Outcome::NoAnswer => Some(self.no_answer),
            Outcome::Rejected => Some(self.rejected),
            Outcome::Failed => Some(self.failed),
            Outcome::NetworkError => Some(self.network_error),
        }
    }
}

/// A campaign's dialling rules, checked.
#[derive(Debug, Clone)]
pub struct Rules {
    pub name: String,
    pub mode: Mode,
    /// The number presented to the customer.
    pub caller_id: String,
    window: BusinessHours,
    pub max_attempts: u32,
    pub retry: RetryDelays,
    /// Calls of this campaign up at once, at most.
    pub concurrency: u32,
    allow: Vec<DigitPattern>,
    /// A survey campaign that follows up completed tickets: each one is
    /// enrolled, due this long after its completion.
    pub enroll_completed_after: Option<Duration>,
    /// A survey campaign: where dissatisfied customers go for an agent's
    /// call back (a campaign of another kind).
    pub complaint_callbacks: Option<String>,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again at this instant (epoch ms), inside the calling window.
    RetryAt(i64),
    /// The contact is done: reached.
    Reached,
    /// The contact is done: `max_attempts` made, the last with this outcome.
    GaveUp(Outcome),
}

impl Rules {
    /// Whether the dial rules allow this number at all.
    #[must_use]
    pub fn number_allowed(&self, number: &str) -> bool {
        self.allow.iter().any(|p| p.matches(number))
    }

    /// The start of the campaign's local day at `at_ms`: the daily cap
    /// counts attempts since then.
    #[must_use]
    pub fn day_start(&self, at_ms: i64) -> i64 {
        self.window.day_start(at_ms)
    }

    /// Whether the calling window is open at `at_ms`.
    #[must_use]
    pub fn window_open(&self, at_ms: i64) -> bool {
        self.window.is_open(at_ms)
    }

    /// The first instant at or after `at_ms` the window is open; `None` if
    /// it never opens within a year.
    #[must_use]
    pub fn next_open(&self, at_ms: i64) -> Option<i64> {
        // One millisecond of open time ends a millisecond after the first
        // open instant.
        self.window
            .add_open_time(at_ms, Duration::from_millis(1))
            .map(|t| t - 1)
    }

    /// What follows an attempt that ended at `now_ms` with `outcome`,
    /// `attempts` having been made in all.
    #[must_use]
    pub fn after(&self, now_ms: i64, outcome: Outcome, attempts: u32) -> Next {
        let Some(delay) = self.retry.of(outcome) else {
            return Next::Reached;
        };
        if attempts >= self.max_attempts {
            return Next::GaveUp(outcome);
        }
        let wait = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        match self.next_open(now_ms.saturating_add(wait)) {
            Some(at) => Next::RetryAt(at),
            None => Next::GaveUp(outcome),
        }
    }
}

/// One contact waiting to be dialled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub contact: i64,
    pub number: String,
    /// Not before this instant (epoch ms).
    pub due_ms: i64,
    /// Its place in line: for callbacks the time of the original call,
    /// for others when it was enrolled.
    pub since_ms: i64,
}

/// Why a waiting contact is not dialled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// On the do-not-call list: never to be dialled (the contact closes).
    DoNotCall,
    /// Outside the campaign's dial rules: never (the contact closes).
    NotAllowed,
    /// The number reached the day's attempt cap: tomorrow.
    DailyCap,
}

/// What the dialer knows at the moment it picks.
#[derive(Clone)]
pub struct Situation<'a> {
    pub now_ms: i64,
    pub state: RunState,
    /// This campaign's calls up now.
    pub in_flight: u32,
    /// Outbound lines the trunk has free now (all campaigns).
    pub trunk_free: u32,
    /// Agents of the campaign's queue ready and not yet promised a call
    /// (progressive and callback modes).
    pub ready_agents: u32,
    /// Numbers (normalised) nobody may call.
    pub do_not_call: &'a dyn Fn(&str) -> bool,
    /// Attempts made today per number, across all campaigns.
    pub dialled_today: &'a HashMap<String, u32>,
    /// Most attempts one number may get in a day, across all campaigns.
    pub daily_cap: u32,
}

/// The dialer's choice: contacts to dial now, in order, and those held
/// back with why (the caller closes `DoNotCall` and `NotAllowed` ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Picked {
    pub dial: Vec<i64>,
    pub held: Vec<(i64, Held)>,
}

/// The contacts to dial now (see the module doc for every check).
#[must_use]
pub fn pick(rules: &Rules, s: &Situation<'_>, waiting: &[Waiting]) -> Picked {
    let mut picked = Picked::default();
    if s.state != RunState::Running
        || matches!(rules.mode, Mode::Preview { .. })
        || !rules.window_open(s.now_ms)
    {
        return picked;
    }
    let mut room = rules
        .concurrency
        .saturating_sub(s.in_flight)
        .min(s.trunk_free);
    if rules.mode.needs_agent() {
        room = room.min(s.ready_agents);
    }
    let mut due: Vec<&Waiting> = waiting.iter().filter(|w| w.due_ms <= s.now_ms).collect();
    due.sort_by_key(|w| (w.since_ms, w.due_ms, w.contact));
    // Dials taken in this pick count towards the daily cap too.
    let mut taken: HashMap<&str, u32> = HashMap::new();
    for w in due {
        if !rules.number_allowed(&w.number) {
            picked.held.push((w.contact, Held::NotAllowed));
        } else if (s.do_not_call)(&w.number) {
            picked.held.push((w.contact, Held::DoNotCall));
        } else {
            let today = s.dialled_today.get(&w.number).copied().unwrap_or(0)
                + taken.get(w.number.as_str()).copied().unwrap_or(0);
            if today >= s.daily_cap {
                picked.held.push((w.contact, Held::DailyCap));
            } else if room > 0 {
                room -= 1;
                *taken.entry(w.number.as_str()).or_default() += 1;
                picked.dial.push(w.contact);
            }
        }
    }
    picked
}

/// The satisfaction score a survey call got: the customer's last valid
/// answer (1 to 5) to the question `score`; `None` if there is none (the
/// survey counts as not answered).
#[must_use]
pub fn survey_score(answers: &[(String, String)]) -> Option<u8> {
    answers
        .iter()
        .rev()
        .filter(|(q, _)| q == "score")
        .find_map(|(_, v)| v.trim().parse::<u8>().ok().filter(|s| (1..=5).contains(s)))
}

/// Why an agent may not dial a preview contact now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The campaign is paused or stopped.
    NotRunning,
    /// Outside the campaign's calling window.
    WindowClosed,
    /// Not due yet.
    NotDue,
    Held(Held),
}

/// Whether an agent may dial `w` of a preview campaign now: the checks of
/// [`pick`] that concern one call the agent places themselves (the run
/// switch, the window, due, dial rules, do-not-call, the daily cap).
pub fn may_dial(rules: &Rules, s: &Situation<'_>, w: &Waiting) -> Result<(), Refused> {
    if s.state != RunState::Running {
        return Err(Refused::NotRunning);
    }
    if !rules.window_open(s.now_ms) {
        return Err(Refused::WindowClosed);
    }
    if w.due_ms > s.now_ms {
        return Err(Refused::NotDue);
    }
    if !rules.number_allowed(&w.number) {
        return Err(Refused::Held(Held::NotAllowed));
    }
    if (s.do_not_call)(&w.number) {
        return Err(Refused::Held(Held::DoNotCall));
    }
    if s.dialled_today.get(&w.number).copied().unwrap_or(0) >= s.daily_cap {
        return Err(Refused::Held(Held::DailyCap));
    }
    Ok(())
}

/// Limits no campaign may pass, from the server's configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The hours outbound calls are allowed at all, minutes since local
    /// midnight (e.g. 08:00-21:00).
    pub legal_hours: OpenSpan,
    /// Outbound calls the trunk carries at once.
    pub trunk_lines: u32,
}

/// A campaign as configured, before its checks.
#[derive(Debug, Clone)]
pub struct CampaignSpec<'a> {
    pub name: &'a str,
    pub mode: Mode,
    pub caller_id: &'a str,
    pub time_zone: &'a str,
    /// Weekly calling hours, as business hours are written.
    pub hours: &'a [(&'a str, &'a str)],
    pub holidays: Option<Calendar>,
    pub max_attempts: u32,
    pub retry: RetryDelays,
    pub concurrency: u32,
    pub allow: &'a [&'a str],
    /// Survey campaigns only: follow up every completed ticket, due this
    /// long after its completion.
    pub enroll_completed_after: Option<Duration>,
}

/// Why a campaign was refused: the key and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("campaign `{campaign}`: `{key}`: {problem}")]
pub struct CampaignError {
    pub campaign: String,
    pub key: String,
    pub problem: String,
}

/// Shortest wait between attempts: a customer is never rung twice within
/// a minute.
pub const MIN_RETRY: Duration = Duration::from_secs(60);
/// Most attempts per contact a campaign may make.
pub const MAX_ATTEMPTS: u32 = 10;

impl CampaignSpec<'_> {
    /// The campaign's rules, or why it may not run.
    pub fn check(&self, limits: &Limits) -> Result<Rules, CampaignError> {
        let refuse = |key: &str, problem: String| CampaignError {
            campaign: self.name.to_owned(),
            key: key.to_owned(),
            problem,
        };
        let id = self.caller_id.strip_prefix('+').unwrap_or(self.caller_id);
        if id.len() < 3 || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse(
                "caller_id",
                "a number to present is required: 3 to 20 digits".into(),
            ));
        }
        let week = WeekHours::new(self.hours).map_err(|e| refuse("hours", e.to_string()))?;
        for day in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
            let Some(weekday) = weekday_of(day) else {
                continue;
            };
            for span in week.spans(weekday) {
                if span.start < limits.legal_hours.start || span.end > limits.legal_hours.end {
                    return Err(refuse(
                        "hours",
                        format!(
                            "{day} {span} calls outside the hours outbound calls are allowed ({})",
                            limits.legal_hours
                        ),
                    ));
                }
            }
        }
        let window = BusinessHours::new(self.time_zone, self.hours, self.holidays.clone())
            .map_err(|e| refuse("time_zone", e.to_string()))?;
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(refuse(
                "max_attempts",
                format!("must be 1 to {MAX_ATTEMPTS}"),
            ));
        }
        for (key, delay) in [
            ("retry.busy", self.retry.busy),
            ("retry.no_answer", self.retry.no_answer),
            ("retry.rejected", self.retry.rejected),
            ("retry.failed", self.retry.failed),
            ("retry.network_error", self.retry.network_error),
        ] {
            if delay < MIN_RETRY {
                return Err(refuse(key, "must be at least 60 s".into()));
            }
        }
        if self.concurrency == 0 || self.concurrency > limits.trunk_lines {
            return Err(refuse(
                "concurrency",
                format!(
                    "{}: must be 1 to the trunk's {} outbound lines",
                    self.concurrency, limits.trunk_lines
                ),
            ));
        }
        if self.allow.is_empty() {
            return Err(refuse(
                "allow",
                "needs at least one pattern of numbers it may dial".into(),
            ));
        }
        if self.enroll_completed_after.is_some() && !matches!(self.mode, Mode::Survey { .. }) {
            return Err(refuse(
                "enroll_completed_after",
                "only a survey campaign follows up completed tickets".into(),
            ));
        }
        let allow = self
            .allow
            .iter()
            .enumerate()
            .map(|(i, p)| {
                DigitPattern::parse(p)
                    .map_err(|e| refuse(&format!("allow[{i}]"), format!("`{p}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rules {
            name: self.name.to_owned(),
            mode: self.mode.clone(),
            caller_id: self.caller_id.to_owned(),
            window,
            max_attempts: self.max_attempts,
            retry: self.retry,
            concurrency: self.concurrency,
            allow,
            enroll_completed_after: self.enroll_completed_after,
            complaint_callbacks: None,
        })
    }
}

fn weekday_of(day: &str) -> Option<jiff::civil::Weekday> {
    use jiff::civil::Weekday::{Friday, Monday, Saturday, Sunday, Thursday, Tuesday, Wednesday};
    Some(match day {
        "mon" => Monday,
        "tue" => Tuesday,
        "wed" => Wednesday,
        "thu" => Thursday,
        "fri" => Friday,
        "sat" => Saturday,
        "sun" => Sunday,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
