//! An agent's screen for tests: a websocket client of `/api/agent/ws`
//! (signed in with a bearer token) that keeps every event it read.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use super::Server;

pub struct Screen {
    pub ws: WebSocket<TcpStream>,
    /// Every event read, in order.
    pub seen: Vec<Value>,
}

impl Screen {
    pub fn open(server: &Server, token: &str) -> Screen {
        let stream = TcpStream::connect(server.http).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let request = tungstenite::http::Request::builder()
            .uri(format!("ws://{}/api/agent/ws", server.http))
            .header("Host", server.http.to_string())
            .header("Authorization", format!("Bearer {token}"))
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header(
                "Sec-WebSocket-Key",
                tungstenite::handshake::client::generate_key(),
            )
            .body(())
            .unwrap();
        let (ws, _) = tungstenite::client(request, stream).expect("websocket opens");
        Screen {
            ws,
            seen: Vec::new(),
        }
    }

    pub fn send(&mut self, command: &Value) {
        self.send_text(&command.to_string());
    }

    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::Text(text.to_owned().into())).unwrap();
    }

    /// The next event for which `want` holds (every event is kept in
    /// `seen`); `Err` with the reason the connection closed.
    pub fn next(
        &mut self,
        within: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> Result<Option<Value>, String> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    self.seen.push(v.clone());
                    if want(&v) {
                        return Ok(Some(v));
                    }
                }
                Ok(Message::Close(frame)) => return Err(format!("closed: {frame:?}")),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(None)
    }

    /// The next event for which `want` holds, `None` if none came within
    /// `within`; a closed connection fails the test.
    pub fn wait_for(&mut self, within: Duration, want: impl Fn(&Value) -> bool) -> Option<Value> {
        self.next(within, want)
            .unwrap_or_else(|e| panic!("websocket: {e}; saw {:#?}", self.seen))
    }

    /// The next event of `kind`.
    pub fn wait(&mut self, kind: &str, within: Duration) -> Value {
        match self.next(within, |e| e["type"] == kind) {
            Ok(Some(v)) => v,
            other => panic!(
                "no {kind} event in {within:?} ({other:?}); saw {:#?}",
                self.seen
            ),
        }
    }

    /// The first `kind` event at index `from` of `seen` or later, waiting
    /// for it if it has not come yet (a command's events come before its
    /// answer).
    pub fn wait_from(&mut self, from: usize, kind: &str, within: Duration) -> Value {
        if let Some(v) = self.seen[from.min(self.seen.len())..]
            .iter()
            .find(|e| e["type"] == kind)
        {
            return v.clone();
        }
        self.wait(kind, within)
    }

    /// Sends a command and waits for its answer (`ok` or `error`).
    pub fn command(&mut self, id: &str, mut command: Value) -> Value {
        command["id"] = json!(id);
        self.send_text(&command.to_string());
        match self.next(Duration::from_secs(10), |e| {
            e["id"] == id && (e["type"] == "ok" || e["type"] == "error")
        }) {
            Ok(Some(v)) => v,
            other => panic!("no answer to {id} ({other:?}); saw {:#?}", self.seen),
        }
    }
}
