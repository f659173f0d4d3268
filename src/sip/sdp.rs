//! SDP offer/answer (RFC 3264 over RFC 4566) for the one stream we speak:
//! G.711 audio (PCMU or PCMA, 8 kHz) with RFC 4733 telephone-events.
//!
//! What this module owns:
//! - [`SessionDescription::parse`]: SDP text to a model of what we use
//!   (origin, connection addresses, media sections with rtpmap/fmtp,
//!   direction and ptime). Unknown line types and attributes are skipped, as
//!   RFC 4566 §5 asks, and so is an attribute whose value we cannot read (a
//!   strange rtpmap for a codec we will not pick is no reason to fail a
//!   call); a line that is not `x=...`, or a v=, o=, c= or m= line that is
//!   not readable, is an error naming the line.
//! - [`audio_offer`] and [`negotiate`]: the audio stream we answer and the
//!   codec we pick, in the offerer's order of preference.
//! - [`answer`], [`answer_to`] and [`offer`]: the SDP text we send.
//!
//! Invariants: parsing never panics on any input; we only accept `RTP/AVP`
//! audio (no SRTP on the trunk side); our SDP uses CRLF line ends.
//!
//! Old-style hold (RFC 2543, RFC 3264 §8.4): a connection address of
//! `0.0.0.0` (or `::`) means the offerer will not receive, so its direction
//! loses "receive": sendrecv becomes sendonly, recvonly becomes inactive.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::sip::Error;

/// Longest part of a failing line quoted in an error.
const MAX_QUOTED: usize = 80;

/// The only transport profile we answer.
const RTP_AVP: &str = "RTP/AVP";

/// Static payload types of RFC 3551 that we may meet without an rtpmap.
const STATIC_PAYLOAD_TYPES: [(u8, &str, u32); 7] = [
    (0, "PCMU", 8000),
    (3, "GSM", 8000),
    (4, "G723", 8000),
    (8, "PCMA", 8000),
    (9, "G722", 8000),
    (13, "CN", 8000),
    (18, "G729", 8000),
];

/// A media direction attribute (RFC 3264 §5.1), from the point of view of
/// the side that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sends and receives (the default when no attribute is given).
    SendRecv,
    /// Sends only: the writer holds the call (music on hold).
    SendOnly,
    /// Receives only: the writer was put on hold by the other side.
    RecvOnly,
    /// Neither sends nor receives.
    Inactive,
}

impl Direction {
    /// The direction to answer with (RFC 3264 §6.1): sendonly is answered
    /// recvonly and the reverse; sendrecv and inactive stay.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }

    /// The attribute name (`sendrecv`, ...).
    pub fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// True when the writer sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// True when the writer receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn from_attribute(name: &str) -> Option<Direction> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.attribute().eq_ignore_ascii_case(name))
    }

    /// The same direction without receiving (old-style hold).
    fn without_receive(self) -> Direction {
        match self {
            Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
            Direction::RecvOnly | Direction::Inactive => Direction::Inactive,
        }
    }
}

/// The `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: String,
    pub session_version: String,
    pub net_type: String,
    pub addr_type: String,
    pub address: String,
}

/// A `c=` line: network type `IN`, `IP4` or `IP6`, and the address (a
/// multicast `/ttl` suffix removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub net_type: String,
    pub addr_type: String,
    pub address: String,
}

impl Connection {
    /// The address as an IP, when it is one (it may be a host name).
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }
}

/// An `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u32>,
}

/// An `a=fmtp:<pt> <parameters>` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    pub payload_type: u8,
    pub parameters: String,
}

/// One `m=` section with the attributes we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// `audio`, `video` ...
    pub kind: String,
    /// 0 means the stream is rejected or disabled.
    pub port: u16,
    pub port_count: Option<u16>,
    pub proto: String,
    /// The format list as written (payload type numbers for RTP).
    pub formats: Vec<String>,
    /// The media-level `c=`, which overrides the session's.
    pub connection: Option<Connection>,
    pub rtpmaps: Vec<RtpMap>,
    pub fmtps: Vec<Fmtp>,
    pub direction: Option<Direction>,
    pub ptime: Option<u32>,
}

/// A parsed SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin: Origin,
    pub session_name: Option<String>,
    /// The session-level `c=`.
    pub connection: Option<Connection>,
    /// The session-level direction, the default for every media section.
    pub direction: Option<Direction>,
    /// The session-level ptime.
    pub ptime: Option<u32>,
    pub media: Vec<MediaDescription>,
}

/// An error naming the line (number and text) that failed.
fn line_error(number: usize, line: &str, what: &str) -> Error {
    let quoted: String = line.chars().take(MAX_QUOTED).collect();
    Error::Sdp(format!("line {number}: {what}: {quoted:?}"))
}

fn parse_origin(value: &str) -> Option<Origin> {
    let mut fields = value.split_ascii_whitespace();
    let origin = Origin {
        username: fields.next()?.to_owned(),
        session_id: fields.next()?.to_owned(),
        session_version: fields.next()?.to_owned(),
        net_type: fields.next()?.to_owned(),
        addr_type: fields.next()?.to_owned(),
        address: fields.next()?.to_owned(),
    };
    fields.next().is_none().then_some(origin)
}

fn parse_connection(value: &str) -> Option<Connection> {
    let mut fields = value.split_ascii_whitespace();
    let (Some(net_type), Some(addr_type), Some(address), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return None;
    };
    // Multicast addresses carry "/ttl[/count]"; only the address matters.
    let address = address.split('/').next().filter(|a| !a.is_empty())?;
    Some(Connection {
        net_type: net_type.to_owned(),
        addr_type: addr_type.to_owned(),
        address: address.to_owned(),
    })
}

fn parse_media(value: &str) -> Option<MediaDescription> {
    let mut fields = value.split_ascii_whitespace();
    let kind = fields.next()?;
    let port = fields.next()?;
    let proto = fields.next()?;
    let (port, port_count) = match port.split_once('/') {
        Some((port, count)) => (port.parse().ok()?, Some(count.parse().ok()?)),
        None => (port.parse().ok()?, None),
    };
    Some(MediaDescription {
        kind: kind.to_owned(),
        port,
        port_count,
        proto: proto.to_owned(),
        formats: fields.map(str::to_owned).collect(),
        connection: None,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        direction: None,
        ptime: None,
    })
}

fn parse_rtpmap(value: &str) -> Option<RtpMap> {
    let (pt, encoding) = value.trim().split_once(char::is_whitespace)?;
    let payload_type = pt.parse::<u8>().ok().filter(|pt| *pt <= 127)?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next().filter(|n| !n.is_empty())?;
    let clock_rate = parts.next()?.trim().parse().ok()?;
    let channels = match parts.next() {
        Some(channels) => Some(channels.trim().parse().ok()?),
        None => None,
    };
    Some(RtpMap {
        payload_type,
        encoding: name.to_owned(),
        clock_rate,
        channels,
    })
}

fn parse_fmtp(value: &str) -> Option<Fmtp> {
    let value = value.trim();
    let (pt, parameters) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    Some(Fmtp {
        payload_type: pt.parse::<u8>().ok().filter(|pt| *pt <= 127)?,
        parameters: parameters.trim().to_owned(),
    })
}

/// `a=ptime:20` (some stacks write `20.0`).
fn parse_ptime(value: &str) -> Option<u32> {
    let value = value.trim();
    let whole = value.split_once('.').map_or(value, |(whole, _)| whole);
    whole.parse().ok().filter(|p| *p > 0)
}

impl SessionDescription {
    /// Parses SDP text (CRLF or bare LF line ends; blank lines ignored).
    ///
    /// Errors (`Error::Sdp` naming the line): a line that is not `x=value`
    /// with a letter `x`, a first line other than `v=0`, no `o=` line or an
    /// unreadable one, an unreadable `c=` line, an `m=` line without media,
    /// numeric port and protocol.
    pub fn parse(text: &str) -> Result<SessionDescription, Error> {
        let mut origin = None;
        let mut session_name = None;
        let mut connection = None;
        let mut direction = None;
        let mut ptime = None;
        let mut media: Vec<MediaDescription> = Vec::new();
        let mut seen_version = false;

        let lines = text
            .split('\n')
            .map(|line| line.strip_suffix('\r').unwrap_or(line))
            .enumerate()
            .map(|(i, line)| (i + 1, line))
            .filter(|(_, line)| !line.trim().is_empty());
        for (number, line) in lines {
            let Some((kind, value)) = line.split_once('=') else {
                return Err(line_error(number, line, "not a type=value line"));
            };
            let kind = match kind.as_bytes() {
                [letter] if letter.is_ascii_alphabetic() => *letter,
                _ => return Err(line_error(number, line, "bad line type")),
            };
            let value = value.trim_end();
            if !seen_version {
                if kind != b'v' || value.trim() != "0" {
                    return Err(line_error(number, line, "the first line must be v=0"));
                }
                seen_version = true;
                continue;
            }
            match kind {
                b'o' => {
                    let parsed = parse_origin(value)
                        .ok_or_else(|| line_error(number, line, "bad origin"))?;
                    origin.get_or_insert(parsed);
                }
                b's' => {
                    session_name.get_or_insert_with(|| value.to_owned());
                }
                b'c' => {
                    let parsed = parse_connection(value)
                        .ok_or_else(|| line_error(number, line, "bad connection"))?;
                    match media.last_mut() {
                        Some(m) => m.connection = Some(parsed),
                        None => connection = Some(parsed),
                    }
                }
                b'm' => {
                    media.push(
                        parse_media(value)
                            .ok_or_else(|| line_error(number, line, "bad media line"))?,
                    );
                }
                b'a' => {
                    let (name, attr_value) = value.split_once(':').unwrap_or((value, ""));
                    let name = name.trim();
                    let current = media.last_mut();
                    if let Some(d) = Direction::from_attribute(name) {
                        match current {
                            Some(m) => m.direction = Some(d),
                            None => direction = Some(d),
                        }
                    } else if name.eq_ignore_ascii_case("ptime") {
                        let parsed = parse_ptime(attr_value);
                        match current {
                            Some(m) => m.ptime = parsed.or(m.ptime),
                            None => ptime = parsed.or(ptime),
                        }
                    } else if let Some(m) = current {
                        if name.eq_ignore_ascii_case("rtpmap") {
                            m.rtpmaps.extend(parse_rtpmap(attr_value));
                        } else if name.eq_ignore_ascii_case("fmtp") {
                            m.fmtps.extend(parse_fmtp(attr_value));
                        }
                    }
                }
                // t=, b=, i=, u=, e=, p=, r=, z=, k= and unknown types.
                _ => {}
            }
        }
        if !seen_version {
            return Err(Error::Sdp("empty SDP (no v= line)".into()));
        }
        let origin = origin.ok_or_else(|| Error::Sdp("no o= line".into()))?;
        Ok(SessionDescription {
            origin,
            session_name,
            connection,
            direction,
            ptime,
            media,
        })
    }
}

/// The audio stream of an offer, as far as we care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioOffer {
    /// Where the offerer receives RTP (`0.0.0.0` when it holds the call the
    /// RFC 2543 way).
    pub remote: SocketAddr,
    /// Offered codecs in the offerer's order of preference: (payload type,
    /// encoding name, clock rate). telephone-event is not listed here.
    pub codecs: Vec<(u8, String, u32)>,
    /// The payload type of telephone-event/8000, if offered.
    pub telephone_event: Option<u8>,
    /// The offerer's direction, old-style hold already applied.
    pub direction: Direction,
    pub ptime: Option<u32>,
}

/// Index of the media section we answer: the first `RTP/AVP` audio section
/// with a non-zero port.
fn chosen_audio(sdp: &SessionDescription) -> Option<usize> {
    sdp.media.iter().position(|m| {
        m.kind.eq_ignore_ascii_case("audio") && m.port != 0 && m.proto.eq_ignore_ascii_case(RTP_AVP)
    })
}

/// Reads the audio stream out of an offer.
///
/// Errors: `NoCommonCodec` when there is no `RTP/AVP` audio section with a
/// non-zero port (answered 488 like a codec mismatch); `Sdp` when that
/// section has no connection address or one that is not an IP.
pub fn audio_offer(sdp: &SessionDescription) -> Result<AudioOffer, Error> {
    let media = chosen_audio(sdp)
        .and_then(|i| sdp.media.get(i))
        .ok_or(Error::NoCommonCodec)?;
    let connection = media
        .connection
        .as_ref()
        .or(sdp.connection.as_ref())
        .ok_or_else(|| Error::Sdp("no connection address for the audio stream".into()))?;
    let ip = connection.ip().ok_or_else(|| {
        Error::Sdp(format!(
            "connection address is not an IP: {:?}",
            connection
                .address
                .chars()
                .take(MAX_QUOTED)
                .collect::<String>()
        ))
    })?;

    let mut codecs = Vec::new();
    let mut telephone_event = None;
    for format in &media.formats {
        let Some(pt) = format.parse::<u8>().ok().filter(|pt| *pt <= 127) else {
            continue;
        };
        let described = match media.rtpmaps.iter().find(|r| r.payload_type == pt) {
            Some(map) => Some((map.encoding.clone(), map.clock_rate)),
            None => STATIC_PAYLOAD_TYPES
                .iter()
                .find(|(static_pt, _, _)| *static_pt == pt)
                .map(|(_, name, rate)| ((*name).to_owned(), *rate)),
        };
        let Some((name, rate)) = described else {
            continue;
        };
        if name.eq_ignore_ascii_case("telephone-event") {
            // Only the 8 kHz one goes with G.711; keep the first.
            if rate == 8000 {
                telephone_event.get_or_insert(pt);
            }
        } else {
            codecs.push((pt, name, rate));
        }
    }

    let direction = media
        .direction
        .or(sdp.direction)
        .unwrap_or(Direction::SendRecv);
    let direction = if ip.is_unspecified() {
        direction.without_receive()
    } else {
        direction
    };
    Ok(AudioOffer {
        remote: SocketAddr::new(ip, media.port),
        codecs,
        telephone_event,
        direction,
        ptime: media.ptime.or(sdp.ptime),
    })
}

/// The outcome of negotiation: what we send and receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The payload type of the chosen G.711 law, as the offerer numbered it.
    pub law_pt: u8,
    /// `"PCMU"` or `"PCMA"`.
    pub law_name: &'static str,
    /// telephone-event/8000 with the offerer's payload type, if offered.
    pub telephone_event: Option<u8>,
    pub remote: SocketAddr,
    pub remote_direction: Direction,
}

/// Picks the first of the offerer's codecs that is PCMU/8000 or PCMA/8000
/// (the offerer's preference wins, RFC 3264 §6.1) and telephone-event if
/// offered. Errors: `NoCommonCodec` when neither law is offered.
pub fn negotiate(offer: &AudioOffer) -> Result<Negotiated, Error> {
    let (law_pt, law_name) = offer
        .codecs
        .iter()
        .filter(|(_, _, rate)| *rate == 8000)
        .find_map(|(pt, name, _)| {
            ["PCMU", "PCMA"]
                .into_iter()
                .find(|law| law.eq_ignore_ascii_case(name))
                .map(|law| (*pt, law))
        })
        .ok_or(Error::NoCommonCodec)?;
    Ok(Negotiated {
        law_pt,
        law_name,
        telephone_event: offer.telephone_event,
        remote: offer.remote,
        remote_direction: offer.direction,
    })
}

fn addr_type(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// The session part shared by our offers and answers.
fn session_header(out: &mut String, local_ip: IpAddr, session_id: u64, version: u64) {
    let kind = addr_type(local_ip);
    let _ = write!(
        out,
        "v=0\r\no=hotline {session_id} {version} IN {kind} {local_ip}\r\ns=hotline\r\n\
         c=IN {kind} {local_ip}\r\nt=0 0\r\n"
    );
}

/// Our audio section: the given laws, telephone-event, ptime 20, direction.
fn audio_section(
    out: &mut String,
    laws: &[(u8, &str)],
    telephone_event: Option<u8>,
    local_port: u16,
    direction: Direction,
) {
    let _ = write!(out, "m=audio {local_port} {RTP_AVP}");
    for (pt, _) in laws {
        let _ = write!(out, " {pt}");
    }
    if let Some(te) = telephone_event {
        let _ = write!(out, " {te}");
    }
    out.push_str("\r\n");
    for (pt, name) in laws {
        let _ = write!(out, "a=rtpmap:{pt} {name}/8000\r\n");
    }
    if let Some(te) = telephone_event {
        // Events 0-16: the DTMF digits and flash (RFC 4733 §3.2).
        let _ = write!(
            out,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        );
    }
    let _ = write!(out, "a=ptime:20\r\na={}\r\n", direction.attribute());
}

/// Our SDP answer for a negotiated audio stream: one audio section with the
/// chosen law and telephone-event, ptime 20, and the mirror of the remote's
/// direction.
///
/// Use [`answer_to`] when the offer may hold more than one media section:
/// RFC 3264 §6 wants one answer section per offered one.
pub fn answer(
    neg: &Negotiated,
    local_ip: IpAddr,
    local_port: u16,
    session_id: u64,
    version: u64,
) -> String {
    let mut out = String::with_capacity(256);
    session_header(&mut out, local_ip, session_id, version);
    audio_section(
        &mut out,
        &[(neg.law_pt, neg.law_name)],
        neg.telephone_event,
        local_port,
        neg.remote_direction.answer(),
    );
    out
}

/// Like [`answer`], but with one section per section of `offer_sdp`, in
/// order (RFC 3264 §6): the audio section [`audio_offer`] chose is answered,
/// every other one is refused with port 0.
pub fn answer_to(
    offer_sdp: &SessionDescription,
    neg: &Negotiated,
    local_ip: IpAddr,
    local_port: u16,
    session_id: u64,
    version: u64,
) -> String {
    let chosen = chosen_audio(offer_sdp);
    let mut out = String::with_capacity(256 + 32 * offer_sdp.media.len());
    session_header(&mut out, local_ip, session_id, version);
    for (i, media) in offer_sdp.media.iter().enumerate() {
        if Some(i) == chosen {
            audio_section(
                &mut out,
                &[(neg.law_pt, neg.law_name)],
                neg.telephone_event,
                local_port,
                neg.remote_direction.answer(),
            );
        } else {
            // A refused stream keeps its media type, protocol and formats.
            let formats = if media.formats.is_empty() {
                "0".to_owned()
            } else {
                media.formats.join(" ")
            };
            let _ = write!(out, "m={} 0 {} {formats}\r\n", media.kind, media.proto);
        }
    }
    if chosen.is_none() {
        audio_section(
            &mut out,
            &[(neg.law_pt, neg.law_name)],
            neg.telephone_event,
            local_port,
            neg.remote_direction.answer(),
        );
    }
    out
}

/// Our SDP offer for an outbound call: the given G.711 laws in our order of
/// preference (e.g. `[(0, "PCMU"), (8, "PCMA")]`), telephone-event, ptime 20,
/// sendrecv.
pub fn offer(
    law_pts: &[(u8, &str)],
    telephone_event: Option<u8>,
    local_ip: IpAddr,
    local_port: u16,
    session_id: u64,
    version: u64,
) -> String {
    let mut out = String::with_capacity(256);
    session_header(&mut out, local_ip, session_id, version);
    audio_section(
        &mut out,
        law_pts,
        telephone_event,
        local_port,
        Direction::SendRecv,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SIPP_SDP: &str = "v=0\r\n\
        o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
        s=-\r\n\
        c=IN IP4 127.0.0.1\r\n\
        t=0 0\r\n\
        m=audio 6000 RTP/AVP 0\r\n\
        a=rtpmap:0 PCMU/8000\r\n";

    const CARRIER_SDP: &str = "v=0\r\n\
        o=- 1234 1234 IN IP4 198.51.100.30\r\n\
        s=-\r\n\
        c=IN IP4 198.51.100.30\r\n\
        t=0 0\r\n\
        m=audio 31000 RTP/AVP 8 0 18 101\r\n\
        a=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:18 G729/8000\r\n\
        a=fmtp:18 annexb=no\r\n\
        a=rtpmap:101 telephone-event/8000\r\n\
        a=fmtp:101 0-15\r\n\
        a=ptime:20\r\n\
        a=sendrecv\r\n";

    const LINPHONE_SDP: &str = "v=0\n\
        o=alice 3297 2493 IN IP4 192.168.1.20\n\
        s=Talk\n\
        c=IN IP4 192.168.1.20\n\
        t=0 0\n\
        a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\n\
        m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100\n\
        a=rtpmap:96 opus/48000/2\n\
        a=fmtp:96 useinbandfec=1\n\
        a=rtpmap:97 speex/16000\n\
        a=rtpmap:98 speex/8000\n\
        a=fmtp:18 annexb=yes\n\
        a=rtpmap:101 telephone-event/48000\n\
        a=rtpmap:99 telephone-event/16000\n\
        a=rtpmap:100 telephone-event/8000\n\
        a=rtcp-fb:* trr-int 1000\n";

    fn offer_of(text: &str) -> Result<AudioOffer, Error> {
        audio_offer(&SessionDescription::parse(text)?)
    }

    fn negotiated(text: &str) -> Result<Negotiated, Error> {
        negotiate(&offer_of(text)?)
    }

    /// A one-stream offer with the given m= formats and extra lines.
    fn simple(formats: &str, extra: &str) -> String {
        format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n\
             m=audio 4000 RTP/AVP {formats}\r\n{extra}"
        )
    }

    #[test]
    fn sipp_default_sdp() {
        let sdp = SessionDescription::parse(SIPP_SDP).unwrap();
        assert_eq!(sdp.origin.username, "user1");
        assert_eq!(sdp.origin.session_id, "53655765");
        assert_eq!(sdp.session_name.as_deref(), Some("-"));
        assert_eq!(sdp.media.len(), 1);
        let offer = audio_offer(&sdp).unwrap();
        assert_eq!(
            offer.remote,
            "127.0.0.1:6000".parse::<std::net::SocketAddr>().unwrap()
        );
        assert_eq!(offer.codecs, [(0, "PCMU".to_owned(), 8000)]);
        assert_eq!(offer.telephone_event, None);
        assert_eq!(offer.direction, Direction::SendRecv);
        let neg = negotiate(&offer).unwrap();
        assert_eq!((neg.law_pt, neg.law_name), (0, "PCMU"));
    }

    #[test]
    fn carrier_pcma_first_wins() {
        let offer = offer_of(CARRIER_SDP).unwrap();
        assert_eq!(offer.ptime, Some(20));
        assert_eq!(
            offer.codecs.iter().map(|c| c.0).collect::<Vec<_>>(),
            [8, 0, 18]
        );
        let neg = negotiate(&offer).unwrap();
        assert_eq!(
            neg,
            Negotiated {
                law_pt: 8,
                law_name: "PCMA",
                telephone_event: Some(101),
                remote: "198.51.100.30:31000".parse().unwrap(),
                remote_direction: Direction::SendRecv,
            }
        );
        let text = answer(&neg, "203.0.113.10".parse().unwrap(), 40000, 77, 1);
        assert_eq!(
            text,
            "v=0\r\n\
             o=hotline 77 1 IN IP4 203.0.113.10\r\n\
             s=hotline\r\n\
             c=IN IP4 203.0.113.10\r\n\
             t=0 0\r\n\
             m=audio 40000 RTP/AVP 8 101\r\n\
             a=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-16\r\n\
             a=ptime:20\r\n\
             a=sendrecv\r\n"
        );
        // Our answer is an offer we could read ourselves.
        let back = negotiated(&text).unwrap();
        assert_eq!(
            (back.law_pt, back.law_name, back.telephone_event),
            (8, "PCMA", Some(101))
        );
        assert_eq!(
            back.remote,
            "203.0.113.10:40000"
                .parse::<std::net::SocketAddr>()
                .unwrap()
        );
    }

    #[test]
    fn linphone_offer_lf_only() {
        let offer = offer_of(LINPHONE_SDP).unwrap();
        assert_eq!(
            offer.codecs.iter().map(|c| c.0).collect::<Vec<_>>(),
            [96, 97, 98, 0, 8, 18]
        );
        assert_eq!(offer.telephone_event, Some(100), "only the 8 kHz one");
        let neg = negotiate(&offer).unwrap();
        assert_eq!((neg.law_pt, neg.law_name), (0, "PCMU"));
    }

    #[test]
    fn g729_only_has_no_common_codec() {
        let text = simple(
            "18 101",
            "a=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        );
        assert_eq!(negotiated(&text), Err(Error::NoCommonCodec));
        // PCMU at the wrong rate is not G.711.
        let text = simple("96", "a=rtpmap:96 PCMU/16000\r\n");
        assert_eq!(negotiated(&text), Err(Error::NoCommonCodec));
    }

    #[test]
    fn telephone_event_payload_types_are_kept() {
        for pt in [96u8, 101] {
            let text = simple(
                &format!("0 {pt}"),
                &format!("a=rtpmap:{pt} telephone-event/8000\r\n"),
            );
            let neg = negotiated(&text).unwrap();
            assert_eq!(neg.telephone_event, Some(pt));
            let answer = answer(&neg, "192.0.2.1".parse().unwrap(), 5000, 1, 1);
            assert!(answer.contains(&format!("m=audio 5000 RTP/AVP 0 {pt}\r\n")));
            assert!(answer.contains(&format!("a=fmtp:{pt} 0-16\r\n")));
        }
        // A dynamic PT for PCMU is answered with the offerer's number.
        let neg = negotiated(&simple("97", "a=rtpmap:97 pcmu/8000\r\n")).unwrap();
        assert_eq!((neg.law_pt, neg.law_name), (97, "PCMU"));
    }

    #[test]
    fn static_payload_types_need_no_rtpmap() {
        let neg = negotiated(&simple("8 0", "")).unwrap();
        assert_eq!((neg.law_pt, neg.law_name), (8, "PCMA"));
    }

    #[test]
    fn hold_directions() {
        let cases = [
            (
                "a=sendonly\r\n",
                "192.0.2.5",
                Direction::SendOnly,
                Direction::RecvOnly,
            ),
            (
                "a=recvonly\r\n",
                "192.0.2.5",
                Direction::RecvOnly,
                Direction::SendOnly,
            ),
            (
                "a=inactive\r\n",
                "192.0.2.5",
                Direction::Inactive,
                Direction::Inactive,
            ),
            ("", "0.0.0.0", Direction::SendOnly, Direction::RecvOnly),
            (
                "a=sendrecv\r\n",
                "0.0.0.0",
                Direction::SendOnly,
                Direction::RecvOnly,
            ),
            (
                "a=recvonly\r\n",
                "0.0.0.0",
                Direction::Inactive,
                Direction::Inactive,
            ),
            (
                "a=inactive\r\n",
                "0.0.0.0",
                Direction::Inactive,
                Direction::Inactive,
            ),
        ];
        for (attr, ip, remote, ours) in cases {
            let text = simple("0", attr).replace("c=IN IP4 192.0.2.5", &format!("c=IN IP4 {ip}"));
            let neg = negotiated(&text).unwrap();
            assert_eq!(neg.remote_direction, remote, "{attr} {ip}");
            let answer = answer(&neg, "192.0.2.1".parse().unwrap(), 5000, 1, 2);
            assert!(
                answer.ends_with(&format!("a={}\r\n", ours.attribute())),
                "{answer}"
            );
        }
        // A session-level direction applies unless the media overrides it.
        let text = SIPP_SDP.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
        assert_eq!(offer_of(&text).unwrap().direction, Direction::SendOnly);
        let text = format!("{text}a=sendrecv\r\n");
        assert_eq!(offer_of(&text).unwrap().direction, Direction::SendRecv);
        assert!(Direction::SendOnly.sends() && !Direction::SendOnly.receives());
    }

    #[test]
    fn ipv6_connection() {
        let text = simple("0 8", "").replace("IN IP4 192.0.2.5", "IN IP6 2001:db8::5");
        let neg = negotiated(&text).unwrap();
        assert_eq!(
            neg.remote,
            "[2001:db8::5]:4000"
                .parse::<std::net::SocketAddr>()
                .unwrap()
        );
        let answer = answer(&neg, "2001:db8::1".parse().unwrap(), 5000, 9, 9);
        assert!(answer.contains("o=hotline 9 9 IN IP6 2001:db8::1\r\n"));
        assert!(answer.contains("c=IN IP6 2001:db8::1\r\n"));
        assert_eq!(
            negotiated(&answer).unwrap().remote,
            "[2001:db8::1]:5000"
                .parse::<std::net::SocketAddr>()
                .unwrap()
        );
        let held = simple("0", "").replace("IN IP4 192.0.2.5", "IN IP6 ::");
        assert_eq!(offer_of(&held).unwrap().direction, Direction::SendOnly);
    }

    #[test]
    fn media_connection_overrides_session_and_multicast_ttl_is_dropped() {
        let text = simple("0", "c=IN IP4 192.0.2.77/127\r\n");
        assert_eq!(
            offer_of(&text).unwrap().remote,
            "192.0.2.77:4000".parse::<std::net::SocketAddr>().unwrap()
        );
        let no_c = SIPP_SDP.replace("c=IN IP4 127.0.0.1\r\n", "");
        assert!(matches!(offer_of(&no_c), Err(Error::Sdp(_))));
        let fqdn = SIPP_SDP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 media.example.com");
        assert!(matches!(offer_of(&fqdn), Err(Error::Sdp(m)) if m.contains("media.example.com")));
    }

    #[test]
    fn streams_we_cannot_answer() {
        let video_only = SIPP_SDP.replace("m=audio 6000 RTP/AVP 0", "m=video 6000 RTP/AVP 96");
        assert_eq!(offer_of(&video_only), Err(Error::NoCommonCodec));
        let port_zero = SIPP_SDP.replace("m=audio 6000", "m=audio 0");
        assert_eq!(offer_of(&port_zero), Err(Error::NoCommonCodec));
        let srtp = SIPP_SDP.replace("RTP/AVP", "RTP/SAVP");
        assert_eq!(offer_of(&srtp), Err(Error::NoCommonCodec));
        let no_formats = SIPP_SDP.replace("RTP/AVP 0", "RTP/AVP");
        assert_eq!(negotiated(&no_formats), Err(Error::NoCommonCodec));
    }

    #[test]
    fn answer_to_refuses_other_streams_in_order() {
        let text = "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n\
            m=video 5002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
            m=audio 0 RTP/AVP 0\r\n\
            m=audio 5000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
        let sdp = SessionDescription::parse(text).unwrap();
        let neg = negotiate(&audio_offer(&sdp).unwrap()).unwrap();
        let text = answer_to(&sdp, &neg, "192.0.2.1".parse().unwrap(), 6000, 3, 4);
        let m_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("m=")).collect();
        assert_eq!(
            m_lines,
            [
                "m=video 0 RTP/AVP 96",
                "m=audio 0 RTP/AVP 0",
                "m=audio 6000 RTP/AVP 0 101"
            ]
        );
        // With a single stream it is the plain answer.
        let sdp = SessionDescription::parse(SIPP_SDP).unwrap();
        let neg = negotiate(&audio_offer(&sdp).unwrap()).unwrap();
        let ip = "192.0.2.1".parse().unwrap();
        assert_eq!(
            answer_to(&sdp, &neg, ip, 6000, 3, 4),
            answer(&neg, ip, 6000, 3, 4)
        );
    }

    #[test]
    fn our_offer() {
        let text = offer(
            &[(0, "PCMU"), (8, "PCMA")],
            Some(101),
            "192.0.2.1".parse().unwrap(),
            7000,
            5,
            6,
        );
        assert_eq!(
            text,
            "v=0\r\no=hotline 5 6 IN IP4 192.0.2.1\r\ns=hotline\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
             m=audio 7000 RTP/AVP 0 8 101\r\n\
             a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
             a=ptime:20\r\na=sendrecv\r\n"
        );
        let parsed = offer_of(&text).unwrap();
        assert_eq!(parsed.codecs.len(), 2);
        assert_eq!(parsed.telephone_event, Some(101));
    }

    #[test]
    fn tolerated_oddities() {
        let text = format!(
            "\r\n{}b=AS:64\r\nz=0 0\r\ny=unknown type\r\na=unknown-attribute:with value\r\n\
             a=rtpmap:garbage\r\na=rtpmap:300 X/1\r\na=fmtp:\r\na=ptime:abc\r\na=ptime:30.0\r\n\r\n",
            SIPP_SDP
        );
        let offer = offer_of(&text).unwrap();
        assert_eq!(offer.codecs, [(0, "PCMU".to_owned(), 8000)]);
        assert_eq!(offer.ptime, Some(30));
        let sdp = SessionDescription::parse(&text).unwrap();
        assert_eq!(sdp.media[0].rtpmaps.len(), 1);
        assert_eq!(sdp.media[0].fmtps.len(), 0);
    }

    #[test]
    fn broken_sdp_is_rejected_naming_the_line() {
        let cases = [
            ("", "no v="),
            ("o=- 1 1 IN IP4 192.0.2.5\r\n", "v=0"),
            ("v=1\r\n", "v=0"),
            ("v=0\r\ns=-\r\n", "no o="),
            ("v=0\r\no=- 1 1 IN IP4\r\n", "origin"),
            ("v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ngarbage\r\n", "garbage"),
            ("v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\n=x\r\n", "\"=x\""),
            ("v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\nab=x\r\n", "ab=x"),
            (
                "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\nc=IN IP4\r\n",
                "connection",
            ),
            ("v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\nm=audio\r\n", "media"),
            (
                "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\nm=audio abc RTP/AVP 0\r\n",
                "abc",
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\nm=audio 70000 RTP/AVP 0\r\n",
                "70000",
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\nm=audio 4000/x RTP/AVP 0\r\n",
                "4000/x",
            ),
        ];
        for (text, needle) in cases {
            match SessionDescription::parse(text) {
                Err(Error::Sdp(message)) => {
                    assert!(message.contains(needle), "{message} / {needle}")
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
        let truncated = &CARRIER_SDP[..CARRIER_SDP.find("m=audio").unwrap() + 9];
        assert!(
            matches!(SessionDescription::parse(truncated), Err(Error::Sdp(m)) if m.contains("line 6"))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn parse_never_panics(text in "\\PC{0,300}") {
            if let Ok(sdp) = SessionDescription::parse(&text)
                && let Ok(offer) = audio_offer(&sdp)
            {
                let _ = negotiate(&offer);
            }
        }

        #[test]
        fn sdp_like_text_never_panics(
            text in "(v=0|o=|c=|m=|a=|rtpmap:|fmtp:|ptime:|audio|IN|IP4|IP6| |/|:|\r\n|\n|[0-9]{1,6}|0\\.0\\.0\\.0|::1|PCMU|telephone-event){0,50}",
        ) {
            if let Ok(sdp) = SessionDescription::parse(&text)
                && let Ok(offer) = audio_offer(&sdp)
                && let Ok(neg) = negotiate(&offer)
            {
                let _ = answer_to(&sdp, &neg, "192.0.2.1".parse().unwrap(), 1, 1, 1);
            }
        }

        #[test]
        fn truncations_and_flips_never_panic(cut in 0usize..400, at in 0usize..400, byte in 32u8..127) {
            let mut bytes = CARRIER_SDP.as_bytes().to_vec();
            if !bytes.is_empty() {
                let at = at % bytes.len();
                bytes[at] = byte;
            }
            bytes.truncate(cut);
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(sdp) = SessionDescription::parse(&text) {
                let _ = audio_offer(&sdp).and_then(|o| negotiate(&o));
            }
        }
    }
}
