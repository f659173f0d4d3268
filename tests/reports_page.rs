//! The reports page (/reports) end to end in a real browser, against the
//! real binary with the data set of tests/common/report_data.rs written
//! into its database: a supervisor signs in, asks for the seeded day by
//! hour and sees the figures known by construction (service level 80.0%
//! at 10:00, 79.8% over the day, ASA, abandonment, FCR, agents), the SVG
//! charts drawn from them (a bar per hour, the service level against its
//! 80% target, the outlet ranking), switches to Chinese and back, clicks a
//! CSV link and gets the file, asks for three days by day (the outlet
//! ranking), and for too many days by hour (refused in plain words); a QA
//! user is turned away.
//!
//! Debian's Chromium is driven by playwright-core through
//! tests/browser/reports.mjs. Needs chromium, node and `npm ci --prefix
//! tests/browser`: without them the test prints `SKIPPED`, and fails under
//! CI=true.
//!
//! Screenshots for the docs are written only with
//! `HOTLINE_SCREENSHOTS=DIR` (for example `docs/screenshots`): reports (the
//! top of the page: the range, calls by hour, the service level over the
//! day) and reports-outlets (the outlet ranking), in English, and the same
//! with -zh in Chinese where a CJK font is installed.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Server;
use common::browser::{Driver, have_browser, screenshots_dir};
use common::report_data::{DAY, TIME_ZONE, date, seed};
use hotline::store::Store;
use serde_json::{Value, json};

const PASSWORD: &str = "reports-page-password-1";

/// The reports page in Chromium, through tests/browser/reports.mjs.
struct Page(Driver);

impl Page {
    fn open(server: &Server, shots: Option<&Path>) -> Page {
        Page(Driver::open_page("reports.mjs", server, TIME_ZONE, shots))
    }

    fn select(&mut self, selector: &str, value: &str) {
        self.run(
            json!({"cmd": "select", "selector": selector, "value": value}),
            Duration::from_secs(10),
        );
    }

    fn count(&mut self, selector: &str) -> u64 {
        self.run(
            json!({"cmd": "count", "selector": selector}),
            Duration::from_secs(10),
        )
        .as_u64()
        .unwrap()
    }

    fn eval(&mut self, expr: &str) -> Value {
        self.run(
            json!({"cmd": "eval", "expr": expr}),
            Duration::from_secs(10),
        )
    }

    /// Asks for `from`..`to` by `by` and waits until every report is in.
    fn show(&mut self, from: &str, to: &str, by: &str) -> Value {
        self.fill("#r-from", from);
        self.fill("#r-to", to);
        self.select("#r-by", by);
        self.click("#btn-range");
        self.wait_fn(
            &format!(
                "(() => {{ const s = window.reports.state(); \
                   return s.range.from === '{from}' && s.range.to === '{to}' \
                     && s.range.by === '{by}' && !s.loading && s.loaded.length === 12 && s; }})()"
            ),
            Duration::from_secs(60),
        )
    }

    /// The text of the cell `key` in the row `bucket` (or `tr.total`) of
    /// `report`.
    fn cell(&mut self, report: &str, row: &str, key: &str) -> String {
        let row = if row == "total" {
            "tr.total".to_owned()
        } else {
            format!("tr[data-bucket='{row}']")
        };
        self.text(&format!("#report-{report} {row} td[data-key='{key}']"))
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

/// Writes the data set into the running server's database.
fn seed_server(server: &Server) {
    let url = format!("sqlite://{}", server.data.join("hotline.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::connect(&url).await.unwrap();
        seed(&store).await;
        store.close().await;
    });
}

#[test]
fn a_supervisor_reads_the_reports_their_charts_and_their_csv() {
    if !have_browser() {
        return;
    }
    let server = Server::start(&[]);
    server.add_user("mei", "supervisor", PASSWORD);
    server.add_user("quinn", "qa", PASSWORD);
    seed_server(&server);

    let shots = screenshots_dir();
    let mut page = Page::open(&server, shots.as_deref());
    page.goto("/reports");
    let me = page.login("mei", PASSWORD, "app");
    assert_eq!(me["user"]["role"], "supervisor", "{me}");

    // ----- The seeded day by hour.
    let state = page.show(DAY, DAY, "hour");
    assert_eq!(state["errors"], json!({}), "{state}");
    let ten = format!("{DAY} 10:00");
    assert_eq!(page.cell("service-level", &ten, "offered"), "100");
    assert_eq!(page.cell("service-level", &ten, "answered_in_time"), "80");
    assert_eq!(page.cell("service-level", &ten, "service_level"), "80.0%");
    assert_eq!(page.cell("service-level", &ten, "asa_secs"), "14.8 s");
    assert_eq!(
        page.cell("service-level", "total", "service_level"),
        "79.8%"
    );
    assert_eq!(page.cell("service-level", "total", "bucket"), "Total");
    assert_eq!(
        page.cell("service-level", &format!("{DAY} 14:00"), "service_level"),
        "—"
    );
    assert_eq!(page.cell("abandonment", &ten, "abandon_rate"), "8.0%");
    assert_eq!(page.cell("abandonment", &ten, "avg_abandon_secs"), "45.0 s");
    assert_eq!(page.cell("handle-time", &ten, "aht_secs"), "130.0 s");
    assert_eq!(page.cell("fcr", "total", "fcr_rate"), "98.0%");
    assert_eq!(page.cell("calls", "total", "inbound"), "113");
    assert_eq!(page.cell("calls", "total", "outbound_answered"), "3");
    assert_eq!(
        page.text("#report-agents tbody tr:first-child td[data-key='agent']"),
        "Agent A"
    );
    assert_eq!(
        page.text("#report-agents tbody tr:first-child td[data-key='logged_in_secs']"),
        "3:00:00"
    );
    // Under the target in red, at or over it in green.
    assert_eq!(
        page.eval(&format!(
            "document.querySelector(\"#report-service-level tr[data-bucket='{DAY} 11:00'] td[data-key='service_level']\").className"
        )),
        json!("num bad")
    );
    // Every figure is defined on the page.
    let defined =
        page.eval("document.querySelector('#report-service-level details.defs').textContent");
    let defined = defined.as_str().unwrap();
    assert!(
        defined.contains("Answered in 20 s ÷ (queued − waiting − callbacks)"),
        "{defined}"
    );
    assert!(
        page.text("#report-abandonment .lead")
            .contains("asked for a callback"),
        "the edge cases are stated"
    );

    // ----- The charts: a bar pair per hour, the service level of the four
    // hours that have one against the 80% target, drawn as SVG.
    assert_eq!(page.count("[data-chart='calls'] svg rect.bar.offered"), 24);
    let ten_bar = page.eval(
        "document.querySelector(\"[data-chart='calls'] rect.bar.offered[data-bucket$='10:00']\").getAttribute('data-value')",
    );
    assert_eq!(ten_bar, json!("100"));
    assert!(
        page.eval(
            "document.querySelector(\"[data-chart='calls'] rect.bar.offered[data-bucket$='10:00']\").getBBox().height > 100"
        ) == json!(true),
        "the busiest hour's bar is drawn tall"
    );
    assert_eq!(page.count("[data-chart='service-level'] circle.dot"), 4);
    assert_eq!(
        page.count("[data-chart='service-level'] circle.dot.below"),
        1,
        "11:00 (50%) is under the target"
    );
    assert_eq!(
        page.eval("document.querySelector(\"[data-chart='service-level'] line.target\").getAttribute('data-value')"),
        json!("80")
    );
    page.shot("reports");
    page.eval("document.getElementById('report-service-level').scrollIntoView()");
    page.shot("reports-service-level");
    page.eval("window.scrollTo(0, 0)");

    // ----- Chinese and back.
    page.click("#lang-toggle");
    page.wait_fn(
        "window.reports.state().lang === 'zh'",
        Duration::from_secs(5),
    );
    assert_eq!(page.text("#report-service-level h2"), "服务水平");
    assert_eq!(page.cell("service-level", &ten, "asa_secs"), "14.8 秒");
    assert_eq!(page.cell("service-level", "total", "bucket"), "合计");
    assert!(page.text("#report-service-level .lead").contains("20 秒内"));
    assert_eq!(page.text("[data-chart='calls'] h3"), "每小时来电");
    page.click("#lang-toggle");
    page.wait_fn(
        "window.reports.state().lang === 'en'",
        Duration::from_secs(5),
    );
    assert_eq!(page.text("#report-service-level h2"), "Service level");

    // ----- A CSV link: the file as the API makes it.
    let file = page.run(
        json!({"cmd": "download", "selector": "#report-service-level a.csv"}),
        Duration::from_secs(20),
    );
    assert_eq!(
        file["name"],
        format!("hotline-service-level-{DAY}-to-{DAY}-by-hour.csv")
    );
    let text = file["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("{DAY} 10:00,100,92,80,0,0,80.0,14.8,30.0")),
        "{text}"
    );
    assert!(
        text.contains("total,112,99,87,2,1,79.8,14.3,30.0"),
        "{text}"
    );

    // ----- Three days by day: the outlet ranking.
    page.show(DAY, &date(2), "day");
    assert_eq!(page.count("#report-calls tbody tr:not(.total)"), 3);
    assert_eq!(
        page.text("#report-outlets tbody tr:first-child td[data-key='outlet']"),
        "WZ-TAISHUN"
    );
    assert_eq!(
        page.text("#report-outlets tbody tr:nth-child(2) td[data-key='on_time_rate']"),
        "66.7%"
    );
    assert_eq!(
        page.text("#report-outlets tbody tr:nth-child(2) td[data-key='avg_completion_hours']"),
        "15.00 h"
    );
    assert_eq!(page.count("[data-chart='outlets'] rect.bar.rank"), 2);
    assert_eq!(
        page.eval("[...document.querySelectorAll(\"[data-chart='outlets'] rect.bar.rank\")].map((r) => r.getAttribute('data-outlet') + '=' + r.getAttribute('data-value')).join(' ')"),
        json!("WZ-TAISHUN=100 WZ-LUCHENG=66.7")
    );
    assert_eq!(page.cell("satisfaction", "total", "coverage"), "40.0%");
    assert_eq!(
        page.text("#report-complaints tbody tr:first-child td[data-key='category']"),
        "收费争议"
    );
    page.eval("document.getElementById('report-outlets').scrollIntoView()");
    page.shot("reports-outlets");

    // ----- Too many days by hour: refused in plain words.
    page.fill("#r-from", "2025-01-01");
    page.fill("#r-to", "2025-03-10");
    page.select("#r-by", "hour");
    page.click("#btn-range");
    page.wait_fn(
        "document.getElementById('range-error').textContent.includes('at most 31 days')",
        Duration::from_secs(10),
    );
    assert!(
        page.text("#range-error")
            .starts_with("No reports: 2025-01-01 to 2025-03-10 is 69 days"),
        "{}",
        page.text("#range-error")
    );
    page.assert_no_errors();

    // ----- QA may not read the reports.
    page.click("#btn-signout");
    page.wait_fn(
        "!document.getElementById('login-view').hidden",
        Duration::from_secs(5),
    );
    page.login("quinn", PASSWORD, "denied");
    assert!(page.text("#denied-text").contains("supervisors and admins"));
    page.assert_no_errors();
}
