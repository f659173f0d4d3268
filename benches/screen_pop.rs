//! Screen pop and customer lookup on a big database: `Store::screen_pop`
//! and `Store::customer_by_phone` against 1,000,000 customers and
//! 5,000,000 calls (by default), on SQLite and PostgreSQL.
//!
//! Run: `cargo bench --bench screen_pop -- [--backend sqlite|postgres|both]
//! [--customers N] [--calls N] [--lookups N] [--tasks N]`.
//!
//! The database is built once per size and reused while its marker row
//! (`bench_marker`: customers, calls) matches:
//! - SQLite: `target/screen_pop_bench/c<customers>_k<calls>.db`;
//! - PostgreSQL: database `hotline_bench` at the default size, else
//!   `hotline_bench_c<customers>_k<calls>`, on the server of
//!   `HOTLINE_BENCH_POSTGRES_URL` (default
//!   `postgres://postgres@127.0.0.1:5432/test`, used only to create it).
//!   Drop it with `psql -h 127.0.0.1 -U postgres -d test -c 'DROP DATABASE hotline_bench'`.
//!
//! The data is generated inside the database (a recursive CTE on SQLite,
//! `generate_series` on PostgreSQL) by `INSERT ... SELECT`, with the
//! secondary indexes dropped and built again afterwards: a row-by-row or
//! bound multi-row insert into indexed tables is what would take hours.
//! Every value is a function of the row number, so this file can compute
//! any customer's numbers without asking the database:
//! - customer `n` has 1–3 numbers ([`phone_count`]): a 13x mobile, a
//!   landline (0571, 0574, 025, 010), an 18x mobile;
//! - products: one per customer, a second for even `n` (1.5 each);
//! - tickets: every 4th customer has one (open for every 16th), every 50th
//!   one more, open; outlets: 200;
//! - calls over one year: 15 % from 200,000 unknown 17x numbers, 20 % from
//!   the 1 % of customers who call most (`n % 100 == 1`, ~85 calls each),
//!   the rest from any customer, on any of their numbers.
//!
//! Then, per backend, after a warm-up, `--lookups` (10,000) sequential
//! lookups per query and kind of number (random customers', the frequent
//! callers', unknown callers') from one task (median, p99, max), and a mix
//! of 85 % customers' and 15 % unknown numbers from `--tasks` (8)
//! concurrent tasks (throughput).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hotline::store::{Backend, Store};
use sqlx::{AnyConnection, AssertSqlSafe, Connection};

const DEFAULT_CUSTOMERS: i64 = 1_000_000;
const DEFAULT_CALLS: i64 = 5_000_000;
/// Distinct unknown numbers that call.
const UNKNOWN_CALLERS: i64 = 200_000;
const OUTLETS: i64 = 200;
/// 2025-11-25 00:00 UTC: the calls span the year after it.
const START_MS: i64 = 1_764_028_800_000;
const YEAR_MS: i64 = 365 * 86_400_000;
/// Rows per generated INSERT (one transaction each).
const CHUNK: i64 = 1_000_000;
const WARM_UP: usize = 1_000;
/// Bumped whenever the generated data changes, so an old database is
/// rebuilt rather than reused.
const DATA_VERSION: i64 = 2;

#[derive(Clone, Copy, PartialEq)]
enum Which {
    Sqlite,
    Postgres,
    Both,
}

struct Args {
    which: Which,
    customers: i64,
    calls: i64,
    lookups: usize,
    tasks: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        which: Which::Both,
        customers: DEFAULT_CUSTOMERS,
        calls: DEFAULT_CALLS,
        lookups: 10_000,
        tasks: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().unwrap_or_else(|| panic!("{name} needs a value"));
        match a.as_str() {
            "--backend" => {
                args.which = match value("--backend").as_str() {
                    "sqlite" => Which::Sqlite,
                    "postgres" => Which::Postgres,
                    "both" => Which::Both,
                    other => panic!("--backend sqlite|postgres|both, not {other}"),
                }
            }
            "--customers" => args.customers = value("--customers").parse().expect("--customers N"),
            "--calls" => args.calls = value("--calls").parse().expect("--calls N"),
            "--lookups" => args.lookups = value("--lookups").parse().expect("--lookups N"),
            "--tasks" => args.tasks = value("--tasks").parse().expect("--tasks N"),
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(args.customers >= 100, "--customers: at least 100");
    args
}

// ------------------------------------------------------ the generated data

/// How many numbers customer `n` has: 1 (40 %), 2 (40 %) or 3 (20 %).
fn phone_count(n: i64) -> i64 {
    match (n * 37) % 10 {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    }
}

const AREAS: [&str; 4] = ["0571", "0574", "025", "010"];

/// Number `k` of customer `n`, normalised. Each is `n` times a power of 3
/// (a unit modulo a power of 10), so no two customers share a number.
fn phone(n: i64, k: i64) -> String {
    match k {
        0 => format!("13{:09}", (n * 387_420_489) % 1_000_000_000),
        1 => format!(
            "{}{:08}",
            AREAS[(n % 4) as usize],
            (n * 1_594_323) % 100_000_000
        ),
        _ => format!("18{:09}", (n * 1_162_261_467) % 1_000_000_000),
    }
}

/// Unknown caller `u` (1..=UNKNOWN_CALLERS): a 17x mobile nobody has.
fn unknown_phone(u: i64) -> String {
    format!("17{:09}", (u * 387_420_489) % 1_000_000_000)
}

/// The SQL dialect bits the generator needs.
struct Sql(Backend);

impl Sql {
    /// `WITH` clause defining `s(n)` for `lo..=hi`.
    fn series(&self, lo: i64, hi: i64) -> String {
        match self.0 {
            Backend::Sqlite => format!(
                "WITH RECURSIVE s(n) AS (SELECT {lo} UNION ALL SELECT n + 1 FROM s WHERE n < {hi})"
            ),
            Backend::Postgres => {
                format!("WITH s(n) AS (SELECT * FROM generate_series({lo}::bigint, {hi}::bigint))")
            }
        }
    }

    /// `expr` as decimal digits, zero-padded to `width`.
    fn pad(&self, expr: &str, width: u32) -> String {
        match self.0 {
            Backend::Sqlite => format!("printf('%0{width}d', {expr})"),
            Backend::Postgres => format!("lpad(({expr})::text, {width}, '0')"),
        }
    }

    /// `YYYY-MM-DD` of 2021-01-01 plus `days`.
    fn date(&self, days: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("date('2021-01-01', '+' || ({days}) || ' days')"),
            Backend::Postgres => {
                format!("to_char(DATE '2021-01-01' + ({days})::int, 'YYYY-MM-DD')")
            }
        }
    }

    /// hotline's call id: 12 hex digits of the time, 8 of a number.
    fn call_id(&self, at: &str, n: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("printf('%012x%08x', {at}, {n})"),
            Backend::Postgres => {
                format!("lpad(to_hex({at}), 12, '0') || lpad(to_hex({n}), 8, '0')")
            }
        }
    }

    /// Number `k` of customer `c`, as [`phone`] makes it.
    fn phone(&self, c: &str, k: i64) -> String {
        match k {
            0 => format!(
                "'13' || {}",
                self.pad(&format!("({c} * 387420489) % 1000000000"), 9)
            ),
            1 => format!(
                "(CASE {c} % 4 WHEN 0 THEN '{}' WHEN 1 THEN '{}' WHEN 2 THEN '{}' ELSE '{}' END) || {}",
                AREAS[0],
                AREAS[1],
                AREAS[2],
                AREAS[3],
                self.pad(&format!("({c} * 1594323) % 100000000"), 8)
            ),
            _ => format!(
                "'18' || {}",
                self.pad(&format!("({c} * 1162261467) % 1000000000"), 9)
            ),
        }
    }

    fn phone_count(&self, c: &str) -> String {
        format!("(CASE WHEN ({c} * 37) % 10 < 4 THEN 1 WHEN ({c} * 37) % 10 < 8 THEN 2 ELSE 3 END)")
    }
}

/// The generating statements, in order, each with a label; the customer
/// tables and the calls are independent (no foreign key from calls).
fn customer_statements(sql: &Sql, customers: i64) -> Vec<(String, String)> {
    let mut out = Vec::new();
    out.push((
        "outlets".to_owned(),
        format!(
            "{} INSERT INTO outlets (id, code, name, tier, phone, areas) \
             SELECT n, 'OUT-' || {}, '服务网点' || n, \
             CASE n % 3 WHEN 0 THEN 'city' WHEN 1 THEN 'county' ELSE 'town' END, \
             '0571' || {}, '' FROM s",
            sql.series(1, OUTLETS),
            sql.pad("n", 3),
            sql.pad("n", 8)
        ),
    ));
    for lo in (1..=customers).step_by(CHUNK as usize) {
        let hi = (lo + CHUNK - 1).min(customers);
        out.push((
            format!("customers {lo}..={hi}"),
            format!(
                "{} INSERT INTO customers (id, name, region, address, vip, created_at) \
                 SELECT n, '客户' || n, \
                 CASE n % 6 WHEN 0 THEN '浙江省杭州市西湖区' WHEN 1 THEN '浙江省宁波市余姚市' \
                 WHEN 2 THEN '江苏省南京市鼓楼区' WHEN 3 THEN '江苏省苏州市昆山市' \
                 WHEN 4 THEN '北京市海淀区' ELSE '浙江省杭州市桐庐县' END, \
                 '文一西路' || (n % 999 + 1) || '号' || (n % 30 + 1) || '幢' || (n % 20 + 1) || '01室', \
                 CASE WHEN n % 20 = 0 THEN 1 ELSE 0 END, {START_MS} - (n % 2000) * 86400000 FROM s",
                sql.series(lo, hi)
            ),
        ));
        for k in 0..3 {
            out.push((
                format!("customer_phones #{k} {lo}..={hi}"),
                format!(
                    "{} INSERT INTO customer_phones (phone, customer_id) \
                     SELECT {}, n FROM s WHERE {} > {k}",
                    sql.series(lo, hi),
                    sql.phone("n", k),
                    sql.phone_count("n")
                ),
            ));
        }
        // Product ids: n for the first, customers + n for the second.
        out.push((
            format!("products {lo}..={hi}"),
            format!(
                "{} INSERT INTO products (id, customer_id, model, serial, purchase_date, warranty_end) \
                 SELECT n, n, \
                 CASE n % 4 WHEN 0 THEN 'LED65-E7 65英寸液晶电视' WHEN 1 THEN 'XQG100-B14 滚筒洗衣机' \
                 WHEN 2 THEN 'DSZF-60J5 60升电热水器' ELSE 'KFR-35GW 挂式空调' END, \
                 'SN' || {}, {}, {} FROM s \
                 UNION ALL SELECT {customers} + n, n, 'BCD-520W 对开门冰箱', 'SN' || {}, {}, {} \
                 FROM s WHERE n % 2 = 0",
                sql.series(lo, hi),
                sql.pad("n", 9),
                sql.date("n % 1500"),
                sql.date("n % 1500 + 1095"),
                sql.pad("n", 9),
                sql.date("n % 1400"),
                sql.date("n % 1400 + 365"),
            ),
        ));
        // Tickets: every 4th customer one (open for every 16th), every 50th
        // one more, open. Numbers: 0 + n, or 9 + n, ten digits.
        out.push((
            format!("tickets {lo}..={hi}"),
            format!(
                "{} INSERT INTO tickets (number, customer_id, product_id, kind, category, stage, \
                 outlet_id, created_at, updated_at) \
                 SELECT {}, n, n, \
                 CASE (n / 4) % 4 WHEN 0 THEN 'repair' WHEN 1 THEN 'installation' \
                 WHEN 2 THEN 'consultation' ELSE 'complaint' END, '无图像有声音', \
                 CASE WHEN n % 16 = 0 THEN (CASE (n / 16) % 3 WHEN 0 THEN 'accepted' \
                 WHEN 1 THEN 'dispatched' ELSE 'in_service' END) \
                 WHEN (n / 4) % 2 = 0 THEN 'closed' ELSE 'followed_up' END, \
                 CASE WHEN n % 16 = 0 AND (n / 16) % 3 = 0 THEN NULL ELSE n % {OUTLETS} + 1 END, \
                 {START_MS} + (n % 365) * 86400000, {START_MS} + (n % 365) * 86400000 + 3600000 \
                 FROM s WHERE n % 4 = 0 \
                 UNION ALL SELECT '9' || {}, n, n, 'repair', '不加热', \
                 CASE WHEN n % 100 = 1 THEN 'reopened' ELSE 'accepted' END, NULL, \
                 {START_MS} + (n % 300) * 86400000, {START_MS} + (n % 300) * 86400000 \
                 FROM s WHERE n % 50 = 1",
                sql.series(lo, hi),
                sql.pad("n", 10),
                sql.pad("n", 9),
            ),
        ));
    }
    out
}

fn call_statements(sql: &Sql, customers: i64, calls: i64) -> Vec<(String, String)> {
    let frequent = (customers / 100).max(1);
    let mut out = Vec::new();
    for lo in (1..=calls).step_by(CHUNK as usize) {
        let hi = (lo + CHUNK - 1).min(calls);
        // Two rounds of multiplicative hashing modulo 2^32, so that the
        // kind of caller (r, from h1's high bits) and the customer or
        // number (from h2) do not fall into correlated residue classes.
        let picked = format!(
            "h AS (SELECT n, (n * 2654435761) % 4294967296 AS h1 FROM s), \
             hh AS (SELECT n, (h1 / 65536) % 100 AS r, \
             ((h1 / 7) * 2246822519 + n) % 4294967296 AS h2 FROM h), \
             picked AS (SELECT n, r, h2, \
             CASE WHEN r < 35 THEN (h2 % {frequent}) * 100 + 1 ELSE h2 % {customers} + 1 END AS c, \
             {START_MS} + n * {YEAR_MS} / {calls} + (n * 7919) % 1000 AS at FROM hh), \
             numbered AS (SELECT n, r, at, CASE WHEN r < 15 THEN '17' || {} \
             ELSE (CASE (h2 / 1024) % {} WHEN 0 THEN {} WHEN 1 THEN {} ELSE {} END) \
             END AS caller FROM picked)",
            sql.pad(
                &format!("((h2 % {UNKNOWN_CALLERS} + 1) * 387420489) % 1000000000"),
                9
            ),
            sql.phone_count("c"),
            sql.phone("c", 0),
            sql.phone("c", 1),
            sql.phone("c", 2),
        );
        out.push((
            format!("calls {lo}..={hi}"),
            format!(
                "{}, {picked} INSERT INTO calls (id, sip_call_id, from_number, caller, to_number, \
                 service_number, arrived_at, answered_at, ended_at, digits, hangup_cause, hangup_side) \
                 SELECT {}, 'bench-' || n || '@carrier', caller, caller, '4008001234', '4008001234', \
                 at, CASE WHEN n % 10 = 0 THEN NULL ELSE at + 2000 + n % 5000 END, \
                 at + 20000 + (n % 600) * 1000, \
                 CASE n % 6 WHEN 0 THEN '' WHEN 1 THEN '1' WHEN 2 THEN '12' WHEN 3 THEN '2' \
                 WHEN 4 THEN '32611250001' ELSE '19' END, \
                 CASE WHEN n % 10 = 0 THEN 'caller-cancel' ELSE 'caller-bye' END, 'caller' \
                 FROM numbered",
                sql.series(lo, hi),
                sql.call_id("at", "n"),
            ),
        ));
    }
    out
}

// ------------------------------------------------------------ populating

async fn exec(conn: &mut AnyConnection, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
}

/// The secondary indexes of the tables we fill (name, definition), not
/// those behind a primary key or UNIQUE constraint.
async fn secondary_indexes(conn: &mut AnyConnection, backend: Backend) -> Vec<(String, String)> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN ('calls', 'customers', 'customer_phones', 'products', 'tickets')"
        }
        Backend::Postgres => {
            "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = current_schema() \
             AND tablename IN ('calls', 'customers', 'customer_phones', 'products', 'tickets') \
             AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        }
    };
    sqlx::query_as::<_, (String, String)>(sql)
        .fetch_all(&mut *conn)
        .await
        .expect("list indexes")
}

async fn marker(store: &Store) -> Option<(i64, i64, i64)> {
    sqlx::query_as::<_, (i64, i64, i64)>("SELECT customers, calls, data_version FROM bench_marker")
        .fetch_optional(store.pool())
        .await
        .ok()
        .flatten()
}

/// Runs `statements` in order on a connection of its own, timing each.
async fn run_all(store: Store, statements: Vec<(String, String)>, setup: &'static str) {
    let mut conn = store.pool().acquire().await.expect("connection");
    exec(&mut conn, setup).await;
    for (label, sql) in statements {
        let t = Instant::now();
        exec(&mut conn, &sql).await;
        println!("  {label}: {:.1} s", t.elapsed().as_secs_f64());
    }
    // Its session settings must not go back into the pool.
    conn.detach().close().await.expect("close");
}

/// Fills an empty, migrated database; returns the seconds it took.
async fn populate(store: &Store, args: &Args) -> f64 {
    let backend = store.backend();
    let sql = Sql(backend);
    let started = Instant::now();
    let mut conn = store.pool().acquire().await.expect("connection");
    // Bulk loading: no per-row foreign key checks (the data is consistent
    // by construction), no flush per commit, big caches for index builds.
    let setup = match backend {
        Backend::Sqlite => {
            "PRAGMA foreign_keys = OFF; PRAGMA synchronous = OFF; \
             PRAGMA cache_size = -1000000; PRAGMA temp_store = MEMORY;"
        }
        Backend::Postgres => {
            "SET session_replication_role = replica; SET synchronous_commit = off; \
             SET maintenance_work_mem = '1GB';"
        }
    };
    exec(&mut conn, setup).await;
    let indexes = secondary_indexes(&mut conn, backend).await;
    for (name, _) in &indexes {
        exec(&mut conn, &format!("DROP INDEX {name}")).await;
    }
    let customer_sql = customer_statements(&sql, args.customers);
    let call_sql = call_statements(&sql, args.customers, args.calls);
    match backend {
        // One writer at a time: one connection does everything.
        Backend::Sqlite => {
            for (label, stmt) in customer_sql.into_iter().chain(call_sql) {
                let t = Instant::now();
                exec(&mut conn, &stmt).await;
                println!("  {label}: {:.1} s", t.elapsed().as_secs_f64());
            }
        }
        // Two cores: the calls on one connection, the rest on another.
        Backend::Postgres => {
            let calls = tokio::spawn(run_all(store.clone(), call_sql, setup));
            run_all(store.clone(), customer_sql, setup).await;
            calls.await.expect("calls task");
        }
    }
    for (name, def) in &indexes {
        let t = Instant::now();
        exec(&mut conn, def).await;
        println!("  index {name}: {:.1} s", t.elapsed().as_secs_f64());
    }
    if backend == Backend::Postgres {
        // Ids were given explicitly: move the identity sequences past them.
        for table in ["outlets", "customers", "products", "tickets"] {
            exec(
                &mut conn,
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     (SELECT COALESCE(MAX(id), 1) FROM {table}))"
                ),
            )
            .await;
        }
    }
    let t = Instant::now();
    exec(&mut conn, "ANALYZE").await;
    println!("  ANALYZE: {:.1} s", t.elapsed().as_secs_f64());
    let seconds = started.elapsed().as_secs_f64();
    exec(
        &mut conn,
        &format!(
            "CREATE TABLE bench_marker (customers BIGINT NOT NULL, calls BIGINT NOT NULL, \
             data_version BIGINT NOT NULL, populate_ms BIGINT NOT NULL); \
             INSERT INTO bench_marker VALUES ({}, {}, {DATA_VERSION}, {})",
            args.customers,
            args.calls,
            (seconds * 1000.0) as i64
        ),
    )
    .await;
    // Back to the pool's normal settings: close this connection.
    conn.close().await.expect("close");
    seconds
}

/// The store for `backend` at the requested size, built if needed; its
/// description (path or database) and size in bytes.
async fn open(backend: Backend, args: &Args) -> (Store, String, u64) {
    let default_size = args.customers == DEFAULT_CUSTOMERS && args.calls == DEFAULT_CALLS;
    let (url, place) = match backend {
        Backend::Sqlite => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screen_pop_bench");
            std::fs::create_dir_all(&dir).expect("bench dir");
            let path = dir.join(format!("c{}_k{}.db", args.customers, args.calls));
            (
                format!("sqlite://{}", path.display()),
                path.display().to_string(),
            )
        }
        Backend::Postgres => {
            let base = std::env::var("HOTLINE_BENCH_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
            let name = if default_size {
                "hotline_bench".to_owned()
            } else {
                format!("hotline_bench_c{}_k{}", args.customers, args.calls)
            };
            let (server, _) = base.rsplit_once('/').expect("URL with a database");
            (format!("{server}/{name}"), name)
        }
    };
    let reuse = match Store::connect(&url).await {
        Ok(store) => {
            let found = marker(&store).await;
            store.close().await;
            found == Some((args.customers, args.calls, DATA_VERSION))
        }
        Err(_) => false,
    };
    if !reuse {
        println!("{}: building {place} ...", backend.as_str());
        reset(backend, &place).await;
        let store = Store::connect(&url)
            .await
            .expect("connect to the new database");
        let seconds = populate(&store, args).await;
        println!(
            "{}: populated in {seconds:.0} s ({:.1} min)",
            backend.as_str(),
            seconds / 60.0
        );
        store.close().await;
    } else {
        println!("{}: reusing {place}", backend.as_str());
    }
    // A fresh store: the pool's own connection settings, cold caches of its
    // own (the operating system's page cache is warm either way).
    let store = Store::connect(&url).await.expect("connect");
    let populate_ms: i64 = sqlx::query_scalar("SELECT populate_ms FROM bench_marker")
        .fetch_one(store.pool())
        .await
        .expect("marker");
    println!(
        "{}: population took {:.0} s when built",
        backend.as_str(),
        populate_ms as f64 / 1000.0
    );
    let bytes = match backend {
        Backend::Sqlite => ["", "-wal"]
            .iter()
            .filter_map(|ext| std::fs::metadata(format!("{place}{ext}")).ok())
            .map(|m| m.len())
            .sum(),
        Backend::Postgres => {
            sqlx::query_scalar::<_, i64>("SELECT pg_database_size(current_database())")
                .fetch_one(store.pool())
                .await
                .expect("size") as u64
        }
    };
    (store, place, bytes)
}

/// Removes the database at `place` and makes an empty one.
async fn reset(backend: Backend, place: &str) {
    match backend {
        Backend::Sqlite => {
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{place}{ext}"));
            }
        }
        Backend::Postgres => {
            let base = std::env::var("HOTLINE_BENCH_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
            let mut conn = AnyConnection::connect(&base)
                .await
                .expect("connect to PostgreSQL");
            exec(
                &mut conn,
                &format!("DROP DATABASE IF EXISTS {place} WITH (FORCE)"),
            )
            .await;
            exec(&mut conn, &format!("CREATE DATABASE {place}")).await;
            conn.close().await.expect("close");
        }
    }
}

// ------------------------------------------------------------- measuring

#[derive(Clone, Copy, PartialEq)]
enum Query {
    CustomerByPhone,
    ScreenPop,
}

impl Query {
    fn name(self) -> &'static str {
        match self {
            Query::CustomerByPhone => "customer_by_phone",
            Query::ScreenPop => "screen_pop",
        }
    }
}

/// One lookup; returns (customer found, calls listed, open tickets).
async fn lookup(store: &Store, query: Query, number: &str) -> (bool, usize, usize) {
    match query {
        Query::CustomerByPhone => {
            let c = store
                .customer_by_phone(number)
                .await
                .expect("customer_by_phone");
            let open = c.as_ref().map_or(0, |c| c.open_tickets as usize);
            (c.is_some(), 0, open)
        }
        Query::ScreenPop => {
            let pop = store.screen_pop(number).await.expect("screen_pop");
            (
                pop.customer.is_some(),
                pop.recent_calls.len(),
                pop.open_tickets.len(),
            )
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// (median, p99, max) in ms.
fn stats(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort();
    let at = |q: f64| ms(samples[((samples.len() - 1) as f64 * q).round() as usize]);
    (at(0.5), at(0.99), ms(*samples.last().expect("samples")))
}

fn existing_numbers(rng: &mut fastrand::Rng, customers: i64, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| {
            let n = rng.i64(1..=customers);
            phone(n, rng.i64(0..phone_count(n)))
        })
        .collect()
}

/// Numbers of the 1 % of customers who call most (`n % 100 == 1`).
fn frequent_numbers(rng: &mut fastrand::Rng, customers: i64, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| {
            let n = rng.i64(0..(customers / 100).max(1)) * 100 + 1;
            phone(n, rng.i64(0..phone_count(n)))
        })
        .collect()
}

fn unknown_numbers(rng: &mut fastrand::Rng, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| unknown_phone(rng.i64(1..=UNKNOWN_CALLERS)))
        .collect()
}

/// The 1-minute load average, to judge how quiet the machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

async fn measure(store: &Store, args: &Args) {
    let backend = store.backend().as_str();
    println!(
        "{backend}: load average {} before measuring",
        load_average()
    );
    let mut rng = fastrand::Rng::with_seed(7);
    println!();
    println!(
        "| backend | query | numbers | lookups | median ms | p99 ms | max ms | found | calls listed (mean) | open tickets (mean) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for query in [Query::CustomerByPhone, Query::ScreenPop] {
        for kind in ["existing", "frequent", "unknown"] {
            let numbers = |rng: &mut fastrand::Rng, count| match kind {
                "existing" => existing_numbers(rng, args.customers, count),
                "frequent" => frequent_numbers(rng, args.customers, count),
                _ => unknown_numbers(rng, count),
            };
            for number in numbers(&mut rng, WARM_UP) {
                lookup(store, query, &number).await;
            }
            let mut samples = Vec::with_capacity(args.lookups);
            let (mut found, mut listed, mut open) = (0, 0, 0);
            for number in numbers(&mut rng, args.lookups) {
                let t = Instant::now();
                let (f, l, o) = lookup(store, query, &number).await;
                samples.push(t.elapsed());
                found += usize::from(f);
                listed += l;
                open += o;
            }
            // The generator and this file agree on every number.
            let expected = if kind == "unknown" { 0 } else { args.lookups };
            assert_eq!(found, expected, "{backend} {} {kind}", query.name());
            let (median, p99, max) = stats(samples);
            let n = args.lookups as f64;
            println!(
                "| {backend} | {} | {kind} | {} | {median:.3} | {p99:.3} | {max:.3} | {found} | {:.1} | {:.2} |",
                query.name(),
                args.lookups,
                listed as f64 / n,
                open as f64 / n,
            );
        }
    }

    println!();
    println!(
        "| backend | query | tasks | lookups | seconds | lookups/s | median ms | p99 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for query in [Query::CustomerByPhone, Query::ScreenPop] {
        // 85 % existing customers' numbers, 15 % unknown, as the calls are.
        let per_task = (args.lookups / args.tasks).max(1);
        let mut work = Vec::new();
        for _ in 0..args.tasks {
            let mut numbers = existing_numbers(&mut rng, args.customers, per_task);
            let unknown = unknown_numbers(&mut rng, per_task);
            for (i, u) in unknown.into_iter().enumerate() {
                if i % 20 < 3 {
                    numbers[i] = u;
                }
            }
            work.push(numbers);
        }
        let started = Instant::now();
        let tasks: Vec<_> = work
            .into_iter()
            .map(|numbers| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut samples = Vec::with_capacity(numbers.len());
                    for number in numbers {
                        let t = Instant::now();
                        lookup(&store, query, &number).await;
                        samples.push(t.elapsed());
                    }
                    samples
                })
            })
            .collect();
        let mut samples = Vec::new();
        for t in tasks {
            samples.extend(t.await.expect("task"));
        }
        let seconds = started.elapsed().as_secs_f64();
        let total = samples.len();
        let (median, p99, max) = stats(samples);
        println!(
            "| {backend} | {} | {} | {total} | {seconds:.2} | {:.0} | {median:.3} | {p99:.3} | {max:.3} |",
            query.name(),
            args.tasks,
            total as f64 / seconds
        );
    }
    println!("{backend}: load average {} after measuring", load_average());
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    println!(
        "screen_pop bench: {} customers, {} calls, {} lookups per series, {} tasks",
        args.customers, args.calls, args.lookups, args.tasks
    );
    let backends = match args.which {
        Which::Sqlite => vec![Backend::Sqlite],
        Which::Postgres => vec![Backend::Postgres],
        Which::Both => vec![Backend::Sqlite, Backend::Postgres],
    };
    for backend in backends {
        let (store, place, bytes) = open(backend, &args).await;
        println!(
            "{}: {place}, {:.2} GB",
            backend.as_str(),
            bytes as f64 / 1e9
        );
        for table in [
            "customers",
            "customer_phones",
            "products",
            "tickets",
            "calls",
        ] {
            let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(store.pool())
                .await
                .expect("count");
            println!("  {table}: {n} rows");
        }
        let open_tickets: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT customer_id) FROM tickets \
             WHERE stage NOT IN ('followed_up', 'closed')",
        )
        .fetch_one(store.pool())
        .await
        .expect("count");
        println!("  customers with an open ticket: {open_tickets}");
        measure(&store, &args).await;
        store.close().await;
        if backend == Backend::Postgres {
            println!(
                "\nDrop it with: psql -h 127.0.0.1 -U postgres -d test -c 'DROP DATABASE {place}'"
            );
        } else {
            println!("\nRemove it with: rm {place}*");
        }
    }
}
