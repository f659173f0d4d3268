//! The layer-wide timer queue: a min-heap of every transaction's earliest
//! deadline, with lazy deletion.
//!
//! Owns: [`TimerQueue`], whose entries ([`Due`]) name a transaction (map and
//! key), its deadline and a sequence number unique for the life of the
//! queue. The layer keeps, next to each transaction, the [`Queued`] handle
//! of the one entry that currently stands for it; every other entry for that
//! key is stale. Nothing is ever searched for or removed from the middle of
//! the heap: a transaction whose deadline changes gets a new entry (the old
//! one goes stale), an ended one just leaves its entry behind.
//!
//! Invariants (kept by `TransactionLayer`, which alone can tell stale from
//! live): a live transaction with a running timer has exactly one live entry,
//! whose `at` is its [`TimerTable`](super::timer::TimerTable) minimum; after
//! every public call of the layer the top entry is live (so peeking is the
//! true minimum) and the heap holds at most `2 * live + COMPACT_SLACK`
//! entries (stale ones are swept out when it grows past that, amortised O(1)
//! per entry pushed).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::Instant;

use super::key::TxKey;

/// Stale entries tolerated beyond twice the live transactions before a sweep.
pub(super) const COMPACT_SLACK: usize = 64;

/// Which map a transaction lives in. Clients sort first on equal deadlines
/// (the order the layer has always fired them in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Side {
    Client,
    Server,
}

/// The handle a transaction keeps of its live heap entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Queued {
    pub(super) at: Instant,
    pub(super) seq: u64,
}

/// One heap entry: transaction `key` of `side` is due at `at`, if `seq` is
/// still the transaction's [`Queued::seq`].
#[derive(Debug)]
pub(super) struct Due {
    pub(super) at: Instant,
    pub(super) side: Side,
    pub(super) key: TxKey,
    pub(super) seq: u64,
}

impl Due {
    /// Firing order: deadline, then clients before servers, then branch and
    /// sent-by (deterministic, unlike map order), then age.
    fn order(&self, other: &Self) -> Ordering {
        (
            self.at,
            self.side,
            self.key.branch(),
            self.key.sent_by(),
            self.seq,
        )
            .cmp(&(
                other.at,
                other.side,
                other.key.branch(),
                other.key.sent_by(),
                other.seq,
            ))
    }
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.order(other) == Ordering::Equal
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order(other)
    }
}

/// A min-heap of [`Due`] entries. See the module docs.
#[derive(Debug, Default)]
pub(super) struct TimerQueue {
    heap: BinaryHeap<Reverse<Due>>,
    next_seq: u64,
}

impl TimerQueue {
    /// Re-files a transaction whose earliest deadline is now `deadline` and
    /// whose live entry was `old`; returns the handle to keep. Pushes only
    /// when the deadline changed, so an untouched transaction costs nothing.
    pub(super) fn schedule(
        &mut self,
        side: Side,
        key: &TxKey,
        old: Option<Queued>,
        deadline: Option<Instant>,
    ) -> Option<Queued> {
        let at = deadline?;
        if let Some(old) = old.filter(|q| q.at == at) {
            return Some(old);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Due {
            at,
            side,
            key: key.clone(),
            seq,
        }));
        Some(Queued { at, seq })
    }

    /// The earliest entry (live only if the caller has dropped stale tops).
    pub(super) fn peek(&self) -> Option<&Due> {
        self.heap.peek().map(|Reverse(due)| due)
    }

    /// Pops the earliest entry if it is due at `now`, live or stale.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Due> {
        if self.peek()?.at > now {
            return None;
        }
        self.heap.pop().map(|Reverse(due)| due)
    }

    /// Pops stale entries off the top until the top is live (or none is left).
    pub(super) fn drop_stale_top(&mut self, live: impl Fn(&Due) -> bool) {
        while self.peek().is_some_and(|due| !live(due)) {
            self.heap.pop();
        }
    }

    /// Drops every stale entry when they outnumber the live transactions
    /// (`live_txs`) by more than the slack: O(heap), amortised O(1) per push
    /// since at least half the heap goes each time.
    pub(super) fn compact(&mut self, live_txs: usize, live: impl Fn(&Due) -> bool) {
        if self.heap.len() > live_txs.saturating_mul(2).saturating_add(COMPACT_SLACK) {
            self.heap.retain(|Reverse(due)| live(due));
        }
    }

    /// Entries, live and stale.
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }

    /// The sequence numbers of all entries (tests check handles against it).
    #[cfg(test)]
    pub(super) fn seqs(&self) -> std::collections::HashSet<u64> {
        self.heap.iter().map(|Reverse(due)| due.seq).collect()
    }
}
