//! What an agent logs in to the ACD with: their skills and their queues,
//! kept on the user ([`super::User::skills`], [`super::User::queues`]) and
//! read by the runtime at login ([`Store::agent_profile`]).
//!
//! Owns the text forms of both, as stored in `users.skills` and
//! `users.queues` and written on the command line (`hotline user add
//! --skills repair=7,complaint=3 --queues repair,general`):
//! - skills: `name=level` items separated by commas; a name is 1 to 40 of
//!   a-z, 0-9, `_` and `-`, each name once, a level 1 to 10. The canonical
//!   form ([`format_skills`], what is stored) is sorted by name with no
//!   spaces; the parser ([`parse_skills`]) also takes spaces around items.
//! - queues: names (the same alphabet as `[[queues]]` names in the
//!   configuration) separated by commas, each once, in the order given;
//!   empty means every configured queue.
//!
//! The parsers are pure and report every problem, each naming the item it
//! is about (`"repair=11": level must be 1-10`). The store checks both
//! values again before writing ([`check_skills`], [`check_queues`]), so a
//! stored value always parses back: a name with a comma in it would
//! otherwise split into two on the next read.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::{Role, Store, StoreError};
use crate::validate::FieldError;

/// The levels a skill may have.
pub const SKILL_LEVELS: std::ops::RangeInclusive<u8> = 1..=10;

/// What is wrong with a skill or queue name, if anything.
pub fn name_problem(name: &str) -> Option<&'static str> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    (!ok).then_some("name must be 1 to 40 of a-z, 0-9, '_' and '-'")
}

/// What is wrong with a skill level, if anything.
pub fn level_problem(level: i64) -> Option<&'static str> {
    (!(i64::from(*SKILL_LEVELS.start())..=i64::from(*SKILL_LEVELS.end())).contains(&level))
        .then_some("level must be 1-10")
}

/// Parses `repair=7, complaint=3` (empty text: no skills). Every problem
/// comes back, each as `"item": what is wrong`.
pub fn parse_skills(text: &str) -> Result<BTreeMap<String, u8>, Vec<String>> {
    let mut skills = BTreeMap::new();
    let mut problems = Vec::new();
    if text.trim().is_empty() {
        return Ok(skills);
    }
    for item in text.split(',').map(str::trim) {
        let Some((name, level)) = item.split_once('=') else {
            problems.push(if item.is_empty() {
                "an empty item (a comma too many)".to_owned()
            } else {
                format!("{item:?}: expected name=level")
            });
            continue;
        };
        let (name, level) = (name.trim(), level.trim());
        if let Some(p) = name_problem(name) {
            problems.push(format!("{item:?}: {p}"));
            continue;
        }
        let Some(level) = level
            .parse::<i64>()
            .ok()
            .filter(|&l| level_problem(l).is_none())
        else {
            problems.push(format!("{item:?}: level must be 1-10"));
            continue;
        };
        // In range, so it fits a u8.
        if skills.insert(name.to_owned(), level as u8).is_some() {
            problems.push(format!("{item:?}: {name} is given twice"));
        }
    }
    if problems.is_empty() {
        Ok(skills)
    } else {
        Err(problems)
    }
}

/// The canonical text of `skills`: `complaint=3,repair=7`.
pub fn format_skills(skills: &BTreeMap<String, u8>) -> String {
    skills
        .iter()
        .map(|(name, level)| format!("{name}={level}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `repair, general` (empty text: no queues named, i.e. every
/// queue). Every problem comes back, each as `"item": what is wrong`.
pub fn parse_queues(text: &str) -> Result<Vec<String>, Vec<String>> {
    let mut queues: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    if text.trim().is_empty() {
        return Ok(queues);
    }
    for item in text.split(',').map(str::trim) {
        if item.is_empty() {
            problems.push("an empty item (a comma too many)".to_owned());
        } else if let Some(p) = name_problem(item) {
            problems.push(format!("{item:?}: {p}"));
        } else if queues.iter().any(|q| q == item) {
            problems.push(format!("{item:?}: is given twice"));
        } else {
            queues.push(item.to_owned());
        }
    }
    if problems.is_empty() {
        Ok(queues)
    } else {
        Err(problems)
    }
}

/// The stored text of `queues`: `repair,general`.
pub fn format_queues(queues: &[String]) -> String {
    queues.join(",")
}

/// Pushes an error per bad skill, named `field.skill` (`skills.repair`),
/// or `field` for a bad name. Levels are `i64` so that an API body's 11 or
/// -1 gets this message rather than a type error.
pub fn check_skills<'a>(
    errors: &mut Vec<FieldError>,
    field: &str,
    skills: impl IntoIterator<Item = (&'a String, i64)>,
) {
    for (name, level) in skills {
        if let Some(p) = name_problem(name) {
            errors.push(FieldError::new(field, format!("{name:?}: {p}")));
        } else if let Some(p) = level_problem(level) {
            errors.push(FieldError::new(
                format!("{field}.{name}"),
                format!("{p}, not {level}"),
            ));
        }
    }
}

/// Pushes an error per bad queue, named `field[i]`: a bad name, one given
/// twice, or (when `configured` is known) one that is not configured.
pub fn check_queues(
    errors: &mut Vec<FieldError>,
    field: &str,
    queues: &[String],
    configured: Option<&[String]>,
) {
    for (i, q) in queues.iter().enumerate() {
        let field = format!("{field}[{i}]");
        if let Some(p) = name_problem(q) {
            errors.push(FieldError::new(field, format!("{q:?}: {p}")));
        } else if queues[..i].contains(q) {
            errors.push(FieldError::new(field, format!("{q:?} is given twice")));
        } else if configured.is_some_and(|c| !c.contains(q)) {
            errors.push(FieldError::new(
                field,
                format!("{q:?} is not a configured queue"),
            ));
        }
    }
}

/// What the ACD needs to log an agent in: an active user who takes calls
/// (role agent or supervisor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentProfile {
    /// The user id, which is the ACD's agent id.
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// [`Role::Agent`] or [`Role::Supervisor`].
    pub role: Role,
    pub skills: BTreeMap<String, u8>,
    /// The queues the agent works; empty: every configured queue (see
    /// [`AgentProfile::queues_among`]).
    pub queues: Vec<String>,
}

impl AgentProfile {
    /// The queues to log in to, given the configured ones: every
    /// configured queue when the profile names none, else the profile's
    /// in its order, leaving out any no longer configured (the
    /// configuration may have changed since the user was saved; the
    /// caller may log what was left out).
    pub fn queues_among<S: AsRef<str>>(&self, configured: &[S]) -> Vec<String> {
        if self.queues.is_empty() {
            return configured.iter().map(|q| q.as_ref().to_owned()).collect();
        }
        self.queues
            .iter()
            .filter(|q| configured.iter().any(|c| c.as_ref() == q.as_str()))
            .cloned()
            .collect()
    }
}

impl Store {
    /// The agent profile of user `user_id`; `None` unless the user exists,
    /// is active and is an agent or a supervisor.
    pub async fn agent_profile(&self, user_id: i64) -> Result<Option<AgentProfile>, StoreError> {
        let row = sqlx::query(
            "SELECT id, username, display_name, role, skills, queues FROM users \
             WHERE id = $1 AND active = 1 AND role IN ('agent', 'supervisor')",
        )
        .bind(user_id)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::from_sqlx)?;
        row.map(|row| {
            let role: String = row.try_get("role")?;
            Ok(AgentProfile {
                id: row.try_get("id")?,
                username: row.try_get("username")?,
                display_name: row.try_get("display_name")?,
                role: Role::parse(&role).ok_or_else(|| super::bad_value("role", &role))?,
                skills: stored_skills(&row.try_get::<String, _>("skills")?)?,
                queues: stored_queues(&row.try_get::<String, _>("queues")?)?,
            })
        })
        .transpose()
        .map_err(StoreError::from_sqlx)
    }
}

/// `users.skills` as read back; a value that does not parse is a decode
/// error (the store never writes one).
pub(super) fn stored_skills(text: &str) -> Result<BTreeMap<String, u8>, sqlx::Error> {
    parse_skills(text).map_err(|_| super::bad_value("skills", text))
}

/// `users.queues` as read back, likewise.
pub(super) fn stored_queues(text: &str) -> Result<Vec<String>, sqlx::Error> {
    parse_queues(text).map_err(|_| super::bad_value("queues", text))
}

/// The problems of skills and queues about to be written (unknown queues
/// are the API's to refuse: the store does not know the configuration).
pub(super) fn check_profile(
    skills: Option<&BTreeMap<String, u8>>,
    queues: Option<&[String]>,
) -> Result<(), StoreError> {
    let mut errors = Vec::new();
    if let Some(skills) = skills {
        check_skills(
            &mut errors,
            "skills",
            skills.iter().map(|(n, l)| (n, i64::from(*l))),
        );
    }
    if let Some(queues) = queues {
        check_queues(&mut errors, "queues", queues, None);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skills(pairs: &[(&str, u8)]) -> BTreeMap<String, u8> {
        pairs.iter().map(|(n, l)| ((*n).to_owned(), *l)).collect()
    }

    #[test]
    fn skills_parse_and_format_canonically() {
        let parsed = parse_skills(" repair = 7 ,complaint=3,installation=10,a_b-9=1").unwrap();
        assert_eq!(
            parsed,
            skills(&[
                ("a_b-9", 1),
                ("complaint", 3),
                ("installation", 10),
                ("repair", 7)
            ])
        );
        let text = format_skills(&parsed);
        assert_eq!(text, "a_b-9=1,complaint=3,installation=10,repair=7");
        assert_eq!(parse_skills(&text).unwrap(), parsed);
        assert_eq!(parse_skills("").unwrap(), BTreeMap::new());
        assert_eq!(parse_skills("  ").unwrap(), BTreeMap::new());
        assert_eq!(format_skills(&BTreeMap::new()), "");
    }

    #[test]
    fn bad_skills_name_every_item() {
        assert_eq!(
            parse_skills("repair=11").unwrap_err(),
            [r#""repair=11": level must be 1-10"#]
        );
        assert_eq!(
            parse_skills("Repair=3,x=0,y=-1,z=,=4,w,a=1,,a=2,b=3.5,b=07").unwrap_err(),
            [
                r#""Repair=3": name must be 1 to 40 of a-z, 0-9, '_' and '-'"#,
                r#""x=0": level must be 1-10"#,
                r#""y=-1": level must be 1-10"#,
                r#""z=": level must be 1-10"#,
                r#""=4": name must be 1 to 40 of a-z, 0-9, '_' and '-'"#,
                r#""w": expected name=level"#,
                "an empty item (a comma too many)",
                r#""a=2": a is given twice"#,
                r#""b=3.5": level must be 1-10"#,
            ]
        );
        assert!(parse_skills(&format!("{}=1", "a".repeat(41))).is_err());
        assert!(parse_skills("维修=5").is_err());
        assert!(parse_skills("a=1,").is_err());
    }

    #[test]
    fn queues_parse_in_order() {
        assert_eq!(
            parse_queues("repair, general,vip-2").unwrap(),
            ["repair", "general", "vip-2"]
        );
        assert_eq!(parse_queues("").unwrap(), Vec::<String>::new());
        assert_eq!(
            format_queues(&["repair".into(), "general".into()]),
            "repair,general"
        );
        assert_eq!(
            parse_queues("repair,,General,repair").unwrap_err(),
            [
                "an empty item (a comma too many)",
                r#""General": name must be 1 to 40 of a-z, 0-9, '_' and '-'"#,
                r#""repair": is given twice"#,
            ]
        );
    }

    #[test]
    fn field_checks_name_the_field() {
        let mut errors = Vec::new();
        let input: BTreeMap<String, i64> = [("repair", 11), ("ok", 5), ("Bad", 3), ("low", 0)]
            .into_iter()
            .map(|(n, l)| (n.to_owned(), l))
            .collect();
        check_skills(&mut errors, "skills", input.iter().map(|(n, l)| (n, *l)));
        let queues = [
            "repair".to_owned(),
            "vip".to_owned(),
            "repair".to_owned(),
            "a,b".to_owned(),
        ];
        let configured = ["repair".to_owned(), "general".to_owned()];
        check_queues(&mut errors, "queues", &queues, Some(&configured));
        let got: Vec<(String, String)> = errors.into_iter().map(|e| (e.field, e.message)).collect();
        let want = [
            (
                "skills",
                r#""Bad": name must be 1 to 40 of a-z, 0-9, '_' and '-'"#,
            ),
            ("skills.low", "level must be 1-10, not 0"),
            ("skills.repair", "level must be 1-10, not 11"),
            ("queues[1]", r#""vip" is not a configured queue"#),
            ("queues[2]", r#""repair" is given twice"#),
            (
                "queues[3]",
                r#""a,b": name must be 1 to 40 of a-z, 0-9, '_' and '-'"#,
            ),
        ];
        assert_eq!(
            got,
            want.map(|(f, m)| (f.to_owned(), m.to_owned())).to_vec()
        );
        // Without the configuration only the syntax is checked.
        let mut errors = Vec::new();
        check_queues(&mut errors, "queues", &queues[..2], None);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn queues_among_the_configured() {
        let mut p = AgentProfile {
            id: 1,
            username: "a".into(),
            display_name: String::new(),
            role: Role::Agent,
            skills: BTreeMap::new(),
            queues: Vec::new(),
        };
        let configured = ["repair", "installation", "general"];
        assert_eq!(p.queues_among(&configured), configured);
        p.queues = vec!["general".into(), "gone".into(), "repair".into()];
        assert_eq!(p.queues_among(&configured), ["general", "repair"]);
        assert!(p.queues_among::<&str>(&[]).is_empty());
    }
}
