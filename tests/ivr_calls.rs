//! The IVR end to end: the real server answers calls from a small SIP/RTP
//! phone ([`common::phone`]); what the caller hears is checked by the audio
//! itself (prompt samples found in the RTP received) and what happened by
//! the call's record and timeline on the HTTP API.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Server;
use common::phone::{Phone, prompt_start, tone};
use hotline::media::g711::Law;
use serde_json::Value;

/// A caller the demo data does not know: no open tickets, straight to the menu.
const UNKNOWN: &str = "13700000000";
/// The demo ticket (stage dispatched).
const TICKET: &str = "2611250001";
/// Samples of a prompt that must be heard to count as heard (0.5 s).
const SIG: usize = 4000;

// ----- the call record -------------------------------------------------------

/// The call record's id of the phone's call, once the server recorded it.
fn record_id(server: &Server, phone: &Phone) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = server.get("/api/calls?limit=500");
        let list: Value = serde_json::from_str(&body).unwrap_or_default();
        let found = list["calls"].as_array().and_then(|calls| {
            calls
                .iter()
                .find(|c| c["sip_call_id"] == phone.sip_call_id.as_str())
        });
        if let Some(call) = found {
            return call["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "call not recorded: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /api/calls/{id}`.
fn detail(server: &Server, id: &str) -> Value {
    let (status, body) = server.get(&format!("/api/calls/{id}"));
    assert_eq!(status, 200, "{body}");
    let call: Value = serde_json::from_str(&body).unwrap();
    // Whatever a test checks, the demo flow must never go wrong like this.
    for kind in ["prompt-missing", "say-failed", "flow-error"] {
        let bad = call["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == kind);
        assert!(bad.is_none(), "{kind}: {call:#}");
    }
    call
}

/// The timeline as `kind: detail` lines, for matching and for messages.
fn timeline(call: &Value) -> Vec<String> {
    call["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e["kind"].as_str().unwrap(),
                e["detail"].as_str().unwrap()
            )
        })
        .collect()
}

/// Index of the first timeline line starting with `prefix`.
fn position(lines: &[String], prefix: &str) -> Option<usize> {
    lines.iter().position(|l| l.starts_with(prefix))
}

/// Polls the call until `ready` holds for its detail; returns that detail.
fn wait_for(
    server: &Server,
    id: &str,
    within: Duration,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let call = detail(server, id);
        if ready(&call) {
            return call;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not seen in {within:?}; timeline:\n{}\n--- server log:\n{}",
            timeline(&call).join("\n"),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for a timeline line starting with `prefix`; returns the timeline.
fn wait_for_event(server: &Server, id: &str, prefix: &str, within: Duration) -> Vec<String> {
    let call = wait_for(server, id, within, prefix, |c| {
        position(&timeline(c), prefix).is_some()
    });
    timeline(&call)
}

const MAIN_MENU: &str = "node: hotline/main (menu)";

// ----- what the caller hears -------------------------------------------------

/// Waits until the phone hears the start of a prompt; fails with what the
/// timeline says otherwise.
fn hear(
    server: &Server,
    id: &str,
    phone: &Phone,
    language: &str,
    prompt: &str,
    within: Duration,
) -> usize {
    let needle = prompt_start(phone.law, language, prompt, SIG);
    phone.wait_to_hear(&needle, within).unwrap_or_else(|| {
        panic!(
            "{language}/{prompt} not heard in {within:?}; timeline:\n{}",
            timeline(&detail(server, id)).join("\n")
        )
    })
}

/// Calls in and waits for the start of the Mandarin welcome (so keys
/// pressed next land in the welcome); returns the phone and record id.
fn call_in(server: &Server, caller: &str, law: Law) -> (Phone, String) {
    let phone = Phone::call_with(server.sip, caller, law);
    let id = record_id(server, &phone);
    let welcome = prompt_start(phone.law, "zh", "welcome", 800);
    assert!(
        phone
            .wait_to_hear(&welcome, Duration::from_secs(10))
            .is_some(),
        "no welcome heard"
    );
    (phone, id)
}

/// Calls in, presses 2 (English) during the welcome and waits for the main menu.
fn call_to_english_menu(server: &Server) -> (Phone, String) {
    let (phone, id) = call_in(server, UNKNOWN, Law::Pcmu);
    phone.press("2");
    wait_for_event(server, &id, MAIN_MENU, Duration::from_secs(10));
    (phone, id)
}

// ----- a. the language chosen is the language heard --------------------------

#[test]
fn prompts_are_heard_in_the_language_chosen() {
    let server = Server::start(&[]);
    // The caller who presses nothing: welcome, 4 s of the language menu,
    // then the Mandarin main menu. Started first, it runs alongside.
    let (silent, silent_id) = call_in(&server, UNKNOWN, Law::Pcmu);

    let (english, id) = call_in(&server, UNKNOWN, Law::Pcma);
    let pressed = Instant::now();
    english.press("2");
    let menu = hear(
        &server,
        &id,
        &english,
        "en",
        "main-menu",
        Duration::from_secs(15),
    );
    // Barge-in: the key cut the welcome short (the rest of it and the
    // language menu would take seconds more).
    let waited = english.heard().arrival(menu).unwrap() - pressed;
    assert!(
        waited < Duration::from_secs(2),
        "the menu came {waited:?} after the key"
    );
    assert!(!english.has_heard(&prompt_start(english.law, "zh", "main-menu", SIG)));
    let lines = timeline(&detail(&server, &id));
    let order = [
        "barge-in: 2",
        "menu: 2 → english",
        "language: en",
        "prompt: en: main-menu",
    ];
    let at: Vec<_> = order.iter().map(|p| position(&lines, p)).collect();
    assert!(
        at.iter().all(Option::is_some) && at.is_sorted(),
        "{order:?} in order:\n{}",
        lines.join("\n")
    );

    hear(
        &server,
        &silent_id,
        &silent,
        "zh",
        "main-menu",
        Duration::from_secs(25),
    );
    assert!(!silent.has_heard(&prompt_start(silent.law, "en", "main-menu", SIG)));
    let lines = timeline(&detail(&server, &silent_id));
    assert!(
        position(&lines, "language:").is_none(),
        "{}",
        lines.join("\n")
    );
    assert!(
        position(&lines, "prompt: zh: main-menu").is_some(),
        "{}",
        lines.join("\n")
    );
}

// ----- b. where is my ticket ------------------------------------------------------

#[test]
fn ticket_status_is_read_out() {
    let server = Server::start(&[]);
    let (phone, id) = call_to_english_menu(&server);
    phone.press("3");
    wait_for_event(
        &server,
        &id,
        "node: hotline/enter_ticket (collect)",
        Duration::from_secs(5),
    );
    phone.press(TICKET);
    hear(
        &server,
        &id,
        &phone,
        "en",
        "stage-dispatched",
        Duration::from_secs(15),
    );

    let lines = timeline(&detail(&server, &id));
    let collect = position(&lines, &format!("collect: ticket_number={TICKET}"));
    let found = position(&lines, &format!("lookup: ticket {TICKET}: found "));
    let said = position(&lines, "prompt: en: ticket-status stage-dispatched");
    assert!(
        collect.is_some() && collect < found && found < said,
        "collect, lookup, prompt in order:\n{}",
        lines.join("\n")
    );
    let lookup = &lines[found.unwrap()];
    assert!(lookup.contains("ticket.stage=dispatched"), "{lookup}");
    assert!(
        lines.iter().all(|l| !l.starts_with("invalid")),
        "{}",
        lines.join("\n")
    );
}

// ----- c. keys by SIP INFO ----------------------------------------------------------

#[test]
fn sip_info_keys_walk_the_flow() {
    let server = Server::start(&[]);
    let (mut phone, id) = call_in(&server, UNKNOWN, Law::Pcma);
    phone.info('2');
    wait_for_event(&server, &id, MAIN_MENU, Duration::from_secs(10));
    phone.info('0');
    let lines = wait_for_event(&server, &id, "queue: general", Duration::from_secs(10));
    for expected in [
        "dtmf: 2 (sip-info)",
        "menu: 2 → english",
        "dtmf: 0 (sip-info)",
        "menu: 0 → agent",
        "queue: general priority 5 skills []",
    ] {
        assert!(
            position(&lines, expected).is_some(),
            "{expected}:\n{}",
            lines.join("\n")
        );
    }
    assert!(position(&lines, "dtmf: 0 (rfc4733)").is_none());
    hear(
        &server,
        &id,
        &phone,
        "en",
        "queue-agent",
        Duration::from_secs(10),
    );
    phone.hang_up();
    let call = wait_for(&server, &id, Duration::from_secs(10), "the end", |c| {
        !c["ended_at"].is_null()
    });
    assert_eq!(call["digits"], "20");
    assert_eq!(call["hangup_cause"], "caller-bye");
}

// ----- d. bad input never sticks ---------------------------------------------------

/// Checks the call went from the main menu's last try to the agent queue.
fn gave_up_to_the_agent(lines: &[String]) {
    let exhausted = position(lines, "retries-exhausted: hotline/main after 3 tries");
    let queued = position(lines, "queue: general priority 5 skills []");
    assert!(
        exhausted.is_some() && exhausted < queued,
        "retries-exhausted, then queue:\n{}",
        lines.join("\n")
    );
}

#[test]
fn a_caller_mashing_keys_reaches_an_agent() {
    let server = Server::start(&[]);
    let (mut phone, id) = call_to_english_menu(&server);
    let started = Instant::now();
    // None of these is a main-menu option.
    let keys: String = "5678*#9".chars().cycle().take(200).collect();
    phone.press(&keys);
    let lines = wait_for_event(&server, &id, "queue: ", Duration::from_secs(20));
    eprintln!("mashing caller queued after {:?}", started.elapsed());
    gave_up_to_the_agent(&lines);
    let invalid = lines.iter().filter(|l| l.starts_with("invalid:")).count();
    assert_eq!(invalid, 3, "{}", lines.join("\n"));
    hear(
        &server,
        &id,
        &phone,
        "en",
        "queue-agent",
        Duration::from_secs(10),
    );
    phone.hang_up();

    let call = wait_for(&server, &id, Duration::from_secs(10), "the end", |c| {
        !c["ended_at"].is_null()
    });
    let digits = call["digits"].as_str().unwrap();
    assert_eq!(digits.len(), 64, "{digits}");
    assert_eq!(digits, format!("2{}", &keys[..63]));
    // Every press arrived, once (the media statistics count them all); the
    // record and the timeline keep the first 64.
    let lines = timeline(&call);
    let presses = lines.iter().filter(|l| l.starts_with("dtmf: ")).count();
    assert_eq!(presses, 65, "{}", lines.join("\n"));
    assert!(position(&lines, "dtmf: more keys: not on the timeline").is_some());
    let media = &lines[position(&lines, "media: ").expect("media stats")];
    assert!(media.ends_with(" dtmf 201"), "{media}");
}

/// Replaces prompts of a flows copy with their first quarter second.
fn shorten_prompts(flows: &Path, language: &str, names: &[&str]) {
    for name in names {
        let path = flows
            .join("prompts")
            .join(language)
            .join(format!("{name}.wav"));
        let samples = hotline::rt::ivr::read_wav(&path).unwrap();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for &s in &samples[..2000] {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
    }
}

#[test]
fn a_silent_caller_reaches_an_agent() {
    // The demo flow with its waits cut to 1 s and the prompts on the way to
    // 0.25 s: the same retries as shipped, in seconds instead of 80.
    let flows = common::flows_copy(|text| {
        let fast = common::always_open(text)
            .replace("timeout = \"4s\"\ntries = 1", "timeout = \"1s\"\ntries = 1")
            .replace("timeout = \"6s\"\ntries = 3", "timeout = \"1s\"\ntries = 3");
        assert_eq!(
            fast.matches("timeout = \"1s\"").count(),
            2,
            "the edit missed"
        );
        fast
    });
    let names = [
        "welcome",
        "choose-language",
        "main-menu",
        "no-input",
        "too-many-tries",
    ];
    shorten_prompts(&flows, "zh", &names);
    let server = Server::start_with_flows(&flows, &[]);
    let started = Instant::now();
    let mut phone = Phone::call(server.sip, UNKNOWN);
    let id = record_id(&server, &phone);
    let lines = wait_for_event(&server, &id, "queue: ", Duration::from_secs(20));
    eprintln!("silent caller queued after {:?}", started.elapsed());
    gave_up_to_the_agent(&lines);
    let no_input = lines
        .iter()
        .filter(|l| *l == "no-input: hotline/main")
        .count();
    assert_eq!(no_input, 3, "{}", lines.join("\n"));
    phone.hang_up();
    let call = wait_for(&server, &id, Duration::from_secs(10), "the end", |c| {
        !c["ended_at"].is_null()
    });
    assert_eq!(call["digits"], "");
}

// ----- e. hot reload with a call in progress ---------------------------------------

/// Rewrites the flows copy's main file in one step (no half-written file
/// for the reloader to see).
fn rewrite_flow(flows: &Path, edit: impl Fn(&str) -> String) -> String {
    let main = flows.join("hotline.toml");
    let text = edit(&std::fs::read_to_string(&main).unwrap());
    // Beside the folder, not in it: the reloader must see only the rename.
    let tmp = flows.with_extension("toml.new");
    std::fs::write(&tmp, &text).unwrap();
    std::fs::rename(&tmp, &main).unwrap();
    text
}

/// Waits until the server log holds `needle` `n` times.
fn wait_for_log(server: &Server, needle: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = server.log();
        if log.matches(needle).count() >= n {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} ×{n} not logged:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Presses 0 at the main menu and returns the menu line of the timeline.
fn press_zero(server: &Server, phone: &Phone, id: &str) -> String {
    phone.press("0");
    let lines = wait_for_event(server, id, "menu: 0 → ", Duration::from_secs(10));
    lines[position(&lines, "menu: 0 → ").unwrap()].clone()
}

#[test]
fn a_reload_changes_new_calls_only_and_a_bad_edit_is_refused() {
    let flows = common::flows_copy(common::always_open);
    let server = Server::start_with_flows(&flows, &[]);
    let reloaded = "IVR reloaded";
    let before = server.log().matches(reloaded).count();

    let (first, first_id) = call_to_english_menu(&server);
    rewrite_flow(&flows, |t| {
        t.replace("\"0\" = \"agent\"", "\"0\" = \"repair\"")
    });
    wait_for_log(&server, reloaded, before + 1);
    assert_eq!(press_zero(&server, &first, &first_id), "menu: 0 → agent");

    let (second, second_id) = call_to_english_menu(&server);
    assert_eq!(press_zero(&server, &second, &second_id), "menu: 0 → repair");
    hear(
        &server,
        &second_id,
        &second,
        "en",
        "queue-repair",
        Duration::from_secs(10),
    );

    // An edge to a node that does not exist: refused, named by file and line.
    let text = rewrite_flow(&flows, |t| {
        t.replace(
            "after_retries = \"too_many_tries\"",
            "after_retries = \"no_such_node\"",
        )
    });
    let line = 1 + text
        .lines()
        .position(|l| l.contains("no_such_node"))
        .unwrap();
    let log = wait_for_log(&server, "IVR reload refused", 1);
    let message = format!(
        "hotline.toml:{line}: node `main`: `after_retries` goes to `no_such_node`, which is not a node of this flow"
    );
    assert!(log.contains(&message), "{message:?} not in:\n{log}");
    // Give the refused version a poll to (wrongly) go live, then call again.
    std::thread::sleep(Duration::from_millis(1200));
    let log = server.log();
    assert_eq!(log.matches(reloaded).count(), before + 1, "{log}");
    let (third, third_id) = call_to_english_menu(&server);
    assert_eq!(press_zero(&server, &third, &third_id), "menu: 0 → repair");

    let versions: Vec<String> = [&first_id, &second_id, &third_id]
        .iter()
        .map(|id| timeline(&detail(&server, id))[0].clone())
        .collect();
    for (line, version) in versions
        .iter()
        .zip(["ivr version 1", "ivr version 2", "ivr version 2"])
    {
        assert!(line.ends_with(version), "{line} should end with {version}");
    }
}

// ----- f. a message after hours ----------------------------------------------------

/// The demo flow, closed all the time.
fn always_closed(text: &str) -> String {
    text.replace(
        "hours = { daily = \"08:00-20:00\" }",
        "hours = { daily = \"closed\" }",
    )
    .replace("holidays = \"calendars/cn-2026.toml\"\n", "")
}

/// Calls the closed line, presses 1 and waits for the beep that starts the
/// recording.
fn call_to_leave_message(server: &Server, caller: &str) -> (Phone, String) {
    let phone = Phone::call(server.sip, caller);
    let id = record_id(server, &phone);
    let closed = prompt_start(phone.law, "zh", "closed", 800);
    assert!(
        phone
            .wait_to_hear(&closed, Duration::from_secs(10))
            .is_some()
    );
    phone.press("1");
    let beep = prompt_start(phone.law, "zh", "beep", 3200);
    assert!(
        phone.wait_to_hear(&beep, Duration::from_secs(20)).is_some(),
        "no beep; timeline:\n{}",
        timeline(&detail(server, &id)).join("\n")
    );
    (phone, id)
}

/// The one message of a call, once recorded: (file under the data dir, duration_ms).
fn the_message(server: &Server, id: &str) -> (std::path::PathBuf, i64) {
    let call = wait_for(server, id, Duration::from_secs(10), "a message", |c| {
        !c["messages"].as_array().unwrap().is_empty()
    });
    let messages = call["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{call}");
    let file = server.data.join(messages[0]["file"].as_str().unwrap());
    (file, messages[0]["duration_ms"].as_i64().unwrap())
}

/// Reads a message WAV, checking it is 8 kHz 16-bit mono.
fn read_message(path: &Path) -> Vec<i16> {
    let reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16)
    );
    reader.into_samples::<i16>().map(Result::unwrap).collect()
}

/// Power of `samples` at `hz` (Goertzel).
fn power_at(samples: &[i16], hz: f64) -> f64 {
    let c = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s = f64::from(x) + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

/// The strongest frequency from 100 Hz to 2 kHz, in 10 Hz steps.
fn dominant_frequency(samples: &[i16]) -> u32 {
    (10..=200)
        .map(|k| k * 10)
        .max_by(|&a, &b| {
            power_at(samples, f64::from(a)).total_cmp(&power_at(samples, f64::from(b)))
        })
        .unwrap()
}

/// Checks a kept message: its record and its WAV (8 kHz mono, `seconds`
/// long give or take half a second, a 440 Hz tone).
fn check_message(server: &Server, id: &str, seconds: f64) {
    let (file, duration_ms) = the_message(server, id);
    let samples = read_message(&file);
    let length = samples.len() as f64 / 8000.0;
    let near = |s: f64| (s - seconds).abs() <= 0.5;
    assert!(near(length), "{} is {length} s", file.display());
    assert!(
        near(duration_ms as f64 / 1000.0),
        "duration_ms {duration_ms}"
    );
    assert_eq!(dominant_frequency(&samples), 440, "{}", file.display());
}

#[test]
fn a_message_left_after_hours_is_kept() {
    let flows = common::flows_copy(always_closed);
    let server = Server::start_with_flows(&flows, &[]);
    let server = &server;
    std::thread::scope(|s| {
        // At the same time, a caller who hangs up in the middle of the message.
        let quitter = s.spawn(|| {
            let (mut quitter, id) = call_to_leave_message(server, "13900000001");
            quitter.talk(&tone(440.0, 1000));
            quitter.hang_up();
            check_message(server, &id, 1.0);
            let lines = timeline(&detail(server, &id));
            let end = position(&lines, "message-end: caller hung up");
            assert!(end.is_some(), "{}", lines.join("\n"));
        });

        let (phone, id) = call_to_leave_message(server, UNKNOWN);
        phone.talk(&tone(440.0, 2000));
        phone.press("#");
        let lines = wait_for_event(
            server,
            &id,
            "message-end: terminator",
            Duration::from_secs(5),
        );
        for expected in ["time: closed", "menu: 1 → leave_message", "message-start: "] {
            assert!(
                position(&lines, expected).is_some(),
                "{expected}:\n{}",
                lines.join("\n")
            );
        }
        assert!(
            phone.wait_for_server_hangup(Duration::from_secs(20)),
            "no BYE after message-saved and goodbye; timeline:\n{}",
            timeline(&detail(server, &id)).join("\n")
        );
        hear(
            server,
            &id,
            &phone,
            "zh",
            "message-saved",
            Duration::from_secs(1),
        );
        check_message(server, &id, 2.0);
        let call = wait_for(server, &id, Duration::from_secs(5), "the end", |c| {
            !c["ended_at"].is_null()
        });
        assert_eq!(call["hangup_side"], "hotline", "{call}");

        quitter.join().expect("the caller who hung up");
    });
}

// ----- a server bound to every interface -------------------------------------

/// Bound to 0.0.0.0 (the default), the server must still tell callers a
/// real address for its RTP (the advertised one), not 0.0.0.0, which
/// phones read as "hold"; and the audio must flow to and from it.
#[test]
fn a_server_bound_to_every_interface_answers_with_its_advertised_address() {
    let server = Server::start(&["--sip", "0.0.0.0:0"]);
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], server.sip.port()));
    let phone = Phone::call(target, UNKNOWN);
    assert_eq!(
        phone.server_rtp.ip(),
        std::net::IpAddr::from([127, 0, 0, 1]),
        "the SDP answer's address"
    );
    let welcome = prompt_start(phone.law, "zh", "welcome", SIG);
    assert!(
        phone
            .wait_to_hear(&welcome, Duration::from_secs(10))
            .is_some(),
        "the welcome prompt arrives"
    );
}
