//! Saying values: a number, a digit string, a date or a time turned into the
//! prompt names that speak it, in English (`en`) and Mandarin (`zh`).
//!
//! Both languages use the same prompt names (`num-7`, `month-3`,
//! `digit-star`, ...), each recorded in its own folder; what differs is how
//! a value is composed from them. [`prompt_names`] lists every name [`say`]
//! can return for a language, so the flow loader can check that each one has
//! a recording before a caller ever hears a gap.
//!
//! English numbers are cardinals without "and" (1,234 is "one thousand two
//! hundred thirty four"). Mandarin numbers follow the spoken rules: 十 rather
//! than 一十 at the start of a number (12 十二, 150000 十五万, but 110
//! 一百一十); a run of internal zeros says one 零 (1005 一千零五, 10010
//! 一万零一十, 100000001 一亿零一) and trailing zeros are silent; 两 for a 2
//! before 百 or 千, and for a 万 or 亿 group that is exactly 2 (200 两百,
//! 20000 两万, but 2 二, 20 二十, 120000 十二万).
//!
//! Dates: English "March 5 2026" (`month-3`, then day and year as plain
//! cardinals); Mandarin 二零二六年三月五日 (the year digit by digit). Times:
//! English on the 12-hour clock, "eight oh five a.m.", "twelve o'clock
//! a.m." for 00:00; Mandarin 上午 before noon and 下午 from 12:00, the
//! 12-hour hour (0 and 12 say 十二, 2 says 两点), then the minutes with 分,
//! 1-9 after a 零 (上午八点零五分), none on the hour.
//!
//! Invariant: `say` never returns a name missing from `prompt_names` for the
//! same language (a property test checks it). Everything here is pure.

use std::fmt;
use std::str::FromStr;

/// The languages [`say`] speaks.
pub const LANGUAGES: &[&str] = &["en", "zh"];

/// The largest value [`SayAs::Number`] says.
pub const MAX_NUMBER: u64 = 999_999_999_999;

/// How to read a value aloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SayAs {
    /// A non-negative whole number up to [`MAX_NUMBER`]: "one hundred ten".
    Number,
    /// Keys one by one, `0-9 * #`: "one one zero".
    Digits,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A time of day, `HH:MM` on the 24-hour clock.
    Time,
}

impl SayAs {
    /// The name used in flow files.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Number => "number",
            Self::Digits => "digits",
            Self::Date => "date",
            Self::Time => "time",
        }
    }
}

impl fmt::Display for SayAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SayAs {
    type Err = SayError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "number" => Ok(Self::Number),
            "digits" => Ok(Self::Digits),
            "date" => Ok(Self::Date),
            "time" => Ok(Self::Time),
            _ => Err(SayError::UnknownSayAs(s.to_owned())),
        }
    }
}

/// Why a value could not be said.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SayError {
    /// The language is not one of [`LANGUAGES`].
    #[error("cannot say anything in language \"{0}\": expected one of en, zh")]
    UnsupportedLanguage(String),
    /// The value does not have the form `how` expects.
    #[error("cannot say \"{value}\" as a {how}: expected {expected}")]
    Invalid {
        /// How it was to be said.
        how: SayAs,
        /// The value as given.
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
    /// Not one of `number`, `digits`, `date`, `time`.
    #[error("unknown say-as \"{0}\": expected number, digits, date or time")]
    UnknownSayAs(String),
}

/// The prompt names that speak `value`, read as `how`, in `lang`.
///
/// # Errors
/// [`SayError::UnsupportedLanguage`] for a language not in [`LANGUAGES`],
/// [`SayError::Invalid`] for a value `how` cannot read.
pub fn say(lang: &str, how: SayAs, value: &str) -> Result<Vec<String>, SayError> {
    let lang = Lang::parse(lang)?;
    let invalid = |expected| SayError::Invalid {
        how,
        value: value.to_owned(),
        expected,
    };
    let names = match how {
        SayAs::Number => {
            let n = parse_number(value)
                .ok_or_else(|| invalid("a whole number from 0 to 999999999999, digits only"))?;
            lang.number(n)
        }
        SayAs::Digits => digits(value).ok_or_else(|| invalid("keys 0-9, * or #"))?,
        SayAs::Date => {
            let date =
                parse_date(value).ok_or_else(|| invalid("a date that exists, as YYYY-MM-DD"))?;
            lang.date(date)
        }
        SayAs::Time => {
            let (hour, minute) =
                parse_time(value).ok_or_else(|| invalid("a time from 00:00 to 23:59, as HH:MM"))?;
            lang.time(hour, minute)
        }
    };
    Ok(names)
}

/// Every prompt name [`say`] can return for `lang`; `None` when `lang` is
/// not one of [`LANGUAGES`].
#[must_use]
pub fn prompt_names(lang: &str) -> Option<Vec<String>> {
    let lang = Lang::parse(lang).ok()?;
    let mut names: Vec<String> = (0..=9)
        .map(|d| format!("digit-{d}"))
        .chain(["digit-star".to_owned(), "digit-pound".to_owned()])
        .collect();
    let fixed: &[&str] = match lang {
        Lang::En => {
            names.extend((0..=19).map(|n| format!("num-{n}")));
            names.extend((2..=9).map(|t| format!("num-{}", t * 10)));
            names.extend((1..=12).map(|m| format!("month-{m}")));
            &[
                "num-hundred",
                "num-thousand",
                "num-million",
                "num-billion",
                "time-oclock",
                "time-oh",
                "time-am",
                "time-pm",
            ]
        }
        Lang::Zh => {
            names.extend((0..=10).map(|n| format!("num-{n}")));
            &[
                "num-hundred",
                "num-thousand",
                "num-ten-thousand",
                "num-hundred-million",
                "num-liang",
                "date-year",
                "date-month",
                "date-day",
                "time-morning",
                "time-afternoon",
                "time-hour",
                "time-minute",
            ]
        }
    };
    names.extend(fixed.iter().map(|&s| s.to_owned()));
    Some(names)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    Zh,
}

/// A checked calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Date {
    year: u16,
    month: u8,
    day: u8,
}

fn num(n: u64) -> String {
    format!("num-{n}")
}

fn s(name: &str) -> String {
    name.to_owned()
}

impl Lang {
    fn parse(lang: &str) -> Result<Self, SayError> {
        match lang {
            "en" => Ok(Self::En),
            "zh" => Ok(Self::Zh),
            _ => Err(SayError::UnsupportedLanguage(lang.to_owned())),
        }
    }

    fn number(self, n: u64) -> Vec<String> {
        match self {
            Self::En => en_number(n),
            Self::Zh => zh_number(n),
        }
    }

    fn date(self, d: Date) -> Vec<String> {
        match self {
            // "March 5 2026": month name, then day and year as cardinals.
            Self::En => {
                let mut out = vec![format!("month-{}", d.month)];
                out.extend(en_number(d.day.into()));
                out.extend(en_number(d.year.into()));
                out
            }
            // 二〇二六年三月五日: the year digit by digit, month and day as
            // numbers.
            Self::Zh => {
                let mut out: Vec<String> = format!("{:04}", d.year)
                    .chars()
                    .map(|c| format!("digit-{c}"))
                    .collect();
                out.push(s("date-year"));
                out.extend(zh_number(d.month.into()));
                out.push(s("date-month"));
                out.extend(zh_number(d.day.into()));
                out.push(s("date-day"));
                out
            }
        }
    }

    fn time(self, hour: u8, minute: u8) -> Vec<String> {
        let hour12 = match hour % 12 {
            0 => 12,
            h => h,
        };
        let morning = hour < 12;
        match self {
            // "eight oh five a m", "twelve o'clock a m" for midnight.
            Self::En => {
                let mut out = en_number(hour12.into());
                match minute {
                    0 => out.push(s("time-oclock")),
                    1..=9 => {
                        out.push(s("time-oh"));
                        out.push(num(minute.into()));
                    }
                    _ => out.extend(en_number(minute.into())),
                }
                out.push(s(if morning { "time-am" } else { "time-pm" }));
                out
            }
            // 上午八点零五分; 两点, not 二点, for 2 o'clock.
            Self::Zh => {
                let mut out = vec![s(if morning {
                    "time-morning"
                } else {
                    "time-afternoon"
                })];
                if hour12 == 2 {
                    out.push(s("num-liang"));
                } else {
                    out.extend(zh_number(hour12.into()));
                }
                out.push(s("time-hour"));
                if minute > 0 {
                    if minute < 10 {
                        out.push(num(0));
                    }
                    out.extend(zh_number(minute.into()));
                    out.push(s("time-minute"));
                }
                out
            }
        }
    }
}

/// A decimal integer, leading zeros allowed, at most [`MAX_NUMBER`].
fn parse_number(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = value.trim_start_matches('0');
    if significant.len() > 12 {
        return None;
    }
    // At most 12 digits, so this neither overflows nor exceeds MAX_NUMBER.
    Some(significant.parse().unwrap_or(0))
}

/// Each key of a `0-9 * #` string, in order.
fn digits(value: &str) -> Option<Vec<String>> {
    value
        .chars()
        .map(|c| match c {
            '0'..='9' => Some(format!("digit-{c}")),
            '*' => Some(s("digit-star")),
            '#' => Some(s("digit-pound")),
            _ => None,
        })
        .collect()
}

/// Exactly `width` ASCII digits.
fn fixed_digits(text: &str, width: usize) -> Option<u16> {
    (text.len() == width && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD`, a real date of the proleptic Gregorian calendar, year 1
/// to 9999.
fn parse_date(value: &str) -> Option<Date> {
    let mut parts = value.split('-');
    let year = fixed_digits(parts.next()?, 4)?;
    let month = u8::try_from(fixed_digits(parts.next()?, 2)?).ok()?;
    let day = u8::try_from(fixed_digits(parts.next()?, 2)?).ok()?;
    if parts.next().is_some() || year == 0 {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days)
        .contains(&day)
        .then_some(Date { year, month, day })
}

/// `HH:MM`, 00:00 to 23:59.
fn parse_time(value: &str) -> Option<(u8, u8)> {
    let (h, m) = value.split_once(':')?;
    let hour = u8::try_from(fixed_digits(h, 2)?).ok()?;
    let minute = u8::try_from(fixed_digits(m, 2)?).ok()?;
    (hour < 24 && minute < 60).then_some((hour, minute))
}

/// English cardinal, groups of three with their scale word, no "and".
fn en_number(n: u64) -> Vec<String> {
    if n == 0 {
        return vec![num(0)];
    }
    let scales = [
        (1_000_000_000, Some("num-billion")),
        (1_000_000, Some("num-million")),
        (1_000, Some("num-thousand")),
        (1, None),
    ];
    let mut out = Vec::new();
    for (size, scale) in scales {
        let group = n / size % 1000;
        if group == 0 {
            continue;
        }
        if group >= 100 {
            out.push(num(group / 100));
            out.push(s("num-hundred"));
        }
        match group % 100 {
            0 => {}
            r @ 1..=19 => out.push(num(r)),
            r => {
                out.push(num(r / 10 * 10));
                if r % 10 != 0 {
                    out.push(num(r % 10));
                }
            }
        }
        out.extend(scale.map(s));
    }
    out
}

/// Mandarin place names within a group of four digits, ones first.
const ZH_PLACES: [Option<&str>; 4] = [
    None,
    Some("num-10"),
    Some("num-hundred"),
    Some("num-thousand"),
];

/// Mandarin cardinal up to 9999亿9999万9999 (see the module docs for the
/// rules).
fn zh_number(n: u64) -> Vec<String> {
    if n == 0 {
        return vec![num(0)];
    }
    let groups = [
        (n / 100_000_000, Some("num-hundred-million")),
        (n / 10_000 % 10_000, Some("num-ten-thousand")),
        (n % 10_000, None),
    ];
    let mut out: Vec<String> = Vec::new();
    // A zero was passed since the last digit said: the next digit said is
    // preceded by one 零. A group's 万 or 亿 swallows the zeros before it
    // (10001000 is 一千万一千).
    let mut zero_pending = false;
    for (group, marker) in groups {
        if group == 0 {
            zero_pending |= !out.is_empty();
            continue;
        }
        for place in (0..4u32).rev() {
            let digit = group / 10u64.pow(place) % 10;
            if digit == 0 {
                zero_pending |= !out.is_empty();
                continue;
            }
            if zero_pending {
                out.push(num(0));
                zero_pending = false;
            }
            let liang = digit == 2 && (place >= 2 || (group == 2 && marker.is_some()));
            // 十二, not 一十二, when it opens the number.
            let bare_ten = digit == 1 && place == 1 && out.is_empty();
            if liang {
                out.push(s("num-liang"));
            } else if !bare_ten {
                out.push(num(digit));
            }
            if let Some(unit) = ZH_PLACES.get(place as usize).copied().flatten() {
                out.push(s(unit));
            }
        }
        if let Some(marker) = marker {
            out.push(s(marker));
            zero_pending = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `say`, with the names joined by spaces and `num-`/`digit-` dropped
    /// for readability.
    fn said(lang: &str, how: SayAs, value: &str) -> String {
        say(lang, how, value)
            .unwrap()
            .iter()
            .map(|n| {
                n.strip_prefix("num-")
                    .or_else(|| n.strip_prefix("digit-"))
                    .unwrap_or(n)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A Mandarin reading in characters, to compare with how it is written.
    fn hanzi(names: &[String]) -> String {
        names
            .iter()
            .map(|n| match n.as_str() {
                "num-0" | "digit-0" => "零",
                "num-1" | "digit-1" => "一",
                "num-2" | "digit-2" => "二",
                "num-3" | "digit-3" => "三",
                "num-4" | "digit-4" => "四",
                "num-5" | "digit-5" => "五",
                "num-6" | "digit-6" => "六",
                "num-7" | "digit-7" => "七",
                "num-8" | "digit-8" => "八",
                "num-9" | "digit-9" => "九",
                "num-10" => "十",
                "num-liang" => "两",
                "num-hundred" => "百",
                "num-thousand" => "千",
                "num-ten-thousand" => "万",
                "num-hundred-million" => "亿",
                "date-year" => "年",
                "date-month" => "月",
                "date-day" => "日",
                "time-morning" => "上午",
                "time-afternoon" => "下午",
                "time-hour" => "点",
                "time-minute" => "分",
                other => panic!("no character for {other}"),
            })
            .collect()
    }

    fn zh(how: SayAs, value: &str) -> String {
        hanzi(&say("zh", how, value).unwrap())
    }

    #[test]
    fn english_numbers() {
        let n = |v| said("en", SayAs::Number, v);
        assert_eq!(n("0"), "0");
        assert_eq!(n("000"), "0");
        assert_eq!(n("7"), "7");
        assert_eq!(n("007"), "7");
        assert_eq!(n("10"), "10");
        assert_eq!(n("12"), "12");
        assert_eq!(n("19"), "19");
        assert_eq!(n("20"), "20");
        assert_eq!(n("99"), "90 9");
        assert_eq!(n("100"), "1 hundred");
        assert_eq!(n("101"), "1 hundred 1");
        assert_eq!(n("110"), "1 hundred 10");
        assert_eq!(n("200"), "2 hundred");
        assert_eq!(n("1005"), "1 thousand 5");
        assert_eq!(n("1234"), "1 thousand 2 hundred 30 4");
        assert_eq!(n("2000"), "2 thousand");
        assert_eq!(n("10010"), "10 thousand 10");
        assert_eq!(n("20000"), "20 thousand");
        assert_eq!(n("100000000"), "1 hundred million");
        assert_eq!(n("1000001"), "1 million 1");
        assert_eq!(
            n("123456789012"),
            "1 hundred 20 3 billion 4 hundred 50 6 million 7 hundred 80 9 thousand 12"
        );
        assert_eq!(
            n("999999999999"),
            "9 hundred 90 9 billion 9 hundred 90 9 million 9 hundred 90 9 thousand 9 hundred 90 9"
        );
    }

    #[test]
    fn mandarin_numbers() {
        let n = |v| zh(SayAs::Number, v);
        let cases = [
            ("0", "零"),
            ("00", "零"),
            ("2", "二"),
            ("7", "七"),
            ("10", "十"),
            ("12", "十二"),
            ("20", "二十"),
            ("22", "二十二"),
            ("99", "九十九"),
            ("100", "一百"),
            ("101", "一百零一"),
            ("110", "一百一十"),
            ("112", "一百一十二"),
            ("200", "两百"),
            ("220", "两百二十"),
            ("1005", "一千零五"),
            ("1050", "一千零五十"),
            ("1200", "一千两百"),
            ("2000", "两千"),
            ("2002", "两千零二"),
            ("10000", "一万"),
            ("10010", "一万零一十"),
            ("10100", "一万零一百"),
            ("12000", "一万两千"),
            ("20000", "两万"),
            ("22000", "两万两千"),
            ("100000", "十万"),
            ("120000", "十二万"),
            ("150000", "十五万"),
            ("220000", "二十二万"),
            ("1000000", "一百万"),
            ("3020000", "三百零二万"),
            ("10001000", "一千万一千"),
            ("10000100", "一千万零一百"),
            ("100000000", "一亿"),
            ("100000001", "一亿零一"),
            ("100010000", "一亿零一万"),
            ("100100000", "一亿零一十万"),
            ("120000005", "一亿两千万零五"),
            ("200000000", "两亿"),
            ("200020000", "两亿零两万"),
            ("1000000000", "十亿"),
            ("1200000000", "十二亿"),
            (
                "123456789012",
                "一千两百三十四亿五千六百七十八万九千零一十二",
            ),
            (
                "999999999999",
                "九千九百九十九亿九千九百九十九万九千九百九十九",
            ),
        ];
        for (value, want) in cases {
            assert_eq!(n(value), want, "{value}");
        }
    }

    #[test]
    fn digits_one_by_one() {
        assert_eq!(said("en", SayAs::Digits, "0105*#"), "0 1 0 5 star pound");
        assert_eq!(
            say("zh", SayAs::Digits, "12").unwrap(),
            ["digit-1", "digit-2"]
        );
        assert_eq!(say("en", SayAs::Digits, "").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn english_dates() {
        assert_eq!(
            said("en", SayAs::Date, "2026-03-05"),
            "month-3 5 2 thousand 20 6"
        );
        assert_eq!(
            said("en", SayAs::Date, "1999-12-31"),
            "month-12 30 1 1 thousand 9 hundred 90 9"
        );
        assert_eq!(
            said("en", SayAs::Date, "2024-02-29"),
            "month-2 20 9 2 thousand 20 4"
        );
    }

    #[test]
    fn mandarin_dates() {
        assert_eq!(zh(SayAs::Date, "2026-03-05"), "二零二六年三月五日");
        assert_eq!(zh(SayAs::Date, "2000-12-31"), "二零零零年十二月三十一日");
        assert_eq!(zh(SayAs::Date, "2025-02-02"), "二零二五年二月二日");
        assert_eq!(zh(SayAs::Date, "2025-10-20"), "二零二五年十月二十日");
    }

    #[test]
    fn english_times() {
        let t = |v| said("en", SayAs::Time, v);
        assert_eq!(t("00:00"), "12 time-oclock time-am");
        assert_eq!(t("08:05"), "8 time-oh 5 time-am");
        assert_eq!(t("11:59"), "11 50 9 time-am");
        assert_eq!(t("12:00"), "12 time-oclock time-pm");
        assert_eq!(t("12:30"), "12 30 time-pm");
        assert_eq!(t("13:10"), "1 10 time-pm");
        assert_eq!(t("23:59"), "11 50 9 time-pm");
    }

    #[test]
    fn mandarin_times() {
        let t = |v| zh(SayAs::Time, v);
        assert_eq!(t("00:00"), "上午十二点");
        assert_eq!(t("02:00"), "上午两点");
        assert_eq!(t("08:05"), "上午八点零五分");
        assert_eq!(t("08:02"), "上午八点零二分");
        assert_eq!(t("10:10"), "上午十点十分");
        assert_eq!(t("12:00"), "下午十二点");
        assert_eq!(t("12:30"), "下午十二点三十分");
        assert_eq!(t("14:20"), "下午两点二十分");
        assert_eq!(t("23:59"), "下午十一点五十九分");
    }

    #[test]
    fn bad_values() {
        let err = |lang, how, v| say(lang, how, v).unwrap_err();
        for v in [
            "",
            "-1",
            "1.5",
            "1 000",
            "+5",
            "1000000000000",
            "abc",
            "１２",
        ] {
            assert!(
                matches!(
                    err("en", SayAs::Number, v),
                    SayError::Invalid {
                        how: SayAs::Number,
                        ..
                    }
                ),
                "{v:?}"
            );
        }
        // Leading zeros do not count against the twelve digits.
        assert!(say("en", SayAs::Number, "0000999999999999").is_ok());
        for v in ["12a", "+1", " 1", "A"] {
            assert!(say("zh", SayAs::Digits, v).is_err(), "{v:?}");
        }
        for v in [
            "2026-02-29",
            "2023-02-29",
            "1900-02-29",
            "2026-04-31",
            "2026-13-01",
            "2026-00-10",
            "2026-01-00",
            "0000-01-01",
            "2026-1-05",
            "26-01-05",
            "2026/01/05",
            "2026-01-05-",
            "2026-01-05T00:00",
            "",
        ] {
            assert!(say("en", SayAs::Date, v).is_err(), "{v:?}");
        }
        assert!(say("en", SayAs::Date, "2000-02-29").is_ok());
        assert!(say("en", SayAs::Date, "2024-02-29").is_ok());
        for v in [
            "24:00", "12:60", "8:05", "08:5", "0805", "08:05:00", "-1:00", "", "ab:cd",
        ] {
            assert!(say("zh", SayAs::Time, v).is_err(), "{v:?}");
        }
        assert_eq!(
            err("en", SayAs::Date, "2026-02-30").to_string(),
            "cannot say \"2026-02-30\" as a date: expected a date that exists, as YYYY-MM-DD"
        );
        assert_eq!(
            err("en", SayAs::Number, "12x").to_string(),
            "cannot say \"12x\" as a number: expected a whole number from 0 to 999999999999, digits only"
        );
        assert_eq!(
            err("fr", SayAs::Number, "1"),
            SayError::UnsupportedLanguage("fr".into())
        );
        assert!(prompt_names("fr").is_none());
    }

    #[test]
    fn say_as_names() {
        for how in [SayAs::Number, SayAs::Digits, SayAs::Date, SayAs::Time] {
            assert_eq!(how.to_string().parse::<SayAs>().unwrap(), how);
        }
        assert_eq!(
            "Number".parse::<SayAs>().unwrap_err().to_string(),
            "unknown say-as \"Number\": expected number, digits, date or time"
        );
    }

    #[test]
    fn prompt_lists() {
        for lang in LANGUAGES {
            let names = prompt_names(lang).unwrap();
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "{lang}: duplicates");
        }
        assert_eq!(prompt_names("en").unwrap().len(), 12 + 28 + 12 + 8);
        assert_eq!(prompt_names("zh").unwrap().len(), 12 + 11 + 12);
    }

    #[test]
    fn every_name_has_a_row_in_the_prompt_table() {
        // The table scripts/make-prompts.sh records every row of, in both
        // languages; compiled in, so the test reads no file.
        const TABLE: &str = include_str!("../../ivr-flows/prompts/prompts.tsv");
        let rows: Vec<&str> = TABLE
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split('\t').next())
            .collect();
        for lang in LANGUAGES {
            for name in prompt_names(lang).unwrap() {
                assert!(rows.contains(&name.as_str()), "{lang}: no row for {name}");
            }
        }
    }

    /// Reads English prompt names back into the number.
    fn hear_en(names: &[String]) -> u64 {
        let (mut total, mut group) = (0, 0);
        for name in names {
            match name.as_str() {
                "num-hundred" => group *= 100,
                "num-thousand" => (total, group) = (total + group * 1_000, 0),
                "num-million" => (total, group) = (total + group * 1_000_000, 0),
                "num-billion" => (total, group) = (total + group * 1_000_000_000, 0),
                other => group += other.strip_prefix("num-").unwrap().parse::<u64>().unwrap(),
            }
        }
        total + group
    }

    /// Reads Mandarin prompt names back into the number.
    fn hear_zh(names: &[String]) -> u64 {
        let (mut total, mut group, mut digit) = (0, 0, 0);
        for name in names {
            match name.as_str() {
                "num-0" => {}
                "num-liang" => digit = 2,
                "num-10" => (group, digit) = (group + digit.max(1) * 10, 0),
                "num-hundred" => (group, digit) = (group + digit * 100, 0),
                "num-thousand" => (group, digit) = (group + digit * 1000, 0),
                "num-ten-thousand" => {
                    (total, group, digit) = (total + (group + digit) * 10_000, 0, 0);
                }
                "num-hundred-million" => {
                    (total, group, digit) = (total + (group + digit) * 100_000_000, 0, 0);
                }
                other => digit = other.strip_prefix("num-").unwrap().parse::<u64>().unwrap(),
            }
        }
        total + group + digit
    }

    fn date() -> impl Strategy<Value = String> {
        (1u16..=9999, 1u8..=12, 1u8..=31)
            .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
            .prop_filter("real date", |v| parse_date(v).is_some())
    }

    proptest! {
        #[test]
        fn names_are_all_listed(n in 0..=MAX_NUMBER, d in date(), h in 0u8..24, m in 0u8..60, keys in "[0-9*#]{0,12}") {
            for lang in LANGUAGES {
                let known = prompt_names(lang).unwrap();
                let values = [
                    (SayAs::Number, n.to_string()),
                    (SayAs::Digits, keys.clone()),
                    (SayAs::Date, d.clone()),
                    (SayAs::Time, format!("{h:02}:{m:02}")),
                ];
                for (how, value) in values {
                    for name in say(lang, how, &value).unwrap() {
                        prop_assert!(known.contains(&name), "{lang} {how} {value}: {name}");
                    }
                }
            }
        }

        #[test]
        fn numbers_read_back(n in prop_oneof![0..=MAX_NUMBER, 0..100_000u64, (0..12u32, 0..10u64).prop_map(|(p, d)| d * 10u64.pow(p) + d)]) {
            let value = n.to_string();
            let en = say("en", SayAs::Number, &value).unwrap();
            prop_assert_eq!(hear_en(&en), n);
            let zh = say("zh", SayAs::Number, &value).unwrap();
            prop_assert_eq!(hear_zh(&zh), n, "{}", hanzi(&zh));
            // One 零 at a time, never at the end, never 一十 at the start.
            if n != 0 {
                prop_assert!(!zh.windows(2).any(|w| w[0] == "num-0" && w[1] == "num-0"));
                prop_assert!(zh.last().is_some_and(|l| l != "num-0"));
                prop_assert!(zh.first().is_some_and(|f| f != "num-0"));
                prop_assert!(!zh.starts_with(&[s("num-1"), s("num-10")]));
            }
        }

        #[test]
        fn leading_zeros_are_ignored(n in 0..=MAX_NUMBER, zeros in 0usize..5) {
            let padded = format!("{}{n}", "0".repeat(zeros));
            for lang in LANGUAGES {
                prop_assert_eq!(say(lang, SayAs::Number, &padded), say(lang, SayAs::Number, &n.to_string()));
            }
        }
    }
}
