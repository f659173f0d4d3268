//! The supervisor's wallboard websocket, `GET /api/wallboard/ws`
//! (docs/wallboard.md), and the [`WallboardHub`] that joins it to the
//! runtime.
//!
//! The runtime renders each board once, as JSON text, and publishes it on
//! a `watch` channel ([`crate::wallboard::Board`] is its shape); a
//! connection sends the current frame as soon as it opens, then every newer
//! one. A frame a slow connection has not sent yet is replaced by the next,
//! never queued behind it: a client holds at most one frame, and nothing a
//! client does can hold up the runtime, which only ever replaces the latest
//! frame. The board is read-only: nothing a client sends reaches the engine.
//!
//! Protection: supervisors and admins only (the access table); at most
//! [`MAX_CLIENTS`] boards open at once; a client that does not take a frame
//! within [`Limits::send_within`], or says nothing — not even the pong to
//! the ping sent every [`Limits::ping_every`] — for
//! [`Limits::silence_limit`], is dropped; a message over [`MAX_MESSAGE`]
//! bytes closes the connection. The session is checked again every
//! [`Limits::session_check`], as for the CTI websocket: signing out,
//! expiry, deactivation or a role that may no longer watch closes it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{ApiState, AppError, Caller};
use crate::store::Role;

/// One rendered board, JSON text (cheap to clone: shared bytes).
pub type Frame = Utf8Bytes;

/// Boards open at once, all clients together.
pub const MAX_CLIENTS: usize = 64;
/// Longest message a client may send (it has nothing to say but pongs).
pub const MAX_MESSAGE: usize = 1024;

/// How long a connection waits for its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A frame not taken by then (the client stopped reading and the
    /// socket's buffers are full) drops the client.
    pub send_within: Duration,
    /// How often the server pings.
    pub ping_every: Duration,
    /// A client that sends nothing for this long (no pong either: it is
    /// not reading) is dropped.
    pub silence_limit: Duration,
    /// How often the session is checked again.
    pub session_check: Duration,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        send_within: Duration::from_secs(10),
        ping_every: Duration::from_secs(5),
        silence_limit: Duration::from_secs(15),
        session_check: super::cti::SESSION_CHECK,
    };
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The client closed it (or it broke).
    ClientLeft,
    /// A frame or a ping could not be sent in time.
    NotReading,
    /// The client answered nothing for the silence limit.
    Silent,
    /// The session ended or no longer allows the board.
    SessionEnded,
    /// The runtime stopped publishing (shutdown).
    ServerStopped,
}

/// Where the runtime's frames meet the websockets.
#[derive(Debug)]
pub struct WallboardHub {
    frames: watch::Receiver<Option<Frame>>,
    clients: AtomicUsize,
}

impl WallboardHub {
    /// `frames` carries the runtime's latest board (`None` before the
    /// first).
    pub fn new(frames: watch::Receiver<Option<Frame>>) -> WallboardHub {
        WallboardHub {
            frames,
            clients: AtomicUsize::new(0),
        }
    }

    /// Boards open now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// A place for one more board, or `None` when [`MAX_CLIENTS`] are open.
    fn admit(self: &Arc<Self>) -> Option<Seat> {
        self.clients
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_CLIENTS).then_some(n + 1)
            })
            .ok()?;
        Some(Seat(self.clone()))
    }
}

/// One open board; its place is given back when it is dropped.
struct Seat(Arc<WallboardHub>);

impl Drop for Seat {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Opens a live wallboard.
#[utoipa::path(get, path = "/api/wallboard/ws", tag = "wallboard",
    responses(
        (status = 101, description = "Switching to the wallboard websocket: a `board` frame at once, then one each time the board changes, at least every second (docs/wallboard.md)"),
        (status = 400, description = "Not a websocket request", body = super::ErrorBody),
        (status = 403, description = "Not a supervisor or an admin", body = super::ErrorBody),
        (status = 503, description = "No call engine runs in this process, or too many boards are open", body = super::ErrorBody)))]
pub async fn wallboard_ws(
    State(state): State<ApiState>,
    Extension(Caller(user)): Extension<Caller>,
    headers: axum::http::HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    let ws = ws.map_err(|_| AppError::BadRequest("this address takes a websocket".into()))?;
    let Some(hub) = state.wallboard.clone() else {
        return Err(AppError::Exhausted("no call engine runs in this process"));
    };
    let seat = hub
        .admit()
        .ok_or(AppError::Exhausted("too many wallboards are open"))?;
    let session = super::auth::request_token(&headers)
        .map(super::auth::token_hash)
        .unwrap_or_default();
    let store = state.store.clone();
    let frames = hub.frames.clone();
    let user_id = user.id;
    let allowed: Check = Box::new(move || {
        let (store, session) = (store.clone(), session.clone());
        Box::pin(async move { still_allowed(&store, &session, user_id).await })
    });
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move {
            let why = serve(socket, frames, allowed, Limits::DEFAULT).await;
            match why {
                Closed::NotReading | Closed::Silent => {
                    tracing::warn!(
                        user = user_id,
                        ?why,
                        "wallboard client not reading: dropped"
                    );
                }
                _ => tracing::debug!(user = user_id, ?why, "wallboard closed"),
            }
            drop(seat);
        }))
}

/// Whether the session still stands for a board.
pub type Check = Box<dyn FnMut() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send>;

/// The session stands and its user may still watch the board.
async fn still_allowed(store: &crate::store::Store, session: &str, user: i64) -> bool {
    match store.session_user(session, super::now_ms()).await {
        Ok(Some(u)) => u.id == user && matches!(u.role, Role::Supervisor | Role::Admin),
        Ok(None) => false,
        // The database is down: not the supervisor's fault; check later.
        Err(_) => true,
    }
}

/// Sends `message` unless the client has not taken the last one within
/// `within`.
async fn send<S>(socket: &mut S, message: Message, within: Duration) -> bool
where
    S: Sink<Message> + Unpin,
{
    matches!(
        tokio::time::timeout(within, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// One board's connection until it ends: the current frame, then each
/// newer one, pings, the session check. Generic over the socket so tests
/// drive it with a socket of their own.
pub async fn serve<S, E>(
    mut socket: S,
    mut frames: watch::Receiver<Option<Frame>>,
    mut allowed: Check,
    limits: Limits,
) -> Closed
where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
{
    let start = Instant::now();
    let mut ping = tokio::time::interval_at(start + limits.ping_every, limits.ping_every);
    let mut check = tokio::time::interval_at(start + limits.session_check, limits.session_check);
    let mut heard = start;
    // The board as it is now, at once (a newer one comes as `changed`).
    let first = frames.borrow_and_update().clone();
    if let Some(frame) = first
        && !send(&mut socket, Message::Text(frame), limits.send_within).await
    {
        return Closed::NotReading;
    }
    loop {
        tokio::select! {
            changed = frames.changed() => {
                if changed.is_err() {
                    let _ = send(&mut socket, Message::Close(None), limits.send_within).await;
                    return Closed::ServerStopped;
                }
                let frame = frames.borrow_and_update().clone();
                if let Some(frame) = frame
                    && !send(&mut socket, Message::Text(frame), limits.send_within).await
                {
                    return Closed::NotReading;
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() >= limits.silence_limit {
                    return Closed::Silent;
                }
                if !send(&mut socket, Message::Ping(Default::default()), limits.send_within).await {
                    return Closed::NotReading;
                }
            }
            _ = check.tick() => {
                if !allowed().await {
                    let bye = serde_json::json!({
                        "type": "error",
                        "code": "session_ended",
                        "message": "your session has ended: sign in again",
                    });
                    let _ = send(&mut socket, Message::Text(bye.to_string().into()), limits.send_within).await;
                    let _ = send(&mut socket, Message::Close(None), limits.send_within).await;
                    return Closed::SessionEnded;
                }
            }
            msg = socket.next() => match msg {
                // Pongs, and anything else: the client is there. (The
                // board takes no commands.)
                Some(Ok(Message::Close(_)) | Err(_)) | None => return Closed::ClientLeft,
                Some(Ok(_)) => heard = Instant::now(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    //! The connection loop over a socket of the test's own: frames in
    //! order and superseded ones skipped, the slow and the silent client
    //! dropped, the session's end. Short limits, real time.

    use std::sync::Mutex;
    use std::task::{Context, Poll, Waker};

    use tokio::sync::mpsc;

    use super::*;

    const QUICK: Limits = Limits {
        send_within: Duration::from_millis(200),
        ping_every: Duration::from_millis(100),
        silence_limit: Duration::from_millis(350),
        session_check: Duration::from_secs(3600),
    };

    /// A socket that keeps what was sent and reads what the test queues;
    /// stalled, it stops taking messages, like a client whose buffers are
    /// full.
    struct TestSocket {
        sent: Arc<Mutex<Vec<Message>>>,
        stall: Arc<Mutex<(bool, Option<Waker>)>>,
        incoming: mpsc::UnboundedReceiver<Message>,
    }

    impl Sink<Message> for TestSocket {
        type Error = std::io::Error;

        fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            let mut stall = self.stall.lock().unwrap();
            if stall.0 {
                stall.1 = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        }

        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
            self.sent.lock().unwrap().push(item);
            Ok(())
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    impl Stream for TestSocket {
        type Item = Result<Message, std::io::Error>;

        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.incoming.poll_recv(cx).map(|m| m.map(Ok))
        }
    }

    struct Client {
        sent: Arc<Mutex<Vec<Message>>>,
        stall: Arc<Mutex<(bool, Option<Waker>)>>,
        say: mpsc::UnboundedSender<Message>,
    }

    impl Client {
        fn texts(&self) -> Vec<String> {
            self.sent
                .lock()
                .unwrap()
                .iter()
                .filter_map(|m| match m {
                    Message::Text(t) => Some(t.to_string()),
                    _ => None,
                })
                .collect()
        }

        fn pings(&self) -> usize {
            let sent = self.sent.lock().unwrap();
            sent.iter()
                .filter(|m| matches!(m, Message::Ping(_)))
                .count()
        }

        /// Stops taking messages (`true`), or takes them again.
        fn stall(&self, on: bool) {
            let mut stall = self.stall.lock().unwrap();
            stall.0 = on;
            if let Some(w) = stall.1.take() {
                w.wake();
            }
        }
    }

    fn socket() -> (TestSocket, Client) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let stall = Arc::new(Mutex::new((false, None)));
        let (say, incoming) = mpsc::unbounded_channel();
        (
            TestSocket {
                sent: sent.clone(),
                stall: stall.clone(),
                incoming,
            },
            Client { sent, stall, say },
        )
    }

    fn always() -> Check {
        Box::new(|| Box::pin(async { true }))
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(30)).await;
    }

    #[tokio::test]
    async fn the_board_comes_at_once_then_each_newer_frame() {
        let (tx, rx) = watch::channel(Some(Frame::from("one")));
        let (socket, client) = socket();
        let task = tokio::spawn(serve(socket, rx, always(), QUICK));
        settle().await;
        assert_eq!(client.texts(), ["one"]);
        tx.send_replace(Some(Frame::from("two")));
        settle().await;
        // The client stops taking frames while "three" is on its way;
        // "four" and "five" come meanwhile: only the newest is sent when it
        // takes frames again.
        client.stall(true);
        tx.send_replace(Some(Frame::from("three")));
        settle().await;
        tx.send_replace(Some(Frame::from("four")));
        tx.send_replace(Some(Frame::from("five")));
        client.stall(false);
        settle().await;
        assert_eq!(client.texts(), ["one", "two", "three", "five"]);
        drop(tx);
        assert_eq!(task.await.unwrap(), Closed::ServerStopped);
    }

    #[tokio::test]
    async fn a_client_that_stops_taking_frames_is_dropped() {
        let (tx, rx) = watch::channel(Some(Frame::from("one")));
        let (socket, client) = socket();
        let task = tokio::spawn(serve(socket, rx, always(), QUICK));
        settle().await;
        client.stall(true);
        let stalled_at = Instant::now();
        tx.send_replace(Some(Frame::from("two")));
        let why = tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .expect("dropped in time")
            .unwrap();
        assert_eq!(why, Closed::NotReading);
        assert!(stalled_at.elapsed() >= QUICK.send_within);
        // Publishing goes on, whoever is gone.
        tx.send_replace(Some(Frame::from("three")));
    }

    #[tokio::test]
    async fn a_client_that_answers_no_ping_is_dropped_one_that_does_is_kept() {
        let (_tx, rx) = watch::channel(Some(Frame::from("one")));
        let (silent, silent_client) = socket();
        let (talking, talking_client) = socket();
        let silent_task = tokio::spawn(serve(silent, rx.clone(), always(), QUICK));
        let talking_task = tokio::spawn(serve(talking, rx, always(), QUICK));
        let pong = talking_client.say.clone();
        let answers = tokio::spawn(async move {
            loop {
                tokio::time::sleep(QUICK.ping_every / 2).await;
                if pong.send(Message::Pong(Default::default())).is_err() {
                    return;
                }
            }
        });
        let why = tokio::time::timeout(Duration::from_secs(2), silent_task)
            .await
            .expect("dropped in time")
            .unwrap();
        assert_eq!(why, Closed::Silent);
        assert!(silent_client.pings() >= 2, "it was pinged");
        assert!(!talking_task.is_finished(), "the client that answers stays");
        // It leaves: its close ends the connection.
        talking_client.say.send(Message::Close(None)).unwrap();
        let why = tokio::time::timeout(Duration::from_secs(2), talking_task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(why, Closed::ClientLeft);
        answers.abort();
    }

    #[tokio::test]
    async fn an_ended_session_closes_the_board_with_a_reason() {
        let (_tx, rx) = watch::channel(Some(Frame::from("one")));
        let (socket, client) = socket();
        let limits = Limits {
            session_check: Duration::from_millis(50),
            silence_limit: Duration::from_secs(60),
            ..QUICK
        };
        let ended: Check = Box::new(|| Box::pin(async { false }));
        let why = tokio::time::timeout(Duration::from_secs(2), serve(socket, rx, ended, limits))
            .await
            .unwrap();
        assert_eq!(why, Closed::SessionEnded);
        let texts = client.texts();
        assert!(texts.last().unwrap().contains("session_ended"), "{texts:?}");
        assert!(matches!(
            client.sent.lock().unwrap().last(),
            Some(Message::Close(_))
        ));
    }
}
