//! Users, their roles and their signed-in sessions.
//!
//! Owns the `users` and `sessions` tables. Knows nothing of passwords or
//! tokens beyond the strings it is given: hashing is the API's
//! ([`crate::api::auth`]), so a password or a raw session token never
//! reaches this module.
//!
//! Invariants: skills and queues are stored in their canonical text
//! ([`super::agents`]) and checked before every write, so they always read
//! back; an `outlet` user has an outlet and nobody else has one (the
//! table's CHECK says so too); a session is valid while its user is active
//! and it has not expired; deactivating a user or changing their password
//! ends their sessions in the same transaction.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::agents::{check_profile, format_queues, format_skills, stored_queues, stored_skills};
use super::{Store, StoreError};

/// What a user may do; checked on every API route.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including users.
    Admin,
    /// Runs the floor: everything but users.
    Supervisor,
    /// Takes calls: customers and tickets.
    Agent,
    /// Reviews calls: reads customers, tickets and calls.
    Qa,
    /// Staff of one service outlet: its own tickets only.
    Outlet,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Supervisor,
        Role::Agent,
        Role::Qa,
        Role::Outlet,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
            Role::Qa => "qa",
            Role::Outlet => "outlet",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The outlet an `outlet` user works for; `None` for everyone else.
    pub outlet_id: Option<i64>,
    pub active: bool,
    /// Epoch ms.
    pub created_at: i64,
    /// Skill levels (1-10) by skill name, for the ACD's routing.
    pub skills: BTreeMap<String, u8>,
    /// The ACD queues the user works; empty: every configured queue.
    pub queues: Vec<String>,
}

impl FromRow<'_, AnyRow> for User {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let role: String = row.try_get("role")?;
        Ok(User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            display_name: row.try_get("display_name")?,
            role: Role::parse(&role).ok_or_else(|| super::bad_value("role", &role))?,
            outlet_id: row.try_get("outlet_id")?,
            active: row.try_get::<i64, _>("active")? != 0,
            created_at: row.try_get("created_at")?,
            skills: stored_skills(&row.try_get::<String, _>("skills")?)?,
            queues: stored_queues(&row.try_get::<String, _>("queues")?)?,
        })
    }
}

/// The columns [`User`] reads, for `concat!` (sqlx wants SQL text that is
/// static, so no `format!`).
macro_rules! user_columns {
    () => {
        "id, username, display_name, role, outlet_id, active, created_at, skills, queues"
    };
}

/// A user to create; the password already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub outlet_id: Option<i64>,
    pub password_hash: String,
    /// For the phone's SIP registration ([`crate::sip::digest::ha1`]).
    pub sip_ha1: String,
    /// Checked here too ([`StoreError::Invalid`] when wrong).
    pub skills: BTreeMap<String, u8>,
    /// Checked here too, except against the configured queues (the API's
    /// job).
    pub queues: Vec<String>,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub role: Option<(Role, Option<i64>)>,
    pub active: Option<bool>,
    /// A new password: its hash and its SIP HA1, set together.
    pub password: Option<(String, String)>,
    /// Replaces all the skills.
    pub skills: Option<BTreeMap<String, u8>>,
    /// Replaces the queue list.
    pub queues: Option<Vec<String>>,
}

impl Store {
    /// Creates a user. A taken username is [`StoreError::Duplicate`]; an
    /// unknown outlet is [`StoreError::NotFound`]; bad skills or queue
    /// names are [`StoreError::Invalid`].
    pub async fn create_user(&self, new: &NewUser, now_ms: i64) -> Result<User, StoreError> {
        check_profile(Some(&new.skills), Some(&new.queues))?;
        let mut tx = self.begin_write().await?;
        if let Some(outlet) = new.outlet_id {
            self.require_outlet(&mut tx, outlet).await?;
        }
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(&new.username)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        if taken.is_some() {
            return Err(StoreError::Duplicate("username"));
        }
        let user = sqlx::query_as::<_, User>(concat!(
            "INSERT INTO users \
             (username, display_name, role, outlet_id, password_hash, sip_ha1, created_at, \
              skills, queues) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
            user_columns!()
        ))
        .bind(&new.username)
        .bind(&new.display_name)
        .bind(new.role.as_str())
        .bind(new.outlet_id)
        .bind(&new.password_hash)
        .bind(&new.sip_ha1)
        .bind(now_ms)
        .bind(format_skills(&new.skills))
        .bind(format_queues(&new.queues))
        .fetch_one(&mut *tx)
        .await
        // Two creates racing past the check: the UNIQUE constraint decides.
        .map_err(|e| StoreError::from_sqlx_unique(e, "username"))?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(user)
    }

    async fn require_outlet(
        &self,
        conn: &mut sqlx::AnyConnection,
        outlet: i64,
    ) -> Result<(), StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM outlets WHERE id = $1")
            .bind(outlet)
            .fetch_optional(conn)
            .await
            .map_err(StoreError::from_sqlx)?;
        found.map(|_| ()).ok_or(StoreError::NotFound("outlet"))
    }

    pub async fn user(&self, id: i64) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, User>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// Every user, by username.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        sqlx::query_as::<_, User>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY username"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// An active user and their password hash, for sign-in.
    pub async fn user_for_login(
        &self,
        username: &str,
    ) -> Result<Option<(User, String)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash FROM users WHERE username = $1 AND active = 1"
        ))
        .bind(username)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        row.map(|row| {
            let user = User::from_row(&row)?;
            Ok((user, row.try_get("password_hash")?))
        })
        .transpose()
        .map_err(StoreError::from_sqlx)
    }

    /// Applies `changes`; ends the user's sessions when they are
    /// deactivated, change role or change password. New skills or queues
    /// take effect at the agent's next login to the ACD.
    pub async fn update_user(&self, id: i64, changes: &UserChanges) -> Result<User, StoreError> {
        check_profile(changes.skills.as_ref(), changes.queues.as_deref())?;
        let mut tx = self.begin_write().await?;
        if let Some((_, Some(outlet))) = changes.role {
            self.require_outlet(&mut tx, outlet).await?;
        }
        let (role, outlet_id) = match changes.role {
            Some((role, outlet)) => (Some(role.as_str()), outlet),
            None => (None, None),
        };
        let user = sqlx::query_as::<_, User>(concat!(
            "UPDATE users SET \
               display_name = COALESCE($2, display_name), \
               role = COALESCE($3, role), \
               outlet_id = CASE WHEN $3 IS NULL THEN outlet_id ELSE $4 END, \
               active = COALESCE($5, active), \
               password_hash = COALESCE($6, password_hash), \
               sip_ha1 = COALESCE($7, sip_ha1), \
               skills = COALESCE($8, skills), \
               queues = COALESCE($9, queues) \
             WHERE id = $1 RETURNING ",
            user_columns!(),
            ""
        ))
        .bind(id)
        .bind(changes.display_name.as_deref())
        .bind(role)
        .bind(outlet_id)
        .bind(changes.active.map(i64::from))
        .bind(changes.password.as_ref().map(|(hash, _)| hash.as_str()))
        .bind(changes.password.as_ref().map(|(_, ha1)| ha1.as_str()))
        .bind(changes.skills.as_ref().map(format_skills))
        .bind(changes.queues.as_deref().map(format_queues))
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?
        .ok_or(StoreError::NotFound("user"))?;
        if changes.active == Some(false) || changes.role.is_some() || changes.password.is_some() {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(user)
    }

    /// An active user's id and SIP HA1, for their phone's registration;
    /// `None` if unknown, inactive, or no HA1 was ever set.
    pub async fn sip_credentials(
        &self,
        username: &str,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, sip_ha1 FROM users \
             WHERE username = $1 AND active = 1 AND sip_ha1 IS NOT NULL",
        )
        .bind(username)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        row.map(|r| Ok((r.try_get("id")?, r.try_get("sip_ha1")?)))
            .transpose()
            .map_err(StoreError::from_sqlx)
    }

    /// Opens a session; also forgets expired ones, so the table stays the
    /// size of the staff.
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now_ms: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now_ms)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        tx.commit().await.map_err(StoreError::from_sqlx)
    }

    /// The active user a live session belongs to.
    pub async fn session_user(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<_, User>(
            "SELECT u.id, u.username, u.display_name, u.role, u.outlet_id, u.active, \
             u.created_at, u.skills, u.queues \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = 1",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }
}
