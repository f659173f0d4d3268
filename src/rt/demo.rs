//! Demo mode: the demo world and crowd ([`Store::seed_demo_with_crowd`]) plus one user of each
//! role, so a newcomer can sign in and try every screen. Only ever on a
//! database with no customers (`server.demo_data`, `serve --demo`,
//! `hotline demo`); the shared password is printed in the log and the
//! README, so never turn this on for real data.

use crate::api::auth::hash_password;
use crate::store::{NewUser, Role, Store, StoreError};

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

/// Seeds the demo world and users into an empty database; `false` (and
/// nothing written) if it has customers already.
pub async fn seed(store: &Store, sip_realm: &str, now_ms: i64) -> Result<bool, StoreError> {
    if !store.seed_demo_with_crowd(now_ms).await? {
        return Ok(false);
    }
    // One hash for all: each takes tens of milliseconds by design.
    let password_hash = tokio::task::spawn_blocking(|| hash_password(DEMO_PASSWORD))
        .await
        .ok()
        .and_then(Result::ok)
        .expect("hashing a fixed password");
    for (username, display, role, outlet) in DEMO_USERS {
        let outlet_id = match outlet {
            Some(code) => store.outlet_by_code(code).await?.map(|o| o.id),
            None => None,
        };
        let new = NewUser {
            username: (*username).to_owned(),
            display_name: (*display).to_owned(),
            role: *role,
            outlet_id,
            password_hash: password_hash.clone(),
            sip_ha1: crate::sip::digest::ha1(username, sip_realm, DEMO_PASSWORD),
        };
        match store.create_user(&new, now_ms).await {
            // Someone made that user already: keep theirs.
            Ok(_) | Err(StoreError::Duplicate(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
