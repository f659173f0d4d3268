//! Call recordings in the store: the state of each call's recording (columns
//! of `calls`, written by the record writer through [`RecordOp`]s), every
//! listen and download (`recording_access`), legal holds, and what the
//! retention may delete.
//!
//! [`RecordOp`]: crate::records::RecordOp

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, FromRow, Row};

use super::{Store, StoreError, bad_value, placeholders};
use crate::config::RecordingPolicy;
use crate::records::RecordingState;

/// A call's recording as the API shows it (the file's path stays inside).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecordingInfo {
    pub state: RecordingState,
    /// The first sample (the answer), epoch ms: an event's offset in the
    /// recording is its `at` minus this.
    pub started_at: Option<i64>,
    pub duration_ms: Option<i64>,
    /// Size of the WAV file.
    pub bytes: Option<i64>,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: Option<String>,
    /// Left channel: the caller. Right: the IVR and these agents (user ids).
    pub agents: Vec<i64>,
    /// Why it is not simply complete.
    pub note: Option<String>,
    /// Kept whatever the retention says.
    pub legal_hold: bool,
}

impl RecordingInfo {
    /// From a row holding `calls`' recording columns; `None` if the call
    /// was never recorded.
    pub(super) fn from_call_row(row: &AnyRow) -> Result<Option<RecordingInfo>, sqlx::Error> {
        let Some(state) = row.try_get::<Option<String>, _>("recording_state")? else {
            return Ok(None);
        };
        let agents: Option<String> = row.try_get("recording_agents")?;
        Ok(Some(RecordingInfo {
            state: RecordingState::parse(&state)
                .ok_or_else(|| bad_value("recording_state", &state))?,
            started_at: row.try_get("recording_started_at")?,
            duration_ms: row.try_get("recording_ms")?,
            bytes: row.try_get("recording_bytes")?,
            sha256: row.try_get("recording_sha256")?,
            agents: agents
                .unwrap_or_default()
                .split(',')
                .filter_map(|a| a.parse().ok())
                .collect(),
            note: row.try_get("recording_note")?,
            legal_hold: row.try_get::<i64, _>("legal_hold")? != 0,
        }))
    }
}

/// What playing one call's recording needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingFile {
    pub call_id: String,
    /// Relative to the data directory.
    pub file: String,
    pub state: RecordingState,
    /// Every agent on the call: the one who answered and those heard on it.
    pub agents: Vec<i64>,
}

impl FromRow<'_, AnyRow> for RecordingFile {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let state: String = row.try_get("recording_state")?;
        let mut agents: Vec<i64> = row
            .try_get::<Option<String>, _>("recording_agents")?
            .unwrap_or_default()
            .split(',')
            .filter_map(|a| a.parse().ok())
            .collect();
        if let Some(first) = row.try_get::<Option<i64>, _>("agent_id")?
            && !agents.contains(&first)
        {
            agents.insert(0, first);
        }
        Ok(RecordingFile {
            call_id: row.try_get("id")?,
            file: row.try_get("recording_file")?,
            state: RecordingState::parse(&state)
                .ok_or_else(|| bad_value("recording_state", &state))?,
            agents,
        })
    }
}

/// One listen to or download of a recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecordingAccess {
    pub user_id: i64,
    pub username: Option<String>,
    /// `listen` or `download`.
    pub action: String,
    /// Epoch ms.
    pub at: i64,
}

impl FromRow<'_, AnyRow> for RecordingAccess {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(RecordingAccess {
            user_id: row.try_get("user_id")?,
            username: row.try_get("username")?,
            action: row.try_get("action")?,
            at: row.try_get("at")?,
        })
    }
}

const DAY_MS: i64 = 86_400_000;

/// Recording states whose file retention deletes.
const EXPIRING: &str =
    "recording_state IN ('complete', 'cut_off', 'failed') AND recording_file IS NOT NULL";

impl Store {
    /// Recordings still marked as being written: after a start, those the
    /// last run was writing when it stopped. (call id, file).
    pub async fn unfinished_recordings(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query_as::<_, (String, String)>(
            "SELECT id, recording_file FROM calls \
             WHERE recording_state = 'recording' AND recording_file IS NOT NULL \
             ORDER BY recording_started_at",
        )
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// The recording of `call_id`, if it has a file one may play.
    pub async fn recording_file(&self, call_id: &str) -> Result<Option<RecordingFile>, StoreError> {
        sqlx::query_as::<_, RecordingFile>(
            "SELECT id, recording_file, recording_state, recording_agents, agent_id FROM calls \
             WHERE id = $1 AND recording_file IS NOT NULL",
        )
        .bind(call_id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// Keeps who listened to or downloaded a recording, and when.
    pub async fn log_recording_access(
        &self,
        call_id: &str,
        user_id: i64,
        action: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recording_access (call_id, user_id, action, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(call_id)
        .bind(user_id)
        .bind(action)
        .bind(at)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Every listen to and download of `call_id`'s recording, oldest first.
    pub async fn recording_access(
        &self,
        call_id: &str,
    ) -> Result<Vec<RecordingAccess>, StoreError> {
        sqlx::query_as::<_, RecordingAccess>(
            "SELECT a.user_id, u.username, a.action, a.at FROM recording_access a \
             LEFT JOIN users u ON u.id = a.user_id WHERE a.call_id = $1 ORDER BY a.at, a.id",
        )
        .bind(call_id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// Puts a call's recording on legal hold or takes it off; `false` if
    /// the call has no recording.
    pub async fn set_legal_hold(&self, call_id: &str, hold: bool) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE calls SET legal_hold = $2 WHERE id = $1 AND recording_state IS NOT NULL",
        )
        .bind(call_id)
        .bind(i64::from(hold))
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }

    /// Up to `limit` recordings whose retention has run out at `now_ms`,
    /// oldest first: (call id, file). Legal holds are never among them.
    pub async fn expired_recordings(
        &self,
        policy: &RecordingPolicy,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut found = Vec::new();
        // One query per retention class, so that recordings kept longer
        // in one queue never crowd out those due in another.
        for (queue, days) in &policy.keep_days_by_queue {
            if *days == 0 {
                continue;
            }
            let rows = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(format!(
                "SELECT id, recording_file FROM calls WHERE {EXPIRING} AND legal_hold = 0 \
                 AND queue = $1 AND recording_started_at < $2 \
                 ORDER BY recording_started_at LIMIT $3"
            )))
            .bind(queue)
            .bind(now_ms - i64::from(*days) * DAY_MS)
            .bind(limit)
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::from_sqlx)?;
            found.extend(rows);
        }
        if policy.keep_days > 0 {
            let others = policy.keep_days_by_queue.len();
            let not_listed = if others == 0 {
                String::new()
            } else {
                format!(
                    "AND (queue IS NULL OR queue NOT IN ({}))",
                    placeholders(3, others)
                )
            };
            let sql = format!(
                "SELECT id, recording_file FROM calls WHERE {EXPIRING} AND legal_hold = 0 \
                 AND recording_started_at < $1 {not_listed} \
                 ORDER BY recording_started_at LIMIT $2"
            );
            let mut query = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql))
                .bind(now_ms - i64::from(policy.keep_days) * DAY_MS)
                .bind(limit);
            for queue in policy.keep_days_by_queue.keys() {
                query = query.bind(queue);
            }
            found.extend(
                query
                    .fetch_all(self.pool())
                    .await
                    .map_err(StoreError::from_sqlx)?,
            );
        }
        found.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(found)
    }

    /// Marks `call_id`'s recording deleted by the retention at `at`, unless
    /// a legal hold came in meanwhile: `true` if the file is now to go.
    /// (Marked first, deleted after: a hold can never lose its file.) Its
    /// scores and comments stay.
    pub async fn mark_recording_deleted(&self, call_id: &str, at: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(AssertSqlSafe(format!(
            "UPDATE calls SET recording_state = 'deleted', recording_deleted_at = $2 \
             WHERE id = $1 AND legal_hold = 0 AND {EXPIRING}"
        )))
        .bind(call_id)
        .bind(at)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }
}
