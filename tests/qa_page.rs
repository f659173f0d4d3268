//! The QA page (/qa) end to end in a real browser: a call is recorded
//! through the real server (our test phone calls in and walks the demo
//! IVR, a sipp desk phone answers as agent ann, her screen pauses and
//! resumes the recording), then a QA user finds it on the page, listens
//! (the waveform of both channels, the timeline against the audio, play,
//! seek by clicking the waveform), scores it, pins a comment to a moment,
//! and finds both again after a reload and through the API; ann sees them
//! read-only; an outlet user is turned away.
//!
//! Debian's Chromium is driven by playwright-core through
//! tests/browser/qa.mjs (the same line protocol as agent.mjs). Needs
//! chromium, node, `npm ci --prefix tests/browser` and sipp: without them
//! the test prints `SKIPPED`, and fails under CI=true.
//!
//! Screenshots for the docs are written only with
//! `HOTLINE_SCREENSHOTS=DIR` (for example `docs/screenshots`): qa-search
//! and qa-call at 1366x768 in English, and each with `-zh` in Chinese
//! where a CJK font is installed.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::browser::{Driver, have_browser, screenshots_dir};
use common::desk::DeskPhone;
use common::phone::tone;
use common::screen::Screen;
use common::{Server, have_sipp};
use serde_json::{Value, json};

/// The caller: no customer, no open ticket.
const CALLER: &str = "13912340001";
const PASSWORD: &str = "qa-page-password-1";
/// The hotline's time zone (`tickets.time_zone`'s default): the browser
/// runs in it, so the page's "today" is the server's.
const TIME_ZONE: &str = "Asia/Shanghai";

// ----- what the test needs ------------------------------------------------------

// ----- the QA page ----------------------------------------------------------------

/// The QA page in Chromium, through tests/browser/qa.mjs.
struct Page(Driver);

impl Page {
    fn open(server: &Server, shots: Option<&Path>) -> Page {
        Page(Driver::open_page("qa.mjs", server, TIME_ZONE, shots))
    }

    fn state(&mut self) -> Value {
        self.run(json!({"cmd": "state"}), Duration::from_secs(5))
    }

    fn eval(&mut self, expr: &str) -> Value {
        self.run(json!({"cmd": "eval", "expr": expr}), Duration::from_secs(5))
    }

    /// Clicks `selector` at fraction `fx` of its width, in the middle.
    fn click_at(&mut self, selector: &str, fx: f64) {
        self.run(
            json!({"cmd": "click_at", "selector": selector, "fx": fx}),
            Duration::from_secs(10),
        );
    }

    fn hover(&mut self, selector: &str) {
        self.run(
            json!({"cmd": "hover", "selector": selector}),
            Duration::from_secs(10),
        );
    }

    fn check(&mut self, selector: &str) {
        self.run(
            json!({"cmd": "check", "selector": selector}),
            Duration::from_secs(10),
        );
    }

    fn press(&mut self, key: &str) {
        self.run(json!({"cmd": "press", "key": key}), Duration::from_secs(5));
    }

    fn reload(&mut self) {
        self.run(json!({"cmd": "reload"}), Duration::from_secs(20));
    }
}

impl std::ops::Deref for Page {
    type Target = Driver;
    fn deref(&self) -> &Driver {
        &self.0
    }
}

impl std::ops::DerefMut for Page {
    fn deref_mut(&mut self) -> &mut Driver {
        &mut self.0
    }
}

// ----- setup through the API -----------------------------------------------------------

fn get_json(server: &Server, path: &str) -> Value {
    let (status, body) = server.get(path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// One recorded call: ann answers on her desk phone, the caller talks
/// (440 Hz) for about 3 s with a 1 s pause of the recording in the middle.
/// Returns the call's record once its recording is complete.
fn record_a_call(server: &Server, ann_token: &str) -> Value {
    let mut screen = Screen::open(server, ann_token);
    screen.wait("hello", Duration::from_secs(5));
    let phone = DeskPhone::register(server, "ann", PASSWORD, "agent_phone_tone.xml", false);
    assert_eq!(
        screen.command("r", json!({ "type": "ready" }))["type"],
        "ok"
    );
    let mut caller = common::call_to_agent_queue(server, CALLER);
    let offered = screen.wait("offered", Duration::from_secs(10));
    let id = offered["call"]["id"].as_str().unwrap().to_owned();
    screen.wait("answered", Duration::from_secs(10));
    caller.start_talking(&tone(440.0, 8000));
    std::thread::sleep(Duration::from_millis(1500));
    let paused = screen.command("p", json!({ "type": "pause_recording", "call": id }));
    assert_eq!(paused["type"], "ok", "{paused}");
    std::thread::sleep(Duration::from_millis(1000));
    let resumed = screen.command("q", json!({ "type": "resume_recording", "call": id }));
    assert_eq!(resumed["type"], "ok", "{resumed}");
    std::thread::sleep(Duration::from_millis(1500));
    caller.hang_up();
    screen.wait("ended", Duration::from_secs(5));
    assert!(
        phone.finished(Duration::from_secs(10)),
        "ann's phone saw the BYE"
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let call = get_json(server, &format!("/api/calls/{id}"));
        if call["recording"]["state"] == "complete" {
            return call;
        }
        assert!(
            Instant::now() < deadline,
            "the recording of {id} is not complete: {call:#}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where the event `kind` is in the recording, ms: its `offset_ms`, or
/// its time after the recording's start.
fn offset_of(call: &Value, kind: &str) -> i64 {
    let event = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event in {call:#}"));
    event["offset_ms"].as_i64().unwrap_or_else(|| {
        event["at"].as_i64().unwrap() - call["recording"]["started_at"].as_i64().unwrap()
    })
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

// ----- the test ----------------------------------------------------------------------------

#[test]
fn qa_finds_listens_to_scores_and_comments_a_recorded_call() {
    if !have_browser() || !have_sipp() {
        return;
    }
    let started = Instant::now();
    let server = Server::start(&[]);
    let (ann, ann_token) = server.add_user("ann", "agent", PASSWORD);
    let (quinn, _) = server.add_user("quinn", "qa", PASSWORD);
    server.add_user("tech", "outlet", PASSWORD);

    let call = record_a_call(&server, &ann_token);
    let id = call["id"].as_str().unwrap().to_owned();
    let rec = &call["recording"];
    let duration_ms = rec["duration_ms"].as_i64().unwrap();
    let paused_at = offset_of(&call, "recording-paused");
    let resumed_at = offset_of(&call, "recording-resumed");
    let answered_at = offset_of(&call, "agent-answered");
    eprintln!(
        "recorded {id}: {duration_ms} ms, answered at {answered_at}, paused {paused_at}..{resumed_at} ({:?})",
        started.elapsed()
    );

    // ----- QA signs in and finds the call: today, by the caller's phone.
    let shots = screenshots_dir();
    let mut page = Page::open(&server, shots.as_deref());
    page.goto("/qa");
    let me = page.login("quinn", PASSWORD, "app");
    assert_eq!(me["user"]["id"], quinn, "{me}");
    assert_eq!(me["reviewer"], true, "{me}");
    // The first search (the last seven days) already has it.
    let first = page.wait_fn(
        "window.qa.state().results.loaded && window.qa.state().results",
        Duration::from_secs(10),
    );
    assert_eq!(first["ids"], json!([id]), "{first}");
    let today = page.eval("HL.isoDate(new Date())");
    let today = today.as_str().unwrap().to_owned();
    page.fill("#f-from", &today);
    page.fill("#f-to", &today);
    page.fill("#f-phone", CALLER);
    page.click("#btn-search");
    let found = page.wait_fn(
        "(() => { const s = window.qa.state(); \
           return !document.querySelector('#results-count').textContent.includes('…') \
             && s.results.loaded && s.results; })()",
        Duration::from_secs(10),
    );
    assert_eq!(
        (found["total"].as_i64(), &found["ids"]),
        (Some(1), &json!([id])),
        "{found}"
    );
    let row = page.text(&format!("tr.call-row[data-id='{id}']"));
    assert!(row.contains(CALLER) && row.contains("ann"), "{row}");
    assert!(row.contains("Not reviewed"), "{row}");

    // ----- Open it: the waveform of both channels and the timeline.
    page.click(&format!("tr.call-row[data-id='{id}']"));
    let wave = page.wait_fn(
        "window.qa.state().wave.drawn && window.qa.state().qaLoaded && window.qa.state().wave",
        Duration::from_secs(10),
    );
    assert_eq!(
        (wave["channels"].as_i64(), wave["rate"].as_i64()),
        (Some(2), Some(8000)),
        "{wave}"
    );
    assert!(
        (f(&wave["durationMs"]) - duration_ms as f64).abs() < 50.0,
        "the file is {} ms, the record says {duration_ms} ms",
        wave["durationMs"]
    );
    let state = page.state();
    let kinds: Vec<&str> = state["markers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "prompt",
        "dtmf",
        "agent-answered",
        "recording-paused",
        "recording-resumed",
        "hangup",
    ] {
        assert!(kinds.contains(&kind), "no {kind} marker: {kinds:?}");
    }
    assert_eq!(
        state["markerCount"].as_u64(),
        Some(kinds.len() as u64),
        "{state:#}"
    );
    assert_eq!(
        state["pausedSpans"],
        json!([{ "from": paused_at, "to": resumed_at }]),
        "{state:#}"
    );
    // What the page read from the WAV: the caller's tone on the left while
    // talking, silence on both channels while paused.
    let talking = page.eval(&format!(
        "window.qa.level({}, {})",
        answered_at + 600,
        paused_at - 100
    ));
    assert!(f(&talking["left"]) > 0.1, "the caller talks: {talking}");
    let silent = page.eval(&format!(
        "window.qa.level({}, {})",
        paused_at + 20,
        resumed_at - 20
    ));
    assert_eq!(
        (f(&silent["left"]), f(&silent["right"])),
        (0.0, 0.0),
        "paused: {silent}"
    );
    assert!(page.visible("#legend"));
    page.hover("#markers .marker[data-kind='recording-paused']");
    let tip = page.text("#wave-tip");
    assert!(tip.contains("recording-paused"), "{tip}");

    // ----- Play: the clock moves.
    let before = f(&page.state()["audio"]["currentTime"]);
    page.eval("document.activeElement && document.activeElement.blur()");
    page.press("Space");
    let playing = page.wait_fn(
        &format!(
            "(() => {{ const a = window.qa.state().audio; \
               return !a.paused && a.currentTime > {before} + 0.5 && a; }})()"
        ),
        Duration::from_secs(10),
    );
    assert!(
        f(&playing["seekableEnd"]) * 1000.0 > duration_ms as f64 - 100.0,
        "{playing}"
    );
    page.press("Space");
    page.wait_fn("window.qa.state().audio.paused", Duration::from_secs(5));

    // ----- Seek: a click at 60 % of the waveform.
    page.click_at("#wave", 0.6);
    let target = 0.6 * duration_ms as f64 / 1000.0;
    let sought = page.wait_fn(
        &format!(
            "(() => {{ const a = window.qa.state().audio; \
               return Math.abs(a.currentTime - {target}) < 0.25 && a.readyState >= 2 && a; }})()"
        ),
        Duration::from_secs(10),
    );
    let at_s = f(&sought["currentTime"]);
    // The server answered the player's Range requests with 206.
    let requests = page.run(json!({"cmd": "recording_requests"}), Duration::from_secs(5));
    let ranged = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "media" && r["status"] == 206 && r["range"].is_string())
        .count();
    assert!(
        ranged >= 1,
        "no 206 answer to a Range request: {requests:#}"
    );
    eprintln!("seek to {at_s:.3} s (target {target:.3} s); recording requests: {requests}");

    // ----- Score: every criterion met but one that does not fail the call.
    let cards = get_json(&server, "/api/qa/scorecards");
    let card = &cards["scorecards"][0];
    let card_name = card["name"].as_str().unwrap().to_owned();
    let criteria = card["criteria"].as_array().unwrap();
    let missed = criteria
        .iter()
        .find(|c| c["fatal"] == false)
        .expect("a criterion that does not fail the call");
    let missed_key = missed["key"].as_str().unwrap().to_owned();
    let weights: i64 = criteria.iter().map(|c| c["weight"].as_i64().unwrap()).sum();
    let expected = weights - missed["weight"].as_i64().unwrap();
    for c in criteria {
        let key = c["key"].as_str().unwrap();
        if key != missed_key {
            page.check(&format!("#criteria input[data-key='{key}']"));
        }
    }
    let preview = page.text("#score-preview");
    assert_eq!(preview, expected.to_string(), "the total before saving");
    page.fill("#score-note", "Clear and polite; the closing was rushed.");
    page.click("#btn-score-save");
    let saved = page.wait_fn("window.qa.state().lastScore", Duration::from_secs(10));
    assert_eq!(
        (saved["total"].as_i64(), saved["failed"].as_bool()),
        (Some(expected), Some(false)),
        "{saved}"
    );
    assert_eq!(saved["items"][&missed_key], false, "{saved}");
    assert_eq!(page.text("#score-total"), saved["total"].to_string());

    // ----- A comment at the current moment.
    page.fill("#comment-text", "Restates the fault clearly here.");
    page.click("#btn-comment");
    let comments = page.wait_fn(
        "window.qa.state().comments.length === 1 && window.qa.state().comments",
        Duration::from_secs(10),
    );
    let offset = comments[0]["offset_ms"].as_i64().unwrap();
    assert!(
        (offset as f64 - at_s * 1000.0).abs() < 300.0,
        "the comment is at {offset} ms, the player was at {at_s} s"
    );
    page.shot("qa-call");

    // ----- Back to the list: the search runs again and shows the score.
    page.click("#btn-back");
    let row_selector = format!("tr.call-row[data-id='{id}']");
    page.wait_fn(
        &format!(
            "(() => {{ const r = document.querySelector(\"{row_selector}\"); \
               return r && r.offsetParent && !r.textContent.includes('Not reviewed'); }})()"
        ),
        Duration::from_secs(10),
    );
    let row = page.text(&row_selector);
    assert!(row.contains(&expected.to_string()), "{row}");
    page.shot("qa-search");
    page.click(&row_selector);
    page.wait_fn(
        "window.qa.state().wave.drawn && window.qa.state().qaLoaded",
        Duration::from_secs(10),
    );

    // ----- Reloaded: the same call, its score and its comment.
    page.reload();
    let again = page.wait_fn(
        "(() => { const s = window.qa.state(); return s.callLoaded && s.qaLoaded && s.wave.drawn && s; })()",
        Duration::from_secs(15),
    );
    assert_eq!(again["callId"], id.as_str(), "{again:#}");
    assert_eq!(
        again["scores"][0]["total"].as_i64(),
        Some(expected),
        "{again:#}"
    );
    assert_eq!(
        again["comments"][0]["offset_ms"].as_i64(),
        Some(offset),
        "{again:#}"
    );
    let listed = page.text(&format!("#comments .comment[data-offset='{offset}']"));
    let mm_ss = format!("{}:{:02}", offset / 60_000, offset / 1000 % 60);
    assert!(
        listed.contains(&mm_ss) && listed.contains("Restates the fault"),
        "{listed} (at {mm_ss})"
    );
    let scores_text = page.text("#scores");
    assert!(scores_text.contains(&expected.to_string()), "{scores_text}");
    page.assert_no_errors();

    // The API has them too.
    let qa = get_json(&server, &format!("/api/calls/{id}/qa"));
    assert_eq!(qa["scores"].as_array().map(Vec::len), Some(1), "{qa:#}");
    let score = &qa["scores"][0];
    assert_eq!(
        (
            score["scorecard"].as_str(),
            score["total"].as_i64(),
            score["reviewer_id"].as_i64(),
            score["agent_id"].as_i64()
        ),
        (
            Some(card_name.as_str()),
            Some(expected),
            Some(quinn),
            Some(ann)
        ),
        "{qa:#}"
    );
    assert_eq!(
        (
            qa["comments"][0]["offset_ms"].as_i64(),
            qa["comments"][0]["text"].as_str()
        ),
        (Some(offset), Some("Restates the fault clearly here.")),
        "{qa:#}"
    );
    // The search shows it reviewed now.
    let listed = get_json(&server, &format!("/api/recordings?phone={CALLER}"));
    assert_eq!(
        listed["calls"][0]["score"]["total"].as_i64(),
        Some(expected),
        "{listed:#}"
    );

    // ----- Ann, the agent: her call, its score and comment, read-only.
    page.click("#btn-signout");
    let ann_view = page.login("ann", PASSWORD, "app");
    assert_eq!(ann_view["reviewer"], false, "{ann_view}");
    assert!(!page.visible("#tab-sample"), "agents get no daily sample");
    assert!(page.visible("#own-only"));
    let hers = page.wait_fn(
        "window.qa.state().results.loaded && window.qa.state().results",
        Duration::from_secs(10),
    );
    assert_eq!(hers["ids"], json!([id]), "{hers}");
    page.click(&format!("tr.call-row[data-id='{id}']"));
    let seen = page.wait_fn(
        "(() => { const s = window.qa.state(); return s.callLoaded && s.qaLoaded && s.wave.drawn && s; })()",
        Duration::from_secs(10),
    );
    assert_eq!(
        seen["scores"][0]["total"].as_i64(),
        Some(expected),
        "{seen:#}"
    );
    assert_eq!(
        seen["comments"][0]["offset_ms"].as_i64(),
        Some(offset),
        "{seen:#}"
    );
    assert!(!page.visible("#score-form"), "no scoring for an agent");
    assert!(!page.visible("#comment-form"), "no comments from an agent");
    assert!(page.visible("#score-readonly"));
    assert!(page.text("#scores").contains(&expected.to_string()));
    assert!(page.text("#comments").contains("Restates the fault"));

    // ----- An outlet user is told the page is not for them.
    page.click("#btn-signout");
    page.login("tech", PASSWORD, "denied");
    let denied = page.text("#denied-text");
    assert!(
        denied.contains("tech") && denied.contains("outlet"),
        "{denied}"
    );
    page.assert_no_errors();
    eprintln!("done in {:?}", started.elapsed());
}
