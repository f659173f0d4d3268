//! Packet loss of one received RTP stream, counted from the gaps in its
//! sequence numbers: the figure an RTCP receiver report carries as the
//! cumulative number of packets lost (RFC 3550 §6.4.1, appendix A.3),
//! made monotonic so it can feed a counter.
//!
//! RTCP counts `expected - received`, which goes down again when a packet
//! thought lost turns up late, and can even go negative with duplicates.
//! A counter cannot go down, so a sequence number is only declared lost
//! once it has fallen [`REORDER_WINDOW`] packets behind the newest one
//! without arriving (or when the stream ends, [`LossCounter::finish`]). A
//! packet reordered within the window is not lost; a duplicate is counted
//! once; a packet later than the window was already counted lost, as a
//! jitter buffer would have given up on it too. For a stream without
//! duplicates or very late packets the result equals RTCP's figure.
//!
//! Invariants:
//! - Every sequence number between the first packet of a stream and its
//!   newest is counted lost at most once, and only if it never arrived
//!   within the window.
//! - Sequence numbers wrap (65535 → 0) without counting anything.
//! - A jump of more than [`MAX_DROPOUT`] ahead (or more than
//!   [`MAX_MISORDER`] behind) is taken as a restarted sender only when the
//!   next packet confirms it (RFC 3550 appendix A.1's probation); a lone
//!   stray packet changes nothing.
//! - One source at a time: a packet with another SSRC ends the stream being
//!   counted (its window is settled) and starts counting the new one.

/// How far behind the newest packet a missing one may still arrive before
/// it is counted lost: 64 packets, 1.28 s of 20 ms audio, more than any
/// jitter buffer waits.
pub const REORDER_WINDOW: u16 = 64;
/// The largest jump ahead taken as loss rather than a restarted sender
/// (RFC 3550 appendix A.1).
pub const MAX_DROPOUT: u16 = 3000;
/// The furthest behind a packet may be and still be a late one rather than
/// a restarted sender (RFC 3550 appendix A.1).
pub const MAX_MISORDER: u16 = 100;

/// Loss of the RTP stream received on one socket.
#[derive(Debug, Clone, Default)]
pub struct LossCounter {
    /// The source being counted and its newest sequence number.
    stream: Option<(u32, u16)>,
    /// Bit `i` set: sequence number `newest - i` arrived. Positions before
    /// the stream's first packet count as arrived.
    seen: u64,
    /// A big jump waiting for its confirmation: the sequence number the
    /// next packet must have.
    probation: Option<u16>,
    lost: u64,
}

impl LossCounter {
    /// A counter that has seen nothing.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A packet of `ssrc` with `sequence` arrived; returns how many packets
    /// this settled as lost (0 for nearly every packet).
    pub fn packet(&mut self, ssrc: u32, sequence: u16) -> u64 {
        let before = self.lost;
        match self.stream {
            Some((current, newest)) if current == ssrc => self.update(ssrc, newest, sequence),
            _ => {
                self.settle();
                self.start(ssrc, sequence);
            }
        }
        self.lost - before
    }

    /// The stream is over: what is still missing in the window is lost.
    /// Returns how many that was.
    pub fn finish(&mut self) -> u64 {
        let before = self.lost;
        self.settle();
        self.stream = None;
        self.lost - before
    }

    /// Packets counted lost so far.
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.lost
    }

    fn start(&mut self, ssrc: u32, sequence: u16) {
        self.stream = Some((ssrc, sequence));
        self.seen = u64::MAX;
        self.probation = None;
    }

    /// Counts the holes of the window as lost and marks them done.
    fn settle(&mut self) {
        if self.stream.is_some() {
            self.lost += u64::from(self.seen.count_zeros());
        }
        self.seen = u64::MAX;
    }

    fn update(&mut self, ssrc: u32, newest: u16, sequence: u16) {
        let ahead = sequence.wrapping_sub(newest);
        let behind = newest.wrapping_sub(sequence);
        if ahead == 0 {
            // A duplicate of the newest.
        } else if ahead < MAX_DROPOUT {
            self.probation = None;
            self.advance(ahead);
            self.stream = Some((ssrc, sequence));
        } else if behind <= MAX_MISORDER {
            if behind < REORDER_WINDOW {
                // A late packet fills its hole; a duplicate changes nothing.
                self.seen |= 1 << behind;
            }
            // Later than the window: already counted lost.
        } else if self.probation == Some(sequence) {
            // Two packets in sequence after a big jump: the sender
            // restarted its numbering.
            self.settle();
            self.start(ssrc, sequence);
        } else {
            self.probation = Some(sequence.wrapping_add(1));
        }
    }

    /// The newest packet is `by` ahead: the window slides, and what slides
    /// out of it without having arrived is lost.
    fn advance(&mut self, by: u16) {
        let window = u32::from(REORDER_WINDOW);
        let by32 = u32::from(by);
        if by32 >= window {
            // The whole window slides out, and the numbers between it and
            // the new window's start never had a chance.
            self.lost += u64::from(self.seen.count_zeros()) + u64::from(by32 - window);
            // The new window: the newest arrived, the rest of it not yet.
            self.seen = 1;
        } else {
            let leaving = self.seen >> (window - by32);
            self.lost += u64::from(by32 - leaving.count_ones());
            self.seen = (self.seen << by32) | 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `sequences` of one source; the total counted lost.
    fn run(counter: &mut LossCounter, ssrc: u32, sequences: impl IntoIterator<Item = u16>) -> u64 {
        sequences.into_iter().map(|s| counter.packet(ssrc, s)).sum()
    }

    #[test]
    fn an_unbroken_stream_loses_nothing_even_across_the_wrap() {
        let mut c = LossCounter::new();
        let lost = run(&mut c, 7, (0..1000u16).map(|n| 65_000u16.wrapping_add(n)));
        assert_eq!(lost + c.finish(), 0);
    }

    #[test]
    fn skipped_numbers_are_lost_once_the_window_has_passed_them() {
        let mut c = LossCounter::new();
        let mut lost = run(&mut c, 1, 100..200);
        // 5 numbers skipped: 200..205 never sent.
        // Up to 263: the oldest hole, 200, is 63 behind, still in the window.
        lost += run(&mut c, 1, 205..200 + REORDER_WINDOW);
        assert_eq!(lost, 0, "still inside the window: they could turn up");
        lost += run(&mut c, 1, 200 + REORDER_WINDOW..=204 + REORDER_WINDOW);
        assert_eq!(lost, 5);
        assert_eq!(c.finish(), 0);
        assert_eq!(c.lost(), 5);
    }

    #[test]
    fn the_end_of_the_stream_settles_the_last_gaps() {
        let mut c = LossCounter::new();
        let lost = run(&mut c, 1, (0..50).chain(53..60).chain(61..70));
        assert_eq!(lost, 0);
        assert_eq!(c.finish(), 4, "50, 51, 52 and 60");
        assert_eq!(c.finish(), 0, "settled once");
    }

    #[test]
    fn a_gap_longer_than_the_window_counts_every_missing_number() {
        let mut c = LossCounter::new();
        let lost = run(&mut c, 1, (0..10).chain(1010..1020));
        assert_eq!(lost + c.finish(), 1000);
    }

    #[test]
    fn reordered_and_duplicated_packets_are_not_loss() {
        let mut c = LossCounter::new();
        let order = [0u16, 1, 3, 2, 4, 4, 6, 5, 5, 7, 9, 8, 10, 10, 10];
        let lost = run(&mut c, 1, order.into_iter().chain(11..200));
        assert_eq!(lost + c.finish(), 0);
    }

    #[test]
    fn a_packet_later_than_the_window_stays_lost() {
        let mut c = LossCounter::new();
        let mut lost = run(&mut c, 1, (0..10).chain(11..100));
        assert_eq!(lost, 1, "10 fell out of the window");
        lost += run(&mut c, 1, [10]);
        assert_eq!(lost + c.finish(), 1);
    }

    #[test]
    fn a_stray_jump_is_ignored_and_a_confirmed_one_restarts_the_count() {
        let mut c = LossCounter::new();
        let mut lost = run(&mut c, 1, (0..20).chain([40_000]).chain(20..30));
        assert_eq!(lost + c.clone().finish(), 0, "one stray packet is not loss");
        // The sender restarts its numbering: two in a row confirm it.
        lost += run(&mut c, 1, 50_000..50_100);
        assert_eq!(lost + c.finish(), 0);
    }

    #[test]
    fn a_new_source_settles_the_old_one_and_is_counted_afresh() {
        let mut c = LossCounter::new();
        let mut lost = run(&mut c, 1, (0..20).chain(22..30));
        lost += run(&mut c, 2, (9000..9010).chain(9011..9100));
        assert_eq!(
            lost + c.finish(),
            3,
            "2 of the first source, 1 of the second"
        );
    }
}
