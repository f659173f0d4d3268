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

use std::collections::HashMap;
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
    Event(AgentId, Event),
    /// Read the caller's history, then send `offered`.
    Offer(AgentId, CallView),
}

pub(super) fn spawn(hub: Arc<CtiHub>, store: Store) -> mpsc::UnboundedSender<CtiOut> {
    let (tx, mut rx) = mpsc::unbounded_channel::<CtiOut>();
    tokio::spawn(async move {
        // Per agent: the call on their screen and its pop.
        let mut pops: HashMap<AgentId, (String, Option<serde_json::Value>)> = HashMap::new();
        while let Some(out) = rx.recv().await {
            match out {
                CtiOut::Offer(agent, call) => {
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
                    pops.insert(agent, (call.id.clone(), pop.clone()));
                    hub.send(agent, &Event::Offered { call, pop });
                }
                CtiOut::Event(agent, mut event) => {
                    match &mut event {
                        Event::Hello {
                            call: Some(call),
                            pop,
                            ..
                        } => {
                            *pop = pops
                                .get(&agent)
                                .filter(|(id, _)| *id == call.id)
                                .and_then(|(_, p)| p.clone());
                        }
                        Event::Ended { call, .. } | Event::OfferCancelled { call, .. } => {
                            if pops.get(&agent).is_some_and(|(id, _)| id == call) {
                                pops.remove(&agent);
                            }
                        }
                        _ => {}
                    }
                    hub.send(agent, &event);
                }
            }
        }
    });
    tx
}
