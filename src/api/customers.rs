//! Customers and their products: find, register, edit, and the history
//! timeline (calls, tickets, every stage, follow-up scores) an agent reads
//! while talking to them. Validation and storage are the store's
//! ([`crate::store::Store::create_customer`] and friends); a number or
//! serial already on file answers 409 naming whose it is.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::input::{Input, check, int_param};
use super::{ApiState, AppError, ErrorBody, now_ms};
use crate::store::{
    Customer, CustomerFilter, CustomerPage, CustomerPatch, NewCustomer, NewProduct, Product,
    TimelineEntry,
};
use crate::validate::FieldError;

/// `GET /api/customers` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    /// Part of the name, or of a phone number in any form.
    pub q: Option<String>,
    /// The start of the region, e.g. 浙江省杭州市.
    pub region: Option<String>,
    /// `true` or `false`.
    pub vip: Option<String>,
    /// 1-200, default 50.
    pub limit: Option<String>,
    /// Default 0.
    pub offset: Option<String>,
}

/// `PATCH /api/customers/{id}` body: the version read and the changes.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EditCustomer {
    pub version: i64,
    #[serde(flatten)]
    pub changes: CustomerPatch,
}

/// `GET /api/customers/{id}/timeline` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// 1-500, default 100.
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Timeline {
    /// Newest first.
    pub entries: Vec<TimelineEntry>,
}

/// Customers, newest first.
#[utoipa::path(get, path = "/api/customers", tag = "customers", params(CustomerQuery),
    responses((status = 200, body = CustomerPage), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    Query(q): Query<CustomerQuery>,
) -> Result<Json<CustomerPage>, AppError> {
    let mut errors = Vec::new();
    let vip = match q.vip.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            errors.push(FieldError::new("vip", "must be true or false"));
            None
        }
    };
    let filter = CustomerFilter {
        q: q.q,
        region: q.region,
        vip,
        limit: Some(int_param(
            &mut errors,
            "limit",
            q.limit.as_deref(),
            50,
            1..=200,
        )),
        offset: Some(int_param(
            &mut errors,
            "offset",
            q.offset.as_deref(),
            0,
            0..=1_000_000,
        )),
    };
    check(errors)?;
    Ok(Json(state.store.list_customers(&filter).await?))
}

/// Registers a customer with their numbers.
#[utoipa::path(post, path = "/api/customers", tag = "customers", request_body = NewCustomer,
    responses(
        (status = 201, body = Customer),
        (status = 400, body = ErrorBody),
        (status = 409, description = "A number belongs to another customer", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ApiState>,
    Input(req): Input<NewCustomer>,
) -> Result<(StatusCode, Json<Customer>), AppError> {
    let customer = state.store.create_customer(&req, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(customer)))
}

/// A customer with their numbers and products.
#[utoipa::path(get, path = "/api/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "Customer id")),
    responses((status = 200, body = Customer), (status = 404, body = ErrorBody)))]
pub async fn detail(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
) -> Result<Json<Customer>, AppError> {
    state
        .store
        .customer(id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound("customer"))
}

/// Edits a customer if still at the version read; `phones`, when given,
/// replaces the whole set.
#[utoipa::path(patch, path = "/api/customers/{id}", tag = "customers", request_body = EditCustomer,
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 200, body = Customer),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Changed since read, or a number is another customer's", body = ErrorBody),
    ))]
pub async fn edit(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
    Input(req): Input<EditCustomer>,
) -> Result<Json<Customer>, AppError> {
    Ok(Json(
        state
            .store
            .update_customer(id, req.version, &req.changes)
            .await?,
    ))
}

/// Registers a product for a customer.
#[utoipa::path(post, path = "/api/customers/{id}/products", tag = "customers",
    request_body = NewProduct,
    params(("id" = i64, Path, description = "Customer id")),
    responses(
        (status = 201, body = Product),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The serial is registered already", body = ErrorBody),
    ))]
pub async fn add_product(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
    Input(req): Input<NewProduct>,
) -> Result<(StatusCode, Json<Product>), AppError> {
    let product = state.store.add_product(id, &req).await?;
    Ok((StatusCode::CREATED, Json(product)))
}

/// The customer's history, newest first: calls from their numbers (with
/// what they pressed), tickets opened, each later stage, follow-up scores.
#[utoipa::path(get, path = "/api/customers/{id}/timeline", tag = "customers",
    params(("id" = i64, Path, description = "Customer id"), TimelineQuery),
    responses(
        (status = 200, body = Timeline),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn timeline(
    State(state): State<ApiState>,
    Path(id): Path<i64>,
    Query(q): Query<TimelineQuery>,
) -> Result<Json<Timeline>, AppError> {
    let mut errors = Vec::new();
    let limit = int_param(&mut errors, "limit", q.limit.as_deref(), 100, 1..=500);
    check(errors)?;
    Ok(Json(Timeline {
        entries: state.store.customer_timeline(id, limit).await?,
    }))
}
