//! The HTTP API under `/api`: `fn app(state) -> Router`, so tests drive it
//! with `tower::ServiceExt::oneshot` and no socket.
//!
//! Talks to the [`Store`] and to the [`Live`] counters the runtime keeps;
//! never to engine internals. All errors go through [`AppError`], which
//! never shows internals to the client.
//!
//! Every route is registered through `utoipa_axum`'s `OpenApiRouter`, which
//! takes the handler's `#[utoipa::path]` description with the route, so
//! the document served at `/api/openapi.json` is built from the same list
//! as the router and cannot drift from it. Who may call each route is the
//! [`ACCESS`] table, enforced by [`auth::authorize`] before every handler
//! and published in the document as each operation's `x-roles`.

pub mod auth;
pub mod campaigns;
pub mod cti;
mod customers;
pub mod engine;
mod error;
mod input;
mod kb;
pub mod metrics;
mod monitor;
mod outlets;
mod pages;
mod preview;
pub mod qa;
pub mod recordings;
pub mod reports;
pub mod test_calls;
mod tickets;
mod users;
pub mod wallboard;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{Access, Caller};
pub use error::{AppError, ErrorBody};
use input::{check, int_param};
pub use users::username_problem;

use crate::store::{CallDetail, CallRow, Role, ScreenPop, Store};
use crate::ticket::ServiceDesk;

/// `GET /api/calls` without `limit`.
pub const DEFAULT_CALLS_LIMIT: i64 = 50;
/// The largest `limit` `GET /api/calls` accepts.
pub const MAX_CALLS_LIMIT: i64 = 500;

/// What the handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub store: Store,
    pub live: Arc<Live>,
    /// SLA targets, complaint teams, the local day.
    pub desk: Arc<ServiceDesk>,
    /// Failed sign-ins per username, for the lockout.
    pub login_guard: Arc<std::sync::Mutex<auth::LoginGuard>>,
    /// The SIP digest realm passwords are also hashed for (phones).
    pub sip_realm: Arc<str>,
    /// Agents' CTI websockets; `None` where no call engine runs (tests of
    /// the plain API).
    pub cti: Option<Arc<cti::CtiHub>>,
    /// The way to the call engine (test calls, recording pauses); `None`
    /// likewise.
    pub engine: Option<engine::EngineHub>,
    /// The configured ACD queues a user's `queues` may name; `None`: not
    /// known here, only the names' form is checked.
    pub queues: Option<Arc<[String]>>,
    /// Where recordings are and who may hear them; `None`: no recordings
    /// are served.
    pub recordings: Option<Arc<recordings::RecordingAccessConfig>>,
    /// Scorecards and the daily sample's size; `None`: no scorecards.
    pub qa: Option<Arc<qa::QaConfig>>,
    /// The configured outbound campaigns; `None`: none.
    pub campaigns: Option<Arc<[crate::campaign::Rules]>>,
    /// The bearer token `GET /metrics` asks for; `None`: it is open.
    pub metrics_token: Option<Arc<str>>,
    /// Attempts one number may get in a day, all campaigns together (an
    /// agent's preview call respects it too).
    pub outbound_daily_cap: u32,
    /// The service level threshold and target and the FCR window the
    /// reports count with (`[monitoring]`).
    pub monitoring: crate::config::Monitoring,
    /// The supervisors' live wallboards; `None` where no call engine runs.
    pub wallboard: Option<Arc<wallboard::WallboardHub>>,
    /// The reports' turns to count.
    pub reports: Arc<reports::ReportGate>,
}

impl ApiState {
    /// With the default [`ServiceDesk`] and SIP realm `hotline`.
    pub fn new(store: Store, live: Arc<Live>) -> ApiState {
        ApiState::configured(store, live, ServiceDesk::default(), "hotline")
    }

    pub fn configured(
        store: Store,
        live: Arc<Live>,
        desk: ServiceDesk,
        sip_realm: &str,
    ) -> ApiState {
        ApiState {
            store,
            live,
            desk: Arc::new(desk),
            login_guard: Arc::default(),
            sip_realm: Arc::from(sip_realm),
            cti: None,
            engine: None,
            queues: None,
            recordings: None,
            qa: None,
            campaigns: None,
            metrics_token: None,
            outbound_daily_cap: crate::config::OutboundSettings::default().daily_cap,
            monitoring: Default::default(),
            wallboard: None,
            reports: Arc::default(),
        }
    }

    /// With the configured ACD queues, so that a user's `queues` naming
    /// any other is refused.
    pub fn with_queues(mut self, names: impl IntoIterator<Item = String>) -> ApiState {
        self.queues = Some(names.into_iter().collect());
        self
    }
}

/// Live figures the runtime keeps up to date and the API reads. Plain
/// atomics: the runtime writes without locking, readers may see figures a
/// moment apart, which is fine for a health page.
#[derive(Debug)]
pub struct Live {
    /// Calls up right now.
    pub active_calls: AtomicUsize,
    /// Calls accepted since start.
    pub calls_total: AtomicU64,
    /// Set when shutdown began: no new calls, existing ones finish.
    pub draining: AtomicBool,
    /// Wall time at start, epoch ms.
    pub started_at_ms: i64,
    /// Records queued but not yet written: the record writer's counter
    /// ([`crate::rt::record_writer::RecordSink::pending_counter`]).
    pub pending_records: Arc<AtomicUsize>,
    /// Recordings that could not be written (in whole or in part) since
    /// start: a full disk or a folder not writable.
    pub recording_failures: Arc<AtomicU64>,
    /// The figures of `GET /metrics` and what `/api/health` calls
    /// degraded: the runtime's ([`crate::rt::metrics`]).
    pub metrics: Arc<crate::rt::metrics::Metrics>,
}

impl Live {
    /// Zeroed counters, started at `started_at_ms`, reading the writer's
    /// pending counter.
    pub fn new(started_at_ms: i64, pending_records: Arc<AtomicUsize>) -> Live {
        Live {
            active_calls: AtomicUsize::new(0),
            calls_total: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            started_at_ms,
            pending_records,
            recording_failures: Arc::new(AtomicU64::new(0)),
            metrics: Arc::default(),
        }
    }
}

/// Wall-clock now, epoch ms. The API is part of the runtime layer: it may
/// read the clock, and hands the time to the pure cores as an input.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

use Access::{Public, Roles, SignedIn};
use Role::{Admin, Agent, Outlet, Qa, Supervisor};

/// The desk staff who read everything: everyone but outlet users.
const STAFF: &[Role] = &[Admin, Supervisor, Agent, Qa];
/// Who takes calls and writes records.
const DESK: &[Role] = &[Admin, Supervisor, Agent];
/// Who runs the floor.
const LEADS: &[Role] = &[Admin, Supervisor];
const ADMIN: &[Role] = &[Admin];
/// Who reviews recorded calls.
const REVIEWERS: &[Role] = &[Admin, Supervisor, Qa];
/// Who takes calls.
const AGENTS: &[Role] = &[Supervisor, Agent];
/// Staff and outlet users (who see their own outlet's tickets only).
const STAFF_AND_OUTLETS: &[Role] = &[Admin, Supervisor, Agent, Qa, Outlet];
/// Who moves tickets (outlet users: in service and completed only).
const MOVERS: &[Role] = &[Admin, Supervisor, Agent, Outlet];

/// Who may call each route: `(method, path as routed, access)`. Every
/// route must be here ([`auth::authorize`] refuses it otherwise).
pub const ACCESS: &[(&str, &str, Access)] = &[
    ("GET", "/api/health", Public),
    ("GET", "/metrics", Public),
    ("GET", "/api/openapi.json", Public),
    ("POST", "/api/login", Public),
    ("POST", "/api/logout", SignedIn),
    ("GET", "/api/me", SignedIn),
    ("GET", "/api/users", Roles(ADMIN)),
    ("POST", "/api/users", Roles(ADMIN)),
    ("PATCH", "/api/users/{id}", Roles(ADMIN)),
    ("GET", "/api/calls", Roles(STAFF)),
    ("GET", "/api/calls/{id}", Roles(STAFF)),
    ("GET", "/api/calls/{id}/recording", Roles(STAFF)),
    ("GET", "/api/calls/{id}/recording/access", Roles(LEADS)),
    ("POST", "/api/calls/{id}/recording/pause", Roles(DESK)),
    ("POST", "/api/calls/{id}/monitor", Roles(LEADS)),
    ("DELETE", "/api/calls/{id}/monitor", Roles(LEADS)),
    ("PUT", "/api/calls/{id}/legal-hold", Roles(LEADS)),
    ("GET", "/api/calls/{id}/qa", Roles(STAFF)),
    (
        "PUT",
        "/api/calls/{id}/scores/{scorecard}",
        Roles(REVIEWERS),
    ),
    ("POST", "/api/calls/{id}/comments", Roles(REVIEWERS)),
    ("GET", "/api/recordings", Roles(STAFF)),
    ("GET", "/api/qa/scorecards", Roles(STAFF)),
    ("GET", "/api/qa/sample", Roles(REVIEWERS)),
    ("GET", "/api/reports", Roles(LEADS)),
    ("GET", "/api/reports/{name}", Roles(LEADS)),
    ("GET", "/api/campaigns", Roles(LEADS)),
    ("PUT", "/api/campaigns/{name}/state", Roles(LEADS)),
    ("GET", "/api/campaigns/{name}/figures", Roles(LEADS)),
    ("POST", "/api/campaigns/{name}/contacts", Roles(LEADS)),
    ("GET", "/api/preview-campaigns", Roles(AGENTS)),
    ("GET", "/api/campaigns/{name}/next", Roles(AGENTS)),
    (
        "POST",
        "/api/campaigns/{name}/contacts/{id}/dial",
        Roles(AGENTS),
    ),
    ("POST", "/api/do-not-call", Roles(DESK)),
    ("GET", "/api/tickets", Roles(STAFF_AND_OUTLETS)),
    ("POST", "/api/tickets", Roles(DESK)),
    ("GET", "/api/tickets/{number}", Roles(STAFF_AND_OUTLETS)),
    ("PATCH", "/api/tickets/{number}", Roles(DESK)),
    ("POST", "/api/tickets/{number}/transitions", Roles(MOVERS)),
    ("GET", "/api/outlets", Roles(STAFF)),
    ("POST", "/api/outlets", Roles(LEADS)),
    ("PUT", "/api/outlets/{id}", Roles(LEADS)),
    ("GET", "/api/outlets/suggest", Roles(STAFF)),
    ("GET", "/api/screen-pop", Roles(STAFF)),
    ("GET", "/api/customers", Roles(STAFF)),
    ("POST", "/api/customers", Roles(DESK)),
    ("GET", "/api/customers/{id}", Roles(STAFF)),
    ("PATCH", "/api/customers/{id}", Roles(DESK)),
    ("POST", "/api/customers/{id}/products", Roles(DESK)),
    ("GET", "/api/customers/{id}/timeline", Roles(STAFF)),
    ("GET", "/api/kb", SignedIn),
    ("POST", "/api/kb", Roles(LEADS)),
    ("GET", "/api/kb/search", SignedIn),
    ("GET", "/api/kb/{id}", SignedIn),
    ("PUT", "/api/kb/{id}", Roles(LEADS)),
    ("DELETE", "/api/kb/{id}", Roles(LEADS)),
    ("GET", "/api/agent/ws", Roles(AGENTS)),
    ("GET", "/api/agents", Roles(STAFF)),
    ("GET", "/api/wallboard/ws", Roles(LEADS)),
    ("POST", "/api/test-calls", Roles(ADMIN)),
    ("GET", "/api/test-calls/{id}", Roles(ADMIN)),
    ("DELETE", "/api/test-calls/{id}", Roles(ADMIN)),
];

/// The access rule of a routed path.
pub fn access_rule(method: &Method, path: &str) -> Option<Access> {
    ACCESS
        .iter()
        .find(|(m, p, _)| *m == method.as_str() && *p == path)
        .map(|(_, _, access)| *access)
}

/// The roles a rule lets in, as the document lists them.
fn roles_of(access: Access) -> Vec<&'static str> {
    match access {
        Public => vec!["public"],
        SignedIn => vec!["signed-in"],
        Roles(roles) => roles.iter().map(|r| r.as_str()).collect(),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hotline",
        description = "The call center's REST API: calls, customers, service tickets, outlets, the knowledge base and users. Sign in with POST /api/login; send the session cookie or `Authorization: Bearer <token>`. Each operation's `x-roles` lists the roles that may call it. Errors are `{error, fields?, current_version?}`."
    ),
    modifiers(&Security),
    security(("session" = []), ("bearer" = []))
)]
struct ApiDoc;

/// Adds the two ways to send a session to the document.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut OpenApiDoc) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The router and the document it is described by.
fn routes() -> (Router<ApiState>, OpenApiDoc) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(metrics::metrics))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::update))
        .routes(routes!(list_calls))
        .routes(routes!(call_detail))
        .routes(routes!(recordings::play))
        .routes(routes!(recordings::access_log))
        .routes(routes!(recordings::legal_hold))
        .routes(routes!(recordings::pause))
        .routes(routes!(monitor::start, monitor::stop))
        .routes(routes!(qa::reviews))
        .routes(routes!(qa::score))
        .routes(routes!(qa::comment))
        .routes(routes!(qa::search))
        .routes(routes!(qa::list_scorecards))
        .routes(routes!(qa::sample))
        .routes(routes!(reports::catalog))
        .routes(routes!(reports::report))
        .routes(routes!(campaigns::list))
        .routes(routes!(campaigns::set_state))
        .routes(routes!(campaigns::figures))
        .routes(routes!(campaigns::add_contact))
        .routes(routes!(campaigns::do_not_call))
        .routes(routes!(preview::campaigns))
        .routes(routes!(preview::next))
        .routes(routes!(preview::dial))
        .routes(routes!(tickets::list, tickets::create))
        .routes(routes!(tickets::detail, tickets::edit))
        .routes(routes!(tickets::transition))
        .routes(routes!(outlets::list, outlets::create))
        .routes(routes!(outlets::update))
        .routes(routes!(outlets::suggest))
        .routes(routes!(screen_pop))
        .routes(routes!(customers::list, customers::create))
        .routes(routes!(customers::detail, customers::edit))
        .routes(routes!(customers::add_product))
        .routes(routes!(customers::timeline))
        .routes(routes!(kb::list, kb::create))
        .routes(routes!(kb::search))
        .routes(routes!(kb::detail, kb::update, kb::delete))
        .routes(routes!(cti::agent_ws))
        .routes(routes!(cti::list_agents))
        .routes(routes!(wallboard::wallboard_ws))
        .routes(routes!(test_calls::start))
        .routes(routes!(test_calls::status, test_calls::hang_up))
        .split_for_parts();
    // Publish each operation's access rule.
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in [
            ("GET", &mut item.get),
            ("POST", &mut item.post),
            ("PUT", &mut item.put),
            ("PATCH", &mut item.patch),
            ("DELETE", &mut item.delete),
        ] {
            let (Some(op), Some(access)) = (
                op.as_mut(),
                Method::from_bytes(method.as_bytes())
                    .ok()
                    .and_then(|m| access_rule(&m, path)),
            ) else {
                continue;
            };
            let ext = op.extensions.get_or_insert_with(Default::default);
            ext.insert("x-roles".to_owned(), serde_json::json!(roles_of(access)));
            // Handler names repeat across modules (`list`, `create`): name
            // each operation by its method and path, unique by routing.
            op.operation_id = Some(operation_id(method, path));
        }
    }
    (router, doc)
}

/// `get_api_tickets_number_transitions` for `GET /api/tickets/{number}/transitions`.
fn operation_id(method: &str, path: &str) -> String {
    let words = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty());
    std::iter::once(method.to_ascii_lowercase())
        .chain(words.map(str::to_owned))
        .collect::<Vec<_>>()
        .join("_")
}

/// The API router, state applied.
pub fn app(state: ApiState) -> Router {
    let (router, doc) = routes();
    let doc = Arc::new(doc);
    router
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let doc = Arc::clone(&doc);
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .merge(pages::router())
        .with_state(state)
}

/// Body of `GET /api/health`.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// `ok`; `degraded` when anything in `degraded` is wrong; `draining`
    /// once shutdown began.
    status: &'static str,
    /// `ok` or `error`.
    db: &'static str,
    /// What is wrong, each with why (docs/operations.md lists them);
    /// empty when all is well.
    degraded: Vec<crate::rt::health::Problem>,
    active_calls: usize,
    calls_total: u64,
    pending_records: usize,
    /// Recordings that failed since start (disk full, folder not
    /// writable): anything but 0 wants a look at the recordings' disk.
    recording_failures: u64,
    uptime_s: i64,
}

/// Liveness, load and what is degraded: 503 only when the database does
/// not answer (nothing can be served then); the trunk not answering
/// OPTIONS, a disk nearly full, recordings failing or overload make it
/// `degraded` with a reason each, still 200.
#[utoipa::path(get, path = "/api/health", tag = "system", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn health(State(state): State<ApiState>) -> (StatusCode, Json<Health>) {
    let db_ok = match state.store.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %error::error_chain(&e), "health check: database ping failed");
            false
        }
    };
    let live = &state.live;
    let recording_failures = live.recording_failures.load(Ordering::Relaxed);
    let mut degraded = Vec::new();
    if !db_ok {
        degraded.push(crate::rt::health::Problem::database());
    }
    degraded.extend(crate::rt::health::problems(
        &live.metrics,
        recording_failures,
        now_ms(),
    ));
    let body = Health {
        status: if live.draining.load(Ordering::Relaxed) {
            "draining"
        } else if degraded.is_empty() {
            "ok"
        } else {
            "degraded"
        },
        db: if db_ok { "ok" } else { "error" },
        degraded,
        active_calls: live.active_calls.load(Ordering::Relaxed),
        calls_total: live.calls_total.load(Ordering::Relaxed),
        pending_records: live.pending_records.load(Ordering::Relaxed),
        recording_failures,
        uptime_s: (now_ms() - live.started_at_ms).max(0) / 1_000,
    };
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// `GET /api/calls` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CallsQuery {
    /// 1-500, default 50.
    limit: Option<String>,
    /// Only the calls this agent answered: a user id, or `me`.
    agent: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct CallList {
    calls: Vec<CallRow>,
}

/// The latest calls, newest first.
#[utoipa::path(get, path = "/api/calls", tag = "calls", params(CallsQuery),
    responses((status = 200, body = CallList), (status = 400, body = ErrorBody)))]
async fn list_calls(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Query(query): Query<CallsQuery>,
) -> Result<Json<CallList>, AppError> {
    let mut errors = Vec::new();
    let limit = int_param(
        &mut errors,
        "limit",
        query.limit.as_deref(),
        DEFAULT_CALLS_LIMIT,
        1..=MAX_CALLS_LIMIT,
    );
    let agent = match query.agent.as_deref() {
        None => None,
        Some("me") => Some(caller.0.id),
        Some(id) => match id.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                errors.push(crate::validate::FieldError::new(
                    "agent",
                    "must be a user id or `me`",
                ));
                None
            }
        },
    };
    check(errors)?;
    let calls = match agent {
        Some(id) => state.store.agent_calls(id, limit).await?,
        None => state.store.recent_calls(limit).await?,
    };
    Ok(Json(CallList { calls }))
}

/// One call with its events (by sequence) and the messages the caller left.
#[utoipa::path(get, path = "/api/calls/{id}", tag = "calls",
    params(("id" = String, Path, description = "hotline's call id")),
    responses((status = 200, body = CallDetail), (status = 404, body = ErrorBody)))]
async fn call_detail(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<CallDetail>, AppError> {
    state
        .store
        .call(&id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound("call"))
}

/// `GET /api/screen-pop` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PopQuery {
    /// The caller's number in any common form (`+86 138-0013-8000`).
    caller: Option<String>,
}

/// What an agent sees as the phone rings: the customer with their phones
/// and products, their last 20 calls (with what they pressed in the IVR),
/// and their open tickets. An unknown caller gets their own earlier calls.
#[utoipa::path(get, path = "/api/screen-pop", tag = "calls", params(PopQuery),
    responses((status = 200, body = ScreenPop), (status = 400, body = ErrorBody)))]
async fn screen_pop(
    State(state): State<ApiState>,
    Query(q): Query<PopQuery>,
) -> Result<Json<ScreenPop>, AppError> {
    let caller = q.caller.unwrap_or_default();
    if caller.trim().is_empty() {
        return Err(AppError::field("caller", "is required"));
    }
    Ok(Json(state.store.screen_pop(&caller).await?))
}
