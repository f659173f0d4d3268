//! The agent's CTI websocket, `GET /api/agent/ws` (docs/cti-protocol.md),
//! and the [`CtiHub`] that joins the websockets to the runtime.
//!
//! One connection per agent: a new one (a reloaded page, a second tab)
//! replaces the old, which is told so and closed. Opening a connection
//! tells the engine the agent is at their desk; it answers with
//! [`crate::cti::Event::Hello`] (state and call as they are now), so a
//! reconnect resumes where the page was. Commands go to the engine in the
//! order received; events come back through the hub.
//!
//! Protection: anything that is not a command gets an `error` event
//! (bad_command) and changes nothing, as do commands beyond
//! [`MAX_COMMANDS_PER_S`] a second; a message over [`MAX_MESSAGE`] bytes
//! closes the connection (the websocket layer refuses to read it); a
//! client that does not read its events (its queue of [`QUEUE`] events is
//! full) is disconnected, never waited for. The session is checked again
//! every [`SESSION_CHECK`]: signing out, expiry, deactivation or a role
//! that no longer takes calls closes the connection.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::mpsc;

use super::{ApiState, AppError, Caller};
use crate::acd::AgentId;
use crate::cti::{Event, Request, StateView};
use crate::engine::AgentProfile;

/// Longest command accepted.
pub const MAX_MESSAGE: usize = 16 * 1024;
/// Commands a connection may send per second.
pub const MAX_COMMANDS_PER_S: u32 = 20;
/// Events waiting for a slow client before it is dropped.
const QUEUE: usize = 256;
/// How often an open connection's session is checked again.
pub const SESSION_CHECK: Duration = Duration::from_secs(30);

/// What the websockets tell the engine.
#[derive(Debug)]
pub enum CtiInput {
    Connected(AgentProfile),
    Disconnected(AgentId),
    Command(AgentId, Request),
}

#[derive(Debug)]
struct Connection {
    id: u64,
    tx: mpsc::Sender<String>,
}

/// The meeting point of agents' websockets and the runtime.
#[derive(Debug)]
pub struct CtiHub {
    to_engine: mpsc::Sender<CtiInput>,
    connections: Mutex<HashMap<AgentId, Connection>>,
    next_id: AtomicU64,
    /// Each agent's latest state as their screen was told it, for
    /// `GET /api/agents`.
    states: Mutex<HashMap<AgentId, StateView>>,
}

impl CtiHub {
    /// `to_engine` is read by the runtime's driver.
    pub fn new(to_engine: mpsc::Sender<CtiInput>) -> CtiHub {
        CtiHub {
            to_engine,
            connections: Mutex::default(),
            next_id: AtomicU64::new(1),
            states: Mutex::default(),
        }
    }

    /// The latest state of every agent the engine has told about.
    pub fn states(&self) -> HashMap<AgentId, StateView> {
        self.states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether the agent has a screen open.
    pub fn is_online(&self, agent: AgentId) -> bool {
        self.lock().contains_key(&agent)
    }

    /// Sends `event` to the agent's connection, if one is open. A client
    /// whose queue is full is dropped (it reconnects and gets `hello`).
    pub fn send(&self, agent: AgentId, event: &Event) {
        if let Event::State { state, .. } | Event::Hello { state, .. } = event {
            self.states
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(agent, state.clone());
        }
        let text = match serde_json::to_string(event) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "CTI event not serialisable");
                return;
            }
        };
        let mut conns = self.lock();
        if let Some(c) = conns.get(&agent)
            && c.tx.try_send(text).is_err()
        {
            tracing::warn!(agent, "CTI client not reading its events: disconnected");
            conns.remove(&agent);
            // As for a closed socket: the agent is offered nothing more.
            let _ = self.to_engine.try_send(CtiInput::Disconnected(agent));
        }
    }

    /// Agents with an open connection.
    pub fn online(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, Connection>> {
        // A panic while holding the lock leaves a plain map; keep using it.
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection for `agent`, replacing (and telling) an
    /// older one.
    fn attach(&self, agent: AgentId) -> (u64, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let old = self.lock().insert(agent, Connection { id, tx });
        if let Some(old) = old {
            let replaced = Event::error(
                None,
                "replaced",
                "you opened hotline in another window: this one is closed",
            );
            if let Ok(text) = serde_json::to_string(&replaced) {
                let _ = old.tx.try_send(text);
            }
        }
        (id, rx)
    }

    /// Forgets the connection unless a newer one replaced it; true if it
    /// was the agent's current one.
    fn detach(&self, agent: AgentId, id: u64) -> bool {
        let mut conns = self.lock();
        if conns.get(&agent).is_some_and(|c| c.id == id) {
            conns.remove(&agent);
            return true;
        }
        false
    }
}

/// An agent as the team sees them: for transfers (`agent` ids) and, later,
/// the wallboard.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AgentSummary {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// The ACD queues they work; empty: every queue.
    pub queues: Vec<String>,
    /// logged_out, ready, not_ready, ringing, on_call, on_hold, wrap_up,
    /// consulted (docs/cti-protocol.md).
    pub state: &'static str,
    /// The not-ready reason.
    pub reason: Option<String>,
    /// Since when (epoch ms); `None` when logged out.
    pub since_ms: Option<i64>,
    /// Their screen is open.
    pub online: bool,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentSummary>,
}

/// Every active agent and supervisor, with their state now.
#[utoipa::path(get, path = "/api/agents", tag = "agent",
    responses((status = 200, body = AgentList), (status = 403, body = super::ErrorBody)))]
pub async fn list_agents(State(state): State<ApiState>) -> Result<axum::Json<AgentList>, AppError> {
    let live = state.cti.as_ref().map(|h| h.states()).unwrap_or_default();
    let agents = state
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| {
            u.active
                && matches!(
                    u.role,
                    crate::store::Role::Agent | crate::store::Role::Supervisor
                )
        })
        .map(|u| {
            let now = live.get(&u.id);
            AgentSummary {
                id: u.id,
                state: now.map_or("logged_out", |s| s.name),
                reason: now.and_then(|s| s.reason.clone()),
                since_ms: now.map(|s| s.since_ms),
                online: state.cti.as_ref().is_some_and(|h| h.is_online(u.id)),
                username: u.username,
                display_name: u.display_name,
                queues: u.queues,
            }
        })
        .collect();
    Ok(axum::Json(AgentList { agents }))
}

/// Opens the agent's CTI connection.
#[utoipa::path(get, path = "/api/agent/ws", tag = "agent",
    responses(
        (status = 101, description = "Switching to the CTI websocket protocol (docs/cti-protocol.md)"),
        (status = 400, description = "Not a websocket request", body = super::ErrorBody),
        (status = 503, description = "This server runs no call engine", body = super::ErrorBody)))]
pub async fn agent_ws(
    State(state): State<ApiState>,
    Extension(Caller(user)): Extension<Caller>,
    headers: axum::http::HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    let ws = ws.map_err(|_| AppError::BadRequest("this address takes a websocket".into()))?;
    let Some(hub) = state.cti.clone() else {
        return Err(AppError::Exhausted("no call engine runs in this process"));
    };
    let p = state
        .store
        .agent_profile(user.id)
        .await?
        .ok_or(AppError::Forbidden)?;
    let profile = AgentProfile {
        id: p.id,
        username: p.username,
        display_name: p.display_name,
        queues: p.queues,
        skills: p.skills,
    };
    let session = super::auth::request_token(&headers)
        .map(super::auth::token_hash)
        .unwrap_or_default();
    let store = state.store.clone();
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| serve(socket, hub, profile, store, session)))
}

/// The session still stands and its user still takes calls.
async fn still_signed_in(store: &crate::store::Store, session: &str, agent: AgentId) -> bool {
    let now = super::now_ms();
    match store.session_user(session, now).await {
        Ok(Some(user)) => {
            user.id == agent
                && matches!(
                    user.role,
                    crate::store::Role::Agent | crate::store::Role::Supervisor
                )
        }
        Ok(None) => false,
        // The database is down: not the agent's fault; check again later.
        Err(_) => true,
    }
}

async fn serve(
    mut socket: WebSocket,
    hub: std::sync::Arc<CtiHub>,
    profile: AgentProfile,
    store: crate::store::Store,
    session: String,
) {
    let agent = profile.id;
    let (conn, mut events) = hub.attach(agent);
    if hub
        .to_engine
        .send(CtiInput::Connected(profile))
        .await
        .is_err()
    {
        return;
    }
    let mut window = (Instant::now(), 0u32);
    let mut check = tokio::time::interval(SESSION_CHECK);
    check.tick().await;
    loop {
        tokio::select! {
            _ = check.tick() => {
                if !still_signed_in(&store, &session, agent).await {
                    let bye = Event::error(None, "session_ended", "your session has ended: sign in again");
                    reply(&mut socket, bye).await;
                    break;
                }
            }
            event = events.recv() => match event {
                Some(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                // Replaced by a newer connection, or dropped as too slow.
                None => break,
            },
            msg = socket.recv() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Binary(_))) => {
                        reply(&mut socket, Event::error(None, "bad_command", "commands are JSON text")).await;
                        continue;
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                if window.0.elapsed() >= Duration::from_secs(1) {
                    window = (Instant::now(), 0);
                }
                window.1 += 1;
                // The id of whatever was sent, so even a refused message is
                // answered under its id.
                let id = || {
                    serde_json::from_str::<serde_json::Value>(text.as_str())
                        .ok()
                        .and_then(|v| v.get("id")?.as_str().map(str::to_owned))
                };
                if window.1 > MAX_COMMANDS_PER_S {
                    let msg = format!("more than {MAX_COMMANDS_PER_S} commands a second: slow down");
                    reply(&mut socket, Event::error(id(), "bad_command", msg)).await;
                    continue;
                }
                match serde_json::from_str::<Request>(text.as_str()) {
                    Ok(req) => {
                        if hub.to_engine.send(CtiInput::Command(agent, req)).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let msg = format!("not a command: {e}");
                        reply(&mut socket, Event::error(id(), "bad_command", msg)).await;
                    }
                }
            }
        }
    }
    if hub.detach(agent, conn) {
        let _ = hub.to_engine.send(CtiInput::Disconnected(agent)).await;
    }
}

async fn reply(socket: &mut WebSocket, event: Event) {
    if let Ok(text) = serde_json::to_string(&event) {
        let _ = socket.send(Message::Text(text.into())).await;
    }
}
