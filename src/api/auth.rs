//! Who is asking and whether their role may: sign-in, sessions, and the
//! access rule every route has.
//!
//! - Passwords are hashed with Argon2id (the `argon2` crate's defaults:
//!   19 MiB, 2 passes), in a blocking task so a sign-in does not stall the
//!   runtime. Unknown users cost the same as a wrong password, so timing
//!   does not tell which usernames exist.
//! - A session token is 32 bytes from the operating system's random source,
//!   given to the client once (cookie `hotline_session`, HttpOnly,
//!   SameSite=Strict, and in the login body for API clients that send
//!   `Authorization: Bearer`); the database keeps only its BLAKE2b hash.
//! - Guessing is slowed twice: each try costs an Argon2 hash, and after
//!   [`MAX_FAILURES`] wrong passwords for one username within
//!   [`LOCKOUT_MS`] that username is refused (429) until the window has
//!   passed since its latest failure ([`LoginGuard`]; in memory, so a
//!   restart forgets it).
//! - Every route has an entry in [`super::ACCESS`]; [`authorize`] runs
//!   before each handler, answers 401 without a live session and 403 for a
//!   role not listed, and hands the handler the [`Caller`]. A route without
//!   an entry answers 500, and a test checks that none is missing.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use blake2::{Blake2b512, Digest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::Input;
use super::{ApiState, AppError, ErrorBody, now_ms};
use crate::store::{Role, User};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hotline_session";
/// How long a session lasts: a long shift.
pub const SESSION_TTL_MS: i64 = 12 * 3_600_000;
/// Shortest password `hotline user add` and the API accept.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Wrong passwords for one username before it is locked.
pub const MAX_FAILURES: usize = 5;
/// How long failures count, and how long a lock lasts after the latest.
pub const LOCKOUT_MS: i64 = 15 * 60_000;
/// Usernames tracked before old entries are swept.
const GUARD_CAPACITY: usize = 10_000;

/// Failed sign-ins per username: the lockout's memory. Time comes in as an
/// argument, so the rules are tested without a clock.
#[derive(Debug, Default)]
pub struct LoginGuard {
    failures: std::collections::HashMap<String, Vec<i64>>,
}

impl LoginGuard {
    /// `Err(ms to wait)` while `username` is locked.
    pub fn check(&mut self, username: &str, now_ms: i64) -> Result<(), i64> {
        let Some(times) = self.failures.get_mut(username) else {
            return Ok(());
        };
        times.retain(|t| now_ms - t < LOCKOUT_MS);
        match times.last() {
            Some(last) if times.len() >= MAX_FAILURES => Err(last + LOCKOUT_MS - now_ms),
            _ => Ok(()),
        }
    }

    pub fn failed(&mut self, username: &str, now_ms: i64) {
        if self.failures.len() >= GUARD_CAPACITY {
            self.failures
                .retain(|_, times| times.last().is_some_and(|t| now_ms - t < LOCKOUT_MS));
        }
        self.failures
            .entry(username.to_owned())
            .or_default()
            .push(now_ms);
    }

    pub fn succeeded(&mut self, username: &str) {
        self.failures.remove(username);
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user.
    SignedIn,
    /// Signed-in users with one of these roles.
    Roles(&'static [Role]),
}

/// The signed-in user making the request.
#[derive(Debug, Clone)]
pub struct Caller(pub User);

impl Caller {
    /// The outlet whose records alone an outlet user may see; `None` for
    /// everyone else.
    pub fn outlet_scope(&self) -> Option<i64> {
        match self.0.role {
            Role::Outlet => self.0.outlet_id,
            _ => None,
        }
    }
}

/// Hashes a password for storage (a PHC string). CPU-heavy: call from a
/// blocking context.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Argon2 runs at once, server-wide. Each takes a core and 19 MiB for a
/// moment; more in parallel only queue for 2 cores, and every blocking
/// thread that ever ran one keeps its allocator arena's 19 MiB for good: a
/// burst of sign-ins grew the server by a gigabyte (docs/benchmarks.md,
/// the ACD section).
static ARGON2_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Runs password hashing or checking off the async threads, at most
/// [`ARGON2_SLOTS`] at a time; `None` if it could not run.
pub async fn argon2_work<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let _slot = ARGON2_SLOTS.acquire().await.ok()?;
    tokio::task::spawn_blocking(work).await.ok()
}

/// True when `password` matches the stored hash. CPU-heavy.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash no password matches, checked for unknown usernames so they take
/// as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        hash_password(&hex(&secret)).expect("hashing a fixed-size secret")
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The form a token is kept in.
pub(super) fn token_hash(token: &str) -> String {
    hex(&Blake2b512::digest(token.as_bytes()))
}

/// Checks a new password; the message names the rule.
pub fn password_problem(password: &str) -> Option<String> {
    let n = password.chars().count();
    (!(MIN_PASSWORD_CHARS..=256).contains(&n))
        .then(|| format!("must be {MIN_PASSWORD_CHARS} to 256 characters"))
}

/// The session token a request carries: a bearer token, else the cookie.
pub(super) fn request_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        return auth.to_str().ok()?.strip_prefix("Bearer ").map(str::trim);
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some(value)
        })
}

/// The middleware every route passes: looks the route up in
/// [`super::ACCESS`], then authenticates and checks the role as it says.
pub async fn authorize(
    State(state): State<ApiState>,
    path: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let Some(access) = path
        .as_ref()
        .and_then(|p| super::access_rule(&method, p.as_str()))
    else {
        tracing::error!(%method, path = ?path.as_ref().map(MatchedPath::as_str), "route has no access rule");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Access::Public = access {
        return next.run(req).await;
    }
    let user = match request_token(req.headers()) {
        None => return AppError::Unauthorized("sign in first").into_response(),
        Some(token) => match state.store.session_user(&token_hash(token), now_ms()).await {
            Ok(Some(user)) => user,
            Ok(None) => {
                return AppError::Unauthorized("your session has ended: sign in again")
                    .into_response();
            }
            Err(e) => return AppError::from(e).into_response(),
        },
    };
    if let Access::Roles(roles) = access
        && !roles.contains(&user.role)
    {
        return AppError::Forbidden.into_response();
    }
    req.extensions_mut().insert(Caller(user));
    next.run(req).await
}

/// `POST /api/login` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub user: User,
    /// The session token, also set as the `hotline_session` cookie; API
    /// clients send it as `Authorization: Bearer <token>`.
    pub token: String,
    /// Epoch ms.
    pub expires_at: i64,
}

/// Signs in and opens a session.
#[utoipa::path(post, path = "/api/login", tag = "auth", request_body = LoginRequest,
    security(()),
    responses(
        (status = 200, description = "Signed in; the cookie is set", body = LoginResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords for this username: wait Retry-After seconds", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<ApiState>,
    Input(req): Input<LoginRequest>,
) -> Result<Response, AppError> {
    let now = now_ms();
    let locked = state
        .login_guard
        .lock()
        .map_or(Ok(()), |mut g| g.check(&req.username, now));
    if let Err(wait_ms) = locked {
        return Err(AppError::TooManyRequests {
            retry_after_s: (wait_ms + 999) / 1000,
        });
    }
    let found = state.store.user_for_login(&req.username).await?;
    let stored = found
        .as_ref()
        .map_or_else(|| decoy_hash().to_owned(), |(_, hash)| hash.clone());
    let password = req.password;
    let ok = argon2_work(move || verify_password(&password, &stored))
        .await
        .unwrap_or(false);
    let user = match found {
        Some((user, _)) if ok => user,
        _ => {
            if let Ok(mut g) = state.login_guard.lock() {
                g.failed(&req.username, now);
            }
            tracing::warn!(username = %req.username, "sign-in refused: wrong username or password");
            return Err(AppError::Unauthorized("wrong username or password"));
        }
    };
    if let Ok(mut g) = state.login_guard.lock() {
        g.succeeded(&req.username);
    }
    let mut raw = [0u8; 32];
    OsRng.fill_bytes(&mut raw);
    let token = hex(&raw);
    let expires_at = now + SESSION_TTL_MS;
    state
        .store
        .create_session(&token_hash(&token), user.id, now, expires_at)
        .await?;
    tracing::info!(user = %user.username, role = user.role.as_str(), "signed in");
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_TTL_MS / 1000
    );
    let mut response = Json(LoginResponse {
        user,
        token,
        expires_at,
    })
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Ends the caller's session.
#[utoipa::path(post, path = "/api/logout", tag = "auth",
    responses(
        (status = 204, description = "Signed out; the cookie is cleared"),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn logout(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(token) = request_token(&headers) {
        state.store.delete_session(&token_hash(token)).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("hotline_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/me", tag = "auth",
    responses(
        (status = 200, body = User),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn me(Extension(Caller(user)): Extension<Caller>) -> Json<User> {
    Json(user)
}

#[cfg(test)]
mod tests {
    use super::{LOCKOUT_MS, LoginGuard, MAX_FAILURES};

    #[test]
    fn a_username_is_locked_after_repeated_failures_then_freed() {
        let mut g = LoginGuard::default();
        let t0 = 1_000_000;
        for i in 0..MAX_FAILURES as i64 {
            assert_eq!(g.check("agent", t0 + i), Ok(()));
            g.failed("agent", t0 + i);
        }
        let last = t0 + MAX_FAILURES as i64 - 1;
        assert_eq!(g.check("agent", last + 1), Err(LOCKOUT_MS - 1));
        // Others are not affected.
        assert_eq!(g.check("qa", last + 1), Ok(()));
        // Free once the window has passed since the latest failure.
        assert_eq!(g.check("agent", last + LOCKOUT_MS), Ok(()));
    }

    #[test]
    fn old_failures_do_not_count_and_success_forgets() {
        let mut g = LoginGuard::default();
        for i in 0..MAX_FAILURES as i64 - 1 {
            g.failed("agent", i);
        }
        // One more, after the first ones aged out: not locked.
        g.failed("agent", LOCKOUT_MS + 10);
        assert_eq!(g.check("agent", LOCKOUT_MS + 11), Ok(()));
        for i in 0..MAX_FAILURES as i64 - 1 {
            g.failed("qa", i);
        }
        g.succeeded("qa");
        g.failed("qa", 10);
        assert_eq!(g.check("qa", 11), Ok(()));
    }
}
