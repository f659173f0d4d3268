//! Campaign contacts on SQLite and PostgreSQL: enrolment once per ticket or
//! number, the line's order, claims under leases (a claimed contact is
//! nobody else's until its lease runs out; the holder alone writes its
//! end), and two server instances claiming from one campaign at once:
//! every contact dialled exactly once.

mod common;

use std::collections::HashSet;

use common::db::TestDb;
use hotline::campaign::{Next, Outcome};
use hotline::store::Store;
use hotline::store::campaigns::NewContact;

const T0: i64 = 1_790_000_000_000;

fn contact<'a>(number: &'a str, ticket: Option<&'a str>, since: i64) -> NewContact<'a> {
    NewContact {
        campaign: "follow-up",
        number,
        customer_id: None,
        ticket,
        since_at: since,
        due_at: since,
    }
}

async fn enrolment_order_claims_and_leases(db: &TestDb) {
    let store = &db.store;
    assert!(
        store
            .enroll(&contact("13900000001", Some("T1"), T0 + 2), T0)
            .await
            .unwrap()
    );
    assert!(
        store
            .enroll(&contact("13900000002", Some("T2"), T0 + 1), T0)
            .await
            .unwrap()
    );
    assert!(
        store
            .enroll(&contact("13900000003", None, T0 + 3), T0)
            .await
            .unwrap()
    );
    // The same ticket, the same number without a ticket: already there.
    assert!(
        !store
            .enroll(&contact("13900000009", Some("T1"), T0), T0)
            .await
            .unwrap()
    );
    assert!(
        !store
            .enroll(&contact("13900000003", None, T0), T0)
            .await
            .unwrap()
    );
    // Another campaign may have the same ticket.
    let other = NewContact {
        campaign: "callbacks",
        ..contact("13900000001", Some("T1"), T0)
    };
    assert!(store.enroll(&other, T0).await.unwrap());

    let due = store.due_contacts("follow-up", T0 + 10, 10).await.unwrap();
    let numbers: Vec<&str> = due.iter().map(|c| c.number.as_str()).collect();
    assert_eq!(
        numbers,
        ["13900000002", "13900000001", "13900000003"],
        "in line order"
    );
    assert!(
        store
            .due_contacts("follow-up", T0, 10)
            .await
            .unwrap()
            .is_empty(),
        "none due yet"
    );

    // A claims two; B finds them taken.
    let ids: Vec<i64> = due.iter().map(|c| c.id).collect();
    let mut a = store
        .claim_contacts("follow-up", &ids[..2], "a", T0 + 10, 1_000)
        .await
        .unwrap();
    a.sort_unstable();
    let mut first_two = ids[..2].to_vec();
    first_two.sort_unstable();
    assert_eq!(a, first_two);
    let b = store
        .claim_contacts("follow-up", &ids, "b", T0 + 20, 1_000)
        .await
        .unwrap();
    assert_eq!(b, ids[2..], "only what A does not hold");
    // A ends one attempt busy: back in line at its retry time.
    assert!(
        store
            .finish_attempt(
                ids[0],
                "a",
                Outcome::Busy,
                Next::RetryAt(T0 + 600_000),
                T0 + 30
            )
            .await
            .unwrap()
    );
    let c = store.contact(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (c.state.as_str(), c.attempts, c.due_at),
        ("waiting", 1, T0 + 600_000)
    );
    assert_eq!(c.outcome.as_deref(), Some("busy"));
    assert!(
        !store
            .finish_attempt(ids[0], "a", Outcome::Busy, Next::Reached, T0 + 31)
            .await
            .unwrap(),
        "not held now"
    );

    // A dies holding ids[1]: after its lease B takes it over, and A's late
    // word changes nothing.
    assert!(
        store
            .claim_contacts("follow-up", &ids[1..2], "b", T0 + 500, 1_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .claim_contacts("follow-up", &ids[1..2], "b", T0 + 1_011, 1_000)
            .await
            .unwrap(),
        ids[1..2]
    );
    assert!(
        !store
            .finish_attempt(ids[1], "a", Outcome::Answered, Next::Reached, T0 + 1_100)
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_attempt(ids[1], "b", Outcome::Answered, Next::Reached, T0 + 1_200)
            .await
            .unwrap()
    );
    let c = store.contact(ids[1]).await.unwrap().unwrap();
    assert_eq!((c.state.as_str(), c.attempts), ("reached", 1));

    // Do not call.
    store
        .add_do_not_call("13900000003", "asked not to be called", T0)
        .await
        .unwrap();
    store
        .add_do_not_call("13900000003", "again", T0)
        .await
        .unwrap();
    let dnc = store
        .do_not_call_among(&["13900000003".to_owned(), "13900000001".to_owned()])
        .await
        .unwrap();
    assert_eq!(dnc, ["13900000003"]);
    store
        .close_contact(ids[2], "do-not-call", T0 + 40)
        .await
        .unwrap();
    assert_eq!(
        store.contact(ids[2]).await.unwrap().unwrap().state,
        "closed"
    );
}

/// One instance's dialer: claim what is due, "dial" it, end it reached,
/// until nothing is left; the ids it dialled.
async fn dial_everything(store: Store, owner: &'static str) -> Vec<i64> {
    let mut dialled = Vec::new();
    loop {
        let due = store.due_contacts("follow-up", T0 + 1, 7).await.unwrap();
        if due.is_empty() {
            return dialled;
        }
        let ids: Vec<i64> = due.iter().map(|c| c.id).collect();
        let mine = store
            .claim_contacts("follow-up", &ids, owner, T0 + 1, 60_000)
            .await
            .unwrap();
        for id in mine {
            dialled.push(id);
            tokio::task::yield_now().await;
            assert!(
                store
                    .finish_attempt(id, owner, Outcome::Answered, Next::Reached, T0 + 2)
                    .await
                    .unwrap(),
                "{owner} held {id}"
            );
        }
    }
}

async fn two_instances_dial_every_contact_exactly_once(db: &TestDb) {
    const N: usize = 150;
    for i in 0..N {
        let number = format!("139{i:08}");
        let ticket = format!("T{i}");
        db.store
            .enroll(&contact(&number, Some(&ticket), T0 - i as i64), T0)
            .await
            .unwrap();
    }
    // Two instances: two pools on the one database.
    let other = Store::connect(&db.url).await.expect("second instance");
    let (a, b) = tokio::join!(
        tokio::spawn(dial_everything(db.store.clone(), "instance-a")),
        tokio::spawn(dial_everything(other.clone(), "instance-b")),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let all: HashSet<i64> = a.iter().chain(&b).copied().collect();
    assert_eq!(a.len() + b.len(), N, "dialled {} + {}", a.len(), b.len());
    assert_eq!(all.len(), N, "no contact dialled twice");
    let attempts: i64 =
        sqlx::query_scalar("SELECT CAST(SUM(attempts) AS BIGINT) FROM campaign_contacts")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert_eq!(attempts, N as i64);
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM campaign_contacts WHERE state <> 'reached'")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert_eq!(left, 0, "none forgotten");
    eprintln!("instance a dialled {}, b {}", a.len(), b.len());
    other.close().await;
}

/// Every completed ticket is enrolled in the follow-up campaign, due a
/// set time after its completion, once per completion.
async fn completed_tickets_are_enrolled_once(db: &TestDb) {
    let store = &db.store;
    store.seed_demo(T0).await.unwrap();
    let completed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM tickets t WHERE t.stage = 'completed' \
         AND EXISTS (SELECT 1 FROM customer_phones p WHERE p.customer_id = t.customer_id)",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(completed > 0, "the demo has completed tickets");
    let delay = 24 * 3_600_000;
    let n = store
        .enroll_completed_tickets("follow-up", delay, T0)
        .await
        .unwrap();
    assert_eq!(n as i64, completed);
    assert_eq!(
        store
            .enroll_completed_tickets("follow-up", delay, T0)
            .await
            .unwrap(),
        0,
        "once"
    );
    // Due a day after each completion stamp.
    let wrong: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM campaign_contacts c JOIN tickets t ON t.number = c.ticket \
         JOIN ticket_stamps s ON s.ticket_id = t.id AND s.stage = 'completed' \
         WHERE c.due_at <> s.at + $1",
    )
    .bind(delay)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(wrong, 0);

    // A ticket already to be called about (imported by hand) is not
    // enrolled again by its completion; once that call is done, a later
    // completion is followed up again.
    let other = store
        .enroll_completed_tickets("second", delay, T0)
        .await
        .unwrap();
    assert_eq!(other as i64, completed, "another campaign has its own");
    let ticket: String = sqlx::query_scalar(
        "SELECT ticket FROM campaign_contacts WHERE campaign = 'follow-up' ORDER BY id LIMIT 1",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert!(
        store
            .enroll(&contact("13900000001", Some(&ticket), T0), T0)
            .await
            .unwrap(),
        "by hand, keyed by the ticket alone"
    );
    sqlx::query("DELETE FROM campaign_contacts WHERE campaign = 'follow-up' AND dedupe <> $1")
        .bind(format!("ticket:{ticket}"))
        .execute(store.pool())
        .await
        .unwrap();
    let again = store
        .enroll_completed_tickets("follow-up", delay, T0)
        .await
        .unwrap();
    assert_eq!(
        again as i64,
        completed - 1,
        "every completion again but the ticket waiting already"
    );
}

/// Callback requests: in line by the time of the call, and one waiting
/// request per number.
async fn callback_requests_keep_their_place(db: &TestDb) {
    let store = &db.store;
    assert!(
        store
            .enroll_callback("callbacks", "13900000002", "c2", T0 + 2_000, T0 + 9_000)
            .await
            .unwrap()
    );
    assert!(
        store
            .enroll_callback("callbacks", "13900000001", "c1", T0 + 1_000, T0 + 9_500)
            .await
            .unwrap()
    );
    assert!(
        !store
            .enroll_callback("callbacks", "13900000001", "c3", T0 + 5_000, T0 + 9_900)
            .await
            .unwrap(),
        "asked again from the same number: the first request keeps its place"
    );
    let due = store
        .due_contacts("callbacks", T0 + 10_000, 10)
        .await
        .unwrap();
    let order: Vec<(&str, i64)> = due
        .iter()
        .map(|c| (c.number.as_str(), c.since_at))
        .collect();
    assert_eq!(
        order,
        [("13900000001", T0 + 1_000), ("13900000002", T0 + 2_000)],
        "by the time they called, not when they asked"
    );
}

on_both_backends!(
    callback_requests_keep_their_place,
    enrolment_order_claims_and_leases,
    two_instances_dial_every_contact_exactly_once,
    completed_tickets_are_enrolled_once,
);
