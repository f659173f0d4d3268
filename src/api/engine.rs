//! The way to the call engine: requests that act on live calls (a browser
//! test call, pausing a call's recording, the dialer's calls) go to the
//! runtime's driver over one channel and come back on a oneshot.

use tokio::sync::{mpsc, oneshot};

use super::{ApiState, AppError};
use crate::engine::{
    DialError, DialOrder, MonitorError, MonitorMode, MonitorStatus, PauseError, TestCallError,
    TestCallStatus,
};

/// What the API asks of the runtime.
#[derive(Debug)]
pub enum EngineRequest {
    /// A browser test call: the page's offer in, (id, our answer) out.
    Start {
        caller: String,
        sdp: String,
        reply: oneshot::Sender<Result<(String, String), TestCallError>>,
    },
    Status {
        id: String,
        reply: oneshot::Sender<Option<TestCallStatus>>,
    },
    HangUp {
        id: String,
        reply: oneshot::Sender<Result<(), TestCallError>>,
    },
    /// Pause or resume a live call's recording; `agent`: only if it is
    /// this agent's call.
    PauseRecording {
        call_id: String,
        paused: bool,
        by: String,
        agent: Option<i64>,
        reply: oneshot::Sender<Result<(), PauseError>>,
    },
    /// How many more calls the agents of `queue` could take now (the
    /// dialer's progressive and callback pacing).
    AgentRoom {
        queue: String,
        reply: oneshot::Sender<u32>,
    },
    /// A supervisor steps into a live call in `mode`, switches to it, or
    /// (`None`) leaves; where they stand out (`None` after leaving).
    Monitor {
        call_id: String,
        supervisor: i64,
        mode: Option<MonitorMode>,
        reply: oneshot::Sender<Result<Option<MonitorStatus>, MonitorError>>,
    },
    /// The dialer places a campaign's call: our call id out.
    Dial {
        order: DialOrder,
        reply: oneshot::Sender<Result<String, DialError>>,
    },
}

/// The API's end of the runtime's engine channel.
pub type EngineHub = mpsc::Sender<EngineRequest>;

/// Sends `request` to the runtime and waits for its answer.
pub(super) async fn ask<T>(
    state: &ApiState,
    request: impl FnOnce(oneshot::Sender<T>) -> EngineRequest,
) -> Result<T, AppError> {
    let hub = state.engine.as_ref().ok_or(AppError::Exhausted(
        "this server process runs no call engine",
    ))?;
    let (tx, rx) = oneshot::channel();
    hub.send(request(tx))
        .await
        .map_err(|_| AppError::Exhausted("the call engine is shutting down"))?;
    rx.await
        .map_err(|_| AppError::Exhausted("the call engine is shutting down"))
}
