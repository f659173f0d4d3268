//! Service outlets (服务网点): the shops that do the on-site work, their
//! tier, contact and the regions they serve, and which outlet suits a
//! customer's region.
//!
//! Areas are region prefixes (`浙江省杭州市` serves every district of
//! Hangzhou; `浙江省杭州市西湖区` only Xihu), kept comma-separated in
//! `outlets.areas`. Codes are unique and never reused for another shop.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};
use utoipa::ToSchema;

use super::{Store, StoreError, bad_value};
use crate::ticket::OutletTier;
use crate::validate::{FieldError, check_chars};

/// An outlet as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OutletRecord {
    pub id: i64,
    /// Short and stable, e.g. `HZ-XIHU`.
    pub code: String,
    pub name: String,
    pub tier: OutletTier,
    /// Normalised contact number.
    pub phone: String,
    /// Region prefixes it serves.
    pub areas: Vec<String>,
}

impl FromRow<'_, AnyRow> for OutletRecord {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let tier: String = row.try_get("tier")?;
        let areas: String = row.try_get("areas")?;
        Ok(OutletRecord {
            id: row.try_get("id")?,
            code: row.try_get("code")?,
            name: row.try_get("name")?,
            tier: OutletTier::parse(&tier).ok_or_else(|| bad_value("tier", &tier))?,
            phone: row.try_get("phone")?,
            areas: split_areas(&areas),
        })
    }
}

fn split_areas(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A new outlet, or all of an outlet's fields when editing it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutletInput {
    /// 2-20 of A-Z, 0-9 and `-`.
    pub code: String,
    pub name: String,
    pub tier: OutletTier,
    /// Any common format; stored normalised.
    pub phone: String,
    #[serde(default)]
    pub areas: Vec<String>,
}

impl OutletInput {
    /// Every problem, by field; trims the areas and normalises the phone,
    /// as they are stored.
    pub fn validate(&mut self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        for area in &mut self.areas {
            *area = area.trim().to_owned();
        }
        let code_ok = (2..=20).contains(&self.code.len())
            && self
                .code
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
        if !code_ok {
            errors.push(FieldError::new(
                "code",
                "must be 2 to 20 of A-Z, 0-9 and '-'",
            ));
        }
        check_chars(&mut errors, "name", &self.name, 1, 60);
        match crate::phone::normalise(&self.phone) {
            Some(p) => self.phone = p,
            None => errors.push(FieldError::new("phone", "is not a phone number")),
        }
        if self.areas.len() > 50 {
            errors.push(FieldError::new("areas", "at most 50 areas"));
        }
        for (i, area) in self.areas.iter().enumerate() {
            if area.contains(',') {
                errors.push(FieldError::new(
                    format!("areas[{i}]"),
                    "must not contain a comma",
                ));
            } else {
                check_chars(&mut errors, &format!("areas[{i}]"), area, 1, 60);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The outlets whose areas cover `region`, best first: the most specific
/// area (longest prefix) first, then city before county before town (a
/// bigger shop when two cover the same ground), then by code.
pub fn suggest<'a>(outlets: &'a [OutletRecord], region: &str) -> Vec<&'a OutletRecord> {
    let mut covering: Vec<(usize, &OutletRecord)> = outlets
        .iter()
        .filter_map(|o| {
            let best = o
                .areas
                .iter()
                .filter(|a| region.starts_with(a.as_str()))
                .map(|a| a.chars().count())
                .max()?;
            Some((best, o))
        })
        .collect();
    covering.sort_by(|(la, a), (lb, b)| {
        lb.cmp(la)
            .then(a.tier.cmp(&b.tier))
            .then(a.code.cmp(&b.code))
    });
    covering.into_iter().map(|(_, o)| o).collect()
}

macro_rules! outlet_columns {
    () => {
        "id, code, name, tier, phone, areas"
    };
}

impl Store {
    /// Every outlet, by code.
    pub async fn outlets(&self) -> Result<Vec<OutletRecord>, StoreError> {
        sqlx::query_as::<_, OutletRecord>(concat!(
            "SELECT ",
            outlet_columns!(),
            " FROM outlets ORDER BY code"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }

    pub async fn outlet(&self, id: i64) -> Result<Option<OutletRecord>, StoreError> {
        sqlx::query_as::<_, OutletRecord>(concat!(
            "SELECT ",
            outlet_columns!(),
            " FROM outlets WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }

    pub async fn outlet_by_code(&self, code: &str) -> Result<Option<OutletRecord>, StoreError> {
        sqlx::query_as::<_, OutletRecord>(concat!(
            "SELECT ",
            outlet_columns!(),
            " FROM outlets WHERE code = $1"
        ))
        .bind(code)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::from_sqlx)
    }

    /// Adds an outlet (validated input); a taken code is
    /// [`StoreError::Duplicate`].
    pub async fn create_outlet(&self, o: &OutletInput) -> Result<OutletRecord, StoreError> {
        sqlx::query_as::<_, OutletRecord>(concat!(
            "INSERT INTO outlets (code, name, tier, phone, areas) VALUES ($1, $2, $3, $4, $5) \
             RETURNING ",
            outlet_columns!()
        ))
        .bind(&o.code)
        .bind(&o.name)
        .bind(o.tier.as_str())
        .bind(&o.phone)
        .bind(o.areas.join(","))
        .fetch_one(self.pool())
        .await
        .map_err(|e| StoreError::from_sqlx_unique(e, "outlet code"))
    }

    /// Replaces an outlet's fields (validated input).
    pub async fn update_outlet(
        &self,
        id: i64,
        o: &OutletInput,
    ) -> Result<OutletRecord, StoreError> {
        sqlx::query_as::<_, OutletRecord>(concat!(
            "UPDATE outlets SET code = $2, name = $3, tier = $4, phone = $5, areas = $6 \
             WHERE id = $1 RETURNING ",
            outlet_columns!()
        ))
        .bind(id)
        .bind(&o.code)
        .bind(&o.name)
        .bind(o.tier.as_str())
        .bind(&o.phone)
        .bind(o.areas.join(","))
        .fetch_optional(self.pool())
        .await
        .map_err(|e| StoreError::from_sqlx_unique(e, "outlet code"))?
        .ok_or(StoreError::NotFound("outlet"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outlet(code: &str, tier: OutletTier, areas: &[&str]) -> OutletRecord {
        OutletRecord {
            id: 0,
            code: code.to_owned(),
            name: code.to_owned(),
            tier,
            phone: "057100000000".to_owned(),
            areas: areas.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn suggest_prefers_the_most_specific_area_then_the_bigger_tier() {
        let outlets = [
            outlet("HZ-CITY", OutletTier::City, &["浙江省杭州市"]),
            outlet("HZ-XIHU", OutletTier::County, &["浙江省杭州市西湖区"]),
            outlet("HZ-XIHU2", OutletTier::Town, &["浙江省杭州市西湖区"]),
            outlet("NJ", OutletTier::City, &["江苏省南京市"]),
        ];
        let codes = |region| {
            suggest(&outlets, region)
                .into_iter()
                .map(|o| o.code.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            codes("浙江省杭州市西湖区"),
            ["HZ-XIHU", "HZ-XIHU2", "HZ-CITY"]
        );
        assert_eq!(codes("浙江省杭州市拱墅区"), ["HZ-CITY"]);
        assert!(codes("上海市").is_empty());
        assert!(codes("").is_empty());
    }

    #[test]
    fn validation_names_each_field() {
        let mut input = OutletInput {
            code: "hz xihu".to_owned(),
            name: String::new(),
            tier: OutletTier::City,
            phone: "call me".to_owned(),
            areas: vec!["a,b".to_owned(), " ".to_owned()],
        };
        let errors = input.validate().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["code", "name", "phone", "areas[0]", "areas[1]"]);
    }
}
