//! The server as a SIP peer sees it, from a small UDP phone written here:
//! the answers to what we do not do (403, 404, 405, 420, 481, 488, 501, 400),
//! OPTIONS pings, and the prompt audio checked sample by sample.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::Server;
use hotline::media::g711::Law;
use hotline::media::rtp;

/// A Call-ID and From tag, and the To header once the dialog exists.
struct Leg {
    call_id: String,
    from_tag: String,
    to: Option<String>,
}

struct Phone {
    sip: UdpSocket,
    rtp: UdpSocket,
    server: SocketAddr,
    n: u32,
}

impl Phone {
    fn new(server: SocketAddr) -> Phone {
        let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        sip.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        rtp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Phone {
            sip,
            rtp,
            server,
            n: 0,
        }
    }

    fn local(&self) -> SocketAddr {
        self.sip.local_addr().unwrap()
    }

    fn send(&self, text: &str) {
        self.sip.send_to(text.as_bytes(), self.server).unwrap();
    }

    /// A new call leg (Call-ID and From tag) for out-of-dialog requests.
    fn leg(&mut self) -> Leg {
        self.n += 1;
        Leg {
            call_id: format!("phone-{}-{}@test", self.n, std::process::id()),
            from_tag: format!("ph{}", self.n),
            to: None,
        }
    }

    /// A request on `leg` with the usual headers; `extra` lines and `body`
    /// appended. The branch is new each time.
    fn request(
        &mut self,
        method: &str,
        user: &str,
        leg: &Leg,
        cseq: u32,
        extra: &str,
        body: &str,
    ) -> String {
        self.n += 1;
        let me = self.local();
        let s = self.server;
        let to = leg
            .to
            .clone()
            .unwrap_or_else(|| format!("<sip:{user}@{s}>"));
        format!(
            "{method} sip:{user}@{s} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bKphone{n};rport\r\n\
             From: <sip:13900000000@{me}>;tag={tag}\r\n\
             To: {to}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {cseq_method}\r\n\
             Contact: <sip:13900000000@{me}>\r\n\
             Max-Forwards: 70\r\n{extra}\
             Content-Length: {len}\r\n\r\n{body}",
            n = self.n,
            tag = leg.from_tag,
            call_id = leg.call_id,
            cseq_method = method,
            len = body.len()
        )
    }

    /// An out-of-dialog request on a fresh leg.
    fn fresh(&mut self, method: &str, user: &str, extra: &str, body: &str) -> String {
        let leg = self.leg();
        self.request(method, user, &leg, 1, extra, body)
    }

    fn sdp(&self, formats: &str, rtpmaps: &str) -> String {
        let port = self.rtp.local_addr().unwrap().port();
        format!(
            "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP {formats}\r\n{rtpmaps}"
        )
    }

    /// The next final response (provisional ones are skipped).
    fn final_response(&self) -> String {
        let mut buf = [0u8; 65536];
        loop {
            let (n, _) = self.sip.recv_from(&mut buf).expect("a SIP response");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("SIP/2.0 1") {
                return text;
            }
        }
    }
}

fn status(resp: &str) -> u16 {
    resp[8..11].parse().unwrap()
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn requests_we_do_not_serve_get_clean_answers() {
    let server = Server::start(&[]);
    let mut phone = Phone::new(server.sip);

    let req = phone.fresh("OPTIONS", "4008001234", "", "");
    phone.send(&req);
    let resp = phone.final_response();
    assert_eq!(status(&resp), 200, "{resp}");
    assert!(header(&resp, "Allow").unwrap().contains("INVITE"), "{resp}");

    let sdp = phone.sdp("0", "");
    let req = phone.fresh(
        "INVITE",
        "4001112222",
        "Content-Type: application/sdp\r\n",
        &sdp,
    );
    phone.send(&req);
    assert_eq!(status(&phone.final_response()), 404);

    let sdp = phone.sdp("18", "a=rtpmap:18 G729/8000\r\n");
    let req = phone.fresh(
        "INVITE",
        "4008001234",
        "Content-Type: application/sdp\r\n",
        &sdp,
    );
    phone.send(&req);
    assert_eq!(status(&phone.final_response()), 488);

    let sdp = phone.sdp("0", "");
    let req = phone.fresh(
        "INVITE",
        "4008001234",
        "Require: 100rel, timer\r\nContent-Type: application/sdp\r\n",
        &sdp,
    );
    phone.send(&req);
    let resp = phone.final_response();
    assert_eq!(status(&resp), 420, "{resp}");
    assert!(
        header(&resp, "Unsupported").unwrap().contains("100rel"),
        "{resp}"
    );

    // Agents' phones register, with digest authentication.
    let req = phone.fresh("REGISTER", "4008001234", "", "");
    phone.send(&req);
    let resp = phone.final_response();
    assert_eq!(status(&resp), 401);
    assert!(
        header(&resp, "WWW-Authenticate").is_some_and(|h| h.starts_with("Digest ")),
        "{resp}"
    );

    let req = phone.fresh("SUBSCRIBE", "4008001234", "", "");
    phone.send(&req);
    let resp = phone.final_response();
    assert_eq!(status(&resp), 405);
    assert!(header(&resp, "Allow").is_some(), "{resp}");

    let req = phone.fresh("FROBNICATE", "4008001234", "", "");
    phone.send(&req);
    assert_eq!(status(&phone.final_response()), 501);

    let mut leg = phone.leg();
    leg.to = Some(format!("<sip:4008001234@{}>;tag=nosuchdialog", server.sip));
    let req = phone.request("BYE", "4008001234", &leg, 1, "", "");
    phone.send(&req);
    assert_eq!(status(&phone.final_response()), 481);

    // A request rsip cannot read: 400, naming nothing internal.
    let req = phone
        .fresh("INVITE", "4008001234", "", "")
        .replace("CSeq: 1 INVITE", "CSeq: one INVITE");
    phone.send(&req);
    assert_eq!(status(&phone.final_response()), 400);

    // 488 is a call to our number that we could not serve: it is recorded.
    let list = server.wait_for_ended_calls(1);
    assert_eq!(
        list["calls"][0]["hangup_cause"], "no-common-codec",
        "{list}"
    );
}

#[test]
fn a_source_outside_the_trunk_list_is_refused() {
    let dir = common::temp_dir("cfg");
    let cfg = dir.join("hotline.toml");
    std::fs::write(&cfg, "[trunk]\nallowed_sources = [\"192.0.2.1\"]\n").unwrap();
    let server = Server::start(&["--config", cfg.to_str().unwrap()]);
    let mut phone = Phone::new(server.sip);
    let sdp = phone.sdp("0", "");
    let req = phone.fresh(
        "INVITE",
        "4008001234",
        "Content-Type: application/sdp\r\n",
        &sdp,
    );
    phone.send(&req);
    assert_eq!(status(&phone.final_response()), 403);
    let (_, body) = server.get("/api/calls");
    assert_eq!(body, r#"{"calls":[]}"#);
}

/// Calls in, reads the RTP the server sends and finds the welcome prompt in
/// it, sample for sample, in packets numbered and timed without a gap.
fn prompt_arrives_intact(formats: &str, rtpmaps: &str, law: Law) {
    let server = Server::start(&[]);
    let mut phone = Phone::new(server.sip);
    let sdp = phone.sdp(formats, rtpmaps);
    let mut leg = phone.leg();
    let invite = phone.request(
        "INVITE",
        "4008001234",
        &leg,
        1,
        "Content-Type: application/sdp\r\n",
        &sdp,
    );
    phone.send(&invite);
    let ok = phone.final_response();
    assert_eq!(status(&ok), 200, "{ok}");
    assert!(ok.contains("a=rtpmap:101 telephone-event/8000"), "{ok}");
    leg.to = Some(header(&ok, "To").unwrap().to_owned());
    let ack = phone.request("ACK", "4008001234", &leg, 1, "", "");
    phone.send(&ack);

    let wav = hotline::rt::ivr::read_wav(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/ivr-flows/prompts/zh/welcome.wav"
    )))
    .unwrap();
    // What G.711 makes of the prompt: the samples a perfect caller hears.
    let expected: Vec<i16> = wav.iter().map(|&s| law.decode(law.encode(s))).collect();

    let mut buf = [0u8; 2048];
    let mut heard = Vec::new();
    let mut last: Option<(u16, u32)> = None;
    let mut started = false;
    let mut before_marker = 0;
    while heard.len() < 8000 * 2 {
        let (n, _) = phone.rtp.recv_from(&mut buf).expect("RTP from hotline");
        let p = rtp::parse(&buf[..n]).unwrap();
        assert_eq!(p.header.payload_type, law.payload_type());
        assert_eq!(p.payload.len(), 160, "20 ms of 8 kHz G.711");
        if let Some((seq, ts)) = last {
            assert_eq!(p.header.sequence, seq.wrapping_add(1), "sequence gap");
            assert_eq!(p.header.timestamp, ts.wrapping_add(160), "timestamp gap");
        }
        last = Some((p.header.sequence, p.header.timestamp));
        // The prompt starts on the packet with the marker bit.
        if !started {
            before_marker += 1;
        }
        started |= p.header.marker;
        if started {
            heard.extend(p.payload.iter().map(|&b| law.decode(b)));
        }
    }
    if let Some(i) = heard.iter().zip(&expected).position(|(a, b)| a != b) {
        panic!(
            "prompt samples differ from sample {i} (packet {}, {before_marker} packets up to the first marker): heard {:?}, expected {:?}",
            i / 160,
            &heard[i..(i + 8).min(heard.len())],
            &expected[i..i + 8]
        );
    }
    // Not silence: the welcome prompt is speech.
    assert!(heard.iter().map(|s| i64::from(*s).abs()).max().unwrap() > 3000);

    let bye = phone.request("BYE", "4008001234", &leg, 2, "", "");
    phone.send(&bye);
    assert_eq!(status(&phone.final_response()), 200);
    let list = server.wait_for_ended_calls(1);
    assert_eq!(list["calls"][0]["hangup_cause"], "caller-bye", "{list}");
}

#[test]
fn welcome_prompt_arrives_sample_for_sample_in_pcmu() {
    prompt_arrives_intact(
        "0 101",
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        Law::Pcmu,
    );
}

#[test]
fn welcome_prompt_arrives_sample_for_sample_in_pcma() {
    prompt_arrives_intact(
        "8 0 101",
        "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        Law::Pcma,
    );
}
