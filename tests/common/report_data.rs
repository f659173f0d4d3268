//! A data set for the reports whose answers are known by construction,
//! written through the store's own record writer ([`Store::apply_batch`],
//! the ops the engine emits) and, for customers, outlets and tickets,
//! plain SQL. Every figure tests/reports.rs and tests/reports_page.rs
//! expect is worked out in the comments here.
//!
//! The day is [`DAY`] (2025-03-10, a Monday) in Asia/Shanghai, the desk's
//! default time zone; [`at`] gives its local times.
//!
//! Calls on DAY:
//! - 10:00-10:50, queue `repair`: 100 queued calls, one every 30 s, each
//!   from its own number. 80 answered within 20 s (waits 5..=20 s, five of
//!   each: 1,000 s), 12 answered after 30 s (360 s), 8 abandoned after
//!   10, 20, ... 80 s (360 s, 45.0 s each). Answered ones: talk 100 s,
//!   hold 10 s, wrap-up 20 s; call 7 was transferred once. Even calls to
//!   agent A, odd to agent B. Service level 80.0%, ASA 1,360 / 92 =
//!   14.8 s, abandon rate 8.0%, AHT 130.0 s.
//! - 11:00, queue `install`: 2 callbacks (the queue let them go after
//!   60 s, then they chose a callback), 1 that left the queue after its
//!   maximum wait and hung up in the message flow, 1 the hotline hung up
//!   (overflow), 1 still waiting, 2 answered by A after 10 s (talk 60 s,
//!   wrap-up 30 s), and 1 that stayed in the IVR. Service level 2 ÷ (7 −
//!   1 − 2) = 50.0%; nothing abandoned.
//! - 14:00: 4 outbound survey calls, 3 answered.
//! - 15:00: first-call resolution. P1 (customer C1, who also has P2)
//!   answered by A, P2 calls again 3 days later: repeated. P3 (nobody's)
//!   answered by A, calls again 9 days later: resolved (outside 7 days).
//!   P4 answered by B, calls again the next day (IVR only): repeated.
//!   A withheld caller answered by B: not asked. Talk 30 s, wrap-up 5 s.
//! - 23:59:50: a call answered at 00:00:05 the next day (wait 13 s, agent
//!   B, talk 585 s, wrap-up 15 s, ended 00:10): counted on DAY, 23:00.
//! - The next day 00:00:10: one more, answered by A after 8 s.
//!
//! DAY totals: inbound 113, queued 112, answered 99 (87 in time),
//! abandoned 8, callbacks 2, left the queue 2, waiting 1; service level
//! 87 ÷ 109 = 79.8%; FCR asked of 98, 2 repeated: 98.0%; outbound 4, 3
//! answered.
//!
//! Agents on DAY: A ready 09:00-10:00 and 10:15-12:00, not ready (break)
//! 10:00-10:15, then at 12:00:00.000 two changes in the same millisecond
//! (ready → wrap_up, wrap_up → logged_out, ids `...-9` and `...-10`: in
//! text order the wrong way round). B ready from 22:00 the day before
//! until 01:00, not ready (meal) until 02:00, logged out. C ready from
//! 23:00 on.
//!
//! Tickets (two outlets: X city, Y town):
//! - T1 repair at X: accepted 09:00, dispatched 10:00, in service 14:00,
//!   completed 20:00 (on time).
//! - T2 repair at X: accepted 09:00, dispatched 09:30, completed the next
//!   day 15:30, after its completion was recorded overdue (late).
//! - T3 installation at Y: accepted 08:00, dispatched 12:00 after its
//!   dispatch was recorded overdue (late), in service the next day 08:00,
//!   completed the day after 12:00 (on time).
//! - T4, T5: complaints about 服务态度 and 收费争议.
//! - T6 repair (漏水) at X: accepted 07:00, dispatched 07:30, completed
//!   12:30, followed up 13:00 with a 2, reopened the next day 10:00.
//! - T7 repair at Y: accepted 09:00, dispatched 09:10, completed 13:10,
//!   followed up the next day 09:00 with a 5, closed 09:05.

use hotline::api::auth::hash_password;
use hotline::records::{HangupSide, RecordOp};
use hotline::store::{NewUser, Role, Store};
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// The seeded day, in the desk's calendar.
pub const DAY: &str = "2025-03-10";
pub const TIME_ZONE: &str = "Asia/Shanghai";
pub const SERVICE: &str = "4008001234";

/// Local time `h:m:s` on DAY + `day` days, epoch ms.
pub fn at(day: i64, h: i64, m: i64, s: i64) -> i64 {
    let date: Date = DAY.parse().unwrap();
    let date = date.checked_add(jiff::Span::new().days(day)).unwrap();
    let midnight = date
        .to_zoned(TimeZone::get(TIME_ZONE).unwrap())
        .unwrap()
        .timestamp()
        .as_millisecond();
    midnight + ((h * 60 + m) * 60 + s) * 1000
}

/// YYYY-MM-DD of DAY + `day`.
pub fn date(day: i64) -> String {
    let date: Date = DAY.parse().unwrap();
    date.checked_add(jiff::Span::new().days(day))
        .unwrap()
        .to_string()
}

/// What the seed made that tests name.
#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    pub agent_a: i64,
    pub agent_b: i64,
    pub agent_c: i64,
    pub outlet_x: i64,
    pub outlet_y: i64,
    pub customer: i64,
}

/// The ops of one call, built up in order.
pub struct Call {
    pub id: String,
    pub ops: Vec<RecordOp>,
    seq: i64,
}

impl Call {
    pub fn arrive(id: &str, caller: &str, arrived_at: i64) -> Call {
        Call {
            id: id.to_owned(),
            ops: vec![RecordOp::Arrived {
                call_id: id.to_owned(),
                sip_call_id: format!("sip-{id}"),
                from_number: caller.to_owned(),
                to_number: SERVICE.to_owned(),
                service_number: SERVICE.to_owned(),
                arrived_at,
            }],
            seq: 0,
        }
    }

    /// More ops for a call already written (late records).
    pub fn existing(id: &str) -> Call {
        Call {
            id: id.to_owned(),
            ops: Vec::new(),
            seq: 0,
        }
    }

    pub fn queue(mut self, queue: &str, at: i64) -> Call {
        self.ops.push(RecordOp::Queued {
            call_id: self.id.clone(),
            queue: queue.to_owned(),
            at,
        });
        self
    }

    pub fn answer(mut self, agent: i64, at: i64, wait_ms: i64) -> Call {
        self.ops.push(RecordOp::AgentAnswered {
            call_id: self.id.clone(),
            agent_id: agent,
            at,
            wait_ms,
        });
        self
    }

    pub fn handled(mut self, talk_ms: i64, hold_ms: i64, transfers: i64) -> Call {
        self.ops.push(RecordOp::Handled {
            call_id: self.id.clone(),
            talk_ms,
            hold_ms,
            transfers,
        });
        self
    }

    pub fn wrap_up(mut self, agent: i64, wrap_up_ms: i64) -> Call {
        self.ops.push(RecordOp::WrapUp {
            call_id: self.id.clone(),
            agent_id: agent,
            wrap_up_ms,
            disposition: Some("resolved".into()),
            notes: String::new(),
        });
        self
    }

    pub fn event(mut self, kind: &str, at: i64) -> Call {
        self.seq += 1;
        self.ops.push(RecordOp::Event {
            call_id: self.id.clone(),
            seq: self.seq,
            at,
            kind: kind.to_owned(),
            detail: String::new(),
        });
        self
    }

    pub fn end(mut self, at: i64, side: HangupSide) -> Call {
        self.ops.push(RecordOp::Ended {
            call_id: self.id.clone(),
            at,
            cause: "caller-bye".into(),
            side,
        });
        self
    }

    /// Queued at `arrived + 5 s`, answered by `agent` after `wait_s`, with
    /// its talk, hold and wrap-up (`[wait_s, talk_s, hold_s, wrap_s]`),
    /// ended by the caller after the talk.
    pub fn answered(
        id: &str,
        caller: &str,
        arrived: i64,
        queue: &str,
        agent: i64,
        [wait_s, talk_s, hold_s, wrap_s]: [i64; 4],
    ) -> Call {
        let queued = arrived + 5_000;
        let answered = queued + wait_s * 1000;
        Call::arrive(id, caller, arrived)
            .queue(queue, queued)
            .answer(agent, answered, wait_s * 1000)
            .handled(talk_s * 1000, hold_s * 1000, 0)
            .end(answered + (talk_s + hold_s) * 1000, HangupSide::Caller)
            .wrap_up(agent, wrap_s * 1000)
    }
}

/// An agent's state change, with the engine's id form.
pub fn state_change(
    agent: i64,
    seq: u64,
    from: &str,
    to: &str,
    reason: Option<&str>,
    at: i64,
) -> RecordOp {
    RecordOp::AgentState {
        id: format!("{at:012x}-{agent}-{seq}"),
        agent_id: agent,
        from: from.to_owned(),
        to: to.to_owned(),
        reason: reason.map(str::to_owned),
        why: "agent".to_owned(),
        at,
    }
}

pub async fn agent(store: &Store, username: &str, name: &str) -> i64 {
    store
        .create_user(
            &NewUser {
                username: username.to_owned(),
                display_name: name.to_owned(),
                role: Role::Agent,
                outlet_id: None,
                password_hash: hash_password("agent-password-1").unwrap(),
                sip_ha1: hotline::sip::digest::ha1(username, "hotline", "agent-password-1"),
                skills: Default::default(),
                queues: Vec::new(),
            },
            0,
        )
        .await
        .unwrap()
        .id
}

async fn insert_id(store: &Store, sql: &str, binds: &[&str]) -> i64 {
    let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()));
    for b in binds {
        q = q.bind(*b);
    }
    q.fetch_one(store.pool()).await.unwrap()
}

/// Runs `sql` with `$1...` bound to `binds` (integers as text are fine
/// nowhere, so callers give i64s through `ints`).
async fn exec(store: &Store, sql: &str, ints: &[i64], texts: &[&str]) {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for i in ints {
        q = q.bind(*i);
    }
    for t in texts {
        q = q.bind(*t);
    }
    q.execute(store.pool()).await.unwrap();
}

/// A ticket's stamp: `(stage, at, outlet and its tier, score)`.
type StampSpec<'a> = (&'a str, i64, Option<(i64, &'a str)>, Option<i64>);

/// A ticket with its stamps.
async fn ticket(
    store: &Store,
    number: &str,
    customer: i64,
    kind: &str,
    category: &str,
    stamps: &[StampSpec<'_>],
) -> i64 {
    let (last, _, _, _) = stamps[stamps.len() - 1];
    let created = stamps[0].1;
    let outlet = stamps.iter().rev().find_map(|s| s.2.map(|(id, _)| id));
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tickets (number, customer_id, kind, category, stage, outlet_id, \
         created_at, updated_at, accepted_kind) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(number)
    .bind(customer)
    .bind(if last == "reopened" {
        "complaint"
    } else {
        kind
    })
    .bind(category)
    .bind(last)
    .bind(outlet)
    .bind(created)
    .bind(stamps[stamps.len() - 1].1)
    .bind(kind)
    .fetch_one(store.pool())
    .await
    .unwrap();
    for (seq, (stage, at, outlet, score)) in (0_i64..).zip(stamps) {
        sqlx::query(
            "INSERT INTO ticket_stamps (ticket_id, seq, stage, at, outlet_id, outlet_tier, score) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(seq)
        .bind(*stage)
        .bind(*at)
        .bind(outlet.map(|(o, _)| o))
        .bind(outlet.map(|(_, t)| t))
        .bind(*score)
        .execute(store.pool())
        .await
        .unwrap();
    }
    id
}

async fn breach(store: &Store, ticket: i64, stage: &str, due_at: i64) {
    exec(
        store,
        "INSERT INTO ticket_breaches (ticket_id, due_at, detected_at, stage) VALUES ($1, $2, $3, $4)",
        &[ticket, due_at, due_at + 60_000],
        &[stage],
    )
    .await;
}

/// Writes the whole data set (see the module docs).
pub async fn seed(store: &Store) -> Seeded {
    let a = agent(store, "report-a", "Agent A").await;
    let b = agent(store, "report-b", "Agent B").await;
    let c = agent(store, "report-c", "Agent C").await;
    let mut calls: Vec<Call> = Vec::new();

    // ----- 10:00, repair: 100 queued calls.
    for i in 0..100_i64 {
        let arrived = at(0, 10, 0, 0) + i * 30_000;
        let id = format!("h10-{i:03}");
        let caller = format!("1380010{i:04}");
        let agent = if i % 2 == 0 { a } else { b };
        let call = if i < 92 {
            let wait = if i < 80 { 5 + i % 16 } else { 30 };
            let mut call =
                Call::answered(&id, &caller, arrived, "repair", agent, [wait, 100, 10, 20]);
            if i == 7 {
                call = call.handled(100_000, 10_000, 1);
            }
            call
        } else {
            let queued = arrived + 5_000;
            Call::arrive(&id, &caller, arrived)
                .queue("repair", queued)
                .end(queued + (i - 91) * 10_000, HangupSide::Caller)
        };
        calls.push(call);
    }

    // ----- 11:00, install.
    let q = |n: i64| at(0, 11, 0, 0) + n * 60_000;
    for (n, id) in [(0, "h11-cb1"), (1, "h11-cb2")] {
        let queued = q(n) + 5_000;
        calls.push(
            Call::arrive(id, &format!("1390011000{n}"), q(n))
                .queue("install", queued)
                .event("queue-left", queued + 60_000)
                .event("callback-requested", queued + 65_000)
                .end(queued + 70_000, HangupSide::Hotline),
        );
    }
    let queued = q(2) + 5_000;
    calls.push(
        Call::arrive("h11-left", "13900110002", q(2))
            .queue("install", queued)
            .event("queue-left", queued + 180_000)
            .end(queued + 200_000, HangupSide::Caller),
    );
    let queued = q(3) + 5_000;
    calls.push(
        Call::arrive("h11-over", "13900110003", q(3))
            .queue("install", queued)
            .end(queued + 180_000, HangupSide::Hotline),
    );
    calls.push(Call::arrive("h11-wait", "13900110004", q(4)).queue("install", q(4) + 5_000));
    for (n, id) in [(5, "h11-ans1"), (6, "h11-ans2")] {
        calls.push(Call::answered(
            id,
            &format!("1390011000{n}"),
            q(n),
            "install",
            a,
            [10, 60, 0, 30],
        ));
    }
    calls.push(Call::arrive("h11-ivr", "13900110007", q(7)).end(q(7) + 40_000, HangupSide::Caller));

    // ----- 14:00: the survey campaign's calls.
    for (n, outcome) in ["answered", "answered", "no_answer", "answered"]
        .into_iter()
        .enumerate()
    {
        let n = n as i64;
        let id = format!("out-{n}");
        let at_ = at(0, 14, 0, 0) + n * 60_000;
        let mut call = Call {
            id: id.clone(),
            ops: vec![
                RecordOp::Dialled {
                    call_id: id.clone(),
                    sip_call_id: format!("sip-{id}"),
                    number: format!("1360000000{n}"),
                    caller_id: SERVICE.into(),
                    campaign: "follow-up".into(),
                    contact: n + 1,
                    attempt: 1,
                    at: at_,
                },
                RecordOp::Outcome {
                    call_id: id.clone(),
                    outcome: outcome.into(),
                },
            ],
            seq: 0,
        };
        call = call.end(at_ + 50_000, HangupSide::Hotline);
        calls.push(call);
    }

    // ----- 15:00: first-call resolution.
    calls.push(Call::answered(
        "fcr-p1",
        "13700000001",
        at(0, 15, 0, 0),
        "repair",
        a,
        [5, 30, 0, 5],
    ));
    calls.push(Call::answered(
        "fcr-p3",
        "13700000003",
        at(0, 15, 5, 0),
        "repair",
        a,
        [5, 30, 0, 5],
    ));
    calls.push(Call::answered(
        "fcr-p4",
        "13700000004",
        at(0, 15, 10, 0),
        "repair",
        b,
        [5, 30, 0, 5],
    ));
    calls.push(Call::answered(
        "fcr-anon",
        "anonymous",
        at(0, 15, 15, 0),
        "repair",
        b,
        [5, 30, 0, 5],
    ));
    for (id, caller, when) in [
        ("again-p2", "13700000002", at(3, 9, 0, 0)),
        ("again-p3", "13700000003", at(9, 9, 0, 0)),
        ("again-p4", "13700000004", at(1, 8, 0, 0)),
    ] {
        calls.push(Call::arrive(id, caller, when).end(when + 30_000, HangupSide::Caller));
    }

    // ----- Around midnight.
    let arrived = at(0, 23, 59, 50);
    calls.push(
        Call::arrive("midnight", "13900990001", arrived)
            .queue("repair", at(0, 23, 59, 52))
            .answer(b, at(1, 0, 0, 5), 13_000)
            .handled(585_000, 0, 0)
            .end(at(1, 0, 10, 0), HangupSide::Caller)
            .wrap_up(b, 15_000),
    );
    calls.push(Call::answered(
        "next-day",
        "13900990002",
        at(1, 0, 0, 10),
        "repair",
        a,
        [8, 50, 0, 10],
    ));

    let ops: Vec<RecordOp> = calls.into_iter().flat_map(|c| c.ops).collect();
    store.apply_batch(&ops).await.unwrap();

    // ----- Agents' states.
    let states = [
        state_change(a, 1, "logged_out", "ready", None, at(0, 9, 0, 0)),
        state_change(a, 2, "ready", "not_ready", Some("break"), at(0, 10, 0, 0)),
        state_change(a, 3, "not_ready", "ready", None, at(0, 10, 15, 0)),
        state_change(a, 9, "ready", "wrap_up", None, at(0, 12, 0, 0)),
        state_change(a, 10, "wrap_up", "logged_out", None, at(0, 12, 0, 0)),
        state_change(b, 1, "logged_out", "ready", None, at(-1, 22, 0, 0)),
        state_change(b, 2, "ready", "not_ready", Some("meal"), at(0, 1, 0, 0)),
        state_change(b, 3, "not_ready", "logged_out", None, at(0, 2, 0, 0)),
        state_change(c, 1, "logged_out", "ready", None, at(0, 23, 0, 0)),
    ];
    store.apply_batch(&states).await.unwrap();

    // ----- Customers, outlets, tickets.
    let customer = insert_id(
        store,
        "INSERT INTO customers (name, created_at) VALUES ($1, 0) RETURNING id",
        &["王芳"],
    )
    .await;
    for phone in ["13700000001", "13700000002"] {
        exec(
            store,
            "INSERT INTO customer_phones (customer_id, phone) VALUES ($1, $2)",
            &[customer],
            &[phone],
        )
        .await;
    }
    let outlet_x = insert_id(
        store,
        "INSERT INTO outlets (code, name, tier, phone) VALUES ($1, $2, 'city', '057188880001') \
         RETURNING id",
        &["WZ-LUCHENG", "鹿城服务站"],
    )
    .await;
    let outlet_y = insert_id(
        store,
        "INSERT INTO outlets (code, name, tier, phone) VALUES ($1, $2, 'town', '057188880002') \
         RETURNING id",
        &["WZ-TAISHUN", "泰顺服务站"],
    )
    .await;
    let x = Some((outlet_x, "city"));
    let y = Some((outlet_y, "town"));
    ticket(
        store,
        "2503100001",
        customer,
        "repair",
        "不制冷",
        &[
            ("accepted", at(0, 9, 0, 0), None, None),
            ("dispatched", at(0, 10, 0, 0), x, None),
            ("in_service", at(0, 14, 0, 0), None, None),
            ("completed", at(0, 20, 0, 0), None, None),
        ],
    )
    .await;
    let t2 = ticket(
        store,
        "2503100002",
        customer,
        "repair",
        "不制冷",
        &[
            ("accepted", at(0, 9, 0, 0), None, None),
            ("dispatched", at(0, 9, 30, 0), x, None),
            ("completed", at(1, 15, 30, 0), None, None),
        ],
    )
    .await;
    breach(store, t2, "completed", at(1, 9, 30, 0)).await;
    let t3 = ticket(
        store,
        "2503100003",
        customer,
        "installation",
        "安装",
        &[
            ("accepted", at(0, 8, 0, 0), None, None),
            ("dispatched", at(0, 12, 0, 0), y, None),
            ("in_service", at(1, 8, 0, 0), None, None),
            ("completed", at(2, 12, 0, 0), None, None),
        ],
    )
    .await;
    breach(store, t3, "dispatched", at(0, 10, 0, 0)).await;
    ticket(
        store,
        "2503100004",
        customer,
        "complaint",
        "服务态度",
        &[("accepted", at(0, 11, 0, 0), None, None)],
    )
    .await;
    ticket(
        store,
        "2503100005",
        customer,
        "complaint",
        "收费争议",
        &[("accepted", at(0, 11, 30, 0), None, None)],
    )
    .await;
    ticket(
        store,
        "2503100006",
        customer,
        "repair",
        "漏水",
        &[
            ("accepted", at(0, 7, 0, 0), None, None),
            ("dispatched", at(0, 7, 30, 0), x, None),
            ("completed", at(0, 12, 30, 0), None, None),
            ("followed_up", at(0, 13, 0, 0), None, Some(2)),
            ("reopened", at(1, 10, 0, 0), None, None),
        ],
    )
    .await;
    ticket(
        store,
        "2503100007",
        customer,
        "repair",
        "不制冷",
        &[
            ("accepted", at(0, 9, 0, 0), None, None),
            ("dispatched", at(0, 9, 10, 0), y, None),
            ("completed", at(0, 13, 10, 0), None, None),
            ("followed_up", at(1, 9, 0, 0), None, Some(5)),
            ("closed", at(1, 9, 5, 0), None, None),
        ],
    )
    .await;
    Seeded {
        agent_a: a,
        agent_b: b,
        agent_c: c,
        outlet_x,
        outlet_y,
        customer,
    }
}
