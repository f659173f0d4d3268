//! What the load tools share: the few Linux calls std does not offer
//! (epoll, recvmsg with kernel receive timestamps, setsockopt), the
//! server's CPU and socket figures from /proc, and SIP header reading.
//! Included by `benches/rtp_load.rs` and `benches/acd_load.rs` with
//! `#[path]`; each uses part of it. `benches/webrtc_load.rs` includes it
//! too.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

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
