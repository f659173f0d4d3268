//! What an operator watches, with the real server: `GET /metrics` while a
//! caller waits in a queue and talks (calls in progress, queue depth, RTP
//! counters, the loss of a stream with skipped sequence numbers, database
//! write times), JSON logs, and `/api/health` naming what is degraded: a
//! trunk that does not answer OPTIONS (and recovering when it does), a
//! disk nearly full.

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Server, call_to_agent_queue, http_get, http_request, temp_dir};
use serde_json::Value;

/// `GET /metrics` (no session) read back: `name{labels}` → value.
fn scrape(server: &Server) -> HashMap<String, f64> {
    let (status, text) = http_get(server.http, "/metrics");
    assert_eq!(status, 200, "{text}");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("name value");
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value: {l}")),
            };
            (series.to_owned(), value)
        })
        .collect()
}

fn metric(m: &HashMap<String, f64>, series: &str) -> f64 {
    *m.get(series)
        .unwrap_or_else(|| panic!("no {series} in {m:#?}"))
}

/// Scrapes until `check` holds, or fails after `within` saying `what`.
fn scrape_until(
    server: &Server,
    within: Duration,
    what: &str,
    check: impl Fn(&HashMap<String, f64>) -> bool,
) -> HashMap<String, f64> {
    let deadline = Instant::now() + within;
    loop {
        let m = scrape(server);
        if check(&m) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen in {within:?}; last scrape {m:#?}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn health(server: &Server) -> (u16, Value) {
    let (status, text) = http_get(server.http, "/api/health");
    (status, serde_json::from_str(&text).expect("JSON health"))
}

/// What `/api/health` says is degraded: `what` → reason.
fn degraded(body: &Value) -> HashMap<String, String> {
    body["degraded"]
        .as_array()
        .expect("a degraded list")
        .iter()
        .map(|p| {
            (
                p["what"].as_str().expect("what").to_owned(),
                p["reason"].as_str().expect("reason").to_owned(),
            )
        })
        .collect()
}

/// Polls `/api/health` until `check` holds.
fn health_until(
    server: &Server,
    within: Duration,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = health(server);
        assert_eq!(status, 200, "{body}");
        if check(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen in {within:?}; last health {body}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A configuration file in a scratch directory.
fn config_file(text: &str) -> PathBuf {
    let path = temp_dir("config").join("hotline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_call_in_a_queue_shows_in_the_metrics_with_its_rtp_and_loss() {
    let server = Server::start(&[]);
    let before = scrape(&server);
    assert_eq!(
        metric(&before, r#"hotline_calls_in_progress{direction="inbound"}"#),
        0.0
    );
    assert_eq!(metric(&before, "hotline_rtp_packets_lost_total"), 0.0);
    let writes_before = metric(&before, "hotline_db_write_duration_seconds_count");

    let mut phone = call_to_agent_queue(&server, "13912340066");
    let m = scrape_until(&server, Duration::from_secs(5), "the waiting caller", |m| {
        metric(m, r#"hotline_queue_callers_waiting{queue="general"}"#) == 1.0
    });
    assert_eq!(
        metric(&m, r#"hotline_calls_in_progress{direction="inbound"}"#),
        1.0
    );
    assert_eq!(
        metric(&m, r#"hotline_calls_in_progress{direction="outbound"}"#),
        0.0
    );
    assert_eq!(
        metric(&m, r#"hotline_calls_started_total{direction="inbound"}"#),
        1.0
    );
    assert_eq!(
        metric(&m, r#"hotline_queue_callers_waiting{queue="repair"}"#),
        0.0
    );
    // Both directions of the call's audio flow while it waits (the caller
    // sends a packet every 20 ms, the server plays the queue's prompt and
    // hold music).
    let (rx, tx) = (
        metric(&m, "hotline_rtp_packets_received_total"),
        metric(&m, "hotline_rtp_packets_sent_total"),
    );
    assert!(rx > 0.0 && tx > 0.0, "received {rx}, sent {tx}");
    let later = scrape_until(&server, Duration::from_secs(5), "more RTP", |m| {
        metric(m, "hotline_rtp_packets_received_total") >= rx + 25.0
            && metric(m, "hotline_rtp_packets_sent_total") >= tx + 25.0
    });
    assert_eq!(
        metric(&later, "hotline_rtp_packets_lost_total"),
        0.0,
        "a clean stream loses nothing"
    );

    // Seven packets lost on the way: the counter grows by exactly seven
    // once the stream has moved past them (the reorder window, 64
    // packets: about 1.3 s).
    phone.skip_sequence_numbers(7);
    let lost = scrape_until(&server, Duration::from_secs(10), "the loss", |m| {
        metric(m, "hotline_rtp_packets_lost_total") >= 7.0
    });
    assert_eq!(metric(&lost, "hotline_rtp_packets_lost_total"), 7.0);

    phone.hang_up();
    scrape_until(&server, Duration::from_secs(10), "the call's end", |m| {
        metric(m, r#"hotline_calls_in_progress{direction="inbound"}"#) == 0.0
            && metric(m, r#"hotline_queue_callers_waiting{queue="general"}"#) == 0.0
    });
    server.wait_for_ended_calls(1);
    let after = scrape_until(
        &server,
        Duration::from_secs(10),
        "the call's records",
        |m| {
            metric(m, "hotline_records_pending") == 0.0
                && metric(m, "hotline_db_write_duration_seconds_count") > writes_before
        },
    );
    assert_eq!(
        metric(&after, "hotline_rtp_packets_lost_total"),
        7.0,
        "the end of the stream adds no loss that was not there"
    );
    assert_eq!(
        metric(
            &after,
            r#"hotline_calls_started_total{direction="inbound"}"#
        ),
        1.0
    );
    // Every write fell in some bucket, and took some time.
    let count = metric(&after, "hotline_db_write_duration_seconds_count");
    assert_eq!(
        metric(
            &after,
            r#"hotline_db_write_duration_seconds_bucket{le="+Inf"}"#
        ),
        count
    );
    assert!(metric(&after, "hotline_db_write_duration_seconds_sum") > 0.0);
    assert_eq!(metric(&after, "hotline_db_write_failures_total"), 0.0);
    assert!(metric(&after, "hotline_uptime_seconds") > 0.0);
    let (_, body) = health(&server);
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["degraded"], serde_json::json!([]));
}

#[test]
fn json_logs_are_one_object_a_line_and_a_calls_lines_carry_its_id() {
    let server = Server::start(&["--log-format", "json"]);
    let mut phone = common::phone::Phone::call(server.sip, "13700137000");
    std::thread::sleep(Duration::from_millis(300));
    phone.hang_up();
    let calls = server.wait_for_ended_calls(1);
    let id = calls["calls"][0]["id"]
        .as_str()
        .expect("a call id")
        .to_owned();
    // The call's last line may be a moment behind its record.
    let deadline = Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let log = server.log();
        let lines: Vec<Value> = log
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))
            })
            .collect();
        let ended = lines
            .iter()
            .any(|l| l["fields"]["message"] == "call ended" && l["fields"]["call"] == id.as_str());
        if ended || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(lines.len() > 10, "{lines:?}");
    let own = lines
        .iter()
        .filter(|l| {
            l["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("hotline"))
        })
        .count();
    assert!(own > 5, "the server's own lines: {own}");
    for l in &lines {
        assert!(l.is_object(), "{l}");
        assert!(
            l["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{l}"
        );
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                .contains(&l["level"].as_str().unwrap_or("")),
            "{l}"
        );
        assert!(l["target"].as_str().is_some_and(|t| !t.is_empty()), "{l}");
        assert!(l["fields"].is_object(), "{l}");
    }
    let of_call: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["call"] == id.as_str())
        .collect();
    let messages: Vec<&str> = of_call
        .iter()
        .map(|l| l["fields"]["message"].as_str().unwrap_or(""))
        .collect();
    assert!(messages.contains(&"incoming call"), "{messages:?}");
    assert!(messages.contains(&"call ended"), "{messages:?}");
    let incoming = of_call
        .iter()
        .find(|l| l["fields"]["message"] == "incoming call")
        .expect("checked");
    assert_eq!(incoming["level"], "INFO");
    assert_eq!(incoming["fields"]["dialled"], "4008001234");
}

/// Answers every OPTIONS on `socket` with 200 while `answering` is set
/// (silent otherwise); counts the OPTIONS seen.
fn trunk_proxy(
    socket: UdpSocket,
    answering: Arc<AtomicBool>,
    seen: Arc<std::sync::atomic::AtomicU32>,
) {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            if Arc::strong_count(&answering) == 1 {
                return;
            }
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("OPTIONS ") {
            continue;
        }
        seen.fetch_add(1, Ordering::Relaxed);
        if !answering.load(Ordering::Relaxed) {
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
                if name.eq_ignore_ascii_case("To") {
                    ok.push_str(";tag=proxy");
                }
                ok.push_str("\r\n");
            }
        }
        ok.push_str("Content-Length: 0\r\n\r\n");
        let _ = socket.send_to(ok.as_bytes(), from);
    }
}

#[test]
fn a_trunk_that_does_not_answer_options_is_degraded_until_it_answers() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let proxy: SocketAddr = socket.local_addr().unwrap();
    let answering = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let responder = {
        let (answering, seen) = (answering.clone(), seen.clone());
        std::thread::spawn(move || trunk_proxy(socket, answering, seen))
    };
    // T1 of 50 ms: an unanswered OPTIONS is given up after 3.2 s.
    let config = config_file(&format!(
        "[sip]\nt1_ms = 50\n[outbound]\nproxy = \"{proxy}\"\n\
         [operations]\ntrunk_options_secs = 1\n"
    ));
    let server = Server::start(&["--config", config.to_str().unwrap()]);
    let (status, body) = health(&server);
    assert_eq!(status, 200);
    assert!(
        !degraded(&body).contains_key("trunk"),
        "not before two silences: {body}"
    );

    let body = health_until(
        &server,
        Duration::from_secs(20),
        "the trunk degraded",
        |b| degraded(b).contains_key("trunk"),
    );
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["db"], "ok");
    let reason = &degraded(&body)["trunk"];
    assert!(
        reason.contains(&proxy.to_string()) && reason.contains("OPTIONS unanswered"),
        "{reason}"
    );
    assert!(
        seen.load(Ordering::Relaxed) >= 2,
        "the proxy saw the OPTIONS"
    );
    let m = scrape(&server);
    assert_eq!(
        metric(&m, &format!("hotline_trunk_up{{proxy=\"{proxy}\"}}")),
        0.0
    );
    assert!(
        metric(
            &m,
            &format!("hotline_trunk_options_unanswered{{proxy=\"{proxy}\"}}")
        ) >= 2.0
    );

    // The proxy answers again: the next OPTIONS brings the trunk back.
    answering.store(true, Ordering::Relaxed);
    let body = health_until(&server, Duration::from_secs(20), "the trunk back", |b| {
        b["status"] == "ok"
    });
    assert_eq!(body["degraded"], serde_json::json!([]));
    let m = scrape(&server);
    assert_eq!(
        metric(&m, &format!("hotline_trunk_up{{proxy=\"{proxy}\"}}")),
        1.0
    );
    assert!(server.log().contains("trunk answers OPTIONS again"));
    drop(server);
    drop(answering);
    responder.join().unwrap();
}

#[test]
fn a_disk_under_the_configured_minimum_is_named_with_its_free_space() {
    // Nearly full at 99% free: the test machine's disk, whatever it has,
    // is under that (a real statvfs, a real comparison).
    let token = "metrics-token-0123456789";
    let config = config_file(&format!(
        "[operations]\ndisk_min_free_percent = 99\nmetrics_token = \"{token}\"\n"
    ));
    let server = Server::start(&["--config", config.to_str().unwrap()]);
    let body = health_until(&server, Duration::from_secs(15), "the disk degraded", |b| {
        degraded(b).contains_key("disk")
    });
    assert_eq!(body["status"], "degraded");
    let reason = &degraded(&body)["disk"];
    let data = server.data.display().to_string();
    assert!(reason.starts_with(&format!("{data}: ")), "{reason}");
    assert!(
        reason.contains("MiB free of") && reason.contains("under the minimum"),
        "{reason}"
    );

    // The metrics ask for the token here.
    let (status, _) = http_get(server.http, "/metrics");
    assert_eq!(status, 401);
    let (status, _) = http_request(
        server.http,
        "GET",
        "/metrics",
        Some("not-the-token-at-all"),
        None,
    );
    assert_eq!(status, 401);
    let (status, text) = http_request(server.http, "GET", "/metrics", Some(token), None);
    assert_eq!(status, 200);
    let free = text
        .lines()
        .find(|l| l.starts_with(&format!("hotline_disk_free_bytes{{path=\"{data}\"}}")))
        .unwrap_or_else(|| panic!("no free space of {data} in\n{text}"));
    let free: f64 = free.rsplit_once(' ').unwrap().1.parse().unwrap();
    assert!(free > 0.0);
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` where this process may not mount (not root).
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = temp_dir("tmpfs");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_small_filesystem_is_nearly_full_by_the_default_limits() {
    // A 32 MiB filesystem is under the default 1 GiB minimum however empty.
    let Some(fs) = Tmpfs::mount("32m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root); the decision is unit-tested");
        return;
    };
    let data = fs.path().to_str().unwrap().to_owned();
    let db = format!("sqlite://{data}/hotline.db");
    let server = Server::start(&["--data", &data, "--database", &db]);
    let body = health_until(&server, Duration::from_secs(15), "the disk degraded", |b| {
        degraded(b).contains_key("disk")
    });
    let reason = &degraded(&body)["disk"];
    assert!(reason.starts_with(&format!("{data}: ")), "{reason}");
    assert!(reason.contains("free of 32.0 MiB"), "{reason}");
    assert!(
        reason.contains("under the minimum of 1024.0 MiB"),
        "{reason}"
    );
    let m = scrape(&server);
    assert_eq!(
        metric(&m, &format!("hotline_disk_size_bytes{{path=\"{data}\"}}")),
        f64::from(32u32 << 20)
    );
    drop(server);
}

#[test]
fn operations_settings_are_checked_by_key() {
    let check = |text: &str| {
        hotline::config::Config::from_toml(text)
            .expect("TOML")
            .validate()
            .map(|s| s.operations)
    };
    let ops = check("").expect("the defaults are valid");
    assert_eq!(ops.trunk_options, Some(Duration::from_secs(30)));
    assert_eq!(ops.metrics_token, None);
    assert_eq!(
        (ops.disk_min_free_percent, ops.disk_min_free_bytes),
        (5, 1 << 30)
    );
    let off = check("[operations]\ntrunk_options_secs = 0").expect("valid");
    assert_eq!(off.trunk_options, None);
    for (text, key) in [
        (
            "[operations]\nmetrics_token = \"short\"",
            "operations.metrics_token",
        ),
        (
            "[operations]\nmetrics_token = \"has a space in it, long\"",
            "operations.metrics_token",
        ),
        (
            "[operations]\ntrunk_options_secs = 3601",
            "operations.trunk_options_secs",
        ),
        (
            "[operations]\ndisk_min_free_percent = 100",
            "operations.disk_min_free_percent",
        ),
    ] {
        let e = check(text).expect_err(text).to_string();
        assert!(e.contains(key), "{text}: {e}");
    }
    assert!(hotline::config::Config::from_toml("[operations]\nnope = 1").is_err());
}

#[test]
fn the_log_format_comes_from_the_environment_too_and_a_wrong_one_is_refused() {
    // Each run on a fresh database, whose migrations are logged.
    let run = |env: Option<&str>, args: &[&str]| {
        let data = temp_dir("logs");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotline"));
        cmd.args(["calls", "--data", data.to_str().unwrap()])
            .args(args);
        match env {
            Some(v) => cmd.env("HOTLINE_LOG_FORMAT", v),
            None => cmd.env_remove("HOTLINE_LOG_FORMAT"),
        };
        cmd.output().expect("run hotline")
    };
    let out = run(Some("json"), &[]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "applied migration" && l["level"] == "INFO"),
        "{stderr}"
    );
    // The flag wins over the environment.
    let out = run(Some("json"), &["--log-format", "text"]);
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("applied migration"), "{stderr}");
    assert!(stderr.lines().all(|l| !l.starts_with('{')), "{stderr}");
    for (env, args) in [
        (None, &["--log-format", "xml"][..]),
        (Some("yaml"), &[][..]),
    ] {
        let out = run(env, args);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("`text` or `json`"), "{stderr}");
    }
}
