//! RTP packets (RFC 3550 §5.1): parsing received datagrams, writing our own.
//!
//! Owns the wire format of the fixed header. Parsing borrows the payload from
//! the datagram (no copy) and checks every length the header claims (CSRC
//! list, header extension, padding) against the datagram before slicing, so
//! no input can panic. CSRCs and extensions are skipped: a two-party call
//! has no use for them, but peers (SBCs especially) do send them.
//!
//! RTCP multiplexed on the RTP port (RFC 5761) is told apart by its second
//! byte (packet types 192..=223) and reported as [`Error::NotRtp`]. The
//! consequence, as RFC 5761 §4 says, is that RTP payload types 64..=95 with
//! the marker bit set cannot be received; nobody negotiates those for audio.
//!
//! We only ever write version 2 headers with no padding, CSRCs or extension.

use super::Error;

/// Length of the fixed RTP header.
pub const HEADER_LEN: usize = 12;

/// The RTP header fields a two-party audio call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpHeader {
    /// Marker bit; for audio, the first packet of a talkspurt.
    pub marker: bool,
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// Sequence number, +1 per packet sent, wrapping.
    pub sequence: u16,
    /// Sampling instant of the first sample, in clock-rate units, wrapping.
    pub timestamp: u32,
    /// Synchronisation source of the stream.
    pub ssrc: u32,
}

/// A parsed RTP packet borrowing its payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The fixed header.
    pub header: RtpHeader,
    /// The payload, without CSRCs, header extension or padding.
    pub payload: &'a [u8],
}

/// Parses one received datagram as an RTP packet.
///
/// # Errors
/// [`Error::TooShort`], [`Error::BadVersion`], [`Error::NotRtp`] for RTCP,
/// [`Error::HeaderPastEnd`] when the CSRC list or extension does not fit,
/// [`Error::BadPadding`] when the padding count is zero or too large.
pub fn parse(buf: &[u8]) -> Result<RtpPacket<'_>, Error> {
    let len = buf.len();
    // RTCP multiplexed on the RTP port (RFC 5761 §4) is told apart first: an
    // 8-byte receiver report is shorter than an RTP header.
    if let [b0, b1, ..] = *buf
        && b0 >> 6 == 2
        && (192..=223).contains(&b1)
    {
        return Err(Error::NotRtp(b1));
    }
    let Some(fixed) = buf.first_chunk::<HEADER_LEN>() else {
        return Err(Error::TooShort { len });
    };
    let [b0, b1, s0, s1, t0, t1, t2, t3, c0, c1, c2, c3] = *fixed;
    let version = b0 >> 6;
    if version != 2 {
        return Err(Error::BadVersion(version));
    }
    if (192..=223).contains(&b1) {
        return Err(Error::NotRtp(b1));
    }
    let has_padding = b0 & 0x20 != 0;
    let has_extension = b0 & 0x10 != 0;
    let csrc_count = usize::from(b0 & 0x0F);

    let mut header_len = HEADER_LEN + 4 * csrc_count;
    if has_extension {
        // The extension starts with a 16-bit profile id and a 16-bit length
        // in 32-bit words, not counting that 4-byte preamble.
        let words = match buf.get(header_len..header_len + 4) {
            Some(&[_, _, w0, w1]) => usize::from(u16::from_be_bytes([w0, w1])),
            _ => {
                return Err(Error::HeaderPastEnd {
                    needed: header_len + 4,
                    len,
                });
            }
        };
        header_len += 4 + 4 * words;
    }
    if header_len > len {
        return Err(Error::HeaderPastEnd {
            needed: header_len,
            len,
        });
    }

    let available = len - header_len;
    let mut end = len;
    if has_padding {
        // The last byte counts the padding including itself, so 0 is invalid.
        let padding = buf.last().copied().unwrap_or(0);
        if padding == 0 || usize::from(padding) > available {
            return Err(Error::BadPadding { padding, available });
        }
        end -= usize::from(padding);
    }
    let payload = buf.get(header_len..end).ok_or(Error::HeaderPastEnd {
        needed: header_len,
        len,
    })?;

    Ok(RtpPacket {
        header: RtpHeader {
            marker: b1 & 0x80 != 0,
            payload_type: b1 & 0x7F,
            sequence: u16::from_be_bytes([s0, s1]),
            timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
            ssrc: u32::from_be_bytes([c0, c1, c2, c3]),
        },
        payload,
    })
}

/// Appends the 12-byte header for `header` to `out` (version 2, no padding,
/// no CSRCs, no extension). A payload type above 127 is truncated to 7 bits.
pub fn write_header(header: &RtpHeader, out: &mut Vec<u8>) {
    let marker = if header.marker { 0x80 } else { 0 };
    out.extend_from_slice(&[0x80, marker | (header.payload_type & 0x7F)]);
    out.extend_from_slice(&header.sequence.to_be_bytes());
    out.extend_from_slice(&header.timestamp.to_be_bytes());
    out.extend_from_slice(&header.ssrc.to_be_bytes());
}

/// Appends a whole RTP packet (header then payload) to `out`.
pub fn write(header: &RtpHeader, payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(HEADER_LEN + payload.len());
    write_header(header, out);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> RtpHeader {
        RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 0xBEEF,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x1234_5678,
        }
    }

    #[test]
    fn writes_the_rfc_3550_layout() {
        let mut out = Vec::new();
        write(&header(), &[1, 2, 3], &mut out);
        assert_eq!(
            out,
            [
                0x80, 0x88, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF, 0x12, 0x34, 0x56, 0x78, 1, 2, 3
            ]
        );
        let packet = parse(&out).unwrap();
        assert_eq!(packet.header, header());
        assert_eq!(packet.payload, [1, 2, 3]);
    }

    #[test]
    fn skips_csrcs_extension_and_padding() {
        let mut buf = vec![0x80 | 0x20 | 0x10 | 2, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        buf.extend_from_slice(&[0xAA; 8]); // two CSRCs
        buf.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0xCC, 0xCC, 0xCC, 0xCC]); // one-word extension
        buf.extend_from_slice(&[7, 8, 9]); // payload
        buf.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let packet = parse(&buf).unwrap();
        assert_eq!(packet.payload, [7, 8, 9]);
        assert_eq!(packet.header.sequence, 1);
        assert_eq!(packet.header.timestamp, 2);
        assert_eq!(packet.header.ssrc, 3);
        assert!(!packet.header.marker);
    }

    #[test]
    fn empty_payload_is_valid() {
        let mut out = Vec::new();
        write(&header(), &[], &mut out);
        assert_eq!(parse(&out).unwrap().payload, [] as [u8; 0]);
    }

    #[test]
    fn rejects_malformed_datagrams() {
        assert_eq!(parse(&[]), Err(Error::TooShort { len: 0 }));
        assert_eq!(parse(&[0x80; 11]), Err(Error::TooShort { len: 11 }));

        let mut good = Vec::new();
        write(&header(), &[1, 2, 3, 4], &mut good);

        let mut v1 = good.clone();
        v1[0] = 0x40;
        assert_eq!(parse(&v1), Err(Error::BadVersion(1)));
        // A STUN binding request starts with two zero bits.
        assert_eq!(
            parse(&[0x00, 0x01, 0, 0, 0x21, 0x12, 0xA4, 0x42, 0, 0, 0, 0]),
            Err(Error::BadVersion(0))
        );

        let mut csrc = good.clone();
        csrc[0] = 0x80 | 2; // two CSRCs need 8 bytes, only 4 follow
        assert_eq!(
            parse(&csrc),
            Err(Error::HeaderPastEnd {
                needed: 20,
                len: 16
            })
        );

        let mut ext_past_end = good.clone();
        ext_past_end[0] = 0x90;
        ext_past_end[14] = 0;
        ext_past_end[15] = 5; // 20 more bytes claimed
        assert_eq!(
            parse(&ext_past_end),
            Err(Error::HeaderPastEnd {
                needed: 36,
                len: 16
            })
        );

        let mut ext_no_preamble = good[..14].to_vec();
        ext_no_preamble[0] = 0x90;
        assert_eq!(
            parse(&ext_no_preamble),
            Err(Error::HeaderPastEnd {
                needed: 16,
                len: 14
            })
        );

        let mut pad_too_long = good.clone();
        pad_too_long[0] = 0xA0;
        pad_too_long[15] = 5;
        assert_eq!(
            parse(&pad_too_long),
            Err(Error::BadPadding {
                padding: 5,
                available: 4
            })
        );

        let mut pad_zero = good.clone();
        pad_zero[0] = 0xA0;
        pad_zero[15] = 0;
        assert_eq!(
            parse(&pad_zero),
            Err(Error::BadPadding {
                padding: 0,
                available: 4
            })
        );

        // Padding that eats the whole payload is fine.
        let mut pad_all = good;
        pad_all[0] = 0xA0;
        pad_all[15] = 4;
        assert_eq!(parse(&pad_all).unwrap().payload, [] as [u8; 0]);
    }

    #[test]
    fn tells_rtcp_apart() {
        // Receiver report with no report blocks.
        let rr = [0x80, 201, 0, 1, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0];
        assert_eq!(parse(&rr), Err(Error::NotRtp(201)));
        let mut sr = [0u8; 28];
        sr[0] = 0x80;
        sr[1] = 200;
        assert_eq!(parse(&sr), Err(Error::NotRtp(200)));
        // PT 96 with marker (second byte 224) is RTP, not RTCP.
        let dyn_pt = [0x80, 0xE0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(parse(&dyn_pt).is_ok());
    }

    fn rtp_payload_type() -> impl Strategy<Value = u8> {
        // 64..=95 with the marker set collide with RTCP (RFC 5761 §4).
        prop_oneof![0u8..64, 96u8..128]
    }

    proptest! {
        #[test]
        fn parse_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&buf);
        }

        #[test]
        fn parse_never_panics_on_version_2(
            first in any::<u8>(),
            rest in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let mut buf = vec![0x80 | (first & 0x3F)];
            buf.extend(rest);
            if let Ok(packet) = parse(&buf) {
                prop_assert!(packet.payload.len() + HEADER_LEN <= buf.len());
            }
        }

        #[test]
        fn write_then_parse_round_trips(
            marker in any::<bool>(),
            payload_type in rtp_payload_type(),
            sequence in any::<u16>(),
            timestamp in any::<u32>(),
            ssrc in any::<u32>(),
            payload in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let header = RtpHeader { marker, payload_type, sequence, timestamp, ssrc };
            let mut out = Vec::new();
            write(&header, &payload, &mut out);
            let packet = parse(&out).unwrap();
            prop_assert_eq!(packet.header, header);
            prop_assert_eq!(packet.payload, &payload[..]);
        }
    }
}
