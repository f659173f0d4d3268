//! A call's recording as it goes: two mono streams in, one stereo timeline
//! out. PURE: it never touches a file or a clock; the runtime writes the
//! [`Chunk`]s it hands out.
//!
//! The left channel is what the caller said (their RTP, decoded), the right
//! what the caller heard from us: the IVR's prompts, music on hold, the
//! agent's voice through the bridge. Both are laid on one clock, the
//! recording's own: frame `k` (160 samples, 20 ms) covers
//! `[start + 20k ms, start + 20(k+1) ms)` and is handed out once that span
//! is over.
//!
//! Invariants:
//! - After [`Recorder::advance`]`(now)` exactly `(now - start)` worth of
//!   whole frames has been handed out (or more, to the sample, where a
//!   pause began or ended), whatever arrived: a side with
//!   nothing to say gets silence (a gap is kept, never squeezed out), and
//!   each side's backlog is bounded by [`MAX_BACKLOG`] (its oldest samples
//!   go), so the two channels can never drift apart by more than that.
//!   [`Recorder::finish`] adds the last partial frame, so the file is as
//!   long as the call to the sample.
//! - While paused both channels are silence and what arrives is dropped:
//!   nothing said during a pause reaches the file, not even late.
//! - Chunks come out in time order; runs of silence come as
//!   [`Chunk::Silence`] (a long hold costs no memory). Nothing due is kept
//!   back: the file on disk is never more than a frame behind the call.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::player::SAMPLES_PER_FRAME;

/// Samples per second of each channel.
pub const SAMPLE_RATE: u32 = 8000;

/// The most a side may run ahead of the recording's clock (four frames,
/// 80 ms): a caller's jittery packets queue up to this, beyond it the
/// oldest samples go.
pub const MAX_BACKLOG: usize = 4 * SAMPLES_PER_FRAME;

/// The next piece of the recording, in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Interleaved stereo samples: caller (left), then what the caller heard
    /// (right), one pair per 1/8000 s.
    Audio(Vec<i16>),
    /// This many sample pairs of silence on both channels.
    Silence(u64),
}

/// One call's recording clock and its two channels.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    /// Sample pairs handed out so far.
    written: u64,
    caller: VecDeque<i16>,
    heard: VecDeque<i16>,
    paused: bool,
    /// Silence not yet handed out (joined with the silence that follows
    /// within one step).
    silence: u64,
    chunks: VecDeque<Chunk>,
}

impl Recorder {
    /// A recording whose first sample is `start`.
    #[must_use]
    pub fn new(start: Instant) -> Self {
        Recorder {
            start,
            written: 0,
            caller: VecDeque::new(),
            heard: VecDeque::new(),
            paused: false,
            silence: 0,
            chunks: VecDeque::new(),
        }
    }

    /// The caller's audio, decoded, as it arrives.
    pub fn caller(&mut self, samples: &[i16]) {
        if !self.paused {
            push_bounded(&mut self.caller, samples);
        }
    }

    /// What we sent the caller, as it was sent.
    pub fn heard(&mut self, samples: &[i16]) {
        if !self.paused {
            push_bounded(&mut self.heard, samples);
        }
    }

    /// Pauses (silence from here, what is queued dropped) or resumes.
    /// Everything before `now` is handed out first, as it was, to the
    /// sample: the pause starts and ends in the file where it did in the
    /// call (and on its timeline).
    pub fn set_paused(&mut self, now: Instant, paused: bool) {
        self.fill_to(self.samples_at(now));
        self.flush_silence();
        if paused {
            self.caller.clear();
            self.heard.clear();
        }
        self.paused = paused;
    }

    #[must_use]
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Hands out every whole frame that is over at `now`.
    pub fn advance(&mut self, now: Instant) {
        let due = self.samples_at(now);
        let whole = due - due % SAMPLES_PER_FRAME as u64;
        self.fill_to(whole);
        self.flush_silence();
    }

    /// Hands out everything up to `now`, the last partial frame too: the
    /// recording ends here.
    pub fn finish(&mut self, now: Instant) {
        let due = self.samples_at(now);
        self.fill_to(due);
        self.flush_silence();
    }

    /// When the next whole frame is over.
    #[must_use]
    pub fn next_due(&self) -> Instant {
        let frame = self.written / SAMPLES_PER_FRAME as u64 + 1;
        self.start + Duration::from_millis(frame * 20)
    }

    /// Where `now` falls in the recording.
    #[must_use]
    pub fn offset(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.start)
    }

    /// The next chunk to write.
    pub fn poll_chunk(&mut self) -> Option<Chunk> {
        self.chunks.pop_front()
    }

    /// Sample pairs handed out so far.
    #[must_use]
    pub fn samples(&self) -> u64 {
        self.written
    }

    fn samples_at(&self, now: Instant) -> u64 {
        let micros = self.offset(now).as_micros();
        u64::try_from(micros * u128::from(SAMPLE_RATE) / 1_000_000).unwrap_or(u64::MAX)
    }

    /// Hands out sample pairs up to `target`, frame by frame.
    fn fill_to(&mut self, target: u64) {
        while self.written < target {
            let n = usize::try_from((target - self.written).min(SAMPLES_PER_FRAME as u64))
                .unwrap_or(SAMPLES_PER_FRAME);
            if self.caller.is_empty() && self.heard.is_empty() {
                // Nothing queued on either side: the rest is silence, in
                // one step however long (a hold, a pause).
                self.silence += target - self.written;
                self.written = target;
                break;
            }
            self.flush_silence();
            let mut frame = Vec::with_capacity(2 * n);
            let left = self.caller.len().min(n);
            let right = self.heard.len().min(n);
            let mut l = self.caller.drain(..left);
            let mut r = self.heard.drain(..right);
            for _ in 0..n {
                frame.push(l.next().unwrap_or(0));
                frame.push(r.next().unwrap_or(0));
            }
            drop((l, r));
            match self.chunks.back_mut() {
                Some(Chunk::Audio(prev)) => prev.extend_from_slice(&frame),
                _ => self.chunks.push_back(Chunk::Audio(frame)),
            }
            self.written += n as u64;
        }
    }

    fn flush_silence(&mut self) {
        let n = std::mem::take(&mut self.silence);
        if n > 0 {
            self.chunks.push_back(Chunk::Silence(n));
        }
    }
}

fn push_bounded(queue: &mut VecDeque<i16>, samples: &[i16]) {
    queue.extend(samples);
    let excess = queue.len().saturating_sub(MAX_BACKLOG);
    queue.drain(..excess);
}

#[cfg(test)]
mod tests;
