//! Two hotline servers share one PostgreSQL database and dial from one
//! campaign at once: every contact is dialled exactly once, counted where
//! the calls arrive — at the carrier (sipp, whose message trace is read
//! here) — not only in our own records.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use hotline::store::{Backend, Store};
use serde_json::json;

const CONTACTS: usize = 30;

/// A second server on the same database, started by hand (the test admin
/// exists already); killed on drop.
struct Second(Child, std::path::PathBuf);

impl Drop for Second {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Second {
    fn start(database: &str, config: &std::path::Path) -> Second {
        let data = common::temp_dir("second");
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["serve", "--sip", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(["--https", ""])
            .args(["--data", data.to_str().unwrap()])
            .args(["--rtp-ports", &common::rtp_range()])
            .args([
                "--flows",
                common::flows_copy(common::always_open).to_str().unwrap(),
            ])
            .args(["--database", database, "--config", config.to_str().unwrap()])
            .env("HOTLINE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(data.join("server.log")).unwrap(),
            ))
            .spawn()
            .expect("start the second hotline");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("ready") => break,
                Some(Ok(_)) => {}
                _ => panic!(
                    "the second hotline exited:\n{}",
                    std::fs::read_to_string(data.join("server.log")).unwrap_or_default()
                ),
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        Second(child, data)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.1.join("server.log")).unwrap_or_default()
    }
}

/// (number, Call-ID) of every INVITE in sipp's message trace.
fn invites_in(trace: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut number: Option<String> = None;
    for line in trace.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("INVITE sip:") {
            number = rest.split('@').next().map(str::to_owned);
        } else if let (Some(n), Some(id)) = (&number, line.strip_prefix("Call-ID:")) {
            out.insert((n.clone(), id.trim().to_owned()));
            number = None;
        }
    }
    out
}

#[test]
fn two_instances_on_one_postgresql_dial_every_contact_exactly_once() {
    if !common::have_sipp() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some((url, _guard)) = rt.block_on(common::db::fresh_database(
        Backend::Postgres,
        "two_instances_on_one_postgresql_dial_every_contact_exactly_once",
    )) else {
        return;
    };

    // The carrier: every customer is busy (486), so each contact gets one
    // attempt now and the next only after its 60 s retry delay.
    let proxy = common::free_port();
    let trace_dir = common::temp_dir("carrier");
    let trace = trace_dir.join("messages.log");
    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/customer.xml");
    let mut carrier = Command::new("sipp")
        .arg("-sf")
        .arg(scenario)
        .args(["-p", &proxy.to_string(), "-i", "127.0.0.1", "-nostdin"])
        .args(["-trace_msg", "-message_file", trace.to_str().unwrap()])
        .current_dir(&trace_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run sipp");

    let config = common::campaign_config(
        "[outbound]\nproxy = \"127.0.0.1:{proxy}\"\nlines = 10\n\
             [[campaigns]]\nname = \"blast\"\nkind = \"survey\"\nflow = \"survey\"\n\
             caller_id = \"4008001234\"\ntime_zone = \"{zone}\"\nhours = { daily = \"08:00-21:00\" }\n\
             concurrency = 4\nallow = [\"_1[3-9]XXXXXXXXX\"]\n\
             retry_secs = { busy = 60, no_answer = 3600, rejected = 3600, failed = 3600, network_error = 3600 }\n",
        proxy,
    );
    let first = Server::start(&["--database", &url, "--config", config.to_str().unwrap()]);
    let second = Second::start(&url, &config);
    let numbers: Vec<String> = (0..CONTACTS).map(|i| format!("13900{i:03}486")).collect();
    for n in &numbers {
        first.post("/api/campaigns/blast/contacts", &json!({ "phone": n }));
    }

    let store = rt.block_on(Store::connect(&url)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(50);
    loop {
        let tried: i64 = rt
            .block_on(
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM campaign_contacts WHERE campaign = 'blast' AND attempts >= 1",
                )
                .fetch_one(store.pool()),
            )
            .unwrap();
        if tried == CONTACTS as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{tried} of {CONTACTS} tried\n{}\n---\n{}",
            first.log(),
            second.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Anything dialled twice would reach the carrier within a moment.
    std::thread::sleep(Duration::from_secs(2));
    let _ = carrier.kill();
    let _ = carrier.wait();

    let seen = invites_in(&std::fs::read_to_string(&trace).unwrap_or_default());
    let mut per_number: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, _) in &seen {
        *per_number.entry(n.as_str()).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> = numbers.iter().map(|n| (n.as_str(), 1)).collect();
    assert_eq!(per_number, expected, "INVITEs per number at the carrier");

    let contacts: Vec<(i64, String, Option<String>)> = rt
        .block_on(
            sqlx::query_as(
                "SELECT attempts, state, outcome FROM campaign_contacts WHERE campaign = 'blast'",
            )
            .fetch_all(store.pool()),
        )
        .unwrap();
    assert!(
        contacts
            .iter()
            .all(|c| c == &(1, "waiting".to_owned(), Some("busy".to_owned()))),
        "{contacts:?}"
    );
    let by_first = first.log().matches("dialled campaign=blast").count();
    let by_second = second.log().matches("dialled campaign=blast").count();
    eprintln!("dialled by the first instance: {by_first}, by the second: {by_second}");
    assert_eq!(by_first + by_second, CONTACTS);
    rt.block_on(store.close());
}
