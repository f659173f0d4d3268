//! Service outlets: list, add, edit, and which outlets serve a region
//! (what dispatch offers first).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::input::Input;
use super::{ApiState, AppError, ErrorBody};
use crate::store::{OutletInput, OutletRecord, suggest_outlets};

#[derive(Debug, Serialize, ToSchema)]
pub struct OutletList {
    pub outlets: Vec<OutletRecord>,
}

/// Every outlet, by code.
#[utoipa::path(get, path = "/api/outlets", tag = "outlets",
    responses((status = 200, body = OutletList)))]
pub async fn list(State(state): State<ApiState>) -> Result<Json<OutletList>, AppError> {
    Ok(Json(OutletList {
        outlets: state.store.outlets().await?,
    }))
}

/// Adds an outlet.
#[utoipa::path(post, path = "/api/outlets", tag = "outlets", request_body = OutletInput,
    responses(
        (status = 201, body = OutletRecord),
        (status = 400, body = ErrorBody),
        (status = 409, description = "Code taken", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ApiState>,
    Input(mut req): Input<OutletInput>,
) -> Result<(StatusCode, Json<OutletRecord>), AppError> {
    req.validate().map_err(AppError::Invalid)?;
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_outlet(&req).await?),
    ))
}

/// Replaces an outlet's fields.
#[utoipa::path(put, path = "/api/outlets/{id}", tag = "outlets", request_body = OutletInput,
    params(("id" = i64, Path, description = "Outlet id")),
    responses(
        (status = 200, body = OutletRecord),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Code taken", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
    Input(mut req): Input<OutletInput>,
) -> Result<Json<OutletRecord>, AppError> {
    req.validate().map_err(AppError::Invalid)?;
    Ok(Json(state.store.update_outlet(id, &req).await?))
}

/// `GET /api/outlets/suggest` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestQuery {
    /// The customer's region, e.g. 浙江省杭州市西湖区.
    pub region: Option<String>,
}

/// The outlets serving a region, best first: the most specific area, then
/// the bigger tier.
#[utoipa::path(get, path = "/api/outlets/suggest", tag = "outlets", params(SuggestQuery),
    responses((status = 200, body = OutletList), (status = 400, body = ErrorBody)))]
pub async fn suggest(
    State(state): State<ApiState>,
    Query(q): Query<SuggestQuery>,
) -> Result<Json<OutletList>, AppError> {
    let region = q.region.unwrap_or_default();
    if region.trim().is_empty() {
        return Err(AppError::field("region", "is required"));
    }
    let all = state.store.outlets().await?;
    Ok(Json(OutletList {
        outlets: suggest_outlets(&all, region.trim())
            .into_iter()
            .cloned()
            .collect(),
    }))
}
