//! The knowledge base (知识库): articles the agents search while a customer
//! is on the line ("E4 是什么故障", "遥控器没反应"), each with tags and the
//! product models it applies to.
//!
//! Owns the `kb_articles` table and its search index (migration 0004), the
//! article types, their validation ([`NewArticle::validate`]) and the demo
//! articles ([`seed_kb_demo`]).
//!
//! Invariants:
//! - The search index is in step with the articles in the same transaction
//!   as every write: on SQLite triggers on `kb_articles` update the FTS5
//!   table `kb_fts`; on PostgreSQL the indexed `search_text` is a generated
//!   column. An edited article is found by its new text, never its old.
//! - `version` counts edits. [`Store::update_article`] writes only if the
//!   caller read the current version, else it fails with
//!   [`StoreError::VersionConflict`] naming the version now (a missing
//!   article is [`StoreError::NotFound`] instead), so two agents editing
//!   the same article cannot silently overwrite each other.
//! - Only valid articles are stored: create and update run
//!   [`NewArticle::validate`] and fail with [`StoreError::Invalid`]. Tags
//!   and models never contain commas, which is what makes the stored
//!   comma-wrapped form (`,洗衣机,漏水,`) and the exact filters sound (see
//!   the migration).
//!
//! Search ([`Store::search_articles`]): the query is split on whitespace
//! and every word must occur (case-insensitively) in the title, body, tags
//! or models. Chinese has no spaces between words, so word-based full-text
//! search (SQLite's default tokenizer, PostgreSQL's `to_tsvector`) cannot
//! find 漏水 inside 洗衣机漏水怎么办; both backends match substrings through
//! trigrams instead:
//! - SQLite: FTS5 with the trigram tokenizer. A word of 3 or more
//!   characters becomes a quoted phrase (a substring match) in the `MATCH`
//!   expression, ranked by `bm25` with the title weighted 10, tags and
//!   models 3, the body 1. A trigram index cannot look up a word shorter
//!   than 3 characters (漏水, 遥控, E4), so those are matched with `LIKE`
//!   (a scan, fine at knowledge-base size; it folds only ASCII case, where
//!   the trigram index folds all) and add a fixed amount to the score:
//!   10 when in the title, 3 in the tags, 3 in the models, 1 in the body.
//! - PostgreSQL: a pg_trgm GIN index on `search_text` serves `ILIKE
//!   '%word%'` for words of 3 or more characters (shorter ones are still
//!   correct, by a scan). The score is the same fixed amounts per word
//!   (10/3/3/1 by where it occurs) plus `10 × word_similarity(query,
//!   title) + word_similarity(query, body)`. The fixed part carries the
//!   ranking: pg_trgm sees a run of Chinese characters as one word, so
//!   `word_similarity` is about 0.25 for a 3-character Chinese word inside
//!   a sentence and 0 for a 2-character one; it mostly helps Latin text.
//!
//! Either way a title hit ranks above a body-only hit; ties go to the most
//! recently updated. User text never becomes query syntax: FTS5 phrases are
//! quoted with `"` doubled, `LIKE` patterns escape `\`, `%` and `_`, and
//! everything is bound as a parameter.
//!
//! Snippets are cut in Rust on `char`s (never inside a multi-byte
//! character), around the first match in the body.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::error::ErrorKind;
use sqlx::{AnyConnection, AssertSqlSafe, FromRow, Row};

use super::{Backend, Store, StoreError};
use crate::validate::FieldError;

/// Most articles one page of [`Store::list_articles`] or
/// [`Store::search_articles`] returns; a larger `limit` is cut to this.
pub const KB_PAGE_MAX: i64 = 100;

const TITLE_MAX_CHARS: usize = 200;
const BODY_MAX_CHARS: usize = 20_000;
/// Most tags, and most models, per article.
const LABELS_MAX: usize = 20;
const LABEL_MAX_CHARS: usize = 40;
const QUERY_MAX_CHARS: usize = 100;
const QUERY_MAX_WORDS: usize = 8;
/// The shortest word a trigram index can look up.
const TRIGRAM: usize = 3;
/// Characters of context before the first match in a snippet, and the
/// snippet's length (before the ellipses).
const SNIPPET_BEFORE: usize = 20;
const SNIPPET_CHARS: usize = 80;

/// An article as written by an agent: what create and update take.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewArticle {
    /// 1–200 characters, one line.
    pub title: String,
    /// 1–20000 characters.
    pub body: String,
    /// At most 20, each 1–40 characters, no commas, no surrounding
    /// whitespace, no duplicates.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Product model codes (`XQG100-B14`), same rules as tags.
    #[serde(default)]
    pub models: Vec<String>,
}

impl NewArticle {
    /// Check every field; all problems at once, in field order.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        check_text(&mut errors, "title", &self.title, TITLE_MAX_CHARS, false);
        check_text(&mut errors, "body", &self.body, BODY_MAX_CHARS, true);
        check_labels(&mut errors, "tags", "tag", &self.tags);
        check_labels(&mut errors, "models", "model", &self.models);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn check_text(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    text: &str,
    max: usize,
    multiline: bool,
) {
    let chars = text.chars().count();
    if text.trim().is_empty() {
        errors.push(FieldError::new(field, format!("{field} is required")));
    } else if chars > max {
        errors.push(FieldError::new(
            field,
            format!("{field} is {chars} characters, at most {max} allowed"),
        ));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if text.chars().any(|c| c.is_control() && !allowed(c)) {
        errors.push(FieldError::new(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
}

fn check_labels(errors: &mut Vec<FieldError>, field: &'static str, what: &str, labels: &[String]) {
    if labels.len() > LABELS_MAX {
        errors.push(FieldError::new(
            field,
            format!("{} {field}, at most {LABELS_MAX} allowed", labels.len()),
        ));
    }
    for (i, label) in labels.iter().enumerate() {
        let chars = label.chars().count();
        let problem = if label.trim().is_empty() {
            Some("must not be empty".to_owned())
        } else if chars > LABEL_MAX_CHARS {
            Some(format!(
                "is {chars} characters, at most {LABEL_MAX_CHARS} allowed"
            ))
        } else if label.contains(',') {
            // The stored form is comma-separated.
            Some("must not contain a comma".to_owned())
        } else if label.trim() != label {
            // Filters are exact: ` 洗衣机` would never be found as 洗衣机.
            Some("must not start or end with a space".to_owned())
        } else if label.chars().any(char::is_control) {
            Some("must not contain control characters".to_owned())
        } else if labels[..i].contains(label) {
            Some("is listed twice".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            errors.push(FieldError::new(
                field,
                format!("{what} {} ({label:?}) {problem}", i + 1),
            ));
        }
    }
}

/// A stored article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Article {
    pub id: i64,
    pub title: String,
    pub body: String,
    /// In the order written.
    pub tags: Vec<String>,
    /// Product model codes, in the order written.
    pub models: Vec<String>,
    /// Counts edits from 0; an update must name it.
    pub version: i64,
    /// The user who created it (`users.id`); `None` for seeded articles or
    /// once that user is deleted.
    pub author_id: Option<i64>,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms; the last edit.
    pub updated_at: i64,
}

impl FromRow<'_, AnyRow> for Article {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Article {
            id: row.try_get("id")?,
            title: row.try_get("title")?,
            body: row.try_get("body")?,
            tags: split_labels(&row.try_get::<String, _>("tags")?),
            models: split_labels(&row.try_get::<String, _>("models")?),
            version: row.try_get("version")?,
            author_id: row.try_get("author_id")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// Which articles a list or search covers, and which page of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleFilter {
    /// Only articles with exactly this tag (`洗衣机` does not match
    /// `洗衣机配件`; case-sensitive). A tag no article can have (empty, or
    /// with a comma) matches nothing.
    pub tag: Option<String>,
    /// Only articles for exactly this model code, as for `tag`.
    pub model: Option<String>,
    /// Page size: below 1 gives an empty page, above [`KB_PAGE_MAX`] is cut
    /// to it.
    pub limit: i64,
    /// Rows to skip; negative counts as 0.
    pub offset: i64,
}

impl Default for ArticleFilter {
    /// Every article, first 20.
    fn default() -> ArticleFilter {
        ArticleFilter {
            tag: None,
            model: None,
            limit: 20,
            offset: 0,
        }
    }
}

/// One page of [`Store::list_articles`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ArticlePage {
    /// Most recently updated first (ties: higher id first).
    pub articles: Vec<Article>,
    /// How many articles match the filter, on all pages.
    pub total: i64,
}

/// One result of [`Store::search_articles`]; serialises as the article's
/// fields plus `snippet` and `score`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ArticleHit {
    #[serde(flatten)]
    pub article: Article,
    /// Up to about 80 characters of the body around the first match of a
    /// query word (the body's start if only the title or labels matched),
    /// whitespace runs shown as one space, `…` where cut.
    pub snippet: String,
    /// Higher is better; only comparable within one search on one backend.
    pub score: f64,
}

/// An [`Article`] plus the `score` column of a search.
struct HitRow {
    article: Article,
    score: f64,
}

impl FromRow<'_, AnyRow> for HitRow {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(HitRow {
            article: Article::from_row(row)?,
            score: row.try_get("score")?,
        })
    }
}

/// The article columns, for `SELECT` and `RETURNING` (a macro, for
/// `concat!` into `&'static str` queries); [`ALIASED_COLUMNS`] are the same
/// of `kb_articles a`.
macro_rules! columns {
    () => {
        "id, title, body, tags, models, version, author_id, created_at, updated_at"
    };
}
const ALIASED_COLUMNS: &str = "a.id, a.title, a.body, a.tags, a.models, a.version, \
     a.author_id, a.created_at, a.updated_at";

/// A query's text built from fixed fragments, and its parameters (all
/// text), numbered in the order added. User text only ever goes into
/// `params`.
#[derive(Default)]
struct Sql {
    conditions: Vec<String>,
    params: Vec<String>,
}

impl Sql {
    /// Add a parameter; its placeholder.
    fn param(&mut self, value: String) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// ` WHERE c1 AND c2 ...`, or nothing.
    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }

    /// Conditions for the filter's tag and model; `false` when the filter
    /// can match no article (then no query is needed).
    fn filter(&mut self, backend: Backend, filter: &ArticleFilter) -> bool {
        // A plain substring test: no pattern characters, case-sensitive.
        let position = match backend {
            Backend::Sqlite => "instr",
            Backend::Postgres => "strpos",
        };
        for (column, value) in [("tags", &filter.tag), ("models", &filter.model)] {
            let Some(value) = value else { continue };
            if value.is_empty() || value.contains(',') {
                return false;
            }
            let p = self.param(format!(",{value},"));
            self.conditions
                .push(format!("{position}(a.{column}, {p}) > 0"));
        }
        true
    }
}

/// `limit` and `offset` as documented on [`ArticleFilter`].
fn page(filter: &ArticleFilter) -> (i64, i64) {
    (filter.limit.min(KB_PAGE_MAX), filter.offset.max(0))
}

/// `,a,b,` from `[a, b]`; `''` for none.
fn join_labels(labels: &[String]) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!(",{},", labels.join(","))
    }
}

fn split_labels(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The words of a search query: split on whitespace, every one required.
fn query_words(query: &str) -> Result<Vec<String>, FieldError> {
    let words: Vec<String> = query.split_whitespace().map(str::to_owned).collect();
    if words.is_empty() {
        return Err(FieldError::new("query", "enter something to search for"));
    }
    let chars = query.trim().chars().count();
    if chars > QUERY_MAX_CHARS {
        return Err(FieldError::new(
            "query",
            format!("query is {chars} characters, at most {QUERY_MAX_CHARS} allowed"),
        ));
    }
    if words.len() > QUERY_MAX_WORDS {
        return Err(FieldError::new(
            "query",
            format!(
                "query has {} words, at most {QUERY_MAX_WORDS} allowed",
                words.len()
            ),
        ));
    }
    Ok(words)
}

/// A `LIKE`/`ILIKE` pattern (with `ESCAPE '\'`) matching `word` anywhere,
/// literally.
fn like_contains(word: &str) -> String {
    let mut pattern = String::with_capacity(word.len() + 2);
    pattern.push('%');
    for c in word.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// An FTS5 query requiring every word as a literal substring: each word a
/// quoted phrase (`"` doubled inside), separated by spaces (implicit AND).
/// Inside quotes nothing is syntax: `*`, `NEAR(`, `AND`, `:` are text.
fn fts_all_phrases(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The fixed score of one word (by placeholder `p`) for `kb_articles a`: 10
/// in the title, 3 in the tags, 3 in the models, 1 in the body.
fn containment_score(like: &str, p: &str) -> String {
    format!(
        "(CASE WHEN a.title {like} {p} ESCAPE '\\' THEN 10 ELSE 0 END \
         + CASE WHEN a.tags {like} {p} ESCAPE '\\' THEN 3 ELSE 0 END \
         + CASE WHEN a.models {like} {p} ESCAPE '\\' THEN 3 ELSE 0 END \
         + CASE WHEN a.body {like} {p} ESCAPE '\\' THEN 1 ELSE 0 END)"
    )
}

/// The SQLite search: `MATCH` (ranked by bm25) for words a trigram index
/// can look up, `LIKE` for shorter ones. Returns `FROM ...` and the score.
fn sqlite_search(sql: &mut Sql, words: &[String]) -> (&'static str, String) {
    let (long, short): (Vec<&str>, Vec<&str>) = words
        .iter()
        .map(String::as_str)
        .partition(|w| w.chars().count() >= TRIGRAM);
    let mut score = vec!["0.0".to_owned()];
    let from = if long.is_empty() {
        "kb_articles a"
    } else {
        let p = sql.param(fts_all_phrases(&long));
        sql.conditions.push(format!("kb_fts MATCH {p}"));
        // bm25 is lower for better matches. Weights in column order:
        // title, body, tags, models.
        score.push("- bm25(kb_fts, 10.0, 1.0, 3.0, 3.0)".to_owned());
        "kb_fts JOIN kb_articles a ON a.id = kb_fts.rowid"
    };
    for word in short {
        let p = sql.param(like_contains(word));
        sql.conditions.push(format!(
            "(a.title LIKE {p} ESCAPE '\\' OR a.body LIKE {p} ESCAPE '\\' \
             OR a.tags LIKE {p} ESCAPE '\\' OR a.models LIKE {p} ESCAPE '\\')"
        ));
        score.push(format!("+ {}", containment_score("LIKE", &p)));
    }
    (from, score.join(" "))
}

/// The PostgreSQL search: every word `ILIKE` on the trigram-indexed
/// `search_text`; the score as in the module docs.
fn postgres_search(sql: &mut Sql, words: &[String]) -> (&'static str, String) {
    let mut score = Vec::new();
    for word in words {
        let p = sql.param(like_contains(word));
        sql.conditions
            .push(format!("a.search_text ILIKE {p} ESCAPE '\\'"));
        score.push(containment_score("ILIKE", &p));
    }
    let q = sql.param(words.join(" "));
    score.push(format!(
        "10 * kb_word_similarity({q}, a.title) + kb_word_similarity({q}, a.body)"
    ));
    (
        "kb_articles a",
        format!("CAST({} AS DOUBLE PRECISION)", score.join(" + ")),
    )
}

/// Up to [`SNIPPET_CHARS`] characters of `body` starting a little before
/// the earliest case-insensitive match of any word, on `char` boundaries.
fn snippet(body: &str, words: &[String]) -> String {
    // Whitespace runs (line breaks) as one space: a snippet is one line.
    let mut chars: Vec<char> = Vec::with_capacity(body.len());
    for c in body.trim().chars() {
        if c.is_whitespace() {
            if chars.last() != Some(&' ') {
                chars.push(' ');
            }
        } else {
            chars.push(c);
        }
    }
    let fold = |c: char| c.to_lowercase().next().unwrap_or(c);
    let folded: Vec<char> = chars.iter().map(|&c| fold(c)).collect();
    let first_match = words
        .iter()
        .filter_map(|word| {
            let word: Vec<char> = word.chars().map(fold).collect();
            folded
                .windows(word.len())
                .position(|w| w == word.as_slice())
        })
        .min();
    let start = first_match.map_or(0, |at| at.saturating_sub(SNIPPET_BEFORE));
    let end = (start + SNIPPET_CHARS).min(chars.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push('…');
    }
    out
}

/// Insert one valid article on `conn`.
async fn insert_article(
    conn: &mut AnyConnection,
    new: &NewArticle,
    author: Option<i64>,
    now_ms: i64,
) -> Result<Article, StoreError> {
    sqlx::query_as::<_, Article>(concat!(
        "INSERT INTO kb_articles (title, body, tags, models, author_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
        columns!()
    ))
    .bind(&new.title)
    .bind(&new.body)
    .bind(join_labels(&new.tags))
    .bind(join_labels(&new.models))
    .bind(author)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match e {
        // The only foreign key is the author.
        sqlx::Error::Database(db) if db.kind() == ErrorKind::ForeignKeyViolation => {
            StoreError::NotFound("user")
        }
        e => StoreError::from_sqlx(e),
    })
}

impl Store {
    /// Store a new article (version 0) written by user `author` (`None`:
    /// the system). [`StoreError::Invalid`] if it fails
    /// [`NewArticle::validate`], [`StoreError::NotFound`]`("user")` if
    /// `author` names no user.
    pub async fn create_article(
        &self,
        new: &NewArticle,
        author: Option<i64>,
        now_ms: i64,
    ) -> Result<Article, StoreError> {
        new.validate().map_err(StoreError::Invalid)?;
        let mut conn = self.pool.acquire().await.map_err(StoreError::from_sqlx)?;
        insert_article(&mut conn, new, author, now_ms).await
    }

    /// One article; `None` if there is none with that id.
    pub async fn article(&self, id: i64) -> Result<Option<Article>, StoreError> {
        sqlx::query_as::<_, Article>(concat!(
            "SELECT ",
            columns!(),
            " FROM kb_articles WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// Replace an article's title, body, tags and models, if it is still at
    /// `expected_version`; the version goes up by one and `updated_at`
    /// becomes `now_ms`. Fails with [`StoreError::Invalid`],
    /// [`StoreError::NotFound`]`("article")`, or
    /// [`StoreError::VersionConflict`] with the current version (someone
    /// saved in between; nothing is written).
    pub async fn update_article(
        &self,
        id: i64,
        expected_version: i64,
        new: &NewArticle,
        now_ms: i64,
    ) -> Result<Article, StoreError> {
        new.validate().map_err(StoreError::Invalid)?;
        // The version test is in the UPDATE itself, so two concurrent edits
        // of the same version cannot both succeed.
        let updated = sqlx::query_as::<_, Article>(concat!(
            "UPDATE kb_articles SET title = $3, body = $4, tags = $5, models = $6, \
             version = version + 1, updated_at = $7 \
             WHERE id = $1 AND version = $2 RETURNING ",
            columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(&new.title)
        .bind(&new.body)
        .bind(join_labels(&new.tags))
        .bind(join_labels(&new.models))
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::from_sqlx)?;
        if let Some(article) = updated {
            return Ok(article);
        }
        // Nothing written: tell a stale version from a missing article.
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM kb_articles WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::from_sqlx)?;
        Err(match current {
            Some(current) => StoreError::VersionConflict { current },
            None => StoreError::NotFound("article"),
        })
    }

    /// Delete an article (and its index entries);
    /// [`StoreError::NotFound`]`("article")` if there is none.
    pub async fn delete_article(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM kb_articles WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("article"));
        }
        Ok(())
    }

    /// One page of the articles matching `filter`, most recently updated
    /// first, with how many match in all.
    pub async fn list_articles(&self, filter: &ArticleFilter) -> Result<ArticlePage, StoreError> {
        let mut sql = Sql::default();
        if !sql.filter(self.backend, filter) {
            return Ok(ArticlePage {
                articles: Vec::new(),
                total: 0,
            });
        }
        let where_clause = sql.where_clause();
        let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM kb_articles a{where_clause}"
        )));
        for p in &sql.params {
            count = count.bind(p.as_str());
        }
        let total = count
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        let (limit, offset) = page(filter);
        if limit < 1 || total == 0 {
            return Ok(ArticlePage {
                articles: Vec::new(),
                total,
            });
        }
        let n = sql.params.len();
        let mut query = sqlx::query_as::<_, Article>(AssertSqlSafe(format!(
            "SELECT {ALIASED_COLUMNS} FROM kb_articles a{where_clause} \
             ORDER BY a.updated_at DESC, a.id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        )));
        for p in &sql.params {
            query = query.bind(p.as_str());
        }
        let articles = query
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(ArticlePage { articles, total })
    }

    /// The articles matching `filter` that contain every word of `query`
    /// (split on whitespace, case-insensitive, literal: no syntax), best
    /// first (see the module docs), each with a snippet. An empty or
    /// whitespace-only query, or one over 100 characters or 8 words, is
    /// [`StoreError::Invalid`] (field `query`).
    pub async fn search_articles(
        &self,
        query: &str,
        filter: &ArticleFilter,
    ) -> Result<Vec<ArticleHit>, StoreError> {
        let words = query_words(query).map_err(|e| StoreError::Invalid(vec![e]))?;
        let mut sql = Sql::default();
        let (limit, offset) = page(filter);
        if !sql.filter(self.backend, filter) || limit < 1 {
            return Ok(Vec::new());
        }
        let (from, score) = match self.backend {
            Backend::Sqlite => sqlite_search(&mut sql, &words),
            Backend::Postgres => postgres_search(&mut sql, &words),
        };
        let n = sql.params.len();
        let text = format!(
            "SELECT {ALIASED_COLUMNS}, {score} AS score FROM {from}{} \
             ORDER BY score DESC, a.updated_at DESC, a.id DESC LIMIT ${} OFFSET ${}",
            sql.where_clause(),
            n + 1,
            n + 2
        );
        let mut q = sqlx::query_as::<_, HitRow>(AssertSqlSafe(text));
        for p in &sql.params {
            q = q.bind(p.as_str());
        }
        let rows = q
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(rows
            .into_iter()
            .map(|row| ArticleHit {
                snippet: snippet(&row.article.body, &words),
                article: row.article,
                score: row.score,
            })
            .collect())
    }
}

/// Insert the demo articles ([`DEMO_ARTICLES`]) in one transaction if the
/// knowledge base is empty; `false` if it was not, and then nothing is
/// written. Two processes seeding at once insert them once. The articles
/// are dated in the hours before `now_ms`, the first one oldest.
pub(crate) async fn seed_kb_demo(store: &Store, now_ms: i64) -> Result<bool, StoreError> {
    // Takes the write lock before the count, like Store::seed_demo.
    let mut tx = store.begin_write().await?;
    if store.backend == Backend::Postgres {
        // A second seeder waits here, then counts what the first committed.
        sqlx::raw_sql("LOCK TABLE kb_articles IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
    }
    let articles: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM kb_articles")
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
    if articles > 0 {
        tx.rollback().await.map_err(StoreError::from_sqlx)?;
        return Ok(false);
    }
    let count = DEMO_ARTICLES.len() as i64;
    for (i, demo) in (0..).zip(DEMO_ARTICLES) {
        let new = demo.to_new();
        new.validate().map_err(StoreError::Invalid)?;
        insert_article(&mut tx, &new, None, now_ms - (count - i) * 3_600_000).await?;
    }
    tx.commit().await.map_err(StoreError::from_sqlx)?;
    Ok(true)
}

struct DemoArticle {
    title: &'static str,
    body: &'static str,
    tags: &'static [&'static str],
    models: &'static [&'static str],
}

impl DemoArticle {
    fn to_new(&self) -> NewArticle {
        NewArticle {
            title: self.title.to_owned(),
            body: self.body.to_owned(),
            tags: self.tags.iter().map(|&t| t.to_owned()).collect(),
            models: self.models.iter().map(|&m| m.to_owned()).collect(),
        }
    }
}

/// The demo knowledge base: realistic after-sales articles for the demo
/// products (model codes as in `src/store/demo.rs`: LED65-E7, LED55-A5 and
/// LED42-K1 TVs, XQG100-B14 drum and XQB80-M1 top-load washers, DSZF-60J5
/// electric and JSQ24-16 gas water heaters, the TDR-48V20 e-bike). The
/// demo has no air conditioner, so the air-conditioner articles name no
/// model.
const DEMO_ARTICLES: &[DemoArticle] = &[
    DemoArticle {
        title: "滚筒洗衣机显示E1：进水超时",
        body: "E1 表示洗衣机在规定时间内没有进到设定水位。\n\
               请按以下步骤引导用户排查：\n\
               1. 确认家中是否停水、水龙头是否打开，水压是否过低；\n\
               2. 检查进水管是否折弯、压扁；\n\
               3. 关闭水龙头后拧下进水管，清洗进水阀口的过滤网（常被泥沙堵住）；\n\
               4. 重新安装后按“启动/暂停”键继续程序。\n\
               以上处理后仍显示E1，可能是进水阀或水位传感器故障，请为用户预约上门维修。",
        tags: &["洗衣机", "故障代码", "进水"],
        models: &["XQG100-B14", "XQB80-M1"],
    },
    DemoArticle {
        title: "洗衣机显示E2：排水超时",
        body: "E2 表示排水时间过长，桶内的水没有在规定时间内排完。\n\
               常见原因：排水管折弯或被压住；排水管出口高于一米；地漏堵塞；\
               排水泵过滤器被硬币、纽扣、毛絮堵住。\n\
               滚筒机请用户打开机器右下角的检修盖，先用接水盆放出残水，\
               再逆时针拧出排水泵过滤器清理。波轮机请检查排水管和地漏。\n\
               清理后仍报E2，多为排水泵损坏，请预约上门维修。",
        tags: &["洗衣机", "故障代码", "排水"],
        models: &["XQG100-B14", "XQB80-M1"],
    },
    DemoArticle {
        title: "洗衣机显示E4：脱水不平衡",
        body: "E4 表示脱水时衣物在桶内分布不均，机器多次调整后仍不平衡，已停止脱水以保护机器。\n\
               请用户：把缠在一起的衣物抖散、重新摆放；单独洗一件大件（如羽绒服、床单）时\
               再加入一两件毛巾帮助平衡；确认机器四脚着地、放置平稳不晃动。\n\
               新机请确认运输螺栓已经拆除，未拆除会导致剧烈振动和E4，必须先拆除再使用。",
        tags: &["洗衣机", "故障代码", "脱水"],
        models: &["XQG100-B14", "XQB80-M1"],
    },
    DemoArticle {
        title: "滚筒洗衣机显示E3：门锁异常",
        body: "E3 表示门锁没有锁好或门锁开关故障。请用户关紧机门直到听到“咔哒”声，\
               检查门封圈是否夹有衣物。断电一分钟后重新开机再试。\n\
               若门根本关不上，或关好后仍报E3，需要更换门锁，请预约上门维修。\
               洗涤中途需要打开机门时，请先暂停，等待门锁指示灯熄灭后再开。",
        tags: &["洗衣机", "故障代码"],
        models: &["XQG100-B14"],
    },
    DemoArticle {
        title: "洗衣机漏水怎么办",
        body: "先请用户关闭水龙头、拔掉电源，确认漏水位置：\n\
               - 进水管接口漏水：重新拧紧接头，检查密封垫圈是否缺失或老化；\n\
               - 排水管漏水：检查排水管是否破裂、与地漏连接处是否松脱；\n\
               - 滚筒机门口漏水：清洁门封圈，检查是否有破损；洗衣粉用量过多产生大量泡沫也会从门口溢出；\n\
               - 机器底部漏水：可能是内部管路或排水泵问题，请停止使用并预约上门维修。\n\
               提醒用户及时擦干地面，防止触电和滑倒。",
        tags: &["洗衣机", "漏水"],
        models: &["XQG100-B14", "XQB80-M1"],
    },
    DemoArticle {
        title: "洗衣机配件购买：进水管、排水管加长",
        body: "进水管、排水管加长件和延长接头可以在安装时由师傅带到现场，按配件价格表收费，\
               也可以在官方商城购买。排水管加长后总长不宜超过三米，否则容易排水不畅。\n\
               用户询问配件价格时，请以最新配件价格表为准，不要口头承诺价格。",
        tags: &["洗衣机配件", "配件"],
        models: &["XQG100-B14", "XQB80-M1"],
    },
    DemoArticle {
        title: "空调不制冷的常见原因与排查",
        body: "用户反映空调不制冷时，请依次确认：\n\
               1. 遥控器是否设为制冷模式，设定温度是否低于室温（建议26℃）；\n\
               2. 过滤网是否积灰严重，清洗后再试；\n\
               3. 室外机是否运转，周围是否有遮挡物影响散热，是否被阳光暴晒；\n\
               4. 开机后等待约三分钟（压缩机保护延时）再判断。\n\
               以上都正常仍不制冷，可能缺少制冷剂或压缩机故障，请预约上门检测；\
               加注制冷剂前由师傅检漏，不要让用户自行处理。",
        tags: &["空调", "不制冷"],
        models: &[],
    },
    DemoArticle {
        title: "空调安装前的准备工作",
        body: "预约空调安装时请提醒用户：确认安装位置附近有独立的16A插座；\
               确认外机位置可以安全安装（有空调外机平台或承重墙）；\
               高层外墙作业需要物业同意的，请提前办理；连接管超过标准长度（3米）的部分另行收费。\n\
               安装当天请家中有人，并清空安装位置下方的物品。",
        tags: &["空调", "安装"],
        models: &[],
    },
    DemoArticle {
        title: "电视遥控器没反应怎么办",
        body: "遥控器没反应时请用户：\n\
               1. 更换两节新的7号电池，注意正负极；\n\
               2. 对准电视下方的接收窗口，距离在八米以内，中间不要有遮挡；\n\
               3. 用手机摄像头对准遥控器发射头按键，屏幕上看不到闪光说明遥控器损坏；\n\
               4. 蓝牙语音遥控器需要重新配对：靠近电视同时按住“主页”和“返回”键五秒。\n\
               遥控器损坏可以购买原装遥控器，在保修期内免费更换。",
        tags: &["电视", "遥控器"],
        models: &["LED65-E7", "LED55-A5", "LED42-K1"],
    },
    DemoArticle {
        title: "电视有声音无图像（黑屏）",
        body: "开机有声音但屏幕不亮，多为背光故障。请先让用户拔掉电源等待一分钟再开机；\
               用手电筒贴近屏幕照射，若能隐约看到画面，说明是背光灯条或电源板问题。\n\
               确认信号源选择正确（如机顶盒在HDMI1）。\n\
               背光问题需要上门维修，在保修期内免费；屏幕有裂痕属于人为损坏，不在保修范围。",
        tags: &["电视", "黑屏"],
        models: &["LED65-E7", "LED55-A5", "LED42-K1"],
    },
    DemoArticle {
        title: "电视壁挂安装须知",
        body: "电视壁挂安装需要承重墙或实心墙，轻质隔墙、石膏板墙不能直接挂装。\
               原装挂架随机附带，安装免费；用户自购的伸缩挂架或需要打孔穿线的，按收费标准另收费用。\n\
               请提醒用户提前确认电视和机顶盒的摆放位置，以及插座高度。",
        tags: &["电视", "安装"],
        models: &["LED65-E7", "LED55-A5", "LED42-K1"],
    },
    DemoArticle {
        title: "电热水器漏水处理",
        body: "热水器漏水请先让用户断电、关闭进水阀门，注意安全。\n\
               判断漏水位置：安全阀滴水在加热时属于正常泄压，少量滴水不必处理，可加装排水管；\
               进出水管接口漏水可更换密封圈并拧紧；内胆漏水（机身底部持续渗水）必须停止使用，\
               请立即预约上门维修，内胆在保修期内免费更换。",
        tags: &["热水器", "漏水"],
        models: &["DSZF-60J5"],
    },
    DemoArticle {
        title: "电热水器通电后不加热",
        body: "请确认插座有电、漏电保护插头的指示灯亮，按“复位”键后再试；\
               确认设定温度高于当前水温，并未开启预约或节能模式。\n\
               水温过高时温控器的超温保护会断电，需要师傅上门复位。\
               加热管结垢严重也会导致加热慢或不加热，建议每年清洗一次。",
        tags: &["热水器", "不加热"],
        models: &["DSZF-60J5"],
    },
    DemoArticle {
        title: "燃气热水器点火失败",
        body: "多次点火不着时请用户确认：燃气阀门已打开，燃气表有余额；\
               电池供电的机型更换新的1号电池；水压过低时点不着火，可以把水龙头开大一些。\n\
               冬季首次使用，或长期未用，管道内有空气，可多试几次。\
               仍然点不着或有燃气味，请立即关闭燃气阀门、开窗通风，不要开关电器，并预约上门维修。",
        tags: &["热水器", "燃气", "点火"],
        models: &["JSQ24-16"],
    },
    DemoArticle {
        title: "燃气热水器冬季防冻",
        body: "气温低于零度的地区，热水器内存水结冰会冻裂水管。\
               带防冻功能的机型请保持通电；长期不用时请关闭燃气和进水阀门，\
               打开热水龙头，拧下泄水阀把机内存水放干净。\n\
               冻裂造成的损坏不在免费保修范围内，请提醒用户提前做好防冻。",
        tags: &["热水器", "防冻"],
        models: &["JSQ24-16"],
    },
    DemoArticle {
        title: "电动自行车电池保养",
        body: "电池保养要点：骑行后等电池冷却半小时再充电；尽量随用随充，不要等电量耗尽；\
               长期不骑每月至少补充一次电；使用原装充电器，不要在楼道、室内充电，充电时远离易燃物。\n\
               夏季避免暴晒，冬季续航会下降两到三成，属于正常现象。\
               电池保修一年，鼓包、进水、私自拆装不在保修范围。",
        tags: &["电动车", "电池"],
        models: &["TDR-48V20"],
    },
    DemoArticle {
        title: "电动车电池充不进电",
        body: "充电器指示灯一直是绿灯、电量不上涨：先检查充电插头是否插紧，\
               电池是否装到位，电池上的开关是否打开；换一个插座再试。\n\
               有条件可用同型号的充电器交叉测试，判断是充电器还是电池问题。\
               电池在保修期内容量明显下降（充满后续航不到新车的一半）的，可以预约网点检测。",
        tags: &["电动车", "电池", "充电"],
        models: &["TDR-48V20"],
    },
    DemoArticle {
        title: "整机保修政策（三包）",
        body: "自购机发票日期起：七天内性能故障可选择退货、换货或修理；十五天内性能故障可换货或修理；\
               整机保修期内免费维修（电视、洗衣机一年，电热水器、燃气热水器整机三年，电动车整车一年）。\n\
               主要部件保修期更长，以产品保修卡为准。保修期内上门、检测、更换零件均不收费。\n\
               以下情况不在免费保修范围：人为损坏、私自拆修、不按说明书使用、自然灾害造成的损坏。\
               没有发票的，以出厂日期加三个月计算保修期。",
        tags: &["保修", "政策"],
        models: &[],
    },
    DemoArticle {
        title: "延保服务说明",
        body: "延保在整机保修期结束后继续提供免费维修，可选一年、两年或三年，需在购机一年内办理。\
               延保期内维修的人工费、零件费全免，上门次数不限，但不包括外观件和易耗品。\n\
               用户询问价格时，请按产品型号和购买日期查询延保价格表，不要凭记忆报价。",
        tags: &["保修", "延保"],
        models: &[],
    },
    DemoArticle {
        title: "如何预约上门维修",
        body: "为用户建工单前请核对：联系电话、详细地址、产品型号、购买日期、故障现象。\
               工单生成后把十位工单号告诉用户，用户可拨打热线按提示输入工单号查询进度。\n\
               服务网点会在受理后两小时内联系用户确认上门时间（县、镇网点四小时内）。\
               用户要求指定时间上门的，请在工单备注中写明。",
        tags: &["报修", "流程", "工单"],
        models: &[],
    },
    DemoArticle {
        title: "安装服务收费标准",
        body: "购机后的首次安装免费，包括电视、洗衣机、热水器和空调的标准安装。\n\
               以下项目另行收费，请在预约时告知用户：空调连接管超过三米的部分、\
               高空作业、墙体打孔超过标准数量、用户自购的挂架和管件、拆装旧机。\n\
               师傅收费须出示价格表并开具收据，用户对收费有疑问请转投诉处理。",
        tags: &["安装", "收费"],
        models: &[],
    },
    DemoArticle {
        title: "投诉处理承诺",
        body: "受理投诉后，投诉组在二十四小时内联系用户，七十二小时内给出处理结果。\n\
               坐席接到投诉时请：耐心倾听，不与用户争辩；记录事情经过、涉及的网点和人员；\
               向用户说明处理时限；VIP用户或反复投诉的，请在工单中标注并立即通知值班主管。\
               处理完成后会回访用户，用户不满意可以重新打开工单。",
        tags: &["投诉", "流程"],
        models: &[],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn article() -> NewArticle {
        NewArticle {
            title: "洗衣机显示E4".to_owned(),
            body: "E4 表示排水超时。".to_owned(),
            tags: vec!["洗衣机".to_owned(), "故障代码".to_owned()],
            models: vec!["XQG100-B14".to_owned()],
        }
    }

    fn fields(result: Result<(), Vec<FieldError>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn valid_article_passes() {
        assert_eq!(article().validate(), Ok(()));
        let mut a = article();
        a.title = "标".repeat(TITLE_MAX_CHARS);
        a.body = "文".repeat(BODY_MAX_CHARS);
        a.tags = (0..LABELS_MAX).map(|i| format!("{i:0>40}")).collect();
        a.models = Vec::new();
        assert_eq!(a.validate(), Ok(()));
    }

    #[test]
    fn limits_count_characters_not_bytes() {
        let mut a = article();
        a.title = "标".repeat(TITLE_MAX_CHARS + 1);
        a.body = "文".repeat(BODY_MAX_CHARS + 1);
        assert_eq!(fields(a.validate()), ["title", "body"]);
        let mut a = article();
        a.tags = vec!["签".repeat(LABEL_MAX_CHARS + 1)];
        assert_eq!(fields(a.validate()), ["tags"]);
    }

    #[test]
    fn every_problem_is_reported() {
        let a = NewArticle {
            title: "  ".to_owned(),
            body: String::new(),
            tags: vec![
                "a,b".to_owned(),
                String::new(),
                " 空格".to_owned(),
                "x".to_owned(),
                "x".to_owned(),
            ],
            models: (0..=LABELS_MAX).map(|i| format!("M{i}")).collect(),
        };
        let errors = a.validate().expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["title", "body", "tags", "tags", "tags", "tags", "models"]
        );
        assert!(errors[2].message.contains("comma"), "{errors:?}");
        assert!(errors[5].message.contains("twice"), "{errors:?}");
    }

    #[test]
    fn control_characters_only_in_the_body() {
        let mut a = article();
        a.body = "第一步\n第二步\r\n\t第三步".to_owned();
        assert_eq!(a.validate(), Ok(()));
        a.title = "标题\n换行".to_owned();
        a.models = vec!["M\u{0}1".to_owned()];
        assert_eq!(fields(a.validate()), ["title", "models"]);
    }

    #[test]
    fn labels_round_trip() {
        let labels = vec!["洗衣机".to_owned(), "E4".to_owned()];
        assert_eq!(join_labels(&labels), ",洗衣机,E4,");
        assert_eq!(split_labels(&join_labels(&labels)), labels);
        assert_eq!(join_labels(&[]), "");
        assert!(split_labels("").is_empty());
    }

    #[test]
    fn query_words_split_on_any_whitespace() {
        assert_eq!(
            query_words(" 洗衣机\u{3000}漏水\t E4 ").expect("ok"),
            ["洗衣机", "漏水", "E4"]
        );
        for empty in ["", "   ", "\u{3000}\n"] {
            assert_eq!(query_words(empty).expect_err("empty").field, "query");
        }
        assert!(query_words(&"长".repeat(QUERY_MAX_CHARS + 1)).is_err());
        assert!(query_words(&"词 ".repeat(QUERY_MAX_WORDS + 1)).is_err());
    }

    #[test]
    fn like_patterns_are_literal() {
        assert_eq!(like_contains("100%"), "%100\\%%");
        assert_eq!(like_contains("a_b\\c"), "%a\\_b\\\\c%");
        assert_eq!(like_contains("漏水"), "%漏水%");
    }

    #[test]
    fn fts_phrases_are_quoted() {
        assert_eq!(fts_all_phrases(&["不制冷", "E4*"]), "\"不制冷\" \"E4*\"");
        assert_eq!(fts_all_phrases(&["say\"hi\""]), "\"say\"\"hi\"\"\"");
        assert_eq!(fts_all_phrases(&["NEAR(a"]), "\"NEAR(a\"");
    }

    #[test]
    fn snippet_cuts_on_characters_around_the_first_match() {
        let body = format!("{}热水器漏水怎么办？{}", "前".repeat(50), "后".repeat(100));
        let s = snippet(&body, &["漏水".to_owned()]);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 2);
        let at = s.find("漏水").expect("match shown");
        assert_eq!(s[..at].chars().count(), SNIPPET_BEFORE + 1);
        // The earliest of several words, case-insensitively.
        let s = snippet(
            "Remote 遥控器 no response",
            &["RESPONSE".to_owned(), "remote".to_owned()],
        );
        assert_eq!(s, "Remote 遥控器 no response");
        // No match in the body: its start; line breaks become spaces.
        let s = snippet("第一行\n\n第二行", &["标题".to_owned()]);
        assert_eq!(s, "第一行 第二行");
    }

    #[test]
    fn demo_articles_are_valid() {
        assert!(DEMO_ARTICLES.len() >= 18);
        let mut titles = std::collections::HashSet::new();
        for demo in DEMO_ARTICLES {
            assert_eq!(demo.to_new().validate(), Ok(()), "{}", demo.title);
            assert!(titles.insert(demo.title), "{} twice", demo.title);
        }
    }
}
