//! The campaigns page (/campaigns) end to end in a real browser, against
//! the real binary with two configured campaigns (a survey whose calling
//! window is closed all test long, so nothing is dialled, and a preview
//! campaign) and outbound attempts seeded into its database: a supervisor
//! signs in, sees the figures of the seeded attempts, pauses and resumes
//! the survey (the API agrees at each step), is asked before a stop (a
//! cancel changes nothing; a confirm stops the other campaign for good),
//! adds a contact (and sees a refusal in plain words), puts a number on the
//! do-not-call list; a QA user is turned away.
//!
//! Debian's Chromium is driven by playwright-core through
//! tests/browser/campaigns.mjs (the line protocol of qa.mjs). Needs
//! chromium, node and `npm ci --prefix tests/browser`: without them the
//! test prints `SKIPPED`, and fails under CI=true.
//!
//! Screenshots for the docs are written only with
//! `HOTLINE_SCREENSHOTS=DIR` (for example `docs/screenshots`): campaigns
//! (the whole page, 1366 wide) in English, and campaigns-zh in Chinese
//! where a CJK font is installed.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Server;
use common::browser::{Driver, have_browser, screenshots_dir};
use hotline::records::RecordOp;
use hotline::store::Store;
use serde_json::{Value, json};

const PASSWORD: &str = "campaigns-page-password-1";
/// The service desk's time zone (`tickets.time_zone`'s default): the
/// browser runs in it, so the page's days are the server's.
const TIME_ZONE: &str = "Asia/Shanghai";

/// The campaigns page in Chromium, through tests/browser/campaigns.mjs.
struct Page(Driver);

impl Page {
    fn open(server: &Server, shots: Option<&Path>) -> Page {
        Page(Driver::open_page("campaigns.mjs", server, TIME_ZONE, shots))
    }

    fn select(&mut self, selector: &str, value: &str) {
        self.run(
            json!({"cmd": "select", "selector": selector, "value": value}),
            Duration::from_secs(10),
        );
    }

    fn wait(&mut self, selector: &str, state: &str) {
        self.run(
            json!({"cmd": "wait", "selector": selector, "state": state}),
            Duration::from_secs(10),
        );
    }

    /// Waits until the page shows `campaign` in `state`.
    fn wait_state(&mut self, campaign: &str, state: &str) -> Value {
        self.wait_fn(
            &format!(
                "(() => {{ const s = window.campaigns.state(); \
                   const c = s.campaigns.find((c) => c.name === '{campaign}'); \
                   return c && c.state === '{state}' && !s.busy.length \
                     && document.querySelector(\"[data-name='{campaign}'] .run-state\").dataset.state === '{state}' \
                     && c; }})()"
            ),
            Duration::from_secs(10),
        )
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

/// The campaign `name` as `GET /api/campaigns` shows it.
fn api_campaign(server: &Server, name: &str) -> Value {
    let (status, body) = server.get("/api/campaigns");
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    list["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"))
        .clone()
}

/// The weekday three days from today in China: a calling window that is
/// closed all test long, so the dialer calls nobody.
fn a_day_not_today() -> &'static str {
    let day = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get(TIME_ZONE).unwrap())
        .date()
        .checked_add(jiff::Span::new().days(3))
        .unwrap();
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [day.weekday().to_monday_zero_offset() as usize]
}

/// Outbound attempts of `campaign` in the last hours: `(contact, outcome)`.
fn seed_attempts(server: &Server, campaign: &str, attempts: &[(i64, &str)]) {
    let url = format!("sqlite://{}", server.data.join("hotline.db").display());
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::connect(&url).await.unwrap();
        for (i, (contact, outcome)) in (0_i64..).zip(attempts) {
            let call_id = format!("seeded-{campaign}-{i}");
            store
                .apply(&RecordOp::Dialled {
                    call_id: call_id.clone(),
                    sip_call_id: format!("sip-{call_id}"),
                    number: format!("1390000{contact:04}"),
                    caller_id: "4008001234".into(),
                    campaign: campaign.into(),
                    contact: *contact,
                    attempt: 1,
                    at: now - (i + 1) * 60_000,
                })
                .await
                .unwrap();
            store
                .apply(&RecordOp::Outcome {
                    call_id,
                    outcome: (*outcome).into(),
                })
                .await
                .unwrap();
        }
        store.close().await;
    });
}

#[test]
fn a_supervisor_switches_campaigns_adds_contacts_and_reads_figures() {
    if !have_browser() {
        return;
    }
    let dir = common::temp_dir("campaigns-page");
    let config = dir.join("hotline.toml");
    std::fs::write(
        &config,
        format!(
            "[outbound]\nproxy = \"127.0.0.1:5999\"\n\
             [[campaigns]]\nname = \"follow-up\"\nkind = \"survey\"\nflow = \"survey\"\n\
             caller_id = \"4008001234\"\nhours = {{ {day} = \"09:00-10:00\" }}\n\
             allow = [\"_1[3-9]XXXXXXXXX\"]\n\
             [[campaigns]]\nname = \"repair-callbacks\"\nkind = \"preview\"\nqueue = \"repair\"\n\
             caller_id = \"4008001234\"\nhours = {{ mon-fri = \"09:00-20:00\" }}\n\
             allow = [\"_1[3-9]XXXXXXXXX\", \"_0XXXXXXXXX!\"]\n",
            day = a_day_not_today()
        ),
    )
    .unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap(), "--demo"]);
    server.add_user("lin", "supervisor", PASSWORD);
    server.add_user("quinn", "qa", PASSWORD);
    // 5 attempts of the survey to 3 contacts today, 2 answered: 40%.
    seed_attempts(
        &server,
        "follow-up",
        &[
            (1, "answered"),
            (2, "busy"),
            (2, "no_answer"),
            (3, "answered"),
            (3, "network_error"),
        ],
    );

    let shots = screenshots_dir();
    let mut page = Page::open(&server, shots.as_deref());
    page.goto("/campaigns");
    let me = page.login("lin", PASSWORD, "app");
    assert_eq!(me["user"]["role"], "supervisor", "{me}");

    // ----- The figures of the seeded attempts (the default range: the last
    // 30 days, today included).
    let figures = page.wait_fn(
        "(() => { const f = window.campaigns.state().figures['follow-up']; \
           return f && !f.error && !window.campaigns.state().figuresLoading && f; })()",
        Duration::from_secs(15),
    );
    assert_eq!(
        (
            &figures["attempts"],
            &figures["answered"],
            &figures["contacts_dialled"]
        ),
        (&json!(5), &json!(2), &json!(3)),
        "{figures}"
    );
    let tile = |fig: &str| format!("[data-name='follow-up'] [data-fig='{fig}'] .value");
    assert_eq!(page.text(&tile("attempts")), "5");
    assert_eq!(page.text(&tile("answer_rate")), "40%");
    assert_eq!(page.text(&tile("attempts_per_contact")), "1.67");
    assert!(
        page.visible(&tile("coverage")),
        "a survey shows its follow-ups"
    );
    assert!(
        !page.visible("[data-name='repair-callbacks'] [data-fig='coverage']"),
        "a preview campaign has no survey figures"
    );
    assert_eq!(
        page.text("[data-name='repair-callbacks'] [data-fig='attempts'] .value"),
        "0"
    );
    // Every figure is defined on the page.
    let defined = page.text("#definitions");
    for words in [
        "started in the range",
        "Answered ÷ attempts",
        "Distinct contacts",
        "whole desk",
        "3 or more",
    ] {
        assert!(defined.contains(words), "{words} not in {defined}");
    }

    // ----- Pause, then resume: the page and the API agree at each step.
    assert_eq!(api_campaign(&server, "follow-up")["state"], "running");
    page.click("[data-name='follow-up'] .act-pause");
    let paused = page.wait_state("follow-up", "paused");
    assert_eq!(paused["by"], "lin", "{paused}");
    let api = api_campaign(&server, "follow-up");
    assert_eq!(
        (&api["state"], &api["state_changed_by"]),
        (&json!("paused"), &json!("lin")),
        "{api}"
    );
    assert!(
        page.text("[data-name='follow-up'] .who-when")
            .contains("lin"),
        "who paused it is shown"
    );
    page.click("[data-name='follow-up'] .act-resume");
    page.wait_state("follow-up", "running");
    assert_eq!(api_campaign(&server, "follow-up")["state"], "running");

    // ----- Stop asks first: cancel changes nothing, confirm is final.
    page.click("[data-name='repair-callbacks'] .act-stop");
    page.wait("#stop-dialog", "visible");
    assert!(page.text("#stop-text").contains("cannot be resumed"));
    page.click("#btn-stop-cancel");
    page.wait("#stop-dialog", "hidden");
    assert_eq!(
        api_campaign(&server, "repair-callbacks")["state"],
        "running"
    );
    page.click("[data-name='repair-callbacks'] .act-stop");
    page.wait("#stop-dialog", "visible");
    page.click("#btn-stop-confirm");
    page.wait_state("repair-callbacks", "stopped");
    assert_eq!(
        api_campaign(&server, "repair-callbacks")["state"],
        "stopped"
    );
    assert!(
        !page.visible("[data-name='repair-callbacks'] .act-resume")
            && !page.visible("[data-name='repair-callbacks'] .act-pause"),
        "a stopped campaign has no switch"
    );

    // ----- Add a contact: refused in plain words, then added.
    page.select("#c-campaign", "follow-up");
    page.fill("#c-phone", "010-12345678");
    page.click("#btn-add-contact");
    page.wait("#contact-error:not(:empty)", "visible");
    let refusal = page.text("#contact-error");
    assert!(
        refusal.starts_with("Not added:") && refusal.contains("outside the campaign's dial rules"),
        "{refusal}"
    );
    page.fill("#c-phone", "+86 139 0000 0077");
    page.click("#btn-add-contact");
    page.wait("#contact-done:not(:empty)", "visible");
    assert!(page.text("#contact-done").contains("13900000077"));
    assert_eq!(page.text("#contact-error"), "");
    page.wait_fn(
        "(() => { const c = window.campaigns.state().campaigns.find((c) => c.name === 'follow-up'); \
           return c && c.contacts.waiting === 1; })()",
        Duration::from_secs(10),
    );
    assert_eq!(
        page.text("[data-name='follow-up'] [data-contact='waiting'] .value"),
        "1"
    );
    assert_eq!(
        api_campaign(&server, "follow-up")["contacts"],
        json!({ "waiting": 1 })
    );

    // ----- Do not call.
    page.fill("#d-phone", "13900000088");
    page.fill("#d-reason", "asked on the phone");
    page.click("#btn-dnc");
    page.wait("#dnc-done:not(:empty)", "visible");
    let (status, body) = common::http_request(
        server.http,
        "POST",
        "/api/campaigns/follow-up/contacts",
        Some(&server.token),
        Some(r#"{"phone":"13900000088"}"#),
    );
    assert_eq!(status, 400, "the number is on the list now: {body}");

    // ----- A range of days: the seeded attempts are today's.
    let today = page.run(
        json!({"cmd": "eval", "expr": "HL.isoDate(new Date())"}),
        Duration::from_secs(5),
    );
    let today = today.as_str().unwrap().to_owned();
    page.fill("#r-from", "2020-01-01");
    page.fill("#r-to", "2020-01-31");
    page.click("#btn-range");
    page.wait_fn(
        "(() => { const f = window.campaigns.state().figures['follow-up']; \
           return f && f.from === '2020-01-01' && f.attempts === 0; })()",
        Duration::from_secs(10),
    );
    assert_eq!(page.text(&tile("answer_rate")), "—");
    page.fill("#r-from", &today);
    page.fill("#r-to", &today);
    page.click("#btn-range");
    page.wait_fn(
        &format!(
            "(() => {{ const f = window.campaigns.state().figures['follow-up']; \
               return f && f.from === '{today}' && f.attempts === 5; }})()"
        ),
        Duration::from_secs(10),
    );
    page.click("#btn-range-default");
    page.wait_fn(
        "(() => { const s = window.campaigns.state(); \
           return !s.figuresLoading && s.figures['follow-up'] && s.figures['follow-up'].from !== s.figures['follow-up'].to; })()",
        Duration::from_secs(10),
    );

    page.shot("campaigns");
    page.assert_no_errors();

    // ----- QA may not run campaigns.
    page.click("#btn-signout");
    page.wait("#login-view", "visible");
    page.login("quinn", PASSWORD, "denied");
    assert!(page.text("#denied-text").contains("supervisors and admins"));
    page.assert_no_errors();
}
