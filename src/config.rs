//! Configuration: a TOML file, overridden by command-line flags, validated
//! once at start-up.
//!
//! Invariant: a [`Config`] that [`Config::validate`] accepted is internally
//! consistent (addresses parse, the RTP range holds at least one port pair,
//! every trunk number is digits), so the rest of the server never re-checks
//! it. Every error names the key it is about, so an operator can find it.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::acd;
use crate::ivr::calendar::{BusinessHours, Calendar, WeekHours};
use crate::ivr::pattern::DigitPattern;
use crate::ticket::{KindTargets, ServiceDesk, SlaPolicy, SlaTarget, TicketKind};

/// Why the configuration was refused. Each message names the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML for our schema (unknown key, wrong type).
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A key has a value we cannot use.
    #[error("config key `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub trunk: TrunkConfig,
    pub media: MediaConfig,
    pub sip: SipConfig,
    pub ivr: IvrConfig,
    pub tickets: TicketsConfig,
    /// The ACD's queues (`[[queues]]`); by default the demo flow's four.
    pub queues: Vec<QueueSettings>,
    pub agents: AgentsConfig,
    pub webrtc: WebRtcSettings,
    pub recording: RecordingSettings,
    pub qa: QaSettings,
    pub outbound: OutboundSettings,
    /// Outbound campaigns (`[[campaigns]]`); none by default.
    pub campaigns: Vec<CampaignSettings>,
    pub monitoring: Monitoring,
    pub operations: OperationsSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: Default::default(),
            trunk: Default::default(),
            media: Default::default(),
            sip: Default::default(),
            ivr: Default::default(),
            tickets: Default::default(),
            queues: default_queues(),
            agents: Default::default(),
            webrtc: Default::default(),
            recording: Default::default(),
            qa: Default::default(),
            outbound: Default::default(),
            campaigns: Vec::new(),
            monitoring: Default::default(),
            operations: Default::default(),
        }
    }
}

/// Agents' browser softphones (WebRTC).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebRtcSettings {
    /// Offer agents' pages their browser as a phone.
    pub enabled: bool,
    /// STUN and TURN servers the pages use to reach us from behind NAT.
    pub ice_servers: Vec<crate::cti::IceServer>,
    /// A call whose page audio went away (a reload, a network drop) waits
    /// this long for it, the caller hearing music, before it counts as a
    /// vanished phone (`agents.vanished_phone`).
    pub reattach_secs: u64,
}

/// Call recording (`[recording]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingSettings {
    /// `all` (every answered call, from the answer), `none`, or `queues`:
    /// only calls that reached one of `queues` are kept (each call is
    /// recorded from the answer, as nobody knows yet where it will go;
    /// the others' files are deleted when they end).
    pub calls: String,
    pub queues: Vec<String>,
    /// Recordings older than this many days are deleted (not those on
    /// legal hold); 0 keeps them for ever.
    pub keep_days: u32,
    /// Per queue, instead of `keep_days` (a call counts under the last
    /// queue it joined; calls that reached none under `keep_days`).
    pub keep_days_by_queue: std::collections::BTreeMap<String, u32>,
    /// Agents may listen to their own calls' recordings.
    pub agents_listen: bool,
}

impl Default for RecordingSettings {
    fn default() -> Self {
        RecordingSettings {
            calls: "all".into(),
            queues: Vec::new(),
            keep_days: 365,
            keep_days_by_queue: Default::default(),
            agents_listen: true,
        }
    }
}

/// What every outbound call must respect (`[outbound]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundSettings {
    /// Outbound calls the trunk carries at once, all campaigns together.
    pub lines: u32,
    /// No campaign calls outside these local hours, whatever its own say.
    pub legal_hours: String,
    /// Attempts one number may get in a day, across all campaigns.
    pub daily_cap: u32,
    /// Where outbound INVITEs go: the carrier's SIP proxy, `host:port`
    /// (an IP address). Required when a campaign dials.
    pub proxy: String,
    /// The carrier's domain in the Request-URI and To; the proxy's address
    /// by default.
    pub domain: String,
    /// The trunk account, for the carrier's digest challenge; the password
    /// may come from `HOTLINE_OUTBOUND_PASSWORD` instead of the file.
    pub username: String,
    pub password: String,
    /// A call not answered within this is hung up (no answer).
    pub ring_secs: u64,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        OutboundSettings {
            lines: 30,
            legal_hours: "08:00-21:00".into(),
            daily_cap: 3,
            proxy: String::new(),
            domain: String::new(),
            username: String::new(),
            password: String::new(),
            ring_secs: 30,
        }
    }
}

/// How outbound calls reach the carrier, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundTrunk {
    pub proxy: SocketAddr,
    pub domain: String,
    /// `(username, password)` for the carrier's challenge.
    pub account: Option<(String, String)>,
    pub ring: Duration,
}

/// The outbound limits, the trunk and the daily cap, checked.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub limits: crate::campaign::Limits,
    pub daily_cap: u32,
    /// `None`: no proxy configured (then no campaign may dial).
    pub trunk: Option<OutboundTrunk>,
}

impl OutboundSettings {
    fn trunk(&self) -> Result<Option<OutboundTrunk>, ConfigError> {
        if self.proxy.is_empty() {
            return Ok(None);
        }
        let proxy: SocketAddr = self.proxy.parse().map_err(|_| {
            invalid(
                "outbound.proxy",
                format!(
                    "`{}`: an IP address and port such as 192.0.2.10:5060",
                    self.proxy
                ),
            )
        })?;
        if !(5..=120).contains(&self.ring_secs) {
            return Err(invalid("outbound.ring_secs", "must be 5 to 120"));
        }
        let password = std::env::var("HOTLINE_OUTBOUND_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| self.password.clone());
        let account = match (self.username.is_empty(), password.is_empty()) {
            (true, true) => None,
            (false, false) => Some((self.username.clone(), password)),
            _ => {
                return Err(invalid(
                    "outbound.username",
                    "username and password go together",
                ));
            }
        };
        let domain = if self.domain.is_empty() {
            proxy.ip().to_string()
        } else if self
            .domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        {
            self.domain.clone()
        } else {
            return Err(invalid("outbound.domain", "a host name or address"));
        };
        Ok(Some(OutboundTrunk {
            proxy,
            domain,
            account,
            ring: Duration::from_secs(self.ring_secs),
        }))
    }
}

/// One outbound campaign (`[[campaigns]]`), as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSettings {
    pub name: String,
    /// `survey`, `preview`, `progressive` or `callbacks`.
    pub kind: String,
    /// survey: the flow the answered call runs.
    #[serde(default)]
    pub flow: String,
    /// preview, progressive, callbacks: the queue whose agents call.
    #[serde(default)]
    pub queue: String,
    #[serde(default)]
    pub caller_id: String,
    #[serde(default = "default_campaign_zone")]
    pub time_zone: String,
    /// Weekly calling hours, e.g. `{ mon-fri = "09:00-20:00" }`.
    pub hours: std::collections::BTreeMap<String, String>,
    /// A holiday calendar file (the IVR's format); none by default.
    #[serde(default)]
    pub holidays: PathBuf,
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default)]
    pub retry_secs: RetrySecs,
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Keypad patterns of the numbers it may dial.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Survey campaigns: follow up every completed ticket, due this many
    /// hours after its completion.
    #[serde(default)]
    pub enroll_completed_after_hours: Option<u64>,
    /// Survey campaigns: the campaign (callbacks, preview or progressive)
    /// a dissatisfied customer is put in for an agent's call back.
    #[serde(default)]
    pub complaint_callbacks: String,
}

fn default_campaign_zone() -> String {
    "Asia/Shanghai".into()
}
fn default_attempts() -> u32 {
    3
}
fn default_concurrency() -> u32 {
    5
}

/// Seconds before the next attempt, per outcome.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySecs {
    pub busy: u64,
    pub no_answer: u64,
    pub rejected: u64,
    pub failed: u64,
    pub network_error: u64,
}

impl Default for RetrySecs {
    fn default() -> Self {
        RetrySecs {
            busy: 600,
            no_answer: 3600,
            rejected: 86_400,
            failed: 7200,
            network_error: 300,
        }
    }
}

impl CampaignSettings {
    /// The campaign's rules, or the key that is wrong and why.
    fn check(
        &self,
        i: usize,
        limits: &crate::campaign::Limits,
        queues: &[acd::QueueConfig],
    ) -> Result<crate::campaign::Rules, ConfigError> {
        use crate::campaign::{CampaignSpec, Mode, RetryDelays};
        let at = |key: &str| format!("campaigns[{i}].{key}");
        let needs = |field: &str, value: &str| {
            if value.is_empty() {
                Err(invalid(
                    at(field),
                    format!("a {} campaign needs one", self.kind),
                ))
            } else {
                Ok(value.to_owned())
            }
        };
        let queue = || {
            let q = needs("queue", &self.queue)?;
            if queues.iter().any(|c| c.name == q) {
                Ok(q)
            } else {
                Err(invalid(
                    at("queue"),
                    format!("`{q}` is not a configured queue"),
                ))
            }
        };
        let mode = match self.kind.as_str() {
            "survey" => Mode::Survey {
                flow: needs("flow", &self.flow)?,
            },
            "preview" => Mode::Preview { queue: queue()? },
            "progressive" => Mode::Progressive { queue: queue()? },
            "callbacks" => Mode::Callbacks { queue: queue()? },
            other => {
                return Err(invalid(
                    at("kind"),
                    format!("`{other}`: must be survey, preview, progressive or callbacks"),
                ));
            }
        };
        let holidays = if self.holidays.as_os_str().is_empty() {
            None
        } else {
            let path = &self.holidays;
            let text = std::fs::read_to_string(path).map_err(|e| {
                invalid(
                    at("holidays"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            Some(
                Calendar::parse(&path.display().to_string(), &text)
                    .map_err(|e| invalid(at("holidays"), e.to_string()))?,
            )
        };
        let hours: Vec<(&str, &str)> = self
            .hours
            .iter()
            .map(|(d, h)| (d.as_str(), h.as_str()))
            .collect();
        let allow: Vec<&str> = self.allow.iter().map(String::as_str).collect();
        let secs = Duration::from_secs;
        let r = &self.retry_secs;
        CampaignSpec {
            name: &self.name,
            mode,
            caller_id: &self.caller_id,
            time_zone: &self.time_zone,
            hours: &hours,
            holidays,
            max_attempts: self.max_attempts,
            retry: RetryDelays {
                busy: secs(r.busy),
                no_answer: secs(r.no_answer),
                rejected: secs(r.rejected),
                failed: secs(r.failed),
                network_error: secs(r.network_error),
            },
            concurrency: self.concurrency,
            allow: &allow,
            enroll_completed_after: self
                .enroll_completed_after_hours
                .map(|h| Duration::from_secs(h * 3600)),
        }
        .check(limits)
        .map_err(|e| {
            let key = if e.key.starts_with("retry.") {
                e.key.replacen("retry.", "retry_secs.", 1)
            } else if e.key == "enroll_completed_after" {
                "enroll_completed_after_hours".to_owned()
            } else {
                e.key.clone()
            };
            invalid(at(&key), e.problem)
        })
    }
}

/// The outbound limits and every campaign, checked; names unique.
fn campaigns(
    outbound: &OutboundSettings,
    list: &[CampaignSettings],
    queues: &[acd::QueueConfig],
) -> Result<(crate::campaign::Limits, Vec<crate::campaign::Rules>), ConfigError> {
    let span = WeekHours::new(&[("mon", outbound.legal_hours.as_str())])
        .ok()
        .and_then(|w| {
            let spans = w.spans(jiff::civil::Weekday::Monday);
            (spans.len() == 1).then(|| spans[0])
        })
        .ok_or_else(|| invalid("outbound.legal_hours", "one span such as 08:00-21:00"))?;
    if outbound.lines == 0 {
        return Err(invalid("outbound.lines", "must be at least 1"));
    }
    if !(1..=20).contains(&outbound.daily_cap) {
        return Err(invalid("outbound.daily_cap", "must be 1 to 20"));
    }
    let limits = crate::campaign::Limits {
        legal_hours: span,
        trunk_lines: outbound.lines,
    };
    let mut rules = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let name_ok = !c.name.is_empty()
            && c.name.len() <= 40
            && c.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(invalid(
                format!("campaigns[{i}].name"),
                "a-z, 0-9, - and _, 1 to 40",
            ));
        }
        if list[..i].iter().any(|o| o.name == c.name) {
            return Err(invalid(
                format!("campaigns[{i}].name"),
                format!("`{}` is used twice", c.name),
            ));
        }
        rules.push(c.check(i, &limits, queues)?);
    }
    for (i, c) in list.iter().enumerate() {
        if c.complaint_callbacks.is_empty() {
            continue;
        }
        let key = format!("campaigns[{i}].complaint_callbacks");
        if c.kind != "survey" {
            return Err(invalid(
                key,
                "only a survey campaign has complaints to call back",
            ));
        }
        match list.iter().find(|o| o.name == c.complaint_callbacks) {
            Some(o) if o.kind != "survey" => {
                rules[i].complaint_callbacks = Some(o.name.clone());
            }
            Some(_) => {
                return Err(invalid(
                    key,
                    "a survey campaign cannot call complaints back",
                ));
            }
            None => {
                return Err(invalid(
                    key,
                    format!("no campaign is named `{}`", c.complaint_callbacks),
                ));
            }
        }
    }
    Ok((limits, rules))
}

/// Quality assurance (`[qa]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QaSettings {
    /// The scorecards' folder: one `*.toml` per scorecard (see `crate::qa`).
    pub scorecards_dir: PathBuf,
    /// Calls per agent offered for review each day.
    pub sample_per_agent: u32,
}

impl Default for QaSettings {
    fn default() -> Self {
        QaSettings {
            scorecards_dir: PathBuf::from("scorecards"),
            sample_per_agent: 2,
        }
    }
}

/// What supervisors watch for and managers are judged by (`[monitoring]`):
/// the wallboard's figures and alerts and the reports share these.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Monitoring {
    /// A call answered within this many seconds of joining its queue
    /// counts towards the service level.
    pub service_level_secs: u32,
    /// The service level (percent) the desk promises; below it the
    /// wallboard raises an alert.
    pub service_level_target: u32,
    /// First-call resolution: a call is resolved first time when the same
    /// customer does not call again within this many days.
    pub fcr_days: u32,
    /// Alert when a caller has waited longer than this many seconds.
    pub alert_wait_secs: u32,
    /// Alert when an agent has been not ready longer than this many minutes.
    pub alert_not_ready_mins: u32,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            service_level_secs: 20,
            service_level_target: 80,
            fcr_days: 7,
            alert_wait_secs: 60,
            alert_not_ready_mins: 15,
        }
    }
}

impl Monitoring {
    fn check(&self) -> Result<Monitoring, ConfigError> {
        let m = self;
        if !(1..=3600).contains(&m.service_level_secs) {
            return Err(invalid(
                "monitoring.service_level_secs",
                "must be 1 to 3600",
            ));
        }
        if !(1..=100).contains(&m.service_level_target) {
            return Err(invalid(
                "monitoring.service_level_target",
                "must be 1 to 100 (percent)",
            ));
        }
        if !(1..=90).contains(&m.fcr_days) {
            return Err(invalid("monitoring.fcr_days", "must be 1 to 90"));
        }
        if !(1..=86_400).contains(&m.alert_wait_secs) {
            return Err(invalid("monitoring.alert_wait_secs", "must be 1 to 86400"));
        }
        if !(1..=1440).contains(&m.alert_not_ready_mins) {
            return Err(invalid(
                "monitoring.alert_not_ready_mins",
                "must be 1 to 1440",
            ));
        }
        Ok(m.clone())
    }
}

/// What operations watch (`[operations]`, docs/operations.md): who may
/// read `/metrics`, the trunk's OPTIONS keepalive, when a disk counts as
/// nearly full.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperationsSettings {
    /// The bearer token `GET /metrics` asks for; empty: open, like
    /// `/api/health`. `HOTLINE_METRICS_TOKEN` may give it instead.
    pub metrics_token: String,
    /// Seconds between SIP OPTIONS to `outbound.proxy` (when one is
    /// configured); 0: none.
    pub trunk_options_secs: u64,
    /// A disk the server writes to with less free than this share of its
    /// size, or than `disk_min_free_mib`, is nearly full.
    pub disk_min_free_percent: u32,
    pub disk_min_free_mib: u64,
}

impl Default for OperationsSettings {
    fn default() -> Self {
        OperationsSettings {
            metrics_token: String::new(),
            trunk_options_secs: 30,
            disk_min_free_percent: 5,
            disk_min_free_mib: 1024,
        }
    }
}

/// `[operations]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operations {
    /// `None`: `/metrics` is open.
    pub metrics_token: Option<String>,
    /// `None`: no keepalive.
    pub trunk_options: Option<Duration>,
    pub disk_min_free_percent: u32,
    pub disk_min_free_bytes: u64,
}

impl OperationsSettings {
    fn check(&self) -> Result<Operations, ConfigError> {
        let token = std::env::var("HOTLINE_METRICS_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| self.metrics_token.clone());
        // It travels in an Authorization header: visible ASCII only, and
        // long enough not to be guessed.
        let usable =
            (16..=256).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic());
        if !token.is_empty() && !usable {
            return Err(invalid(
                "operations.metrics_token",
                "16 to 256 visible ASCII characters (no spaces)",
            ));
        }
        if self.trunk_options_secs > 3600 {
            return Err(invalid(
                "operations.trunk_options_secs",
                "must be 0 (none) to 3600",
            ));
        }
        if self.disk_min_free_percent > 99 {
            return Err(invalid(
                "operations.disk_min_free_percent",
                "must be 0 to 99",
            ));
        }
        if self.disk_min_free_mib > 1 << 30 {
            return Err(invalid(
                "operations.disk_min_free_mib",
                "must be at most 1073741824",
            ));
        }
        Ok(Operations {
            metrics_token: (!token.is_empty()).then_some(token),
            trunk_options: (self.trunk_options_secs > 0)
                .then(|| Duration::from_secs(self.trunk_options_secs)),
            disk_min_free_percent: self.disk_min_free_percent,
            disk_min_free_bytes: self.disk_min_free_mib << 20,
        })
    }
}

/// Which calls are recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordCalls {
    All,
    None,
    /// Calls that reached one of these queues.
    Queues(Vec<String>),
}

/// The recording settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingPolicy {
    pub calls: RecordCalls,
    pub keep_days: u32,
    pub keep_days_by_queue: std::collections::BTreeMap<String, u32>,
    pub agents_listen: bool,
}

impl Default for RecordingPolicy {
    fn default() -> Self {
        RecordingSettings::default()
            .check(&[])
            .expect("the default recording settings are valid")
    }
}

impl RecordingSettings {
    fn check(&self, queues: &[acd::QueueConfig]) -> Result<RecordingPolicy, ConfigError> {
        let known = |key: String, name: &str| {
            if queues.iter().any(|q| q.name == name) {
                Ok(())
            } else {
                Err(invalid(key, format!("`{name}` is not a configured queue")))
            }
        };
        let calls = match self.calls.as_str() {
            "all" => RecordCalls::All,
            "none" => RecordCalls::None,
            "queues" if self.queues.is_empty() => {
                return Err(invalid(
                    "recording.queues",
                    "calls = \"queues\" needs at least one queue",
                ));
            }
            "queues" => {
                for (i, q) in self.queues.iter().enumerate() {
                    known(format!("recording.queues[{i}]"), q)?;
                }
                RecordCalls::Queues(self.queues.clone())
            }
            other => {
                return Err(invalid(
                    "recording.calls",
                    format!("`{other}`: must be \"all\", \"none\" or \"queues\""),
                ));
            }
        };
        if !matches!(calls, RecordCalls::Queues(_)) && !self.queues.is_empty() {
            return Err(invalid(
                "recording.queues",
                "only used with calls = \"queues\"",
            ));
        }
        for name in self.keep_days_by_queue.keys() {
            known(format!("recording.keep_days_by_queue.{name}"), name)?;
        }
        Ok(RecordingPolicy {
            calls,
            keep_days: self.keep_days,
            keep_days_by_queue: self.keep_days_by_queue.clone(),
            agents_listen: self.agents_listen,
        })
    }
}

impl Default for WebRtcSettings {
    fn default() -> Self {
        WebRtcSettings {
            enabled: true,
            ice_servers: Vec::new(),
            reattach_secs: 60,
        }
    }
}
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    /// What the IVR's queue nodes name: a-z, 0-9, `_` and `-`.
    pub name: String,
    /// `longest_idle`, `round_robin`, `ring_all`, `fewest_calls` or
    /// `skills_based`.
    pub strategy: String,
    /// How long one offer rings before it goes to the next agent.
    pub ring_timeout_secs: u64,
    /// Longest wait in this queue; 0: no limit (the IVR's own `max_wait`
    /// still applies).
    pub max_wait_secs: u64,
    /// After the maximum wait: `message`, `callback`, `hangup`, or
    /// `queue:NAME` (another queue).
    pub overflow: String,
    /// After-call work before the agent is offered the next call.
    pub wrap_up_secs: u64,
    /// Offers missed in a row before the agent is set not ready.
    pub max_missed: u32,
    /// Skill levels (1-10) every call of the queue needs.
    pub skills: std::collections::BTreeMap<String, u8>,
    /// Lower the needed levels by `lower_by` once a call waited
    /// `after_secs`: `[{ after_secs = 60, lower_by = 2 }]`.
    pub relax: Vec<RelaxSettings>,
    /// How often a waiting caller hears their place in line and the
    /// expected wait; 0: never.
    pub announce_every_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaxSettings {
    pub after_secs: u64,
    pub lower_by: u8,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            name: String::new(),
            strategy: "longest_idle".into(),
            ring_timeout_secs: 20,
            max_wait_secs: 0,
            overflow: "message".into(),
            wrap_up_secs: 30,
            max_missed: 3,
            skills: Default::default(),
            relax: Vec::new(),
            announce_every_secs: 60,
        }
    }
}

/// Not-ready reasons the server sets itself: an agent may not give them.
const RESERVED_REASONS: &[&str] = &["missed", "login", "disconnected", "no_phone"];

/// Agents: the reasons they may give for not being ready.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentsConfig {
    pub not_ready_reasons: Vec<String>,
    /// The realm agents' phones authenticate in (SIP digest). Passwords
    /// set under one realm do not work under another.
    pub sip_realm: String,
    /// Queue priority (0-99; the IVR's queue nodes use 0-9) of a caller
    /// whose customer is a VIP, and of one with an open complaint: they
    /// are served ahead of callers of a lower priority.
    pub vip_priority: u8,
    pub complaint_priority: u8,
    /// When an agent's phone vanishes mid-call (no BYE, no RTP):
    /// `requeue` puts the caller back at the front of the queue,
    /// `message` sends them on to their queue node's way out (usually
    /// leaving a message).
    pub vanished_phone: String,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            not_ready_reasons: ["break", "meal", "training", "meeting", "callback"]
                .map(String::from)
                .to_vec(),
            sip_realm: "hotline".into(),
            vip_priority: 8,
            complaint_priority: 9,
            vanished_phone: "requeue".into(),
        }
    }
}

impl AgentsConfig {
    /// The reason codes, checked: short words, each once, and not
    /// `missed` (the ACD's own, for agents who let offers ring out).
    fn reasons(&self) -> Result<Vec<String>, ConfigError> {
        for (i, r) in self.not_ready_reasons.iter().enumerate() {
            let key = format!("agents.not_ready_reasons[{i}]");
            let word = (1..=20).contains(&r.len())
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-');
            if !word {
                return Err(invalid(key, "must be 1 to 20 of a-z, '_' and '-'"));
            }
            if RESERVED_REASONS.contains(&r.as_str()) || self.not_ready_reasons[..i].contains(r) {
                return Err(invalid(key, format!("`{r}` is reserved or used twice")));
            }
        }
        Ok(self.not_ready_reasons.clone())
    }
}

/// The queues the demo flow (ivr-flows/hotline.toml) sends callers to.
fn default_queues() -> Vec<QueueSettings> {
    ["repair", "installation", "complaint", "general"]
        .into_iter()
        .map(|name| QueueSettings {
            name: name.into(),
            ..QueueSettings::default()
        })
        .collect()
}

/// The ACD queues `settings` describe, or the first key that is wrong.
fn acd_queues(settings: &[QueueSettings]) -> Result<Vec<acd::QueueConfig>, ConfigError> {
    let names: Vec<&str> = settings.iter().map(|q| q.name.as_str()).collect();
    let mut queues = Vec::with_capacity(settings.len());
    for (i, q) in settings.iter().enumerate() {
        let key = |field: &str| format!("queues[{i}].{field}");
        let name_ok = !q.name.is_empty()
            && q.name.len() <= 40
            && q.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(invalid(
                key("name"),
                "must be 1 to 40 of a-z, 0-9, '_' and '-'",
            ));
        }
        if names[..i].contains(&q.name.as_str()) {
            return Err(invalid(key("name"), format!("`{}` is used twice", q.name)));
        }
        let strategy = match q.strategy.as_str() {
            "longest_idle" => acd::Strategy::LongestIdle,
            "round_robin" => acd::Strategy::RoundRobin,
            "ring_all" => acd::Strategy::RingAll,
            "fewest_calls" => acd::Strategy::FewestCalls,
            "skills_based" => acd::Strategy::SkillsBased,
            other => {
                return Err(invalid(
                    key("strategy"),
                    format!(
                        "`{other}` is not longest_idle, round_robin, ring_all, fewest_calls or skills_based"
                    ),
                ));
            }
        };
        if !(5..=300).contains(&q.ring_timeout_secs) {
            return Err(invalid(key("ring_timeout_secs"), "must be 5 to 300"));
        }
        if q.max_wait_secs > 24 * 3600 {
            return Err(invalid(key("max_wait_secs"), "must be at most a day"));
        }
        if q.wrap_up_secs > 3600 {
            return Err(invalid(key("wrap_up_secs"), "must be at most an hour"));
        }
        if q.max_missed == 0 {
            return Err(invalid(key("max_missed"), "must be at least 1"));
        }
        if q.announce_every_secs != 0 && !(15..=3600).contains(&q.announce_every_secs) {
            return Err(invalid(
                key("announce_every_secs"),
                "must be 0 (never) or 15 to 3600",
            ));
        }
        let overflow = match q.overflow.as_str() {
            "message" => acd::Overflow::Message,
            "callback" => acd::Overflow::Callback,
            "hangup" => acd::Overflow::Hangup,
            other => match other.strip_prefix("queue:") {
                Some(next) if next != q.name && names.contains(&next) => {
                    acd::Overflow::Queue(next.to_owned())
                }
                _ => {
                    return Err(invalid(
                        key("overflow"),
                        format!(
                            "`{other}` is not message, callback, hangup or queue:NAME of another configured queue"
                        ),
                    ));
                }
            },
        };
        if let Some((skill, level)) = q.skills.iter().find(|(_, l)| !(1..=10).contains(*l)) {
            return Err(invalid(
                format!("{}.{skill}", key("skills")),
                format!("level {level} is not 1 to 10"),
            ));
        }
        let mut cfg = acd::QueueConfig::new(&q.name);
        cfg.strategy = strategy;
        cfg.ring_timeout_ms = q.ring_timeout_secs as i64 * 1000;
        cfg.max_wait_ms = (q.max_wait_secs > 0).then_some(q.max_wait_secs as i64 * 1000);
        cfg.overflow = overflow;
        cfg.wrap_up_ms = q.wrap_up_secs as i64 * 1000;
        cfg.max_missed = q.max_missed;
        cfg.skills = q.skills.clone();
        cfg.announce_every_ms =
            (q.announce_every_secs > 0).then_some(q.announce_every_secs as i64 * 1000);
        cfg.relax = q
            .relax
            .iter()
            .map(|r| acd::Relax {
                after_ms: r.after_secs as i64 * 1000,
                lower_by: r.lower_by,
            })
            .collect();
        queues.push(cfg);
    }
    Ok(queues)
}

/// Service tickets: SLA targets and complaint routing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TicketsConfig {
    /// IANA time zone of the hotline: ticket numbers carry its date.
    pub time_zone: String,
    /// Hours from acceptance to dispatch.
    pub dispatch_hours: u64,
    /// Hours from dispatch to completion at a city, county, town outlet.
    pub complete_hours: [u64; 3],
    /// Hours from completion to the follow-up call.
    pub follow_up_hours: u64,
    /// Per ticket kind (`repair`, `installation`, `consultation`,
    /// `complaint`), targets that differ from the ones above, and
    /// `close_hours`: from acceptance (or reopening) to closed, which only
    /// complaints have by default (72).
    pub kinds: std::collections::BTreeMap<String, KindSla>,
    /// Lowest follow-up score (1-5) that counts as satisfied.
    pub satisfied_from: u8,
    /// Complaint category → the team that owns it.
    pub complaint_teams: std::collections::BTreeMap<String, String>,
    /// The team of a complaint whose category is not listed.
    pub default_complaint_team: String,
    /// `wall` (the default: the service runs every day) or `business`:
    /// every SLA target counts only the open time of `business_hours`.
    pub sla_clock: String,
    /// Weekly hours for `sla_clock = "business"`, as in a flow file:
    /// `{ "mon-fri" = "09:00-18:00", "sat" = "09:00-12:00" }`.
    pub business_hours: std::collections::BTreeMap<String, String>,
    /// A holiday calendar file (as under ivr-flows/calendars/) for
    /// `sla_clock = "business"`; empty for none.
    pub holiday_calendar: PathBuf,
}

impl Default for TicketsConfig {
    fn default() -> Self {
        let desk = ServiceDesk::default();
        TicketsConfig {
            time_zone: "Asia/Shanghai".into(),
            dispatch_hours: 2,
            complete_hours: [24, 48, 72],
            follow_up_hours: 24,
            kinds: Default::default(),
            satisfied_from: 3,
            complaint_teams: desk.complaint_teams,
            default_complaint_team: desk.default_team,
            sla_clock: "wall".into(),
            business_hours: Default::default(),
            holiday_calendar: PathBuf::new(),
        }
    }
}

/// One ticket kind's SLA targets where they differ from the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindSla {
    pub dispatch_hours: Option<u64>,
    pub complete_hours: Option<[u64; 3]>,
    pub follow_up_hours: Option<u64>,
    pub close_hours: Option<u64>,
}

/// Complaints are closed within 72 hours unless configured otherwise.
const COMPLAINT_CLOSE_HOURS: u64 = 72;

impl TicketsConfig {
    /// The open hours SLA targets count in, with the holiday calendar
    /// read from its file.
    fn business_hours(&self) -> Result<BusinessHours, ConfigError> {
        if self.business_hours.is_empty() {
            return Err(invalid(
                "tickets.business_hours",
                "sla_clock = \"business\" needs the weekly hours",
            ));
        }
        let calendar = if self.holiday_calendar.as_os_str().is_empty() {
            None
        } else {
            let path = &self.holiday_calendar;
            let text = std::fs::read_to_string(path).map_err(|e| {
                invalid(
                    "tickets.holiday_calendar",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            Some(
                Calendar::parse(&path.display().to_string(), &text)
                    .map_err(|e| invalid("tickets.holiday_calendar", e.to_string()))?,
            )
        };
        let week: Vec<(&str, &str)> = self
            .business_hours
            .iter()
            .map(|(d, h)| (d.as_str(), h.as_str()))
            .collect();
        BusinessHours::new(&self.time_zone, &week, calendar)
            .map_err(|e| invalid("tickets.business_hours", e.to_string()))
    }

    /// The desk these settings describe, or the key that is wrong.
    fn desk(&self) -> Result<ServiceDesk, ConfigError> {
        let time_zone = jiff::tz::TimeZone::get(&self.time_zone).map_err(|_| {
            invalid(
                "tickets.time_zone",
                format!("`{}` is not an IANA time zone", self.time_zone),
            )
        })?;
        if !(1..=5).contains(&self.satisfied_from) {
            return Err(invalid("tickets.satisfied_from", "must be 1 to 5"));
        }
        let business = match self.sla_clock.as_str() {
            "wall" => false,
            "business" => true,
            _ => {
                return Err(invalid(
                    "tickets.sla_clock",
                    "must be \"wall\" or \"business\"",
                ));
            }
        };
        let business_hours = if business {
            Some(self.business_hours()?)
        } else {
            None
        };
        let target = |key: &str, hours: u64| {
            if (1..=24 * 365).contains(&hours) {
                Ok(Some(if business {
                    SlaTarget::business_hours(hours)
                } else {
                    SlaTarget::hours(hours)
                }))
            } else {
                Err(invalid(format!("tickets.{key}"), "must be 1 to 8760 hours"))
            }
        };
        if let Some(key) = self.kinds.keys().find(|k| TicketKind::parse(k).is_none()) {
            return Err(invalid(
                format!("tickets.kinds.{key}"),
                "is not a ticket kind: repair, installation, consultation or complaint",
            ));
        }
        let targets = |kind: TicketKind| -> Result<KindTargets, ConfigError> {
            let name = kind.as_str();
            let own = self.kinds.get(name).cloned().unwrap_or_default();
            // Named by where the value came from, so an error points at it.
            let key = |field: &str, overridden: bool| {
                if overridden {
                    format!("kinds.{name}.{field}")
                } else {
                    field.to_owned()
                }
            };
            let complete = own.complete_hours.unwrap_or(self.complete_hours);
            let complete_key = key("complete_hours", own.complete_hours.is_some());
            let close = match (own.close_hours, kind) {
                (Some(hours), _) => Some(hours),
                (None, TicketKind::Complaint) => Some(COMPLAINT_CLOSE_HOURS),
                (None, _) => None,
            };
            Ok(KindTargets {
                dispatch: target(
                    &key("dispatch_hours", own.dispatch_hours.is_some()),
                    own.dispatch_hours.unwrap_or(self.dispatch_hours),
                )?,
                complete: [
                    target(&complete_key, complete[0])?,
                    target(&complete_key, complete[1])?,
                    target(&complete_key, complete[2])?,
                ],
                follow_up: target(
                    &key("follow_up_hours", own.follow_up_hours.is_some()),
                    own.follow_up_hours.unwrap_or(self.follow_up_hours),
                )?,
                close: match close {
                    Some(hours) => target(&format!("kinds.{name}.close_hours"), hours)?,
                    None => None,
                },
            })
        };
        if self.default_complaint_team.trim().is_empty() {
            return Err(invalid(
                "tickets.default_complaint_team",
                "must not be empty",
            ));
        }
        Ok(ServiceDesk {
            sla: SlaPolicy {
                repair: targets(TicketKind::Repair)?,
                installation: targets(TicketKind::Installation)?,
                consultation: targets(TicketKind::Consultation)?,
                complaint: targets(TicketKind::Complaint)?,
                satisfied_from: self.satisfied_from,
                business_hours,
            },
            time_zone,
            complaint_teams: self
                .complaint_teams
                .iter()
                .map(|(c, t)| (c.trim().to_owned(), t.clone()))
                .collect(),
            default_team: self.default_complaint_team.clone(),
        })
    }
}

/// Listening addresses and where data lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// SIP listens here on both UDP and TCP.
    pub sip: String,
    /// The HTTP API and web pages.
    pub http: String,
    /// The same over HTTPS, for agents on other machines (browsers give a
    /// page the microphone only on a secure origin); empty: no HTTPS.
    pub https: String,
    /// PEM certificate chain and private key for HTTPS. Both empty: a
    /// self-signed certificate made on the first start and kept under
    /// `<data_dir>/tls/`.
    pub tls_cert: String,
    pub tls_key: String,
    /// Database file, recordings and other data go here.
    pub data_dir: PathBuf,
    /// Database URL; empty means the embedded SQLite file
    /// `<data_dir>/hotline.db`. `postgres://...` selects PostgreSQL.
    pub database: String,
    /// The address we write into Via, Contact and SDP. Empty means the SIP
    /// listen address, or 127.0.0.1 when that is a wildcard.
    pub advertised_ip: String,
    /// Calls in progress at shutdown get this long to finish before they are
    /// hung up.
    pub shutdown_grace_secs: u64,
    /// Put demo customers, outlets and tickets into an empty database, so
    /// the demo flow has someone to find. Defaults to on without a
    /// configuration file (a newcomer's first run) and off with one.
    pub demo_data: Option<bool>,
}

/// The carrier's SIP trunk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrunkConfig {
    /// The service numbers (400 numbers) we answer.
    pub numbers: Vec<String>,
    /// Sources (IP or CIDR) allowed to send us calls; anything else gets 403.
    pub allowed_sources: Vec<String>,
}

/// RTP settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Port range for RTP, `LOW-HIGH` inclusive; we use the even ports.
    pub rtp_ports: String,
    /// Hang up when no RTP has arrived for this long.
    pub rtp_timeout_secs: u64,
    /// Codecs we accept, in our order of preference when we make the offer.
    pub codecs: Vec<String>,
    /// The RTP payload type we offer for telephone-event.
    pub telephone_event_pt: u8,
}

/// SIP timers (RFC 3261 §17, Table 4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    pub t1_ms: u64,
    pub t2_ms: u64,
    pub t4_ms: u64,
    /// Largest SIP message we accept, in bytes.
    pub max_message_bytes: usize,
}

/// The IVR: where its flows live and what they may do.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IvrConfig {
    /// Flow files (`*.toml`), with `prompts/<language>/*.wav` and
    /// `calendars/*.toml` below it.
    pub flows_dir: PathBuf,
    /// The flow every call starts in (a file stem in `flows_dir`).
    pub main_flow: String,
    /// The prompt language a call starts in (a flow may switch it).
    pub language: String,
    /// Keypad patterns (`_0571XXXXXXXX`, `4008009999`) a transfer node may
    /// dial; empty means no transfers at all.
    pub transfer_allow: Vec<String>,
    /// Watch `flows_dir` and put edited flows live for new calls.
    pub reload: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            sip: "0.0.0.0:5060".into(),
            http: "127.0.0.1:8080".into(),
            https: "0.0.0.0:8443".into(),
            tls_cert: String::new(),
            tls_key: String::new(),
            data_dir: PathBuf::from("data"),
            database: String::new(),
            advertised_ip: String::new(),
            shutdown_grace_secs: 10,
            demo_data: None,
        }
    }
}

impl Default for TrunkConfig {
    fn default() -> Self {
        TrunkConfig {
            numbers: vec!["4008001234".into()],
            allowed_sources: vec!["127.0.0.0/8".into(), "::1".into()],
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            rtp_ports: "20000-29999".into(),
            rtp_timeout_secs: 30,
            codecs: vec!["PCMU".into(), "PCMA".into()],
            telephone_event_pt: 101,
        }
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            max_message_bytes: 65_535,
        }
    }
}

impl Default for IvrConfig {
    fn default() -> Self {
        IvrConfig {
            flows_dir: PathBuf::from("ivr-flows"),
            main_flow: "hotline".into(),
            language: "zh".into(),
            transfer_allow: Vec::new(),
            reload: true,
        }
    }
}

/// An IP network, `addr/prefix`; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (
                a.trim().parse::<IpAddr>().ok()?,
                Some(p.trim().parse().ok()?),
            ),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The configuration after validation, in the types the server uses.
#[derive(Debug, Clone)]
pub struct Settings {
    pub sip_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// `None`: no HTTPS.
    pub https_addr: Option<SocketAddr>,
    /// The configured certificate and key; `None`: self-signed.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub advertised_ip: IpAddr,
    pub shutdown_grace: Duration,
    pub numbers: Vec<String>,
    pub allowed_sources: Vec<Cidr>,
    pub rtp_ports: (u16, u16),
    pub rtp_timeout: Duration,
    /// Accepted codec names, upper case, in preference order.
    pub codecs: Vec<String>,
    pub telephone_event_pt: u8,
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
    pub max_message_bytes: usize,
    pub flows_dir: PathBuf,
    pub main_flow: String,
    pub language: String,
    pub transfer_allow: Vec<DigitPattern>,
    pub reload_flows: bool,
    pub demo_data: bool,
    /// How tickets are handled: SLA targets, complaint teams, time zone.
    pub desk: ServiceDesk,
    /// The ACD's queues, checked.
    pub queues: Vec<acd::QueueConfig>,
    /// Reason codes an agent may give for not being ready.
    pub not_ready_reasons: Vec<String>,
    /// The SIP digest realm of agents' phones.
    pub sip_realm: String,
    /// Caller priorities and the vanished-phone rule.
    pub acd_rules: acd::Rules,
    /// The file and flags these settings came from, to read them again on
    /// SIGHUP (`None`: the built-in defaults, nothing to reload).
    pub reload_from: Option<(PathBuf, Overrides)>,
    /// Browser softphones: their STUN/TURN servers and how long a call
    /// waits for a page's audio; `None`: off.
    pub webrtc: Option<(Vec<crate::cti::IceServer>, Duration)>,
    /// Which calls are recorded, how long recordings are kept, who listens.
    pub recording: RecordingPolicy,
    /// The scorecards' folder and the daily sample's size.
    pub qa: QaSettings,
    /// What every outbound call respects and where it goes.
    pub outbound: Outbound,
    /// Each campaign's rules.
    pub campaigns: Vec<crate::campaign::Rules>,
    /// The wallboard's and the reports' thresholds.
    pub monitoring: Monitoring,
    /// `/metrics` access, the trunk's keepalive, the disk limits.
    pub operations: Operations,
}

/// Flags given on the command line; each one overrides the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub sip: Option<String>,
    pub http: Option<String>,
    pub https: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub rtp_ports: Option<String>,
    pub database: Option<String>,
    pub flows_dir: Option<PathBuf>,
    /// `--demo`: seed demo data into an empty database.
    pub demo_data: Option<bool>,
}

impl Config {
    /// Reads a config file (or the built-in defaults when `path` is None).
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            let mut config = Config::default();
            config.server.demo_data = Some(true);
            return Ok(config);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text; the error text names the key and the line.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// Applies command-line overrides.
    pub fn apply(&mut self, o: &Overrides) {
        if let Some(v) = o.demo_data {
            self.server.demo_data = Some(v);
        }
        if let Some(v) = &o.sip {
            self.server.sip = v.clone();
        }
        if let Some(v) = &o.http {
            self.server.http = v.clone();
        }
        if let Some(v) = &o.https {
            self.server.https = v.clone();
        }
        if let Some(v) = &o.data_dir {
            self.server.data_dir = v.clone();
        }
        if let Some(v) = &o.rtp_ports {
            self.media.rtp_ports = v.clone();
        }
        if let Some(v) = &o.database {
            self.server.database = v.clone();
        }
        if let Some(v) = &o.flows_dir {
            self.ivr.flows_dir = v.clone();
        }
    }

    /// Checks every value and converts it to the types the server uses.
    pub fn validate(&self) -> Result<Settings, ConfigError> {
        let sip_addr: SocketAddr = self.server.sip.parse().map_err(|_| {
            invalid(
                "server.sip",
                format!("`{}` is not ADDR:PORT", self.server.sip),
            )
        })?;
        let http_addr: SocketAddr = self.server.http.parse().map_err(|_| {
            invalid(
                "server.http",
                format!("`{}` is not ADDR:PORT", self.server.http),
            )
        })?;
        let https_addr = match self.server.https.as_str() {
            "" => None,
            a => Some(a.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "server.https",
                    format!("`{a}` is not ADDR:PORT (or empty: no HTTPS)"),
                )
            })?),
        };
        let tls_files = match (self.server.tls_cert.as_str(), self.server.tls_key.as_str()) {
            ("", "") => None,
            ("", _) => return Err(invalid("server.tls_cert", "is needed with server.tls_key")),
            (_, "") => return Err(invalid("server.tls_key", "is needed with server.tls_cert")),
            (cert, key) => Some((PathBuf::from(cert), PathBuf::from(key))),
        };
        if self.server.data_dir.as_os_str().is_empty() {
            return Err(invalid("server.data_dir", "must not be empty"));
        }
        let database_url = if self.server.database.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("hotline.db").display()
            )
        } else if self.server.database.starts_with("sqlite:")
            || self.server.database.starts_with("postgres://")
            || self.server.database.starts_with("postgresql://")
        {
            self.server.database.clone()
        } else {
            return Err(invalid(
                "server.database",
                "must start with sqlite: or postgres://",
            ));
        };
        let advertised_ip = if self.server.advertised_ip.is_empty() {
            if sip_addr.ip().is_unspecified() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                sip_addr.ip()
            }
        } else {
            let ip: IpAddr = self
                .server
                .advertised_ip
                .parse()
                .map_err(|_| invalid("server.advertised_ip", "is not an IP address"))?;
            if ip.is_unspecified() {
                return Err(invalid(
                    "server.advertised_ip",
                    "must be an address peers can reach, not a wildcard",
                ));
            }
            ip
        };

        if self.trunk.numbers.is_empty() {
            return Err(invalid(
                "trunk.numbers",
                "list at least one number to answer",
            ));
        }
        for (i, n) in self.trunk.numbers.iter().enumerate() {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(
                    format!("trunk.numbers[{i}]"),
                    format!("`{n}` must be digits only, e.g. 4008001234"),
                ));
            }
        }
        let mut allowed_sources = Vec::new();
        for (i, s) in self.trunk.allowed_sources.iter().enumerate() {
            allowed_sources.push(Cidr::parse(s).ok_or_else(|| {
                invalid(
                    format!("trunk.allowed_sources[{i}]"),
                    format!("`{s}` is not an IP address or CIDR such as 192.0.2.0/24"),
                )
            })?);
        }
        if allowed_sources.is_empty() {
            return Err(invalid(
                "trunk.allowed_sources",
                "list the carrier's addresses; an empty list would refuse every call",
            ));
        }

        let rtp_ports =
            parse_port_range(&self.media.rtp_ports).map_err(|p| invalid("media.rtp_ports", p))?;
        if self.media.rtp_timeout_secs == 0 {
            return Err(invalid("media.rtp_timeout_secs", "must be at least 1"));
        }
        let mut codecs = Vec::new();
        for (i, c) in self.media.codecs.iter().enumerate() {
            let c = c.to_ascii_uppercase();
            if c != "PCMU" && c != "PCMA" {
                return Err(invalid(
                    format!("media.codecs[{i}]"),
                    format!("`{c}` is not supported; use PCMU and/or PCMA"),
                ));
            }
            if !codecs.contains(&c) {
                codecs.push(c);
            }
        }
        if codecs.is_empty() {
            return Err(invalid("media.codecs", "list PCMU and/or PCMA"));
        }
        if !(96..=127).contains(&self.media.telephone_event_pt) {
            return Err(invalid(
                "media.telephone_event_pt",
                "must be a dynamic payload type, 96-127",
            ));
        }

        let s = &self.sip;
        if s.t1_ms == 0 || s.t2_ms < s.t1_ms || s.t4_ms == 0 {
            return Err(invalid(
                "sip.t1_ms",
                "need 0 < t1_ms <= t2_ms and t4_ms > 0",
            ));
        }
        if !(1500..=1_048_576).contains(&s.max_message_bytes) {
            return Err(invalid(
                "sip.max_message_bytes",
                "must be between 1500 and 1048576",
            ));
        }

        let ivr = &self.ivr;
        if ivr.language.is_empty()
            || !ivr
                .language
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(invalid(
                "ivr.language",
                "must be a folder name such as en or zh",
            ));
        }
        if ivr.main_flow.is_empty()
            || !ivr
                .main_flow
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "ivr.main_flow",
                "must be a flow file's name without .toml, such as hotline",
            ));
        }
        let transfer_allow = ivr
            .transfer_allow
            .iter()
            .map(|p| {
                DigitPattern::parse(p)
                    .map_err(|e| invalid("ivr.transfer_allow", format!("`{p}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let queues = acd_queues(&self.queues)?;
        let (limits, campaigns) = campaigns(&self.outbound, &self.campaigns, &queues)?;
        let trunk = self.outbound.trunk()?;
        if trunk.is_none()
            && let Some(i) = campaigns
                .iter()
                .position(|c| !matches!(c.mode, crate::campaign::Mode::Preview { .. }))
        {
            return Err(invalid(
                format!("campaigns[{i}]"),
                "this campaign dials, so outbound.proxy (the carrier's SIP proxy) is required",
            ));
        }
        Ok(Settings {
            outbound: Outbound {
                limits,
                daily_cap: self.outbound.daily_cap,
                trunk,
            },
            campaigns,
            monitoring: self.monitoring.check()?,
            operations: self.operations.check()?,
            recording: self.recording.check(&queues)?,
            qa: if (1..=50).contains(&self.qa.sample_per_agent) {
                self.qa.clone()
            } else {
                return Err(invalid("qa.sample_per_agent", "must be 1 to 50"));
            },
            sip_addr,
            http_addr,
            https_addr,
            tls_files,
            data_dir: self.server.data_dir.clone(),
            database_url,
            advertised_ip,
            shutdown_grace: Duration::from_secs(self.server.shutdown_grace_secs),
            numbers: self.trunk.numbers.clone(),
            allowed_sources,
            rtp_ports,
            rtp_timeout: Duration::from_secs(self.media.rtp_timeout_secs),
            codecs,
            telephone_event_pt: self.media.telephone_event_pt,
            t1: Duration::from_millis(s.t1_ms),
            t2: Duration::from_millis(s.t2_ms),
            t4: Duration::from_millis(s.t4_ms),
            max_message_bytes: s.max_message_bytes,
            flows_dir: ivr.flows_dir.clone(),
            main_flow: ivr.main_flow.clone(),
            language: ivr.language.clone(),
            transfer_allow,
            reload_flows: ivr.reload,
            demo_data: self.server.demo_data.unwrap_or(false),
            desk: self.tickets.desk()?,
            queues,
            not_ready_reasons: self.agents.reasons()?,
            reload_from: None,
            acd_rules: acd::Rules {
                // Below the priority of transferred callers (200), who
                // were already being served.
                vip_priority: (self.agents.vip_priority <= 99)
                    .then_some(self.agents.vip_priority)
                    .ok_or_else(|| invalid("agents.vip_priority", "must be 0 to 99"))?,
                complaint_priority: (self.agents.complaint_priority <= 99)
                    .then_some(self.agents.complaint_priority)
                    .ok_or_else(|| invalid("agents.complaint_priority", "must be 0 to 99"))?,
                requeue_on_vanish: match self.agents.vanished_phone.as_str() {
                    "requeue" => true,
                    "message" => false,
                    _ => {
                        return Err(invalid(
                            "agents.vanished_phone",
                            "must be \"requeue\" or \"message\"",
                        ));
                    }
                },
            },
            webrtc: self.webrtc.check()?,
            sip_realm: {
                let r = &self.agents.sip_realm;
                if r.is_empty()
                    || r.len() > 64
                    || r.contains(['"', '\\'])
                    || r.chars().any(char::is_control)
                {
                    return Err(invalid(
                        "agents.sip_realm",
                        "must be 1 to 64 characters, no quotes",
                    ));
                }
                r.clone()
            },
        })
    }
}

impl WebRtcSettings {
    fn check(&self) -> Result<Option<(Vec<crate::cti::IceServer>, Duration)>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        if !(5..=600).contains(&self.reattach_secs) {
            return Err(invalid("webrtc.reattach_secs", "must be 5 to 600"));
        }
        for (i, server) in self.ice_servers.iter().enumerate() {
            if server.urls.is_empty() {
                return Err(invalid(
                    format!("webrtc.ice_servers[{i}].urls"),
                    "needs at least one stun: or turn: URL",
                ));
            }
            for (j, url) in server.urls.iter().enumerate() {
                let turn = url.starts_with("turn:") || url.starts_with("turns:");
                if !(turn || url.starts_with("stun:") || url.starts_with("stuns:")) {
                    return Err(invalid(
                        format!("webrtc.ice_servers[{i}].urls[{j}]"),
                        format!("`{url}` is not a stun:, stuns:, turn: or turns: URL"),
                    ));
                }
                if turn && (server.username.is_empty() || server.credential.is_empty()) {
                    return Err(invalid(
                        format!("webrtc.ice_servers[{i}]"),
                        "a TURN server needs a username and a credential",
                    ));
                }
            }
        }
        Ok(Some((
            self.ice_servers.clone(),
            Duration::from_secs(self.reattach_secs),
        )))
    }
}

/// Parses `LOW-HIGH`; the range must hold at least one even port (RTP) with
/// the odd one above it free for RTCP.
pub fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("`{text}` is not a range such as 20000-29999");
    let (lo, hi) = text.split_once('-').ok_or_else(bad)?;
    let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
    let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
    if lo < 1024 {
        return Err(format!("`{text}` starts below 1024 (privileged ports)"));
    }
    let first_even = lo + lo % 2;
    if hi < first_even.saturating_add(1) || first_even == u16::MAX {
        return Err(format!("`{text}` holds no even/odd port pair"));
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let s = Config::default().validate().unwrap();
        assert_eq!(s.numbers, vec!["4008001234"]);
        assert_eq!(s.sip_addr.port(), 5060);
        assert_eq!(s.rtp_ports, (20000, 29999));
        assert!(s.database_url.starts_with("sqlite://data"));
        assert_eq!(s.advertised_ip, IpAddr::from([127, 0, 0, 1]));
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("[trunk]\nnumberz = [\"1\"]\n").unwrap_err();
        assert!(err.contains("numberz"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let err = Config::from_toml("[media]\nrtp_timeout_secs = \"ten\"\n").unwrap_err();
        assert!(
            err.contains("rtp_timeout_secs") || err.contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn webrtc_settings_are_checked() {
        let s = Config::default().validate().unwrap();
        assert_eq!(s.webrtc, Some((vec![], Duration::from_secs(60))));
        let off = Config::from_toml("[webrtc]\nenabled = false\n").unwrap();
        assert_eq!(off.validate().unwrap().webrtc, None);
        let ok = Config::from_toml(
            "[webrtc]\nice_servers = [{ urls = [\"stun:stun.example.com:3478\"] }, \
             { urls = [\"turn:turn.example.com:3478?transport=udp\"], username = \"u\", credential = \"p\" }]\n",
        )
        .unwrap();
        assert_eq!(ok.validate().unwrap().webrtc.unwrap().0.len(), 2);
        for (text, key) in [
            ("[webrtc]\nreattach_secs = 1", "webrtc.reattach_secs"),
            (
                "[webrtc]\nice_servers = [{ urls = [] }]",
                "webrtc.ice_servers[0].urls",
            ),
            (
                "[webrtc]\nice_servers = [{ urls = [\"http://x\"] }]",
                "webrtc.ice_servers[0].urls[0]",
            ),
            (
                "[webrtc]\nice_servers = [{ urls = [\"turn:x\"] }]",
                "webrtc.ice_servers[0]",
            ),
        ] {
            let err = Config::from_toml(text).unwrap().validate().unwrap_err();
            assert!(
                err.to_string().contains(&format!("`{key}`")),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn recording_settings_are_checked() {
        let s = Config::default().validate().unwrap();
        assert_eq!(s.recording.calls, RecordCalls::All);
        assert_eq!(s.recording.keep_days, 365);
        let some = Config::from_toml(
            "[recording]\ncalls = \"queues\"\nqueues = [\"complaint\"]\n\
             [recording.keep_days_by_queue]\ncomplaint = 1095\n",
        )
        .unwrap()
        .validate()
        .unwrap();
        assert_eq!(
            some.recording.calls,
            RecordCalls::Queues(vec!["complaint".into()])
        );
        assert_eq!(some.recording.keep_days_by_queue["complaint"], 1095);
        for (text, key) in [
            ("[recording]\ncalls = \"some\"", "recording.calls"),
            ("[recording]\ncalls = \"queues\"", "recording.queues"),
            (
                "[recording]\ncalls = \"queues\"\nqueues = [\"nowhere\"]",
                "recording.queues[0]",
            ),
            ("[recording]\nqueues = [\"complaint\"]", "recording.queues"),
            (
                "[recording.keep_days_by_queue]\nnowhere = 3",
                "recording.keep_days_by_queue.nowhere",
            ),
        ] {
            let err = Config::from_toml(text).unwrap().validate().unwrap_err();
            assert!(
                err.to_string().contains(&format!("`{key}`")),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn campaigns_are_checked_against_the_outbound_limits() {
        let ok = "[outbound]\nproxy = \"192.0.2.10:5060\"\n[[campaigns]]\nname = \"follow-up\"\nkind = \"survey\"\nflow = \"survey\"\n\
                  caller_id = \"4008001234\"\nhours = { mon-fri = \"09:00-20:00\" }\n\
                  allow = [\"_1[3-9]XXXXXXXXX\"]\n";
        let s = Config::from_toml(ok).unwrap().validate().unwrap();
        assert_eq!(s.campaigns.len(), 1);
        assert_eq!(s.campaigns[0].name, "follow-up");
        assert_eq!(s.outbound.daily_cap, 3, "the daily cap");
        assert!(Config::default().validate().unwrap().campaigns.is_empty());
        for (edit, key, says) in [
            (
                ("proxy = \"192.0.2.10:5060\"", "proxy = \"carrier.example\""),
                "outbound.proxy",
                "IP address",
            ),
            (
                ("proxy = \"192.0.2.10:5060\"", "ring_secs = 30"),
                "campaigns[0]",
                "outbound.proxy",
            ),
            (
                (
                    "proxy = \"192.0.2.10:5060\"",
                    "proxy = \"192.0.2.10:5060\"\nusername = \"acct\"",
                ),
                "outbound.username",
                "together",
            ),
            (
                ("09:00-20:00", "07:30-20:00"),
                "campaigns[0].hours",
                "08:00-21:00",
            ),
            (
                ("caller_id = \"4008001234\"", "caller_id = \"\""),
                "campaigns[0].caller_id",
                "required",
            ),
            (
                ("kind = \"survey\"", "kind = \"robocall\""),
                "campaigns[0].kind",
                "robocall",
            ),
            (
                (
                    "kind = \"survey\"",
                    "kind = \"progressive\"\nqueue = \"nowhere\"",
                ),
                "campaigns[0].queue",
                "nowhere",
            ),
            (
                ("flow = \"survey\"", "concurrency = 31\nflow = \"survey\""),
                "campaigns[0].concurrency",
                "30 outbound lines",
            ),
            (
                (
                    "flow = \"survey\"",
                    "flow = \"survey\"\nretry_secs = { busy = 5 }",
                ),
                "campaigns[0].retry_secs.busy",
                "60 s",
            ),
            (
                ("allow = [\"_1[3-9]XXXXXXXXX\"]", "allow = []"),
                "campaigns[0].allow",
                "pattern",
            ),
            (
                ("name = \"follow-up\"", "name = \"Follow Up\""),
                "campaigns[0].name",
                "a-z",
            ),
        ] {
            let text = ok.replace(edit.0, edit.1);
            let err = Config::from_toml(&text).unwrap().validate().unwrap_err();
            assert!(
                err.to_string().contains(&format!("`{key}`")),
                "{text}: {err}"
            );
            assert!(err.to_string().contains(says), "{text}: {err}");
        }
        let follow = ok.replace(
            "flow = \"survey\"",
            "flow = \"survey\"\nenroll_completed_after_hours = 24",
        );
        let s = Config::from_toml(&follow).unwrap().validate().unwrap();
        assert_eq!(
            s.campaigns[0].enroll_completed_after,
            Some(Duration::from_secs(24 * 3600))
        );
        let wrong = follow.replace(
            "kind = \"survey\"",
            "kind = \"callbacks\"\nqueue = \"general\"",
        );
        let err = Config::from_toml(&wrong).unwrap().validate().unwrap_err();
        assert!(
            err.to_string()
                .contains("`campaigns[0].enroll_completed_after_hours`"),
            "{err}"
        );
        let campaign = &ok[ok.find("[[campaigns]]").expect("a campaign")..];
        let twice = format!("{ok}{campaign}");
        let err = Config::from_toml(&twice).unwrap().validate().unwrap_err();
        assert!(err.to_string().contains("`campaigns[1].name`"), "{err}");
        let err = Config::from_toml("[outbound]\nlegal_hours = \"all day\"")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("`outbound.legal_hours`"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: &[(&str, &str)] = &[
            ("[trunk]\nnumbers = [\"400-800\"]", "trunk.numbers[0]"),
            ("[trunk]\nnumbers = []", "trunk.numbers"),
            (
                "[trunk]\nallowed_sources = [\"10.0.0/8\"]",
                "trunk.allowed_sources[0]",
            ),
            ("[media]\nrtp_ports = \"30000-20000\"", "media.rtp_ports"),
            ("[media]\nrtp_ports = \"80-90\"", "media.rtp_ports"),
            ("[media]\ncodecs = [\"G729\"]", "media.codecs[0]"),
            ("[server]\nsip = \"5060\"", "server.sip"),
            ("[server]\ndatabase = \"mysql://x\"", "server.database"),
            (
                "[server]\nadvertised_ip = \"0.0.0.0\"",
                "server.advertised_ip",
            ),
            ("[sip]\nt1_ms = 0", "sip.t1_ms"),
            ("[ivr]\nlanguage = \"../etc\"", "ivr.language"),
            (
                "[tickets]\ntime_zone = \"Mars/Olympus\"",
                "tickets.time_zone",
            ),
            ("[tickets]\ndispatch_hours = 0", "tickets.dispatch_hours"),
            ("[[queues]]\nname = \"Repair Desk\"", "queues[0].name"),
            (
                "[agents]\nnot_ready_reasons = [\"break\", \"missed\"]",
                "agents.not_ready_reasons[1]",
            ),
            (
                "[[queues]]\nname = \"a\"\n[[queues]]\nname = \"a\"",
                "queues[1].name",
            ),
            (
                "[[queues]]\nname = \"a\"\nstrategy = \"random\"",
                "queues[0].strategy",
            ),
            (
                "[[queues]]\nname = \"a\"\noverflow = \"queue:a\"",
                "queues[0].overflow",
            ),
            (
                "[[queues]]\nname = \"a\"\noverflow = \"queue:b\"",
                "queues[0].overflow",
            ),
            (
                "[[queues]]\nname = \"a\"\nring_timeout_secs = 1",
                "queues[0].ring_timeout_secs",
            ),
            (
                "[[queues]]\nname = \"a\"\nskills = { washer = 11 }",
                "queues[0].skills.washer",
            ),
            (
                "[tickets.kinds.fix]\ndispatch_hours = 1",
                "tickets.kinds.fix",
            ),
            (
                "[tickets.kinds.installation]\ncomplete_hours = [0, 1, 2]",
                "tickets.kinds.installation.complete_hours",
            ),
            (
                "[tickets.kinds.complaint]\nclose_hours = 0",
                "tickets.kinds.complaint.close_hours",
            ),
            ("[tickets]\nsatisfied_from = 6", "tickets.satisfied_from"),
            ("[tickets]\nsla_clock = \"lunar\"", "tickets.sla_clock"),
            (
                "[tickets]\nsla_clock = \"business\"",
                "tickets.business_hours",
            ),
            (
                "[tickets]\nsla_clock = \"business\"\nbusiness_hours = { mon-fri = \"9-18\" }",
                "tickets.business_hours",
            ),
            (
                "[tickets]\nsla_clock = \"business\"\nbusiness_hours = { mon-fri = \"09:00-18:00\" }\nholiday_calendar = \"/nonexistent.toml\"",
                "tickets.holiday_calendar",
            ),
        ];
        for (text, key) in cases {
            let err = Config::from_toml(text).unwrap().validate().unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(&format!("`{key}`")), "{text}: {msg}");
        }
    }

    /// Queues from the file become the ACD's; without any, the demo
    /// flow's four with the defaults.
    #[test]
    fn queues_from_the_configuration() {
        let settings = Config::default().validate().unwrap();
        let names: Vec<&str> = settings.queues.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(names, ["repair", "installation", "complaint", "general"]);
        assert_eq!(settings.queues[0].ring_timeout_ms, 20_000);
        let text = "[[queues]]\nname = \"vip\"\nstrategy = \"skills_based\"\n\
                    skills = { vip = 5 }\nrelax = [{ after_secs = 60, lower_by = 2 }]\n\
                    max_wait_secs = 120\noverflow = \"queue:general\"\n\
                    [[queues]]\nname = \"general\"\nstrategy = \"ring_all\"\n";
        let queues = Config::from_toml(text).unwrap().validate().unwrap().queues;
        assert_eq!(queues.len(), 2);
        assert_eq!(queues[0].strategy, crate::acd::Strategy::SkillsBased);
        assert_eq!(queues[0].max_wait_ms, Some(120_000));
        assert_eq!(
            queues[0].overflow,
            crate::acd::Overflow::Queue("general".into())
        );
        assert_eq!(queues[0].relax[0].after_ms, 60_000);
        assert_eq!(queues[1].strategy, crate::acd::Strategy::RingAll);
        assert_eq!(queues[1].max_wait_ms, None);
    }

    /// Per-kind targets override the defaults for that kind only;
    /// complaints keep their closing target unless told otherwise.
    #[test]
    fn sla_targets_per_ticket_kind() {
        let text = "[tickets]\ndispatch_hours = 3\n\
                    [tickets.kinds.installation]\ncomplete_hours = [48, 72, 96]\n\
                    [tickets.kinds.consultation]\nclose_hours = 24\n";
        let sla = Config::from_toml(text)
            .unwrap()
            .validate()
            .unwrap()
            .desk
            .sla;
        let hours = |t: Option<SlaTarget>| t.map(|t| t.within.as_secs() / 3600);
        assert_eq!(hours(sla.repair.dispatch), Some(3));
        assert_eq!(hours(sla.installation.dispatch), Some(3));
        assert_eq!(hours(sla.repair.complete[0]), Some(24));
        assert_eq!(hours(sla.installation.complete[0]), Some(48));
        assert_eq!(hours(sla.installation.complete[2]), Some(96));
        assert_eq!(hours(sla.repair.close), None);
        assert_eq!(hours(sla.consultation.close), Some(24));
        assert_eq!(hours(sla.complaint.close), Some(72));
    }

    /// The SLA in business hours: a ticket accepted on Friday evening is
    /// due for dispatch on Monday morning, and a holiday Monday pushes it
    /// to Tuesday.
    #[test]
    fn sla_in_business_hours_with_the_holiday_calendar() {
        let dir = std::env::temp_dir().join(format!("hotline-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let calendar = dir.join("holidays.toml");
        std::fs::write(
            &calendar,
            "[[holiday]]\ndate = \"2026-11-30\"\nname = \"test\"\n",
        )
        .unwrap();
        let text = format!(
            "[tickets]\nsla_clock = \"business\"\nbusiness_hours = {{ mon-fri = \"09:00-18:00\" }}\nholiday_calendar = \"{}\"\n",
            calendar.display()
        );
        let desk = Config::from_toml(&text).unwrap().validate().unwrap().desk;
        // Friday 2026-11-27 17:00 in Shanghai (09:00 UTC): one open hour
        // left, the second on Tuesday 12-01 at 10:00 (Monday is a holiday).
        let friday_5pm = 1_795_770_000_000;
        let ticket = crate::ticket::Ticket::accept(
            crate::ticket::TicketKind::Repair,
            friday_5pm,
            crate::ticket::Actor::System,
            &desk.sla,
        );
        let tuesday_10am = friday_5pm + 89 * 3_600_000;
        assert_eq!(ticket.due().unwrap().at_ms, tuesday_10am);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn overrides_win() {
        let mut c = Config::from_toml("[server]\nsip = \"127.0.0.1:5070\"").unwrap();
        c.apply(&Overrides {
            sip: Some("127.0.0.1:5080".into()),
            rtp_ports: Some("40000-40100".into()),
            ..Default::default()
        });
        let s = c.validate().unwrap();
        assert_eq!(s.sip_addr.port(), 5080);
        assert_eq!(s.rtp_ports, (40000, 40100));
        assert_eq!(s.advertised_ip, IpAddr::from([127, 0, 0, 1]));
    }

    #[test]
    fn cidr_matching() {
        let net = Cidr::parse("127.0.0.0/8").unwrap();
        assert!(net.contains("127.1.2.3".parse().unwrap()));
        assert!(net.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!net.contains("128.0.0.1".parse().unwrap()));
        let one = Cidr::parse("192.0.2.7").unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(Cidr::parse("1.2.3.4/33").is_none());
        assert!(Cidr::parse("nonsense").is_none());
    }
}
