//! The ACD under load, against a RUNNING hotline: how soon an agent's
//! screen rings with the caller's history, and how many calls the server
//! bridges between callers and agents' phones with clean audio.
//!
//! The tool plays every party itself:
//!
//! - **the carrier's trunk**: one SIP/UDP socket placing calls to the 400
//!   number (INVITE with SDP, ACK, BYE, retransmissions at T1 doubling),
//!   each call with its own RTP socket sending a 400 Hz PCMU tone every
//!   20 ms; the callers' numbers are the demo customers' (`GET
//!   /api/customers`), so their screen pops have content;
//! - **the agents' desk phones**: one SIP/UDP socket on which every agent's
//!   phone REGISTERs with digest authentication (`Contact:
//!   <sip:USER@127.0.0.1:PORT>`, told apart by the Request-URI's user). A
//!   phone answers an INVITE with 180, then 200 with SDP after
//!   `--answer-ms`, and sends a 1 kHz PCMU tone every 20 ms from an RTP
//!   socket of its own for that call;
//! - **the agents' screens**: one CTI websocket per agent
//!   (`/api/agent/ws` with `Authorization: Bearer` from `POST /api/login`),
//!   sending `ready`, `end_wrap_up`, `not_ready`, reading every event.
//!
//! Setup it does itself: signs in as the admin given by `--admin`,
//! creates the agents `PREFIX-0001`... (`POST /api/users`, role agent,
//! queue `--queue`; an existing one is reused), signs each in, opens its
//! websocket and registers its phone. `--write-flows DIR` writes a flows
//! folder whose start node is a queue node and prints the server's command
//! line, then exits.
//!
//! Two measurements (`--mode pop`, `--mode bridge`, or both, the default):
//!
//! 1. **Screen pop** (`--agents 200 --calls 100 --rounds 3`): first
//!    `--history 10` short calls from each of the 100 callers' numbers (the
//!    demo data has tickets and products but no calls), so every pop lists
//!    calls too. Then, per round: all agents connected and not ready; the
//!    callers are placed and wait in the queue; then the agents send `ready` in bursts (`--burst` every
//!    `--burst-gap-ms`, in a shuffled order). The ACD's choice sends the
//!    phone's INVITE and the websocket's `offered` (after the pop is read).
//!    Per offer: `offered` on the websocket minus the INVITE at the phone's
//!    socket, both kernel receive timestamps (SO_TIMESTAMPNS, on the TCP
//!    socket too, read through a `Read` wrapper around `recvmsg`), and from
//!    `ready` written to `offered`. Every `offered` must carry a pop with
//!    the caller's customer; the phone's INVITE must name the same caller.
//!    The phones answer, the calls are held a second and hung up, the
//!    agents end the wrap-up and go not ready; then the next round.
//! 2. **Bridged calls** (`--levels 100,200,400,800 --hold 20`): per level
//!    N, N callers wait in the queue, N agents go ready, every phone
//!    answers, and once all N are bridged the tool measures for `--hold`
//!    seconds, at both ends (what the server sends the callers and what it
//!    sends the phones): RTP loss (sequence gaps), skipped slots (timestamp
//!    jumps), pacing |inter-arrival - 20 ms| from kernel timestamps, that
//!    the audio is the other side's (zero crossings of every 8th packet:
//!    16 for the caller's 400 Hz, 40 for the phone's 1 kHz), our packets the
//!    server's full sockets dropped, and with `--server-pid` the server's
//!    CPU. A level passes with every call offered, answered, bridged and
//!    hung up by us, no loss or skipped slot either way, p99 pacing within
//!    2 ms at both ends and the other side's tone in 99 % of the checked
//!    packets. The levels go on past a pacing failure, up to the first that
//!    loses calls or audio.
//!
//! 3. **The wallboard** (`--mode wallboard`, not in `both`;
//!    `--wb-agents 300 --wb-calls 500 --hold 60`): the agents connect and
//!    register, the callers are placed and wait in the queue, the agents go
//!    ready and take as many of them as they can (300 bridged, 200 still
//!    waiting: 500 calls up). `--wb-boards` supervisors' wallboards read
//!    `/api/wallboard/ws` on threads of their own; the first is measured.
//!    Every `--wb-every-ms` the tool changes the floor and times how long
//!    until a frame shows it, from the change sent to the frame's kernel
//!    receive timestamp: an agent's `hold` (or `resume`) written on their
//!    websocket → the first frame with them on_hold (on_call); a new call's
//!    INVITE (every second probe, from a number of its own, hung up 3 s
//!    later) → the first frame listing its caller. Also: frames a second,
//!    their size, the server's and the tool's CPU, and what building and
//!    serialising one frame of that size costs (`hotline::wallboard`, in
//!    this process).
//!
//! Only std, serde_json, tungstenite (a dev-dependency) and hotline's own
//! RTP, G.711 and digest code. Linux only (epoll and recvmsg are declared
//! here by hand, as in benches/rtp_load.rs).
//!
//! Run: `cargo bench --bench acd_load -- --server-pid PID [--mode pop|bridge|both]
//!       [--server 127.0.0.1:5060] [--http 127.0.0.1:8080] [--admin admin:hotline-demo]
//!       [--agents 200] [--calls 100] [--rounds 3] [--history 10] [--burst 20] [--burst-gap-ms 500]
//!       [--levels 100,200,400,800] [--hold 20] [--answer-ms 300] [--rtp-base 40000]
//!       [--mode wallboard --wb-agents 300 --wb-calls 500 --wb-boards 1 --wb-every-ms 500]`
//! Prints a human summary and `RESULT ...` lines for scripts.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use hotline::media::rtp;
use hotline::sip::digest;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

#[path = "common/load.rs"]
mod load;
use load::{
    Hist, ProblemList, SendCmd, SendStats, TsStream, admin_login, agent_session, box_busy,
    cpu_seconds, crossings, header, http, in_dialog_text, invite_text, note_problem, open_ws,
    open_ws_at, print_counts_and_problems, quantile, register_answer, response, rss_and_fds,
    run_queue_wait_ns, sdp_dest, sdp_offer, sender, sip_sockets_and_epolls, sip_user, socket_drops,
    sys, udp_rcvbuf_errors, wall_ns,
};

const FRAME_NS: i64 = 20_000_000;
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TX_TIMEOUT: Duration = Duration::from_secs(32);
/// The callers' tone and the phones' tone.
const CALLER_HZ: f64 = 400.0;
const PHONE_HZ: f64 = 1000.0;
/// Zero crossings in 160 samples of each tone (8 and 20 periods).
const CALLER_CROSSINGS: u32 = 16;
const PHONE_CROSSINGS: u32 = 40;
/// Stream ids of the phones' RTP sockets carry this bit.
const PHONE_BIT: u32 = 1 << 31;
/// Tokens of the control epoll: the two SIP sockets, then the websockets.
const TOKEN_TRUNK: u64 = 1;
const TOKEN_PHONES: u64 = 2;
const TOKEN_WS: u64 = 1 << 32;

/// Callers go straight to the queue and hear the hold music until an
/// agent answers (like the FLOW of src/engine/tests/acd.rs, without the
/// welcome, so a call is queued as soon as it is answered).
const FLOW: &str = r#"# Written by benches/acd_load.rs: every call goes straight to the queue.
description = "ACD load benchmark: straight to the general queue"
start = "q"

[node.q]
kind = "queue"
queue = "general"
hold = ["hold-music"]
max_wait = "3600s"
after_wait = "bye"

[node.bye]
kind = "hangup"
prompt = "goodbye"
"#;

// ----- the few libc calls std does not offer ---------------------------------

// ----- arguments --------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pop,
    Bridge,
    Both,
    Wallboard,
}

struct Args {
    mode: Mode,
    server: SocketAddr,
    http: SocketAddr,
    number: String,
    admin: (String, String),
    prefix: String,
    agent_password: String,
    realm: String,
    queue: String,
    agents: usize,
    calls: usize,
    rounds: usize,
    history: usize,
    burst: usize,
    burst_gap: Duration,
    answer: Duration,
    levels: Vec<usize>,
    hold: Duration,
    rate: f64,
    server_pid: Option<u32>,
    rtp_base: u16,
    write_flows: Option<String>,
    all_levels: bool,
    wb_agents: usize,
    wb_calls: usize,
    wb_boards: usize,
    wb_every: Duration,
}

fn parse_args() -> Args {
    let mut a = Args {
        mode: Mode::Both,
        server: "127.0.0.1:5060".parse().unwrap(),
        http: "127.0.0.1:8080".parse().unwrap(),
        number: "4008001234".into(),
        admin: ("admin".into(), "hotline-demo".into()),
        prefix: "bench-agent".into(),
        agent_password: "bench-agent-password".into(),
        realm: "hotline".into(),
        queue: "general".into(),
        agents: 200,
        calls: 100,
        rounds: 3,
        history: 10,
        burst: 20,
        burst_gap: Duration::from_millis(500),
        answer: Duration::from_millis(300),
        levels: vec![100, 200, 400, 800],
        hold: Duration::from_secs(20),
        rate: 0.0,
        server_pid: None,
        rtp_base: 40_000,
        write_flows: None,
        all_levels: false,
        wb_agents: 300,
        wb_calls: 500,
        wb_boards: 1,
        wb_every: Duration::from_millis(500),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        // `cargo bench` passes --bench; ignore it.
        if flag == "--bench" {
            continue;
        }
        if flag == "--all-levels" {
            a.all_levels = true;
            continue;
        }
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--mode" => {
                a.mode = match v.as_str() {
                    "pop" => Mode::Pop,
                    "bridge" => Mode::Bridge,
                    "both" => Mode::Both,
                    "wallboard" => Mode::Wallboard,
                    _ => panic!("--mode pop|bridge|both|wallboard"),
                }
            }
            "--server" => a.server = v.parse().expect("--server ADDR:PORT"),
            "--http" => a.http = v.parse().expect("--http ADDR:PORT"),
            "--number" => a.number = v,
            "--admin" => {
                let (u, p) = v.split_once(':').expect("--admin USER:PASSWORD");
                a.admin = (u.into(), p.into());
            }
            "--agent-prefix" => a.prefix = v,
            "--agent-password" => a.agent_password = v,
            "--realm" => a.realm = v,
            "--queue" => a.queue = v,
            "--agents" => a.agents = v.parse().expect("--agents N"),
            "--calls" => a.calls = v.parse().expect("--calls N"),
            "--rounds" => a.rounds = v.parse().expect("--rounds N"),
            "--history" => a.history = v.parse().expect("--history N"),
            "--burst" => a.burst = v.parse::<usize>().expect("--burst N").max(1),
            "--burst-gap-ms" => {
                a.burst_gap = Duration::from_millis(v.parse().expect("--burst-gap-ms MS"));
            }
            "--answer-ms" => a.answer = Duration::from_millis(v.parse().expect("--answer-ms MS")),
            "--levels" => {
                a.levels = v
                    .split(',')
                    .map(|x| x.trim().parse().expect("--levels N,N,..."))
                    .collect();
            }
            "--hold" => a.hold = Duration::from_secs_f64(v.parse().expect("--hold SECONDS")),
            "--rate" => a.rate = v.parse().expect("--rate CPS"),
            "--server-pid" => a.server_pid = Some(v.parse().expect("--server-pid PID")),
            "--rtp-base" => a.rtp_base = v.parse().expect("--rtp-base PORT"),
            "--write-flows" => a.write_flows = Some(v),
            "--wb-agents" => a.wb_agents = v.parse().expect("--wb-agents N"),
            "--wb-calls" => a.wb_calls = v.parse().expect("--wb-calls N"),
            "--wb-boards" => a.wb_boards = v.parse::<usize>().expect("--wb-boards N").max(1),
            "--wb-every-ms" => {
                a.wb_every = Duration::from_millis(v.parse().expect("--wb-every-ms MS"));
            }
            _ => panic!("unknown option {flag}"),
        }
    }
    a
}

// ----- HTTP, just enough for the setup -----------------------------------------

fn die(what: &str) -> ! {
    eprintln!("acd_load: {what}");
    std::process::exit(2);
}

// ----- audio -------------------------------------------------------------------

// ----- RTP we receive ---------------------------------------------------------

#[derive(Default, Clone)]
struct RxStream {
    packets: u64,
    first_ext: i64,
    max_ext: i64,
    last_arrival: i64,
    last_ts: u32,
    out_of_order: u64,
    skipped_slots: u64,
    bad_pt: u64,
    tone_checked: u64,
    tone_ok: u64,
}

/// What the receiver thread has seen; side 0 is what the server sends the
/// callers, side 1 what it sends the phones.
struct Rx {
    streams: HashMap<u32, RxStream>,
    all: [Hist; 2],
    window: [Hist; 2],
    /// Zero-crossing counts of checked packets that were not the other
    /// side's tone, per side (what came instead: silence is 0).
    wrong_tone: [HashMap<u32, u64>; 2],
    not_rtp: u64,
    no_kernel_ts: u64,
}

struct Packet {
    stream: u32,
    arrival: i64,
    header: rtp::RtpHeader,
    crossings: Option<u32>,
}

/// Reads every RTP socket registered on `epfd` until `stop`. `window` is
/// the wall-clock span (kernel timestamps' clock) in which pacing and tone
/// are measured.
fn receiver(epfd: i32, stop: Arc<AtomicBool>, window: Arc<[AtomicI64; 2]>, shared: Arc<Mutex<Rx>>) {
    let mut events = vec![sys::EpollEvent { events: 0, data: 0 }; 512];
    let mut buf = [0u8; 2048];
    let mut batch: Vec<Packet> = Vec::with_capacity(1024);
    let mut no_ts = 0u64;
    let mut not_rtp = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: the buffer holds `events.len()` entries.
        let n = unsafe { sys::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, 50) };
        let w = (
            window[0].load(Ordering::Relaxed),
            window[1].load(Ordering::Relaxed),
        );
        for ev in &events[..n.max(0) as usize] {
            let data = ev.data;
            let stream = (data >> 32) as u32;
            let fd = (data & 0xFFFF_FFFF) as i32;
            while let Ok((len, ts)) = sys::recv_ts(fd, &mut buf, sys::MSG_DONTWAIT) {
                let arrival = ts.unwrap_or_else(|| {
                    no_ts += 1;
                    wall_ns()
                });
                let Ok(p) = rtp::parse(&buf[..len]) else {
                    not_rtp += 1;
                    continue;
                };
                let in_window = arrival >= w.0 && arrival < w.1;
                let crossings = (in_window && p.header.sequence % 8 == 0 && p.payload.len() == 160)
                    .then(|| crossings(p.payload));
                batch.push(Packet {
                    stream,
                    arrival,
                    header: p.header,
                    crossings,
                });
            }
        }
        if batch.is_empty() && no_ts == 0 && not_rtp == 0 {
            continue;
        }
        let mut r = shared.lock().unwrap();
        r.no_kernel_ts += std::mem::take(&mut no_ts);
        r.not_rtp += std::mem::take(&mut not_rtp);
        for p in batch.drain(..) {
            on_packet(&mut r, &p, w);
        }
    }
}

fn on_packet(r: &mut Rx, p: &Packet, w: (i64, i64)) {
    let side = usize::from(p.stream & PHONE_BIT != 0);
    let h = &p.header;
    if let Some(x) = p.crossings {
        // The caller hears the phone's 1 kHz, the phone the caller's 400 Hz.
        let want = if side == 0 {
            PHONE_CROSSINGS
        } else {
            CALLER_CROSSINGS
        };
        let ok = x.abs_diff(want) <= 3;
        if !ok {
            *r.wrong_tone[side].entry(x).or_default() += 1;
        }
        let c = r.streams.entry(p.stream).or_default();
        c.tone_checked += 1;
        c.tone_ok += u64::from(ok);
    }
    let c = r.streams.entry(p.stream).or_default();
    if h.payload_type != 0 && h.payload_type != 8 {
        c.bad_pt += 1;
    }
    if c.packets == 0 {
        c.packets = 1;
        c.first_ext = i64::from(h.sequence);
        c.max_ext = c.first_ext;
        c.last_arrival = p.arrival;
        c.last_ts = h.timestamp;
        return;
    }
    // Extend the 16-bit sequence number around the highest seen so far.
    let last16 = (c.max_ext & 0xFFFF) as u16;
    let delta = i64::from(h.sequence.wrapping_sub(last16) as i16);
    if delta <= 0 {
        c.out_of_order += 1;
        return;
    }
    c.packets += 1;
    let (last_arrival, last_ts) = (c.last_arrival, c.last_ts);
    c.max_ext += delta;
    c.last_arrival = p.arrival;
    c.last_ts = h.timestamp;
    if delta == 1 {
        let step = h.timestamp.wrapping_sub(last_ts);
        if step > 160 && step < 160 * 50 * 3600 {
            c.skipped_slots += u64::from(step / 160 - 1);
        }
        let dev = (p.arrival - last_arrival - FRAME_NS).abs();
        r.all[side].add(dev);
        if last_arrival >= w.0 && p.arrival < w.1 {
            r.window[side].add(dev);
        }
    }
}

// ----- SIP text ----------------------------------------------------------------

/// A quoted or bare parameter of a digest challenge.
fn auth_param(challenge: &str, name: &str) -> Option<String> {
    let at = challenge.find(&format!("{name}="))? + name.len() + 1;
    let rest = &challenge[at..];
    Some(match rest.strip_prefix('"') {
        Some(q) => q.split('"').next()?.to_owned(),
        None => rest.split([',', ' ', '\r', '\n']).next()?.trim().to_owned(),
    })
}

// ----- a websocket whose reads carry kernel receive timestamps ----------------

// ----- the parties -----------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Outcome {
    Ok,
    SetupRefused(u16),
    SetupTimeout,
    HungUpByServer,
    ByeTimeout,
    ByeRefused(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    Inviting,
    Up,
    Byeing,
    Done(Outcome),
}

/// A caller on the trunk.
struct Caller {
    number: String,
    /// Closed once the call is over and measured.
    rtp: Option<Arc<UdpSocket>>,
    stream: u32,
    state: CallState,
    /// The INVITE or BYE, for retransmissions.
    text: String,
    first_sent: Instant,
    next_retx: Option<Instant>,
    interval: Duration,
    /// The To of the 200 (with the server's tag), and its Contact.
    to: String,
    target: String,
    /// The Via branch of the INVITE (a failure's ACK reuses it).
    branch: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegPhase {
    Ringing,
    /// 200 sent, no ACK yet.
    Answered,
    Confirmed,
    Over,
}

/// A call the server placed to an agent's phone.
struct Leg {
    agent: usize,
    head: String,
    to_tag: String,
    server_rtp: Option<SocketAddr>,
    rtp: Arc<UdpSocket>,
    stream: u32,
    phase: LegPhase,
    /// The latest response, sent again for a retransmitted INVITE.
    last: String,
    answer_at: Instant,
    first_ok: Instant,
    next_retx: Option<Instant>,
    interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegPhase {
    Idle,
    Sent,
    Registered,
    Failed,
}

/// What the screen pop of one `offered` held.
#[derive(Debug, Clone, Default)]
struct PopInfo {
    present: bool,
    customer: bool,
    phone_match: bool,
    recent_calls: usize,
    open_tickets: usize,
    products: usize,
    bytes: usize,
}

/// One offer to one agent, as seen by their screen and phone.
#[derive(Debug, Clone, Default)]
struct Offer {
    ready_ns: Option<i64>,
    burst: usize,
    invite_ns: Option<i64>,
    invite_caller: Option<String>,
    invites: u32,
    ringing_ns: Option<i64>,
    offered_ns: Option<i64>,
    offered_kernel_ts: bool,
    offered_caller: Option<String>,
    /// The offered call's id (to hold it).
    call_id: Option<String>,
    offers: u32,
    pop: Option<PopInfo>,
    answered_ns: Option<i64>,
    cancelled: u32,
    ended: Option<String>,
}

struct Agent {
    name: String,
    ws: Option<WebSocket<TsStream>>,
    flush: bool,
    hello: bool,
    state: String,
    reason: String,
    reg: RegPhase,
    reg_text: String,
    reg_cseq: u32,
    reg_first: Instant,
    reg_next: Option<Instant>,
    reg_interval: Duration,
    reg_refresh: Instant,
    reg_expires: u32,
    m: Offer,
    cmd: u32,
}

/// One `offered`, measured.
struct PopSample {
    invite_to_offered_ms: f64,
    ready_to_offered_ms: f64,
    ready_to_invite_ms: f64,
    ringing_to_offered_ms: f64,
    burst: usize,
}

// ----- the bench ---------------------------------------------------------------------

struct Bench {
    a: Args,
    run: u64,
    ep: i32,
    rx_ep: i32,
    trunk: UdpSocket,
    trunk_addr: SocketAddr,
    phones: UdpSocket,
    phones_addr: SocketAddr,
    agents: Vec<Agent>,
    by_user: HashMap<String, usize>,
    legs: HashMap<String, Leg>,
    callers: Vec<Caller>,
    /// Callers before this index are all done.
    callers_done_below: usize,
    /// The customers' numbers, those with the most history first.
    numbers: Vec<String>,
    tx_cmd: mpsc::Sender<SendCmd>,
    send_stats: Arc<SendStats>,
    rx: Arc<Mutex<Rx>>,
    window: Arc<[AtomicI64; 2]>,
    /// Every RTP stream opened, in order (a level's are a suffix).
    streams: Vec<u32>,
    next_port: u16,
    next_stream: u32,
    branch: u64,
    last_tick: Instant,
    admin_token: String,
    problems: ProblemList,
    counts: HashMap<String, u64>,
    retransmissions: u64,
    buf: Vec<u8>,
}

impl Bench {
    fn count(&mut self, what: &str) {
        *self.counts.entry(what.to_owned()).or_default() += 1;
    }

    /// Something went wrong: counted by kind, the first few kept in full.
    fn problem(&mut self, kind: &str, detail: String) {
        note_problem(&mut self.problems, kind, detail);
    }

    fn next_branch(&mut self) -> String {
        self.branch += 1;
        format!("z9hG4bK-acd{}-{}", self.run, self.branch)
    }

    /// A fresh RTP socket from our range, watched by the receiver.
    fn rtp_socket(&mut self, phone: bool) -> (Arc<UdpSocket>, u32) {
        for _ in 0..20_000 {
            let port = self.next_port;
            self.next_port = if self.next_port >= 64_998 {
                self.a.rtp_base
            } else {
                self.next_port + 2
            };
            if let Ok(s) = UdpSocket::bind(("127.0.0.1", port)) {
                s.set_nonblocking(true).unwrap();
                let fd = s.as_raw_fd();
                sys::set_int_opt(fd, sys::SO_TIMESTAMPNS, 1);
                self.next_stream += 1;
                let stream = self.next_stream | if phone { PHONE_BIT } else { 0 };
                sys::watch(
                    self.rx_ep,
                    fd,
                    (u64::from(stream) << 32) | u64::from(fd as u32),
                );
                self.streams.push(stream);
                return (Arc::new(s), stream);
            }
        }
        die("no free RTP port in our range (--rtp-base)");
    }

    // ----- the event loop ----------------------------------------------------------

    /// Handles what arrives for up to `max` (less if something is due).
    fn pump(&mut self, max: Duration) {
        let mut events = [sys::EpollEvent { events: 0, data: 0 }; 256];
        let ms = max.as_millis().min(50) as i32;
        // SAFETY: the buffer holds 256 entries.
        let n = unsafe { sys::epoll_wait(self.ep, events.as_mut_ptr(), 256, ms) };
        for ev in &events[..n.max(0) as usize] {
            match ev.data {
                TOKEN_TRUNK => self.read_trunk(),
                TOKEN_PHONES => self.read_phones(),
                t => self.read_ws((t - TOKEN_WS) as usize),
            }
        }
        self.timers();
        for i in 0..self.agents.len() {
            if self.agents[i].flush
                && let Some(ws) = self.agents[i].ws.as_mut()
            {
                match ws.flush() {
                    Ok(()) => self.agents[i].flush = false,
                    Err(tungstenite::Error::Io(e))
                        if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        let name = self.agents[i].name.clone();
                        self.problem("websocket write failed", format!("{name}: {e}"));
                        self.agents[i].flush = false;
                    }
                }
            }
        }
    }

    /// Pumps until `done` holds or `within` has passed; false on time-out.
    fn wait_until(&mut self, within: Duration, done: impl Fn(&Bench) -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if done(self) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.pump((deadline - now).min(Duration::from_millis(5)));
        }
    }

    fn pump_for(&mut self, d: Duration) {
        let _ = self.wait_until(d, |_| false);
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.last_tick) < Duration::from_millis(5) {
            return;
        }
        self.last_tick = now;
        // Callers' retransmissions and time-outs.
        let mut retx = 0;
        let mut timed_out = Vec::new();
        for (idx, c) in self
            .callers
            .iter_mut()
            .enumerate()
            .skip(self.callers_done_below)
        {
            let Some(at) = c.next_retx else { continue };
            if now.duration_since(c.first_sent) > TX_TIMEOUT {
                c.next_retx = None;
                let o = if c.state == CallState::Inviting {
                    Outcome::SetupTimeout
                } else {
                    Outcome::ByeTimeout
                };
                c.state = CallState::Done(o);
                timed_out.push((idx, o));
            } else if now >= at {
                self.trunk.send_to(c.text.as_bytes(), self.a.server).ok();
                retx += 1;
                c.interval = if c.state == CallState::Inviting {
                    c.interval * 2
                } else {
                    (c.interval * 2).min(T2)
                };
                c.next_retx = Some(now + c.interval);
            }
        }
        for (idx, o) in timed_out {
            let _ = self.tx_cmd.send(SendCmd::Stop {
                stream: self.callers[idx].stream,
            });
            self.problem("caller SIP time-out", format!("caller {idx}: {o:?}"));
        }
        while self.callers_done_below < self.callers.len()
            && matches!(
                self.callers[self.callers_done_below].state,
                CallState::Done(_)
            )
        {
            self.callers_done_below += 1;
        }
        // Phones: answer when due, retransmit the 200 until the ACK.
        let mut answers = Vec::new();
        let mut lost = Vec::new();
        for (cid, l) in &mut self.legs {
            match l.phase {
                LegPhase::Ringing if now >= l.answer_at => answers.push(cid.clone()),
                LegPhase::Answered => {
                    if now.duration_since(l.first_ok) > TX_TIMEOUT {
                        l.phase = LegPhase::Over;
                        lost.push(cid.clone());
                    } else if l.next_retx.is_some_and(|t| now >= t) {
                        self.phones.send_to(l.last.as_bytes(), self.a.server).ok();
                        retx += 1;
                        l.interval = (l.interval * 2).min(T2);
                        l.next_retx = Some(now + l.interval);
                    }
                }
                _ => {}
            }
        }
        self.retransmissions += retx;
        for cid in answers {
            self.answer(&cid, now);
        }
        for cid in lost {
            if let Some(l) = self.legs.get(&cid) {
                let _ = self.tx_cmd.send(SendCmd::Stop { stream: l.stream });
                let name = self.agents[l.agent].name.clone();
                self.problem("phone's 200 never ACKed", format!("{name}: Call-ID {cid}"));
            }
        }
        // Registrations: retransmit, refresh.
        for i in 0..self.agents.len() {
            let a = &mut self.agents[i];
            match a.reg {
                RegPhase::Sent if a.reg_next.is_some_and(|t| now >= t) => {
                    if now.duration_since(a.reg_first) > TX_TIMEOUT {
                        a.reg = RegPhase::Failed;
                        let name = a.name.clone();
                        self.problem("REGISTER time-out", name);
                    } else {
                        self.phones
                            .send_to(a.reg_text.as_bytes(), self.a.server)
                            .ok();
                        a.reg_interval = (a.reg_interval * 2).min(T2);
                        a.reg_next = Some(now + a.reg_interval);
                        self.retransmissions += 1;
                    }
                }
                RegPhase::Registered if now >= a.reg_refresh => {
                    self.count("phone: registration refreshed");
                    self.register(i, None, 600);
                }
                _ => {}
            }
        }
    }

    // ----- the trunk --------------------------------------------------------------

    fn call_id(&self, idx: usize) -> String {
        format!("acd-{}-{idx}@127.0.0.1", self.run)
    }

    fn from(&self, idx: usize) -> String {
        format!(
            "<sip:{}@{}>;tag=acd{}x{idx}",
            self.callers[idx].number, self.trunk_addr, self.run
        )
    }

    /// Places a call from `number`.
    fn place_call(&mut self, number: &str) -> usize {
        let (rtp, stream) = self.rtp_socket(false);
        let idx = self.callers.len();
        let port = rtp.local_addr().unwrap().port();
        let branch = self.next_branch();
        self.callers.push(Caller {
            number: number.to_owned(),
            rtp: Some(rtp),
            stream,
            state: CallState::Inviting,
            text: String::new(),
            first_sent: Instant::now(),
            next_retx: Some(Instant::now() + T1),
            interval: T1,
            to: String::new(),
            target: String::new(),
            branch: branch.clone(),
        });
        let text = invite_text(
            &self.a.number,
            self.a.server,
            self.trunk_addr,
            &branch,
            &self.from(idx),
            &self.call_id(idx),
            number,
            &sdp_offer("caller", idx, port),
        );
        self.trunk.send_to(text.as_bytes(), self.a.server).ok();
        self.callers[idx].text = text;
        idx
    }

    fn in_dialog(&mut self, idx: usize, method: &str, cseq: u32, branch: Option<&str>) -> String {
        let branch = branch.map_or_else(|| self.next_branch(), str::to_owned);
        let c = &self.callers[idx];
        in_dialog_text(
            method,
            &c.target,
            self.trunk_addr,
            &branch,
            &self.from(idx),
            &c.to,
            &self.call_id(idx),
            cseq,
        )
    }

    fn hang_up(&mut self, idx: usize) {
        if self.callers[idx].state != CallState::Up {
            return;
        }
        let _ = self.tx_cmd.send(SendCmd::Stop {
            stream: self.callers[idx].stream,
        });
        let bye = self.in_dialog(idx, "BYE", 2, None);
        self.trunk.send_to(bye.as_bytes(), self.a.server).ok();
        let c = &mut self.callers[idx];
        c.text = bye;
        c.state = CallState::Byeing;
        c.first_sent = Instant::now();
        c.interval = T1;
        c.next_retx = Some(c.first_sent + T1);
    }

    fn read_trunk(&mut self) {
        let fd = self.trunk.as_raw_fd();
        let mut buf = std::mem::take(&mut self.buf);
        while let Ok((len, _)) = sys::recv_ts(fd, &mut buf, sys::MSG_DONTWAIT) {
            let text = String::from_utf8_lossy(&buf[..len]).into_owned();
            self.on_trunk(&text);
        }
        self.buf = buf;
    }

    fn on_trunk(&mut self, text: &str) {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let prefix = format!("acd-{}-", self.run);
        let Some(idx) = header(head, &["Call-ID", "i"])
            .and_then(|c| c.strip_prefix(prefix.as_str()))
            .and_then(|r| r.split('@').next())
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&i| i < self.callers.len())
        else {
            return;
        };
        if let Some(status) = head.strip_prefix("SIP/2.0 ") {
            let code: u16 = status.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
            let cseq = header(head, &["CSeq"]).unwrap_or("");
            let state = self.callers[idx].state;
            if cseq.ends_with("INVITE") {
                match state {
                    CallState::Inviting if code < 200 => self.callers[idx].next_retx = None,
                    CallState::Inviting if code < 300 => {
                        let c = &mut self.callers[idx];
                        c.to = header(head, &["To", "t"]).unwrap_or("").to_owned();
                        c.target = header(head, &["Contact", "m"])
                            .and_then(|v| Some(v.split_once('<')?.1.split_once('>')?.0))
                            .unwrap_or("")
                            .to_owned();
                        c.next_retx = None;
                        c.state = CallState::Up;
                        let ack = self.in_dialog(idx, "ACK", 1, None);
                        self.trunk.send_to(ack.as_bytes(), self.a.server).ok();
                        match sdp_dest(body) {
                            Some(dest) => {
                                let c = &self.callers[idx];
                                if let Some(socket) = c.rtp.clone() {
                                    let _ = self.tx_cmd.send(SendCmd::Start {
                                        stream: c.stream,
                                        socket,
                                        dest,
                                        hz: CALLER_HZ,
                                    });
                                }
                            }
                            None => self.problem("caller's 200 without SDP", format!("{idx}")),
                        }
                    }
                    CallState::Inviting => {
                        // ACK the failure on the INVITE's branch.
                        let c = &mut self.callers[idx];
                        c.to = header(head, &["To", "t"]).unwrap_or("").to_owned();
                        c.target = format!("sip:{}@{}", self.a.number, self.a.server);
                        c.next_retx = None;
                        c.state = CallState::Done(Outcome::SetupRefused(code));
                        let branch = c.branch.clone();
                        let ack = self.in_dialog(idx, "ACK", 1, Some(&branch));
                        self.trunk.send_to(ack.as_bytes(), self.a.server).ok();
                        let line = status.lines().next().unwrap_or("").to_owned();
                        self.problem("call refused", format!("caller {idx}: {line}"));
                    }
                    CallState::Up | CallState::Byeing if (200..300).contains(&code) => {
                        // Our ACK was lost: the 200 is retransmitted.
                        let ack = self.in_dialog(idx, "ACK", 1, None);
                        self.trunk.send_to(ack.as_bytes(), self.a.server).ok();
                    }
                    _ => {}
                }
            } else if cseq.ends_with("BYE") && code >= 200 && state == CallState::Byeing {
                let c = &mut self.callers[idx];
                c.next_retx = None;
                c.state = CallState::Done(if code < 300 {
                    Outcome::Ok
                } else {
                    Outcome::ByeRefused(code)
                });
            }
        } else {
            // A request from the server: answer it 200.
            let method = head.split(' ').next().unwrap_or("");
            let resp = response(head, "200 OK", "", "", "");
            self.trunk.send_to(resp.as_bytes(), self.a.server).ok();
            if method == "BYE" && self.callers[idx].state == CallState::Up {
                let _ = self.tx_cmd.send(SendCmd::Stop {
                    stream: self.callers[idx].stream,
                });
                self.callers[idx].state = CallState::Done(Outcome::HungUpByServer);
                self.problem("server hung up a caller", format!("caller {idx}"));
            }
        }
    }

    // ----- the phones ---------------------------------------------------------------

    /// Sends the agent's REGISTER (with credentials answering `challenge`).
    fn register(&mut self, i: usize, challenge: Option<&str>, expires: u32) {
        let branch = self.next_branch();
        let (me, srv, run, realm) = (self.phones_addr, self.a.server, self.run, &self.a.realm);
        let a = &mut self.agents[i];
        a.reg_cseq += 1;
        a.reg_expires = expires;
        let user = &a.name;
        let uri = format!("sip:{srv}");
        let auth = match challenge {
            None => String::new(),
            Some(ch) => {
                let nonce = auth_param(ch, "nonce").unwrap_or_default();
                let realm = auth_param(ch, "realm").unwrap_or_else(|| realm.clone());
                let qop = auth_param(ch, "qop").map(|_| "auth".to_owned());
                let cnonce = format!("{:016x}", fastrand::u64(..));
                let mut creds = digest::Credentials {
                    username: user.clone(),
                    realm: realm.clone(),
                    nonce: nonce.clone(),
                    uri: uri.clone(),
                    response: String::new(),
                    algorithm: Some("MD5".into()),
                    cnonce: qop.as_ref().map(|_| cnonce.clone()),
                    qop: qop.clone(),
                    nc: qop.as_ref().map(|_| "00000001".to_owned()),
                };
                let ha1 = digest::ha1(user, &realm, &self.a.agent_password);
                creds.response = digest::response(&ha1, "REGISTER", &creds);
                let q = if qop.is_some() {
                    format!(", cnonce=\"{cnonce}\", qop=auth, nc=00000001")
                } else {
                    String::new()
                };
                format!(
                    "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", \
                     uri=\"{uri}\", response=\"{}\", algorithm=MD5{q}\r\n",
                    creds.response
                )
            }
        };
        a.reg_text = format!(
            "REGISTER {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@{realm}>;tag=r{run}x{i}\r\n\
             To: <sip:{user}@{realm}>\r\n\
             Call-ID: reg-{run}-{i}@acd-load\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@{me}>\r\n\
             Expires: {expires}\r\n\
             {auth}Content-Length: 0\r\n\r\n",
            cseq = a.reg_cseq,
        );
        if challenge.is_none() {
            a.reg_first = Instant::now();
        }
        a.reg = RegPhase::Sent;
        a.reg_interval = T1;
        a.reg_next = Some(Instant::now() + T1);
        self.phones.send_to(a.reg_text.as_bytes(), srv).ok();
    }

    fn read_phones(&mut self) {
        let fd = self.phones.as_raw_fd();
        let mut buf = std::mem::take(&mut self.buf);
        while let Ok((len, ts)) = sys::recv_ts(fd, &mut buf, sys::MSG_DONTWAIT) {
            let ts = ts.unwrap_or_else(|| {
                self.count("phone SIP without kernel timestamp");
                wall_ns()
            });
            let text = String::from_utf8_lossy(&buf[..len]).into_owned();
            self.on_phone(&text, ts);
        }
        self.buf = buf;
    }

    fn on_phone(&mut self, text: &str, ts: i64) {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let Some(cid) = header(head, &["Call-ID", "i"]).map(str::to_owned) else {
            return;
        };
        if let Some(status) = head.strip_prefix("SIP/2.0 ") {
            // Only our REGISTERs get answers here.
            let Some((i, code, cseq)) = register_answer(head, &cid, self.run, self.agents.len())
            else {
                return;
            };
            if self.agents[i].reg != RegPhase::Sent || cseq != self.agents[i].reg_cseq {
                return;
            }
            match code {
                100..=199 => self.agents[i].reg_next = None,
                200..=299 => {
                    let a = &mut self.agents[i];
                    a.reg = RegPhase::Registered;
                    a.reg_next = None;
                    // Bindings last at most 600 s: refresh well before.
                    a.reg_refresh = Instant::now() + Duration::from_secs(240);
                }
                401 | 407 => {
                    let challenge = header(head, &["WWW-Authenticate", "Proxy-Authenticate"])
                        .unwrap_or("")
                        .to_owned();
                    let expires = self.agents[i].reg_expires;
                    self.register(i, Some(&challenge), expires);
                }
                _ => {
                    self.agents[i].reg = RegPhase::Failed;
                    let name = self.agents[i].name.clone();
                    self.problem("REGISTER refused", format!("{name}: {status}"));
                }
            }
            return;
        }
        let method = head.split(' ').next().unwrap_or("").to_owned();
        match method.as_str() {
            "INVITE" => self.on_invite(head, body, &cid, ts),
            "ACK" => {
                if let Some(l) = self.legs.get_mut(&cid)
                    && l.phase == LegPhase::Answered
                {
                    l.phase = LegPhase::Confirmed;
                    l.next_retx = None;
                }
            }
            "CANCEL" => {
                let resp = response(head, "200 OK", "", "", "");
                self.phones.send_to(resp.as_bytes(), self.a.server).ok();
                if let Some(l) = self.legs.get_mut(&cid)
                    && l.phase == LegPhase::Ringing
                {
                    l.phase = LegPhase::Over;
                    let r = response(&l.head, "487 Request Terminated", &l.to_tag, "", "");
                    self.phones.send_to(r.as_bytes(), self.a.server).ok();
                    l.last = r;
                    self.count("phone: INVITE cancelled");
                }
            }
            "BYE" => {
                let tag = self.legs.get(&cid).map(|l| l.to_tag.clone());
                let resp = response(head, "200 OK", tag.as_deref().unwrap_or(""), "", "");
                self.phones.send_to(resp.as_bytes(), self.a.server).ok();
                if let Some(l) = self.legs.get_mut(&cid)
                    && l.phase != LegPhase::Over
                {
                    l.phase = LegPhase::Over;
                    l.next_retx = None;
                    let _ = self.tx_cmd.send(SendCmd::Stop { stream: l.stream });
                }
            }
            _ => {
                let resp = response(head, "200 OK", "", "", "");
                self.phones.send_to(resp.as_bytes(), self.a.server).ok();
            }
        }
    }

    /// The server rings an agent's phone: 180 now, 200 after `--answer-ms`.
    fn on_invite(&mut self, head: &str, body: &str, cid: &str, ts: i64) {
        if let Some(l) = self.legs.get(cid) {
            // A retransmission: the same answer again.
            self.phones.send_to(l.last.as_bytes(), self.a.server).ok();
            self.count("phone: INVITE retransmitted by the server");
            return;
        }
        let first_line = head.lines().next().unwrap_or("");
        let Some(&agent) = sip_user(first_line).and_then(|u| self.by_user.get(u)) else {
            let r = response(head, "404 Not Found", "nf", "", "");
            self.phones.send_to(r.as_bytes(), self.a.server).ok();
            self.problem("INVITE for no phone of ours", first_line.to_owned());
            return;
        };
        let caller = header(head, &["From", "f"])
            .and_then(sip_user)
            .unwrap_or("")
            .to_owned();
        let m = &mut self.agents[agent].m;
        m.invites += 1;
        if m.invite_ns.is_none() {
            m.invite_ns = Some(ts);
            m.invite_caller = Some(caller);
        }
        let (rtp, stream) = self.rtp_socket(true);
        let to_tag = format!("ph{}x{}", self.run, stream & !PHONE_BIT);
        let ringing = response(head, "180 Ringing", &to_tag, "", "");
        self.phones.send_to(ringing.as_bytes(), self.a.server).ok();
        let now = Instant::now();
        self.legs.insert(
            cid.to_owned(),
            Leg {
                agent,
                head: head.to_owned(),
                to_tag,
                server_rtp: sdp_dest(body),
                rtp,
                stream,
                phase: LegPhase::Ringing,
                last: ringing,
                answer_at: now + self.a.answer,
                first_ok: now,
                next_retx: None,
                interval: T1,
            },
        );
    }

    /// The phone lifts the handset: 200 with SDP, and its tone starts.
    fn answer(&mut self, cid: &str, now: Instant) {
        let Some(l) = self.legs.get_mut(cid) else {
            return;
        };
        let agent = &self.agents[l.agent];
        let port = l.rtp.local_addr().unwrap().port();
        let sdp = format!(
            "v=0\r\no=phone {port} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        let extra = format!(
            "Contact: <sip:{}@{}>\r\nContent-Type: application/sdp\r\n",
            agent.name, self.phones_addr
        );
        let ok = response(&l.head, "200 OK", &l.to_tag, &extra, &sdp);
        self.phones.send_to(ok.as_bytes(), self.a.server).ok();
        l.last = ok;
        l.phase = LegPhase::Answered;
        l.first_ok = now;
        l.interval = T1;
        l.next_retx = Some(now + T1);
        match l.server_rtp {
            Some(dest) => {
                let _ = self.tx_cmd.send(SendCmd::Start {
                    stream: l.stream,
                    socket: l.rtp.clone(),
                    dest,
                    hz: PHONE_HZ,
                });
            }
            None => {
                let name = agent.name.clone();
                self.problem("INVITE to a phone without SDP", name);
            }
        }
    }

    // ----- the screens ---------------------------------------------------------------

    fn read_ws(&mut self, i: usize) {
        let mut got = Vec::new();
        let mut dead = None;
        if let Some(ws) = self.agents[i].ws.as_mut() {
            loop {
                match ws.read() {
                    Ok(Message::Text(t)) => {
                        let s = ws.get_ref();
                        got.push((t.as_str().to_owned(), s.last_ns, s.kernel));
                    }
                    Ok(Message::Close(_)) => {
                        dead = Some("closed by the server".to_owned());
                        break;
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e))
                        if e.kind() == std::io::ErrorKind::WouldBlock =>
                    {
                        break;
                    }
                    Err(e) => {
                        dead = Some(e.to_string());
                        break;
                    }
                }
            }
        }
        for (text, ts, kernel) in got {
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => self.on_event(i, &v, text.len(), ts, kernel),
                Err(e) => self.problem("CTI event not JSON", format!("{e}: {text}")),
            }
        }
        if let Some(why) = dead {
            self.agents[i].ws = None;
            let name = self.agents[i].name.clone();
            self.problem("websocket lost", format!("{name}: {why}"));
        }
    }

    fn on_event(&mut self, i: usize, v: &Value, bytes: usize, ts: i64, kernel: bool) {
        let kind = v["type"].as_str().unwrap_or("?");
        let a = &mut self.agents[i];
        match kind {
            "hello" => {
                a.hello = true;
                a.state = v["state"]["name"].as_str().unwrap_or("?").to_owned();
            }
            "state" => {
                a.state = v["state"]["name"].as_str().unwrap_or("?").to_owned();
                a.reason = v["state"]["reason"].as_str().unwrap_or("").to_owned();
                if a.state == "ringing" && a.m.ringing_ns.is_none() {
                    a.m.ringing_ns = Some(ts);
                }
            }
            "offered" => {
                a.m.offers += 1;
                if a.m.offered_ns.is_none() {
                    a.m.offered_ns = Some(ts);
                    a.m.offered_kernel_ts = kernel;
                    let caller = v["call"]["caller"].as_str().unwrap_or("").to_owned();
                    let pop = &v["pop"];
                    a.m.pop = Some(PopInfo {
                        present: pop.is_object(),
                        customer: pop["customer"].is_object(),
                        phone_match: pop["customer"]["phones"]
                            .as_array()
                            .is_some_and(|p| p.iter().any(|x| x.as_str() == Some(&caller))),
                        recent_calls: pop["recent_calls"].as_array().map_or(0, Vec::len),
                        open_tickets: pop["open_tickets"].as_array().map_or(0, Vec::len),
                        products: pop["customer"]["products"].as_array().map_or(0, Vec::len),
                        bytes,
                    });
                    a.m.offered_caller = Some(caller);
                    a.m.call_id = v["call"]["id"].as_str().map(str::to_owned);
                }
            }
            "answered" if a.m.answered_ns.is_none() => a.m.answered_ns = Some(ts),
            "offer_cancelled" => {
                a.m.cancelled += 1;
                let name = a.name.clone();
                self.count("offer_cancelled");
                self.problem("offer cancelled", format!("{name}: {v}"));
            }
            "ended" => {
                let cause = v["cause"].as_str().unwrap_or("?").to_owned();
                a.m.ended = Some(cause.clone());
                self.count(&format!("ended: {cause}"));
            }
            "error" => {
                let name = a.name.clone();
                let code = v["code"].as_str().unwrap_or("?").to_owned();
                self.problem(&format!("CTI error {code}"), format!("{name}: {v}"));
            }
            _ => {}
        }
    }

    fn command(&mut self, i: usize, mut cmd: Value) {
        let a = &mut self.agents[i];
        a.cmd += 1;
        cmd["id"] = json!(format!("c{}", a.cmd));
        let Some(ws) = a.ws.as_mut() else {
            return;
        };
        match ws.send(Message::Text(cmd.to_string().into())) {
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                a.flush = true;
            }
            Err(e) => {
                let name = a.name.clone();
                self.problem("websocket write failed", format!("{name}: {e}"));
            }
        }
    }

    // ----- setup ----------------------------------------------------------------------

    /// Agents 0..n exist, are signed in, have a screen open and a phone
    /// registered.
    fn ensure_agents(&mut self, n: usize) {
        if self.agents.len() >= n {
            return;
        }
        let from = self.agents.len();
        let t0 = Instant::now();
        println!(
            "setup: agents {}-{}: creating users, signing in",
            from + 1,
            n
        );
        let names: Vec<String> = (from..n)
            .map(|i| format!("{}-{:04}", self.a.prefix, i + 1))
            .collect();
        // Argon2 makes each user and sign-in cost the server tens of ms:
        // four at a time.
        let (http_addr, admin, pw, queue) = (
            self.a.http,
            self.admin_token.clone(),
            self.a.agent_password.clone(),
            self.a.queue.clone(),
        );
        let retries = AtomicU64::new(0);
        let tokens: Vec<Result<String, String>> = std::thread::scope(|s| {
            let chunks: Vec<&[String]> = names.chunks(names.len().div_ceil(4).max(1)).collect();
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    let (admin, pw, queue, retries) = (&admin, &pw, &queue, &retries);
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|name| agent_session(http_addr, admin, name, pw, queue, retries))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("setup thread"))
                .collect()
        });
        println!(
            "setup: {} users ready in {:.1} s; opening websockets, registering phones",
            names.len(),
            t0.elapsed().as_secs_f64()
        );
        let retried = retries.load(Ordering::Relaxed);
        if retried > 0 {
            self.problem(
                "API answered 503 (database unavailable) to user creation or sign-in",
                format!("{retried} requests tried again, {n} agents set up 4 at a time"),
            );
        }
        for (name, token) in names.into_iter().zip(tokens) {
            let token = token.unwrap_or_else(|e| die(&e));
            let ws = open_ws(self.a.http, &token).unwrap_or_else(|e| die(&format!("{name}: {e}")));
            let i = self.agents.len();
            sys::watch(self.ep, ws.get_ref().sock.as_raw_fd(), TOKEN_WS + i as u64);
            self.by_user.insert(name.clone(), i);
            self.agents.push(Agent {
                name,
                ws: Some(ws),
                flush: false,
                hello: false,
                state: String::new(),
                reason: String::new(),
                reg: RegPhase::Idle,
                reg_text: String::new(),
                reg_cseq: 0,
                reg_first: Instant::now(),
                reg_next: None,
                reg_interval: T1,
                reg_refresh: Instant::now(),
                reg_expires: 600,
                m: Offer::default(),
                cmd: 0,
            });
            // The handshake may have read the first events already.
            self.read_ws(i);
            self.register(i, None, 600);
            self.pump(Duration::ZERO);
        }
        let ok = self.wait_until(Duration::from_secs(30), |b| {
            b.agents[from..n]
                .iter()
                .all(|a| a.hello && a.reg == RegPhase::Registered)
        });
        if !ok {
            let bad: Vec<String> = self.agents[from..n]
                .iter()
                .filter(|a| !(a.hello && a.reg == RegPhase::Registered))
                .map(|a| format!("{} hello={} reg={:?}", a.name, a.hello, a.reg))
                .take(10)
                .collect();
            die(&format!("agents not ready to work after 30 s: {bad:?}"));
        }
        println!(
            "setup: {n} agents connected and registered ({:.1} s)",
            t0.elapsed().as_secs_f64()
        );
    }

    /// Every agent 0..n not ready, with no call: wrap-ups ended, ready
    /// agents paused. Stuck agents are reported.
    fn settle_agents(&mut self, n: usize) {
        let busy = |a: &Agent| matches!(a.state.as_str(), "ringing" | "on_call" | "on_hold");
        if !self.wait_until(Duration::from_secs(15), |b| !b.agents[..n].iter().any(busy)) {
            let stuck: Vec<String> = self.agents[..n]
                .iter()
                .filter(|a| busy(a))
                .map(|a| format!("{} {}", a.name, a.state))
                .collect();
            self.problem(
                "agents still busy 15 s after their calls ended",
                format!(
                    "{} agents: {:?}",
                    stuck.len(),
                    &stuck[..stuck.len().min(10)]
                ),
            );
        }
        for i in 0..n {
            match self.agents[i].state.as_str() {
                "wrap_up" => {
                    self.command(
                        i,
                        json!({"type": "end_wrap_up", "disposition": "bench", "notes": "acd_load"}),
                    );
                    self.command(i, json!({"type": "not_ready", "reason": "break"}));
                }
                "ready" => self.command(i, json!({"type": "not_ready", "reason": "break"})),
                _ => {}
            }
        }
        if !self.wait_until(Duration::from_secs(10), |b| {
            b.agents[..n].iter().all(|a| a.state == "not_ready")
        }) {
            let stuck: Vec<String> = self.agents[..n]
                .iter()
                .filter(|a| a.state != "not_ready")
                .map(|a| format!("{} {}", a.name, a.state))
                .collect();
            self.problem(
                "agents not back to not_ready",
                format!(
                    "{} agents: {:?}",
                    stuck.len(),
                    &stuck[..stuck.len().min(10)]
                ),
            );
        }
        self.legs.retain(|_, l| l.phase != LegPhase::Over);
        for a in &mut self.agents[..n] {
            a.m = Offer::default();
        }
    }

    /// Places `numbers` as calls at `rate` a second; waits until all are
    /// answered. Returns the callers' indices.
    fn place_calls(&mut self, numbers: &[String], rate: f64) -> std::ops::Range<usize> {
        let first = self.callers.len();
        let t0 = Instant::now();
        for (k, number) in numbers.iter().enumerate() {
            let due = t0 + Duration::from_secs_f64(k as f64 / rate);
            while Instant::now() < due {
                self.pump((due - Instant::now()).min(Duration::from_millis(2)));
            }
            self.place_call(number);
        }
        let range = first..self.callers.len();
        let r = range.clone();
        let ok = self.wait_until(Duration::from_secs(40), |b| {
            b.callers[r.clone()]
                .iter()
                .all(|c| c.state != CallState::Inviting)
        });
        if !ok {
            self.problem("calls not answered within 40 s", format!("{range:?}"));
        }
        range
    }

    fn hang_up_all(&mut self, range: std::ops::Range<usize>, rate: f64) {
        let t0 = Instant::now();
        for (k, idx) in range.clone().enumerate() {
            let due = t0 + Duration::from_secs_f64(k as f64 / rate);
            while Instant::now() < due {
                self.pump((due - Instant::now()).min(Duration::from_millis(2)));
            }
            self.hang_up(idx);
        }
        let r = range.clone();
        self.wait_until(Duration::from_secs(40), |b| {
            b.callers[r.clone()]
                .iter()
                .all(|c| matches!(c.state, CallState::Done(_)))
        });
        // Their sockets: the last packets in flight land, then close.
        self.pump_for(Duration::from_millis(100));
        for c in &mut self.callers[range] {
            if matches!(c.state, CallState::Done(_)) {
                c.rtp = None;
            }
        }
    }

    fn outcomes(&self, range: std::ops::Range<usize>) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for c in &self.callers[range] {
            let k = match c.state {
                CallState::Done(o) => format!("{o:?}"),
                s => format!("Still{s:?}"),
            };
            *m.entry(k).or_default() += 1;
        }
        m
    }

    fn health(&self) -> Option<Value> {
        http(self.a.http, "GET", "/api/health", None, None)
            .ok()
            .map(|(_, v)| v)
    }

    /// Agents `order` send `ready`, `burst` at a time, `gap` apart.
    fn ready_in_bursts(&mut self, order: &[usize], burst: usize, gap: Duration) {
        for (b, chunk) in order.chunks(burst).enumerate() {
            let t = Instant::now();
            for &i in chunk {
                self.agents[i].m.burst = b;
                self.agents[i].m.ready_ns = Some(wall_ns());
                self.command(i, json!({"type": "ready"}));
            }
            let rest = gap.saturating_sub(t.elapsed());
            self.pump_for(rest);
        }
    }

    // ----- 1. screen pop ------------------------------------------------------------

    /// The demo data has customers, products and tickets but no calls:
    /// `--history` short calls from each pop caller's number give their
    /// pops calls to list (answered by the queue, hung up after 0.3 s).
    fn seed_history(&mut self) {
        let numbers: Vec<String> = self.numbers.iter().take(self.a.calls).cloned().collect();
        let t0 = Instant::now();
        let mut outcomes: HashMap<String, usize> = HashMap::new();
        for _ in 0..self.a.history {
            let range = self.place_calls(&numbers, 100.0);
            self.pump_for(Duration::from_millis(300));
            self.hang_up_all(range.clone(), 200.0);
            for (k, v) in self.outcomes(range) {
                *outcomes.entry(k).or_default() += v;
            }
        }
        println!(
            "history: {} calls from each of {} numbers in {:.1} s: {outcomes:?}",
            self.a.history,
            numbers.len(),
            t0.elapsed().as_secs_f64()
        );
    }

    fn pop_round(&mut self, round: usize, samples: &mut Vec<PopSample>, pops: &mut Vec<PopInfo>) {
        let (n_agents, n_calls) = (self.a.agents, self.a.calls);
        self.ensure_agents(n_agents);
        self.settle_agents(n_agents);
        let numbers: Vec<String> = self.numbers.iter().take(n_calls).cloned().collect();
        let rate = if self.a.rate > 0.0 { self.a.rate } else { 50.0 };
        println!(
            "pop round {}: placing {n_calls} calls at {rate} cps",
            round + 1
        );
        let range = self.place_calls(&numbers, rate);
        let up = self.callers[range.clone()]
            .iter()
            .filter(|c| c.state == CallState::Up)
            .count();
        // Let the last callers reach the queue (and their standing lookup).
        self.pump_for(Duration::from_secs(2));
        let queued = self
            .health()
            .and_then(|h| h["active_calls"].as_u64())
            .unwrap_or(0);
        println!(
            "pop round {}: {up} callers up ({queued} active calls on the server); agents ready in bursts of {} every {} ms",
            round + 1,
            self.a.burst,
            self.a.burst_gap.as_millis()
        );
        let mut order: Vec<usize> = (0..n_agents).collect();
        let mut rng = fastrand::Rng::with_seed(round as u64 + 1);
        rng.shuffle(&mut order);
        let mut busy = None;
        box_busy(&mut busy);
        let t0 = Instant::now();
        let cpu0 = self.a.server_pid.and_then(cpu_seconds);
        self.ready_in_bursts(&order, self.a.burst, self.a.burst_gap);
        let complete = |a: &Agent| {
            a.m.offered_ns.is_none() || (a.m.invite_ns.is_some() && a.m.answered_ns.is_some())
        };
        let all_offered = self.wait_until(Duration::from_secs(30), |b| {
            let offered = b.agents[..n_agents]
                .iter()
                .filter(|a| a.m.offered_ns.is_some())
                .count();
            offered >= up && b.agents[..n_agents].iter().all(complete)
        });
        let offered = self.agents[..n_agents]
            .iter()
            .filter(|a| a.m.offered_ns.is_some())
            .count();
        let secs = t0.elapsed().as_secs_f64();
        let cpu = match (cpu0, self.a.server_pid.and_then(cpu_seconds)) {
            (Some(a), Some(b)) => format!("{:.0} %", (b - a) / secs * 100.0),
            _ => "?".into(),
        };
        println!(
            "pop round {}: while the agents went ready ({secs:.1} s): server CPU {cpu} of a core, box busy {:.0} %",
            round + 1,
            box_busy(&mut busy).unwrap_or(0.0)
        );
        if !all_offered {
            let invited = self.agents[..n_agents]
                .iter()
                .filter(|a| a.m.invite_ns.is_some())
                .count();
            self.problem(
                "not every waiting caller was offered and answered within 30 s",
                format!(
                    "round {}: {up} callers, {offered} offered, {invited} phones rang",
                    round + 1
                ),
            );
        }
        self.pump_for(Duration::from_secs(1));
        for i in 0..n_agents {
            let m = self.agents[i].m.clone();
            if let (Some(inv), Some(off), Some(ready)) = (m.invite_ns, m.offered_ns, m.ready_ns) {
                samples.push(PopSample {
                    invite_to_offered_ms: (off - inv) as f64 / 1e6,
                    ready_to_offered_ms: (off - ready) as f64 / 1e6,
                    ready_to_invite_ms: (inv - ready) as f64 / 1e6,
                    ringing_to_offered_ms: m
                        .ringing_ns
                        .map_or(f64::NAN, |r| (off - r) as f64 / 1e6),
                    burst: m.burst,
                });
                if !m.offered_kernel_ts {
                    self.count("offered without kernel timestamp");
                }
            } else if m.invite_ns.is_some() || m.offered_ns.is_some() {
                let name = self.agents[i].name.clone();
                self.problem(
                    "offer seen on one side only",
                    format!(
                        "{name}: INVITE {:?}, offered {:?}",
                        m.invite_ns, m.offered_ns
                    ),
                );
            }
            if let Some(p) = m.pop.clone() {
                if !(p.present && p.customer && p.phone_match) {
                    let name = self.agents[i].name.clone();
                    self.problem(
                        "offered without the caller's customer in the pop",
                        format!("{name}: caller {:?} {p:?}", m.offered_caller),
                    );
                }
                pops.push(p);
            }
            if m.offered_caller.is_some() && m.offered_caller != m.invite_caller {
                let name = self.agents[i].name.clone();
                self.problem(
                    "screen and phone rang with different callers",
                    format!(
                        "{name}: screen {:?}, phone {:?}",
                        m.offered_caller, m.invite_caller
                    ),
                );
            }
            if m.offers > 1 || m.invites > 1 {
                let name = self.agents[i].name.clone();
                self.problem(
                    "more than one offer to one agent in a round",
                    format!("{name}: {} offered, {} INVITEs", m.offers, m.invites),
                );
            }
        }
        self.hang_up_all(range.clone(), 200.0);
        let oc = self.outcomes(range);
        println!("pop round {}: {offered} offers; calls {oc:?}", round + 1);
        self.settle_agents(n_agents);
    }

    // ----- 2. bridged calls ----------------------------------------------------------

    fn bridge_level(&mut self, n: usize) -> Level {
        self.ensure_agents(n);
        self.settle_agents(n);
        let pid = self.a.server_pid;
        let mem0 = pid.and_then(rss_and_fds);
        let stream0 = self.streams.len();
        {
            let mut guard = self.rx.lock().unwrap();
            let r = &mut *guard;
            for h in r.all.iter_mut().chain(r.window.iter_mut()) {
                h.clear();
            }
            r.wrong_tone.iter_mut().for_each(HashMap::clear);
        }
        self.window[0].store(i64::MAX, Ordering::Relaxed);
        self.window[1].store(i64::MAX, Ordering::Relaxed);
        let snmp0 = udp_rcvbuf_errors();
        let rate = if self.a.rate > 0.0 {
            self.a.rate
        } else {
            (n as f64 / 8.0).max(10.0)
        };
        println!("bridge {n}: placing {n} calls at {rate:.0} cps");
        let numbers: Vec<String> = (0..n)
            .map(|k| self.numbers[k % self.numbers.len()].clone())
            .collect();
        let t_setup = Instant::now();
        let range = self.place_calls(&numbers, rate);
        let up = self.callers[range.clone()]
            .iter()
            .filter(|c| c.state == CallState::Up)
            .count();
        self.pump_for(Duration::from_secs(1));
        println!("bridge {n}: {up} callers waiting; {n} agents go ready");
        let order: Vec<usize> = (0..n).collect();
        let burst = self.a.burst.max(n / 16);
        self.ready_in_bursts(&order, burst, Duration::from_millis(250));
        let bridged = |b: &Bench| {
            b.agents[..n]
                .iter()
                .filter(|a| a.m.answered_ns.is_some())
                .count()
        };
        let all = self.wait_until(Duration::from_secs(60), |b| bridged(b) >= up);
        let n_bridged = bridged(self);
        let setup_s = t_setup.elapsed().as_secs_f64();
        if !all {
            self.problem(
                "not every caller bridged within 60 s",
                format!("level {n}: {up} callers up, {n_bridged} answered"),
            );
        }
        // Measure while all are up.
        self.pump_for(Duration::from_secs(1));
        let w0 = wall_ns();
        self.window[0].store(w0, Ordering::Relaxed);
        let t0 = Instant::now();
        let cpu0 = pid.and_then(cpu_seconds);
        let wait0 = pid.and_then(run_queue_wait_ns);
        let self0 = cpu_seconds(std::process::id());
        let mut busy = None;
        box_busy(&mut busy);
        let late0 = (
            self.send_stats.late_1ms.load(Ordering::Relaxed),
            self.send_stats.sent.load(Ordering::Relaxed),
        );
        self.send_stats.max_late_ns.store(0, Ordering::Relaxed);
        let hungup0 = self.problem_count("server hung up a caller");
        println!(
            "bridge {n}: {n_bridged} bridged; measuring for {:.0} s",
            self.a.hold.as_secs_f64()
        );
        self.pump_for(self.a.hold);
        let w1 = wall_ns();
        self.window[1].store(w1, Ordering::Relaxed);
        let secs = t0.elapsed().as_secs_f64();
        let cpu = match (cpu0, pid.and_then(cpu_seconds)) {
            (Some(a), Some(b)) => Some((b - a) / secs * 100.0),
            _ => None,
        };
        let wait = match (wait0, pid.and_then(run_queue_wait_ns)) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e6 / secs),
            _ => None,
        };
        let self_cpu = match (self0, cpu_seconds(std::process::id())) {
            (Some(a), Some(b)) => (b - a) / secs * 100.0,
            _ => 0.0,
        };
        let box_pct = box_busy(&mut busy).unwrap_or(0.0);
        let drops = pid.and_then(|p| socket_drops(p, self.a.server.port()));
        let late = (
            self.send_stats.late_1ms.load(Ordering::Relaxed) - late0.0,
            self.send_stats.sent.load(Ordering::Relaxed) - late0.1,
        );
        let max_late_ms = self.send_stats.max_late_ns.load(Ordering::Relaxed) as f64 / 1e6;
        let hung_up_during = self.problem_count("server hung up a caller") - hungup0;
        let mem_up = pid.and_then(rss_and_fds);

        // Tear down.
        self.hang_up_all(range.clone(), 400.0);
        self.pump_for(Duration::from_millis(500));
        let oc = self.outcomes(range.clone());
        let answered_agents = self.agents[..n]
            .iter()
            .filter(|a| a.m.answered_ns.is_some())
            .count();
        let wrapped = self.agents[..n]
            .iter()
            .filter(|a| a.m.ended.as_deref() == Some("caller-bye"))
            .count();
        let cancelled: u32 = self.agents[..n].iter().map(|a| a.m.cancelled).sum();
        self.settle_agents(n);
        self.pump_for(Duration::from_secs(2));
        let active_after = self.health().and_then(|h| h["active_calls"].as_u64());
        let mem1 = pid.and_then(rss_and_fds);
        let rcvbuf = udp_rcvbuf_errors().saturating_sub(snmp0);

        // What both ends received.
        let r = self.rx.lock().unwrap();
        let mut side = [SideStats::default(), SideStats::default()];
        for &s in &self.streams[stream0..] {
            let k = usize::from(s & PHONE_BIT != 0);
            let st = &mut side[k];
            st.streams += 1;
            match r.streams.get(&s) {
                None => st.silent += 1,
                Some(c) => {
                    st.received += c.packets;
                    st.expected += (c.max_ext - c.first_ext + 1) as u64;
                    st.skipped += c.skipped_slots;
                    st.out_of_order += c.out_of_order;
                    st.bad_pt += c.bad_pt;
                    st.tone_checked += c.tone_checked;
                    st.tone_ok += c.tone_ok;
                }
            }
        }
        for (k, st) in side.iter_mut().enumerate() {
            st.p50 = r.window[k].ms(0.5);
            st.p99 = r.window[k].ms(0.99);
            st.max = r.window[k].max_ns as f64 / 1e6;
            st.over2 = r.window[k].over_2ms();
            st.intervals = r.window[k].n;
            st.all_p99 = r.all[k].ms(0.99);
            let mut w: Vec<(u32, u64)> = r.wrong_tone[k].iter().map(|(&x, &n)| (x, n)).collect();
            w.sort_by_key(|&(x, n)| (std::cmp::Reverse(n), x));
            w.truncate(6);
            st.wrong = w;
        }
        drop(r);
        let ok_calls = oc.get("Ok").copied().unwrap_or(0);
        Level {
            n,
            up,
            bridged: n_bridged,
            answered_agents,
            wrapped,
            cancelled,
            ok_calls,
            outcomes: oc,
            setup_s,
            secs,
            side,
            cpu,
            wait,
            self_cpu,
            box_pct,
            drops,
            rcvbuf,
            late_pct: late.0 as f64 * 100.0 / late.1.max(1) as f64,
            max_late_ms,
            hung_up_during,
            active_after,
            mem0,
            mem_up,
            mem1,
        }
    }

    fn problem_count(&self, kind: &str) -> u64 {
        self.problems
            .iter()
            .find(|p| p.0 == kind)
            .map_or(0, |p| p.1)
    }
}

#[derive(Default, Debug)]
struct SideStats {
    streams: u64,
    silent: u64,
    received: u64,
    expected: u64,
    skipped: u64,
    out_of_order: u64,
    bad_pt: u64,
    tone_checked: u64,
    tone_ok: u64,
    intervals: u64,
    p50: f64,
    p99: f64,
    max: f64,
    over2: f64,
    all_p99: f64,
    /// The commonest zero-crossing counts of packets with the wrong audio.
    wrong: Vec<(u32, u64)>,
}

impl SideStats {
    fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }

    fn tone_pct(&self) -> f64 {
        self.tone_ok as f64 * 100.0 / self.tone_checked.max(1) as f64
    }
}

struct Level {
    n: usize,
    up: usize,
    bridged: usize,
    answered_agents: usize,
    wrapped: usize,
    cancelled: u32,
    ok_calls: usize,
    outcomes: HashMap<String, usize>,
    setup_s: f64,
    secs: f64,
    side: [SideStats; 2],
    cpu: Option<f64>,
    wait: Option<f64>,
    self_cpu: f64,
    box_pct: f64,
    drops: Option<(u64, u64)>,
    rcvbuf: u64,
    late_pct: f64,
    max_late_ms: f64,
    hung_up_during: u64,
    active_after: Option<u64>,
    mem0: Option<(u64, usize)>,
    mem_up: Option<(u64, usize)>,
    mem1: Option<(u64, usize)>,
}

impl Level {
    fn calls_ok(&self) -> bool {
        self.ok_calls == self.n && self.bridged == self.n && self.hung_up_during == 0
    }

    fn audio_ok(&self) -> bool {
        self.side
            .iter()
            .all(|s| s.lost() == 0 && s.skipped == 0 && s.silent == 0 && s.tone_pct() >= 99.0)
            && self.drops.is_none_or(|(_, rtp)| rtp == 0)
    }

    fn pacing_ok(&self) -> bool {
        self.side.iter().all(|s| s.p99 <= 2.0)
    }

    fn print(&self) {
        let n = self.n;
        let verdict = if self.calls_ok() && self.audio_ok() && self.pacing_ok() {
            "PASS"
        } else if self.calls_ok() && self.audio_ok() {
            "FAIL (pacing)"
        } else {
            "FAIL"
        };
        let mut oc: Vec<_> = self.outcomes.iter().collect();
        oc.sort();
        println!("bridge {n}: {verdict}");
        println!(
            "  calls: {} up, {} bridged ({} agents answered), {} ended by the caller's BYE; outcomes {oc:?}; \
             {} offers cancelled; set-up {:.1} s; measured {:.1} s",
            self.up,
            self.bridged,
            self.answered_agents,
            self.wrapped,
            self.cancelled,
            self.setup_s,
            self.secs
        );
        for (k, s) in self.side.iter().enumerate() {
            let who = if k == 0 {
                "server -> callers"
            } else {
                "server -> phones "
            };
            println!(
                "  {who}: {} streams ({} silent), {} packets, {} lost, {} skipped slots, {} out of order, {} bad PT; \
                 pacing p50 {:.3} p99 {:.3} max {:.1} ms, > 2 ms {:.3} % over {} intervals (whole calls p99 {:.3}); \
                 other side's tone in {:.2} % of {} checked packets (others' zero crossings: count {:?})",
                s.streams,
                s.silent,
                s.received,
                s.lost(),
                s.skipped,
                s.out_of_order,
                s.bad_pt,
                s.p50,
                s.p99,
                s.max,
                s.over2,
                s.intervals,
                s.all_p99,
                s.tone_pct(),
                s.tone_checked,
                s.wrong
            );
        }
        let opt = |v: Option<f64>| v.map_or("?".to_owned(), |c| format!("{c:.0}"));
        println!(
            "  server CPU {} % of a core with all {n} up ({} per call), waited for a CPU {} ms/s; \
             load generator {:.0} %; box busy {:.0} %",
            opt(self.cpu),
            self.cpu
                .map_or("?".into(), |c| format!("{:.3} %", c / n as f64)),
            opt(self.wait),
            self.self_cpu,
            self.box_pct
        );
        println!(
            "  our RTP dropped at the server's full sockets: {}; server SIP socket drops {}; \
             UDP RcvbufErrors (machine) +{}; our packets > 1 ms late: {:.3} % (max {:.1} ms)",
            self.drops.map_or("?".into(), |d| d.1.to_string()),
            self.drops.map_or("?".into(), |d| d.0.to_string()),
            self.rcvbuf,
            self.late_pct,
            self.max_late_ms
        );
        let mem = |m: Option<(u64, usize)>| {
            m.map_or("?".into(), |(rss, fds)| {
                format!("{} MiB/{fds} fds", rss / 1024)
            })
        };
        println!(
            "  server memory before / all up / after: {} / {} / {}; active calls after: {}",
            mem(self.mem0),
            mem(self.mem_up),
            mem(self.mem1),
            self.active_after.map_or("?".into(), |a| a.to_string())
        );
        let [c, p] = &self.side;
        println!(
            "RESULT bridge n={n} up={} bridged={} ok={} pass={} calls_ok={} audio_ok={} pacing_ok={} \
             lost_c={} lost_p={} skipped_c={} skipped_p={} p50_c={:.3} p99_c={:.3} max_c={:.1} \
             p50_p={:.3} p99_p={:.3} max_p={:.1} tone_c={:.2} tone_p={:.2} server_cpu={} cpu_per_call={} \
             wait_ms_s={} gen_cpu={:.0} box={:.0} in_drops={} sip_drops={} active_after={}",
            self.up,
            self.bridged,
            self.ok_calls,
            u8::from(self.calls_ok() && self.audio_ok() && self.pacing_ok()),
            u8::from(self.calls_ok()),
            u8::from(self.audio_ok()),
            u8::from(self.pacing_ok()),
            c.lost(),
            p.lost(),
            c.skipped,
            p.skipped,
            c.p50,
            c.p99,
            c.max,
            p.p50,
            p.p99,
            p.max,
            c.tone_pct(),
            p.tone_pct(),
            opt(self.cpu),
            self.cpu
                .map_or("na".into(), |x| format!("{:.3}", x / n as f64)),
            opt(self.wait),
            self.self_cpu,
            self.box_pct,
            self.drops.map_or("na".into(), |d| d.1.to_string()),
            self.drops.map_or("na".into(), |d| d.0.to_string()),
            self.active_after.map_or("na".into(), |a| a.to_string()),
        );
    }
}

fn print_pops(samples: &[PopSample], pops: &[PopInfo]) {
    let col = |f: fn(&PopSample) -> f64| -> Vec<f64> { samples.iter().map(f).collect() };
    let line = |name: &str, v: &[f64]| {
        println!(
            "  {name:<38} median {:>8.2}  p99 {:>8.2}  max {:>8.2}  min {:>8.2} ms",
            quantile(v, 0.5),
            quantile(v, 0.99),
            quantile(v, 1.0),
            v.iter().copied().fold(f64::INFINITY, f64::min)
        );
    };
    println!("screen pop: {} offers measured", samples.len());
    let inv_off = col(|s| s.invite_to_offered_ms);
    let ready_off = col(|s| s.ready_to_offered_ms);
    let ready_inv = col(|s| s.ready_to_invite_ms);
    let ring_off = col(|s| s.ringing_to_offered_ms);
    line("INVITE at the phone -> offered", &inv_off);
    line("ready sent -> offered", &ready_off);
    line("ready sent -> INVITE at the phone", &ready_inv);
    line("state ringing -> offered (websocket)", &ring_off);
    let bursts = samples.iter().map(|s| s.burst).max().map_or(0, |b| b + 1);
    for b in 0..bursts {
        let v: Vec<f64> = samples
            .iter()
            .filter(|s| s.burst == b)
            .map(|s| s.invite_to_offered_ms)
            .collect();
        if !v.is_empty() {
            println!(
                "    burst {}: {} offers, INVITE -> offered median {:.2} p99 {:.2} max {:.2} ms",
                b + 1,
                v.len(),
                quantile(&v, 0.5),
                quantile(&v, 0.99),
                quantile(&v, 1.0)
            );
        }
    }
    let n = pops.len().max(1) as f64;
    let good = pops
        .iter()
        .filter(|p| p.present && p.customer && p.phone_match)
        .count();
    let mean = |f: fn(&PopInfo) -> usize| pops.iter().map(f).sum::<usize>() as f64 / n;
    println!(
        "  pops: {good} of {} with the caller's customer; mean {:.1} recent calls, {:.1} open tickets, \
         {:.1} products, {:.0} bytes per offered event; {} with recent calls, {} with open tickets",
        pops.len(),
        mean(|p| p.recent_calls),
        mean(|p| p.open_tickets),
        mean(|p| p.products),
        mean(|p| p.bytes),
        pops.iter().filter(|p| p.recent_calls > 0).count(),
        pops.iter().filter(|p| p.open_tickets > 0).count(),
    );
    println!(
        "RESULT pop offers={} with_customer={good} invite_to_offered_p50_ms={:.2} invite_to_offered_p99_ms={:.2} \
         invite_to_offered_max_ms={:.2} ready_to_offered_p50_ms={:.2} ready_to_offered_p99_ms={:.2} \
         ready_to_offered_max_ms={:.2} ready_to_invite_p50_ms={:.2} ready_to_invite_p99_ms={:.2}",
        samples.len(),
        quantile(&inv_off, 0.5),
        quantile(&inv_off, 0.99),
        quantile(&inv_off, 1.0),
        quantile(&ready_off, 0.5),
        quantile(&ready_off, 0.99),
        quantile(&ready_off, 1.0),
        quantile(&ready_inv, 0.5),
        quantile(&ready_inv, 0.99),
    );
}

/// Writes a flows folder for the bench: the repository's prompts and
/// calendars, and a main flow that queues every caller at once.
fn write_flows(dir: &str, a: &Args) {
    fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for e in std::fs::read_dir(from)? {
            let e = e?;
            let target = to.join(e.file_name());
            if e.file_type()?.is_dir() {
                copy_dir(&e.path(), &target)?;
            } else {
                std::fs::copy(e.path(), target)?;
            }
        }
        Ok(())
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows");
    let dir = Path::new(dir);
    for sub in ["prompts", "calendars"] {
        copy_dir(&root.join(sub), &dir.join(sub))
            .unwrap_or_else(|e| die(&format!("copying {sub}: {e}")));
    }
    let flow = FLOW.replace("queue = \"general\"", &format!("queue = \"{}\"", a.queue));
    std::fs::write(dir.join("hotline.toml"), flow).unwrap_or_else(|e| die(&e.to_string()));
    println!(
        "wrote {}/hotline.toml (start node: queue {})",
        dir.display(),
        a.queue
    );
    println!(
        "start the server (demo data and users; RTP ports apart from ours at {}+):",
        a.rtp_base
    );
    println!(
        "  target/release/hotline serve --demo --data DATA_DIR --flows {} --sip {} --http {} --rtp-ports 20000-39999",
        dir.display(),
        a.server,
        a.http
    );
    println!("then: cargo bench --bench acd_load -- --server-pid $(pgrep -n hotline)");
}

// ----- 3. the wallboard --------------------------------------------------------------

/// A change the tool made, waiting for the frame that shows it.
struct Probe {
    what: &'static str,
    /// The agent's username, or the caller's number.
    key: String,
    /// The agent's state wanted (unused for a call).
    want: &'static str,
    sent_ns: i64,
}

/// What the wallboard readers share with the bench.
#[derive(Default)]
struct BoardShared {
    probes: Mutex<Vec<Probe>>,
    /// (what, ms from the change sent to the frame showing it).
    seen: Mutex<Vec<(&'static str, f64)>>,
    /// Of the measured board.
    frames: AtomicU64,
    bytes: AtomicU64,
    max_bytes: AtomicU64,
    frames_without_kernel_ts: AtomicU64,
    /// The latest frame's calls and agents, and its totals.
    last: Mutex<(usize, usize, Value)>,
    /// Frames read by every board, and boards the server closed.
    all_frames: AtomicU64,
    closed: AtomicU64,
    stop: AtomicBool,
}

/// One supervisor's board until `stop`: reads every frame (answering the
/// server's pings as it reads); `measure`d, each frame settles the probes
/// it shows.
fn board_reader(http: SocketAddr, token: String, shared: Arc<BoardShared>, measure: bool) {
    let mut ws = match open_ws_at(http, "/api/wallboard/ws", &token) {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("wallboard: {e}");
            shared.closed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let sock = &ws.get_ref().sock;
    sock.set_nonblocking(false).ok();
    sock.set_read_timeout(Some(Duration::from_millis(200))).ok();
    while !shared.stop.load(Ordering::Relaxed) {
        match ws.read() {
            Ok(Message::Text(t)) => {
                shared.all_frames.fetch_add(1, Ordering::Relaxed);
                if !measure {
                    continue;
                }
                let (ts, kernel) = (ws.get_ref().last_ns, ws.get_ref().kernel);
                if !kernel {
                    shared
                        .frames_without_kernel_ts
                        .fetch_add(1, Ordering::Relaxed);
                }
                let len = t.len() as u64;
                shared.frames.fetch_add(1, Ordering::Relaxed);
                shared.bytes.fetch_add(len, Ordering::Relaxed);
                shared.max_bytes.fetch_max(len, Ordering::Relaxed);
                let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                    continue;
                };
                let agents: HashMap<&str, &str> = v["agents"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|a| Some((a["username"].as_str()?, a["state"].as_str()?)))
                            .collect()
                    })
                    .unwrap_or_default();
                let callers: std::collections::HashSet<&str> = v["calls"]
                    .as_array()
                    .map(|c| c.iter().filter_map(|c| c["caller"].as_str()).collect())
                    .unwrap_or_default();
                let mut probes = shared.probes.lock().unwrap();
                let mut seen = Vec::new();
                probes.retain(|p| {
                    let shown = match p.what {
                        "call" => callers.contains(p.key.as_str()),
                        _ => agents.get(p.key.as_str()) == Some(&p.want),
                    };
                    if shown {
                        seen.push((p.what, (ts - p.sent_ns) as f64 / 1e6));
                    }
                    !shown
                });
                drop(probes);
                shared.seen.lock().unwrap().extend(seen);
                let calls = v["calls"].as_array().map_or(0, Vec::len);
                *shared.last.lock().unwrap() = (calls, agents.len(), v["totals"].clone());
            }
            Ok(Message::Close(_)) => {
                shared.closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                eprintln!("wallboard closed: {e}");
                shared.closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// What one frame of `calls` calls and `agents` agents costs to build and
/// serialise (the runtime's render task does this for each snapshot), and,
/// as a stand-in for the driver's snapshot (`Engine::board` allocates the
/// same strings and vectors), to clone the snapshot: (µs to build and
/// serialise, µs to clone, bytes).
fn render_cost(calls: usize, agents: usize) -> (f64, f64, usize) {
    use hotline::wallboard::{
        Board, Breaches, CallState, Live, LiveAgent, LiveCall, LiveQueue, Tally, Thresholds, Waiter,
    };
    let now = 1_773_124_212_000_i64;
    let queues = ["repair", "installation", "complaint", "general"];
    let live_calls: Vec<LiveCall> = (0..calls)
        .map(|k| {
            let talking = k < agents;
            LiveCall {
                id: format!("01a24b500{k:011x}"),
                caller: format!("1391234{k:04}"),
                campaign: None,
                queue: Some(queues[k % 4].to_owned()),
                agent: talking.then_some(k as i64 + 1),
                state: if talking {
                    CallState::Talking
                } else {
                    CallState::Waiting
                },
                arrived_ms: now - 120_000,
                queued_ms: Some(now - 100_000 + k as i64),
                answered_ms: talking.then_some(now - 60_000),
                monitor: None,
            }
        })
        .collect();
    let live = Live {
        at_ms: now,
        queues: queues
            .iter()
            .map(|q| LiveQueue {
                name: (*q).to_owned(),
                waiting: live_calls
                    .iter()
                    .filter(|c| c.state == CallState::Waiting && c.queue.as_deref() == Some(q))
                    .map(|c| Waiter {
                        call: c.id.clone(),
                        since_ms: c.queued_ms.unwrap_or(now),
                    })
                    .collect(),
            })
            .collect(),
        agents: (0..agents)
            .map(|k| LiveAgent {
                id: k as i64 + 1,
                username: format!("bench-agent-{:04}", k + 1),
                display_name: format!("bench-agent-{:04}", k + 1),
                queues: vec!["general".into()],
                state: "on_call",
                reason: None,
                since_ms: now - 60_000,
                online: true,
                call: live_calls.get(k).map(|c| c.id.clone()),
                call_since_ms: Some(now - 60_000),
            })
            .collect(),
        calls: live_calls,
    };
    let tally = Tally::new(jiff::tz::TimeZone::UTC, 20_000, now);
    let thresholds = Thresholds {
        service_level_secs: 20,
        service_level_target: 80,
        alert_wait_secs: 60,
        alert_not_ready_mins: 15,
    };
    let breaches = Breaches::default();
    let runs = 200;
    let t0 = Instant::now();
    let mut bytes = 0;
    for _ in 0..runs {
        let board = Board::build(&live, tally.today(), &breaches, &thresholds, now);
        bytes = serde_json::to_string(&board).map_or(0, |s| s.len());
    }
    let render = t0.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
    let t0 = Instant::now();
    let mut kept = 0;
    for _ in 0..runs {
        kept += std::hint::black_box(live.clone()).calls.len();
    }
    let clone = t0.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
    assert_eq!(kept, calls * runs as usize);
    (render, clone, bytes)
}

impl Bench {
    /// `--wb-calls` callers up, `--wb-agents` agents taking as many of
    /// them; the wallboard's latency from a change to the frame showing it.
    fn wallboard(&mut self) {
        let (na, nc) = (self.a.wb_agents, self.a.wb_calls);
        self.ensure_agents(na);
        self.settle_agents(na);
        let pid = self.a.server_pid;
        let shared = Arc::new(BoardShared::default());
        let readers: Vec<_> = (0..self.a.wb_boards)
            .map(|k| {
                let (http, token, shared) = (self.a.http, self.admin_token.clone(), shared.clone());
                std::thread::spawn(move || board_reader(http, token, shared, k == 0))
            })
            .collect();
        if !self.wait_until(Duration::from_secs(5), |_| {
            shared.frames.load(Ordering::Relaxed) > 0
        }) {
            die("no wallboard frame within 5 s of connecting");
        }

        // The floor: nc callers waiting, na agents take na of them.
        let rate = (nc as f64 / 8.0).max(10.0);
        println!("wallboard: placing {nc} calls at {rate:.0} cps");
        let numbers: Vec<String> = (0..nc)
            .map(|k| self.numbers[k % self.numbers.len()].clone())
            .collect();
        let range = self.place_calls(&numbers, rate);
        let up = self.callers[range.clone()]
            .iter()
            .filter(|c| c.state == CallState::Up)
            .count();
        self.pump_for(Duration::from_secs(1));
        println!("wallboard: {up} callers waiting; {na} agents go ready");
        let order: Vec<usize> = (0..na).collect();
        self.ready_in_bursts(
            &order,
            self.a.burst.max(na / 16),
            Duration::from_millis(250),
        );
        let want = na.min(up);
        let bridged = |b: &Bench| {
            b.agents[..na]
                .iter()
                .filter(|a| a.m.answered_ns.is_some())
                .count()
        };
        if !self.wait_until(Duration::from_secs(60), |b| bridged(b) >= want) {
            self.problem(
                "agents not all on a call within 60 s",
                format!("{} of {want}", bridged(self)),
            );
        }
        self.pump_for(Duration::from_secs(2));
        let (calls_shown, agents_shown, totals) = shared.last.lock().unwrap().clone();
        println!(
            "wallboard: {} bridged; the board shows {calls_shown} calls, {agents_shown} agents, \
             {} waiting; measuring for {:.0} s",
            bridged(self),
            totals["waiting"],
            self.a.hold.as_secs_f64()
        );

        // The measurement.
        shared.seen.lock().unwrap().clear();
        let frames0 = shared.frames.load(Ordering::Relaxed);
        let bytes0 = shared.bytes.load(Ordering::Relaxed);
        shared.max_bytes.store(0, Ordering::Relaxed);
        let cpu0 = pid.and_then(cpu_seconds);
        let self0 = cpu_seconds(std::process::id());
        let mut busy = None;
        box_busy(&mut busy);
        let t0 = Instant::now();
        let mut next = t0;
        let mut k = 0usize;
        let mut probe_calls: Vec<(usize, Instant)> = Vec::new();
        let mut sent = HashMap::<&str, usize>::new();
        while t0.elapsed() < self.a.hold {
            self.pump(Duration::from_millis(2));
            let now = Instant::now();
            if now >= next {
                next += self.a.wb_every;
                // An agent's state: the next bridged agent holds (or resumes).
                let i = k % na;
                let (state, call) = (
                    self.agents[i].state.clone(),
                    self.agents[i].m.call_id.clone(),
                );
                if let Some(call) = call
                    && (state == "on_call" || state == "on_hold")
                {
                    let (cmd, want) = if state == "on_call" {
                        ("hold", "on_hold")
                    } else {
                        ("resume", "on_call")
                    };
                    let key = self.agents[i].name.clone();
                    let sent_ns = wall_ns();
                    shared.probes.lock().unwrap().push(Probe {
                        what: "agent",
                        key,
                        want,
                        sent_ns,
                    });
                    self.command(i, json!({"type": cmd, "call": call}));
                    *sent.entry("agent").or_default() += 1;
                }
                // A call arriving, every second probe.
                if k.is_multiple_of(2) {
                    let number = format!("1369{:03}{:04}", self.run % 1000, k / 2);
                    let sent_ns = wall_ns();
                    shared.probes.lock().unwrap().push(Probe {
                        what: "call",
                        key: number.clone(),
                        want: "",
                        sent_ns,
                    });
                    let idx = self.place_call(&number);
                    probe_calls.push((idx, now));
                    *sent.entry("call").or_default() += 1;
                }
                k += 1;
            }
            // Probe callers hang up 3 s after calling.
            let due: Vec<usize> = probe_calls
                .iter()
                .filter(|(idx, at)| {
                    now.duration_since(*at) > Duration::from_secs(3)
                        && self.callers[*idx].state == CallState::Up
                })
                .map(|(idx, _)| *idx)
                .collect();
            for idx in due {
                self.hang_up(idx);
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let cpu = match (cpu0, pid.and_then(cpu_seconds)) {
            (Some(a), Some(b)) => Some((b - a) / secs * 100.0),
            _ => None,
        };
        let self_cpu = match (self0, cpu_seconds(std::process::id())) {
            (Some(a), Some(b)) => (b - a) / secs * 100.0,
            _ => 0.0,
        };
        let box_pct = box_busy(&mut busy).unwrap_or(0.0);
        let frames = shared.frames.load(Ordering::Relaxed) - frames0;
        let bytes = shared.bytes.load(Ordering::Relaxed) - bytes0;
        let max_bytes = shared.max_bytes.load(Ordering::Relaxed);
        // Changes still unseen get 2 more seconds.
        self.wait_until(Duration::from_secs(2), |_| {
            shared.probes.lock().unwrap().is_empty()
        });
        let unseen = shared.probes.lock().unwrap().len();
        let seen = shared.seen.lock().unwrap().clone();
        let (calls_shown, agents_shown, totals) = shared.last.lock().unwrap().clone();

        // Tear down: the probe calls and the load's.
        let held: Vec<usize> = (0..na)
            .filter(|&i| self.agents[i].state == "on_hold")
            .collect();
        for i in held {
            if let Some(call) = self.agents[i].m.call_id.clone() {
                self.command(i, json!({"type": "resume", "call": call}));
            }
        }
        self.pump_for(Duration::from_millis(500));
        for (idx, _) in &probe_calls {
            self.hang_up(*idx);
        }
        self.hang_up_all(range.clone(), 400.0);
        self.pump_for(Duration::from_millis(500));
        let oc = self.outcomes(range);
        self.settle_agents(na);
        shared.stop.store(true, Ordering::Relaxed);
        for r in readers {
            let _ = r.join();
        }
        let (render_us, clone_us, render_bytes) =
            render_cost(calls_shown.max(nc), agents_shown.max(na));

        println!();
        println!(
            "wallboard: {nc} calls ({up} up), {na} agents, {} board(s), {secs:.0} s",
            self.a.wb_boards
        );
        println!(
            "  the board showed {calls_shown} calls and {agents_shown} agents; totals {totals}"
        );
        for what in ["agent", "call"] {
            let v: Vec<f64> = seen
                .iter()
                .filter(|(w, _)| *w == what)
                .map(|(_, ms)| *ms)
                .collect();
            let label = if what == "agent" {
                "agent hold/resume written -> frame showing it"
            } else {
                "call's INVITE sent -> frame listing it"
            };
            println!(
                "  {label}: n {} of {} sent, median {:.0} ms, p95 {:.0} ms, max {:.0} ms",
                v.len(),
                sent.get(what).copied().unwrap_or(0),
                quantile(&v, 0.5),
                quantile(&v, 0.95),
                v.iter().copied().fold(f64::NAN, f64::max)
            );
            println!(
                "RESULT wallboard {what} n={} p50_ms={:.1} p95_ms={:.1} max_ms={:.1}",
                v.len(),
                quantile(&v, 0.5),
                quantile(&v, 0.95),
                v.iter().copied().fold(f64::NAN, f64::max)
            );
        }
        println!(
            "  changes never shown: {unseen}; frames: {frames} ({:.1}/s), {:.0} KB on average, {:.0} KB the largest; \
             boards closed by the server: {}; frames without a kernel timestamp: {}",
            frames as f64 / secs,
            bytes as f64 / frames.max(1) as f64 / 1024.0,
            max_bytes as f64 / 1024.0,
            shared.closed.load(Ordering::Relaxed),
            shared.frames_without_kernel_ts.load(Ordering::Relaxed)
        );
        println!(
            "  server CPU {} of a core; this tool {self_cpu:.0} %; box busy {box_pct:.0} %",
            cpu.map_or("?".into(), |c| format!("{c:.0} %")),
        );
        println!(
            "  building and serialising one frame of {} calls and {} agents: {render_us:.0} us ({} KB); \
             cloning its snapshot: {clone_us:.0} us",
            calls_shown.max(nc),
            agents_shown.max(na),
            render_bytes / 1024
        );
        println!("  callers: {oc:?}");
        println!(
            "RESULT wallboard frames_per_s={:.2} avg_kb={:.1} max_kb={:.1} server_cpu_pct={} render_us={render_us:.0} clone_us={clone_us:.0}",
            frames as f64 / secs,
            bytes as f64 / frames.max(1) as f64 / 1024.0,
            max_bytes as f64 / 1024.0,
            cpu.map_or("?".into(), |c| format!("{c:.1}")),
        );
    }
}

fn main() {
    let args = parse_args();
    if let Some(dir) = args.write_flows.clone() {
        write_flows(&dir, &args);
        return;
    }
    let run = wall_ns() as u64 / 1000 % 1_000_000_000;

    // The admin session, the customers' numbers.
    let admin_token = admin_login(args.http, &args.admin).unwrap_or_else(|e| die(&e));
    let mut customers: Vec<(String, usize)> = Vec::new();
    for offset in (0..).step_by(200) {
        let (st, v) = http(
            args.http,
            "GET",
            &format!("/api/customers?limit=200&offset={offset}"),
            Some(&admin_token),
            None,
        )
        .unwrap_or_else(|e| die(&e));
        if st != 200 {
            die(&format!("GET /api/customers: {st} {v}"));
        }
        let page = v["customers"].as_array().cloned().unwrap_or_default();
        for c in &page {
            if let Some(p) = c["phones"].as_array().and_then(|p| p.first()?.as_str()) {
                customers.push((p.to_owned(), 0));
            }
        }
        if page.len() < 200 {
            break;
        }
    }
    if customers.is_empty() {
        die("no customers: start the server with --demo (or import some)");
    }
    // Those with the most history first: calls, open tickets, products.
    for c in &mut customers {
        if let Ok((200, p)) = http(
            args.http,
            "GET",
            &format!("/api/screen-pop?caller={}", c.0),
            Some(&admin_token),
            None,
        ) {
            let len = |v: &Value| v.as_array().map_or(0, Vec::len);
            c.1 = 4 * len(&p["recent_calls"])
                + 2 * len(&p["open_tickets"])
                + len(&p["customer"]["products"]);
        }
    }
    customers.sort_by_key(|c| std::cmp::Reverse(c.1));
    println!(
        "{} customers; {} with history in their pop (calls, open tickets or products)",
        customers.len(),
        customers.iter().filter(|c| c.1 > 0).count()
    );

    let trunk = UdpSocket::bind("127.0.0.1:0").expect("bind the trunk's SIP socket");
    let phones = UdpSocket::bind("127.0.0.1:0").expect("bind the phones' SIP socket");
    let (ep, rx_ep) = sip_sockets_and_epolls([(&trunk, TOKEN_TRUNK), (&phones, TOKEN_PHONES)]);

    let stop = Arc::new(AtomicBool::new(false));
    let window = Arc::new([AtomicI64::new(i64::MAX), AtomicI64::new(i64::MAX)]);
    let rx = Arc::new(Mutex::new(Rx {
        streams: HashMap::new(),
        all: [Hist::new(), Hist::new()],
        window: [Hist::new(), Hist::new()],
        wrong_tone: [HashMap::new(), HashMap::new()],
        not_rtp: 0,
        no_kernel_ts: 0,
    }));
    let rx_thread = {
        let (stop, window, rx) = (stop.clone(), window.clone(), rx.clone());
        std::thread::spawn(move || receiver(rx_ep, stop, window, rx))
    };
    let (tx_cmd, rx_cmd) = mpsc::channel();
    let send_stats = Arc::new(SendStats::default());
    let tx_thread = {
        let (stop, stats) = (stop.clone(), send_stats.clone());
        std::thread::spawn(move || sender(rx_cmd, stop, stats, [CALLER_HZ, PHONE_HZ], 0x5EED_0000))
    };

    let mut b = Bench {
        run,
        ep,
        rx_ep,
        trunk_addr: trunk.local_addr().unwrap(),
        trunk,
        phones_addr: phones.local_addr().unwrap(),
        phones,
        agents: Vec::new(),
        by_user: HashMap::new(),
        legs: HashMap::new(),
        callers: Vec::new(),
        callers_done_below: 0,
        numbers: customers.into_iter().map(|c| c.0).collect(),
        tx_cmd,
        send_stats,
        rx,
        window,
        streams: Vec::new(),
        next_port: args.rtp_base,
        next_stream: 0,
        branch: 0,
        last_tick: Instant::now(),
        admin_token,
        problems: Vec::new(),
        counts: HashMap::new(),
        retransmissions: 0,
        buf: vec![0u8; 65_536],
        a: args,
    };
    let mode = b.a.mode;

    if matches!(mode, Mode::Pop | Mode::Both) {
        if b.a.calls > b.numbers.len() {
            die(&format!(
                "--calls {} but only {} customers' numbers",
                b.a.calls,
                b.numbers.len()
            ));
        }
        b.seed_history();
        let mut samples = Vec::new();
        let mut pops = Vec::new();
        for round in 0..b.a.rounds {
            b.pop_round(round, &mut samples, &mut pops);
        }
        print_pops(&samples, &pops);
    }
    if mode == Mode::Wallboard {
        b.wallboard();
    }
    if matches!(mode, Mode::Bridge | Mode::Both) {
        let mut best = None;
        for n in b.a.levels.clone() {
            let level = b.bridge_level(n);
            level.print();
            if level.calls_ok() && level.audio_ok() && level.pacing_ok() {
                best = Some(n);
            }
            let clean = level.calls_ok() && level.audio_ok();
            if !clean && !b.a.all_levels {
                println!("bridge: stopping after the first level with lost calls or audio");
                break;
            }
        }
        println!(
            "bridge: largest N that passed: {}",
            best.map_or("none".into(), |n| n.to_string())
        );
    }

    // Leave things as found: agents logged out, phones unregistered.
    let n = b.agents.len();
    for i in 0..n {
        b.command(i, json!({"type": "logout"}));
        b.register(i, None, 0);
    }
    b.wait_until(Duration::from_secs(5), |b| {
        b.agents.iter().all(|a| a.reg != RegPhase::Sent)
    });
    stop.store(true, Ordering::Relaxed);
    let _ = tx_thread.join();
    let _ = rx_thread.join();
    let r = b.rx.lock().unwrap();
    println!(
        "SIP retransmissions by us: {}; RTP not parsed: {}; RTP without kernel timestamp: {}",
        b.retransmissions, r.not_rtp, r.no_kernel_ts
    );
    drop(r);
    print_counts_and_problems(&b.counts, &b.problems);
}
