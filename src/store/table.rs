//! Plain-text rendering of call rows for the CLI (`hotline calls --last 10`),
//! with the UTC calendar arithmetic done here rather than by a date crate.

use super::CallRow;

const MS_PER_DAY: i64 = 86_400_000;

/// The proleptic Gregorian date `(year, month 1..=12, day 1..=31)` of a
/// count of days since 1970-01-01 (negative before it).
///
/// Howard Hinnant's `civil_from_days`: shift the epoch to 0000-03-01 so the
/// leap day ends each 400-year era, then count eras, years of era and days
/// of year with March as month 0.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction, so the casts cannot truncate.
    (year, month as u32, day as u32)
}

/// Epoch milliseconds as UTC `YYYY-MM-DD HH:MM:SS` (milliseconds dropped,
/// rounding toward the past, also before 1970).
pub fn format_utc_ms(ms: i64) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let secs = ms.rem_euclid(MS_PER_DAY) / 1_000;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A duration as `M:SS`, or `H:MM:SS` from one hour; whole seconds,
/// negative durations shown as `0:00`.
pub fn format_duration_ms(ms: i64) -> String {
    let secs = ms.max(0) / 1_000;
    let (h, m, s) = (secs / 3_600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A fixed-width table of calls, one line each, columns separated by two
/// spaces and sized to their widest cell:
///
/// ```text
/// ID      ARRIVED (UTC)        FROM         TO          DURATION  DIGITS  QUEUE   AGENT  WAIT  TALK  HOLD  WRAP  XFER  DISPOSITION  END
/// c-0002  2024-05-01 08:30:00  13800138000  4008001234  1:05      12      repair  #3     0:12  0:40  0:05  0:20  1     resolved     caller-bye/caller
/// ```
///
/// DURATION is end minus arrival (IVR and queue included); WAIT is the
/// time in the queue before the (first) agent answered, TALK, HOLD and
/// WRAP the totals of the agent part, XFER the transfers, AGENT the user
/// id; the wrap-up notes are left out (free text: see the call's detail).
/// `-` marks an empty cell (call still up, no digits, never queued, no
/// transfer). Control characters in stored
/// text (numbers come from SIP headers) are shown as `?` so they cannot
/// break the layout or drive the terminal.
pub fn calls_table(rows: &[CallRow]) -> String {
    const HEADERS: [&str; 15] = [
        "ID",
        "ARRIVED (UTC)",
        "FROM",
        "TO",
        "DURATION",
        "DIGITS",
        "QUEUE",
        "AGENT",
        "WAIT",
        "TALK",
        "HOLD",
        "WRAP",
        "XFER",
        "DISPOSITION",
        "END",
    ];
    let ms = |v: Option<i64>| v.map(format_duration_ms).unwrap_or_default();
    let cells: Vec<[String; 15]> = rows
        .iter()
        .map(|r| {
            let end = match (&r.hangup_cause, &r.hangup_side) {
                (Some(cause), Some(side)) => format!("{cause}/{side}"),
                (Some(cause), None) => cause.clone(),
                (None, Some(side)) => side.clone(),
                (None, None) => String::new(),
            };
            [
                r.id.clone(),
                format_utc_ms(r.arrived_at),
                r.from_number.clone(),
                r.to_number.clone(),
                r.ended_at
                    .map(|e| format_duration_ms(e - r.arrived_at))
                    .unwrap_or_default(),
                r.digits.clone(),
                r.queue.clone().unwrap_or_default(),
                r.agent_id.map(|a| format!("#{a}")).unwrap_or_default(),
                ms(r.wait_ms),
                ms(r.talk_ms),
                ms(r.hold_ms),
                ms(r.wrap_up_ms),
                if r.transfers == 0 {
                    String::new()
                } else {
                    r.transfers.to_string()
                },
                r.disposition.clone().unwrap_or_default(),
                end,
            ]
            .map(|c| cell(&c))
        })
        .collect();

    let mut widths = HEADERS.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }

    let mut out = String::new();
    let mut line = |fields: &[&str]| {
        let mut l = String::new();
        for (i, (f, w)) in fields.iter().zip(widths).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            l.push_str(f);
            l.extend(std::iter::repeat_n(' ', w - f.chars().count()));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&HEADERS);
    for row in &cells {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

/// A cell's text: `-` if empty, control characters replaced.
fn cell(s: &str) -> String {
    if s.is_empty() {
        return "-".to_owned();
    }
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
