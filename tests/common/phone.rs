//! A small test phone over UDP: calls the hotline, hears what it plays,
//! presses keys (RFC 4733 or SIP INFO), talks, and hangs up. As a desk
//! phone ([`Phone::desk`]) it registers a user with digest authentication
//! and answers the hotline's INVITE ([`Phone::pick_up`]) instead.
//!
//! Three threads per call: one answers the server's SIP requests (its BYE)
//! and hands responses to the phone; one receives RTP and keeps every
//! sample heard with the packet's arrival time; one sends our RTP paced at
//! 20 ms (silence unless something is queued), so the server's inactivity
//! timer never ends a long test.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hotline::media::dtmf::{DtmfReceiver, encode_event};
use hotline::media::g711::Law;
use hotline::media::rtp::{self, RtpHeader};

/// The hotline's service number.
pub const NUMBER: &str = "4008001234";
/// The telephone-event payload type we offer.
const DTMF_PT: u8 = 101;
/// Samples in one 20 ms packet.
const FRAME: usize = 160;

/// What the phone has heard so far.
#[derive(Default)]
pub struct Heard {
    /// Decoded audio, in arrival order.
    pub samples: Vec<i16>,
    /// Per packet: the index of its first sample in `samples`, and when it arrived.
    pub packets: Vec<(usize, Instant)>,
    /// Key presses the server sent us as RFC 4733 telephone events (an
    /// agent's keypad), each once, in order, with the index in `samples`
    /// reached when its first End packet arrived.
    pub keys: Vec<(char, usize)>,
}

impl Heard {
    /// When the packet holding sample `i` arrived.
    pub fn arrival(&self, i: usize) -> Option<Instant> {
        let k = self.packets.partition_point(|&(start, _)| start <= i);
        self.packets.get(k.checked_sub(1)?).map(|&(_, at)| at)
    }
}

/// One RTP packet to send; its timestamp is that of the 20 ms slot it goes out in.
struct Packet {
    payload_type: u8,
    marker: bool,
    payload: Vec<u8>,
}

/// What the sender thread sends: one entry per 20 ms slot.
#[derive(Default)]
struct Outbox {
    slots: VecDeque<Vec<Packet>>,
    queued: u64,
    sent: u64,
}

pub struct Phone {
    sip: UdpSocket,
    server: SocketAddr,
    pub law: Law,
    pub caller: String,
    /// Our SIP Call-ID (the call record's `sip_call_id`).
    pub sip_call_id: String,
    from_tag: String,
    /// The To header of the dialog (with the server's tag).
    to: String,
    cseq: u32,
    branches: u32,
    /// Where the server wants its RTP, from its SDP answer.
    pub server_rtp: SocketAddr,
    responses: Receiver<String>,
    /// INVITEs the server sent us (a desk phone's calls).
    invites: Receiver<(String, SocketAddr)>,
    rtp_sock: Option<UdpSocket>,
    heard: Arc<Mutex<Heard>>,
    outbox: Arc<Mutex<Outbox>>,
    hung_up_by_server: Arc<AtomicBool>,
    /// Sequence numbers the sender skips before its next packet (lost
    /// packets, as the server sees them).
    skip: Arc<AtomicU16>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Phone {
    /// A phone of `caller` with its SIP and RTP sockets bound and its SIP
    /// thread running (answering the server's requests), no call yet.
    fn open(server: SocketAddr, caller: &str, law: Law) -> Phone {
        let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rtp_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sip.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        rtp_sock
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hung_up_by_server = Arc::new(AtomicBool::new(false));
        let (tx, responses) = mpsc::channel();
        let (invite_tx, invites) = mpsc::channel();
        let sip_thread = {
            let sock = sip.try_clone().unwrap();
            let (stop, bye) = (stop.clone(), hung_up_by_server.clone());
            thread::spawn(move || sip_loop(&sock, &tx, &invite_tx, &stop, &bye))
        };
        let n = std::process::id();
        let port = sip.local_addr().unwrap().port();
        Phone {
            sip,
            server,
            law,
            caller: caller.to_owned(),
            sip_call_id: format!("ivr-{n}-{port}@test"),
            from_tag: format!("t{port}"),
            to: format!("<sip:{NUMBER}@{server}>"),
            cseq: 1,
            branches: 0,
            server_rtp: server,
            responses,
            invites,
            rtp_sock: Some(rtp_sock),
            heard: Arc::default(),
            outbox: Arc::default(),
            hung_up_by_server,
            skip: Arc::default(),
            stop,
            threads: vec![sip_thread],
        }
    }

    /// Calls the hotline from `caller`, offering PCMU and telephone-event.
    pub fn call(server: SocketAddr, caller: &str) -> Phone {
        Phone::call_with(server, caller, Law::Pcmu)
    }

    /// Calls the hotline from `caller` offering `law` and telephone-event/101;
    /// returns once the call is answered and ACKed.
    pub fn call_with(server: SocketAddr, caller: &str, law: Law) -> Phone {
        let mut phone = Phone::open(server, caller, law);
        let rtp_sock = phone.rtp_sock.take().expect("the RTP socket");

        let pt = law.payload_type();
        let sdp = format!(
            "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {rtp} RTP/AVP {pt} {DTMF_PT}\r\na=rtpmap:{pt} {name}/8000\r\n\
             a=rtpmap:{DTMF_PT} telephone-event/8000\r\na=fmtp:{DTMF_PT} 0-15\r\na=sendrecv\r\n",
            rtp = rtp_sock.local_addr().unwrap().port(),
            name = law.encoding_name(),
        );
        let ok = phone.transact("INVITE", "Content-Type: application/sdp\r\n", &sdp);
        assert_eq!(status(&ok), 200, "INVITE answered: {ok}");
        phone.to = header(&ok, "To").expect("To in 200").to_owned();
        phone.server_rtp = sdp_address(body(&ok)).expect("RTP address in the SDP answer");
        let ack = phone.request("ACK", "", "");
        phone.sip.send_to(ack.as_bytes(), server).unwrap();

        let (heard, stop) = (phone.heard.clone(), phone.stop.clone());
        let rx = rtp_sock.try_clone().unwrap();
        phone
            .threads
            .push(thread::spawn(move || receive_loop(&rx, &heard, &stop)));
        let (outbox, stop, dest) = (phone.outbox.clone(), phone.stop.clone(), phone.server_rtp);
        let skip = phone.skip.clone();
        phone.threads.push(thread::spawn(move || {
            send_loop(&rtp_sock, dest, law, &outbox, &skip, &stop);
        }));
        phone
    }

    /// A desk phone for `user`: registers it with digest authentication
    /// (challenged, then answered) and waits for calls; [`Phone::pick_up`]
    /// answers the next one.
    pub fn desk(server: SocketAddr, user: &str, password: &str) -> Phone {
        let mut phone = Phone::open(server, user, Law::Pcmu);
        let me = phone.sip.local_addr().unwrap();
        phone.sip_call_id = format!("reg-{}-{}@desk", std::process::id(), me.port());
        phone.to = format!("<sip:{user}@hotline>");
        let register = |phone: &mut Phone, auth: &str| {
            phone.branches += 1;
            let text = format!(
                "REGISTER sip:{server} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {me};branch=z9hG4bKreg{port}x{b};rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:{user}@hotline>;tag={tag}\r\n\
                 To: <sip:{user}@hotline>\r\nCall-ID: {call_id}\r\n\
                 CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{me}>\r\n\
                 Expires: 3600\r\n{auth}Content-Length: 0\r\n\r\n",
                port = me.port(),
                b = phone.branches,
                tag = phone.from_tag,
                call_id = phone.sip_call_id,
                cseq = phone.cseq,
            );
            let cseq = format!("{} REGISTER", phone.cseq);
            phone.cseq += 1;
            phone.sip.send_to(text.as_bytes(), server).unwrap();
            loop {
                let resp = phone
                    .responses
                    .recv_timeout(Duration::from_secs(10))
                    .expect("an answer to REGISTER");
                if !resp.starts_with("SIP/2.0 1") && header(&resp, "CSeq") == Some(&cseq) {
                    return resp;
                }
            }
        };
        let challenge = register(&mut phone, "");
        assert_eq!(status(&challenge), 401, "{challenge}");
        let www = header(&challenge, "WWW-Authenticate").expect("a challenge");
        let param = |name: &str| {
            www.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_else(|| panic!("{name} in {www}"))
                .to_owned()
        };
        let (realm, nonce) = (param("realm"), param("nonce"));
        let uri = format!("sip:{server}");
        let mut creds = hotline::sip::digest::Credentials {
            username: user.into(),
            realm: realm.clone(),
            nonce: nonce.clone(),
            uri: uri.clone(),
            response: String::new(),
            algorithm: Some("MD5".into()),
            cnonce: Some("0a4f113b".into()),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
        };
        let ha1 = hotline::sip::digest::ha1(user, &realm, password);
        creds.response = hotline::sip::digest::response(&ha1, "REGISTER", &creds);
        let auth = format!(
            "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", \
             uri=\"{uri}\", response=\"{}\", algorithm=MD5, cnonce=\"0a4f113b\", \
             qop=auth, nc=00000001\r\n",
            creds.response
        );
        let ok = register(&mut phone, &auth);
        assert_eq!(status(&ok), 200, "{user}'s phone registers: {ok}");
        phone
    }

    /// A desk phone lifts the handset on the hotline's INVITE (waiting up
    /// to `within` for it): 200 with our SDP, then our RTP flows (silence
    /// until we talk) and theirs is heard.
    pub fn pick_up(&mut self, within: Duration) {
        let (invite, from) = self
            .invites
            .recv_timeout(within)
            .expect("the hotline rings this phone");
        let rtp_sock = self.rtp_sock.take().expect("one call per desk phone");
        self.sip_call_id = header(&invite, "Call-ID").expect("Call-ID").to_owned();
        self.server_rtp = sdp_address(body(&invite)).expect("RTP address in the offer");
        let me = self.sip.local_addr().unwrap();
        let mut ok = String::from("SIP/2.0 200 OK\r\n");
        for line in invite.lines().take_while(|l| !l.is_empty()) {
            let name = line.split(':').next().unwrap_or("").trim();
            if ["Via", "From", "Call-ID", "CSeq"]
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
            {
                ok.push_str(line);
                ok.push_str("\r\n");
            } else if name.eq_ignore_ascii_case("To") {
                ok.push_str(&format!("{line};tag=desk{}\r\n", me.port()));
            }
        }
        let sdp = format!(
            "v=0\r\no=desk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {rtp} RTP/AVP 0 {DTMF_PT}\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:{DTMF_PT} telephone-event/8000\r\na=sendrecv\r\n",
            rtp = rtp_sock.local_addr().unwrap().port(),
        );
        ok.push_str(&format!(
            "Contact: <sip:{}@{me}>\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            self.caller,
            sdp.len()
        ));
        self.sip.send_to(ok.as_bytes(), from).unwrap();
        let (heard, stop) = (self.heard.clone(), self.stop.clone());
        let rx = rtp_sock.try_clone().unwrap();
        self.threads
            .push(thread::spawn(move || receive_loop(&rx, &heard, &stop)));
        let (outbox, stop, dest, law) = (
            self.outbox.clone(),
            self.stop.clone(),
            self.server_rtp,
            self.law,
        );
        let skip = self.skip.clone();
        self.threads.push(thread::spawn(move || {
            send_loop(&rtp_sock, dest, law, &outbox, &skip, &stop);
        }));
    }

    /// Presses `keys` one after another as RFC 4733 events: per key three
    /// packets with the same timestamp (start with the marker bit, then two
    /// End packets), one key per 20 ms slot. Returns once all are sent.
    pub fn press(&self, keys: &str) {
        let slots = keys.chars().map(|key| {
            (0..3)
                .map(|i| Packet {
                    payload_type: DTMF_PT,
                    marker: i == 0,
                    payload: encode_event(key, i > 0, 10, FRAME as u16)
                        .unwrap_or_else(|| panic!("{key:?} is not a DTMF key"))
                        .to_vec(),
                })
                .collect()
        });
        self.send_slots(slots.collect());
    }

    /// Sends `samples` as our audio, 20 ms a packet in real time; returns
    /// once all are sent.
    pub fn talk(&self, samples: &[i16]) {
        let slots = samples.chunks(FRAME).map(|chunk| {
            let mut payload: Vec<u8> = chunk.iter().map(|&s| self.law.encode(s)).collect();
            payload.resize(FRAME, self.law.silence());
            vec![Packet {
                payload_type: self.law.payload_type(),
                marker: false,
                payload,
            }]
        });
        self.send_slots(slots.collect());
    }

    /// Queues `samples` as our audio, like [`Phone::talk`], and returns at
    /// once (the test does other things while the caller talks);
    /// [`Phone::stop_talking`] drops what is not sent yet.
    pub fn start_talking(&self, samples: &[i16]) {
        let mut out = self.outbox.lock().unwrap();
        for chunk in samples.chunks(FRAME) {
            let mut payload: Vec<u8> = chunk.iter().map(|&s| self.law.encode(s)).collect();
            payload.resize(FRAME, self.law.silence());
            out.queued += 1;
            out.slots.push_back(vec![Packet {
                payload_type: self.law.payload_type(),
                marker: false,
                payload,
            }]);
        }
    }

    /// Skips `n` sequence numbers before the next packet, as if `n`
    /// packets were lost on the way.
    pub fn skip_sequence_numbers(&self, n: u16) {
        self.skip.fetch_add(n, Ordering::Relaxed);
    }

    /// Drops the audio queued and not sent yet: silence from the next slot.
    pub fn stop_talking(&self) {
        let mut out = self.outbox.lock().unwrap();
        let dropped = out.slots.len() as u64;
        out.slots.clear();
        out.queued -= dropped;
    }

    fn send_slots(&self, slots: Vec<Vec<Packet>>) {
        let target = {
            let mut out = self.outbox.lock().unwrap();
            out.queued += slots.len() as u64;
            out.slots.extend(slots);
            out.queued
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.outbox.lock().unwrap().sent < target {
            assert!(Instant::now() < deadline, "RTP not sent in time");
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Presses `key` by SIP INFO (`application/dtmf-relay`); expects 200.
    pub fn info(&mut self, key: char) {
        let body = format!("Signal={key}\r\nDuration=160\r\n");
        let resp = self.transact("INFO", "Content-Type: application/dtmf-relay\r\n", &body);
        assert_eq!(status(&resp), 200, "INFO answered: {resp}");
    }

    /// Hangs up (BYE); expects 200.
    pub fn hang_up(&mut self) {
        let resp = self.transact("BYE", "", "");
        assert_eq!(status(&resp), 200, "BYE answered: {resp}");
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits until the server hangs up on us (its BYE, answered 200).
    pub fn wait_for_server_hangup(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while !self.hung_up_by_server.load(Ordering::Relaxed) {
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Everything heard so far (locks the receiver for as long as it is held).
    pub fn heard(&self) -> MutexGuard<'_, Heard> {
        self.heard.lock().unwrap()
    }

    /// The keys received as RFC 4733 events so far, in order.
    pub fn keys_heard(&self) -> String {
        self.heard().keys.iter().map(|&(k, _)| k).collect()
    }

    /// Waits until the keys received as RFC 4733 events are `keys`;
    /// returns what was received by then (compare it with `keys`).
    pub fn wait_for_keys(&self, keys: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let got = self.keys_heard();
            if got == keys || !keys.starts_with(&got) || Instant::now() > deadline {
                return got;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether `needle` has been heard, as an exact contiguous run.
    pub fn has_heard(&self, needle: &[i16]) -> bool {
        find(&self.heard().samples, needle).is_some()
    }

    /// Waits until `needle` has been heard; returns where it starts in
    /// [`Heard::samples`], or `None` after `within`.
    pub fn wait_to_hear(&self, needle: &[i16], within: Duration) -> Option<usize> {
        let deadline = Instant::now() + within;
        let mut from = 0;
        loop {
            {
                let heard = self.heard();
                let hay = &heard.samples[from..];
                if let Some(i) = find(hay, needle) {
                    return Some(from + i);
                }
                // The next search need not look again where no match can start.
                from += (hay.len() + 1).saturating_sub(needle.len());
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(40));
        }
    }

    /// A request in our dialog (new branch, current CSeq).
    fn request(&mut self, method: &str, extra: &str, body: &str) -> String {
        self.branches += 1;
        let me = self.sip.local_addr().unwrap();
        format!(
            "{method} sip:{NUMBER}@{server} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bKivr{port}x{b};rport\r\n\
             From: <sip:{caller}@{me}>;tag={tag}\r\n\
             To: {to}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:{caller}@{me}>\r\n\
             Max-Forwards: 70\r\n{extra}\
             Content-Length: {len}\r\n\r\n{body}",
            server = self.server,
            port = me.port(),
            b = self.branches,
            caller = self.caller,
            tag = self.from_tag,
            to = self.to,
            call_id = self.sip_call_id,
            cseq = self.cseq,
            len = body.len(),
        )
    }

    /// Sends a request and returns its final response (retransmitting on
    /// UDP's behalf if nothing comes back); the CSeq moves on afterwards.
    fn transact(&mut self, method: &str, extra: &str, body: &str) -> String {
        let req = self.request(method, extra, body);
        let cseq = format!("{} {method}", self.cseq);
        self.cseq += 1;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut resend = Instant::now();
        loop {
            if Instant::now() >= resend {
                self.sip.send_to(req.as_bytes(), self.server).unwrap();
                resend = Instant::now() + Duration::from_millis(500);
            }
            assert!(Instant::now() < deadline, "no final response to {method}");
            let Ok(resp) = self.responses.recv_timeout(Duration::from_millis(100)) else {
                continue;
            };
            let final_ = !resp.starts_with("SIP/2.0 1");
            if final_ && header(&resp, "CSeq").is_some_and(|c| c == cseq) {
                return resp;
            }
        }
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Answers the server's requests with 200 (noting a BYE) and passes
/// responses on.
fn sip_loop(
    sock: &UdpSocket,
    responses: &mpsc::Sender<String>,
    invites: &mpsc::Sender<(String, SocketAddr)>,
    stop: &AtomicBool,
    bye: &AtomicBool,
) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 ") {
            let _ = responses.send(text);
            continue;
        }
        if text.starts_with("BYE ") {
            bye.store(true, Ordering::Relaxed);
        }
        if text.starts_with("ACK ") {
            continue;
        }
        if text.starts_with("INVITE ") {
            // A desk phone's call: the phone answers it (once; a
            // retransmission finds nobody waiting).
            let _ = invites.send((text, from));
            continue;
        }
        let mut ok = String::from("SIP/2.0 200 OK\r\n");
        for line in text.lines().take_while(|l| !l.is_empty()) {
            let name = line.split(':').next().unwrap_or("").trim();
            if ["Via", "From", "To", "Call-ID", "CSeq"]
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
            {
                ok.push_str(line);
                ok.push_str("\r\n");
            }
        }
        ok.push_str("Content-Length: 0\r\n\r\n");
        let _ = sock.send_to(ok.as_bytes(), from);
    }
}

/// Decodes every audio packet from the server into `heard`, and the key
/// presses of its telephone-event packets (our payload type).
fn receive_loop(sock: &UdpSocket, heard: &Mutex<Heard>, stop: &AtomicBool) {
    let mut buf = [0u8; 2048];
    let mut dtmf = DtmfReceiver::new();
    while !stop.load(Ordering::Relaxed) {
        let Ok(n) = sock.recv(&mut buf) else {
            continue;
        };
        let at = Instant::now();
        let Ok(p) = rtp::parse(&buf[..n]) else {
            continue;
        };
        if p.header.payload_type == DTMF_PT {
            if let Ok(Some(press)) = dtmf.handle(&p.header, p.payload) {
                let mut heard = heard.lock().unwrap();
                let at_sample = heard.samples.len();
                heard.keys.push((press.digit, at_sample));
            }
            continue;
        }
        let Some(law) = Law::from_payload_type(p.header.payload_type) else {
            continue;
        };
        let mut heard = heard.lock().unwrap();
        let start = heard.samples.len();
        heard.packets.push((start, at));
        heard
            .samples
            .extend(p.payload.iter().map(|&c| law.decode(c)));
    }
}

/// Sends one slot every 20 ms: what is queued, else a packet of silence.
fn send_loop(
    sock: &UdpSocket,
    dest: SocketAddr,
    law: Law,
    outbox: &Mutex<Outbox>,
    skip: &AtomicU16,
    stop: &AtomicBool,
) {
    let ssrc = fastrand::u32(..);
    let mut sequence = fastrand::u16(..);
    let mut timestamp = fastrand::u32(..);
    let mut next = Instant::now();
    let mut bytes = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let slot = outbox.lock().unwrap().slots.pop_front();
        let queued = slot.is_some();
        let packets = slot.unwrap_or_else(|| {
            vec![Packet {
                payload_type: law.payload_type(),
                marker: false,
                payload: vec![law.silence(); FRAME],
            }]
        });
        sequence = sequence.wrapping_add(skip.swap(0, Ordering::Relaxed));
        for p in packets {
            let header = RtpHeader {
                marker: p.marker,
                payload_type: p.payload_type,
                sequence,
                timestamp,
                ssrc,
            };
            bytes.clear();
            rtp::write(&header, &p.payload, &mut bytes);
            let _ = sock.send_to(&bytes, dest);
            sequence = sequence.wrapping_add(1);
        }
        if queued {
            outbox.lock().unwrap().sent += 1;
        }
        timestamp = timestamp.wrapping_add(FRAME as u32);
        next += Duration::from_millis(20);
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// Where `needle` occurs in `hay` as an exact contiguous run.
pub fn find(hay: &[i16], needle: &[i16]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The first `n` samples of a prompt of the repository's demo flows, as a
/// caller hears them through `law` (encoded and decoded once).
pub fn prompt_start(law: Law, language: &str, name: &str, n: usize) -> Vec<i16> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ivr-flows/prompts")
        .join(language)
        .join(format!("{name}.wav"));
    let wav = hotline::rt::ivr::read_wav(&path).unwrap();
    assert!(
        wav.len() >= n,
        "{} has only {} samples",
        path.display(),
        wav.len()
    );
    wav[..n]
        .iter()
        .map(|&s| law.decode(law.encode(s)))
        .collect()
}

/// Energy at `hz` relative to all the energy of `samples` (Goertzel, 8 kHz):
/// near 1 for a pure tone at `hz`, near 0 without it.
pub fn share_of(samples: &[i16], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut total = 0.0;
    for &x in samples {
        let x = f64::from(x);
        total += x * x;
        let s0 = x + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    if total == 0.0 {
        return 0.0;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    2.0 * power / (samples.len() as f64 * total)
}

/// A sine tone at `hz`, `ms` long, 8 kHz.
pub fn tone(hz: f64, ms: u32) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| {
            let t = f64::from(i) / 8000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect()
}

/// The status code of a response.
pub fn status(resp: &str) -> u16 {
    resp.get(8..11).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// The value of the first `name` header.
pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The audio address of an SDP: the `c=` address and the `m=audio` port.
fn sdp_address(sdp: &str) -> Option<SocketAddr> {
    let ip = sdp
        .lines()
        .find_map(|l| l.trim().strip_prefix("c=IN IP4 "))?
        .trim();
    let port = sdp
        .lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?;
    format!("{ip}:{port}").parse().ok()
}
