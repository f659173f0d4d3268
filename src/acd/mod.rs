//! Automatic call distribution: agents, their states, queues of waiting
//! callers, and which agent is offered which call. The pure core of the
//! ACD issue: no I/O and no clock; instants come in as epoch milliseconds,
//! what to do comes out of [`Acd::poll_effect`], and [`Acd::next_deadline`]
//! says when [`Acd::tick`] is next due. The runtime rings phones and
//! bridges audio; this decides.
//!
//! # Agent states
//! ```text
//! logged_out -> ready | not_ready            (login)
//! ready      <-> not_ready                   (the agent; reason codes)
//! ready      -> ringing                      (a call is offered)
//! ringing    -> on_call                      (answered)
//!            -> ready                        (rejected, or the caller left)
//!            -> ready | not_ready("missed")  (ring timeout; N misses in a row)
//! on_call    <-> on_hold
//! on_call | on_hold -> wrap_up               (either side hung up, or the
//!                                             call went to a consulted agent)
//! ready      -> consulted                    (another agent asks about their
//!                                             call: attended transfer)
//! consulted  -> on_call                      (the transfer is completed)
//!            -> ready                        (cancelled, or the caller left)
//! wrap_up    -> ready                        (timer, or the agent ends it)
//! any idle state -> logged_out               (logout; not with a call)
//! ```
//! Every change is reported as [`Effect::AgentState`] with from, to, when
//! and why, for the record.
//!
//! # Queues
//! A waiting call is offered to one agent at a time (every free agent at
//! once in a ring-all queue), chosen by the queue's [`Strategy`] among
//! the ready agents of the queue who have the skills the call needs; the
//! needed levels relax as the call waits ([`Relax`]). Calls go by
//! priority, then by arrival. An offer not answered within the ring
//! timeout goes to the next agent; a call waiting past the queue's
//! maximum wait leaves the queue with the queue's [`Overflow`] action.
//! [`Acd::estimated_wait`] gives a caller's position and expected wait
//! from the queue's recent handle times, for the announcements.
//!
//! # Invariants
//! Kept by every method (property-tested in `tests.rs`):
//! - an agent has at most one call, ringing or connected;
//! - outside ring-all, a call is offered to at most one agent at a time;
//! - a call is connected to at most one agent, and an answer to a call
//!   already taken is refused;
//! - every call ends exactly once: answered, abandoned or overflowed;
//! - nothing waits for ever: every ringing offer, wrap-up and waiting call
//!   has a deadline.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};

/// Handle times remembered per queue for the estimated wait.
const HANDLE_WINDOW: usize = 20;
/// The handle time assumed before a queue has any: 3 minutes.
const DEFAULT_HANDLE_MS: i64 = 180_000;

/// hotline's handle for a call in the ACD (the runtime maps it to its
/// call).
pub type CallRef = u64;
/// An agent: the user id.
pub type AgentId = i64;

/// How a queue picks among its free agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The agent idle longest (the default): fair, spreads work.
    LongestIdle,
    /// The next agent after the last one offered, in login order.
    RoundRobin,
    /// Every free agent at once; the first to answer takes it.
    RingAll,
    /// The agent who answered the fewest calls since login.
    FewestCalls,
    /// The agent with the highest total level in the needed skills, then
    /// the longest idle.
    SkillsBased,
}

/// What happens to a call that waited a queue's maximum wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overflow {
    /// Into another queue, with its priority; its wait (for that queue's
    /// maximum and relaxation) starts again there.
    Queue(String),
    /// The caller may leave a message.
    Message,
    /// Offer the caller a callback.
    Callback,
    /// Play a message and hang up.
    Hangup,
}

/// A step of skill relaxation: after waiting `after_ms`, every needed
/// level is lowered by `lower_by` (from the start), down to 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relax {
    pub after_ms: i64,
    pub lower_by: u8,
}

/// Rules around the queues (from `[agents]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Priority of a VIP customer's call, and of one with an open
    /// complaint (each only raises the IVR's).
    pub vip_priority: u8,
    pub complaint_priority: u8,
    /// A vanished agent phone's caller goes back to the front of the
    /// queue (else on to the queue node's way out).
    pub requeue_on_vanish: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            vip_priority: 8,
            complaint_priority: 9,
            requeue_on_vanish: true,
        }
    }
}

/// A queue as configured.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub name: String,
    pub strategy: Strategy,
    /// How long one offer rings before it goes to the next agent.
    pub ring_timeout_ms: i64,
    /// Longest wait before [`QueueConfig::overflow`]; `None`: no limit.
    pub max_wait_ms: Option<i64>,
    pub overflow: Overflow,
    /// After-call work time before the agent is ready again.
    pub wrap_up_ms: i64,
    /// Offers missed in a row before the agent is set not ready.
    pub max_missed: u32,
    /// Skill levels (1-10) every call of the queue needs.
    pub skills: BTreeMap<String, u8>,
    /// Relaxation steps, by `after_ms`.
    pub relax: Vec<Relax>,
    /// How often a waiting caller hears their position and expected wait
    /// ([`Effect::Announce`]); `None`: never.
    pub announce_every_ms: Option<i64>,
}

impl QueueConfig {
    /// A queue with the defaults: longest idle, 20 s rings, no maximum
    /// wait, 30 s wrap-up, not ready after 3 missed offers.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            strategy: Strategy::LongestIdle,
            ring_timeout_ms: 20_000,
            max_wait_ms: None,
            overflow: Overflow::Message,
            wrap_up_ms: 30_000,
            max_missed: 3,
            skills: BTreeMap::new(),
            relax: Vec::new(),
            announce_every_ms: None,
        }
    }
}

/// Where an agent stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    LoggedOut,
    Ready,
    /// With a reason code from the configuration (break, meal, training,
    /// or `missed` when the ACD set it).
    NotReady {
        reason: String,
    },
    /// Offered `call`, ringing until `until_ms`.
    Ringing {
        call: CallRef,
        until_ms: i64,
    },
    OnCall {
        call: CallRef,
    },
    OnHold {
        call: CallRef,
    },
    /// After-call work until `until_ms`.
    WrapUp {
        until_ms: i64,
    },
    /// Asked by agent `by` about `by`'s call `call` (an attended transfer
    /// being prepared): offered nothing else meanwhile.
    Consulted {
        call: CallRef,
        by: AgentId,
    },
}

impl AgentState {
    /// The state's name, as reports show it.
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Ready => "ready",
            AgentState::NotReady { .. } => "not_ready",
            AgentState::Ringing { .. } => "ringing",
            AgentState::OnCall { .. } => "on_call",
            AgentState::OnHold { .. } => "on_hold",
            AgentState::WrapUp { .. } => "wrap_up",
            AgentState::Consulted { .. } => "consulted",
        }
    }

    /// The call the agent has, ringing or connected.
    pub fn call(&self) -> Option<CallRef> {
        match self {
            AgentState::Ringing { call, .. }
            | AgentState::OnCall { call }
            | AgentState::OnHold { call } => Some(*call),
            _ => None,
        }
    }
}

/// How a call left the ACD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEnd {
    /// Taken by this agent.
    Answered { agent: AgentId },
    /// The caller hung up while waiting or ringing.
    Abandoned,
    /// Waited the maximum; the queue's action.
    Overflowed(Overflow),
    /// Taken out of the queue by its flow (the IVR's own maximum wait).
    Left,
}

/// What the runtime must do, or record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Ring `agent`'s phone with `call` (and pop the screen).
    Offer { call: CallRef, agent: AgentId },
    /// Stop ringing `agent` with `call`.
    CancelOffer { call: CallRef, agent: AgentId },
    /// Bridge `call` to `agent`: they answered.
    Connect { call: CallRef, agent: AgentId },
    /// The call left the ACD this way (every call gets exactly one).
    Ended { call: CallRef, end: CallEnd },
    /// The call overflowed into another queue and waits there.
    Moved { call: CallRef, queue: String },
    /// Tell the waiting caller their place (1 is next) and expected wait.
    Announce {
        call: CallRef,
        position: usize,
        wait_ms: i64,
    },
    /// An agent changed state; `why` says what caused it.
    AgentState {
        agent: AgentId,
        from: AgentState,
        to: AgentState,
        at_ms: i64,
        why: &'static str,
    },
}

/// Why a command was refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcdError {
    #[error("no agent {0} is known")]
    UnknownAgent(AgentId),
    #[error("no queue named {0:?}")]
    UnknownQueue(String),
    #[error("call {0} is not in the ACD")]
    UnknownCall(CallRef),
    #[error("call {0} is in the ACD already")]
    DuplicateCall(CallRef),
    #[error("the agent is {state}: {action} is not possible now")]
    WrongState {
        state: &'static str,
        action: &'static str,
    },
    #[error("call {call} is not offered to this agent")]
    NotOffered { call: CallRef },
    #[error("call {call} was taken by another agent")]
    Taken { call: CallRef },
}

#[derive(Debug)]
struct Agent {
    state: AgentState,
    queues: Vec<String>,
    skills: BTreeMap<String, u8>,
    /// When the agent last became free (longest idle).
    idle_since_ms: i64,
    /// Order of login (round robin).
    login_seq: u64,
    answered: u64,
    missed_in_row: u32,
    /// The queue of the last call, for its wrap-up time and miss limit.
    last_queue: Option<String>,
    /// When the current call was answered (its handle time).
    answered_at_ms: i64,
    /// The agent cannot take calls whatever they asked (no screen, no
    /// phone): every move to ready becomes this not-ready reason instead.
    away: Option<(String, &'static str)>,
}

#[derive(Debug)]
struct Waiting {
    queue: String,
    priority: u8,
    /// Extra skills this call needs (from the IVR), with the queue's.
    skills: BTreeMap<String, u8>,
    arrived_ms: i64,
    /// Agents ringing with it now.
    offered: Vec<AgentId>,
    /// How many of the queue's relaxation steps it has passed.
    relaxed_steps: usize,
    /// Ring timeout of the current offer(s).
    ring_until_ms: Option<i64>,
    /// When the caller hears their position next.
    announce_at_ms: Option<i64>,
    /// Transferred to this agent: offered to them only (whatever their
    /// queues and skills), with the queue's rules for the rest.
    only: Option<AgentId>,
}

/// The ACD: agents, queues and waiting calls.
#[derive(Debug, Default)]
pub struct Acd {
    queues: HashMap<String, QueueConfig>,
    agents: BTreeMap<AgentId, Agent>,
    waiting: BTreeMap<CallRef, Waiting>,
    /// Calls connected, to their agent.
    connected: HashMap<CallRef, AgentId>,
    /// Per queue, the login sequence of the agent offered last.
    round_robin: HashMap<String, u64>,
    /// Per queue, the latest handle times (answer to hang-up), newest last.
    handle_times: HashMap<String, VecDeque<i64>>,
    next_login: u64,
    effects: VecDeque<Effect>,
}

impl Acd {
    pub fn new(queues: impl IntoIterator<Item = QueueConfig>) -> Self {
        let mut acd = Self::default();
        acd.set_queues(queues);
        acd
    }

    /// Replaces the queue settings (a configuration reload). Waiting calls
    /// of a removed queue stay until they are answered or leave.
    pub fn set_queues(&mut self, queues: impl IntoIterator<Item = QueueConfig>) {
        self.queues = queues
            .into_iter()
            .map(|mut q| {
                q.relax.sort_by_key(|r| r.after_ms);
                (q.name.clone(), q)
            })
            .collect();
    }

    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    pub fn agent_state(&self, agent: AgentId) -> Option<&AgentState> {
        self.agents.get(&agent).map(|a| &a.state)
    }

    /// When the agent answered the call they have connected (talking or
    /// holding), epoch ms: how long they have been on it.
    pub fn answered_at(&self, agent: AgentId) -> Option<i64> {
        let a = self.agents.get(&agent)?;
        matches!(
            a.state,
            AgentState::OnCall { .. } | AgentState::OnHold { .. }
        )
        .then_some(a.answered_at_ms)
    }

    /// Agents of `queue` ready and free now, and the calls waiting in it:
    /// how many more calls the queue could take at once.
    pub fn room_in(&self, queue: &str) -> (usize, usize) {
        let ready = self
            .agents
            .values()
            .filter(|a| {
                a.state == AgentState::Ready
                    && a.away.is_none()
                    && a.queues.iter().any(|q| q == queue)
            })
            .count();
        let waiting = self.waiting.values().filter(|w| w.queue == queue).count();
        (ready, waiting)
    }

    /// Calls waiting in `queue`, in the order they will be served.
    pub fn waiting_in(&self, queue: &str) -> Vec<CallRef> {
        let mut calls: Vec<(&CallRef, &Waiting)> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.queue == queue)
            .collect();
        calls.sort_by_key(|(c, w)| (std::cmp::Reverse(w.priority), w.arrived_ms, **c));
        calls.into_iter().map(|(c, _)| *c).collect()
    }

    /// A waiting call's place in its queue (1 is next) and the estimated
    /// wait, for the caller's announcements: the calls ahead and this one,
    /// times the queue's average recent handle time, shared among the
    /// queue's logged-in agents. `None` once the call is not waiting.
    pub fn estimated_wait(&self, call: CallRef) -> Option<(usize, i64)> {
        let queue = &self.waiting.get(&call)?.queue;
        let position = self.waiting_in(queue).iter().position(|c| *c == call)? + 1;
        let times = self.handle_times.get(queue);
        let average = times
            .filter(|t| !t.is_empty())
            .map_or(DEFAULT_HANDLE_MS, |t| {
                t.iter().sum::<i64>() / t.len() as i64
            });
        let agents = self
            .agents
            .values()
            .filter(|a| a.state != AgentState::LoggedOut && a.queues.contains(queue))
            .count()
            .max(1);
        Some((position, position as i64 * average / agents as i64))
    }

    /// The earliest instant [`Acd::tick`] has work: a ring timeout, a
    /// wrap-up's end, a maximum wait or a relaxation step.
    pub fn next_deadline(&self) -> Option<i64> {
        let agents = self.agents.values().filter_map(|a| match a.state {
            AgentState::Ringing { until_ms, .. } | AgentState::WrapUp { until_ms } => {
                Some(until_ms)
            }
            _ => None,
        });
        let calls = self.waiting.values().flat_map(|w| {
            let q = self.queues.get(&w.queue);
            let max = q.and_then(|q| q.max_wait_ms).map(|m| w.arrived_ms + m);
            let relax = q
                .and_then(|q| q.relax.get(w.relaxed_steps))
                .map(|r| w.arrived_ms + r.after_ms);
            [max, relax, w.ring_until_ms, w.announce_at_ms]
                .into_iter()
                .flatten()
        });
        agents.chain(calls).min()
    }

    fn set_state(&mut self, id: AgentId, to: AgentState, now: i64, why: &'static str) {
        let Some(agent) = self.agents.get_mut(&id) else {
            return;
        };
        // In the same step that frees them (wrap-up over, a ring that
        // stopped...), an agent who cannot take calls is paused instead:
        // checked later, the free agent could already have been offered one.
        let (to, why) = match (&to, &agent.away) {
            (AgentState::Ready, Some((reason, away_why))) => (
                AgentState::NotReady {
                    reason: reason.clone(),
                },
                *away_why,
            ),
            _ => (to, why),
        };
        let from = std::mem::replace(&mut agent.state, to.clone());
        if matches!(to, AgentState::Ready) {
            agent.idle_since_ms = now;
        }
        self.effects.push_back(Effect::AgentState {
            agent: id,
            from,
            to,
            at_ms: now,
            why,
        });
    }

    fn agent(&self, id: AgentId) -> Result<&Agent, AcdError> {
        self.agents.get(&id).ok_or(AcdError::UnknownAgent(id))
    }

    fn wrong(&self, id: AgentId, action: &'static str) -> AcdError {
        AcdError::WrongState {
            state: self.agents.get(&id).map_or("unknown", |a| a.state.name()),
            action,
        }
    }

    /// An agent logs in to `queues` with `skills`, ready or not.
    pub fn login(
        &mut self,
        id: AgentId,
        queues: Vec<String>,
        skills: BTreeMap<String, u8>,
        ready: bool,
        now: i64,
    ) -> Result<(), AcdError> {
        if let Some(q) = queues.iter().find(|q| !self.queues.contains_key(*q)) {
            return Err(AcdError::UnknownQueue(q.clone()));
        }
        if let Some(a) = self.agents.get(&id)
            && a.state != AgentState::LoggedOut
        {
            return Err(self.wrong(id, "log in"));
        }
        self.next_login += 1;
        self.agents.insert(
            id,
            Agent {
                state: AgentState::LoggedOut,
                queues,
                skills,
                idle_since_ms: now,
                login_seq: self.next_login,
                answered: 0,
                missed_in_row: 0,
                last_queue: None,
                answered_at_ms: now,
                away: None,
            },
        );
        let to = if ready {
            AgentState::Ready
        } else {
            AgentState::NotReady {
                reason: "login".to_owned(),
            }
        };
        self.set_state(id, to, now, "login");
        self.dispatch(now);
        Ok(())
    }

    /// Logs out an agent who has no call (ringing, connected or on hold).
    pub fn logout(&mut self, id: AgentId, now: i64) -> Result<(), AcdError> {
        match &self.agent(id)?.state {
            AgentState::Ready | AgentState::NotReady { .. } | AgentState::WrapUp { .. } => {
                self.set_state(id, AgentState::LoggedOut, now, "logout");
                // Callers transferred to this agent go to anyone of their
                // queue rather than wait for someone who left.
                for w in self.waiting.values_mut().filter(|w| w.only == Some(id)) {
                    w.only = None;
                }
                self.dispatch(now);
                Ok(())
            }
            _ => Err(self.wrong(id, "log out")),
        }
    }

    /// Marks an agent as unable to take calls (`Some((reason, why))`: no
    /// screen, no phone) or able again (`None`). While away, a ready agent
    /// is paused with that reason and every later move to ready becomes
    /// that pause; going ready again is the agent's own move once back.
    pub fn set_away(&mut self, id: AgentId, away: Option<(&str, &'static str)>, now: i64) {
        let Some(agent) = self.agents.get_mut(&id) else {
            return;
        };
        agent.away = away.map(|(reason, why)| (reason.to_owned(), why));
        if agent.state == AgentState::Ready
            && let Some((reason, why)) = away
        {
            let to = AgentState::NotReady {
                reason: reason.to_owned(),
            };
            self.set_state(id, to, now, why);
        }
    }

    /// The agent is marked unable to take calls ([`Acd::set_away`]).
    pub fn is_away(&self, id: AgentId) -> bool {
        self.agents.get(&id).is_some_and(|a| a.away.is_some())
    }

    /// The agent is ready for calls (from not ready, or ending wrap-up
    /// early).
    pub fn set_ready(&mut self, id: AgentId, now: i64) -> Result<(), AcdError> {
        match &self.agent(id)?.state {
            AgentState::NotReady { .. } | AgentState::WrapUp { .. } => {
                let agent = self.agents.get_mut(&id).expect("checked");
                agent.missed_in_row = 0;
                self.set_state(id, AgentState::Ready, now, "agent");
                self.dispatch(now);
                Ok(())
            }
            AgentState::Ready => Ok(()),
            _ => Err(self.wrong(id, "become ready")),
        }
    }

    /// The agent steps away with a reason code; allowed when idle or in
    /// wrap-up.
    pub fn set_not_ready(&mut self, id: AgentId, reason: &str, now: i64) -> Result<(), AcdError> {
        self.pause(id, reason, "agent", now)
    }

    /// Not ready for a reason of the server's (`why`: what happened), as
    /// [`Acd::set_not_ready`] otherwise.
    pub fn pause(
        &mut self,
        id: AgentId,
        reason: &str,
        why: &'static str,
        now: i64,
    ) -> Result<(), AcdError> {
        match &self.agent(id)?.state {
            AgentState::Ready | AgentState::NotReady { .. } | AgentState::WrapUp { .. } => {
                let to = AgentState::NotReady {
                    reason: reason.to_owned(),
                };
                self.set_state(id, to, now, why);
                Ok(())
            }
            _ => Err(self.wrong(id, "become not ready")),
        }
    }

    /// Wrap-up goes on `extra_ms` longer.
    pub fn extend_wrap_up(&mut self, id: AgentId, extra_ms: i64, now: i64) -> Result<(), AcdError> {
        match self.agent(id)?.state {
            AgentState::WrapUp { until_ms } => {
                let to = AgentState::WrapUp {
                    until_ms: until_ms.max(now) + extra_ms.max(0),
                };
                self.set_state(id, to, now, "extended");
                Ok(())
            }
            _ => Err(self.wrong(id, "extend wrap-up")),
        }
    }

    /// A caller joins `queue` with a priority (higher first) and skills
    /// of their own (level 1 each) on top of the queue's.
    pub fn enqueue(
        &mut self,
        call: CallRef,
        queue: &str,
        priority: u8,
        skills: &[String],
        now: i64,
    ) -> Result<(), AcdError> {
        self.join(call, queue, priority, skills, None, now)
    }

    /// A caller transferred to one agent waits for that agent only
    /// (whatever their queues and skills), under `queue`'s rules for the
    /// rest: ring timeout, maximum wait, announcements.
    pub fn enqueue_for(
        &mut self,
        call: CallRef,
        queue: &str,
        agent: AgentId,
        priority: u8,
        now: i64,
    ) -> Result<(), AcdError> {
        if self.agent(agent)?.state == AgentState::LoggedOut {
            return Err(self.wrong(agent, "take a transfer"));
        }
        self.join(call, queue, priority, &[], Some(agent), now)
    }

    fn join(
        &mut self,
        call: CallRef,
        queue: &str,
        priority: u8,
        skills: &[String],
        only: Option<AgentId>,
        now: i64,
    ) -> Result<(), AcdError> {
        let q = self
            .queues
            .get(queue)
            .ok_or_else(|| AcdError::UnknownQueue(queue.to_owned()))?;
        if self.waiting.contains_key(&call) || self.connected.contains_key(&call) {
            return Err(AcdError::DuplicateCall(call));
        }
        let mut needed = q.skills.clone();
        for s in skills {
            needed.entry(s.clone()).or_insert(1);
        }
        self.waiting.insert(
            call,
            Waiting {
                queue: queue.to_owned(),
                priority,
                skills: needed,
                arrived_ms: now,
                offered: Vec::new(),
                relaxed_steps: 0,
                ring_until_ms: None,
                announce_at_ms: q.announce_every_ms.map(|every| now + every),
                only,
            },
        );
        self.dispatch(now);
        Ok(())
    }

    /// The agent answers the call ringing at them. Exactly one answer
    /// wins; the others' offers are cancelled.
    pub fn answer(&mut self, id: AgentId, call: CallRef, now: i64) -> Result<(), AcdError> {
        match self.agent(id)?.state {
            AgentState::Ringing { call: c, .. } if c == call => {}
            AgentState::Ringing { .. } => return Err(AcdError::NotOffered { call }),
            _ if self.connected.contains_key(&call) => return Err(AcdError::Taken { call }),
            _ => return Err(self.wrong(id, "answer")),
        }
        let w = self
            .waiting
            .remove(&call)
            .ok_or(AcdError::UnknownCall(call))?;
        for other in w.offered.iter().filter(|&&a| a != id) {
            self.effects.push_back(Effect::CancelOffer {
                call,
                agent: *other,
            });
            self.set_state(*other, AgentState::Ready, now, "answered elsewhere");
        }
        let agent = self.agents.get_mut(&id).expect("checked");
        agent.answered += 1;
        agent.missed_in_row = 0;
        agent.last_queue = Some(w.queue.clone());
        agent.answered_at_ms = now;
        self.connected.insert(call, id);
        self.set_state(id, AgentState::OnCall { call }, now, "answered");
        self.effects.push_back(Effect::Connect { call, agent: id });
        self.effects.push_back(Effect::Ended {
            call,
            end: CallEnd::Answered { agent: id },
        });
        self.dispatch(now);
        Ok(())
    }

    /// The agent declines the offer; it goes to the next agent. Not a
    /// missed offer.
    pub fn reject(&mut self, id: AgentId, call: CallRef, now: i64) -> Result<(), AcdError> {
        match self.agent(id)?.state {
            AgentState::Ringing { call: c, .. } if c == call => {}
            _ => return Err(AcdError::NotOffered { call }),
        }
        self.withdraw(call, id);
        self.effects
            .push_back(Effect::CancelOffer { call, agent: id });
        self.set_state(id, AgentState::Ready, now, "rejected");
        self.dispatch_excluding(now, &[(call, id)]);
        Ok(())
    }

    /// Holds or resumes the agent's connected call.
    pub fn hold(&mut self, id: AgentId, on: bool, now: i64) -> Result<(), AcdError> {
        match (self.agent(id)?.state.clone(), on) {
            (AgentState::OnCall { call }, true) => {
                self.set_state(id, AgentState::OnHold { call }, now, "hold");
                Ok(())
            }
            (AgentState::OnHold { call }, false) => {
                self.set_state(id, AgentState::OnCall { call }, now, "resume");
                Ok(())
            }
            _ => Err(self.wrong(id, if on { "hold" } else { "resume" })),
        }
    }

    /// The call ended (the caller or the agent hung up, or the agent's
    /// phone vanished): a waiting or ringing call is abandoned; a
    /// connected one sends its agent to wrap-up.
    pub fn hang_up(&mut self, call: CallRef, now: i64) -> Result<(), AcdError> {
        if let Some(w) = self.waiting.remove(&call) {
            for agent in &w.offered {
                self.effects.push_back(Effect::CancelOffer {
                    call,
                    agent: *agent,
                });
                self.set_state(*agent, AgentState::Ready, now, "caller left");
            }
            self.effects.push_back(Effect::Ended {
                call,
                end: CallEnd::Abandoned,
            });
            self.dispatch(now);
            return Ok(());
        }
        let id = self
            .connected
            .remove(&call)
            .ok_or(AcdError::UnknownCall(call))?;
        self.record_handle_time(id, now);
        // Someone consulted about the call is free again.
        let consulted: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, a)| matches!(a.state, AgentState::Consulted { call: c, .. } if c == call))
            .map(|(id, _)| *id)
            .collect();
        for other in consulted {
            self.set_state(other, AgentState::Ready, now, "call ended");
        }
        let wrap_ms = self
            .agents
            .get(&id)
            .and_then(|a| a.last_queue.as_ref())
            .and_then(|q| self.queues.get(q))
            .map_or(0, |q| q.wrap_up_ms);
        let to = AgentState::WrapUp {
            until_ms: now + wrap_ms,
        };
        self.set_state(id, to, now, "call ended");
        Ok(())
    }

    /// Raises a waiting call's priority (never lowers it): what the
    /// records say about the caller may come after they joined the queue.
    pub fn raise_priority(&mut self, call: CallRef, priority: u8, now: i64) {
        if let Some(w) = self.waiting.get_mut(&call)
            && priority > w.priority
        {
            w.priority = priority;
            self.dispatch(now);
        }
    }

    /// The caller's flow takes a waiting call out of the queue (it has its
    /// own way out); any ringing offer is withdrawn.
    pub fn leave(&mut self, call: CallRef, now: i64) -> Result<(), AcdError> {
        let w = self
            .waiting
            .remove(&call)
            .ok_or(AcdError::UnknownCall(call))?;
        for agent in w.offered {
            self.effects.push_back(Effect::CancelOffer { call, agent });
            self.set_state(agent, AgentState::Ready, now, "caller left the queue");
        }
        self.effects.push_back(Effect::Ended {
            call,
            end: CallEnd::Left,
        });
        self.dispatch(now);
        Ok(())
    }

    /// Agent `by`, with a call connected (talking or holding), asks agent
    /// `to`, who is ready, about it: `to` is offered nothing else until
    /// [`Acd::complete_consult`] or [`Acd::end_consult`].
    pub fn consult(&mut self, by: AgentId, to: AgentId, now: i64) -> Result<(), AcdError> {
        let call = match self.agent(by)?.state {
            AgentState::OnCall { call } | AgentState::OnHold { call } => call,
            _ => return Err(self.wrong(by, "consult")),
        };
        if to == by || self.agent(to)?.state != AgentState::Ready {
            return Err(self.wrong(to, "be consulted"));
        }
        self.set_state(to, AgentState::Consulted { call, by }, now, "consulted");
        Ok(())
    }

    /// The consultation is over without a transfer: the consulted agent
    /// is ready again.
    pub fn end_consult(&mut self, to: AgentId, now: i64) -> Result<(), AcdError> {
        match self.agent(to)?.state {
            AgentState::Consulted { .. } => {
                self.set_state(to, AgentState::Ready, now, "consultation over");
                self.dispatch(now);
                Ok(())
            }
            _ => Err(self.wrong(to, "end a consultation")),
        }
    }

    /// The attended transfer completes: the consulted agent takes the
    /// call, the one who consulted goes to wrap-up.
    pub fn complete_consult(&mut self, to: AgentId, now: i64) -> Result<(), AcdError> {
        let AgentState::Consulted { call, by } = self.agent(to)?.state else {
            return Err(self.wrong(to, "take the transfer"));
        };
        if self.connected.get(&call) != Some(&by) {
            return Err(AcdError::UnknownCall(call));
        }
        let queue = self.agents.get(&by).and_then(|a| a.last_queue.clone());
        self.record_handle_time(by, now);
        let wrap_ms = queue
            .as_ref()
            .and_then(|q| self.queues.get(q))
            .map_or(0, |q| q.wrap_up_ms);
        self.connected.insert(call, to);
        self.set_state(
            by,
            AgentState::WrapUp {
                until_ms: now + wrap_ms,
            },
            now,
            "transferred",
        );
        let agent = self.agents.get_mut(&to).expect("checked");
        agent.answered += 1;
        agent.missed_in_row = 0;
        agent.last_queue = queue;
        agent.answered_at_ms = now;
        self.set_state(to, AgentState::OnCall { call }, now, "transfer completed");
        Ok(())
    }

    /// Keeps how long `agent`'s call lasted, for the queue's estimated
    /// wait.
    fn record_handle_time(&mut self, agent: AgentId, now: i64) {
        if let Some(a) = self.agents.get(&agent)
            && let Some(q) = &a.last_queue
        {
            let times = self.handle_times.entry(q.clone()).or_default();
            if times.len() == HANDLE_WINDOW {
                times.pop_front();
            }
            times.push_back(now - a.answered_at_ms);
        }
    }

    /// Ring timeouts, wrap-up ends and maximum waits due by `now`; then
    /// offers to whoever became free.
    pub fn tick(&mut self, now: i64) {
        // Wrap-ups over.
        let done: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, a)| matches!(a.state, AgentState::WrapUp { until_ms } if until_ms <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            self.set_state(id, AgentState::Ready, now, "wrap-up over");
        }
        // Offers nobody answered.
        let missed: Vec<(AgentId, CallRef)> = self
            .agents
            .iter()
            .filter_map(|(id, a)| match a.state {
                AgentState::Ringing { call, until_ms } if until_ms <= now => Some((*id, call)),
                _ => None,
            })
            .collect();
        for (id, call) in &missed {
            self.withdraw(*call, *id);
            self.effects.push_back(Effect::CancelOffer {
                call: *call,
                agent: *id,
            });
            let limit = self
                .waiting
                .get(call)
                .and_then(|w| self.queues.get(&w.queue))
                .map_or(u32::MAX, |q| q.max_missed);
            let agent = self.agents.get_mut(id).expect("ringing agent exists");
            agent.missed_in_row += 1;
            if agent.missed_in_row >= limit {
                let to = AgentState::NotReady {
                    reason: "missed".to_owned(),
                };
                self.set_state(*id, to, now, "missed offers");
            } else {
                self.set_state(*id, AgentState::Ready, now, "ring timeout");
            }
        }
        // Calls that waited too long.
        let over: Vec<CallRef> = self
            .waiting
            .iter()
            .filter(|(_, w)| {
                self.queues
                    .get(&w.queue)
                    .and_then(|q| q.max_wait_ms)
                    .is_some_and(|m| w.arrived_ms + m <= now)
            })
            .map(|(c, _)| *c)
            .collect();
        for call in over {
            let w = self.waiting.get(&call).expect("listed");
            let action = self
                .queues
                .get(&w.queue)
                .map_or(Overflow::Message, |q| q.overflow.clone());
            match &action {
                // Another queue: same call, same arrival, new rules.
                Overflow::Queue(next) if self.queues.contains_key(next) && *next != w.queue => {
                    for agent in w.offered.clone() {
                        self.effects.push_back(Effect::CancelOffer { call, agent });
                        self.set_state(agent, AgentState::Ready, now, "overflowed");
                    }
                    let w = self.waiting.get_mut(&call).expect("listed");
                    w.offered.clear();
                    w.ring_until_ms = None;
                    w.arrived_ms = now;
                    w.relaxed_steps = 0;
                    w.announce_at_ms = self
                        .queues
                        .get(next)
                        .and_then(|q| q.announce_every_ms)
                        .map(|e| now + e);
                    w.queue = next.clone();
                    self.effects.push_back(Effect::Moved {
                        call,
                        queue: next.clone(),
                    });
                }
                _ => {
                    let w = self.waiting.remove(&call).expect("listed");
                    for agent in w.offered {
                        self.effects.push_back(Effect::CancelOffer { call, agent });
                        self.set_state(agent, AgentState::Ready, now, "overflowed");
                    }
                    let action = match action {
                        // A queue that is gone or the same: a message.
                        Overflow::Queue(_) => Overflow::Message,
                        other => other,
                    };
                    self.effects.push_back(Effect::Ended {
                        call,
                        end: CallEnd::Overflowed(action),
                    });
                }
            }
        }
        // Announcements due, in queue order (a caller's position is theirs
        // at this moment).
        let due: Vec<CallRef> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.announce_at_ms.is_some_and(|t| t <= now))
            .map(|(c, _)| *c)
            .collect();
        for call in due {
            // A caller whose call rings at an agent is about to be answered.
            let ringing = self
                .waiting
                .get(&call)
                .is_some_and(|w| !w.offered.is_empty());
            if ringing {
            } else if let Some((position, wait_ms)) = self.estimated_wait(call) {
                self.effects.push_back(Effect::Announce {
                    call,
                    position,
                    wait_ms,
                });
            }
            let w = self.waiting.get_mut(&call).expect("listed");
            let every = self.queues.get(&w.queue).and_then(|q| q.announce_every_ms);
            w.announce_at_ms = every.map(|e| now + e);
        }
        // Relaxation steps passed: the call may now suit more agents.
        for w in self.waiting.values_mut() {
            if let Some(q) = self.queues.get(&w.queue) {
                w.relaxed_steps = q
                    .relax
                    .iter()
                    .filter(|r| w.arrived_ms + r.after_ms <= now)
                    .count();
            }
        }
        let skip: Vec<(CallRef, AgentId)> = missed.iter().map(|&(a, c)| (c, a)).collect();
        self.dispatch_excluding(now, &skip);
    }

    /// Removes `agent` from `call`'s current offers.
    fn withdraw(&mut self, call: CallRef, agent: AgentId) {
        if let Some(w) = self.waiting.get_mut(&call) {
            w.offered.retain(|a| *a != agent);
            if w.offered.is_empty() {
                w.ring_until_ms = None;
            }
        }
    }

    fn dispatch(&mut self, now: i64) {
        self.dispatch_excluding(now, &[]);
    }

    /// Offers waiting calls to free agents, best call first. `skip`:
    /// agents who just let these calls go are not offered them again at
    /// once (unless nobody else can take them).
    fn dispatch_excluding(&mut self, now: i64, skip: &[(CallRef, AgentId)]) {
        let mut order: Vec<(CallRef, u8, i64)> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.offered.is_empty())
            .map(|(c, w)| (*c, w.priority, w.arrived_ms))
            .collect();
        order.sort_by_key(|&(c, p, at)| (std::cmp::Reverse(p), at, c));
        for (call, _, _) in order {
            let w = &self.waiting[&call];
            let Some(q) = self.queues.get(&w.queue) else {
                continue;
            };
            let needed = relaxed(&w.skills, q, now - w.arrived_ms);
            let mut free: Vec<(&AgentId, &Agent)> = self
                .agents
                .iter()
                .filter(|(id, a)| {
                    a.state == AgentState::Ready
                        && match w.only {
                            Some(only) => **id == only,
                            None => {
                                a.queues.contains(&w.queue)
                                    && needed
                                        .iter()
                                        .all(|(s, l)| a.skills.get(s).is_some_and(|have| have >= l))
                            }
                        }
                })
                .collect();
            let others = free
                .iter()
                .filter(|(id, _)| !skip.contains(&(call, **id)))
                .count();
            if others > 0 {
                free.retain(|(id, _)| !skip.contains(&(call, **id)));
            }
            if free.is_empty() {
                continue;
            }
            let chosen: Vec<AgentId> = match q.strategy {
                Strategy::RingAll => free.iter().map(|(id, _)| **id).collect(),
                Strategy::LongestIdle => {
                    vec![*min_by(&free, |a| (a.idle_since_ms, a.login_seq))]
                }
                Strategy::FewestCalls => {
                    vec![*min_by(&free, |a| (a.answered as i64, a.idle_since_ms))]
                }
                Strategy::SkillsBased => {
                    let score = |a: &Agent| -> i64 {
                        needed
                            .keys()
                            .map(|s| i64::from(a.skills.get(s).copied().unwrap_or(0)))
                            .sum()
                    };
                    vec![*min_by(&free, |a| (-score(a), a.idle_since_ms))]
                }
                Strategy::RoundRobin => {
                    let last = self.round_robin.get(&w.queue).copied().unwrap_or(0);
                    // The next login after the last one offered, wrapping.
                    let next = free
                        .iter()
                        .filter(|(_, a)| a.login_seq > last)
                        .min_by_key(|(_, a)| a.login_seq)
                        .or_else(|| free.iter().min_by_key(|(_, a)| a.login_seq))
                        .map(|(id, _)| **id)
                        .expect("free is not empty");
                    vec![next]
                }
            };
            let until_ms = now + q.ring_timeout_ms;
            if q.strategy == Strategy::RoundRobin
                && let Some(a) = self.agents.get(&chosen[0])
            {
                self.round_robin.insert(w.queue.clone(), a.login_seq);
            }
            let w = self.waiting.get_mut(&call).expect("listed");
            w.offered = chosen.clone();
            w.ring_until_ms = Some(until_ms);
            for agent in chosen {
                self.set_state(
                    agent,
                    AgentState::Ringing { call, until_ms },
                    now,
                    "offered",
                );
                self.effects.push_back(Effect::Offer { call, agent });
            }
        }
    }
}

/// The agent minimising `key` (ties by id, from the BTreeMap order).
fn min_by<'a, K: Ord>(free: &[(&'a AgentId, &Agent)], key: impl Fn(&Agent) -> K) -> &'a AgentId {
    free.iter()
        .min_by_key(|(_, a)| key(a))
        .map(|(id, _)| *id)
        .expect("free is not empty")
}

/// The skill levels a call needs after waiting `waited_ms`: lowered by the
/// latest relaxation step passed, never below 1.
fn relaxed(needed: &BTreeMap<String, u8>, q: &QueueConfig, waited_ms: i64) -> BTreeMap<String, u8> {
    let lower = q
        .relax
        .iter()
        .filter(|r| waited_ms >= r.after_ms)
        .map(|r| r.lower_by)
        .max()
        .unwrap_or(0);
    needed
        .iter()
        .map(|(s, l)| (s.clone(), l.saturating_sub(lower).max(1)))
        .collect()
}
