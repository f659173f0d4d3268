//! The server's figures for monitoring, and their Prometheus text
//! exposition (format 0.0.4) for `GET /metrics`.
//!
//! Who writes what:
//! - the driver refreshes the engine's gauges ([`Metrics::refresh`], from
//!   [`crate::engine::Engine::gauges`]) a few times a second, never per
//!   input, and sets the overload flag as it changes;
//! - each call's RTP reader task counts the packets it receives and the
//!   loss in them ([`RtpCount`]); the driver counts what it sends;
//! - the record writer times every statement and batch ([`DbWrites`]);
//! - the disk watcher (`super::health`) stores what the disks have free.
//!
//! Everything on a per-packet or per-write path is a relaxed atomic: a
//! scrape may see figures a moment apart, never a torn one, and never
//! makes a writer wait. The few figures that are lists (queues, disks,
//! the trunk) sit behind a lock their writer only *tries* to take, a few
//! times a second at most: a scrape holding it delays the next refresh,
//! never the call path.
//!
//! Naming follows Prometheus' conventions: a `hotline_` prefix, the unit in
//! the name (`_seconds`, `_bytes`), counters ending in `_total`. Rates are
//! the scraper's job: calls per second is
//! `rate(hotline_calls_started_total[1m])`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::engine::{AGENT_STATES, Gauges, TrunkStatus};
use crate::media::loss::LossCounter;

/// Upper bounds (seconds) of the database write latency histogram: from
/// half a millisecond (an SQLite commit on a fast disk) to 10 s (a
/// database on its knees).
pub const DB_WRITE_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A histogram of durations with fixed buckets, written without locks.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds in seconds, ascending; a last bucket, `+Inf`, follows.
    bounds: &'static [f64],
    /// Per bucket (not cumulative): observations that fell in it.
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let slot = self
            .bounds
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(self.bounds.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// `(le, cumulative count)` per bucket, `+Inf` last, and the sum in
    /// seconds.
    fn cumulative(&self) -> (Vec<(String, u64)>, f64) {
        let mut total = 0;
        let mut out = Vec::with_capacity(self.counts.len());
        for (i, c) in self.counts.iter().enumerate() {
            total += c.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| format_float(*b));
            out.push((le, total));
        }
        let sum = Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)).as_secs_f64();
        (out, sum)
    }
}

/// What the record writer reports: how long each write took and how many
/// failed.
#[derive(Debug)]
pub struct DbWrites {
    /// One observation per transaction (a batch) or single-op attempt,
    /// failed ones included.
    pub latency: Histogram,
    /// Attempts the database refused or did not answer (each retried).
    pub failures: AtomicU64,
}

impl Default for DbWrites {
    fn default() -> Self {
        DbWrites {
            latency: Histogram::new(&DB_WRITE_BUCKETS),
            failures: AtomicU64::new(0),
        }
    }
}

/// What one filesystem the server writes to has left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSpace {
    /// The folder looked at (the data directory, the recordings).
    pub path: PathBuf,
    /// Bytes free for the server (not counting the superuser's reserve).
    pub free: u64,
    pub size: u64,
    /// Under this many bytes free the disk is nearly full (the configured
    /// limits applied to its size).
    pub min_free: u64,
}

/// The live figures. Shared by the runtime (which writes) and the API
/// (which reads, for `/metrics` and `/api/health`).
#[derive(Debug)]
pub struct Metrics {
    calls_inbound: AtomicU64,
    calls_outbound: AtomicU64,
    started_inbound: AtomicU64,
    started_outbound: AtomicU64,
    rejected: AtomicU64,
    agents: [AtomicU64; AGENT_STATES.len()],
    phone_registrations: AtomicU64,
    queues: RwLock<Vec<(String, u64)>>,
    /// RTP packets received on calls' sockets (RTCP, STUN, DTLS not
    /// counted), sent from them, and lost on the way in.
    pub rtp_received: AtomicU64,
    pub rtp_sent: AtomicU64,
    pub rtp_lost: AtomicU64,
    pub db: Arc<DbWrites>,
    /// The driver refuses new calls (its timers run late).
    pub overloaded: AtomicBool,
    /// What the OPTIONS keepalives say; `None`: none are sent.
    trunk: RwLock<Option<TrunkStatus>>,
    /// Per filesystem written to, as last looked at.
    disks: RwLock<Vec<DiskSpace>>,
    /// Recording failures seen at the last refresh, and when (wall ms) the
    /// count last grew.
    recording_failures_seen: AtomicU64,
    pub recording_failed_at_ms: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(Arc::default())
    }
}

impl Metrics {
    /// Zeroed figures; database writes are timed into `db`.
    pub fn new(db: Arc<DbWrites>) -> Self {
        Metrics {
            calls_inbound: AtomicU64::new(0),
            calls_outbound: AtomicU64::new(0),
            started_inbound: AtomicU64::new(0),
            started_outbound: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            agents: Default::default(),
            phone_registrations: AtomicU64::new(0),
            queues: RwLock::new(Vec::new()),
            rtp_received: AtomicU64::new(0),
            rtp_sent: AtomicU64::new(0),
            rtp_lost: AtomicU64::new(0),
            db,
            overloaded: AtomicBool::new(false),
            trunk: RwLock::new(None),
            disks: RwLock::new(Vec::new()),
            recording_failures_seen: AtomicU64::new(0),
            recording_failed_at_ms: AtomicI64::new(0),
        }
    }

    /// Takes in the engine's gauges and trunk status, and notes when the
    /// recording failures (`recording_failures`, the writer's count) last
    /// grew. Never waits: a list a scrape is reading keeps its old value
    /// until the next refresh.
    pub fn refresh(
        &self,
        g: &Gauges,
        trunk: Option<TrunkStatus>,
        recording_failures: u64,
        wall_ms: i64,
    ) {
        let set = |a: &AtomicU64, v: usize| a.store(v as u64, Ordering::Relaxed);
        set(&self.calls_inbound, g.calls_inbound);
        set(&self.calls_outbound, g.calls_outbound);
        self.started_inbound
            .store(g.started_inbound, Ordering::Relaxed);
        self.started_outbound
            .store(g.started_outbound, Ordering::Relaxed);
        self.rejected.store(g.rejected, Ordering::Relaxed);
        for (a, n) in self.agents.iter().zip(g.agents) {
            set(a, n);
        }
        set(&self.phone_registrations, g.phone_registrations);
        if let Ok(mut q) = self.queues.try_write() {
            q.clear();
            q.extend(g.queues.iter().map(|(name, n)| (name.clone(), *n as u64)));
        }
        if let Ok(mut t) = self.trunk.try_write() {
            *t = trunk;
        }
        if self
            .recording_failures_seen
            .swap(recording_failures, Ordering::Relaxed)
            < recording_failures
        {
            self.recording_failed_at_ms
                .store(wall_ms, Ordering::Relaxed);
        }
    }

    /// What the disk watcher found.
    pub fn set_disks(&self, disks: Vec<DiskSpace>) {
        if let Ok(mut d) = self.disks.write() {
            *d = disks;
        }
    }

    pub fn disks(&self) -> Vec<DiskSpace> {
        self.disks.read().map(|d| d.clone()).unwrap_or_default()
    }

    pub fn trunk(&self) -> Option<TrunkStatus> {
        self.trunk.read().ok().and_then(|t| t.clone())
    }

    /// The exposition of every figure, with what the API adds from
    /// elsewhere.
    pub fn render(&self, more: &Outside) -> String {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut w = Exposition::default();
        w.family(
            "hotline_calls_in_progress",
            Kind::Gauge,
            "Calls not yet over, by direction.",
        );
        w.sample(&[("direction", "inbound")], load(&self.calls_inbound));
        w.sample(&[("direction", "outbound")], load(&self.calls_outbound));
        w.family(
            "hotline_calls_started_total",
            Kind::Counter,
            "Calls accepted since start, by direction; rate() of it is calls per second.",
        );
        w.sample(&[("direction", "inbound")], load(&self.started_inbound));
        w.sample(&[("direction", "outbound")], load(&self.started_outbound));
        w.family(
            "hotline_calls_rejected_total",
            Kind::Counter,
            "INVITEs refused before they became calls (overload, draining, unknown number, untrusted source, no common codec).",
        );
        w.sample(&[], load(&self.rejected));
        w.family(
            "hotline_queue_callers_waiting",
            Kind::Gauge,
            "Callers waiting in each configured queue (queue depth).",
        );
        for (queue, n) in self.queues.read().map(|q| q.clone()).unwrap_or_default() {
            w.sample(&[("queue", &queue)], n);
        }
        w.family(
            "hotline_agents",
            Kind::Gauge,
            "Agents known since start (a CTI connection), by ACD state.",
        );
        for (state, a) in AGENT_STATES.iter().zip(&self.agents) {
            w.sample(&[("state", state)], load(a));
        }
        w.family(
            "hotline_phone_registrations",
            Kind::Gauge,
            "Registrations of agents' SIP phones.",
        );
        w.sample(&[], load(&self.phone_registrations));
        w.family(
            "hotline_websocket_clients",
            Kind::Gauge,
            "Open websocket connections, by kind (cti: agents' pages; wallboard: supervisors' wallboards).",
        );
        w.sample(&[("kind", "cti")], more.cti_clients as u64);
        w.sample(&[("kind", "wallboard")], more.wallboard_clients as u64);
        w.family(
            "hotline_rtp_packets_received_total",
            Kind::Counter,
            "RTP packets received on calls' media sockets.",
        );
        w.sample(&[], load(&self.rtp_received));
        w.family(
            "hotline_rtp_packets_sent_total",
            Kind::Counter,
            "RTP packets sent from calls' media sockets.",
        );
        w.sample(&[], load(&self.rtp_sent));
        w.family(
            "hotline_rtp_packets_lost_total",
            Kind::Counter,
            "RTP packets lost on the way to us: sequence numbers that never arrived (as RTCP counts loss).",
        );
        w.sample(&[], load(&self.rtp_lost));
        w.family(
            "hotline_db_write_duration_seconds",
            Kind::Histogram,
            "Time of each call-record write to the database: one transaction (a batch) or one statement.",
        );
        let (buckets, sum) = self.db.latency.cumulative();
        let count = buckets.last().map_or(0, |b| b.1);
        for (le, n) in &buckets {
            w.sample_of("_bucket", &[("le", le)], *n);
        }
        w.sample_of("_sum", &[], format_float(sum));
        w.sample_of("_count", &[], count);
        w.family(
            "hotline_db_write_failures_total",
            Kind::Counter,
            "Call-record writes the database refused or did not answer (each is retried).",
        );
        w.sample(&[], load(&self.db.failures));
        w.family(
            "hotline_records_pending",
            Kind::Gauge,
            "Call records queued for the database and not yet written.",
        );
        w.sample(&[], more.pending_records as u64);
        w.family(
            "hotline_recording_failures_total",
            Kind::Counter,
            "Call recordings that could not be written, in whole or in part.",
        );
        w.sample(&[], more.recording_failures);
        w.family(
            "hotline_overloaded",
            Kind::Gauge,
            "1 while new calls are refused because the server cannot keep up.",
        );
        w.sample(&[], u64::from(self.overloaded.load(Ordering::Relaxed)));
        w.family(
            "hotline_draining",
            Kind::Gauge,
            "1 once shutdown began: no new calls.",
        );
        w.sample(&[], u64::from(more.draining));
        if let Some(t) = self.trunk() {
            let proxy = t.proxy.to_string();
            w.family(
                "hotline_trunk_up",
                Kind::Gauge,
                "1 while the outbound proxy answers SIP OPTIONS keepalives.",
            );
            w.sample(&[("proxy", &proxy)], u64::from(!t.is_down()));
            w.family(
                "hotline_trunk_options_unanswered",
                Kind::Gauge,
                "OPTIONS keepalives in a row the outbound proxy left unanswered.",
            );
            w.sample(&[("proxy", &proxy)], u64::from(t.failures));
        }
        let disks = self.disks();
        if !disks.is_empty() {
            w.family(
                "hotline_disk_free_bytes",
                Kind::Gauge,
                "Bytes free for the server on each filesystem it writes to.",
            );
            for d in &disks {
                w.sample(&[("path", &d.path.display().to_string())], d.free);
            }
            w.family(
                "hotline_disk_size_bytes",
                Kind::Gauge,
                "Size of each filesystem the server writes to.",
            );
            for d in &disks {
                w.sample(&[("path", &d.path.display().to_string())], d.size);
            }
        }
        w.family(
            "hotline_start_time_seconds",
            Kind::Gauge,
            "When the server started, seconds since the Unix epoch.",
        );
        w.sample(&[], format_float(more.started_at_ms as f64 / 1000.0));
        w.family(
            "hotline_uptime_seconds",
            Kind::Gauge,
            "Seconds since the server started.",
        );
        w.sample(&[], format_float(more.uptime.as_secs_f64()));
        w.family(
            "hotline_build_info",
            Kind::Gauge,
            "Always 1; the version of the running server is its label.",
        );
        w.sample(&[("version", env!("CARGO_PKG_VERSION"))], 1u64);
        w.out
    }
}

/// What the API adds to the runtime's figures.
#[derive(Debug, Clone, Default)]
pub struct Outside {
    pub pending_records: usize,
    pub recording_failures: u64,
    pub draining: bool,
    pub cti_clients: usize,
    pub wallboard_clients: usize,
    /// Wall ms at start.
    pub started_at_ms: i64,
    pub uptime: Duration,
}

/// A call's received RTP, counted as it arrives on the socket: packets
/// and the loss in them, into the shared totals. Owned by the socket's
/// reader task; when the task ends (the call closed its socket, or the
/// task was aborted) the stream is over and the loss still in the
/// reorder window is settled.
#[derive(Debug)]
pub struct RtpCount {
    metrics: Arc<Metrics>,
    loss: LossCounter,
}

impl RtpCount {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        RtpCount {
            metrics,
            loss: LossCounter::new(),
        }
    }

    /// A datagram arrived; anything but RTP (RTCP, STUN, DTLS) is not
    /// counted.
    pub fn datagram(&mut self, bytes: &[u8]) {
        let Ok(packet) = crate::media::rtp::parse(bytes) else {
            return;
        };
        self.metrics.rtp_received.fetch_add(1, Ordering::Relaxed);
        let lost = self.loss.packet(packet.header.ssrc, packet.header.sequence);
        if lost > 0 {
            self.metrics.rtp_lost.fetch_add(lost, Ordering::Relaxed);
        }
    }
}

impl Drop for RtpCount {
    fn drop(&mut self) {
        let lost = self.loss.finish();
        if lost > 0 {
            self.metrics.rtp_lost.fetch_add(lost, Ordering::Relaxed);
        }
    }
}

/// Whether `bytes` is an RTP packet (not RTCP, STUN or DTLS), for counting
/// what a call's socket sends.
pub fn is_rtp(bytes: &[u8]) -> bool {
    bytes.len() >= crate::media::rtp::HEADER_LEN
        && bytes[0] >> 6 == 2
        && !(192..=223).contains(&bytes[1])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// The text format, written family by family: `# HELP`, `# TYPE`, then
/// the family's samples, each `name{labels} value`.
#[derive(Debug, Default)]
struct Exposition {
    out: String,
    family: &'static str,
}

impl Exposition {
    fn family(&mut self, name: &'static str, kind: Kind, help: &str) {
        debug_assert!(
            kind != Kind::Counter || name.ends_with("_total"),
            "{name}: counters end in _total"
        );
        self.family = name;
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.sample_of("", labels, value);
    }

    /// A sample of the current family named with `suffix` (`_bucket`,
    /// `_sum`, `_count` of a histogram).
    fn sample_of(&mut self, suffix: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.out, "{}{suffix}", self.family);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (name, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{name}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// A label value as the format wants it: backslash, double quote and
/// line feed escaped.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A float as Prometheus reads it (`+Inf`, `NaN`, or plain decimal).
fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;

    /// One sample line read back.
    #[derive(Debug)]
    struct Sample {
        name: String,
        labels: BTreeMap<String, String>,
        value: f64,
    }

    /// The exposition read back as a scraper would, checking the format on
    /// the way: every sample is `name{labels} value` with a valid metric
    /// name and quoted label values; HELP and TYPE come once per family,
    /// before its samples; every sample belongs to the family declared
    /// last. Returns the samples and each family's type.
    fn parse(text: &str) -> (Vec<Sample>, HashMap<String, String>) {
        let valid_name = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !n.starts_with(|c: char| c.is_ascii_digit())
        };
        let mut types = HashMap::new();
        let mut helps = HashMap::new();
        let mut current: Option<(String, String)> = None;
        let mut samples = Vec::new();
        assert!(text.ends_with('\n'), "the last line ends too");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP name text");
                assert!(valid_name(name), "{line}");
                assert!(!help.is_empty(), "{line}");
                assert!(
                    helps.insert(name.to_owned(), ()).is_none(),
                    "HELP twice: {name}"
                );
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(helps.contains_key(name), "TYPE before HELP: {line}");
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "{line}"
                );
                assert!(
                    types.insert(name.to_owned(), kind.to_owned()).is_none(),
                    "TYPE twice: {name}"
                );
                current = Some((name.to_owned(), kind.to_owned()));
                continue;
            }
            assert!(!line.starts_with('#'), "unknown comment: {line}");
            // name{labels} value
            let name_end = line.find(['{', ' ']).expect("a value");
            let name = &line[..name_end];
            assert!(valid_name(name), "{line}");
            let mut rest = &line[name_end..];
            let mut labels = BTreeMap::new();
            if let Some(inner) = rest.strip_prefix('{') {
                let mut chars = inner.char_indices().peekable();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    if c == '}' {
                        end = Some(i);
                        break;
                    }
                    // label="value"
                    let start = i;
                    let mut eq = None;
                    for (j, c) in chars.by_ref() {
                        if c == '=' {
                            eq = Some(j);
                            break;
                        }
                    }
                    let eq = eq.expect("label=");
                    let label = &inner[start..eq];
                    assert!(valid_name(label) && !label.contains(':'), "{line}");
                    assert_eq!(chars.next().map(|p| p.1), Some('"'), "{line}");
                    let mut value = String::new();
                    loop {
                        match chars.next().expect("closing quote").1 {
                            '\\' => match chars.next().expect("escape").1 {
                                'n' => value.push('\n'),
                                c @ ('\\' | '"') => value.push(c),
                                c => panic!("bad escape \\{c} in {line}"),
                            },
                            '"' => break,
                            '\n' => panic!("raw line feed"),
                            c => value.push(c),
                        }
                    }
                    assert!(labels.insert(label.to_owned(), value).is_none(), "{line}");
                    if chars.peek().map(|p| p.1) == Some(',') {
                        chars.next();
                    }
                }
                let end = end.expect("closing brace");
                rest = &inner[end + 1..];
            }
            let value = rest.strip_prefix(' ').expect("one space before the value");
            assert!(!value.contains(' '), "no timestamp expected: {line}");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
            };
            let (family, kind) = current.as_ref().expect("a sample before any TYPE");
            let belongs = match kind.as_str() {
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name == format!("{family}{s}")),
                _ => name == family,
            };
            assert!(belongs, "{name} outside its family {family}");
            samples.push(Sample {
                name: name.to_owned(),
                labels,
                value,
            });
        }
        for (name, kind) in &types {
            assert!(
                (kind == "counter") == name.ends_with("_total"),
                "{name}: counters and only counters end in _total"
            );
            assert!(name.starts_with("hotline_"), "{name}");
        }
        (samples, types)
    }

    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
        samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
            })
            .unwrap_or_else(|| panic!("no {name}{labels:?}"))
            .value
    }

    fn gauges() -> Gauges {
        let mut agents = [0; AGENT_STATES.len()];
        agents[1] = 3;
        agents[4] = 2;
        Gauges {
            calls_inbound: 5,
            calls_outbound: 1,
            started_inbound: 120,
            started_outbound: 7,
            rejected: 4,
            queues: vec![("repair".into(), 2), ("say \"hi\"\\\n".into(), 0)],
            agents,
            phone_registrations: 1,
        }
    }

    #[test]
    fn the_exposition_reads_back_as_prometheus_reads_it() {
        let m = Metrics::default();
        let trunk = TrunkStatus {
            proxy: "192.0.2.10:5060".parse().expect("address"),
            failures: 2,
            last_code: None,
            since_ms: Some(5),
        };
        m.refresh(&gauges(), Some(trunk), 0, 1_000);
        m.rtp_received.store(1000, Ordering::Relaxed);
        m.rtp_sent.store(990, Ordering::Relaxed);
        m.rtp_lost.store(3, Ordering::Relaxed);
        for ms in [0.2, 0.7, 3.0, 3.0, 40.0, 20_000.0] {
            m.db.latency.observe(Duration::from_secs_f64(ms / 1000.0));
        }
        m.set_disks(vec![DiskSpace {
            path: "/var/lib/hotline".into(),
            free: 10 << 30,
            size: 100 << 30,
            min_free: 5 << 30,
        }]);
        let text = m.render(&Outside {
            pending_records: 6,
            recording_failures: 1,
            draining: false,
            cti_clients: 4,
            wallboard_clients: 2,
            started_at_ms: 1_700_000_000_500,
            uptime: Duration::from_millis(61_500),
        });
        let (samples, types) = parse(&text);
        assert_eq!(
            value(
                &samples,
                "hotline_calls_in_progress",
                &[("direction", "inbound")]
            ),
            5.0
        );
        assert_eq!(
            value(
                &samples,
                "hotline_calls_started_total",
                &[("direction", "outbound")]
            ),
            7.0
        );
        assert_eq!(
            value(
                &samples,
                "hotline_queue_callers_waiting",
                &[("queue", "repair")]
            ),
            2.0
        );
        // A label value with a quote, a backslash and a line feed comes
        // back whole.
        assert_eq!(
            value(
                &samples,
                "hotline_queue_callers_waiting",
                &[("queue", "say \"hi\"\\\n")]
            ),
            0.0
        );
        assert_eq!(
            value(&samples, "hotline_agents", &[("state", "ready")]),
            3.0
        );
        assert_eq!(
            value(&samples, "hotline_agents", &[("state", "on_call")]),
            2.0
        );
        assert_eq!(
            value(&samples, "hotline_agents", &[("state", "wrap_up")]),
            0.0
        );
        assert_eq!(value(&samples, "hotline_rtp_packets_lost_total", &[]), 3.0);
        assert_eq!(
            value(&samples, "hotline_websocket_clients", &[("kind", "cti")]),
            4.0
        );
        assert_eq!(
            value(
                &samples,
                "hotline_websocket_clients",
                &[("kind", "wallboard")]
            ),
            2.0
        );
        assert_eq!(
            value(
                &samples,
                "hotline_trunk_up",
                &[("proxy", "192.0.2.10:5060")]
            ),
            0.0
        );
        assert_eq!(value(&samples, "hotline_uptime_seconds", &[]), 61.5);
        assert_eq!(
            value(&samples, "hotline_start_time_seconds", &[]),
            1_700_000_000.5
        );
        assert_eq!(
            value(
                &samples,
                "hotline_disk_free_bytes",
                &[("path", "/var/lib/hotline")]
            ),
            (10u64 << 30) as f64
        );
        assert_eq!(types["hotline_db_write_duration_seconds"], "histogram");
        // The histogram: cumulative buckets, +Inf equal to the count, the
        // sum of what was observed.
        let h = "hotline_db_write_duration_seconds";
        let buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.name == format!("{h}_bucket"))
            .map(|s| {
                let le = &s.labels["le"];
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("le")
                };
                (le, s.value)
            })
            .collect();
        assert_eq!(buckets.len(), DB_WRITE_BUCKETS.len() + 1);
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
        );
        assert_eq!(
            value(&samples, &format!("{h}_bucket"), &[("le", "0.0005")]),
            1.0
        );
        assert_eq!(
            value(&samples, &format!("{h}_bucket"), &[("le", "0.005")]),
            4.0
        );
        assert_eq!(
            value(&samples, &format!("{h}_bucket"), &[("le", "10")]),
            5.0
        );
        assert_eq!(
            value(&samples, &format!("{h}_bucket"), &[("le", "+Inf")]),
            6.0
        );
        assert_eq!(value(&samples, &format!("{h}_count"), &[]), 6.0);
        let sum = value(&samples, &format!("{h}_sum"), &[]);
        assert!((sum - 20.0469).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn without_a_trunk_or_disks_their_families_are_left_out() {
        let text = Metrics::default().render(&Outside::default());
        let (_, types) = parse(&text);
        assert!(!types.contains_key("hotline_trunk_up"));
        assert!(!types.contains_key("hotline_disk_free_bytes"));
        assert!(types.contains_key("hotline_rtp_packets_received_total"));
    }

    #[test]
    fn a_calls_rtp_is_counted_with_its_loss_settled_when_the_socket_closes() {
        let metrics = Arc::new(Metrics::default());
        let mut count = RtpCount::new(metrics.clone());
        let packet = |seq: u16| {
            let mut out = Vec::new();
            let header = crate::media::rtp::RtpHeader {
                marker: false,
                payload_type: 0,
                sequence: seq,
                timestamp: u32::from(seq) * 160,
                ssrc: 42,
            };
            crate::media::rtp::write(&header, &[0xff; 160], &mut out);
            out
        };
        for seq in (0..10).chain(13..20) {
            count.datagram(&packet(seq));
        }
        // RTCP (a receiver report) and STUN are not RTP.
        count.datagram(&[0x81, 201, 0, 1, 0, 0, 0, 42]);
        count.datagram(&[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0]);
        assert_eq!(metrics.rtp_received.load(Ordering::Relaxed), 17);
        assert_eq!(
            metrics.rtp_lost.load(Ordering::Relaxed),
            0,
            "still in the window"
        );
        drop(count);
        assert_eq!(metrics.rtp_lost.load(Ordering::Relaxed), 3, "10, 11 and 12");
        assert!(is_rtp(&packet(1)));
        assert!(!is_rtp(&[0x81, 201, 0, 1, 0, 0, 0, 42, 0, 0, 0, 0]));
    }

    #[test]
    fn recording_failures_are_dated_when_their_count_grows() {
        let m = Metrics::default();
        m.refresh(&gauges(), None, 0, 1_000);
        assert_eq!(m.recording_failed_at_ms.load(Ordering::Relaxed), 0);
        m.refresh(&gauges(), None, 2, 2_000);
        m.refresh(&gauges(), None, 2, 3_000);
        assert_eq!(m.recording_failed_at_ms.load(Ordering::Relaxed), 2_000);
    }
}
