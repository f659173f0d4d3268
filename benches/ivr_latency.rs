//! IVR responsiveness: the time from the end of a caller's key press to the
//! first packet of the prompt that answers it, at idle and under audio load.
//!
//! Starts the release server itself (`hotline serve` on ports the system
//! picks, a scratch data directory, a copy of ivr-flows open around the
//! clock) and places calls from small phones of its own: PCMU and
//! telephone-event/101, 20 ms silence packets so the call stays up, key
//! presses as RFC 4733 packets (a start, one update, three Ends, 20 ms
//! apart). Each call walks the demo flow as caller 13700000000 (no open
//! ticket), pressing each key 150-450 ms (at random) after the prompt it
//! answers started:
//!
//! 1. `1` during the welcome: Mandarin, the open-tickets lookup, main menu;
//! 2. `9` at the main menu: the "invalid" prompt (then the menu again);
//! 3. `3` during "invalid": the enter-ticket prompt;
//! 4. `0000000000` (ten presses): the ticket lookup, "ticket-not-found";
//! 5. `9` during "ticket-not-found": barge-in, main menu, "invalid";
//!
//! then 3 to 5 again until the time is up. A sample is the time from the
//! first End packet of the (last) key to the first packet of the expected
//! prompt, both taken by the kernel: the End's software transmit timestamp
//! (SO_TIMESTAMPING, on loopback the moment it reaches hotline's socket)
//! and the prompt packet's receive timestamp (SO_TIMESTAMPNS, on loopback
//! about when hotline sent it). The phones' own scheduling therefore does
//! not enter the figures. The prompt's first packet is the one carrying the
//! prompt's first 160 samples (PCMU-encoded from the WAV); the session sets
//! the marker bit on it (`media::session`), which is counted as a check. A
//! marked packet carrying a later frame of the prompt (hotline skipped
//! ahead, more than 200 ms late) also counts as the start, and is reported.
//!
//! Conditions: idle (only the phones), then for each `--load N`: a fresh
//! server, sipp running N concurrent calls of tests/sipp/bench_audio.xml
//! (RTP both ways, set up at N/8 calls a second, as scripts/bench.sh stage
//! d does), the phones starting once all N are up.
//!
//! Run: `cargo bench --bench ivr_latency -- [--phones 10] [--secs 25]
//!       [--load 200[,500...]] [--rtp-ports 41000-44999] [--bin PATH] [--keep]`
//! (`--load 0`: idle only). Prints a Markdown table per condition and one
//! `RESULT key=value ...` line per condition for scripts. Linux only
//! (recvmsg/sendmsg/poll/setsockopt declared here by hand); needs sipp for
//! the load.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hotline::media::dtmf::encode_event;
use hotline::media::g711::Law;
use hotline::media::rtp::{self, RtpHeader};

const NUMBER: &str = "4008001234";
const CALLER: &str = "13700000000";
const DTMF_PT: u8 = 101;
const FRAME: Duration = Duration::from_millis(20);
const SAMPLES: usize = 160;
/// Frames of each expected prompt kept for recognising its start.
const FRAMES_KEPT: usize = 50;
/// How long after a key the next prompt may take before the call counts
/// as failed (a lookup gives up after 3 s).
const PROMPT_WAIT: Duration = Duration::from_secs(4);
/// A sample above this is one a caller notices.
const NOTICEABLE_NS: i64 = 100_000_000;

/// One step of the walk: the keys pressed, the prompt expected to start
/// after the last of them, and a label for the table.
struct Step {
    keys: &'static str,
    prompt: &'static str,
    label: &'static str,
}

const STEPS: [Step; 5] = [
    Step {
        keys: "1",
        prompt: "main-menu",
        label: "`1` in welcome → main-menu (via open-tickets lookup)",
    },
    Step {
        keys: "9",
        prompt: "invalid",
        label: "`9` in main-menu → invalid",
    },
    Step {
        keys: "3",
        prompt: "enter-ticket",
        label: "`3` in invalid → enter-ticket",
    },
    Step {
        keys: "0000000000",
        prompt: "ticket-not-found",
        label: "10th ticket digit → ticket-not-found (via ticket lookup)",
    },
    Step {
        keys: "9",
        prompt: "invalid",
        label: "`9` in ticket-not-found → invalid (barge-in)",
    },
];
/// After the last step the walk goes on here.
const LOOP_TO: usize = 2;

// ----- the few libc calls std does not offer ---------------------------------

mod sys {
    use std::ffi::{c_ulong, c_void};

    #[repr(C)]
    pub struct IoVec {
        pub base: *mut c_void,
        pub len: usize,
    }

    #[repr(C)]
    pub struct MsgHdr {
        pub name: *mut c_void,
        pub namelen: u32,
        pub iov: *mut IoVec,
        pub iovlen: usize,
        pub control: *mut c_void,
        pub controllen: usize,
        pub flags: i32,
    }

    #[repr(C)]
    pub struct PollFd {
        pub fd: i32,
        pub events: i16,
        pub revents: i16,
    }

    #[repr(C)]
    pub struct SockAddrIn {
        pub family: u16,
        /// Network byte order.
        pub port: u16,
        pub addr: [u8; 4],
        pub zero: [u8; 8],
    }

    /// A `cmsghdr` asking for a timestamp of one packet, with its data
    /// and padding (CMSG_SPACE(4)).
    #[repr(C, align(8))]
    pub struct TxStampCmsg {
        pub len: usize,
        pub level: i32,
        pub kind: i32,
        pub flags: u32,
        pub pad: u32,
    }

    pub const AF_INET: u16 = 2;
    pub const SOL_SOCKET: i32 = 1;
    pub const SO_TIMESTAMPNS: i32 = 35;
    pub const SO_TIMESTAMPING: i32 = 37;
    pub const SOF_TIMESTAMPING_TX_SOFTWARE: u32 = 1 << 1;
    pub const SOF_TIMESTAMPING_SOFTWARE: u32 = 1 << 4;
    pub const SOF_TIMESTAMPING_OPT_TSONLY: u32 = 1 << 11;
    pub const MSG_DONTWAIT: i32 = 0x40;
    pub const MSG_ERRQUEUE: i32 = 0x2000;
    pub const POLLIN: i16 = 1;
    /// Size of `struct cmsghdr` (len, level, type) on 64-bit Linux.
    pub const CMSG_HDR: usize = 16;

    unsafe extern "C" {
        pub fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: i32) -> i32;
        pub fn recvmsg(fd: i32, msg: *mut MsgHdr, flags: i32) -> isize;
        pub fn sendmsg(fd: i32, msg: *const MsgHdr, flags: i32) -> isize;
        pub fn setsockopt(fd: i32, level: i32, name: i32, value: *const c_void, len: u32) -> i32;
    }

    pub fn set_opt<T>(fd: i32, name: i32, value: T) -> bool {
        // SAFETY: a valid fd and a pointer to a value of the length given.
        unsafe {
            setsockopt(
                fd,
                SOL_SOCKET,
                name,
                (&raw const value).cast(),
                size_of::<T>() as u32,
            ) == 0
        }
    }
}

fn wall_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The first timestamp in a control buffer: SCM_TIMESTAMPNS, else the
/// software entry of SCM_TIMESTAMPING, as ns since the epoch.
fn cmsg_timestamp(control: &[u8]) -> Option<i64> {
    let word = |at: usize| -> Option<i64> {
        Some(i64::from_ne_bytes(
            control.get(at..at + 8)?.try_into().ok()?,
        ))
    };
    let mut off = 0;
    let mut found = None;
    while off + sys::CMSG_HDR <= control.len() {
        let len = usize::from_ne_bytes(control[off..off + 8].try_into().ok()?);
        let level = i32::from_ne_bytes(control[off + 8..off + 12].try_into().ok()?);
        let kind = i32::from_ne_bytes(control[off + 12..off + 16].try_into().ok()?);
        if len < sys::CMSG_HDR {
            break;
        }
        let data = off + sys::CMSG_HDR;
        let ns = || Some(word(data)? * 1_000_000_000 + word(data + 8)?).filter(|&t| t > 0);
        if level == sys::SOL_SOCKET && kind == sys::SO_TIMESTAMPNS {
            return ns();
        }
        if level == sys::SOL_SOCKET && kind == sys::SO_TIMESTAMPING && found.is_none() {
            found = ns();
        }
        off += len.div_ceil(8) * 8;
    }
    found
}

/// One datagram, if any is waiting, with its kernel receive time.
fn recv_stamped(fd: i32, buf: &mut [u8], flags: i32) -> Option<(usize, Option<i64>)> {
    let mut control = [0u64; 32];
    let mut iov = sys::IoVec {
        base: buf.as_mut_ptr().cast(),
        len: buf.len(),
    };
    let mut msg = sys::MsgHdr {
        name: std::ptr::null_mut(),
        namelen: 0,
        iov: &raw mut iov,
        iovlen: 1,
        control: control.as_mut_ptr().cast(),
        controllen: size_of_val(&control),
        flags: 0,
    };
    // SAFETY: every pointer in `msg` is valid for the length given.
    let n = unsafe { sys::recvmsg(fd, &raw mut msg, flags | sys::MSG_DONTWAIT) };
    if n < 0 {
        return None;
    }
    // SAFETY: the kernel wrote `controllen` bytes of the buffer.
    let bytes = unsafe {
        std::slice::from_raw_parts(control.as_ptr().cast::<u8>(), msg.controllen.min(256))
    };
    Some((n as usize, cmsg_timestamp(bytes)))
}

/// Sends `bytes` to `dest` asking for a software transmit timestamp, and
/// returns it (ns since the epoch), or the wall clock read just before
/// sending when the kernel gives none (`false`).
fn send_stamped(sock: &UdpSocket, bytes: &[u8], dest: SocketAddrV4) -> (i64, bool) {
    let fd = sock.as_raw_fd();
    let mut scratch = [0u8; 64];
    // Old timestamps, should any be left, must not be taken for this one.
    while recv_stamped(fd, &mut scratch, sys::MSG_ERRQUEUE).is_some() {}
    let mut addr = sys::SockAddrIn {
        family: sys::AF_INET,
        port: dest.port().to_be(),
        addr: dest.ip().octets(),
        zero: [0; 8],
    };
    let mut iov = sys::IoVec {
        base: bytes.as_ptr().cast_mut().cast(),
        len: bytes.len(),
    };
    // One cmsghdr (len 20: header + u32) padded to CMSG_SPACE(4) = 24.
    let mut control = sys::TxStampCmsg {
        len: sys::CMSG_HDR + 4,
        level: sys::SOL_SOCKET,
        kind: sys::SO_TIMESTAMPING,
        flags: sys::SOF_TIMESTAMPING_TX_SOFTWARE,
        pad: 0,
    };
    let msg = sys::MsgHdr {
        name: (&raw mut addr).cast(),
        namelen: size_of::<sys::SockAddrIn>() as u32,
        iov: &raw mut iov,
        iovlen: 1,
        control: (&raw mut control).cast(),
        controllen: size_of::<sys::TxStampCmsg>(),
        flags: 0,
    };
    let before = wall_ns();
    // SAFETY: every pointer in `msg` is valid for the length given.
    let sent = unsafe { sys::sendmsg(fd, &raw const msg, 0) };
    if sent < 0 {
        return (before, false);
    }
    // On loopback the stamp is queued before sendmsg returns; allow a
    // little time anyway.
    for _ in 0..20 {
        if let Some((_, Some(ts))) = recv_stamped(fd, &mut scratch, sys::MSG_ERRQUEUE) {
            return (ts, true);
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    (before, false)
}

// ----- arguments --------------------------------------------------------------

struct Args {
    phones: usize,
    secs: u64,
    loads: Vec<u32>,
    rtp_ports: String,
    bin: PathBuf,
    keep: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        phones: 10,
        secs: 25,
        loads: vec![200],
        rtp_ports: "41000-44999".into(),
        bin: PathBuf::from(env!("CARGO_BIN_EXE_hotline")),
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            // `cargo bench` passes --bench.
            "--bench" => continue,
            "--keep" => {
                a.keep = true;
                continue;
            }
            _ => {}
        }
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--phones" => a.phones = v.parse().expect("--phones N"),
            "--secs" => a.secs = v.parse().expect("--secs SECONDS"),
            "--load" => {
                a.loads = v
                    .split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse().expect("--load N[,N...]"))
                    .filter(|&n| n > 0)
                    .collect();
            }
            "--rtp-ports" => a.rtp_ports = v,
            "--bin" => a.bin = PathBuf::from(v),
            _ => panic!("unknown option {flag}"),
        }
    }
    a
}

// ----- the server -------------------------------------------------------------

struct Server {
    child: Child,
    sip: SocketAddr,
    http: SocketAddr,
    command: String,
}

impl Server {
    fn start(args: &Args, flows: &Path, data: &Path) -> Server {
        std::fs::create_dir_all(data).expect("data directory");
        let argv = [
            "serve",
            "--sip",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--https",
            "",
            "--data",
            data.to_str().expect("UTF-8 path"),
            "--rtp-ports",
            &args.rtp_ports,
            "--flows",
            flows.to_str().expect("UTF-8 path"),
        ];
        let log = std::fs::File::create(data.join("server.log")).expect("server log");
        let mut child = Command::new(&args.bin)
            .args(argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", args.bin.display()));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let ready = loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) if line.contains("ready") => break line,
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let log = std::fs::read_to_string(data.join("server.log")).unwrap_or_default();
                    panic!("hotline exited before it was ready:\n{log}");
                }
            }
            assert!(Instant::now() < deadline, "hotline not ready after 60 s");
        };
        let field = |after: &str| -> SocketAddr {
            let start = ready.find(after).expect("address in the ready line") + after.len();
            let rest = &ready[start..];
            let end = rest.find([',', ' ']).unwrap_or(rest.len());
            rest[..end].parse().expect("address")
        };
        Server {
            sip: field("udp+tcp "),
            http: field("http://"),
            command: format!("{} {}", args.bin.display(), argv.join(" ")),
            child,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `active_calls` from /api/health.
    fn active_calls(&self) -> Option<u64> {
        let mut s = TcpStream::connect_timeout(&self.http, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(
            s,
            "GET /api/health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.http
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let at = text.find("\"active_calls\":")? + "\"active_calls\":".len();
        let digits: String = text[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The data directory is thrown away: no need for a graceful stop
        // (that would wait out the shutdown grace of the calls still up).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A copy of ivr-flows whose demo flow is open around the clock.
fn flows_copy(to: &Path) {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("flows copy");
        for entry in std::fs::read_dir(from).expect("ivr-flows") {
            let entry = entry.expect("ivr-flows entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("file type").is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy a flow file");
            }
        }
    }
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows"), to);
    let main = to.join("hotline.toml");
    let text = std::fs::read_to_string(&main).expect("hotline.toml");
    let open = text
        .replace(
            "hours = { daily = \"08:00-20:00\" }",
            "hours = { daily = \"00:00-24:00\" }",
        )
        .replace("holidays = \"calendars/cn-2026.toml\"\n", "");
    assert!(
        open.contains("00:00-24:00") && !open.contains("holidays ="),
        "ivr-flows/hotline.toml changed: cannot make it open around the clock"
    );
    std::fs::write(&main, open).expect("write hotline.toml");
}

/// The first frames of a prompt as hotline sends them in PCMU.
fn prompt_frames(flows: &Path, name: &str) -> Vec<[u8; SAMPLES]> {
    let path = flows.join("prompts/zh").join(format!("{name}.wav"));
    let samples = hotline::rt::ivr::read_wav(&path).unwrap_or_else(|e| panic!("{e}"));
    samples
        .chunks(SAMPLES)
        .take(FRAMES_KEPT)
        .map(|chunk| {
            let mut frame = [Law::Pcmu.encode(0); SAMPLES];
            for (out, &s) in frame.iter_mut().zip(chunk) {
                *out = Law::Pcmu.encode(s);
            }
            frame
        })
        .collect()
}

struct Prompts {
    welcome: Vec<[u8; SAMPLES]>,
    steps: Vec<Vec<[u8; SAMPLES]>>,
}

// ----- CPU accounting ---------------------------------------------------------

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in ticks.
fn proc_ticks(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?)
}

/// (busy, total) ticks of the whole machine.
fn box_ticks() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = s
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

struct CpuStamp {
    at: Instant,
    server: f64,
    sipp: f64,
    busy: f64,
    total: f64,
}

fn cpu_stamp(server: u32, sipp: Option<u32>) -> CpuStamp {
    let (busy, total) = box_ticks();
    CpuStamp {
        at: Instant::now(),
        server: proc_ticks(server).unwrap_or(0.0),
        sipp: sipp.and_then(proc_ticks).unwrap_or(0.0),
        busy,
        total,
    }
}

// ----- SIP ------------------------------------------------------------------

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn status(msg: &str) -> Option<u16> {
    msg.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// Where the SDP in a message wants its RTP.
fn sdp_rtp(msg: &str) -> Option<SocketAddrV4> {
    let body = &msg[msg.find("\r\n\r\n")? + 4..];
    let ip = body
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))?
        .trim()
        .parse()
        .ok()?;
    let port = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(SocketAddrV4::new(ip, port))
}

struct Dialog {
    sip: UdpSocket,
    server: SocketAddr,
    call_id: String,
    tag: String,
    to: String,
    branch: u32,
}

impl Dialog {
    fn request(&mut self, method: &str, cseq: u32, extra: &str, body: &str) -> String {
        self.branch += 1;
        let me = self.sip.local_addr().expect("local address");
        format!(
            "{method} sip:{NUMBER}@{server} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK{call_id}x{branch};rport\r\n\
             From: <sip:{CALLER}@{me}>;tag={tag}\r\n\
             To: {to}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:{CALLER}@{me}>\r\n\
             Max-Forwards: 70\r\n{extra}\
             Content-Length: {len}\r\n\r\n{body}",
            server = self.server,
            call_id = self.call_id,
            branch = self.branch,
            tag = self.tag,
            to = self.to,
            len = body.len()
        )
    }

    /// Sends `req` (retransmitted every 500 ms until a response, at most
    /// 8 s) and returns the final response to it.
    fn transact(&self, req: &str, cseq: &str) -> Result<String, String> {
        let mut buf = [0u8; 65_536];
        let start = Instant::now();
        self.sip.set_nonblocking(false).map_err(|e| e.to_string())?;
        let mut next_send = start;
        let mut provisional = false;
        self.sip
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        loop {
            let now = Instant::now();
            if now - start > Duration::from_secs(8) {
                return Err(format!("no final answer to {cseq} in 8 s"));
            }
            if !provisional && now >= next_send {
                self.sip
                    .send_to(req.as_bytes(), self.server)
                    .map_err(|e| e.to_string())?;
                next_send = now + Duration::from_millis(500);
            }
            let Ok((n, _)) = self.sip.recv_from(&mut buf) else {
                continue;
            };
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if header(&msg, "CSeq") != Some(cseq) {
                continue;
            }
            match status(&msg) {
                Some(s) if s < 200 => provisional = true,
                Some(_) => return Ok(msg),
                None => {}
            }
        }
    }

    /// Answers a request from the server 200 OK.
    fn answer_ok(&self, req: &str) {
        let mut resp = String::from("SIP/2.0 200 OK\r\n");
        for l in req.lines() {
            let name = l.split(':').next().unwrap_or_default().trim();
            if ["via", "from", "to", "call-id", "cseq"]
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h))
            {
                resp.push_str(l);
                resp.push_str("\r\n");
            }
        }
        resp.push_str("Content-Length: 0\r\n\r\n");
        let _ = self.sip.send_to(resp.as_bytes(), self.server);
    }
}

// ----- one phone ----------------------------------------------------------------

struct Sample {
    step: usize,
    ns: i64,
    marker: bool,
    /// Frames of the prompt hotline skipped before the first it sent.
    skipped: usize,
    /// Packets hotline sent after the key reached it and before the
    /// prompt: 0 when the prompt took the first slot after the key.
    before_prompt: u32,
    kernel_tx: bool,
}

enum Report {
    Sample(Sample),
    CallOk,
    CallFailed(String),
    UnexpectedMarker,
}

/// A packet for a key press, sent at `at`.
struct PressPacket {
    at: Instant,
    payload: [u8; 4],
    marker: bool,
    timestamp: u32,
    /// The first End of the step's last key: the sample's start.
    measure: bool,
}

#[derive(Clone, Copy)]
enum Stage {
    /// Waiting for the first packet of `step`'s prompt (the welcome for
    /// `None`) after the key that hotline got at `since`.
    Await {
        step: Option<usize>,
        since: i64,
        kernel_tx: bool,
        deadline: Instant,
        /// Packets received since `since` that were not the prompt.
        others: u32,
    },
    /// The prompt started; the next keys go at `until`.
    Pause { step: usize, until: Instant },
    /// Keys being sent.
    Pressing { step: usize },
}

struct Phone {
    server: SocketAddr,
    prompts: Arc<Prompts>,
    stop_at: Instant,
    reports: mpsc::Sender<Report>,
    id: usize,
}

impl Phone {
    fn run(&self) {
        let mut n = 0;
        while Instant::now() + Duration::from_secs(2) < self.stop_at {
            n += 1;
            match self.call(n) {
                Ok(()) => {
                    let _ = self.reports.send(Report::CallOk);
                }
                Err(e) => {
                    // 503 comes with Retry-After: 2 (hotline is overloaded).
                    let pause = if e.ends_with(" 503") { 2000 } else { 200 };
                    let _ = self.reports.send(Report::CallFailed(e));
                    std::thread::sleep(Duration::from_millis(pause));
                }
            }
        }
    }

    fn call(&self, n: u32) -> Result<(), String> {
        let sip = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let rtp_sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let fd = rtp_sock.as_raw_fd();
        if !sys::set_opt(fd, sys::SO_TIMESTAMPNS, 1i32)
            || !sys::set_opt(
                fd,
                sys::SO_TIMESTAMPING,
                sys::SOF_TIMESTAMPING_SOFTWARE | sys::SOF_TIMESTAMPING_OPT_TSONLY,
            )
        {
            return Err("cannot enable kernel timestamps".into());
        }
        let mut d = Dialog {
            server: self.server,
            call_id: format!("ivrlat-{}-{}-{n}", std::process::id(), self.id),
            tag: format!("l{}x{n}", self.id),
            to: format!("<sip:{NUMBER}@{}>", self.server),
            branch: 0,
            sip,
        };
        let port = rtp_sock.local_addr().map_err(|e| e.to_string())?.port();
        let sdp = format!(
            "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0 {DTMF_PT}\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:{DTMF_PT} telephone-event/8000\r\na=fmtp:{DTMF_PT} 0-15\r\n\
             a=ptime:20\r\na=sendrecv\r\n"
        );
        let invite = d.request("INVITE", 1, "Content-Type: application/sdp\r\n", &sdp);
        let ok = d.transact(&invite, "1 INVITE")?;
        let code = status(&ok).unwrap_or(0);
        if let Some(to) = header(&ok, "To") {
            d.to = to.to_owned();
        }
        let ack = d.request("ACK", 1, "", "");
        let _ = d.sip.send_to(ack.as_bytes(), self.server);
        if code != 200 {
            return Err(format!("INVITE answered {code}"));
        }
        let dest = sdp_rtp(&ok).ok_or("no RTP address in the answer")?;
        let walked = self.walk(&d, &rtp_sock, dest);
        let bye = d.request("BYE", 2, "", "");
        let bye_ok = d.transact(&bye, "2 BYE");
        walked?;
        match bye_ok.as_deref().map(status) {
            Ok(Some(200)) => Ok(()),
            Ok(s) => Err(format!("BYE answered {s:?}")),
            Err(e) => Err(e.clone()),
        }
    }

    /// Sends silence and key presses, reads what hotline plays, until the
    /// time is up (Ok) or something unexpected happens (Err).
    fn walk(&self, d: &Dialog, sock: &UdpSocket, dest: SocketAddrV4) -> Result<(), String> {
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        d.sip.set_nonblocking(true).map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        let ssrc = fastrand::u32(..);
        let ts0 = fastrand::u32(..);
        let mut seq = fastrand::u16(..);
        let ts_at = |t: Instant| ts0.wrapping_add(((t - t0).as_nanos() * 8 / 1_000_000) as u32);
        let mut next_audio = t0;
        let mut audio_slot: u32 = 0;
        let mut presses: VecDeque<PressPacket> = VecDeque::new();
        let mut stage = Stage::Await {
            step: None,
            since: 0,
            kernel_tx: true,
            deadline: t0 + Duration::from_secs(5),
            others: 0,
        };
        let silence = [Law::Pcmu.silence(); SAMPLES];
        let mut pkt = Vec::with_capacity(rtp::HEADER_LEN + SAMPLES);
        let mut buf = [0u8; 2048];
        let rtp_fd = sock.as_raw_fd();
        let sip_fd = d.sip.as_raw_fd();
        loop {
            let now = Instant::now();
            if now >= self.stop_at {
                return Ok(());
            }
            // Keys due.
            while presses.front().is_some_and(|p| p.at <= now) {
                let Some(p) = presses.pop_front() else { break };
                pkt.clear();
                let header = RtpHeader {
                    marker: p.marker,
                    payload_type: DTMF_PT,
                    sequence: seq,
                    timestamp: p.timestamp,
                    ssrc,
                };
                seq = seq.wrapping_add(1);
                rtp::write(&header, &p.payload, &mut pkt);
                if p.measure {
                    let (since, kernel_tx) = send_stamped(sock, &pkt, dest);
                    let Stage::Pressing { step } = stage else {
                        return Err("key sent outside a press".into());
                    };
                    stage = Stage::Await {
                        step: Some(step),
                        since,
                        kernel_tx,
                        deadline: Instant::now() + PROMPT_WAIT,
                        others: 0,
                    };
                } else {
                    let _ = sock.send_to(&pkt, dest);
                }
            }
            // Silence, except while a key is down (its events replace audio).
            while next_audio <= now {
                if presses.is_empty() {
                    pkt.clear();
                    let header = RtpHeader {
                        marker: audio_slot == 0,
                        payload_type: 0,
                        sequence: seq,
                        timestamp: ts0.wrapping_add(audio_slot.wrapping_mul(SAMPLES as u32)),
                        ssrc,
                    };
                    seq = seq.wrapping_add(1);
                    rtp::write(&header, &silence, &mut pkt);
                    let _ = sock.send_to(&pkt, dest);
                }
                audio_slot = audio_slot.wrapping_add(1);
                next_audio += FRAME;
                let behind = now.saturating_duration_since(next_audio);
                if behind > Duration::from_millis(200) {
                    // Far behind (a stalled phone): no burst.
                    audio_slot = audio_slot.wrapping_add((behind.as_millis() / 20) as u32);
                    next_audio = now + FRAME;
                }
            }
            // The walk's own clock.
            match stage {
                Stage::Await { step, deadline, .. } if now > deadline => {
                    let what = step.map_or("welcome", |s| STEPS[s].prompt);
                    return Err(format!(
                        "{what} did not start within {} s",
                        PROMPT_WAIT.as_secs()
                    ));
                }
                Stage::Pause { step, until } if now >= until => {
                    let keys: Vec<char> = STEPS[step].keys.chars().collect();
                    for (k, &key) in keys.iter().enumerate() {
                        let start = now + Duration::from_millis(120) * k as u32;
                        let ts = ts_at(start);
                        for (i, (end, dur)) in [
                            (false, 160),
                            (false, 320),
                            (true, 480),
                            (true, 480),
                            (true, 480),
                        ]
                        .into_iter()
                        .enumerate()
                        {
                            presses.push_back(PressPacket {
                                at: start + FRAME * i as u32,
                                payload: encode_event(key, end, 10, dur).ok_or("not a DTMF key")?,
                                marker: i == 0,
                                timestamp: ts,
                                measure: k + 1 == keys.len() && i == 2,
                            });
                        }
                    }
                    stage = Stage::Pressing { step };
                }
                _ => {}
            }
            // Sleep until the next thing to send, or something arrives.
            let mut wake = next_audio.min(self.stop_at);
            if let Some(p) = presses.front() {
                wake = wake.min(p.at);
            }
            match stage {
                Stage::Await { deadline, .. } => wake = wake.min(deadline),
                Stage::Pause { until, .. } => wake = wake.min(until),
                Stage::Pressing { .. } => {}
            }
            let wait_ms = wake
                .saturating_duration_since(Instant::now())
                .as_micros()
                .div_ceil(1000) as i32;
            let mut fds = [
                sys::PollFd {
                    fd: rtp_fd,
                    events: sys::POLLIN,
                    revents: 0,
                },
                sys::PollFd {
                    fd: sip_fd,
                    events: sys::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfd entries.
            unsafe { sys::poll(fds.as_mut_ptr(), 2, wait_ms) };
            // SIP: hotline hanging up is a failed walk.
            if let Ok((n, _)) = d.sip.recv_from(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if msg.starts_with("BYE ") {
                    d.answer_ok(&msg);
                    return Err("hotline hung up".into());
                }
            }
            // RTP.
            while let Some((n, rx)) = recv_stamped(rtp_fd, &mut buf, 0) {
                let Stage::Await {
                    step,
                    since,
                    kernel_tx,
                    ref mut others,
                    ..
                } = stage
                else {
                    continue;
                };
                let Ok(p) = rtp::parse(&buf[..n]) else {
                    continue;
                };
                let rx = rx.unwrap_or_else(wall_ns);
                if step.is_some() && rx <= since {
                    continue; // sent before hotline had our key
                }
                let frames = match step {
                    Some(s) => &self.prompts.steps[s],
                    None => &self.prompts.welcome,
                };
                let found = if frames.first().is_some_and(|f| p.payload == f) {
                    Some(0)
                } else if p.header.marker {
                    frames.iter().position(|f| p.payload == f)
                } else {
                    None
                };
                let Some(skipped) = found else {
                    *others += 1;
                    if p.header.marker && step.is_some() {
                        let _ = self.reports.send(Report::UnexpectedMarker);
                    }
                    continue;
                };
                if let Some(s) = step {
                    let _ = self.reports.send(Report::Sample(Sample {
                        step: s,
                        ns: rx - since,
                        marker: p.header.marker,
                        skipped,
                        kernel_tx,
                        before_prompt: *others,
                    }));
                }
                let next = match step {
                    None => 0,
                    Some(s) if s + 1 == STEPS.len() => LOOP_TO,
                    Some(s) => s + 1,
                };
                stage = Stage::Pause {
                    step: next,
                    until: Instant::now() + Duration::from_millis(fastrand::u64(150..450)),
                };
            }
        }
    }
}

// ----- one condition --------------------------------------------------------------

#[derive(Default)]
struct Outcome {
    samples: Vec<Sample>,
    calls_ok: u64,
    failures: Vec<String>,
    unexpected_markers: u64,
    server_cpu: f64,
    sipp_cpu: f64,
    box_busy: f64,
    calls_up: (Option<u64>, Option<u64>),
}

fn run_phones(args: &Args, server: &Server, prompts: &Arc<Prompts>, sipp: Option<u32>) -> Outcome {
    let tck = clk_tck();
    let up_before = server.active_calls();
    let stop_at = Instant::now() + Duration::from_secs(args.secs);
    let (tx, rx) = mpsc::channel();
    let before = cpu_stamp(server.pid(), sipp);
    let mut threads = Vec::new();
    for id in 0..args.phones {
        let phone = Phone {
            server: server.sip,
            prompts: prompts.clone(),
            stop_at,
            reports: tx.clone(),
            id,
        };
        threads.push(std::thread::spawn(move || phone.run()));
        // Staggered, so the phones do not press in step.
        std::thread::sleep(Duration::from_millis(fastrand::u64(50..250)));
    }
    drop(tx);
    let mut out = Outcome::default();
    let mut up_during = None;
    let mut after = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Report::Sample(s)) => out.samples.push(s),
            Ok(Report::CallOk) => out.calls_ok += 1,
            Ok(Report::CallFailed(e)) => out.failures.push(e),
            Ok(Report::UnexpectedMarker) => out.unexpected_markers += 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        if up_during.is_none() && now + Duration::from_secs(args.secs / 2) >= stop_at {
            up_during = Some(server.active_calls());
        }
        if after.is_none() && now >= stop_at {
            after = Some(cpu_stamp(server.pid(), sipp));
        }
    }
    for t in threads {
        let _ = t.join();
    }
    let after = after.unwrap_or_else(|| cpu_stamp(server.pid(), sipp));
    let wall = (after.at - before.at).as_secs_f64().max(1e-3);
    out.server_cpu = (after.server - before.server) / tck / wall * 100.0;
    out.sipp_cpu = (after.sipp - before.sipp) / tck / wall * 100.0;
    out.box_busy = (after.busy - before.busy) / (after.total - before.total).max(1.0) * 100.0;
    out.calls_up = (up_before, up_during.flatten());
    out
}

/// Starts sipp with `n` concurrent calls of bench_audio.xml and waits
/// until hotline has them all up.
fn start_sipp(n: u32, hold: Duration, server: &Server, dir: &Path) -> (Child, String) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let wav = repo.join("tests/sipp/bench_pcmu.wav");
    let xml = std::fs::read_to_string(repo.join("tests/sipp/bench_audio.xml"))
        .expect("tests/sipp/bench_audio.xml");
    let xml = xml.replace("tests/sipp/bench_pcmu.wav", wav.to_str().expect("UTF-8"));
    let scenario = dir.join("bench_audio.xml");
    std::fs::write(&scenario, xml).expect("scenario copy");
    let rate = (n / 8).max(10);
    let argv: Vec<String> = vec![
        server.sip.to_string(),
        "-sf".into(),
        scenario.to_str().expect("UTF-8").into(),
        "-s".into(),
        NUMBER.into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-p".into(),
        free_port().to_string(),
        "-mp".into(),
        free_port().to_string(),
        "-r".into(),
        rate.to_string(),
        "-m".into(),
        n.to_string(),
        "-l".into(),
        (n + 10).to_string(),
        "-d".into(),
        hold.as_millis().to_string(),
        "-recv_timeout".into(),
        "10000".into(),
        "-nostdin".into(),
    ];
    let err = std::fs::File::create(dir.join("sipp.err")).expect("sipp log");
    let child = Command::new("sipp")
        .args(&argv)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::from(err))
        .spawn()
        .expect("sipp (Debian package sip-tester) is needed for the load");
    let deadline = Instant::now() + Duration::from_secs(u64::from(n / rate) + 30);
    while Instant::now() < deadline {
        if server.active_calls().unwrap_or(0) >= u64::from(n) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // Let the last set-ups settle.
    std::thread::sleep(Duration::from_secs(1));
    (child, format!("sipp {}", argv.join(" ")))
}

fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("a free port");
        let port = udp.local_addr().expect("port").port();
        if port.is_multiple_of(2) {
            return port;
        }
    }
}

// ----- report -------------------------------------------------------------------

fn ms(ns: i64) -> String {
    format!("{:.1}", ns as f64 / 1e6)
}

/// Count, median, p90, p99, max (nearest rank), over 100 ms.
fn stats(mut v: Vec<i64>) -> Option<(usize, i64, i64, i64, i64, usize)> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Some((
        v.len(),
        rank(0.5),
        rank(0.9),
        rank(0.99),
        v[v.len() - 1],
        v.iter().filter(|&&x| x > NOTICEABLE_NS).count(),
    ))
}

fn report(key: &str, name: &str, o: &Outcome) -> bool {
    println!("**{name}**");
    println!();
    println!(
        "| key → next prompt | count | min ms | median ms | p90 ms | p99 ms | max ms | > 100 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let row = |label: &str, v: Vec<i64>| {
        let min = v.iter().copied().min().unwrap_or(0);
        if let Some((n, p50, p90, p99, max, over)) = stats(v) {
            println!(
                "| {label} | {n} | {} | {} | {} | {} | {} | {over} |",
                ms(min),
                ms(p50),
                ms(p90),
                ms(p99),
                ms(max)
            );
        }
    };
    for (i, step) in STEPS.iter().enumerate() {
        row(
            step.label,
            o.samples
                .iter()
                .filter(|s| s.step == i)
                .map(|s| s.ns)
                .collect(),
        );
    }
    let immediate = |s: &&Sample| s.step != 0 && s.step != 3;
    row(
        "**no lookup** (`9`, `3`, `9` rows)",
        o.samples.iter().filter(immediate).map(|s| s.ns).collect(),
    );
    row(
        "**all keys**",
        o.samples.iter().map(|s| s.ns).collect::<Vec<_>>(),
    );
    let no_marker = o.samples.iter().filter(|s| !s.marker).count();
    let skipped = o.samples.iter().filter(|s| s.skipped > 0).count();
    let no_tx = o.samples.iter().filter(|s| !s.kernel_tx).count();
    let first_slot = o.samples.iter().filter(|s| s.before_prompt == 0).count();
    let worst_slot = o.samples.iter().map(|s| s.before_prompt).max().unwrap_or(0);
    println!();
    println!(
        "The prompt went out in the first packet hotline sent after the key in {first_slot} of {} \
         samples (at most {worst_slot} packets of the old prompt or silence came first).",
        o.samples.len()
    );
    println!(
        "Calls walked: {} ok, {} failed{}. Prompt starts without the marker bit: {no_marker}; \
         starting past their first frame: {skipped}; other marked packets while waiting: {}; \
         samples timed from the wall clock (no kernel transmit stamp): {no_tx}. \
         hotline calls up: {} before the phones, {} halfway through. \
         CPU over the window: hotline {:.0} % of one core, sipp {:.0} %, box busy {:.0} % of all cores.",
        o.calls_ok,
        o.failures.len(),
        if o.failures.is_empty() {
            String::new()
        } else {
            let mut f = o.failures.clone();
            f.sort();
            f.dedup();
            format!(" ({})", f.join("; "))
        },
        o.unexpected_markers,
        o.calls_up.0.map_or("?".into(), |n| n.to_string()),
        o.calls_up.1.map_or("?".into(), |n| n.to_string()),
        o.server_cpu,
        o.sipp_cpu,
        o.box_busy,
    );
    println!();
    let all = stats(o.samples.iter().map(|s| s.ns).collect());
    match all {
        Some((n, p50, p90, p99, max, over)) => {
            println!(
                "RESULT condition={key} samples={n} p50_ms={} p90_ms={} p99_ms={} max_ms={} over100={over} failed_calls={} server_cpu={:.0}",
                ms(p50),
                ms(p90),
                ms(p99),
                ms(max),
                o.failures.len(),
                o.server_cpu
            );
            println!();
            true
        }
        None => {
            println!(
                "RESULT condition={key} samples=0 failed_calls={}",
                o.failures.len()
            );
            println!();
            false
        }
    }
}

fn main() {
    let args = parse_args();
    let scratch = std::env::temp_dir().join(format!("hotline-ivr-latency-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let flows = scratch.join("flows");
    flows_copy(&flows);
    let prompts = Arc::new(Prompts {
        welcome: prompt_frames(&flows, "welcome"),
        steps: STEPS
            .iter()
            .map(|s| prompt_frames(&flows, s.prompt))
            .collect(),
    });
    let cmd: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load_avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let loads: Vec<String> = args.loads.iter().map(u32::to_string).collect();
    println!(
        "ivr_latency: `cargo bench --bench ivr_latency --{}{}` (in effect: --phones {} --secs {} --load {} \
         --rtp-ports {}) on {nproc} cores, load average at start {}",
        if cmd.is_empty() { "" } else { " " },
        cmd.join(" "),
        args.phones,
        args.secs,
        if loads.is_empty() {
            "0".to_owned()
        } else {
            loads.join(",")
        },
        args.rtp_ports,
        load_avg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "Each condition: {} phones walking the demo flow for {} s; key end (kernel TX stamp of its first RFC 4733 End) \
         → first packet of the next prompt (kernel RX stamp).",
        args.phones, args.secs
    );
    println!();

    let mut ok = true;
    {
        let server = Server::start(&args, &flows, &scratch.join("idle"));
        println!("Server: `{}`", server.command);
        println!();
        let o = run_phones(&args, &server, &prompts, None);
        ok &= report("idle", "idle", &o);
    }
    for &n in &args.loads {
        let dir = scratch.join(format!("load-{n}"));
        let server = Server::start(&args, &flows, &dir);
        let ramp = Duration::from_secs(u64::from(n / (n / 8).max(10)) + 5);
        let (mut sipp, sipp_cmd) =
            start_sipp(n, ramp + Duration::from_secs(args.secs + 60), &server, &dir);
        println!("Load: `{sipp_cmd}` (run from a scratch directory; the WAV path made absolute)");
        println!();
        let o = run_phones(&args, &server, &prompts, Some(sipp.id()));
        let sipp_alive = matches!(sipp.try_wait(), Ok(None));
        let _ = sipp.kill();
        let _ = sipp.wait();
        if !sipp_alive {
            println!(
                "(sipp had exited before the end of the window: see {}/sipp.err)",
                dir.display()
            );
        }
        ok &= report(
            &format!("load{n}"),
            &format!("{n} concurrent sipp audio calls"),
            &o,
        );
    }
    if args.keep {
        println!("Logs in {}", scratch.display());
    } else {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    if !ok {
        std::process::exit(1);
    }
}
