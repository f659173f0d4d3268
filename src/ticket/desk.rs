//! [`ServiceDesk`]: the configured rules tickets are handled by: SLA
//! targets, which team owns which complaint, and the local calendar day
//! ticket numbers are dated by. Plain data, built from the configuration.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::SlaPolicy;

/// How tickets are handled here.
#[derive(Debug, Clone)]
pub struct ServiceDesk {
    pub sla: SlaPolicy,
    /// The hotline's time zone: ticket numbers carry its date.
    pub time_zone: TimeZone,
    /// Complaint category → owning team.
    pub complaint_teams: BTreeMap<String, String>,
    /// The team of a complaint whose category is not in the map.
    pub default_team: String,
}

impl Default for ServiceDesk {
    /// The default SLA policy, China time, and a small team map.
    fn default() -> Self {
        let teams = [
            ("服务态度", "service-quality"),
            ("维修质量", "repair-quality"),
            ("上门超时", "dispatch"),
            ("收费争议", "billing"),
            ("配件", "parts"),
        ];
        ServiceDesk {
            sla: SlaPolicy::default(),
            time_zone: TimeZone::get("Asia/Shanghai").unwrap_or(TimeZone::UTC),
            complaint_teams: teams
                .into_iter()
                .map(|(c, t)| (c.to_owned(), t.to_owned()))
                .collect(),
            default_team: "customer-care".to_owned(),
        }
    }
}

impl ServiceDesk {
    /// The team that owns a complaint of `category`.
    pub fn team_for(&self, category: &str) -> &str {
        self.complaint_teams
            .get(category.trim())
            .unwrap_or(&self.default_team)
    }

    /// `YYMMDD` of the local day at `at_ms`: the first six digits of the
    /// numbers of tickets opened that day.
    pub fn number_day(&self, at_ms: i64) -> String {
        let date = Timestamp::from_millisecond(at_ms)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(self.time_zone.clone())
            .date();
        format!(
            "{:02}{:02}{:02}",
            date.year().rem_euclid(100),
            date.month(),
            date.day()
        )
    }
}

/// The ticket number after `last` on `day` (`YYMMDD`): `day` and a 4-digit
/// counter from 0001. `None` once the day's 9999 are used.
pub fn next_number(day: &str, last: Option<&str>) -> Option<String> {
    let n = last
        .and_then(|l| l.strip_prefix(day))
        .and_then(|seq| seq.parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    (n <= 9999).then(|| format!("{day}{n:04}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_carry_the_local_day() {
        let desk = ServiceDesk::default();
        // 2026-11-24 16:30 UTC is 2026-11-25 00:30 in China.
        assert_eq!(desk.number_day(1_795_537_800_000), "261125");
        // An hour earlier it was still the 24th there.
        assert_eq!(desk.number_day(1_795_537_800_000 - 3_600_000), "261124");
        assert_eq!(next_number("261125", None).as_deref(), Some("2611250001"));
        assert_eq!(
            next_number("261125", Some("2611250041")).as_deref(),
            Some("2611250042")
        );
        assert_eq!(next_number("261125", Some("2611259999")), None);
    }

    #[test]
    fn complaints_go_to_their_team() {
        let desk = ServiceDesk::default();
        assert_eq!(desk.team_for("服务态度"), "service-quality");
        assert_eq!(desk.team_for(" 收费争议 "), "billing");
        assert_eq!(desk.team_for("别的"), "customer-care");
    }
}
