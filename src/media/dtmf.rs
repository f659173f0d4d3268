//! RFC 4733 telephone-events: turning a stream of event packets into key presses.
//!
//! Owns the de-duplication of DTMF events. A sender reports one key press as
//! many packets that all carry the RTP timestamp of the event's start: a
//! first packet (marker bit), updates with a growing duration, then (usually)
//! three identical End packets (E bit), any of which may be lost or reordered.
//!
//! Invariants kept by [`DtmfReceiver`]:
//! - a press is reported exactly once, when its first End packet arrives,
//!   even if every start and update packet was lost;
//! - the RTP timestamp identifies the event: once an event is reported, any
//!   packet whose timestamp is not newer (in RFC 1982 serial-number order, so
//!   wrap-around at `u32::MAX` works) is a retransmission or a stale,
//!   reordered packet and is dropped;
//! - a long event sent in segments (RFC 4733 §2.5.1.3: when the 16-bit
//!   duration would overflow, the sender starts a new segment whose
//!   timestamp is the old one plus the elapsed duration, without the marker
//!   bit and without an End on the earlier segment) stays one press, and its
//!   reported duration spans all segments.
//!
//! Only events 0..=15 (the 16 DTMF keys) are reported; flash-hook and tone
//! events are ignored. Only the first 4 bytes of a payload are read: more
//! than one event per packet needs RFC 2198 redundancy, which we never
//! negotiate.
//!
//! A press whose End packets are *all* lost is not reported; the three
//! retransmitted Ends exist to make that rare, and guessing ends from
//! timeouts would report presses that never finished.

use super::Error;
use super::rtp::RtpHeader;

/// A completed key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DtmfDigit {
    /// `'0'..='9'`, `'*'`, `'#'` or `'A'..='D'`.
    pub digit: char,
    /// How long the key was held, in RTP timestamp units (1/8000 s for
    /// telephone-event/8000).
    pub duration: u32,
}

/// The longest span one segment of a long event can cover.
const MAX_SEGMENT: u32 = u16::MAX as u32;

/// An event seen but not yet ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ongoing {
    event: u8,
    /// Timestamp of the first segment: where the press started.
    start: u32,
    /// Timestamp of the segment currently being reported.
    segment: u32,
}

/// Receives RFC 4733 telephone-event packets and reports each key press once.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    /// Timestamp of the newest reported event (its last segment).
    last_reported: Option<u32>,
    current: Option<Ongoing>,
}

/// `a` is later than `b` in RFC 1982 serial-number arithmetic.
fn is_newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 1 << 31
}

impl DtmfReceiver {
    /// Whether a packet with this header would be dropped as a
    /// retransmission of, or older than, the last reported press. The
    /// session uses it to notice a sender that restarted its timestamps
    /// (see [`crate::media::session`]).
    pub fn is_stale(&self, header: &RtpHeader) -> bool {
        self.last_reported
            .is_some_and(|last| !is_newer(header.timestamp, last))
    }

    /// A receiver that has seen no event yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one telephone-event packet (already known to carry the
    /// negotiated telephone-event payload type).
    ///
    /// Returns the key press when this is the first End packet of its event.
    ///
    /// # Errors
    /// [`Error::DtmfTooShort`] if the payload has fewer than 4 bytes.
    pub fn handle(
        &mut self,
        header: &RtpHeader,
        payload: &[u8],
    ) -> Result<Option<DtmfDigit>, Error> {
        let Some(&[event, flags, d0, d1]) = payload.first_chunk::<4>() else {
            return Err(Error::DtmfTooShort(payload.len()));
        };
        let Some(digit) = event_to_digit(event) else {
            return Ok(None);
        };
        let end = flags & 0x80 != 0;
        let duration = u32::from(u16::from_be_bytes([d0, d1]));
        let ts = header.timestamp;

        if self.last_reported.is_some_and(|last| !is_newer(ts, last)) {
            return Ok(None);
        }

        let start = match self.current {
            Some(c) if c.segment == ts && c.event == event => c.start,
            Some(c)
                if c.event == event
                    && !header.marker
                    && is_newer(ts, c.segment)
                    && ts.wrapping_sub(c.segment) <= MAX_SEGMENT =>
            {
                // Next segment of a long event: same press, keep its start.
                self.current = Some(Ongoing { segment: ts, ..c });
                c.start
            }
            Some(c) if is_newer(c.segment, ts) => {
                // A late packet of an earlier press that is not yet reported
                // (its Ends overtook nothing): report it on its End, but
                // keep tracking the newer press.
                ts
            }
            _ => {
                self.current = Some(Ongoing {
                    event,
                    start: ts,
                    segment: ts,
                });
                ts
            }
        };

        if !end {
            return Ok(None);
        }
        self.last_reported = match self.last_reported {
            Some(last) if is_newer(last, ts) => Some(last),
            _ => Some(ts),
        };
        if self.current.is_some_and(|c| c.segment == ts) {
            self.current = None;
        }
        Ok(Some(DtmfDigit {
            digit,
            duration: ts.wrapping_sub(start).wrapping_add(duration),
        }))
    }
}

/// The DTMF key of an RFC 4733 event code, for events 0..=15.
#[must_use]
pub fn event_to_digit(event: u8) -> Option<char> {
    Some(match event {
        0..=9 => char::from(b'0' + event),
        10 => '*',
        11 => '#',
        12..=15 => char::from(b'A' + (event - 12)),
        _ => return None,
    })
}

/// The RFC 4733 event code of a DTMF key (`'a'..='d'` accepted too).
#[must_use]
pub fn digit_to_event(digit: char) -> Option<u8> {
    Some(match digit {
        '0'..='9' => digit as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => digit as u8 - b'A' + 12,
        'a'..='d' => digit as u8 - b'a' + 12,
        _ => return None,
    })
}

/// Builds the 4-byte telephone-event payload for `digit`.
///
/// `volume` is the power level in −dBm0, 0..=63; `duration` is in timestamp
/// units since the event started. `None` if the digit is not a DTMF key or
/// the volume is out of range.
#[must_use]
pub fn encode_event(digit: char, end: bool, volume: u8, duration: u16) -> Option<[u8; 4]> {
    let event = digit_to_event(digit)?;
    if volume > 63 {
        return None;
    }
    let flags = if end { 0x80 } else { 0 } | volume;
    let [d0, d1] = duration.to_be_bytes();
    Some([event, flags, d0, d1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(marker: bool, sequence: u16, timestamp: u32) -> RtpHeader {
        RtpHeader {
            marker,
            payload_type: 101,
            sequence,
            timestamp,
            ssrc: 7,
        }
    }

    /// Plays one press the way real senders do: a marked start packet,
    /// updates every 50 ms, then three End packets. Returns what got reported.
    fn press(
        rx: &mut DtmfReceiver,
        digit: char,
        seq: &mut u16,
        ts: u32,
        updates: u16,
    ) -> Vec<DtmfDigit> {
        let mut reported = Vec::new();
        for i in 0..=updates {
            let payload = encode_event(digit, false, 10, (i + 1) * 400).unwrap();
            if let Some(d) = rx.handle(&header(i == 0, *seq, ts), &payload).unwrap() {
                reported.push(d);
            }
            *seq = seq.wrapping_add(1);
        }
        for _ in 0..3 {
            let payload = encode_event(digit, true, 10, (updates + 1) * 400).unwrap();
            if let Some(d) = rx.handle(&header(false, *seq, ts), &payload).unwrap() {
                reported.push(d);
            }
            *seq = seq.wrapping_add(1);
        }
        reported
    }

    #[test]
    fn three_end_packets_report_once() {
        let mut rx = DtmfReceiver::new();
        let mut seq = 100;
        let got = press(&mut rx, '5', &mut seq, 8000, 3);
        assert_eq!(
            got,
            [DtmfDigit {
                digit: '5',
                duration: 1600
            }]
        );
    }

    #[test]
    fn press_with_lost_start_is_reported_once() {
        let mut rx = DtmfReceiver::new();
        let end = encode_event('#', true, 10, 960).unwrap();
        let first = rx.handle(&header(false, 10, 5000), &end).unwrap();
        assert_eq!(
            first,
            Some(DtmfDigit {
                digit: '#',
                duration: 960
            })
        );
        assert_eq!(rx.handle(&header(false, 11, 5000), &end).unwrap(), None);
        assert_eq!(rx.handle(&header(false, 12, 5000), &end).unwrap(), None);
    }

    #[test]
    fn consecutive_presses_with_new_timestamps() {
        let mut rx = DtmfReceiver::new();
        let mut seq = 0;
        let mut digits = String::new();
        for (i, d) in "1234567890*#ABCD".chars().enumerate() {
            let ts = 1000 + 4000 * u32::try_from(i).unwrap();
            for got in press(&mut rx, d, &mut seq, ts, 2) {
                digits.push(got.digit);
            }
        }
        assert_eq!(digits, "1234567890*#ABCD");
    }

    #[test]
    fn same_digit_twice_is_two_presses() {
        let mut rx = DtmfReceiver::new();
        let mut seq = 0;
        assert_eq!(press(&mut rx, '7', &mut seq, 1000, 1).len(), 1);
        assert_eq!(press(&mut rx, '7', &mut seq, 3000, 1).len(), 1);
    }

    #[test]
    fn long_event_in_segments_is_one_press() {
        let mut rx = DtmfReceiver::new();
        let start = u32::MAX - 1000; // the segments also wrap the timestamp
        let mut seq = u16::MAX - 2;
        let mut reported = Vec::new();
        let mut feed = |marker: bool, ts: u32, end: bool, duration: u16| {
            let payload = encode_event('0', end, 10, duration).unwrap();
            if let Some(d) = rx.handle(&header(marker, seq, ts), &payload).unwrap() {
                reported.push(d);
            }
            seq = seq.wrapping_add(1);
        };
        feed(true, start, false, 400);
        feed(false, start, false, 32_000);
        feed(false, start, false, u16::MAX); // segment full, no End
        let second = start.wrapping_add(MAX_SEGMENT);
        feed(false, second, false, 400);
        feed(false, second, false, 20_000);
        for _ in 0..3 {
            feed(false, second, true, 24_000);
        }
        assert_eq!(
            reported,
            [DtmfDigit {
                digit: '0',
                duration: MAX_SEGMENT + 24_000
            }]
        );
    }

    #[test]
    fn non_dtmf_events_are_ignored() {
        let mut rx = DtmfReceiver::new();
        for event in [16u8, 32, 255] {
            let payload = [event, 0x80 | 10, 0x03, 0x20];
            assert_eq!(rx.handle(&header(true, 1, 160), &payload), Ok(None));
        }
        // Ignoring them leaves no trace: a DTMF end at the same timestamp counts.
        let end = encode_event('9', true, 10, 800).unwrap();
        assert!(rx.handle(&header(false, 2, 160), &end).unwrap().is_some());
    }

    #[test]
    fn short_payload_is_an_error() {
        let mut rx = DtmfReceiver::new();
        for len in 0..4 {
            let payload = [1u8, 0x80, 0, 160];
            assert_eq!(
                rx.handle(&header(false, 1, 0), payload.get(..len).unwrap()),
                Err(Error::DtmfTooShort(len))
            );
        }
    }

    #[test]
    fn only_the_first_block_is_read() {
        let mut rx = DtmfReceiver::new();
        let mut payload = encode_event('3', true, 10, 800).unwrap().to_vec();
        payload.extend_from_slice(&encode_event('4', true, 10, 800).unwrap());
        let got = rx.handle(&header(false, 1, 0), &payload).unwrap().unwrap();
        assert_eq!(got.digit, '3');
    }

    #[test]
    fn wrap_around_of_sequence_and_timestamp() {
        let mut rx = DtmfReceiver::new();
        let mut seq = u16::MAX - 3;
        let mut digits = Vec::new();
        for (ts, d) in [(u32::MAX - 2000, '1'), (u32::MAX - 10, '2'), (3000, '3')] {
            digits.extend(press(&mut rx, d, &mut seq, ts, 4).iter().map(|g| g.digit));
        }
        assert_eq!(digits, ['1', '2', '3']);
    }

    #[test]
    fn reordered_old_end_is_not_reported_again() {
        let mut rx = DtmfReceiver::new();
        let mut seq = 0;
        assert_eq!(press(&mut rx, '1', &mut seq, 1000, 1).len(), 1);
        assert_eq!(press(&mut rx, '2', &mut seq, 5000, 1).len(), 1);
        let old_end = encode_event('1', true, 10, 800).unwrap();
        assert_eq!(rx.handle(&header(false, 3, 1000), &old_end), Ok(None));
        let old_update = encode_event('1', false, 10, 400).unwrap();
        assert_eq!(rx.handle(&header(true, 1, 1000), &old_update), Ok(None));
    }

    #[test]
    fn late_end_of_an_unreported_press_is_still_reported() {
        let mut rx = DtmfReceiver::new();
        let start1 = encode_event('1', false, 10, 400).unwrap();
        let end1 = encode_event('1', true, 10, 800).unwrap();
        let start2 = encode_event('2', false, 10, 400).unwrap();
        let end2 = encode_event('2', true, 10, 800).unwrap();
        assert_eq!(rx.handle(&header(true, 1, 1000), &start1), Ok(None));
        assert_eq!(rx.handle(&header(true, 3, 5000), &start2), Ok(None));
        // The End of press 1 overtaken by the start of press 2.
        let got = rx.handle(&header(false, 2, 1000), &end1).unwrap();
        assert_eq!(got.map(|d| d.digit), Some('1'));
        let got = rx.handle(&header(false, 4, 5000), &end2).unwrap();
        assert_eq!(got.map(|d| d.digit), Some('2'));
        assert_eq!(rx.handle(&header(false, 5, 5000), &end2), Ok(None));
        assert_eq!(rx.handle(&header(false, 6, 1000), &end1), Ok(None));
    }

    #[test]
    fn encode_event_layout_and_limits() {
        assert_eq!(encode_event('5', false, 10, 160), Some([5, 10, 0, 160]));
        assert_eq!(
            encode_event('#', true, 63, 0x1234),
            Some([11, 0x80 | 63, 0x12, 0x34])
        );
        assert_eq!(encode_event('d', false, 0, 0), Some([15, 0, 0, 0]));
        assert_eq!(encode_event('x', false, 10, 0), None);
        assert_eq!(encode_event('1', false, 64, 0), None);
        for event in 0..16 {
            let digit = event_to_digit(event).unwrap();
            assert_eq!(digit_to_event(digit), Some(event));
        }
        assert_eq!(event_to_digit(16), None);
    }
}
