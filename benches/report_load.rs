//! The managers' reports over a month of 5,000,000 calls (by default), on
//! SQLite and PostgreSQL: how long each report takes for the month by day
//! and for one day by hour, with the rollups empty (cold: the first call
//! report counts every hour of the range and keeps it) and kept (warm),
//! and what counting the month from the records takes without them.
//!
//! Run: `cargo bench --bench report_load -- [--backend sqlite|postgres|both]
//! [--calls N] [--rounds N]` (build it with `CARGO_TARGET_DIR=/work/bench-target
//! --release`, as the other load tools).
//!
//! The database is built once per size and reused while its marker row
//! (`bench_marker`) matches: SQLite `$CARGO_TARGET_DIR/report_load_bench/k<N>.db`
//! (`target/` without it), PostgreSQL database `hotline_reports_k<N>` on the
//! server of `HOTLINE_BENCH_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, used only to create it).
//!
//! The month is March 2025 in Asia/Shanghai. Generated in Rust from a fixed
//! seed and written with multi-row inserts into the indexed tables, in the
//! order the record writer writes (by arrival), the report triggers on:
//! - calls by a daily profile (quiet at night, peaks at 10:00 and 15:00),
//!   in five queues (repair 40 %, general 25 %, install 20 %, complaint
//!   10 %, vip 5 %); 4 % stay in the IVR; of the queued, 88 % answered
//!   (waits exponential, mean 12 s: about 81 % within 20 s), 7 %
//!   abandoned after 5–180 s, 1.5 % callbacks, 3.5 % let go by the queue;
//!   3 % of the answered transferred; talk 60–600 s, hold on 30 % of them,
//!   wrap-up 10–60 s; plus 4 % outbound survey attempts, 60 % answered;
//! - 60 % of callers are customers (800,000 of them, a quarter with a
//!   second number), 40 % unknown numbers (1,000,000): repeat callers
//!   for first-call resolution come from that;
//! - 1,200 agents, each call to the agent free longest; every answered
//!   call leaves three state changes (on_call, wrap_up, ready), every
//!   agent a login, a break and a logout each day;
//! - a ticket for 6 % of the answered calls, moved through dispatch (to
//!   200 outlets in three tiers), service, completion and follow-up, with
//!   SLA breaches where a stage came after its due time; 1 % complaints;
//! - call events only where the reports read them (`queue-left`,
//!   `callback-requested`): a real timeline holds ten or more per call,
//!   which the reports' lookups by call id do not scan.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use hotline::api::{ApiState, Live, app};
use hotline::store::reports::{ReportTerms, Span, local_days, local_hours};
use hotline::store::{Backend, NewUser, Role, Store};
use http_body_util::BodyExt;
use sqlx::{AnyConnection, AssertSqlSafe, Connection};
use tower::ServiceExt;

const DEFAULT_CALLS: i64 = 5_000_000;
const AGENTS: i64 = 1_200;
const CUSTOMERS: i64 = 800_000;
const UNKNOWN_CALLERS: i64 = 1_000_000;
const OUTLETS: i64 = 200;
const QUEUES: [(&str, u32); 5] = [
    ("repair", 40),
    ("general", 25),
    ("install", 20),
    ("complaint", 10),
    ("vip", 5),
];
/// Share of a day's calls per local hour (percent ×10, sums to 1000).
const PROFILE: [i64; 24] = [
    8, 5, 4, 3, 3, 5, 12, 30, 62, 78, 84, 80, 62, 66, 80, 84, 76, 66, 56, 48, 40, 30, 20, 12,
];
const MONTH_FROM: &str = "2025-03-01";
const MONTH_TO: &str = "2025-03-31";
/// The day reported by hour.
const DAY: &str = "2025-03-14";
const ZONE: &str = "Asia/Shanghai";
/// Bumped whenever the generated data changes.
const DATA_VERSION: i64 = 1;
/// Most bound values in one statement: PostgreSQL takes 65,535; SQLite
/// binds the driver's `$N` by name, looked up one by one, so a statement
/// with n of them costs n² (at 30,000 the seeding crawls).
static MAX_BINDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1_000);

#[derive(Clone, Copy, PartialEq)]
enum Which {
    Sqlite,
    Postgres,
    Both,
}

struct Args {
    which: Which,
    calls: i64,
    rounds: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        which: Which::Both,
        calls: DEFAULT_CALLS,
        rounds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--backend" => {
                args.which = match it.next().as_deref() {
                    Some("sqlite") => Which::Sqlite,
                    Some("postgres") => Which::Postgres,
                    _ => Which::Both,
                }
            }
            "--calls" => args.calls = it.next().and_then(|n| n.parse().ok()).expect("--calls N"),
            "--rounds" => args.rounds = it.next().and_then(|n| n.parse().ok()).expect("--rounds N"),
            // cargo bench passes --bench.
            _ => {}
        }
    }
    args
}

fn main() {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        println!(
            "machine: {} vCPU, {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model()
        );
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let wanted = match args.which {
                Which::Both => true,
                Which::Sqlite => backend == Backend::Sqlite,
                Which::Postgres => backend == Backend::Postgres,
            };
            if wanted {
                run(backend, &args).await;
            }
        }
    });
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_default()
}

// ------------------------------------------------------------- the data

/// A bound value.
enum V {
    I(i64),
    T(String),
    /// NULL of an integer column.
    N,
    /// NULL of a text column (PostgreSQL wants the type right).
    NT,
}

/// Rows for one table, written in statements of at most [`MAX_BINDS`].
struct Batch {
    table: &'static str,
    columns: &'static [&'static str],
    rows: Vec<Vec<V>>,
}

impl Batch {
    fn new(table: &'static str, columns: &'static [&'static str]) -> Batch {
        Batch {
            table,
            columns,
            rows: Vec::new(),
        }
    }

    async fn flush(&mut self, conn: &mut AnyConnection) {
        let per = MAX_BINDS.load(std::sync::atomic::Ordering::Relaxed) / self.columns.len();
        for chunk in self.rows.chunks(per) {
            let mut sql = format!(
                "INSERT INTO {} ({}) VALUES ",
                self.table,
                self.columns.join(", ")
            );
            let mut n = 0;
            for (i, _) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                for c in 0..self.columns.len() {
                    if c > 0 {
                        sql.push_str(", ");
                    }
                    n += 1;
                    sql.push_str(&format!("${n}"));
                }
                sql.push(')');
            }
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for row in chunk {
                for v in row {
                    q = match v {
                        V::I(i) => q.bind(*i),
                        V::T(t) => q.bind(t.clone()),
                        V::N => q.bind(None::<i64>),
                        V::NT => q.bind(None::<String>),
                    };
                }
            }
            q.execute(&mut *conn).await.expect("insert");
        }
        self.rows.clear();
    }
}

const CALL_COLUMNS: &[&str] = &[
    "id",
    "sip_call_id",
    "from_number",
    "caller",
    "to_number",
    "service_number",
    "arrived_at",
    "answered_at",
    "ended_at",
    "hangup_side",
    "queue",
    "queued_at",
    "agent_id",
    "agent_answered_at",
    "wait_ms",
    "talk_ms",
    "hold_ms",
    "transfers",
    "wrap_up_ms",
    "direction",
    "campaign",
    "outcome",
];

fn opt(v: Option<i64>) -> V {
    v.map_or(V::N, V::I)
}

fn text(v: Option<&str>) -> V {
    v.map_or(V::NT, |t| V::T(t.to_owned()))
}

/// The number of caller `k`: customers' first numbers, their second
/// numbers, unknown numbers.
fn caller(rng: &mut fastrand::Rng) -> (String, Option<i64>) {
    if rng.u32(0..100) < 60 {
        let k = rng.i64(1..=CUSTOMERS);
        let second = k % 4 == 0 && rng.bool();
        let number = if second {
            15_000_000_000 + k
        } else {
            13_000_000_000 + k
        };
        (number.to_string(), Some(k))
    } else {
        (
            (17_000_000_000 + rng.i64(0..UNKNOWN_CALLERS)).to_string(),
            None,
        )
    }
}

/// Writes the whole month; returns the seconds it took.
async fn populate(store: &Store, calls: i64, first_user: i64) -> f64 {
    let started = Instant::now();
    MAX_BINDS.store(
        match store.backend() {
            Backend::Sqlite => 1_000,
            Backend::Postgres => 30_000,
        },
        std::sync::atomic::Ordering::Relaxed,
    );
    let mut conn = store.pool().acquire().await.expect("connection");
    let mut rng = fastrand::Rng::with_seed(20250301);
    let tz = jiff::tz::TimeZone::get(ZONE).unwrap();
    let days = local_days(&tz, MONTH_FROM.parse().unwrap(), MONTH_TO.parse().unwrap()).unwrap();

    // Customers and their numbers, outlets.
    sqlx::raw_sql("BEGIN").execute(&mut *conn).await.unwrap();
    let mut customers = Batch::new("customers", &["id", "name", "created_at"]);
    let mut phones = Batch::new("customer_phones", &["phone", "customer_id"]);
    for k in 1..=CUSTOMERS {
        customers
            .rows
            .push(vec![V::I(k), V::T(format!("客户{k}")), V::I(0)]);
        phones
            .rows
            .push(vec![V::T((13_000_000_000 + k).to_string()), V::I(k)]);
        if k % 4 == 0 {
            phones
                .rows
                .push(vec![V::T((15_000_000_000 + k).to_string()), V::I(k)]);
        }
        if customers.rows.len() >= 50_000 {
            customers.flush(&mut conn).await;
            phones.flush(&mut conn).await;
        }
    }
    customers.flush(&mut conn).await;
    phones.flush(&mut conn).await;
    let mut outlets = Batch::new("outlets", &["id", "code", "name", "tier", "phone"]);
    for o in 1..=OUTLETS {
        let tier = ["city", "county", "county", "town", "town"][(o % 5) as usize];
        outlets.rows.push(vec![
            V::I(o),
            V::T(format!("BN-{o:03}")),
            V::T(format!("网点{o}")),
            V::T(tier.into()),
            V::T(format!("0571{:08}", o)),
        ]);
    }
    outlets.flush(&mut conn).await;
    if store.backend() == Backend::Postgres {
        // Ids given here: move the identity sequences past them.
        sqlx::raw_sql(
            "SELECT setval(pg_get_serial_sequence('customers', 'id'), 1000000000); \
             SELECT setval(pg_get_serial_sequence('outlets', 'id'), 1000000)",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    sqlx::raw_sql("COMMIT").execute(&mut *conn).await.unwrap();
    println!(
        "  customers and outlets: {:.0} s",
        started.elapsed().as_secs_f64()
    );

    // The calls, hour by hour in arrival order, with what follows them.
    let per_day = calls as f64 / days.len() as f64;
    let mut free: BinaryHeap<Reverse<(i64, i64)>> =
        (0..AGENTS).map(|a| Reverse((0, first_user + a))).collect();
    let mut call_rows = Batch::new("calls", CALL_COLUMNS);
    let mut events = Batch::new("call_events", &["call_id", "seq", "at", "kind", "detail"]);
    let mut states = Batch::new(
        "agent_state_log",
        &[
            "id",
            "agent_id",
            "from_state",
            "to_state",
            "reason",
            "why",
            "at",
        ],
    );
    let mut tickets = Batch::new(
        "tickets",
        &[
            "id",
            "number",
            "customer_id",
            "kind",
            "accepted_kind",
            "category",
            "stage",
            "outlet_id",
            "call_id",
            "created_at",
            "updated_at",
        ],
    );
    let mut stamps = Batch::new(
        "ticket_stamps",
        &[
            "ticket_id",
            "seq",
            "stage",
            "at",
            "outlet_id",
            "outlet_tier",
            "score",
        ],
    );
    let mut breaches = Batch::new(
        "ticket_breaches",
        &["ticket_id", "stage", "due_at", "detected_at"],
    );
    let (mut n, mut ticket_id, mut state_seq) = (0_i64, 0_i64, 0_u64);
    let mut written = 0_i64;
    let mut change =
        |states: &mut Batch, agent: i64, from: &str, to: &str, reason: Option<&str>, at: i64| {
            state_seq += 1;
            states.rows.push(vec![
                V::T(format!("{at:012x}-{agent}-{state_seq}")),
                V::I(agent),
                V::T(from.into()),
                V::T(to.into()),
                text(reason),
                V::T("agent".into()),
                V::I(at),
            ]);
        };
    for (d, day) in days.iter().enumerate() {
        sqlx::raw_sql("BEGIN").execute(&mut *conn).await.unwrap();
        // Each agent's day: in at 08:00, a break at 12:00, out at 22:00.
        for a in 0..AGENTS {
            let agent = first_user + a;
            let at = |h: i64, m: i64| day.start + (h * 60 + m) * 60_000 + a * 1_000;
            change(&mut states, agent, "logged_out", "ready", None, at(8, 0));
            change(
                &mut states,
                agent,
                "ready",
                "not_ready",
                Some(if a % 2 == 0 { "break" } else { "meal" }),
                at(12, 0),
            );
            change(
                &mut states,
                agent,
                "not_ready",
                "ready",
                None,
                at(12, 15 + a % 30),
            );
            change(&mut states, agent, "ready", "logged_out", None, at(22, 0));
        }
        for (h, hour) in local_hours(*day).iter().enumerate() {
            let count = (per_day * PROFILE[h] as f64 / 1000.0).round() as i64;
            let mut arrivals: Vec<i64> = (0..count)
                .map(|_| hour.start + rng.i64(0..hour.end - hour.start))
                .collect();
            arrivals.sort_unstable();
            for arrived in arrivals {
                n += 1;
                let id = format!("c{n:08}");
                if rng.u32(0..100) < 4 {
                    // An outbound survey attempt.
                    let answered = rng.u32(0..100) < 60;
                    let number = (13_000_000_000 + rng.i64(1..=CUSTOMERS)).to_string();
                    call_rows.rows.push(vec![
                        V::T(id.clone()),
                        V::T(format!("sip-{id}")),
                        V::T("4008001234".into()),
                        V::T(number.clone()),
                        V::T(number),
                        V::T("4008001234".into()),
                        V::I(arrived),
                        opt(answered.then_some(arrived + 15_000)),
                        V::I(arrived + if answered { 95_000 } else { 30_000 }),
                        V::T("hotline".into()),
                        V::NT,
                        V::N,
                        V::N,
                        V::N,
                        V::N,
                        V::N,
                        V::N,
                        V::I(0),
                        V::N,
                        V::T("outbound".into()),
                        V::T("follow-up".into()),
                        V::T(if answered { "answered" } else { "no_answer" }.into()),
                    ]);
                    continue;
                }
                let (number, customer) = caller(&mut rng);
                let r = rng.u32(0..1000);
                let queue = {
                    let mut pick = rng.u32(0..100);
                    QUEUES
                        .iter()
                        .find(|(_, share)| {
                            if pick < *share {
                                true
                            } else {
                                pick -= share;
                                false
                            }
                        })
                        .map_or("repair", |(q, _)| q)
                };
                let queued = arrived + rng.i64(3_000..40_000);
                let (mut queue_col, mut queued_col) = (Some(queue), Some(queued));
                let (mut agent, mut answered_at, mut wait, mut talk, mut hold, mut wrap) =
                    (None, None, None, None, None, None);
                let mut transfers = 0;
                let (ended, side);
                if r < 40 {
                    // The IVR only.
                    queue_col = None;
                    queued_col = None;
                    ended = arrived + rng.i64(20_000..120_000);
                    side = "caller";
                } else if r < 40 + 845 {
                    let w = ((-(1.0 - rng.f64()).ln()) * 12_000.0) as i64;
                    let w = w.min(600_000);
                    let at = queued + w;
                    let Reverse((free_at, a)) = free.pop().expect("agents");
                    let t = rng.i64(60_000..600_000);
                    let hd = if rng.u32(0..100) < 30 {
                        rng.i64(10_000..120_000)
                    } else {
                        0
                    };
                    let wr = rng.i64(10_000..60_000);
                    let end = at + t + hd;
                    free.push(Reverse((free_at.max(end + wr), a)));
                    if rng.u32(0..100) < 3 {
                        transfers = 1;
                    }
                    change(&mut states, a, "ready", "on_call", None, at);
                    change(&mut states, a, "on_call", "wrap_up", None, end);
                    change(&mut states, a, "wrap_up", "ready", None, end + wr);
                    agent = Some(a);
                    answered_at = Some(at);
                    wait = Some(w);
                    talk = Some(t);
                    hold = Some(hd);
                    wrap = Some(wr);
                    ended = end;
                    side = "caller";
                    if rng.u32(0..100) < 6 {
                        ticket_id += 1;
                        ticket(
                            &mut rng,
                            &mut tickets,
                            &mut stamps,
                            &mut breaches,
                            ticket_id,
                            customer.unwrap_or(1),
                            &id,
                            at + t,
                        );
                    }
                } else if r < 40 + 845 + 67 {
                    ended = queued + rng.i64(5_000..180_000);
                    side = "caller";
                } else if r < 40 + 845 + 67 + 15 {
                    events.rows.push(vec![
                        V::T(id.clone()),
                        V::I(1),
                        V::I(queued + 90_000),
                        V::T("queue-left".into()),
                        V::T(String::new()),
                    ]);
                    events.rows.push(vec![
                        V::T(id.clone()),
                        V::I(2),
                        V::I(queued + 95_000),
                        V::T("callback-requested".into()),
                        V::T("callbacks".into()),
                    ]);
                    ended = queued + 100_000;
                    side = "hotline";
                } else {
                    if rng.bool() {
                        events.rows.push(vec![
                            V::T(id.clone()),
                            V::I(1),
                            V::I(queued + 180_000),
                            V::T("queue-left".into()),
                            V::T(String::new()),
                        ]);
                        side = "caller";
                    } else {
                        side = "hotline";
                    }
                    ended = queued + 200_000;
                }
                call_rows.rows.push(vec![
                    V::T(id.clone()),
                    V::T(format!("sip-{id}")),
                    V::T(number.clone()),
                    V::T(number),
                    V::T("4008001234".into()),
                    V::T("4008001234".into()),
                    V::I(arrived),
                    V::I(arrived + 500),
                    V::I(ended),
                    V::T(side.into()),
                    text(queue_col),
                    opt(queued_col),
                    opt(agent),
                    opt(answered_at),
                    opt(wait),
                    opt(talk),
                    opt(hold),
                    V::I(transfers),
                    opt(wrap),
                    V::T("inbound".into()),
                    V::NT,
                    V::NT,
                ]);
            }
            written += call_rows.rows.len() as i64;
            call_rows.flush(&mut conn).await;
            events.flush(&mut conn).await;
            states.flush(&mut conn).await;
        }
        // Tickets go in with the day they were opened (their later stamps
        // are in the future of the record, as in a real desk's database).
        tickets.flush(&mut conn).await;
        stamps.flush(&mut conn).await;
        breaches.flush(&mut conn).await;
        sqlx::raw_sql("COMMIT").execute(&mut *conn).await.unwrap();
        println!(
            "  day {:2}: {written} calls, {ticket_id} tickets, {:.0} s",
            d + 1,
            started.elapsed().as_secs_f64()
        );
    }
    if store.backend() == Backend::Postgres {
        sqlx::raw_sql("SELECT setval(pg_get_serial_sequence('tickets', 'id'), 1000000000)")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    // The planner's statistics, as a database that has been running has
    // them (PostgreSQL's autovacuum; SQLite has none of its own).
    sqlx::raw_sql("ANALYZE").execute(&mut *conn).await.unwrap();
    started.elapsed().as_secs_f64()
}

/// A ticket opened on `call` at `at`: dispatched, in service, completed,
/// followed up; breaches where a stage came after its due time.
#[allow(clippy::too_many_arguments)]
fn ticket(
    rng: &mut fastrand::Rng,
    tickets: &mut Batch,
    stamps: &mut Batch,
    breaches: &mut Batch,
    id: i64,
    customer: i64,
    call: &str,
    at: i64,
) {
    const H: i64 = 3_600_000;
    let complaint = rng.u32(0..100) < 15;
    let kind = if complaint { "complaint" } else { "repair" };
    let category = if complaint {
        ["服务态度", "维修质量", "上门超时", "收费争议", "配件"][rng.usize(0..5)]
    } else {
        ["不制冷", "漏水", "不加热", "噪音大", "无法开机"][rng.usize(0..5)]
    };
    let mut seq = 0;
    let mut stamp = |stamps: &mut Batch,
                     stage: &str,
                     at: i64,
                     outlet: Option<(i64, &str)>,
                     score: Option<i64>| {
        stamps.rows.push(vec![
            V::I(id),
            V::I(seq),
            V::T(stage.into()),
            V::I(at),
            opt(outlet.map(|o| o.0)),
            text(outlet.map(|o| o.1)),
            opt(score),
        ]);
        seq += 1;
    };
    stamp(stamps, "accepted", at, None, None);
    let mut stage = "accepted";
    let mut outlet_col = None;
    let mut last = at;
    if !complaint {
        let outlet = rng.i64(1..=OUTLETS);
        let tier = ["city", "county", "county", "town", "town"][(outlet % 5) as usize];
        let dispatched = at + rng.i64(H / 6..3 * H);
        if dispatched > at + 2 * H {
            breaches.rows.push(vec![
                V::I(id),
                V::T("dispatched".into()),
                V::I(at + 2 * H),
                V::I(at + 2 * H + 60_000),
            ]);
        }
        stamp(stamps, "dispatched", dispatched, Some((outlet, tier)), None);
        let started = dispatched + rng.i64(2 * H..40 * H);
        stamp(stamps, "in_service", started, None, None);
        let completed = started + rng.i64(H..30 * H);
        let target = match tier {
            "city" => 24,
            "county" => 48,
            _ => 72,
        } * H;
        if completed > dispatched + target {
            breaches.rows.push(vec![
                V::I(id),
                V::T("completed".into()),
                V::I(dispatched + target),
                V::I(dispatched + target + 60_000),
            ]);
        }
        stamp(stamps, "completed", completed, None, None);
        let followed = completed + rng.i64(2 * H..30 * H);
        let score = [5, 5, 5, 4, 4, 3, 2, 1][rng.usize(0..8)];
        stamp(stamps, "followed_up", followed, None, Some(score));
        last = followed;
        stage = "followed_up";
        outlet_col = Some(outlet);
        if score >= 3 {
            stamp(stamps, "closed", followed + 60_000, None, None);
            stage = "closed";
            last = followed + 60_000;
        }
    }
    tickets.rows.push(vec![
        V::I(id),
        V::T(format!("25{id:08}")),
        V::I(customer),
        V::T(kind.into()),
        V::T(kind.into()),
        V::T(category.into()),
        V::T(stage.into()),
        opt(outlet_col),
        V::T(call.into()),
        V::I(at),
        V::I(last),
    ]);
}

// ------------------------------------------------------------ measuring

async fn open(backend: Backend, args: &Args) -> Store {
    let (url, place) = match backend {
        Backend::Sqlite => {
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
                || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
                PathBuf::from,
            );
            let dir = target.join("report_load_bench");
            std::fs::create_dir_all(&dir).expect("bench dir");
            let path = dir.join(format!("k{}.db", args.calls));
            (
                format!("sqlite://{}", path.display()),
                path.display().to_string(),
            )
        }
        Backend::Postgres => {
            let base = base_url();
            let name = format!("hotline_reports_k{}", args.calls);
            let (server, _) = base.rsplit_once('/').expect("URL with a database");
            (format!("{server}/{name}"), name)
        }
    };
    let reuse = match Store::connect(&url).await {
        Ok(store) => {
            let found: Option<(i64, i64)> =
                sqlx::query_as("SELECT calls, data_version FROM bench_marker")
                    .fetch_optional(store.pool())
                    .await
                    .ok()
                    .flatten();
            store.close().await;
            found == Some((args.calls, DATA_VERSION))
        }
        Err(_) => false,
    };
    if !reuse {
        println!("{}: building {place} ...", backend.as_str());
        reset(backend, &place).await;
        let store = Store::connect(&url)
            .await
            .expect("connect to the new database");
        let first_user = agents(&store).await;
        let seconds = populate(&store, args.calls, first_user).await;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE TABLE bench_marker (calls BIGINT NOT NULL, data_version BIGINT NOT NULL, \
             populate_ms BIGINT NOT NULL); \
             INSERT INTO bench_marker VALUES ({}, {DATA_VERSION}, {})",
            args.calls,
            (seconds * 1000.0) as i64
        )))
        .execute(store.pool())
        .await
        .expect("marker");
        println!("{}: populated in {seconds:.0} s", backend.as_str());
        store.close().await;
    } else {
        println!("{}: reusing {place}", backend.as_str());
    }
    Store::connect(&url).await.expect("connect")
}

fn base_url() -> String {
    std::env::var("HOTLINE_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

async fn reset(backend: Backend, place: &str) {
    match backend {
        Backend::Sqlite => {
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{place}{ext}"));
            }
        }
        Backend::Postgres => {
            let mut conn = AnyConnection::connect(&base_url()).await.expect("connect");
            sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {place} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .expect("drop");
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {place}")))
                .execute(&mut conn)
                .await
                .expect("create");
            conn.close().await.expect("close");
        }
    }
}

/// The agents (users), in one insert; the first one's id.
async fn agents(store: &Store) -> i64 {
    let hash = hotline::api::auth::hash_password("bench-password-1").unwrap();
    let mut conn = store.pool().acquire().await.unwrap();
    let mut users = Batch::new(
        "users",
        &[
            "username",
            "display_name",
            "role",
            "password_hash",
            "created_at",
        ],
    );
    for a in 0..AGENTS {
        users.rows.push(vec![
            V::T(format!("agent{a:04}")),
            V::T(format!("坐席{a:04}")),
            V::T("agent".into()),
            V::T(hash.clone()),
            V::I(0),
        ]);
    }
    users.flush(&mut conn).await;
    sqlx::query_scalar("SELECT MIN(id) FROM users")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

/// A signed-in admin's token, through the API.
async fn token(state: &ApiState) -> String {
    let username = format!("bench-admin-{}", fastrand::u32(..));
    state
        .store
        .create_user(
            &NewUser {
                username: username.clone(),
                display_name: "Bench".into(),
                role: Role::Admin,
                outlet_id: None,
                password_hash: hotline::api::auth::hash_password("bench-password-1").unwrap(),
                sip_ha1: String::new(),
                skills: Default::default(),
                queues: Vec::new(),
            },
            0,
        )
        .await
        .expect("admin");
    let body = serde_json::json!({"username": username, "password": "bench-password-1"});
    let response = app(state.clone())
        .oneshot(
            Request::post("/api/login")
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["token"].as_str().expect("token").to_owned()
}

/// One report through the API: ms, rows.
async fn report(
    state: &ApiState,
    token: &str,
    name: &str,
    from: &str,
    to: &str,
    by: &str,
) -> (f64, usize) {
    let uri = format!("/api/reports/{name}?from={from}&to={to}&by={by}");
    let started = Instant::now();
    let response = app(state.clone())
        .oneshot(
            Request::get(&uri)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(
        status.is_success(),
        "{uri}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    (ms, v["rows"].as_array().map_or(0, Vec::len))
}

const NAMES: [&str; 12] = [
    "calls",
    "service-level",
    "abandonment",
    "handle-time",
    "fcr",
    "agents",
    "agent-states",
    "satisfaction",
    "stages",
    "outlets",
    "tiers",
    "complaints",
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn run(backend: Backend, args: &Args) {
    let store = open(backend, args).await;
    let count = |sql: &'static str| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(store.pool())
                .await
                .unwrap()
        }
    };
    println!(
        "{}: {} calls, {} agent state changes, {} tickets, {} stamps",
        backend.as_str(),
        count("SELECT COUNT(*) FROM calls").await,
        count("SELECT COUNT(*) FROM agent_state_log").await,
        count("SELECT COUNT(*) FROM tickets").await,
        count("SELECT COUNT(*) FROM ticket_stamps").await,
    );
    let live = Arc::new(Live::new(0, Arc::new(AtomicUsize::new(0))));
    let state = ApiState::new(store.clone(), live);
    let tz = jiff::tz::TimeZone::get(ZONE).unwrap();
    let terms = ReportTerms {
        time_zone: tz.clone(),
        service_level_ms: 20_000,
        fcr_days: 7,
    };
    let month = local_days(&tz, MONTH_FROM.parse().unwrap(), MONTH_TO.parse().unwrap()).unwrap();
    let hours: Vec<Span> = month.iter().copied().flat_map(local_hours).collect();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();

    // Counting the month from the records, no rollup read or written.
    let started = Instant::now();
    let live_calls = store
        .call_figures_live(&hours, None, &terms, now)
        .await
        .unwrap();
    let live_calls_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    store.agent_figures_live(&month, now).await.unwrap();
    let live_agents_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    store.ticket_figures_live(&month, now).await.unwrap();
    let live_tickets_ms = started.elapsed().as_secs_f64() * 1000.0;
    let offered: i64 = live_calls.iter().map(|f| f.offered).sum();
    println!(
        "{}: counting the month from the records: calls {live_calls_ms:.0} ms ({offered} queued), agents {live_agents_ms:.0} ms, tickets {live_tickets_ms:.0} ms",
        backend.as_str()
    );

    let token = token(&state).await;
    let mut table = Vec::new();
    for (label, from, to, by) in [
        ("month by day", MONTH_FROM, MONTH_TO, "day"),
        ("day by hour", DAY, DAY, "hour"),
    ] {
        store.forget_rollups().await.unwrap();
        let mut cold = Vec::new();
        for name in NAMES {
            cold.push(report(&state, &token, name, from, to, by).await);
        }
        let mut warm = Vec::new();
        for name in NAMES {
            let mut times = Vec::new();
            let mut rows = 0;
            for _ in 0..args.rounds {
                let (ms, n) = report(&state, &token, name, from, to, by).await;
                times.push(ms);
                rows = n;
            }
            warm.push((median(times), rows));
        }
        for (i, name) in NAMES.iter().enumerate() {
            table.push((label, *name, cold[i].0, warm[i].0, warm[i].1));
        }
    }
    println!();
    println!(
        "| {} | report | range | cold ms | warm ms (median of {}) | rows |",
        backend.as_str(),
        args.rounds
    );
    println!("|---|---|---|---:|---:|---:|");
    for (label, name, cold, warm, rows) in table {
        println!(
            "| {} | `{name}` | {label} | {cold:.0} | {warm:.1} | {rows} |",
            backend.as_str()
        );
    }
    println!();
    store.close().await;
}
