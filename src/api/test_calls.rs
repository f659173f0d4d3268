//! `/api/test-calls`: the browser test caller's signalling (admins only).
//! The page posts its WebRTC offer and gets our answer; the call then runs
//! in the engine (see `engine::test_call`) and the page polls its status.
//! The requests reach the runtime's driver over the engine's channel
//! ([`super::engine`]) and come back on a oneshot.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::engine::{EngineRequest, ask};
use super::input::Input;
use super::{ApiState, AppError, ErrorBody};
use crate::engine::TestCallError;
use crate::media::webrtc::MAX_SDP;

/// `POST /api/test-calls` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTestCall {
    /// The number the call comes from (a demo customer's makes a screen
    /// pop with a name): 3 to 20 digits, optionally after a +.
    pub caller: String,
    /// The page's WebRTC offer, with its ICE candidates (no trickle here).
    pub sdp: String,
}

/// A test call as the page sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestCallView {
    pub id: String,
    /// `connecting`, `ringing`, `answered` or `ended`.
    pub state: String,
    /// Our answer to the page's offer (only in the answer to POST).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdp: Option<String>,
    /// hotline's id of the call it made, once the hotline answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// Why it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

fn refused(e: TestCallError) -> AppError {
    match e {
        TestCallError::NoWebRtc => {
            AppError::Exhausted("this server has no browser audio (webrtc.enabled is false)")
        }
        TestCallError::BadCaller => AppError::field("caller", e.to_string()),
        TestCallError::TooMany => AppError::Conflict(e.to_string()),
        TestCallError::BadMedia(why) => AppError::field("sdp", why),
        TestCallError::NotFound => AppError::NotFound("test call"),
    }
}

/// Calls the hotline as a customer from the admin's browser: the page's
/// offer in, our answer out. Once the page's audio connects, the call goes
/// to our own number as if from `caller`.
#[utoipa::path(post, path = "/api/test-calls", tag = "calls", request_body = NewTestCall,
    responses(
        (status = 201, body = TestCallView),
        (status = 400, body = ErrorBody),
        (status = 409, description = "Too many test calls up", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn start(
    State(state): State<ApiState>,
    Input(req): Input<NewTestCall>,
) -> Result<(StatusCode, Json<TestCallView>), AppError> {
    if req.sdp.is_empty() || req.sdp.len() > MAX_SDP {
        return Err(AppError::field(
            "sdp",
            format!("the browser's SDP offer, 1 to {MAX_SDP} bytes"),
        ));
    }
    let (id, sdp) = ask(&state, |reply| EngineRequest::Start {
        caller: req.caller,
        sdp: req.sdp,
        reply,
    })
    .await?
    .map_err(refused)?;
    Ok((
        StatusCode::CREATED,
        Json(TestCallView {
            id,
            state: "connecting".into(),
            sdp: Some(sdp),
            call_id: None,
            cause: None,
        }),
    ))
}

/// Where a test call stands.
#[utoipa::path(get, path = "/api/test-calls/{id}", tag = "calls",
    params(("id" = String, Path, description = "The test call's id")),
    responses((status = 200, body = TestCallView), (status = 404, body = ErrorBody)))]
pub async fn status(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<TestCallView>, AppError> {
    let s = ask(&state, |reply| EngineRequest::Status {
        id: id.clone(),
        reply,
    })
    .await?
    .ok_or(AppError::NotFound("test call"))?;
    Ok(Json(TestCallView {
        id,
        state: s.state.into(),
        sdp: None,
        call_id: s.call_id,
        cause: s.cause,
    }))
}

/// Hangs a test call up (the caller's side: the call it made ends with
/// the caller's BYE).
#[utoipa::path(delete, path = "/api/test-calls/{id}", tag = "calls",
    params(("id" = String, Path, description = "The test call's id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn hang_up(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    ask(&state, |reply| EngineRequest::HangUp { id, reply })
        .await?
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}
