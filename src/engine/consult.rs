//! Attended transfer: an agent puts the caller on hold, talks to another
//! agent on that agent's phone, then hands the caller over (complete) or
//! takes them back (cancel). The ACD keeps the consulted agent out of the
//! queues meanwhile ([`crate::acd::AgentState::Consulted`]); here the
//! consult leg is rung and bridged to the consulting agent's leg.
//!
//! Invariants: a call has at most one consultation; while it lasts the
//! caller hears music and the two agents' legs are bridged to each other;
//! it ends exactly once — completed (the consult leg becomes the call's
//! leg), cancelled, refused or hung up by the consulted phone, or with the
//! call — and the consulting agent hears how.

use std::time::Instant;

use super::agent_leg::LegEvent;
use super::{CallKey, Engine, Output};
use crate::acd::{AgentId, AgentState};
use crate::cti::Event;
use crate::records::RecordOp;

type Refusal = (&'static str, String);

impl Engine {
    /// `consult`: the caller goes on hold and agent `to`'s phone rings.
    pub(super) fn consult(
        &mut self,
        now: Instant,
        agent: AgentId,
        call: &str,
        to: AgentId,
    ) -> Result<(), Refusal> {
        let key = self.own_call(agent, call)?;
        let wall = self.wall_ms(now);
        if !matches!(
            self.acd.agent_state(agent),
            Some(AgentState::OnCall { .. } | AgentState::OnHold { .. })
        ) {
            return Err(("wrong_state", "no call is connected".into()));
        }
        if self.consult_of(key).is_some() {
            return Err(("wrong_state", "a consultation is already going on".into()));
        }
        let free = self.acd.agent_state(to) == Some(&AgentState::Ready);
        let Some(target) = self.phone_of(to, now).filter(|_| free && to != agent) else {
            return Err((
                "unknown_agent",
                format!("agent {to} is not ready with a phone to take a consultation"),
            ));
        };
        let talking = self.acd.agent_state(agent) == Some(&AgentState::OnCall { call: key });
        self.acd.consult(agent, to, wall).map_err(|_| {
            (
                "unknown_agent",
                format!("agent {to} cannot take a consultation now"),
            )
        })?;
        if talking {
            self.hold(now, agent, call, true)?;
        }
        let Some(view) = self.calls.get(&key).map(super::call::Call::view) else {
            return Err(("no_such_call", "the call is over".into()));
        };
        // No ACD offer times this ring out: the leg does, after the
        // queue's ring timeout.
        let ring_timeout = Some(self.ring_timeout_of(key));
        let leg_key = self.ring(to, key, target, &view.caller, ring_timeout);
        if let Some(c) = self.calls.get_mut(&key) {
            if let Some(p) = c.acd.as_mut() {
                p.consult = Some((to, leg_key, false));
            }
            c.event(now, "consult", &format!("agent {agent} asks agent {to}"));
        }
        if let Some(d) = self.desks.get_mut(&to) {
            d.call = Some(key);
            d.leg = Some(leg_key);
        }
        self.outputs.push_back(Output::Offer {
            agent: to,
            call: view,
        });
        self.cti(
            agent,
            Event::Consult {
                call: call.to_owned(),
                agent: to,
                stage: "ringing",
                why: None,
            },
        );
        self.drive_leg(now, leg_key);
        Ok(())
    }

    /// `complete_transfer`: the consulted agent, who answered, takes the
    /// caller; the consulting agent's phone is hung up and they wrap up.
    pub(super) fn complete_transfer(
        &mut self,
        now: Instant,
        agent: AgentId,
        call: &str,
    ) -> Result<(), Refusal> {
        let key = self.consulting_call(agent, call)?;
        let wall = self.wall_ms(now);
        let Some((to, consult_leg, true)) = self.consult_of(key) else {
            return Err((
                "wrong_state",
                "the consulted agent has not answered yet".into(),
            ));
        };
        self.acd
            .complete_consult(to, wall)
            .map_err(|e| ("wrong_state", format!("the transfer cannot complete: {e}")))?;
        let old_leg = self.calls.get(&key).and_then(|c| c.acd.as_ref()?.leg);
        if let Some(p) = self.calls.get_mut(&key).and_then(|c| c.acd.as_mut()) {
            p.transfers += 1;
            p.consult = None;
        }
        // The ACD moved the call already: only the records and the screen.
        self.settle_agent(now, key, "transferred");
        if let Some(l) = old_leg {
            if let Some(leg) = self.legs.get_mut(&l) {
                leg.hang_up("transferred");
            }
            self.drive_leg(now, l);
        }
        let Some(c) = self.calls.get_mut(&key) else {
            return Ok(());
        };
        if let Some(p) = c.acd.as_mut() {
            p.agent = Some(to);
            p.leg = Some(consult_leg);
            p.talk_since = Some(wall);
        }
        c.set_music(now, false);
        c.event(now, "transfer", &format!("to agent {to} (attended)"));
        c.record(RecordOp::AgentAnswered {
            call_id: c.id.clone(),
            agent_id: to,
            at: wall,
            wait_ms: 0,
        });
        let id = c.id.clone();
        if let Some(l) = self.legs.get_mut(&consult_leg) {
            l.set_muted(false);
        }
        self.cti(to, Event::Answered { call: id });
        self.drive_call(now, key);
        self.drain_acd(now);
        Ok(())
    }

    /// `cancel_transfer`: the consultation ends; the caller is back with
    /// the agent who consulted.
    pub(super) fn cancel_transfer(
        &mut self,
        now: Instant,
        agent: AgentId,
        call: &str,
    ) -> Result<(), Refusal> {
        let key = self.consulting_call(agent, call)?;
        if self.consult_of(key).is_none() {
            return Err(("wrong_state", "no consultation is going on".into()));
        }
        self.end_consult(now, key, "cancelled");
        if self.acd.agent_state(agent) == Some(&AgentState::OnHold { call: key }) {
            self.hold(now, agent, call, false)?;
        }
        Ok(())
    }

    /// The call `call` if `agent` is the one talking to its caller (the
    /// consulted agent may not complete or cancel a transfer).
    fn consulting_call(&self, agent: AgentId, call: &str) -> Result<CallKey, Refusal> {
        let key = self.own_call(agent, call)?;
        let mine = self
            .calls
            .get(&key)
            .and_then(|c| c.acd.as_ref())
            .is_some_and(|p| p.agent == Some(agent));
        if !mine {
            return Err((
                "not_your_call",
                "only the agent who asked for the consultation ends it".into(),
            ));
        }
        Ok(key)
    }

    /// The ring timeout of the call's queue.
    fn ring_timeout_of(&self, key: CallKey) -> std::time::Duration {
        let queue = self
            .calls
            .get(&key)
            .and_then(|c| c.acd.as_ref())
            .map(|p| p.queue.as_str());
        let ms = self
            .cfg
            .queues
            .iter()
            .find(|q| Some(q.name.as_str()) == queue)
            .map_or(20_000, |q| q.ring_timeout_ms);
        std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(20_000))
    }

    /// The consultation of `key`: (consulted agent, their leg, answered).
    pub(super) fn consult_of(&self, key: CallKey) -> Option<(AgentId, CallKey, bool)> {
        self.calls.get(&key)?.acd.as_ref()?.consult
    }

    /// Ends the consultation of `key` without a transfer (cancelled, the
    /// phone refused or hung up, the caller left): the consulted agent is
    /// free again, their leg hung up, and both screens told.
    pub(super) fn end_consult(&mut self, now: Instant, key: CallKey, why: &str) {
        let Some((to, leg_key, _)) = self.consult_of(key) else {
            return;
        };
        let wall = self.wall_ms(now);
        let mut by = None;
        if let Some(c) = self.calls.get_mut(&key)
            && let Some(p) = c.acd.as_mut()
        {
            p.consult = None;
            by = p.agent;
            c.event(now, "consult-end", &format!("agent {to}: {why}"));
        }
        if matches!(
            self.acd.agent_state(to),
            Some(AgentState::Consulted { call, .. }) if *call == key
        ) {
            let _ = self.acd.end_consult(to, wall);
        }
        if let Some(d) = self.desks.get_mut(&to)
            && d.leg == Some(leg_key)
        {
            d.call = None;
            d.leg = None;
        }
        if let Some(l) = self.legs.get_mut(&leg_key) {
            l.hang_up("consult-over");
        }
        self.drive_leg(now, leg_key);
        let call_id = self
            .calls
            .get(&key)
            .map(|c| c.id.clone())
            .unwrap_or_default();
        self.cti(
            to,
            Event::Ended {
                call: call_id.clone(),
                cause: "consultation over".into(),
            },
        );
        if let Some(by) = by {
            self.cti(
                by,
                Event::Consult {
                    call: call_id,
                    agent: to,
                    stage: "ended",
                    why: Some(why.to_owned()),
                },
            );
        }
        self.drain_acd(now);
    }

    /// Something happened to a consult leg; `true` if `leg` is one (the
    /// event is dealt with).
    pub(super) fn on_consult_leg(
        &mut self,
        now: Instant,
        leg: CallKey,
        call: CallKey,
        e: &LegEvent,
    ) -> bool {
        let Some((to, consult_leg, _)) = self.consult_of(call) else {
            return false;
        };
        if consult_leg != leg {
            return false;
        }
        match e {
            LegEvent::Audio(samples) => {
                // The consulted agent's voice, for the consulting agent.
                let main = self.calls.get(&call).and_then(|c| c.acd.as_ref()?.leg);
                if let Some(l) = main.and_then(|m| self.legs.get_mut(&m)) {
                    l.push_audio(samples);
                }
            }
            LegEvent::Answered => {
                if let Some(p) = self.calls.get_mut(&call).and_then(|c| c.acd.as_mut()) {
                    p.consult = Some((to, leg, true));
                }
                // The consulting agent's leg was muted by the hold: their
                // voice now goes to the consulted agent.
                let main = self.calls.get(&call).and_then(|c| c.acd.as_ref()?.leg);
                if let Some(l) = main.and_then(|m| self.legs.get_mut(&m)) {
                    l.set_muted(false);
                }
                let (id, by) = self
                    .calls
                    .get(&call)
                    .map(|c| (c.id.clone(), c.acd.as_ref().and_then(|p| p.agent)))
                    .unwrap_or_default();
                self.cti(to, Event::Answered { call: id.clone() });
                if let Some(by) = by {
                    self.cti(
                        by,
                        Event::Consult {
                            call: id,
                            agent: to,
                            stage: "talking",
                            why: None,
                        },
                    );
                }
            }
            LegEvent::Refused { code } => {
                self.end_consult(now, call, &format!("not answered ({code})"));
            }
            LegEvent::Ended { cause, .. } => self.end_consult(now, call, cause),
            // Keys from the consulted agent reach no one; their page hears
            // of its audio in `on_leg_event`.
            LegEvent::Dtmf(_) | LegEvent::Media { .. } => {}
        }
        true
    }

    /// The consulting agent's voice during a consultation goes to the
    /// consulted agent (the caller, on hold, hears music); `false` when
    /// no answered consultation is going on.
    pub(super) fn consult_audio(&mut self, call: CallKey, samples: &[i16]) -> bool {
        let Some((_, leg, true)) = self.consult_of(call) else {
            return false;
        };
        if let Some(l) = self.legs.get_mut(&leg) {
            l.push_audio(samples);
        }
        true
    }
}
