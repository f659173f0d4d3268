//! Listen, whisper and barge: a supervisor steps into an agent's call on
//! their own phone. The supervisor's phone is rung with a leg of its own
//! (as an agent's is); once it answers, the audio is mixed in the server:
//!
//! | mode    | supervisor hears | agent hears          | caller hears         |
//! |---------|------------------|----------------------|----------------------|
//! | listen  | caller + agent   | caller               | agent                |
//! | whisper | caller + agent   | caller + supervisor  | agent                |
//! | barge   | caller + agent   | caller + supervisor  | agent + supervisor   |
//!
//! The caller's voice is each leg's main feed; the third voice goes in a
//! leg's side feed ([`crate::media::session::MediaSession::set_side`]).
//! The call's recording takes what the caller hears, so a barge is
//! recorded and a whisper is not.
//!
//! Invariants:
//! - A call has at most one supervisor in it, and a supervisor is in at
//!   most one call; the supervisor is not the call's agent and takes no
//!   calls meanwhile (they may not turn ready).
//! - Switching modes changes only the mixing: the supervisor's phone is
//!   not rung again and no party's audio stops.
//! - Every start, switch and end is on the call's timeline (who, which
//!   mode), and the supervisor's leg is hung up exactly once: by the
//!   supervisor, on stop, or when the agent's part of the call ends.

use std::time::{Duration, Instant};

use tracing::info;

use super::agent_leg::LegEvent;
use super::desk::Phone;
use super::{CallKey, Engine};
use crate::acd::{AgentId, AgentState};

/// How long the supervisor's phone rings before we give up.
const MONITOR_RING: Duration = Duration::from_secs(30);

/// How a supervisor takes part in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorMode {
    /// Hears both sides; nobody hears them.
    Listen,
    /// Hears both sides; only the agent hears them.
    Whisper,
    /// All three talk.
    Barge,
}

impl MonitorMode {
    pub fn name(self) -> &'static str {
        match self {
            MonitorMode::Listen => "listen",
            MonitorMode::Whisper => "whisper",
            MonitorMode::Barge => "barge",
        }
    }
}

/// A supervisor in a call.
#[derive(Debug, Clone)]
pub(super) struct Monitor {
    pub supervisor: AgentId,
    /// Their username (their phone's registration).
    pub username: String,
    /// The leg to the supervisor's phone.
    pub leg: CallKey,
    pub mode: MonitorMode,
    /// The supervisor's phone answered.
    pub up: bool,
}

/// Where a supervisor's request left them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorStatus {
    pub mode: MonitorMode,
    /// `false`: their phone is still ringing.
    pub connected: bool,
}

/// Why a supervisor cannot step into (or out of) a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonitorError {
    #[error("no call with this id is in progress (it may have just ended)")]
    NoSuchCall,
    #[error("the call is not connected to an agent")]
    NotTalking,
    #[error("you are the agent on this call")]
    OwnCall,
    /// Someone (or the supervisor themself) is busy: the reason says who.
    #[error("{0}")]
    Busy(String),
    #[error("no SIP phone is registered for you: register one to listen in")]
    NoPhone,
    #[error("you are not in this call")]
    NotInCall,
}

impl Engine {
    /// `supervisor` steps into the call `call_id` in `mode`, or, already
    /// in it, switches to `mode`.
    pub fn monitor(
        &mut self,
        now: Instant,
        supervisor: AgentId,
        call_id: &str,
        mode: MonitorMode,
    ) -> Result<MonitorStatus, MonitorError> {
        let key = self.call_in_progress(call_id)?;
        let part = self.calls.get(&key).and_then(|c| c.acd.as_ref());
        let Some(agent) = part.and_then(|p| p.agent) else {
            return Err(MonitorError::NotTalking);
        };
        if !matches!(
            self.acd.agent_state(agent),
            Some(AgentState::OnCall { call } | AgentState::OnHold { call }) if *call == key
        ) {
            return Err(MonitorError::NotTalking);
        }
        if agent == supervisor {
            return Err(MonitorError::OwnCall);
        }
        match part.and_then(|p| p.monitor.clone()) {
            Some(m) if m.supervisor == supervisor => {
                if m.mode != mode {
                    self.set_monitor_mode(now, key, mode);
                }
                return Ok(MonitorStatus {
                    mode,
                    connected: m.up,
                });
            }
            Some(m) => {
                return Err(MonitorError::Busy(format!(
                    "supervisor {} is already in this call",
                    m.supervisor
                )));
            }
            None => {}
        }
        if let Some(other) = self.monitoring(supervisor) {
            let id = self.calls.get(&other).map(|c| c.id.clone());
            return Err(MonitorError::Busy(format!(
                "you are in call {} already: stop that first",
                id.unwrap_or_default()
            )));
        }
        if !matches!(
            self.acd.agent_state(supervisor),
            None | Some(AgentState::LoggedOut | AgentState::NotReady { .. })
        ) {
            return Err(MonitorError::Busy(
                "you are taking calls: turn not ready first".into(),
            ));
        }
        let target = self
            .sip_phone_of(supervisor, now)
            .ok_or(MonitorError::NoPhone)?;
        let username = target.username.clone();
        let caller = self
            .calls
            .get(&key)
            .map(|c| c.view().caller)
            .unwrap_or_default();
        let leg = self.ring(
            supervisor,
            key,
            Phone::Sip(target),
            &caller,
            Some(MONITOR_RING),
        );
        if let Some(c) = self.calls.get_mut(&key) {
            if let Some(p) = c.acd.as_mut() {
                p.monitor = Some(Monitor {
                    supervisor,
                    username,
                    leg,
                    mode,
                    up: false,
                });
            }
            c.event(
                now,
                "monitor",
                &format!("supervisor {supervisor}: {} (ringing)", mode.name()),
            );
            info!(call = %c.id, supervisor, mode = mode.name(), "a supervisor steps in");
        }
        self.drive_leg(now, leg);
        Ok(MonitorStatus {
            mode,
            connected: false,
        })
    }

    /// `supervisor` leaves the call `call_id`.
    pub fn stop_monitor(
        &mut self,
        now: Instant,
        supervisor: AgentId,
        call_id: &str,
    ) -> Result<(), MonitorError> {
        let key = self.call_in_progress(call_id)?;
        if self.monitor_of(key).map(|m| m.supervisor) != Some(supervisor) {
            return Err(MonitorError::NotInCall);
        }
        self.end_monitor(now, key, "stopped by the supervisor");
        Ok(())
    }

    /// The call's supervisor, if one is in it: who, how, connected.
    pub fn monitor_view(&self, call: CallKey) -> Option<crate::wallboard::LiveMonitor> {
        self.monitor_of(call)
            .map(|m| crate::wallboard::LiveMonitor {
                supervisor: m.supervisor,
                username: m.username.clone(),
                mode: m.mode.name(),
                connected: m.up,
            })
    }

    /// The call (in progress) of our call id.
    fn call_in_progress(&self, call_id: &str) -> Result<CallKey, MonitorError> {
        self.calls
            .iter()
            .find(|(_, c)| c.id == call_id && !c.is_over())
            .map(|(k, _)| *k)
            .ok_or(MonitorError::NoSuchCall)
    }

    fn monitor_of(&self, call: CallKey) -> Option<&Monitor> {
        self.calls.get(&call)?.acd.as_ref()?.monitor.as_ref()
    }

    /// The call `supervisor` is in.
    pub(super) fn monitoring(&self, supervisor: AgentId) -> Option<CallKey> {
        self.calls
            .iter()
            .find(|(_, c)| {
                c.acd
                    .as_ref()
                    .and_then(|p| p.monitor.as_ref())
                    .is_some_and(|m| m.supervisor == supervisor)
            })
            .map(|(k, _)| *k)
    }

    fn set_monitor_mode(&mut self, now: Instant, call: CallKey, mode: MonitorMode) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(m) = c.acd.as_mut().and_then(|p| p.monitor.as_mut()) else {
            return;
        };
        let from = std::mem::replace(&mut m.mode, mode);
        let supervisor = m.supervisor;
        c.event(
            now,
            "monitor-mode",
            &format!("supervisor {supervisor}: {} → {}", from.name(), mode.name()),
        );
        info!(call = %c.id, supervisor, mode = mode.name(), "a supervisor switches mode");
        self.mix_monitor(call);
    }

    /// The supervisor leaves the call (stop, their phone hung up or
    /// refused, the agent's part is over): their leg is hung up and the
    /// others hear only each other again.
    pub(super) fn end_monitor(&mut self, now: Instant, call: CallKey, why: &str) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(m) = c.acd.as_mut().and_then(|p| p.monitor.take()) else {
            return;
        };
        c.event(
            now,
            "monitor-end",
            &format!("supervisor {}: {why}", m.supervisor),
        );
        info!(call = %c.id, supervisor = m.supervisor, why, "a supervisor leaves the call");
        self.mix_monitor(call);
        if let Some(l) = self.legs.get_mut(&m.leg) {
            l.hang_up("monitor-over");
        }
        self.drive_leg(now, m.leg);
    }

    /// Sets each party's side feed for the call's supervisor and mode
    /// (all off without one).
    fn mix_monitor(&mut self, call: CallKey) {
        let Some(p) = self.calls.get(&call).and_then(|c| c.acd.as_ref()) else {
            return;
        };
        let mode = p.monitor.as_ref().filter(|m| m.up).map(|m| m.mode);
        let agent_leg = p.leg;
        if let Some(l) = agent_leg.and_then(|k| self.legs.get_mut(&k)) {
            l.set_side(matches!(
                mode,
                Some(MonitorMode::Whisper | MonitorMode::Barge)
            ));
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.set_side(mode == Some(MonitorMode::Barge));
        }
    }

    /// The caller's voice, for the supervisor listening in.
    pub(super) fn monitor_hears_caller(&mut self, call: CallKey, samples: &[i16]) {
        if let Some(leg) = self.monitor_of(call).filter(|m| m.up).map(|m| m.leg)
            && let Some(l) = self.legs.get_mut(&leg)
        {
            l.push_audio(samples);
        }
    }

    /// The agent's voice, for the supervisor listening in.
    pub(super) fn monitor_hears_agent(&mut self, call: CallKey, samples: &[i16]) {
        if let Some(leg) = self.monitor_of(call).filter(|m| m.up).map(|m| m.leg)
            && let Some(l) = self.legs.get_mut(&leg)
        {
            l.push_side_audio(samples);
        }
    }

    /// Acts on what happened to a supervisor's leg; `false`: `leg` is not
    /// the call's supervisor's.
    pub(super) fn on_monitor_leg(
        &mut self,
        now: Instant,
        leg: CallKey,
        call: CallKey,
        e: &LegEvent,
    ) -> bool {
        let Some(m) = self.monitor_of(call).filter(|m| m.leg == leg).cloned() else {
            return false;
        };
        match e {
            LegEvent::Audio(samples) => {
                let agent_leg = self.calls.get(&call).and_then(|c| c.acd.as_ref()?.leg);
                if m.mode != MonitorMode::Listen
                    && let Some(l) = agent_leg.and_then(|k| self.legs.get_mut(&k))
                {
                    l.push_side_audio(samples);
                }
                if m.mode == MonitorMode::Barge
                    && let Some(c) = self.calls.get_mut(&call)
                {
                    c.push_side_audio(samples);
                }
            }
            LegEvent::Answered => {
                if let Some(c) = self.calls.get_mut(&call) {
                    if let Some(m) = c.acd.as_mut().and_then(|p| p.monitor.as_mut()) {
                        m.up = true;
                    }
                    // The supervisor hears the agent over the caller.
                    if let Some(l) = self.legs.get_mut(&leg) {
                        l.set_side(true);
                    }
                    c.event(
                        now,
                        "monitor",
                        &format!("supervisor {}: {} (connected)", m.supervisor, m.mode.name()),
                    );
                }
                self.mix_monitor(call);
            }
            LegEvent::Refused { code } => {
                self.end_monitor(now, call, &format!("their phone did not answer ({code})"));
            }
            LegEvent::Ended { .. } => self.end_monitor(now, call, "their phone hung up"),
            LegEvent::Dtmf(_) | LegEvent::Media { .. } => {}
        }
        true
    }
}
