//! Shared test harness: starts the real `hotline` binary on free ports with
//! its own data directory, runs sipp against it, reads its records.
#![allow(dead_code)]

pub mod api;
pub mod browser;
pub mod db;
pub mod desk;
pub mod phone;
pub mod report_data;
pub mod screen;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A unique scratch directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hotline-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A port range for RTP that parallel test processes are unlikely to share
/// (a busy port is skipped by the server anyway).
pub fn rtp_range() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let slot = (std::process::id() * 7 + N.fetch_add(1, Ordering::Relaxed) * 13) % 300;
    let low = 30_000 + slot * 100;
    format!("{low}-{}", low + 99)
}

/// A running hotline server.
pub struct Server {
    child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    /// `None` when started with HTTPS off.
    pub https: Option<SocketAddr>,
    pub data: PathBuf,
    pub stdout_rest: std::thread::JoinHandle<Vec<String>>,
    /// The admin session [`Server::get`] sends.
    pub token: String,
}

/// The admin every test server has.
pub const TEST_USER: &str = "tester";
pub const TEST_PASSWORD: &str = "test-password-1";

/// A copy of the repository's ivr-flows folder in a scratch directory,
/// with `edit` applied to the demo flow's text. Tests run on a copy so
/// they can change it (hot reload) and so the time of day cannot matter.
pub fn flows_copy(edit: impl Fn(&str) -> String) -> PathBuf {
    let dir = temp_dir("flows");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows"),
        &dir,
    );
    let main = dir.join("hotline.toml");
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, edit(&text)).unwrap();
    dir
}

/// The demo flow, open around the clock (no business hours, no holidays).
pub fn always_open(text: &str) -> String {
    text.replace(
        "hours = { daily = \"08:00-20:00\" }",
        "hours = { daily = \"00:00-24:00\" }",
    )
    .replace("holidays = \"calendars/cn-2026.toml\"\n", "")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

impl Server {
    /// Starts `hotline serve` on the demo flow, open around the clock,
    /// with extra arguments, and waits for `ready`.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with_flows(&flows_copy(always_open), extra)
    }

    /// Starts `hotline serve` on the flows in `flows` with extra
    /// arguments, and waits for `ready`.
    pub fn start_with_flows(flows: &Path, extra: &[&str]) -> Server {
        let data = temp_dir("data");
        let rtp = rtp_range();
        // An admin to sign in as: the API wants a session on every route
        // but health. Made the way a newcomer makes the first admin.
        let database: Vec<&str> = extra
            .windows(2)
            .find(|w| w[0] == "--database")
            .map_or_else(Vec::new, |w| w.to_vec());
        let mut add = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .args(["user", "add", TEST_USER, "--role", "admin"])
            .args(["--data", data.to_str().unwrap()])
            .args(&database)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hotline user add");
        writeln!(add.stdin.take().unwrap(), "{TEST_PASSWORD}").unwrap();
        let out = add.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "hotline user add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["serve", "--sip", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(["--https", "127.0.0.1:0"])
            .args(["--data", data.to_str().unwrap(), "--rtp-ports", &rtp])
            .args(["--flows", flows.to_str().unwrap()])
            .args(extra)
            .env("HOTLINE_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(data.join("server.log")).unwrap(),
            ))
            .spawn()
            .expect("start hotline");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let ready = loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("ready") => break line,
                Some(Ok(_)) => {}
                _ => {
                    let log = std::fs::read_to_string(data.join("server.log")).unwrap_or_default();
                    panic!("hotline exited before ready:\n{log}");
                }
            }
            assert!(Instant::now() < deadline, "hotline not ready in time");
        };
        let sip = field(&ready, "udp+tcp ").parse().unwrap();
        let http = field(&ready, "http://").parse().unwrap();
        let https = ready
            .contains("https://")
            .then(|| field(&ready, "https://").parse().unwrap());
        let stdout_rest = std::thread::spawn(move || lines.map_while(Result::ok).collect());
        let login = format!(r#"{{"username":"{TEST_USER}","password":"{TEST_PASSWORD}"}}"#);
        let (status, body) = http_request(http, "POST", "/api/login", None, Some(&login));
        assert_eq!(status, 200, "login: {body}");
        let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        Server {
            child,
            sip,
            http,
            https,
            data,
            stdout_rest,
            token,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("server.log")).unwrap_or_default()
    }

    /// `GET path` on the HTTP API, signed in as an admin; returns
    /// (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_request(self.http, "GET", path, Some(&self.token), None)
    }

    /// `POST path` with a JSON body as the admin; the answer's JSON (the
    /// test fails on anything but a 2xx).
    pub fn post(&self, path: &str, body: &serde_json::Value) -> serde_json::Value {
        let (status, text) = http_request(
            self.http,
            "POST",
            path,
            Some(&self.token),
            Some(&body.to_string()),
        );
        assert!((200..300).contains(&status), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// An API session (bearer token) of `username`.
    pub fn sign_in(&self, username: &str, password: &str) -> String {
        let body = serde_json::json!({ "username": username, "password": password }).to_string();
        let (status, text) = http_request(self.http, "POST", "/api/login", None, Some(&body));
        assert_eq!(status, 200, "sign-in of {username}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["token"].as_str().unwrap().to_owned()
    }

    /// A new user of `role` (an outlet user gets an outlet of their own),
    /// signed in: their id and session.
    pub fn add_user(&self, name: &str, role: &str, password: &str) -> (i64, String) {
        let mut body = serde_json::json!({ "username": name, "display_name": name,
                                           "role": role, "password": password });
        if role == "outlet" {
            let outlet = self.post(
                "/api/outlets",
                &serde_json::json!({ "code": format!("T-{}", name.to_ascii_uppercase()), "name": format!("{name} 网点"),
                                     "tier": "city", "phone": "057100000001",
                                     "areas": ["浙江省杭州市"] }),
            );
            body["outlet_id"] = outlet["id"].clone();
        }
        let id = self.post("/api/users", &body)["id"].as_i64().unwrap();
        (id, self.sign_in(name, password))
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "hotline did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the API lists `n` calls that have ended.
    pub fn wait_for_ended_calls(&self, n: usize) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.get("/api/calls?limit=500");
            if status == 200 {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                let ended = v["calls"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| !c["ended_at"].is_null())
                    .count();
                if ended >= n {
                    return v;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{n} ended calls not recorded in time; last: {body}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn field<'a>(line: &'a str, after: &str) -> &'a str {
    let start = line
        .find(after)
        .unwrap_or_else(|| panic!("no `{after}` in {line}"))
        + after.len();
    let rest = &line[start..];
    let end = rest.find([',', ' ']).unwrap_or(rest.len());
    &rest[..end]
}

/// A minimal HTTP/1.1 GET without a session.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_request(addr, "GET", path, None, None)
}

/// A minimal HTTP/1.1 request (no client crate needed for tests), with a
/// bearer token and a JSON body when given.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    json: Option<&str>,
) -> (u16, String) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = json.unwrap_or("");
    if json.is_some() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    write!(s, "{head}\r\n{body}").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body_start = text.find("\r\n\r\n").map_or(text.len(), |i| i + 4);
    let head = &text[..body_start];
    let body = &text[body_start..];
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some(line_end) = body.find("\r\n") {
        let size = usize::from_str_radix(body[..line_end].trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.push_str(&body[start..start + size]);
        body = &body[start + size + 2..];
    }
    out
}

/// A caller with no open ticket walks the demo IVR to the agent queue:
/// Mandarin (1) in the welcome, then 0 in the main menu; returns once they
/// hear the queue's first prompt.
pub fn call_to_agent_queue(server: &Server, caller: &str) -> phone::Phone {
    let phone = phone::Phone::call(server.sip, caller);
    let hear = |prompt: &str| {
        let needle = phone::prompt_start(phone.law, "zh", prompt, 400);
        assert!(
            phone
                .wait_to_hear(&needle, Duration::from_secs(20))
                .is_some(),
            "{prompt} not heard\n{}",
            server.log()
        );
    };
    hear("welcome");
    phone.press("1");
    hear("main-menu");
    phone.press("0");
    hear("queue-agent");
    phone
}

/// Is sipp installed? Under CI=true its absence fails the test.
pub fn have_sipp() -> bool {
    have_tool("sipp", "-v", "sip-tester")
}

/// Is sox installed (`soxi`)? Under CI=true its absence fails the test.
pub fn have_sox() -> bool {
    have_tool("soxi", "-V0", "sox")
}

/// Whether `command arg` runs; under CI=true its absence fails the test,
/// otherwise the test says it skips.
fn have_tool(command: &str, arg: &str, package: &str) -> bool {
    let found = Command::new(command)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{command} (Debian package {package}) is required under CI"
        );
        eprintln!("SKIPPED: {command} is not installed (apt-get install {package})");
    }
    found
}

/// Runs sipp with a scenario from tests/sipp against `target`; returns its
/// exit status and its output.
pub fn sipp(scenario: &str, target: SocketAddr, args: &[&str]) -> (bool, String) {
    let dir = temp_dir("sipp");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(scenario);
    let out = Command::new("timeout")
        .arg("120")
        .arg("sipp")
        .arg(target.to_string())
        .arg("-sf")
        .arg(&scenario)
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args([
            "-p",
            &free_port().to_string(),
            "-mp",
            &free_port().to_string(),
        ])
        .args(["-s", "4008001234", "-nostdin"])
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("run sipp");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A sipp scenario: `caller` dials the 400 number, presses `keys` (each
/// after its pause, in ms) and hangs up `hold_ms` after the last key.
pub fn scenario(caller: &str, keys: &[(char, u64)], hold_ms: u64) -> std::path::PathBuf {
    let presses: String = keys
        .iter()
        .map(|(key, pause)| {
            let name = match key {
                '#' => "pound".to_owned(),
                '*' => "star".to_owned(),
                d => d.to_string(),
            };
            format!(
                "  <pause milliseconds=\"{pause}\"/>\n  <nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/dtmf_2833_{name}.pcap\"/></action></nop>\n"
            )
        })
        .collect();
    let from = format!(
        "From: \"Customer\" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag02[call_number]"
    );
    let contact = format!("Contact: <sip:{caller}@[local_ip]:[local_port];transport=[transport]>");
    let xml = format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="caller presses keys">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      {from}
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      {contact}
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=customer 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 0 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      {from}
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      {contact}
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
{presses}  <pause milliseconds="{hold_ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      {from}
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 BYE
      {contact}
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"#
    );
    let path = temp_dir("scenario").join("keys.xml");
    std::fs::write(&path, xml).unwrap();
    path
}

/// A zone whose local time is now around noon, so the campaign's window
/// (inside the legal 08:00-21:00) is open whenever the test runs.
pub fn noon_zone() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let utc_hour = i64::try_from((secs / 3600) % 24).unwrap();
    let offset = 12 - utc_hour;
    // Etc/GMT-N is UTC+N (POSIX signs).
    match offset {
        0 => "Etc/GMT".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

/// A configuration file for a server that dials out: `text` is its TOML,
/// with `{proxy}` standing for the carrier proxy's port and `{zone}` for
/// [`noon_zone`] (so a campaign's calling window is open whenever the test
/// runs).
pub fn campaign_config(text: &str, proxy: u16) -> PathBuf {
    let path = temp_dir("campaign-cfg").join("hotline.toml");
    // No OPTIONS keepalive: sipp playing the carrier would take one for a
    // call its scenario did not expect (tests/operations.rs covers it).
    let text = "[operations]\ntrunk_options_secs = 0\n".to_owned()
        + &text
            .replace("{proxy}", &proxy.to_string())
            .replace("{zone}", &noon_zone());
    std::fs::write(&path, text).unwrap();
    path
}

/// The SQLite store of a running test server, with a runtime to use it
/// from a plain test.
pub fn server_store(server: &Server) -> (tokio::runtime::Runtime, hotline::store::Store) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("sqlite://{}", server.data.join("hotline.db").display());
    let store = rt.block_on(hotline::store::Store::connect(&url)).unwrap();
    (rt, store)
}

/// A port that was free a moment ago (on UDP and TCP).
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        // sipp's media port +2 is used for video; keep it even-aligned.
        if port.is_multiple_of(2) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
