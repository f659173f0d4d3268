//! The transaction timers (RFC 3261 §17 and Table 4, RFC 6026 §8) and the
//! fixed per-transaction table that holds their deadlines.
//!
//! Owns: [`Timer`], one variant per timer a transaction can run, and
//! [`TimerTable`], one optional deadline per variant (quinn-proto
//! `connection/timer.rs` style). A transaction's next wake-up is the minimum
//! of its table; the layer's `poll_timeout` is the minimum over all tables.
//!
//! Invariants: a stopped timer is `None`; arming a timer replaces its old
//! deadline; of the timers already due, [`TimerTable::next_expired`] fires
//! one that ends the transaction first (no retransmission at the moment we
//! give up, however late `handle_timeout` is called), then the earliest.

use std::time::{Duration, Instant};

use super::TimerConfig;

/// A transaction timer. Names follow RFC 3261 Table 4; `L` and `M` come from
/// RFC 6026 and `GPrime` is the 2xx retransmission of RFC 3261 §13.3.1.4 that
/// this layer runs on behalf of the UAS core.
///
/// Timer C is absent on purpose: it belongs to proxies (§16.6 step 11), and a
/// B2BUA limits ringing in its TU (ring-no-answer) and then sends CANCEL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE client: retransmit the request (UDP), doubling from T1.
    A,
    /// INVITE client: no response within 64*T1 (or no final within 64*T1
    /// after a CANCEL, §9.1): the transaction times out.
    B,
    /// INVITE client, Completed: absorb retransmitted finals (≥ 32 s UDP, 0 TCP).
    D,
    /// Non-INVITE client: retransmit the request (UDP), doubling from T1 up
    /// to T2; every T2 once a provisional arrived.
    E,
    /// Non-INVITE client: no final within 64*T1: the transaction times out.
    F,
    /// INVITE server, Completed: retransmit the 3xx-6xx (UDP), doubling from
    /// T1 up to T2.
    G,
    /// INVITE server, Accepted: retransmit the 2xx until the ACK arrives
    /// (UDP), doubling from T1 up to T2 (RFC 3261 §13.3.1.4).
    GPrime,
    /// INVITE server, Completed: no ACK within 64*T1; give up.
    H,
    /// INVITE server, Confirmed: absorb ACK retransmissions for T4 (0 TCP).
    I,
    /// Non-INVITE server, Completed: answer retransmissions for 64*T1 (0 TCP).
    J,
    /// Non-INVITE client, Completed: absorb response retransmissions for T4 (0 TCP).
    K,
    /// INVITE server, Accepted (RFC 6026 §8.7): absorb INVITE retransmissions
    /// and wait for the 2xx ACK for 64*T1.
    L,
    /// INVITE client, Accepted (RFC 6026 §8.4): pass further 2xx (retransmissions
    /// and forks) up for 64*T1.
    M,
}

impl Timer {
    /// Every timer, in table (and tie-break) order.
    pub const VALUES: [Timer; 13] = [
        Timer::A,
        Timer::B,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::G,
        Timer::GPrime,
        Timer::H,
        Timer::I,
        Timer::J,
        Timer::K,
        Timer::L,
        Timer::M,
    ];

    /// The duration a timer is armed with on entry to the state that starts
    /// it. Doubling timers (A, E, G, G') start at T1 and are then re-armed by
    /// their transaction from its current interval. Wait timers (D, I, J, K)
    /// are zero over a reliable transport: the caller then terminates the
    /// transaction at once instead of arming them (RFC 3261 §17.1.1.2,
    /// §17.1.2.2, §17.2.1, §17.2.2).
    pub fn initial(self, config: &TimerConfig, reliable: bool) -> Duration {
        let wait = |d: Duration| if reliable { Duration::ZERO } else { d };
        match self {
            Timer::A | Timer::E | Timer::G | Timer::GPrime => config.t1,
            Timer::B | Timer::F | Timer::H | Timer::L | Timer::M => config.t1.saturating_mul(64),
            // RFC 3261 Table 4: "> 32s for UDP". The peer's Timer H runs 64*T1
            // of *its* T1, which we cannot know, so keep at least the 32 s floor.
            Timer::D => wait(Duration::from_secs(32).max(config.t1.saturating_mul(64))),
            Timer::J => wait(config.t1.saturating_mul(64)),
            Timer::I | Timer::K => wait(config.t4),
        }
    }

    /// True for the timers whose expiry ends the transaction (all but the
    /// retransmission timers A, E, G and G').
    pub fn ends_transaction(self) -> bool {
        !matches!(self, Timer::A | Timer::E | Timer::G | Timer::GPrime)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One optional deadline per [`Timer`]. Copy-sized and allocation-free.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerTable {
    deadlines: [Option<Instant>; Timer::VALUES.len()],
}

impl TimerTable {
    /// Arms `timer` to fire at `at`, replacing any earlier deadline.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    /// The deadline of `timer`, if it runs.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// Stops `timer` (no-op if it does not run).
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// Stops every timer.
    pub fn stop_all(&mut self) {
        self.deadlines = Default::default();
    }

    /// The earliest deadline of any running timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// The timer to fire next among those due at `now`: one that ends the
    /// transaction if any is due, else the earliest (ties in declaration
    /// order).
    pub fn next_expired(&self, now: Instant) -> Option<Timer> {
        Timer::VALUES
            .iter()
            .filter_map(|&t| self.get(t).filter(|&at| at <= now).map(|at| (at, t)))
            .min_by_key(|&(at, t)| (!t.ends_transaction(), at, t.index()))
            .map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_in_index_order() {
        for (i, t) in Timer::VALUES.iter().enumerate() {
            assert_eq!(t.index(), i);
        }
    }

    #[test]
    fn table_minimum_and_expiry() {
        let base = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next_deadline(), None);
        table.set(Timer::H, base + Duration::from_secs(32));
        table.set(Timer::G, base + Duration::from_millis(500));
        assert_eq!(
            table.next_deadline(),
            Some(base + Duration::from_millis(500))
        );
        assert_eq!(table.next_expired(base), None);
        assert_eq!(
            table.next_expired(base + Duration::from_secs(1)),
            Some(Timer::G)
        );
        // Both due: the ending timer wins even though G is earlier.
        assert_eq!(
            table.next_expired(base + Duration::from_secs(40)),
            Some(Timer::H)
        );
        table.stop(Timer::G);
        assert_eq!(
            table.next_expired(base + Duration::from_secs(40)),
            Some(Timer::H)
        );
        // Same deadline: the ending timer first, then declaration order.
        table.set(Timer::A, base + Duration::from_secs(32));
        table.set(Timer::H, base + Duration::from_secs(32));
        assert_eq!(
            table.next_expired(base + Duration::from_secs(32)),
            Some(Timer::H)
        );
        table.stop(Timer::H);
        table.set(Timer::E, base + Duration::from_secs(32));
        assert_eq!(
            table.next_expired(base + Duration::from_secs(32)),
            Some(Timer::A)
        );
        table.stop_all();
        assert_eq!(table.next_deadline(), None);
    }

    #[test]
    fn wait_timers_are_zero_over_tcp() {
        let c = TimerConfig::default();
        for t in [Timer::D, Timer::I, Timer::J, Timer::K] {
            assert_eq!(t.initial(&c, true), Duration::ZERO);
            assert!(t.initial(&c, false) > Duration::ZERO);
        }
        assert_eq!(Timer::D.initial(&c, false), Duration::from_secs(32));
        assert_eq!(Timer::J.initial(&c, false), Duration::from_secs(32));
        assert_eq!(Timer::K.initial(&c, false), Duration::from_secs(5));
        assert_eq!(Timer::B.initial(&c, true), Duration::from_secs(32));
    }
}
