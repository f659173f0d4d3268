//! DTMF digit patterns in the Asterisk dial-plan style.
//!
//! Two users: the IVR `collect` node checks what a caller keyed against one
//! (a ten-digit ticket number is `_XXXXXXXXXX`), and the transfer allow-list
//! in the configuration lists the only numbers the IVR may transfer to, so it
//! can never be used to place toll calls.
//!
//! Syntax: text starting with `_` is a pattern, anything else is a literal
//! that must match exactly. In a pattern `X` is any of 0-9, `Z` 1-9, `N` 2-9
//! (upper or lower case), `[15-7]` a set with ranges, `0-9 * # +` stand for
//! themselves, and a final `.` matches one or more further characters, a
//! final `!` zero or more.
//!
//! Invariants: the alphabet is the keypad's, `0-9 * #`, plus `+` so E.164
//! numbers can be listed. A literal may use only those characters, and `.`
//! and `!` match only those characters too: a string with anything else in
//! it (a `@`, a `;`, a space) matches no pattern, because the allow-list
//! must not pass a destination that could smuggle in a SIP URI or a
//! parameter. Everything here is pure.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a pattern's text was rejected. Positions are 1-based and count
/// characters (not bytes) of the whole text, the leading `_` included.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PatternError {
    /// The text is empty, or is only `_`.
    #[error("empty digit pattern")]
    Empty,
    /// A `[` has no matching `]`.
    #[error("unclosed '[' at position {position} in digit pattern")]
    UnclosedSet {
        /// Position of the `[`.
        position: usize,
    },
    /// `[]`: a set that allows nothing.
    #[error("empty set '[]' at position {position} in digit pattern")]
    EmptySet {
        /// Position of the `[`.
        position: usize,
    },
    /// A range in a set whose ends are not digits in increasing order, or
    /// a `-` with a missing end (`[7-5]`, `[-5]`, `[1-]`, `[*-#]`).
    #[error(
        "bad range '{range}' at position {position} in digit pattern: expected digit-digit, low to high"
    )]
    BadRange {
        /// Position where the range starts.
        position: usize,
        /// The range as written.
        range: String,
    },
    /// `.` or `!` somewhere other than at the end.
    #[error("'{found}' at position {position} in digit pattern must be the last character")]
    WildcardNotLast {
        /// Position of the wildcard.
        position: usize,
        /// The wildcard, `.` or `!`.
        found: char,
    },
    /// A character that means nothing where it stands: a letter in a
    /// literal (a missing leading `_`?), a stray `]`, a space, ...
    #[error("unexpected '{found}' at position {position} in digit pattern{hint}", hint = hint(*.found, *.literal))]
    UnknownChar {
        /// Position of the character.
        position: usize,
        /// The character.
        found: char,
        /// The text is a literal (it does not start with `_`).
        literal: bool,
    },
}

/// A pointer to the likely mistake, for the [`PatternError::UnknownChar`]
/// message.
fn hint(found: char, literal: bool) -> &'static str {
    let pattern_char = matches!(
        found.to_ascii_uppercase(),
        'X' | 'Z' | 'N' | '[' | '.' | '!'
    );
    if literal && pattern_char {
        " (patterns start with '_')"
    } else {
        ""
    }
}

/// Characters a pattern can match, as indices into a 13-bit set.
const ALPHABET: &[u8; 13] = b"0123456789*#+";

/// A set of alphabet characters, bit `i` for `ALPHABET[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CharSet(u16);

impl CharSet {
    const DIGITS: Self = Self(0b11_1111_1111);
    const ANY: Self = Self((1 << ALPHABET.len()) - 1);

    /// Digits `lo..=hi`; both must be ≤ 9.
    fn digits(lo: u8, hi: u8) -> Self {
        Self(((1u16 << (hi + 1)) - 1) & !((1u16 << lo) - 1))
    }

    fn single(c: char) -> Option<Self> {
        index(c).map(|i| Self(1 << i))
    }

    fn contains(self, c: char) -> bool {
        index(c).is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

/// Position of `c` in [`ALPHABET`].
fn index(c: char) -> Option<u8> {
    let b = u8::try_from(c).ok()?;
    ALPHABET
        .iter()
        .position(|&a| a == b)
        .and_then(|i| u8::try_from(i).ok())
}

/// What may follow the fixed-length part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Tail {
    /// Nothing: the match has exactly the fixed length.
    None,
    /// `.`: one or more characters.
    OneOrMore,
    /// `!`: zero or more characters.
    ZeroOrMore,
}

/// A parsed digit pattern or literal. Compares by its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DigitPattern {
    text: String,
    /// One set per character of a match's fixed-length part.
    fixed: Vec<CharSet>,
    tail: Tail,
}

impl DigitPattern {
    /// Parses `s`: a pattern if it starts with `_`, else a literal.
    ///
    /// # Errors
    /// A [`PatternError`] naming the first thing wrong with the text.
    pub fn parse(s: &str) -> Result<Self, PatternError> {
        let (fixed, tail) = match s.strip_prefix('_') {
            Some(body) => parse_pattern(body)?,
            None => (parse_literal(s)?, Tail::None),
        };
        if fixed.is_empty() && tail == Tail::None {
            return Err(PatternError::Empty);
        }
        Ok(Self {
            text: s.to_owned(),
            fixed,
            tail,
        })
    }

    /// The text the pattern was parsed from.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `digits` matches the whole pattern.
    #[must_use]
    pub fn matches(&self, digits: &str) -> bool {
        let n = self.fixed.len();
        let len = digits.chars().count();
        let length_ok = match self.tail {
            Tail::None => len == n,
            Tail::OneOrMore => len > n,
            Tail::ZeroOrMore => len >= n,
        };
        length_ok && self.prefix_ok(digits)
    }

    /// `digits` is a proper prefix of some match: more keys could still
    /// complete (or extend) a match. The collect node stops as soon as
    /// this no longer holds.
    #[must_use]
    pub fn could_match_longer(&self, digits: &str) -> bool {
        let len = digits.chars().count();
        let room = match self.tail {
            Tail::None => len < self.fixed.len(),
            Tail::OneOrMore | Tail::ZeroOrMore => true,
        };
        room && self.prefix_ok(digits)
    }

    /// Length of the shortest match.
    #[must_use]
    pub fn min_len(&self) -> usize {
        match self.tail {
            Tail::OneOrMore => self.fixed.len() + 1,
            Tail::None | Tail::ZeroOrMore => self.fixed.len(),
        }
    }

    /// Length of the longest match; `None` when a final `.` or `!` makes
    /// matches unbounded.
    #[must_use]
    pub fn max_len(&self) -> Option<usize> {
        match self.tail {
            Tail::None => Some(self.fixed.len()),
            Tail::OneOrMore | Tail::ZeroOrMore => None,
        }
    }

    /// The text is a literal (matches exactly one string).
    #[must_use]
    pub fn is_literal(&self) -> bool {
        !self.text.starts_with('_')
    }

    /// Every character of `digits` is allowed where it stands, ignoring
    /// whether the length is right.
    fn prefix_ok(&self, digits: &str) -> bool {
        let mut chars = digits.chars();
        for (set, c) in self.fixed.iter().zip(chars.by_ref()) {
            if !set.contains(c) {
                return false;
            }
        }
        chars.all(|c| CharSet::ANY.contains(c))
    }
}

/// A literal: every character must be in the alphabet.
fn parse_literal(s: &str) -> Result<Vec<CharSet>, PatternError> {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            CharSet::single(c).ok_or(PatternError::UnknownChar {
                position: i + 1,
                found: c,
                literal: true,
            })
        })
        .collect()
}

/// The body of a pattern, after its `_` (which is position 1).
fn parse_pattern(body: &str) -> Result<(Vec<CharSet>, Tail), PatternError> {
    let chars: Vec<char> = body.chars().collect();
    let position = |i: usize| i + 2;
    let mut fixed = Vec::with_capacity(chars.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let set = match c.to_ascii_uppercase() {
            'X' => CharSet::DIGITS,
            'Z' => CharSet::digits(1, 9),
            'N' => CharSet::digits(2, 9),
            '.' | '!' => {
                if i + 1 != chars.len() {
                    return Err(PatternError::WildcardNotLast {
                        position: position(i),
                        found: c,
                    });
                }
                let tail = if c == '.' {
                    Tail::OneOrMore
                } else {
                    Tail::ZeroOrMore
                };
                return Ok((fixed, tail));
            }
            '[' => {
                let close = chars
                    .get(i + 1..)
                    .and_then(|rest| rest.iter().position(|&c| c == ']'))
                    .map(|off| i + 1 + off)
                    .ok_or(PatternError::UnclosedSet {
                        position: position(i),
                    })?;
                let inner = chars.get(i + 1..close).unwrap_or(&[]);
                let set = parse_set(inner, position(i + 1))?;
                if set.0 == 0 {
                    return Err(PatternError::EmptySet {
                        position: position(i),
                    });
                }
                fixed.push(set);
                i = close + 1;
                continue;
            }
            _ => CharSet::single(c).ok_or(PatternError::UnknownChar {
                position: position(i),
                found: c,
                literal: false,
            })?,
        };
        fixed.push(set);
        i += 1;
    }
    Ok((fixed, Tail::None))
}

/// The inside of `[...]`; `start` is the position of its first character.
fn parse_set(inner: &[char], start: usize) -> Result<CharSet, PatternError> {
    let mut set = CharSet(0);
    let mut i = 0;
    while let Some(&c) = inner.get(i) {
        let next = inner.get(i + 1).copied();
        if next == Some('-') || c == '-' {
            // A range: exactly digit '-' digit, low to high.
            let hi = inner.get(i + 2).copied();
            let (consumed, ends) = if c == '-' {
                (1, None)
            } else {
                (hi.map_or(2, |_| 3), hi.map(|hi| (c, hi)))
            };
            let range: String = inner.iter().skip(i).take(consumed).collect();
            let bad = || PatternError::BadRange {
                position: start + i,
                range: range.clone(),
            };
            let (lo, hi) = ends.ok_or_else(bad)?;
            let digit = |c: char| c.to_digit(10).and_then(|d| u8::try_from(d).ok());
            let (lo, hi) = digit(lo)
                .zip(digit(hi))
                .filter(|(lo, hi)| lo <= hi)
                .ok_or_else(bad)?;
            set.0 |= CharSet::digits(lo, hi).0;
            i += 3;
        } else {
            let single = CharSet::single(c).ok_or(PatternError::UnknownChar {
                position: start + i,
                found: c,
                literal: false,
            })?;
            set.0 |= single.0;
            i += 1;
        }
    }
    Ok(set)
}

impl fmt::Display for DigitPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for DigitPattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for DigitPattern {
    type Error = PatternError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<DigitPattern> for String {
    fn from(p: DigitPattern) -> Self {
        p.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> DigitPattern {
        DigitPattern::parse(s).unwrap()
    }

    #[test]
    fn literals_match_exactly() {
        let lit = p("4008001234");
        assert!(lit.is_literal());
        assert!(lit.matches("4008001234"));
        assert!(!lit.matches("400800123"));
        assert!(!lit.matches("40080012345"));
        assert!(!lit.matches("4008001235"));
        assert!(p("*#0").matches("*#0"));
        assert!(p("+8610123").matches("+8610123"));
        assert_eq!((lit.min_len(), lit.max_len()), (10, Some(10)));
    }

    #[test]
    fn letter_classes() {
        let x = p("_X");
        let z = p("_Z");
        let n = p("_N");
        for d in '0'..='9' {
            let s = d.to_string();
            assert!(x.matches(&s));
            assert_eq!(z.matches(&s), d >= '1', "{d}");
            assert_eq!(n.matches(&s), d >= '2', "{d}");
        }
        for c in ["*", "#", "+", "a", ""] {
            assert!(!x.matches(c) && !z.matches(c) && !n.matches(c), "{c:?}");
        }
        // Lower case means the same.
        assert!(p("_nxxxxxx").matches("5551234"));
        assert!(!p("_nxxxxxx").matches("1551234"));
        assert!(p("_zz").matches("19"));
    }

    #[test]
    fn sets_and_ranges() {
        let s = p("_[15-7]");
        let hits: String = ('0'..='9').filter(|&d| s.matches(&d.to_string())).collect();
        assert_eq!(hits, "1567");
        assert!(p("_[*#]").matches("#"));
        assert!(p("_[0-9]").matches("0"));
        assert!(p("_[3-3]").matches("3"));
        assert!(!p("_[3-3]").matches("4"));
        let two = p("_1[02-4]X");
        assert!(two.matches("100"));
        assert!(two.matches("149"));
        assert!(!two.matches("119"));
        assert!(!two.matches("15"));
        assert_eq!(two.max_len(), Some(3));
    }

    #[test]
    fn wildcards() {
        let dot = p("_9.");
        assert!(!dot.matches("9"));
        assert!(dot.matches("91"));
        assert!(dot.matches("9*#+0"));
        assert!(!dot.matches("8123"));
        assert_eq!((dot.min_len(), dot.max_len()), (2, None));
        let bang = p("_9!");
        assert!(bang.matches("9"));
        assert!(bang.matches("912"));
        assert!(!bang.matches(""));
        assert_eq!((bang.min_len(), bang.max_len()), (1, None));
        // A bare wildcard is a valid pattern.
        assert!(p("_!").matches(""));
        assert!(p("_.").matches("1"));
        assert!(!p("_.").matches(""));
    }

    #[test]
    fn wildcards_do_not_match_outside_the_keypad() {
        // The allow-list must not pass a destination carrying a SIP URI or
        // parameters behind an allowed prefix.
        let any = p("_400.");
        assert!(any.matches("4008001234"));
        for bad in ["400@evil.example", "400;user=phone", "400 1", "400１"] {
            assert!(!any.matches(bad), "{bad}");
            assert!(!any.could_match_longer(bad), "{bad}");
        }
        assert!(!p("_!").matches("a"));
    }

    #[test]
    fn e164_numbers() {
        let cn = p("_+86ZX.");
        assert!(cn.matches("+8610123456"));
        assert!(!cn.matches("+86"));
        assert!(!cn.matches("8610123456"));
        assert!(!cn.matches("+8601234"));
    }

    #[test]
    fn could_match_longer() {
        let ticket = p("_XXXXXXXXXX");
        assert!(ticket.could_match_longer(""));
        assert!(ticket.could_match_longer("123456789"));
        assert!(!ticket.could_match_longer("1234567890"));
        assert!(!ticket.could_match_longer("12345678901"));
        assert!(!ticket.could_match_longer("12345*"));
        let open = p("_1X.");
        assert!(open.could_match_longer(""));
        assert!(open.could_match_longer("1"));
        assert!(open.could_match_longer("12"));
        assert!(open.could_match_longer("123456"));
        assert!(!open.could_match_longer("2"));
        let lit = p("123");
        assert!(lit.could_match_longer("12"));
        assert!(!lit.could_match_longer("123"));
        assert!(!lit.could_match_longer("13"));
        assert!(p("_!").could_match_longer(""));
    }

    #[test]
    fn text_round_trips() {
        for s in ["_NXXNXXXXXX", "_[15-7]x.", "4008001234", "_+86!"] {
            let pat = p(s);
            assert_eq!(pat.as_str(), s);
            assert_eq!(pat.to_string(), s);
            assert_eq!(s.parse::<DigitPattern>().unwrap(), pat);
        }
    }

    #[test]
    fn serde_as_a_string() {
        let pat: DigitPattern = serde_json::from_str(r#""_4008XXXXXX""#).unwrap();
        assert!(pat.matches("4008123456"));
        assert_eq!(serde_json::to_string(&pat).unwrap(), r#""_4008XXXXXX""#);
        let err = serde_json::from_str::<DigitPattern>(r#""_4008X.X""#).unwrap_err();
        assert!(err.to_string().contains("must be the last"), "{err}");
    }

    #[test]
    fn errors_name_position_and_char() {
        use PatternError::*;
        let cases: &[(&str, PatternError)] = &[
            ("", Empty),
            ("_", Empty),
            ("_12[34", UnclosedSet { position: 4 }),
            ("_[", UnclosedSet { position: 2 }),
            ("_1[]", EmptySet { position: 3 }),
            (
                "_[7-5]",
                BadRange {
                    position: 3,
                    range: "7-5".into(),
                },
            ),
            (
                "_[1-]",
                BadRange {
                    position: 3,
                    range: "1-".into(),
                },
            ),
            (
                "_[-5]",
                BadRange {
                    position: 3,
                    range: "-".into(),
                },
            ),
            (
                "_[*-#]",
                BadRange {
                    position: 3,
                    range: "*-#".into(),
                },
            ),
            (
                "_[12-X]",
                BadRange {
                    position: 4,
                    range: "2-X".into(),
                },
            ),
            (
                "_9.1",
                WildcardNotLast {
                    position: 3,
                    found: '.',
                },
            ),
            (
                "_!!",
                WildcardNotLast {
                    position: 2,
                    found: '!',
                },
            ),
            (
                "_12A",
                UnknownChar {
                    position: 4,
                    found: 'A',
                    literal: false,
                },
            ),
            (
                "_1]",
                UnknownChar {
                    position: 3,
                    found: ']',
                    literal: false,
                },
            ),
            (
                "_[1X]",
                UnknownChar {
                    position: 4,
                    found: 'X',
                    literal: false,
                },
            ),
            (
                "123X",
                UnknownChar {
                    position: 4,
                    found: 'X',
                    literal: true,
                },
            ),
            (
                " 123",
                UnknownChar {
                    position: 1,
                    found: ' ',
                    literal: true,
                },
            ),
            (
                "_零1",
                UnknownChar {
                    position: 2,
                    found: '零',
                    literal: false,
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(DigitPattern::parse(text).as_ref(), Err(want), "{text:?}");
        }
    }

    #[test]
    fn error_messages() {
        let msg = |s: &str| DigitPattern::parse(s).unwrap_err().to_string();
        assert_eq!(msg(""), "empty digit pattern");
        assert_eq!(msg("_12[34"), "unclosed '[' at position 4 in digit pattern");
        assert_eq!(
            msg("_[7-5]"),
            "bad range '7-5' at position 3 in digit pattern: expected digit-digit, low to high"
        );
        assert_eq!(
            msg("_9.1"),
            "'.' at position 3 in digit pattern must be the last character"
        );
        assert_eq!(msg("_12A"), "unexpected 'A' at position 4 in digit pattern");
        assert_eq!(
            msg("9XX"),
            "unexpected 'X' at position 2 in digit pattern (patterns start with '_')"
        );
    }

    /// A string over the keypad alphabet.
    fn keys(max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[0-9*#+]{{0,{max}}}")).unwrap()
    }

    /// Valid pattern text: a `_` pattern or a literal.
    fn pattern_text() -> impl Strategy<Value = String> {
        let element = prop_oneof![
            Just("X".to_owned()),
            Just("z".to_owned()),
            Just("N".to_owned()),
            Just("*".to_owned()),
            Just("+".to_owned()),
            (0u8..10).prop_map(|d| d.to_string()),
            (0u8..10, 0u8..10).prop_map(|(a, b)| format!("[{}-{}#]", a.min(b), a.max(b))),
        ];
        let tail = prop_oneof![Just(""), Just("."), Just("!")];
        prop_oneof![
            (proptest::collection::vec(element, 0..6), tail)
                .prop_map(|(els, tail)| format!("_{}{tail}", els.concat())),
            "[0-9*#+]{1,8}",
        ]
        .prop_filter("not empty", |s| s != "_")
    }

    proptest! {
        #[test]
        fn a_literal_matches_exactly_itself(lit in "[0-9*#+]{1,12}", other in keys(12)) {
            let pat = DigitPattern::parse(&lit).unwrap();
            prop_assert!(pat.matches(&lit));
            prop_assert_eq!(pat.matches(&other), other == lit);
        }

        #[test]
        fn x_dot_matches_every_non_empty_digit_string(digits in "[0-9]{0,30}") {
            let pat = DigitPattern::parse("_X.").unwrap();
            // `X` takes one digit and `.` at least one more.
            prop_assert_eq!(pat.matches(&digits), digits.len() >= 2);
            prop_assert!(DigitPattern::parse("_!").unwrap().matches(&digits));
            prop_assert_eq!(DigitPattern::parse("_.").unwrap().matches(&digits), !digits.is_empty());
        }

        #[test]
        fn matches_respect_min_and_max(text in pattern_text(), input in keys(10)) {
            let pat = DigitPattern::parse(&text).unwrap();
            if pat.matches(&input) {
                prop_assert!(input.len() >= pat.min_len());
                prop_assert!(pat.max_len().is_none_or(|max| input.len() <= max));
            }
        }

        #[test]
        fn could_match_longer_agrees_with_matches(text in pattern_text(), input in keys(8), more in keys(8)) {
            let pat = DigitPattern::parse(&text).unwrap();
            // Any prefix of a match can be extended to it.
            let full = format!("{input}{more}");
            if !more.is_empty() && pat.matches(&full) {
                prop_assert!(pat.could_match_longer(&input));
            }
            // And an extendable prefix has a longer match: fill the rest of
            // the fixed part with each set's first character, then one more
            // key if the tail needs it.
            if pat.could_match_longer(&input) {
                let mut longer = input.clone();
                for set in pat.fixed.iter().skip(input.len()) {
                    let first = ALPHABET.iter().map(|&b| char::from(b)).find(|&c| set.contains(c));
                    longer.push(first.unwrap());
                }
                if longer.len() == input.len() || pat.tail == Tail::OneOrMore && longer.len() == pat.fixed.len() {
                    longer.push('0');
                }
                prop_assert!(pat.matches(&longer), "{longer}");
                prop_assert!(pat.max_len().is_none_or(|max| input.len() < max));
            }
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,12}") {
            if let Ok(pat) = DigitPattern::parse(&text) {
                prop_assert_eq!(pat.as_str(), text.as_str());
            }
        }

        #[test]
        fn parse_never_panics_on_pattern_like_text(text in "_?[0-9XZNxzn\\[\\]\\-.!*#+a ]{0,12}") {
            let _ = DigitPattern::parse(&text);
        }
    }
}
