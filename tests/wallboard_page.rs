//! The supervisor's wallboard (/wallboard) in a real browser, against the
//! real binary: Bob (an agent whose desk phone is a sipp process) is on a
//! call, Ann is on a break, and another caller has waited past the
//! configured `alert_wait_secs`. A supervisor signs in and sees the
//! figures (callers waiting, answered today, the service level), both
//! agents with their states, the calls, and the wait alert in red — in
//! English and in Chinese; the alert clears when the caller hangs up. An
//! agent is turned away.
//!
//! Debian's Chromium is driven by playwright-core through
//! tests/browser/wallboard.mjs (the line protocol of the other pages'
//! drivers). Needs chromium, node, sipp and `npm ci --prefix
//! tests/browser`: without them the test prints `SKIPPED`, and fails under
//! CI=true.
//!
//! Screenshots for the docs are written only with
//! `HOTLINE_SCREENSHOTS=DIR` (for example `docs/screenshots`): wallboard
//! (the whole page, 1920 wide: a wall screen) in English, and wallboard-zh
//! in Chinese where a CJK font is installed.

mod common;

use std::path::Path;
use std::time::Duration;

use common::browser::{Driver, have_browser, screenshots_dir};
use common::desk::DeskPhone;
use common::screen::Screen;
use common::{Server, call_to_agent_queue, have_sipp};
use serde_json::json;

const PASSWORD: &str = "wallboard-page-password-1";
/// The service desk's time zone (`tickets.time_zone`'s default).
const TIME_ZONE: &str = "Asia/Shanghai";
/// The wall screen's alert red (web/wallboard.css `--wb-bad`).
const ALERT_RED: &str = "rgb(239, 91, 85)";

/// The wallboard in Chromium, through tests/browser/wallboard.mjs.
struct Page(Driver);

impl Page {
    fn open(server: &Server, shots: Option<&Path>) -> Page {
        Page(Driver::open_page("wallboard.mjs", server, TIME_ZONE, shots))
    }

    fn style(&mut self, selector: &str, property: &str) -> String {
        self.run(
            json!({"cmd": "style", "selector": selector, "property": property}),
            Duration::from_secs(10),
        )
        .as_str()
        .unwrap()
        .to_owned()
    }

    /// Waits until `selector` is in `state` (visible, hidden, detached).
    fn wait(&mut self, selector: &str, state: &str) {
        self.run(
            json!({"cmd": "wait", "selector": selector, "state": state}),
            Duration::from_secs(10),
        );
    }

    fn lang(&mut self, lang: &str) {
        self.run(
            json!({"cmd": "eval", "expr": format!("HL.setLang('{lang}')")}),
            Duration::from_secs(5),
        );
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

#[test]
fn a_supervisor_watches_the_board_with_a_caller_waiting_too_long() {
    if !have_browser() || !have_sipp() {
        return;
    }
    let config = common::temp_dir("wallboard-page").join("hotline.toml");
    std::fs::write(&config, "[monitoring]\nalert_wait_secs = 2\n").unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap()]);
    let (_ann, ann_token) = server.add_user("ann", "agent", PASSWORD);
    let (_bob, bob_token) = server.add_user("bob", "agent", PASSWORD);
    server.add_user("lin", "supervisor", PASSWORD);
    server.add_user("zoe", "agent", PASSWORD);

    // Bob answers a first caller on his desk phone; Ann takes a break.
    let mut bob = Screen::open(&server, &bob_token);
    bob.wait("hello", Duration::from_secs(5));
    let _phone = DeskPhone::register(&server, "bob", PASSWORD, "agent_phone_tone.xml", false);
    assert_eq!(bob.command("r", json!({"type": "ready"}))["type"], "ok");
    let _talking = call_to_agent_queue(&server, "13912340088");
    bob.wait("answered", Duration::from_secs(10));
    let mut ann = Screen::open(&server, &ann_token);
    ann.wait("hello", Duration::from_secs(5));
    let answer = ann.command("n", json!({"type": "not_ready", "reason": "break"}));
    assert_eq!(answer["type"], "ok", "{answer}");
    // Nobody is free: the next caller waits.
    let mut waiting = call_to_agent_queue(&server, "13912340099");

    let shots = screenshots_dir();
    let mut page = Page::open(&server, shots.as_deref());
    page.goto("/wallboard");
    let me = page.login("lin", PASSWORD, "app");
    assert_eq!(me["user"]["role"], "supervisor", "{me}");

    // The board as the server sends it: one waiting past the threshold,
    // one answered, Bob on the call, Ann on her break.
    let board = page.wait_fn(
        "(() => { const b = window.wallboard.state().board; \
           return b && b.totals.waiting === 1 && b.totals.answered === 1 \
             && b.alerts.some((a) => a.kind === 'long_wait') && b; })()",
        Duration::from_secs(15),
    );
    let alert = board["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "long_wait")
        .unwrap()
        .clone();
    assert_eq!(alert["caller"], "13912340099");

    // What the page draws from it.
    let general = "[data-queue='general']";
    assert_eq!(
        page.text(&format!("{general} [data-fig='waiting'] .value")),
        "1"
    );
    assert_eq!(
        page.text(&format!("{general} [data-fig='answered'] .value")),
        "1"
    );
    assert_eq!(
        page.text(&format!("{general} [data-fig='service_level'] .value")),
        "100%"
    );
    assert_eq!(page.text("#totals [data-fig='waiting'] .value"), "1");
    let longest = page.text(&format!("{general} [data-fig='longest'] .value"));
    let (m, sec) = longest
        .split_once(':')
        .unwrap_or_else(|| panic!("{longest}"));
    assert!(
        m.parse::<u32>().unwrap() * 60 + sec.parse::<u32>().unwrap() >= 2,
        "the longest wait is past the 2 s threshold: {longest}"
    );
    // The alert, in red: the list, the queue's card, the caller's row.
    let item = "#alerts .alert-item[data-kind='long_wait']";
    let text = page.text(item);
    assert!(
        text.contains("13912340099") && text.contains("has waited") && text.contains("General"),
        "{text}"
    );
    assert_eq!(page.style(item, "background-color"), ALERT_RED);
    assert!(
        page.visible(&format!("{general}.alerting")),
        "the queue's card is marked"
    );
    assert_eq!(
        page.style(&format!("{general}.alerting"), "border-left-color"),
        ALERT_RED
    );
    assert_eq!(
        page.style(&format!("{general} [data-fig='waiting'] .value"), "color"),
        ALERT_RED
    );
    assert!(page.visible("#calls tr.late[data-state='waiting']"));
    // The agents and the calls.
    let bob_card = "#agents .wb-agent[data-state='on_call']";
    assert!(page.text(bob_card).contains("bob"));
    assert!(page.text(bob_card).contains("13912340088"), "bob's caller");
    assert!(page.text(bob_card).contains("1 today"));
    let ann_card = "#agents .wb-agent[data-state='not_ready']";
    assert!(
        page.text(ann_card).contains("Not ready · Break"),
        "{}",
        page.text(ann_card)
    );
    assert_eq!(page.text("#call-count"), "2");
    assert!(page.text("#calls tr[data-state='talking']").contains("bob"));
    // Durations tick between frames: the talking call's clock moves.
    let clock = "#calls tr[data-state='talking'] td.num";
    let before = page.text(clock);
    page.wait_fn(
        &format!("document.querySelector(\"{clock}\").textContent !== '{before}'"),
        Duration::from_secs(3),
    );

    // In Chinese (the default of a Chinese browser, and of the page).
    page.lang("zh");
    assert_eq!(page.text("#totals .totals-title"), "全部队列");
    let text = page.text(item);
    assert!(text.contains("已等待") && text.contains("综合"), "{text}");
    assert!(page.text(ann_card).contains("未就绪 · 休息"));
    assert_eq!(
        page.text(&format!("{general} [data-fig='service_level'] .label")),
        "今日服务水平"
    );
    page.lang("en");
    assert_eq!(page.text("#totals .totals-title"), "All queues");

    page.shot("wallboard");

    // The caller gives up: the alert goes, the abandon is counted.
    waiting.hang_up();
    page.wait_fn(
        "(() => { const b = window.wallboard.state().board; \
           return b && b.totals.waiting === 0 && b.totals.abandoned === 1 \
             && !b.alerts.some((a) => a.kind === 'long_wait'); })()",
        Duration::from_secs(10),
    );
    page.wait("#alerts .alert-item[data-kind='long_wait']", "detached");
    // One of two in time: the service level falls below its target, which
    // is an alert of its own.
    assert_eq!(
        page.text(&format!("{general} [data-fig='service_level'] .value")),
        "50%"
    );
    assert!(page.visible("#alerts .alert-item[data-kind='service_level']"));
    assert!(page.visible(&format!("{general}.alerting")));
    assert_eq!(
        page.text(&format!("{general} [data-fig='abandoned'] .value")),
        "1"
    );
    page.assert_no_errors();

    // An agent may not watch the board.
    page.click("#btn-signout");
    page.wait("#login-view", "visible");
    page.login("zoe", PASSWORD, "denied");
    assert!(page.text("#denied-text").contains("supervisors and admins"));
    page.assert_no_errors();
}
