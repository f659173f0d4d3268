//! QA reviews in the store: scores (`qa_scores`), comments pinned to a
//! moment of a recording (`qa_comments`), and the search QA staff find
//! recorded calls with. Scores are computed by [`crate::qa`]; this module
//! keeps them.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, FromRow, Row};

use super::{CallRow, Store, StoreError};

/// One review of a call with a scorecard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QaScore {
    pub id: i64,
    pub call_id: String,
    pub scorecard: String,
    pub reviewer_id: i64,
    pub reviewer: Option<String>,
    /// The agent scored (the call's agent when it was reviewed).
    pub agent_id: Option<i64>,
    /// Each criterion's key and whether it was met.
    #[schema(value_type = Object)]
    pub items: serde_json::Value,
    /// 0 to 100.
    pub total: i64,
    /// A criterion that fails the whole call was not met.
    pub failed: bool,
    pub note: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl FromRow<'_, AnyRow> for QaScore {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let items: String = row.try_get("items")?;
        Ok(QaScore {
            id: row.try_get("id")?,
            call_id: row.try_get("call_id")?,
            scorecard: row.try_get("scorecard")?,
            reviewer_id: row.try_get("reviewer_id")?,
            reviewer: row.try_get("reviewer")?,
            agent_id: row.try_get("agent_id")?,
            items: serde_json::from_str(&items).map_err(|e| sqlx::Error::ColumnDecode {
                index: "items".into(),
                source: Box::new(e),
            })?,
            total: row.try_get("total")?,
            failed: row.try_get::<i64, _>("failed")? != 0,
            note: row.try_get("note")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// A comment pinned to a moment of a call's recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QaComment {
    pub id: i64,
    pub call_id: String,
    pub author_id: i64,
    pub author: Option<String>,
    /// Where in the recording, ms from its start.
    pub offset_ms: i64,
    pub text: String,
    pub created_at: i64,
}

impl FromRow<'_, AnyRow> for QaComment {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(QaComment {
            id: row.try_get("id")?,
            call_id: row.try_get("call_id")?,
            author_id: row.try_get("author_id")?,
            author: row.try_get("author")?,
            offset_ms: row.try_get("offset_ms")?,
            text: row.try_get("text")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// A score being saved.
#[derive(Debug, Clone)]
pub struct NewScore<'a> {
    pub call_id: &'a str,
    pub scorecard: &'a str,
    pub reviewer_id: i64,
    pub agent_id: Option<i64>,
    pub items: &'a serde_json::Value,
    pub total: i64,
    pub failed: bool,
    pub note: &'a str,
    pub at: i64,
}

/// What the reviews of a call come to, for lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ScoreSummary {
    /// The reviews' average total, rounded down.
    pub total: i64,
    /// Some review failed the call.
    pub failed: bool,
    pub reviews: i64,
}

/// A recorded call as the QA search lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReviewRow {
    #[serde(flatten)]
    pub call: CallRow,
    /// The customer the caller's number belongs to, if known.
    pub customer_name: Option<String>,
    /// `None` until reviewed.
    pub score: Option<ScoreSummary>,
}

impl FromRow<'_, AnyRow> for ReviewRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let reviews: i64 = row.try_get("reviews")?;
        Ok(ReviewRow {
            call: CallRow::from_row(row)?,
            customer_name: row.try_get("customer_name")?,
            score: if reviews == 0 {
                None
            } else {
                Some(ScoreSummary {
                    total: row.try_get("score_total")?,
                    failed: row.try_get::<i64, _>("score_failed")? != 0,
                    reviews,
                })
            },
        })
    }
}

/// What QA searches recorded calls by; every field optional.
#[derive(Debug, Clone, Default)]
pub struct RecordingSearch {
    /// Arrived at or after / before (epoch ms).
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// The agent who answered, or was heard on the call.
    pub agent: Option<i64>,
    pub queue: Option<String>,
    /// The caller's number, normalised.
    pub phone: Option<String>,
    /// Part of the customer's name.
    pub customer: Option<String>,
    /// A ticket number: calls from its customer's phones, or the call it
    /// was opened on.
    pub ticket: Option<String>,
    pub min_ms: Option<i64>,
    pub max_ms: Option<i64>,
    pub disposition: Option<String>,
    pub min_score: Option<i64>,
    pub max_score: Option<i64>,
    /// `Some(false)`: not reviewed yet; `Some(true)`: reviewed.
    pub reviewed: Option<bool>,
    /// Only these calls.
    pub ids: Option<Vec<String>>,
    pub limit: i64,
    pub offset: i64,
}

/// A value bound in a search, in placeholder order.
enum Bind {
    Int(i64),
    Text(String),
}

/// Adds a bound value; its placeholder.
fn arg(binds: &mut Vec<Bind>, b: Bind) -> String {
    binds.push(b);
    format!("${}", binds.len())
}

const SCORE_AVG: &str =
    "(SELECT CAST(AVG(s.total) AS BIGINT) FROM qa_scores s WHERE s.call_id = c.id)";

impl Store {
    /// Saves the reviewer's score of the call with a scorecard (a second
    /// save replaces the first) and returns it as stored.
    pub async fn save_score(&self, s: &NewScore<'_>) -> Result<QaScore, StoreError> {
        let items = s.items.to_string();
        sqlx::query(
            "INSERT INTO qa_scores \
             (call_id, scorecard, reviewer_id, agent_id, items, total, failed, note, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (call_id, scorecard, reviewer_id) DO UPDATE SET \
             agent_id = excluded.agent_id, items = excluded.items, total = excluded.total, \
             failed = excluded.failed, note = excluded.note, updated_at = excluded.updated_at",
        )
        .bind(s.call_id)
        .bind(s.scorecard)
        .bind(s.reviewer_id)
        .bind(s.agent_id)
        .bind(&items)
        .bind(s.total)
        .bind(i64::from(s.failed))
        .bind(s.note)
        .bind(s.at)
        .execute(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        sqlx::query_as::<_, QaScore>(
            "SELECT s.*, u.username AS reviewer FROM qa_scores s \
             LEFT JOIN users u ON u.id = s.reviewer_id \
             WHERE s.call_id = $1 AND s.scorecard = $2 AND s.reviewer_id = $3",
        )
        .bind(s.call_id)
        .bind(s.scorecard)
        .bind(s.reviewer_id)
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// Pins a comment to `offset_ms` of the call's recording.
    pub async fn add_comment(
        &self,
        call_id: &str,
        author_id: i64,
        offset_ms: i64,
        text: &str,
        at: i64,
    ) -> Result<QaComment, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO qa_comments (call_id, author_id, offset_ms, text, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(call_id)
        .bind(author_id)
        .bind(offset_ms)
        .bind(text)
        .bind(at)
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        sqlx::query_as::<_, QaComment>(
            "SELECT c.*, u.username AS author FROM qa_comments c \
             LEFT JOIN users u ON u.id = c.author_id WHERE c.id = $1",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// A call's scores (oldest first) and comments (by their moment).
    pub async fn reviews(
        &self,
        call_id: &str,
    ) -> Result<(Vec<QaScore>, Vec<QaComment>), StoreError> {
        let scores = sqlx::query_as::<_, QaScore>(
            "SELECT s.*, u.username AS reviewer FROM qa_scores s \
             LEFT JOIN users u ON u.id = s.reviewer_id WHERE s.call_id = $1 ORDER BY s.created_at, s.id",
        )
        .bind(call_id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        let comments = sqlx::query_as::<_, QaComment>(
            "SELECT c.*, u.username AS author FROM qa_comments c \
             LEFT JOIN users u ON u.id = c.author_id WHERE c.call_id = $1 ORDER BY c.offset_ms, c.id",
        )
        .bind(call_id)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        Ok((scores, comments))
    }

    /// Recorded calls matching `q`, newest first, and how many match in all.
    pub async fn search_recordings(
        &self,
        q: &RecordingSearch,
    ) -> Result<(i64, Vec<ReviewRow>), StoreError> {
        let mut binds: Vec<Bind> = Vec::new();
        let mut wheres: Vec<String> = vec![
            "c.recording_state IN ('complete', 'cut_off', 'failed')".into(),
            "c.recording_file IS NOT NULL".into(),
        ];
        if let Some(v) = q.from_ms {
            wheres.push(format!("c.arrived_at >= {}", arg(&mut binds, Bind::Int(v))));
        }
        if let Some(v) = q.to_ms {
            wheres.push(format!("c.arrived_at < {}", arg(&mut binds, Bind::Int(v))));
        }
        if let Some(v) = q.agent {
            let a = arg(&mut binds, Bind::Int(v));
            let like = arg(&mut binds, Bind::Text(format!("%,{v},%")));
            wheres.push(format!(
                "(c.agent_id = {a} OR ',' || COALESCE(c.recording_agents, '') || ',' LIKE {like})"
            ));
        }
        if let Some(v) = &q.queue {
            wheres.push(format!(
                "c.queue = {}",
                arg(&mut binds, Bind::Text(v.clone()))
            ));
        }
        if let Some(v) = &q.phone {
            wheres.push(format!(
                "c.caller = {}",
                arg(&mut binds, Bind::Text(v.clone()))
            ));
        }
        if let Some(v) = &q.customer {
            let p = arg(&mut binds, Bind::Text(format!("%{v}%")));
            wheres.push(format!(
                "c.caller IN (SELECT p.phone FROM customer_phones p \
                 JOIN customers cu ON cu.id = p.customer_id WHERE cu.name LIKE {p})"
            ));
        }
        if let Some(v) = &q.ticket {
            let p = arg(&mut binds, Bind::Text(v.clone()));
            wheres.push(format!(
                "(c.caller IN (SELECT p.phone FROM tickets t \
                 JOIN customer_phones p ON p.customer_id = t.customer_id WHERE t.number = {p}) \
                 OR c.id IN (SELECT t.call_id FROM tickets t WHERE t.number = {p}))"
            ));
        }
        if let Some(v) = q.min_ms {
            wheres.push(format!(
                "c.recording_ms >= {}",
                arg(&mut binds, Bind::Int(v))
            ));
        }
        if let Some(v) = q.max_ms {
            wheres.push(format!(
                "c.recording_ms <= {}",
                arg(&mut binds, Bind::Int(v))
            ));
        }
        if let Some(v) = &q.disposition {
            wheres.push(format!(
                "c.disposition = {}",
                arg(&mut binds, Bind::Text(v.clone()))
            ));
        }
        if let Some(v) = q.min_score {
            wheres.push(format!("{SCORE_AVG} >= {}", arg(&mut binds, Bind::Int(v))));
        }
        if let Some(v) = q.max_score {
            wheres.push(format!("{SCORE_AVG} <= {}", arg(&mut binds, Bind::Int(v))));
        }
        match q.reviewed {
            Some(true) => {
                wheres.push("EXISTS (SELECT 1 FROM qa_scores s WHERE s.call_id = c.id)".into())
            }
            Some(false) => {
                wheres.push("NOT EXISTS (SELECT 1 FROM qa_scores s WHERE s.call_id = c.id)".into());
            }
            None => {}
        }
        if let Some(ids) = &q.ids {
            if ids.is_empty() {
                return Ok((0, Vec::new()));
            }
            let list: Vec<String> = ids
                .iter()
                .map(|id| arg(&mut binds, Bind::Text(id.clone())))
                .collect();
            wheres.push(format!("c.id IN ({})", list.join(", ")));
        }
        let filter = wheres.join(" AND ");
        let count_sql = format!("SELECT COUNT(*) FROM calls c WHERE {filter}");
        let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
        for b in &binds {
            count = match b {
                Bind::Int(v) => count.bind(*v),
                Bind::Text(v) => count.bind(v.clone()),
            };
        }
        let total = count
            .fetch_one(self.pool())
            .await
            .map_err(StoreError::from_sqlx)?;
        let limit = arg(&mut binds, Bind::Int(q.limit));
        let offset = arg(&mut binds, Bind::Int(q.offset));
        let sql = format!(
            "SELECT c.*, \
             (SELECT cu.name FROM customer_phones p JOIN customers cu ON cu.id = p.customer_id \
              WHERE p.phone = c.caller) AS customer_name, \
             (SELECT COUNT(*) FROM qa_scores s WHERE s.call_id = c.id) AS reviews, \
             COALESCE({SCORE_AVG}, 0) AS score_total, \
             COALESCE((SELECT MAX(s.failed) FROM qa_scores s WHERE s.call_id = c.id), 0) AS score_failed \
             FROM calls c WHERE {filter} ORDER BY c.arrived_at DESC, c.id DESC LIMIT {limit} OFFSET {offset}"
        );
        let mut rows = sqlx::query_as::<_, ReviewRow>(AssertSqlSafe(sql));
        for b in binds {
            rows = match b {
                Bind::Int(v) => rows.bind(v),
                Bind::Text(v) => rows.bind(v),
            };
        }
        let rows = rows
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok((total, rows))
    }

    /// Recorded calls between `from_ms` and `to_ms` that an agent answered
    /// and nobody reviewed yet: (agent, call id), the daily sample's pool.
    pub async fn unreviewed_calls(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        sqlx::query_as::<_, (i64, String)>(
            "SELECT c.agent_id, c.id FROM calls c \
             WHERE c.recording_state IN ('complete', 'cut_off') AND c.agent_id IS NOT NULL \
             AND c.arrived_at >= $1 AND c.arrived_at < $2 \
             AND NOT EXISTS (SELECT 1 FROM qa_scores s WHERE s.call_id = c.id)",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }
}
