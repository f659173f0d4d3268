//! The IVR under simulated time: every node kind walked by the interpreter
//! (timeouts and retries take microseconds), one small bad flow per
//! validation error class, and the demo flow's main paths.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::FlowSet;
use super::flow::LookupKind;
use super::interp::{Clock, Effect, Ivr, LookupAnswer, MAX_TYPEAHEAD, Start};
use super::load::{MAX_FILE_BYTES, MAX_NODES, Sources, load};
use super::pattern::DigitPattern;

// ----------------------------------------------------------------- harness

/// Prompt names as the demo prompt folders have them.
fn prompt_names() -> BTreeSet<String> {
    let table = include_str!("../../ivr-flows/prompts/prompts.tsv");
    let mut names: BTreeSet<String> = table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split('\t').next())
        .map(str::to_owned)
        .collect();
    names.extend(["a", "b", "c"].map(String::from));
    names
}

fn sources(flows: &[(&str, &str)]) -> Sources {
    let mut prompts = BTreeMap::new();
    prompts.insert("en".to_owned(), prompt_names());
    prompts.insert("zh".to_owned(), prompt_names());
    let mut calendars = BTreeMap::new();
    calendars.insert(
        "calendars/cn-2026.toml".to_owned(),
        include_str!("../../ivr-flows/calendars/cn-2026.toml").to_owned(),
    );
    Sources {
        flows: flows
            .iter()
            .map(|(f, t)| ((*f).to_owned(), (*t).to_owned()))
            .collect(),
        calendars,
        prompts,
        transfer_allow: vec![DigitPattern::parse("_0571XXXXXXXX").unwrap()],
        main: "main".into(),
    }
}

fn load_ok(flows: &[(&str, &str)]) -> Arc<FlowSet> {
    match load(&sources(flows)) {
        Ok(set) => Arc::new(set),
        Err(e) => panic!("flow refused:\n{e}"),
    }
}

/// The messages a single flow file `main.toml` is refused with.
fn refused(text: &str) -> Vec<String> {
    refused_set(&[("ivr-flows/main.toml", text)])
}

fn refused_set(flows: &[(&str, &str)]) -> Vec<String> {
    match load(&sources(flows)) {
        Ok(_) => panic!("flow was accepted"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[track_caller]
fn assert_refused(text: &str, expected: &[&str]) {
    let errors = refused(text);
    for want in expected {
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "no error contains {want:?}; got:\n{}",
            errors.join("\n")
        );
    }
}

/// 2026-11-25 10:00 in Shanghai (a Wednesday), in epoch ms.
const WED_10AM_SHANGHAI: i64 = 1_795_572_000_000;

/// One call's interpreter with a simulated clock.
struct Walk {
    ivr: Ivr,
    now: Instant,
    wall_ms: i64,
    effects: Vec<Effect>,
}

impl Walk {
    fn new(flows: Arc<FlowSet>) -> Walk {
        Self::with_caller(flows, "13800138000")
    }

    fn with_caller(flows: Arc<FlowSet>, caller: &str) -> Walk {
        Self::at_time(flows, caller, WED_10AM_SHANGHAI)
    }

    /// A call from `caller` at wall-clock time `wall_ms`.
    fn at_time(flows: Arc<FlowSet>, caller: &str, wall_ms: i64) -> Walk {
        Self::starting(flows, None, caller, wall_ms)
    }

    /// A call that starts in the flow named `flow` (`None`: the main
    /// flow), as an outbound campaign's does.
    fn in_flow(flows: Arc<FlowSet>, flow: Option<&str>) -> Walk {
        Self::starting(flows, flow, "13800138000", WED_10AM_SHANGHAI)
    }

    fn starting(flows: Arc<FlowSet>, flow: Option<&str>, caller: &str, wall_ms: i64) -> Walk {
        let ivr = Ivr::new(Start {
            flows,
            flow: flow.map(str::to_owned),
            language: "zh".into(),
            transfer_allow: vec![DigitPattern::parse("_0571XXXXXXXX").unwrap()].into(),
            caller: caller.into(),
            dialled: "4008001234".into(),
            call_id: "c1".into(),
        });
        let mut w = Walk {
            ivr,
            now: Instant::now(),
            wall_ms,
            effects: Vec::new(),
        };
        let clock = w.clock();
        w.ivr.start(clock);
        w.drain();
        w
    }

    fn clock(&self) -> Clock {
        Clock {
            now: self.now,
            wall_ms: self.wall_ms,
        }
    }

    fn drain(&mut self) {
        while let Some(e) = self.ivr.poll_effect() {
            self.effects.push(e);
        }
    }

    /// Moves the clock on, firing every deadline on the way.
    fn wait(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.ivr.poll_timeout().filter(|t| *t <= end) {
            self.wall_ms += i64::try_from((t - self.now).as_millis()).unwrap();
            self.now = t;
            let clock = self.clock();
            self.ivr.handle_timeout(clock);
            self.drain();
        }
        self.wall_ms += i64::try_from((end - self.now).as_millis()).unwrap();
        self.now = end;
    }

    fn key(&mut self, keys: &str) {
        for k in keys.chars() {
            let clock = self.clock();
            self.ivr.on_digit(clock, k);
            self.drain();
        }
    }

    /// The last prompt list asked for and not yet reported done.
    fn last_play(&self) -> Option<(u32, Vec<String>)> {
        self.effects.iter().rev().find_map(|e| match e {
            Effect::Play { token, prompts, .. } => Some((*token, prompts.clone())),
            _ => None,
        })
    }

    /// Reports the current prompt list as played to its end; returns it.
    fn played(&mut self) -> Vec<String> {
        let (token, prompts) = self.last_play().expect("something is playing");
        let clock = self.clock();
        self.ivr.on_playback_done(clock, token);
        self.drain();
        prompts
    }

    fn lookup(&mut self) -> (u32, LookupKind, String) {
        self.effects
            .iter()
            .rev()
            .find_map(|e| match e {
                Effect::Lookup { token, what, key } => Some((*token, *what, key.clone())),
                _ => None,
            })
            .expect("a lookup was asked")
    }

    fn answer(&mut self, answer: LookupAnswer) {
        let (token, _, _) = self.lookup();
        let clock = self.clock();
        self.ivr.on_lookup(clock, token, answer);
        self.drain();
    }

    /// `flow/node` names the interpreter entered, in order.
    fn path(&self) -> Vec<String> {
        self.events("node")
            .into_iter()
            .map(|d| d.split(' ').next().unwrap_or_default().to_owned())
            .collect()
    }

    fn events(&self, kind: &str) -> Vec<String> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Event { kind: k, detail } if *k == kind => Some(detail.clone()),
                _ => None,
            })
            .collect()
    }

    fn hung_up(&self) -> Option<&'static str> {
        self.effects.iter().find_map(|e| match e {
            Effect::Hangup { cause } => Some(*cause),
            _ => None,
        })
    }

    fn at(&self) -> String {
        self.ivr.position()
    }

    /// The survey answers given so far: (question, value).
    fn answers(&self) -> Vec<(String, String)> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Answer { question, value } => Some((question.clone(), value.clone())),
                _ => None,
            })
            .collect()
    }
}

fn flow(text: &str) -> Arc<FlowSet> {
    load_ok(&[("ivr-flows/main.toml", text)])
}

// ------------------------------------------------------- node kinds: play

#[test]
fn play_then_next_and_barge_in_skips_to_the_next_node_keeping_the_key() {
    let f = flow(
        r#"start = "hello"
[node.hello]
kind = "play"
prompt = ["a", "b"]
next = "menu"
[node.menu]
kind = "menu"
prompt = "c"
options = { "1" = "bye" }
after_retries = "bye"
[node.bye]
kind = "hangup"
"#,
    );
    let mut w = Walk::new(f.clone());
    assert_eq!(w.last_play().unwrap().1, ["a", "b"]);
    assert_eq!(w.played(), ["a", "b"]);
    assert_eq!(w.at(), "main/menu");

    // Barge-in: the key stops the prompt and answers the menu at once.
    let mut w = Walk::new(f);
    w.key("1");
    assert!(w.effects.contains(&Effect::StopPlayback));
    assert_eq!(w.path(), ["main/hello", "main/menu", "main/bye"]);
    assert_eq!(w.hung_up(), Some("flow-complete"));
}

#[test]
fn play_without_barge_in_ignores_keys() {
    let f = flow(
        r#"start = "hello"
[node.hello]
kind = "play"
prompt = "a"
barge_in = false
next = "bye"
[node.bye]
kind = "hangup"
prompt = "b"
"#,
    );
    let mut w = Walk::new(f);
    w.key("123");
    assert!(!w.effects.contains(&Effect::StopPlayback));
    assert_eq!(w.at(), "main/hello");
    w.played();
    assert_eq!(w.last_play().unwrap().1, ["b"]);
    assert_eq!(w.hung_up(), None, "the goodbye plays before the hangup");
    w.played();
    assert_eq!(w.hung_up(), Some("flow-complete"));
}

// ------------------------------------------------------- node kinds: menu

const MENU: &str = r#"start = "menu"
[node.menu]
kind = "menu"
prompt = "main-menu"
options = { "1" = "one", "2" = "two" }
timeout = "5s"
tries = 3
invalid = "invalid"
no_input = "no-input"
after_retries = "gave_up"
[node.one]
kind = "hangup"
prompt = "a"
[node.two]
kind = "hangup"
prompt = "b"
[node.gave_up]
kind = "hangup"
prompt = "too-many-tries"
"#;

#[test]
fn menu_takes_a_key_during_or_after_its_prompt() {
    let mut w = Walk::new(flow(MENU));
    w.played();
    w.wait(Duration::from_secs(4));
    w.key("2");
    assert_eq!(w.path(), ["main/menu", "main/two"]);
    assert_eq!(w.events("menu"), ["2 → two"]);
}

#[test]
fn menu_says_sorry_and_asks_again_then_gives_up_after_the_last_try() {
    let mut w = Walk::new(flow(MENU));
    w.played();
    w.key("9");
    assert_eq!(w.last_play().unwrap().1, ["invalid", "main-menu"]);
    w.played();
    w.wait(Duration::from_secs(5));
    assert_eq!(w.last_play().unwrap().1, ["no-input", "main-menu"]);
    w.played();
    w.wait(Duration::from_secs(5));
    // Third failure: the no-input prompt, then the after_retries node.
    assert_eq!(w.last_play().unwrap().1, ["no-input"]);
    w.played();
    assert_eq!(w.at(), "main/gave_up");
    assert_eq!(w.events("retries-exhausted").len(), 1);
}

#[test]
fn menu_retry_prompt_can_be_barged_and_mashing_keys_asks_again_only_once() {
    let mut w = Walk::new(flow(MENU));
    // Seven keys at once during the prompt: the first is wrong, the rest
    // are not taken as answers to the question asked again.
    w.key("9999999");
    assert_eq!(w.events("invalid").len(), 3, "{:?}", w.effects);
    assert_eq!(w.at(), "main/menu");
    assert_eq!(w.last_play().unwrap().1, ["invalid"]);
    w.played();
    assert_eq!(w.at(), "main/gave_up");
}

#[test]
fn a_silent_caller_never_sticks_in_a_menu() {
    let mut w = Walk::new(flow(MENU));
    for _ in 0..10 {
        if w.hung_up().is_some() {
            break;
        }
        if let Some((token, _)) = w.last_play() {
            let clock = w.clock();
            w.ivr.on_playback_done(clock, token);
            w.drain();
        }
        w.wait(Duration::from_secs(6));
    }
    assert_eq!(w.hung_up(), Some("flow-complete"));
    assert_eq!(w.path().last().unwrap(), "main/gave_up");
}

// ---------------------------------------------------- node kinds: collect

const COLLECT: &str = r#"start = "ask"
[node.ask]
kind = "collect"
prompt = "enter-ticket"
into = "ticket_number"
min = 4
max = 10
pattern = "_26XX."
timeout = "8s"
inter_digit_timeout = "3s"
tries = 2
invalid = "ticket-not-found"
no_input = "no-input"
next = "got"
after_retries = "gave_up"
[node.got]
kind = "say"
value = "${ticket_number}"
as = "digits"
next = "bye"
[node.bye]
kind = "hangup"
[node.gave_up]
kind = "hangup"
prompt = "goodbye"
"#;

#[test]
fn collect_ends_on_the_terminator_and_keeps_the_value() {
    let mut w = Walk::new(flow(COLLECT));
    w.key("26110#");
    assert_eq!(w.ivr.vars()["ticket_number"], "26110");
    assert_eq!(w.at(), "main/got");
    assert_eq!(
        w.last_play().unwrap().1,
        ["digit-2", "digit-6", "digit-1", "digit-1", "digit-0"]
    );
}

#[test]
fn collect_ends_at_max_digits_or_when_the_caller_pauses() {
    let mut w = Walk::new(flow(COLLECT));
    w.key("2611250001");
    assert_eq!(w.ivr.vars()["ticket_number"], "2611250001");

    let mut w = Walk::new(flow(COLLECT));
    w.played();
    w.key("26113");
    w.wait(Duration::from_millis(2_999));
    assert_eq!(w.at(), "main/ask");
    w.wait(Duration::from_millis(1));
    assert_eq!(w.ivr.vars()["ticket_number"], "26113");
}

#[test]
fn collect_refuses_a_value_off_pattern_or_too_short_and_gives_up() {
    let mut w = Walk::new(flow(COLLECT));
    // No value of `_26XX.` starts with 9: refused at the first key, no
    // waiting for the rest.
    w.key("9");
    assert_eq!(w.events("invalid"), ["\"9\" for ticket_number"]);
    assert_eq!(
        w.last_play().unwrap().1,
        ["ticket-not-found", "enter-ticket"]
    );
    w.key("26#");
    assert_eq!(w.at(), "main/ask");
    assert_eq!(w.last_play().unwrap().1, ["ticket-not-found"]);
    w.played();
    assert_eq!(w.at(), "main/gave_up");
    assert!(!w.ivr.vars().contains_key("ticket_number"));
}

#[test]
fn collect_stops_as_soon_as_the_pattern_is_complete() {
    // A fixed-length pattern under a larger `max`: no pause is needed
    // after the last digit.
    let mut w = Walk::new(flow(&COLLECT.replace("_26XX.", "_26XX")));
    w.played();
    w.key("2611");
    assert_eq!(w.ivr.vars()["ticket_number"], "2611");
    assert_eq!(w.at(), "main/got");
}

#[test]
fn a_pattern_longer_than_max_is_refused() {
    assert_refused(
        "start = \"c\"\n[node.c]\nkind = \"collect\"\nprompt = \"a\"\ninto = \"n\"\nmax = 4\npattern = \"_XXXXXXXXXX\"\nnext = \"b\"\nafter_retries = \"b\"\n[node.b]\nkind = \"hangup\"\n",
        &["main.toml:7: node `c`: pattern \"_XXXXXXXXXX\" needs at least 10 keys but `max` is 4"],
    );
}

#[test]
fn two_hundred_digits_fill_one_entry_and_are_not_replayed_as_answers() {
    let mut w = Walk::new(flow(COLLECT));
    w.key(&"2".repeat(200));
    // 22... fails the pattern (needs 26...), twice: the caller is given up
    // on once, not 20 times.
    assert!(w.events("invalid").len() <= 2, "{:?}", w.events("invalid"));
    assert!(w.effects.len() < 100, "{} effects", w.effects.len());
    w.played();
    assert_eq!(w.at(), "main/gave_up");
}

// --------------------------------------------- node kinds: say, set, branch

#[test]
fn say_speaks_numbers_dates_and_times_in_the_call_language() {
    let f = flow(
        r#"start = "n"
[node.n]
kind = "say"
value = "1205"
as = "number"
next = "lang"
[node.lang]
kind = "language"
language = "en"
next = "d"
[node.d]
kind = "say"
value = "2026-11-25"
as = "date"
next = "bye"
[node.bye]
kind = "hangup"
"#,
    );
    let mut w = Walk::new(f);
    // Mandarin: 一千二百零五 (two before 百 is 两? no: 1205 is 一千两百零五).
    let zh = w.played();
    assert_eq!(zh[0], "num-1");
    assert!(zh.contains(&"num-thousand".to_owned()) && zh.contains(&"num-0".to_owned()));
    let en = w.played();
    assert_eq!(&en[..2], ["month-11", "num-20"]);
    match &w
        .effects
        .iter()
        .rev()
        .find(|e| matches!(e, Effect::Play { .. }))
    {
        Some(Effect::Play { language, .. }) => assert_eq!(language, "en"),
        _ => unreachable!(),
    }
    assert_eq!(w.ivr.language(), "en");
}

#[test]
fn a_value_say_cannot_speak_is_skipped_with_an_event() {
    let f = flow(
        r#"start = "s"
[node.s]
kind = "set"
var = "x"
value = "not a number"
next = "n"
[node.n]
kind = "say"
value = "${x}"
as = "number"
next = "bye"
[node.bye]
kind = "hangup"
"#,
    );
    let w = Walk::new(f);
    assert_eq!(w.events("say-failed").len(), 1);
    assert_eq!(w.hung_up(), Some("flow-complete"));
}

#[test]
fn set_and_branch_choose_the_path_by_value() {
    let text = r#"start = "s"
[node.s]
kind = "set"
var = "segment"
value = "vip-${caller}"
next = "b"
[node.b]
kind = "branch"
var = "segment"
cases = { "vip-13900139000" = "vip" }
default = "normal"
[node.vip]
kind = "hangup"
prompt = "a"
[node.normal]
kind = "hangup"
prompt = "b"
"#;
    let w = Walk::with_caller(flow(text), "13900139000");
    assert_eq!(w.path(), ["main/s", "main/b", "main/vip"]);
    assert_eq!(w.events("set"), ["segment=vip-13900139000"]);
    let w = Walk::with_caller(flow(text), "13800138000");
    assert_eq!(w.path(), ["main/s", "main/b", "main/normal"]);
}

// ------------------------------------------------------- node kinds: time

#[test]
fn time_condition_follows_hours_holidays_and_make_up_days() {
    let f = flow(
        r#"start = "t"
[node.t]
kind = "time"
timezone = "Asia/Shanghai"
hours = { mon-fri = "08:00-20:00" }
holidays = "calendars/cn-2026.toml"
open = "open"
closed = "closed"
[node.open]
kind = "hangup"
prompt = "a"
[node.closed]
kind = "hangup"
prompt = "b"
"#,
    );
    let at = |wall_ms: i64| Walk::at_time(f.clone(), "1", wall_ms).events("time")[0].clone();
    let hour = 3_600_000;
    assert_eq!(at(WED_10AM_SHANGHAI), "open");
    assert_eq!(at(WED_10AM_SHANGHAI - 3 * hour), "closed", "07:00");
    assert_eq!(at(WED_10AM_SHANGHAI + 10 * hour), "closed", "20:00");
    assert_eq!(
        at(WED_10AM_SHANGHAI + 10 * hour - 1),
        "open",
        "19:59:59.999"
    );
    // 2026-10-01 10:00 Shanghai, National Day: a Thursday, closed.
    assert_eq!(at(1_790_820_000_000), "closed");
}

// ----------------------------------------------------- node kinds: lookup

const LOOKUP: &str = r#"start = "find"
[node.find]
kind = "lookup"
what = "ticket"
key = "2611250001"
found = "status"
not_found = "none"
failed = "broken"
[node.status]
kind = "hangup"
prompt = ["ticket-status", "stage-${ticket.stage}"]
[node.none]
kind = "hangup"
prompt = "ticket-not-found"
[node.broken]
kind = "hangup"
prompt = "lookup-failed"
"#;

#[test]
fn lookup_found_sets_every_promised_variable() {
    let mut w = Walk::new(flow(LOOKUP));
    assert_eq!(w.lookup().1, LookupKind::Ticket);
    assert_eq!(w.lookup().2, "2611250001");
    w.answer(LookupAnswer::Found(vec![
        ("ticket.number".into(), "2611250001".into()),
        ("ticket.stage".into(), "dispatched".into()),
    ]));
    assert_eq!(w.at(), "main/status");
    assert_eq!(
        w.last_play().unwrap().1,
        ["ticket-status", "stage-dispatched"]
    );
    // Promised but not answered: set, empty.
    assert_eq!(w.ivr.vars()["ticket.outlet_phone"], "");
    assert!(w.events("lookup")[0].contains("found"));
}

#[test]
fn lookup_not_found_failed_and_timed_out_take_their_edges() {
    let mut w = Walk::new(flow(LOOKUP));
    w.answer(LookupAnswer::NotFound);
    assert_eq!(w.at(), "main/none");

    let mut w = Walk::new(flow(LOOKUP));
    w.answer(LookupAnswer::Failed("database unavailable".into()));
    assert_eq!(w.at(), "main/broken");

    let mut w = Walk::new(flow(LOOKUP));
    let (token, _, _) = w.lookup();
    w.wait(Duration::from_secs(3));
    assert_eq!(w.at(), "main/broken");
    assert!(w.events("lookup")[0].contains("no answer in 3000 ms"));
    // The answer that comes too late changes nothing.
    let clock = w.clock();
    w.ivr.on_lookup(clock, token, LookupAnswer::NotFound);
    w.drain();
    assert_eq!(w.at(), "main/broken");
}

#[test]
fn keys_pressed_during_a_lookup_answer_the_next_menu() {
    let f = flow(
        r#"start = "find"
[node.find]
kind = "lookup"
what = "customer"
key = "${caller}"
found = "menu"
not_found = "menu"
[node.menu]
kind = "menu"
prompt = "main-menu"
options = { "3" = "bye" }
after_retries = "bye"
[node.bye]
kind = "hangup"
"#,
    );
    let mut w = Walk::new(f);
    w.key("3");
    w.answer(LookupAnswer::NotFound);
    assert_eq!(w.path(), ["main/find", "main/menu", "main/bye"]);
}

#[test]
fn type_ahead_is_bounded() {
    let f = flow(
        r#"start = "find"
[node.find]
kind = "lookup"
what = "customer"
key = "${caller}"
found = "ask"
not_found = "ask"
[node.ask]
kind = "collect"
prompt = "a"
into = "n"
max = 32
terminator = ""
next = "bye"
after_retries = "bye"
[node.bye]
kind = "hangup"
"#,
    );
    let mut w = Walk::new(f);
    w.key(&"1".repeat(500));
    w.answer(LookupAnswer::NotFound);
    w.wait(Duration::from_secs(3));
    assert_eq!(w.ivr.vars()["n"], "1".repeat(MAX_TYPEAHEAD));
}

// ------------------------------------------------ node kinds: message, queue

#[test]
fn message_records_after_the_beep_until_pound_or_its_maximum() {
    let text = r#"start = "m"
[node.m]
kind = "message"
prompt = "message-intro"
max = "30s"
next = "saved"
[node.saved]
kind = "hangup"
prompt = "message-saved"
"#;
    let mut w = Walk::new(flow(text));
    assert_eq!(w.played(), ["message-intro", "beep"]);
    assert!(w.effects.contains(&Effect::StartRecording));
    assert_eq!(w.events("message-start"), ["max 30 s"]);
    w.wait(Duration::from_secs(5));
    w.key("#");
    assert!(w.effects.contains(&Effect::StopRecording));
    assert_eq!(w.at(), "main/saved");

    let mut w = Walk::new(flow(text));
    w.played();
    w.wait(Duration::from_secs(30));
    assert!(w.effects.contains(&Effect::StopRecording));
    assert_eq!(w.events("message-end"), ["max length"]);
}

#[test]
fn queue_plays_hold_prompts_in_a_loop_until_its_maximum_wait() {
    let text = r#"start = "q"
[node.q]
kind = "queue"
queue = "repair"
priority = 7
skills = ["repair", "zh"]
prompt = "queue-repair"
hold = ["hold-music", "queue-hold"]
max_wait = "60s"
after_wait = "bye"
[node.bye]
kind = "hangup"
prompt = "goodbye"
"#;
    let mut w = Walk::new(flow(text));
    assert!(w.effects.contains(&Effect::Queue {
        queue: "repair".into(),
        priority: 7,
        skills: vec!["repair".into(), "zh".into()],
    }));
    w.wait(Duration::from_secs(10));
    assert_eq!(w.played(), ["queue-repair", "hold-music", "queue-hold"]);
    w.wait(Duration::from_secs(10));
    assert_eq!(w.played(), ["hold-music", "queue-hold"]);
    // Hold prompts that end the moment they start (missing files) are
    // retried a second later, not replayed in a tight loop.
    let before = w.effects.len();
    w.played();
    assert_eq!(w.effects.len(), before, "no replay at the same instant");
    w.wait(Duration::from_secs(1));
    assert_eq!(w.last_play().unwrap().1, ["hold-music", "queue-hold"]);
    w.key("5");
    assert_eq!(w.at(), "main/q", "keys do not leave the queue");
    w.wait(Duration::from_secs(40));
    assert_eq!(w.at(), "main/bye");
    assert_eq!(w.last_play().unwrap().1, ["goodbye"]);
}

#[test]
fn a_queued_caller_hears_their_place_when_the_hold_prompts_come_round() {
    let text = r#"start = "q"
[node.q]
kind = "queue"
queue = "repair"
prompt = "queue-repair"
hold = ["hold-music"]
"#;
    let mut w = Walk::new(flow(text));
    w.wait(Duration::from_secs(1));
    assert_eq!(w.played(), ["queue-repair", "hold-music"]);
    // Third in line, about 4.5 minutes: said when the music ends, not over it.
    w.ivr.announce(3, 270_000);
    w.drain();
    assert_eq!(w.events("announce"), ["position 3, about 5 min"]);
    assert_eq!(w.played(), ["hold-music"]);
    w.wait(Duration::from_secs(1));
    assert_eq!(
        w.played(),
        [
            "queue-position-before",
            "num-3",
            "queue-position-after",
            "queue-wait-before",
            "num-5",
            "queue-wait-after",
            "hold-music"
        ]
    );
    // Next in line and served within seconds: "about 1 minute", not 0.
    w.ivr.announce(1, 10_000);
    w.drain();
    w.wait(Duration::from_secs(1));
    let (_, names) = w.last_play().expect("playing");
    assert_eq!(&names[..2], ["queue-position-before", "num-1"]);
    assert_eq!(names[4], "num-1");
    // Talking to an agent: no more announcements.
    w.ivr.to_agent();
    w.drain();
    w.ivr.announce(1, 10_000);
    w.drain();
    assert_eq!(w.events("announce").len(), 2);
}

// -------------------------------------------------- node kinds: transfer

#[test]
fn transfer_dials_only_allowed_numbers_and_falls_back_on_failure() {
    let text = r#"start = "choose"
[node.choose]
kind = "collect"
prompt = "a"
into = "number"
max = 12
next = "xfer"
after_retries = "bye"
[node.xfer]
kind = "transfer"
number = "${number}"
failed = "sorry"
[node.sorry]
kind = "hangup"
prompt = "transfer-failed"
[node.bye]
kind = "hangup"
"#;
    let mut w = Walk::new(flow(text));
    w.key("057188881234");
    assert!(w.effects.contains(&Effect::Transfer {
        number: "057188881234".into()
    }));
    let clock = w.clock();
    w.ivr.on_transfer_failed(clock, "REFER answered 603");
    w.drain();
    assert_eq!(w.at(), "main/sorry");

    // A toll number the caller keyed: refused, never dialled.
    let mut w = Walk::new(flow(text));
    w.key("0085212345678");
    assert!(
        !w.effects
            .iter()
            .any(|e| matches!(e, Effect::Transfer { .. }))
    );
    assert_eq!(w.events("transfer-refused").len(), 1);
    assert_eq!(w.at(), "main/sorry");
}

// ---------------------------------------------- node kinds: sub-flow, hangup

#[test]
fn subflow_runs_and_returns_to_the_caller_flow() {
    let main = r#"start = "call"
[node.call]
kind = "subflow"
flow = "status"
next = "bye"
[node.bye]
kind = "hangup"
prompt = "goodbye"
"#;
    let status = r#"start = "say"
[node.say]
kind = "play"
prompt = "ticket-status"
next = "back"
[node.back]
kind = "return"
"#;
    let f = load_ok(&[
        ("ivr-flows/main.toml", main),
        ("ivr-flows/status.toml", status),
    ]);
    let mut w = Walk::new(f);
    assert_eq!(w.at(), "status/say");
    w.played();
    assert_eq!(
        w.path(),
        ["main/call", "status/say", "status/back", "main/bye"]
    );
    w.played();
    assert_eq!(w.hung_up(), Some("flow-complete"));
}

// ---------------------------------------------------- node kinds: answer

#[test]
fn answer_reports_its_rendered_value_and_goes_straight_on() {
    let f = flow(
        r#"start = "ask"
[node.ask]
kind = "collect"
prompt = "a"
into = "x"
max = 1
next = "keep"
after_retries = "bye"
[node.keep]
kind = "answer"
question = "q_1"
value = "got-${x} from ${caller}"
next = "bye"
[node.bye]
kind = "hangup"
prompt = "goodbye"
"#,
    );
    let mut w = Walk::new(f);
    w.key("7");
    assert_eq!(
        w.answers(),
        [("q_1".to_owned(), "got-7 from 13800138000".to_owned())]
    );
    // No wait at the answer node: the goodbye is already playing.
    assert_eq!(w.path(), ["main/ask", "main/keep", "main/bye"]);
    assert_eq!(w.last_play().unwrap().1, ["goodbye"]);
    let answer_at = w
        .effects
        .iter()
        .position(|e| matches!(e, Effect::Answer { .. }))
        .unwrap();
    let goodbye_at = w
        .effects
        .iter()
        .position(|e| matches!(e, Effect::Play { prompts, .. } if prompts == &["goodbye"]))
        .unwrap();
    assert!(answer_at < goodbye_at, "{:?}", w.effects);
    w.played();
    assert_eq!(w.hung_up(), Some("flow-complete"));
    assert_eq!(w.answers().len(), 1, "answered once");
}

#[test]
fn a_callback_request_is_reported_and_the_flow_goes_on() {
    let f = flow(
        r#"start = "offer"
[node.offer]
kind = "menu"
prompt = "a"
options = { "1" = "callback" }
after_retries = "bye"
[node.callback]
kind = "callback"
campaign = "callbacks"
next = "bye"
[node.bye]
kind = "hangup"
prompt = "goodbye"
"#,
    );
    let mut w = Walk::new(f);
    w.key("1");
    let asked: Vec<_> = w
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Callback { campaign } => Some(campaign.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(asked, ["callbacks"]);
    assert_eq!(w.path(), ["main/offer", "main/callback", "main/bye"]);
    w.played();
    assert_eq!(w.hung_up(), Some("flow-complete"));
    let node = |fields: &str| {
        format!(
            "start = \"a\"\n[node.a]\nkind = \"callback\"\n{fields}[node.b]\nkind = \"hangup\"\n"
        )
    };
    assert_refused(
        &node("next = \"b\"\n"),
        &["ivr-flows/main.toml:2: node `a`: missing field `campaign`"],
    );
    assert_refused(
        &node("campaign = \"Call Backs\"\nnext = \"b\"\n"),
        &["main.toml:4: node `a`: `campaign`: \"Call Backs\" is not a campaign name"],
    );
}

#[test]
fn refuses_bad_answer_nodes_naming_file_line_and_node() {
    let node = |fields: &str| {
        format!("start = \"a\"\n[node.a]\nkind = \"answer\"\n{fields}[node.b]\nkind = \"hangup\"\n")
    };
    assert_refused(
        &node("value = \"1\"\nnext = \"b\"\n"),
        &["ivr-flows/main.toml:2: node `a`: missing field `question`"],
    );
    assert_refused(
        &node("question = \"on-time\"\nvalue = \"1\"\nnext = \"b\"\n"),
        &[
            "main.toml:4: node `a`: `question`: \"on-time\" is not a question name (1 to 64 ASCII letters, digits and `_`)",
        ],
    );
    assert_refused(
        &node("question = \"\"\nvalue = \"1\"\nnext = \"b\"\n"),
        &["main.toml:4: node `a`: `question`: \"\" is not a question name"],
    );
    assert_refused(
        &node("question = 5\nvalue = \"1\"\nnext = \"b\"\n"),
        &["main.toml:4: node `a`: `question` must be a string, not integer"],
    );
    assert_refused(
        &node("question = \"score\"\nnext = \"b\"\n"),
        &["main.toml:2: node `a`: missing field `value`"],
    );
    assert_refused(
        &node("question = \"score\"\nvalue = \"${score\"\nnext = \"b\"\n"),
        &["main.toml:5: node `a`: `value`: `${` without a closing `}`"],
    );
    assert_refused(
        &node("question = \"score\"\nvalue = \"1\"\nnext = \"bee\"\n"),
        &["main.toml:6: node `a`: `next` goes to `bee`, which is not a node of this flow"],
    );
    assert_refused(
        &node("question = \"score\"\nvalue = \"1\"\n"),
        &["main.toml:2: node `a`: missing field `next`"],
    );
    assert_refused(
        &node("question = \"score\"\nvalue = \"1\"\nnext = \"b\"\nprompt = \"a\"\n"),
        &[
            "main.toml:7: node `a`: unknown field `prompt` (an answer node takes kind, question, value, next)",
        ],
    );
    // The value's variables must be set on every path, like any template.
    assert_refused(
        &node("question = \"score\"\nvalue = \"${score}\"\nnext = \"b\"\n"),
        &["main.toml:2: node `a`: reads `score`, which is not set on every path"],
    );
}

// ------------------------------------------------ starting in a named flow

#[test]
fn a_call_starts_in_the_flow_it_names_or_else_in_the_main_flow() {
    let f = survey();
    let w = Walk::in_flow(f.clone(), Some("survey"));
    assert_eq!(w.at(), "survey/intro");
    assert_eq!(w.path(), ["survey/intro"]);
    assert_eq!(w.last_play().unwrap().1, ["survey-intro"]);
    assert!(w.events("flow-error").is_empty());

    let w = Walk::in_flow(f.clone(), None);
    assert_eq!(w.path()[0], "hotline/hours");
    assert!(w.events("flow-error").is_empty());

    // A name the flow set does not have: the main flow, with an event.
    let w = Walk::in_flow(f, Some("no-such-flow"));
    assert_eq!(w.path()[0], "hotline/hours");
    assert_eq!(w.last_play().unwrap().1, ["welcome"]);
    assert_eq!(
        w.events("flow-error"),
        ["no flow `no-such-flow`: the call starts in the main flow `hotline`"]
    );
}

#[test]
fn a_flow_nobody_calls_is_checked_as_a_start_of_its_own() {
    let main = "start = \"bye\"\n[node.bye]\nkind = \"hangup\"\n";
    // Started by name, it has only the built-in variables.
    let errors = refused_set(&[
        ("ivr-flows/main.toml", main),
        (
            "ivr-flows/survey.toml",
            "start = \"a\"\n[node.a]\nkind = \"answer\"\nquestion = \"score\"\nvalue = \"${score}\"\nnext = \"b\"\n[node.b]\nkind = \"hangup\"\n",
        ),
    ]);
    assert_eq!(
        errors,
        [
            "ivr-flows/survey.toml:2: node `a`: reads `score`, which is not set on every path to this node (set it with a set, collect or lookup node first)"
        ]
    );
    // The built-in ones are there.
    load_ok(&[
        ("ivr-flows/main.toml", main),
        (
            "ivr-flows/survey.toml",
            "start = \"a\"\n[node.a]\nkind = \"answer\"\nquestion = \"who\"\nvalue = \"${caller}\"\nnext = \"b\"\n[node.b]\nkind = \"hangup\"\n",
        ),
    ]);
    // A sub-flow is still checked with what its callers set.
    load_ok(&[
        (
            "ivr-flows/main.toml",
            "start = \"s\"\n[node.s]\nkind = \"set\"\nvar = \"x\"\nvalue = \"1\"\nnext = \"c\"\n[node.c]\nkind = \"subflow\"\nflow = \"sub\"\nnext = \"bye\"\n[node.bye]\nkind = \"hangup\"\n",
        ),
        (
            "ivr-flows/sub.toml",
            "start = \"a\"\n[node.a]\nkind = \"answer\"\nquestion = \"x\"\nvalue = \"${x}\"\nnext = \"r\"\n[node.r]\nkind = \"return\"\n",
        ),
    ]);
}

// ---------------------------------------------------------- validation

#[test]
fn refuses_unknown_node_kinds_and_fields_naming_file_line_and_node() {
    assert_refused(
        "start = \"a\"\n[node.a]\nkind = \"dance\"\n",
        &["ivr-flows/main.toml:3: node `a`: unknown node kind `dance` (one of play, menu"],
    );
    assert_refused(
        "start = \"a\"\n[node.a]\nkind = \"play\"\nprompt = \"a\"\nnext = \"a2\"\nvolume = 11\n[node.a2]\nkind = \"hangup\"\n",
        &[
            "main.toml:6: node `a`: unknown field `volume` (a play node takes kind, prompt, barge_in, next)",
        ],
    );
    assert_refused(
        "start = \"a\"\nstart_at = 1\n[node.a]\nkind = \"hangup\"\n",
        &["main.toml:2: unknown top-level key `start_at`"],
    );
}

#[test]
fn refuses_edges_to_missing_nodes_and_a_missing_start() {
    assert_refused(
        "start = \"a\"\n[node.a]\nkind = \"play\"\nprompt = \"a\"\nnext = \"nowhere\"\n",
        &["main.toml:5: node `a`: `next` goes to `nowhere`, which is not a node of this flow"],
    );
    assert_refused(
        "start = \"b\"\n[node.a]\nkind = \"hangup\"\n",
        &["main.toml:1: `start` names `b`, which is not a node of this flow"],
    );
    assert_refused(
        "[node.a]\nkind = \"hangup\"\n",
        &["main.toml: the flow has no `start` node"],
    );
}

#[test]
fn refuses_unreachable_nodes() {
    assert_refused(
        "start = \"a\"\n[node.a]\nkind = \"hangup\"\n[node.orphan]\nkind = \"hangup\"\n",
        &["main.toml:4: node `orphan`: unreachable: no path leads here from `start` (a)"],
    );
}

#[test]
fn refuses_missing_prompt_files() {
    assert_refused(
        "start = \"a\"\n[node.a]\nkind = \"play\"\nprompt = [\"a\", \"welcom\"]\nnext = \"b\"\n[node.b]\nkind = \"hangup\"\n",
        &[
            "main.toml:4: node `a`: prompt `welcom` is missing for en, zh (no ivr-flows/prompts/en/welcom.wav)",
        ],
    );
    assert_refused(
        "start = \"a\"\n[node.a]\nkind = \"hangup\"\nprompt = \"nope-${caller}\"\n",
        &["node `a`: no prompt starting with `nope-`"],
    );
}

#[test]
fn refuses_duplicate_and_bad_menu_keys() {
    assert_refused(
        "start = \"m\"\n[node.m]\nkind = \"menu\"\nprompt = \"a\"\noptions = { \"1\" = \"b\", 1 = \"b\" }\nafter_retries = \"b\"\n[node.b]\nkind = \"hangup\"\n",
        &["main.toml:5: node `m`: duplicate key"],
    );
    assert_refused(
        "start = \"m\"\n[node.m]\nkind = \"menu\"\nprompt = \"a\"\noptions = { \"12\" = \"b\" }\nafter_retries = \"b\"\n[node.b]\nkind = \"hangup\"\n",
        &["main.toml:5: node `m`: menu key \"12\" is not one keypad key"],
    );
}

#[test]
fn refuses_loops_that_never_wait_for_the_caller() {
    assert_refused(
        "start = \"a\"\n[node.a]\nkind = \"play\"\nprompt = \"a\"\nnext = \"b\"\n[node.b]\nkind = \"set\"\nvar = \"x\"\nvalue = \"1\"\nnext = \"a\"\n",
        &["main.toml:2: node `a`: these nodes loop forever without waiting for the caller: a → b"],
    );
    // A menu whose silent exit leads back to itself loops for a silent
    // caller too.
    assert_refused(
        "start = \"m\"\n[node.m]\nkind = \"menu\"\nprompt = \"a\"\noptions = { \"1\" = \"bye\" }\nafter_retries = \"again\"\n[node.again]\nkind = \"play\"\nprompt = \"b\"\nnext = \"m\"\n[node.bye]\nkind = \"hangup\"\n",
        &["loop forever without waiting for the caller: m → again"],
    );
    // A menu that returns to itself only on a key press is fine.
    flow(
        "start = \"m\"\n[node.m]\nkind = \"menu\"\nprompt = \"a\"\noptions = { \"1\" = \"m\", \"2\" = \"bye\" }\nafter_retries = \"bye\"\n[node.bye]\nkind = \"hangup\"\n",
    );
}

#[test]
fn refuses_variables_read_before_any_path_sets_them() {
    assert_refused(
        "start = \"b\"\n[node.b]\nkind = \"branch\"\nvar = \"ticket.stage\"\ncases = { \"x\" = \"bye\" }\ndefault = \"bye\"\n[node.bye]\nkind = \"hangup\"\n",
        &["main.toml:2: node `b`: reads `ticket.stage`, which is not set on every path"],
    );
    // Set on the found edge only: not_found reaches the reader unset.
    assert_refused(
        "start = \"l\"\n[node.l]\nkind = \"lookup\"\nwhat = \"ticket\"\nkey = \"1\"\nfound = \"s\"\nnot_found = \"s\"\n[node.s]\nkind = \"hangup\"\nprompt = \"stage-${ticket.stage}\"\n",
        &["node `s`: reads `ticket.stage`"],
    );
}

#[test]
fn refuses_missing_and_recursive_sub_flows() {
    let calls = |target: &str| {
        format!(
            "start = \"c\"\n[node.c]\nkind = \"subflow\"\nflow = \"{target}\"\nnext = \"r\"\n[node.r]\nkind = \"return\"\n"
        )
    };
    let main = "start = \"c\"\n[node.c]\nkind = \"subflow\"\nflow = \"a\"\nnext = \"bye\"\n[node.bye]\nkind = \"hangup\"\n";
    let errors = refused_set(&[
        ("ivr-flows/main.toml", main),
        ("ivr-flows/a.toml", &calls("b")),
        ("ivr-flows/b.toml", &calls("a")),
    ]);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("sub-flow recursion: a → b → a")),
        "{errors:?}"
    );
    let errors = refused_set(&[(
        "ivr-flows/main.toml",
        &calls("ghost").replace("kind = \"return\"", "kind = \"hangup\""),
    )]);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("sub-flow `ghost` does not exist")),
        "{errors:?}"
    );
}

#[test]
fn refuses_toml_syntax_errors_with_their_line_and_node() {
    assert_refused(
        "start = \"a\"\n[node.a]\nkind = \"play\"\nprompt = \"a\nnext = \"b\"\n",
        &["main.toml:4: node `a`: "],
    );
}

#[test]
fn refuses_bad_values_with_what_is_expected() {
    assert_refused(
        "start = \"c\"\n[node.c]\nkind = \"collect\"\nprompt = \"a\"\ninto = \"n\"\npattern = \"_X[\"\ntimeout = \"forever\"\nmin = 5\nmax = 3\nnext = \"b\"\nafter_retries = \"b\"\n[node.b]\nkind = \"hangup\"\n",
        &[
            "main.toml:6: node `c`: bad pattern \"_X[\"",
            "main.toml:7: node `c`: `timeout` must be a duration",
            "main.toml:8: node `c`: `min` 5 is above `max` 3",
        ],
    );
    assert_refused(
        "start = \"t\"\n[node.t]\nkind = \"transfer\"\nnumber = \"00852123456\"\nfailed = \"b\"\n[node.b]\nkind = \"hangup\"\n",
        &["main.toml:4: node `t`: transfer number 00852123456 is not in the allow-list"],
    );
    assert_refused(
        "start = \"l\"\n[node.l]\nkind = \"language\"\nlanguage = \"fr\"\nnext = \"b\"\n[node.b]\nkind = \"hangup\"\n",
        &["main.toml:4: node `l`: language `fr` has no prompt folder (have: en, zh)"],
    );
    assert_refused(
        "start = \"t\"\n[node.t]\nkind = \"time\"\nhours = { mon = \"20:00-08:00\" }\nopen = \"b\"\nclosed = \"b\"\n[node.b]\nkind = \"hangup\"\n",
        &["main.toml:4: node `t`: "],
    );
    assert_refused(
        "start = \"r\"\n[node.r]\nkind = \"return\"\n",
        &["node `r`: `return` in the main flow"],
    );
}

#[test]
fn refuses_huge_and_hostile_files_with_a_limit_message() {
    let mut big = String::from("start = \"n0\"\n");
    for i in 0..=MAX_NODES {
        big.push_str(&format!(
            "[node.n{i}]\nkind = \"play\"\nprompt = \"a\"\nnext = \"n{}\"\n",
            i + 1
        ));
    }
    let errors = refused(&big);
    assert!(
        errors.iter().any(|e| e.contains("exceed the limit of 500 per flow") || e.contains("over the limit")),
        "{errors:?}"
    );
    let huge = format!("start = \"a\"\n# {}\n", "x".repeat(MAX_FILE_BYTES));
    assert_refused(&huge, &["over the limit of 262144"]);
    // Deeply nested sub-flows: a chain of 12.
    let mut flows = vec![(
        "ivr-flows/main.toml".to_owned(),
        "start = \"c\"\n[node.c]\nkind = \"subflow\"\nflow = \"s0\"\nnext = \"bye\"\n[node.bye]\nkind = \"hangup\"\n".to_owned(),
    )];
    for i in 0..12 {
        let body = if i < 11 {
            format!(
                "start = \"c\"\n[node.c]\nkind = \"subflow\"\nflow = \"s{}\"\nnext = \"r\"\n[node.r]\nkind = \"return\"\n",
                i + 1
            )
        } else {
            "start = \"r\"\n[node.r]\nkind = \"return\"\n".to_owned()
        };
        flows.push((format!("ivr-flows/s{i}.toml"), body));
    }
    let refs: Vec<(&str, &str)> = flows
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let errors = refused_set(&refs);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("nest deeper than the limit of 8")),
        "{errors:?}"
    );
}

#[test]
fn many_paths_through_sub_flows_are_checked_in_linear_time() {
    // Flow i calls flows i+1 and i+2: 2^40 paths to walk one by one.
    let n = 40;
    let mut flows = Vec::new();
    for i in 0..n {
        let name = if i == 0 {
            "main".to_owned()
        } else {
            format!("s{i}")
        };
        let callees: Vec<usize> = [i + 1, i + 2].into_iter().filter(|c| *c < n).collect();
        let mut text = String::from("start = \"c0\"\n");
        for (k, c) in callees.iter().enumerate() {
            let next = if k + 1 < callees.len() {
                format!("c{}", k + 1)
            } else {
                "end".into()
            };
            text.push_str(&format!(
                "[node.c{k}]\nkind = \"subflow\"\nflow = \"s{c}\"\nnext = \"{next}\"\n"
            ));
        }
        let end = if i == 0 { "hangup" } else { "return" };
        text.push_str(&format!("[node.end]\nkind = \"{end}\"\n"));
        if callees.is_empty() {
            text = format!("start = \"end\"\n[node.end]\nkind = \"{end}\"\n");
        }
        flows.push((format!("ivr-flows/{name}.toml"), text));
    }
    let refs: Vec<(&str, &str)> = flows
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let started = Instant::now();
    let errors = refused_set(&refs);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        errors.iter().any(|e| e.starts_with("ivr-flows/main.toml:2: node `c0`: sub-flows nest deeper than the limit of 8: main → s1 → s2")),
        "{errors:?}"
    );
}

// ------------------------------------------------------------- demo flow

fn demo() -> Arc<FlowSet> {
    let mut src = sources(&[(
        "ivr-flows/hotline.toml",
        include_str!("../../ivr-flows/hotline.toml"),
    )]);
    src.main = "hotline".into();
    Arc::new(load(&src).unwrap_or_else(|e| panic!("demo flow refused:\n{e}")))
}

#[test]
fn demo_flow_where_is_my_ticket() {
    let mut w = Walk::with_caller(demo(), "13700000000");
    assert_eq!(w.events("time"), ["open"]);
    assert_eq!(w.played(), ["welcome"]);
    w.key("2");
    assert_eq!(w.ivr.language(), "en");
    w.answer(LookupAnswer::NotFound);
    assert_eq!(w.at(), "hotline/main");
    w.key("3");
    w.key("2611250001");
    assert_eq!(w.lookup().2, "2611250001");
    w.answer(LookupAnswer::Found(vec![
        ("ticket.number".into(), "2611250001".into()),
        ("ticket.stage".into(), "dispatched".into()),
        ("ticket.outlet_phone".into(), "057188881234".into()),
    ]));
    assert_eq!(w.played(), ["ticket-status", "stage-dispatched"]);
    assert_eq!(w.played(), ["ticket-outlet-phone"]);
    let phone = w.played();
    assert_eq!(phone.len(), 12);
    assert_eq!(phone[0], "digit-0");
    assert_eq!(w.at(), "hotline/main");
}

#[test]
fn demo_flow_offers_the_open_ticket_first_and_queues_for_an_agent() {
    let mut w = Walk::new(demo());
    assert_eq!(w.played(), ["welcome"]);
    assert_eq!(w.played(), ["choose-language"]);
    w.wait(Duration::from_secs(4)); // no language choice: stays Mandarin
    assert_eq!(w.ivr.language(), "zh");
    assert_eq!(w.lookup().1, LookupKind::OpenTickets);
    w.answer(LookupAnswer::Found(vec![
        ("tickets.count".into(), "1".into()),
        ("ticket.number".into(), "2611250001".into()),
        ("ticket.stage".into(), "dispatched".into()),
    ]));
    assert_eq!(w.played(), ["ticket-offer"]);
    assert_eq!(w.played().len(), 10, "the ticket number, digit by digit");
    w.key("2");
    assert_eq!(w.at(), "hotline/main");
    w.key("0");
    assert_eq!(w.at(), "hotline/agent");
    assert!(
        w.effects
            .iter()
            .any(|e| matches!(e, Effect::Queue { queue, .. } if queue == "general"))
    );
}

#[test]
fn demo_flow_after_hours_takes_a_message() {
    let twenty_two_hours = WED_10AM_SHANGHAI + 12 * 3_600_000;
    let mut w = Walk::at_time(demo(), "13800138000", twenty_two_hours);
    assert_eq!(w.events("time"), ["closed"]);
    w.key("1");
    assert_eq!(w.played(), ["message-intro", "beep"]);
    assert!(
        w.effects
            .iter()
            .any(|e| matches!(e, Effect::StartRecording))
    );
    w.key("#");
    assert_eq!(w.played(), ["message-saved", "goodbye"]);
    assert_eq!(w.hung_up(), Some("flow-complete"));
}

// ------------------------------------------------------------ survey flow

/// The flows folder as the server reads it: the demo flow and the survey
/// from disk, checked against the WAV files of every language on disk.
fn survey() -> Arc<FlowSet> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows");
    let read = |name: &str| {
        let path = root.join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        (path.display().to_string(), text)
    };
    let mut src = sources(&[]);
    src.flows = vec![read("hotline.toml"), read("survey.toml")];
    src.main = "hotline".into();
    for lang in ["en", "zh"] {
        let names: BTreeSet<String> = std::fs::read_dir(root.join("prompts").join(lang))
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".wav").map(str::to_owned)
            })
            .collect();
        src.prompts.insert(lang.to_owned(), names);
    }
    Arc::new(load(&src).unwrap_or_else(|e| panic!("survey flow refused:\n{e}")))
}

/// A survey call, past the intro, asked for the score.
fn survey_call() -> Walk {
    let mut w = Walk::in_flow(survey(), Some("survey"));
    assert_eq!(w.ivr.language(), "zh");
    assert_eq!(w.played(), ["survey-intro"]);
    assert_eq!(w.at(), "survey/score");
    assert_eq!(w.last_play().unwrap().1, ["survey-score"]);
    w
}

const ASKED_AGAIN: &[&str] = &["invalid", "survey-score"];

fn pair(q: &str, v: &str) -> (String, String) {
    (q.to_owned(), v.to_owned())
}

#[test]
fn survey_keeps_the_score_then_asks_whether_the_technician_was_on_time() {
    let mut w = survey_call();
    w.key("4");
    assert_eq!(w.answers(), [pair("score", "4")]);
    assert_eq!(w.at(), "survey/on_time");
    assert_eq!(w.last_play().unwrap().1, ["survey-on-time"]);
    w.played();
    w.key("1");
    assert_eq!(w.answers(), [pair("score", "4"), pair("on_time", "yes")]);
    assert_eq!(w.played(), ["survey-thanks", "survey-goodbye"]);
    assert_eq!(w.hung_up(), Some("flow-complete"));
    assert_eq!(
        w.path(),
        [
            "survey/intro",
            "survey/score",
            "survey/answer_score",
            "survey/on_time",
            "survey/on_time_yes",
            "survey/thanks"
        ]
    );

    // 2 is "no"; a key during the question's prompt answers it.
    let mut w = survey_call();
    w.key("5");
    w.key("2");
    assert_eq!(w.answers(), [pair("score", "5"), pair("on_time", "no")]);
    assert_eq!(w.at(), "survey/thanks");
}

#[test]
fn survey_asks_again_after_a_wrong_key_or_silence_then_takes_the_score() {
    let mut w = survey_call();
    w.key("7");
    assert_eq!(w.events("invalid"), ["\"7\" for score"]);
    assert_eq!(w.last_play().unwrap().1, ASKED_AGAIN);
    assert!(w.answers().is_empty());
    w.played();
    w.key("4");
    assert_eq!(w.answers(), [pair("score", "4")]);
    assert_eq!(w.at(), "survey/on_time");

    // Silence: asked again after 6 s, not before.
    let mut w = survey_call();
    w.played();
    w.wait(Duration::from_millis(5_999));
    assert_eq!(w.last_play().unwrap().1, ["survey-score"]);
    w.wait(Duration::from_millis(1));
    assert_eq!(w.last_play().unwrap().1, ["no-input", "survey-score"]);
    w.key("3");
    assert_eq!(w.answers(), [pair("score", "3")]);

    // # and * are wrong keys too (no terminator), as is 0.
    for key in ["#", "*", "0"] {
        let mut w = survey_call();
        w.key(key);
        assert_eq!(w.last_play().unwrap().1, ASKED_AGAIN, "{key}");
    }
}

#[test]
fn survey_without_a_score_says_goodbye_and_keeps_no_answer() {
    // Two wrong keys.
    let mut w = survey_call();
    w.key("7");
    w.played();
    w.key("7");
    assert_eq!(w.last_play().unwrap().1, ["invalid"]);
    w.played();
    assert_eq!(w.at(), "survey/no_score");
    assert_eq!(w.played(), ["survey-goodbye"]);
    assert_eq!(w.hung_up(), Some("flow-complete"));
    assert!(w.answers().is_empty(), "{:?}", w.answers());
    assert!(!w.path().iter().any(|n| n.contains("answer")));

    // Silence, twice.
    let mut w = survey_call();
    w.played();
    w.wait(Duration::from_secs(6));
    assert_eq!(w.played(), ["no-input", "survey-score"]);
    w.wait(Duration::from_secs(6));
    assert_eq!(w.played(), ["no-input"]);
    assert_eq!(w.played(), ["survey-goodbye"]);
    assert_eq!(w.hung_up(), Some("flow-complete"));
    assert!(w.answers().is_empty());
    assert_eq!(
        w.events("retries-exhausted"),
        ["survey/score after 2 tries"]
    );
}

#[test]
fn survey_skips_the_on_time_question_without_a_valid_key_and_still_thanks() {
    let mut w = survey_call();
    w.key("5");
    w.played();
    w.key("3");
    assert_eq!(w.last_play().unwrap().1, ["invalid", "survey-on-time"]);
    w.played();
    w.key("9");
    assert_eq!(w.played(), ["invalid"]);
    assert_eq!(w.played(), ["survey-thanks", "survey-goodbye"]);
    assert_eq!(w.hung_up(), Some("flow-complete"));
    assert_eq!(w.answers(), [pair("score", "5")]);

    let mut w = survey_call();
    w.key("2");
    w.played();
    w.wait(Duration::from_secs(6));
    assert_eq!(w.played(), ["no-input", "survey-on-time"]);
    w.wait(Duration::from_secs(6));
    assert_eq!(w.played(), ["no-input"]);
    assert_eq!(w.played(), ["survey-thanks", "survey-goodbye"]);
    assert_eq!(w.answers(), [pair("score", "2")]);
}

#[test]
fn survey_plays_in_the_call_language() {
    let f = survey();
    let mut w = Walk::in_flow(f, Some("survey"));
    let languages: Vec<&str> = w
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Play { language, .. } => Some(language.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(languages, ["zh"]);
    w.key("4");
    assert_eq!(w.ivr.language(), "zh");
}

// --------------------------------------------------------------- property

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// The demo flow with random lines dropped or repeated (what a hurried
    /// edit does): the loader answers, accepted or with file:line errors,
    /// and never panics.
    #[test]
    fn mangled_demo_flows_are_refused_cleanly(ops in proptest::collection::vec((0usize..200, 0u8..3), 1..8)) {
        let mut lines: Vec<&str> = include_str!("../../ivr-flows/hotline.toml").lines().collect();
        for (at, op) in ops {
            let at = at % lines.len();
            match op {
                0 => { lines.remove(at); }
                1 => { let l = lines[at]; lines.insert(at, l); }
                _ => {
                    let next = (at + 1) % lines.len();
                    lines.swap(at, next);
                }
            }
            if lines.is_empty() { break; }
        }
        let text = lines.join("\n");
        let mut src = sources(&[("ivr-flows/hotline.toml", &text)]);
        src.main = "hotline".into();
        if let Err(errors) = load(&src) {
            for e in &errors.0 {
                proptest::prop_assert!(e.file.ends_with("hotline.toml"), "{e}");
                proptest::prop_assert!(!e.message.is_empty());
            }
        }
    }
}
