//! Listen, whisper and barge from the wallboard: a supervisor steps into a
//! live call on their registered SIP phone, switches between the modes,
//! and leaves. The mixing is the engine's (`crate::engine` monitor); this
//! module only says who may ask and what the answers mean.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{AppError, ErrorBody};
use super::{ApiState, Caller};
use crate::engine::{MonitorError, MonitorMode};

/// `POST /api/calls/{id}/monitor` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorInput {
    /// `listen` (you hear both sides, nobody hears you), `whisper` (the
    /// agent hears you, the caller does not) or `barge` (all three talk).
    #[schema(value_type = String, example = "listen")]
    mode: MonitorMode,
}

/// Where the supervisor stands in the call.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorState {
    pub call: String,
    #[schema(value_type = String, example = "listen")]
    pub mode: MonitorMode,
    /// `false`: your phone is ringing; answer it to hear the call.
    pub connected: bool,
}

fn refusal(e: MonitorError) -> AppError {
    match e {
        MonitorError::NoSuchCall => AppError::NotFound("call in progress"),
        e => AppError::Conflict(e.to_string()),
    }
}

/// Steps into a live call (your registered SIP phone rings), or switches
/// the mode of the call you are in, without dropping anyone. Every use is
/// on the call's timeline.
#[utoipa::path(post, path = "/api/calls/{id}/monitor", tag = "monitoring",
    params(("id" = String, Path, description = "hotline's call id")),
    request_body = MonitorInput,
    responses((status = 200, body = MonitorState), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such call in progress (it may have just ended)"),
        (status = 409, body = ErrorBody, description = "the call has no agent, someone else is in it, you are busy or have no phone")))]
pub async fn start(
    State(state): State<ApiState>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    Path(id): Path<String>,
    super::input::Input(body): super::input::Input<MonitorInput>,
) -> Result<axum::Json<MonitorState>, AppError> {
    let done = super::engine::ask(&state, |reply| super::engine::EngineRequest::Monitor {
        call_id: id.clone(),
        supervisor: user.id,
        mode: Some(body.mode),
        reply,
    })
    .await?
    .map_err(refusal)?;
    let status = done.ok_or(AppError::NotFound("call in progress"))?;
    Ok(axum::Json(MonitorState {
        call: id,
        mode: status.mode,
        connected: status.connected,
    }))
}

/// Leaves the call: your phone is hung up, the agent and the caller hear
/// only each other.
#[utoipa::path(delete, path = "/api/calls/{id}/monitor", tag = "monitoring",
    params(("id" = String, Path, description = "hotline's call id")),
    responses((status = 204), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such call in progress"),
        (status = 409, body = ErrorBody, description = "you are not in this call")))]
pub async fn stop(
    State(state): State<ApiState>,
    axum::Extension(Caller(user)): axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    super::engine::ask(&state, |reply| super::engine::EngineRequest::Monitor {
        call_id: id,
        supervisor: user.id,
        mode: None,
        reply,
    })
    .await?
    .map_err(refusal)?;
    Ok(StatusCode::NO_CONTENT)
}
