//! Reading flow files: TOML text in, a checked [`FlowSet`] or every error
//! found out, each naming its file, line and node.
//!
//! Pure: the runtime reads the files (flows, calendars, the prompt names on
//! disk) and hands their contents in as [`Sources`]; the same code serves
//! `hotline check-flows`, the start-up check and hot reload.
//!
//! A flow file:
//!
//! ```toml
//! description = "After-sales hotline"
//! start = "welcome"
//!
//! [node.welcome]
//! kind = "play"
//! prompt = "welcome"
//! next = "main"
//! ```
//!
//! Every field of every node kind is listed in docs/ivr-flows.md. Hostile
//! input is bounded: a file over [`MAX_FILE_BYTES`], a flow over
//! [`MAX_NODES`] nodes, more than [`MAX_FLOWS`] flows or sub-flows nested
//! deeper than [`MAX_SUBFLOW_DEPTH`] is refused with a limit message.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::calendar::{BusinessHours, Calendar};
use super::check;
use super::flow::*;
use super::pattern::DigitPattern;
use super::say::{self, SayAs};

pub const MAX_FILE_BYTES: usize = 256 * 1024;
pub const MAX_NODES: usize = 500;
pub const MAX_FLOWS: usize = 100;
pub const MAX_SUBFLOW_DEPTH: usize = 8;
/// Prompts in one list.
pub const MAX_PROMPTS: usize = 32;
/// Digits one collect node may take.
pub const MAX_COLLECT_DIGITS: usize = 32;

/// What the loader reads, already in memory.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Flow files: (path for messages, text). The flow's name is the file
    /// stem.
    pub flows: Vec<(String, String)>,
    /// Calendar files by the path flows name them with
    /// (`calendars/cn-2026.toml`).
    pub calendars: BTreeMap<String, String>,
    /// Prompt names present on disk, per language.
    pub prompts: BTreeMap<String, BTreeSet<String>>,
    /// Numbers a transfer node may dial.
    pub transfer_allow: Vec<DigitPattern>,
    /// The flow calls start in.
    pub main: String,
}

/// One problem in one flow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    pub file: String,
    /// 1-based; 0 when the problem is the file as a whole.
    pub line: u32,
    pub node: Option<String>,
    pub message: String,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(node) = &self.node {
            write!(f, ": node `{node}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// All the errors of one load, in file and line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowErrors(pub Vec<FlowError>);

impl fmt::Display for FlowErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FlowErrors {}

/// Parses and checks every flow; `Err` lists every problem found.
pub fn load(src: &Sources) -> Result<FlowSet, FlowErrors> {
    let mut errors = Vec::new();
    if src.flows.len() > MAX_FLOWS {
        errors.push(FlowError {
            file: "ivr-flows".into(),
            line: 0,
            node: None,
            message: format!(
                "{} flow files exceed the limit of {MAX_FLOWS}",
                src.flows.len()
            ),
        });
        return Err(FlowErrors(errors));
    }
    let mut calendars = HashMap::new();
    let mut flows = BTreeMap::new();
    for (file, text) in &src.flows {
        let name = flow_name(file);
        if flows.contains_key(&name) {
            errors.push(file_error(file, format!("a second flow named `{name}`")));
            continue;
        }
        let mut p = Parser {
            src,
            file,
            text,
            lines: LineIndex::new(text),
            errors: &mut errors,
            calendars: &mut calendars,
            ids: HashMap::new(),
            node: String::new(),
        };
        if let Some(flow) = p.flow(&name) {
            flows.insert(name, Arc::new(flow));
        }
    }
    if src.flows.is_empty() {
        errors.push(file_error(
            "ivr-flows",
            format!("no flow files (expected at least {}.toml)", src.main),
        ));
    } else if !src.flows.iter().any(|(f, _)| flow_name(f) == src.main) {
        errors.push(file_error(
            &format!("{}.toml", src.main),
            format!("the main flow `{}` is missing (ivr.main_flow)", src.main),
        ));
    }
    if errors.is_empty() {
        let set = FlowSet {
            flows,
            main: src.main.clone(),
        };
        check::check(&set, &mut errors);
        if errors.is_empty() {
            return Ok(set);
        }
    }
    errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    errors.dedup();
    Err(FlowErrors(errors))
}

/// `ivr-flows/hotline.toml` → `hotline`.
pub fn flow_name(file: &str) -> String {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    base.strip_suffix(".toml").unwrap_or(base).to_owned()
}

fn file_error(file: &str, message: String) -> FlowError {
    FlowError {
        file: file.to_owned(),
        line: 0,
        node: None,
        message,
    }
}

/// Byte offset → 1-based line.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line(&self, offset: usize) -> u32 {
        let i = self.starts.partition_point(|&s| s <= offset);
        u32::try_from(i.max(1)).unwrap_or(u32::MAX)
    }
}

const KINDS: &str = "play, menu, collect, say, branch, time, lookup, set, answer, callback, language, message, queue, transfer, subflow, return, hangup";

struct Parser<'a> {
    src: &'a Sources,
    file: &'a str,
    text: &'a str,
    lines: LineIndex,
    errors: &'a mut Vec<FlowError>,
    calendars: &'a mut HashMap<String, Option<Arc<Calendar>>>,
    ids: HashMap<String, NodeIx>,
    /// The node being parsed, for messages.
    node: String,
}

type Table<'i> = DeTable<'i>;

impl Parser<'_> {
    fn error_at(&mut self, offset: usize, message: String) {
        let line = self.lines.line(offset);
        let node = (!self.node.is_empty()).then(|| self.node.clone());
        self.errors.push(FlowError {
            file: self.file.to_owned(),
            line,
            node,
            message,
        });
    }

    fn flow(&mut self, name: &str) -> Option<Flow> {
        if self.text.len() > MAX_FILE_BYTES {
            self.errors.push(file_error(
                self.file,
                format!(
                    "the file is {} bytes, over the limit of {MAX_FILE_BYTES}",
                    self.text.len()
                ),
            ));
            return None;
        }
        let doc = match DeTable::parse(self.text) {
            Ok(doc) => doc,
            Err(e) => {
                let offset = e.span().map_or(0, |s| s.start);
                self.node = enclosing_node(self.text, offset).unwrap_or_default();
                let message = e.message().trim().to_owned();
                self.error_at(offset, message);
                return None;
            }
        };
        let root = doc.get_ref();
        for (key, _) in root.iter() {
            if !matches!(key.get_ref().as_ref(), "description" | "start" | "node") {
                let message = format!(
                    "unknown top-level key `{}` (a flow file has description, start and [node.*] tables)",
                    key.get_ref()
                );
                self.error_at(key.span().start, message);
            }
        }
        let description = match root.get("description").map(|v| (v.get_ref(), v.span())) {
            Some((DeValue::String(s), _)) => s.to_string(),
            Some((_, span)) => {
                self.error_at(span.start, "`description` must be a string".into());
                String::new()
            }
            None => String::new(),
        };
        let Some(nodes) = root.get("node").and_then(|v| v.get_ref().as_table()) else {
            self.errors.push(file_error(
                self.file,
                "the flow has no [node.*] tables".into(),
            ));
            return None;
        };
        if nodes.len() > MAX_NODES {
            self.errors.push(file_error(
                self.file,
                format!(
                    "{} nodes exceed the limit of {MAX_NODES} per flow",
                    nodes.len()
                ),
            ));
            return None;
        }
        for (i, (id, _)) in nodes.iter().enumerate() {
            self.ids.insert(id.get_ref().to_string(), i);
        }
        let start = match root.get("start") {
            Some(v) => match v.get_ref().as_str() {
                Some(s) if self.ids.contains_key(s) => Some(self.ids[s]),
                Some(s) => {
                    let message = format!("`start` names `{s}`, which is not a node of this flow");
                    self.error_at(v.span().start, message);
                    None
                }
                None => {
                    self.error_at(v.span().start, "`start` must be a node id".into());
                    None
                }
            },
            None => {
                self.errors
                    .push(file_error(self.file, "the flow has no `start` node".into()));
                None
            }
        };
        let before = self.errors.len();
        let mut parsed = Vec::with_capacity(nodes.len());
        for (id, value) in nodes.iter() {
            self.node = id.get_ref().to_string();
            let line = self.lines.line(id.span().start);
            let Some(table) = value.get_ref().as_table() else {
                self.error_at(id.span().start, "a node must be a table".into());
                continue;
            };
            if let Some(kind) = self.node_kind(table, id.span().start) {
                parsed.push(Node {
                    id: self.node.clone(),
                    line,
                    kind,
                });
            }
        }
        self.node.clear();
        if self.errors.len() > before {
            return None;
        }
        Some(Flow {
            name: name.to_owned(),
            file: self.file.to_owned(),
            description,
            start: start?,
            nodes: parsed,
        })
    }

    fn node_kind(&mut self, table: &Table<'_>, at: usize) -> Option<NodeKind> {
        let mut f = Fields {
            table,
            asked: Vec::new(),
            at,
        };
        let kind = match f.get("kind") {
            Some(v) => match v.get_ref().as_str() {
                Some(k) => k.to_owned(),
                None => {
                    self.error_at(v.span().start, "`kind` must be a string".into());
                    return None;
                }
            },
            None => {
                self.error_at(at, format!("the node has no `kind` (one of {KINDS})"));
                return None;
            }
        };
        let before = self.errors.len();
        let node = match kind.as_str() {
            "play" => Some(NodeKind::Play {
                prompts: self.prompts(&mut f, "prompt", true),
                barge_in: self.boolean(&mut f, "barge_in", true),
                next: self.edge(&mut f, "next"),
            }),
            "menu" => self.menu(&mut f),
            "collect" => self.collect(&mut f),
            "say" => {
                let value = self.template(&mut f, "value");
                let how = self.say_as(&mut f);
                let next = self.edge(&mut f, "next");
                if let Some(how) = how {
                    self.check_say_prompts(how, at);
                }
                value
                    .zip(how)
                    .map(|(value, how)| NodeKind::Say { value, how, next })
            }
            "branch" => {
                let var = self.var_name(&mut f, "var");
                let mut cases = Vec::new();
                if let Some((t, at)) = self.table(&mut f, "cases", true) {
                    for (k, v) in t.iter() {
                        if let Some(to) = self.edge_value(v, &format!("case {:?}", k.get_ref())) {
                            cases.push((k.get_ref().to_string(), to));
                        }
                    }
                    if cases.is_empty() {
                        self.error_at(at, "`cases` is empty".into());
                    }
                }
                let default = self.edge(&mut f, "default");
                var.map(|var| NodeKind::Branch {
                    var,
                    cases,
                    default,
                })
            }
            "time" => self.time(&mut f),
            "lookup" => {
                let what = self.one_of(&mut f, "what", &["customer", "open_tickets", "ticket"]);
                let key = self.template(&mut f, "key");
                let found = self.edge(&mut f, "found");
                let not_found = self.edge(&mut f, "not_found");
                let failed = self.opt_edge(&mut f, "failed").unwrap_or(not_found);
                let what = what.map(|w| LookupKind::ALL[w]);
                what.zip(key).map(|(what, key)| NodeKind::Lookup {
                    what,
                    key,
                    found,
                    not_found,
                    failed,
                })
            }
            "set" => {
                let var = self.var_name(&mut f, "var");
                let value = self.template(&mut f, "value");
                let next = self.edge(&mut f, "next");
                var.zip(value)
                    .map(|(var, value)| NodeKind::Set { var, value, next })
            }
            "answer" => {
                let question = self.question(&mut f);
                let value = self.template(&mut f, "value");
                let next = self.edge(&mut f, "next");
                question
                    .zip(value)
                    .map(|(question, value)| NodeKind::Answer {
                        question,
                        value,
                        next,
                    })
            }
            "callback" => {
                let campaign = self.string(&mut f, "campaign", true);
                if let Some((c, at)) = &campaign
                    && !is_campaign_name(c)
                {
                    self.error_at(
                        *at,
                        format!("`campaign`: {c:?} is not a campaign name (a-z, 0-9, - and _)"),
                    );
                }
                let next = self.edge(&mut f, "next");
                campaign
                    .filter(|(c, _)| is_campaign_name(c))
                    .map(|(campaign, _)| NodeKind::Callback { campaign, next })
            }
            "language" => {
                let language = self.string(&mut f, "language", true);
                if let Some((l, at)) = &language
                    && !self.src.prompts.contains_key(l)
                {
                    let have: Vec<_> = self.src.prompts.keys().cloned().collect();
                    let message = format!(
                        "language `{l}` has no prompt folder (have: {})",
                        have.join(", ")
                    );
                    self.error_at(*at, message);
                }
                let next = self.edge(&mut f, "next");
                language.map(|(language, _)| NodeKind::Language { language, next })
            }
            "message" => {
                let prompts = self.prompts(&mut f, "prompt", false);
                let beep = self.boolean(&mut f, "beep", true);
                if beep {
                    self.check_prompt("beep", at);
                }
                let max = self.duration(&mut f, "max", Duration::from_secs(60), (1, 600));
                let terminator = self.terminator(&mut f);
                let next = self.edge(&mut f, "next");
                Some(NodeKind::Message {
                    prompts,
                    beep,
                    max,
                    terminator,
                    next,
                })
            }
            "queue" => self.queue(&mut f),
            "transfer" => {
                let number = self.template(&mut f, "number");
                if let Some(n) = number.as_ref().and_then(Template::literal)
                    && !self.src.transfer_allow.iter().any(|p| p.matches(&n))
                {
                    let message = format!(
                        "transfer number {n} is not in the allow-list (ivr.transfer_allow in the configuration)"
                    );
                    self.error_at(f.key_at("number"), message);
                }
                let prompts = self.prompts(&mut f, "prompt", false);
                let failed = self.edge(&mut f, "failed");
                number.map(|number| NodeKind::Transfer {
                    number,
                    prompts,
                    failed,
                })
            }
            "subflow" => {
                let flow = self.string(&mut f, "flow", true);
                let next = self.edge(&mut f, "next");
                flow.map(|(flow, _)| NodeKind::SubFlow { flow, next })
            }
            "return" => Some(NodeKind::Return),
            "hangup" => Some(NodeKind::Hangup {
                prompts: self.prompts(&mut f, "prompt", false),
            }),
            other => {
                let at = f.key_at("kind");
                self.error_at(at, format!("unknown node kind `{other}` (one of {KINDS})"));
                return None;
            }
        };
        for (key, _) in table.iter() {
            let k = key.get_ref().as_ref();
            if !f.asked.contains(&k) {
                let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                let message = format!(
                    "unknown field `{k}` ({article} {kind} node takes {})",
                    f.asked.join(", ")
                );
                self.error_at(key.span().start, message);
            }
        }
        if self.errors.len() > before {
            return None;
        }
        node
    }

    fn menu(&mut self, f: &mut Fields<'_, '_>) -> Option<NodeKind> {
        let prompts = self.prompts(f, "prompt", true);
        let mut options = Vec::new();
        if let Some((t, at)) = self.table(f, "options", true) {
            for (k, v) in t.iter() {
                let key = k.get_ref();
                let mut chars = key.chars();
                let digit = match (chars.next(), chars.next()) {
                    (Some(c), None) if is_key(c) => c,
                    _ => {
                        let message =
                            format!("menu key {key:?} is not one keypad key (0-9, *, #, A-D)");
                        self.error_at(k.span().start, message);
                        continue;
                    }
                };
                if let Some(to) = self.edge_value(v, &format!("option {key}")) {
                    options.push((digit, to));
                }
            }
            if options.is_empty() && t.is_empty() {
                self.error_at(at, "`options` is empty".into());
            }
        }
        let timeout = self.duration(f, "timeout", Duration::from_secs(5), (1, 300));
        let retry = self.retry(f);
        Some(NodeKind::Menu(Menu {
            prompts,
            options,
            timeout,
            retry: retry?,
        }))
    }

    fn collect(&mut self, f: &mut Fields<'_, '_>) -> Option<NodeKind> {
        let prompts = self.prompts(f, "prompt", true);
        let into = self.var_name(f, "into");
        let min = self.int(f, "min", 1, (1, MAX_COLLECT_DIGITS as i64));
        let max = self.int(f, "max", 20, (1, MAX_COLLECT_DIGITS as i64));
        if min > max {
            let at = f.key_at("min");
            self.error_at(at, format!("`min` {min} is above `max` {max}"));
        }
        let terminator = self.terminator(f);
        let timeout = self.duration(f, "timeout", Duration::from_secs(5), (1, 300));
        let inter_digit = self.duration(f, "inter_digit_timeout", Duration::from_secs(3), (1, 30));
        let pattern = match self.string(f, "pattern", false) {
            Some((p, at)) => match DigitPattern::parse(&p) {
                Ok(pat) if pat.min_len() > usize::try_from(max).unwrap_or(0) => {
                    let message = format!(
                        "pattern {p:?} needs at least {} keys but `max` is {max}: it can never match",
                        pat.min_len()
                    );
                    self.error_at(at, message);
                    None
                }
                Ok(p) => Some(p),
                Err(e) => {
                    self.error_at(at, format!("bad pattern {p:?}: {e}"));
                    None
                }
            },
            None => None,
        };
        let next = self.edge(f, "next");
        let retry = self.retry(f);
        Some(NodeKind::Collect(Collect {
            prompts,
            min: usize::try_from(min).unwrap_or(1),
            max: usize::try_from(max).unwrap_or(1),
            terminator,
            timeout,
            inter_digit,
            pattern,
            into: into?,
            next,
            retry: retry?,
        }))
    }

    fn retry(&mut self, f: &mut Fields<'_, '_>) -> Option<Retry> {
        let tries = self.int(f, "tries", 3, (1, 10));
        Some(Retry {
            tries: u32::try_from(tries).unwrap_or(1),
            invalid: self.prompts(f, "invalid", false),
            no_input: self.prompts(f, "no_input", false),
            after_retries: self.edge(f, "after_retries"),
        })
    }

    fn time(&mut self, f: &mut Fields<'_, '_>) -> Option<NodeKind> {
        let zone = self
            .string(f, "timezone", false)
            .map_or_else(|| "Asia/Shanghai".to_owned(), |(z, _)| z);
        let mut week = Vec::new();
        let hours_at = f.key_at("hours");
        if let Some((t, _)) = self.table(f, "hours", true) {
            for (k, v) in t.iter() {
                match v.get_ref().as_str() {
                    Some(s) => week.push((k.get_ref().to_string(), s.to_owned())),
                    None => self.error_at(
                        v.span().start,
                        format!(
                            "hours for `{}` must be a string like \"08:00-20:00\"",
                            k.get_ref()
                        ),
                    ),
                }
            }
        }
        let calendar = match self.string(f, "holidays", false) {
            Some((path, at)) => self.calendar(&path, at),
            None => None,
        };
        let open = self.edge(f, "open");
        let closed = self.edge(f, "closed");
        let week_ref: Vec<(&str, &str)> =
            week.iter().map(|(d, s)| (d.as_str(), s.as_str())).collect();
        match BusinessHours::new(&zone, &week_ref, calendar.map(|c| (*c).clone())) {
            Ok(hours) => Some(NodeKind::Time {
                hours: Arc::new(hours),
                open,
                closed,
            }),
            Err(e) => {
                self.error_at(hours_at, e.to_string());
                None
            }
        }
    }

    fn calendar(&mut self, path: &str, at: usize) -> Option<Arc<Calendar>> {
        if let Some(c) = self.calendars.get(path) {
            return c.clone();
        }
        let parsed = match self.src.calendars.get(path) {
            Some(text) => match Calendar::parse(path, text) {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    self.error_at(at, format!("holiday calendar: {e}"));
                    None
                }
            },
            None => {
                let have: Vec<_> = self.src.calendars.keys().cloned().collect();
                let message = format!(
                    "no holiday calendar `{path}` (have: {})",
                    if have.is_empty() {
                        "none".into()
                    } else {
                        have.join(", ")
                    }
                );
                self.error_at(at, message);
                None
            }
        };
        self.calendars.insert(path.to_owned(), parsed.clone());
        parsed
    }

    fn queue(&mut self, f: &mut Fields<'_, '_>) -> Option<NodeKind> {
        let queue = self.string(f, "queue", true);
        if let Some((q, at)) = &queue
            && (q.is_empty()
                || !q
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            let message = format!("queue name {q:?} may hold only letters, digits, `-` and `_`");
            self.error_at(*at, message);
        }
        let priority = self.int(f, "priority", 5, (0, 9));
        let skills = match f.get("skills") {
            Some(v) => match v.get_ref().as_array() {
                Some(a) => a
                    .iter()
                    .filter_map(|s| match s.get_ref().as_str() {
                        Some(s) => Some(s.to_owned()),
                        None => {
                            self.error_at(s.span().start, "a skill must be a string".into());
                            None
                        }
                    })
                    .collect(),
                None => {
                    self.error_at(v.span().start, "`skills` must be a list of strings".into());
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        let prompts = self.prompts(f, "prompt", false);
        let mut hold = self.prompts(f, "hold", false);
        if hold.is_empty() && f.get_quiet("hold").is_none() {
            self.check_prompt("hold-music", f.at);
            hold = vec![Template::parse("hold-music").expect("a literal")];
        }
        let max_wait = f
            .get_quiet("max_wait")
            .is_some()
            .then(|| self.duration(f, "max_wait", Duration::from_secs(120), (5, 3600)));
        let after_wait = self.opt_edge(f, "after_wait");
        let max_wait = match (max_wait, after_wait) {
            (Some(d), Some(to)) => Some((d, to)),
            (None, None) => None,
            _ => {
                let at = f.at;
                self.error_at(at, "`max_wait` and `after_wait` go together".into());
                None
            }
        };
        queue.map(|(queue, _)| {
            NodeKind::Queue(Queue {
                queue,
                priority: u8::try_from(priority).unwrap_or(5),
                skills,
                prompts,
                hold,
                max_wait,
            })
        })
    }

    // ----- field readers ---------------------------------------------------

    fn string(
        &mut self,
        f: &mut Fields<'_, '_>,
        key: &'static str,
        required: bool,
    ) -> Option<(String, usize)> {
        match f.get(key) {
            Some(v) => match v.get_ref().as_str() {
                Some(s) => Some((s.to_owned(), v.span().start)),
                None => {
                    let message =
                        format!("`{key}` must be a string, not {}", v.get_ref().type_str());
                    self.error_at(v.span().start, message);
                    None
                }
            },
            None if required => {
                let at = f.at;
                self.error_at(at, format!("missing field `{key}`"));
                None
            }
            None => None,
        }
    }

    fn one_of(
        &mut self,
        f: &mut Fields<'_, '_>,
        key: &'static str,
        choices: &[&str],
    ) -> Option<usize> {
        let (s, at) = self.string(f, key, true)?;
        let found = choices.iter().position(|c| *c == s);
        if found.is_none() {
            let message = format!("`{key}` is {s:?}; expected one of {}", choices.join(", "));
            self.error_at(at, message);
        }
        found
    }

    fn say_as(&mut self, f: &mut Fields<'_, '_>) -> Option<SayAs> {
        let i = self.one_of(f, "as", &["number", "digits", "date", "time"])?;
        Some([SayAs::Number, SayAs::Digits, SayAs::Date, SayAs::Time][i])
    }

    fn template(&mut self, f: &mut Fields<'_, '_>, key: &'static str) -> Option<Template> {
        let (s, at) = self.string(f, key, true)?;
        match Template::parse(&s) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error_at(at, format!("`{key}`: {e}"));
                None
            }
        }
    }

    fn var_name(&mut self, f: &mut Fields<'_, '_>, key: &'static str) -> Option<String> {
        let (s, at) = self.string(f, key, true)?;
        if !is_var_name(&s) {
            self.error_at(at, format!("`{key}`: {s:?} is not a variable name"));
            return None;
        }
        if BUILTIN_VARS.contains(&s.as_str()) {
            self.error_at(at, format!("`{key}`: `{s}` is built in and cannot be set"));
            return None;
        }
        Some(s)
    }

    /// An answer node's `question`: the name the answer is kept under.
    fn question(&mut self, f: &mut Fields<'_, '_>) -> Option<String> {
        let (s, at) = self.string(f, "question", true)?;
        if !is_question_name(&s) {
            self.error_at(
                at,
                format!(
                    "`question`: {s:?} is not a question name (1 to {MAX_QUESTION_LEN} ASCII letters, digits and `_`)"
                ),
            );
            return None;
        }
        Some(s)
    }

    fn boolean(&mut self, f: &mut Fields<'_, '_>, key: &'static str, default: bool) -> bool {
        match f.get(key) {
            Some(v) => match v.get_ref().as_bool() {
                Some(b) => b,
                None => {
                    self.error_at(v.span().start, format!("`{key}` must be true or false"));
                    default
                }
            },
            None => default,
        }
    }

    fn int(
        &mut self,
        f: &mut Fields<'_, '_>,
        key: &'static str,
        default: i64,
        (lo, hi): (i64, i64),
    ) -> i64 {
        match f.get(key) {
            Some(v) => {
                let n = v
                    .get_ref()
                    .as_integer()
                    .and_then(|i| i64::from_str_radix(i.as_str(), i.radix()).ok());
                match n {
                    Some(n) if (lo..=hi).contains(&n) => n,
                    _ => {
                        let message = format!("`{key}` must be a whole number from {lo} to {hi}");
                        self.error_at(v.span().start, message);
                        default
                    }
                }
            }
            None => default,
        }
    }

    /// `"5s"`, `"500ms"`, `"2m"` or a number of seconds, within
    /// `lo..=hi` seconds.
    fn duration(
        &mut self,
        f: &mut Fields<'_, '_>,
        key: &'static str,
        default: Duration,
        (lo, hi): (u64, u64),
    ) -> Duration {
        let Some(v) = f.get(key) else { return default };
        let parsed = match v.get_ref() {
            DeValue::String(s) => parse_duration(s),
            DeValue::Integer(i) => i.as_str().parse::<u64>().ok().map(Duration::from_secs),
            _ => None,
        };
        match parsed {
            Some(d) if d >= Duration::from_secs(lo) && d <= Duration::from_secs(hi) => d,
            _ => {
                let message = format!(
                    "`{key}` must be a duration like \"5s\" or \"500ms\" from {lo} s to {hi} s"
                );
                self.error_at(v.span().start, message);
                default
            }
        }
    }

    fn terminator(&mut self, f: &mut Fields<'_, '_>) -> Option<char> {
        let Some((s, at)) = self.string(f, "terminator", false) else {
            return Some('#');
        };
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (None, _) => None,
            (Some(c), None) if is_key(c) => Some(c),
            _ => {
                self.error_at(
                    at,
                    format!("`terminator` {s:?} must be one keypad key or \"\""),
                );
                Some('#')
            }
        }
    }

    fn table<'t, 'i>(
        &mut self,
        f: &mut Fields<'t, 'i>,
        key: &'static str,
        required: bool,
    ) -> Option<(&'t Table<'i>, usize)> {
        match f.get(key) {
            Some(v) => match v.get_ref().as_table() {
                Some(t) => Some((t, v.span().start)),
                None => {
                    self.error_at(v.span().start, format!("`{key}` must be a table"));
                    None
                }
            },
            None if required => {
                let at = f.at;
                self.error_at(at, format!("missing field `{key}`"));
                None
            }
            None => None,
        }
    }

    /// A prompt list: one name or a list of names (templates). Literal
    /// names must exist in every language.
    fn prompts(
        &mut self,
        f: &mut Fields<'_, '_>,
        key: &'static str,
        required: bool,
    ) -> Vec<Template> {
        let Some(v) = f.get(key) else {
            if required {
                let at = f.at;
                self.error_at(at, format!("missing field `{key}`"));
            }
            return Vec::new();
        };
        let items: Vec<&Spanned<DeValue<'_>>> = match v.get_ref() {
            DeValue::String(_) => vec![v],
            DeValue::Array(a) => a.iter().collect(),
            _ => {
                self.error_at(
                    v.span().start,
                    format!("`{key}` must be a prompt name or a list of them"),
                );
                return Vec::new();
            }
        };
        if items.len() > MAX_PROMPTS {
            self.error_at(
                v.span().start,
                format!(
                    "`{key}` lists {} prompts, over the limit of {MAX_PROMPTS}",
                    items.len()
                ),
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for item in items {
            let at = item.span().start;
            let Some(s) = item.get_ref().as_str() else {
                self.error_at(at, format!("`{key}`: a prompt name must be a string"));
                continue;
            };
            match Template::parse(s) {
                Ok(t) => {
                    match t.literal() {
                        Some(name) => self.check_prompt(&name, at),
                        None => self.check_prompt_prefix(&t, at),
                    }
                    out.push(t);
                }
                Err(e) => self.error_at(at, format!("`{key}`: {e}")),
            }
        }
        out
    }

    fn check_prompt(&mut self, name: &str, at: usize) {
        let missing: Vec<&str> = self
            .src
            .prompts
            .iter()
            .filter(|(_, names)| !names.contains(name))
            .map(|(lang, _)| lang.as_str())
            .collect();
        if !missing.is_empty() {
            let message = format!(
                "prompt `{name}` is missing for {} (no ivr-flows/prompts/{}/{name}.wav)",
                missing.join(", "),
                missing[0]
            );
            self.error_at(at, message);
        }
    }

    /// `stage-${ticket.stage}`: at least one prompt per language must start
    /// with the text before the first variable.
    fn check_prompt_prefix(&mut self, t: &Template, at: usize) {
        let prefix = match t.parts.first() {
            Some(Part::Text(p)) => p.clone(),
            _ => return,
        };
        let missing: Vec<&str> = self
            .src
            .prompts
            .iter()
            .filter(|(_, names)| !names.iter().any(|n| n.starts_with(&prefix)))
            .map(|(lang, _)| lang.as_str())
            .collect();
        if !missing.is_empty() {
            let message = format!(
                "no prompt starting with `{prefix}` for {} (prompt `{t}`)",
                missing.join(", ")
            );
            self.error_at(at, message);
        }
    }

    fn check_say_prompts(&mut self, how: SayAs, at: usize) {
        let langs: Vec<String> = self.src.prompts.keys().cloned().collect();
        for lang in langs {
            match say::prompt_names(&lang) {
                Some(names) => {
                    for name in names.into_iter().filter(|n| say_uses(how, n)) {
                        if !self.src.prompts[&lang].contains(&name) {
                            let message = format!(
                                "prompt `{name}` (used to say values) is missing for {lang}"
                            );
                            self.error_at(at, message);
                            return;
                        }
                    }
                }
                None => {
                    let message = format!(
                        "`say` cannot speak language `{lang}` (it knows {})",
                        say::LANGUAGES.join(", ")
                    );
                    self.error_at(at, message);
                }
            }
        }
    }

    fn edge(&mut self, f: &mut Fields<'_, '_>, key: &'static str) -> NodeIx {
        match f.get(key) {
            Some(v) => self.edge_value(v, &format!("`{key}`")).unwrap_or(0),
            None => {
                let at = f.at;
                self.error_at(at, format!("missing field `{key}`"));
                0
            }
        }
    }

    fn opt_edge(&mut self, f: &mut Fields<'_, '_>, key: &'static str) -> Option<NodeIx> {
        let v = f.get(key)?;
        self.edge_value(v, &format!("`{key}`"))
    }

    fn edge_value(&mut self, v: &Spanned<DeValue<'_>>, what: &str) -> Option<NodeIx> {
        match v.get_ref().as_str() {
            Some(id) => match self.ids.get(id) {
                Some(&ix) => Some(ix),
                None => {
                    self.error_at(
                        v.span().start,
                        format!("{what} goes to `{id}`, which is not a node of this flow"),
                    );
                    None
                }
            },
            None => {
                self.error_at(v.span().start, format!("{what} must name a node"));
                None
            }
        }
    }
}

/// A node's table, remembering which keys were asked for so the rest can
/// be reported as unknown.
struct Fields<'t, 'i> {
    table: &'t Table<'i>,
    asked: Vec<&'static str>,
    /// Offset of the node's header, for "missing field" messages.
    at: usize,
}

impl<'t, 'i> Fields<'t, 'i> {
    fn get(&mut self, key: &'static str) -> Option<&'t Spanned<DeValue<'i>>> {
        if !self.asked.contains(&key) {
            self.asked.push(key);
        }
        self.table.get(key)
    }

    /// Looks without counting the key as asked.
    fn get_quiet(&self, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.table.get(key)
    }

    fn key_at(&self, key: &str) -> usize {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map_or(self.at, |(k, _)| k.span().start)
    }
}

/// Whether saying a value `how` may use the prompt `name` (the say
/// module's prompt families: `digit-`, `num-`, `month-`, `date-`, `time-`).
fn say_uses(how: SayAs, name: &str) -> bool {
    let family = name.split('-').next().unwrap_or_default();
    match how {
        SayAs::Digits => family == "digit",
        SayAs::Number => family == "num",
        SayAs::Date => matches!(family, "digit" | "num" | "month" | "date"),
        SayAs::Time => matches!(family, "num" | "time"),
    }
}

fn is_key(c: char) -> bool {
    matches!(c, '0'..='9' | '*' | '#' | 'A'..='D')
}

/// `"5s"`, `"500ms"`, `"2m"`, `"1h"`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" | "min" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}

/// The `[node.ID]` section a byte offset falls in, for parse errors that
/// TOML reports before any node is known.
fn enclosing_node(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset.min(text.len()))?;
    before.lines().rev().find_map(|line| {
        let line = line.trim();
        let inner = line.strip_prefix("[node.")?.strip_suffix(']')?;
        Some(inner.trim().trim_matches('"').to_owned())
    })
}

/// A campaign's name as the configuration allows it.
fn is_campaign_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
