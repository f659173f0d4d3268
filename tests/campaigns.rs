//! Outbound campaigns against the real binary, as far as they go: a
//! survey campaign that follows up completed tickets gets every completed
//! ticket of the database enrolled as the server starts, due a day after
//! its completion.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use hotline::store::Store;

#[test]
fn completed_tickets_are_enrolled_in_the_follow_up_campaign_at_start() {
    let dir = common::temp_dir("campaign-cfg");
    let config = dir.join("hotline.toml");
    std::fs::write(
        &config,
        "[outbound]\nproxy = \"127.0.0.1:5999\"\n[[campaigns]]\nname = \"follow-up\"\nkind = \"survey\"\nflow = \"survey\"\n\
         caller_id = \"4008001234\"\nhours = { mon-fri = \"09:00-20:00\" }\n\
         allow = [\"_1[3-9]XXXXXXXXX\", \"_0XXXXXXXXX!\"]\nenroll_completed_after_hours = 24\n",
    )
    .unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap(), "--demo"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server
        .log()
        .contains("completed tickets enrolled for follow-up")
    {
        assert!(Instant::now() < deadline, "no enrolment:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("sqlite://{}", server.data.join("hotline.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::connect(&url).await.unwrap();
        let (enrolled, completed): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM campaign_contacts WHERE campaign = 'follow-up'), \
             (SELECT COUNT(*) FROM tickets WHERE stage = 'completed')",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert!(completed > 0);
        assert_eq!(enrolled, completed, "every completed demo ticket");
        store.close().await;
    });
}
