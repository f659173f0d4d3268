//! Quality assurance of calls, as data: the scorecards QA staff score
//! recordings with, the score a review gives, and the daily sample of calls
//! offered for review. PURE: scorecards come in as text (the runtime reads
//! the files), the day as a string.
//!
//! A scorecard is one TOML file in the scorecards folder (`qa.scorecards_dir`,
//! by default `scorecards/`), named by its file stem:
//!
//! ```toml
//! title = "标准服务质检 Standard service"
//! fail_whole_call = ["identity"]   # not met: the call scores 0
//! [[criteria]]
//! key = "greeting"
//! label = "规范问候 Greeting"
//! weight = 10
//! [[criteria]]
//! key = "identity"
//! label = "核实身份 Identity checked"
//! weight = 20
//! ```
//!
//! Invariants of a loaded [`Scorecard`]: at least one criterion; keys unique,
//! of a-z, 0-9 and `_`; weights positive and adding up to exactly 100, so a
//! score is a percentage; every name in `fail_whole_call` is one of its
//! criteria. A file breaking any of these is refused with its file and key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One thing a reviewer checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Criterion {
    pub key: String,
    /// What the reviewer reads.
    pub label: String,
    /// Points when met; the weights of a scorecard add up to 100.
    pub weight: u32,
    /// Not met: the whole call fails (scores 0).
    pub fatal: bool,
}

/// A scorecard, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Scorecard {
    /// The file stem.
    pub name: String,
    pub title: String,
    pub criteria: Vec<Criterion>,
}

/// Why a scorecard file was refused: the file, the key, the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scorecard {file}: `{key}`: {problem}")]
pub struct ScorecardError {
    pub file: String,
    pub key: String,
    pub problem: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCard {
    title: String,
    #[serde(default)]
    fail_whole_call: Vec<String>,
    criteria: Vec<FileCriterion>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCriterion {
    key: String,
    label: String,
    weight: i64,
}

impl Scorecard {
    /// Reads and checks one scorecard file's text; `file` names it in
    /// errors, its stem names the scorecard.
    pub fn parse(file: &str, text: &str) -> Result<Scorecard, ScorecardError> {
        let refuse = |key: &str, problem: String| ScorecardError {
            file: file.to_owned(),
            key: key.to_owned(),
            problem,
        };
        let card: FileCard = toml::from_str(text).map_err(|e| {
            let key = e.message().split('`').nth(1).unwrap_or("(file)").to_owned();
            refuse(&key, e.message().to_owned())
        })?;
        let name = std::path::Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        if !valid_key(&name) {
            return Err(refuse("(file name)", "must be a-z, 0-9 and _".into()));
        }
        if card.title.trim().is_empty() {
            return Err(refuse("title", "must not be empty".into()));
        }
        if card.criteria.is_empty() {
            return Err(refuse("criteria", "needs at least one criterion".into()));
        }
        let mut criteria: Vec<Criterion> = Vec::new();
        for (i, c) in card.criteria.iter().enumerate() {
            let at = |field: &str| format!("criteria[{i}].{field}");
            if !valid_key(&c.key) {
                return Err(refuse(
                    &at("key"),
                    format!("`{}`: must be a-z, 0-9 and _", c.key),
                ));
            }
            if criteria.iter().any(|d| d.key == c.key) {
                return Err(refuse(&at("key"), format!("`{}` appears twice", c.key)));
            }
            if c.label.trim().is_empty() {
                return Err(refuse(&at("label"), "must not be empty".into()));
            }
            let weight = u32::try_from(c.weight)
                .ok()
                .filter(|w| (1..=100).contains(w))
                .ok_or_else(|| refuse(&at("weight"), format!("{}: must be 1 to 100", c.weight)))?;
            criteria.push(Criterion {
                key: c.key.clone(),
                label: c.label.clone(),
                weight,
                fatal: false,
            });
        }
        let total: u32 = criteria.iter().map(|c| c.weight).sum();
        if total != 100 {
            return Err(refuse(
                "criteria",
                format!("the weights add up to {total}, not 100"),
            ));
        }
        for (i, key) in card.fail_whole_call.iter().enumerate() {
            match criteria.iter_mut().find(|c| &c.key == key) {
                Some(c) => c.fatal = true,
                None => {
                    return Err(refuse(
                        &format!("fail_whole_call[{i}]"),
                        format!("`{key}` is not a criterion of this scorecard"),
                    ));
                }
            }
        }
        Ok(Scorecard {
            name,
            title: card.title,
            criteria,
        })
    }

    /// The score of a review: each criterion met or not. Every criterion
    /// must be answered and nothing else; `Err` names each bad key.
    pub fn score(&self, items: &BTreeMap<String, bool>) -> Result<Score, Vec<(String, String)>> {
        let mut problems: Vec<(String, String)> = self
            .criteria
            .iter()
            .filter(|c| !items.contains_key(&c.key))
            .map(|c| (format!("items.{}", c.key), "is required".to_owned()))
            .collect();
        problems.extend(
            items
                .keys()
                .filter(|k| !self.criteria.iter().any(|c| &c.key == *k))
                .map(|k| {
                    (
                        format!("items.{k}"),
                        "is not a criterion of this scorecard".to_owned(),
                    )
                }),
        );
        if !problems.is_empty() {
            return Err(problems);
        }
        let met = |c: &Criterion| items.get(&c.key).copied().unwrap_or(false);
        let failed = self.criteria.iter().any(|c| c.fatal && !met(c));
        let total = if failed {
            0
        } else {
            self.criteria
                .iter()
                .filter(|c| met(c))
                .map(|c| c.weight)
                .sum()
        };
        Ok(Score { total, failed })
    }
}

/// What a review comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    /// 0 to 100.
    pub total: u32,
    /// A fatal criterion was not met.
    pub failed: bool,
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 40
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The scorecards of a folder, checked together: names unique (they are
/// file stems, so they are), at least one. `files` is (file name, text).
pub fn load_scorecards(files: &[(String, String)]) -> Result<Vec<Scorecard>, ScorecardError> {
    let mut cards = files
        .iter()
        .map(|(file, text)| Scorecard::parse(file, text))
        .collect::<Result<Vec<_>, _>>()?;
    cards.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cards)
}

/// The day's sample for review: up to `per_agent` calls of each agent,
/// drawn from `candidates` (agent, call id) in an order fixed by the day
/// and the call id, so everyone asking about a day gets the same sample,
/// and another day another one.
pub fn daily_sample(day: &str, per_agent: usize, candidates: &[(i64, String)]) -> Vec<String> {
    let mut by_agent: BTreeMap<i64, Vec<(u64, &str)>> = BTreeMap::new();
    for (agent, call) in candidates {
        by_agent
            .entry(*agent)
            .or_default()
            .push((fnv1a(day, call), call.as_str()));
    }
    let mut picked = Vec::new();
    for calls in by_agent.values_mut() {
        calls.sort_unstable();
        picked.extend(calls.iter().take(per_agent).map(|(_, c)| (*c).to_owned()));
    }
    picked
}

/// FNV-1a over the day and the call id: stable across builds and platforms.
fn fnv1a(day: &str, call: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in day.bytes().chain([0]).chain(call.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: &str = r#"
title = "标准服务质检 Standard service"
fail_whole_call = ["identity"]
[[criteria]]
key = "greeting"
label = "Greeting"
weight = 30
[[criteria]]
key = "identity"
label = "Identity checked"
weight = 30
[[criteria]]
key = "solution"
label = "Solution explained"
weight = 40
"#;

    fn items(pairs: &[(&str, bool)]) -> BTreeMap<String, bool> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn a_scorecard_scores_met_weights_and_a_fatal_miss_fails_the_call() {
        let card = Scorecard::parse("scorecards/standard.toml", CARD).unwrap();
        assert_eq!(card.name, "standard");
        assert!(card.criteria[1].fatal);
        let all = card
            .score(&items(&[
                ("greeting", true),
                ("identity", true),
                ("solution", true),
            ]))
            .unwrap();
        assert_eq!(
            all,
            Score {
                total: 100,
                failed: false
            }
        );
        let some = card
            .score(&items(&[
                ("greeting", false),
                ("identity", true),
                ("solution", true),
            ]))
            .unwrap();
        assert_eq!(some.total, 70);
        let fatal = card
            .score(&items(&[
                ("greeting", true),
                ("identity", false),
                ("solution", true),
            ]))
            .unwrap();
        assert_eq!(
            fatal,
            Score {
                total: 0,
                failed: true
            }
        );
        let bad = card
            .score(&items(&[("greeting", true), ("smile", true)]))
            .unwrap_err();
        let keys: Vec<&str> = bad.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["items.identity", "items.solution", "items.smile"]);
    }

    #[test]
    fn a_bad_scorecard_is_refused_with_its_file_and_key() {
        for (text, key) in [
            (CARD.replace("weight = 40", "weight = 41"), "criteria"),
            (
                CARD.replace("[\"identity\"]", "[\"honesty\"]"),
                "fail_whole_call[0]",
            ),
            (
                CARD.replace("key = \"solution\"", "key = \"greeting\""),
                "criteria[2].key",
            ),
            (
                CARD.replace("key = \"solution\"", "key = \"Solution!\""),
                "criteria[2].key",
            ),
            (
                CARD.replace(
                    "weight = 30\n[[criteria]]\nkey = \"identity\"",
                    "weight = 0\n[[criteria]]\nkey = \"identity\"",
                ),
                "criteria[0].weight",
            ),
            (
                CARD.replace("label = \"Greeting\"", "label = \"\""),
                "criteria[0].label",
            ),
            (CARD.replace("title = ", "titel = "), "titel"),
        ] {
            let err = Scorecard::parse("scorecards/standard.toml", &text).unwrap_err();
            assert_eq!(err.file, "scorecards/standard.toml");
            assert_eq!(err.key, key, "{err}");
        }
    }

    #[test]
    fn the_daily_sample_is_per_agent_stable_within_a_day_and_changes_across_days() {
        let calls: Vec<(i64, String)> = (0..40).map(|i| (i % 4, format!("call{i:03}"))).collect();
        let monday = daily_sample("2026-12-07", 2, &calls);
        assert_eq!(monday.len(), 8, "two of each of four agents");
        assert_eq!(
            monday,
            daily_sample("2026-12-07", 2, &calls),
            "the same all day"
        );
        let mut shuffled = calls.clone();
        shuffled.reverse();
        assert_eq!(
            monday,
            daily_sample("2026-12-07", 2, &shuffled),
            "whatever the order asked in"
        );
        assert_ne!(monday, daily_sample("2026-12-08", 2, &calls));
        for agent in 0..4 {
            let of_agent = monday
                .iter()
                .filter(|c| calls.iter().any(|(a, id)| *a == agent && id == *c))
                .count();
            assert_eq!(of_agent, 2);
        }
        assert_eq!(
            daily_sample("2026-12-07", 5, &calls[..3]).len(),
            3,
            "fewer calls than asked"
        );
    }
}
