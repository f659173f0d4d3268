//! The wallboard's view of the engine: a snapshot of who waits in which
//! queue and since when, where every agent stands, and every call in
//! progress ([`crate::wallboard::Live`]). Reads only: taking a snapshot
//! changes nothing and emits nothing, so the runtime may take one whenever
//! it likes.
//!
//! Where the state lives: waiting callers and agents' states in the ACD
//! (`self.acd`), since when an agent is in their state and who they are
//! in their desk (`self.desks`), each call's queue, agent leg and hold in
//! its `AcdPart`, and the call's phase in the call.

use std::collections::HashMap;
use std::time::Instant;

use super::call::{Call, Phase};
use super::{CallKey, Engine};
use crate::acd::{AgentId, AgentState};
use crate::wallboard::{CallState, Live, LiveAgent, LiveCall, LiveQueue, Waiter};

impl Engine {
    /// The floor at `now`: the configured queues with their waiting callers
    /// in the order they will be served, the agents known since their first
    /// screen (by id), and the calls not over yet (oldest first).
    pub fn board(&self, now: Instant) -> Live {
        let at_ms = self.wall_ms(now);
        let call_id = |key: CallKey| self.calls.get(&key).map(|c| c.id.clone());
        let queues = self
            .cfg
            .queues
            .iter()
            .map(|q| LiveQueue {
                name: q.name.clone(),
                waiting: self
                    .acd
                    .waiting_in(&q.name)
                    .into_iter()
                    .filter_map(|key| {
                        let c = self.calls.get(&key)?;
                        Some(Waiter {
                            call: c.id.clone(),
                            since_ms: c.acd.as_ref().map_or(c.arrived_ms, |p| p.queued_ms),
                        })
                    })
                    .collect(),
            })
            .collect();
        // Who each ringing call rings at (its AcdPart knows only the
        // connected agent).
        let mut ringing_at: HashMap<CallKey, AgentId> = HashMap::new();
        let mut agents: Vec<LiveAgent> = self
            .desks
            .iter()
            .map(|(&id, desk)| {
                let state = self
                    .acd
                    .agent_state(id)
                    .cloned()
                    .unwrap_or(AgentState::LoggedOut);
                let since_ms = desk.state_since_ms();
                let (call, call_since_ms) = match &state {
                    AgentState::Ringing { call, .. } => {
                        ringing_at.insert(*call, id);
                        (call_id(*call), Some(since_ms))
                    }
                    AgentState::OnCall { call } | AgentState::OnHold { call } => {
                        (call_id(*call), self.acd.answered_at(id))
                    }
                    AgentState::Consulted { call, .. } => (call_id(*call), Some(since_ms)),
                    _ => (None, None),
                };
                LiveAgent {
                    id,
                    username: desk.profile().username.clone(),
                    display_name: desk.profile().display_name.clone(),
                    queues: desk.queues().to_vec(),
                    state: state.name(),
                    reason: match &state {
                        AgentState::NotReady { reason } => Some(reason.clone()),
                        _ => None,
                    },
                    since_ms,
                    online: desk.online(),
                    call,
                    call_since_ms,
                }
            })
            .collect();
        agents.sort_by_key(|a| a.id);
        let mut calls: Vec<LiveCall> = self
            .calls
            .iter()
            .filter(|(_, c)| !c.is_over())
            .map(|(key, c)| self.live_call(*key, c, &ringing_at))
            .collect();
        calls.sort_by(|a, b| (a.arrived_ms, &a.id).cmp(&(b.arrived_ms, &b.id)));
        Live {
            at_ms,
            queues,
            agents,
            calls,
        }
    }

    fn live_call(
        &self,
        key: CallKey,
        c: &Call,
        ringing_at: &HashMap<CallKey, AgentId>,
    ) -> LiveCall {
        let part = c.acd.as_ref();
        let connected = part.and_then(|p| p.agent);
        let state = match (c.phase, part) {
            (Phase::ExpectMedia | Phase::Dialling, _) if c.is_outbound() => CallState::Dialling,
            (_, Some(p)) if p.agent.is_some() && p.hold_since.is_some() => CallState::OnHold,
            (_, Some(p)) if p.agent.is_some() => CallState::Talking,
            (_, Some(p)) if !p.released && p.leg.is_some() => CallState::Ringing,
            (_, Some(p)) if !p.released => CallState::Waiting,
            _ => CallState::Ivr,
        };
        let agent = match state {
            CallState::Ringing => ringing_at.get(&key).copied(),
            CallState::Talking | CallState::OnHold => connected,
            _ => None,
        };
        LiveCall {
            id: c.id.clone(),
            caller: c.caller().to_owned(),
            campaign: c.campaign().map(str::to_owned),
            queue: part.map(|p| p.queue.clone()),
            agent,
            state,
            arrived_ms: c.arrived_ms,
            queued_ms: part.map(|p| p.queued_ms),
            answered_ms: connected.and_then(|a| self.acd.answered_at(a)),
            monitor: self.monitor_view(key),
        }
    }
}
