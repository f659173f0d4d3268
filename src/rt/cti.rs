//! The CTI dispatcher: one task that delivers the engine's agent events to
//! the agents' websockets through the [`CtiHub`], in the order the engine
//! emitted them, and fills in the screen pop of each offered call from the
//! store on the way.
//!
//! The screen pop is read here, not in the engine (which does no I/O) and
//! not later by the page (the agent must see who calls as the phone
//! rings). A store that does not answer within [`POP_TIMEOUT`] gives an
//! `offered` event with `pop: null` rather than a late ring. The pop of an
//! agent's current call is kept, so a reconnect's `hello` carries it again.
//! Pops for different agents are read at the same time; one agent's
//! events never overtake each other.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::warn;

use crate::acd::AgentId;
use crate::api::cti::CtiHub;
use crate::cti::{CallView, Event};
use crate::store::Store;

/// Longest wait for the screen pop before the ring goes out without it.
pub const POP_TIMEOUT: Duration = Duration::from_millis(500);

/// What the driver hands the dispatcher.
#[derive(Debug)]
pub(super) enum CtiOut {
    Event(AgentId, Box<Event>),
    /// Read the caller's history, then send `offered`.
    Offer(AgentId, CallView),
}

impl CtiOut {
    fn agent(&self) -> AgentId {
        match self {
            CtiOut::Event(agent, _) | CtiOut::Offer(agent, _) => *agent,
        }
    }
}

/// A screen pop read for `agent`'s offered `call`.
type PopDone = (AgentId, CallView, Option<serde_json::Value>);

pub(super) fn spawn(hub: Arc<CtiHub>, store: Store) -> mpsc::UnboundedSender<CtiOut> {
    let (tx, mut rx) = mpsc::unbounded_channel::<CtiOut>();
    tokio::spawn(async move {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<PopDone>();
        let mut d = Dispatcher {
            hub,
            store,
            pops: HashMap::new(),
            held: HashMap::new(),
            done_tx,
        };
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(out) => d.take(out),
                    None => break,
                },
                Some((agent, call, pop)) = done_rx.recv() => d.pop_read(agent, call, pop),
            }
        }
    });
    tx
}

/// Pops are read concurrently, each agent's events stay in order: while
/// an agent's pop is being read, their later events wait behind it.
struct Dispatcher {
    hub: Arc<CtiHub>,
    store: Store,
    /// Per agent: the call on their screen and its pop.
    pops: HashMap<AgentId, (String, Option<serde_json::Value>)>,
    /// Agents whose pop is being read, with the events held back meanwhile.
    held: HashMap<AgentId, VecDeque<CtiOut>>,
    done_tx: mpsc::UnboundedSender<PopDone>,
}

impl Dispatcher {
    fn take(&mut self, out: CtiOut) {
        match self.held.get_mut(&out.agent()) {
            Some(queue) => queue.push_back(out),
            None => self.deliver(out),
        }
    }

    fn deliver(&mut self, out: CtiOut) {
        match out {
            CtiOut::Offer(agent, call) => {
                self.held.insert(agent, VecDeque::new());
                let (store, done) = (self.store.clone(), self.done_tx.clone());
                tokio::spawn(async move {
                    let pop = match tokio::time::timeout(
                        POP_TIMEOUT,
                        store.screen_pop(&call.caller),
                    )
                    .await
                    {
                        Ok(Ok(pop)) => serde_json::to_value(pop).ok(),
                        Ok(Err(e)) => {
                            warn!(agent, call = %call.id, error = %e, "screen pop failed; ringing without it");
                            None
                        }
                        Err(_) => {
                            warn!(agent, call = %call.id, "screen pop too slow; ringing without it");
                            None
                        }
                    };
                    let _ = done.send((agent, call, pop));
                });
            }
            CtiOut::Event(agent, mut event) => {
                match event.as_mut() {
                    Event::Hello {
                        call: Some(call),
                        pop,
                        ..
                    } => {
                        *pop = self
                            .pops
                            .get(&agent)
                            .filter(|(id, _)| *id == call.id)
                            .and_then(|(_, p)| p.clone());
                    }
                    Event::Ended { call, .. } | Event::OfferCancelled { call, .. }
                        if self.pops.get(&agent).is_some_and(|(id, _)| id == call) =>
                    {
                        self.pops.remove(&agent);
                    }
                    _ => {}
                }
                self.hub.send(agent, &event);
            }
        }
    }

    /// The pop is read: ring the screen, then let the agent's held events
    /// go (up to the next offer, which holds them again).
    fn pop_read(&mut self, agent: AgentId, call: CallView, pop: Option<serde_json::Value>) {
        self.pops.insert(agent, (call.id.clone(), pop.clone()));
        self.hub.send(agent, &Event::Offered { call, pop });
        let mut queue = self.held.remove(&agent).unwrap_or_default();
        while let Some(out) = queue.pop_front() {
            let offer = matches!(out, CtiOut::Offer(..));
            self.deliver(out);
            if offer {
                if let Some(held) = self.held.get_mut(&agent) {
                    held.extend(queue);
                }
                return;
            }
        }
    }
}
