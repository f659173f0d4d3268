//! The engine's live figures for monitoring (`GET /metrics`): calls in
//! progress by direction, callers waiting per queue, agents by state, and
//! the counters behind calls per second.
//!
//! Read-only and O(calls + agents + queues): the runtime reads it a few
//! times a second into its metrics (`crate::rt::metrics`), never per input,
//! so the figures cost the call path nothing.

use super::Engine;
use crate::acd::AgentState;

/// Agent states in the order [`Gauges::agents`] counts them, by the names
/// the reports use ([`AgentState::name`]).
pub const AGENT_STATES: [&str; 8] = [
    "logged_out",
    "ready",
    "not_ready",
    "ringing",
    "on_call",
    "on_hold",
    "wrap_up",
    "consulted",
];

/// A snapshot of the engine's live state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gauges {
    /// Inbound calls not yet over (from the trunk, and test calls).
    pub calls_inbound: usize,
    /// Outbound calls (campaigns, agents' preview calls) not yet over.
    pub calls_outbound: usize,
    /// Calls accepted since start, inbound and outbound; their rate is
    /// calls per second.
    pub started_inbound: u64,
    pub started_outbound: u64,
    /// INVITEs refused before they became calls (overload, draining, a
    /// number we do not serve, a source outside the trunk list, no codec).
    pub rejected: u64,
    /// Per configured queue, in configuration order: callers waiting.
    pub queues: Vec<(String, usize)>,
    /// Agents known since start (a CTI connection), per state of
    /// [`AGENT_STATES`].
    pub agents: [usize; AGENT_STATES.len()],
    /// Registrations of agents' SIP phones (one per contact address).
    pub phone_registrations: usize,
}

/// Where `state` is counted in [`Gauges::agents`].
fn state_slot(state: &AgentState) -> usize {
    // Exhaustive on purpose: a new state must be given a slot.
    match state {
        AgentState::LoggedOut => 0,
        AgentState::Ready => 1,
        AgentState::NotReady { .. } => 2,
        AgentState::Ringing { .. } => 3,
        AgentState::OnCall { .. } => 4,
        AgentState::OnHold { .. } => 5,
        AgentState::WrapUp { .. } => 6,
        AgentState::Consulted { .. } => 7,
    }
}

impl Engine {
    /// The live figures, as of the last input.
    #[must_use]
    pub fn gauges(&self) -> Gauges {
        let (mut calls_inbound, mut calls_outbound) = (0, 0);
        for c in self.calls.values().filter(|c| c.counted) {
            if c.is_outbound() {
                calls_outbound += 1;
            } else {
                calls_inbound += 1;
            }
        }
        let queues = self
            .cfg
            .queues
            .iter()
            .map(|q| (q.name.clone(), self.acd.room_in(&q.name).1))
            .collect();
        let mut agents = [0; AGENT_STATES.len()];
        for id in self.desks.keys() {
            let slot = self.acd.agent_state(*id).map_or(0, state_slot);
            agents[slot] += 1;
        }
        let stats = self.stats;
        Gauges {
            calls_inbound,
            calls_outbound,
            started_inbound: stats.calls_total.saturating_sub(stats.outbound_total),
            started_outbound: stats.outbound_total,
            rejected: stats.calls_rejected,
            queues,
            agents,
            phone_registrations: self.registrar.bindings().count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_its_own_slot_named_as_the_reports_name_it() {
        let call = crate::acd::CallRef::default();
        let states = [
            AgentState::LoggedOut,
            AgentState::Ready,
            AgentState::NotReady {
                reason: "break".into(),
            },
            AgentState::Ringing { call, until_ms: 0 },
            AgentState::OnCall { call },
            AgentState::OnHold { call },
            AgentState::WrapUp { until_ms: 0 },
            AgentState::Consulted { call, by: 1 },
        ];
        for s in &states {
            assert_eq!(AGENT_STATES[state_slot(s)], s.name());
        }
    }
}
