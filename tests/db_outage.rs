//! A database failure during a call must not drop the call: the call goes
//! on, the records wait in the writer's queue, and once the database is back
//! they are all written, complete and in order. Runs on PostgreSQL, where an
//! outage can be made for real by taking the `calls` table away mid-call.

mod common;

use std::time::{Duration, Instant};

use common::{Server, have_sipp, scenario, sipp};
use sqlx::{AnyConnection, AssertSqlSafe, Connection};

fn postgres_url() -> String {
    std::env::var("HOTLINE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

async fn exec(url: &str, sql: String) {
    let mut conn = AnyConnection::connect(url).await.expect("connect");
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("sql");
    conn.close().await.ok();
}

fn health(server: &Server) -> serde_json::Value {
    let (_, body) = server.get("/api/health");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn call_survives_a_database_outage_and_its_records_land_afterwards() {
    if !have_sipp() {
        return;
    }
    sqlx::any::install_default_drivers();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = postgres_url();
    if let Err(e) = rt.block_on(AnyConnection::connect(&base)) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL unreachable under CI: {e}"
        );
        eprintln!("SKIPPED: PostgreSQL unreachable at {base}: {e}");
        return;
    }
    let schema = format!("outage_{}_{:08x}", std::process::id(), fastrand::u32(..));
    rt.block_on(exec(&base, format!("CREATE SCHEMA {schema}")));
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");

    let server = Server::start(&["--database", &url]);
    let target = server.sip;
    // Mandarin, then 0 for an agent; hang up in the queue.
    let path = scenario("13700000000", &[('1', 1000), ('0', 1500)], 2000);
    let caller = std::thread::spawn(move || {
        sipp(
            path.to_str().unwrap(),
            target,
            &["-t", "u1", "-m", "1", "-rtp_echo"],
        )
    });

    // Once the call is up, take the table away: every write now fails.
    let deadline = Instant::now() + Duration::from_secs(20);
    while health(&server)["active_calls"] != 1 {
        assert!(Instant::now() < deadline, "call never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
    rt.block_on(exec(&url, "ALTER TABLE calls RENAME TO calls_away".into()));

    // The call goes on to its end: keys, the queue, the caller's BYE.
    let (ok, out) = caller.join().unwrap();
    assert!(
        ok,
        "the call failed during the outage:\n{out}\n{}",
        server.log()
    );
    let pending = health(&server)["pending_records"].as_u64().unwrap();
    assert!(pending > 0, "nothing waited for the database?");

    rt.block_on(exec(&url, "ALTER TABLE calls_away RENAME TO calls".into()));
    let list = server.wait_for_ended_calls(1);
    let call = &list["calls"][0];
    assert_eq!(call["digits"], "10", "{call}");
    assert_eq!(call["hangup_cause"], "caller-bye", "{call}");
    assert!(call["answered_at"].is_i64(), "{call}");
    let (_, detail) = server.get(&format!("/api/calls/{}", call["id"].as_str().unwrap()));
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    let seqs: Vec<i64> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, expected, "an event was lost");
    assert!(server.log().contains("WARN"), "the outage was not logged");
    assert_eq!(health(&server)["pending_records"], 0);

    drop(server);
    rt.block_on(exec(&base, format!("DROP SCHEMA {schema} CASCADE")));
}
