//! What the ACD keeps in the store, on both backends: the ACD record ops
//! on calls and agent_state_log (idempotent, first agent kept, latest
//! queue and totals win), agents' skills and queues on users (store, API,
//! demo) and the agent profile the runtime logs agents in with.

mod common;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use common::api::{TestApi, fields};
use common::db::{TestDb, fresh_database};
use hotline::records::{HangupSide, RecordOp};
use hotline::store::{
    AgentProfile, Backend, MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE, NewUser, Role, Store,
    StoreError, UserChanges,
};
use serde_json::json;
use sqlx::{Connection, Row};

on_both_backends!(
    queued_keeps_the_latest_queue,
    agent_answered_keeps_the_first_agent,
    handled_and_wrap_up_keep_the_latest,
    agent_state_rows_land_once,
    acd_ops_for_missing_call_fail,
    whole_acd_call_in_one_batch,
    migrates_from_0005_keeping_users_and_calls,
    users_keep_skills_and_queues,
    store_refuses_bad_skills_and_queues,
    agent_profile_only_for_active_call_takers,
    demo_agents_have_skills,
    api_users_take_skills_and_queues,
    api_refuses_bad_skills_and_queues,
    api_refuses_unconfigured_queues,
    api_calls_show_the_acd_fields,
    concurrent_user_creation_never_fails_on_a_lock,
);

const T0: i64 = 1_714_552_200_000; // 2024-05-01 08:30:00 UTC

// ---------------------------------------------------------------- helpers

fn arrived(id: &str, at: i64) -> RecordOp {
    RecordOp::Arrived {
        call_id: id.to_owned(),
        sip_call_id: format!("sip-{id}@carrier"),
        from_number: "13800138000".to_owned(),
        to_number: "4008001234".to_owned(),
        service_number: "4008001234".to_owned(),
        arrived_at: at,
    }
}

fn queued(id: &str, queue: &str, at: i64) -> RecordOp {
    RecordOp::Queued {
        call_id: id.to_owned(),
        queue: queue.to_owned(),
        at,
    }
}

fn agent_answered(id: &str, agent_id: i64, at: i64, wait_ms: i64) -> RecordOp {
    RecordOp::AgentAnswered {
        call_id: id.to_owned(),
        agent_id,
        at,
        wait_ms,
    }
}

fn handled(id: &str, talk_ms: i64, hold_ms: i64, transfers: i64) -> RecordOp {
    RecordOp::Handled {
        call_id: id.to_owned(),
        talk_ms,
        hold_ms,
        transfers,
    }
}

fn wrap_up(id: &str, agent_id: i64, ms: i64, disposition: Option<&str>, notes: &str) -> RecordOp {
    RecordOp::WrapUp {
        call_id: id.to_owned(),
        agent_id,
        wrap_up_ms: ms,
        disposition: disposition.map(str::to_owned),
        notes: notes.to_owned(),
    }
}

fn agent_state(id: &str, agent_id: i64, from: &str, to: &str, at: i64) -> RecordOp {
    RecordOp::AgentState {
        id: id.to_owned(),
        agent_id,
        from: from.to_owned(),
        to: to.to_owned(),
        reason: (to == "not_ready").then(|| "break".to_owned()),
        why: "agent".to_owned(),
        at,
    }
}

async fn apply_all(store: &Store, ops: &[RecordOp]) {
    for op in ops {
        store
            .apply(op)
            .await
            .unwrap_or_else(|e| panic!("{op:?}: {e}"));
    }
}

/// Each op applied twice in a row, as the record writer does after an
/// ambiguous failure.
async fn apply_twice(store: &Store, ops: &[RecordOp]) {
    for op in ops {
        for attempt in ["first", "retry"] {
            store
                .apply(op)
                .await
                .unwrap_or_else(|e| panic!("{op:?} ({attempt}): {e}"));
        }
    }
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(store.pool())
        .await
        .expect(sql)
}

async fn call_row(store: &Store, id: &str) -> hotline::store::CallRow {
    store.call(id).await.expect("call").expect("present").call
}

/// `agent_state_log` as `(id, agent, from, to, reason, why, at)`, by time.
type StateRow = (String, i64, String, String, Option<String>, String, i64);

async fn state_log(store: &Store) -> Vec<StateRow> {
    sqlx::query(
        "SELECT id, agent_id, from_state, to_state, reason, why, at \
         FROM agent_state_log ORDER BY at, id",
    )
    .fetch_all(store.pool())
    .await
    .expect("agent_state_log")
    .iter()
    .map(|r| {
        (
            r.get("id"),
            r.get("agent_id"),
            r.get("from_state"),
            r.get("to_state"),
            r.get("reason"),
            r.get("why"),
            r.get("at"),
        )
    })
    .collect()
}

fn skills(pairs: &[(&str, u8)]) -> BTreeMap<String, u8> {
    pairs.iter().map(|(n, l)| ((*n).to_owned(), *l)).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn new_user(username: &str, role: Role) -> NewUser {
    NewUser {
        username: username.to_owned(),
        display_name: format!("User {username}"),
        role,
        outlet_id: None,
        password_hash: "not-a-real-hash".to_owned(),
        sip_ha1: String::new(),
        skills: BTreeMap::new(),
        queues: Vec::new(),
    }
}

// ------------------------------------------------------ the record ops

async fn queued_keeps_the_latest_queue(db: &TestDb) {
    let store = &db.store;
    apply_twice(
        store,
        &[arrived("c1", T0), queued("c1", "repair", T0 + 10_000)],
    )
    .await;
    let row = call_row(store, "c1").await;
    assert_eq!(row.queue.as_deref(), Some("repair"));
    assert_eq!(row.queued_at, Some(T0 + 10_000));

    // Transferred to another queue: the latest wins...
    apply_twice(store, &[queued("c1", "complaint", T0 + 90_000)]).await;
    // ... even over a late retry of the earlier one.
    apply_all(store, &[queued("c1", "repair", T0 + 10_000)]).await;
    let row = call_row(store, "c1").await;
    assert_eq!(row.queue.as_deref(), Some("complaint"));
    assert_eq!(row.queued_at, Some(T0 + 90_000));
    assert_eq!(count(store, "SELECT COUNT(*) FROM calls").await, 1);

    // A call that never queued shows none.
    apply_all(store, &[arrived("c2", T0)]).await;
    let row = call_row(store, "c2").await;
    assert_eq!((row.queue, row.queued_at), (None, None));
}

async fn agent_answered_keeps_the_first_agent(db: &TestDb) {
    let store = &db.store;
    apply_twice(
        store,
        &[
            arrived("c1", T0),
            queued("c1", "repair", T0 + 10_000),
            agent_answered("c1", 7, T0 + 22_000, 12_000),
        ],
    )
    .await;
    let row = call_row(store, "c1").await;
    assert_eq!(row.agent_id, Some(7));
    assert_eq!(row.agent_answered_at, Some(T0 + 22_000));
    assert_eq!(row.wait_ms, Some(12_000));

    // A second agent after a transfer: the first one stays, with their
    // answer time and wait.
    apply_twice(store, &[agent_answered("c1", 9, T0 + 80_000, 3_000)]).await;
    let row = call_row(store, "c1").await;
    assert_eq!(
        (row.agent_id, row.agent_answered_at, row.wait_ms),
        (Some(7), Some(T0 + 22_000), Some(12_000))
    );
    // Answering the caller's leg (the IVR) is another column.
    assert_eq!(row.answered_at, None);
}

async fn handled_and_wrap_up_keep_the_latest(db: &TestDb) {
    let store = &db.store;
    apply_twice(
        store,
        &[
            arrived("c1", T0),
            handled("c1", 40_000, 5_000, 0),
            wrap_up("c1", 7, 20_000, Some("resolved"), "换了主板"),
        ],
    )
    .await;
    let row = call_row(store, "c1").await;
    assert_eq!(
        (row.talk_ms, row.hold_ms, row.transfers),
        (Some(40_000), Some(5_000), 0)
    );
    assert_eq!(row.wrap_up_ms, Some(20_000));
    assert_eq!(row.disposition.as_deref(), Some("resolved"));
    assert_eq!(row.notes.as_deref(), Some("换了主板"));

    // The totals after a transfer, and the second agent's wrap-up: each
    // op carries the call's values so far, so the latest replaces them.
    apply_twice(
        store,
        &[
            handled("c1", 95_000, 5_000, 1),
            wrap_up("c1", 9, 31_000, None, ""),
        ],
    )
    .await;
    let row = call_row(store, "c1").await;
    assert_eq!(
        (row.talk_ms, row.hold_ms, row.transfers),
        (Some(95_000), Some(5_000), 1)
    );
    assert_eq!(
        (row.wrap_up_ms, row.disposition, row.notes),
        (Some(31_000), None, Some(String::new()))
    );
    // None of it touched the first agent.
    assert_eq!(row.agent_id, None);
}

async fn agent_state_rows_land_once(db: &TestDb) {
    let store = &db.store;
    // No call is needed: these name an agent, not a call.
    let ops = [
        agent_state("s-7-1", 7, "logged_out", "ready", T0),
        agent_state("s-7-2", 7, "ready", "not_ready", T0 + 60_000),
        agent_state("s-9-1", 9, "logged_out", "ready", T0 + 1_000),
    ];
    apply_twice(store, &ops).await;
    // A replayed batch writes nothing twice either.
    store.apply_batch(&ops).await.expect("replayed batch");
    // A duplicate id with other values: the first stays.
    apply_all(store, &[agent_state("s-7-1", 7, "x", "y", T0 + 5)]).await;
    let log = state_log(store).await;
    let row = |id: &str, agent, from: &str, to: &str, reason: Option<&str>, at| {
        (
            id.to_owned(),
            agent,
            from.to_owned(),
            to.to_owned(),
            reason.map(str::to_owned),
            "agent".to_owned(),
            at,
        )
    };
    assert_eq!(
        log,
        [
            row("s-7-1", 7, "logged_out", "ready", None, T0),
            row("s-9-1", 9, "logged_out", "ready", None, T0 + 1_000),
            row("s-7-2", 7, "ready", "not_ready", Some("break"), T0 + 60_000),
        ]
    );
    assert_eq!(count(store, "SELECT COUNT(*) FROM calls").await, 0);
}

async fn acd_ops_for_missing_call_fail(db: &TestDb) {
    let store = &db.store;
    for op in [
        queued("ghost", "repair", T0),
        agent_answered("ghost", 7, T0, 0),
        handled("ghost", 1, 0, 0),
        wrap_up("ghost", 7, 1, Some("resolved"), ""),
    ] {
        match store.apply(&op).await {
            Err(StoreError::MissingCall { call_id }) => assert_eq!(call_id, "ghost"),
            other => panic!("{op:?}: expected MissingCall, got {other:?}"),
        }
    }
    assert_eq!(count(store, "SELECT COUNT(*) FROM calls").await, 0);
    // A state change never misses a call.
    store
        .apply(&agent_state("s1", 7, "ready", "ringing", T0))
        .await
        .expect("agent state without calls");
    // In a batch, a missing call undoes the state change with it.
    let batch = [
        agent_state("s2", 7, "ringing", "ready", T0 + 1),
        handled("ghost", 1, 0, 0),
    ];
    assert!(matches!(
        store.apply_batch(&batch).await,
        Err(StoreError::MissingCall { .. })
    ));
    assert_eq!(state_log(store).await.len(), 1);
}

/// An ACD call as the engine records it, in one batch and then replayed:
/// the call detail and the list show every ACD field.
async fn whole_acd_call_in_one_batch(db: &TestDb) {
    let store = &db.store;
    let ops = [
        arrived("c1", T0),
        RecordOp::Answered {
            call_id: "c1".to_owned(),
            at: T0 + 500,
        },
        queued("c1", "repair", T0 + 10_000),
        agent_state("s1", 3, "ready", "ringing", T0 + 15_000),
        agent_state("s2", 3, "ringing", "on_call", T0 + 22_000),
        agent_answered("c1", 3, T0 + 22_000, 12_000),
        handled("c1", 40_000, 5_000, 0),
        RecordOp::Ended {
            call_id: "c1".to_owned(),
            at: T0 + 67_000,
            cause: "caller-bye".to_owned(),
            side: HangupSide::Caller,
        },
        agent_state("s3", 3, "on_call", "wrap_up", T0 + 67_000),
        wrap_up("c1", 3, 20_000, Some("resolved"), "约了上门"),
        agent_state("s4", 3, "wrap_up", "ready", T0 + 87_000),
    ];
    store.apply_batch(&ops).await.expect("batch");
    store.apply_batch(&ops).await.expect("replayed batch");
    let row = call_row(store, "c1").await;
    assert_eq!(row.answered_at, Some(T0 + 500));
    assert_eq!(row.ended_at, Some(T0 + 67_000));
    assert_eq!(row.queue.as_deref(), Some("repair"));
    assert_eq!(row.queued_at, Some(T0 + 10_000));
    assert_eq!(row.agent_id, Some(3));
    assert_eq!(row.agent_answered_at, Some(T0 + 22_000));
    assert_eq!(row.wait_ms, Some(12_000));
    assert_eq!(row.talk_ms, Some(40_000));
    assert_eq!(row.hold_ms, Some(5_000));
    assert_eq!(row.transfers, 0);
    assert_eq!(row.wrap_up_ms, Some(20_000));
    assert_eq!(row.disposition.as_deref(), Some("resolved"));
    assert_eq!(row.notes.as_deref(), Some("约了上门"));
    assert_eq!(store.recent_calls(10).await.expect("recent"), [row]);
    assert_eq!(state_log(store).await.len(), 4);
}

/// A database an older hotline left at 0005, with a user and a call,
/// gets 0006 on connect: the call has no ACD values and no transfers,
/// the user no skills and every queue.
async fn migrates_from_0005_keeping_users_and_calls(db: &TestDb) {
    let backend = db.store.backend();
    let Some((url, _guard)) =
        fresh_database(backend, "migrates_from_0005_keeping_users_and_calls").await
    else {
        return;
    };
    let migrations = match backend {
        Backend::Sqlite => MIGRATIONS_SQLITE,
        Backend::Postgres => MIGRATIONS_POSTGRES,
    };
    assert_eq!(migrations[4].version, 5);
    assert_eq!(migrations[5].name, "acd");
    let mut conn = sqlx::AnyConnection::connect(&url).await.expect("connect");
    sqlx::raw_sql(
        "CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, \
         name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .expect("schema_migrations");
    for m in &migrations[..5] {
        sqlx::raw_sql(m.sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", m.name));
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 0)")
            .bind(m.version)
            .bind(m.name)
            .execute(&mut conn)
            .await
            .expect("version");
    }
    sqlx::query(
        "INSERT INTO calls (id, sip_call_id, from_number, to_number, service_number, \
         arrived_at) VALUES ('old', 'sip-old', '13800138000', '4008001234', '4008001234', $1)",
    )
    .bind(T0)
    .execute(&mut conn)
    .await
    .expect("old call");
    sqlx::query(
        "INSERT INTO users (username, display_name, role, password_hash, created_at) \
         VALUES ('liu', '刘洋', 'agent', 'x', 0)",
    )
    .execute(&mut conn)
    .await
    .expect("old user");
    conn.close().await.expect("close");

    let store = Store::connect(&url).await.expect("migrate from 0005");
    let old = store.call("old").await.expect("call").expect("kept");
    assert_eq!(old.call.queue, None);
    assert_eq!(old.call.agent_id, None);
    assert_eq!(old.call.transfers, 0);
    let users = store.users().await.expect("users");
    assert_eq!(users.len(), 1);
    assert!(users[0].skills.is_empty() && users[0].queues.is_empty());
    let profile = store
        .agent_profile(users[0].id)
        .await
        .expect("profile")
        .expect("an agent");
    assert_eq!(profile.username, "liu");
    // The old call takes the ACD ops.
    apply_all(
        &store,
        &[
            queued("old", "repair", T0 + 1),
            agent_answered("old", users[0].id, T0 + 2, 1),
        ],
    )
    .await;
    assert_eq!(call_row(&store, "old").await.agent_id, Some(users[0].id));
    store.close().await;
}

// ------------------------------------------- skills and queues on users

async fn users_keep_skills_and_queues(db: &TestDb) {
    let store = &db.store;
    let mut new = new_user("liu", Role::Agent);
    new.skills = skills(&[("repair", 8), ("complaint", 3), ("installation", 5)]);
    new.queues = strings(&["repair", "general"]);
    let created = store.create_user(&new, T0).await.expect("create");
    assert_eq!(created.skills, new.skills);
    assert_eq!(created.queues, new.queues);
    // Stored in the canonical text.
    let (stored_skills, stored_queues): (String, String) =
        sqlx::query_as("SELECT skills, queues FROM users WHERE id = $1")
            .bind(created.id)
            .fetch_one(store.pool())
            .await
            .expect("stored");
    assert_eq!(stored_skills, "complaint=3,installation=5,repair=8");
    assert_eq!(stored_queues, "repair,general");
    assert_eq!(
        store.user(created.id).await.expect("user"),
        Some(created.clone())
    );
    assert_eq!(
        store.users().await.expect("users"),
        std::slice::from_ref(&created)
    );

    // Each replaced on its own; other changes leave them alone.
    let changed = store
        .update_user(
            created.id,
            &UserChanges {
                skills: Some(skills(&[("repair", 10)])),
                ..UserChanges::default()
            },
        )
        .await
        .expect("skills");
    assert_eq!(changed.skills, skills(&[("repair", 10)]));
    assert_eq!(changed.queues, new.queues);
    let changed = store
        .update_user(
            created.id,
            &UserChanges {
                queues: Some(Vec::new()),
                display_name: Some("刘洋".to_owned()),
                ..UserChanges::default()
            },
        )
        .await
        .expect("queues");
    assert_eq!(changed.skills, skills(&[("repair", 10)]));
    assert!(changed.queues.is_empty());
    assert_eq!(changed.display_name, "刘洋");

    // A signed-in user reads them too.
    store
        .create_session("token-hash", created.id, T0, T0 + 1_000)
        .await
        .expect("session");
    let me = store
        .session_user("token-hash", T0)
        .await
        .expect("session user")
        .expect("signed in");
    assert_eq!(me.skills, skills(&[("repair", 10)]));
}

async fn store_refuses_bad_skills_and_queues(db: &TestDb) {
    let store = &db.store;
    let mut new = new_user("liu", Role::Agent);
    // Values the text form could not read back.
    new.skills = skills(&[("a,b", 3), ("repair", 0), ("ok", 11)]);
    new.queues = strings(&["repair", "x=y", "repair"]);
    match store.create_user(&new, T0).await {
        Err(StoreError::Invalid(errors)) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(
                fields,
                [
                    "skills",
                    "skills.ok",
                    "skills.repair",
                    "queues[1]",
                    "queues[2]"
                ]
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(store.users().await.expect("users").is_empty());

    let user = store
        .create_user(&new_user("liu", Role::Agent), T0)
        .await
        .expect("create");
    let bad = UserChanges {
        skills: Some(skills(&[("Repair", 5)])),
        display_name: Some("changed".to_owned()),
        ..UserChanges::default()
    };
    assert!(matches!(
        store.update_user(user.id, &bad).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.user(user.id).await.expect("user"), Some(user.clone()));

    // A stored value that does not parse (written by hand) is an error to
    // read, not a silent empty list.
    sqlx::query("UPDATE users SET skills = 'repair=99' WHERE id = $1")
        .bind(user.id)
        .execute(store.pool())
        .await
        .expect("by hand");
    assert!(matches!(
        store.user(user.id).await,
        Err(StoreError::Database(_))
    ));
    assert!(matches!(
        store.agent_profile(user.id).await,
        Err(StoreError::Database(_))
    ));
}

async fn agent_profile_only_for_active_call_takers(db: &TestDb) {
    let store = &db.store;
    let mut agent = new_user("liu", Role::Agent);
    agent.display_name = "坐席 刘洋".to_owned();
    agent.skills = skills(&[("repair", 8), ("installation", 5)]);
    agent.queues = strings(&["repair", "general"]);
    let agent = store.create_user(&agent, T0).await.expect("agent");
    let mut boss = new_user("chen", Role::Supervisor);
    boss.skills = skills(&[("complaint", 8)]);
    let boss = store.create_user(&boss, T0).await.expect("supervisor");

    assert_eq!(
        store.agent_profile(agent.id).await.expect("profile"),
        Some(AgentProfile {
            id: agent.id,
            username: "liu".to_owned(),
            display_name: "坐席 刘洋".to_owned(),
            role: Role::Agent,
            skills: skills(&[("installation", 5), ("repair", 8)]),
            queues: strings(&["repair", "general"]),
        })
    );
    let profile = store
        .agent_profile(boss.id)
        .await
        .expect("profile")
        .expect("a supervisor takes calls");
    assert_eq!(profile.role, Role::Supervisor);
    assert_eq!(profile.skills, skills(&[("complaint", 8)]));
    assert!(profile.queues.is_empty());

    // Nobody else takes calls, even with skills.
    for role in [Role::Admin, Role::Qa] {
        let mut other = new_user(role.as_str(), role);
        other.skills = skills(&[("repair", 5)]);
        let other = store.create_user(&other, T0).await.expect("user");
        assert_eq!(
            store.agent_profile(other.id).await.expect("profile"),
            None,
            "{role:?}"
        );
    }
    assert_eq!(store.agent_profile(999_999).await.expect("profile"), None);

    // Deactivated: none; and a demoted agent neither.
    store
        .update_user(
            agent.id,
            &UserChanges {
                active: Some(false),
                ..UserChanges::default()
            },
        )
        .await
        .expect("deactivate");
    assert_eq!(store.agent_profile(agent.id).await.expect("profile"), None);
    store
        .update_user(
            boss.id,
            &UserChanges {
                role: Some((Role::Qa, None)),
                ..UserChanges::default()
            },
        )
        .await
        .expect("demote");
    assert_eq!(store.agent_profile(boss.id).await.expect("profile"), None);
}

async fn demo_agents_have_skills(db: &TestDb) {
    let store = &db.store;
    assert!(
        hotline::rt::demo::seed(store, "hotline", T0)
            .await
            .expect("seed")
    );
    let users = store.users().await.expect("users");
    let id = |name: &str| users.iter().find(|u| u.username == name).expect(name).id;
    let agent = store
        .agent_profile(id("agent"))
        .await
        .expect("profile")
        .expect("agent");
    assert_eq!(
        agent.skills,
        skills(&[("repair", 8), ("installation", 5), ("complaint", 3)])
    );
    assert_eq!(
        agent.queues,
        ["repair", "installation", "complaint", "general"]
    );
    let supervisor = store
        .agent_profile(id("supervisor"))
        .await
        .expect("profile")
        .expect("supervisor");
    assert!(!supervisor.skills.is_empty());
    assert!(supervisor.queues.is_empty(), "every queue");
    // The demo queues are the default configuration's.
    let configured: Vec<String> = hotline::config::Config::default()
        .queues
        .into_iter()
        .map(|q| q.name)
        .collect();
    assert_eq!(agent.queues_among(&configured), configured);
    assert_eq!(supervisor.queues_among(&configured), configured);
    for name in ["admin", "qa", "xihu"] {
        assert_eq!(
            store.agent_profile(id(name)).await.expect("profile"),
            None,
            "{name}"
        );
    }
}

// --------------------------------------------------------------- the API

async fn api_users_take_skills_and_queues(db: &TestDb) {
    let api = TestApi::new(db);
    let admin = api.sign_in_as(Role::Admin, None).await;
    let (status, body) = api
        .post(
            "/api/users",
            &admin,
            json!({
                "username": "liu", "role": "agent", "password": "a-long-password",
                "skills": { "repair": 8, "complaint": 3 },
                "queues": ["repair", "general"],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["skills"], json!({ "complaint": 3, "repair": 8 }));
    assert_eq!(body["queues"], json!(["repair", "general"]));
    let id = body["id"].as_i64().expect("id");

    // Without them: none, and every queue.
    let (status, body) = api
        .post(
            "/api/users",
            &admin,
            json!({ "username": "zhao", "role": "qa", "password": "a-long-password" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["skills"], json!({}));
    assert_eq!(body["queues"], json!([]));

    let (status, body) = api
        .patch(
            &format!("/api/users/{id}"),
            &admin,
            json!({ "skills": { "installation": 10 } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["skills"], json!({ "installation": 10 }));
    assert_eq!(body["queues"], json!(["repair", "general"]));
    let (status, body) = api
        .patch(
            &format!("/api/users/{id}"),
            &admin,
            json!({ "queues": [], "skills": {} }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["skills"], &body["queues"]), (&json!({}), &json!([])));

    let (status, body) = api.get("/api/users", &admin).await;
    assert_eq!(status, StatusCode::OK);
    let liu = body["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == "liu")
        .expect("liu listed");
    assert_eq!(liu["skills"], json!({}));
    let profile = api
        .store()
        .agent_profile(id)
        .await
        .expect("profile")
        .expect("agent");
    assert!(profile.skills.is_empty() && profile.queues.is_empty());
}

async fn api_refuses_bad_skills_and_queues(db: &TestDb) {
    let api = TestApi::new(db);
    let admin = api.sign_in_as(Role::Admin, None).await;
    let (status, body) = api
        .post(
            "/api/users",
            &admin,
            json!({
                "username": "liu", "role": "agent", "password": "a-long-password",
                "skills": { "repair": 11, "Bad Name": 3, "ok": 1, "low": 0 },
                "queues": ["repair", "repair", "a,b", ""],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        fields(&body),
        [
            "skills",
            "skills.low",
            "skills.repair",
            "queues[1]",
            "queues[2]",
            "queues[3]"
        ]
    );
    assert!(
        body.to_string().contains("level must be 1-10, not 11"),
        "{body}"
    );
    // A level that is not a number is named by the body check.
    let (status, body) = api
        .post(
            "/api/users",
            &admin,
            json!({
                "username": "liu", "role": "agent", "password": "a-long-password",
                "skills": { "repair": "7" },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(fields(&body), ["skills.repair"]);
    let (status, body) = api
        .post(
            "/api/users",
            &admin,
            json!({
                "username": "liu", "role": "agent", "password": "a-long-password",
                "queues": "repair,general",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(fields(&body), ["queues"]);
    // Nothing was created by any of them.
    let users = api.store().users().await.expect("users");
    assert!(users.iter().all(|u| u.username != "liu"), "{users:?}");

    let user = api
        .store()
        .create_user(&new_user("zhang", Role::Agent), T0)
        .await
        .expect("user");
    let (status, body) = api
        .patch(
            &format!("/api/users/{}", user.id),
            &admin,
            json!({ "skills": { "repair": -1 }, "queues": ["x y"], "display_name": "new" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(fields(&body), ["skills.repair", "queues[0]"]);
    assert_eq!(
        api.store().user(user.id).await.expect("user"),
        Some(user),
        "unchanged"
    );
}

async fn api_refuses_unconfigured_queues(db: &TestDb) {
    let mut api = TestApi::new(db);
    let admin = api.sign_in_as(Role::Admin, None).await;
    let body = |username: &str| {
        json!({
            "username": username, "role": "agent", "password": "a-long-password",
            "queues": ["repair", "vip"],
        })
    };
    // Without the configured queues only the names' form is checked.
    let (status, created) = api.post("/api/users", &admin, body("first")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    api.state =
        api.state
            .clone()
            .with_queues(strings(&["repair", "installation", "complaint", "general"]));
    let (status, refused) = api.post("/api/users", &admin, body("second")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(fields(&refused), ["queues[1]"]);
    assert!(
        refused.to_string().contains("not a configured queue"),
        "{refused}"
    );
    let id = created["id"].as_i64().expect("id");
    let (status, refused) = api
        .patch(
            &format!("/api/users/{id}"),
            &admin,
            json!({ "queues": ["general", "vip"] }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(fields(&refused), ["queues[1]"]);
    let (status, changed) = api
        .patch(
            &format!("/api/users/{id}"),
            &admin,
            json!({ "queues": ["general", "complaint"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["queues"], json!(["general", "complaint"]));
}

async fn api_calls_show_the_acd_fields(db: &TestDb) {
    let api = TestApi::new(db);
    let agent = api.sign_in_as(Role::Agent, None).await;
    apply_all(
        api.store(),
        &[
            arrived("c1", T0),
            queued("c1", "repair", T0 + 10_000),
            agent_answered("c1", 3, T0 + 22_000, 12_000),
            handled("c1", 40_000, 5_000, 1),
            wrap_up("c1", 3, 20_000, Some("resolved"), "约了上门"),
            arrived("c2", T0 - 1),
        ],
    )
    .await;
    let (status, list) = api.get("/api/calls", &agent).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let calls = list["calls"].as_array().expect("calls");
    let acd = json!({
        "queue": "repair", "queued_at": T0 + 10_000, "agent_id": 3,
        "agent_answered_at": T0 + 22_000, "wait_ms": 12_000, "talk_ms": 40_000,
        "hold_ms": 5_000, "transfers": 1, "wrap_up_ms": 20_000,
        "disposition": "resolved", "notes": "约了上门",
    });
    for (key, want) in acd.as_object().expect("object") {
        assert_eq!(&calls[0][key], want, "list: {key}");
    }
    let none = json!({
        "queue": null, "queued_at": null, "agent_id": null, "agent_answered_at": null,
        "wait_ms": null, "talk_ms": null, "hold_ms": null, "transfers": 0,
        "wrap_up_ms": null, "disposition": null, "notes": null,
    });
    for (key, want) in none.as_object().expect("object") {
        assert_eq!(&calls[1][key], want, "never queued: {key}");
    }
    let (status, detail) = api.get("/api/calls/c1", &agent).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    for (key, want) in acd.as_object().expect("object") {
        assert_eq!(&detail[key], want, "detail: {key}");
    }

    // The OpenAPI document describes them.
    let (status, doc) = api.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let props = &doc["components"]["schemas"]["CallRow"]["properties"];
    for key in acd.as_object().expect("object").keys() {
        assert!(props.get(key).is_some(), "CallRow schema lacks {key}");
    }
    let user = &doc["components"]["schemas"]["User"]["properties"];
    assert!(user.get("skills").is_some() && user.get("queues").is_some());
    let create = &doc["components"]["schemas"]["CreateUser"]["properties"];
    assert!(create.get("skills").is_some() && create.get("queues").is_some());
}

/// Sixteen users created at once (an admin's script setting up a shift):
/// each transaction reads then writes, and on SQLite a deferred one would
/// fail at once with "database is locked" instead of waiting its turn.
async fn concurrent_user_creation_never_fails_on_a_lock(db: &TestDb) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = db.store.clone();
        tasks.spawn(async move {
            store
                .create_user(&new_user(&format!("shift{i}"), Role::Agent), T0)
                .await
        });
    }
    let mut created = 0;
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("every creation succeeds");
        created += 1;
    }
    assert_eq!(created, 16);
}
