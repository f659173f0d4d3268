//! The agent's page as their phone, end to end in a real browser: the real
//! server, Debian's Chromium driven by playwright-core
//! (tests/browser/agent.mjs, one child process per page, spoken to line by
//! line over stdin/stdout), callers from our test phone ([`common::phone`])
//! or sipp walking the demo IVR to an agent. The page's microphone is
//! Chromium's fake capture device playing a 1 kHz tone; callers talk at
//! 440 Hz. What each side hears is checked by frequency: the page's
//! `peakHz('remote')` (its AnalyserNode) and the caller's received samples.
//!
//! The websocket-only checks (bad SDP, a flood of garbage, a session that
//! ends) need no browser.
//!
//! Needs Debian's chromium, node and `npm ci --prefix tests/browser`
//! (scripts/test.sh installs them): without them the browser tests print
//! `SKIPPED`, and fail under CI=true. `HOTLINE_CHROMIUM` names another
//! Chromium binary. At most two Chromiums run at once.
//!
//! Screenshots for the README are written only with
//! `HOTLINE_SCREENSHOTS=DIR` (for example `docs/screenshots`): agent-idle,
//! agent-ringing, agent-in-call and agent-wrap-up at 1366x768 in English,
//! and each with `-zh` in Chinese where a CJK font is installed.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::browser::{Driver, chromium, have_browser, log_tail, repo, screenshots_dir};
use common::phone::{Phone, find, prompt_start, share_of, tone};
use common::screen::Screen;
use common::{Server, free_port, have_sipp, http_request, temp_dir};
use hotline::media::g711::Law;
use serde_json::{Value, json};

/// A demo customer (src/store/demo.rs) with an open repair ticket, so the
/// screen pop has a name and the IVR offers the ticket first.
const CALLER: &str = "13800138000";
/// That customer's name in the demo data.
const CALLER_NAME: &str = "王建国";
const AGENT_PASSWORD: &str = "agent-password-1";
/// Samples of a prompt's start that count as hearing it (50 ms).
const SIG: usize = 400;
/// The page's fake microphone.
const MIC_HZ: f64 = 1000.0;
/// The caller's voice.
const VOICE_HZ: f64 = 440.0;
/// The page's analyser: 48 kHz / 8192 = 5.9 Hz a bin.
const PEAK_TOLERANCE_HZ: f64 = 8.0;

// ----- what the tests need ------------------------------------------------------

/// The agent's fake microphone: 20 s of a 1 kHz sine, 48 kHz 16-bit mono,
/// amplitude 0.3 (a whole number of periods, so Chromium's loop is
/// seamless).
fn mic_wav() -> &'static Path {
    static WAV: OnceLock<PathBuf> = OnceLock::new();
    WAV.get_or_init(|| sine_wav("mic-1khz.wav", MIC_HZ))
}

/// The test caller page's microphone: the caller's voice, 440 Hz.
fn voice_wav() -> &'static Path {
    static WAV: OnceLock<PathBuf> = OnceLock::new();
    WAV.get_or_init(|| sine_wav("voice-440hz.wav", VOICE_HZ))
}

fn sine_wav(name: &str, hz: f64) -> PathBuf {
    {
        let path = temp_dir("mic").join(name);
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..48_000 * 20 {
            let t = f64::from(i) / 48_000.0;
            let s = 0.3 * (2.0 * std::f64::consts::PI * hz * t).sin();
            w.write_sample((s * f64::from(i16::MAX)) as i16).unwrap();
        }
        w.finalize().unwrap();
        path
    }
}

/// A μ-law WAV (format 7, 8 kHz mono) of a 440 Hz tone for sipp's
/// `rtp_stream`, which sends the data chunk as PCMU payload as it is.
fn write_mulaw_tone(path: &Path, hz: f64, seconds: u32) {
    let data: Vec<u8> = (0..8000 * seconds)
        .map(|i| {
            let t = f64::from(i) / 8000.0;
            Law::Pcmu.encode((8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16)
        })
        .collect();
    let len = u32::try_from(data.len()).unwrap();
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(4 + 26 + 8 + len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&18u32.to_le_bytes());
    wav.extend_from_slice(&7u16.to_le_bytes()); // μ-law
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&8000u32.to_le_bytes()); // bytes a second
    wav.extend_from_slice(&1u16.to_le_bytes()); // block align
    wav.extend_from_slice(&8u16.to_le_bytes()); // bits
    wav.extend_from_slice(&0u16.to_le_bytes()); // no extension
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&len.to_le_bytes());
    wav.extend_from_slice(&data);
    std::fs::write(path, wav).unwrap();
}

/// At most two Chromiums at once (the machine has two cores), whatever
/// `--test-threads` says.
struct BrowserSlot;

static SLOTS: (Mutex<usize>, Condvar) = (Mutex::new(2), Condvar::new());

impl BrowserSlot {
    fn take() -> BrowserSlot {
        let (free, cv) = &SLOTS;
        let mut free = free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = cv.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        BrowserSlot
    }
}

impl Drop for BrowserSlot {
    fn drop(&mut self) {
        let (free, cv) = &SLOTS;
        *free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        cv.notify_one();
    }
}

// ----- the agent's page ------------------------------------------------------------

/// One agent's page in Chromium, through tests/browser/agent.mjs.
struct Page {
    driver: Driver,
    _slot: BrowserSlot,
}

impl Page {
    /// Starts Chromium on an empty profile, English unless `lang`, with
    /// screenshots into `shots` when given.
    fn open(server: &Server, lang: &str, shots: Option<&Path>) -> Page {
        Page::open_with(server, lang, shots, mic_wav())
    }

    /// As [`Page::open`], with `wav` as the microphone.
    fn open_with(server: &Server, lang: &str, shots: Option<&Path>, wav: &Path) -> Page {
        let slot = BrowserSlot::take();
        let mut args: Vec<OsString> = vec![
            "--base".into(),
            format!("http://{}", server.http).into(),
            "--wav".into(),
            wav.into(),
            "--lang".into(),
            lang.into(),
            "--chromium".into(),
            chromium().into(),
        ];
        if let Some(dir) = shots {
            args.extend(["--shots".into(), dir.into()]);
        }
        Page {
            driver: Driver::start("agent.mjs", &args, &server.data.join("server.log")),
            _slot: slot,
        }
    }

    fn fail(&self, what: &str, error: &str, state: &Value) -> ! {
        self.driver.fail(what, error, state)
    }

    fn run(&mut self, cmd: Value, timeout: Duration) -> Value {
        self.driver.run(cmd, timeout)
    }

    fn goto(&mut self, path: &str) {
        self.run(
            json!({"cmd": "goto", "path": path}),
            Duration::from_secs(20),
        );
    }

    /// Signs in with the form; returns the websocket's hello.
    fn login(&mut self, user: &str, password: &str) -> Value {
        self.run(
            json!({"cmd": "login", "user": user, "pass": password}),
            Duration::from_secs(15),
        )
    }

    fn click(&mut self, selector: &str) {
        self.run(
            json!({"cmd": "click", "selector": selector}),
            Duration::from_secs(10),
        );
    }

    /// A key press on the page (`Alt+KeyA`: the answer shortcut).
    fn press(&mut self, key: &str) {
        self.run(json!({"cmd": "press", "key": key}), Duration::from_secs(5));
    }

    fn wait_visible(&mut self, selector: &str, within: Duration) {
        self.run(json!({"cmd": "wait", "selector": selector}), within);
    }

    fn wait_hidden(&mut self, selector: &str, within: Duration) {
        self.run(
            json!({"cmd": "wait", "selector": selector, "state": "hidden"}),
            within,
        );
    }

    /// Waits until `attr` of `selector` is `value`.
    fn wait_attr(&mut self, selector: &str, attr: &str, value: &str, within: Duration) {
        self.run(
            json!({"cmd": "wait_for", "selector": selector, "attr": attr, "value": value}),
            within,
        );
    }

    /// Waits until the agent's state (as the server said it) is `state`.
    fn wait_state(&mut self, state: &str, within: Duration) {
        self.wait_attr("#state-name", "data-state", state, within);
    }

    /// Waits until the page's audio is `state` (#media-state).
    fn wait_media(&mut self, state: &str, within: Duration) {
        self.run(
            json!({"cmd": "wait_for", "selector": "#media-state", "value": state}),
            within,
        );
    }

    fn text(&mut self, selector: &str) -> String {
        self.run(
            json!({"cmd": "text", "selector": selector}),
            Duration::from_secs(5),
        )
        .as_str()
        .unwrap()
        .to_owned()
    }

    /// Waits for a server event holding every field of `want`, at index
    /// `from` or later of `window.hotline.events`; returns (index, event).
    fn wait_event(&mut self, want: Value, from: u64, within: Duration) -> (u64, Value) {
        let v = self.run(
            json!({"cmd": "wait_event", "match": want, "from": from}),
            within,
        );
        (v["index"].as_u64().unwrap(), v["event"].clone())
    }

    /// Polls `peakHz(which)` until three readings in a row are within the
    /// tolerance of `hz`; returns the last readings.
    fn hears(&mut self, which: &str, hz: f64, within: Duration) -> Value {
        self.run(
            json!({"cmd": "peak", "which": which, "hz": hz, "tol": PEAK_TOLERANCE_HZ, "consecutive": 3}),
            within,
        )
    }

    /// Screenshots `name`.png (and `name`-zh.png) when the page has a
    /// screenshot folder.
    fn shot(&mut self, name: &str) {
        let written = self.run(
            json!({"cmd": "shot", "name": name}),
            Duration::from_secs(20),
        );
        if written.as_array().is_some_and(|w| !w.is_empty()) {
            eprintln!("screenshots: {written}");
        }
    }

    /// Fails on any console error or page error so far (the expected
    /// "Failed to load resource" lines are left out by the script).
    fn assert_no_errors(&mut self) {
        let errors = self.run(json!({"cmd": "errors"}), Duration::from_secs(5));
        if errors.as_array().is_some_and(|e| !e.is_empty()) {
            self.fail("the console", &format!("{errors:#}"), &Value::Null);
        }
    }
}

// ----- setup through the API -----------------------------------------------------------

/// A new agent (every user's password works for the web sign-in); their id.
fn make_agent(server: &Server, username: &str, display_name: &str) -> i64 {
    let user = server.post(
        "/api/users",
        &json!({ "username": username, "display_name": display_name, "role": "agent",
                 "password": AGENT_PASSWORD }),
    );
    user["id"].as_i64().unwrap()
}

/// `GET /api/calls/{id}`: the record's fields and its `events`.
fn call_record(server: &Server, id: &str) -> Value {
    let (status, body) = server.get(&format!("/api/calls/{id}"));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v.get("call").cloned().unwrap_or(v)
}

/// Polls the record until `done` holds.
fn wait_for_record(server: &Server, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let call = call_record(server, id);
        if done(&call) {
            return call;
        }
        assert!(
            Instant::now() < deadline,
            "call record: {what} not seen: {call:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The timeline as `kind: detail` lines.
fn timeline(call: &Value) -> Vec<String> {
    call["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["kind"].as_str().unwrap_or("?"),
                        e["detail"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

// ----- the caller ------------------------------------------------------------------------

/// The caller dials and walks the demo IVR to the agent queue: Mandarin
/// (1) in the welcome, "other services" (2) to the open-ticket offer, then
/// 0 in the main menu; returns once the queue's prompt is heard.
fn call_to_queue(server: &Server) -> Phone {
    let phone = Phone::call(server.sip, CALLER);
    let hear = |prompt: &str| {
        let needle = prompt_start(phone.law, "zh", prompt, SIG);
        assert!(
            phone
                .wait_to_hear(&needle, Duration::from_secs(30))
                .is_some(),
            "the caller did not hear zh/{prompt}\n{}",
            log_tail(&server.data.join("server.log"), 80)
        );
    };
    hear("welcome");
    phone.press("1");
    hear("ticket-offer-choice");
    phone.press("2");
    hear("main-menu");
    phone.press("0");
    hear("queue-agent");
    phone
}

/// The strongest frequency of `samples` from 100 Hz to 3 kHz, in 10 Hz steps.
fn dominant_frequency(samples: &[i16]) -> u32 {
    (10..=300)
        .map(|k| k * 10)
        .max_by(|&a, &b| {
            share_of(samples, f64::from(a)).total_cmp(&share_of(samples, f64::from(b)))
        })
        .unwrap()
}

fn heard_len(phone: &Phone) -> usize {
    phone.heard().samples.len()
}

/// A copy of what the caller heard from sample `from` to `to` (so that no
/// assertion fails while the phone's receiver is locked out).
fn samples(phone: &Phone, from: usize, to: usize) -> Vec<i16> {
    let heard = phone.heard();
    let to = to.min(heard.samples.len());
    heard.samples[from.min(to)..to].to_vec()
}

/// Waits until the caller hears the start of the Mandarin prompt `name`
/// at sample `since` or later; returns where it starts.
fn hears_prompt_from(phone: &Phone, since: usize, name: &str, within: Duration) -> Option<usize> {
    let needle = prompt_start(phone.law, "zh", name, SIG);
    let deadline = Instant::now() + within;
    loop {
        {
            let heard = phone.heard();
            let hay = heard.samples.get(since..).unwrap_or_default();
            if let Some(i) = find(hay, &needle) {
                return Some(since + i);
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
}

/// Waits until a 200 ms stretch the caller heard after sample `since` is
/// mostly `hz` (and its dominant frequency within 20 Hz of it); returns
/// where that stretch starts.
fn caller_hears(phone: &Phone, since: usize, hz: f64, within: Duration) -> Option<usize> {
    let deadline = Instant::now() + within;
    loop {
        {
            let heard = phone.heard();
            let s = heard.samples.get(since..).unwrap_or_default();
            let found = s.chunks_exact(1600).position(|w| {
                share_of(w, hz) > 0.6 && (f64::from(dominant_frequency(w)) - hz).abs() <= 20.0
            });
            if let Some(k) = found {
                return Some(since + k * 1600);
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the caller has heard `n` more samples after `since`.
fn wait_heard(phone: &Phone, since: usize, n: usize, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while heard_len(phone) < since + n {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Opens the page, signs in and goes ready (the page sends `softphone`
/// itself once it has the microphone).
fn ready_page(server: &Server, username: &str, shots: Option<&Path>) -> (Page, Value) {
    let mut page = Page::open(server, "en", shots);
    page.goto("/agent");
    let hello = page.login(username, AGENT_PASSWORD);
    assert_eq!(hello["protocol"], 1, "{hello}");
    assert_eq!(hello["agent"]["username"], username, "{hello}");
    page.wait_state("not_ready", Duration::from_secs(10));
    // The page is the phone once the server took its `softphone`.
    page.wait_attr(
        "#phone-mode",
        "data-mode",
        "browser",
        Duration::from_secs(10),
    );
    page.click("#btn-ready");
    page.wait_state("ready", Duration::from_secs(10));
    (page, hello)
}

/// The page rings with the caller's pop: returns the call id.
fn rings_with_pop(page: &mut Page, server: &Server) -> String {
    page.wait_visible("#incoming", Duration::from_secs(20));
    page.wait_state("ringing", Duration::from_secs(5));
    let (_, offered) = page.wait_event(json!({"type": "offered"}), 0, Duration::from_secs(5));
    let call_id = offered["call"]["id"].as_str().unwrap().to_owned();
    assert_eq!(offered["call"]["caller"], CALLER, "{offered}");
    // The name on the page is the demo customer's, as the API has it.
    let (status, body) = server.get(&format!("/api/screen-pop?caller={CALLER}"));
    assert_eq!(status, 200, "{body}");
    let pop: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pop["customer"]["name"], CALLER_NAME, "{pop}");
    page.wait_visible("#pop-customer-name", Duration::from_secs(5));
    assert_eq!(page.text("#pop-customer-name"), CALLER_NAME);
    assert_eq!(page.text("#pop-caller"), CALLER);
    call_id
}

// ----- 1. a whole call --------------------------------------------------------------------

#[test]
fn a_whole_call_in_the_browser() {
    if !have_browser() {
        return;
    }
    let started = Instant::now();
    let shots = screenshots_dir();
    let server = Server::start(&[]);
    let agent_id = make_agent(&server, "lina", "李娜");
    let (mut page, _) = ready_page(&server, "lina", shots.as_deref());
    page.hears("mic", MIC_HZ, Duration::from_secs(10));
    page.shot("agent-idle");

    // The caller walks the IVR to 0; the page rings with the screen pop.
    let caller = call_to_queue(&server);
    let call_id = rings_with_pop(&mut page, &server);
    page.shot("agent-ringing");

    // Answer: the voices cross, by frequency, both ways.
    let answered_at = heard_len(&caller);
    page.click("#btn-answer");
    page.wait_state("on_call", Duration::from_secs(10));
    page.wait_visible("#in-call", Duration::from_secs(5));
    page.wait_hidden("#incoming", Duration::from_secs(5));
    page.wait_media("connected", Duration::from_secs(10));
    caller.start_talking(&tone(VOICE_HZ, 60_000));
    let readings = page.hears("remote", VOICE_HZ, Duration::from_secs(10));
    eprintln!("the page hears the caller: {readings}");
    let mic_at = caller_hears(&caller, answered_at, MIC_HZ, Duration::from_secs(10));
    assert!(
        mic_at.is_some(),
        "the caller does not hear the page's 1 kHz microphone\n{}",
        log_tail(&server.data.join("server.log"), 80)
    );
    let from = mic_at.unwrap();
    assert!(wait_heard(&caller, from, 4000, Duration::from_secs(5)));
    let hz = dominant_frequency(&samples(&caller, from, from + 4000));
    assert!(
        (f64::from(hz) - MIC_HZ).abs() <= 20.0,
        "the caller's dominant frequency {hz} Hz"
    );

    // Hold: the caller hears the hold music, not the page; resume: the page again.
    let before_hold = heard_len(&caller);
    page.click("#btn-hold");
    page.wait_state("on_hold", Duration::from_secs(5));
    let music = hears_prompt_from(&caller, before_hold, "hold-music", Duration::from_secs(10));
    let music = music.unwrap_or_else(|| {
        panic!(
            "the caller does not hear the hold music\n{}",
            log_tail(&server.data.join("server.log"), 80)
        )
    });
    assert!(
        wait_heard(&caller, music, 8000, Duration::from_secs(5)),
        "audio stopped on hold"
    );
    let share = share_of(&samples(&caller, music, music + 8000), MIC_HZ);
    assert!(
        share < 0.2,
        "on hold the caller still hears 1 kHz (share {share:.2})"
    );
    let before_resume = heard_len(&caller);
    page.click("#btn-hold");
    page.wait_state("on_call", Duration::from_secs(5));
    assert!(
        caller_hears(&caller, before_resume, MIC_HZ, Duration::from_secs(10)).is_some(),
        "after resume the caller does not hear the page again"
    );

    // Mute for 3 s: the microphone's track is disabled, the browser sends
    // silence, and that is not a page gone (no music, no `media` lost).
    let events_before = page.run(json!({"cmd": "event_count"}), Duration::from_secs(5));
    page.click("#btn-mute");
    std::thread::sleep(Duration::from_millis(500));
    let muted_from = heard_len(&caller);
    std::thread::sleep(Duration::from_secs(3));
    let muted = samples(&caller, muted_from, heard_len(&caller));
    assert!(
        muted.len() >= 8 * 2500,
        "the caller's line went on while muted"
    );
    let share = share_of(&muted, MIC_HZ);
    assert!(
        share < 0.1,
        "muted, the caller still hears 1 kHz (share {share:.2})"
    );
    assert!(
        hears_prompt_from(&caller, muted_from, "hold-music", Duration::from_millis(1)).is_none(),
        "muted is not a lost page: no music"
    );
    let lost = page.run(
        json!({"cmd": "eval", "expr": format!(
            "window.hotline.events.slice({}).filter((e) => e.type === 'media' && e.state !== 'connected').length",
            events_before
        )}),
        Duration::from_secs(5),
    );
    assert_eq!(lost, 0, "no media event while muted");
    let unmuted_from = heard_len(&caller);
    page.click("#btn-mute");
    assert!(
        caller_hears(&caller, unmuted_from, MIC_HZ, Duration::from_secs(10)).is_some(),
        "unmuted, the caller hears the page again"
    );

    // The page's keypad: the keys reach the caller as RFC 4733 events.
    page.run(
        json!({"cmd": "keys", "keys": "5#", "gap": 300}),
        Duration::from_secs(10),
    );
    let keys = caller.wait_for_keys("5#", Duration::from_secs(10));
    assert_eq!(keys, "5#", "keys the caller received as RFC 4733 events");
    let record = wait_for_record(&server, &call_id, "agent-dtmf", |c| {
        timeline(c)
            .iter()
            .filter(|l| l.starts_with("agent-dtmf: "))
            .count()
            >= 2
    });
    let lines = timeline(&record);
    assert!(
        lines.contains(&"agent-dtmf: 5".to_owned()) && lines.contains(&"agent-dtmf: #".to_owned()),
        "{lines:#?}"
    );

    // The recording paused while a card number is read out, and resumed:
    // the page says so, the timeline says who.
    page.click("#btn-rec");
    let record = wait_for_record(&server, &call_id, "recording-paused", |c| {
        timeline(c)
            .iter()
            .any(|l| l.starts_with("recording-paused: "))
    });
    let agent_line = format!("recording-paused: agent {}", record["agent_id"]);
    assert!(
        timeline(&record).contains(&agent_line),
        "{:#?}",
        timeline(&record)
    );
    page.run(
        json!({"cmd": "wait_for", "selector": "#call-rec",
               "value": format!("Recording paused (agent {})", record["agent_id"])}),
        Duration::from_secs(5),
    );
    page.click("#btn-rec");
    wait_for_record(&server, &call_id, "recording-resumed", |c| {
        timeline(c)
            .iter()
            .any(|l| l.starts_with("recording-resumed: "))
    });

    page.shot("agent-in-call");
    caller.stop_talking();

    // The page hangs up: the caller gets a BYE, the page goes to wrap-up.
    page.click("#btn-hangup");
    assert!(
        caller.wait_for_server_hangup(Duration::from_secs(10)),
        "the caller got no BYE"
    );
    page.wait_state("wrap_up", Duration::from_secs(10));
    page.wait_visible("#wrap-up", Duration::from_secs(5));
    page.wait_media("none", Duration::from_secs(5));
    page.run(
        json!({"cmd": "select", "selector": "#wrapup-disposition", "value": "resolved"}),
        Duration::from_secs(5),
    );
    let notes = "TV repair: visit booked with HZ-XIHU (browser test)";
    page.run(
        json!({"cmd": "fill", "selector": "#wrapup-notes", "value": notes}),
        Duration::from_secs(5),
    );
    page.shot("agent-wrap-up");
    page.click("#btn-wrapup-done");
    page.wait_state("ready", Duration::from_secs(10));
    page.wait_visible("#idle", Duration::from_secs(5));

    // The record: the agent, the disposition and notes, talk and hold time.
    let record = wait_for_record(&server, &call_id, "the disposition", |c| {
        !c["disposition"].is_null()
    });
    assert_eq!(record["disposition"], "resolved", "{record:#}");
    assert_eq!(record["notes"], notes, "{record:#}");
    assert_eq!(record["agent_id"], agent_id, "{record:#}");
    assert_eq!(record["from_number"], CALLER, "{record:#}");
    assert_eq!(record["hangup_cause"], "agent-hangup", "{record:#}");
    assert!(record["talk_ms"].as_i64().unwrap() > 0, "{record:#}");
    assert!(record["hold_ms"].as_i64().unwrap() > 0, "{record:#}");
    page.assert_no_errors();
    eprintln!("the call's timeline:\n  {}", timeline(&record).join("\n  "));
    eprintln!("a whole call in the browser: {:?}", started.elapsed());
}

// ----- 2. a reload mid-call ------------------------------------------------------------------

/// Reloads the page during `call_id` and waits until it has the call back
/// with its audio re-attached: hello in a call state with the same call, a
/// new media_answer, the server's `media` connected, #media-state
/// connected. `mic_delay_ms`: the reloaded page gets its microphone (and
/// so offers media) that much later.
fn reload_and_reattach(page: &mut Page, call_id: &str, state: &str, mic_delay_ms: u64) {
    let reloaded = Instant::now();
    page.run(
        json!({"cmd": "reload", "mic_delay_ms": mic_delay_ms}),
        Duration::from_secs(20),
    );
    page.wait_visible("#desk-view", Duration::from_secs(10));
    let (_, hello) = page.wait_event(json!({"type": "hello"}), 0, Duration::from_secs(10));
    assert_eq!(hello["state"]["name"], state, "{hello}");
    assert_eq!(hello["call"]["id"], call_id, "{hello}");
    let within = Duration::from_millis(10_000 + mic_delay_ms);
    page.wait_event(json!({"type": "media_answer", "call": call_id}), 0, within);
    page.wait_event(
        json!({"type": "media", "call": call_id, "state": "connected"}),
        0,
        Duration::from_secs(15),
    );
    page.wait_media("connected", Duration::from_secs(5));
    page.wait_state(state, Duration::from_secs(5));
    eprintln!(
        "reload (microphone after {mic_delay_ms} ms): re-attached in {:?}",
        reloaded.elapsed()
    );
}

/// The longest run of silent 20 ms packets (all samples within ±300) the
/// caller heard from `from` to `to`, in ms; and the longest pause between
/// two packets' arrivals there.
fn silence_and_pause(phone: &Phone, from: usize, to: usize) -> (usize, Duration) {
    let heard = phone.heard();
    let to = to.min(heard.samples.len());
    let mut longest = 0;
    let mut run = 0;
    for packet in heard.samples[from.min(to)..to].chunks(160) {
        if packet.iter().all(|&s| s.unsigned_abs() <= 300) {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let arrivals: Vec<Instant> = heard
        .packets
        .iter()
        .filter(|&&(start, _)| start >= from && start < to)
        .map(|&(_, at)| at)
        .collect();
    let pause = arrivals
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .unwrap_or_default();
    (longest * 20, pause)
}

#[test]
fn a_reload_mid_call_keeps_the_call_and_its_audio() {
    if !have_browser() {
        return;
    }
    let started = Instant::now();
    let server = Server::start(&[]);
    make_agent(&server, "wei", "王伟");
    let (mut page, _) = ready_page(&server, "wei", None);
    let mut caller = call_to_queue(&server);
    let call_id = rings_with_pop(&mut page, &server);
    // The keyboard shortcut this time.
    page.press("Alt+KeyA");
    page.wait_state("on_call", Duration::from_secs(10));
    page.wait_media("connected", Duration::from_secs(10));
    let answered_at = heard_len(&caller);
    caller.start_talking(&tone(VOICE_HZ, 60_000));
    page.hears("remote", VOICE_HZ, Duration::from_secs(10));
    assert!(
        caller_hears(&caller, answered_at, MIC_HZ, Duration::from_secs(10)).is_some(),
        "before the reload the caller hears the page"
    );

    // A plain reload: the session cookie signs the page in again, hello
    // brings the call back, and a new media_offer re-attaches the audio.
    let gap = heard_len(&caller);
    reload_and_reattach(&mut page, &call_id, "on_call", 0);
    let back = heard_len(&caller);
    // The caller's line never went dead.
    let (silent_ms, pause) = silence_and_pause(&caller, gap, back);
    let lines = timeline(&call_record(&server, &call_id));
    eprintln!(
        "plain reload: the caller heard {} ms, the longest silence {silent_ms} ms, \
         the longest pause between packets {pause:?}; timeline since the answer:\n  {}",
        (back - gap) / 8,
        lines
            .iter()
            .skip_while(|l| !l.starts_with("agent-answered"))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    assert!(
        pause < Duration::from_millis(300),
        "the caller's audio stopped for {pause:?} during the reload"
    );
    assert!(
        silent_ms <= 2500,
        "the caller heard {silent_ms} ms of silence during the reload"
    );
    // The page's websocket closing is the sign: music from that moment,
    // not after 2 s of silence, and the loss is on the timeline.
    let music = hears_prompt_from(&caller, gap, "hold-music", Duration::from_secs(1));
    assert!(
        music.is_some_and(|m| m < back),
        "no hold music during the plain reload\n{}",
        lines.join("\n")
    );
    // The voices cross again, on the same call.
    page.hears("remote", VOICE_HZ, Duration::from_secs(10));
    assert!(
        caller_hears(&caller, back, MIC_HZ, Duration::from_secs(10)).is_some(),
        "after the reload the caller does not hear the page again"
    );

    // A reload whose page gets the microphone 4 s late: the server notices
    // the page's audio is gone, the caller hears music meanwhile, and the
    // voices cross again once the page offers media.
    let gap = heard_len(&caller);
    reload_and_reattach(&mut page, &call_id, "on_call", 4000);
    let back = heard_len(&caller);
    let music = hears_prompt_from(&caller, gap, "hold-music", Duration::from_secs(1));
    assert!(
        music.is_some_and(|m| m < back),
        "no hold music while the page was away\n{}",
        timeline(&call_record(&server, &call_id)).join("\n")
    );
    let (silent_ms, pause) = silence_and_pause(&caller, gap, back);
    eprintln!(
        "slow reload: the caller heard {} ms, music from {} ms, the longest silence \
         {silent_ms} ms, the longest pause between packets {pause:?}",
        (back - gap) / 8,
        (music.unwrap() - gap) / 8
    );
    assert!(
        silent_ms <= 2500 && pause < Duration::from_millis(300),
        "the caller heard {silent_ms} ms of silence, a pause of {pause:?}"
    );
    page.hears("remote", VOICE_HZ, Duration::from_secs(10));
    assert!(
        caller_hears(&caller, back, MIC_HZ, Duration::from_secs(10)).is_some(),
        "after the slow reload the caller does not hear the page again"
    );
    // The timeline is written a moment after the audio is back: wait for it.
    let loss_and_return = |c: &Value| {
        let lines = timeline(c);
        let lost = lines
            .iter()
            .rposition(|l| l.starts_with("agent-audio-lost: "));
        let back_again = lines.iter().rposition(|l| l.starts_with("agent-audio: "));
        lost.is_some() && back_again > lost
    };
    let record = wait_for_record(
        &server,
        &call_id,
        "the loss and the return",
        loss_and_return,
    );
    assert!(
        record["ended_at"].is_null(),
        "the call ended over the reloads: {:#?}",
        timeline(&record)
    );
    caller.stop_talking();

    // The caller hangs up: the same call ends, once.
    caller.hang_up();
    page.wait_state("wrap_up", Duration::from_secs(10));
    let record = wait_for_record(&server, &call_id, "the end", |c| !c["ended_at"].is_null());
    assert_eq!(record["hangup_cause"], "caller-bye", "{record:#}");
    let (status, body) = server.get("/api/calls?limit=50");
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["calls"].as_array().unwrap().len(), 1, "{list}");
    page.assert_no_errors();
    eprintln!("a reload mid-call: {:?}", started.elapsed());
}

// ----- 3. sipp as the caller --------------------------------------------------------------------

#[test]
fn a_sipp_caller_reaches_the_browser_and_the_page_hangs_up() {
    if !have_browser() || !have_sipp() {
        return;
    }
    let started = Instant::now();
    let server = Server::start(&[]);
    make_agent(&server, "fang", "张芳");
    let (mut page, _) = ready_page(&server, "fang", None);

    // sipp runs from a folder holding the tone it streams.
    let dir = temp_dir("sipp-caller");
    write_mulaw_tone(&dir.join("tone_440.wav"), VOICE_HZ, 4);
    let sipp_out = dir.join("sipp.out");
    let mut sipp = Command::new("timeout")
        .arg("120")
        .arg("sipp")
        .arg(server.sip.to_string())
        .arg("-sf")
        .arg(repo().join("tests/sipp/caller_to_agent.xml"))
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args(["-p", &free_port().to_string()])
        .args(["-mp", &free_port().to_string()])
        .args(["-s", "4008001234", "-m", "1", "-nostdin"])
        .current_dir(&dir)
        .stdout(Stdio::from(std::fs::File::create(&sipp_out).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("sipp.err")).unwrap(),
        ))
        .spawn()
        .expect("sipp runs");
    let sipp_says = || {
        format!(
            "{}{}",
            std::fs::read_to_string(&sipp_out).unwrap_or_default(),
            std::fs::read_to_string(dir.join("sipp.err")).unwrap_or_default()
        )
    };

    let call_id = rings_with_pop(&mut page, &server);
    let (_, offered) = page.wait_event(json!({"type": "offered"}), 0, Duration::from_secs(1));
    assert_eq!(offered["call"]["digits"], "220", "{offered}");
    page.click("#btn-answer");
    page.wait_state("on_call", Duration::from_secs(10));
    let readings = page.hears("remote", VOICE_HZ, Duration::from_secs(15));
    eprintln!("the page hears sipp: {readings}");

    // The keyboard shortcut.
    page.press("Alt+KeyH");
    page.wait_state("wrap_up", Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = sipp.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = sipp.kill();
            panic!(
                "sipp did not end after the page hung up\n{}\n{}",
                sipp_says(),
                log_tail(&server.data.join("server.log"), 80)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "sipp failed ({status}):\n{}\n{}",
        sipp_says(),
        log_tail(&server.data.join("server.log"), 80)
    );
    let record = wait_for_record(&server, &call_id, "the end", |c| !c["ended_at"].is_null());
    assert_eq!(record["from_number"], CALLER, "{record:#}");
    assert_eq!(record["hangup_cause"], "agent-hangup", "{record:#}");
    assert!(record["talk_ms"].as_i64().unwrap() > 0, "{record:#}");
    page.assert_no_errors();
    eprintln!("sipp to the browser: {:?}", started.elapsed());
}

/// An agent calls a preview campaign's contact from the page: the card
/// shows the customer and the ticket, Call dials her through the carrier
/// (sipp), and the page rings with her history once she answers.
#[test]
fn an_agent_calls_a_preview_contact_from_the_page() {
    if !have_browser() || !have_sipp() {
        return;
    }
    let proxy = free_port();
    let dir = temp_dir("preview-page");
    let mut customer = Command::new("timeout")
        .arg("120")
        .arg("sipp")
        .arg("-sf")
        .arg(repo().join("tests/sipp/customer.xml"))
        .args([
            "-p",
            &proxy.to_string(),
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
        ])
        .args(["-mp", &free_port().to_string(), "-m", "1", "-nostdin"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp runs");
    let config = common::campaign_config(
        "[outbound]\nproxy = \"127.0.0.1:{proxy}\"\n\
             [[campaigns]]\nname = \"repair-calls\"\nkind = \"preview\"\nqueue = \"general\"\n\
             caller_id = \"4008001234\"\ntime_zone = \"{zone}\"\nhours = { daily = \"08:00-21:00\" }\n\
             allow = [\"_1[3-9]XXXXXXXXX\"]\n",
        proxy,
    );
    let server = Server::start(&["--config", config.to_str().unwrap(), "--demo"]);
    server.post(
        "/api/campaigns/repair-calls/contacts",
        &json!({ "phone": "13758461234", "ticket": "2611160007" }),
    );
    make_agent(&server, "lei", "王磊");
    let shots = screenshots_dir();
    let (mut page, _) = ready_page(&server, "lei", shots.as_deref());
    page.wait_visible("#btn-preview-call", Duration::from_secs(10));
    let card = page.text("#preview-contact");
    assert!(
        card.contains("陈静") && card.contains("13758461234") && card.contains("2611160007"),
        "{card}"
    );
    page.shot("agent-preview");
    page.click("#btn-preview-call");
    let (_, offered) = page.wait_event(
        json!({"type": "offered", "call": {"campaign": "repair-calls"}}),
        0,
        Duration::from_secs(20),
    );
    assert_eq!(offered["call"]["caller"], "13758461234", "{offered}");
    page.wait_visible("#pop-customer-name", Duration::from_secs(5));
    assert_eq!(page.text("#pop-customer-name"), "陈静");
    page.click("#btn-answer");
    page.wait_state("on_call", Duration::from_secs(10));
    page.click("#btn-hangup");
    page.wait_state("wrap_up", Duration::from_secs(10));
    let call_id = offered["call"]["id"].as_str().unwrap();
    let record = wait_for_record(&server, call_id, "the end", |c| !c["ended_at"].is_null());
    assert_eq!(record["hangup_cause"], "agent-hangup", "{record:#}");
    // Nobody left to call.
    page.run(
        json!({"cmd": "wait_for", "selector": "#preview-contact", "value": "Nobody to call now."}),
        Duration::from_secs(15),
    );
    page.assert_no_errors();
    let _ = customer.kill();
    let _ = customer.wait();
}

// ----- 4. bad input from the page's side (a websocket client, no browser) --------------------

/// A browser's offer with Opus only (no PCMU, no PCMA).
const OPUS_ONLY_SDP: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=msid-semantic: WMS\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:tYw9\r\n\
a=ice-pwd:Qx7fMbJ0f9B2p7Zc0a1Q2b3C\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\n";

#[test]
fn bad_media_and_a_flood_of_garbage_are_refused_and_the_calls_go_on() {
    let server = Server::start(&[]);
    make_agent(&server, "jun", "陈军");
    let token = server.sign_in("jun", AGENT_PASSWORD);
    let mut screen = Screen::open(&server, &token);
    screen.wait("hello", Duration::from_secs(5));
    let ok = |v: &Value| v["type"] == "ok";
    let answer = screen.command("s1", json!({"type": "softphone"}));
    assert!(ok(&answer), "{answer}");
    let answer = screen.command("r1", json!({"type": "ready"}));
    assert!(ok(&answer), "{answer}");

    let mut caller = call_to_queue(&server);
    let offered = screen.wait("offered", Duration::from_secs(15));
    let call = offered["call"]["id"].as_str().unwrap().to_owned();

    // No G.711 in the offer: refused, naming it; nor SDP that is not SDP.
    let refused = screen.command(
        "m1",
        json!({"type": "media_offer", "call": call, "sdp": OPUS_ONLY_SDP}),
    );
    assert_eq!(refused["code"], "bad_media", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("G.711"),
        "{refused}"
    );
    let refused = screen.command(
        "m2",
        json!({"type": "media_offer", "call": call, "sdp": "hello, I am not SDP"}),
    );
    assert_eq!(refused["code"], "bad_media", "{refused}");
    let refused = screen.command(
        "m3",
        json!({"type": "ice_candidate", "call": call, "candidate": "candidate:garbage"}),
    );
    assert_eq!(refused["code"], "bad_media", "{refused}");

    // A flood: 200 malformed messages as fast as they go, one well-formed
    // command among them past the rate limit (which must not be carried out).
    let heard_before = heard_len(&caller);
    let flood_started = Instant::now();
    let garbage = [
        "{not json",
        "[1, 2, 3]",
        "\"a string\"",
        "{\"type\": \"dance\", \"id\": \"g\"}",
        "{\"type\": \"hold\", \"id\": \"g\"}",
        "{\"type\": \"media_offer\", \"call\": 7, \"id\": \"g\"}",
        "{\"id\": 5}",
        "null",
    ];
    for i in 0..200 {
        if i == 60 {
            let reject = json!({"type": "reject", "call": call, "id": "flood-reject"});
            screen.send_text(&reject.to_string());
        } else {
            screen.send_text(garbage[i % garbage.len()]);
        }
    }
    let mut answers = Vec::new();
    while answers.len() < 200 {
        match screen.next(Duration::from_secs(10), |e| {
            e["type"] == "error" || e["type"] == "ok"
        }) {
            Ok(Some(v)) => answers.push(v),
            other => panic!(
                "{} answers to the flood of 200, then {other:?}; saw {:#?}",
                answers.len(),
                screen.seen
            ),
        }
    }
    eprintln!("the flood was answered in {:?}", flood_started.elapsed());
    assert!(
        answers.iter().all(|a| a["code"] == "bad_command"),
        "{answers:#?}"
    );
    let slowed = answers
        .iter()
        .filter(|a| a["message"].as_str().unwrap_or("").contains("slow down"))
        .count();
    assert!(slowed >= 150, "{slowed} rate-limited answers: {answers:#?}");
    let reject = answers
        .iter()
        .find(|a| a["id"] == "flood-reject")
        .expect("the reject in the flood is answered under its id");
    assert_eq!(reject["code"], "bad_command", "{reject}");
    assert!(
        !screen.seen.iter().any(|e| e["type"] == "offer_cancelled"),
        "the rate-limited reject was carried out: {:#?}",
        screen.seen
    );

    // The connection works again in the next second; the call still rings
    // and the caller kept hearing the queue's music all along.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut n = 0;
    loop {
        n += 1;
        let answer = screen.command(&format!("p{n}"), json!({"type": "softphone"}));
        if ok(&answer) {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let heard = heard_len(&caller) - heard_before;
    let elapsed = flood_started.elapsed().as_millis() as usize;
    assert!(
        heard * 1000 / 8 >= elapsed * 800,
        "the caller heard {heard} samples in {elapsed} ms"
    );
    let from = screen.seen.len();
    let answer = screen.command("x1", json!({"type": "reject", "call": call}));
    assert!(ok(&answer), "{answer}: {:#?}", screen.seen);
    let cancelled = screen.wait_from(from, "offer_cancelled", Duration::from_secs(5));
    assert_eq!(cancelled["why"], "rejected", "{cancelled}");
    // Nobody else can take it: it rings here again.
    let again = screen.wait_from(from, "offered", Duration::from_secs(10));
    assert_eq!(again["call"]["id"], call.as_str(), "{again}");
    let from = screen.seen.len();
    caller.hang_up();
    let left = screen.wait_from(from, "offer_cancelled", Duration::from_secs(10));
    assert_eq!(left["why"], "caller left", "{left}");
}

#[test]
fn a_signed_out_session_ends_the_agent_connection() {
    let server = Server::start(&[]);
    make_agent(&server, "ming", "刘明");
    let token = server.sign_in("ming", AGENT_PASSWORD);
    let mut screen = Screen::open(&server, &token);
    screen.wait("hello", Duration::from_secs(5));
    let (status, body) = http_request(server.http, "POST", "/api/logout", Some(&token), None);
    assert!((200..300).contains(&status), "logout: {status} {body}");
    let signed_out = Instant::now();
    // Checked every 30 s from the upgrade.
    let ended = screen.next(Duration::from_secs(40), |e| e["type"] == "error");
    let ended = match ended {
        Ok(Some(v)) => v,
        other => panic!("no session_ended ({other:?}); saw {:#?}", screen.seen),
    };
    assert_eq!(ended["code"], "session_ended", "{ended}");
    assert!(ended.get("id").is_none_or(Value::is_null), "{ended}");
    eprintln!("session_ended {:?} after the logout", signed_out.elapsed());
    // Then the server closes the connection.
    let closed = screen.next(Duration::from_secs(5), |_| false);
    assert!(
        closed.is_err(),
        "still open after session_ended: {closed:?}"
    );
}

// ----- 6. the test caller page ------------------------------------------------------------

/// An admin's test caller page calls in over WebRTC, keys its way through
/// the IVR on its keypad (RFC 4733 from the browser), and talks to the
/// agent's page: two browsers, no SIP phone, each hearing the other's tone.
#[test]
fn the_test_caller_page_calls_in_and_talks_to_the_agent_page() {
    if !have_browser() {
        return;
    }
    let server = Server::start(&[]);
    make_agent(&server, "lin", "林芳");
    let (mut agent, _) = ready_page(&server, "lin", None);

    let mut caller = Page::open_with(&server, "en", None, voice_wav());
    caller.goto("/test-caller");
    caller.run(
        json!({"cmd": "wait", "selector": "#login-form"}),
        Duration::from_secs(10),
    );
    caller.run(
        json!({"cmd": "fill", "selector": "#login-user", "value": common::TEST_USER}),
        Duration::from_secs(5),
    );
    caller.run(
        json!({"cmd": "fill", "selector": "#login-pass", "value": common::TEST_PASSWORD}),
        Duration::from_secs(5),
    );
    caller.click("#login-submit");
    caller.wait_visible("#tc-call", Duration::from_secs(10));
    caller.run(
        json!({"cmd": "fill", "selector": "#tc-caller", "value": CALLER}),
        Duration::from_secs(5),
    );
    caller.click("#tc-call");
    caller.wait_attr(
        "#tc-status",
        "data-state",
        "answered",
        Duration::from_secs(15),
    );
    let id = caller.run(
        json!({"cmd": "eval", "expr": "window.testCaller.id"}),
        Duration::from_secs(5),
    );
    let (status, body) = server.get(&format!("/api/test-calls/{}", id.as_str().unwrap()));
    assert_eq!(status, 200, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    let call_id = status["call_id"]
        .as_str()
        .expect("the call it made")
        .to_owned();

    // Mandarin (1), not about the open ticket (2), an agent (0): keyed on
    // the page, each once the call's timeline shows its menu playing (a key
    // pressed while a prompt that takes none plays is not kept).
    for (key, menu) in [
        ("1", "prompt: zh: choose-language"),
        ("2", "prompt: zh: ticket-offer"),
        ("0", "prompt: zh: main-menu"),
    ] {
        wait_for_record(&server, &call_id, menu, |c| {
            timeline(c).iter().any(|l| l == menu)
        });
        caller.click(&format!("#tc-keypad button[data-key=\"{key}\"]"));
    }
    let offered = rings_with_pop(&mut agent, &server);
    assert_eq!(
        offered, call_id,
        "the agent is offered the test caller's call"
    );
    let record = call_record(&server, &call_id);
    assert_eq!(record["digits"], "120", "{record:#}");

    agent.click("#btn-answer");
    agent.wait_state("on_call", Duration::from_secs(10));
    agent.hears("remote", VOICE_HZ, Duration::from_secs(10));
    let heard = caller.run(
        json!({"cmd": "eval", "expr": "new Promise(async (ok) => { \
            let run = 0; const seen = []; \
            for (let i = 0; i < 100; i++) { \
              const hz = window.testCaller.peakHz(); seen.push(hz); \
              run = hz !== null && Math.abs(hz - 1000) <= 8 ? run + 1 : 0; \
              if (run >= 3) return ok({ok: true, seen: seen.slice(-5)}); \
              await new Promise((r) => setTimeout(r, 100)); } \
            ok({ok: false, seen: seen.slice(-20)}); })"}),
        Duration::from_secs(15),
    );
    assert_eq!(
        heard["ok"], true,
        "the caller's page hears the agent's 1 kHz: {heard}"
    );

    // The caller hangs up on the page: the agent's call ends.
    caller.click("#tc-hangup");
    caller.wait_attr("#tc-status", "data-state", "ended", Duration::from_secs(10));
    agent.wait_state("wrap_up", Duration::from_secs(10));
    let record = wait_for_record(&server, &call_id, "the end", |c| !c["ended_at"].is_null());
    assert_eq!(record["hangup_cause"], "caller-bye", "{record:#}");
    assert_eq!(record["from_number"], CALLER, "{record:#}");
    agent.assert_no_errors();
    caller.assert_no_errors();
}
