//! Outbound campaigns under load, against a RUNNING hotline: how fast the
//! dialer dials, how many outbound calls the server carries within the
//! campaign's and the trunk's caps, and how long after an agent turns
//! ready a progressive campaign's customer's phone rings.
//!
//! The tool plays every outside party itself:
//!
//! - **the carrier's proxy** (`--carrier`, the address `[outbound] proxy`
//!   names): one SIP/UDP socket that takes every INVITE hotline sends and
//!   answers as the customers' phones would: 180 at once, 200 with SDP
//!   after `--answer-ms` (retransmitted until the ACK), RTP PCMU 20 ms both
//!   ways from a socket of its own per call (a 400 Hz tone out; what
//!   hotline sends is counted: loss, skipped slots, pacing from kernel
//!   timestamps, and whether it is the survey's first prompt). The
//!   customer hangs up (BYE) `--hold` seconds (± `--hold-jitter`) after the
//!   answer if hotline has not; a BYE or CANCEL from hotline is answered.
//!   The kernel receive time of every INVITE is kept (SO_TIMESTAMPNS).
//! - **the agents' desk phones and screens** (stage 2): users
//!   `PREFIX-0001`... created through the API (role agent, `--queue`),
//!   their CTI websockets (`/api/agent/ws`, `Authorization: Bearer`) and
//!   SIP phones registered with digest authentication on one UDP socket;
//!   a phone answers an offer with 180, then 200 after `--phone-answer-ms`.
//!
//! `--write-config FILE` writes the server configuration the stages need
//! and prints the server's command line, then exits: `[outbound] proxy`
//! at `--carrier`, `lines` = the largest level, one survey campaign
//! `load-C` (flow `survey`, `max_attempts = 1`, `concurrency = C`) per
//! level C of `--levels`, and the progressive campaign `load-progressive`
//! on `--queue` (concurrency `--agents`), all in a time zone whose local
//! time is about noon when the file is written (daily 08:00-21:00: open
//! for at least eight hours whatever the time of day), and
//! `demo_data = true` for the admin the tool signs in as.
//!
//! Stage 1, **dialling rate and concurrency** (`--levels 100,200,400`): per
//! level C, the campaign `load-C` is paused, `--contacts-per-level` × C
//! contacts are enrolled (`POST /api/campaigns/load-C/contacts`, four
//! at a time), and the campaign is switched back to running. Measured at
//! the carrier: INVITEs per second from the first until C calls are in
//! progress and until C are answered, the dialer's bursts (rounds), the
//! highest number of calls in progress and answered (never above C: the
//! cap), the mean while contacts remained to be dialled, calls lost
//! (hotline's CANCEL, no ACK, hotline's BYE before the customer's, a BYE
//! not answered) and contacts not dialled; what the customers heard: RTP
//! loss (sequence gaps), skipped slots, pacing |inter-arrival - 20 ms|
//! over the window in which all C calls are answered and none has hung
//! up, and whether the first packets are the `survey-intro` prompt's
//! first second, frame for frame (PCMU of the prompt's WAV); with
//! `--server-pid` the server's CPU (/proc/PID/stat) in that window and
//! over the level, and our packets its full sockets dropped (read every
//! second, with the machine's UDP RcvbufErrors). The levels stop at the
//! first with a lost call, a contact not dialled or lost audio either way
//! (unless `--all-levels`).
//!
//! Stage 2, **agent ready → ring** (`--agents 10 --rounds 100`): the
//! progressive campaign gets contacts; per round one agent (in turn) sends
//! `ready`; measured: from the `ready` written to the INVITE arriving at
//! the carrier's socket (kernel timestamp). The customer answers, the
//! agent's phone rings (customer's 200 → INVITE at the phone and
//! → `offered` are reported too) and answers, the call is held
//! `--talk-ms`, the customer hangs up, the campaign is paused, the agent
//! ends the wrap-up (`end_wrap_up`, which makes the agent ready: with the
//! campaign running that would dial the next contact at once) and goes
//! not ready, and the campaign runs again. Before each round the tool
//! waits until the dialer has written the last round's attempts (no
//! contact `dialling`; counted and reported): until then the dialer counts
//! those calls against the campaign's concurrency. `--burst-rounds N`
//! rounds more in which all `--agents` send `ready` together.
//!
//! Only std, serde_json, tungstenite (a dev-dependency), fastrand and jiff
//! (hotline's own dependencies) and hotline's RTP, G.711, WAV and digest
//! code; Linux only (epoll, recvmsg with kernel timestamps:
//! benches/common/load.rs).
//!
//! Run: `cargo bench --bench outbound_load -- --write-config FILE [--levels 100,200,400] [--agents 10]`,
//! start the server as printed, then
//! `cargo bench --bench outbound_load -- --server-pid PID [--stage rate|progressive|both]
//!       [--levels 100,200,400] [--contacts-per-level 2] [--hold 20] [--hold-jitter 0.25]
//!       [--answer-ms 300] [--agents 10] [--rounds 100] [--burst-rounds 3] [--talk-ms 1000]
//!       [--carrier 127.0.0.1:5070] [--server 127.0.0.1:5060] [--http 127.0.0.1:8080]
//!       [--admin admin:hotline-demo] [--rtp-base 40000] [--all-levels]`
//! Prints a human summary and `RESULT ...` lines for scripts.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use hotline::media::{g711, rtp};
use hotline::sip::digest;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

#[path = "common/load.rs"]
mod load;
use load::{
    Hist, ProblemList, SendCmd, SendStats, TsStream, admin_login, agent_session, box_busy,
    cpu_seconds, header, http, http_retry, note_problem, open_ws, print_counts_and_problems,
    quantile, register_answer, response, rss_and_fds, run_queue_wait_ns, sdp_dest, sdp_offer,
    sender, sip_sockets_and_epolls, sip_user, socket_drops, sys, udp_rcvbuf_errors, wall_ns,
};

const FRAME_NS: i64 = 20_000_000;
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TX_TIMEOUT: Duration = Duration::from_secs(32);
const CUSTOMER_HZ: f64 = 400.0;
const PHONE_HZ: f64 = 1000.0;
/// The first second of the survey's first prompt is checked frame by frame.
const PROMPT_FRAMES: usize = 50;
/// Packets of a call searched for the prompt's start before giving up.
const PROMPT_SEARCH: u32 = 250;
/// Stream ids: the phones' RTP sockets, and survey calls (prompt checked).
const PHONE_BIT: u32 = 1 << 31;
const SURVEY_BIT: u32 = 1 << 30;
/// Tokens of the control epoll: the two SIP sockets, then the websockets.
const TOKEN_CARRIER: u64 = 1;
const TOKEN_PHONES: u64 = 2;
const TOKEN_WS: u64 = 1 << 32;
const PROGRESSIVE: &str = "load-progressive";
const ALLOW: &str = "_1[3-9]XXXXXXXXX";

// ----- small helpers -----------------------------------------------------------

fn die(what: &str) -> ! {
    eprintln!("outbound_load: {what}");
    std::process::exit(2);
}

/// "p50 / p95 / max" of a sample, in ms.
fn spread(v: &[f64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    format!(
        "{:.2} / {:.2} / {:.2}",
        quantile(v, 0.5),
        quantile(v, 0.95),
        quantile(v, 1.0)
    )
}

/// A zone whose local time is now around noon (tests/campaign_calls.rs):
/// a daily 08:00-21:00 window is open for at least eight hours from now.
fn noon_zone() -> String {
    let secs = wall_ns() / 1_000_000_000;
    let offset = 12 - (secs / 3600) % 24;
    // Etc/GMT-N is UTC+N (POSIX signs).
    match offset {
        0 => "Etc/GMT".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

// ----- arguments -----------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Rate,
    Progressive,
    Both,
}

struct Args {
    stage: Stage,
    server: SocketAddr,
    http: SocketAddr,
    carrier: SocketAddr,
    admin: (String, String),
    levels: Vec<usize>,
    contacts_per_level: f64,
    hold: f64,
    hold_jitter: f64,
    answer: Duration,
    agents: usize,
    rounds: usize,
    burst_rounds: usize,
    phone_answer: Duration,
    talk: Duration,
    prefix: String,
    agent_password: String,
    realm: String,
    queue: String,
    caller_id: String,
    server_pid: Option<u32>,
    rtp_base: u16,
    write_config: Option<String>,
    all_levels: bool,
    flows: PathBuf,
    language: String,
}

fn parse_args() -> Args {
    let mut a = Args {
        stage: Stage::Both,
        server: "127.0.0.1:5060".parse().unwrap(),
        http: "127.0.0.1:8080".parse().unwrap(),
        carrier: "127.0.0.1:5070".parse().unwrap(),
        admin: ("admin".into(), "hotline-demo".into()),
        levels: vec![100, 200, 400],
        contacts_per_level: 2.0,
        hold: 20.0,
        hold_jitter: 0.25,
        answer: Duration::from_millis(300),
        agents: 10,
        rounds: 100,
        burst_rounds: 3,
        phone_answer: Duration::from_millis(300),
        talk: Duration::from_secs(1),
        prefix: "ob-agent".into(),
        agent_password: "ob-agent-password".into(),
        realm: "hotline".into(),
        queue: "general".into(),
        caller_id: "4008001234".into(),
        server_pid: None,
        rtp_base: 40_000,
        write_config: None,
        all_levels: false,
        flows: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ivr-flows"),
        language: "zh".into(),
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
        let v = it
            .next()
            .unwrap_or_else(|| die(&format!("{flag} needs a value")));
        let ms = |v: &str, f: &str| Duration::from_millis(v.parse().unwrap_or_else(|_| die(f)));
        match flag.as_str() {
            "--stage" => {
                a.stage = match v.as_str() {
                    "rate" => Stage::Rate,
                    "progressive" => Stage::Progressive,
                    "both" => Stage::Both,
                    _ => die("--stage rate|progressive|both"),
                }
            }
            "--server" => a.server = v.parse().unwrap_or_else(|_| die("--server ADDR:PORT")),
            "--http" => a.http = v.parse().unwrap_or_else(|_| die("--http ADDR:PORT")),
            "--carrier" => a.carrier = v.parse().unwrap_or_else(|_| die("--carrier ADDR:PORT")),
            "--admin" => {
                let (u, p) = v
                    .split_once(':')
                    .unwrap_or_else(|| die("--admin USER:PASSWORD"));
                a.admin = (u.into(), p.into());
            }
            "--levels" => {
                a.levels = v
                    .split(',')
                    .map(|x| x.trim().parse().unwrap_or_else(|_| die("--levels C,C,...")))
                    .collect();
            }
            "--contacts-per-level" => {
                a.contacts_per_level = v.parse().unwrap_or_else(|_| die("--contacts-per-level F"));
            }
            "--hold" => a.hold = v.parse().unwrap_or_else(|_| die("--hold SECONDS")),
            "--hold-jitter" => {
                a.hold_jitter = v
                    .parse::<f64>()
                    .unwrap_or_else(|_| die("--hold-jitter 0..1"))
                    .clamp(0.0, 0.9);
            }
            "--answer-ms" => a.answer = ms(&v, "--answer-ms MS"),
            "--agents" => a.agents = v.parse().unwrap_or_else(|_| die("--agents N")),
            "--rounds" => a.rounds = v.parse().unwrap_or_else(|_| die("--rounds N")),
            "--burst-rounds" => {
                a.burst_rounds = v.parse().unwrap_or_else(|_| die("--burst-rounds N"));
            }
            "--phone-answer-ms" => a.phone_answer = ms(&v, "--phone-answer-ms MS"),
            "--talk-ms" => a.talk = ms(&v, "--talk-ms MS"),
            "--agent-prefix" => a.prefix = v,
            "--agent-password" => a.agent_password = v,
            "--realm" => a.realm = v,
            "--queue" => a.queue = v,
            "--caller-id" => a.caller_id = v,
            "--server-pid" => {
                a.server_pid = Some(v.parse().unwrap_or_else(|_| die("--server-pid PID")));
            }
            "--rtp-base" => a.rtp_base = v.parse().unwrap_or_else(|_| die("--rtp-base PORT")),
            "--write-config" => a.write_config = Some(v),
            "--flows" => a.flows = PathBuf::from(v),
            "--language" => a.language = v,
            _ => die(&format!("unknown option {flag}")),
        }
    }
    if a.levels.is_empty() || a.levels.contains(&0) {
        die("--levels needs numbers above 0");
    }
    a.agents = a.agents.max(1);
    a
}

// ----- the server's configuration --------------------------------------------------

fn write_config(path: &str, a: &Args) {
    let zone = noon_zone();
    let lines = a.levels.iter().copied().max().unwrap_or(1).max(a.agents);
    let campaign = |name: &str, kind: &str, target: &str, concurrency: usize| {
        format!(
            "[[campaigns]]\nname = \"{name}\"\nkind = \"{kind}\"\n{target}\ncaller_id = \"{}\"\n\
             time_zone = \"{zone}\"\nhours = {{ daily = \"08:00-21:00\" }}\nmax_attempts = 1\n\
             concurrency = {concurrency}\nallow = [\"{ALLOW}\"]\n\n",
            a.caller_id
        )
    };
    let mut text = format!(
        "# Written by benches/outbound_load.rs --write-config at {} UTC.\n\
         # The time zone below has its local time about noon then: the\n\
         # campaigns' daily 08:00-21:00 window is open for at least 8 hours.\n\n\
         [server]\ndemo_data = true              # admin / hotline-demo for the tool's setup\n\n\
         [outbound]\nproxy = \"{}\"        # the tool's carrier socket (--carrier)\n\
         lines = {lines}                    # the largest level; each campaign's concurrency is its cap\n\
         ring_secs = 30\n\n",
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M"),
        a.carrier,
    );
    // The progressive campaign first: the dialer looks at the campaigns in
    // this order, each one before it costing a read of its due contacts.
    text.push_str(&campaign(
        PROGRESSIVE,
        "progressive",
        &format!("queue = \"{}\"", a.queue),
        a.agents,
    ));
    for &c in &a.levels {
        text.push_str(&campaign(
            &format!("load-{c}"),
            "survey",
            "flow = \"survey\"",
            c,
        ));
    }
    std::fs::write(path, text).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    println!(
        "wrote {path}: [outbound] proxy {} with {lines} lines; campaigns {PROGRESSIVE} (queue {}, {} agents) and {}; time zone {zone}",
        a.carrier,
        a.queue,
        a.agents,
        a.levels
            .iter()
            .map(|c| format!("load-{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "start the server (RTP ports apart from ours at {}+):",
        a.rtp_base
    );
    println!(
        "  target/release/hotline serve --config {path} --data DATA_DIR --flows ivr-flows --sip {} --http {} --rtp-ports 20000-39999",
        a.server, a.http
    );
    println!("then: cargo bench --bench outbound_load -- --server-pid $(pgrep -n hotline)");
}

// ----- HTTP, just enough for the setup -----------------------------------------------

// ----- audio ---------------------------------------------------------------------------

/// The first frames of a prompt as hotline sends them in PCMU.
fn prompt_frames(a: &Args, name: &str) -> Vec<[u8; 160]> {
    let path = a
        .flows
        .join("prompts")
        .join(&a.language)
        .join(format!("{name}.wav"));
    let samples = hotline::rt::ivr::read_wav(&path).unwrap_or_else(|e| die(&e));
    samples
        .chunks(160)
        .take(PROMPT_FRAMES)
        .map(|chunk| {
            let mut frame = [g711::ulaw_encode(0); 160];
            for (out, &s) in frame.iter_mut().zip(chunk) {
                *out = g711::ulaw_encode(s);
            }
            frame
        })
        .collect()
}

// ----- RTP we receive -----------------------------------------------------------------------

#[derive(Default, Clone)]
struct RxStream {
    packets: u64,
    first_ns: i64,
    first_ext: i64,
    max_ext: i64,
    last_arrival: i64,
    last_ts: u32,
    out_of_order: u64,
    skipped_slots: u64,
    bad_pt: u64,
    /// The survey prompt: the RTP timestamp of its first frame (found by
    /// content), when that frame arrived (or would have), packets before
    /// it, and its first second's frames checked / equal to the WAV's.
    prompt_ts: Option<u32>,
    prompt_ns: i64,
    before_prompt: u32,
    prompt_checked: u32,
    prompt_matched: u32,
}

struct Rx {
    streams: HashMap<u32, RxStream>,
    /// Pacing of what the customers hear: whole calls, and the window.
    all: Hist,
    window: Hist,
    not_rtp: u64,
    no_kernel_ts: u64,
}

struct Packet {
    stream: u32,
    arrival: i64,
    header: rtp::RtpHeader,
    payload: [u8; 160],
    len: usize,
}

/// Reads every RTP socket registered on `epfd` until `stop`; `window` is
/// the wall-clock span (kernel timestamps' clock) of the pacing window.
fn receiver(
    epfd: i32,
    stop: Arc<AtomicBool>,
    window: Arc<[AtomicI64; 2]>,
    shared: Arc<Mutex<Rx>>,
    prompt: Arc<Vec<[u8; 160]>>,
) {
    let mut events = vec![sys::EpollEvent { events: 0, data: 0 }; 512];
    let mut buf = [0u8; 2048];
    let mut batch: Vec<Packet> = Vec::with_capacity(1024);
    let (mut no_ts, mut not_rtp) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: the buffer holds `events.len()` entries.
        let n = unsafe { sys::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, 50) };
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
                let mut payload = [0u8; 160];
                let len = p.payload.len().min(160);
                payload[..len].copy_from_slice(&p.payload[..len]);
                batch.push(Packet {
                    stream,
                    arrival,
                    header: p.header,
                    payload,
                    len: p.payload.len(),
                });
            }
        }
        if batch.is_empty() && no_ts == 0 && not_rtp == 0 {
            continue;
        }
        let w = (
            window[0].load(Ordering::Relaxed),
            window[1].load(Ordering::Relaxed),
        );
        let mut r = shared.lock().unwrap();
        r.no_kernel_ts += std::mem::take(&mut no_ts);
        r.not_rtp += std::mem::take(&mut not_rtp);
        for p in batch.drain(..) {
            on_packet(&mut r, &prompt, &p, w);
        }
    }
}

fn on_packet(r: &mut Rx, prompt: &[[u8; 160]], p: &Packet, w: (i64, i64)) {
    let h = &p.header;
    let c = r.streams.entry(p.stream).or_default();
    if h.payload_type != 0 && h.payload_type != 8 {
        c.bad_pt += 1;
    }
    if p.stream & SURVEY_BIT != 0 && p.len == 160 {
        match c.prompt_ts {
            None if c.before_prompt < PROMPT_SEARCH => {
                let at = if prompt.first() == Some(&p.payload) {
                    Some(0)
                } else if h.marker {
                    prompt.iter().position(|f| f == &p.payload)
                } else {
                    None
                };
                match at {
                    Some(j) => {
                        c.prompt_ts = Some(h.timestamp.wrapping_sub(160 * j as u32));
                        c.prompt_ns = p.arrival - j as i64 * FRAME_NS;
                        c.prompt_checked = 1;
                        c.prompt_matched = 1;
                    }
                    None => c.before_prompt += 1,
                }
            }
            None => {}
            Some(start) => {
                let off = h.timestamp.wrapping_sub(start);
                let k = (off / 160) as usize;
                if off % 160 == 0 && k > 0 && k < prompt.len() {
                    c.prompt_checked += 1;
                    c.prompt_matched += u32::from(prompt[k] == p.payload);
                }
            }
        }
    }
    if c.packets == 0 {
        c.packets = 1;
        c.first_ns = p.arrival;
        c.first_ext = i64::from(h.sequence);
        c.max_ext = c.first_ext;
        c.last_arrival = p.arrival;
        c.last_ts = h.timestamp;
        return;
    }
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
        if p.stream & PHONE_BIT == 0 {
            let dev = (p.arrival - last_arrival - FRAME_NS).abs();
            r.all.add(dev);
            if last_arrival >= w.0 && p.arrival < w.1 {
                r.window.add(dev);
            }
        }
    }
}

// ----- SIP text -------------------------------------------------------------------------------

// ----- a websocket whose reads carry kernel receive timestamps --------------------------

// ----- the parties ------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CPhase {
    Ringing,
    /// 200 sent, no ACK yet.
    Answered,
    Up,
    Byeing,
    Over,
}

/// How a customer's call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum End {
    /// The customer hung up and hotline answered the BYE.
    Ok,
    /// hotline hung up before the customer did.
    ServerBye,
    /// hotline cancelled the INVITE.
    Cancelled,
    /// Our 200 was never ACKed.
    NoAck,
    ByeTimeout,
    ByeRefused(u16),
}

/// A customer's phone, behind the carrier's proxy.
struct Cust {
    call_id: String,
    number: String,
    /// The INVITE, for responses; its From (hotline, with its tag), its To
    /// (the customer, without ours) and Contact URI, for our BYE.
    head: String,
    from_hdr: String,
    to_hdr: String,
    target: String,
    to_tag: String,
    rtp: Option<Arc<UdpSocket>>,
    stream: u32,
    server_rtp: Option<SocketAddr>,
    phase: CPhase,
    end: Option<End>,
    counted_up: bool,
    invite_ns: i64,
    ok_ns: Option<i64>,
    ack_ns: Option<i64>,
    end_ns: Option<i64>,
    last: String,
    answer_at: Instant,
    first_sent: Instant,
    next_retx: Option<Instant>,
    interval: Duration,
    /// Stage 1: the customer hangs up this long after the ACK.
    hold_for: Option<Duration>,
    hangup_at: Option<Instant>,
    bye: String,
    invite_retx: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegPhase {
    Ringing,
    Answered,
    Confirmed,
    Over,
}

/// A call hotline placed to an agent's phone.
struct Leg {
    agent: usize,
    caller: String,
    head: String,
    to_tag: String,
    server_rtp: Option<SocketAddr>,
    rtp: Arc<UdpSocket>,
    stream: u32,
    phase: LegPhase,
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

/// One round's view of one agent.
#[derive(Debug, Clone, Default)]
struct Turn {
    ready_ns: Option<i64>,
    phone_invite_ns: Option<i64>,
    phone_caller: Option<String>,
    offered_ns: Option<i64>,
    offered_caller: Option<String>,
    phone_up: bool,
}

struct Agent {
    name: String,
    ws: Option<WebSocket<TsStream>>,
    flush: bool,
    hello: bool,
    state: String,
    reg: RegPhase,
    reg_text: String,
    reg_cseq: u32,
    reg_first: Instant,
    reg_next: Option<Instant>,
    reg_interval: Duration,
    reg_refresh: Instant,
    reg_expires: u32,
    m: Turn,
    cmd: u32,
}

// ----- the bench ---------------------------------------------------------------------------

struct Bench {
    a: Args,
    run: u64,
    ep: i32,
    rx_ep: i32,
    carrier: UdpSocket,
    phones: UdpSocket,
    phones_addr: SocketAddr,
    custs: Vec<Cust>,
    by_cid: HashMap<String, usize>,
    custs_done_below: usize,
    agents: Vec<Agent>,
    by_user: HashMap<String, usize>,
    legs: HashMap<String, Leg>,
    tx_cmd: mpsc::Sender<SendCmd>,
    send_stats: Arc<SendStats>,
    rx: Arc<Mutex<Rx>>,
    window: Arc<[AtomicI64; 2]>,
    next_port: u16,
    next_stream: u32,
    branch: u64,
    last_tick: Instant,
    admin_token: String,
    problems: ProblemList,
    counts: HashMap<String, u64>,
    retransmissions: u64,
    buf: Vec<u8>,
    /// Stage 1: new customers hang up by themselves after the hold, and
    /// their prompt is checked.
    survey: bool,
    /// Calls in progress at the carrier (INVITE to end) and answered
    /// (ACK to end), with every change: (wall ns, in progress, answered).
    in_progress: u32,
    answered: u32,
    conc: Vec<(i64, u32, u32)>,
    next_number: u64,
    /// Stage 2: ms waited before a round for the dialer to write the last
    /// round's attempts (only rounds that had to wait).
    settle_waits: Vec<f64>,
}

impl Bench {
    fn count(&mut self, what: &str) {
        *self.counts.entry(what.to_owned()).or_default() += 1;
    }

    fn problem(&mut self, kind: &str, detail: String) {
        note_problem(&mut self.problems, kind, detail);
    }

    fn next_branch(&mut self) -> String {
        self.branch += 1;
        format!("z9hG4bK-ob{}-{}", self.run, self.branch)
    }

    /// A fresh RTP socket from our range, watched by the receiver.
    fn rtp_socket(&mut self, bits: u32) -> (Arc<UdpSocket>, u32) {
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
                let stream = self.next_stream | bits;
                sys::watch(
                    self.rx_ep,
                    fd,
                    (u64::from(stream) << 32) | u64::from(fd as u32),
                );
                return (Arc::new(s), stream);
            }
        }
        die("no free RTP port in our range (--rtp-base)");
    }

    fn send_server(&self, sock: &UdpSocket, text: &str) {
        sock.send_to(text.as_bytes(), self.a.server).ok();
    }

    fn note_conc(&mut self) {
        self.conc.push((wall_ns(), self.in_progress, self.answered));
    }

    // ----- the event loop ----------------------------------------------------------

    fn pump(&mut self, max: Duration) {
        let mut events = [sys::EpollEvent { events: 0, data: 0 }; 256];
        let ms = max.as_millis().min(50) as i32;
        // SAFETY: the buffer holds 256 entries.
        let n = unsafe { sys::epoll_wait(self.ep, events.as_mut_ptr(), 256, ms) };
        for ev in &events[..n.max(0) as usize] {
            match ev.data {
                TOKEN_CARRIER => self.read_carrier(),
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
        if now.duration_since(self.last_tick) < Duration::from_millis(2) {
            return;
        }
        self.last_tick = now;
        // Customers: answer when due, retransmit the 200 until the ACK,
        // hang up after the hold, retransmit the BYE.
        let mut answers = Vec::new();
        let mut hang_ups = Vec::new();
        let mut ends = Vec::new();
        let mut retx = 0;
        for idx in self.custs_done_below..self.custs.len() {
            let c = &mut self.custs[idx];
            match c.phase {
                CPhase::Ringing if now >= c.answer_at => answers.push(idx),
                CPhase::Answered => {
                    if now.duration_since(c.first_sent) > TX_TIMEOUT {
                        ends.push((idx, End::NoAck));
                    } else if c.next_retx.is_some_and(|t| now >= t) {
                        self.carrier.send_to(c.last.as_bytes(), self.a.server).ok();
                        retx += 1;
                        c.interval = (c.interval * 2).min(T2);
                        c.next_retx = Some(now + c.interval);
                    }
                }
                CPhase::Up if c.hangup_at.is_some_and(|t| now >= t) => hang_ups.push(idx),
                CPhase::Byeing => {
                    if now.duration_since(c.first_sent) > TX_TIMEOUT {
                        ends.push((idx, End::ByeTimeout));
                    } else if c.next_retx.is_some_and(|t| now >= t) {
                        self.carrier.send_to(c.bye.as_bytes(), self.a.server).ok();
                        retx += 1;
                        c.interval = (c.interval * 2).min(T2);
                        c.next_retx = Some(now + c.interval);
                    }
                }
                _ => {}
            }
        }
        self.retransmissions += retx;
        for idx in answers {
            self.answer_customer(idx, now);
        }
        for idx in hang_ups {
            self.hang_up(idx);
        }
        for (idx, e) in ends {
            let cid = self.custs[idx].call_id.clone();
            self.problem(&format!("customer call lost: {e:?}"), cid);
            self.end_customer(idx, e);
        }
        while self.custs_done_below < self.custs.len()
            && self.custs[self.custs_done_below].phase == CPhase::Over
        {
            self.custs_done_below += 1;
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
                        self.retransmissions += 1;
                        l.interval = (l.interval * 2).min(T2);
                        l.next_retx = Some(now + l.interval);
                    }
                }
                _ => {}
            }
        }
        for cid in answers {
            self.answer_phone(&cid, now);
        }
        for cid in lost {
            if let Some(l) = self.legs.get(&cid) {
                let _ = self.tx_cmd.send(SendCmd::Stop { stream: l.stream });
            }
            self.problem("phone's 200 never ACKed", cid);
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
                RegPhase::Registered if now >= a.reg_refresh => self.register(i, None, 600),
                _ => {}
            }
        }
    }

    // ----- the carrier: the customers' phones ---------------------------------------------

    fn read_carrier(&mut self) {
        let fd = self.carrier.as_raw_fd();
        let mut buf = std::mem::take(&mut self.buf);
        while let Ok((len, ts)) = sys::recv_ts(fd, &mut buf, sys::MSG_DONTWAIT) {
            let ts = ts.unwrap_or_else(|| {
                self.count("carrier SIP without kernel timestamp");
                wall_ns()
            });
            let text = String::from_utf8_lossy(&buf[..len]).into_owned();
            self.on_carrier(&text, ts);
        }
        self.buf = buf;
    }

    fn on_carrier(&mut self, text: &str, ts: i64) {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let Some(cid) = header(head, &["Call-ID", "i"]).map(str::to_owned) else {
            return;
        };
        let idx = self.by_cid.get(&cid).copied();
        if let Some(status) = head.strip_prefix("SIP/2.0 ") {
            // Only our BYEs get answers here.
            let code: u16 = status.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
            let bye = header(head, &["CSeq"]).is_some_and(|c| c.ends_with("BYE"));
            if let Some(idx) = idx
                && bye
                && code >= 200
                && self.custs[idx].phase == CPhase::Byeing
            {
                if code < 300 {
                    self.end_customer(idx, End::Ok);
                } else {
                    self.problem("customer's BYE refused", format!("{cid}: {code}"));
                    self.end_customer(idx, End::ByeRefused(code));
                }
            }
            return;
        }
        let method = head.split(' ').next().unwrap_or("").to_owned();
        match method.as_str() {
            "INVITE" => match idx {
                None => self.new_customer(head, body, &cid, ts),
                Some(idx) => {
                    let c = &mut self.custs[idx];
                    if header(head, &["To", "t"]).is_some_and(|t| t.contains(";tag=")) {
                        // A re-INVITE: the same session again.
                        let port = c.rtp.as_ref().map_or(0, |s| s.local_addr().unwrap().port());
                        let extra = format!(
                            "Contact: <sip:{}@{}>\r\nContent-Type: application/sdp\r\n",
                            c.number, self.a.carrier
                        );
                        let r = response(
                            head,
                            "200 OK",
                            &c.to_tag,
                            &extra,
                            &sdp_offer("customer", port, port),
                        );
                        self.send_server(&self.carrier, &r);
                        self.count("carrier: re-INVITE answered");
                    } else {
                        // hotline sent it again: our answer came late.
                        c.invite_retx += 1;
                        let last = c.last.clone();
                        self.send_server(&self.carrier, &last);
                        self.count("carrier: INVITE retransmitted by hotline");
                    }
                }
            },
            "ACK" => {
                if let Some(idx) = idx
                    && self.custs[idx].phase == CPhase::Answered
                {
                    let now = Instant::now();
                    let c = &mut self.custs[idx];
                    c.phase = CPhase::Up;
                    c.next_retx = None;
                    c.ack_ns = Some(ts);
                    c.hangup_at = c.hold_for.map(|h| now + h);
                    c.counted_up = true;
                    self.answered += 1;
                    self.note_conc();
                }
            }
            "BYE" => {
                let tag = idx
                    .map(|i| self.custs[i].to_tag.clone())
                    .unwrap_or_default();
                let r = response(head, "200 OK", &tag, "", "");
                self.send_server(&self.carrier, &r);
                if let Some(idx) = idx
                    && self.custs[idx].phase != CPhase::Over
                {
                    self.end_customer(idx, End::ServerBye);
                }
            }
            "CANCEL" => {
                let r = response(head, "200 OK", "", "", "");
                self.send_server(&self.carrier, &r);
                if let Some(idx) = idx
                    && self.custs[idx].phase == CPhase::Ringing
                {
                    let c = &mut self.custs[idx];
                    let r = response(&c.head, "487 Request Terminated", &c.to_tag, "", "");
                    c.last = r.clone();
                    self.send_server(&self.carrier, &r);
                    let cid = cid.clone();
                    self.problem("hotline cancelled a call", cid);
                    self.end_customer(idx, End::Cancelled);
                }
            }
            _ => {
                let r = response(head, "200 OK", "", "", "");
                self.send_server(&self.carrier, &r);
            }
        }
    }

    /// hotline dials a customer: 180 now, 200 after `--answer-ms`.
    fn new_customer(&mut self, head: &str, body: &str, cid: &str, ts: i64) {
        let first_line = head.lines().next().unwrap_or("");
        let number = sip_user(first_line).unwrap_or("").to_owned();
        let bits = if self.survey { SURVEY_BIT } else { 0 };
        let (rtp, stream) = self.rtp_socket(bits);
        let to_tag = format!("cu{}x{}", self.run, stream & !(PHONE_BIT | SURVEY_BIT));
        let ringing = response(head, "180 Ringing", &to_tag, "", "");
        self.send_server(&self.carrier, &ringing);
        let now = Instant::now();
        let hold_for = self.survey.then(|| {
            let j = self.a.hold_jitter * (2.0 * fastrand::f64() - 1.0);
            Duration::from_secs_f64(self.a.hold * (1.0 + j))
        });
        let target = header(head, &["Contact", "m"])
            .and_then(|v| Some(v.split_once('<')?.1.split_once('>')?.0))
            .unwrap_or("")
            .to_owned();
        let idx = self.custs.len();
        self.custs.push(Cust {
            call_id: cid.to_owned(),
            number,
            head: head.to_owned(),
            from_hdr: header(head, &["From", "f"]).unwrap_or("").to_owned(),
            to_hdr: header(head, &["To", "t"]).unwrap_or("").to_owned(),
            target,
            to_tag,
            rtp: Some(rtp),
            stream,
            server_rtp: sdp_dest(body),
            phase: CPhase::Ringing,
            end: None,
            counted_up: false,
            invite_ns: ts,
            ok_ns: None,
            ack_ns: None,
            end_ns: None,
            last: ringing,
            answer_at: now + self.a.answer,
            first_sent: now,
            next_retx: None,
            interval: T1,
            hold_for,
            hangup_at: None,
            bye: String::new(),
            invite_retx: 0,
        });
        self.by_cid.insert(cid.to_owned(), idx);
        if self.custs[idx].server_rtp.is_none() {
            self.problem("INVITE without SDP", cid.to_owned());
        }
        self.in_progress += 1;
        self.note_conc();
    }

    /// The customer picks up: 200 with SDP; their tone starts.
    fn answer_customer(&mut self, idx: usize, now: Instant) {
        let c = &mut self.custs[idx];
        let Some(socket) = c.rtp.clone() else { return };
        let port = socket.local_addr().unwrap().port();
        let extra = format!(
            "Contact: <sip:{}@{}>\r\nContent-Type: application/sdp\r\n",
            c.number, self.a.carrier
        );
        let ok = response(
            &c.head,
            "200 OK",
            &c.to_tag,
            &extra,
            &sdp_offer("customer", port, port),
        );
        c.ok_ns = Some(wall_ns());
        self.carrier.send_to(ok.as_bytes(), self.a.server).ok();
        c.last = ok;
        c.phase = CPhase::Answered;
        c.first_sent = now;
        c.interval = T1;
        c.next_retx = Some(now + T1);
        if let Some(dest) = c.server_rtp {
            let _ = self.tx_cmd.send(SendCmd::Start {
                stream: c.stream,
                socket,
                dest,
                hz: CUSTOMER_HZ,
            });
        }
    }

    /// The customer hangs up: BYE.
    fn hang_up(&mut self, idx: usize) {
        if self.custs[idx].phase != CPhase::Up {
            return;
        }
        let branch = self.next_branch();
        let c = &mut self.custs[idx];
        let _ = self.tx_cmd.send(SendCmd::Stop { stream: c.stream });
        c.bye = format!(
            "BYE {target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: {to};tag={tag}\r\n\
             To: {from}\r\n\
             Call-ID: {cid}\r\n\
             CSeq: 1 BYE\r\n\
             Content-Length: 0\r\n\r\n",
            target = c.target,
            me = self.a.carrier,
            to = c.to_hdr,
            tag = c.to_tag,
            from = c.from_hdr,
            cid = c.call_id,
        );
        self.carrier.send_to(c.bye.as_bytes(), self.a.server).ok();
        c.phase = CPhase::Byeing;
        c.hangup_at = None;
        c.first_sent = Instant::now();
        c.interval = T1;
        c.next_retx = Some(c.first_sent + T1);
    }

    fn end_customer(&mut self, idx: usize, e: End) {
        let c = &mut self.custs[idx];
        if c.phase == CPhase::Over {
            return;
        }
        let _ = self.tx_cmd.send(SendCmd::Stop { stream: c.stream });
        c.phase = CPhase::Over;
        c.end = Some(e);
        c.end_ns = Some(wall_ns());
        c.next_retx = None;
        c.hangup_at = None;
        if c.counted_up {
            c.counted_up = false;
            self.answered -= 1;
        }
        self.in_progress -= 1;
        self.note_conc();
    }

    // ----- the agents' phones ----------------------------------------------------------------

    fn register(&mut self, i: usize, challenge: Option<(&str, u16)>, expires: u32) {
        let branch = self.next_branch();
        let (me, srv, run) = (self.phones_addr, self.a.server, self.run);
        let realm = self.a.realm.clone();
        let password = self.a.agent_password.clone();
        let a = &mut self.agents[i];
        a.reg_cseq += 1;
        a.reg_expires = expires;
        let user = a.name.clone();
        let uri = format!("sip:{srv}");
        let auth = match challenge {
            None => String::new(),
            Some((ch, code)) => {
                let cnonce = format!("{:016x}", fastrand::u64(..));
                match digest::authorize(ch, "REGISTER", &uri, &user, &password, &cnonce) {
                    Ok(v) => {
                        let name = if code == 407 {
                            "Proxy-Authorization"
                        } else {
                            "Authorization"
                        };
                        format!("{name}: {v}\r\n")
                    }
                    Err(e) => {
                        a.reg = RegPhase::Failed;
                        self.problem("cannot answer the REGISTER challenge", format!("{e}"));
                        return;
                    }
                }
            }
        };
        a.reg_text = format!(
            "REGISTER {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@{realm}>;tag=r{run}x{i}\r\n\
             To: <sip:{user}@{realm}>\r\n\
             Call-ID: reg-{run}-{i}@outbound-load\r\n\
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
            let ts = ts.unwrap_or_else(wall_ns);
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
                    a.reg_refresh = Instant::now() + Duration::from_secs(240);
                }
                401 | 407 => {
                    let challenge = header(head, &["WWW-Authenticate", "Proxy-Authenticate"])
                        .unwrap_or("")
                        .to_owned();
                    let expires = self.agents[i].reg_expires;
                    self.register(i, Some((&challenge, code)), expires);
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
            "INVITE" => self.on_phone_invite(head, body, &cid, ts),
            "ACK" => {
                let Some(l) = self.legs.get_mut(&cid) else {
                    return;
                };
                if l.phase != LegPhase::Answered {
                    return;
                }
                l.phase = LegPhase::Confirmed;
                l.next_retx = None;
                let (agent, caller) = (l.agent, l.caller.clone());
                self.agents[agent].m.phone_up = true;
                // Bridged: the customer talks `--talk-ms`, then hangs up.
                let at = Instant::now() + self.a.talk;
                if let Some(c) = self.custs[self.custs_done_below..]
                    .iter_mut()
                    .find(|c| c.number == caller && c.phase == CPhase::Up)
                {
                    c.hangup_at = Some(at);
                } else {
                    self.problem(
                        "agent's phone answered a call whose customer is not up",
                        caller,
                    );
                }
            }
            "CANCEL" => {
                let r = response(head, "200 OK", "", "", "");
                self.send_server(&self.phones, &r);
                if let Some(l) = self.legs.get_mut(&cid)
                    && l.phase == LegPhase::Ringing
                {
                    l.phase = LegPhase::Over;
                    let r = response(&l.head, "487 Request Terminated", &l.to_tag, "", "");
                    self.phones.send_to(r.as_bytes(), self.a.server).ok();
                    l.last = r;
                    self.problem("agent's phone: INVITE cancelled", cid.clone());
                }
            }
            "BYE" => {
                let tag = self.legs.get(&cid).map(|l| l.to_tag.clone());
                let r = response(head, "200 OK", tag.as_deref().unwrap_or(""), "", "");
                self.send_server(&self.phones, &r);
                if let Some(l) = self.legs.get_mut(&cid)
                    && l.phase != LegPhase::Over
                {
                    l.phase = LegPhase::Over;
                    l.next_retx = None;
                    let _ = self.tx_cmd.send(SendCmd::Stop { stream: l.stream });
                }
            }
            _ => {
                let r = response(head, "200 OK", "", "", "");
                self.send_server(&self.phones, &r);
            }
        }
    }

    fn on_phone_invite(&mut self, head: &str, body: &str, cid: &str, ts: i64) {
        if let Some(l) = self.legs.get(cid) {
            self.phones.send_to(l.last.as_bytes(), self.a.server).ok();
            self.count("phone: INVITE retransmitted by hotline");
            return;
        }
        let first_line = head.lines().next().unwrap_or("");
        let Some(&agent) = sip_user(first_line).and_then(|u| self.by_user.get(u)) else {
            let r = response(head, "404 Not Found", "nf", "", "");
            self.send_server(&self.phones, &r);
            self.problem("INVITE for no phone of ours", first_line.to_owned());
            return;
        };
        let caller = header(head, &["From", "f"])
            .and_then(sip_user)
            .unwrap_or("")
            .to_owned();
        let m = &mut self.agents[agent].m;
        if m.phone_invite_ns.is_none() {
            m.phone_invite_ns = Some(ts);
            m.phone_caller = Some(caller.clone());
        }
        let (rtp, stream) = self.rtp_socket(PHONE_BIT);
        let to_tag = format!("ph{}x{}", self.run, stream & !PHONE_BIT);
        let ringing = response(head, "180 Ringing", &to_tag, "", "");
        self.send_server(&self.phones, &ringing);
        let now = Instant::now();
        self.legs.insert(
            cid.to_owned(),
            Leg {
                agent,
                caller,
                head: head.to_owned(),
                to_tag,
                server_rtp: sdp_dest(body),
                rtp,
                stream,
                phase: LegPhase::Ringing,
                last: ringing,
                answer_at: now + self.a.phone_answer,
                first_ok: now,
                next_retx: None,
                interval: T1,
            },
        );
    }

    fn answer_phone(&mut self, cid: &str, now: Instant) {
        let Some(l) = self.legs.get_mut(cid) else {
            return;
        };
        let agent = &self.agents[l.agent];
        let port = l.rtp.local_addr().unwrap().port();
        let extra = format!(
            "Contact: <sip:{}@{}>\r\nContent-Type: application/sdp\r\n",
            agent.name, self.phones_addr
        );
        let ok = response(
            &l.head,
            "200 OK",
            &l.to_tag,
            &extra,
            &sdp_offer("phone", port, port),
        );
        self.phones.send_to(ok.as_bytes(), self.a.server).ok();
        l.last = ok;
        l.phase = LegPhase::Answered;
        l.first_ok = now;
        l.interval = T1;
        l.next_retx = Some(now + T1);
        if let Some(dest) = l.server_rtp {
            let _ = self.tx_cmd.send(SendCmd::Start {
                stream: l.stream,
                socket: l.rtp.clone(),
                dest,
                hz: PHONE_HZ,
            });
        }
    }

    // ----- the agents' screens --------------------------------------------------------------------

    fn read_ws(&mut self, i: usize) {
        let mut got = Vec::new();
        let mut dead = None;
        if let Some(ws) = self.agents.get_mut(i).and_then(|a| a.ws.as_mut()) {
            loop {
                match ws.read() {
                    Ok(Message::Text(t)) => got.push((t.as_str().to_owned(), ws.get_ref().last_ns)),
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
        for (text, ts) in got {
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => self.on_event(i, &v, ts),
                Err(e) => self.problem("CTI event not JSON", format!("{e}: {text}")),
            }
        }
        if let Some(why) = dead {
            self.agents[i].ws = None;
            let name = self.agents[i].name.clone();
            self.problem("websocket lost", format!("{name}: {why}"));
        }
    }

    fn on_event(&mut self, i: usize, v: &Value, ts: i64) {
        let kind = v["type"].as_str().unwrap_or("?");
        let a = &mut self.agents[i];
        match kind {
            "hello" => {
                a.hello = true;
                a.state = v["state"]["name"].as_str().unwrap_or("?").to_owned();
            }
            "state" => a.state = v["state"]["name"].as_str().unwrap_or("?").to_owned(),
            "offered" if a.m.offered_ns.is_none() => {
                a.m.offered_ns = Some(ts);
                a.m.offered_caller = v["call"]["caller"].as_str().map(str::to_owned);
            }
            "error" => {
                let name = a.name.clone();
                let code = v["code"].as_str().unwrap_or("?").to_owned();
                self.problem(&format!("CTI error {code}"), format!("{name}: {v}"));
            }
            _ => {}
        }
    }

    /// Sends a CTI command; returns the wall time just before the write.
    fn command(&mut self, i: usize, mut cmd: Value) -> i64 {
        let a = &mut self.agents[i];
        a.cmd += 1;
        cmd["id"] = json!(format!("c{}", a.cmd));
        let text = cmd.to_string();
        let Some(ws) = a.ws.as_mut() else {
            return wall_ns();
        };
        let at = wall_ns();
        match ws.send(Message::Text(text.into())) {
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                a.flush = true;
            }
            Err(e) => {
                let name = a.name.clone();
                self.problem("websocket write failed", format!("{name}: {e}"));
            }
        }
        at
    }

    // ----- setup ---------------------------------------------------------------------------------------

    fn ensure_agents(&mut self, n: usize) {
        let t0 = Instant::now();
        let names: Vec<String> = (0..n)
            .map(|i| format!("{}-{:04}", self.a.prefix, i + 1))
            .collect();
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
                reg: RegPhase::Idle,
                reg_text: String::new(),
                reg_cseq: 0,
                reg_first: Instant::now(),
                reg_next: None,
                reg_interval: T1,
                reg_refresh: Instant::now(),
                reg_expires: 600,
                m: Turn::default(),
                cmd: 0,
            });
            self.read_ws(i);
            self.register(i, None, 600);
            self.pump(Duration::ZERO);
        }
        let ok = self.wait_until(Duration::from_secs(30), |b| {
            b.agents
                .iter()
                .all(|a| a.hello && a.reg == RegPhase::Registered)
        });
        if !ok {
            die("agents not connected and registered within 30 s");
        }
        println!(
            "setup: {n} agents signed in, screens open, phones registered ({:.1} s)",
            t0.elapsed().as_secs_f64()
        );
    }

    /// Every given agent not ready (logged out counts too).
    fn agents_not_ready(&mut self, set: &[usize]) -> bool {
        for &i in set {
            match self.agents[i].state.as_str() {
                "ready" => {
                    self.command(i, json!({"type": "not_ready", "reason": "break"}));
                }
                "wrap_up" => {
                    self.command(
                        i,
                        json!({"type": "end_wrap_up", "disposition": "bench", "notes": "outbound_load"}),
                    );
                    self.command(i, json!({"type": "not_ready", "reason": "break"}));
                }
                _ => {}
            }
        }
        let set = set.to_vec();
        self.wait_until(Duration::from_secs(10), move |b| {
            set.iter()
                .all(|&i| matches!(b.agents[i].state.as_str(), "not_ready" | "logged_out"))
        })
    }

    fn set_campaign(&mut self, name: &str, state: &str) {
        match http(
            self.a.http,
            "PUT",
            &format!("/api/campaigns/{name}/state"),
            Some(&self.admin_token.clone()),
            Some(&json!({ "state": state })),
        ) {
            Ok((200, _)) => {}
            Ok((st, v)) => die(&format!("switching {name} to {state}: {st} {v}")),
            Err(e) => die(&e),
        }
    }

    /// The campaign's contacts by state (`GET /api/campaigns`).
    fn contact_states(&self, name: &str) -> Vec<(String, i64)> {
        let Ok((200, v)) = http(
            self.a.http,
            "GET",
            "/api/campaigns",
            Some(&self.admin_token),
            None,
        ) else {
            return Vec::new();
        };
        v["campaigns"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["name"] == name))
            .and_then(|c| c["contacts"].as_object())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Enrols `n` new numbers in `campaign`, four requests at a time.
    fn enrol(&mut self, campaign: &str, n: usize) -> (usize, f64) {
        let t0 = Instant::now();
        let numbers: Vec<String> = (0..n)
            .map(|k| format!("139{:08}", (self.next_number + k as u64) % 100_000_000))
            .collect();
        self.next_number += n as u64;
        let (addr, token) = (self.a.http, self.admin_token.clone());
        let path = format!("/api/campaigns/{campaign}/contacts");
        let results: Vec<Result<u16, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = numbers
                .chunks(n.div_ceil(4).max(1))
                .map(|chunk| {
                    let (token, path) = (&token, &path);
                    s.spawn(move || {
                        let retries = AtomicU64::new(0);
                        chunk
                            .iter()
                            .map(|number| {
                                http_retry(
                                    addr,
                                    "POST",
                                    path,
                                    Some(token),
                                    &json!({ "phone": number }),
                                    &retries,
                                )
                                .map(|(st, _)| st)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("enrol thread"))
                .collect()
        });
        let mut ok = 0;
        for r in results {
            match r {
                Ok(201) => ok += 1,
                Ok(409) => self.count("contact already enrolled (number reused)"),
                Ok(st) => self.problem("contact not enrolled", format!("{campaign}: HTTP {st}")),
                Err(e) => self.problem("contact not enrolled", e),
            }
        }
        (ok, t0.elapsed().as_secs_f64())
    }

    fn active_calls(&self) -> Option<u64> {
        http(self.a.http, "GET", "/api/health", None, None)
            .ok()
            .and_then(|(_, v)| v["active_calls"].as_u64())
    }

    fn wait_idle(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.active_calls() == Some(0) && self.in_progress == 0 {
                return;
            }
            self.pump_for(Duration::from_millis(200));
        }
        let a = self.active_calls();
        self.problem(
            "calls still up on the server after 60 s",
            format!("{a:?} active"),
        );
    }

    /// Closes the RTP sockets of calls that are over (after their last
    /// packets have landed).
    fn close_sockets(&mut self) {
        for c in &mut self.custs {
            if c.phase == CPhase::Over {
                c.rtp = None;
            }
        }
        self.legs.retain(|_, l| l.phase != LegPhase::Over);
    }

    // ----- stage 1: dialling rate and concurrency ----------------------------------------------------

    fn rate_level(&mut self, cap: usize) -> RateLevel {
        let name = format!("load-{cap}");
        self.wait_idle();
        self.close_sockets();
        self.set_campaign(&name, "paused");
        let n = ((cap as f64) * self.a.contacts_per_level).round().max(1.0) as usize;
        let (enrolled, enrol_s) = self.enrol(&name, n);
        println!(
            "rate {cap}: {enrolled} contacts enrolled in {enrol_s:.1} s ({:.0} a second); campaign {name} running",
            enrolled as f64 / enrol_s.max(1e-9)
        );
        {
            let mut r = self.rx.lock().unwrap();
            r.all.clear();
            r.window.clear();
        }
        self.window[0].store(i64::MAX, Ordering::Relaxed);
        self.window[1].store(i64::MAX, Ordering::Relaxed);
        let cust0 = self.custs.len();
        self.conc.clear();
        self.note_conc();
        self.survey = true;
        let pid = self.a.server_pid;
        let drops0 = pid.and_then(|p| socket_drops(p, self.a.server.port()));
        let snmp0 = udp_rcvbuf_errors();
        let cpu0 = pid.and_then(cpu_seconds);
        let self0 = cpu_seconds(std::process::id());
        let mut busy = None;
        box_busy(&mut busy);
        let late0 = (
            self.send_stats.late_1ms.load(Ordering::Relaxed),
            self.send_stats.sent.load(Ordering::Relaxed),
        );
        let t_start = Instant::now();
        let resume_ns = wall_ns();
        self.set_campaign(&name, "running");

        // Until every contact is dialled and every call over.
        let limit = Duration::from_secs_f64(
            30.0 + self.a.hold
                * (1.0 + self.a.hold_jitter)
                * (self.a.contacts_per_level + 1.0)
                * 2.0,
        );
        let mut all_up_at: Option<i64> = None;
        let mut all_in_progress_at: Option<i64> = None;
        let mut w: Option<(i64, i64)> = None;
        let mut win_cpu: (Option<f64>, Option<f64>) = (None, None);
        let mut win_wait: (Option<u64>, Option<u64>) = (None, None);
        let mut win_busy: Option<(u64, u64)> = None;
        let mut win_box = None;
        let mut mem_up = None;
        let mut last_change = Instant::now();
        let mut seen = 0;
        // Our RTP dropped at the server's full sockets: /proc/net/udp keeps
        // a socket's count only while it is open, and calls end all through
        // the level, so it is read every second and the largest sum kept
        // (a lower bound); the machine-wide RcvbufErrors cover the rest.
        let mut in_drops_max: Option<u64> = None;
        let mut next_drops = Instant::now();
        loop {
            self.pump(Duration::from_millis(5));
            if Instant::now() >= next_drops {
                next_drops += Duration::from_secs(1);
                if let (Some(p), Some(d0)) = (pid, drops0)
                    && let Some(d) = socket_drops(p, self.a.server.port())
                {
                    let d = d.1.saturating_sub(d0.1);
                    in_drops_max = Some(in_drops_max.map_or(d, |m| m.max(d)));
                }
            }
            let now_ns = wall_ns();
            let level = &self.custs[cust0..];
            if level.len() != seen {
                seen = level.len();
                last_change = Instant::now();
            }
            if all_in_progress_at.is_none() && self.in_progress as usize >= cap {
                all_in_progress_at = Some(now_ns);
            }
            if all_up_at.is_none() && self.answered as usize >= cap {
                all_up_at = Some(now_ns);
                // The window: from 0.5 s after all are answered until the
                // first of them hangs up (each hold is known at its ACK).
                let first_bye = self.custs[cust0..]
                    .iter()
                    .filter_map(|c| c.hangup_at)
                    .min()
                    .map(|t| {
                        now_ns + t.saturating_duration_since(Instant::now()).as_nanos() as i64
                    });
                if let Some(end) = first_bye
                    && end > now_ns + 1_000_000_000
                {
                    let start = now_ns + 500_000_000;
                    w = Some((start, end));
                    self.window[0].store(start, Ordering::Relaxed);
                    self.window[1].store(end, Ordering::Relaxed);
                }
            }
            if let Some((ws, we)) = w {
                if now_ns >= ws && win_cpu.0.is_none() {
                    win_cpu.0 = pid.and_then(cpu_seconds);
                    win_wait.0 = pid.and_then(run_queue_wait_ns);
                    box_busy(&mut win_busy);
                }
                if now_ns >= (ws + we) / 2 && mem_up.is_none() {
                    mem_up = pid.and_then(rss_and_fds);
                }
                if now_ns >= we && win_cpu.1.is_none() && win_cpu.0.is_some() {
                    win_cpu.1 = pid.and_then(cpu_seconds);
                    win_wait.1 = pid.and_then(run_queue_wait_ns);
                    win_box = box_busy(&mut win_busy);
                }
            }
            let dialled = self.custs.len() - cust0;
            let all_over = self.custs[cust0..].iter().all(|c| c.phase == CPhase::Over);
            if dialled >= enrolled && all_over {
                break;
            }
            if all_over && last_change.elapsed() > Duration::from_secs(15) {
                self.problem(
                    "contacts left undialled (no INVITE for 15 s, no call up)",
                    format!("{name}: {dialled} of {enrolled} dialled"),
                );
                break;
            }
            if t_start.elapsed() > limit {
                self.problem(
                    "level did not finish in time",
                    format!("{name}: {dialled} of {enrolled} dialled"),
                );
                break;
            }
        }
        let wall_s = t_start.elapsed().as_secs_f64();
        let cpu_level = match (cpu0, pid.and_then(cpu_seconds)) {
            (Some(a), Some(b)) => Some((b - a) / wall_s * 100.0),
            _ => None,
        };
        let self_cpu = match (self0, cpu_seconds(std::process::id())) {
            (Some(a), Some(b)) => (b - a) / wall_s * 100.0,
            _ => 0.0,
        };
        let box_level = box_busy(&mut busy).unwrap_or(0.0);
        let late = (
            self.send_stats.late_1ms.load(Ordering::Relaxed) - late0.0,
            self.send_stats.sent.load(Ordering::Relaxed) - late0.1,
        );
        self.survey = false;
        self.pump_for(Duration::from_millis(300));
        let drops1 = pid.and_then(|p| socket_drops(p, self.a.server.port()));
        let rcvbuf = udp_rcvbuf_errors().saturating_sub(snmp0);
        let states = self.contact_states(&name);
        let active_after = {
            self.pump_for(Duration::from_secs(1));
            self.active_calls()
        };

        // What the carrier saw.
        let level = &self.custs[cust0..];
        let mut invites: Vec<i64> = level.iter().map(|c| c.invite_ns).collect();
        invites.sort_unstable();
        let t1 = invites.first().copied().unwrap_or(resume_ns);
        let secs = |a: i64, b: i64| (b - a) as f64 / 1e9;
        let ramp_invites = invites.get(cap.saturating_sub(1)).copied();
        let ramp_up_s = all_up_at.map(|t| secs(t1, t));
        // Bursts: INVITEs closer than 200 ms are one dialer round.
        let mut bursts: Vec<(i64, i64, usize)> = Vec::new();
        for &t in &invites {
            match bursts.last_mut() {
                Some(b) if t - b.1 < 200_000_000 => {
                    b.1 = t;
                    b.2 += 1;
                }
                _ => bursts.push((t, t, 1)),
            }
        }
        let peak_in_progress = self.conc.iter().map(|c| c.1).max().unwrap_or(0);
        let peak_up = self.conc.iter().map(|c| c.2).max().unwrap_or(0);
        // Calls in progress, time-weighted, from C first in progress until
        // the last INVITE (while contacts remained to be dialled).
        let sustained = all_in_progress_at.and_then(|from| {
            let to = *invites.last()?;
            (to > from + 1_000_000_000).then(|| {
                let mut acc = 0.0;
                let mut min = u32::MAX;
                let mut last = (from, 0u32);
                for &(t, p, _) in &self.conc {
                    if t <= from {
                        last = (from, p);
                        continue;
                    }
                    if t >= to {
                        break;
                    }
                    acc += f64::from(last.1) * (t - last.0) as f64;
                    min = min.min(last.1);
                    last = (t, p);
                }
                acc += f64::from(last.1) * (to - last.0) as f64;
                min = min.min(last.1);
                let n = invites.iter().filter(|&&t| t > from && t <= to).count();
                (
                    acc / (to - from) as f64,
                    min,
                    n as f64 / secs(from, to),
                    secs(from, to),
                )
            })
        });
        let mut ends: HashMap<String, usize> = HashMap::new();
        for c in level {
            let k = c
                .end
                .map_or_else(|| format!("{:?}", c.phase), |e| format!("{e:?}"));
            *ends.entry(k).or_default() += 1;
        }
        let lost = level.iter().filter(|c| c.end != Some(End::Ok)).count();
        let early = level
            .iter()
            .filter(|c| c.end == Some(End::ServerBye))
            .count();
        let invite_retx: u32 = level.iter().map(|c| c.invite_retx).sum();
        let answer_ms: Vec<f64> = level
            .iter()
            .filter_map(|c| Some((c.ack_ns? - c.invite_ns) as f64 / 1e6))
            .collect();

        // What the customers heard.
        let r = self.rx.lock().unwrap();
        let mut heard = Heard::default();
        for c in level {
            heard.streams += 1;
            let Some(s) = r.streams.get(&c.stream) else {
                heard.silent += 1;
                continue;
            };
            heard.received += s.packets;
            heard.expected += (s.max_ext - s.first_ext + 1) as u64;
            heard.skipped += s.skipped_slots;
            heard.out_of_order += s.out_of_order;
            heard.bad_pt += s.bad_pt;
            if let Some(ok) = c.ok_ns {
                heard.first_packet_ms.push((s.first_ns - ok) as f64 / 1e6);
            }
            match s.prompt_ts {
                Some(_) => {
                    heard.before_prompt.push(f64::from(s.before_prompt));
                    if let Some(ok) = c.ok_ns {
                        heard.prompt_ms.push((s.prompt_ns - ok) as f64 / 1e6);
                    }
                    heard.frames_checked += u64::from(s.prompt_checked);
                    heard.frames_matched += u64::from(s.prompt_matched);
                    let whole = s.prompt_checked as usize >= PROMPT_FRAMES * 9 / 10
                        && s.prompt_matched == s.prompt_checked;
                    if whole {
                        heard.prompt_ok += 1;
                    }
                }
                None => heard.no_prompt += 1,
            }
        }
        let pacing = (
            r.window.ms(0.5),
            r.window.ms(0.99),
            r.window.max_ns as f64 / 1e6,
            r.window.n,
        );
        let pacing_all = (r.all.ms(0.5), r.all.ms(0.99), r.all.max_ns as f64 / 1e6);
        drop(r);
        let win_s = w.map(|(a, b)| secs(a, b));
        let cpu_window = match (win_cpu, win_s) {
            ((Some(a), Some(b)), Some(s)) => Some((b - a) / s * 100.0),
            _ => None,
        };
        let wait_window = match (win_wait, win_s) {
            ((Some(a), Some(b)), Some(s)) => Some(b.saturating_sub(a) as f64 / 1e6 / s),
            _ => None,
        };
        RateLevel {
            cap,
            enrolled,
            dialled: level.len(),
            resume_to_first_ms: (t1 - resume_ns) as f64 / 1e6,
            ramp_in_progress_s: ramp_invites.map(|t| secs(t1, t)),
            ramp_up_s,
            bursts: bursts
                .iter()
                .map(|b| (secs(t1, b.0), b.2, (b.1 - b.0) as f64 / 1e6))
                .collect(),
            peak_in_progress,
            peak_up,
            sustained,
            lost,
            early,
            ends,
            invite_retx,
            answer_ms,
            states,
            heard,
            pacing,
            pacing_all,
            window_s: win_s,
            cpu_window,
            wait_window,
            cpu_level,
            box_window: win_box,
            box_level,
            self_cpu,
            in_drops: match (in_drops_max, drops0, drops1) {
                (Some(m), Some(a), Some(b)) => Some(m.max(b.1.saturating_sub(a.1))),
                _ => None,
            },
            sip_drops: match (drops0, drops1) {
                (Some(a), Some(b)) => Some(b.0.saturating_sub(a.0)),
                _ => None,
            },
            rcvbuf,
            late_pct: late.0 as f64 * 100.0 / late.1.max(1) as f64,
            mem_up,
            active_after,
            wall_s,
        }
    }

    // ----- stage 2: agent ready -> ring ------------------------------------------------------------

    /// Waits until the dialer has written every ended attempt of the
    /// progressive campaign (no contact `dialling`): until then it counts
    /// those calls against the campaign's concurrency, and a `ready` that
    /// finds the cap reached waits for the dialer's next 1 s round. Each
    /// wait is kept (`settle_waits`), so that the figures say how often the
    /// agents would have been quicker than the dialer's bookkeeping.
    fn settle_dialer(&mut self) {
        let t0 = Instant::now();
        let mut waited = false;
        while t0.elapsed() < Duration::from_secs(5) {
            let dialling = self
                .contact_states(PROGRESSIVE)
                .iter()
                .find(|(k, _)| k == "dialling")
                .map_or(0, |(_, n)| *n);
            if dialling == 0 {
                if waited {
                    self.settle_waits.push(t0.elapsed().as_secs_f64() * 1e3);
                }
                return;
            }
            waited = true;
            self.pump_for(Duration::from_millis(10));
        }
        self.problem(
            "progressive contacts still dialling 5 s after their calls ended",
            String::new(),
        );
    }

    /// One round: the agents of `set` send `ready` together; each gets a
    /// customer dialled, answered, bridged to their phone, hung up.
    fn prog_round(&mut self, set: &[usize], samples: &mut Vec<ProgSample>) -> bool {
        self.settle_dialer();
        let cust0 = self.custs.len();
        for &i in set {
            self.agents[i].m = Turn::default();
        }
        let mut readies = Vec::new();
        for &i in set {
            let at = self.command(i, json!({"type": "ready"}));
            self.agents[i].m.ready_ns = Some(at);
            readies.push(at);
        }
        let k = set.len();
        if !self.wait_until(Duration::from_secs(10), |b| b.custs.len() - cust0 >= k) {
            let got = self.custs.len() - cust0;
            self.problem(
                "INVITEs missing 10 s after ready",
                format!("{got} of {k} for agents {set:?}"),
            );
        }
        let set_v = set.to_vec();
        let bridged = |b: &Bench| {
            set_v.iter().all(|&i| b.agents[i].m.phone_up)
                && b.custs[cust0..]
                    .iter()
                    .all(|c| c.phase == CPhase::Over || c.hangup_at.is_some())
        };
        if !self.wait_until(Duration::from_secs(20), bridged) {
            self.problem(
                "not every agent's phone answered a customer within 20 s",
                format!("agents {set:?}"),
            );
        }
        // The customers hang up `--talk-ms` after the bridge.
        let done = |b: &Bench| {
            b.custs[cust0..].iter().all(|c| c.phase == CPhase::Over)
                && b.legs.values().all(|l| l.phase == LegPhase::Over)
        };
        if !self.wait_until(Duration::from_secs(20) + self.a.talk, done) {
            self.problem(
                "calls not over 20 s after the talk",
                format!("agents {set:?}"),
            );
        }
        let set_v = set.to_vec();
        let wrapped = self.wait_until(Duration::from_secs(5), |b| {
            set_v
                .iter()
                .all(|&i| b.agents[i].state != "ringing" && b.agents[i].state != "on_call")
        });
        if !wrapped {
            self.problem("agents not in wrap-up after the call", format!("{set:?}"));
        }
        // end_wrap_up makes the agent ready: the campaign is paused so that
        // it does not dial for them before they go not ready.
        self.set_campaign(PROGRESSIVE, "paused");
        let calm = self.agents_not_ready(set);
        self.set_campaign(PROGRESSIVE, "running");
        if !calm {
            self.problem("agents not back to not ready", format!("{set:?}"));
        }
        // Samples, INVITEs in order of arrival, readies in order written.
        let mut order: Vec<usize> = (cust0..self.custs.len()).collect();
        order.sort_by_key(|&c| self.custs[c].invite_ns);
        if order.len() > k {
            self.problem(
                "more INVITEs than agents turned ready",
                format!("{} INVITEs for {k} readies", order.len()),
            );
        }
        for (n, &ci) in order.iter().enumerate().take(k) {
            let c = &self.custs[ci];
            let agent = set
                .iter()
                .copied()
                .find(|&i| self.agents[i].m.phone_caller.as_deref() == Some(c.number.as_str()));
            let m = agent.map(|i| self.agents[i].m.clone()).unwrap_or_default();
            let ms = |a: Option<i64>, b: Option<i64>| match (a, b) {
                (Some(a), Some(b)) => (b - a) as f64 / 1e6,
                _ => f64::NAN,
            };
            samples.push(ProgSample {
                together: k,
                nth: n,
                ready_to_invite: (c.invite_ns - readies[n]) as f64 / 1e6,
                first_ready_to_invite: (c.invite_ns - readies[0]) as f64 / 1e6,
                answer_to_phone: ms(c.ok_ns, m.phone_invite_ns),
                answer_to_offered: ms(c.ok_ns, m.offered_ns),
                ready_to_offered: ms(m.ready_ns, m.offered_ns),
                ok: c.end == Some(End::Ok)
                    && agent.is_some()
                    && m.offered_caller.as_deref() == Some(c.number.as_str()),
            });
        }
        self.close_sockets();
        calm
    }
}

#[derive(Default)]
struct Heard {
    streams: u64,
    silent: u64,
    received: u64,
    expected: u64,
    skipped: u64,
    out_of_order: u64,
    bad_pt: u64,
    prompt_ok: u64,
    no_prompt: u64,
    frames_checked: u64,
    frames_matched: u64,
    before_prompt: Vec<f64>,
    first_packet_ms: Vec<f64>,
    prompt_ms: Vec<f64>,
}

impl Heard {
    fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }
}

struct RateLevel {
    cap: usize,
    enrolled: usize,
    dialled: usize,
    resume_to_first_ms: f64,
    /// First INVITE -> the C-th INVITE; -> C calls answered (ACKed).
    ramp_in_progress_s: Option<f64>,
    ramp_up_s: Option<f64>,
    /// (start s after the first INVITE, INVITEs, span ms).
    bursts: Vec<(f64, usize, f64)>,
    peak_in_progress: u32,
    peak_up: u32,
    /// (mean in progress, min, INVITEs a second, seconds).
    sustained: Option<(f64, u32, f64, f64)>,
    lost: usize,
    early: usize,
    ends: HashMap<String, usize>,
    invite_retx: u32,
    answer_ms: Vec<f64>,
    states: Vec<(String, i64)>,
    heard: Heard,
    pacing: (f64, f64, f64, u64),
    pacing_all: (f64, f64, f64),
    window_s: Option<f64>,
    cpu_window: Option<f64>,
    wait_window: Option<f64>,
    cpu_level: Option<f64>,
    box_window: Option<f64>,
    box_level: f64,
    self_cpu: f64,
    in_drops: Option<u64>,
    sip_drops: Option<u64>,
    rcvbuf: u64,
    late_pct: f64,
    mem_up: Option<(u64, usize)>,
    active_after: Option<u64>,
    wall_s: f64,
}

impl RateLevel {
    fn not_dialled(&self) -> usize {
        self.enrolled.saturating_sub(self.dialled)
    }

    fn calls_ok(&self) -> bool {
        self.lost == 0 && self.not_dialled() == 0 && self.peak_in_progress as usize <= self.cap
    }

    fn audio_ok(&self) -> bool {
        let h = &self.heard;
        h.lost() == 0
            && h.skipped == 0
            && h.silent == 0
            && h.prompt_ok == h.streams
            && self.in_drops.is_none_or(|d| d == 0)
            && self.rcvbuf == 0
    }

    fn print(&self) {
        let c = self.cap;
        let verdict = match (self.calls_ok(), self.audio_ok(), self.pacing.1 <= 2.0) {
            (true, true, true) => "PASS",
            (true, true, false) => "PASS (pacing p99 over 2 ms)",
            (false, _, _) => "FAIL (calls)",
            (true, false, _) => "FAIL (audio)",
        };
        let opt = |v: Option<f64>, d: usize| v.map_or("?".to_owned(), |x| format!("{x:.d$}"));
        // How well the cap was kept filled while contacts remained: the
        // dialer replaces ended calls once a second; far below the cap, it
        // fell behind (or the server refused its dial orders).
        let held = self.sustained.map(|s| s.0 * 100.0 / c as f64);
        let held_note = match held {
            Some(h) if h < 95.0 => {
                format!("; only {h:.0} % of the cap in progress on average while contacts remained")
            }
            _ => String::new(),
        };
        println!("rate {c}: {verdict}{held_note}");
        println!(
            "  dialled {} of {} contacts in {:.1} s; resume -> first INVITE {:.0} ms; \
             first INVITE -> C-th INVITE {} s ({} INVITEs/s), -> C answered {} s ({} calls/s)",
            self.dialled,
            self.enrolled,
            self.wall_s,
            self.resume_to_first_ms,
            opt(self.ramp_in_progress_s, 3),
            self.ramp_in_progress_s.map_or("?".into(), |s| format!(
                "{:.0}",
                (c.saturating_sub(1)) as f64 / s.max(1e-6)
            )),
            opt(self.ramp_up_s, 3),
            self.ramp_up_s
                .map_or("?".into(), |s| format!("{:.0}", c as f64 / s.max(1e-6))),
        );
        let shown: Vec<String> = self
            .bursts
            .iter()
            .take(8)
            .map(|(t, n, span)| format!("{n} at {t:.2} s in {span:.0} ms"))
            .collect();
        let sizes: Vec<f64> = self.bursts.iter().skip(1).map(|b| b.1 as f64).collect();
        println!(
            "  dialer bursts (INVITEs < 200 ms apart): {}; first: {}; later bursts: median {:.0} INVITEs",
            self.bursts.len(),
            shown.join(", "),
            quantile(&sizes, 0.5)
        );
        println!(
            "  calls in progress at the carrier: peak {} (cap {c}), answered peak {}; {}",
            self.peak_in_progress,
            self.peak_up,
            self.sustained.map_or("contacts ran out before the first replacement".into(), |(mean, min, rate, s)| format!(
                "while contacts remained ({s:.1} s): mean {mean:.1}, min {min} in progress, {rate:.1} INVITEs/s"
            ))
        );
        let mut ends: Vec<_> = self.ends.iter().collect();
        ends.sort();
        println!(
            "  calls lost {} (hung up by hotline first: {}); ends {ends:?}; INVITEs hotline sent again {}; \
             INVITE -> ACK p50/p95/max {} ms; contacts by state {:?}",
            self.lost,
            self.early,
            self.invite_retx,
            spread(&self.answer_ms),
            self.states
        );
        let h = &self.heard;
        println!(
            "  customers heard: {} streams ({} silent), {} packets, {} lost, {} skipped slots, {} out of order; \
             survey-intro's first second whole in {} calls ({} without it; frames {}/{} equal); \
             packets before it p50 {:.0} max {:.0}; our 200 -> first packet {} ms, -> prompt {} ms",
            h.streams,
            h.silent,
            h.received,
            h.lost(),
            h.skipped,
            h.out_of_order,
            h.prompt_ok,
            h.no_prompt,
            h.frames_matched,
            h.frames_checked,
            quantile(&h.before_prompt, 0.5),
            quantile(&h.before_prompt, 1.0),
            spread(&h.first_packet_ms),
            spread(&h.prompt_ms),
        );
        println!(
            "  pacing with all {c} answered ({} s, {} intervals): p50 {:.3} p99 {:.3} max {:.1} ms; whole level p50 {:.3} p99 {:.3} max {:.1} ms",
            opt(self.window_s, 1),
            self.pacing.3,
            self.pacing.0,
            self.pacing.1,
            self.pacing.2,
            self.pacing_all.0,
            self.pacing_all.1,
            self.pacing_all.2
        );
        println!(
            "  server CPU {} % of a core with all {c} up ({} per call; waited for a CPU {} ms/s), {} % over the level; \
             box busy {} % / {:.0} %; load tool {:.0} %; memory/fds with all up {}",
            opt(self.cpu_window, 0),
            self.cpu_window
                .map_or("?".into(), |x| format!("{:.3} %", x / c as f64)),
            opt(self.wait_window, 0),
            opt(self.cpu_level, 0),
            opt(self.box_window, 0),
            self.box_level,
            self.self_cpu,
            self.mem_up
                .map_or("?".into(), |(rss, fds)| format!("{} MiB/{fds}", rss / 1024)),
        );
        println!(
            "  our RTP dropped at the server's sockets {} (at least); its SIP socket drops {}; \
             UDP RcvbufErrors on the machine +{}; \
             our packets > 1 ms late {:.2} %; active calls after {}",
            self.in_drops.map_or("?".into(), |d| d.to_string()),
            self.sip_drops.map_or("?".into(), |d| d.to_string()),
            self.rcvbuf,
            self.late_pct,
            self.active_after.map_or("?".into(), |a| a.to_string())
        );
        let na = |v: Option<f64>, d: usize| v.map_or("na".to_owned(), |x| format!("{x:.d$}"));
        println!(
            "RESULT rate c={c} enrolled={} dialled={} lost={} early={} not_dialled={} peak={} peak_up={} \
             ramp_s={} ramp_cps={} up_s={} sustained_mean={} sustained_cps={} bursts={} first_burst={} \
             loss={} skipped={} silent={} prompt_ok={} p50_ms={:.3} p99_ms={:.3} max_ms={:.1} \
             server_cpu={} cpu_per_call={} server_cpu_level={} in_drops={} calls_ok={} audio_ok={} held_pct={} rcvbuf_errors={}",
            self.enrolled,
            self.dialled,
            self.lost,
            self.early,
            self.not_dialled(),
            self.peak_in_progress,
            self.peak_up,
            na(self.ramp_in_progress_s, 3),
            na(
                self.ramp_in_progress_s
                    .map(|s| (c.saturating_sub(1)) as f64 / s.max(1e-6)),
                0
            ),
            na(self.ramp_up_s, 3),
            na(self.sustained.map(|s| s.0), 1),
            na(self.sustained.map(|s| s.2), 1),
            self.bursts.len(),
            self.bursts.first().map_or(0, |b| b.1),
            h.lost(),
            h.skipped,
            h.silent,
            h.prompt_ok,
            self.pacing.0,
            self.pacing.1,
            self.pacing.2,
            na(self.cpu_window, 0),
            na(self.cpu_window.map(|x| x / c as f64), 3),
            na(self.cpu_level, 0),
            self.in_drops.map_or("na".into(), |d| d.to_string()),
            u8::from(self.calls_ok()),
            u8::from(self.audio_ok()),
            na(held, 1),
            self.rcvbuf,
        );
    }
}

struct ProgSample {
    together: usize,
    nth: usize,
    ready_to_invite: f64,
    first_ready_to_invite: f64,
    answer_to_phone: f64,
    answer_to_offered: f64,
    ready_to_offered: f64,
    ok: bool,
}

fn print_progressive(samples: &[ProgSample], agents: usize) {
    let one: Vec<&ProgSample> = samples.iter().filter(|s| s.together == 1).collect();
    let col = |v: &[&ProgSample], f: fn(&ProgSample) -> f64| -> Vec<f64> {
        v.iter().map(|s| f(s)).collect()
    };
    let line = |name: &str, v: &[f64]| {
        println!(
            "  {name:<44} n {:>4}  p50 {:>8.2}  p95 {:>8.2}  max {:>8.2}  min {:>8.2} ms",
            v.iter().filter(|x| !x.is_nan()).count(),
            quantile(v, 0.5),
            quantile(v, 0.95),
            quantile(v, 1.0),
            v.iter()
                .copied()
                .filter(|x| !x.is_nan())
                .fold(f64::INFINITY, f64::min)
        );
    };
    let ok = samples.iter().filter(|s| s.ok).count();
    println!(
        "progressive: {} calls measured ({ok} answered, offered to the agent who turned ready with the customer's number, hung up by the customer)",
        samples.len()
    );
    println!("  one agent turns ready at a time:");
    let r2i = col(&one, |s| s.ready_to_invite);
    line("ready written -> INVITE at the carrier", &r2i);
    line(
        "customer's 200 -> INVITE at the agent's phone",
        &col(&one, |s| s.answer_to_phone),
    );
    line(
        "customer's 200 -> offered on the screen",
        &col(&one, |s| s.answer_to_offered),
    );
    line(
        "ready written -> offered",
        &col(&one, |s| s.ready_to_offered),
    );
    let burst: Vec<&ProgSample> = samples.iter().filter(|s| s.together > 1).collect();
    if !burst.is_empty() {
        println!("  all {agents} agents turn ready together:");
        line(
            "first ready written -> each INVITE",
            &col(&burst, |s| s.first_ready_to_invite),
        );
        for n in [0, agents / 2, agents.saturating_sub(1)] {
            let v: Vec<f64> = burst
                .iter()
                .filter(|s| s.nth == n)
                .map(|s| s.first_ready_to_invite)
                .collect();
            if !v.is_empty() {
                line(&format!("  INVITE no. {} of {agents}", n + 1), &v);
            }
        }
        line(
            "customer's 200 -> INVITE at the agent's phone",
            &col(&burst, |s| s.answer_to_phone),
        );
    }
    let b2i = col(&burst, |s| s.first_ready_to_invite);
    let last: Vec<f64> = burst
        .iter()
        .filter(|s| s.nth + 1 == s.together)
        .map(|s| s.first_ready_to_invite)
        .collect();
    println!(
        "RESULT progressive samples={} ok={ok} ready_to_invite_p50_ms={:.2} ready_to_invite_p95_ms={:.2} \
         ready_to_invite_max_ms={:.2} answer_to_phone_p50_ms={:.2} answer_to_phone_p95_ms={:.2} \
         burst_samples={} burst_p50_ms={:.2} burst_last_p50_ms={:.2} burst_max_ms={:.2}",
        one.len(),
        quantile(&r2i, 0.5),
        quantile(&r2i, 0.95),
        quantile(&r2i, 1.0),
        quantile(&col(&one, |s| s.answer_to_phone), 0.5),
        quantile(&col(&one, |s| s.answer_to_phone), 0.95),
        burst.len(),
        quantile(&b2i, 0.5),
        quantile(&last, 0.5),
        quantile(&b2i, 1.0),
    );
}

fn main() {
    let args = parse_args();
    if let Some(path) = args.write_config.clone() {
        write_config(&path, &args);
        return;
    }
    let run = wall_ns() as u64 / 1000 % 1_000_000_000;

    let admin_token = admin_login(args.http, &args.admin).unwrap_or_else(|e| die(&e));
    let (st, v) = http(args.http, "GET", "/api/campaigns", Some(&admin_token), None)
        .unwrap_or_else(|e| die(&e));
    if st != 200 {
        die(&format!("GET /api/campaigns: {st} {v}"));
    }
    let configured: Vec<String> = v["campaigns"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut wanted: Vec<String> = Vec::new();
    if args.stage != Stage::Progressive {
        wanted.extend(args.levels.iter().map(|c| format!("load-{c}")));
    }
    if args.stage != Stage::Rate {
        wanted.push(PROGRESSIVE.to_owned());
    }
    let missing: Vec<&String> = wanted.iter().filter(|w| !configured.contains(w)).collect();
    if !missing.is_empty() {
        die(&format!(
            "the server has no campaign {missing:?} (it has {configured:?}): start it with the file \
             `--write-config FILE` writes, with the same --levels and --agents"
        ));
    }

    let carrier = UdpSocket::bind(args.carrier).unwrap_or_else(|e| {
        die(&format!(
            "cannot bind the carrier's socket {}: {e}",
            args.carrier
        ))
    });
    let phones = UdpSocket::bind("127.0.0.1:0").expect("bind the phones' SIP socket");
    let (ep, rx_ep) = sip_sockets_and_epolls([(&carrier, TOKEN_CARRIER), (&phones, TOKEN_PHONES)]);

    let prompt = Arc::new(prompt_frames(&args, "survey-intro"));
    let stop = Arc::new(AtomicBool::new(false));
    let window = Arc::new([AtomicI64::new(i64::MAX), AtomicI64::new(i64::MAX)]);
    let rx = Arc::new(Mutex::new(Rx {
        streams: HashMap::new(),
        all: Hist::new(),
        window: Hist::new(),
        not_rtp: 0,
        no_kernel_ts: 0,
    }));
    let rx_thread = {
        let (stop, window, rx) = (stop.clone(), window.clone(), rx.clone());
        std::thread::spawn(move || receiver(rx_ep, stop, window, rx, prompt))
    };
    let (tx_cmd, rx_cmd) = mpsc::channel();
    let send_stats = Arc::new(SendStats::default());
    let tx_thread = {
        let (stop, stats) = (stop.clone(), send_stats.clone());
        std::thread::spawn(move || {
            sender(rx_cmd, stop, stats, [CUSTOMER_HZ, PHONE_HZ], 0x0B0B_0000)
        })
    };

    let mut b = Bench {
        run,
        ep,
        rx_ep,
        carrier,
        phones_addr: phones.local_addr().unwrap(),
        phones,
        custs: Vec::new(),
        by_cid: HashMap::new(),
        custs_done_below: 0,
        agents: Vec::new(),
        by_user: HashMap::new(),
        legs: HashMap::new(),
        tx_cmd,
        send_stats,
        rx,
        window,
        next_port: args.rtp_base,
        next_stream: 0,
        branch: 0,
        last_tick: Instant::now(),
        admin_token,
        problems: Vec::new(),
        counts: HashMap::new(),
        retransmissions: 0,
        buf: vec![0u8; 65_536],
        survey: false,
        in_progress: 0,
        answered: 0,
        conc: Vec::new(),
        // Numbers 139xxxxxxxx from a block of this run's own.
        next_number: (run % 9_000) * 10_000,
        settle_waits: Vec::new(),
        a: args,
    };

    if b.a.stage != Stage::Progressive {
        let mut best = None;
        for c in b.a.levels.clone() {
            let level = b.rate_level(c);
            level.print();
            if level.calls_ok() && level.audio_ok() {
                best = Some(c);
            } else if !b.a.all_levels {
                println!(
                    "rate: stopping after the first level with lost calls, undialled contacts or lost audio"
                );
                break;
            }
        }
        println!(
            "rate: largest level with every call dialled, answered and ended by the customer, and clean audio: {}",
            best.map_or("none".into(), |c| c.to_string())
        );
    }
    if b.a.stage != Stage::Rate {
        b.wait_idle();
        let k = b.a.agents;
        b.ensure_agents(k);
        let all: Vec<usize> = (0..k).collect();
        if !b.agents_not_ready(&all) {
            die("agents not ready to start: they did not go not ready");
        }
        b.set_campaign(PROGRESSIVE, "paused");
        let n = b.a.rounds + b.a.burst_rounds * k + k;
        let (enrolled, secs) = b.enrol(PROGRESSIVE, n);
        println!(
            "progressive: {enrolled} contacts enrolled in {secs:.1} s; {k} agents, {} rounds of one, {} of all",
            b.a.rounds, b.a.burst_rounds
        );
        b.set_campaign(PROGRESSIVE, "running");
        b.pump_for(Duration::from_millis(1500));
        let mut samples = Vec::new();
        let t0 = Instant::now();
        let cpu0 = b.a.server_pid.and_then(cpu_seconds);
        for r in 0..b.a.rounds {
            if !b.prog_round(&[r % k], &mut samples) {
                break;
            }
        }
        for _ in 0..b.a.burst_rounds {
            if !b.prog_round(&all, &mut samples) {
                break;
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let cpu = match (cpu0, b.a.server_pid.and_then(cpu_seconds)) {
            (Some(a), Some(c)) => format!("{:.0} %", (c - a) / secs * 100.0),
            _ => "?".into(),
        };
        println!("progressive: {secs:.1} s; server CPU {cpu} of a core");
        print_progressive(&samples, k);
        println!(
            "progressive: {} of {} rounds began only after waiting for the dialer to write the previous \
             round's attempts (waits p50 / p95 / max {} ms)",
            b.settle_waits.len(),
            b.a.rounds + b.a.burst_rounds,
            spread(&b.settle_waits)
        );
        let waits = b.settle_waits.len();
        b.settle_dialer();
        b.settle_waits.truncate(waits);
        let states = b.contact_states(PROGRESSIVE);
        println!("progressive: contacts by state {states:?}");
        // Leave things as found: agents logged out, phones unregistered.
        for i in 0..b.agents.len() {
            b.command(i, json!({"type": "logout"}));
            b.register(i, None, 0);
        }
        b.wait_until(Duration::from_secs(5), |b| {
            b.agents.iter().all(|a| a.reg != RegPhase::Sent)
        });
    }

    stop.store(true, Ordering::Relaxed);
    let _ = tx_thread.join();
    let _ = rx_thread.join();
    let r = b.rx.lock().unwrap();
    println!(
        "SIP retransmissions by us: {}; RTP not parsed: {}; RTP without kernel timestamp: {}; our RTP send errors: {}",
        b.retransmissions,
        r.not_rtp,
        r.no_kernel_ts,
        b.send_stats.errors.load(Ordering::Relaxed)
    );
    drop(r);
    print_counts_and_problems(&b.counts, &b.problems);
}
