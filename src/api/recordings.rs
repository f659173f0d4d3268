//! `/api/calls/{id}/recording`: a call's recording, played or downloaded
//! through the API alone (never from a static folder), with HTTP Range
//! for seeking; who listened; legal holds.
//!
//! Who may hear what: admins, supervisors and QA any call; an agent only a
//! call they were on, and only if `recording.agents_listen`; outlets never
//! (by route). Every listen and download is logged (`recording_access`):
//! a player's many Range requests for one listen count once per user and
//! call within [`LISTEN_WINDOW_MS`].
//!
//! The file's path comes from the call record, never from the request: a
//! call id that is not one of ours (`../`, an absolute path, an encoded
//! separator) is a 404 before any file is touched, and a stored path that
//! would leave the recordings folder is refused as well.

use std::collections::HashMap;
use std::path::{Component, Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use utoipa::ToSchema;

use super::auth::Caller;
use super::{ApiState, AppError, ErrorBody, now_ms};
use crate::records::RecordingState;
use crate::store::Role;
use crate::store::recordings::RecordingAccess;

/// Requests of one user for one recording within this long are one listen.
pub const LISTEN_WINDOW_MS: i64 = 10 * 60 * 1000;

/// Bytes read from the file at a time while streaming.
const READ_CHUNK: usize = 64 * 1024;

/// What the API needs to serve recordings.
#[derive(Debug)]
pub struct RecordingAccessConfig {
    /// The server's data directory (recordings are under `recordings/`).
    pub data_dir: PathBuf,
    /// Agents may listen to their own calls.
    pub agents_listen: bool,
    /// (user, call) → when a listen was last logged, epoch ms.
    logged: Mutex<HashMap<(i64, String), i64>>,
}

impl RecordingAccessConfig {
    pub fn new(data_dir: PathBuf, agents_listen: bool) -> Arc<RecordingAccessConfig> {
        Arc::new(RecordingAccessConfig {
            data_dir,
            agents_listen,
            logged: Mutex::new(HashMap::new()),
        })
    }

    /// Whether this request starts a listen to be logged (and notes it).
    fn starts_listen(&self, user: i64, call: &str, now: i64) -> bool {
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        logged.retain(|_, at| now - *at < LISTEN_WINDOW_MS);
        let key = (user, call.to_owned());
        if logged.contains_key(&key) {
            return false;
        }
        logged.insert(key, now);
        true
    }
}

/// A call id as we make them: anything else names no call.
fn plausible_call_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `recordings/...` with plain components only.
fn safe_relative(file: &str) -> Option<&FsPath> {
    let path = FsPath::new(file);
    let mut parts = path.components();
    let first_ok = matches!(parts.next(), Some(Component::Normal(c)) if c == "recordings");
    (first_ok && parts.all(|c| matches!(c, Component::Normal(_)))).then_some(path)
}

/// A single byte range, resolved against the file's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No Range header: the whole file.
    Whole,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
}

/// Why a Range header cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeError {
    /// Not `bytes=FIRST-LAST`, `bytes=FIRST-` or `bytes=-SUFFIX`, or more
    /// than one range: 400.
    Malformed,
    /// Starts at or beyond the end: 416.
    Unsatisfiable,
}

/// Reads a Range header (RFC 9110 §14.1.2) for a file of `len` bytes.
pub fn parse_range(header: Option<&str>, len: u64) -> Result<ByteRange, RangeError> {
    let Some(header) = header else {
        return Ok(ByteRange::Whole);
    };
    let spec = header
        .trim()
        .strip_prefix("bytes=")
        .ok_or(RangeError::Malformed)?
        .trim();
    if spec.contains(',') {
        return Err(RangeError::Malformed);
    }
    let (first, last) = spec.split_once('-').ok_or(RangeError::Malformed)?;
    let number = |s: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            Err(RangeError::Malformed)
        } else {
            s.parse::<u64>().map_err(|_| RangeError::Malformed)
        }
    };
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n = number(suffix)?;
            if n == 0 || len == 0 {
                return Err(RangeError::Unsatisfiable);
            }
            (len.saturating_sub(n), len - 1)
        }
        (first, "") => (number(first)?, len.saturating_sub(1)),
        (first, last) => {
            let (a, b) = (number(first)?, number(last)?);
            if b < a {
                return Err(RangeError::Malformed);
            }
            (a, b.min(len.saturating_sub(1)))
        }
    };
    if start >= len {
        return Err(RangeError::Unsatisfiable);
    }
    Ok(ByteRange::Part { start, end })
}

/// `GET /api/calls/{id}/recording` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlayQuery {
    /// `1`: as a download (attachment), logged as one.
    download: Option<String>,
}

fn access_of(state: &ApiState) -> Result<&Arc<RecordingAccessConfig>, AppError> {
    state
        .recordings
        .as_ref()
        .ok_or(AppError::NotFound("recording"))
}

/// Plays or downloads the call's recording (WAV, 8 kHz, 16-bit stereo:
/// the caller left, what the caller heard right), whole or one byte range
/// (`Range: bytes=...`, for seeking). Admins, supervisors and QA may hear
/// any call, an agent only their own (if the configuration allows),
/// outlets none. Logged once per user and call within ten minutes.
#[utoipa::path(get, path = "/api/calls/{id}/recording", tag = "recordings",
    params(("id" = String, Path, description = "hotline's call id"), PlayQuery),
    responses(
        (status = 200, description = "the whole file", content_type = "audio/wav"),
        (status = 206, description = "the range asked for", content_type = "audio/wav"),
        (status = 400, body = ErrorBody, description = "a malformed Range header"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such call, or no recording to play"),
        (status = 416, body = ErrorBody, description = "the range starts beyond the end")))]
pub async fn play(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<PlayQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let access = access_of(&state)?;
    if !plausible_call_id(&id) {
        return Err(AppError::NotFound("call"));
    }
    let rec = state
        .store
        .recording_file(&id)
        .await?
        .ok_or(AppError::NotFound("recording"))?;
    let user = &caller.0;
    let allowed = match user.role {
        Role::Admin | Role::Supervisor | Role::Qa => true,
        Role::Agent => access.agents_listen && rec.agents.contains(&user.id),
        Role::Outlet => false,
    };
    if !allowed {
        return Err(AppError::Forbidden);
    }
    if !matches!(
        rec.state,
        RecordingState::Complete | RecordingState::CutOff | RecordingState::Failed
    ) {
        return Err(AppError::NotFound("recording"));
    }
    let relative = safe_relative(&rec.file).ok_or(AppError::NotFound("recording"))?;
    let path = access.data_dir.join(relative);
    let mut file = tokio::fs::File::open(&path).await.map_err(|e| {
        tracing::warn!(call_id = id, path = %path.display(), error = %e, "recording file missing");
        AppError::NotFound("recording")
    })?;
    let len = file
        .metadata()
        .await
        .map_err(|_| AppError::NotFound("recording"))?
        .len();
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = match (headers.get(header::RANGE), range_header) {
        (Some(_), None) => Err(RangeError::Malformed),
        (_, text) => parse_range(text, len),
    };
    let range = match range {
        Ok(r) => r,
        Err(RangeError::Malformed) => {
            return Err(AppError::BadRequest(
                "Range must be one range: bytes=FIRST-LAST, bytes=FIRST- or bytes=-SUFFIX".into(),
            ));
        }
        Err(RangeError::Unsatisfiable) => {
            let mut r = (
                StatusCode::RANGE_NOT_SATISFIABLE,
                Json(ErrorBody {
                    error: format!(
                        "the recording has {len} bytes; the range starts beyond its end"
                    ),
                    fields: Vec::new(),
                    current_version: None,
                }),
            )
                .into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
            );
            return Ok(r);
        }
    };
    let download = query.download.as_deref() == Some("1");
    let action = if download { "download" } else { "listen" };
    let now = now_ms();
    if download || access.starts_listen(user.id, &id, now) {
        state
            .store
            .log_recording_access(&id, user.id, action, now)
            .await?;
        tracing::info!(
            call_id = id,
            user = user.username,
            action,
            "recording accessed"
        );
    }
    let (status, start, count) = match range {
        ByteRange::Whole => (StatusCode::OK, 0, len),
        ByteRange::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
    };
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|e| AppError::BadRequest(format!("cannot read the recording: {e}")))?;
    let stream = futures_util::stream::unfold((file, count), |(mut file, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; READ_CHUNK.min(usize::try_from(left).unwrap_or(READ_CHUNK))];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<_, std::io::Error>(bytes::Bytes::from(buf)),
                    (file, left - n as u64),
                ))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        let value = format!("bytes {start}-{}/{len}", start + count - 1);
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&value).expect("ascii"),
        );
    }
    if download {
        let value = format!("attachment; filename=\"{id}.wav\"");
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&value).expect("ascii"),
        );
    }
    Ok(response)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessList {
    /// Oldest first.
    access: Vec<RecordingAccess>,
}

/// Who listened to or downloaded the call's recording, and when.
#[utoipa::path(get, path = "/api/calls/{id}/recording/access", tag = "recordings",
    params(("id" = String, Path, description = "hotline's call id")),
    responses((status = 200, body = AccessList), (status = 404, body = ErrorBody)))]
pub async fn access_log(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<AccessList>, AppError> {
    if !plausible_call_id(&id) || state.store.recording_file(&id).await?.is_none() {
        return Err(AppError::NotFound("recording"));
    }
    Ok(Json(AccessList {
        access: state.store.recording_access(&id).await?,
    }))
}

/// `POST /api/calls/{id}/recording/pause` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseInput {
    /// `true`: silence in the recording from now; `false`: record again.
    paused: bool,
}

/// Pauses or resumes a live call's recording (a card or ID number being
/// read out). Supervisors and admins on any call, an agent on their own;
/// the agent's page hears of it, the timeline says who.
#[utoipa::path(post, path = "/api/calls/{id}/recording/pause", tag = "recordings",
    params(("id" = String, Path, description = "hotline's call id")),
    request_body = PauseInput,
    responses((status = 204), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such call in progress"),
        (status = 409, body = ErrorBody, description = "the call is not being recorded")))]
pub async fn pause(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(id): Path<String>,
    super::input::Input(body): super::input::Input<PauseInput>,
) -> Result<StatusCode, AppError> {
    let user = &caller.0;
    let (by, agent) = match user.role {
        Role::Agent => (format!("agent {}", user.id), Some(user.id)),
        role => (format!("{} {}", role.as_str(), user.username), None),
    };
    let done = super::engine::ask(&state, |reply| {
        super::engine::EngineRequest::PauseRecording {
            call_id: id,
            paused: body.paused,
            by,
            agent,
            reply,
        }
    })
    .await?;
    match done {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(crate::engine::PauseError::NoSuchCall) => Err(AppError::NotFound("call in progress")),
        Err(crate::engine::PauseError::NotYourCall) => Err(AppError::Forbidden),
        Err(e @ crate::engine::PauseError::NotRecorded) => Err(AppError::Conflict(e.to_string())),
    }
}

/// `PUT /api/calls/{id}/legal-hold` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalHold {
    /// `true`: the retention never deletes this recording.
    hold: bool,
}

/// Puts the call's recording on legal hold (the retention keeps it) or
/// takes it off.
#[utoipa::path(put, path = "/api/calls/{id}/legal-hold", tag = "recordings",
    params(("id" = String, Path, description = "hotline's call id")),
    request_body = LegalHold,
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn legal_hold(
    State(state): State<ApiState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(id): Path<String>,
    super::input::Input(body): super::input::Input<LegalHold>,
) -> Result<StatusCode, AppError> {
    if !plausible_call_id(&id) || !state.store.set_legal_hold(&id, body.hold).await? {
        return Err(AppError::NotFound("recording"));
    }
    tracing::info!(
        call_id = id,
        user = caller.0.username,
        hold = body.hold,
        "legal hold changed"
    );
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        let len = 1000;
        let ok = |h: &str| parse_range(Some(h), len);
        assert_eq!(parse_range(None, len), Ok(ByteRange::Whole));
        assert_eq!(ok("bytes=0-"), Ok(ByteRange::Part { start: 0, end: 999 }));
        assert_eq!(
            ok("bytes=0-499"),
            Ok(ByteRange::Part { start: 0, end: 499 })
        );
        assert_eq!(
            ok("bytes=900-5000"),
            Ok(ByteRange::Part {
                start: 900,
                end: 999
            })
        );
        assert_eq!(
            ok("bytes=-100"),
            Ok(ByteRange::Part {
                start: 900,
                end: 999
            })
        );
        assert_eq!(
            ok("bytes=-5000"),
            Ok(ByteRange::Part { start: 0, end: 999 })
        );
        assert_eq!(
            ok("bytes=999-999"),
            Ok(ByteRange::Part {
                start: 999,
                end: 999
            })
        );
        for bad in [
            "bytes=",
            "bytes=-",
            "bytes=abc-",
            "bytes=5-1",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=+1-2",
            "bytes=1--2",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(ok(bad), Err(RangeError::Malformed), "{bad}");
        }
        for beyond in ["bytes=1000-", "bytes=1000-1001", "bytes=-0"] {
            assert_eq!(ok(beyond), Err(RangeError::Unsatisfiable), "{beyond}");
        }
        assert_eq!(
            parse_range(Some("bytes=0-"), 0),
            Err(RangeError::Unsatisfiable)
        );
    }

    #[test]
    fn only_our_call_ids_and_paths_under_recordings_pass() {
        assert!(plausible_call_id("019b785fc1603fa2c1d7"));
        for bad in [
            "",
            "../etc/passwd",
            "/etc/passwd",
            "a/b",
            "a%2Fb",
            "a\\b",
            "..",
            &"x".repeat(65),
        ] {
            assert!(!plausible_call_id(bad), "{bad}");
        }
        assert!(safe_relative("recordings/2026/12/06/x.wav").is_some());
        for bad in [
            "/etc/passwd",
            "recordings/../hotline.db",
            "messages/x.wav",
            "",
        ] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
    }
}
