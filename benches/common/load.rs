//! What the load tools share: the few Linux calls std does not offer
//! (epoll, recvmsg with kernel receive timestamps, setsockopt), the
//! server's CPU and socket figures from /proc, SIP header reading, and for
//! the tools that play agents, phones and a carrier (acd_load,
//! outbound_load) the HTTP client, the agents' sign-in and websocket with
//! kernel timestamps, SIP answers, tones and the pacing histogram, their
//! RTP sender, admin sign-in, socket set-up and problem list. The paced
//! RTP [`Pacer`], the SDP offer and the trunk's INVITE and in-dialog
//! requests serve rtp_load and webrtc_load too.
//! Included with `#[path]` by `benches/rtp_load.rs`, `acd_load.rs`,
//! `outbound_load.rs` and `webrtc_load.rs`; each uses part of it.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hotline::media::{g711, rtp};
use serde_json::{Value, json};
use tungstenite::WebSocket;

pub mod sys {
    use std::ffi::c_void;

    #[cfg_attr(target_arch = "x86_64", repr(C, packed))]
    #[cfg_attr(not(target_arch = "x86_64"), repr(C))]
    #[derive(Clone, Copy)]
    pub struct EpollEvent {
        pub events: u32,
        pub data: u64,
    }

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

    pub const EPOLL_CLOEXEC: i32 = 0o2_000_000;
    pub const EPOLL_CTL_ADD: i32 = 1;
    pub const EPOLLIN: u32 = 1;
    pub const SOL_SOCKET: i32 = 1;
    pub const SO_RCVBUF: i32 = 8;
    pub const SO_SNDBUF: i32 = 7;
    pub const SO_TIMESTAMPNS: i32 = 35;
    pub const MSG_DONTWAIT: i32 = 0x40;

    unsafe extern "C" {
        pub fn epoll_create1(flags: i32) -> i32;
        pub fn epoll_ctl(epfd: i32, op: i32, fd: i32, event: *mut EpollEvent) -> i32;
        pub fn epoll_wait(epfd: i32, events: *mut EpollEvent, max: i32, timeout: i32) -> i32;
        pub fn recvmsg(fd: i32, msg: *mut MsgHdr, flags: i32) -> isize;
        pub fn setsockopt(fd: i32, level: i32, name: i32, value: *const c_void, len: u32) -> i32;
        pub fn sysconf(name: i32) -> i64;
    }

    pub fn set_int_opt(fd: i32, name: i32, value: i32) -> bool {
        // SAFETY: a valid fd and a pointer to an i32 of the length given.
        unsafe {
            setsockopt(
                fd,
                SOL_SOCKET,
                name,
                (&raw const value).cast(),
                size_of::<i32>() as u32,
            ) == 0
        }
    }

    /// Watches `fd` for input on `epfd`, with `data` given back.
    pub fn watch(epfd: i32, fd: i32, data: u64) {
        let mut ev = EpollEvent {
            events: EPOLLIN,
            data,
        };
        // SAFETY: valid epoll fd, socket fd and event.
        unsafe { epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &raw mut ev) };
    }

    /// Clock ticks per second for /proc/<pid>/stat.
    pub fn clk_tck() -> f64 {
        // SAFETY: sysconf has no preconditions; 2 is _SC_CLK_TCK.
        let t = unsafe { sysconf(2) };
        if t > 0 { t as f64 } else { 100.0 }
    }

    /// One datagram or stream chunk with the kernel's receive timestamp
    /// (SO_TIMESTAMPNS must be on). `Err` as from the OS (WouldBlock too).
    pub fn recv_ts(fd: i32, buf: &mut [u8], flags: i32) -> std::io::Result<(usize, Option<i64>)> {
        let mut control = [0u64; 16];
        let mut iov = IoVec {
            base: buf.as_mut_ptr().cast(),
            len: buf.len(),
        };
        let mut msg = MsgHdr {
            name: std::ptr::null_mut(),
            namelen: 0,
            iov: &raw mut iov,
            iovlen: 1,
            control: control.as_mut_ptr().cast(),
            controllen: size_of_val(&control),
            flags: 0,
        };
        // SAFETY: msg points at live buffers of the lengths given.
        let len = unsafe { recvmsg(fd, &raw mut msg, flags) };
        if len < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((len as usize, kernel_timestamp(&control, msg.controllen)))
    }

    /// Like [`recv_ts`], with the datagram's source address (IPv4 or IPv6;
    /// `None` for another family). Used where the sender matters, as for
    /// a WebRTC peer, which checks where each datagram came from.
    pub fn recv_from_ts(
        fd: i32,
        buf: &mut [u8],
        flags: i32,
    ) -> std::io::Result<(usize, Option<std::net::SocketAddr>, Option<i64>)> {
        use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
        let mut control = [0u64; 16];
        // Room for a sockaddr_in6 (28 bytes) and more.
        let mut name = [0u8; 128];
        let mut iov = IoVec {
            base: buf.as_mut_ptr().cast(),
            len: buf.len(),
        };
        let mut msg = MsgHdr {
            name: name.as_mut_ptr().cast(),
            namelen: name.len() as u32,
            iov: &raw mut iov,
            iovlen: 1,
            control: control.as_mut_ptr().cast(),
            controllen: size_of_val(&control),
            flags: 0,
        };
        // SAFETY: msg points at live buffers of the lengths given.
        let len = unsafe { recvmsg(fd, &raw mut msg, flags) };
        if len < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let port = u16::from_be_bytes([name[2], name[3]]);
        // sa_family is host-endian: AF_INET = 2, AF_INET6 = 10.
        let from = match u16::from_ne_bytes([name[0], name[1]]) {
            2 => Some(SocketAddr::from((
                Ipv4Addr::new(name[4], name[5], name[6], name[7]),
                port,
            ))),
            10 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&name[8..24]);
                Some(SocketAddr::from((Ipv6Addr::from(a), port)))
            }
            _ => None,
        };
        Ok((
            len as usize,
            from,
            kernel_timestamp(&control, msg.controllen),
        ))
    }

    /// The SCM_TIMESTAMPNS control message, as nanoseconds since the epoch.
    fn kernel_timestamp(control: &[u64; 16], len: usize) -> Option<i64> {
        // cmsghdr: len (usize), level (i32), type (i32), then data at 16.
        let bytes: &[u8] = unsafe {
            // SAFETY: viewing the u64 array as bytes.
            std::slice::from_raw_parts(control.as_ptr().cast(), size_of_val(control))
        };
        let mut off = 0;
        while off + 16 <= len.min(bytes.len()) {
            let clen = usize::from_ne_bytes(bytes[off..off + 8].try_into().ok()?);
            let level = i32::from_ne_bytes(bytes[off + 8..off + 12].try_into().ok()?);
            let kind = i32::from_ne_bytes(bytes[off + 12..off + 16].try_into().ok()?);
            if clen < 16 {
                return None;
            }
            if level == SOL_SOCKET && kind == SO_TIMESTAMPNS && off + 32 <= bytes.len() {
                let sec = i64::from_ne_bytes(bytes[off + 16..off + 24].try_into().ok()?);
                let nsec = i64::from_ne_bytes(bytes[off + 24..off + 32].try_into().ok()?);
                return Some(sec * 1_000_000_000 + nsec);
            }
            off += clen.div_ceil(8) * 8;
        }
        None
    }
}

pub fn wall_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the whole line are 12 and 13 after the comm.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / sys::clk_tck())
}

/// Nanoseconds a process's threads spent runnable but waiting for a CPU
/// (/proc/<pid>/task/*/schedstat, second field): CPU contention.
pub fn run_queue_wait_ns(pid: u32) -> Option<u64> {
    let mut sum = 0u64;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = t.ok()?.path().join("schedstat");
        if let Ok(s) = std::fs::read_to_string(path) {
            sum += s
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Some(sum)
}

/// Datagrams the kernel dropped on a process's UDP sockets because their
/// receive buffers were full, since each socket was opened: (on `sip_port`,
/// on all others). The sockets are found by inode from /proc/<pid>/fd.
pub fn socket_drops(pid: u32, sip_port: u16) -> Option<(u64, u64)> {
    let mut inodes = std::collections::HashSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()? {
        let Ok(link) = std::fs::read_link(fd.ok()?.path()) else {
            continue;
        };
        if let Some(n) = link
            .to_str()
            .and_then(|l| l.strip_prefix("socket:["))
            .and_then(|l| l.strip_suffix(']'))
        {
            inodes.insert(n.to_owned());
        }
    }
    let (mut sip, mut other) = (0, 0);
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 13 || !inodes.contains(f[9]) {
                continue;
            }
            let port = f[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let drops: u64 = f[f.len() - 1].parse().unwrap_or(0);
            if port == Some(sip_port) {
                sip += drops;
            } else {
                other += drops;
            }
        }
    }
    Some((sip, other))
}

/// UDP receive-buffer overflows, machine-wide (/proc/net/snmp).
pub fn udp_rcvbuf_errors() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/net/snmp") else {
        return 0;
    };
    let mut lines = s.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Header value by name (or compact form), first occurrence.
pub fn header<'a>(head: &'a str, names: &[&str]) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        let k = k.trim();
        names
            .iter()
            .any(|n| k.eq_ignore_ascii_case(n))
            .then(|| v.trim())
    })
}

pub fn all_headers<'a>(head: &'a str, names: &[&str]) -> Vec<&'a str> {
    head.lines()
        .skip(1)
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(k, _)| names.iter().any(|n| k.trim().eq_ignore_ascii_case(n)))
        })
        .collect()
}

// ----- what the tools that play agents and phones share ---------------------

/// Pacing histograms: 1 µs bins up to this, then one overflow bin.
pub const HIST_US: usize = 200_000;

/// A process's resident memory (VmRSS) in KiB, and its open descriptors.
pub fn rss_and_fds(pid: u32) -> Option<(u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((rss, fds))
}

/// The non-idle share of the whole machine since `prev` (/proc/stat).
pub fn box_busy(prev: &mut Option<(u64, u64)>) -> Option<f64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = s
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    let out = prev.map(|(t0, i0)| {
        let dt = total.saturating_sub(t0).max(1) as f64;
        100.0 * (1.0 - idle.saturating_sub(i0) as f64 / dt)
    });
    *prev = Some((total, idle));
    out
}

pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let body = body.map(Value::to_string);
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(b) = &body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    if let Some(b) = &body {
        req.push_str(b);
    }
    s.write_all(req.as_bytes())
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let status: u16 = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {path}: not an HTTP answer"))?;
    let (head, mut rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut dechunked = String::new();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        while let Some((size, after)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 || after.len() < size {
                break;
            }
            dechunked.push_str(&after[..size]);
            rest = after[size..].trim_start_matches("\r\n");
        }
        rest = &dechunked;
    }
    let v = if rest.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(rest).unwrap_or_else(|_| Value::String(rest.to_owned()))
    };
    Ok((status, v))
}

/// An API request, tried again (up to 20 times, 100-400 ms apart) while
/// it answers 503: concurrent writes on SQLite can answer "database
/// unavailable" (see docs/benchmarks.md). `retries` counts the extra tries.
pub fn http_retry(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
    retries: &AtomicU64,
) -> Result<(u16, Value), String> {
    let mut tries = 0;
    loop {
        let (st, v) = http(addr, method, path, token, Some(body))?;
        if st != 503 || tries == 20 {
            return Ok((st, v));
        }
        tries += 1;
        retries.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(fastrand::u64(100..400)));
    }
}

/// One agent's user (created if missing) and session token.
pub fn agent_session(
    http_addr: SocketAddr,
    admin: &str,
    name: &str,
    password: &str,
    queue: &str,
    retries: &AtomicU64,
) -> Result<String, String> {
    let (st, v) = http_retry(
        http_addr,
        "POST",
        "/api/users",
        Some(admin),
        &json!({"username": name, "display_name": name, "role": "agent",
                "password": password, "queues": [queue]}),
        retries,
    )?;
    if st != 201 && st != 409 {
        return Err(format!("creating user {name}: {st} {v}"));
    }
    let (st, v) = http_retry(
        http_addr,
        "POST",
        "/api/login",
        None,
        &json!({"username": name, "password": password}),
        retries,
    )?;
    if st != 200 {
        return Err(format!(
            "signing in as {name}: {st} {v} (a user of that name with another password? try --agent-prefix)"
        ));
    }
    v["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no token for {name}: {v}"))
}

/// One second of a tone at -10 dBFS, mu-law: 50 frames of 160 bytes.
pub fn tone(hz: f64) -> Vec<u8> {
    (0..8000)
        .map(|n| {
            let x = (2.0 * std::f64::consts::PI * hz * f64::from(n) / 8000.0).sin();
            g711::ulaw_encode((x * 10_000.0) as i16)
        })
        .collect()
}

pub fn quantile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    s[((s.len() as f64 * p).ceil() as usize).clamp(1, s.len()) - 1]
}

/// |inter-arrival - 20 ms|, in 1 µs bins.
pub struct Hist {
    pub bins: Vec<u64>,
    pub n: u64,
    pub max_ns: i64,
}

impl Hist {
    pub fn new() -> Hist {
        Hist {
            bins: vec![0; HIST_US + 1],
            n: 0,
            max_ns: 0,
        }
    }

    pub fn add(&mut self, dev_ns: i64) {
        self.bins[((dev_ns / 1000) as usize).min(HIST_US)] += 1;
        self.n += 1;
        self.max_ns = self.max_ns.max(dev_ns);
    }

    pub fn clear(&mut self) {
        self.bins.iter_mut().for_each(|b| *b = 0);
        self.n = 0;
        self.max_ns = 0;
    }

    /// The p-quantile in ms.
    pub fn ms(&self, p: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let want = ((self.n as f64) * p).ceil().max(1.0) as u64;
        let mut acc = 0;
        for (us, &n) in self.bins.iter().enumerate() {
            acc += n;
            if acc >= want {
                return us as f64 / 1000.0;
            }
        }
        HIST_US as f64 / 1000.0
    }

    /// Share of intervals more than 2 ms off, in %.
    pub fn over_2ms(&self) -> f64 {
        self.bins[2000..].iter().sum::<u64>() as f64 * 100.0 / self.n.max(1) as f64
    }
}

/// The user part of the first `sip:user@` in `text`.
pub fn sip_user(text: &str) -> Option<&str> {
    let rest = text.split_once("sip:")?.1;
    let (user, _) = rest.split_once('@')?;
    Some(user)
}

/// A response to the request `head`: its Via, From, To (with `to_tag`
/// added if it has none), Call-ID and CSeq, then `extra` headers and `body`.
pub fn response(head: &str, status: &str, to_tag: &str, extra: &str, body: &str) -> String {
    let mut r = format!("SIP/2.0 {status}\r\n");
    for h in all_headers(head, &["Via", "v"]) {
        r.push_str(h);
        r.push_str("\r\n");
    }
    for name in [&["From", "f"][..], &["Call-ID", "i"], &["CSeq"]] {
        if let Some(h) = all_headers(head, name).first() {
            r.push_str(h);
            r.push_str("\r\n");
        }
    }
    if let Some(to) = header(head, &["To", "t"]) {
        if to.contains(";tag=") || to_tag.is_empty() {
            r.push_str(&format!("To: {to}\r\n"));
        } else {
            r.push_str(&format!("To: {to};tag={to_tag}\r\n"));
        }
    }
    r.push_str(extra);
    r.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    r
}

/// The RTP destination in an SDP body.
pub fn sdp_dest(body: &str) -> Option<SocketAddr> {
    let ip = body
        .lines()
        .find_map(|l| l.trim().strip_prefix("c=IN IP4 "))?
        .trim();
    let port = body
        .lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?;
    format!("{ip}:{port}").parse().ok()
}

/// A TCP stream read with `recvmsg`, so each read's kernel timestamp
/// (SO_TIMESTAMPNS: when the last segment read arrived) is kept.
#[derive(Debug)]
pub struct TsStream {
    pub sock: TcpStream,
    /// Wall-clock ns of the latest read's data.
    pub last_ns: i64,
    pub kernel: bool,
}

impl Read for TsStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let (n, ts) = sys::recv_ts(self.sock.as_raw_fd(), buf, 0)?;
        self.kernel = ts.is_some();
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

pub fn open_ws(http: SocketAddr, token: &str) -> Result<WebSocket<TsStream>, String> {
    open_ws_at(http, "/api/agent/ws", token)
}

/// A websocket on `path` (the agent's CTI socket, the wallboard), its
/// reads kernel-timestamped, non-blocking once open.
pub fn open_ws_at(
    http: SocketAddr,
    path: &str,
    token: &str,
) -> Result<WebSocket<TsStream>, String> {
    let sock = TcpStream::connect(http).map_err(|e| format!("connect {http}: {e}"))?;
    sock.set_nodelay(true).ok();
    sys::set_int_opt(sock.as_raw_fd(), sys::SO_TIMESTAMPNS, 1);
    let request = tungstenite::http::Request::builder()
        .uri(format!("ws://{http}{path}"))
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
    let stream = TsStream {
        sock,
        last_ns: 0,
        kernel: false,
    };
    let (ws, _) = tungstenite::client(request, stream).map_err(|e| format!("websocket: {e}"))?;
    ws.get_ref()
        .sock
        .set_nonblocking(true)
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

// ----- paced RTP we send -------------------------------------------------------

/// One stream the [`Pacer`] sends.
struct Paced {
    socket: Arc<UdpSocket>,
    dest: SocketAddr,
    /// Index of its tone in [`Pacer::new`]'s list.
    audio: usize,
    seq: u16,
    ts: u32,
    ssrc: u32,
    frame: usize,
    next: Instant,
}

/// Paces outgoing RTP streams of 20 ms PCMU frames (160 bytes): a stream's
/// frame n is due at its start + n × 20 ms, its payload the next 160 bytes
/// of its one-second tone (looped), the first frame marked. A stream that
/// falls more than 200 ms behind starts again from now instead of sending
/// a burst. A tool's sender thread starts and stops streams as its own
/// commands say, and calls [`Pacer::send_due`] then [`Pacer::sleep`] in a
/// loop.
pub struct Pacer<K> {
    tones: Vec<Vec<u8>>,
    streams: HashMap<K, Paced>,
    due: BinaryHeap<Reverse<(Instant, K)>>,
    pkt: Vec<u8>,
}

impl<K: Copy + Eq + Hash + Ord> Pacer<K> {
    /// A pacer with no streams; `tones` are what streams can send (each
    /// 8000 mu-law samples, as from [`tone`]).
    pub fn new(tones: Vec<Vec<u8>>) -> Pacer<K> {
        Pacer {
            tones,
            streams: HashMap::new(),
            due: BinaryHeap::new(),
            pkt: Vec::with_capacity(rtp::HEADER_LEN + 160),
        }
    }

    /// Starts stream `key` (again, if it runs) with its first frame due now:
    /// `tones[audio]` to `dest` from `socket`, with these first sequence
    /// number and timestamp and this SSRC.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        key: K,
        socket: Arc<UdpSocket>,
        dest: SocketAddr,
        audio: usize,
        seq: u16,
        ts: u32,
        ssrc: u32,
    ) {
        let now = Instant::now();
        self.streams.insert(
            key,
            Paced {
                socket,
                dest,
                audio,
                seq,
                ts,
                ssrc,
                frame: 0,
                next: now,
            },
        );
        self.due.push(Reverse((now, key)));
    }

    /// Stops stream `key`; its pending slot is dropped when it comes.
    pub fn stop(&mut self, key: K) {
        self.streams.remove(&key);
    }

    /// Sends every frame whose slot has come. Before each send `late` is
    /// told how long after its slot it goes out; after it, `sent` is told
    /// whether the send worked.
    pub fn send_due(&mut self, mut late: impl FnMut(Duration), mut sent: impl FnMut(bool)) {
        let now = Instant::now();
        while let Some(&Reverse((at, key))) = self.due.peek() {
            if at > now {
                break;
            }
            self.due.pop();
            // A stopped stream, or one started again: this entry is stale.
            let Some(s) = self.streams.get_mut(&key).filter(|s| s.next == at) else {
                continue;
            };
            late(now.saturating_duration_since(at));
            self.pkt.clear();
            let header = rtp::RtpHeader {
                marker: s.frame == 0,
                payload_type: 0,
                sequence: s.seq,
                timestamp: s.ts,
                ssrc: s.ssrc,
            };
            let off = (s.frame % 50) * 160;
            rtp::write(&header, &self.tones[s.audio][off..off + 160], &mut self.pkt);
            sent(s.socket.send_to(&self.pkt, s.dest).is_ok());
            s.seq = s.seq.wrapping_add(1);
            s.ts = s.ts.wrapping_add(160);
            s.frame += 1;
            s.next += Duration::from_millis(20);
            if now.saturating_duration_since(s.next) > Duration::from_millis(200) {
                s.next = now + Duration::from_millis(20); // far behind: resynchronise, no burst
            }
            self.due.push(Reverse((s.next, key)));
        }
    }

    /// Sleeps until the next slot, 5 ms at the most (std's sleep is
    /// nanosleep: a high-resolution timer).
    pub fn sleep(&self) {
        let wait = self
            .due
            .peek()
            .map_or(Duration::from_millis(5), |Reverse((at, _))| {
                at.saturating_duration_since(Instant::now())
            })
            .min(Duration::from_millis(5));
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// What acd_load's and outbound_load's main thread tells their sender.
pub enum SendCmd {
    /// Send `hz` (one of the sender's two tones) to `dest` from `socket`.
    Start {
        stream: u32,
        socket: Arc<UdpSocket>,
        dest: SocketAddr,
        hz: f64,
    },
    Stop {
        stream: u32,
    },
}

/// What [`sender`] counts, read by the main thread.
#[derive(Default)]
pub struct SendStats {
    pub sent: AtomicU64,
    pub errors: AtomicU64,
    /// Packets sent more than 1 ms / 5 ms after their slot.
    pub late_1ms: AtomicU64,
    pub late_5ms: AtomicU64,
    pub max_late_ns: AtomicI64,
}

/// The sender thread of acd_load and outbound_load: paces every started
/// stream (see [`Pacer`]) until `stop` or until `cmds` is closed. A stream
/// sends `tones[0]` if started with that frequency, else `tones[1]`;
/// stream `s` starts at sequence number `s`, timestamp `s × 7919` and
/// SSRC `ssrc_base ^ s`. Lateness and send results go to `stats`.
pub fn sender(
    cmds: mpsc::Receiver<SendCmd>,
    stop: Arc<AtomicBool>,
    stats: Arc<SendStats>,
    tones: [f64; 2],
    ssrc_base: u32,
) {
    let mut pacer = Pacer::new(vec![tone(tones[0]), tone(tones[1])]);
    loop {
        loop {
            match cmds.try_recv() {
                Ok(SendCmd::Start {
                    stream,
                    socket,
                    dest,
                    hz,
                }) => pacer.start(
                    stream,
                    socket,
                    dest,
                    usize::from(hz != tones[0]),
                    stream as u16,
                    stream.wrapping_mul(7919),
                    ssrc_base ^ stream,
                ),
                Ok(SendCmd::Stop { stream }) => pacer.stop(stream),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => return,
            }
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        pacer.send_due(
            |late| {
                if late > Duration::from_millis(1) {
                    stats.late_1ms.fetch_add(1, Ordering::Relaxed);
                    if late > Duration::from_millis(5) {
                        stats.late_5ms.fetch_add(1, Ordering::Relaxed);
                    }
                }
                stats
                    .max_late_ns
                    .fetch_max(late.as_nanos() as i64, Ordering::Relaxed);
            },
            |ok| {
                if ok {
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                } else {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                }
            },
        );
        pacer.sleep();
    }
}

// ----- the run around the measurements (acd_load, outbound_load) -----------------

/// Signs in as the admin (`admin` is user and password) and gives the
/// session token; the error says what went wrong, for the tool to die with.
pub fn admin_login(http_addr: SocketAddr, admin: &(String, String)) -> Result<String, String> {
    let (st, v) = http(
        http_addr,
        "POST",
        "/api/login",
        None,
        Some(&json!({"username": admin.0, "password": admin.1})),
    )
    .map_err(|e| format!("is hotline running? {e}"))?;
    if st != 200 {
        return Err(format!("admin sign-in: {st} {v}"));
    }
    Ok(v["token"].as_str().unwrap_or("").to_owned())
}

/// Readies the two SIP sockets of a tool that plays a trunk (or carrier)
/// and the agents' phones: 4 MiB buffers, kernel receive timestamps,
/// non-blocking. Gives two new epolls: the control one, watching each
/// socket with the token paired with it, and an empty one for the RTP
/// receiver.
pub fn sip_sockets_and_epolls(socks: [(&UdpSocket, u64); 2]) -> (i32, i32) {
    for (s, _) in socks {
        sys::set_int_opt(s.as_raw_fd(), sys::SO_RCVBUF, 4 << 20);
        sys::set_int_opt(s.as_raw_fd(), sys::SO_SNDBUF, 4 << 20);
        sys::set_int_opt(s.as_raw_fd(), sys::SO_TIMESTAMPNS, 1);
        s.set_nonblocking(true).unwrap();
    }
    // SAFETY: plain syscalls.
    let (ep, rx_ep) = unsafe {
        (
            sys::epoll_create1(sys::EPOLL_CLOEXEC),
            sys::epoll_create1(sys::EPOLL_CLOEXEC),
        )
    };
    assert!(ep >= 0 && rx_ep >= 0, "epoll_create1 failed");
    for (s, token) in socks {
        sys::watch(ep, s.as_raw_fd(), token);
    }
    (ep, rx_ep)
}

/// What went wrong in a run, by kind: (kind, how often, the first details).
pub type ProblemList = Vec<(String, u64, Vec<String>)>;

/// Counts a problem of `kind`, keeping its first 5 details; the first of
/// each kind is printed to stderr as it happens.
pub fn note_problem(problems: &mut ProblemList, kind: &str, detail: String) {
    if let Some(p) = problems.iter_mut().find(|p| p.0 == kind) {
        p.1 += 1;
        if p.2.len() < 5 {
            p.2.push(detail);
        }
    } else {
        eprintln!("  problem: {kind}: {detail}");
        problems.push((kind.to_owned(), 1, vec![detail]));
    }
}

/// The last lines of a run: the event counts (sorted), then every
/// problem with its kept details, or "problems: none".
pub fn print_counts_and_problems(counts: &HashMap<String, u64>, problems: &ProblemList) {
    let mut counts: Vec<_> = counts.iter().collect();
    counts.sort();
    println!("counts: {counts:?}");
    if problems.is_empty() {
        println!("problems: none");
    } else {
        println!("problems:");
        for (kind, n, examples) in problems {
            println!("  {kind}: {n}");
            for e in examples {
                println!("    {e}");
            }
        }
    }
}

/// If `head` (with Call-ID `cid`) answers one of our REGISTERs, whose
/// Call-IDs are `reg-{run}-{i}@…` for agent `i` below `agents`: that `i`,
/// the status code (0 if unreadable) and the CSeq number (0 likewise).
pub fn register_answer(
    head: &str,
    cid: &str,
    run: u64,
    agents: usize,
) -> Option<(usize, u16, u32)> {
    let status = head.strip_prefix("SIP/2.0 ")?;
    let prefix = format!("reg-{run}-");
    let i = cid
        .strip_prefix(prefix.as_str())
        .and_then(|r| r.split('@').next())
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&i| i < agents)?;
    let code: u16 = status.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
    let cseq: u32 = header(head, &["CSeq"])
        .and_then(|c| c.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Some((i, code, cseq))
}

// ----- what a trunk sends ------------------------------------------------------

/// Sign changes in a PCMU payload (in 20 ms: 16 for 400 Hz, 40 for 1 kHz).
pub fn crossings(payload: &[u8]) -> u32 {
    let mut last = None;
    let mut n = 0;
    for &b in payload {
        let positive = g711::ulaw_decode(b) >= 0;
        if last.is_some_and(|l| l != positive) {
            n += 1;
        }
        last = Some(positive);
    }
    n
}

/// An SDP offer or answer of PCMU and telephone-event, 20 ms packets, to
/// `127.0.0.1:port`; its origin line names `user` and `session`.
pub fn sdp_offer(user: &str, session: impl std::fmt::Display, port: u16) -> String {
    format!(
        "v=0\r\no={user} {session} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

/// A trunk's INVITE of `number` at `server`, sent from `me` with Via
/// branch `branch`: From `from` (tag and all), Call-ID `call_id`, CSeq 1,
/// Contact `<sip:{contact_user}@{me}>`, the SDP `sdp`.
#[allow(clippy::too_many_arguments)]
pub fn invite_text(
    number: &str,
    server: SocketAddr,
    me: SocketAddr,
    branch: &str,
    from: &str,
    call_id: &str,
    contact_user: &str,
    sdp: &str,
) -> String {
    format!(
        "INVITE sip:{number}@{server} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch={branch};rport\r\n\
         From: {from}\r\n\
         To: <sip:{number}@{server}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:{contact_user}@{me}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{sdp}",
        len = sdp.len(),
    )
}

/// A trunk's bodiless request `method` (BYE, ACK…) in a call it placed:
/// to `target` (the 200's Contact), from `me` with Via branch `branch`,
/// with the dialog's From, To (the 200's, server tag and all), Call-ID
/// and this CSeq number.
#[allow(clippy::too_many_arguments)]
pub fn in_dialog_text(
    method: &str,
    target: &str,
    me: SocketAddr,
    branch: &str,
    from: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
) -> String {
    format!(
        "{method} {target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch={branch};rport\r\n\
         From: {from}\r\n\
         To: {to}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}
