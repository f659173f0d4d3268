//! The supervisor's wallboard end to end, against the real binary: a
//! websocket client of `/api/wallboard/ws` reads the board while an agent
//! (her screen a CTI websocket client, her desk phone a sipp process that
//! registers and answers) and callers (our test phone, and sipp) move
//! through the system, and checks what a supervisor would see: the agent
//! ready, then not ready with her reason; a caller waiting, the longest
//! wait growing and the wait alert raised past `alert_wait_secs`; the
//! answer on the agent with its duration, the day's answered calls,
//! average speed of answer (the call record's wait) and service level,
//! the alert gone; a caller who hangs up in the queue counted abandoned
//! and the service level falling below target with its alert. An agent is
//! refused the board (403); a board that stops reading is dropped while
//! the other keeps getting updates.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::desk::DeskPhone;
use common::screen::Screen;
use common::{Server, call_to_agent_queue, have_sipp, scenario, sipp};
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

const PASSWORD: &str = "wallboard-password-1";
/// The test phone's number: no customer, no open ticket.
const CALLER: &str = "13912340077";
/// The sipp caller who gives up in the queue.
const QUITTER: &str = "13700000001";
/// A caller waiting longer than this is an alert (the test's config).
const ALERT_WAIT_S: i64 = 3;

/// A wallboard: a websocket client of `/api/wallboard/ws`. A reading
/// board reads on a thread of its own (so it answers the server's pings
/// however long the test is busy elsewhere) and keeps the latest frame.
struct Board {
    frames_rx: std::sync::mpsc::Receiver<Result<Value, String>>,
    last: Value,
    frames: usize,
}

/// Opens the board for `token`'s user: the socket, or the HTTP status of
/// the refusal.
fn connect(server: &Server, token: &str) -> Result<WebSocket<TcpStream>, u16> {
    let stream = TcpStream::connect(server.http).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let request = tungstenite::http::Request::builder()
        .uri(format!("ws://{}/api/wallboard/ws", server.http))
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
    match tungstenite::client(request, stream) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
            Err(resp.status().as_u16())
        }
        Err(e) => panic!("wallboard handshake: {e}"),
    }
}

/// Reads one message: a frame, nothing yet (`Ok(None)`), or the end.
fn read_frame(ws: &mut WebSocket<TcpStream>) -> Result<Option<Value>, String> {
    match ws.read() {
        Ok(Message::Text(t)) => {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            assert_eq!(v["type"], "board", "{v}");
            Ok(Some(v))
        }
        Ok(Message::Close(frame)) => Err(format!("closed: {frame:?}")),
        Ok(_) => Ok(None),
        Err(tungstenite::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e.to_string()),
    }
}

impl Board {
    fn open(server: &Server, token: &str) -> Result<Board, u16> {
        let mut ws = connect(server, token)?;
        let (tx, frames_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            loop {
                match read_frame(&mut ws) {
                    Ok(Some(v)) => {
                        if tx.send(Ok(v)).is_err() {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        Ok(Board {
            frames_rx,
            last: Value::Null,
            frames: 0,
        })
    }

    /// The next frame within `within`; `Err` once the connection is closed.
    fn next(&mut self, within: Duration) -> Result<Option<Value>, String> {
        match self.frames_rx.recv_timeout(within) {
            Ok(Ok(v)) => {
                self.frames += 1;
                self.last = v.clone();
                Ok(Some(v))
            }
            Ok(Err(e)) => Err(e),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The first frame for which `want` holds, within `within`.
    fn until(&mut self, what: &str, within: Duration, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            match self.next(deadline.saturating_duration_since(Instant::now())) {
                Ok(Some(v)) if want(&v) => return v,
                Ok(_) => {}
                Err(e) => panic!("{what}: the board closed ({e}); last frame {:#}", self.last),
            }
        }
        panic!(
            "{what}: not on the board within {within:?}; last frame {:#}",
            self.last
        );
    }
}

fn queue<'a>(board: &'a Value, name: &str) -> &'a Value {
    board["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("queue {name} in {board:#}"))
}

fn agent<'a>(board: &'a Value, username: &str) -> Option<&'a Value> {
    board["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["username"] == username)
}

fn agent_is(board: &Value, username: &str, state: &str) -> bool {
    agent(board, username).is_some_and(|a| a["state"] == state)
}

fn call_of<'a>(board: &'a Value, caller: &str) -> Option<&'a Value> {
    board["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["caller"] == caller)
}

fn alerts<'a>(board: &'a Value, kind: &str) -> Vec<&'a Value> {
    board["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == kind)
        .collect()
}

fn config() -> std::path::PathBuf {
    let path = common::temp_dir("wallboard-cfg").join("hotline.toml");
    std::fs::write(
        &path,
        format!(
            "[monitoring]\nalert_wait_secs = {ALERT_WAIT_S}\nservice_level_secs = 20\n\
             service_level_target = 80\nalert_not_ready_mins = 15\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn the_board_follows_callers_and_agents_and_raises_alerts() {
    if !have_sipp() {
        return;
    }
    let config = config();
    let server = Server::start(&["--config", config.to_str().unwrap()]);
    let (_ann, ann_token) = server.add_user("ann", "agent", PASSWORD);
    let (_sue, sue_token) = server.add_user("sue", "supervisor", PASSWORD);

    // An agent is refused; a supervisor gets the board at once.
    assert_eq!(connect(&server, &ann_token).err(), Some(403));
    let opened = Instant::now();
    let mut board = Board::open(&server, &sue_token).expect("the supervisor's board");
    let first = board
        .next(Duration::from_secs(1))
        .unwrap()
        .expect("a frame at connect");
    assert!(opened.elapsed() < Duration::from_secs(1));
    let names: Vec<&str> = first["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"general"), "{names:?}");
    assert_eq!(first["totals"]["waiting"], 0);
    assert_eq!(first["thresholds"]["alert_wait_secs"], ALERT_WAIT_S);
    assert_eq!(queue(&first, "general")["service_level"], Value::Null);

    // A second board (the admin's) that reads its first frame and then
    // nothing more: it must be dropped while Sue's goes on.
    let mut stalled = connect(&server, &server.token).expect("the admin's board");
    let deadline = Instant::now() + Duration::from_secs(1);
    while read_frame(&mut stalled).unwrap().is_none() {
        assert!(Instant::now() < deadline, "no first frame");
    }
    let stalled_at = Instant::now();
    let frames_at_stall = board.frames;

    // Ann opens her screen: not ready (just signed in); her phone
    // registers, she is ready, then takes a break.
    let mut screen = Screen::open(&server, &ann_token);
    screen.wait("hello", Duration::from_secs(5));
    let f = board.until("ann signed in", Duration::from_secs(3), |b| {
        agent_is(b, "ann", "not_ready")
    });
    let ann = agent(&f, "ann").unwrap();
    assert_eq!(ann["reason"], "login");
    assert_eq!(ann["online"], true);
    assert_eq!(ann["handled_today"], 0);
    let phone = DeskPhone::register(&server, "ann", PASSWORD, "agent_phone_tone.xml", false);
    assert_eq!(screen.command("r1", json!({"type": "ready"}))["type"], "ok");
    let f = board.until("ann ready", Duration::from_secs(3), |b| {
        agent_is(b, "ann", "ready")
    });
    assert_eq!(queue(&f, "general")["agents_ready"], 1);
    let changed = Instant::now();
    let answer = screen.command("n1", json!({"type": "not_ready", "reason": "break"}));
    assert_eq!(answer["type"], "ok", "{answer}");
    let f = board.until("ann on a break", Duration::from_secs(3), |b| {
        agent_is(b, "ann", "not_ready") && agent(b, "ann").unwrap()["reason"] == "break"
    });
    // Updates within a second.
    assert!(
        changed.elapsed() < Duration::from_secs(1),
        "{:?}",
        changed.elapsed()
    );
    assert_eq!(queue(&f, "general")["agents_ready"], 0);

    // A caller walks the IVR to the queue and waits: waiting, longest
    // wait, the call listed; past the threshold, the wait alert.
    let mut caller = call_to_agent_queue(&server, CALLER);
    let f = board.until("the caller waiting", Duration::from_secs(3), |b| {
        queue(b, "general")["waiting"] == 1
    });
    let call = call_of(&f, CALLER)
        .expect("the waiting call is listed")
        .clone();
    assert_eq!(call["state"], "waiting");
    assert_eq!(call["queue"], "general");
    let call_id = call["id"].as_str().unwrap().to_owned();
    let f = board.until(
        "the wait alert",
        Duration::from_secs(ALERT_WAIT_S as u64 + 3),
        |b| !alerts(b, "long_wait").is_empty(),
    );
    let alert = alerts(&f, "long_wait")[0];
    assert_eq!(alert["caller"], CALLER);
    assert_eq!(alert["call"], call_id.as_str());
    assert_eq!(alert["queue"], "general");
    assert!(
        alert["wait_ms"].as_i64().unwrap() > ALERT_WAIT_S * 1000,
        "{alert}"
    );
    let longest = queue(&f, "general")["longest_wait_ms"].as_i64().unwrap();
    assert!(longest > ALERT_WAIT_S * 1000, "{longest}");
    assert_eq!(f["totals"]["waiting"], 1);

    // Ann is ready: her phone rings and answers. The board shows her on
    // the call with its duration growing, the day's answer, the wait as
    // average speed of answer, 100 % service level; the alert is gone.
    assert_eq!(screen.command("r2", json!({"type": "ready"}))["type"], "ok");
    screen.wait("answered", Duration::from_secs(10));
    let f = board.until("ann on the call", Duration::from_secs(3), |b| {
        agent_is(b, "ann", "on_call") && queue(b, "general")["answered"] == 1
    });
    let on_call = agent(&f, "ann").unwrap();
    assert_eq!(on_call["call"]["id"], call_id.as_str());
    assert_eq!(on_call["call"]["caller"], CALLER);
    assert_eq!(call_of(&f, CALLER).unwrap()["state"], "talking");
    assert_eq!(call_of(&f, CALLER).unwrap()["agent_name"], "ann");
    assert!(alerts(&f, "long_wait").is_empty(), "{:#}", f["alerts"]);
    let general = queue(&f, "general");
    assert_eq!(general["waiting"], 0);
    assert_eq!(general["service_level"], 1.0);
    assert_eq!(general["answered_in_time"], 1);
    let asa = general["asa_ms"].as_i64().unwrap();
    assert!(asa > ALERT_WAIT_S * 1000, "{general}");
    let f = board.until("the call's duration grows", Duration::from_secs(5), |b| {
        agent(b, "ann").unwrap()["call"]["duration_ms"]
            .as_i64()
            .is_some_and(|d| d >= 2_000)
    });
    assert!(agent(&f, "ann").unwrap()["in_state_ms"].as_i64().unwrap() >= 2_000);

    // The caller hangs up: Ann wraps up with one call handled today.
    caller.hang_up();
    screen.wait("ended", Duration::from_secs(5));
    let f = board.until("ann wrapping up", Duration::from_secs(3), |b| {
        agent_is(b, "ann", "wrap_up") && call_of(b, CALLER).is_none()
    });
    assert_eq!(agent(&f, "ann").unwrap()["handled_today"], 1);
    assert!(
        phone.finished(Duration::from_secs(10)),
        "ann's phone saw the BYE"
    );
    // The average speed of answer is the call record's wait.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = server.get(&format!("/api/calls/{call_id}"));
        let v: Value = serde_json::from_str(&body).unwrap();
        let record = v.get("call").cloned().unwrap_or(v);
        if let Some(wait) = record["wait_ms"].as_i64() {
            assert_eq!(wait, asa, "{record}");
            break;
        }
        assert!(Instant::now() < deadline, "no wait on {record}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let done = screen.command(
        "w1",
        json!({"type": "end_wrap_up", "disposition": "resolved", "notes": ""}),
    );
    assert_eq!(done["type"], "ok", "{done}");
    screen.command("n2", json!({"type": "not_ready", "reason": "break"}));

    // A sipp caller reaches the queue and hangs up there: abandoned; one
    // of two in time is 50 %, below the 80 % target: the alert.
    let target = server.sip;
    let path = scenario(QUITTER, &[('1', 1000), ('0', 1500)], 4000);
    let quitter = std::thread::spawn(move || {
        sipp(
            path.to_str().unwrap(),
            target,
            &["-t", "u1", "-m", "1", "-rtp_echo"],
        )
    });
    board.until("the sipp caller waiting", Duration::from_secs(15), |b| {
        call_of(b, QUITTER).is_some_and(|c| c["state"] == "waiting")
    });
    let f = board.until("the abandon", Duration::from_secs(15), |b| {
        queue(b, "general")["abandoned"] == 1
    });
    let (ok, out) = quitter.join().unwrap();
    assert!(ok, "sipp:\n{out}");
    let general = queue(&f, "general");
    assert_eq!(general["waiting"], 0);
    assert_eq!(general["answered"], 1);
    assert_eq!(general["service_level"], 0.5);
    let sl = alerts(&f, "service_level");
    assert_eq!(sl.len(), 1, "{:#}", f["alerts"]);
    assert_eq!(sl[0]["queue"], "general");
    assert_eq!(sl[0]["service_level"], 0.5);
    assert_eq!(sl[0]["target"], 0.8);
    assert_eq!(f["totals"]["abandoned"], 1);

    // The board that stopped reading was dropped (it answered no ping);
    // Sue's went on all along and still does.
    while stalled_at.elapsed() < Duration::from_secs(25) {
        board
            .next(Duration::from_millis(500))
            .expect("sue's board stays open");
    }
    while board.next(Duration::ZERO).expect("open").is_some() {}
    let got = board.frames - frames_at_stall;
    assert!(got >= 20, "sue's board got {got} frames in 25 s");
    let deadline = Instant::now() + Duration::from_secs(10);
    let closed = loop {
        // What it had not read yet, then the end.
        match read_frame(&mut stalled) {
            Err(e) => break Some(e),
            Ok(_) if Instant::now() > deadline => break None,
            Ok(_) => {}
        }
    };
    assert!(
        closed.is_some(),
        "the stalled board is still open after 35 s"
    );
    assert!(
        server
            .log()
            .contains("wallboard client not reading: dropped"),
        "the drop is logged"
    );
    board.until("frames after the drop", Duration::from_secs(3), |_| true);
}
