//! Concurrency with G.711 audio both ways, against a RUNNING hotline.
//!
//! Places `--calls N` calls over SIP/UDP (one SIP socket, like sipp), at
//! `--rate` calls per second, holds each for `--hold` seconds after its 200,
//! then hangs up with BYE. Every call has its own RTP socket that sends the
//! server 20 ms PCMU packets (a 400 Hz tone) from a pacing thread, while a
//! receiver thread (epoll over all RTP sockets) reads the server's RTP with
//! kernel receive timestamps (SO_TIMESTAMPNS), so a busy load generator does
//! not blur the figures. Measured on what the server sends:
//!
//! - loss: sequence-number gaps (plus duplicates / reordering, counted apart);
//! - skipped slots: RTP timestamp jumps of more than 160 between consecutive
//!   sequence numbers, i.e. audio the server dropped when it ran late (it
//!   skips ahead without a sequence gap, see `media::session`);
//! - pacing: |inter-arrival − 20 ms| between consecutive packets, p50/p99/max;
//! - lost calls: set-up failures, calls the server hung up before the hold
//!   ended, BYEs not answered 200;
//! - set-up time INVITE → 200;
//! - pacing again over the window when all N calls are up (no set-up or
//!   tear-down going on).
//!
//! With `--server-pid`: the server's CPU and run-queue wait while all N
//! calls are up, and the other direction's loss: our packets that the
//! kernel dropped because hotline's RTP sockets were full (the drop counter
//! of each of its UDP sockets in /proc/net/udp, read just before the first
//! BYE). Passing means 0 lost calls, 0 loss either way, 0 skipped slots and
//! p99 pacing within 2 ms (exit status 0).
//!
//! Only std, and hotline's own RTP parser. Linux only (epoll, recvmsg and
//! setsockopt are declared here by hand).
//!
//! Run: `cargo bench --bench rtp_load -- --calls 500 [--rate 60] [--hold 20]
//!       [--server 127.0.0.1:5060] [--number 4008001234] [--server-pid PID]
//!       [--rtp-base 40000]`
//! Prints a human summary and one `RESULT key=value ...` line for scripts.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hotline::media::rtp;

#[path = "common/load.rs"]
mod load;
use load::{
    Pacer, all_headers, cpu_seconds, header, in_dialog_text, invite_text, run_queue_wait_ns,
    sdp_dest, sdp_offer, socket_drops, sys, udp_rcvbuf_errors, wall_ns,
};

const FRAME_NS: i64 = 20_000_000;
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TX_TIMEOUT: Duration = Duration::from_secs(32);
/// Pacing histogram: 1 µs bins up to this, then one overflow bin.
const HIST_US: usize = 1_000_000;

// ----- the few libc calls std does not offer ---------------------------------

// ----- arguments --------------------------------------------------------------

struct Args {
    server: SocketAddr,
    number: String,
    calls: u32,
    rate: f64,
    hold: Duration,
    server_pid: Option<u32>,
    rtp_base: u16,
}

fn parse_args() -> Args {
    let mut a = Args {
        server: "127.0.0.1:5060".parse().unwrap(),
        number: "4008001234".into(),
        calls: 100,
        rate: 0.0,
        hold: Duration::from_secs(20),
        server_pid: None,
        rtp_base: 40_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        // `cargo bench` passes --bench; ignore it.
        if flag == "--bench" {
            continue;
        }
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--server" => a.server = v.parse().expect("--server ADDR:PORT"),
            "--number" => a.number = v,
            "--calls" => a.calls = v.parse().expect("--calls N"),
            "--rate" => a.rate = v.parse().expect("--rate CPS"),
            "--hold" => a.hold = Duration::from_secs_f64(v.parse().expect("--hold SECONDS")),
            "--server-pid" => a.server_pid = Some(v.parse().expect("--server-pid PID")),
            "--rtp-base" => a.rtp_base = v.parse().expect("--rtp-base PORT"),
            _ => panic!("unknown option {flag}"),
        }
    }
    if a.rate <= 0.0 {
        // Ramp up over ~8 s by default.
        a.rate = (f64::from(a.calls) / 8.0).max(10.0);
    }
    a
}

// ----- RTP we send ------------------------------------------------------------

fn ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    let mut s = i32::from(sample);
    let sign = if s < 0 { 0x80 } else { 0 };
    if s < 0 {
        s = -s;
    }
    s = (s + BIAS).min(0x7FFF);
    let mut exp = 7;
    let mut mask = 0x4000;
    while exp > 0 && s & mask == 0 {
        exp -= 1;
        mask >>= 1;
    }
    let mant = (s >> (exp + 3)) & 0x0F;
    !(sign | (exp << 4) | mant) as u8
}

/// One second of a 400 Hz tone at -10 dBFS, mu-law: 50 frames of 160 bytes.
fn tone() -> Vec<u8> {
    (0..8000)
        .map(|n| {
            let x = (2.0 * std::f64::consts::PI * 400.0 * f64::from(n) / 8000.0).sin();
            ulaw((x * 10_000.0) as i16)
        })
        .collect()
}

enum SendCmd {
    Start {
        call: u32,
        socket: Arc<UdpSocket>,
        dest: SocketAddr,
    },
    Stop {
        call: u32,
    },
}

/// Paces every call's outgoing 20 ms packets (slot n at start + n*20 ms).
fn sender(cmds: mpsc::Receiver<SendCmd>, stop: Arc<AtomicBool>) -> (u64, u64) {
    let mut pacer = Pacer::new(vec![tone()]);
    let (mut sent, mut errors) = (0u64, 0u64);
    loop {
        loop {
            match cmds.try_recv() {
                Ok(SendCmd::Start { call, socket, dest }) => pacer.start(
                    call,
                    socket,
                    dest,
                    0,
                    call as u16,
                    call.wrapping_mul(7919),
                    0x5EED_0000 ^ call,
                ),
                Ok(SendCmd::Stop { call }) => pacer.stop(call),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => return (sent, errors),
            }
        }
        if stop.load(Ordering::Relaxed) {
            return (sent, errors);
        }
        pacer.send_due(
            |_| {},
            |ok| {
                if ok {
                    sent += 1;
                } else {
                    errors += 1;
                }
            },
        );
        pacer.sleep();
    }
}

// ----- RTP we receive ---------------------------------------------------------

#[derive(Default, Clone)]
struct RxCall {
    packets: u64,
    first_ext: i64,
    max_ext: i64,
    last_arrival: i64,
    last_ts: u32,
    out_of_order: u64,
    skipped_slots: u64,
    bad_pt: u64,
}

struct RxResult {
    calls: HashMap<u32, RxCall>,
    hist: Vec<u64>,
    max_dev_ns: i64,
    intervals: u64,
    /// The same, only for intervals that end while all calls are up and
    /// before the first BYE (no call set-up or tear-down going on).
    steady_hist: Vec<u64>,
    steady_max_ns: i64,
    steady_intervals: u64,
    not_rtp: u64,
    no_kernel_ts: u64,
}

/// Reads every RTP socket registered on `epfd` until `stop`.
fn receiver(epfd: i32, stop: Arc<AtomicBool>, window: Arc<[AtomicI64; 2]>) -> RxResult {
    let mut r = RxResult {
        calls: HashMap::new(),
        hist: vec![0; HIST_US + 1],
        max_dev_ns: 0,
        intervals: 0,
        steady_hist: vec![0; HIST_US + 1],
        steady_max_ns: 0,
        steady_intervals: 0,
        not_rtp: 0,
        no_kernel_ts: 0,
    };
    let mut events = vec![sys::EpollEvent { events: 0, data: 0 }; 512];
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: the buffer holds `events.len()` entries.
        let n = unsafe { sys::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, 50) };
        let steady = (
            window[0].load(Ordering::Relaxed),
            window[1].load(Ordering::Relaxed),
        );
        for ev in &events[..n.max(0) as usize] {
            let data = ev.data;
            let call = (data >> 32) as u32;
            let fd = (data & 0xFFFF_FFFF) as i32;
            // Until EAGAIN (or the socket is gone).
            while let Ok((len, ts)) = sys::recv_ts(fd, &mut buf, sys::MSG_DONTWAIT) {
                let arrival = ts.unwrap_or_else(|| {
                    r.no_kernel_ts += 1;
                    wall_ns()
                });
                let Ok(p) = rtp::parse(&buf[..len]) else {
                    r.not_rtp += 1;
                    continue;
                };
                on_packet(&mut r, call, &p.header, arrival, steady);
            }
        }
    }
    r
}

fn on_packet(r: &mut RxResult, call: u32, h: &rtp::RtpHeader, arrival: i64, steady: (i64, i64)) {
    let c = r.calls.entry(call).or_default();
    if h.payload_type != 0 && h.payload_type != 8 {
        c.bad_pt += 1;
    }
    if c.packets == 0 {
        c.packets = 1;
        c.first_ext = i64::from(h.sequence);
        c.max_ext = c.first_ext;
        c.last_arrival = arrival;
        c.last_ts = h.timestamp;
        return;
    }
    // Extend the 16-bit sequence number around the highest seen so far.
    let last16 = (c.max_ext & 0xFFFF) as u16;
    let delta = i64::from(h.sequence.wrapping_sub(last16) as i16);
    let ext = c.max_ext + delta;
    if delta <= 0 {
        c.out_of_order += 1;
        return;
    }
    c.packets += 1;
    if delta == 1 {
        let dev = (arrival - c.last_arrival - FRAME_NS).abs();
        let us = (dev / 1000) as usize;
        r.hist[us.min(HIST_US)] += 1;
        r.max_dev_ns = r.max_dev_ns.max(dev);
        r.intervals += 1;
        if c.last_arrival >= steady.0 && arrival < steady.1 {
            r.steady_hist[us.min(HIST_US)] += 1;
            r.steady_max_ns = r.steady_max_ns.max(dev);
            r.steady_intervals += 1;
        }
        let step = h.timestamp.wrapping_sub(c.last_ts);
        if step > 160 && step < 160 * 50 * 3600 {
            c.skipped_slots += u64::from(step / 160 - 1);
        }
    }
    c.max_ext = ext;
    c.last_arrival = arrival;
    c.last_ts = h.timestamp;
}

fn percentile_us(hist: &[u64], total: u64, p: f64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let want = ((total as f64) * p).ceil().max(1.0) as u64;
    let mut acc = 0;
    for (us, &n) in hist.iter().enumerate() {
        acc += n;
        if acc >= want {
            return us as f64;
        }
    }
    hist.len() as f64
}

// ----- SIP --------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    SetupRefused(u16),
    SetupTimeout,
    HungUpByServer,
    ByeTimeout,
    ByeRefused(u16),
    NoPort,
}

enum State {
    Inviting {
        invite: String,
        first_sent: Instant,
        next_retx: Option<Instant>,
        interval: Duration,
    },
    Up {
        hangup_at: Instant,
    },
    Byeing {
        bye: String,
        first_sent: Instant,
        next_retx: Instant,
        interval: Duration,
    },
    Done(Outcome),
}

struct Call {
    socket: Arc<UdpSocket>,
    state: State,
    /// The To header value of the 200 (with the server's tag).
    to: String,
    /// The server's Contact URI: where ACK and BYE go.
    target: String,
}

struct Sip {
    socket: UdpSocket,
    local: SocketAddr,
    server: SocketAddr,
    number: String,
    run: u64,
    branch: u64,
    retransmissions: u64,
}

impl Sip {
    fn call_id(&self, call: u32) -> String {
        format!("load-{}-{call}@127.0.0.1", self.run)
    }

    fn from(&self, call: u32) -> String {
        format!("<sip:13800138000@{}>;tag=ld{}x{call}", self.local, self.run)
    }

    fn next_branch(&mut self) -> String {
        self.branch += 1;
        format!("z9hG4bK-ld{}-{}", self.run, self.branch)
    }

    fn send(&self, text: &str) {
        let _ = self.socket.send_to(text.as_bytes(), self.server);
    }

    fn invite(&mut self, call: u32, rtp_port: u16) -> String {
        let sdp = sdp_offer("load", call, rtp_port);
        let branch = self.next_branch();
        invite_text(
            &self.number,
            self.server,
            self.local,
            &branch,
            &format!("\"Load\" {}", self.from(call)),
            &self.call_id(call),
            "13800138000",
            &sdp,
        )
    }

    fn in_dialog(
        &mut self,
        call: u32,
        method: &str,
        cseq: u32,
        c: &Call,
        branch: Option<&str>,
    ) -> String {
        let branch = branch.map_or_else(|| self.next_branch(), str::to_owned);
        in_dialog_text(
            method,
            &c.target,
            self.local,
            &branch,
            &format!("\"Load\" {}", self.from(call)),
            &c.to,
            &self.call_id(call),
            cseq,
        )
    }
}

/// Our call number from a Call-ID `load-<run>-<n>@...` of this run.
fn call_of(call_id: &str, run: u64) -> Option<u32> {
    let rest = call_id.strip_prefix("load-")?;
    let (r, rest) = rest.split_once('-')?;
    if r.parse::<u64>().ok()? != run {
        return None;
    }
    rest.split('@').next()?.parse().ok()
}

fn bind_rtp(next_port: &mut u16) -> Option<UdpSocket> {
    while *next_port < 65_000 {
        let port = *next_port;
        *next_port += 2;
        if let Ok(s) = UdpSocket::bind(("127.0.0.1", port)) {
            return Some(s);
        }
    }
    None
}

fn main() {
    let args = parse_args();
    let run = wall_ns() as u64 / 1000 % 1_000_000_000;
    let snmp_before = udp_rcvbuf_errors();
    let self_cpu0 = cpu_seconds(std::process::id()).unwrap_or(0.0);
    let server_cpu0 = args.server_pid.and_then(cpu_seconds);
    let t0 = Instant::now();

    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the SIP socket");
    sys::set_int_opt(socket.as_raw_fd(), sys::SO_RCVBUF, 4 << 20);
    sys::set_int_opt(socket.as_raw_fd(), sys::SO_SNDBUF, 4 << 20);
    socket
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    let mut sip = Sip {
        socket,
        local,
        server: args.server,
        number: args.number.clone(),
        run,
        branch: 0,
        retransmissions: 0,
    };

    // SAFETY: plain syscall.
    let epfd = unsafe { sys::epoll_create1(sys::EPOLL_CLOEXEC) };
    assert!(epfd >= 0, "epoll_create1 failed");
    let stop = Arc::new(AtomicBool::new(false));
    let rx_stop = stop.clone();
    // Wall-clock ns (the kernel timestamps' clock) from when all calls are
    // up to the first BYE.
    let window = Arc::new([AtomicI64::new(i64::MAX), AtomicI64::new(i64::MAX)]);
    let rx_window = window.clone();
    let rx = std::thread::spawn(move || receiver(epfd, rx_stop, rx_window));
    let (tx_cmd, rx_cmd) = mpsc::channel();
    let tx_stop = stop.clone();
    let tx = std::thread::spawn(move || sender(rx_cmd, tx_stop));

    let n = args.calls;
    let mut calls: Vec<Call> = Vec::with_capacity(n as usize);
    let mut setup_ms: Vec<f64> = Vec::new();
    let mut next_port = args.rtp_base;
    let mut launched = 0u32;
    let mut up_now = 0u32;
    let mut max_up = 0u32;
    let mut all_up_at: Option<Instant> = None;
    let mut first_bye_at: Option<Instant> = None;
    let mut server_cpu_all_up: Option<f64> = None;
    let mut server_cpu_first_bye: Option<f64> = None;
    let mut server_wait_all_up: Option<u64> = None;
    let mut server_drops: Option<(u64, u64)> = None;
    let mut server_wait_first_bye: Option<u64> = None;
    let mut finished = 0u32;
    let mut buf = vec![0u8; 65_536];
    let mut last_tick = Instant::now();
    let deadline = t0
        + Duration::from_secs_f64(f64::from(n) / args.rate)
        + args.hold
        + Duration::from_secs(70);

    while finished < n && Instant::now() < deadline {
        let now = Instant::now();
        // New calls, at the rate asked.
        while launched < n && t0 + Duration::from_secs_f64(f64::from(launched) / args.rate) <= now {
            let idx = launched;
            launched += 1;
            let Some(rtp_sock) = bind_rtp(&mut next_port) else {
                calls.push(Call {
                    socket: Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap()),
                    state: State::Done(Outcome::NoPort),
                    to: String::new(),
                    target: String::new(),
                });
                finished += 1;
                continue;
            };
            rtp_sock.set_nonblocking(true).unwrap();
            let fd = rtp_sock.as_raw_fd();
            sys::set_int_opt(fd, sys::SO_TIMESTAMPNS, 1);
            let mut ev = sys::EpollEvent {
                events: sys::EPOLLIN,
                data: (u64::from(idx) << 32) | fd as u32 as u64,
            };
            // SAFETY: valid epoll fd, socket fd and event.
            unsafe { sys::epoll_ctl(epfd, sys::EPOLL_CTL_ADD, fd, &raw mut ev) };
            let port = rtp_sock.local_addr().unwrap().port();
            let invite = sip.invite(idx, port);
            sip.send(&invite);
            calls.push(Call {
                socket: Arc::new(rtp_sock),
                state: State::Inviting {
                    invite,
                    first_sent: now,
                    next_retx: Some(now + T1),
                    interval: T1,
                },
                to: String::new(),
                target: String::new(),
            });
        }

        // SIP from the server.
        while let Ok((len, _)) = sip.socket.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..len]).into_owned();
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            let Some(idx) = header(head, &["Call-ID", "i"]).and_then(|c| call_of(c, run)) else {
                continue;
            };
            let Some(c) = calls.get_mut(idx as usize) else {
                continue;
            };
            let now = Instant::now();
            if let Some(status) = head.strip_prefix("SIP/2.0 ") {
                let code: u16 = status.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
                let cseq = header(head, &["CSeq"]).unwrap_or("");
                if cseq.ends_with("INVITE") {
                    match &mut c.state {
                        State::Inviting {
                            next_retx,
                            first_sent,
                            invite,
                            ..
                        } => {
                            if code < 200 {
                                *next_retx = None;
                            } else if code < 300 {
                                setup_ms.push(now.duration_since(*first_sent).as_secs_f64() * 1e3);
                                c.to = header(head, &["To", "t"]).unwrap_or("").to_owned();
                                c.target = header(head, &["Contact", "m"])
                                    .and_then(|v| Some(v.split_once('<')?.1.split_once('>')?.0))
                                    .unwrap_or("")
                                    .to_owned();
                                let ack = sip.in_dialog(idx, "ACK", 1, c, None);
                                sip.send(&ack);
                                match sdp_dest(body) {
                                    Some(dest) => {
                                        let _ = tx_cmd.send(SendCmd::Start {
                                            call: idx,
                                            socket: c.socket.clone(),
                                            dest,
                                        });
                                    }
                                    None => eprintln!("call {idx}: 200 without a usable SDP"),
                                }
                                c.state = State::Up {
                                    hangup_at: now + args.hold,
                                };
                                up_now += 1;
                                if up_now > max_up {
                                    max_up = up_now;
                                }
                                if launched == n && up_now == n && all_up_at.is_none() {
                                    all_up_at = Some(now);
                                    window[0].store(wall_ns(), Ordering::Relaxed);
                                    server_cpu_all_up = args.server_pid.and_then(cpu_seconds);
                                    server_wait_all_up =
                                        args.server_pid.and_then(run_queue_wait_ns);
                                }
                            } else {
                                // ACK the failure on the INVITE's branch.
                                let via = invite
                                    .lines()
                                    .find(|l| l.starts_with("Via:"))
                                    .and_then(|l| l.split("branch=").nth(1))
                                    .and_then(|b| b.split(';').next())
                                    .unwrap_or("")
                                    .to_owned();
                                c.to = header(head, &["To", "t"]).unwrap_or("").to_owned();
                                c.target = format!("sip:{}@{}", sip.number, sip.server);
                                let ack = sip.in_dialog(idx, "ACK", 1, c, Some(&via));
                                sip.send(&ack);
                                c.state = State::Done(Outcome::SetupRefused(code));
                                finished += 1;
                            }
                        }
                        State::Up { .. } | State::Byeing { .. } if (200..300).contains(&code) => {
                            // Our ACK was lost: the 200 is retransmitted.
                            let ack = sip.in_dialog(idx, "ACK", 1, c, None);
                            sip.send(&ack);
                        }
                        _ => {}
                    }
                } else if cseq.ends_with("BYE")
                    && code >= 200
                    && matches!(c.state, State::Byeing { .. })
                {
                    c.state = State::Done(if code < 300 {
                        Outcome::Ok
                    } else {
                        Outcome::ByeRefused(code)
                    });
                    finished += 1;
                }
            } else {
                // A request from the server: answer it 200.
                let method = head.split(' ').next().unwrap_or("");
                let mut resp = String::from("SIP/2.0 200 OK\r\n");
                for h in all_headers(head, &["Via", "v"]) {
                    resp.push_str(h);
                    resp.push_str("\r\n");
                }
                for name in [
                    &["From", "f"][..],
                    &["To", "t"],
                    &["Call-ID", "i"],
                    &["CSeq"],
                ] {
                    if let Some(h) = all_headers(head, name).first() {
                        resp.push_str(h);
                        resp.push_str("\r\n");
                    }
                }
                resp.push_str("Content-Length: 0\r\n\r\n");
                sip.send(&resp);
                if method == "BYE" {
                    match c.state {
                        State::Up { .. } => {
                            let _ = tx_cmd.send(SendCmd::Stop { call: idx });
                            up_now -= 1;
                            c.state = State::Done(Outcome::HungUpByServer);
                            finished += 1;
                        }
                        State::Byeing { .. } => {
                            // Both hung up at once; ours will get 481 or 200.
                        }
                        _ => {}
                    }
                }
            }
        }

        // Timers, every 5 ms.
        let now = Instant::now();
        if now.duration_since(last_tick) < Duration::from_millis(5) {
            continue;
        }
        last_tick = now;
        for (idx, c) in calls.iter_mut().enumerate() {
            match &mut c.state {
                State::Inviting {
                    invite,
                    first_sent,
                    next_retx,
                    interval,
                } => {
                    if now.duration_since(*first_sent) > TX_TIMEOUT {
                        c.state = State::Done(Outcome::SetupTimeout);
                        finished += 1;
                    } else if next_retx.is_some_and(|t| now >= t) {
                        sip.socket.send_to(invite.as_bytes(), sip.server).ok();
                        sip.retransmissions += 1;
                        *interval *= 2;
                        *next_retx = Some(now + *interval);
                    }
                }
                State::Up { hangup_at } if now >= *hangup_at => {
                    if first_bye_at.is_none() {
                        first_bye_at = Some(now);
                        window[1].store(wall_ns(), Ordering::Relaxed);
                        server_cpu_first_bye = args.server_pid.and_then(cpu_seconds);
                        server_wait_first_bye = args.server_pid.and_then(run_queue_wait_ns);
                        // Before any call (and its RTP socket) is gone.
                        server_drops = args
                            .server_pid
                            .and_then(|p| socket_drops(p, args.server.port()));
                    }
                    let _ = tx_cmd.send(SendCmd::Stop { call: idx as u32 });
                    up_now -= 1;
                    let bye = sip.in_dialog(idx as u32, "BYE", 2, c, None);
                    sip.send(&bye);
                    c.state = State::Byeing {
                        bye,
                        first_sent: now,
                        next_retx: now + T1,
                        interval: T1,
                    };
                }
                State::Byeing {
                    bye,
                    first_sent,
                    next_retx,
                    interval,
                } => {
                    if now.duration_since(*first_sent) > TX_TIMEOUT {
                        c.state = State::Done(Outcome::ByeTimeout);
                        finished += 1;
                    } else if now >= *next_retx {
                        sip.socket.send_to(bye.as_bytes(), sip.server).ok();
                        sip.retransmissions += 1;
                        *interval = (*interval * 2).min(T2);
                        *next_retx = now + *interval;
                    }
                }
                _ => {}
            }
        }
    }
    let wall = t0.elapsed();
    // Let the last packets in flight land, then stop the threads.
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    drop(tx_cmd);
    let (rtp_sent, rtp_send_errors) = tx.join().expect("sender thread");
    let rxr = rx.join().expect("receiver thread");
    let self_cpu = cpu_seconds(std::process::id()).unwrap_or(0.0) - self_cpu0;
    let server_cpu_run = match (server_cpu0, args.server_pid.and_then(cpu_seconds)) {
        (Some(a), Some(b)) => Some((b - a) / wall.as_secs_f64() * 100.0),
        _ => None,
    };
    let steady = match (
        all_up_at,
        first_bye_at,
        server_cpu_all_up,
        server_cpu_first_bye,
    ) {
        (Some(a), Some(b), Some(ca), Some(cb)) if b > a => Some((
            b.duration_since(a).as_secs_f64(),
            (cb - ca) / b.duration_since(a).as_secs_f64() * 100.0,
        )),
        _ => None,
    };
    // ms per second the server's threads waited for a CPU while all were up
    let steady_wait = match (steady, server_wait_all_up, server_wait_first_bye) {
        (Some((secs, _)), Some(a), Some(b)) => Some((b.saturating_sub(a)) as f64 / 1e6 / secs),
        _ => None,
    };

    // ----- report -----
    let mut outcomes: HashMap<String, u32> = HashMap::new();
    for c in &calls {
        let k = match c.state {
            State::Done(o) => format!("{o:?}"),
            State::Inviting { .. } => "StillInviting".into(),
            State::Up { .. } => "StillUp".into(),
            State::Byeing { .. } => "StillByeing".into(),
        };
        *outcomes.entry(k).or_default() += 1;
    }
    let ok = outcomes.get("Ok").copied().unwrap_or(0);
    let failed = n - ok;
    let (mut received, mut expected, mut ooo, mut skipped, mut bad_pt) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut silent_calls = 0u32;
    for i in 0..n {
        match rxr.calls.get(&i) {
            Some(c) => {
                received += c.packets;
                expected += (c.max_ext - c.first_ext + 1) as u64;
                ooo += c.out_of_order;
                skipped += c.skipped_slots;
                bad_pt += c.bad_pt;
            }
            None => silent_calls += 1,
        }
    }
    let lost = expected.saturating_sub(received);
    let loss_pct = if expected > 0 {
        lost as f64 * 100.0 / expected as f64
    } else {
        0.0
    };
    let skip_pct = if expected > 0 {
        skipped as f64 * 100.0 / (expected + skipped) as f64
    } else {
        0.0
    };
    let p50 = percentile_us(&rxr.hist, rxr.intervals, 0.50) / 1000.0;
    let p99 = percentile_us(&rxr.hist, rxr.intervals, 0.99) / 1000.0;
    let p999 = percentile_us(&rxr.hist, rxr.intervals, 0.999) / 1000.0;
    let max = rxr.max_dev_ns as f64 / 1e6;
    let over2 = rxr.hist[2000..].iter().sum::<u64>();
    let s_p50 = percentile_us(&rxr.steady_hist, rxr.steady_intervals, 0.50) / 1000.0;
    let s_p99 = percentile_us(&rxr.steady_hist, rxr.steady_intervals, 0.99) / 1000.0;
    let s_max = rxr.steady_max_ns as f64 / 1e6;
    setup_ms.sort_by(f64::total_cmp);
    let pct = |v: &[f64], p: f64| {
        if v.is_empty() {
            0.0
        } else {
            v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
        }
    };
    let setup_p50 = pct(&setup_ms, 0.5);
    let setup_p99 = pct(&setup_ms, 0.99);
    let setup_max = setup_ms.last().copied().unwrap_or(0.0);
    let rcvbuf_errors = udp_rcvbuf_errors().saturating_sub(snmp_before);
    // Our RTP that hotline's sockets dropped (their buffers full) while all
    // calls were up, counted just before the first BYE.
    let (sip_drops, rtp_drops) = server_drops.unwrap_or((0, 0));
    let in_loss_pct = rtp_drops as f64 * 100.0 / rtp_sent.max(1) as f64;
    let pass = failed == 0
        && lost == 0
        && skipped == 0
        && silent_calls == 0
        && rtp_drops == 0
        && p99 <= 2.0;

    println!(
        "rtp_load: {n} calls at {:.0} cps, held {:.0} s, against {}",
        args.rate,
        args.hold.as_secs_f64(),
        args.server
    );
    println!(
        "  wall {:.1} s; max concurrent {max_up}; all {n} up for {}",
        wall.as_secs_f64(),
        steady.map_or("never".into(), |(s, _)| format!("{s:.1} s"))
    );
    let mut oc: Vec<_> = outcomes.iter().collect();
    oc.sort();
    println!(
        "  outcomes: {oc:?}; SIP retransmissions {}",
        sip.retransmissions
    );
    println!("  setup INVITE->200 ms: p50 {setup_p50:.1}  p99 {setup_p99:.1}  max {setup_max:.1}");
    println!(
        "  server RTP: {received} packets received, {lost} lost ({loss_pct:.3} %), {skipped} slots skipped ({skip_pct:.3} %), \
              {ooo} out of order/dup, {bad_pt} bad PT, {silent_calls} calls without RTP, {} not RTP",
        rxr.not_rtp
    );
    println!(
        "  pacing |inter-arrival - 20 ms| over {} intervals: p50 {p50:.3} ms  p99 {p99:.3} ms  p99.9 {p999:.3} ms  max {max:.1} ms; > 2 ms: {:.3} %",
        rxr.intervals,
        over2 as f64 * 100.0 / rxr.intervals.max(1) as f64
    );
    println!(
        "  pacing with all calls up (no set-up or tear-down), over {} intervals: p50 {s_p50:.3} ms  p99 {s_p99:.3} ms  max {s_max:.1} ms",
        rxr.steady_intervals
    );
    println!(
        "  our RTP: {rtp_sent} sent, {rtp_send_errors} send errors; dropped by hotline's full RTP sockets: {} ({in_loss_pct:.3} %); \
         hotline SIP socket drops: {}; UDP RcvbufErrors (machine-wide) +{rcvbuf_errors}; kernel timestamps missing on {}",
        server_drops.map_or("?".into(), |_| rtp_drops.to_string()),
        server_drops.map_or("?".into(), |_| sip_drops.to_string()),
        rxr.no_kernel_ts
    );
    println!(
        "  CPU: load generator {:.0} % of a core; server {} over the run, {} with all {n} calls up",
        self_cpu / wall.as_secs_f64() * 100.0,
        server_cpu_run.map_or("?".into(), |c| format!("{c:.0} %")),
        steady.map_or("?".into(), |(_, c)| format!("{c:.0} %"))
    );
    println!(
        "  server threads waited for a CPU {} ms per second with all calls up (run-queue delay, /proc schedstat)",
        steady_wait.map_or("?".into(), |w| format!("{w:.0}"))
    );
    println!("  verdict: {}", if pass { "PASS" } else { "FAIL" });
    println!(
        "RESULT calls={n} ok={ok} failed={failed} max_up={max_up} steady_s={:.1} setup_p50_ms={setup_p50:.1} setup_p99_ms={setup_p99:.1} \
         rx={received} lost={lost} loss_pct={loss_pct:.4} skipped={skipped} skip_pct={skip_pct:.4} silent={silent_calls} \
         p50_ms={p50:.3} p99_ms={p99:.3} p999_ms={p999:.3} max_ms={max:.1} over2_pct={:.3} \
         steady_p50_ms={s_p50:.3} steady_p99_ms={s_p99:.3} steady_max_ms={s_max:.1} \
         server_cpu_steady={} server_wait_ms_per_s={} server_cpu_run={} gen_cpu={:.0} rcvbuf_errors={rcvbuf_errors} in_drops={rtp_drops} in_loss_pct={in_loss_pct:.4} sip_drops={sip_drops} retrans={} pass={}",
        steady.map_or(0.0, |(s, _)| s),
        over2 as f64 * 100.0 / rxr.intervals.max(1) as f64,
        steady.map_or("na".into(), |(_, c)| format!("{c:.0}")),
        steady_wait.map_or("na".into(), |w| format!("{w:.0}")),
        server_cpu_run.map_or("na".into(), |c| format!("{c:.0}")),
        self_cpu / wall.as_secs_f64() * 100.0,
        sip.retransmissions,
        if pass { 1 } else { 0 },
    );
    std::process::exit(if pass { 0 } else { 1 });
}
