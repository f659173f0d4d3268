//! Call recording end to end, against the real binary: our test phone is
//! the caller (a 440 Hz voice), a sipp desk phone is the agent (its 1 kHz
//! tone), the agent's screen pauses and resumes the recording. The file
//! is fetched through the API as QA would and read back with hound and
//! sox: the caller on the left, the agent on the right, as long as the
//! call, silent while paused. Then the access rules, Range requests and
//! hostile call ids; and a server killed with SIGKILL mid-call, whose
//! recording the next start repairs and marks cut off.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::desk::DeskPhone;
use common::phone::{Phone, prompt_start, share_of, tone};
use common::screen::Screen;
use common::{Server, have_sipp, have_sox, http_request};
use serde_json::{Value, json};

const CALLER: &str = "13912340001";
const PASSWORD: &str = "agent-password-1";
const SIG: usize = 400;

/// A GET with an optional Range; (status, head, body bytes).
fn get_bytes(
    addr: SocketAddr,
    path: &str,
    token: &str,
    range: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n"
    );
    if let Some(r) = range {
        head.push_str(&format!("Range: {r}\r\n"));
    }
    write!(s, "{head}\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, head, raw[split..].to_vec())
}

fn call_record(server: &Server, id: &str) -> Value {
    let (status, body) = server.get(&format!("/api/calls/{id}"));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn wait_for_recording(server: &Server, id: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let call = call_record(server, id);
        if call["recording"]["state"] == state {
            return call;
        }
        assert!(
            Instant::now() < deadline,
            "recording of {id} not {state}: {call}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The left and right channels of a stereo WAV.
fn channels(wav: &[u8]) -> (hound::WavSpec, Vec<i16>, Vec<i16>) {
    let mut reader = hound::WavReader::new(std::io::Cursor::new(wav)).expect("a WAV file");
    let spec = reader.spec();
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let left = samples.iter().step_by(2).copied().collect();
    let right = samples.iter().skip(1).step_by(2).copied().collect();
    (spec, left, right)
}

/// Sample index of wall time `at` in a recording that started at `start`.
fn at(start: i64, at: i64) -> usize {
    usize::try_from((at - start) * 8).unwrap_or(0)
}

fn event_at(call: &Value, kind: &str) -> i64 {
    call["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event in {call}"))["at"]
        .as_i64()
        .unwrap()
}

/// Duration in seconds as sox reads the file.
fn sox_seconds(path: &Path) -> f64 {
    let out = Command::new("soxi")
        .arg("-D")
        .arg(path)
        .output()
        .expect("soxi");
    assert!(
        out.status.success(),
        "sox cannot read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn the_caller_is_left_the_agent_right_a_pause_is_silent_and_only_the_right_people_listen() {
    if !have_sipp() || !have_sox() {
        return;
    }
    let server = Server::start(&[]);
    let (ann, ann_token) = server.add_user("ann", "agent", PASSWORD);
    let (_bob, bob_token) = server.add_user("bob", "agent", PASSWORD);
    let (_qa, qa_token) = server.add_user("quinn", "qa", PASSWORD);
    let (_tech, outlet_token) = server.add_user("tech", "outlet", PASSWORD);

    let mut screen = Screen::open(&server, &ann_token);
    screen.wait("hello", Duration::from_secs(5));
    let phone = DeskPhone::register(&server, "ann", PASSWORD, "agent_phone_tone.xml", false);
    assert_eq!(
        screen.command("r", json!({ "type": "ready" }))["type"],
        "ok"
    );

    let mut caller = common::call_to_agent_queue(&server, CALLER);
    let offered = screen.wait("offered", Duration::from_secs(10));
    let id = offered["call"]["id"].as_str().unwrap().to_owned();
    screen.wait("answered", Duration::from_secs(10));
    // The caller talks (440 Hz) over the agent's 1 kHz: 2 s, a 1.5 s
    // pause, 1.5 s more.
    caller.start_talking(&tone(440.0, 8000));
    std::thread::sleep(Duration::from_millis(2000));
    let before = screen.seen.len();
    let paused = screen.command("p", json!({ "type": "pause_recording", "call": id }));
    assert_eq!(paused["type"], "ok", "{paused}");
    let note = screen.wait_from(before, "recording", Duration::from_secs(2));
    assert_eq!(
        (note["paused"].as_bool(), note["by"].as_str()),
        (Some(true), Some(format!("agent {ann}").as_str()))
    );
    std::thread::sleep(Duration::from_millis(1500));
    screen.command("q", json!({ "type": "resume_recording", "call": id }));
    std::thread::sleep(Duration::from_millis(1500));
    // A supervisor pauses it through the API; the agent's page hears who.
    let pause = format!("/api/calls/{id}/recording/pause");
    let before = screen.seen.len();
    let (status, body) = http_request(
        server.http,
        "POST",
        &pause,
        Some(&server.token),
        Some(r#"{"paused": true}"#),
    );
    assert_eq!(status, 204, "{body}");
    let note = screen.wait_from(before, "recording", Duration::from_secs(2));
    assert_eq!(note["by"], "admin tester", "{note}");
    let (status, _) = http_request(
        server.http,
        "POST",
        &pause,
        Some(&bob_token),
        Some(r#"{"paused": false}"#),
    );
    assert_eq!(status, 403, "not Bob's call");
    let (status, _) = http_request(
        server.http,
        "POST",
        "/api/calls/nope/recording/pause",
        Some(&server.token),
        Some(r#"{"paused": false}"#),
    );
    assert_eq!(status, 404);
    let (status, _) = http_request(
        server.http,
        "POST",
        &pause,
        Some(&server.token),
        Some(r#"{"paused": false}"#),
    );
    assert_eq!(status, 204);
    caller.hang_up();
    screen.wait("ended", Duration::from_secs(5));
    assert!(
        phone.finished(Duration::from_secs(10)),
        "ann's phone saw the BYE"
    );

    let call = wait_for_recording(&server, &id, "complete");
    let rec = &call["recording"];
    assert_eq!(rec["agents"], json!([ann]), "{rec}");
    let start = rec["started_at"].as_i64().unwrap();
    let duration = rec["duration_ms"].as_i64().unwrap();
    let call_ms = call["ended_at"].as_i64().unwrap() - call["answered_at"].as_i64().unwrap();
    assert!(
        (duration - call_ms).abs() <= 40,
        "recording {duration} ms, call {call_ms} ms"
    );

    // QA fetches it: the file of the record, by its hash.
    let path = format!("/api/calls/{id}/recording");
    let (status, head, wav) = get_bytes(server.http, &path, &qa_token, None);
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: audio/wav"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains("accept-ranges: bytes"),
        "{head}"
    );
    assert_eq!(wav.len() as i64, rec["bytes"].as_i64().unwrap());
    let sha = sha_hex(&wav);
    assert_eq!(rec["sha256"], sha.as_str());
    let (spec, left, right) = channels(&wav);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    assert!((left.len() as i64 * 1000 / 8000 - duration).abs() <= 1);
    let files = walk(&server.data.join("recordings"));
    assert_eq!(files.len(), 1, "one file: {files:?}");
    assert!(
        files[0].to_string_lossy().ends_with(&format!("{id}.wav")),
        "{files:?}"
    );
    let sox = sox_seconds(&files[0]);
    assert!(
        (sox * 1000.0 - duration as f64).abs() < 2.0,
        "sox reads {sox} s"
    );

    // The IVR's welcome is on the right where the call began, sample for
    // sample (the recording takes what we send before it is encoded).
    let welcome = hotline::rt::ivr::read_wav(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows/prompts/zh/welcome.wav"),
    )
    .unwrap();
    let at_welcome = common::phone::find(&right[..16_000], &welcome[..SIG]);
    assert!(
        at_welcome.is_some_and(|i| i < 800),
        "the welcome prompt opens the right channel: {at_welcome:?}"
    );

    // While talking: the caller on the left, the agent on the right.
    let answered = event_at(&call, "agent-answered");
    let pause = event_at(&call, "recording-paused");
    let resume = event_at(&call, "recording-resumed");
    let talk = &left[at(start, answered) + 4000..at(start, pause) - 800];
    assert!(
        share_of(talk, 440.0) > 0.8,
        "left: {}",
        share_of(talk, 440.0)
    );
    let agent = &right[at(start, answered) + 4000..at(start, pause) - 800];
    assert!(
        share_of(agent, 1000.0) > 0.8,
        "right: {}",
        share_of(agent, 1000.0)
    );
    assert!(share_of(talk, 1000.0) < 0.05, "no agent on the left");
    assert!(share_of(agent, 440.0) < 0.05, "no caller on the right");
    // Paused: silence on both, to the sample of the timeline's events.
    let (p, r) = (at(start, pause), at(start, resume));
    assert!(r - p > 11_000, "{p}..{r}");
    assert!(
        left[p + 8..r - 8].iter().all(|s| *s == 0) && right[p + 8..r - 8].iter().all(|s| *s == 0),
        "the paused span is silence"
    );
    let after = &left[r + 1600..r + 8000];
    assert!(
        share_of(after, 440.0) > 0.8,
        "recording again after the resume"
    );

    // Range: a seek gets 206 with its part; out of bounds 416; bad 400.
    let (status, head, part) = get_bytes(server.http, &path, &qa_token, Some("bytes=44-1043"));
    assert_eq!(status, 206, "{head}");
    assert!(
        head.contains(&format!("bytes 44-1043/{}", wav.len())),
        "{head}"
    );
    assert_eq!(part, wav[44..1044]);
    let (status, _, tail) = get_bytes(server.http, &path, &qa_token, Some("bytes=-100"));
    assert_eq!((status, tail.as_slice()), (206, &wav[wav.len() - 100..]));
    let beyond = format!("bytes={}-", wav.len());
    let (status, head, _) = get_bytes(server.http, &path, &qa_token, Some(&beyond));
    assert_eq!(status, 416);
    assert!(head.contains(&format!("bytes */{}", wav.len())), "{head}");
    for bad in ["bytes=abc", "bytes=5-1", "bytes=0-1,4-5", "pages=1-2"] {
        let (status, _, _) = get_bytes(server.http, &path, &qa_token, Some(bad));
        assert_eq!(status, 400, "{bad}");
    }

    // Who may listen: Ann (her call), not Bob, never an outlet.
    let (status, _, mine) = get_bytes(server.http, &path, &ann_token, None);
    assert_eq!((status, mine.len()), (200, wav.len()));
    let (status, _, _) = get_bytes(server.http, &path, &bob_token, None);
    assert_eq!(status, 403);
    let (status, _, _) = get_bytes(server.http, &path, &outlet_token, None);
    assert_eq!(status, 403);
    // Ids that try to reach other files: 404, no file touched.
    for hostile in [
        "..%2F..%2Fhotline.db",
        "%2Fetc%2Fpasswd",
        "..",
        "x%00y",
        "nope",
    ] {
        let (status, _, _) = get_bytes(
            server.http,
            &format!("/api/calls/{hostile}/recording"),
            &qa_token,
            None,
        );
        assert!(status == 404 || status == 400, "{hostile}: {status}");
    }
    let (status, _, _) = get_bytes(server.http, &format!("{path}?download=1"), &qa_token, None);
    assert_eq!(status, 200);

    // Every listen and download is logged, once per listen.
    let (status, body) = server.get(&format!("/api/calls/{id}/recording/access"));
    assert_eq!(status, 200, "{body}");
    let log: Value = serde_json::from_str(&body).unwrap();
    let entries: Vec<(String, String)> = log["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["username"].as_str().unwrap().to_owned(),
                a["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("quinn".to_owned(), "listen".to_owned()),
            ("ann".to_owned(), "listen".to_owned()),
            ("quinn".to_owned(), "download".to_owned())
        ]
    );

    // A legal hold is kept on the record.
    let (status, body) = http_request(
        server.http,
        "PUT",
        &format!("/api/calls/{id}/legal-hold"),
        Some(&server.token),
        Some(r#"{"hold": true}"#),
    );
    assert_eq!(status, 204, "{body}");
    assert_eq!(call_record(&server, &id)["recording"]["legal_hold"], true);
    let (status, _) = http_request(
        server.http,
        "PUT",
        &format!("/api/calls/{id}/legal-hold"),
        Some(&qa_token),
        Some(r#"{"hold": false}"#),
    );
    assert_eq!(status, 403, "QA cannot lift a hold");
}

#[test]
fn a_recording_cut_off_by_a_kill_is_repaired_at_the_next_start() {
    if !have_sox() {
        return;
    }
    let mut server = Server::start(&[]);
    let data = server.data.clone();
    let caller = Phone::call(server.sip, CALLER);
    assert!(
        caller
            .wait_to_hear(
                &prompt_start(caller.law, "zh", "welcome", SIG),
                Duration::from_secs(20)
            )
            .is_some()
    );
    caller.start_talking(&tone(440.0, 10_000));
    // The call's row is written a moment after it is answered.
    let deadline = Instant::now() + Duration::from_secs(5);
    let id = loop {
        let (_, body) = server.get("/api/calls?limit=1");
        let calls: Value = serde_json::from_str(&body).unwrap();
        if let Some(id) = calls["calls"][0]["id"].as_str() {
            break id.to_owned();
        }
        assert!(Instant::now() < deadline, "no call listed: {body}");
        std::thread::sleep(Duration::from_millis(20));
    };
    wait_for_recording(&server, &id, "recording");
    std::thread::sleep(Duration::from_millis(3000));
    let killed_at = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    Command::new("kill")
        .args(["-KILL", &server.pid().to_string()])
        .status()
        .unwrap();
    let _ = server.terminate();

    // Started again on the same data: repaired before any call, cut off.
    let again = Server::start(&["--data", data.to_str().unwrap()]);
    let call = wait_for_recording(&again, &id, "cut_off");
    let rec = &call["recording"];
    assert!(rec["note"].as_str().unwrap().contains("cut off"), "{rec}");
    assert!(
        again.log().contains("recording cut off by the last stop"),
        "{}",
        again.log()
    );
    let duration = rec["duration_ms"].as_i64().unwrap();
    // What the writer had not handed to the kernel is lost: its 8 KiB
    // buffer, a quarter of a second.
    let up = killed_at - rec["started_at"].as_i64().unwrap();
    assert!(
        duration <= up && duration > up - 600,
        "{duration} ms kept of {up} ms up to the kill"
    );
    let files = walk(&data.join("recordings"));
    assert_eq!(files.len(), 1, "{files:?}");
    let path = &files[0];
    let sox = sox_seconds(path);
    assert!(
        (sox * 1000.0 - duration as f64).abs() < 2.0,
        "sox reads {sox} s of {duration} ms"
    );
    let wav = std::fs::read(path).unwrap();
    assert_eq!(rec["sha256"], sha_hex(&wav).as_str());
    let (_, left, _) = channels(&wav);
    // The caller's voice fills the file up to its end: most 200 ms windows
    // of the last two seconds are their 440 Hz (a loaded machine may
    // delay a packet or two).
    let last = &left[left.len() - 16_800..left.len() - 800];
    let voiced: Vec<f64> = last.chunks(1600).map(|w| share_of(w, 440.0)).collect();
    assert!(
        voiced.iter().filter(|s| **s > 0.5).count() >= 8,
        "the caller up to the kill: {voiced:?}"
    );
    // The repaired file plays through the API like any other.
    let (status, _, served) = get_bytes(
        again.http,
        &format!("/api/calls/{id}/recording"),
        &again.token,
        None,
    );
    assert_eq!((status, served.len()), (200, wav.len()));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn sha_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
