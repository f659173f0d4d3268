//! The agents' side of the engine: the ACD decides, this carries it out.
//! Queued callers come from the IVR; offers ring the agent's registered
//! phone through an [`AgentLeg`]; an answer bridges the caller's RTP and
//! the agent's through the server; the CTI websocket's commands come in as
//! [`Engine::agent_command`] and its events go out as [`Output::Cti`].
//!
//! Invariants (beyond the ACD's own):
//! - A caller has at most one agent leg; an agent leg serves one caller.
//! - Every command gets exactly one answer ([`Event::Ok`] or
//!   [`Event::Error`]), after the events it caused; a refused command
//!   changes nothing.
//! - A caller who leaves (hangs up, or the IVR's queue node gives up) is
//!   taken out of the ACD and their agent leg is ended; a leg that ends
//!   takes its caller with it, except a vanished phone, whose caller goes
//!   back to the front of the queue.

use std::collections::BTreeMap;
use std::time::Instant;

use tracing::{debug, info};

use super::agent_leg::{AgentLeg, LegEvent, MediaState, NewLeg, Target};
use super::browser_leg::BrowserLeg;
use super::call::{AcdPart, sip_host};
use super::legs::Leg;
use super::{CallKey, Engine, Output};
use crate::acd::{AcdError, AgentId, AgentState, CallEnd, Effect, Overflow};
use crate::cti::{AgentView, Command, Event, PROTOCOL, Request, StateView};
use crate::media::webrtc::NegotiationError;
use crate::records::RecordOp;
use crate::sip::registrar::{BindingChange, Step};

/// Priority of a caller put back in a queue (a transfer, a vanished
/// agent): ahead of every caller the IVR queued (0-9).
const FRONT_OF_QUEUE: u8 = 200;
/// Priority of the customer an agent chose to call (preview): nothing
/// goes before it at that agent.
const PREVIEW_PRIORITY: u8 = 255;
/// Longest wrap-up extension one command may ask for.
const MAX_EXTEND_S: u32 = 600;
/// Longest disposition code and notes.
const MAX_DISPOSITION: usize = 40;
const MAX_NOTES: usize = 2000;
/// The refusal of what a consultation in progress does not allow.
fn consulting() -> (&'static str, String) {
    (
        "wrong_state",
        "a consultation is going on: complete or cancel it first".into(),
    )
}

/// Wrong passwords for one username within [`REGISTER_LOCK_MS`] before
/// its REGISTERs are refused unchecked: the web sign-in's rule (the phone's
/// password is the user's password).
const REGISTER_MAX_FAILURES: usize = 5;
const REGISTER_LOCK_MS: i64 = 15 * 60_000;

/// Most keys one `dtmf` command sends.
const MAX_KEYS: usize = 32;

/// Where a caller whose agent is gone waits again.
enum Requeue {
    Queue(String),
    Agent(AgentId),
}

/// Why the API could not pause or resume a call's recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PauseError {
    #[error("no call with this id is in progress")]
    NoSuchCall,
    #[error("the call is not yours")]
    NotYourCall,
    #[error("the call is not being recorded")]
    NotRecorded,
}

/// Who an agent is, from the store, as the CTI connection brings it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    pub id: AgentId,
    pub username: String,
    pub display_name: String,
    /// Empty: every configured queue.
    pub queues: Vec<String>,
    pub skills: BTreeMap<String, u8>,
}

/// An agent the engine knows (since their first CTI connection).
#[derive(Debug)]
pub(super) struct Desk {
    profile: AgentProfile,
    /// The queues the agent is logged in to.
    queues: Vec<String>,
    /// The caller ringing or connected (or consulted about), and the leg
    /// to the agent's phone.
    pub(super) call: Option<CallKey>,
    pub(super) leg: Option<CallKey>,
    /// The call whose after-call work is due, and since when (wall ms).
    wrap: Option<(String, i64)>,
    state_since_ms: i64,
    /// A CTI connection is open.
    online: bool,
    /// That connection's browser is the agent's phone.
    softphone: bool,
}

/// What the wallboard reads of a desk (`super::board`).
impl Desk {
    pub(super) fn profile(&self) -> &AgentProfile {
        &self.profile
    }

    pub(super) fn queues(&self) -> &[String] {
        &self.queues
    }

    pub(super) fn state_since_ms(&self) -> i64 {
        self.state_since_ms
    }

    pub(super) fn online(&self) -> bool {
        self.online
    }
}

/// What rings when a call is offered to an agent.
pub(super) enum Phone {
    /// Their registered SIP phone.
    Sip(Target),
    /// Their softphone page (WebRTC), with what browser legs share.
    Browser(std::sync::Arc<super::browser_leg::BrowserSettings>),
}

impl Engine {
    // ----- configuration -----------------------------------------------------

    /// A reloaded configuration's queues, not-ready reasons and rules.
    /// Calls waiting in a queue that is gone stay until they are answered
    /// or leave; agents keep the queues they logged in to until they log
    /// in again.
    pub fn set_desk_config(
        &mut self,
        now: Instant,
        queues: Vec<crate::acd::QueueConfig>,
        not_ready_reasons: Vec<String>,
        rules: crate::acd::Rules,
    ) {
        self.acd.set_queues(queues.clone());
        self.cfg.queues = queues;
        self.cfg.not_ready_reasons = not_ready_reasons;
        self.cfg.rules = rules;
        self.drain_acd(now);
    }

    /// The queues the IVR's current flows send callers to.
    pub fn ivr_queues(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .catalog
            .flows
            .flows
            .values()
            .flat_map(|f| f.nodes.iter())
            .filter_map(|n| match &n.kind {
                crate::ivr::flow::NodeKind::Queue(q) => Some(q.queue.clone()),
                _ => None,
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    // ----- the CTI connection ----------------------------------------------

    /// An agent's websocket opened: log them in (not ready) the first
    /// time, and send them where they stand.
    pub fn agent_connected(&mut self, now: Instant, profile: AgentProfile) {
        let wall = self.wall_ms(now);
        let id = profile.id;
        let queues: Vec<String> = if profile.queues.is_empty() {
            self.cfg.queues.iter().map(|q| q.name.clone()).collect()
        } else {
            profile
                .queues
                .iter()
                .filter(|q| self.cfg.queues.iter().any(|c| &c.name == *q))
                .cloned()
                .collect()
        };
        let desk = self.desks.entry(id).or_insert_with(|| Desk {
            profile: profile.clone(),
            queues: queues.clone(),
            call: None,
            leg: None,
            wrap: None,
            state_since_ms: wall,
            online: true,
            softphone: false,
        });
        desk.online = true;
        desk.profile = profile.clone();
        let logged_out = self
            .acd
            .agent_state(id)
            .is_none_or(|s| *s == AgentState::LoggedOut);
        if logged_out {
            desk.queues = queues.clone();
            if let Err(e) = self
                .acd
                .login(id, queues, profile.skills.clone(), false, wall)
            {
                debug!(agent = id, error = %e, "login refused");
            }
        }
        self.update_away(now, id);
        self.hello(id);
        self.drain_acd(now);
    }

    /// Tells the ACD whether the agent can take calls at all: a screen
    /// open and a phone registered. (Going ready stays their own move.)
    fn update_away(&mut self, now: Instant, agent: AgentId) {
        let wall = self.wall_ms(now);
        let online = self.desks.get(&agent).is_some_and(|d| d.online);
        let away = if !online {
            Some(("disconnected", "screen closed"))
        } else if self.phone_of(agent, now).is_none() {
            Some(("no_phone", "no phone registered"))
        } else {
            None
        };
        self.acd.set_away(agent, away, wall);
    }

    /// The agent's websocket closed. A ready agent without a screen must
    /// not be offered calls, so they become not ready; a call in progress
    /// goes on (the phone carries it) and a reconnect gets it back.
    pub fn agent_disconnected(&mut self, now: Instant, agent: AgentId) {
        let mut leg = None;
        if let Some(d) = self.desks.get_mut(&agent) {
            d.online = false;
            // The page was the phone; a call it carries waits for the page
            // to come back (see BrowserLeg).
            d.softphone = false;
            leg = d.leg;
        }
        if let Some(l) = leg
            && let Some(b) = self.legs.get_mut(&l).and_then(Leg::browser)
        {
            b.page_gone(now);
            self.drive_leg(now, l);
        }
        self.update_away(now, agent);
        self.drain_acd(now);
    }

    fn hello(&mut self, agent: AgentId) {
        let Some(desk) = self.desks.get(&agent) else {
            return;
        };
        let call = desk
            .call
            .and_then(|c| self.calls.get(&c))
            .map(super::call::Call::view);
        let event = Event::Hello {
            protocol: PROTOCOL,
            agent: AgentView {
                id: agent,
                username: desk.profile.username.clone(),
                display_name: desk.profile.display_name.clone(),
                queues: desk.queues.clone(),
            },
            state: self.state_view(agent),
            call,
            pop: None,
            not_ready_reasons: self.cfg.not_ready_reasons.clone(),
            queues: self.cfg.queues.iter().map(|q| q.name.clone()).collect(),
            softphone: self.cfg.webrtc.as_ref().map(|w| crate::cti::SoftphoneView {
                ice_servers: w.ice_servers.clone(),
                reattach_secs: w.reattach.as_secs(),
            }),
        };
        self.cti(agent, event);
    }

    fn state_view(&self, agent: AgentId) -> StateView {
        let state = self
            .acd
            .agent_state(agent)
            .cloned()
            .unwrap_or(AgentState::LoggedOut);
        self.view_of(agent, &state)
    }

    /// How `state` of `agent` shows on their screen.
    fn view_of(&self, agent: AgentId, state: &AgentState) -> StateView {
        let since_ms = self.desks.get(&agent).map_or(0, |d| d.state_since_ms);
        let call_id = |c| self.calls.get(&c).map(|c| c.id.clone());
        let (reason, until_ms, call) = match state {
            AgentState::NotReady { reason } => (Some(reason.clone()), None, None),
            AgentState::Ringing { call, until_ms } => (None, Some(*until_ms), call_id(*call)),
            AgentState::OnCall { call }
            | AgentState::OnHold { call }
            | AgentState::Consulted { call, .. } => (None, None, call_id(*call)),
            AgentState::WrapUp { until_ms } => (
                None,
                Some(*until_ms),
                self.desks
                    .get(&agent)
                    .and_then(|d| d.wrap.as_ref())
                    .map(|(id, _)| id.clone()),
            ),
            AgentState::Ready | AgentState::LoggedOut => (None, None, None),
        };
        StateView {
            name: state.name(),
            reason,
            since_ms,
            until_ms,
            call,
        }
    }

    pub(super) fn cti(&mut self, agent: AgentId, event: Event) {
        self.outputs.push_back(Output::Cti {
            agent,
            event: Box::new(event),
        });
    }

    /// A command from the agent's websocket; answered with `Ok` or `Error`.
    pub fn agent_command(&mut self, now: Instant, agent: AgentId, req: Request) {
        let id = req.id.clone();
        let answer = match self.run_command(now, agent, req.command) {
            Ok(()) => Event::Ok { id },
            Err((code, message)) => Event::error(id, code, message),
        };
        self.drain_acd(now);
        self.cti(agent, answer);
    }

    fn run_command(
        &mut self,
        now: Instant,
        agent: AgentId,
        command: Command,
    ) -> Result<(), (&'static str, String)> {
        let wall = self.wall_ms(now);
        if !self.desks.contains_key(&agent) {
            return Err(("wrong_state", "not connected".into()));
        }
        match command {
            Command::Ready => {
                if let Some(call) = self.monitoring(agent) {
                    let id = self.calls.get(&call).map(|c| c.id.clone());
                    return Err((
                        "wrong_state",
                        format!(
                            "you are in call {} as its supervisor: leave it first",
                            id.unwrap_or_default()
                        ),
                    ));
                }
                if matches!(self.acd.agent_state(agent), Some(AgentState::WrapUp { .. })) {
                    return Err((
                        "wrong_state",
                        "end the wrap-up first (end_wrap_up with a disposition)".into(),
                    ));
                }
                if self.phone_of(agent, now).is_none() {
                    return Err((
                        "no_phone",
                        "no phone is registered for you: register your SIP phone first".into(),
                    ));
                }
                if self.acd.agent_state(agent) == Some(&AgentState::LoggedOut) {
                    let (queues, skills) = self
                        .desks
                        .get(&agent)
                        .map(|d| (d.queues.clone(), d.profile.skills.clone()))
                        .unwrap_or_default();
                    self.acd
                        .login(agent, queues, skills, true, wall)
                        .map_err(acd_error)?;
                    return Ok(());
                }
                self.acd.set_ready(agent, wall).map_err(acd_error)
            }
            Command::NotReady { reason } => {
                if !self.cfg.not_ready_reasons.contains(&reason) {
                    return Err((
                        "unknown_reason",
                        format!(
                            "{reason:?} is not a reason code; use one of: {}",
                            self.cfg.not_ready_reasons.join(", ")
                        ),
                    ));
                }
                if matches!(self.acd.agent_state(agent), Some(AgentState::WrapUp { .. })) {
                    return Err((
                        "wrong_state",
                        "end the wrap-up first (end_wrap_up with a disposition)".into(),
                    ));
                }
                self.acd
                    .set_not_ready(agent, &reason, wall)
                    .map_err(acd_error)
            }
            Command::Logout => self.acd.logout(agent, wall).map_err(acd_error),
            Command::Reject { call } => {
                let key = self.own_call(agent, &call)?;
                if !matches!(
                    self.acd.agent_state(agent),
                    Some(AgentState::Ringing { .. })
                ) {
                    return Err((
                        "wrong_state",
                        "the call is not ringing: hang up instead".into(),
                    ));
                }
                self.acd.reject(agent, key, wall).map_err(acd_error)
            }
            Command::HangUp { call } => {
                let key = self.own_call(agent, &call)?;
                match self.acd.agent_state(agent) {
                    Some(AgentState::OnCall { .. } | AgentState::OnHold { .. }) => {}
                    Some(AgentState::Ringing { .. }) => {
                        return self.acd.reject(agent, key, wall).map_err(acd_error);
                    }
                    // A consulted agent on the page has no handset to put
                    // down: this ends the consultation as hanging up would.
                    Some(AgentState::Consulted { .. })
                        if self.consult_of(key).is_some_and(|(to, l, _)| {
                            to == agent && self.legs.get(&l).is_some_and(Leg::is_browser)
                        }) =>
                    {
                        self.end_consult(now, key, "agent-bye");
                        return Ok(());
                    }
                    _ => return Err(("wrong_state", "no call is connected".into())),
                }
                self.end_agent_call(now, key, "agent-hangup");
                if let Some(c) = self.calls.get_mut(&key) {
                    c.hangup(now, "agent-hangup");
                }
                self.drive_call(now, key);
                Ok(())
            }
            Command::Hold { call } => self.hold(now, agent, &call, true),
            Command::Resume { call } => self.hold(now, agent, &call, false),
            Command::PauseRecording { call } => self.pause_recording(now, agent, &call, true),
            Command::ResumeRecording { call } => self.pause_recording(now, agent, &call, false),
            Command::Transfer {
                call,
                queue,
                agent: to,
                number,
            } => {
                let key = self.own_call(agent, &call)?;
                if !matches!(
                    self.acd.agent_state(agent),
                    Some(AgentState::OnCall { .. } | AgentState::OnHold { .. })
                ) {
                    return Err(("wrong_state", "no call is connected".into()));
                }
                if self.consult_of(key).is_some() {
                    return Err(consulting());
                }
                let target = match (queue, to, number) {
                    (None, None, Some(number)) => {
                        let allowed = self
                            .calls
                            .get(&key)
                            .is_some_and(|c| c.may_transfer_to(&number));
                        if !allowed {
                            return Err((
                                "unknown_number",
                                format!("{number} is not a number calls may be transferred to"),
                            ));
                        }
                        if let Some(p) = self.calls.get_mut(&key).and_then(|c| c.acd.as_mut()) {
                            p.transfers += 1;
                        }
                        self.end_agent_call(now, key, "transferred");
                        if let Some(c) = self.calls.get_mut(&key) {
                            let _ = c.transfer_out(now, &number);
                        }
                        self.drive_call(now, key);
                        return Ok(());
                    }
                    (Some(q), None, None) => {
                        if !self.cfg.queues.iter().any(|c| c.name == q) {
                            return Err(("unknown_queue", format!("no queue named {q:?}")));
                        }
                        Requeue::Queue(q)
                    }
                    (None, Some(to), None) => {
                        let signed_in = self
                            .acd
                            .agent_state(to)
                            .is_some_and(|s| *s != AgentState::LoggedOut);
                        if to == agent || !signed_in {
                            return Err((
                                "unknown_agent",
                                format!("agent {to} is not signed in to take calls"),
                            ));
                        }
                        Requeue::Agent(to)
                    }
                    _ => {
                        return Err((
                            "bad_command",
                            "a transfer names one of a queue, an agent or a number".into(),
                        ));
                    }
                };
                // Counted before the agent's part closes, so the totals
                // written then include it.
                if let Some(p) = self.calls.get_mut(&key).and_then(|c| c.acd.as_mut()) {
                    p.transfers += 1;
                }
                self.end_agent_call(now, key, "transferred");
                self.requeue(now, key, target, "transfer");
                Ok(())
            }
            Command::Consult { call, agent: to } => self.consult(now, agent, &call, to),
            Command::CompleteTransfer { call } => self.complete_transfer(now, agent, &call),
            Command::CancelTransfer { call } => self.cancel_transfer(now, agent, &call),
            Command::Dtmf { call, digits } => {
                let key = self.own_call(agent, &call)?;
                if self.acd.agent_state(agent) != Some(&AgentState::OnCall { call: key }) {
                    return Err(("wrong_state", "keys go to a connected call".into()));
                }
                if digits.is_empty() || digits.chars().count() > MAX_KEYS {
                    return Err((
                        "bad_command",
                        format!("digits must be 1 to {MAX_KEYS} keys"),
                    ));
                }
                let sent = self.calls.get_mut(&key).map(|c| c.send_keys(now, &digits));
                self.drive_call(now, key);
                match sent {
                    Some(Ok(())) => Ok(()),
                    Some(Err(k)) if "0123456789*#ABCD".contains(k) => Err((
                        "bad_command",
                        "the caller's line takes no RFC 4733 key presses".into(),
                    )),
                    Some(Err(k)) => Err(("bad_command", format!("{k:?} is not a key"))),
                    None => Err(("no_such_call", "the call is over".into())),
                }
            }
            Command::EndWrapUp { disposition, notes } => {
                let code_ok = !disposition.is_empty()
                    && disposition.len() <= MAX_DISPOSITION
                    && disposition
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
                if !code_ok {
                    return Err((
                        "bad_command",
                        format!("disposition must be 1-{MAX_DISPOSITION} letters, digits, - or _"),
                    ));
                }
                if notes.chars().count() > MAX_NOTES {
                    return Err((
                        "bad_command",
                        format!("notes are limited to {MAX_NOTES} characters"),
                    ));
                }
                if !matches!(self.acd.agent_state(agent), Some(AgentState::WrapUp { .. })) {
                    return Err(("wrong_state", "not in wrap-up".into()));
                }
                self.finish_wrap_up(agent, wall, Some(disposition), notes);
                // Without a phone (or screen) the ACD pauses them instead.
                self.acd.set_ready(agent, wall).map_err(acd_error)
            }
            Command::Softphone => {
                if self.browser.is_none() {
                    return Err((
                        "no_softphone",
                        "this server has no browser audio: use a SIP phone".into(),
                    ));
                }
                if let Some(d) = self.desks.get_mut(&agent) {
                    d.softphone = true;
                }
                self.update_away(now, agent);
                Ok(())
            }
            Command::Answer { call } => {
                let key = self.own_call(agent, &call)?;
                let ringing = match self.acd.agent_state(agent) {
                    Some(AgentState::Ringing { .. }) => true,
                    // A consultation rings the consulted agent's page too.
                    Some(AgentState::Consulted { .. }) => self
                        .consult_of(key)
                        .is_some_and(|(to, _, answered)| to == agent && !answered),
                    _ => false,
                };
                if !ringing {
                    return Err(("wrong_state", "the call is not ringing".into()));
                }
                let leg = self.desks.get(&agent).and_then(|d| d.leg);
                let Some(l) = leg
                    .and_then(|l| self.legs.get_mut(&l))
                    .and_then(Leg::browser)
                else {
                    return Err((
                        "wrong_state",
                        "the call rings your SIP phone: lift its handset".into(),
                    ));
                };
                l.answer(now);
                if let Some(l) = leg {
                    self.drive_leg(now, l);
                }
                Ok(())
            }
            Command::MediaOffer { call, sdp } => {
                let answer = self.on_page_leg(now, agent, &call, |l| l.media_offer(now, &sdp))?;
                self.cti(agent, Event::MediaAnswer { call, sdp: answer });
                Ok(())
            }
            Command::IceCandidate { call, candidate } => {
                self.on_page_leg(now, agent, &call, |l| l.add_candidate(now, &candidate))
            }
            Command::ExtendWrapUp { seconds } => {
                if !(1..=MAX_EXTEND_S).contains(&seconds) {
                    return Err((
                        "bad_command",
                        format!("seconds must be 1 to {MAX_EXTEND_S}"),
                    ));
                }
                self.acd
                    .extend_wrap_up(agent, i64::from(seconds) * 1000, wall)
                    .map_err(acd_error)
            }
        }
    }

    /// The caller `call` (our call id) if it is the one ringing at or
    /// connected to `agent`.
    pub(super) fn own_call(
        &self,
        agent: AgentId,
        call: &str,
    ) -> Result<CallKey, (&'static str, String)> {
        let mine = self.desks.get(&agent).and_then(|d| d.call);
        match mine.and_then(|k| self.calls.get(&k).map(|c| (k, c))) {
            Some((k, c)) if c.id == call => Ok(k),
            _ if self.calls.values().any(|c| c.id == call) => {
                Err(("not_your_call", format!("call {call} is not yours")))
            }
            _ => Err(("no_such_call", format!("no call {call} is in progress"))),
        }
    }

    /// Does `what` to the browser leg of `call`, ringing at or connected
    /// to `agent` (the page's media), then carries out what it asked for.
    fn on_page_leg<T>(
        &mut self,
        now: Instant,
        agent: AgentId,
        call: &str,
        what: impl FnOnce(&mut BrowserLeg) -> Result<T, NegotiationError>,
    ) -> Result<T, (&'static str, String)> {
        self.own_call(agent, call)?;
        let Some((key, leg)) = self
            .desks
            .get(&agent)
            .and_then(|d| d.leg)
            .and_then(|k| Some((k, self.legs.get_mut(&k)?.browser()?)))
        else {
            return Err((
                "wrong_state",
                "the call rings a SIP phone, not this page (send softphone before the call is offered)".into(),
            ));
        };
        let done = match what(leg) {
            Ok(done) => Ok(done),
            Err(e) => Err(("bad_media", e.to_string())),
        };
        self.drive_leg(now, key);
        done
    }

    /// The API pauses or resumes a live call's recording for `by` (a
    /// supervisor, or with `agent` set only that agent's own call).
    pub fn pause_recording_for(
        &mut self,
        now: Instant,
        call_id: &str,
        paused: bool,
        by: &str,
        agent: Option<AgentId>,
    ) -> Result<(), PauseError> {
        let (key, on_call) = self
            .calls
            .iter()
            .find(|(_, c)| c.id == call_id && !c.is_over())
            .map(|(k, c)| (*k, c.acd.as_ref().and_then(|a| a.agent)))
            .ok_or(PauseError::NoSuchCall)?;
        if agent.is_some_and(|a| on_call != Some(a)) {
            return Err(PauseError::NotYourCall);
        }
        self.set_recording_paused(now, key, paused, by)
            .map_err(|_| PauseError::NotRecorded)
    }

    /// An agent pauses or resumes their call's recording.
    fn pause_recording(
        &mut self,
        now: Instant,
        agent: AgentId,
        call: &str,
        paused: bool,
    ) -> Result<(), (&'static str, String)> {
        let key = self.own_call(agent, call)?;
        if !matches!(
            self.acd.agent_state(agent),
            Some(AgentState::OnCall { .. } | AgentState::OnHold { .. })
        ) {
            return Err(("wrong_state", "no call is connected".into()));
        }
        match self.set_recording_paused(now, key, paused, &format!("agent {agent}")) {
            Ok(()) => Ok(()),
            Err(_) => Err(("not_recorded", format!("call {call} is not being recorded"))),
        }
    }

    /// Pauses or resumes a call's recording; the agent on the call hears
    /// of it (`by` says who: it may be a supervisor).
    pub(super) fn set_recording_paused(
        &mut self,
        now: Instant,
        key: CallKey,
        paused: bool,
        by: &str,
    ) -> Result<(), super::call::RecordingError> {
        let c = self
            .calls
            .get_mut(&key)
            .ok_or(super::call::RecordingError::NotRecorded)?;
        c.pause_recording(now, paused, by)?;
        let (id, agent) = (c.id.clone(), c.acd.as_ref().and_then(|a| a.agent));
        if let Some(agent) = agent {
            self.cti(
                agent,
                Event::Recording {
                    call: id,
                    paused,
                    by: by.to_owned(),
                },
            );
        }
        self.drive_call(now, key);
        Ok(())
    }

    pub(super) fn hold(
        &mut self,
        now: Instant,
        agent: AgentId,
        call: &str,
        on: bool,
    ) -> Result<(), (&'static str, String)> {
        let key = self.own_call(agent, call)?;
        let wall = self.wall_ms(now);
        if !on && self.consult_of(key).is_some() {
            return Err(consulting());
        }
        self.acd.hold(agent, on, wall).map_err(acd_error)?;
        let leg = self.desks.get(&agent).and_then(|d| d.leg);
        // A page whose audio is gone leaves the caller with music.
        let lost = leg
            .and_then(|l| self.legs.get(&l))
            .is_some_and(Leg::audio_lost);
        if let Some(c) = self.calls.get_mut(&key) {
            c.set_music(now, on || lost);
            c.event(now, if on { "agent-hold" } else { "agent-resume" }, "");
            // The clock runs for talk or for hold, never both.
            if let Some(part) = c.acd.as_mut() {
                if on {
                    if let Some(since) = part.talk_since.take() {
                        part.talk_ms += wall - since;
                    }
                    part.hold_since = Some(wall);
                } else if let Some(since) = part.hold_since.take() {
                    part.hold_ms += wall - since;
                    part.talk_since = Some(wall);
                }
            }
        }
        if let Some(l) = leg.and_then(|l| self.legs.get_mut(&l)) {
            l.set_muted(on);
        }
        let call = call.to_owned();
        self.cti(
            agent,
            if on {
                Event::Held { call }
            } else {
                Event::Resumed { call }
            },
        );
        self.drive_call(now, key);
        Ok(())
    }

    // ----- callers ---------------------------------------------------------

    /// The store's answer to [`Output::Standing`]; a caller already
    /// waiting moves up.
    pub fn standing_done(&mut self, now: Instant, call: CallKey, vip: bool, open_complaint: bool) {
        let rules = self.cfg.rules;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let from_vip = if vip { rules.vip_priority } else { 0 };
        let from_complaint = if open_complaint {
            rules.complaint_priority
        } else {
            0
        };
        let standing = from_vip.max(from_complaint);
        c.standing = Some(standing);
        if standing > 0 {
            let why = if vip { "vip" } else { "open complaint" };
            c.event(now, "priority", &format!("{standing} ({why})"));
            let wall = self.wall_ms(now);
            self.acd.raise_priority(call, standing, wall);
            self.drain_acd(now);
        }
        self.drive_call(now, call);
    }

    /// The IVR queued the caller (`only`: for that agent alone).
    pub(super) fn enqueue(
        &mut self,
        now: Instant,
        key: CallKey,
        queue: &str,
        priority: u8,
        skills: &[String],
        only: Option<AgentId>,
    ) {
        let wall = self.wall_ms(now);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        // A VIP or a customer with an open complaint goes ahead.
        let priority = priority.max(c.standing.unwrap_or(0));
        c.acd = Some(AcdPart {
            queue: queue.to_owned(),
            queued_ms: wall,
            leg: None,
            agent: None,
            talk_since: None,
            hold_since: None,
            talk_ms: 0,
            hold_ms: 0,
            transfers: 0,
            released: false,
            parked: false,
            consult: None,
            monitor: None,
        });
        c.record(RecordOp::Queued {
            call_id: c.id.clone(),
            queue: queue.to_owned(),
            at: wall,
        });
        let joined = match only {
            Some(agent) => self.acd.enqueue_for(key, queue, agent, priority, wall),
            None => self.acd.enqueue(key, queue, priority, skills, wall),
        };
        if let Err(e) = joined {
            // The flow check refuses unknown queues at load; a reload that
            // dropped one leaves the caller with the queue node's way out.
            let id = self
                .calls
                .get(&key)
                .map(|c| c.id.clone())
                .unwrap_or_default();
            info!(call = %id, error = %e, "cannot queue the caller");
            if let Some(c) = self.calls.get_mut(&key) {
                c.acd = None;
                c.leave_queue(now, &e.to_string());
            }
        }
        self.drain_acd(now);
    }

    /// An answered outbound call (progressive, callbacks) waits for the
    /// first agent of `queue`, ahead of every caller the IVR queued, with
    /// music: the dialer dialled because an agent was ready.
    /// A preview call (`agent`: the agent who chose to dial it) waits for
    /// that agent alone, ahead of anything else offered to them, and the
    /// agent is made ready for it.
    pub(super) fn wait_for_agent(
        &mut self,
        now: Instant,
        key: CallKey,
        queue: &str,
        agent: Option<AgentId>,
    ) {
        let priority = if agent.is_some() {
            PREVIEW_PRIORITY
        } else {
            FRONT_OF_QUEUE
        };
        self.enqueue(now, key, queue, priority, &[], agent);
        if let Some(c) = self.calls.get_mut(&key)
            && let Some(part) = c.acd.as_mut()
        {
            part.parked = true;
            c.set_music(now, true);
            c.event(now, "waiting-for-agent", queue);
        }
        if let Some(agent) = agent {
            // Queued first, then ready: the dispatch that follows offers
            // this call, the agent's highest, and nothing else.
            let wall = self.wall_ms(now);
            if matches!(
                self.acd.agent_state(agent),
                Some(AgentState::NotReady { .. })
            ) {
                let _ = self.acd.set_ready(agent, wall);
            }
            self.drain_acd(now);
        }
    }

    /// How many more outbound calls the dialer may place for `queue` now:
    /// its ready agents, less the calls waiting in it and the outbound
    /// calls already promised one (dialling, or answered and waiting).
    pub fn agent_room(&self, queue: &str) -> u32 {
        let (ready, waiting) = self.acd.room_in(queue);
        let promised = self
            .calls
            .values()
            .filter(|c| c.wants_agent_of() == Some(queue) && c.acd.is_none())
            .count();
        u32::try_from(ready.saturating_sub(waiting + promised)).unwrap_or(0)
    }

    /// Puts a caller whose agent is gone back in a queue at the front, or
    /// waiting for one agent.
    fn requeue(&mut self, now: Instant, key: CallKey, to: Requeue, why: &str) {
        let wall = self.wall_ms(now);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        if c.is_over() {
            return;
        }
        let Some(part) = c.acd.as_mut() else { return };
        let queue = match &to {
            Requeue::Queue(q) => q.clone(),
            Requeue::Agent(_) => part.queue.clone(),
        };
        part.queue = queue.clone();
        part.queued_ms = wall;
        part.released = false;
        part.parked = true;
        let detail = match &to {
            Requeue::Queue(q) => format!("{q} ({why})"),
            Requeue::Agent(a) => format!("agent {a} in {queue} ({why})"),
        };
        c.set_music(now, true);
        c.event(now, "requeued", &detail);
        c.record(RecordOp::Queued {
            call_id: c.id.clone(),
            queue: queue.clone(),
            at: wall,
        });
        let joined = match to {
            Requeue::Queue(q) => self.acd.enqueue(key, &q, FRONT_OF_QUEUE, &[], wall),
            Requeue::Agent(a) => self.acd.enqueue_for(key, &queue, a, FRONT_OF_QUEUE, wall),
        };
        if let Err(e) = joined {
            let id = self
                .calls
                .get(&key)
                .map(|c| c.id.clone())
                .unwrap_or_default();
            info!(call = %id, error = %e, "cannot queue the caller again");
            if let Some(c) = self.calls.get_mut(&key) {
                c.hangup(now, "requeue-failed");
            }
        }
        self.drain_acd(now);
        self.drive_call(now, key);
    }

    /// The carrier could not connect the caller to the outside number the
    /// agent chose: back to the front of their queue.
    pub(super) fn agent_transfer_failed(&mut self, now: Instant, key: CallKey, why: &str) {
        let queue = self
            .calls
            .get(&key)
            .and_then(|c| c.acd.as_ref())
            .map(|p| p.queue.clone());
        match queue {
            Some(q) => self.requeue(now, key, Requeue::Queue(q), why),
            None => debug!(key, why, "transfer failed for a call outside the ACD"),
        }
    }

    /// After a call's actions ran: a caller who left the queue node or hung
    /// up is taken out of the ACD, and their agent leg is ended.
    pub(super) fn check_caller(&mut self, now: Instant, key: CallKey) {
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        let Some(part) = c.acd.as_ref() else { return };
        let waiting = !part.released && part.agent.is_none();
        let wall = self.wall_ms(now);
        if c.is_over() {
            let (leg, talking) = (part.leg, part.agent.is_some());
            self.end_consult(now, key, "the call ended");
            if talking {
                self.close_talk(now, key, "caller-bye");
            } else if waiting {
                // Abandoned in the queue or while ringing.
                let _ = self.acd.hang_up(key, wall);
            }
            if let Some(c) = self.calls.get_mut(&key) {
                c.acd = None;
            }
            if let Some(l) = leg {
                if let Some(leg) = self.legs.get_mut(&l) {
                    leg.hang_up("caller-bye");
                }
                self.drive_leg(now, l);
            }
            self.drain_acd(now);
        } else if waiting && !part.parked && !c.is_queued() {
            // The queue node let the caller go (its own maximum wait).
            let _ = self.acd.leave(key, wall);
            if let Some(c) = self.calls.get_mut(&key)
                && let Some(p) = c.acd.as_mut()
            {
                p.released = true;
            }
            self.drain_acd(now);
        }
    }

    /// The agent part of a connected call is over (either side): the
    /// agent goes to wrap-up, the totals are recorded, the agent hears
    /// the end.
    fn close_talk(&mut self, now: Instant, key: CallKey, cause: &str) {
        if self.settle_agent(now, key, cause).is_some() {
            let wall = self.wall_ms(now);
            let _ = self.acd.hang_up(key, wall);
        }
    }

    /// The call's agent is done with it: totals recorded, wrap-up noted,
    /// the agent's screen told; the ACD is left to the caller of this.
    pub(super) fn settle_agent(
        &mut self,
        now: Instant,
        key: CallKey,
        cause: &str,
    ) -> Option<AgentId> {
        // A supervisor in the call leaves with the agent.
        self.end_monitor(now, key, "the agent's part of the call is over");
        let wall = self.wall_ms(now);
        let c = self.calls.get_mut(&key)?;
        let part = c.acd.as_mut()?;
        let agent = part.agent.take()?;
        if let Some(since) = part.talk_since.take() {
            part.talk_ms += wall - since;
        }
        if let Some(since) = part.hold_since.take() {
            part.hold_ms += wall - since;
        }
        part.leg = None;
        let op = RecordOp::Handled {
            call_id: c.id.clone(),
            talk_ms: part.talk_ms,
            hold_ms: part.hold_ms,
            transfers: part.transfers,
        };
        let call_id = c.id.clone();
        c.record(op);
        c.event(now, "agent-end", &format!("agent {agent}: {cause}"));
        if let Some(d) = self.desks.get_mut(&agent) {
            d.call = None;
            d.leg = None;
            d.wrap = Some((call_id.clone(), wall));
        }
        self.cti(
            agent,
            Event::Ended {
                call: call_id,
                cause: cause.to_owned(),
            },
        );
        Some(agent)
    }

    /// Ends the agent's side of `key` (a hang-up from the page, a
    /// transfer): the leg gets a BYE, the agent goes to wrap-up.
    fn end_agent_call(&mut self, now: Instant, key: CallKey, cause: &'static str) {
        let leg = self.calls.get(&key).and_then(|c| c.acd.as_ref()?.leg);
        self.close_talk(now, key, cause);
        if let Some(l) = leg {
            if let Some(leg) = self.legs.get_mut(&l) {
                leg.hang_up(cause);
            }
            self.drive_leg(now, l);
        }
    }

    fn finish_wrap_up(
        &mut self,
        agent: AgentId,
        wall: i64,
        disposition: Option<String>,
        notes: String,
    ) {
        let Some((call_id, since)) = self.desks.get_mut(&agent).and_then(|d| d.wrap.take()) else {
            return;
        };
        self.outputs.push_back(Output::Record(RecordOp::WrapUp {
            call_id,
            agent_id: agent,
            wrap_up_ms: wall - since,
            disposition,
            notes,
        }));
    }

    // ----- the ACD's decisions ---------------------------------------------

    /// Carries out what the ACD decided.
    pub(super) fn drain_acd(&mut self, now: Instant) {
        while let Some(effect) = self.acd.poll_effect() {
            match effect {
                Effect::Offer { call, agent } => self.offer(now, call, agent),
                Effect::CancelOffer { call, agent } => {
                    let leg = self
                        .desks
                        .get_mut(&agent)
                        .filter(|d| d.call == Some(call))
                        .and_then(|d| {
                            d.call = None;
                            d.leg.take()
                        });
                    if let Some(c) = self.calls.get_mut(&call)
                        && let Some(p) = c.acd.as_mut()
                        && p.leg == leg
                    {
                        p.leg = None;
                    }
                    if let Some(l) = leg {
                        if let Some(leg) = self.legs.get_mut(&l) {
                            leg.cancel();
                        }
                        self.drive_leg(now, l);
                    }
                }
                Effect::Connect { call, agent } => self.connect(now, call, agent),
                Effect::Moved { call, queue } => {
                    let wall = self.wall_ms(now);
                    if let Some(c) = self.calls.get_mut(&call) {
                        if let Some(p) = c.acd.as_mut() {
                            p.queue = queue.clone();
                            p.queued_ms = wall;
                        }
                        c.event(now, "queue-overflow", &format!("on to {queue}"));
                        c.record(RecordOp::Queued {
                            call_id: c.id.clone(),
                            queue,
                            at: wall,
                        });
                    }
                    self.drive_call(now, call);
                }
                Effect::Announce {
                    call,
                    position,
                    wait_ms,
                } => {
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.announce(now, position, wait_ms);
                    }
                    self.drive_call(now, call);
                }
                Effect::Ended { call, end } => {
                    if let CallEnd::Overflowed(action) = end {
                        if let Some(c) = self.calls.get_mut(&call) {
                            if let Some(p) = c.acd.as_mut() {
                                p.released = true;
                            }
                            match action {
                                Overflow::Hangup => c.farewell(now),
                                // A message, or a callback (its campaign is
                                // the outbound issue's): the queue node's
                                // way out, usually leaving a message.
                                other => c.leave_queue(now, &format!("queue overflow ({other:?})")),
                            }
                        }
                        self.drive_call(now, call);
                    }
                }
                Effect::AgentState {
                    agent,
                    from,
                    to,
                    at_ms,
                    why,
                } => {
                    if matches!(from, AgentState::WrapUp { .. })
                        && !matches!(to, AgentState::WrapUp { .. })
                    {
                        // Wrap-up ended by its timer (or a logout): no
                        // disposition was given.
                        self.finish_wrap_up(agent, at_ms, None, String::new());
                    }
                    if let Some(d) = self.desks.get_mut(&agent) {
                        d.state_since_ms = at_ms;
                    }
                    // The ring stopped without an answer: the screen hears
                    // why before the state that follows.
                    if let AgentState::Ringing { call, .. } = from
                        && !matches!(to, AgentState::OnCall { .. })
                        && let Some(c) = self.calls.get(&call)
                    {
                        let call = c.id.clone();
                        self.cti(
                            agent,
                            Event::OfferCancelled {
                                call,
                                why: why.to_owned(),
                            },
                        );
                    }
                    self.state_seq += 1;
                    let reason = match &to {
                        AgentState::NotReady { reason } => Some(reason.clone()),
                        _ => None,
                    };
                    self.outputs.push_back(Output::Record(RecordOp::AgentState {
                        id: format!("{at_ms:012x}-{agent}-{}", self.state_seq),
                        agent_id: agent,
                        from: from.name().to_owned(),
                        to: to.name().to_owned(),
                        reason,
                        why: why.to_owned(),
                        at: at_ms,
                    }));
                    // The change's own result: by the time this is read the
                    // agent may have moved on (an offer in the same step).
                    let state = self.view_of(agent, &to);
                    self.cti(
                        agent,
                        Event::State {
                            state,
                            previous: from.name(),
                            why: why.to_owned(),
                        },
                    );
                }
            }
        }
        self.schedule_desk();
    }

    /// Rings the agent's phone with the caller.
    fn offer(&mut self, now: Instant, call: CallKey, agent: AgentId) {
        let wall = self.wall_ms(now);
        let Some(phone) = self.phone_of(agent, now) else {
            // No phone to ring (its registration ran out just now): this
            // agent takes no calls until one registers, and the offer goes
            // to the next agent.
            self.update_away(now, agent);
            let _ = self.acd.reject(agent, call, wall);
            return;
        };
        let Some(view) = self.calls.get(&call).map(super::call::Call::view) else {
            return;
        };
        let key = self.ring(agent, call, phone, &view.caller, None);
        if let Some(c) = self.calls.get_mut(&call) {
            if let Some(p) = c.acd.as_mut() {
                p.leg = Some(key);
            }
            c.event(now, "offered", &format!("agent {agent}"));
        }
        if let Some(d) = self.desks.get_mut(&agent) {
            d.call = Some(call);
            d.leg = Some(key);
        }
        self.outputs.push_back(Output::Offer { agent, call: view });
        self.drive_leg(now, key);
    }

    /// The agent answered and the ACD gave them the call: bridge.
    fn connect(&mut self, now: Instant, call: CallKey, agent: AgentId) {
        let wall = self.wall_ms(now);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.connect_agent(now);
        let Some(p) = c.acd.as_mut() else { return };
        p.agent = Some(agent);
        p.released = true;
        p.talk_since = Some(wall);
        let wait_ms = wall - p.queued_ms;
        let id = c.id.clone();
        c.record(RecordOp::AgentAnswered {
            call_id: id.clone(),
            agent_id: agent,
            at: wall,
            wait_ms,
        });
        c.event(
            now,
            "agent-answered",
            &format!("agent {agent} after {wait_ms} ms"),
        );
        info!(call = %id, agent, wait_ms, "an agent answers");
        self.cti(agent, Event::Answered { call: id });
        self.drive_call(now, call);
    }

    // ----- agent legs ------------------------------------------------------

    /// Carries out what a leg asked for and acts on what happened to it.
    pub(super) fn drive_leg(&mut self, now: Instant, key: CallKey) {
        let Some(leg) = self.legs.get_mut(&key) else {
            return;
        };
        let mut actions = Vec::new();
        leg.take_actions(&mut actions);
        let mut events = Vec::new();
        while let Some(e) = leg.poll_event() {
            events.push(e);
        }
        let (agent, call) = (leg.agent(), leg.call());
        self.run_actions(now, key, actions, true);
        for e in events {
            self.on_leg_event(now, key, agent, call, e);
        }
        let Some(leg) = self.legs.get_mut(&key) else {
            return;
        };
        if leg.is_finished() {
            if let Some(mut leg) = self.legs.remove(&key) {
                self.forget_test_leg(key);
                if let Some(id) = leg.sip_call_id() {
                    self.leg_by_call_id.remove(id);
                }
                for k in leg.requests().map(std::mem::take).unwrap_or_default() {
                    self.client_owner.remove(&k);
                }
            }
        } else {
            let deadline = leg.poll_timeout();
            if deadline != leg.scheduled_at() {
                *leg.scheduled() = deadline;
                if let Some(at) = deadline {
                    self.timers.push(std::cmp::Reverse((at, key)));
                }
            }
        }
        self.pump(now);
    }

    fn on_leg_event(
        &mut self,
        now: Instant,
        key: CallKey,
        agent: AgentId,
        call: CallKey,
        e: LegEvent,
    ) {
        if let Some(id) = self.test_call_of(key) {
            self.on_test_leg_event(now, &id, key, e);
            return;
        }
        if let LegEvent::Media {
            state,
            why,
            quiet: false,
        } = &e
        {
            let call_id = self.calls.get(&call).map(|c| c.id.clone());
            if let Some(call_id) = call_id {
                self.cti(
                    agent,
                    Event::Media {
                        call: call_id,
                        state: state.name(),
                        why: why.clone(),
                    },
                );
            }
        }
        if self.on_monitor_leg(now, key, call, &e) || self.on_consult_leg(now, key, call, &e) {
            return;
        }
        let wall = self.wall_ms(now);
        let current = self.desks.get(&agent).and_then(|d| d.leg) == Some(key);
        match e {
            LegEvent::Audio(samples) => {
                if self.consult_audio(call, &samples) {
                    return;
                }
                if let Some(c) = self.calls.get_mut(&call) {
                    c.push_audio(&samples);
                }
                self.monitor_hears_agent(call, &samples);
            }
            LegEvent::Dtmf(digit) => {
                // The talking agent's keys go to the caller (RFC 4733).
                let talking = self.acd.agent_state(agent) == Some(&AgentState::OnCall { call });
                if talking && let Some(c) = self.calls.get_mut(&call) {
                    let _ = c.send_keys(now, &digit.to_string());
                    self.drive_call(now, call);
                }
            }
            LegEvent::Media { state, why, .. } => {
                let connected = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.acd.as_ref())
                    .is_some_and(|p| p.leg == Some(key) && p.agent == Some(agent));
                if !connected {
                    return;
                }
                let talking = self.acd.agent_state(agent) == Some(&AgentState::OnCall { call })
                    && self.consult_of(call).is_none();
                if let Some(c) = self.calls.get_mut(&call) {
                    match state {
                        MediaState::Lost => {
                            // Music rather than silence while the page
                            // comes back (on hold it plays already).
                            if talking {
                                c.set_music(now, true);
                            }
                            c.event(now, "agent-audio-lost", &why);
                        }
                        MediaState::Connected => {
                            if talking {
                                c.set_music(now, false);
                            }
                            c.event(now, "agent-audio", &why);
                        }
                        MediaState::Failed => {}
                    }
                }
                self.drive_call(now, call);
            }
            LegEvent::Answered => {
                let taken = current && self.acd.answer(agent, call, wall).is_ok();
                if !taken {
                    // Too late: another agent has it, or the offer is gone.
                    if let Some(l) = self.legs.get_mut(&key) {
                        l.hang_up("taken");
                    }
                    self.drive_leg(now, key);
                }
                self.drain_acd(now);
            }
            LegEvent::Refused { code } => {
                if current {
                    debug!(agent, code, "the phone did not take the call");
                    if let Some(d) = self.desks.get_mut(&agent) {
                        d.leg = None;
                    }
                    let _ = self.acd.reject(agent, call, wall);
                    self.drain_acd(now);
                }
            }
            LegEvent::Ended { cause, by_agent } => {
                let connected = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.acd.as_ref())
                    .is_some_and(|p| p.leg == Some(key) && p.agent == Some(agent));
                if !connected {
                    return;
                }
                self.end_consult(now, call, "the agent's phone hung up");
                self.close_talk(now, call, cause);
                if by_agent && cause == "agent-vanished" && !self.cfg.rules.requeue_on_vanish {
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.event(now, "agent-vanished", "on to the queue's way out");
                        c.set_music(now, false);
                        c.leave_queue(now, "the agent's phone vanished");
                        if let Some(p) = c.acd.as_mut() {
                            p.released = true;
                        }
                    }
                    self.drive_call(now, call);
                } else if by_agent && cause == "agent-vanished" {
                    let queue = self
                        .calls
                        .get(&call)
                        .and_then(|c| c.acd.as_ref())
                        .map(|p| p.queue.clone())
                        .unwrap_or_default();
                    self.requeue(now, call, Requeue::Queue(queue), "agent's phone vanished");
                } else if let Some(c) = self.calls.get_mut(&call) {
                    c.hangup(now, "agent-bye");
                    self.drive_call(now, call);
                }
                self.drain_acd(now);
            }
        }
    }

    // ----- phones ----------------------------------------------------------

    /// What rings when `agent` is offered a call now: their page, if it is
    /// their phone, else their registered SIP phone.
    pub(super) fn phone_of(&self, agent: AgentId, now: Instant) -> Option<Phone> {
        if let Some(settings) = self.browser.clone()
            && self
                .desks
                .get(&agent)
                .is_some_and(|d| d.softphone && d.online)
        {
            return Some(Phone::Browser(settings));
        }
        self.sip_phone_of(agent, now).map(Phone::Sip)
    }

    /// Rings `agent`'s phone with `call` (a leg of the phone's kind);
    /// `ring_timeout` for a ring no ACD offer times. Returns the leg's key.
    pub(super) fn ring(
        &mut self,
        agent: AgentId,
        call: CallKey,
        phone: Phone,
        caller: &str,
        ring_timeout: Option<std::time::Duration>,
    ) -> CallKey {
        let key = self.new_call_key();
        let leg = match phone {
            Phone::Browser(settings) => Leg::Browser(Box::new(BrowserLeg::new(
                key,
                agent,
                call,
                settings,
                ring_timeout,
            ))),
            Phone::Sip(target) => {
                let leg = AgentLeg::new(NewLeg {
                    key,
                    agent,
                    call,
                    target,
                    sip_host: sip_host(self.cfg.advertised_ip, self.cfg.sip_port),
                    codecs: self.cfg.codecs.clone(),
                    telephone_event_pt: self.cfg.telephone_event_pt,
                    rtp_timeout: self.cfg.rtp_timeout,
                    caller: caller.to_owned(),
                    ring_timeout,
                    rng: self.rng.fork(),
                });
                self.leg_by_call_id.insert(leg.sip_call_id.clone(), key);
                Leg::Phone(Box::new(leg))
            }
        };
        self.legs.insert(key, leg);
        key
    }

    /// The agent's registered SIP phone, where to send its INVITE.
    pub(super) fn sip_phone_of(&self, agent: AgentId, now: Instant) -> Option<Target> {
        let wall = self.wall_ms(now);
        let b = self.registrar.contacts(agent, wall).into_iter().next()?;
        // Send to the Contact's address when it is on the host the REGISTER
        // came from (a phone, or a softphone with separate ports); to where
        // the REGISTER came from when not (a phone behind NAT, whose
        // Contact names its private address).
        let peer = contact_addr(&b.contact)
            .filter(|a| a.ip() == b.peer.addr.ip())
            .map_or(b.peer, |addr| crate::sip::Peer {
                addr,
                transport: b.peer.transport,
            });
        Some(Target {
            contact: b.contact.clone(),
            peer,
            username: b.username.clone(),
            realm: self.cfg.sip_realm.clone(),
        })
    }

    /// The next ACD deadline or registration expiry on the engine's timer
    /// heap, as the desk timer.
    fn schedule_desk(&mut self) {
        let next = [self.acd.next_deadline(), self.registrar.next_expiry()]
            .into_iter()
            .flatten()
            .min();
        let at = next.map(|ms| {
            let (mono, wall) = self.epoch;
            mono + std::time::Duration::from_millis(u64::try_from(ms - wall).unwrap_or(0))
        });
        if at != self.desk_scheduled {
            self.desk_scheduled = at;
            if let Some(at) = at {
                self.timers.push(std::cmp::Reverse((at, DESK_TIMER)));
            }
        }
    }
}

/// The timer-heap key of the desk timer (no call has key 0).
pub(super) const DESK_TIMER: CallKey = 0;

/// The `ip:port` of a SIP contact URI (5060 when it names no port);
/// `None` for a host name.
fn contact_addr(contact: &str) -> Option<std::net::SocketAddr> {
    let uri = rsip::Uri::try_from(contact).ok()?;
    let port = uri.host_with_port.port.map_or(5060, |p| *p.value());
    match uri.host_with_port.host {
        rsip::Host::IpAddr(ip) => Some(std::net::SocketAddr::new(ip, port)),
        rsip::Host::Domain(_) => None,
    }
}

fn acd_error(e: AcdError) -> (&'static str, String) {
    // The ACD's own messages name its internal call numbers; the page
    // knows calls by their ids, so say it in its terms.
    match e {
        AcdError::WrongState { state, action } => (
            "wrong_state",
            format!("you are {state}: {action} is not possible now"),
        ),
        AcdError::UnknownAgent(_) => ("wrong_state", "you are not signed in to the queues".into()),
        AcdError::UnknownQueue(q) => ("unknown_queue", format!("no queue named {q:?}")),
        AcdError::UnknownCall(_) | AcdError::DuplicateCall(_) => {
            ("no_such_call", "that call is no longer waiting".into())
        }
        AcdError::NotOffered { .. } => ("not_your_call", "that call is not ringing at you".into()),
        AcdError::Taken { .. } => ("not_your_call", "another agent has taken that call".into()),
    }
}

// ----- registration of agents' phones ---------------------------------------

impl Engine {
    /// A REGISTER from a phone: answered at once, or after its user's
    /// credentials come from the store.
    pub(super) fn on_register(
        &mut self,
        now: Instant,
        key: super::TxKey,
        req: rsip::Request,
        source: crate::sip::Peer,
    ) {
        let wall = self.wall_ms(now);
        match self.registrar.on_register(wall, &req) {
            Step::Respond(resp) => {
                if let Err(e) = self.tx.respond(now, &key, resp) {
                    debug!(error = %e, "REGISTER answer not sent");
                }
            }
            Step::NeedCredentials { username } if self.register_locked(&username, wall) => {
                // Too many wrong passwords: refused unchecked, as the web
                // sign-in is (the phone's password is the same).
                info!(username, "REGISTER refused: too many wrong passwords");
                let resp =
                    crate::sip::message::response(&req, 403, Some("Too Many Failures"), None);
                if let Err(e) = self.tx.respond(now, &key, resp) {
                    debug!(error = %e, "REGISTER answer not sent");
                }
            }
            Step::NeedCredentials { username } => {
                let token = self.next_token;
                self.next_token += 1;
                self.registering.insert(token, (key, req, source));
                self.outputs
                    .push_back(Output::Credentials { token, username });
            }
        }
    }

    /// The store's answer to [`Output::Credentials`]: the user's id and
    /// HA1, `None` for no such active user with a SIP password.
    pub fn credentials_done(&mut self, now: Instant, token: u64, creds: Option<(AgentId, String)>) {
        let Some((key, req, source)) = self.registering.remove(&token) else {
            return;
        };
        let wall = self.wall_ms(now);
        let (resp, changes) = self.registrar.on_credentials(wall, &req, source, creds);
        // A 403 here is a wrong password or an unknown user.
        if resp.status_code.code() == 403
            && let Some(user) = crate::sip::message::HeadersExt::to_user(&req)
        {
            // Guessers spraying names must not grow the map without end.
            if self.register_failures.len() >= 4096 {
                self.register_failures
                    .retain(|_, f| f.last().is_some_and(|t| wall - t < REGISTER_LOCK_MS));
            }
            let fails = self.register_failures.entry(user).or_default();
            fails.retain(|t| wall - t < REGISTER_LOCK_MS);
            fails.push(wall);
        }
        if let Err(e) = self.tx.respond(now, &key, resp) {
            debug!(error = %e, "REGISTER answer not sent");
        }
        self.pump(now);
        self.on_bindings(now, changes);
    }

    /// Too many wrong passwords for `username` lately.
    fn register_locked(&mut self, username: &str, wall: i64) -> bool {
        let Some(fails) = self.register_failures.get_mut(username) else {
            return false;
        };
        fails.retain(|t| wall - t < REGISTER_LOCK_MS);
        if fails.is_empty() {
            self.register_failures.remove(username);
            return false;
        }
        fails.len() >= REGISTER_MAX_FAILURES
    }

    /// The store could not be read for a REGISTER's credentials: the phone
    /// is told to try again shortly, and keeps the binding it has.
    pub fn credentials_failed(&mut self, now: Instant, token: u64) {
        let Some((key, req, _)) = self.registering.remove(&token) else {
            return;
        };
        let mut resp = crate::sip::message::response(&req, 503, None, None);
        resp.headers
            .push(rsip::headers::RetryAfter::from("5").into());
        if let Err(e) = self.tx.respond(now, &key, resp) {
            debug!(error = %e, "REGISTER answer not sent");
        }
        self.pump(now);
    }

    /// Phones that came or went: an agent whose last phone went away takes
    /// no more calls.
    fn on_bindings(&mut self, now: Instant, changes: Vec<BindingChange>) {
        for change in changes {
            let b = change.binding();
            let what = match &change {
                BindingChange::Added(_) => "registered",
                BindingChange::Refreshed(_) => "refreshed",
                BindingChange::Removed { .. } => "gone",
            };
            info!(agent = b.agent_id, contact = %b.contact, peer = %b.peer, "agent phone {what}");
            let agent = b.agent_id;
            self.update_away(now, agent);
        }
        self.drain_acd(now);
    }

    /// The desk timer fired: ACD deadlines and phones whose registration
    /// ran out.
    pub(super) fn desk_timeout(&mut self, now: Instant) {
        let wall = self.wall_ms(now);
        self.acd.tick(wall);
        let gone = self.registrar.expire(wall);
        self.on_bindings(now, gone);
    }
}
