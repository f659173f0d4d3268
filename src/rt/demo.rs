//! Demo mode: the demo world and crowd ([`Store::seed_demo_with_crowd`]) plus one user of each
//! role, so a newcomer can sign in and try every screen; the agent and the
//! supervisor have skills and queues ([`DEMO_AGENTS`]) to take calls. Only ever on a
//! database with no customers (`server.demo_data`, `serve --demo`,
//! `hotline demo`); the shared password is printed in the log and the
//! README, so never turn this on for real data.

use crate::api::auth::hash_password;
use crate::store::{NewUser, Role, Store, StoreError, parse_queues, parse_skills};

/// The demo users' password.
pub const DEMO_PASSWORD: &str = "hotline-demo";

/// `(username, display name, role, outlet code)` of the demo users.
pub const DEMO_USERS: &[(&str, &str, Role, Option<&str>)] = &[
    ("admin", "系统管理员", Role::Admin, None),
    ("supervisor", "值班主管 陈静", Role::Supervisor, None),
    ("agent", "坐席 刘洋", Role::Agent, None),
    ("qa", "质检 赵敏", Role::Qa, None),
    ("xihu", "西湖服务中心 周师傅", Role::Outlet, Some("HZ-XIHU")),
];

/// `(username, skills, queues)` of the demo users who take calls, in the
/// text form of `hotline user add --skills --queues`. The queues are the
/// demo flow's (the default `[[queues]]`): the agent names them all, the
/// supervisor none, which means every queue, for overflow.
pub const DEMO_AGENTS: &[(&str, &str, &str)] = &[
    (
        "agent",
        "complaint=3,installation=5,repair=8",
        "repair,installation,complaint,general",
    ),
    ("supervisor", "complaint=8,installation=6,repair=6", ""),
];

/// Seeds the demo world and users into an empty database; `false` (and
/// nothing written) if it has customers already.
pub async fn seed(store: &Store, sip_realm: &str, now_ms: i64) -> Result<bool, StoreError> {
    if !store.seed_demo_with_crowd(now_ms).await? {
        return Ok(false);
    }
    // One hash for all: each takes tens of milliseconds by design.
    let password_hash = crate::api::auth::argon2_work(|| hash_password(DEMO_PASSWORD))
        .await
        .and_then(Result::ok)
        .expect("hashing a fixed password");
    for (username, display, role, outlet) in DEMO_USERS {
        let outlet_id = match outlet {
            Some(code) => store.outlet_by_code(code).await?.map(|o| o.id),
            None => None,
        };
        let (skills, queues) = match DEMO_AGENTS.iter().find(|a| a.0 == *username) {
            Some((_, skills, queues)) => (
                parse_skills(skills).expect("the demo skills parse"),
                parse_queues(queues).expect("the demo queues parse"),
            ),
            None => Default::default(),
        };
        let new = NewUser {
            username: (*username).to_owned(),
            display_name: (*display).to_owned(),
            role: *role,
            outlet_id,
            password_hash: password_hash.clone(),
            sip_ha1: crate::sip::digest::ha1(username, sip_realm, DEMO_PASSWORD),
            skills,
            queues,
        };
        match store.create_user(&new, now_ms).await {
            // Someone made that user already: keep theirs.
            Ok(_) | Err(StoreError::Duplicate(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
