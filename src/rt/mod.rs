//! The runtime: the only layer with tokio, sockets, files, the database and
//! the clock. It owns the [`Engine`] and drives it (the contract is in
//! `crate::engine`): one driver task reads SIP (UDP directly, TCP through a
//! task per connection), RTP (a task per call socket), the clock and the
//! shutdown signal, feeds the engine and carries out its outputs. Around it:
//! the IVR loader and its reloader ([`ivr`]), lookups against the store
//! ([`lookups`]), the message writer thread ([`messages`]), the record
//! writer, and what operations watch: the figures of `/metrics`
//! ([`metrics`], the engine's gauges copied at most four times a
//! second) and the disk watcher behind `/api/health` ([`health`]).
//!
//! Invariants:
//! - Time comes from `tokio::time::Instant`, so a paused tokio clock
//!   controls the whole stack.
//! - Every RTP socket is opened on the engine's `OpenMedia` and closed on
//!   its `CloseMedia`, and its port goes back to the pool.
//! - Records go to the [`record_writer`] in the order the engine emits them;
//!   shutdown waits for the writer to drain them.

mod campaigns;
mod cti;
pub mod demo;
pub mod health;
pub mod ivr;
mod lookups;
pub mod media_ports;
mod messages;
pub mod metrics;
pub mod record_writer;
pub mod recordings;
mod reports;
mod sla;
mod tcp;
mod tls;
mod wallboard;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::api::cti::{CtiHub, CtiInput};
use crate::api::engine::EngineRequest;
use crate::api::{self, ApiState, Live};
use crate::config::Settings;
use crate::engine::{CallKey, Engine, EngineConfig, IvrCatalog, Output};
use crate::ivr::LookupAnswer;
use crate::sip::{Peer, Transport};
use crate::store::{Store, StoreError};
use ivr::IvrFiles;
use media_ports::PortPool;
use messages::MessageWriter;
use record_writer::RecordSink;
use recordings::RecordingWriter;

/// Why the server could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum RtError {
    /// A socket could not be bound.
    #[error("cannot listen on {what} {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The HTTPS certificate or key could not be read or made.
    #[error("HTTPS certificate {file}: {why}")]
    Tls {
        file: std::path::PathBuf,
        why: String,
    },
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// A flow is invalid, or a prompt file is missing or not 8 kHz
    /// 16-bit mono; the message names each file (and line).
    #[error("IVR flows refused:\n{0}")]
    Ivr(String),
    /// A scorecard file is invalid or unreadable; the message names the
    /// file and key.
    #[error("{0}")]
    Scorecards(String),
}

/// How long shutdown waits for the record writer to drain its queue.
const RECORD_FLUSH_LIMIT: Duration = Duration::from_secs(30);

/// The current moment on the clock tests can pause.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

pub(crate) fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

/// What the socket tasks send the driver.
enum Input {
    /// A SIP message from a TCP connection (already framed).
    Sip {
        bytes: Vec<u8>,
        source: Peer,
    },
    /// An RTP datagram on a call's socket.
    Rtp {
        call: CallKey,
        source: SocketAddr,
        bytes: Vec<u8>,
    },
    /// A TCP connection opened: where to write messages for that peer.
    TcpOpened {
        peer: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
    },
    TcpClosed {
        peer: SocketAddr,
    },
    /// The store answered an IVR lookup.
    Lookup {
        call: CallKey,
        token: u32,
        answer: LookupAnswer,
    },
    /// The store said who the caller is (for their queue priority).
    Standing {
        call: CallKey,
        vip: bool,
        open_complaint: bool,
    },
    /// The store answered a phone's credentials lookup (`Err`: it could
    /// not be read).
    Credentials {
        token: u64,
        creds: Result<Option<(i64, String)>, ()>,
    },
}

/// A call's RTP socket: a tokio handle the reader task awaits on, and a
/// plain non-blocking handle to send from.
struct MediaSocket {
    /// Sending goes straight to the kernel: tokio's `try_send_to` answers
    /// WouldBlock until the reactor has seen the new socket become writable,
    /// which silently dropped the first packets of a prompt under load.
    sender: std::net::UdpSocket,
    reader: JoinHandle<()>,
    port: u16,
}

/// Runs the server until SIGINT/SIGTERM, then shuts down cleanly: stop taking
/// calls, give calls in progress the grace period, hang up the rest, flush
/// the records.
pub async fn serve(settings: Settings) -> Result<(), RtError> {
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing a SIGTERM handler cannot fail on unix");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
    };
    serve_until(settings, shutdown).await
}

/// Like [`serve`], but stops when `shutdown` completes (tests use this).
pub async fn serve_until(
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RtError> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|source| RtError::DataDir {
        path: settings.data_dir.clone(),
        source,
    })?;
    let ivr_files = IvrFiles::from_settings(&settings);
    let catalog = ivr::load_catalog(&ivr_files, 1).map_err(RtError::Ivr)?;
    for c in &settings.campaigns {
        if let crate::campaign::Mode::Survey { flow } = &c.mode
            && catalog.flows.flow(flow).is_none()
        {
            return Err(RtError::Ivr(format!(
                "campaign `{}` runs flow `{flow}`, which is not among the flows in {}",
                c.name,
                settings.flows_dir.display()
            )));
        }
    }
    let store = Store::connect(&settings.database_url).await?;
    if settings.demo_data && demo::seed(&store, &settings.sip_realm, wall_ms()).await? {
        info!(
            users = %demo::DEMO_USERS.iter().map(|u| u.0).collect::<Vec<_>>().join(", "),
            password = demo::DEMO_PASSWORD,
            "empty database: demo customers, outlets, tickets and users added (server.demo_data)"
        );
    }
    let (sink, writer) = record_writer::spawn(store.clone());
    // Before any call: recordings a crash cut off are made whole.
    recordings::repair_unfinished(&store, &settings.data_dir, &sink).await;

    let (udp, tcp) = bind_sip(settings.sip_addr).await?;
    let sip_addr = udp.local_addr().map_err(|source| RtError::Bind {
        what: "SIP/UDP",
        addr: settings.sip_addr,
        source,
    })?;
    let http = TcpListener::bind(settings.http_addr)
        .await
        .map_err(|source| RtError::Bind {
            what: "HTTP",
            addr: settings.http_addr,
            source,
        })?;
    let http_addr = http.local_addr().unwrap_or(settings.http_addr);
    let https = match settings.https_addr {
        Some(addr) => {
            let names = [settings.advertised_ip, addr.ip()]
                .into_iter()
                .filter(|ip| !ip.is_unspecified())
                .collect::<Vec<_>>();
            let cert = tls::certificate(settings.tls_files.as_ref(), &settings.data_dir, &names)?;
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| RtError::Bind {
                    what: "HTTPS",
                    addr,
                    source,
                })?;
            let bound = listener.local_addr().unwrap_or(addr);
            info!(
                cert = %cert.cert_file.display(),
                fingerprint = %cert.fingerprint,
                self_signed = cert.self_signed,
                "HTTPS on {bound}: agents' browsers see this certificate"
            );
            Some((listener, cert, bound))
        }
        None => None,
    };

    let mut live = Live::new(wall_ms(), sink.pending_counter());
    live.metrics = Arc::new(metrics::Metrics::new(sink.db_writes()));
    let live = Arc::new(live);
    let (stop_http_tx, mut stop_http_rx) = watch::channel(false);
    let (board_feed, board_hub, board_tasks) =
        wallboard::start(&store, &settings, stop_http_tx.subscribe()).await;
    let (agents_tx, agents_rx) = mpsc::channel::<CtiInput>(4096);
    let (engine_tx, engine_rx) = mpsc::channel::<EngineRequest>(64);
    let hub = Arc::new(CtiHub::new(agents_tx));
    let mut api_state = ApiState::configured(
        store.clone(),
        live.clone(),
        settings.desk.clone(),
        &settings.sip_realm,
    )
    .with_queues(settings.queues.iter().map(|q| q.name.clone()));
    api_state.cti = Some(hub.clone());
    api_state.wallboard = Some(board_hub);
    api_state.engine = Some(engine_tx.clone());
    api_state.qa = Some(api::qa::config(
        load_scorecards(&settings.qa.scorecards_dir)?,
        settings.qa.sample_per_agent,
    ));
    api_state.campaigns = Some(api::campaigns::config(settings.campaigns.clone()));
    api_state.outbound_daily_cap = settings.outbound.daily_cap;
    api_state.monitoring = settings.monitoring.clone();
    api_state.metrics_token = settings.operations.metrics_token.as_deref().map(Arc::from);
    api_state.recordings = Some(api::recordings::RecordingAccessConfig::new(
        settings.data_dir.clone(),
        settings.recording.agents_listen,
    ));
    let app = api::app(api_state);
    let https_task = https.map(|(listener, cert, bound)| {
        let task = tokio::spawn(tls::serve(
            listener,
            cert.config,
            app.clone(),
            stop_http_tx.subscribe(),
        ));
        (task, bound)
    });
    let https_text = https_task
        .as_ref()
        .map_or_else(String::new, |(_, bound)| format!(", https https://{bound}"));
    let sla_task = tokio::spawn(sla::watch_breaches(store.clone(), stop_http_tx.subscribe()));
    let rollup_task = tokio::spawn(reports::keep_rollups(
        store.clone(),
        crate::store::reports::ReportTerms {
            time_zone: settings.desk.time_zone.clone(),
            service_level_ms: i64::from(settings.monitoring.service_level_secs) * 1000,
            fcr_days: settings.monitoring.fcr_days,
        },
        stop_http_tx.subscribe(),
    ));
    let follow_up_task = tokio::spawn(campaigns::enroll_completed(
        store.clone(),
        settings.campaigns.clone(),
        stop_http_tx.subscribe(),
    ));
    let (attempts_tx, attempts_rx) = mpsc::unbounded_channel();
    let dialer_wake = Arc::new(tokio::sync::Notify::new());
    let dialer_task = tokio::spawn(
        campaigns::Dialer {
            store: store.clone(),
            campaigns: settings.campaigns.clone(),
            lines: settings.outbound.limits.trunk_lines,
            daily_cap: settings.outbound.daily_cap,
            sla: settings.desk.sla.clone(),
            owner: campaigns::instance_name(),
            engine: engine_tx.clone(),
            live: live.clone(),
            in_flight: HashMap::new(),
            wake: dialer_wake.clone(),
        }
        .run(attempts_rx),
    );
    let disk_task = tokio::spawn(health::watch_disks(
        health::watched_paths(&settings.data_dir, &settings.database_url),
        health::DiskLimits {
            min_free_percent: settings.operations.disk_min_free_percent,
            min_free_bytes: settings.operations.disk_min_free_bytes,
        },
        live.metrics.clone(),
        stop_http_tx.subscribe(),
    ));
    let retention_task = tokio::spawn(recordings::retention(
        store.clone(),
        settings.data_dir.clone(),
        settings.recording.clone(),
        stop_http_tx.subscribe(),
    ));
    let http_task = tokio::spawn(async move {
        let stop = async move {
            let _ = stop_http_rx.wait_for(|s| *s).await;
        };
        // The CTI websocket's events are written when the engine has them,
        // not in answer to the client: with Nagle each one waited for the
        // client's delayed ACK, some 20 ms (docs/benchmarks.md).
        let http = axum::serve::ListenerExt::tap_io(http, |tcp: &mut tokio::net::TcpStream| {
            let _ = tcp.set_nodelay(true);
        });
        if let Err(e) = axum::serve(http, app).with_graceful_shutdown(stop).await {
            warn!(error = %e, "HTTP server stopped with an error");
        }
    });

    let (input_tx, input_rx) = mpsc::channel::<Input>(16_384);
    // What a caller waits on — their key presses (telephone-event RTP) and
    // the answers to lookups — comes on a channel of its own: under load,
    // behind a backlog of audio on the input channel, the IVR would answer
    // late (docs/benchmarks.md, "IVR responsiveness").
    let (urgent_tx, urgent_rx) = mpsc::channel::<Input>(4096);
    let tcp_task = tokio::spawn(tcp::accept_loop(
        tcp,
        input_tx.clone(),
        settings.max_message_bytes,
    ));

    let mut cfg = EngineConfig::from_settings(&settings);
    cfg.sip_port = sip_addr.port();
    // Where the test caller's line reaches our own SIP socket.
    cfg.self_sip = Some(if sip_addr.ip().is_unspecified() {
        let loopback = if sip_addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        SocketAddr::new(loopback, sip_addr.port())
    } else {
        sip_addr
    });
    if let Some((ice_servers, reattach)) = settings.webrtc.clone() {
        // One certificate for every browser leg of this run; browsers pin
        // it per call by the fingerprint in our SDP answer.
        match crate::media::webrtc::Identity::generate() {
            Ok(identity) => {
                cfg.webrtc = Some(crate::engine::WebRtcConfig {
                    identity,
                    ice_servers,
                    reattach,
                });
            }
            Err(e) => warn!(error = %e, "no browser softphones: agents need SIP phones"),
        }
    }
    let ivr_summary = format!(
        "{} flows, {} nodes, {} prompts ({}, starting in {})",
        catalog.flows.flows.len(),
        catalog.flows.node_count(),
        catalog.prompt_count(),
        catalog
            .prompts
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join("+"),
        catalog.language
    );
    let mut engine = Engine::new(cfg, Arc::new(catalog), now(), wall_ms(), fastrand::u64(..));
    if let Some(every) = settings.operations.trunk_options
        && engine.keep_trunk_alive(now(), every)
    {
        info!(
            every_s = every.as_secs(),
            "trunk keepalive: OPTIONS to the outbound proxy"
        );
    }
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let queue_names = ivr_files.queues.clone();
    let reloader = settings
        .reload_flows
        .then(|| ivr::spawn_reloader(ivr_files, 1, reload_tx));
    let (config_tx, config_rx) = mpsc::channel(4);
    let config_task = tokio::spawn(reload_config_on_sighup(
        settings.reload_from.clone(),
        config_tx,
    ));
    println!(
        "hotline ready: sip udp+tcp {sip_addr}, http http://{http_addr}{https_text}, database {}, rtp {}-{}, ivr {ivr_summary}",
        store.backend().as_str(),
        settings.rtp_ports.0,
        settings.rtp_ports.1,
    );

    let mut driver = Driver {
        engine,
        udp: Arc::new(udp),
        input_tx,
        urgent_tx,
        tcp_peers: HashMap::new(),
        media: HashMap::new(),
        ports: PortPool::new(settings.rtp_ports),
        rtp_bind_ip: settings.sip_addr.ip(),
        advertised_ip: settings.advertised_ip,
        messages: MessageWriter::spawn(settings.data_dir.clone(), sink.clone()),
        recordings: RecordingWriter::spawn(
            settings.data_dir.clone(),
            sink.clone(),
            live.recording_failures.clone(),
        ),
        sink,
        store: store.clone(),
        live: live.clone(),
        overloaded: false,
        overloaded_until: None,
        agents: cti::spawn(hub, store.clone()),
        queue_names,
        attempts: attempts_tx,
        dialer_wake: dialer_wake.clone(),
        metrics_due: now(),
        wallboard: board_feed,
    };
    driver
        .run(
            Channels {
                inputs: input_rx,
                urgent: urgent_rx,
                agents: agents_rx,
                requests: engine_rx,
                reloads: reload_rx,
                configs: config_rx,
            },
            shutdown,
            settings.shutdown_grace,
        )
        .await;

    tcp_task.abort();
    config_task.abort();
    if let Some(r) = reloader {
        r.abort();
    }
    let Driver {
        sink,
        media,
        messages,
        recordings,
        attempts,
        ..
    } = driver;
    // The dialer ends when this is gone (see below).
    drop(attempts);
    // Finishes the messages and recordings still open and queues their
    // records; each holds a sink, which must be gone for the writer to end.
    drop(messages);
    drop(recordings);
    for (_, m) in media {
        m.reader.abort();
    }
    // Dropping the last sink lets the writer finish its queue and stop. If
    // the database is down it retries; we wait a bounded time so a dead
    // database cannot keep the process from ever exiting, and say what is
    // lost.
    let pending = sink.pending_counter();
    drop(sink);
    match tokio::time::timeout(RECORD_FLUSH_LIMIT, writer).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "record writer ended abnormally"),
        Err(_) => tracing::error!(
            unwritten = pending.load(Ordering::Relaxed),
            "database still unavailable at shutdown: call records not written"
        ),
    }
    let _ = stop_http_tx.send(true);
    let _ = http_task.await;
    if let Some((task, _)) = https_task {
        let _ = task.await;
    }
    let _ = sla_task.await;
    let _ = rollup_task.await;
    let _ = retention_task.await;
    let _ = disk_task.await;
    let _ = follow_up_task.await;
    for task in board_tasks {
        let _ = task.await;
    }
    // Ends once the driver (the attempts' sender) is gone: every attempt
    // the engine ended is written.
    let _ = dialer_task.await;
    store.close().await;
    info!("hotline stopped");
    Ok(())
}

/// Reads and checks every scorecard (`*.toml`) in `dir`; a missing folder
/// means no scorecards.
fn load_scorecards(dir: &std::path::Path) -> Result<Vec<crate::qa::Scorecard>, RtError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            warn!(dir = %dir.display(), "no scorecards folder: QA reviews cannot be scored");
            return Ok(Vec::new());
        }
        Err(e) => {
            return Err(RtError::Scorecards(format!(
                "cannot read the scorecards folder {}: {e}",
                dir.display()
            )));
        }
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            RtError::Scorecards(format!("cannot read scorecard {}: {e}", path.display()))
        })?;
        files.push((path.display().to_string(), text));
    }
    let cards =
        crate::qa::load_scorecards(&files).map_err(|e| RtError::Scorecards(e.to_string()))?;
    info!(
        scorecards = %cards.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
        "QA scorecards loaded"
    );
    Ok(cards)
}

/// Binds SIP UDP and TCP on the same port. With port 0 the system picks the
/// UDP port and TCP follows it (retrying if that TCP port is taken).
async fn bind_sip(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), RtError> {
    let bind_err = |what, source| RtError::Bind { what, addr, source };
    for _ in 0..20 {
        let udp = bind_sip_udp(addr).map_err(|e| bind_err("SIP/UDP", e))?;
        let actual = udp.local_addr().map_err(|e| bind_err("SIP/UDP", e))?;
        match TcpListener::bind(actual).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() != 0 => return Err(bind_err("SIP/TCP", e)),
            Err(_) => continue,
        }
    }
    Err(bind_err(
        "SIP/TCP",
        std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no port free for UDP and TCP",
        ),
    ))
}

/// The SIP/UDP socket, with a receive buffer large enough to ride out a
/// burst: the default (about 200 KB) overflowed at 2,000 calls a second in
/// the benchmark, and every dropped INVITE comes back as retransmissions.
fn bind_sip_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // The kernel caps this at net.core.rmem_max; a smaller buffer is no
    // reason to refuse to start.
    let _ = socket.set_recv_buffer_size(SIP_RECV_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Requested SIP/UDP receive buffer, bytes.
const SIP_RECV_BUFFER: usize = 4 << 20;

struct Driver {
    engine: Engine,
    udp: Arc<UdpSocket>,
    input_tx: mpsc::Sender<Input>,
    /// Key presses and lookup answers (see where the channel is made).
    urgent_tx: mpsc::Sender<Input>,
    tcp_peers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    media: HashMap<CallKey, MediaSocket>,
    ports: PortPool,
    rtp_bind_ip: std::net::IpAddr,
    /// What peers are told our media address is (an RTP socket bound to
    /// every interface has no address of its own to tell).
    advertised_ip: std::net::IpAddr,
    sink: RecordSink,
    messages: MessageWriter,
    recordings: RecordingWriter,
    store: Store,
    live: Arc<Live>,
    overloaded: bool,
    overloaded_until: Option<tokio::time::Instant>,
    /// Events for agents' websockets, in order.
    agents: mpsc::UnboundedSender<cti::CtiOut>,
    /// Ended outbound attempts, for the dialer.
    attempts: mpsc::UnboundedSender<crate::engine::Attempt>,
    /// Wakes the dialer at once (an agent became ready).
    dialer_wake: Arc<tokio::sync::Notify>,
    /// When the gauges of `/metrics` are refreshed next.
    metrics_due: std::time::Instant,
    /// Today's figures and the floor's snapshots for the wallboards.
    wallboard: wallboard::Feed,
    /// The configured queue names the flows reloader checks queue nodes
    /// against.
    queue_names: Arc<std::sync::RwLock<Vec<String>>>,
}

/// Timers firing this late mean the driver cannot keep the calls' 20 ms
/// packet clock: take no new calls.
const OVERLOAD_LAG: Duration = Duration::from_millis(200);
/// Inputs (RTP, TCP SIP) waiting beyond this mean the same.
const OVERLOAD_BACKLOG: usize = 4096;
/// How long new calls stay refused after the last sign of overload.
const OVERLOAD_HOLD: Duration = Duration::from_secs(1);

/// How often the engine's gauges are copied into the metrics: often enough
/// for a scrape every few seconds, rarely enough to cost nothing.
const METRICS_EVERY: Duration = Duration::from_millis(250);

/// What the driver reads besides its sockets and the clock.
struct Channels {
    inputs: mpsc::Receiver<Input>,
    /// Key presses and lookup answers (see where the channel is made).
    urgent: mpsc::Receiver<Input>,
    agents: mpsc::Receiver<CtiInput>,
    /// What the API asks of the engine (test calls, recording pauses).
    requests: mpsc::Receiver<EngineRequest>,
    reloads: mpsc::Receiver<Arc<IvrCatalog>>,
    configs: mpsc::Receiver<Settings>,
}

impl Driver {
    async fn run(
        &mut self,
        channels: Channels,
        shutdown: impl std::future::Future<Output = ()>,
        grace: Duration,
    ) {
        let Channels {
            mut inputs,
            mut urgent,
            mut agents,
            mut requests,
            mut reloads,
            mut configs,
        } = channels;
        tokio::pin!(shutdown);
        let mut buf = vec![0u8; 65_536];
        let mut shutting_down = false;
        // Once draining: first the grace period for calls in progress, then
        // a short wait for our BYEs to be answered. Transactions that only
        // absorb retransmissions (Timer I, J, L) are not waited for.
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut hung_up = false;
        loop {
            if shutting_down {
                let now_t = tokio::time::Instant::now();
                if !hung_up
                    && (self.engine.active_calls() == 0 || deadline.is_some_and(|d| now_t >= d))
                {
                    hung_up = true;
                    if self.engine.active_calls() > 0 {
                        info!(
                            calls = self.engine.active_calls(),
                            "grace period over: hanging up"
                        );
                    }
                    self.engine.hangup_all(now());
                    self.flush().await;
                    deadline = Some(now_t + Duration::from_secs(4));
                }
                if hung_up
                    && (self.engine.calls() == 0 && self.media.is_empty()
                        || deadline.is_some_and(|d| now_t >= d))
                {
                    break;
                }
            }
            // Due timers run before any new input, so a flood of SIP or RTP
            // can never hold back the 20 ms packet clock of the calls.
            let mut wake = self.engine.poll_timeout();
            let lag = wake.map_or(Duration::ZERO, |t| now().saturating_duration_since(t));
            self.watch_load(lag, inputs.len());
            if wake.is_some_and(|t| t <= now()) {
                self.engine.handle_timeout(now());
                self.flush().await;
                wake = self.engine.poll_timeout();
            }
            // The wallboard's snapshot, when due, and the wake-up for the next.
            self.wallboard.publish_if_due(&self.engine, now());
            let wake = [wake, self.wallboard.due()].into_iter().flatten().min();
            let wake = [wake, Some(self.refresh_metrics_if_due())]
                .into_iter()
                .flatten()
                .min();
            let wake = wake.map(tokio::time::Instant::from_std);
            let stop_wake = deadline;
            tokio::select! {
                _ = &mut shutdown, if !shutting_down => {
                    info!(calls = self.engine.active_calls(), "shutting down: no new calls");
                    shutting_down = true;
                    self.live.draining.store(true, Ordering::Relaxed);
                    self.engine.begin_shutdown();
                    deadline = Some(tokio::time::Instant::now() + grace);
                }
                r = self.udp.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        let peer = Peer { addr: from, transport: Transport::Udp };
                        self.engine.handle_sip(now(), &buf[..n], peer);
                    }
                    // ICMP port unreachable from an earlier send shows up
                    // here on some systems; it concerns no one now.
                    Err(e) => debug!(error = %e, "SIP/UDP receive error"),
                },
                Some(input) = inputs.recv() => self.on_input(input),
                Some(input) = urgent.recv() => self.on_input(input),
                Some(input) = agents.recv() => self.on_agent(input),
                Some(request) = requests.recv() => self.on_request(request).await,
                Some(settings) = configs.recv() => self.reconfigure(settings),
                Some(catalog) = reloads.recv() => {
                    info!(version = catalog.version, "IVR version live for new calls");
                    self.engine.set_ivr(catalog);
                }
                _ = sleep_until(wake) => self.engine.handle_timeout(now()),
                _ = sleep_until(stop_wake), if shutting_down => {}
            }
            self.flush().await;
        }
    }

    /// Sets the engine's overload flag from how late the timers fire and
    /// how many inputs wait; the flag stays up for [`OVERLOAD_HOLD`] after
    /// the last sign of it, so it does not flap.
    fn watch_load(&mut self, lag: Duration, backlog: usize) {
        let t = tokio::time::Instant::now();
        if lag > OVERLOAD_LAG || backlog > OVERLOAD_BACKLOG {
            self.overloaded_until = Some(t + OVERLOAD_HOLD);
        }
        let overloaded = self.overloaded_until.is_some_and(|until| t < until);
        if overloaded != self.overloaded {
            self.overloaded = overloaded;
            if overloaded {
                warn!(
                    lag_ms = lag.as_millis() as u64,
                    backlog, "overloaded: new calls get 503"
                );
            } else {
                info!("load back to normal: taking new calls");
            }
            self.engine.set_overloaded(overloaded);
            self.live
                .metrics
                .overloaded
                .store(overloaded, Ordering::Relaxed);
        }
    }

    /// Copies the engine's gauges and the trunk's status into the metrics
    /// when [`METRICS_EVERY`] has passed; returns when it is due next.
    fn refresh_metrics_if_due(&mut self) -> std::time::Instant {
        let t = now();
        if t >= self.metrics_due {
            self.live.metrics.refresh(
                &self.engine.gauges(),
                self.engine.trunk_status(),
                self.live.recording_failures.load(Ordering::Relaxed),
                wall_ms(),
            );
            self.metrics_due = t + METRICS_EVERY;
        }
        self.metrics_due
    }

    fn on_input(&mut self, input: Input) {
        match input {
            Input::Sip { bytes, source } => self.engine.handle_sip(now(), &bytes, source),
            Input::Rtp {
                call,
                source,
                bytes,
            } => self.engine.handle_rtp(now(), call, source, &bytes),
            Input::TcpOpened { peer, writer } => {
                self.tcp_peers.insert(peer, writer);
            }
            Input::TcpClosed { peer } => {
                self.tcp_peers.remove(&peer);
            }
            Input::Lookup {
                call,
                token,
                answer,
            } => self.engine.lookup_done(now(), call, token, answer),
            Input::Standing {
                call,
                vip,
                open_complaint,
            } => self.engine.standing_done(now(), call, vip, open_complaint),
            Input::Credentials { token, creds } => match creds {
                Ok(creds) => self.engine.credentials_done(now(), token, creds),
                Err(()) => self.engine.credentials_failed(now(), token),
            },
        }
    }

    /// A configuration read again on SIGHUP: its queues, not-ready reasons
    /// and ACD rules take effect unless a flow in use names a queue it no
    /// longer has. (Everything else in it needs a restart.)
    fn reconfigure(&mut self, settings: Settings) {
        let names: Vec<String> = settings.queues.iter().map(|q| q.name.clone()).collect();
        let missing: Vec<String> = self
            .engine
            .ivr_queues()
            .into_iter()
            .filter(|q| !names.contains(q))
            .collect();
        if !missing.is_empty() {
            tracing::error!(
                missing = %missing.join(", "),
                "configuration not reloaded: the IVR flows send callers to queues it no longer has"
            );
            return;
        }
        *self
            .queue_names
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = names.clone();
        self.engine.set_desk_config(
            now(),
            settings.queues,
            settings.not_ready_reasons,
            settings.acd_rules,
        );
        info!(queues = %names.join(", "), "configuration reloaded: queues, not-ready reasons and ACD rules");
    }

    fn on_agent(&mut self, input: CtiInput) {
        match input {
            CtiInput::Connected(profile) => self.engine.agent_connected(now(), profile),
            CtiInput::Disconnected(agent) => self.engine.agent_disconnected(now(), agent),
            CtiInput::Command(agent, req) => self.engine.agent_command(now(), agent, req),
        }
    }

    async fn on_request(&mut self, request: EngineRequest) {
        match request {
            EngineRequest::Start { caller, sdp, reply } => {
                let started = self.engine.start_test_call(now(), &caller);
                // The page's socket is bound here, before its offer is
                // answered with the socket's address.
                self.flush().await;
                let answer = match started {
                    Ok(id) => self
                        .engine
                        .test_call_offer(now(), &id, &sdp)
                        .map(|sdp| (id, sdp)),
                    Err(e) => Err(e),
                };
                let _ = reply.send(answer);
            }
            EngineRequest::Status { id, reply } => {
                let _ = reply.send(self.engine.test_call_status(&id));
            }
            EngineRequest::HangUp { id, reply } => {
                let _ = reply.send(self.engine.hang_up_test_call(now(), &id));
            }
            EngineRequest::PauseRecording {
                call_id,
                paused,
                by,
                agent,
                reply,
            } => {
                let done = self
                    .engine
                    .pause_recording_for(now(), &call_id, paused, &by, agent);
                let _ = reply.send(done);
            }
            EngineRequest::Monitor {
                call_id,
                supervisor,
                mode,
                reply,
            } => {
                let done = match mode {
                    Some(mode) => self
                        .engine
                        .monitor(now(), supervisor, &call_id, mode)
                        .map(Some),
                    None => self
                        .engine
                        .stop_monitor(now(), supervisor, &call_id)
                        .map(|()| None),
                };
                let _ = reply.send(done);
            }
            EngineRequest::Dial { order, reply } => {
                let _ = reply.send(self.engine.dial(now(), order));
            }
            EngineRequest::AgentRoom { queue, reply } => {
                let _ = reply.send(self.engine.agent_room(&queue));
            }
        }
    }

    /// Carries out everything the engine asked for.
    async fn flush(&mut self) {
        while let Some(out) = self.engine.poll_output() {
            match out {
                Output::Transmit { dest, bytes } => self.send_sip(dest, bytes).await,
                Output::Rtp { call, dest, bytes } => {
                    if let Some(m) = self.media.get(&call) {
                        // Never wait on RTP: a packet that cannot leave now
                        // (kernel buffer full) is late anyway.
                        match m.sender.send_to(&bytes, dest) {
                            Ok(_) if metrics::is_rtp(&bytes) => {
                                self.live.metrics.rtp_sent.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {}
                            Err(e) => debug!(call, error = %e, "RTP send failed"),
                        }
                    }
                }
                Output::OpenMedia { call } => match self.open_media(call) {
                    Some(local) => self.engine.media_opened(now(), call, local),
                    None => self.engine.media_failed(now(), call),
                },
                Output::CloseMedia { call } => {
                    if let Some(m) = self.media.remove(&call) {
                        m.reader.abort();
                        self.ports.release(m.port);
                    }
                }
                Output::Record(op) => {
                    self.wallboard.record(&op);
                    self.sink.send(op);
                }
                Output::Lookup {
                    call,
                    token,
                    what,
                    key,
                } => {
                    let (store, tx) = (self.store.clone(), self.urgent_tx.clone());
                    tokio::spawn(async move {
                        let answer = lookups::run(&store, what, &key).await;
                        let _ = tx
                            .send(Input::Lookup {
                                call,
                                token,
                                answer,
                            })
                            .await;
                    });
                }
                Output::MessageStart {
                    call,
                    call_id,
                    file,
                } => self.messages.start(call, call_id, file),
                Output::MessageAudio { call, samples } => self.messages.audio(call, samples),
                Output::MessageEnd { call } => self.messages.end(call),
                Output::RecordingStart {
                    call,
                    call_id,
                    file,
                    started_at,
                } => self.recordings.start(call, call_id, file, started_at),
                Output::RecordingAudio { call, chunk } => self.recordings.audio(call, chunk),
                Output::RecordingEnd { call, keep, agents } => {
                    self.recordings.end(call, keep, agents);
                }
                Output::Cti { agent, event } => {
                    // An agent ready is a call the dialer may place now
                    // (progressive, callbacks), not at its next round.
                    if matches!(&*event, crate::cti::Event::State { state, .. } if state.name == "ready")
                    {
                        self.dialer_wake.notify_one();
                    }
                    let _ = self.agents.send(cti::CtiOut::Event(agent, event));
                }
                Output::Offer { agent, call } => {
                    let _ = self.agents.send(cti::CtiOut::Offer(agent, call));
                }
                Output::Standing { call, caller } => {
                    let (store, tx) = (self.store.clone(), self.urgent_tx.clone());
                    tokio::spawn(async move {
                        // Unknown callers and an unreadable store leave the
                        // IVR's priority as it is.
                        let Ok(pop) = store.screen_pop(&caller).await else {
                            return;
                        };
                        let vip = pop.customer.as_ref().is_some_and(|c| c.vip);
                        let open_complaint = pop
                            .open_tickets
                            .iter()
                            .any(|t| t.kind == crate::ticket::TicketKind::Complaint);
                        let _ = tx
                            .send(Input::Standing {
                                call,
                                vip,
                                open_complaint,
                            })
                            .await;
                    });
                }
                Output::CallbackRequest {
                    call_id,
                    number,
                    campaign,
                    since_at,
                } => {
                    let store = self.store.clone();
                    tokio::spawn(campaigns::enroll_callback(
                        store, call_id, number, campaign, since_at,
                    ));
                }
                Output::Attempted(attempt) => {
                    // The dialer ends only after the driver: nobody to
                    // tell is a dialer that failed, already logged.
                    let _ = self.attempts.send(*attempt);
                }
                Output::Credentials { token, username } => {
                    let (store, tx) = (self.store.clone(), self.urgent_tx.clone());
                    tokio::spawn(async move {
                        let creds = store.sip_credentials(&username).await.map_err(|e| {
                            warn!(username, error = %e, "cannot read SIP credentials");
                        });
                        let _ = tx.send(Input::Credentials { token, creds }).await;
                    });
                }
            }
        }
        self.live
            .active_calls
            .store(self.engine.active_calls(), Ordering::Relaxed);
        self.live
            .calls_total
            .store(self.engine.stats().calls_total, Ordering::Relaxed);
    }

    async fn send_sip(&mut self, dest: Peer, bytes: Vec<u8>) {
        match dest.transport {
            Transport::Udp => {
                if let Err(e) = self.udp.send_to(&bytes, dest.addr).await {
                    debug!(%dest, error = %e, "SIP/UDP send failed");
                }
            }
            Transport::Tcp => match self.tcp_peers.get(&dest.addr) {
                Some(w) => {
                    if w.try_send(bytes).is_err() {
                        warn!(%dest, "TCP connection is gone or stuck; message dropped");
                    }
                }
                None => {
                    // The caller's connection closed: open one (RFC 3261
                    // §18.2.2 lets us reach the Via/Contact address anew).
                    tcp::connect_and_send(dest.addr, bytes, self.input_tx.clone());
                }
            },
        }
    }

    /// Binds a UDP socket from the RTP port range for a call.
    fn open_media(&mut self, call: CallKey) -> Option<SocketAddr> {
        for _ in 0..16 {
            let port = self.ports.take()?;
            let addr = SocketAddr::new(self.rtp_bind_ip, port);
            let bound = std::net::UdpSocket::bind(addr).and_then(|s| {
                s.set_nonblocking(true)?;
                let sender = s.try_clone()?;
                Ok((UdpSocket::from_std(s)?, sender))
            });
            let (socket, sender) = match bound {
                Ok(pair) => pair,
                Err(e) => {
                    // Someone else holds this port; skip it for a while.
                    debug!(port, error = %e, "RTP port busy");
                    self.ports.release(port);
                    continue;
                }
            };
            let mut local = socket.local_addr().ok()?;
            if local.ip().is_unspecified() {
                local.set_ip(self.advertised_ip);
            }
            let reader = tokio::spawn(read_rtp(
                socket,
                call,
                self.input_tx.clone(),
                self.urgent_tx.clone(),
                metrics::RtpCount::new(self.live.metrics.clone()),
            ));
            self.media.insert(
                call,
                MediaSocket {
                    sender,
                    reader,
                    port,
                },
            );
            return Some(local);
        }
        None
    }
}

/// Reads the configuration again on each SIGHUP and hands the driver what
/// validates; a bad file is logged and changes nothing.
async fn reload_config_on_sighup(
    from: Option<(std::path::PathBuf, crate::config::Overrides)>,
    tx: mpsc::Sender<Settings>,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            let Some((path, overrides)) = from.clone() else {
                warn!("SIGHUP: started without a configuration file, nothing to reload");
                continue;
            };
            let loaded = tokio::task::spawn_blocking(move || {
                let mut config =
                    crate::config::Config::load(Some(&path)).map_err(|e| e.to_string())?;
                config.apply(&overrides);
                config.validate().map_err(|e| e.to_string())
            })
            .await;
            match loaded {
                Ok(Ok(settings)) => {
                    if tx.send(settings).await.is_err() {
                        return;
                    }
                }
                Ok(Err(e)) => tracing::error!(error = %e, "configuration not reloaded"),
                Err(e) => warn!(error = %e, "configuration reload failed"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (from, tx);
        std::future::pending::<()>().await;
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// An RTP packet with a dynamic payload type: we negotiate only PCMU (0)
/// and PCMA (8) for audio, so that is telephone-event, a key press.
fn is_telephone_event(packet: &[u8]) -> bool {
    packet.len() >= 12 && packet[0] >> 6 == 2 && (96..=127).contains(&(packet[1] & 0x7f))
}

/// Reads one call's RTP socket into the driver until the call closes it;
/// key presses go on the urgent channel. `count` counts the packets and
/// their loss as they arrive (and settles the loss when the task ends).
async fn read_rtp(
    socket: UdpSocket,
    call: CallKey,
    tx: mpsc::Sender<Input>,
    urgent: mpsc::Sender<Input>,
    mut count: metrics::RtpCount,
) {
    let mut buf = vec![0u8; 2048];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, source)) => {
                let bytes = buf[..n].to_vec();
                count.datagram(&bytes);
                let key_press = is_telephone_event(&bytes);
                let input = Input::Rtp {
                    call,
                    source,
                    bytes,
                };
                let sent = if key_press {
                    urgent.send(input).await
                } else {
                    tx.send(input).await
                };
                if sent.is_err() {
                    return;
                }
            }
            Err(e) => {
                // ICMP errors from earlier sends surface here; keep reading.
                debug!(call, error = %e, "RTP receive error");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}
