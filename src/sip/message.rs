//! SIP messages: rsip 0.4 behind a normalising wrapper.
//!
//! rsip 0.4 is unmaintained and strict in ways real peers are not: it knows no
//! compact header names (`v:`, `i:`, `l:` ...), no folded header lines, no
//! space before a header colon, no bare-LF line ends, and it takes everything
//! after the first blank line as the body whatever Content-Length says. So
//! every byte that reaches rsip goes through [`normalise`] first, and
//! [`parse`] then checks what the transaction layer and the engine rely on.
//!
//! What this module owns:
//! - [`normalise`]: untrusted bytes to a canonical message text.
//! - [`parse`]: normalise, rsip, then validation. A message that `parse`
//!   accepted has a top Via with a branch and a readable sent-by, exactly one
//!   From, To, Call-ID and CSeq (number + known method; for requests the CSeq
//!   method is the request method) and, if present, a numeric Max-Forwards,
//!   so the [`HeadersExt`] accessors return `Ok`/`Some` on it.
//! - [`HeadersExt`]: header accessors parsed here, not by rsip's typed
//!   headers (rsip's typed Via/From/To mis-read IPv6 hosts, folded
//!   whitespace and users with dots in them).
//! - RFC 3581 (`rport`) and RFC 3261 §18.2.2 helpers: [`stamp_received`],
//!   [`response_destination`].
//! - Building answers: [`response`] from a parsed request, and [`bad_request`]
//!   straight from raw bytes when parsing failed.
//! - [`serialize`], which writes the body bytes as they are (rsip's Display
//!   converts the body lossily to UTF-8) and always a correct Content-Length.
//!
//! Invariants: nothing here panics on untrusted bytes, reads a clock or does
//! I/O. Status codes are read with `StatusCode::code()`: a response built
//! with a custom reason phrase carries `StatusCode::Other(code, reason)`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use rsip::headers::UntypedHeader;

use crate::sip::{Error, Transport};

/// The default SIP port for UDP and TCP (RFC 3261 §18.1).
const DEFAULT_PORT: u16 = 5060;

/// Longest error text we keep: rsip errors quote the whole input otherwise.
const MAX_ERROR_TEXT: usize = 120;

/// Compact header names (RFC 3261 §7.3.3 and the IANA registry).
const COMPACT_FORMS: [(u8, &str); 20] = [
    (b'a', "Accept-Contact"),
    (b'b', "Referred-By"),
    (b'c', "Content-Type"),
    (b'd', "Request-Disposition"),
    (b'e', "Content-Encoding"),
    (b'f', "From"),
    (b'i', "Call-ID"),
    (b'j', "Reject-Contact"),
    (b'k', "Supported"),
    (b'l', "Content-Length"),
    (b'm', "Contact"),
    (b'n', "Identity-Info"),
    (b'o', "Event"),
    (b'r', "Refer-To"),
    (b's', "Subject"),
    (b't', "To"),
    (b'u', "Allow-Events"),
    (b'v', "Via"),
    (b'x', "Session-Expires"),
    (b'y', "Identity"),
];

/// Header names we spell canonically, so logs, tests and other parsers see
/// one spelling whatever the peer sent.
const WELL_KNOWN: &[&str] = &[
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Accept-Resource-Priority",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Diversion",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "History-Info",
    "Identity",
    "Identity-Info",
    "In-Reply-To",
    "Join",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Asserted-Identity",
    "P-Charging-Vector",
    "P-Preferred-Identity",
    "Path",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Remote-Party-ID",
    "Replaces",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Resource-Priority",
    "Retry-After",
    "Route",
    "RSeq",
    "Server",
    "Session-Expires",
    "SIP-ETag",
    "SIP-If-Match",
    "Subject",
    "Subscription-State",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
];

/// Headers whose comma-separated values are split into one header line per
/// value (RFC 3261 §7.3.1 makes both forms equivalent), so "the top Via" is
/// simply the first Via header and a route set is a list of headers.
const SPLIT_ON_COMMAS: [&str; 3] = ["Via", "Route", "Record-Route"];

/// The full, canonically spelt name of a header name as received: compact
/// forms are expanded, well-known names get their usual case, other names
/// are returned as they are.
pub fn canonical_header_name(name: &str) -> Cow<'_, str> {
    match known_header_name(name) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Borrowed(name),
    }
}

/// The canonical spelling of a compact or well-known header name.
fn known_header_name(name: &str) -> Option<&'static str> {
    if let [single] = name.as_bytes() {
        let lower = single.to_ascii_lowercase();
        if let Some((_, full)) = COMPACT_FORMS.iter().find(|(c, _)| *c == lower) {
            return Some(full);
        }
    }
    WELL_KNOWN
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .copied()
}

/// RFC 3261 `token` characters (header names, methods, parameter names).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_wsp(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_wsp(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_wsp(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Cuts an error text to a readable length on a character boundary.
fn short(text: impl Into<String>) -> String {
    let mut text: String = text.into();
    if text.len() > MAX_ERROR_TEXT {
        let mut cut = MAX_ERROR_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn malformed(text: impl Into<String>) -> Error {
    Error::Malformed(short(text))
}

/// Skips CR and LF before a start line (RFC 3261 §7.5: keep-alive CRLFs).
fn skip_leading_line_ends(mut bytes: &[u8]) -> &[u8] {
    while let [b'\r' | b'\n', rest @ ..] = bytes {
        bytes = rest;
    }
    bytes
}

/// Splits at the first empty line (CRLF CRLF, LF LF or a mix): the head
/// without its last line end and without the blank line, and the body.
/// Without a blank line everything is head and the body is empty.
fn split_head_body(bytes: &[u8]) -> (&[u8], &[u8]) {
    let mut offset = 0usize;
    for line in bytes.split(|&b| b == b'\n') {
        let next = offset + line.len() + 1;
        if next > bytes.len() {
            // The last segment has no LF after it, so it is not a line end.
            break;
        }
        if line.is_empty() || line == b"\r" {
            let head = bytes.get(..offset).unwrap_or_default();
            let body = bytes.get(next..).unwrap_or_default();
            return (strip_line_end(head), body);
        }
        offset = next;
    }
    (strip_line_end(bytes), &[])
}

/// Removes one trailing LF or CRLF.
fn strip_line_end(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// The lines of a head, line ends (LF or CRLF) removed.
fn head_lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
}

/// Unfolds continuation lines (a line starting with SP or HT continues the
/// previous one, joined by one space). The first element is the start line.
fn unfold(head: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for line in head_lines(head) {
        match (line.first(), lines.len()) {
            (Some(b' ' | b'\t'), 0 | 1) => {
                return Err(malformed("continuation line without a header"));
            }
            (Some(b' ' | b'\t'), _) => {
                if let Some(previous) = lines.last_mut() {
                    let trimmed = trim_wsp(line);
                    if !trimmed.is_empty() {
                        previous.push(b' ');
                        previous.extend_from_slice(trimmed);
                    }
                }
            }
            _ => lines.push(line.to_vec()),
        }
    }
    Ok(lines)
}

/// A header line split into name and value, both trimmed; `None` when the
/// line has no colon.
fn split_header_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (name, rest) = line.split_at(colon);
    let value = rest.get(1..).unwrap_or_default();
    Some((trim_wsp(name), trim_wsp(value)))
}

/// Header values as text: control characters (other than HT) become spaces
/// so a stray CR can never end a line downstream, and invalid UTF-8 is
/// replaced rather than rejected (rsip needs UTF-8; a Latin-1 display name
/// is no reason to drop a call).
fn clean_value(value: &[u8]) -> String {
    let cleaned: Vec<u8> = value
        .iter()
        .map(|&b| {
            if (b < 0x20 && b != b'\t') || b == 0x7f {
                b' '
            } else {
                b
            }
        })
        .collect();
    // Trim after cleaning, so a control character next to the colon cannot
    // leave a leading space behind.
    String::from_utf8_lossy(&cleaned)
        .trim_matches([' ', '\t'])
        .to_owned()
}

/// Splits `s` at `sep` where it is not inside a quoted string or `<...>`.
/// Empty pieces are dropped, pieces are trimmed.
fn split_top_level(s: &str, sep: u8) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut angle = 0usize;
    let mut start = 0usize;
    for (i, b) in s.bytes().enumerate() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quotes = false;
            }
            continue;
        }
        match b {
            b'"' => in_quotes = true,
            b'<' => angle += 1,
            b'>' => angle = angle.saturating_sub(1),
            _ if b == sep && angle == 0 => {
                if let Some(piece) = s.get(start..i) {
                    pieces.push(piece);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if let Some(piece) = s.get(start..) {
        pieces.push(piece);
    }
    pieces
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Removes the optional whitespace around Via separators
/// (`SIP / 2.0 / UDP host : 5060 ; branch = x`), which RFC 3261 allows and
/// rsip's typed Via does not, keeping the one space before sent-by.
fn tidy_via(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut in_quotes = false;
    let mut escaped = false;
    let mut pending_space = false;
    let mut after_separator = false;
    for ch in value.chars() {
        if in_quotes {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_quotes = false;
            }
            continue;
        }
        match ch {
            ' ' | '\t' => pending_space = true,
            ';' | '=' | '/' | ':' | ',' => {
                out.push(ch);
                pending_space = false;
                after_separator = true;
            }
            _ => {
                if pending_space && !after_separator && !out.is_empty() {
                    out.push(' ');
                }
                out.push(ch);
                pending_space = false;
                after_separator = false;
                if ch == '"' {
                    in_quotes = true;
                }
            }
        }
    }
    out
}

/// Parses a Content-Length value: digits only, surrounding whitespace allowed.
fn parse_content_length(value: &[u8]) -> Result<usize, Error> {
    let value = trim_wsp(value);
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(Error::BadHeader("Content-Length"));
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .ok_or(Error::BadHeader("Content-Length"))
}

/// Rewrites a start line with single spaces and an upper-case `SIP/2.0`.
fn normalise_start_line(line: &[u8]) -> Result<String, Error> {
    let line = std::str::from_utf8(line).map_err(|_| malformed("start line is not UTF-8"))?;
    let line = line.trim();
    if line.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(malformed("control character in start line"));
    }
    let mut parts = line.split_ascii_whitespace();
    let first = parts.next().ok_or_else(|| malformed("empty start line"))?;
    if first.len() >= 4
        && first
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let code = parts.next().unwrap_or_default();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("bad status code"));
        }
        // The line is trimmed and starts with `first`; the reason is what
        // follows the code, inner spacing kept.
        let reason = line
            .get(first.len()..)
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix(code))
            .map(str::trim)
            .unwrap_or_default();
        Ok(format!("{} {code} {reason}", first.to_ascii_uppercase()))
    } else {
        // Request-Line = Method SP Request-URI SP SIP-Version
        let (Some(uri), Some(version), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(malformed("bad request line"));
        };
        if !is_token(first) {
            return Err(malformed("bad method"));
        }
        if !version
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
        {
            return Err(malformed("bad SIP version"));
        }
        Ok(format!("{first} {uri} {}", version.to_ascii_uppercase()))
    }
}

/// Rewrites a SIP message into the form rsip 0.4 parses reliably.
///
/// Leading CR/LF are skipped; head and body split at the first blank line
/// (CRLF CRLF or LF LF); continuation lines are unfolded; compact names are
/// expanded and well-known names canonically spelt; whitespace around the
/// colon is trimmed; Via, Route and Record-Route values are split one per
/// line; line ends become CRLF; the body is cut to exactly Content-Length
/// bytes (RFC 3261 §18.3) and a missing Content-Length is added with the
/// datagram's body length.
///
/// Errors: `Malformed` for a bad start or header line or a body shorter
/// than Content-Length, `BadHeader("Content-Length")` for an unreadable or
/// contradictory Content-Length.
pub fn normalise(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let bytes = skip_leading_line_ends(bytes);
    if bytes.is_empty() {
        return Err(malformed("empty message"));
    }
    let (head, body) = split_head_body(bytes);
    let mut lines = unfold(head)?.into_iter();
    let start = lines.next().ok_or_else(|| malformed("empty message"))?;
    let start = normalise_start_line(&start)?;

    let mut headers: Vec<(Cow<'static, str>, String)> = Vec::new();
    let mut content_length: Option<usize> = None;
    let mut content_length_at: Option<usize> = None;
    for line in lines {
        let (name, value) =
            split_header_line(&line).ok_or_else(|| malformed("header line without a colon"))?;
        let name = std::str::from_utf8(name)
            .ok()
            .filter(|n| is_token(n))
            .ok_or_else(|| malformed("bad header name"))?;
        let name: Cow<'static, str> = match known_header_name(name) {
            Some(known) => Cow::Borrowed(known),
            None => Cow::Owned(name.to_owned()),
        };
        if name == "Content-Length" {
            let length = parse_content_length(value)?;
            if content_length.is_some_and(|seen| seen != length) {
                return Err(Error::BadHeader("Content-Length"));
            }
            content_length = Some(length);
            content_length_at.get_or_insert(headers.len());
            continue;
        }
        let value = clean_value(value);
        if SPLIT_ON_COMMAS.iter().any(|split| *split == name) {
            for piece in split_top_level(&value, b',') {
                let piece = if name == "Via" {
                    tidy_via(piece)
                } else {
                    piece.to_owned()
                };
                headers.push((name.clone(), piece));
            }
        } else {
            headers.push((name, value));
        }
    }

    let body = match content_length {
        Some(length) => body
            .get(..length)
            .ok_or_else(|| malformed("body shorter than Content-Length"))?,
        None => body,
    };
    let length_header = (Cow::Borrowed("Content-Length"), body.len().to_string());
    let at = content_length_at
        .unwrap_or(headers.len())
        .min(headers.len());
    headers.insert(at, length_header);

    let mut out = String::with_capacity(head.len() + 64);
    out.push_str(&start);
    out.push_str("\r\n");
    for (name, value) in &headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    Ok(out)
}

/// Normalises, parses with rsip, then checks the headers every later layer
/// relies on (see the module docs).
///
/// Errors: whatever [`normalise`] returns; `Malformed` when rsip rejects the
/// normalised text (an unknown method, an IPv6 or otherwise unusual
/// Request-URI ...); `BadHeader(name)` for a missing or unreadable Via (with
/// a branch), From, To, Call-ID, CSeq or Max-Forwards.
pub fn parse(bytes: &[u8]) -> Result<rsip::SipMessage, Error> {
    let normalised = normalise(bytes)?;
    let message = rsip::SipMessage::try_from(normalised.as_slice())
        .map_err(|e| malformed(format!("rsip: {e}")))?;
    validate(&message)?;
    Ok(message)
}

/// The checks behind [`parse`]'s guarantees.
fn validate(message: &rsip::SipMessage) -> Result<(), Error> {
    let headers = message.sip_headers();
    let via = first_value(headers, "Via").ok_or(Error::BadHeader("Via"))?;
    let via = ViaParts::parse(via).ok_or(Error::BadHeader("Via"))?;
    if via.branch().is_none_or(str::is_empty) {
        return Err(Error::BadHeader("Via"));
    }
    for name in ["From", "To"] {
        let value = single_value(headers, name)?;
        NameAddr::parse(value).ok_or(Error::BadHeader(static_name(name)))?;
    }
    let call_id = single_value(headers, "Call-ID")?;
    if call_id.is_empty() || call_id.contains(char::is_whitespace) {
        return Err(Error::BadHeader("Call-ID"));
    }
    let (_, cseq_method) = parse_cseq(single_value(headers, "CSeq")?)?;
    if let rsip::SipMessage::Request(request) = message
        && request.method != cseq_method
    {
        return Err(Error::BadHeader("CSeq"));
    }
    if *message.version() != rsip::Version::V2 {
        return Err(malformed("SIP version is not 2.0"));
    }
    let max_forwards: Vec<&str> = values(headers, "Max-Forwards").collect();
    if max_forwards
        .iter()
        .any(|v| v.is_empty() || v.parse::<u32>().is_err())
    {
        return Err(Error::BadHeader("Max-Forwards"));
    }
    Ok(())
}

/// `&'static` spelling of the names [`validate`] checks, for `BadHeader`.
fn static_name(name: &str) -> &'static str {
    match name {
        "From" => "From",
        "To" => "To",
        "Call-ID" => "Call-ID",
        "CSeq" => "CSeq",
        "Max-Forwards" => "Max-Forwards",
        _ => "Via",
    }
}

/// The name and value of an rsip header. The core headers are matched
/// directly (this is on every message's path); the rest go through rsip's
/// `Name: value` Display.
fn header_name_value(header: &rsip::Header) -> (Cow<'_, str>, Cow<'_, str>) {
    use rsip::Header as H;
    let (name, value) = match header {
        H::Via(h) => ("Via", h.value()),
        H::From(h) => ("From", h.value()),
        H::To(h) => ("To", h.value()),
        H::CallId(h) => ("Call-ID", h.value()),
        H::CSeq(h) => ("CSeq", h.value()),
        H::MaxForwards(h) => ("Max-Forwards", h.value()),
        H::ContentLength(h) => ("Content-Length", h.value()),
        H::Contact(h) => ("Contact", h.value()),
        H::Route(h) => ("Route", h.value()),
        H::RecordRoute(h) => ("Record-Route", h.value()),
        H::Require(h) => ("Require", h.value()),
        H::Supported(h) => ("Supported", h.value()),
        H::Other(name, value) => {
            return (Cow::Borrowed(name.as_str()), Cow::Borrowed(value.trim()));
        }
        other => {
            let text = other.to_string();
            return match text.split_once(':') {
                Some((name, value)) => (
                    Cow::Owned(name.trim().to_owned()),
                    Cow::Owned(value.trim().to_owned()),
                ),
                None => (Cow::Owned(text), Cow::Borrowed("")),
            };
        }
    };
    (Cow::Borrowed(name), Cow::Borrowed(value.trim()))
}

/// Values of the core headers matched by variant (no allocation).
fn values<'h>(headers: &'h rsip::Headers, name: &'static str) -> impl Iterator<Item = &'h str> {
    headers.iter().filter_map(move |header| {
        use rsip::Header as H;
        let value = match (header, name) {
            (H::Via(h), "Via") => h.value(),
            (H::From(h), "From") => h.value(),
            (H::To(h), "To") => h.value(),
            (H::CallId(h), "Call-ID") => h.value(),
            (H::CSeq(h), "CSeq") => h.value(),
            (H::MaxForwards(h), "Max-Forwards") => h.value(),
            (H::RecordRoute(h), "Record-Route") => h.value(),
            _ => return None,
        };
        Some(value.trim())
    })
}

fn first_value<'h>(headers: &'h rsip::Headers, name: &'static str) -> Option<&'h str> {
    values(headers, name).next()
}

/// The value of a header that must appear exactly once.
fn single_value<'h>(headers: &'h rsip::Headers, name: &'static str) -> Result<&'h str, Error> {
    let mut all = values(headers, name);
    match (all.next(), all.next()) {
        (Some(value), None) => Ok(value),
        _ => Err(Error::BadHeader(static_name(name))),
    }
}

/// `CSeq: 4711 INVITE` → (4711, Invite).
fn parse_cseq(value: &str) -> Result<(u32, rsip::Method), Error> {
    let mut parts = value.split_ascii_whitespace();
    let (Some(number), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Error::BadHeader("CSeq"));
    };
    let number = number
        .parse::<u32>()
        .map_err(|_| Error::BadHeader("CSeq"))?;
    let method = method
        .parse::<rsip::Method>()
        .map_err(|_| Error::BadHeader("CSeq"))?;
    Ok((number, method))
}

/// A byte cursor over header text, for the small grammars parsed here.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    /// Skips SP/HT and says how many were skipped.
    fn skip_wsp(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(is_wsp) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        // The cut points are ASCII bytes or the end, so always boundaries.
        self.text.get(start..self.pos).unwrap_or_default()
    }

    fn token(&mut self) -> Option<&'a str> {
        Some(self.take_while(is_token_byte)).filter(|t| !t.is_empty())
    }

    /// A quoted string including its quotes.
    fn quoted(&mut self) -> Option<&'a str> {
        let start = self.pos;
        if !self.eat(b'"') {
            return None;
        }
        let mut escaped = false;
        while let Some(b) = self.peek() {
            self.pos += 1;
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                return self.text.get(start..self.pos);
            }
        }
        None
    }
}

/// `;name=value;flag` header parameters.
fn parse_params(text: &str) -> Option<Vec<(&str, Option<&str>)>> {
    let mut cursor = Cursor::new(text);
    let mut params = Vec::new();
    loop {
        cursor.skip_wsp();
        if cursor.at_end() {
            return Some(params);
        }
        if !cursor.eat(b';') {
            return None;
        }
        cursor.skip_wsp();
        let name = cursor.token()?;
        cursor.skip_wsp();
        let value = if cursor.eat(b'=') {
            cursor.skip_wsp();
            let value = if cursor.peek() == Some(b'"') {
                cursor.quoted()?
            } else {
                cursor.take_while(|b| !matches!(b, b';' | b',' | b' ' | b'\t'))
            };
            Some(value)
        } else {
            None
        };
        params.push((name, value));
    }
}

fn find_param<'a>(params: &[(&str, Option<&'a str>)], name: &str) -> Option<Option<&'a str>> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// One Via value: `SIP/2.0/UDP host[:port];params`.
struct ViaParts<'a> {
    transport: &'a str,
    /// The host as written, IPv6 references with their brackets.
    host: &'a str,
    port: Option<u16>,
    params: Vec<(&'a str, Option<&'a str>)>,
}

impl<'a> ViaParts<'a> {
    /// Parses the first value of a Via header (a comma ends it).
    fn parse(value: &'a str) -> Option<Self> {
        let value = split_top_level(value, b',').into_iter().next()?;
        let mut cursor = Cursor::new(value);
        let protocol = cursor.token()?;
        cursor.skip_wsp();
        if !cursor.eat(b'/') {
            return None;
        }
        cursor.skip_wsp();
        let version = cursor.token()?;
        cursor.skip_wsp();
        if !cursor.eat(b'/') {
            return None;
        }
        cursor.skip_wsp();
        let transport = cursor.token()?;
        if !protocol.eq_ignore_ascii_case("SIP") || version != "2.0" || cursor.skip_wsp() == 0 {
            return None;
        }
        let host = if cursor.peek() == Some(b'[') {
            let start = cursor.pos;
            cursor.take_while(|b| b != b']');
            if !cursor.eat(b']') {
                return None;
            }
            value.get(start..cursor.pos)?
        } else {
            cursor.take_while(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        };
        if host.is_empty() || host == "[]" {
            return None;
        }
        cursor.skip_wsp();
        let port = if cursor.eat(b':') {
            cursor.skip_wsp();
            Some(
                cursor
                    .take_while(|b| b.is_ascii_digit())
                    .parse::<u16>()
                    .ok()?,
            )
        } else {
            None
        };
        let params = parse_params(value.get(cursor.pos..)?)?;
        Some(ViaParts {
            transport,
            host,
            port,
            params,
        })
    }

    fn branch(&self) -> Option<&'a str> {
        find_param(&self.params, "branch").flatten()
    }

    fn sent_by(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.to_owned(),
        }
    }

    /// The sent-by host as an IP address, when it is one.
    fn host_ip(&self) -> Option<IpAddr> {
        parse_ip(self.host)
    }

    fn param_ip(&self, name: &str) -> Option<IpAddr> {
        find_param(&self.params, name).flatten().and_then(parse_ip)
    }

    fn rport(&self) -> Option<u16> {
        find_param(&self.params, "rport")
            .flatten()
            .and_then(|p| p.parse().ok())
    }

    /// Writes the value back, params in their order.
    fn render(&self, params: &[(&str, Option<Cow<'_, str>>)]) -> String {
        let mut out = format!("SIP/2.0/{} {}", self.transport, self.sent_by());
        for (name, value) in params {
            match value {
                Some(value) => {
                    let _ = write!(out, ";{name}={value}");
                }
                None => {
                    let _ = write!(out, ";{name}");
                }
            }
        }
        out
    }
}

/// An IP literal, IPv6 with or without brackets.
fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    text.parse().ok()
}

/// A From/To/Contact value: `"Name" <uri>;params` or `uri;params`.
struct NameAddr<'a> {
    uri: &'a str,
    params: Vec<(&'a str, Option<&'a str>)>,
}

impl<'a> NameAddr<'a> {
    fn parse(value: &'a str) -> Option<Self> {
        let value = value.trim();
        let mut cursor = Cursor::new(value);
        // Find a '<' outside a quoted display name.
        let mut open = None;
        while let Some(b) = cursor.peek() {
            match b {
                b'"' => {
                    cursor.quoted()?;
                }
                b'<' => {
                    open = Some(cursor.pos);
                    break;
                }
                _ => cursor.pos += 1,
            }
        }
        let (uri, rest) = match open {
            Some(open) => {
                let inner = value.get(open + 1..)?;
                let close = inner.find('>')?;
                (inner.get(..close)?, inner.get(close + 1..)?)
            }
            // In an addr-spec without brackets, every ';' starts a header
            // parameter (RFC 3261 §20).
            None => match value.find(';') {
                Some(semi) => (value.get(..semi)?, value.get(semi..)?),
                None => (value, ""),
            },
        };
        let uri = uri.trim();
        let (scheme, rest_of_uri) = uri.split_once(':')?;
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            || rest_of_uri.is_empty()
            || uri.contains(char::is_whitespace)
        {
            return None;
        }
        Some(NameAddr {
            uri,
            params: parse_params(rest)?,
        })
    }

    fn tag(&self) -> Option<String> {
        find_param(&self.params, "tag")
            .flatten()
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    }
}

/// Undoes `%XX` escapes; invalid escapes stay as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The user part of a `sip:`/`sips:` URI (unescaped), or the number of a
/// `tel:` URI.
pub fn uri_user(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.trim().split_once(':')?;
    let user = if scheme.eq_ignore_ascii_case("tel") {
        rest.split(';').next()?
    } else if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        // The user part may itself hold ';' or '?' (RFC 3261 user-unreserved),
        // so cut at '@' first; the password, if any, follows a ':'.
        let (userinfo, _) = rest.split_once('@')?;
        userinfo.split(':').next()?
    } else {
        return None;
    };
    Some(percent_decode(user)).filter(|u| !u.is_empty())
}

/// Header accessors the transaction layer and engine use.
///
/// Every accessor reads the header text itself (not rsip's typed headers).
/// On a message accepted by [`parse`], `call_id`, `cseq`, `top_via_branch`
/// and `top_via_sent_by` return `Ok`.
pub trait HeadersExt {
    /// The rsip headers to read.
    fn sip_headers(&self) -> &rsip::Headers;

    /// The Call-ID value.
    fn call_id(&self) -> Result<String, Error> {
        first_value(self.sip_headers(), "Call-ID")
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or(Error::BadHeader("Call-ID"))
    }

    /// The CSeq number and method.
    fn cseq(&self) -> Result<(u32, rsip::Method), Error> {
        parse_cseq(first_value(self.sip_headers(), "CSeq").ok_or(Error::BadHeader("CSeq"))?)
    }

    /// The `branch` parameter of the top Via (the transaction id).
    fn top_via_branch(&self) -> Result<String, Error> {
        let via = first_value(self.sip_headers(), "Via").ok_or(Error::BadHeader("Via"))?;
        ViaParts::parse(via)
            .and_then(|v| v.branch().filter(|b| !b.is_empty()).map(str::to_owned))
            .ok_or(Error::BadHeader("Via"))
    }

    /// The sent-by of the top Via as text: `host` or `host:port`, IPv6
    /// references in brackets.
    fn top_via_sent_by(&self) -> Result<String, Error> {
        let via = first_value(self.sip_headers(), "Via").ok_or(Error::BadHeader("Via"))?;
        ViaParts::parse(via)
            .map(|v| v.sent_by())
            .ok_or(Error::BadHeader("Via"))
    }

    /// The From tag, if any.
    // "from" names the From header here, not a conversion.
    #[allow(clippy::wrong_self_convention)]
    fn from_tag(&self) -> Option<String> {
        NameAddr::parse(first_value(self.sip_headers(), "From")?)?.tag()
    }

    /// The To tag, if any (absent on a dialog-creating request).
    fn to_tag(&self) -> Option<String> {
        NameAddr::parse(first_value(self.sip_headers(), "To")?)?.tag()
    }

    /// The user part of the From URI (the caller's number on a trunk).
    #[allow(clippy::wrong_self_convention)]
    fn from_user(&self) -> Option<String> {
        uri_user(NameAddr::parse(first_value(self.sip_headers(), "From")?)?.uri)
    }

    /// The user part of the To URI.
    fn to_user(&self) -> Option<String> {
        uri_user(NameAddr::parse(first_value(self.sip_headers(), "To")?)?.uri)
    }

    /// The user part of the Request-URI (the dialled number on a trunk);
    /// `None` on responses.
    fn request_uri_user(&self) -> Option<String> {
        None
    }

    /// All values of a header, matched case-insensitively (compact names
    /// too), comma-separated lists split and trimmed: `Supported: timer,
    /// 100rel` gives `["timer", "100rel"]`.
    fn header_values(&self, name: &str) -> Vec<String> {
        let wanted = canonical_header_name(name);
        let mut out = Vec::new();
        for header in self.sip_headers().iter() {
            let (name, value) = header_name_value(header);
            if canonical_header_name(&name).eq_ignore_ascii_case(&wanted) {
                out.extend(split_top_level(&value, b',').into_iter().map(str::to_owned));
            }
        }
        out
    }
}

impl HeadersExt for rsip::Request {
    fn sip_headers(&self) -> &rsip::Headers {
        &self.headers
    }

    fn request_uri_user(&self) -> Option<String> {
        // rsip's own `Uri::user` misses users with a '.' (it parses them as
        // part of the host), so read the URI text.
        uri_user(&self.uri.to_string())
    }
}

impl HeadersExt for rsip::Response {
    fn sip_headers(&self) -> &rsip::Headers {
        &self.headers
    }
}

impl HeadersExt for rsip::SipMessage {
    fn sip_headers(&self) -> &rsip::Headers {
        match self {
            rsip::SipMessage::Request(r) => &r.headers,
            rsip::SipMessage::Response(r) => &r.headers,
        }
    }

    fn request_uri_user(&self) -> Option<String> {
        match self {
            rsip::SipMessage::Request(r) => r.request_uri_user(),
            rsip::SipMessage::Response(_) => None,
        }
    }
}

/// Stamps the top Via of a received request (RFC 3261 §18.2.1, RFC 3581):
/// adds `received=<source ip>` when the sent-by host is not the source
/// address, and fills an empty `rport` with the source port. When `rport`
/// is present, `received` is added even if the addresses match, as RFC 3581
/// §4 requires. A top Via this module cannot read is left alone (such a
/// request never passed [`parse`]).
pub fn stamp_received(req: &mut rsip::Request, source: SocketAddr) {
    let Some(via) = req.headers.iter_mut().find_map(|h| match h {
        rsip::Header::Via(via) => Some(via),
        _ => None,
    }) else {
        return;
    };
    let original = via.value().to_owned();
    let pieces = split_top_level(&original, b',');
    let Some(parts) = pieces.first().and_then(|top| ViaParts::parse(top)) else {
        return;
    };
    let ip = source.ip().to_canonical();
    let rport = find_param(&parts.params, "rport");
    let need_received = rport.is_some() || parts.host_ip() != Some(ip);
    let received_text = ip.to_string();
    let port_text = source.port().to_string();

    let mut params: Vec<(&str, Option<Cow<'_, str>>)> = Vec::new();
    let mut wrote_received = false;
    for &(name, value) in &parts.params {
        if name.eq_ignore_ascii_case("rport") && value.is_none_or(str::is_empty) {
            params.push((name, Some(Cow::Borrowed(&port_text))));
        } else if name.eq_ignore_ascii_case("received") && need_received {
            if !wrote_received {
                params.push((name, Some(Cow::Borrowed(&received_text))));
                wrote_received = true;
            }
        } else {
            params.push((name, value.map(Cow::Borrowed)));
        }
    }
    if need_received && !wrote_received {
        params.push(("received", Some(Cow::Borrowed(&received_text))));
    }
    let mut value = parts.render(&params);
    for rest in pieces.iter().skip(1) {
        value.push_str(", ");
        value.push_str(rest);
    }
    via.replace(value);
}

/// Where to send a response (RFC 3261 §18.2.2 with RFC 3581), from its top
/// Via as stamped by [`stamp_received`].
///
/// UDP: `maddr` if it is an IP; else `received` (or an IP sent-by) with the
/// `rport` value, or the sent-by port, or 5060. TCP: the runtime answers on
/// the request's connection; this is where to reconnect if it closed:
/// `received` (or an IP sent-by) and the sent-by port or 5060. `None` when
/// the address would need DNS (a host name without `received`).
pub fn response_destination(resp: &rsip::Response, transport: Transport) -> Option<SocketAddr> {
    let via = ViaParts::parse(first_value(&resp.headers, "Via")?)?;
    let sent_by_port = via.port.unwrap_or(DEFAULT_PORT);
    let received = via.param_ip("received").or_else(|| via.host_ip());
    match transport {
        Transport::Tcp => Some(SocketAddr::new(received?, sent_by_port)),
        Transport::Udp => {
            if let Some(maddr) = via.param_ip("maddr") {
                return Some(SocketAddr::new(maddr, sent_by_port));
            }
            let port = via.rport().unwrap_or(sent_by_port);
            Some(SocketAddr::new(received?, port))
        }
    }
}

/// The RFC reason phrase of a status code, or its class's name.
fn reason_phrase(code: u16) -> &'static str {
    standard_reason_phrase(code).unwrap_or(match code {
        100..=199 => "Session Progress",
        200..=299 => "OK",
        300..=399 => "Redirection",
        400..=499 => "Request Failure",
        500..=599 => "Server Failure",
        _ => "Global Failure",
    })
}

/// The reason phrases of the RFC 3261 registry (and later RFCs).
fn standard_reason_phrase(code: u16) -> Option<&'static str> {
    Some(match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        417 => "Unknown Resource-Priority",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        428 => "Use Identity Header",
        429 => "Provide Referrer Identity",
        433 => "Anonymity Disallowed",
        436 => "Bad Identity-Info",
        437 => "Unsupported Certificate",
        438 => "Invalid Identity Header",
        439 => "First Hop Lacks Outbound Support",
        440 => "Max-Breadth Exceeded",
        469 => "Bad Info Package",
        470 => "Consent Needed",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        494 => "Security Agreement Required",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        580 => "Precondition Failure",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        607 => "Unwanted",
        _ => return None,
    })
}

/// Printable single-line text for a reason phrase or a header value we write.
fn one_line(text: &str) -> String {
    // Exactly what `clean_value` blanks and trims when parsing, so whatever
    // `parse` accepted comes out unchanged (a C1 character such as U+008A
    // or a trailing no-break space stays as it came).
    text.chars()
        .map(|c| {
            if (c < ' ' && c != '\t') || c == '\u{7f}' {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .trim_matches([' ', '\t'])
        .to_owned()
}

/// The rsip status for `code`: the typed variant unless a reason phrase other
/// than the standard one is asked for, which only `Other` can carry.
fn status_code(code: u16, reason: Option<&str>) -> rsip::StatusCode {
    let standard = reason_phrase(code);
    match reason.map(one_line) {
        Some(reason) if !reason.is_empty() && !reason.eq_ignore_ascii_case(standard) => {
            rsip::StatusCode::Other(code, reason)
        }
        _ => match rsip::StatusCode::from(code) {
            rsip::StatusCode::Other(code, _) => rsip::StatusCode::Other(code, standard.to_owned()),
            known => known,
        },
    }
}

/// Builds a response to `req` (RFC 3261 §8.2.6): all Via headers in order
/// (with `received`/`rport` as stamped), Record-Route for 101-299 (RFC 3261
/// §12.1.1; harmless where no dialog is made), From, To (a `tag` is added
/// only if the To has none and `to_tag` is given), Call-ID, CSeq,
/// `Server: hotline` and `Content-Length: 0`. Never fails: headers missing
/// from `req` are missing from the response.
///
/// `code` must be 100..=699. With a `reason` other than the standard phrase
/// the status is `StatusCode::Other(code, reason)`.
pub fn response(
    req: &rsip::Request,
    code: u16,
    reason: Option<&str>,
    to_tag: Option<&str>,
) -> rsip::Response {
    use rsip::Header as H;
    let mut headers = rsip::Headers::default();
    for header in req.headers.iter() {
        if matches!(header, H::Via(_)) {
            headers.push(header.clone());
        }
    }
    if (101..=299).contains(&code) {
        for header in req.headers.iter() {
            if matches!(header, H::RecordRoute(_)) {
                headers.push(header.clone());
            }
        }
    }
    if let Some(from) = req.headers.iter().find(|h| matches!(h, H::From(_))) {
        headers.push(from.clone());
    }
    if let Some(to) = first_value(&req.headers, "To") {
        let has_tag = NameAddr::parse(to).and_then(|t| t.tag()).is_some();
        let to = match to_tag.map(one_line) {
            Some(tag) if !has_tag && !tag.is_empty() => format!("{to};tag={tag}"),
            _ => to.to_owned(),
        };
        headers.push(H::To(rsip::headers::To::new(to)));
    }
    for header in req.headers.iter() {
        if matches!(header, H::CallId(_)) {
            headers.push(header.clone());
            break;
        }
    }
    for header in req.headers.iter() {
        if matches!(header, H::CSeq(_)) {
            headers.push(header.clone());
            break;
        }
    }
    headers.push(H::Server(rsip::headers::Server::new("hotline")));
    headers.push(H::ContentLength(rsip::headers::ContentLength::from(0u32)));
    rsip::Response {
        status_code: status_code(code, reason),
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

/// Writes a message for the wire: the start line (responses with the RFC
/// reason phrase, or the custom one of `StatusCode::Other`), the headers with
/// any CR/LF inside a value blanked, a Content-Length equal to the body length
/// (replacing any given; placed where the first one was, else last), a blank
/// line, and the body bytes unchanged.
pub fn serialize(msg: &rsip::SipMessage) -> Vec<u8> {
    match msg {
        rsip::SipMessage::Request(r) => serialize_request(r),
        rsip::SipMessage::Response(r) => serialize_response(r),
    }
}

/// [`serialize`] for a request.
pub fn serialize_request(r: &rsip::Request) -> Vec<u8> {
    let mut head = String::with_capacity(512);
    let _ = write!(
        head,
        "{} {} SIP/2.0\r\n",
        r.method,
        one_line(&r.uri.to_string())
    );
    finish_message(head, &r.headers, &r.body)
}

/// [`serialize`] for a response.
pub fn serialize_response(r: &rsip::Response) -> Vec<u8> {
    let (code, reason) = match &r.status_code {
        rsip::StatusCode::Other(code, reason) => (*code, one_line(reason)),
        known => (known.code(), reason_phrase(known.code()).to_owned()),
    };
    let mut head = String::with_capacity(512);
    let _ = write!(head, "SIP/2.0 {code} {reason}\r\n");
    finish_message(head, &r.headers, &r.body)
}

/// Appends the headers (Content-Length rewritten), the blank line and the
/// body to a start line.
fn finish_message(mut head: String, headers: &rsip::Headers, body: &[u8]) -> Vec<u8> {
    let mut wrote_length = false;
    for header in headers.iter() {
        if matches!(header, rsip::Header::ContentLength(_)) {
            if !wrote_length {
                let _ = write!(head, "Content-Length: {}\r\n", body.len());
                wrote_length = true;
            }
            continue;
        }
        let _ = write!(head, "{}\r\n", one_line(&header.to_string()));
    }
    if !wrote_length {
        let _ = write!(head, "Content-Length: {}\r\n", body.len());
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// FNV-1a, to derive a stable To tag for stateless error responses.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// The reason phrase of a stateless 400, naming the problem briefly.
fn bad_request_reason(error: &Error) -> String {
    let text = match error {
        Error::BadHeader(name) => format!("Bad {name}"),
        Error::TooLarge(_) => "Bad Request (too large)".to_owned(),
        Error::Malformed(text) if text.starts_with("rsip") => "Bad Request".to_owned(),
        Error::Malformed(text) => format!("Bad Request ({text})"),
        _ => "Bad Request".to_owned(),
    };
    let text = one_line(&text);
    text.chars().take(60).collect()
}

/// A stateless error answer for bytes that look like a SIP request but fail
/// [`parse`]: `400` with a short reason phrase naming the problem; or, as
/// RFC 3261 §8.2 orders the checks, `505 Version Not Supported` for a version
/// other than SIP/2.0, `501 Not Implemented` for a method rsip does not know
/// and `416 Unsupported URI Scheme` for a non-SIP Request-URI (`tel:` ...).
///
/// The raw Via (all, in order), From, To, Call-ID and CSeq lines are copied
/// as found, compact or not, so the client can match the answer; a To
/// without a tag gets a stable one derived from the request. The runtime
/// sends it to the packet's source address.
///
/// `None` when the bytes parse, are a response, are not SIP, are an ACK
/// (never answered) or have no Via line (nowhere to send it).
pub fn bad_request(bytes: &[u8]) -> Option<Vec<u8>> {
    let trimmed = skip_leading_line_ends(bytes);
    let (head, _) = split_head_body(trimmed);
    let mut lines = head_lines(head);
    let start = std::str::from_utf8(lines.next()?).ok()?;
    let mut words = start.split_ascii_whitespace();
    let (Some(method), Some(uri), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return None;
    };
    if !is_token(method)
        || method.eq_ignore_ascii_case("ACK")
        || !version
            .get(..4)
            .is_some_and(|v| v.eq_ignore_ascii_case("SIP/"))
    {
        return None;
    }
    let error = parse(bytes).err()?;
    let scheme = uri.split_once(':').map(|(scheme, _)| scheme);
    let status = if !version.eq_ignore_ascii_case("SIP/2.0") {
        "505 Version Not Supported".to_owned()
    } else if method.parse::<rsip::Method>().is_err() {
        "501 Not Implemented".to_owned()
    } else if scheme
        .is_some_and(|s| !s.eq_ignore_ascii_case("sip") && !s.eq_ignore_ascii_case("sips"))
    {
        "416 Unsupported URI Scheme".to_owned()
    } else {
        format!("400 {}", bad_request_reason(&error))
    };

    // Unfold leniently: a broken continuation line must not hide the Via.
    let mut header_lines: Vec<Vec<u8>> = Vec::new();
    for line in lines {
        match (line.first(), header_lines.last_mut()) {
            (Some(b' ' | b'\t'), Some(previous)) => {
                previous.push(b' ');
                previous.extend_from_slice(trim_wsp(line));
            }
            (Some(b' ' | b'\t'), None) => {}
            _ => header_lines.push(line.to_vec()),
        }
    }
    let mut vias = Vec::new();
    let mut copied: [Option<String>; 4] = [None, None, None, None];
    const COPIED: [&str; 4] = ["From", "To", "Call-ID", "CSeq"];
    for line in &header_lines {
        let Some((name, _)) = split_header_line(line) else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        let canonical = canonical_header_name(name);
        let text = one_line(&String::from_utf8_lossy(line));
        if canonical == "Via" {
            vias.push(text);
        } else if let Some(slot) = COPIED
            .iter()
            .position(|c| *c == canonical)
            .and_then(|i| copied.get_mut(i))
        {
            slot.get_or_insert(text);
        }
    }
    if vias.is_empty() {
        return None;
    }

    let mut out = format!("SIP/2.0 {status}\r\n");
    for via in &vias {
        let _ = write!(out, "{via}\r\n");
    }
    let [from, to, call_id, cseq] = copied;
    if let Some(from) = from {
        let _ = write!(out, "{from}\r\n");
    }
    if let Some(to) = to {
        let value = to
            .split_once(':')
            .map(|(_, v)| v.trim())
            .unwrap_or_default();
        let has_tag = NameAddr::parse(value).and_then(|t| t.tag()).is_some();
        if has_tag || NameAddr::parse(value).is_none() {
            let _ = write!(out, "{to}\r\n");
        } else {
            let seed = fnv1a(&[
                call_id.as_deref().unwrap_or_default().as_bytes(),
                vias.first().map(String::as_bytes).unwrap_or_default(),
            ]);
            let _ = write!(out, "{to};tag=hl{:012x}\r\n", seed >> 16);
        }
    }
    for line in [call_id, cseq].into_iter().flatten() {
        let _ = write!(out, "{line}\r\n");
    }
    out.push_str("Server: hotline\r\nContent-Length: 0\r\n\r\n");
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SIPP_INVITE: &[u8] = include_bytes!("../../tests/data/sip/sipp_uac_invite.sip");
    const LINPHONE_INVITE: &[u8] = include_bytes!("../../tests/data/sip/linphone_invite.sip");
    const CARRIER_INVITE: &[u8] = include_bytes!("../../tests/data/sip/carrier_invite.sip");

    /// Test messages are written with `\n`; the wire wants CRLF.
    fn crlf(text: &str) -> Vec<u8> {
        text.replace('\n', "\r\n").into_bytes()
    }

    const OPTIONS: &str = "OPTIONS sip:hotline@192.0.2.1 SIP/2.0\n\
        Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKabc\n\
        From: <sip:alice@192.0.2.9>;tag=f1\n\
        To: <sip:hotline@192.0.2.1>\n\
        Call-ID: c1@192.0.2.9\n\
        CSeq: 1 OPTIONS\n\
        Max-Forwards: 70\n\
        Content-Length: 0\n\n";

    /// OPTIONS with one header line replaced (or removed with `None`).
    fn options_with(name: &str, line: Option<&str>) -> Vec<u8> {
        let mut out = String::new();
        for l in OPTIONS.split_inclusive('\n') {
            if l.starts_with(&format!("{name}:")) {
                if let Some(line) = line {
                    out.push_str(line);
                    out.push('\n');
                }
            } else {
                out.push_str(l);
            }
        }
        crlf(&out)
    }

    fn request(bytes: &[u8]) -> rsip::Request {
        match parse(bytes) {
            Ok(rsip::SipMessage::Request(r)) => r,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn every_compact_name_is_expanded() {
        for (letter, full) in COMPACT_FORMS {
            for letter in [letter, letter.to_ascii_uppercase()] {
                let extra = format!("{}: value-{full}", char::from(letter));
                let raw = OPTIONS.replace(
                    "Max-Forwards: 70\n",
                    &format!("Max-Forwards: 70\n{extra}\n"),
                );
                let raw = if full == "Content-Length" {
                    OPTIONS.replace("Content-Length: 0", &format!("{}: 0", char::from(letter)))
                } else {
                    raw
                };
                let out = text(&normalise(&crlf(&raw)).expect("normalises"));
                if full == "Content-Length" {
                    assert!(out.contains("\r\nContent-Length: 0\r\n"), "{out}");
                } else {
                    assert!(
                        out.contains(&format!("\r\n{full}: value-{full}\r\n")),
                        "{out}"
                    );
                }
            }
        }
    }

    #[test]
    fn compact_core_headers_parse() {
        let raw = "BYE sip:hotline@192.0.2.1 SIP/2.0\n\
            v: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKc\n\
            f: <sip:alice@192.0.2.9>;tag=a\n\
            t: <sip:hotline@192.0.2.1>;tag=b\n\
            i: compact@192.0.2.9\n\
            CSeq: 2 BYE\n\
            l: 0\n\n";
        let req = request(&crlf(raw));
        assert_eq!(req.call_id().unwrap(), "compact@192.0.2.9");
        assert_eq!(req.cseq().unwrap(), (2, rsip::Method::Bye));
        assert_eq!(req.from_tag().as_deref(), Some("a"));
        assert_eq!(req.to_tag().as_deref(), Some("b"));
        assert_eq!(req.top_via_sent_by().unwrap(), "192.0.2.9");
    }

    #[test]
    fn folded_via_and_subject_are_unfolded() {
        let raw = OPTIONS
            .replace(
                "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKabc\n",
                "Via: SIP/2.0/UDP 192.0.2.9:5060\n    ;branch=z9hG4bKabc\n",
            )
            .replace(
                "Max-Forwards: 70\n",
                "Max-Forwards: 70\nSubject: I know you're there,\n\tpick up the phone\n   and talk to me!\n",
            );
        let bytes = crlf(&raw);
        let out = text(&normalise(&bytes).unwrap());
        assert!(
            out.contains("\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKabc\r\n"),
            "{out}"
        );
        assert!(
            out.contains("\r\nSubject: I know you're there, pick up the phone and talk to me!\r\n")
        );
        let req = request(&bytes);
        assert_eq!(req.top_via_branch().unwrap(), "z9hG4bKabc");
        // rsip's own typed Via reads it too after tidying.
        use rsip::prelude::HeadersExt as _;
        assert_eq!(
            req.transaction_id()
                .unwrap()
                .map(|b| b.to_string())
                .as_deref(),
            Some("z9hG4bKabc")
        );
    }

    #[test]
    fn continuation_of_the_start_line_is_malformed() {
        let raw = crlf("OPTIONS sip:a@b SIP/2.0\n  oops\nVia: x\n\n");
        assert!(matches!(normalise(&raw), Err(Error::Malformed(_))));
    }

    #[test]
    fn mixed_case_names_are_canonical() {
        let raw = "OPTIONS sip:hotline@192.0.2.1 SIP/2.0\n\
            via : SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKabc\n\
            FROM:<sip:alice@192.0.2.9>;tag=f1\n\
            tO:   <sip:hotline@192.0.2.1>   \n\
            CALL-ID:\tc1@192.0.2.9\n\
            cseq: 1 OPTIONS\n\
            www-authenticate: Digest realm=\"x\"\n\
            max-FORWARDS: 70\n\
            X-Custom-Thing: kept as is\n\
            content-LENGTH: 0\n\n";
        let out = text(&normalise(&crlf(raw)).unwrap());
        for line in [
            "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKabc",
            "From: <sip:alice@192.0.2.9>;tag=f1",
            "To: <sip:hotline@192.0.2.1>",
            "Call-ID: c1@192.0.2.9",
            "CSeq: 1 OPTIONS",
            "WWW-Authenticate: Digest realm=\"x\"",
            "Max-Forwards: 70",
            "X-Custom-Thing: kept as is",
            "Content-Length: 0",
        ] {
            assert!(out.contains(&format!("\r\n{line}\r\n")), "{line} in {out}");
        }
        let req = request(&crlf(raw));
        assert_eq!(req.call_id().unwrap(), "c1@192.0.2.9");
    }

    #[test]
    fn lf_only_message_parses_and_is_written_with_crlf() {
        let raw = OPTIONS.replace("Content-Length: 0", "Content-Length: 4") + "abcd";
        let out = normalise(raw.as_bytes()).unwrap();
        assert!(text(&out).starts_with("OPTIONS sip:hotline@192.0.2.1 SIP/2.0\r\nVia:"));
        assert!(text(&out).ends_with("\r\nContent-Length: 4\r\n\r\nabcd"));
        let req = request(raw.as_bytes());
        assert_eq!(req.body, b"abcd");
    }

    #[test]
    fn leading_crlf_and_sloppy_start_line_are_tolerated() {
        let raw = format!(
            "\r\n\r\n{}",
            OPTIONS.replacen(
                "OPTIONS sip:hotline@192.0.2.1 SIP/2.0",
                "OPTIONS  sip:hotline@192.0.2.1\tsip/2.0 ",
                1,
            )
        );
        let req = request(&crlf(&raw));
        assert_eq!(req.method, rsip::Method::Options);
    }

    #[test]
    fn body_is_cut_to_content_length() {
        let raw = crlf(&OPTIONS.replace("Content-Length: 0", "Content-Length: 5"));
        let mut longer = raw.clone();
        longer.extend_from_slice(b"hello, and some trailing junk");
        assert_eq!(request(&longer).body, b"hello");

        let mut shorter = raw;
        shorter.extend_from_slice(b"hel");
        assert!(matches!(parse(&shorter), Err(Error::Malformed(m)) if m.contains("shorter")));
    }

    #[test]
    fn missing_content_length_takes_the_datagram_body() {
        let mut raw = options_with("Content-Length", None);
        raw.extend_from_slice(b"xyz");
        let out = text(&normalise(&raw).unwrap());
        assert!(out.ends_with("Content-Length: 3\r\n\r\nxyz"), "{out}");
    }

    #[test]
    fn bad_content_length_is_a_bad_header() {
        for value in ["abc", "-1", "", "99999999999999999999999999", "1 2"] {
            let raw = options_with("Content-Length", Some(&format!("Content-Length: {value}")));
            assert_eq!(
                parse(&raw),
                Err(Error::BadHeader("Content-Length")),
                "{value}"
            );
        }
        let raw = options_with("Content-Length", Some("Content-Length: 0\nl: 2"));
        assert_eq!(parse(&raw), Err(Error::BadHeader("Content-Length")));
    }

    #[test]
    fn sipp_invite() {
        let req = request(SIPP_INVITE);
        assert_eq!(req.method, rsip::Method::Invite);
        assert_eq!(req.call_id().unwrap(), "1-9144@127.0.0.1");
        assert_eq!(req.cseq().unwrap(), (1, rsip::Method::Invite));
        assert_eq!(req.top_via_branch().unwrap(), "z9hG4bK-9144-1-0");
        assert_eq!(req.top_via_sent_by().unwrap(), "127.0.0.1:5091");
        assert_eq!(req.from_tag().as_deref(), Some("9144SIPpTag001"));
        assert_eq!(req.to_tag(), None);
        assert_eq!(req.from_user().as_deref(), Some("sipp"));
        assert_eq!(req.to_user().as_deref(), Some("service"));
        assert_eq!(req.request_uri_user().as_deref(), Some("service"));
        assert_eq!(req.body.len(), 129);
        assert!(req.body.starts_with(b"v=0\r\n"));
        assert_eq!(req.header_values("subject"), vec!["Performance Test"]);
    }

    #[test]
    fn linphone_invite() {
        let req = request(LINPHONE_INVITE);
        assert_eq!(req.from_user().as_deref(), Some("alice.martin"));
        assert_eq!(req.to_user().as_deref(), Some("4001234567"));
        assert_eq!(req.to_tag(), None);
        assert_eq!(req.cseq().unwrap(), (20, rsip::Method::Invite));
        assert_eq!(
            req.header_values("Supported"),
            ["replaces", "outbound", "gruu"]
        );
        assert_eq!(req.header_values("k"), ["replaces", "outbound", "gruu"]);
        assert!(req.header_values("Require").is_empty());
        // The quoted '<' '>' inside +sip.instance must not split the Contact.
        let contact = req.header_values("m");
        assert_eq!(contact.len(), 1);
        assert!(contact[0].ends_with("6b1c3c8e-1d2a-4f1e-9b7e-2f0c3a5d9e11>\""));
        assert!(
            std::str::from_utf8(&req.body)
                .unwrap()
                .contains("telephone-event/8000")
        );
    }

    #[test]
    fn carrier_invite_with_compact_headers_and_two_vias() {
        let req = request(CARRIER_INVITE);
        assert_eq!(req.top_via_branch().unwrap(), "z9hG4bK3a1f.9c2b1e7d.0");
        assert_eq!(req.top_via_sent_by().unwrap(), "198.51.100.7:5060");
        assert_eq!(req.header_values("Via").len(), 2);
        assert_eq!(req.call_id().unwrap(), "6a3e7b1c2d@198.51.100.20");
        assert_eq!(req.from_user().as_deref(), Some("+33612345678"));
        assert_eq!(req.from_tag().as_deref(), Some("as5f3e"));
        assert_eq!(req.request_uri_user().as_deref(), Some("4001234567"));
        assert_eq!(req.header_values("Supported"), ["timer", "100rel"]);
        assert_eq!(req.header_values("session-expires"), ["1800;refresher=uac"]);
        assert!(req.body.ends_with(b"a=sendrecv\r\n"));

        let ok = response(&req, 200, None, Some("hl-1"));
        let wire = text(&serialize(&ok.into()));
        let expected_head = "SIP/2.0 200 OK\r\n\
            Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK3a1f.9c2b1e7d.0\r\n\
            Via: SIP/2.0/UDP 198.51.100.20:5060;received=198.51.100.20;rport=5060;branch=z9hG4bKdf1a\r\n\
            Record-Route: <sip:198.51.100.7;lr=on;ftag=as5f3e>\r\n\
            From: \"0612345678\" <sip:+33612345678@198.51.100.20;user=phone>;tag=as5f3e\r\n\
            To: <sip:4001234567@203.0.113.10;user=phone>;tag=hl-1\r\n\
            Call-ID: 6a3e7b1c2d@198.51.100.20\r\n\
            CSeq: 102 INVITE\r\n\
            Server: hotline\r\n\
            Content-Length: 0\r\n\r\n";
        assert_eq!(wire, expected_head);
    }

    #[test]
    fn comma_separated_vias_are_split_in_order() {
        let raw = OPTIONS.replace(
            "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKabc\n",
            "Via: SIP / 2.0 / UDP 192.0.2.9 : 5060 ; branch = z9hG4bKabc , SIP/2.0/TCP proxy.example;branch=z9hG4bKp\n",
        );
        let req = request(&crlf(&raw));
        assert_eq!(
            req.header_values("Via"),
            [
                "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKabc",
                "SIP/2.0/TCP proxy.example;branch=z9hG4bKp"
            ]
        );
        assert_eq!(req.top_via_sent_by().unwrap(), "192.0.2.9:5060");
    }

    #[test]
    fn parse_rejects_missing_or_broken_core_headers() {
        let cases: Vec<(Vec<u8>, Error)> = vec![
            (options_with("Via", None), Error::BadHeader("Via")),
            (
                options_with("Via", Some("Via: SIP/2.0/UDP 192.0.2.9:5060")),
                Error::BadHeader("Via"),
            ),
            (
                options_with(
                    "Via",
                    Some("Via: SIP/2.0/UDP 192.0.2.9:99999;branch=z9hG4bKx"),
                ),
                Error::BadHeader("Via"),
            ),
            (options_with("From", None), Error::BadHeader("From")),
            (
                options_with("From", Some("From: nonsense")),
                Error::BadHeader("From"),
            ),
            (
                options_with("To", Some("To: <sip:a@b>\nTo: <sip:c@d>")),
                Error::BadHeader("To"),
            ),
            (options_with("Call-ID", None), Error::BadHeader("Call-ID")),
            (
                options_with("Call-ID", Some("Call-ID: two words")),
                Error::BadHeader("Call-ID"),
            ),
            (options_with("CSeq", None), Error::BadHeader("CSeq")),
            (
                options_with("CSeq", Some("CSeq: x OPTIONS")),
                Error::BadHeader("CSeq"),
            ),
            (
                options_with("CSeq", Some("CSeq: 1 INVITE")),
                Error::BadHeader("CSeq"),
            ),
            (
                options_with("CSeq", Some("CSeq: 1 FROB")),
                Error::BadHeader("CSeq"),
            ),
            (
                options_with("CSeq", Some("CSeq: 4294967296 OPTIONS")),
                Error::BadHeader("CSeq"),
            ),
            (
                options_with("Max-Forwards", Some("Max-Forwards: seventy")),
                Error::BadHeader("Max-Forwards"),
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(parse(&raw), Err(expected.clone()), "{}", text(&raw));
        }
        let no_colon = options_with("Max-Forwards", Some("Max-Forwards 70"));
        assert!(matches!(parse(&no_colon), Err(Error::Malformed(_))));
        let unknown_method = crlf(&OPTIONS.replace("OPTIONS", "FROB"));
        assert!(matches!(parse(&unknown_method), Err(Error::Malformed(_))));
    }

    #[test]
    fn responses_parse_too() {
        let raw = "SIP/2.0 180 Ringing\n\
            Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKout1\n\
            From: <sip:hotline@203.0.113.10>;tag=ours\n\
            To: <sip:+33612345678@198.51.100.20>;tag=theirs\n\
            Call-ID: out-1\n\
            CSeq: 1 INVITE\n\
            Content-Length: 0\n\n";
        let Ok(rsip::SipMessage::Response(resp)) = parse(&crlf(raw)) else {
            panic!("response expected");
        };
        assert_eq!(resp.status_code.code(), 180);
        assert_eq!(resp.to_tag().as_deref(), Some("theirs"));
        assert_eq!(resp.cseq().unwrap(), (1, rsip::Method::Invite));
        // A response's CSeq method is not compared with anything.
        let no_reason = raw.replace("180 Ringing", "404");
        assert!(parse(&crlf(&no_reason)).is_ok());
    }

    #[test]
    fn response_copies_headers_and_adds_the_to_tag_once() {
        let req = request(SIPP_INVITE);
        let trying = response(&req, 100, None, None);
        assert_eq!(trying.status_code, rsip::StatusCode::Trying);
        assert_eq!(trying.to_tag(), None);
        assert_eq!(trying.header_values("Record-Route"), Vec::<String>::new());

        let ringing = response(&req, 180, None, Some("t1"));
        assert_eq!(ringing.status_code, rsip::StatusCode::Ringing);
        assert_eq!(ringing.to_tag().as_deref(), Some("t1"));
        assert_eq!(ringing.call_id().unwrap(), "1-9144@127.0.0.1");
        assert_eq!(ringing.top_via_branch().unwrap(), "z9hG4bK-9144-1-0");
        assert_eq!(ringing.header_values("Server"), ["hotline"]);

        // A request already in a dialog keeps its To tag.
        let bye = crlf(
            "BYE sip:x@192.0.2.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKb\n\
             From: <sip:a@192.0.2.9>;tag=a\nTo: <sip:x@192.0.2.1>;tag=existing\n\
             Call-ID: d1\nCSeq: 3 BYE\nContent-Length: 0\n\n",
        );
        let ok = response(&request(&bye), 200, None, Some("other"));
        assert_eq!(ok.to_tag().as_deref(), Some("existing"));

        let busy = response(&req, 486, Some("Agents Busy"), Some("t1"));
        assert_eq!(busy.status_code.code(), 486);
        let wire = serialize(&busy.into());
        assert!(text(&wire).starts_with("SIP/2.0 486 Agents Busy\r\n"));
        // What we write, we read back.
        let Ok(rsip::SipMessage::Response(back)) = parse(&wire) else {
            panic!("our own response must parse");
        };
        assert_eq!(back.to_tag().as_deref(), Some("t1"));
        assert_eq!(back.status_code.code(), 486);

        let standard = response(&req, 481, Some("call/transaction does not exist"), None);
        assert_eq!(
            standard.status_code,
            rsip::StatusCode::CallTransactionDoesNotExist
        );
        assert!(
            text(&serialize(&standard.into()))
                .starts_with("SIP/2.0 481 Call/Transaction Does Not Exist\r\n")
        );
        let odd = response(&req, 499, None, None);
        assert!(text(&serialize(&odd.into())).starts_with("SIP/2.0 499 Request Failure\r\n"));
    }

    #[test]
    fn serialize_keeps_binary_bodies_and_fixes_content_length() {
        let mut req = request(SIPP_INVITE);
        req.body = vec![0xff, 0x00, b'\r', b'\n', 0x80];
        let wire = serialize(&req.into());
        assert!(wire.ends_with(b"\r\n\r\n\xff\x00\r\n\x80"));
        assert!(text(&wire).contains("\r\nContent-Length: 5\r\n"));
        assert_eq!(text(&wire).matches("Content-Length").count(), 1);
        assert!(text(&wire).starts_with("INVITE sip:service@127.0.0.1:5090 SIP/2.0\r\n"));

        let mut injected = request(SIPP_INVITE);
        injected
            .headers
            .push(rsip::Header::Other("X-Name".into(), "a\r\nBye: now".into()));
        let wire = text(&serialize(&injected.into()));
        assert!(wire.contains("\r\nX-Name: a  Bye: now\r\n"));
    }

    #[test]
    fn rport_and_received_stamping() {
        // rport present, same address: received added anyway (RFC 3581 §4).
        let mut req = request(LINPHONE_INVITE);
        stamp_received(&mut req, "192.168.1.20:40000".parse().unwrap());
        assert_eq!(
            req.header_values("Via"),
            [
                "SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK.Xq3~nKz5a;rport=40000;received=192.168.1.20"
            ]
        );
        let resp = response(&req, 200, None, Some("x"));
        assert_eq!(
            response_destination(&resp, Transport::Udp),
            Some("192.168.1.20:40000".parse().unwrap())
        );
        assert_eq!(
            response_destination(&resp, Transport::Tcp),
            Some("192.168.1.20:5060".parse().unwrap())
        );

        // No rport, different address (NAT): received only.
        let mut req = request(SIPP_INVITE);
        stamp_received(&mut req, "198.51.100.1:6000".parse().unwrap());
        assert_eq!(
            req.header_values("Via"),
            ["SIP/2.0/UDP 127.0.0.1:5091;branch=z9hG4bK-9144-1-0;received=198.51.100.1"]
        );
        let resp = response(&req, 200, None, None);
        assert_eq!(
            response_destination(&resp, Transport::Udp),
            Some("198.51.100.1:5091".parse().unwrap())
        );

        // No rport, same address: untouched.
        let mut req = request(SIPP_INVITE);
        let before = req.header_values("Via");
        stamp_received(&mut req, "127.0.0.1:5091".parse().unwrap());
        assert_eq!(req.header_values("Via"), before);
        let resp = response(&req, 200, None, None);
        assert_eq!(
            response_destination(&resp, Transport::Udp),
            Some("127.0.0.1:5091".parse().unwrap())
        );

        // Only the top Via is stamped.
        let mut req = request(CARRIER_INVITE);
        stamp_received(&mut req, "198.51.100.7:5060".parse().unwrap());
        assert_eq!(
            req.header_values("Via")[0],
            "v: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK3a1f.9c2b1e7d.0"
                .trim_start_matches("v: ")
        );
        assert!(req.header_values("Via")[1].contains("rport=5060;branch"));
    }

    #[test]
    fn stamping_a_host_name_and_ipv6() {
        let raw = OPTIONS.replace(
            "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKabc",
            "Via: SIP/2.0/UDP pbx.example.com;rport;branch=z9hG4bKabc",
        );
        let mut req = request(&crlf(&raw));
        let resp = response(&req, 200, None, None);
        assert_eq!(
            response_destination(&resp, Transport::Udp),
            None,
            "needs DNS"
        );
        stamp_received(&mut req, "[::ffff:192.0.2.50]:7000".parse().unwrap());
        assert_eq!(
            req.header_values("Via"),
            ["SIP/2.0/UDP pbx.example.com;rport=7000;branch=z9hG4bKabc;received=192.0.2.50"]
        );
        let resp = response(&req, 200, None, None);
        assert_eq!(
            response_destination(&resp, Transport::Udp),
            Some("192.0.2.50:7000".parse().unwrap())
        );

        let raw = OPTIONS.replace(
            "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKabc",
            "Via: SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKv6",
        );
        let mut req = request(&crlf(&raw));
        assert_eq!(req.top_via_sent_by().unwrap(), "[2001:db8::9]:5070");
        stamp_received(&mut req, "[2001:db8::10]:5070".parse().unwrap());
        let resp = response(&req, 200, None, None);
        assert_eq!(
            response_destination(&resp, Transport::Udp),
            Some("[2001:db8::10]:5070".parse().unwrap())
        );

        let raw = OPTIONS.replace(
            "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKabc",
            "Via: SIP/2.0/UDP 192.0.2.9;maddr=239.255.255.1;branch=z9hG4bKm",
        );
        let resp = response(&request(&crlf(&raw)), 200, None, None);
        assert_eq!(
            response_destination(&resp, Transport::Udp),
            Some("239.255.255.1:5060".parse().unwrap())
        );
    }

    #[test]
    fn bad_request_answers_broken_requests() {
        // Missing Call-ID, compact headers copied as they came.
        let raw = crlf(
            "INVITE sip:4001234567@203.0.113.10 SIP/2.0\n\
             v: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK1\n\
             v: SIP/2.0/UDP 198.51.100.20;branch=z9hG4bK2\n\
             f: <sip:+33612345678@198.51.100.20>;tag=a\n\
             t: <sip:4001234567@203.0.113.10>\n\
             CSeq: 1 INVITE\n\
             l: 0\n\n",
        );
        let answer = text(&bad_request(&raw).expect("an answer"));
        assert!(
            answer.starts_with("SIP/2.0 400 Bad Call-ID\r\n"),
            "{answer}"
        );
        assert!(answer.contains(
            "\r\nv: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK1\r\nv: SIP/2.0/UDP 198.51.100.20;branch=z9hG4bK2\r\n"
        ));
        assert!(answer.contains("\r\nf: <sip:+33612345678@198.51.100.20>;tag=a\r\n"));
        assert!(answer.contains("\r\nt: <sip:4001234567@203.0.113.10>;tag=hl"));
        assert!(
            answer.ends_with("\r\nCSeq: 1 INVITE\r\nServer: hotline\r\nContent-Length: 0\r\n\r\n")
        );
        assert!(normalise(answer.as_bytes()).is_ok());
        // Stable: the same request gets the same tag.
        assert_eq!(bad_request(&raw), bad_request(&raw));

        // CSeq method disagreeing with the request.
        let raw = options_with("CSeq", Some("CSeq: 1 INVITE"));
        let answer = text(&bad_request(&raw).unwrap());
        assert!(answer.starts_with("SIP/2.0 400 Bad CSeq\r\n"));
        assert!(answer.contains("\r\nTo: <sip:hotline@192.0.2.1>;tag=hl"));
        // With all its headers present the answer is a response we can read.
        let Ok(rsip::SipMessage::Response(resp)) = parse(answer.as_bytes()) else {
            panic!("stateless answer must parse: {answer}");
        };
        assert!(resp.to_tag().is_some());
        assert_eq!(resp.status_code.code(), 400);

        // Body shorter than Content-Length.
        let raw = options_with("Content-Length", Some("Content-Length: 50"));
        let answer = text(&bad_request(&raw).unwrap());
        assert!(
            answer.starts_with("SIP/2.0 400 Bad Request (body shorter than Content-Length)\r\n")
        );

        // A To that already has a tag is copied as is.
        let raw = crlf(
            &OPTIONS
                .replace(
                    "To: <sip:hotline@192.0.2.1>",
                    "To: <sip:hotline@192.0.2.1>;tag=zz",
                )
                .replace("Call-ID: c1@192.0.2.9\n", ""),
        );
        let answer = text(&bad_request(&raw).unwrap());
        assert!(answer.contains("\r\nTo: <sip:hotline@192.0.2.1>;tag=zz\r\n"));

        // Unknown method: 501.
        let raw = crlf(&OPTIONS.replace("OPTIONS", "FROB"));
        let answer = text(&bad_request(&raw).unwrap());
        assert!(
            answer.starts_with("SIP/2.0 501 Not Implemented\r\n"),
            "{answer}"
        );
        // Other SIP versions: 505 (rsip would take SIP/1.0, parse does not).
        for version in ["SIP/1.0", "SIP/3.0"] {
            let raw = crlf(&OPTIONS.replacen("SIP/2.0", version, 1));
            assert!(matches!(parse(&raw), Err(Error::Malformed(_))));
            let answer = text(&bad_request(&raw).unwrap());
            assert!(
                answer.starts_with("SIP/2.0 505 Version Not Supported\r\n"),
                "{answer}"
            );
        }
        // A tel: Request-URI (which rsip cannot read): 416.
        let raw = crlf(&OPTIONS.replacen("sip:hotline@192.0.2.1", "tel:+331234", 1));
        let answer = text(&bad_request(&raw).unwrap());
        assert!(
            answer.starts_with("SIP/2.0 416 Unsupported URI Scheme\r\n"),
            "{answer}"
        );
    }

    #[test]
    fn bad_request_stays_silent_when_it_should() {
        // Parses fine.
        assert_eq!(bad_request(&crlf(OPTIONS)), None);
        // ACK is never answered.
        let ack = crlf(
            &OPTIONS
                .replace("OPTIONS", "ACK")
                .replace("CSeq: 1 ACK", "CSeq: x ACK"),
        );
        assert_eq!(bad_request(&ack), None);
        // Responses are never answered.
        let resp = crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKx\nCSeq: x\n\n");
        assert_eq!(bad_request(&resp), None);
        // Not SIP.
        assert_eq!(bad_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), None);
        assert_eq!(bad_request(b"\x16\x03\x01\x02\x00\x01"), None);
        assert_eq!(bad_request(b""), None);
        // No Via: nowhere to send.
        assert_eq!(bad_request(&options_with("Via", None)), None);
    }

    #[test]
    fn uri_users() {
        assert_eq!(uri_user("sip:alice@example.com").as_deref(), Some("alice"));
        assert_eq!(
            uri_user("sips:alice:secret@example.com;transport=tls").as_deref(),
            Some("alice")
        );
        assert_eq!(
            uri_user("sip:%2B3312@example.com").as_deref(),
            Some("+3312")
        );
        assert_eq!(
            uri_user("sip:+331;npdi@example.com").as_deref(),
            Some("+331;npdi")
        );
        assert_eq!(
            uri_user("tel:+33612345678;phone-context=x").as_deref(),
            Some("+33612345678")
        );
        assert_eq!(uri_user("sip:example.com"), None);
        assert_eq!(uri_user("mailto:a@b"), None);
        assert_eq!(uri_user("sip:%zz@x").as_deref(), Some("%zz"));
        assert_eq!(uri_user("sip:%e9@x").as_deref(), Some("\u{fffd}"));
    }

    #[test]
    fn non_utf8_header_values_are_replaced_not_rejected() {
        let mut raw = crlf(OPTIONS);
        let at = raw.windows(6).position(|w| w == b"<sip:a").unwrap();
        raw.splice(at..at, b"\"Andr\xe9\" ".iter().copied());
        let req = request(&raw);
        assert_eq!(req.from_user().as_deref(), Some("alice"));
        assert!(req.header_values("From")[0].starts_with("\"Andr\u{fffd}\""));
    }

    /// A valid INVITE and its mutations, for the never-panic properties.
    fn mutated_invite() -> impl Strategy<Value = Vec<u8>> {
        let base = prop_oneof![
            Just(SIPP_INVITE.to_vec()),
            Just(LINPHONE_INVITE.to_vec()),
            Just(CARRIER_INVITE.to_vec()),
        ];
        (
            base,
            prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 1..8),
        )
            .prop_map(|(mut bytes, edits)| {
                for (at, byte, kind) in edits {
                    if bytes.is_empty() {
                        break;
                    }
                    let at = at % bytes.len();
                    match kind {
                        0 => bytes[at] = byte,
                        1 => bytes.truncate(at),
                        2 => bytes.insert(at, byte),
                        _ => {
                            bytes.remove(at);
                        }
                    }
                }
                bytes
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = normalise(&bytes);
            let _ = parse(&bytes);
            let _ = bad_request(&bytes);
        }

        #[test]
        fn sip_like_text_never_panics(text in "(INVITE|SIP/2.0|v:|Via:|\r\n|\n| |;|<|>|:|@|\"|,|[a-z0-9.]{1,6}|\t){0,60}") {
            let _ = parse(text.as_bytes());
            let _ = bad_request(text.as_bytes());
        }

        #[test]
        fn mutations_of_valid_invites_never_panic(bytes in mutated_invite()) {
            if let Ok(rsip::SipMessage::Request(mut req)) = parse(&bytes) {
                // Whatever parse accepts, the rest of the API handles.
                prop_assert!(req.call_id().is_ok());
                prop_assert!(req.cseq().is_ok());
                prop_assert!(req.top_via_branch().is_ok());
                prop_assert!(req.top_via_sent_by().is_ok());
                stamp_received(&mut req, "192.0.2.1:1234".parse().unwrap());
                let resp = response(&req, 200, Some("OK"), Some("t"));
                let wire = serialize(&resp.into());
                prop_assert!(parse(&wire).is_ok(), "{}", text(&wire));
                let _ = req.request_uri_user();
            }
            let _ = bad_request(&bytes);
        }

        #[test]
        fn normalise_is_idempotent(bytes in mutated_invite()) {
            if let Ok(once) = normalise(&bytes) {
                prop_assert_eq!(normalise(&once), Ok(once.clone()));
            }
        }
    }
}
