//! Business hours and holiday calendars: whether a line is open at an instant.
//!
//! Owns the weekly opening hours of one time zone ([`WeekHours`]), the
//! holiday calendar that overrides them ([`Calendar`]) and their combination
//! ([`BusinessHours`]), which the IVR's time-condition node asks on every
//! call (and, later, outbound campaigns for their calling windows). Pure: no
//! clock and no file I/O. Instants come in as epoch milliseconds (UTC) and a
//! calendar file comes in as its text; the time zone database is the one
//! bundled into jiff, so the answer does not depend on the host.
//!
//! # Deciding whether we are open
//! The instant is turned into the local date and wall-clock time of the
//! configured zone; jiff does the zone math, so DST days come out right: on
//! a spring-forward day the skipped hour never happens (a span inside it is
//! never open), on a fall-back day the repeated hour happens twice (a span
//! inside it is open both times). Then, for that local date:
//! 1. a holiday: closed all day;
//! 2. a make-up workday: open with the hours of its `hours_of` weekday,
//!    whatever weekday the date falls on;
//! 3. any other day: that weekday's own hours.
//!
//! # Weekly hours
//! A list of `(days, hours)` entries, e.g. `("mon-fri", "08:00-20:00")`,
//! `("sat", "09:00-12:00,13:00-17:00")`, `("sun", "closed")`.
//! - days: `mon` `tue` `wed` `thu` `fri` `sat` `sun`, a range such as
//!   `mon-fri` (ranges wrap around the week: `fri-mon` is fri, sat, sun,
//!   mon) or `daily`. Case does not matter. A day named by two entries is an
//!   error; a day named by none is closed.
//! - hours: `closed`, or comma-separated spans `HH:MM-HH:MM` (the hour may
//!   be one digit). A span is open from its start up to, not including, its
//!   end; `24:00` is allowed as an end. A span must end after it starts:
//!   there are no overnight spans, an evening-to-morning shift is written as
//!   `20:00-24:00` on one day and `00:00-08:00` on the next. Spans may touch
//!   (`08:00-12:00,12:00-17:00`) but not overlap.
//!
//! # Calendar files
//! TOML, with two kinds of entries and nothing else at the top level:
//! ```toml
//! [[holiday]]              # closed all day, whatever the weekly hours say
//! date = "2026-10-01"      # required
//! until = "2026-10-07"     # optional, inclusive; at most 366 days in all
//! name = "National Day"    # optional, for the reader
//!
//! [[workday]]              # a make-up working day (China's 调休)
//! date = "2026-10-10"      # required
//! hours_of = "fri"         # optional, default "mon": open with that
//!                          # weekday's hours, even on a weekend
//! name = "National Day make-up day"
//! ```
//! Dates are `YYYY-MM-DD`, as strings or as bare TOML dates
//! (`date = 2026-10-01`). Holidays may overlap each other. Errors, each
//! reported as `NAME:LINE: message` for the first offending line: invalid
//! TOML, an unknown key (at the top level or in an entry), a missing `date`,
//! a value of the wrong type, a malformed or non-existent date, `until`
//! before `date` or more than [`MAX_HOLIDAY_DAYS`] after it, an unknown
//! `hours_of`, a date that is both a holiday and a workday, a workday listed
//! twice, and more than [`MAX_ENTRIES`] entries.
//!
//! # Invariants
//! A weekday's spans are sorted, non-empty and disjoint (they may touch), so
//! at most one span can hold a given minute and evaluation is a binary
//! search over a handful of spans. A [`Calendar`]'s closed ranges are
//! sorted and disjoint; its workdays are sorted, unique and fall on no
//! holiday, so the three rules above never compete.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Most entries (holidays and workdays together) a calendar file may hold:
/// a real one holds a few dozen a year, so more is surely a generated or
/// corrupted file.
pub const MAX_ENTRIES: usize = 10_000;

/// Longest holiday, in days including both ends: a longer one is almost
/// always a mistyped year in `until`.
pub const MAX_HOLIDAY_DAYS: i32 = 366;

/// How far [`BusinessHours::add_open_time`] looks, in days of real time,
/// before deciding the calendar never opens enough.
pub const MAX_OPEN_TIME_SEARCH_DAYS: i64 = 400;

/// Minutes in a day: the end of a span that runs to midnight (`24:00`).
const DAY_MINUTES: u16 = 24 * 60;

/// Day keys, Monday first (jiff's "Monday zero offset" order).
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

const EXPECTED_DAY: &str =
    "expected mon, tue, wed, thu, fri, sat or sun, a range such as \"mon-fri\", or \"daily\"";

/// Why business hours or a calendar were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The time zone is not in the bundled IANA database.
    #[error("unknown time zone {name:?}: expected an IANA name such as \"Asia/Shanghai\"")]
    UnknownTimeZone {
        /// The name as given.
        name: String,
    },
    /// A day key of the weekly hours is not understood.
    #[error("bad day {key:?} in the weekly hours: {reason}")]
    BadDay {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two entries of the weekly hours name the same day.
    #[error("{day} is named twice in the weekly hours, by {first:?} and {second:?}")]
    DayTwice {
        /// The day named twice (`mon` ... `sun`).
        day: &'static str,
        /// The first entry's key.
        first: String,
        /// The second entry's key.
        second: String,
    },
    /// The hours of an entry of the weekly hours are not understood.
    #[error("bad hours {hours:?} for {key:?}: {reason}")]
    BadHours {
        /// The entry's day key.
        key: String,
        /// The hours as given.
        hours: String,
        /// What is wrong with them.
        reason: String,
    },
    /// A calendar file is refused.
    #[error("{name}:{line}: {message}")]
    File {
        /// The name the file was parsed under (usually its path).
        name: String,
        /// The 1-based line of the first problem.
        line: usize,
        /// What is wrong there.
        message: String,
    },
}

/// One opening span within a day, in minutes since local midnight: open
/// from `start` up to, not including, `end`. `0 <= start < end <= 1440`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpenSpan {
    /// First open minute.
    pub start: u16,
    /// First closed minute after the span (1440 for midnight).
    pub end: u16,
}

impl fmt::Display for OpenSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (start, end) = (self.start, self.end);
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            start / 60,
            start % 60,
            end / 60,
            end % 60
        )
    }
}

/// A week's opening spans, per weekday, ready to be evaluated per call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeekHours {
    /// Indexed Monday first; each sorted and disjoint (see the module doc).
    days: [Vec<OpenSpan>; 7],
}

impl WeekHours {
    /// Parses weekly hours: entries such as `("mon-fri", "08:00-20:00")`;
    /// see the module doc for the syntax. Days not named are closed.
    pub fn new(week: &[(&str, &str)]) -> Result<Self, CalendarError> {
        let mut days: [Vec<OpenSpan>; 7] = Default::default();
        let mut named_by: [Option<&str>; 7] = [None; 7];
        for &(key, hours) in week {
            let indices = parse_days(key).map_err(|reason| CalendarError::BadDay {
                key: key.to_owned(),
                reason,
            })?;
            let spans = parse_spans(hours).map_err(|reason| CalendarError::BadHours {
                key: key.to_owned(),
                hours: hours.to_owned(),
                reason,
            })?;
            for i in indices {
                if let Some(first) = named_by[i] {
                    return Err(CalendarError::DayTwice {
                        day: DAY_NAMES[i],
                        first: first.to_owned(),
                        second: key.to_owned(),
                    });
                }
                named_by[i] = Some(key);
                days[i].clone_from(&spans);
            }
        }
        Ok(Self { days })
    }

    /// Whether the hours of `weekday` are open at wall-clock `time`
    /// (seconds and below are ignored: spans start and end on minutes).
    #[must_use]
    pub fn is_open(&self, weekday: Weekday, time: Time) -> bool {
        let minute = minute_of_day(time);
        let spans = &self.days[day_index(weekday)];
        // Spans are sorted and disjoint, so only the last one starting at or
        // before `minute` can hold it.
        let after = spans.partition_point(|span| span.start <= minute);
        after > 0 && minute < spans[after - 1].end
    }

    /// The opening spans of `weekday`, in order (empty when closed).
    #[must_use]
    pub fn spans(&self, weekday: Weekday) -> &[OpenSpan] {
        &self.days[day_index(weekday)]
    }
}

fn day_index(weekday: Weekday) -> usize {
    // Monday is 0 and Sunday 6, so the cast cannot wrap.
    weekday.to_monday_zero_offset() as usize
}

fn minute_of_day(time: Time) -> u16 {
    // hour() is 0..=23 and minute() 0..=59, so the casts cannot wrap.
    time.hour() as u16 * 60 + time.minute() as u16
}

fn parse_day(name: &str) -> Option<usize> {
    DAY_NAMES
        .iter()
        .position(|day| day.eq_ignore_ascii_case(name.trim()))
}

/// The weekday indices a day key names.
fn parse_days(key: &str) -> Result<Vec<usize>, &'static str> {
    let key = key.trim();
    if key.eq_ignore_ascii_case("daily") {
        return Ok((0..7).collect());
    }
    if let Some(day) = parse_day(key) {
        return Ok(vec![day]);
    }
    let (first, last) = key
        .split_once('-')
        .and_then(|(first, last)| Some((parse_day(first)?, parse_day(last)?)))
        .ok_or(EXPECTED_DAY)?;
    if first == last {
        // "mon-mon" could mean one day or the whole week: make the writer say.
        return Err("a range from a day to itself: name the day alone, or write \"daily\"");
    }
    let len = (last + 7 - first) % 7 + 1;
    Ok((0..len).map(|k| (first + k) % 7).collect())
}

/// Parses `HH:MM` (or `H:MM`) into minutes since midnight; `24:00` only
/// when `end`.
fn parse_time(text: &str, end: bool) -> Result<u16, String> {
    let bad = || {
        let or_midnight = if end { " or 24:00" } else { "" };
        format!("bad time {text:?}: expected HH:MM from 00:00 to 23:59{or_midnight}")
    };
    let (hour, minute) = text.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str| -> Option<u16> {
        s.bytes().try_fold(0u16, |n, b| {
            b.is_ascii_digit().then(|| n * 10 + u16::from(b - b'0'))
        })
    };
    if !(1..=2).contains(&hour.len()) || minute.len() != 2 {
        return Err(bad());
    }
    let (hour, minute) = (
        digits(hour).ok_or_else(bad)?,
        digits(minute).ok_or_else(bad)?,
    );
    let minutes = hour * 60 + minute;
    if minute >= 60 || minutes > DAY_MINUTES || (minutes == DAY_MINUTES && !end) {
        return Err(bad());
    }
    Ok(minutes)
}

/// Parses `closed` or comma-separated `HH:MM-HH:MM` spans, sorted.
fn parse_spans(hours: &str) -> Result<Vec<OpenSpan>, String> {
    let hours = hours.trim();
    if hours.eq_ignore_ascii_case("closed") {
        return Ok(Vec::new());
    }
    let mut spans = Vec::new();
    for piece in hours.split(',') {
        let piece = piece.trim();
        let (start, end) = piece
            .split_once('-')
            .ok_or_else(|| format!("bad span {piece:?}: expected HH:MM-HH:MM, or \"closed\""))?;
        let (start, end) = (
            parse_time(start.trim(), false)?,
            parse_time(end.trim(), true)?,
        );
        if end == start {
            return Err(format!("span {piece:?} is empty"));
        }
        if end < start {
            return Err(format!(
                "span {piece:?} ends before it starts: overnight spans are not allowed, \
                 split it at midnight over two days (\"..-24:00\" and \"00:00-..\")"
            ));
        }
        spans.push(OpenSpan { start, end });
    }
    spans.sort_unstable();
    if let Some(pair) = spans.windows(2).find(|pair| pair[1].start < pair[0].end) {
        return Err(format!("spans {} and {} overlap", pair[0], pair[1]));
    }
    Ok(spans)
}

/// A holiday calendar: dates closed all day, and make-up working days
/// (China's 调休: a weekend day worked, with a given weekday's hours).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    /// Closed date ranges, inclusive, sorted and disjoint (overlapping
    /// holidays are merged).
    closed: Vec<(Date, Date)>,
    /// Make-up workdays and the weekday whose hours they follow, sorted by
    /// date, unique, none on a holiday.
    workdays: Vec<(Date, Weekday)>,
}

/// What a calendar says about one date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayRule {
    Holiday,
    Workday(Weekday),
    Ordinary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Holiday,
    Workday,
}

impl EntryKind {
    fn key(self) -> &'static str {
        match self {
            Self::Holiday => "holiday",
            Self::Workday => "workday",
        }
    }

    fn allowed_keys(self) -> &'static str {
        match self {
            Self::Holiday => "date, until, name",
            Self::Workday => "date, hours_of, name",
        }
    }
}

/// A holiday as read, with the line of its `date` for later messages.
struct HolidayEntry {
    first: Date,
    last: Date,
    line: usize,
}

/// A workday as read, with the line of its `date`.
struct WorkdayEntry {
    date: Date,
    hours_of: Weekday,
    line: usize,
}

/// Turns spans of the text into errors naming its line.
struct Source<'a> {
    name: &'a str,
    /// Byte offsets of the text's newlines, so that finding the line of
    /// each of thousands of entries is a binary search, not a rescan.
    newlines: Vec<usize>,
}

impl<'a> Source<'a> {
    fn new(name: &'a str, text: &str) -> Self {
        let newlines = text.bytes().enumerate().filter(|&(_, b)| b == b'\n');
        Self {
            name,
            newlines: newlines.map(|(at, _)| at).collect(),
        }
    }

    fn line(&self, span: &Range<usize>) -> usize {
        self.newlines.partition_point(|&at| at < span.start) + 1
    }

    fn error(&self, span: &Range<usize>, message: impl Into<String>) -> CalendarError {
        self.at_line(self.line(span), message)
    }

    fn at_line(&self, line: usize, message: impl Into<String>) -> CalendarError {
        CalendarError::File {
            name: self.name.to_owned(),
            line,
            message: message.into(),
        }
    }

    fn date(&self, field: &str, value: &Spanned<DeValue<'_>>) -> Result<Date, CalendarError> {
        let error = |message: String| self.error(&value.span(), message);
        match value.get_ref() {
            DeValue::String(text) => parse_date(text)
                .map_err(|reason| error(format!("bad `{field}` {:?}: {reason}", &**text))),
            DeValue::Datetime(datetime) => match (datetime.date, datetime.time, datetime.offset) {
                (Some(date), None, None) => {
                    // TOML dates have four-digit years and two-digit months
                    // and days, so the casts cannot wrap.
                    Date::new(date.year as i16, date.month as i8, date.day as i8)
                        .map_err(|_| error(format!("bad `{field}` {datetime}: no such date")))
                }
                _ => Err(error(format!(
                    "`{field}` must be a date without a time, not {datetime}"
                ))),
            },
            other => Err(error(format!(
                "`{field}` must be a date such as \"2026-10-01\" (found {})",
                other.type_str()
            ))),
        }
    }

    fn string<'v>(
        &self,
        field: &str,
        value: &'v Spanned<DeValue<'_>>,
    ) -> Result<&'v str, CalendarError> {
        match value.get_ref() {
            DeValue::String(text) => Ok(text),
            other => Err(self.error(
                &value.span(),
                format!("`{field}` must be a string (found {})", other.type_str()),
            )),
        }
    }

    fn entry(
        &self,
        kind: EntryKind,
        item: &Spanned<DeValue<'_>>,
        holidays: &mut Vec<HolidayEntry>,
        workdays: &mut Vec<WorkdayEntry>,
    ) -> Result<(), CalendarError> {
        let DeValue::Table(table) = item.get_ref() else {
            return Err(self.error(
                &item.span(),
                format!("each `{}` must be a table with a `date`", kind.key()),
            ));
        };
        // The table iterates in key order; report problems in file order.
        let mut fields: Vec<_> = table.iter().collect();
        fields.sort_by_key(|(key, _)| key.span().start);
        let (mut date, mut until, mut hours_of) = (None, None, None);
        for (key, value) in fields {
            match (kind, key.get_ref().as_ref()) {
                (_, "date") => date = Some((self.date("date", value)?, value.span())),
                (EntryKind::Holiday, "until") => {
                    until = Some((self.date("until", value)?, value.span()));
                }
                (EntryKind::Workday, "hours_of") => {
                    let text = self.string("hours_of", value)?;
                    let day = parse_day(text).ok_or_else(|| {
                        self.error(
                            &value.span(),
                            format!(
                                "bad `hours_of` {text:?}: expected mon, tue, wed, thu, fri, sat or sun"
                            ),
                        )
                    })?;
                    hours_of = Some(WEEKDAYS[day]);
                }
                // Only for the reader, but a non-string is surely a mistake.
                (_, "name") => _ = self.string("name", value)?,
                (_, other) => {
                    return Err(self.error(
                        &key.span(),
                        format!(
                            "unknown key `{other}` in [[{}]]: expected {}",
                            kind.key(),
                            kind.allowed_keys()
                        ),
                    ));
                }
            }
        }
        let Some((date, date_span)) = date else {
            return Err(self.error(&item.span(), format!("[[{}]] without a `date`", kind.key())));
        };
        let line = self.line(&date_span);
        match kind {
            EntryKind::Holiday => {
                let last = match until {
                    None => date,
                    Some((last, span)) => {
                        if last < date {
                            return Err(self
                                .error(&span, format!("`until` {last} is before `date` {date}")));
                        }
                        let days = date.until(last).map_or(i32::MAX, |span| span.get_days()) + 1;
                        if days > MAX_HOLIDAY_DAYS {
                            return Err(self.error(
                                &span,
                                format!(
                                    "holiday from {date} until {last} lasts {days} days, \
                                     more than {MAX_HOLIDAY_DAYS}: check `until`"
                                ),
                            ));
                        }
                        last
                    }
                };
                holidays.push(HolidayEntry {
                    first: date,
                    last,
                    line,
                });
            }
            EntryKind::Workday => workdays.push(WorkdayEntry {
                date,
                hours_of: hours_of.unwrap_or(Weekday::Monday),
                line,
            }),
        }
        Ok(())
    }
}

/// Parses exactly `YYYY-MM-DD` (jiff's own parser would also take other
/// ISO 8601 forms, which a hand-written calendar should not contain).
fn parse_date(text: &str) -> Result<Date, &'static str> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err("expected YYYY-MM-DD");
    }
    let number = |range: Range<usize>| {
        bytes[range]
            .iter()
            .fold(0i16, |n, &b| n * 10 + i16::from(b - b'0'))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    // Month and day have two digits, so they fit in i8.
    Date::new(year, month as i8, day as i8).map_err(|_| "no such date")
}

impl Calendar {
    /// Parses a calendar file's text (TOML, see the module doc). `name`
    /// (usually the file's path) starts every error message, followed by
    /// the line of the first problem.
    pub fn parse(name: &str, text: &str) -> Result<Self, CalendarError> {
        let source = Source::new(name, text);
        let root = DeTable::parse(text).map_err(|error| {
            // A syntax error without a position is one at the end of input.
            let span = error.span().unwrap_or(text.len()..text.len());
            source.error(&span, format!("invalid TOML: {}", error.message()))
        })?;

        // Top level: report the first problem in file order, not key order.
        let mut entries = Vec::new();
        let mut top_problem: Option<(Range<usize>, String)> = None;
        for (key, value) in root.get_ref() {
            let problem = match key.get_ref().as_ref() {
                kind @ ("holiday" | "workday") => {
                    let kind = if kind == "holiday" {
                        EntryKind::Holiday
                    } else {
                        EntryKind::Workday
                    };
                    match value.get_ref() {
                        DeValue::Array(items) => {
                            entries.extend(items.iter().map(|item| (kind, item)));
                            continue;
                        }
                        _ => (
                            value.span(),
                            format!(
                                "`{0}` must be an array of tables: write [[{0}]]",
                                kind.key()
                            ),
                        ),
                    }
                }
                other => (
                    key.span(),
                    format!(
                        "unknown key `{other}`: a calendar has only [[holiday]] and [[workday]] entries"
                    ),
                ),
            };
            if top_problem
                .as_ref()
                .is_none_or(|(span, _)| problem.0.start < span.start)
            {
                top_problem = Some(problem);
            }
        }
        if let Some((span, message)) = top_problem {
            return Err(source.error(&span, message));
        }

        entries.sort_by_key(|(_, item)| item.span().start);
        if let Some((_, item)) = entries.get(MAX_ENTRIES) {
            return Err(source.error(
                &item.span(),
                format!(
                    "too many entries: a calendar holds at most {MAX_ENTRIES} holidays and workdays together"
                ),
            ));
        }
        let mut holidays = Vec::new();
        let mut workdays = Vec::new();
        for (kind, item) in entries {
            source.entry(kind, item, &mut holidays, &mut workdays)?;
        }

        // Checks across entries: collect them all and report the first line.
        let mut problems: Vec<(usize, String)> = Vec::new();
        workdays.sort_by_key(|workday| (workday.date, workday.line));
        for pair in workdays.windows(2) {
            if pair[0].date == pair[1].date {
                let message = format!(
                    "{} is already a workday (line {})",
                    pair[1].date, pair[0].line
                );
                problems.push((pair[1].line, message));
            }
        }
        holidays.sort_by_key(|holiday| (holiday.first, holiday.line));
        // Sweep: among the holidays starting on or before a workday, the one
        // lasting longest covers it if any does.
        let mut started = 0;
        let mut longest: Option<&HolidayEntry> = None;
        for workday in &workdays {
            while let Some(holiday) = holidays.get(started).filter(|h| h.first <= workday.date) {
                if longest.is_none_or(|l| holiday.last > l.last) {
                    longest = Some(holiday);
                }
                started += 1;
            }
            if let Some(holiday) = longest.filter(|h| h.last >= workday.date) {
                let message = format!(
                    "{} is both a workday and a holiday (line {})",
                    workday.date, holiday.line
                );
                problems.push((workday.line, message));
            }
        }
        if let Some((line, message)) = problems.into_iter().min_by_key(|(line, _)| *line) {
            return Err(source.at_line(line, message));
        }

        let mut closed: Vec<(Date, Date)> = Vec::with_capacity(holidays.len());
        for holiday in &holidays {
            match closed.last_mut() {
                Some((_, last)) if holiday.first <= *last => *last = (*last).max(holiday.last),
                _ => closed.push((holiday.first, holiday.last)),
            }
        }
        Ok(Self {
            closed,
            workdays: workdays.iter().map(|w| (w.date, w.hours_of)).collect(),
        })
    }

    fn rule(&self, date: Date) -> DayRule {
        let after = self.closed.partition_point(|&(first, _)| first <= date);
        if after > 0 && date <= self.closed[after - 1].1 {
            return DayRule::Holiday;
        }
        match self.workdays.binary_search_by_key(&date, |&(day, _)| day) {
            Ok(i) => DayRule::Workday(self.workdays[i].1),
            Err(_) => DayRule::Ordinary,
        }
    }
}

/// Weekly opening hours in one time zone plus a holiday calendar.
#[derive(Debug, Clone)]
pub struct BusinessHours {
    zone: TimeZone,
    week: WeekHours,
    calendar: Calendar,
}

impl BusinessHours {
    /// `timezone`: an IANA name (`"Asia/Shanghai"`); `week`: entries such as
    /// `("mon-fri", "08:00-20:00")` (see the module doc); `calendar`:
    /// holidays and make-up workdays, `None` for none.
    pub fn new(
        timezone: &str,
        week: &[(&str, &str)],
        calendar: Option<Calendar>,
    ) -> Result<Self, CalendarError> {
        let zone = TimeZone::get(timezone).map_err(|_| CalendarError::UnknownTimeZone {
            name: timezone.to_owned(),
        })?;
        Ok(Self {
            zone,
            week: WeekHours::new(week)?,
            calendar: calendar.unwrap_or_default(),
        })
    }

    /// The start (epoch ms) of the local day `at_ms` falls in: the first
    /// instant of that date in the zone (a day cap's reset).
    #[must_use]
    pub fn day_start(&self, at_ms: i64) -> i64 {
        let date = self.civil(at_ms).date();
        self.zone
            .to_ambiguous_zoned(date.to_datetime(jiff::civil::Time::midnight()))
            .compatible()
            .map_or(at_ms - at_ms.rem_euclid(86_400_000), |z| {
                z.timestamp().as_millisecond()
            })
    }

    /// Whether we are open at this instant (epoch milliseconds, UTC).
    #[must_use]
    pub fn is_open(&self, at_ms: i64) -> bool {
        let local = self.civil(at_ms);
        let weekday = match self.calendar.rule(local.date()) {
            DayRule::Holiday => return false,
            DayRule::Workday(hours_of) => hours_of,
            DayRule::Ordinary => local.weekday(),
        };
        self.week.is_open(weekday, local.time())
    }

    /// The instant at which `duration` of open time has elapsed after
    /// `from_ms` (epoch ms), skipping closed hours, closed days and
    /// holidays; `from_ms` itself for a zero duration. `None` if that takes
    /// more than [`MAX_OPEN_TIME_SEARCH_DAYS`] days of real time (a calendar
    /// that never opens), or an instant outside jiff's range.
    ///
    /// Open time is counted exactly as [`BusinessHours::is_open`] answers,
    /// DST days included: it walks real time one day at a time, cut at
    /// every instant where the answer may change (each span boundary of
    /// each local date, local midnights and the zone's transitions), and
    /// adds up the pieces that are open.
    #[must_use]
    pub fn add_open_time(&self, from_ms: i64, duration: Duration) -> Option<i64> {
        const DAY_MS: i64 = 86_400_000;
        let mut left = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        if left == 0 {
            return Some(from_ms);
        }
        let mut t = from_ms;
        let limit = from_ms.checked_add(MAX_OPEN_TIME_SEARCH_DAYS * DAY_MS)?;
        Timestamp::from_millisecond(limit).ok()?;
        while t < limit {
            let end = (t + DAY_MS).min(limit);
            let mut cuts = self.cuts(t, end)?;
            cuts.push(end);
            cuts.sort_unstable();
            cuts.dedup();
            let mut start = t;
            for cut in cuts.into_iter().filter(|&cut| cut > t) {
                if self.is_open(start) {
                    if left <= cut - start {
                        return Some(start + left);
                    }
                    left -= cut - start;
                }
                start = cut;
            }
            t = end;
        }
        None
    }

    /// The instants in `(from_ms, to_ms)` where [`BusinessHours::is_open`]
    /// may change: every span boundary and midnight of the local dates
    /// around them (both readings of an ambiguous wall-clock time) and the
    /// zone's transitions (where a boundary in a DST gap takes effect).
    fn cuts(&self, from_ms: i64, to_ms: i64) -> Option<Vec<i64>> {
        let from = Timestamp::from_millisecond(from_ms).ok()?;
        let mut cuts: Vec<i64> = self
            .zone
            .following(from)
            .map(|transition| transition.timestamp().as_millisecond())
            .take_while(|&at| at < to_ms)
            .collect();
        let (first, last) = (self.civil(from_ms).date(), self.civil(to_ms).date());
        let mut date = first.yesterday().ok()?;
        while date <= last.tomorrow().ok()? {
            let weekday = match self.calendar.rule(date) {
                DayRule::Holiday => None,
                DayRule::Workday(hours_of) => Some(hours_of),
                DayRule::Ordinary => Some(date.weekday()),
            };
            let spans = weekday.map_or(&[][..], |weekday| self.week.spans(weekday));
            let minutes = spans.iter().flat_map(|span| [span.start, span.end]);
            for minute in std::iter::once(0).chain(minutes) {
                let Ok(at) = date
                    .to_datetime(Time::midnight())
                    .checked_add(jiff::SignedDuration::from_mins(i64::from(minute)))
                else {
                    continue;
                };
                let instants = self.zone.to_ambiguous_timestamp(at);
                for instant in [instants.earlier(), instants.later()].into_iter().flatten() {
                    let at = instant.as_millisecond();
                    if from_ms < at && at < to_ms {
                        cuts.push(at);
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        Some(cuts)
    }

    fn civil(&self, at_ms: i64) -> DateTime {
        // Instants beyond jiff's range (years -9999 to 9999) are clamped to
        // it rather than refused: this is asked per call and must answer.
        let instant = Timestamp::from_millisecond(at_ms).unwrap_or(if at_ms < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        });
        self.zone.to_datetime(instant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CN_2026: &str = include_str!("../../ivr-flows/calendars/cn-2026.toml");

    /// Epoch milliseconds of a wall-clock time in a zone (the earlier one if
    /// ambiguous).
    fn local_ms(zone: &str, civil: &str) -> i64 {
        let zone = TimeZone::get(zone).unwrap();
        let civil: DateTime = civil.parse().unwrap();
        civil.to_zoned(zone).unwrap().timestamp().as_millisecond()
    }

    /// Epoch milliseconds of an RFC 3339 instant.
    fn utc_ms(instant: &str) -> i64 {
        instant.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn shanghai(calendar: Option<Calendar>) -> BusinessHours {
        BusinessHours::new(
            "Asia/Shanghai",
            &[
                ("mon-fri", "08:00-20:00"),
                ("sat", "09:00-12:00,13:00-17:00"),
                ("sun", "closed"),
            ],
            calendar,
        )
        .unwrap()
    }

    fn file_error(text: &str) -> String {
        Calendar::parse("cal.toml", text).unwrap_err().to_string()
    }

    fn week_error(week: &[(&str, &str)]) -> String {
        WeekHours::new(week).unwrap_err().to_string()
    }

    #[test]
    fn weekday_edges_in_shanghai() {
        let hours = shanghai(None);
        let at = |civil: &str| hours.is_open(local_ms("Asia/Shanghai", civil));
        // Wednesday 2026-11-25.
        assert!(!at("2026-11-25T07:59:59.999"));
        assert!(at("2026-11-25T08:00"));
        assert!(at("2026-11-25T19:59:59.999"));
        assert!(!at("2026-11-25T20:00"));
        // 08:00 in Shanghai is midnight UTC.
        assert!(hours.is_open(utc_ms("2026-11-25T00:00:00Z")));
        assert!(!hours.is_open(utc_ms("2026-11-24T23:59:59.999Z")));
    }

    #[test]
    fn saturday_lunch_break_and_closed_sunday() {
        let hours = shanghai(None);
        let at = |civil: &str| hours.is_open(local_ms("Asia/Shanghai", civil));
        // Saturday 2026-11-28.
        assert!(!at("2026-11-28T08:59"));
        assert!(at("2026-11-28T09:00"));
        assert!(at("2026-11-28T11:59:59"));
        assert!(!at("2026-11-28T12:00"));
        assert!(!at("2026-11-28T12:59:59.999"));
        assert!(at("2026-11-28T13:00"));
        assert!(!at("2026-11-28T17:00"));
        // Sunday 2026-11-29.
        assert!(!at("2026-11-29T10:00"));
    }

    #[test]
    fn days_not_named_are_closed_and_ranges_wrap() {
        let hours = BusinessHours::new("UTC", &[("fri-mon", "00:00-24:00")], None).unwrap();
        // 2026-11-23 is a Monday.
        let open: Vec<bool> = (23..30)
            .map(|day| hours.is_open(utc_ms(&format!("2026-11-{day}T12:00:00Z"))))
            .collect();
        assert_eq!(open, [true, false, false, false, true, true, true]);
        // 24:00 runs to the very end of the day.
        assert!(hours.is_open(utc_ms("2026-11-23T23:59:59.999Z")));
        assert!(!hours.is_open(utc_ms("2026-11-24T00:00:00Z")));
    }

    #[test]
    fn day_keys_spans_and_case() {
        let week = WeekHours::new(&[("Daily", " 13:00-17:00 , 8:00-12:00,12:00-13:00 ")]).unwrap();
        for weekday in WEEKDAYS {
            let spans: Vec<String> = week.spans(weekday).iter().map(|s| s.to_string()).collect();
            assert_eq!(spans, ["08:00-12:00", "12:00-13:00", "13:00-17:00"]);
        }
        let noon = Time::new(12, 0, 0, 0).unwrap();
        assert!(week.is_open(Weekday::Sunday, noon));
        let week = WeekHours::new(&[("SAT-sun", "closed"), ("tue", "09:00-24:00")]).unwrap();
        assert!(week.spans(Weekday::Saturday).is_empty());
        assert!(week.spans(Weekday::Monday).is_empty());
        assert_eq!(week.spans(Weekday::Tuesday)[0].to_string(), "09:00-24:00");
        assert!(
            WeekHours::new(&[])
                .unwrap()
                .spans(Weekday::Monday)
                .is_empty()
        );
    }

    #[test]
    fn holidays_close_all_day() {
        let calendar = Calendar::parse("cn-2026.toml", CN_2026).unwrap();
        let hours = shanghai(Some(calendar));
        let at = |civil: &str| hours.is_open(local_ms("Asia/Shanghai", civil));
        // National Day, 2026-10-01 (Thursday) to 10-07 inclusive.
        assert!(!at("2026-09-30T23:59:59"), "after hours the day before");
        assert!(at("2026-09-30T19:00"));
        assert!(!at("2026-10-01T00:00"));
        assert!(!at("2026-10-01T10:00"));
        assert!(!at("2026-10-07T10:00"), "until is inclusive");
        assert!(at("2026-10-08T08:00"));
        // Spring Festival, 02-15 to 02-23 inclusive.
        assert!(!at("2026-02-17T10:00"));
        assert!(!at("2026-02-23T10:00"));
        assert!(at("2026-02-24T10:00"));
        // An ordinary Thursday is open.
        assert!(at("2026-10-15T10:00"));
    }

    #[test]
    fn make_up_workdays_follow_hours_of() {
        let calendar = Calendar::parse(
            "cal.toml",
            r#"
            [[workday]]
            date = "2026-10-10"   # a Saturday
            hours_of = "fri"

            [[workday]]
            date = 2026-09-20     # a Sunday, bare TOML date, default hours_of
            "#,
        )
        .unwrap();
        let hours = BusinessHours::new(
            "Asia/Shanghai",
            &[
                ("mon-thu", "08:00-20:00"),
                ("fri", "08:00-18:00"),
                ("sat", "10:00-12:00"),
            ],
            Some(calendar),
        )
        .unwrap();
        let at = |civil: &str| hours.is_open(local_ms("Asia/Shanghai", civil));
        // Saturday 10-10 works Friday's hours, not Saturday's.
        assert!(at("2026-10-10T08:00"));
        assert!(at("2026-10-10T17:59"));
        assert!(!at("2026-10-10T18:00"));
        // The next Saturday keeps Saturday's hours.
        assert!(!at("2026-10-17T08:00"));
        assert!(at("2026-10-17T10:00"));
        // Sunday 09-20 works Monday's hours; the next Sunday is closed.
        assert!(at("2026-09-20T19:59"));
        assert!(!at("2026-09-20T20:00"));
        assert!(!at("2026-09-27T10:00"));
    }

    #[test]
    fn cn_2026_make_up_days() {
        let hours = shanghai(Some(Calendar::parse("cn-2026.toml", CN_2026).unwrap()));
        let at = |civil: &str| hours.is_open(local_ms("Asia/Shanghai", civil));
        for date in [
            "2026-01-04",
            "2026-02-14",
            "2026-02-28",
            "2026-05-09",
            "2026-09-20",
            "2026-10-10",
        ] {
            assert!(at(&format!("{date}T19:00")), "{date} is a make-up workday");
        }
        for date in [
            "2026-01-01",
            "2026-01-02",
            "2026-04-06",
            "2026-05-05",
            "2026-06-19",
            "2026-09-25",
        ] {
            assert!(!at(&format!("{date}T10:00")), "{date} is a holiday");
        }
    }

    #[test]
    fn new_york_spring_forward() {
        // 2026-03-08 (Sunday): 02:00 EST jumps to 03:00 EDT at 07:00Z.
        let hours = BusinessHours::new(
            "America/New_York",
            &[("sun", "01:00-03:00,08:00-20:00"), ("mon", "08:00-20:00")],
            None,
        )
        .unwrap();
        // 01:00-03:00 lasts one real hour that day: 06:00Z to 07:00Z.
        assert!(!hours.is_open(utc_ms("2026-03-08T05:59:59Z")));
        assert!(hours.is_open(utc_ms("2026-03-08T06:00:00Z")));
        assert!(hours.is_open(utc_ms("2026-03-08T06:59:59.999Z")));
        assert!(!hours.is_open(utc_ms("2026-03-08T07:00:00Z")), "03:00 EDT");
        // 08:00 EDT is 12:00Z (it would be 13:00Z in winter).
        assert!(!hours.is_open(utc_ms("2026-03-08T11:59:59Z")));
        assert!(hours.is_open(utc_ms("2026-03-08T12:00:00Z")));
        assert!(
            hours.is_open(utc_ms("2026-03-08T23:59:59Z")),
            "19:59:59 EDT"
        );
        assert!(!hours.is_open(utc_ms("2026-03-09T00:00:00Z")), "20:00 EDT");
        // Monday 08:00 EDT.
        assert!(!hours.is_open(utc_ms("2026-03-09T11:59:00Z")));
        assert!(hours.is_open(utc_ms("2026-03-09T12:00:00Z")));
    }

    #[test]
    fn new_york_fall_back() {
        // 2026-11-01 (Sunday): 02:00 EDT falls back to 01:00 EST at 06:00Z.
        let hours = BusinessHours::new(
            "America/New_York",
            &[("sun", "01:00-02:00,08:00-20:00")],
            None,
        )
        .unwrap();
        // 01:00-02:00 happens twice: 05:00Z-06:00Z (EDT), 06:00Z-07:00Z (EST).
        assert!(!hours.is_open(utc_ms("2026-11-01T04:59:59Z")));
        assert!(hours.is_open(utc_ms("2026-11-01T05:00:00Z")));
        assert!(hours.is_open(utc_ms("2026-11-01T06:30:00Z")));
        assert!(!hours.is_open(utc_ms("2026-11-01T07:00:00Z")));
        // 08:00 EST is 13:00Z.
        assert!(!hours.is_open(utc_ms("2026-11-01T12:59:59Z")));
        assert!(hours.is_open(utc_ms("2026-11-01T13:00:00Z")));
        assert!(hours.is_open(utc_ms("2026-11-02T00:59:59Z")));
        assert!(!hours.is_open(utc_ms("2026-11-02T01:00:00Z")));
    }

    #[test]
    fn extreme_instants_are_clamped() {
        let hours =
            BusinessHours::new("America/New_York", &[("daily", "00:00-24:00")], None).unwrap();
        assert!(hours.is_open(i64::MIN));
        assert!(hours.is_open(i64::MAX));
    }

    #[test]
    fn unknown_time_zone() {
        let error = BusinessHours::new("Mars/Olympus_Mons", &[], None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown time zone \"Mars/Olympus_Mons\": expected an IANA name such as \"Asia/Shanghai\""
        );
        assert!(matches!(error, CalendarError::UnknownTimeZone { .. }));
    }

    #[test]
    fn week_errors() {
        assert_eq!(
            week_error(&[("moon", "closed")]),
            "bad day \"moon\" in the weekly hours: expected mon, tue, wed, thu, fri, sat or sun, \
             a range such as \"mon-fri\", or \"daily\""
        );
        assert_eq!(
            week_error(&[("mon-xyz", "closed")]),
            "bad day \"mon-xyz\" in the weekly hours: expected mon, tue, wed, thu, fri, sat or \
             sun, a range such as \"mon-fri\", or \"daily\""
        );
        assert_eq!(
            week_error(&[("tue-tue", "closed")]),
            "bad day \"tue-tue\" in the weekly hours: a range from a day to itself: name the day \
             alone, or write \"daily\""
        );
        assert_eq!(
            week_error(&[("mon-sat", "08:00-20:00"), ("sat", "closed")]),
            "sat is named twice in the weekly hours, by \"mon-sat\" and \"sat\""
        );
        assert_eq!(
            week_error(&[("fri-mon", "closed"), ("daily", "closed")]),
            "mon is named twice in the weekly hours, by \"fri-mon\" and \"daily\""
        );
        assert_eq!(
            week_error(&[("mon-fri", "20:00-08:00")]),
            "bad hours \"20:00-08:00\" for \"mon-fri\": span \"20:00-08:00\" ends before it \
             starts: overnight spans are not allowed, split it at midnight over two days \
             (\"..-24:00\" and \"00:00-..\")"
        );
        assert_eq!(
            week_error(&[("mon", "09:00-09:00")]),
            "bad hours \"09:00-09:00\" for \"mon\": span \"09:00-09:00\" is empty"
        );
        assert_eq!(
            week_error(&[("mon", "08:00-12:00,11:30-13:00")]),
            "bad hours \"08:00-12:00,11:30-13:00\" for \"mon\": spans 08:00-12:00 and \
             11:30-13:00 overlap"
        );
        assert_eq!(
            week_error(&[("mon", "24:00-24:00")]),
            "bad hours \"24:00-24:00\" for \"mon\": bad time \"24:00\": expected HH:MM from \
             00:00 to 23:59"
        );
        assert_eq!(
            week_error(&[("mon", "08:00-24:01")]),
            "bad hours \"08:00-24:01\" for \"mon\": bad time \"24:01\": expected HH:MM from \
             00:00 to 23:59 or 24:00"
        );
        assert_eq!(
            week_error(&[("mon", "08:60-09:00")]),
            "bad hours \"08:60-09:00\" for \"mon\": bad time \"08:60\": expected HH:MM from \
             00:00 to 23:59"
        );
        assert_eq!(
            week_error(&[("mon", "8-17")]),
            "bad hours \"8-17\" for \"mon\": bad time \"8\": expected HH:MM from 00:00 to 23:59"
        );
        assert_eq!(
            week_error(&[("mon", "08:00-12:00,")]),
            "bad hours \"08:00-12:00,\" for \"mon\": bad span \"\": expected HH:MM-HH:MM, or \
             \"closed\""
        );
        assert_eq!(
            week_error(&[("mon", "")]),
            "bad hours \"\" for \"mon\": bad span \"\": expected HH:MM-HH:MM, or \"closed\""
        );
        assert_eq!(
            week_error(&[("mon", "+8:00-09:00")]),
            "bad hours \"+8:00-09:00\" for \"mon\": bad time \"+8:00\": expected HH:MM from \
             00:00 to 23:59"
        );
        // Errors from BusinessHours::new are the same.
        let error = BusinessHours::new("UTC", &[("sun", "closed"), ("sun", "closed")], None);
        assert!(matches!(
            error,
            Err(CalendarError::DayTwice { day: "sun", .. })
        ));
    }

    #[test]
    fn file_syntax_error_names_the_line() {
        let error = file_error("[[holiday]]\ndate = \"2026-10-01\"\nname = National Day\n");
        assert!(error.starts_with("cal.toml:3: invalid TOML: "), "{error}");
    }

    #[test]
    fn file_unknown_keys() {
        assert_eq!(
            file_error("# comment\n\n[[holidays]]\ndate = \"2026-10-01\"\n"),
            "cal.toml:3: unknown key `holidays`: a calendar has only [[holiday]] and [[workday]] entries"
        );
        // The first in the file is reported, though `aaa` sorts first.
        assert_eq!(
            file_error("zzz = 1\naaa = 2\n"),
            "cal.toml:1: unknown key `zzz`: a calendar has only [[holiday]] and [[workday]] entries"
        );
        assert_eq!(
            file_error("[[holiday]]\ndate = \"2026-10-01\"\nuntill = \"2026-10-07\"\n"),
            "cal.toml:3: unknown key `untill` in [[holiday]]: expected date, until, name"
        );
        assert_eq!(
            file_error("[[workday]]\ndate = \"2026-10-10\"\nuntil = \"2026-10-11\"\n"),
            "cal.toml:3: unknown key `until` in [[workday]]: expected date, hours_of, name"
        );
    }

    #[test]
    fn file_shape_errors() {
        assert_eq!(
            file_error("[holiday]\ndate = \"2026-10-01\"\n"),
            "cal.toml:1: `holiday` must be an array of tables: write [[holiday]]"
        );
        assert_eq!(
            file_error("\nworkday = \"2026-10-10\"\n"),
            "cal.toml:2: `workday` must be an array of tables: write [[workday]]"
        );
        assert_eq!(
            file_error("holiday = [\n  { date = \"2026-10-01\" },\n  \"2026-10-02\",\n]\n"),
            "cal.toml:3: each `holiday` must be a table with a `date`"
        );
        assert_eq!(
            file_error("[[holiday]]\ndate = \"2026-10-01\"\n\n[[holiday]]\nname = \"x\"\n"),
            "cal.toml:4: [[holiday]] without a `date`"
        );
        assert_eq!(
            file_error("[[holiday]]\ndate = \"2026-10-01\"\nname = 7\n"),
            "cal.toml:3: `name` must be a string (found integer)"
        );
        assert_eq!(
            file_error("[[workday]]\ndate = \"2026-10-10\"\nhours_of = 5\n"),
            "cal.toml:3: `hours_of` must be a string (found integer)"
        );
    }

    #[test]
    fn file_date_errors() {
        assert_eq!(
            file_error("[[holiday]]\ndate = \"2026/10/01\"\n"),
            "cal.toml:2: bad `date` \"2026/10/01\": expected YYYY-MM-DD"
        );
        assert_eq!(
            file_error("[[holiday]]\ndate = \"2026-10-1\"\n"),
            "cal.toml:2: bad `date` \"2026-10-1\": expected YYYY-MM-DD"
        );
        assert_eq!(
            file_error("[[holiday]]\ndate = \"2026-02-01\"\nuntil = \"2026-02-30\"\n"),
            "cal.toml:3: bad `until` \"2026-02-30\": no such date"
        );
        assert_eq!(
            file_error("[[holiday]]\ndate = \"2026-13-01\"\n"),
            "cal.toml:2: bad `date` \"2026-13-01\": no such date"
        );
        assert_eq!(
            file_error("[[holiday]]\ndate = 2026-10-01T08:00:00\n"),
            "cal.toml:2: `date` must be a date without a time, not 2026-10-01T08:00:00"
        );
        assert_eq!(
            file_error("[[holiday]]\ndate = 20261001\n"),
            "cal.toml:2: `date` must be a date such as \"2026-10-01\" (found integer)"
        );
        assert_eq!(
            file_error("[[holiday]]\ndate = \"2026-10-07\"\nuntil = \"2026-10-01\"\n"),
            "cal.toml:3: `until` 2026-10-01 is before `date` 2026-10-07"
        );
        assert_eq!(
            file_error("[[holiday]]\ndate = \"2026-10-01\"\nuntil = \"2027-10-07\"\n"),
            "cal.toml:3: holiday from 2026-10-01 until 2027-10-07 lasts 372 days, more than \
             366: check `until`"
        );
        // Exactly 366 days is allowed.
        Calendar::parse(
            "cal.toml",
            "[[holiday]]\ndate = 2028-01-01\nuntil = 2028-12-31\n",
        )
        .unwrap();
        assert_eq!(
            file_error("[[workday]]\ndate = \"2026-10-10\"\nhours_of = \"friday\"\n"),
            "cal.toml:3: bad `hours_of` \"friday\": expected mon, tue, wed, thu, fri, sat or sun"
        );
    }

    #[test]
    fn file_conflicts() {
        let both = "\
[[holiday]]
date = \"2026-10-01\"
until = \"2026-10-07\"

[[workday]]
date = \"2026-10-05\"
";
        assert_eq!(
            file_error(both),
            "cal.toml:6: 2026-10-05 is both a workday and a holiday (line 2)"
        );
        // Found through a long holiday that started before a shorter one.
        let nested = "\
[[holiday]]
date = 2026-01-01
until = 2026-03-01
[[holiday]]
date = 2026-01-10
[[workday]]
date = 2026-02-01
";
        assert_eq!(
            file_error(nested),
            "cal.toml:7: 2026-02-01 is both a workday and a holiday (line 2)"
        );
        let twice = "\
[[workday]]
date = \"2026-10-10\"
[[workday]]
date = 2026-10-10
hours_of = \"fri\"
";
        assert_eq!(
            file_error(twice),
            "cal.toml:4: 2026-10-10 is already a workday (line 2)"
        );
        // Overlapping holidays are fine, and the merged range is closed.
        let calendar = Calendar::parse(
            "cal.toml",
            "[[holiday]]\ndate = 2026-10-01\nuntil = 2026-10-05\n\
             [[holiday]]\ndate = 2026-10-03\nuntil = 2026-10-08\n\
             [[holiday]]\ndate = 2026-10-04\n",
        )
        .unwrap();
        let date = |s: &str| s.parse::<Date>().unwrap();
        assert_eq!(calendar.closed, [(date("2026-10-01"), date("2026-10-08"))]);
        assert_eq!(calendar.rule(date("2026-10-08")), DayRule::Holiday);
        assert_eq!(calendar.rule(date("2026-10-09")), DayRule::Ordinary);
        assert_eq!(calendar.rule(date("2026-09-30")), DayRule::Ordinary);
    }

    #[test]
    fn file_too_many_entries() {
        let mut text = String::new();
        for i in 0..=MAX_ENTRIES {
            let date =
                Date::new(2000, 1, 1).unwrap() + jiff::Span::new().days(i64::try_from(i).unwrap());
            text.push_str(&format!("[[holiday]]\ndate = {date}\n"));
        }
        assert_eq!(
            file_error(&text),
            "cal.toml:20001: too many entries: a calendar holds at most 10000 holidays and \
             workdays together"
        );
        // One fewer is accepted.
        let limit = text
            .match_indices("[[holiday]]")
            .nth(MAX_ENTRIES)
            .unwrap()
            .0;
        Calendar::parse("cal.toml", &text[..limit]).unwrap();
    }

    #[test]
    fn empty_calendar_file() {
        assert_eq!(
            Calendar::parse("cal.toml", "# nothing yet\n").unwrap(),
            Calendar::default()
        );
        assert_eq!(
            Calendar::parse("cal.toml", "holiday = []\n").unwrap(),
            Calendar::default()
        );
    }

    #[test]
    fn cn_2026_contents() {
        let calendar = Calendar::parse("cn-2026.toml", CN_2026).unwrap();
        let date = |s: &str| s.parse::<Date>().unwrap();
        let range = |a, b| (date(a), date(b));
        assert_eq!(
            calendar.closed,
            [
                range("2026-01-01", "2026-01-03"),
                range("2026-02-15", "2026-02-23"),
                range("2026-04-04", "2026-04-06"),
                range("2026-05-01", "2026-05-05"),
                range("2026-06-19", "2026-06-21"),
                range("2026-09-25", "2026-09-27"),
                range("2026-10-01", "2026-10-07"),
            ]
        );
        let workdays: Vec<Date> = calendar.workdays.iter().map(|&(d, _)| d).collect();
        assert_eq!(
            workdays,
            [
                "2026-01-04",
                "2026-02-14",
                "2026-02-28",
                "2026-05-09",
                "2026-09-20",
                "2026-10-10"
            ]
            .map(date)
        );
        // Every make-up day falls on a weekend.
        for day in workdays {
            assert!(
                matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday),
                "{day}"
            );
        }
    }

    // ---- Adding open time --------------------------------------------------

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn open_time_skips_the_night_and_the_weekend() {
        let hours = shanghai(None);
        let ms = |civil: &str| local_ms("Asia/Shanghai", civil);
        let add = |from: &str, d: Duration| hours.add_open_time(ms(from), d);
        // Within the day, and from a closed instant.
        assert_eq!(add("2026-11-25T09:00", HOUR), Some(ms("2026-11-25T10:00")));
        assert_eq!(add("2026-11-25T06:00", HOUR), Some(ms("2026-11-25T09:00")));
        // Wednesday evening: one hour left, the other the next morning.
        assert_eq!(
            add("2026-11-25T19:00", 2 * HOUR),
            Some(ms("2026-11-26T09:00"))
        );
        // Exactly to closing time stays at closing time.
        assert_eq!(add("2026-11-25T19:00", HOUR), Some(ms("2026-11-25T20:00")));
        // Friday 19:00 + 10 h: 1 on Friday, 3 + 4 on Saturday, Sunday closed.
        assert_eq!(
            add("2026-11-27T19:00", 10 * HOUR),
            Some(ms("2026-11-30T10:00"))
        );
        // Seconds count too.
        assert_eq!(
            add("2026-11-25T19:59:30", Duration::from_secs(60)),
            Some(ms("2026-11-26T08:00:30"))
        );
        assert_eq!(
            add("2026-11-29T12:00", Duration::ZERO),
            Some(ms("2026-11-29T12:00"))
        );
    }

    #[test]
    fn open_time_skips_a_holiday_week_and_works_make_up_days() {
        let calendar = Calendar::parse("cn-2026.toml", CN_2026).unwrap();
        let hours = BusinessHours::new(
            "Asia/Shanghai",
            &[("mon-fri", "09:00-18:00")],
            Some(calendar),
        )
        .unwrap();
        let ms = |civil: &str| local_ms("Asia/Shanghai", civil);
        let add = |from: &str, d: Duration| hours.add_open_time(ms(from), d);
        // National Day, 1-7 October: Wednesday 30 September to Thursday 8th.
        assert_eq!(
            add("2026-09-30T17:00", 2 * HOUR),
            Some(ms("2026-10-08T10:00"))
        );
        // Saturday 10 October is a make-up workday with Monday's hours.
        assert_eq!(
            add("2026-10-09T17:00", 2 * HOUR),
            Some(ms("2026-10-10T10:00"))
        );
        // Spring Festival, 15-23 February; Saturday 14th is worked.
        assert_eq!(add("2026-02-13T17:30", HOUR), Some(ms("2026-02-14T09:30")));
        assert_eq!(add("2026-02-14T17:30", HOUR), Some(ms("2026-02-24T09:30")));
    }

    #[test]
    fn open_time_across_dst() {
        let utc = |instant: &str| Some(utc_ms(instant));
        // Open all day: open time is real time, 23 h or 25 h days included.
        let always =
            BusinessHours::new("America/New_York", &[("daily", "00:00-24:00")], None).unwrap();
        let from = utc_ms("2026-03-08T05:00:00Z"); // 00:00 EST
        assert_eq!(
            always.add_open_time(from, 3 * HOUR),
            utc("2026-03-08T08:00:00Z")
        );
        assert_eq!(
            always.add_open_time(from, 48 * HOUR),
            utc("2026-03-10T05:00:00Z")
        );
        // 01:00-03:00 lasts one real hour on spring-forward day.
        let nights = BusinessHours::new(
            "America/New_York",
            &[("sun", "01:00-03:00"), ("mon", "01:00-03:00")],
            None,
        )
        .unwrap();
        assert_eq!(
            nights.add_open_time(from, 90 * Duration::from_secs(60)),
            utc("2026-03-09T05:30:00Z"),
            "1 h on Sunday, 30 min from Monday 01:00 EDT"
        );
        // 01:00-02:00 happens twice on fall-back day: two real hours.
        let fold = BusinessHours::new("America/New_York", &[("sun", "01:00-02:00")], None).unwrap();
        assert_eq!(
            fold.add_open_time(utc_ms("2026-11-01T04:00:00Z"), 90 * Duration::from_secs(60)),
            utc("2026-11-01T06:30:00Z")
        );
        assert_eq!(
            fold.add_open_time(utc_ms("2026-11-01T04:00:00Z"), 2 * HOUR),
            utc("2026-11-01T07:00:00Z")
        );
    }

    #[test]
    fn open_time_of_a_calendar_that_never_opens() {
        let never = BusinessHours::new("Asia/Shanghai", &[], None).unwrap();
        assert_eq!(
            never.add_open_time(utc_ms("2026-11-25T00:00:00Z"), HOUR),
            None
        );
        assert_eq!(
            never.add_open_time(utc_ms("2026-11-25T00:00:00Z"), Duration::ZERO),
            Some(utc_ms("2026-11-25T00:00:00Z"))
        );
        let hours = shanghai(None);
        assert_eq!(hours.add_open_time(i64::MAX - 1, HOUR), None);
        // More open time than 400 days hold.
        assert_eq!(hours.add_open_time(0, 400 * 24 * HOUR), None);
    }

    // ---- Property tests ----------------------------------------------------

    const ZONES: [&str; 8] = [
        "Asia/Shanghai",
        "America/New_York",
        "Europe/London",
        "Australia/Lord_Howe", // 30-minute DST shift
        "Asia/Kathmandu",      // +05:45
        "UTC",
        "America/Santiago", // DST transitions at local midnight
        "Pacific/Chatham",  // +12:45 / +13:45
    ];

    fn hhmm(minutes: u16) -> String {
        format!("{:02}:{:02}", minutes / 60, minutes % 60)
    }

    /// A day's spans as sorted, disjoint (start, end) minute pairs.
    fn day_spans() -> impl Strategy<Value = Vec<(u16, u16)>> {
        spans_from_bounds(0..=6)
    }

    fn spans_from_bounds(
        count: std::ops::RangeInclusive<usize>,
    ) -> impl Strategy<Value = Vec<(u16, u16)>> {
        prop::collection::btree_set(0u16..=DAY_MINUTES, count).prop_map(|bounds| {
            let bounds: Vec<u16> = bounds.into_iter().collect();
            bounds
                .chunks_exact(2)
                .map(|pair| (pair[0], pair[1]))
                .collect()
        })
    }

    /// The naive reference: civil time by formatting a `Zoned`, dates and
    /// times compared as strings, linear scans everywhere.
    fn reference(
        zone: &str,
        week: &[Vec<(u16, u16)>],
        holidays: &[(String, String)],
        workdays: &[(String, usize)],
        at_ms: i64,
    ) -> bool {
        let zoned = Timestamp::from_millisecond(at_ms)
            .unwrap()
            .to_zoned(TimeZone::get(zone).unwrap());
        let date = zoned.strftime("%Y-%m-%d").to_string();
        let time = zoned.strftime("%H:%M").to_string();
        let weekday = zoned.strftime("%a").to_string().to_ascii_lowercase();
        if holidays
            .iter()
            .any(|(first, last)| *first <= date && date <= *last)
        {
            return false;
        }
        let day = match workdays.iter().find(|(day, _)| *day == date) {
            Some(&(_, hours_of)) => hours_of,
            None => DAY_NAMES.iter().position(|name| *name == weekday).unwrap(),
        };
        week[day]
            .iter()
            .any(|&(start, end)| hhmm(start) <= time && time < hhmm(end))
    }

    proptest! {
        #[test]
        fn is_open_agrees_with_naive_reference(
            zone in 0..ZONES.len(),
            week in prop::collection::vec(day_spans(), 7),
            year in 2020i16..=2032,
            holidays in prop::collection::vec((0i64..366, 0i64..7, any::<bool>()), 0..8),
            workdays in prop::collection::vec((0i64..366, prop::option::of(0usize..7)), 0..6),
            offset_ms in 0i64..367 * 86_400_000,
            near_transition in any::<bool>(),
            delta_ms in -6 * 3_600_000i64..6 * 3_600_000,
        ) {
            let zone = ZONES[zone];
            let new_year = Date::new(year, 1, 1).unwrap();
            let day = |n: i64| new_year + jiff::Span::new().days(n);

            // Weekly hours, odd closed days left unnamed.
            let hours: Vec<String> = week
                .iter()
                .map(|spans| {
                    let spans: Vec<String> =
                        spans.iter().map(|&(s, e)| format!("{}-{}", hhmm(s), hhmm(e))).collect();
                    if spans.is_empty() { "closed".to_owned() } else { spans.join(",") }
                })
                .collect();
            let entries: Vec<(&str, &str)> = (0..7)
                .filter(|&i| !(week[i].is_empty() && i % 2 == 1))
                .map(|i| (DAY_NAMES[i], hours[i].as_str()))
                .collect();

            // A calendar, conflicting workdays dropped.
            let mut text = String::new();
            let mut holiday_ranges = Vec::new();
            for &(start, len, quoted) in &holidays {
                let (first, last) = (day(start).to_string(), day(start + len).to_string());
                let q = if quoted { "\"" } else { "" };
                text.push_str(&format!("[[holiday]]\ndate = {q}{first}{q}\n"));
                if len > 0 || quoted {
                    text.push_str(&format!("until = {q}{last}{q}\nname = \"h\"\n"));
                }
                holiday_ranges.push((first, last));
            }
            let mut workday_list: Vec<(String, usize)> = Vec::new();
            for &(n, hours_of) in &workdays {
                let date = day(n).to_string();
                let taken = workday_list.iter().any(|(d, _)| *d == date)
                    || holiday_ranges.iter().any(|(a, b)| *a <= date && date <= *b);
                if taken {
                    continue;
                }
                text.push_str(&format!("\n[[workday]]\ndate = \"{date}\"\n"));
                if let Some(h) = hours_of {
                    text.push_str(&format!("hours_of = \"{}\"\n", DAY_NAMES[h]));
                }
                workday_list.push((date, hours_of.unwrap_or(0)));
            }
            let calendar = Calendar::parse("prop.toml", &text).unwrap();
            let business = BusinessHours::new(zone, &entries, Some(calendar)).unwrap();

            // An instant in the year, or near one of the zone's transitions.
            let start = new_year.to_zoned(TimeZone::UTC).unwrap().timestamp().as_millisecond()
                - 86_400_000;
            let mut at_ms = start + offset_ms;
            if near_transition {
                let from = Timestamp::from_millisecond(at_ms).unwrap();
                let tz = TimeZone::get(zone).unwrap();
                if let Some(transition) = tz.following(from).next() {
                    at_ms = transition.timestamp().as_millisecond() + delta_ms;
                }
            }
            let expected = reference(zone, &week, &holiday_ranges, &workday_list, at_ms);
            prop_assert_eq!(business.is_open(at_ms), expected, "at {} in {}", at_ms, zone);
        }

        #[test]
        fn add_open_time_agrees_with_a_minute_walk(
            zone in 0..ZONES.len(),
            week in prop::collection::vec(day_spans(), 7),
            from_ms in 1_767_225_600_000i64..1_830_297_600_000, // 2026-2027
            near_transition in any::<bool>(),
            duration_ms in 0u64..40 * 3_600_000,
        ) {
            let zone = ZONES[zone];
            let hours: Vec<String> = week
                .iter()
                .map(|spans| {
                    let spans: Vec<String> =
                        spans.iter().map(|&(s, e)| format!("{}-{}", hhmm(s), hhmm(e))).collect();
                    if spans.is_empty() { "closed".to_owned() } else { spans.join(",") }
                })
                .collect();
            let entries: Vec<(&str, &str)> =
                (0..7).map(|i| (DAY_NAMES[i], hours[i].as_str())).collect();
            let business = BusinessHours::new(zone, &entries, None).unwrap();
            let mut from_ms = from_ms;
            if near_transition {
                let tz = TimeZone::get(zone).unwrap();
                if let Some(t) = tz.following(Timestamp::from_millisecond(from_ms).unwrap()).next() {
                    from_ms = t.timestamp().as_millisecond() - (from_ms % 86_400_000);
                }
            }
            // The reference: minute by minute (is_open ignores seconds),
            // for at most 15 days.
            const MINUTE: i64 = 60_000;
            let mut left = duration_ms as i64;
            let mut t = from_ms;
            let mut expected = None;
            while t < from_ms + 15 * 86_400_000 {
                if left == 0 {
                    expected = Some(t);
                    break;
                }
                let next = (t.div_euclid(MINUTE) + 1) * MINUTE;
                if business.is_open(t) {
                    if left <= next - t {
                        expected = Some(t + left);
                        break;
                    }
                    left -= next - t;
                }
                t = next;
            }
            let got = business.add_open_time(from_ms, Duration::from_millis(duration_ms));
            match expected {
                Some(expected) => prop_assert_eq!(got, Some(expected), "from {} in {}", from_ms, zone),
                // Beyond the walk: at least later than it looked.
                None => prop_assert!(got.is_none_or(|at| at >= t)),
            }
        }

        #[test]
        fn day_ranges_agree_with_naive_walk(first in 0usize..7, length in 1usize..7) {
            let last = (first + length) % 7;
            let key = format!("{}-{}", DAY_NAMES[first], DAY_NAMES[last]);
            let week = WeekHours::new(&[(key.as_str(), "09:00-10:00")]).unwrap();
            let mut named = [false; 7];
            let mut day = first;
            loop {
                named[day] = true;
                if day == last {
                    break;
                }
                day = (day + 1) % 7;
            }
            for (i, weekday) in WEEKDAYS.into_iter().enumerate() {
                prop_assert_eq!(!week.spans(weekday).is_empty(), named[i], "{} {}", key, i);
            }
        }

        #[test]
        fn parsers_never_panic(key in ".{0,12}", hours in ".{0,24}", text in ".{0,64}") {
            let _ = WeekHours::new(&[(key.as_str(), hours.as_str())]);
            let _ = Calendar::parse("fuzz.toml", &text);
        }

        #[test]
        fn well_formed_spans_round_trip(spans in spans_from_bounds(2..=8)) {
            let hours: Vec<String> =
                spans.iter().rev().map(|&(s, e)| format!("{}-{}", hhmm(s), hhmm(e))).collect();
            let week = WeekHours::new(&[("wed", &hours.join(","))]).unwrap();
            let parsed: Vec<(u16, u16)> =
                week.spans(Weekday::Wednesday).iter().map(|s| (s.start, s.end)).collect();
            prop_assert_eq!(parsed, spans);
        }
    }
}
