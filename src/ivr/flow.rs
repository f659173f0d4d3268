//! The shape of a flow once loaded: nodes with their edges resolved to
//! indices, prompt lists and string templates ready to evaluate.
//!
//! Invariants of a [`FlowSet`] built by [`crate::ivr::load`]: every edge
//! points at a node of the same flow; every `subflow` names a flow of the
//! set and the sub-flow graph has no cycle; every literal prompt exists in
//! every language; every variable a node reads is set on every path to it.
//! The interpreter relies on these and never has to handle a dangling edge.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::calendar::BusinessHours;
use super::pattern::DigitPattern;
use super::say::SayAs;

/// Index of a node within its flow.
pub type NodeIx = usize;

/// Every flow of the hotline, as one immutable version. Calls keep the
/// version they started with (an `Arc`), so a reload never changes a call
/// in progress.
#[derive(Debug)]
pub struct FlowSet {
    pub flows: BTreeMap<String, Arc<Flow>>,
    /// The flow a new call starts in.
    pub main: String,
}

impl FlowSet {
    pub fn flow(&self, name: &str) -> Option<&Arc<Flow>> {
        self.flows.get(name)
    }

    pub fn main_flow(&self) -> &Arc<Flow> {
        &self.flows[&self.main]
    }

    pub fn node_count(&self) -> usize {
        self.flows.values().map(|f| f.nodes.len()).sum()
    }
}

/// One flow file.
#[derive(Debug)]
pub struct Flow {
    /// The file's stem: `hotline` for `ivr-flows/hotline.toml`.
    pub name: String,
    /// The file as given to the loader, for messages.
    pub file: String,
    pub description: String,
    pub start: NodeIx,
    pub nodes: Vec<Node>,
}

#[derive(Debug)]
pub struct Node {
    pub id: String,
    /// 1-based line of the node's table header.
    pub line: u32,
    pub kind: NodeKind,
}

/// A string with `${variable}` parts, such as `${caller}` or
/// `stage-${ticket.stage}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Var(String),
}

impl Template {
    /// Parses `text`; `Err` names the problem (unclosed `${`, bad name).
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("`${{` without a closing `}}` in {text:?}"))?;
            let name = &after[..end];
            if !is_var_name(name) {
                return Err(format!(
                    "{name:?} is not a variable name (letters, digits, `_` and `.`, starting with a letter)"
                ));
            }
            parts.push(Part::Var(name.to_owned()));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// The variables the template reads.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Text(_) => None,
        })
    }

    /// The literal text when the template has no variables.
    pub fn literal(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => s.push_str(t),
                Part::Var(_) => return None,
            }
        }
        Some(s)
    }

    /// The text with each variable replaced by its value (unset ones by "").
    pub fn render(&self, vars: &BTreeMap<String, String>) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => s.push_str(t),
                Part::Var(v) => s.push_str(vars.get(v).map_or("", String::as_str)),
            }
        }
        s
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.parts {
            match p {
                Part::Text(t) => f.write_str(t)?,
                Part::Var(v) => write!(f, "${{{v}}}")?,
            }
        }
        Ok(())
    }
}

/// Variable names: `customer.name`, `ticket_number`.
pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !name.ends_with('.')
        && !name.contains("..")
}

/// Longest survey question name.
pub const MAX_QUESTION_LEN: usize = 64;

/// Survey question names (`score`, `on_time`): ASCII letters, digits and
/// `_`, at most [`MAX_QUESTION_LEN`] of them.
pub fn is_question_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_QUESTION_LEN
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The variables every call has from its first node.
pub const BUILTIN_VARS: &[&str] = &["caller", "dialled", "call_id", "language"];

/// What a lookup node asks the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKind {
    /// The customer whose phone number is the key.
    Customer,
    /// The open tickets of the customer with this phone number.
    OpenTickets,
    /// A ticket by its number.
    Ticket,
}

impl LookupKind {
    pub const ALL: [LookupKind; 3] = [
        LookupKind::Customer,
        LookupKind::OpenTickets,
        LookupKind::Ticket,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LookupKind::Customer => "customer",
            LookupKind::OpenTickets => "open_tickets",
            LookupKind::Ticket => "ticket",
        }
    }

    /// The variables a successful lookup sets (empty strings where the
    /// store has no value, so a later read is always defined).
    pub fn sets(self) -> &'static [&'static str] {
        match self {
            LookupKind::Customer => &[
                "customer.id",
                "customer.name",
                "customer.region",
                "customer.vip",
                "customer.open_tickets",
            ],
            LookupKind::OpenTickets => &[
                "tickets.count",
                "ticket.number",
                "ticket.kind",
                "ticket.stage",
                "ticket.outlet",
                "ticket.outlet_phone",
                "ticket.product",
            ],
            LookupKind::Ticket => &[
                "ticket.number",
                "ticket.kind",
                "ticket.stage",
                "ticket.outlet",
                "ticket.outlet_phone",
                "ticket.product",
            ],
        }
    }
}

/// How a menu or collect node asks again and gives up.
#[derive(Debug, Clone)]
pub struct Retry {
    /// How many times the caller is asked in all (at least 1).
    pub tries: u32,
    /// Played after a wrong entry, before asking again.
    pub invalid: Vec<Template>,
    /// Played after silence, before asking again.
    pub no_input: Vec<Template>,
    /// Where the call goes when the last try fails.
    pub after_retries: NodeIx,
}

#[derive(Debug, Clone)]
pub struct Menu {
    pub prompts: Vec<Template>,
    /// Keypad key → next node; keys are unique.
    pub options: Vec<(char, NodeIx)>,
    pub timeout: Duration,
    pub retry: Retry,
}

#[derive(Debug, Clone)]
pub struct Collect {
    pub prompts: Vec<Template>,
    pub min: usize,
    pub max: usize,
    /// Ends the entry early (`#` by default); never part of the value.
    pub terminator: Option<char>,
    /// Wait for the first digit.
    pub timeout: Duration,
    /// Wait between digits; when it runs out the entry is complete.
    pub inter_digit: Duration,
    pub pattern: Option<DigitPattern>,
    /// The variable that receives the digits.
    pub into: String,
    pub next: NodeIx,
    pub retry: Retry,
}

#[derive(Debug, Clone)]
pub struct Queue {
    pub queue: String,
    /// 0 (lowest) to 9; callers with a higher priority are served first.
    pub priority: u8,
    pub skills: Vec<String>,
    /// Played once on entering the queue.
    pub prompts: Vec<Template>,
    /// Played in a loop while the caller waits.
    pub hold: Vec<Template>,
    /// How long the caller may wait, and where the call goes then.
    pub max_wait: Option<(Duration, NodeIx)>,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Play {
        prompts: Vec<Template>,
        barge_in: bool,
        next: NodeIx,
    },
    Menu(Menu),
    Collect(Collect),
    Say {
        value: Template,
        how: SayAs,
        next: NodeIx,
    },
    Branch {
        var: String,
        /// Exact values of the variable → next node.
        cases: Vec<(String, NodeIx)>,
        default: NodeIx,
    },
    Time {
        hours: Arc<BusinessHours>,
        open: NodeIx,
        closed: NodeIx,
    },
    Lookup {
        what: LookupKind,
        key: Template,
        found: NodeIx,
        not_found: NodeIx,
        /// The store could not answer (down, slow).
        failed: NodeIx,
    },
    Set {
        var: String,
        value: Template,
        next: NodeIx,
    },
    /// What the customer answered to a survey question: reported as
    /// [`crate::ivr::Effect::Answer`] for the engine to keep.
    Answer {
        /// The question's name ([`is_question_name`]).
        question: String,
        value: Template,
        next: NodeIx,
    },
    /// The caller asks to be called back instead of waiting: reported as
    /// [`crate::ivr::Effect::Callback`]; the call goes on to `next` (which
    /// tells them and hangs up).
    Callback {
        /// The callbacks campaign the request joins (checked against the
        /// configuration when the server starts).
        campaign: String,
        next: NodeIx,
    },
    Language {
        language: String,
        next: NodeIx,
    },
    Message {
        prompts: Vec<Template>,
        beep: bool,
        max: Duration,
        terminator: Option<char>,
        next: NodeIx,
    },
    Queue(Queue),
    Transfer {
        number: Template,
        prompts: Vec<Template>,
        failed: NodeIx,
    },
    SubFlow {
        flow: String,
        next: NodeIx,
    },
    Return,
    Hangup {
        prompts: Vec<Template>,
    },
}

impl NodeKind {
    pub fn name(&self) -> &'static str {
        match self {
            NodeKind::Play { .. } => "play",
            NodeKind::Menu(_) => "menu",
            NodeKind::Collect(_) => "collect",
            NodeKind::Say { .. } => "say",
            NodeKind::Branch { .. } => "branch",
            NodeKind::Time { .. } => "time",
            NodeKind::Lookup { .. } => "lookup",
            NodeKind::Set { .. } => "set",
            NodeKind::Answer { .. } => "answer",
            NodeKind::Callback { .. } => "callback",
            NodeKind::Language { .. } => "language",
            NodeKind::Message { .. } => "message",
            NodeKind::Queue(_) => "queue",
            NodeKind::Transfer { .. } => "transfer",
            NodeKind::SubFlow { .. } => "subflow",
            NodeKind::Return => "return",
            NodeKind::Hangup { .. } => "hangup",
        }
    }

    /// The node's outgoing edges, each with what the edge means and
    /// whether taking it required the caller to act (a key, an entry, a
    /// recorded message). Edges taken on silence or failure alone are not
    /// input: a loop made only of those could run forever.
    pub fn edges(&self) -> Vec<Edge> {
        let e = |to, label: &'static str, input| Edge { to, label, input };
        match self {
            NodeKind::Play { next, .. }
            | NodeKind::Say { next, .. }
            | NodeKind::Set { next, .. }
            | NodeKind::Answer { next, .. }
            | NodeKind::Callback { next, .. }
            | NodeKind::Language { next, .. }
            | NodeKind::SubFlow { next, .. } => vec![e(*next, "next", false)],
            NodeKind::Message { next, .. } => vec![e(*next, "next", true)],
            NodeKind::Menu(m) => {
                let mut v: Vec<Edge> = m
                    .options
                    .iter()
                    .map(|(_, to)| e(*to, "option", true))
                    .collect();
                v.push(e(m.retry.after_retries, "after_retries", false));
                v
            }
            NodeKind::Collect(c) => vec![
                e(c.next, "next", true),
                e(c.retry.after_retries, "after_retries", false),
            ],
            NodeKind::Branch { cases, default, .. } => {
                let mut v: Vec<Edge> = cases.iter().map(|(_, to)| e(*to, "case", false)).collect();
                v.push(e(*default, "default", false));
                v
            }
            NodeKind::Time { open, closed, .. } => {
                vec![e(*open, "open", false), e(*closed, "closed", false)]
            }
            NodeKind::Lookup {
                found,
                not_found,
                failed,
                ..
            } => vec![
                e(*found, "found", false),
                e(*not_found, "not_found", false),
                e(*failed, "failed", false),
            ],
            NodeKind::Queue(q) => q
                .max_wait
                .iter()
                .map(|(_, to)| e(*to, "after_wait", false))
                .collect(),
            NodeKind::Transfer { failed, .. } => vec![e(*failed, "failed", false)],
            NodeKind::Return | NodeKind::Hangup { .. } => Vec::new(),
        }
    }
}

/// One outgoing edge of a node.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    pub to: NodeIx,
    pub label: &'static str,
    /// Taking it means the caller pressed or said something.
    pub input: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_render_and_list_their_variables() {
        let t = Template::parse("stage-${ticket.stage}").unwrap();
        assert_eq!(t.vars().collect::<Vec<_>>(), ["ticket.stage"]);
        assert_eq!(t.literal(), None);
        let mut vars = BTreeMap::new();
        vars.insert("ticket.stage".to_owned(), "dispatched".to_owned());
        assert_eq!(t.render(&vars), "stage-dispatched");
        assert_eq!(t.to_string(), "stage-${ticket.stage}");
        assert_eq!(
            Template::parse("welcome").unwrap().literal().as_deref(),
            Some("welcome")
        );
        assert!(Template::parse("${oops").unwrap_err().contains("closing"));
        assert!(
            Template::parse("${1x}")
                .unwrap_err()
                .contains("not a variable name")
        );
    }

    #[test]
    fn variable_names() {
        assert!(is_var_name("customer.name"));
        assert!(is_var_name("ticket_number"));
        assert!(!is_var_name("1st"));
        assert!(!is_var_name("a..b"));
        assert!(!is_var_name("a."));
        assert!(!is_var_name(""));
    }

    #[test]
    fn question_names() {
        assert!(is_question_name("score"));
        assert!(is_question_name("on_time"));
        assert!(is_question_name("Q2"));
        assert!(!is_question_name(""));
        assert!(!is_question_name("on-time"));
        assert!(!is_question_name("on time"));
        assert!(!is_question_name("ticket.score"));
        assert!(!is_question_name("满意度"));
        assert!(!is_question_name(&"q".repeat(MAX_QUESTION_LEN + 1)));
    }
}
