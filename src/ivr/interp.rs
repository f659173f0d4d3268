//! The IVR interpreter: one per call, walking the call's flow as a pure
//! state machine.
//!
//! Inputs are what happened to the call (a key pressed, a prompt list
//! finished, a lookup answered, a deadline reached), each with the time as
//! a [`Clock`]; outputs are [`Effect`]s the call carries out (play these
//! prompts, ask the store, record a message, hang up) and timeline events.
//! No I/O, no clock of its own: a test walks a whole flow in microseconds.
//!
//! Invariants:
//! - The interpreter waits in exactly one place at a time ([`Stage`]), and
//!   every wait ends: playback by its done signal, input and lookups by a
//!   deadline, a recording by its maximum length, a queue by its maximum
//!   wait or the caller hanging up.
//! - Answers that arrive late (a prompt list stopped by barge-in, a lookup
//!   that timed out) carry an old token and are ignored.
//! - At most [`MAX_STEPS`] nodes run without waiting; a flow that somehow
//!   loops (the loader refuses such flows) hangs up instead of spinning.
//! - The caller's digits are buffered at most [`MAX_TYPEAHEAD`] deep; a key
//!   mashed 200 times costs nothing.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::flow::*;
use super::pattern::DigitPattern;
use super::say;

/// Nodes run in a row without waiting before the call is ended.
pub const MAX_STEPS: u32 = 256;
/// Keys remembered while nobody listens (type-ahead).
pub const MAX_TYPEAHEAD: usize = 16;
/// How long a lookup may take before the flow takes its `failed` edge.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a transfer may take to report its outcome before the flow
/// takes its `failed` edge.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);
/// When a queue's hold prompts could not be played, how long until they
/// are tried again.
const HOLD_RETRY: Duration = Duration::from_secs(1);
/// Sub-flow calls in progress at once.
const MAX_STACK: usize = super::load::MAX_SUBFLOW_DEPTH;

/// The time an input happened: monotonic for deadlines, wall-clock
/// (epoch ms) for business hours and dates.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: Instant,
    pub wall_ms: i64,
}

/// What the store answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupAnswer {
    /// Found: the variables to set (names from [`LookupKind::sets`]).
    Found(Vec<(String, String)>),
    NotFound,
    /// The store could not answer; the reason goes to the timeline.
    Failed(String),
}

/// What the interpreter asks the call to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Play these prompts of `language` one after another; report
    /// [`Ivr::on_playback_done`] with `token` when the last ends. A key
    /// that barges in comes as [`Effect::StopPlayback`].
    Play {
        token: u32,
        language: String,
        prompts: Vec<String>,
    },
    StopPlayback,
    /// Ask the store; answer with [`Ivr::on_lookup`].
    Lookup {
        token: u32,
        what: LookupKind,
        key: String,
    },
    /// Start recording the caller (a message); the interpreter ends it
    /// with [`Effect::StopRecording`] (terminator, maximum length).
    StartRecording,
    /// Stop and keep the recording.
    StopRecording,
    /// The caller waits in this queue (the ACD picks it up).
    Queue {
        queue: String,
        priority: u8,
        skills: Vec<String>,
    },
    /// Hand the caller to this outside number (already checked against
    /// the allow-list); answer [`Ivr::on_transfer_failed`] if it fails.
    Transfer {
        number: String,
    },
    /// The caller answered a survey question (an `answer` node): keep
    /// `value` (the node's template, rendered) under `question`. The flow
    /// goes straight on; nothing is expected back.
    Answer {
        question: String,
        value: String,
    },
    /// The caller asks to be called back (a `callback` node): enrol them
    /// in `campaign`, keeping their place in line by the time they called.
    Callback {
        campaign: String,
    },
    /// An entry for the call's timeline.
    Event {
        kind: &'static str,
        detail: String,
    },
    /// End the call.
    Hangup {
        cause: &'static str,
    },
}

/// The prompts that tell a waiting caller their place in line (1 is next)
/// and the expected wait, in `language`, and the minutes said (never 0: a
/// caller who is next still waits). `None` if the numbers cannot be said.
pub fn announcement(language: &str, position: usize, wait_ms: i64) -> Option<(Vec<String>, u64)> {
    let minutes = (wait_ms.max(0) as u64).div_ceil(60_000).max(1);
    let number = |n: u64| say::say(language, say::SayAs::Number, &n.to_string()).ok();
    let mut names = vec!["queue-position-before".to_owned()];
    names.extend(number(position as u64)?);
    names.push("queue-position-after".into());
    names.push("queue-wait-before".into());
    names.extend(number(minutes)?);
    names.push("queue-wait-after".into());
    Some((names, minutes))
}

/// Where the interpreter waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Running nodes; not waiting.
    Stepping,
    /// A play/say/hangup/transfer/queue/message node's prompts.
    Playing {
        token: u32,
        barge_in: bool,
    },
    /// A menu's or collect's prompt (barge-in always on).
    Prompting {
        token: u32,
    },
    /// A menu or collect waits for keys until `deadline`.
    Listening,
    /// An invalid or no-input prompt before the call leaves the node.
    GivingUp {
        token: u32,
    },
    LookingUp {
        token: u32,
    },
    Recording,
    /// In a queue: the hold prompts play in a loop, from `since`, until
    /// `until` (the queue's maximum wait).
    Holding {
        token: u32,
        since: Instant,
        until: Option<Instant>,
    },
    Transferring,
    /// Talking to an agent: the ACD took the call off the queue node; the
    /// flow waits for nothing more.
    WithAgent,
    Over,
}

/// What a playback ending leads to, by node kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Invalid,
    NoInput,
}

pub struct Ivr {
    flows: Arc<FlowSet>,
    flow: Arc<Flow>,
    node: NodeIx,
    /// Sub-flow calls: the flow and node to continue at on `return`.
    stack: Vec<(Arc<Flow>, NodeIx)>,
    stage: Stage,
    vars: BTreeMap<String, String>,
    language: String,
    transfer_allow: Arc<[DigitPattern]>,
    typeahead: VecDeque<char>,
    /// The queue's announcement (position, expected wait) to play before
    /// the hold prompts come round again.
    announcement: Vec<String>,
    /// Failed tries at the current menu or collect.
    tries: u32,
    /// Digits of the current collect.
    entry: String,
    deadline: Option<Instant>,
    next_token: u32,
    steps: u32,
    effects: VecDeque<Effect>,
}

/// What a new call's interpreter needs.
pub struct Start {
    pub flows: Arc<FlowSet>,
    /// The flow the call starts in: `None` for the main flow (every
    /// inbound call); `Some(name)` for a flow of `flows` by its name (the
    /// file stem), as an outbound survey does. A name that is not in
    /// `flows` starts the main flow instead, with a `flow-error` event on
    /// the timeline. That is only a fallback: whoever builds a `Start`
    /// with a name checks first that this very `flows` has it
    /// ([`FlowSet::flow`]; a reload may have removed the file).
    pub flow: Option<String>,
    pub language: String,
    pub transfer_allow: Arc<[DigitPattern]>,
    pub caller: String,
    pub dialled: String,
    pub call_id: String,
}

impl Ivr {
    /// An interpreter at the start of the main flow, or of the flow
    /// [`Start::flow`] names; call [`Ivr::start`] once the caller can
    /// hear.
    pub fn new(s: Start) -> Ivr {
        let mut effects = VecDeque::new();
        let flow = match s.flow.as_deref() {
            None => s.flows.main_flow().clone(),
            Some(name) => match s.flows.flow(name) {
                Some(flow) => flow.clone(),
                None => {
                    effects.push_back(Effect::Event {
                        kind: "flow-error",
                        detail: format!(
                            "no flow `{name}`: the call starts in the main flow `{}`",
                            s.flows.main
                        ),
                    });
                    s.flows.main_flow().clone()
                }
            },
        };
        let mut vars = BTreeMap::new();
        vars.insert("caller".into(), s.caller);
        vars.insert("dialled".into(), s.dialled);
        vars.insert("call_id".into(), s.call_id);
        vars.insert("language".into(), s.language.clone());
        Ivr {
            node: flow.start,
            flow,
            flows: s.flows,
            stack: Vec::new(),
            stage: Stage::Stepping,
            vars,
            language: s.language,
            transfer_allow: s.transfer_allow,
            typeahead: VecDeque::new(),
            announcement: Vec::new(),
            tries: 0,
            entry: String::new(),
            deadline: None,
            next_token: 0,
            steps: 0,
            effects,
        }
    }

    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    pub fn language(&self) -> &str {
        &self.language
    }

    /// `flow/node`, for logs and tests.
    pub fn position(&self) -> String {
        format!("{}/{}", self.flow.name, self.flow.nodes[self.node].id)
    }

    pub fn is_over(&self) -> bool {
        self.stage == Stage::Over
    }

    /// Waiting for the outcome of a transfer (after it gave up waiting, a
    /// late outcome changes nothing).
    pub fn is_transferring(&self) -> bool {
        self.stage == Stage::Transferring
    }

    /// Waiting in a queue node (the ACD may offer the call).
    pub fn is_queued(&self) -> bool {
        matches!(self.stage, Stage::Holding { .. })
    }

    /// The ACD's announcement for a queued caller: their place in line
    /// (1 is next) and the expected wait, said in their language when the
    /// hold prompts end (music is not cut off mid-phrase). A newer one
    /// replaces one not yet played.
    pub fn announce(&mut self, position: usize, wait_ms: i64) {
        if !self.is_queued() {
            return;
        }
        let Some(names) = announcement(&self.language, position, wait_ms) else {
            return;
        };
        let minutes = names.1;
        self.event(
            "announce",
            format!("position {position}, about {minutes} min"),
        );
        self.announcement = names.0;
    }

    /// An agent answered the queued call: the hold prompts stop and the
    /// flow is parked for the rest of the call.
    pub fn to_agent(&mut self) {
        if self.is_queued() {
            self.effects.push_back(Effect::StopPlayback);
            self.park("agent");
        }
    }

    /// The call leaves the flow's hands for good while queued (an agent
    /// took it, or its queue ends it): the flow waits for nothing more and
    /// plays nothing more; the caller of this stops what is playing.
    pub fn park(&mut self, why: &'static str) {
        if self.is_queued() {
            self.event(why, self.position());
            self.stage = Stage::WithAgent;
            self.deadline = None;
        }
    }

    /// The ACD gave up on the queued call (its queue's maximum wait), or
    /// its agent's phone vanished: the flow goes on as at the node's own
    /// maximum wait, or ends the call if the node has none.
    pub fn leave_queue(&mut self, clock: Clock, why: &str) {
        if !matches!(self.stage, Stage::Holding { .. } | Stage::WithAgent) {
            return;
        }
        self.effects.push_back(Effect::StopPlayback);
        self.event("queue-left", why.to_owned());
        match &self.flow.nodes[self.node].kind {
            NodeKind::Queue(q) if q.max_wait.is_some() => {
                let to = q.max_wait.expect("checked").1;
                self.go(clock, to);
            }
            _ => self.hangup("queue-overflow"),
        }
    }

    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn start(&mut self, clock: Clock) {
        let node = self.node;
        self.go(clock, node);
    }

    // ----- inputs ------------------------------------------------------------

    pub fn on_digit(&mut self, clock: Clock, digit: char) {
        match self.stage {
            Stage::Playing { barge_in: true, .. } => {
                self.effects.push_back(Effect::StopPlayback);
                self.push_typeahead(digit);
                self.event("barge-in", digit.to_string());
                self.played(clock);
            }
            Stage::Prompting { .. } | Stage::Listening => {
                if matches!(self.stage, Stage::Prompting { .. }) {
                    self.effects.push_back(Effect::StopPlayback);
                }
                self.stage = Stage::Listening;
                self.input(clock, digit);
            }
            Stage::Recording => {
                let NodeKind::Message {
                    terminator, next, ..
                } = &self.flow.nodes[self.node].kind
                else {
                    return;
                };
                if Some(digit) == *terminator {
                    let next = *next;
                    self.stop_recording("terminator");
                    self.go(clock, next);
                }
            }
            // Type-ahead: a caller who knows the menu keys on while we
            // look something up.
            Stage::Stepping | Stage::LookingUp { .. } => self.push_typeahead(digit),
            Stage::Playing {
                barge_in: false, ..
            }
            | Stage::GivingUp { .. }
            | Stage::Holding { .. }
            | Stage::WithAgent
            | Stage::Transferring
            | Stage::Over => {}
        }
    }

    pub fn on_playback_done(&mut self, clock: Clock, token: u32) {
        match self.stage {
            Stage::Playing { token: t, .. } if t == token => self.played(clock),
            Stage::Prompting { token: t } if t == token => {
                self.stage = Stage::Listening;
                let wait = match &self.flow.nodes[self.node].kind {
                    NodeKind::Menu(m) => m.timeout,
                    NodeKind::Collect(c) if self.entry.is_empty() => c.timeout,
                    NodeKind::Collect(c) => c.inter_digit,
                    _ => Duration::ZERO,
                };
                self.deadline = Some(clock.now + wait);
            }
            Stage::GivingUp { token: t } if t == token => {
                let to = self.retry().map(|r| r.after_retries);
                if let Some(to) = to {
                    self.go(clock, to);
                }
            }
            Stage::Holding {
                token: t,
                since,
                until,
            } if t == token => {
                if since == clock.now {
                    // Nothing was heard (the prompts are missing): replaying
                    // at once would spin. Try again in a second.
                    let retry = clock.now + HOLD_RETRY;
                    self.deadline = Some(until.map_or(retry, |u| u.min(retry)));
                    self.stage = Stage::Holding {
                        token: 0,
                        since,
                        until,
                    };
                } else {
                    self.hold(clock, until);
                }
            }
            _ => {}
        }
    }

    pub fn on_lookup(&mut self, clock: Clock, token: u32, answer: LookupAnswer) {
        if self.stage != (Stage::LookingUp { token }) {
            return;
        }
        self.deadline = None;
        let NodeKind::Lookup {
            what,
            key,
            found,
            not_found,
            failed,
        } = &self.flow.nodes[self.node].kind
        else {
            return;
        };
        let (what, found, not_found, failed) = (*what, *found, *not_found, *failed);
        let key = key.render(&self.vars);
        match answer {
            LookupAnswer::Found(values) => {
                // Every variable the lookup promises is set, to "" where the
                // store had nothing, so later nodes never read an unset one.
                for name in what.sets() {
                    let value = values
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    self.vars.insert((*name).to_owned(), value);
                }
                let shown: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
                self.event(
                    "lookup",
                    format!("{} {key}: found {}", what.as_str(), shown.join(" ")),
                );
                self.go(clock, found);
            }
            LookupAnswer::NotFound => {
                self.event("lookup", format!("{} {key}: not found", what.as_str()));
                self.go(clock, not_found);
            }
            LookupAnswer::Failed(why) => {
                self.event("lookup", format!("{} {key}: failed ({why})", what.as_str()));
                self.go(clock, failed);
            }
        }
    }

    pub fn on_transfer_failed(&mut self, clock: Clock, reason: &str) {
        if self.stage != Stage::Transferring {
            return;
        }
        self.deadline = None;
        if let NodeKind::Transfer { failed, .. } = &self.flow.nodes[self.node].kind {
            let failed = *failed;
            self.event("transfer-failed", reason.to_owned());
            self.go(clock, failed);
        }
    }

    pub fn handle_timeout(&mut self, clock: Clock) {
        if self.deadline.is_none_or(|d| d > clock.now) {
            return;
        }
        self.deadline = None;
        match self.stage {
            Stage::Listening => match &self.flow.nodes[self.node].kind {
                NodeKind::Collect(_) if !self.entry.is_empty() => self.complete_entry(clock),
                _ => self.fail(clock, Failure::NoInput),
            },
            Stage::LookingUp { token } => {
                let timeout = format!("no answer in {} ms", LOOKUP_TIMEOUT.as_millis());
                self.on_lookup(clock, token, LookupAnswer::Failed(timeout));
            }
            Stage::Recording => {
                if let NodeKind::Message { next, .. } = &self.flow.nodes[self.node].kind {
                    let next = *next;
                    self.stop_recording("max length");
                    self.go(clock, next);
                }
            }
            Stage::Transferring => {
                let waited = format!("no outcome in {} s", TRANSFER_TIMEOUT.as_secs());
                self.on_transfer_failed(clock, &waited);
            }
            Stage::Holding { until, .. } if until.is_none_or(|u| u > clock.now) => {
                self.hold(clock, until);
            }
            Stage::Holding { .. } => {
                if let NodeKind::Queue(q) = &self.flow.nodes[self.node].kind
                    && let Some((waited, to)) = q.max_wait
                {
                    self.effects.push_back(Effect::StopPlayback);
                    self.event(
                        "queue-timeout",
                        format!("{} after {} s", q.queue, waited.as_secs()),
                    );
                    self.go(clock, to);
                }
            }
            _ => {}
        }
    }

    // ----- running nodes -----------------------------------------------------

    fn token(&mut self) -> u32 {
        self.next_token = self.next_token.wrapping_add(1);
        self.next_token
    }

    fn event(&mut self, kind: &'static str, detail: String) {
        self.effects.push_back(Effect::Event { kind, detail });
    }

    fn push_typeahead(&mut self, digit: char) {
        if self.typeahead.len() < MAX_TYPEAHEAD {
            self.typeahead.push_back(digit);
        }
    }

    /// Renders prompt templates; `None` entries are skipped by the call.
    fn render(&self, prompts: &[Template]) -> Vec<String> {
        prompts.iter().map(|t| t.render(&self.vars)).collect()
    }

    fn play(&mut self, prompts: Vec<String>) -> u32 {
        let token = self.token();
        self.effects.push_back(Effect::Play {
            token,
            language: self.language.clone(),
            prompts,
        });
        self.steps = 0;
        token
    }

    /// Moves to node `to` and runs nodes until one waits.
    fn go(&mut self, clock: Clock, to: NodeIx) {
        self.deadline = None;
        self.node = to;
        self.stage = Stage::Stepping;
        loop {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                self.event(
                    "flow-error",
                    format!("{MAX_STEPS} nodes without waiting at {}", self.position()),
                );
                self.hangup("flow-loop");
                return;
            }
            let detail = format!(
                "{} ({})",
                self.position(),
                self.flow.nodes[self.node].kind.name()
            );
            self.event("node", detail);
            match self.enter(clock) {
                Some(next) => self.node = next,
                None => return,
            }
        }
    }

    fn hangup(&mut self, cause: &'static str) {
        self.stage = Stage::Over;
        self.deadline = None;
        self.effects.push_back(Effect::Hangup { cause });
    }

    /// Runs the current node: `Some(next)` to go straight on, `None` when
    /// it waits (or the call is over).
    fn enter(&mut self, clock: Clock) -> Option<NodeIx> {
        let flow = self.flow.clone();
        let node = &flow.nodes[self.node];
        match &node.kind {
            NodeKind::Play {
                prompts,
                barge_in,
                next,
            } => {
                if prompts.is_empty() {
                    return Some(*next);
                }
                let token = self.play(self.render(prompts));
                self.stage = Stage::Playing {
                    token,
                    barge_in: *barge_in,
                };
                None
            }
            NodeKind::Menu(m) => {
                self.tries = 0;
                self.typeahead_or_prompt(clock, &m.prompts, Vec::new())
            }
            NodeKind::Collect(c) => {
                self.tries = 0;
                self.entry.clear();
                self.typeahead_or_prompt(clock, &c.prompts, Vec::new())
            }
            NodeKind::Say { value, how, next } => {
                let value = value.render(&self.vars);
                match say::say(&self.language, *how, &value) {
                    Ok(names) if !names.is_empty() => {
                        let token = self.play(names);
                        self.stage = Stage::Playing {
                            token,
                            barge_in: false,
                        };
                        None
                    }
                    Ok(_) => Some(*next),
                    Err(e) => {
                        self.event("say-failed", e.to_string());
                        Some(*next)
                    }
                }
            }
            NodeKind::Branch {
                var,
                cases,
                default,
            } => {
                let value = self.vars.get(var).map_or("", String::as_str);
                let to = cases
                    .iter()
                    .find(|(v, _)| v == value)
                    .map_or(*default, |(_, to)| *to);
                Some(to)
            }
            NodeKind::Time {
                hours,
                open,
                closed,
            } => {
                let is_open = hours.is_open(clock.wall_ms);
                self.event("time", if is_open { "open" } else { "closed" }.into());
                Some(if is_open { *open } else { *closed })
            }
            NodeKind::Lookup { what, key, .. } => {
                let token = self.token();
                self.effects.push_back(Effect::Lookup {
                    token,
                    what: *what,
                    key: key.render(&self.vars),
                });
                self.stage = Stage::LookingUp { token };
                self.deadline = Some(clock.now + LOOKUP_TIMEOUT);
                self.steps = 0;
                None
            }
            NodeKind::Set { var, value, next } => {
                let value = value.render(&self.vars);
                self.event("set", format!("{var}={value}"));
                self.vars.insert(var.clone(), value);
                Some(*next)
            }
            NodeKind::Answer {
                question,
                value,
                next,
            } => {
                self.effects.push_back(Effect::Answer {
                    question: question.clone(),
                    value: value.render(&self.vars),
                });
                Some(*next)
            }
            NodeKind::Callback { campaign, next } => {
                self.effects.push_back(Effect::Callback {
                    campaign: campaign.clone(),
                });
                Some(*next)
            }
            NodeKind::Language { language, next } => {
                self.language = language.clone();
                self.vars.insert("language".into(), language.clone());
                self.event("language", language.clone());
                Some(*next)
            }
            NodeKind::Message { prompts, beep, .. } => {
                let mut names = self.render(prompts);
                if *beep {
                    names.push("beep".into());
                }
                if names.is_empty() {
                    self.start_recording(clock);
                    return None;
                }
                let token = self.play(names);
                self.stage = Stage::Playing {
                    token,
                    barge_in: false,
                };
                None
            }
            NodeKind::Queue(q) => {
                self.event(
                    "queue",
                    format!(
                        "{} priority {} skills [{}]",
                        q.queue,
                        q.priority,
                        q.skills.join(",")
                    ),
                );
                self.effects.push_back(Effect::Queue {
                    queue: q.queue.clone(),
                    priority: q.priority,
                    skills: q.skills.clone(),
                });
                let until = q.max_wait.map(|(d, _)| clock.now + d);
                self.deadline = until;
                let mut names = self.render(&q.prompts);
                names.extend(self.render(&q.hold));
                let token = self.play(names);
                self.stage = Stage::Holding {
                    token,
                    since: clock.now,
                    until,
                };
                None
            }
            NodeKind::Transfer {
                number,
                prompts,
                failed,
            } => {
                let number = number.render(&self.vars);
                if !self.transfer_allow.iter().any(|p| p.matches(&number)) {
                    self.event(
                        "transfer-refused",
                        format!("{number} is not in the allow-list"),
                    );
                    return Some(*failed);
                }
                if prompts.is_empty() {
                    self.transfer(clock, number);
                    return None;
                }
                let token = self.play(self.render(prompts));
                self.stage = Stage::Playing {
                    token,
                    barge_in: false,
                };
                None
            }
            NodeKind::SubFlow { flow: name, next } => {
                let Some(sub) = self.flows.flow(name).cloned() else {
                    self.event("flow-error", format!("no sub-flow {name}"));
                    return Some(*next);
                };
                if self.stack.len() >= MAX_STACK {
                    self.event(
                        "flow-error",
                        format!("sub-flows nested over {MAX_STACK} deep"),
                    );
                    self.hangup("flow-error");
                    return None;
                }
                self.stack.push((self.flow.clone(), *next));
                let start = sub.start;
                self.flow = sub;
                Some(start)
            }
            NodeKind::Return => match self.stack.pop() {
                Some((flow, next)) => {
                    self.flow = flow;
                    Some(next)
                }
                None => {
                    self.hangup("flow-complete");
                    None
                }
            },
            NodeKind::Hangup { prompts } => {
                if prompts.is_empty() {
                    self.hangup("flow-complete");
                    return None;
                }
                let token = self.play(self.render(prompts));
                self.stage = Stage::Playing {
                    token,
                    barge_in: false,
                };
                None
            }
        }
    }

    /// A play-like node's prompts ended (or were barged): carry on.
    fn played(&mut self, clock: Clock) {
        let flow = self.flow.clone();
        match &flow.nodes[self.node].kind {
            NodeKind::Play { next, .. } | NodeKind::Say { next, .. } => self.go(clock, *next),
            NodeKind::Message { .. } => self.start_recording(clock),
            NodeKind::Transfer { number, .. } => {
                let number = number.render(&self.vars);
                self.transfer(clock, number);
            }
            _ => self.hangup("flow-complete"),
        }
    }

    /// Menu and collect entry: keys already pressed are used at once, else
    /// the prompt plays (after `before`, e.g. "invalid choice").
    fn typeahead_or_prompt(
        &mut self,
        clock: Clock,
        prompts: &[Template],
        before: Vec<String>,
    ) -> Option<NodeIx> {
        if let Some(d) = self.typeahead.pop_front() {
            self.stage = Stage::Listening;
            self.input(clock, d);
            return None;
        }
        let mut names = before;
        names.extend(self.render(prompts));
        if names.is_empty() {
            // Nothing to say: listen straight away.
            let token = self.token();
            self.stage = Stage::Prompting { token };
            self.on_playback_done(clock, token);
            return None;
        }
        let token = self.play(names);
        self.stage = Stage::Prompting { token };
        None
    }

    /// A key for the menu or collect we are at.
    fn input(&mut self, clock: Clock, digit: char) {
        self.deadline = None;
        self.steps = 0;
        let flow = self.flow.clone();
        match &flow.nodes[self.node].kind {
            NodeKind::Menu(m) => match m.options.iter().find(|(k, _)| *k == digit) {
                Some(&(_, to)) => {
                    self.event("menu", format!("{digit} → {}", flow.nodes[to].id));
                    self.typeahead.clear();
                    self.go(clock, to);
                }
                None => {
                    self.event("invalid", format!("{digit} at {}", self.position()));
                    self.fail(clock, Failure::Invalid);
                }
            },
            NodeKind::Collect(c) => {
                if Some(digit) == c.terminator {
                    self.complete_entry(clock);
                    return;
                }
                self.entry.push(digit);
                // Done at `max`, or as soon as the pattern settles it: a
                // whole ticket number needs no pause after it, and a wrong
                // first key needs no wait for the rest.
                let settled = c
                    .pattern
                    .as_ref()
                    .is_some_and(|p| !p.could_match_longer(&self.entry));
                if self.entry.len() >= c.max || settled {
                    self.complete_entry(clock);
                    return;
                }
                // More keys may already be waiting.
                if let Some(d) = self.typeahead.pop_front() {
                    self.input(clock, d);
                    return;
                }
                self.deadline = Some(clock.now + c.inter_digit);
            }
            _ => {}
        }
    }

    /// The caller finished keying a collect's value: keep it or try again.
    fn complete_entry(&mut self, clock: Clock) {
        let flow = self.flow.clone();
        let NodeKind::Collect(c) = &flow.nodes[self.node].kind else {
            return;
        };
        let entry = std::mem::take(&mut self.entry);
        let long_enough = entry.len() >= c.min;
        let fits = c.pattern.as_ref().is_none_or(|p| p.matches(&entry));
        if entry.is_empty() {
            self.fail(clock, Failure::NoInput);
        } else if long_enough && fits {
            self.event("collect", format!("{}={entry}", c.into));
            self.vars.insert(c.into.clone(), entry);
            self.typeahead.clear();
            self.go(clock, c.next);
        } else {
            self.event("invalid", format!("{entry:?} for {}", c.into));
            self.fail(clock, Failure::Invalid);
        }
    }

    fn retry(&self) -> Option<&Retry> {
        match &self.flow.nodes[self.node].kind {
            NodeKind::Menu(m) => Some(&m.retry),
            NodeKind::Collect(c) => Some(&c.retry),
            _ => None,
        }
    }

    /// A wrong key or silence at a menu or collect: ask again, or give up
    /// after the last try.
    fn fail(&mut self, clock: Clock, why: Failure) {
        let flow = self.flow.clone();
        let node = &flow.nodes[self.node];
        let (retry, prompts) = match &node.kind {
            NodeKind::Menu(m) => (&m.retry, &m.prompts),
            NodeKind::Collect(c) => (&c.retry, &c.prompts),
            _ => return,
        };
        if why == Failure::NoInput {
            self.event("no-input", self.position());
        }
        // A caller mashing keys: what they pressed after the wrong key is
        // not an answer to the question we ask again.
        self.typeahead.clear();
        self.entry.clear();
        self.tries += 1;
        let sorry = self.render(match why {
            Failure::Invalid => &retry.invalid,
            Failure::NoInput => &retry.no_input,
        });
        if self.tries >= retry.tries {
            self.event(
                "retries-exhausted",
                format!("{} after {} tries", self.position(), self.tries),
            );
            if sorry.is_empty() {
                self.go(clock, retry.after_retries);
            } else {
                let token = self.play(sorry);
                self.stage = Stage::GivingUp { token };
            }
            return;
        }
        self.typeahead_or_prompt(clock, prompts, sorry);
    }

    fn start_recording(&mut self, clock: Clock) {
        let NodeKind::Message { max, .. } = &self.flow.nodes[self.node].kind else {
            return;
        };
        let max = *max;
        self.event("message-start", format!("max {} s", max.as_secs()));
        self.effects.push_back(Effect::StartRecording);
        self.stage = Stage::Recording;
        self.deadline = Some(clock.now + max);
        self.steps = 0;
    }

    fn stop_recording(&mut self, why: &str) {
        self.effects.push_back(Effect::StopRecording);
        self.event("message-end", why.to_owned());
        self.deadline = None;
    }

    fn transfer(&mut self, clock: Clock, number: String) {
        self.event("transfer", number.clone());
        self.effects.push_back(Effect::Transfer { number });
        self.stage = Stage::Transferring;
        self.deadline = Some(clock.now + TRANSFER_TIMEOUT);
        self.steps = 0;
    }

    /// The queue's hold prompts ended: play them again.
    fn hold(&mut self, clock: Clock, until: Option<Instant>) {
        let NodeKind::Queue(q) = &self.flow.nodes[self.node].kind else {
            return;
        };
        let mut names = std::mem::take(&mut self.announcement);
        names.extend(self.render(&q.hold.clone()));
        let token = self.play(names);
        self.deadline = until;
        self.stage = Stage::Holding {
            token,
            since: clock.now,
            until,
        };
    }
}
