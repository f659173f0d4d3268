//! The knowledge base: agents search it while the customer is on the line;
//! supervisors write it. Search and storage are the store's
//! ([`crate::store::Store::search_articles`]).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::input::{Input, check, int_param};
use super::{ApiState, AppError, ErrorBody, now_ms};
use crate::store::{Article, ArticleFilter, ArticleHit, ArticlePage, KB_PAGE_MAX, NewArticle};

/// `GET /api/kb` and `GET /api/kb/search` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KbQuery {
    /// Search words (search only), e.g. `漏水` or `热水器 漏水`: every word
    /// must match.
    pub q: Option<String>,
    /// Only articles with exactly this tag.
    pub tag: Option<String>,
    /// Only articles for exactly this product model, e.g. `XQG100-B14`.
    pub model: Option<String>,
    /// 1-100, default 20.
    pub limit: Option<String>,
    /// Default 0 (lists only).
    pub offset: Option<String>,
}

impl KbQuery {
    fn filter(&self) -> Result<ArticleFilter, AppError> {
        let mut errors = Vec::new();
        let filter = ArticleFilter {
            tag: self.tag.clone(),
            model: self.model.clone(),
            limit: int_param(
                &mut errors,
                "limit",
                self.limit.as_deref(),
                20,
                1..=KB_PAGE_MAX,
            ),
            offset: int_param(
                &mut errors,
                "offset",
                self.offset.as_deref(),
                0,
                0..=1_000_000,
            ),
        };
        check(errors)?;
        Ok(filter)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    /// Best first.
    pub hits: Vec<ArticleHit>,
}

/// `PUT /api/kb/{id}` body: the whole article and the version read.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateArticle {
    pub version: i64,
    #[serde(flatten)]
    pub article: NewArticle,
}

/// Articles, most recently updated first.
#[utoipa::path(get, path = "/api/kb", tag = "knowledge base", params(KbQuery),
    responses((status = 200, body = ArticlePage), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    Query(q): Query<KbQuery>,
) -> Result<Json<ArticlePage>, AppError> {
    Ok(Json(state.store.list_articles(&q.filter()?).await?))
}

/// Searches titles, bodies, tags and models; handles Chinese (words of
/// two characters too). Best first, each with a snippet around the match.
#[utoipa::path(get, path = "/api/kb/search", tag = "knowledge base", params(KbQuery),
    responses((status = 200, body = SearchResults), (status = 400, body = ErrorBody)))]
pub async fn search(
    State(state): State<ApiState>,
    Query(q): Query<KbQuery>,
) -> Result<Json<SearchResults>, AppError> {
    let filter = q.filter()?;
    let words = q.q.as_deref().unwrap_or("");
    match state.store.search_articles(words, &filter).await {
        Ok(hits) => Ok(Json(SearchResults { hits })),
        // The store names the search text `query`; here it is `q`.
        Err(crate::store::StoreError::Invalid(mut fields)) => {
            for f in &mut fields {
                if f.field == "query" {
                    f.field = "q".to_owned();
                }
            }
            Err(AppError::Invalid(fields))
        }
        Err(e) => Err(e.into()),
    }
}

/// One article.
#[utoipa::path(get, path = "/api/kb/{id}", tag = "knowledge base",
    params(("id" = i64, Path, description = "Article id")),
    responses((status = 200, body = Article), (status = 404, body = ErrorBody)))]
pub async fn detail(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
) -> Result<Json<Article>, AppError> {
    state
        .store
        .article(id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound("article"))
}

/// Writes a new article.
#[utoipa::path(post, path = "/api/kb", tag = "knowledge base", request_body = NewArticle,
    responses((status = 201, body = Article), (status = 400, body = ErrorBody)))]
pub async fn create(
    State(state): State<ApiState>,
    Extension(Caller(user)): Extension<Caller>,
    Input(req): Input<NewArticle>,
) -> Result<(StatusCode, Json<Article>), AppError> {
    let article = state
        .store
        .create_article(&req, Some(user.id), now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(article)))
}

/// Replaces an article, if it is still at the version read.
#[utoipa::path(put, path = "/api/kb/{id}", tag = "knowledge base", request_body = UpdateArticle,
    params(("id" = i64, Path, description = "Article id")),
    responses(
        (status = 200, body = Article),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Changed since it was read", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
    Input(req): Input<UpdateArticle>,
) -> Result<Json<Article>, AppError> {
    Ok(Json(
        state
            .store
            .update_article(id, req.version, &req.article, now_ms())
            .await?,
    ))
}

/// Removes an article.
#[utoipa::path(delete, path = "/api/kb/{id}", tag = "knowledge base",
    params(("id" = i64, Path, description = "Article id")),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    state.store.delete_article(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
