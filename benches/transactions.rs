//! Transaction-layer throughput: `N` calls (default 100 000) arrive at 1 000
//! per simulated second over UDP. Each is an incoming INVITE answered 200
//! (Accepted, Timer L = 32 s, so ~32 000 server transactions stay live), its
//! ACK 1 ms later, and one OPTIONS we send that the far end answers 200
//! (Timer K). As the engine does, `poll_timeout` is called after every input
//! and `handle_timeout` whenever it is due; on top of that, `RTP_POLLS`
//! extra `poll_timeout` calls per simulated millisecond stand for the media
//! packets that wake the runtime. Messages are parsed before timing starts.
//!
//! Run: `cargo bench --bench transactions [-- N]`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hotline::sip::transaction::{TimerConfig, TransactionLayer, TxEvent, TxOutput};
use hotline::sip::{Peer, Transport};

/// Extra `poll_timeout` calls per simulated millisecond (50 000 per second).
const RTP_POLLS: usize = 50;

fn parse_request(text: &str) -> rsip::Request {
    match rsip::SipMessage::try_from(text) {
        Ok(rsip::SipMessage::Request(r)) => r,
        other => panic!("bench request does not parse: {other:?}"),
    }
}

fn parse_response(text: &str) -> rsip::Response {
    match rsip::SipMessage::try_from(text) {
        Ok(rsip::SipMessage::Response(r)) => r,
        other => panic!("bench response does not parse: {other:?}"),
    }
}

struct Call {
    invite: rsip::Request,
    ok: rsip::Response,
    ack: rsip::Request,
    options: rsip::Request,
    options_ok: rsip::Response,
}

fn call(i: usize) -> Call {
    let dialog = format!(
        "From: <sip:caller@example.com>;tag=f{i}\r\n\
         Call-ID: call-{i}@example.com\r\n"
    );
    let invite_via = format!("Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinv{i};rport\r\n");
    let options_via = format!("Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKopt{i}\r\n");
    let to = "To: <sip:400@hotline.example>";
    Call {
        invite: parse_request(&format!(
            "INVITE sip:400@hotline.example SIP/2.0\r\n{invite_via}Max-Forwards: 70\r\n\
             {dialog}{to}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )),
        ok: parse_response(&format!(
            "SIP/2.0 200 OK\r\n{invite_via}{dialog}{to};tag=t{i}\r\n\
             CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )),
        ack: parse_request(&format!(
            "ACK sip:400@hotline.example SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKack{i};rport\r\nMax-Forwards: 70\r\n\
             {dialog}{to};tag=t{i}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        )),
        options: parse_request(&format!(
            "OPTIONS sip:caller@example.com SIP/2.0\r\n{options_via}Max-Forwards: 70\r\n\
             {dialog}{to};tag=t{i}\r\nCSeq: 2 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )),
        options_ok: parse_response(&format!(
            "SIP/2.0 200 OK\r\n{options_via}{dialog}{to};tag=t{i}\r\n\
             CSeq: 2 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )),
    }
}

struct Driver {
    layer: TransactionLayer,
    now: Instant,
    polls: u64,
    max_live: usize,
}

impl Driver {
    /// Drains the outputs; a new INVITE is answered 200 right away.
    fn drain(&mut self, ok: Option<&rsip::Response>) {
        while let Some(out) = self.layer.poll_output() {
            match out {
                TxOutput::Event(TxEvent::Request { key, .. }) => {
                    let ok = ok.expect("only INVITEs come in").clone();
                    self.layer.respond(self.now, &key, ok).expect("answer");
                }
                other => {
                    black_box(other);
                }
            }
        }
        self.poll();
    }

    /// What the runtime does after every input.
    fn poll(&mut self) {
        self.polls += 1;
        if let Some(at) = black_box(self.layer.poll_timeout())
            && at <= self.now
        {
            self.layer.handle_timeout(self.now);
            while let Some(out) = self.layer.poll_output() {
                black_box(out);
            }
        }
        self.max_live = self.max_live.max(self.layer.len());
    }
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let caller = Peer {
        addr: "192.0.2.1:5060".parse::<SocketAddr>().expect("address"),
        transport: Transport::Udp,
    };
    let far = Peer {
        addr: "198.51.100.1:5060".parse::<SocketAddr>().expect("address"),
        transport: Transport::Udp,
    };
    let mut calls: Vec<Option<Call>> = (0..n).map(|i| Some(call(i))).collect();
    let mut acks: Vec<Option<(rsip::Request, rsip::Response)>> = (0..n).map(|_| None).collect();

    let base = Instant::now();
    let mut d = Driver {
        layer: TransactionLayer::with_rng(TimerConfig::default(), fastrand::Rng::with_seed(1)),
        now: base,
        polls: 0,
        max_live: 0,
    };
    let started = Instant::now();
    // Millisecond i: call i arrives; call i-1 is ACKed and its OPTIONS answered.
    for ms in 0..=n {
        d.now = base + Duration::from_millis(ms as u64);
        d.poll();
        if let Some((ack, options_ok)) = ms.checked_sub(1).and_then(|p| acks[p].take()) {
            d.layer.handle_request(d.now, ack, caller).expect("ACK");
            d.drain(None);
            d.layer
                .handle_response(d.now, options_ok, far)
                .expect("200 OPTIONS");
            d.drain(None);
        }
        if let Some(c) = calls.get_mut(ms).and_then(Option::take) {
            d.layer
                .handle_request(d.now, c.invite, caller)
                .expect("INVITE");
            d.drain(Some(&c.ok));
            d.layer
                .send_request(d.now, c.options, far)
                .expect("OPTIONS");
            d.drain(None);
            acks[ms] = Some((c.ack, c.options_ok));
        }
        for _ in 0..RTP_POLLS {
            d.poll();
        }
    }
    // Let every transaction run out.
    let mut end = d.now;
    while let Some(at) = d.layer.poll_timeout() {
        end = at;
        d.now = at;
        d.poll();
    }
    let elapsed = started.elapsed();
    assert!(d.layer.is_empty(), "transactions leaked");
    println!(
        "{n} calls ({} transactions), {} polls, max {} live, {:.1} s simulated: {:.3} s wall, {:.0} ns per poll+input",
        2 * n,
        d.polls,
        d.max_live,
        (end - base).as_secs_f64(),
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / d.polls as f64,
    );
}
