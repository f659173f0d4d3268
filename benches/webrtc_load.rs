//! The agent's browser as the phone, under load: how soon the page hears
//! the caller once it answers, and how many WebRTC agent calls the server
//! carries with clean audio, at what CPU per call.
//!
//! The bench starts its own server (the release binary beside this bench,
//! a temporary data directory, a configuration that only turns the demo
//! data off, a flows folder whose main flow puts every caller straight
//! into the queue `general`) and plays every other party from this one
//! process:
//!
//! - **The callers**, on the trunk. One SIP/UDP socket places the calls
//!   (INVITE with PCMU, ACK, BYE, retransmissions at T1 doubling). Each
//!   caller has an RTP socket of its own and sends a 440 Hz PCMU tone
//!   every 20 ms from the answer on: one pacing thread sends for all of
//!   them, and one epoll thread reads all of them with kernel receive
//!   timestamps (SO_TIMESTAMPNS).
//! - **The agents' pages.** Each page has a websocket thread that speaks
//!   the CTI protocol on `/api/agent/ws` (`softphone`, `ready`; on
//!   `offered` a `media_offer`, then `answer` at once or a second later;
//!   `end_wrap_up` after each call). Its media is the test browser of
//!   tests/common/webrtc.rs (an `rtc` peer connection: ICE, DTLS-SRTP,
//!   PCMU; it does no I/O) on a UDP socket of its own, driven by one of
//!   `--media-threads` (2) hub threads, as a browser's media stack serves
//!   its tabs: a thread per page would spend more on context switches than
//!   on media, on the two cores the server needs. Once connected a page
//!   sends a 1000 Hz tone every 20 ms, and every datagram it receives is
//!   timestamped by the kernel. RTP headers are not encrypted in SRTP, so
//!   sequence numbers and timestamps are read from the datagram; the audio
//!   is read after the browser has decrypted it.
//!
//! Two measurements:
//!
//! 1. **Ring to hear** (`--latency-calls 150`): one page, calls one after
//!    another on an otherwise idle server. Each ends 300 ms after the page
//!    hears the caller. Run twice:
//!    - (a) the page answers at once: `media_offer` and `answer` written
//!      back to back as `offered` arrives. Measured from `offered` (kernel
//!      timestamp of its arrival) to the `media` event `connected` (ICE and
//!      DTLS) and to the first packet of the caller's tone at the page;
//!    - (b) the page connects its media while it rings (`media_offer` at
//!      once) and the agent clicks answer `--answer-after-ms` (1,000)
//!      later. Measured from the `answer` command written to the first
//!      packet of the caller's tone.
//!
//!    Both also give the way back: when the caller first hears the page.
//! 2. **Concurrent calls** (`--levels 25,50,100,200,300 --hold 20`): per
//!    level N, N pages go ready, N callers are placed at N/8 a second (at
//!    least 10), every page answers at once, and once all N hear each other
//!    the bench measures for `--hold` seconds at both ends:
//!    - loss (sequence gaps) and skipped slots (timestamp jumps);
//!    - pacing, |inter-arrival - 20 ms| from kernel timestamps;
//!    - whether each 20 ms packet carries the other side's tone, by its
//!      zero crossings: 17.6 for the caller's 440 Hz, 40 for the page's
//!      1000 Hz, within 3 (silence gives 0);
//!    - the server's CPU over the window (/proc/PID/stat), its resident
//!      memory, how long its threads waited for a CPU, our packets its full
//!      sockets dropped, this tool's CPU and how busy the whole machine
//!      was. The tool shares the machine with the server: the report says
//!      how much it took.
//!
//!    A level is clean when every call connected and stayed up, nothing
//!    was lost either way, no page lost its media, and at least 99 % of the
//!    packets at each end carried the other side's tone. The levels stop at
//!    the first that is not clean (`--all-levels` goes on).
//!
//! Run: `cargo bench --bench webrtc_load -- [--latency-calls 150]
//! [--answer-after-ms 1000] [--levels 25,50,100,200,300] [--hold 20]
//! [--media-threads 2] [--all-levels] [--keep]`. `--latency-calls 0` or `--levels 0` skips
//! that part. It prints a report as it goes, then Markdown tables for
//! docs/benchmarks.md. The server logs at `HOTLINE_LOG` (default `info`)
//! into the temporary directory, which `--keep` (or a failure) keeps.
//!
//! Ports: the server's RTP on 20000-39999; every UDP socket of ours is
//! bound in 40000-59999, so the two never compete for a port.
//!
//! Linux only: epoll, ppoll, recvmsg and setrlimit are declared by hand
//! (benches/common/load.rs and below), as in the other load tools.

#[path = "../tests/common/webrtc.rs"]
mod browser;
#[path = "common/load.rs"]
mod load;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use browser::TestBrowser;
use hotline::media::rtp;
use load::{
    Pacer, all_headers, cpu_seconds, crossings, header, http, in_dialog_text, invite_text,
    rss_and_fds, run_queue_wait_ns, sdp_dest, sdp_offer, socket_drops, sys, tone, wall_ns,
};
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

const FRAME: Duration = Duration::from_millis(20);
const FRAME_NS: i64 = 20_000_000;
/// Samples in a 20 ms PCMU packet.
const SAMPLES: usize = 160;
/// The caller's voice and the agent's.
const CALLER_HZ: f64 = 440.0;
const PAGE_HZ: f64 = 1000.0;
/// A packet carries a tone when its zero crossings are within this many
/// of the tone's (2 × hz × 20 ms: 17.6 at 440 Hz, 40 at 1000 Hz).
const CROSSING_TOLERANCE: f64 = 3.0;
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
/// A transaction with no final answer by then has failed.
const TX_TIMEOUT: Duration = Duration::from_secs(32);
/// The server's RTP ports, and ours (UDP, any socket we bind).
const SERVER_RTP: &str = "20000-39999";
const OUR_PORTS: (u16, u16) = (40_000, 59_999);
const SERVICE_NUMBER: &str = "4008001234";
const ADMIN: (&str, &str) = ("wl-admin", "webrtc-load-admin-1");
const AGENT_PASSWORD: &str = "webrtc-load-agent-1";
/// How long a latency call goes on after the page hears the caller, so
/// the caller hears the page too.
const LATENCY_TALK: Duration = Duration::from_millis(300);

/// Every caller goes straight into the queue and hears the hold music
/// until a page answers (the FLOW of benches/acd_load.rs).
const FLOW: &str = r#"# Written by benches/webrtc_load.rs: every call goes straight to the queue.
description = "WebRTC load benchmark: straight to the general queue"
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

// ----- a few libc calls std does not offer ---------------------------------------------

mod os {
    use std::time::Duration;

    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }

    #[repr(C)]
    struct Rlimit {
        cur: u64,
        max: u64,
    }

    const RLIMIT_NOFILE: i32 = 7;
    pub const SIGTERM: i32 = 15;
    pub const SIGKILL: i32 = 9;

    unsafe extern "C" {
        fn getrlimit(resource: i32, rlim: *mut Rlimit) -> i32;
        fn setrlimit(resource: i32, rlim: *const Rlimit) -> i32;
        fn kill(pid: i32, sig: i32) -> i32;
        fn epoll_pwait2(
            epfd: i32,
            events: *mut crate::sys::EpollEvent,
            maxevents: i32,
            timeout: *const Timespec,
            sigmask: *const std::ffi::c_void,
        ) -> i32;
        pub fn close(fd: i32) -> i32;
    }

    /// epoll_wait with a nanosecond timeout (epoll_wait's is in whole ms);
    /// how many events were filled in.
    pub fn epoll_wait_ns(ep: i32, events: &mut [crate::sys::EpollEvent], wait: Duration) -> usize {
        let t = Timespec {
            sec: wait.as_secs() as i64,
            nsec: i64::from(wait.subsec_nanos()),
        };
        // SAFETY: `events` holds `events.len()` entries; a valid timespec.
        let n = unsafe {
            epoll_pwait2(
                ep,
                events.as_mut_ptr(),
                events.len() as i32,
                &raw const t,
                std::ptr::null(),
            )
        };
        n.max(0) as usize
    }

    /// Raises the soft limit of open files to the hard limit; the new
    /// soft limit.
    pub fn raise_fd_limit() -> u64 {
        let mut r = Rlimit { cur: 0, max: 0 };
        // SAFETY: a valid rlimit to fill, then to read.
        unsafe {
            if getrlimit(RLIMIT_NOFILE, &raw mut r) != 0 {
                return 1024;
            }
            let want = Rlimit {
                cur: r.max,
                max: r.max,
            };
            if setrlimit(RLIMIT_NOFILE, &raw const want) == 0 {
                r.cur = r.max;
            }
        }
        r.cur
    }

    pub fn signal(pid: u32, sig: i32) {
        // SAFETY: kill(2) has no memory preconditions.
        unsafe { kill(pid as i32, sig) };
    }
}

// ----- arguments ------------------------------------------------------------------------

struct Args {
    latency_calls: usize,
    answer_after: Duration,
    levels: Vec<usize>,
    hold: Duration,
    all_levels: bool,
    keep: bool,
    media_threads: usize,
}

const USAGE: &str = "cargo bench --bench webrtc_load -- [--latency-calls 150] [--answer-after-ms 1000] \
                     [--levels 25,50,100,200,300] [--hold 20] [--media-threads 2] [--all-levels] [--keep]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        latency_calls: 150,
        answer_after: Duration::from_millis(1000),
        levels: vec![25, 50, 100, 200, 300],
        hold: Duration::from_secs(20),
        all_levels: false,
        keep: false,
        media_threads: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            // `cargo bench` passes --bench.
            "--bench" => continue,
            "--all-levels" => {
                a.all_levels = true;
                continue;
            }
            "--keep" => {
                a.keep = true;
                continue;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => {}
        }
        let v = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |what: &str| format!("{flag} {v}: expected {what}\n{USAGE}");
        match flag.as_str() {
            "--latency-calls" => a.latency_calls = v.parse().map_err(|_| bad("a count"))?,
            "--answer-after-ms" => {
                a.answer_after = Duration::from_millis(v.parse().map_err(|_| bad("milliseconds"))?);
            }
            "--levels" => {
                a.levels = v
                    .split(',')
                    .map(|x| x.trim().parse::<usize>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| bad("N,N,..."))?;
                a.levels.retain(|&n| n > 0);
            }
            "--hold" => {
                a.hold = Duration::from_secs_f64(v.parse().map_err(|_| bad("seconds"))?);
            }
            "--media-threads" => {
                a.media_threads = v.parse().map_err(|_| bad("a count"))?;
            }
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(a)
}

// ----- failing clearly --------------------------------------------------------------------

/// The server's pid, so that [`die`] never leaves it running.
static SERVER_PID: AtomicU32 = AtomicU32::new(0);

fn die(what: &str) -> ! {
    eprintln!("webrtc_load: {what}");
    let pid = SERVER_PID.load(Ordering::Relaxed);
    if pid != 0 {
        os::signal(pid, os::SIGKILL);
    }
    std::process::exit(2);
}

/// Problems seen, by kind: counted, the first few kept in full.
#[derive(Default)]
struct Problems(Vec<(String, u64, Vec<String>)>);

impl Problems {
    fn add(&mut self, kind: &str, detail: String) {
        if let Some(p) = self.0.iter_mut().find(|p| p.0 == kind) {
            p.1 += 1;
            if p.2.len() < 3 {
                p.2.push(detail);
            }
        } else {
            eprintln!("  problem: {kind}: {detail}");
            self.0.push((kind.to_owned(), 1, vec![detail]));
        }
    }

    /// Adds another set, counts and all.
    fn merge(&mut self, other: Problems) {
        for (kind, n, examples) in other.0 {
            match self.0.iter_mut().find(|p| p.0 == kind) {
                Some(p) => {
                    p.1 += n;
                    let room = 3usize.saturating_sub(p.2.len());
                    p.2.extend(examples.into_iter().take(room));
                }
                None => {
                    if let Some(e) = examples.first() {
                        eprintln!("  problem: {kind}: {e}");
                    }
                    self.0.push((kind, n, examples));
                }
            }
        }
    }

    fn count(&self) -> u64 {
        self.0.iter().map(|p| p.1).sum()
    }

    fn print(&self, indent: &str) {
        for (kind, n, examples) in &self.0 {
            println!("{indent}{kind}: {n}");
            for e in examples {
                println!("{indent}  {e}");
            }
        }
    }
}

/// Locks, whatever another thread's panic left behind: the data are
/// counters and records, still worth reporting.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ----- the machine and the server process --------------------------------------------------

/// Idle time of all cores so far, in seconds (/proc/stat: idle + iowait,
/// in USER_HZ ticks of 1/100 s).
fn idle_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = s
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    Some((v.get(3)? + v.get(4).copied().unwrap_or(0)) as f64 / 100.0)
}

/// The non-idle share of all cores over `secs` of wall time, in %. Idle
/// time against the wall clock, not against /proc/stat's total: on this
/// tickless kernel (NO_HZ_IDLE) short bursts of work between ticks are
/// often charged to nobody, and busy/total read far too low at light
/// load (2 % where the server and this tool alone used 19 % of a core).
fn busy_pct(idle0: Option<f64>, idle1: Option<f64>, secs: f64) -> Option<f64> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
    Some(100.0 * (1.0 - (idle1? - idle0?) / (cores * secs)).max(0.0))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Copies a folder tree.
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

/// A flows folder: the repository's prompts and calendars, and [`FLOW`].
fn write_flows(dir: &Path) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows");
    for sub in ["prompts", "calendars"] {
        copy_dir(&root.join(sub), &dir.join(sub))
            .map_err(|e| format!("copying ivr-flows/{sub} to {}: {e}", dir.display()))?;
    }
    std::fs::write(dir.join("hotline.toml"), FLOW)
        .map_err(|e| format!("writing the bench's flow: {e}"))
}

/// The hotline server this bench started.
struct Server {
    child: Child,
    pid: u32,
    sip: SocketAddr,
    http: SocketAddr,
    log: PathBuf,
    admin: String,
}

impl Server {
    /// Starts `hotline serve` on `dir`'s data and flows, waits for its
    /// `ready` line and signs the admin in.
    fn start(dir: &Path) -> Result<Server, String> {
        let bin = env!("CARGO_BIN_EXE_hotline");
        let data = dir.join("data");
        let flows = dir.join("flows");
        write_flows(&flows)?;
        std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        // The first admin, made as a newcomer makes one (password on stdin).
        let mut add = Command::new(bin)
            .args(["user", "add", ADMIN.0, "--role", "admin", "--data"])
            .arg(&data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("running {bin} user add: {e}"))?;
        if let Some(mut stdin) = add.stdin.take() {
            writeln!(stdin, "{}", ADMIN.1).map_err(|e| format!("hotline user add: {e}"))?;
        }
        let out = add
            .wait_with_output()
            .map_err(|e| format!("hotline user add: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "hotline user add failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        // Defaults, but no demo data: the server would otherwise seed its
        // demo world into the empty database (and its SLA sweeps would find
        // the demo tickets overdue, work and warnings beside the calls).
        let config = dir.join("bench.toml");
        std::fs::write(&config, "[server]\ndemo_data = false\n")
            .map_err(|e| format!("{}: {e}", config.display()))?;
        let log = dir.join("server.log");
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new(bin)
            .current_dir(dir)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--sip", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(["--https", "", "--rtp-ports", SERVER_RTP, "--data"])
            .arg(&data)
            .arg("--flows")
            .arg(&flows)
            .env(
                "HOTLINE_LOG",
                std::env::var("HOTLINE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| format!("starting {bin} serve: {e}"))?;
        let pid = child.id();
        SERVER_PID.store(pid, Ordering::Relaxed);
        // Its stdout, read on a thread to the end so it never blocks.
        let stdout = child.stdout.take().ok_or("no stdout from hotline")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let ready = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains("ready") => break line,
                Ok(_) => {}
                Err(_) => {
                    let tail = std::fs::read_to_string(&log).unwrap_or_default();
                    return Err(format!("hotline did not get ready:\n{tail}"));
                }
            }
        };
        // "hotline ready: sip udp+tcp ADDR, http http://ADDR, ..."
        let field = |after: &str| -> Result<SocketAddr, String> {
            let rest = ready
                .split_once(after)
                .ok_or_else(|| format!("no `{after}` in {ready}"))?
                .1;
            let end = rest.find([',', ' ']).unwrap_or(rest.len());
            rest[..end]
                .parse()
                .map_err(|e| format!("`{}` in {ready}: {e}", &rest[..end]))
        };
        let sip = field("udp+tcp ")?;
        let http_addr = field("http://")?;
        let (st, v) = http(
            http_addr,
            "POST",
            "/api/login",
            None,
            Some(&json!({"username": ADMIN.0, "password": ADMIN.1})),
        )?;
        let admin = v["token"]
            .as_str()
            .filter(|_| st == 200)
            .ok_or_else(|| format!("admin sign-in: {st} {v}"))?
            .to_owned();
        Ok(Server {
            child,
            pid,
            sip,
            http: http_addr,
            log,
            admin,
        })
    }

    /// How many times the server has raised its overload flag so far
    /// (it then answers new calls 503: src/rt, `watch_load`).
    fn overloads(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .map(|t| t.matches("overloaded: new calls get 503").count())
            .unwrap_or(0)
    }

    fn health(&self) -> Option<Value> {
        http(self.http, "GET", "/api/health", None, None)
            .ok()
            .map(|(_, v)| v)
    }

    /// SIGTERM, as an operator stops it; SIGKILL 20 s later.
    fn stop(&mut self) {
        os::signal(self.pid, os::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                SERVER_PID.store(0, Ordering::Relaxed);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("webrtc_load: the server did not stop within 20 s of SIGTERM: killed");
        let _ = self.child.kill();
        let _ = self.child.wait();
        SERVER_PID.store(0, Ordering::Relaxed);
    }

    /// Log lines at WARN or ERROR, counted by their message (the first
    /// words after the level), for the report.
    fn log_warnings(&self) -> Vec<(String, usize)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut by: HashMap<String, usize> = HashMap::new();
        for line in text.lines() {
            let Some(at) = line.find(" WARN ").or_else(|| line.find(" ERROR ")) else {
                continue;
            };
            let msg: String = line[at..].chars().take(110).collect();
            *by.entry(msg).or_default() += 1;
        }
        let mut v: Vec<_> = by.into_iter().collect();
        v.sort_by_key(|(m, n)| (Reverse(*n), m.clone()));
        v
    }
}

// ----- our UDP sockets ------------------------------------------------------------------------

static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

/// A UDP socket on 127.0.0.1 in [`OUR_PORTS`], with kernel receive
/// timestamps on.
fn bind_udp() -> Result<UdpSocket, String> {
    let span = u32::from(OUR_PORTS.1 - OUR_PORTS.0) + 1;
    for _ in 0..span {
        let k = NEXT_PORT.fetch_add(1, Ordering::Relaxed) % span;
        let port = OUR_PORTS.0 + k as u16;
        if let Ok(s) = UdpSocket::bind(("127.0.0.1", port)) {
            sys::set_int_opt(s.as_raw_fd(), sys::SO_TIMESTAMPNS, 1);
            return Ok(s);
        }
    }
    Err(format!(
        "no free UDP port in {}-{}",
        OUR_PORTS.0, OUR_PORTS.1
    ))
}

// ----- audio ----------------------------------------------------------------------------------

/// Do `x` zero crossings in 20 ms make a tone of `hz`?
fn is_tone(x: u8, hz: f64) -> bool {
    (f64::from(x) - 2.0 * hz * 0.020).abs() <= CROSSING_TOLERANCE
}

/// One RTP packet received: kernel arrival (wall-clock ns), sequence
/// number, timestamp, and the payload's zero crossings when it was a
/// 20 ms PCMU payload we could read.
#[derive(Clone, Copy)]
struct Rec {
    at: i64,
    seq: u16,
    ts: u32,
    crossings: Option<u8>,
}

/// What a sender did: packets sent, and how late against their 20 ms
/// slots (the tool's own scheduling; it shares the cores with the server).
struct SendStats {
    sent: AtomicU64,
    late_1ms: AtomicU64,
    late_5ms: AtomicU64,
    max_late_ns: AtomicI64,
}

impl SendStats {
    const fn new() -> SendStats {
        SendStats {
            sent: AtomicU64::new(0),
            late_1ms: AtomicU64::new(0),
            late_5ms: AtomicU64::new(0),
            max_late_ns: AtomicI64::new(0),
        }
    }

    fn note(&self, late: Duration) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if late > Duration::from_millis(1) {
            self.late_1ms.fetch_add(1, Ordering::Relaxed);
        }
        if late > Duration::from_millis(5) {
            self.late_5ms.fetch_add(1, Ordering::Relaxed);
        }
        self.max_late_ns
            .fetch_max(late.as_nanos() as i64, Ordering::Relaxed);
    }

    /// (sent, > 1 ms late, > 5 ms late); resets the maximum.
    fn snapshot(&self) -> (u64, u64, u64) {
        self.max_late_ns.store(0, Ordering::Relaxed);
        (
            self.sent.load(Ordering::Relaxed),
            self.late_1ms.load(Ordering::Relaxed),
            self.late_5ms.load(Ordering::Relaxed),
        )
    }

    /// Since `from` (a [`SendStats::snapshot`]): packets, % > 1 ms late,
    /// % > 5 ms late, max ms late.
    fn since(&self, from: (u64, u64, u64)) -> (u64, f64, f64, f64) {
        let now = (
            self.sent.load(Ordering::Relaxed),
            self.late_1ms.load(Ordering::Relaxed),
            self.late_5ms.load(Ordering::Relaxed),
        );
        let n = now.0 - from.0;
        let pct = |x: u64| x as f64 * 100.0 / n.max(1) as f64;
        (
            n,
            pct(now.1 - from.1),
            pct(now.2 - from.2),
            self.max_late_ns.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }
}

static PAGE_SEND: SendStats = SendStats::new();
static CALLER_SEND: SendStats = SendStats::new();

// ----- the callers: SIP on one socket, RTP paced by one thread, read by another ------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Outcome {
    /// Our BYE was answered 200.
    Ok,
    Refused(u16),
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

struct Caller {
    number: String,
    rtp: Option<Arc<UdpSocket>>,
    state: CallState,
    /// The INVITE or BYE, for retransmissions.
    text: String,
    first_sent: Instant,
    next_retx: Option<Instant>,
    interval: Duration,
    /// The 200's To (with the server's tag) and Contact.
    to: String,
    target: String,
    branch: String,
}

enum AudioCmd {
    Start {
        idx: usize,
        socket: Arc<UdpSocket>,
        dest: SocketAddr,
    },
    Stop {
        idx: usize,
    },
}

#[derive(Default)]
struct TrunkState {
    callers: Vec<Caller>,
    branch: u64,
    retransmissions: u64,
    problems: Problems,
}

/// The carrier's side: every caller's SIP, and their audio threads.
struct Trunk {
    sock: UdpSocket,
    me: SocketAddr,
    server: SocketAddr,
    run: u64,
    st: Mutex<TrunkState>,
    audio: mpsc::Sender<AudioCmd>,
    /// The callers' RTP sockets are watched here by the receiver thread.
    rx_ep: i32,
    /// What each caller heard, by caller index.
    heard: Arc<Mutex<Vec<Vec<Rec>>>>,
    stop: Arc<AtomicBool>,
}

impl Trunk {
    /// The trunk's socket and its three threads (SIP, sending, receiving).
    fn start(server: SocketAddr) -> Result<(Arc<Trunk>, Vec<JoinHandle<()>>), String> {
        let sock = bind_udp()?;
        sys::set_int_opt(sock.as_raw_fd(), sys::SO_RCVBUF, 4 << 20);
        sys::set_int_opt(sock.as_raw_fd(), sys::SO_SNDBUF, 4 << 20);
        sock.set_read_timeout(Some(Duration::from_millis(5)))
            .map_err(|e| format!("SIP socket: {e}"))?;
        // SAFETY: a plain syscall.
        let rx_ep = unsafe { sys::epoll_create1(sys::EPOLL_CLOEXEC) };
        if rx_ep < 0 {
            return Err("epoll_create1 failed".into());
        }
        let (audio, cmds) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let heard = Arc::new(Mutex::new(Vec::new()));
        let trunk = Arc::new(Trunk {
            me: sock.local_addr().map_err(|e| e.to_string())?,
            sock,
            server,
            run: wall_ns() as u64 / 1000 % 1_000_000_000,
            st: Mutex::default(),
            audio,
            rx_ep,
            heard: heard.clone(),
            stop: stop.clone(),
        });
        let sip = {
            let t = trunk.clone();
            std::thread::spawn(move || t.sip_loop())
        };
        let send = {
            let stop = stop.clone();
            std::thread::spawn(move || caller_audio(&cmds, &stop))
        };
        let recv = std::thread::spawn(move || caller_receiver(rx_ep, &heard, &stop));
        Ok((trunk, vec![sip, send, recv]))
    }

    fn call_id(&self, idx: usize) -> String {
        format!("wl-{}-{idx}@127.0.0.1", self.run)
    }

    fn from(&self, st: &TrunkState, idx: usize) -> String {
        format!(
            "<sip:{}@{}>;tag=wl{}x{idx}",
            st.callers[idx].number, self.me, self.run
        )
    }

    fn next_branch(st: &mut TrunkState, run: u64) -> String {
        st.branch += 1;
        format!("z9hG4bK-wl{run}-{}", st.branch)
    }

    /// Places a call from `number`; its index.
    fn place(&self, number: &str) -> Result<usize, String> {
        let rtp = bind_udp()?;
        rtp.set_nonblocking(true).map_err(|e| e.to_string())?;
        let port = rtp.local_addr().map_err(|e| e.to_string())?.port();
        let mut st = lock(&self.st);
        let idx = st.callers.len();
        lock(&self.heard).push(Vec::new());
        let fd = rtp.as_raw_fd();
        sys::watch(self.rx_ep, fd, (u64::from(fd as u32) << 32) | idx as u64);
        let branch = Trunk::next_branch(&mut st, self.run);
        st.callers.push(Caller {
            number: number.to_owned(),
            rtp: Some(Arc::new(rtp)),
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
            SERVICE_NUMBER,
            self.server,
            self.me,
            &branch,
            &self.from(&st, idx),
            &self.call_id(idx),
            number,
            &sdp_offer("caller", idx, port),
        );
        self.sock.send_to(text.as_bytes(), self.server).ok();
        st.callers[idx].text = text;
        Ok(idx)
    }

    /// A request in caller `idx`'s dialog.
    fn in_dialog(
        &self,
        st: &mut TrunkState,
        idx: usize,
        method: &str,
        cseq: u32,
        branch: Option<String>,
    ) -> String {
        let branch = branch.unwrap_or_else(|| Trunk::next_branch(st, self.run));
        let c = &st.callers[idx];
        in_dialog_text(
            method,
            &c.target,
            self.me,
            &branch,
            &self.from(st, idx),
            &c.to,
            &self.call_id(idx),
            cseq,
        )
    }

    /// The caller hangs up (BYE), if the call is up.
    fn hang_up(&self, idx: usize) {
        let mut st = lock(&self.st);
        if st.callers[idx].state != CallState::Up {
            return;
        }
        let _ = self.audio.send(AudioCmd::Stop { idx });
        let bye = self.in_dialog(&mut st, idx, "BYE", 2, None);
        self.sock.send_to(bye.as_bytes(), self.server).ok();
        let c = &mut st.callers[idx];
        c.text = bye;
        c.state = CallState::Byeing;
        c.first_sent = Instant::now();
        c.interval = T1;
        c.next_retx = Some(c.first_sent + T1);
    }

    fn state(&self, idx: usize) -> CallState {
        lock(&self.st).callers[idx].state
    }

    /// Closes the RTP sockets of callers that are done.
    fn close_done(&self) {
        for c in &mut lock(&self.st).callers {
            if matches!(c.state, CallState::Done(_)) {
                c.rtp = None;
            }
        }
    }

    /// Reads the SIP socket and runs the retransmission timers until stopped.
    fn sip_loop(&self) {
        let mut buf = vec![0u8; 65_536];
        let mut last_tick = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let mut st = lock(&self.st);
                self.on_message(&mut st, &text);
            }
            if last_tick.elapsed() >= Duration::from_millis(5) {
                last_tick = Instant::now();
                self.timers(&mut lock(&self.st));
            }
        }
    }

    fn timers(&self, st: &mut TrunkState) {
        let now = Instant::now();
        let mut failed = Vec::new();
        let mut retx = 0;
        for (idx, c) in st.callers.iter_mut().enumerate() {
            let Some(at) = c.next_retx else { continue };
            if now.duration_since(c.first_sent) > TX_TIMEOUT {
                c.next_retx = None;
                let o = if c.state == CallState::Inviting {
                    Outcome::SetupTimeout
                } else {
                    Outcome::ByeTimeout
                };
                c.state = CallState::Done(o);
                failed.push((idx, o));
            } else if now >= at {
                self.sock.send_to(c.text.as_bytes(), self.server).ok();
                retx += 1;
                c.interval = if c.state == CallState::Inviting {
                    c.interval * 2
                } else {
                    (c.interval * 2).min(T2)
                };
                c.next_retx = Some(now + c.interval);
            }
        }
        st.retransmissions += retx;
        for (idx, o) in failed {
            let _ = self.audio.send(AudioCmd::Stop { idx });
            st.problems.add(
                "caller's SIP transaction timed out",
                format!("caller {idx}: {o:?}"),
            );
        }
    }

    fn on_message(&self, st: &mut TrunkState, text: &str) {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let prefix = format!("wl-{}-", self.run);
        let Some(idx) = header(head, &["Call-ID", "i"])
            .and_then(|c| c.strip_prefix(prefix.as_str()))
            .and_then(|r| r.split('@').next())
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&i| i < st.callers.len())
        else {
            return;
        };
        let Some(status) = head.strip_prefix("SIP/2.0 ") else {
            // A request from the server (its BYE): 200.
            let method = head.split(' ').next().unwrap_or("");
            self.sock
                .send_to(ok_response(head).as_bytes(), self.server)
                .ok();
            if method == "BYE" && st.callers[idx].state == CallState::Up {
                let _ = self.audio.send(AudioCmd::Stop { idx });
                st.callers[idx].state = CallState::Done(Outcome::HungUpByServer);
                st.problems
                    .add("the server hung up a caller", format!("caller {idx}"));
            }
            return;
        };
        let code: u16 = status.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
        let cseq = header(head, &["CSeq"]).unwrap_or("");
        let state = st.callers[idx].state;
        if cseq.ends_with("BYE") {
            if code >= 200 && state == CallState::Byeing {
                let c = &mut st.callers[idx];
                c.next_retx = None;
                c.state = CallState::Done(if code < 300 {
                    Outcome::Ok
                } else {
                    Outcome::ByeRefused(code)
                });
            }
            return;
        }
        if !cseq.ends_with("INVITE") {
            return;
        }
        match state {
            CallState::Inviting if code < 200 => st.callers[idx].next_retx = None,
            CallState::Inviting if code < 300 => {
                let c = &mut st.callers[idx];
                c.to = header(head, &["To", "t"]).unwrap_or("").to_owned();
                c.target = header(head, &["Contact", "m"])
                    .and_then(|v| Some(v.split_once('<')?.1.split_once('>')?.0))
                    .unwrap_or("")
                    .to_owned();
                c.next_retx = None;
                c.state = CallState::Up;
                let ack = self.in_dialog(st, idx, "ACK", 1, None);
                self.sock.send_to(ack.as_bytes(), self.server).ok();
                match (sdp_dest(body), st.callers[idx].rtp.clone()) {
                    (Some(dest), Some(socket)) => {
                        let _ = self.audio.send(AudioCmd::Start { idx, socket, dest });
                    }
                    _ => st
                        .problems
                        .add("the caller's 200 had no SDP", format!("caller {idx}")),
                }
            }
            CallState::Inviting => {
                // Refused: ACK it on the INVITE's branch.
                let c = &mut st.callers[idx];
                c.to = header(head, &["To", "t"]).unwrap_or("").to_owned();
                c.target = format!("sip:{SERVICE_NUMBER}@{}", self.server);
                c.next_retx = None;
                c.state = CallState::Done(Outcome::Refused(code));
                let branch = Some(c.branch.clone());
                let ack = self.in_dialog(st, idx, "ACK", 1, branch);
                self.sock.send_to(ack.as_bytes(), self.server).ok();
                let line = status.lines().next().unwrap_or("").to_owned();
                st.problems
                    .add("a call was refused", format!("caller {idx}: {line}"));
            }
            CallState::Up | CallState::Byeing if (200..300).contains(&code) => {
                // Our ACK was lost and the 200 came again.
                let ack = self.in_dialog(st, idx, "ACK", 1, None);
                self.sock.send_to(ack.as_bytes(), self.server).ok();
            }
            _ => {}
        }
    }
}

/// 200 OK to the request `head`.
fn ok_response(head: &str) -> String {
    let mut r = String::from("SIP/2.0 200 OK\r\n");
    for h in all_headers(head, &["Via", "v"]) {
        r.push_str(h);
        r.push_str("\r\n");
    }
    for name in [
        &["From", "f"][..],
        &["To", "t"],
        &["Call-ID", "i"],
        &["CSeq"],
    ] {
        if let Some(h) = all_headers(head, name).first() {
            r.push_str(h);
            r.push_str("\r\n");
        }
    }
    r.push_str("Content-Length: 0\r\n\r\n");
    r
}

/// Sends every started caller's 440 Hz, slot n at start + n × 20 ms.
fn caller_audio(cmds: &mpsc::Receiver<AudioCmd>, stop: &AtomicBool) {
    let mut pacer = Pacer::new(vec![tone(CALLER_HZ)]);
    while !stop.load(Ordering::Relaxed) {
        loop {
            match cmds.try_recv() {
                Ok(AudioCmd::Start { idx, socket, dest }) => pacer.start(
                    idx,
                    socket,
                    dest,
                    0,
                    fastrand::u16(..),
                    fastrand::u32(..),
                    fastrand::u32(..),
                ),
                Ok(AudioCmd::Stop { idx }) => pacer.stop(idx),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => return,
            }
        }
        pacer.send_due(|late| CALLER_SEND.note(late), |_| {});
        pacer.sleep();
    }
}

/// Reads every caller's RTP socket (registered on `ep` with its fd and the
/// caller's index) with kernel timestamps, into `heard`.
fn caller_receiver(ep: i32, heard: &Mutex<Vec<Vec<Rec>>>, stop: &AtomicBool) {
    let mut events = vec![sys::EpollEvent { events: 0, data: 0 }; 512];
    let mut buf = [0u8; 2048];
    let mut batch: Vec<(usize, Rec)> = Vec::with_capacity(1024);
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: the buffer holds `events.len()` entries.
        let n = unsafe { sys::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 50) };
        for ev in &events[..n.max(0) as usize] {
            // See `Trunk::place`: the fd in the high half, the caller below.
            let (fd, idx) = ((ev.data >> 32) as i32, (ev.data & 0xFFFF_FFFF) as usize);
            while let Ok((len, ts)) = sys::recv_ts(fd, &mut buf, sys::MSG_DONTWAIT) {
                let Ok(p) = rtp::parse(&buf[..len]) else {
                    continue;
                };
                let crossings = (p.header.payload_type == 0 && p.payload.len() == SAMPLES)
                    .then(|| crossings(p.payload).min(255) as u8);
                batch.push((
                    idx,
                    Rec {
                        at: ts.unwrap_or_else(wall_ns),
                        seq: p.header.sequence,
                        ts: p.header.timestamp,
                        crossings,
                    },
                ));
            }
        }
        if !batch.is_empty() {
            let mut h = lock(heard);
            for (idx, r) in batch.drain(..) {
                if let Some(v) = h.get_mut(idx) {
                    v.push(r);
                }
            }
        }
    }
}

// ----- the agents' pages --------------------------------------------------------------------

/// When a page answers a call that rings it.
#[derive(Clone, Copy)]
enum AnswerWhen {
    /// `answer` written right after `media_offer`, as `offered` arrives.
    AtOnce,
    /// `media_offer` at once; `answer` this long after `offered`.
    After(Duration),
}

/// One call as a page lived it. Times are wall-clock ns: kernel receive
/// timestamps for what arrived, our clock just after writing for what we
/// sent.
#[derive(Default, Clone)]
struct PageCall {
    call: String,
    caller: String,
    offered_ns: i64,
    /// `media_offer` written (the page's own work: a peer and its offer).
    media_offer_ns: i64,
    answer_ns: Option<i64>,
    media_answer_ns: Option<i64>,
    /// The server's `media` event `connected`.
    connected_event_ns: Option<i64>,
    /// The test browser's own connection state turned connected (DTLS done).
    browser_connected_ns: Option<i64>,
    answered_ns: Option<i64>,
    /// The first packet carrying the caller's tone.
    first_tone_ns: Option<i64>,
    /// Packets with sound that was not the caller's tone before it.
    odd_before_tone: u32,
    /// How the call ended for the page (`ended: caller-bye`, ...).
    end: String,
    /// `media` events other than `connected` (lost, failed).
    media_trouble: Vec<String>,
    /// Every RTP packet from the server.
    packets: Vec<Rec>,
    /// RTP datagrams the browser did not hand back decrypted.
    undecrypted: u64,
}

/// The current call's media on a page: the test browser and what it heard.
struct CallMedia {
    browser: TestBrowser,
    /// The server's candidate (its leg's socket), from the answer; only
    /// datagrams from it are this call's.
    server: Option<SocketAddr>,
    rec: PageCall,
    next_send: Option<Instant>,
    frame: usize,
}

impl CallMedia {
    fn flush(&mut self, sock: &UdpSocket) {
        while let Some((dest, bytes)) = self.browser.poll_transmit() {
            let _ = sock.send_to(&bytes, dest);
        }
    }

    /// Timers and the page's own audio; how long until something is due.
    fn tick(&mut self, now: Instant, sock: &UdpSocket, mic: &[u8]) -> Duration {
        if self.browser.poll_timeout().is_some_and(|t| t <= now) {
            self.browser.handle_timeout(now);
        }
        if self.browser.connected && self.rec.browser_connected_ns.is_none() {
            self.rec.browser_connected_ns = Some(wall_ns());
            self.next_send = Some(now);
        }
        while let Some(due) = self.next_send.filter(|&d| d <= now) {
            PAGE_SEND.note(now - due);
            let off = (self.frame % 50) * SAMPLES;
            let frame = mic[off..off + SAMPLES].to_vec();
            self.browser
                .send(now, 0, self.frame == 0, frame, SAMPLES as u32);
            self.frame += 1;
            let mut next = due + FRAME;
            if now.saturating_duration_since(next) > Duration::from_millis(200) {
                next = now + FRAME; // far behind: start again, no burst
            }
            self.next_send = Some(next);
        }
        self.flush(sock);
        let mut wait = Duration::from_millis(50);
        if let Some(d) = self.next_send {
            wait = wait.min(d.saturating_duration_since(now));
        }
        // The library's timers (ICE, DTLS, RTCP) need no sub-ms precision;
        // a floor keeps a timer that stays due from spinning the thread.
        if let Some(t) = self.browser.poll_timeout() {
            wait = wait.min(
                t.saturating_duration_since(now)
                    .max(Duration::from_millis(1)),
            );
        }
        wait
    }

    /// A datagram from the server's leg, arrived at `at` (kernel clock).
    fn on_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8], at: i64) {
        // RTP, not RTCP (RFC 5761: second byte 192-223) nor STUN or DTLS.
        let rtp_header = (bytes.len() >= 12
            && bytes[0] >> 6 == 2
            && !(192..=223).contains(&bytes[1]))
        .then(|| {
            (
                u16::from_be_bytes([bytes[2], bytes[3]]),
                u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            )
        });
        self.browser.receive(now, from, bytes);
        let mut x = None;
        for (pt, payload) in self.browser.received.drain(..) {
            if pt == 0 && payload.len() == SAMPLES {
                x = Some(crossings(&payload).min(255) as u8);
            }
        }
        let Some((seq, ts)) = rtp_header else {
            return;
        };
        match x {
            None => self.rec.undecrypted += 1,
            Some(x) if self.rec.first_tone_ns.is_none() => {
                if is_tone(x, CALLER_HZ) {
                    self.rec.first_tone_ns = Some(at);
                } else if x > 2 {
                    self.rec.odd_before_tone += 1;
                }
            }
            Some(_) => {}
        }
        self.rec.packets.push(Rec {
            at,
            seq,
            ts,
            crossings: x,
        });
    }
}

/// What a page's two threads share, and what the bench reads.
struct PageShared {
    name: String,
    stop: AtomicBool,
    /// The agent's state, as the server last said.
    state: Mutex<String>,
    media: Mutex<Option<CallMedia>>,
    /// Calls over (or cut off when the page closed).
    done: Mutex<Vec<PageCall>>,
    problems: Mutex<Problems>,
}

impl PageShared {
    fn problem(&self, kind: &str, detail: String) {
        lock(&self.problems).add(kind, format!("{}: {detail}", self.name));
    }

    /// The current call is over for the page.
    fn finish(&self, end: String) {
        if let Some(mut cm) = lock(&self.media).take() {
            cm.rec.end = end;
            lock(&self.done).push(cm.rec);
        }
    }
}

/// An agent's page: its websocket thread; its media is served by a
/// [`media_hub`] thread, as a browser's media stack serves its tabs.
struct Page {
    shared: Arc<PageShared>,
    ws: JoinHandle<()>,
}

impl Page {
    /// Opens the page's websocket (on a thread of its own); returns the
    /// page and its media socket, for a hub.
    fn open(
        http: SocketAddr,
        name: &str,
        token: &str,
        answer: AnswerWhen,
    ) -> Result<(Page, UdpSocket), String> {
        let sock = bind_udp()?;
        let media_addr = sock.local_addr().map_err(|e| e.to_string())?;
        let ws_sock = sock.try_clone().map_err(|e| e.to_string())?;
        let shared = Arc::new(PageShared {
            name: name.to_owned(),
            stop: AtomicBool::new(false),
            state: Mutex::new(String::new()),
            media: Mutex::new(None),
            done: Mutex::new(Vec::new()),
            problems: Mutex::default(),
        });
        let sh = shared.clone();
        let token = token.to_owned();
        let ws = std::thread::Builder::new()
            .name(format!("{name}-ws"))
            .spawn(move || {
                let mut page = match open_ws(http, &token) {
                    Ok(ws) => WsPage {
                        ws,
                        sh: sh.clone(),
                        answer,
                        due_answer: None,
                        next_id: 0,
                        sock: ws_sock,
                        media_addr,
                    },
                    Err(e) => return sh.problem("websocket not opened", e),
                };
                page.run();
            })
            .map_err(|e| format!("thread: {e}"))?;
        Ok((Page { shared, ws }, sock))
    }

    fn state(&self) -> String {
        lock(&self.shared.state).clone()
    }

    /// Closes the websocket and stops its thread: the calls the page had.
    /// (Its hub stops separately.)
    fn close(self) -> (Vec<PageCall>, Problems) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if self.ws.join().is_err() {
            self.shared
                .problem("a page thread panicked", "see stderr".into());
        }
        self.shared.finish("cut off: the page closed".into());
        let calls = std::mem::take(&mut *lock(&self.shared.done));
        let problems = std::mem::take(&mut *lock(&self.shared.problems));
        (calls, problems)
    }
}

/// Open pages and the hub threads serving their media.
struct Pages {
    pages: Vec<Page>,
    hubs: Vec<JoinHandle<()>>,
    hubs_stop: Arc<AtomicBool>,
}

/// A TCP stream read with `recvmsg`, so each read's kernel receive
/// timestamp is kept: when an event's bytes arrived, whatever the thread
/// was doing then.
struct TsStream {
    sock: TcpStream,
    last_ns: i64,
}

impl Read for TsStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let (n, ts) = sys::recv_ts(self.sock.as_raw_fd(), buf, 0)?;
        self.last_ns = ts.unwrap_or_else(wall_ns);
        Ok(n)
    }
}

impl Write for TsStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sock.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sock.flush()
    }
}

/// The CTI websocket with `Authorization: Bearer`, as a program connects.
fn open_ws(http: SocketAddr, token: &str) -> Result<WebSocket<TsStream>, String> {
    let sock = TcpStream::connect(http).map_err(|e| format!("connect {http}: {e}"))?;
    sock.set_nodelay(true).ok();
    sys::set_int_opt(sock.as_raw_fd(), sys::SO_TIMESTAMPNS, 1);
    let request = tungstenite::http::Request::builder()
        .uri(format!("ws://{http}/api/agent/ws"))
        .header("Host", http.to_string())
        .header("Authorization", format!("Bearer {token}"))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header(
            "Sec-WebSocket-Key",
            tungstenite::handshake::client::generate_key(),
        )
        .body(())
        .map_err(|e| e.to_string())?;
    let (ws, _) = tungstenite::client(request, TsStream { sock, last_ns: 0 })
        .map_err(|e| format!("websocket handshake: {e}"))?;
    Ok(ws)
}

/// The websocket half of a page.
struct WsPage {
    ws: WebSocket<TsStream>,
    sh: Arc<PageShared>,
    answer: AnswerWhen,
    /// A click to come: (call, when, wall-clock ns).
    due_answer: Option<(String, i64)>,
    next_id: u64,
    /// The media socket (a clone), to send the browser's first datagrams
    /// at once, and to ring the media thread's doorbell.
    sock: UdpSocket,
    media_addr: SocketAddr,
}

impl WsPage {
    fn run(&mut self) {
        while !self.sh.stop.load(Ordering::Relaxed) {
            if let Some((call, at)) = self.due_answer.clone()
                && wall_ns() >= at
            {
                self.due_answer = None;
                self.answer(&call);
            }
            // Reads that time out, so a due click and the stop flag are
            // seen; long ones when idle (300 pages waking every 20 ms for
            // nothing would cost the shared cores).
            let mut wait = Duration::from_millis(200);
            if let Some((_, at)) = &self.due_answer {
                let left = Duration::from_nanos((at - wall_ns()).max(0) as u64);
                wait = wait.min(left).max(Duration::from_millis(1));
            }
            let _ = self.ws.get_ref().sock.set_read_timeout(Some(wait));
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    let at = self.ws.get_ref().last_ns;
                    match serde_json::from_str::<Value>(t.as_str()) {
                        Ok(v) => self.on_event(&v, at),
                        Err(e) => self.sh.problem("an event that is not JSON", format!("{e}")),
                    }
                }
                Ok(Message::Close(f)) => {
                    self.sh
                        .problem("the server closed the websocket", format!("{f:?}"));
                    break;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => {
                    self.sh.problem("the websocket failed", e.to_string());
                    break;
                }
            }
        }
        let _ = self
            .ws
            .get_ref()
            .sock
            .set_read_timeout(Some(Duration::from_millis(200)));
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }

    fn command(&mut self, mut cmd: Value) {
        self.next_id += 1;
        cmd["id"] = json!(format!("c{}", self.next_id));
        if let Err(e) = self.ws.send(Message::Text(cmd.to_string().into())) {
            self.sh
                .problem("a command could not be written", format!("{e}: {cmd}"));
        }
    }

    /// The click: stamped just before the write, since the server may
    /// answer before this thread is back from it.
    fn answer(&mut self, call: &str) {
        let at = wall_ns();
        self.command(json!({"type": "answer", "call": call}));
        if let Some(cm) = lock(&self.sh.media).as_mut() {
            cm.rec.answer_ns = Some(at);
        }
    }

    fn on_event(&mut self, v: &Value, at: i64) {
        let kind = v["type"].as_str().unwrap_or("?");
        let call = v["call"].as_str().unwrap_or_default();
        let this_call = |sh: &PageShared| {
            lock(&sh.media)
                .as_ref()
                .is_some_and(|cm| cm.rec.call == call)
        };
        match kind {
            "hello" => {
                let state = v["state"]["name"].as_str().unwrap_or("?").to_owned();
                *lock(&self.sh.state) = state.clone();
                // The page is the phone; then ready (ending a wrap-up left
                // from a previous connection first).
                self.command(json!({"type": "softphone"}));
                if state == "wrap_up" {
                    self.command(json!({"type": "end_wrap_up", "disposition": "bench"}));
                }
                self.command(json!({"type": "ready"}));
            }
            "state" => {
                let state = v["state"]["name"].as_str().unwrap_or("?").to_owned();
                if state == "wrap_up" {
                    self.command(json!({"type": "end_wrap_up", "disposition": "bench"}));
                }
                *lock(&self.sh.state) = state;
            }
            "offered" => self.on_offered(v, at),
            "media_answer" => {
                let sdp = v["sdp"].as_str().unwrap_or_default();
                let mut g = lock(&self.sh.media);
                if let Some(cm) = g.as_mut().filter(|cm| cm.rec.call == call) {
                    cm.rec.media_answer_ns = Some(at);
                    cm.server = server_candidate(sdp);
                    if cm.server.is_none() {
                        self.sh
                            .problem("no host candidate in the answer", sdp.to_owned());
                    }
                    cm.browser.accept(Instant::now(), sdp);
                    // The first checks go now, not when the media thread
                    // next wakes; the doorbell wakes it for their answers.
                    cm.flush(&self.sock);
                }
                drop(g);
                let _ = self.sock.send_to(&[], self.media_addr);
            }
            "media" => {
                let state = v["state"].as_str().unwrap_or("?");
                let why = v["why"].as_str().unwrap_or("");
                let mut g = lock(&self.sh.media);
                if let Some(cm) = g.as_mut().filter(|cm| cm.rec.call == call) {
                    if state == "connected" {
                        cm.rec.connected_event_ns.get_or_insert(at);
                    } else {
                        cm.rec.media_trouble.push(format!("{state}: {why}"));
                    }
                }
                drop(g);
                if state != "connected" {
                    self.sh
                        .problem(&format!("media {state}"), format!("{call}: {why}"));
                }
            }
            "answered" => {
                if let Some(cm) = lock(&self.sh.media)
                    .as_mut()
                    .filter(|cm| cm.rec.call == call)
                {
                    cm.rec.answered_ns.get_or_insert(at);
                }
            }
            "ended" if this_call(&self.sh) => {
                let cause = v["cause"].as_str().unwrap_or("?");
                self.sh.finish(format!("ended: {cause}"));
            }
            "offer_cancelled" => {
                let why = v["why"].as_str().unwrap_or("?");
                self.sh.problem("offer cancelled", format!("{call}: {why}"));
                if this_call(&self.sh) {
                    self.sh.finish(format!("offer cancelled: {why}"));
                }
                if self.due_answer.as_ref().is_some_and(|(c, _)| c == call) {
                    self.due_answer = None;
                }
            }
            "error" => {
                let code = v["code"].as_str().unwrap_or("?");
                self.sh.problem(&format!("CTI error {code}"), v.to_string());
            }
            _ => {}
        }
    }

    /// The page rings: a peer connection and its offer, then the answer
    /// as the page's policy says.
    fn on_offered(&mut self, v: &Value, at: i64) {
        let call = v["call"]["id"].as_str().unwrap_or_default().to_owned();
        let caller = v["call"]["caller"].as_str().unwrap_or_default().to_owned();
        let mut browser = TestBrowser::new(Instant::now(), self.media_addr);
        let sdp = browser.offer(Instant::now());
        let media = CallMedia {
            browser,
            server: None,
            rec: PageCall {
                call: call.clone(),
                caller,
                offered_ns: at,
                ..PageCall::default()
            },
            next_send: None,
            frame: 0,
        };
        if lock(&self.sh.media).is_some() {
            self.sh
                .problem("offered while a call was still on the page", call.clone());
            self.sh.finish("replaced by the next offer".into());
        }
        *lock(&self.sh.media) = Some(media);
        self.command(json!({"type": "media_offer", "call": call, "sdp": sdp}));
        let sent = wall_ns();
        if let Some(cm) = lock(&self.sh.media).as_mut() {
            cm.rec.media_offer_ns = sent;
        }
        match self.answer {
            AnswerWhen::AtOnce => self.answer(&call),
            AnswerWhen::After(d) => self.due_answer = Some((call, at + d.as_nanos() as i64)),
        }
    }
}

/// The host candidate in the server's answer: its leg's socket.
fn server_candidate(sdp: &str) -> Option<SocketAddr> {
    sdp.lines().find_map(|l| {
        // a=candidate:FOUNDATION COMPONENT udp PRIORITY IP PORT typ host
        let f: Vec<&str> = l
            .trim()
            .strip_prefix("a=candidate:")?
            .split_whitespace()
            .collect();
        if f.len() < 6 || !f[2].eq_ignore_ascii_case("udp") {
            return None;
        }
        format!("{}:{}", f[4], f[5])
            .parse()
            .ok()
            .or_else(|| format!("[{}]:{}", f[4], f[5]).parse().ok())
    })
}

/// The media of a set of pages on one thread: per page it pumps the test
/// browser, sends the page's 1000 Hz every 20 ms once connected, and reads
/// every datagram with its kernel receive timestamp. One thread per page
/// would cost more in context switches than in media (300 threads waking
/// 100 times a second each), on the cores the server uses too.
fn media_hub(members: Vec<(Arc<PageShared>, UdpSocket)>, stop: &AtomicBool) {
    // SAFETY: a plain syscall.
    let ep = unsafe { sys::epoll_create1(sys::EPOLL_CLOEXEC) };
    if ep < 0 {
        for (sh, _) in &members {
            sh.problem("media hub", "epoll_create1 failed".into());
        }
        return;
    }
    let mut mine = Vec::with_capacity(members.len());
    for (i, (sh, sock)) in members.iter().enumerate() {
        if let Err(e) = sock.set_nonblocking(true) {
            sh.problem("media socket", e.to_string());
        }
        sys::watch(ep, sock.as_raw_fd(), i as u64);
        mine.push(sock.local_addr().ok());
    }
    let mic = tone(PAGE_HZ);
    let mut buf = [0u8; 2048];
    let mut events = vec![sys::EpollEvent { events: 0, data: 0 }; 256];
    // When each page next needs its timers run; the heap may hold stale
    // entries, recognised by not matching `due`.
    let start = Instant::now();
    let mut due = vec![start; members.len()];
    let mut heap: BinaryHeap<Reverse<(Instant, usize)>> =
        (0..members.len()).map(|i| Reverse((start, i))).collect();
    let service = |i: usize, due: &mut Vec<Instant>, heap: &mut BinaryHeap<_>| {
        let now = Instant::now();
        let (sh, sock) = &members[i];
        let wait = match lock(&sh.media).as_mut() {
            Some(cm) => cm.tick(now, sock, &mic),
            None => Duration::from_millis(50),
        };
        due[i] = now + wait;
        heap.push(Reverse((due[i], i)));
    };
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while let Some(&Reverse((at, i))) = heap.peek() {
            if at > now {
                break;
            }
            heap.pop();
            if at == due[i] {
                service(i, &mut due, &mut heap);
            }
        }
        let wait = heap
            .peek()
            .map_or(Duration::from_millis(50), |Reverse((at, _))| {
                at.saturating_duration_since(Instant::now())
            });
        let n = os::epoll_wait_ns(ep, &mut events, wait.min(Duration::from_millis(50)));
        for ev in &events[..n] {
            let i = ev.data as usize;
            let (sh, sock) = &members[i];
            loop {
                let (len, from, ts) =
                    match sys::recv_from_ts(sock.as_raw_fd(), &mut buf, sys::MSG_DONTWAIT) {
                        Ok((len, Some(from), ts)) => (len, from, ts),
                        Ok(_) => continue,
                        Err(_) => break, // WouldBlock: all read
                    };
                if Some(from) == mine[i] {
                    continue; // the doorbell: the page has news for us
                }
                let at = ts.unwrap_or_else(wall_ns);
                // Datagrams of a call that is over (a late close alert) go nowhere.
                if let Some(cm) = lock(&sh.media)
                    .as_mut()
                    .filter(|cm| cm.server == Some(from))
                {
                    cm.on_datagram(Instant::now(), from, &buf[..len], at);
                }
            }
            // What the datagrams made the browser send goes out now.
            service(i, &mut due, &mut heap);
        }
    }
    // SAFETY: closing the epoll fd we created.
    unsafe { os::close(ep) };
}

// ----- analysis -------------------------------------------------------------------------------

/// One end's audio over a window, summed over its streams.
#[derive(Default)]
struct Side {
    streams: usize,
    /// Streams with no packet in the window.
    silent_streams: usize,
    received: u64,
    expected: u64,
    skipped_slots: u64,
    out_of_order: u64,
    undecoded: u64,
    /// |inter-arrival - 20 ms| of consecutive packets, in µs.
    dev_us: Vec<u32>,
    tone_checked: u64,
    tone_ok: u64,
    /// Zero-crossing counts of packets that were not the tone.
    wrong: HashMap<u8, u64>,
}

impl Side {
    /// Adds one stream's packets that arrived within `w` (wall ns).
    fn add(&mut self, recs: &[Rec], w: (i64, i64), hz: f64) {
        self.streams += 1;
        let mut first_ext = None;
        let mut max_ext = 0i64;
        let mut last: Option<&Rec> = None;
        for r in recs.iter().filter(|r| r.at >= w.0 && r.at < w.1) {
            match r.crossings {
                Some(x) => {
                    self.tone_checked += 1;
                    if is_tone(x, hz) {
                        self.tone_ok += 1;
                    } else {
                        *self.wrong.entry(x).or_default() += 1;
                    }
                }
                None => self.undecoded += 1,
            }
            let Some(prev) = last else {
                first_ext = Some(i64::from(r.seq));
                max_ext = i64::from(r.seq);
                self.received += 1;
                last = Some(r);
                continue;
            };
            // The 16-bit sequence number, extended around the highest so far.
            let delta = i64::from(r.seq.wrapping_sub((max_ext & 0xFFFF) as u16) as i16);
            if delta <= 0 {
                self.out_of_order += 1;
                continue;
            }
            self.received += 1;
            max_ext += delta;
            if delta == 1 {
                let step = r.ts.wrapping_sub(prev.ts);
                if step > SAMPLES as u32 && step < 8000 * 3600 {
                    self.skipped_slots += u64::from(step / SAMPLES as u32 - 1);
                }
                let dev = (r.at - prev.at - FRAME_NS).unsigned_abs() / 1000;
                self.dev_us.push(dev.min(u64::from(u32::MAX)) as u32);
            }
            last = Some(r);
        }
        match first_ext {
            Some(f) => self.expected += (max_ext - f + 1) as u64,
            None => self.silent_streams += 1,
        }
    }

    fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }

    fn loss_pct(&self) -> f64 {
        self.lost() as f64 * 100.0 / self.expected.max(1) as f64
    }

    fn tone_pct(&self) -> f64 {
        self.tone_ok as f64 * 100.0 / self.tone_checked.max(1) as f64
    }

    /// Pacing quantile in ms.
    fn pacing_ms(&self, p: f64) -> f64 {
        let v: Vec<f64> = self.dev_us.iter().map(|&u| f64::from(u) / 1000.0).collect();
        quantile(&v, p)
    }

    fn over_2ms_pct(&self) -> f64 {
        self.dev_us.iter().filter(|&&u| u > 2000).count() as f64 * 100.0
            / self.dev_us.len().max(1) as f64
    }

    fn wrong_summary(&self) -> String {
        let mut w: Vec<_> = self.wrong.iter().map(|(&x, &n)| (x, n)).collect();
        w.sort_by_key(|&(x, n)| (Reverse(n), x));
        w.truncate(5);
        w.iter()
            .map(|(x, n)| format!("{n}×{x}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The p-quantile (nearest rank) of unsorted values; NaN when empty.
fn quantile(v: &[f64], p: f64) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    s[((s.len() as f64 * p).ceil() as usize).clamp(1, s.len()) - 1]
}

/// Median, p90, p99, max and the count of a set of intervals in ms.
#[derive(Clone, Copy)]
struct Dist {
    n: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    min: f64,
}

impl Dist {
    fn of(v: &[f64]) -> Dist {
        Dist {
            n: v.iter().filter(|x| x.is_finite()).count(),
            p50: quantile(v, 0.5),
            p90: quantile(v, 0.9),
            p99: quantile(v, 0.99),
            max: quantile(v, 1.0),
            min: v
                .iter()
                .copied()
                .filter(|x| x.is_finite())
                .fold(f64::NAN, f64::min),
        }
    }

    fn line(&self) -> String {
        format!(
            "median {:7.1}  p90 {:7.1}  p99 {:7.1}  max {:7.1}  min {:7.1} ms  ({} calls)",
            self.p50, self.p90, self.p99, self.max, self.min, self.n
        )
    }
}

/// `b - a` in ms, when both are known.
fn ms(a: Option<i64>, b: Option<i64>) -> f64 {
    match (a, b) {
        (Some(a), Some(b)) => (b - a) as f64 / 1e6,
        _ => f64::NAN,
    }
}

// ----- the bench ---------------------------------------------------------------------------

struct Bench {
    a: Args,
    server: Server,
    trunk: Arc<Trunk>,
    /// Agents' session tokens, agent k at index k.
    tokens: Vec<String>,
    problems: Problems,
    /// Callers' numbers are unique over the run: 139 and a counter.
    next_number: u64,
}

fn agent_name(k: usize) -> String {
    format!("wl-agent-{:04}", k + 1)
}

impl Bench {
    /// Agents 0..n exist (role agent, queue general) and are signed in.
    fn ensure_agents(&mut self, n: usize) {
        if self.tokens.len() >= n {
            return;
        }
        let t0 = Instant::now();
        let names: Vec<String> = (self.tokens.len()..n).map(agent_name).collect();
        let (http_addr, admin) = (self.server.http, self.server.admin.clone());
        // The server hashes passwords two at a time: four requests in flight.
        let chunk = names.len().div_ceil(4).max(1);
        let results: Vec<Result<String, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = names
                .chunks(chunk)
                .map(|part| {
                    let admin = &admin;
                    s.spawn(move || {
                        part.iter()
                            .map(|name| agent_session(http_addr, admin, name))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        if results.len() != names.len() {
            die("a setup thread failed (see above)");
        }
        for r in results {
            self.tokens.push(r.unwrap_or_else(|e| die(&e)));
        }
        println!(
            "setup: agents {}-{} created and signed in ({:.1} s)",
            n - names.len() + 1,
            n,
            t0.elapsed().as_secs_f64()
        );
    }

    fn number(&mut self) -> String {
        self.next_number += 1;
        format!("139{:08}", self.next_number)
    }

    /// Opens pages for agents 0..n, their media on `--media-threads` hubs,
    /// and waits until every page is ready.
    fn open_pages(&mut self, n: usize, answer: AnswerWhen) -> Pages {
        self.ensure_agents(n);
        let hubs_n = self.a.media_threads.clamp(1, n.max(1));
        let mut members: Vec<Vec<(Arc<PageShared>, UdpSocket)>> =
            (0..hubs_n).map(|_| Vec::new()).collect();
        let mut pages = Vec::with_capacity(n);
        for k in 0..n {
            match Page::open(self.server.http, &agent_name(k), &self.tokens[k], answer) {
                Ok((p, sock)) => {
                    members[k % hubs_n].push((p.shared.clone(), sock));
                    pages.push(p);
                }
                Err(e) => die(&format!("opening page {}: {e}", agent_name(k))),
            }
        }
        let hubs_stop = Arc::new(AtomicBool::new(false));
        let hubs = members
            .into_iter()
            .enumerate()
            .map(|(h, m)| {
                let stop = hubs_stop.clone();
                std::thread::Builder::new()
                    .name(format!("media-hub-{h}"))
                    .spawn(move || media_hub(m, &stop))
                    .unwrap_or_else(|e| die(&format!("starting a media thread: {e}")))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        while pages.iter().any(|p| p.state() != "ready") {
            if Instant::now() > deadline {
                let bad: Vec<String> = pages
                    .iter()
                    .filter(|p| p.state() != "ready")
                    .take(5)
                    .map(|p| format!("{} in state {:?}", p.shared.name, p.state()))
                    .collect();
                let mut why = String::new();
                for p in &pages {
                    for (kind, _, ex) in &lock(&p.shared.problems).0 {
                        why.push_str(&format!("\n  {kind}: {ex:?}"));
                    }
                }
                die(&format!("pages not ready 30 s after opening: {bad:?}{why}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Pages {
            pages,
            hubs,
            hubs_stop,
        }
    }

    /// Closes the pages (websockets first, then their media): their calls,
    /// their problems added to ours.
    fn close_pages(&mut self, pages: Pages) -> Vec<PageCall> {
        let handles: Vec<_> = pages
            .pages
            .into_iter()
            .map(|p| std::thread::spawn(move || p.close()))
            .collect();
        let mut calls = Vec::new();
        for h in handles {
            match h.join() {
                Ok((c, problems)) => {
                    calls.extend(c);
                    self.problems.merge(problems);
                }
                Err(_) => self.problems.add("a page failed to close", String::new()),
            }
        }
        pages.hubs_stop.store(true, Ordering::Relaxed);
        for h in pages.hubs {
            if h.join().is_err() {
                self.problems
                    .add("a media thread panicked", "see stderr".into());
            }
        }
        calls
    }

    /// Waits until `done` holds, up to `within`; false on time-out.
    fn wait_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if done() {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            // Only the bench waits here: every figure is timestamped by the
            // threads that saw it happen.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The trunk's problems so far, moved to ours.
    fn collect_trunk_problems(&mut self) {
        let theirs = std::mem::take(&mut lock(&self.trunk.st).problems);
        self.problems.merge(theirs);
    }

    // ----- 1. ring to hear ----------------------------------------------------------------

    /// Calls one after another to one page; every call as the page lived
    /// it, with when its caller first heard the page.
    fn latency_run(&mut self, answer: AnswerWhen, calls: usize) -> Vec<(PageCall, Option<i64>)> {
        let pages = self.open_pages(1, answer);
        let page = &pages.pages[0];
        let mut callers = HashMap::new();
        let t0 = Instant::now();
        for i in 0..calls {
            let number = self.number();
            let idx = self
                .trunk
                .place(&number)
                .unwrap_or_else(|e| die(&format!("placing a call: {e}")));
            callers.insert(number, idx);
            let sh = page.shared.clone();
            let heard = Bench::wait_until(Duration::from_secs(15), || {
                lock(&sh.media)
                    .as_ref()
                    .is_some_and(|cm| cm.rec.first_tone_ns.is_some())
                    || lock(&sh.done).len() > i
            });
            if !heard {
                self.problems.add(
                    "latency: the page did not hear the caller within 15 s",
                    format!("call {i}"),
                );
            }
            std::thread::sleep(LATENCY_TALK);
            self.trunk.hang_up(idx);
            let trunk = self.trunk.clone();
            let back = Bench::wait_until(Duration::from_secs(15), || {
                matches!(trunk.state(idx), CallState::Done(_))
                    && lock(&sh.done).len() > i
                    && lock(&sh.state).as_str() == "ready"
            });
            if !back {
                die(&format!(
                    "latency call {i}: not over within 15 s (caller {:?}, page {:?}); server log: {}",
                    self.trunk.state(idx),
                    lock(&sh.state),
                    self.server.log.display()
                ));
            }
            if (i + 1) % 25 == 0 {
                println!("  {} calls ({:.0} s)", i + 1, t0.elapsed().as_secs_f64());
            }
        }
        let page_calls = self.close_pages(pages);
        self.trunk.close_done();
        self.collect_trunk_problems();
        let heard = lock(&self.trunk.heard);
        page_calls
            .into_iter()
            .map(|c| {
                let first = callers.get(&c.caller).and_then(|&idx| {
                    heard[idx]
                        .iter()
                        .find(|r| r.crossings.is_some_and(|x| is_tone(x, PAGE_HZ)))
                        .map(|r| r.at)
                });
                (c, first)
            })
            .collect()
    }

    // ----- 2. concurrent calls -----------------------------------------------------------

    fn level(&mut self, n: usize) -> Level {
        let pid = self.server.pid;
        let rate = (n as f64 / 8.0).max(10.0);
        println!("level {n}: opening {n} pages");
        let pages = self.open_pages(n, AnswerWhen::AtOnce);
        let mem_before = rss_and_fds(pid);
        println!("level {n}: {n} pages ready; placing {n} calls at {rate:.0} a second");
        let overloads0 = self.server.overloads();
        let cpu_setup0 = cpu_seconds(pid);
        let t_setup = Instant::now();
        let mut idxs = Vec::with_capacity(n);
        let mut numbers = HashMap::new();
        for k in 0..n {
            let due = t_setup + Duration::from_secs_f64(k as f64 / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let number = self.number();
            let idx = self
                .trunk
                .place(&number)
                .unwrap_or_else(|e| die(&format!("placing a call: {e}")));
            numbers.insert(number, idx);
            idxs.push(idx);
        }
        // Both ways connected: every page hears its caller, every caller
        // hears its page.
        let heard = self.trunk.heard.clone();
        let all_up = Bench::wait_until(Duration::from_secs(60), || {
            let pages_hear = pages.pages.iter().all(|p| {
                lock(&p.shared.media)
                    .as_ref()
                    .is_some_and(|cm| cm.rec.first_tone_ns.is_some())
            });
            pages_hear && {
                let h = lock(&heard);
                idxs.iter().all(|&i| {
                    h[i].iter()
                        .rev()
                        .take(3)
                        .any(|r| r.crossings.is_some_and(|x| is_tone(x, PAGE_HZ)))
                })
            }
        });
        let setup_s = t_setup.elapsed().as_secs_f64();
        let setup_cpu = match (cpu_setup0, cpu_seconds(pid)) {
            (Some(a), Some(b)) => Some((b - a) / setup_s * 100.0),
            _ => None,
        };
        if !all_up {
            self.problems.add(
                "not every call connected both ways within 60 s",
                format!("level {n}"),
            );
        }
        println!(
            "level {n}: {} in {setup_s:.1} s; measuring {:.0} s",
            if all_up {
                "all calls connected both ways"
            } else {
                "NOT all calls connected"
            },
            self.a.hold.as_secs_f64()
        );
        std::thread::sleep(Duration::from_secs(1));
        // The window: all N up, no set-up or tear-down going on.
        let w0 = wall_ns();
        let t0 = Instant::now();
        let cpu0 = cpu_seconds(pid);
        let wait0 = run_queue_wait_ns(pid);
        let self0 = cpu_seconds(std::process::id());
        let idle0 = idle_seconds();
        let page_send0 = PAGE_SEND.snapshot();
        let caller_send0 = CALLER_SEND.snapshot();
        let drops0 = socket_drops(pid, self.server.sip.port());
        let overloads_setup = self.server.overloads() - overloads0;
        std::thread::sleep(self.a.hold);
        let w1 = wall_ns();
        let secs = t0.elapsed().as_secs_f64();
        let per_s = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some((b - a) / secs * 100.0),
            _ => None,
        };
        let cpu = per_s(cpu0, cpu_seconds(pid));
        let self_cpu = per_s(self0, cpu_seconds(std::process::id()));
        let wait = match (wait0, run_queue_wait_ns(pid)) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e6 / secs),
            _ => None,
        };
        let box_busy = busy_pct(idle0, idle_seconds(), secs);
        let page_send = PAGE_SEND.since(page_send0);
        let caller_send = CALLER_SEND.since(caller_send0);
        let drops = match (drops0, socket_drops(pid, self.server.sip.port())) {
            (Some(a), Some(b)) => Some(b.1.saturating_sub(a.1)),
            _ => None,
        };
        let mem_up = rss_and_fds(pid);
        let overloads_window = self.server.overloads() - overloads0 - overloads_setup;

        // Tear down: the callers hang up, 200 a second.
        let t_down = Instant::now();
        for (k, &idx) in idxs.iter().enumerate() {
            let due = t_down + Duration::from_secs_f64(k as f64 / 200.0);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            self.trunk.hang_up(idx);
        }
        let trunk = self.trunk.clone();
        Bench::wait_until(Duration::from_secs(40), || {
            idxs.iter()
                .all(|&i| matches!(trunk.state(i), CallState::Done(_)))
        });
        Bench::wait_until(Duration::from_secs(10), || {
            pages.pages.iter().all(|p| lock(&p.shared.media).is_none())
        });
        let page_calls = self.close_pages(pages);
        self.trunk.close_done();
        self.collect_trunk_problems();
        let mut outcomes: HashMap<String, usize> = HashMap::new();
        for &i in &idxs {
            let k = match self.trunk.state(i) {
                CallState::Done(o) => format!("{o:?}"),
                s => format!("still {s:?}"),
            };
            *outcomes.entry(k).or_default() += 1;
        }
        std::thread::sleep(Duration::from_secs(2));
        let active_after = self
            .server
            .health()
            .and_then(|h| h["active_calls"].as_u64());
        let mem_after = rss_and_fds(pid);

        // What each end heard in the window.
        let mut at_pages = Side::default();
        let mut at_callers = Side::default();
        let mut connected = 0;
        let mut offered_to_tone = Vec::new();
        let mut media_trouble = 0;
        let heard = lock(&self.trunk.heard);
        for c in &page_calls {
            media_trouble += c.media_trouble.len();
            let Some(&idx) = numbers.get(&c.caller) else {
                continue;
            };
            at_pages.add(&c.packets, (w0, w1), CALLER_HZ);
            at_callers.add(&heard[idx], (w0, w1), PAGE_HZ);
            let caller_heard_page = heard[idx]
                .iter()
                .any(|r| r.crossings.is_some_and(|x| is_tone(x, PAGE_HZ)));
            if c.answered_ns.is_some() && c.first_tone_ns.is_some() && caller_heard_page {
                connected += 1;
            }
            offered_to_tone.push(ms(Some(c.offered_ns), c.first_tone_ns));
        }
        drop(heard);
        Level {
            n,
            connected,
            offered: page_calls.len(),
            outcomes,
            setup_s,
            setup_cpu,
            secs,
            at_pages,
            at_callers,
            offered_to_tone: Dist::of(&offered_to_tone),
            media_trouble,
            overloads: (overloads_setup, overloads_window),
            cpu,
            wait,
            self_cpu,
            box_busy,
            drops,
            page_send,
            caller_send,
            mem_before,
            mem_up,
            mem_after,
            active_after,
        }
    }
}

/// Agent `name` (created if missing: role agent, queue general) signed
/// in: their token. 503s (SQLite busy under concurrent writes) are tried
/// again.
fn agent_session(http_addr: SocketAddr, admin: &str, name: &str) -> Result<String, String> {
    let retry = |method: &str, path: &str, token: Option<&str>, body: &Value| {
        for _ in 0..20 {
            let (st, v) = http(http_addr, method, path, token, Some(body))?;
            if st != 503 {
                return Ok((st, v));
            }
            std::thread::sleep(Duration::from_millis(fastrand::u64(100..400)));
        }
        Err(format!("{method} {path}: 503 twenty times"))
    };
    let (st, v) = retry(
        "POST",
        "/api/users",
        Some(admin),
        &json!({"username": name, "display_name": name, "role": "agent",
                "password": AGENT_PASSWORD, "queues": ["general"]}),
    )?;
    if st != 201 && st != 409 {
        return Err(format!("creating agent {name}: {st} {v}"));
    }
    let (st, v) = retry(
        "POST",
        "/api/login",
        None,
        &json!({"username": name, "password": AGENT_PASSWORD}),
    )?;
    v["token"]
        .as_str()
        .filter(|_| st == 200)
        .map(str::to_owned)
        .ok_or_else(|| format!("signing in as {name}: {st} {v}"))
}

/// One concurrency level, measured.
struct Level {
    n: usize,
    /// Calls whose page was answered and heard the caller, and whose
    /// caller heard the page.
    connected: usize,
    offered: usize,
    outcomes: HashMap<String, usize>,
    setup_s: f64,
    setup_cpu: Option<f64>,
    secs: f64,
    at_pages: Side,
    at_callers: Side,
    offered_to_tone: Dist,
    media_trouble: usize,
    /// The server's overload flag raised during set-up, and while all
    /// were up.
    overloads: (usize, usize),
    cpu: Option<f64>,
    wait: Option<f64>,
    self_cpu: Option<f64>,
    box_busy: Option<f64>,
    drops: Option<u64>,
    page_send: (u64, f64, f64, f64),
    caller_send: (u64, f64, f64, f64),
    mem_before: Option<(u64, usize)>,
    mem_up: Option<(u64, usize)>,
    mem_after: Option<(u64, usize)>,
    active_after: Option<u64>,
}

impl Level {
    fn clean(&self) -> bool {
        let sides = [&self.at_pages, &self.at_callers];
        self.connected == self.n
            && self.outcomes.get("Ok") == Some(&self.n)
            && self.media_trouble == 0
            && sides.iter().all(|s| {
                s.lost() == 0
                    && s.skipped_slots == 0
                    && s.silent_streams == 0
                    && s.tone_pct() >= 99.0
            })
    }

    fn print(&self) {
        let n = self.n;
        let opt = |v: Option<f64>, d: usize| v.map_or("?".to_owned(), |x| format!("{x:.d$}"));
        let mut oc: Vec<_> = self.outcomes.iter().collect();
        oc.sort();
        println!(
            "level {n}: {}",
            if self.clean() { "CLEAN" } else { "NOT CLEAN" }
        );
        println!(
            "  calls: {} offered to pages, {} connected both ways; callers' outcomes {oc:?}; \
             media trouble events {}; set-up {:.1} s (server CPU {} % meanwhile); measured {:.1} s",
            self.offered,
            self.connected,
            self.media_trouble,
            self.setup_s,
            opt(self.setup_cpu, 0),
            self.secs
        );
        println!(
            "  offered -> first caller tone at the page, under this set-up load: {}",
            self.offered_to_tone.line()
        );
        println!(
            "  the server raised its overload flag (new calls get 503) {} times during set-up, {} while all were up",
            self.overloads.0, self.overloads.1
        );
        for (who, s) in [
            ("at the pages  (caller's 440 Hz)", &self.at_pages),
            ("at the callers (page's 1000 Hz)", &self.at_callers),
        ] {
            println!(
                "  {who}: {} streams ({} silent), {} packets, {} lost ({:.4} %), {} skipped slots, \
                 {} out of order, {} not decoded; pacing p50 {:.3} p99 {:.3} max {:.1} ms, > 2 ms {:.3} %; \
                 the other side's tone in {:.2} % of {} packets (others: {})",
                s.streams,
                s.silent_streams,
                s.received,
                s.lost(),
                s.loss_pct(),
                s.skipped_slots,
                s.out_of_order,
                s.undecoded,
                s.pacing_ms(0.5),
                s.pacing_ms(0.99),
                s.pacing_ms(1.0),
                s.over_2ms_pct(),
                s.tone_pct(),
                s.tone_checked,
                s.wrong_summary()
            );
        }
        println!(
            "  server CPU {} % of a core with all {n} up ({} % per call); its threads waited {} ms/s for a CPU; \
             this tool {} %; the whole box {} % busy (2 cores = 100 %)",
            opt(self.cpu, 1),
            self.cpu
                .map_or("?".into(), |c| format!("{:.3}", c / n as f64)),
            opt(self.wait, 0),
            opt(self.self_cpu, 0),
            opt(self.box_busy, 0)
        );
        let mem = |m: Option<(u64, usize)>| {
            m.map_or("?".into(), |(kb, fds)| {
                format!("{:.1} MiB / {fds} fds", kb as f64 / 1024.0)
            })
        };
        println!(
            "  server memory before / all up / after: {} / {} / {}; active calls after: {}",
            mem(self.mem_before),
            mem(self.mem_up),
            mem(self.mem_after),
            self.active_after.map_or("?".into(), |a| a.to_string())
        );
        println!(
            "  our packets dropped at the server's full sockets: {}; our own sending, > 1 ms / > 5 ms late \
             (max): pages {:.2} % / {:.2} % ({:.1} ms), callers {:.2} % / {:.2} % ({:.1} ms)",
            self.drops.map_or("?".into(), |d| d.to_string()),
            self.page_send.1,
            self.page_send.2,
            self.page_send.3,
            self.caller_send.1,
            self.caller_send.2,
            self.caller_send.3
        );
    }

    fn markdown_row(&self) -> String {
        let opt = |v: Option<f64>, d: usize| v.map_or("?".to_owned(), |x| format!("{x:.d$}"));
        let n = self.n;
        let pace = |s: &Side| {
            format!(
                "{:.2} / {:.2} / {:.1}",
                s.pacing_ms(0.5),
                s.pacing_ms(0.99),
                s.pacing_ms(1.0)
            )
        };
        format!(
            "| {n} | {} | {} / {} | {:.2} / {:.2} | {} | {} | {:.0} / {:.0} | {} ({}) | {} | {} | {} | {} |",
            self.connected,
            self.at_pages.lost(),
            self.at_callers.lost(),
            self.at_pages.tone_pct(),
            self.at_callers.tone_pct(),
            pace(&self.at_pages),
            pace(&self.at_callers),
            self.offered_to_tone.p50,
            self.offered_to_tone.p99,
            opt(self.cpu, 0),
            self.cpu
                .map_or("?".into(), |c| format!("{:.2}", c / n as f64)),
            self.mem_up
                .map_or("?".into(), |(kb, _)| format!("{:.0}", kb as f64 / 1024.0)),
            opt(self.self_cpu, 0),
            opt(self.box_busy, 0),
            match (self.clean(), self.overloads.0 + self.overloads.1) {
                (true, 0) => "clean".to_owned(),
                (true, k) => format!("clean; overload flag ×{k}"),
                (false, 0) => "**not clean**".to_owned(),
                (false, k) => format!("**not clean**; overload flag ×{k}"),
            }
        )
    }
}

// ----- the report ------------------------------------------------------------------------

/// The rows of the ring-to-hear table for one variant.
fn latency_rows(
    label: &str,
    answer: AnswerWhen,
    calls: &[(PageCall, Option<i64>)],
) -> Vec<(String, Dist)> {
    let col = |f: &dyn Fn(&PageCall, Option<i64>) -> f64| -> Dist {
        Dist::of(&calls.iter().map(|(c, h)| f(c, *h)).collect::<Vec<_>>())
    };
    let mut rows = vec![
        (
            format!("{label} offered → `media_offer` written (the page's own work)"),
            col(&|c, _| ms(Some(c.offered_ns), Some(c.media_offer_ns))),
        ),
        (
            format!("{label} offered → the page's own DTLS connected"),
            col(&|c, _| ms(Some(c.offered_ns), c.browser_connected_ns)),
        ),
        (
            format!("{label} offered → `media` connected (the event)"),
            col(&|c, _| ms(Some(c.offered_ns), c.connected_event_ns)),
        ),
    ];
    match answer {
        AnswerWhen::AtOnce => rows.extend([
            (
                format!("{label} offered → `answered`"),
                col(&|c, _| ms(Some(c.offered_ns), c.answered_ns)),
            ),
            (
                format!("{label} **offered → first caller tone at the page**"),
                col(&|c, _| ms(Some(c.offered_ns), c.first_tone_ns)),
            ),
            (
                format!("{label} offered → the caller hears the page"),
                col(&|c, h| ms(Some(c.offered_ns), h)),
            ),
        ]),
        AnswerWhen::After(_) => rows.extend([
            (
                format!("{label} `answer` written → `answered`"),
                col(&|c, _| ms(c.answer_ns, c.answered_ns)),
            ),
            (
                format!("{label} **`answer` written → first caller tone at the page**"),
                col(&|c, _| ms(c.answer_ns, c.first_tone_ns)),
            ),
            (
                format!("{label} `answer` written → the caller hears the page"),
                col(&|c, h| ms(c.answer_ns, h)),
            ),
        ]),
    }
    rows
}

fn print_latency(label: &str, answer: AnswerWhen, calls: &[(PageCall, Option<i64>)]) {
    let rows = latency_rows(label, answer, calls);
    for (what, d) in &rows {
        println!("  {what:<75} {}", d.line());
    }
    let ended: usize = calls
        .iter()
        .filter(|(c, _)| c.end == "ended: caller-bye")
        .count();
    let odd: u32 = calls.iter().map(|(c, _)| c.odd_before_tone).sum();
    let early = calls
        .iter()
        .filter(|(c, _)| match (c.connected_event_ns, c.answer_ns) {
            (Some(m), Some(a)) => m <= a,
            _ => false,
        })
        .count();
    println!(
        "  {} calls, {ended} ended by the caller's BYE; media connected before the answer was written in {early}; \
         {odd} packets with sound other than the caller's tone before it",
        calls.len()
    );
}

fn print_environment() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpu.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map_or("?".to_owned(), |(_, v)| v.trim().to_owned())
    };
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "machine: {cores} cores, {} (family {}, model {}), {} MHz; load average {}",
        field("model name"),
        field("cpu family"),
        field("model\t"),
        field("cpu MHz"),
        load_average()
    );
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| die(&e));
    // The tool holds about three descriptors per call (page socket,
    // websocket, caller's RTP socket), the server about four.
    let fd_limit = os::raise_fd_limit();
    let need = 4 * args.levels.iter().copied().max().unwrap_or(0) as u64 + 200;
    if fd_limit < need {
        die(&format!(
            "open-file limit {fd_limit}, and the largest level needs about {need}: raise `ulimit -n`"
        ));
    }
    print_environment();
    let dir = std::env::temp_dir().join(format!("hotline-webrtc-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| die(&format!("creating {}: {e}", dir.display())));
    let server = Server::start(&dir).unwrap_or_else(|e| die(&e));
    println!(
        "server: pid {}, sip {}, http {}, rtp {SERVER_RTP}, log {}; the pages' media on {} threads",
        server.pid,
        server.sip,
        server.http,
        server.log.display(),
        args.media_threads
    );
    let (trunk, trunk_threads) = Trunk::start(server.sip).unwrap_or_else(|e| die(&e));
    let mut b = Bench {
        a: args,
        server,
        trunk,
        tokens: Vec::new(),
        problems: Problems::default(),
        next_number: u64::from(std::process::id()) * 100_000 % 90_000_000,
    };

    // 1. Ring to hear, on an idle server.
    let mut latency_md = Vec::new();
    if b.a.latency_calls > 0 {
        let variants = [
            ("(a)", AnswerWhen::AtOnce, "answers at once"),
            (
                "(b)",
                AnswerWhen::After(b.a.answer_after),
                "connects while ringing, answers later",
            ),
        ];
        for (label, answer, what) in variants {
            println!(
                "ring to hear {label}: the page {what}; {} calls one after another",
                b.a.latency_calls
            );
            let calls = b.latency_run(answer, b.a.latency_calls);
            print_latency(label, answer, &calls);
            latency_md.extend(latency_rows(label, answer, &calls));
        }
    }

    // 2. Concurrent calls.
    let mut levels: Vec<Level> = Vec::new();
    for n in b.a.levels.clone() {
        let level = b.level(n);
        level.print();
        let clean = level.clean();
        levels.push(level);
        if !clean && !b.a.all_levels {
            println!("stopping after the first level that is not clean (--all-levels goes on)");
            break;
        }
    }

    b.trunk.stop.store(true, Ordering::Relaxed);
    for t in trunk_threads {
        let _ = t.join();
    }
    let warnings = b.server.log_warnings();
    b.server.stop();
    let retransmissions = lock(&b.trunk.st).retransmissions;

    println!();
    println!("server log warnings and errors (by message, first 110 characters):");
    if warnings.is_empty() {
        println!("  none");
    }
    for (msg, n) in warnings.iter().take(15) {
        println!("  {n} × {msg}");
    }
    println!("our SIP retransmissions: {retransmissions}");
    println!("problems: {}", b.problems.count());
    b.problems.print("  ");

    println!();
    println!("---- Markdown for docs/benchmarks.md ----");
    println!("load average at the end: {}", load_average());
    if !latency_md.is_empty() {
        println!();
        println!(
            "| interval ({} calls each, one at a time) | median ms | p90 ms | p99 ms | max ms |",
            b.a.latency_calls
        );
        println!("|---|---|---|---|---|");
        for (what, d) in &latency_md {
            println!(
                "| {what} | {:.1} | {:.1} | {:.1} | {:.1} |",
                d.p50, d.p90, d.p99, d.max
            );
        }
    }
    if !levels.is_empty() {
        println!();
        println!(
            "| calls | connected | lost at page / caller | tone % at page / caller | pacing at the pages | \
             pacing at the callers | offered → tone ms | server CPU % (per call) | \
             server RSS MiB | tool CPU % | box busy % | result |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for l in &levels {
            println!("{}", l.markdown_row());
        }
    }
    if b.a.keep || b.problems.count() > 0 {
        println!("kept: {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
