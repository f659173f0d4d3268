//! User administration (admin only): list, create, change role, reset a
//! password, set an agent's skills and queues, deactivate. Nobody is ever
//! deleted: calls, stamps and QA scores keep pointing at the people who
//! made them.
//!
//! Queues a user names must be configured ones when the state knows them
//! ([`ApiState::queues`]); skills are free names, as the queues' own
//! skills in the configuration are.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Caller, hash_password, password_problem};
use super::input::{Input, check};
use super::{ApiState, AppError, ErrorBody, now_ms};
use crate::store::{NewUser, Role, User, UserChanges, check_queues, check_skills};
use crate::validate::{FieldError, check_chars};

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
}

/// `POST /api/users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 3-40 of a-z, 0-9, `.`, `_`, `-`.
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    pub role: Role,
    /// Required for role `outlet`, refused for the others.
    pub outlet_id: Option<i64>,
    pub password: String,
    /// Skill levels (1-10) by skill name (1-40 of a-z, 0-9, `_`, `-`),
    /// e.g. `{"repair": 7, "complaint": 3}`; what the ACD routes on.
    #[serde(default)]
    pub skills: BTreeMap<String, i64>,
    /// The ACD queues (configured `[[queues]]` names) the user works, each
    /// once; empty: every queue.
    #[serde(default)]
    pub queues: Vec<String>,
}

/// `PATCH /api/users/{id}` body; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub display_name: Option<String>,
    /// With `outlet_id` when the role is `outlet`.
    pub role: Option<Role>,
    pub outlet_id: Option<i64>,
    pub active: Option<bool>,
    pub password: Option<String>,
    /// Replaces all the skills (`{}` removes them).
    pub skills: Option<BTreeMap<String, i64>>,
    /// Replaces the queue list (`[]`: every queue).
    pub queues: Option<Vec<String>>,
}

/// Checks a username: what `hotline user add` and the API accept.
pub fn username_problem(username: &str) -> Option<&'static str> {
    let ok_chars = username
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    (!(3..=40).contains(&username.len()) || !ok_chars)
        .then_some("must be 3 to 40 of a-z, 0-9, '.', '_' and '-'")
}

/// An outlet user needs an outlet; nobody else may have one.
fn role_outlet(errors: &mut Vec<FieldError>, role: Role, outlet_id: Option<i64>) {
    match (role, outlet_id) {
        (Role::Outlet, None) => errors.push(FieldError::new(
            "outlet_id",
            "is required for an outlet user",
        )),
        (Role::Outlet, Some(_)) | (_, None) => {}
        (_, Some(_)) => errors.push(FieldError::new(
            "outlet_id",
            "only outlet users belong to an outlet",
        )),
    }
}

/// The skills as the store takes them, or `None` with the errors recorded.
fn skills_input(
    errors: &mut Vec<FieldError>,
    skills: &BTreeMap<String, i64>,
) -> Option<BTreeMap<String, u8>> {
    let before = errors.len();
    check_skills(errors, "skills", skills.iter().map(|(n, l)| (n, *l)));
    (errors.len() == before).then(|| {
        skills
            .iter()
            // Checked to be 1-10 just above.
            .map(|(n, l)| (n.clone(), *l as u8))
            .collect()
    })
}

/// Hashes off the runtime's threads.
async fn hash(password: String) -> Result<String, AppError> {
    super::auth::argon2_work(move || hash_password(&password))
        .await
        .and_then(Result::ok)
        .ok_or_else(|| AppError::BadRequest("the password could not be hashed".to_owned()))
}

/// Every user, by username.
#[utoipa::path(get, path = "/api/users", tag = "users",
    responses((status = 200, body = UserList), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<ApiState>) -> Result<Json<UserList>, AppError> {
    Ok(Json(UserList {
        users: state.store.users().await?,
    }))
}

/// Creates a user.
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = CreateUser,
    responses(
        (status = 201, body = User),
        (status = 400, body = ErrorBody),
        (status = 404, description = "No such outlet", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ApiState>,
    Input(req): Input<CreateUser>,
) -> Result<(StatusCode, Json<User>), AppError> {
    let mut errors = Vec::new();
    if let Some(p) = username_problem(&req.username) {
        errors.push(FieldError::new("username", p));
    }
    check_chars(&mut errors, "display_name", &req.display_name, 0, 60);
    role_outlet(&mut errors, req.role, req.outlet_id);
    if let Some(p) = password_problem(&req.password) {
        errors.push(FieldError::new("password", p));
    }
    let skills = skills_input(&mut errors, &req.skills);
    check_queues(&mut errors, "queues", &req.queues, state.queues.as_deref());
    check(errors)?;
    let sip_ha1 = crate::sip::digest::ha1(&req.username, &state.sip_realm, &req.password);
    let new = NewUser {
        username: req.username,
        display_name: req.display_name,
        role: req.role,
        outlet_id: req.outlet_id,
        sip_ha1,
        password_hash: hash(req.password).await?,
        // Some whenever there were no errors.
        skills: skills.unwrap_or_default(),
        queues: req.queues,
    };
    let user = state.store.create_user(&new, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Changes a user. Changing the role or password, or deactivating, ends
/// their sessions. Admins cannot deactivate or demote themselves, so the
/// last admin cannot lock everyone out by accident.
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", request_body = UpdateUser,
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, body = User),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<ApiState>,
    Extension(Caller(me)): Extension<Caller>,
    Path(id): Path<i64>,
    Input(req): Input<UpdateUser>,
) -> Result<Json<User>, AppError> {
    let mut errors = Vec::new();
    if let Some(name) = &req.display_name {
        check_chars(&mut errors, "display_name", name, 0, 60);
    }
    match req.role {
        Some(role) => role_outlet(&mut errors, role, req.outlet_id),
        None if req.outlet_id.is_some() => {
            errors.push(FieldError::new("outlet_id", "is only given with role"));
        }
        None => {}
    }
    if let Some(p) = req.password.as_deref().and_then(password_problem) {
        errors.push(FieldError::new("password", p));
    }
    let skills = req
        .skills
        .as_ref()
        .and_then(|skills| skills_input(&mut errors, skills));
    if let Some(queues) = &req.queues {
        check_queues(&mut errors, "queues", queues, state.queues.as_deref());
    }
    if id == me.id && (req.active == Some(false) || req.role.is_some_and(|r| r != Role::Admin)) {
        errors.push(FieldError::new(
            if req.role.is_some() { "role" } else { "active" },
            "you cannot deactivate or demote yourself",
        ));
    }
    check(errors)?;
    let password = match req.password {
        Some(p) => {
            let user = state
                .store
                .user(id)
                .await?
                .ok_or(AppError::NotFound("user"))?;
            let ha1 = crate::sip::digest::ha1(&user.username, &state.sip_realm, &p);
            Some((hash(p).await?, ha1))
        }
        None => None,
    };
    let changes = UserChanges {
        display_name: req.display_name,
        role: req.role.map(|r| (r, req.outlet_id)),
        active: req.active,
        password,
        skills,
        queues: req.queues,
    };
    Ok(Json(state.store.update_user(id, &changes).await?))
}
