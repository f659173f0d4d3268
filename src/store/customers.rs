//! Customers with their phones and products: creating, reading, editing
//! and listing them, their timeline, and the CSV import's writes.
//!
//! Owns the input types ([`NewCustomer`], [`CustomerPatch`], [`NewProduct`])
//! and their pure checks (`validate_*`, returning every [`FieldError`]), the
//! read types ([`Customer`], [`Product`], [`CustomerPage`],
//! [`TimelineEntry`]) and the SQL over `customers`, `customer_phones` and
//! `products`.
//!
//! Invariants and choices:
//! - Nothing is written that its check refuses ([`StoreError::Invalid`]).
//!   Names, regions, addresses, models and serials are stored trimmed;
//!   phones normalised ([`crate::phone::normalise`]), so lookups compare
//!   them as text. An empty date string means "not known" (NULL).
//! - A number belongs to one customer. Taking a number another customer
//!   has is refused with [`StoreError::PhoneTaken`], found by query inside
//!   the transaction; a concurrent writer that wins the race is caught by
//!   the primary key and reported the same way.
//! - A product's serial is unique within its model when known
//!   ([`StoreError::SerialTaken`], also from the unique index).
//! - Every write is one transaction (on SQLite `BEGIN IMMEDIATE`, so a
//!   read-then-write transaction takes the write lock first and never fails
//!   to upgrade it): all of it or none.
//! - Edits are optimistic: [`Store::update_customer`] names the version it
//!   read; each successful edit adds one. A missing customer and a stale
//!   version are told apart ([`StoreError::NotFound`],
//!   [`StoreError::VersionConflict`]).
//! - The CSV import writes each row in its own transaction, so one bad row
//!   does not undo the others, and a row is reported, not written, when its
//!   phone or serial is already there: importing a file twice adds nothing
//!   the second time.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::error::ErrorKind;
use sqlx::{AnyConnection, AssertSqlSafe, FromRow, Row};

use super::{Store, StoreError, placeholders};
use crate::import::{Line, ProductRow, RowError};
use crate::phone;
use crate::ticket::{TicketKind, TicketStage};
use crate::validate::{FieldError, check_chars, parse_date};

/// Most phones a customer has.
pub const MAX_PHONES: usize = 5;
/// Customers per page when [`CustomerFilter::limit`] is not given.
pub const DEFAULT_PAGE: i64 = 50;
/// Most customers per page.
pub const MAX_PAGE: i64 = 200;

/// A customer to create. `phones` in any form [`phone::normalise`] reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewCustomer {
    /// 1 to 60 characters.
    pub name: String,
    /// Province, city, district (and town), e.g. `浙江省杭州市西湖区`; at
    /// most 60 characters.
    #[serde(default)]
    pub region: String,
    /// At most 200 characters.
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub vip: bool,
    /// 1 to [`MAX_PHONES`] distinct numbers.
    pub phones: Vec<String>,
}

/// Changes to a customer; `None` leaves a field as it is. `phones`, when
/// given, replaces the whole set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub region: Option<String>,
    pub address: Option<String>,
    pub vip: Option<bool>,
    pub phones: Option<Vec<String>>,
}

/// A customer with their phones and products.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub region: String,
    pub address: String,
    pub vip: bool,
    /// Normalised, ascending.
    pub phones: Vec<String>,
    /// Oldest first (by id).
    pub products: Vec<Product>,
    /// The optimistic version: 0 when created, one more per edit.
    pub version: i64,
    /// Epoch ms.
    pub created_at: i64,
}

/// A product to register for a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewProduct {
    /// 1 to 40 characters, e.g. `LED65-E7 65英寸液晶电视`.
    pub model: String,
    /// At most 60 characters; empty when not known.
    #[serde(default)]
    pub serial: String,
    /// `YYYY-MM-DD`; `None` (or empty) when not known.
    #[serde(default)]
    pub purchase_date: Option<String>,
    /// The last day covered, `YYYY-MM-DD`, not before `purchase_date`.
    #[serde(default)]
    pub warranty_end: Option<String>,
}

/// A customer's product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Product {
    pub id: i64,
    pub customer_id: i64,
    pub model: String,
    /// Empty when not known.
    pub serial: String,
    /// `YYYY-MM-DD`.
    pub purchase_date: Option<String>,
    /// `YYYY-MM-DD`, the last day covered.
    pub warranty_end: Option<String>,
}

/// Which customers [`Store::list_customers`] returns. Every given
/// condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerFilter {
    /// Part of the name (any position, ASCII case ignored), or part of a
    /// phone number: digits, or a whole number in any form
    /// [`phone::normalise`] reads (`+86 138 0013 8000`).
    pub q: Option<String>,
    /// The start of the region, e.g. `浙江省杭州市`.
    pub region: Option<String>,
    pub vip: Option<bool>,
    /// Default [`DEFAULT_PAGE`], at most [`MAX_PAGE`].
    pub limit: Option<i64>,
    /// Default 0.
    pub offset: Option<i64>,
}

/// One page of customers and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerPage {
    /// Newest first (by `created_at`, then id).
    pub customers: Vec<Customer>,
    /// Matching customers on all pages.
    pub total: i64,
}

/// One thing that happened to a customer, for their timeline: serialises
/// with a `kind` of `call`, `ticket`, `stage` or `follow_up`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineEntry {
    /// A call from one of the customer's numbers; `at` is its arrival.
    Call {
        at: i64,
        call_id: String,
        /// The caller's number, normalised.
        phone: String,
        service_number: String,
        answered_at: Option<i64>,
        ended_at: Option<i64>,
        hangup_cause: Option<String>,
        /// The keys pressed in the IVR.
        digits: String,
        /// `inbound`, or `outbound`: a campaign called the customer.
        direction: String,
        /// An outbound call's campaign and what the attempt came to.
        campaign: Option<String>,
        outcome: Option<String>,
    },
    /// A ticket was opened (accepted); `stage` is where it stands now.
    Ticket {
        at: i64,
        ticket_id: i64,
        number: String,
        ticket_kind: TicketKind,
        category: String,
        description: String,
        product_model: Option<String>,
        stage: TicketStage,
    },
    /// A ticket moved to `stage` (any stage after acceptance but
    /// `followed_up`, which is a [`TimelineEntry::FollowUp`]).
    Stage {
        at: i64,
        ticket_id: i64,
        number: String,
        stage: TicketStage,
        /// The outlet the stamp names (dispatches, work done).
        outlet_code: Option<String>,
        outlet_name: Option<String>,
        /// Who moved it; `None`: the system.
        by: Option<String>,
        reason: Option<String>,
    },
    /// The customer was called back about a ticket and gave a score.
    FollowUp {
        at: i64,
        ticket_id: i64,
        number: String,
        /// Satisfaction, 1 to 5.
        score: Option<i64>,
        by: Option<String>,
        reason: Option<String>,
    },
}

impl TimelineEntry {
    /// Epoch ms.
    pub fn at(&self) -> i64 {
        match self {
            TimelineEntry::Call { at, .. }
            | TimelineEntry::Ticket { at, .. }
            | TimelineEntry::Stage { at, .. }
            | TimelineEntry::FollowUp { at, .. } => *at,
        }
    }

    /// The serialised `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            TimelineEntry::Call { .. } => "call",
            TimelineEntry::Ticket { .. } => "ticket",
            TimelineEntry::Stage { .. } => "stage",
            TimelineEntry::FollowUp { .. } => "follow_up",
        }
    }

    /// At the same instant, what follows from what comes first when newest
    /// is first: a stage after the ticket, the ticket after the call.
    fn rank(&self) -> u8 {
        match self {
            TimelineEntry::Call { .. } => 0,
            TimelineEntry::Ticket { .. } => 1,
            TimelineEntry::Stage { .. } | TimelineEntry::FollowUp { .. } => 2,
        }
    }
}

/// What an import wrote and what it refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Rows written.
    pub imported: usize,
    /// Rows refused, in line order, each with why.
    pub errors: Vec<RowError>,
}

// ------------------------------------------------------------- validation

/// A [`NewCustomer`] as it is stored: trimmed, phones normalised.
struct CleanCustomer {
    name: String,
    region: String,
    address: String,
    vip: bool,
    phones: Vec<String>,
}

/// A [`NewProduct`] as it is stored.
struct CleanProduct {
    model: String,
    serial: String,
    purchase_date: Option<String>,
    warranty_end: Option<String>,
}

/// Every problem with `c` (empty when it may be created).
pub fn validate_new_customer(c: &NewCustomer) -> Vec<FieldError> {
    clean_customer(c).err().unwrap_or_default()
}

/// Every problem with `p` (empty when it may be applied; an empty patch
/// may).
pub fn validate_customer_patch(p: &CustomerPatch) -> Vec<FieldError> {
    clean_patch(p).err().unwrap_or_default()
}

/// Every problem with `p` (empty when it may be added).
pub fn validate_new_product(p: &NewProduct) -> Vec<FieldError> {
    clean_product(p).err().unwrap_or_default()
}

fn check_name(errors: &mut Vec<FieldError>, name: &str) {
    check_chars(errors, "name", name.trim(), 1, 60);
}

fn check_region(errors: &mut Vec<FieldError>, region: &str) {
    check_chars(errors, "region", region.trim(), 0, 60);
}

fn check_address(errors: &mut Vec<FieldError>, address: &str) {
    check_chars(errors, "address", address.trim(), 0, 200);
}

/// The numbers normalised, in the given order, or what is wrong with them
/// (by index: `phones[1]`).
fn clean_phones(errors: &mut Vec<FieldError>, raw: &[String]) -> Vec<String> {
    if raw.is_empty() {
        errors.push(FieldError::new("phones", "at least one phone is required"));
    } else if raw.len() > MAX_PHONES {
        errors.push(FieldError::new(
            "phones",
            format!("at most {MAX_PHONES} phones, not {}", raw.len()),
        ));
    }
    let mut phones: Vec<String> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let field = format!("phones[{i}]");
        match phone::normalise(r) {
            None => errors.push(FieldError::new(
                field,
                format!("`{}` is not a phone number", r.trim()),
            )),
            Some(p) => {
                // Two forms of one number would be one row in the table.
                if let Some(j) = raw[..i]
                    .iter()
                    .position(|earlier| phone::normalise(earlier).as_ref() == Some(&p))
                {
                    errors.push(FieldError::new(
                        field,
                        format!("{p} is the same number as phones[{j}]"),
                    ));
                } else {
                    phones.push(p);
                }
            }
        }
    }
    phones
}

fn clean_customer(c: &NewCustomer) -> Result<CleanCustomer, Vec<FieldError>> {
    let mut errors = Vec::new();
    check_name(&mut errors, &c.name);
    check_region(&mut errors, &c.region);
    check_address(&mut errors, &c.address);
    let phones = clean_phones(&mut errors, &c.phones);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(CleanCustomer {
        name: c.name.trim().to_owned(),
        region: c.region.trim().to_owned(),
        address: c.address.trim().to_owned(),
        vip: c.vip,
        phones,
    })
}

fn clean_patch(p: &CustomerPatch) -> Result<CustomerPatch, Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Some(name) = &p.name {
        check_name(&mut errors, name);
    }
    if let Some(region) = &p.region {
        check_region(&mut errors, region);
    }
    if let Some(address) = &p.address {
        check_address(&mut errors, address);
    }
    let phones = p
        .phones
        .as_deref()
        .map(|raw| clean_phones(&mut errors, raw));
    if !errors.is_empty() {
        return Err(errors);
    }
    let trim = |s: &Option<String>| s.as_deref().map(|s| s.trim().to_owned());
    Ok(CustomerPatch {
        name: trim(&p.name),
        region: trim(&p.region),
        address: trim(&p.address),
        vip: p.vip,
        phones,
    })
}

fn clean_product(p: &NewProduct) -> Result<CleanProduct, Vec<FieldError>> {
    let mut errors = Vec::new();
    check_chars(&mut errors, "model", p.model.trim(), 1, 40);
    check_chars(&mut errors, "serial", p.serial.trim(), 0, 60);
    let mut date = |field: &str, value: &Option<String>| {
        let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        let parsed = parse_date(value);
        if parsed.is_none() {
            errors.push(FieldError::new(
                field,
                format!("`{value}` is not a date written YYYY-MM-DD"),
            ));
        }
        parsed
    };
    let purchase = date("purchase_date", &p.purchase_date);
    let warranty_end = date("warranty_end", &p.warranty_end);
    if let (Some(bought), Some(end)) = (purchase, warranty_end)
        && end < bought
    {
        errors.push(FieldError::new(
            "warranty_end",
            format!("{end} is before the purchase date {bought}"),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(CleanProduct {
        model: p.model.trim().to_owned(),
        serial: p.serial.trim().to_owned(),
        purchase_date: purchase.map(|d| d.to_string()),
        warranty_end: warranty_end.map(|d| d.to_string()),
    })
}

// ------------------------------------------------------------------ rows

/// A `customers` row, before its phones and products are attached.
struct CustomerHead {
    id: i64,
    name: String,
    region: String,
    address: String,
    vip: i64,
    version: i64,
    created_at: i64,
}

impl FromRow<'_, AnyRow> for CustomerHead {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(CustomerHead {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            region: row.try_get("region")?,
            address: row.try_get("address")?,
            vip: row.try_get("vip")?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

impl CustomerHead {
    fn into_customer(self, phones: Vec<String>, products: Vec<Product>) -> Customer {
        Customer {
            id: self.id,
            name: self.name,
            region: self.region,
            address: self.address,
            vip: self.vip != 0,
            phones,
            products,
            version: self.version,
            created_at: self.created_at,
        }
    }
}

impl FromRow<'_, AnyRow> for Product {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Product {
            id: row.try_get("id")?,
            customer_id: row.try_get("customer_id")?,
            model: row.try_get("model")?,
            serial: row.try_get("serial")?,
            purchase_date: row.try_get("purchase_date")?,
            warranty_end: row.try_get("warranty_end")?,
        })
    }
}

/// The `WHERE` of [`Store::list_customers`] and its count: `$1` the name
/// pattern, `$2` the phone pattern, `$3` the region pattern, `$4` vip; a
/// NULL parameter drops its condition. One static text rather than SQL
/// built per filter; the table is small enough for the scan.
macro_rules! customer_filter {
    () => {
        " WHERE ($1 IS NULL \
              OR LOWER(c.name) LIKE $1 ESCAPE '\\' \
              OR EXISTS (SELECT 1 FROM customer_phones cp \
                         WHERE cp.customer_id = c.id AND cp.phone LIKE $2 ESCAPE '\\')) \
           AND ($3 IS NULL OR c.region LIKE $3 ESCAPE '\\') \
           AND ($4 IS NULL OR c.vip = $4)"
    };
}

/// `s` with the LIKE wildcards escaped (escape character `\`).
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The digits a search text may be part of a number by: the whole number
/// normalised, or else the digits typed (spaces, dashes and parentheses
/// dropped), if that is all there is.
fn phone_digits(q: &str) -> Option<String> {
    if let Some(n) = phone::normalise(q) {
        return Some(n);
    }
    let digits: String = q
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation)
}

/// Who owns `phone` now, if anyone.
async fn phone_owner(conn: &mut AnyConnection, phone: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT customer_id FROM customer_phones WHERE phone = $1")
        .bind(phone)
        .fetch_optional(conn)
        .await
}

/// [`StoreError::PhoneTaken`] for the first of `phones` a customer other
/// than `me` has.
async fn check_phones_free(
    conn: &mut AnyConnection,
    phones: &[String],
    me: Option<i64>,
) -> Result<(), StoreError> {
    for phone in phones {
        if let Some(owner) = phone_owner(conn, phone)
            .await
            .map_err(StoreError::from_sqlx)?
            && Some(owner) != me
        {
            return Err(StoreError::PhoneTaken {
                phone: phone.clone(),
                customer_id: owner,
            });
        }
    }
    Ok(())
}

/// Inserts `phones` for `customer_id`. A primary key violation means a
/// concurrent transaction took the number after our check: it is returned
/// as the number, to be reported once this transaction is rolled back
/// (PostgreSQL answers nothing more inside a failed transaction).
async fn insert_phones(
    conn: &mut AnyConnection,
    customer_id: i64,
    phones: &[String],
) -> Result<Result<(), String>, StoreError> {
    for phone in phones {
        let result =
            sqlx::query("INSERT INTO customer_phones (phone, customer_id) VALUES ($1, $2)")
                .bind(phone)
                .bind(customer_id)
                .execute(&mut *conn)
                .await;
        match result {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(Err(phone.clone())),
            Err(e) => return Err(StoreError::from_sqlx(e)),
        }
    }
    Ok(Ok(()))
}

/// One customer with phones and products, read on `conn`.
async fn load_customer(conn: &mut AnyConnection, id: i64) -> Result<Option<Customer>, sqlx::Error> {
    let head = sqlx::query_as::<_, CustomerHead>(
        "SELECT c.id, c.name, c.region, c.address, c.vip, c.version, c.created_at \
         FROM customers c WHERE c.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(head) = head else {
        return Ok(None);
    };
    let phones = sqlx::query_scalar::<_, String>(
        "SELECT phone FROM customer_phones WHERE customer_id = $1 ORDER BY phone",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let products = sqlx::query_as::<_, Product>(
        "SELECT id, customer_id, model, serial, purchase_date, warranty_end \
         FROM products WHERE customer_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(head.into_customer(phones, products)))
}

impl Store {
    /// [`StoreError::PhoneTaken`] for a number a concurrent transaction
    /// took, looked up after ours was rolled back; if its owner is gone
    /// again, the original violation as a database error.
    async fn phone_race(&self, phone: String) -> StoreError {
        let mut conn = match self.pool.acquire().await {
            Ok(conn) => conn,
            Err(e) => return StoreError::from_sqlx(e),
        };
        match phone_owner(&mut conn, &phone).await {
            Ok(Some(customer_id)) => StoreError::PhoneTaken { phone, customer_id },
            Ok(None) => StoreError::Database(sqlx::Error::Protocol(format!(
                "phone {phone} was taken and released by a concurrent writer"
            ))),
            Err(e) => StoreError::from_sqlx(e),
        }
    }

    /// Creates a customer with their phones, at `now_ms`. Refused, writing
    /// nothing, when invalid ([`StoreError::Invalid`]) or when one of the
    /// numbers belongs to another customer ([`StoreError::PhoneTaken`]).
    pub async fn create_customer(
        &self,
        new: &NewCustomer,
        now_ms: i64,
    ) -> Result<Customer, StoreError> {
        let c = clean_customer(new).map_err(StoreError::Invalid)?;
        let mut tx = self.begin_write().await?;
        check_phones_free(&mut tx, &c.phones, None).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO customers (name, region, address, vip, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&c.name)
        .bind(&c.region)
        .bind(&c.address)
        .bind(i64::from(c.vip))
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        if let Err(phone) = insert_phones(&mut tx, id, &c.phones).await? {
            drop(tx.rollback().await);
            return Err(self.phone_race(phone).await);
        }
        let customer = load_customer(&mut tx, id)
            .await
            .map_err(StoreError::from_sqlx)?
            .ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(customer)
    }

    /// The customer `id` with phones and products; `None` if there is none.
    pub async fn customer(&self, id: i64) -> Result<Option<Customer>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::from_sqlx)?;
        load_customer(&mut conn, id)
            .await
            .map_err(StoreError::from_sqlx)
    }

    /// Applies `patch` to customer `id` if it is still at
    /// `expected_version`, and returns it at its new version. Refused,
    /// writing nothing: [`StoreError::Invalid`], [`StoreError::NotFound`]
    /// (`"customer"`), [`StoreError::VersionConflict`] (with the version it
    /// is at), [`StoreError::PhoneTaken`] (when a new number is another
    /// customer's).
    pub async fn update_customer(
        &self,
        id: i64,
        expected_version: i64,
        patch: &CustomerPatch,
    ) -> Result<Customer, StoreError> {
        let p = clean_patch(patch).map_err(StoreError::Invalid)?;
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE customers SET \
             name = COALESCE($3, name), region = COALESCE($4, region), \
             address = COALESCE($5, address), vip = COALESCE($6, vip), \
             version = version + 1 \
             WHERE id = $1 AND version = $2",
        )
        .bind(id)
        .bind(expected_version)
        .bind(&p.name)
        .bind(&p.region)
        .bind(&p.address)
        .bind(p.vip.map(i64::from))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
        if updated.rows_affected() == 0 {
            let current: Option<i64> =
                sqlx::query_scalar("SELECT version FROM customers WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
            return Err(match current {
                None => StoreError::NotFound("customer"),
                Some(current) => StoreError::VersionConflict { current },
            });
        }
        if let Some(phones) = &p.phones {
            check_phones_free(&mut tx, phones, Some(id)).await?;
            sqlx::query("DELETE FROM customer_phones WHERE customer_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
            if let Err(phone) = insert_phones(&mut tx, id, phones).await? {
                drop(tx.rollback().await);
                return Err(self.phone_race(phone).await);
            }
        }
        let customer = load_customer(&mut tx, id)
            .await
            .map_err(StoreError::from_sqlx)?
            .ok_or(StoreError::NotFound("customer"))?;
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(customer)
    }

    /// The customers matching `filter`, newest first (`created_at`, then
    /// id, descending), one page of them, and how many match in all.
    pub async fn list_customers(
        &self,
        filter: &CustomerFilter,
    ) -> Result<CustomerPage, StoreError> {
        let q = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
        let name_like = q.map(|q| format!("%{}%", like_escape(&q.to_lowercase())));
        let phone_like = q
            .and_then(phone_digits)
            .map(|d| format!("%{}%", like_escape(&d)));
        let region_like = filter
            .region
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| format!("{}%", like_escape(r)));
        let vip = filter.vip.map(i64::from);
        let limit = filter.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let offset = filter.offset.unwrap_or(0).max(0);

        let mut conn = self.pool.acquire().await.map_err(StoreError::from_sqlx)?;
        let total: i64 = sqlx::query_scalar(concat!(
            "SELECT COUNT(*) FROM customers c",
            customer_filter!()
        ))
        .bind(&name_like)
        .bind(&phone_like)
        .bind(&region_like)
        .bind(vip)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?;
        let heads = sqlx::query_as::<_, CustomerHead>(concat!(
            "SELECT c.id, c.name, c.region, c.address, c.vip, c.version, c.created_at \
             FROM customers c",
            customer_filter!(),
            " ORDER BY c.created_at DESC, c.id DESC LIMIT $5 OFFSET $6"
        ))
        .bind(&name_like)
        .bind(&phone_like)
        .bind(&region_like)
        .bind(vip)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?;
        if heads.is_empty() {
            return Ok(CustomerPage {
                customers: Vec::new(),
                total,
            });
        }

        // The page's phones and products in two queries. Only placeholders
        // are spliced into the SQL; the ids are bound.
        let ids = placeholders(1, heads.len());
        let mut phones: HashMap<i64, Vec<String>> = HashMap::new();
        let sql = format!(
            "SELECT customer_id, phone FROM customer_phones \
             WHERE customer_id IN ({ids}) ORDER BY phone"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for h in &heads {
            query = query.bind(h.id);
        }
        for row in query
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::from_sqlx)?
        {
            let customer_id: i64 = row.try_get("customer_id").map_err(StoreError::from_sqlx)?;
            let phone: String = row.try_get("phone").map_err(StoreError::from_sqlx)?;
            phones.entry(customer_id).or_default().push(phone);
        }
        let mut products: HashMap<i64, Vec<Product>> = HashMap::new();
        let sql = format!(
            "SELECT id, customer_id, model, serial, purchase_date, warranty_end \
             FROM products WHERE customer_id IN ({ids}) ORDER BY id"
        );
        let mut query = sqlx::query_as::<_, Product>(AssertSqlSafe(sql));
        for h in &heads {
            query = query.bind(h.id);
        }
        for p in query
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::from_sqlx)?
        {
            products.entry(p.customer_id).or_default().push(p);
        }
        let customers = heads
            .into_iter()
            .map(|h| {
                let id = h.id;
                h.into_customer(
                    phones.remove(&id).unwrap_or_default(),
                    products.remove(&id).unwrap_or_default(),
                )
            })
            .collect();
        Ok(CustomerPage { customers, total })
    }

    /// Registers a product for customer `customer_id`. Refused, writing
    /// nothing: [`StoreError::Invalid`], [`StoreError::NotFound`]
    /// (`"customer"`), [`StoreError::SerialTaken`] (the model's serial is
    /// registered already, to whichever customer).
    pub async fn add_product(
        &self,
        customer_id: i64,
        new: &NewProduct,
    ) -> Result<Product, StoreError> {
        let p = clean_product(new).map_err(StoreError::Invalid)?;
        let mut tx = self.begin_write().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM customers WHERE id = $1")
            .bind(customer_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        if exists.is_none() {
            return Err(StoreError::NotFound("customer"));
        }
        if !p.serial.is_empty() {
            serial_free(&mut tx, &p.model, &p.serial).await?;
        }
        let result = sqlx::query_as::<_, Product>(
            "INSERT INTO products (customer_id, model, serial, purchase_date, warranty_end) \
             VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, customer_id, model, serial, purchase_date, warranty_end",
        )
        .bind(customer_id)
        .bind(&p.model)
        .bind(&p.serial)
        .bind(&p.purchase_date)
        .bind(&p.warranty_end)
        .fetch_one(&mut *tx)
        .await;
        let product = match result {
            Ok(product) => product,
            Err(e) if is_unique_violation(&e) => {
                // A concurrent insert of the same serial won the race.
                drop(tx.rollback().await);
                let mut conn = self.pool.acquire().await.map_err(StoreError::from_sqlx)?;
                serial_free(&mut conn, &p.model, &p.serial).await?;
                return Err(StoreError::from_sqlx(e));
            }
            Err(e) => return Err(StoreError::from_sqlx(e)),
        };
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        Ok(product)
    }

    /// What happened to customer `customer_id`, newest first, at most
    /// `limit` entries: calls from the numbers they have now, their tickets
    /// (opened), each later stage of those tickets, and follow-ups with
    /// their scores. At one instant a stage comes before its ticket and a
    /// ticket before the call (newest first). [`StoreError::NotFound`]
    /// (`"customer"`) if there is no such customer; a `limit` below 1 gives
    /// an empty list.
    pub async fn customer_timeline(
        &self,
        customer_id: i64,
        limit: i64,
    ) -> Result<Vec<TimelineEntry>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::from_sqlx)?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM customers WHERE id = $1")
            .bind(customer_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::from_sqlx)?;
        if exists.is_none() {
            return Err(StoreError::NotFound("customer"));
        }
        if limit < 1 {
            return Ok(Vec::new());
        }
        // The newest `limit` of each source hold the newest `limit` of all.
        let calls = sqlx::query(
            "SELECT c.id, c.caller, c.service_number, c.arrived_at, c.answered_at, \
             c.ended_at, c.hangup_cause, c.digits, c.direction, c.campaign, c.outcome \
             FROM calls c JOIN customer_phones cp ON cp.phone = c.caller \
             WHERE cp.customer_id = $1 \
             ORDER BY c.arrived_at DESC, c.id DESC LIMIT $2",
        )
        .bind(customer_id)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?;
        let tickets = sqlx::query(
            "SELECT t.id, t.number, t.kind, t.category, t.description, t.stage, \
             t.created_at, p.model AS product_model \
             FROM tickets t LEFT JOIN products p ON p.id = t.product_id \
             WHERE t.customer_id = $1 \
             ORDER BY t.created_at DESC, t.id DESC LIMIT $2",
        )
        .bind(customer_id)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?;
        // Stamp 0 is the acceptance, which the ticket entry stands for.
        let stamps = sqlx::query(
            "SELECT s.ticket_id, t.number, s.seq, s.stage, s.at, s.score, s.reason, \
             o.code AS outlet_code, o.name AS outlet_name, u.display_name AS by_name \
             FROM ticket_stamps s JOIN tickets t ON t.id = s.ticket_id \
             LEFT JOIN outlets o ON o.id = s.outlet_id \
             LEFT JOIN users u ON u.id = s.user_id \
             WHERE t.customer_id = $1 AND s.seq > 0 \
             ORDER BY s.at DESC, s.ticket_id DESC, s.seq DESC LIMIT $2",
        )
        .bind(customer_id)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::from_sqlx)?;

        let mut entries = Vec::with_capacity(calls.len() + tickets.len() + stamps.len());
        for row in &calls {
            entries.push(call_entry(row).map_err(StoreError::from_sqlx)?);
        }
        for row in &tickets {
            entries.push(ticket_entry(row).map_err(StoreError::from_sqlx)?);
        }
        for row in &stamps {
            entries.push(stamp_entry(row).map_err(StoreError::from_sqlx)?);
        }
        // Stable: within a source the query's newest-first order stays.
        entries.sort_by_key(|e| std::cmp::Reverse((e.at(), e.rank())));
        entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(entries)
    }

    /// Writes the customers of a parsed CSV file, each row in its own
    /// transaction, created at `now_ms`. A row refused by its checks, or
    /// whose number belongs to a customer already (one created by an
    /// earlier row included), is reported by its line and not written;
    /// the others are. Stops with the error if the database fails (the
    /// rows before stay written; importing the file again skips them).
    pub async fn import_customers(
        &self,
        rows: &[Line<NewCustomer>],
        now_ms: i64,
    ) -> Result<ImportReport, StoreError> {
        let mut report = ImportReport::default();
        for row in rows {
            match self.create_customer(&row.value, now_ms).await {
                Ok(_) => report.imported += 1,
                Err(e) => report.errors.push(RowError {
                    line: row.line,
                    message: row_message(e)?,
                }),
            }
        }
        Ok(report)
    }

    /// Writes the products of a parsed CSV file, each row in its own
    /// transaction, for the customer who has the row's phone. Reported and
    /// not written: no customer has the phone; the model's serial is
    /// registered already; the row has no serial and that customer already
    /// has the model without one, bought the same day (a product without a
    /// serial is recognised only that way, so importing a file twice adds
    /// nothing the second time). Stops with the error if the database
    /// fails.
    pub async fn import_products(
        &self,
        rows: &[Line<ProductRow>],
    ) -> Result<ImportReport, StoreError> {
        let mut report = ImportReport::default();
        for row in rows {
            let refused = match self.import_product(&row.value).await {
                Ok(refused) => refused,
                Err(e) => Some(row_message(e)?),
            };
            match refused {
                None => report.imported += 1,
                Some(message) => report.errors.push(RowError {
                    line: row.line,
                    message,
                }),
            }
        }
        Ok(report)
    }

    /// One product row: `Some(why)` when it is refused before
    /// [`Store::add_product`] is asked.
    async fn import_product(&self, row: &ProductRow) -> Result<Option<String>, StoreError> {
        let p = clean_product(&row.product).map_err(StoreError::Invalid)?;
        let mut conn = self.pool.acquire().await.map_err(StoreError::from_sqlx)?;
        let Some(customer_id) = phone_owner(&mut conn, &row.phone)
            .await
            .map_err(StoreError::from_sqlx)?
        else {
            return Ok(Some(format!(
                "unknown customer: no customer has phone {}",
                row.phone
            )));
        };
        if p.serial.is_empty() {
            let same: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM products WHERE customer_id = $1 AND model = $2 \
                 AND serial = '' \
                 AND (purchase_date = $3 OR (purchase_date IS NULL AND $3 IS NULL)) \
                 LIMIT 1",
            )
            .bind(customer_id)
            .bind(&p.model)
            .bind(&p.purchase_date)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::from_sqlx)?;
            if let Some(product_id) = same {
                return Ok(Some(format!(
                    "duplicate product: customer #{customer_id} already has {} without a \
                     serial bought the same day (product #{product_id})",
                    p.model
                )));
            }
        }
        drop(conn);
        self.add_product(customer_id, &row.product).await?;
        Ok(None)
    }
}

/// [`StoreError::SerialTaken`] if `serial` of `model` is registered.
async fn serial_free(
    conn: &mut AnyConnection,
    model: &str,
    serial: &str,
) -> Result<(), StoreError> {
    let taken = sqlx::query(
        "SELECT id, customer_id FROM products WHERE model = $1 AND serial = $2 AND serial <> ''",
    )
    .bind(model)
    .bind(serial)
    .fetch_optional(conn)
    .await
    .map_err(StoreError::from_sqlx)?;
    if let Some(row) = taken {
        let product_id: i64 = row.try_get("id").map_err(StoreError::from_sqlx)?;
        let customer_id: i64 = row.try_get("customer_id").map_err(StoreError::from_sqlx)?;
        return Err(StoreError::SerialTaken {
            model: model.to_owned(),
            serial: serial.to_owned(),
            product_id,
            customer_id,
        });
    }
    Ok(())
}

/// Why an import row was refused, for the report; `Err` for a failure of
/// the database itself, which stops the import.
fn row_message(e: StoreError) -> Result<String, StoreError> {
    Ok(match e {
        StoreError::Invalid(errors) => crate::validate::join(&errors),
        StoreError::PhoneTaken { phone, customer_id } => {
            format!("phone {phone} already belongs to customer #{customer_id}")
        }
        StoreError::SerialTaken {
            model,
            serial,
            customer_id,
            ..
        } => format!(
            "duplicate serial: {serial} of {model} is already registered \
             (customer #{customer_id})"
        ),
        StoreError::NotFound(what) => format!("no {what}"),
        other => return Err(other),
    })
}

fn call_entry(row: &AnyRow) -> Result<TimelineEntry, sqlx::Error> {
    Ok(TimelineEntry::Call {
        at: row.try_get("arrived_at")?,
        call_id: row.try_get("id")?,
        phone: row.try_get("caller")?,
        service_number: row.try_get("service_number")?,
        answered_at: row.try_get("answered_at")?,
        ended_at: row.try_get("ended_at")?,
        hangup_cause: row.try_get("hangup_cause")?,
        digits: row.try_get("digits")?,
        direction: row.try_get("direction")?,
        campaign: row.try_get("campaign")?,
        outcome: row.try_get("outcome")?,
    })
}

/// A stored name that is not one of the enum's, as a decode error.
fn bad_value(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown {column} {value:?}").into(),
    }
}

fn stage_of(row: &AnyRow) -> Result<TicketStage, sqlx::Error> {
    let stage: String = row.try_get("stage")?;
    TicketStage::parse(&stage).ok_or_else(|| bad_value("stage", &stage))
}

fn ticket_entry(row: &AnyRow) -> Result<TimelineEntry, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    Ok(TimelineEntry::Ticket {
        at: row.try_get("created_at")?,
        ticket_id: row.try_get("id")?,
        number: row.try_get("number")?,
        ticket_kind: TicketKind::parse(&kind).ok_or_else(|| bad_value("kind", &kind))?,
        category: row.try_get("category")?,
        description: row.try_get("description")?,
        product_model: row.try_get("product_model")?,
        stage: stage_of(row)?,
    })
}

fn stamp_entry(row: &AnyRow) -> Result<TimelineEntry, sqlx::Error> {
    let at = row.try_get("at")?;
    let ticket_id = row.try_get("ticket_id")?;
    let number = row.try_get("number")?;
    let by = row.try_get("by_name")?;
    let reason = row.try_get("reason")?;
    Ok(match stage_of(row)? {
        TicketStage::FollowedUp => TimelineEntry::FollowUp {
            at,
            ticket_id,
            number,
            score: row.try_get("score")?,
            by,
            reason,
        },
        stage => TimelineEntry::Stage {
            at,
            ticket_id,
            number,
            stage,
            outlet_code: row.try_get("outlet_code")?,
            outlet_name: row.try_get("outlet_name")?,
            by,
            reason,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::{
        CustomerPatch, NewCustomer, NewProduct, like_escape, phone_digits, validate_customer_patch,
        validate_new_customer, validate_new_product,
    };
    use crate::validate::FieldError;

    fn customer(name: &str, phones: &[&str]) -> NewCustomer {
        NewCustomer {
            name: name.to_owned(),
            region: "浙江省杭州市西湖区".to_owned(),
            address: String::new(),
            vip: false,
            phones: phones.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_good_customer_passes() {
        let c = customer(" 王建国 ", &["+86 138 0013 8000", "0571-86541234"]);
        assert_eq!(validate_new_customer(&c), []);
    }

    #[test]
    fn customer_errors_name_their_fields() {
        let mut c = customer("  ", &["13800138000", "12", "+86 138 0013 8000"]);
        c.region = "省".repeat(61);
        c.address = "路".repeat(201);
        let errors = validate_new_customer(&c);
        assert_eq!(
            fields(&errors),
            ["name", "region", "address", "phones[1]", "phones[2]"],
            "{errors:?}"
        );
        assert!(errors[3].message.contains("`12` is not a phone number"));
        assert!(errors[4].message.contains("same number as phones[0]"));

        let too_many = customer("x", &["13800000001"; 6]);
        assert_eq!(fields(&validate_new_customer(&too_many))[0], "phones");
        let none = customer(&"名".repeat(61), &[]);
        assert_eq!(fields(&validate_new_customer(&none)), ["name", "phones"]);
        // 60 characters is fine, however many bytes.
        assert_eq!(
            validate_new_customer(&customer(&"名".repeat(60), &["13800138000"])),
            []
        );
    }

    #[test]
    fn patch_checks_only_what_it_changes() {
        assert_eq!(validate_customer_patch(&CustomerPatch::default()), []);
        let patch = CustomerPatch {
            name: Some(String::new()),
            phones: Some(vec!["13800138000".into(), "sip:x".into()]),
            ..CustomerPatch::default()
        };
        assert_eq!(
            fields(&validate_customer_patch(&patch)),
            ["name", "phones[1]"]
        );
        let empty_phones = CustomerPatch {
            phones: Some(Vec::new()),
            ..CustomerPatch::default()
        };
        assert_eq!(fields(&validate_customer_patch(&empty_phones)), ["phones"]);
    }

    #[test]
    fn product_errors_name_their_fields() {
        let good = NewProduct {
            model: "LED65-E7 65英寸液晶电视".into(),
            serial: "E765K2410120318".into(),
            purchase_date: Some("2024-02-29".into()),
            warranty_end: Some("2027-02-28".into()),
        };
        assert_eq!(validate_new_product(&good), []);
        let unknown_dates = NewProduct {
            purchase_date: Some(String::new()),
            warranty_end: None,
            ..good.clone()
        };
        assert_eq!(validate_new_product(&unknown_dates), []);
        let bad = NewProduct {
            model: String::new(),
            serial: "S".repeat(61),
            purchase_date: Some("2025-02-29".into()),
            warranty_end: Some("2024/01/01".into()),
        };
        assert_eq!(
            fields(&validate_new_product(&bad)),
            ["model", "serial", "purchase_date", "warranty_end"]
        );
        let backwards = NewProduct {
            purchase_date: Some("2024-03-01".into()),
            warranty_end: Some("2024-02-29".into()),
            ..good
        };
        let errors = validate_new_product(&backwards);
        assert_eq!(fields(&errors), ["warranty_end"]);
        assert!(errors[0].message.contains("before the purchase date"));
    }

    #[test]
    fn search_text_to_patterns() {
        assert_eq!(like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
        assert_eq!(
            phone_digits("+86 138 0013 8000").as_deref(),
            Some("13800138000")
        );
        assert_eq!(phone_digits("8000").as_deref(), Some("8000"));
        assert_eq!(phone_digits("0013").as_deref(), Some("0013"));
        assert_eq!(phone_digits("王"), None);
        assert_eq!(phone_digits("a1"), None);
    }
}
